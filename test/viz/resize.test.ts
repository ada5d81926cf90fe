import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeImage } from '../../src/viz/image_decode.ts';
import type { ImageU8 } from '../../src/viz/image.ts';
import { kerasLoadImg, nearestSourceIndices, resizeBilinear, resizeNearest } from '../../src/viz/resize.ts';
import { checksums, imagesDir, tfjs } from './helpers.ts';

let tf: Awaited<ReturnType<typeof tfjs>>;
beforeAll(async () => {
  tf = await tfjs();
});

/** Deterministic pseudo-random floats in [0, 1). */
function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  });
}

/** The SPEC formula floor((d + 0.5) * src / dst) evaluated directly in float64. */
const direct = (src: number, dst: number): number[] =>
  Array.from({ length: dst }, (_, d) => Math.floor((d + 0.5) * (src / dst)));

/** The same formula with BigInt, no rounding at all. */
const rational = (src: number, dst: number): number[] =>
  Array.from({ length: dst }, (_, d) => Number((BigInt(2 * d + 1) * BigInt(src)) / BigInt(2 * dst)));

describe('NEAREST source indices (Keras load_img / PIL)', () => {
  it('agree with the formula in float64 and in exact arithmetic for the book sizes', () => {
    for (const [s, d] of [
      [451, 150],
      [525, 224],
      [351, 224],
      [300, 150],
      [600, 150],
      [618, 150],
      [150, 451],
    ] as const) {
      const pil = Array.from(nearestSourceIndices(s, d));
      expect(pil).toEqual(direct(s, d));
      expect(pil).toEqual(rational(s, d));
      expect(Array.from(nearestSourceIndices(s, d, 'exact'))).toEqual(rational(s, d));
    }
    // Worked by hand: 451 -> 150 (ratio 3.00667): d = 0 -> floor(1.503) = 1, d = 1 -> floor(4.51) = 4,
    // d = 75 -> floor(227.003) = 227, d = 149 -> floor(449.497) = 449; 525 -> 224 (ratio 2.34375):
    // 1.5 * r = 3.516, 112.5 * r = 263.67, 223.5 * r = 523.83.
    expect([...nearestSourceIndices(451, 150)].filter((_, i) => [0, 1, 75, 149].includes(i))).toEqual([1, 4, 227, 449]);
    expect([...nearestSourceIndices(525, 224)].filter((_, i) => [0, 1, 112, 223].includes(i))).toEqual([1, 3, 263, 523]);
  });

  it("follow PIL's accumulated float sum where it differs from the closed form", () => {
    // Pillow 12.3 Image.resize(NEAREST) gave these source indices (its running
    // sum xo += src/dst falls just below the exact integer).
    const pil400 = nearestSourceIndices(400, 150);
    expect([pil400[4], pil400[16], pil400[19], pil400[61]]).toEqual([11, 43, 51, 163]);
    expect(nearestSourceIndices(1024, 150)[37]).toBe(255);
    expect(nearestSourceIndices(1024, 224)[3]).toBe(15);
    const exact400 = nearestSourceIndices(400, 150, 'exact');
    expect([exact400[4], exact400[16], exact400[19], exact400[61]]).toEqual([12, 44, 52, 164]);
    // How many positions differ, per pair.
    const ndiff = (s: number, d: number): number => {
      const a = nearestSourceIndices(s, d);
      const b = nearestSourceIndices(s, d, 'exact');
      return a.reduce((n, v, i) => n + (v !== b[i] ? 1 : 0), 0);
    };
    expect([ndiff(400, 150), ndiff(1024, 150), ndiff(1024, 224)]).toEqual([23, 1, 25]);
  });

  it('vs tfjs resizeNearestNeighbor(halfPixelCenters): equal where PIL equals the closed form, differs exactly where PIL does', async () => {
    for (const [w, h] of [
      [451, 300],
      [400, 600],
      [1024, 61],
    ] as const) {
      const src = Float32Array.from({ length: w * h }, (_, i) => i); // pixel value = its index
      const img = { width: w, height: h, channels: 1 as const, data: src };
      for (const [dw, dh] of [
        [150, 150],
        [224, 224],
      ] as const) {
        const t = tf.image.resizeNearestNeighbor(tf.tensor3d(src, [h, w, 1]), [dh, dw], false, true);
        const theirs = t.dataSync();
        t.dispose();
        const ours = resizeNearest(img, dw, dh).data;
        const exact = resizeNearest(img, dw, dh, 'exact').data;
        expect(Array.from(exact)).toEqual(Array.from(theirs)); // tfjs evaluates floor((d + 0.5) * ratio)
        const xs = nearestSourceIndices(w, dw);
        const ys = nearestSourceIndices(h, dh);
        for (let i = 0; i < ours.length; i++) {
          if (ours[i] !== theirs[i]) {
            const [y, x] = [Math.floor(i / dw), i % dw];
            // Only rows/columns where PIL's index differs from the closed form.
            expect(xs[x] !== rational(w, dw)[x] || ys[y] !== rational(h, dh)[y]).toBe(true);
          }
        }
      }
    }
  });

  it('kerasLoadImg on the PNG fixtures gives what Keras/PIL gave (checksums from Pillow 12.3)', () => {
    for (const [name, sum, weighted] of [
      ['chelsea_cat.png', 7789278, 980201152],
      ['coffee.png', 6663347, 840745087],
    ] as const) {
      const img = decodeImage(new Uint8Array(readFileSync(path.join(imagesDir, name))), name);
      const x = kerasLoadImg(img, [150, 150]);
      expect([x.width, x.height, x.channels, x.data.length]).toEqual([150, 150, 3, 150 * 150 * 3]);
      expect(x.data).toBeInstanceOf(Float32Array);
      expect(checksums(x.data)).toEqual([sum, weighted]);
    }
  });

  it('kerasLoadImg without resize copies; resizeNearest keeps channels and order', () => {
    const img: ImageU8 = { width: 3, height: 2, channels: 3, data: Uint8Array.from({ length: 18 }, (_, i) => i * 10) };
    const same = kerasLoadImg(img, [2, 3]);
    expect(Array.from(same.data)).toEqual(Array.from(img.data));
    const up = resizeNearest(img, 6, 4);
    // 3 -> 6 columns: sources 0,0,1,1,2,2; 2 -> 4 rows: 0,0,1,1.
    expect(Array.from(up.data.subarray(0, 18))).toEqual([0, 10, 20, 0, 10, 20, 30, 40, 50, 30, 40, 50, 60, 70, 80, 60, 70, 80]);
    expect(Array.from(up.data.subarray(18 * 3, 18 * 3 + 3))).toEqual([90, 100, 110]);
    expect(() => resizeNearest(img, 0, 2)).toThrow(/positive integer/);
  });
});

