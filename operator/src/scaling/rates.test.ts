import {
  BATCHED_DISPERSION,
  LOWER_BOUND_SETTLE_SECONDS,
  MIN_INTERVAL_SECONDS,
  maxAckPendingBinding,
  climbBinding,
  AT_CAP_CHANGED_FACTOR,
  AT_CAP_KEPT_FACTOR,
  observeRates,
  ratesOf,
  SATURATION_MEMORY_SECONDS,
  SATURATION_MIN_SECONDS,
  READY_SETTLE_SECONDS,
  WARM_UP_SECONDS,
  CAPACITY_PROOF_SECONDS,
  confirmedArrivalNoise,
} from './rates.js';
import type { RateOptions, RateState } from './rates.js';
import { HELD_BOUND_READINGS, heldBound, limitRemovalsPossible, storedBetween } from './rates.js';
import { poisson } from './test/fuzz-world.js';
import { seededRng } from '../../../test/seeded-rng.js';
import type { BacklogSample } from './types.js';
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

  it('restarts rates when the consumer was recreated even though its sequence did not go backwards', () => {
    // The durable deleted and recreated (same name, DeliverAll) between two readings: the new one
    // has already delivered more than the old one ever did, so its sequence went forward, and the
    // stream's retained messages show up as pending at once. Before: 70 deliveries + 1,880 new
    // pending counted as 1,950 arrivals in 1 s. Its creation time (CONSUMER.INFO `created`) tells.
    let state: RateState | undefined;
    const old = '2026-01-01T00:00:00.000000001Z';
    state = observeRates(state, { ...sampleFromTotals(T0, 50, 40, 10, 1000), consumerCreated: old }, 4);
    state = observeRates(state, { ...sampleFromTotals(s(5), 50, 50, 0, 1000), consumerCreated: old }, 4);
    state = { ...state, perReplicaPerSecond: 20 };
    const recreated = '2026-01-01T00:00:06.000000001Z';
    const reading = { ...sampleFromTotals(s(6), 2_000, 100, 20, 1000), consumerCreated: recreated };
    expect(reading.deliveredConsumerSeq).toBeGreaterThan(50);
    const reset = observeRates(state, reading, 4);
    expect(reset.resetAt).toBe(s(6));
    expect(reset.arrivalPerSecond).toBeUndefined();
    expect(reset.perReplicaPerSecond).toBe(20);
    const after = observeRates(
      reset,
      { ...sampleFromTotals(s(11), 2_000 + 500, 100 + 400, 20, 1000), consumerCreated: recreated },
      4,
    );
    expect(after.resetAt).toBeUndefined();
    expect(after.arrivalPerSecond).toBeCloseTo(100, 9);
  });

  it('restarts rates when the consumer’s filter is edited in place (same sequence, same creation time)', () => {
    // nats-server 2.10+ edits a durable's filter_subject in place: the 700 stored past its position
    // on the subject it now takes become pending at once. Before: read as 700 arrivals in 1 s.
    const created = '2026-01-01T00:00:00.000000001Z';
    const reading = (at: number, pending: number, consumerFilter: string): BacklogSample => ({
      ...sample({ at, deliveredConsumerSeq: 100, pending }),
      consumerCreated: created,
      consumerFilter,
    });
    let state: RateState | undefined;
    state = observeRates(state, reading(T0, 0, 'orders.event'), 1);
    state = observeRates(state, reading(s(5), 0, 'orders.event'), 1);
    expect(state.arrivalPerSecond).toBe(0);
    state = { ...state, perReplicaPerSecond: 20 };
    const widened = observeRates(state, reading(s(6), 700, 'orders.*'), 1);
    expect(widened.resetAt).toBe(s(6));
    expect(widened.arrivalPerSecond).toBeUndefined();
    expect(widened.perReplicaPerSecond).toBe(20);
    const after = observeRates(widened, reading(s(11), 700, 'orders.*'), 1);
    expect(after.arrivalPerSecond).toBe(0);
    // An unchanged filter: no restart.
    const same = observeRates(state, reading(s(6), 0, 'orders.event'), 1);
    expect(same.resetAt).toBeUndefined();
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

  describe('per-replica capacity of prefetching clients (nothing waits at the server)', () => {
    // nats.go Consume() at the server's default max_ack_pending 1000: one replica's client asks for
    // 500 and holds everything that arrives, so pending stays 0 while its handler (20/s) never stops.
    // Readings 2 s apart: 40 completed per interval.
    const held = (at: number, completed: number, ackPending: number, ackFloor = completed) =>
      sample({
        at: s(at),
        pending: 0,
        ackPending,
        deliveredConsumerSeq: completed + ackPending,
        deliveredStreamSeq: completed + ackPending,
        ackFloorConsumerSeq: ackFloor,
        maxAckPending: 1000,
      });
    it('measures it from the messages held in the buffer', () => {
      let state = observeRates(undefined, held(0, 0, 121), 1);
      state = observeRates(state, held(2, 40, 201), 1);
      expect(state.perReplicaPerSecond).toBeCloseTo(20, 9);
    });
    it('not while the buffer runs dry within the interval (fast handlers: what arrives is done)', () => {
      let state = observeRates(undefined, held(0, 0, 3), 1);
      state = observeRates(state, held(2, 40, 3), 1);
      expect(state.perReplicaPerSecond).toBeUndefined();
      // Three replicas holding 30 between them complete 40: not one each left over.
      state = observeRates(undefined, held(0, 0, 30), 3);
      state = observeRates(state, held(2, 40, 30), 3);
      expect(state.perReplicaPerSecond).toBeUndefined();
    });
    it('not while the ack floor stands still (held messages stuck: awaiting redelivery, a dead replica)', () => {
      // 300 delivered to a replica that died await ack_wait; the live one does the 10 that arrive.
      let state = observeRates(undefined, held(0, 1000, 300, 700), 1);
      state = observeRates(state, held(2, 1010, 300, 700), 1);
      expect(state.perReplicaPerSecond).toBeUndefined();
    });
    it('not when the ready replicas changed during the interval', () => {
      let state = observeRates(undefined, held(0, 0, 500), 1);
      state = observeRates(state, held(2, 40, 500), 2);
      expect(state.perReplicaPerSecond).toBeUndefined();
    });
    it('not while what awaits ack mostly waits for redelivery (nak with a delay), spread far behind the newest', () => {
      // Handlers that retry later: 10 msg/s arrive, 2 of them a second are nak'd with a 60 s delay,
      // so ~120 await redelivery, spread over the last ~600 sequences; the two replicas are idle
      // most of the time and hold nothing else. The ack floor still moves (the oldest nak'd ones
      // come back and succeed), and 120 held exceed the 24 done per interval — but nobody has
      // them in hand. Taken as busy replicas, 12 done per second would read as 6/s per replica,
      // then 4/s at 3 replicas, … each replica added lowering the figure that asks for more.
      const retrying = (at: number) =>
        sample({
          at: s(at),
          pending: 0,
          ackPending: 120,
          deliveredConsumerSeq: 10_000 + 12 * at,
          deliveredStreamSeq: 9_000 + 10 * at,
          ackFloorConsumerSeq: 10_000 + 12 * at - 720,
          maxAckPending: 1000,
        });
      let state = observeRates(undefined, retrying(0), 2);
      for (let t = 2; t <= 20; t += 2) state = observeRates(state, retrying(t), 2);
      // 12 deliveries a second, 2 of them redeliveries: 10 messages a second are completed.
      expect(state.processingPerSecond).toBeCloseTo(10, 0);
      expect(state.perReplicaPerSecond).toBeUndefined();
    });
    /** A figure of `perReplica` established over a minute at `replicas` replicas busy on their buffers. */
    function established(replicas: number, perReplica: number) {
      const perInterval = 2 * replicas * perReplica;
      let state = observeRates(undefined, held(0, 0, 500 * replicas), replicas);
      for (let t = 2; t <= 60; t += 2)
        state = observeRates(state, held(t, (t / 2) * perInterval, 500 * replicas), replicas);
      expect(state.perReplicaPerSecond).toBeCloseTo(perReplica, 9);
      return { state, completed: 30 * perInterval };
    }
    it("not from a few held messages that no replica works on: a killed pod's buffer awaiting ack_wait (fuzzer world 9421: 5/s fell to 2.5/s)", () => {
      // 25 replicas at 5/s; a scale-down killed pods holding the 40 newest deliveries, which await
      // ack_wait. Of the 41 held, one is in a live replica's hand, and it is acked: the floor moves,
      // 41 − 1 exceeds one per replica — but 24 replicas have nothing to do.
      const { state, completed } = established(25, 5);
      const before = observeRates(state, held(61, completed, 41), 25);
      const after = observeRates(before, held(62, completed + 1, 40), 25);
      expect(after.perReplicaPerSecond).toBeCloseTo(5, 9);
    });
    it('not from held messages a few replicas have between them, the rest idle (fuzzer world 12146: 13/s fell to 7.9/s)', () => {
      // 18 replicas at 13/s. 68 held: on average 3.8 each, but a fetch() loop takes a batch only
      // when it has finished the last one, so they sit with a few replicas; 49 done in 1 s while
      // 100 arrived leaves 19 more held than done — one per replica on average, not each busy.
      const { state, completed } = established(18, 13);
      const before = observeRates(state, held(61, completed, 68), 18);
      const after = observeRates(before, held(62, completed + 49, 119), 18);
      expect(after.perReplicaPerSecond).toBeCloseTo(13, 9);
    });
    it('still lowered when the replicas fall behind on their buffers (a slow dependency: 20/s handlers at 5/s, 80/s still arriving)', () => {
      const { state, completed } = established(4, 20);
      // 20/s completed, 80/s arriving: what the clients hold grows by 120 an interval.
      let next = state;
      for (let t = 62; t <= 240; t += 2) {
        const done = completed + 40 * ((t - 60) / 2);
        next = observeRates(next, held(t, done, 2000 + 120 * ((t - 60) / 2)), 4);
      }
      expect(next.perReplicaPerSecond).toBeLessThan(6);
    });
    /**
     * 2,000 held by 4 replicas, level, completing 20/s as 20/s arrive, after a minute at 20/s a
     * replica on 500 held each: one handler each slowed to 5/s behind a buffer whose arrivals fell
     * with it, or 500 handlers each working 100 s with time to spare. The counters cannot tell.
     */
    function heldLevel(options: RateOptions = {}) {
      const { state, completed } = established(4, 20);
      let next = observeRates(state, held(62, completed + 40, 2000), 4, options);
      for (let t = 64; t <= 240; t += 2)
        next = observeRates(next, held(t, completed + 40 * ((t - 60) / 2), 2000), 4, options);
      return next;
    }
    it('not lowered by held messages the replicas keep pace with (handlers that work on many at once: the counters cannot tell)', () => {
      // Taken as busy, handlers of 10 s working on 50 at once read at completions ÷ ready, and each
      // replica added lowered the figure that asked for it (decide.test: concurrent handlers).
      expect(heldLevel().perReplicaPerSecond).toBeCloseTo(20, 9);
    });
    it('lowered by the same readings when spec.inFlightPerReplica says the handlers work on fewer than they hold', () => {
      expect(heldLevel({ inFlightPerReplica: 1 }).perReplicaPerSecond).toBeLessThan(6);
      // 500 at once: all they hold is in hand, nothing shows them busy.
      expect(heldLevel({ inFlightPerReplica: 500 }).perReplicaPerSecond).toBeCloseTo(20, 9);
    });
    it('still measures several replicas working through their buffers, each a little behind', () => {
      // Two nats.go Consume() replicas, 250 buffered each, delivered alternately; one is 20
      // messages behind the other, so 40 acked messages sit inside the window of 520.
      const two = (at: number, completed: number) =>
        sample({
          at: s(at),
          pending: 0,
          ackPending: 500,
          deliveredConsumerSeq: completed + 540,
          deliveredStreamSeq: completed + 540,
          ackFloorConsumerSeq: completed,
          maxAckPending: 1000,
        });
      let state = observeRates(undefined, two(0, 0), 2);
      state = observeRates(state, two(2, 80), 2);
      expect(state.perReplicaPerSecond).toBeCloseTo(20, 9);
    });
  });

  it('measures what a replica holds while work waits, at a full max_ack_pending too (no frozen figure)', () => {
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
    // One replica held 500 (nats.go's prefetch) before the limit filled; at 10 replicas and a full
    // max_ack_pending 1000 each holds 100, and the figure follows.
    let state = observeRates(
      undefined,
      sample({ at: T0, pending: 5000, ackPending: 500, maxAckPending: 1000 }),
      1,
    );
    state = observeRates(state, sample({ at: s(5), pending: 5000, ackPending: 500, maxAckPending: 1000 }), 1);
    expect(state.inFlightPerReplica).toBeCloseTo(500, 9);
    for (let i = 2; i < 60; i++) {
      state = observeRates(
        state,
        sample({ at: s(5 * i), pending: 5000, ackPending: 1000, maxAckPending: 1000 }),
        10,
      );
    }
    expect(state.inFlightPerReplica).toBeLessThan(110);
  });
});

