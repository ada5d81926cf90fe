import type { Dispatch, TuneHook, WebGPUBackend } from './backend.ts';
import { gemmSource, type GemmTiling } from './gemm.ts';
import { isTapTiling, tapGemmSource, tilingName, type TapTiling } from './tap_gemm.ts';
import { currentTuningTable, hasTuningEntry, setTapDefault, setTuningEntry, tapCandidates, TILING_CANDIDATES, tunedTapDefault } from './tuning.ts';
import { hash32, saveCachedTable } from './tuning_cache.ts';

/**
 * First-use tuning (prepareKernels with `tune`, on an adapter without a table of its own):
 * the GEMM shapes of the pass being prepared, largest first, each timed with its candidate
 * tiles on the pass's own buffers, until the budget is spent. Tiles already compiled are
 * timed first (on lavapipe a new one costs a 0.2-3 s compile, so a few seconds buy few of
 * them; on a GPU compiles take milliseconds and the budget covers every candidate).
 * Products under MIN_FLOPS are left alone: they would save less than their tiles cost to
 * compile. The winners go into the table in use and into the cache (tuning_cache.ts).
 */

const MIN_FLOPS = 2e7;
/** Bumped when the tuner's rules change, so that old cache entries are measured again. */
const TUNER_VERSION = 'tuner 2';

/** Hash of the kernel sources whose tiles a cached table chose between. */
export function kernelSourceHash(subgroupSize: number | undefined): string {
  const parts = [TUNER_VERSION];
  for (const t of tapCandidates(subgroupSize)) parts.push(tapGemmSource({}, t, 2));
  const probe = { M: 64, N: 64, K: 64, loadA: 'return 0.0;', loadB: 'return 0.0;', aKContiguous: true, bNContiguous: true };
  for (const t of TILING_CANDIDATES) parts.push(gemmSource({ ...probe, family: 'probe', tiling: t }, 2));
  return hash32(parts.join('\n'));
}

const isTap = isTapTiling;
const tileName = tilingName;

/** Milliseconds per run of one dispatch (after one run that compiles it), over enough runs to pass ~30 ms. */
async function timeDispatch(backend: WebGPUBackend, d: Dispatch): Promise<number> {
  backend.dispatch(d);
  await backend.sync();
  let t = performance.now();
  backend.dispatch(d);
  await backend.sync();
  const once = performance.now() - t;
  const reps = Math.max(1, Math.min(20, Math.ceil(30 / Math.max(once, 0.01))));
  if (reps === 1) return once;
  t = performance.now();
  for (let i = 0; i < reps; i++) backend.dispatch(d);
  await backend.sync();
  return Math.min(once, (performance.now() - t) / reps);
}

export async function autoTune(backend: WebGPUBackend, dispatches: Dispatch[], budgetMs: number): Promise<string[]> {
  const start = performance.now();
  const spent = () => performance.now() - start;
  const hooks = new Map<string, TuneHook>();
  for (const d of dispatches) {
    const h = d.tune;
    if (h && h.flops >= MIN_FLOPS && !hasTuningEntry(h.key) && !hooks.has(h.key)) hooks.set(h.key, h);
  }
  if (hooks.size === 0) return [];
  const tuned: string[] = [];
  const measurements: Record<string, Record<string, number>> = {};
  const tapWins = new Map<string, { tile: TapTiling; wins: number }>();
  let convShapes = 0;
  for (const h of [...hooks.values()].sort((a, b) => b.flops - a.flops)) {
    if (spent() > budgetMs) break;
    const seen = new Set<string>();
    const options = h.tiles
      .map((tile, i) => ({ tile, i, d: h.make(tile) }))
      .filter((o) => o.d !== undefined && !seen.has(tileName(o.tile)) && !!seen.add(tileName(o.tile)));
    // the current tile first (the baseline), then those already compiled, then the rest in the list's order
    options.sort((a, b) => (a.i === 0 ? -1 : b.i === 0 ? 1 : Number(backend.hasPipeline(b.d!.key)) - Number(backend.hasPipeline(a.d!.key)) || a.i - b.i));
    const times: Record<string, number> = {};
    let best: { tile: TapTiling | GemmTiling; ms: number } | undefined;
    for (const o of options) {
      if (best && spent() > budgetMs) break;
      const ms = await timeDispatch(backend, o.d!);
      times[tileName(o.tile)] = Math.round(ms * 100) / 100;
      if (!best || ms < best.ms) best = { tile: o.tile, ms };
    }
    if (!best) continue;
    setTuningEntry(h.key, best.tile);
    tuned.push(h.key);
    measurements[h.key] = times;
    if (/^conv2d(BackpropInput)?:/.test(h.key)) {
      convShapes++;
      if (isTap(best.tile)) {
        const n = tileName(best.tile);
        tapWins.set(n, { tile: best.tile, wins: (tapWins.get(n)?.wins ?? 0) + 1 });
      }
    }
  }
  // as `npm run tune` does: the tap GEMM becomes the default for shapes not measured only where it won most of them
  const wins = [...tapWins.values()].reduce((s, w) => s + w.wins, 0);
  if (!tunedTapDefault() && convShapes > 0 && wins * 2 > convShapes) {
    setTapDefault([...tapWins.values()].sort((a, b) => b.wins - a.wins)[0].tile);
  }
  const t = currentTuningTable();
  await saveCachedTable({
    ...t,
    adapter: backend.describe(),
    cpu: backend.cpu,
    sourceHash: backend.sourceHash,
    date: new Date().toISOString(),
    measurements: { ...(t.measurements ?? {}), ...Object.fromEntries(Object.entries(measurements).map(([k, v]) => [k, Object.values(v)])) },
  });
  backend.tuning = 'first-use tuning';
  return tuned;
}
