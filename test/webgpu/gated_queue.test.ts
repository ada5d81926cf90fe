import { beforeAll, describe, expect, it } from 'vitest';
import * as cs from '../../src/index.ts';
import { prepareKernels } from '../../src/engine/prepare.ts';
import type { WebGPUBackend } from '../../src/kernels/wgsl/backend.ts';
import { GatedQueue } from '../../src/kernels/wgsl/gated_queue.ts';
import { webgpu } from '../helpers/backends.ts';

// The main queue's gate while pipelines compile on two devices (gated_queue.ts), on the real
// Dawn device: held command buffers keep their order with buffer writes and callbacks, each
// planned key is compiled by one side only, and a pass started before the compiles finish
// computes what it computes without them.

let gpu: WebGPUBackend;
beforeAll(async () => {
  gpu = await webgpu();
});

const STORAGE = 0x80 | 0x04 | 0x08;
const MAP_READ_COPY_DST = 0x01 | 0x08;

function buffer(values: number[]): GPUBuffer {
  const b = gpu.device.createBuffer({ size: values.length * 4, usage: STORAGE, mappedAtCreation: true });
  new Float32Array(b.getMappedRange()).set(values);
  b.unmap();
  return b;
}

async function readBack(b: GPUBuffer): Promise<number[]> {
  const staging = gpu.device.createBuffer({ size: b.size, usage: MAP_READ_COPY_DST });
  const enc = gpu.device.createCommandEncoder();
  enc.copyBufferToBuffer(b, 0, staging, 0, b.size);
  gpu.device.queue.submit([enc.finish()]);
  await staging.mapAsync(1);
  const out = Array.from(new Float32Array(staging.getMappedRange().slice(0)));
  staging.destroy();
  return out;
}

function copyCommand(from: GPUBuffer, to: GPUBuffer): GPUCommandBuffer {
  const enc = gpu.device.createCommandEncoder();
  enc.copyBufferToBuffer(from, 0, to, 0, from.size);
  return enc.finish();
}

/** A helper-device stand-in whose compiles finish when the test says. */
function helperByHand() {
  const pending = new Map<string, () => void>();
  const started: string[] = [];
  const compile = (key: string) =>
    new Promise<boolean>((resolve) => {
      started.push(key);
      pending.set(key, () => resolve(true));
    });
  const finish = async (key: string) => {
    pending.get(key)!();
    pending.delete(key);
    await new Promise((r) => setTimeout(r, 0));
  };
  return { compile, finish, started };
}

describe('GatedQueue', () => {
  it('holds a command buffer the helper is still compiling for, and keeps later writes, submits and callbacks behind it', async () => {
    const warmed: string[] = [];
    const gate = new GatedQueue(gpu.device.queue, (k) => warmed.push(k));
    const helper = helperByHand();
    gate.plan(['first', 'second'], helper.compile);
    expect(warmed).toEqual(['first']); // the main queue takes the first key, the helper the next
    expect(helper.started).toEqual(['second']);
    const a = buffer([1, 2, 3, 4]);
    const b = buffer([0, 0, 0, 0]);
    const c = buffer([0, 0, 0, 0]);
    gate.submit(copyCommand(a, b), ['second']); // a -> b, needs what the helper compiles
    gate.writeBuffer(a, 0, new Float32Array([5, 6, 7, 8])); // must not overtake the copy above
    const scratch = new Float32Array([9, 9, 9, 9]);
    gate.writeBuffer(a, 8, scratch.subarray(0, 2)); // its array is reused at once below
    scratch.fill(-1);
    gate.submit(copyCommand(a, c), []); // needs nothing, but comes after
    const calls: string[] = [];
    gate.then(() => calls.push('after'));
    let drained = false;
    const done = gate.drained().then(() => (drained = true));
    await gpu.device.queue.onSubmittedWorkDone();
    expect(await readBack(b)).toEqual([0, 0, 0, 0]); // nothing held has run
    expect(calls).toEqual([]);
    expect(drained).toBe(false);
    await helper.finish('second');
    await done;
    expect(calls).toEqual(['after']);
    expect(await readBack(b)).toEqual([1, 2, 3, 4]); // the copy ran before the write
    expect(await readBack(c)).toEqual([5, 6, 9, 9]); // and the writes before the second copy, with the values given
    await gate.planned();
    expect(gate.takeReport()).toEqual({ main: ['first'], helper: ['second'] });
    [a, b, c].forEach((x) => x.destroy());
  });

  it('without a helper the main queue compiles each planned key once, ahead while idle, and a held buffer takes its own keys', async () => {
    const warmed: string[] = [];
    const gate = new GatedQueue(gpu.device.queue, (k) => warmed.push(k));
    gate.plan(['k1', 'k2', 'k3'], async () => false); // a helper that turns out to be missing
    const a = buffer([1, 2]);
    const b = buffer([0, 0]);
    gate.submit(copyCommand(a, b), ['k3']); // waits for the main queue to be idle, then takes k3 itself
    await gate.drained();
    await gate.planned();
    expect(await readBack(b)).toEqual([1, 2]);
    const r = gate.takeReport();
    expect(r.helper).toEqual([]);
    expect([...r.main].sort()).toEqual(['k1', 'k2', 'k3']);
    expect(warmed).not.toContain('k3'); // compiled by the buffer that needed it, not warmed up too
    expect(gate.holds('k1') || gate.holds('k2') || gate.holds('k3')).toBe(false);
    [a, b].forEach((x) => x.destroy());
  });

  it('passes everything straight through outside a plan', async () => {
    const gate = new GatedQueue(gpu.device.queue, () => {
      throw new Error('nothing is planned');
    });
    const a = buffer([3, 4]);
    const b = buffer([0, 0]);
    gate.submit(copyCommand(a, b), ['never-planned']);
    let ran = false;
    gate.then(() => (ran = true));
    expect(ran).toBe(true);
    expect(await readBack(b)).toEqual([3, 4]);
    [a, b].forEach((x) => x.destroy());
  });
});

