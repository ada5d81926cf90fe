import { type ConvAttrs, convGeometry, type WindowGeometry } from '../../engine/conv_geometry.ts';
import { registerKernel } from '../../engine/kernel_registry.ts';
import type { WebGPUBackend } from './backend.ts';
import { dispatchGemm, type GemmSpec } from './gemm.ts';
import { dispatchTapGemm, type TapGemmSpec } from './tap_gemm.ts';
import { usesTapGemm } from './tuning.ts';
import { bindings, bufferOf, entry1d, newOutput, WG } from './program.ts';

/**
 * Convolution as implicit GEMM (NHWC activations, HWIO filters):
 *   forward         y[p, f]  = sum_k im2col(x)[p, k] * w[k, f]       p = (n,oy,ox), k = (ky,kx,c)
 *   backprop input  dx[q, c] = sum_k gather(dy)[q, k] * w'[k, c]     q = (n,iy,ix), k = (ky,kx,f)
 *   backprop filter dw[k, f] = sum_p im2col(x)[p, k] * dy[p, f]       (A = im2col(x) transposed)
 * Geometry is baked into the shader as constants, so index arithmetic divides by constants.
 */

function geometryConsts(g: WindowGeometry): string {
  return `const IH = ${g.inH}u; const IW = ${g.inW}u; const IC = ${g.inC}u;
const OH = ${g.outH}u; const OW = ${g.outW}u; const OC = ${g.outC}u;
const KH = ${g.kH}u; const KW = ${g.kW}u;
const SH = ${g.strideH}u; const SW = ${g.strideW}u; const DH = ${g.dilH}u; const DW = ${g.dilW}u;
const PT = ${g.padTop}i; const PL = ${g.padLeft}i;
// x[n, iy, ix, c] for an output pixel p = (n, oy, ox) and a tap k = (ky, kx, c); 0 in the padding
fn im2col(p: u32, k: u32) -> f32 {
  let c = k % IC; let kx = (k / IC) % KW; let ky = k / (IC * KW);
  let ox = p % OW; let oy = (p / OW) % OH; let n = p / (OW * OH);
  let iy = i32(oy * SH + ky * DH) - PT;
  let ix = i32(ox * SW + kx * DW) - PL;
  if (iy < 0 || ix < 0 || iy >= i32(IH) || ix >= i32(IW)) { return 0.0; }
  return in0[((n * IH + u32(iy)) * IW + u32(ix)) * IC + c];
}`;
}

const key = (op: string, g: WindowGeometry) =>
  `${op}:${[g.batch, g.inH, g.inW, g.inC, g.outH, g.outW, g.outC, g.kH, g.kW, g.strideH, g.strideW, g.dilH, g.dilW, g.padTop, g.padLeft].join(',')}`;

// y[p=(n,oy,ox), f] = sum over taps (ky,kx) and c of x[n, oy*SH + ky*DH - PT, ox*SW + kx*DW - PL, c] * w[ky, kx, c, f]
function forwardSpec(g: WindowGeometry): TapGemmSpec {
  return {
    M: g.batch * g.outH * g.outW,
    N: g.outC,
    taps: g.kH * g.kW,
    L: g.inC,
    prelude: geometryConsts(g),
    rowBase: `let ky = t / KW; let kx = t % KW;
    let ox = m % OW; let oy = (m / OW) % OH; let n = m / (OW * OH);
    let iy = i32(oy * SH + ky * DH) - PT; let ix = i32(ox * SW + kx * DW) - PL;
    if (iy < 0 || ix < 0 || iy >= i32(IH) || ix >= i32(IW)) { return -1; }
    return i32(((n * IH + u32(iy)) * IW + u32(ix)) * IC);`,
  };
}

// the same product on the shared-memory tile (adapters whose table did not pick the tap GEMM)
function forwardGemmSpec(g: WindowGeometry): GemmSpec {
  return {
    M: g.batch * g.outH * g.outW,
    N: g.outC,
    K: g.kH * g.kW * g.inC,
    prelude: geometryConsts(g),
    loadA: 'return im2col(m, k);',
    loadB: 'return in1[k * N + n];',
    aKContiguous: true,
    bNContiguous: true,
  };
}

function dispatchForward(backend: WebGPUBackend, g: WindowGeometry, inputs: GPUBuffer[], out: GPUBuffer, bytes: number, store?: string, variant = ''): void {
  const k = key('conv2d', g);
  if (usesTapGemm(k)) dispatchTapGemm(backend, k, { ...forwardSpec(g), store }, inputs, out, bytes, variant);
  else dispatchGemm(backend, k + (variant ? `+${variant}` : ''), { ...forwardGemmSpec(g), store }, inputs, out, bytes);
}

