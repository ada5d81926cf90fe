import { BUILTIN_ARCHITECTURES, readModelFile } from '../../models/load_model.ts';
import { Model } from '../../models/model.ts';
import type { WeightArray } from '../../models/keras/spec.ts';
import { classNamesFor } from '../../viz/predictions.ts';
import { preprocess, type PreprocessMode } from '../../viz/preprocess.ts';
import {
  AttributionError, BASELINES, DEFAULT_BATCH, DEFAULT_METHODS, explain, faithfulness, METHOD_TITLES, parseMethods, parseMetrics,
  type Baseline, type Faithfulness, type MapResult, type MethodName, type MetricName, type Replacement,
} from '../../viz/attribution/index.ts';
import { mapPng, overlayJpeg, renderExplainReport, type ExplainCard } from '../../viz/attribution/report.ts';
import { prepareCommand } from '../prepare.ts';
import { defaultPreprocess, loadInput, loadLabels, UsageError, wholeNumber, type ModelChoice } from '../context.ts';
import { OutputDir, safeName } from '../output_dir.ts';
import { modelJson, round, type CommandResult, type CommonFlags } from './common.ts';
import { predictionLines, topPredictions } from './predict.ts';
import { resolveClass } from './gradcam.ts';

export interface ExplainFlags extends CommonFlags {
  methods?: string;
  class?: string;
  layer?: string;
  score: string;
  metrics: string;
  batch?: number;
  samples?: number;
  noise?: number;
  steps?: number;
  baseline: string;
  curveSteps?: number;
  replace?: string;
  preprocess?: string;
  labels?: string;
  top: number;
}

/** A model with the weights it was built from (Ablation-CAM runs the rest of the network from them). */
export async function openModelWithWeights(path: string, c: ModelChoice): Promise<{ model: Model; weights: Map<string, WeightArray[]> }> {
  if (c.arch && !(BUILTIN_ARCHITECTURES as readonly string[]).includes(c.arch) && !c.arch.endsWith('.json')) {
    throw new UsageError(`--arch must be one of ${BUILTIN_ARCHITECTURES.join(', ')} or a Keras JSON config file (.json); got '${c.arch}'`);
  }
  const loaded = await readModelFile(path, c);
  return { model: Model.fromLoaded(loaded), weights: loaded.weights };
}

/** Everything about the flags that can be wrong, checked before any model is loaded. */
export function checkExplainFlags(f: ExplainFlags) {
  const usage = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (e) {
      if (e instanceof AttributionError) throw new UsageError(e.message);
      throw e;
    }
  };
  const methods = usage(() => (f.methods === undefined ? [...DEFAULT_METHODS] : parseMethods(f.methods)));
  const metrics = usage(() => parseMetrics(f.metrics));
  if (f.score !== 'prob' && f.score !== 'logit') throw new UsageError(`--score must be prob or logit; got '${f.score}'`);
  if (!(BASELINES as readonly string[]).includes(f.baseline)) throw new UsageError(`--baseline must be one of ${BASELINES.join(', ')}; got '${f.baseline}'`);
  if (f.replace !== undefined && f.replace !== 'blur' && f.replace !== 'black') throw new UsageError(`--replace must be blur or black; got '${f.replace}'`);
  if (!(Number.isInteger(f.top) && f.top >= 1)) throw new UsageError(`--top must be a whole number of at least 1; got ${f.top}`);
  const batch = wholeNumber(f.batch, '--batch', 1, 4096) ?? DEFAULT_BATCH;
  const samples = wholeNumber(f.samples, '--samples (SmoothGrad n)', 1, 100000);
  const steps = wholeNumber(f.steps, '--steps (Integrated Gradients m)', 1, 100000);
  const curveSteps = wholeNumber(f.curveSteps, '--curve-steps', 1, 10000);
  if (f.noise !== undefined && !(Number.isFinite(f.noise) && f.noise >= 0)) throw new UsageError(`--noise must be a fraction of the input range, 0 or more; got ${f.noise}`);
  return { methods, metrics, batch, samples, steps, curveSteps };
}

function notes(m: MapResult): string[] {
  const d = m.details ?? {};
  const out: string[] = [];
  if (m.method === 'ig') {
    out.push(`m = ${d.steps}, ${d.baseline} baseline; completeness: sum(IG) ${Number(d.sumIG).toFixed(5)} vs f(x) - f(x') ${(m.scoreValue - Number(d.baselineScore)).toFixed(5)}, error ${Number(d.completenessError).toExponential(2)} (${(100 * Number(d.relativeCompletenessError)).toFixed(2)}%)`);
  }
  if (m.method === 'smoothgrad') out.push(`n = ${d.samples}, noise ${d.noise} of the input range (sigma ${Number(d.sigma).toPrecision(3)}), ${d.batches} GPU batch(es)`);
  if (m.method === 'scorecam' || m.method === 'ablationcam') out.push(`${d.channels} channels in ${d.batches} GPU batch(es) of up to ${d.batch}`);
  return out;
}

function scoresJson(s: Faithfulness | undefined) {
  if (!s) return undefined;
  const curve = (c: NonNullable<Faithfulness['deletion']>) => ({ auc: round(c.auc, 7), replacement: c.replacement, fractions: c.fractions.map((v) => round(v, 7)), scores: c.scores.map((v) => round(v, 7)) });
  return {
    ...(s.deletion ? { deletion: curve(s.deletion) } : {}),
    ...(s.insertion ? { insertion: curve(s.insertion) } : {}),
    ...(s.drop ? { averageDrop: round(s.drop.averageDrop, 7), increaseInConfidence: s.drop.increase, explainedScore: round(s.drop.explained, 7) } : {}),
    ...(s.road ? { road: { percents: s.road.percents, morf: s.road.morf.map((v) => round(v, 7)), lerf: s.road.lerf.map((v) => round(v, 7)), morfMean: round(s.road.morfMean, 7), lerfMean: round(s.road.lerfMean, 7) } } : {}),
  };
}

