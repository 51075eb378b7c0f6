// How a connection backs off a server the protocol guard dropped (guarded-transport.ts). Before,
// nats.js reconnected to it every reconnectTimeWait (1 s) for ever, and was dropped each time.
import { DEFAULT_VIOLATION_BACKOFF, ViolationBackoff } from './guarded-transport.js';

describe('ViolationBackoff', () => {
  it('keeps nats.js its own wait until a violation, then doubles the wait up to a minute', () => {
    let now = 0;
    let random = 0;
    const backoff = new ViolationBackoff(
      {},
      () => now,
      () => random,
    );
    expect(backoff.delay(1000)).toBe(1000);
    const waits: number[] = [];
    for (let i = 0; i < 9; i++) {
      backoff.violated();
      const wait = backoff.delay(1000);
      waits.push(wait);
      now += wait + 50; // reconnected after the wait, dropped again 50 ms later
    }
    // The low end of each range (random 0): half of 1, 2, 4 ... 60 s, never under nats.js's own 1 s.
    expect(waits).toEqual([1000, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
    // The high end (random ~1): the whole of it.
    random = 0.999_999;
    backoff.violated();
    expect(backoff.delay(1000)).toBe(DEFAULT_VIOLATION_BACKOFF.maxMs);
  });

  it('spreads the waits of connections to one server', () => {
    const waits = new Set<number>();
    for (let i = 0; i < 20; i++) {
      const backoff = new ViolationBackoff(
        {},
        () => 0,
        () => i / 20,
      );
      for (let n = 0; n < 5; n++) backoff.violated();
      waits.add(backoff.delay(1000));
    }
    // The fifth violation: between 8 and 16 s, each connection its own.
    expect(Math.min(...waits)).toBe(8000);
    expect(Math.max(...waits)).toBeLessThanOrEqual(16_000);
    expect(waits.size).toBe(20);
  });

  it('forgets the violations of a server that kept to the protocol for a minute', () => {
    let now = 0;
    const backoff = new ViolationBackoff(
      {},
      () => now,
      () => 0,
    );
    for (let n = 0; n < 4; n++) backoff.violated(); // a 4 s wait
    expect(backoff.delay(1000)).toBe(4000);
    now = 4000 + 59_000; // connected since, under a minute
    expect(backoff.delay(1000)).toBe(4000);
    backoff.violated();
    expect(backoff.delay(1000)).toBe(8000);
    now += 8000 + 60_001; // an ordinary disconnect after a minute's good behaviour: nats.js's wait
    expect(backoff.delay(1000)).toBe(1000);
    backoff.violated(); // and a violation starts again from the first wait
    expect(backoff.delay(1000)).toBe(1000);
    backoff.violated();
    expect(backoff.delay(1000)).toBe(1000);
    backoff.violated();
    expect(backoff.delay(1000)).toBe(2000);
  });
});
