import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inflateSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeImage, decodeJpeg, decodePng, detectImageFormat } from '../../src/viz/image_decode.ts';
import { encodeJpeg, encodePng } from '../../src/viz/image_encode.ts';
import { readImageFile, readImageFileSync, writeJpeg, writePng } from '../../src/viz/image_io_node.ts';
import type { ImageU8 } from '../../src/viz/image.ts';
import { buildPng, imagesDir } from './helpers.ts';

const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(path.join(imagesDir, name)));

/**
 * An independent PNG decoder for 8-bit truecolour, non-interlaced files:
 * collect IDAT, inflate with Node's zlib, undo the five scanline filters.
 */
function decodeRgb8PngByHand(bytes: Uint8Array): { width: number; height: number; rgb: Uint8Array } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 8;
  let width = 0;
  let height = 0;
  const idat: Uint8Array[] = [];
  for (;;) {
    const len = dv.getUint32(p);
    const type = String.fromCharCode(...bytes.subarray(p + 4, p + 8));
    const body = bytes.subarray(p + 8, p + 8 + len);
    if (type === 'IHDR') {
      width = dv.getUint32(p + 8);
      height = dv.getUint32(p + 12);
      expect([body[8], body[9], body[12]]).toEqual([8, 2, 0]); // 8-bit, RGB, not interlaced
    } else if (type === 'IDAT') idat.push(body);
    else if (type === 'IEND') break;
    p += 12 + len;
  }
  const z = new Uint8Array(idat.reduce((s, b) => s + b.length, 0));
  let o = 0;
  for (const b of idat) {
    z.set(b, o);
    o += b.length;
  }
  const raw = new Uint8Array(inflateSync(z));
  const stride = width * 3;
  const rgb = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= 3 ? rgb[y * stride + x - 3]! : 0;
      const b = y > 0 ? rgb[(y - 1) * stride + x]! : 0;
      const c = x >= 3 && y > 0 ? rgb[(y - 1) * stride + x - 3]! : 0;
      let pred = 0;
      if (filter === 1) pred = a;
      else if (filter === 2) pred = b;
      else if (filter === 3) pred = (a + b) >> 1;
      else if (filter === 4) {
        const pa = Math.abs(b - c);
        const pb = Math.abs(a - c);
        const pc = Math.abs(a + b - 2 * c);
        pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      rgb[y * stride + x] = (line[x]! + pred) & 0xff;
    }
  }
  return { width, height, rgb };
}

describe('fixture photos', () => {
  it('detects formats from magic bytes', () => {
    expect(detectImageFormat(fixture('chelsea_cat.png'))).toBe('png');
    expect(detectImageFormat(fixture('dog_on_beach.jpg'))).toBe('jpeg');
    expect(detectImageFormat(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]))).toBeNull();
  });

  for (const [name, w, h] of [
    ['chelsea_cat.png', 451, 300],
    ['coffee.png', 600, 400],
  ] as const) {
    it(`${name}: ${w}x${h} RGB, every pixel equal to an independent zlib + unfilter decode`, () => {
      const bytes = fixture(name);
      const img = decodeImage(bytes, name);
      expect([img.width, img.height, img.channels]).toEqual([w, h, 3]);
      const ref = decodeRgb8PngByHand(bytes);
      expect([ref.width, ref.height]).toEqual([w, h]);
      expect(Buffer.from(img.data).equals(Buffer.from(ref.rgb))).toBe(true);
    });
  }

  // JPEG pixels are compared with PIL's, byte for byte, in decode_vs_pil.test.ts (PIL runs there).
});

