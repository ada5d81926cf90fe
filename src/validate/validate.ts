/**
 * `convscope validate`: one model's numbers against TensorFlow.js, layer by layer and
 * gradient by gradient, on the same weights and the same input.
 *
 * TF.js side: tfjs-layers builds the model from the Keras config the file stores
 * (read by keras_config.ts, not through convscope's parser) with the weights convscope
 * read (tfjs_keras.ts), on the chosen TF.js backend. Ours: the Model on the current
 * convscope backend. Rows:
 * - every layer's output (nested models' inner layers included);
 * - the input gradient of the top class score; the gradient with respect to the
 *   Grad-CAM layer's output; the Grad-CAM map (ours: the product's gradCam(); TF.js's:
 *   the same formula from its layer output and gradient);
 * - the first N steps of a filter-pattern ascent (ours: the product's filterPatterns();
 *   TF.js's: the same loop with tf.grad): the loss at every step, and the final image's
 *   identical-pixel fraction after uint8 deprocessing.
 *
 * Measure: max |ours - tf| / max(max |tf|, floor) over a whole layer's output (or
 * gradient). Float32 rounding is a few ulps of the sums' terms, which are of the size
 * of the layer's largest values; an element-wise ratio would blow up where values
 * cancel to ~0. A wrong tap, channel, padding or activation gives ~1e-1.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as cs from '../index.ts';
import { Model, PRE_ACTIVATION } from '../models/model.ts';
import type { ReadModel } from '../models/load_model.ts';
import { Random } from '../engine/random.ts';
import { gradCam } from '../viz/gradcam.ts';
import { filterPatterns, initialImages } from '../viz/filters.ts';
import { deprocessImage } from '../viz/grid.ts';
import { inputLayerPaths, kinkFlips, poolWindows, setFastConvolutionGradients, tfjsKerasModel, type Nudges, type HostTensor, type TfjsKerasModel } from './tfjs_keras.ts';
import { referenceVersions, useReference, weightGradientStubs, type ReferenceName } from './reference.ts';
import type { StoredConfig } from './keras_config.ts';

export type RowKind = 'layer' | 'input-gradient' | 'gradcam-gradient' | 'gradcam-map' | 'ascent-loss' | 'ascent-image';
export type RowStatus = 'pass' | 'fail' | 'unsupported';

export interface ValidationRow {
  kind: RowKind;
  name: string;
  className?: string;
  shape?: number[];
  maxAbs?: number;
  maxRel?: number;
  /** The denominator's floor of maxRel. */
  floor?: number;
  /** ascent-image: the fraction of identical uint8 values. */
  identical?: number;
  /** Which figure the tolerance bounds: maxRel, maxAbs or identical (a lower bound). */
  measure: 'rel' | 'abs' | 'identical';
  tolerance: number;
  status: RowStatus;
  note?: string;
}

/** The tolerances (issue 12) with their reasons. */
export const TOLERANCES = {
  activation: { tol: 1e-4, floor: 1e-6, why: 'float32: the same sums in another order differ by a few ulps of the layer\'s scale; a wrong weight, tap, channel or activation gives 1e-2 or more' },
  gradient: { tol: 1e-3, floor: 1e-6, why: 'float32 backward pass: rounding of the forward pass grows through every layer it goes back through' },
  gradcam: { tol: 1e-4, why: 'the map normalised to [0, 1]: absolute' },
  ascentLoss: { tol: 1e-3, floor: 1e-6, why: 'the ascent feeds each step its own rounding: a gradient tolerance' },
  ascentImage: { tol: 0.99, why: 'deprocessed to uint8: a value at a rounding boundary may land one grey level apart' },
} as const;

export interface ValidateOptions {
  reference?: ReferenceName;
  /** Only these layers' rows (the gradients and the ascent still run on the whole model). */
  layers?: string[];
  /** Filter-pattern ascent steps (0: no ascent rows). */
  steps?: number;
  /** The input, NHWC batch 1, as the model takes it (default: seeded uniform [0, 1)). */
  input?: Float32Array;
  /** The input's shape without the batch (NHWC; default: the model's, 64 where it is open). */
  inputShape?: number[];
  seed?: number;
  /** Grad-CAM layer (default: the last spatial layer). */
  gradcamLayer?: string;
  /**
   * Ascent layer and filter (default: the last convolution, filter 0; 'live': its first
   * filter whose output is not zero everywhere on the ascent's start image, since a
   * dead ReLU filter's loss is 0 at every step and compares nothing), and size
   * (default: the input size, else 64).
   */
  ascentLayer?: string;
  filter?: number | 'live';
  size?: number;
  /**
   * The class score of the gradient rows and the Grad-CAM map: 'prob' (default, as
   * `convscope gradcam` scores): the top class's probability; 'logit': the value
   * entering the output's softmax / sigmoid. On generated weights the output saturates
   * (ResNet50's top probability 1 - 1e-6), and the gradient of a probability that close
   * to 1 is a difference of nearly equal terms: float32 rounding alone then makes the
   * engines differ by 1e-2 of max |g| (measured 1.2e-1 on ResNet50 at 32x32), while
   * the logit's gradient agrees to 1e-6.
   */
  score?: 'prob' | 'logit';
  /** The weights TF.js gets (default: the same arrays as convscope's, as read from the file). */
  referenceWeights?: Map<string, import('../models/keras/spec.ts').WeightArray[]>;
  /**
   * Told as the work goes: `done` of `total` units and what runs now (building TF.js's
   * model, each engine's pass over every layer with the gradients, Grad-CAM, then one
   * unit per ascent step).
   */
  onProgress?: (done: number, total: number, what: string) => void;
  /** Looked at before each of those units: once aborted, the run stops with its reason. */
  signal?: AbortSignal;
}

