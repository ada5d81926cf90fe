import { describe, expect, it } from 'vitest';
import {
  applyColormap,
  applyColormapFloat,
  colormapIndex,
  getColormap,
  JET,
  jetBaseMap,
  VIRIDIS,
} from '../../src/viz/colormap.ts';
import { VIRIDIS_DATA } from '../../src/viz/viridis_data.ts';
import {
  preprocess,
  rescale,
  squeezenetPreprocess,
  vgg16Preprocess,
} from '../../src/viz/preprocess.ts';

const entry = (lut: Uint8Array, i: number): number[] => Array.from(lut.subarray(3 * i, 3 * i + 3));

describe('viridis', () => {
  it("entries 0, 127, 128, 255 are matplotlib's published _viridis_data values", () => {
    expect(VIRIDIS_DATA.length).toBe(256);
    expect(VIRIDIS_DATA[0]).toEqual([0.267004, 0.004874, 0.329415]);
    expect(VIRIDIS_DATA[127]).toEqual([0.128729, 0.563265, 0.551229]);
    expect(VIRIDIS_DATA[128]).toEqual([0.127568, 0.566949, 0.550556]);
    expect(VIRIDIS_DATA[255]).toEqual([0.993248, 0.906157, 0.143936]);
    for (const e of VIRIDIS_DATA) for (const v of e) expect(v >= 0 && v <= 1).toBe(true);
  });

  it("bytes are matplotlib's (lut * 255).astype(uint8): truncation", () => {
    expect(entry(VIRIDIS.lut, 0)).toEqual([68, 1, 84]); // 0.267004 * 255 = 68.09
    expect(entry(VIRIDIS.lut, 127)).toEqual([32, 143, 140]); // 0.563265 * 255 = 143.63 -> 143
    expect(entry(VIRIDIS.lut, 128)).toEqual([32, 144, 140]);
    expect(entry(VIRIDIS.lut, 255)).toEqual([253, 231, 36]); // 0.906157 * 255 = 231.07
    expect(getColormap('viridis')).toBe(VIRIDIS);
  });

  it("float -> index follows matplotlib's Colormap.__call__ (int(x * 256), 1.0 -> 255, clipped)", () => {
    const cases: [number, number][] = [
      [0, 0],
      [1 / 256 - 1e-9, 0],
      [1 / 256, 1],
      [0.5, 128],
      [0.999, 255],
      [1, 255],
      [-0.1, 0],
      [1.5, 255],
      [NaN, -1],
    ];
    for (const [x, i] of cases) expect(colormapIndex(x)).toBe(i);
    const rgb = applyColormapFloat([0, 0.5, 1, NaN], VIRIDIS);
    expect(Array.from(rgb)).toEqual([...entry(VIRIDIS.lut, 0), ...entry(VIRIDIS.lut, 128), ...entry(VIRIDIS.lut, 255), 0, 0, 0]);
  });
});

