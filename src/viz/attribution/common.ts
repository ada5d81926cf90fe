/**
 * What every attribution method shares: the class score being explained (any class,
 * post-softmax probability or logit, sigmoid outputs as two classes), the layer a CAM
 * reads, the normalisation every map gets, batching, and small image operations
 * composed from engine ops (upsampling, blur).
 */
import { engine } from '../../engine/engine.ts';
import * as ops from '../../engine/ops/index.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { PRE_ACTIVATION, type Model } from '../../models/model.ts';

export type ScoreKind = 'prob' | 'logit';

/** A mistake in what was asked (bad class, layer, count): the CLI prints it as one line. */
export class AttributionError extends Error {}

/** The scalar being explained: one class's score, for every image of a batch. */
export interface Target {
  classIndex: number;
  score: ScoreKind;
  /** Number of classes (2 for a single sigmoid unit). */
  classes: number;
  /** What to ask Model.run for (the output, or its pre-activation for a logit). */
  output: string;
  /** Raw model output [batch, units] -> the class's score per image [batch]. */
  scoreOf(raw: Tensor): Tensor;
}

export interface TargetOptions {
  /** Class index (default: the top class of the image). */
  classIndex?: number;
  score?: ScoreKind;
}

/** Output units of the model's (first) output; a model whose output is not [batch, units] cannot be explained. */
export function outputUnits(model: Model): number {
  const s = model.storedShape(model.spec.outputs[0]);
  if (s.length !== 2 || typeof s[1] !== 'number') {
    throw new AttributionError(`model '${model.name}' does not end in a classifier (its output is [${s.join(',')}]); attribution needs a class score`);
  }
  return s[1];
}

/**
 * The score of a class, as Grad-CAM (src/viz/gradcam.ts) defines it: 'prob' is the
 * output probability (a model that ends in logits gets their softmax, or sigmoid for
 * one unit), 'logit' the value before the softmax; for a single sigmoid unit class 1
 * scores p (z) and class 0 scores 1 - p (-z).
 */
export function makeTarget(model: Model, classIndex: number, score: ScoreKind = 'prob'): Target {
  if (score !== 'prob' && score !== 'logit') throw new AttributionError(`--score must be prob or logit; got '${score}'`);
  const out = model.spec.outputs[0];
  const units = outputUnits(model);
  const classes = units === 1 ? 2 : units;
  if (!Number.isInteger(classIndex) || classIndex < 0 || classIndex >= classes) {
    throw new AttributionError(`the model has classes 0..${classes - 1}; got class ${classIndex}`);
  }
  const logitsOut = !model.outputIsProbability(out);
  if (score === 'logit' && !logitsOut && !model.hasPreActivation(out)) {
    throw new AttributionError(`--score logit: the output layer '${out}' has no separate activation to take the logit before`);
  }
  const output = score === 'logit' && !logitsOut ? out + PRE_ACTIVATION : out;
  const scoreOf = (raw: Tensor): Tensor => {
    const b = raw.shape[0];
    const y = logitsOut && score === 'prob' ? (units === 1 ? ops.sigmoid(raw) : ops.softmax(raw)) : raw;
    if (units === 1) {
      const s = ops.reshape(y, [b]);
      return classIndex === 1 ? s : score === 'prob' ? ops.sub(1, s) : ops.neg(s);
    }
    return ops.reshape(ops.slice(y, [0, classIndex], [b, 1]), [b]);
  };
  return { classIndex, score, classes, output, scoreOf };
}

/** The model's top class for a batch-of-one input (p > 0.5, or a positive logit, for one sigmoid unit). */
export async function topClass(model: Model, input: Tensor): Promise<number> {
  const units = outputUnits(model);
  const pt = model.predict(input);
  try {
    const p = await pt.data();
    if (units === 1) return p[0] > (model.outputIsProbability() ? 0.5 : 0) ? 1 : 0;
    let best = 0;
    for (let i = 1; i < p.length; i++) if (p[i] > p[best]) best = i;
    return best;
  } finally {
    pt.dispose();
  }
}

export async function resolveTarget(model: Model, input: Tensor, o: TargetOptions = {}): Promise<Target> {
  // checked before the forward pass: a bad --score is a usage error, not a wasted pass
  if (o.score !== undefined && o.score !== 'prob' && o.score !== 'logit') throw new AttributionError(`--score must be prob or logit; got '${o.score}'`);
  return makeTarget(model, o.classIndex ?? (await topClass(model, input)), o.score ?? 'prob');
}

/** Per-image scores of a batch: the target's score of the model's output. */
export function scores(model: Model, x: Tensor, target: Target): Tensor {
  return engine.tidy(() => target.scoreOf(model.run(x, [target.output])[0]));
}

export function checkSingleImage(input: Tensor, what: string): void {
  if (input.rank !== 4 || input.shape[0] !== 1) throw new AttributionError(`${what}: expects a batch of one image [1, rows, cols, channels], got [${input.shape.join(',')}]`);
}

/**
 * The layer a CAM reads: by name or nested path (default: the last layer with a
 * spatial output anywhere in the graph); it must have a rows x cols x channels output.
 */
export function camLayer(model: Model, method: string, layer?: string): { layer: string; shape: [number, number, number] } {
  let name: string;
  try {
    name = model.resolve(layer ?? model.lastSpatialLayer());
  } catch (e) {
    throw new AttributionError((e as Error).message);
  }
  const s = model.storedShape(name);
  if (s.length !== 4 || s.slice(1).some((d) => typeof d !== 'number')) {
    throw new AttributionError(`${method} needs a layer with a spatial output (rows x cols x channels); '${name}' is ${model.layer(name).className} with output [${s.map((d) => d ?? 'null').join(',')}]`);
  }
  return { layer: name, shape: [s[1] as number, s[2] as number, s[3] as number] };
}

