/**
 * jax-js (@jax-js/jax) as a second WebGPU peer, on the same Dawn adapter: jax-js looks for
 * navigator.gpu, which we point at convscope's Dawn GPU object (as for tfjs-webgpu), and
 * asks for its own device. Its arrays are NCHW with OIHW kernels (lax.conv follows XLA),
 * so its items run the same arithmetic in its own layout. Gradients go through its `grad`
 * and `vjp`, each product jit-compiled (jax-js fuses and dead-code-eliminates a jitted
 * function, so a backprop item computes the backprop, not also the forward it came from).
 *
 * jax-js owns arguments by reference count: every use of an array consumes one reference
 * (`x.ref` adds one), which is why the code below spells out `.ref` where a value is reused.
 */
import { beginGpuWait, dawnInstance } from '../src/kernels/wgsl/device.ts';
import type { BenchItem, Prepared, Task } from './items.ts';
import { VGG16_CONVS } from './vgg16_ops.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type J = any;
let jaxPromise: Promise<J> | undefined;

export function loadJax(): Promise<J> {
  jaxPromise ??= (async () => {
    const gpu = dawnInstance();
    if (!gpu) throw new Error('bench: create the convscope WebGPU backend first (jax-js shares its Dawn instance)');
    const nav = (globalThis as unknown as { navigator?: Record<string, unknown> }).navigator;
    if (!nav?.gpu) (globalThis as { navigator?: unknown }).navigator = { ...(nav ?? {}), gpu, userAgent: 'node', hardwareConcurrency: 2 };
    const jax = await import('@jax-js/jax');
    const devices = await jax.init('webgpu');
    if (!devices.includes('webgpu')) throw new Error('jax-js: no webgpu device');
    jax.defaultDevice('webgpu');
    return jax;
  })();
  return jaxPromise;
}

export function jaxVersion(): string {
  return '0.1.25';
}

/** Waits for every array and disposes it. */
async function settle(jax: J, out: J | J[]): Promise<void> {
  const list = Array.isArray(out) ? out.flat(4) : [out];
  beginGpuWait(); // the same polling as convscope's own waits (device.ts)
  await jax.blockUntilReady(list);
  for (const a of list) a.dispose();
}

let seed = 100;
function normal(jax: J, shape: number[], std: number): J {
  const k = jax.random.key(seed++);
  return jax.random.normal(k, shape).mul(std);
}

/** A conv kernel item: forward, backprop input or backprop filter at NHWC size (size, inC -> outC), 3x3 'same'. */
export async function jaxConvItem(kind: 'forward' | 'input' | 'filter', size: number, inC: number, outC: number): Promise<Prepared> {
  const jax = await loadJax();
  const { lax, jit, vjp } = jax;
  const x = normal(jax, [1, inC, size, size], 1);
  const w = normal(jax, [outC, inC, 3, 3], 0.1);
  const dy = normal(jax, [1, outC, size, size], 1);
  const conv = (a: J, b: J) => lax.conv(a, b, [1, 1], SAME);
  const f =
    kind === 'forward'
      ? jit((a: J, b: J) => conv(a, b))
      : kind === 'input'
        ? jit((a: J, b: J, g: J) => {
            const [y, back] = vjp((xx: J) => conv(xx, b), [a]);
            y.dispose();
            const [dx] = back(g);
            back.dispose?.();
            return dx;
          })
        : jit((a: J, b: J, g: J) => {
            const [y, back] = vjp((ww: J) => conv(a, ww), [b]);
            y.dispose();
            const [dw] = back(g);
            back.dispose?.();
            return dw;
          });
  const run = async () => {
    const out = kind === 'forward' ? f(x.ref, w.ref) : f(x.ref, w.ref, dy.ref);
    await settle(jax, out);
  };
  return { run, dispose: () => [x, w, dy].forEach((a) => a.dispose()) };
}

// ---- VGG16 in jax-js (NCHW), the same network and weight statistics as vgg16_ops.ts ----

const POOL_AFTER = new Set(['block1_conv2', 'block2_conv2', 'block3_conv3', 'block4_conv3', 'block5_conv3']);

interface JaxVgg {
  convs: Map<string, [J, J]>;
  /** row blocks of each dense kernel (lavapipe binds at most 128 MiB; fc1's kernel is 392 MiB) and its bias */
  dense: Map<string, [J[], J]>;
}

function jaxWeights(jax: J, top: boolean, maxBindingBytes: number): JaxVgg {
  const w: JaxVgg = { convs: new Map(), dense: new Map() };
  for (const [name, inC, outC] of VGG16_CONVS) w.convs.set(name, [normal(jax, [outC, inC, 3, 3], Math.sqrt(2 / (9 * inC))), jax.numpy.zeros([1, outC, 1, 1])]);
  if (top) {
    for (const [name, n, m] of [
      ['fc1', 25088, 4096],
      ['fc2', 4096, 4096],
      ['predictions', 4096, 1000],
    ] as const) {
      const blocks = Math.ceil((n * m * 4) / maxBindingBytes);
      const rows = Math.ceil(n / blocks);
      const kernel: J[] = [];
      for (let r = 0; r < n; r += rows) kernel.push(normal(jax, [Math.min(rows, n - r), m], Math.sqrt(2 / n)));
      w.dense.set(name, [kernel, jax.numpy.zeros([1, m])]);
    }
  }
  return w;
}

