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
 * - JPEG: jpeg-js (a pure JS baseline + progressive decoder) for the
 *   entropy decoding and IDCT, then libjpeg's own rounding YCbCr → RGB
 *   formula (see {@link decodeJpeg}); grayscale JPEGs are replicated. PIL
 *   uses libjpeg(-turbo), whose IDCT and "fancy" chroma upsampling differ
 *   slightly, so JPEG pixels can differ from PIL's by a few levels (PNG
 *   pixels are identical). EXIF orientation is ignored, as PIL's `open` and
 *   Keras' `load_img` ignore it.
 *
 * Browser note: pngjs works on Node `Buffer`s; this module uses the global
 * `Buffer` when it exists (Node, or a bundle with the `buffer` polyfill) and
 * otherwise reports a clear error for PNG input. JPEG decoding needs nothing.
 */
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import type { ImageU8 } from './image.ts';
import { checkJpegStructure, checkPngStructure } from './image_headers.ts';

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

/** Read the IHDR fields we need before handing the file to pngjs. */
function readPngHeader(bytes: Uint8Array): { bitDepth: number; colorType: number } | null {
  // signature (8) + chunk length (4) + "IHDR" (4) + width (4) + height (4) + depth, colour type
  if (bytes.length < 33) return null;
  const type = String.fromCharCode(bytes[12]!, bytes[13]!, bytes[14]!, bytes[15]!);
  if (type !== 'IHDR') return null;
  return { bitDepth: bytes[24]!, colorType: bytes[25]! };
}

function toNodeBuffer(bytes: Uint8Array, name: string | undefined): Buffer {
  const B = (globalThis as { Buffer?: typeof Buffer }).Buffer;
  if (B === undefined) {
    throw new Error(
      `Cannot decode ${label(name)}: PNG decoding (pngjs) needs a global Buffer; ` +
        `include the 'buffer' polyfill in browser builds`,
    );
  }
  return B.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Decode a PNG to RGB uint8 (see the module comment for the conversion of
 * gray, palette, alpha and 16-bit images). Throws an Error naming `name` for
 * corrupt data.
 */
export function decodePng(bytes: Uint8Array, name?: string): ImageU8 {
  const header = readPngHeader(bytes);
  if (detectImageFormat(bytes) !== 'png' || header === null) {
    throw new Error(`Cannot decode ${label(name)} as PNG: missing PNG signature or IHDR header`);
  }
  try {
    checkPngStructure(bytes);
  } catch (err) {
    throw new Error(`Cannot decode ${label(name)} as PNG: ${(err as Error).message}`);
  }
  const sixteen = header.bitDepth === 16;
  const input = toNodeBuffer(bytes, name);
  let parsed: { width: number; height: number; data: Uint8Array | Uint16Array; colorType: number };
  try {
    // For 16-bit files ask pngjs for the raw 16-bit samples (its own rescaling
    // rounds v*255/65535, which is not what PIL does). For depths 1/2/4 its
    // rescaling gives v*255/(2^d-1), which is exact and equals PIL's.
    parsed = PNG.sync.read(input, { skipRescale: sixteen }) as unknown as typeof parsed;
  } catch (err) {
    let msg = err instanceof Error ? err.message : String(err);
    // pngjs' wording when the data ends before the image does.
    if (/read requests/.test(msg)) msg = 'unexpected end of data (truncated file?)';
    // the chunks are sound (checked above), so this is the compressed pixel data
    else if (err instanceof TypeError || err instanceof RangeError) msg = 'its compressed pixel data (IDAT) is damaged';
    else if (/unrecognised content at end of stream|invalid|incorrect|unexpected end|too far back|unknown compression/i.test(msg)) {
      msg = `its compressed pixel data (IDAT) is damaged (${msg})`;
    }
    throw new Error(`Cannot decode ${label(name)} as PNG: ${msg}`);
  }
  const { width, height, data } = parsed;
  const n = width * height;
  if (data.length < n * 4) {
    throw new Error(`Cannot decode ${label(name)} as PNG: pixel data is truncated`);
  }
  const out = new Uint8Array(n * 3);
  if (!sixteen) {
    // pngjs always returns 8-bit RGBA (gray replicated, palette looked up,
    // transparency in A): keep R, G, B.
    for (let i = 0; i < n; i++) {
      out[3 * i] = data[4 * i]!;
      out[3 * i + 1] = data[4 * i + 1]!;
      out[3 * i + 2] = data[4 * i + 2]!;
    }
  } else if (header.colorType === 0) {
    // 16-bit gray: PIL mode "I;16", convert('RGB') clips to 0..255.
    for (let i = 0; i < n; i++) {
      const v = Math.min(data[4 * i]!, 255);
      out[3 * i] = v;
      out[3 * i + 1] = v;
      out[3 * i + 2] = v;
    }
  } else {
    // 16-bit RGB, RGBA, gray+alpha: PIL keeps the most significant byte.
    for (let i = 0; i < n; i++) {
      out[3 * i] = data[4 * i]! >> 8;
      out[3 * i + 1] = data[4 * i + 1]! >> 8;
      out[3 * i + 2] = data[4 * i + 2]! >> 8;
    }
  }
  return { width, height, channels: 3, data: out };
}

/** What the JPEG headers say about colour: component count and Adobe transform flag. */
interface JpegColorInfo {
  components: number;
  /** Transform byte of an Adobe APP14 segment (0 = none/RGB, 1 = YCbCr, 2 = YCCK); null if absent. */
  adobeTransform: number | null;
}

/** Walk the JPEG markers up to the first scan; null if they cannot be parsed. */
function scanJpegHeaders(bytes: Uint8Array): JpegColorInfo | null {
  let p = 2;
  let components = -1;
  let adobeTransform: number | null = null;
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
    if (isSof && len >= 8) components = bytes[p + 9]!;
    if (
      marker === 0xee &&
      len >= 14 &&
      String.fromCharCode(bytes[p + 4]!, bytes[p + 5]!, bytes[p + 6]!, bytes[p + 7]!, bytes[p + 8]!) === 'Adobe'
    ) {
      adobeTransform = bytes[p + 15]!;
    }
    p += 2 + len;
  }
  return components > 0 ? { components, adobeTransform } : null;
}

