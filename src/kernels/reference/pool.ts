import { type PoolAttrs, poolGeometry, type WindowGeometry } from '../../engine/conv_geometry.ts';
import { registerKernel } from '../../engine/kernel_registry.ts';
import { output, valuesOf } from './backend.ts';

/**
 * For every output cell, the flat input indices (channel 0) of the window cells that
 * lie inside the image, in row-major window order. Padded cells are simply absent.
 */
function forEachWindow(g: WindowGeometry, fn: (yBase: number, cells: number[]) => void): void {
  const cells: number[] = [];
  for (let n = 0; n < g.batch; n++) {
    for (let oy = 0; oy < g.outH; oy++) {
      for (let ox = 0; ox < g.outW; ox++) {
        cells.length = 0;
        for (let ky = 0; ky < g.kH; ky++) {
          const iy = oy * g.strideH - g.padTop + ky;
          if (iy < 0 || iy >= g.inH) continue;
          for (let kx = 0; kx < g.kW; kx++) {
            const ix = ox * g.strideW - g.padLeft + kx;
            if (ix >= 0 && ix < g.inW) cells.push(((n * g.inH + iy) * g.inW + ix) * g.inC);
          }
        }
        fn(((n * g.outH + oy) * g.outW + ox) * g.inC, cells);
      }
    }
  }
}

const geom = (shape: readonly number[], a: unknown, op: string) => poolGeometry(shape, a as PoolAttrs, op);

registerKernel('maxPool', 'reference', ({ x }, a, backend) => {
  const g = geom(x.shape, a, 'maxPool');
  const xv = valuesOf(x);
  const { out, v } = output(backend, [g.batch, g.outH, g.outW, g.inC]);
  forEachWindow(g, (yb, cells) => {
    for (let c = 0; c < g.inC; c++) {
      let m = -Infinity;
      for (const cell of cells) if (xv[cell + c] > m) m = xv[cell + c];
      v[yb + c] = m;
    }
  });
  return out;
});

// dy of each window goes to the first cell holding the window's maximum.
registerKernel('maxPoolBackward', 'reference', ({ dy, x }, a, backend) => {
  const g = geom(x.shape, a, 'maxPoolBackward');
  const xv = valuesOf(x);
  const dyv = valuesOf(dy);
  const { out, v } = output(backend, [...x.shape]);
  forEachWindow(g, (yb, cells) => {
    for (let c = 0; c < g.inC; c++) {
      let best = -1;
      for (const cell of cells) if (best < 0 || xv[cell + c] > xv[best + c]) best = cell;
      v[best + c] += dyv[yb + c];
    }
  });
  return out;
});

registerKernel('avgPool', 'reference', ({ x }, a, backend) => {
  const g = geom(x.shape, a, 'avgPool');
  const xv = valuesOf(x);
  const { out, v } = output(backend, [g.batch, g.outH, g.outW, g.inC]);
  forEachWindow(g, (yb, cells) => {
    for (let c = 0; c < g.inC; c++) {
      let s = 0;
      for (const cell of cells) s += xv[cell + c];
      v[yb + c] = s / cells.length;
    }
  });
  return out;
});

registerKernel('avgPoolBackward', 'reference', ({ dy }, a, backend) => {
  const inputShape = a.inputShape as number[];
  const g = geom(inputShape, a, 'avgPoolBackward');
  const dyv = valuesOf(dy);
  const { out, v } = output(backend, [...inputShape]);
  forEachWindow(g, (yb, cells) => {
    for (let c = 0; c < g.inC; c++) {
      const share = dyv[yb + c] / cells.length;
      for (const cell of cells) v[cell + c] += share;
    }
  });
  return out;
});
