/**
 * Ablation-CAM (Desai & Ramaswamy 2020, eq. 3-4): the layer's output A is computed
 * once; for each channel k, the rest of the network runs on A with channel k set to
 * zero, giving the class score y_k; the channel's weight is the relative drop
 * w_k = (y - y_k) / y, and map = relu(sum_k w_k A^k) at the layer's grid, divided by
 * its maximum.
 *
 * "The rest of the network" is a second Model: the layers downstream of the chosen one,
 * fed from an input layer that takes its place (same names, same weights). The ablated
 * copies of A go through it `batch` at a time, each batch one GPU pass.
 */
import { engine } from '../../engine/engine.ts';
import * as ops from '../../engine/ops/index.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { Model } from '../../models/model.ts';
import type { LayerSpec, ModelSpec, WeightArray } from '../../models/keras/spec.ts';
import { AttributionError, batches, camLayer, checkCount, checkSingleImage, DEFAULT_BATCH, reluMaxNormalise, resolveTarget, scores, type MapResult } from './common.ts';
import type { CamOptions } from './cam.ts';
import type { BatchedOptions } from './score_cam.ts';

/**
 * The part of `model` after `layer`, as a model whose input is that layer's output.
 * Every path from the model's input to its output must pass through the layer.
 */
export function headModel(model: Model, weights: Map<string, WeightArray[]>, layer: string): Model {
  const name = model.resolve(layer);
  const spec = model.spec;
  const L = model.layer(name);
  if (L.channelsFirst) throw new AttributionError(`Ablation-CAM: layer '${name}' is channels-first; pick a channels-last layer`);
  const out = spec.outputs[0];
  const byName = new Map(spec.layers.map((l) => [l.name, l]));
  // the layers between `name` (exclusive) and the output (inclusive)
  const needed = new Set<string>();
  const visit = (n: string) => {
    if (n === name || needed.has(n)) return;
    needed.add(n);
    const l = byName.get(n)!;
    if (l.className === 'InputLayer' && l.inbound.length === 0) {
      throw new AttributionError(`Ablation-CAM: the output '${out}' can be reached from the input without passing through '${name}', so the rest of the network cannot run from that layer alone`);
    }
    for (const i of l.inbound) visit(i);
  };
  visit(out);
  if (out === name) throw new AttributionError(`Ablation-CAM: layer '${name}' is the output itself`);
  const keras = model.layerInfo(name).outputShape;
  const input: LayerSpec = { name, className: 'InputLayer', config: { batch_input_shape: [null, ...keras.slice(1)] }, inbound: [], trainable: false };
  const head: ModelSpec = {
    name: `${spec.name}_after_${name}`,
    kind: 'functional',
    layers: [input, ...spec.layers.filter((l) => needed.has(l.name))],
    inputs: [name],
    outputs: [out],
    inputShape: [null, ...keras.slice(1)],
  };
  return new Model(head, weights);
}

export interface AblationOptions extends CamOptions, BatchedOptions {
  /** The model's weights as read from its file (ReadModel.weights): the head model is built from them. */
  weights: Map<string, WeightArray[]>;
}

export async function ablationCam(model: Model, input: Tensor, o: AblationOptions): Promise<MapResult> {
  checkSingleImage(input, 'Ablation-CAM');
  const { layer, shape } = camLayer(model, 'Ablation-CAM', o.layer);
  const batch = checkCount(o.batch ?? DEFAULT_BATCH, '--batch', 1);
  if (!o.weights) throw new Error('ablationCam: needs the model weights (options.weights) to build the rest of the network');
  const target = await resolveTarget(model, input, o);
  const [h, w, k] = shape;
  const head = headModel(model, o.weights, layer);
  const A = engine.tidy(() => model.run(input, [layer])[0]);
  try {
    const baseT = scores(head, A, target);
    const y = (await baseT.data())[0];
    baseT.dispose();
    if (y === 0) throw new AttributionError(`Ablation-CAM: the class score is 0, so the relative drop (y - y_k) / y of each channel is undefined; try --score logit or another class`);
    const ablated = new Float32Array(k);
    const plan = batches(k, batch);
    for (const [i, b] of plan.entries()) {
      const keepMask = new Float32Array(b.size * k).fill(1);
      for (let j = 0; j < b.size; j++) keepMask[j * k + b.start + j] = 0;
      const s = engine.tidy(() => scores(head, ops.mul(A, ops.tensor(keepMask, [b.size, 1, 1, k])), target));
      ablated.set(await s.data(), b.start);
      s.dispose();
      o.onBatch?.(i + 1, plan.length);
    }
    const wts = ablated.map((yk) => (y - yk) / y);
    const mapT = engine.tidy(() => ops.sum(ops.mul(A, ops.tensor(wts, [k])), [3]));
    const raw = await mapT.data();
    mapT.dispose();
    return {
      method: 'ablationcam',
      layer,
      height: h,
      width: w,
      data: reluMaxNormalise(raw),
      signed: false,
      classIndex: target.classIndex,
      score: target.score,
      scoreValue: y,
      details: { channels: k, batches: plan.length, batch },
    };
  } finally {
    A.dispose();
    head.dispose();
  }
}
