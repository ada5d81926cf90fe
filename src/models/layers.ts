import { engine } from '../engine/engine.ts';
import * as ops from '../engine/ops/index.ts';
import type { Tensor } from '../engine/tensor.ts';
import { activation } from './activations.ts';
import type { LayerSpec, WeightArray } from './keras/spec.ts';

/** What running one layer gives: its output and, for layers with a fused activation, the value before it. */
export interface LayerResult {
  out: Tensor;
  /** Conv2D/Dense with an activation other than linear: the pre-activation tensor (logits). */
  pre?: Tensor;
}

/** A layer bound to its weights on a backend, ready to run. */
export interface RunnableLayer {
  spec: LayerSpec;
  /** The weight tensors it owns (disposed with the model). */
  weights: Tensor[];
  /** `pre`: the caller wants the pre-activation value too (so it must not be fused away). */
  apply(inputs: Tensor[], o?: { pre?: boolean }): LayerResult;
}

const channelsAxis = (axis: number, rank: number, where: string) => {
  const a = axis < 0 ? axis + rank : axis;
  if (a !== rank - 1) throw new Error(`${where}: only the channels-last axis is supported, got axis ${axis} for rank ${rank}`);
  return a;
};

function one(inputs: Tensor[], where: string): Tensor {
  if (inputs.length !== 1) throw new Error(`${where}: expects 1 input, got ${inputs.length}`);
  return inputs[0];
}

