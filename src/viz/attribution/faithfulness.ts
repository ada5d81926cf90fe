/**
 * Faithfulness scores of a map: does the model's confidence follow it?
 *
 * - deletion and insertion (Petsiuk et al. 2018, RISE, section 4.1): pixels are ranked
 *   by the map (at the input size; ties in a seeded random order); deletion replaces the
 *   top k of them, for k = 0, HW/S, ..., HW, by the replacement image (black, as RISE's
 *   deletion, or blurred), insertion starts from the replacement (blurred, as RISE's
 *   insertion, or black) and puts the top k back. The class probability is recorded at
 *   each of the S + 1 steps; the area under the curve (trapezoids over the fraction of
 *   pixels, so in [0, 1]) is low for a good map under deletion and high under insertion.
 *   The S + 1 images go through the model `batch` at a time.
 * - average drop and increase in confidence (Chattopadhay et al. 2018, section 6.1.1):
 *   the explanation image E = M * I (M the map at the input size in [0, 1], I the photo;
 *   in the model's input space E = black + M (x - black)); drop = max(0, Y - O) / Y * 100
 *   and increase = O > Y, with Y and O the class probability of I and of E.
 * - ROAD (Rong et al. 2022): the top (MoRF) or bottom (LeRF) p% of the pixels are
 *   removed and filled by noisy linear imputation (each removed pixel the weighted mean
 *   of its 8 neighbours, 1/6 sideways and 1/12 diagonally, solved as one sparse linear
 *   system per image by conjugate gradients, plus Gaussian noise of 1% of the input
 *   range), at p = 10, 20, ..., 90; the class probability at each.
 */
import { engine } from '../../engine/engine.ts';
import * as ops from '../../engine/ops/index.ts';
import { Random } from '../../engine/random.ts';
import type { Tensor } from '../../engine/tensor.ts';
import type { Model } from '../../models/model.ts';
import { resizeBilinear } from '../resize.ts';
import { AttributionError, batches, blackPixel, checkCount, DEFAULT_BATCH, defaultBlurSigma, gaussianBlur, makeTarget, scores, type AttributionMap, type Target } from './common.ts';

export const METRICS = ['deletion', 'insertion', 'drop', 'road'] as const;
export type MetricName = (typeof METRICS)[number];
export type Replacement = 'black' | 'blur';

export function parseMetrics(spec: string): MetricName[] {
  if (spec.trim() === 'none') return [];
  const list = spec.split(',').map((s) => s.trim()).filter(Boolean);
  if (list.length === 0) throw new AttributionError(`--metrics is empty: give some of ${METRICS.join(', ')} separated by commas, or none`);
  for (const m of list) if (!(METRICS as readonly string[]).includes(m)) throw new AttributionError(`unknown metric '${m}'; the metrics are ${METRICS.join(', ')} (or none)`);
  return [...new Set(list)] as MetricName[];
}

export interface FaithfulnessOptions {
  /** Curve steps S (default 20: 21 points). */
  steps?: number;
  /** Replacement for both curves (default: black for deletion, blurred for insertion, as RISE). */
  replace?: Replacement;
  batch?: number;
  blurSigma?: number;
  /** Pixel values (0..255) -> the model's input, for the black pixel (see integratedGradients). */
  toInput?: (pixels: Float32Array) => Float32Array;
  seed?: number;
}

export interface Curve {
  replacement: Replacement;
  fractions: number[];
  scores: number[];
  auc: number;
}

export interface ConfidenceChange {
  original: number;
  explained: number;
  /** Percent. */
  averageDrop: number;
  increase: boolean;
}

export interface RoadResult {
  percents: number[];
  morf: number[];
  lerf: number[];
  /** Mean probability over the percents (lower MoRF and higher LeRF: a better map). */
  morfMean: number;
  lerfMean: number;
}

export interface Faithfulness {
  deletion?: Curve;
  insertion?: Curve;
  drop?: ConfidenceChange;
  road?: RoadResult;
}

/** The map at the input size (OpenCV-rule bilinear, as the overlay is drawn), row-major. */
export function mapAtInputSize(map: Pick<AttributionMap, 'height' | 'width' | 'data'>, size: readonly [number, number]): Float32Array {
  if (map.height === size[0] && map.width === size[1]) return map.data;
  return resizeBilinear(map.data, map.height, map.width, size[0], size[1], 1) as Float32Array;
}

/** rank[i] = position of pixel i when ordered by decreasing value; ties in a seeded random order. */
export function pixelRanks(values: ArrayLike<number>, seed = 0): Float32Array {
  const n = values.length;
  const rng = new Random(seed + 1);
  const tie = Float64Array.from({ length: n }, () => rng.next());
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => values[b] - values[a] || tie[a] - tie[b]);
  const rank = new Float32Array(n);
  order.forEach((p, r) => (rank[p] = r));
  return rank;
}

