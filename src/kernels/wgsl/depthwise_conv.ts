import { type ConvAttrs, type DepthwiseGeometry, depthwiseGeometry } from '../../engine/conv_geometry.ts';
import { registerKernel } from '../../engine/kernel_registry.ts';
import type { WebGPUBackend } from './backend.ts';
import { bindings, bufferOf, entry1d, newOutput, packParams, WG } from './program.ts';

/**
 * Depthwise convolution (x NHWC, filter [kH, kW, C, M], channel k = c*M + m) and both of its
 * gradients, each a direct kernel: no im2col, no GEMM (each output channel reads a single
 * input channel, so there is no reduction over channels to tile).
 *
 * The filter size, strides and dilations are baked into each shader (its tap loops are
 * unrolled); image sizes, channel counts and padding are uniforms, so every layer with a
 * 3x3 stride-1 kernel shares one pipeline whatever its resolution and width.
 *
 *   forward           each thread computes TX neighbouring output columns of one channel k;
 *                     per kernel row it loads the (TX-1)*sW + (kW-1)*dW + 1 input columns they
 *                     share once, and each filter tap once for all TX outputs.
 *   backprop input    stride 1: the same tile over dx, reading dy through the flipped filter
 *                     and summing over the M channels c*M + m that read input channel c.
 *                     stride > 1: only the taps a whole stride away contribute (ky = (iy + padTop)
 *                     mod sH, then every sH-th), like a transposed conv; a thread takes TX columns
 *                     a stride apart (one residue class, so the same taps) and reads TX
 *                     neighbouring dy columns per tap.
 *   backprop filter   a two-pass reduction over the batch and output positions: pass 1 gives
 *                     each thread one channel and a chunk of CHUNK consecutive positions and
 *                     accumulates all kH*kW taps of that channel in registers (dy read once per
 *                     position for every tap); pass 2 sums the chunks' partial filters in a fixed
 *                     order. Deterministic, no atomics, and the positions are spread over
 *                     ceil(positions / CHUNK) x C*M threads instead of one thread per weight.
 */

const TX = 4;
const CHUNK = 32;

// uniform words shared by the three kernels
const UNIFORMS = 13;
function params(g: DepthwiseGeometry, colBlocks: number, chunks = 0): ArrayBuffer {
  const positions = g.batch * g.outH * g.outW;
  return packParams([g.batch, g.inH, g.inW, g.inC, g.multiplier, g.outH, g.outW, g.padTop, g.padLeft, g.outC, colBlocks, positions, chunks]);
}
const PRELUDE = (g: DepthwiseGeometry) => `const KH = ${g.kH}i; const KW = ${g.kW}i;
const SH = ${g.strideH}i; const SW = ${g.strideW}i; const DH = ${g.dilH}i; const DW = ${g.dilW}i;
fn NB() -> u32 { return P(0u); }
fn IH() -> i32 { return i32(P(1u)); }
fn IW() -> i32 { return i32(P(2u)); }
fn C() -> u32 { return P(3u); }
fn M() -> u32 { return P(4u); }
fn OH() -> i32 { return i32(P(5u)); }
fn OW() -> i32 { return i32(P(6u)); }
fn PT() -> i32 { return i32(P(7u)); }
fn PL() -> i32 { return i32(P(8u)); }
fn CM() -> u32 { return P(9u); }
fn COLBLOCKS() -> u32 { return P(10u); }
fn POSITIONS() -> u32 { return P(11u); }
fn CHUNKS() -> u32 { return P(12u); }`;

const key = (op: string, g: DepthwiseGeometry) => `${op}:${g.kH}x${g.kW}:s${g.strideH},${g.strideW}:d${g.dilH},${g.dilW}`;
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

