import type { Backend, DataHandle } from './backend.ts';

/** A kernel sees its inputs as buffer + shape, never as user-facing tensors. */
export interface KernelInput {
  readonly handle: DataHandle;
  readonly shape: readonly number[];
}
export interface KernelOutput {
  handle: DataHandle;
  shape: number[];
}
export type Attrs = Record<string, unknown>;

export type KernelFn = (inputs: Record<string, KernelInput>, attrs: Attrs, backend: Backend) => KernelOutput;

/** op name -> kernel family -> kernel. An op is a name plus one kernel per backend family. */
const kernels = new Map<string, Map<string, KernelFn>>();

export function registerKernel(op: string, family: string, fn: KernelFn): void {
  let byFamily = kernels.get(op);
  if (!byFamily) kernels.set(op, (byFamily = new Map()));
  byFamily.set(family, fn);
}

export function getKernel(op: string, family: string): KernelFn {
  const fn = kernels.get(op)?.get(family);
  if (!fn) throw new Error(`no '${family}' kernel is registered for op '${op}'`);
  return fn;
}

export function registeredOps(family: string): string[] {
  return [...kernels].filter(([, m]) => m.has(family)).map(([op]) => op).sort();
}
