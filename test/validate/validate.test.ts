/**
 * `validate` (src/validate/validate.ts) on real users' files: it passes on them (every
 * row compared, within the issue's tolerances), it fails naming the layer when
 * convscope's copy of one weight is changed (never TF.js's), it raises no alarm when a
 * file is edited for both engines alike, and a model TF.js cannot build or a layer only
 * one side has gives a row saying so while the other rows are still computed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as cs from '../../src/index.ts';
import { readModelArchitecture, readModelFile, type ReadModel } from '../../src/models/load_model.ts';
import type { WeightArray } from '../../src/models/keras/spec.ts';
import { storedKerasConfig, withInputSize, type StoredConfig } from '../../src/validate/keras_config.ts';
import { generatedWeightArrays } from '../helpers/tfjs_keras.ts';
import { validateModel, formatReport, type ValidationReport } from '../../src/validate/validate.ts';
import { fixturesDir } from '../models/keras_helpers.ts';

const USERS = path.join(fixturesDir, 'keras', 'users');
const MNIST3 = path.join(USERS, 'mnist_keras3.keras');
const measured: string[] = [];

beforeAll(async () => {
  await cs.setBackend('cpu');
});

/** The largest error of each kind in a report, for the log. */
function worst(r: ValidationReport): string {
  const by = new Map<string, number>();
  for (const row of r.rows) {
    const v = row.measure === 'identical' ? row.identical : row.measure === 'abs' ? row.maxAbs : row.maxRel;
    if (v === undefined) continue;
    const k = row.kind;
    by.set(k, row.measure === 'identical' ? Math.min(by.get(k) ?? 1, v) : Math.max(by.get(k) ?? 0, v));
  }
  return [...by].map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', ');
}

function expectPass(r: ValidationReport) {
  const bad = r.rows.filter((x) => x.status !== 'pass');
  expect(bad, formatReport(r).join('\n')).toEqual([]);
  expect(r.passed && r.complete).toBe(true);
}

/** A deep copy of the weights with one array changed by `edit`. */
function edited(w: Map<string, WeightArray[]>, layer: string, role: string, edit: (v: Float32Array) => void): Map<string, WeightArray[]> {
  const out = new Map([...w].map(([k, ws]) => [k, ws.map((a) => ({ ...a, values: Float32Array.from(a.values) }))]));
  const a = out.get(layer)?.find((x) => x.role === role);
  if (!a) throw new Error(`no ${layer}/${role}`);
  edit(a.values);
  return out;
}