/** Trapezoid area under y over evenly spaced x in [0, 1]. */
export function auc(ys: readonly number[]): number {
  const s = ys.length - 1;
  let a = 0;
  for (let i = 0; i < s; i++) a += (ys[i] + ys[i + 1]) / 2;
  return a / s;
}

function probabilityTarget(model: Model, classIndex: number): Target {
  return makeTarget(model, classIndex, 'prob');
}

async function curve(model: Model, input: Tensor, rank: Tensor, replacement: Tensor, kind: 'deletion' | 'insertion', target: Target, steps: number, batch: number): Promise<{ fractions: number[]; scores: number[] }> {
  const [, H, W] = input.shape;
  const n = H * W;
  const counts = Array.from({ length: steps + 1 }, (_, i) => Math.round((i * n) / steps));
  const out: number[] = [];
  for (const b of batches(steps + 1, batch)) {
    const s = engine.tidy(() => {
      const k = ops.tensor(counts.slice(b.start, b.start + b.size), [b.size, 1, 1, 1]);
      const top = ops.less(rank, k); // [b, H, W, 1]: 1 on the k most important pixels
      const [from, to] = kind === 'deletion' ? [input, replacement] : [replacement, input];
      return scores(model, ops.add(from, ops.mul(top, ops.sub(to, from))), target);
    });
    out.push(...(await s.data()));
    s.dispose();
  }
  return { fractions: counts.map((c) => c / n), scores: out };
}

/** Deletion and insertion curves, average drop and increase, and ROAD of one map of one image, for one class. */
export async function faithfulness(model: Model, input: Tensor, map: Pick<AttributionMap, 'height' | 'width' | 'data'>, classIndex: number, metrics: readonly MetricName[], o: FaithfulnessOptions = {}): Promise<Faithfulness> {
  const steps = checkCount(o.steps ?? 20, '--curve-steps', 1, 10000);
  const batch = checkCount(o.batch ?? DEFAULT_BATCH, '--batch', 1);
  const target = probabilityTarget(model, classIndex);
  const [, H, W, C] = input.shape;
  const values = mapAtInputSize(map, [H, W]);
  const result: Faithfulness = {};
  const black = () => engine.tidy(() => ops.broadcastTo(ops.tensor(blackPixel(C, o.toInput), [1, 1, 1, C]), [1, H, W, C]));
  const blurred = () => gaussianBlur(input, o.blurSigma ?? defaultBlurSigma(H, W));
  if (metrics.includes('deletion') || metrics.includes('insertion')) {
    const rank = ops.tensor(pixelRanks(values, o.seed), [1, H, W, 1]);
    try {
      for (const kind of ['deletion', 'insertion'] as const) {
        if (!metrics.includes(kind)) continue;
        const replacement: Replacement = o.replace ?? (kind === 'deletion' ? 'black' : 'blur');
        const repl = replacement === 'black' ? black() : blurred();
        try {
          const c = await curve(model, input, rank, repl, kind, target, steps, batch);
          result[kind] = { replacement, ...c, auc: auc(c.scores) };
        } finally {
          repl.dispose();
        }
      }
    } finally {
      rank.dispose();
    }
  }
  if (metrics.includes('drop')) {
    let max = 0;
    for (const v of values) max = Math.max(max, v);
    const m = Float32Array.from(values, (v) => (max > 0 && v > 0 ? v / max : 0));
    const b = black();
    // two batches of one (the shape every method already ran), not a new batch-of-two shape
    const [ys, es] = engine.tidy(() => [scores(model, input, target), scores(model, ops.add(b, ops.mul(ops.tensor(m, [1, H, W, 1]), ops.sub(input, b))), target)]);
    b.dispose();
    const [[y], [e]] = await Promise.all([ys.data(), es.data()]);
    ys.dispose();
    es.dispose();
    result.drop = { original: y, explained: e, averageDrop: (Math.max(0, y - e) / y) * 100, increase: e > y };
  }
  if (metrics.includes('road')) result.road = await road(model, input, values, target, batch, o.seed ?? 0);
  return result;
}

/**
 * Noisy linear imputation (ROAD): the pixels with removed[i] set get the values that
 * make each the weighted mean of its neighbours (known neighbours fixed), solved by
 * conjugate gradients on the symmetric system sum_q w_pq (x_p - x_q) = 0, one channel
 * at a time, then noise of standard deviation `noise` is added to them.
 */
