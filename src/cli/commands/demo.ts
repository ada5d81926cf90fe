import { fileURLToPath } from 'node:url';
import { loadModel } from '../../models/load_model.ts';
import { renderReport } from '../../viz/report.ts';
import { loadInput } from '../context.ts';
import { OutputDir } from '../output_dir.ts';
import { activationPictures, describeActivations } from './activations.ts';
import { modelJson, type CommandResult, type CommonFlags } from './common.ts';
import { filterPictures } from './filters.ts';
import { gradCamPictures } from './gradcam.ts';
import { predictionLines, topPredictions } from './predict.ts';
import type { Prediction } from '../../viz/predictions.ts';

/** The real files bundled for the demo (see assets/README.md). */
export const ASSETS = fileURLToPath(new URL('../../../assets/', import.meta.url));
const CATS_DOGS = `${ASSETS}cats_and_dogs_small_1.h5`;
const SQUEEZENET = `${ASSETS}squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5`;
const PHOTOS = [`${ASSETS}chelsea_cat.png`, `${ASSETS}dog_on_beach.jpg`];
/** The book's generator sorts class folders: cats -> 0, dogs -> 1. */
const CATS_DOGS_LABELS: [string, string] = ['cat', 'dog'];

export interface DemoFlags {
  filters: string;
  size: number;
  steps: number;
}

/**
 * All three pictures on real files: the trained cats-vs-dogs convnet (activations
 * and Grad-CAM on a cat and a dog photo) and the real ImageNet SqueezeNet base
 * (filter patterns), in one report.
 */
export async function demoCommand(f: CommonFlags & DemoFlags): Promise<CommandResult> {
  const out = new OutputDir(f.out);
  const text: string[] = [];
  const log = (s: string) => {
    text.push(s);
    if (!f.json) process.stderr.write(`${s}\n`);
  };
  const catsDogs = await loadModel(CATS_DOGS);
  const squeeze = await loadModel(SQUEEZENET, { arch: 'squeezenet-notop' });
  try {
    log(`[1/3] activations and Grad-CAM: ${catsDogs.name} (cats_and_dogs_small_1.h5, input ${catsDogs.inputShape.join('x')})`);
    const predictions: { image: string; top: Prediction[] }[] = [];
    const sections = [];
    const gradcams = [];
    let activations: Record<string, unknown>[] = [];
    for (const [k, photo] of PHOTOS.entries()) {
      const input = await loadInput(catsDogs, photo, 'rescale');
      const top = (await topPredictions(catsDogs, input.tensor, 2)).map((p) => ({ ...p, id: CATS_DOGS_LABELS[p.index], name: CATS_DOGS_LABELS[p.index] }));
      predictions.push({ image: input.name, top });
      log(`  ${input.name}:`);
      predictionLines(top).forEach(log);
      if (k === 0) {
        const a = await activationPictures(catsDogs, input.tensor, catsDogs.convAndPoolLayers(), out, 'catsdogs_');
        a.section.heading = `Intermediate activations: ${input.name}`;
        sections.push(a.section);
        activations = a.json;
        describeActivations(a.acts).forEach(log);
      }
      const g = await gradCamPictures(catsDogs, input, { binaryLabels: CATS_DOGS_LABELS }, out, 'catsdogs_', top[0].index);
      sections.push(g.section);
      gradcams.push({ image: input.name, ...g.json });
      log(`  Grad-CAM ${input.name}: class ${g.result.classIndex} (${g.cls.name}) at ${g.result.layer}`);
      input.tensor.dispose();
    }
    log(`[2/3] filter patterns: SqueezeNet v1.1 (real ImageNet weights), filters ${f.filters}, ${f.size}x${f.size}, ${f.steps} steps`);
    const filt = await filterPictures(squeeze, { ...f, init: 'noise' }, out, f.json, 'squeezenet_');
    sections.push(filt.section);
    log('[3/3] report');
    const report = await out.write(
      'report.html',
      renderReport({
        title: 'convscope demo',
        subtitle: `cats_and_dogs_small_1.h5 and SqueezeNet v1.1 on ${f.backend}`,
        summary: catsDogs.summary(),
        predictions,
        sections,
      }),
    );
    await out.commit();
    return {
      json: {
        command: 'demo',
        models: [modelJson(catsDogs, CATS_DOGS), modelJson(squeeze, SQUEEZENET)],
        predictions,
        layers: activations,
        gradcam: gradcams,
        filters: filt.json,
        report,
        files: out.written,
      },
      text: [`report: ${report}`],
    };
  } catch (e) {
    await out.abort();
    throw e;
  } finally {
    catsDogs.dispose();
    squeeze.dispose();
  }
}
