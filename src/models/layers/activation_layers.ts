/** Activation layers with their own config: ReLU, LeakyReLU, PReLU, ELU, ThresholdedReLU, Softmax. */
import * as ops from '../../engine/ops/index.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { elu } from './activation_functions.ts';
import { defineLayer } from './layer_definition.ts';
import { known, resolveAxis, single } from './shape_utils.ts';
import type { Shape } from '../keras/spec.ts';

const same = (_c: unknown, inputs: Shape[], ctx: Parameters<typeof single>[1]) => [...single(inputs, ctx)];

/** `ReLU` layer (Keras >= 2.2). */
export interface ReLUConfig {
  /** Upper clip, or null for none. */
  max_value: number | null;
  /** Slope below the threshold (0 for a plain ReLU). */
  negative_slope: number;
  /** Values below this are "negative". */
  threshold: number;
}

defineLayer<ReLUConfig>({
  className: 'ReLU',
  config(r) {
    const max_value = r.optionalNumber('max_value');
    if (max_value !== null && max_value < 0) r.fail(`max_value must not be negative, got ${max_value}`);
    return { max_value, negative_slope: r.number('negative_slope', 0, { min: 0 }), threshold: r.number('threshold', 0) };
  },
  outputShape: same,
  build: ({ max_value, negative_slope, threshold }) => (xs) => {
    const x = xs[0];
    // keras.backend.relu (Keras 2) / keras.activations.relu (Keras 3), step by step: the part
    // above the threshold, x * (x > threshold) (relu(x) when the threshold is 0), is clipped to
    // [0, max_value] (so with a negative threshold, values between it and 0 become 0 when
    // max_value is set); then negative_slope * relu(threshold - x) is subtracted. (An earlier
    // version kept x between the threshold and 0, and x itself at x = threshold.)
    let y = threshold !== 0 ? ops.mul(x, ops.greater(x, threshold)) : ops.relu(x);
    if (max_value !== null) y = ops.clip(y, 0, max_value);
    if (negative_slope !== 0) y = ops.sub(y, ops.mul(ops.relu(ops.sub(threshold, x)), negative_slope));
    return { out: y };
  },
});

/** `LeakyReLU` (Keras 3's `negative_slope` is mapped to `alpha`). */
export interface LeakyReLUConfig {
  alpha: number;
}

defineLayer<LeakyReLUConfig>({
  className: 'LeakyReLU',
  config: (r) => ({ alpha: r.number(r.pick('alpha', 'negative_slope') ?? 'alpha', 0.3) }),
  outputShape: same,
  build: (c) => (xs) => ({ out: ops.leakyRelu(xs[0], c.alpha) }),
});

/** `PReLU`. */
export interface PReLUConfig {
  /** Axes (1-based, batch = 0) along which the learned slope is shared, or null. */
  shared_axes: number[] | null;
}

defineLayer<PReLUConfig>({
  className: 'PReLU',
  config(r) {
    if (!r.has('shared_axes')) return { shared_axes: null };
    const axes = r.numbers('shared_axes');
    if (!axes.every((a) => Number.isInteger(a) && a >= 1)) r.fail(`shared_axes must be positive integers, got ${JSON.stringify(axes)}`);
    return { shared_axes: axes };
  },
  outputShape: same,
  weights(c, inputs, ctx) {
    const shared = new Set(c.shared_axes ?? []);
    return [{ role: 'alpha', shape: inputs[0].slice(1).map((d, i) => (shared.has(i + 1) ? 1 : known(d, `input axis ${i + 1}`, ctx))), init: 'alpha' }];
  },
  build(_c, ctx) {
    const alpha = ctx.tensor('alpha');
    return (xs) => ({ out: ops.prelu(xs[0], alpha) });
  },
});

export interface ELUConfig {
  alpha: number;
}

defineLayer<ELUConfig>({
  className: 'ELU',
  config: (r) => ({ alpha: r.number('alpha', 1) }),
  outputShape: same,
  build: (c) => (xs) => ({ out: elu(xs[0], c.alpha) }),
});

export interface ThresholdedReLUConfig {
  theta: number;
}

defineLayer<ThresholdedReLUConfig>({
  className: 'ThresholdedReLU',
  config: (r) => ({ theta: r.number('theta', 1, { min: 0 }) }),
  outputShape: same,
  build: (c) => (xs) => ({ out: ops.mul(xs[0], ops.greater(xs[0], c.theta)) }),
});

export interface SoftmaxConfig {
  axis: number;
}

/** Softmax along any axis: moved to the last axis and back. */
function softmaxAlong(x: Tensor, axis: number): Tensor {
  const a = axis < 0 ? axis + x.rank : axis;
  if (a === x.rank - 1) return ops.softmax(x);
  const perm = [...Array(x.rank).keys()];
  [perm[a], perm[x.rank - 1]] = [perm[x.rank - 1], perm[a]];
  return ops.transpose(ops.softmax(ops.transpose(x, perm)), perm);
}

defineLayer<SoftmaxConfig>({
  className: 'Softmax',
  config: (r) => ({ axis: r.axis('axis', -1) }),
  outputShape(c, inputs, ctx) {
    const x = single(inputs, ctx);
    resolveAxis(c.axis, x.length, ctx);
    return [...x];
  },
  build: (c) => (xs) => ({ out: softmaxAlong(xs[0], c.axis) }),
});
