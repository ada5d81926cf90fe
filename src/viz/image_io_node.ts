/**
 * Node-only file I/O for images (the one file in src/viz that uses
 * `node:fs`; everything else in src/viz also runs in a browser).
 * Errors always name the file.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { decodeImage } from './image_decode.ts';
import { DEFAULT_JPEG_QUALITY, encodeJpeg, encodePng } from './image_encode.ts';
import type { ImageU8 } from './image.ts';

function ioMessage(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e && e.code === 'ENOENT') return 'no such file or directory';
  if (e && e.code === 'EISDIR') return 'is a directory';
  if (e && e.code === 'EACCES') return 'permission denied';
  return e instanceof Error ? e.message : String(err);
}

/**
 * Read a PNG or JPEG file and decode it to RGB uint8 (PIL
 * `Image.open(path).convert('RGB')`). Rejects with an Error naming `path`
 * if the file cannot be read or decoded.
 */
export async function readImageFile(path: string): Promise<ImageU8> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new Error(`Cannot read image file '${path}': ${ioMessage(err)}`);
  }
  return decodeImage(bytes, path);
}

/** Synchronous {@link readImageFile}. */
export function readImageFileSync(path: string): ImageU8 {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new Error(`Cannot read image file '${path}': ${ioMessage(err)}`);
  }
  return decodeImage(bytes, path);
}

async function writeBytes(path: string, bytes: Uint8Array): Promise<void> {
  try {
    await writeFile(path, bytes);
  } catch (err) {
    throw new Error(`Cannot write image file '${path}': ${ioMessage(err)}`);
  }
}

function encodeFor(path: string, encode: () => Uint8Array): Uint8Array {
  try {
    return encode();
  } catch (err) {
    throw new Error(`Cannot encode image for '${path}': ${(err as Error).message}`);
  }
}

/** Write an 8-bit gray / RGB / RGBA image as a PNG file. */
export async function writePng(path: string, img: ImageU8): Promise<void> {
  await writeBytes(path, encodeFor(path, () => encodePng(img)));
}

/** Write an 8-bit image as a JPEG file; `quality` 1..100, default 95 (cv2.imwrite's). */
export async function writeJpeg(path: string, img: ImageU8, quality: number = DEFAULT_JPEG_QUALITY): Promise<void> {
  await writeBytes(path, encodeFor(path, () => encodeJpeg(img, quality)));
}
