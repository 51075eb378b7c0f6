// A consumer whose only replica hangs for good (decide.ts 3d, the spare replica): the process is alive and
// holds its messages, never acks or naks them; each ack_wait the server hands them back to the only
// member there is (a push deliver group of one, a pull client whose open request takes its own
// expired messages back), so redeliveries never stop, nothing completes, and the failing spell
// (rates.ts failingSince) lasts for ever. To the counters this is handlers that fail every message,
// where more replicas are wrong; so after FAILING_SPARE_AFTER_SECONDS of it, with work waiting, one
// replica is allowed beside those ready when the spell began — a spare — and no more in that spell.
import { decide } from './decide.js';
import { emptyHistory } from './index.js';
import { asRateState, FAILING_SPARE_AFTER_SECONDS } from './rates.js';
import { sample, T0 } from './test/fixtures.js';
import { natsPyPush, runScenario, type Reading } from './test/pull-clients.js';
import { withScalingDefaults } from './defaults.js';
import type { BacklogSample, ScalingDecision, ScalingHistory, ScalingInput } from './types.js';

const s = (seconds: number): number => T0 + seconds * 1000;
const spec = withScalingDefaults({ minReplicas: 1, maxReplicas: 50 });

/** The first reading HandlersFailing held replicas back at (the spell is on by then). */
const firstHeld = (readings: Reading[]): Reading | undefined =>
  readings.find((r) => r.decision.limitedBy === 'HandlersFailing');
/** The spell's start as the policy's own state says (rates.ts failingSince). */
const failingSinceOf = (r: Reading | undefined): number | undefined => {
  const since = asRateState(r?.decision.history.rates)?.failingSince;
  return since === undefined ? undefined : (since - T0) / 1000;
};

describe('decide: the only member of a push deliver group hangs for good (nats.py push, ack_wait 30 s)', () => {
  // 2/s arriving, 5/s handlers; the one pod's handler hangs at t = 120 s and never returns. Its
  // client keeps taking what the server pushes (max_ack_pending 1000), and every 30 s what it holds
  // runs out of ack_wait and is pushed back to it: redelivered, never completed.
  const readings = runScenario({
    client: natsPyPush,
    spec,
    maxAckPending: 1000,
    handlerPerSecond: 5,
    arrival: () => 2,
    initialReplicas: 1,
    initialPending: 0,
    startupSeconds: 15,
    durationSeconds: 1500,
    ackWaitSeconds: 30,
    pause: { at: 120, seconds: 1e9 },
  });
  const held = firstHeld(readings);
  const since = failingSinceOf(held);
  const probe = readings.find((r) => r.decision.desiredReplicas > 1);

  it('holds while the spell is younger than the bound, then adds exactly one spare replica', () => {
    // The spell begins once the first wave comes back (b16007a..7b9a82c: held at 1 for good while
    // the backlog grew to 2,761 by t = 1500 s).
    expect(since).toBeGreaterThan(120);
    expect(since).toBeLessThan(200);
    const before = readings.filter((r) => r.t < (since ?? 0) + FAILING_SPARE_AFTER_SECONDS);
    expect(Math.max(...before.map((r) => r.decision.desiredReplicas))).toBe(1);
    expect(before.filter((r) => r.decision.limitedBy === 'HandlersFailing').length).toBeGreaterThan(10);
    expect(probe?.t).toBeGreaterThanOrEqual((since ?? 0) + FAILING_SPARE_AFTER_SECONDS);
    expect(probe?.t).toBeLessThanOrEqual((since ?? 0) + FAILING_SPARE_AFTER_SECONDS + 10);
    expect(probe?.decision.desiredReplicas).toBe(2);
    expect(probe?.decision.limitedBy).toBe('HandlersFailing');
    expect(probe?.decision.reason).toContain('one replica is added beside it as a spare replica');
    expect(probe?.decision.reason).toContain('hung for good');
  });

  it('the spare replica completes what comes back to it: the spell ends, the backlog sizes the count again and drains', () => {
    const after = readings.filter((r) => r.t > (probe?.t ?? Infinity) + 60);
    expect(after.length).toBeGreaterThan(100);
    // Completions resume beside the hung pod (it keeps grabbing its share, and that share comes
    // back each ack_wait to a member that completes it).
    expect((after.at(-1)?.completed ?? 0) - (probe?.completed ?? 0)).toBeGreaterThan(1000);
    expect(Math.max(...after.map((r) => r.decision.desiredReplicas))).toBeGreaterThan(2);
    expect(after.at(-1)?.pending).toBe(0);
    expect(after.slice(-20).filter((r) => r.decision.limitedBy === 'HandlersFailing')).toEqual([]);
  });
});

