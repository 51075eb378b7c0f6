// Capacity not measured yet: an EventConsumer created next to a Deployment that already keeps up
// (a new EventConsumer, a KEDA migration) or a new leader / restarted operator, which starts with
// no rates. Replicas that keep up are never busy, so no per-replica capacity is measured; the
// backlog term alone sized them by their small backlog and scaled them down into an overload
// (decide.ts, the floor while capacity is unmeasured; rates.ts perReplicaAtLeast).
import { decide, emptyHistory, RATE_HEADROOM } from './decide.js';
import { withScalingDefaults } from './defaults.js';
import { LOWER_BOUND_SETTLE_SECONDS, observeRates } from './rates.js';
import type { RateState } from './rates.js';
import { sampleFromTotals, T0 } from './test/fixtures.js';
import type { ScalingDecision, ScalingHistory } from './types.js';

const s = (seconds: number): number => T0 + seconds * 1000;

/** Per-replica capacity of the simulated replicas (messages/s). */
const CAPACITY = 25;
/** Messages each replica holds awaiting ack while it works (its handler's concurrency). */
const IN_HAND = 2;

interface Run {
  decisions: ScalingDecision[];
  /** Replicas asked for at each second. */
  replicas: number[];
  /** Largest queue seen (pending + awaiting ack). */
  peakBacklog: number;
}

/**
 * A queue fed at `arrivalAt(t)` messages per second, served by the replicas asked for (ready at
 * once) at CAPACITY each, read every second and decided on with a history that starts empty, as a
 * new EventConsumer or a new leader's does (the controller seeds the stabilization window with the
 * size it finds, as here).
 */
function run(options: {
  replicas: number;
  seconds: number;
  arrivalAt: (t: number) => number;
  ackNone?: boolean;
  latencyObjectiveSeconds?: number;
}): Run {
  const spec = withScalingDefaults({
    minReplicas: 1,
    maxReplicas: 20,
    backlogPerReplica: 100,
    ...(options.latencyObjectiveSeconds !== undefined
      ? { latencyObjectiveSeconds: options.latencyObjectiveSeconds }
      : {}),
  });
  let history: ScalingHistory = {
    ...emptyHistory(),
    recommendations: [{ at: s(0), replicas: options.replicas }],
  };
  let replicas = options.replicas;
  let arrived = 0;
  let completed = 0;
  let queue = 0;
  const out: Run = { decisions: [], replicas: [], peakBacklog: 0 };
  for (let t = 1; t <= options.seconds; t++) {
    const a = options.arrivalAt(t);
    arrived += a;
    queue += a;
    const done = Math.min(queue, replicas * CAPACITY);
    queue -= done;
    completed += done;
    const inHand = Math.min(queue, replicas * IN_HAND);
    out.peakBacklog = Math.max(out.peakBacklog, queue);
    const d = decide({
      spec,
      sample: {
        ...sampleFromTotals(s(t), arrived, completed, inHand),
        ...(options.ackNone === true ? { ackNone: true } : {}),
      },
      currentReplicas: replicas,
      readyReplicas: replicas,
      history,
      now: s(t),
    });
    history = d.history;
    replicas = d.desiredReplicas;
    out.decisions.push(d);
    out.replicas.push(replicas);
  }
  return out;
}

