import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as cs from '../../src/index.ts';
import { prepareKernels } from '../../src/engine/prepare.ts';
import type { WebGPUBackend } from '../../src/kernels/wgsl/backend.ts';
import { adapterSlug, chooseTable, committedTableFor, currentTuningTable, forceTapTiling, nearestTableFor, TILING_CANDIDATES, useTuningTable } from '../../src/kernels/wgsl/tuning.ts';
import { cacheKey, loadCachedTable } from '../../src/kernels/wgsl/tuning_cache.ts';
import { TUNING_TABLES } from '../../src/kernels/wgsl/tuned/index.ts';
import { restoreAdapterTable, webgpu } from '../helpers/backends.ts';
import { maxRelDiff } from '../helpers/tfjs.ts';

// Pipelines that serve every shape, kernels made ready ahead of their first use, and the
// first-use tuner with its cache. Nothing here reads or writes the user's cache: the tests
// that tune point CONVSCOPE_CACHE_DIR at a fresh folder, and every test leaves the
// adapter's own table in place afterwards.

let gpu: WebGPUBackend;
const restoreTable = () => restoreAdapterTable(gpu);
beforeAll(async () => {
  gpu = await webgpu();
});
afterAll(() => restoreTable());

/** The WebGPU dispatches (pipeline key, label) fn makes. */
function dispatchesOf(fn: () => void): { key: string; label: string }[] {
  const seen: { key: string; label: string }[] = [];
  const orig = gpu.dispatch.bind(gpu);
  gpu.dispatch = (d) => {
    seen.push({ key: d.key, label: d.label ?? d.key });
    orig(d);
  };
  try {
    fn();
  } finally {
    gpu.dispatch = orig;
  }
  return seen;
}

describe('one pipeline serves every shape of a kernel family', () => {
  it('convolutions of four shapes on one tile (stride, dilation, padding, batch) use one pipeline', async () => {
    cs.engine.useBackend(gpu);
    const shapes: [number[], number[], Record<string, unknown>][] = [
      [[1, 9, 7, 8], [3, 3, 8, 16], { padding: 'same' }],
      [[2, 12, 10, 16], [3, 3, 16, 8], { padding: 'valid', strides: 2 }],
      [[1, 11, 11, 8], [3, 3, 8, 24], { padding: 'same', dilations: 2 }],
      [[1, 6, 5, 24], [2, 3, 24, 8], {}],
    ];
    forceTapTiling({ TM: 8, TN: 8, WG: 8 });
    try {
      const seen = dispatchesOf(() => {
        for (const [x, w, a] of shapes) cs.tidy(() => cs.conv2d(cs.randomNormal(x, 0, 1, 1), cs.randomNormal(w, 0, 1, 2), a)).dispose();
      });
      const gemms = seen.filter((d) => d.key.startsWith('tapgemm'));
      expect(gemms.length).toBe(4);
      expect(new Set(gemms.map((d) => d.key)).size).toBe(1);
      expect(new Set(gemms.map((d) => d.label)).size).toBe(4); // profiles and the tuner still tell the shapes apart
    } finally {
      forceTapTiling(undefined);
    }
    await gpu.sync();
  });

  it('pools, biasAdd, softmax and reductions of different shapes each compile one pipeline', async () => {
    cs.engine.useBackend(gpu);
    const seen = dispatchesOf(() => {
      for (const s of [
        [1, 8, 8, 4],
        [2, 10, 6, 16],
      ]) {
        cs.tidy(() => {
          const x = cs.randomNormal(s, 0, 1, 3);
          cs.maxPool(x, { poolSize: 2 });
          cs.avgPool(x, { poolSize: 3, strides: 2, padding: 'same' });
          cs.biasAdd(x, cs.randomNormal([s[3]], 0, 1, 4));
          cs.softmax(cs.reshape(x, [s[0] * s[1], s[2] * s[3]]));
          cs.sum(x, [1, 2]);
        });
      }
    });
    const keys = seen.map((d) => d.key).filter((k) => /^(maxPool|avgPool|biasAdd|softmax|reduce:sum)/.test(k));
    expect(keys.length).toBe(10);
    expect(new Set(keys).size).toBe(5);
    await gpu.sync();
  });
});

/** A small network's loss and input gradient: convolutions, pool, dense, softmax. */
function smallPass(): cs.Tensor[] {
  const x = cs.randomNormal([1, 12, 12, 8], 0, 1, 11);
  const w1 = cs.randomNormal([3, 3, 8, 16], 0, 0.3, 12);
  const b1 = cs.randomNormal([16], 0, 0.1, 13);
  const w2 = cs.randomNormal([3, 3, 16, 16], 0, 0.3, 14);
  const d = cs.randomNormal([6 * 6 * 16, 10], 0, 0.1, 15);
  const { value, grads } = cs.gradientsOf(() => {
    const h = cs.fusedConv2d(cs.fusedConv2d(x, w1, b1, { padding: 'same', activation: 'relu' }), w2, b1, { padding: 'same', activation: 'relu' });
    const p = cs.softmax(cs.matmul(cs.flatten(cs.maxPool(h, { poolSize: 2 })), d));
    return { value: cs.sum(cs.slice(p, [0, 3], [1, 1])), wrt: [x] };
  });
  return [value, ...grads];
}

