/**
 * The attribution methods written again, from their papers' formulas, with TensorFlow.js
 * operations (CPU backend, float32) and TF.js's own `tf.grad` / `tf.valueAndGrad` for
 * every gradient: the references test/viz/attribution_*.test.ts compare convscope with.
 *
 * The networks are chains (the real cats-vs-dogs Sequential file, a small VGG16), run
 * layer by layer with tf ops from their Keras config and weights (Conv2D, MaxPooling2D,
 * Flatten, Dropout, Dense, InputLayer), so a chain can be cut at any layer (A = the
 * layer's output, the head = the rest) and every ReLU can be swapped for guided
 * backpropagation's (a tf.customGrad). `predictCheck` compares the chain with
 * tfjs-layers' own model built from the same config, so the hand-written forward is
 * itself checked.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { Random } from '../../src/engine/random.ts';
import { tfjs } from '../helpers/tfjs.ts';
import * as cs from '../../src/index.ts';
import { readModelFile } from '../../src/models/load_model.ts';
import { Model } from '../../src/models/model.ts';
import { vgg16KerasConfig } from '../../src/models/keras/architectures.ts';
import { parseModelConfig } from '../../src/models/keras/config.ts';
import type { WeightArray } from '../../src/models/keras/spec.ts';
import { readImageFile } from '../../src/viz/image_io_node.ts';
import { kerasLoadImg } from '../../src/viz/resize.ts';
import { rescale } from '../../src/viz/preprocess.ts';
import { readKerasFileDirectly } from '../helpers/keras_direct.ts';
import { kerasFixture, repoRoot } from '../models/keras_helpers.ts';

export type TF = Awaited<ReturnType<typeof tfjs>>;
export type T = ReturnType<TF['tensor']>;
type Json = Record<string, unknown>;

interface ChainLayer {
  name: string;
  cls: string;
  config: Json;
  kernel?: T;
  bias?: T;
}

export class Chain {
  readonly layers: ChainLayer[];
  constructor(
    private tf: TF,
    config: Json,
    weights: (layer: string, role: 'kernel' | 'bias') => { shape: number[]; values: Float32Array },
  ) {
    const inner = config.config as Json | Json[];
    const list = (Array.isArray(inner) ? inner : (inner.layers as Json[])) as { class_name: string; config: Json }[];
    this.layers = list
      .filter((l) => l.class_name !== 'InputLayer')
      .map((l) => {
        const name = l.config.name as string;
        const out: ChainLayer = { name, cls: l.class_name, config: l.config };
        if (l.class_name === 'Conv2D' || l.class_name === 'Dense') {
          const k = weights(name, 'kernel');
          const b = weights(name, 'bias');
          out.kernel = tf.tensor(k.values, k.shape);
          out.bias = tf.tensor(b.values, b.shape);
        }
        return out;
      });
  }

  index(name: string): number {
    const i = this.layers.findIndex((l) => l.name === name);
    if (i < 0) throw new Error(`no layer ${name}`);
    return i;
  }

  /** Runs layers from..to (inclusive indices); `logit` leaves the last layer's activation out; `guided` uses guided ReLUs. */
  run(x: T, o: { from?: number; to?: number; guided?: boolean; logit?: boolean } = {}): T {
    const tf = this.tf;
    const from = o.from ?? 0;
    const to = o.to ?? this.layers.length - 1;
    const relu = o.guided ? guidedRelu(tf) : (t: T) => tf.relu(t);
    let h = x;
    for (let i = from; i <= to; i++) {
      const l = this.layers[i];
      const c = l.config;
      const act = (t: T) => {
        const a = i === this.layers.length - 1 && o.logit ? 'linear' : (c.activation as string);
        if (a === 'relu') return relu(t);
        if (a === 'sigmoid') return tf.sigmoid(t);
        if (a === 'softmax') return tf.softmax(t);
        if (a === 'linear') return t;
        throw new Error(`activation ${a}`);
      };
      switch (l.cls) {
        case 'Conv2D': {
          const s = c.strides as number[];
          h = act(tf.add(tf.conv2d(h as never, l.kernel as never, [s[0], s[1]], c.padding as 'same' | 'valid'), l.bias!));
          break;
        }
        case 'MaxPooling2D': {
          const p = c.pool_size as number[];
          const s = (c.strides as number[] | null) ?? p;
          h = tf.maxPool(h as never, [p[0], p[1]], [s[0], s[1]], c.padding as 'same' | 'valid');
          break;
        }
        case 'Flatten':
          h = tf.reshape(h, [h.shape[0], -1]);
          break;
        case 'Dropout':
          break;
        case 'Dense':
          h = act(tf.add(tf.matMul(h as never, l.kernel as never), l.bias!));
          break;
        default:
          throw new Error(`layer class ${l.cls}`);
      }
    }
    return h;
  }

  dispose(): void {
    for (const l of this.layers) {
      l.kernel?.dispose();
      l.bias?.dispose();
    }
  }
}

