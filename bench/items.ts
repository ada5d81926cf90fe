/**
 * The benchmark items: kernels at every VGG16 layer shape (224x224, batch 1) and end-to-end
 * work, each implemented for convscope and for the TensorFlow.js peers.
 */
import * as cs from '../src/index.ts';
import type { WebGPUBackend } from '../src/kernels/wgsl/backend.ts';
import { tfChecked, useTf, type Tf } from './peers.ts';
import { VGG16_CONVS, vgg16, type VggOps, type VggWeights } from './vgg16_ops.ts';
import { channelMasks } from '../src/viz/attribution/score_cam.ts';

export type Engine = 'convscope' | 'tfjs-webgpu' | 'tfjs-wasm';

/** A prepared run: `run` resolves once the GPU work is complete. */
export interface Prepared {
  run: () => Promise<void>;
  dispose: () => void;
  /** Peak bytes of the last run, where the engine can tell. */
  peakBytes?: () => Promise<number | undefined>;
}

export interface BenchItem {
  name: string;
  kind: 'kernel' | 'e2e';
  shape: string;
  /** Floating-point operations of one run (null where not meaningful). */
  flops: number | null;
  prepare: (engine: Engine) => Promise<Prepared>;
  /** An end-to-end item's work, for peers that build it themselves (bench/jax_peer.ts). */
  task?: Task;
}

const gpu = () => cs.getBackend() as WebGPUBackend;

/** std of He-initialised weights keeps activations finite through 16 layers */
const he = (fanIn: number) => Math.sqrt(2 / fanIn);

async function oursOp(make: () => cs.Tensor[], op: (...t: cs.Tensor[]) => cs.Tensor): Promise<Prepared> {
  await cs.setBackend('webgpu');
  const ins = make();
  return {
    run: async () => {
      op(...ins).dispose();
      await gpu().sync();
    },
    dispose: () => cs.dispose(ins),
  };
}

async function tfOp(engine: Engine, make: (tf: Tf) => TF.Tensor[], op: (tf: Tf, ...t: TF.Tensor[]) => TF.Tensor): Promise<Prepared> {
  const tf = await useTf(engine === 'tfjs-webgpu' ? 'webgpu' : 'wasm');
  const ins = make(tf);
  return {
    run: async () => {
      let y: TF.Tensor | undefined;
      await tfChecked(tf, () => {
        y = op(tf, ...ins);
      });
      if (engine === 'tfjs-wasm') y!.dataSync(); // wasm is synchronous; the read is a few microseconds
      y!.dispose();
    },
    dispose: () => tf.dispose(ins),
  };
}
import type * as TF from '@tensorflow/tfjs-core';

function kernelItem(
  name: string,
  shape: string,
  flops: number | null,
  shapes: number[][],
  ours: (...t: cs.Tensor[]) => cs.Tensor,
  theirs: (tf: Tf, ...t: TF.Tensor[]) => TF.Tensor,
  scale = 1,
): BenchItem {
  return {
    name,
    kind: 'kernel',
    shape,
    flops,
    prepare: (engine) =>
      engine === 'convscope'
        ? oursOp(() => shapes.map((s, i) => cs.randomNormal(s, 0, scale, i + 1)), ours)
        : tfOp(engine, (tf) => shapes.map((s) => tf.randomNormal(s, 0, scale)), theirs),
  };
}

