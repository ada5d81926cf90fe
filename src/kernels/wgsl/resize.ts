import { registerKernel, type KernelInput } from '../../engine/kernel_registry.ts';
import { type ResizeAttrs, resizeScale } from '../../engine/resize_geometry.ts';
import type { WebGPUBackend } from './backend.ts';
import { bindings, bufferOf, entry1d, newOutput, packParams, WG } from './program.ts';

/**
 * Image resizes, one thread per output element. Sizes, scales and flags are uniforms, so
 * each of the four ops is one pipeline whatever the image sizes (a resize is a few loads
 * per element; constant sizes would buy nothing but a compile per shape).
 *
 * The source positions are TensorFlow's float32 expressions (src/engine/resize_geometry.ts
 * computes the same ones for the reference backend); WGSL's f32 + and * are correctly
 * rounded, so both backends pick the same pixels. (A compiler that fuses the bilinear
 * (o + 0.5) * scale - 0.5 into an fma can move a weight by an ulp, no more: the interpolation
 * is continuous where the pixel pair changes. The nearest index is a single product.)
 *
 * The backward kernels gather: one thread per input element visits a range of output rows
 * and columns that contains every output that samples it (derived from src ~ scale * o + b,
 * widened by one on each side) and recomputes each candidate's weight with the forward's
 * own function, so the result is exactly the forward's adjoint, no two threads write the
 * same element, and no atomics are needed.
 */

// uniform words: 0 IH, 1 IW, 2 C, 3 OH, 4 OW, 5 scaleY (f32), 6 scaleX (f32), 7 halfPixelCenters, 8 alignCorners
const COMMON = `fn IH() -> u32 { return P(0u); }
fn IW() -> u32 { return P(1u); }
fn CH() -> u32 { return P(2u); }
fn OH() -> u32 { return P(3u); }
fn OW() -> u32 { return P(4u); }
fn halfPixel() -> bool { return P(7u) != 0u; }
fn alignCorners() -> bool { return P(8u) != 0u; }
// gid = ((n * H + y) * W + x) * C + c
fn decompose(gid: u32, H: u32, W: u32) -> vec4<u32> {
  let c = gid % CH(); let s = gid / CH();
  return vec4<u32>(s / (W * H), (s / W) % H, s % W, c);
}
// Outputs o whose source lies in [i - lo, i + hi) when src(o) ~ scale * o + b: a superset,
// widened by one output on each side; the first and last input index take every output beyond them.
fn candidates(i: u32, inSize: u32, outSize: u32, scale: f32, b: f32, below: f32, above: f32) -> vec2<u32> {
  var r = vec2<u32>(0u, outSize - 1u);
  let last = f32(outSize - 1u);
  if (scale > 0.0) {
    if (i > 0u) { r.x = u32(clamp(floor((f32(i) - below - b) / scale) - 1.0, 0.0, last)); }
    if (i + 1u < inSize) { r.y = u32(clamp(ceil((f32(i) + above - b) / scale) + 1.0, 0.0, last)); }
  }
  return r;
}`;

const BILINEAR = `struct Tap { lo: u32, hi: u32, l: f32 }
// TensorFlow's compute_interpolation_weights for output index o
fn tap(o: u32, inSize: u32, scale: f32) -> Tap {
  var src: f32;
  if (halfPixel()) { src = (f32(o) + 0.5) * scale - 0.5; } else { src = f32(o) * scale; }
  let f = floor(src);
  let hi = u32(min(ceil(src), f32(inSize - 1u)));
  return Tap(min(u32(max(f, 0.0)), hi), hi, src - f);
}
// the weight of input index i in output o
fn weight(o: u32, i: u32, inSize: u32, scale: f32) -> f32 {
  let t = tap(o, inSize, scale);
  return select(0.0, 1.0 - t.l, t.lo == i) + select(0.0, t.l, t.hi == i);
}
fn bilinearCandidates(i: u32, inSize: u32, outSize: u32, scale: f32) -> vec2<u32> {
  // lower == i or upper == i needs i - 1 < src < i + 1
  return candidates(i, inSize, outSize, scale, select(0.0, 0.5 * scale - 0.5, halfPixel()), 1.0, 1.0);
}`;

const NEAREST = `// TensorFlow's nearest index for output index o (round half up with alignCorners)
fn nearest(o: u32, inSize: u32, scale: f32) -> u32 {
  var v: f32;
  if (halfPixel()) { v = (f32(o) + 0.5) * scale; } else { v = f32(o) * scale; }
  var f = floor(v);
  if (alignCorners() && v - f >= 0.5) { f = f + 1.0; }
  return min(u32(f), inSize - 1u);
}
fn nearestCandidates(i: u32, inSize: u32, outSize: u32, scale: f32) -> vec2<u32> {
  // nearest == i needs i <= v + off < i + 1, with off = 0.5 when rounding
  let off = select(0.0, 0.5, alignCorners());
  return candidates(i, inSize, outSize, scale, select(0.0, 0.5 * scale, halfPixel()), off, 1.0 - off);
}`;