describe('prepareKernels', () => {
  it('creates every pipeline a pass needs ahead of it: the pass then compiles none, and computes the same values', async () => {
    cs.engine.useBackend(gpu);
    const reference = cs.tidy(smallPass);
    const want = await Promise.all(reference.map((t) => t.data()));
    cs.dispose(reference);
    // a backend that has never seen these kernels: forget them by their keys
    const pipelines = (gpu as unknown as { pipelines: Map<string, GPUComputePipeline> }).pipelines;
    const keys = dispatchesOf(() => cs.dispose(cs.tidy(smallPass))).map((d) => d.key);
    for (const k of keys) pipelines.delete(k);
    await gpu.sync();
    const before = gpu.stats.pipelinesCompiled;
    const live = cs.memory().numTensors;
    const r = await prepareKernels(smallPass, { tune: false, wait: true });
    expect(cs.memory().numTensors).toBe(live); // what the recorded pass made is gone
    expect(r.pipelines).toBe(new Set(keys).size);
    expect(r.compiled).toBe(new Set(keys).size);
    expect(gpu.stats.pipelinesCompiled - before).toBe(r.compiled);
    const again = await prepareKernels(smallPass, { tune: false });
    expect(again.compiled).toBe(0);
    const after = gpu.stats.pipelinesCompiled;
    const got = cs.tidy(smallPass);
    const values = await Promise.all(got.map((t) => t.data()));
    cs.dispose(got);
    expect(gpu.stats.pipelinesCompiled).toBe(after);
    values.forEach((v, i) => expect(Array.from(v)).toEqual(Array.from(want[i])));
  });

  it('on an adapter with a committed table it tunes nothing', async () => {
    // whatever this machine has, the rule is tested on an empty table marked as committed
    useTuningTable({ adapter: gpu.describe(), cpu: gpu.cpu, date: '', tilings: {} });
    gpu.tuning = 'committed table';
    try {
      const r = await prepareKernels(() => cs.conv2d(cs.randomNormal([1, 28, 28, 64], 0, 1, 1), cs.randomNormal([3, 3, 64, 64], 0, 1, 2), { padding: 'same' }), { tune: true });
      expect(r.tuned).toEqual([]);
    } finally {
      restoreTable();
    }
  });
});

