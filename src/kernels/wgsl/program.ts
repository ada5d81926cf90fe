import type { KernelInput, KernelOutput } from '../../engine/kernel_registry.ts';
import { stridesOf } from '../../engine/shape.ts';
import type { GpuBuffer, WebGPUBackend } from './backend.ts';

/** Helpers shared by every WGSL kernel family: binding declarations, parameters, indexing. */

export const bufferOf = (x: KernelInput): GPUBuffer => (x.handle as GpuBuffer).buffer;

/**
 * Binding declarations: inputs `in0..`, the output `out`, and (when `uniformWords` > 0)
 * a uniform block of u32 words read with `P(i)` (and as f32 with `PF(i)`).
 */
export function bindings(nInputs: number, uniformWords = 0, outType = 'f32'): string {
  const lines: string[] = [];
  for (let i = 0; i < nInputs; i++) lines.push(`@group(0) @binding(${i}) var<storage, read> in${i}: array<f32>;`);
  lines.push(`@group(0) @binding(${nInputs}) var<storage, read_write> out: array<${outType}>;`);
  if (uniformWords > 0) {
    const vecs = Math.ceil(uniformWords / 4);
    lines.push(`struct Params { p: array<vec4<u32>, ${vecs}> };`);
    lines.push(`@group(0) @binding(${nInputs + 1}) var<uniform> u: Params;`);
    lines.push('fn P(i: u32) -> u32 { return u.p[i / 4u][i % 4u]; }');
    lines.push('fn PF(i: u32) -> f32 { return bitcast<f32>(P(i)); }');
  }
  return lines.join('\n');
}

/** Packs numbers as u32 words (floats via `f32(x)` are bit-cast), padded to 16 bytes. */
export function packParams(words: readonly (number | { f32: number })[]): ArrayBuffer {
  const n = Math.max(4, Math.ceil(words.length / 4) * 4);
  const buf = new ArrayBuffer(n * 4);
  const u = new Uint32Array(buf);
  const f = new Float32Array(buf);
  words.forEach((w, i) => {
    if (typeof w === 'number') u[i] = w >>> 0;
    else f[i] = w.f32;
  });
  return buf;
}

/** Entry point for a 1-D grid of `wg` threads per workgroup, folded over x and y; declares `gid`. */
export function entry1d(wg: number): string {
  return `@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let gid = (wid.y * nwg.x + wid.x) * ${wg}u + lid;`;
}

export const MAX_RANK = 6;

/**
 * Strides of an input of shape `inShape` broadcast to `outShape`, left-padded to
 * MAX_RANK; axes along which it is repeated (and padded axes) get stride 0.
 */
export function paddedStrides(inShape: readonly number[], outShape: readonly number[]): number[] {
  const s = stridesOf(inShape);
  const res = new Array<number>(MAX_RANK).fill(0);
  const shift = outShape.length - inShape.length;
  for (let i = 0; i < inShape.length; i++) {
    const repeated = inShape[i] === 1 && outShape[i + shift] !== 1;
    res[MAX_RANK - inShape.length + i] = repeated ? 0 : s[i];
  }
  return res;
}

export function padShape(shape: readonly number[]): number[] {
  return [...new Array<number>(MAX_RANK - shape.length).fill(1), ...shape];
}

export function checkRank(shape: readonly number[], op: string): void {
  if (shape.length > MAX_RANK) throw new Error(`${op}: webgpu kernels support tensors of rank <= ${MAX_RANK}, got rank ${shape.length}`);
}

/** A fresh output buffer; `bytes` is what to bind so that arrayLength(&out) equals `size`. */
export function newOutput(backend: unknown, shape: number[]): { out: KernelOutput; buf: GPUBuffer; size: number; bytes: number } {
  let size = 1;
  for (const d of shape) size *= d;
  const h = (backend as WebGPUBackend).allocate(size);
  return { out: { handle: h, shape }, buf: h.buffer, size, bytes: size * 4 };
}

export const WG = 256;

/**
 * Division by a divisor known only at run time (a uniform), without a hardware divide:
 * lavapipe turns a vector `n / d` into one scalar divide per lane, where division by a
 * constant is a multiply and a shift. `divMagic(d)` gives two uniform words (m, shifts)
 * for WGSL's `udiv(n, m, shifts)`, exact for every u32 n and d >= 1 (Granlund and
 * Montgomery's round-up method, with the 32x32 -> 64-bit high product built from 16-bit halves).
 */
export function divMagic(d: number): [number, number] {
  if (!(Number.isInteger(d) && d >= 1 && d < 2 ** 32)) throw new Error(`divMagic: divisor must be a u32 >= 1, got ${d}`);
  const l = d === 1 ? 0 : Math.ceil(Math.log2(d)) + (2 ** Math.ceil(Math.log2(d)) < d ? 1 : 0);
  const m = Number((((1n << 32n) * ((1n << BigInt(l)) - BigInt(d))) / BigInt(d) + 1n) & 0xffffffffn);
  return [m, Math.min(l, 1) | (Math.max(l - 1, 0) << 8)];
}

export const UDIV_WGSL = `fn mulhi(a: u32, b: u32) -> u32 {
  let a0 = a & 0xffffu; let a1 = a >> 16u; let b0 = b & 0xffffu; let b1 = b >> 16u;
  let p01 = a0 * b1; let p10 = a1 * b0;
  let mid = ((a0 * b0) >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  return a1 * b1 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
}
fn udiv(n: u32, m: u32, shifts: u32) -> u32 {
  let t = mulhi(m, n);
  return (t + ((n - t) >> (shifts & 0xffu))) >> (shifts >> 8u);
}`;