/** `inputSize`: the image size the layer shapes follow (224, VGG16's; the browser page can run them smaller on a slow adapter). */
export function kernelItems(inputSize = 224): BenchItem[] {
  const items: BenchItem[] = [];
  const seen = new Set<string>();
  let size = inputSize;
  for (const [name, inC, outC] of VGG16_CONVS) {
    const key = `${size}:${inC}:${outC}`;
    if (!seen.has(key)) {
      seen.add(key);
      const x = [1, size, size, inC];
      const w = [3, 3, inC, outC];
      const y = [1, size, size, outC];
      const flops = 2 * size * size * outC * 9 * inC;
      const shape = `${size}x${size}x${inC}->${outC}`;
      const conv = { strides: [1, 1] as [number, number], pad: 'same' as const, dataFormat: 'NHWC' as const };
      items.push(kernelItem(`conv2d ${name}`, shape, flops, [x, w], (a, b) => cs.conv2d(a, b, { padding: 'same' }), (tf, a, b) => tf.conv2d(a as TF.Tensor4D, b as TF.Tensor4D, 1, 'same')));
      items.push(
        kernelItem(`conv2d backprop input ${name}`, shape, flops, [y, w], (dy, f) => cs.conv2dBackpropInput(dy, f, x, { padding: 'same' }), (tf, dy, f) =>
          tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: f }, { ...conv, inputShape: x as [number, number, number, number] }) as TF.Tensor,
        ),
      );
      items.push(
        kernelItem(`conv2d backprop filter ${name}`, shape, flops, [x, y], (a, dy) => cs.conv2dBackpropFilter(a, dy, w, { padding: 'same' }), (tf, a, dy) =>
          tf.engine().runKernel('Conv2DBackpropFilter', { x: a, dy }, { ...conv, filterShape: w }) as TF.Tensor,
        ),
      );
    }
    if (/block[12]_conv2|block[345]_conv3/.test(name)) {
      const x = [1, size, size, outC];
      const half = size / 2;
      const pool = `block${name[5]}_pool`;
      items.push(kernelItem(`max pool ${pool}`, `${size}x${size}x${outC}`, null, [x], (a) => cs.maxPool(a), (tf, a) => tf.maxPool(a as TF.Tensor4D, 2, 2, 'valid')));
      items.push({
        name: `max pool backward ${pool}`,
        kind: 'kernel',
        shape: `${size}x${size}x${outC}`,
        flops: null,
        prepare: async (engine) => {
          if (engine === 'convscope') {
            return oursOp(() => [cs.randomNormal([1, half, half, outC], 0, 1, 1), cs.randomNormal(x, 0, 1, 2)], (dy, a) => cs.maxPoolBackward(dy, a));
          }
          return tfOp(
            engine,
            (tf) => {
              const a = tf.randomNormal(x as [number, number, number, number]) as TF.Tensor4D;
              return [tf.randomNormal([1, half, half, outC]), a, tf.maxPool(a, 2, 2, 'valid')];
            },
            (tf, dy, a, y) => tf.engine().runKernel('MaxPoolGrad', { dy, input: a, output: y }, { filterSize: 2, strides: 2, pad: 'valid' }) as TF.Tensor,
          );
        },
      });
      size = half;
    }
  }
  for (const [name, n, m] of [
    ['fc1', 25088, 4096],
    ['fc2', 4096, 4096],
    ['predictions', 4096, 1000],
  ] as const) {
    const flops = 2 * n * m;
    items.push(kernelItem(`dense ${name}`, `1x${n}->${m}`, flops, [[1, n], [n, m]], (a, w) => cs.matmul(a, w), (tf, a, w) => tf.matMul(a as TF.Tensor2D, w as TF.Tensor2D), 0.01));
    items.push(
      kernelItem(`dense backward input ${name}`, `1x${m}->${n}`, flops, [[1, m], [n, m]], (dy, w) => cs.matmul(dy, w, false, true), (tf, dy, w) => tf.matMul(dy as TF.Tensor2D, w as TF.Tensor2D, false, true), 0.01),
    );
    if (name !== 'fc1') {
      items.push(kernelItem(`dense backward kernel ${name}`, `${n}x1 * 1x${m}`, flops, [[1, n], [1, m]], (a, dy) => cs.matmul(a, dy, true, false), (tf, a, dy) => tf.matMul(a as TF.Tensor2D, dy as TF.Tensor2D, true, false)));
    }
  }
  return items;
}

// ---- end to end ----

