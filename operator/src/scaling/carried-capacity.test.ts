// A per-replica capacity carried over from an earlier process (the EventConsumer's status, read back
// by a restarted operator or a new leader: controller/consumer-state.ts carriedCapacity). A status
// is input from outside: anyone who may write /status (an admin, a tool, a backup restore) can put
// any figure there, and a tiny one sized the first readings for the arrival rate at that figure:
// maxReplicas (redteam6, session 20: 5 -> 20 with perReplicaPerSecond 1e-6). So the figure stays
// marked as carried (rates.ts perReplicaCarried) until a busy interval of this process replaces it,
// and while it is, the rate term adds no replicas beyond max(current, the backlog term), and the
// count goes no lower than the backlog term (decide.ts).
import { decide, emptyHistory } from './decide.js';
import { withScalingDefaults } from './defaults.js';
import { asRateState, observeRates } from './rates.js';
import { sampleFromTotals, T0 } from './test/fixtures.js';
import type { BacklogSample, ScalingHistory, ScalingInput, ScalingSpec } from './types.js';

const s = (seconds: number): number => T0 + seconds * 1000;

describe('observeRates: a carried figure is marked until this process measures its own', () => {
  // 3 replicas; 75/s arrive and are completed, 6 awaiting ack: nothing waits at the server.
  const idle = (t: number): BacklogSample => sampleFromTotals(s(t), 75 * t, 75 * t - 6, 6);

  it('is marked at the first reading and stays marked while no interval is busy', () => {
    let state = observeRates(undefined, idle(0), 3, { carriedPerReplicaPerSecond: 0.5 });
    expect(state.perReplicaPerSecond).toBe(0.5);
    expect(state.perReplicaCarried).toBe(true);
    for (let t = 5; t <= 60; t += 5) state = observeRates(state, idle(t), 3);
    // Idle replicas completing 25/s each prove more than 0.5/s (raised), but measure nothing.
    expect(state.perReplicaPerSecond).toBeGreaterThan(0.5);
    expect(state.perReplicaCarried).toBe(true);
  });

  it('is replaced by the first busy interval, not averaged with it', () => {
    const first = observeRates(undefined, sampleFromTotals(s(0), 600, 0, 6), 3, {
      carriedPerReplicaPerSecond: 0.001,
    });
    // 500 wait at the server at both ends; the 3 replicas complete 75/s (25/s each).
    const busy = observeRates(first, sampleFromTotals(s(5), 600 + 375, 375, 6), 3);
    expect(busy.perReplicaPerSecond).toBeCloseTo(25, 6);
    expect(busy.perReplicaCarried).toBeUndefined();
  });

  it('a busy interval that measures nothing raises it to what the replicas did at least, and ends the mark', () => {
    // 5 ready at the first reading, 3 at the second (the ready count changed: no measurement); 500
    // wait at the server at both ends, and 75/s are completed by at most the 5 asked for.
    const first = observeRates(undefined, sampleFromTotals(s(0), 600, 0, 6), 5, {
      carriedPerReplicaPerSecond: 0.001,
      askedReplicas: 5,
    });
    const behind = observeRates(first, sampleFromTotals(s(5), 975, 375, 6), 3, { askedReplicas: 3 });
    expect(behind.perReplicaPerSecond).toBeCloseTo(75 / 5, 6);
    expect(behind.perReplicaCarried).toBeUndefined();
  });

  it('an absurdly high figure does not hide replicas busy on what their clients prefetched', () => {
    // 3 replicas hold 2,000 in their clients' buffers (nothing waits at the server) and complete
    // 50/s. busyOnPrefetch asks for an interval's work at the figure left per replica: at
    // 100,000/s no buffer is ever that deep, and the figure stood.
    const held = (t: number): BacklogSample =>
      sampleFromTotals(s(t), 12_000 + 50 * t, 10_000 + 50 * t, 2_000);
    const first = observeRates(undefined, held(0), 3, { carriedPerReplicaPerSecond: 100_000 });
    const busy = observeRates(first, held(5), 3);
    expect(busy.perReplicaPerSecond).toBeCloseTo(50 / 3, 6);
    expect(busy.perReplicaCarried).toBeUndefined();
  });

  describe('while more replicas are asked for than ready (a restart while pods start)', () => {
    // 2 ready of 8 asked; 500 wait at the server at both ends, and 50/s are completed: each of the
    // 8 did at least 6.25/s, each ready one at most 25/s.
    const first = (carried: number): ReturnType<typeof observeRates> =>
      observeRates(undefined, sampleFromTotals(s(0), 600, 0, 6), 2, {
        carriedPerReplicaPerSecond: carried,
        askedReplicas: 8,
      });
    const next = (carried: number): ReturnType<typeof observeRates> =>
      observeRates(first(carried), sampleFromTotals(s(5), 850, 250, 6), 2, { askedReplicas: 8 });

    it('a busy interval keeps a figure within what it bounds (not completions ÷ the 8), its mark ended', () => {
      // As busy intervals that measure nothing end it: the rate term is free to add replicas by
      // it, as the earlier process was by its own.
      const kept = next(20);
      expect(kept.perReplicaPerSecond).toBe(20);
      expect(kept.perReplicaCarried).toBeUndefined();
      expect(kept.perReplicaLowEndOnly).toBeUndefined();
    });

    it.each([
      ['below it (0.001/s by hand): its low end, a low end only', 0.001, 50 / 8],
      ['above it (100,000/s by hand): its low end, a low end only', 100_000, 50 / 8],
    ])('and replaces one %s', (_what, carried, figure) => {
      const replaced = next(carried);
      expect(replaced.perReplicaPerSecond).toBeCloseTo(figure, 6);
      expect(replaced.perReplicaCarried).toBeUndefined();
      expect(replaced.perReplicaLowEndOnly).toBe(true);
    });
  });

  it('a figure of no earlier process is never marked', () => {
    let state = observeRates(undefined, sampleFromTotals(s(0), 600, 0, 6), 3);
    state = observeRates(state, sampleFromTotals(s(5), 975, 375, 6), 3);
    expect(state.perReplicaPerSecond).toBeCloseTo(25, 6);
    expect(state.perReplicaCarried).toBeUndefined();
  });

  it('stays marked over a consumer recreated in between (the figure is kept, so is its origin)', () => {
    const first = observeRates(undefined, idle(100), 3, { carriedPerReplicaPerSecond: 0.5 });
    const recreated = observeRates(first, sampleFromTotals(s(105), 10, 4, 6), 3);
    expect(recreated.resetAt).toBeDefined();
    expect(recreated.perReplicaPerSecond).toBe(0.5);
    expect(recreated.perReplicaCarried).toBe(true);
  });
});

