import type { DataHandle } from './backend.ts';
import { type Shape, sizeOf, shapeString } from './shape.ts';

/** What a tensor needs from the engine; set once by engine.ts (avoids an import cycle). */
export interface TensorHooks {
  dispose(t: Tensor): void;
}
let hooks: TensorHooks | undefined;
export function setTensorHooks(h: TensorHooks): void {
  hooks = h;
}

let nextId = 0;

/**
 * An immutable float tensor. Its values live in a backend buffer (`handle`), which
 * several tensors may share (a reshape shares its input's buffer). Dispose a tensor
 * when done, or create it inside `tidy`, which disposes what the function did not return.
 */
export class Tensor {
  /**
   * Identity for autodiff. A second handle on the same tensor (engine.retain) keeps
   * the id, so a tape sees ops on it as ops on the original.
   */
  readonly id: number;
  readonly shape: readonly number[];
  readonly size: number;
  readonly handle: DataHandle;
  private disposedFlag = false;

  constructor(handle: DataHandle, shape: Shape, aliasOf?: number) {
    this.id = aliasOf ?? nextId++;
    this.shape = Object.freeze([...shape]);
    this.size = sizeOf(shape);
    if (this.size !== handle.size) {
      throw new Error(`Tensor: shape ${shapeString(shape)} has ${this.size} elements but its buffer has ${handle.size}`);
    }
    this.handle = handle;
  }

  get rank(): number {
    return this.shape.length;
  }
  get backendName(): string {
    return this.handle.backend.name;
  }
  get isDisposed(): boolean {
    return this.disposedFlag;
  }

  /** Values as float32, after all work that produces them has finished. */
  async data(): Promise<Float32Array> {
    this.assertLive('data');
    const v = await this.handle.backend.read(this.handle);
    return v instanceof Float32Array ? v : Float32Array.from(v);
  }

  /** Values at the backend's own precision (float64 on the 'cpu64' backend). */
  async dataRaw(): Promise<Float32Array | Float64Array> {
    this.assertLive('dataRaw');
    return this.handle.backend.read(this.handle);
  }

  /** Synchronous read; only CPU backends can do it. */
  dataSync(): Float32Array {
    const v = this.dataSyncRaw();
    return v instanceof Float32Array ? v : Float32Array.from(v);
  }

  dataSyncRaw(): Float32Array | Float64Array {
    this.assertLive('dataSync');
    const b = this.handle.backend;
    if (!b.readSync) throw new Error(`dataSync: backend '${b.name}' reads asynchronously; use await tensor.data()`);
    return b.readSync(this.handle);
  }

  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`item: tensor of shape ${shapeString(this.shape)} has ${this.size} elements, not 1`);
    return (await this.data())[0];
  }

  dispose(): void {
    if (this.disposedFlag) return;
    hooks?.dispose(this);
  }

  /** Called by the engine only. */
  markDisposed(): void {
    this.disposedFlag = true;
  }

  assertLive(what: string): void {
    if (this.disposedFlag) throw new Error(`${what}: tensor #${this.id} of shape ${shapeString(this.shape)} was disposed`);
  }

  toString(): string {
    return `Tensor#${this.id}${shapeString(this.shape)}@${this.backendName}`;
  }
}

/** Anything that may contain tensors: the return value of a tidy function. */
export type TensorContainer = Tensor | void | undefined | null | number | string | boolean | TensorContainer[] | { [k: string]: TensorContainer };

export function collectTensors(c: unknown, out: Tensor[] = []): Tensor[] {
  if (c instanceof Tensor) out.push(c);
  else if (Array.isArray(c)) for (const x of c) collectTensors(x, out);
  else if (c && typeof c === 'object') for (const x of Object.values(c)) collectTensors(x, out);
  return out;
}
