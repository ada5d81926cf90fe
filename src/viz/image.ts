/**
 * The in-memory image type shared by everything in `src/viz`.
 *
 * Plain typed arrays only, so the same code runs in Node and in a browser.
 *
 * Layout is HWC ("channels last", the layout Keras and numpy use for
 * images): the value of channel `c` of the pixel in row `y`, column `x` is
 * `data[(y * width + x) * channels + c]`. Row 0 is the top row.
 *
 * - `channels` 1 = gray, 3 = RGB, 4 = RGBA.
 * - `data` is either a `Uint8Array` (0..255, what decoders and encoders
 *   use) or a `Float32Array` (what the network consumes: usually 0..255
 *   before preprocessing, heatmaps in 0..1).
 */
export type Channels = 1 | 3 | 4;

/** Pixel storage accepted by {@link HwcImage}. */
export type PixelData = Float32Array | Uint8Array;

/**
 * An image (or any 2-D map with 1, 3 or 4 values per position) stored HWC.
 *
 * `data.length` must equal `width * height * channels`; use
 * {@link assertImage} to check one that comes from outside.
 */
export interface HwcImage<T extends PixelData = PixelData> {
  /** Number of columns (pixels per row). */
  width: number;
  /** Number of rows. */
  height: number;
  /** Values per pixel: 1 (gray), 3 (RGB) or 4 (RGBA). */
  channels: Channels;
  /** `height * width * channels` values, row by row, HWC. */
  data: T;
}

/** An 8-bit image (0..255), as decoded from or encoded to a file. */
export type ImageU8 = HwcImage<Uint8Array>;

/** A float image, e.g. the float32 0..255 array Keras' `img_to_array` gives. */
export type ImageF32 = HwcImage<Float32Array>;

/** Make an image of the given shape filled with zeros. */
export function zerosImageU8(width: number, height: number, channels: Channels): ImageU8 {
  checkDims(width, height, channels);
  return { width, height, channels, data: new Uint8Array(width * height * channels) };
}

/** Make a float32 image of the given shape filled with zeros. */
export function zerosImageF32(width: number, height: number, channels: Channels): ImageF32 {
  checkDims(width, height, channels);
  return { width, height, channels, data: new Float32Array(width * height * channels) };
}

/**
 * Throw a descriptive Error if `img` is not a consistent {@link HwcImage}
 * (bad dimensions, unsupported channel count, or a data length that does not
 * match `width * height * channels`). `what` names the image in the message.
 */
export function assertImage(img: HwcImage, what = 'image'): void {
  if (img === null || typeof img !== 'object') throw new Error(`${what}: not an image object`);
  checkDims(img.width, img.height, img.channels, what);
  if (!(img.data instanceof Uint8Array) && !(img.data instanceof Float32Array)) {
    throw new Error(`${what}: data must be a Uint8Array or a Float32Array`);
  }
  const want = img.width * img.height * img.channels;
  if (img.data.length !== want) {
    throw new Error(
      `${what}: data has ${img.data.length} values, expected ${img.height}x${img.width}x${img.channels} = ${want}`,
    );
  }
}

function checkDims(width: number, height: number, channels: number, what = 'image'): void {
  if (!Number.isInteger(width) || width < 0 || !Number.isInteger(height) || height < 0) {
    throw new Error(`${what}: width and height must be non-negative integers (got ${width}x${height})`);
  }
  if (channels !== 1 && channels !== 3 && channels !== 4) {
    throw new Error(`${what}: channels must be 1, 3 or 4 (got ${channels})`);
  }
}

/**
 * Convert a gray / RGB / RGBA 8-bit image to RGB the way PIL's
 * `convert('RGB')` does for 8-bit modes: gray is replicated into R, G and B,
 * alpha is dropped (not composited over any background).
 */
export function toRgbU8(img: ImageU8): ImageU8 {
  assertImage(img);
  if (img.channels === 3) return { ...img, data: img.data.slice() };
  const n = img.width * img.height;
  const out = new Uint8Array(n * 3);
  const src = img.data;
  const c = img.channels;
  for (let i = 0; i < n; i++) {
    if (c === 1) {
      const v = src[i]!;
      out[3 * i] = v;
      out[3 * i + 1] = v;
      out[3 * i + 2] = v;
    } else {
      out[3 * i] = src[4 * i]!;
      out[3 * i + 1] = src[4 * i + 1]!;
      out[3 * i + 2] = src[4 * i + 2]!;
    }
  }
  return { width: img.width, height: img.height, channels: 3, data: out };
}

/**
 * PIL's `convert('L')` from RGB (what Keras's `load_img(color_mode='grayscale')`
 * does): L = (19595 R + 38470 G + 7471 B + 32768) >> 16, ITU-R 601-2 luma in
 * PIL's fixed point. Gray input comes back unchanged; alpha is ignored.
 */
export function toGrayU8(img: ImageU8): ImageU8 {
  assertImage(img);
  if (img.channels === 1) return { ...img, data: img.data.slice() };
  const n = img.width * img.height;
  const out = new Uint8Array(n);
  const c = img.channels;
  const src = img.data;
  for (let i = 0; i < n; i++) out[i] = (src[c * i]! * 19595 + src[c * i + 1]! * 38470 + src[c * i + 2]! * 7471 + 0x8000) >> 16;
  return { width: img.width, height: img.height, channels: 1, data: out };
}
