import { beforeAll, describe, expect, it } from 'vitest';
import { JET, VIRIDIS } from '../../src/viz/colormap.ts';
import {
  activationGrid,
  colorizeMinMax,
  deprocessImage,
  heatmapToUint8,
  normalizeMinMax,
  numpyMeanStdF32,
  overlayHeatmap,
  patternGrid,
  postprocessChannel,
  renderActivationChannel,
  renderGridViridis,
} from '../../src/viz/grid.ts';
import type { ImageU8 } from '../../src/viz/image.ts';
import { checksums, tfjs } from './helpers.ts';

let tf: Awaited<ReturnType<typeof tfjs>>;
beforeAll(async () => {
  tf = await tfjs();
});

/** Deterministic ReLU-like activations. */
function activations(h: number, w: number, c: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: h * w * c }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return Math.max(0, (s / 2 ** 32) * 6 - 2);
  });
}

/**
 * The book's grid built with TensorFlow.js ops in a different style: whole
 * tensors, tf.moments per channel, and the tiling done by reshape/transpose.
 */
function bookGridTf(act: Float32Array, h: number, w: number, c: number, perRow = 16): Int32Array {
  return tf.tidy(() => {
    const nRows = Math.floor(c / perRow);
    const x = tf.slice(tf.tensor3d(act, [h, w, c]), [0, 0, 0], [h, w, nRows * perRow]);
    const { mean, variance } = tf.moments(x, [0, 1], true);
    const z = tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(variance)), 64), 128);
    // cast truncates toward zero, like astype('uint8') after the clip
    const y = tf.cast(tf.clipByValue(z, 0, 255), 'int32');
    const grid = tf.reshape(tf.transpose(tf.reshape(y, [h, w, nRows, perRow]), [2, 0, 3, 1]), [nRows * h, perRow * w]);
    return grid.dataSync() as Int32Array;
  });
}

describe('activation grid (SPEC section 1)', () => {
  it('shape: channels // 16 rows of 16 tiles; leftover channels dropped', () => {
    const g = activationGrid(activations(7, 5, 40, 1), 7, 5, 40);
    expect([g.width, g.height, g.channels]).toEqual([16 * 5, 2 * 7, 1]);
    const few = activationGrid(activations(3, 3, 6, 2), 3, 3, 6);
    expect([few.width, few.height]).toEqual([18, 3]); // extension: one row when channels < 16
  });

  it('agrees with a tfjs re-implementation of the book code (float32 sums in another order: off by at most 1, rarely)', () => {
    for (const [h, w, c, seed] of [
      [15, 15, 128, 3],
      [36, 36, 64, 4],
      [34, 34, 32, 5],
    ] as const) {
      const act = activations(h, w, c, seed);
      const ours = activationGrid(act, h, w, c).data;
      const theirs = bookGridTf(act, h, w, c);
      expect(ours.length).toBe(theirs.length);
      let diff = 0;
      for (let i = 0; i < ours.length; i++) {
        const d = Math.abs(ours[i]! - theirs[i]!);
        expect(d).toBeLessThanOrEqual(1);
        if (d) diff++;
      }
      expect(diff / ours.length).toBeLessThan(1e-3);
    }
  });

  it("is bit-exact with the book's numpy code (golden checksums from numpy 2.4)", () => {
    // act[i] = max(((i * 7919) % 1000) / 37 - 8, 0) as float32, shape 9x9x40; the
    // book's loop gave a 18x144 display_grid with these checksums.
    const act = Float32Array.from({ length: 9 * 9 * 40 }, (_, i) => Math.max(((i * 7919) % 1000) / 37 - 8, 0));
    const g = activationGrid(act, 9, 9, 40);
    expect([g.height, g.width]).toEqual([18, 144]);
    expect(checksums(g.data)).toEqual([330537, 40666923]);
    expect([0, 1, 100, 1000, 2591].map((i) => g.data[i])).toEqual([62, 193, 213, 138, 62]);
  });

  it('hand-checked channel; zero-std guard gives a flat 128', () => {
    // channel values 0, 2, 0, 2: mean 1, std 1 -> (x - 1) * 64 + 128 = 64, 192
    const a = new Float32Array([0, 5, 2, 5, 0, 5, 2, 5]); // 2x2x2 HWC: channel 0 = 0,2,0,2; channel 1 = constant 5
    expect(Array.from(postprocessChannel(a, 2, 2, 2, 0))).toEqual([64, 192, 64, 192]);
    expect(Array.from(postprocessChannel(a, 2, 2, 2, 1))).toEqual([128, 128, 128, 128]);
    // clipping and truncation: values 0 x 15 and 100 -> z = -0.258, 3.873 -> 111.48 -> 111, 375.9 -> 255
    const b = new Float32Array(16);
    b[15] = 100;
    const t = postprocessChannel(b, 4, 4, 1, 0);
    expect([t[0], t[15]]).toEqual([111, 255]);
  });

  it("numpy-faithful mean/std equal tf.moments to float32 precision", () => {
    const x = activations(37, 41, 1, 9);
    const ours = numpyMeanStdF32((i) => x[i]!, x.length);
    const { mean, variance } = tf.moments(tf.tensor1d(x));
    expect(Math.abs(ours.mean - mean.dataSync()[0]!)).toBeLessThan(1e-5);
    expect(Math.abs(ours.std - Math.sqrt(variance.dataSync()[0]!))).toBeLessThan(1e-5);
    mean.dispose();
    variance.dispose();
  });

  it('viridis rendering is min-max normalised over the grid (as plt.imshow does)', () => {
    const grid: ImageU8 = { width: 3, height: 1, channels: 1, data: new Uint8Array([64, 128, 192]) };
    const rgb = renderGridViridis(grid);
    // (x - 64) / 128 -> 0, 0.5, 1 -> entries 0, 128, 255
    expect(Array.from(rgb.data)).toEqual([
      ...VIRIDIS.lut.subarray(0, 3),
      ...VIRIDIS.lut.subarray(128 * 3, 129 * 3),
      ...VIRIDIS.lut.subarray(255 * 3, 256 * 3),
    ]);
    expect(Array.from(normalizeMinMax([5, 5, 5]))).toEqual([0, 0, 0]);
    expect(Array.from(normalizeMinMax(new Float32Array([1, 2, 4])))).toEqual([0, Math.fround(1 / 3), 1]);
    const one = renderActivationChannel(new Float32Array([0, 9, 1, 9, 2, 9, 3, 9]), 2, 2, 2, 0);
    expect(Array.from(one.data)).toEqual(Array.from(colorizeMinMax([0, 1, 2, 3], 2, 2).data));
  });
});

