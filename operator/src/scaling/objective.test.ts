import { decide, emptyHistory, RATE_HEADROOM } from './decide.js';
import { withScalingDefaults } from './defaults.js';
import {
  ADAPTIVE_POLL_SECONDS,
  ARRIVING_POLL_SECONDS,
  OBJECTIVE_FLOOR,
  OBJECTIVE_SPARE_REFERENCE_REPLICAS,
  OBJECTIVE_STREAM_HEADROOM,
  allowedQueue,
  nextPollSeconds,
  objectiveCapacity,
  objectiveHeadroom,
  objectiveSpare,
  rateMoved,
} from './objective.js';
import { sampleFromTotals, T0 } from './test/fixtures.js';
import type { ScalingHistory, ScalingSpec } from './types.js';

const s = (seconds: number): number => T0 + seconds * 1000;

/** 25/s per replica, as in the simulator; the reference size is 16 replicas' worth: 400/s. */
const perReplicaPerSecond = 25;
const reference = OBJECTIVE_SPARE_REFERENCE_REPLICAS * perReplicaPerSecond;

describe('objectiveCapacity', () => {
  it('buys spare capacity for an objective shorter than a start-up, and little for a long one', () => {
    const short = objectiveCapacity({
      objectiveSeconds: 0.5,
      arrivalPerSecond: reference,
      queue: 0,
      perReplicaPerSecond,
    });
    const usual = objectiveCapacity({
      objectiveSeconds: 5,
      arrivalPerSecond: reference,
      queue: allowedQueue(5, reference),
      perReplicaPerSecond,
    });
    expect(short).toBeGreaterThan(1.5 * reference);
    // At the reference size the spare is the headroom's share of the rate: 15 % at 5 s.
    expect(usual).toBeCloseTo(1.15 * reference, 6);
    expect(objectiveHeadroom(120)).toBeLessThan(0.02);
  });

  it('sizes spare replicas as the square root of the deployment: a larger share for small ones, a smaller for large', () => {
    // Spare capacity in proportion to the rate (the previous rule) would give 4x the spare at 4x
    // the rate; square-root staffing gives 2x. Measured on the step trace (loadtest/sim): a 4x step
    // at 2 replicas needs the small deployment's spare, and 8 replicas idling at 200/s were the cost.
    const spareAt = (arrivalPerSecond: number): number =>
      objectiveCapacity({
        objectiveSeconds: 1,
        arrivalPerSecond,
        queue: allowedQueue(1, arrivalPerSecond),
        perReplicaPerSecond,
      }) - arrivalPerSecond;
    const atReference = spareAt(reference);
    expect(atReference).toBeCloseTo(objectiveHeadroom(1) * reference, 6);
    expect(spareAt(reference / 4)).toBeCloseTo(atReference / 2, 6);
    expect(spareAt(reference * 4)).toBeCloseTo(atReference * 2, 6);
    // 50/s at 25/s per replica and a 1 s objective: 5 replicas (the proportional rule: 4).
    expect(Math.ceil(spareAt(50) / perReplicaPerSecond + 50 / perReplicaPerSecond)).toBe(5);
    expect(objectiveSpare(1, 50, perReplicaPerSecond)).toBeCloseTo(
      objectiveHeadroom(1) * Math.sqrt(50 * reference),
      6,
    );
  });

  it('lets a queue up to the allowance stand, and drains what is above it within half the objective', () => {
    const objectiveSeconds = 10;
    const allowed = allowedQueue(objectiveSeconds, 100); // 0.5 × 100/s × 10 s = 500
    expect(allowed).toBe(500);
    const at = objectiveCapacity({
      objectiveSeconds,
      arrivalPerSecond: 100,
      queue: allowed,
      perReplicaPerSecond,
    });
    const above = objectiveCapacity({
      objectiveSeconds,
      arrivalPerSecond: 100,
      queue: allowed + 1000,
      perReplicaPerSecond,
    });
    expect(above - at).toBeCloseTo(1000 / 5, 6);
  });

  it('with a long objective and an empty queue runs below the arrival rate, never below the floor', () => {
    const c = objectiveCapacity({
      objectiveSeconds: 120,
      arrivalPerSecond: 100,
      queue: 0,
      perReplicaPerSecond,
    });
    expect(c).toBeLessThan(100);
    expect(c).toBeGreaterThanOrEqual(100 * OBJECTIVE_FLOOR);
  });

  it('a stream with max_msgs smaller than the queue allowed: a quarter of it stands, and capacity stays above the arrivals', () => {
    // 100/s under a 60 s objective lets 3,000 stand; a 200-message stream holds 2 s of it.
    expect(allowedQueue(60, 100)).toBe(3000);
    expect(allowedQueue(60, 100, 200)).toBe(50);
    // A stream that holds the allowance changes nothing.
    expect(allowedQueue(60, 100, 1_000_000)).toBe(3000);
    const input = { objectiveSeconds: 60, arrivalPerSecond: 100, queue: 15, perReplicaPerSecond: 20 };
    // Unbounded: close to the arrival rate (within the HPA's tolerance of 5 × 20/s).
    expect(objectiveCapacity(input)).toBeLessThan(110);
    // Bounded: as without an objective (RATE_HEADROOM), 115/s: 6 replicas of 20/s.
    expect(OBJECTIVE_STREAM_HEADROOM).toBe(RATE_HEADROOM);
    expect(objectiveCapacity({ ...input, streamHolds: 200 })).toBeCloseTo(100 * OBJECTIVE_STREAM_HEADROOM, 6);
    expect(objectiveCapacity({ ...input, streamHolds: 1_000_000 })).toBe(objectiveCapacity(input));
    // Above the quarter, the queue is drained as above any allowance.
    expect(objectiveCapacity({ ...input, queue: 170, streamHolds: 200 })).toBeGreaterThan(
      objectiveCapacity({ ...input, queue: 170 }),
    );
  });
  it('never asks for negative capacity on hostile input', () => {
    const c = objectiveCapacity({
      objectiveSeconds: -5,
      arrivalPerSecond: -100,
      queue: -1e9,
      perReplicaPerSecond: -25,
    });
    expect(c).toBeGreaterThanOrEqual(0);
  });
});

