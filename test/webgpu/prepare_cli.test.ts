import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as cs from '../../src/index.ts';
import { prepareCommand } from '../../src/cli/prepare.ts';
import { filterPasses } from '../../src/cli/commands/filters.ts';
import { loadModel } from '../../src/models/load_model.ts';
import type { Model } from '../../src/models/model.ts';
import type { WebGPUBackend } from '../../src/kernels/wgsl/backend.ts';
import { gradCam } from '../../src/viz/gradcam.ts';
import { computeActivations } from '../../src/viz/activations.ts';
import { filterPatterns } from '../../src/viz/filters.ts';
import { webgpu } from '../helpers/backends.ts';

// The command line prepares its kernels from passes that stand for its real work
// (src/cli/prepare.ts): after prepareCommand, the real work compiles no pipeline of its own.

let gpu: WebGPUBackend;
let model: Model;
beforeAll(async () => {
  gpu = await webgpu();
  cs.engine.useBackend(gpu);
  model = await loadModel(join(import.meta.dirname, '../../assets/cats_and_dogs_small_1.h5'));
});
afterAll(() => model?.dispose());

const compiled = () => gpu.stats.pipelinesCompiled;

describe('prepareCommand', () => {
  it('gradcam: the top-class forward pass and Grad-CAM of either class need nothing more', async () => {
    const r = await prepareCommand([{ model, passes: [{ kind: 'predict' }, { kind: 'gradcam' }] }]);
    expect(r?.pipelines).toBeGreaterThan(5);
    const before = compiled();
    const [h, w, c] = model.inputShape as number[];
    const x = cs.randomUniform([1, h, w, c], 0, 1, 5);
    const p = model.predict(x);
    await p.data();
    p.dispose();
    for (const classIndex of [0, 1]) await gradCam(model, x, { classIndex });
    x.dispose();
    expect(compiled()).toBe(before);
  });

  it('activations and a filter-pattern step need nothing more', async () => {
    const layers = model.convAndPoolLayers();
    const layer = model.convLayers()[1];
    await prepareCommand([{ model, passes: [{ kind: 'activations', layers }, ...filterPasses(model, { layers: layer, filters: '0-3', steps: 2, init: 'noise' })] }]);
    const before = compiled();
    const [h, w, c] = model.inputShape as number[];
    const x = cs.randomUniform([1, h, w, c], 0, 1, 6);
    await computeActivations(model, x, layers);
    x.dispose();
    await filterPatterns(model, layer, [0, 1, 2, 3], { size: h, steps: 2 });
    expect(compiled()).toBe(before);
  });

  it('a pass that cannot be recorded leaves the command unprepared, without an error', async () => {
    await expect(prepareCommand([{ model, passes: [{ kind: 'gradcam', layer: 'no_such_layer' }] }])).resolves.toBeUndefined();
  });
});
