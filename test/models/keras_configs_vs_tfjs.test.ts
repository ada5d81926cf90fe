/**
 * Genuine keras.applications configs (fixtures/keras_configs/, exported by Keras in
 * other people's projects): each loads through `readModelArchitecture` with its
 * published parameter total, and on generated weights (`generatedWeights`, seeded)
 * convscope equals TensorFlow.js at every layer and in the input gradient.
 *
 * Both engines get the same config JSON. To keep the time down the input is made
 * small (every InputLayer's batch_input_shape rewritten, inner models' included), to
 * a size both parsers accept; where a user's head averages the whole final map with
 * a fixed window (nsfwjs's InceptionV3 8x8, MobileNetV2 7x7: global average pooling
 * at the native size), that window is set to the reduced map's size, the same global
 * average. Parameter totals are checked on the untouched configs.
 *
 * Our side: the 'cpu' reference backend (float32). TF.js side: tfjs-layers from the
 * same JSON on tfjs's CPU backend, weights set from the same arrays
 * (test/helpers/tfjs_keras.ts); the input a seeded uniform [-1, 1) image.
 *
 * Score: the top class's logit (the value entering the output softmax / sigmoid).
 * Generated weights saturate the output (ResNet50's top probability is 0.99999,
 * Xception's sigmoid 0 to float32), and the gradient of a probability that close to
 * 1 (or 0) is a difference of nearly equal terms: float32 rounding alone made it
 * differ by 7e-3 of max |g| between the engines, while every logit gradient agrees
 * to ~1e-6.
 *
 * Measure (`rel`): max |ours - tf| / max |tf| over a layer's output (or the whole
 * gradient); see test/models/users_vs_tfjs.test.ts for why.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as cs from '../../src/index.ts';
import { readModelArchitecture } from '../../src/models/load_model.ts';
import { Model } from '../../src/models/model.ts';
import { vgg16Spec } from '../../src/models/keras/architectures.ts';
import { countParams, inferShapes } from '../../src/models/keras/summary_shapes.ts';
import type { LayerSpec, ModelSpec, WeightArray } from '../../src/models/keras/spec.ts';
import { Random } from '../../src/engine/random.ts';
import { generatedWeightArrays, kinkFlips, rel, tfjsKerasModel, tfjsTopology, type HostTensor } from '../helpers/tfjs_keras.ts';
import { tfjs } from '../helpers/tfjs.ts';
import { fixturesDir } from './keras_helpers.ts';
import { withInputSize } from '../../src/validate/keras_config.ts';

const DIR = path.join(fixturesDir, 'keras_configs');

/**
 * Probabilities (a softmax / sigmoid output, and reshapes of it) are compared on the
 * scale of 1: a saturated one (Xception's sigmoid is ~1e-9 on generated weights) has
 * the relative error of exp at a large logit, |logit| x its rounding (1.5e-5 there),
 * while its absolute error is ~1e-14.
 */
function isProbability(l: LayerSpec, byName: Map<string, LayerSpec>): boolean {
  if (['Reshape', 'Flatten', 'Dropout'].includes(l.className)) return isProbability(byName.get(l.inbound[0])!, byName);
  return ['softmax', 'sigmoid'].includes(l.config?.activation);
}

interface ConfigCase {
  file: string;
  /** The README's total, or 'tfjs' where none is published (then TF.js's countParams() of the same config). */
  published: number | 'tfjs';
  /** The reduced input size (rows = cols), and the fixed head windows set to the reduced final map. */
  size: number;
  headPools?: Record<string, number>;
  /** Layer-output and input-gradient tolerances (rel), with the measured figures. */
  forwardTol: number;
  gradTol: number;
}

