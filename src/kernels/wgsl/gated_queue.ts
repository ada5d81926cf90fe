import { beginGpuWait } from './device.ts';

/**
 * The main device's queue as the backend uses it, for a driver that compiles a pipeline at
 * its first dispatch (Mesa's lavapipe) while a helper device compiles others (the shader
 * cache both share makes a pipeline the helper compiled a cache hit on the main queue).
 *
 * Outside a compile plan everything passes straight to the queue. Within one (`plan(keys)`,
 * the pipelines a prepared pass will use, in the order of first use), each key is compiled
 * once, by whichever side is free first: the helper takes the next waiting key whenever it
 * is idle; the main queue takes one whenever it has nothing to run, either because the next
 * command buffer needs it or to compile ahead. A command buffer that needs a key the helper
 * is still compiling is held, and every queue operation after it (later command buffers,
 * buffer writes, callbacks) waits behind it, in order, so the pass runs on what is ready and
 * its convolutions overlap the compiles of the layers after them. Without the hold, the
 * main queue's first dispatch of such a key would compile it a second time.
 *
 * The backend must send every submit, buffer write and buffer destruction through here, and
 * wait for `drained()` before mapping a buffer or waiting for the queue.
 */
type Op =
  | { kind: 'submit'; buffer: GPUCommandBuffer; keys: readonly string[] }
  | { kind: 'write'; buffer: GPUBuffer; offset: number; data: Uint8Array<ArrayBuffer> }
  | { kind: 'call'; fn: () => void };

/** Where a planned pipeline is: waiting for either side, compiling on the helper, taken by the main queue, or compiled. */
type KeyState = 'waiting' | 'helper' | 'main' | 'done';

export interface CompilePlanReport {
  /** Keys the helper device compiled, and those the main queue took. */
  helper: string[];
  main: string[];
}

export class GatedQueue {
  private ops: Op[] = [];
  private state = new Map<string, KeyState>();
  /** Keys still waiting, in the order of first use. */
  private waitingKeys: string[] = [];
  /** Whether work submitted to the main queue may still be running (only tracked during a plan). */
  private mainBusy = false;
  private busyGeneration = 0;
  private drainWaiters: (() => void)[] = [];
  private planWaiters: (() => void)[] = [];
  private helperRunning = 0;
  private report: CompilePlanReport = { helper: [], main: [] };
  private pumping = false;

  constructor(
    private queue: GPUQueue,
    /** Compiles `key` on the main queue now (a one-workgroup dispatch submitted directly). */
    private warmUpOnMain: (key: string) => void,
  ) {}

  /** Whether a plan is under way: some planned key is not compiled or taken yet. */
  get planning(): boolean {
    return this.waitingKeys.length > 0 || this.helperRunning > 0;
  }

  /** Whether a dispatch of this key now would be held (the backend starts a new command buffer before it). */
  holds(key: string): boolean {
    const s = this.state.get(key);
    return s === 'waiting' || s === 'helper';
  }

  /**
   * Starts a plan for these keys (in the order of first use); `compileOnHelper` compiles one
   * key on the helper device and resolves when it is done (undefined: no helper, the main
   * queue compiles everything). Keys already planned are left as they are.
   */
  plan(keys: readonly string[], compileOnHelper: ((key: string) => Promise<boolean>) | undefined): void {
    for (const k of keys) {
      if (this.state.has(k)) continue;
      this.state.set(k, 'waiting');
      this.waitingKeys.push(k);
    }
    // the main queue first (it takes the first key: the pass starts with it), then the helper
    this.pump();
    if (compileOnHelper && this.helperRunning === 0) void this.helperLoop(compileOnHelper);
  }

  /** Resolves once every planned key has been compiled or taken by the main queue and the main queue is idle. */
  planned(): Promise<void> {
    if (!this.planning && !this.mainBusy) return Promise.resolve();
    return new Promise((resolve) => this.planWaiters.push(resolve));
  }

  /** Who compiled what since the last call. */
  takeReport(): CompilePlanReport {
    const r = this.report;
    this.report = { helper: [], main: [] };
    return r;
  }

