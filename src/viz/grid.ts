/**
 * Pure array work behind the three pictures of SPEC.md: activation grids
 * (section 1), filter-pattern grids and `deprocess_image` (section 2) and the
 * Grad-CAM overlay (section 3). No engine, no I/O.
 *
 * Float arithmetic mirrors the book's numpy code on float32 arrays bit for
 * bit: each in-place step (`x -= m`, `x /= s`, `x *= 64`, ...) is rounded to
 * float32 (`Math.fround`), with a Python-float constant first rounded to
 * float32 as numpy does for an array-scalar operation, and `mean()`/`std()`
 * replay numpy's float32 pairwise summation ({@link numpyMeanStdF32}).
 * Checked at development time against numpy 2.4 on random activations and
 * images: identical uint8 output (apart from the zero-std guard below).
 */
import { applyColormapFloat, JET, VIRIDIS, applyColormap, type Colormap } from './colormap.ts';
import type { ImageU8 } from './image.ts';
import { assertImage, toRgbU8 } from './image.ts';
import { resizeBilinear } from './resize.ts';

const f32 = Math.fround;

/**
 * numpy's float32 `add.reduce`: pairwise summation (numpy's
 * `@TYPE@_pairwise_sum`): below 8 values a plain loop; up to 128 values
 * eight interleaved partial sums combined as ((r0+r1)+(r2+r3))+((r4+r5)+
 * (r6+r7)) plus the tail; above that, split at half (rounded down to a
 * multiple of 8) and recurse. Every addition rounded to float32.
 */
function pairwiseSumF32(get: (i: number) => number, start: number, n: number): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res = f32(res + get(start + i));
    return res;
  }
  if (n <= 128) {
    const r = new Float32Array(8);
    for (let j = 0; j < 8; j++) r[j] = get(start + j);
    let i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (let j = 0; j < 8; j++) r[j] = r[j]! + get(start + i + j);
    }
    let res = f32(f32(f32(r[0]! + r[1]!) + f32(r[2]! + r[3]!)) + f32(f32(r[4]! + r[5]!) + f32(r[6]! + r[7]!)));
    for (; i < n; i++) res = f32(res + get(start + i));
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return f32(pairwiseSumF32(get, start, n2) + pairwiseSumF32(get, start + n2, n - n2));
}

/**
 * `x.mean()` and `x.std()` (population, ddof = 0) of a float32 array the way
 * numpy computes them: float32 pairwise sums, `sum / n` in float32; std =
 * sqrt(mean((x - mean)^2)) with every step in float32. `get(i)` reads the
 * i-th value in numpy's iteration order (C order; a channel slice of an HWC
 * array is iterated as one strided run, which this matches).
 */
export function numpyMeanStdF32(get: (i: number) => number, n: number): { mean: number; std: number } {
  const mean = f32(pairwiseSumF32(get, 0, n) / n);
  const sq = (i: number): number => {
    const d = f32(get(i) - mean);
    return f32(d * d);
  };
  const variance = f32(pairwiseSumF32(sq, 0, n) / n);
  return { mean, std: f32(Math.sqrt(variance)) };
}

/** numpy's `np.clip(x, lo, hi).astype('uint8')` for one value (truncation; NaN → 0 as on x86). */
function clipToUint8(x: number, hi = 255): number {
  if (Number.isNaN(x)) return 0;
  const c = x < 0 ? 0 : x > hi ? hi : x;
  return Math.trunc(c);
}

// ---------------------------------------------------------------------------
// Min-max normalisation (matplotlib's default Normalize)

/** Arithmetic of the array being normalised: float32 data or float64 data. */
export type NormPrecision = 'float32' | 'float64';

/**
 * matplotlib's default `Normalize` as `imshow`/`matshow`/`imsave` apply it
 * when no vmin/vmax are given: vmin, vmax = data min, max; result
 * `(x - vmin) / (vmax - vmin)`; all zeros when vmin == vmax. The book's
 * `plt.imshow(display_grid, cmap='viridis')` and `plt.matshow(channel)` both
 * do this before colouring.
 *
 * `precision` follows the data's dtype as matplotlib does: for float32 data
 * `x - vmin` is rounded to float32 and the division (by the float64
 * `vmax - vmin`) is rounded to float32; for float64 data (the book's
 * `display_grid` is `np.zeros(...)`, float64) everything is float64. Default:
 * float32 for a Float32Array, float64 otherwise. NaN values stay NaN and are
 * ignored for vmin/vmax.
 */
