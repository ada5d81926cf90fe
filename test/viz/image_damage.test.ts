/**
 * Damaged and absurd images are refused with one sentence naming the file and the
 * fault, before anything big is allocated: declared sizes are checked from the
 * header, chunk CRCs and JPEG tables are checked before decoding.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { crc32 } from '../../src/viz/image_headers.ts';
import { decodeImage } from '../../src/viz/image_decode.ts';
import { fixturesDir } from '../models/keras_helpers.ts';

const png = () => new Uint8Array(fs.readFileSync(path.join(fixturesDir, 'images/chelsea_cat.png')));
const jpg = () => new Uint8Array(fs.readFileSync(path.join(fixturesDir, 'images/creative_commons_elephant.jpg')));

/** Rewrites IHDR's width and height and fixes its CRC, so only the size is wrong. */
function pngWithSize(w: number, h: number): Uint8Array {
  const b = png();
  const dv = new DataView(b.buffer);
  dv.setUint32(16, w);
  dv.setUint32(20, h);
  dv.setUint32(29, crc32(b.subarray(12, 29)));
  return b;
}
/** Offsets of every marker segment of a JPEG before its first scan. */
function segments(b: Uint8Array): { marker: number; at: number; len: number }[] {
  const out = [];
  let p = 2;
  while (b[p + 1] !== 0xda) {
    const len = (b[p + 2] << 8) | b[p + 3];
    out.push({ marker: b[p + 1], at: p, len });
    p += 2 + len;
  }
  return out;
}
function withoutMarker(b: Uint8Array, marker: number): Uint8Array {
  const keep: Uint8Array[] = [b.subarray(0, 2)];
  let last = 2;
  for (const s of segments(b)) {
    if (s.marker === marker) {
      keep.push(b.subarray(last, s.at));
      last = s.at + 2 + s.len;
    }
  }
  keep.push(b.subarray(last));
  const out = new Uint8Array(keep.reduce((n, k) => n + k.length, 0));
  let o = 0;
  for (const k of keep) {
    out.set(k, o);
    o += k.length;
  }
  return out;
}
const msg = (bytes: Uint8Array) => {
  try {
    decodeImage(bytes, 'photo');
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected a refusal');
};

describe('damaged PNGs', () => {
  it('absurd declared sizes are refused from the header', () => {
    expect(msg(pngWithSize(100000, 100000))).toMatch(/^Cannot decode 'photo' as PNG: the PNG header declares a 100000x100000 image, larger than the 100 megapixels/);
    expect(msg(pngWithSize(0, 300))).toMatch(/the PNG header declares a 0x300 image \(an image needs at least one pixel\)/);
  });
  it('a flipped byte fails a CRC; a cut file ends inside a chunk; damaged pixel data is named', () => {
    const b = png();
    b[200] ^= 0x40;
    expect(msg(b)).toMatch(/as PNG: chunk '[A-Za-z]{4}' at byte \d+ fails its CRC check \(the file is damaged\)/);
    expect(msg(png().subarray(0, 5000))).toMatch(/as PNG: chunk '[A-Za-z]{4}' at byte \d+ runs past the end of the file \(truncated file\?\)/);
    const noEnd = png();
    expect(msg(noEnd.subarray(0, noEnd.length - 12))).toMatch(/the file ends before its IEND chunk/);
  });
});

describe('damaged JPEGs', () => {
  it('a frame header claiming 20000x20000 is refused before decoding', () => {
    const b = jpg();
    const sof = segments(b).find((s) => s.marker === 0xc0 || s.marker === 0xc2)!;
    new DataView(b.buffer).setUint16(sof.at + 5, 20000);
    new DataView(b.buffer).setUint16(sof.at + 7, 20000);
    expect(msg(b)).toMatch(/^Cannot decode 'photo' as JPEG: the JPEG frame header declares a 20000x20000 image, larger than the 100 megapixels/);
  });
  it('missing Huffman or quantisation tables or frame header are named', () => {
    expect(msg(withoutMarker(jpg(), 0xc4))).toMatch(/no Huffman table \(DHT marker\) before the image data/);
    expect(msg(withoutMarker(jpg(), 0xdb))).toMatch(/no quantisation table \(DQT marker\) before the image data/);
    const b = jpg();
    const sofMarker = segments(b).find((s) => s.marker >= 0xc0 && s.marker <= 0xc2)!.marker;
    expect(msg(withoutMarker(b, sofMarker))).toMatch(/no frame header \(SOF marker\) before the image data/);
    expect(msg(jpg().subarray(0, 300))).toMatch(/as JPEG: .*(truncated file\?|runs past the end)/);
  });
  it('damaged scan data: one sentence, no decoder internals', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const b = jpg();
      const start = segments(b).at(-1)!;
      const scan = start.at + 2 + start.len + 20;
      for (let k = 0; k < 30; k++) b[scan + ((seed * 7919 + k * 104729) % (b.length - scan - 10))] = (seed * 31 + k) & 0xff;
      let m: string | undefined;
      try {
        decodeImage(b, 'photo');
      } catch (e) {
        m = (e as Error).message;
      }
      // jpeg-js may decode some damage into a (wrong) picture, as libjpeg does; a refusal must read well
      if (m !== undefined) {
        expect(m).toMatch(/^Cannot decode 'photo' as JPEG: /);
        expect(m).not.toMatch(/Cannot read properties|undefined is not|is not a function/);
      }
    }
  });
});