describe('progress and cancel (what the page\'s Validate tab shows)', () => {
  it('onProgress counts 4 phases and one unit per ascent step, in order; an aborted signal stops the run with its reason', async () => {
    const read = await readModelFile(MNIST3);
    const config = await storedKerasConfig(MNIST3);
    const seen: [number, number, string][] = [];
    const r = await validateModel(read, config, { steps: 2, ascentLayer: 'conv2d', filter: 3, onProgress: (d, t, w) => seen.push([d, t, w]) });
    expectPass(r);
    expect(seen.map(([d]) => d)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(new Set(seen.map(([, t]) => t))).toEqual(new Set([6]));
    expect(seen[5][2]).toBe('filter-pattern ascent, step 2 of 2');
    const stop = new AbortController();
    const run = validateModel(read, config, {
      steps: 2,
      onProgress: (d) => {
        if (d === 1) stop.abort(new Error('cancelled by the user'));
      },
      signal: stop.signal,
    });
    await expect(run).rejects.toThrow('cancelled by the user');
  });
});

describe('validate passes on real users models', () => {
  it('MNIST Keras 3 .keras (seeded random input), 40 ascent steps', async () => {
    const read = await readModelFile(MNIST3);
    const r = await validateModel(read, await storedKerasConfig(MNIST3), { steps: 40, ascentLayer: 'conv2d', filter: 3 });
    measured.push(`mnist_keras3: ${worst(r)}`);
    expectPass(r);
    expect(r.rows.filter((x) => x.kind === 'layer').length).toBe(8);
    expect(r.rows.map((x) => x.kind)).toEqual(expect.arrayContaining(['input-gradient', 'gradcam-gradient', 'gradcam-map', 'ascent-loss', 'ascent-image']));
  });

  it('MNIST channels-first weights + to_json() config', async () => {
    const file = path.join(USERS, 'mnist_channels_first_weights.h5');
    const arch = path.join(USERS, 'mnist_channels_first_model.json');
    const read = await readModelFile(file, { arch });
    const r = await validateModel(read, await storedKerasConfig(file, arch), { steps: 5 });
    measured.push(`mnist_channels_first: ${worst(r)}`);
    expectPass(r);
  });

  it('fer2013 mini-XCEPTION (separable convolutions: the gradient rows on tfjs-cpu, wasm has no depthwise input gradient)', async () => {
    const file = path.join(USERS, 'fer2013_mini_XCEPTION.102-0.66.hdf5');
    const read = await readModelFile(file);
    const r = await validateModel(read, await storedKerasConfig(file), { steps: 3 });
    measured.push(`fer2013: ${worst(r)}`);
    expectPass(r);
    expect(r.fallback).toMatch(/DepthwiseConv2dNativeBackpropInput/);
  });

  it('Tiny Darknet (TF.js layers model), 2 ascent steps', async () => {
    const file = path.join(fixturesDir, 'tfjs', 'tiny_darknet', 'model.json');
    const read = await readModelFile(file);
    const r = await validateModel(read, await storedKerasConfig(file), { steps: 2 });
    measured.push(`tiny_darknet: ${worst(r)}`);
    expectPass(r);
    console.log(`[validate] measured: ${measured.join('; ')}`);
  }, 300_000);
});

describe('validate is able to fail', () => {
  let read: ReadModel;
  let config: StoredConfig;
  beforeAll(async () => {
    read = await readModelFile(MNIST3);
    config = await storedKerasConfig(MNIST3);
  });

  it("one kernel value changed in convscope's copy only: fails, naming that layer", async () => {
    const ours = edited(read.weights, 'conv2d_1', 'kernel', (v) => (v[1234] += 0.05));
    const r = await validateModel({ ...read, weights: ours }, config, { steps: 0, referenceWeights: read.weights });
    expect(r.passed).toBe(false);
    expect(r.firstFailure).toBe('conv2d_1');
    // the layers before it still agree
    expect(r.rows.filter((x) => x.name === 'conv2d' || x.name === 'max_pooling2d').map((x) => x.status)).toEqual(['pass', 'pass']);
    expect(formatReport(r).at(-1)).toMatch(/^FAIL: first difference at conv2d_1/);
  });

  it('two channels of a bias swapped in convscope\'s copy only: fails, naming that layer', async () => {
    const ours = edited(read.weights, 'conv2d', 'bias', (v) => {
      const [i, j] = [0, v.findIndex((x) => Math.abs(x - v[0]) > 1e-3)];
      [v[i], v[j]] = [v[j], v[i]];
    });
    const r = await validateModel({ ...read, weights: ours }, config, { steps: 0, referenceWeights: read.weights });
    expect(r.passed).toBe(false);
    expect(r.firstFailure).toBe('conv2d');
  });

  it('a file edited for both engines alike (a kernel value and a bias swap read by both): no false alarm', async () => {
    let both = edited(read.weights, 'conv2d_1', 'kernel', (v) => (v[1234] += 0.05));
    both = edited(both, 'dense', 'bias', (v) => ([v[0], v[5]] = [v[5], v[0]]));
    const r = await validateModel({ ...read, weights: both }, config, { steps: 3 });
    expectPass(r);
  });
});

describe('bad input gives a clear row, the other rows still computed', () => {
  it('a model TF.js cannot build', async () => {
    const read = await readModelFile(MNIST3);
    const config = await storedKerasConfig(MNIST3);
    const broken = JSON.parse(JSON.stringify(config.config).replace('"Flatten"', '"NoSuchLayer"'));
    const r = await validateModel(read, { ...config, config: broken }, { steps: 2 });
    const layers = r.rows.filter((x) => x.kind === 'layer');
    expect(layers.length).toBe(8);
    for (const row of r.rows) {
      expect(row.status).toBe('unsupported');
      expect(row.note).toMatch(/TF\.js cannot build this model: .*NoSuchLayer/);
    }
    // ours still ran: shapes are there
    expect(layers[0].shape).toEqual([1, 26, 26, 32]);
    expect(r.passed).toBe(true);
    expect(r.complete).toBe(false);
  });

  it('a layer only one side has (renamed in the config TF.js builds): that row says so, every other row passes', async () => {
    const read = await readModelFile(MNIST3);
    const config = await storedKerasConfig(MNIST3);
    const renamed = JSON.parse(JSON.stringify(config.config).replaceAll('"dropout"', '"dropout_tfjs_only"'));
    const r = await validateModel(read, { ...config, config: renamed }, { steps: 2 });
    const odd = r.rows.filter((x) => x.status !== 'pass');
    expect(odd.map((x) => [x.name, x.status, x.note])).toEqual([
      ['dropout', 'unsupported', 'only convscope has this layer (TF.js has no output of that name)'],
      ['dropout_tfjs_only', 'unsupported', 'only TF.js has this layer'],
    ]);
    expect(r.passed).toBe(true);
    expect(r.complete).toBe(false);
  });

  it("an ascent size the model does not take: the ascent rows say why, every other row still passes", async () => {
    const read = await readModelFile(MNIST3);
    const r = await validateModel(read, await storedKerasConfig(MNIST3), { steps: 2, size: 20 });
    const ascent = r.rows.filter((x) => x.kind.startsWith('ascent'));
    expect(ascent.map((x) => x.status)).toEqual(['unsupported', 'unsupported']);
    expect(ascent[0].note).toMatch(/convscope's ascent failed: .*expects input of shape \[any,28,28,1\].*got \[1,20,20,1\]/);
    expect(r.rows.filter((x) => !x.kind.startsWith('ascent')).every((x) => x.status === 'pass')).toBe(true);
  });

  it('a weights-only file without its architecture: every row says TF.js has no config', async () => {
    const read = await readModelFile(MNIST3);
    const r = await validateModel(read, new Error('no Keras config'), { steps: 0 });
    expect(r.rows.every((x) => x.status === 'unsupported' && /no Keras config/.test(x.note ?? ''))).toBe(true);
  });
});

describe('--reference tfjs-webgpu (every value read back with data(): tfjs-webgpu has no synchronous read in Node)', () => {
  // convscope stays on its cpu backend here, so TF.js gets a Dawn instance of its own
  // (test/cli/validate.test.ts runs it on convscope's webgpu backend, sharing its Dawn instance)
  let read: ReadModel;
  let config: StoredConfig;
  beforeAll(async () => {
    read = await readModelFile(MNIST3);
    config = await storedKerasConfig(MNIST3);
  });

  it('MNIST Keras 3: every row passes, ascent included (filter 3 of conv2d: a live filter, its loss is not zero)', async () => {
    const r = await validateModel(read, config, { reference: 'tfjs-webgpu', steps: 5, ascentLayer: 'conv2d', filter: 3 });
    measured.push(`mnist_keras3 on tfjs-webgpu: ${worst(r)}`);
    console.log(`[validate] measured: ${measured.at(-1)}`);
    expectPass(r);
    expect(r.reference).toBe('tfjs-webgpu');
    expect(r.versions.adapter).toMatch(/a Dawn instance of its own/);
    expect(r.rows.filter((x) => x.kind === 'layer').length).toBe(8);
    const loss = r.rows.find((x) => x.kind === 'ascent-loss')!;
    // the losses compared are real numbers, not a dead filter's zeros
    expect(loss.note).not.toMatch(/ours: 0\.00000 0\.00000/);
    expect(r.rows.find((x) => x.kind === 'input-gradient')!.maxAbs).toBeLessThan(1e-3);
  }, 300_000);

  it("one kernel value changed in convscope's copy only: fails, naming that layer", async () => {
    const ours = edited(read.weights, 'conv2d_1', 'kernel', (v) => (v[1234] += 0.05));
    const r = await validateModel({ ...read, weights: ours }, config, { reference: 'tfjs-webgpu', steps: 0, referenceWeights: read.weights });
    expect(r.passed).toBe(false);
    expect(r.firstFailure).toBe('conv2d_1');
    expect(r.rows.filter((x) => x.name === 'conv2d' || x.name === 'max_pooling2d').map((x) => x.status)).toEqual(['pass', 'pass']);
  }, 300_000);
});

describe('options the report uses', () => {
  let read: ReadModel;
  let config: StoredConfig;
  beforeAll(async () => {
    read = await readModelFile(MNIST3);
    config = await storedKerasConfig(MNIST3);
  });

  it("filter 'live': the last convolution's first filter whose output is not all zero (filter 0 of conv2d_1 is dead on the noise start image)", async () => {
    const dead = await validateModel(read, config, { steps: 2, layers: ['conv2d'] });
    expect(dead.rows.find((x) => x.kind === 'ascent-loss')!.note).toMatch(/ours: 0\.00000 0\.00000 0\.00000;/);
    const live = await validateModel(read, config, { steps: 2, layers: ['conv2d'], filter: 'live' });
    const loss = live.rows.find((x) => x.kind === 'ascent-loss')!;
    expect(loss.name).toMatch(/^conv2d_1 filter [1-9]\d*, 28x28, 2 steps$/);
    expect(loss.note).not.toMatch(/ours: 0\.00000 0\.00000/);
    expectPass(live);
  });

  it("score 'logit': the gradient rows and the map of the top class's logit (dense_1's value before its softmax, TF.js's from its input and the same weights)", async () => {
    const r = await validateModel(read, config, { steps: 0, score: 'logit' });
    expectPass(r);
    const names = r.rows.filter((x) => x.kind !== 'layer').map((x) => x.name);
    expect(names[0]).toMatch(/^d logit\(class \d\) \/ d input$/);
    expect(names[1]).toMatch(/^d logit\(class \d\) \/ d conv2d_1$/);
    // the top class's column of dense_1's kernel scaled by 1.5 in convscope's copy only: its logit's gradient is 1.5x, its rows fail too
    const top = Number(/class (\d+)/.exec(names[0])![1]);
    const ours = edited(read.weights, 'dense_1', 'kernel', (v) => {
      for (let j = 0; j < 128; j++) v[j * 10 + top] *= 1.5;
    });
    const bad = await validateModel({ ...read, weights: ours }, config, { steps: 0, score: 'logit', referenceWeights: read.weights });
    expect(bad.firstFailure).toBe('dense_1');
    expect(bad.rows.find((x) => x.kind === 'input-gradient')!.status).toBe('fail');
  });
});

describe('a layer that returns its input tensor itself', () => {
  it("MobileNetV3Large's keras.applications config (generated weights, 32x32): the input stays live through validate, every row passes", async () => {
    const file = path.join(fixturesDir, 'keras_configs', 'MobileNetV3Large__hadainahzul.json');
    const config = withInputSize(JSON.parse(fs.readFileSync(file, 'utf8')), 32) as object;
    const spec = await readModelArchitecture(new TextEncoder().encode(JSON.stringify(config)), { fileName: file });
    const r = await validateModel({ spec, weights: generatedWeightArrays(spec, 7), format: 'generated' }, { config, kerasVersion: '2' }, { steps: 0, score: 'logit' });
    expectPass(r);
  }, 300_000);
});