export function normalizeMinMax(values: ArrayLike<number>, precision?: NormPrecision): Float64Array {
  const p: NormPrecision = precision ?? (values instanceof Float32Array ? 'float32' : 'float64');
  let vmin = Infinity;
  let vmax = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < vmin) vmin = v;
    if (v > vmax) vmax = v;
  }
  const out = new Float64Array(values.length);
  if (!(vmin < vmax)) {
    for (let i = 0; i < values.length; i++) out[i] = Number.isNaN(values[i]!) ? NaN : 0;
    return out;
  }
  const range = vmax - vmin;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    out[i] = p === 'float32' ? f32(f32(v - vmin) / range) : (v - vmin) / range;
  }
  return out;
}

/**
 * A matrix shown the matplotlib way, one colour per value (what
 * `plt.imsave(values, cmap=...)` writes; `imshow` shows the same colours,
 * resampled to the screen): min-max normalised ({@link normalizeMinMax}),
 * then coloured with matplotlib's float rule. Returns an RGB image of
 * `width` x `height`.
 */
export function colorizeMinMax(
  values: ArrayLike<number>,
  width: number,
  height: number,
  map: Colormap = VIRIDIS,
  precision?: NormPrecision,
): ImageU8 {
  if (values.length !== width * height) {
    throw new Error(`colorizeMinMax: ${values.length} values for a ${height}x${width} matrix`);
  }
  return { width, height, channels: 3, data: applyColormapFloat(normalizeMinMax(values, precision), map) };
}

/**
 * One channel of an activation (HWC float32, `height` x `width` x
 * `channels`) as the book's `plt.matshow(activation[0, :, :, c],
 * cmap='viridis')` shows it: min-max scaled (float32 data), viridis.
 */
export function renderActivationChannel(
  activation: Float32Array,
  height: number,
  width: number,
  channels: number,
  channel: number,
  map: Colormap = VIRIDIS,
): ImageU8 {
  checkActivation(activation, height, width, channels, 'renderActivationChannel');
  if (!Number.isInteger(channel) || channel < 0 || channel >= channels) {
    throw new Error(`renderActivationChannel: channel ${channel} out of range 0..${channels - 1}`);
  }
  const n = height * width;
  const plane = new Float32Array(n);
  for (let i = 0; i < n; i++) plane[i] = activation[i * channels + channel]!;
  return colorizeMinMax(plane, width, height, map, 'float32');
}

// ---------------------------------------------------------------------------
// Activation grid (SPEC.md section 1)

