/**
 * `npm run validate:report`: `convscope validate` on every model in ../shared/fixtures
 * and on the built-in architectures with generated weights; writes VALIDATION.md (the
 * tables, the adapter, the versions, the date) and prints the headline (the largest
 * error of each kind over all models) that README.md shows.
 *
 *   npm run validate:report [-- --only REGEX] [--reference tfjs-wasm|tfjs-cpu|tfjs-webgpu] [--backend cpu|webgpu] [--vgg16]
 */
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import * as cs from '../src/index.ts';
import { readModelFile, type ReadModel } from '../src/models/load_model.ts';
import { Model } from '../src/models/model.ts';
import { generatedWeights } from '../src/models/keras/fixture_writer.ts';
import { squeezeNetKerasConfig, squeezeNetSpec, vgg16KerasConfig, vgg16Spec } from '../src/models/keras/architectures.ts';
import type { ModelSpec, WeightArray } from '../src/models/keras/spec.ts';
import { defaultPreprocess, loadInput } from '../src/cli/context.ts';
import type { PreprocessMode } from '../src/viz/preprocess.ts';
import { storedKerasConfig, type StoredConfig } from '../src/validate/keras_config.ts';
import { formatReport, TOLERANCES, validateModel, type ValidationReport, type ValidationRow } from '../src/validate/validate.ts';
import type { ReferenceName } from '../src/validate/reference.ts';

