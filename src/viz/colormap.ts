/**
 * The two colormaps of the reference pipeline, as 256-entry RGB uint8 tables.
 *
 * VIRIDIS — matplotlib's `viridis` (a `ListedColormap` of the 256 float
 * entries in `viridis_data.ts`). matplotlib turns its float table into bytes
 * with `(lut * 255).astype(np.uint8)` (`Colormap.__call__(..., bytes=True)`,
 * the path `imshow` and `imsave` take), i.e. TRUNCATION; we do the same, so
 * entry 0 is (68, 1, 84) and entry 255 is (253, 231, 36).
 *
 * JET — OpenCV's `COLORMAP_JET` (imgproc/src/colormap.cpp, class `Jet`).
 * OpenCV stores a 256-point float32 base map that is GNU Octave's `jet`
 * sampled at x = i/255:
 *   r = 4x - 1.5 on [3/8, 5/8), 1 on [5/8, 7/8), 4.5 - 4x from 7/8, else 0
 *   g = 4x - 0.5 on [1/8, 3/8), 1 on [3/8, 5/8), 3.5 - 4x on [5/8, 7/8), else 0
 *   b = 4x + 0.5 below 1/8, 1 on [1/8, 3/8), 2.5 - 4x on [3/8, 5/8), else 0
 * (e.g. r[96] = 0.00588235294117645, g[32] = 0.001960784313725483, b[0] = 0.5
 * in its source). `linear_colormap` then re-samples it with its `interp1`
 * at `linspace(0, 1, 256)` (float32, binary search, `y[lo] + (xi - x[lo]) *
 * (y[hi] - y[lo]) / (x[hi] - x[lo])`), and `convertTo(CV_8U, 255)` rounds
 * `255 * v` to the nearest integer, ties to even. Many entries sit on an
 * exact .5 before float32 rounding (255 * (4i/255 - 1.5) = 4i - 382.5), so
 * only a float32-faithful replay gives the right bytes: we replay every
 * float32 step. All 256 entries were checked equal to `cv2.applyColorMap`
 * (OpenCV 5.0) at development time. The table is kept in RGB order (OpenCV
 * returns BGR).
 *
 * Float → index follows matplotlib's `Colormap.__call__` for floats:
 * `i = int(x * N)` with `x == 1.0` mapped to `N - 1`; x < 0 gives the
 * "under" colour and x ≥ 1 (after scaling, `x * N >= N`) the "over" colour,
 * which for these maps are the first and last entries; NaN gives matplotlib's
 * "bad" colour, transparent black, here (0, 0, 0).
 */
import { VIRIDIS_DATA } from './viridis_data.ts';

/** A 256-entry colormap: `lut[3 * i + k]` is channel k (R, G, B) of entry i. */
export interface Colormap {
  readonly name: string;
  /** 768 bytes: 256 RGB entries. */
  readonly lut: Uint8Array;
}

/** Number of entries of every colormap here. */
export const COLORMAP_SIZE = 256;

function buildViridis(): Uint8Array {
  if (VIRIDIS_DATA.length !== COLORMAP_SIZE) throw new Error('viridis table must have 256 entries');
  const lut = new Uint8Array(COLORMAP_SIZE * 3);
  for (let i = 0; i < COLORMAP_SIZE; i++) {
    const e = VIRIDIS_DATA[i]!;
    for (let k = 0; k < 3; k++) lut[3 * i + k] = Math.trunc(e[k]! * 255);
  }
  return lut;
}

/** GNU Octave's jet at x in [0, 1], as [r, g, b] in float64. */
function octaveJet(x: number): [number, number, number] {
  const r = x >= 3 / 8 && x < 5 / 8 ? 4 * x - 1.5 : x >= 5 / 8 && x < 7 / 8 ? 1 : x >= 7 / 8 ? -4 * x + 4.5 : 0;
  const g = x >= 1 / 8 && x < 3 / 8 ? 4 * x - 0.5 : x >= 3 / 8 && x < 5 / 8 ? 1 : x >= 5 / 8 && x < 7 / 8 ? -4 * x + 3.5 : 0;
  const b = x < 1 / 8 ? 4 * x + 0.5 : x >= 1 / 8 && x < 3 / 8 ? 1 : x >= 3 / 8 && x < 5 / 8 ? -4 * x + 2.5 : 0;
  return [r, g, b];
}

/**
 * OpenCV's float32 JET base map (256 x [r, g, b], row-major), the
 * `static const float r[], g[], b[]` arrays of its `Jet` class.
 */
export function jetBaseMap(): Float32Array {
  const out = new Float32Array(COLORMAP_SIZE * 3);
  for (let i = 0; i < COLORMAP_SIZE; i++) out.set(octaveJet(i / 255), 3 * i);
  return out;
}

