import { registerKernel } from '../../engine/kernel_registry.ts';
import { stridesOf } from '../../engine/shape.ts';
import { output, valuesOf } from './backend.ts';

/** Flat output index for every flat input index when `axes` are collapsed. */
function reduceIndexMap(shape: readonly number[], axes: readonly number[]): Int32Array {
  const inStrides = stridesOf(shape);
  const kept = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const outStrides = stridesOf(kept);
  let n = 1;
  for (const d of shape) n *= d;
  const map = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let rem = i;
    let j = 0;
    for (let ax = 0; ax < shape.length; ax++) {
      const c = Math.floor(rem / inStrides[ax]);
      rem -= c * inStrides[ax];
      if (!axes.includes(ax)) j += c * outStrides[ax];
    }
    map[i] = j;
  }
  return map;
}

const reducers = {
  sum: { init: 0, fold: (acc: number, x: number) => acc + x },
  max: { init: -Infinity, fold: (acc: number, x: number) => (x > acc || Number.isNaN(x) ? x : acc) },
  min: { init: Infinity, fold: (acc: number, x: number) => (x < acc || Number.isNaN(x) ? x : acc) },
};

for (const [op, r] of Object.entries(reducers)) {
  registerKernel(op, 'reference', ({ x }, a, backend) => {
    const axes = a.axes as number[];
    const xv = valuesOf(x);
    const map = reduceIndexMap(x.shape, axes);
    const { out, v } = output(backend, a.outShape as number[]);
    v.fill(r.init);
    for (let i = 0; i < xv.length; i++) v[map[i]] = r.fold(v[map[i]], xv[i]);
    return out;
  });
}
