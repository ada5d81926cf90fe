import { fileURLToPath } from 'node:url';
import { loadModel } from '../../models/load_model.ts';
import { renderReport } from '../../viz/report.ts';
import { loadInput, loadLabels } from '../context.ts';
import { OutputDir } from '../output_dir.ts';
import { activationPictures, describeActivations } from './activations.ts';
import { modelJson, type CommandResult, type CommonFlags } from './common.ts';
import { checkFilterFlags, filterPasses, filterPictures } from './filters.ts';
import { prepareCommand } from '../prepare.ts';
import { gradCamPictures } from './gradcam.ts';
import { predictionLines, topPredictions } from './predict.ts';
import type { ClassNames, Prediction } from '../../viz/predictions.ts';

/** The real files bundled for the demo (see assets/README.md). */
export const ASSETS = fileURLToPath(new URL('../../../assets/', import.meta.url));
const CATS_DOGS = `${ASSETS}cats_and_dogs_small_1.h5`;
const SQUEEZENET = `${ASSETS}squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5`;
const TINY_DARKNET = `${ASSETS}tiny_darknet/model.json`;
/** Tiny Darknet's 1000 outputs are in darknet's class order, given as WordNet ids. */
const TINY_DARKNET_LABELS = `${ASSETS}tiny_darknet/class_order_wnids.txt`;
const ELEPHANT = `${ASSETS}creative_commons_elephant.jpg`;
const PHOTOS = [`${ASSETS}chelsea_cat.png`, `${ASSETS}dog_on_beach.jpg`];
/** The book's generator sorts class folders: cats -> 0, dogs -> 1. */
const CATS_DOGS_NAMES: ClassNames = { count: 2, name: (i) => ({ id: ['cat', 'dog'][i], name: ['cat', 'dog'][i] }) };

export interface DemoFlags {
  filters: string;
  size: number;
  steps: number;
}

/**
 * All three pictures on real files: the trained cats-vs-dogs convnet (activations
 * and Grad-CAM on a cat and a dog photo), the real ImageNet SqueezeNet base
 * (filter patterns) and the real ImageNet Tiny Darknet classifier, a TF.js layers
 * model (Grad-CAM of its top class on the elephant photo), in one report.
 */
export async function demoCommand(f: CommonFlags & DemoFlags): Promise<CommandResult> {
  checkFilterFlags({ ...f, init: 'noise' });
  const out = await OutputDir.prepare(f.out);
  const text: string[] = [];
  const log = (s: string) => {
    text.push(s);
    if (!f.json) process.stderr.write(`${s}\n`);
  };
  const catsDogs = await loadModel(CATS_DOGS);
  const squeeze = await loadModel(SQUEEZENET, { arch: 'squeezenet-notop' });
  const darknet = await loadModel(TINY_DARKNET);
  try {
    // every model's pipelines in one list, compiled from both ends before the first real work
    await prepareCommand([
      { model: catsDogs, passes: [{ kind: 'predict' }, { kind: 'activations', layers: catsDogs.convAndPoolLayers() }, { kind: 'gradcam' }] },
      { model: darknet, passes: [{ kind: 'predict' }, { kind: 'gradcam' }] },
      { model: squeeze, passes: filterPasses(squeeze, { ...f, init: 'noise' }) },
    ]);
    log(`[1/4] activations and Grad-CAM: ${catsDogs.name} (cats_and_dogs_small_1.h5, input ${catsDogs.inputShape.join('x')})`);
    const predictions: { image: string; top: Prediction[] }[] = [];
    const sections = [];
    const gradcams = [];
    let activations: Record<string, unknown>[] = [];
    for (const [k, photo] of PHOTOS.entries()) {
      const input = await loadInput(catsDogs, photo, 'rescale');
      const top = await topPredictions(catsDogs, input.tensor, 2, CATS_DOGS_NAMES);
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
      const g = await gradCamPictures(catsDogs, input, { names: CATS_DOGS_NAMES }, out, 'catsdogs_', top[0].index);
      sections.push(g.section);
      gradcams.push({ image: input.name, ...g.json });
      log(`  Grad-CAM ${input.name}: class ${g.result.classIndex} (${g.cls.name}) at ${g.result.layer}`);
      input.tensor.dispose();
    }
    log(`[2/4] Grad-CAM: Tiny Darknet (real ImageNet classifier, TF.js layers model, input ${darknet.inputShape.join('x')})`);
    const darknetNames = await loadLabels(darknet, TINY_DARKNET_LABELS);
    const elephant = await loadInput(darknet, ELEPHANT, 'rescale');
    const darknetTop = await topPredictions(darknet, elephant.tensor, 3, darknetNames);
    predictions.push({ image: `${elephant.name} (Tiny Darknet)`, top: darknetTop });
    log(`  ${elephant.name}:`);
    predictionLines(darknetTop).forEach(log);
    const dg = await gradCamPictures(darknet, elephant, { names: darknetNames }, out, 'tinydarknet_', darknetTop[0].index);
    dg.section.heading = `Grad-CAM: ${elephant.name} through Tiny Darknet`;
    sections.push(dg.section);
    gradcams.push({ image: elephant.name, model: darknet.name, ...dg.json });
    log(`  Grad-CAM ${elephant.name}: class ${dg.result.classIndex} (${dg.cls.name}) at ${dg.result.layer}`);
    elephant.tensor.dispose();
    log(`[3/4] filter patterns: SqueezeNet v1.1 (real ImageNet weights), filters ${f.filters}, ${f.size}x${f.size}, ${f.steps} steps`);
    const filt = await filterPictures(squeeze, { ...f, init: 'noise' }, out, f.json, 'squeezenet_');
    sections.push(filt.section);
    log('[4/4] report');
    const report = await out.write(
      'report.html',
      renderReport({
        title: 'convscope demo',
        subtitle: `cats_and_dogs_small_1.h5, SqueezeNet v1.1 and Tiny Darknet on ${f.backend}`,
        summary: catsDogs.summary(),
        predictions,
        sections,
      }),
    );
    await out.commit();
    return {
      json: {
        command: 'demo',
        models: [modelJson(catsDogs, CATS_DOGS), modelJson(squeeze, SQUEEZENET), modelJson(darknet, TINY_DARKNET)],
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
    darknet.dispose();
  }
}
