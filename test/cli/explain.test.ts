import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkExplainFlags, type ExplainFlags } from '../../src/cli/commands/explain.ts';

// `convscope explain` and `gradcam --method` as a user runs them (a child process through bin/convscope.mjs).
const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/convscope.mjs');
const MODEL = join(ROOT, 'assets/cats_and_dogs_small_1.h5');
const CAT = join(ROOT, 'assets/chelsea_cat.png');

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, maxBuffer: 64 << 20, timeout: 1_800_000 }, (err, stdout, stderr) => {
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}
const tmp = () => mkdtempSync(join(tmpdir(), 'convscope-explain-'));

describe('convscope explain', () => {
  it('--json: every map at its own resolution with its scores, named by method; one report with every map and its curves', async () => {
    const out = tmp();
    const r = await run([
      'explain', MODEL, CAT, '--methods', 'gradcam,gradcam++,scorecam,ablationcam,smoothgrad,ig,guided-gradcam', '--samples', '8', '--steps', '8',
      // every batch 8 images (curves of 7 steps: 8 points): each new batch shape compiles shaders
      '--batch', '8', '--metrics', 'deletion,insertion,drop', '--curve-steps', '7', '--out', out, '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const j = JSON.parse(r.stdout);
    expect(j.command).toBe('explain');
    expect(j.class.index).toBe(1); // the top class: this model calls the cat "dog"
    expect(Object.keys(j.methods)).toEqual(['gradcam', 'gradcam++', 'scorecam', 'ablationcam', 'smoothgrad', 'ig', 'guided-gradcam']);
    for (const [name, m] of Object.entries(j.methods) as [string, Record<string, any>][]) {
      const cam = ['gradcam', 'gradcam++', 'scorecam', 'ablationcam'].includes(name);
      expect(m.shape, name).toEqual(cam ? [9, 9] : [50, 50]);
      expect(m.values).toHaveLength(m.shape[0] * m.shape[1]);
      expect(Math.max(...m.values.map(Math.abs))).toBe(1);
      if (cam) expect(m.layer).toBe('conv2d_6');
      for (const k of ['deletion', 'insertion']) {
        expect(m.metrics[k].fractions).toHaveLength(8);
        expect(m.metrics[k].fractions[0]).toBe(0);
        expect(m.metrics[k].fractions[7]).toBe(1);
        expect(m.metrics[k].scores).toHaveLength(8);
        expect(m.metrics[k].auc).toBeGreaterThan(0);
        expect(m.metrics[k].auc).toBeLessThan(1);
      }
      expect(m.metrics.averageDrop).toBeGreaterThanOrEqual(0);
      for (const f of m.files) expect(existsSync(f), f).toBe(true);
    }
    expect(j.methods.ig.signed).toBe(true);
    expect(j.methods.ig.details.steps).toBe(8);
    expect(typeof j.methods.ig.details.completenessError).toBe('number');
    expect(j.methods.scorecam.details).toMatchObject({ channels: 64, batches: 8, batch: 8 });
    expect(j.methods.smoothgrad.details).toMatchObject({ samples: 8, batches: 1 });
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html.match(/<div class="card">/g)).toHaveLength(7);
    expect(html.match(/<polyline /g)).toHaveLength(14); // deletion and insertion of each map
    expect(html).toContain('Guided Grad-CAM');
    expect(readdirSync(out).filter((f) => f.endsWith('.jpg'))).toHaveLength(7);
  });

  it('gradcam --method: another method through the gradcam command', async () => {
    const out = tmp();
    const r = await run(['gradcam', MODEL, CAT, '--method', 'gradcam++', '--class', '1', '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const g = JSON.parse(r.stdout).gradcam;
    expect(g.method).toBe('gradcam++');
    expect(g.shape).toEqual([9, 9]);
    expect(Math.max(...g.values)).toBe(1);
    expect(readdirSync(out)).toContain('gradcampp_chelsea_cat_conv2d_6_class1.jpg');
  });

  it('bad input: one clear line each, exit 2, nothing written', async () => {
    const out = join(tmp(), 'never');
    const cases: [string[], RegExp][] = [
      [['explain', MODEL, CAT, '--methods', 'gradcam,cam++'], /^convscope explain: unknown method 'cam\+\+'; the methods are gradcam, gradcam\+\+, .*guided-gradcam$/],
      [['explain', MODEL, CAT, '--methods', 'hirescam', '--class', '5'], /^convscope explain: the model has classes 0\.\.1; got class 5$/],
      [['explain', MODEL, CAT, '--methods', 'scorecam', '--layer', 'dense_3'], /^convscope explain: Score-CAM needs a layer with a spatial output \(rows x cols x channels\); 'dense_3' is Dense with output \[null,128\]$/],
      [['explain', MODEL, CAT, '--methods', 'smoothgrad', '--samples', '0'], /^convscope explain: --samples \(SmoothGrad n\) must be a whole number from 1 to 100000; got 0$/],
      [['gradcam', MODEL, CAT, '--method', 'gradcam+'], /^convscope gradcam: --method: unknown method 'gradcam\+'/],
    ];
    for (const [args, re] of cases) {
      const r = await run([...args, '--out', out]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr.trim()).toMatch(re);
    }
    expect(existsSync(out)).toBe(false);
  });

  it('flag checks before any model is loaded: n = 0, steps < 1, curve steps, baseline, score, metrics', () => {
    const base: ExplainFlags = { json: false, backend: 'cpu', out: 'x', seed: 0, score: 'prob', metrics: 'deletion', baseline: 'black', top: 3 };
    const bad: [Partial<ExplainFlags>, RegExp][] = [
      [{ methods: 'ig', steps: 0 }, /^--steps \(Integrated Gradients m\) must be a whole number from 1 to 100000; got 0$/],
      [{ methods: 'ig', steps: 1.5 }, /^--steps \(Integrated Gradients m\) must be a whole number/],
      [{ methods: 'smoothgrad', samples: 0 }, /^--samples \(SmoothGrad n\) must be a whole number from 1/],
      [{ curveSteps: 0 }, /^--curve-steps must be a whole number from 1 to 10000; got 0$/],
      [{ batch: 0 }, /^--batch must be a whole number from 1 to 4096; got 0$/],
      [{ baseline: 'gray' }, /^--baseline must be one of black, blurred, uniform; got 'gray'$/],
      [{ score: 'softmax' }, /^--score must be prob or logit; got 'softmax'$/],
      [{ metrics: 'deletion,auc' }, /^unknown metric 'auc'/],
      [{ methods: '' }, /^--methods is empty/],
      [{ noise: -0.1 }, /^--noise must be a fraction of the input range, 0 or more; got -0.1$/],
    ];
    for (const [f, re] of bad) expect(() => checkExplainFlags({ ...base, ...f }), JSON.stringify(f)).toThrow(re);
    expect(checkExplainFlags({ ...base, methods: 'ig,gradcam,ig', metrics: 'none' })).toMatchObject({ methods: ['ig', 'gradcam'], metrics: [] });
  });
});
