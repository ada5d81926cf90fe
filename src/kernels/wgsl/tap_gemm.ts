import type { Dispatch, TuneHook, WebGPUBackend } from './backend.ts';
import { bindings, packParams } from './program.ts';
import { tunedTapDefault, tunedTapTiling } from './tuning.ts';
import type { GemmTiling } from './gemm.ts';

/**
 * A register-tiled GEMM without workgroup memory, C[M,N] = A[M,K] B[K,N], for the
 * convolutions, whose K splits into `taps` runs of `L` consecutive values of A (one
 * filter tap over all input channels): row m of A at tap (ky, kx) is L consecutive
 * floats of an NHWC image, or zero when the tap falls in the padding. B is row-major [K, N].
 *
 * A workgroup owns TM rows of C and WG x TN columns; thread x holds columns
 * x, x + WG, ... so neighbouring threads read neighbouring B values, and each B value
 * read serves TM rows. Row origins are worked out once per thread and the padding test
 * once per tap, not once per multiply, and no barrier is needed.
 *
 * With `subgroup` (WG = the subgroup size S, L a multiple of S) the A values are not
 * read by every thread: thread s reads channel c0 + s of each row and the others get
 * it by subgroupShuffle, so a block of S channels costs TM reads instead of S x TM.
 * That matters on lavapipe, which runs a workgroup as SIMD lanes of one CPU thread and
 * turns every buffer read into one scalar load per lane (with its bounds check) while
 * arithmetic is 8 lanes wide: there this kernel is 3.5x-5x faster than the
 * shared-memory tile of gemm.ts. Its rows and columns are written out (not arrays), since
 * lavapipe keeps private arrays indexed by loop counters in memory.
 *
 * Every size, stride, padding and offset is a uniform, so one pipeline per (tile,
 * epilogue) serves every convolution and one-image dense layer that uses that tile:
 * VGG16's 13 convolutions share 5. (Baking them in as constants, the first version,
 * compiled one pipeline per layer shape, 4-12 s each on lavapipe with a cold shader
 * cache, and was no faster warm: docs/kernels.md.)
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
  /**
   * Read and write four floats at a time (vec4<f32>), written out unrolled; TN (a multiple
   * of 4) columns per thread as TN / 4 runs of 4 adjacent columns. Needs L, N, the image's
   * pixel stride and offset and the output's stride and offset to be multiples of 4.
   */
  vec4?: boolean;
  /**
   * For N <= 4 columns (TN = N): threads side by side along M, each holding TM rows and all N
   * columns; A read as vec4 along the channels, B as the N vec4s that hold 4 channels' rows
   * (4 N consecutive floats). Needs L and the image's pixel stride and offset to be multiples of 4.
   */
  narrow?: boolean;
}

/** The tile's name in pipeline keys, labels and tuning records. */
export function tapTileName(t: TapTiling): string {
  return `tap${t.TM}.${t.TN}.${t.WG}${t.subgroup ? 's' : ''}${t.vec4 ? 'v' : ''}${t.narrow ? 'n' : ''}`;
}

/** Whether a tile is the tap GEMM's (else the shared-memory GEMM's). */
export const isTapTiling = (t: TapTiling | GemmTiling): t is TapTiling => 'WG' in t;

/** A tile of either GEMM as the tuners and tables name it. */
export function tilingName(t: TapTiling | GemmTiling): string {
  return isTapTiling(t) ? tapTileName(t) : `${t.TM}.${t.TN}.${t.WM}.${t.WN}.${t.BK}`;
}

/**
 * Where the rows of A come from. Row m = (n, ry, rx) of an RH x RW grid starts at
 * (y0, x0) = (ry*SY - PY, rx*SX - PX) of an IH x IW image whose pixels are PIX floats
 * apart (from float AOFF); tap (ky, kx) of a KH x KW window reads its L floats at
 * (y0 + ky*DY, x0 + kx*DX), or zeros outside the image. A dense matrix is the 1x1 case.
 */