/** 2x2 max pool, stride 2, 'valid' (an odd row or column at the end is dropped, as Keras does). */
function maxPool2(jax: J, x: J): J {
  const [n, c, h, wd] = x.shape;
  const [h2, w2] = [Math.floor(h / 2), Math.floor(wd / 2)];
  const even = h % 2 || wd % 2 ? x.slice([], [], [0, 2 * h2], [0, 2 * w2]) : x;
  return jax.numpy.max(even.reshape([n, c, h2, 2, w2, 2]), [3, 5]);
}

/** 3x3 'same' at stride 1 as explicit padding (jax-js's 'SAME' string failed inside grad at odd sizes). */
const SAME: [number, number][] = [
  [1, 1],
  [1, 1],
];

/** VGG16 up to `until` (NCHW); weights are read with .ref, x is consumed. */
function jaxVgg(jax: J, w: JaxVgg, x: J, until: string): J {
  const { lax, nn } = jax;
  let h = x;
  for (const [name] of VGG16_CONVS) {
    const [k, b] = w.convs.get(name)!;
    h = nn.relu(lax.conv(h, k.ref, [1, 1], SAME).add(b.ref));
    if (name === until) return h;
    if (POOL_AFTER.has(name)) h = maxPool2(jax, h);
  }
  return jaxHead(jax, w, h);
}

/** From block5_conv3's output A (consumed): pool, flatten (in NHWC order, as Keras), fc1, fc2, predictions. */
function jaxHead(jax: J, w: JaxVgg, a: J): J {
  const { numpy: np, nn } = jax;
  let h = maxPool2(jax, a);
  h = np.transpose(h, [0, 2, 3, 1]).reshape([1, 25088]);
  for (const [name, act] of [
    ['fc1', 'relu'],
    ['fc2', 'relu'],
    ['predictions', 'softmax'],
  ] as const) {
    const [blocks, b] = w.dense.get(name)!;
    let y: J | undefined;
    let offset = 0;
    for (const k of blocks) {
      const rows = k.shape[0];
      const part = np.matmul(blocks.length > 1 ? h.ref.slice([], [offset, offset + rows]) : h.ref, k.ref);
      y = y ? y.add(part) : part;
      offset += rows;
    }
    h.dispose();
    h = y!.add(b.ref);
    h = act === 'relu' ? nn.relu(h) : nn.softmax(h, -1);
  }
  return h;
}

/** jax-js's storage-binding limit (its dense kernels are bound in row blocks below it). */
function bindingLimit(jax: J): number {
  return jax.getWebGPUDevice?.()?.limits?.maxStorageBufferBindingSize ?? 128 * 2 ** 20;
}

/**
 * VGG16's forward pass, Grad-CAM (forward to block5_conv3, then the gradient of class 386's
 * probability with respect to it) or filter-pattern steps (the mean of filter 0 over the batch,
 * each image's gradient normalised by its own RMS, as bench/items.ts's prepareVgg does).
 */
export async function jaxVggItem(task: Task): Promise<Prepared> {
  const jax = await loadJax();
  const { numpy: np, grad, jit } = jax;
  const top = typeof task !== 'object';
  const size = typeof task === 'object' ? task.size : 224;
  const batch = typeof task === 'object' ? task.batch : 1;
  const w = jaxWeights(jax, top, bindingLimit(jax));
  let x = jax.random.uniform(jax.random.key(7), [batch, 3, size, size], { minval: -100, maxval: 100 });
  if (task === 'forward') {
    const forward = jit((input: J) => jaxHead(jax, w, jaxVgg(jax, w, input, 'block5_conv3')));
    const run = async () => settle(jax, forward(x.ref));
    return { run, dispose: () => disposeAll(w, x) };
  }
  if (task === 'gradcam') {
    const features = jit((input: J) => jaxVgg(jax, w, input, 'block5_conv3'));
    const dScore = jit(grad((a: J) => jaxHead(jax, w, a).slice([], [386, 387]).sum()));
    const run = async () => {
      const a = features(x.ref);
      const g = dScore(a.ref);
      await settle(jax, [a, g]);
    };
    return { run, dispose: () => disposeAll(w, x) };
  }
  const { step, steps } = task;
  const lossGrad = jit(grad((input: J) => np.mean(jaxVgg(jax, w, input, step).slice([], [0, 1]))));
  const update = jit((input: J, g: J) => input.add(g.ref.div(np.sqrt(np.mean(g.ref.mul(g), [1, 2, 3], { keepdims: true })).add(1e-5))));
  const run = async () => {
    for (let s = 0; s < steps; s++) {
      const g = lossGrad(x.ref);
      x = update(x, g);
    }
    beginGpuWait();
    await jax.blockUntilReady(x);
  };
  return { run, dispose: () => disposeAll(w, x) };
}

