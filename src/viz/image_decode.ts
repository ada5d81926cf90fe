/**
 * Decode PNG and JPEG bytes to an RGB uint8 image, the way Keras'
 * `load_img` sees a file: PIL's `Image.open(path).convert('RGB')`.
 *
 * Conversion rules (checked against Pillow 12.3 at development time):
 * - gray (any 8-bit or lower bit depth) → R = G = B = gray. Bit depths 1, 2
 *   and 4 are scaled to 8 bits exactly (v * 255, v * 85, v * 17), as PIL's
 *   unpackers do.
 * - alpha (RGBA, gray+alpha, palette or colour-key transparency) is simply
 *   dropped, NOT composited on a background: that is what `convert('RGB')`
 *   does.
 * - palette images → the palette colours.
 * - 16-bit samples: PIL opens 16-bit RGB / RGBA / gray+alpha PNGs through
 *   8-bit raw modes ("RGB;16B", "RGBA;16B", "LA;16B") that keep the most
 *   significant byte, so the 8-bit value is `v >> 8` (a truncation, not
 *   `round(v / 257)`). A 16-bit *gray* PNG (no alpha) is different: PIL
 *   opens it as mode "I;16" and `convert('RGB')` CLIPS it to 0..255, so every
 *   value above 255 becomes white (`min(v, 255)`). We reproduce both.
 * - JPEG: libjpeg-turbo's own decoder compiled to WebAssembly
 *   (src/viz/jpeg_libjpeg.ts), with PIL's settings, so the pixels are PIL's
 *   bit for bit; grayscale JPEGs are replicated. CMYK/YCCK JPEGs, which
 *   libjpeg does not turn into RGB, go through jpeg-js (within 1 grey level
 *   of PIL). EXIF orientation is ignored, as PIL's `open` and Keras'
 *   `load_img` ignore it.
 * - PNG: fast-png (plain JavaScript over fflate), then the rules above.
 *
 * Node and browsers run the same code. The JPEG decoder's WebAssembly is
 * loaded when this module is first imported (a top-level await), so
 * {@link decodeImage} can stay synchronous; {@link initImageDecoders}
 * returns the same promise for code that wants to wait for it explicitly.
 */
import { decode as decodePngFile, type DecodedPng } from 'fast-png';
import jpeg from 'jpeg-js';
import type { ImageU8 } from './image.ts';
import { checkJpegStructure, checkPngStructure } from './image_headers.ts';
import { decodeJpegWithLibjpeg, initJpegDecoder } from './jpeg_libjpeg.ts';

/** Loads the decoders' WebAssembly (once; this module already started it on import). */
export function initImageDecoders(): Promise<void> {
  return initJpegDecoder();
}
await initImageDecoders();

/** Formats this module recognises from their first bytes. */
export type ImageFormat = 'png' | 'jpeg';

/** Largest JPEG working memory we let jpeg-js allocate (its default is 512 MB). */
const JPEG_MAX_MEMORY_MB = 4096;
/** Largest JPEG we decode, in megapixels (jpeg-js' default is 100). */
const JPEG_MAX_MEGAPIXELS = 400;

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * Detect the file format from magic bytes: PNG (`89 50 4E 47 0D 0A 1A 0A`)
 * or JPEG (`FF D8 FF`). Returns null for anything else.
 */
export function detectImageFormat(bytes: Uint8Array): ImageFormat | null {
  if (bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return null;
}

/** Best-effort name of a format we do not decode, for error messages. */
function describeUnknown(bytes: Uint8Array): string {
  const ascii = (start: number, len: number): string =>
    String.fromCharCode(...Array.from(bytes.subarray(start, start + len)));
  if (bytes.length === 0) return 'the file is empty';
  if (ascii(0, 4) === 'GIF8') return 'it looks like a GIF, which is not supported';
  if (ascii(0, 2) === 'BM') return 'it looks like a BMP, which is not supported';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 4) === 'WEBP') return 'it looks like a WebP, which is not supported';
  if (ascii(0, 4) === 'II*\0' || ascii(0, 4) === 'MM\0*') return 'it looks like a TIFF, which is not supported';
  const head = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
  return `unrecognised leading bytes ${head}`;
}

function label(name: string | undefined): string {
  return name === undefined ? 'image data' : `'${name}'`;
}

/**
 * Decode PNG or JPEG bytes (format detected from magic bytes) to RGB uint8,
 * as PIL's `convert('RGB')` would give. `name` (e.g. the file path) is used
 * in error messages. Throws one Error naming the input for unknown formats
 * and for corrupt or truncated files.
 */
