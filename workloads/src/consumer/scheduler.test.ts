import { AggregateScheduler } from './scheduler.js';

/** Lets every queued promise callback run. */
const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

/**
 * Feeds `keys` (one event each, in order) the way the consumer's loop does — take a message, wait
 * for `admit()`, submit — with tasks that run until the test releases them. Records what runs.
 */
function harness(concurrency: number, keys: string[]) {
  const s = new AggregateScheduler(concurrency);
  const running = new Map<number, { key: string; release: () => void }>();
  const started: number[] = [];
  let maxRunning = 0;
  let overlap = false;
  let taken = 0;
  const feeding = (async () => {
    for (let i = 0; i < keys.length; i++) {
      taken = i + 1;
      await s.admit();
      const key = keys[i] as string;
      void s.submit(key, async () => {
        if ([...running.values()].some((r) => r.key === key)) overlap = true;
        started.push(i);
        await new Promise<void>((release) => running.set(i, { key, release }));
        running.delete(i);
      });
      maxRunning = Math.max(maxRunning, running.size);
    }
  })();
  return {
    s,
    running,
    started,
    feeding,
    get taken() {
      return taken;
    },
    get maxRunning() {
      return maxRunning;
    },
    get overlap() {
      return overlap;
    },
  };
}

/** Half the events on one hot aggregate, the other half on distinct ones: H c1 H c2 H c3 … */
const skewed = (n: number) => Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 'hot' : `cold-${i}`));

describe('AggregateScheduler', () => {
  it('keeps CONCURRENCY events running on a skewed stream: events waiting behind their aggregate hold no slot', async () => {
    const h = harness(8, skewed(200));
    await settle();
    // One hot event runs; its successors wait without a slot, so 7 cold aggregates run beside it.
    expect(h.running.size).toBe(8);
    expect([...h.running.values()].filter((r) => r.key === 'hot')).toHaveLength(1);
  });

  it('bounds the events taken and not settled (running + waiting) at twice CONCURRENCY', async () => {
    const h = harness(8, skewed(200));
    await settle();
    expect(h.s.held).toBeLessThanOrEqual(16);
    // The loop waits in admit() for the next message: it took one more than it holds.
    expect(h.taken).toBe(h.s.held + 1);
  });

  it('runs one aggregate strictly in order, one event at a time, and every event once', async () => {
    const keys = Array.from({ length: 300 }, (_, i) => `agg-${(i * 7) % 5}`);
    const h = harness(4, keys);
    // Release running events in a scrambled order until everything has run.
    let turn = 0;
    while (h.started.length < keys.length || h.running.size > 0) {
      await settle();
      const ids = [...h.running.keys()];
      const pick = ids[turn++ % Math.max(ids.length, 1)];
      if (pick !== undefined) h.running.get(pick)?.release();
    }
    await h.feeding;
    await h.s.settled();
    expect(h.overlap).toBe(false);
    expect([...h.started].sort((a, b) => a - b)).toEqual(keys.map((_, i) => i));
    for (const key of new Set(keys)) {
      const order = h.started.filter((i) => keys[i] === key);
      expect(order).toEqual([...order].sort((a, b) => a - b));
    }
    expect(h.maxRunning).toBeLessThanOrEqual(4);
    expect(h.s.held).toBe(0);
  });

  it('runs the next event of an aggregate even when its predecessor’s task failed', async () => {
    const s = new AggregateScheduler(2);
    const ran: number[] = [];
    await s.admit();
    void s.submit('a', () => Promise.reject(new Error('boom'))).catch(() => undefined);
    await s.admit();
    void s.submit('a', async () => {
      ran.push(2);
    });
    await s.settled();
    expect(ran).toEqual([2]);
    expect(s.held).toBe(0);
  });

  it('runs events in the order taken when slots are short: an aggregate’s next event goes ahead of newer ones', async () => {
    const s = new AggregateScheduler(1, 4);
    const order: string[] = [];
    const releases = new Map<string, () => void>();
    const task = (name: string) => () =>
      new Promise<void>((release) => {
        order.push(name);
        releases.set(name, release);
      });
    for (const [key, name] of [
      ['a', 'a1'],
      ['b', 'b2'],
      ['a', 'a3'],
      ['c', 'c4'],
    ] as const) {
      await s.admit();
      void s.submit(key, task(name));
    }
    for (const name of ['a1', 'b2', 'a3', 'c4']) {
      await settle();
      releases.get(name)?.();
    }
    await s.settled();
    expect(order).toEqual(['a1', 'b2', 'a3', 'c4']);
  });

  it('refuses a concurrency below 1 and room for fewer events than run at once', () => {
    expect(() => new AggregateScheduler(0)).toThrow(/concurrency must be a positive integer/);
    expect(() => new AggregateScheduler(8, 4)).toThrow(/maxHeld must be an integer ≥ concurrency/);
  });

  it('refuses a submit() that no admit() made room for', () => {
    expect(() => new AggregateScheduler(1).submit('a', () => Promise.resolve())).toThrow(/without an admit/);
  });
});