export interface TapRows {
  RH: number;
  RW: number;
  IH: number;
  IW: number;
  PIX: number;
  AOFF: number;
  SY: number;
  SX: number;
  PY: number;
  PX: number;
  KH: number;
  KW: number;
  DY: number;
  DX: number;
}

/** Rows of a dense row-major matrix with `stride` floats per row, starting at column `offset`. */
export function denseRows(stride: number, offset = 0): TapRows {
  return { RH: 1, RW: 1, IH: 1, IW: 1, PIX: stride, AOFF: offset, SY: 0, SX: 0, PY: 0, PX: 0, KH: 1, KW: 1, DY: 0, DX: 0 };
}

export type TapEpilogue = 'none' | 'bias' | 'biasRelu';

export interface TapGemmSpec {
  M: number;
  N: number;
  /** Run of A per tap: K = KH * KW * L. */
  L: number;
  rows: TapRows;
  /** Fused ReLU backward: A[m, k] counts only where in2 at the same index is > 0 (in2 = the ReLU's output). */
  maskA?: boolean;
  /**
   * B stored per tap as its transpose: B[t L + l, n] is float (t N + n) L + l of in1, so an HWIO
   * filter [taps, N = in channels, L = out channels] is the B of a backprop input read in place,
   * with no transposed copy. vec4 form only (it reads a 4x4 block as 4 vec4s and transposes it
   * in registers); the other forms need B row-major.
   */
  bTransposed?: boolean;
  /** 'bias': out = v + in2[n]; 'biasRelu': max(v + in2[n], 0) (as select, so NaN becomes 0). */
  epilogue?: TapEpilogue;
  /** C[m, n] goes to out[m * outStride + outOffset + n]; default outStride = N, outOffset = 0. */
  outStride?: number;
  outOffset?: number;
  /** Add to what out holds instead of overwriting it (a later K block of a blocked matmul). */
  accumulate?: boolean;
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
    if (d?.subgroup && tapTilingFits(s, d, subgroupSize)) return { TM: s.M, TN: 4, WG: d.WG, subgroup: true };
    const v: TapTiling = { TM: s.M, TN: 4, WG: 64, vec4: true };
    return d?.vec4 && tapTilingFits(s, v, subgroupSize) ? v : { TM: s.M, TN: 4, WG: 64 };
  }
  const d = tunedTapDefault();
  // an adapter whose default is the vec4 form: a GEMM of 1-4 columns on the narrow form (threads along M)
  if (d?.vec4 && s.N <= 4) {
    const n: TapTiling = { TM: 4, TN: s.N, WG: 16, narrow: true };
    if (tapTilingFits(s, n, subgroupSize)) return n;
  }
  // (one column per thread: 16 rows ran as fast as 32 on lavapipe's dense backward input and compile in 0.6 s instead of 1.6 s)
  if (d && tapTilingFits(s, d, subgroupSize)) {
    if (s.N <= d.WG && !d.vec4) return { ...d, TM: Math.max(d.TM, 16), TN: 1 };
    if (!smallConvolution(s)) return d;
  }
  return s.N <= 8 ? { TM: 16, TN: 1, WG: 8 } : { TM: 8, TN: 8, WG: 8 };
}

/**
 * Below this many flops, a convolution without a tuned entry takes the 8x8 loop tile rather
 * than the adapter's default: it runs in a few milliseconds on any tile, and the loop tile is
 * the one a first layer on RGB input (3 channels, no subgroup form) compiles anyway, where the
 * default (lavapipe's 16x4 subgroup tile) is one more compile of 2-12 s. A small model (the
 * 50x50 cats-vs-dogs convnet, whose largest convolution is 1.6e7 flops) then compiles one
 * convolution pipeline instead of two. No VGG16 convolution at 224 is under it (the smallest,
 * block1_conv1, is 1.7e8 and takes the loop tile anyway).
 */
export const SMALL_CONV_FLOPS = 5e7;

function smallConvolution(s: TapGemmSpec): boolean {
  const dense = s.rows.RH === 1 && s.rows.RW === 1;
  return !dense && 2 * s.M * s.N * s.L * s.rows.KH * s.rows.KW < SMALL_CONV_FLOPS;
}