export function decodeImage(bytes: Uint8Array, name?: string): ImageU8 {
  const format = detectImageFormat(bytes);
  if (format === 'png') return decodePng(bytes, name);
  if (format === 'jpeg') return decodeJpeg(bytes, name);
  throw new Error(`Cannot decode ${label(name)}: not a PNG or JPEG file (${describeUnknown(bytes)})`);
}

/** The samples of one row-padded, MSB-first packed row set (bit depths 1, 2, 4) as one value per sample. */
function unpackSamples(packed: ArrayLike<number>, width: number, height: number, channels: number, depth: number): Uint8Array {
  const perRow = width * channels;
  const rowBytes = Math.ceil((perRow * depth) / 8);
  const out = new Uint8Array(perRow * height);
  const mask = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    for (let i = 0; i < perRow; i++) {
      const bit = i * depth;
      const byte = packed[y * rowBytes + (bit >> 3)]!;
      out[y * perRow + i] = (byte >> (8 - depth - (bit & 7))) & mask;
    }
  }
  return out;
}

/**
 * Decode a PNG to RGB uint8 (see the module comment for the conversion of
 * gray, palette, alpha and 16-bit images) with fast-png, which runs the same
 * in Node and in a browser. The chunk structure and CRCs are checked first
 * ({@link checkPngStructure}) so that damage is reported by place. Throws an
 * Error naming `name` for corrupt data.
 */
export function decodePng(bytes: Uint8Array, name?: string): ImageU8 {
  if (detectImageFormat(bytes) !== 'png') {
    throw new Error(`Cannot decode ${label(name)} as PNG: missing PNG signature or IHDR header`);
  }
  try {
    checkPngStructure(bytes);
  } catch (err) {
    throw new Error(`Cannot decode ${label(name)} as PNG: ${(err as Error).message}`);
  }
  let png: DecodedPng;
  try {
    png = decodePngFile(bytes);
  } catch (err) {
    // the chunks are sound (checked above), so this is the compressed pixel data
    const msg = err instanceof Error ? err.message : String(err);
    throw new Error(`Cannot decode ${label(name)} as PNG: its compressed pixel data (IDAT) is damaged (${msg})`);
  }
  const { width, height, depth, channels } = png;
  const n = width * height;
  const expected = depth < 8 ? Math.ceil((width * channels * depth) / 8) * height : n * channels;
  if (png.data.length < expected) {
    throw new Error(`Cannot decode ${label(name)} as PNG: its pixel data is shorter than the header's ${width}x${height} (damaged file)`);
  }
  const out = new Uint8Array(n * 3);
  if (png.palette) {
    // palette image: look the indices up; transparency is dropped
    const index = depth < 8 ? unpackSamples(png.data, width, height, 1, depth) : png.data;
    const palette = png.palette;
    for (let i = 0; i < n; i++) {
      const colour = palette[index[i]!];
      // PIL shows an index past the palette's end as black
      out[3 * i] = colour?.[0] ?? 0;
      out[3 * i + 1] = colour?.[1] ?? 0;
      out[3 * i + 2] = colour?.[2] ?? 0;
    }
    return { width, height, channels: 3, data: out };
  }
  const gray = channels <= 2;
  let samples: ArrayLike<number> = png.data;
  let toByte: (v: number) => number = (v) => v;
  if (depth < 8) {
    samples = unpackSamples(png.data, width, height, channels, depth);
    const scale = 255 / ((1 << depth) - 1); // 255, 85 or 17: exact, as PIL's unpackers
    toByte = (v) => v * scale;
  } else if (depth === 16) {
    // 16-bit gray alone is PIL mode "I;16", clipped by convert('RGB'); the others keep the high byte
    toByte = channels === 1 ? (v) => Math.min(v, 255) : (v) => v >> 8;
  }
  for (let i = 0; i < n; i++) {
    const at = i * channels;
    if (gray) {
      const v = toByte(samples[at]!);
      out[3 * i] = v;
      out[3 * i + 1] = v;
      out[3 * i + 2] = v;
    } else {
      out[3 * i] = toByte(samples[at]!);
      out[3 * i + 1] = toByte(samples[at + 1]!);
      out[3 * i + 2] = toByte(samples[at + 2]!);
    }
  }
  return { width, height, channels: 3, data: out };
}

/** What a JPEG's frame header (SOF) says: component count and pixel count. */
interface JpegFrameInfo {
  components: number;
  pixels: number;
}

