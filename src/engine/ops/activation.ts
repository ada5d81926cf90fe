import { engine } from '../engine.ts';
import { shapeString } from '../shape.ts';
import type { Tensor } from '../tensor.ts';
import { add, erf, maximum, minimum, mul, relu, sub, neg, square, tanh } from './elementwise.ts';

/** Softmax over the last axis, computed stably (max subtracted). */
export function softmax(x: Tensor): Tensor {
  if (x.rank < 1) throw new Error('softmax: needs at least one axis');
  return engine.runOp('softmax', { x });
}

/** Adds a per-channel bias (last axis). */
export function biasAdd(x: Tensor, bias: Tensor): Tensor {
  if (bias.rank !== 1 || bias.shape[0] !== x.shape[x.rank - 1]) {
    throw new Error(`biasAdd: bias ${shapeString(bias.shape)} does not match the last axis of ${shapeString(x.shape)}`);
  }
  return engine.runOp('biasAdd', { x, bias });
}

/** max(x, alpha*x) for 0 <= alpha <= 1: a composition, no gradient rule of its own. */
export function leakyRelu(x: Tensor, alpha = 0.3): Tensor {
  return engine.tidy(() => (alpha <= 1 ? maximum(x, mul(x, alpha)) : minimum(x, mul(x, alpha))));
}

/** relu(x) - alpha * relu(-x) with a learned alpha (broadcast over x). */
export function prelu(x: Tensor, alpha: Tensor): Tensor {
  return engine.tidy(() => sub(relu(x), mul(alpha, relu(neg(x)))));
}


/**
 * GELU, x * Phi(x) (Keras's gelu). Exact: 0.5 x (1 + erf(x / sqrt(2))); with `approximate`,
 * the tanh form 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). A composition of erf (or tanh),
 * mul and add: no gradient rule of its own.
 */
export function gelu(x: Tensor, approximate = false): Tensor {
  return engine.tidy(() => {
    const inner = approximate ? tanh(mul(add(x, mul(mul(square(x), x), 0.044715)), Math.sqrt(2 / Math.PI))) : erf(mul(x, Math.SQRT1_2));
    return mul(mul(x, 0.5), add(inner, 1));
  });
}
