/**
 * `npm run tune` (bench/tune.ts) in the browser: times the tile candidates of both GEMM
 * templates on the VGG16 convolution shapes (forward and backprop input on the tap GEMM or the
 * shared-memory GEMM, backprop filter on the shared-memory GEMM) on this page's adapter and
 * returns the table that bench/tune.ts would write, for src/kernels/wgsl/tuned/<adapter>[.<cpu>].json
 * (`npm run bench:browser -- --tune` writes it). The same rules as bench/tune.ts: the built-in
 * choice is timed first and a tile is recorded only where it beats it; the tap GEMM becomes the
 * adapter's default only where it won most convolution shapes.
 *
 * Differences, for a slow software adapter (Chromium's SwiftShader): `size` runs the layer
 * shapes at a smaller image (the table's keys are shapes, so such a table then holds for those
 * shapes only, and the tap default carries the result to the rest); subgroup tap tiles are left
 * out unless `subgroups` is set (they hang SwiftShader; tuning.ts); and `budgetMs` bounds the
 * time per shape (candidates not reached are not recorded).
 */
import * as cs from '../../../src/index.ts';
import type { WebGPUBackend } from '../../../src/kernels/wgsl/backend.ts';
import type { GemmTiling } from '../../../src/kernels/wgsl/gemm.ts';
import { isTapTiling, tilingName, type TapTiling } from '../../../src/kernels/wgsl/tap_gemm.ts';
import { forceTapTiling, forceTiling, isSoftwareAdapter, tapCandidates, TILING_CANDIDATES, useTuningTable, type TuningTable } from '../../../src/kernels/wgsl/tuning.ts';
import { VGG16_CONVS } from '../../../bench/vgg16_ops.ts';
import { tiledKeysOf as tiledKeysOfOp } from '../../../bench/tiled_keys.ts';

export interface TuneOptions {
  /** case names to tune (regular expression); all when absent */
  only?: string;
  /** image size the layer shapes follow (224: VGG16's) */
  size?: number;
  reps?: number;
  budgetMs?: number;
  subgroups?: boolean;
  /** tap tiles to try besides tuning.ts's candidates (experiments: smaller register tiles for a weak JIT) */
  extraTaps?: TapTiling[];
  log?: (line: string) => void;
}

const isTap = isTapTiling;
// the name the tiled kernel reports for its tile: the same function names both
const suffixOf = tilingName;

