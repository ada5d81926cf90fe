import { registerKernel } from '../../engine/kernel_registry.ts';
import type { TuneHook, WebGPUBackend } from './backend.ts';
import { dispatchGemm, type GemmSpec, type GemmTiling, makeGemm, tilingOf } from './gemm.ts';
import { bindings, bufferOf, newOutput, packParams } from './program.ts';
import { currentTapTiling, denseRows, dispatchTapGemm, makeTapGemm, type TapGemmSpec, type TapTiling, tapTilingFits } from './tap_gemm.ts';
import { TILING_CANDIDATES, usesTapGemm } from './tuning.ts';

/** What the first-use tuner may try for a tap-GEMM matmul: the given tiles that fit. */
function tapHook(
  g: WebGPUBackend,
  key: string,
  flops: number,
  spec: TapGemmSpec,
  tiles: TapTiling[],
  inputs: GPUBuffer[],
  out: GPUBuffer,
  bytes: number,
  ranges?: ({ offset: number; size: number } | undefined)[],
): TuneHook {
  return {
    key,
    flops,
    tiles,
    make: (t) => ('WG' in t && tapTilingFits(spec, t, g.ctx.subgroupSize) ? makeTapGemm(g, key, { ...spec, tiling: t }, inputs, out, bytes, '', ranges) : undefined),
  };
}

/**
 * K of at most SMALL_K (a Dense layer's kernel gradient on a batch of 1-4: an outer product):
 * one thread per 4 outputs of a row, each summing its K products in order. The GEMM's tiles
 * load K in steps of 8-32 and so waste most of each step here (VGG16 fc2's 4096x1 * 1x4096,
 * lavapipe: 439 ms on the shared-memory tile).
 */
const SMALL_K = 4;
const SMALL_K_WGSL = `${bindings(2, 5)}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let M = P(0u); let N = P(1u); let K = P(2u); let tA = P(3u) == 1u; let tB = P(4u) == 1u;
  let m = wid.y + wid.z * 65535u;
  let n0 = (wid.x * 64u + lid) * 4u;
  if (m >= M || n0 >= N) { return; }
  for (var n = n0; n < min(n0 + 4u, N); n++) {
    var s = 0.0;
    for (var k = 0u; k < K; k++) {
      s += in0[select(m * K + k, k * M + m, tA)] * in1[select(k * N + n, n * K + k, tB)];
    }
    out[m * N + n] = s;
  }
}`;

/**
 * C = op(A) op(B) on the GEMM template. A B larger than the adapter's storage-binding
 * limit (VGG16's fc1 kernel is 392 MiB; lavapipe binds at most 128 MiB) is bound in
 * row blocks: without transpose its rows are K, so C accumulates one K block at a
 * time; transposed, its rows are N, so each block writes its own columns of C.
 */
