/**
 * `npm run bench -- --cold`: what a user meets first. Each item runs in a fresh process
 * whose Mesa shader cache (MESA_SHADER_CACHE_DIR) and convscope tuning cache
 * (CONVSCOPE_CACHE_DIR) are empty folders, so every pipeline is compiled from scratch:
 *
 *   - the first Grad-CAM on VGG16 at 224 (random weights; forward, class score, gradient to
 *     block5_conv3), convscope and tfjs-webgpu, each followed by warm runs in the same process;
 *   - the same for convscope with prepareKernels called first (its time counted);
 *   - a first `convscope gradcam` of the bundled cats-vs-dogs model (50x50) from the command
 *     line (which prepares its kernels: src/cli/prepare.ts), the same with CONVSCOPE_PREPARE=0,
 *     and a first `convscope demo`, each then again with the now-filled cache.
 *
 * With --rounds N every item runs N times, the items interleaved (round 1 of each, then round
 * 2, ...): the first-run figure is the median, with the spread beside it.
 *
 * Results are merged into bench/results/<adapter>.json as `cold` (and its .md).
 *
 *   npm run bench -- --cold [--only REGEX] [--warm N] [--rounds N]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as cs from '../src/index.ts';
import type { WebGPUBackend } from '../src/kernels/wgsl/backend.ts';
import { e2eItems } from './items.ts';
import { setTfLoader } from './peers.ts';
import { loadNodeTf } from './peers_node.ts';
import { markdownTable, resultsSlug, type BenchResults, type ColdResult } from './report.ts';
import { isSoftwareAdapter } from '../src/kernels/wgsl/tuning.ts';
import { convscopeGradCam } from './vgg16_gradcam.ts';

const root = join(import.meta.dirname, '..');
const { values: o } = parseArgs({
  options: {
    child: { type: 'string' },
    only: { type: 'string' },
    warm: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '1' },
    out: { type: 'string', default: join(import.meta.dirname, 'results') },
    cold: { type: 'boolean', default: true },
  },
});

interface ChildReport {
  firstMs: number;
  warmMs: number[];
  pipelines?: number;
  prepareMs?: number;
  adapter?: Record<string, string>;
  slug?: string;
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// ---- child side: one fresh process, one item ----

async function child(name: string): Promise<ChildReport> {
  const gpu = (await cs.setBackend('webgpu')) as WebGPUBackend;
  const warmRuns = Number(o.warm);
  const info = gpu.ctx.adapterInfo;
  const adapter = { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description };
  const slug = resultsSlug(info, isSoftwareAdapter(gpu.describe()) ? gpu.cpu : undefined);
  if (name === 'convscope' || name === 'convscope-prepare') {
    const g = convscopeGradCam();
    await gpu.sync();
    const before = gpu.stats.pipelinesCompiled;
    const once = async () => {
      cs.dispose(g.pass());
      await gpu.sync();
    };
    let prepareMs: number | undefined;
    const t0 = performance.now();
    if (name === 'convscope-prepare') {
      await cs.prepareKernels(() => cs.dispose(g.pass()));
      prepareMs = performance.now() - t0;
    }
    await once();
    const firstMs = performance.now() - t0;
    const pipelines = gpu.stats.pipelinesCompiled - before;
    const warmMs: number[] = [];
    for (let i = 0; i < warmRuns; i++) {
      const t = performance.now();
      await once();
      warmMs.push(performance.now() - t);
    }
    g.dispose();
    return { firstMs, warmMs, pipelines, prepareMs, adapter, slug };
  }
  if (name === 'tfjs-webgpu') {
    setTfLoader(loadNodeTf);
    const item = e2eItems(false).find((i) => i.name.startsWith('Grad-CAM'))!;
    const p = await item.prepare('tfjs-webgpu');
    const t0 = performance.now();
    await p.run();
    const firstMs = performance.now() - t0;
    const warmMs: number[] = [];
    for (let i = 0; i < warmRuns; i++) {
      const t = performance.now();
      await p.run();
      warmMs.push(performance.now() - t);
    }
    p.dispose();
    return { firstMs, warmMs, adapter, slug };
  }
  if (name === 'adapter') return { firstMs: 0, warmMs: [], adapter, slug };
  throw new Error(`cold: unknown child item '${name}'`);
}

if (o.child) {
  const r = await child(o.child);
  process.stdout.write(`COLD ${JSON.stringify(r)}\n`, () => process.exit(0));
} else {
  await parent();
}

// ---- parent side ----

function freshEnv(): { env: NodeJS.ProcessEnv; dirs: string[] } {
  const mesa = mkdtempSync(join(tmpdir(), 'cs-cold-mesa-'));
  const tuning = mkdtempSync(join(tmpdir(), 'cs-cold-tuning-'));
  return { env: { ...process.env, MESA_SHADER_CACHE_DIR: mesa, CONVSCOPE_CACHE_DIR: tuning, MESA_SHADER_CACHE_DISABLE: 'false' }, dirs: [mesa, tuning] };
}

function runChild(name: string, env: NodeJS.ProcessEnv): ChildReport {
  const r = spawnSync(process.execPath, [process.argv[1], '--child', name, '--warm', o.warm!], { env, encoding: 'utf8', maxBuffer: 1 << 26 });
  const line = r.stdout.split('\n').find((l) => l.startsWith('COLD '));
  if (!line) throw new Error(`cold: child '${name}' failed (status ${r.status}):\n${r.stderr.slice(-2000)}`);
  return JSON.parse(line.slice(5)) as ChildReport;
}

function catsGradcam(): string[] {
  return ['gradcam', join(root, 'assets/cats_and_dogs_small_1.h5'), join(root, 'assets/chelsea_cat.png')];
}

/** Wall time of one convscope command, from spawn to exit. */
function runCli(env: NodeJS.ProcessEnv, args: string[]): number {
  const out = mkdtempSync(join(tmpdir(), 'cs-cold-out-'));
  const t = performance.now();
  const r = spawnSync(process.execPath, [join(root, 'bin/convscope.mjs'), ...args, '--out', join(out, 'o')], { env, encoding: 'utf8', cwd: root });
  const ms = performance.now() - t;
  rmSync(out, { recursive: true, force: true });
  if (r.status !== 0) throw new Error(`cold: convscope ${args[0]} failed (status ${r.status}): ${r.stderr.slice(-2000)}`);
  return ms;
}

