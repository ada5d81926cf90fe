import type { Backend, DataHandle } from '../../engine/backend.ts';
import { BufferPool } from './buffer_pool.ts';
import { createGpuContext, type DeviceOptions, type GpuContext } from './device.ts';
import { loadTuningFor } from './tuning.ts';

/** A tensor's storage on the GPU. */
export interface GpuBuffer extends DataHandle {
  readonly buffer: GPUBuffer;
}

/** One compute dispatch: a WGSL program, its storage inputs and output, and parameters. */
export interface Dispatch {
  /** Pipelines are cached by this key; it must identify the source uniquely. */
  key: string;
  /** What profiles and the tuner call this dispatch (kernel and shape); the key if omitted. */
  label?: string;
  source: () => string;
  /** Read-only storage buffers, bound at 0..n-1 of group 0. */
  inputs: GPUBuffer[];
  /** Optional byte ranges of the inputs to bind (for buffers larger than the binding limit). */
  inputRanges?: ({ offset: number; size: number } | undefined)[];
  /** The read-write output, bound at n. */
  output: GPUBuffer;
  /** Bytes of the output to bind (so arrayLength(&out) is the element count); whole buffer if omitted. */
  outputBytes?: number;
  /** Optional uniform parameters (u32/f32 words), bound at n+1. */
  uniforms?: ArrayBuffer;
  /** Workgroup counts. A single number larger than the per-dimension limit is folded into y. */
  workgroups: number | [number, number, number];
}

const STORAGE = 0x80 | 0x04 | 0x08; // STORAGE | COPY_SRC | COPY_DST (numeric: GPUBufferUsage is not global in every runtime)
const UNIFORM = 0x40 | 0x08; // UNIFORM | COPY_DST
const MAP_READ_COPY_DST = 0x01 | 0x08;

/** Most dispatches to encode before submitting, so the GPU starts work early and pools recycle. */
const MAX_PENDING_DISPATCHES = 32;

/**
 * The WebGPU backend: tensors live in GPU storage buffers from the first op to the
 * last; commands are batched into one encoder and submitted in chunks; nothing comes
 * back to the CPU until `read` is called.
 */
export class WebGPUBackend implements Backend {
  readonly name = 'webgpu';
  readonly kernelFamily = 'webgpu';
  readonly precision = 'float32' as const;
  readonly device: GPUDevice;
  private storage: BufferPool;
  private uniforms: BufferPool;
  private pipelines = new Map<string, GPUComputePipeline>();
  private encoder: GPUCommandEncoder | undefined;
  private pendingDispatches = 0;
  /** Number of submits so far: a buffer released in epoch e is safe to upload into once epoch > e. */
  private epoch = 0;
  private pendingUniforms: GPUBuffer[] = [];
  private errors: string[] = [];
  /** Timestamp-query profiling (see startProfile). */
  private profiling: { querySet: GPUQuerySet; capacity: number; used: number; labels: string[]; pending: Promise<number[]>[]; labelBatches: string[][] } | undefined;
  /** Counters for tests and benchmarks. */
  readonly stats = { dispatches: 0, submits: 0, pipelinesCompiled: 0, uploads: 0, reads: 0 };

  constructor(readonly ctx: GpuContext) {
    this.device = ctx.device;
    this.storage = new BufferPool(this.device, STORAGE);
    this.uniforms = new BufferPool(this.device, UNIFORM, 4 * 1024 * 1024);
    this.device.addEventListener?.('uncapturederror', (e: Event) => {
      this.errors.push((e as GPUUncapturedErrorEvent).error.message);
    });
    void this.device.lost.then((info) => {
      if (info.reason !== 'destroyed') this.errors.push(`device lost: ${info.message}`);
      this.lostReason = info.message || info.reason || 'unknown reason';
    });
  }

  /** Set when the device is lost (a GPU reset, or device.destroy()). */
  private lostReason: string | undefined;

  isLost(): boolean {
    return this.lostReason !== undefined;
  }

  /** Every use of a lost device fails with this, instead of working on dead buffers. */
  private checkLost(): void {
    if (this.lostReason !== undefined) {
      throw new Error(
        `the GPU device was lost (${this.lostReason}): this call failed. The next call that selects the 'webgpu' backend ` +
          'gets a new device; tensors and models made before the loss must be made again',
      );
    }
  }

  static async create(o: DeviceOptions = {}): Promise<WebGPUBackend> {
    const b = new WebGPUBackend(await createGpuContext(o));
    b.tuned = loadTuningFor(b.describe());
    return b;
  }

  /** Whether a measured tile table for this adapter was found (see tuning.ts). */
  tuned = false;