/** Whether a tile can run this GEMM on this device. */
export function tapTilingFits(s: { L: number; N?: number; rows?: TapRows; outStride?: number; outOffset?: number; bTransposed?: boolean }, t: TapTiling, subgroupSize: number | undefined): boolean {
  if (t.narrow) {
    const four = (v: number | undefined) => v === undefined || v % 4 === 0;
    return !t.subgroup && !t.vec4 && s.N === t.TN && t.TN <= 4 && s.L % 4 === 0 && s.rows !== undefined && four(s.rows.PIX) && four(s.rows.AOFF);
  }
  if (s.bTransposed && !t.vec4) return false;
  if (t.vec4) {
    const four = (v: number | undefined) => v === undefined || v % 4 === 0;
    return !t.subgroup && t.TN % 4 === 0 && s.L % 4 === 0 && s.N !== undefined && four(s.N) && s.rows !== undefined && four(s.rows.PIX) && four(s.rows.AOFF) && four(s.outStride) && four(s.outOffset);
  }
  return !t.subgroup || (t.WG === subgroupSize && s.L % t.WG === 0);
}

export function tapTilingOf(s: TapGemmSpec, key: string | undefined, subgroupSize: number | undefined): TapTiling {
  const tuned = s.tiling ?? (key ? tunedTapTiling(key) : undefined);
  return tuned && tapTilingFits(s, tuned, subgroupSize) ? tuned : defaultTapTiling(s, subgroupSize);
}

const MAX_GRID = 65535;

export function grid(s: TapGemmSpec, t: TapTiling): [number, number, number] {
  if (t.narrow) {
    const tiles = Math.ceil(s.M / (t.TM * t.WG));
    return [1, Math.min(tiles, MAX_GRID), Math.ceil(tiles / MAX_GRID)];
  }
  const rowTiles = Math.ceil(s.M / t.TM);
  return [Math.ceil(s.N / (t.TN * t.WG)), Math.min(rowTiles, MAX_GRID), Math.ceil(rowTiles / MAX_GRID)];
}

const range = (n: number) => [...Array(n).keys()];

/** Uniform words, in this order (signed values as two's complement). */
const WORDS = ['M', 'N', 'L', 'KH', 'KW', 'RH', 'RW', 'IH', 'IW', 'PIX', 'AOFF', 'SY', 'SX', 'PY', 'PX', 'DY', 'DX', 'OSTRIDE', 'OOFF', 'ACC'] as const;
const SIGNED = new Set(['IH', 'IW', 'PIX', 'AOFF', 'SY', 'SX', 'PY', 'PX', 'DY', 'DX']);

export function tapParams(s: TapGemmSpec): ArrayBuffer {
  const r = s.rows;
  const v: Record<(typeof WORDS)[number], number> = {
    M: s.M, N: s.N, L: s.L, ...r, OSTRIDE: s.outStride ?? s.N, OOFF: s.outOffset ?? 0, ACC: s.accumulate ? 1 : 0,
  };
  return packParams(WORDS.map((w) => v[w]));
}

function header(s: { maskA?: boolean }, t: TapTiling, nInputs: number): string {
  const params = WORDS.map((w, i) => `let ${w} = ${SIGNED.has(w) ? `i32(P(${i}u))` : `P(${i}u)`};`).join(' ');
  return `${t.subgroup ? 'enable subgroups;\n' : ''}${bindings(nInputs, WORDS.length)}
fn loadA(i: u32, live: bool) -> f32 { return select(0.0, in0[i], live${s.maskA ? ' && in2[i] > 0.0' : ''}); }
fn store(m: u32, n: u32, v: f32, OSTRIDE: u32, OOFF: u32, ACC: u32) {
  let i = m * OSTRIDE + OOFF + n;
  STORE
}
PARAMS ${params}`;
}

function storeStatement(e: TapEpilogue): string {
  if (e === 'bias') return 'out[i] = v + in2[n];';
  if (e === 'biasRelu') return 'let z = v + in2[n]; out[i] = select(0.0, z, z > 0.0);';
  return 'if (ACC != 0u) { out[i] = out[i] + v; } else { out[i] = v; }';
}