/** Walk the JPEG markers up to the first scan; null if they cannot be parsed. */
function scanJpegHeaders(bytes: Uint8Array): JpegFrameInfo | null {
  let p = 2;
  let frame: JpegFrameInfo | null = null;
  while (p + 4 <= bytes.length) {
    if (bytes[p] !== 0xff) return null;
    let marker = bytes[p + 1]!;
    while (marker === 0xff && p + 2 < bytes.length) {
      p++; // fill bytes
      marker = bytes[p + 1]!;
    }
    if (marker === 0xd9 || marker === 0xda) break; // EOI or start of scan
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      p += 2; // markers without a length
      continue;
    }
    if (p + 4 > bytes.length) return null;
    const len = (bytes[p + 2]! << 8) | bytes[p + 3]!;
    if (len < 2 || p + 2 + len > bytes.length) return null;
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof && len >= 8) {
      const height = (bytes[p + 5]! << 8) | bytes[p + 6]!;
      const width = (bytes[p + 7]! << 8) | bytes[p + 8]!;
      frame = { components: bytes[p + 9]!, pixels: width * height };
    }
    p += 2 + len;
  }
  return frame;
}

/**
 * PIL's limit on the pixel count: above twice `Image.MAX_IMAGE_PIXELS`
 * (89,478,485), `Image.open` raises DecompressionBombError, so Keras cannot
 * read such a file either.
 */
const PIL_MAX_PIXELS = 2 * 89_478_485;

/**
 * CMYK and YCCK JPEGs (4 components, from print workflows): libjpeg cannot
 * turn them into RGB, PIL does it itself. jpeg-js decodes them and applies
 * the Adobe inversion; measured against PIL on a PIL-written CMYK JPEG:
 * within 1 grey level (6.6% of values differ by 1), because jpeg-js' IDCT
 * rounds differently from libjpeg's.
 */
function decodeFourComponentJpeg(bytes: Uint8Array, name: string | undefined): { width: number; height: number; data: Uint8Array } {
  try {
    const d = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: true,
      tolerantDecoding: false,
      maxMemoryUsageInMB: JPEG_MAX_MEMORY_MB,
      maxResolutionInMP: JPEG_MAX_MEGAPIXELS,
    });
    return d;
  } catch (err) {
    let msg = err instanceof Error ? err.message : String(err);
    if (err instanceof TypeError || err instanceof RangeError) msg = 'its compressed image data is damaged';
    throw new Error(`Cannot decode ${label(name)} as JPEG: ${msg}`);
  }
}

/**
 * Decode a JPEG (baseline or progressive; gray, YCbCr, Adobe RGB) to RGB
 * uint8 with libjpeg-turbo ({@link decodeJpegWithLibjpeg}): the pixels are
 * PIL's, bit for bit. Gray JPEGs are replicated to RGB, as
 * `convert('RGB')` does. 4-component (CMYK/YCCK) files go through jpeg-js
 * (see {@link decodeFourComponentJpeg}). Truncated or corrupt files are
 * rejected, as PIL rejects them. Throws an Error naming `name`.
 */
export function decodeJpeg(bytes: Uint8Array, name?: string): ImageU8 {
  if (detectImageFormat(bytes) !== 'jpeg') {
    throw new Error(`Cannot decode ${label(name)} as JPEG: missing JPEG start-of-image marker`);
  }
  try {
    checkJpegStructure(bytes);
  } catch (err) {
    throw new Error(`Cannot decode ${label(name)} as JPEG: ${(err as Error).message}`);
  }
  const info = scanJpegHeaders(bytes);
  if (info !== null && info.pixels > PIL_MAX_PIXELS) {
    throw new Error(
      `Cannot decode ${label(name)} as JPEG: ${info.pixels} pixels is more than PIL opens (${PIL_MAX_PIXELS}), so Keras could not read it either`,
    );
  }
  let width: number;
  let height: number;
  let rgba: Uint8Array;
  if (info !== null && info.components === 4) {
    ({ width, height, data: rgba } = decodeFourComponentJpeg(bytes, name));
  } else {
    try {
      ({ width, height, data: rgba } = decodeJpegWithLibjpeg(bytes));
    } catch (err) {
      throw new Error(`Cannot decode ${label(name)} as JPEG: ${(err as Error).message}`);
    }
  }
  const n = width * height;
  if (!(width > 0 && height > 0) || rgba.length < n * 4) {
    throw new Error(`Cannot decode ${label(name)} as JPEG: no image data (corrupt or truncated file)`);
  }
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    out[3 * i] = rgba[4 * i]!;
    out[3 * i + 1] = rgba[4 * i + 1]!;
    out[3 * i + 2] = rgba[4 * i + 2]!;
  }
  return { width, height, channels: 3, data: out };
}
