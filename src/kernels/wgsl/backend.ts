import type { Backend, DataHandle } from '../../engine/backend.ts';
import { engine } from '../../engine/engine.ts';
import type { PrepareOptions, PrepareReport } from '../../engine/prepare.ts';
import type { GemmTiling } from './gemm.ts';
import type { TapTiling } from './tap_gemm.ts';
import { BufferPool } from './buffer_pool.ts';
import { GatedQueue } from './gated_queue.ts';
import { beginGpuWait, createGpuContext, type DeviceOptions, type GpuContext } from './device.ts';
import { chooseTable, committedTableFor, isSoftwareAdapter, useTuningTable, type TuningSource } from './tuning.ts';
import { cpuModel, loadCachedTable } from './tuning_cache.ts';

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
  /** For GEMMs whose tile is chosen per adapter: how to make the same product with another tile (autotune.ts). */
  tune?: TuneHook;
  /** Set on the GEMM of a stand-in (conv.ts): prepare checks that the rest of the pass uses its pipeline too. */
  standIn?: boolean;
}

export interface TuneHook {
  /** The tuning table's key (kernel and shape). */
  key: string;
  /** Floating-point operations of the product (what a tile could save). */
  flops: number;
  /** The tiles this product may run with, first the one it runs with now. */
  tiles: (TapTiling | GemmTiling)[];
  /** The dispatch for a tile (same buffers), or undefined where the tile cannot run it. */
  make: (tile: TapTiling | GemmTiling) => Dispatch | undefined;
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
  /** Pipelines the open encoder uses (kept only while a compile plan is under way: the gate needs them). */
  private encoderKeys: string[] = [];
  /** Every submit, buffer write and buffer destruction goes through here (see gated_queue.ts). */
  private gate: GatedQueue;
  /** The dispatch each planned pipeline key was first recorded with (to compile it ahead). */
  private plannedDispatch = new Map<string, Dispatch>();
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
    this.gate = new GatedQueue(this.device.queue, (key) => {
      const d = this.plannedDispatch.get(key);
      if (d) void warmUpOn(this.device, this.pipelines.get(key)!, d);
    });
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
    b.cpu = await cpuModel();
    const { kernelSourceHash } = await import('./autotune.ts');
    b.sourceHash = kernelSourceHash(b.ctx.subgroupSize);
    const own = committedTableFor(b.describe(), isSoftwareAdapter(b.describe()) ? b.cpu : undefined);
    const choice = chooseTable(b.describe(), b.cpu, own ? undefined : await loadCachedTable(b.describe(), b.cpu, b.sourceHash));
    useTuningTable(choice.table);
    b.tuning = choice.source;
    b.tableCpu = choice.tableCpu;
    return b;
  }

  /**
   * Where this adapter's tile choices come from: a committed table, the tuning cache, first-use
   * tuning, a committed table of the same software driver measured on another CPU model
   * (tuning.ts's nearestTableFor), or none (built-in choices).
   */
  tuning: TuningSource = 'none';
  /** With 'table of another CPU': the CPU model that table was measured on. */
  tableCpu: string | undefined;
  /** The CPU model (a software adapter's tables are per CPU). */
  cpu = '';
  /** Hash of the tunable kernels' sources (the cache's validity key). */
  sourceHash = '';

  /** Whether a measured tile table for this adapter was found (see tuning.ts). */
  get tuned(): boolean {
    return this.tuning !== 'none';
  }

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
    if (data.length > 0) this.gate.writeBuffer(buffer, 0, data as Float32Array<ArrayBuffer>);
    this.stats.uploads++;
    return this.wrapBuffer(buffer, values.length);
  }

  release(handle: DataHandle): void {
    // while prepare() records a pass, buffers stay alive: the tuner re-runs its GEMMs on them
    if (this.capture) this.capture.held.push(handle as GpuBuffer);
    else this.storage.release((handle as GpuBuffer).buffer, this.epoch);
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

  /** Whether prepareKernels is recording a pass (kernels may then set up what the tuner needs). */
  get capturing(): boolean {
    return this.capture !== undefined;
  }

  /** Whether the pipeline for this key exists. */
  hasPipeline(key: string): boolean {
    return this.pipelines.has(key);
  }

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
    if (this.capture) {
      this.capture.dispatches.push(d);
      return;
    }
    const pipeline = this.pipeline(d);
    const limit = this.limits.maxStorageBufferBindingSize;
    d.inputs.forEach((b, i) => {
      const bound = d.inputRanges?.[i]?.size ?? b.size;
      if (bound > limit) throw new Error(`webgpu: ${(d.label ?? d.key).split(':')[0]} would bind ${bound} bytes, over this adapter's storage binding limit of ${limit}`);
    });
    // a pipeline still being compiled elsewhere starts a command buffer of its own, so that what comes before
    // it can run now (before this dispatch takes a uniform buffer: a submit frees those of the commands before it)
    if (this.pendingDispatches > 0 && this.gate.holds(d.key)) this.submit();
    // (and a full timestamp query set is submitted here, for the same reason)
    if (this.profiling && this.profiling.used + 2 > this.profiling.capacity) this.submit();
    const entries: GPUBindGroupEntry[] = d.inputs.map((buffer, i) => ({ binding: i, resource: { buffer, ...d.inputRanges?.[i] } }));
    entries.push({ binding: d.inputs.length, resource: { buffer: d.output, size: d.outputBytes } });
    if (d.uniforms) {
      const u = this.uniforms.acquire(d.uniforms.byteLength, this.epoch);
      this.gate.writeBuffer(u, 0, new Uint8Array(d.uniforms));
      entries.push({ binding: d.inputs.length + 1, resource: { buffer: u } });
      this.pendingUniforms.push(u);
    }
    const bindGroup = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    if (this.gate.planning) this.encoderKeys.push(d.key);
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
        await this.gate.drained();
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
      this.gate.submit(this.encoder.finish(), this.encoderKeys);
      this.encoder = undefined;
      this.encoderKeys = [];
      this.stats.submits++;
    }
    if (readTimes) prof!.pending.push(readTimes());
    this.destroyAfterSubmit([...this.storage.takeDoomed(), ...this.uniforms.takeDoomed()]);
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
        await this.gate.drained();
        beginGpuWait();
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
    await this.gate.drained();
    beginGpuWait();
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

  // ---- getting kernels ready ----

  /** Set while prepare() records a pass: dispatches are collected, not run; released buffers are held. */
  private capture: Recording | undefined;

  /** Runs fn recording the dispatches it asks for (nothing runs); its tensors are disposed, its buffers held. */
  private record(fn: () => unknown, standIns = true): Recording {
    const c: Recording = { dispatches: [], held: [], background: [], standIns };
    const outer = this.capture;
    this.capture = c;
    try {
      engine.tidy(() => {
        fn();
      });
    } finally {
      this.capture = outer;
    }
    return c;
  }

  /** Records fn for prepare: with stand-ins where the rest of the pass compiles their pipeline anyway, else again without. */
  private recordPass(fn: () => unknown): Recording {
    const rec = this.record(fn);
    if (standInsPay(rec)) return rec;
    this.releaseHeld(rec.held);
    return this.record(fn, false);
  }

  /** Releases a recording's held buffers, once (the list is emptied: a second call releases nothing). */
  private releaseHeld(held: GpuBuffer[]): void {
    for (const h of held.splice(0)) this.storage.release(h.buffer, this.epoch);
  }

  /**
   * prepareKernels (engine/prepare.ts) on this backend: records fn's dispatches, tunes the
   * GEMM shapes this adapter has no choice for (tune), creates the missing pipelines with
   * createComputePipelineAsync (in parallel, off the JavaScript thread where the browser or
   * Dawn can), then runs each new pipeline once on one workgroup of scratch buffers, because
   * lavapipe compiles a pipeline's machine code (LLVM, 0.2-3 s) at its first dispatch, not
   * at creation: queued now, that happens while the caller loads weights and images.
   */
  async prepare(fn: () => unknown, o: PrepareOptions = {}): Promise<PrepareReport> {
    const t0 = performance.now();
    let rec = this.recordPass(fn);
    let tuned: string[] = [];
    // an adapter with a committed table is not tuned at run time; one with a cached table is, for shapes it lacks
    if (o.tune && this.tuning !== 'committed table' && rec.dispatches.some((d) => d.tune)) {
      const { autoTune } = await import('./autotune.ts');
      try {
        tuned = await autoTune(this, rec.dispatches, o.tuneBudgetMs ?? 4000);
      } finally {
        this.releaseHeld(rec.held);
      }
      // the tiles may have changed: record again for the pipelines the pass will really use
      if (tuned.length > 0) rec = this.recordPass(fn);
    }
    this.releaseHeld(rec.held);
    const byKey = new Map<string, Dispatch>();
    for (const d of rec.dispatches) if (!byKey.has(d.key)) byKey.set(d.key, d);
    const fresh = [...byKey.values()].filter((d) => !this.pipelines.has(d.key));
    const later = new Map<string, Dispatch>();
    for (const d of rec.background) if (!byKey.has(d.key) && !this.pipelines.has(d.key) && !later.has(d.key)) later.set(d.key, d);
    await Promise.all([...fresh, ...later.values()].map((d) => this.createPipelineAsync(d)));
    const compiled = this.compileAhead(fresh, [...later.values()]);
    if (o.wait) await compiled;
    else void compiled.catch(() => undefined);
    return { dispatches: rec.dispatches.length, pipelines: byKey.size, compiled: fresh.length, tuned, ms: performance.now() - t0 };
  }

  /**
   * Whether prepare compiles on a helper device as well as on this one: the driver compiles at
   * first dispatch (a software adapter in Node), its shader cache is on (the two devices share
   * it), and the machine has a second core.
   */
  private compilesOnHelper(): boolean {
    const cores = Number(/x(\d+)$/.exec(this.cpu)?.[1] ?? 2);
    const env = typeof process !== 'undefined' ? process.env : {};
    const cacheOff = env.MESA_SHADER_CACHE_DISABLE === 'true' || env.MESA_SHADER_CACHE_DISABLE === '1';
    return env.CONVSCOPE_COMPILE_HELPER !== '0' && !cacheOff && this.ctx.runtime === 'node (dawn)' && isSoftwareAdapter(this.describe()) && cores >= 2 && this.ctx.robust;
  }

  /**
   * Whether a kernel runs its stand-in now instead of the `preferred` dispatch (conv.ts: a first
   * layer's own tile, whose compile the first run would wait for). While prepare records: where
   * that pipeline is not compiled yet and a helper device compiles; it is then compiled in the
   * background, after the pass (gated_queue.ts). At run time: until that compile is done.
   */
  standInFor(preferred: Dispatch): boolean {
    if (this.capture) {
      if (!this.capture.standIns || this.pipelines.has(preferred.key) || !this.compilesOnHelper()) return false;
      this.capture.background.push(preferred);
      return true;
    }
    return this.gate.holdsLater(preferred.key);
  }

  /** A second device on the same adapter, used only to compile (compileAhead). */
  private helper: Promise<GpuContext | undefined> | undefined;

  /**
   * Gets the driver to compile these pipelines now. lavapipe compiles a pipeline at its
   * first dispatch, on its device's queue thread, one at a time, while the cores that run
   * kernels wait; its shader cache (on disk, on by default) is shared by every device in the
   * process, and looked up at each first dispatch. So where the driver compiles at first
   * dispatch (a software adapter in Node) and the machine has a second core, a helper device
   * compiles too (a pipeline it compiled is a cache hit for the main device: measured 7 ms
   * instead of 2.1 s for a 16x4 tile), and the gate (gated_queue.ts) shares the list out in
   * the order of first use: the main queue compiles the first pipeline, the helper the
   * second, then each side the next one whenever it is idle; the pass may start at once, and
   * runs on what is compiled while the rest compiles. Elsewhere (or with the shader cache
   * off) the main queue warms all of them up. Resolves when all are compiled.
   */
  private async compileAhead(ds: Dispatch[], later: Dispatch[] = []): Promise<void> {
    if ((ds.length === 0 && later.length === 0) || !this.ctx.robust) return;
    if (!(ds.length + later.length >= 2 && this.compilesOnHelper())) {
      this.warmUp([...ds, ...later]);
      await this.sync();
      return;
    }
    this.helper ??= createGpuContext().catch(() => undefined);
    for (const d of [...ds, ...later]) if (!this.plannedDispatch.has(d.key)) this.plannedDispatch.set(d.key, d);
    this.submit();
    this.gate.plan(
      ds.map((d) => d.key),
      async (key) => {
        const h = await this.helper;
        const d = this.plannedDispatch.get(key);
        if (!h || !d) return false;
        const module = h.device.createShaderModule({ code: d.source() });
        const p = await h.device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
        beginGpuWait();
        await warmUpOn(h.device, p, d);
        return true;
      },
      later.map((d) => d.key),
    );
    await this.gate.planned();
    if (typeof process !== 'undefined' && process.env?.CONVSCOPE_DEBUG) {
      const r = this.gate.takeReport();
      process.stderr.write(`convscope: compiled ahead, main queue: ${r.main.length}, helper device: ${r.helper.join(' ; ')}\n`);
    }
  }

  private async createPipelineAsync(d: Dispatch): Promise<void> {
    const module = this.device.createShaderModule({ code: d.source() });
    const p = await this.device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    if (!this.pipelines.has(d.key)) {
      this.pipelines.set(d.key, p);
      this.stats.pipelinesCompiled++;
    }
  }

  /**
   * One workgroup of each pipeline, with its real parameters but on small scratch buffers
   * (robust buffer access keeps every read and write inside them), submitted at once: the
   * results are thrown away, the driver has compiled the pipeline. Skipped where robustness
   * was turned off (a read past a scratch buffer would then be undefined).
   */
  warmUp(ds: Dispatch[]): void {
    if (ds.length === 0 || !this.ctx.robust) return;
    this.submit();
    for (const d of ds) void warmUpOn(this.device, this.pipelines.get(d.key)!, d);
  }

  /** Frees pooled buffers (live tensors keep theirs). */
  drainPool(): void {
    this.submit();
    this.destroyAfterSubmit([...this.storage.drain(), ...this.uniforms.drain()]);
  }

  /** Destroys buffers once the commands submitted so far (some perhaps still held by the gate) have reached the queue. */
  private destroyAfterSubmit(buffers: GPUBuffer[]): void {
    if (buffers.length > 0) this.gate.then(() => buffers.forEach((b) => b.destroy()));
  }
}

