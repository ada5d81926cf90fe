import type { WebGPUBackend } from './backend.ts';
import { bindings } from './program.ts';
import { tunedTapDefault, tunedTapTiling } from './tuning.ts';

/**
 * A register-tiled GEMM without workgroup memory, C[M,N] = A[M,K] B[K,N], for the
 * convolutions, whose K splits into `taps` runs of `L` consecutive values of A (one
 * filter tap over all input channels): row m of A at tap t is in0[rowBase(m, t) + c]
 * for c < L, or zero when the tap falls in the padding. B is row-major [K, N].
 *
 * A workgroup owns TM rows of C and WG x TN columns; thread x holds columns
 * x, x + WG, ... so neighbouring threads read neighbouring B values, and each B value
 * read serves TM rows. Row bases and padding tests are worked out once per tap, not
 * once per multiply, and no barrier is needed.
 *
 * With `subgroup` (WG = the subgroup size S, L a multiple of S) the A values are not
 * read by every thread: thread s reads channel c0 + s of each row and the others get
 * it by subgroupBroadcast, so a block of S channels costs TM reads instead of S x TM.
 * That matters on lavapipe, which runs a workgroup as SIMD lanes of one CPU thread and
 * turns every buffer read into one scalar load per lane (with its bounds check) while
 * arithmetic is 8 lanes wide: there this kernel is 3.5x-5x faster than the
 * shared-memory tile of gemm.ts. The subgroup form is written out unrolled, since
 * lavapipe keeps private arrays indexed by loop counters in memory.
 */

export interface TapTiling {
  /** Rows of C per workgroup (each thread holds all of them). */
  TM: number;
  /** Columns of C per thread. */
  TN: number;
  /** Threads per workgroup, side by side along N (the subgroup size when `subgroup`). */
  WG: number;
  /** Share A reads across the subgroup (needs the 'subgroups' feature and WG = its size). */
  subgroup?: boolean;
}

export interface TapGemmSpec {
  M: number;
  N: number;
  taps: number;
  /** Run of A per tap: K = taps * L. */
  L: number;
  /** WGSL body of `fn rowBase(m: u32, t: u32) -> i32`: index in in0 of A[m, t*L], or -1 when that run is zero. */
  rowBase: string;
  /** Constants and functions rowBase needs. */
  prelude?: string;
  /** Fused ReLU backward: A[m, k] counts only where in2 at the same index is > 0 (in2 = the ReLU's output). */
  maskA?: boolean;
  /** WGSL statement(s) storing accumulator `v` at row `m`, column `n`; defaults to out[m * N + n] = v. */
  store?: string;
  tiling?: TapTiling;
}

/**
 * The tile for a shape without a tuned entry: the adapter's measured default (from its
 * tuning table), else the loop form, which runs everywhere. A GEMM with fewer columns
 * than threads gets one column per thread and more rows.
 */
export function defaultTapTiling(s: TapGemmSpec, subgroupSize: number | undefined): TapTiling {
  // a few rows (a Dense layer on one image): exactly those rows, the columns spread over threads
  if (s.M <= 4) {
    const d = tunedTapDefault();
    return d?.subgroup && tapTilingFits(s, d, subgroupSize) ? { TM: s.M, TN: 4, WG: d.WG, subgroup: true } : { TM: s.M, TN: 4, WG: 64 };
  }
  const d = tunedTapDefault();
  if (d && tapTilingFits(s, d, subgroupSize)) return s.N <= d.WG ? { ...d, TM: Math.max(d.TM, 32), TN: 1 } : d;
  return s.N <= 8 ? { TM: 16, TN: 1, WG: 8 } : { TM: 8, TN: 8, WG: 8 };
}

/** Whether a tile can run this GEMM on this device. */
export function tapTilingFits(s: TapGemmSpec, t: TapTiling, subgroupSize: number | undefined): boolean {
  return !t.subgroup || (t.WG === subgroupSize && s.L % t.WG === 0);
}

export function tapTilingOf(s: TapGemmSpec, key: string | undefined, subgroupSize: number | undefined): TapTiling {
  const tuned = s.tiling ?? (key ? tunedTapTiling(key) : undefined);
  return tuned && tapTilingFits(s, tuned, subgroupSize) ? tuned : defaultTapTiling(s, subgroupSize);
}

const MAX_GRID = 65535;

function grid(s: TapGemmSpec, t: TapTiling): [number, number, number] {
  const rowTiles = Math.ceil(s.M / t.TM);
  return [Math.ceil(s.N / (t.TN * t.WG)), Math.min(rowTiles, MAX_GRID), Math.ceil(rowTiles / MAX_GRID)];
}

const range = (n: number) => [...Array(n).keys()];

function header(s: TapGemmSpec, t: TapTiling, bindingDecls: string): string {
  return `${t.subgroup ? 'enable subgroups;\n' : ''}${bindingDecls}
const M = ${s.M}u;
const N = ${s.N}u;
const TAPS = ${s.taps}u;
const L = ${s.L}u;
${s.prelude ?? ''}
fn rowBase(m: u32, t: u32) -> i32 { ${s.rowBase} }
fn loadA(i: u32, live: bool) -> f32 { return select(0.0, in0[i], live${s.maskA ? ' && in2[i] > 0.0' : ''}); }`;
}

