/**
 * Fits the coefficients of the float32 erf in src/kernels/wgsl/erf.ts and measures its
 * error with float32 arithmetic emulated exactly (Math.fround after every operation), against
 * the float64 erf of src/kernels/reference/erf.ts.
 *
 *   npx tsx scripts/fit_erf.ts
 *
 * The two pieces (near-minimax in relative error, by Lawson's iteratively reweighted
 * least squares on Chebyshev points, solved by Householder QR in float64):
 *   |x| <  1     erf(x)  = x + x * Q(x^2)                  Q = P - 1, P of degree 6 in t = x^2
 *                (adding x last keeps the rounding of the result at ~half an ulp)
 *   1 <= |x| < 3.92   erfc(x) = exp(-x^2) * R(|x| - 2.5)   R of degree 11
 *   |x| >= 3.92  erf(x) = sign(x)   (erfc(3.92) = 2.8e-8 < half an ulp of 1)
 */
import { erf64, erfc64 } from '../src/kernels/reference/erf.ts';

const fr = Math.fround;

/** Least squares min ||A c - b|| by Householder QR (A: rows x cols, row-major). */
function lstsq(A: number[][], b: number[]): number[] {
  const m = A.length;
  const n = A[0].length;
  const R = A.map((r) => r.slice());
  const y = b.slice();
  for (let k = 0; k < n; k++) {
    let norm = 0;
    for (let i = k; i < m; i++) norm += R[i][k] * R[i][k];
    norm = Math.sqrt(norm);
    const alpha = R[k][k] > 0 ? -norm : norm;
    const v = new Array<number>(m).fill(0);
    for (let i = k; i < m; i++) v[i] = R[i][k];
    v[k] -= alpha;
    let vv = 0;
    for (let i = k; i < m; i++) vv += v[i] * v[i];
    if (vv === 0) continue;
    for (let j = k; j < n; j++) {
      let s = 0;
      for (let i = k; i < m; i++) s += v[i] * R[i][j];
      const f = (2 * s) / vv;
      for (let i = k; i < m; i++) R[i][j] -= f * v[i];
    }
    let s = 0;
    for (let i = k; i < m; i++) s += v[i] * y[i];
    const f = (2 * s) / vv;
    for (let i = k; i < m; i++) y[i] -= f * v[i];
  }
  const c = new Array<number>(n).fill(0);
  for (let k = n - 1; k >= 0; k--) {
    let s = y[k];
    for (let j = k + 1; j < n; j++) s -= R[k][j] * c[j];
    c[k] = s / R[k][k];
  }
  return c;
}

/** Near-minimax relative-error polynomial fit of f(u) on [lo, hi], degree d, monomials in u. */
function fitRelative(f: (u: number) => number, lo: number, hi: number, d: number): number[] {
  const N = 3000;
  const us = Array.from({ length: N }, (_, i) => (lo + hi) / 2 + ((hi - lo) / 2) * Math.cos((Math.PI * (i + 0.5)) / N));
  const fs = us.map(f);
  let w = new Array<number>(N).fill(1);
  let c: number[] = [];
  for (let it = 0; it < 60; it++) {
    const A = us.map((u, i) => Array.from({ length: d + 1 }, (_, k) => (Math.sqrt(w[i]) * u ** k) / fs[i]));
    const b = fs.map((_, i) => Math.sqrt(w[i]));
    c = lstsq(A, b);
    const err = us.map((u, i) => Math.abs(c.reduceRight((acc, ck) => acc * u + ck, 0) / fs[i] - 1));
    const s = err.reduce((a, e, i) => a + w[i] * e, 0);
    w = w.map((wi, i) => (wi * err[i]) / s);
  }
  return c;
}

/** Rounds coefficients to float32, as the shader will hold them. */
const f32s = (c: number[]) => c.map((v) => fr(v));

const T1 = 1;
const T2 = 3.92;
const C2 = 2.5;
const P64 = fitRelative((t) => (t === 0 ? 2 / Math.sqrt(Math.PI) : erf64(Math.sqrt(t)) / Math.sqrt(t)), 0, T1 * T1, 6);
const Q = f32s(P64.map((c, k) => (k === 0 ? c - 1 : c)));
const R = f32s(fitRelative((s) => erfc64(s + C2) * Math.exp((s + C2) ** 2), T1 - C2, T2 - C2, 11));

/** Horner in float32. */
const horner32 = (c: number[], u: number) => c.reduceRight((acc, ck) => fr(fr(acc * u) + ck), 0);

/** The shader's algorithm, in exactly rounded float32 arithmetic (exp correctly rounded). */
function erf32(x: number): number {
  x = fr(x);
  const a = Math.abs(x);
  if (a < T1) return fr(x + fr(x * horner32(Q, fr(x * x))));
  if (a >= T2) return Math.sign(x);
  const e = fr(fr(Math.exp(-fr(a * a))) * horner32(R, fr(a - C2)));
  return Math.sign(x) * fr(1 - e);
}

let worst = 0;
let at = 0;
let worst1 = 0;
for (let i = 0; i <= 2_000_000; i++) {
  const x = fr(-5 + (10 * i) / 2_000_000);
  const e = Math.abs(erf32(x) - erf64(x));
  if (e > worst) [worst, at] = [e, x];
  if (Math.abs(x) < T1) worst1 = Math.max(worst1, e);
}
const fmt = (c: number[]) => c.map((v) => v.toPrecision(9)).join(', ');
console.log(`Q (x + x*Q(x^2), |x| < ${T1}): [${fmt(Q)}]`);
console.log(`R (exp(-x^2)*R(|x|-${C2}), ${T1} <= |x| < ${T2}): [${fmt(R)}]`);
console.log(`max |erf32 - erf64| on [-5, 5] (2e6 points, float32 emulated): ${worst.toExponential(3)} at x = ${at} (|x| < ${T1}: ${worst1.toExponential(3)})`);
