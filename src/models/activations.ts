import * as ops from '../engine/ops/index.ts';
import type { Tensor } from '../engine/tensor.ts';
import type { ActivationName } from './keras/spec.ts';

/**
 * Keras activation functions as compositions of engine ops (so autodiff needs no
 * new rules). Constants are Keras's.
 */
const SELU_ALPHA = 1.6732632423543772;
const SELU_SCALE = 1.0507009873554805;

export const ACTIVATIONS: Record<ActivationName, ((x: Tensor) => Tensor) | null> = {
  linear: (x) => x,
  relu: ops.relu,
  relu6: (x) => ops.clip(x, 0, 6),
  sigmoid: ops.sigmoid,
  // Keras 2: clip(0.2 x + 0.5, 0, 1)
  hard_sigmoid: (x) => ops.clip(ops.add(ops.mul(x, 0.2), 0.5), 0, 1),
  softmax: ops.softmax,
  tanh: ops.tanh,
  elu: (x) => ops.where(ops.greater(x, 0), x, ops.sub(ops.exp(ops.minimum(x, 0)), 1)),
  selu: (x) => ops.mul(ops.where(ops.greater(x, 0), x, ops.mul(ops.sub(ops.exp(ops.minimum(x, 0)), 1), SELU_ALPHA)), SELU_SCALE),
  // log(1 + exp(x)) computed as max(x, 0) + log(1 + exp(-|x|)) so large x does not overflow
  softplus: (x) => ops.add(ops.relu(x), ops.log(ops.add(ops.exp(ops.neg(ops.abs(x))), 1))),
  softsign: (x) => ops.div(x, ops.add(ops.abs(x), 1)),
  swish: (x) => ops.mul(x, ops.sigmoid(x)),
  silu: (x) => ops.mul(x, ops.sigmoid(x)),
  exponential: ops.exp,
  // Keras's default gelu uses erf, which the engine does not have: refused rather than approximated.
  gelu: null,
};

export function activation(name: ActivationName, where: string): (x: Tensor) => Tensor {
  const f = ACTIVATIONS[name];
  if (!f) throw new Error(`${where}: activation '${name}' is not supported (supported: ${Object.entries(ACTIVATIONS).filter(([, v]) => v).map(([k]) => k).join(', ')})`);
  return f;
}
