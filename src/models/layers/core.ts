/** Core layers: the input, Dense, activations by name, dropout-like identities, Flatten, Reshape, Permute. */
import * as ops from '../../engine/ops/index.ts';
import type { Shape } from '../keras/spec.ts';
import { activationFunction, type ActivationName } from './activation_functions.ts';
import { defineLayer, type LayerCall } from './layer_definition.ts';
import { formatShape, known, product, single } from './shape_utils.ts';

export interface InputLayerConfig {
  /** Full input shape, batch first and always `null`, e.g. `[null, 150, 150, 3]`. */
  batch_input_shape: Shape;
}

defineLayer<InputLayerConfig>({
  className: 'InputLayer',
  kind: 'input',
  arity: 'any',
  config(r) {
    let s: Shape | undefined;
    if (r.has('batch_input_shape')) s = r.shape('batch_input_shape');
    else if (r.has('batch_shape')) s = r.shape('batch_shape');
    else if (r.has('input_shape')) s = [null, ...r.shape('input_shape')];
    else if (r.has('shape')) s = [null, ...r.shape('shape')];
    if (!s) return r.fail('declares no input shape');
    return { batch_input_shape: [null, ...s.slice(1)] };
  },
  outputShape: (c) => [...c.batch_input_shape],
  build: () => (xs) => ({ out: xs[0] }),
});

export interface DenseConfig {
  /** Output width (Keras 1 `output_dim`). */
  units: number;
  activation: ActivationName;
  use_bias: boolean;
}

defineLayer<DenseConfig>({
  className: 'Dense',
  config: (r) => ({
    units: r.positiveInt(r.pick('units', 'output_dim') ?? 'units'),
    activation: r.activation(),
    use_bias: r.bool(r.pick('use_bias', 'bias') ?? 'use_bias', true),
  }),
  outputShape(c, inputs, ctx) {
    const x = single(inputs, ctx);
    if (x.length < 2 || x[x.length - 1] === null) ctx.fail(`needs a known last input dimension, got ${formatShape(x)}`);
    return [...x.slice(0, -1), c.units];
  },
  weights(c, inputs, ctx) {
    const cin = known(inputs[0][inputs[0].length - 1], 'input width', ctx);
    const w = [{ role: 'kernel', shape: [cin, c.units], init: 'he' as const }];
    return c.use_bias ? [...w, { role: 'bias', shape: [c.units], init: 'small' as const }] : w;
  },
  hasPreActivation: (c) => c.activation !== 'linear',
  build(c, ctx) {
    const act = activationFunction(c.activation);
    const kernel = ctx.tensor('kernel');
    const bias = c.use_bias ? ctx.tensor('bias') : undefined;
    return (xs) => {
      const x = xs[0];
      // Keras applies Dense to the last axis of any input
      const flat = x.rank === 2 ? x : ops.reshape(x, [x.size / x.shape[x.rank - 1], x.shape[x.rank - 1]]);
      let y = ops.matmul(flat, kernel);
      if (bias) y = ops.biasAdd(y, bias);
      if (x.rank !== 2) y = ops.reshape(y, [...x.shape.slice(0, -1), c.units]);
      return c.activation === 'linear' ? { out: y } : { out: act(y), pre: y };
    };
  },
});

export interface ActivationConfig {
  activation: ActivationName;
}

defineLayer<ActivationConfig>({
  className: 'Activation',
  config: (r) => ({ activation: r.activation() }),
  outputShape: (_c, inputs, ctx) => [...single(inputs, ctx)],
  build(c) {
    const act = activationFunction(c.activation);
    return (xs) => ({ out: act(xs[0]) });
  },
});

/** Layers that only act while training: the identity at inference. */
const identity: LayerCall = (xs) => ({ out: xs[0] });

export interface DropoutConfig {
  /** Fraction dropped during training (Keras 1 `p`). */
  rate: number;
}

for (const className of ['Dropout', 'SpatialDropout2D', 'SpatialDropout1D', 'SpatialDropout3D', 'AlphaDropout', 'GaussianDropout']) {
  defineLayer<DropoutConfig>({
    className,
    identityAtInference: true,
    config(r) {
      if (className === 'SpatialDropout2D') r.dataFormat();
      return { rate: r.number(r.pick('rate', 'p') ?? 'rate', 0, { min: 0, max: 1 }) };
    },
    outputShape: (_c, inputs, ctx) => [...single(inputs, ctx)],
    build: () => identity,
  });
}