describe('PNG colour types and bit depths (PIL convert("RGB") rules)', () => {
  const write = (data: Buffer, width: number, colorType: 0 | 2 | 4 | 6, bitDepth: 8 | 16): Uint8Array =>
    new Uint8Array(
      PNG.sync.write({ width, height: 1, data } as unknown as PNG, {
        colorType,
        inputColorType: colorType,
        inputHasAlpha: colorType === 4 || colorType === 6,
        bitDepth,
      }),
    );
  const v16 = [0, 1, 100, 255, 256, 257, 1000, 32768, 65280, 65535];
  const u16 = (vals: number[]): Buffer => Buffer.from(new Uint16Array(vals).buffer);
  const rgbOf = (img: ImageU8): number[][] => Array.from({ length: img.width }, (_, i) => [...img.data.subarray(3 * i, 3 * i + 3)]);

  it('8-bit gray is replicated', () => {
    const img = decodePng(write(Buffer.from([0, 7, 128, 255]), 4, 0, 8));
    expect(rgbOf(img)).toEqual([[0, 0, 0], [7, 7, 7], [128, 128, 128], [255, 255, 255]]);
  });

  it('8-bit RGBA and gray+alpha: alpha dropped, not composited', () => {
    const rgba = decodePng(write(Buffer.from([10, 20, 30, 0, 200, 100, 50, 128, 1, 2, 3, 255]), 3, 6, 8));
    expect(rgbOf(rgba)).toEqual([[10, 20, 30], [200, 100, 50], [1, 2, 3]]);
    const la = decodePng(write(Buffer.from([90, 0, 180, 77]), 2, 4, 8));
    expect(rgbOf(la)).toEqual([[90, 90, 90], [180, 180, 180]]);
  });

  it('16-bit gray (PIL mode I;16) is clipped to 255, not scaled', () => {
    const img = decodePng(write(u16(v16), v16.length, 0, 16));
    expect(rgbOf(img).map((p) => p[0])).toEqual([0, 1, 100, 255, 255, 255, 255, 255, 255, 255]);
    expect(rgbOf(img).every(([r, g, b]) => r === g && g === b)).toBe(true);
  });

  it('16-bit RGB, RGBA and gray+alpha keep the high byte (v >> 8)', () => {
    const rev = [...v16].reverse();
    const rgb = v16.flatMap((v, i) => [v, rev[i]!, v >> 1]);
    const expected = v16.map((v, i) => [v >> 8, rev[i]! >> 8, v >> 9]);
    expect(rgbOf(decodePng(write(u16(rgb), v16.length, 2, 16)))).toEqual(expected);
    const rgba = v16.flatMap((v, i) => [v, rev[i]!, v >> 1, rev[i]!]);
    expect(rgbOf(decodePng(write(u16(rgba), v16.length, 6, 16)))).toEqual(expected);
    const la = v16.flatMap((v, i) => [v, rev[i]!]);
    // Values Pillow 12.3 gave for this gray+alpha row.
    expect(rgbOf(decodePng(write(u16(la), v16.length, 4, 16))).map((p) => p[0])).toEqual([0, 0, 0, 0, 1, 1, 3, 128, 255, 255]);
  });

  it('palette with tRNS → palette colours; 1/2/4-bit gray scaled by 255/85/17', () => {
    const plte = new Uint8Array([255, 0, 0, 0, 255, 0, 0, 0, 255, 12, 34, 56]);
    const trns = new Uint8Array([0, 128, 255, 10]);
    const pal = decodePng(buildPng(4, 1, 8, 3, [new Uint8Array([3, 2, 1, 0])], [['PLTE', plte], ['tRNS', trns]]));
    expect(rgbOf(pal)).toEqual([[12, 34, 56], [0, 0, 255], [0, 255, 0], [255, 0, 0]]);
    const pal2 = decodePng(buildPng(4, 1, 2, 3, [new Uint8Array([0b11100100])], [['PLTE', plte]]));
    expect(rgbOf(pal2)).toEqual([[12, 34, 56], [0, 0, 255], [0, 255, 0], [255, 0, 0]]);
    const g1 = decodePng(buildPng(8, 1, 1, 0, [new Uint8Array([0b10110000])]));
    expect(rgbOf(g1).map((p) => p[0])).toEqual([255, 0, 255, 255, 0, 0, 0, 0]);
    const g2 = decodePng(buildPng(4, 1, 2, 0, [new Uint8Array([0b00011011])]));
    expect(rgbOf(g2).map((p) => p[0])).toEqual([0, 85, 170, 255]);
    const g4 = decodePng(buildPng(2, 1, 4, 0, [new Uint8Array([0x0f])]));
    expect(rgbOf(g4).map((p) => p[0])).toEqual([0, 255]);
  });
});

