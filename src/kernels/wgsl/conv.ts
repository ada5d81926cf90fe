import { type ConvAttrs, convGeometry, type WindowGeometry } from '../../engine/conv_geometry.ts';
import { registerKernel } from '../../engine/kernel_registry.ts';
import type { Dispatch, TuneHook, WebGPUBackend } from './backend.ts';
import { dispatchGemm, type GemmSpec, type GemmTiling, makeGemm, tilingOf } from './gemm.ts';
import { currentTapTiling, dispatchTapGemm, makeTapGemm, type TapEpilogue, type TapGemmSpec, type TapTiling, tapTilingFits } from './tap_gemm.ts';
import { tapCandidates, TILING_CANDIDATES, tunedTapDefault, usesTapGemm } from './tuning.ts';
import { bindings, bufferOf, divMagic, entry1d, newOutput, packParams, UDIV_WGSL, WG } from './program.ts';
import { dispatchPad } from './shape.ts';

/**
 * Convolution as implicit GEMM (NHWC activations, HWIO filters):
 *   forward         y[p, f]  = sum_k im2col(x)[p, k] * w[k, f]       p = (n,oy,ox), k = (ky,kx,c)
 *   backprop input  dx[q, c] = sum_k gather(dy)[q, k] * w'[k, c]     q = (n,iy,ix), k = (ky,kx,f)
 *   backprop filter dw[k, f] = sum_p im2col(x)[p, k] * dy[p, f]       (A = im2col(x) transposed)
 * The tap GEMM reads every size from uniforms; the shared-memory GEMM too, unless specialised (setConvGemmSpecialised).
 */

/** The geometry as named values for the shared-memory GEMM's loaders (gemm.ts: constants, or uniforms for a family). */
function geometryValues(g: WindowGeometry): Record<string, number> {
  return { IH: g.inH, IW: g.inW, IC: g.inC, OH: g.outH, OW: g.outW, OC: g.outC, KH: g.kH, KW: g.kW, SH: g.strideH, SW: g.strideW, DH: g.dilH, DW: g.dilW, PT: g.padTop, PL: g.padLeft };
}

// x[n, iy, ix, c] for an output pixel p = (n, oy, ox) and a tap k = (ky, kx, c); 0 in the padding
const IM2COL = `fn im2col(p: u32, k: u32) -> f32 {
  let q = div_IC(k); let c = k - q * IC(); let ky = div_KW(q); let kx = q - ky * KW();
  let r = div_OW(p); let ox = p - r * OW(); let n = div_OH(r); let oy = r - n * OH();
  let iy = i32(oy * SH() + ky * DH()) - i32(PT());
  let ix = i32(ox * SW() + kx * DW()) - i32(PL());
  if (iy < 0 || ix < 0 || iy >= i32(IH()) || ix >= i32(IW())) { return 0.0; }
  return in0[((n * IH() + u32(iy)) * IW() + u32(ix)) * IC() + c];
}`;

/**
 * Whether the shared-memory GEMM's forward and backprop-input convolutions (the GEMM an
 * adapter without a table runs them on) compile one pipeline per layer shape (sizes as
 * constants) instead of one per tile (sizes as uniforms, divisions by multiply and shift).
 * Off: on lavapipe the uniform form ran 5-14% slower, but an adapter without a table is
 * one where nothing was measured yet, and a pipeline per layer is a compile per layer at
 * first use. Backprop filter stays specialised (below). For experiments and docs/kernels.md.
 */
let specialiseConvGemm = false;
export function setConvGemmSpecialised(on: boolean): void {
  specialiseConvGemm = on;
}
const family = (name: string) => (specialiseConvGemm ? {} : { family: name });

const key = (op: string, g: WindowGeometry) =>
  `${op}:${[g.batch, g.inH, g.inW, g.inC, g.outH, g.outW, g.outC, g.kH, g.kW, g.strideH, g.strideW, g.dilH, g.dilW, g.padTop, g.padLeft].join(',')}`;

