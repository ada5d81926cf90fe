import { type PoolAttrs, poolGeometry, type WindowGeometry } from '../../engine/conv_geometry.ts';
import { registerKernel, type KernelInput } from '../../engine/kernel_registry.ts';
import type { WebGPUBackend } from './backend.ts';
import { bindings, bufferOf, divMagic, entry1d, newOutput, packParams, UDIV_WGSL, WG } from './program.ts';

/**
 * Pooling, one thread per output element forward. The backward kernels gather:
 * one thread per input cell visits the few windows that contain it, so no two
 * threads write the same cell and no atomics are needed. Sizes, window, strides and
 * padding are uniforms: one pipeline per op serves every pooling layer.
 */

// uniform words: 0 IH, 1 IW, 2 C, 3 OH, 4 OW, 5 KH, 6 KW, 7 SH, 8 SW, 9 PT, 10 PL, then division
// magic for 11 C, 13 the thread grid's W, 15 its H (the output's forward, the input's backward), 17 SH, 19 SW
const UNIFORMS = 21;
function params(g: WindowGeometry, backward: boolean): ArrayBuffer {
  const [H, W] = backward ? [g.inH, g.inW] : [g.outH, g.outW];
  return packParams([g.inH, g.inW, g.inC, g.outH, g.outW, g.kH, g.kW, g.strideH, g.strideW, g.padTop, g.padLeft, ...[g.inC, W, H, g.strideH, g.strideW].flatMap(divMagic)]);
}

function consts(withArgmax: boolean): string {
  return `fn IH() -> i32 { return i32(P(0u)); }
fn IW() -> i32 { return i32(P(1u)); }
fn C() -> u32 { return P(2u); }
fn OH() -> i32 { return i32(P(3u)); }
fn OW() -> i32 { return i32(P(4u)); }
fn KH() -> i32 { return i32(P(5u)); }
fn KW() -> i32 { return i32(P(6u)); }
fn SH() -> i32 { return i32(P(7u)); }
fn SW() -> i32 { return i32(P(8u)); }
fn PT() -> i32 { return i32(P(9u)); }
fn PL() -> i32 { return i32(P(10u)); }
${UDIV_WGSL}
fn divC(n: u32) -> u32 { return udiv(n, P(11u), P(12u)); }
fn divW(n: u32) -> u32 { return udiv(n, P(13u), P(14u)); }
fn divH(n: u32) -> u32 { return udiv(n, P(15u), P(16u)); }
// max(0, a / SH) and max(0, a / SW) for signed a
fn divSH0(a: i32) -> i32 { return select(0i, i32(udiv(u32(a), P(17u), P(18u))), a > 0); }
fn divSW0(a: i32) -> i32 { return select(0i, i32(udiv(u32(a), P(19u), P(20u))), a > 0); }
// flat index of output cell (n, oy, ox, c)
fn outIndex(n: u32, oy: i32, ox: i32, c: u32) -> u32 { return ((n * u32(OH()) + u32(oy)) * u32(OW()) + u32(ox)) * C() + c; }
fn inIndex(n: u32, iy: i32, ix: i32, c: u32) -> u32 { return ((n * u32(IH()) + u32(iy)) * u32(IW()) + u32(ix)) * C() + c; }
// the window of output (oy, ox), clipped to the image: rows [y0, y1), cols [x0, x1)
fn window(oy: i32, ox: i32) -> vec4<i32> {
  let y = oy * SH() - PT(); let x = ox * SW() - PL();
  return vec4<i32>(max(y, 0), min(y + KH(), IH()), max(x, 0), min(x + KW(), IW()));
}
${withArgmax ? ARGMAX : ''}`;
}

// input flat index of the first maximum of window (oy, ox) in channel c of x (= in1)
const ARGMAX = `fn argmaxOf(n: u32, oy: i32, ox: i32, c: u32) -> u32 {
  let w = window(oy, ox);
  var best = inIndex(n, w.x, w.z, c);
  var bv = in1[best];
  for (var iy = w.x; iy < w.y; iy++) {
    for (var ix = w.z; ix < w.w; ix++) {
      let j = inIndex(n, iy, ix, c);
      if (in1[j] > bv) { bv = in1[j]; best = j; }
    }
  }
  return best;
}`;

