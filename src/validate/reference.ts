/**
 * TensorFlow.js as the reference engine of `convscope validate`: tfjs-layers and
 * tfjs-core with one of its backends (wasm by default: it runs in Node from the files
 * in node_modules, no network; cpu, plain JavaScript and much slower; webgpu on the
 * same adapter convscope uses, every value read back asynchronously: in Node its
 * dataSync needs OffscreenCanvas). TF.js is an optional dependency loaded only here.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// tfjs-layers registers every gradient in Node's CommonJS build
import { version_layers } from '@tensorflow/tfjs-layers';
import { dawnInstance } from '../kernels/wgsl/device.ts';

export const REFERENCES = ['tfjs-wasm', 'tfjs-cpu', 'tfjs-webgpu'] as const;
export type ReferenceName = (typeof REFERENCES)[number];

let current: ReferenceName | undefined;
/** tfjs-webgpu's GPU object: convscope's own Dawn instance, or one made here (convscope on its cpu backend). */
let webgpuSource: string | undefined;

/** The directory of tfjs-backend-wasm's .wasm files (Node: node_modules; the browser: next to the bundle). */
async function wasmDir(): Promise<string | undefined> {
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  if (!isNode) return undefined;
  const { createRequire } = await import('node:module');
  const path = await import('node:path');
  const req = createRequire(import.meta.url);
  return `${path.dirname(req.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'))}${path.sep}`;
}

/** Makes `name` TF.js's backend (created on first use); returns it. */
export async function useReference(name: ReferenceName): Promise<ReferenceName> {
  // Node's CommonJS build of tfjs-core registers every gradient itself; the ES module
  // build (bundlers, vitest) leaves it to this import
  if (!tf.getGradient('Conv2D')) await import('@tensorflow/tfjs-core/dist/register_all_gradients.js');
  if (current === name && tf.getBackend() === name.slice(5)) return name;
  if (!(REFERENCES as readonly string[]).includes(name)) throw new Error(`--reference must be one of ${REFERENCES.join(', ')}; got '${name}'`);
  const backend = name.slice(5);
  if (!tf.findBackend(backend)) {
    if (backend === 'wasm') {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      const dir = await wasmDir();
      if (dir) wasm.setWasmPaths(dir);
    } else if (backend === 'webgpu') {
      // tfjs-webgpu looks for navigator.gpu when it is imported and asks it for an adapter
      // when it starts: in Node, convscope's own Dawn instance when its webgpu backend
      // runs (the same adapter, as bench/peers_node.ts does), else one made here
      const g = globalThis as { navigator?: { gpu?: unknown } };
      if (!g.navigator?.gpu) {
        let gpu: unknown = dawnInstance();
        webgpuSource = gpu ? "convscope's Dawn instance" : 'a Dawn instance of its own (convscope is not on webgpu)';
        if (!gpu) {
          const { create, globals } = (await import('webgpu')) as unknown as { create: (o: string[]) => unknown; globals: object };
          Object.assign(globalThis, globals);
          gpu = create([]);
        }
        Object.defineProperty(globalThis, 'navigator', { value: { ...(g.navigator ?? {}), gpu }, configurable: true });
      } else webgpuSource = 'navigator.gpu';
      await import('@tensorflow/tfjs-backend-webgpu');
    }
  }
  if (!(await tf.setBackend(backend))) throw new Error(`TF.js backend '${backend}' could not start`);
  await tf.ready();
  stubWeightGradients(backend);
  if (backend === 'wasm') replaceWasmMaxPoolGrad();
  current = name;
  return name;
}

/** The TF.js versions in use, for the report. */
export function referenceVersions(): Record<string, string> {
  const out: Record<string, string> = { 'tfjs-core': tf.version_core, 'tfjs-layers': version_layers };
  if (tf.getBackend() === 'webgpu') {
    const info = (tf.backend() as unknown as { adapterInfo?: { vendor?: string; architecture?: string } }).adapterInfo;
    out.adapter = `${[info?.vendor, info?.architecture].filter(Boolean).join(' ') || 'unknown adapter'} through ${webgpuSource ?? 'navigator.gpu'}`;
  }
  return out;
}

/**
 * Weight-gradient kernels the backend lacks (wasm has no Conv2DBackpropFilter nor
 * DepthwiseConv2dNativeBackpropFilter), returning zeros: tfjs's fused convolution
 * computes every gradient of its custom gradient at once, the filter's included, even
 * when only the input's is asked for; validate asks for input and activation gradients
 * only, so the filter's is never used. Listed in {@link weightGradientStubs}.
 */