/** Guided backpropagation's ReLU: forward relu(x), backward dy * [x > 0] * [dy > 0]. */
export function guidedRelu(tf: TF): (x: T) => T {
  return tf.customGrad(((x: T, save: (ts: T[]) => void) => {
    save([x]);
    return { value: tf.relu(x), gradFunc: (dy: T, saved: T[]) => tf.mul(tf.mul(dy, tf.step(saved[0])), tf.step(dy)) };
  }) as never) as unknown as (x: T) => T;
}

/** The class score per image from the chain's output [b, units] (sigmoid: p or 1 - p, z or -z). */
export function classScore(tf: TF, out: T, classIndex: number, logit: boolean): T {
  const b = out.shape[0];
  if (out.shape[1] === 1) {
    const s = tf.reshape(out, [b]);
    return classIndex === 1 ? s : logit ? tf.neg(s) : tf.sub(1, s);
  }
  return tf.reshape(tf.slice(out, [0, classIndex], [b, 1]), [b]);
}

export interface RefSetup {
  tf: TF;
  chain: Chain;
  x: T;
  classIndex: number;
  logit: boolean;
}

const relu1 = (tf: TF, m: T) => tf.tidy(() => {
  const r = tf.relu(m);
  const mx = tf.max(r).dataSync()[0];
  return mx > 0 ? tf.div(r, mx) : r;
});
const absMax = (tf: TF, m: T) => tf.tidy(() => {
  const mx = tf.max(tf.abs(m)).dataSync()[0];
  return mx > 0 ? tf.div(m, mx) : m;
});

/** A (the layer's output, [1, h, w, k]) and G = d score / d A by tf.valueAndGrad through the head. */
export function camInputs(s: RefSetup, layer: string, guided = false): { A: T; G: T; score: number } {
  const { tf, chain } = s;
  const i = chain.index(layer);
  return tf.tidy(() => {
    const A = chain.run(s.x, { to: i });
    const head = (a: T) => tf.sum(classScore(tf, chain.run(a, { from: i + 1, logit: s.logit, guided }), s.classIndex, s.logit));
    const { value, grad } = tf.valueAndGrad(head)(A);
    return { A, G: grad, score: value.dataSync()[0] };
  }) as never;
}

/** The reference maps of the gradient CAMs, from the papers' formulas; normalised as convscope's (relu, / max). */
export function referenceGradientCams(s: RefSetup, layer: string): Record<string, Float32Array> {
  const { tf } = s;
  const { A, G } = camInputs(s, layer);
  const out = tf.tidy(() => {
    const sumA = tf.sum(A, [1, 2], true);
    // Grad-CAM: channel weights = mean gradient
    const gradcam = tf.mean(tf.mul(A, tf.mean(G, [0, 1, 2])), 3);
    // Grad-CAM++ eq. 19: alpha = g^2 / (2 g^2 + sum(A) g^3), 0 where the denominator is 0
    const g2 = tf.square(G);
    const g3 = tf.pow(G, 3);
    const den = tf.add(tf.mul(2, g2), tf.mul(sumA, g3));
    const alpha = tf.where(tf.equal(den, 0), tf.zerosLike(den), tf.div(g2, tf.where(tf.equal(den, 0), tf.onesLike(den), den)));
    const wpp = tf.sum(tf.mul(alpha, tf.relu(G)), [0, 1, 2]);
    const gradcampp = tf.sum(tf.mul(A, wpp), 3);
    // XGrad-CAM eq. 9: w = sum(A / sum(A) * g)
    const safe = tf.where(tf.equal(sumA, 0), tf.onesLike(sumA), sumA);
    const wx = tf.sum(tf.where(tf.equal(tf.broadcastTo(sumA, A.shape), 0), tf.zerosLike(A), tf.mul(tf.div(A, safe), G)), [0, 1, 2]);
    const xgradcam = tf.sum(tf.mul(A, wx), 3);
    // Layer-CAM: sum_k relu(g) A;  HiResCAM: sum_k g A
    const layercam = tf.sum(tf.mul(tf.relu(G), A), 3);
    const hirescam = tf.sum(tf.mul(G, A), 3);
    const maps = { gradcam, 'gradcam++': gradcampp, xgradcam, layercam, hirescam };
    return Object.fromEntries(Object.entries(maps).map(([k, m]) => [k, relu1(tf, m)]));
  }) as Record<string, T>;
  const res = Object.fromEntries(Object.entries(out).map(([k, m]) => [k, m.dataSync() as Float32Array]));
  tf.dispose([A, G, ...Object.values(out)]);
  return res;
}

