/**
 * Score-CAM (Wang et al. 2020, Algorithm 1): each channel k of the layer's output A is
 * upsampled to the input size (bilinear, half-pixel centres), min-max normalised to
 * [0, 1] (a constant channel gives no mask and weight 0), and multiplied into the
 * model's input; the class score of each masked input is the channel's weight
 * (Algorithm 1's Softmax(f(M)) for --score prob, the logit for --score logit);
 * map = relu(sum_k w_k A^k) at the layer's grid, divided by its maximum.
 *
 * The masked inputs go through the model `batch` at a time: each batch is one GPU pass
 * (mask, multiply, forward, score), not a loop of single images.
 */
import { engine } from '../../engine/engine.ts';
import * as ops from '../../engine/ops/index.ts';
import type { Tensor } from '../../engine/tensor.ts';
import type { Model } from '../../models/model.ts';
import { batches, camLayer, checkCount, checkSingleImage, DEFAULT_BATCH, reluMaxNormalise, resolveTarget, scores, type MapResult } from './common.ts';
import type { CamOptions } from './cam.ts';

export interface BatchedOptions {
  /** Images per GPU batch (default 64). */
  batch?: number;
  /** Called after every batch (progress). */
  onBatch?: (done: number, total: number) => void;
}

/** Normalised masks [size, H, W, 1] of channels start..start+size of At ([channels, h, w, 1]), and which are constant. */
export function channelMasks(At: Tensor, start: number, size: number, inputSize: readonly [number, number]): { masks: Tensor; flat: Tensor } {
  return engine.tidy(() => {
    const [, h, w] = At.shape;
    const m = ops.resizeBilinear(ops.slice(At, [start, 0, 0, 0], [size, h, w, 1]), inputSize, { halfPixelCenters: true });
    const lo = ops.min(m, [1, 2, 3], true);
    const range = ops.sub(ops.max(m, [1, 2, 3], true), lo);
    const flat = ops.equal(range, 0);
    const masks = ops.mul(ops.div(ops.sub(m, lo), ops.add(range, flat)), ops.sub(1, flat));
    return { masks, flat: ops.reshape(flat, [size]) };
  });
}

export async function scoreCam(model: Model, input: Tensor, o: CamOptions & BatchedOptions = {}): Promise<MapResult> {
  checkSingleImage(input, 'Score-CAM');
  const { layer, shape } = camLayer(model, 'Score-CAM', o.layer);
  const batch = checkCount(o.batch ?? DEFAULT_BATCH, '--batch', 1);
  const target = await resolveTarget(model, input, o);
  const [h, w, k] = shape;
  const size: [number, number] = [input.shape[1], input.shape[2]];
  const [A, At] = engine.tidy(() => {
    const a = model.run(input, [layer])[0];
    return [a, ops.transpose(a, [3, 1, 2, 0])];
  });
  try {
    const weights = new Float32Array(k);
    const plan = batches(k, batch);
    for (const [i, b] of plan.entries()) {
      const s = engine.tidy(() => {
        const { masks, flat } = channelMasks(At, b.start, b.size, size);
        return ops.mul(target.scoreOf(model.run(ops.mul(input, masks), [target.output])[0]), ops.sub(1, flat));
      });
      weights.set(await s.data(), b.start);
      s.dispose();
      o.onBatch?.(i + 1, plan.length);
    }
    const [mapT, base] = engine.tidy(() => [ops.sum(ops.mul(A, ops.tensor(weights, [k])), [3]), scores(model, input, target)]);
    const [raw, sv] = await Promise.all([mapT.data(), base.data()]);
    mapT.dispose();
    base.dispose();
    return {
      method: 'scorecam',
      layer,
      height: h,
      width: w,
      data: reluMaxNormalise(raw),
      signed: false,
      classIndex: target.classIndex,
      score: target.score,
      scoreValue: sv[0],
      details: { channels: k, batches: plan.length, batch },
    };
  } finally {
    A.dispose();
    At.dispose();
  }
}