describe('decide: a carried figure never adds replicas, and takes none below the backlog term', () => {
  const spec: ScalingSpec = withScalingDefaults({ minReplicas: 1, maxReplicas: 50, backlogPerReplica: 100 });

  /**
   * Readings of 3 replicas (left at 3: each decision's recommendation is judged, not applied), the
   * carried figure given at the first only.
   */
  function run(
    readings: BacklogSample[],
    carried: number,
    specToUse: ScalingSpec = spec,
  ): Array<ReturnType<typeof decide>> {
    let history: ScalingHistory = emptyHistory();
    return readings.map((sample, i) => {
      const input: ScalingInput = {
        spec: specToUse,
        sample,
        currentReplicas: 3,
        readyReplicas: 3,
        history,
        now: sample.at,
        ...(i === 0 ? { carriedPerReplicaPerSecond: carried } : {}),
      };
      const d = decide(input);
      history = d.history;
      return d;
    });
  }

  it('a tiny figure (written by hand) keeps 3 replicas carrying 50/s at 3, not maxReplicas', () => {
    const steady = [0, 5, 10, 15].map((t) => sampleFromTotals(s(t), 10_000 + 50 * t, 10_000 + 50 * t - 6, 6));
    const decisions = run(steady, 0.001);
    for (const d of decisions) expect(d.recommendedReplicas).toBeLessThanOrEqual(3);
    expect(asRateState(decisions.at(-1)?.history.rates)?.perReplicaCarried).toBe(true);
    expect(decisions.at(-1)?.reason).toMatch(/carried over/);
  });

  it('nor does a rise that is not yet a busy interval panic on it; the first busy interval lifts the bound', () => {
    // 50/s, then 150/s: 500 pending at the third reading (none at the second), and more at the fourth.
    const readings = [
      sampleFromTotals(s(0), 10_000, 9_994, 6),
      sampleFromTotals(s(5), 10_250, 10_244, 6),
      sampleFromTotals(s(10), 11_000, 10_494, 6),
      sampleFromTotals(s(15), 11_750, 10_744, 6),
    ];
    const decisions = run(readings, 0.001);
    // At the third reading the backlog term asks ceil(506 / 100) = 6; the rate term at 0.001/s
    // would ask maxReplicas.
    expect(decisions[2]?.recommendedReplicas).toBeLessThanOrEqual(6);
    expect(decisions[2]?.reason).not.toMatch(/panic/);
    // The fourth interval was busy throughout (500 and more waiting at both ends): this process's
    // own figure (250/s by 3 replicas: 83/s each) replaces the carried one, and sizes as measured.
    const own = asRateState(decisions[3]?.history.rates);
    expect(own?.perReplicaCarried).toBeUndefined();
    expect(own?.perReplicaPerSecond).toBeCloseTo(250 / 5 / 3, 6);
    expect(decisions[3]?.recommendedReplicas).toBeGreaterThan(3);
  });

  it('with a latency objective, an absurdly high figure takes the count no lower than the backlog term', () => {
    const objective = withScalingDefaults({
      minReplicas: 1,
      maxReplicas: 50,
      backlogPerReplica: 100,
      latencyObjectiveSeconds: 60,
    });
    // 2,000 await ack, but scattered over 5,000 delivered since the ack floor (messages awaiting
    // redelivery, not a client's buffer), and nothing waits at the server: no interval is busy, so
    // the figure stays carried. 50/s arrive and are completed.
    const held = [0, 5, 10].map((t) => ({
      ...sampleFromTotals(s(t), 12_000 + 50 * t, 10_000 + 50 * t, 2_000),
      ackFloorConsumerSeq: 7_000 + 50 * t,
    }));
    const decisions = run(held, 100_000, objective);
    // The backlog term: 2,000 at 100 a replica. At 100,000/s a replica the objective asks for 1.
    for (const d of decisions) expect(d.recommendedReplicas).toBeGreaterThanOrEqual(20);
    expect(asRateState(decisions.at(-1)?.history.rates)?.perReplicaCarried).toBe(true);
  });
});
