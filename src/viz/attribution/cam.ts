/**
 * The CAM family that needs one forward and one backward pass: with A the chosen
 * layer's output (rows x cols x channels, batch of one) and G = d score / d A,
 *
 * - Grad-CAM (Selvaraju et al. 2017): w_k = mean_ij G_ij^k;  map = relu(mean_k w_k A^k)
 *   (SPEC.md section 3, the same formula as src/viz/gradcam.ts);
 * - Grad-CAM++ (Chattopadhay et al. 2018, eq. 19 with an exponential score
 *   Y = exp(S)): alpha_ij^k = G^2 / (2 G^2 + sum_ab A_ab^k G^3) (alpha = 0 where the
 *   denominator is 0), w_k = sum_ij alpha_ij^k relu(G_ij^k), map = relu(sum_k w_k A^k).
 *   The exponential's own factor exp(S) multiplies every w_k alike and is removed by
 *   the normalisation;
 * - XGrad-CAM (Fu et al. 2020, eq. 9): w_k = sum_ij (A_ij^k / sum_ab A_ab^k) G_ij^k
 *   (0 for a channel whose sum is 0), map = relu(sum_k w_k A^k);
 * - Layer-CAM (Jiang et al. 2021, eq. 5-6): map = relu(sum_k relu(G^k) * A^k);
 * - HiResCAM (Draelos & Carin 2020): map = relu(sum_k G^k * A^k);
 *
 * and Eigen-CAM (Muhammad & Yeasin 2020), which needs no gradient and no class: the
 * projection of the activations (as an (rows x cols) x channels matrix M) on their
 * first principal direction, M v1 with v1 the leading right singular vector of M
 * (no centring, as the paper), its sign fixed so that the projection sums to a
 * positive value; map = relu of that.
 *
 * Every map is then divided by its maximum (an all-zero map stays zero), at the
 * layer's grid.
 */
import { engine } from '../../engine/engine.ts';
import * as ops from '../../engine/ops/index.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { gradientsOf } from '../../autodiff/api.ts';
import type { Model } from '../../models/model.ts';
import { camLayer, checkSingleImage, reluMaxNormalise, resolveTarget, type MapResult, type Target, type TargetOptions } from './common.ts';
import { leadingEigenvector } from './eigen.ts';

export const GRADIENT_CAMS = ['gradcam', 'gradcam++', 'xgradcam', 'layercam', 'hirescam'] as const;
export type GradientCamName = (typeof GRADIENT_CAMS)[number];

export const CAM_TITLES: Record<string, string> = {
  gradcam: 'Grad-CAM',
  'gradcam++': 'Grad-CAM++',
  xgradcam: 'XGrad-CAM',
  layercam: 'Layer-CAM',
  hirescam: 'HiResCAM',
  eigencam: 'Eigen-CAM',
  scorecam: 'Score-CAM',
  ablationcam: 'Ablation-CAM',
};

/** The un-normalised map [1, rows, cols] of each gradient CAM from A and G (both [1, rows, cols, channels]). */
export const CAM_FORMULAS: Record<GradientCamName, (A: Tensor, G: Tensor) => Tensor> = {
  gradcam: (A, G) => ops.mean(ops.mul(A, ops.mean(G, [0, 1, 2])), [3]),
  'gradcam++': (A, G) => {
    const g2 = ops.square(G);
    const g3 = ops.mul(g2, G);
    const denom = ops.add(ops.mul(g2, 2), ops.mul(ops.sum(A, [1, 2], true), g3));
    const zero = ops.equal(denom, 0);
    const alpha = ops.mul(ops.div(g2, ops.add(denom, zero)), ops.sub(1, zero));
    const w = ops.sum(ops.mul(alpha, ops.relu(G)), [0, 1, 2]);
    return ops.sum(ops.mul(A, w), [3]);
  },
  xgradcam: (A, G) => {
    const s = ops.sum(A, [1, 2], true);
    const zero = ops.equal(s, 0);
    const w = ops.sum(ops.mul(ops.div(ops.mul(A, G), ops.add(s, zero)), ops.sub(1, zero)), [0, 1, 2]);
    return ops.sum(ops.mul(A, w), [3]);
  },
  layercam: (A, G) => ops.sum(ops.mul(ops.relu(G), A), [3]),
  hirescam: (A, G) => ops.sum(ops.mul(G, A), [3]),
};

