import { engine } from '../engine/engine.ts';
import { Random } from '../engine/random.ts';
import { mul } from '../engine/ops/elementwise.ts';
import { sum } from '../engine/ops/reduce.ts';
import type { Tensor } from '../engine/tensor.ts';
import { valueAndGrads } from './api.ts';

export interface GradCheckOptions {
  /** Finite-difference step. 1e-6 suits float64; float32 needs about 1e-2. */
  eps?: number;
  /** Pass when |analytic - numeric| <= atol + rtol * max(|analytic|, |numeric|). */
  rtol?: number;
  atol?: number;
  /** Check at most this many elements per input (chosen at random); all when omitted. */
  maxElements?: number;
  seed?: number;
}

export interface GradCheckMismatch {
  input: number;
  index: number;
  analytic: number;
  numeric: number;
}

export interface GradCheckResult {
  checked: number;
  maxAbsError: number;
  mismatches: GradCheckMismatch[];
}

/**
 * Compares f's analytic gradients (from the tape) with central finite differences
 * (f(x + eps) - f(x - eps)) / 2 eps, element by element, on f's own backend.
 * A non-scalar f is projected on a fixed random tensor r first (loss = sum(f * r)), so
 * every output element takes part with a different weight.
 */
export async function checkGradients(f: (...xs: Tensor[]) => Tensor, xs: Tensor[], o: GradCheckOptions = {}): Promise<GradCheckResult> {
  const eps = o.eps ?? 1e-6;
  const rtol = o.rtol ?? 1e-6;
  const atol = o.atol ?? 1e-9;
  const rng = new Random(o.seed ?? 1);
  const y0 = engine.tidy(() => f(...xs));
  const shapeOfY = y0.shape;
  y0.dispose();
  const rValues = Array.from({ length: shapeOfY.reduce((a, b) => a * b, 1) }, () => rng.uniform(0.5, 1.5) * (rng.next() < 0.5 ? -1 : 1));
  const r = engine.fromValues(rValues, shapeOfY);
  const loss = (...args: Tensor[]) => sum(mul(f(...args), r));
  const lossAt = async (args: Tensor[]) => {
    const t = engine.tidy(() => loss(...args));
    const v = (await t.dataRaw())[0];
    t.dispose();
    return v;
  };

  const { value, grads } = valueAndGrads(loss)(...xs);
  value.dispose();
  const analytic = await Promise.all(grads.map((g) => g.dataRaw()));
  grads.forEach((g) => g.dispose());

  const result: GradCheckResult = { checked: 0, maxAbsError: 0, mismatches: [] };
  for (let i = 0; i < xs.length; i++) {
    const base = Array.from(await xs[i].dataRaw());
    let indices = base.map((_, j) => j);
    if (o.maxElements !== undefined && indices.length > o.maxElements) {
      for (let j = indices.length - 1; j > 0; j--) {
        const k = Math.floor(rng.next() * (j + 1));
        [indices[j], indices[k]] = [indices[k], indices[j]];
      }
      indices = indices.slice(0, o.maxElements);
    }
    for (const j of indices) {
      const at = async (delta: number) => {
        const v = base.slice();
        v[j] += delta;
        const xi = engine.fromValues(v, xs[i].shape, xs[i].handle.backend);
        const args = xs.map((x, k) => (k === i ? xi : x));
        try {
          return await lossAt(args);
        } finally {
          xi.dispose();
        }
      };
      const numeric = ((await at(eps)) - (await at(-eps))) / (2 * eps);
      const a = analytic[i][j];
      const err = Math.abs(a - numeric);
      result.checked++;
      result.maxAbsError = Math.max(result.maxAbsError, err);
      if (!(err <= atol + rtol * Math.max(Math.abs(a), Math.abs(numeric)))) result.mismatches.push({ input: i, index: j, analytic: a, numeric });
    }
  }
  r.dispose();
  return result;
}