export function oursVggOps(): VggOps<cs.Tensor> {
  return {
    conv: (x, w, b) => cs.fusedConv2d(x, w, b, { padding: 'same', activation: 'relu' }),
    pool: (x) => cs.maxPool(x),
    flatten: (x) => cs.flatten(x),
    dense: (x, w, b, act) => (act === 'relu' ? cs.relu : cs.softmax)(cs.biasAdd(cs.matmul(x, w[0]), b)),
  };
}

function tfVggOps(tf: Tf): VggOps<TF.Tensor> {
  return {
    // tfjs's own fused kernel (bias and ReLU in the convolution), its fastest form
    conv: (x, w, b) => tf.fused.conv2d({ x: x as TF.Tensor4D, filter: w as TF.Tensor4D, strides: 1, pad: 'same', bias: b, activation: 'relu' }),
    pool: (x) => tf.maxPool(x as TF.Tensor4D, 2, 2, 'valid'),
    flatten: (x) => tf.reshape(x, [x.shape[0], -1]),
    dense: (x, w, b, act) => {
      // x [1, n] times row blocks of the kernel: the sum over blocks of x[:, rows] w[rows]
      let offset = 0;
      let y: TF.Tensor | undefined;
      for (const block of w) {
        const rows = block.shape[0];
        const part = tf.matMul((w.length > 1 ? tf.slice(x, [0, offset], [-1, rows]) : x) as TF.Tensor2D, block as TF.Tensor2D);
        y = y ? tf.add(y, part) : part;
        offset += rows;
      }
      return (act === 'relu' ? tf.relu : tf.softmax)(tf.add(y!, b));
    },
  };
}

/**
 * Random VGG16 weights. A dense kernel larger than `maxBindingBytes` is made as row
 * blocks that each fit: tfjs-webgpu binds a kernel whole, and on lavapipe (128 MiB
 * bindings) fc1's 392 MiB kernel would fail; convscope does the same blocking inside
 * its matmul, so both run the same arithmetic.
 */
function makeWeights<T>(normal: (shape: number[], std: number, seed: number) => T, zeros: (shape: number[]) => T, top: boolean, maxBindingBytes = Infinity): VggWeights<T> {
  const w: VggWeights<T> = { convs: new Map(), dense: new Map() };
  VGG16_CONVS.forEach(([name, inC, outC], i) => w.convs.set(name, [normal([3, 3, inC, outC], he(9 * inC), i + 1), zeros([outC])]));
  if (top) {
    for (const [name, n, m] of [
      ['fc1', 25088, 4096],
      ['fc2', 4096, 4096],
      ['predictions', 4096, 1000],
    ] as const) {
      const blocks = Math.ceil((n * m * 4) / maxBindingBytes);
      const rows = Math.ceil(n / blocks);
      const kernel: T[] = [];
      for (let r = 0; r < n; r += rows) kernel.push(normal([Math.min(rows, n - r), m], he(n), n + m + r));
      w.dense.set(name, [kernel, zeros([m])]);
    }
  }
  return w;
}

export type Task = 'forward' | 'gradcam' | { step: string; size: number; steps: number; batch: number };

/** Flops of one VGG16 forward pass up to `until` (convs and dense layers; pools and biases ignored). */
export function vggFlops(size: number, until?: string): number {
  let s = size;
  let total = 0;
  for (const [name, inC, outC] of VGG16_CONVS) {
    total += 2 * s * s * outC * 9 * inC;
    if (name === until) return total;
    if (/block[12]_conv2|block[345]_conv3/.test(name)) s = Math.floor(s / 2);
  }
  return total + 2 * (25088 * 4096 + 4096 * 4096 + 4096 * 1000);
}