describe('decide: every replica hangs (a downstream call without a timeout), the spare too', () => {
  // From t = 120 s no handler returns, in any pod, new ones included.
  const readings = runScenario({
    client: natsPyPush,
    spec,
    maxAckPending: 1000,
    handlerPerSecond: (t) => (t < 120 ? 5 : 0),
    arrival: () => 2,
    initialReplicas: 1,
    initialPending: 0,
    startupSeconds: 15,
    durationSeconds: 1800,
    ackWaitSeconds: 30,
  });
  it('one spare replica in the whole spell: held at 2 for the 20 minutes after it', () => {
    const since = failingSinceOf(firstHeld(readings)) ?? 0;
    const probe = readings.find((r) => r.decision.desiredReplicas > 1);
    expect(probe?.t).toBeGreaterThanOrEqual(since + FAILING_SPARE_AFTER_SECONDS);
    expect(Math.max(...readings.map((r) => r.decision.desiredReplicas))).toBe(2);
    expect(readings.at(-1)?.replicas).toBe(2);
    const last = readings.at(-1)?.decision;
    expect(last?.limitedBy).toBe('HandlersFailing');
    // The reason says a spare replica was added and why no more follow.
    expect(last?.reason).toContain(
      'is allowed as a spare replica, and with 2 running still nothing completes',
    );
    expect(last?.reason).toContain('no more in this spell');
  });
});

describe('decide: handlers that nak every message at once (true poison) get the bounded spare replica, then the hold', () => {
  // The cost accepted: to the counters a nak'd message and a message handed back to a hung member
  // look the same (redelivered, never completed), and a 5 s reading cannot tell a nak at once from
  // ack_wait 5 s. Holding for ever leaves a hung consumer's backlog growing without bound (the
  // day-one case above); one pod that fails the same messages a little faster, once per spell, is
  // the price of not doing so. No more than that: the count with the spare holds for the rest of the spell.
  /**
   * One replica at max_ack_pending 1000 on a push consumer, 2.5/s arriving, every message nak'd at
   * once: each 5 s reading shows 1000 redeliveries (delivered.consumer_seq jumps, stream_seq does
   * not) and nothing acknowledged. Handlers worked at 2/s before t = 0.
   */
  function run(
    seconds: number,
    from?: { history: ScalingHistory; replicas: number; at: number },
  ): {
    decisions: ScalingDecision[];
    history: ScalingHistory;
    replicas: number;
  } {
    let history = from?.history ?? emptyHistory();
    let replicas = from?.replicas ?? 1;
    const read = (t: number, counters: Partial<BacklogSample>, extra: Partial<ScalingInput> = {}) => {
      const d = decide({
        spec,
        sample: sample({ at: s(t), ackPending: 1000, maxAckPending: 1000, push: true, ...counters }),
        currentReplicas: replicas,
        readyReplicas: replicas,
        history,
        now: s(t),
        ...extra,
      });
      history = d.history;
      // The pod count follows the decisions once the handlers fail (the two readings before are a
      // warm-up at one replica, as retries-stopped.test's).
      if (t >= 0) replicas = d.desiredReplicas;
      return d;
    };
    if (from === undefined)
      for (const [t, acked] of [
        [-10, 4000],
        [-5, 4010],
      ] as const)
        read(t, {
          pending: 200,
          deliveredConsumerSeq: acked + 1000,
          deliveredStreamSeq: acked + 1000,
          ackFloorConsumerSeq: acked,
        });
    const start = from?.at ?? 0;
    const decisions: ScalingDecision[] = [];
    for (let t = start; t <= start + seconds; t += 5)
      decisions.push(
        read(t, {
          pending: 200 + Math.round(2.5 * t),
          redelivered: 1000,
          deliveredConsumerSeq: 5010 + 1000 * (t / 5 + 1),
          deliveredStreamSeq: 5010,
          ackFloorConsumerSeq: 4010,
        }),
      );
    return { decisions, history, replicas };
  }

  it('30 minutes of it: one spare replica at the bound, then 2 to the end', () => {
    const { decisions } = run(1800);
    // The spell began with the interval before t = 0 (the first that redelivered and completed
    // nothing), at t = -5 s: its age is in the rates, with the count it began with (status carries
    // both).
    expect(decisions[0]?.rates.handlersFailing).toEqual({ seconds: 5, replicas: 1 });
    expect(decisions.at(-1)?.rates.handlersFailing).toEqual({ seconds: 1805, replicas: 1 });
    const probe = decisions.findIndex((d) => d.desiredReplicas > 1);
    expect(decisions[probe]?.rates.handlersFailing?.seconds).toBe(FAILING_SPARE_AFTER_SECONDS);
    expect(Math.max(...decisions.map((d) => d.desiredReplicas))).toBe(2);
    expect(decisions.slice(probe).every((d) => d.desiredReplicas === 2)).toBe(true);
    expect(decisions.at(-1)?.limitedBy).toBe('HandlersFailing');
  });

  it('an operator restart mid-spell (or a new leader) takes the spell back from status: no second spare replica', () => {
    const before = run(600);
    expect(before.replicas).toBe(2);
    const spell = before.decisions.at(-1)?.rates.handlersFailing;
    expect(spell).toBeDefined();
    // A new process: its history empty, the spell carried as status shows it (seconds as of the
    // last reading, 5 s before this one).
    const carried = { since: s(600) - (spell?.seconds ?? 0) * 1000, replicas: spell?.replicas ?? 0 };
    let history = emptyHistory();
    let replicas = 2;
    const decisions: ScalingDecision[] = [];
    for (let t = 605; t <= 2400; t += 5) {
      const d = decide({
        spec,
        sample: sample({
          at: s(t),
          ackPending: 1000,
          maxAckPending: 1000,
          push: true,
          pending: 200 + Math.round(2.5 * t),
          redelivered: 1000,
          deliveredConsumerSeq: 5010 + 1000 * (t / 5 + 1),
          deliveredStreamSeq: 5010,
          ackFloorConsumerSeq: 4010,
        }),
        currentReplicas: replicas,
        readyReplicas: replicas,
        history,
        now: s(t),
        ...(t === 605 ? { carriedHandlersFailing: carried } : {}),
      });
      history = d.history;
      replicas = d.desiredReplicas;
      decisions.push(d);
    }
    expect(Math.max(...decisions.map((d) => d.desiredReplicas))).toBe(2);
    expect(decisions.at(-1)?.limitedBy).toBe('HandlersFailing');
    expect(decisions.at(-1)?.rates.handlersFailing?.replicas).toBe(1);
    // Without the carried spell (7b9a82c carried nothing of it) the new process's first reading
    // shows no interval, so no spell: the backlog alone sizes the count (28 here) before the next
    // interval holds it again; and the spell it then starts counts the spare among the replicas
    // it began with, so it would add another. The carry is what keeps the bound across restarts.
    history = emptyHistory();
    replicas = 2;
    let most = 0;
    for (let t = 605; t <= 2400; t += 5) {
      const d = decide({
        spec,
        sample: sample({
          at: s(t),
          ackPending: 1000,
          maxAckPending: 1000,
          push: true,
          pending: 200 + Math.round(2.5 * t),
          redelivered: 1000,
          deliveredConsumerSeq: 5010 + 1000 * (t / 5 + 1),
          deliveredStreamSeq: 5010,
          ackFloorConsumerSeq: 4010,
        }),
        currentReplicas: replicas,
        readyReplicas: replicas,
        history,
        now: s(t),
      });
      history = d.history;
      replicas = d.desiredReplicas;
      most = Math.max(most, replicas);
    }
    expect(most).toBeGreaterThan(2);
  });

  it('a carried spell ends at the first interval that completes something', () => {
    const before = run(600);
    const spell = before.decisions.at(-1)?.rates.handlersFailing;
    const carried = { since: s(600) - (spell?.seconds ?? 0) * 1000, replicas: spell?.replicas ?? 0 };
    const at = (t: number, acked: number, carry: boolean): ScalingInput => ({
      spec,
      sample: sample({
        at: s(t),
        ackPending: 1000,
        maxAckPending: 1000,
        push: true,
        pending: 2000,
        deliveredConsumerSeq: 9000 + acked,
        deliveredStreamSeq: 9000 + acked,
        ackFloorConsumerSeq: 8000 + acked,
      }),
      currentReplicas: 2,
      readyReplicas: 2,
      history: emptyHistory(),
      now: s(t),
      ...(carry ? { carriedHandlersFailing: carried } : {}),
    });
    const first = decide(at(605, 0, true));
    expect(first.rates.handlersFailing?.replicas).toBe(1);
    const second = decide({ ...at(610, 50, false), history: first.history });
    expect(second.rates.handlersFailing).toBeUndefined();
    expect(second.limitedBy).not.toBe('HandlersFailing');
  });
});

