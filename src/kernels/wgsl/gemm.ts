import type { Dispatch, TuneHook, WebGPUBackend } from './backend.ts';
import { bindings, divMagic, packParams, UDIV_WGSL } from './program.ts';
import { tunedTiling } from './tuning.ts';

/**
 * One tiled GEMM template, C[M,N] = A[M,K] B[K,N], that serves matmul and all three
 * convolution kernels: each supplies WGSL functions that load an element of A and B
 * (returning 0 outside the matrix), so a convolution is an implicit GEMM whose A
 * (or B) tile is gathered straight from the image without an im2col buffer.
 *
 * Each workgroup computes a BM x BN tile of C with (BM/TM) x (BN/TN) threads, each
 * thread a TM x TN block held in registers; K advances in steps of BK through
 * workgroup memory.
 */

export interface GemmTiling {
  /** Rows of C per thread. */
  TM: number;
  /** Columns of C per thread. */
  TN: number;
  /** Threads along M and N: the tile is (TM*WM) x (TN*WN). */
  WM: number;
  WN: number;
  /** K step held in workgroup memory. */
  BK: number;
}

export const DEFAULT_TILING: GemmTiling = { TM: 4, TN: 4, WM: 16, WN: 16, BK: 16 };

/**
 * A 64x64 tile wastes almost all its work when C is a single row (a Dense layer on
 * one image) or has a few columns (the 3-channel input gradient of a first conv
 * layer): give such shapes a tile that is long in the other direction.
 */
export function chooseTiling(M: number, N: number): GemmTiling {
  if (M <= 4) return { TM: 1, TN: 4, WM: 1, WN: 64, BK: 16 };
  if (N <= 4) return { TM: 4, TN: 1, WM: 64, WN: 4, BK: 16 };
  if (N <= 16) return { TM: 4, TN: 1, WM: 16, WN: 16, BK: 16 };
  if (N <= 32) return { TM: 4, TN: 2, WM: 16, WN: 16, BK: 16 };
  return DEFAULT_TILING;
}

export interface GemmSpec {
  /** Identifies kernel and shape for the tuning table (the dispatch key). */
  tuningKey?: string;
  M: number;
  N: number;
  K: number;
  /**
   * WGSL body of `fn loadA(m: u32, k: u32) -> f32` (called only with m < M, k < K). Sizes are
   * read through functions, M(), N(), K() and the `values` named by the caller, and divisions
   * by them through div_<name>(x), so that the same text serves both modes (see `family`).
   */
  loadA: string;
  /** WGSL body of `fn loadB(k: u32, n: u32) -> f32` (called only with k < K, n < N). */
  loadB: string;
  /** Whether consecutive k are adjacent in memory for A (row-major A): picks the coalesced load order. */
  aKContiguous: boolean;
  /** Whether consecutive n are adjacent in memory for B. */
  bNContiguous: boolean;
  /** WGSL statement(s) storing `v` at row `m`, column `n` of C; defaults to out[m * N() + n] = v. */
  store?: string;
  /** Extra declarations (bindings are added by the caller); may use the value functions. */
  prelude?: string;
  /** Named u32 values the loaders read, NAME(); signed ones are read as i32 by the caller. */
  values?: Record<string, number>;
  /** Names among `values` (or M, N, K) the loaders divide by, as div_NAME(x). */
  divisors?: string[];
  /**
   * With a family name, the sizes and values are uniforms and the pipeline is shared by every
   * shape of the family with the same tile (key `gemm:<family>|<tile>`); without one, they are
   * WGSL constants (divisions become multiply-and-shift at compile time) and each shape
   * compiles its own pipeline.
   */
  family?: string;
  tiling?: GemmTiling;
}

/** The tile a GEMM uses: explicit, else tuned for this adapter, else the heuristic. */
export function tilingOf(s: GemmSpec): GemmTiling {
  return s.tiling ?? (s.tuningKey ? tunedTiling(s.tuningKey) : undefined) ?? chooseTiling(s.M, s.N);
}

/** Suffix for a dispatch key so that each tile compiles its own pipeline. */
export function tilingKey(s: GemmSpec): string {
  const t = tilingOf(s);
  return `|${t.TM}.${t.TN}.${t.WM}.${t.WN}.${t.BK}`;
}

export function gemmWorkgroups(s: GemmSpec): [number, number, number] {
  const t = tilingOf(s);
  return [Math.ceil(s.N / (t.TN * t.WN)), Math.ceil(s.M / (t.TM * t.WM)), 1];
}

/** The value functions (constants or uniform reads) and division helpers of a GEMM. */
function valueDecls(s: GemmSpec): string {
  const names = ['M', 'N', 'K', ...Object.keys(s.values ?? {})];
  const all: Record<string, number> = { M: s.M, N: s.N, K: s.K, ...s.values };
  const lines: string[] = [];
  if (s.family) {
    names.forEach((n, i) => lines.push(`fn ${n}() -> u32 { return P(${i}u); }`));
    lines.push(UDIV_WGSL);
    (s.divisors ?? []).forEach((n, j) => lines.push(`fn div_${n}(x: u32) -> u32 { return udiv(x, P(${names.length + 2 * j}u), P(${names.length + 2 * j + 1}u)); }`));
  } else {
    names.forEach((n) => lines.push(`fn ${n}() -> u32 { return ${all[n] >>> 0}u; }`));
    (s.divisors ?? []).forEach((n) => lines.push(`fn div_${n}(x: u32) -> u32 { return x / ${all[n] >>> 0}u; }`));
  }
  return lines.join('\n');
}

