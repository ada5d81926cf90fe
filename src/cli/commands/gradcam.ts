import { gradCam, type GradCamResult } from '../../viz/gradcam.ts';
import { AttributionError, checkMethod, explain, METHOD_TITLES } from '../../viz/attribution/index.ts';
import type { WeightArray } from '../../models/keras/spec.ts';
import { overlayHeatmap } from '../../viz/grid.ts';
import { encodeJpeg, encodePng } from '../../viz/image_encode.ts';
import { classNamesFor, findImagenetClass, type ClassNames, type Prediction } from '../../viz/predictions.ts';
import { preprocess, type PreprocessMode } from '../../viz/preprocess.ts';
import { renderReport, type ReportSection } from '../../viz/report.ts';
import { applyColormapFloat, JET } from '../../viz/colormap.ts';
import type { Model } from '../../models/model.ts';
import { defaultPreprocess, loadInput, loadLabels, openModel, UsageError, type ModelInput } from '../context.ts';
import { OutputDir, safeName } from '../output_dir.ts';
import { modelJson, round, type CommandResult, type CommonFlags } from './common.ts';
import { predictionLines, topPredictions } from './predict.ts';
import { prepareCommand } from '../prepare.ts';

export interface GradCamFlags {
  layer?: string;
  class?: string;
  score?: string;
  /** Names of the classes (from --labels, or a bundled model's own). */
  names?: ClassNames;
  /** Another attribution method than Grad-CAM (any of explain's; default gradcam). */
  method?: string;
  /** The model's weights as read (Ablation-CAM builds the rest of the network from them). */
  weights?: Map<string, WeightArray[]>;
  /** Pixels (0..255) -> the model's input: where black and uniform baselines land (Integrated Gradients). */
  toInput?: (pixels: Float32Array) => Float32Array;
}

export function resolveClass(model: Model, query: string | undefined, names?: ClassNames): number | undefined {
  if (query === undefined) return undefined;
  const units = model.storedShape(model.spec.outputs[0])[1] as number;
  if (/^\d+$/.test(query)) return Number(query);
  if (!names && units === 1000) return findImagenetClass(query);
  const cn = names ?? classNamesFor(units);
  const all = Array.from({ length: cn.count }, (_, k) => cn.name(k));
  const i = all.findIndex((c) => c.name.toLowerCase() === query.toLowerCase() || c.id === query);
  if (i < 0) {
    const list = all.length <= 20 ? all.map((c, k) => `${k} (${c.name})`).join(', ') : `0..${all.length - 1}`;
    throw new UsageError(`no class '${query}' in this model; its classes are ${list}`);
  }
  return i;
}

function checkMethodUsage(name: string) {
  try {
    return checkMethod(name);
  } catch (e) {
    throw new UsageError(`--method: ${(e as Error).message}`);
  }
}