// y[p=(n,oy,ox), f] = sum over taps (ky,kx) and c of x[n, oy*SH + ky*DH - PT, ox*SW + kx*DW - PL, c] * w[ky, kx, c, f]
function forwardSpec(g: WindowGeometry): TapGemmSpec {
  return {
    M: g.batch * g.outH * g.outW,
    N: g.outC,
    L: g.inC,
    rows: { RH: g.outH, RW: g.outW, IH: g.inH, IW: g.inW, PIX: g.inC, AOFF: 0, SY: g.strideH, SX: g.strideW, PY: g.padTop, PX: g.padLeft, KH: g.kH, KW: g.kW, DY: g.dilH, DX: g.dilW },
  };
}

// the same product on the shared-memory tile (adapters whose table did not pick the tap GEMM)
function forwardGemmSpec(g: WindowGeometry): GemmSpec {
  return {
    M: g.batch * g.outH * g.outW,
    N: g.outC,
    K: g.kH * g.kW * g.inC,
    values: geometryValues(g),
    divisors: ['IC', 'KW', 'OW', 'OH'],
    prelude: IM2COL,
    loadA: 'return im2col(m, k);',
    loadB: 'return in1[k * N() + n];',
    aKContiguous: true,
    bNContiguous: true,
  };
}

function dispatchForward(backend: WebGPUBackend, g: WindowGeometry, inputs: GPUBuffer[], out: GPUBuffer, bytes: number, epilogue: TapEpilogue = 'none'): void {
  const k = key('conv2d', g);
  const variant = epilogue === 'none' ? '' : epilogue === 'bias' ? 'bias' : 'relu';
  const tap: TapGemmSpec = { ...forwardSpec(g), epilogue };
  const gemm: GemmSpec = { ...forwardGemmSpec(g), store: EPILOGUE_STORES[epilogue], ...family(`conv2d${variant ? `+${variant}` : ''}`) };
  const gemmKey = k + (variant ? `+${variant}` : '');
  const tune = bothFamiliesHook(backend, k, 2 * tap.M * tap.N * tap.L * g.kH * g.kW, (t) => makeTapGemm(backend, k, { ...tap, tiling: t }, inputs, out, bytes, variant), tap, (t) => makeGemm(gemmKey, { ...gemm, tiling: t }, inputs, out, bytes), gemm);
  if (usesTapGemm(k)) {
    if (!runsOnStandIn(backend, g, k, tap, inputs, out, bytes, variant, tune)) dispatchTapGemm(backend, k, tap, inputs, out, bytes, variant, undefined, tune);
  } else dispatchGemm(backend, gemmKey, gemm, inputs, out, bytes, undefined, tune);
}

/**
 * A first layer on RGB input (input channels not a multiple of the subgroup size) cannot run
 * on the adapter's subgroup tile and takes a loop tile, a pipeline no other layer of the model
 * may need (on lavapipe the 8x8 loop tile is 2.0-2.4 s of LLVM cold). While prepareKernels'
 * plan has that pipeline still to compile (the backend decides: backend.standInFor), the layer
 * runs on a stand-in instead: input and filter padded with zero channels to a multiple of the
 * subgroup size, on the subgroup tile the other convolutions compile anyway. Each output sums
 * the same products in the same order, plus products of zeros, so it is equal bit for bit; it
 * is slower (VGG16 block1_conv1 51-60 ms against 31-36 ms on 8x8), and runs only until the loop
 * tile, compiled in the background after the first pass, is ready.
 */
function runsOnStandIn(backend: WebGPUBackend, g: WindowGeometry, k: string, tap: TapGemmSpec, inputs: GPUBuffer[], out: GPUBuffer, bytes: number, variant: string, tune: TuneHook): boolean {
  const S = backend.ctx.subgroupSize;
  const d = tunedTapDefault();
  if (!S || !d?.subgroup || d.WG !== S || g.inC % S === 0) return false;
  const own = currentTapTiling(backend, k, tap);
  if (own.subgroup || own.vec4 || own.narrow) return false;
  if (!backend.standInFor(makeTapGemm(backend, k, tap, inputs, out, bytes, variant))) return false;
  const C = Math.ceil(g.inC / S) * S;
  const x = backend.allocate(g.batch * g.inH * g.inW * C);
  const w = backend.allocate(g.kH * g.kW * C * g.outC);
  dispatchPad(backend, inputs[0], [g.batch, g.inH, g.inW, g.inC], [[0, 0], [0, 0], [0, 0], [0, C - g.inC]], x.buffer);
  dispatchPad(backend, inputs[1], [g.kH, g.kW, g.inC, g.outC], [[0, 0], [0, 0], [0, C - g.inC], [0, 0]], w.buffer);
  const spec: TapGemmSpec = { ...forwardSpec({ ...g, inC: C }), epilogue: tap.epilogue, tiling: d };
  backend.dispatch({ ...makeTapGemm(backend, k, spec, [x.buffer, w.buffer, ...inputs.slice(2)], out, bytes, variant), tune, standIn: true });
  backend.release(x);
  backend.release(w);
  return true;
}

