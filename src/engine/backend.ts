/**
 * What a compute backend provides. Backends own memory (a DataHandle is an opaque
 * token for one buffer) and supply kernels through the kernel registry; the engine
 * does the bookkeeping (reference counts, scopes, the autodiff tape).
 */

export type Precision = 'float32' | 'float64';

/** An opaque handle to one buffer owned by a backend. */
export interface DataHandle {
  readonly backend: Backend;
  /** Number of float elements. */
  readonly size: number;
}

export interface Backend {
  /** Registry name, e.g. 'cpu', 'cpu64', 'webgpu'. */
  readonly name: string;
  /** Which set of kernels serves it: backends of one family share kernels. */
  readonly kernelFamily: string;
  /** Storage precision of its buffers. */
  readonly precision: Precision;
  /** Copies host values into a new buffer. */
  upload(values: ArrayLike<number>): DataHandle;
  /** Reads a buffer back; resolves once all queued work that writes it is done. */
  read(handle: DataHandle): Promise<Float32Array | Float64Array>;
  /** Synchronous read, where the backend can do one (CPU backends). */
  readSync?(handle: DataHandle): Float32Array | Float64Array;
  /** Returns a buffer to the backend (pooling is the backend's business). */
  release(handle: DataHandle): void;
  /** Bytes held by buffers that are live (not released). */
  liveBytes(): number;
  /** Resolves when every piece of work submitted so far is complete. */
  sync?(): Promise<void>;
  /** Human-readable description (adapter name, driver). */
  describe(): string;
  /** Gets the kernels `fn` would run ready (pipelines, tuning); see engine/prepare.ts. */
  prepare?(fn: () => unknown, o: import('./prepare.ts').PrepareOptions): Promise<import('./prepare.ts').PrepareReport>;
  /** True once the device behind it is gone (a GPU reset): setBackend then makes a new one. */
  isLost?(): boolean;
}