/**
 * The grid position (nb, ry, rx) of the tile's first row (two divisions per thread); each
 * later row steps one to the right, wrapping into the next grid row and image, so a row
 * costs a few selects instead of three divisions (and the compiler less code). Rows past
 * M repeat the last one (they are computed, never stored).
 */
const FIRST_ROW = `let q0 = min(m0, M - 1u); let rq = q0 / RW; var rx = i32(q0 - rq * RW); var ry = i32(rq % RH); var nb = i32(rq / RH);`;
const nextRow = (i: string) =>
  `{ rx += select(0i, 1i, ${i} < M); let wx = rx == i32(RW); rx = select(rx, 0i, wx); ry += select(0i, 1i, wx); let wy = ry == i32(RH); ry = select(ry, 0i, wy); nb += select(0i, 1i, wy); }`;
/** Origin (y0, x0) of the current row and the index of its first float in the image, b0. */
function rowOrigin(i: string): string {
  return `let y0${i} = ry * SY - PY; let x0${i} = rx * SX - PX; let b0${i} = ((nb * IH + y0${i}) * IW + x0${i}) * PIX + AOFF;`;
}

/** Loop form: accumulators in a private array (loops short enough to be unrolled by the compiler). */
function loopSource(s: { maskA?: boolean }, e: TapEpilogue, t: TapTiling, nInputs: number): string {
  const { TM, TN, WG } = t;
  const [head, params] = header(s, t, nInputs).split('PARAMS ');
  return `${head.replace('STORE', storeStatement(e))}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  ${params}
  let m0 = (wid.z * ${MAX_GRID}u + wid.y) * ${TM}u;
  let n0 = wid.x * ${TN * WG}u + lid.x;
  var col: array<u32, ${TN}>;
  for (var j = 0u; j < ${TN}u; j++) { col[j] = min(n0 + j * ${WG}u, N - 1u); }
  var y0: array<i32, ${TM}>;
  var x0: array<i32, ${TM}>;
  var b0: array<i32, ${TM}>;
  ${FIRST_ROW}
  for (var i = 0u; i < ${TM}u; i++) {
    if (i > 0u) ${nextRow('m0 + i')}
    ${rowOrigin('r')}
    y0[i] = y0r; x0[i] = x0r; b0[i] = b0r;
  }
  var acc: array<f32, ${TM * TN}>;
  var brow = 0u;
  for (var ky = 0i; ky < i32(KH); ky++) {
    for (var kx = 0i; kx < i32(KW); kx++) {
      let ty = ky * DY; let tx = kx * DX; let toff = (ty * IW + tx) * PIX;
      var base: array<u32, ${TM}>;
      var live: array<bool, ${TM}>;
      for (var i = 0u; i < ${TM}u; i++) {
        live[i] = u32(y0[i] + ty) < u32(IH) && u32(x0[i] + tx) < u32(IW);
        base[i] = u32(max(b0[i] + toff, 0));
      }
      for (var c = 0u; c < L; c++) {
        var b: array<f32, ${TN}>;
        for (var j = 0u; j < ${TN}u; j++) { b[j] = in1[brow + c * N + col[j]]; }
        for (var i = 0u; i < ${TM}u; i++) {
          let a = loadA(base[i] + c, live[i]);
          for (var j = 0u; j < ${TN}u; j++) { acc[i * ${TN}u + j] += a * b[j]; }
        }
      }
      brow += L * N;
    }
  }
  for (var i = 0u; i < ${TM}u; i++) {
    let m = m0 + i;
    if (m >= M) { break; }
    for (var j = 0u; j < ${TN}u; j++) {
      let n = n0 + j * ${WG}u;
      if (n >= N) { break; }
      store(m, n, acc[i * ${TN}u + j], OSTRIDE, u32(OOFF), ACC);
    }
  }
}`;
}

