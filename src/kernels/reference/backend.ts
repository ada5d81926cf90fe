import type { Backend, DataHandle, Precision } from '../../engine/backend.ts';
import type { KernelInput, KernelOutput } from '../../engine/kernel_registry.ts';

export type FloatArray = Float32Array | Float64Array;

/** A reference-backend buffer: just a typed array. */
export interface HostBuffer extends DataHandle {
  readonly values: FloatArray;
}

/**
 * The plain-TypeScript reference backend: readable loops, no tuning. With
 * precision 'float64' ('cpu64') it is the ground truth for finite-difference checks.
 */
export class ReferenceBackend implements Backend {
  readonly kernelFamily = 'reference';
  private bytes = 0;
  constructor(
    readonly name: string,
    readonly precision: Precision,
  ) {}

  alloc(size: number): HostBuffer {
    const values = this.precision === 'float64' ? new Float64Array(size) : new Float32Array(size);
    this.bytes += values.byteLength;
    return { backend: this, size, values };
  }
  upload(values: ArrayLike<number>): HostBuffer {
    const b = this.alloc(values.length);
    b.values.set(values);
    return b;
  }
  readSync(handle: DataHandle): FloatArray {
    return (handle as HostBuffer).values.slice();
  }
  async read(handle: DataHandle): Promise<FloatArray> {
    return this.readSync(handle);
  }
  release(handle: DataHandle): void {
    this.bytes -= (handle as HostBuffer).values.byteLength;
  }
  liveBytes(): number {
    return this.bytes;
  }
  describe(): string {
    return `reference (plain TypeScript, ${this.precision})`;
  }
}

/** The typed array behind a kernel input. */
export function valuesOf(x: KernelInput): FloatArray {
  return (x.handle as HostBuffer).values;
}

/** A fresh output of `shape` on `backend`, with its writable array. */
export function output(backend: unknown, shape: number[]): { out: KernelOutput; v: FloatArray } {
  let size = 1;
  for (const d of shape) size *= d;
  const h = (backend as ReferenceBackend).alloc(size);
  return { out: { handle: h, shape }, v: h.values };
}