/** Runs Grad-CAM on one image and writes the overlay; returns the JSON part and a report section. */
export async function gradCamPictures(model: Model, input: ModelInput, flags: GradCamFlags, out: OutputDir, prefix = '', topClass?: number) {
  const score = flags.score ?? 'prob';
  if (score !== 'prob' && score !== 'logit') throw new UsageError(`--score must be prob or logit; got '${score}'`);
  const method = flags.method === undefined ? 'gradcam' : checkMethodUsage(flags.method);
  const classIndex = resolveClass(model, flags.class, flags.names) ?? topClass;
  let r: GradCamResult;
  if (method === 'gradcam') r = await gradCam(model, input.tensor, { layer: flags.layer, classIndex, score });
  else {
    let m;
    try {
      [m] = await explain(model, input.tensor, [method], { layer: flags.layer, classIndex, score, weights: flags.weights, toInput: flags.toInput, seed: 0 });
    } catch (e) {
      if (e instanceof AttributionError) throw new UsageError(e.message);
      throw e;
    }
    // a signed map (gradxinput, ig) is drawn by its magnitude
    const data = m.signed ? Float32Array.from(m.data, Math.abs) : m.data;
    r = { layer: m.layer ?? 'input', classIndex: m.classIndex, score: m.score, scoreValue: m.scoreValue, heatmap: { width: m.width, height: m.height, data }, channelWeights: new Float32Array(0) };
  }
  const title = METHOD_TITLES[method];
  const units = model.storedShape(model.spec.outputs[0])[1] as number;
  const cls = (flags.names ?? classNamesFor(units)).name(r.classIndex);
  const overlay = overlayHeatmap(input.original, r.heatmap);
  const base = `${prefix}${safeName(method.replace('++', 'pp'))}_${safeName(input.name.replace(/\.[^.]+$/, ''))}_${safeName(r.layer)}_class${r.classIndex}`;
  const jpg = encodeJpeg(overlay, 95);
  const heat = { width: r.heatmap.width, height: r.heatmap.height, channels: 3 as const, data: applyColormapFloat(r.heatmap.data, JET) };
  const heatPng = encodePng(heat);
  const files = [await out.write(`${base}.jpg`, jpg), await out.write(`${base}_heatmap.png`, heatPng)];
  const section: ReportSection = {
    heading: `${title}: ${input.name}`,
    text: `class ${r.classIndex} (${cls.name}), ${r.score === 'prob' ? 'probability' : 'logit'} ${r.scoreValue.toFixed(4)}, layer ${r.layer}`,
    pictures: [
      { title: `${r.layer} heatmap (${r.heatmap.width}x${r.heatmap.height})`, bytes: heatPng, mime: 'image/png', width: 224 },
      { title: `overlay on ${input.name}`, bytes: jpg, mime: 'image/jpeg', width: Math.min(input.original.width, 640) },
    ],
  };
  const json = {
    ...(method !== 'gradcam' ? { method } : {}),
    layer: r.layer,
    class: { index: r.classIndex, id: cls.id, name: cls.name },
    score: r.score,
    scoreValue: round(r.scoreValue, 7),
    shape: [r.heatmap.height, r.heatmap.width],
    values: Array.from(r.heatmap.data, (v) => round(v, 7)),
    files,
  };
  return { json, section, result: r, cls };
}

export async function gradcamCommand(modelPath: string, imagePath: string, f: CommonFlags & GradCamFlags & { preprocess?: string; top: number; labels?: string }): Promise<CommandResult> {
  if (!(Number.isInteger(f.top) && f.top >= 1)) throw new UsageError(`--top must be a whole number of at least 1; got ${f.top}`);
  if (f.method !== undefined) checkMethodUsage(f.method);
  const out = await OutputDir.prepare(f.out);
  let weights: Map<string, WeightArray[]> | undefined;
  let model: Model;
  if (f.method === 'ablationcam') ({ model, weights } = await (await import('./explain.ts')).openModelWithWeights(modelPath, f));
  else model = await openModel(modelPath, f);
  try {
    // the model and its input size are known: its pipelines compile while the image is read
    const score: 'prob' | 'logit' = f.score === 'logit' ? 'logit' : 'prob';
    const ready = prepareCommand([{ model, passes: [{ kind: 'predict' }, ...((f.method ?? 'gradcam') === 'gradcam' ? [{ kind: 'gradcam' as const, layer: f.layer, score }] : [])] }]);
    const names = await loadLabels(model, f.labels, modelPath);
    f = { ...f, names, weights };
    const mode = (f.preprocess ?? defaultPreprocess(f.arch, model)) as PreprocessMode;
    const input = await loadInput(model, imagePath, mode);
    f = { ...f, toInput: (pixels) => preprocess(pixels, mode) };
    await ready;
    const preds: Prediction[] = await topPredictions(model, input.tensor, f.top, names);
    // the top class is already known: gradCam need not run the forward pass again to find it
    const g = await gradCamPictures(model, input, f, out, '', preds[0]?.index);
    input.tensor.dispose();
    const report = await out.write(
      'report.html',
      renderReport({ title: `${METHOD_TITLES[(f.method ?? 'gradcam') as 'gradcam']} on ${model.name}`, subtitle: `backend ${f.backend}`, summary: model.summary(), predictions: [{ image: input.name, top: preds }], sections: [g.section] }),
    );
    await out.commit();
    return {
      json: { command: 'gradcam', model: modelJson(model, modelPath), image: imagePath, predictions: preds, gradcam: g.json, files: out.written },
      text: [
        `${input.name} -> ${model.name}:`,
        ...predictionLines(preds),
        `${METHOD_TITLES[(f.method ?? 'gradcam') as 'gradcam']} of class ${g.result.classIndex} (${g.cls.name}) at ${g.result.layer}, ${g.result.heatmap.height}x${g.result.heatmap.width}`,
        `report: ${report}`,
      ],
    };
  } catch (e) {
    await out.abort();
    throw e;
  } finally {
    model.dispose();
  }
}
