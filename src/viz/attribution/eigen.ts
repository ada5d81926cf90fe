/**
 * The leading eigenvector of a symmetric matrix, by the cyclic Jacobi method in
 * float64 (robust for close or repeated eigenvalues, where power iteration crawls).
 * Eigen-CAM uses it on the Gram matrix of a layer's activations, whose side is the
 * smaller of (rows x cols) and channels, so n is at most a few hundred.
 */
export function leadingEigenvector(matrix: ArrayLike<number>, n: number): { value: number; vector: Float64Array; sweeps: number } {
  if (matrix.length !== n * n) throw new Error(`leadingEigenvector: ${matrix.length} values for a ${n}x${n} matrix`);
  const a = Float64Array.from(matrix);
  // symmetrise (a float32 Gram matrix from the GPU is symmetric only up to rounding)
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) a[i * n + j] = a[j * n + i] = 0.5 * (a[i * n + j] + a[j * n + i]);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let total = 0;
  for (let i = 0; i < n * n; i++) total += a[i] * a[i];
  let sweeps = 0;
  for (; sweeps < 100; sweeps++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] * a[p * n + q];
    if (off <= 1e-26 * total || off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (apq === 0 || Math.abs(apq) < 1e-300) continue;
        // rotation in the (p, q) plane that zeroes a[p][q]: A' = Jᵀ A J (Numerical Recipes' jacobi)
        const tau = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = (tau >= 0 ? 1 : -1) / (Math.abs(tau) + Math.sqrt(1 + tau * tau));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          // columns p and q
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          // rows p and q
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        a[p * n + q] = a[q * n + p] = 0;
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  let best = 0;
  for (let i = 1; i < n; i++) if (a[i * n + i] > a[best * n + best]) best = i;
  const vector = new Float64Array(n);
  for (let k = 0; k < n; k++) vector[k] = v[k * n + best];
  return { value: a[best * n + best], vector, sweeps };
}
