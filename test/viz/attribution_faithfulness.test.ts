/**
 * Faithfulness scores (deletion and insertion curves and AUCs, average drop and increase
 * in confidence, ROAD) on WebGPU: the metric tells a good map from a bad one (Grad-CAM
 * against random maps, on the cat with the real cats-vs-dogs file and on the elephant
 * with the real ImageNet Tiny Darknet, which ends in logits), the curves' end points are
 * the scores of the images they should be, and the imputation reproduces what it must.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as cs from '../../src/index.ts';
import { Random } from '../../src/engine/random.ts';
import { loadModel } from '../../src/models/load_model.ts';
import type { Model } from '../../src/models/model.ts';
import {
  auc, faithfulness, gaussianBlur, gradientCam, linearImputation, makeTarget, parseMetrics, pixelRanks, scores, type Faithfulness,
} from '../../src/viz/attribution/index.ts';
import { readImageFile } from '../../src/viz/image_io_node.ts';
import { rescale } from '../../src/viz/preprocess.ts';
import { kerasLoadImg } from '../../src/viz/resize.ts';
import { webgpu } from '../helpers/backends.ts';
import { repoRoot } from '../models/keras_helpers.ts';

const measured: string[] = [];
beforeAll(async () => {
  await webgpu();
});
afterAll(() => console.log(`[attribution_faithfulness] backend webgpu; measured:\n  ${measured.join('\n  ')}`));

async function photo(name: string, size: number): Promise<cs.Tensor> {
  const img = kerasLoadImg(await readImageFile(`${repoRoot}/assets/${name}`), [size, size]);
  return cs.tensor(rescale(img.data), [1, size, size, 3]);
}

const randomMap = (size: number, seed: number) => {
  const r = new Random(seed);
  return { height: size, width: size, data: Float32Array.from({ length: size * size }, () => r.next()) };
};

const line = (label: string, f: Faithfulness) =>
  `${label}: deletion AUC ${f.deletion!.auc.toFixed(4)} (${f.deletion!.replacement}), insertion AUC ${f.insertion!.auc.toFixed(4)} (${f.insertion!.replacement})` +
  (f.road ? `, ROAD MoRF mean ${f.road.morfMean.toFixed(4)}, LeRF mean ${f.road.lerfMean.toFixed(4)}` : '') +
  (f.drop ? `, average drop ${f.drop.averageDrop.toFixed(2)}%, increase ${f.drop.increase}` : '');

describe('Grad-CAM vs random maps: the metric tells them apart', () => {
  it('cats-vs-dogs on the cat (its predicted class, "dog"): 20 steps, three random maps, ROAD too', async () => {
    const model = await loadModel(`${repoRoot}/assets/cats_and_dogs_small_1.h5`);
    const x = await photo('chelsea_cat.png', 50);
    try {
      const before = cs.engine.numTensors;
      const cam = await gradientCam(model, x, 'gradcam');
      const metrics = parseMetrics('deletion,insertion,drop,road');
      const good = await faithfulness(model, x, cam, cam.classIndex, metrics, { steps: 20, batch: 21 });
      measured.push(line(`cat, class ${cam.classIndex}, Grad-CAM`, good));
      const rnd: Faithfulness[] = [];
      for (const seed of [11, 12, 13]) {
        rnd.push(await faithfulness(model, x, randomMap(50, seed), cam.classIndex, metrics, { steps: 20, batch: 21 }));
        measured.push(line(`cat, random map ${seed}`, rnd.at(-1)!));
      }
      expect(cs.engine.numTensors).toBe(before);
      const mean = (f: (r: Faithfulness) => number) => rnd.reduce((s, r) => s + f(r), 0) / rnd.length;
      // margins: about 40% of each measured gap (deletion 0.27, insertion 0.03, ROAD
      // MoRF 0.19, LeRF 0.04): deterministic inputs, so these only guard the direction
      // with room for float32 and tie-order changes
      expect(good.deletion!.auc).toBeLessThan(mean((r) => r.deletion!.auc) - 0.1);
      expect(good.insertion!.auc).toBeGreaterThan(mean((r) => r.insertion!.auc) + 0.01);
      expect(good.road!.morfMean).toBeLessThan(mean((r) => r.road!.morfMean) - 0.07);
      expect(good.road!.lerfMean).toBeGreaterThan(mean((r) => r.road!.lerfMean) + 0.015);
    } finally {
      x.dispose();
      model.dispose();
    }
  });

  it('Tiny Darknet (ImageNet, logits) on the elephant (African_elephant): 8 steps, one random map', async () => {
    const model = await loadModel(`${repoRoot}/assets/tiny_darknet/model.json`);
    const x = await photo('creative_commons_elephant.jpg', 224);
    try {
      const cam = await gradientCam(model, x, 'gradcam');
      expect(cam.classIndex).toBe(23); // African_elephant, n02504458, in Tiny Darknet's class order (class_order_wnids.txt)
      // 8 steps (9 images per curve, 36 in all): Tiny Darknet at 224 costs ~1 s an image on lavapipe
      const o = { steps: 8, batch: 9 };
      const good = await faithfulness(model, x, cam, cam.classIndex, ['deletion', 'insertion'], o);
      const bad = await faithfulness(model, x, randomMap(224, 11), cam.classIndex, ['deletion', 'insertion'], o);
      measured.push(line(`elephant, class ${cam.classIndex}, Grad-CAM`, good), line('elephant, random map 11', bad));
      // measured gaps: deletion 0.019 (black pixels scattered over 1/8 of the photo already
      // take the random map's curve from 0.68 to 0.19, so both areas are small), insertion
      // 0.36; margins about half and 40% of them
      expect(good.deletion!.auc).toBeLessThan(bad.deletion!.auc - 0.01);
      expect(good.insertion!.auc).toBeGreaterThan(bad.insertion!.auc + 0.15);
    } finally {
      x.dispose();
      model.dispose();
    }
  });
});

describe('the scores are what they say', () => {
  let model: Model;
  let x: cs.Tensor;
  beforeAll(async () => {
    model = await loadModel(`${repoRoot}/assets/cats_and_dogs_small_1.h5`);
    x = await photo('dog_on_beach.jpg', 50);
  });
  afterAll(() => {
    x?.dispose();
    model?.dispose();
  });

  it('curve end points: deletion from f(x) to f(black), insertion from f(blurred) to f(x); AUC by trapezoids', async () => {
    const t = makeTarget(model, 1, 'prob');
    const f = await faithfulness(model, x, randomMap(50, 3), 1, ['deletion', 'insertion', 'drop'], { steps: 4, batch: 5 });
    const [fx, fblack, fblur] = await Promise.all(
      [x, cs.zeros([1, 50, 50, 3]), gaussianBlur(x, 2)].map(async (img) => {
        const s = scores(model, img, t);
        const v = (await s.data())[0];
        s.dispose();
        if (img !== x) img.dispose();
        return v;
      }),
    );
    // the same images through the same model in another batch: float32, batch-size-independent kernels
    const near = (a: number, b: number) => expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-6);
    near(f.deletion!.scores[0], fx);
    near(f.deletion!.scores[4], fblack);
    near(f.insertion!.scores[0], fblur);
    near(f.insertion!.scores[4], fx);
    expect(f.deletion!.fractions).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(f.deletion!.auc).toBeCloseTo(auc(f.deletion!.scores), 12);
    expect(auc([1, 0.5, 0])).toBe(0.5);
    expect(auc([0, 1, 1, 1])).toBeCloseTo(5 / 6, 12);
    // average drop: max(0, Y - O) / Y * 100 with Y = f(x)
    near(f.drop!.original, fx);
    expect(f.drop!.averageDrop).toBeCloseTo((Math.max(0, fx - f.drop!.explained) / fx) * 100, 6);
    expect(f.drop!.increase).toBe(f.drop!.explained > fx);
  });

  it('pixel ranks: by decreasing value, ties in a seeded order', () => {
    expect(Array.from(pixelRanks([0.1, 0.9, 0.5]))).toEqual([2, 0, 1]);
    const tied = pixelRanks([1, 1, 1, 1, 0], 4);
    expect([...tied].slice(0, 4).sort()).toEqual([0, 1, 2, 3]);
    expect(tied[4]).toBe(4);
    expect(Array.from(pixelRanks([1, 1, 1, 1, 0], 4))).toEqual(Array.from(tied));
  });

  it('linear imputation keeps a linear ramp (a harmonic function) exactly, and adds the noise asked for', () => {
    const H = 9;
    const W = 11;
    const img = new Float32Array(H * W * 2);
    for (let y = 0; y < H; y++) for (let x0 = 0; x0 < W; x0++) (img[(y * W + x0) * 2] = 0.3 * y - 0.2 * x0 + 1), (img[(y * W + x0) * 2 + 1] = 2);
    const removed = new Uint8Array(H * W);
    for (let y = 2; y < 7; y++) for (let x0 = 3; x0 < 9; x0++) removed[y * W + x0] = 1;
    const out = linearImputation(img, H, W, 2, removed, 0, new Random(1));
    let d = 0;
    for (let i = 0; i < img.length; i++) d = Math.max(d, Math.abs(out[i] - img[i]));
    // float64 conjugate gradients to a 1e-6 relative residual, stored in float32
    expect(d).toBeLessThanOrEqual(1e-5);
    const noisy = linearImputation(img, H, W, 2, removed, 0.5, new Random(1));
    let s2 = 0;
    let n = 0;
    for (let p = 0; p < H * W; p++) if (removed[p]) (s2 += (noisy[p * 2 + 1] - 2) ** 2), n++;
    expect(Math.sqrt(s2 / n)).toBeGreaterThan(0.3);
    expect(Math.sqrt(s2 / n)).toBeLessThan(0.7);
  });

  it('bad metric names and step counts: one line each', async () => {
    expect(() => parseMetrics('deletion,aopc')).toThrow(/^unknown metric 'aopc'; the metrics are deletion, insertion, drop, road \(or none\)$/);
    expect(parseMetrics('none')).toEqual([]);
    await expect(faithfulness(model, x, randomMap(50, 1), 1, ['deletion'], { steps: 0 })).rejects.toThrow(/^--curve-steps must be a whole number from 1 to 10000; got 0$/);
    await expect(faithfulness(model, x, randomMap(50, 1), 2, ['deletion'])).rejects.toThrow(/^the model has classes 0\.\.1; got class 2$/);
  });
});