/** Eigen-CAM: A (as hw x k) times its leading right singular vector (power iteration on AᵀA), sign so it sums positive, relu, / max. */
export function referenceEigenCam(s: RefSetup, layer: string): Float32Array {
  const { tf, chain } = s;
  return tf.tidy(() => {
    const A = chain.run(s.x, { to: chain.index(layer) });
    const [, h, w, k] = A.shape;
    const M = tf.reshape(A, [h * w, k]);
    const C = tf.matMul(M, M, true, false);
    let v: T = tf.ones([k, 1]);
    for (let i = 0; i < 3000; i++) {
      const nv = tf.tidy(() => {
        const u = tf.matMul(C, v);
        return tf.div(u, tf.norm(u));
      });
      v.dispose();
      v = tf.keep(nv);
    }
    let p = tf.reshape(tf.matMul(M, v), [h, w]);
    if (tf.sum(p).dataSync()[0] < 0) p = tf.neg(p);
    return relu1(tf, p);
  }).dataSync() as Float32Array;
}

const up = (tf: TF, m: T, H: number, W: number) => tf.image.resizeBilinear(m as never, [H, W], false, true);

/** Score-CAM Algorithm 1: every channel upsampled, min-max normalised, as a mask; weight = class score of the masked input. */
export function referenceScoreCam(s: RefSetup, layer: string): Float32Array {
  const { tf, chain } = s;
  const [, H, W] = s.x.shape;
  return tf.tidy(() => {
    const A = chain.run(s.x, { to: chain.index(layer) });
    const k = A.shape[3]!;
    const weights: number[] = [];
    for (let c = 0; c < k; c++) {
      weights.push(
        tf.tidy(() => {
          const m = up(tf, tf.slice(A, [0, 0, 0, c], [1, -1, -1, 1]), H, W);
          const lo = tf.min(m).dataSync()[0];
          const hi = tf.max(m).dataSync()[0];
          if (hi === lo) return 0; // a constant channel: no mask
          const masked = tf.mul(s.x, tf.div(tf.sub(m, lo), hi - lo));
          return classScore(tf, chain.run(masked, { logit: s.logit }), s.classIndex, s.logit).dataSync()[0];
        }),
      );
    }
    return relu1(tf, tf.sum(tf.mul(A, tf.tensor(weights)), 3));
  }).dataSync() as Float32Array;
}

/** Ablation-CAM eq. 3: w_k = (y - y_k) / y with channel k of A zeroed, run through the rest of the chain. */
export function referenceAblationCam(s: RefSetup, layer: string): Float32Array {
  const { tf, chain } = s;
  const i = chain.index(layer);
  return tf.tidy(() => {
    const A = chain.run(s.x, { to: i });
    const k = A.shape[3]!;
    const score = (a: T) => classScore(tf, chain.run(a, { from: i + 1, logit: s.logit }), s.classIndex, s.logit).dataSync()[0];
    const y = score(A);
    const w: number[] = [];
    for (let c = 0; c < k; c++) {
      const keep = new Float32Array(k).fill(1);
      keep[c] = 0;
      w.push(tf.tidy(() => (y - score(tf.mul(A, tf.tensor(keep, [1, 1, 1, k])))) / y));
    }
    return relu1(tf, tf.sum(tf.mul(A, tf.tensor(w)), 3));
  }).dataSync() as Float32Array;
}

