/**
 * In-process A/B for the few-row dense GEMM (a Dense layer on one image): the tap-GEMM shader
 * convscope compiles for 1xK times KxN, with its sizes as uniforms (as shipped), against the same
 * WGSL with every uniform read replaced by a literal (what baking the sizes would give). Identical
 * copies of each run as controls, all pipelines in turn in every repetition.
 *
 *   npx tsx bench/dense_bake_ab.ts [KxNxREPS]     (default 8192x4096x30: fc1's binding block)
 */
import * as cs from '../src/index.ts';
import { beginGpuWait } from '../src/kernels/wgsl/device.ts';
const g: any = await cs.setBackend('webgpu');
const dev: GPUDevice = g.device;
const [K, N, reps] = (process.argv[2] ?? '8192x4096x20').split('x').map(Number);
// the shipped shader, captured as convscope compiles it
const sources: string[] = [];
const create = dev.createShaderModule.bind(dev);
dev.createShaderModule = (d: GPUShaderModuleDescriptor) => (sources.push(d.code), create(d));
const [x, w] = [cs.randomNormal([1, K], 0, 1, 1), cs.randomNormal([K, N], 0, 0.01, 2)];
cs.matmul(x, w).dispose();
await g.sync();
cs.dispose([x, w]);
dev.createShaderModule = create;
const raw = sources.find((c) => c.includes('subgroupBroadcast') || c.includes('let PIX')) ?? sources[0];
const words: Record<string, number> = { M: 1, N, L: K, KH: 1, KW: 1, RH: 1, RW: 1, IH: 1, IW: 1, PIX: K, AOFF: 0, SY: 0, SX: 0, PY: 0, PX: 0, DY: 0, DX: 0, OSTRIDE: N, OOFF: 0, ACC: 0 };
const order = Object.keys(words);
const bake = (set: string[]) => raw.replace(/let (\w+) = (i32\()?P\((\d+)u\)\)?;/g, (m, name, i32) => (set.includes(name) ? `let ${name} = ${words[name]}${i32 ? 'i' : 'u'};` : m));
const variants: Record<string, string[]> = { uniform: [], uniform2: ['copy'], uniform3: ['copy'], uniform4: ['copy'], baked: order, baked2: [...order, 'copy'] };
const S = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
const buf = (bytes: number, usage: number) => dev.createBuffer({ size: bytes, usage });
const a = buf(K * 4, S), b = buf(K * N * 4, S), o = buf(N * 4, S), u = buf(80, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
dev.queue.writeBuffer(u, 0, new Uint32Array(order.map((k) => words[k] >>> 0)));
const run: Record<string, () => Promise<number>> = {};
for (const [name, set] of Object.entries(variants)) {
  const code = bake(set);
  const p = dev.createComputePipeline({ layout: 'auto', compute: { module: dev.createShaderModule({ code }), entryPoint: 'main' } });
  const usesU = !order.every((w) => set.includes(w));
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
const med = (x: number[]) => [...x].sort((p, q) => p - q)[x.length >> 1];
for (const k of Object.keys(run)) console.log(`K=${K} N=${N} ${k.padEnd(9)} ${med(times[k]).toFixed(1)} ms  ${(med(times[k]) / med(times.uniform)).toFixed(3)}`);
process.exit(0);