describe('filter patterns (SPEC section 2)', () => {
  it('patternGrid: 547x547 for 8x8 tiles of 64 with margin 5, black margins, pattern i + 8j at row i, column j', () => {
    const size = 64;
    const patterns = Array.from({ length: 64 }, (_, k) => {
      const p = new Uint8Array(size * size * 3);
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          p.set([k + 1, y, x], (y * size + x) * 3); // R = index + 1, G/B encode the position inside the tile
        }
      }
      return p;
    });
    const g = patternGrid(patterns, size);
    expect([g.width, g.height, g.channels]).toEqual([547, 547, 3]);
    const px = (y: number, x: number): number[] => Array.from(g.data.subarray((y * 547 + x) * 3, (y * 547 + x) * 3 + 3));
    for (let i = 0; i < 8; i++) {
      for (let j = 0; j < 8; j++) {
        const top = i * 69;
        const left = j * 69;
        expect(px(top, left)).toEqual([i + 8 * j + 1, 0, 0]);
        expect(px(top + 10, left + 20)).toEqual([i + 8 * j + 1, 10, 20]);
        expect(px(top + 63, left + 63)).toEqual([i + 8 * j + 1, 63, 63]);
      }
    }
    // every pixel in a margin row or column is black
    const inMargin = (v: number): boolean => v % 69 >= 64;
    for (let y = 0; y < 547; y++) {
      for (let x = 0; x < 547; x++) {
        if (inMargin(y) || inMargin(x)) expect(px(y, x)).toEqual([0, 0, 0]);
      }
    }
  });

  it('patternGrid with fewer patterns leaves black tiles; wrong sizes are rejected', () => {
    const g = patternGrid([new Uint8Array(12).fill(9)], 2, 2, 3, 1);
    expect([g.width, g.height]).toEqual([8, 5]);
    expect(g.data.reduce((s, v) => s + v, 0)).toBe(9 * 12);
    expect(() => patternGrid([new Uint8Array(5)], 2)).toThrow(/pattern 0/);
  });

  it('deprocessImage vs tfjs moments (off by at most 1, rarely)', () => {
    const n = 64 * 64 * 3;
    let s = 12345;
    const x = Float32Array.from({ length: n }, () => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return (s / 2 ** 32) * 20 + 128 + Math.sin(s) * 3;
    });
    const ours = deprocessImage(x);
    const theirs = tf.tidy(() => {
      const t = tf.tensor1d(x);
      const { mean, variance } = tf.moments(t);
      const z = tf.add(tf.mul(tf.div(tf.sub(t, mean), tf.add(tf.sqrt(variance), 1e-5)), 0.1), 0.5);
      const y = tf.mul(tf.clipByValue(z, 0, 1), 255);
      return tf.cast(tf.clipByValue(y, 0, 255), 'int32').dataSync();
    });
    let diff = 0;
    for (let i = 0; i < n; i++) {
      const d = Math.abs(ours[i]! - theirs[i]!);
      expect(d).toBeLessThanOrEqual(1);
      if (d) diff++;
    }
    expect(diff / n).toBeLessThan(1e-3);
  });

  it("deprocessImage is bit-exact with the book's numpy code (golden from numpy 2.4)", () => {
    // x[j] = ((j * 104729) % 977) / 13 + 100 as float32, 16x16x3
    const x = Float32Array.from({ length: 768 }, (_, j) => ((j * 104729) % 977) / 13 + 100);
    const d = deprocessImage(x);
    expect(checksums(d)).toEqual([97535, 12053436]);
    expect([0, 1, 2, 500, 767].map((i) => d[i])).toEqual([83, 100, 117, 104, 97]);
  });
});

