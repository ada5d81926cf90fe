/**
 * The committed screenshots (docs/screenshots/): `npx tsx web/screenshots.ts`. Builds the page,
 * serves it on 127.0.0.1 and uses it as a person would, with the bundled demos, in headless
 * Chromium (WebGPU on SwiftShader): the cats-vs-dogs convnet on the dog photo (activations
 * with the gradient toggle, then the Validate tab against TF.js's wasm backend with the CLI's
 * default 40 ascent steps, of the first live filter), SqueezeNet filter patterns (64x64, 40 steps), and Tiny Darknet's
 * Grad-CAM on the elephant photo.
 */
import { chromium, type Page } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';
import { buildWeb, serveFolder, WEB_DIST } from '../src/cli/commands/serve.ts';

const OUT = path.resolve(import.meta.dirname, '../docs/screenshots');
const FLAGS = ['--headless', '--no-sandbox', '--enable-unsafe-webgpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'];
const T = 600_000;

async function act(page: Page, fn: () => Promise<unknown>) {
  const n = await page.evaluate(() => Number(document.body.dataset.done ?? 0));
  await fn();
  await page.waitForFunction((k) => Number(document.body.dataset.done ?? 0) > k, n, { timeout: T });
  const err = await page.evaluate(() => (document.getElementById('error')!.hidden ? '' : document.getElementById('error')!.textContent));
  if (err) throw new Error(err);
}

await buildWeb({ quiet: true });
const { server, url } = await serveFolder(WEB_DIST);
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: FLAGS });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  await page.goto(url);
  await page.waitForFunction(() => document.body.dataset.ready === 'true', undefined, { timeout: T });
  fs.mkdirSync(OUT, { recursive: true });
  const shot = (name: string) => page.screenshot({ path: path.join(OUT, name), fullPage: true });
  const t0 = Date.now();
  const log = (s: string) => console.log(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${s}`);

  await act(page, () => page.click('button[data-demo="cats_and_dogs_small_1.h5"]'));
  await act(page, () => page.click('button[data-demo="dog_on_beach.jpg"]'));
  await act(page, () => page.selectOption('#act-layer', 'conv2d_5'));
  await act(page, () => page.check('#act-grad'));
  await page.click('.tile[data-channel="5"]');
  await page.locator('#act-zoom-canvas').hover({ position: { x: 100, y: 120 } });
  await shot('activations.png');
  log('activations');

  await page.click('button.tab[data-tab="validate"]');
  // the ascent of a filter that is alive on the start image (filter 0 of conv2d_6 is 0 there at every step)
  await page.selectOption('#v-filter', 'live');
  await page.click('#v-run');
  await page.waitForFunction(() => ['done', 'failed', 'cancelled'].includes(document.getElementById('v-verdict')!.dataset.state ?? ''), undefined, { timeout: T });
  if ((await page.getAttribute('#v-verdict', 'data-state')) !== 'done') throw new Error(`validate: ${await page.textContent('#error')}`);
  await shot('validate.png');
  log('validate');

  await act(page, () => page.click('button[data-demo="squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5"]'));
  await page.click('button.tab[data-tab="filters"]');
  await page.selectOption('#f-layer', 'conv1');
  await page.fill('#f-range', '0-15');
  await page.fill('#f-steps', '40');
  await page.fill('#f-size', '64');
  await act(page, () => page.click('#f-run'));
  await shot('filters.png');
  log('filters');

  await act(page, () => page.click('button[data-demo="model.json"]'));
  await act(page, () => page.click('button[data-demo="creative_commons_elephant.jpg"]'));
  await page.click('button.tab[data-tab="gradcam"]');
  await act(page, () => page.click('#g-run'));
  await page.evaluate(() => ((document.getElementById('summary-box') as HTMLDetailsElement).open = false));
  await shot('gradcam.png');
  log('gradcam');
} finally {
  await browser.close();
  server.close();
}