function cliItem(name: string, engine: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  return {
    name,
    what: 'cli',
    run: (): ColdResult => {
      const { env, dirs } = freshEnv();
      Object.assign(env, extraEnv);
      try {
        const first = runCli(env, args);
        const warm = Array.from({ length: Math.max(1, Number(o.warm) - 1) }, () => runCli(env, args));
        return { name, engine, firstMs: first, warmMs: median(warm), warmRuns: warm, ratio: first / median(warm) };
      } finally {
        dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
      }
    },
  };
}

async function parent(): Promise<void> {
  const only = o.only ? new RegExp(o.only, 'i') : undefined;
  const loadBefore = loadAverage();
  const results: ColdResult[] = [];
  let adapter: Record<string, string> | undefined;
  let slug: string | undefined;
  const items: { name: string; what: string; run: () => ColdResult }[] = [
    ...(['convscope', 'tfjs-webgpu', 'convscope-prepare'] as const).map((engine) => ({
      name: `first Grad-CAM, VGG16 224 (${engine})`,
      what: engine,
      run: (): ColdResult => {
        const { env, dirs } = freshEnv();
        try {
          const r = runChild(engine, env);
          adapter ??= r.adapter;
          slug ??= r.slug;
          return {
            name: 'first Grad-CAM on VGG16 at 224',
            engine: engine === 'convscope-prepare' ? 'convscope, prepareKernels first' : engine,
            firstMs: r.firstMs,
            warmMs: median(r.warmMs),
            warmRuns: r.warmMs,
            ratio: r.firstMs / median(r.warmMs),
            ...(r.pipelines !== undefined ? { pipelines: r.pipelines } : {}),
            ...(r.prepareMs !== undefined ? { prepareMs: r.prepareMs } : {}),
          };
        } finally {
          dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
        }
      },
    })),
    cliItem('first `convscope gradcam` of cats_and_dogs_small_1.h5 (whole command)', 'convscope', catsGradcam()),
    cliItem('first `convscope gradcam` of cats_and_dogs_small_1.h5 (whole command)', 'convscope, CONVSCOPE_PREPARE=0', catsGradcam(), { CONVSCOPE_PREPARE: '0' }),
    cliItem('first `convscope demo` (whole command)', 'convscope', ['demo']),
  ];
  const chosen = items.filter((it) => !only || only.test(`${it.name} ${it.what}`));
  const runs = new Map<(typeof items)[number], ColdResult[]>();
  for (let round = 0; round < Math.max(1, Number(o.rounds)); round++) {
    for (const it of chosen) {
      console.error(`cold: ${it.name} (${it.what}), round ${round + 1} ...`);
      const r = it.run();
      console.error(`  first ${(r.firstMs / 1000).toFixed(1)} s, warm ${(r.warmMs / 1000).toFixed(2)} s (${r.warmRuns.map((v) => (v / 1000).toFixed(2)).join(', ')}), ${r.ratio.toFixed(1)}x${r.pipelines !== undefined ? `, ${r.pipelines} pipelines` : ''}; load ${loadAverage()}`);
      runs.set(it, [...(runs.get(it) ?? []), r]);
    }
  }
  for (const rs of runs.values()) {
    if (rs.length === 1) {
      results.push(rs[0]);
      continue;
    }
    // the median first run, with every round's first and warm runs kept
    const firstRuns = rs.map((r) => r.firstMs);
    const warmRuns = rs.flatMap((r) => r.warmRuns);
    const mid = [...rs].sort((a, b) => a.firstMs - b.firstMs)[Math.floor((rs.length - 1) / 2)];
    results.push({ ...mid, firstMs: median(firstRuns), firstRuns, warmMs: median(warmRuns), warmRuns, ratio: median(firstRuns) / median(warmRuns), ...(mid.prepareMs !== undefined ? { prepareMs: median(rs.map((r) => r.prepareMs!)) } : {}) });
  }
  if (!slug) {
    // only the CLI ran: ask a child which adapter this is
    const r = runChild('adapter', process.env);
    slug = r.slug;
    adapter = r.adapter;
  }
  const file = join(o.out!, `${slug ?? 'adapter'}.json`);
  mkdirSync(o.out!, { recursive: true });
  const full: BenchResults = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as BenchResults) : { adapter: adapter ?? {}, date: new Date().toISOString(), versions: {}, settings: {}, items: [] };
  const kept = (full.cold?.results ?? []).filter((c) => !results.some((r) => r.name === c.name && r.engine === c.engine));
  full.cold = { date: new Date().toISOString(), loadBefore, loadAfter: loadAverage(), results: [...kept, ...results] };
  writeFileSync(file, `${JSON.stringify(full, null, 2)}\n`);
  writeFileSync(file.replace(/\.json$/, '.md'), `${markdownTable(full)}\n`);
  console.error(`wrote ${file} (cold) and .md`);
  process.exit(0);
}

function loadAverage(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return '';
  }
}