describe('decide: a paused process (SIGSTOP) that resumes before the bound never gets a spare replica', () => {
  // The one pod is stopped for 200 s (a debugger, a node under memory pressure, SIGSTOP): its
  // messages come back to it every 30 s meanwhile, then it completes again.
  const readings = runScenario({
    client: natsPyPush,
    spec,
    maxAckPending: 1000,
    handlerPerSecond: 5,
    arrival: () => 2,
    initialReplicas: 1,
    initialPending: 0,
    startupSeconds: 15,
    durationSeconds: 900,
    ackWaitSeconds: 30,
    pause: { at: 120, seconds: 200 },
  });
  it('held at 1 while it is stopped, no spare replica added, and the spell ends once it resumes', () => {
    const during = readings.filter((r) => r.t >= 120 && r.t < 320);
    expect(during.some((r) => r.decision.limitedBy === 'HandlersFailing')).toBe(true);
    expect(Math.max(...during.map((r) => r.decision.desiredReplicas))).toBe(1);
    // The hold says a spare replica would come at the bound; none says one is added.
    expect(during.some((r) => r.decision.reason.includes(`if this lasts 300s`))).toBe(true);
    expect(readings.filter((r) => r.decision.reason.includes('no more in this spell'))).toEqual([]);
    const after = readings.filter((r) => r.t >= 400);
    expect(after.filter((r) => asRateState(r.decision.history.rates)?.failingSince !== undefined)).toEqual(
      [],
    );
  });
});