describe('maxAckPendingBinding: more replicas did not raise processing at a full max_ack_pending', () => {
  /** Readings every 5 s with `replicas` ready at a full max_ack_pending 1000, work waiting. */
  function atCap(
    state: RateState | undefined,
    opts: { from: number; seconds: number; replicas: number; perSecond: number; completed: number },
  ): { state: RateState | undefined; completed: number } {
    let next = state;
    let completed = opts.completed;
    for (let t = opts.from; t <= opts.from + opts.seconds; t += 5) {
      if (t > opts.from) completed += opts.perSecond * 5;
      next = observeRates(
        next,
        sampleFromTotals(s(t), completed + 1e6, completed, 1000, 1000),
        opts.replicas,
      );
    }
    return { state: next, completed };
  }
  function twoCounts(
    a: { replicas: number; perSecond: number; seconds?: number },
    b: { replicas: number; perSecond: number; seconds?: number },
  ) {
    const first = atCap(undefined, { from: 0, seconds: a.seconds ?? 30, completed: 0, ...a });
    const from = (a.seconds ?? 30) + 5;
    return atCap(first.state, { from, seconds: b.seconds ?? 30, completed: first.completed, ...b });
  }

  it.each([
    { name: '2 → 12 replicas, processing flat: binds at 2', a: [2, 200], b: [12, 205], binds: 2 },
    { name: '2 → 12 replicas, processing ×6: does not bind', a: [2, 200], b: [12, 1200], binds: undefined },
    { name: '2 → 12, ×2 (a fifth of the proportional gain): binds', a: [2, 200], b: [12, 400], binds: 2 },
    {
      name: '2 → 12, ×2.5 (more than a quarter of it): does not bind',
      a: [2, 200],
      b: [12, 500],
      binds: undefined,
    },
    { name: 'order does not matter: 12 then 2', a: [12, 205], b: [2, 200], binds: 2 },
    { name: '10 → 11 is too small a step to judge', a: [10, 1000], b: [11, 1000], binds: undefined },
  ])('$name', ({ a, b, binds }) => {
    // After a fall, the fewer replicas are recorded once the ones taken away can have finished what
    // they held (LOWER_BOUND_SETTLE_SECONDS): 30 s of readings at each count, after that.
    const fell = (b[0] ?? 0) < (a[0] ?? 0);
    const { state, completed } = twoCounts(
      { replicas: a[0] ?? 0, perSecond: a[1] ?? 0 },
      { replicas: b[0] ?? 0, perSecond: b[1] ?? 0, seconds: 30 + (fell ? LOWER_BOUND_SETTLE_SECONDS : 0) },
    );
    if (fell) {
      expect(maxAckPendingBinding(state, 1000, state?.last.at ?? T0)?.fewer.replicas).toBe(binds);
      return;
    }
    // A climb (fewer read first) binds nowhere: handlers that slowed between would read the same.
    // It names the count to read again (climbBinding), and read again after the more, it binds.
    expect(maxAckPendingBinding(state, 1000, state?.last.at ?? T0)).toBeUndefined();
    expect(climbBinding(state, 1000, state?.last.at ?? T0)?.fewer.replicas).toBe(binds);
    const again = atCap(state, {
      from: 70,
      seconds: 30 + LOWER_BOUND_SETTLE_SECONDS,
      completed,
      replicas: a[0] ?? 0,
      perSecond: a[1] ?? 0,
    });
    expect(maxAckPendingBinding(again.state, 1000, again.state?.last.at ?? T0)?.fewer.replicas).toBe(binds);
  });

  // The policy fuzzer's adverse world 930003: 8 replicas of 50/s handlers processed 393/s at a full
  // max_ack_pending 100; then the handlers slowed to 12.5/s. Averaged into the 8 replicas' record,
  // 98/s read after the slowdown left 270/s, and 50 replicas processing 610/s then "did not help":
  // the cap held 8 replicas where 50 ran, for minutes, at 1,487/s arriving (waits 179 → 195 s).
  /** Readings every 5 s at a full max_ack_pending 1000, work waiting, one segment after another. */
  /** Segments at a full max_ack_pending; `floorHeld`: the ack floor stays where the segment began. */
  function counts(
    ...segments: Array<{ replicas: number; perSecond: number; seconds: number; floorHeld?: boolean }>
  ) {
    let state: RateState | undefined;
    let completed = 0;
    let t = 0;
    state = observeRates(state, sampleFromTotals(s(t), 1e6, 0, 1000, 1000), segments[0]?.replicas ?? 1);
    for (const seg of segments) {
      const floor = completed;
      for (let end = t + seg.seconds; t < end;) {
        t += 5;
        completed += seg.perSecond * 5;
        const reading = sampleFromTotals(s(t), completed + 1e6, completed, 1000, 1000);
        state = observeRates(
          state,
          seg.floorHeld === true ? { ...reading, ackFloorConsumerSeq: floor } : reading,
          seg.replicas,
        );
      }
    }
    return state;
  }

  it('a count re-measured at a quarter of its record starts its record again (the handlers slowed down)', () => {
    const state = counts(
      { replicas: 8, perSecond: 400, seconds: 40 },
      { replicas: 8, perSecond: 100, seconds: 15 },
      { replicas: 50, perSecond: 610, seconds: 30 },
    );
    const eight = state?.atCap?.throughput.find((e) => e.replicas === 8);
    expect(eight?.perSecond).toBeCloseTo(100, 6);
    expect(maxAckPendingBinding(state, 1000, state?.last.at ?? T0)).toBeUndefined();
  });

  it('fewer replicas doing a quarter as much each as more did before: the record of more is stale', () => {
    const state = counts(
      { replicas: 8, perSecond: 400, seconds: 30 },
      // 30 s recorded after the 5 taken away can have finished what they held.
      { replicas: 3, perSecond: 37.5, seconds: 30 + LOWER_BOUND_SETTLE_SECONDS },
      { replicas: 50, perSecond: 610, seconds: 30 },
    );
    expect(state?.atCap?.throughput.map((e) => e.replicas)).toEqual([3, 50]);
    expect(maxAckPendingBinding(state, 1000, state?.last.at ?? T0)).toBeUndefined();
  });

  it('more replicas processing far less in all than fewer did before: the record of fewer is stale', () => {
    const state = counts(
      { replicas: 4, perSecond: 400, seconds: 30 },
      { replicas: 12, perSecond: 120, seconds: 30 },
    );
    expect(state?.atCap?.throughput.map((e) => e.replicas)).toEqual([12]);
  });

  it('does not record the fewer replicas while the ones taken away may still finish what they hold', () => {
    // A scale-down from 12 to 2 at a full max_ack_pending: nats.go Drain() on SIGTERM handles what
    // the client buffered (up to 500 a pod), so for a while the 2 left are credited with the 10
    // leaving pods' completions, as if 2 did what 12 did: the limit would read as binding.
    // They hold the oldest messages: the ack floor stays where it was at the fall until they are done.
    const state = counts(
      { replicas: 12, perSecond: 1200, seconds: 30 },
      { replicas: 2, perSecond: 1200, seconds: 25, floorHeld: true },
    );
    expect(state?.atCap?.throughput.map((e) => e.replicas)).toEqual([12]);
    expect(maxAckPendingBinding(state, 1000, state?.last.at ?? T0)).toBeUndefined();
  });

  it('records the fewer replicas once the ack floor passed all that was delivered at the fall', () => {
    // Everything the replicas taken away held is acknowledged (drained, finished, or redelivered and
    // completed): they finish nothing more, and hold no slot. A probe (at-cap-probe.ts) of replicas
    // holding a few each is judged READY_SETTLE_SECONDS after the fall, not LOWER_BOUND_SETTLE_SECONDS.
    const state = counts(
      { replicas: 12, perSecond: 1200, seconds: 30 },
      { replicas: 2, perSecond: 200, seconds: 25 },
    );
    const two = state?.atCap?.throughput.find((e) => e.replicas === 2);
    expect(two?.seconds).toBeGreaterThanOrEqual(25 - READY_SETTLE_SECONDS - 5);
    expect(READY_SETTLE_SECONDS).toBeLessThan(LOWER_BOUND_SETTLE_SECONDS);
  });

  it('intervals of a few messages each drop no record by their noise, their sum does', () => {
    // The policy fuzzer's adverse world 952023: max_ack_pending 20 against handlers of 400 at once,
    // about 1.2/s completed, read every second: 0-3 an interval. Judged one interval at a time, a
    // 0/s interval dropped every record beside it, and no two counts ever stood to be compared.
    let state: RateState | undefined;
    let completed = 0;
    state = observeRates(state, sampleFromTotals(s(0), 1e6, 0, 20, 20), 5);
    const rng = seededRng(952023);
    let t = 0;
    for (const replicas of [5, 2]) {
      // 2 replicas start after the 3 taken away settled (LOWER_BOUND_SETTLE_SECONDS).
      const until = t + (replicas === 5 ? 60 : 60 + LOWER_BOUND_SETTLE_SECONDS);
      while (t < until) {
        t += 1;
        completed += poisson(rng, 1.2);
        state = observeRates(state, sampleFromTotals(s(t), completed + 1e6, completed, 20, 20), replicas);
      }
    }
    expect(state?.atCap?.throughput.map((e) => e.replicas)).toEqual([2, 5]);
    expect(maxAckPendingBinding(state, 20, state?.last.at ?? T0)?.fewer.replicas).toBe(2);
  });

  it('a count whose handlers slowed starts its record again once the slow intervals add up beyond noise', () => {
    // 2 replicas at 9.7/s for 80 s, then their handlers slow to 2.5/s (2-3 an interval). No single
    // interval contradicts 9.7/s by AT_CAP_CHANGED_FACTOR beyond its noise, but the run of them
    // does: the record starts again from the run, and says 2.5/s, not a mean of both handlers.
    let state: RateState | undefined;
    let completed = 0;
    state = observeRates(state, sampleFromTotals(s(0), 1e6, 0, 100, 100), 2);
    const rng = seededRng(951042);
    for (let t = 1; t <= 400; t++) {
      completed += poisson(rng, t <= 80 ? 9.7 : 2.5);
      state = observeRates(state, sampleFromTotals(s(t), completed + 1e6, completed, 100, 100), 2);
    }
    const two = state?.atCap?.throughput.find((e) => e.replicas === 2);
    expect(two?.perSecond).toBeGreaterThan(2);
    expect(two?.perSecond).toBeLessThan(3);
    // ... over most of the 320 s since the slowdown: not restarted by an interval's noise (on
    // b16007a's rule a 0/s interval, 8 % of them at 2.5/s, restarted it every 12 s or so).
    expect(two?.seconds).toBeGreaterThan(150);
    expect(state?.atCap?.contradictedAt).toBeDefined();
  });

  it('binds not below a count that gained, nor where more did much less in all: 3 at 15/s, 6 at 30/s, 10 at 13.3/s', () => {
    // The policy fuzzer's world 330171: the 10 replicas' record was read with slower handlers (within
    // AT_CAP_CHANGED_FACTOR of the 6's, so kept), and paired with the 3's it capped 3 where 6 did twice
    // as much; paired with the 6's, it capped 6 (AT_CAP_KEPT_FACTOR).
    const state = counts(
      { replicas: 10, perSecond: 13.3, seconds: 30 },
      { replicas: 6, perSecond: 30, seconds: 30 + LOWER_BOUND_SETTLE_SECONDS },
      { replicas: 3, perSecond: 15, seconds: 30 + LOWER_BOUND_SETTLE_SECONDS },
    );
    expect(state?.atCap?.throughput.map((e) => e.replicas)).toEqual([3, 6, 10]);
    expect(maxAckPendingBinding(state, 1000, state?.last.at ?? T0)).toBeUndefined();
  });

  it('more replicas that processed much less in all than fewer did: not the limit (handlers that slowed)', () => {
    // World 330171 from t = 524 s: 6 replicas read at 30/s while 4 more started (5/s handlers, one
    // message at a time, 100 buffered against max_ack_pending 100), then 10 at 13.3/s once the
    // handlers slowed to 1.25/s. The limit never bound (10 did 50/s before and after): capped at 6
    // for 630 s, its backlog 118,000 at the end.
    const state = counts(
      { replicas: 6, perSecond: 30, seconds: 30 },
      { replicas: 10, perSecond: 13.3, seconds: 30 },
    );
    expect(state?.atCap?.throughput.map((e) => e.replicas)).toEqual([6, 10]);
    expect(maxAckPendingBinding(state, 1000, state?.last.at ?? T0)).toBeUndefined();
    expect(AT_CAP_KEPT_FACTOR).toBeLessThan(30 / 13.3);
  });

  it.each([
    { name: 'nine tenths as much in all binds', more: 180, binds: 2 },
    { name: 'two thirds as much in all does not', more: 133, binds: undefined },
  ])('2 at 200/s, then 12, then 2 again: $name', ({ more, binds }) => {
    // A limit that binds splits its slots among more replicas: what they process in all stays about
    // the same, a little less with the overhead of more clients; much less is something else.
    const state = counts(
      { replicas: 2, perSecond: 200, seconds: 30 },
      { replicas: 12, perSecond: more, seconds: 30 },
      { replicas: 2, perSecond: 200, seconds: 30 + LOWER_BOUND_SETTLE_SECONDS },
    );
    expect(maxAckPendingBinding(state, 1000, state?.last.at ?? T0)?.fewer.replicas).toBe(binds);
  });

  it('readings within AT_CAP_CHANGED_FACTOR of each other keep the record, whichever way they differ', () => {
    // A binding limit: 12 replicas process as much as 2, and a count re-read at twice or half its
    // record (acknowledgements reaching the server in bursts) is averaged in.
    const state = counts(
      { replicas: 12, perSecond: 205, seconds: 30 },
      { replicas: 12, perSecond: 410, seconds: 5 },
      { replicas: 12, perSecond: 103, seconds: 5 },
      { replicas: 2, perSecond: 200, seconds: 30 + LOWER_BOUND_SETTLE_SECONDS },
    );
    expect(state?.atCap?.throughput.map((e) => e.replicas)).toEqual([2, 12]);
    expect(maxAckPendingBinding(state, 1000, state?.last.at ?? T0)?.fewer.replicas).toBe(2);
    expect(AT_CAP_CHANGED_FACTOR).toBeGreaterThan(2);
  });

  // A pair read across a change of the handlers must not cap replicas the backlog needs. Read in a
  // climb (fewer first), handlers that slowed between read exactly as a binding limit: the same
  // processing in all, the same time a message is held (max_ack_pending over it), the same figure
  // times the count. So a climb binds nowhere, and a pair binds only on the fewer count read after
  // the more (a probe, a step down), by that visit alone.
  it('a climb across a handler slowdown binds nowhere (adverse world 352011: 1 at 5.0/s, then 20 at 5.5/s)', () => {
    // nats.py push subscribe(queue) against max_ack_pending 20: 1 replica did 5/s with 5/s handlers;
    // they slowed 10x while the count climbed, and 20 did 5.5/s. On main 985534d this capped 1 (44 s,
    // +59 s to the longest wait); 20 did 8.7/s once their slots evened out.
    const state = counts(
      { replicas: 1, perSecond: 5, seconds: 30 },
      { replicas: 20, perSecond: 5.5, seconds: 30 },
    );
    expect(state?.atCap?.throughput.map((e) => e.replicas)).toEqual([1, 20]);
    expect(maxAckPendingBinding(state, 1000, state?.last.at ?? T0)).toBeUndefined();
    // ... it names the count to read again.
    expect(climbBinding(state, 1000, state?.last.at ?? T0)?.fewer.replicas).toBe(1);
  });

  it('a climb across a change of message size binds nowhere: 2 at 100/s, then 8 at 100/s on 4x the bytes', () => {
    // Handlers that take 4x as long on larger messages (the counters show no size): 8 replicas do
    // what 2 did on the small ones. On main 985534d: capped at 2.
    const state = counts(
      { replicas: 2, perSecond: 100, seconds: 30 },
      { replicas: 8, perSecond: 100, seconds: 30 },
    );
    expect(maxAckPendingBinding(state, 1000, state?.last.at ?? T0)).toBeUndefined();
  });

  it('a climb across a speed-up binds nowhere: more replicas gained', () => {
    const state = counts(
      { replicas: 2, perSecond: 100, seconds: 30 },
      { replicas: 8, perSecond: 800, seconds: 30 },
    );
    expect(maxAckPendingBinding(state, 1000, state?.last.at ?? T0)).toBeUndefined();
    expect(climbBinding(state, 1000, state?.last.at ?? T0)).toBeUndefined();
  });

  it.each([
    { name: 'sped up 2x: fewer did more in all than more did', fewer: 400 },
    { name: 'slowed 4x: fewer did less, more gained', fewer: 50 },
  ])('a step down across a handler change binds nowhere: 12 at 200/s, then 2 $name', ({ fewer }) => {
    const state = counts(
      { replicas: 12, perSecond: 200, seconds: 30 },
      { replicas: 2, perSecond: fewer, seconds: 30 + LOWER_BOUND_SETTLE_SECONDS },
    );
    expect(maxAckPendingBinding(state, 1000, state?.last.at ?? T0)).toBeUndefined();
  });

  it('a count read before a slowdown and again after binds by what it did after (its record mixes both)', () => {
    // 2 at 100/s, then 5 at 100/s once the handlers slowed 2.5x (20/s a replica), then 2 again at
    // 40/s: within AT_CAP_CHANGED_FACTOR of its record, so the 2's record mixes both (76/s), and on
    // main 985534d 5 at 100/s beside it read as binding at 2. Its visit after the 5 says 40/s: 5 gained.
    const state = counts(
      { replicas: 2, perSecond: 100, seconds: 30 },
      { replicas: 5, perSecond: 100, seconds: 30 },
      { replicas: 2, perSecond: 40, seconds: 30 + LOWER_BOUND_SETTLE_SECONDS },
    );
    const two = state?.atCap?.throughput.find((e) => e.replicas === 2);
    expect(two?.perSecond).toBeGreaterThan(60);
    expect(two?.visit?.perSecond).toBeCloseTo(40, 6);
    expect(maxAckPendingBinding(state, 1000, state?.last.at ?? T0)).toBeUndefined();
  });

  it('a step down across a change of max_ack_pending binds at neither limit', () => {
    // 12 at 200/s against 1,000, then the user raises it to 2,000 and 2 do 200/s: the records of
    // 1,000 are dropped with it, and nothing compares the two (passes on main 985534d too).
    let state: RateState | undefined;
    let completed = 0;
    state = observeRates(state, sampleFromTotals(s(0), 1e6, 0, 1000, 1000), 12);
    for (let t = 5; t <= 90; t += 5) {
      const [replicas, limit] = t <= 30 ? [12, 1000] : [2, 2000];
      completed += 200 * 5;
      state = observeRates(state, sampleFromTotals(s(t), completed + 1e6, completed, limit, limit), replicas);
    }
    expect(state?.atCap?.maxAckPending).toBe(2000);
    expect(maxAckPendingBinding(state, 2000, state?.last.at ?? T0)).toBeUndefined();
    expect(maxAckPendingBinding(state, 1000, state?.last.at ?? T0)).toBeUndefined();
  });

  it('needs SATURATION_MIN_SECONDS at each count', () => {
    const { state } = twoCounts(
      { replicas: 2, perSecond: 200, seconds: 5 },
      { replicas: 12, perSecond: 200 },
    );
    expect(maxAckPendingBinding(state, 1000, state?.last.at ?? T0)).toBeUndefined();
    expect(SATURATION_MIN_SECONDS).toBeGreaterThan(5);
  });

  it('takes no evidence in the first READY_SETTLE_SECONDS after the ready count changed', () => {
    // Pods can report ready before their process consumes: those seconds say nothing about b.
    const { state } = twoCounts(
      { replicas: 4, perSecond: 80 },
      { replicas: 5, perSecond: 80, seconds: READY_SETTLE_SECONDS },
    );
    expect(state?.atCap?.throughput.map((e) => e.replicas)).toEqual([4]);
    const longer = twoCounts({ replicas: 4, perSecond: 80 }, { replicas: 5, perSecond: 100, seconds: 30 });
    const five = longer.state?.atCap?.throughput.find((e) => e.replicas === 5);
    expect(five?.seconds).toBe(30 - READY_SETTLE_SECONDS);
  });

  it('forgets evidence after SATURATION_MEMORY_SECONDS, so a cap is probed again', () => {
    const { state } = twoCounts(
      { replicas: 12, perSecond: 200 },
      { replicas: 2, perSecond: 200, seconds: 30 + LOWER_BOUND_SETTLE_SECONDS },
    );
    const at = state?.last.at ?? T0;
    expect(maxAckPendingBinding(state, 1000, at)).toBeDefined();
    expect(maxAckPendingBinding(state, 1000, at + (SATURATION_MEMORY_SECONDS + 1) * 1000)).toBeUndefined();
  });

  it('does not carry evidence over to another max_ack_pending', () => {
    const { state } = twoCounts({ replicas: 2, perSecond: 200 }, { replicas: 12, perSecond: 200 });
    expect(maxAckPendingBinding(state, 5000, state?.last.at ?? T0)).toBeUndefined();
  });

  it('records nothing while work does not wait or the limit is not full', () => {
    let state = observeRates(undefined, sampleFromTotals(T0, 1000, 0, 1000, 1000), 2);
    // Full, but nothing pending: the replicas had all there was.
    state = observeRates(state, sampleFromTotals(s(5), 2000, 1000, 1000, 1000), 2);
    state = observeRates(state, sampleFromTotals(s(10), 3000, 2000, 1000, 1000), 2);
    expect(state.atCap).toBeUndefined();
    // Work waits, but awaiting ack is far below the limit.
    state = observeRates(state, sampleFromTotals(s(15), 9000, 2000, 400, 1000), 2);
    state = observeRates(state, sampleFromTotals(s(20), 10_000, 3000, 400, 1000), 2);
    expect(state.atCap).toBeUndefined();
  });
});

