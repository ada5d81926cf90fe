import { registerKernel } from '../../engine/kernel_registry.ts';
import { output, valuesOf } from './backend.ts';

// softmax over the last axis: exp(x - max) / sum(exp(x - max))
registerKernel('softmax', 'reference', ({ x }, _a, backend) => {
  const n = x.shape[x.shape.length - 1];
  const xv = valuesOf(x);
  const { out, v } = output(backend, [...x.shape]);
  for (let r = 0; r < xv.length; r += n) {
    let m = -Infinity;
    for (let i = 0; i < n; i++) m = Math.max(m, xv[r + i]);
    let s = 0;
    for (let i = 0; i < n; i++) s += v[r + i] = Math.exp(xv[r + i] - m);
    for (let i = 0; i < n; i++) v[r + i] /= s;
  }
  return out;
});

registerKernel('biasAdd', 'reference', ({ x, bias }, _a, backend) => {
  const c = bias.shape[0];
  const xv = valuesOf(x);
  const bv = valuesOf(bias);
  const { out, v } = output(backend, [...x.shape]);
  for (let i = 0; i < xv.length; i++) v[i] = xv[i] + bv[i % c];
  return out;
});
