/** Spatial reshaping layers: ZeroPadding2D, Cropping2D, UpSampling2D. */
import * as ops from '../../engine/ops/index.ts';
import type { Tensor } from '../../engine/tensor.ts';
import type { Pair } from '../keras/spec.ts';
import type { ConfigReader } from './config_reader.ts';
import { isObject } from './config_reader.ts';
import { defineLayer } from './layer_definition.ts';
import { formatShape, image } from './shape_utils.ts';

/** [[top, bottom], [left, right]] from any form Keras wrote: n, [rows, cols], [[t, b], [l, r]], Keras 1's (t, b, l, r) or dict. */
function fourSides(r: ConfigReader, key: string, def: number): [Pair, Pair] {
  const p = r.get(key) ?? def;
  const ok = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  let out: [Pair, Pair] | undefined;
  if (ok(p)) out = [[p, p], [p, p]];
  else if (isObject(p)) {
    const g = (k: string) => p[k] ?? 0;
    const v = [g('top_pad'), g('bottom_pad'), g('left_pad'), g('right_pad')];
    if (v.every(ok)) out = [[v[0], v[1]], [v[2], v[3]]];
  } else if (Array.isArray(p) && p.length === 2 && p.every(ok)) out = [[p[0], p[0]], [p[1], p[1]]];
  else if (Array.isArray(p) && p.length === 4 && p.every(ok)) out = [[p[0], p[1]], [p[2], p[3]]];
  else if (Array.isArray(p) && p.length === 2) {
    const side = (v: unknown): Pair | undefined => (ok(v) ? [v, v] : Array.isArray(v) && v.length === 2 && v.every(ok) ? [v[0], v[1]] : undefined);
    const a = side(p[0]);
    const b = side(p[1]);
    if (a && b) out = [a, b];
  }
  if (!out) return r.fail(`bad ${key} ${JSON.stringify(p)} (non-negative integers: n, [rows, cols] or [[top, bottom], [left, right]])`);
  return out;
}

export interface ZeroPadding2DConfig {
  /** [[top, bottom], [left, right]] whatever form the file used. */
  padding: [Pair, Pair];
}

defineLayer<ZeroPadding2DConfig>({
  className: 'ZeroPadding2D',
  config(r) {
    r.dataFormat();
    return { padding: fourSides(r, 'padding', 1) };
  },
  outputShape(c, inputs, ctx) {
    const x = image(inputs, ctx);
    const [[t, b], [l, rr]] = c.padding;
    return [x[0], x[1] === null ? null : x[1] + t + b, x[2] === null ? null : x[2] + l + rr, x[3]];
  },
  build: (c) => {
    const [[t, b], [l, r]] = c.padding;
    return (xs) => ({ out: ops.pad(xs[0], [[0, 0], [t, b], [l, r], [0, 0]]) });
  },
});

export interface Cropping2DConfig {
  /** [[top, bottom], [left, right]]. */
  cropping: [Pair, Pair];
}

defineLayer<Cropping2DConfig>({
  className: 'Cropping2D',
  config(r) {
    r.dataFormat();
    return { cropping: fourSides(r, 'cropping', 0) };
  },
  outputShape(c, inputs, ctx) {
    const x = image(inputs, ctx);
    const [[t, b], [l, rr]] = c.cropping;
    const h = x[1] === null ? null : x[1] - t - b;
    const w = x[2] === null ? null : x[2] - l - rr;
    if ((h !== null && h <= 0) || (w !== null && w <= 0)) ctx.fail(`cropping ${JSON.stringify(c.cropping)} leaves nothing of ${formatShape(x)}`);
    return [x[0], h, w, x[3]];
  },
  build: (c) => {
    const [[t, b], [l, r]] = c.cropping;
    return (xs) => {
      const x = xs[0];
      return { out: ops.slice(x, [0, t, l, 0], [-1, x.shape[1] - t - b, x.shape[2] - l - r, -1]) };
    };
  },
});

/** Repeats every pixel sh x sw times (nearest-neighbour upsampling by integer factors). */
export function repeatPixels(x: Tensor, sh: number, sw: number): Tensor {
  const [b, h, w, c] = x.shape;
  const r = ops.reshape(x, [b, h, 1, w, 1, c]);
  return ops.reshape(ops.broadcastTo(r, [b, h, sh, w, sw, c]), [b, h * sh, w * sw, c]);
}

export interface UpSampling2DConfig {
  size: Pair;
  interpolation: 'nearest' | 'bilinear';
  /** Bilinear sampling grid: TF 2's tf.image.resize (true) or TF 1's resize_bilinear (false, Keras <= 2.2). */
  half_pixel_centers: boolean;
}

/**
 * Whether the Keras that wrote the file resized with TF 2's half-pixel grid: Keras >= 2.3
 * and Keras 3 do; Keras <= 2.2 (TF 1's resize_bilinear) did not. Unknown versions count as new.
 */
export function halfPixelResize(r: ConfigReader): boolean {
  const m = /^(\d+)\.(\d+)/.exec(r.ctx.kerasVersion ?? '');
  if (!m) return true;
  const [maj, min] = [Number(m[1]), Number(m[2])];
  return maj > 2 || (maj === 2 && min >= 3);
}

defineLayer<UpSampling2DConfig>({
  className: 'UpSampling2D',
  config(r) {
    r.dataFormat();
    return { size: r.pair('size', [2, 2]), interpolation: r.oneOf('interpolation', ['nearest', 'bilinear'] as const, 'nearest'), half_pixel_centers: halfPixelResize(r) };
  },
  outputShape(c, inputs, ctx) {
    const x = image(inputs, ctx);
    return [x[0], x[1] === null ? null : x[1] * c.size[0], x[2] === null ? null : x[2] * c.size[1], x[3]];
  },
  build: (c) => (xs) => {
    const x = xs[0];
    if (c.interpolation === 'nearest') return { out: repeatPixels(x, c.size[0], c.size[1]) };
    return { out: ops.resizeBilinear(x, [x.shape[1] * c.size[0], x.shape[2] * c.size[1]], { halfPixelCenters: c.half_pixel_centers }) };
  },
});