/**
 * What the first-use tuner may try for a convolution that either GEMM family can run:
 * every tap tile that fits and every shared-memory tile, the current choice first.
 */
function bothFamiliesHook(
  gpu: WebGPUBackend,
  k: string,
  flops: number,
  tap: (t: TapTiling) => Dispatch,
  tapSpec: TapGemmSpec,
  gemm: (t: GemmTiling) => Dispatch,
  gemmSpec: GemmSpec,
): TuneHook {
  const S = gpu.ctx.subgroupSize;
  const current = usesTapGemm(k) ? currentTapTiling(gpu, k, tapSpec) : tilingOf({ ...gemmSpec, tuningKey: k });
  return {
    key: k,
    flops,
    tiles: [current, ...tapCandidates(S), ...TILING_CANDIDATES],
    make: (t) => ('WG' in t ? (tapTilingFits(tapSpec, t, S) ? tap(t) : undefined) : gemm(t)),
  };
}

const EPILOGUE_STORES: Record<TapEpilogue, string | undefined> = {
  none: undefined,
  bias: 'out[m * N + n] = v + in2[n];',
  biasRelu: 'let z = v + in2[n]; out[m * N + n] = select(0.0, z, z > 0.0);',
};

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
  // conv2d's tile table entry serves the fused kernel too: the GEMM is the same
  dispatchForward(backend as WebGPUBackend, g, [bufferOf(x), bufferOf(filter), bufferOf(bias)], buf, bytes, relu ? 'biasRelu' : 'bias');
  return out;
});

/**
 * Direct backprop-input: one thread per element of dx visits only the taps whose
 * output position is a whole stride step away, so a stride-2 convolution does no
 * work on the 3 in 4 taps that contribute nothing (the GEMM form would multiply them
 * by zero). Stride 1 uses the tap GEMM below.
 */
function backpropInputDirect(masked: boolean): string {
  const dyAt = masked ? 'select(0.0, in0[dyBase + f], in2[dyBase + f] > 0.0)' : 'in0[dyBase + f]';
  return `${UDIV_WGSL}
${entry1d(WG)}
  if (gid >= arrayLength(&out)) { return; }
  let IH = i32(P(0u)); let IW = i32(P(1u)); let IC = P(2u); let OH = i32(P(3u)); let OW = i32(P(4u)); let OC = P(5u);
  let KH = i32(P(6u)); let KW = i32(P(7u)); let SH = P(8u); let SW = P(9u); let DH = i32(P(10u)); let DW = i32(P(11u));
  let PT = i32(P(12u)); let PL = i32(P(13u));
  let pix = udiv(gid, P(14u), P(15u)); let c = gid - pix * IC;
  let r = udiv(pix, P(16u), P(17u)); let ix = i32(pix - r * u32(IW));
  let n = udiv(r, P(18u), P(19u)); let iy = i32(r - n * u32(IH));
  var acc = 0.0;
  for (var ky = 0i; ky < KH; ky++) {
    let ty = iy + PT - ky * DH;
    if (ty < 0) { continue; }
    let oy = udiv(u32(ty), P(20u), P(21u));
    if (oy * SH != u32(ty) || i32(oy) >= OH) { continue; }
    for (var kx = 0i; kx < KW; kx++) {
      let tx = ix + PL - kx * DW;
      if (tx < 0) { continue; }
      let ox = udiv(u32(tx), P(22u), P(23u));
      if (ox * SW != u32(tx) || i32(ox) >= OW) { continue; }
      let dyBase = ((n * u32(OH) + oy) * u32(OW) + ox) * OC;
      let wBase = ((u32(ky) * u32(KW) + u32(kx)) * IC + c) * OC;
      for (var f = 0u; f < OC; f++) { acc += ${dyAt} * in1[wBase + f]; }
    }
  }
  out[gid] = acc;
}`;
}