  get limits(): GPUSupportedLimits {
    return this.ctx.limits;
  }

  describe(): string {
    const i = this.ctx.adapterInfo;
    return [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' / ') + ` [${this.ctx.runtime}]`;
  }

  // ---- memory ----

  private wrapBuffer(buffer: GPUBuffer, size: number): GpuBuffer {
    return { backend: this, size, buffer };
  }

  /** An uninitialised output buffer for `size` floats. */
  allocate(size: number): GpuBuffer {
    this.checkLost();
    this.checkBindable(size);
    return this.wrapBuffer(this.storage.acquire(size * 4), size);
  }

  /**
   * Buffers may be as large as maxBufferSize; kernels that bind one whole check the
   * (often smaller) binding limit themselves, and matmul binds large operands in blocks.
   */
  private checkBindable(size: number): void {
    const bytes = size * 4;
    if (bytes > this.limits.maxBufferSize) {
      throw new Error(
        `webgpu: a tensor of ${size} floats (${(bytes / 2 ** 20).toFixed(1)} MiB) exceeds this adapter's buffer size limit ` +
          `of ${(this.limits.maxBufferSize / 2 ** 20).toFixed(0)} MiB`,
      );
    }
  }

  upload(values: ArrayLike<number>): GpuBuffer {
    this.checkLost();
    this.checkBindable(values.length);
    const buffer = this.storage.acquire(values.length * 4, this.epoch);
    const data = values instanceof Float32Array ? values : Float32Array.from(values);
    if (data.length > 0) this.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    this.stats.uploads++;
    return this.wrapBuffer(buffer, values.length);
  }

  release(handle: DataHandle): void {
    this.storage.release((handle as GpuBuffer).buffer, this.epoch);
  }

  liveBytes(): number {
    return this.storage.liveBytes;
  }
  peakBytes(): number {
    return this.storage.peakLiveBytes;
  }
  resetPeak(): void {
    this.storage.resetPeak();
  }
  pooledBytes(): number {
    return this.storage.freeBytes;
  }

  // ---- work ----

  private pipeline(d: Dispatch): GPUComputePipeline {
    let p = this.pipelines.get(d.key);
    if (!p) {
      const module = this.device.createShaderModule({ code: d.source() });
      p = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
      this.pipelines.set(d.key, p);
      this.stats.pipelinesCompiled++;
    }
    return p;
  }

  /** Folds a 1-D workgroup count larger than the per-dimension limit into x*y. */
  fold(n: number): [number, number, number] {
    const max = this.limits.maxComputeWorkgroupsPerDimension;
    if (n <= max) return [n, 1, 1];
    const y = Math.ceil(n / max);
    return [Math.ceil(n / y), y, 1];
  }

  dispatch(d: Dispatch): void {
    this.checkLost();
    const pipeline = this.pipeline(d);
    const limit = this.limits.maxStorageBufferBindingSize;
    d.inputs.forEach((b, i) => {
      const bound = d.inputRanges?.[i]?.size ?? b.size;
      if (bound > limit) throw new Error(`webgpu: ${(d.label ?? d.key).split(':')[0]} would bind ${bound} bytes, over this adapter's storage binding limit of ${limit}`);
    });
    const entries: GPUBindGroupEntry[] = d.inputs.map((buffer, i) => ({ binding: i, resource: { buffer, ...d.inputRanges?.[i] } }));
    entries.push({ binding: d.inputs.length, resource: { buffer: d.output, size: d.outputBytes } });
    if (d.uniforms) {
      const u = this.uniforms.acquire(d.uniforms.byteLength, this.epoch);
      this.device.queue.writeBuffer(u, 0, d.uniforms);
      entries.push({ binding: d.inputs.length + 1, resource: { buffer: u } });
      this.pendingUniforms.push(u);
    }
    const bindGroup = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    this.encoder ??= this.device.createCommandEncoder();
    const prof = this.profiling;
    if (prof && prof.used + 2 > prof.capacity) this.submit();
    this.encoder ??= this.device.createCommandEncoder();
    const pass = this.profiling
      ? this.encoder.beginComputePass({
          timestampWrites: { querySet: this.profiling.querySet, beginningOfPassWriteIndex: this.profiling.used, endOfPassWriteIndex: this.profiling.used + 1 },
        })
      : this.encoder.beginComputePass();
    if (this.profiling) {
      this.profiling.used += 2;
      this.profiling.labels.push(d.label ?? d.key);
    }
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    const [x, y, z] = typeof d.workgroups === 'number' ? this.fold(d.workgroups) : d.workgroups;
    pass.dispatchWorkgroups(x, y, z);
    pass.end();
    this.stats.dispatches++;
    if (++this.pendingDispatches >= MAX_PENDING_DISPATCHES) this.submit();
  }