/** Turns a layer spec and its canonical weights into a runnable layer on the current backend. */
export function buildLayer(spec: LayerSpec, weights: WeightArray[]): RunnableLayer {
  const where = `layer '${spec.name}' (${spec.className})`;
  const upload = (w: WeightArray) => engine.keep(engine.fromValues(w.values, w.shape));
  const byRole = (role: string) => weights.find((w) => w.role === role);
  const owned: Tensor[] = [];
  const t = (w: WeightArray | undefined) => {
    if (!w) return undefined;
    const x = upload(w);
    owned.push(x);
    return x;
  };
  const done = (apply: (xs: Tensor[], o?: { pre?: boolean }) => LayerResult): RunnableLayer => ({ spec, weights: owned, apply });

  switch (spec.className) {
    case 'InputLayer':
      return done((xs) => ({ out: one(xs, where) }));
    case 'Conv2D': {
      const c = spec.config;
      const act = activation(c.activation, where); // before any upload: an unsupported activation leaks nothing
      const kernel = t(byRole('kernel') ?? weights[0])!;
      const bias = c.use_bias ? t(byRole('bias') ?? weights[1]) : undefined;
      const conv = { strides: c.strides, padding: c.padding, dilations: c.dilation_rate };
      return done((xs, o) => {
        const x = one(xs, where);
        // bias and ReLU in the convolution's kernel, unless the pre-activation value is asked for
        if (bias && (c.activation === 'linear' || (c.activation === 'relu' && !o?.pre))) {
          return { out: ops.fusedConv2d(x, kernel, bias, { ...conv, activation: c.activation }) };
        }
        let y = ops.conv2d(x, kernel, conv);
        if (bias) y = ops.biasAdd(y, bias);
        return c.activation === 'linear' ? { out: y } : { out: act(y), pre: y };
      });
    }
    case 'Dense': {
      const c = spec.config;
      const act = activation(c.activation, where);
      const kernel = t(byRole('kernel') ?? weights[0])!;
      const bias = c.use_bias ? t(byRole('bias') ?? weights[1]) : undefined;
      return done((xs) => {
        const x = one(xs, where);
        if (x.rank !== 2) throw new Error(`${where}: expects a 2-D input (batch, features), got [${x.shape.join(',')}]; add a Flatten layer`);
        let y = ops.matmul(x, kernel);
        if (bias) y = ops.biasAdd(y, bias);
        return c.activation === 'linear' ? { out: y } : { out: act(y), pre: y };
      });
    }
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      const c = spec.config;
      const pool = spec.className === 'MaxPooling2D' ? ops.maxPool : ops.avgPool;
      return done((xs) => ({ out: pool(one(xs, where), { poolSize: c.pool_size, strides: c.strides, padding: c.padding }) }));
    }
    case 'GlobalAveragePooling2D':
    case 'GlobalMaxPooling2D': {
      const reduce = spec.className === 'GlobalAveragePooling2D' ? ops.mean : ops.max;
      const keep = spec.config.keepdims;
      return done((xs) => {
        const x = one(xs, where);
        if (x.rank !== 4) throw new Error(`${where}: expects NHWC input, got [${x.shape.join(',')}]`);
        return { out: reduce(x, [1, 2], keep) };
      });
    }
    case 'Flatten':
      return done((xs) => ({ out: ops.flatten(one(xs, where)) }));
    case 'Dropout':
    case 'SpatialDropout2D':
      return done((xs) => ({ out: one(xs, where) })); // identity at inference
    case 'Activation': {
      const act = activation(spec.config.activation, where);
      return done((xs) => ({ out: act(one(xs, where)) }));
    }
    case 'ReLU': {
      const { max_value, negative_slope, threshold } = spec.config;
      return done((xs) => {
        const x = one(xs, where);
        // x >= threshold: x (clipped at max_value); below: negative_slope * (x - threshold)
        let y = negative_slope === 0 && threshold === 0 ? ops.relu(x) : ops.where(ops.greaterEqual(x, threshold), x, ops.mul(ops.sub(x, threshold), negative_slope));
        if (max_value !== null) y = ops.minimum(y, max_value);
        return { out: y };
      });
    }
    case 'LeakyReLU': {
      const alpha = spec.config.alpha;
      return done((xs) => ({ out: ops.leakyRelu(one(xs, where), alpha) }));
    }
    case 'PReLU': {
      const alpha = t(byRole('alpha') ?? weights[0])!;
      return done((xs) => ({ out: ops.prelu(one(xs, where), alpha) }));
    }
    case 'ZeroPadding2D': {
      const [[top, bottom], [left, right]] = spec.config.padding;
      return done((xs) => ({ out: ops.pad(one(xs, where), [[0, 0], [top, bottom], [left, right], [0, 0]]) }));
    }
    case 'Concatenate': {
      const axis = spec.config.axis;
      return done((xs) => ({ out: ops.concat(xs, axis < 0 ? axis + xs[0].rank : axis) }));
    }
    case 'Add':
      return done((xs) => ({ out: xs.slice(1).reduce((a, b) => ops.add(a, b), xs[0]) }));
    case 'BatchNormalization': {
      const c = spec.config;
      // Inference: y = gamma (x - mean) / sqrt(var + eps) + beta, folded on the host into y = x * scale + shift.
      const mean = byRole('moving_mean')!;
      const variance = byRole('moving_variance')!;
      const gamma = c.scale ? byRole('gamma') : undefined;
      const beta = c.center ? byRole('beta') : undefined;
      const n = mean.values.length;
      const scale = new Float32Array(n);
      const shift = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        scale[i] = (gamma ? gamma.values[i] : 1) / Math.sqrt(variance.values[i] + c.epsilon);
        shift[i] = (beta ? beta.values[i] : 0) - mean.values[i] * scale[i];
      }
      const s = t({ name: `${spec.name}/scale`, shape: [n], values: scale })!;
      const b = t({ name: `${spec.name}/shift`, shape: [n], values: shift })!;
      return done((xs) => {
        const x = one(xs, where);
        channelsAxis(c.axis, x.rank, where);
        return { out: ops.biasAdd(ops.mul(x, s), b) };
      });
    }
    case 'Reshape': {
      const target = spec.config.target_shape;
      return done((xs) => {
        const x = one(xs, where);
        return { out: ops.reshape(x, [x.shape[0], ...target]) };
      });
    }
  }
}
