/**
 * In-process A/B for the few-row dense GEMM (a Dense layer on one image): the tap-GEMM shader
 * convscope compiles for 1xK times KxN, with its sizes as uniforms (as shipped), against the same
 * WGSL with every uniform read replaced by a literal (what baking the sizes would give). Identical
 * copies of each run as controls, all pipelines in turn in every repetition; the two forms must
 * give the same output (read back and compared, exactly) or the script fails.
 *
 *   npx tsx bench/dense_bake_ab.ts [KxNxREPS]     (default 8192x4096x30: fc1's binding block)
 */
import * as cs from '../src/index.ts';
import type { WebGPUBackend } from '../src/kernels/wgsl/backend.ts';
import { beginGpuWait } from '../src/kernels/wgsl/device.ts';
import { denseRows, tapParams } from '../src/kernels/wgsl/tap_gemm.ts';
const g = (await cs.setBackend('webgpu')) as WebGPUBackend;
const dev: GPUDevice = g.device;
const [K, N, reps] = (process.argv[2] ?? '8192x4096x30').split('x').map(Number);
// the shipped shader, captured as convscope compiles it
const sources: string[] = [];
const create = dev.createShaderModule.bind(dev);
dev.createShaderModule = (d: GPUShaderModuleDescriptor) => (sources.push(d.code), create(d));
const [x, w] = [cs.randomNormal([1, K], 0, 1, 1), cs.randomNormal([K, N], 0, 0.01, 2)];
cs.matmul(x, w).dispose();
await g.sync();
cs.dispose([x, w]);
dev.createShaderModule = create;
const raw = sources.find((c) => c.includes('subgroupShuffle') || c.includes('let PIX')) ?? sources[0];
// the uniform words matmul passes for this spec (tap_gemm.ts), read back as literals for the baked copies
const params = tapParams({ M: 1, N, L: K, rows: denseRows(K) });
const word = new Uint32Array(params);
const bake = (baked: boolean, copy: number) =>
  `// copy ${copy}\n` + (baked ? raw.replace(/(i32\()?P\((\d+)u\)\)?/g, (_m, i32, i) => (i32 ? `${word[Number(i)] | 0}i` : `${word[Number(i)]}u`)) : raw);
const variants: Record<string, [boolean, number]> = { uniform: [false, 1], uniform2: [false, 2], uniform3: [false, 3], uniform4: [false, 4], baked: [true, 1], baked2: [true, 2] };
const S = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
const buf = (bytes: number, usage: number) => dev.createBuffer({ size: bytes, usage });
const a = buf(K * 4, S), b = buf(K * N * 4, S), o = buf(N * 4, S | GPUBufferUsage.COPY_SRC), u = buf(80, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
dev.queue.writeBuffer(u, 0, params);
const noise = (n: number) => Float32Array.from({ length: n }, (_v, i) => Math.sin(i * 12.9898) * 0.5);
dev.queue.writeBuffer(a, 0, noise(K));
dev.queue.writeBuffer(b, 0, noise(K * N));
const run: Record<string, () => Promise<number>> = {};
for (const [name, [baked, copy]] of Object.entries(variants)) {
  const code = bake(baked, copy);
  const p = dev.createComputePipeline({ layout: 'auto', compute: { module: dev.createShaderModule({ code }), entryPoint: 'main' } });
  const usesU = !baked;
  const bg = dev.createBindGroup({ layout: p.getBindGroupLayout(0), entries: [a, b, o, u].map((buffer, binding) => ({ binding, resource: { buffer } })).filter((_e, i) => i < 3 || usesU) });
  run[name] = async () => {
    const t0 = performance.now();
    const e = dev.createCommandEncoder(); const c = e.beginComputePass(); c.setPipeline(p); c.setBindGroup(0, bg); c.dispatchWorkgroups(Math.ceil(N / 32), 1, 1); c.end();
    dev.queue.submit([e.finish()]); beginGpuWait(); await dev.queue.onSubmittedWorkDone();
    return performance.now() - t0;
  };
}
const times: Record<string, number[]> = Object.fromEntries(Object.keys(run).map((k) => [k, []]));
const names = Object.keys(run);
for (let r = 0; r < reps + 1; r++) for (const k of names.map((_n, i) => names[(i + r) % names.length])) { const t = await run[k](); if (r) times[k].push(t); }
// both forms must compute the same product: the output of each, read back after one more run
const outputOf = async (k: string): Promise<Float32Array> => {
  await run[k]();
  const r = buf(N * 4, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
  const e = dev.createCommandEncoder();
  e.copyBufferToBuffer(o, 0, r, 0, N * 4);
  dev.queue.submit([e.finish()]);
  await r.mapAsync(GPUMapMode.READ);
  const v = new Float32Array(r.getMappedRange().slice(0));
  r.destroy();
  return v;
};
const [ou, ob] = [await outputOf('uniform'), await outputOf('baked')];
const diff = ou.reduce((m, v, i) => Math.max(m, Math.abs(v - ob[i])), 0);
if (diff > 0) throw new Error(`baked and uniform outputs differ by ${diff}`);
const med = (x: number[]) => [...x].sort((p, q) => p - q)[x.length >> 1];
for (const k of Object.keys(run)) console.log(`K=${K} N=${N} ${k.padEnd(9)} ${med(times[k]).toFixed(1)} ms  ${(med(times[k]) / med(times.uniform)).toFixed(3)}`);
process.exit(0);
