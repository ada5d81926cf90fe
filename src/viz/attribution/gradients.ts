/**
 * The gradient family: maps at the model's input size from d score / d x.
 *
 * - saliency (Simonyan et al. 2014): max over channels of |d score / d x|;
 * - gradient x input (Shrikumar et al. 2016): sum over channels of x * d score / d x (signed);
 * - SmoothGrad (Smilkov et al. 2017, eq. 3): the gradient averaged over n copies of x
 *   with Gaussian noise of standard deviation noise * (max(x) - min(x)), then max over
 *   channels of its magnitude; the n copies go through the model as batches (one batch
 *   when n <= batch);
 * - Integrated Gradients (Sundararajan et al. 2017, eq. 3, the right Riemann sum):
 *   IG = (x - x') * (1/m) sum_{k=1..m} d score / d x at x' + (k/m)(x - x'), with the
 *   baseline x' black, blurred or uniform noise; the map is IG summed over channels
 *   (signed); completeness: sum(IG) - (f(x) - f(x')) is reported with it;
 * - guided backpropagation (Springenberg et al. 2015): the input gradient with every
 *   ReLU's rule replaced by the guided one (src/autodiff/override.ts), max over
 *   channels of its magnitude;
 * - guided Grad-CAM (Selvaraju et al. 2017, section 3.1): guided backpropagation times
 *   the Grad-CAM map upsampled to the input (bilinear, half-pixel centres).
 *
 * Unsigned maps are divided by their maximum, signed ones by their largest magnitude.
 */
import { engine } from '../../engine/engine.ts';
import * as ops from '../../engine/ops/index.ts';
import { Random } from '../../engine/random.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { gradientsOf } from '../../autodiff/api.ts';
import { GUIDED_BACKPROP, withGradientOverride } from '../../autodiff/override.ts';
import type { Model } from '../../models/model.ts';
import {
  AttributionError, absMaxNormalise, batches, blackPixel, checkCount, checkSingleImage, DEFAULT_BATCH, defaultBlurSigma, gaussianBlur, reluMaxNormalise,
  resolveTarget, scores, upsample, type MapResult, type Target, type TargetOptions,
} from './common.ts';
import { gradientCam, type CamOptions } from './cam.ts';
import type { BatchedOptions } from './score_cam.ts';

/** Per-image scores of a batch and d(sum of them)/dx (each image's own gradient: images do not interact). */
export function inputGradients(model: Model, x: Tensor, target: Target, guided = false): { scores: Tensor; grads: Tensor } {
  const run = () =>
    gradientsOf(() => {
      const s = target.scoreOf(model.run(x, [target.output])[0]);
      return { value: s, wrt: [x] };
    });
  const { value, grads } = guided ? withGradientOverride(GUIDED_BACKPROP, run) : run();
  return { scores: value, grads: grads[0] };
}

async function readAndDispose(...ts: Tensor[]): Promise<Float32Array[]> {
  try {
    return await Promise.all(ts.map((t) => t.data()));
  } finally {
    for (const t of ts) t.dispose();
  }
}

function pixelResult(method: string, input: Tensor, raw: Float32Array, signed: boolean, target: Target, scoreValue: number, details?: MapResult['details']): MapResult {
  return {
    method,
    height: input.shape[1],
    width: input.shape[2],
    data: signed ? absMaxNormalise(raw) : reluMaxNormalise(raw),
    signed,
    classIndex: target.classIndex,
    score: target.score,
    scoreValue,
    ...(details ? { details } : {}),
  };
}

const maxAbsOverChannels = (g: Tensor) => ops.max(ops.abs(g), [3]);

export async function saliency(model: Model, input: Tensor, o: TargetOptions = {}): Promise<MapResult> {
  checkSingleImage(input, 'saliency');
  const target = await resolveTarget(model, input, o);
  const { scores: s, grads } = inputGradients(model, input, target);
  const [raw, sv] = await readAndDispose(engine.tidy(() => maxAbsOverChannels(grads)), s);
  grads.dispose();
  return pixelResult('saliency', input, raw, false, target, sv[0]);
}

