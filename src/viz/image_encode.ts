/**
 * Encode 8-bit images to PNG (fast-png) and JPEG (jpeg-js).
 *
 * Inputs are {@link ImageU8} with 1 (gray), 3 (RGB) or 4 (RGBA) channels.
 * PNG keeps the channel layout (gray → 8-bit grayscale PNG, RGB → truecolour,
 * RGBA → truecolour + alpha) and is lossless. JPEG is always YCbCr 4:4:4
 * baseline from jpeg-js; gray is replicated to RGB first and alpha dropped.
 * Both run the same in Node and in a browser.
 */
import { encode as encodePngFile } from 'fast-png';
import jpeg from 'jpeg-js';
import { assertImage, type ImageU8 } from './image.ts';

/** Default JPEG quality: 95, the default of OpenCV's `cv2.imwrite` the book saves with. */
export const DEFAULT_JPEG_QUALITY = 95;

function requireU8(img: ImageU8, what: string): void {
  assertImage(img, what);
  if (!(img.data instanceof Uint8Array)) {
    throw new Error(`${what}: expected 8-bit data (Uint8Array); convert float images first`);
  }
  if (img.width === 0 || img.height === 0) throw new Error(`${what}: cannot encode an empty image`);
}

/** Encode an 8-bit gray, RGB or RGBA image as PNG bytes. */
export function encodePng(img: ImageU8): Uint8Array {
  requireU8(img, 'encodePng');
  return encodePngFile({ width: img.width, height: img.height, data: img.data, depth: 8, channels: img.channels });
}

/**
 * Encode an 8-bit gray, RGB or RGBA image (alpha ignored) as a baseline
 * JPEG. `quality` is 1..100 (jpeg-js' scale, the IJG one), default 95.
 */
export function encodeJpeg(img: ImageU8, quality: number = DEFAULT_JPEG_QUALITY): Uint8Array {
  requireU8(img, 'encodeJpeg');
  if (!Number.isFinite(quality) || quality < 1 || quality > 100) {
    throw new Error(`encodeJpeg: quality must be in 1..100 (got ${quality})`);
  }
  const n = img.width * img.height;
  const rgba = new Uint8Array(n * 4);
  const src = img.data;
  const c = img.channels;
  for (let i = 0; i < n; i++) {
    if (c === 1) {
      const v = src[i]!;
      rgba[4 * i] = v;
      rgba[4 * i + 1] = v;
      rgba[4 * i + 2] = v;
    } else {
      rgba[4 * i] = src[c * i]!;
      rgba[4 * i + 1] = src[c * i + 1]!;
      rgba[4 * i + 2] = src[c * i + 2]!;
    }
    rgba[4 * i + 3] = 255;
  }
  const out = jpeg.encode({ width: img.width, height: img.height, data: rgba }, Math.round(quality));
  const bytes = out.data as Uint8Array;
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
