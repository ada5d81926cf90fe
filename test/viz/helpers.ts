/**
 * Helpers for the src/viz tests: fixture paths, TensorFlow.js (CPU backend)
 * as an independent reference, and a minimal PNG writer for the formats
 * pngjs cannot write (palette, 1/2/4-bit gray).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';
export { tfjs } from '../helpers/tfjs.ts';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const fixturesDir = path.resolve(repoRoot, '..', 'shared', 'fixtures');
export const imagesDir = path.join(fixturesDir, 'images');


const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/**
 * Build a non-interlaced PNG from already packed scanlines (filter byte 0 is
 * prepended here). `extra` chunks (e.g. PLTE, tRNS) go before IDAT.
 */
export function buildPng(
  width: number,
  height: number,
  bitDepth: number,
  colorType: number,
  rows: Uint8Array[],
  extra: [string, Uint8Array][] = [],
): Uint8Array {
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  ihdr[8] = bitDepth;
  ihdr[9] = colorType;
  const raw = new Uint8Array(rows.reduce((s, r) => s + r.length + 1, 0));
  let o = 0;
  for (const r of rows) {
    raw[o++] = 0;
    raw.set(r, o);
    o += r.length;
  }
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    ...extra.map(([t, d]) => chunk(t, d)),
    chunk('IDAT', new Uint8Array(deflateSync(raw))),
    chunk('IEND', new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Sum and a position-weighted checksum `sum(v * (i % 251 + 1))`, as the Python goldens were taken. */
export function checksums(values: ArrayLike<number>): [number, number] {
  let s = 0;
  let w = 0;
  for (let i = 0; i < values.length; i++) {
    s += values[i]!;
    w += values[i]! * ((i % 251) + 1);
  }
  return [s, w];
}