/** A whole number in [lo, hi] for a method's parameter, or one clear line. */
export function checkCount(v: number, what: string, lo: number, hi = 1 << 20): number {
  if (!(Number.isInteger(v) && v >= lo && v <= hi)) throw new AttributionError(`${what} must be a whole number from ${lo} to ${hi}; got ${v}`);
  return v;
}

/** Batch sizes covering `total` items, each at most `batch`. */
export function batches(total: number, batch: number): { start: number; size: number }[] {
  const out: { start: number; size: number }[] = [];
  for (let s = 0; s < total; s += batch) out.push({ start: s, size: Math.min(batch, total - s) });
  return out;
}

/** Default images per GPU batch for the batched methods (Score-CAM, Ablation-CAM, SmoothGrad, IG, the faithfulness curves). */
export const DEFAULT_BATCH = 64;

/**
 * The normalisation every CAM map gets (Grad-CAM's, SPEC.md section 3): ReLU, then
 * divided by the maximum; an all-zero map stays zero.
 */
export function reluMaxNormalise(raw: ArrayLike<number>): Float32Array {
  let max = 0;
  for (let i = 0; i < raw.length; i++) if (raw[i] > max) max = raw[i];
  const out = new Float32Array(raw.length);
  if (max > 0) for (let i = 0; i < raw.length; i++) out[i] = raw[i] > 0 ? raw[i] / max : 0;
  return out;
}

/** A map of either sign divided by its largest magnitude, into [-1, 1] (zero stays zero). */
export function absMaxNormalise(raw: ArrayLike<number>): Float32Array {
  let max = 0;
  for (let i = 0; i < raw.length; i++) max = Math.max(max, Math.abs(raw[i]));
  const out = new Float32Array(raw.length);
  if (max > 0) for (let i = 0; i < raw.length; i++) out[i] = raw[i] / max;
  return out;
}

/** One map: its values at the resolution it is computed at, normalised. */
export interface AttributionMap {
  method: string;
  /** The CAM's layer (CAMs and guided Grad-CAM). */
  layer?: string;
  height: number;
  width: number;
  /** Row-major height x width values: CAMs in [0, 1]; signed pixel maps (gradxinput, ig) in [-1, 1]. */
  data: Float32Array;
  signed: boolean;
  /** Method-specific figures (IG's completeness error, Score-CAM's batch count, ...). */
  details?: Record<string, number | string | number[]>;
}

export interface MapResult extends AttributionMap {
  classIndex: number;
  score: ScoreKind;
  /** The class's score on the unmodified image. */
  scoreValue: number;
}

/**
 * Bilinear upsampling of a [1, h, w] or h x w map to the input size, with half-pixel
 * centres (OpenCV's cv2.resize and PyTorch's align_corners=False, what the CAM
 * libraries use to put a map over the image).
 */
export function upsample(map: Tensor, size: readonly [number, number]): Tensor {
  return engine.tidy(() => {
    const [h, w] = map.shape.slice(-2);
    const x = ops.reshape(map, [1, h, w, 1]);
    return ops.reshape(ops.resizeBilinear(x, size, { halfPixelCenters: true }), [size[0], size[1]]);
  });
}

/** A normalised 1-D Gaussian of radius ceil(2 sigma). */
export function gaussianKernel(sigma: number): Float32Array {
  const r = Math.max(1, Math.ceil(2 * sigma));
  const k = new Float32Array(2 * r + 1);
  let s = 0;
  for (let i = -r; i <= r; i++) s += k[i + r] = Math.exp(-(i * i) / (2 * sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i] /= s;
  return k;
}

/** The blur used for blurred baselines and replacements: sigma 5 px at 224 (RISE's), scaled with the image, at least 2 px. */
export const defaultBlurSigma = (rows: number, cols: number) => Math.max(2, (5 * Math.max(rows, cols)) / 224);

/**
 * Gaussian blur of an NHWC batch, separable (two depthwise convolutions), each output
 * divided by the blurred image of ones so that the borders are not darkened by the
 * zero padding (a normalised convolution).
 */
export function gaussianBlur(x: Tensor, sigma: number): Tensor {
  return engine.tidy(() => {
    const [, h, w, c] = x.shape;
    const k = gaussianKernel(sigma);
    const n = k.length;
    const col = (len: number) => ops.tensor(Array.from({ length: len * c }, (_, i) => k[Math.floor(i / c)]), [len, 1, c, 1]);
    const row = (len: number) => ops.tensor(Array.from({ length: len * c }, (_, i) => k[Math.floor(i / c)]), [1, len, c, 1]);
    const blur = (t: Tensor) => ops.depthwiseConv2d(ops.depthwiseConv2d(t, col(n), { padding: 'same' }), row(n), { padding: 'same' });
    const norm = blur(ops.ones([1, h, w, c]));
    return ops.div(blur(x), norm);
  });
}

/** The value of a black pixel in the model's input space (per channel), from a pixel -> input function. */
export function blackPixel(channels: number, toInput?: (pixels: Float32Array) => Float32Array): Float32Array {
  return toInput ? toInput(new Float32Array(channels)) : new Float32Array(channels);
}

/** Sorting-free helper: the index of the largest value. */
export function argmax(v: ArrayLike<number>): number {
  let b = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[b]) b = i;
  return b;
}