describe('bilinear, half-pixel centres (OpenCV INTER_LINEAR)', () => {
  const cases: [number, number, number, number, number][] = [
    [14, 14, 351, 525, 1],
    [7, 7, 150, 150, 1],
    [3, 3, 224, 224, 1],
    [5, 9, 17, 4, 3],
    [20, 30, 7, 11, 2],
    [1, 1, 4, 6, 1],
  ];
  for (const [h, w, dh, dw, c] of cases) {
    it(`${h}x${w}x${c} -> ${dh}x${dw} equals tfjs resizeBilinear(halfPixelCenters=true) to 1e-5`, () => {
      const src = rand(h * w * c, h * 1000 + w);
      const ours = resizeBilinear(src, h, w, dh, dw, c);
      const t = tf.image.resizeBilinear(tf.tensor3d(src, [h, w, c]), [dh, dw], false, true);
      const theirs = t.dataSync();
      t.dispose();
      expect(ours.length).toBe(theirs.length);
      let max = 0;
      for (let i = 0; i < ours.length; i++) max = Math.max(max, Math.abs(ours[i]! - theirs[i]!));
      expect(max).toBeLessThan(1e-5);
    });
  }

  it('hand-checked 1x2 -> 1x4: clamped borders, quarter steps', () => {
    // sources: (d + 0.5) / 2 - 0.5 = -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1)
    expect(Array.from(resizeBilinear([0, 1], 1, 2, 1, 4))).toEqual([0, 0.25, 0.75, 1]);
    expect(() => resizeBilinear([0, 1, 2], 1, 2, 1, 4)).toThrow(/3 values/);
  });
});
