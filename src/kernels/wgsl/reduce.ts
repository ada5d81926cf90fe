import { registerKernel, type KernelInput } from '../../engine/kernel_registry.ts';
import type { WebGPUBackend } from './backend.ts';
import { bindings, bufferOf, entry1d, newOutput, packParams, WG } from './program.ts';
import { gather } from './shape.ts';

/**
 * Reductions over any set of axes. The input is first permuted (one gather pass) so
 * the reduced axes are last and contiguous, unless they already are; then each output
 * element folds one contiguous row. Long rows get a workgroup each (tree reduction in
 * workgroup memory); short rows a thread each.
 */

const FOLD = {
  sum: { init: '0.0', fold: (a: string, b: string) => `${a} + ${b}` },
  max: { init: '-3.4028234663852886e38', fold: (a: string, b: string) => `max(${a}, ${b})` },
  min: { init: '3.4028234663852886e38', fold: (a: string, b: string) => `min(${a}, ${b})` },
};
type ReduceOp = keyof typeof FOLD;

const SHORT_ROW = 256;

// the row length is a uniform (word 0): one pipeline per op and row kind serves every shape
function rowSource(op: ReduceOp, short: boolean): string {
  const f = FOLD[op];
  if (short) {
    return `${bindings(1, 1)}
${entry1d(WG)}
  if (gid >= arrayLength(&out)) { return; }
  let rowLen = P(0u);
  var acc = ${f.init};
  for (var i = 0u; i < rowLen; i++) { acc = ${f.fold('acc', 'in0[gid * rowLen + i]')}; }
  out[gid] = acc;
}`;
  }
  return `${bindings(1, 1)}
var<workgroup> part: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.y * nwg.x + wid.x;
  let rowLen = P(0u);
  let base = row * rowLen;
  var acc = ${f.init};
  for (var i = lid; i < rowLen; i += ${WG}u) { acc = ${f.fold('acc', 'in0[base + i]')}; }
  part[lid] = acc;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s / 2u) {
    if (lid < s) { part[lid] = ${f.fold('part[lid]', 'part[lid + s]')}; }
    workgroupBarrier();
  }
  if (lid == 0u && row < arrayLength(&out)) { out[row] = part[0]; }
}`;
}

/** Folds each contiguous row of `rowLen` values of x into one output value. */
export function reduceRows(backend: WebGPUBackend, op: ReduceOp, x: GPUBuffer, rows: number, rowLen: number, outShape: number[]) {
  const { out, buf, size, bytes } = newOutput(backend, outShape);
  if (size === 0) return out;
  backend.dispatch({
    key: `reduce:${op}:${rowLen <= SHORT_ROW ? 'short' : 'long'}`,
    label: `reduce:${op}:${rowLen}`,
    source: () => rowSource(op, rowLen <= SHORT_ROW),
    uniforms: packParams([rowLen]),
    inputs: [x],
    output: buf,
    outputBytes: bytes,
    workgroups: rowLen <= SHORT_ROW ? Math.ceil(rows / WG) : rows,
  });
  return out;
}

function reduceKernel(op: ReduceOp) {
  return ({ x }: Record<string, KernelInput>, a: Record<string, unknown>, backend: unknown) => {
    const g = backend as WebGPUBackend;
    const axes = a.axes as number[];
    const kept = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
    const rowLen = axes.reduce((p, ax) => p * x.shape[ax], 1);
    const rows = kept.reduce((p, ax) => p * x.shape[ax], 1);
    const trailing = axes.every((ax, i) => ax === x.shape.length - axes.length + i);
    if (trailing) return reduceRows(g, op, bufferOf(x), rows, rowLen, a.outShape as number[]);
    const perm = [...kept, ...axes];
    const moved = gather(g, x, perm.map((p) => x.shape[p]), perm, null);
    const res = reduceRows(g, op, (moved.handle as unknown as { buffer: GPUBuffer }).buffer, rows, rowLen, a.outShape as number[]);
    g.release(moved.handle);
    return res;
  };
}

for (const op of Object.keys(FOLD) as ReduceOp[]) registerKernel(op, 'webgpu', reduceKernel(op));

registerKernel('softmax', 'webgpu', ({ x }, _a, backend) => {
  const n = x.shape[x.shape.length - 1];
  const rows = x.shape.slice(0, -1).reduce((p, d) => p * d, 1);
  const { out, buf, size, bytes } = newOutput(backend, [...x.shape]);
  if (size === 0) return out;
  // one workgroup per row: max, then sum of exp(x - max), then normalise
  // the row length n is a uniform: one pipeline for every softmax
  const source = () => `${bindings(1, 1)}
var<workgroup> part: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3<u32>) {
  let n = P(0u);
  let base = (wid.y * nwg.x + wid.x) * n;
  if (base >= arrayLength(&out)) { return; }
  var m = -3.4028234663852886e38;
  for (var i = lid; i < n; i += ${WG}u) { m = max(m, in0[base + i]); }
  part[lid] = m;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s / 2u) { if (lid < s) { part[lid] = max(part[lid], part[lid + s]); } workgroupBarrier(); }
  let rowMax = part[0];
  workgroupBarrier();
  var t = 0.0;
  for (var i = lid; i < n; i += ${WG}u) { let e = exp(in0[base + i] - rowMax); out[base + i] = e; t += e; }
  part[lid] = t;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s / 2u) { if (lid < s) { part[lid] += part[lid + s]; } workgroupBarrier(); }
  let total = part[0];
  for (var i = lid; i < n; i += ${WG}u) { out[base + i] = out[base + i] / total; }
}`;
  (backend as WebGPUBackend).dispatch({ key: 'softmax', label: `softmax:${n}`, source, inputs: [bufferOf(x)], output: buf, outputBytes: bytes, uniforms: packParams([n]), workgroups: rows });
  return out;
});