const BODIES = {
  resizeBilinear: `let p = decompose(gid, OH(), OW());
  let ty = tap(p.y, IH(), PF(5u)); let tx = tap(p.z, IW(), PF(6u));
  let top = (p.x * IH() + ty.lo) * IW(); let bot = (p.x * IH() + ty.hi) * IW();
  let tl = in0[(top + tx.lo) * CH() + p.w]; let tr = in0[(top + tx.hi) * CH() + p.w];
  let bl = in0[(bot + tx.lo) * CH() + p.w]; let br = in0[(bot + tx.hi) * CH() + p.w];
  let t = tl + (tr - tl) * tx.l;
  let b = bl + (br - bl) * tx.l;
  out[gid] = t + (b - t) * ty.l;`,
  resizeBilinearBackward: `let p = decompose(gid, IH(), IW());
  let ry = bilinearCandidates(p.y, IH(), OH(), PF(5u)); let rx = bilinearCandidates(p.z, IW(), OW(), PF(6u));
  var acc = 0.0;
  for (var oy = ry.x; oy <= ry.y; oy++) {
    let wy = weight(oy, p.y, IH(), PF(5u));
    if (wy == 0.0) { continue; }
    var row = 0.0;
    for (var ox = rx.x; ox <= rx.y; ox++) {
      let wx = weight(ox, p.z, IW(), PF(6u));
      if (wx != 0.0) { row += wx * in0[((p.x * OH() + oy) * OW() + ox) * CH() + p.w]; }
    }
    acc += wy * row;
  }
  out[gid] = acc;`,
  resizeNearest: `let p = decompose(gid, OH(), OW());
  out[gid] = in0[((p.x * IH() + nearest(p.y, IH(), PF(5u))) * IW() + nearest(p.z, IW(), PF(6u))) * CH() + p.w];`,
  resizeNearestBackward: `let p = decompose(gid, IH(), IW());
  let ry = nearestCandidates(p.y, IH(), OH(), PF(5u)); let rx = nearestCandidates(p.z, IW(), OW(), PF(6u));
  var acc = 0.0;
  for (var oy = ry.x; oy <= ry.y; oy++) {
    if (nearest(oy, IH(), PF(5u)) != p.y) { continue; }
    for (var ox = rx.x; ox <= rx.y; ox++) {
      if (nearest(ox, IW(), PF(6u)) == p.z) { acc += in0[((p.x * OH() + oy) * OW() + ox) * CH() + p.w]; }
    }
  }
  out[gid] = acc;`,
};

type ResizeOp = keyof typeof BODIES;

function run(op: ResizeOp, input: KernelInput, inShape: readonly number[], outHW: readonly number[], a: ResizeAttrs, backend: unknown, outShape: number[]) {
  const { out, buf, size, bytes } = newOutput(backend, outShape);
  if (size === 0) return out;
  const [, IH, IW, C] = inShape;
  const [OH, OW] = outHW;
  const params = packParams([
    IH, IW, C, OH, OW,
    { f32: resizeScale(IH, OH, a.alignCorners) }, { f32: resizeScale(IW, OW, a.alignCorners) },
    a.halfPixelCenters ? 1 : 0, a.alignCorners ? 1 : 0,
  ]);
  (backend as WebGPUBackend).dispatch({
    key: op,
    source: () => `${bindings(1, 9)}
${COMMON}
${op.startsWith('resizeBilinear') ? BILINEAR : NEAREST}
${entry1d(WG)}
  if (gid >= arrayLength(&out)) { return; }
  ${BODIES[op]}
}`,
    inputs: [bufferOf(input)],
    output: buf,
    outputBytes: bytes,
    uniforms: params,
    workgroups: Math.ceil(size / WG),
  });
  return out;
}

const attrsOf = (a: Record<string, unknown>) => a as unknown as ResizeAttrs;

registerKernel('resizeBilinear', 'webgpu', ({ x }, a, b) => {
  const s = a.size as number[];
  return run('resizeBilinear', x, x.shape, s, attrsOf(a), b, [x.shape[0], s[0], s[1], x.shape[3]]);
});
registerKernel('resizeNearest', 'webgpu', ({ x }, a, b) => {
  const s = a.size as number[];
  return run('resizeNearest', x, x.shape, s, attrsOf(a), b, [x.shape[0], s[0], s[1], x.shape[3]]);
});
registerKernel('resizeBilinearBackward', 'webgpu', ({ dy }, a, b) => {
  const inputShape = a.inputShape as number[];
  return run('resizeBilinearBackward', dy, inputShape, [dy.shape[1], dy.shape[2]], attrsOf(a), b, [...inputShape]);
});
registerKernel('resizeNearestBackward', 'webgpu', ({ dy }, a, b) => {
  const inputShape = a.inputShape as number[];
  return run('resizeNearestBackward', dy, inputShape, [dy.shape[1], dy.shape[2]], attrsOf(a), b, [...inputShape]);
});
