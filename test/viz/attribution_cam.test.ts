/**
 * The CAM family (Grad-CAM, Grad-CAM++, XGrad-CAM, Layer-CAM, HiResCAM, Eigen-CAM,
 * Score-CAM, Ablation-CAM) on convscope's WebGPU backend against references written
 * from the papers' formulas with TensorFlow.js ops and tf.valueAndGrad
 * (test/viz/attribution_reference.ts), on the real cats-vs-dogs file and on a small
 * VGG16 with seeded weights. Maps are compared after the normalisation both sides
 * apply (relu, then divided by the maximum).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as cs from '../../src/index.ts';
import { gradCam } from '../../src/viz/gradcam.ts';
import {
  ablationCam, eigenCam, explain, gradientCams, GRADIENT_CAMS, leadingEigenvector, parseMethods, scoreCam, type MapResult,
} from '../../src/viz/attribution/index.ts';
import { webgpu } from '../helpers/backends.ts';
import { tfjs } from '../helpers/tfjs.ts';
import {
  catsDogsNet, csInput, maxDiff, predictCheck, referenceAblationCam, referenceEigenCam, referenceGradientCams, referenceScoreCam, smallVggNet,
  type Net, type RefSetup, type TF,
} from './attribution_reference.ts';

// The brief's 1e-4, absolute, on maps normalised to [0, 1]: both sides are float32 with
// different summation orders (GPU tiles vs TF.js CPU loops); a wrong formula, axis,
// class or score changes a normalised map by 1e-2 .. 1.
const MAP_TOL = 1e-4;
// The hand-written TF.js chain vs tfjs-layers' own model on the same weights: float32
// forward passes of the same arithmetic.
const CHAIN_TOL = 1e-5;

let tf: TF;
const measured: string[] = [];

beforeAll(async () => {
  tf = await tfjs();
  await webgpu();
});
afterAll(() => {
  console.log(`[attribution_cam] backend webgpu; measured:\n  ${measured.join('\n  ')}`);
  // every method was compared on at least one map that is not all zero
  expect([...nonZero].sort()).toEqual(['ablationcam', 'eigencam', 'gradcam', 'gradcam++', 'hirescam', 'layercam', 'scorecam', 'xgradcam']);
});

/** Methods whose reference map was not all zero in at least one case (each must be, somewhere). */
const nonZero = new Set<string>();

function check(label: string, got: MapResult, want: Float32Array): void {
  const d = maxDiff(got.data, want);
  const peak = Math.max(...want);
  measured.push(`${label}: ${got.height}x${got.width} max |diff| ${d.toExponential(2)} (tol ${MAP_TOL})${peak === 0 ? ', all zero on both sides' : ''}`);
  // a map whose raw values are all negative is all zero after the ReLU (Grad-CAM of the
  // cats-vs-dogs net's class 0 is); then ours must be all zero too, else it peaks at 1
  if (peak === 0) expect(Math.max(...got.data), `${label}: the reference is all zero, ours is not`).toBe(0);
  else {
    expect(peak, label).toBe(1);
    nonZero.add(got.method);
  }
  expect(d, label).toBeLessThanOrEqual(MAP_TOL);
}

