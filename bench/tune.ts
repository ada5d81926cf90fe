/**
 * `npm run tune`: times every tile candidate on the VGG16 convolution shapes (forward
 * and backprop input on the tap GEMM, backprop filter on the shared-memory GEMM; dense
 * layers on one image have a fixed one-row tile) on the current adapter and writes the
 * winners, and the tap tile with the least total time as the adapter's default, to
 * src/kernels/wgsl/tuned/<adapter>[.<cpu>].json, which the WebGPU backend loads for the same
 * adapter. Run it once per adapter; commit the file.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as cs from '../src/index.ts';
import type { WebGPUBackend } from '../src/kernels/wgsl/backend.ts';
import { isSoftwareAdapter, tableFileName, forceTapTiling, forceTiling, tapCandidates, TILING_CANDIDATES, useTuningTable, type TuningTable } from '../src/kernels/wgsl/tuning.ts';
import type { GemmTiling } from '../src/kernels/wgsl/gemm.ts';
import { isTapTiling, tilingName, type TapTiling } from '../src/kernels/wgsl/tap_gemm.ts';
import { VGG16_CONVS } from './vgg16_ops.ts';
import { tiledKeysOf as tiledKeysOfOp } from './tiled_keys.ts';
import { writeTableIndex } from './tuned_index.ts';

const gpu = (await cs.setBackend('webgpu')) as WebGPUBackend;
const only = process.argv[2] ? new RegExp(process.argv[2]) : undefined;

const tiledKeysOf = (run: () => cs.Tensor) => tiledKeysOfOp(gpu, run);

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
const dir = fileURLToPath(new URL('../src/kernels/wgsl/tuned/', import.meta.url));
// a software adapter's table is per CPU model: <adapter>.<cpu>.json (tuning.ts's tableFileName)
const file = `${dir}${tableFileName({ adapter: gpu.describe(), cpu: gpu.cpu })}`;
// a partial run (a filter argument) updates the existing table
const previous: TuningTable | undefined = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : undefined;
// a whole run starts afresh (dropping entries of kernels that no longer exist); a partial one updates
const table: TuningTable = {
  adapter: gpu.describe(),
  // a software adapter's table holds for this CPU model only (tuning.ts)
  ...(isSoftwareAdapter(gpu.describe()) ? { cpu: gpu.cpu } : {}),
  date: new Date().toISOString(),
  tilings: only ? { ...previous?.tilings } : {},
  tapDefault: previous?.tapDefault,
  measurements: only ? { ...previous?.measurements } : {},
};
useTuningTable({ ...table, tilings: {}, tapDefault: undefined }); // measure the built-in choice, not an earlier table
const taps = tapCandidates(gpu.ctx.subgroupSize);
/** per tap candidate, its total time over the convolution shapes (for the adapter's default) */
const tapTotals = taps.map(() => 0);
let convShapes = 0;
let tapWins = 0;
const isTap = isTapTiling;
const suffixOf = tilingName;
for (const c of cases) {
  if (only && !only.test(c.name)) continue;
  const keys = tiledKeysOf(c.run);
  if (keys.length !== 1) {
    console.error(`  ${c.name}: ${keys.length} tiled dispatches (not one GEMM), skipped`);
    continue;
  }
  const { key } = keys[0];
  // conv forward and stride-1 backprop input can run on either template: both families compete
  const bothFamilies = /^conv2d(BackpropInput)?:/.test(key);
  const candidates: (GemmTiling | TapTiling)[] = bothFamilies ? [...taps, ...TILING_CANDIDATES] : TILING_CANDIDATES;
  // the first time is the built-in choice (no forcing): a tile is recorded only if it beats it
  const times: number[] = [];
  const builtIn = await median(c.run, 2);
  for (const t of candidates) {
    if (isTap(t)) forceTapTiling(t);
    else forceTiling(t);
    try {
      // a tile the shape cannot use (a subgroup tile on a channel count it does not divide) runs
      // as another: it gets no time rather than that other tile's
      const ran = tiledKeysOf(c.run)[0]?.tile;
      times.push(ran === suffixOf(t) ? await median(c.run, 2) : Infinity);
    } catch (e) {
      times.push(Infinity);
      console.error(`  ${c.name}: tile ${JSON.stringify(t)} failed: ${(e as Error).message.split('\n')[0]}`);
    } finally {
      forceTapTiling(undefined);
      forceTiling(undefined);
    }
  }
  const best = times.indexOf(Math.min(...times));
  const wins = times[best] < builtIn;
  if (wins) table.tilings[key] = candidates[best];
  else delete table.tilings[key];
  if (bothFamilies && !/input block1_conv1/.test(c.name)) {
    convShapes++;
    if (isTap(candidates[best])) tapWins++;
    taps.forEach((_, i) => (tapTotals[i] += times[i]));
  }
  table.measurements![key] = [builtIn, ...times].map((v) => Math.round(v * 10) / 10);
  console.error(`  ${c.name.padEnd(36)} built-in ${builtIn.toFixed(0).padStart(6)} | ${times.map((v) => v.toFixed(0).padStart(6)).join(' ')} ms -> ${wins ? `candidate ${best}` : 'built-in'}`);
}
// the default comes from a whole run only (a partial one has measured too few shapes), and
// the tap GEMM becomes the adapter's default only if it won most convolution shapes
if (!only && convShapes > 0) {
  table.tapDefault = tapWins * 2 > convShapes ? taps[tapTotals.indexOf(Math.min(...tapTotals))] : undefined;
  console.error(`  tap GEMM won ${tapWins} of ${convShapes} shapes; tap default: ${JSON.stringify(table.tapDefault ?? 'none (shared-memory GEMM)')}`);
}
mkdirSync(dir, { recursive: true });
writeFileSync(file, `${JSON.stringify(table, null, 2)}\n`);
writeTableIndex(dir);
console.error(`wrote ${file}`);
process.exit(0);
