import { type PoolAttrs, poolGeometry, type WindowGeometry } from '../../engine/conv_geometry.ts';
import { registerKernel, type KernelInput } from '../../engine/kernel_registry.ts';
import type { WebGPUBackend } from './backend.ts';
import { bindings, bufferOf, entry1d, newOutput, WG } from './program.ts';

/**
 * Pooling, one thread per output element forward. The backward kernels gather:
 * one thread per input cell visits the few windows that contain it, so no two
 * threads write the same cell and no atomics are needed.
 */

function consts(g: WindowGeometry, withArgmax: boolean): string {
  return `const IH = ${g.inH}i; const IW = ${g.inW}i; const C = ${g.inC}u;
const OH = ${g.outH}i; const OW = ${g.outW}i;
const KH = ${g.kH}i; const KW = ${g.kW}i; const SH = ${g.strideH}i; const SW = ${g.strideW}i;
const PT = ${g.padTop}i; const PL = ${g.padLeft}i;
// flat index of output cell (n, oy, ox, c)
fn outIndex(n: u32, oy: i32, ox: i32, c: u32) -> u32 { return ((n * u32(OH) + u32(oy)) * u32(OW) + u32(ox)) * C + c; }
fn inIndex(n: u32, iy: i32, ix: i32, c: u32) -> u32 { return ((n * u32(IH) + u32(iy)) * u32(IW) + u32(ix)) * C + c; }
// the window of output (oy, ox), clipped to the image: rows [y0, y1), cols [x0, x1)
fn window(oy: i32, ox: i32) -> vec4<i32> {
  let y = oy * SH - PT; let x = ox * SW - PL;
  return vec4<i32>(max(y, 0), min(y + KH, IH), max(x, 0), min(x + KW, IW));
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
const decompose = (H: string, W: string) => `let c = gid % C; let s = gid / C;
  let px = i32(s % u32(${W})); let py = i32((s / u32(${W})) % u32(${H})); let n = s / (u32(${W}) * u32(${H}));`;

// The ranges of output rows/cols whose windows contain input cell (py, px).
const coveringWindows = `let oy0 = max(0, (py + PT - KH + SH) / SH); let oy1 = min(OH - 1, (py + PT) / SH);
  let ox0 = max(0, (px + PL - KW + SW) / SW); let ox1 = min(OW - 1, (px + PL) / SW);`;

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
    key: `${op}:${[g.batch, g.inH, g.inW, g.inC, g.kH, g.kW, g.strideH, g.strideW, g.padTop, g.padLeft].join(',')}`,
    source: () => `${bindings(inputs.length)}
${consts(g, op === 'maxPoolBackward')}
${entry1d(WG)}
  if (gid >= arrayLength(&out)) { return; }
  ${BODIES[op]}
}`,
    inputs: inputs.map(bufferOf),
    output: buf,
    outputBytes: bytes,
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