async function prepareVgg(engine: Engine, task: Task): Promise<Prepared> {
  const top = task === 'forward' || task === 'gradcam';
  const size = typeof task === 'object' ? task.size : 224;
  const batch = typeof task === 'object' ? task.batch : 1;
  if (engine === 'convscope') {
    await cs.setBackend('webgpu');
    const w = makeWeights((s, std, seed) => cs.randomNormal(s, 0, std, seed), cs.zeros, top);
    const ops = oursVggOps();
    let x = cs.randomUniform([batch, size, size, 3], -100, 100, 7);
    const all = () => [...w.convs.values(), ...w.dense.values()].flat(2);
    const run = async () => {
      gpu().resetPeak();
      if (task === 'forward') cs.tidy(() => vgg16(ops, w, x, 'predictions').out).dispose();
      else if (task === 'gradcam') {
        const { value, grads } = cs.gradientsOf(
          (watch) => {
            // the tape records only what follows block5_conv3, so it is watched as soon as it exists
            const { out, kept } = vgg16(ops, w, x, 'predictions', 'block5_conv3', watch);
            return { value: cs.reshape(cs.slice(out, [0, 386], [1, 1]), []), wrt: [kept!] };
          },
          { onlyWatched: true },
        );
        cs.dispose([value, ...grads]);
      } else {
        for (let s = 0; s < task.steps; s++) {
          const { value, grads } = cs.gradientsOf(() => {
            const { out } = vgg16(ops, w, x, task.step);
            return { value: cs.mean(cs.slice(out, [0, 0, 0, 0], [-1, -1, -1, 1])), wrt: [x] };
          });
          const next = cs.tidy(() => cs.add(x, cs.div(grads[0], cs.add(cs.sqrt(cs.mean(cs.square(grads[0]), [1, 2, 3], true)), 1e-5))));
          cs.dispose([value, ...grads, x]);
          x = next;
        }
      }
      await gpu().sync();
    };
    return { run, dispose: () => cs.dispose([...all(), x]), peakBytes: async () => gpu().peakBytes() };
  }
  const tf = await useTf(engine === 'tfjs-webgpu' ? 'webgpu' : 'wasm');
  const device = (tf.backend() as unknown as { device?: GPUDevice }).device;
  const w = makeWeights((s, std) => tf.randomNormal(s, 0, std), (s) => tf.zeros(s), top, device?.limits.maxStorageBufferBindingSize);
  const ops = tfVggOps(tf);
  let x: TF.Tensor = tf.randomUniform([batch, size, size, 3], -100, 100);
  let peak: number | undefined;
  const body = () => {
    if (task === 'forward') tf.tidy(() => vgg16(ops, w, x, 'predictions').out).dispose();
    else if (task === 'gradcam') {
      const A = tf.tidy(() => vgg16(ops, w, x, 'block5_conv3').out);
      const head = (a: TF.Tensor) => {
        let h = ops.flatten(ops.pool(a));
        for (const [name, act] of [['fc1', 'relu'], ['fc2', 'relu'], ['predictions', 'softmax']] as const) h = ops.dense(h, w.dense.get(name)![0], w.dense.get(name)![1], act);
        return tf.reshape(tf.slice(h, [0, 386], [1, 1]), []);
      };
      tf.grad(head)(A).dispose();
      A.dispose();
    } else {
      for (let s = 0; s < task.steps; s++) {
        const next = tf.tidy(() => {
          const g = tf.grad((input: TF.Tensor) => tf.mean(tf.slice(vgg16(ops, w, input, task.step).out, [0, 0, 0, 0], [-1, -1, -1, 1])))(x);
          return tf.add(x, tf.div(g, tf.add(tf.sqrt(tf.mean(tf.square(g), [1, 2, 3], true)), 1e-5)));
        });
        x.dispose();
        x = next;
      }
    }
  };
  return {
    run: async () => {
      await tfChecked(tf, async () => {
        if (task === 'gradcam') peak = (await tf.profile(body)).peakBytes;
        else body();
      });
    },
    dispose: () => {
      tf.dispose([...[...w.convs.values(), ...w.dense.values()].flat(2), x]);
    },
    peakBytes: async () => peak,
  };
}

// ---- attribution methods (src/viz/attribution/), batched ----

