// The controller's work queue, after client-go's: a key waiting to be processed is held once
// however often it is added; a key being processed is never handed to a second worker (an add
// during processing is remembered and handed out after `done`); failures back off per key,
// exponentially; delayed adds (the next poll) keep the earliest due time.
import { backoffDelayMs, type BackoffOptions } from './backoff.js';
import { monotonicNow } from '../clock.js';

export interface WorkQueueOptions {
  backoff?: BackoffOptions;
  random?: () => number;
}

export class WorkQueue {
  private readonly queue: string[] = [];
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
      const index = this.queue.indexOf(key);
      if (index >= 0) this.queue.splice(index, 1);
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
    return this.queue.length;
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
    this.queue.length = 0;
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
      this.queue.push(key);
    }
  }

  private take(): string | undefined {
    const key = this.queue.shift();
    if (key === undefined) return undefined;
    this.dirty.delete(key);
    this.processing.add(key);
    return key;
  }
}