const directParams = (g: WindowGeometry) =>
  packParams([g.inH, g.inW, g.inC, g.outH, g.outW, g.outC, g.kH, g.kW, g.strideH, g.strideW, g.dilH, g.dilW, g.padTop, g.padLeft, ...[g.inC, g.inW, g.inH, g.strideH, g.strideW].flatMap(divMagic)]);

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
      key: `conv2dBackpropInput-direct${suffix}`,
      label: key('conv2dBackpropInput-direct', g) + suffix,
      source: () => `${bindings(2 + maskInput.length, 24)}\n${backpropInputDirect(!!mask)}`,
      uniforms: directParams(g),
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
  // shared-memory tile: A gathered from dy, B = w'[k=(ky,kx,f), c] = w[ky, kx, c, f] read in place
  const gemm: GemmSpec = {
    M: g.batch * g.inH * g.inW,
    N: g.inC,
    K: g.kH * g.kW * g.outC,
    values: geometryValues(g),
    divisors: ['OC', 'KW', 'IW', 'IH'],
    loadA: `let q = div_OC(k); let f = k - q * OC(); let ky = div_KW(q); let kx = q - ky * KW();
    let r = div_IW(m); let ix = m - r * IW(); let nb = div_IH(r); let iy = r - nb * IH();
    let oy = i32(iy) + i32(PT()) - i32(ky * DH()); let ox = i32(ix) + i32(PL()) - i32(kx * DW());
    if (oy < 0 || ox < 0 || oy >= i32(OH()) || ox >= i32(OW())) { return 0.0; }
    let i = ((nb * OH() + u32(oy)) * OW() + u32(ox)) * OC() + f;
    return ${dyAt('i')};`,
    loadB: 'let tap = div_OC(k); let f = k - tap * OC(); return in1[(tap * IC() + n) * OC() + f];',
    aKContiguous: true,
    bNContiguous: false,
    ...family(`conv2dBackpropInput${suffix}`),
  };
  // tap GEMM: dx[q=(n,iy,ix), c] = sum over taps (ky,kx) and f of dy[n, iy + PT - ky*DH, ix + PL - kx*DW, f] * w[ky, kx, c, f],
  // over dy with B = the filter with its last two axes swapped (small: transposed here each call)
  const tap: TapGemmSpec = {
    M: g.batch * g.inH * g.inW,
    N: g.inC,
    L: g.outC,
    // row (n, iy, ix) reads dy at (iy + PT - ky*DH, ix + PL - kx*DW)
    rows: { RH: g.inH, RW: g.inW, IH: g.outH, IW: g.outW, PIX: g.outC, AOFF: 0, SY: 1, SX: 1, PY: -g.padTop, PX: -g.padLeft, KH: g.kH, KW: g.kW, DY: -g.dilH, DX: -g.dilW },
    maskA: !!mask,
  };
  const onTap = usesTapGemm(k);
  // where the tile is the vec4 form (SwiftShader), B is the filter read in place (bTransposed: each 4x4
  // block transposed in registers); a copy of the transposed 3x3x512x512 filter took longer than the GEMM there
  const inPlace = (t: TapTiling) => t.vec4 === true && g.inC % 4 === 0 && g.outC % 4 === 0;
  const v4 = onTap && inPlace(currentTapTiling(gpu, k, tap));
  // while prepareKernels records, the transposed filter exists for either family, so that the tuner can try both
  const wT = (onTap && !v4) || gpu.capturing ? gpu.allocate(g.kH * g.kW * g.inC * g.outC) : undefined;
  const gemmInputs = [bufferOf(dy), bufferOf(filter), ...maskInput];
  const inPlaceInputs = [bufferOf(dy), bufferOf(filter), ...maskInput];
  const tapInputs = wT ? [bufferOf(dy), wT.buffer, ...maskInput] : [];
  const tapOf = (t: TapTiling) => (inPlace(t) ? { spec: { ...tap, bTransposed: true, tiling: t }, inputs: inPlaceInputs } : { spec: { ...tap, tiling: t }, inputs: tapInputs });
  const tune = bothFamiliesHook(
    gpu,
    k,
    2 * gemm.M * gemm.N * gemm.K,
    (t) => {
      const { spec, inputs } = tapOf(t);
      return makeTapGemm(gpu, k, spec, inputs, buf, bytes, variant);
    },
    tap,
    (t) => makeGemm(k + suffix, { ...gemm, tiling: t }, gemmInputs, buf, bytes),
    gemm,
  );
  try {
    if (!onTap) {
      dispatchGemm(gpu, k + suffix, gemm, gemmInputs, buf, bytes, undefined, tune);
      return out;
    }
    if (v4) {
      dispatchTapGemm(gpu, k, { ...tap, bTransposed: true }, inPlaceInputs, buf, bytes, variant, undefined, tune);
      return out;
    }
    // the loop and subgroup forms read B row-major: the filter with its last two axes swapped, copied here
    gpu.dispatch({
      key: 'filterTranspose',
      label: `filterTranspose:${g.kH * g.kW},${g.inC},${g.outC}`,
      source: () => `${bindings(1, 6)}\n${FILTER_TRANSPOSE}`,
      uniforms: packParams([g.inC, g.outC, ...divMagic(g.inC), ...divMagic(g.outC)]),
      inputs: [bufferOf(filter)],
      output: wT!.buffer,
      outputBytes: wT!.size * 4,
      workgroups: Math.ceil(wT!.size / WG),
    });
    dispatchTapGemm(gpu, k, tap, tapInputs, buf, bytes, variant, undefined, tune);
  } finally {
    if (wT) gpu.release(wT);
  }
  return out;
});

