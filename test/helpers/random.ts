import { Random } from '../../src/engine/random.ts';
import { tensor } from '../../src/engine/ops/creation.ts';
import type { Tensor } from '../../src/engine/tensor.ts';

/** Deterministic test data: values uniform in [lo, hi), optionally kept away from zero. */
export function rand(shape: number[], seed: number, lo = -1, hi = 1, awayFromZero = 0): Tensor {
  const r = new Random(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let x = r.uniform(lo, hi);
    while (Math.abs(x) < awayFromZero) x = r.uniform(lo, hi);
    v[i] = x;
  }
  return tensor(v, shape);
}

export function randValues(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = new Random(seed);
  return Float32Array.from({ length: n }, () => r.uniform(lo, hi));
}
