// Specifies the work queue: dedupe, one worker per key, per-key backoff, delayed adds, shutdown.
import { jest } from '@jest/globals';
import { WorkQueue } from './work-queue.js';
import { backoffDelayMs } from './backoff.js';

const noJitter = { backoff: { baseMs: 100, maxMs: 1000, jitter: 0 } };

describe('WorkQueue', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it('holds a key once however often it is added', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.length()).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
  });

  it("takes namespaces in turn: one tenant's 500 due keys do not hold another's behind them", async () => {
    // Tenant A's 500 EventConsumers at pollInterval 1s keep the queue full when the workers cannot
    // keep up; handed out first come first served, tenant B's one key waited behind all 500 on
    // every poll. In turns, it waits for at most one key of each other namespace.
    const q = new WorkQueue();
    for (let i = 0; i < 500; i++) q.add(`tenant-a/ec-${i}`);
    q.add('tenant-b/orders');
    q.add('tenant-c/billing');
    const order: string[] = [];
    for (let i = 0; i < 6; i++) order.push((await q.get()) ?? '');
    expect(order).toEqual([
      'tenant-a/ec-0',
      'tenant-b/orders',
      'tenant-c/billing',
      'tenant-a/ec-1',
      'tenant-a/ec-2',
      'tenant-a/ec-3',
    ]);
    expect(q.length()).toBe(496);
    // Within a namespace, first come first served; a removed key leaves no turn behind.
    q.add('tenant-b/x');
    q.add('tenant-b/y');
    q.remove('tenant-b/x');
    expect(await q.get()).toBe('tenant-a/ec-4');
    expect(await q.get()).toBe('tenant-b/y');
    expect(await q.get()).toBe('tenant-a/ec-5');
  });

  it('never hands a key being processed to a second worker, and hands it out again after done', async () => {
    const q = new WorkQueue();
    q.add('a');
    const first = await q.get();
    expect(first).toBe('a');
    q.add('a');
    expect(q.length()).toBe(0);
    let second: string | undefined;
    void q.get().then((k) => (second = k));
    await Promise.resolve();
    expect(second).toBeUndefined();
    q.done('a');
    await Promise.resolve();
    expect(second).toBe('a');
  });

  it('wakes a waiting worker when a key is added', async () => {
    const q = new WorkQueue();
    const pending = q.get();
    q.add('x');
    await expect(pending).resolves.toBe('x');
  });

  it('backs off exponentially per key and forgets after success', () => {
    jest.useFakeTimers();
    const q = new WorkQueue(noJitter);
    expect(q.addRateLimited('a')).toBe(100);
    expect(q.addRateLimited('a')).toBe(200);
    expect(q.addRateLimited('a')).toBe(400);
    expect(q.addRateLimited('b')).toBe(100);
    q.forget('a');
    expect(q.failureCount('a')).toBe(0);
    expect(q.addRateLimited('a')).toBe(100);
  });

  it('retryFailedNow makes keys waiting out a failure backoff due now, keeps their counts, and leaves poll timers alone', () => {
    jest.useFakeTimers();
    const q = new WorkQueue(noJitter);
    for (let i = 0; i < 9; i++) q.addRateLimited('failed'); // 1,000 ms (the cap) away
    q.addAfter('polled', 5_000);
    expect(q.length()).toBe(0);
    q.retryFailedNow();
    expect(q.length()).toBe(1);
    expect(q.scheduledCount()).toBe(1); // 'polled' still waits for its poll
    expect(q.failureCount('failed')).toBe(9);
  });

  it('makes a delayed key due after its delay, keeping the earliest due time', async () => {
    jest.useFakeTimers();
    const q = new WorkQueue();
    q.addAfter('a', 5000);
    q.addAfter('a', 1000);
    q.addAfter('a', 3000);
    expect(q.scheduledCount()).toBe(1);
    jest.advanceTimersByTime(999);
    expect(q.length()).toBe(0);
    jest.advanceTimersByTime(1);
    expect(q.length()).toBe(1);
    expect(await q.get()).toBe('a');
    jest.advanceTimersByTime(10_000);
    expect(q.length()).toBe(0);
  });

  it('removes a queued key and its timer', () => {
    jest.useFakeTimers();
    const q = new WorkQueue();
    q.add('a');
    q.addAfter('b', 100);
    q.remove('a');
    q.remove('b');
    jest.advanceTimersByTime(1000);
    expect(q.length()).toBe(0);
  });

  it('releases waiting workers with undefined on shutdown and ignores later adds', async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    q.shutDown();
    await expect(waiting).resolves.toBeUndefined();
    q.add('a');
    await expect(q.get()).resolves.toBeUndefined();
  });
});

describe('backoffDelayMs', () => {
  const options = { baseMs: 1000, maxMs: 30_000, jitter: 0.2 };
  it('doubles per attempt up to the maximum', () => {
    const mid = () => 0.5;
    expect([1, 2, 3, 4, 5, 6, 10].map((n) => backoffDelayMs(n, options, mid))).toEqual([
      1000, 2000, 4000, 8000, 16000, 30000, 30000,
    ]);
  });
  it('spreads delays by the jitter fraction, never above the maximum', () => {
    expect(backoffDelayMs(1, options, () => 0)).toBe(800);
    expect(backoffDelayMs(1, options, () => 0.999999)).toBe(1200);
    expect(backoffDelayMs(20, options, () => 0.999999)).toBe(30000);
  });
});