/** d score / d x by tf.grad, for a batch of images (each image's own gradient). */
export function inputGrad(s: RefSetup, x: T, guided = false): T {
  const { tf, chain } = s;
  return tf.grad((inp: T) => tf.sum(classScore(tf, chain.run(inp, { logit: s.logit, guided }), s.classIndex, s.logit)))(x);
}

export function referenceSaliency(s: RefSetup, guided = false): Float32Array {
  const { tf } = s;
  return tf.tidy(() => relu1(tf, tf.max(tf.abs(inputGrad(s, s.x, guided)), 3))).dataSync() as Float32Array;
}

export function referenceGradXInput(s: RefSetup): Float32Array {
  const { tf } = s;
  return tf.tidy(() => absMax(tf, tf.sum(tf.mul(s.x, inputGrad(s, s.x)), 3))).dataSync() as Float32Array;
}

/** SmoothGrad with the same noise stream as convscope's (mulberry32 Box-Muller normals, seed, image after image). */
export function referenceSmoothGrad(s: RefSetup, n: number, level: number, seed: number): Float32Array {
  const { tf } = s;
  const [, H, W, C] = s.x.shape;
  return tf.tidy(() => {
    const range = tf.sub(tf.max(s.x), tf.min(s.x)).dataSync()[0];
    const rng = new Random(seed);
    const noise = Float32Array.from({ length: n * H * W * C }, () => level * range * rng.normal());
    const g = inputGrad(s, tf.add(s.x, tf.tensor(noise, [n, H, W, C])));
    return relu1(tf, tf.max(tf.abs(tf.mean(g, 0, true)), 3));
  }).dataSync() as Float32Array;
}

/** Integrated Gradients eq. 3 (right Riemann sum, k = 1..m) from a given baseline; the map is IG summed over channels. */
export function referenceIG(s: RefSetup, baseline: T, m: number): { map: Float32Array; sum: number } {
  const { tf } = s;
  const r = tf.tidy(() => {
    const diff = tf.sub(s.x, baseline);
    const alphas = tf.reshape(tf.div(tf.range(1, m + 1), m), [m, 1, 1, 1]);
    const g = inputGrad(s, tf.add(baseline, tf.mul(alphas, diff)));
    const ig = tf.mul(diff, tf.mean(g, 0, true));
    return { map: absMax(tf, tf.sum(ig, 3)), sum: tf.sum(ig) };
  });
  const out = { map: r.map.dataSync() as Float32Array, sum: r.sum.dataSync()[0] };
  tf.dispose([r.map, r.sum]);
  return out;
}

/** Guided Grad-CAM: guided backprop (max over channels of |g|) times the Grad-CAM map upsampled (bilinear, half-pixel centres). */
export function referenceGuidedGradCam(s: RefSetup, layer: string): Float32Array {
  const { tf } = s;
  const [, H, W] = s.x.shape;
  const cam = referenceGradientCams(s, layer).gradcam;
  const { A } = camInputs(s, layer);
  const [, h, w] = A.shape;
  A.dispose();
  return tf.tidy(() => {
    const g = tf.max(tf.abs(inputGrad(s, s.x, true)), 3);
    const c = tf.reshape(up(tf, tf.tensor(cam, [1, h, w, 1]), H, W), [1, H, W]);
    return relu1(tf, tf.mul(g, c));
  }).dataSync() as Float32Array;
}

/** The chain's output vs tfjs-layers' own model from the same config and weights: largest |difference|. */
export async function predictCheck(tf: TF, chain: Chain, config: Json, weights: (layer: string, role: string) => { shape: number[]; values: Float32Array }, x: T): Promise<number> {
  const m = await tfl.models.modelFromJSON({ modelTopology: config } as unknown as Parameters<typeof tfl.models.modelFromJSON>[0]);
  for (const layer of m.layers) {
    if (layer.weights.length === 0) continue;
    const arrays = layer.weights.map((w) => {
      const a = weights(layer.name, w.originalName.split('/').pop()!);
      return tf.tensor(a.values, a.shape);
    });
    layer.setWeights(arrays);
    tf.dispose(arrays);
  }
  const d = tf.tidy(() => tf.max(tf.abs(tf.sub(m.predict(x) as T, chain.run(x)))).dataSync()[0]);
  m.dispose();
  return d;
}