export function linearImputation(img: Float32Array, H: number, W: number, C: number, removed: Uint8Array, noise: number, rng: Random): Float32Array {
  const NB: [number, number, number][] = [
    [-1, 0, 1 / 6], [1, 0, 1 / 6], [0, -1, 1 / 6], [0, 1, 1 / 6],
    [-1, -1, 1 / 12], [-1, 1, 1 / 12], [1, -1, 1 / 12], [1, 1, 1 / 12],
  ];
  const unknown: number[] = [];
  const index = new Int32Array(H * W).fill(-1);
  for (let p = 0; p < H * W; p++) if (removed[p]) index[p] = unknown.push(p) - 1;
  const u = unknown.length;
  const out = Float32Array.from(img);
  if (u === 0) return out;
  // the matrix: diag[p] = sum of its neighbours' weights; off-diagonal -w for unknown neighbours
  const diag = new Float64Array(u);
  const nbr: number[][] = unknown.map(() => []);
  const nbw: number[][] = unknown.map(() => []);
  const known: { i: number; q: number; w: number }[] = [];
  unknown.forEach((p, i) => {
    const y = Math.floor(p / W);
    const x = p % W;
    for (const [dy, dx, w] of NB) {
      const yy = y + dy;
      const xx = x + dx;
      if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
      const q = yy * W + xx;
      diag[i] += w;
      if (index[q] >= 0) {
        nbr[i].push(index[q]);
        nbw[i].push(w);
      } else known.push({ i, q, w });
    }
    diag[i] += 1e-9; // a region cut off from every known pixel stays solvable
  });
  const apply = (v: Float64Array, r: Float64Array) => {
    for (let i = 0; i < u; i++) {
      let s = diag[i] * v[i];
      const ns = nbr[i];
      const ws = nbw[i];
      for (let j = 0; j < ns.length; j++) s -= ws[j] * v[ns[j]];
      r[i] = s;
    }
  };
  for (let c = 0; c < C; c++) {
    const b = new Float64Array(u);
    for (const { i, q, w } of known) b[i] += w * img[q * C + c];
    // start from the mean of the known values
    let mean = 0;
    let count = 0;
    for (let p = 0; p < H * W; p++) if (!removed[p]) (mean += img[p * C + c]), count++;
    const x = new Float64Array(u).fill(count ? mean / count : 0);
    const r = new Float64Array(u);
    apply(x, r);
    for (let i = 0; i < u; i++) r[i] = b[i] - r[i];
    const d = Float64Array.from(r);
    const q = new Float64Array(u);
    let rr = r.reduce((s, v) => s + v * v, 0);
    const stop = 1e-12 * Math.max(1e-30, b.reduce((s, v) => s + v * v, 0));
    for (let it = 0; it < 4 * u + 100 && rr > stop; it++) {
      apply(d, q);
      let dq = 0;
      for (let i = 0; i < u; i++) dq += d[i] * q[i];
      const alpha = rr / dq;
      for (let i = 0; i < u; i++) {
        x[i] += alpha * d[i];
        r[i] -= alpha * q[i];
      }
      const rr2 = r.reduce((s, v) => s + v * v, 0);
      const beta = rr2 / rr;
      rr = rr2;
      for (let i = 0; i < u; i++) d[i] = r[i] + beta * d[i];
    }
    for (let i = 0; i < u; i++) out[unknown[i] * C + c] = x[i] + noise * rng.normal();
  }
  return out;
}

export const ROAD_PERCENTS = [10, 20, 30, 40, 50, 60, 70, 80, 90];

async function road(model: Model, input: Tensor, values: Float32Array, target: Target, batch: number, seed: number): Promise<RoadResult> {
  const [, H, W, C] = input.shape;
  const img = await input.data();
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of img) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
  const noise = 0.01 * (hi - lo);
  const rank = pixelRanks(values, seed);
  const n = H * W;
  const rng = new Random(seed + 7);
  const images: Float32Array[] = [];
  for (const order of ['morf', 'lerf'] as const) {
    for (const p of ROAD_PERCENTS) {
      const k = Math.round((p / 100) * n);
      const removed = new Uint8Array(n);
      for (let i = 0; i < n; i++) removed[i] = (order === 'morf' ? rank[i] < k : rank[i] >= n - k) ? 1 : 0;
      images.push(linearImputation(img, H, W, C, removed, noise, rng));
    }
  }
  const probs: number[] = [];
  for (const b of batches(images.length, batch)) {
    const flat = new Float32Array(b.size * n * C);
    for (let j = 0; j < b.size; j++) flat.set(images[b.start + j], j * n * C);
    const s = engine.tidy(() => scores(model, ops.tensor(flat, [b.size, H, W, C]), target));
    probs.push(...(await s.data()));
    s.dispose();
  }
  const morf = probs.slice(0, ROAD_PERCENTS.length);
  const lerf = probs.slice(ROAD_PERCENTS.length);
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  return { percents: ROAD_PERCENTS, morf, lerf, morfMean: mean(morf), lerfMean: mean(lerf) };
}