/** A small network's loss and input gradient (convolutions, pool, dense, softmax) with fixed seeds. */
function smallPass(): cs.Tensor[] {
  const x = cs.randomNormal([1, 12, 12, 8], 0, 1, 21);
  const w1 = cs.randomNormal([3, 3, 8, 16], 0, 0.3, 22);
  const w2 = cs.randomNormal([3, 3, 16, 16], 0, 0.3, 23);
  const d = cs.randomNormal([6 * 6 * 16, 10], 0, 0.1, 24);
  const { value, grads } = cs.gradientsOf(() => {
    const h = cs.relu(cs.conv2d(cs.relu(cs.conv2d(x, w1, { padding: 'same' })), w2, { padding: 'same' }));
    const p = cs.softmax(cs.matmul(cs.flatten(cs.maxPool(h, { poolSize: 2 })), d));
    return { value: cs.sum(cs.slice(p, [0, 3], [1, 1])), wrt: [x] };
  });
  return [value, ...grads];
}

describe('a pass started while its pipelines compile', () => {
  it('computes the same values as with every pipeline compiled, and compiles each pipeline once', async () => {
    cs.engine.useBackend(gpu);
    const reference = cs.tidy(smallPass);
    const want = await Promise.all(reference.map((t) => t.data()));
    cs.dispose(reference);
    // forget the pass's pipelines, so that prepareKernels plans them again
    const pipelines = (gpu as unknown as { pipelines: Map<string, GPUComputePipeline> }).pipelines;
    const seen: string[] = [];
    const orig = gpu.dispatch.bind(gpu);
    gpu.dispatch = (d) => {
      seen.push(d.key);
      orig(d);
    };
    try {
      cs.dispose(cs.tidy(smallPass));
    } finally {
      gpu.dispatch = orig;
    }
    await gpu.sync();
    const keys = new Set(seen);
    for (const k of keys) pipelines.delete(k);
    const gate = (gpu as unknown as { gate: GatedQueue }).gate;
    gate.takeReport();
    const r = await prepareKernels(smallPass, { tune: false }); // not waiting: the pass goes at once
    expect(r.compiled).toBe(keys.size);
    const before = gpu.stats.pipelinesCompiled;
    const got = cs.tidy(smallPass);
    const values = await Promise.all(got.map((t) => t.data()));
    cs.dispose(got);
    expect(gpu.stats.pipelinesCompiled).toBe(before); // the pass created none of its own
    values.forEach((v, i) => expect(Array.from(v)).toEqual(Array.from(want[i])));
    await gate.planned();
    const report = gate.takeReport();
    // every key by exactly one side; on this machine (lavapipe in Node, 2 cores, shader cache on) the helper takes part
    expect([...report.main, ...report.helper].sort()).toEqual([...keys].sort());
    expect(report.helper.length).toBeGreaterThan(0);
    expect(report.main.length).toBeGreaterThan(0);
  });

  it('a pass whose pipelines are held back one at a time computes the same values, bit for bit', async () => {
    cs.engine.useBackend(gpu);
    const reference = cs.tidy(smallPass);
    const want = await Promise.all(reference.map((t) => t.data()));
    cs.dispose(reference);
    const seen: string[] = [];
    const orig = gpu.dispatch.bind(gpu);
    gpu.dispatch = (d) => {
      seen.push(d.key);
      orig(d);
    };
    try {
      cs.dispose(cs.tidy(smallPass));
    } finally {
      gpu.dispatch = orig;
    }
    await gpu.sync();
    // the pass's keys planned again (the gate forgets them first), with a helper by hand that holds each one until released
    const gate = (gpu as unknown as { gate: GatedQueue }).gate;
    const helper = helperByHand();
    const keys = [...new Set(seen)];
    const state = (gate as unknown as { state: Map<string, string> }).state;
    keys.forEach((k) => state.delete(k));
    gpu.drainPool(); // an empty pool, as in a fresh process: a uniform buffer freed too early is then the next one handed out
    gate.plan(keys, helper.compile);
    expect(gate.planning).toBe(true);
    const submitsBefore = gpu.stats.submits;
    const got = cs.tidy(smallPass); // dispatches of held keys start command buffers of their own, with their uniforms
    const reading = Promise.all(got.map((t) => t.data()));
    while (gate.planning) {
      const k = helper.started.find((key) => state.get(key) === 'helper');
      if (k) await helper.finish(k);
      else await new Promise((r) => setTimeout(r, 2));
    }
    const values = await reading;
    cs.dispose(got);
    expect(gpu.stats.submits - submitsBefore).toBeGreaterThan(2); // the pass was cut where it was held
    values.forEach((v, i) => expect(Array.from(v)).toEqual(Array.from(want[i])));
    expect(gate.takeReport().helper.length).toBeGreaterThan(0);
  });
});

