// Which of the events the consumer has taken runs when. Pure scheduling, no I/O (scheduler.test.ts).
//
//  - One aggregate strictly in order: an event runs only after every earlier event of its aggregate
//    has finished (its log append expects the sequence the previous one produced).
//  - At most `concurrency` events run at once.
//  - An event behind its own aggregate **waits without a slot** (parked in its aggregate's queue);
//    it asks for a slot when it reaches the head. So on a skewed stream (half the events on one
//    aggregate, say) every slot still runs a different aggregate's append; a slot taken at
//    admission instead was held by the waiting events, and about half of them sat idle.
//  - At most `maxHeld` events are taken and not settled (running, waiting for a slot, or parked):
//    `admit()` waits for room, which is what stops the consume loop from taking more.
// An aggregate's next event is queued ahead of the events waiting for a slot that were taken after
// it was, so a hot aggregate — the serial part of a skewed stream — never waits for a slot behind
// newer events.

interface Entry {
  key: string;
  /** Order of submission: a parked event that reaches its aggregate's head is older than most. */
  order: number;
  task: () => Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class AggregateScheduler {
  /** Admitted and not settled (reserved by admit(), then submitted). */
  private taken = 0;
  private submitted = 0;
  private active = 0;
  private nextOrder = 0;
  /** Events at the head of their aggregate, waiting for a slot, oldest first. */
  private readonly ready: Entry[] = [];
  /** Per aggregate: its head (running or ready) and the events parked behind it, in order. */
  private readonly queues = new Map<string, Entry[]>();
  private readonly roomWaiters: (() => void)[] = [];
  private readonly idleWaiters: (() => void)[] = [];

  constructor(
    private readonly concurrency: number,
    /** Events taken and not settled, at most (default: as many parked as running). */
    private readonly maxHeld = 2 * concurrency,
  ) {
    if (!Number.isSafeInteger(concurrency) || concurrency < 1)
      throw new Error(`concurrency must be a positive integer, got ${concurrency}`);
    if (!Number.isSafeInteger(maxHeld) || maxHeld < concurrency)
      throw new Error(`maxHeld must be an integer ≥ concurrency (${concurrency}), got ${maxHeld}`);
  }

  /** Events taken and not settled: running, waiting for a slot, or parked behind their aggregate. */
  get held(): number {
    return this.taken;
  }

  /** Events running now (at most `concurrency`). */
  get running(): number {
    return this.active;
  }

  /** Resolves once there is room for one more event; each admit() is followed by one submit(). */
  async admit(): Promise<void> {
    if (this.taken < this.maxHeld) {
      this.taken++;
      return;
    }
    // The settling event hands its place over (taken stays the same).
    await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
  }

  /**
   * Runs `task` after every earlier task of `key` has finished, when a slot is free. The promise
   * settles like the task; a failed task does not stop the aggregate's next one.
   */
  submit(key: string, task: () => Promise<void>): Promise<void> {
    if (this.submitted >= this.taken) throw new Error('submit() without an admit() first');
    this.submitted++;
    return new Promise<void>((resolve, reject) => {
      const entry: Entry = { key, order: this.nextOrder++, task, resolve, reject };
      const queue = this.queues.get(key);
      if (queue)
        queue.push(entry); // parked behind its aggregate, no slot
      else {
        this.queues.set(key, [entry]);
        this.ready.push(entry);
      }
      this.pump();
    });
  }

  /** Resolves when nothing is held (every submitted task settled). */
  settled(): Promise<void> {
    if (this.taken === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (this.active < this.concurrency) {
      const entry = this.ready.shift();
      if (!entry) return;
      this.active++;
      void this.start(entry);
    }
  }

  private async start(entry: Entry): Promise<void> {
    try {
      await entry.task();
      entry.resolve();
    } catch (err) {
      entry.reject(err);
    }
    this.active--;
    this.submitted--;
    const queue = this.queues.get(entry.key);
    queue?.shift();
    const next = queue?.[0];
    if (next) this.enqueueReady(next);
    else this.queues.delete(entry.key);
    const waiter = this.roomWaiters.shift();
    if (waiter) waiter();
    else this.taken--;
    this.pump();
    if (this.taken === 0) for (const idle of this.idleWaiters.splice(0)) idle();
  }

  /** Inserts by submission order (older first); usually at or near the front. */
  private enqueueReady(entry: Entry): void {
    let i = 0;
    while (i < this.ready.length && (this.ready[i] as Entry).order < entry.order) i++;
    this.ready.splice(i, 0, entry);
  }
}