export async function explainCommand(modelPath: string, imagePath: string, f: ExplainFlags): Promise<CommandResult> {
  const { methods, metrics, batch, samples, steps, curveSteps } = checkExplainFlags(f);
  const out = await OutputDir.prepare(f.out);
  const { model, weights } = await openModelWithWeights(modelPath, f);
  try {
    // the one-image passes every method starts from (the forward pass and the CAM layer's gradient)
    const ready = prepareCommand([{ model, passes: [{ kind: 'predict' }, { kind: 'gradcam', layer: f.layer, score: f.score === 'logit' ? 'logit' : 'prob' }] }]);
    const names = await loadLabels(model, f.labels, modelPath);
    const mode = (f.preprocess ?? defaultPreprocess(f.arch, model)) as PreprocessMode;
    const input = await loadInput(model, imagePath, mode);
    try {
      await ready;
      const preds = await topPredictions(model, input.tensor, f.top, names);
      const classIndex = resolveClass(model, f.class, names) ?? preds[0]?.index;
      const units = model.storedShape(model.spec.outputs[0])[1] as number;
      const toInput = (pixels: Float32Array) => preprocess(pixels, mode);
      let maps: MapResult[];
      const scored: (Faithfulness | undefined)[] = [];
      try {
        maps = await explain(model, input.tensor, methods, {
          classIndex, score: f.score as 'prob' | 'logit', layer: f.layer, batch, samples, noise: f.noise, steps, baseline: f.baseline as Baseline, toInput, seed: f.seed, weights,
        });
        for (const m of maps) {
          scored.push(metrics.length ? await faithfulness(model, input.tensor, m, m.classIndex, metrics as MetricName[], { steps: curveSteps, replace: f.replace as Replacement | undefined, batch, toInput, seed: f.seed }) : undefined);
        }
      } catch (e) {
        if (e instanceof AttributionError) throw new UsageError(e.message);
        throw e;
      }
      const ci = maps[0].classIndex;
      const cls = (names ?? classNamesFor(units)).name(ci);
      const stem = safeName(input.name.replace(/\.[^.]+$/, ''));
      const cards: ExplainCard[] = [];
      const methodsJson: Record<string, unknown> = {};
      for (const [i, m] of maps.entries()) {
        const overlay = overlayJpeg(input.original, m);
        const png = mapPng(m);
        const base = `explain_${stem}_${safeName(m.method.replace('++', 'pp'))}_class${ci}`;
        const files = [await out.write(`${base}.jpg`, overlay), await out.write(`${base}_map.png`, png)];
        cards.push({ method: m.method, title: METHOD_TITLES[m.method as MethodName], map: m, overlay, png, scores: scored[i], notes: notes(m) });
        methodsJson[m.method] = {
          title: METHOD_TITLES[m.method as MethodName],
          ...(m.layer ? { layer: m.layer } : {}),
          shape: [m.height, m.width],
          signed: m.signed,
          scoreValue: round(m.scoreValue, 7),
          ...(m.details ? { details: Object.fromEntries(Object.entries(m.details).map(([k, v]) => [k, typeof v === 'number' ? round(v, 7) : v])) } : {}),
          ...(scored[i] ? { metrics: scoresJson(scored[i]) } : {}),
          values: Array.from(m.data, (v) => round(v, 7)),
          files,
        };
      }
      const target = `class ${ci} (${cls.name}), ${maps[0].score === 'prob' ? 'probability' : 'logit'} ${maps[0].scoreValue.toFixed(4)}`;
      const report = await out.write(
        'report.html',
        renderExplainReport({ title: `Attribution maps: ${model.name} on ${input.name}`, subtitle: `backend ${f.backend}; ${methods.length} methods; metrics ${metrics.join(', ') || 'none'}`, target, predictions: { image: input.name, top: preds }, cards }),
      );
      await out.commit();
      const auc = (s?: Faithfulness) => (s?.deletion || s?.insertion ? `  deletion ${s.deletion ? s.deletion.auc.toFixed(3) : '-'}  insertion ${s.insertion ? s.insertion.auc.toFixed(3) : '-'}` : '');
      return {
        json: {
          command: 'explain',
          model: modelJson(model, modelPath),
          image: imagePath,
          predictions: preds,
          class: { index: ci, id: cls.id, name: cls.name },
          score: maps[0].score,
          metrics,
          methods: methodsJson,
          files: out.written,
        },
        text: [
          `${input.name} -> ${model.name}:`,
          ...predictionLines(preds),
          `maps of ${target}:`,
          ...maps.map((m, i) => `  ${m.method.padEnd(15)} ${`${m.height}x${m.width}`.padEnd(8)} ${(m.layer ?? 'input').padEnd(Math.max(5, ...maps.map((x) => (x.layer ?? '').length)))}${auc(scored[i])}`),
          `report: ${report}`,
        ],
      };
    } finally {
      input.tensor.dispose();
    }
  } catch (e) {
    await out.abort();
    throw e;
  } finally {
    model.dispose();
  }
}
