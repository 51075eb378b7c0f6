import { decide, emptyHistory } from './decide.js';
import { withScalingDefaults } from './defaults.js';
import {
  ADAPTIVE_POLL_SECONDS,
  OBJECTIVE_FLOOR,
  allowedQueue,
  nextPollSeconds,
  objectiveCapacity,
  objectiveHeadroom,
  rateMoved,
} from './objective.js';
import { sampleFromTotals, T0 } from './test/fixtures.js';
import type { ScalingHistory, ScalingSpec } from './types.js';

const s = (seconds: number): number => T0 + seconds * 1000;

describe('objectiveCapacity', () => {
  it('buys spare capacity for an objective shorter than a start-up, and little for a long one', () => {
    const short = objectiveCapacity({ objectiveSeconds: 0.5, arrivalPerSecond: 100, queue: 0 });
    const usual = objectiveCapacity({
      objectiveSeconds: 5,
      arrivalPerSecond: 100,
      queue: allowedQueue(5, 100),
    });
    expect(short).toBeGreaterThan(150);
    expect(usual).toBeCloseTo(115, 6);
    expect(objectiveHeadroom(120)).toBeLessThan(0.02);
  });

  it('lets a queue up to the allowance stand, and drains what is above it within half the objective', () => {
    const objectiveSeconds = 10;
    const allowed = allowedQueue(objectiveSeconds, 100); // 0.5 × 100/s × 10 s = 500
    expect(allowed).toBe(500);
    const at = objectiveCapacity({ objectiveSeconds, arrivalPerSecond: 100, queue: allowed });
    const above = objectiveCapacity({ objectiveSeconds, arrivalPerSecond: 100, queue: allowed + 1000 });
    expect(above - at).toBeCloseTo(1000 / 5, 6);
  });

  it('with a long objective and an empty queue runs below the arrival rate, never below the floor', () => {
    const c = objectiveCapacity({ objectiveSeconds: 120, arrivalPerSecond: 100, queue: 0 });
    expect(c).toBeLessThan(100);
    expect(c).toBeGreaterThanOrEqual(100 * OBJECTIVE_FLOOR);
  });

  it('never asks for negative capacity on hostile input', () => {
    const c = objectiveCapacity({ objectiveSeconds: -5, arrivalPerSecond: -100, queue: -1e9 });
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
  it('backs off to the longest poll while steady and polls every second once arrivals jump', () => {
    const { before, after } = steadyThenJump(withScalingDefaults({ maxReplicas: 50 }), 500);
    expect(before.slice(-5)).toEqual([5, 5, 5, 5, 5]);
    expect(after).toBe(ADAPTIVE_POLL_SECONDS);
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
});