const STUBBED = ['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter'];
const stubbed = new Map<string, string[]>();
function stubWeightGradients(backend: string): void {
  if (stubbed.has(backend)) return;
  const fill = tf.getKernel('Fill', backend);
  const done: string[] = [];
  for (const k of STUBBED) {
    if (tf.getKernel(k, backend) || !fill) continue;
    tf.registerKernel({
      kernelName: k,
      backendName: backend,
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      kernelFunc: ({ backend: b, attrs }: any) => (fill.kernelFunc as any)({ backend: b, inputs: {}, attrs: { shape: attrs.filterShape, value: 0, dtype: 'float32' } }),
    });
    done.push(k);
  }
  stubbed.set(backend, done);
}

/** The weight-gradient kernels the current TF.js backend lacks, stood in for by zeros (never used by validate's rows). */
export function weightGradientStubs(): string[] {
  return stubbed.get(tf.getBackend()) ?? [];
}

/**
 * tfjs-wasm's MaxPoolGrad is wrong where 'same' padding is uneven (an odd size at
 * stride 2, a 2x2 window at stride 1: TF pads the bottom and right; measured 0.99 off
 * on a 7x7 input where tfjs-cpu and convscope agree with each other), and sends the
 * gradient of tied maxima to another cell than TF. Replaced by TF's rule on host
 * values: each output's gradient goes to the first (row-major) maximum of its window,
 * with TF's 'same' padding. NHWC, 2-D, 'same' / 'valid' / explicit numbers only;
 * anything else keeps the original kernel.
 */
let wasmMaxPoolGradReplaced = false;
function replaceWasmMaxPoolGrad(): void {
  if (wasmMaxPoolGradReplaced) return;
  const original = tf.getKernel('MaxPoolGrad', 'wasm');
  if (!original) return;
  wasmMaxPoolGradReplaced = true;
  tf.unregisterKernel('MaxPoolGrad', 'wasm');
  tf.registerKernel({
    kernelName: 'MaxPoolGrad',
    backendName: 'wasm',
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    kernelFunc: (args: any) => {
      const { inputs, backend, attrs } = args;
      const { dy, input } = inputs;
      const [kh, kw] = typeof attrs.filterSize === 'number' ? [attrs.filterSize, attrs.filterSize] : attrs.filterSize;
      const [sh, sw] = typeof attrs.strides === 'number' ? [attrs.strides, attrs.strides] : attrs.strides;
      const pad = attrs.pad;
      if (input.shape.length !== 4 || attrs.dimRoundingMode != null || !(pad === 'same' || pad === 'valid' || typeof pad === 'number')) return (original.kernelFunc as (a: unknown) => unknown)(args);
      const [n, h, w, c] = input.shape as number[];
      const [, oh, ow] = dy.shape as number[];
      const before = (len: number, o: number, k: number, st: number) => (pad === 'valid' ? 0 : typeof pad === 'number' ? pad : Math.floor(Math.max((o - 1) * st + k - len, 0) / 2));
      const pt = before(h, oh, kh, sh);
      const pl = before(w, ow, kw, sw);
      const x = backend.readSync(input.dataId) as Float32Array;
      const g = backend.readSync(dy.dataId) as Float32Array;
      const out = backend.makeOutput(input.shape, 'float32');
      const dx = backend.typedArrayFromHeap(out) as Float32Array;
      dx.fill(0);
      for (let b = 0; b < n; b++)
        for (let y = 0; y < oh; y++)
          for (let xo = 0; xo < ow; xo++)
            for (let k = 0; k < c; k++) {
              let best = -1;
              let m = -Infinity;
              for (let i = 0; i < kh; i++) {
                const yy = y * sh - pt + i;
                if (yy < 0 || yy >= h) continue;
                for (let j = 0; j < kw; j++) {
                  const xx = xo * sw - pl + j;
                  if (xx < 0 || xx >= w) continue;
                  const at = ((b * h + yy) * w + xx) * c + k;
                  if (best < 0 || x[at] > m) [best, m] = [at, x[at]];
                }
              }
              if (best >= 0) dx[best] += g[((b * oh + y) * ow + xo) * c + k];
            }
      return out;
    },
  });
}
