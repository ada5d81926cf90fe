/**
 * Image resizing as the reference pipeline does it.
 *
 * (a) NEAREST, as Keras' `load_img(path, target_size)` → PIL
 *     `Image.resize((w, h), NEAREST)`. SPEC.md writes the rule as
 *     `src = floor((dst + 0.5) * src_size / dst_size)`. PIL evaluates it in
 *     floating point, and not in closed form: Pillow's `ImagingScaleAffine`
 *     (libImaging/Geometry.c, reached from `_resize` with the affine matrix
 *     `a = [src/dst, 0, 0, 0, src/dst, 0]`) starts at `xo = scale * 0.5` and
 *     adds `scale` once per output pixel (`xo += a[0]`), taking `(int)xo`.
 *     The accumulated double can land just below an integer that the exact
 *     rational formula reaches, e.g. 400 → 150 rows: exact row 4 maps to
 *     source 12 (4.5 * 8/3 = 12) but PIL picks 11 (the running sum is
 *     11.999999999999998). To give the same pixels as Keras, the default
 *     rule here, `'pil'`, replays PIL's accumulation step by step in float64
 *     (identical IEEE operations, so identical results: checked against
 *     Pillow 12.3 on 2,000 random size pairs with no difference). The
 *     `'exact'` rule evaluates the formula in exact integer arithmetic,
 *     `floor((2*dst + 1) * src / (2 * dst_size))`, for callers that want the
 *     mathematical definition. The two agree when the running sum is exact
 *     (power-of-two ratios such as 300 → 150 or 600 → 150) or when
 *     `(dst + 0.5) * src / dst_size` is never an integer (then no rounding
 *     error can cross one): 525 → 224, 351 → 224, 451 → 150, 618 → 150 and
 *     the other fixture sizes agree. They differ for 400 → 150 (coffee.png's
 *     height: 23 of 150 rows, first at row 4, PIL 11 vs exact 12), 1024 →
 *     150 (dog_on_beach.jpg's width: column 37, PIL 255 vs 256) and 1024 →
 *     224 (25 columns, first at column 3, PIL 15 vs 16).
 *
 * (b) Bilinear with half-pixel centres, as OpenCV's `cv2.resize(...,
 *     INTER_LINEAR)` on a float map (and TensorFlow's `resize_bilinear` with
 *     `half_pixel_centers=True`): `src = (dst + 0.5) * src_size / dst_size -
 *     0.5`, neighbours `floor(src)` and `floor(src) + 1`, coordinates clamped
 *     to `[0, size - 1]` at the borders. Computed in float64 and stored as
 *     float32 (OpenCV computes in float32, so values can differ from it by a
 *     float32 rounding step). Meant for upsampling Grad-CAM heatmaps;
 *     OpenCV's special case of an exact 2x downscale (done as INTER_AREA) is
 *     not reproduced.
 */
import { assertImage, type HwcImage, type ImageF32 } from './image.ts';

/** Which NEAREST source-index rule to use (see the module comment). */
export type NearestRule = 'pil' | 'exact';

/**
 * Source index for each of `dstSize` output positions when resizing
 * `srcSize` → `dstSize` with NEAREST. `'pil'` (default) reproduces Pillow's
 * float accumulation exactly; `'exact'` is `floor((d + 0.5) * src / dst)` in
 * exact integer arithmetic.
 */
export function nearestSourceIndices(srcSize: number, dstSize: number, rule: NearestRule = 'pil'): Int32Array {
  checkSize(srcSize, 'source size');
  checkSize(dstSize, 'target size');
  const idx = new Int32Array(dstSize);
  if (rule === 'exact') {
    // Integer numerator and denominator (exact in float64 for any realistic
    // size); the float quotient is corrected so that q = floor(num / den)
    // exactly even if the division rounded across an integer.
    const den = 2 * dstSize;
    for (let d = 0; d < dstSize; d++) {
      const num = (2 * d + 1) * srcSize;
      let q = Math.floor(num / den);
      if (q * den > num) q -= 1;
      else if ((q + 1) * den <= num) q += 1;
      idx[d] = q;
    }
    return idx;
  }
  // Pillow: a[0] = (double)(box[2] - box[0]) / xsize; xo = a[2] + a[0] * 0.5;
  // per pixel: xin = COORD(xo) = (int)xo for xo >= 0; xo += a[0].
  const scale = srcSize / dstSize;
  let xo = 0 + scale * 0.5;
  for (let d = 0; d < dstSize; d++) {
    const xin = xo < 0 ? -1 : Math.trunc(xo);
    // PIL leaves pixels whose source is outside the image at 0; with a
    // zero-offset box that cannot happen, but clamp defensively.
    idx[d] = Math.min(Math.max(xin, 0), srcSize - 1);
    xo += scale;
  }
  return idx;
}