/**
 * Score-CAM at block5_conv3 (512 channels, 14x14): for each batch of channels, the
 * channel maps upsampled to 224 (bilinear, half-pixel centres), min-max normalised,
 * multiplied into the image, VGG16's forward pass on the batch and the class score read
 * back; A is computed once beforehand, the same for both engines. SmoothGrad: a batch of
 * noisy copies, the gradient of the class probability with respect to the input through
 * all of VGG16, summed over the batch and read back. Without --full, one batch of the
 * method's (Score-CAM: 8 of 512 masks; SmoothGrad: 5 of n = 50); with it, the whole method.
 */
type AttributionTask = { kind: 'scorecam'; batch: number; batches: number } | { kind: 'smoothgrad'; batch: number; batches: number };
const CLASS = 386;

async function prepareAttribution(engine: Engine, task: AttributionTask): Promise<Prepared> {
  const size = 224;
  if (engine === 'convscope') {
    await cs.setBackend('webgpu');
    const w = makeWeights((s, std, seed) => cs.randomNormal(s, 0, std, seed), cs.zeros, true);
    const ops = oursVggOps();
    const x = cs.randomUniform([1, size, size, 3], -100, 100, 7);
    const At = task.kind === 'scorecam' ? cs.tidy(() => cs.transpose(vgg16(ops, w, x, 'block5_conv3').out, [3, 1, 2, 0])) : undefined;
    const noise = task.kind === 'smoothgrad' ? cs.randomNormal([task.batch, size, size, 3], 0, 0.15 * 200, 9) : undefined;
    const run = async () => {
      for (let b = 0; b < task.batches; b++) {
        if (task.kind === 'scorecam') {
          const s = cs.tidy(() => {
            const { masks } = channelMasks(At!, b * task.batch, task.batch, [size, size]);
            return cs.reshape(cs.slice(vgg16(ops, w, cs.mul(x, masks), 'predictions').out, [0, CLASS], [task.batch, 1]), [task.batch]);
          });
          await s.data();
          s.dispose();
        } else {
          const { value, grads } = cs.gradientsOf(() => {
            const xn = cs.add(x, noise!);
            return { value: cs.slice(vgg16(ops, w, xn, 'predictions').out, [0, CLASS], [task.batch, 1]), wrt: [xn] };
          });
          const g = cs.tidy(() => cs.sum(grads[0], [0]));
          await g.data();
          cs.dispose([value, ...grads, g]);
        }
      }
    };
    return { run, dispose: () => cs.dispose([...[...w.convs.values(), ...w.dense.values()].flat(2), x, ...(At ? [At] : []), ...(noise ? [noise] : [])]) };
  }
  const tf = await useTf(engine === 'tfjs-webgpu' ? 'webgpu' : 'wasm');
  const device = (tf.backend() as unknown as { device?: GPUDevice }).device;
  const w = makeWeights((s, std) => tf.randomNormal(s, 0, std), (s) => tf.zeros(s), true, device?.limits.maxStorageBufferBindingSize);
  const ops = tfVggOps(tf);
  const x = tf.randomUniform([1, size, size, 3], -100, 100);
  const At = task.kind === 'scorecam' ? tf.tidy(() => tf.transpose(vgg16(ops, w, x, 'block5_conv3').out, [3, 1, 2, 0])) : undefined;
  const noise = task.kind === 'smoothgrad' ? tf.randomNormal([task.batch, size, size, 3], 0, 0.15 * 200) : undefined;
  const run = async () => {
    await tfChecked(tf, async () => {
      for (let b = 0; b < task.batches; b++) {
        const s = tf.tidy(() => {
          if (task.kind === 'scorecam') {
            const m = tf.image.resizeBilinear(tf.slice(At!, [b * task.batch, 0, 0, 0], [task.batch, -1, -1, -1]) as TF.Tensor4D, [size, size], false, true);
            const lo = tf.min(m, [1, 2, 3], true);
            const range = tf.sub(tf.max(m, [1, 2, 3], true), lo);
            const flat = tf.cast(tf.equal(range, 0), 'float32');
            const masks = tf.mul(tf.div(tf.sub(m, lo), tf.add(range, flat)), tf.sub(1, flat));
            return tf.reshape(tf.slice(vgg16(ops, w, tf.mul(x, masks), 'predictions').out, [0, CLASS], [task.batch, 1]), [task.batch]);
          }
          const g = tf.grad((xn: TF.Tensor) => tf.sum(tf.slice(vgg16(ops, w, xn, 'predictions').out, [0, CLASS], [task.batch, 1])))(tf.add(x, noise!));
          return tf.sum(g, 0);
        });
        await s.data();
        s.dispose();
      }
    });
  };
  return { run, dispose: () => tf.dispose([...[...w.convs.values(), ...w.dense.values()].flat(2), x, ...(At ? [At] : []), ...(noise ? [noise] : [])]) };
}