/** Subgroup form: thread s reads channel c0 + s of every row, the subgroup shares them (subgroupShuffle). */
function subgroupSource(s: { maskA?: boolean }, e: TapEpilogue, t: TapTiling, nInputs: number): string {
  const { TM, TN, WG } = t;
  const rows = range(TM);
  const cols = range(TN);
  // one loop over the subgroup's lanes, each lane's A values taken by subgroupShuffle: the
  // same sums in the same order as the 8 steps written out with subgroupBroadcast (the first
  // version), and on lavapipe both faster to compile (16x4: 3.1 s against 4.8-5.1 s with an
  // empty Mesa cache) and faster to run (224x224x64->64: 296-438 ms against 517-779 ms)
  const step = `for (var cc = 0u; cc < ${WG}u; cc++) {
        ${cols.map((j) => `let b${j} = in1[brow + (c0 + cc) * N + col${j}];`).join(' ')}
        ${rows.map((i) => `{ let a = subgroupShuffle(av${i}, cc); ${cols.map((j) => `acc${i}_${j} += a * b${j};`).join(' ')} }`).join('\n        ')}
      }`;
  const [head, params] = header(s, t, nInputs).split('PARAMS ');
  return `${head.replace('STORE', storeStatement(e))}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  ${params}
  let m0 = (wid.z * ${MAX_GRID}u + wid.y) * ${TM}u;
  let n0 = wid.x * ${TN * WG}u + lid.x;
  ${cols.map((j) => `let col${j} = min(n0 + ${j * WG}u, N - 1u);`).join(' ')}
  ${FIRST_ROW}
  ${rows.map((i) => `${i > 0 ? nextRow(`m0 + ${i}u`) : ''} ${rowOrigin(`${i}`)}`).join('\n  ')}
  ${rows.map((i) => cols.map((j) => `var acc${i}_${j} = 0.0;`).join(' ')).join('\n  ')}
  var brow = 0u;
  for (var ky = 0i; ky < i32(KH); ky++) {
    for (var kx = 0i; kx < i32(KW); kx++) {
      let ty = ky * DY; let tx = kx * DX; let toff = (ty * IW + tx) * PIX + i32(lane);
      ${rows.map((i) => `let live${i} = u32(y0${i} + ty) < u32(IH) && u32(x0${i} + tx) < u32(IW); let base${i} = u32(max(b0${i} + toff, 0));`).join('\n      ')}
      for (var c0 = 0u; c0 < L; c0 += ${WG}u) {
        ${rows.map((i) => `let av${i} = loadA(base${i} + c0, live${i});`).join(' ')}
        ${step}
      }
      brow += L * N;
    }
  }
  ${rows
    .map(
      (i) => `if (m0 + ${i}u < M) {
    ${cols.map((j) => `if (n0 + ${j * WG}u < N) { store(m0 + ${i}u, n0 + ${j * WG}u, acc${i}_${j}, OSTRIDE, u32(OOFF), ACC); }`).join('\n    ')}
  }`,
    )
    .join('\n  ')}
}`;
}

/**
 * vec4 form, written out: each thread holds TM rows and TN / 4 runs of 4 adjacent columns
 * (runs x, x + WG, ... in units of 4 columns), as vec4 accumulators. Per step of 4 channels
 * it reads one vec4 of A per row and 4 vec4s of B per run, and does 16 multiply-adds per
 * (row, run). For adapters where every buffer access is costly whatever its width
 * (Chromium's SwiftShader, a CPU JIT: a read is a per-lane gather with a bounds check),
 * this is a quarter of the accesses of the loop form; and no private arrays are indexed
 * by loop counters (SwiftShader keeps those in memory).
 */
