import { type ConvAttrs, convGeometry, type WindowGeometry } from '../../engine/conv_geometry.ts';
import { getKernel, registerKernel } from '../../engine/kernel_registry.ts';
import { output, valuesOf } from './backend.ts';

/**
 * Visits every (output pixel, kernel tap) pair whose input pixel lies inside the
 * image: the one loop nest that conv2d and both of its gradients share.
 * `xBase` indexes x[n, iy, ix, 0]; `yBase` indexes y[n, oy, ox, 0]; `wBase` indexes w[ky, kx, 0, 0].
 */
function forEachTap(g: WindowGeometry, fn: (xBase: number, yBase: number, wBase: number) => void): void {
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
            fn(((n * g.inH + iy) * g.inW + ix) * g.inC, yBase, (ky * g.kW + kx) * g.inC * g.outC);
          }
        }
      }
    }
  }
}

// y[n,oy,ox,f] = sum over taps and c of x[n,iy,ix,c] * w[ky,kx,c,f]
registerKernel('conv2d', 'reference', ({ x, filter }, a, backend) => {
  const g = convGeometry(x.shape, filter.shape, a as unknown as ConvAttrs, 'conv2d');
  const xv = valuesOf(x);
  const wv = valuesOf(filter);
  const { out, v } = output(backend, [g.batch, g.outH, g.outW, g.outC]);
  forEachTap(g, (xb, yb, wb) => {
    for (let c = 0; c < g.inC; c++) {
      const xval = xv[xb + c];
      const wr = wb + c * g.outC;
      for (let f = 0; f < g.outC; f++) v[yb + f] += xval * wv[wr + f];
    }
  });
  return out;
});

// y = activation(conv2d(x, w) + bias)
registerKernel('fusedConv2d', 'reference', ({ x, filter, bias }, a, backend) => {
  const y = getKernel('conv2d', 'reference')({ x, filter }, a, backend);
  const v = valuesOf(y);
  const bv = valuesOf(bias);
  const relu = a.activation === 'relu';
  for (let i = 0; i < v.length; i++) {
    const z = v[i] + bv[i % bv.length];
    v[i] = relu && !(z > 0) ? 0 : z;
  }
  return y;
});

// dx[n,iy,ix,c] = sum over the taps that read it of dy[n,oy,ox,f] * w[ky,kx,c,f]  (dy zeroed where mask <= 0)
registerKernel('conv2dBackpropInput', 'reference', ({ dy, filter, mask }, a, backend) => {
  const inputShape = a.inputShape as number[];
  const g = convGeometry(inputShape, filter.shape, a as unknown as ConvAttrs, 'conv2dBackpropInput');
  const mv = mask ? valuesOf(mask) : undefined;
  const dyv = mv ? valuesOf(dy).map((d, i) => (mv[i] > 0 ? d : 0)) : valuesOf(dy);
  const wv = valuesOf(filter);
  const { out, v } = output(backend, [...inputShape]);
  forEachTap(g, (xb, yb, wb) => {
    for (let c = 0; c < g.inC; c++) {
      const wr = wb + c * g.outC;
      let s = 0;
      for (let f = 0; f < g.outC; f++) s += dyv[yb + f] * wv[wr + f];
      v[xb + c] += s;
    }
  });
  return out;
});

// dw[ky,kx,c,f] = sum over n, oy, ox of x[n,iy,ix,c] * dy[n,oy,ox,f]
registerKernel('conv2dBackpropFilter', 'reference', ({ x, dy }, a, backend) => {
  const filterShape = a.filterShape as number[];
  const g = convGeometry(x.shape, filterShape, a as unknown as ConvAttrs, 'conv2dBackpropFilter');
  const xv = valuesOf(x);
  const dyv = valuesOf(dy);
  const { out, v } = output(backend, [...filterShape]);
  forEachTap(g, (xb, yb, wb) => {
    for (let c = 0; c < g.inC; c++) {
      const xval = xv[xb + c];
      const wr = wb + c * g.outC;
      for (let f = 0; f < g.outC; f++) v[wr + f] += xval * dyv[yb + f];
    }
  });
  return out;
});