function disposeAll(w: JaxVgg, x: J): void {
  for (const [k, b] of w.convs.values()) [k, b].forEach((a) => a.dispose());
  for (const [ks, b] of w.dense.values()) [...ks, b].forEach((a) => a.dispose());
  x.dispose();
}

/** 2x2 max pool (as in its VGG16) at NHWC size (size, size, c), or its gradient for a random dy (vjp). */
export async function jaxPoolItem(kind: 'forward' | 'backward', size: number, c: number): Promise<Prepared> {
  const jax = await loadJax();
  const { jit, vjp } = jax;
  const x = normal(jax, [1, c, size, size], 1);
  const dy = normal(jax, [1, c, size / 2, size / 2], 1);
  const f =
    kind === 'forward'
      ? jit((a: J) => maxPool2(jax, a))
      : jit((a: J, g: J) => {
          const [y, back] = vjp((xx: J) => maxPool2(jax, xx), [a]);
          y.dispose();
          const [dx] = back(g);
          back.dispose?.();
          return dx;
        });
  const run = async () => settle(jax, kind === 'forward' ? f(x.ref) : f(x.ref, dy.ref));
  return { run, dispose: () => [x, dy].forEach((a) => a.dispose()) };
}

/**
 * A dense row: y = a W (forward), dy Wᵀ (backward input) or aᵀ dy (backward kernel) for W of
 * n x m; a W too large for one binding (fc1's 392 MiB) is held and multiplied in row blocks.
 */
export async function jaxDenseItem(kind: 'forward' | 'input' | 'kernel', n: number, m: number): Promise<Prepared> {
  const jax = await loadJax();
  const { numpy: np, jit } = jax;
  const blocks = Math.ceil((n * m * 4) / bindingLimit(jax));
  const rows = Math.ceil(n / blocks);
  const ws: J[] = [];
  if (kind !== 'kernel') for (let r = 0; r < n; r += rows) ws.push(normal(jax, [Math.min(rows, n - r), m], Math.sqrt(2 / n)));
  const a = normal(jax, [1, n], 1);
  const dy = normal(jax, [1, m], 1);
  let f: (...args: J[]) => J;
  if (kind === 'forward') {
    f = jit((x: J, ...w: J[]) => {
      let y: J | undefined;
      let offset = 0;
      for (const k of w) {
        const part = np.matmul(w.length > 1 ? x.ref.slice([], [offset, offset + k.shape[0]]) : x.ref, k);
        y = y ? y.add(part) : part;
        offset += k.shape[0];
      }
      x.dispose();
      return y;
    });
  } else if (kind === 'input') {
    f = jit((g: J, ...w: J[]) => {
      const parts = w.map((k) => np.matmul(g.ref, np.transpose(k)));
      g.dispose();
      return parts.length > 1 ? np.concatenate(parts, 1) : parts[0];
    });
  } else {
    f = jit((x: J, g: J) => np.matmul(np.transpose(x), g));
  }
  const run = async () => settle(jax, kind === 'forward' ? f(a.ref, ...ws.map((k) => k.ref)) : kind === 'input' ? f(dy.ref, ...ws.map((k) => k.ref)) : f(a.ref, dy.ref));
  return { run, dispose: () => [a, dy, ...ws].forEach((t) => t.dispose()) };
}

/**
 * The jax-js run of a bench item: every kernel row (conv2d and both backprops, max pool and its
 * gradient, dense rows) and every end-to-end row built from VGG16 (forward, Grad-CAM, filter
 * steps, the 40-step pattern, the batched grid). The attribution rows (Score-CAM, SmoothGrad)
 * are not built for it and fail with that reason.
 */
export async function prepareJax(item: BenchItem): Promise<Prepared> {
  const conv = /^conv2d (backprop (input|filter) )?block\d_conv\d$/.exec(item.name);
  if (conv) {
    const [size, , inC, outC] = item.shape.split(/x|->/).map(Number);
    return jaxConvItem(conv[2] === 'input' ? 'input' : conv[2] === 'filter' ? 'filter' : 'forward', size, inC, outC);
  }
  const pool = /^max pool (backward )?block\d_pool$/.exec(item.name);
  if (pool) {
    const [size, , c] = item.shape.split('x').map(Number);
    return jaxPoolItem(pool[1] ? 'backward' : 'forward', size, c);
  }
  const dense = /^dense (backward (input|kernel) )?(fc1|fc2|predictions)$/.exec(item.name);
  if (dense) {
    const [n, m] = ({ fc1: [25088, 4096], fc2: [4096, 4096], predictions: [4096, 1000] } as const)[dense[3] as 'fc1' | 'fc2' | 'predictions'];
    return jaxDenseItem(dense[2] === 'input' ? 'input' : dense[2] === 'kernel' ? 'kernel' : 'forward', n, m);
  }
  if (item.task) return jaxVggItem(item.task);
  throw new Error('not built for jax-js (the attribution rows: Score-CAM and SmoothGrad)');
}