describe('errors name the input', () => {
  const jpg = fixture('creative_commons_elephant.jpg');
  const png = fixture('chelsea_cat.png');
  const cases: [string, Uint8Array, RegExp][] = [
    ['empty.png', new Uint8Array(0), /'empty\.png'.*not a PNG or JPEG.*empty/],
    ['anim.gif', new TextEncoder().encode('GIF89a\u0001\u0000'), /'anim\.gif'.*GIF/],
    ['random.bin', new Uint8Array([7, 7, 7, 7, 7, 7, 7, 7, 7]), /'random\.bin'.*not a PNG or JPEG/],
    ['half.png', png.slice(0, png.length >> 1), /'half\.png' as PNG/],
    ['flipped.png', png.map((b, i) => (i >= 100000 && i < 100100 ? b ^ 0xff : b)), /'flipped\.png' as PNG/],
    ['header.png', png.slice(0, 8), /'header\.png' as PNG/],
    ['half.jpg', jpg.slice(0, Math.floor(jpg.length * 0.6)), /'half\.jpg' as JPEG/],
    ['garbage.jpg', jpg.map((b, i) => (i >= 2000 ? (i * 31) & 255 : b)), /'garbage\.jpg' as JPEG/],
  ];
  for (const [name, bytes, re] of cases) {
    it(`${name} → one clear Error`, () => {
      expect(() => decodeImage(bytes, name)).toThrow(re);
    });
  }
  it('without a name the message says "image data"', () => {
    expect(() => decodeImage(new Uint8Array([1, 2, 3]))).toThrow(/image data/);
    expect(() => decodeJpeg(png)).toThrow(/as JPEG/);
  });
});

describe('encoders and Node file I/O', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'convscope-viz-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const ramp = (w: number, h: number, c: 1 | 3 | 4): ImageU8 => ({
    width: w,
    height: h,
    channels: c,
    data: Uint8Array.from({ length: w * h * c }, (_, i) => (i * 37 + (i >> 5)) & 255),
  });

  it('PNG round trip is lossless for gray, RGB and RGBA (alpha dropped on decode)', () => {
    for (const c of [1, 3, 4] as const) {
      const img = ramp(13, 7, c);
      const back = decodePng(encodePng(img));
      expect([back.width, back.height]).toEqual([13, 7]);
      for (let i = 0; i < 13 * 7; i++) {
        for (let k = 0; k < 3; k++) expect(back.data[3 * i + k]).toBe(img.data[c * i + (c === 1 ? 0 : k)]);
      }
    }
  });

  it('JPEG round trip: quality 100 is close, lower quality makes smaller files', () => {
    const w = 64;
    const img: ImageU8 = {
      width: w,
      height: w,
      channels: 3,
      data: Uint8Array.from({ length: w * w * 3 }, (_, i) => {
        const p = Math.floor(i / 3);
        const [x, y, k] = [p % w, Math.floor(p / w), i % 3];
        return Math.round(127.5 + 100 * Math.sin((x + 2 * y + 20 * k) / 9));
      }),
    };
    const hi = encodeJpeg(img, 100);
    const lo = encodeJpeg(img, 20);
    expect(lo.length).toBeLessThan(hi.length);
    const back = decodeJpeg(hi);
    let err = 0;
    for (let i = 0; i < img.data.length; i++) err += Math.abs(back.data[i]! - img.data[i]!);
    expect(err / img.data.length).toBeLessThan(2);
    expect(() => encodeJpeg(img, 0)).toThrow(/quality/);
  });

  it('writePng / writeJpeg / readImageFile round trip through files', async () => {
    const img = ramp(20, 10, 3);
    const p = path.join(dir, 'a.png');
    await writePng(p, img);
    expect(Buffer.from((await readImageFile(p)).data).equals(Buffer.from(img.data))).toBe(true);
    const j = path.join(dir, 'a.jpg');
    await writeJpeg(j, img, 90);
    const back = readImageFileSync(j);
    expect([back.width, back.height, back.channels]).toEqual([20, 10, 3]);
  });

  it('I/O errors name the file', async () => {
    const missing = path.join(dir, 'nope.png');
    await expect(readImageFile(missing)).rejects.toThrow(/nope\.png.*no such file/);
    expect(() => readImageFileSync(missing)).toThrow(/nope\.png/);
    const bad = path.join(dir, 'bad.jpg');
    writeFileSync(bad, 'not an image');
    await expect(readImageFile(bad)).rejects.toThrow(/bad\.jpg.*not a PNG or JPEG/);
    await expect(writePng(path.join(dir, 'no', 'such', 'dir.png'), ramp(2, 2, 3))).rejects.toThrow(/dir\.png/);
    await expect(writeJpeg(path.join(dir, 'f.jpg'), { width: 2, height: 2, channels: 3, data: new Uint8Array(5) })).rejects.toThrow(
      /f\.jpg/,
    );
  });
});
