import { engine } from '../engine/engine.ts';
import * as ops from '../engine/ops/index.ts';
import type { Tensor } from '../engine/tensor.ts';
import { gradientsOf } from '../autodiff/api.ts';
import { PRE_ACTIVATION, type Model } from '../models/model.ts';

/**
 * Grad-CAM exactly as SPEC.md section 3: with A the chosen conv layer's output and
 * score the model's output for one class (post-softmax probability in seed mode, or
 * the pre-softmax logit),
 *   G = d score / d A;  weights = mean of G over (batch, height, width);
 *   heatmap = relu(mean over channels of A * weights) / max   (all-zero map stays zero).
 * For a single sigmoid unit, class 1 scores p and class 0 scores 1 - p (logit: z and -z).
 */
export interface GradCamOptions {
  /** Layer by name or nested path (default: the last layer with a spatial output). */
  layer?: string;
  /** Class index (default: the top class). */
  classIndex?: number;
  score?: 'prob' | 'logit';
}

export interface GradCamResult {
  layer: string;
  classIndex: number;
  score: 'prob' | 'logit';
  /** The score's value for the image. */
  scoreValue: number;
  /** The heatmap before resizing: height x width, in [0, 1]. */
  heatmap: { width: number; height: number; data: Float32Array };
  /** The 'weights' (channel importances): mean gradient per channel. */
  channelWeights: Float32Array;
}

export async function gradCam(model: Model, input: Tensor, o: GradCamOptions = {}): Promise<GradCamResult> {
  if (input.shape[0] !== 1) throw new Error(`gradCam: expects a batch of one image, got batch ${input.shape[0]}`);
  const layer = model.resolve(o.layer ?? model.lastSpatialLayer());
  const l = model.layer(layer);
  const shape = model.storedShape(layer);
  if (shape.length !== 4) {
    throw new Error(`Grad-CAM needs a layer with a spatial output (rows x cols x channels); '${layer}' is ${l.className} with output [${shape.join(',')}]`);
  }
  const outName = model.spec.outputs[0];
  const scoreKind = o.score ?? 'prob';
  // a model that ends in logits (no softmax) scores 'prob' as their softmax, 'logit' as they are
  const logitsOut = !model.outputIsProbability(outName);
  if (scoreKind === 'logit' && !logitsOut && !model.hasPreActivation(outName)) {
    throw new Error(`--score logit: the output layer '${outName}' has no separate activation to take the logit before`);
  }
  const units = model.layerInfo(outName).outputShape[1] as number;
  const classes = units === 1 ? 2 : units;
  let classIndex = o.classIndex;
  if (classIndex === undefined) {
    const pt = model.predict(input);
    let p: Float32Array;
    try {
      p = await pt.data();
    } finally {
      pt.dispose();
    }
    classIndex = units === 1 ? (p[0] > (logitsOut ? 0 : 0.5) ? 1 : 0) : p.indexOf(Math.max(...p));
  }
  if (!Number.isInteger(classIndex) || classIndex < 0 || classIndex >= classes) {
    throw new Error(`the model has classes 0..${classes - 1}; got class ${classIndex}`);
  }
  const ci = classIndex;
  const { value, grads, A } = gradCamPass(model, input, layer, ci, scoreKind);
  const [G] = grads;
  try {
    const [map, weights] = gradCamMap(A, G);
    const [raw, cw, sv] = await Promise.all([map.data(), weights.data(), value.data()]);
    map.dispose();
    weights.dispose();
    await model.assertFinite(Float32Array.of(...raw, ...cw, ...sv), input, 'Grad-CAM map');
    let max = 0;
    for (const v of raw) max = Math.max(max, v);
    const data = new Float32Array(raw.length);
    if (max > 0) for (let i = 0; i < raw.length; i++) data[i] = raw[i] / max; // an all-zero map stays zero
    const [, h, w] = A.shape;
    return { layer, classIndex: ci, score: scoreKind, scoreValue: sv[0], heatmap: { width: w, height: h, data }, channelWeights: cw };
  } finally {
    A.dispose();
    G.dispose();
    value.dispose();
  }
}

/**
 * The GPU part of Grad-CAM, synchronous (what prepareKernels records): the score of class ci
 * at the output and its gradient with respect to the layer's output A.
 */
export function gradCamPass(model: Model, input: Tensor, layer: string, ci: number, scoreKind: 'prob' | 'logit'): { value: Tensor; grads: Tensor[]; A: Tensor } {
  const outName = model.spec.outputs[0];
  const logitsOut = !model.outputIsProbability(outName);
  const units = model.layerInfo(outName).outputShape[1] as number;
  let A: Tensor | undefined;
  // Only ops downstream of A are recorded: the forward pass up to the conv layer keeps no tape memory.
  const { value, grads } = gradientsOf((watch) => {
    const [a, raw] = model.run(input, [layer, scoreKind === 'logit' && !logitsOut ? outName + PRE_ACTIVATION : outName], { watch: { [layer]: watch } });
    const out = logitsOut && scoreKind === 'prob' ? (units === 1 ? ops.sigmoid(raw) : ops.softmax(raw)) : raw;
    A = engine.keep(a); // needed after the backward pass; the tape's own copy is released
    let score: Tensor;
    if (units === 1) {
      const s = ops.reshape(out, []);
      score = ci === 1 ? s : scoreKind === 'prob' ? ops.sub(1, s) : ops.neg(s);
    } else score = ops.reshape(ops.slice(out, [0, ci], [1, 1]), []);
    return { value: score, wrt: [a] };
  }, { onlyWatched: true });
  return { value, grads, A: A! };
}

/** The map and the channel weights from A and its gradient G: relu(mean over channels of A * mean(G)). */
export function gradCamMap(A: Tensor, G: Tensor): [Tensor, Tensor] {
  return engine.tidy(() => {
    const w = ops.mean(G, [0, 1, 2]); // [channels]
    return [ops.relu(ops.mean(ops.mul(A, w), [3])), w]; // [1, h, w]
  }) as [Tensor, Tensor];
}