describe('redeliveries are neither arrivals nor completions (issue 10, item 1)', () => {
  // nats.go Consume() on one replica: 500 buffered, 200 ms handlers (5/s), ack_wait 30 s. Every
  // buffered message waits 100 s, so copies time out and the server redelivers them: per 2 s
  // interval the handler acks 10, the server delivers 10 new messages and redelivers 50 expired
  // copies; 40 arrive (20/s) and 1,000 wait at the server throughout.
  const expiring = (i: number) =>
    sample({
      at: s(2 * i),
      pending: 1000 + 30 * i,
      ackPending: 500,
      redelivered: 500,
      deliveredConsumerSeq: 10_000 + 60 * i,
      deliveredStreamSeq: 5_000 + 10 * i,
      ackFloorConsumerSeq: 9_000 + 10 * i,
      maxAckPending: 1000,
    });
  it('prefetched copies whose ack_wait expired: capacity 5/s, arrivals 20/s (counted as completions: 30/s, 45/s)', () => {
    let state = observeRates(undefined, expiring(0), 1);
    for (let i = 1; i <= 30; i++) state = observeRates(state, expiring(i), 1);
    expect(state.perReplicaPerSecond).toBeCloseTo(5, 6);
    expect(state.processingPerSecond).toBeCloseTo(5, 6);
    expect(state.arrivalPerSecond).toBeCloseTo(20, 6);
    // Reported (jetscale_redelivery_rate_messages_per_second): 50 copies every 2 s.
    expect(ratesOf(state).redeliveryPerSecond).toBeCloseTo(25, 6);
  });

  it('proves redeliveries from num_redelivered when a filter subject hides them behind skipped sequences', () => {
    // A filtered consumer: stream_seq moves 100 per interval (other subjects interleave), the
    // consumer delivers 10 new messages and redelivers 50 copies never redelivered before.
    const first = sample({
      at: T0,
      pending: 1000,
      ackPending: 500,
      redelivered: 0,
      deliveredConsumerSeq: 10_000,
      deliveredStreamSeq: 50_000,
      ackFloorConsumerSeq: 9_000,
    });
    const second = sample({
      ...first,
      at: s(2),
      redelivered: 50,
      deliveredConsumerSeq: 10_060,
      deliveredStreamSeq: 50_100,
      ackFloorConsumerSeq: 9_010,
    });
    const state = observeRates(observeRates(undefined, first, 1), second, 1);
    expect(state.processingPerSecond).toBeCloseTo(5, 9);
    expect(ratesOf(state).redeliveryPerSecond).toBeCloseTo(25, 9);
  });

  it("nak'd retries are paid for in capacity: both rates count messages, so sizing covers the retries", () => {
    // One busy replica, 10 handler runs a second, a fifth nak'd and redelivered at once: per 2 s
    // 16 new deliveries and 4 redeliveries, 16 acked; 8 new messages arrive a second.
    const retrying = (i: number) =>
      sample({
        at: s(2 * i),
        pending: 500,
        ackPending: 100,
        redelivered: 4,
        deliveredConsumerSeq: 20 * i,
        deliveredStreamSeq: 16 * i,
        ackFloorConsumerSeq: 20 * i - 100,
      });
    let state = observeRates(undefined, retrying(0), 1);
    for (let i = 1; i <= 10; i++) state = observeRates(state, retrying(i), 1);
    // 8/s arrive and one replica completes 8/s: one replica is needed, and is what the rates say.
    expect(state.arrivalPerSecond).toBeCloseTo(8, 9);
    expect(state.perReplicaPerSecond).toBeCloseTo(8, 9);
  });
});

describe('capacity while the replica count settles, when the target reports no ready count (item 2)', () => {
  // Two replicas busy at 10/s each with a standing backlog; at 100 s 4 are asked for, and the two
  // new ones consume from `consumeAt` (a 30 s start-up by default). Without a ready count the
  // operator counts 4 at once. Readings every 5 s.
  const busy = (t: number, completed: number) => sampleFromTotals(s(t), completed + 5000, completed, 20);
  function run(settleSeconds: number, consumeAt = 130): number[] {
    let completed = 0;
    let state = observeRates(undefined, busy(0, 0), 2, { settleSeconds });
    const figures: number[] = [];
    for (let t = 5; t <= 200; t += 5) {
      completed += (t <= consumeAt ? 20 : 40) * 5;
      state = observeRates(state, busy(t, completed), t <= 100 ? 2 : 4, { settleSeconds });
      if (t >= 100) figures.push(state.perReplicaPerSecond ?? NaN);
    }
    return figures;
  }
  it('does not learn from the settle period (without one the figure fell to 8.3/s)', () => {
    // The new pods start 60 s after they are counted: past WARM_UP_SECONDS, which alone keeps a
    // 30 s start-up out (run(0) stays at 10/s), within the settle period plus it.
    const consumeAt = 100 + WARM_UP_SECONDS + 30;
    const settled = run(30, consumeAt);
    expect(Math.min(...settled)).toBeCloseTo(10, 6);
    expect(Math.max(...settled)).toBeCloseTo(10, 6);
    // Without it the figure falls (to 8.3/s before READY_SETTLE_SECONDS bounded the first 10 s).
    const unsettled = run(0, consumeAt);
    expect(Math.min(...unsettled)).toBeLessThan(9);
    expect(Math.min(...run(0))).toBeCloseTo(10, 6);
  });
  it('learns nothing from a first replica that has completed nothing yet: still starting after the settle period (fuzzer world 13152: 0/s)', () => {
    // From zero, one replica asked for at 0 s whose pod consumes from 60 s (longer than the 30 s
    // settle period), 1 s readings, ~1/s arriving. Counted from 30 s, each interval had work
    // waiting and completed nothing: before, the figure was 0/s for 30 s of evidence, and the
    // 20/s the replica then did moved it to 0.6/s — 9 replicas for 0.9/s. Until the count has
    // completed something it is not consuming, and its intervals say nothing about what it can do.
    const reading = (t: number, completed: number) => sampleFromTotals(s(t), 100 + t, completed, 0);
    let state = observeRates(undefined, reading(0, 0), 1, { settleSeconds: 30 });
    for (let t = 1; t <= 60; t++) state = observeRates(state, reading(t, 0), 1, { settleSeconds: 30 });
    expect(state.perReplicaPerSecond).toBeUndefined();
    // From 60 s it works through the 160 waiting at 20/s.
    for (let t = 61; t <= 66; t++)
      state = observeRates(state, reading(t, 20 * (t - 60)), 1, { settleSeconds: 30 });
    expect(state.perReplicaPerSecond).toBeCloseTo(20, 6);
  });
});

describe('a low capacity reading is raised by completions that prove more (item 3)', () => {
  // Capacity learnt at 4/s in a slow period (a cold cache): 3 replicas, 20 waiting at both ends.
  // Later the 3 keep up with 36/s arriving at backlog 0: each completes 12/s, so each can do at
  // least that much.
  const lowState = (): RateState => {
    let state = observeRates(undefined, sampleFromTotals(T0, 30, 0, 10), 3);
    state = observeRates(state, sampleFromTotals(s(5), 90, 60, 10), 3);
    expect(state.perReplicaPerSecond).toBeCloseTo(4, 9);
    return state;
  };
  const flowing = (t: number, perSecond: number, ackPending = 10) =>
    sampleFromTotals(s(t), 70 + perSecond * (t - 5), 70 - ackPending + perSecond * (t - 5), ackPending);
  it('rises towards what the replicas completed while not busy (before: stayed at 4/s)', () => {
    let state = lowState();
    for (let t = 10; t <= 300; t += 5) state = observeRates(state, flowing(t, 36), 3);
    expect(state.perReplicaPerSecond).toBeGreaterThan(11.5);
    expect(state.perReplicaPerSecond).toBeLessThanOrEqual(12 + 1e-9);
  });
  it('is never lowered by a quiet period', () => {
    let state = lowState();
    for (let t = 10; t <= 300; t += 5) state = observeRates(state, flowing(t, 0.5, 0), 3);
    expect(state.perReplicaPerSecond).toBeCloseTo(4, 9);
  });
  it('is not raised within LOWER_BOUND_SETTLE_SECONDS of a change of the ready count', () => {
    // 2 of 3 replicas taken out of the ready count still finish their buffers for a while.
    let state = lowState();
    for (let t = 10; t < 10 + LOWER_BOUND_SETTLE_SECONDS; t += 5)
      state = observeRates(state, flowing(t, 36), 1);
    expect(state.perReplicaPerSecond).toBeCloseTo(4, 9);
  });
});

describe('recovery from a capacity figure that is too low (issue 2 of session 11)', () => {
  // An established figure (60 s of evidence) of 4/s for 3 replicas that can do far more.
  const established = (figure: number, replicas: number): RateState => {
    const state = observeRates(undefined, sampleFromTotals(T0, 30, 0, 10), replicas);
    return { ...state, perReplicaPerSecond: figure, perReplicaEvidenceSeconds: 60 };
  };
  it('rises within half a minute to what idle-ish replicas prove, never past it (before: 7.1/s after 30 s)', () => {
    // 3 replicas keep up with 36/s at backlog 0 after a change of the ready count 30 s before:
    // each completes 12/s, so each can do at least that much.
    let state = established(4, 3);
    const flowing = (t: number) => sampleFromTotals(s(t), 30 + 36 * t, 20 + 36 * t, 10);
    const figures: number[] = [];
    for (let t = 1; t <= 60; t++) {
      state = observeRates(state, flowing(t), 3);
      figures.push(state.perReplicaPerSecond ?? NaN);
    }
    // Nothing moves within LOWER_BOUND_SETTLE_SECONDS of the first reading (readySince).
    expect(figures[LOWER_BOUND_SETTLE_SECONDS - 2]).toBeCloseTo(4, 9);
    expect(figures.at(-1)).toBeGreaterThan(10);
    expect(Math.max(...figures)).toBeLessThanOrEqual(12 + 1e-9);
  });
  it('is raised to what busy replicas complete once they have for CAPACITY_PROOF_SECONDS (before: 11.8/s after 12 s of 20/s)', () => {
    // 2 replicas at a 10/s figure complete 20/s each while the backlog grows (5,000 and more
    // waiting). Readings every second.
    let state = established(10, 2);
    let completed = 0;
    const figures: number[] = [];
    for (let t = 1; t <= CAPACITY_PROOF_SECONDS + 2; t++) {
      completed += 40;
      state = observeRates(state, sampleFromTotals(s(t), 5000 + 100 * t, completed, 20), 2);
      figures.push(state.perReplicaPerSecond ?? NaN);
    }
    expect(figures.at(-1)).toBeCloseTo(20, 6);
    expect(Math.max(...figures)).toBeLessThanOrEqual(20 + 1e-9);
  });
  it('is not raised by a busy spell while some replicas warm up or more are asked for than ready', () => {
    // The same, with a third replica ready from 0 s (warming) or asked for and not ready.
    const run = (ready: number, asked: number, replicasBefore: number): number => {
      let state = observeRates(undefined, sampleFromTotals(T0, 5000, 0, 20), replicasBefore);
      state = observeRates(state, sampleFromTotals(s(1), 5000, 0, 20), ready, { askedReplicas: asked });
      state = { ...state, perReplicaPerSecond: 10, perReplicaEvidenceSeconds: 60 };
      let completed = 0;
      for (let t = 2; t <= 14; t++) {
        completed += 40;
        state = observeRates(state, sampleFromTotals(s(t), 5000 + 100 * t, completed, 20), ready, {
          askedReplicas: asked,
        });
      }
      return state.perReplicaPerSecond ?? NaN;
    };
    // 40/s over 3 replicas (one warming) and over 3 asked for is 13.3/s a replica at least: the
    // figure rises towards that low end at the usual pace, not to 20/s.
    expect(run(3, 3, 2)).toBeLessThan(13.4);
    expect(run(2, 3, 2)).toBeLessThan(13.4);
    // The control: 2 ready, warm, none beyond them.
    expect(run(2, 2, 2)).toBeCloseTo(20, 6);
  });
});

