import * as ops from '../../engine/ops/index.ts';
import type { Tensor } from '../../engine/tensor.ts';

/**
 * Keras activation functions as compositions of engine ops (so autodiff needs no
 * new rules). Constants and formulas are Keras's; where Keras changed a
 * definition between versions the config reader picks the name
 * (`hard_sigmoid` is Keras 2's clip(0.2 x + 0.5, 0, 1), `hard_sigmoid_v3`
 * Keras 3's relu6(x + 3) / 6).
 */
const SELU_ALPHA = 1.6732632423543772;
const SELU_SCALE = 1.0507009873554805;

/** x > 0 ? x : alpha (exp(x) - 1), with exp taken of min(x, 0) so large x cannot overflow. */
export function elu(x: Tensor, alpha = 1): Tensor {
  return ops.where(ops.greater(x, 0), x, ops.mul(ops.sub(ops.exp(ops.minimum(x, 0)), 1), alpha));
}

/** log(1 + exp(x)), computed as max(x, 0) + log(1 + exp(-|x|)) so large x does not overflow. */
const softplus = (x: Tensor) => ops.add(ops.relu(x), ops.log(ops.add(ops.exp(ops.neg(ops.abs(x))), 1)));

/** relu6(x + 3) / 6. */
const hardSigmoidV3 = (x: Tensor) => ops.div(ops.clip(ops.add(x, 3), 0, 6), 6);

export const ACTIVATIONS = {
  linear: (x: Tensor) => x,
  relu: ops.relu,
  relu6: (x: Tensor) => ops.clip(x, 0, 6),
  sigmoid: ops.sigmoid,
  hard_sigmoid: (x: Tensor) => ops.clip(ops.add(ops.mul(x, 0.2), 0.5), 0, 1),
  hard_sigmoid_v3: hardSigmoidV3,
  // x * relu6(x + 3) / 6 (MobileNetV3; Keras 3 calls it hard_silu)
  hard_swish: (x: Tensor) => ops.mul(x, hardSigmoidV3(x)),
  softmax: (x: Tensor) => ops.softmax(x),
  log_softmax: (x: Tensor) => ops.log(ops.softmax(x)),
  tanh: ops.tanh,
  elu: (x: Tensor) => elu(x, 1),
  selu: (x: Tensor) => ops.mul(elu(x, SELU_ALPHA), SELU_SCALE),
  softplus,
  softsign: (x: Tensor) => ops.div(x, ops.add(ops.abs(x), 1)),
  swish: (x: Tensor) => ops.mul(x, ops.sigmoid(x)),
  silu: (x: Tensor) => ops.mul(x, ops.sigmoid(x)),
  // x tanh(softplus(x))
  mish: (x: Tensor) => ops.mul(x, ops.tanh(softplus(x))),
  leaky_relu: (x: Tensor) => ops.leakyRelu(x, 0.2),
  exponential: ops.exp,
  // Keras's default gelu is the exact one: 0.5 x (1 + erf(x / sqrt 2))
  gelu: (x: Tensor) => ops.gelu(x),
} satisfies Record<string, (x: Tensor) => Tensor>;

export type ActivationName = keyof typeof ACTIVATIONS;

/** Every activation name a config may use (after normalisation). */
export const ACTIVATION_NAMES = Object.keys(ACTIVATIONS) as ActivationName[];

export function activationFunction(name: ActivationName): (x: Tensor) => Tensor {
  return ACTIVATIONS[name];
}