/** wT[t, f, c] = w[t, c, f] for each tap t of an HWIO filter (IC, OC in the uniforms). */
const FILTER_TRANSPOSE = `${UDIV_WGSL}
${entry1d(WG)}
  if (gid >= arrayLength(&out)) { return; }
  let IC = P(0u); let OC = P(1u);
  let q = udiv(gid, P(2u), P(3u)); let c = gid - q * IC;
  let t = udiv(q, P(4u), P(5u)); let f = q - t * OC;
  out[gid] = in0[(t * IC + c) * OC + f];
}`;

/**
 * Backprop filter as outer products, for adapters whose tap GEMM is the vec4 form (SwiftShader):
 * thread (t, c, f8) holds dw[t, c.., f8*8..+7] (c one channel, or with vec4 four channels) and
 * walks every pixel in order, adding x[pixel + tap, c..] times dy[pixel, f8*8..+7]: two or three
 * vec4 reads for 8 or 32 multiply-adds, where the shared-memory GEMM reads one float per lane.
 * The sum runs over the pixels in the GEMM's order (multiply, then add).
 */
function backpropFilterOuter(vec4: boolean): string {
  const cs = vec4 ? [0, 1, 2, 3] : [0];
  const comp = ['x', 'y', 'z', 'w'];
  const xv = (i: number) => (vec4 ? `xv.${comp[i]}` : 'xv');
  return `@group(0) @binding(0) var<storage, read> in0: array<${vec4 ? 'vec4<f32>' : 'f32'}>;
@group(0) @binding(1) var<storage, read> in1: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;
struct Params { p: array<vec4<u32>, 5> };
@group(0) @binding(3) var<uniform> u: Params;
fn P(i: u32) -> u32 { return u.p[i / 4u][i % 4u]; }
${UDIV_WGSL}
${entry1d(64)}
  if (gid >= P(0u)) { return; }
  let NB = P(1u); let IH = i32(P(2u)); let IW = i32(P(3u)); let CG = P(4u); let OH = P(5u); let OW = P(6u); let OC4 = P(7u);
  let SH = P(8u); let SW = P(9u); let DH = P(10u); let DW = P(11u); let PT = i32(P(12u)); let PL = i32(P(13u)); let KW = P(14u);
  let q = udiv(gid, P(15u), P(16u)); let f8 = gid - q * (OC4 / 2u);
  let t = udiv(q, P(17u), P(18u)); let c = q - t * CG;
  let ky = t / KW; let kx = t - ky * KW;
  ${cs.map((i) => `var a${i}_0 = vec4<f32>(0.0); var a${i}_1 = vec4<f32>(0.0);`).join(' ')}
  for (var n = 0u; n < NB; n++) {
    for (var oy = 0u; oy < OH; oy++) {
      let iy = i32(oy * SH + ky * DH) - PT;
      let rowOk = iy >= 0 && iy < IH;
      let xrow = (i32(n) * IH + max(iy, 0)) * IW;
      var d = ((n * OH + oy) * OW) * OC4 + f8 * 2u;
      for (var ox = 0u; ox < OW; ox++) {
        let ix = i32(ox * SW + kx * DW) - PL;
        let xi = u32(xrow + max(ix, 0)) * CG + c;
        let xv = select(${vec4 ? 'vec4<f32>(0.0)' : '0.0'}, in0[xi], rowOk && ix >= 0 && ix < IW);
        let d0 = in1[d]; let d1 = in1[d + 1u];
        ${cs.map((i) => `a${i}_0 = a${i}_0 + ${xv(i)} * d0; a${i}_1 = a${i}_1 + ${xv(i)} * d1;`).join(' ')}
        d += OC4;
      }
    }
  }
  // dw[t, c, f]: row (t * CG + c) * ${cs.length} + i of ${vec4 ? 'four channels' : 'one channel'}, OC4 vec4s per row
  let o = (t * CG + c) * ${cs.length}u * OC4 + f8 * 2u;
  ${cs.map((i) => `out[o + ${i}u * OC4] = a${i}_0; out[o + ${i}u * OC4 + 1u] = a${i}_1;`).join(' ')}
}`;
}