describe("a figure that is too low is raised by what the messages held prove (Little's law, heldBound)", () => {
  // Replicas sized by a low figure are never busy, and their completions ÷ replicas stay below it:
  // nothing else raises it. Every completed message was held awaiting ack at least as long as a
  // handler took over it, so completions ÷ messages held is at least what a handler does.
  const established = (figure: number, replicas: number): RateState => {
    const state = observeRates(undefined, sampleFromTotals(T0, 0, 0, 0), replicas);
    return { ...state, perReplicaPerSecond: figure, perReplicaEvidenceSeconds: 60 };
  };
  /**
   * `replicas` handlers of `perReplica`/s each (one message at a time, FIFO), Poisson arrivals at
   * `arrival`/s spread round robin, simulated in 10 ms steps and read every `pollSeconds`: the
   * messages held at a reading are those queued at a replica or in its handler.
   */
  function run(opts: {
    seed: number;
    figure: number;
    replicas: number;
    perReplica: number;
    arrival: number;
    seconds: number;
    pollSeconds?: number;
    /** Replicas counted ready (and taking arrivals) at t, when not `replicas` throughout. */
    readyAt?: (t: number) => number;
    /** The figure is a low end only (RateState.perReplicaLowEndOnly). */
    lowEnd?: boolean;
    /** The model's step (default 20 ms): a message is held for one step at least. */
    stepSeconds?: number;
  }): number[] {
    const rng = seededRng(opts.seed);
    const dt = opts.stepSeconds ?? 0.02;
    const poll = opts.pollSeconds ?? 1;
    const queues = Array.from({ length: opts.replicas }, () => ({ held: 0, progress: 0 }));
    const start = established(opts.figure, opts.readyAt?.(0) ?? opts.replicas);
    let state: RateState =
      opts.lowEnd === true ? { ...start, perReplicaLowEndOnly: true, perReplicaLowEndSince: T0 } : start;
    let arrived = 0;
    let completed = 0;
    let next = 0;
    const figures: number[] = [];
    for (let i = 1; i <= Math.round(opts.seconds / dt); i++) {
      // Handlers first, then arrivals: a message arriving in this step is held from this reading
      // on, for the whole 1/perReplica its handler takes.
      for (const q of queues) {
        if (q.held === 0) continue;
        q.progress += opts.perReplica * dt;
        const done = Math.min(q.held, Math.floor(q.progress + 1e-9));
        q.held -= done;
        completed += done;
        q.progress = q.held === 0 ? 0 : q.progress - done;
      }
      const t = i * dt;
      // Replicas beyond the ready count take nothing new and finish what they hold.
      const ready = opts.readyAt?.(t) ?? opts.replicas;
      const n = poisson(rng, opts.arrival * dt);
      for (let k = 0; k < n; k++) {
        const q = queues[next++ % ready];
        if (q !== undefined) q.held++;
      }
      arrived += n;
      if (Math.abs(t / poll - Math.round(t / poll)) < dt / 2 / poll) {
        const held = queues.reduce((sum, q) => sum + q.held, 0);
        state = observeRates(state, sampleFromTotals(s(t), arrived, completed, held), ready, {
          askedReplicas: ready,
        });
        figures.push(state.perReplicaPerSecond ?? NaN);
      }
    }
    return figures;
  }

  it('raises a 1.7/s figure for 5/s handlers that 45 replicas carrying 64.7/s never prove wrong (fuzzer world 40300: before, 1.7/s for good)', () => {
    const figures = run({
      seed: 1,
      figure: 1.7,
      replicas: 45,
      perReplica: 5,
      arrival: 64.7,
      seconds: 120,
      pollSeconds: 2,
    });
    expect(figures.at(-1)).toBeGreaterThan(3.5);
    expect(Math.max(...figures)).toBeLessThanOrEqual(5);
  });

  it('raises it while the ready count keeps changing (a figure too low makes the count flap at its edge: fuzzer world 1111)', () => {
    // 12-13 replicas of 5/s handlers carrying 24/s, the count changing every 20 s (sized by a low
    // figure, the count sits where the arrival rate's noise moves it by one). Intervals with a
    // change of the ready count measure no capacity, and completions ÷ replicas settle only 30 s
    // after one (LOWER_BOUND_SETTLE_SECONDS): neither ever comes. The messages held prove what a
    // handler does whoever holds them, so their span runs on across a change. Before: 1.2/s for good.
    const figures = run({
      seed: 3,
      figure: 1.2,
      replicas: 13,
      perReplica: 5,
      arrival: 24,
      seconds: 600,
      readyAt: (t) => (Math.floor(t / 20) % 2 === 0 ? 12 : 13),
    });
    expect(figures.at(-1)).toBeGreaterThan(3);
    expect(Math.max(...figures)).toBeLessThanOrEqual(5);
  });

  /**
   * The highest figure read from 5/s handlers over seeds 1-4 and each load (replicas, arrivals per
   * second, poll interval in seconds) of 600 s, from `start`.
   */
  function highestFigure(
    loads: ReadonlyArray<readonly [number, number, number]>,
    start: { figure: number; lowEnd?: boolean },
  ): number {
    let highest = 0;
    for (let seed = 1; seed <= 4; seed++)
      for (const [replicas, arrival, pollSeconds] of loads)
        highest = Math.max(
          highest,
          ...run({ seed, ...start, replicas, perReplica: 5, arrival, seconds: 600, pollSeconds }),
        );
    return highest;
  }

  it('never reads above what a handler does, at any load, poll interval or seed', () => {
    // Where the bound is tightest: replicas a third to three quarters busy.
    const highest = highestFigure(
      [
        [10, 20, 1],
        [4, 15, 2],
        [30, 40, 5],
      ],
      { figure: 0.5 },
    );
    expect(highest).toBeGreaterThan(2.5);
    expect(highest).toBeLessThanOrEqual(5);
  });

  it('proves nothing beyond completions ÷ replicas while each replica holds a message or more', () => {
    // 3 replicas complete 36/s while holding 10 between them: 12/s each at least, no more.
    let state = established(4, 3);
    for (let t = 1; t <= 60; t++)
      state = observeRates(state, sampleFromTotals(s(t), 10 + 36 * t, 36 * t, 10), 3);
    expect(state.perReplicaPerSecond).toBeLessThanOrEqual(12 + 1e-9);
  });

  it('raises a low end from idle handlers that hold less than a message on average (fuzzer world 290127: before, 38.3/s for good)', () => {
    // 2 replicas of 200/s handlers carrying 49.6/s hold well under one message on average (0.25
    // by Little's law; this model's 1 ms steps add some). Their low end, 38.3/s, is re-measured at
    // 1.5 times itself, which the world's 2 s objective still sized as 2: each replica went on
    // doing 24.8/s, and nothing raised it. Read in 1 ms steps (a message is held for the 5 ms its
    // handler takes, not a 20 ms step).
    const lowEnd = {
      seed: 1,
      figure: 38.3,
      replicas: 2,
      perReplica: 200,
      arrival: 49.6,
      seconds: 120,
      pollSeconds: 2,
      stepSeconds: 0.001,
    };
    const figures = run({ ...lowEnd, lowEnd: true });
    expect(figures.at(-1)).toBeGreaterThan(45);
    expect(Math.max(...figures)).toBeLessThanOrEqual(200);
    // A measured figure is not raised from such a span (HELD_BOUND_MIN_MESSAGES).
    expect(Math.max(...run(lowEnd))).toBeCloseTo(38.3, 9);
  });

  it('never raises a low end above what a handler does from replicas 5-25 % busy', () => {
    const highest = highestFigure(
      [
        [2, 0.5, 1],
        [2, 2.5, 2],
        [4, 2, 5],
        [10, 10, 1],
      ],
      { figure: 0.1, lowEnd: true },
    );
    expect(highest).toBeGreaterThan(2);
    expect(highest).toBeLessThanOrEqual(5);
  });

  it('takes no bound from a span that held less than one message on average (a low end: none at all), or from fewer than HELD_BOUND_READINGS readings', () => {
    const span = { seconds: 60, completed: 30, replicaSeconds: 600, readings: HELD_BOUND_READINGS };
    expect(heldBound({ ...span, heldSeconds: 0.9 * 60 })).toBeUndefined();
    expect(heldBound({ ...span, heldSeconds: 0 })).toBeUndefined();
    expect(heldBound({ ...span, heldSeconds: 0 }, true)).toBeUndefined();
    // A low end: 0.5/s ÷ (0.25 + 3·√(1/30)), the spread counted as a mean of 1's.
    expect(heldBound({ ...span, heldSeconds: 0.25 * 60 }, true)).toBeCloseTo(
      0.5 / (0.25 + 3 * Math.sqrt(1 / 30)),
      9,
    );
    expect(heldBound({ ...span, heldSeconds: 2 * 60, readings: HELD_BOUND_READINGS - 1 })).toBeUndefined();
    expect(
      heldBound({ ...span, heldSeconds: 0.25 * 60, readings: HELD_BOUND_READINGS - 1 }, true),
    ).toBeUndefined();
    // 10 replicas holding 2 on average, 15 independent looks (30 completed ÷ 2 held): 0.5/s ÷
    // (2 + 3·√(2/15)) = 0.16/s each at least, where completions ÷ replicas prove 0.05/s.
    expect(heldBound({ ...span, heldSeconds: 2 * 60 })).toBeCloseTo(0.5 / (2 + 3 * Math.sqrt(2 / 15)), 9);
  });
});

describe('rates across a poll gap (item 4)', () => {
  it('averages arrivals over the gap (no spike) and takes no capacity from it', () => {
    // 5 s polls, 4 replicas busy at 25/s each with 5,000 pending; then no reading for 10 min, after
    // which 5,000 are pending again — the replicas may have idled in between (they completed
    // 30,000, 12.5/s each).
    let state = observeRates(undefined, sampleFromTotals(T0, 5000, 0, 40), 4);
    state = observeRates(state, sampleFromTotals(s(5), 5500, 500, 40), 4);
    state = observeRates(state, sampleFromTotals(s(10), 6000, 1000, 40), 4);
    expect(state.perReplicaPerSecond).toBeCloseTo(25, 9);
    const after = observeRates(state, sampleFromTotals(s(610), 36_000, 31_000, 40), 4);
    expect(after.arrivalPerSecond).toBeCloseTo(50, 1);
    expect(after.perReplicaPerSecond).toBeCloseTo(25, 9);
    // The cadence resumes: the next 5 s interval is evidence again.
    const next = observeRates(after, sampleFromTotals(s(615), 36_500, 31_500, 40), 4);
    expect(next.perReplicaPerSecond).toBeCloseTo(25, 9);
  });
});

describe('a reading answered late (a leader election holds the reply)', () => {
  // 20/s arriving, one replica keeping up, read every second, each reading stamped when sent. The
  // reading sent at 11 s is answered at 16 s by a new consumer leader, with the state of 16 s.
  const at = (seconds: number, roundTripMs?: number): BacklogSample => ({
    ...sampleFromTotals(s(seconds), 20 * seconds, 20 * seconds - 1, 1),
    ...(roundTripMs !== undefined ? { roundTripMs } : {}),
  });
  function steady(): RateState {
    let state = observeRates(undefined, at(0, 2), 1);
    for (let t = 1; t <= 10; t++) state = observeRates(state, at(t, 2), 1);
    return state;
  }

  it('reads no burst from the 5 s it waited: the interval is measured on to the next reading', () => {
    const late = { ...at(16), at: s(11), roundTripMs: 5000 };
    const afterLate = observeRates(steady(), late, 1);
    // Before: 120 arrivals of 16 − 10 s counted over 11 − 10 s, a 120/s interval.
    expect(afterLate.lastIntervalArrivalPerSecond).toBeCloseTo(20, 6);
    expect(afterLate.arrivalPerSecond).toBeCloseTo(20, 6);
    const next = observeRates(afterLate, at(17, 2), 1);
    expect(next.lastIntervalArrivalPerSecond).toBeCloseTo(20, 6);
    expect(next.lastIntervalSeconds).toBeCloseTo(7, 6);
    expect(next.perReplicaPerSecond ?? Infinity).toBeGreaterThanOrEqual(20 - 1e-6);
  });

  it('measures from a slow reading once the interval is long enough for its round trip', () => {
    // Every reading takes 400 ms (a slow link): 1 s intervals are too short to trust, 2 s are not.
    let state = observeRates(undefined, at(0, 400), 1);
    state = observeRates(state, at(1, 400), 1);
    expect(state.arrivalPerSecond).toBeUndefined();
    state = observeRates(state, at(2, 400), 1);
    expect(state.arrivalPerSecond).toBeCloseTo(20, 6);
    expect(state.lastIntervalSeconds).toBeCloseTo(2, 6);
  });

  it('restarts the interval at a prompt reading when only its start was answered late', () => {
    // The first reading waited 3 s for its reply (a stalled process), the later ones are prompt.
    // Before: measured from the late start only once an interval was 15 s long (5 × its round
    // trip), sized by the backlog alone until then (real-clients.int: NEEDED at poll 7, not 2).
    let state = observeRates(undefined, at(0, 3000), 1);
    state = observeRates(state, at(1, 2), 1);
    expect(state.arrivalPerSecond).toBeUndefined();
    expect(state.last.at).toBe(s(1));
    state = observeRates(state, at(2, 2), 1);
    expect(state.arrivalPerSecond).toBeCloseTo(20, 6);
    expect(state.lastIntervalSeconds).toBeCloseTo(1, 6);
  });

  it('keeps what it learnt across a restarted interval, and measures on from the prompt reading', () => {
    const steadyState = steady();
    const perReplica = steadyState.perReplicaPerSecond;
    // Read late once, 20 s on (long enough for its 3 s round trip to count), then promptly.
    const late = observeRates(steadyState, at(30, 3000), 1);
    expect(late.last.roundTripMs).toBe(3000);
    const restarted = observeRates(late, at(31, 2), 1);
    expect(restarted.last.at).toBe(s(31));
    expect(restarted.arrivalPerSecond).toBeCloseTo(20, 6);
    expect(restarted.perReplicaPerSecond).toBe(perReplica);
    const next = observeRates(restarted, at(32, 2), 1);
    expect(next.lastIntervalArrivalPerSecond).toBeCloseTo(20, 6);
    expect(next.lastIntervalSeconds).toBeCloseTo(1, 6);
  });
});