registerKernel('conv2d', 'webgpu', ({ x, filter }, a, backend) => {
  const g = convGeometry(x.shape, filter.shape, a as unknown as ConvAttrs, 'conv2d');
  const { out, buf, size, bytes } = newOutput(backend, [g.batch, g.outH, g.outW, g.outC]);
  if (size === 0) return out;
  dispatchForward(backend as WebGPUBackend, g, [bufferOf(x), bufferOf(filter)], buf, bytes);
  return out;
});

// the same GEMM, storing activation(v + bias[f]) (ReLU as select so that NaN becomes 0, as the relu kernel does)
registerKernel('fusedConv2d', 'webgpu', ({ x, filter, bias }, a, backend) => {
  const g = convGeometry(x.shape, filter.shape, a as unknown as ConvAttrs, 'fusedConv2d');
  const { out, buf, size, bytes } = newOutput(backend, [g.batch, g.outH, g.outW, g.outC]);
  if (size === 0) return out;
  const relu = a.activation === 'relu';
  const store = `let z = v + in2[n]; out[m * N + n] = ${relu ? 'select(0.0, z, z > 0.0)' : 'z'};`;
  // conv2d's tile table entry serves the fused kernel too: the GEMM is the same
  dispatchForward(backend as WebGPUBackend, g, [bufferOf(x), bufferOf(filter), bufferOf(bias)], buf, bytes, store, relu ? 'relu' : 'bias');
  return out;
});

/**
 * Direct backprop-input: one thread per element of dx visits only the taps whose
 * output position is a whole stride step away, so a stride-2 convolution does no
 * work on the 3 in 4 taps that contribute nothing (the GEMM form would multiply them
 * by zero). Stride 1 uses the tap GEMM below.
 */
function backpropInputDirect(g: WindowGeometry, masked: boolean): string {
  const dyAt = masked ? 'select(0.0, in0[dyBase + f], in2[dyBase + f] > 0.0)' : 'in0[dyBase + f]';
  return `const IH = ${g.inH}i; const IW = ${g.inW}i; const IC = ${g.inC}u;
const OH = ${g.outH}i; const OW = ${g.outW}i; const OC = ${g.outC}u;
const KH = ${g.kH}i; const KW = ${g.kW}i; const SH = ${g.strideH}i; const SW = ${g.strideW}i;
const DH = ${g.dilH}i; const DW = ${g.dilW}i; const PT = ${g.padTop}i; const PL = ${g.padLeft}i;
${entry1d(WG)}
  if (gid >= arrayLength(&out)) { return; }
  let c = gid % IC;
  let pix = gid / IC;
  let ix = i32(pix % u32(IW));
  let iy = i32((pix / u32(IW)) % u32(IH));
  let n = pix / u32(IW * IH);
  var acc = 0.0;
  for (var ky = 0i; ky < KH; ky++) {
    let ty = iy + PT - ky * DH;
    if (ty < 0 || ty % SH != 0 || ty / SH >= OH) { continue; }
    let oy = ty / SH;
    for (var kx = 0i; kx < KW; kx++) {
      let tx = ix + PL - kx * DW;
      if (tx < 0 || tx % SW != 0 || tx / SW >= OW) { continue; }
      let ox = tx / SW;
      let dyBase = ((n * u32(OH) + u32(oy)) * u32(OW) + u32(ox)) * OC;
      let wBase = ((u32(ky) * u32(KW) + u32(kx)) * IC + c) * OC;
      for (var f = 0u; f < OC; f++) { acc += ${dyAt} * in1[wBase + f]; }
    }
  }
  out[gid] = acc;
}`;
}