/** The uniform words of a family GEMM: M, N, K, the values, then (m, shifts) per divisor. */
export function gemmParams(s: GemmSpec): ArrayBuffer {
  const all: Record<string, number> = { M: s.M, N: s.N, K: s.K, ...s.values };
  const names = ['M', 'N', 'K', ...Object.keys(s.values ?? {})];
  return packParams([...names.map((n) => all[n]), ...(s.divisors ?? []).flatMap((n) => divMagic(all[n]))]);
}

function uniformWords(s: GemmSpec): number {
  return 3 + Object.keys(s.values ?? {}).length + 2 * (s.divisors ?? []).length;
}

export function gemmSource(s: GemmSpec, nInputs: number): string {
  const t = tilingOf(s);
  const BM = t.TM * t.WM;
  const BN = t.TN * t.WN;
  const threads = t.WM * t.WN;
  const aLoads = Math.ceil((BM * t.BK) / threads);
  const bLoads = Math.ceil((BN * t.BK) / threads);
  // element e of a tile -> (row, k): k fastest when memory is k-contiguous, so neighbours read neighbours
  const aIdx = s.aKContiguous ? `let kk = e % ${t.BK}u; let mm = e / ${t.BK}u;` : `let mm = e % ${BM}u; let kk = e / ${BM}u;`;
  const bIdx = s.bNContiguous ? `let nn = e % ${BN}u; let kk = e / ${BN}u;` : `let kk = e % ${t.BK}u; let nn = e / ${t.BK}u;`;
  return `${bindings(nInputs, s.family ? uniformWords(s) : 0)}
${valueDecls(s)}
${s.prelude ?? ''}
var<workgroup> As: array<f32, ${BM * t.BK}>;
var<workgroup> Bs: array<f32, ${BN * t.BK}>;
fn loadA(m: u32, k: u32) -> f32 { ${s.loadA} }
fn loadB(k: u32, n: u32) -> f32 { ${s.loadB} }

@compute @workgroup_size(${t.WN}, ${t.WM})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = M(); let N = N(); let K = K();
  let tileM = wid.y * ${BM}u;
  let tileN = wid.x * ${BN}u;
  let tid = lid.y * ${t.WN}u + lid.x;
  var acc: array<f32, ${t.TM * t.TN}>;
  for (var k0 = 0u; k0 < K; k0 += ${t.BK}u) {
    for (var i = 0u; i < ${aLoads}u; i++) {
      let e = tid + i * ${threads}u;
      if (e < ${BM * t.BK}u) {
        ${aIdx}
        let m = tileM + mm;
        let k = k0 + kk;
        var v = 0.0;
        if (m < M && k < K) { v = loadA(m, k); }
        As[kk * ${BM}u + mm] = v;
      }
    }
    for (var i = 0u; i < ${bLoads}u; i++) {
      let e = tid + i * ${threads}u;
      if (e < ${BN * t.BK}u) {
        ${bIdx}
        let n = tileN + nn;
        let k = k0 + kk;
        var v = 0.0;
        if (n < N && k < K) { v = loadB(k, n); }
        Bs[kk * ${BN}u + nn] = v;
      }
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${t.BK}u; kk++) {
      var a: array<f32, ${t.TM}>;
      var b: array<f32, ${t.TN}>;
      for (var i = 0u; i < ${t.TM}u; i++) { a[i] = As[kk * ${BM}u + i * ${t.WM}u + lid.y]; }
      for (var j = 0u; j < ${t.TN}u; j++) { b[j] = Bs[kk * ${BN}u + j * ${t.WN}u + lid.x]; }
      for (var i = 0u; i < ${t.TM}u; i++) {
        for (var j = 0u; j < ${t.TN}u; j++) { acc[i * ${t.TN}u + j] += a[i] * b[j]; }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < ${t.TM}u; i++) {
    let m = tileM + i * ${t.WM}u + lid.y;
    if (m >= M) { continue; }
    for (var j = 0u; j < ${t.TN}u; j++) {
      let n = tileN + j * ${t.WN}u + lid.x;
      if (n >= N) { continue; }
      let v = acc[i * ${t.TN}u + j];
      ${s.store ?? 'out[m * N + n] = v;'}
    }
  }
}`;
}

/** The dispatch of a GEMM: the tile comes from tilingOf (tuned per adapter); see GemmSpec.family for the pipeline key. */
export function makeGemm(
  key: string,
  spec: GemmSpec,
  inputs: GPUBuffer[],
  output: GPUBuffer,
  outputBytes: number,
  inputRanges?: ({ offset: number; size: number } | undefined)[],
): Dispatch {
  const s = { ...spec, tuningKey: key };
  const tile = tilingKey(s);
  return {
    key: s.family ? `gemm:${s.family}:${inputs.length}${tile}` : key + tile,
    label: key + tile,
    source: () => gemmSource(s, inputs.length),
    inputs,
    inputRanges,
    output,
    outputBytes,
    ...(s.family ? { uniforms: gemmParams(s) } : {}),
    workgroups: gemmWorkgroups(s),
  };
}

export function dispatchGemm(
  backend: WebGPUBackend,
  key: string,
  spec: GemmSpec,
  inputs: GPUBuffer[],
  output: GPUBuffer,
  outputBytes: number,
  inputRanges?: ({ offset: number; size: number } | undefined)[],
  tune?: TuneHook,
): void {
  backend.dispatch({ ...makeGemm(key, spec, inputs, output, outputBytes, inputRanges), tune });
}