export function attributionItems(full: boolean): BenchItem[] {
  const item = (name: string, shape: string, flops: number, task: AttributionTask): BenchItem => ({ name, kind: 'e2e', shape, flops, prepare: (engine) => prepareAttribution(engine, task) });
  const fwd = vggFlops(224);
  return full
    ? [
        item('Score-CAM block5_conv3, 512 masks in 16 batches of 32', '512x224x224x3', 512 * fwd, { kind: 'scorecam', batch: 32, batches: 16 }),
        item('SmoothGrad n=50 in one batch', '50x224x224x3', 50 * 3 * fwd, { kind: 'smoothgrad', batch: 50, batches: 1 }),
      ]
    : [
        item('Score-CAM block5_conv3 (512 masks), 1 of 64 batches of 8', '8x224x224x3', 8 * fwd, { kind: 'scorecam', batch: 8, batches: 1 }),
        item('SmoothGrad n=50, 1 of 10 batches of 5', '5x224x224x3', 5 * 3 * fwd, { kind: 'smoothgrad', batch: 5, batches: 1 }),
      ];
}

export function e2eItems(full: boolean): BenchItem[] {
  const e2e = (name: string, shape: string, flops: number, task: Task): BenchItem => ({ name, kind: 'e2e', shape, flops, task, prepare: (engine) => prepareVgg(engine, task) });
  const stepFlops = (size: number, until: string, batch: number) => 3 * vggFlops(size, until) * batch; // forward + ~2x for the input gradient
  const items = [
    e2e('VGG16 forward', '1x224x224x3', vggFlops(224), 'forward'),
    e2e('Grad-CAM (forward + gradient to block5_conv3)', '1x224x224x3', vggFlops(224), 'gradcam'),
    e2e('filter step to block3_conv1', '1x150x150x3', stepFlops(150, 'block3_conv1', 1), { step: 'block3_conv1', size: 150, steps: 1, batch: 1 }),
    e2e('filter step to block4_conv1', '1x150x150x3', stepFlops(150, 'block4_conv1', 1), { step: 'block4_conv1', size: 150, steps: 1, batch: 1 }),
  ];
  if (full) {
    items.push(e2e('40-step filter pattern block3_conv1', '1x150x150x3', 40 * stepFlops(150, 'block3_conv1', 1), { step: 'block3_conv1', size: 150, steps: 40, batch: 1 }));
    items.push(e2e('8x8 grid block3_conv1 (batched, 40 steps)', '64x64x64x3', 40 * stepFlops(64, 'block3_conv1', 64), { step: 'block3_conv1', size: 64, steps: 40, batch: 64 }));
  } else {
    items.push(e2e('40-step filter pattern block3_conv1 at 64x64', '1x64x64x3', 40 * stepFlops(64, 'block3_conv1', 1), { step: 'block3_conv1', size: 64, steps: 40, batch: 1 }));
    items.push(e2e('8x8 grid block3_conv1 (batched), 1 of 40 steps', '64x64x64x3', stepFlops(64, 'block3_conv1', 64), { step: 'block3_conv1', size: 64, steps: 1, batch: 64 }));
  }
  return items;
}