describe("readings timed by the server's clock (CONSUMER.INFO ts)", () => {
  // 20/s arriving, one replica keeping up. The operator sends a request every `period` s (its
  // clock); the server takes the snapshot `delay` s later (the request waited in a stalled event
  // loop, or the reply did: either way the round trip is `delay` or more) and stamps it by its own
  // clock, which reads WALL at the operator's 0 (the two clocks need not agree, only run alike).
  const WALL = Date.UTC(2026, 11, 5, 9);
  const read = (
    sentSeconds: number,
    delay: number,
    clock = 'server NABC',
    serverOffsetMs = 0,
  ): BacklogSample => {
    const taken = sentSeconds + delay;
    return {
      ...sampleFromTotals(s(sentSeconds), 20 * taken, 20 * taken - 1, 1),
      ...(delay > 0 ? { roundTripMs: Math.round(delay * 1000) + 3 } : {}),
      serverTime: { at: WALL + Math.round(taken * 1000) + serverOffsetMs, clock },
    };
  };

  it('measures every interval of an operator whose replies all come late (before: no rate at all)', () => {
    // 5 s polls, each answered 1.5-3 s late: every round trip is over 20 % of its interval, and the
    // operator's clock alone timed none of them.
    const delays = [2.2, 1.5, 3, 2.4, 1.8, 2.9, 1.6, 2.5, 3, 2];
    let state = observeRates(undefined, read(0, delays[0] ?? 0), 1);
    for (let i = 1; i < delays.length; i++) {
      state = observeRates(state, read(5 * i, delays[i] ?? 0), 1);
      expect(state.lastIntervalArrivalPerSecond).toBeCloseTo(20, 6);
      expect(state.lastIntervalClock).toBe('server');
    }
    expect(state.arrivalPerSecond).toBeCloseTo(20, 6);
    expect(state.processingPerSecond).toBeCloseTo(20, 6);
  });

  it('times a reading answered late by when the server took it, not by when it was sent', () => {
    // Prompt 1 s readings, then one sent at 11 s and taken at 16 s (a reply held 5 s): 120 arrivals
    // over the server's 6 s (taken at 10.002 s and 16 s), not over the operator's 1 s, and the interval after it is 1 s again.
    let state = observeRates(undefined, read(0, 0.002), 1);
    for (let t = 1; t <= 10; t++) state = observeRates(state, read(t, 0.002), 1);
    state = observeRates(state, read(11, 5), 1);
    expect(state.lastIntervalSeconds).toBeCloseTo(5.998, 3);
    expect(state.lastIntervalArrivalPerSecond).toBeCloseTo(20, 6);
    state = observeRates(state, read(17, 0.002), 1);
    expect(state.lastIntervalSeconds).toBeCloseTo(1.002, 3);
    expect(state.lastIntervalArrivalPerSecond).toBeCloseTo(20, 6);
  });

  it("falls back to the operator's clock when the two readings come from different clocks", () => {
    // A new consumer leader answers (another server, another clock, 4 s ahead): its 5 s late reading
    // is not timed, as before server time (ROUND_TRIP_SHARE), and the interval after it is.
    let state = observeRates(undefined, read(0, 0.002, 'leader n1 since t1'), 1);
    for (let t = 1; t <= 10; t++) state = observeRates(state, read(t, 0.002, 'leader n1 since t1'), 1);
    const before = state;
    state = observeRates(state, read(11, 5, 'leader n2 since t2', 4000), 1);
    expect(state).toBe(before);
    state = observeRates(state, read(17, 0.002, 'leader n2 since t2', 4000), 1);
    expect(state.lastIntervalClock).toBe('operator');
    expect(state.lastIntervalArrivalPerSecond).toBeCloseTo(20, 1);
  });

  it("falls back when the server's times cannot be: a clock stepped, or going backwards", () => {
    // The same clock named, but its interval outside what the operator saw (each snapshot lies
    // between its request and its reply): stepped 10 s forward, then back below the first reading.
    const start = observeRates(undefined, read(0, 0.002), 1);
    const stepped = observeRates(start, read(5, 0.002, 'server NABC', 10_000), 1);
    expect(stepped.lastIntervalClock).toBe('operator');
    expect(stepped.lastIntervalSeconds).toBeCloseTo(5, 6);
    const backwards = observeRates(start, read(5, 0.002, 'server NABC', -6000), 1);
    expect(backwards.lastIntervalClock).toBe('operator');
    expect(backwards.lastIntervalArrivalPerSecond).toBeCloseTo(20, 1);
    // A reading without the server's time (nats-server < 2.10, or an unusable ts): the operator's.
    const { serverTime: _dropped, ...plain } = read(10, 0.002);
    const without = observeRates(start, plain, 1);
    expect(without.lastIntervalClock).toBe('operator');
    expect(without.lastIntervalSeconds).toBeCloseTo(10, 6);
  });
});

describe('a consumer paused on the server (nats-server 2.11+ pause_until)', () => {
  it('takes no capacity from intervals that touch the pause (before: 25/s fell to 8.3/s), but counts its arrivals', () => {
    // 4 replicas busy at 25/s each with 5,000 pending; then the consumer is paused for 20 s:
    // nothing is delivered, 50/s keep arriving, work waits at the server and nobody completes any.
    const paused = (at: number, arrived: number, completed: number): ReturnType<typeof sampleFromTotals> => ({
      ...sampleFromTotals(at, arrived, completed, 40),
      paused: true,
    });
    let state = observeRates(undefined, sampleFromTotals(T0, 5000, 0, 40), 4);
    state = observeRates(state, sampleFromTotals(s(5), 5500, 500, 40), 4);
    state = observeRates(state, sampleFromTotals(s(10), 6000, 1000, 40), 4);
    expect(state.perReplicaPerSecond).toBeCloseTo(25, 9);
    for (let t = 15; t <= 30; t += 5)
      state = observeRates(state, paused(s(t), 6000 + (t - 10) * 50, 1000), 4);
    expect(state.perReplicaPerSecond).toBeCloseTo(25, 9);
    expect(state.arrivalPerSecond).toBeGreaterThan(45);
    // Resumed between the last paused reading and this one: the replicas idled for part of it.
    state = observeRates(state, sampleFromTotals(s(35), 7250, 1100, 40), 4);
    expect(state.perReplicaPerSecond).toBeCloseTo(25, 9);
    // A whole interval after the pause is evidence again.
    state = observeRates(state, sampleFromTotals(s(40), 7500, 1600, 40), 4);
    expect(state.perReplicaPerSecond).toBeCloseTo(25, 9);
    expect(state.perReplicaEvidenceSeconds).toBeGreaterThan(10);
  });
});

describe('handlers that fail every message (nak, or ack_wait running out)', () => {
  // 2 replicas at 25/s each with 5,000 pending; then every handler fails: the server redelivers
  // 50/s, nothing leaves awaiting ack, and new deliveries go on only into free max_ack_pending slots.
  const failing = (at: number, base: BacklogSample, extra: Partial<BacklogSample>): BacklogSample => ({
    ...base,
    at,
    ...extra,
  });
  it('knows since when nothing was acknowledged while redeliveries went on, and takes no capacity from it (before: 25/s fell to 4.2/s)', () => {
    let state = observeRates(undefined, sampleFromTotals(T0, 5000, 0, 40), 2);
    state = observeRates(state, sampleFromTotals(s(5), 5250, 250, 40), 2);
    state = observeRates(state, sampleFromTotals(s(10), 5500, 500, 40), 2);
    expect(state.perReplicaPerSecond).toBeCloseTo(25, 9);
    expect(state.failingSince).toBeUndefined();
    let last = sampleFromTotals(s(10), 5500, 500, 40);
    for (let t = 15; t <= 60; t += 5) {
      // 10 new deliveries (ack pending +10) and 240 redeliveries per 5 s: consumer_seq +250, stream_seq +10.
      last = failing(s(t), last, {
        pending: last.pending - 10 + 25 * 5,
        ackPending: last.ackPending + 10,
        deliveredConsumerSeq: last.deliveredConsumerSeq + 250,
        deliveredStreamSeq: last.deliveredStreamSeq + 10,
      });
      state = observeRates(state, last, 2);
    }
    expect(state.failingSince).toBe(s(10));
    expect(state.perReplicaPerSecond).toBeCloseTo(25, 9);
    expect(state.redeliveryPerSecond).toBeGreaterThan(40);
    // The handlers recover: acknowledgements end the spell, and the interval is evidence again.
    last = failing(s(65), last, {
      pending: last.pending - 250 + 125,
      ackPending: last.ackPending,
      deliveredConsumerSeq: last.deliveredConsumerSeq + 250,
      deliveredStreamSeq: last.deliveredStreamSeq + 250,
    });
    state = observeRates(state, last, 2);
    expect(state.failingSince).toBeUndefined();
    expect(state.perReplicaPerSecond).toBeCloseTo(25, 9);
  });
});

describe('messages removed from the stream before they were delivered (max_age, max_msgs, discard old)', () => {
  // One replica delivers and acks 20/s while 60/s arrive into a stream of max_msgs 100: pending
  // stays at 100 and 40/s are discarded unconsumed; delivered.stream_seq skips over them.
  function fallingBehind(seconds: number): RateState {
    let state: RateState | undefined;
    let streamSeq = 1000;
    let consumerSeq = 1000;
    for (let t = 0; t <= seconds; t++) {
      state = observeRates(
        state,
        sample({
          at: s(t),
          pending: 100,
          ackPending: 20,
          deliveredConsumerSeq: consumerSeq,
          deliveredStreamSeq: streamSeq,
        }),
        1,
      );
      consumerSeq += 20;
      streamSeq += 60;
    }
    if (state === undefined) throw new Error('no state');
    return state;
  }

  it('counts them as arrivals (before: 20/s, what one replica took, for 60/s arriving)', () => {
    expect(fallingBehind(30).arrivalPerSecond).toBeGreaterThan(55);
  });

  it("does not count a skip after a stretch without deliveries: those removals are not this interval's arrivals", () => {
    // Nothing delivered for 60 s (no replica) while 60/s arrived and were removed (pending stays
    // 100); then a replica starts and delivered.stream_seq jumps over 3,600 removed messages.
    let state = observeRates(
      undefined,
      sample({ at: s(0), pending: 100, deliveredConsumerSeq: 1000, deliveredStreamSeq: 1000 }),
      0,
    );
    for (let t = 5; t <= 60; t += 5)
      state = observeRates(
        state,
        sample({ at: s(t), pending: 100, deliveredConsumerSeq: 1000, deliveredStreamSeq: 1000 }),
        0,
      );
    state = observeRates(
      state,
      sample({
        at: s(61),
        pending: 100,
        ackPending: 20,
        deliveredConsumerSeq: 1020,
        deliveredStreamSeq: 1000 + 3620,
      }),
      1,
    );
    expect(state.lastIntervalArrivalPerSecond).toBeLessThan(100);
  });

  it('does not count skips of a filtered consumer: other subjects move delivered.stream_seq too', () => {
    let state: RateState | undefined;
    for (let t = 0; t <= 10; t++)
      state = observeRates(
        state,
        sample({
          at: s(t),
          pending: 0,
          deliveredConsumerSeq: 10 * t,
          deliveredStreamSeq: 60 * t,
          filtered: true,
        }),
        1,
      );
    expect(state?.arrivalPerSecond).toBeCloseTo(10, 0);
  });
});

describe('readings closer together than MIN_INTERVAL_SECONDS (a poll prompted by a watch event)', () => {
  // A bursty 50/s stream: 84 messages published in the 0.2 s after a reading (420/s), then
  // nothing until the next second is over. One replica busy with 500 waiting.
  const before = sampleFromTotals(s(10), 1000, 490, 10);
  const soon = sampleFromTotals(s(10.2), 1084, 500, 10);
  const later = sampleFromTotals(s(11.2), 1084, 550, 10);
  const steady = (): RateState => {
    let state = observeRates(undefined, sampleFromTotals(s(0), 500, 0, 10), 1);
    state = observeRates(state, sampleFromTotals(s(5), 750, 245, 10), 1);
    return observeRates(state, before, 1);
  };
  it('is not an interval of its own: the estimate is unchanged (before: 420/s for the last interval)', () => {
    const state = steady();
    expect(MIN_INTERVAL_SECONDS).toBeGreaterThan(0.2);
    expect(observeRates(state, soon, 1)).toBe(state);
  });
  it('is measured together with the next reading', () => {
    const state = observeRates(observeRates(steady(), soon, 1), later, 1);
    expect(state.lastIntervalSeconds).toBeCloseTo(1.2, 9);
    expect(state.lastIntervalArrivalPerSecond).toBeCloseTo(84 / 1.2, 9);
    expect(state.last.at).toBe(later.at);
  });
});

describe('capacity while the reported ready count settles', () => {
  // Readings every 2 s with 5,000 waiting throughout (busy). `before` replicas complete 10/s each
  // until 100 s, when the ready count becomes `after` (reported ready). `completing(t)` is what
  // all replicas complete per second from then on.
  function run(before: number, after: number, completing: (t: number) => number): number[] {
    let completed = 0;
    let state = observeRates(undefined, sampleFromTotals(s(0), 5000, 0, 20), before);
    const figures: number[] = [];
    for (let t = 2; t <= 160; t += 2) {
      completed += (t <= 100 ? 10 * before : completing(t)) * 2;
      state = observeRates(
        state,
        sampleFromTotals(s(t), completed + 5000, completed, 20),
        t < 100 ? before : after,
      );
      if (t >= 100) figures.push(state.perReplicaPerSecond ?? NaN);
    }
    return figures;
  }
  it('is not lowered by replicas warming up just after they became ready (before: 10/s fell to 9.5/s)', () => {
    // 2 → 4 ready at 100 s; the 2 new ones complete 3/s while warming (JIT, caches, connections)
    // for READY_SETTLE_SECONDS, then 10/s like the others.
    const figures = run(2, 4, (t) => (t <= 100 + READY_SETTLE_SECONDS ? 26 : 40));
    expect(Math.min(...figures)).toBeGreaterThanOrEqual(10 - 1e-9);
    expect(Math.max(...figures)).toBeLessThanOrEqual(10 + 1e-9);
  });
  it('is not lowered by replicas still warming up past READY_SETTLE_SECONDS (simulator --warmup 20@0.5: before, 10/s fell to 9.6/s)', () => {
    // 2 → 4 ready at 100 s; the 2 new ones serve at half speed for their first 20 s.
    const figures = run(2, 4, (t) => (t <= 120 ? 30 : 40));
    expect(Math.min(...figures)).toBeGreaterThanOrEqual(10 - 1e-9);
    expect(Math.max(...figures)).toBeLessThanOrEqual(10 + 1e-9);
  });
  it('is lowered by what the warm replicas alone fall short of while others warm up', () => {
    // The replicas got slower (a slow dependency) as 2 more became ready: 4 complete 12/s in all,
    // which the 2 warm ones could have done at 6/s each, so each does at most that.
    const figures = run(2, 4, () => 12);
    const duringWarmUp = figures.slice(0, WARM_UP_SECONDS / 2);
    expect(Math.min(...duringWarmUp)).toBeLessThan(9);
    expect(Math.min(...duringWarmUp)).toBeGreaterThanOrEqual(6 - 1e-9);
    expect(figures.at(-1)).toBeLessThan(Math.min(...duringWarmUp) - 1);
  });
  it('is still raised by what replicas warming up complete beyond the estimate', () => {
    // The estimate was low (the replicas got faster): what they complete while some warm proves
    // at least that much.
    const figures = run(2, 4, () => 60);
    expect(figures[4]).toBeGreaterThan(10.5);
  });
  it('is not raised by replicas leaving the ready count that still finish what they hold (before: 10/s rose to 13.9/s)', () => {
    // 4 → 2 ready at 100 s; the 2 leaving finish their buffers at 10/s each until their
    // termination grace period ends (LOWER_BOUND_SETTLE_SECONDS).
    const figures = run(4, 2, (t) => (t <= 100 + LOWER_BOUND_SETTLE_SECONDS ? 40 : 20));
    expect(Math.max(...figures)).toBeLessThanOrEqual(10 + 1e-9);
    expect(Math.min(...figures)).toBeGreaterThanOrEqual(10 - 1e-9);
  });
  it('learns from the first readings when there is no estimate yet (the backlog alone would under-scale)', () => {
    let state = observeRates(undefined, sampleFromTotals(s(0), 5000, 0, 20), 0);
    state = observeRates(state, sampleFromTotals(s(2), 5000, 0, 20), 1);
    state = observeRates(state, sampleFromTotals(s(4), 5010, 10, 20), 1);
    expect(state.perReplicaPerSecond).toBeCloseTo(5, 9);
  });
});