export async function tuneAdapter(o: TuneOptions = {}): Promise<TuningTable> {
  const log = o.log ?? ((l: string) => console.log(l));
  const gpu = (await cs.setBackend('webgpu')) as WebGPUBackend;
  const only = o.only ? new RegExp(o.only) : undefined;
  const reps = o.reps ?? 2;
  const budgetMs = o.budgetMs ?? Infinity;

  const tiledKeysOf = (run: () => cs.Tensor) => tiledKeysOfOp(gpu, run);
  async function median(run: () => cs.Tensor): Promise<number> {
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

  if ((o.size ?? 224) % 16) throw new Error(`tune: size ${o.size} is not a multiple of 16 (VGG16 halves it four times before block5)`);
  const cases: { name: string; run: () => cs.Tensor; dispose: () => void }[] = [];
  const seen = new Set<string>();
  let size = o.size ?? 224;
  for (const [name, inC, outC] of VGG16_CONVS) {
    const k = `${size}:${inC}:${outC}`;
    if (!seen.has(k)) {
      seen.add(k);
      const s = size; // this layer's size (the loop moves on before the case runs)
      const make = () => ({
        x: cs.randomNormal([1, s, s, inC], 0, 1, 1),
        w: cs.randomNormal([3, 3, inC, outC], 0, 0.1, 2),
        dy: cs.randomNormal([1, s, s, outC], 0, 1, 3),
      });
      // inputs made when the case runs (a large image's three tensors for every case at once would not fit a small device)
      let t: ReturnType<typeof make> | undefined;
      const get = () => (t ??= make());
      const dispose = () => (t && cs.dispose([t.x, t.w, t.dy]), (t = undefined));
      cases.push({ name: `conv2d ${name}`, run: () => cs.conv2d(get().x, get().w, { padding: 'same' }), dispose });
      cases.push({ name: `backprop input ${name}`, run: () => cs.conv2dBackpropInput(get().dy, get().w, get().x.shape, { padding: 'same' }), dispose });
      cases.push({ name: `backprop filter ${name}`, run: () => cs.conv2dBackpropFilter(get().x, get().dy, get().w.shape, { padding: 'same' }), dispose });
    }
    if (/block[12]_conv2|block[345]_conv3/.test(name)) size /= 2;
  }
  const table: TuningTable = {
    adapter: gpu.describe(),
    ...(isSoftwareAdapter(gpu.describe()) ? { cpu: gpu.cpu } : {}),
    date: new Date().toISOString(),
    tilings: {},
    measurements: {},
  };
  useTuningTable({ ...table, tilings: {}, tapDefault: undefined }); // measure the built-in choice, not an earlier table
  const taps = [...tapCandidates(gpu.ctx.subgroupSize).filter((t) => o.subgroups || !t.subgroup), ...(o.extraTaps ?? [])];
  const tapTotals = taps.map(() => 0);
  let convShapes = 0;
  let tapWins = 0;
  for (const c of cases) {
    if (only && !only.test(c.name)) continue;
    const keys = tiledKeysOf(c.run);
    if (keys.length !== 1) {
      log(`  ${c.name}: ${keys.length} tiled dispatches (not one GEMM), skipped`);
      c.dispose();
      continue;
    }
    const { key } = keys[0];
    const bothFamilies = /^conv2d(BackpropInput)?:/.test(key);
    const candidates: (GemmTiling | TapTiling)[] = bothFamilies ? [...taps, ...TILING_CANDIDATES] : TILING_CANDIDATES;
    const start = performance.now();
    const builtIn = await median(c.run);
    const times: number[] = [];
    for (const t of candidates) {
      if (performance.now() - start > budgetMs) {
        times.push(Infinity);
        continue;
      }
      if (isTap(t)) forceTapTiling(t);
      else forceTiling(t);
      try {
        const ran = tiledKeysOf(c.run)[0]?.tile;
        times.push(ran === suffixOf(t) ? await median(c.run) : Infinity);
      } catch (e) {
        times.push(Infinity);
        log(`  ${c.name}: tile ${JSON.stringify(t)} failed: ${(e as Error).message.split('\n')[0]}`);
      } finally {
        forceTapTiling(undefined);
        forceTiling(undefined);
      }
    }
    c.dispose();
    const best = times.indexOf(Math.min(...times));
    const wins = times[best] < builtIn;
    if (wins) table.tilings[key] = candidates[best];
    if (bothFamilies && !/input block1_conv1/.test(c.name)) {
      convShapes++;
      if (isTap(candidates[best])) tapWins++;
      taps.forEach((_, i) => (tapTotals[i] += times[i]));
    }
    table.measurements![key] = [builtIn, ...times].map((v) => Math.round(v * 10) / 10);
    log(`  ${c.name.padEnd(36)} built-in ${builtIn.toFixed(0).padStart(6)} | ${times.map((v) => v.toFixed(0).padStart(6)).join(' ')} ms -> ${wins ? `candidate ${best} ${suffixOf(candidates[best])}` : 'built-in'}`);
  }
  if (!only && convShapes > 0) {
    const finite = tapTotals.map((v) => (Number.isFinite(v) ? v : Infinity));
    table.tapDefault = tapWins * 2 > convShapes ? taps[finite.indexOf(Math.min(...finite))] : undefined;
    log(`  tap GEMM won ${tapWins} of ${convShapes} shapes; tap default: ${JSON.stringify(table.tapDefault ?? 'none (shared-memory GEMM)')}`);
  }
  table.notes = `Measured in headless Chromium by \`npm run bench:browser -- --tune\` (web/src/bench/tune.ts, the rules of bench/tune.ts)${o.size && o.size !== 224 ? ` on the VGG16 layer shapes of a ${o.size}x${o.size} image` : ''}; subgroup tap tiles ${o.subgroups ? 'included' : 'left out'}; ${reps} timed runs per tile${Number.isFinite(budgetMs) ? `, at most ${budgetMs / 1000} s per shape` : ''}.`;
  // back to what the backend chose at start-up (a table the page was given, or none)
  useTuningTable(table);
  return table;
}