  submit(buffer: GPUCommandBuffer, keys: readonly string[]): void {
    this.enqueue({ kind: 'submit', buffer, keys });
  }

  writeBuffer(buffer: GPUBuffer, offset: number, data: ArrayBufferView<ArrayBuffer>): void {
    if (this.ops.length === 0) {
      this.queue.writeBuffer(buffer, offset, data);
      return;
    }
    // held: the caller may reuse its array before this write reaches the queue
    const copy = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    this.ops.push({ kind: 'write', buffer, offset, data: copy });
  }

  /** Runs fn once every operation before it has reached the queue (at once when nothing is held). */
  then(fn: () => void): void {
    if (this.ops.length === 0) fn();
    else this.ops.push({ kind: 'call', fn });
  }

  /** Resolves when nothing is held (every operation so far has reached the queue). */
  drained(): Promise<void> {
    if (this.ops.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private enqueue(op: Op): void {
    this.ops.push(op);
    this.pump();
  }

  private blockedBy(op: Op): string[] {
    return op.kind === 'submit' ? op.keys.filter((k) => this.holds(k)) : [];
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      let sent = false;
      while (this.ops.length > 0) {
        const op = this.ops[0];
        const blocked = this.blockedBy(op);
        if (blocked.length > 0) {
          // the main queue compiles what nobody has started, once it has nothing else to run
          if (this.mainBusy || sent || blocked.some((k) => this.state.get(k) === 'helper')) break;
          for (const k of blocked) this.take(k, 'main');
        }
        this.ops.shift();
        if (op.kind === 'submit') {
          this.queue.submit([op.buffer]);
          sent = true;
        } else if (op.kind === 'write') this.queue.writeBuffer(op.buffer, op.offset, op.data);
        else op.fn();
      }
      if (this.ops.length === 0) this.drainWaiters.splice(0).forEach((w) => w());
      if (!sent && !this.mainBusy && this.ops.length === 0) {
        // nothing to run: compile the next waiting key here
        const k = this.waitingKeys[0];
        if (k !== undefined) {
          this.take(k, 'main');
          this.warmUpOnMain(k);
          sent = true;
        }
      }
      if (sent && (this.planning || this.ops.length > 0)) this.watchMain();
      if (!this.planning && !this.mainBusy) this.planWaiters.splice(0).forEach((w) => w());
    } finally {
      this.pumping = false;
    }
  }

  private take(key: string, by: 'helper' | 'main'): void {
    const i = this.waitingKeys.indexOf(key);
    if (i >= 0) this.waitingKeys.splice(i, 1);
    this.state.set(key, by === 'main' ? 'main' : 'helper');
    this.report[by].push(key);
  }

  /** Marks the main queue busy until what has been submitted so far is done, then pumps again. */
  private watchMain(): void {
    this.mainBusy = true;
    const generation = ++this.busyGeneration;
    beginGpuWait();
    void this.queue.onSubmittedWorkDone().then(
      () => this.mainIdle(generation),
      () => this.mainIdle(generation),
    );
  }

  private mainIdle(generation: number): void {
    if (generation !== this.busyGeneration) return;
    this.mainBusy = false;
    this.pump();
  }

  /** `compileOnHelper` resolves to false where there is no helper: the key goes back to the main queue, and the loop ends. */
  private async helperLoop(compileOnHelper: (key: string) => Promise<boolean>): Promise<void> {
    this.helperRunning++;
    try {
      for (;;) {
        const k = this.waitingKeys[0];
        if (k === undefined) return;
        this.take(k, 'helper');
        let compiled = true;
        try {
          compiled = await compileOnHelper(k);
        } catch {
          // the main queue's first dispatch compiles it instead: slower, still right
        }
        if (!compiled) {
          this.report.helper.pop();
          this.state.set(k, 'waiting');
          this.waitingKeys.unshift(k);
          return;
        }
        this.state.set(k, 'done');
        this.pump();
      }
    } finally {
      this.helperRunning--;
      this.pump();
    }
  }
}