// y[n, oy, ox0 + t, k] = sum over (ky, kx) of x[n, oy*SH - PT + ky*DH, (ox0 + t)*SW - PL + kx*DW, k / M] * w[ky, kx, k]
function forwardSource(g: DepthwiseGeometry): string {
  const nCols = (TX - 1) * g.strideW + (g.kW - 1) * g.dilW + 1;
  const loads = range(nCols).map((j) => `let v${j} = ld(row, ix0 + ${j}i, c);`);
  const taps = range(g.kW).flatMap((kx) => [
    `let w${kx} = in1[u32(ky * KW + ${kx}i) * CM() + k];`,
    ...range(TX).map((t) => `a${t} += v${t * g.strideW + kx * g.dilW} * w${kx};`),
  ]);
  return `${PRELUDE(g)}
// x[n, iy, ix, c], 0 outside the image
fn ld(row: u32, ix: i32, c: u32) -> f32 {
  if (ix < 0 || ix >= IW()) { return 0.0; }
  return in0[(row + u32(ix)) * C() + c];
}
${entry1d(WG)}
  let k = gid % CM(); let s = gid / CM();
  let bx = s % COLBLOCKS(); let s2 = s / COLBLOCKS();
  let oy = i32(s2 % u32(OH())); let n = s2 / u32(OH());
  if (n >= NB()) { return; }
  let c = k / M();
  let ox0 = i32(bx) * ${TX}i;
  let ix0 = ox0 * SW - PL();
  ${range(TX).map((t) => `var a${t} = 0.0;`).join(' ')}
  for (var ky = 0i; ky < KH; ky++) {
    let iy = oy * SH - PT() + ky * DH;
    if (iy < 0 || iy >= IH()) { continue; }
    let row = (n * u32(IH()) + u32(iy)) * u32(IW());
    ${loads.join('\n    ')}
    ${taps.join('\n    ')}
  }
  let yRow = (n * u32(OH()) + u32(oy)) * u32(OW());
  ${range(TX).map((t) => `if (ox0 + ${t}i < OW()) { out[(yRow + u32(ox0 + ${t}i)) * CM() + k] = a${t}; }`).join('\n  ')}
}`;
}

// dx[n, iy, ix, c] = sum over (ky, kx, m) of dy[n, iy + PT - ky*DH, ix + PL - kx*DW, c*M + m] * w[ky, kx, c, m]  (stride 1)
function backpropInputTiledSource(g: DepthwiseGeometry): string {
  const span = (g.kW - 1) * g.dilW;
  const nCols = TX + span;
  const loads = range(nCols).map((j) => `let v${j} = ld(row, ox0 + ${j}i, ch);`);
  // tap kx of output column t reads dy column ix0 + t + PL - kx*DW = (ix0 + PL - span) + (t + span - kx*DW)
  const taps = range(g.kW).flatMap((kx) => [
    `let w${kx} = in1[u32(ky * KW + ${kx}i) * CM() + ch];`,
    ...range(TX).map((t) => `a${t} += v${t + span - kx * g.dilW} * w${kx};`),
  ]);
  return `${PRELUDE(g)}
// dy[n, oy, ox, ch], 0 outside the output
fn ld(row: u32, ox: i32, ch: u32) -> f32 {
  if (ox < 0 || ox >= OW()) { return 0.0; }
  return in0[(row + u32(ox)) * CM() + ch];
}
${entry1d(WG)}
  let c = gid % C(); let s = gid / C();
  let bx = s % COLBLOCKS(); let s2 = s / COLBLOCKS();
  let iy = i32(s2 % u32(IH())); let n = s2 / u32(IH());
  if (n >= NB()) { return; }
  let ix0 = i32(bx) * ${TX}i;
  let ox0 = ix0 + PL() - ${span}i;
  ${range(TX).map((t) => `var a${t} = 0.0;`).join(' ')}
  for (var ky = 0i; ky < KH; ky++) {
    let oy = iy + PT() - ky * DH;
    if (oy < 0 || oy >= OH()) { continue; }
    let row = (n * u32(OH()) + u32(oy)) * u32(OW());
    for (var m = 0u; m < M(); m++) {
      let ch = c * M() + m;
      ${loads.join('\n      ')}
      ${taps.join('\n      ')}
    }
  }
  let xRow = (n * u32(IH()) + u32(iy)) * u32(IW());
  ${range(TX).map((t) => `if (ix0 + ${t}i < IW()) { out[(xRow + u32(ix0 + ${t}i)) * C() + c] = a${t}; }`).join('\n  ')}
}`;
}