describe('pods that consume before they are counted ready (real-clients.int: 44.6/s for a 20/s replica)', () => {
  // 6 replicas asked for; their processes pull at once (a container consumes before its readiness
  // probe passes and before the Deployment's ready count catches up), each completing 20/s, while
  // the ready count lags: 2 ready for 20 s, then 6. Readings every 2 s with 5,000 waiting (busy).
  function run(withAsked: boolean, start?: number): number[] {
    let completed = 0;
    let state = observeRates(undefined, sampleFromTotals(s(0), 5000, 0, 20), 2);
    if (start !== undefined) state = { ...state, perReplicaPerSecond: start, perReplicaEvidenceSeconds: 60 };
    const figures: number[] = [];
    for (let t = 2; t <= 60; t += 2) {
      completed += 6 * 20 * 2;
      const ready = t < 20 ? 2 : 6;
      state = observeRates(
        state,
        sampleFromTotals(s(t), completed + 5000, completed, 20),
        ready,
        withAsked ? { askedReplicas: 6 } : {},
      );
      figures.push(state.perReplicaPerSecond ?? NaN);
    }
    return figures;
  }
  it('is not raised past what the replicas asked for prove (before: 20/s rose to 30/s)', () => {
    // The figure was learnt right (20/s) before this scale-up.
    expect(Math.max(...run(true, 20))).toBeLessThanOrEqual(20 + 1e-9);
    expect(run(true, 20).at(-1)).toBeCloseTo(20, 6);
    // Without the count asked for, completions ÷ ready is all there is (the old reading).
    expect(Math.max(...run(false, 20))).toBeGreaterThan(25);
  });
  it('is lowered by a reading whose high end is below the estimate, and raised to its low end only', () => {
    expect(Math.max(...run(true, 80))).toBeLessThanOrEqual(80);
    // The 4 that join the ready count at 20 s warm up until 50 s: until then the high end is
    // completions ÷ the 2 warm ones (60/s), after it completions ÷ 6 (20/s).
    expect(run(true, 80).at(-1)).toBeLessThan(65);
    expect(Math.min(...run(true, 5))).toBeGreaterThanOrEqual(5);
    expect(run(true, 5).at(-1)).toBeLessThanOrEqual(20 + 1e-9);
  });
});

describe('a filtered consumer on a stream where other subjects interleave (readings of a real nats-server)', () => {
  // Consumer info of a consumer filtered on P.a (10/s) over a stream where P.b (50/s) interleaves,
  // ack_wait 2 s, one nats.js consume() client (100 buffered) with 200 ms handlers: copies expire
  // and are redelivered. Read 1 s apart (nats-server 2.12; operator/test/filtered-redelivery).
  // In this second 25 were delivered, 9 arrived for P.a and pending fell by 4: 13 new deliveries,
  // 12 redeliveries — hidden behind the 78 stream sequences delivered.stream_seq moved (P.b's),
  // and num_redelivered fell (copies acked). The old estimate: 21 arrived, 14 completed.
  const before = sample({
    at: s(19),
    pending: 105,
    ackPending: 12,
    redelivered: 11,
    deliveredConsumerSeq: 175,
    deliveredStreamSeq: 484,
    ackFloorConsumerSeq: 100,
    filtered: true,
  });
  const after = sample({
    at: s(20),
    pending: 101,
    ackPending: 23,
    redelivered: 10,
    deliveredConsumerSeq: 200,
    deliveredStreamSeq: 562,
    ackFloorConsumerSeq: 104,
    filtered: true,
  });
  it('takes no capacity from an interval whose redeliveries it cannot prove (before: 14/s for a 5/s replica)', () => {
    const state = observeRates(observeRates(undefined, before, 1), after, 1);
    expect(state.perReplicaPerSecond).toBeUndefined();
    // Arrivals may be overstated by what hides (conservative: more replicas, not fewer).
    expect(state.arrivalPerSecond).toBeGreaterThanOrEqual(9);
  });
  it('still learns while a message awaiting ack stays redelivered and no redelivery is seen (a poison message retried with backoff)', () => {
    // 25 new deliveries while delivered.stream_seq moved 30 (other subjects' messages), nothing
    // awaiting ack left; one message awaiting ack was redelivered at both ends: at most about that
    // many can hide.
    const first = {
      ...before,
      at: s(18),
      deliveredConsumerSeq: 150,
      deliveredStreamSeq: 454,
      redelivered: 1,
    };
    const state = observeRates(observeRates(undefined, first, 1), { ...before, redelivered: 1 }, 1);
    expect(state.perReplicaPerSecond).toBeCloseTo(25, 9);
  });
  it('takes no capacity from an interval in which num_redelivered rose, however little (real server: 0 → 1 with 5 of 10 redelivered)', () => {
    const first = {
      ...before,
      at: s(18),
      deliveredConsumerSeq: 165,
      deliveredStreamSeq: 454,
      redelivered: 0,
      ackPending: 11,
    };
    const state = observeRates(observeRates(undefined, first, 1), { ...before, redelivered: 1 }, 1);
    expect(state.perReplicaPerSecond).toBeUndefined();
  });
  it('an unfiltered consumer proves its redeliveries from the stream sequence, and learns', () => {
    const state = observeRates(
      observeRates(undefined, { ...before, filtered: false, deliveredStreamSeq: 180 }, 1),
      { ...after, filtered: false, deliveredStreamSeq: 193 },
      1,
    );
    expect(state.perReplicaPerSecond).toBeCloseTo(2, 9);
  });
});

describe('the first capacity figure rests on one interval; later ones are weighed by their length', () => {
  // Readings of the real-client matrix's ack_wait case (nats.go Consume(), ack_wait 5 s, handlers
  // of 50 ms: at most 20/s a replica), taken on a loaded machine: the first interval the operator
  // measured, 2.27 s with 1 replica, held 49 acknowledgements — 21.6/s, more than the handler can
  // do (acks are published without waiting and reach the server in bursts when the process or the
  // server was held up). After it the replica completes 19/s for 10 s. On the CI run the same case
  // read 41.9/s: one interval holding a burst of 42 acks (case 2 below).
  const first = {
    at: 161_646,
    pending: 5280,
    ackPending: 74,
    redelivered: 73,
    waiting: 1,
    deliveredConsumerSeq: 1755,
    deliveredStreamSeq: 1003,
    ackFloorConsumerSeq: 1431,
    maxAckPending: 1000,
  };
  const second = {
    ...first,
    at: 163_918,
    pending: 5486,
    ackPending: 25,
    redelivered: 24,
    ackFloorConsumerSeq: 1480,
  };
  /** The replica then completes `perSecond` a second for `seconds`, read every second. */
  function continued(state: RateState, from: typeof second, perSecond: number, seconds: number): RateState {
    let s = state;
    for (let i = 1; i <= seconds; i++) {
      const done = perSecond * i;
      s = observeRates(
        s,
        {
          ...from,
          at: from.at + i * 1000,
          pending: from.pending + 60 * i,
          deliveredConsumerSeq: from.deliveredConsumerSeq + done,
          deliveredStreamSeq: from.deliveredStreamSeq + done,
          ackFloorConsumerSeq: from.ackFloorConsumerSeq + done,
        },
        1,
      );
    }
    return s;
  }

  it('the replayed readings: within 5 % of the 20/s the handler allows after 10 s (before: 21.2/s)', () => {
    const start = observeRates(observeRates(undefined, first, 1), second, 1);
    expect(start.perReplicaPerSecond).toBeCloseTo(49 / 2.272, 6); // one interval: all there is
    const later = continued(start, second, 19, 10);
    expect(later.perReplicaPerSecond).toBeLessThanOrEqual(20 * 1.05);
    expect(later.perReplicaPerSecond).toBeGreaterThanOrEqual(19);
  });

  it('a first interval holding a burst of 42 acks: within 10 % of 20/s after 10 s (before: 38.5/s)', () => {
    const burst = {
      ...first,
      at: first.at + 1000,
      ackPending: 32,
      ackFloorConsumerSeq: first.ackFloorConsumerSeq + 42,
    };
    const start = observeRates(observeRates(undefined, first, 1), burst, 1);
    expect(start.perReplicaPerSecond).toBeCloseTo(42, 6);
    const later = continued(start, burst, 19, 10);
    expect(later.perReplicaPerSecond).toBeLessThanOrEqual(20 * 1.1);
  });

  it('an established figure still moves at the usual pace (60 s time constant)', () => {
    let state = observeRates(observeRates(undefined, first, 1), second, 1);
    state = continued(state, second, 20, 300); // 5 min at 20/s: established
    const established = continued(
      state,
      {
        ...second,
        at: second.at + 300_000,
        deliveredConsumerSeq: second.deliveredConsumerSeq + 6000,
        deliveredStreamSeq: second.deliveredStreamSeq + 6000,
        ackFloorConsumerSeq: second.ackFloorConsumerSeq + 6000,
        pending: second.pending + 18_000,
      },
      10,
      60,
    );
    // After one time constant at 10/s the figure is about 1/e of the way from 20 back: 13.7/s.
    expect(established.perReplicaPerSecond).toBeGreaterThan(13);
    expect(established.perReplicaPerSecond).toBeLessThan(14.5);
  });
});

describe('readings whose replies were handled late', () => {
  // real-clients.int, nats.go Fetch(10) at max_ack_pending 20, handlers of 50 ms (at most 20/s a
  // replica), the operator's readings as it logged them, each stamped when its reply was handled.
  // The process stalled with replies waiting: the reading stamped 41,305 ms was handled late, and
  // the next interval (2.9 s by those stamps, 640 acknowledged) read 36.7/s a replica; every other
  // EventConsumer busy then read high at the same two stamps. Readings are now stamped when the
  // request is sent (jetstream-backlog-source.ts): the stalled one `sentEarlier` seconds before.
  const logged: Array<[number, number, number, number, number, number]> = [
    // at (ms), pending, awaiting ack, delivered, ack floor, ready (= asked)
    [26_415.66, 35, 10, 20, 10, 1],
    [28_658.77, 186, 6, 60, 54, 1],
    [32_392.31, 334, 7, 130, 123, 6],
    [36_678.1, 515, 20, 365, 331, 6],
    [41_305.3, 451, 20, 484, 447, 6],
    [44_214.85, 265, 20, 1124, 1090, 6],
  ];
  function replay(sentEarlier: number): number | undefined {
    let state: RateState | undefined;
    for (const [at, pending, ackPending, delivered, floor, ready] of logged) {
      state = observeRates(
        state,
        sample({
          at: at === 41_305.3 ? at - sentEarlier * 1000 : at,
          pending,
          ackPending,
          deliveredConsumerSeq: delivered,
          ackFloorConsumerSeq: floor,
          maxAckPending: 20,
        }),
        ready,
      );
    }
    return state?.perReplicaPerSecond;
  }
  it('stamped when handled, the interval after the stall reads 29.2/s a replica', () => {
    expect(replay(0)).toBeCloseTo(29.24, 1);
  });
  it('stamped when sent (2.5 s before it was handled), it reads what the handlers allow', () => {
    expect(replay(2.5)).toBeLessThanOrEqual(20);
  });
});

describe('arrival dispersion: how much more than Poisson an interval count varies', () => {
  // 1 s readings for 5 minutes of a stream at `rate`, sent as `batch` messages at a time (Poisson
  // batch times), seeded; what the estimator makes of its dispersion.
  function dispersionOf(
    rate: number,
    batch: number,
    seed: number,
    step?: { at: number; rate: number },
  ): number {
    let x = seed;
    const rng = () => (x = (x * 1103515245 + 12345) % 2147483648) / 2147483648;
    const poisson = (mean: number) => {
      let k = 0;
      let p = Math.exp(-mean);
      let c = p;
      const u = rng();
      while (u > c && k < 10_000) {
        k++;
        p *= mean / k;
        c += p;
      }
      return k;
    };
    let arrived = 0;
    let state = observeRates(undefined, sampleFromTotals(T0, 0, 0, 0), 1);
    for (let t = 1; t <= 300; t++) {
      const r = step !== undefined && t >= step.at ? step.rate : rate;
      arrived += poisson(r / batch) * batch;
      state = observeRates(state, sampleFromTotals(s(t), arrived, arrived, 0), 1);
    }
    return state.arrivalDispersion ?? 1;
  }
  it('is about the batch size for batches, about 1 for independent messages, and a step is no batch', () => {
    for (const seed of [1, 2, 3]) {
      expect(dispersionOf(26.6, 10, seed)).toBeGreaterThan(4);
      expect(dispersionOf(50, 1, seed)).toBeLessThan(1.6);
      expect(dispersionOf(50, 1, seed, { at: 250, rate: 200 })).toBeLessThan(2);
    }
  });
  /**
   * Readings every `pollSeconds` for `seconds` of a stream whose rate (per second, at time t) is
   * `rateAt`, sent as `batch` messages at a time at Poisson times (seeded): the dispersion the
   * estimator reads after each reading.
   */
  function dispersionTrace(opts: {
    seconds: number;
    pollSeconds: number;
    rateAt: (t: number) => number;
    batch: number;
    seed: number;
  }): number[] {
    const rng = seededRng(opts.seed);
    let arrived = 0;
    let state = observeRates(undefined, sampleFromTotals(T0, 0, 0, 0), 1);
    const out: number[] = [];
    for (let t = opts.pollSeconds; t <= opts.seconds; t += opts.pollSeconds) {
      for (let u = t - opts.pollSeconds; u < t; u += 0.1)
        arrived += poisson(rng, (opts.rateAt(u) * 0.1) / opts.batch) * opts.batch;
      state = observeRates(state, sampleFromTotals(s(t), arrived, arrived, 0), 1);
      out.push(state.arrivalDispersion ?? 1);
    }
    return out;
  }
  it('learns a sparse stream sent in batches, whose batches land alone among empty readings (fuzzer worlds 10686, 10995: read 1.0)', () => {
    // 5.5/s in batches of 100: a batch every 18 s on average, 1 s readings. Most pairs of readings
    // are two empty ones; each batch is one huge difference, which a pair's sample may not take
    // whole (a step in the rate looks the same), so the figure stayed at 1. A reading that holds
    // messages between two empty ones is no step: its pairs count whole.
    for (const seed of [1, 2, 3]) {
      const d = dispersionTrace({ seconds: 900, pollSeconds: 1, rateAt: () => 5.5, batch: 100, seed });
      // Known as batches all along once it has been seen for a few minutes (before: 1.0), and
      // on average within a factor of a few of the batch size.
      const settled = d.slice(300);
      expect(Math.min(...settled)).toBeGreaterThan(BATCHED_DISPERSION);
      expect(settled.reduce((a, b) => a + b, 0) / settled.length).toBeGreaterThan(20);
    }
  });
  it('does not take a stream of independent messages that pauses for batches (50/s, pauses of 5–40 s, 5 s readings)', () => {
    // Found by a fix tried before: taking a pair whole after an unexpectedly empty reading read
    // this stream's dispersion as 17–546, and every later rise would have been discounted as noise.
    for (const seed of [1, 2, 3]) {
      const rng = seededRng(1000 + seed);
      const stretches: Array<{ until: number; rate: number }> = [];
      for (let t = 0, on = true; t < 1800; on = !on) {
        t += on ? 10 + 50 * rng() : 5 + 35 * rng();
        stretches.push({ until: t, rate: on ? 50 : 0 });
      }
      const rateAt = (t: number) => stretches.find((x) => t < x.until)?.rate ?? 0;
      // At 1 s readings (what the policy asks for while anything moves) it reads as independent
      // messages. At 5 s readings each pause and resume is a large difference even capped, and
      // it read 14–23 before this change too (not fixed here); what is bounded is that lone
      // batches are not found in it.
      const at1s = dispersionTrace({ seconds: 1800, pollSeconds: 1, rateAt, batch: 1, seed });
      expect(Math.max(...at1s)).toBeLessThan(BATCHED_DISPERSION);
      const at5s = dispersionTrace({ seconds: 1800, pollSeconds: 5, rateAt, batch: 1, seed });
      expect(Math.max(...at5s)).toBeLessThan(30);
    }
  });
});

