/** Preprocessing layers that run at inference: Rescaling, Normalization, Resizing, CenterCrop, AutoContrast. */
import * as ops from '../../engine/ops/index.ts';
import type { Tensor } from '../../engine/tensor.ts';
import type { Shape } from '../keras/spec.ts';
import { defineLayer } from './layer_definition.ts';
import { formatShape, image, known, resolveAxis, single } from './shape_utils.ts';

export interface RescalingConfig {
  /** Multiplier: one number, or one per channel. */
  scale: number[];
  /** Added after scaling: one number, or one per channel. */
  offset: number[];
}

defineLayer<RescalingConfig>({
  className: 'Rescaling',
  config: (r) => ({ scale: r.numbers('scale'), offset: r.has('offset') ? r.numbers('offset') : [0] }),
  outputShape: (_c, inputs, ctx) => [...single(inputs, ctx)],
  build(c, ctx) {
    const scale = c.scale.length === 1 ? c.scale[0] : ctx.upload(Float32Array.from(c.scale), [c.scale.length]);
    const offset = c.offset.length === 1 ? c.offset[0] : ctx.upload(Float32Array.from(c.offset), [c.offset.length]);
    return (xs) => {
      let y = ops.mul(xs[0], scale);
      if (offset !== 0) y = ops.add(y, offset);
      return { out: y };
    };
  },
});

/** `Normalization`: (x - mean) / max(sqrt(variance), 1e-7), statistics from the config or the stored weights. */
export interface NormalizationConfig {
  axis: number;
  /** From the config, or null when the statistics are stored as weights (an adapted layer). */
  mean: number[] | null;
  variance: number[] | null;
  /** Keras >= 2.10: undo the normalisation instead. */
  invert: boolean;
}

defineLayer<NormalizationConfig>({
  className: 'Normalization',
  config(r) {
    const axis = r.axis('axis', -1);
    const mean = r.has('mean') ? r.numbers('mean') : null;
    const variance = r.has('variance') ? r.numbers('variance') : null;
    if ((mean === null) !== (variance === null)) r.fail('gives only one of mean and variance');
    return { axis, mean, variance, invert: r.bool('invert', false) };
  },
  outputShape(c, inputs, ctx) {
    const x = single(inputs, ctx);
    if (resolveAxis(c.axis, x.length, ctx) !== x.length - 1) ctx.fail(`only the last axis is supported, got axis ${c.axis} for ${formatShape(x)}`);
    return [...x];
  },
  weights(c, inputs, ctx) {
    if (c.mean !== null) return [];
    const n = known(inputs[0][inputs[0].length - 1], 'normalised axis', ctx);
    return [
      { role: 'mean', shape: [n], init: 'mean', nonTrainable: true },
      { role: 'variance', shape: [n], init: 'variance', nonTrainable: true },
      { role: 'count', shape: [], init: 'count', nonTrainable: true },
    ];
  },
  build(c, ctx) {
    const n = ctx.inputShapes[0][ctx.inputShapes[0].length - 1] as number;
    const fit = (v: Float32Array | number[]) => (v.length === 1 ? Float32Array.from({ length: n }, () => v[0]) : Float32Array.from(v));
    const mean = fit(c.mean ?? ctx.host('mean')!.values);
    const variance = fit(c.variance ?? ctx.host('variance')!.values);
    if (mean.length !== n) throw new Error(`${ctx.where}: ${mean.length} means for ${n} channels`);
    const std = variance.map((v) => Math.max(Math.sqrt(v), 1e-7));
    const m = ctx.upload(mean, [n]);
    const s = ctx.upload(std, [n]);
    return (xs) => ({ out: c.invert ? ops.add(ops.mul(xs[0], s), m) : ops.div(ops.sub(xs[0], m), s) });
  },
});

type Interpolation = 'bilinear' | 'nearest';

/** tf.image.resize (half-pixel grid, no antialiasing) to [h, w]. */
function resize(x: Tensor, h: number, w: number, how: Interpolation): Tensor {
  if (x.shape[1] === h && x.shape[2] === w) return x;
  return how === 'bilinear' ? ops.resizeBilinear(x, [h, w], { halfPixelCenters: true }) : ops.resizeNearest(x, [h, w], { halfPixelCenters: true });
}

