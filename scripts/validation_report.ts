/**
 * `npm run validate:report`: `convscope validate` on every model in ../shared/fixtures,
 * on the built-in architectures with generated weights (SqueezeNet, VGG16 with and
 * without top at 224) and on the genuine keras.applications configs of
 * ../shared/fixtures/keras_configs with generated weights; writes VALIDATION.md (the
 * tables, the adapters, the versions, the date) and prints one line per model as it
 * goes, then the headline (the largest error of each kind over all models) that
 * README.md shows.
 *
 *   npm run validate:report [-- --only REGEX] [--reference tfjs-wasm|tfjs-cpu|tfjs-webgpu] [--backend cpu|webgpu] [--out FILE]
 *
 * convscope's backend: each model's own (cpu, the plain TypeScript reference, except
 * VGG16 at 224 on webgpu: the reference backend takes minutes per pass there), or the
 * one --backend names for all. The ascent: the first live filter of the last
 * convolution (see ValidateOptions.filter).
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
import { storedKerasConfig, withInputSize, type StoredConfig } from '../src/validate/keras_config.ts';
import { readModelArchitecture } from '../src/models/load_model.ts';
import { formatReport, TOLERANCES, validateModel, type ValidationReport, type ValidationRow } from '../src/validate/validate.ts';
import type { ReferenceName } from '../src/validate/reference.ts';

const arg = (k: string) => {
  const i = process.argv.indexOf(k);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const only = arg('--only') ? new RegExp(arg('--only')!, 'i') : undefined;
const reference = (arg('--reference') ?? 'tfjs-wasm') as ReferenceName;
const backendFlag = arg('--backend');
const ROOT = path.resolve(import.meta.dirname, '..');
const OUT = path.resolve(arg('--out') ?? path.join(ROOT, 'VALIDATION.md'));
const FIX = path.resolve(ROOT, '../shared/fixtures');
const IMG = (n: string) => path.join(FIX, 'images', n);

type Group = 'fixtures' | 'builtin' | 'keras_configs';
interface Case {
  name: string;
  what: string;
  group: Group;
  /** The class score (see ValidateOptions.score): 'logit' on generated weights, whose output saturates. */
  score?: 'prob' | 'logit';
  /** convscope's backend for this model (default cpu; --backend overrides). */
  backend?: 'cpu' | 'webgpu';
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

/** The keras.applications configs (fixtures/keras_configs), each at a reduced input size: see withInputSize. */
const KERAS_CONFIGS: { file: string; size: number; headPools?: Record<string, number> }[] = [
  { file: 'MobileNet__hpssjellis.json', size: 64 },
  { file: 'MobileNetV2__nsfwjs.json', size: 64, headPools: { average_pooling2d_1: 2 } },
  { file: 'MobileNetV3Large__hadainahzul.json', size: 64 },
  { file: 'ResNet50__andreyklimkin.json', size: 32 },
  { file: 'Xception__monkeypox.json', size: 32 },
  { file: 'InceptionV3__nsfwjs.json', size: 75, headPools: { average_pooling2d_10: 1 } },
  { file: 'NASNetMobile__clientsideml.json', size: 32 },
  { file: 'VGG16__andreyklimkin.json', size: 32 },
];

const fromFile = (file: string, arch?: string) => async () => ({ read: await readModelFile(file, arch ? { arch } : {}), config: await storedKerasConfig(file, arch).catch((e: Error) => e), arch });
const U = (n: string) => path.join(FIX, 'keras', 'users', n);
const K = (n: string) => path.join(FIX, 'keras', n);