/** A and G = d score / d A for one image: one forward pass, and a backward pass that stops at A. */
export async function activationsAndGradients(model: Model, input: Tensor, layer: string, target: Target): Promise<{ A: Tensor; G: Tensor; scoreValue: number }> {
  let A: Tensor | undefined;
  // only ops downstream of A are recorded: the forward pass up to the layer keeps no tape memory
  const { value, grads } = gradientsOf(
    (watch) => {
      const [a, raw] = model.run(input, [layer, target.output], { watch: { [layer]: watch } });
      A = engine.keep(a);
      return { value: ops.reshape(target.scoreOf(raw), []), wrt: [a] };
    },
    { onlyWatched: true },
  );
  try {
    return { A: A!, G: grads[0], scoreValue: (await value.data())[0] };
  } finally {
    value.dispose();
  }
}

export interface CamOptions extends TargetOptions {
  /** Layer by name or nested path (default: the last layer with a spatial output). */
  layer?: string;
}

/**
 * Several gradient CAMs of one image from a single forward and backward pass.
 * Returns the maps in the order asked.
 */
export async function gradientCams(model: Model, input: Tensor, methods: readonly GradientCamName[], o: CamOptions = {}): Promise<MapResult[]> {
  checkSingleImage(input, 'CAM');
  const title = methods.length === 1 ? CAM_TITLES[methods[0]] : 'CAM';
  const { layer, shape } = camLayer(model, title, o.layer);
  const target = await resolveTarget(model, input, o);
  const { A, G, scoreValue } = await activationsAndGradients(model, input, layer, target);
  try {
    const out: MapResult[] = [];
    for (const m of methods) {
      const formula = CAM_FORMULAS[m];
      if (!formula) throw new Error(`gradientCams: '${m}' is not a gradient CAM (${GRADIENT_CAMS.join(', ')})`);
      const t = engine.tidy(() => formula(A, G));
      const raw = await t.data();
      t.dispose();
      out.push({ method: m, layer, height: shape[0], width: shape[1], data: reluMaxNormalise(raw), signed: false, classIndex: target.classIndex, score: target.score, scoreValue });
    }
    return out;
  } finally {
    A.dispose();
    G.dispose();
  }
}

export async function gradientCam(model: Model, input: Tensor, method: GradientCamName, o: CamOptions = {}): Promise<MapResult> {
  return (await gradientCams(model, input, [method], o))[0];
}

/** Eigen-CAM: class-independent; classIndex and score only label the result. */
export async function eigenCam(model: Model, input: Tensor, o: CamOptions = {}): Promise<MapResult> {
  checkSingleImage(input, 'Eigen-CAM');
  const { layer, shape } = camLayer(model, 'Eigen-CAM', o.layer);
  const target = await resolveTarget(model, input, o);
  const [h, w, k] = shape;
  const hw = h * w;
  const [A, gram, s] = engine.tidy(() => {
    const a = model.run(input, [layer, target.output]);
    const M = ops.reshape(a[0], [hw, k]);
    // the Gram matrix on the smaller side: M Mᵀ (rows*cols square) or Mᵀ M (channels square)
    return [M, hw <= k ? ops.matmul(M, M, false, true) : ops.matmul(M, M, true, false), target.scoreOf(a[1])];
  });
  try {
    const n = Math.min(hw, k);
    const { value, vector } = leadingEigenvector(await gram.data(), n);
    let proj: Float64Array;
    if (hw <= k) {
      // M v1 = sigma1 u1, with u1 the leading eigenvector of M Mᵀ
      const sigma = Math.sqrt(Math.max(value, 0));
      proj = vector.map((u) => u * sigma);
    } else {
      const t = engine.tidy(() => ops.matmul(A, ops.tensor(Array.from(vector), [k, 1])));
      proj = Float64Array.from(await t.data());
      t.dispose();
    }
    let total = 0;
    for (const p of proj) total += p;
    if (total < 0) for (let i = 0; i < proj.length; i++) proj[i] = -proj[i];
    return {
      method: 'eigencam',
      layer,
      height: h,
      width: w,
      data: reluMaxNormalise(proj),
      signed: false,
      classIndex: target.classIndex,
      score: target.score,
      scoreValue: (await s.data())[0],
      details: { eigenvalue: value },
    };
  } finally {
    A.dispose();
    gram.dispose();
    s.dispose();
  }
}