for (const make of [catsDogsNet, smallVggNet]) {
  describe(`CAMs vs TF.js references: ${make === catsDogsNet ? 'cats-vs-dogs (real file)' : 'small VGG16'}`, () => {
    let net: Net;
    let x: cs.Tensor;
    let tx: ReturnType<TF['tensor']>;
    // (class, score) pairs: the predicted class with its probability, and another class by its logit
    let cases: { classIndex: number; logit: boolean }[];

    beforeAll(async () => {
      net = await make(tf);
      x = csInput(net);
      tx = tf.tensor(net.input.values, net.input.shape);
      const d = await predictCheck(tf, net.chain, net.config, net.weightOf, tx);
      measured.push(`${net.name}: TF.js chain vs tfjs-layers predict max |diff| ${d.toExponential(2)}`);
      expect(d).toBeLessThanOrEqual(CHAIN_TOL);
      const p = tf.tidy(() => net.chain.run(tx).dataSync() as Float32Array);
      const top = p.length === 1 ? (p[0] > 0.5 ? 1 : 0) : p.indexOf(Math.max(...p));
      cases = [
        { classIndex: top, logit: false },
        // the other sigmoid class; for the softmax net the runner-up
        { classIndex: p.length === 1 ? 1 - top : Array.from(p.keys()).sort((a, b) => p[b] - p[a])[1], logit: true },
      ];
      measured.push(`${net.name}: top class ${top} (p ${p.length === 1 ? p[0].toFixed(4) : p[top].toFixed(4)})`);
    });
    afterAll(() => {
      x?.dispose();
      tx?.dispose();
      net?.ours.dispose();
      net?.chain.dispose();
    });

    const ref = (c: { classIndex: number; logit: boolean }): RefSetup => ({ tf, chain: net.chain, x: tx, ...c });

    it('Grad-CAM, Grad-CAM++, XGrad-CAM, Layer-CAM, HiResCAM from one backward pass, two classes, prob and logit', async () => {
      for (const c of cases) {
        const got = await gradientCams(net.ours, x, GRADIENT_CAMS, { classIndex: c.classIndex, score: c.logit ? 'logit' : 'prob' });
        const want = referenceGradientCams(ref(c), net.defaultLayer);
        for (const m of got) {
          expect(m.layer).toBe(net.defaultLayer);
          check(`${net.name} ${m.method} class ${c.classIndex} ${c.logit ? 'logit' : 'prob'}`, m, want[m.method]);
        }
        // the attribution Grad-CAM is the existing one (src/viz/gradcam.ts)
        const old = await gradCam(net.ours, x, { classIndex: c.classIndex, score: c.logit ? 'logit' : 'prob' });
        expect(maxDiff(old.heatmap.data, got[0].data)).toBeLessThanOrEqual(1e-6);
      }
    });

    it('Eigen-CAM (class-free), at the default layer and an earlier one', async () => {
      const layers = net.name === 'cats-vs-dogs' ? [net.defaultLayer, 'conv2d_5'] : [net.defaultLayer, 'block4_conv3'];
      for (const layer of layers) {
        const got = await eigenCam(net.ours, x, { layer, classIndex: cases[0].classIndex });
        check(`${net.name} eigencam ${layer}`, got, referenceEigenCam(ref(cases[0]), layer));
      }
    });

    it('Score-CAM in batches of 16 masks (the same map for any batch size)', async () => {
      const c = cases[0];
      const got = await scoreCam(net.ours, x, { classIndex: c.classIndex, batch: 16 });
      expect(got.details?.batches).toBe(Math.ceil((got.details!.channels as number) / 16));
      check(`${net.name} scorecam class ${c.classIndex} prob`, got, referenceScoreCam(ref(c), net.defaultLayer));
      const one = await scoreCam(net.ours, x, { classIndex: c.classIndex, batch: 64 });
      expect(maxDiff(one.data, got.data)).toBeLessThanOrEqual(1e-6);
    });

    it('Ablation-CAM in batches of 16 ablated copies, logit score', async () => {
      // the logit: relative drops of a probability near 0 or 1 are differences of nearly equal float32 numbers
      const c = cases[1];
      const got = await ablationCam(net.ours, x, { classIndex: c.classIndex, score: 'logit', batch: 16, weights: net.weights });
      check(`${net.name} ablationcam class ${c.classIndex} logit`, got, referenceAblationCam(ref(c), net.defaultLayer));
    });

    it('explain() runs several CAMs (batched ones too) for one class and leaves no tensor behind', async () => {
      const before = cs.engine.numTensors;
      const maps = await explain(net.ours, x, ['hirescam', 'eigencam', 'scorecam', 'ablationcam', 'gradcam'], { classIndex: cases[0].classIndex, batch: 16, weights: net.weights });
      expect(maps.map((m) => m.method)).toEqual(['hirescam', 'eigencam', 'scorecam', 'ablationcam', 'gradcam']);
      expect(cs.engine.numTensors).toBe(before);
    });
  });
}

describe('CAM errors: one clear line each', () => {
  let net: Net;
  let x: cs.Tensor;
  beforeAll(async () => {
    net = await catsDogsNet(tf);
    x = csInput(net);
  });
  afterAll(() => {
    x?.dispose();
    net?.ours.dispose();
    net?.chain.dispose();
  });

  it('a non-spatial layer, a class out of range, an unknown layer, an unknown method', async () => {
    const oneLine = async (p: Promise<unknown>, re: RegExp) => {
      const e = await p.then(() => undefined, (err: Error) => err);
      expect(e, String(re)).toBeInstanceOf(Error);
      expect(e!.message).toMatch(re);
      expect(e!.message).not.toContain('\n');
    };
    await oneLine(gradientCams(net.ours, x, ['gradcam++'], { layer: 'dense_3' }), /^Grad-CAM\+\+ needs a layer with a spatial output .*'dense_3' is Dense with output \[null,128\]/);
    await oneLine(scoreCam(net.ours, x, { layer: 'flatten_2' }), /^Score-CAM needs a layer with a spatial output/);
    await oneLine(eigenCam(net.ours, x, { layer: 'dense_4' }), /^Eigen-CAM needs a layer with a spatial output/);
    await oneLine(ablationCam(net.ours, x, { layer: 'dense_3', weights: net.weights }), /^Ablation-CAM needs a layer with a spatial output/);
    await oneLine(gradientCams(net.ours, x, ['layercam'], { classIndex: 2 }), /^the model has classes 0\.\.1; got class 2$/);
    await oneLine(scoreCam(net.ours, x, { batch: 0 }), /^--batch must be a whole number from 1/);
    await oneLine(gradientCams(net.ours, x, ['gradcam'], { layer: 'conv9' }), /has no layer 'conv9'/);
    expect(() => parseMethods('gradcam,gradcam+++')).toThrow(/^unknown method 'gradcam\+\+\+'; the methods are gradcam, gradcam\+\+, /);
  });
});

describe('leading eigenvector (Jacobi, float64)', () => {
  it('satisfies A v = lambda v with the largest lambda, also with a repeated smaller eigenvalue', () => {
    // A = Q diag(5, 2, 2, 0.5) Qᵀ with a fixed rotation Q
    const n = 4;
    const q = [
      [0.5, 0.5, 0.5, 0.5],
      [0.5, -0.5, 0.5, -0.5],
      [0.5, 0.5, -0.5, -0.5],
      [0.5, -0.5, -0.5, 0.5],
    ];
    const lam = [2, 5, 2, 0.5];
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) a[i * n + j] += q[k][i] * lam[k] * q[k][j];
    const { value, vector } = leadingEigenvector(a, n);
    expect(value).toBeCloseTo(5, 12);
    const sign = Math.sign(vector[0]);
    for (let i = 0; i < n; i++) expect(vector[i] * sign).toBeCloseTo(q[1][i] * Math.sign(q[1][0]), 12);
  });
});