describe('capacity not measured yet', () => {
  it('keeps the replicas that carry the load instead of sizing them by their small backlog', () => {
    // 3 replicas at 25/s keep up with 50/s: never busy, so no capacity is measured. Before, the
    // backlog term (ceil(backlog / 100) = 1) took them 3 → 2 → 1 after the scale-down window, and
    // a queue built until a busy replica showed what it does.
    const r = run({ replicas: 3, seconds: 240, arrivalAt: () => 50 });
    expect(Math.min(...r.replicas)).toBe(3);
    expect(r.peakBacklog).toBeLessThan(50);
    const last = r.decisions.at(-1);
    expect(last?.rates.perReplicaPerSecond).toBeUndefined();
    expect(last?.reason).toMatch(/no per-replica capacity measured yet/);
    // What each replica was shown to do at least: 50/s between 3 of them, never above what they can.
    const shown = (last?.history.rates as RateState).perReplicaAtLeast;
    expect(shown).toBeCloseTo(50 / 3, 0);
    expect(shown).toBeLessThanOrEqual(CAPACITY);
  });

  it('with a latency objective, lets the queue it allows stand instead of keeping the headroom', () => {
    // The same 3 replicas at 25/s carrying 50/s, with a 60 s objective: 50/s at the 16.7/s each was
    // shown to do, with RATE_HEADROOM, kept all 3. The objective lets a queue of 0.5 × 50 × 60 stand,
    // so fewer replicas may run full: they become busy, which measures their capacity, and the rate
    // term sizes for the objective from then on. The wait stays well within the objective.
    const r = run({ replicas: 3, seconds: 300, arrivalAt: () => 50, latencyObjectiveSeconds: 60 });
    expect(Math.min(...r.replicas)).toBe(2);
    expect(r.peakBacklog / 50).toBeLessThan(60 / 2);
    expect(
      r.decisions.some((d) => /no per-replica capacity measured yet: .*60s latency objective/.test(d.reason)),
    ).toBe(true);
    // Never below what carries the load at the capacity shown when the objective's queue is used up.
    expect(r.replicas.at(-1)).toBeGreaterThanOrEqual(2);
  });

  it('with a short latency objective, keeps the replicas the objective needs', () => {
    // A 1 s objective lets 25 messages stand: 2 replicas at the 16.7/s shown would queue past it, so
    // the floor keeps 3 (the objective's spare capacity needs more than 2 × 16.7/s).
    const r = run({ replicas: 3, seconds: 240, arrivalAt: () => 50, latencyObjectiveSeconds: 1 });
    expect(Math.min(...r.replicas)).toBe(3);
    expect(r.peakBacklog).toBeLessThan(50);
  });

  it('leaves an ack_policy none consumer to the backlog term (no capacity is ever measured there)', () => {
    // As before this change: the backlog term takes the 3 to 1 after the window, and back up as
    // the queue grows (the floor would hold them for good, with nothing ever to measure).
    const r = run({ replicas: 3, seconds: 120, arrivalAt: () => 50, ackNone: true });
    expect(Math.min(...r.replicas)).toBe(1);
  });

  it('still scales down once what arrives is shown to need fewer', () => {
    // The same replicas, then the load falls to 10/s: 10/s at the 16.7/s each was shown to do
    // (with RATE_HEADROOM) needs 1. The floor holds only what the arrival rate is shown to need.
    const r = run({ replicas: 3, seconds: 360, arrivalAt: (t) => (t <= 150 ? 50 : 10) });
    expect(Math.min(...r.replicas.slice(0, 150))).toBe(3);
    expect(r.replicas.at(-1)).toBe(Math.ceil((10 * RATE_HEADROOM) / (50 / 3)));
    expect(r.replicas.at(-1)).toBe(1);
  });

  it('does not hold replicas for a one-off burst that is over', () => {
    // 100 messages at once to 5 replicas, drained within the second (no replica busy, so no capacity
    // measured), then nothing: the smoothed arrival rate stays above a message per start-up for
    // about a minute (which held the 5), but the last intervals show nothing arriving, and the
    // backlog term takes the replicas down after the scale-down window as before.
    const r = run({ replicas: 5, seconds: 60, arrivalAt: (t) => (t === 5 ? 100 : 0) });
    expect(r.replicas.at(-1)).toBe(1);
    expect(r.decisions.at(-1)?.rates.perReplicaPerSecond).toBeUndefined();
  });

  it('scales up as before when the load needs more than the replicas carry', () => {
    // 3 replicas, 120/s: busy, so the capacity is measured and the rate term sizes for it.
    const r = run({ replicas: 3, seconds: 120, arrivalAt: () => 120 });
    expect(r.decisions.at(-1)?.rates.perReplicaPerSecond).toBeCloseTo(CAPACITY, 0);
    expect(r.replicas.at(-1)).toBe(Math.ceil((120 * RATE_HEADROOM) / CAPACITY));
  });

  it('does not hold replicas that complete nothing (the backlog term sizes for what waits)', () => {
    // Ready replicas that complete nothing (not consuming yet, handlers stuck) carry nothing: the
    // floor does not apply and the backlog term decides, as before.
    const spec = withScalingDefaults({ minReplicas: 1, maxReplicas: 20, backlogPerReplica: 100 });
    let history: ScalingHistory = { ...emptyHistory(), recommendations: [{ at: s(0), replicas: 4 }] };
    let replicas = 4;
    for (let t = 1; t <= 120; t++) {
      // 0.5/s arrive and nothing completes: a backlog of at most 60, one replica's worth.
      const d = decide({
        spec,
        sample: sampleFromTotals(s(t), Math.floor(t / 2), 0, 0),
        currentReplicas: replicas,
        readyReplicas: replicas,
        history,
        now: s(t),
      });
      history = d.history;
      replicas = d.desiredReplicas;
    }
    expect(replicas).toBe(1);
  });
});