registerKernel('matmul', 'webgpu', ({ a, b }, attrs, backend) => {
  const g = backend as WebGPUBackend;
  const tA = attrs.transposeA as boolean;
  const tB = attrs.transposeB as boolean;
  const [M, K] = tA ? [a.shape[1], a.shape[0]] : [a.shape[0], a.shape[1]];
  const N = tB ? b.shape[0] : b.shape[1];
  const { out, buf, size, bytes } = newOutput(backend, [M, N]);
  if (size === 0) return out;
  const limit = g.limits.maxStorageBufferBindingSize;
  if (a.shape[0] * a.shape[1] * 4 > limit) {
    throw new Error(`matmul: operand A [${a.shape.join(',')}] exceeds this adapter's storage binding limit (${limit} bytes)`);
  }
  const rowFloats = tB ? K : N; // floats per row of B as stored
  const rowsOfB = b.shape[0];
  // rows per block: a multiple of 64 so every block starts on a 256-byte boundary
  const maxRows = Math.max(64, Math.floor(limit / (rowFloats * 4) / 64) * 64);
  const alignment = g.limits.minStorageBufferOffsetAlignment;
  if (rowsOfB > maxRows && (maxRows * rowFloats * 4) % alignment !== 0) {
    throw new Error(`matmul: cannot split B [${b.shape.join(',')}] on this adapter's ${alignment}-byte binding alignment`);
  }
  const bBuf = bufferOf(b);
  if (K <= SMALL_K && rowsOfB <= maxRows) {
    g.dispatch({
      key: 'matmul-small-k',
      label: `matmul-small-k:${M},${N},${K},${tA},${tB}`,
      source: () => SMALL_K_WGSL,
      uniforms: packParams([M, N, K, tA ? 1 : 0, tB ? 1 : 0]),
      inputs: [bufferOf(a), bBuf],
      output: buf,
      outputBytes: bytes,
      workgroups: [Math.ceil(N / 256), Math.min(M, 65535), Math.ceil(M / 65535)],
    });
    return out;
  }
  const S = g.ctx.subgroupSize;
  for (let r0 = 0; r0 < rowsOfB; r0 += maxRows) {
    const rows = Math.min(maxRows, rowsOfB - r0);
    const first = r0 === 0;
    // This block covers k in [r0, r0+rows) (no transpose) or n in [r0, r0+rows) (transposed).
    // sizes, the block's offset and the full sizes as uniforms: one pipeline per (transposes, block kind, tile)
    const spec: GemmSpec = tB
      ? {
          M, N: rows, K,
          values: { NFULL: N, R0: r0 },
          loadA: tA ? 'return in0[k * M() + m];' : 'return in0[m * K() + k];',
          loadB: 'return in1[n * K() + k];',
          aKContiguous: !tA,
          bNContiguous: false,
          store: 'out[m * NFULL() + R0() + n] = v;',
          family: `matmul:${tA}:true`,
        }
      : {
          M, N, K: rows,
          values: { KFULL: K, R0: r0 },
          loadA: tA ? 'return in0[(k + R0()) * M() + m];' : 'return in0[m * KFULL() + k + R0()];',
          loadB: 'return in1[k * N() + n];',
          aKContiguous: !tA,
          bNContiguous: true,
          store: first ? 'out[m * N + n] = v;' : 'out[m * N + n] += v;',
          family: `matmul:${tA}:false:${first}`,
        };
    const keyParts = [M, N, K, tA, tB, rows, rowsOfB > maxRows ? r0 : 0, first];
    const ranges = rowsOfB > maxRows ? [undefined, { offset: r0 * rowFloats * 4, size: rows * rowFloats * 4 }] : undefined;
    const tap = usesTapGemm(`matmul-rows:${keyParts.join(':')}`);
    if (tap && !tA && tB && M === 1) {
      // one row times Bᵀ (the input gradient of a Dense layer): C ᵀ = B aᵀ, a tap GEMM whose rows
      // are this block's rows of B (read once each, shared across the subgroup) and whose one column is a
      const dot: TapGemmSpec = { M: rows, N: 1, L: K, rows: denseRows(K), outStride: 1, outOffset: r0 };
      const swapped = ranges ? [ranges[1], undefined] : undefined;
      const k = `matmul-dot:${keyParts.join(':')}`;
      const ins = [bBuf, bufferOf(a)];
      const tiles = [currentTapTiling(g, k, dot), ...[8, 16, 32].map((TM) => ({ TM, TN: 1, WG: S ?? 8, subgroup: !!S })), { TM: 16, TN: 1, WG: 8 }, { TM: 32, TN: 1, WG: 8 }];
      dispatchTapGemm(g, k, dot, ins, buf, bytes, '', swapped, tapHook(g, k, 2 * rows * K, dot, tiles, ins, buf, bytes, swapped));
      continue;
    }
    if (tap && !tA && !tB && M <= 4) {
      // a few rows of A times B (a Dense layer on one image): the tap GEMM with one "tap" that
      // runs along this block's K, each thread reading its own columns of B once
      const row: TapGemmSpec = { M, N, L: rows, rows: denseRows(K, r0), accumulate: !first };
      const k = `matmul-rows:${keyParts.join(':')}`;
      const ins = [bufferOf(a), bBuf];
      const tiles = [currentTapTiling(g, k, row), ...(S ? [1, 2, 4, 8].map((TN) => ({ TM: M, TN, WG: S, subgroup: true })) : []), { TM: M, TN: 4, WG: 64 }, { TM: M, TN: 2, WG: 64 }];
      dispatchTapGemm(g, k, row, ins, buf, bytes, '', ranges, tapHook(g, k, 2 * M * N * rows, row, tiles, ins, buf, bytes, ranges));
      continue;
    }
    const k = `matmul:${keyParts.join(':')}`;
    const ins = [bufferOf(a), bBuf];
    const tune: TuneHook = {
      key: k,
      flops: 2 * spec.M * spec.N * spec.K,
      tiles: [tilingOf({ ...spec, tuningKey: k }), ...TILING_CANDIDATES],
      make: (t) => makeGemm(k, { ...spec, tiling: t as GemmTiling }, ins, buf, bytes, ranges),
    };
    dispatchGemm(g, k, spec, ins, buf, bytes, ranges, tune);
  }
  return out;
});