describe('first-use tuning and its cache', () => {
  let dir: string;
  const saved = process.env.CONVSCOPE_CACHE_DIR;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'convscope-cache-'));
    process.env.CONVSCOPE_CACHE_DIR = dir;
  });
  afterAll(() => {
    if (saved === undefined) delete process.env.CONVSCOPE_CACHE_DIR;
    else process.env.CONVSCOPE_CACHE_DIR = saved;
    rmSync(dir, { recursive: true, force: true });
    restoreTable();
  });

  const conv = () => cs.conv2d(cs.randomNormal([1, 28, 28, 64], 0, 1, 21), cs.randomNormal([3, 3, 64, 64], 0, 0.1, 22), { padding: 'same' });
  const KEY = 'conv2d:1,28,28,64,28,28,64,3,3,1,1,1,1,1,1';

  it("a software adapter's table is its CPU's own only; on another CPU the nearest one is a start, not a committed table", () => {
    const software = TUNING_TABLES.filter((t) => t.cpu);
    expect(software.length).toBeGreaterThan(0);
    for (const t of software) {
      expect(committedTableFor(t.adapter, t.cpu)).toBe(t);
      expect(committedTableFor(t.adapter, 'Some CPU 9000 x16')).toBeUndefined();
      expect(chooseTable(t.adapter, t.cpu!, undefined)).toMatchObject({ table: t, source: 'committed table' });
      // another CPU model of the same driver starts from a table of that driver, marked as borrowed
      const other = chooseTable(t.adapter, 'Some CPU 9000 x16', undefined);
      expect(other.source).toBe('table of another CPU');
      expect(adapterSlug(other.table.adapter)).toBe(adapterSlug(t.adapter));
      expect(other.table.cpu).toBe('Some CPU 9000 x16');
      expect(other.tableCpu).toBe(nearestTableFor(t.adapter, 'Some CPU 9000 x16')!.cpu);
      expect(other.table.tilings).toEqual(nearestTableFor(t.adapter, 'Some CPU 9000 x16')!.tilings);
      // a cached table made on this CPU comes before a borrowed one
      const cached = { adapter: t.adapter, cpu: 'Some CPU 9000 x16', date: 'd', tilings: {} };
      expect(chooseTable(t.adapter, 'Some CPU 9000 x16', cached)).toMatchObject({ table: cached, source: 'cache' });
    }
    // a table of the same CPU maker is nearer than another maker's
    for (const t of software) {
      const maker = t.cpu!.split(/[^A-Za-z0-9]/)[0];
      const pick = nearestTableFor(t.adapter, `${maker} Unseen Model x4`)!;
      expect(pick.cpu!.split(/[^A-Za-z0-9]/)[0]).toBe(maker);
    }
    // a GPU's table is never lent to another GPU
    expect(nearestTableFor('nvidia / ampere / nvidia rtx 3090 [node (dawn)]', 'AMD Ryzen x16')).toBeUndefined();
    expect(chooseTable('nvidia / ampere / nvidia rtx 3090 [node (dawn)]', 'AMD Ryzen x16', undefined).source).toBe('none');
  });

  it('on this machine the adapter never runs on the built-in tiles when its driver has a table', () => {
    // lavapipe here: its own CPU's table, a cached one, or another CPU's (never 'none')
    const driverHasTable = TUNING_TABLES.some((t) => adapterSlug(t.adapter) === adapterSlug(gpu.describe()));
    expect(driverHasTable).toBe(true);
    expect(['committed table', 'cache', 'table of another CPU']).toContain(gpu.tuning);
  });

  it('an adapter without a table tunes the shapes the pass needs, within its budget, and caches the winners', async () => {
    cs.engine.useBackend(gpu);
    cs.engine.useBackend(gpu);
    const untuned = cs.tidy(conv);
    const want = await untuned.data();
    untuned.dispose();
    useTuningTable({ adapter: gpu.describe(), cpu: gpu.cpu, date: '', tilings: {} });
    gpu.tuning = 'none';
    const t0 = performance.now();
    const r = await prepareKernels(conv, { tune: true, tuneBudgetMs: 6000 });
    // the budget is checked before each tile: one tile's compile and timing may run past it
    expect(performance.now() - t0).toBeLessThan(6000 + 20000);
    expect(r.tuned).toEqual([KEY]);
    expect(currentTuningTable().tilings[KEY]).toBeDefined();
    const file = join(dir, 'tuning', `${cacheKey(gpu.describe(), gpu.cpu)}.json`);
    expect(existsSync(file)).toBe(true);
    const stored = JSON.parse(readFileSync(file, 'utf8'));
    expect(stored.sourceHash).toBe(gpu.sourceHash);
    expect(stored.cpu).toBe(gpu.cpu);
    expect(stored.tilings[KEY]).toEqual(currentTuningTable().tilings[KEY]);
    // the tuned tile computes the same convolution (every tile sums over K in the same order)
    const tuned = cs.tidy(conv);
    const got = await tuned.data();
    tuned.dispose();
    expect(maxRelDiff(got, want)).toBeLessThan(3e-5);
  });

  it('a new process picks the cached table up; one written for other kernel sources is ignored', async () => {
    const cached = await loadCachedTable(gpu.describe(), gpu.cpu, gpu.sourceHash);
    expect(cached?.tilings[KEY]).toBeDefined();
    expect(await loadCachedTable(gpu.describe(), 'another cpu x2', gpu.sourceHash)).toBeUndefined();
    const file = join(dir, 'tuning', `${cacheKey(gpu.describe(), gpu.cpu)}.json`);
    writeFileSync(file, JSON.stringify({ ...cached, sourceHash: 'stale000' }));
    expect(await loadCachedTable(gpu.describe(), gpu.cpu, gpu.sourceHash)).toBeUndefined();
    writeFileSync(file, '{ not json');
    expect(await loadCachedTable(gpu.describe(), gpu.cpu, gpu.sourceHash)).toBeUndefined();
  });

  it('a tuning pass that changes no tile leaves the buffer pool as it was (the recording is released once)', async () => {
    cs.engine.useBackend(gpu);
    useTuningTable({ adapter: gpu.describe(), cpu: gpu.cpu, date: '', tilings: {} });
    gpu.tuning = 'none';
    await gpu.sync();
    const live = gpu.liveBytes();
    const r = await prepareKernels(conv, { tune: true, tuneBudgetMs: -1 }); // over budget before the first tile
    expect(r.tuned).toEqual([]);
    // released twice, the recording's buffers would count against live memory twice, and be handed out twice
    expect(gpu.liveBytes()).toBe(live);
    restoreTable();
  });

  it('with tuning off nothing is measured or written', async () => {
    useTuningTable({ adapter: gpu.describe(), cpu: gpu.cpu, date: '', tilings: {} });
    gpu.tuning = 'none';
    rmSync(join(dir, 'tuning'), { recursive: true, force: true });
    const r = await prepareKernels(conv, { tune: false });
    expect(r.tuned).toEqual([]);
    expect(Object.keys(currentTuningTable().tilings)).toEqual([]);
    expect(existsSync(join(dir, 'tuning'))).toBe(false);
    expect(TILING_CANDIDATES.length).toBeGreaterThan(0);
  });
});