// Tolerances: each with the figures measured on this machine (forward: the largest
// over all layers; then the gradient), 5x or more headroom for another summation order, and
// 4 orders of magnitude below what a wrong layer gives (rel ~1e-1).
const CONFIGS: ConfigCase[] = [
  { file: 'MobileNet__hpssjellis.json', published: 4_253_864, size: 64, forwardTol: 5e-6, gradTol: 5e-6 }, // measured 7.4e-7, 8.4e-7
  { file: 'MobileNetV2__nsfwjs.json', published: 2_619_461, size: 64, headPools: { average_pooling2d_1: 2 }, forwardTol: 3e-5, gradTol: 1e-5 }, // measured 5.3e-6, 1.7e-6
  { file: 'MobileNetV3Large__hadainahzul.json', published: 'tfjs', size: 64, forwardTol: 2e-5, gradTol: 2e-5 }, // measured 3.2e-6, 3.4e-6
  { file: 'ResNet50__andreyklimkin.json', published: 25_636_712, size: 32, forwardTol: 1e-5, gradTol: 1e-5 }, // measured 2.1e-6, 1.3e-6
  { file: 'Xception__monkeypox.json', published: 22_964_777, size: 32, forwardTol: 1e-5, gradTol: 1e-5 }, // measured 2.3e-6, 1.8e-6
  { file: 'InceptionV3__nsfwjs.json', published: 22_360_869, size: 75, headPools: { average_pooling2d_10: 1 }, forwardTol: 1e-5, gradTol: 1e-5 }, // measured 1.5e-6, 9.2e-7
  { file: 'NASNetMobile__clientsideml.json', published: 4_829_881, size: 32, forwardTol: 1e-5, gradTol: 1e-5 }, // measured 1.7e-6, 9.3e-7
  { file: 'VGG16__andreyklimkin.json', published: 138_357_544, size: 32, forwardTol: 1e-5, gradTol: 1e-5 }, // measured 3.1e-7, 1.8e-6
];

/** The config with every batch input shape set to size x size, and the named fixed windows to n x n (validate's report does the same). */
const reduced = withInputSize;

/**
 * Where the top class's logit is: the input of the output's softmax / sigmoid, behind
 * any Reshape / Flatten / Dropout. Ours: a layer output or `name:pre`; TF.js: computed
 * from its own layer outputs (for a Dense, its input times the kernel plus the bias).
 */
function logitSource(spec: ModelSpec, weights: Map<string, WeightArray[]>): { ours: string; theirs: (layers: Map<string, tf.Tensor>) => tf.Tensor } {
  const byName = new Map(spec.layers.map((l) => [l.name, l]));
  let l: LayerSpec = byName.get(spec.outputs[0])!;
  while (['Reshape', 'Flatten', 'Dropout'].includes(l.className)) l = byName.get(l.inbound[0])!;
  const squash = ['softmax', 'sigmoid'];
  if (l.className === 'Activation' && squash.includes(l.config.activation)) {
    const src = l.inbound[0];
    return { ours: src, theirs: (m) => tf.reshape(m.get(src)!, [1, -1]) };
  }
  if (l.className === 'Dense' && squash.includes(l.config.activation)) {
    const [k, b] = ['kernel', 'bias'].map((r) => weights.get(l.name)!.find((w) => w.role === r)!);
    const src = l.inbound[0];
    return { ours: `${l.name}:pre`, theirs: (m) => tf.add(tf.matMul(m.get(src)!, tf.tensor(k.values, k.shape)), tf.tensor(b.values, b.shape)) };
  }
  throw new Error(`no softmax / sigmoid output found behind ${spec.outputs[0]}`);
}

const measured: string[] = [];

beforeAll(async () => {
  await cs.setBackend('cpu');
  await tfjs();
});

afterAll(() => {
  console.log(`[keras_configs_vs_tfjs] measured (rel = max|ours - tf| / max|tf|):\n  ${measured.join('\n  ')}`);
});