/** The centred window of the target's aspect ratio (Keras's smart_resize crop). */
function cropToAspect(x: Tensor, h: number, w: number): Tensor {
  const [, ih, iw] = x.shape;
  const ch = Math.min(ih, Math.trunc((iw * h) / w));
  const cw = Math.min(iw, Math.trunc((ih * w) / h));
  const top = Math.trunc((ih - ch) / 2);
  const left = Math.trunc((iw - cw) / 2);
  return ch === ih && cw === iw ? x : ops.slice(x, [0, top, left, 0], [-1, ch, cw, -1]);
}

export interface ResizingConfig {
  height: number;
  width: number;
  interpolation: Interpolation;
  crop_to_aspect_ratio: boolean;
}

defineLayer<ResizingConfig>({
  className: 'Resizing',
  config(r) {
    if (r.bool('pad_to_aspect_ratio', false)) r.fail('pad_to_aspect_ratio=True is not supported');
    return {
      height: r.positiveInt('height'),
      width: r.positiveInt('width'),
      interpolation: r.oneOf('interpolation', ['bilinear', 'nearest'] as const, 'bilinear'),
      crop_to_aspect_ratio: r.bool('crop_to_aspect_ratio', false),
    };
  },
  outputShape: (c, inputs, ctx): Shape => {
    const x = image(inputs, ctx);
    return [x[0], c.height, c.width, x[3]];
  },
  build: (c) => (xs) => ({ out: resize(c.crop_to_aspect_ratio ? cropToAspect(xs[0], c.height, c.width) : xs[0], c.height, c.width, c.interpolation) }),
});

export interface CenterCropConfig {
  height: number;
  width: number;
}

defineLayer<CenterCropConfig>({
  className: 'CenterCrop',
  config: (r) => ({ height: r.positiveInt('height'), width: r.positiveInt('width') }),
  outputShape: (c, inputs, ctx): Shape => {
    const x = image(inputs, ctx);
    return [x[0], c.height, c.width, x[3]];
  },
  build: (c) => (xs) => {
    const x = xs[0];
    const [, ih, iw] = x.shape;
    if (ih >= c.height && iw >= c.width) {
      const top = Math.trunc((ih - c.height) / 2);
      const left = Math.trunc((iw - c.width) / 2);
      return { out: ops.slice(x, [0, top, left, 0], [-1, c.height, c.width, -1]) };
    }
    // smaller than the crop: Keras crops to the aspect ratio and resizes
    return { out: resize(cropToAspect(x, c.height, c.width), c.height, c.width, 'bilinear') };
  },
});

export interface AutoContrastConfig {
  /** The images' value range [low, high] (Keras sorts it; default [0, 255]). */
  value_range: [number, number];
}

/**
 * `AutoContrast` (Keras 3): not an augmentation, it runs at inference too
 * (keras.layers.AutoContrast: "This layer is active at both training and inference
 * time"). Per image and channel, the values are stretched from their min..max to the
 * whole value range: x -> 0..255 over value_range, (x - min) * 255 / (max - min),
 * clipped to 0..255, back to value_range. A flat channel (max = min, NaN in Keras) keeps
 * its input values, as Keras's NaN check does.
 */
defineLayer<AutoContrastConfig>({
  className: 'AutoContrast',
  config(r) {
    const v = r.has('value_range') ? r.numbers('value_range') : [0, 255];
    if (v.length !== 2 || v[0] === v[1]) r.fail(`value_range must be two different numbers, got ${JSON.stringify(v)}`);
    return { value_range: [Math.min(v[0], v[1]), Math.max(v[0], v[1])] };
  },
  outputShape: (_c, inputs, ctx) => [...image(inputs, ctx)],
  build: ({ value_range: [lo, hi] }) => (xs) => {
    const x = xs[0];
    const t = ops.mul(ops.sub(x, lo), 255 / (hi - lo));
    const low = ops.min(t, [1, 2], true);
    const range = ops.sub(ops.max(t, [1, 2], true), low);
    const flat = ops.lessEqual(range, 0);
    const stretched = ops.clip(ops.mul(ops.div(ops.sub(t, low), ops.add(range, flat)), 255), 0, 255);
    const back = ops.add(ops.mul(stretched, (hi - lo) / 255), lo);
    return { out: ops.where(ops.broadcastTo(flat, [...x.shape]), x, back) };
  },
});
