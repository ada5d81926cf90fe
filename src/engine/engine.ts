import type { Backend, DataHandle } from './backend.ts';
import { type Attrs, getKernel, type KernelInput } from './kernel_registry.ts';
import { Tensor, setTensorHooks, collectTensors, type TensorContainer } from './tensor.ts';
import { type Shape, sizeOf, shapeString, assertValidShape } from './shape.ts';

/** A recorded application of an op, as the autodiff tape sees it. */
export interface OpRecord {
  op: string;
  inputs: Record<string, Tensor>;
  output: Tensor;
  attrs: Attrs;
}

/** Something that watches ops as they run (the autodiff tape). */
export interface OpObserver {
  onOp(record: OpRecord): void;
}

type BackendFactory = () => Backend | Promise<Backend>;

/**
 * The engine: which backend runs ops, who owns which buffer, which tensors a scope
 * must dispose, and who is recording ops for autodiff. One per process (per page).
 */
class Engine {
  private factories = new Map<string, BackendFactory>();
  private instances = new Map<string, Backend>();
  private active: Backend | undefined;
  /** Reference counts per buffer: several tensors can share one (reshape). */
  private refCounts = new Map<DataHandle, number>();
  private live = new Set<Tensor>();
  private scopes: Set<Tensor>[] = [];
  private observers: OpObserver[] = [];

  registerBackend(name: string, factory: BackendFactory): void {
    this.factories.set(name, factory);
  }

  /** Makes `name` the backend for new tensors and ops, creating it on first use. */
  async setBackend(name: string): Promise<Backend> {
    let b = this.instances.get(name);
    // a backend whose device was lost is replaced by a new one; its tensors stay dead
    if (b?.isLost?.()) {
      this.instances.delete(name);
      if (this.active === b) this.active = undefined;
      b = undefined;
    }
    if (!b) {
      const f = this.factories.get(name);
      if (!f) throw new Error(`unknown backend '${name}'; registered: ${[...this.factories.keys()].join(', ')}`);
      b = await f();
      this.instances.set(name, b);
    }
    this.active = b;
    return b;
  }

  /** Switches to an already created backend (synchronous). */
  useBackend(b: Backend): void {
    this.instances.set(b.name, b);
    this.active = b;
  }

  get backend(): Backend {
    if (!this.active) throw new Error('no backend selected: call await setBackend("cpu" | "cpu64" | "webgpu") first');
    return this.active;
  }

  getBackendInstance(name: string): Backend | undefined {
    return this.instances.get(name);
  }

  // ---- tensors and memory ----

  /** Wraps a buffer in a new tensor, taking one reference on the buffer. */
  wrap(handle: DataHandle, shape: Shape, track = true, aliasOf?: number): Tensor {
    const t = new Tensor(handle, shape, aliasOf);
    this.refCounts.set(handle, (this.refCounts.get(handle) ?? 0) + 1);
    this.live.add(t);
    if (track) this.scopes[this.scopes.length - 1]?.add(t);
    return t;
  }

  fromValues(values: ArrayLike<number>, shape: Shape, backend: Backend = this.backend): Tensor {
    assertValidShape(shape, 'tensor');
    if (values.length !== sizeOf(shape)) {
      throw new Error(`tensor: ${values.length} values do not fill shape ${shapeString(shape)} (${sizeOf(shape)} elements)`);
    }
    return this.wrap(backend.upload(values), shape);
  }

  dispose(t: Tensor): void {
    if (t.isDisposed) return;
    t.markDisposed();
    this.live.delete(t);
    for (const s of this.scopes) s.delete(t);
    const n = (this.refCounts.get(t.handle) ?? 1) - 1;
    if (n <= 0) {
      this.refCounts.delete(t.handle);
      t.handle.backend.release(t.handle);
    } else this.refCounts.set(t.handle, n);
  }

  /** Live tensors (not disposed), over all backends. */
  get numTensors(): number {
    return this.live.size;
  }
  /** Distinct live buffers. */
  get numBuffers(): number {
    return this.refCounts.size;
  }