/**
 * NEAREST resize of any HWC image (uint8 or float) to `dstWidth` x
 * `dstHeight`, returned as float32 HWC with the same channel count (values
 * unchanged, so 0..255 for a decoded image).
 */
export function resizeNearest(
  img: HwcImage,
  dstWidth: number,
  dstHeight: number,
  rule: NearestRule = 'pil',
): ImageF32 {
  assertImage(img, 'resizeNearest input');
  const xs = nearestSourceIndices(img.width, dstWidth, rule);
  const ys = nearestSourceIndices(img.height, dstHeight, rule);
  const c = img.channels;
  const out = new Float32Array(dstWidth * dstHeight * c);
  const src = img.data;
  let o = 0;
  for (let y = 0; y < dstHeight; y++) {
    const rowBase = ys[y]! * img.width;
    for (let x = 0; x < dstWidth; x++) {
      const s = (rowBase + xs[x]!) * c;
      for (let k = 0; k < c; k++) out[o++] = src[s + k]!;
    }
  }
  return { width: dstWidth, height: dstHeight, channels: c, data: out };
}

/** Keras' `target_size`: (height, width), in that order. */
export type TargetSize = readonly [height: number, width: number];

/**
 * What Keras' `image.img_to_array(image.load_img(path, target_size))` gives
 * for an already decoded RGB image: NEAREST resize (PIL rule) to
 * `targetSize = [height, width]` if the size differs (or a plain copy), as
 * float32 HWC 0..255. Add the batch axis when feeding the network.
 */
export function kerasLoadImg(img: HwcImage, targetSize?: TargetSize): ImageF32 {
  assertImage(img, 'kerasLoadImg input');
  if (targetSize === undefined || (targetSize[0] === img.height && targetSize[1] === img.width)) {
    return { width: img.width, height: img.height, channels: img.channels, data: Float32Array.from(img.data) };
  }
  return resizeNearest(img, targetSize[1], targetSize[0], 'pil');
}

/**
 * Bilinear resize with half-pixel centres (OpenCV INTER_LINEAR / TF
 * `half_pixel_centers=True`) of a float map `src` of `srcHeight` x
 * `srcWidth` x `channels` (HWC) to `dstHeight` x `dstWidth`. Returns float32
 * HWC.
 */
export function resizeBilinear(
  src: ArrayLike<number>,
  srcHeight: number,
  srcWidth: number,
  dstHeight: number,
  dstWidth: number,
  channels = 1,
): Float32Array {
  checkSize(srcHeight, 'source height');
  checkSize(srcWidth, 'source width');
  checkSize(dstHeight, 'target height');
  checkSize(dstWidth, 'target width');
  if (!Number.isInteger(channels) || channels < 1) throw new Error(`resizeBilinear: bad channel count ${channels}`);
  if (src.length !== srcHeight * srcWidth * channels) {
    throw new Error(
      `resizeBilinear: source has ${src.length} values, expected ${srcHeight}x${srcWidth}x${channels}`,
    );
  }
  const xt = bilinearTaps(srcWidth, dstWidth);
  const yt = bilinearTaps(srcHeight, dstHeight);
  const out = new Float32Array(dstHeight * dstWidth * channels);
  let o = 0;
  for (let y = 0; y < dstHeight; y++) {
    const y0 = yt.i0[y]! * srcWidth;
    const y1 = yt.i1[y]! * srcWidth;
    const fy = yt.f[y]!;
    for (let x = 0; x < dstWidth; x++) {
      const x0 = xt.i0[x]!;
      const x1 = xt.i1[x]!;
      const fx = xt.f[x]!;
      for (let k = 0; k < channels; k++) {
        const a = src[(y0 + x0) * channels + k]!;
        const b = src[(y0 + x1) * channels + k]!;
        const c = src[(y1 + x0) * channels + k]!;
        const d = src[(y1 + x1) * channels + k]!;
        const top = a + (b - a) * fx;
        const bottom = c + (d - c) * fx;
        out[o++] = top + (bottom - top) * fy;
      }
    }
  }
  return out;
}

/** Left/right source index and fraction for each output position. */
function bilinearTaps(srcSize: number, dstSize: number): { i0: Int32Array; i1: Int32Array; f: Float64Array } {
  const i0 = new Int32Array(dstSize);
  const i1 = new Int32Array(dstSize);
  const f = new Float64Array(dstSize);
  const scale = srcSize / dstSize;
  for (let d = 0; d < dstSize; d++) {
    let s = (d + 0.5) * scale - 0.5;
    if (s < 0) s = 0;
    if (s > srcSize - 1) s = srcSize - 1;
    const lo = Math.floor(s);
    i0[d] = lo;
    i1[d] = Math.min(lo + 1, srcSize - 1);
    f[d] = s - lo;
  }
  return { i0, i1, f };
}

function checkSize(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`resize: ${what} must be a positive integer (got ${n})`);
}