/** One workgroup of pipeline p (made from d) on scratch buffers with d's parameters; resolves when done. */
async function warmUpOn(device: GPUDevice, p: GPUComputePipeline, d: Dispatch): Promise<void> {
  const made: GPUBuffer[] = [];
  const entries: GPUBindGroupEntry[] = [];
  for (let i = 0; i <= d.inputs.length; i++) {
    const b = device.createBuffer({ size: 1024, usage: STORAGE });
    made.push(b);
    entries.push({ binding: i, resource: { buffer: b } });
  }
  if (d.uniforms) {
    const u = device.createBuffer({ size: Math.max(16, d.uniforms.byteLength), usage: UNIFORM });
    device.queue.writeBuffer(u, 0, d.uniforms);
    made.push(u);
    entries.push({ binding: d.inputs.length + 1, resource: { buffer: u } });
  }
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(p);
  pass.setBindGroup(0, device.createBindGroup({ layout: p.getBindGroupLayout(0), entries }));
  pass.dispatchWorkgroups(1);
  pass.end();
  device.queue.submit([enc.finish()]);
  await device.queue.onSubmittedWorkDone();
  made.forEach((b) => b.destroy());
}

/** What prepare's recording of a pass holds. */
interface Recording {
  dispatches: Dispatch[];
  /** Buffers the pass released (held so the tuner can run its GEMMs on them). */
  held: GpuBuffer[];
  /** Dispatches the pass would have made but ran a stand-in for (compiled in the background). */
  background: Dispatch[];
  /** Whether kernels may run stand-ins in this recording. */
  standIns: boolean;
}

/** Whether a recording's stand-ins save compiles: each stand-in GEMM's pipeline is used elsewhere in the pass, and no stand-in's preferred pipeline is. */
function standInsPay(rec: Recording): boolean {
  if (rec.background.length === 0) return true;
  const others = new Set(rec.dispatches.filter((d) => !d.standIn).map((d) => d.key));
  return rec.dispatches.every((d) => !d.standIn || others.has(d.key)) && rec.background.every((d) => !others.has(d.key));
}
