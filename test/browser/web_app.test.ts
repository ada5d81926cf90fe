/**
 * Issue 11, the web page, in a real browser: web/ is built with Vite (src/cli/commands/serve.ts
 * buildWeb, what `npm run build` and `convscope serve` run), served from 127.0.0.1 by the
 * same server `convscope serve` uses, and driven by playwright-core on Debian's
 * /usr/bin/chromium with WebGPU on (its adapter is SwiftShader; see browser_smoke.test.ts).
 * The fixture model (the trained 50x50 cats-vs-dogs convnet) and a photo go in through the
 * page's real <input type=file> elements; every technique runs; the numbers the page exposes
 * in data- attributes are checked against the Node CLI's --json on the same files (lavapipe
 * through Dawn), run as a user runs it (bin/convscope.mjs).
 *
 * Tolerances. Both sides run the same WGSL on float32 on the same input tensor (the photo is
 * a JPEG decoded by the same library code on both sides), but different drivers: SwiftShader
 * and lavapipe implement exp/log/sigmoid/softmax differently by a few ulp (measured in
 * browser_smoke.test.ts: up to 1e-7 absolute, 10 ulp), and sums are in the same order.
 *  - predictions (a sigmoid at the end of 5 layers): |page - cli| <= 1e-5; the CLI prints 4
 *    decimals, so the page's 4-decimal text must be identical too.
 *  - activation channel mean / std (conv outputs, no transcendental before them; the CLI
 *    rounds to 6 significant digits): relative 1e-5 + absolute 1e-6.
 *  - Grad-CAM map (normalised to [0, 1]; the gradient goes back through the sigmoid;
 *    the CLI rounds to 7 digits): absolute 1e-4, the tolerance validate uses for the map,
 *    and the argmax cell must be the same.
 *  - filter-pattern losses over a few steps (each step divides by the RMS of the gradient,
 *    which carries the sigmoid-free ReLU path only, so drift stays tiny; CLI rounds to 6
 *    digits): relative 1e-4.
 *  - per-channel gradients against the library in this process: relative 1e-4 + 1e-9.
 *  - the elephant JPEG (photos are decoded in the page's worker by the library's decodeImage,
 *    libjpeg-turbo in WebAssembly, as the CLI decodes them; no canvas decode): the decoded
 *    pixels read back from the page's photo canvas equal decodeImage's in this process
 *    exactly, and Tiny Darknet's top-5 on it are the CLI's (same classes and 4-decimal text;
 *    |page - cli| <= 1e-5 as for the predictions above: SwiftShader vs lavapipe softmax).
 *  - the Validate tab against `convscope validate --json` on the same file and photo: the
 *    two runs compare different convscope engines (the page's WebGPU on SwiftShader, or its
 *    cpu backend; the CLI's cpu backend) against tfjs-wasm in different hosts (Chromium,
 *    Node), so their errors are not equal: the test asks for the same rows (kind, name,
 *    shape), the same status of every row and the same verdict, and every error on both
 *    sides within the row's own stated tolerance (validate's: activations 1e-4 relative,
 *    gradients 1e-3, the map 1e-4 absolute).
 *  - the camera (a second Chromium with its fake capture device, WebGPU on): the frame the
 *    page took is read back from its photo canvas as a PNG (lossless) and run through the
 *    library in this process: |page - node| <= 1e-5, as for the predictions above; the two
 *    shown probabilities are p and 1 - p of one sigmoid (float64), so they sum to 1 (1e-12).
 *  - the cpu backend's Validate tab (no WebGPU) against `convscope validate --backend cpu`:
 *    the same engines on both sides; the test asks for the same rows, statuses and verdict.
 * Timeouts are hang guards (vitest.config.ts explains the project's long ones).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type http from 'node:http';
import { buildWeb, serveFolder, WEB_DIST } from '../../src/cli/commands/serve.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/convscope.mjs');
const MODEL = path.join(ROOT, 'assets/cats_and_dogs_small_1.h5');
const PHOTO = path.join(ROOT, 'assets/dog_on_beach.jpg');
// the test's own screenshots (git-ignored); the committed set in docs/screenshots is web/screenshots.ts's
const SHOTS = path.join(ROOT, 'test/.generated/web_app');
const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--enable-unsafe-webgpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'];
const GUARD = 900_000;
const ELEPHANT = path.join(ROOT, 'assets/creative_commons_elephant.jpg');
const TINY_DARKNET = path.join(ROOT, 'assets/tiny_darknet/model.json');
const SQUEEZENET_WEIGHTS = path.join(ROOT, '../shared/fixtures/keras/squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5');
const VALIDATE_STEPS = 3;
const FILTERS = '0-7';
const STEPS = 5;

function cli(args: string[]): Promise<Record<string, any>> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'convscope-web-'));
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, ...args, '--json', '--out', out], { cwd: ROOT, maxBuffer: 64 << 20, timeout: 1_800_000 }, (err, stdout, stderr) => {
      fs.rmSync(out, { recursive: true, force: true });
      if (err) reject(new Error(`convscope ${args.join(' ')} failed: ${stderr}`));
      else resolve(JSON.parse(stdout));
    });
  });
}

const maxAbs = (a: number[], b: number[]) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe('the web page (issue 11) in headless Chromium, against the CLI', () => {
  let server: http.Server | undefined;
  let browser: Browser | undefined;
  let page: Page;
  const pageErrors: string[] = [];
  const measured: string[] = [];
  // the CLI side starts at once and runs while the page is built and used
  let cliResults: Promise<[Record<string, any>, Record<string, any>, Record<string, any>, Record<string, any>, Record<string, any>]> | undefined;

  afterAll(async () => {
    await browser?.close();
    if (server) await new Promise<void>((r) => server!.close(() => r()));
    console.log(`[web app] ${measured.join('; ')}`);
  });

  const done = () => page.evaluate(() => Number(document.body.dataset.done ?? 0));
  /** Waits for the action started by `act` to finish (the page counts finished actions). */
  async function finished(act: () => Promise<unknown>) {
    const n = await done();
    await act();
    await page.waitForFunction((k) => Number(document.body.dataset.done ?? 0) > k, n, { timeout: GUARD });
  }
  const errorText = () => page.evaluate(() => (document.getElementById('error')!.hidden ? '' : document.getElementById('error')!.textContent ?? ''));
  const liveBytes = () => page.evaluate(() => Number(document.getElementById('live-bytes')!.dataset.liveBytes));
  const shot = (name: string) => (fs.mkdirSync(SHOTS, { recursive: true }), page.screenshot({ path: path.join(SHOTS, name), fullPage: true }));

  it(
    'builds, serves, opens the model and the photo through the file inputs, and shows the CLI\'s predictions',
    async () => {
      cliResults = Promise.all([
        cli(['gradcam', MODEL, PHOTO, '--top', '2']),
        cli(['activations', MODEL, PHOTO, '--layers', 'conv2d_5']),
        cli(['filters', MODEL, '--layers', 'conv2d_4', '--filters', FILTERS, '--steps', String(STEPS)]),
        cli(['validate', MODEL, PHOTO, '--backend', 'cpu', '--steps', String(VALIDATE_STEPS)]),
        cli(['predict', TINY_DARKNET, ELEPHANT, '--top', '5']),
      ]);
      cliResults.catch(() => undefined);
      let t = performance.now();
      await buildWeb({ quiet: true });
      measured.push(`vite build ${Math.round(performance.now() - t)} ms`);
      for (const f of ['index.html', 'demo/cats_and_dogs_small_1.h5', 'demo/tiny_darknet/model.json', 'demo/dog_on_beach.jpg']) expect(fs.existsSync(path.join(WEB_DIST, f)), f).toBe(true);
      ({ server } = await serveFolder(WEB_DIST));
      const url = `http://127.0.0.1:${(server!.address() as { port: number }).port}/`;
      browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS, timeout: 60_000 });
      page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      page.on('pageerror', (e) => pageErrors.push(`uncaught in page: ${e.message}`));
      page.on('crash', () => pageErrors.push('the page crashed'));
      await page.goto(url, { waitUntil: 'load', timeout: GUARD });
      await page.waitForFunction(() => document.body.dataset.ready === 'true', undefined, { timeout: GUARD });
      expect(await page.getAttribute('#backend', 'data-backend')).toBe('webgpu');
      t = performance.now();
      await finished(() => page.setInputFiles('#model-file', MODEL));
      expect(await errorText()).toBe('');
      expect(await page.textContent('#model-status')).toContain('cats_and_dogs_small_1.h5');
      await finished(() => page.setInputFiles('#image-file', PHOTO));
      expect(await errorText()).toBe('');
      measured.push(`model + photo + predictions in the page ${Math.round(performance.now() - t)} ms`);
      const preds = JSON.parse((await page.getAttribute('#predictions', 'data-values'))!) as { index: number; probability: number }[];
      const [g] = await cliResults;
      const want = g.predictions as { index: number; probability: number }[];
      expect(preds.map((p) => p.index)).toEqual(want.map((p) => p.index));
      const d = maxAbs(preds.map((p) => p.probability), want.map((p) => p.probability));
      measured.push(`predictions max |page - cli| ${d.toExponential(2)}`);
      expect(d).toBeLessThanOrEqual(1e-5);
      const cells = await page.$$eval('#predictions td.p', (tds) => tds.map((td) => td.textContent));
      expect(cells).toEqual(want.map((p) => p.probability.toFixed(4)));
      expect(await page.textContent('#summary')).toContain('Total params: 187,649');
      // the Benchmark tab is its own page, and it links back here
      const bench = await browser.newPage();
      await bench.goto(new URL((await page.getAttribute('#bench-link', 'href'))!, url).href, { waitUntil: 'load', timeout: GUARD });
      await Promise.all([bench.waitForURL(/\/index\.html$/, { timeout: GUARD }), bench.click('#app-link')]);
      expect(await bench.locator('#bench-link').count()).toBe(1);
      await bench.close();
      expect(pageErrors).toEqual([]);
    },
    GUARD,
  );

  it(
    'activations: per-channel statistics match the CLI; the gradient toggle gives Grad-CAM\'s channel weights; a click zooms a channel',
    async () => {
      // choosing a layer computes it
      await finished(() => page.selectOption('#act-layer', 'conv2d_5'));
      expect(await errorText()).toBe('');
      const stats = JSON.parse((await page.getAttribute('#act-grid', 'data-stats'))!) as { mean: number; std: number }[];
      const [, a] = await cliResults!;
      const want = a.layers[0].channels as { mean: number; std: number }[];
      expect(stats.length).toBe(64);
      expect(await page.locator('.tile').count()).toBe(64);
      let worst = 0;
      stats.forEach((s, i) => {
        for (const k of ['mean', 'std'] as const) {
          const diff = Math.abs(s[k] - want[i][k]);
          worst = Math.max(worst, diff / (1e-6 + Math.abs(want[i][k])));
          expect(diff, `channel ${i} ${k}`).toBeLessThanOrEqual(1e-5 * Math.abs(want[i][k]) + 1e-6);
        }
      });
      measured.push(`activation stats max relative diff ${worst.toExponential(2)}`);
      // the gradient toggle: d p(dog) / d channel, averaged over the grid
      await finished(() => page.selectOption('#act-class', '1'));
      await finished(() => page.check('#act-grad'));
      expect(await errorText()).toBe('');
      const grads = JSON.parse((await page.getAttribute('#act-grid', 'data-grads'))!) as number[];
      expect(grads.length).toBe(64);
      // the same numbers from the library in this process (Dawn)
      const cs = await import('../../src/index.ts');
      const { loadModel } = await import('../../src/models/load_model.ts');
      const { gradCam } = await import('../../src/viz/gradcam.ts');
      const { decodeImage } = await import('../../src/viz/image_decode.ts');
      const { kerasLoadImg } = await import('../../src/viz/resize.ts');
      const { rescale } = await import('../../src/viz/preprocess.ts');
      await cs.setBackend('webgpu');
      const m = await loadModel(MODEL);
      const x = cs.tensor(rescale(kerasLoadImg(decodeImage(fs.readFileSync(PHOTO), PHOTO), [50, 50]).data), [1, 50, 50, 3]);
      const r = await gradCam(m, x, { layer: 'conv2d_5', classIndex: 1, score: 'prob' });
      x.dispose();
      m.dispose();
      const gmax = Math.max(...Array.from(r.channelWeights, Math.abs));
      const gd = maxAbs(grads, Array.from(r.channelWeights));
      measured.push(`channel gradients max |page - node| ${gd.toExponential(2)} (largest |g| ${gmax.toExponential(2)})`);
      expect(gd).toBeLessThanOrEqual(1e-4 * gmax + 1e-9);
      await page.click('.tile[data-channel="3"]');
      expect(await page.getAttribute('#act-zoom', 'data-channel')).toBe('3');
      await page.locator('#act-zoom-canvas').hover(); // the middle of the 22x22 map
      expect(await page.textContent('#act-zoom-value')).toMatch(/^row 1[01], column 1[01]: -?\d/);
      await shot('activations.png');
    },
    GUARD,
  );

  it(
    'Grad-CAM: the map and its argmax cell match the CLI; opacity and colormap repaint',
    async () => {
      await page.click('button.tab[data-tab="gradcam"]');
      await finished(() => page.click('#g-run'));
      expect(await errorText()).toBe('');
      const [g] = await cliResults!;
      const values = JSON.parse((await page.getAttribute('#g-overlay', 'data-values'))!) as number[];
      const shape = JSON.parse((await page.getAttribute('#g-overlay', 'data-shape'))!) as number[];
      expect(shape).toEqual(g.gradcam.shape);
      expect(Number(await page.getAttribute('#g-overlay', 'data-class-index'))).toBe(g.gradcam.class.index);
      const d = maxAbs(values, g.gradcam.values);
      measured.push(`Grad-CAM map max |page - cli| ${d.toExponential(2)}`);
      expect(d).toBeLessThanOrEqual(1e-4);
      const cv: number[] = g.gradcam.values;
      const k = cv.indexOf(Math.max(...cv));
      expect(JSON.parse((await page.getAttribute('#g-overlay', 'data-argmax'))!)).toEqual([Math.floor(k / shape[1]), k % shape[1]]);
      await page.fill('#g-opacity', '0.6');
      await page.selectOption('#g-cmap', 'viridis');
      await page.selectOption('#g-cmap', 'jet');
      await shot('gradcam.png');
    },
    GUARD,
  );

  it(
    'Validate: the same rows, statuses and verdict as `convscope validate --json`, every error within its tolerance; JSON download; cancel',
    async () => {
      await page.click('button.tab[data-tab="validate"]');
      await page.selectOption('#v-input', 'photo');
      await page.fill('#v-steps', String(VALIDATE_STEPS));
      // the defaults are the CLI's: TF.js wasm, filter 0 of the ascent, the probability's gradient
      expect(await page.inputValue('#v-reference')).toBe('tfjs-wasm');
      expect(await page.inputValue('#v-filter')).toBe('0');
      expect(await page.inputValue('#v-score')).toBe('prob');
      const t = performance.now();
      await page.click('#v-run');
      await page.waitForFunction(() => ['done', 'failed', 'cancelled'].includes(document.getElementById('v-verdict')!.dataset.state ?? ''), undefined, { timeout: GUARD });
      measured.push(`Validate tab (cats vs dogs, the photo, ${VALIDATE_STEPS} ascent steps, tfjs-wasm) ${Math.round(performance.now() - t)} ms`);
      expect(await errorText()).toBe('');
      expect(await page.getAttribute('#v-verdict', 'data-state')).toBe('done');
      const [, , , v] = await cliResults!;
      type Row = { kind: string; name: string; shape?: number[]; status: string; measure: string; tolerance: number; maxAbs?: number; maxRel?: number; identical?: number };
      const rows = JSON.parse((await page.getAttribute('#v-rows', 'data-rows'))!) as Row[];
      const want = v.rows as Row[];
      expect(v.passed).toBe(true);
      expect(await page.getAttribute('#v-verdict', 'data-passed')).toBe(String(v.passed));
      expect(await page.getAttribute('#v-verdict', 'data-complete')).toBe(String(v.complete));
      expect(await page.textContent('#v-verdict')).toBe(`PASS: ${want.length} rows within tolerance`);
      expect(rows.map((r) => [r.kind, r.name, r.shape?.join('x'), r.status])).toEqual(want.map((r) => [r.kind, r.name, r.shape?.join('x'), r.status]));
      expect(await page.locator('#v-rows tbody tr').count()).toBe(want.length);
      const figure = (r: Row) => (r.measure === 'rel' ? r.maxRel! : r.measure === 'abs' ? r.maxAbs! : r.identical!);
      const within = (r: Row) => (r.measure === 'identical' ? figure(r) >= r.tolerance : figure(r) <= r.tolerance);
      let worst = '';
      rows.forEach((r, i) => {
        expect(r.tolerance, r.name).toBe(want[i].tolerance);
        expect(within(r), `page: ${r.name} ${figure(r)} vs ${r.tolerance}`).toBe(true);
        expect(within(want[i]), `cli: ${r.name} ${figure(want[i])} vs ${r.tolerance}`).toBe(true);
        if (r.kind === 'layer' && (!worst || figure(r) > Number(worst.split(' ')[0]))) worst = `${figure(r).toExponential(2)} (${r.name}; cli ${figure(want[i]).toExponential(2)})`;
      });
      measured.push(`Validate: ${rows.length} rows as the CLI's, largest layer max rel in the page ${worst}, engine: ${await page.textContent('#v-status')}`);
      // the downloaded JSON is the CLI's document: the same fields
      const [dl] = await Promise.all([page.waitForEvent('download', { timeout: GUARD }), page.click('#v-download')]);
      const j = JSON.parse(fs.readFileSync((await dl.path())!, 'utf8'));
      expect(dl.suggestedFilename()).toBe('validate_sequential.json');
      expect(j.command).toBe('validate');
      expect(j.reference).toBe('tfjs-wasm');
      expect(j.input).toBe(path.basename(PHOTO));
      expect(j.model).toEqual({ ...v.model, file: path.basename(MODEL) });
      expect(j.rows).toEqual(rows);
      expect(j.exitCode).toBe(v.exitCode);
      expect(Object.keys(j).filter((k) => !(k in v)).sort()).toEqual(j.engineNote ? ['engineNote'] : []);
      // a long run, cancelled once it is under way: the tab says so and can run again
      await page.fill('#v-steps', '5000');
      await page.click('#v-run');
      await page.waitForFunction(() => Number((document.getElementById('v-progress') as HTMLProgressElement).value) >= 2, undefined, { timeout: GUARD });
      await page.click('#v-cancel');
      expect(await page.getAttribute('#v-verdict', 'data-state')).toBe('cancelled');
      expect(await page.textContent('#v-status')).toBe('cancelled');
      expect(await page.locator('#v-rows tbody tr').count()).toBe(0);
      expect(await page.isEnabled('#v-run')).toBe(true);
      expect(await errorText()).toBe('');
      expect(pageErrors).toEqual([]);
    },
    GUARD,
  );

  it(
    'a weights-only file (no model config) through the file input: the architecture picker with the CLI\'s --arch names, a wrong choice says so, the right one loads',
    async () => {
      const { BUILTIN_ARCHITECTURES } = await import('../../src/models/load_model.ts');
      await finished(() => page.setInputFiles('#model-file', SQUEEZENET_WEIGHTS));
      expect(await errorText()).toBe('');
      expect(await page.isVisible('#arch-box')).toBe(true);
      expect(await page.textContent('#arch-message')).toMatch(/squeezenet_weights_tf_dim_ordering_tf_kernels_notop\.h5 holds weights only: it has no model config/);
      const values = await page.$$eval('#arch option', (os) => os.map((o) => (o as HTMLOptionElement).value));
      expect(values).toEqual(['', ...BUILTIN_ARCHITECTURES, 'json']);
      // the model loaded before stays loaded meanwhile
      expect(await page.getAttribute('#model-status', 'data-model')).toBe('sequential');
      await finished(() => page.selectOption('#arch', 'vgg16'));
      expect(await errorText()).toMatch(/squeezenet_weights_tf_dim_ordering_tf_kernels_notop\.h5: layer 'block1_conv1' \(Conv2D\) needs weights/);
      expect(await page.isVisible('#arch-box')).toBe(true);
      await finished(() => page.selectOption('#arch', 'squeezenet-notop'));
      expect(await errorText()).toBe('');
      expect(await page.isVisible('#arch-box')).toBe(false);
      expect(await page.getAttribute('#model-status', 'data-model')).toBe('squeezenet');
      expect(await page.textContent('#model-status')).toMatch(/input anyxanyx3, 62 layers/);
      expect(await page.textContent('#predictions')).toMatch(/this model has no classifier/);
      // back to the cats-vs-dogs convnet for the tests after this one
      await finished(() => page.setInputFiles('#model-file', MODEL));
      expect(await errorText()).toBe('');
      expect(await page.getAttribute('#model-status', 'data-model')).toBe('sequential');
      expect(pageErrors).toEqual([]);
    },
    GUARD,
  );

  it(
    'filter patterns: repaint every step, losses match the CLI; a cancelled run returns the live bytes to idle',
    async () => {
      await page.click('button.tab[data-tab="filters"]');
      await page.selectOption('#f-layer', 'conv2d_4');
      await page.fill('#f-range', FILTERS);
      await page.fill('#f-steps', String(STEPS));
      const idle = await liveBytes();
      const steps: number[] = [];
      await page.exposeFunction('seenStep', (s: number) => steps.push(s));
      await page.evaluate(() => {
        new MutationObserver(() => (window as any).seenStep(Number(document.getElementById('f-grid')!.dataset.step))).observe(document.getElementById('f-grid')!, { attributes: true, attributeFilter: ['data-step'] });
      });
      await finished(() => page.click('#f-run'));
      expect(await errorText()).toBe('');
      expect(await page.getAttribute('#f-grid', 'data-state')).toBe('done');
      expect([...new Set(steps.filter((s) => s > 0))]).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
      const losses = JSON.parse((await page.getAttribute('#f-grid', 'data-losses'))!) as number[][];
      const [, , f] = await cliResults!;
      const want = (f.filters[0].patterns as { losses: number[] }[]).map((p) => p.losses);
      expect(losses.length).toBe(want.length);
      let worst = 0;
      losses.forEach((l, i) => {
        expect(l.length).toBe(STEPS + 1);
        l.forEach((v, s) => {
          const rel = Math.abs(v - want[i][s]) / Math.max(1e-6, Math.abs(want[i][s]));
          worst = Math.max(worst, rel);
          expect(rel, `filter ${i} step ${s}: ${v} vs ${want[i][s]}`).toBeLessThanOrEqual(1e-4);
        });
      });
      measured.push(`filter losses max relative diff ${worst.toExponential(2)}`);
      expect(await liveBytes()).toBe(idle);
      await shot('filters.png');

      // a long run, paused, resumed and cancelled: its GPU memory goes back
      await page.fill('#f-steps', '5000');
      const before = await liveBytes();
      const n = await done();
      await page.click('#f-run');
      await page.waitForFunction(() => Number(document.getElementById('f-grid')!.dataset.step) >= 3, undefined, { timeout: GUARD });
      const during = await liveBytes();
      // the engine is in a worker: the page's own thread stays free while the ascent runs
      const lag = await page.evaluate(async () => {
        let worst = 0;
        for (let i = 0; i < 20; i++) {
          const t = performance.now();
          await new Promise((r) => setTimeout(r, 25));
          worst = Math.max(worst, performance.now() - t - 25);
        }
        return worst;
      });
      measured.push(`page timer lag during a filter run at most ${lag.toFixed(1)} ms`);
      expect(lag).toBeLessThan(1000);
      await page.click('#f-pause');
      const stepAtPause = Number(await page.getAttribute('#f-grid', 'data-step'));
      await page.waitForTimeout(500);
      expect(Number(await page.getAttribute('#f-grid', 'data-step'))).toBeLessThanOrEqual(stepAtPause + 1);
      await page.click('#f-pause'); // resume
      await page.waitForFunction((s) => Number(document.getElementById('f-grid')!.dataset.step) > s + 1, stepAtPause, { timeout: GUARD });
      await page.click('#f-cancel');
      await page.waitForFunction((k) => Number(document.body.dataset.done ?? 0) > k, n, { timeout: GUARD });
      expect(await page.getAttribute('#f-grid', 'data-state')).toBe('cancelled');
      const after = await liveBytes();
      measured.push(`live bytes idle ${before}, during the run ${during}, after cancel ${after}`);
      expect(during).toBeGreaterThan(before);
      expect(after).toBe(before);

      // opening a model mid-run cancels the run first, and its memory goes back
      await page.click('#f-run');
      await page.waitForFunction(() => Number(document.getElementById('f-grid')!.dataset.step) >= 2, undefined, { timeout: GUARD });
      const m = await done();
      await page.setInputFiles('#model-file', MODEL);
      await page.waitForFunction(() => document.getElementById('f-grid')!.dataset.state === 'cancelled', undefined, { timeout: GUARD });
      await page.waitForFunction((k) => Number(document.body.dataset.done ?? 0) >= k + 2 && !document.body.dataset.busy, m, { timeout: GUARD });
      expect(await errorText()).toBe('');
      expect(await liveBytes()).toBe(before);
    },
    GUARD,
  );

  it(
    'bad files: a message naming the file and the cause; the page keeps the model and photo and still works',
    async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'convscope-web-bad-'));
      const cases: [string, Uint8Array | string, '#model-file' | '#image-file', RegExp][] = [
        ['not_a_model.h5', 'hello, this is text', '#model-file', /not_a_model\.h5.*not a model file/],
        ['not_a_zip.keras', new Uint8Array([0x50, 0x4b, 0x03, 0x04, 1, 2, 3, 4, 5, 6, 7, 8]), '#model-file', /not_a_zip\.keras/],
        ['broken.jpg', new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 16, 1, 2, 3]), '#image-file', /broken\.jpg/],
        ['noise.png', new Uint8Array(64).fill(7), '#image-file', /noise\.png: not a PNG or JPEG file/],
      ];
      // a real Keras 2 file of a layer class convscope does not run (as keras_errors.test.ts writes it)
      const { writeKerasH5 } = await import('../../src/models/keras/fixture_writer.ts');
      await writeKerasH5(path.join(dir, 'lstm.h5'), {
        kind: 'model',
        kerasVersion: '2.1.6',
        backend: 'tensorflow',
        modelConfig: { class_name: 'Sequential', config: [{ class_name: 'LSTM', config: { name: 'lstm_1', units: 4, batch_input_shape: [null, 10, 3] } }] },
        layers: [{ name: 'lstm_1', weights: [{ name: 'lstm_1/kernel:0', shape: [3, 16], values: new Float32Array(48) }] }],
      });
      cases.unshift(['lstm.h5', fs.readFileSync(path.join(dir, 'lstm.h5')), '#model-file', /lstm\.h5: layer 'lstm_1' has class 'LSTM', which is not supported/]);
      for (const [name, bytes, input, message] of cases) {
        fs.writeFileSync(path.join(dir, name), bytes);
        await finished(() => page.setInputFiles(input, path.join(dir, name)));
        const err = await errorText();
        measured.push(`${name}: "${err.slice(0, 160)}"`);
        expect(err).toMatch(message);
        expect(await page.getAttribute('#model-status', 'data-model')).toBe('sequential');
        expect(await page.getAttribute('#image-status', 'data-image')).toBe('dog_on_beach.jpg');
      }
      fs.rmSync(dir, { recursive: true, force: true });
      await page.click('button.tab[data-tab="gradcam"]');
      await finished(() => page.click('#g-run'));
      expect(await errorText()).toBe('');
      expect(await page.getAttribute('#g-overlay', 'data-argmax')).toBeTruthy();
      expect(pageErrors).toEqual([]);
    },
    GUARD,
  );

  it(
    'the preprocessing picker: another mode changes the predictions, the default gives the CLI\'s back',
    async () => {
      const read = async () => JSON.parse((await page.getAttribute('#predictions', 'data-values'))!) as { index: number; probability: number }[];
      const base = await read();
      await finished(() => page.selectOption('#preprocess', 'tf'));
      expect(await errorText()).toBe('');
      expect(await page.textContent('#preprocess-now')).toBe('in use: tf');
      expect((await read())[0].probability).not.toBe(base[0].probability);
      await finished(() => page.selectOption('#preprocess', ''));
      expect(await page.textContent('#preprocess-now')).toBe('in use: rescale');
      expect(await read()).toEqual(base);
    },
    GUARD,
  );

  it(
    'without WebGPU: a message naming the browsers that have it; the cpu backend gives the same predictions, and the Validate tab the CLI\'s rows',
    async () => {
      // Chromium without --enable-unsafe-webgpu: headless, its requestAdapter() resolves to null
      const plain = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS.filter((f) => f !== '--enable-unsafe-webgpu'), timeout: 60_000 });
      try {
        const p = await plain.newPage();
        const noWebgpuErrors: string[] = [];
        p.on('pageerror', (e) => noWebgpuErrors.push(`uncaught in page: ${e.message}`));
        await p.goto(page.url(), { waitUntil: 'load', timeout: GUARD });
        await p.waitForFunction(() => document.body.dataset.ready === 'true', undefined, { timeout: GUARD });
        expect(await p.getAttribute('#backend', 'data-backend')).toBe('cpu');
        const notice = (await p.textContent('#notice')) ?? '';
        measured.push(`no WebGPU: "${notice.slice(0, 120)}..."`);
        expect(notice).toMatch(/Chrome/);
        expect(notice).toMatch(/slow/);
        const n = await p.evaluate(() => Number(document.body.dataset.done ?? 0));
        await p.setInputFiles('#model-file', MODEL);
        await p.waitForFunction((k) => Number(document.body.dataset.done ?? 0) > k, n, { timeout: GUARD });
        await p.setInputFiles('#image-file', PHOTO);
        await p.waitForFunction((k) => Number(document.body.dataset.done ?? 0) > k, n + 1, { timeout: GUARD });
        const preds = JSON.parse((await p.getAttribute('#predictions', 'data-values'))!) as { index: number; probability: number }[];
        const [g] = await cliResults!;
        // the float32 reference backend sums in another order than the WGSL kernels: the
        // smoke test's 1e-5 (ops_vs_reference.test.ts uses the same)
        const d = maxAbs(preds.map((q) => q.probability), g.predictions.map((q: { probability: number }) => q.probability));
        measured.push(`cpu backend predictions max |page - cli| ${d.toExponential(2)}`);
        expect(d).toBeLessThanOrEqual(1e-5);

        // the Validate tab on the cpu backend: TF.js wasm against convscope's cpu backend, which
        // is what `convscope validate --backend cpu` compares (the CLI run above), so the rows,
        // their statuses and the verdict are the CLI's
        await p.click('button.tab[data-tab="validate"]');
        await p.selectOption('#v-input', 'photo');
        await p.fill('#v-steps', String(VALIDATE_STEPS));
        // TF.js's own webgpu backend cannot run here: the picker says so and offers it disabled
        const webgpuRef = p.locator('#v-reference option[value="tfjs-webgpu"]');
        expect(await webgpuRef.isDisabled()).toBe(true);
        expect(await webgpuRef.textContent()).toMatch(/needs WebGPU/);
        const ran = async () => {
          const t = performance.now();
          await p.click('#v-run');
          await p.waitForFunction(() => ['done', 'failed', 'cancelled'].includes(document.getElementById('v-verdict')!.dataset.state ?? ''), undefined, { timeout: GUARD });
          return Math.round(performance.now() - t);
        };
        const ms = await ran();
        const pageError = () => p.evaluate(() => (document.getElementById('error')!.hidden ? '' : document.getElementById('error')!.textContent ?? ''));
        expect(await pageError()).toBe('');
        expect(await p.getAttribute('#v-verdict', 'data-state')).toBe('done');
        const [, , , v] = await cliResults!;
        const rows = JSON.parse((await p.getAttribute('#v-rows', 'data-rows'))!) as { kind: string; name: string; shape?: number[]; status: string }[];
        const want = v.rows as typeof rows;
        expect(rows.map((r) => [r.kind, r.name, r.shape?.join('x'), r.status])).toEqual(want.map((r) => [r.kind, r.name, r.shape?.join('x'), r.status]));
        expect(await p.textContent('#v-verdict')).toBe(`PASS: ${want.length} rows within tolerance`);
        expect(await p.textContent('#v-status')).toMatch(/on convscope cpu, TF\.js tfjs-wasm/);
        measured.push(`no WebGPU: Validate (cpu vs tfjs-wasm, ${VALIDATE_STEPS} steps) ${ms} ms, ${rows.length} rows as the CLI's`);
        // a request for TF.js webgpu that reaches the worker anyway (a script setting the
        // picker) is refused with the reason, not with TF.js's "has not yet been initialized"
        await p.evaluate(() => ((document.getElementById('v-reference') as HTMLSelectElement).value = 'tfjs-webgpu'));
        await ran();
        expect(await p.getAttribute('#v-verdict', 'data-state')).toBe('failed');
        expect(await pageError()).toMatch(/cats_and_dogs_small_1\.h5: validate: TF\.js's webgpu backend needs WebGPU, which this browser does not offer/);
        expect(noWebgpuErrors).toEqual([]);
      } finally {
        await plain.close();
      }
    },
    GUARD,
  );

  it(
    'the camera (Chromium\'s fake device): refused, a message; allowed, a live preview, "take the photo" gives that frame and its predictions; close turns it off',
    async () => {
      // Chromium's fake capture device (a green test picture with a moving pie and a clock,
      // 640x480 unless asked for another size). No --use-fake-ui-for-media-stream (it would
      // accept every prompt): the permission is the context's, as a user's answer is the
      // site's. A context that did not grant 'camera' gets the headless prompt's answer, a
      // refusal (NotAllowedError); the one that did is a user who clicked "Allow".
      const t0 = performance.now();
      const cam = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...FLAGS, '--use-fake-device-for-media-stream'], timeout: 60_000 });
      try {
        const errs: string[] = [];
        const open = async (permissions: string[]) => {
          const ctx = await cam.newContext({ permissions, viewport: { width: 1280, height: 900 } });
          const q = await ctx.newPage();
          q.on('pageerror', (e) => errs.push(`uncaught in page: ${e.message}`));
          await q.goto(page.url(), { waitUntil: 'load', timeout: GUARD });
          await q.waitForFunction(() => document.body.dataset.ready === 'true', undefined, { timeout: GUARD });
          return q;
        };
        const previewing = (q: Page) => q.waitForFunction(() => !(document.getElementById('camera-take') as HTMLButtonElement).disabled || !document.getElementById('error')!.hidden, undefined, { timeout: GUARD });
        const cameraOff = (q: Page) =>
          q.evaluate(() => ({ box: document.getElementById('camera-box')!.hidden, stream: (document.getElementById('camera-video') as HTMLVideoElement).srcObject === null, button: !(document.getElementById('camera') as HTMLButtonElement).disabled }));
        // refused: the message says so and what to do; the preview is gone, the button works again
        const refused = await open([]);
        await refused.click('#camera');
        await previewing(refused);
        const said = await refused.evaluate(() => (document.getElementById('error')!.hidden ? '' : document.getElementById('error')!.textContent ?? ''));
        measured.push(`camera refused: "${said}"`);
        expect(said).toMatch(/^the camera: the browser refused it \(permission denied\); allow the camera for this page/);
        expect(await cameraOff(refused)).toEqual({ box: true, stream: true, button: true });
        await refused.context().close();
        const p = await open(['camera']);
        const launched = Math.round(performance.now() - t0);
        const t = performance.now();
        const pageError = () => p.evaluate(() => (document.getElementById('error')!.hidden ? '' : document.getElementById('error')!.textContent ?? ''));
        const count = () => p.evaluate(() => Number(document.body.dataset.done ?? 0));
        let n = await count();
        await p.setInputFiles('#model-file', MODEL);
        await p.waitForFunction((k) => Number(document.body.dataset.done ?? 0) > k, n, { timeout: GUARD });
        // open, then close without a photo: the preview goes and the stream is released
        await p.click('#camera');
        await previewing(p);
        expect(await pageError()).toBe('');
        expect(await p.isVisible('#camera-video')).toBe(true);
        expect(await p.textContent('#camera-status')).toMatch(/640x480: point it, then take the photo/);
        await p.click('#camera-close');
        expect(await cameraOff(p)).toEqual({ box: true, stream: true, button: true });
        // what a user does: "use the camera", then "take the photo"
        await p.click('#camera');
        await previewing(p);
        expect(await pageError()).toBe('');
        n = await count();
        await p.click('#camera-take');
        await p.waitForFunction((k) => Number(document.body.dataset.done ?? 0) > k || !document.getElementById('error')!.hidden, n, { timeout: GUARD });
        const ms = Math.round(performance.now() - t);
        expect(await pageError()).toBe('');
        expect(await cameraOff(p)).toEqual({ box: true, stream: true, button: true });
        expect(await p.getAttribute('#image-status', 'data-image')).toBe('camera.png');
        expect(await p.textContent('#image-status')).toBe('camera.png: 640x480');
        // the pixels the page shows, as a PNG of its photo canvas (lossless; opaque, so no
        // premultiplication), read with the library's decoder
        const { decodeImage } = await import('../../src/viz/image_decode.ts');
        const png = await p.evaluate(() => (document.getElementById('photo') as HTMLCanvasElement).toDataURL('image/png'));
        const frame = decodeImage(Buffer.from(png.slice(png.indexOf(',') + 1), 'base64'), 'photo canvas');
        expect([frame.width, frame.height, frame.channels]).toEqual([640, 480, 3]);
        // the fake device's picture is mostly green: a frame of it, not a black or empty one
        const mean = [0, 0, 0];
        for (let i = 0; i < frame.data.length; i++) mean[i % 3] += frame.data[i] / (640 * 480);
        expect(mean[1]).toBeGreaterThan(60);
        expect(mean[1]).toBeGreaterThan(2 * Math.max(mean[0], mean[2]));
        const preds = JSON.parse((await p.getAttribute('#predictions', 'data-values'))!) as { index: number; probability: number }[];
        expect(preds.map((q) => q.index).sort()).toEqual([0, 1]);
        // one sigmoid unit: the page shows p and 1 - p (in float64), which sum to 1 up to rounding
        expect(Math.abs(preds[0].probability + preds[1].probability - 1)).toBeLessThanOrEqual(1e-12);
        expect(await p.$$eval('#predictions td.p', (tds) => tds.map((td) => td.textContent))).toEqual(preds.map((q) => q.probability.toFixed(4)));
        // and they are that frame's: the library in this process on the pixels the page shows
        // (SwiftShader vs lavapipe, as for the predictions above: 1e-5)
        const cs = await import('../../src/index.ts');
        const { loadModel } = await import('../../src/models/load_model.ts');
        const { kerasLoadImg } = await import('../../src/viz/resize.ts');
        const { rescale } = await import('../../src/viz/preprocess.ts');
        await cs.setBackend('webgpu');
        const m = await loadModel(MODEL);
        const x = cs.tensor(rescale(kerasLoadImg(frame, [50, 50]).data), [1, 50, 50, 3]);
        const out = m.predict(x);
        const dog = (await out.data())[0];
        out.dispose();
        x.dispose();
        m.dispose();
        const d = Math.abs(preds.find((q) => q.index === 1)!.probability - dog);
        measured.push(`camera: launch, refused, page ${launched} ms, model + open, close, open, take ${ms} ms, check in node ${Math.round(performance.now() - t - ms)} ms; p(class 1) page ${preds.find((q) => q.index === 1)!.probability.toFixed(4)}, |page - node| ${d.toExponential(2)}`);
        expect(d).toBeLessThanOrEqual(1e-5);
        expect(errs).toEqual([]);
      } finally {
        await cam.close();
      }
    },
    GUARD,
  );

  it(
    'device loss: a message, then a new device and the same answer on the next action',
    async () => {
      const before = await page.getAttribute('#g-overlay', 'data-values');
      const r = await page.evaluate(() => (window as any).convscopeLoseDevice());
      expect(r.lost).toBe(true);
      await finished(() => page.click('#g-run'));
      expect(await errorText()).toBe('');
      expect(await page.textContent('#notice')).toMatch(/new GPU device/);
      const after = JSON.parse((await page.getAttribute('#g-overlay', 'data-values'))!) as number[];
      expect(maxAbs(after, JSON.parse(before!))).toBeLessThanOrEqual(1e-6);
      expect(pageErrors).toEqual([]);
    },
    GUARD,
  );

  it(
    'soak (issue 13): 50 technique switches; the live-byte count is back at its idle value after each round',
    async () => {
      // one round = activations of a layer, Grad-CAM, a 2-step pattern of 2 filters; the
      // layer alternates so each activations switch recomputes
      await page.click('button.tab[data-tab="filters"]');
      await page.fill('#f-range', '0-1');
      await page.fill('#f-steps', '2');
      const idle = await liveBytes();
      const seen: number[] = [];
      const t = performance.now();
      for (let i = 0; i < 50; i++) {
        const kind = i % 3;
        if (kind === 0) {
          await page.click('button.tab[data-tab="activations"]');
          await finished(() => page.selectOption('#act-layer', i % 2 ? 'conv2d_4' : 'conv2d_5'));
        } else if (kind === 1) {
          await page.click('button.tab[data-tab="gradcam"]');
          await finished(() => page.click('#g-run'));
        } else {
          await page.click('button.tab[data-tab="filters"]');
          await finished(() => page.click('#f-run'));
          expect(await page.getAttribute('#f-grid', 'data-state')).toBe('done');
        }
        expect(await errorText(), `switch ${i}`).toBe('');
        seen.push(await liveBytes());
      }
      measured.push(`50 switches in ${Math.round(performance.now() - t)} ms, live bytes idle ${idle}, after each ${Math.min(...seen)}-${Math.max(...seen)}`);
      // exact: every tensor a technique makes is disposed when it finishes, so any
      // difference is a leak (a kept tensor of this model is at least 4 bytes)
      expect(seen.every((b) => b === idle), seen.join(',')).toBe(true);
      expect(pageErrors).toEqual([]);
    },
    GUARD,
  );
  it(
    "photos decode as the CLI decodes them: the cat PNG's and the elephant JPEG's pixels equal decodeImage's, and Tiny Darknet's top 5 on the elephant are the CLI's",
    async () => {
      const { decodeImage } = await import('../../src/viz/image_decode.ts');
      const pixels = () =>
        page.evaluate(() => {
          const c = document.getElementById('photo') as HTMLCanvasElement;
          const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
          return { width: c.width, height: c.height, rgb: Array.from(d.filter((_, i) => i % 4 !== 3)) };
        });
      const differing = (file: string, got: { width: number; height: number; rgb: number[] }) => {
        const want = decodeImage(fs.readFileSync(file), file);
        expect([got.width, got.height]).toEqual([want.width, want.height]);
        let n = 0;
        for (let i = 0; i < want.data.length; i++) if (got.rgb[i] !== want.data[i]) n++;
        measured.push(`${path.basename(file)} ${want.width}x${want.height}: ${n} of ${want.data.length} decoded values differ from decodeImage's`);
        return n;
      };
      // a PNG (the page once decoded PNGs with the browser's canvas): this one carries an ICC
      // profile (iCCP chunk), which a browser's decoder may apply and PIL's convert('RGB') does not
      const cat = path.join(ROOT, 'assets/chelsea_cat.png');
      await finished(() => page.setInputFiles('#image-file', cat));
      expect(await errorText()).toBe('');
      expect(differing(cat, await pixels())).toBe(0);
      await finished(() => page.click('button[data-demo="model.json"]'));
      expect(await errorText()).toBe('');
      await finished(() => page.setInputFiles('#image-file', ELEPHANT));
      expect(await errorText()).toBe('');
      expect(differing(ELEPHANT, await pixels())).toBe(0);
      const preds = JSON.parse((await page.getAttribute('#predictions', 'data-values'))!) as { index: number; name: string; probability: number }[];
      const [, , , , p] = await cliResults!;
      const top = p.predictions as { index: number; name: string; probability: number }[];
      expect(preds.map((q) => q.name)).toEqual(top.map((q) => q.name));
      expect(top[0].name).toBe('African_elephant');
      const d = maxAbs(preds.map((q) => q.probability), top.map((q) => q.probability));
      measured.push(`Tiny Darknet on the elephant: page ${preds[0].name} ${preds[0].probability.toFixed(4)}, cli ${top[0].probability.toFixed(4)}, max |page - cli| ${d.toExponential(2)}`);
      expect(d).toBeLessThanOrEqual(1e-5);
      expect(await page.$$eval('#predictions td.p', (tds) => tds.map((td) => td.textContent))).toEqual(top.map((q) => q.probability.toFixed(4)));
      expect(pageErrors).toEqual([]);
    },
    GUARD,
  );
});