function vec4Source(s: { maskA?: boolean; bTransposed?: boolean }, e: TapEpilogue, t: TapTiling, nInputs: number): string {
  const { TM, TN, WG } = t;
  const rows = range(TM);
  const runs = range(TN / 4);
  const decls = [...range(nInputs).map((i) => `@group(0) @binding(${i}) var<storage, read> in${i}: array<vec4<f32>>;`), `@group(0) @binding(${nInputs}) var<storage, read_write> out: array<vec4<f32>>;`].join('\n');
  const params = WORDS.map((w, i) => `let ${w} = ${SIGNED.has(w) ? `i32(P(${i}u))` : `P(${i}u)`};`).join(' ');
  const z = 'vec4<f32>(0.0)';
  const store =
    e === 'bias'
      ? 'out[i] = v + in2[n4];'
      : e === 'biasRelu'
        ? `let z = v + in2[n4]; out[i] = select(${z}, z, z > ${z});`
        : 'if (ACC != 0u) { out[i] = out[i] + v; } else { out[i] = v; }';
  const loadA = s.maskA ? `return select(${z}, select(${z}, in0[i], in2[i] > ${z}), live);` : `return select(${z}, in0[i], live);`;
  // a (rows) times the 4 B rows of run j: acc += a.x * b0 + a.y * b1 + a.z * b2 + a.w * b3
  // (multiply, then add, in channel order: the sums of the other forms, so a tile changes timings, not results)
  const mac = (i: number, j: number) => `acc${i}_${j} = (((acc${i}_${j} + a${i}.x * b0_${j}) + a${i}.y * b1_${j}) + a${i}.z * b2_${j}) + a${i}.w * b3_${j};`;
  const comp = ['x', 'y', 'z', 'w'];
  // B row-major: the 4 rows of run j are 4 vec4s N4 apart. B transposed (the filter in place): run j's
  // 4 columns are 4 vec4s L4 apart, w_i = B[k..k+3, col + i], and row k of the block is (w0[k], w1[k], w2[k], w3[k])
  const loadB = (j: number) =>
    s.bTransposed
      ? `${range(4).map((i) => `let w${i}_${j} = in1[r0 + cb${j} + ${i}u * L4];`).join(' ')}
        ${range(4).map((k) => `let b${k}_${j} = vec4<f32>(${range(4).map((i) => `w${i}_${j}.${comp[k]}`).join(', ')});`).join(' ')}`
      : range(4).map((k) => `let b${k}_${j} = in1[r0 + ${k}u * N4 + col${j}];`).join(' ');
  return `${decls}
struct Params { p: array<vec4<u32>, ${Math.ceil(WORDS.length / 4)}> };
@group(0) @binding(${nInputs + 1}) var<uniform> u: Params;
fn P(i: u32) -> u32 { return u.p[i / 4u][i % 4u]; }
fn loadA(i: u32, live: bool) -> vec4<f32> { ${loadA} }
fn store(m: u32, n4: u32, v: vec4<f32>, OSTRIDE: u32, OOFF: u32, ACC: u32) {
  let i = (m * OSTRIDE + OOFF) / 4u + n4;
  ${store}
}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  ${params}
  let m0 = (wid.z * ${MAX_GRID}u + wid.y) * ${TM}u;
  let g0 = wid.x * ${(TN / 4) * WG}u + lid.x;
  let N4 = N / 4u;
  ${runs.map((j) => `let col${j} = min(g0 + ${j * WG}u, N4 - 1u);`).join(' ')}${s.bTransposed ? `\n  let L4 = L / 4u; ${runs.map((j) => `let cb${j} = col${j} * 4u * L4;`).join(' ')}` : ''}
  ${FIRST_ROW}
  ${rows.map((i) => `${i > 0 ? nextRow(`m0 + ${i}u`) : ''} ${rowOrigin(`${i}`)}`).join('\n  ')}
  ${rows.map((i) => runs.map((j) => `var acc${i}_${j} = ${z};`).join(' ')).join('\n  ')}
  var brow = 0u;
  for (var ky = 0i; ky < i32(KH); ky++) {
    for (var kx = 0i; kx < i32(KW); kx++) {
      let ty = ky * DY; let tx = kx * DX; let toff = (ty * IW + tx) * PIX;
      ${rows.map((i) => `let live${i} = u32(y0${i} + ty) < u32(IH) && u32(x0${i} + tx) < u32(IW); let base${i} = u32(max(b0${i} + toff, 0)) / 4u;`).join('\n      ')}
      var r0 = brow / 4u;
      for (var c4 = 0u; c4 < L / 4u; c4++) {
        ${rows.map((i) => `let a${i} = loadA(base${i} + c4, live${i});`).join(' ')}
        ${runs.map(loadB).join('\n        ')}
        ${rows.map((i) => runs.map((j) => mac(i, j)).join(' ')).join('\n        ')}
        r0 += ${s.bTransposed ? '1u' : 'N'};
      }
      brow += L * N;
    }
  }
  ${rows
    .map(
      (i) => `if (m0 + ${i}u < M) {
    ${runs.map((j) => `if (g0 + ${j * WG}u < N4) { store(m0 + ${i}u, g0 + ${j * WG}u, acc${i}_${j}, OSTRIDE, u32(OOFF), ACC); }`).join('\n    ')}
  }`,
    )
    .join('\n  ')}
}`;
}