  /** Copies `bytes` from one buffer to another inside the current command stream. */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    if (bytes === 0) return;
    this.encoder ??= this.device.createCommandEncoder();
    this.encoder.copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  /** Submits the commands encoded so far. */
  submit(): void {
    const prof = this.profiling;
    let readTimes: (() => Promise<number[]>) | undefined;
    if (prof && prof.used > 0 && this.encoder) {
      const bytes = prof.used * 8;
      const resolve = this.device.createBuffer({ size: bytes, usage: 0x200 | 0x04 /* QUERY_RESOLVE | COPY_SRC */ });
      const staging = this.device.createBuffer({ size: bytes, usage: MAP_READ_COPY_DST });
      this.encoder.resolveQuerySet(prof.querySet, 0, prof.used, resolve, 0);
      this.encoder.copyBufferToBuffer(resolve, 0, staging, 0, bytes);
      const n = prof.used;
      // mapped only after the submit below
      readTimes = async () => {
        await staging.mapAsync(1);
        const t = new BigUint64Array(staging.getMappedRange().slice(0));
        staging.destroy();
        resolve.destroy();
        const ms: number[] = [];
        for (let i = 0; i < n; i += 2) ms.push(Number(t[i + 1] - t[i]) / 1e6);
        return ms;
      };
      prof.labelBatches.push(prof.labels);
      prof.labels = [];
      prof.used = 0;
    }
    if (this.encoder) {
      this.device.queue.submit([this.encoder.finish()]);
      this.encoder = undefined;
      this.stats.submits++;
    }
    if (readTimes) prof!.pending.push(readTimes());
    this.storage.afterSubmit();
    this.uniforms.afterSubmit();
    this.pendingDispatches = 0;
    this.epoch++;
    for (const u of this.pendingUniforms) this.uniforms.release(u, this.epoch - 1);
    this.pendingUniforms = [];
  }

  async read(handle: DataHandle): Promise<Float32Array> {
    this.checkLost();
    const { buffer, size } = handle as GpuBuffer;
    const bytes = size * 4;
    const staging = this.device.createBuffer({ size: Math.max(16, Math.ceil(bytes / 4) * 4), usage: MAP_READ_COPY_DST });
    this.copy(buffer, 0, staging, 0, bytes);
    this.submit();
    this.stats.reads++;
    try {
      try {
        await staging.mapAsync(1 /* GPUMapMode.READ */);
      } catch (e) {
        await Promise.resolve(); // let a pending device-lost notice land first
        this.checkLost();
        throw e;
      }
      this.throwIfErrors();
      return new Float32Array(staging.getMappedRange(0, bytes).slice(0));
    } finally {
      staging.destroy();
    }
  }

  /** Waits until the GPU has finished everything submitted so far. */
  async sync(): Promise<void> {
    this.submit();
    await this.device.queue.onSubmittedWorkDone();
    this.throwIfErrors();
  }

  /** Validation errors and device loss become exceptions at the next read or sync: no silent garbage. */
  throwIfErrors(): void {
    if (this.errors.length > 0) {
      const msg = this.errors.splice(0).join('\n');
      throw new Error(`webgpu: ${msg}`);
    }
  }

  /**
   * Starts timing every dispatch with timestamp queries (where the adapter has them).
   * stopProfile() returns GPU milliseconds per kernel family.
   */
  startProfile(): boolean {
    if (!this.ctx.hasTimestamps) return false;
    this.submit();
    const capacity = 2 * MAX_PENDING_DISPATCHES;
    this.profiling = { querySet: this.device.createQuerySet({ type: 'timestamp', count: capacity }), capacity, used: 0, labels: [], pending: [], labelBatches: [] };
    return true;
  }

  async stopProfile(): Promise<Map<string, { count: number; ms: number }>> {
    const prof = this.profiling;
    if (!prof) return new Map();
    this.submit();
    this.profiling = undefined;
    const batches = await Promise.all(prof.pending);
    prof.querySet.destroy();
    const totals = new Map<string, { count: number; ms: number }>();
    batches.forEach((ms, b) =>
      ms.forEach((v, i) => {
        const k = prof.labelBatches[b][i];
        const e = totals.get(k) ?? { count: 0, ms: 0 };
        e.count++;
        e.ms += v;
        totals.set(k, e);
      }),
    );
    return totals;
  }

  /** Frees pooled buffers (live tensors keep theirs). */
  drainPool(): void {
    this.submit();
    this.storage.drain();
    this.uniforms.drain();
  }
}
