/** Shape arithmetic shared by the layer families (batch first, null = unknown). */
import type { Padding, Shape } from '../keras/spec.ts';
import type { ShapeContext } from './layer_definition.ts';

/** Python's tuple repr of a shape: `(None, 148, 148, 32)`, `(None,)`. */
export function formatShape(shape: Shape): string {
  const parts = shape.map((d) => (d === null ? 'None' : String(d)));
  return parts.length === 1 ? `(${parts[0]},)` : `(${parts.join(', ')})`;
}

/** Output length of a convolution or pooling window along one axis. */
export function windowOut(size: number | null, k: number, s: number, d: number, padding: Padding): number | null {
  if (size === null) return null;
  if (padding === 'same') return Math.ceil(size / s);
  const ek = (k - 1) * d + 1;
  return Math.floor((size - ek) / s) + 1;
}

/** The one input of a single-input layer. */
export function single(inputs: Shape[], ctx: ShapeContext): Shape {
  if (inputs.length !== 1) ctx.fail(`expects one input, got ${inputs.length}`);
  return inputs[0];
}

/** The one input, which must be 4-D (batch, rows, cols, channels). */
export function image(inputs: Shape[], ctx: ShapeContext): Shape {
  const x = single(inputs, ctx);
  if (x.length !== 4) ctx.fail(`expects a 4D (batch, rows, cols, channels) input, got ${formatShape(x)}`);
  return x;
}

/** A dimension that must be known to size weights. */
export function known(d: number | null | undefined, what: string, ctx: ShapeContext): number {
  if (d === null || d === undefined) return ctx.fail(`the ${what} must be known to size the weights`);
  return d;
}

/** Product of dims, or null when any is unknown. */
export function product(dims: Shape): number | null {
  let p = 1;
  for (const d of dims) {
    if (d === null) return null;
    p *= d;
  }
  return p;
}

/** Output shape of a windowed layer (conv or pool) with `channels` outputs; refuses windows larger than the input. */
export function windowedShape(
  x: Shape,
  k: [number, number],
  s: [number, number],
  d: [number, number],
  padding: Padding,
  channels: number | null,
  ctx: ShapeContext,
): Shape {
  const h = windowOut(x[1], k[0], s[0], d[0], padding);
  const w = windowOut(x[2], k[1], s[1], d[1], padding);
  if ((h !== null && h <= 0) || (w !== null && w <= 0)) {
    ctx.fail(`input ${formatShape(x)} is too small for the ${k[0]}x${k[1]} window (output would be ${h}x${w})`);
  }
  return [x[0], h, w, channels];
}

/** NumPy broadcasting of several shapes (null dims are taken from the others). */
export function broadcastShape(inputs: Shape[], ctx: ShapeContext): Shape {
  const rank = Math.max(...inputs.map((s) => s.length));
  const out: Shape = [];
  for (let i = 0; i < rank; i++) {
    let d: number | null = 1;
    let unknown = false;
    for (const s of inputs) {
      const v = s[s.length - rank + i];
      if (v === undefined || v === 1) continue;
      if (v === null) {
        unknown = true;
        continue;
      }
      if (d !== 1 && d !== v) ctx.fail(`inputs of incompatible shapes: ${inputs.map(formatShape).join(', ')}`);
      d = v;
    }
    out.push(unknown && d === 1 ? null : d);
  }
  return out;
}

/** A negative axis counted from the end, checked against the rank. */
export function resolveAxis(axis: number, rank: number, ctx: ShapeContext, allowBatch = false): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < (allowBatch ? 0 : 1) || a >= rank) ctx.fail(`axis ${axis} is out of range for an input of rank ${rank}`);
  return a;
}
