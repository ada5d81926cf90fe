/**
 * The pictures work on every real user's model in shared/fixtures (and the TF.js
 * Tiny Darknet): activations of the default layers and Grad-CAM at the default
 * layer, grayscale, nested and channels-first models included, on WebGPU. Their
 * numbers against TF.js are in test/models/users_vs_tfjs.test.ts; this checks the
 * whole path a user takes (file -> photo as Keras reads it -> pictures).
 */
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as cs from '../../src/index.ts';
import { loadModel } from '../../src/models/load_model.ts';
import { computeActivations, renderLayerGrid } from '../../src/viz/activations.ts';
import { gradCam } from '../../src/viz/gradcam.ts';
import { readImageFile } from '../../src/viz/image_io_node.ts';
import { toGrayU8 } from '../../src/viz/image.ts';
import { preprocess } from '../../src/viz/preprocess.ts';
import { kerasLoadImg } from '../../src/viz/resize.ts';
import { webgpu } from '../helpers/backends.ts';
import { fixturesDir } from '../models/keras_helpers.ts';

const F = fixturesDir;
const CASES: { file: string; arch?: string; layer?: string; gradcamLayer: string; pre: 'rescale' | 'tf' }[] = [
  { file: 'keras/users/fer2013_mini_XCEPTION.102-0.66.hdf5', gradcamLayer: 'conv2d_7', pre: 'rescale' },
  { file: 'keras/users/mnist_keras3.keras', gradcamLayer: 'conv2d_1', pre: 'rescale' },
  { file: 'keras/users/mnist_channels_first_weights.h5', arch: 'keras/users/mnist_channels_first_model.json', gradcamLayer: 'conv2d_2', pre: 'rescale' },
  { file: 'keras/users/teachable_machine_keras_model.h5', layer: 'model1/out_relu', gradcamLayer: 'sequential_1/model1/out_relu', pre: 'tf' },
  { file: 'tfjs/tiny_darknet/model.json', gradcamLayer: 'conv2d_16', pre: 'rescale' },
];

describe("pictures of real users' models", () => {
  beforeAll(async () => {
    await webgpu();
  });
  for (const c of CASES) {
    it(path.basename(c.file), async () => {
      const before = cs.engine.numTensors;
      const model = await loadModel(path.join(F, c.file), c.arch ? { arch: path.join(F, c.arch) } : {});
      try {
        const [h, w, ch] = model.inputShape as number[];
        const photo = await readImageFile(path.join(F, 'images/chelsea_cat.png'));
        const img = kerasLoadImg(ch === 1 ? toGrayU8(photo) : photo, [h, w]);
        const x = cs.tensor(preprocess(img.data, c.pre), [1, h, w, ch]);
        const layers = model.convAndPoolLayers().slice(0, 3);
        expect(layers.length).toBeGreaterThan(0);
        const acts = await computeActivations(model, x, layers);
        for (const a of acts) {
          expect(a.shape.length).toBe(3);
          expect(a.values.every(Number.isFinite)).toBe(true);
          const grid = renderLayerGrid(a);
          expect(grid.channels).toBe(3);
        }
        // the default layer: the last one with a spatial output, inner models included
        const g = await gradCam(model, x, { layer: c.layer });
        expect(g.layer).toBe(c.gradcamLayer);
        expect(g.heatmap.data.every((v) => v >= 0 && v <= 1)).toBe(true);
        expect(Math.max(...g.heatmap.data)).toBe(1); // these photos give a map with a positive part
        x.dispose();
      } finally {
        model.dispose();
      }
      expect(cs.engine.numTensors).toBe(before);
    });
  }
});
