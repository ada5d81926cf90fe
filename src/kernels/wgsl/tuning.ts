import type { GemmTiling } from './gemm.ts';
import type { TapTiling } from './tap_gemm.ts';
import { TUNING_TABLES } from './tuned/index.ts';

/**
 * Per-adapter GEMM tile choices. The best tile differs by adapter (on Mesa's software
 * lavapipe a large register tile wins; a GPU wants more threads), so it is measured,
 * not assumed: `npm run tune` times the candidates on every VGG16 kernel shape and
 * writes the winners to src/kernels/wgsl/tuned/<adapter>[.<cpu>].json, which the backend loads
 * when it finds the same adapter. Shapes not in the table use the built-in heuristic.
 */
export const TILING_CANDIDATES: GemmTiling[] = [
  { TM: 4, TN: 4, WM: 16, WN: 16, BK: 16 },
  { TM: 8, TN: 4, WM: 16, WN: 16, BK: 8 },
  { TM: 4, TN: 8, WM: 16, WN: 8, BK: 16 },
  { TM: 2, TN: 4, WM: 16, WN: 16, BK: 16 },
  { TM: 4, TN: 4, WM: 8, WN: 8, BK: 32 },
];

/** The vec4 tap tiles (tap_gemm.ts's vec4 and narrow forms: four floats per access, for SwiftShader). */
export const VEC4_CANDIDATES: TapTiling[] = [
  { TM: 4, TN: 4, WG: 4, vec4: true },
  { TM: 4, TN: 4, WG: 16, vec4: true },
  { TM: 4, TN: 4, WG: 32, vec4: true },
  { TM: 4, TN: 8, WG: 16, vec4: true },
  { TM: 8, TN: 4, WG: 16, vec4: true },
  // the narrow form, for GEMMs of 1-4 columns (TN = N: only the one that matches fits)
  ...[1, 2, 3, 4].flatMap((TN) => [4, 8].map((TM) => ({ TM, TN, WG: 16, narrow: true }))),
];

/** Candidates for the tap GEMM (tap_gemm.ts); the subgroup forms where the device has a fixed subgroup size. */
export function tapCandidates(subgroupSize: number | undefined): TapTiling[] {
  const loop: TapTiling[] = [
    { TM: 8, TN: 8, WG: 8 },
    { TM: 8, TN: 4, WG: 16 },
    { TM: 16, TN: 4, WG: 16 },
    ...VEC4_CANDIDATES,
  ];
  if (!subgroupSize) return loop;
  const sub = [
    [16, 4],
    [24, 4],
    [32, 4],
    [12, 4],
    [16, 8],
    [32, 2],
    [32, 1],
  ].map(([TM, TN]) => ({ TM, TN, WG: subgroupSize, subgroup: true }));
  return [...sub, ...loop];
}

export interface TuningTable {
  adapter: string;
  /**
   * For a software adapter (lavapipe, SwiftShader), the CPU it was measured on: the same
   * driver string on another processor is another machine (the best tile moves with the
   * core's width, caches and load costs), so the table applies only where this matches.
   */
  cpu?: string;
  /** For a table the tuner wrote on first use (the cache): hash of the kernel sources it measured. */
  sourceHash?: string;
  date: string;
  /** dispatch key (kernel and shape) -> tile */
  tilings: Record<string, GemmTiling | TapTiling>;
  /**
   * The tap-GEMM tile for shapes not in `tilings` on this adapter (the candidate with
   * the least total time over the tuned shapes). Without it the loop form is used: the
   * subgroup form is taken only where it was measured (it hangs Chromium's SwiftShader).
   */
  tapDefault?: TapTiling;
  /** Why the table says what it says, where a person chose (not read by code). */
  notes?: string;
  /** dispatch key -> median ms of each candidate, for the record */
  measurements?: Record<string, number[]>;
}

const table = new Map<string, GemmTiling | TapTiling>();
let tapDefault: TapTiling | undefined;
let forced: GemmTiling | undefined;
let forcedTap: TapTiling | undefined;

export function tunedTiling(key: string): GemmTiling | undefined {
  const t = table.get(key);
  return forced ?? (t && 'BK' in t ? t : undefined);
}

export function tunedTapTiling(key: string): TapTiling | undefined {
  const t = table.get(key);
  return forcedTap ?? (t && 'WG' in t ? t : undefined);
}

let current: TuningTable = { adapter: '', date: '', tilings: {} };

/** Loads a table (the backend calls this with the file for its adapter). */
export function useTuningTable(t: TuningTable): void {
  table.clear();
  tapDefault = t.tapDefault;
  for (const [k, v] of Object.entries(t.tilings)) table.set(k, v);
  current = { ...t, tilings: { ...t.tilings } };
}

/** The table in use (a copy), with what the tuner has added to it. */
export function currentTuningTable(): TuningTable {
  return { ...current, tilings: { ...current.tilings }, ...(tapDefault ? { tapDefault } : {}) };
}

/** Records a measured choice (the first-use tuner); undefined removes it. */
export function setTuningEntry(key: string, tile: GemmTiling | TapTiling | undefined): void {
  if (tile) {
    table.set(key, tile);
    current.tilings[key] = tile;
  } else {
    table.delete(key);
    delete current.tilings[key];
  }
}

export function setTapDefault(t: TapTiling | undefined): void {
  tapDefault = t;
  current.tapDefault = t;
}