/** The progress callback and the abort check of one run, in {@link ValidateOptions}' units. */
type Tick = (done: number, what: string) => void;
function ticker(o: ValidateOptions, steps: number): Tick {
  const total = 4 + steps;
  return (done, what) => {
    o.signal?.throwIfAborted();
    o.onProgress?.(done, total, what);
  };
}

export interface ValidationReport {
  model: string;
  reference: ReferenceName;
  versions: Record<string, string>;
  input: string;
  rows: ValidationRow[];
  /** No row failed. */
  passed: boolean;
  /** Every row was compared (none unsupported). */
  complete: boolean;
  /** The first failing row's name (a layer first). */
  firstFailure?: string;
  /** Where the two forward passes took different branches of a kink and TF.js's input there was nudged. */
  kinks?: string;
  /** Where the gradient rows ran on tfjs-cpu instead, and why. */
  fallback?: string;
  /** TF.js layers computed by Keras-formula classes (tfjs_keras.ts). */
  substitutions: string[];
  /** Weight-gradient kernels the TF.js backend lacks, stood in for by zeros (validate takes no weight gradient). */
  stubbedKernels: string[];
}

/** max |a - b|, and that over max(max |b|, floor). */
export function errors(a: ArrayLike<number>, b: ArrayLike<number>, floor: number): { maxAbs: number; maxRel: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let d = 0;
  let s = floor;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]);
    if (!(e <= d)) d = Number.isNaN(e) ? Infinity : e;
    s = Math.max(s, Math.abs(b[i]));
  }
  return { maxAbs: d, maxRel: d / s };
}