function checkActivation(a: Float32Array, h: number, w: number, c: number, what: string): void {
  for (const [v, name] of [
    [h, 'height'],
    [w, 'width'],
    [c, 'channels'],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${what}: ${name} must be a positive integer (got ${v})`);
  }
  if (!(a instanceof Float32Array)) throw new Error(`${what}: activation must be a Float32Array`);
  if (a.length !== h * w * c) {
    throw new Error(`${what}: activation has ${a.length} values, expected ${h}x${w}x${c} = ${h * w * c}`);
  }
}

/**
 * The book's post-processing of one channel, written into `out` (uint8,
 * `height * width`): `x -= x.mean(); x /= x.std(); x *= 64; x += 128;
 * np.clip(x, 0, 255).astype('uint8')` (truncation).
 *
 * Zero-std guard (a constant channel, e.g. a dead ReLU): the book divides
 * 0 by 0, giving NaN, which numpy's uint8 cast turns into an unspecified
 * value (0 on x86). We divide by 1 instead, so the centred values stay 0 and
 * the channel shows as a flat 128 (mid-scale).
 */
export function postprocessChannel(
  activation: Float32Array,
  height: number,
  width: number,
  channels: number,
  channel: number,
  out: Uint8Array = new Uint8Array(height * width),
): Uint8Array {
  checkActivation(activation, height, width, channels, 'postprocessChannel');
  const n = height * width;
  const at = (i: number): number => activation[i * channels + channel]!;
  const m = numpyMeanStdF32(at, n).mean;
  const centred = new Float32Array(n);
  for (let i = 0; i < n; i++) centred[i] = at(i) - m; // Float32Array store = fround
  // The book takes std() of the already centred array.
  let s = numpyMeanStdF32((i) => centred[i]!, n).std;
  if (s === 0) s = 1;
  for (let i = 0; i < n; i++) {
    const x2 = f32(centred[i]! / s);
    const x3 = f32(x2 * 64);
    const x4 = f32(x3 + 128);
    out[i] = clipToUint8(x4);
  }
  return out;
}

/**
 * The book's activation grid for one layer, as a gray uint8 image.
 *
 * `activation` is one sample's layer output, HWC float32 (`height` x
 * `width` x `channels`). Channels are tiled `imagesPerRow` (16) to a grid
 * row; the number of grid rows is `channels // imagesPerRow` — the book calls
 * it `n_cols` and builds `display_grid = np.zeros((size * n_cols,
 * images_per_row * size))`, channel `col * images_per_row + row` going to
 * grid row `col`, grid column `row`. As in the book, the last
 * `channels % imagesPerRow` channels are not shown. Each tile is
 * {@link postprocessChannel}. Output: `(height * nRows)` x
 * `(width * imagesPerRow)`, 1 channel.
 *
 * Extension: with fewer than `imagesPerRow` channels the book's grid would be
 * empty; we then return a single row of all `channels` tiles.
 */
export function activationGrid(
  activation: Float32Array,
  height: number,
  width: number,
  channels: number,
  imagesPerRow = 16,
): ImageU8 {
  checkActivation(activation, height, width, channels, 'activationGrid');
  if (!Number.isInteger(imagesPerRow) || imagesPerRow < 1) {
    throw new Error(`activationGrid: imagesPerRow must be a positive integer (got ${imagesPerRow})`);
  }
  let perRow = imagesPerRow;
  let nRows = Math.floor(channels / imagesPerRow);
  if (nRows === 0) {
    perRow = channels;
    nRows = 1;
  }
  const gridW = perRow * width;
  const gridH = nRows * height;
  const grid = new Uint8Array(gridW * gridH);
  const tile = new Uint8Array(height * width);
  for (let r = 0; r < nRows; r++) {
    for (let c = 0; c < perRow; c++) {
      postprocessChannel(activation, height, width, channels, r * perRow + c, tile);
      for (let y = 0; y < height; y++) {
        grid.set(tile.subarray(y * width, (y + 1) * width), (r * height + y) * gridW + c * width);
      }
    }
  }
  return { width: gridW, height: gridH, channels: 1, data: grid };
}

/**
 * A gray uint8 grid as the book shows it: `plt.imshow(display_grid,
 * cmap='viridis')` min-max normalises the (float64) grid over its own
 * min..max — not over 0..255 — then colours it. Returns RGB.
 */
export function renderGridViridis(grid: ImageU8, map: Colormap = VIRIDIS): ImageU8 {
  assertImage(grid, 'renderGridViridis');
  if (grid.channels !== 1) throw new Error('renderGridViridis: expected a 1-channel grid');
  return colorizeMinMax(grid.data, grid.width, grid.height, map, 'float64');
}

// ---------------------------------------------------------------------------
// Filter patterns (SPEC.md section 2)

/**
 * The book's `deprocess_image` on a float32 image (any shape, all values
 * together): `x -= x.mean(); x /= (x.std() + 1e-5); x *= 0.1; x += 0.5;
 * clip 0..1; x *= 255; clip 0..255; astype('uint8')` (truncation). std is
 * the population std (numpy's default ddof = 0), taken of the centred array.
 */
export function deprocessImage(x: Float32Array): Uint8Array {
  if (!(x instanceof Float32Array)) throw new Error('deprocessImage: expected a Float32Array');
  const n = x.length;
  const out = new Uint8Array(n);
  if (n === 0) return out;
  const m = numpyMeanStdF32((i) => x[i]!, n).mean;
  const centred = new Float32Array(n);
  for (let i = 0; i < n; i++) centred[i] = x[i]! - m;
  const s = numpyMeanStdF32((i) => centred[i]!, n).std;
  const denom = f32(s + f32(1e-5));
  const tenth = f32(0.1);
  for (let i = 0; i < n; i++) {
    let v = f32(centred[i]! / denom);
    v = f32(v * tenth);
    v = f32(v + 0.5);
    v = v < 0 ? 0 : v > 1 ? 1 : v;
    v = f32(v * 255);
    out[i] = clipToUint8(v);
  }
  return out;
}

/**
 * The book's grid of filter patterns: `rows` x `cols` RGB tiles of
 * `size` x `size` separated by `margin` black pixels, so `rows * size +
 * (rows - 1) * margin` high (547 for 8 x 64 + 7 x 5). Pattern number
 * `i + rows * j` (the book: `i + j * 8`) goes to grid row `i`, column `j`.
 * `patterns[k]` is pattern k as `size * size * 3` bytes (HWC RGB); missing
 * patterns (a shorter array) leave their tile black.
 */
export function patternGrid(
  patterns: readonly Uint8Array[],
  size: number,
  rows = 8,
  cols = 8,
  margin = 5,
): ImageU8 {
  for (const [v, name, min] of [
    [size, 'size', 1],
    [rows, 'rows', 1],
    [cols, 'cols', 1],
    [margin, 'margin', 0],
  ] as const) {
    if (!Number.isInteger(v) || v < min) throw new Error(`patternGrid: bad ${name} ${v}`);
  }
  if (patterns.length > rows * cols) {
    throw new Error(`patternGrid: ${patterns.length} patterns do not fit a ${rows}x${cols} grid`);
  }
  const height = rows * size + (rows - 1) * margin;
  const width = cols * size + (cols - 1) * margin;
  const data = new Uint8Array(width * height * 3);
  const rowBytes = size * 3;
  for (let k = 0; k < patterns.length; k++) {
    const p = patterns[k]!;
    if (p.length !== size * size * 3) {
      throw new Error(`patternGrid: pattern ${k} has ${p.length} bytes, expected ${size}x${size}x3`);
    }
    const i = k % rows; // grid row
    const j = Math.floor(k / rows); // grid column
    const top = i * (size + margin);
    const left = j * (size + margin);
    for (let y = 0; y < size; y++) {
      data.set(p.subarray(y * rowBytes, (y + 1) * rowBytes), ((top + y) * width + left) * 3);
    }
  }
  return { width, height, channels: 3, data };
}

// ---------------------------------------------------------------------------
// Grad-CAM overlay (SPEC.md section 3)

/**
 * `np.uint8(255 * h)` for a float32 heatmap in [0, 1]: `255 * h` rounded to
 * float32, then truncated. Values outside [0, 1] are clipped first (numpy
 * would wrap them modulo 256), NaN gives 0.
 */
export function heatmapToUint8(h: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(h.length);
  for (let i = 0; i < h.length; i++) out[i] = clipToUint8(f32(255 * h[i]!));
  return out;
}

/** A one-channel float map: what {@link overlayHeatmap} accepts as heatmap. */
export interface FloatMap {
  width: number;
  height: number;
  data: Float32Array | Float64Array;
}

/**
 * The book's Grad-CAM superimposition, on an RGB image:
 *
 *   heatmap = cv2.resize(heatmap, (W, H))          # bilinear, half-pixel
 *   heatmap = np.uint8(255 * heatmap)
 *   heatmap = cv2.applyColorMap(heatmap, cv2.COLORMAP_JET)
 *   superimposed_img = heatmap * 0.4 + img
 *   cv2.imwrite(path, superimposed_img)
 *
 * Colour order: the book reads the photo with `cv2.imread` (BGR) and JET
 * comes out of OpenCV in BGR too, so the sum is channel-consistent, and
 * `imwrite` stores BGR as the file's RGB. Doing the same in RGB — RGB photo
 * plus the JET table in RGB order — gives the identical file: output
 * R = 0.4 * jet_R + photo_R, and so on. (Mixing an RGB photo with OpenCV's
 * BGR JET would swap red and blue in the heat colours.)
 *
 * Last step: `superimposed_img` is float64; `cv2.imwrite` converts it with
 * `convertTo(CV_8U)`, which saturates to 0..255 and ROUNDS to nearest (no
 * ties occur: 0.4 * k never ends in .5). We do the same.
 *
 * `image` is HWC uint8 (gray or RGBA are converted to RGB first), `heatmap`
 * any `h` x `w` float map in [0, 1] (e.g. the 14x14 Grad-CAM map);
 * `intensity` is the 0.4. Returns an RGB uint8 image of the photo's size.
 */
export function overlayHeatmap(image: ImageU8, heatmap: FloatMap, intensity = 0.4): ImageU8 {
  assertImage(image, 'overlayHeatmap image');
  const rgb = image.channels === 3 ? image : toRgbU8(image);
  const { width: W, height: H } = rgb;
  if (heatmap.data.length !== heatmap.width * heatmap.height) {
    throw new Error(
      `overlayHeatmap: heatmap has ${heatmap.data.length} values, expected ${heatmap.height}x${heatmap.width}`,
    );
  }
  const resized = resizeBilinear(heatmap.data, heatmap.height, heatmap.width, H, W, 1);
  const colored = applyColormap(heatmapToUint8(resized), JET);
  const out = new Uint8Array(W * H * 3);
  const src = rgb.data;
  for (let i = 0; i < out.length; i++) {
    const v = colored[i]! * intensity + src[i]!;
    out[i] = v >= 255 ? 255 : v <= 0 ? 0 : Math.round(v);
  }
  return { width: W, height: H, channels: 3, data: out };
}