/** Largest |a - b|. */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

// ---- the two networks of the tests, built once per file ----


export interface Net {
  name: string;
  /** convscope's model and the weights it was built from (Ablation-CAM needs them). */
  ours: Model;
  weights: Map<string, WeightArray[]>;
  chain: Chain;
  config: Json;
  weightOf: (layer: string, role: string) => { shape: number[]; values: Float32Array };
  /** The photo, Keras load_img at the input size, rescaled to [0, 1]: values and shape. */
  input: { values: Float32Array; shape: number[] };
  defaultLayer: string;
}

async function photo(path: string, size: number): Promise<{ values: Float32Array; shape: number[] }> {
  const img = kerasLoadImg(await readImageFile(path), [size, size]);
  return { values: rescale(img.data), shape: [1, size, size, 3] };
}

/** The real cats-vs-dogs file (50x50, sigmoid): ours through readModelFile, TF.js's weights read with h5wasm directly. */
export async function catsDogsNet(tf: TF, image = 'chelsea_cat.png'): Promise<Net> {
  const file = kerasFixture('cats_and_dogs_small_1.h5');
  const direct = await readKerasFileDirectly(file);
  const weightOf = (layer: string, role: string) => direct.weights.get(layer)!.get(role)!;
  const loaded = await readModelFile(file);
  return {
    name: 'cats-vs-dogs',
    ours: Model.fromLoaded(loaded),
    weights: loaded.weights,
    chain: new Chain(tf, direct.config as Json, weightOf),
    config: direct.config as Json,
    weightOf,
    input: await photo(`${repoRoot}/assets/${image}`, 50),
    defaultLayer: 'conv2d_6',
  };
}

/**
 * A VGG-shaped net: keras.applications.VGG16's config with every width divided by 16
 * (convs 4..32 channels, fc 256), 64x64 input, 10 classes, seeded weights: kernels
 * He-normal (std sqrt(2 / fan_in)) so activations keep their scale through 13 ReLU
 * convolutions, biases N(0, 0.01^2), the predictions kernel std 0.5 / sqrt(fan_in) so
 * the softmax is not saturated. The elephant photo, rescaled to [0, 1].
 */
export async function smallVggNet(tf: TF): Promise<Net> {
  const config = vgg16KerasConfig({ includeTop: true, widthDivisor: 16, inputShape: [64, 64, 3], classes: 10 }) as Json;
  const spec = parseModelConfig(config);
  const rng = new Random(20260601);
  const weights = new Map<string, WeightArray[]>();
  // shapes from TF.js's own build of the config
  const probe = await tfl.models.modelFromJSON({ modelTopology: config } as unknown as Parameters<typeof tfl.models.modelFromJSON>[0]);
  for (const layer of probe.layers) {
    if (layer.weights.length === 0) continue;
    weights.set(
      layer.name,
      layer.weights.map((w) => {
        const role = w.originalName.split('/').pop()!;
        const shape = w.shape as number[];
        const n = shape.reduce((a, b) => a * b, 1);
        const fanIn = shape.slice(0, -1).reduce((a, b) => a * b, 1);
        const std = role === 'bias' ? 0.01 : layer.name === 'predictions' ? 0.5 / Math.sqrt(fanIn) : Math.sqrt(2 / fanIn);
        return { name: `${layer.name}/${role}:0`, shape, values: Float32Array.from({ length: n }, () => rng.normal() * std), role: role as WeightArray['role'] };
      }),
    );
  }
  probe.dispose();
  const weightOf = (layer: string, role: string) => weights.get(layer)!.find((w) => w.role === role)!;
  return {
    name: 'small VGG16',
    ours: new Model(spec, weights),
    weights,
    chain: new Chain(tf, config, weightOf),
    config,
    weightOf,
    input: await photo(`${repoRoot}/assets/creative_commons_elephant.jpg`, 64),
    defaultLayer: 'block5_conv3',
  };
}

export const csInput = (n: Net) => cs.tensor(n.input.values, n.input.shape);
