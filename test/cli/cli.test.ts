import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixturesDir } from '../models/keras_helpers.ts';

// The real command line, run as a user would (a child process through bin/convscope.mjs).
const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/convscope.mjs');
const MODEL = join(ROOT, 'assets/cats_and_dogs_small_1.h5');
const SQUEEZENET = join(ROOT, 'assets/squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5');
const CAT = join(ROOT, 'assets/chelsea_cat.png');

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, maxBuffer: 64 << 20, timeout: 1_800_000 }, (err, stdout, stderr) => {
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}
const tmp = () => mkdtempSync(join(tmpdir(), 'convscope-cli-'));

describe('convscope CLI', () => {
  it('summary --json matches the Keras figures of the real file', async () => {
    const r = await run(['summary', MODEL, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.command).toBe('summary');
    expect(j.model.params).toBe(187649);
    expect(j.layers.map((l: { className: string }) => l.className)).toEqual([
      'InputLayer', 'Conv2D', 'MaxPooling2D', 'Conv2D', 'MaxPooling2D', 'Conv2D', 'MaxPooling2D', 'Flatten', 'Dropout', 'Dense', 'Dense',
    ]);
    expect(j.summary).toContain('Total params: 187,649');
    // summary computes nothing: it starts no GPU device
    expect(j.backend).toBe('none');
  });

  it('predict, activations and gradcam --json on the real trained convnet', async () => {
    const out = tmp();
    const pr = await run(['predict', MODEL, CAT, '--json']);
    // Dawn's two start-up notices are filtered out of stderr by bin/convscope.mjs
    expect(pr.stderr).toBe('');
    const p = JSON.parse(pr.stdout);
    expect(p.predictions).toHaveLength(2);
    const probs = p.predictions.map((x: { probability: number }) => x.probability);
    expect(probs[0] + probs[1]).toBeCloseTo(1, 6);
    const a = await run(['activations', MODEL, CAT, '--out', out, '--layers', 'conv2d_4,max_pooling2d_6', '--json']);
    expect(a.code, a.stderr).toBe(0);
    const aj = JSON.parse(a.stdout);
    expect(aj.layers.map((l: { name: string; shape: number[] }) => [l.name, l.shape])).toEqual([
      ['conv2d_4', [48, 48, 32]],
      ['max_pooling2d_6', [4, 4, 64]],
    ]);
    expect(aj.layers[0].channels).toHaveLength(32);
    for (const f of aj.files) expect(existsSync(f)).toBe(true);
    for (const cls of ['0', '1']) {
      const g = await run(['gradcam', MODEL, CAT, '--out', out, '--class', cls, '--json']);
      expect(g.code, g.stderr).toBe(0);
      const gj = JSON.parse(g.stdout).gradcam;
      expect(gj.layer).toBe('conv2d_6');
      expect(gj.class.index).toBe(Number(cls));
      expect(gj.shape).toEqual([9, 9]);
      expect(gj.values).toHaveLength(81);
      expect(Math.min(...gj.values)).toBeGreaterThanOrEqual(0);
      // normalised by its maximum; on this model the class-0 (cat) map is all negative before
      // the ReLU, so it is all zero (the guarded case)
      expect(Math.max(...gj.values)).toBe(cls === '1' ? 1 : 0);
    }
    expect(readdirSync(out)).toContain('report.html');
  });

  it('filters --json reports every step of every pattern', async () => {
    const out = tmp();
    const r = await run(['filters', SQUEEZENET, '--arch', 'squeezenet-notop', '--layers', 'conv1', '--filters', '0-2', '--size', '32', '--steps', '3', '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.filters[0].layer).toBe('conv1');
    expect(j.filters[0].patterns.map((p: { filter: number }) => p.filter)).toEqual([0, 1, 2]);
    for (const p of j.filters[0].patterns) {
      expect(p.losses).toHaveLength(4);
      expect(p.losses[3]).toBeGreaterThan(p.losses[0]); // ascent raises the filter's mean activation
    }
  });

  it('bad input: one clear message, non-zero exit, nothing half-written', async () => {
    const out = tmp();
    const bad = join(out, 'bad.png');
    writeFileSync(bad, 'this is not an image');
    const cases: [string[], RegExp, number][] = [
      [['activations', MODEL, bad, '--out', join(out, 'a')], /bad\.png/, 1],
      [['activations', MODEL, CAT, '--layers', 'nope', '--out', join(out, 'b')], /no layer 'nope'; its layers are: .*conv2d_4/, 1],
      [['filters', SQUEEZENET, '--arch', 'squeezenet-notop', '--layers', 'conv1', '--filters', '60-70', '--out', join(out, 'c')], /filters 0\.\.63; 64, 65/, 2],
      [['gradcam', MODEL, CAT, '--class', '7', '--out', join(out, 'd')], /classes 0\.\.1; got class 7/, 1],
      [['gradcam', MODEL, CAT, '--layer', 'dense_3', '--out', join(out, 'e')], /Grad-CAM needs a layer with a spatial output.*dense_3/, 1],
      [['predict', MODEL, CAT, '--top', '0'], /--top must be a whole number of at least 1; got 0/, 2],
      [['predict', MODEL, CAT, '--labels', join(out, 'none.txt')], /--labels: cannot read .*none\.txt/, 2],
      [['summary', CAT], /chelsea_cat\.png: not a model file convscope can read; expected a Keras HDF5 file/, 1],
      // checked before any model is loaded: these answer at once
      [['filters', SQUEEZENET, '--arch', 'squeezenet-notop', '--steps', '1e9'], /--steps must be a whole number from 0 to 10000; got 1000000000/, 2],
      [['filters', SQUEEZENET, '--arch', 'squeezenet-notop', '--batch', '0'], /--batch must be a whole number from 1 to 4096; got 0/, 2],
      [['filters', SQUEEZENET, '--arch', 'squeezenet-notop', '--filters', '0-1000000000'], /--filters: '0-1000000000' asks for more than 4096 filters/, 2],
      [['activations', MODEL, CAT, '--layers', ''], /--layers is empty/, 2],
      [['activations', MODEL, CAT, '--layers', 'dense_3', '--out', join(out, 'f')], /--layers: 'dense_3' \(Dense\) has output \(None, 128\); activation pictures need a layer with rows x cols x channels/, 2],
      [['gradcam', MODEL, CAT, '--out', bad], /--out '.*bad\.png' exists and is not a folder/, 2],
      [['summary', join(out, 'bad.png')], /bad\.png/, 1],
      [['predict', MODEL], /expected MODEL IMAGE/, 2],
      [['frobnicate'], /unknown command 'frobnicate'/, 2],
      [['filters', SQUEEZENET, '--arch', 'alexnet'], /--arch must be one of/, 2],
    ];
    for (const [args, msg, code] of cases) {
      const r = await run(args);
      expect(r.code, `${args.join(' ')}\n${r.stderr}`).toBe(code);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr.trim().split('\n').length, r.stderr).toBeLessThanOrEqual(3);
    }
    for (const d of ['a', 'b', 'c', 'd', 'e', 'f']) expect(existsSync(join(out, d)), d).toBe(false);
    expect(readdirSync(out).filter((n) => n.startsWith('.convscope-staging'))).toEqual([]);
    // a folder named report.html in --out: the run fails and moves none of its files in
    const taken = join(out, 'taken');
    mkdirSync(join(taken, 'report.html'), { recursive: true });
    const t = await run(['gradcam', MODEL, CAT, '--out', taken]);
    expect(t.code, t.stderr).toBe(2);
    expect(t.stderr).toMatch(/cannot write '.*report\.html': a folder of that name is in the way/);
    expect(readdirSync(taken)).toEqual(['report.html']);
  });

  it('real users\' models: a grayscale .hdf5, a nested model by inner path, a TF.js model with WordNet labels, a bare config', async () => {
    const F = fixturesDir;
    const out = tmp();
    // 64x64x1 mini-Xception: the photo gets PIL's 'L' conversion
    const fer = JSON.parse((await run(['predict', join(F, 'keras/users/fer2013_mini_XCEPTION.102-0.66.hdf5'), CAT, '--json'])).stdout);
    expect(fer.model.inputShape).toEqual([64, 64, 1]);
    expect(fer.predictions).toHaveLength(3);
    // an inner layer of Sequential(Sequential(Functional MobileNet)) chosen by its path
    const tm = await run(['gradcam', join(F, 'keras/users/teachable_machine_keras_model.h5'), CAT, '--layer', 'model1/block_16_project', '--preprocess', 'tf', '--out', join(out, 'tm'), '--json']);
    expect(tm.code, tm.stderr).toBe(0);
    const g = JSON.parse(tm.stdout).gradcam;
    expect(g.layer).toBe('sequential_1/model1/block_16_project');
    expect(g.shape).toEqual([7, 7]);
    // the real ImageNet Tiny Darknet (TF.js layers model, logits out), named through its WordNet class order
    const td = join(F, 'tfjs/tiny_darknet');
    const p = JSON.parse((await run(['predict', join(td, 'model.json'), join(F, 'images/creative_commons_elephant.jpg'), '--labels', join(td, 'class_order_wnids.txt'), '--json'])).stdout);
    expect(p.predictions.slice(0, 2).map((x: { name: string }) => x.name)).toEqual(['African_elephant', 'tusker']);
    // without --labels, the class_order_wnids.txt beside model.json names the classes, and stderr says so
    const beside = await run(['predict', join(td, 'model.json'), join(F, 'images/creative_commons_elephant.jpg'), '--json']);
    expect(JSON.parse(beside.stdout).predictions[0].name).toBe('African_elephant');
    expect(beside.stderr).toContain(`class names from '${join(td, 'class_order_wnids.txt')}', found beside the model`);
    // a labels.txt beside a model that does not fit its classes is said and left out
    const tm2 = tmp();
    symlinkSync(join(F, 'keras/cats_and_dogs_small_1.h5'), join(tm2, 'model.h5'));
    writeFileSync(join(tm2, 'labels.txt'), 'cat\ndog\nbird\n');
    const misfit = await run(['predict', join(tm2, 'model.h5'), CAT]);
    expect(misfit.code, misfit.stderr).toBe(0);
    expect(misfit.stderr).toMatch(/not using '.*labels\.txt' beside the model for class names: .*3/);
    // a genuine keras.applications config alone: summary needs no weights
    const s = await run(['summary', join(F, 'keras_configs/MobileNet__hpssjellis.json')]);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toContain('Total params: 4,253,864');
    const nested = await run(['summary', join(F, 'keras/users/teachable_machine_keras_model.h5')]);
    expect(nested.stdout).toMatch(/sequential_1 \(Sequential\)\s+\(None, 1280\)\s+410208/);
    const expanded = await run(['summary', join(F, 'keras/users/teachable_machine_keras_model.h5'), '--expand']);
    expect(expanded.stdout).toContain('sequential_1/model1/Conv1 (C');
  });

  it('--help for each command', async () => {
    for (const c of ['summary', 'predict', 'activations', 'filters', 'gradcam', 'demo']) {
      const r = await run([c, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`usage: convscope ${c}`);
    }
  });
});