function storeBlock(s: TapGemmSpec): string {
  return s.store ?? 'out[m * N + n] = v;';
}

/** Loop form: accumulators in a private array (loops short enough to be unrolled by the compiler). */
function loopSource(s: TapGemmSpec, t: TapTiling, bindingDecls: string): string {
  const { TM, TN, WG } = t;
  return `${header(s, t, bindingDecls)}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let m0 = (wid.z * ${MAX_GRID}u + wid.y) * ${TM}u;
  let n0 = wid.x * ${TN * WG}u + lid.x;
  var col: array<u32, ${TN}>;
  for (var j = 0u; j < ${TN}u; j++) { col[j] = min(n0 + j * ${WG}u, N - 1u); }
  var acc: array<f32, ${TM * TN}>;
  for (var t = 0u; t < TAPS; t++) {
    var base: array<u32, ${TM}>;
    var live: array<bool, ${TM}>;
    for (var i = 0u; i < ${TM}u; i++) {
      let b = rowBase(min(m0 + i, M - 1u), t);
      live[i] = b >= 0;
      base[i] = u32(max(b, 0));
    }
    let brow = t * L * N;
    for (var c = 0u; c < L; c++) {
      var b: array<f32, ${TN}>;
      for (var j = 0u; j < ${TN}u; j++) { b[j] = in1[brow + c * N + col[j]]; }
      for (var i = 0u; i < ${TM}u; i++) {
        let a = loadA(base[i] + c, live[i]);
        for (var j = 0u; j < ${TN}u; j++) { acc[i * ${TN}u + j] += a * b[j]; }
      }
    }
  }
  for (var i = 0u; i < ${TM}u; i++) {
    let m = m0 + i;
    if (m >= M) { break; }
    for (var j = 0u; j < ${TN}u; j++) {
      let n = n0 + j * ${WG}u;
      if (n >= N) { break; }
      let v = acc[i * ${TN}u + j];
      ${storeBlock(s)}
    }
  }
}`;
}

/** Subgroup form, written out: thread s reads channel c0 + s of every row, the subgroup shares them. */
function subgroupSource(s: TapGemmSpec, t: TapTiling, bindingDecls: string): string {
  const { TM, TN, WG } = t;
  const rows = range(TM);
  const cols = range(TN);
  const step = (cc: number) =>
    `{ ${cols.map((j) => `let b${j} = in1[brow + (c0 + ${cc}u) * N + col${j}];`).join(' ')}
        ${rows.map((i) => `{ let a = subgroupBroadcast(av${i}, ${cc}u); ${cols.map((j) => `acc${i}_${j} += a * b${j};`).join(' ')} }`).join('\n        ')} }`;
  return `${header(s, t, bindingDecls)}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let m0 = (wid.z * ${MAX_GRID}u + wid.y) * ${TM}u;
  let n0 = wid.x * ${TN * WG}u + lid.x;
  ${cols.map((j) => `let col${j} = min(n0 + ${j * WG}u, N - 1u);`).join(' ')}
  ${rows.map((i) => cols.map((j) => `var acc${i}_${j} = 0.0;`).join(' ')).join('\n  ')}
  for (var t = 0u; t < TAPS; t++) {
    ${rows.map((i) => `let r${i} = rowBase(min(m0 + ${i}u, M - 1u), t); let live${i} = r${i} >= 0; let base${i} = u32(max(r${i}, 0)) + lane;`).join('\n    ')}
    let brow = t * L * N;
    for (var c0 = 0u; c0 < L; c0 += ${WG}u) {
      ${rows.map((i) => `let av${i} = loadA(base${i} + c0, live${i});`).join(' ')}
      ${range(WG).map(step).join('\n      ')}
    }
  }
  ${rows
    .map(
      (i) => `if (m0 + ${i}u < M) {
    let m = m0 + ${i}u;
    ${cols.map((j) => `if (n0 + ${j * WG}u < N) { let n = n0 + ${j * WG}u; let v = acc${i}_${j}; ${storeBlock(s)} }`).join('\n    ')}
  }`,
    )
    .join('\n  ')}
}`;
}

export function tapGemmSource(s: TapGemmSpec, t: TapTiling, bindingDecls: string): string {
  return t.subgroup ? subgroupSource(s, t, bindingDecls) : loopSource(s, t, bindingDecls);
}

/**
 * Dispatches a tap GEMM. Inputs: in0 = A's source, in1 = B, then (with maskA) in2 =
 * the mask source, or any inputs the store reads. `key` names kernel and shape (and
 * the tuning table entry); `variant` tells apart kernels that share it (a fused store, a mask).
 */
export function dispatchTapGemm(
  backend: WebGPUBackend,
  key: string,
  spec: TapGemmSpec,
  inputs: GPUBuffer[],
  output: GPUBuffer,
  outputBytes: number,
  variant = '',
  inputRanges?: ({ offset: number; size: number } | undefined)[],
): void {
  const t = tapTilingOf(spec, key, backend.ctx.subgroupSize);
  backend.dispatch({
    key: `${key}${variant ? `+${variant}` : ''}|tap${t.TM}.${t.TN}.${t.WG}${t.subgroup ? 's' : ''}`,
    source: () => tapGemmSource(spec, t, bindings(inputs.length)),
    inputs,
    inputRanges,
    output,
    outputBytes,
    workgroups: grid(spec, t),
  });
}
