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

  it('compiles later keys on the helper only once the pass has used every planned key and the queue is idle', async () => {
    const gate = new GatedQueue(gpu.device.queue, () => undefined);
    const helper = helperByHand();
    gate.plan(['first', 'second'], helper.compile, ['late']);
    expect(gate.holdsLater('late')).toBe(true);
    expect(gate.holdsLater('second')).toBe(false); // a planned key, not a later one
    expect(helper.started).toEqual(['second']);
    await helper.finish('second');
    await gate.planned(); // the planned keys are compiled or taken: later ones are not waited for
    await new Promise((r) => setTimeout(r, 20));
    expect(helper.started).toEqual(['second']); // the pass has not used 'first' and 'second' yet
    const a = buffer([1]);
    const b = buffer([0]);
    gate.submit(copyCommand(a, b), ['first', 'second']);
    await gate.drained();
    for (let i = 0; i < 200 && helper.started.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
    expect(helper.started).toEqual(['second', 'late']);
    expect(gate.holdsLater('late')).toBe(true); // still compiling: the stand-in goes on
    await helper.finish('late');
    expect(gate.holdsLater('late')).toBe(false);
    expect(gate.planning).toBe(false);
    [a, b].forEach((x) => x.destroy());
  });

  it('drops later keys where there is no helper (their kernels then run their own pipelines)', async () => {
    const warmed: string[] = [];
    const gate = new GatedQueue(gpu.device.queue, (k) => warmed.push(k));
    gate.plan(['first', 'second'], async () => false, ['late']);
    await gate.planned();
    const a = buffer([1]);
    const b = buffer([0]);
    gate.submit(copyCommand(a, b), ['first', 'second']);
    await gate.drained();
    expect(gate.holdsLater('late')).toBe(false);
    expect(warmed).not.toContain('late'); // the main queue never compiles a later key ahead
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

/** The pipeline keys of the dispatches fn makes, in order, and what it returns (kept). */
function dispatchKeysOf(fn: () => cs.Tensor[]): { keys: string[]; out: cs.Tensor[] } {
  const keys: string[] = [];
  const orig = gpu.dispatch.bind(gpu);
  gpu.dispatch = (d) => {
    keys.push(d.key);
    orig(d);
  };
  try {
    return { keys, out: cs.tidy(fn) };
  } finally {
    gpu.dispatch = orig;
  }
}

/** The values of tensors, which are then disposed. */
async function valuesOf(ts: cs.Tensor[]): Promise<Float32Array[]> {
  const v = await Promise.all(ts.map((t) => t.data()));
  cs.dispose(ts);
  return v;
}

describe('a pass started while its pipelines compile', () => {
  it('computes the same values as with every pipeline compiled, and compiles each pipeline once', async () => {
    cs.engine.useBackend(gpu);
    const ref = dispatchKeysOf(smallPass);
    const want = await valuesOf(ref.out);
    // forget the pass's pipelines, so that prepareKernels plans them again
    const pipelines = (gpu as unknown as { pipelines: Map<string, GPUComputePipeline> }).pipelines;
    const keys = new Set(ref.keys);
    for (const k of keys) pipelines.delete(k);
    const gate = (gpu as unknown as { gate: GatedQueue }).gate;
    gate.takeReport();
    const r = await prepareKernels(smallPass, { tune: false }); // not waiting: the pass goes at once
    expect(r.compiled).toBe(keys.size);
    const before = gpu.stats.pipelinesCompiled;
    const values = await valuesOf(cs.tidy(smallPass));
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
    const ref = dispatchKeysOf(smallPass);
    const want = await valuesOf(ref.out);
    const seen = ref.keys;
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

describe('a first layer on RGB input runs on a stand-in while its own tile compiles', () => {
  // a 3-channel first layer (its own loop tile) before a convolution on the adapter's subgroup tile
  const pass = (convs: 1 | 2) => (): cs.Tensor[] => {
    const x = cs.randomNormal([1, 56, 56, 3], 0, 1, 31);
    const w1 = cs.randomNormal([3, 3, 3, 64], 0, 0.3, 32);
    const b1 = cs.randomNormal([64], 0, 0.1, 33);
    const w2 = cs.randomNormal([3, 3, 64, 64], 0, 0.1, 34);
    const h = cs.fusedConv2d(x, w1, b1, { padding: 'same', activation: 'relu' });
    return [h, ...(convs === 2 ? [cs.fusedConv2d(h, w2, b1, { padding: 'same', activation: 'relu' })] : [])];
  };
  const gate = () => (gpu as unknown as { gate: GatedQueue }).gate;
  const pipelines = () => (gpu as unknown as { pipelines: Map<string, GPUComputePipeline> }).pipelines;

  it('equal bit for bit to the first layer on its own tile, which takes over once the helper has compiled it', async () => {
    cs.engine.useBackend(gpu);
    const ref = dispatchKeysOf(pass(2));
    const want = await valuesOf(ref.out);
    const own = ref.keys[0]; // the first layer's own tile (the loop tile: 3 channels do not fit the subgroup tile)
    const subgroupTile = ref.keys[1];
    expect(own).not.toBe(subgroupTile);
    expect(own).toMatch(/^tapgemm:.*\|tap\d+\.\d+\.\d+$/);
    expect(subgroupTile).toMatch(/^tapgemm:.*s$/);
    await gpu.sync();
    for (const k of new Set(ref.keys)) pipelines().delete(k);
    for (const k of new Set(ref.keys)) (gate() as unknown as { state: Map<string, string> }).state.delete(k);
    await prepareKernels(pass(2), { tune: false });
    expect(gate().holdsLater(own)).toBe(true);
    const first = dispatchKeysOf(pass(2));
    expect(first.keys).not.toContain(own); // the first layer ran on the stand-in: pad, pad, the subgroup tile
    expect(first.keys.slice(0, 3)).toEqual(['pad', 'pad', subgroupTile]);
    const got = await valuesOf(first.out);
    got.forEach((v, i) => expect(Array.from(v)).toEqual(Array.from(want[i])));
    // after the pass the helper compiles the loop tile (however long that takes); then the layer runs on it again
    await gate().settled();
    expect(gate().holdsLater(own)).toBe(false);
    const after = dispatchKeysOf(pass(2));
    expect(after.keys[0]).toBe(own);
    const again = await valuesOf(after.out);
    again.forEach((v, i) => expect(Array.from(v)).toEqual(Array.from(want[i])));
  });

  it('not where the pass has no other use for the subgroup tile: the stand-in would be a compile of its own', async () => {
    cs.engine.useBackend(gpu);
    const ref = dispatchKeysOf(pass(1));
    cs.dispose(ref.out);
    await gpu.sync();
    for (const k of new Set(ref.keys)) pipelines().delete(k);
    for (const k of new Set(ref.keys)) (gate() as unknown as { state: Map<string, string> }).state.delete(k);
    await prepareKernels(pass(1), { tune: false });
    expect(gate().holdsLater(ref.keys[0])).toBe(false);
    const first = dispatchKeysOf(pass(1));
    cs.dispose(first.out);
    expect(first.keys).toEqual(ref.keys);
    await gpu.sync();
  });
});