// the same sum for strides > 1 (then dilation is 1): only taps with (iy + PT - ky) a multiple of SH
// (and likewise for columns). A thread takes TX columns ix0 + SW*t of one residue class mod SW, which
// all use the same taps, and reads dy columns ox0(kx) + t for them.
function backpropInputStridedSource(g: DepthwiseGeometry): string {
  return `${PRELUDE(g)}
// dy[n, oy, ox, ch], 0 outside the output
fn ld(row: u32, ox: i32, ch: u32) -> f32 {
  if (ox < 0 || ox >= OW()) { return 0.0; }
  return in0[(row + u32(ox)) * CM() + ch];
}
${entry1d(WG)}
  let c = gid % C(); let s = gid / C();
  let b = s % COLBLOCKS(); let s2 = s / COLBLOCKS();
  let iy = i32(s2 % u32(IH())); let n = s2 / u32(IH());
  let ix0 = i32(b % ${g.strideW}u) + SW * ${TX}i * i32(b / ${g.strideW}u);
  if (n >= NB() || ix0 >= IW()) { return; }
  ${range(TX).map((t) => `var a${t} = 0.0;`).join(' ')}
  for (var ky = (iy + PT()) % SH; ky < KH; ky += SH) {
    let ty = iy + PT() - ky * DH;
    if (ty < 0) { break; }
    let oy = ty / SH;
    if (oy >= OH()) { continue; }
    let row = (n * u32(OH()) + u32(oy)) * u32(OW());
    for (var kx = (ix0 + PL()) % SW; kx < KW; kx += SW) {
      // a whole multiple of SW, so the division is exact for negative values too
      let ox0 = (ix0 + PL() - kx * DW) / SW;
      for (var m = 0u; m < M(); m++) {
        let ch = c * M() + m;
        let w = in1[u32(ky * KW + kx) * CM() + ch];
        ${range(TX).map((t) => `a${t} += ld(row, ox0 + ${t}i, ch) * w;`).join('\n        ')}
      }
    }
  }
  let xRow = (n * u32(IH()) + u32(iy)) * u32(IW());
  ${range(TX).map((t) => `if (ix0 + ${t}i * SW < IW()) { out[(xRow + u32(ix0 + ${t}i * SW)) * C() + c] = a${t}; }`).join('\n  ')}
}`;
}

// pass 1: partial[chunk, ky, kx, k] = sum over the chunk's positions p = (n, oy, ox) of x[n, iy, ix, c] * dy[p, k]
function backpropFilterPartialSource(g: DepthwiseGeometry): string {
  const taps = range(g.kH).map(
    (ky) => `{
      let iy = iy0 + ${ky * g.dilH}i;
      if (iy >= 0 && iy < IH()) {
        let row = (n * u32(IH()) + u32(iy)) * u32(IW());
        ${range(g.kW)
          .map((kx) => `{ let ix = ix0 + ${kx * g.dilW}i; if (ix >= 0 && ix < IW()) { a${ky * g.kW + kx} += in0[(row + u32(ix)) * C() + c] * d; } }`)
          .join('\n        ')}
      }
    }`,
  );
  const T = g.kH * g.kW;
  return `${PRELUDE(g)}
${entry1d(WG)}
  let k = gid % CM(); let chunk = gid / CM();
  if (chunk >= CHUNKS()) { return; }
  let c = k / M();
  ${range(T).map((t) => `var a${t} = 0.0;`).join(' ')}
  let p1 = min((chunk + 1u) * ${CHUNK}u, POSITIONS());
  for (var p = chunk * ${CHUNK}u; p < p1; p++) {
    let ox = i32(p % u32(OW())); let q = p / u32(OW());
    let oy = i32(q % u32(OH())); let n = q / u32(OH());
    let d = in1[p * CM() + k];
    let iy0 = oy * SH - PT(); let ix0 = ox * SW - PL();
    ${taps.join('\n    ')}
  }
  let base = chunk * ${T}u * CM() + k;
  ${range(T).map((t) => `out[base + ${t}u * CM()] = a${t};`).join('\n  ')}
}`;
}

// pass 2: out[i] = sum over chunks of partial[chunk * count + i], in chunk order
const CHUNK_SUM = `${bindings(1, 4)}
${entry1d(WG)}
  let count = P(0u);
  if (gid >= count) { return; }
  var acc = 0.0;
  for (var s = 0u; s < P(1u); s++) { acc += in0[s * count + gid]; }
  out[gid] = acc;
}`;