describe('Grad-CAM overlay (SPEC section 3)', () => {
  const jet = (i: number): number[] => Array.from(JET.lut.subarray(3 * i, 3 * i + 3));

  it('heat 1 adds 0.4 x JET[255] = dark red to R (RGB order), rounded and clipped', () => {
    const img: ImageU8 = { width: 2, height: 1, channels: 3, data: new Uint8Array([10, 20, 30, 250, 0, 200]) };
    const out = overlayHeatmap(img, { width: 1, height: 1, data: new Float32Array([1]) });
    expect(jet(255)).toEqual([128, 0, 0]);
    // 0.4 * 128 = 51.2: 10 + 51.2 = 61.2 -> 61; 250 + 51.2 -> 255 (clipped)
    expect(Array.from(out.data)).toEqual([61, 20, 30, 255, 0, 200]);
    const cold = overlayHeatmap(img, { width: 1, height: 1, data: new Float32Array([0]) });
    // JET[0] = (0, 0, 128): blue gets 51.2 -> 30 + 51.2 = 81.2 -> 81
    expect(Array.from(cold.data)).toEqual([10, 20, 81, 250, 0, 251]);
  });

  it('1x2 heatmap upsampled to 1x4: bilinear 0, .25, .75, 1 -> uint8 0, 63, 191, 255 -> JET', () => {
    const img: ImageU8 = { width: 4, height: 1, channels: 3, data: new Uint8Array(12).fill(100) };
    expect(Array.from(heatmapToUint8([0, 0.25, 0.75, 1]))).toEqual([0, 63, 191, 255]);
    const out = overlayHeatmap(img, { width: 2, height: 1, data: new Float32Array([0, 1]) });
    // JET 0 = (0,0,128), 63 = (0,124,255), 191 = (255,128,0), 255 = (128,0,0)
    const want = [[0, 0, 128], [0, 124, 255], [255, 128, 0], [128, 0, 0]].flatMap((c) => c.map((v) => Math.round(0.4 * v + 100)));
    expect(Array.from(out.data)).toEqual(want);
    expect(want.slice(0, 6)).toEqual([100, 100, 151, 100, 150, 202]);
  });

  it('output has the photo size; gray photos are replicated first', () => {
    const gray: ImageU8 = { width: 5, height: 3, channels: 1, data: new Uint8Array(15).fill(7) };
    const out = overlayHeatmap(gray, { width: 2, height: 2, data: new Float64Array([0, 0.5, 0.5, 1]) });
    expect([out.width, out.height, out.channels]).toEqual([5, 3, 3]);
    expect(() => overlayHeatmap(gray, { width: 2, height: 2, data: new Float32Array(3) })).toThrow(/heatmap/);
  });
});