describe('adaptive poll', () => {
  it('treats a reading within Poisson noise as no movement and a jump as movement', () => {
    // 200/s over 1 s: σ ≈ 14/s. 230 is within 3σ, 300 is not.
    expect(rateMoved(230, 200, 1)).toBe(false);
    expect(rateMoved(300, 200, 1)).toBe(true);
    expect(rateMoved(300, 200, 0)).toBe(false);
  });

  it('polls every second while moving and doubles up to the longest interval when idle', () => {
    expect(nextPollSeconds({ moving: true, lastIntervalSeconds: 5, maxSeconds: 5 })).toBe(
      ADAPTIVE_POLL_SECONDS,
    );
    expect(nextPollSeconds({ moving: false, lastIntervalSeconds: 1, maxSeconds: 5 })).toBe(2);
    expect(nextPollSeconds({ moving: false, lastIntervalSeconds: 4, maxSeconds: 5 })).toBe(5);
    expect(nextPollSeconds({ moving: false, maxSeconds: 5 })).toBe(5);
  });

  it('backs off to no more than ARRIVING_POLL_SECONDS while messages arrive', () => {
    expect(ARRIVING_POLL_SECONDS).toBe(2);
    expect(nextPollSeconds({ moving: false, arriving: true, lastIntervalSeconds: 1, maxSeconds: 5 })).toBe(2);
    expect(nextPollSeconds({ moving: false, arriving: true, lastIntervalSeconds: 4, maxSeconds: 5 })).toBe(2);
    expect(nextPollSeconds({ moving: false, arriving: true, maxSeconds: 5 })).toBe(2);
    expect(nextPollSeconds({ moving: true, arriving: true, lastIntervalSeconds: 2, maxSeconds: 5 })).toBe(1);
    // The spec's pollInterval stays the longest.
    expect(nextPollSeconds({ moving: false, arriving: true, lastIntervalSeconds: 1, maxSeconds: 1 })).toBe(1);
    // Nothing arriving: back off as before.
    expect(nextPollSeconds({ moving: false, arriving: false, lastIntervalSeconds: 4, maxSeconds: 5 })).toBe(
      5,
    );
  });
});

/**
 * Runs `decide` over readings of a steady 100/s that the replicas keep up with (the replica count
 * fed back as the controller would), then one reading where `jumpTo`/s arrived.
 */
function steadyThenJump(spec: ScalingSpec, jumpTo: number): { before: number[]; after: number } {
  let history: ScalingHistory = emptyHistory();
  let arrived = 0;
  let t = 0;
  let replicas = 5;
  const before: number[] = [];
  let poll = 5;
  const read = (): ReturnType<typeof decide> =>
    decide({
      spec,
      sample: sampleFromTotals(s(t), arrived, arrived - 20, 20),
      currentReplicas: replicas,
      readyReplicas: replicas,
      history,
      now: s(t),
    });
  for (let i = 0; i < 30; i++) {
    t += poll;
    arrived += 100 * poll;
    const d = read();
    history = d.history;
    replicas = d.desiredReplicas;
    poll = Math.min(5, d.nextPollSeconds); // the controller's pollInterval caps it
    before.push(poll);
  }
  t += poll;
  arrived += jumpTo * poll;
  return { before, after: read().nextPollSeconds };
}