/** Whether the table has an entry for this key. */
export function hasTuningEntry(key: string): boolean {
  return table.has(key);
}

/** While tuning: every GEMM dispatch uses this tile (undefined to stop). */
export function forceTiling(t: GemmTiling | undefined): void {
  forced = t;
}

/**
 * Whether the GEMM with this key runs on the tap GEMM (tap_gemm.ts) rather than the
 * shared-memory tile (gemm.ts) on this adapter: the table's entry for it says which,
 * else the table's tap default does; an adapter without a table gets the shared-memory
 * tile, the usual choice on GPUs. While tuning, a forced tile picks its own family.
 */
export function usesTapGemm(key: string): boolean {
  if (forcedTap) return true;
  if (forced) return false;
  const t = table.get(key);
  if (t) return 'WG' in t;
  return tapDefault !== undefined;
}

/** This adapter's measured default tap tile, if its table has one. */
export function tunedTapDefault(): TapTiling | undefined {
  return tapDefault;
}

/** While tuning: every tap-GEMM dispatch uses this tile (undefined to stop). */
export function forceTapTiling(t: TapTiling | undefined): void {
  forcedTap = t;
}

export function tuningSize(): number {
  return table.size;
}

/** File-name slug of an adapter description. */
export function adapterSlug(description: string): string {
  return slugOf(description.replace(/\[.*?\]/g, '')).slice(0, 60) || 'adapter';
}

/** Lower case, each run of other characters one '-', none at the ends (file names). */
export function slugOf(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

/** Whether an adapter runs on the CPU (its measured tiles then depend on the processor too). */
export function isSoftwareAdapter(description: string): boolean {
  return /software|llvmpipe|lavapipe|swiftshader|subzero|warp|cpu/i.test(description);
}

/** File name of a committed table: the adapter's slug, then for a software adapter the CPU model's. */
export function tableFileName(t: Pick<TuningTable, 'adapter' | 'cpu'>): string {
  const cpu = t.cpu && isSoftwareAdapter(t.adapter) ? `.${slugOf(t.cpu)}` : '';
  return `${adapterSlug(t.adapter)}${cpu}.json`;
}

/** The maker at the start of a CPU model string ('amd', 'intel(r)' -> 'intel'), for nearestTableFor. */
function cpuMaker(cpu: string): string {
  return cpu.trim().toLowerCase().split(/[^a-z0-9]/)[0];
}

/**
 * For a software adapter on a CPU model that no committed table was measured on: the table
 * measured with the same driver on another CPU, one of the same maker first. Its tiles are a
 * far better start than the built-in shared-memory GEMM (lavapipe on a 2-core AMD EPYC,
 * VGG16 block1_conv2 forward: 1733 ms built-in, 485 ms on the Xeon's table; docs/kernels.md,
 * "Tables per CPU"); first-use tuning then measures the shapes it lacks.
 */
export function nearestTableFor(description: string, cpu: string): TuningTable | undefined {
  if (!isSoftwareAdapter(description)) return undefined;
  const slug = adapterSlug(description);
  const others = TUNING_TABLES.filter((x) => adapterSlug(x.adapter) === slug && x.cpu !== undefined && x.cpu !== cpu);
  return others.find((x) => cpuMaker(x.cpu!) === cpuMaker(cpu)) ?? others[0];
}

/** Where an adapter's tile choices come from (the backend's `tuning`). */
export type TuningSource = 'committed table' | 'cache' | 'first-use tuning' | 'table of another CPU' | 'none';

/**
 * The table a new device starts with: the committed one for this adapter (and CPU model, for a
 * software adapter), else the first-use tuning cache's (`cached`, read by the caller), else the
 * same software driver's table from another CPU, else none (the built-in choices).
 */
export function chooseTable(description: string, cpu: string, cached: TuningTable | undefined): { table: TuningTable; source: TuningSource; tableCpu?: string } {
  const own = committedTableFor(description, isSoftwareAdapter(description) ? cpu : undefined);
  if (own) return { table: own, source: 'committed table' };
  if (cached) return { table: cached, source: 'cache' };
  const nearest = nearestTableFor(description, cpu);
  // once tuned, this CPU's cache entry holds these tiles and those measured here
  if (nearest) return { table: { ...nearest, cpu, measurements: {} }, source: 'table of another CPU', tableCpu: nearest.cpu };
  return { table: { adapter: description, ...(isSoftwareAdapter(description) ? { cpu } : {}), date: '', tilings: {} }, source: 'none' };
}

/** The committed table measured on this adapter (and, for a software adapter, on this CPU model), if any. */
export function committedTableFor(description: string, cpu?: string): TuningTable | undefined {
  const slug = adapterSlug(description);
  return TUNING_TABLES.find((x) => adapterSlug(x.adapter) === slug && (!x.cpu || cpu === undefined || !isSoftwareAdapter(description) || x.cpu === cpu));
}

/**
 * Uses the committed table (src/kernels/wgsl/tuned/) measured on an adapter with this
 * description (and CPU model, for a software adapter; `cpu` undefined skips that test), or
 * none (built-in choices) if there is none; returns whether there was.
 */
export function loadTuningFor(description: string, cpu?: string): boolean {
  const t = committedTableFor(description, cpu);
  useTuningTable(t ?? { adapter: description, ...(cpu ? { cpu } : {}), date: '', tilings: {} });
  return !!t;
}