export async function gradientTimesInput(model: Model, input: Tensor, o: TargetOptions = {}): Promise<MapResult> {
  checkSingleImage(input, 'gradient x input');
  const target = await resolveTarget(model, input, o);
  const { scores: s, grads } = inputGradients(model, input, target);
  const [raw, sv] = await readAndDispose(engine.tidy(() => ops.sum(ops.mul(input, grads), [3])), s);
  grads.dispose();
  return pixelResult('gradxinput', input, raw, true, target, sv[0]);
}

export interface SmoothGradOptions extends TargetOptions, BatchedOptions {
  /** Noisy copies (default 50, the paper's). */
  samples?: number;
  /** Noise standard deviation as a fraction of the input's range max(x) - min(x) (default 0.15, in the paper's 10-20%). */
  noise?: number;
  /** Seed of the noise (a mulberry32 stream of Box-Muller normals, image after image). */
  seed?: number;
}

export async function smoothGrad(model: Model, input: Tensor, o: SmoothGradOptions = {}): Promise<MapResult> {
  checkSingleImage(input, 'SmoothGrad');
  const n = checkCount(o.samples ?? 50, 'SmoothGrad --samples (n)', 1);
  const batch = checkCount(o.batch ?? DEFAULT_BATCH, '--batch', 1);
  const level = o.noise ?? 0.15;
  if (!(Number.isFinite(level) && level >= 0)) throw new AttributionError(`SmoothGrad --noise must be a fraction of the input range, 0 or more; got ${level}`);
  const target = await resolveTarget(model, input, o);
  const [lo, hi] = await readAndDispose(ops.min(input), ops.max(input));
  const sigma = level * (hi[0] - lo[0]);
  const [, H, W, C] = input.shape;
  const rng = new Random(o.seed ?? 0);
  let acc = engine.keep(ops.zeros([1, H, W, C]));
  const plan = batches(n, batch);
  try {
    for (const [i, b] of plan.entries()) {
      const noise = new Float32Array(b.size * H * W * C);
      for (let j = 0; j < noise.length; j++) noise[j] = sigma * rng.normal();
      const next = engine.tidy(() => {
        const x = ops.add(input, ops.tensor(noise, [b.size, H, W, C]));
        const { scores: s, grads } = inputGradients(model, x, target);
        s.dispose();
        return ops.add(acc, ops.sum(grads, [0], true));
      });
      acc.dispose();
      acc = engine.keep(next);
      // wait for this batch before queueing the next: bounds GPU memory to one batch
      await acc.data();
      o.onBatch?.(i + 1, plan.length);
    }
    const base = scores(model, input, target);
    const [raw, sv] = await readAndDispose(engine.tidy(() => maxAbsOverChannels(ops.div(acc, n))), base);
    return pixelResult('smoothgrad', input, raw, false, target, sv[0], { samples: n, noise: level, sigma, batches: plan.length });
  } finally {
    acc.dispose();
  }
}

export type Baseline = 'black' | 'blurred' | 'uniform';
export const BASELINES: readonly Baseline[] = ['black', 'blurred', 'uniform'];

export interface IntegratedGradientsOptions extends TargetOptions, BatchedOptions {
  /** Riemann steps m (default 64). */
  steps?: number;
  baseline?: Baseline;
  /**
   * Pixel values (0..255, HWC) -> the model's input (the preprocessing): where a black
   * pixel and uniform pixel noise land. Without it, black is 0 and uniform noise spans
   * the input's own range.
   */
  toInput?: (pixels: Float32Array) => Float32Array;
  /** Blur of the blurred baseline (default: 5 px at 224, scaled, at least 2 px). */
  blurSigma?: number;
  seed?: number;
}

/** The baseline image x' [1, H, W, C] in the model's input space. */
export async function baselineImage(input: Tensor, kind: Baseline, o: { toInput?: (p: Float32Array) => Float32Array; blurSigma?: number; seed?: number } = {}): Promise<Tensor> {
  const [, H, W, C] = input.shape;
  if (kind === 'black') return engine.tidy(() => ops.broadcastTo(ops.tensor(blackPixel(C, o.toInput), [1, 1, 1, C]), [1, H, W, C]));
  if (kind === 'blurred') return gaussianBlur(input, o.blurSigma ?? defaultBlurSigma(H, W));
  if (kind === 'uniform') {
    const rng = new Random(o.seed ?? 0);
    const v = new Float32Array(H * W * C);
    if (o.toInput) {
      for (let i = 0; i < v.length; i++) v[i] = rng.uniform(0, 255);
      return ops.tensor(o.toInput(v), [1, H, W, C]);
    }
    const [lo, hi] = await readAndDispose(ops.min(input), ops.max(input));
    for (let i = 0; i < v.length; i++) v[i] = rng.uniform(lo[0], hi[0]);
    return ops.tensor(v, [1, H, W, C]);
  }
  throw new AttributionError(`--baseline must be one of ${BASELINES.join(', ')}; got '${kind}'`);
}