describe("OpenCV's COLORMAP_JET", () => {
  // Octave's jet written differently: each channel is a clipped tent,
  // r = clip(min(4x - 1.5, 4.5 - 4x), 0, 1), g = ... (offsets 0.5 / 3.5), b = ... (-0.5 / 2.5).
  const tent = (x: number, rise: number, fall: number): number => Math.max(0, Math.min(1, Math.min(4 * x - rise, fall - 4 * x)));
  const formula = (i: number): [number, number, number] => {
    const x = i / 255;
    return [tent(x, 1.5, 4.5), tent(x, 0.5, 3.5), tent(x, -0.5, 2.5)];
  };

  it('every entry is 255 * formula rounded; off exact .5 ties the rounding is unambiguous', () => {
    let ties = 0;
    for (let i = 0; i < 256; i++) {
      const want = formula(i).map((v) => v * 255);
      const got = entry(JET.lut, i);
      for (let k = 0; k < 3; k++) {
        const frac = want[k]! - Math.floor(want[k]!);
        if (Math.abs(frac - 0.5) < 1e-9) {
          ties++;
          expect([Math.floor(want[k]!), Math.ceil(want[k]!)]).toContain(got[k]); // OpenCV's float32 rounding decides
        } else {
          expect(got[k]).toBe(Math.round(want[k]!));
        }
      }
    }
    expect(ties).toBeGreaterThan(100); // why a float32-faithful build is needed
  });

  it("equals cv2.applyColorMap (OpenCV 5.0, taken at development time, BGR -> RGB) at sample indices, ties included", () => {
    const opencv: [number, number[]][] = [
      [0, [0, 0, 128]],
      [32, [0, 0, 255]],
      [63, [0, 124, 255]],
      [64, [0, 128, 255]],
      [96, [2, 255, 254]],
      [127, [126, 255, 130]],
      [128, [130, 255, 126]],
      [159, [254, 255, 1]],
      [160, [255, 252, 0]],
      [191, [255, 128, 0]],
      [192, [255, 124, 0]],
      [224, [252, 0, 0]],
      [255, [128, 0, 0]],
    ];
    for (const [i, rgb] of opencv) expect(entry(JET.lut, i)).toEqual(rgb);
  });

  it("base map equals the float literals in OpenCV's colormap.cpp", () => {
    const base = jetBaseMap();
    const f = Math.fround;
    expect(base[96 * 3]).toBe(f(0.00588235294117645)); // r[96]
    expect(base[32 * 3 + 1]).toBe(f(0.001960784313725483)); // g[32]
    expect(base[223 * 3 + 1]).toBe(f(0.001960784313725483)); // g[223]
    expect(base[0 * 3 + 2]).toBe(0.5); // b[0]
    expect(base[1 * 3 + 2]).toBe(f(0.5156862745098039)); // b[1]
    expect(base[159 * 3 + 2]).toBe(f(0.00588235294117645)); // b[159]
    expect(base[255 * 3]).toBe(0.5); // r[255]
  });

  it('applyColormap maps uint8 values through the table', () => {
    const out = applyColormap(new Uint8Array([0, 255, 128]), JET);
    expect(Array.from(out)).toEqual([0, 0, 128, 128, 0, 0, 130, 255, 126]);
  });
});

describe('preprocessing', () => {
  const x = new Float32Array([255, 128, 0, 10.5, 20.25, 30.75]);

  it('rescale divides by 255 in float32', () => {
    const y = rescale(x);
    expect(Array.from(y)).toEqual(Array.from(x, (v) => Math.fround(v / 255)));
    expect(y).not.toBe(x);
  });

  it('VGG16 caffe: RGB -> BGR minus 103.939, 116.779, 123.68 (float32 constants)', () => {
    const y = vgg16Preprocess(x);
    const f = Math.fround;
    expect(Array.from(y)).toEqual(
      [0 - f(103.939), 128 - f(116.779), 255 - f(123.68), 30.75 - f(103.939), 20.25 - f(116.779), 10.5 - f(123.68)].map(f),
    );
    expect(Array.from(preprocess(x, 'caffe'))).toEqual(Array.from(y));
    expect(Array.from(x)).toEqual([255, 128, 0, 10.5, 20.25, 30.75]); // input untouched
  });

  it('SqueezeNet: BGR minus 104.006, 116.669, 122.679', () => {
    const y = squeezenetPreprocess(x);
    expect(y[0]).toBeCloseTo(0 - 104.006, 4);
    expect(y[1]).toBeCloseTo(128 - 116.669, 4);
    expect(y[2]).toBeCloseTo(255 - 122.679, 4);
    expect(Array.from(preprocess(x, 'squeezenet'))).toEqual(Array.from(y));
  });

  it("'none' copies; bad input is rejected", () => {
    const y = preprocess(x, 'none');
    expect(Array.from(y)).toEqual(Array.from(x));
    expect(y).not.toBe(x);
    expect(() => vgg16Preprocess(new Float32Array(4))).toThrow(/multiple of 3/);
  });
});
