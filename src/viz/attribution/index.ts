/**
 * Every attribution method by name, and `explain`: several methods on one image for
 * one class, the gradient CAMs sharing one forward and backward pass.
 */
import type { Tensor } from '../../engine/tensor.ts';
import type { Model } from '../../models/model.ts';
import type { WeightArray } from '../../models/keras/spec.ts';
import { AttributionError, resolveTarget, type MapResult, type ScoreKind } from './common.ts';
import { CAM_TITLES, eigenCam, GRADIENT_CAMS, gradientCams, type GradientCamName } from './cam.ts';
import { scoreCam } from './score_cam.ts';
import { ablationCam } from './ablation_cam.ts';
import { gradientTimesInput, guidedBackprop, guidedGradCam, integratedGradients, saliency, smoothGrad, type Baseline } from './gradients.ts';

export * from './common.ts';
export * from './cam.ts';
export * from './eigen.ts';
export * from './score_cam.ts';
export * from './ablation_cam.ts';
export * from './gradients.ts';
export * from './faithfulness.ts';

export const METHODS = [
  'gradcam', 'gradcam++', 'xgradcam', 'layercam', 'hirescam', 'eigencam', 'scorecam', 'ablationcam',
  'saliency', 'gradxinput', 'smoothgrad', 'ig', 'guided', 'guided-gradcam',
] as const;
export type MethodName = (typeof METHODS)[number];

/** The methods that read a layer (their maps are at its grid), and guided Grad-CAM, which uses one. */
export const CAM_METHODS: readonly MethodName[] = ['gradcam', 'gradcam++', 'xgradcam', 'layercam', 'hirescam', 'eigencam', 'scorecam', 'ablationcam'];
export const usesLayer = (m: MethodName) => CAM_METHODS.includes(m) || m === 'guided-gradcam';

/** The default set: every method that takes one pass (the batched ones by request: scorecam, ablationcam, smoothgrad, ig). */
export const DEFAULT_METHODS: readonly MethodName[] = ['gradcam', 'gradcam++', 'xgradcam', 'layercam', 'hirescam', 'eigencam', 'saliency', 'gradxinput', 'guided', 'guided-gradcam'];

export const METHOD_TITLES: Record<MethodName, string> = {
  ...(CAM_TITLES as Record<'gradcam' | 'gradcam++' | 'xgradcam' | 'layercam' | 'hirescam' | 'eigencam' | 'scorecam' | 'ablationcam', string>),
  saliency: 'Saliency',
  gradxinput: 'Gradient x input',
  smoothgrad: 'SmoothGrad',
  ig: 'Integrated Gradients',
  guided: 'Guided backpropagation',
  'guided-gradcam': 'Guided Grad-CAM',
};

export function checkMethod(name: string): MethodName {
  if (!(METHODS as readonly string[]).includes(name)) throw new AttributionError(`unknown method '${name}'; the methods are ${METHODS.join(', ')}`);
  return name as MethodName;
}

/** '--methods a,b,c' -> the method names, in order, without repeats; one clear line for an unknown one. */
export function parseMethods(spec: string): MethodName[] {
  const list = spec.split(',').map((s) => s.trim()).filter(Boolean);
  if (list.length === 0) throw new AttributionError(`--methods is empty: give one or more of ${METHODS.join(', ')} separated by commas`);
  return [...new Set(list.map(checkMethod))];
}

export interface ExplainOptions {
  classIndex?: number;
  score?: ScoreKind;
  layer?: string;
  batch?: number;
  /** SmoothGrad's n and noise level. */
  samples?: number;
  noise?: number;
  /** Integrated Gradients' m and baseline. */
  steps?: number;
  baseline?: Baseline;
  /** Pixel values (0..255) -> the model's input (black and uniform baselines). */
  toInput?: (pixels: Float32Array) => Float32Array;
  blurSigma?: number;
  seed?: number;
  /** The weights as read from the file (Ablation-CAM builds the rest of the network from them). */
  weights?: Map<string, WeightArray[]>;
  onMethod?: (method: MethodName, index: number, total: number) => void;
}

/** Checks the counts before any work (n = 0, steps < 1, batch 0 are refused at once). */
export function checkExplainOptions(methods: readonly MethodName[], o: ExplainOptions): void {
  const whole = (v: number | undefined, what: string) => {
    if (v !== undefined && !(Number.isInteger(v) && v >= 1)) throw new AttributionError(`${what} must be a whole number of at least 1; got ${v}`);
  };
  whole(o.batch, '--batch');
  if (methods.includes('smoothgrad')) whole(o.samples, 'SmoothGrad --samples (n)');
  if (methods.includes('ig')) whole(o.steps, 'Integrated Gradients --steps (m)');
  if (methods.includes('ablationcam') && !o.weights) throw new AttributionError('ablationcam needs the model weights (explain builds the rest of the network from them)');
}

/** Runs the methods on one image (a batch of one) for one class; the maps come back in the order asked. */
export async function explain(model: Model, input: Tensor, methods: readonly MethodName[], o: ExplainOptions = {}): Promise<MapResult[]> {
  methods.forEach(checkMethod);
  checkExplainOptions(methods, o);
  // one class for every method: the top class unless one was asked for
  const target = await resolveTarget(model, input, { classIndex: o.classIndex, score: o.score });
  const common = { classIndex: target.classIndex, score: target.score, layer: o.layer };
  const gradCams = methods.filter((m): m is GradientCamName => (GRADIENT_CAMS as readonly string[]).includes(m));
  const done = new Map<MethodName, MapResult>();
  if (gradCams.length) for (const r of await gradientCams(model, input, gradCams, common)) done.set(r.method as MethodName, r);
  for (const [i, m] of methods.entries()) {
    o.onMethod?.(m, i, methods.length);
    if (done.has(m)) continue;
    const batched = { batch: o.batch };
    let r: MapResult;
    switch (m) {
      case 'eigencam': r = await eigenCam(model, input, common); break;
      case 'scorecam': r = await scoreCam(model, input, { ...common, ...batched }); break;
      case 'ablationcam': r = await ablationCam(model, input, { ...common, ...batched, weights: o.weights! }); break;
      case 'saliency': r = await saliency(model, input, common); break;
      case 'gradxinput': r = await gradientTimesInput(model, input, common); break;
      case 'smoothgrad': r = await smoothGrad(model, input, { ...common, ...batched, samples: o.samples, noise: o.noise, seed: o.seed }); break;
      case 'ig': r = await integratedGradients(model, input, { ...common, ...batched, steps: o.steps, baseline: o.baseline, toInput: o.toInput, blurSigma: o.blurSigma, seed: o.seed }); break;
      case 'guided': {
        const { gradient: _g, ...rest } = await guidedBackprop(model, input, common);
        r = rest;
        break;
      }
      case 'guided-gradcam': r = await guidedGradCam(model, input, common); break;
      default: throw new AttributionError(`unknown method '${m}'`);
    }
    done.set(m, r);
  }
  return methods.map((m) => done.get(m)!);
}
