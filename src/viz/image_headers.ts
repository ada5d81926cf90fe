/**
 * Structural checks of PNG and JPEG files before any pixel is decoded: the declared
 * size is checked against limits before anything is allocated, and damage is
 * reported in words (which chunk fails its CRC, which table is missing) instead of
 * a decoder's internals.
 */

/** The largest image convscope decodes, in pixels (PIL warns from 89 MP and refuses from 179 MP). */
export const MAX_IMAGE_PIXELS = 100_000_000;
/** The largest side, in pixels. */
export const MAX_IMAGE_SIDE = 65_535;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** PNG's CRC-32 of bytes[start, end). */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const u32 = (b: Uint8Array, p: number) => ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;

function checkSize(width: number, height: number, what: string): void {
  if (width === 0 || height === 0) throw new Error(`${what} declares a ${width}x${height} image (an image needs at least one pixel)`);
  if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE || width * height > MAX_IMAGE_PIXELS) {
    throw new Error(`${what} declares a ${width}x${height} image, larger than the ${MAX_IMAGE_PIXELS / 1e6} megapixels convscope decodes (is the header damaged?)`);
  }
}

/** Allowed bit depths per PNG colour type. */
const PNG_DEPTHS: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };

/**
 * Walks a PNG's chunks: IHDR first and valid, every chunk inside the file with a
 * correct CRC, a palette for palette images, image data, an end. Throws a sentence
 * saying what is wrong; returns the declared size.
 */
export function checkPngStructure(bytes: Uint8Array): { width: number; height: number } {
  let p = 8;
  let ihdr: { width: number; height: number; depth: number; type: number } | undefined;
  let sawPalette = false;
  let sawData = false;
  let sawEnd = false;
  while (p < bytes.length) {
    if (p + 12 > bytes.length) throw new Error(`the file ends inside a chunk header at byte ${p} (truncated file?)`);
    const len = u32(bytes, p);
    const type = String.fromCharCode(bytes[p + 4]!, bytes[p + 5]!, bytes[p + 6]!, bytes[p + 7]!);
    if (!/^[A-Za-z]{4}$/.test(type)) throw new Error(`byte ${p} should start a chunk but holds no chunk name (damaged file)`);
    if (p + 12 + len > bytes.length) throw new Error(`chunk '${type}' at byte ${p} runs past the end of the file (truncated file?)`);
    if (crc32(bytes, p + 4, p + 8 + len) !== u32(bytes, p + 8 + len)) throw new Error(`chunk '${type}' at byte ${p} fails its CRC check (the file is damaged)`);
    if (!ihdr && type !== 'IHDR') throw new Error(`the first chunk is '${type}', not the IHDR header`);
    if (type === 'IHDR') {
      if (ihdr) throw new Error('two IHDR headers');
      if (len !== 13) throw new Error(`the IHDR header is ${len} bytes long instead of 13`);
      ihdr = { width: u32(bytes, p + 8), height: u32(bytes, p + 12), depth: bytes[p + 16]!, type: bytes[p + 17]! };
      checkSize(ihdr.width, ihdr.height, 'the PNG header');
      const depths = PNG_DEPTHS[ihdr.type];
      if (!depths) throw new Error(`the PNG header names colour type ${ihdr.type}, which does not exist (0, 2, 3, 4 or 6)`);
      if (!depths.includes(ihdr.depth)) throw new Error(`the PNG header names bit depth ${ihdr.depth} for colour type ${ihdr.type} (allowed: ${depths.join(', ')})`);
      if (bytes[p + 18] !== 0 || bytes[p + 19] !== 0) throw new Error('the PNG header names an unknown compression or filter method');
      if (bytes[p + 20]! > 1) throw new Error(`the PNG header names interlace method ${bytes[p + 20]} (0 or 1)`);
    } else if (type === 'PLTE') sawPalette = true;
    else if (type === 'IDAT') sawData = true;
    else if (type === 'IEND') {
      sawEnd = true;
      break;
    }
    p += 12 + len;
  }
  if (!ihdr) throw new Error('no IHDR header');
  if (ihdr.type === 3 && !sawPalette) throw new Error('a palette image without its palette (PLTE chunk)');
  if (!sawData) throw new Error('no image data (IDAT chunk): truncated or damaged file');
  if (!sawEnd) throw new Error('the file ends before its IEND chunk (truncated file?)');
  return { width: ihdr.width, height: ihdr.height };
}

/**
 * Walks a JPEG's markers up to the first scan: a frame header with a sane size,
 * quantisation and Huffman tables before the scan. Throws a sentence saying what is
 * wrong; returns the declared size.
 */
export function checkJpegStructure(bytes: Uint8Array): { width: number; height: number } {
  let p = 2;
  let frame: { width: number; height: number; components: number } | undefined;
  let sawQuant = false;
  let sawHuffman = false;
  let arithmetic = false;
  for (;;) {
    if (p + 4 > bytes.length) throw new Error('the file ends before the image data (truncated file?)');
    if (bytes[p] !== 0xff) throw new Error(`byte ${p} should start a JPEG marker (damaged file)`);
    let marker = bytes[p + 1]!;
    while (marker === 0xff && p + 2 < bytes.length) {
      p++;
      marker = bytes[p + 1]!;
    }
    if (marker === 0xd9) throw new Error('the file ends (EOI marker) before any image data');
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      p += 2;
      continue;
    }
    const len = (bytes[p + 2]! << 8) | bytes[p + 3]!;
    if (len < 2 || p + 2 + len > bytes.length) throw new Error(`the marker segment at byte ${p} runs past the end of the file (truncated file?)`);
    if (marker === 0xda) break; // start of scan
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) {
      if (len < 8) throw new Error(`the frame header at byte ${p} is too short`);
      frame = { height: (bytes[p + 5]! << 8) | bytes[p + 6]!, width: (bytes[p + 7]! << 8) | bytes[p + 8]!, components: bytes[p + 9]! };
      if (marker >= 0xc9) arithmetic = true;
      if (frame.height === 0) throw new Error('the frame header declares height 0 (a DNL marker, which is not supported)');
      checkSize(frame.width, frame.height, 'the JPEG frame header');
      if (![1, 3, 4].includes(frame.components)) throw new Error(`the frame header names ${frame.components} colour components (1, 3 or 4 are images)`);
    }
    if (marker === 0xdb) sawQuant = true;
    if (marker === 0xc4) sawHuffman = true;
    p += 2 + len;
  }
  if (!frame) throw new Error('no frame header (SOF marker) before the image data');
  if (!sawQuant) throw new Error('no quantisation table (DQT marker) before the image data');
  if (!sawHuffman && !arithmetic) throw new Error('no Huffman table (DHT marker) before the image data');
  return frame;
}