export async function integratedGradients(model: Model, input: Tensor, o: IntegratedGradientsOptions = {}): Promise<MapResult> {
  checkSingleImage(input, 'Integrated Gradients');
  const m = checkCount(o.steps ?? 64, 'Integrated Gradients --steps (m)', 1);
  const batch = checkCount(o.batch ?? DEFAULT_BATCH, '--batch', 1);
  const kind = o.baseline ?? 'black';
  if (!BASELINES.includes(kind)) throw new AttributionError(`--baseline must be one of ${BASELINES.join(', ')}; got '${kind}'`);
  const target = await resolveTarget(model, input, o);
  const baseline = await baselineImage(input, kind, o);
  const diff = engine.keep(ops.sub(input, baseline));
  let acc = engine.keep(ops.zerosLike(input));
  const plan = batches(m, batch);
  try {
    for (const [i, b] of plan.entries()) {
      const alphas = Float32Array.from({ length: b.size }, (_, j) => (b.start + j + 1) / m);
      const next = engine.tidy(() => {
        const x = ops.add(baseline, ops.mul(ops.tensor(alphas, [b.size, 1, 1, 1]), diff));
        const { scores: s, grads } = inputGradients(model, x, target);
        s.dispose();
        return ops.add(acc, ops.sum(grads, [0], true));
      });
      acc.dispose();
      acc = engine.keep(next);
      await acc.data();
      o.onBatch?.(i + 1, plan.length);
    }
    const ig = engine.keep(engine.tidy(() => ops.div(ops.mul(diff, acc), m)));
    const [raw, all, fx, fb] = await readAndDispose(engine.tidy(() => ops.sum(ig, [3])), ig, scores(model, input, target), scores(model, baseline, target));
    let total = 0;
    for (const v of all) total += v;
    const delta = fx[0] - fb[0];
    const error = total - delta;
    return pixelResult('ig', input, raw, true, target, fx[0], {
      steps: m,
      baseline: kind,
      batches: plan.length,
      sumIG: total,
      baselineScore: fb[0],
      completenessError: error,
      relativeCompletenessError: delta === 0 ? Math.abs(error) : Math.abs(error) / Math.abs(delta),
    });
  } finally {
    acc.dispose();
    diff.dispose();
    baseline.dispose();
  }
}

export async function guidedBackprop(model: Model, input: Tensor, o: TargetOptions = {}): Promise<MapResult & { gradient: Float32Array }> {
  checkSingleImage(input, 'guided backpropagation');
  const target = await resolveTarget(model, input, o);
  const { scores: s, grads } = inputGradients(model, input, target, true);
  const [raw, g, sv] = await readAndDispose(engine.tidy(() => maxAbsOverChannels(grads)), grads, s);
  return { ...pixelResult('guided', input, raw, false, target, sv[0]), gradient: g };
}

export async function guidedGradCam(model: Model, input: Tensor, o: CamOptions = {}): Promise<MapResult> {
  checkSingleImage(input, 'guided Grad-CAM');
  const target = await resolveTarget(model, input, o);
  const cam = await gradientCam(model, input, 'gradcam', { ...o, classIndex: target.classIndex, score: target.score });
  const { scores: s, grads } = inputGradients(model, input, target, true);
  const size: [number, number] = [input.shape[1], input.shape[2]];
  const [raw, sv] = await readAndDispose(
    engine.tidy(() => ops.mul(maxAbsOverChannels(grads), upsample(ops.tensor(cam.data, [cam.height, cam.width]), size))),
    s,
  );
  grads.dispose();
  return { ...pixelResult('guided-gradcam', input, raw, false, target, sv[0]), layer: cam.layer };
}