describe('the confirmed arrival rate of a stream sent in batches (what decide.ts sizes the start-up pile-up from)', () => {
  /**
   * Readings every second of a stream sent as `batch` messages at a time at Poisson times (seeded),
   * at `rate` until `stepAt` and `stepRate` after: the confirmed rate after each reading.
   */
  function confirmedTrace(opts: {
    rate: number;
    batch: number;
    seed: number;
    stepAt?: number;
    stepRate?: number;
  }) {
    const rng = seededRng(opts.seed);
    let arrived = 0;
    let state = observeRates(undefined, sampleFromTotals(T0, 0, 0, 0), 1);
    const out: number[] = [0];
    const until = (opts.stepAt ?? 1200) + (opts.stepAt === undefined ? 0 : 120);
    for (let t = 1; t <= until; t++) {
      const rate = opts.stepAt !== undefined && t > opts.stepAt ? (opts.stepRate ?? opts.rate) : opts.rate;
      for (let u = 0; u < 10; u++) arrived += poisson(rng, (rate * 0.1) / opts.batch) * opts.batch;
      state = observeRates(state, sampleFromTotals(s(t), arrived, arrived, 0), 1);
      out.push(state.confirmedArrivalPerSecond ?? 0);
    }
    return out;
  }
  it('stays about the true rate: one batch does not confirm the next (24/s in batches of 100: before, up to 50/s, and 0.2-0.3x on average)', () => {
    // Each interval was counted at most CONFIRM_FACTOR x the larger of the interval before and the
    // confirmed rate: after a batch, the next batch counted whole, so runs of batches confirmed
    // each other (up to 2.1x the true rate), while a batch after an empty reading was cut to twice
    // the confirmed rate, which pulled the mean far below the truth.
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const settled = confirmedTrace({ rate: 24, batch: 100, seed }).slice(300);
      const mean = settled.reduce((a, b) => a + b, 0) / settled.length;
      expect(mean).toBeGreaterThan(0.75 * 24);
      expect(mean).toBeLessThan(1.25 * 24);
      expect(Math.max(...settled)).toBeLessThan(1.8 * 24);
    }
  });
  it('still follows a step of a stream sent in batches: 24/s to 96/s confirmed past 60/s within a minute', () => {
    for (const seed of [1, 2, 3]) {
      const trace = confirmedTrace({ rate: 24, batch: 100, seed, stepAt: 900, stepRate: 96 });
      expect(trace.slice(960).every((c) => c > 60)).toBe(true);
    }
  });
});

describe('the per-replica capacity never reads high while pods consume before they are counted ready', () => {
  // Each pod that consumes completes 20/s (the truth) with 5,000 waiting throughout (busy);
  // readings every second. `pods(t)` says how many consume during the second before t, how many
  // are counted ready at t and how many are asked for (spec.replicas) at t. The figure must never
  // read more than TOLERANCE above 20/s: a figure read high scales down too far.
  const TRUTH = 20;
  const TOLERANCE = 0.1;
  interface Pods {
    consuming: number;
    ready: number;
    asked: number;
  }
  function run(until: number, pods: (t: number) => Pods, start?: number): (number | undefined)[] {
    let completed = 0;
    const at0 = pods(0);
    let state = observeRates(undefined, sampleFromTotals(s(0), 5000, 0, 20), at0.ready, {
      askedReplicas: at0.asked,
    });
    if (start !== undefined) state = { ...state, perReplicaPerSecond: start, perReplicaEvidenceSeconds: 60 };
    const figures: (number | undefined)[] = [undefined];
    for (let t = 1; t <= until; t++) {
      const p = pods(t);
      completed += p.consuming * TRUTH;
      state = observeRates(state, sampleFromTotals(s(t), completed + 5000, completed, 20), p.ready, {
        askedReplicas: p.asked,
      });
      figures.push(state.perReplicaPerSecond);
    }
    return figures;
  }
  const highest = (figures: (number | undefined)[]): number => Math.max(...figures.map((f) => f ?? 0));

  it('the reproduction: 4 consume, 2 counted ready for 20 s (before: 40/s from the first interval to 40 s, 21.8/s at 60 s)', () => {
    const figures = run(240, (t) => ({ consuming: 4, ready: t < 20 ? 2 : 4, asked: 4 }));
    expect(highest(figures)).toBeLessThanOrEqual(TRUTH * (1 + TOLERANCE));
    // The first scale-up still has a figure from the first interval (a low end), and it is the
    // truth once readiness has caught up.
    expect(figures[1]).toBeGreaterThan(0);
    expect(figures[25]).toBeGreaterThanOrEqual(TRUTH * (1 - TOLERANCE));
  });
  it('a readiness probe slower than the consumer loop: 3 pods from zero consume at 8 s, counted ready at 10 s and 14 s (before: 60/s until 40 s)', () => {
    const figures = run(120, (t) => ({
      consuming: t > 8 ? 3 : 0,
      ready: t >= 14 ? 3 : t >= 10 ? 1 : 0,
      asked: 3,
    }));
    expect(highest(figures)).toBeLessThanOrEqual(TRUTH * (1 + TOLERANCE));
    expect(figures[11]).toBeGreaterThan(0);
    expect(figures[20]).toBeGreaterThanOrEqual(TRUTH * (1 - TOLERANCE));
  });
  it('pods that consume and never become ready (a probe that fails on a dependency): 4 consume, 2 ready (before: 40/s for good)', () => {
    const figures = run(240, () => ({ consuming: 4, ready: 2, asked: 4 }));
    expect(highest(figures)).toBeLessThanOrEqual(TRUTH * (1 + TOLERANCE));
    expect(figures.at(-1)).toBeCloseTo(TRUTH, 6);
  });
  it('a scale-up taken back before its pods were ready: the pods taken back finish what they hold (before: 20/s rose to 38.2/s, 23.1/s after 2 minutes)', () => {
    // 2 ready; 6 asked at 0 s, the 4 new pods consume from 2 s; at 6 s 3 are asked for, and the 3
    // pods taken back (not ready: deleted first) finish their buffers until 16 s; the one kept is
    // counted ready at 12 s.
    const figures = run(120, (t) => ({
      consuming: t <= 2 ? 2 : t <= 16 ? 6 : 3,
      ready: t >= 12 ? 3 : 2,
      asked: t >= 6 ? 3 : 6,
    }));
    expect(highest(figures)).toBeLessThanOrEqual(TRUTH * (1 + TOLERANCE));
    expect(figures.at(-1)).toBeGreaterThanOrEqual(TRUTH * (1 - TOLERANCE));
  });
  it('pods that consume only once ready (the old simulator): a figure (a tenth, the low end) at once, the truth once readiness caught up', () => {
    // 1 ready, 10 asked at 0 s; the 9 new pods are ready and consume from 15 s.
    const figures = run(60, (t) => ({ consuming: t > 15 ? 10 : 1, ready: t >= 15 ? 10 : 1, asked: 10 }));
    expect(highest(figures)).toBeLessThanOrEqual(TRUTH * (1 + TOLERANCE));
    expect(figures[1]).toBeGreaterThan(0);
    expect(figures[18]).toBeGreaterThanOrEqual(TRUTH * (1 - TOLERANCE));
  });
});

describe('a mirror catching up (sample.upstream)', () => {
  it('a message copied from the origin is no arrival: it moves from the lag to num_pending', () => {
    const lagging = (
      at: number,
      pending: number,
      lag: number | undefined,
    ): ReturnType<typeof sampleFromTotals> => ({
      ...sampleFromTotals(at, pending, 0, 0),
      pending,
      ...(lag === undefined
        ? { upstream: { unknown: 'no contact yet' } }
        : { upstream: { lag, from: 'mirror of "O"' } }),
    });
    // 20,000 wait in the origin; the mirror copies them within a second, and 10/s reach the origin.
    let state = observeRates(undefined, lagging(T0, 0, 20_000), 0);
    state = observeRates(state, lagging(s(1), 20_010, 0), 0);
    expect(state.lastIntervalArrivalPerSecond).toBeCloseTo(10, 9);
    // Known at one end only: the copies count, as on any stream (the lag before is not known).
    let blind = observeRates(undefined, lagging(T0, 0, undefined), 0);
    blind = observeRates(blind, lagging(s(1), 20_010, 0), 0);
    expect(blind.lastIntervalArrivalPerSecond).toBeCloseTo(20_010, 9);
  });
});

describe("limitRemovalsPossible: could a WorkQueue or Interest stream's limits have removed a message?", () => {
  const state = (messages: number, lastSeq: number, oldestAgeSeconds: number, bytes = messages * 100) => ({
    messages,
    bytes,
    lastSeq,
    oldestAgeSeconds,
  });
  const after = (limits: Record<string, unknown>, st = state(50, 160, 1)) => ({
    limitRemovals: { limits, state: st },
  });
  it.each([
    [
      'max_age far from the oldest message (a healthy work queue)',
      { maxAgeSeconds: 3600 },
      state(50, 100, 10),
      false,
    ],
    ['max_age within the interval of the oldest message', { maxAgeSeconds: 3 }, state(50, 100, 0.5), true],
    ['max_age shorter than the interval, messages stored', { maxAgeSeconds: 1 }, state(0, 100, 0), true],
    ['max_msgs never reachable (50 held, 60 stored, limit 200)', { maxMsgs: 200 }, state(50, 100, 0), false],
    ['max_msgs reachable (50 held, 60 stored, limit 100)', { maxMsgs: 100 }, state(50, 100, 0), true],
    ['max_msgs_per_subject below what the stream held', { maxMsgsPerSubject: 10 }, state(50, 100, 0), true],
    ['max_bytes far away', { maxBytes: 1e6 }, state(50, 100, 0), false],
    [
      'max_bytes within twice the mean size of what was stored',
      { maxBytes: 15_000 },
      state(50, 100, 0),
      true,
    ],
    ['per-message TTLs: nothing read bounds them', { msgTtl: true }, state(50, 100, 0), true],
    ['the state before not known', { maxAgeSeconds: 3600 }, undefined, true],
  ] as const)('%s', (_, limits, before, possible) => {
    expect(limitRemovalsPossible(before, after(limits), 5)).toBe(possible);
  });
  it('is never on another stream', () => {
    expect(limitRemovalsPossible(undefined, {}, 5)).toBe(false);
  });
});

describe('a work queue whose held messages expire: no capacity from intervals where the limit could act', () => {
  it("learns the handlers' 20/s on a healthy queue, and nothing while max_age could remove held messages", () => {
    const limited = (
      at: number,
      arrived: number,
      completed: number,
      st: { messages: number; bytes: number; lastSeq: number; oldestAgeSeconds: number },
      maxAgeSeconds = 3,
    ): BacklogSample => ({
      ...sampleFromTotals(at, arrived, completed, 100),
      limitRemovals: { limits: { maxAgeSeconds }, state: st },
    });
    // One replica, 100 held; completions 40/s of which half are expiries (60/s arriving).
    let expiring = observeRates(
      undefined,
      limited(T0, 1000, 0, { messages: 180, bytes: 0, lastSeq: 1000, oldestAgeSeconds: 3 }),
      1,
    );
    for (let t = 1; t <= 20; t++)
      expiring = observeRates(
        expiring,
        limited(s(t), 1000 + 60 * t, 40 * t, {
          messages: 180,
          bytes: 0,
          lastSeq: 1000 + 60 * t,
          oldestAgeSeconds: 3,
        }),
        1,
      );
    expect(expiring.perReplicaPerSecond).toBeUndefined();
    let healthy = observeRates(
      undefined,
      limited(T0, 1000, 0, { messages: 900, bytes: 0, lastSeq: 1000, oldestAgeSeconds: 0.5 }, 60),
      1,
    );
    for (let t = 1; t <= 20; t++)
      healthy = observeRates(
        healthy,
        limited(
          s(t),
          1000 + 30 * t,
          20 * t,
          {
            messages: 900 + 10 * t,
            bytes: 0,
            lastSeq: 1000 + 30 * t,
            oldestAgeSeconds: 0.5,
          },
          60,
        ),
        1,
      );
    // Oldest 0.5 s old against max_age 60 s: nothing could expire in a 1 s interval.
    expect(healthy.perReplicaPerSecond).toBeCloseTo(20, 6);
  });
});

