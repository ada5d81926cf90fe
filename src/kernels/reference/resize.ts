import { registerKernel } from '../../engine/kernel_registry.ts';
import { type BilinearTap, bilinearTap, nearestIndex, type ResizeAttrs, resizeScale } from '../../engine/resize_geometry.ts';
import { output, valuesOf } from './backend.ts';

/**
 * Image resizes (NHWC) and their gradients as plain loops over per-axis tables from
 * src/engine/resize_geometry.ts; the backward kernels scatter each dy value back along
 * the same weights, so each is the exact adjoint of its forward.
 */

const bilinearTable = (inSize: number, outSize: number, a: ResizeAttrs): BilinearTap[] => {
  const scale = resizeScale(inSize, outSize, a.alignCorners);
  return Array.from({ length: outSize }, (_, o) => bilinearTap(o, inSize, scale, a.halfPixelCenters));
};

const nearestTable = (inSize: number, outSize: number, a: ResizeAttrs): number[] => {
  const scale = resizeScale(inSize, outSize, a.alignCorners);
  return Array.from({ length: outSize }, (_, o) => nearestIndex(o, inSize, scale, a));
};

// y[n,oy,ox,c] = lerp over rows of lerps over columns, in TensorFlow's order:
// top = tl + (tr - tl) * lx, bottom = bl + (br - bl) * lx, y = top + (bottom - top) * ly
registerKernel('resizeBilinear', 'reference', ({ x }, attrs, backend) => {
  const a = attrs as unknown as ResizeAttrs;
  const [B, IH, IW, C] = x.shape;
  const [OH, OW] = attrs.size as number[];
  const ys = bilinearTable(IH, OH, a);
  const xs = bilinearTable(IW, OW, a);
  const xv = valuesOf(x);
  const { out, v } = output(backend, [B, OH, OW, C]);
  let i = 0;
  for (let n = 0; n < B; n++) {
    for (const ty of ys) {
      const top = (n * IH + ty.lower) * IW;
      const bot = (n * IH + ty.upper) * IW;
      for (const tx of xs) {
        for (let c = 0; c < C; c++) {
          const tl = xv[(top + tx.lower) * C + c];
          const tr = xv[(top + tx.upper) * C + c];
          const bl = xv[(bot + tx.lower) * C + c];
          const br = xv[(bot + tx.upper) * C + c];
          const t = tl + (tr - tl) * tx.lerp;
          const b = bl + (br - bl) * tx.lerp;
          v[i++] = t + (b - t) * ty.lerp;
        }
      }
    }
  }
  return out;
});

// dx: each dy value goes to its four input pixels with weights (1-ly)(1-lx), (1-ly) lx, ly (1-lx), ly lx
registerKernel('resizeBilinearBackward', 'reference', ({ dy }, attrs, backend) => {
  const a = attrs as unknown as ResizeAttrs;
  const inputShape = attrs.inputShape as number[];
  const [B, IH, IW, C] = inputShape;
  const [, OH, OW] = dy.shape;
  const ys = bilinearTable(IH, OH, a);
  const xs = bilinearTable(IW, OW, a);
  const dyv = valuesOf(dy);
  const { out, v } = output(backend, [...inputShape]);
  let i = 0;
  for (let n = 0; n < B; n++) {
    for (const ty of ys) {
      const top = (n * IH + ty.lower) * IW;
      const bot = (n * IH + ty.upper) * IW;
      for (const tx of xs) {
        const wtl = (1 - ty.lerp) * (1 - tx.lerp);
        const wtr = (1 - ty.lerp) * tx.lerp;
        const wbl = ty.lerp * (1 - tx.lerp);
        const wbr = ty.lerp * tx.lerp;
        for (let c = 0; c < C; c++) {
          const g = dyv[i++];
          v[(top + tx.lower) * C + c] += g * wtl;
          v[(top + tx.upper) * C + c] += g * wtr;
          v[(bot + tx.lower) * C + c] += g * wbl;
          v[(bot + tx.upper) * C + c] += g * wbr;
        }
      }
    }
  }
  return out;
});

// y[n,oy,ox,c] = x[n, row(oy), col(ox), c]
registerKernel('resizeNearest', 'reference', ({ x }, attrs, backend) => {
  const a = attrs as unknown as ResizeAttrs;
  const [B, IH, IW, C] = x.shape;
  const [OH, OW] = attrs.size as number[];
  const rows = nearestTable(IH, OH, a);
  const cols = nearestTable(IW, OW, a);
  const xv = valuesOf(x);
  const { out, v } = output(backend, [B, OH, OW, C]);
  let i = 0;
  for (let n = 0; n < B; n++) {
    for (const r of rows) {
      for (const q of cols) {
        const base = ((n * IH + r) * IW + q) * C;
        for (let c = 0; c < C; c++) v[i++] = xv[base + c];
      }
    }
  }
  return out;
});

// dx[n, r, q, c] = sum of dy over the outputs that copied input pixel (r, q)
registerKernel('resizeNearestBackward', 'reference', ({ dy }, attrs, backend) => {
  const a = attrs as unknown as ResizeAttrs;
  const inputShape = attrs.inputShape as number[];
  const [B, IH, IW, C] = inputShape;
  const [, OH, OW] = dy.shape;
  const rows = nearestTable(IH, OH, a);
  const cols = nearestTable(IW, OW, a);
  const dyv = valuesOf(dy);
  const { out, v } = output(backend, [...inputShape]);
  let i = 0;
  for (let n = 0; n < B; n++) {
    for (const r of rows) {
      for (const q of cols) {
        const base = ((n * IH + r) * IW + q) * C;
        for (let c = 0; c < C; c++) v[base + c] += dyv[i++];
      }
    }
  }
  return out;
});