describe('rates: what each replica was shown to do at least (perReplicaAtLeast)', () => {
  /** Readings every second: `ready` replicas completing `completedPerSecond` between them. */
  function observe(
    phases: Array<{ seconds: number; ready: number; completedPerSecond: number }>,
  ): Array<RateState | undefined> {
    let state: RateState | undefined;
    let t = 0;
    let done = 0;
    const states: Array<RateState | undefined> = [];
    for (const phase of phases) {
      for (let i = 0; i < phase.seconds; i++) {
        t++;
        done += phase.completedPerSecond;
        state = observeRates(state, sampleFromTotals(s(t), done + 4, done, 4), phase.ready);
        states.push(state);
      }
    }
    return states;
  }

  it('is learnt only once the ready count has held for LOWER_BOUND_SETTLE_SECONDS', () => {
    const states = observe([{ seconds: 60, ready: 3, completedPerSecond: 45 }]);
    expect(states[LOWER_BOUND_SETTLE_SECONDS - 2]?.perReplicaAtLeast).toBeUndefined();
    expect(states.at(-1)?.perReplicaAtLeast).toBeCloseTo(15, 5);
  });

  it('takes nothing from the replicas that left and still finish what they hold', () => {
    // 6 replicas did 60/s (10/s each); the count falls to 2 while the 4 leaving still finish work
    // for 20 s (60/s), then the 2 do 20/s. Divided by the 2 ready, those 20 s read 30/s each: more
    // than any replica did. Only the settled intervals count: 10/s.
    const states = observe([
      { seconds: 60, ready: 6, completedPerSecond: 60 },
      { seconds: 20, ready: 2, completedPerSecond: 60 },
      { seconds: 120, ready: 2, completedPerSecond: 20 },
    ]);
    for (const st of states) expect(st?.perReplicaAtLeast ?? 0).toBeLessThanOrEqual(10 + 1e-9);
    expect(states.at(-1)?.perReplicaAtLeast).toBeCloseTo(10, 5);
  });

  it('only rises, and divides by the replicas asked for when more were asked than ready', () => {
    let state: RateState | undefined;
    let done = 0;
    for (let t = 1; t <= 120; t++) {
      // 2 ready, 4 asked for (2 starting may consume already): 40/s is at least 10/s each.
      done += t <= 60 ? 40 : 4;
      state = observeRates(state, sampleFromTotals(s(t), done + 4, done, 4), 2, { askedReplicas: 4 });
    }
    expect(state?.perReplicaAtLeast).toBeCloseTo(10, 5);
  });
});