const CASES: Case[] = [
  { name: 'fer2013_mini_XCEPTION.102-0.66.hdf5', what: 'users: fer2013 mini-XCEPTION (Keras 2.0.5, grayscale 64x64)', group: 'fixtures', read: fromFile(U('fer2013_mini_XCEPTION.102-0.66.hdf5')), image: IMG('chelsea_cat.png'), steps: 40 },
  { name: 'teachable_machine_keras_model.h5', what: 'users: Teachable Machine, Sequential(MobileNet) + head (tf.keras 2.4.0), 224x224', group: 'fixtures', read: fromFile(U('teachable_machine_keras_model.h5')), image: IMG('dog_on_beach.jpg'), steps: 5 },
  { name: 'mnist_channels_first_weights.h5 + model.json', what: 'users: MNIST, channels-first weights + to_json() config (Keras 2.1.2)', group: 'fixtures', read: fromFile(U('mnist_channels_first_weights.h5'), U('mnist_channels_first_model.json')), image: IMG('coffee.png'), steps: 40 },
  { name: 'mnist_keras3.keras', what: 'users: MNIST Keras 3.15 .keras archive (seeded random input)', group: 'fixtures', read: fromFile(U('mnist_keras3.keras')), steps: 40 },
  { name: 'tiny_darknet/model.json', what: 'Tiny Darknet ImageNet classifier (TF.js layers model), 224x224', group: 'fixtures', read: fromFile(path.join(FIX, 'tfjs', 'tiny_darknet', 'model.json')), image: IMG('creative_commons_elephant.jpg'), steps: 5 },
  { name: 'squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5', what: 'SqueezeNet v1.1 ImageNet weights, --arch squeezenet-notop (227x227 photo)', group: 'fixtures', read: fromFile(K('squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5'), 'squeezenet-notop'), image: IMG('chelsea_cat.png'), steps: 40, size: 64 },
  { name: 'cats_and_dogs_small_1.h5', what: "the book's cats-vs-dogs convnet (Keras 2, 150x150)", group: 'fixtures', read: fromFile(K('cats_and_dogs_small_1.h5')), image: IMG('chelsea_cat.png'), steps: 40 },
  { name: 'keras1_conv2d_single_layer.h5', what: 'dl4j test file: Keras 1 single Conv2D', group: 'fixtures', read: fromFile(K('keras1_conv2d_single_layer.h5')), steps: 40 },
  { name: 'keras2_conv2d_single_layer.h5', what: 'dl4j test file: Keras 2 single Conv2D', group: 'fixtures', read: fromFile(K('keras2_conv2d_single_layer.h5')), steps: 40 },
  { name: 'keras2_cnn_batch_norm.h5', what: 'dl4j test file: Keras 2 CNN with batch normalisation', group: 'fixtures', read: fromFile(K('keras2_cnn_batch_norm.h5')), steps: 40 },
  { name: 'keras2_functional_12net.h5', what: 'dl4j test file: Keras 2 functional 12-net', group: 'fixtures', read: fromFile(K('keras2_functional_12net.h5')), steps: 40 },
  {
    name: 'squeezenet-notop (generated weights)',
    group: 'builtin',
    what: 'built-in SqueezeNet v1.1 base, generated weights (seed 7), seeded random 64x64 input',
    read: async () => {
      const spec = squeezeNetSpec({ inputShape: [null, null, 3] });
      return { read: { spec, weights: generated(spec, 7), format: 'generated' }, config: { config: squeezeNetKerasConfig({ inputShape: [null, null, 3] }), kerasVersion: '2.1.6' } };
    },
    steps: 40,
  },
  ...[true, false].map(
    (top): Case => ({
      name: `vgg16${top ? '' : '-notop'} (generated weights)`,
      what: `built-in VGG16 ${top ? 'with' : 'without'} top at 224x224, generated weights (seed 7), seeded random input; convscope on its webgpu backend`,
      group: 'builtin',
      backend: 'webgpu',
      score: 'logit',
      read: async () => {
        const spec = vgg16Spec({ includeTop: top, inputShape: top ? undefined : [224, 224, 3] });
        return { read: { spec, weights: generated(spec, 7), format: 'generated' }, config: { config: vgg16KerasConfig({ includeTop: top, inputShape: top ? undefined : [224, 224, 3] }), kerasVersion: '2.1.6' } };
      },
      // the ascent at the input size VGG16 takes (fixed at 224 with and without top here), one
      // step: a VGG16 pass at 224 takes ~30 s forward on lavapipe on this 2-core machine, and
      // the ascent runs ours twice (the product's filterPatterns, then step by step with TF.js)
      steps: 1,
    }),
  ),
  // the genuine keras.applications configs, at the input size test/models/keras_configs_vs_tfjs.test.ts uses
  ...KERAS_CONFIGS.map(
    ({ file, size, headPools }): Case => ({
      name: `keras_configs/${file} (generated weights)`,
      what: `keras.applications ${file.split('__')[0]} config as exported by Keras in another project (fixtures/keras_configs), input set to ${size}x${size}${headPools ? ` (fixed head window ${Object.entries(headPools).map(([k, n]) => `${k} ${n}x${n}`).join(', ')}: the same global average)` : ''}, generated weights (seed 7), seeded random input`,
      group: 'keras_configs',
      score: 'logit',
      read: async () => {
        const config = withInputSize(JSON.parse(fs.readFileSync(path.join(FIX, 'keras_configs', file), 'utf8')), size, headPools) as object;
        const spec = await readModelArchitecture(new TextEncoder().encode(JSON.stringify(config)), { fileName: file });
        return { read: { spec, weights: generated(spec, 7), format: 'generated' }, config: { config, kerasVersion: '2' } };
      },
      steps: 5,
    }),
  ),
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

// TF.js prints a banner about tfjs-node on first use: one line per model is the progress output
const warn = console.warn;
console.warn = (...a: unknown[]) => (/tfjs-node|tfjs in node|TensorFlow\.js in Node/i.test(String(a[0])) ? undefined : warn(...a));
const log = console.log;
console.log = (...a: unknown[]) => (/^=+$|tfjs-node|TensorFlow\.js in Node/.test(String(a[0]).trim()) ? undefined : log(...a));

const adapters = new Map<string, string>();
const results: { c: Case; r?: ValidationReport; error?: string; seconds: number; backend: string }[] = [];
const todo = CASES.filter((c) => !only || only.test(c.name));
const started = Date.now();
for (const [i, c] of todo.entries()) {
  const t0 = Date.now();
  const want = backendFlag ?? c.backend ?? 'cpu';
  let backend = want;
  try {
    const b = await cs.setBackend(want);
    adapters.set(want, b.describe());
    backend = want;
    const { read, config, arch } = await c.read();
    let input: Float32Array | undefined;
    let inputShape: number[] | undefined;
    if (c.image) {
      const m = new Model(read.spec, read.weights);
      try {
        const x = await loadInput(m, c.image, defaultPreprocess(arch, m) as PreprocessMode);
        input = Float32Array.from(await x.tensor.data());
        inputShape = x.tensor.shape.slice(1);
        x.tensor.dispose();
      } finally {
        m.dispose();
      }
    }
    const r = await validateModel(read, config, { reference, steps: c.steps, input, inputShape, size: c.size, filter: 'live', score: c.score });
    if (c.image) r.input = path.basename(c.image);
    const seconds = (Date.now() - t0) / 1000;
    results.push({ c, r, seconds, backend });
    log(`[${i + 1}/${todo.length}] ${c.name}: ${formatReport(r).at(-1)} (${seconds.toFixed(1)} s, convscope ${backend}, ${r.reference})`);
  } catch (err) {
    const seconds = (Date.now() - t0) / 1000;
    const error = String((err as Error).message ?? err).split('\n')[0];
    results.push({ c, error, seconds, backend });
    log(`[${i + 1}/${todo.length}] ${c.name}: ERROR ${error} (${seconds.toFixed(1)} s, convscope ${backend})`);
  }
}
log(`${results.length} models in ${((Date.now() - started) / 60000).toFixed(1)} min`);

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
/** GitHub's heading anchor: lower case, spaces to dashes, punctuation other than - and _ dropped. */
const anchor = (h: string) => h.toLowerCase().replace(/[^a-z0-9 _-]/g, '').replace(/ /g, '-');
const pkg = (n: string) => JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', n, 'package.json'), 'utf8')).version as string;

const GROUPS: [Group, string][] = [
  ['fixtures', 'Models in ../shared/fixtures'],
  ['builtin', 'Built-in architectures, generated weights'],
  ['keras_configs', 'keras.applications configs (fixtures/keras_configs), generated weights'],
];
const verdict = (r: ValidationReport | undefined, error: string | undefined) => (error ? `error: ${error}` : (formatReport(r!).at(-1) ?? ''));
const refAdapter = results.find((x) => x.r?.versions.adapter)?.r?.versions.adapter;
const md = [
  '# Validation against TensorFlow.js',
  '',
  "Written by `npm run validate:report` (scripts/validation_report.ts): `convscope validate` (src/validate/validate.ts) on every model in `../shared/fixtures`, on the built-in architectures with generated weights (SqueezeNet v1.1, VGG16 with and without top at 224x224) and on the genuine keras.applications configs in `../shared/fixtures/keras_configs` with generated weights. Each table: one row per layer (nested models' layers included), then the input gradient of the top class score, the gradient with respect to the Grad-CAM layer, the Grad-CAM map and the first steps of a filter-pattern ascent (the last convolution's first filter whose output is not zero everywhere on the ascent's start image: a dead ReLU filter's loss is 0 at every step and compares nothing). The class score is the top class's probability (what `convscope gradcam` scores) on the models with trained weights, and its logit (the value entering the softmax) on generated weights: they saturate the output (ResNet50's top probability is 1 - 1e-6 there), and the gradient of a probability that close to 1 is a difference of nearly equal terms, which float32 rounding alone makes differ between engines by 1e-2 of its scale (measured 1.2e-1 on ResNet50 at 32x32), while the logit's gradient agrees to 1e-6.",
  '',
  `- date: ${new Date().toISOString()}`,
  ...[...adapters].map(([b, d]) => `- convscope backend ${b}: ${d}`),
  `- which backend each model ran on: the "convscope" column below (${backendFlag ? `--backend ${backendFlag} for all` : 'cpu, the plain TypeScript float32 reference, except VGG16 at 224x224 on webgpu: the reference backend takes minutes per pass there'})`,
  `- reference: ${reference}${refAdapter ? ` (adapter ${refAdapter})` : ''}; tfjs-core ${pkg('@tensorflow/tfjs-core')}, tfjs-layers ${pkg('@tensorflow/tfjs-layers')}, tfjs-backend-${reference.slice(5)} ${pkg(`@tensorflow/tfjs-backend-${reference.slice(5)}`)}${results.some((x) => x.r?.fallback) && reference !== 'tfjs-cpu' ? `; tfjs-backend-cpu ${pkg('@tensorflow/tfjs-backend-cpu')} where a model's gradient rows fell back to it (said in its table)` : ''}`,
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
  ...GROUPS.flatMap(([g, title]) => {
    const rs = results.filter((x) => x.c.group === g);
    if (rs.length === 0) return [];
    return [
      `### ${title}`,
      '',
      '| model | what | input | ascent steps | convscope | verdict | seconds |',
      '|---|---|---|---|---|---|---|',
      ...rs.map(({ c, r, error, seconds, backend }) => `| [${c.name}](#${anchor(c.name)}) | ${c.what} | ${r?.input ?? '-'} | ${c.steps} | ${backend} | ${verdict(r, error)} | ${seconds.toFixed(1)} |`),
      '',
    ];
  }),
  '## Tables',
  '',
  ...results.flatMap(({ c, r, error, backend }) => [
    `### ${c.name}`,
    '',
    `${c.what}. convscope backend: ${backend}.`,
    '',
    ...(error ? [`error: ${error}`] : [
      `${r!.model}, input ${r!.input}. ${formatReport(r!).at(-1)}`,
      '',
      ...(r!.kinks ? [`Kinks: ${r!.kinks}`, ''] : []),
      ...(r!.fallback ? [`${r!.fallback}.`, ''] : []),
      ...(r!.substitutions.length ? [`TF.js layers from Keras's formulas: ${r!.substitutions.join('; ')}`, ''] : []),
      ...(r!.stubbedKernels.length ? [`TF.js (${r!.reference}) has no ${r!.stubbedKernels.join(', ')}: zeros stand in (only input and activation gradients are compared).`, ''] : []),
      ...table(r!),
    ]),
    '',
  ]),
].join('\n');
fs.writeFileSync(OUT, md);
log(headLines.join('\n'));
log(`wrote ${path.relative(process.cwd(), OUT)}`);
process.exit(0);
