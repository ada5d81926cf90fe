/**
 * erf in float32 WGSL (WGSL has no erf builtin).
 *
 *   |x| < 1          erf(x)  = x + x * Q(x^2)          Q(t) = P(t) - 1, P of degree 6
 *   1 <= |x| < 3.92  erf(x)  = sign(x) * (1 - exp(-x^2) * R(|x| - 2.5))   R of degree 11
 *   |x| >= 3.92      erf(x)  = sign(x)                  (erfc(3.92) = 2.8e-8, below half an ulp of 1)
 *
 * P approximates erf(x)/x as a polynomial in t = x^2, R approximates erfc(x) exp(x^2); both
 * are near-minimax in relative error (Lawson's reweighted least squares), fitted by
 * scripts/fit_erf.ts against the float64 erf of src/kernels/reference/erf.ts, which also
 * measures the algorithm below with every float32 operation rounded exactly: max abs error
 * 7.9e-8 on [-5, 5] (about 1.3 ulp of erf(1)). A GPU's exp is allowed a few ulps more than
 * correct rounding; on lavapipe the whole function measures below 2e-7
 * (test/webgpu/depthwise_resize_erf.test.ts checks that on a dense grid).
 * Adding x last in the first piece keeps the rounding of the result near half an ulp.
 */
export const ERF_WGSL = `fn erf_f32(x: f32) -> f32 {
  let a = abs(x);
  if (a < 1.0) {
    let t = x * x;
    let q = 0.128379166 + t * (-0.376126260 + t * (0.112835854 + t * (-0.0268538110 + t * (0.00518832775
      + t * (-0.000801019254 + t * 0.0000785385782)))));
    return x + x * q;
  }
  if (a >= 3.92) { return sign(x); }
  let s = a - 2.5;
  let r = 0.210806355 + s * (-0.0743473396 + s * (0.0249381531 + s * (-0.00800168421 + s * (0.00246619480
    + s * (-0.000733133522 + s * (0.000212663872 + s * (-0.0000595934835 + s * (0.0000145346221
    + s * (-0.00000369059944 + s * (0.00000163487232 + s * -4.40246367e-7))))))))));
  let v = 1.0 - exp(-(a * a)) * r;
  return select(-v, v, x > 0.0);
}`;
