import { registerKernel } from '../../engine/kernel_registry.ts';
import { stridesOf } from '../../engine/shape.ts';
import { output, valuesOf } from './backend.ts';

/** Calls fn(flatIndex, coords) for every element of `shape`, in row-major order. */
function forEachIndex(shape: readonly number[], fn: (i: number, c: number[]) => void): void {
  const c = new Array<number>(shape.length).fill(0);
  let n = 1;
  for (const d of shape) n *= d;
  for (let i = 0; i < n; i++) {
    fn(i, c);
    for (let ax = shape.length - 1; ax >= 0; ax--) {
      if (++c[ax] < shape[ax]) break;
      c[ax] = 0;
    }
  }
}

registerKernel('transpose', 'reference', ({ x }, a, backend) => {
  const perm = a.perm as number[];
  const xs = stridesOf(x.shape);
  const xv = valuesOf(x);
  const { out, v } = output(backend, perm.map((p) => x.shape[p]));
  forEachIndex(out.shape, (i, c) => {
    let j = 0;
    for (let ax = 0; ax < perm.length; ax++) j += c[ax] * xs[perm[ax]];
    v[i] = xv[j];
  });
  return out;
});

registerKernel('slice', 'reference', ({ x }, a, backend) => {
  const begin = a.begin as number[];
  const xs = stridesOf(x.shape);
  const xv = valuesOf(x);
  const { out, v } = output(backend, a.size as number[]);
  forEachIndex(out.shape, (i, c) => {
    let j = 0;
    for (let ax = 0; ax < c.length; ax++) j += (c[ax] + begin[ax]) * xs[ax];
    v[i] = xv[j];
  });
  return out;
});

registerKernel('pad', 'reference', ({ x }, a, backend) => {
  const p = a.paddings as [number, number][];
  const xs = stridesOf(x.shape);
  const xv = valuesOf(x);
  const { out, v } = output(backend, x.shape.map((d, i) => d + p[i][0] + p[i][1]));
  forEachIndex(out.shape, (i, c) => {
    let j = 0;
    for (let ax = 0; ax < c.length; ax++) {
      const s = c[ax] - p[ax][0];
      if (s < 0 || s >= x.shape[ax]) {
        v[i] = a.value as number;
        return;
      }
      j += s * xs[ax];
    }
    v[i] = xv[j];
  });
  return out;
});

registerKernel('concat', 'reference', (inputs, a, backend) => {
  const axis = a.axis as number;
  const parts = Array.from({ length: a.count as number }, (_, i) => inputs[`x${i}`]);
  const shape = [...parts[0].shape];
  shape[axis] = parts.reduce((s, t) => s + t.shape[axis], 0);
  const { out, v } = output(backend, shape);
  // Copy each part as blocks: outer (axes before `axis`) x inner (its extent along axis and after).
  let outer = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i];
  const rowOut = v.length / Math.max(1, outer);
  let offset = 0;
  for (const t of parts) {
    const tv = valuesOf(t);
    const row = tv.length / Math.max(1, outer);
    for (let o = 0; o < outer; o++) v.set(tv.subarray(o * row, (o + 1) * row), o * rowOut + offset);
    offset += row;
  }
  return out;
});