// libjpeg's YCbCr -> RGB conversion (jdcolor.c): 16-bit fixed point with
// rounding. jpeg-js' own conversion truncates (it stores floats into a
// Uint8Array), which makes its pixels about half a level darker than PIL's.
const SCALEBITS = 16;
const ONE_HALF = 1 << (SCALEBITS - 1);
const fix = (x: number): number => Math.floor(x * (1 << SCALEBITS) + 0.5);
const CR_R = new Int32Array(256);
const CB_B = new Int32Array(256);
const CR_G = new Int32Array(256);
const CB_G = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  const x = i - 128;
  CR_R[i] = (fix(1.402) * x + ONE_HALF) >> SCALEBITS;
  CB_B[i] = (fix(1.772) * x + ONE_HALF) >> SCALEBITS;
  CR_G[i] = -fix(0.71414) * x;
  CB_G[i] = -fix(0.34414) * x + ONE_HALF;
}
const clamp8 = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : v);

/**
 * Decode a JPEG (baseline or progressive; gray, YCbCr, Adobe RGB/YCbCr/CMYK
 * as jpeg-js supports) to RGB uint8. Truncated or corrupt files are rejected
 * (jpeg-js' tolerant mode is off; PIL also refuses truncated files by
 * default). Throws an Error naming `name`.
 *
 * For ordinary 3-component (JFIF) files we take jpeg-js' raw Y, Cb, Cr
 * samples and convert them with libjpeg's rounding fixed-point formula, so
 * the colour conversion is the one PIL (libjpeg) uses. What still differs
 * from PIL: libjpeg's "fancy" (triangular) chroma upsampling versus jpeg-js'
 * pixel replication, and IDCT rounding; on the fixture photos the mean
 * absolute difference from PIL is about 0.3 to 0.5 levels.
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
  // Raw samples are YCbCr for 3 components unless an Adobe segment says
  // transform 0 (then they are RGB already). With a non-zero Adobe transform
  // jpeg-js always converts itself, so we let it.
  const rawYcc = info !== null && info.components === 3 && info.adobeTransform === null;
  const rawRgb = info !== null && info.components === 3 && info.adobeTransform === 0;
  let decoded: { width: number; height: number; data: Uint8Array };
  try {
    decoded = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: true,
      tolerantDecoding: false,
      maxMemoryUsageInMB: JPEG_MAX_MEMORY_MB,
      maxResolutionInMP: JPEG_MAX_MEGAPIXELS,
      ...(rawYcc || rawRgb ? { colorTransform: false } : {}),
    });
  } catch (err) {
    let msg = err instanceof Error ? err.message : String(err);
    // the headers are sound (checked above): a decoder crash means damaged scan data
    if (err instanceof TypeError || err instanceof RangeError) msg = 'its compressed image data is damaged';
    throw new Error(`Cannot decode ${label(name)} as JPEG: ${msg}`);
  }
  const { width, height, data } = decoded;
  const n = width * height;
  if (!(width > 0 && height > 0) || data.length < n * 4) {
    throw new Error(`Cannot decode ${label(name)} as JPEG: no image data (corrupt or truncated file)`);
  }
  const out = new Uint8Array(n * 3);
  if (rawYcc) {
    for (let i = 0; i < n; i++) {
      const y = data[4 * i]!;
      const cb = data[4 * i + 1]!;
      const cr = data[4 * i + 2]!;
      out[3 * i] = clamp8(y + CR_R[cr]!);
      out[3 * i + 1] = clamp8(y + ((CB_G[cb]! + CR_G[cr]!) >> SCALEBITS));
      out[3 * i + 2] = clamp8(y + CB_B[cb]!);
    }
  } else {
    for (let i = 0; i < n; i++) {
      out[3 * i] = data[4 * i]!;
      out[3 * i + 1] = data[4 * i + 1]!;
      out[3 * i + 2] = data[4 * i + 2]!;
    }
  }
  return { width, height, channels: 3, data: out };
}