// dx[q=(n,iy,ix), c] = sum over (ky,kx,f) of dy[n, oy, ox, f] * w[ky, kx, c, f]
// where oy = (iy + PT - ky*DH) / SH must be a whole number inside the output (same for x).
// With a mask (the output of the ReLU after the convolution), dy counts only where the mask is > 0.
registerKernel('conv2dBackpropInput', 'webgpu', ({ dy, filter, mask }, a, backend) => {
  const inputShape = a.inputShape as number[];
  const g = convGeometry(inputShape, filter.shape, a as unknown as ConvAttrs, 'conv2dBackpropInput');
  const { out, buf, size, bytes } = newOutput(backend, [...inputShape]);
  if (size === 0) return out;
  const maskInput = mask ? [bufferOf(mask)] : [];
  const variant = mask ? 'relu' : '';
  const suffix = mask ? '+relu' : '';
  if (g.strideH > 1 || g.strideW > 1) {
    (backend as WebGPUBackend).dispatch({
      key: key('conv2dBackpropInput-direct', g) + suffix,
      source: () => `${bindings(2 + maskInput.length)}\n${backpropInputDirect(g, !!mask)}`,
      inputs: [bufferOf(dy), bufferOf(filter), ...maskInput],
      output: buf,
      outputBytes: bytes,
      workgroups: Math.ceil(size / WG),
    });
    return out;
  }
  const gpu = backend as WebGPUBackend;
  const k = key('conv2dBackpropInput', g);
  const dyAt = (i: string) => (mask ? `select(0.0, in0[${i}], in2[${i}] > 0.0)` : `in0[${i}]`);
  if (!usesTapGemm(k)) {
    // shared-memory tile: A gathered from dy, B = w'[k=(ky,kx,f), c] = w[ky, kx, c, f] read in place
    const spec: GemmSpec = {
      M: g.batch * g.inH * g.inW,
      N: g.inC,
      K: g.kH * g.kW * g.outC,
      prelude: geometryConsts(g),
      loadA: `let f = k % OC; let kx = (k / OC) % KW; let ky = k / (OC * KW);
    let ix = m % IW; let iy = (m / IW) % IH; let nb = m / (IW * IH);
    let oy = i32(iy) + PT - i32(ky * DH); let ox = i32(ix) + PL - i32(kx * DW);
    if (oy < 0 || ox < 0 || oy >= i32(OH) || ox >= i32(OW)) { return 0.0; }
    let i = ((nb * OH + u32(oy)) * OW + u32(ox)) * OC + f;
    return ${dyAt('i')};`,
      loadB: 'let f = k % OC; let tap = k / OC; return in1[(tap * IC + n) * OC + f];',
      aKContiguous: true,
      bNContiguous: false,
    };
    dispatchGemm(gpu, k + suffix, spec, [bufferOf(dy), bufferOf(filter), ...maskInput], buf, bytes);
    return out;
  }
  // tap GEMM: dx[q=(n,iy,ix), c] = sum over taps (ky,kx) and f of dy[n, iy + PT - ky*DH, ix + PL - kx*DW, f] * w[ky, kx, c, f],
  // over dy with B = the filter with its last two axes swapped (small: transposed here each call)
  const wT = gpu.allocate(g.kH * g.kW * g.inC * g.outC);
  try {
    gpu.dispatch({
      key: `filterTranspose:${g.kH * g.kW},${g.inC},${g.outC}`,
      source: () => `${bindings(1)}\n${filterTranspose(g)}`,
      inputs: [bufferOf(filter)],
      output: wT.buffer,
      outputBytes: wT.size * 4,
      workgroups: Math.ceil(wT.size / WG),
    });
    const spec: TapGemmSpec = {
      M: g.batch * g.inH * g.inW,
      N: g.inC,
      taps: g.kH * g.kW,
      L: g.outC,
      prelude: geometryConsts(g),
      rowBase: `let ky = t / KW; let kx = t % KW;
    let ix = m % IW; let iy = (m / IW) % IH; let n = m / (IW * IH);
    let oy = i32(iy) + PT - i32(ky * DH); let ox = i32(ix) + PL - i32(kx * DW);
    if (oy < 0 || ox < 0 || oy >= i32(OH) || ox >= i32(OW)) { return -1; }
    return i32(((n * OH + u32(oy)) * OW + u32(ox)) * OC);`,
      maskA: !!mask,
    };
    dispatchTapGemm(gpu, k, spec, [bufferOf(dy), wT.buffer, ...maskInput], buf, bytes, variant);
  } finally {
    gpu.release(wT);
  }
  return out;
});

/** wT[t, f, c] = w[t, c, f] for each tap t of an HWIO filter. */
function filterTranspose(g: WindowGeometry): string {
  return `const IC = ${g.inC}u; const OC = ${g.outC}u;
${entry1d(WG)}
  if (gid >= arrayLength(&out)) { return; }
  let c = gid % IC; let f = (gid / IC) % OC; let t = gid / (IC * OC);
  out[gid] = in0[(t * IC + c) * OC + f];
}`;
}

// dw[k=(ky,kx,c), f] = sum over p=(n,oy,ox) of im2col(x)[p, k] * dy[p, f]
registerKernel('conv2dBackpropFilter', 'webgpu', ({ x, dy }, a, backend) => {
  const filterShape = a.filterShape as number[];
  const g = convGeometry(x.shape, filterShape, a as unknown as ConvAttrs, 'conv2dBackpropFilter');
  const { out, buf, size, bytes } = newOutput(backend, [...filterShape]);
  if (size === 0) return out;
  const spec: GemmSpec = {
    M: g.kH * g.kW * g.inC,
    N: g.outC,
    K: g.batch * g.outH * g.outW,
    prelude: geometryConsts(g),
    loadA: 'return im2col(k, m);',
    loadB: 'return in1[k * N + n];',
    aKContiguous: false,
    bNContiguous: true,
  };
  dispatchGemm(backend as WebGPUBackend, key('conv2dBackpropFilter', g), spec, [bufferOf(x), bufferOf(dy)], buf, bytes);
  return out;
});