/**
 * Narrow form (N = TN <= 4 columns, e.g. the backprop input of a first layer on RGB): thread x of
 * workgroup w holds rows (w WG + x) TM ... + TM - 1 and every column. Per step of 4 channels it
 * reads one vec4 of A per row and the TN vec4s holding B's next 4 rows (4 TN consecutive floats:
 * B[c + k, n] is float k TN + n of them), and does 4 TN multiply-adds per row.
 */
function narrowSource(s: { maskA?: boolean }, e: TapEpilogue, t: TapTiling, nInputs: number): string {
  const { TM, TN, WG } = t;
  const rows = range(TM);
  const cols = range(TN);
  const decls = [
    `@group(0) @binding(0) var<storage, read> in0: array<vec4<f32>>;`,
    `@group(0) @binding(1) var<storage, read> in1: array<vec4<f32>>;`,
    ...range(nInputs - 2).map((i) => `@group(0) @binding(${i + 2}) var<storage, read> in${i + 2}: array<${s.maskA ? 'vec4<f32>' : 'f32'}>;`),
    `@group(0) @binding(${nInputs}) var<storage, read_write> out: array<f32>;`,
  ].join('\n');
  const params = WORDS.map((w, i) => `let ${w} = ${SIGNED.has(w) ? `i32(P(${i}u))` : `P(${i}u)`};`).join(' ');
  const z = 'vec4<f32>(0.0)';
  const loadA = s.maskA ? `return select(${z}, select(${z}, in0[i], in2[i] > ${z}), live);` : `return select(${z}, in0[i], live);`;
  const comp = ['x', 'y', 'z', 'w'];
  const bAt = (k: number, n: number) => `b${Math.floor((k * TN + n) / 4)}.${comp[(k * TN + n) % 4]}`;
  const mac = (i: number, n: number) => `acc${i}_${n} = (((acc${i}_${n} + a${i}.x * ${bAt(0, n)}) + a${i}.y * ${bAt(1, n)}) + a${i}.z * ${bAt(2, n)}) + a${i}.w * ${bAt(3, n)};`;
  return `${decls}
struct Params { p: array<vec4<u32>, ${Math.ceil(WORDS.length / 4)}> };
@group(0) @binding(${nInputs + 1}) var<uniform> u: Params;
fn P(i: u32) -> u32 { return u.p[i / 4u][i % 4u]; }
fn loadA(i: u32, live: bool) -> vec4<f32> { ${loadA} }
fn store(m: u32, n: u32, v: f32, OSTRIDE: u32, OOFF: u32, ACC: u32) {
  let i = m * OSTRIDE + OOFF + n;
  ${storeStatement(e)}
}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  ${params}
  let m0 = ((wid.z * ${MAX_GRID}u + wid.y) * ${WG}u + lid.x) * ${TM}u;
  ${FIRST_ROW}
  ${rows.map((i) => `${i > 0 ? nextRow(`m0 + ${i}u`) : ''} ${rowOrigin(`${i}`)}`).join('\n  ')}
  ${rows.map((i) => cols.map((n) => `var acc${i}_${n} = 0.0;`).join(' ')).join('\n  ')}
  var brow = 0u;
  for (var ky = 0i; ky < i32(KH); ky++) {
    for (var kx = 0i; kx < i32(KW); kx++) {
      let ty = ky * DY; let tx = kx * DX; let toff = (ty * IW + tx) * PIX;
      ${rows.map((i) => `let live${i} = u32(y0${i} + ty) < u32(IH) && u32(x0${i} + tx) < u32(IW); let base${i} = u32(max(b0${i} + toff, 0)) / 4u;`).join('\n      ')}
      var r0 = brow / 4u;
      for (var c4 = 0u; c4 < L / 4u; c4++) {
        ${rows.map((i) => `let a${i} = loadA(base${i} + c4, live${i});`).join(' ')}
        ${cols.map((q) => `let b${q} = in1[r0 + ${q}u];`).join(' ')}
        ${rows.map((i) => cols.map((n) => mac(i, n)).join(' ')).join('\n        ')}
        r0 += ${TN}u;
      }
      brow += L * N;
    }
  }
  ${rows.map((i) => `if (m0 + ${i}u < M) { ${cols.map((n) => `store(m0 + ${i}u, ${n}u, acc${i}_${n}, OSTRIDE, u32(OOFF), ACC);`).join(' ')} }`).join('\n  ')}
}`;
}

