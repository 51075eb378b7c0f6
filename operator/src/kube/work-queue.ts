// The controller's work queue, after client-go's: a key waiting to be processed is held once
// however often it is added; a key being processed is never handed to a second worker (an add
// during processing is remembered and handed out after `done`); failures back off per key,
// exponentially; delayed adds (the next poll) keep the earliest due time. Due keys are handed out
// namespace by namespace in turn (first come first served within one), so when the workers cannot
// keep up, one tenant's many EventConsumers (500 at pollInterval 1s) do not hold another tenant's
// polls behind all of theirs: a key waits for at most one key of each other namespace.
import { backoffDelayMs, type BackoffOptions } from './backoff.js';
import { monotonicNow } from '../clock.js';

export interface WorkQueueOptions {
  backoff?: BackoffOptions;
  random?: () => number;
}

export class WorkQueue {
  /** Due keys by namespace, each first come first served. */
  private readonly queues = new Map<string, string[]>();
  /** Namespaces with due keys, in the order they take their next turn. */
  private readonly turns: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly timers = new Map<string, { dueAt: number; timer: NodeJS.Timeout }>();
  private readonly failures = new Map<string, number>();
  private readonly waiters: Array<(key: string | undefined) => void> = [];
  private shuttingDown = false;
  private readonly backoff: BackoffOptions;
  private readonly random: () => number;

  constructor(options: WorkQueueOptions = {}) {
    this.backoff = options.backoff ?? { baseMs: 500, maxMs: 60_000, jitter: 0.1 };
    this.random = options.random ?? Math.random;
  }

  /** Makes the key due now. */
  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    this.handOut(key);
  }

  /** Makes the key due after `delayMs`, unless it is already due sooner. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const dueAt = monotonicNow() + delayMs;
    const existing = this.timers.get(key);
    if (existing && existing.dueAt <= dueAt) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.timers.set(key, { dueAt, timer });
  }

  /** Retries the key after a per-key exponential backoff; returns the delay chosen. */
  addRateLimited(key: string): number {
    const attempt = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, attempt);
    const delay = backoffDelayMs(attempt, this.backoff, this.random);
    this.addAfter(key, delay);
    return delay;
  }

  /**
   * Makes every key waiting out a failure backoff due now (their failure counts stay): the cause
   * they failed on is known to be gone — the API server answers again after an outage. Keys waiting
   * for their next poll are left alone.
   */
  retryFailedNow(): void {
    for (const key of this.failures.keys()) {
      const existing = this.timers.get(key);
      if (existing === undefined) continue;
      clearTimeout(existing.timer);
      this.timers.delete(key);
      this.add(key);
    }
  }

  /** Clears the key's failure count (after a success). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** Drops every trace of the key: pending timer, failures and a queued (not running) entry. */
  remove(key: string): void {
    const existing = this.timers.get(key);
    if (existing) clearTimeout(existing.timer);
    this.timers.delete(key);
    this.failures.delete(key);
    if (!this.processing.has(key) && this.dirty.delete(key)) {
      const namespace = namespaceOf(key);
      const queue = this.queues.get(namespace);
      const index = queue?.indexOf(key) ?? -1;
      if (queue && index >= 0) queue.splice(index, 1);
      if (queue?.length === 0) this.dropTurn(namespace);
    }
  }

  failureCount(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** The next key to process, or undefined once the queue shuts down. Call `done(key)` after. */
  get(): Promise<string | undefined> {
    const key = this.take();
    if (key !== undefined || this.shuttingDown) return Promise.resolve(key);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key) && !this.shuttingDown) this.handOut(key);
  }

  /** Keys due and not yet taken. */
  length(): number {
    let due = 0;
    for (const queue of this.queues.values()) due += queue.length;
    return due;
  }

  /** Keys with a delayed add pending. */
  scheduledCount(): number {
    return this.timers.size;
  }

  isProcessing(key: string): boolean {
    return this.processing.has(key);
  }

  /** Stops handing out work: waiting `get` calls return undefined; timers are cancelled. */
  shutDown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.queues.clear();
    this.turns.length = 0;
    this.dirty.clear();
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
  }

  private handOut(key: string): void {
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      waiter(key);
    } else {
      const namespace = namespaceOf(key);
      const queue = this.queues.get(namespace);
      if (queue) queue.push(key);
      else {
        this.queues.set(namespace, [key]);
        this.turns.push(namespace);
      }
    }
  }

  /** The first key of the namespace whose turn it is; the namespace goes to the back of the turns. */
  private take(): string | undefined {
    const namespace = this.turns.shift();
    if (namespace === undefined) return undefined;
    const queue = this.queues.get(namespace);
    const key = queue?.shift();
    if (queue && queue.length > 0) this.turns.push(namespace);
    else this.queues.delete(namespace);
    if (key === undefined) return this.take();
    this.dirty.delete(key);
    this.processing.add(key);
    return key;
  }

  private dropTurn(namespace: string): void {
    this.queues.delete(namespace);
    const index = this.turns.indexOf(namespace);
    if (index >= 0) this.turns.splice(index, 1);
  }
}

/** The namespace of a `namespace/name` key (the whole key when it has no slash). */
function namespaceOf(key: string): string {
  const slash = key.indexOf('/');
  return slash < 0 ? key : key.slice(0, slash);
}