/** Noise, regularisation and augmentation layers: no config that matters at inference. */
const INFERENCE_IDENTITIES = [
  'GaussianNoise',
  'ActivityRegularization',
  'RandomFlip',
  'RandomRotation',
  'RandomZoom',
  'RandomTranslation',
  'RandomContrast',
  'RandomBrightness',
  'RandomHeight',
  'RandomWidth',
  'RandomColorJitter',
  'RandomGrayscale',
  'RandomHue',
  'RandomSaturation',
  'RandomSharpness',
  'RandomShear',
  'RandomPosterization',
  'RandomInvert',
  'RandomColorDegeneration',
  'RandomErasing',
  'RandomGaussianBlur',
  'RandomPerspective',
];
for (const className of INFERENCE_IDENTITIES) {
  defineLayer<Record<string, never>>({
    className,
    identityAtInference: true,
    config: () => ({}),
    outputShape: (_c, inputs, ctx) => [...single(inputs, ctx)],
    build: () => identity,
  });
}

export interface FlattenConfig {
  /**
   * Set (true) for `data_format: 'channels_first'`: Keras then moves axis 1 last before
   * flattening (keras.layers.Flatten: permutation [0, 2, ..., rank - 1, 1], "switch to
   * channels-last"), so that the flattened order is (rows, cols, channels) whatever the
   * data format. A 4-D input of such a layer is held channels-last by the model (which is
   * that permutation already); other ranks are permuted here.
   */
  channels_first?: boolean;
}

defineLayer<FlattenConfig>({
  className: 'Flatten',
  config: (r) => (r.dataFormat() === 'channels_first' ? { channels_first: true } : {}),
  outputShape(_c, inputs, ctx) {
    const x = single(inputs, ctx);
    return [x[0], product(x.slice(1))];
  },
  build: (c) => (xs) => {
    const x = xs[0];
    // (an earlier version transposed the held tensor to NCHW here: the opposite of Keras's order)
    if (!c.channels_first || x.rank <= 2 || x.rank === 4) return { out: ops.flatten(x) };
    return { out: ops.flatten(ops.transpose(x, [0, ...Array.from({ length: x.rank - 2 }, (_, i) => i + 2), 1])) };
  },
});

export interface ReshapeConfig {
  /** Target shape without the batch axis; one entry may be -1. */
  target_shape: number[];
}

function reshapeTarget(target: number[], x: Shape, fail: (m: string) => never): Shape {
  const total = product(x.slice(1));
  const t: Shape = [...target];
  const unknown = target.indexOf(-1);
  if (target.filter((d) => d === -1).length > 1) fail(`target_shape ${JSON.stringify(target)} has more than one -1`);
  if (unknown >= 0) {
    const knownPart = target.reduce((a, d, i) => (i === unknown ? a : a * d), 1);
    if (total === null) t[unknown] = null;
    else {
      if (knownPart === 0 || total % knownPart !== 0) fail(`cannot reshape ${formatShape(x)} to ${JSON.stringify(target)}`);
      t[unknown] = total / knownPart;
    }
  } else if (total !== null && total !== product(t)) {
    fail(`cannot reshape ${formatShape(x)} (${total} values) to ${JSON.stringify(target)} (${product(t)} values)`);
  }
  return [x[0], ...t];
}

defineLayer<ReshapeConfig>({
  className: 'Reshape',
  config(r) {
    const t = r.numbers('target_shape');
    if (!t.every((d) => Number.isInteger(d) && (d > 0 || d === -1))) r.fail(`target_shape must hold positive integers (and at most one -1), got ${JSON.stringify(t)}`);
    return { target_shape: t };
  },
  outputShape: (c, inputs, ctx) => reshapeTarget(c.target_shape, single(inputs, ctx), ctx.fail),
  build: (c, ctx) => {
    const target = ctx.outputShape.slice(1);
    return (xs) => {
      const x = xs[0];
      const t = target.includes(null) ? reshapeTarget(c.target_shape, [...x.shape], (m) => { throw new Error(`${ctx.where}: ${m}`); }).slice(1) : target;
      return { out: ops.reshape(x, [x.shape[0], ...(t as number[])]) };
    };
  },
});

export interface PermuteConfig {
  /** The permutation of the non-batch axes, 1-based (Keras's `dims`). */
  dims: number[];
}

defineLayer<PermuteConfig>({
  className: 'Permute',
  config(r) {
    const dims = r.numbers('dims');
    const sorted = [...dims].sort((a, b) => a - b);
    if (!sorted.every((d, i) => d === i + 1)) r.fail(`dims must be a permutation of 1..${dims.length}, got ${JSON.stringify(dims)}`);
    return { dims };
  },
  outputShape(c, inputs, ctx) {
    const x = single(inputs, ctx);
    if (x.length !== c.dims.length + 1) ctx.fail(`dims ${JSON.stringify(c.dims)} do not match the input ${formatShape(x)}`);
    return [x[0], ...c.dims.map((d) => x[d])];
  },
  build: (c) => (xs) => ({ out: ops.transpose(xs[0], [0, ...c.dims]) }),
});
