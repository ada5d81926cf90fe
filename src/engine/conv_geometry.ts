import { type Shape, shapeString } from './shape.ts';

export type Padding = 'valid' | 'same';
export type Pair = [number, number];

/** Everything a conv2d or pooling kernel needs to know about where windows fall (NHWC). */
export interface WindowGeometry {
  batch: number;
  inH: number;
  inW: number;
  inC: number;
  outH: number;
  outW: number;
  /** Output channels (conv) or inC (pooling). */
  outC: number;
  kH: number;
  kW: number;
  strideH: number;
  strideW: number;
  dilH: number;
  dilW: number;
  padTop: number;
  padLeft: number;
}

export function pair(v: number | readonly number[] | undefined, dflt: number, what: string, op: string): Pair {
  if (v === undefined) return [dflt, dflt];
  const p: Pair = typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if (!p.every((x) => Number.isInteger(x) && x >= 1)) throw new Error(`${op}: ${what} must be positive integers, got ${JSON.stringify(v)}`);
  return p;
}

/** One spatial axis, with TensorFlow's rules for 'same' (extra padding goes after). */
function axis(inSize: number, k: number, stride: number, dil: number, padding: Padding): { out: number; padBefore: number } {
  const effK = (k - 1) * dil + 1;
  if (padding === 'valid') return { out: Math.max(0, Math.floor((inSize - effK) / stride) + 1), padBefore: 0 };
  const out = Math.ceil(inSize / stride);
  const total = Math.max(0, (out - 1) * stride + effK - inSize);
  return { out, padBefore: Math.floor(total / 2) };
}

export function windowGeometry(
  xShape: Shape,
  kernel: Pair,
  outC: number | undefined,
  strides: Pair,
  padding: Padding,
  dilations: Pair,
  op: string,
): WindowGeometry {
  if (xShape.length !== 4) throw new Error(`${op}: input must be NHWC (rank 4), got shape ${shapeString(xShape)}`);
  if (padding !== 'valid' && padding !== 'same') throw new Error(`${op}: padding must be 'valid' or 'same', got '${padding}'`);
  const [batch, inH, inW, inC] = xShape;
  const h = axis(inH, kernel[0], strides[0], dilations[0], padding);
  const w = axis(inW, kernel[1], strides[1], dilations[1], padding);
  if (h.out <= 0 || w.out <= 0) {
    throw new Error(`${op}: a ${kernel[0]}x${kernel[1]} window (dilation ${dilations.join('x')}) does not fit input ${shapeString(xShape)} with '${padding}' padding`);
  }
  return {
    batch, inH, inW, inC, outH: h.out, outW: w.out, outC: outC ?? inC,
    kH: kernel[0], kW: kernel[1], strideH: strides[0], strideW: strides[1],
    dilH: dilations[0], dilW: dilations[1], padTop: h.padBefore, padLeft: w.padBefore,
  };
}

/** Attributes every conv-like op carries. */
export interface ConvAttrs {
  strides: Pair;
  padding: Padding;
  dilations: Pair;
}

export function convGeometry(xShape: Shape, filterShape: Shape, a: ConvAttrs, op: string): WindowGeometry {
  if (filterShape.length !== 4) throw new Error(`${op}: filter must be HWIO (rank 4), got shape ${shapeString(filterShape)}`);
  if (xShape.length === 4 && filterShape[2] !== xShape[3]) {
    throw new Error(`${op}: input ${shapeString(xShape)} has ${xShape[3]} channels but filter ${shapeString(filterShape)} expects ${filterShape[2]}`);
  }
  return windowGeometry(xShape, [filterShape[0], filterShape[1]], filterShape[3], a.strides, a.padding, a.dilations, op);
}

export interface PoolAttrs {
  poolSize: Pair;
  strides: Pair;
  padding: Padding;
}

export function poolGeometry(xShape: Shape, a: PoolAttrs, op: string): WindowGeometry {
  return windowGeometry(xShape, a.poolSize, undefined, a.strides, a.padding, [1, 1], op);
}

/** A depthwise convolution's geometry: outC = inC * multiplier, output channel c * multiplier + m. */
export interface DepthwiseGeometry extends WindowGeometry {
  multiplier: number;
}

/** Geometry of a depthwise convolution of x (NHWC) by a [kH, kW, C, M] filter, padded as conv2d. */
export function depthwiseGeometry(xShape: Shape, filterShape: Shape, a: ConvAttrs, op: string): DepthwiseGeometry {
  if (filterShape.length !== 4) throw new Error(`${op}: filter must be [kH, kW, C, M] (rank 4), got shape ${shapeString(filterShape)}`);
  const g = convGeometry(xShape, filterShape, a, op);
  return { ...g, outC: g.inC * filterShape[3], multiplier: filterShape[3] };
}
