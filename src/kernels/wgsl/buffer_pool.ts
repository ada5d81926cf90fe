/**
 * Reuses GPU buffers by size. A released buffer may be handed out again at once as a
 * kernel output (commands in one encoder run in order), but not for an upload until
 * the commands encoded before its release have been submitted: queue.writeBuffer
 * would otherwise overtake them.
 */
export class BufferPool {
  private free = new Map<number, { buffer: GPUBuffer; epoch: number }[]>();
  private pooledBytes = 0;
  private live = 0;
  private peak = 0;

  constructor(
    private device: GPUDevice,
    private usage: GPUBufferUsageFlags,
    /** Free buffers kept beyond this many bytes are destroyed. */
    private maxPooledBytes = 512 * 1024 * 1024,
  ) {}

  /** Rounded size class: multiples of 256 bytes, at least 16 (WebGPU has no empty buffers). */
  static sizeClass(bytes: number): number {
    return Math.max(16, Math.ceil(bytes / 256) * 256);
  }

  acquire(bytes: number, forUploadAtEpoch?: number): GPUBuffer {
    const size = BufferPool.sizeClass(bytes);
    const list = this.free.get(size);
    if (list) {
      const i = forUploadAtEpoch === undefined ? list.length - 1 : list.findIndex((e) => e.epoch < forUploadAtEpoch);
      if (i >= 0) {
        const [{ buffer }] = list.splice(i, 1);
        this.pooledBytes -= size;
        this.addLive(size);
        return buffer;
      }
    }
    const buffer = this.device.createBuffer({ size, usage: this.usage });
    this.addLive(size);
    return buffer;
  }

  /** Over-the-cap buffers wait here until the work encoded with them has been submitted. */
  private toDestroy: GPUBuffer[] = [];

  release(buffer: GPUBuffer, epoch: number): void {
    const size = buffer.size;
    this.live -= size;
    if (this.pooledBytes + size > this.maxPooledBytes) {
      // Commands not yet submitted may still use it: destroying now would invalidate them.
      this.toDestroy.push(buffer);
      return;
    }
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push({ buffer, epoch });
    this.pooledBytes += size;
  }

  private addLive(size: number): void {
    this.live += size;
    this.peak = Math.max(this.peak, this.live);
  }

  get liveBytes(): number {
    return this.live;
  }
  get peakLiveBytes(): number {
    return this.peak;
  }
  get freeBytes(): number {
    return this.pooledBytes;
  }
  resetPeak(): void {
    this.peak = this.live;
  }

  /** Called after each submit: the buffers released over the cap, for the caller to destroy once that submit reaches the queue. */
  takeDoomed(): GPUBuffer[] {
    const doomed = this.toDestroy;
    this.toDestroy = [];
    return doomed;
  }

  /** Empties the pool: returns every pooled (free) buffer, for the caller to destroy (after the commands that used them are submitted). */
  drain(): GPUBuffer[] {
    const out: GPUBuffer[] = [];
    for (const list of this.free.values()) for (const e of list) out.push(e.buffer);
    this.free.clear();
    this.pooledBytes = 0;
    return out;
  }
}
