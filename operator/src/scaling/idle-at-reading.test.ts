// Replicas that hold fewer messages than there are of them, with nothing pending at the server, are
// idle at the reading: a rise they keep up with piles nothing up while new pods start. The policy
// fuzzer's world 700116 (FUZZ_SEED=700000 FUZZ_WORLDS=300: a nats.js fetch() loop, 25.9/s Poisson
// at 50/s handlers, a 16.6/s figure learnt while the handlers did 12.5/s) read 38/s over one 2 s
// interval; `sustained` counts one interval at once (up to CONFIRM_FACTOR times the one before), and
// "3.2/s more than the 2 ready replicas do" over the 30 s start-up allowance, drained within 5 s,
// took 2 -> 4 with 1 message held and none pending, where the fuzzer's bound is 3. Before, only a
// low-end figure's replicas were seen keeping up (decide.ts keepingUp); a measured figure grown
// stale (handlers since 4x faster, never busy again to show it) is the same evidence.
import { decide } from './decide.js';
import { randomWorld, runWorld } from './test/fuzz-world.js';
import { stepViolations } from './test/fuzz-invariants.js';
import { replayReadings } from './test/replay-readings.js';

/** The fuzzer's steady bound at the last reading: 28.6/s arrived in the 10 s before it, 50/s handlers. */
const WORLD_700116_BOUND = Math.ceil((28.6 / 50) * 1.15 * 1.5) + 2;

describe('decide: replicas idle at the reading pile nothing up (policy fuzzer world 700116)', () => {
  it('the readings of t = 1,740-1,779 s: one noisy 2 s interval with 1 held by 2 replicas adds no start-up pile-up', () => {
    const { decisions, data } = replayReadings('world-700116-t1778.json');
    expect(WORLD_700116_BOUND).toBe(3);
    const last = decisions.at(-1);
    const reading = data.readings.at(-1);
    expect(reading?.decided).toBe(4); // 6099f6b
    expect(reading?.sample.pending).toBe(0);
    expect(reading?.sample.ackPending).toBe(1);
    expect(reading?.readyReplicas).toBe(2);
    expect(last?.rates.perReplicaLowEndOnly).toBeUndefined();
    expect(last?.reason).not.toContain('by the time new pods start');
    expect(last?.desiredReplicas).toBeLessThanOrEqual(WORLD_700116_BOUND);
  });

  it('the same reading with work waiting at the server still counts the pile-up', () => {
    const { decisions, data } = replayReadings('world-700116-t1778.json');
    const before = decisions.at(-2);
    const reading = data.readings.at(-1);
    if (before === undefined || reading === undefined) throw new Error('no readings');
    // 40 of the 76 that arrived still pending: the replicas did not keep up.
    const sample = {
      ...reading.sample,
      pending: 40,
      deliveredConsumerSeq: reading.sample.deliveredConsumerSeq - 40,
      deliveredStreamSeq: reading.sample.deliveredStreamSeq - 40,
      ackFloorConsumerSeq: reading.sample.ackFloorConsumerSeq - 40,
    };
    const d = decide({
      spec: data.spec,
      sample,
      currentReplicas: 2,
      readyReplicas: 2,
      history: before.history,
      now: sample.at,
    });
    expect(d.reason).toContain('by the time new pods start');
    expect(d.desiredReplicas).toBeGreaterThan(2);
  });

  // On main 80b776c the whole world no longer reaches that reading (heldonly30's held bound moved
  // its figure first); what it still fails is the steady invariant 'no low end kept 900 s' (a
  // 16.4/s low end for 50/s handlers at t = 1,799 s), with and without this rule alike: the
  // re-measure's class (probe30), not a pile-up.
  it('the whole world: no step violation', () => {
    const run = runWorld(randomWorld(700116));
    expect(stepViolations(run)).toEqual([]);
  });
});
