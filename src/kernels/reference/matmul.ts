import { registerKernel } from '../../engine/kernel_registry.ts';
import { output, valuesOf } from './backend.ts';

registerKernel('matmul', 'reference', ({ a, b }, attrs, backend) => {
  const tA = attrs.transposeA as boolean;
  const tB = attrs.transposeB as boolean;
  const [m, k] = tA ? [a.shape[1], a.shape[0]] : [a.shape[0], a.shape[1]];
  const n = tB ? b.shape[0] : b.shape[1];
  const av = valuesOf(a);
  const bv = valuesOf(b);
  // element (i, p) of op(a) and (p, j) of op(b)
  const A = tA ? (i: number, p: number) => av[p * m + i] : (i: number, p: number) => av[i * k + p];
  const B = tB ? (p: number, j: number) => bv[j * k + p] : (p: number, j: number) => bv[p * n + j];
  const { out, v } = output(backend, [m, n]);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += A(i, p) * B(p, j);
      v[i * n + j] = s;
    }
  }
  return out;
});
