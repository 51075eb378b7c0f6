import { eventsBody } from './load.js';

/** What the bench sent before: makeEvent (test/harness.ts) with a fixed timestamp, then JSON.stringify. */
const makeEvent = (n: number, aggregates: number, timestamp: string) => ({
  id: `g-${n}`,
  type: 'deposit',
  aggregateId: `agg-${n % aggregates}`,
  payload: { amount: 1 },
  timestamp,
});

describe('eventsBody (the load generator writes the events out)', () => {
  const ts = '2026-12-05T19:30:00.123Z';
  it('is the JSON of the events the bench built before, for a single event and for batches', () => {
    expect(eventsBody(1, 7, 1000, ts)).toBe(JSON.stringify(makeEvent(7, 1000, ts)));
    for (const [batch, first, aggregates] of [
      [2, 0, 1],
      [10, 995, 1000],
      [100, 123_456, 1000],
    ] as const) {
      const events = Array.from({ length: batch }, (_, k) => makeEvent(first + k, aggregates, ts));
      expect(eventsBody(batch, first, aggregates, ts)).toBe(JSON.stringify(events));
    }
  });
  it('refuses what would not be the events meant', () => {
    expect(() => eventsBody(0, 0, 1000, ts)).toThrow(/batch 0/);
    expect(() => eventsBody(1.5, 0, 1000, ts)).toThrow(/batch/);
    expect(() => eventsBody(1, 0, 0, ts)).toThrow(/aggregates 0/);
    expect(() => eventsBody(1, 0, 1000, 'x"}')).toThrow(/timestamp/);
  });
});
