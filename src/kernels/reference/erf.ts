/**
 * The error function in float64, for the reference backends (and the ground truth that
 * the float32 WGSL approximation is fitted and checked against).
 *
 * - |x| < 2.5: the series erf(x) = 2/sqrt(pi) * exp(-x^2) * sum_n (2x^2)^n x / (1*3*5*...*(2n+1))
 *   (Abramowitz & Stegun 7.1.6). Every term is positive, so nothing cancels: the relative
 *   error is a few ulps (measured below 4e-16 against the continued fraction where both
 *   converge, and against tabulated values in the tests).
 * - |x| >= 2.5: erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...)))))
 *   (A&S 7.1.14), evaluated by the modified Lentz method to relative 1e-17, then
 *   erf = 1 - erfc; erfc(2.5) = 4.1e-4, so 1 - erfc loses nothing to cancellation.
 *
 * Both pieces are smooth to rounding level, so central differences with eps = 1e-6 see
 * the derivative 2/sqrt(pi) exp(-x^2) to ~1e-10 (the float64 gradient check needs that).
 */

const TWO_OVER_SQRT_PI = 1.1283791670955126;
const ONE_OVER_SQRT_PI = 0.5641895835477563;

/** The series for a >= 0. */
function erfSeries(a: number): number {
  const x2 = a * a;
  let term = a;
  let sum = a;
  for (let n = 1; n < 200; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
}

/** erfc(x) for x >= 2.5 by the continued fraction x + (k/2)/(x + ((k+1)/2)/(x + ...)), modified Lentz. */
function erfcContinuedFraction(x: number): number {
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let k = 1; k < 500; k++) {
    const a = k / 2;
    d = x + a * d;
    d = d === 0 ? tiny : 1 / d;
    c = x + a / c;
    if (c === 0) c = tiny;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-17) break;
  }
  return (ONE_OVER_SQRT_PI * Math.exp(-x * x)) / f;
}

export function erf64(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  if (a > 6) return Math.sign(x); // erfc(6) = 2.2e-17: 1 in float64
  const v = a < 2.5 ? erfSeries(a) : 1 - erfcContinuedFraction(a);
  return x < 0 ? -v : v;
}

/** erfc(x) = 1 - erf(x) without the cancellation for large x (used to fit and check the float32 kernel). */
export function erfc64(x: number): number {
  if (x < 2.5) return 1 - erf64(x);
  return erfcContinuedFraction(x);
}