const arg = (k: string) => {
  const i = process.argv.indexOf(k);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const only = arg('--only') ? new RegExp(arg('--only')!, 'i') : undefined;
const reference = (arg('--reference') ?? 'tfjs-wasm') as ReferenceName;
const backendName = arg('--backend') ?? 'cpu';
const ROOT = path.resolve(import.meta.dirname, '..');
const FIX = path.resolve(ROOT, '../shared/fixtures');
const IMG = (n: string) => path.join(FIX, 'images', n);

interface Case {
  name: string;
  what: string;
  read: () => Promise<{ read: ReadModel; config: StoredConfig | Error; arch?: string }>;
  image?: string;
  steps: number;
  size?: number;
}

function generated(spec: ModelSpec, seed: number): Map<string, WeightArray[]> {
  const out = new Map<string, WeightArray[]>();
  for (const [layer, ws] of generatedWeights(spec, seed, (_l, role) => role)) {
    out.set(
      layer,
      ws.map((w) => {
        const values = new Float32Array(w.shape.reduce((a, b) => a * b, 1));
        w.fill!(values);
        return { name: `${layer}/${w.name}`, role: w.name, shape: w.shape, values };
      }),
    );
  }
  return out;
}

const fromFile = (file: string, arch?: string) => async () => ({ read: await readModelFile(file, arch ? { arch } : {}), config: await storedKerasConfig(file, arch).catch((e: Error) => e), arch });
const U = (n: string) => path.join(FIX, 'keras', 'users', n);
const K = (n: string) => path.join(FIX, 'keras', n);

const CASES: Case[] = [
  { name: 'fer2013_mini_XCEPTION.102-0.66.hdf5', what: 'users: fer2013 mini-XCEPTION (Keras 2.0.5, grayscale 64x64)', read: fromFile(U('fer2013_mini_XCEPTION.102-0.66.hdf5')), image: IMG('chelsea_cat.png'), steps: 40 },
  { name: 'teachable_machine_keras_model.h5', what: 'users: Teachable Machine, Sequential(MobileNet) + head (tf.keras 2.4.0), 224x224', read: fromFile(U('teachable_machine_keras_model.h5')), image: IMG('dog_on_beach.jpg'), steps: 5 },
  { name: 'mnist_channels_first_weights.h5 + model.json', what: 'users: MNIST, channels-first weights + to_json() config (Keras 2.1.2)', read: fromFile(U('mnist_channels_first_weights.h5'), U('mnist_channels_first_model.json')), image: IMG('coffee.png'), steps: 40 },
  { name: 'mnist_keras3.keras', what: 'users: MNIST Keras 3.15 .keras archive (seeded random input)', read: fromFile(U('mnist_keras3.keras')), steps: 40 },
  { name: 'tiny_darknet/model.json', what: 'Tiny Darknet ImageNet classifier (TF.js layers model), 224x224', read: fromFile(path.join(FIX, 'tfjs', 'tiny_darknet', 'model.json')), image: IMG('creative_commons_elephant.jpg'), steps: 5 },
  { name: 'squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5', what: 'SqueezeNet v1.1 ImageNet weights, --arch squeezenet-notop (227x227 photo)', read: fromFile(K('squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5'), 'squeezenet-notop'), image: IMG('chelsea_cat.png'), steps: 40, size: 64 },
  { name: 'cats_and_dogs_small_1.h5', what: "the book's cats-vs-dogs convnet (Keras 2, 150x150)", read: fromFile(K('cats_and_dogs_small_1.h5')), image: IMG('chelsea_cat.png'), steps: 40 },
  { name: 'keras1_conv2d_single_layer.h5', what: 'dl4j test file: Keras 1 single Conv2D', read: fromFile(K('keras1_conv2d_single_layer.h5')), steps: 40 },
  { name: 'keras2_conv2d_single_layer.h5', what: 'dl4j test file: Keras 2 single Conv2D', read: fromFile(K('keras2_conv2d_single_layer.h5')), steps: 40 },
  { name: 'keras2_cnn_batch_norm.h5', what: 'dl4j test file: Keras 2 CNN with batch normalisation', read: fromFile(K('keras2_cnn_batch_norm.h5')), steps: 40 },
  { name: 'keras2_functional_12net.h5', what: 'dl4j test file: Keras 2 functional 12-net', read: fromFile(K('keras2_functional_12net.h5')), steps: 40 },
  {
    name: 'squeezenet-notop (generated weights)',
    what: 'built-in SqueezeNet v1.1 base, generated weights (seed 7), seeded random 64x64 input',
    read: async () => {
      const spec = squeezeNetSpec({ inputShape: [null, null, 3] });
      return { read: { spec, weights: generated(spec, 7), format: 'generated' }, config: { config: squeezeNetKerasConfig({ inputShape: [null, null, 3] }), kerasVersion: '2.1.6' } };
    },
    steps: 40,
  },
  ...(process.argv.includes('--vgg16')
    ? [true, false].map((top) => ({
        name: `vgg16${top ? '' : '-notop'} (generated weights)`,
        what: `built-in VGG16 ${top ? 'with' : 'without'} top at 224x224, generated weights (seed 7), seeded random input`,
        read: async () => {
          const spec = vgg16Spec({ includeTop: top, inputShape: top ? undefined : [224, 224, 3] });
          return { read: { spec, weights: generated(spec, 7), format: 'generated' }, config: { config: vgg16KerasConfig({ includeTop: top, inputShape: top ? undefined : [224, 224, 3] }), kerasVersion: '2.1.6' } };
        },
        steps: 2,
        size: 64,
      }))
    : []),
];

const value = (r: ValidationRow) => (r.measure === 'identical' ? r.identical : r.measure === 'abs' ? r.maxAbs : r.maxRel);
const e = (v: number | undefined) => (v === undefined ? '-' : v.toExponential(2));

function table(r: ValidationReport): string[] {
  const out = ['| status | kind | name | shape | max abs | max rel | tolerance | note |', '|---|---|---|---|---|---|---|---|'];
  for (const row of r.rows) {
    const tol = row.measure === 'identical' ? `identical ${row.identical === undefined ? '-' : `${(row.identical * 100).toFixed(2)}%`} >= ${row.tolerance * 100}%` : `${row.measure} <= ${row.tolerance}`;
    const note = (row.note ?? '').replace(/\|/g, '\\|');
    out.push(`| ${row.status} | ${row.kind} | ${row.name}${row.className ? ` (${row.className})` : ''} | [${row.shape?.join(',') ?? ''}] | ${e(row.maxAbs)} | ${e(row.maxRel)} | ${tol} | ${note.length > 300 ? `${note.slice(0, 300)}...` : note} |`);
  }
  return out;
}

const backend = await cs.setBackend(backendName);
const adapter = backend.describe();
const results: { c: Case; r?: ValidationReport; error?: string; seconds: number }[] = [];
for (const c of CASES) {
  if (only && !only.test(c.name)) continue;
  const t0 = Date.now();
  try {
    const { read, config, arch } = await c.read();
    let input: Float32Array | undefined;
    let inputShape: number[] | undefined;
    if (c.image) {
      const m = new Model(read.spec, read.weights);
      const x = await loadInput(m, c.image, defaultPreprocess(arch, m) as PreprocessMode);
      input = Float32Array.from(await x.tensor.data());
      inputShape = x.tensor.shape.slice(1);
      x.tensor.dispose();
      m.dispose();
    }
    const r = await validateModel(read, config, { reference, steps: c.steps, input, inputShape, size: c.size });
    if (c.image) r.input = path.basename(c.image);
    results.push({ c, r, seconds: (Date.now() - t0) / 1000 });
    console.log(formatReport(r).at(-1), `(${c.name}, ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (err) {
    results.push({ c, error: String((err as Error).message ?? err), seconds: (Date.now() - t0) / 1000 });
    console.log(`ERROR ${c.name}: ${(err as Error).message}`);
  }
}

// the headline: the largest error of each kind over all models (the smallest identical fraction)
const KINDS: ValidationRow['kind'][] = ['layer', 'input-gradient', 'gradcam-gradient', 'gradcam-map', 'ascent-loss', 'ascent-image'];
const headline = KINDS.map((k) => {
  let worst: { v: number; at: string } | undefined;
  for (const { c, r } of results)
    for (const row of r?.rows ?? []) {
      if (row.kind !== k || row.status === 'unsupported') continue;
      const v = value(row);
      if (v === undefined) continue;
      if (!worst || (k === 'ascent-image' ? v < worst.v : v > worst.v)) worst = { v, at: `${c.name}: ${row.name}` };
    }
  return { k, worst };
});
const tolOf: Record<string, string> = {
  layer: `rel <= ${TOLERANCES.activation.tol}`,
  'input-gradient': `rel <= ${TOLERANCES.gradient.tol}`,
  'gradcam-gradient': `rel <= ${TOLERANCES.gradient.tol}`,
  'gradcam-map': `abs <= ${TOLERANCES.gradcam.tol}`,
  'ascent-loss': `rel <= ${TOLERANCES.ascentLoss.tol}`,
  'ascent-image': `identical >= ${TOLERANCES.ascentImage.tol * 100}%`,
};
const headLines = ['| kind | largest error over all models | where | tolerance |', '|---|---|---|---|', ...headline.map(({ k, worst }) => `| ${k} | ${worst ? (k === 'ascent-image' ? `${(worst.v * 100).toFixed(2)}% identical` : e(worst.v)) : '-'} | ${worst?.at ?? '-'} | ${tolOf[k]} |`)];
const pkg = (n: string) => JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', n, 'package.json'), 'utf8')).version as string;

const md = [
  '# Validation against TensorFlow.js',
  '',
  'Written by `npm run validate:report` (scripts/validation_report.ts): `convscope validate` (src/validate/validate.ts) on every model in `../shared/fixtures` and on the built-in architectures with generated weights. Each table: one row per layer (nested models\' layers included), then the input gradient of the top class score, the gradient with respect to the Grad-CAM layer, the Grad-CAM map and the first steps of a filter-pattern ascent (filter 0 of the last convolution).',
  '',
  `- date: ${new Date().toISOString()}`,
  `- convscope backend: ${adapter}`,
  `- reference: ${reference}; tfjs-core ${pkg('@tensorflow/tfjs-core')}, tfjs-layers ${pkg('@tensorflow/tfjs-layers')}, tfjs-backend-wasm ${pkg('@tensorflow/tfjs-backend-wasm')}`,
  `- machine: ${os.cpus()[0]?.model ?? '?'} x ${os.cpus().length}, Node ${process.version}`,
  `- tolerances: activations rel ${TOLERANCES.activation.tol} (floor ${TOLERANCES.activation.floor}: ${TOLERANCES.activation.why}); gradients rel ${TOLERANCES.gradient.tol} (${TOLERANCES.gradient.why}); Grad-CAM map abs ${TOLERANCES.gradcam.tol} (${TOLERANCES.gradcam.why}); ascent loss rel ${TOLERANCES.ascentLoss.tol}; ascent image >= ${TOLERANCES.ascentImage.tol * 100}% identical uint8 values (${TOLERANCES.ascentImage.why})`,
  '- measure: max |ours - tf| / max(max |tf|, floor) over a whole layer output or gradient.',
  '',
  '## Headline',
  '',
  ...headLines,
  '',
  '## Models',
  '',
  '| model | what | input | ascent steps | verdict | seconds |',
  '|---|---|---|---|---|---|',
  ...results.map(({ c, r, error, seconds }) => `| ${c.name} | ${c.what} | ${r?.input ?? '-'} | ${c.steps} | ${error ? `error: ${error}` : (formatReport(r!).at(-1) ?? '')} | ${seconds.toFixed(1)} |`),
  ...(process.argv.includes('--vgg16') ? [] : ['', 'VGG16 with and without top at 224 (generated weights) is not in this run: `npm run validate:report -- --vgg16` adds it (slow on the CPU reference backend).']),
  '',
  ...results.flatMap(({ c, r, error }) => [
    `### ${c.name}`,
    '',
    c.what,
    '',
    ...(error ? [`error: ${error}`] : [
      `${r!.model}, input ${r!.input}. ${formatReport(r!).at(-1)}`,
      '',
      ...(r!.kinks ? [`Kinks: ${r!.kinks}`, ''] : []),
      ...(r!.fallback ? [`${r!.fallback}.`, ''] : []),
      ...(r!.substitutions.length ? [`TF.js layers from Keras's formulas: ${r!.substitutions.join('; ')}`, ''] : []),
      ...table(r!),
    ]),
    '',
  ]),
].join('\n');
fs.writeFileSync(path.join(ROOT, 'VALIDATION.md'), md);
console.log(headLines.join('\n'));
console.log('wrote VALIDATION.md');
process.exit(0);
