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
 * A plan may also name keys to compile later: pipelines the pass does not wait for because a
 * kernel runs a stand-in while they are not compiled (`holdsLater`; conv.ts's first layer). The
 * helper compiles them once the pass has submitted every other planned pipeline and the main
 * queue is idle, so that they compete with neither the first run nor its compiles.
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
  /** Keys to compile later (after the pass), and those of them still waiting. */
  private later = new Set<string>();
  private laterWaiting: string[] = [];
  /** Planned keys no submitted command buffer has used yet (the later keys start when it is empty). */
  private unseen = new Set<string>();
  private compileOnHelper: ((key: string) => Promise<boolean>) | undefined;
  /** Whether the helper is compiling a key the pass may wait for (not a later one). */
  private helperOnPlanned = false;
  /** Whether work submitted to the main queue may still be running (only tracked during a plan). */
  private mainBusy = false;
  private busyGeneration = 0;
  private drainWaiters: (() => void)[] = [];
  private planWaiters: (() => void)[] = [];
  private settleWaiters: (() => void)[] = [];
  private helperRunning = 0;
  private report: CompilePlanReport = { helper: [], main: [] };
  private pumping = false;

  constructor(
    private queue: GPUQueue,
    /** Compiles `key` on the main queue now (a one-workgroup dispatch submitted directly). */
    private warmUpOnMain: (key: string) => void,
  ) {}

  /** Whether a plan is under way: some planned key (later ones included) is not compiled or taken yet. */
  get planning(): boolean {
    return this.waitingKeys.length > 0 || this.laterWaiting.length > 0 || this.helperRunning > 0;
  }

  /** Whether a key the pass waits for is not compiled or taken yet. */
  private get plannedPending(): boolean {
    return this.waitingKeys.length > 0 || this.helperOnPlanned;
  }

  /** Whether a dispatch of this key now would be held (the backend starts a new command buffer before it). */
  holds(key: string): boolean {
    const s = this.state.get(key);
    return s === 'waiting' || s === 'helper';
  }

  /** Whether a kernel should still run its stand-in for this later key (it is not compiled yet). */
  holdsLater(key: string): boolean {
    return this.later.has(key) && this.holds(key);
  }

  /**
   * Starts a plan for these keys (in the order of first use) and, after them, the `later`
   * ones; `compileOnHelper` compiles one key on the helper device and resolves to true when
   * it is done, false where there is no helper (undefined: the main queue compiles the
   * planned keys, and later keys are dropped). Keys already planned are left as they are.
   */
  plan(keys: readonly string[], compileOnHelper: ((key: string) => Promise<boolean>) | undefined, later: readonly string[] = []): void {
    for (const k of keys) {
      if (this.state.has(k)) continue;
      this.state.set(k, 'waiting');
      this.waitingKeys.push(k);
      this.unseen.add(k);
    }
    if (compileOnHelper) {
      this.compileOnHelper = compileOnHelper;
      for (const k of later) {
        if (this.state.has(k)) continue;
        this.state.set(k, 'waiting');
        this.later.add(k);
        this.laterWaiting.push(k);
      }
    }
    // the main queue first (it takes the first key: the pass starts with it), then the helper
    this.pump();
  }

  /** Resolves once every planned key (not the later ones) has been compiled or taken by the main queue, and the main queue is idle. */
  planned(): Promise<void> {
    if (!this.plannedPending && !this.mainBusy) return Promise.resolve();
    return new Promise((resolve) => this.planWaiters.push(resolve));
  }

  /** Resolves once nothing is left to compile: planned keys, later ones and whatever the helper is on. */
  settled(): Promise<void> {
    if (!this.planning && !this.mainBusy) return Promise.resolve();
    return new Promise((resolve) => this.settleWaiters.push(resolve));
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
          if (this.unseen.size > 0) for (const k of op.keys) this.unseen.delete(k);
        } else if (op.kind === 'write') this.queue.writeBuffer(op.buffer, op.offset, op.data);
        else op.fn();
      }
      if (this.ops.length === 0) this.drainWaiters.splice(0).forEach((w) => w());
      if (!sent && !this.mainBusy) {
        // nothing to run (nothing held, or what is held waits for the helper): compile the next waiting key here
        const k = this.waitingKeys[0];
        if (k !== undefined) {
          this.take(k, 'main');
          this.warmUpOnMain(k);
          sent = true;
        }
      }
      if (sent && (this.planning || this.ops.length > 0)) this.watchMain();
      if (!this.plannedPending && !this.mainBusy) this.planWaiters.splice(0).forEach((w) => w());
      if (!this.planning && !this.mainBusy) this.settleWaiters.splice(0).forEach((w) => w());
      if (this.helperRunning === 0 && this.compileOnHelper) {
        // the later keys only once the pass has used every planned pipeline and the main queue is idle
        const passDone = !this.plannedPending && this.unseen.size === 0 && !this.mainBusy && !sent && this.ops.length === 0;
        if (this.waitingKeys.length > 0) void this.helperLoop(this.waitingKeys, this.compileOnHelper);
        else if (this.laterWaiting.length > 0 && passDone) void this.helperLoop(this.laterWaiting, this.compileOnHelper);
      }
    } finally {
      this.pumping = false;
    }
  }

  private take(key: string, by: 'helper' | 'main'): void {
    for (const list of [this.waitingKeys, this.laterWaiting]) {
      const i = list.indexOf(key);
      if (i >= 0) list.splice(i, 1);
    }
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

  /**
   * The helper's loop over one list (the planned keys, or the later ones): it takes the first
   * waiting key, compiles it, and goes on until the list is empty. `compileOnHelper` resolves
   * to false where there is no helper: a planned key goes back to the main queue, later keys
   * are dropped (their kernels then run their own pipelines, compiled at first dispatch).
   */
  private async helperLoop(list: string[], compileOnHelper: (key: string) => Promise<boolean>): Promise<void> {
    const planned = list === this.waitingKeys;
    this.helperRunning++;
    try {
      for (;;) {
        const k = list[0];
        if (k === undefined) return;
        this.take(k, 'helper');
        this.helperOnPlanned = planned;
        let compiled = true;
        try {
          compiled = await compileOnHelper(k);
        } catch {
          // the main queue's first dispatch compiles it instead: slower, still right
        }
        this.helperOnPlanned = false;
        if (!compiled) {
          this.compileOnHelper = undefined; // no helper: never started again
          this.report.helper.pop();
          if (planned) {
            this.state.set(k, 'waiting');
            list.unshift(k);
          }
          // nobody compiles later keys but the helper
          for (const key of [...(planned ? [] : [k]), ...this.laterWaiting.splice(0)]) {
            this.state.delete(key);
            this.later.delete(key);
          }
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
