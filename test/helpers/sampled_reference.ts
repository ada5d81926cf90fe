import type { WindowGeometry } from '../../src/engine/conv_geometry.ts';
import { Random } from '../../src/engine/random.ts';

/**
 * Float64 reference values at sampled positions, straight from the definitions
 * (each a plain sum written here, independent of the kernels), for layers too large
 * to run whole on the reference backend inside the test time budget. Each returns
 * the value and the sum of |terms|, the scale that float32 rounding error grows with.
 */
export type Sample = { index: number; value: number; scale: number };

const idx4 = (d: number[], a: number, b: number, c: number, e: number) => ((a * d[1] + b) * d[2] + c) * d[3] + e;

export function convForwardAt(x: Float32Array, w: Float32Array, g: WindowGeometry, n: number, oy: number, ox: number, f: number): Sample {
  let v = 0;
  let s = 0;
  for (let ky = 0; ky < g.kH; ky++) {
    for (let kx = 0; kx < g.kW; kx++) {
      const iy = oy * g.strideH - g.padTop + ky * g.dilH;
      const ix = ox * g.strideW - g.padLeft + kx * g.dilW;
      if (iy < 0 || ix < 0 || iy >= g.inH || ix >= g.inW) continue;
      for (let c = 0; c < g.inC; c++) {
        const t = x[idx4([g.batch, g.inH, g.inW, g.inC], n, iy, ix, c)] * w[idx4([g.kH, g.kW, g.inC, g.outC], ky, kx, c, f)];
        v += t;
        s += Math.abs(t);
      }
    }
  }
  return { index: idx4([g.batch, g.outH, g.outW, g.outC], n, oy, ox, f), value: v, scale: s };
}

export function convBackpropInputAt(dy: Float32Array, w: Float32Array, g: WindowGeometry, n: number, iy: number, ix: number, c: number): Sample {
  let v = 0;
  let s = 0;
  for (let oy = 0; oy < g.outH; oy++) {
    const ky = (iy + g.padTop - oy * g.strideH) / g.dilH;
    if (!Number.isInteger(ky) || ky < 0 || ky >= g.kH) continue;
    for (let ox = 0; ox < g.outW; ox++) {
      const kx = (ix + g.padLeft - ox * g.strideW) / g.dilW;
      if (!Number.isInteger(kx) || kx < 0 || kx >= g.kW) continue;
      for (let f = 0; f < g.outC; f++) {
        const t = dy[idx4([g.batch, g.outH, g.outW, g.outC], n, oy, ox, f)] * w[idx4([g.kH, g.kW, g.inC, g.outC], ky, kx, c, f)];
        v += t;
        s += Math.abs(t);
      }
    }
  }
  return { index: idx4([g.batch, g.inH, g.inW, g.inC], n, iy, ix, c), value: v, scale: s };
}

export function convBackpropFilterAt(x: Float32Array, dy: Float32Array, g: WindowGeometry, ky: number, kx: number, c: number, f: number): Sample {
  let v = 0;
  let s = 0;
  for (let n = 0; n < g.batch; n++) {
    for (let oy = 0; oy < g.outH; oy++) {
      const iy = oy * g.strideH - g.padTop + ky * g.dilH;
      if (iy < 0 || iy >= g.inH) continue;
      for (let ox = 0; ox < g.outW; ox++) {
        const ix = ox * g.strideW - g.padLeft + kx * g.dilW;
        if (ix < 0 || ix >= g.inW) continue;
        const t = x[idx4([g.batch, g.inH, g.inW, g.inC], n, iy, ix, c)] * dy[idx4([g.batch, g.outH, g.outW, g.outC], n, oy, ox, f)];
        v += t;
        s += Math.abs(t);
      }
    }
  }
  return { index: idx4([g.kH, g.kW, g.inC, g.outC], ky, kx, c, f), value: v, scale: s };
}

/** `count` random coordinates inside `dims`, always including the first and last corner. */
export function sampleCoords(dims: number[], count: number, seed: number): number[][] {
  const r = new Random(seed);
  const out = [dims.map(() => 0), dims.map((d) => d - 1)];
  while (out.length < count) out.push(dims.map((d) => Math.floor(r.next() * d)));
  return out;
}

export function fastRandom(n: number, seed: number, scale = 1): Float32Array {
  const r = new Random(seed);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = (r.next() * 2 - 1) * scale;
  return v;
}