/** Decomposes gid over an NHWC shape of spatial size (H, W) into n, y, x, c. */
const decompose = (H: string, W: string) => `let s = divC(gid); let c = gid - s * C();
  let sw = divW(s); let px = i32(s - sw * u32(${W}())); let n = divH(sw); let py = i32(sw - n * u32(${H}()));`;

// The ranges of output rows/cols whose windows contain input cell (py, px).
const coveringWindows = `let oy0 = divSH0(py + PT() - KH() + SH()); let oy1 = min(OH() - 1, divSH0(py + PT()));
  let ox0 = divSW0(px + PL() - KW() + SW()); let ox1 = min(OW() - 1, divSW0(px + PL()));`;

const BODIES = {
  maxPool: `${decompose('OH', 'OW')}
  let w = window(py, px);
  var m = -3.4028234663852886e38;
  for (var iy = w.x; iy < w.y; iy++) { for (var ix = w.z; ix < w.w; ix++) { m = max(m, in0[inIndex(n, iy, ix, c)]); } }
  out[gid] = m;`,
  avgPool: `${decompose('OH', 'OW')}
  let w = window(py, px);
  var s2 = 0.0;
  for (var iy = w.x; iy < w.y; iy++) { for (var ix = w.z; ix < w.w; ix++) { s2 += in0[inIndex(n, iy, ix, c)]; } }
  out[gid] = s2 / f32((w.y - w.x) * (w.w - w.z));`,
  // in0 = dy, in1 = x
  maxPoolBackward: `${decompose('IH', 'IW')}
  ${coveringWindows}
  var g = 0.0;
  for (var oy = oy0; oy <= oy1; oy++) {
    for (var ox = ox0; ox <= ox1; ox++) {
      if (argmaxOf(n, oy, ox, c) == gid) { g += in0[outIndex(n, oy, ox, c)]; }
    }
  }
  out[gid] = g;`,
  // in0 = dy
  avgPoolBackward: `${decompose('IH', 'IW')}
  ${coveringWindows}
  var g = 0.0;
  for (var oy = oy0; oy <= oy1; oy++) {
    for (var ox = ox0; ox <= ox1; ox++) {
      let w = window(oy, ox);
      g += in0[outIndex(n, oy, ox, c)] / f32((w.y - w.x) * (w.w - w.z));
    }
  }
  out[gid] = g;`,
};

function run(op: keyof typeof BODIES, inputs: KernelInput[], xShape: readonly number[], a: unknown, backend: unknown, outShapeOf: (g: WindowGeometry) => number[]) {
  const g = poolGeometry(xShape, a as PoolAttrs, op);
  const { out, buf, size, bytes } = newOutput(backend, outShapeOf(g));
  if (size === 0) return out;
  (backend as WebGPUBackend).dispatch({
    key: op,
    label: `${op}:${[g.batch, g.inH, g.inW, g.inC, g.kH, g.kW, g.strideH, g.strideW, g.padTop, g.padLeft].join(',')}`,
    source: () => `${bindings(inputs.length, UNIFORMS)}
${consts(op === 'maxPoolBackward')}
${entry1d(WG)}
  if (gid >= arrayLength(&out)) { return; }
  ${BODIES[op]}
}`,
    inputs: inputs.map(bufferOf),
    output: buf,
    outputBytes: bytes,
    uniforms: params(g, op.endsWith('Backward')),
    workgroups: Math.ceil(size / WG),
  });
  return out;
}

const pooled = (g: WindowGeometry) => [g.batch, g.outH, g.outW, g.inC];
registerKernel('maxPool', 'webgpu', ({ x }, a, b) => run('maxPool', [x], x.shape, a, b, pooled));
registerKernel('avgPool', 'webgpu', ({ x }, a, b) => run('avgPool', [x], x.shape, a, b, pooled));
registerKernel('maxPoolBackward', 'webgpu', ({ dy, x }, a, b) => run('maxPoolBackward', [dy, x], x.shape, a, b, () => [...x.shape]));
registerKernel('avgPoolBackward', 'webgpu', ({ dy }, a, b) => {
  const shape = a.inputShape as number[];
  return run('avgPoolBackward', [dy], shape, a, b, () => [...shape]);
});