/** The WGSL of one tap-GEMM pipeline: it depends only on the tile, the epilogue and the mask, never on sizes. */
export function tapGemmSource(s: { maskA?: boolean; epilogue?: TapEpilogue; bTransposed?: boolean }, t: TapTiling, nInputs: number): string {
  const e = s.epilogue ?? 'none';
  if (t.narrow) return narrowSource(s, e, t, nInputs);
  if (s.bTransposed && !t.vec4) throw new Error(`tap GEMM: a transposed B (the filter of a backprop input read in place) needs the vec4 form, not tile ${tapTileName(t)}`);
  if (t.vec4) return vec4Source(s, e, t, nInputs);
  return t.subgroup ? subgroupSource(s, e, t, nInputs) : loopSource(s, e, t, nInputs);
}

/** The pipeline cache key of a tap GEMM: family, epilogue, mask, tile. */
export function tapPipelineKey(s: { maskA?: boolean; epilogue?: TapEpilogue; bTransposed?: boolean }, t: TapTiling, nInputs: number): string {
  return `tapgemm:${s.epilogue ?? 'none'}${s.maskA ? ':mask' : ''}${s.bTransposed ? ':bT' : ''}:${nInputs}|${tapTileName(t)}`;
}

/**
 * The dispatch of a tap GEMM. Inputs: in0 = A's source, in1 = B, then (with maskA) in2 =
 * the mask source, or (with a bias epilogue) in2 = the bias. `key` names kernel and
 * shape (the tuning table entry, and the label profiles and the tuner see); `variant`
 * tells apart kernels that share it (a fused store, a mask).
 */
export function makeTapGemm(
  backend: WebGPUBackend,
  key: string,
  spec: TapGemmSpec,
  inputs: GPUBuffer[],
  output: GPUBuffer,
  outputBytes: number,
  variant = '',
  inputRanges?: ({ offset: number; size: number } | undefined)[],
): Dispatch {
  const t = tapTilingOf(spec, key, backend.ctx.subgroupSize);
  const tile = tapTileName(t);
  return {
    key: tapPipelineKey(spec, t, inputs.length),
    label: `${key}${variant ? `+${variant}` : ''}|${tile}`,
    source: () => tapGemmSource(spec, t, inputs.length),
    inputs,
    inputRanges,
    output,
    outputBytes,
    uniforms: tapParams(spec),
    workgroups: grid(spec, t),
  };
}

/** The tile a tap GEMM runs with on this backend now (tuned, default or given). */
export function currentTapTiling(backend: WebGPUBackend, key: string, spec: TapGemmSpec): TapTiling {
  return tapTilingOf(spec, key, backend.ctx.subgroupSize);
}

export function dispatchTapGemm(
  backend: WebGPUBackend,
  key: string,
  spec: TapGemmSpec,
  inputs: GPUBuffer[],
  output: GPUBuffer,
  outputBytes: number,
  variant = '',
  inputRanges?: ({ offset: number; size: number } | undefined)[],
  tune?: TuneHook,
): void {
  backend.dispatch({ ...makeTapGemm(backend, key, spec, inputs, output, outputBytes, variant, inputRanges), tune });
}