registerKernel('depthwiseConv2d', 'webgpu', ({ x, filter }, a, backend) => {
  const g = depthwiseGeometry(x.shape, filter.shape, a as unknown as ConvAttrs, 'depthwiseConv2d');
  const { out, buf, size, bytes } = newOutput(backend, [g.batch, g.outH, g.outW, g.outC]);
  if (size === 0) return out;
  const colBlocks = Math.ceil(g.outW / TX);
  (backend as WebGPUBackend).dispatch({
    key: key('depthwiseConv2d', g),
    source: () => `${bindings(2, UNIFORMS)}\n${forwardSource(g)}`,
    inputs: [bufferOf(x), bufferOf(filter)],
    output: buf,
    outputBytes: bytes,
    uniforms: params(g, colBlocks),
    workgroups: Math.ceil((g.batch * g.outH * colBlocks * g.outC) / WG),
  });
  return out;
});

registerKernel('depthwiseConv2dBackpropInput', 'webgpu', ({ dy, filter }, a, backend) => {
  const inputShape = a.inputShape as number[];
  const g = depthwiseGeometry(inputShape, filter.shape, a as unknown as ConvAttrs, 'depthwiseConv2dBackpropInput');
  const { out, buf, size, bytes } = newOutput(backend, [...inputShape]);
  if (size === 0) return out;
  const tiled = g.strideH === 1 && g.strideW === 1;
  // column blocks: TX neighbouring columns (stride 1), or TX columns a stride apart in each of the SW residue classes
  const colBlocks = tiled ? Math.ceil(g.inW / TX) : g.strideW * Math.ceil(Math.ceil(g.inW / g.strideW) / TX);
  (backend as WebGPUBackend).dispatch({
    key: key(tiled ? 'depthwiseConv2dBackpropInput-tiled' : 'depthwiseConv2dBackpropInput-strided', g),
    source: () => `${bindings(2, UNIFORMS)}\n${tiled ? backpropInputTiledSource(g) : backpropInputStridedSource(g)}`,
    inputs: [bufferOf(dy), bufferOf(filter)],
    output: buf,
    outputBytes: bytes,
    uniforms: params(g, colBlocks),
    workgroups: Math.ceil((g.batch * g.inH * colBlocks * g.inC) / WG),
  });
  return out;
});

registerKernel('depthwiseConv2dBackpropFilter', 'webgpu', ({ x, dy }, a, backend) => {
  const filterShape = a.filterShape as number[];
  const g = depthwiseGeometry(x.shape, filterShape, a as unknown as ConvAttrs, 'depthwiseConv2dBackpropFilter');
  const { out, buf, size, bytes } = newOutput(backend, [...filterShape]);
  if (size === 0) return out;
  const gpu = backend as WebGPUBackend;
  const positions = g.batch * g.outH * g.outW;
  const chunks = Math.max(1, Math.ceil(positions / CHUNK));
  const pass1 = (output: GPUBuffer, outputBytes: number) =>
    gpu.dispatch({
      key: key('depthwiseConv2dBackpropFilter-partial', g),
      source: () => `${bindings(2, UNIFORMS)}\n${backpropFilterPartialSource(g)}`,
      inputs: [bufferOf(x), bufferOf(dy)],
      output,
      outputBytes,
      uniforms: params(g, 0, chunks),
      workgroups: Math.ceil((chunks * g.outC) / WG),
    });
  // one chunk: its partial filter is the answer (same layout)
  if (chunks === 1) {
    pass1(buf, bytes);
    return out;
  }
  const partial = gpu.allocate(chunks * size);
  try {
    pass1(partial.buffer, partial.size * 4);
    gpu.dispatch({
      key: 'depthwiseConv2dBackpropFilter-sum',
      source: () => CHUNK_SUM,
      inputs: [partial.buffer],
      output: buf,
      outputBytes: bytes,
      uniforms: packParams([size, chunks]),
      workgroups: Math.ceil(size / WG),
    });
  } finally {
    gpu.release(partial);
  }
  return out;
});
