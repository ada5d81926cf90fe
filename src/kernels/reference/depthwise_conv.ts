import { type ConvAttrs, type DepthwiseGeometry, depthwiseGeometry } from '../../engine/conv_geometry.ts';
import { registerKernel } from '../../engine/kernel_registry.ts';
import { output, valuesOf } from './backend.ts';

/**
 * Depthwise convolution and both gradients, as plain loops. Channel k = c*M + m of the
 * output (and of dy, and the last two filter axes flattened) reads input channel c.
 */

/**
 * Visits every (output pixel, kernel tap) pair whose input pixel lies inside the image.
 * `xBase` indexes x[n, iy, ix, 0]; `yBase` indexes y[n, oy, ox, 0]; `wBase` indexes w[ky, kx, 0, 0].
 */
function forEachTap(g: DepthwiseGeometry, fn: (xBase: number, yBase: number, wBase: number) => void): void {
  for (let n = 0; n < g.batch; n++) {
    for (let oy = 0; oy < g.outH; oy++) {
      for (let ox = 0; ox < g.outW; ox++) {
        const yBase = ((n * g.outH + oy) * g.outW + ox) * g.outC;
        for (let ky = 0; ky < g.kH; ky++) {
          const iy = oy * g.strideH - g.padTop + ky * g.dilH;
          if (iy < 0 || iy >= g.inH) continue;
          for (let kx = 0; kx < g.kW; kx++) {
            const ix = ox * g.strideW - g.padLeft + kx * g.dilW;
            if (ix < 0 || ix >= g.inW) continue;
            fn(((n * g.inH + iy) * g.inW + ix) * g.inC, yBase, (ky * g.kW + kx) * g.outC);
          }
        }
      }
    }
  }
}

// y[n,oy,ox,c*M+m] = sum over taps of x[n,iy,ix,c] * w[ky,kx,c,m]
registerKernel('depthwiseConv2d', 'reference', ({ x, filter }, a, backend) => {
  const g = depthwiseGeometry(x.shape, filter.shape, a as unknown as ConvAttrs, 'depthwiseConv2d');
  const xv = valuesOf(x);
  const wv = valuesOf(filter);
  const M = g.multiplier;
  const { out, v } = output(backend, [g.batch, g.outH, g.outW, g.outC]);
  forEachTap(g, (xb, yb, wb) => {
    for (let c = 0; c < g.inC; c++) {
      const xval = xv[xb + c];
      for (let m = 0; m < M; m++) v[yb + c * M + m] += xval * wv[wb + c * M + m];
    }
  });
  return out;
});

// dx[n,iy,ix,c] = sum over the (output pixel, tap) pairs that read it and over m of dy[n,oy,ox,c*M+m] * w[ky,kx,c,m]
registerKernel('depthwiseConv2dBackpropInput', 'reference', ({ dy, filter }, a, backend) => {
  const inputShape = a.inputShape as number[];
  const g = depthwiseGeometry(inputShape, filter.shape, a as unknown as ConvAttrs, 'depthwiseConv2dBackpropInput');
  const dyv = valuesOf(dy);
  const wv = valuesOf(filter);
  const M = g.multiplier;
  const { out, v } = output(backend, [...inputShape]);
  forEachTap(g, (xb, yb, wb) => {
    for (let c = 0; c < g.inC; c++) {
      let s = 0;
      for (let m = 0; m < M; m++) s += dyv[yb + c * M + m] * wv[wb + c * M + m];
      v[xb + c] += s;
    }
  });
  return out;
});

// dw[ky,kx,c,m] = sum over n, oy, ox of x[n,iy,ix,c] * dy[n,oy,ox,c*M+m]
registerKernel('depthwiseConv2dBackpropFilter', 'reference', ({ x, dy }, a, backend) => {
  const filterShape = a.filterShape as number[];
  const g = depthwiseGeometry(x.shape, filterShape, a as unknown as ConvAttrs, 'depthwiseConv2dBackpropFilter');
  const xv = valuesOf(x);
  const dyv = valuesOf(dy);
  const M = g.multiplier;
  const { out, v } = output(backend, [...filterShape]);
  forEachTap(g, (xb, yb, wb) => {
    for (let c = 0; c < g.inC; c++) {
      const xval = xv[xb + c];
      for (let m = 0; m < M; m++) v[wb + c * M + m] += xval * dyv[yb + c * M + m];
    }
  });
  return out;
});