describe('arrivals on a stream discarding from its front while the consumer falls behind', () => {
  // 60/s stored in a stream of max_msgs 100 (discard old); one replica delivers 20/s, in bursts (its
  // buffer fills, then drains): every other reading delivers nothing. The messages discarded before
  // any delivery never show in num_pending (it stays at the limit) nor, in a reading without
  // deliveries, in delivered.stream_seq's skips. What the stream stored is what arrived.
  function readings(withStreamCounts: boolean): BacklogSample[] {
    const out: BacklogSample[] = [];
    let lastSeq = 1000;
    let delivered = 900;
    for (let t = 0; t <= 60; t++) {
      lastSeq += 60;
      if (t % 2 === 0) delivered = lastSeq - 100 + 40; // 40 taken in a burst from the oldest kept
      out.push(
        sample({
          at: s(t),
          pending: lastSeq - delivered,
          ackPending: 0,
          deliveredConsumerSeq: t * 20,
          deliveredStreamSeq: delivered,
          ackFloorConsumerSeq: t * 20,
          ackFloorStreamSeq: delivered,
          removesHeld: true,
          streamFirstSeq: lastSeq - 99,
          ...(withStreamCounts
            ? { stream: { firstSeq: lastSeq - 99, lastSeq, messages: 100, numDeleted: 0 } }
            : {}),
        }),
      );
    }
    return out;
  }
  function arrival(samples: BacklogSample[]): number | undefined {
    let state: RateState | undefined;
    for (const x of samples) state = observeRates(state, x, 1);
    return state?.arrivalPerSecond;
  }
  it('reads the stream growth, 60/s (without the stream counters: low)', () => {
    expect(arrival(readings(true))).toBeCloseTo(60, 0);
    expect(arrival(readings(false)) ?? 0).toBeLessThan(55);
  });
  it('counts no growth of a filtered consumer (the stream holds other subjects), nor a stream whose state may be taken over', () => {
    expect(
      storedBetween(
        {
          stream: { firstSeq: 1, lastSeq: 10, messages: 10, numDeleted: 0 },
          deliveredStreamSeq: 5,
          pending: 5,
        },
        {
          removesHeld: true,
          filtered: true,
          stream: { firstSeq: 1, lastSeq: 20, messages: 20, numDeleted: 0 },
          deliveredStreamSeq: 5,
          pending: 15,
        },
      ),
    ).toBeUndefined();
    expect(
      storedBetween(
        {
          stream: { firstSeq: 1, lastSeq: 10, messages: 10, numDeleted: 0 },
          deliveredStreamSeq: 5,
          pending: 5,
        },
        {
          filtered: false,
          stream: { firstSeq: 1, lastSeq: 20, messages: 20, numDeleted: 0 },
          deliveredStreamSeq: 5,
          pending: 15,
        },
      ),
    ).toBeUndefined();
    // A stream recreated under the same name starts its sequence again: not known.
    expect(
      storedBetween(
        {
          stream: { firstSeq: 1, lastSeq: 10, messages: 10, numDeleted: 0 },
          deliveredStreamSeq: 5,
          pending: 5,
        },
        {
          removesHeld: true,
          filtered: false,
          stream: { firstSeq: 1, lastSeq: 3, messages: 3, numDeleted: 0 },
          deliveredStreamSeq: 0,
          pending: 3,
        },
      ),
    ).toBeUndefined();
  });
});

describe('arrivals on a default-config stream whose state is taken over while the replicas stall', () => {
  // A stream only a user's request removes from: while the consumer's held counters stand still
  // (its replicas stalled, or none), the stream's state is taken over from an earlier reading
  // (jetstream-backlog-source.ts streamStateFor), its last_seq as it was then. 20/s keep arriving,
  // and num_pending shows them. s26's leader-change.int read 0/s for 14 s and then 300 arrivals in
  // one 1 s interval when the state was read again.
  function readings(): BacklogSample[] {
    const out: BacklogSample[] = [];
    const taken = { firstSeq: 1, lastSeq: 242, messages: 242, numDeleted: 0 };
    for (let t = 0; t <= 15; t++) {
      const lastSeq = 242 + 20 * t;
      const fresh = t === 0 || t === 15; // read again at the end (the held counters moved)
      out.push(
        sample({
          at: s(t),
          pending: lastSeq - 242,
          ackPending: 1,
          deliveredConsumerSeq: 242,
          deliveredStreamSeq: 242,
          ackFloorConsumerSeq: 241,
          ackFloorStreamSeq: 241,
          removesHeld: true,
          removesInside: 'requests',
          removedOnlyOnRequest: true,
          streamFirstSeq: 1,
          stream: fresh ? { firstSeq: 1, lastSeq, messages: lastSeq, numDeleted: 0 } : taken,
        }),
      );
    }
    return out;
  }
  it('reads each interval what arrived in it (the consumer position plus num_pending), no burst when the state is read again', () => {
    let state: RateState | undefined;
    const perInterval: number[] = [];
    for (const x of readings()) {
      state = observeRates(state, x, 1);
      if (state.lastIntervalArrivalPerSecond !== undefined)
        perInterval.push(state.lastIntervalArrivalPerSecond);
    }
    // Before: [0 x 14, 300].
    expect(perInterval.map((rate) => Math.round(rate * 1000) / 1000)).toEqual(Array<number>(15).fill(20));
    expect(state?.arrivalPerSecond).toBeCloseTo(20, 6);
  });
  it('takes a fresh last_seq as it is: it is never below the position plus num_pending', () => {
    const at = (lastSeq: number, pending: number) => ({
      removesHeld: true,
      filtered: false,
      stream: { firstSeq: 1, lastSeq, messages: lastSeq, numDeleted: 0 },
      deliveredStreamSeq: 100,
      pending,
    });
    // 30 stored, 10 of them deleted before delivery (num_pending grew by 20): 30 arrived.
    expect(storedBetween(at(120, 20), at(150, 40))).toBe(30);
    // Taken over at the end (last_seq 120 still): the 20 num_pending shows.
    expect(storedBetween(at(120, 20), at(120, 40))).toBe(20);
    // Taken over at the start, read again at the end: what arrived since the start's num_pending.
    expect(storedBetween(at(120, 40), at(170, 70))).toBe(30);
    expect(storedBetween(at(120, 40), at(120, 70))).toBe(30);
  });
});

describe('confirmedArrivalNoise: the confirmed rate varies by what it says', () => {
  // decide.ts lets the start-up pile-up count the confirmed rate only beyond BATCH_NOISE_SIGMAS of
  // this figure while nothing waits: too small a figure and clump noise buys replicas (the policy
  // fuzzer's world 70190), too large and a real rise is ignored. Checked against the spread the
  // estimator really shows over a long seeded stream, single messages and batches.
  it.each([
    ['single messages at 50/s', 50, 1],
    ['batches of 20 at 50/s', 50, 20],
    ['batches of 100 at 30/s', 30, 100],
  ])('%s: within a factor 1.5 of the measured standard deviation', (_name, rate, batch) => {
    const rng = seededRng(4242 + batch);
    let arrived = 0;
    let state = observeRates(undefined, sampleFromTotals(s(0), 0, 0, 0), 1);
    const confirmed: number[] = [];
    const predicted: number[] = [];
    for (let t = 1; t <= 4000; t++) {
      arrived += poisson(rng, rate / batch) * batch;
      // Every message is done within the second: nothing pending, nothing awaiting ack.
      state = observeRates(state, sampleFromTotals(s(t), arrived, arrived, 0), 1);
      if (t > 1000 && state.confirmedArrivalPerSecond !== undefined) {
        confirmed.push(state.confirmedArrivalPerSecond);
        predicted.push(confirmedArrivalNoise(state));
      }
    }
    const mean = confirmed.reduce((a, b) => a + b, 0) / confirmed.length;
    const measured = Math.sqrt(confirmed.reduce((a, b) => a + (b - mean) ** 2, 0) / confirmed.length);
    const said = predicted.reduce((a, b) => a + b, 0) / predicted.length;
    expect(mean).toBeGreaterThan(rate * 0.85);
    expect(mean).toBeLessThan(rate * 1.15);
    expect(said / measured).toBeGreaterThan(1 / 1.5);
    expect(said / measured).toBeLessThan(1.5);
  });
});

describe("a backlog the replicas' own pull requests hold back is no work they are short of", () => {
  // Overflow clients pulling with min_pending 100, 20/s arriving: the server hands a waiting request
  // one message each time num_pending reaches 100, so 99 stand while deliveries follow the arrivals.
  // Counted as work waiting, the replicas' share of the arrivals read as their capacity: 20/s for
  // one, then 10/s for two, each replica added reading slower.
  it('learns no capacity from it, and lowers none learnt before', () => {
    let state: RateState | undefined;
    let delivered = 0;
    let t = 0;
    const read = (ready: number, seconds: number): void => {
      for (let i = 0; i < seconds; i++, t++) {
        delivered += 20;
        state = observeRates(
          state,
          sample({
            at: T0 + t * 1000,
            pending: 99 - (t % 3),
            waiting: 3,
            ackPending: 1,
            maxAckPending: 1000,
            deliveredConsumerSeq: delivered,
            deliveredStreamSeq: delivered + 99,
            ackFloorConsumerSeq: delivered - 1,
            ackFloorStreamSeq: delivered + 98,
          }),
          ready,
        );
      }
    };
    read(1, 60);
    read(2, 120);
    const figure = state?.perReplicaPerSecond;
    // At most a figure shown outside busy periods (what one replica did: 20/s), never the share.
    if (figure !== undefined) expect(figure).toBeGreaterThanOrEqual(19);
    expect(state?.arrivalPerSecond).toBeCloseTo(20, 0);
  });
});

describe("a backlog the stream's own limits hold at their size is work the replicas are short of", () => {
  // consumer-configs.int, max_msgs 100 discard old: 60/s arrive and one 20/s replica falls behind;
  // the stream holds 100, all pending, and discards its oldest, never delivered. A request of the
  // replica's client caught waiting at the readings (nats.js refills its buffer as it goes) made the
  // intervals look held back by the requests: no capacity was learnt in 15 readings.
  it("learns the replica's capacity over a run of removals, requests caught waiting or not", () => {
    let state: RateState | undefined;
    for (let t = 0; t <= 20; t++) {
      const lastSeq = 200 + 60 * t;
      const deliveredStreamSeq = lastSeq - 100;
      state = observeRates(
        state,
        sample({
          at: T0 + t * 1000,
          pending: 100,
          waiting: 1,
          ackPending: 0,
          maxAckPending: 1000,
          deliveredConsumerSeq: 20 * t,
          deliveredStreamSeq,
          ackFloorConsumerSeq: 20 * t,
          ackFloorStreamSeq: deliveredStreamSeq,
          removesHeld: true,
          streamFirstSeq: deliveredStreamSeq + 1,
        }),
        1,
      );
    }
    expect(state?.perReplicaPerSecond).toBeCloseTo(20, 0);
  });
});

describe('a run of removals of held messages is measured once an interval that closes it is busy', () => {
  // Real readings (consumer-configs.int, max_msgs 100 discard old, nats-server 2.12, loaded machine):
  // 60/s arrive, one replica acks 20/s through a nats.js buffer of 100 refilled 25 at a time.
  // [ms, pending, ack pending, delivered consumer/stream seq, ack floor consumer/stream seq, stream
  // first seq, last seq, messages]. The run of removals spans 10 s at an interval whose end showed 81
  // pending, below the ~87 a replica held early on: not busy, so the run's measurement was dropped,
  // the run marked measured all the same, and every later interval a low end of 0: no figure, and 1
  // replica asked for 60/s of which 40/s were discarded unconsumed (3 such runs in a row failed the
  // test's >= 3).
  const readings = [
    [
      [0, 0, 43, 59, 59, 16, 16, 1, 59, 59],
      [1152, 4, 89, 125, 125, 36, 36, 30, 129, 100],
      [2185, 40, 60, 150, 150, 90, 90, 91, 190, 100],
      [3234, 100, 0, 150, 150, 150, 150, 153, 252, 100],
      [4241, 100, 0, 175, 180, 175, 180, 215, 314, 100],
      [5250, 100, 0, 200, 269, 200, 269, 276, 375, 100],
      [6256, 85, 15, 225, 349, 210, 334, 335, 434, 100],
      [7307, 100, 0, 225, 349, 225, 349, 397, 496, 100],
      [8321, 100, 0, 250, 431, 250, 431, 460, 559, 100],
      [9332, 100, 0, 275, 513, 275, 513, 520, 619, 100],
      [10349, 81, 19, 300, 600, 281, 581, 582, 681, 100],
      [11386, 100, 0, 300, 600, 300, 600, 643, 742, 100],
      [12398, 100, 0, 325, 689, 325, 689, 704, 803, 100],
      [13420, 92, 8, 350, 772, 342, 764, 765, 864, 100],
      [14435, 100, 0, 350, 772, 350, 772, 826, 925, 100],
    ],
    [
      [0, 0, 41, 58, 58, 17, 17, 1, 62, 62],
      [1260, 8, 88, 125, 125, 37, 37, 38, 137, 100],
      [2333, 48, 52, 150, 150, 98, 98, 99, 198, 100],
      [3356, 99, 0, 150, 150, 150, 150, 163, 262, 100],
      [4380, 100, 0, 175, 187, 175, 187, 224, 323, 100],
      [5396, 100, 0, 200, 274, 200, 274, 284, 383, 100],
      [6425, 82, 18, 225, 362, 207, 344, 345, 444, 100],
      [7519, 100, 0, 225, 362, 225, 362, 412, 511, 100],
      [8540, 100, 0, 250, 449, 250, 449, 472, 571, 100],
      [9573, 94, 6, 275, 539, 269, 533, 534, 633, 100],
      [10624, 75, 25, 300, 622, 275, 539, 598, 697, 100],
      [11644, 100, 0, 300, 622, 300, 622, 658, 757, 100],
      [12648, 100, 0, 325, 701, 325, 701, 718, 817, 100],
      [13667, 95, 5, 350, 785, 345, 780, 781, 880, 100],
      [14701, 100, 0, 350, 785, 350, 785, 842, 941, 100],
    ],
  ];
  // Run 0 with an interval in which the client, working through a buffer of removed messages, pulled
  // nothing (as at 6→7 s: 225 delivered at both ends, nothing awaiting ack at either): the stream
  // removed nothing it held, and that interval dropped the run, which started again and did not
  // span REMOVAL_RUN_SECONDS before the readings ended.
  readings.push(
    (readings[0] ?? []).map((r) => (r[0] === 8321 ? [8321, 100, 0, 225, 349, 225, 349, 460, 559, 100] : r)),
  );
  it.each([0, 1, 2])('learns what the replica does from real readings (run %i)', (run) => {
    let state: RateState | undefined;
    for (const [ms, pending, ackPending, dcs, dss, afc, afs, firstSeq, lastSeq, messages] of readings[run] ??
      [])
      state = observeRates(
        state,
        sample({
          at: T0 + (ms ?? 0),
          pending: pending ?? 0,
          ackPending: ackPending ?? 0,
          maxAckPending: 1000,
          deliveredConsumerSeq: dcs ?? 0,
          deliveredStreamSeq: dss ?? 0,
          ackFloorConsumerSeq: afc ?? 0,
          ackFloorStreamSeq: afs ?? 0,
          removesHeld: true,
          removesInside: 'requests',
          streamFirstSeq: firstSeq ?? 0,
          stream: { firstSeq: firstSeq ?? 0, lastSeq: lastSeq ?? 0, messages: messages ?? 0, numDeleted: 0 },
        }),
        1,
      );
    // 20/s handlers; the run reads 17-25/s (the buffer's refills of 25 land unevenly).
    expect(state?.perReplicaPerSecond).toBeGreaterThan(15);
    expect(state?.perReplicaPerSecond).toBeLessThanOrEqual(1.25 * 20);
  });
});