/** OpenCV's float32 `linspace(x0, x1, n)`: `x0 + i * step` with float32 step. */
function linspaceF32(x0: number, x1: number, n: number): Float32Array {
  const f = Math.fround;
  const pts = new Float32Array(n);
  const step = f(f(x1 - x0) / (n - 1));
  for (let i = 0; i < n; i++) pts[i] = f(x0 + f(i * step));
  return pts;
}

/** OpenCV's `interp1_<float>` for one query point (X sorted ascending). */
function interp1F32(X: Float32Array, Y: Float32Array, xi: number): number {
  const f = Math.fround;
  let low = 0;
  let high = X.length - 1;
  if (xi < X[low]!) high = 1;
  if (xi > X[high]!) low = high - 1;
  while (high - low > 1) {
    const c = low + ((high - low) >> 1);
    if (xi > X[c]!) low = c;
    else high = c;
  }
  return f(Y[low]! + f(f(f(xi - X[low]!) * f(Y[high]! - Y[low]!)) / f(X[high]! - X[low]!)));
}

/** C's `lrint`/OpenCV's `cvRound` in the default mode: nearest, ties to even. */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function buildJet(): Uint8Array {
  const base = jetBaseMap();
  const X = linspaceF32(0, 1, COLORMAP_SIZE);
  const xi = linspaceF32(0, 1, COLORMAP_SIZE);
  const lut = new Uint8Array(COLORMAP_SIZE * 3);
  for (let k = 0; k < 3; k++) {
    const Y = new Float32Array(COLORMAP_SIZE);
    for (let i = 0; i < COLORMAP_SIZE; i++) Y[i] = base[3 * i + k]!;
    for (let i = 0; i < COLORMAP_SIZE; i++) {
      const v = roundHalfEven(Math.fround(interp1F32(X, Y, xi[i]!) * 255));
      lut[3 * i + k] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return lut;
}

/** matplotlib's viridis, 256 RGB uint8 entries (float table × 255, truncated). */
export const VIRIDIS: Colormap = { name: 'viridis', lut: buildViridis() };

/** OpenCV's COLORMAP_JET, 256 RGB uint8 entries (RGB order, not OpenCV's BGR). */
export const JET: Colormap = { name: 'jet', lut: buildJet() };

/** Look up a colormap by name: `'viridis'` or `'jet'`. */
export function getColormap(name: 'viridis' | 'jet'): Colormap {
  if (name === 'viridis') return VIRIDIS;
  if (name === 'jet') return JET;
  throw new Error(`unknown colormap '${String(name)}' (known: viridis, jet)`);
}

/**
 * Map uint8 indices to RGB: output `3 * values.length` bytes, entry
 * `values[i]` of `map` at `3 * i`. This is `cv2.applyColorMap` on a
 * one-channel image (and matplotlib's colormap on integer input).
 */
export function applyColormap(values: Uint8Array, map: Colormap): Uint8Array {
  const out = new Uint8Array(values.length * 3);
  const lut = map.lut;
  for (let i = 0; i < values.length; i++) {
    const j = 3 * values[i]!;
    out[3 * i] = lut[j]!;
    out[3 * i + 1] = lut[j + 1]!;
    out[3 * i + 2] = lut[j + 2]!;
  }
  return out;
}

/**
 * matplotlib's float → colormap index: `int(x * N)` (truncation), `x == 1`
 * → `N - 1`, `x < 0` → 0 (under colour), `x * N >= N` → `N - 1` (over
 * colour). Returns -1 for NaN (matplotlib's "bad" value).
 */
export function colormapIndex(x: number, n: number = COLORMAP_SIZE): number {
  if (Number.isNaN(x)) return -1;
  const xa = x * n;
  if (xa < 0) return 0;
  if (xa >= n) return n - 1;
  return Math.trunc(xa);
}

/**
 * Colour float values in [0, 1] with matplotlib's rule ({@link colormapIndex}).
 * NaN becomes (0, 0, 0). Returns `3 * values.length` RGB bytes.
 */
export function applyColormapFloat(values: ArrayLike<number>, map: Colormap): Uint8Array {
  const out = new Uint8Array(values.length * 3);
  const lut = map.lut;
  for (let i = 0; i < values.length; i++) {
    const idx = colormapIndex(values[i]!);
    if (idx < 0) continue; // bad → black
    out[3 * i] = lut[3 * idx]!;
    out[3 * i + 1] = lut[3 * idx + 1]!;
    out[3 * i + 2] = lut[3 * idx + 2]!;
  }
  return out;
}
