import { Batcher, publishInBatches, publishWindowed } from './pipeline.js';

/** A publish that settles when the test says so. */
function controlledPublishes() {
  const open: { i: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  let maxInFlight = 0;
  const publishOne = (i: number) =>
    new Promise<void>((resolve, reject) => {
      open.push({ i, resolve, reject });
      maxInFlight = Math.max(maxInFlight, open.length);
    });
  const settleFirst = async () => {
    open.shift()?.resolve();
    await new Promise((r) => setImmediate(r));
  };
  return { open, publishOne, settleFirst, maxInFlight: () => maxInFlight };
}

describe('publishWindowed (a sliding window of publishes)', () => {
  it('keeps exactly the window in flight, starting the next as soon as one settles', async () => {
    const c = controlledPublishes();
    const done = publishWindowed(10, 3, c.publishOne);
    expect(c.open.map((o) => o.i)).toEqual([0, 1, 2]);
    await c.settleFirst();
    expect(c.open.map((o) => o.i)).toEqual([1, 2, 3]);
    while (c.open.length > 0) await c.settleFirst();
    await done;
    expect(c.maxInFlight()).toBe(3);
  });

  it('publishes every index once, and resolves only after the last settled', async () => {
    const seen: number[] = [];
    let settled = 0;
    await publishWindowed(1000, 64, async (i) => {
      seen.push(i);
      await new Promise((r) => setImmediate(r));
      settled++;
    });
    expect(seen).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(settled).toBe(1000);
  });

  it('rejects with the first failure and starts nothing after it', async () => {
    const c = controlledPublishes();
    const done = publishWindowed(10, 2, c.publishOne);
    c.open.shift()?.reject(new Error('stream refused'));
    await expect(done).rejects.toThrow('stream refused');
    expect(c.open.map((o) => o.i)).toEqual([1]);
  });

  it('resolves at once for nothing to publish, and refuses a window below 1', async () => {
    await expect(publishWindowed(0, 5, () => Promise.reject(new Error('called')))).resolves.toBeUndefined();
    expect(() => publishWindowed(1, 0, () => Promise.resolve())).toThrow('window must be an integer ≥ 1');
  });
});

describe('publishInBatches (lanes of batches, as the gateway closed loop sends requests)', () => {
  it('keeps one batch per lane in flight, each lane starting its next when its last settled', async () => {
    const open: { first: number; size: number; resolve: () => void }[] = [];
    let most = 0;
    const done = publishInBatches(
      1050,
      100,
      3,
      (first, size) =>
        new Promise<void>((resolve) => {
          open.push({ first, size, resolve });
          most = Math.max(most, open.length);
        }),
    );
    expect(open.map((o) => o.first)).toEqual([0, 100, 200]);
    const seen: [number, number][] = [];
    while (open.length > 0) {
      const o = open.shift();
      if (!o) break;
      seen.push([o.first, o.size]);
      o.resolve();
      await new Promise((r) => setImmediate(r));
    }
    await done;
    expect(most).toBe(3);
    // Every index once, in batches of 100 and a last one of 50.
    expect(seen.map(([first]) => first)).toEqual(Array.from({ length: 11 }, (_, k) => k * 100));
    expect(seen.map(([, size]) => size)).toEqual([...Array<number>(10).fill(100), 50]);
  });

  it('rejects with the first failure and starts no batch after it', async () => {
    const started: number[] = [];
    const done = publishInBatches(1000, 100, 2, async (first) => {
      started.push(first);
      await new Promise((r) => setImmediate(r));
      if (first === 100) throw new Error('stream refused');
    });
    await expect(done).rejects.toThrow('stream refused');
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([0, 100, 200]);
  });

  it('resolves at once for nothing to publish, and refuses a batch or lanes below 1', async () => {
    await expect(
      publishInBatches(0, 100, 10, () => Promise.reject(new Error('called'))),
    ).resolves.toBeUndefined();
    expect(() => publishInBatches(1, 0, 1, () => Promise.resolve())).toThrow('batch must be an integer ≥ 1');
    expect(() => publishInBatches(1, 1, 0, () => Promise.resolve())).toThrow('lanes must be an integer ≥ 1');
  });
});

describe('Batcher (items added in one turn go out together)', () => {
  it('sends what was added in one turn as one batch, and splits at maxBatch', async () => {
    const sent: number[][] = [];
    const b = new Batcher<number>(4, async (items) => {
      sent.push(items);
    });
    await Promise.all(Array.from({ length: 10 }, (_, i) => b.add(i)));
    expect(sent).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9],
    ]);
    expect(b.sizes).toEqual([4, 4, 2]);
  });

  it('sends items of later turns in later batches, even while earlier ones are in flight', async () => {
    const sent: number[][] = [];
    const release: (() => void)[] = [];
    const b = new Batcher<number>(100, (items) => {
      sent.push(items);
      return new Promise<void>((r) => release.push(r));
    });
    const first = [b.add(1), b.add(2)];
    await new Promise((r) => setImmediate(r));
    const second = b.add(3);
    await new Promise((r) => setImmediate(r));
    expect(sent).toEqual([[1, 2], [3]]);
    release.forEach((r) => r());
    await Promise.all([...first, second]);
  });

  it('settles each add with the outcome of its own batch', async () => {
    const b = new Batcher<string>(2, async (items) => {
      if (items.includes('bad')) throw new Error('batch refused');
    });
    const results = await Promise.allSettled([b.add('a'), b.add('b'), b.add('bad'), b.add('c')]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'rejected']);
  });

  it('refuses a batch size below 1', () => {
    expect(() => new Batcher<number>(0, async () => undefined)).toThrow('maxBatch must be an integer ≥ 1');
  });
});
