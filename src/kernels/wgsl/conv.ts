import { type ConvAttrs, convGeometry, type WindowGeometry } from '../../engine/conv_geometry.ts';
import { registerKernel } from '../../engine/kernel_registry.ts';
import type { WebGPUBackend } from './backend.ts';
import { gemmSource, gemmWorkgroups, type GemmSpec } from './gemm.ts';
import { bindings, bufferOf, newOutput } from './program.ts';

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

registerKernel('conv2d', 'webgpu', ({ x, filter }, a, backend) => {
  const g = convGeometry(x.shape, filter.shape, a as unknown as ConvAttrs, 'conv2d');
  const { out, buf, size, bytes } = newOutput(backend, [g.batch, g.outH, g.outW, g.outC]);
  if (size === 0) return out;
  const spec: GemmSpec = {
    M: g.batch * g.outH * g.outW,
    N: g.outC,
    K: g.kH * g.kW * g.inC,
    prelude: geometryConsts(g),
    loadA: 'return im2col(m, k);',
    loadB: 'return in1[k * N + n];',
    aKContiguous: true,
    bNContiguous: true,
  };
  (backend as WebGPUBackend).dispatch({
    key: key('conv2d', g),
    source: () => gemmSource(spec, bindings(2)),
    inputs: [bufferOf(x), bufferOf(filter)],
    output: buf,
    outputBytes: bytes,
    workgroups: gemmWorkgroups(spec),
  });
  return out;
});

// dx[q=(n,iy,ix), c] = sum over (ky,kx,f) of dy[n, oy, ox, f] * w[ky, kx, c, f]
// where oy = (iy + PT - ky*DH) / SH must be a whole number inside the output (same for x).
registerKernel('conv2dBackpropInput', 'webgpu', ({ dy, filter }, a, backend) => {
  const inputShape = a.inputShape as number[];
  const g = convGeometry(inputShape, filter.shape, a as unknown as ConvAttrs, 'conv2dBackpropInput');
  const { out, buf, size, bytes } = newOutput(backend, [...inputShape]);
  if (size === 0) return out;
  const spec: GemmSpec = {
    M: g.batch * g.inH * g.inW,
    N: g.inC,
    K: g.kH * g.kW * g.outC,
    prelude: geometryConsts(g),
    loadA: `let f = k % OC; let kx = (k / OC) % KW; let ky = k / (OC * KW);
    let ix = m % IW; let iy = (m / IW) % IH; let nb = m / (IW * IH);
    let ty = i32(iy) + PT - i32(ky * DH);
    let tx = i32(ix) + PL - i32(kx * DW);
    if (ty < 0 || tx < 0 || ty % i32(SH) != 0 || tx % i32(SW) != 0) { return 0.0; }
    let oy = u32(ty) / SH; let ox = u32(tx) / SW;
    if (oy >= OH || ox >= OW) { return 0.0; }
    return in0[((nb * OH + oy) * OW + ox) * OC + f];`,
    // w'[k=(ky,kx,f), c] = w[ky, kx, c, f]
    loadB: `let f = k % OC; let tap = k / OC; return in1[(tap * IC + n) * OC + f];`,
    aKContiguous: true,
    bNContiguous: false,
  };
  (backend as WebGPUBackend).dispatch({
    key: key('conv2dBackpropInput', g),
    source: () => gemmSource(spec, bindings(2)),
    inputs: [bufferOf(dy), bufferOf(filter)],
    output: buf,
    outputBytes: bytes,
    workgroups: gemmWorkgroups(spec),
  });
  return out;
});

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
  (backend as WebGPUBackend).dispatch({
    key: key('conv2dBackpropFilter', g),
    source: () => gemmSource(spec, bindings(2)),
    inputs: [bufferOf(x), bufferOf(dy)],
    output: buf,
    outputBytes: bytes,
    workgroups: gemmWorkgroups(spec),
  });
  return out;
});
