/**
 * What each pipeline of a VGG16 Grad-CAM costs to compile on this adapter:
 *
 *   npx tsx bench/compile_costs.ts
 *
 * The parent records the distinct WGSL sources one Grad-CAM dispatches (bench/vgg16_gradcam.ts)
 * and how many dispatches use each, then starts a child whose Mesa shader cache is an empty
 * folder; the child creates each pipeline and dispatches it once on one workgroup of scratch
 * buffers (a software driver such as lavapipe compiles at the first dispatch, not at creation)
 * and prints the time of each. The sum is what a first run compiles with nothing cached.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as cs from '../src/index.ts';
import type { Dispatch, WebGPUBackend } from '../src/kernels/wgsl/backend.ts';
import { convscopeGradCam } from './vgg16_gradcam.ts';

interface Source {
  key: string;
  label: string;
  source: string;
  uses: number;
}

const gpu = (await cs.setBackend('webgpu')) as WebGPUBackend;
const listFile = process.env.CONVSCOPE_COMPILE_COSTS_LIST;

if (!listFile) {
  const g = convscopeGradCam();
  const seen = new Map<string, Source>();
  const dispatch = gpu.dispatch.bind(gpu);
  gpu.dispatch = (d: Dispatch) => {
    const s = seen.get(d.key);
    if (s) s.uses++;
    else seen.set(d.key, { key: d.key, label: d.label ?? d.key, source: d.source(), uses: 1 });
    dispatch(d);
  };
  cs.dispose(g.pass());
  await gpu.sync();
  gpu.dispatch = dispatch;
  g.dispose();
  const dir = mkdtempSync(join(tmpdir(), 'convscope-compile-costs-'));
  try {
    const list = join(dir, 'sources.json');
    writeFileSync(list, JSON.stringify([...seen.values()]));
    console.log(`${seen.size} pipelines in one VGG16 Grad-CAM at 224 on ${gpu.describe()}; compiling each with an empty Mesa cache ...`);
    const env = { ...process.env, CONVSCOPE_COMPILE_COSTS_LIST: list, MESA_SHADER_CACHE_DIR: join(dir, 'mesa'), CONVSCOPE_CACHE_DIR: join(dir, 'convscope') };
    const r = spawnSync(process.execPath, [...process.execArgv, import.meta.filename], { env, stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`the compiling process failed (status ${r.status})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
} else {
  const list: Source[] = JSON.parse(readFileSync(listFile, 'utf8'));
  const dev: GPUDevice = gpu.device;
  const scratch = () => dev.createBuffer({ size: 1 << 16, usage: GPUBufferUsage.STORAGE });
  let total = 0;
  const rows: string[] = [];
  for (const it of list) {
    const t0 = performance.now();
    const p = dev.createComputePipeline({ layout: 'auto', compute: { module: dev.createShaderModule({ code: it.source }), entryPoint: 'main' } });
    const inputs = (it.source.match(/var<storage, read> in\d/g) ?? []).length;
    const entries: GPUBindGroupEntry[] = [...Array(inputs + 1)].map((_v, binding) => ({ binding, resource: { buffer: scratch() } }));
    if (/var<uniform>/.test(it.source)) entries.push({ binding: inputs + 1, resource: { buffer: dev.createBuffer({ size: 256, usage: GPUBufferUsage.UNIFORM }) } });
    const encoder = dev.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(p);
    pass.setBindGroup(0, dev.createBindGroup({ layout: p.getBindGroupLayout(0), entries }));
    pass.dispatchWorkgroups(1, 1, 1);
    pass.end();
    dev.queue.submit([encoder.finish()]);
    await dev.queue.onSubmittedWorkDone();
    const ms = performance.now() - t0;
    total += ms;
    rows.push(`| ${it.key} | ${it.label.split('|')[0].slice(0, 60)} | ${it.uses} | ${(ms / 1000).toFixed(2)} |`);
  }
  console.log(['| pipeline | first use | dispatches | first dispatch s |', '|---|---|---:|---:|', ...rows].join('\n'));
  console.log(`\n${list.length} pipelines, ${(total / 1000).toFixed(1)} s in all, one after another`);
}
process.exit(0);