  // ---- scopes ----

  /**
   * Runs fn; every tensor created inside and not returned (nor kept) is disposed.
   * Tensors in the result move to the enclosing scope.
   */
  tidy<T extends TensorContainer>(fn: () => T): T {
    const scope = new Set<Tensor>();
    this.scopes.push(scope);
    let result: T;
    try {
      result = fn();
    } finally {
      this.scopes.pop();
    }
    if (result instanceof Promise) throw new Error('tidy: the function must be synchronous (it returned a Promise)');
    const keep = new Set(collectTensors(result));
    for (const t of scope) if (!keep.has(t)) this.dispose(t);
    const parent = this.scopes[this.scopes.length - 1];
    if (parent) for (const t of keep) if (scope.has(t)) parent.add(t);
    return result;
  }

  /** Exempts a tensor from disposal by the enclosing scopes. */
  keep<T extends Tensor>(t: T): T {
    for (const s of this.scopes) s.delete(t);
    return t;
  }

  /**
   * A second tensor on the same buffer. Outside every scope (owned by the caller)
   * unless `inScope` is set, in which case the current scope owns it.
   */
  retain(t: Tensor, inScope = false): Tensor {
    t.assertLive('retain');
    return this.wrap(t.handle, t.shape, inScope, t.id);
  }

  // ---- ops ----

  addObserver(o: OpObserver): void {
    this.observers.push(o);
  }
  removeObserver(o: OpObserver): void {
    const i = this.observers.lastIndexOf(o);
    if (i >= 0) this.observers.splice(i, 1);
  }

  /** Runs one op on the backend of its inputs (or the active backend) and records it. */
  runOp(op: string, inputs: Record<string, Tensor>, attrs: Attrs = {}): Tensor {
    let backend: Backend | undefined;
    const kin: Record<string, KernelInput> = {};
    for (const [name, t] of Object.entries(inputs)) {
      if (!(t instanceof Tensor)) throw new Error(`${op}: input '${name}' is not a Tensor`);
      t.assertLive(`${op} (input '${name}')`);
      if (backend && t.handle.backend !== backend) {
        throw new Error(`${op}: inputs live on different backends ('${backend.name}' and '${t.backendName}')`);
      }
      backend = t.handle.backend;
      kin[name] = t;
    }
    backend ??= this.backend;
    const out = getKernel(op, backend.kernelFamily)(kin, attrs, backend);
    const t = this.wrap(out.handle, out.shape);
    if (this.observers.length > 0) {
      const rec: OpRecord = { op, inputs, output: t, attrs };
      for (const o of this.observers) o.onOp(rec);
    }
    return t;
  }

  /** Runs a backend-independent op whose output shares its input's buffer (reshape). */
  runViewOp(op: string, x: Tensor, shape: Shape, attrs: Attrs): Tensor {
    x.assertLive(op);
    const t = this.wrap(x.handle, shape);
    if (this.observers.length > 0) {
      const rec: OpRecord = { op, inputs: { x }, output: t, attrs };
      for (const o of this.observers) o.onOp(rec);
    }
    return t;
  }
}

export const engine = new Engine();
setTensorHooks({ dispose: (t) => engine.dispose(t) });

export function tidy<T extends TensorContainer>(fn: () => T): T {
  return engine.tidy(fn);
}
export function keep<T extends Tensor>(t: T): T {
  return engine.keep(t);
}
export function dispose(c: TensorContainer): void {
  for (const t of collectTensors(c)) t.dispose();
}
export function setBackend(name: string): Promise<Backend> {
  return engine.setBackend(name);
}
export function getBackend(): Backend {
  return engine.backend;
}
export function memory(): { numTensors: number; numBuffers: number; liveBytes: number } {
  return { numTensors: engine.numTensors, numBuffers: engine.numBuffers, liveBytes: engine.backend.liveBytes() };
}
