import { registerKernel, type KernelInput, type KernelOutput } from '../../engine/kernel_registry.ts';
import { stridesOf } from '../../engine/shape.ts';
import type { WebGPUBackend } from './backend.ts';
import { bindings, bufferOf, checkRank, divMagic, entry1d, MAX_RANK, newOutput, packParams, padShape, UDIV_WGSL, WG } from './program.ts';

/**
 * Data movement: a strided gather serves transpose and slice (output coordinates map
 * to an input offset plus per-axis strides); pad reads with a bounds test; concat
 * scatters each input into its slab of the output.
 */

/** Turns gid into coordinates over the output shape in P(0..5) and sums c * P(6 + axis) onto `base`. */
const STRIDED_INDEX = `var idx = P(${2 * MAX_RANK}u);
  var rem = gid;
  for (var ax = ${MAX_RANK - 1}i; ax >= 0; ax--) {
    let d = P(u32(ax));
    idx += (rem % d) * P(${MAX_RANK}u + u32(ax));
    rem = rem / d;
  }`;

/**
 * out[c] = x[offset + sum_k c_k * stride_k] over the output's coordinates c, where
 * stride_k = x's stride along axis perm[k] and offset comes from `begin` (slice).
 */
export function gather(backend: WebGPUBackend, x: KernelInput, outShape: number[], perm: number[], begin: number[] | null): KernelOutput {
  checkRank(x.shape, 'gather');
  const xs = stridesOf(x.shape);
  const strides = perm.map((p) => xs[p]);
  const offset = begin ? begin.reduce((s, b, i) => s + b * xs[i], 0) : 0;
  const { out, buf, size, bytes } = newOutput(backend, outShape);
  if (size === 0) return out;
  const padded = [...new Array<number>(MAX_RANK - strides.length).fill(0), ...strides];
  backend.dispatch({
    key: 'gather',
    source: () => `${bindings(1, 2 * MAX_RANK + 1)}
${entry1d(WG)}
  if (gid >= arrayLength(&out)) { return; }
  ${STRIDED_INDEX}
  out[gid] = in0[idx];
}`,
    inputs: [bufferOf(x)],
    output: buf,
    outputBytes: bytes,
    uniforms: packParams([...padShape(outShape), ...padded, offset]),
    workgroups: Math.ceil(size / WG),
  });
  return out;
}

registerKernel('transpose', 'webgpu', ({ x }, a, backend) => {
  const perm = a.perm as number[];
  return gather(backend as WebGPUBackend, x, perm.map((p) => x.shape[p]), perm, null);
});

registerKernel('slice', 'webgpu', ({ x }, a, backend) =>
  gather(backend as WebGPUBackend, x, a.size as number[], x.shape.map((_, i) => i), a.begin as number[]),
);

/** Pads `input` (of inShape) with `value` by `paddings` (before, after) per axis into `output`. */
export function dispatchPad(backend: WebGPUBackend, input: GPUBuffer, inShape: readonly number[], paddings: readonly (readonly [number, number])[], output: GPUBuffer, value = 0): void {
  checkRank(inShape, 'pad');
  const shape = inShape.map((d, i) => d + paddings[i][0] + paddings[i][1]);
  const size = shape.reduce((p, d) => p * d, 1);
  if (size === 0) return;
  const lead = MAX_RANK - inShape.length;
  const before = [...new Array<number>(lead).fill(0), ...paddings.map((q) => q[0])];
  // words: out shape (6), in shape (6), in strides (6), pad before (6), value
  const params = packParams([...padShape(shape), ...padShape(inShape), ...padShape(stridesOf(inShape)).map((st, i) => (i < lead ? 0 : st)), ...before, { f32: value }]);
  backend.dispatch({
    key: 'pad',
    source: () => `${bindings(1, 4 * MAX_RANK + 1)}
${entry1d(WG)}
  if (gid >= arrayLength(&out)) { return; }
  var idx = 0u;
  var rem = gid;
  var inside = true;
  for (var ax = ${MAX_RANK - 1}i; ax >= 0; ax--) {
    let a = u32(ax);
    let c = i32(rem % P(a)) - i32(P(${3 * MAX_RANK}u + a));
    rem = rem / P(a);
    if (c < 0 || c >= i32(P(${MAX_RANK}u + a))) { inside = false; } else { idx += u32(c) * P(${2 * MAX_RANK}u + a); }
  }
  out[gid] = select(PF(${4 * MAX_RANK}u), in0[idx], inside);
}`,
    inputs: [input],
    output,
    outputBytes: size * 4,
    uniforms: params,
    workgroups: Math.ceil(size / WG),
  });
}

registerKernel('pad', 'webgpu', ({ x }, a, backend) => {
  checkRank(x.shape, 'pad');
  const p = a.paddings as [number, number][];
  const shape = x.shape.map((d, i) => d + p[i][0] + p[i][1]);
  const { out, buf, size } = newOutput(backend, shape);
  if (size === 0) return out;
  dispatchPad(backend as WebGPUBackend, bufferOf(x), x.shape, p, buf, a.value as number);
  return out;
});

registerKernel('concat', 'webgpu', (inputs, a, backend) => {
  const g = backend as WebGPUBackend;
  const axis = a.axis as number;
  const parts = Array.from({ length: a.count as number }, (_, i) => inputs[`x${i}`]);
  const shape = [...parts[0].shape];
  checkRank(shape, 'concat');
  shape[axis] = parts.reduce((s, t) => s + t.shape[axis], 0);
  const { out, buf } = newOutput(backend, shape);
  const os = stridesOf(shape);
  // Each part is a sequence of rows of `row` floats, landing every `outRow` floats at `offset`.
  let outer = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i];
  const outRow = os[axis] * shape[axis];
  let offset = 0;
  for (const t of parts) {
    const n = t.shape.reduce((p, d) => p * d, 1);
    const row = n / Math.max(1, outer);
    if (n > 0) {
      g.dispatch({
        key: 'concat',
        label: `concat:${row}:${outRow}:${offset}`,
        source: () => `${bindings(1, 6)}
${UDIV_WGSL}
${entry1d(WG)}
  if (gid >= P(0u)) { return; }
  let r = udiv(gid, P(4u), P(5u));
  out[r * P(2u) + P(3u) + gid - r * P(1u)] = in0[gid];
}`,
        uniforms: packParams([n, row, outRow, offset, ...divMagic(row)]),
        inputs: [bufferOf(t)],
        output: buf,
        workgroups: Math.ceil(n / WG),
      });
    }
    offset += row;
  }
  return out;
});