describe('decide: adaptive poll and latency objective', () => {
  it('reads no less often than ARRIVING_POLL_SECONDS while a steady stream flows and every second once arrivals jump', () => {
    // Before: backed off to the longest poll (5 s) while steady, so a jump was seen up to 5 s late
    // (make bench-scaling: spike p99 15.52 -> 14.50 s, recurring 15.01 -> 13.65 s at 2 s). These
    // replicas were never shown to do more than the 100/s they complete, so they are near capacity
    // (NEAR_CAPACITY_SHARE) and read every second since session 33 (2 s before); the back-off to
    // ARRIVING_POLL_SECONDS where they are shown room is near-capacity.test's.
    const { before, after } = steadyThenJump(withScalingDefaults({ maxReplicas: 50 }), 500);
    expect(before.slice(-5)).toEqual([1, 1, 1, 1, 1]);
    expect(after).toBe(ADAPTIVE_POLL_SECONDS);
  });

  it('reads again within ARRIVING_POLL_SECONDS after a first reading, which measures no rate', () => {
    // Before: the first reading backed off to the longest poll, so the first rate came 5 s later.
    const d = decide({
      spec: withScalingDefaults({ minReplicas: 2, maxReplicas: 50 }),
      sample: sampleFromTotals(s(0), 1000, 1000, 0),
      currentReplicas: 2,
      readyReplicas: 2,
      history: emptyHistory(),
      now: s(0),
    });
    expect(d.rates.arrivalPerSecond).toBeUndefined();
    expect(d.nextPollSeconds).toBe(ARRIVING_POLL_SECONDS);
  });

  it('backs off to the longest poll once nothing arrives', () => {
    // minReplicas 2: no scale to zero after the cooldown (a change is movement, polled at 1 s).
    const spec = withScalingDefaults({ minReplicas: 2, maxReplicas: 50 });
    let history: ScalingHistory = emptyHistory();
    let t = 0;
    let poll = 5;
    const polls: number[] = [];
    for (let i = 0; i < 12; i++) {
      t += poll;
      const d = decide({
        spec,
        sample: sampleFromTotals(s(t), 1000, 1000, 0),
        currentReplicas: 2,
        readyReplicas: 2,
        history,
        now: s(t),
      });
      history = d.history;
      poll = Math.min(5, d.nextPollSeconds);
      polls.push(poll);
    }
    expect(polls.slice(-3)).toEqual([5, 5, 5]);
  });

  it('sizes for the objective instead of backlogPerReplica once capacity is known', () => {
    // backlogPerReplica 1 would ask for one replica per queued message; the objective does not.
    const run = (latencyObjectiveSeconds?: number): number => {
      const spec = withScalingDefaults({
        maxReplicas: 500,
        backlogPerReplica: 1,
        ...(latencyObjectiveSeconds === undefined ? {} : { latencyObjectiveSeconds }),
      });
      let history: ScalingHistory = emptyHistory();
      let last = 0;
      // 100/s arriving, 4 busy replicas completing 25/s each, 2,000 queued throughout.
      for (let i = 0; i <= 12; i++) {
        const d = decide({
          spec,
          sample: sampleFromTotals(s(5 * i), 2000 + 500 * i + 40, 500 * i, 40),
          currentReplicas: 4,
          readyReplicas: 4,
          history,
          now: s(5 * i),
        });
        history = d.history;
        last = d.recommendedReplicas;
      }
      return last;
    };
    const backlogSized = run();
    const long = run(60);
    const short = run(2);
    expect(backlogSized).toBeGreaterThan(1000);
    // 60 s objective: 2,000 queued is within its allowance (0.5 × 100/s × 60 s = 3,000): no more replicas.
    expect(long).toBeLessThanOrEqual(4);
    // 2 s objective: the 1,900 above its 100 allowance must drain within 1 s.
    expect(short).toBeGreaterThan(60);
  });

  it('keeps spare replicas as the square root of the deployment, at the per-replica rate it measured', () => {
    // 4 busy replicas completing 25/s each, arrivals 100/s, the queue at what a 1 s objective lets
    // stand (0.5 × 100/s × 1 s = 50: 10 pending, 40 in flight), so only the spare decides.
    const spec = withScalingDefaults({ maxReplicas: 500, latencyObjectiveSeconds: 1 });
    let history: ScalingHistory = emptyHistory();
    let d: ReturnType<typeof decide> | undefined;
    for (let i = 0; i <= 12; i++) {
      d = decide({
        spec,
        sample: sampleFromTotals(s(5 * i), 500 * i + 50, 500 * i, 40),
        currentReplicas: 4,
        readyReplicas: 4,
        history,
        now: s(5 * i),
      });
      history = d.history;
    }
    expect(d?.rates.perReplicaPerSecond).toBeCloseTo(25, 1);
    expect(d?.rates.arrivalPerSecond).toBeCloseTo(100, 1);
    // 100/s is 4 replicas' worth: spare √(4 × 16) × 50.2 % = 4.01 replicas, 9 in all; spare in
    // proportion to the rate (the previous rule) asked for 7 (100/s × 1.5 = 150/s).
    expect(d?.recommendedReplicas).toBe(
      Math.ceil((100 + objectiveHeadroom(1) * Math.sqrt(100 * 16 * 25)) / 25),
    );
    expect(d?.recommendedReplicas).toBe(9);
  });
});