// dw[k=(ky,kx,c), f] = sum over p=(n,oy,ox) of im2col(x)[p, k] * dy[p, f]
registerKernel('conv2dBackpropFilter', 'webgpu', ({ x, dy }, a, backend) => {
  const filterShape = a.filterShape as number[];
  const g = convGeometry(x.shape, filterShape, a as unknown as ConvAttrs, 'conv2dBackpropFilter');
  const { out, buf, size, bytes } = newOutput(backend, [...filterShape]);
  if (size === 0) return out;
  if (tunedTapDefault()?.vec4 && g.outC % 8 === 0) {
    const v4 = g.inC % 4 === 0;
    const CG = v4 ? g.inC / 4 : g.inC;
    const taps = g.kH * g.kW;
    const threads = taps * CG * (g.outC / 8);
    (backend as WebGPUBackend).dispatch({
      key: `conv2dBackpropFilter-outer${v4 ? '4' : '1'}`,
      label: `${key('conv2dBackpropFilter-outer', g)}`,
      source: () => backpropFilterOuter(v4),
      uniforms: packParams([threads, g.batch, g.inH, g.inW, CG, g.outH, g.outW, g.outC / 4, g.strideH, g.strideW, g.dilH, g.dilW, g.padTop, g.padLeft, g.kW, ...divMagic(g.outC / 8), ...divMagic(CG)]),
      inputs: [bufferOf(x), bufferOf(dy)],
      output: buf,
      outputBytes: bytes,
      workgroups: Math.ceil(threads / 64),
    });
    return out;
  }
  const spec: GemmSpec = {
    M: g.kH * g.kW * g.inC,
    N: g.outC,
    K: g.batch * g.outH * g.outW,
    values: geometryValues(g),
    divisors: ['IC', 'KW', 'OW', 'OH'],
    prelude: IM2COL,
    loadA: 'return im2col(k, m);',
    loadB: 'return in1[k * N() + n];',
    aKContiguous: false,
    bNContiguous: true,
    // specialised to its shape (no family): measured 4-9% faster on lavapipe than with uniform
    // sizes, and no visualization runs it (only training does), so its compiles cost no cold start
  };
  const k = key('conv2dBackpropFilter', g);
  const inputs = [bufferOf(x), bufferOf(dy)];
  const tune: TuneHook = {
    key: k,
    flops: 2 * spec.M * spec.N * spec.K,
    tiles: [tilingOf({ ...spec, tuningKey: k }), ...TILING_CANDIDATES],
    make: (t) => makeGemm(k, { ...spec, tiling: t as GemmTiling }, inputs, buf, bytes),
  };
  dispatchGemm(backend as WebGPUBackend, k, spec, inputs, buf, bytes, undefined, tune);
  return out;
});