function nchwToNhwc(v: Float32Array, [, c, h, w]: number[]): Float32Array {
  const out = new Float32Array(v.length);
  for (let k = 0; k < c; k++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[(y * w + x) * c + k] = v[(k * h + y) * w + x];
  return out;
}
function nhwcToNchw(v: Float32Array, [, h, w, c]: number[]): Float32Array {
  const out = new Float32Array(v.length);
  for (let k = 0; k < c; k++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[(k * h + y) * w + x] = v[(y * w + x) * c + k];
  return out;
}

const message = (e: unknown) => String((e as Error)?.message ?? e).split('\n')[0];
/** A TF.js error that says a kernel (or its gradient) is missing on this backend, in words; else undefined. */
function missingKernel(e: unknown, reference: string): string | undefined {
  const m = message(e);
  const k = /kernel '?(\w+)'? not registered|gradient function not found for (\w+)/i.exec(m);
  return k ? `TF.js (${reference}) lacks ${k[1] ?? k[2]}: ${m}` : undefined;
}

function compareRow(kind: RowKind, name: string, ours: Float32Array, theirs: Float32Array, shape: number[], t: { tol: number; floor: number }, className?: string): ValidationRow {
  const { maxAbs, maxRel } = errors(ours, theirs, t.floor);
  return { kind, name, className, shape, maxAbs, maxRel, floor: t.floor, measure: 'rel', tolerance: t.tol, status: maxRel <= t.tol ? 'pass' : 'fail' };
}

/** Grad-CAM's formula on host values (NHWC A and G of batch 1): relu(mean_c(A * mean_hw(G))) / max. */
function camMap(a: Float32Array, g: Float32Array, [, h, w, c]: number[]): Float32Array {
  const wts = new Float64Array(c);
  for (let i = 0; i < g.length; i++) wts[i % c] += g[i];
  for (let k = 0; k < c; k++) wts[k] = Math.fround(wts[k] / (h * w));
  const map = new Float32Array(h * w);
  let max = 0;
  for (let p = 0; p < h * w; p++) {
    let s = 0;
    for (let k = 0; k < c; k++) s += a[p * c + k] * wts[k];
    map[p] = Math.max(0, s / c);
    max = Math.max(max, map[p]);
  }
  if (max > 0) for (let p = 0; p < map.length; p++) map[p] /= max;
  return map;
}

/**
 * Max-pooling windows whose maximum is tied (exactly equal values, as the zeros after a
 * ReLU): Keras (TF's MaxPoolGrad), tfjs-cpu and convscope send the gradient to the first
 * tied cell; tfjs-webgpu may not. The first tied cell of TF.js's input is raised by one
 * ulp (nudges added to `into`) so that every engine takes the same branch.
 */
function tiedMaxima(layers: readonly import('../models/keras/spec.ts').LayerSpec[], theirs: (name: string) => HostTensor | undefined, into: Nudges): { count: number; where: string[] } {
  let count = 0;
  const where: string[] = [];
  for (const l of layers) {
    if (l.className !== 'MaxPooling2D' || l.channelsFirst || l.inbound.length !== 1) continue;
    const bt = theirs(l.inbound[0]);
    if (!bt || bt.shape.length !== 4) continue;
    const b = bt.values;
    const index: number[] = [];
    const delta: number[] = [];
    const seen = new Set<number>();
    for (const { cells } of poolWindows(bt.shape, l.config.pool_size, l.config.strides, l.config.padding)) {
      let m = -Infinity;
      for (const i of cells) m = Math.max(m, b[i]);
      const tied = cells.filter((i) => b[i] === m);
      if (tied.length < 2 || seen.has(tied[0])) continue;
      seen.add(tied[0]);
      index.push(tied[0]);
      delta.push(m === 0 ? 1e-30 : Math.abs(m) * 2 ** -22);
    }
    if (index.length === 0) continue;
    const prev = into.get(l.name);
    into.set(l.name, prev ? { index: [...prev.index, ...index], delta: [...prev.delta, ...delta] } : { index, delta });
    count += index.length;
    where.push(`${l.name}: ${index.length}`);
  }
  return { count, where };
}

/**
 * Where the logits are (the value entering the output's softmax / sigmoid), behind any
 * Reshape / Flatten / Dropout: ours, a layer output or `name:pre`; TF.js's, computed
 * from its own layer outputs (a Dense's: its input times the kernel plus the bias, from
 * the weights TF.js got). A model that outputs logits already: its output.
 */
function logitSource(model: Model, out: string, prob: boolean, weights: Map<string, import('../models/keras/spec.ts').WeightArray[]>): { ours: string; theirs: (o: tf.Tensor[], layers: Map<string, tf.Tensor>) => tf.Tensor } {
  if (!prob) return { ours: out, theirs: (o) => o[0] };
  let l = model.layer(out);
  while (['Reshape', 'Flatten', 'Dropout'].includes(l.className) && l.inbound.length === 1) l = model.layer(l.inbound[0]);
  const squash = (a: unknown) => a === 'softmax' || a === 'sigmoid';
  if ((l.className === 'Activation' && squash(l.config.activation)) || l.className === 'Softmax') {
    const src = l.inbound[0];
    return { ours: src, theirs: (_o, m) => m.get(src)! };
  }
  if (l.className === 'Dense' && squash(l.config.activation) && model.hasPreActivation(l.name)) {
    const ws = weights.get(l.name) ?? [];
    const k = ws.find((w) => w.role === 'kernel');
    const b = ws.find((w) => w.role === 'bias');
    const src = l.inbound[0];
    if (k && k.shape.length === 2) {
      return {
        ours: `${l.name}${PRE_ACTIVATION}`,
        theirs: (_o, m) => {
          const z = tf.matMul(tf.reshape(m.get(src)!, [-1, k.shape[0]]), tf.tensor(k.values, k.shape));
          return b ? tf.add(z, tf.tensor(b.values, b.shape)) : z;
        },
      };
    }
  }
  throw new Error(`validate --score logit: the logits before the output '${out}' are not found (its last layer with a softmax / sigmoid is ${l.className} '${l.name}'; a Dense or an Activation is needed)`);
}

/**
 * Validates a model read by readModelFile against TF.js built from `config` (the
 * Keras config the file stores; an Error where there is none: every row then says so).
 */
export async function validateModel(read: ReadModel, config: StoredConfig | Error, o: ValidateOptions = {}): Promise<ValidationReport> {
  const reference = o.reference ?? 'tfjs-wasm';
  const model = new Model(read.spec, read.weights);
  const rows: ValidationRow[] = [];
  let tfm: TfjsKerasModel | undefined;
  let buildError: string | undefined;
  const A = TOLERANCES.activation;
  const G = TOLERANCES.gradient;
  const tick = ticker(o, Math.max(0, o.steps ?? 40));
  tick(0, 'building the model in TF.js');
  try {
    if (config instanceof Error) throw config;
    tfm = await tfjsKerasModel(config.config, o.referenceWeights ?? read.weights, { kerasVersion: config.kerasVersion, reference });
  } catch (e) {
    buildError = `TF.js cannot build this model: ${message(e)}`;
  }
  const kerasMajor = config instanceof Error ? 2 : Number(/^\d+/.exec(config.kerasVersion)?.[0] ?? 2);
  try {
    const held = o.inputShape ?? model.inputShape.map((d) => d ?? 64);
    const ourShape = [1, ...held];
    const ks = read.spec.inputShape.slice(1);
    // a channels-first input: TF.js takes (1, C, H, W)
    const kerasShape = ks.length === 3 && ks.join() !== model.inputShape.join() ? [1, held[2], held[0], held[1]] : ourShape;
    const size = ourShape.slice(1).reduce((a, b) => a * b, 1);
    let inputWhat = 'the given input';
    let x = o.input;
    if (!x) {
      const r = new Random(o.seed ?? 0);
      x = Float32Array.from({ length: size }, () => r.uniform(0, 1));
      inputWhat = `seeded uniform [0, 1) (seed ${o.seed ?? 0})`;
    }
    if (x.length !== size) throw new Error(`validate: the input has ${x.length} values; the model takes [${ourShape.join(',')}]`);
    const cf = kerasShape.join() !== ourShape.join();
    const tfIn = (v: Float32Array): HostTensor => ({ shape: kerasShape, values: cf ? nhwcToNchw(v, ourShape) : v });

    const allNames = model.layerNames.filter((n) => model.layer(n).className !== 'InputLayer');
    const wanted = o.layers ? new Set(o.layers.map((n) => model.resolve(n))) : undefined;
    const names = wanted ? allNames.filter((n) => wanted.has(n)) : allNames;
    const out = read.spec.outputs[0];
    const outShape = model.storedShape(out);
    const units = outShape[outShape.length - 1] as number;
    // a model without a class output (a no-top feature extractor) scores the mean of its output
    const classifier = outShape.length === 2;
    const prob = model.outputIsProbability(out);
    let gcLayer: string | undefined;
    // the output's ancestors: the Grad-CAM layer must be one (a model with several heads)
    const ancestors = new Set<string>();
    const visit = (n: string) => {
      if (ancestors.has(n)) return;
      ancestors.add(n);
      for (const i of model.layer(n).inbound) visit(i);
    };
    visit(out);
    try {
      gcLayer = model.resolve(o.gradcamLayer ?? model.lastSpatialLayer());
      if (o.gradcamLayer === undefined && !ancestors.has(gcLayer)) {
        gcLayer = [...model.spec.layers].reverse().find((l) => l.name !== out && ancestors.has(l.name) && l.className !== 'InputLayer' && model.storedShape(l.name).length === 4)?.name;
      }
    } catch {
      gcLayer = undefined;
    }

    const scoreKind = classifier ? (o.score ?? 'prob') : 'prob';
    // 'logit': where the value entering the output's softmax / sigmoid is, in each engine
    const logit = scoreKind === 'logit' ? logitSource(model, out, prob, o.referenceWeights ?? read.weights) : undefined;
    const scoreSrc = logit?.ours ?? out;

    // ours: every layer's output, the input gradient and the Grad-CAM layer's gradient of the score
    tick(1, 'convscope: every layer and the gradients');
    const ourValues = new Map<string, Float32Array>();
    // the shapes of this run (a model open in its input size has them only once run)
    const ourShapes = new Map<string, number[]>();
    const shapeOf = (n: string) => ourShapes.get(n) ?? model.storedShape(n).map((d) => d ?? 1);
    const xt = cs.tensor(x, ourShape);
    let top = 0;
    let ourGrad: Float32Array;
    {
      // every value is read back with data(): the webgpu backend (ours and TF.js's) has no synchronous read
      const outs = cs.tidy(() => model.run(xt, [...allNames, out]));
      try {
        const got = await Promise.all(outs.map(async (t) => Float32Array.from(await t.data())));
        allNames.forEach((n, i) => {
          ourValues.set(n, got[i]);
          ourShapes.set(n, [...outs[i].shape]);
        });
        const p = got[got.length - 1];
        if (classifier) top = units === 1 ? (p[0] > (prob ? 0.5 : 0) ? 1 : 0) : p.indexOf(Math.max(...p));
      } finally {
        // a layer that passes its input through (an identity at inference) returns the input tensor itself: that one stays
        cs.dispose(outs.filter((t) => t !== xt));
      }
      // the top class known, the score's gradient in a second pass
      const { value, grads } = cs.gradientsOf(() => ({ value: ourScore(model.run(xt, [scoreSrc])[0]), wrt: [xt] }));
      ourGrad = Float32Array.from(await grads[0].data());
      cs.dispose([value, ...grads]);
    }
    /** The score Grad-CAM uses: 'prob', the probability of the top class (softmax / sigmoid of logits); 'logit', its logit (class 0 of a sigmoid: -z). */
    function ourScore(y: cs.Tensor): cs.Tensor {
      if (!classifier) return cs.mean(y);
      if (logit) {
        const z = cs.reshape(cs.slice(cs.reshape(y, [1, -1]), [0, units === 1 ? 0 : top], [1, 1]), []);
        return units === 1 && top === 0 ? cs.neg(z) : z;
      }
      const q = prob ? y : units === 1 ? cs.sigmoid(y) : cs.softmax(y);
      const s = cs.reshape(cs.slice(q, [0, units === 1 ? 0 : top], [1, 1]), []);
      return units === 1 && top === 0 ? cs.sub(1, s) : s;
    }
    const tfScore = (o2: tf.Tensor[], layers: Map<string, tf.Tensor>): tf.Scalar => {
      const y = o2[0];
      if (!classifier) return tf.mean(y) as tf.Scalar;
      if (logit) {
        const z = tf.reshape(tf.slice(tf.reshape(logit.theirs(o2, layers), [1, -1]), [0, units === 1 ? 0 : top], [1, 1]), []);
        return (units === 1 && top === 0 ? tf.neg(z) : z) as tf.Scalar;
      }
      const q = prob ? y : units === 1 ? tf.sigmoid(y) : tf.softmax(y);
      const s = tf.reshape(tf.slice(q, [0, units === 1 ? 0 : top], [1, 1]), []);
      return (units === 1 && top === 0 ? tf.sub(1, s) : s) as tf.Scalar;
    };
    let ourG: Float32Array | undefined;
    if (gcLayer) {
      const layer = gcLayer;
      const { value, grads } = cs.gradientsOf(
        (watch) => {
          const [a, y] = model.run(xt, [layer, scoreSrc], { watch: { [layer]: watch } });
          return { value: ourScore(y), wrt: [a] };
        },
        { onlyWatched: true },
      );
      ourG = Float32Array.from(await grads[0].data());
      cs.dispose([value, ...grads]);
    }

    // TF.js: the same, in one pass (and again with the kink inputs nudged)
    tick(2, 'TF.js: every layer and the gradients');
    let run: { outputs: Map<string, HostTensor>; gradient?: HostTensor; layerGradient?: HostTensor } | undefined;
    let gradError: string | undefined;
    let kinks: string | undefined;
    let fallback: string | undefined;
    if (tfm) {
      const t = tfm;
      const go = (nudges?: Nudges): Promise<{ outputs: Map<string, HostTensor>; gradient: HostTensor; layerGradient?: HostTensor }> =>
        gcLayer ? t.outputsAndGradientsAsync(tfIn(x!), tfScore, gcLayer, nudges) : t.outputsAndGradientAsync(tfIn(x!), tfScore, nudges);
      try {
        try {
          run = await go();
        } catch (e) {
          // a gradient kernel tfjs-wasm lacks (DepthwiseConv2dNativeBackpropInput): the
          // gradient rows and the ascent on tfjs-cpu (the same model; tfjs moves its weights)
          const lacks = missingKernel(e, reference);
          if (!lacks || reference !== 'tfjs-wasm') throw e;
          await useReference('tfjs-cpu');
          setFastConvolutionGradients(true);
          fallback = `${lacks.split(':')[0]}: the gradient rows and the ascent ran on tfjs-cpu`;
          run = await go();
        }
        const r0 = run;
        const oursIn = (n: string) => {
          const v = ourValues.get(n);
          const th = r0.outputs.get(n);
          if (!v || !th) return undefined;
          const held = shapeOf(n);
          return held.join() === th.shape.join() ? v : nhwcToNchw(v, held);
        };
        const flips = kinkFlips(read.spec.layers, oursIn, (n) => r0.outputs.get(n), kerasMajor);
        // tfjs-cpu and tfjs-wasm (its MaxPoolGrad replaced, reference.ts) take TF's first tied maximum already
        const ties = reference === 'tfjs-webgpu' ? tiedMaxima(read.spec.layers, (n) => r0.outputs.get(n), flips.nudges) : { count: 0, where: [] };
        const notes: string[] = [];
        if (flips.count > 0) notes.push(`${flips.count} kink input(s) of TF.js nudged by the rounding difference (largest ${flips.largest.toExponential(1)} of its layer's scale): ${flips.where.join(', ')}`);
        if (ties.count > 0) notes.push(`${ties.count} max-pooling window(s) with tied maxima: TF.js's first tied cell raised by one ulp (TF, tfjs-cpu and convscope route the gradient to the first): ${ties.where.join(', ')}`);
        if (flips.count > 0 || ties.count > 0) {
          run = await go(flips.nudges);
          kinks = notes.join('; ');
        }
      } catch (e) {
        gradError = missingKernel(e, reference) ?? `TF.js gradient failed: ${message(e)}`;
        try {
          run = { outputs: await t.outputsAsync(tfIn(x)) };
        } catch (e2) {
          buildError = `TF.js cannot run this model: ${message(e2)}`;
          run = undefined;
        }
      }
    }
    const theirsOurLayout = (n: string): Float32Array | undefined => {
      const th = run?.outputs.get(n);
      if (!th) return undefined;
      const held = shapeOf(n);
      return held.join() === th.shape.join() ? th.values : nchwToNhwc(th.values, th.shape);
    };

    // layer rows
    for (const n of names) {
      const cls = model.layer(n).className;
      const ours = ourValues.get(n)!;
      const shape = shapeOf(n);
      const theirs = theirsOurLayout(n);
      if (!run) rows.push({ kind: 'layer', name: n, className: cls, shape, measure: 'rel', tolerance: A.tol, floor: A.floor, status: 'unsupported', note: buildError });
      else if (!theirs) rows.push({ kind: 'layer', name: n, className: cls, shape, measure: 'rel', tolerance: A.tol, floor: A.floor, status: 'unsupported', note: 'only convscope has this layer (TF.js has no output of that name)' });
      else if (theirs.length !== ours.length) rows.push({ kind: 'layer', name: n, className: cls, shape, measure: 'rel', tolerance: A.tol, floor: A.floor, status: 'fail', note: `TF.js's output has ${theirs.length} values, ours ${ours.length}` });
      else rows.push(compareRow('layer', n, ours, theirs, shape, A, cls));
    }
    if (run && !wanted && tfm) {
      const inputs = inputLayerPaths(tfm.model);
      for (const n of run.outputs.keys()) {
        // a nested model's own output (its inner layers have rows) and InputLayers are not layers of ours
        const container = [...run.outputs.keys()].some((k) => k.startsWith(`${n}/`));
        if (!ourValues.has(n) && !model.layerNames.includes(n) && !inputs.has(n) && !container) {
          rows.push({ kind: 'layer', name: n, shape: run.outputs.get(n)!.shape, measure: 'rel', tolerance: A.tol, status: 'unsupported', note: 'only TF.js has this layer' });
        }
      }
    }

    // gradients and Grad-CAM
    tick(3, 'Grad-CAM');
    const why = buildError ?? gradError;
    const scoreOf = classifier ? `${logit ? 'logit' : 'p'}(class ${top})` : 'mean(output)';
    const scoreName = `d ${scoreOf} / d input`;
    if (run?.gradient) rows.push({ ...compareRow('input-gradient', scoreName, ourGrad, cf ? nchwToNhwc(run.gradient.values, kerasShape) : run.gradient.values, ourShape, G), note: kinks ? 'TF.js nudged at kinks / tied maxima (see kinks)' : undefined });
    else rows.push({ kind: 'input-gradient', name: scoreName, shape: ourShape, measure: 'rel', tolerance: G.tol, floor: G.floor, status: 'unsupported', note: why });
    if (gcLayer && ourG) {
      const gShape = shapeOf(gcLayer);
      const gName = `d ${scoreOf} / d ${gcLayer}`;
      const lg = run?.layerGradient;
      const theirG = lg ? (gShape.join() === lg.shape.join() ? lg.values : nchwToNhwc(lg.values, lg.shape)) : undefined;
      if (theirG) rows.push({ ...compareRow('gradcam-gradient', gName, ourG, theirG, gShape, G), note: kinks ? 'TF.js nudged at kinks / tied maxima (see kinks)' : undefined });
      else rows.push({ kind: 'gradcam-gradient', name: gName, shape: gShape, measure: 'rel', tolerance: G.tol, floor: G.floor, status: 'unsupported', note: why });
      const mName = `Grad-CAM map at ${gcLayer}, class ${top}`;
      // no class output (a no-top feature extractor): no Grad-CAM map, its layer's gradient is of the output's mean
      if (classifier) {
        // ours: the product's gradCam(); where it has no logit score (a separate softmax
        // Activation before a Reshape), Grad-CAM's formula on our own A and G, said in the row
        let ourMap: { data: Float32Array; height: number; width: number } | undefined;
        let mapNote: string | undefined;
        try {
          const gc = await gradCam(model, xt, { layer: gcLayer, classIndex: top, score: scoreKind });
          ourMap = gc.heatmap;
        } catch (e) {
          const ourA = ourValues.get(gcLayer);
          if (!logit || !ourA || gShape.length !== 4) throw e;
          ourMap = { data: camMap(ourA, ourG, gShape), height: gShape[1], width: gShape[2] };
          mapNote = `ours: Grad-CAM's formula on convscope's layer output and gradient (gradCam(): ${message(e)})`;
        }
        const theirA = theirsOurLayout(gcLayer);
        if (theirG && theirA && gShape.length === 4) {
          const theirMap = camMap(theirA, theirG, gShape);
          const { maxAbs, maxRel } = errors(ourMap.data, theirMap, 1);
          rows.push({ kind: 'gradcam-map', name: mName, shape: [ourMap.height, ourMap.width], maxAbs, maxRel, measure: 'abs', tolerance: TOLERANCES.gradcam.tol, status: maxAbs <= TOLERANCES.gradcam.tol ? 'pass' : 'fail', note: mapNote });
        } else rows.push({ kind: 'gradcam-map', name: mName, shape: [ourMap.height, ourMap.width], measure: 'abs', tolerance: TOLERANCES.gradcam.tol, status: 'unsupported', note: why });
      }
    }
    xt.dispose();

    // the filter-pattern ascent
    const steps = o.steps ?? 40;
    let ascentLayer: string | undefined;
    try {
      ascentLayer = steps > 0 ? model.resolve(o.ascentLayer ?? model.lastConvLayer()) : undefined;
    } catch {
      ascentLayer = undefined;
    }
    if (ascentLayer) {
      const size = o.size ?? held[0];
      try {
        rows.push(...(await ascentRows(model, tfm && run ? tfm : undefined, ascentLayer, o.filter ?? 0, steps, size, o.seed ?? 0, cf, why, reference, kerasMajor, tick)));
      } catch (e) {
        if (o.signal?.aborted) throw e;
        // convscope's own ascent failed (an input size the model does not take): those rows say so, the others stand
        const name = `${ascentLayer} filter ${o.filter ?? 0}, ${size}x${size}, ${steps} steps`;
        const note = `convscope's ascent failed: ${message(e)}`;
        rows.push(
          { kind: 'ascent-loss', name, measure: 'rel', tolerance: TOLERANCES.ascentLoss.tol, floor: TOLERANCES.ascentLoss.floor, status: 'unsupported', note },
          { kind: 'ascent-image', name, measure: 'identical', tolerance: TOLERANCES.ascentImage.tol, status: 'unsupported', note },
        );
      }
    }

    const fail = rows.find((r) => r.status === 'fail');
    const failLayer = rows.find((r) => r.status === 'fail' && r.kind === 'layer');
    return {
      model: model.name,
      reference,
      versions: referenceVersions(),
      input: inputWhat,
      rows,
      passed: !fail,
      complete: !rows.some((r) => r.status === 'unsupported'),
      firstFailure: (failLayer ?? fail)?.name,
      kinks,
      fallback,
      substitutions: tfm ? [...tfm.substitutions].map(([k, v]) => `${k}: ${v}`) : [],
      stubbedKernels: weightGradientStubs(),
    };
  } finally {
    model.dispose();
    tfm?.dispose();
  }
}

async function ascentRows(
  model: Model,
  tfm: TfjsKerasModel | undefined,
  layer: string,
  filterOpt: number | 'live',
  steps: number,
  size: number,
  seed: number,
  channelsFirst: boolean,
  why: string | undefined,
  reference: string,
  kerasMajor: number,
  tick: Tick,
): Promise<ValidationRow[]> {
  const inC = model.inputShape[2] ?? 3;
  const filter = filterOpt === 'live' ? await firstLiveFilter(model, layer, size, seed) : filterOpt;
  const name = `${layer} filter ${filter}, ${size}x${size}, ${steps} steps`;
  const L = TOLERANCES.ascentLoss;
  const unsupported = (note: string | undefined): ValidationRow[] => [
    { kind: 'ascent-loss', name, measure: 'rel', tolerance: L.tol, floor: L.floor, status: 'unsupported', note },
    { kind: 'ascent-image', name, measure: 'identical', tolerance: TOLERANCES.ascentImage.tol, status: 'unsupported', note },
  ];
  // the product's ascent, as `convscope filters` runs it
  const [pattern] = await filterPatterns(model, layer, [filter], { size, steps, seed });
  if (!tfm) return unsupported(why);
  const ourShape = [1, size, size, inC];
  const kerasShape = channelsFirst ? [1, inC, size, size] : ourShape;
  const names = model.layerNames.filter((n) => model.layer(n).className !== 'InputLayer');
  const held = model.storedShape(layer);
  const channels = held[3] as number;
  const mask = cs.keep(cs.tensor(Float32Array.from({ length: channels }, (_, i) => (i === filter ? 1 : 0)), [1, 1, 1, channels]));
  // ours again, step by step with the same ops (SPEC.md section 2), keeping every layer's
  // output: where TF.js's pass takes another branch of a kink, its input there is
  // nudged to ours (see kinkFlips), as for the gradient rows
  let x = cs.keep(cs.tensor(initialImages(1, size, 'noise', seed, inC), ourShape));
  let xv = initialImages(1, size, 'noise', seed, inC);
  const ourLosses: number[] = [];
  const losses: number[] = [];
  let nudged = 0;
  let largest = 0;
  const lossOf = (t: tf.Tensor): tf.Scalar => (t.shape[3] !== held[3] ? tf.mean(tf.slice(t, [0, filter, 0, 0], [1, 1, -1, -1])) : tf.mean(tf.slice(t, [0, 0, 0, filter], [1, -1, -1, 1]))) as tf.Scalar;
  try {
    for (let s = 0; s <= steps; s++) {
      if (s > 0) tick(3 + s, `filter-pattern ascent, step ${s} of ${steps}`);
      const input = x;
      const values = new Map<string, Float32Array>();
      const shapes = new Map<string, number[]>();
      let kept: cs.Tensor[] = [];
      const { value, grads } = cs.gradientsOf(() => {
        const outs = model.run(input, [...names, layer]);
        // kept past the pass and read back with data() (the webgpu backend reads only asynchronously)
        kept = names.map((_, i) => cs.keep(outs[i]));
        const out = outs[outs.length - 1];
        const [, h, w] = out.shape;
        return { value: cs.div(cs.sum(cs.mul(out, mask), [1, 2, 3]), h * w), wrt: [input] };
      });
      try {
        const got = await Promise.all(kept.map(async (t) => Float32Array.from(await t.data())));
        names.forEach((n, i) => {
          values.set(n, got[i]);
          shapes.set(n, [...kept[i].shape]);
        });
      } finally {
        cs.dispose(kept.filter((t) => t !== input));
      }
      ourLosses.push((await value.data())[0]);
      value.dispose();
      const tfIn = { shape: kerasShape, values: channelsFirst ? nhwcToNchw(xv, ourShape) : xv };
      const score = (_o: tf.Tensor[], layers: Map<string, tf.Tensor>) => lossOf(layers.get(layer)!);
      let r = await tfm.outputsAndGradientAsync(tfIn, score);
      const r0 = r;
      const oursIn = (n: string) => {
        const v = values.get(n);
        const th = r0.outputs.get(n);
        if (!v || !th) return undefined;
        const hs = shapes.get(n)!;
        return hs.join() === th.shape.join() ? v : nhwcToNchw(v, hs);
      };
      const flips = kinkFlips(model.spec.layers, oursIn, (n) => r0.outputs.get(n), kerasMajor);
      if (flips.count > 0) {
        r = await tfm.outputsAndGradientAsync(tfIn, score, flips.nudges);
        nudged += flips.count;
        largest = Math.max(largest, flips.largest);
      }
      losses.push(r.value);
      if (s === steps) {
        grads[0].dispose();
        break;
      }
      const next = cs.tidy(() => {
        const g = grads[0];
        const rms = cs.sqrt(cs.mean(cs.square(g), [1, 2, 3], true));
        return cs.add(input, cs.mul(cs.div(g, cs.add(rms, 1e-5)), 1));
      });
      grads[0].dispose();
      x.dispose();
      x = cs.keep(next);
      const g = channelsFirst ? nchwToNhwc(r.gradient.values, kerasShape) : r.gradient.values;
      const nextTf = tf.tidy(() => {
        const gt = tf.tensor(g, ourShape);
        const rms = tf.sqrt(tf.mean(tf.square(gt), [1, 2, 3], true));
        return tf.add(tf.tensor(xv, ourShape), tf.mul(tf.div(gt, tf.add(rms, 1e-5)), 1));
      });
      try {
        xv = Float32Array.from((await nextTf.data()) as Float32Array);
      } finally {
        nextTf.dispose();
      }
    }
  } catch (e) {
    return unsupported(missingKernel(e, reference) ?? `TF.js ascent failed: ${message(e)}`);
  } finally {
    mask.dispose();
  }
  const ourX = Float32Array.from(await x.data());
  x.dispose();
  // the step-by-step run is the product's filterPatterns() value for value
  const same = errors(ourX, pattern.input, 0).maxAbs === 0 && errors(ourLosses, pattern.losses, 0).maxAbs === 0;
  const { maxAbs, maxRel } = errors(pattern.losses, losses, L.floor);
  const theirImage = deprocessImage(xv);
  const ourImage = deprocessImage(pattern.input);
  let equal = 0;
  for (let i = 0; i < ourImage.length; i++) if (ourImage[i] === theirImage[i]) equal++;
  const identical = equal / ourImage.length;
  const kinkNote = nudged ? `; ${nudged} kink input(s) of TF.js nudged over the steps (largest ${largest.toExponential(1)} of its layer's scale)` : '';
  const sameNote = same ? '' : "; NOTE: the step-by-step run differs from filterPatterns()'s";
  return [
    {
      kind: 'ascent-loss',
      name,
      shape: [steps + 1],
      maxAbs,
      maxRel,
      floor: L.floor,
      measure: 'rel',
      tolerance: L.tol,
      status: maxRel <= L.tol && same ? 'pass' : 'fail',
      note: `loss per step, ours: ${pattern.losses.map((v) => v.toPrecision(6)).join(' ')}; TF.js: ${losses.map((v) => v.toPrecision(6)).join(' ')}${kinkNote}${sameNote}`,
    },
    { kind: 'ascent-image', name, shape: [size, size, inC], identical, measure: 'identical', tolerance: TOLERANCES.ascentImage.tol, status: identical >= TOLERANCES.ascentImage.tol ? 'pass' : 'fail' },
  ];
}

/**
 * The first filter of `layer` whose output is not zero everywhere on the ascent's start
 * image (filterPatterns' seeded noise at size x size); 0 when every one is.
 */
export async function firstLiveFilter(model: Model, layer: string, size: number, seed = 0): Promise<number> {
  const inC = model.inputShape[2] ?? 3;
  const x = cs.tensor(initialImages(1, size, 'noise', seed, inC), [1, size, size, inC]);
  try {
    const [y] = cs.tidy(() => model.run(x, [layer]));
    const c = y.shape[y.shape.length - 1];
    const v = await y.data();
    y.dispose();
    const live = new Uint8Array(c);
    for (let i = 0; i < v.length; i++) if (v[i] !== 0) live[i % c] = 1;
    const k = live.indexOf(1);
    return k < 0 ? 0 : k;
  } finally {
    x.dispose();
  }
}

/** The report as text: one row per line. */
export function formatReport(r: ValidationReport): string[] {
  const e = (v: number | undefined) => (v === undefined ? '-' : v.toExponential(2));
  const lines = [
    `${r.model} against TensorFlow.js (${r.reference}, tfjs-core ${r.versions['tfjs-core']}${r.versions.adapter ? `, adapter ${r.versions.adapter}` : ''}), input: ${r.input}`,
    `tolerances: activations rel ${TOLERANCES.activation.tol} (floor ${TOLERANCES.activation.floor}; ${TOLERANCES.activation.why}); gradients rel ${TOLERANCES.gradient.tol}; Grad-CAM map abs ${TOLERANCES.gradcam.tol} after normalisation; ascent image >= ${TOLERANCES.ascentImage.tol * 100}% identical uint8 values`,
    `${'status'.padEnd(11)} ${'kind'.padEnd(16)} ${'name'.padEnd(44)} ${'shape'.padEnd(16)} ${'max abs'.padStart(9)} ${'max rel'.padStart(9)}  tolerance`,
  ];
  for (const row of r.rows) {
    const tol = row.measure === 'identical' ? `identical ${row.identical === undefined ? '-' : (row.identical * 100).toFixed(2) + '%'} >= ${row.tolerance * 100}%` : `${row.measure} <= ${row.tolerance}`;
    lines.push(
      `${row.status.toUpperCase().padEnd(11)} ${row.kind.padEnd(16)} ${`${row.name}${row.className ? ` (${row.className})` : ''}`.padEnd(44)} ${`[${row.shape?.join(',') ?? ''}]`.padEnd(16)} ${e(row.maxAbs).padStart(9)} ${e(row.maxRel).padStart(9)}  ${tol}${row.note ? `  ${row.note}` : ''}`,
    );
  }
  if (r.kinks) lines.push(`kinks: ${r.kinks}`);
  if (r.fallback) lines.push(r.fallback);
  if (r.substitutions.length) lines.push(`TF.js layers from Keras's formulas: ${r.substitutions.join('; ')}`);
  if (r.stubbedKernels.length) lines.push(`TF.js (${r.reference}) has no ${r.stubbedKernels.join(', ')}: zeros stand in (only input and activation gradients are compared)`);
  lines.push(
    r.passed
      ? `${r.complete ? 'PASS' : 'PASS (incomplete)'}: ${r.rows.filter((x) => x.status === 'pass').length} rows within tolerance${r.complete ? '' : `, ${r.rows.filter((x) => x.status === 'unsupported').length} not compared`}`
      : `FAIL: first difference at ${r.firstFailure}; ${r.rows.filter((x) => x.status === 'fail').length} rows out of tolerance`,
  );
  return lines;
}
