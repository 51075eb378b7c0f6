// The policy fuzzer's judge (test/fuzz-invariants.ts) on one real run with single decisions
// changed: a scale-up the judge lets pass because of what arrives soon after (comingArrivalRate, a
// pre-warm for a burst that then comes) must still be flagged when no burst comes in time or when
// it asks for more than the coming burst needs.

import { withScalingDefaults } from './defaults.js';
import { comingArrivalRate, recentArrivalRate, steadyViolations } from './test/fuzz-invariants.js';
import { randomWorld, runWorld, type Run, type Step, type World } from './test/fuzz-world.js';
import { natsGoFetch10 } from './test/pull-clients.js';

// nats.go Fetch(10) loops, 17/s sent in 2 s of every 120 s (2,040 a burst), 5/s handlers, 10 s
// start-ups, the defaults: decide.ts burstSizing asks for the replicas that drain a burst within
// 15 s a start-up and a poll before the next one is due.
const world: World = {
  ...randomWorld(1),
  spec: withScalingDefaults({ minReplicas: 1, maxReplicas: 50 }),
  pollSeconds: 5,
  client: natsGoFetch10,
  maxAckPending: -1,
  startupSeconds: 10,
  killShare: 0,
  scaleFailure: 0,
  interleavedPerSecond: 0,
  reportsReady: true,
  initialReplicas: 1,
  initialPending: 0,
  segments: [
    {
      seconds: 900,
      rate: 17,
      handlerPerSecond: 5,
      shape: 'cron',
      clump: 1,
      cron: { periodSeconds: 120, burstSeconds: 2 },
    },
  ],
};
const SETTLED_FROM = 900 - 120;

/** The run with step `i`'s decision asking for `desired` (and applied). */
function asking(run: Run, i: number, desired: number): Run {
  const steps = run.steps.map((s, j) =>
    j === i ? { ...s, applied: true, decision: { ...s.decision, desiredReplicas: desired } } : s,
  );
  return { ...run, steps };
}
const flagsAt = (run: Run, s: Step): string[] =>
  steadyViolations(run).filter((v) => v.includes(`t=${s.t.toFixed(2)}s`) && v.includes('yet scaled up'));

describe('the fuzz judge on a pre-warm for a burst (comingArrivalRate)', () => {
  const run = runWorld(world);
  // The pre-warm: a scale-up in the settled window with nothing arrived in the 10 s before it.
  const index = run.steps.findIndex(
    (s) =>
      s.t >= SETTLED_FROM &&
      s.applied &&
      s.decision.desiredReplicas > s.currentReplicas + 5 &&
      recentArrivalRate(run, s) === 0,
  );
  const prewarm = run.steps[index] as Step;

  it('the run makes one, from a start-up and a poll before the burst, and the judge lets it pass', () => {
    expect(index).toBeGreaterThan(0);
    expect(prewarm.decision.reason).toContain('kept for the next burst');
    expect(comingArrivalRate(run, prewarm)).toBeGreaterThan(17);
    expect(steadyViolations(run)).toEqual([]);
  });

  it('the same scale-up where no burst is due within a start-up, a poll and 10 s is flagged', () => {
    // Up to 45 s earlier, within the settled window the judge reads: the burst comes more than a
    // start-up, a poll and 10 s later.
    const early = run.steps.findIndex((s) => s.t >= Math.max(SETTLED_FROM, prewarm.t - 45));
    const s = run.steps[early] as Step;
    expect(comingArrivalRate(run, s)).toBe(0);
    expect(flagsAt(asking(run, early, prewarm.decision.desiredReplicas), s)).toHaveLength(1);
  });

  it('the same scale-up before a burst that does not come is flagged', () => {
    // Nothing arrives from the pre-warm on: the stream's timing announced a burst it did not send.
    const quiet: Run = {
      ...run,
      steps: run.steps.map((s) =>
        s.t > prewarm.t ? { ...s, truth: { ...s.truth, arrived: prewarm.truth.arrived } } : s,
      ),
    };
    expect(comingArrivalRate(quiet, prewarm)).toBe(0);
    expect(flagsAt(quiet, prewarm)).toHaveLength(1);
  });

  it('a pre-warm sized past what the burst needs is flagged: the step limit main asked at a burst (41)', () => {
    // 2,040 a burst drained within 15 s at 5/s: 28. 41 drains it within 10 s.
    expect(flagsAt(asking(run, index, 41), prewarm)).toHaveLength(1);
  });

  it('a scale-up judged by the arrivals of the next segment is not excused by them', () => {
    // The same run cut into two segments at the burst: the burst is another stretch's arrivals.
    const burstAt = run.steps.find((s) => s.t > prewarm.t && s.truth.arrived > prewarm.truth.arrived) as Step;
    const cut: Run = {
      ...run,
      steps: run.steps.map((s) => (s.t >= burstAt.t ? { ...s, truth: { ...s.truth, segment: 1 } } : s)),
    };
    expect(comingArrivalRate(cut, prewarm)).toBe(0);
    expect(flagsAt(cut, prewarm)).toHaveLength(1);
  });
});
