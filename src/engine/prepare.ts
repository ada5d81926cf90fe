import { engine } from './engine.ts';

/**
 * Getting a model's kernels ready before its first real run: `prepareKernels(fn)` runs `fn`
 * (one representative pass of the model: a forward pass, a Grad-CAM, a filter step, on inputs
 * of the real sizes) without doing its arithmetic. The backend records which kernels and
 * shapes it asks for, creates their pipelines asynchronously, lets a driver that compiles at
 * first dispatch (Mesa's lavapipe) compile them now, and, on an adapter (for a software
 * driver: an adapter on this CPU model) that has no tile table of its own, first runs a short
 * bounded tuning pass over the GEMM shapes the pass needs (the winners are cached; see
 * src/kernels/wgsl/tuning_cache.ts). Values `fn` computes are garbage and are disposed.
 *
 * The promise resolves when the pipelines exist and the warm-up work has been submitted;
 * with `wait` also once the driver has finished compiling. Call it as soon as the model's
 * layer shapes are known, then load weights and images while the driver compiles. The real
 * pass need not wait: where a helper device compiles (lavapipe in Node), a command buffer
 * whose pipeline is still compiling there is held back until it is ready, and the work after
 * it behind it, so the pass runs on what is ready (src/kernels/wgsl/gated_queue.ts).
 */
export interface PrepareOptions {
  /** Tune tiles for shapes the adapter has no measured choice for (default: on, unless setAutoTune(false) or CONVSCOPE_NO_TUNE=1). */
  tune?: boolean;
  /** Wall-clock budget of the tuning pass (default 4000 ms). */
  tuneBudgetMs?: number;
  /** Also wait until the driver has compiled everything (default false). */
  wait?: boolean;
}

export interface PrepareReport {
  /** Kernel dispatches `fn` asked for. */
  dispatches: number;
  /** Distinct pipelines it needs, and how many of those were not compiled before. */
  pipelines: number;
  compiled: number;
  /** GEMM shapes tuned now (empty when the adapter had a table, the cache had one, or tuning is off). */
  tuned: string[];
  ms: number;
}

let autoTune = !(typeof process !== 'undefined' && process.env?.CONVSCOPE_NO_TUNE === '1');

/** Turns first-use tuning on or off for the whole process (the CLI's --no-tune). */
export function setAutoTune(on: boolean): void {
  autoTune = on;
}

export function autoTuneEnabled(): boolean {
  return autoTune;
}

export async function prepareKernels(fn: () => unknown, o: PrepareOptions = {}): Promise<PrepareReport> {
  const b = engine.backend;
  if (!b.prepare) return { dispatches: 0, pipelines: 0, compiled: 0, tuned: [], ms: 0 };
  return b.prepare(fn, { ...o, tune: o.tune ?? autoTune });
}
