/** Normalisation layers: BatchNormalization (inference form) and LayerNormalization. */
import * as ops from '../../engine/ops/index.ts';
import { defineLayer } from './layer_definition.ts';
import { formatShape, known, resolveAxis, single } from './shape_utils.ts';

/** `BatchNormalization` at inference: uses the moving statistics. */
export interface BatchNormalizationConfig {
  /** Normalised axis, as written (-1 or 3 = channels; lists of one axis are unwrapped). */
  axis: number;
  epsilon: number;
  momentum: number;
  /** Whether `beta` exists. */
  center: boolean;
  /** Whether `gamma` exists. */
  scale: boolean;
}

defineLayer<BatchNormalizationConfig>({
  className: 'BatchNormalization',
  config(r) {
    if (r.has('mode') && r.get('mode') !== 0) r.fail(`Keras 1 mode ${String(r.get('mode'))} is not supported (only 0)`);
    if (r.bool('renorm', false)) r.fail('renorm=True is not supported');
    return {
      axis: r.axis('axis', -1),
      epsilon: r.number('epsilon', 1e-3, { min: 0 }),
      momentum: r.number('momentum', 0.99),
      center: r.bool('center', true),
      scale: r.bool('scale', true),
    };
  },
  outputShape: (_c, inputs, ctx) => [...single(inputs, ctx)],
  weights(c, inputs, ctx) {
    const x = inputs[0];
    const axis = resolveAxis(c.axis, x.length, ctx);
    if (axis !== x.length - 1) ctx.fail(`only the last (channels) axis can be normalised, got axis ${c.axis} for ${formatShape(x)}`);
    const n = known(x[axis], 'normalised axis', ctx);
    const decls = [];
    if (c.scale) decls.push({ role: 'gamma', shape: [n], init: 'gamma' as const });
    if (c.center) decls.push({ role: 'beta', shape: [n], init: 'beta' as const });
    decls.push({ role: 'moving_mean', shape: [n], init: 'mean' as const, nonTrainable: true });
    decls.push({ role: 'moving_variance', shape: [n], init: 'variance' as const, nonTrainable: true });
    return decls;
  },
  build(c, ctx) {
    // y = gamma (x - mean) / sqrt(var + eps) + beta, folded on the host into y = x * scale + shift
    const mean = ctx.host('moving_mean')!.values;
    const variance = ctx.host('moving_variance')!.values;
    const gamma = c.scale ? ctx.host('gamma')!.values : undefined;
    const beta = c.center ? ctx.host('beta')!.values : undefined;
    const n = mean.length;
    const scale = new Float32Array(n);
    const shift = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      scale[i] = (gamma ? gamma[i] : 1) / Math.sqrt(variance[i] + c.epsilon);
      shift[i] = (beta ? beta[i] : 0) - mean[i] * scale[i];
    }
    const s = ctx.upload(scale, [n]);
    const b = ctx.upload(shift, [n]);
    return (xs) => ({ out: ops.biasAdd(ops.mul(xs[0], s), b) });
  },
});

export interface LayerNormalizationConfig {
  /** The normalised axes, as written (negative counts from the end). */
  axis: number[];
  epsilon: number;
  center: boolean;
  scale: boolean;
}

defineLayer<LayerNormalizationConfig>({
  className: 'LayerNormalization',
  config(r) {
    if (r.bool('rms_scaling', false)) r.fail('rms_scaling=True is not supported');
    return { axis: r.numbers('axis').map((a) => Math.trunc(a)), epsilon: r.number('epsilon', 1e-3, { min: 0 }), center: r.bool('center', true), scale: r.bool('scale', true) };
  },
  outputShape: (_c, inputs, ctx) => [...single(inputs, ctx)],
  weights(c, inputs, ctx) {
    const x = inputs[0];
    const shape = c.axis.map((a) => known(x[resolveAxis(a, x.length, ctx)], `normalised axis ${a}`, ctx));
    const decls = [];
    if (c.scale) decls.push({ role: 'gamma', shape, init: 'gamma' as const });
    if (c.center) decls.push({ role: 'beta', shape, init: 'beta' as const });
    return decls;
  },
  build(c, ctx) {
    const rank = ctx.inputShapes[0].length;
    const axes = c.axis.map((a) => (a < 0 ? a + rank : a)).sort((a, b) => a - b);
    // gamma and beta broadcast along the normalised axes only
    const bshape = Array.from({ length: rank }, (_, i) => (axes.includes(i) ? (ctx.inputShapes[0][i] as number) : 1));
    const gamma = c.scale ? ops.reshape(ctx.tensor('gamma'), bshape) : undefined;
    const beta = c.center ? ops.reshape(ctx.tensor('beta'), bshape) : undefined;
    return (xs) => {
      const x = xs[0];
      const m = ops.mean(x, axes, true);
      const d = ops.sub(x, m);
      const v = ops.mean(ops.square(d), axes, true);
      let y = ops.div(d, ops.sqrt(ops.add(v, c.epsilon)));
      if (gamma) y = ops.mul(y, gamma);
      if (beta) y = ops.add(y, beta);
      return { out: y };
    };
  },
});
