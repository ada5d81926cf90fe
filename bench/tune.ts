/**
 * `npm run tune`: times every GEMM tile candidate on the VGG16 kernel shapes (conv2d
 * forward, both backprops, the dense layers) on the current adapter and writes the
 * winners to src/kernels/wgsl/tuned/<adapter>.json, which the WebGPU backend loads
 * for the same adapter. Run it once per adapter; commit the file.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as cs from '../src/index.ts';
import type { WebGPUBackend } from '../src/kernels/wgsl/backend.ts';
import { adapterSlug, forceTiling, TILING_CANDIDATES, useTuningTable, type TuningTable } from '../src/kernels/wgsl/tuning.ts';
import { VGG16_CONVS } from './vgg16_ops.ts';

const gpu = (await cs.setBackend('webgpu')) as WebGPUBackend;
const only = process.argv[2] ? new RegExp(process.argv[2]) : undefined;

/** Captures the dispatch keys an op produces, without the tile suffix. */
function keysOf(run: () => cs.Tensor): string[] {
  const keys: string[] = [];
  const orig = gpu.dispatch.bind(gpu);
  gpu.dispatch = (d) => {
    keys.push(d.key.split('|')[0]);
    orig(d);
  };
  try {
    run().dispose();
  } finally {
    gpu.dispatch = orig;
  }
  return keys;
}

async function median(run: () => cs.Tensor, reps: number): Promise<number> {
  run().dispose();
  await gpu.sync(); // warm-up, including the pipeline compile
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const s = performance.now();
    run().dispose();
    await gpu.sync();
    t.push(performance.now() - s);
  }
  t.sort((a, b) => a - b);
  return t[Math.floor(t.length / 2)];
}

const cases: { name: string; run: () => cs.Tensor }[] = [];
const seen = new Set<string>();
let size = 224;
for (const [name, inC, outC] of VGG16_CONVS) {
  const k = `${size}:${inC}:${outC}`;
  if (!seen.has(k)) {
    seen.add(k);
    const x = cs.randomNormal([1, size, size, inC], 0, 1, 1);
    const w = cs.randomNormal([3, 3, inC, outC], 0, 0.1, 2);
    const dy = cs.randomNormal([1, size, size, outC], 0, 1, 3);
    cases.push({ name: `conv2d ${name}`, run: () => cs.conv2d(x, w, { padding: 'same' }) });
    cases.push({ name: `backprop input ${name}`, run: () => cs.conv2dBackpropInput(dy, w, x.shape, { padding: 'same' }) });
    cases.push({ name: `backprop filter ${name}`, run: () => cs.conv2dBackpropFilter(x, dy, w.shape, { padding: 'same' }) });
  }
  if (/block[12]_conv2|block[345]_conv3/.test(name)) size /= 2;
}
for (const [n, m] of [
  [4096, 4096],
  [4096, 1000],
]) {
  const a = cs.randomNormal([1, n], 0, 1, 4);
  const w = cs.randomNormal([n, m], 0, 0.01, 5);
  const dy = cs.randomNormal([1, m], 0, 1, 6);
  cases.push({ name: `dense ${n}x${m}`, run: () => cs.matmul(a, w) });
  cases.push({ name: `dense backward input ${n}x${m}`, run: () => cs.matmul(dy, w, false, true) });
}

const dir = fileURLToPath(new URL('../src/kernels/wgsl/tuned/', import.meta.url));
const file = `${dir}${adapterSlug(gpu.describe())}.json`;
// a partial run (a filter argument) updates the existing table
const previous: TuningTable | undefined = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : undefined;
const table: TuningTable = { adapter: gpu.describe(), date: new Date().toISOString(), tilings: { ...previous?.tilings }, measurements: { ...previous?.measurements } };
useTuningTable({ ...table, tilings: {} }); // measure the heuristic, not an earlier table
for (const c of cases) {
  if (only && !only.test(c.name)) continue;
  const keys = keysOf(c.run);
  if (keys.length !== 1) {
    console.error(`  ${c.name}: ${keys.length} dispatches (not a single GEMM), skipped`);
    continue;
  }
  // candidate -1 is the built-in heuristic (no forcing): a tile is recorded only if it beats it
  const times: number[] = [];
  const heuristic = await median(c.run, 2);
  for (const t of TILING_CANDIDATES) {
    forceTiling(t);
    try {
      times.push(await median(c.run, 2));
    } catch (e) {
      times.push(Infinity);
      console.error(`  ${c.name}: tile ${JSON.stringify(t)} failed: ${(e as Error).message.split('\n')[0]}`);
    } finally {
      forceTiling(undefined);
    }
  }
  const best = times.indexOf(Math.min(...times));
  const wins = times[best] < heuristic;
  if (wins) table.tilings[keys[0]] = TILING_CANDIDATES[best];
  else delete table.tilings[keys[0]];
  table.measurements![keys[0]] = [heuristic, ...times].map((v) => Math.round(v * 10) / 10);
  console.error(`  ${c.name.padEnd(36)} heuristic ${heuristic.toFixed(0).padStart(6)} | ${times.map((v) => v.toFixed(0).padStart(6)).join(' ')} ms -> ${wins ? `candidate ${best}` : 'heuristic'}`);
}
mkdirSync(dir, { recursive: true });
writeFileSync(file, `${JSON.stringify(table, null, 2)}\n`);
console.error(`wrote ${file}`);
process.exit(0);
