import { observeRates, ratesOf } from './rates.js';
import type { RateState } from './rates.js';
import { sample, sampleFromTotals, T0 } from './test/fixtures.js';

const s = (seconds: number): number => T0 + seconds * 1000;

describe('observeRates', () => {
  it('knows no rate from a single reading', () => {
    const state = observeRates(undefined, sampleFromTotals(T0, 1500, 900, 100), 2);
    expect(ratesOf(state)).toEqual({});
  });

  it('derives arrivals from delivered + pending and completions from delivered − awaiting ack', () => {
    // Before: delivered 1000, pending 500, awaiting ack 100. After 10 s: delivered 2000, pending 600,
    // awaiting ack 100 → arrived 2600 − 1500 = 1100, completed 1900 − 900 = 1000.
    const first = observeRates(
      undefined,
      sample({ at: T0, deliveredConsumerSeq: 1000, pending: 500, ackPending: 100 }),
      2,
    );
    const second = observeRates(
      first,
      sample({ at: s(10), deliveredConsumerSeq: 2000, pending: 600, ackPending: 100 }),
      2,
    );
    expect(second.arrivalPerSecond).toBeCloseTo(110, 9);
    expect(second.processingPerSecond).toBeCloseTo(100, 9);
    expect(second.lastIntervalArrivalPerSecond).toBeCloseTo(110, 9);
  });

  it('smooths with a time-aware EWMA: a longer interval weighs more', () => {
    const base = observeRates(undefined, sampleFromTotals(T0, 0, 0, 0), 1);
    const steady = observeRates(base, sampleFromTotals(s(5), 500, 500, 0), 1); // 100/s
    const short = observeRates(steady, sampleFromTotals(s(6), 500 + 300, 500, 0), 1); // 300/s for 1 s
    const long = observeRates(steady, sampleFromTotals(s(35), 500 + 9000, 500, 0), 1); // 300/s for 30 s
    const shortRate = short.arrivalPerSecond ?? NaN;
    const longRate = long.arrivalPerSecond ?? NaN;
    expect(shortRate).toBeGreaterThan(100);
    expect(longRate).toBeGreaterThan(shortRate);
    expect(longRate).toBeLessThan(300);
  });

  it('restarts rates without negative values when the consumer is recreated (sequence goes backwards)', () => {
    let state: RateState | undefined;
    state = observeRates(state, sampleFromTotals(T0, 10_000, 9_000, 100, 1000), 4);
    state = observeRates(state, sampleFromTotals(s(5), 10_500, 9_400, 100, 1000), 4);
    state = { ...state, perReplicaPerSecond: 20 };
    const reset = observeRates(state, sampleFromTotals(s(10), 50, 0, 10, 1000), 4);
    expect(reset.resetAt).toBe(s(10));
    expect(reset.arrivalPerSecond).toBeUndefined();
    expect(reset.processingPerSecond).toBeUndefined();
    expect(reset.perReplicaPerSecond).toBe(20); // the workload did not change, only the consumer
    const after = observeRates(reset, sampleFromTotals(s(15), 550, 400, 10, 1000), 4);
    expect(after.arrivalPerSecond).toBeCloseTo(100, 9);
    expect(after.processingPerSecond).toBeCloseTo(80, 9);
  });

  it('never reports negative arrivals when pending shrinks without deliveries (messages purged)', () => {
    const first = observeRates(undefined, sample({ at: T0, deliveredConsumerSeq: 100, pending: 5000 }), 1);
    const second = observeRates(first, sample({ at: s(5), deliveredConsumerSeq: 100, pending: 0 }), 1);
    expect(second.arrivalPerSecond).toBe(0);
    expect(second.processingPerSecond).toBe(0);
  });

  it('ignores a reading that does not move time forward', () => {
    const first = observeRates(undefined, sampleFromTotals(s(5), 100, 0, 0), 1);
    expect(observeRates(first, sampleFromTotals(s(5), 900, 0, 0), 1)).toBe(first);
    expect(observeRates(first, sampleFromTotals(s(4), 900, 0, 0), 1)).toBe(first);
  });

  it.each([
    {
      name: 'busy with the same replicas: measured',
      pendingBefore: 400,
      pendingAfter: 400,
      ready: [4, 4],
      measured: true,
    },
    {
      name: 'too little waiting to keep every replica busy: not measured',
      pendingBefore: 3,
      pendingAfter: 3,
      ready: [4, 4],
      measured: false,
    },
    {
      name: 'a replica became ready mid-interval: not measured',
      pendingBefore: 400,
      pendingAfter: 400,
      ready: [4, 5],
      measured: false,
    },
    {
      name: 'no replica ready: not measured',
      pendingBefore: 400,
      pendingAfter: 400,
      ready: [0, 0],
      measured: false,
    },
  ])('per-replica capacity — $name', ({ pendingBefore, pendingAfter, ready, measured }) => {
    const first = observeRates(
      undefined,
      sample({ at: T0, deliveredConsumerSeq: 1000, pending: pendingBefore, ackPending: 40 }),
      ready[0] ?? 0,
    );
    const second = observeRates(
      first,
      // 500 completed in 5 s by 4 replicas → 25/s each.
      sample({ at: s(5), deliveredConsumerSeq: 1500, pending: pendingAfter, ackPending: 40 }),
      ready[1] ?? 0,
    );
    if (measured) expect(second.perReplicaPerSecond).toBeCloseTo(25, 9);
    else expect(second.perReplicaPerSecond).toBeUndefined();
  });

  it('measures in-flight per replica only while work waits and max_ack_pending is not the limit', () => {
    const first = observeRates(
      undefined,
      sample({ at: T0, pending: 100, ackPending: 40, maxAckPending: 1000 }),
      4,
    );
    const busy = observeRates(
      first,
      sample({ at: s(5), deliveredConsumerSeq: 10, pending: 100, ackPending: 40, maxAckPending: 1000 }),
      4,
    );
    expect(busy.inFlightPerReplica).toBeCloseTo(10, 9);
    const capped = observeRates(
      undefined,
      sample({ at: T0, pending: 100, ackPending: 40, maxAckPending: 40 }),
      4,
    );
    const cappedNext = observeRates(
      capped,
      sample({ at: s(5), deliveredConsumerSeq: 10, pending: 100, ackPending: 40, maxAckPending: 40 }),
      4,
    );
    expect(cappedNext.inFlightPerReplica).toBeUndefined();
  });
});
