/**
 * In-process A/B for the few-row dense GEMM (a Dense layer on one image): the tap-GEMM shader
 * convscope compiles for 1xK times KxN, with its sizes baked in as constants (as shipped since
 * 2026-12-03), against the same tile with its sizes read from the uniform buffer (as shipped
 * 2026-11-26 to 12-02). Identical copies of each run as controls, all pipelines in turn in every
 * repetition; the two forms must give the same output (read back and compared, exactly) or the
 * script fails.
 *
 *   npx tsx bench/dense_bake_ab.ts [KxNxREPS]     (default 8192x4096x30: fc1's binding block)
 */
import * as cs from '../src/index.ts';
import type { Dispatch, WebGPUBackend } from '../src/kernels/wgsl/backend.ts';
import { beginGpuWait } from '../src/kernels/wgsl/device.ts';
import { denseRows, tapGemmSource, tapParams, type TapTiling } from '../src/kernels/wgsl/tap_gemm.ts';
const g = (await cs.setBackend('webgpu')) as WebGPUBackend;
const dev: GPUDevice = g.device;
const [K, N, reps] = (process.argv[2] ?? '8192x4096x30').split('x').map(Number);
// the dispatch convscope makes for this product (its tile is in the label: ...|tap1.4.8s)
const shipped: Dispatch[] = [];
const dispatch = g.dispatch.bind(g);
g.dispatch = (d: Dispatch) => (shipped.push(d), dispatch(d));
const [x, w] = [cs.randomNormal([1, K], 0, 1, 1), cs.randomNormal([K, N], 0, 0.01, 2)];
cs.matmul(x, w).dispose();
await g.sync();
cs.dispose([x, w]);
g.dispatch = dispatch;
const d = shipped.find((s) => s.key.startsWith('tapgemm:') && s.key.includes(':sizes='));
if (!d) throw new Error(`no baked few-row tap GEMM among the dispatches for 1x${K} * ${K}x${N}: ${shipped.map((s) => s.label).join(', ')}`);
const m = /\|tap(\d+)\.(\d+)\.(\d+)(s?)(v?)(n?)$/.exec(d.label ?? '');
if (!m) throw new Error(`cannot read the tile from ${d.label}`);
const tile: TapTiling = { TM: +m[1], TN: +m[2], WG: +m[3], subgroup: !!m[4], vec4: !!m[5], narrow: !!m[6] };
const spec = { M: 1, N, L: K, rows: denseRows(K) };
const params = tapParams(spec);
const source = (baked: boolean, copy: number) => `// copy ${copy}\n${tapGemmSource({ ...spec, bakeSizes: baked }, tile, 2)}`;
if (source(true, 0) !== `// copy 0\n${d.source()}`) throw new Error('the baked source here is not the one convscope dispatched');
const [wx, wy, wz] = typeof d.workgroups === 'number' ? [d.workgroups, 1, 1] : d.workgroups;
console.log(`tile ${m[0].slice(1)}, grid ${wx}x${wy}x${wz}`);
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
  const code = source(baked, copy);
  const p = dev.createComputePipeline({ layout: 'auto', compute: { module: dev.createShaderModule({ code }), entryPoint: 'main' } });
  const bg = dev.createBindGroup({ layout: p.getBindGroupLayout(0), entries: [a, b, o, u].map((buffer, binding) => ({ binding, resource: { buffer } })) });
  run[name] = async () => {
    const t0 = performance.now();
    const e = dev.createCommandEncoder(); const c = e.beginComputePass(); c.setPipeline(p); c.setBindGroup(0, bg); c.dispatchWorkgroups(wx, wy, wz); c.end();
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