for (const c of CONFIGS) {
  describe(c.file, () => {
    const raw = () => JSON.parse(fs.readFileSync(path.join(DIR, c.file), 'utf8')) as object;

    it(`loads through readModelArchitecture with ${c.published === 'tfjs' ? "TF.js's parameter count (none is published)" : `the published ${c.published.toLocaleString('en')} parameters`}`, async () => {
      const spec = await readModelArchitecture(path.join(DIR, c.file));
      const ours = countParams(spec).total;
      // tfjs-layers' own count of the same config (no weights are set: only shapes matter)
      const theirs = (await tfl.models.modelFromJSON({ modelTopology: tfjsTopology(raw()).topology } as never)) as tfl.LayersModel;
      const tfCount = theirs.countParams();
      theirs.dispose();
      measured.push(`${c.file}: ${spec.layers.length} layers, ${ours.toLocaleString('en')} parameters (TF.js ${tfCount.toLocaleString('en')})`);
      expect(ours).toBe(c.published === 'tfjs' ? tfCount : c.published);
      expect(tfCount).toBe(ours);
    });

    it(`equals TF.js at every layer and in the input gradient of the top logit (generated weights, ${c.size}x${c.size} input)`, async () => {
      const config = reduced(raw(), c.size, c.headPools);
      const spec = await readModelArchitecture(new TextEncoder().encode(JSON.stringify(config)), { fileName: c.file });
      const weights = generatedWeightArrays(spec, 1234);
      const model = new Model(spec, weights);
      const tfm = await tfjsKerasModel(config, weights);
      try {
        const shape = [1, c.size, c.size, spec.inputShape[3] as number];
        const r = new Random(99);
        const x: HostTensor = { shape, values: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r.uniform(-1, 1)) };
        const names = model.layerNames.filter((n) => model.layer(n).className !== 'InputLayer');
        const logit = logitSource(spec, weights);

        // ours: every layer's output and the gradient of the top logit, in one pass
        const xt = cs.tensor(x.values, shape);
        const ourOut = new Map<string, Float32Array>();
        let ourLogits: Float32Array | undefined;
        let top = -1;
        const { value, grads } = cs.gradientsOf(() => {
          const outs = model.run(xt, [...names, logit.ours]);
          names.forEach((n, i) => ourOut.set(n, Float32Array.from(outs[i].dataSync() as Float32Array)));
          const z = cs.reshape(outs[outs.length - 1], [1, -1]);
          ourLogits = Float32Array.from(z.dataSync() as Float32Array);
          top = ourLogits.indexOf(Math.max(...ourLogits));
          const pick = cs.tensor(Float32Array.from(ourLogits, (_, i) => (i === top ? 1 : 0)), [1, ourLogits.length]);
          return { value: cs.sum(cs.mul(z, pick)), wrt: [xt] };
        });
        const ourGrad = Float32Array.from(await grads[0].data());
        cs.dispose([xt, value, ...grads]);

        // TF.js: the same, through its node graph (kinks where the engines' rounding differs nudged, see kinkFlips)
        const score = (_o: tf.Tensor[], layers: Map<string, tf.Tensor>) => {
          const z = logit.theirs(layers);
          return tf.sum(tf.mul(z, tf.tensor(Float32Array.from({ length: z.size }, (_, i) => (i === top ? 1 : 0)), z.shape))) as tf.Scalar;
        };
        let run = tfm.outputsAndGradient(x, score);
        const flips = kinkFlips(spec.layers, (n) => ourOut.get(n), (n) => run.outputs.get(n));
        if (flips.count > 0) run = tfm.outputsAndGradient(x, score, flips.nudges);

        expect(names.filter((n) => !run.outputs.has(n)), 'layers TF.js has no output for').toEqual([]);
        let worst = 0;
        let worstAt = '';
        const byName = new Map(spec.layers.map((l) => [l.name, l]));
        for (const n of names) {
          const t = run.outputs.get(n)!;
          expect(model.storedShape(n).map((d) => d ?? 1), n).toEqual(t.shape);
          const e = rel(ourOut.get(n)!, t.values, isProbability(byName.get(n)!, byName) ? 1 : 0);
          if (e > worst) [worst, worstAt] = [e, n];
          expect(e, `${n} (${model.layer(n).className})`).toBeLessThanOrEqual(c.forwardTol);
        }
        const theirLogits = tf.tidy(() => logit.theirs(new Map([...run.outputs].map(([k, v]) => [k, tf.tensor(v.values, v.shape)]))).dataSync());
        const eg = rel(ourGrad, run.gradient.values);
        measured.push(
          `${c.file} at ${c.size}x${c.size}: ${names.length} layers, worst rel ${worst.toExponential(2)} at ${worstAt} (tol ${c.forwardTol}); ` +
            `gradient of logit ${top} rel ${eg.toExponential(2)} (tol ${c.gradTol}); ${flips.count} kink input(s) nudged${flips.count ? ` (${flips.where.join(', ')})` : ''}; ` +
            `formula classes: ${[...new Set(tfm.substitutions.values())].join(', ') || 'none'}`,
        );
        expect(flips.largest).toBeLessThanOrEqual(c.forwardTol);
        expect(rel(ourLogits!, theirLogits)).toBeLessThanOrEqual(c.forwardTol);
        expect(eg).toBeLessThanOrEqual(c.gradTol);
      } finally {
        model.dispose();
        tfm.dispose();
      }
    });
  });
}

describe('VGG16__andreyklimkin.json against the built-in vgg16Spec()', () => {
  it('has the same layers, classes, output shapes and parameter counts', async () => {
    const theirs = inferShapes(await readModelArchitecture(path.join(DIR, 'VGG16__andreyklimkin.json')));
    const ours = inferShapes(vgg16Spec({ includeTop: true }));
    const rows = (infos: typeof ours) => infos.map((i) => [i.layer.name, i.layer.className, i.outputShape, i.params]);
    expect(rows(theirs)).toEqual(rows(ours));
    expect(countParams(vgg16Spec({ includeTop: true })).total).toBe(138_357_544);
  });
});
