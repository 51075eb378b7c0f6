// Specifies the decide step on its own: a pure verdict from (spec, backlog reading, scale target,
// memory, now), with the policy passed in — the fallback state machine, pause, and the seeding of
// a new leader's stabilization window.
import {
  consumersOf,
  parseEventConsumerSpec,
  type ConsumerSpec,
  type EventConsumerSpec,
} from '../api/v1alpha1/event-consumer.js';
import { BacklogError } from '../backlog/backlog-error.js';
import type { BacklogReading } from '../backlog/backlog-source.js';
import { decide as policyDecide, emptyHistory } from '../scaling/index.js';
import type { BacklogSample, ScalingInput } from '../scaling/types.js';
import type { ScalingMemory } from './consumer-state.js';
import {
  decide,
  decideAll,
  fallbackOutageSeconds,
  FALLBACK_MIN_OUTAGE_SECONDS,
  type DecideAllInput,
  type DecideInput,
  type Verdict,
} from './decide.js';

function specOf(extra: Record<string, unknown> = {}): EventConsumerSpec {
  const parsed = parseEventConsumerSpec({
    scaleTargetRef: { name: 'worker' },
    nats: { servers: ['nats://x:4222'], stream: 'S', consumer: 'c' },
    ...extra,
  });
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  return parsed.spec;
}

function sample(pending: number): BacklogSample {
  return {
    at: 0,
    pending,
    ackPending: 0,
    redelivered: 0,
    waiting: 0,
    deliveredConsumerSeq: 0,
    deliveredStreamSeq: 0,
    ackFloorConsumerSeq: 0,
    maxAckPending: 1000,
  };
}

const fresh = (): ScalingMemory => ({
  history: emptyHistory(),
  failures: 0,
  fallbackActive: false,
  seeded: false,
});
const unreachable: BacklogReading = { ok: false, error: new BacklogError('Unreachable', 'no NATS') };

/** A run of failed reads that began `seconds` before input()'s now (none counted yet). */
function failingFor(seconds: number): ScalingMemory {
  return { ...fresh(), failingSince: 1_000_000 - seconds * 1000 };
}

/** Failed polls at the given seconds after 1_000_000 ms, each verdict's memory carried to the next. */
function failedPolls(spec: EventConsumerSpec, seconds: number[], readings?: BacklogReading[]): Verdict[] {
  let memory = fresh();
  return seconds.map((t, i) => {
    const backlog = readings?.[i] ?? unreachable;
    const v = decide(input({ spec, backlog, memory, now: 1_000_000 + t * 1000 }));
    memory = v.memory;
    return v;
  });
}

function input(over: Partial<DecideInput>): DecideInput {
  return {
    spec: specOf(),
    backlog: { ok: true, sample: sample(0) },
    scale: { specReplicas: 2, statusReplicas: 2, readyReplicas: 2, resourceVersion: '1' },
    memory: fresh(),
    now: 1_000_000,
    policy: policyDecide,
    ...over,
  };
}

describe('decide (the reconcile step)', () => {
  it('asks for the change the policy recommends and remembers the policy history', () => {
    const v = decide(input({ backlog: { ok: true, sample: sample(450) } }));
    expect(v.change).toEqual({ from: 2, to: 5 });
    expect(v.memory.seeded).toBe(true);
    expect(v.memory.history.recommendations.length).toBeGreaterThan(0);
    expect(v.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
  });

  it('says in StreamFull when the stream is at its limit with the consumer behind, and what to change', () => {
    const full: BacklogSample = {
      ...sample(50),
      ackPending: 150,
      streamLimit: { discard: 'new', maxMsgs: 200, messages: 200, bytes: 9800 },
    };
    const v = decide(input({ backlog: { ok: true, sample: full } }));
    expect(v.conditions.find((c) => c.type === 'StreamFull')).toMatchObject({
      status: 'True',
      reason: 'StreamRefusingMessages',
      message: expect.stringContaining('raise the stream'),
    });
    const dropping = decide(
      input({
        backlog: {
          ok: true,
          sample: { ...full, streamLimit: { discard: 'old', maxMsgs: 200, messages: 200 } },
        },
      }),
    );
    expect(dropping.conditions.find((c) => c.type === 'StreamFull')).toMatchObject({
      status: 'True',
      reason: 'StreamDroppingMessages',
    });
    const below = decide(input({ backlog: { ok: true, sample: sample(50) } }));
    expect(below.conditions.find((c) => c.type === 'StreamFull')).toMatchObject({
      status: 'False',
      reason: 'BelowStreamLimits',
    });
    const failed = decide(input({ backlog: unreachable }));
    expect(failed.conditions.find((c) => c.type === 'StreamFull')?.status).toBe('Unknown');
  });

  it('warns once when messages reach max_age in the handlers themselves (HandlingNearMaxAge)', () => {
    const near =
      (started: boolean): DecideInput['policy'] =>
      (i) => ({
        ...policyDecide(i),
        handlingNearMaxAge: {
          seconds: 3.1,
          maxAgeSeconds: 3,
          message: "raise the stream's max_age, shorten the handler",
          started,
        },
      });
    const first = decide(input({ backlog: { ok: true, sample: sample(5) }, policy: near(true) }));
    expect(first.events).toEqual([
      {
        type: 'Warning',
        reason: 'HandlingNearMaxAge',
        message: 'consumer "c" on stream "S": raise the stream\'s max_age, shorten the handler',
        // Sent once per interval (the recorder's), however its figures move or it flickers.
        repeatKey: 'handling-near-max-age',
      },
    ]);
    const next = decide(
      input({
        backlog: { ok: true, sample: { ...sample(5), at: 1000 } },
        memory: first.memory,
        now: 1_001_000,
        policy: near(false),
      }),
    );
    expect(next.events).toEqual([]);
  });

  it('warns when handlers are found slower than max_age (HandlersSlowerThanMaxAge), and holds the count', () => {
    const beyond =
      (started: boolean): DecideInput['policy'] =>
      (i) => {
        const d = policyDecide(i);
        return {
          ...d,
          desiredReplicas: 2,
          recommendedReplicas: 3,
          limitedBy: 'HandlersSlowerThanMaxAge',
          reason: 'no replicas added: handlers take longer than the stream’s max_age',
          handlersSlowerThanMaxAge: {
            since: 0,
            replicas: 2,
            maxAgeSeconds: 3,
            message: "handlers take longer than the stream's max_age (3s): more replicas cannot help",
            started,
          },
        };
      };
    const first = decide(input({ backlog: { ok: true, sample: sample(5) }, policy: beyond(true) }));
    expect(first.change).toBeUndefined();
    expect(first.events).toEqual([
      {
        type: 'Warning',
        reason: 'HandlersSlowerThanMaxAge',
        message:
          'consumer "c" on stream "S": handlers take longer than the stream\'s max_age (3s): more replicas cannot help',
        repeatKey: 'handlers-slower-than-max-age',
      },
    ]);
    expect(first.conditions.find((c) => c.type === 'ScalingLimited')).toMatchObject({
      status: 'True',
      reason: 'HandlersSlowerThanMaxAge',
      message: expect.stringContaining('3 replicas recommended, 2 allowed'),
    });
    const next = decide(
      input({
        backlog: { ok: true, sample: { ...sample(5), at: 1000 } },
        memory: first.memory,
        now: 1_001_000,
        policy: beyond(false),
      }),
    );
    expect(next.events).toEqual([]);
  });

  it('reports the policy’s activity in the Active condition: flowing deliveries at backlog 0', () => {
    const first = decide(input({ backlog: { ok: true, sample: sample(0) } }));
    const flowing = { ...sample(0), at: 5000, deliveredConsumerSeq: 250, deliveredStreamSeq: 250 };
    const v = decide(input({ backlog: { ok: true, sample: flowing }, memory: first.memory, now: 1_005_000 }));
    expect(v.conditions.find((c) => c.type === 'Active')).toEqual({
      type: 'Active',
      status: 'True',
      reason: 'MessagesDelivered',
      message: '250 messages were delivered since the previous reading 5s before',
    });
  });

  it('seeds a new leader’s window with the current size (so it does not scale down at once)', () => {
    const seen: ScalingInput[] = [];
    decide(
      input({
        policy: (i) => {
          seen.push(i);
          return policyDecide(i);
        },
      }),
    );
    expect(seen[0]?.history.recommendations).toEqual([{ at: 1_000_000, replicas: 2 }]);
  });

  it('a new leader holds a scale-down until the longest scale-down period has passed since the last scale before it', () => {
    // 1 pod per 20 s down, a 3 s window; the last scale was 5 s before this process's first poll.
    const spec = specOf({
      behavior: {
        scaleDown: { stabilizationWindow: '3s', policies: [{ type: 'Pods', value: 1, period: '20s' }] },
      },
    });
    const now = 1_000_000;
    const scale = { specReplicas: 4, statusReplicas: 4, readyReplicas: 4, resourceVersion: '1' };
    const first = decide(input({ spec, scale, now, lastScaleAt: now - 5_000 }));
    expect(first.change).toBeUndefined();
    expect(first.memory.scaleDownHoldUntil).toBe(now + 15_000);
    // Past the seeded 3 s window, still inside the period: held, and said so; no scale event kept.
    const held = decide(input({ spec, scale, now: now + 10_000, memory: first.memory }));
    expect(held.change).toBeUndefined();
    expect(held.memory.history.scaleEvents).toEqual([]);
    expect(held.conditions.find((c) => c.type === 'ScalingLimited')).toMatchObject({
      status: 'True',
      reason: 'StepPolicy',
    });
    expect(held.why).toMatch(/scaled before this process started/);
    // The period over: the step down comes, and the hold is forgotten.
    const after = decide(input({ spec, scale, now: now + 15_000, memory: held.memory }));
    expect(after.change).toEqual({ from: 4, to: 3 });
    expect(after.memory.scaleDownHoldUntil).toBeUndefined();
  });

  it('the hold never keeps replicas above maxReplicas (a lowered bound, a recreated object)', () => {
    // recreate.int failed CI on this: the Deployment scaled to 5 for an object deleted and made
    // again with maxReplicas 3 stayed at 5 — the new object's first poll saw the scale a moment
    // before and held every scale-down, the bound's too.
    const now = 1_000_000;
    const spec = specOf({ maxReplicas: 3 });
    const scale = { specReplicas: 5, statusReplicas: 5, readyReplicas: 5, resourceVersion: '1' };
    const busy = { ok: true as const, sample: sample(900) };
    const v = decide(input({ spec, scale, now, lastScaleAt: now - 1_000, backlog: busy }));
    expect(v.change).toEqual({ from: 5, to: 3 });
    // Within the bound the hold still keeps what the target has.
    const idle = decide(input({ spec: specOf({ maxReplicas: 8 }), scale, now, lastScaleAt: now - 1_000 }));
    expect(idle.change).toBeUndefined();
    expect(idle.memory.scaleDownHoldUntil).toBeGreaterThan(now);
  });

  it('a target come back to after a rename is judged on its own record: window seeded, no restart hold', () => {
    // 1 pod per 20 s down, a 3 s window. The target stepped 5 -> 4 at now - 5 s (its own record,
    // kept by switchTarget); the status's last scale (lastScaleAt) says "just now".
    const spec = specOf({
      behavior: {
        scaleDown: { stabilizationWindow: '3s', policies: [{ type: 'Pods', value: 1, period: '20s' }] },
      },
    });
    const now = 1_000_000;
    const scale = { specReplicas: 4, statusReplicas: 4, readyReplicas: 4, resourceVersion: '1' };
    const memory: ScalingMemory = {
      ...fresh(),
      history: {
        ...emptyHistory(),
        recommendations: [{ at: now - 5_000, replicas: 4 }],
        scaleEvents: [{ at: now - 5_000, from: 5, to: 4 }],
      },
      returned: true,
    };
    const seen: ScalingInput[] = [];
    const first = decide(
      input({
        spec,
        scale,
        now,
        memory,
        lastScaleAt: now,
        policy: (i) => {
          seen.push(i);
          return policyDecide(i);
        },
      }),
    );
    // Its own recommendations, and its size now (it was not watched meanwhile).
    expect(seen[0]?.history.recommendations).toEqual([
      { at: now - 5_000, replicas: 4 },
      { at: now, replicas: 4 },
    ]);
    expect(seen[0]?.history.scaleEvents).toEqual([{ at: now - 5_000, from: 5, to: 4 }]);
    // No hold made up from lastScaleAt (it would run to now + 20 s); returned is dropped.
    expect(first.memory.scaleDownHoldUntil).toBeUndefined();
    expect(first.memory.returned).toBeUndefined();
    expect(first.change).toBeUndefined();
    // Its own period ends 20 s after its own step: the next step comes then, not 20 s from now.
    const next = decide(input({ spec, scale, now: now + 15_000, memory: first.memory }));
    expect(next.change).toEqual({ from: 4, to: 3 });
  });

  it('no hold without a scale in the period, and never one on scale-up', () => {
    const now = 1_000_000;
    const old = decide(input({ now, lastScaleAt: now - 60_000 }));
    expect(old.memory.scaleDownHoldUntil).toBeUndefined();
    const up = decide(input({ now, lastScaleAt: now - 1_000, backlog: { ok: true, sample: sample(900) } }));
    expect(up.change).toEqual({ from: 2, to: 9 });
  });

  it('while paused reports the desired size but asks for no change and records no scale event', () => {
    const memory = { ...fresh(), seeded: true };
    const v = decide(
      input({ spec: specOf({ paused: true }), memory, backlog: { ok: true, sample: sample(900) } }),
    );
    expect(v.desired).toBe(9);
    expect(v.change).toBeUndefined();
    expect(v.why).toMatch(/^paused: would scale from 2 to 9/);
    expect(v.memory.history.scaleEvents).toBe(memory.history.scaleEvents);
    expect(v.memory.history.samples).toHaveLength(1);
  });

  it('while paused the rates follow the readings, so they are right when it resumes (issue 10, item 4)', () => {
    // Paused with a standing backlog (the policy would scale, so no change is made), polled every
    // 5 s for 5 min: 100/s arrive for 4 min, then 10/s; 2 replicas complete 10/s. Before, the
    // history was kept as it was before the pause, so every poll measured from that one reading:
    // 82/s (the average since the pause) at resumption instead of ~10/s.
    const spec = specOf({ paused: true });
    let memory: ScalingMemory = { ...fresh(), seeded: true };
    let arrived = 900;
    let completed = 0;
    // The poll before the pause (its change to 9 is recorded as made; the target stays at 2).
    let v = decide(input({ spec: specOf(), memory, backlog: { ok: true, sample: sample(900) }, now: 0 }));
    const before = v.memory.history.scaleEvents;
    for (let t = 5; t <= 300; t += 5) {
      arrived += (t <= 240 ? 100 : 10) * 5;
      completed += 10 * 5;
      const reading: BacklogSample = {
        ...sample(arrived - completed),
        at: t * 1000,
        deliveredConsumerSeq: completed,
        deliveredStreamSeq: completed,
        ackFloorConsumerSeq: completed,
      };
      memory = v.memory;
      v = decide(input({ spec, memory, backlog: { ok: true, sample: reading }, now: t * 1000 }));
      expect(v.change).toBeUndefined();
    }
    expect(v.read?.decision.rates.arrivalPerSecond).toBeGreaterThan(9);
    expect(v.read?.decision.rates.arrivalPerSecond).toBeLessThan(12);
    expect(v.memory.history.scaleEvents).toEqual(before);
    // Resumed: the first poll sizes from the same, current rates.
    const resumed = decide(
      input({
        spec: specOf(),
        memory: v.memory,
        backlog: { ok: true, sample: { ...(v.read?.sample ?? sample(0)), at: 305_000 } },
        now: 305_000,
      }),
    );
    expect(resumed.read?.decision.rates.arrivalPerSecond).toBeLessThan(12);
  });

  it('counts unreachable polls, holds replicas until the threshold, then holds fallback.replicas once', () => {
    // Polls 20 s apart (pollInterval 20s): two failed polls span one interval, the time fallback needs.
    const spec = specOf({ pollInterval: '20s', fallback: { failureThreshold: 2, replicas: 7 } });
    const first = decide(input({ spec, backlog: unreachable }));
    expect(first.change).toBeUndefined();
    expect(first.memory).toMatchObject({ failures: 1, fallbackActive: false, failingSince: 1_000_000 });
    const second = decide(input({ spec, backlog: unreachable, memory: first.memory, now: 1_020_000 }));
    expect(second.change).toEqual({ from: 2, to: 7 });
    expect(second.events.map((e) => e.reason)).toEqual(['FallbackStarted', 'NatsUnreachable']);
    const third = decide(
      input({
        spec,
        backlog: unreachable,
        memory: second.memory,
        scale: { specReplicas: 7, statusReplicas: 7, resourceVersion: '2' },
        now: 1_040_000,
      }),
    );
    expect(third.events.map((e) => e.reason)).toEqual(['NatsUnreachable']);
    const back = decide(input({ spec, memory: third.memory, now: 1_060_000 }));
    expect(back.events.map((e) => e.reason)).toEqual(['FallbackEnded']);
    expect(back.memory).toMatchObject({ failures: 0, fallbackActive: false });
    expect(back.memory.failingSince).toBeUndefined();
  });

  // At 1 s polls, stopping one node of a 3-node cluster left CONSUMER.INFO unanswered for ~6 s (a
  // JetStream leader election) and failureThreshold 3 fell back after 3 s. And a threshold counted
  // in polls fell back sooner than failureThreshold poll intervals when watch events brought polls
  // in between. Before: fallback at the third failed poll in both cases.
  it('falls back only after the failed reads span the threshold in time, at least an election long', () => {
    expect(fallbackOutageSeconds(specOf({ pollInterval: '1s' }))).toBe(FALLBACK_MIN_OUTAGE_SECONDS);
    expect(fallbackOutageSeconds(specOf({ pollInterval: '5s' }))).toBe(20);
    expect(fallbackOutageSeconds(specOf({ pollInterval: '30s' }))).toBe(60);
    // 30 s polls, threshold 3, and watch events bring three failed polls within 2 s: not yet 60 s.
    const slow = specOf({ pollInterval: '30s', fallback: { failureThreshold: 3, replicas: 7 } });
    const burst = failedPolls(slow, [0, 1, 2, 30, 60]);
    expect(burst.map((v) => v.desired)).toEqual([2, 2, 2, 2, 7]);
  });

  // An election with a split vote (nats-server raft.go: the first campaign up to 9 s after the
  // leader's last heartbeat, both survivors campaign at once, each a candidate again after a new
  // random 4–9 s): failed reads for up to ~18 s, timeouts first, then "no leader" answers. Before
  // (10 s floor): fallback.replicas at the 10th second of a routine rolling restart.
  it('holds through an election with a split vote (18 s of failed reads), falls back at 20 s', () => {
    const noLeader: BacklogReading = {
      ok: false,
      error: new BacklogError('Unreachable', 'JetStream at n2 has no leader for consumer "c" right now'),
    };
    const seconds = Array.from({ length: 21 }, (_, i) => i);
    const readings = seconds.map((t) => (t < 9 ? unreachable : noLeader));
    // 1 s polls, threshold 3.
    const fast = specOf({ pollInterval: '1s', fallback: { failureThreshold: 3, replicas: 7 } });
    const election = failedPolls(fast, seconds, readings);
    expect(election.slice(0, 20).map((v) => v.desired)).toEqual(Array(20).fill(2));
    expect(election[18]?.conditions.find((c) => c.type === 'Fallback')).toMatchObject({
      status: 'False',
      reason: 'BelowFailureThreshold',
      message: expect.stringMatching(
        /^19 of 3 failed polls, over 18s of 20s, before fallback.replicas 7/,
      ) as unknown,
    });
    expect(election[20]?.change).toEqual({ from: 2, to: 7 });
    expect(election[20]?.events.map((e) => e.reason)).toEqual(['FallbackStarted', 'NatsUnreachable']);
    // The defaults (5 s polls, threshold 3): 3 failed polls span 10 s, held until 20 s.
    const defaults = specOf({ fallback: { replicas: 7 } });
    const atDefaults = failedPolls(defaults, [0, 5, 10, 15, 20]);
    expect(atDefaults.map((v) => v.desired)).toEqual([2, 2, 2, 2, 7]);
  });

  it('counts the fallback’s change in the step policies’ record, as a change from the backlog (one consumer as several)', () => {
    // At most 2 pods added per 60 s. Fallback raised 2 to 10 a second before the backlog is read
    // again: those 8 are this period's additions, so the reading needing 20 adds none yet. Before,
    // a one-consumer EventConsumer's fallback left no scale event and the policy added 2 at once.
    const spec = specOf({
      maxReplicas: 30,
      fallback: { failureThreshold: 1, replicas: 10 },
      behavior: {
        scaleUp: { stabilizationWindow: '0s', policies: [{ type: 'Pods', value: 2, period: '60s' }] },
      },
    });
    const at = (n: number) => ({
      specReplicas: n,
      statusReplicas: n,
      readyReplicas: n,
      resourceVersion: String(n),
    });
    const t0 = 1_000_000;
    const one = (over: Partial<DecideAllInput>, memory: ScalingMemory) =>
      decideAll({
        spec,
        readings: [{ consumer: consumersOf(spec)[0] as ConsumerSpec, backlog: unreachable }],
        scale: at(2),
        memories: { [consumersOf(spec)[0]?.name ?? '']: memory },
        now: t0,
        policy: policyDecide,
        ...over,
      });
    const name = consumersOf(spec)[0]?.name ?? '';
    const read = one(
      {
        now: t0 - 21_000,
        readings: [
          { consumer: consumersOf(spec)[0] as ConsumerSpec, backlog: { ok: true, sample: sample(150) } },
        ],
      },
      fresh(),
    );
    expect(read.change).toBeUndefined();
    // The first failed read holds (fallback needs its reads failing for 20 s), the next falls back.
    const failed = one({ now: t0 - 20_000 }, read.memories[name] as ScalingMemory);
    expect(failed.change).toBeUndefined();
    const fallback = one({ now: t0 + 1000 }, failed.memories[name] as ScalingMemory);
    expect(fallback.change).toEqual({ from: 2, to: 10 });
    expect(fallback.memories[name]?.history.scaleEvents).toEqual([{ at: t0 + 1000, from: 2, to: 10 }]);
    const back = one(
      {
        now: t0 + 2000,
        scale: at(10),
        readings: [
          { consumer: consumersOf(spec)[0] as ConsumerSpec, backlog: { ok: true, sample: sample(2000) } },
        ],
      },
      fallback.memories[name] as ScalingMemory,
    );
    expect(back.desired).toBe(10);
    expect(back.change).toBeUndefined();
  });

  it('skips a poll refused because NATS is busy: no failure counted, no fallback, none reset', () => {
    // A slow server is not a dead one (the read was not even sent): threshold 1 would start
    // fallback at the first counted failure.
    const busy: BacklogReading = { ok: false, error: new BacklogError('Busy', 'NATS at x is slow') };
    const spec = specOf({ fallback: { failureThreshold: 1, replicas: 7 } });
    const skipped = decide(input({ spec, backlog: busy, memory: { ...fresh(), failures: 0 } }));
    expect(skipped.change).toBeUndefined();
    expect(skipped.memory).toMatchObject({ failures: 0, fallbackActive: false });
    expect(skipped.errorReason).toBe('NatsBusy');
    expect(skipped.conditions.find((c) => c.type === 'Fallback')).toMatchObject({
      status: 'False',
      reason: 'NatsBusy',
      message: expect.stringContaining('does not count toward fallback') as unknown,
    });
    // Already in fallback (the server was dead, now it is back but slow): fallback holds on.
    const dead = decide(input({ spec, backlog: unreachable, memory: failingFor(60) }));
    expect(dead.change).toEqual({ from: 2, to: 7 });
    const held = decide(
      input({
        spec,
        backlog: busy,
        memory: dead.memory,
        scale: { specReplicas: 7, statusReplicas: 7, resourceVersion: '2' },
      }),
    );
    expect(held.change).toBeUndefined();
    expect(held.memory).toMatchObject({ failures: 1, fallbackActive: true });
    expect(held.conditions.find((c) => c.type === 'Fallback')?.status).toBe('True');
    expect(held.events.map((e) => e.reason)).toEqual(['NatsBusy']);
  });

  it('pausedReplicas sets the target to the count once, then holds it whatever the backlog', () => {
    const memory = { ...fresh(), seeded: true };
    const spec = specOf({ pausedReplicas: 4 });
    const v = decide(input({ spec, memory, backlog: { ok: true, sample: sample(5000) } }));
    expect(v.change).toEqual({ from: 2, to: 4 });
    expect(v.desired).toBe(4);
    expect(v.memory.history.scaleEvents).toBe(memory.history.scaleEvents);
    expect(v.conditions.find((c) => c.type === 'Paused')).toMatchObject({
      status: 'True',
      reason: 'PausedAtReplicas',
    });
    const held = decide(
      input({
        spec,
        memory,
        scale: { specReplicas: 4, statusReplicas: 4, resourceVersion: '1' },
        backlog: { ok: true, sample: sample(0) },
      }),
    );
    expect(held.change).toBeUndefined();
    expect(held.why).toMatch(/^paused at pausedReplicas 4/);
    // Also during an outage: the pause wins over fallback.
    const outage = decide(
      input({
        spec: specOf({ pausedReplicas: 4, fallback: { failureThreshold: 1, replicas: 9 } }),
        backlog: unreachable,
      }),
    );
    expect(outage.change).toEqual({ from: 2, to: 4 });
  });

  it.each([
    ['Static', 2, 7, 7],
    ['Static', 12, 7, 7],
    ['CurrentReplicasIfHigher', 2, 7, 7],
    ['CurrentReplicasIfHigher', 12, 7, 12],
    ['CurrentReplicasIfLower', 2, 7, 2],
    ['CurrentReplicasIfLower', 12, 7, 7],
  ])(
    'fallback.behavior %s with %i current and fallback.replicas %i holds %i',
    (behavior, current, replicas, want) => {
      const spec = specOf({ maxReplicas: 20, fallback: { failureThreshold: 1, replicas, behavior } });
      const v = decide(
        input({
          spec,
          backlog: unreachable,
          memory: failingFor(60),
          scale: { specReplicas: current, statusReplicas: current, resourceVersion: '1' },
        }),
      );
      expect(v.desired).toBe(want);
      expect(v.conditions.find((c) => c.type === 'Fallback')).toMatchObject({ status: 'True' });
      expect(v.change).toEqual(want === current ? undefined : { from: current, to: want });
    },
  );

  it('keeps the target within minReplicas and maxReplicas when the backlog cannot be read', () => {
    // A bound changed during a NATS outage applies at once, as the HPA's does without metrics.
    const over = { specReplicas: 7, statusReplicas: 7, readyReplicas: 7, resourceVersion: '1' };
    const capped = decide(input({ spec: specOf({ maxReplicas: 4 }), scale: over, backlog: unreachable }));
    expect(capped.change).toEqual({ from: 7, to: 4 });
    expect(capped.why).toMatch(/capped by maxReplicas 4/);
    // A fallback that keeps a higher current count (CurrentReplicasIfHigher) is capped too.
    const spec = specOf({
      maxReplicas: 5,
      fallback: { replicas: 3, failureThreshold: 1, behavior: 'CurrentReplicasIfHigher' },
    });
    const fallback = decide(input({ spec, scale: over, backlog: unreachable, memory: failingFor(60) }));
    expect(fallback.change).toEqual({ from: 7, to: 5 });
    const under = decide(input({ spec: specOf({ minReplicas: 3 }), backlog: unreachable }));
    expect(under.change).toEqual({ from: 2, to: 3 });
    // At zero it stays at zero (scaled to zero, or missingConsumer Hold).
    const zero = { specReplicas: 0, statusReplicas: 0, readyReplicas: 0, resourceVersion: '1' };
    expect(
      decide(input({ spec: specOf({ minReplicas: 3 }), scale: zero, backlog: unreachable })).change,
    ).toBeUndefined();
  });

  it('never counts a missing consumer toward fallback', () => {
    const spec = specOf({ fallback: { failureThreshold: 1, replicas: 9 } });
    const missing: BacklogReading = { ok: false, error: new BacklogError('ConsumerNotFound', 'no consumer') };
    const v = decide(input({ spec, backlog: missing }));
    expect(v.change).toBeUndefined();
    expect(v.conditions.find((c) => c.type === 'Fallback')?.reason).toBe('NotApplicable');
  });
});

describe('decide when the consumer does not exist', () => {
  const missing: BacklogReading = {
    ok: false,
    error: new BacklogError('ConsumerNotFound', 'consumer "c" does not exist on stream "S"'),
  };
  const at = (replicas: number) => ({
    specReplicas: replicas,
    statusReplicas: replicas,
    resourceVersion: '1',
  });

  it('by default runs max(minReplicas, 1) so an application that creates its own durable can start', () => {
    const zero = decide(input({ spec: specOf({ minReplicas: 0 }), backlog: missing, scale: at(0) }));
    expect(zero.change).toEqual({ from: 0, to: 1 });
    expect(zero.why).toContain('so the application can create it');
    const two = decide(input({ spec: specOf({ minReplicas: 2 }), backlog: missing, scale: at(0) }));
    expect(two.change).toEqual({ from: 0, to: 2 });
  });

  it('never raises replicas above that floor, nor lowers them', () => {
    for (const replicas of [1, 5]) {
      const v = decide(
        input({ spec: specOf({ minReplicas: 0, maxReplicas: 10 }), backlog: missing, scale: at(replicas) }),
      );
      expect(v.change).toBeUndefined();
    }
  });

  it('with missingConsumer Hold leaves a workload at zero alone', () => {
    const v = decide(
      input({ spec: specOf({ minReplicas: 0, missingConsumer: 'Hold' }), backlog: missing, scale: at(0) }),
    );
    expect(v.change).toBeUndefined();
    expect(v.conditions.find((c) => c.type === 'Ready')?.reason).toBe('ConsumerNotFound');
  });

  it('does not start replicas while paused', () => {
    const v = decide(
      input({ spec: specOf({ minReplicas: 0, paused: true }), backlog: missing, scale: at(0) }),
    );
    expect(v.change).toBeUndefined();
  });
});

describe('decideAll (several consumers)', () => {
  const twoSpec = (extra: Record<string, unknown> = {}): EventConsumerSpec => {
    const parsed = parseEventConsumerSpec({
      scaleTargetRef: { name: 'worker' },
      consumers: [
        { name: 'orders', servers: ['nats://a:4222'], stream: 'ORDERS', consumer: 'w' },
        { name: 'refunds', servers: ['nats://b:4222'], stream: 'REFUNDS', consumer: 'w' },
      ],
      ...extra,
    });
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    return parsed.spec;
  };
  const [orders, refunds] = consumersOf(twoSpec()) as [ConsumerSpec, ConsumerSpec];
  const scaleAt = (n: number): DecideAllInput['scale'] => ({
    specReplicas: n,
    statusReplicas: n,
    readyReplicas: n,
    resourceVersion: '1',
  });
  const all = (a: BacklogReading, b: BacklogReading, over: Partial<DecideAllInput> = {}): DecideAllInput => ({
    spec: twoSpec(),
    readings: [
      { consumer: orders, backlog: a },
      { consumer: refunds, backlog: b },
    ],
    scale: scaleAt(2),
    memories: {},
    now: 1_000_000,
    policy: policyDecide,
    ...over,
  });
  const read = (pending: number): BacklogReading => ({ ok: true, sample: sample(pending) });

  it('reports replicas that do not become ready once for the target, not once per consumer', () => {
    const spec = twoSpec({ behavior: { readinessDeadline: '30s' } });
    let memories: DecideAllInput['memories'] = {};
    let v = decideAll(all(read(400), read(400), { spec, scale: { ...scaleAt(4), readyReplicas: 0 } }));
    for (let t = 1; t <= 31; t++) {
      v = decideAll(
        all(
          { ok: true, sample: { ...sample(400), at: 1_000_000 + t * 1000 } },
          { ok: true, sample: { ...sample(400), at: 1_000_000 + t * 1000 } },
          { spec, scale: { ...scaleAt(4), readyReplicas: 0 }, memories, now: 1_000_000 + t * 1000 },
        ),
      );
      memories = v.memories;
      // The first reading is at 1 s: overdue from 31 s, reported once, at that poll.
      if (t < 31) expect(v.events).toEqual([]);
    }
    expect(v.events.filter((e) => e.reason === 'ReplicasNotReady')).toEqual([
      expect.objectContaining({
        type: 'Warning',
        message: expect.stringMatching(/^4 of 4 replicas asked for/),
      }),
    ]);
    expect(v.conditions.filter((c) => c.type === 'ReplicasReady')).toEqual([
      expect.objectContaining({ status: 'False', reason: 'ReplicasNotReady' }),
    ]);
  });

  it('scales to the largest need and records the one change in every consumer’s history', () => {
    const v = decideAll(all(read(450), read(900)));
    expect(v.consumers.map((c) => c.verdict.desired)).toEqual([5, 9]);
    expect(v.desired).toBe(9);
    expect(v.change).toEqual({ from: 2, to: 9 });
    expect(v.why).toMatch(/^consumer refunds needs the most \(orders 5, refunds 9\)/);
    // Both step-policy histories count the change made (2 → 9), not the one each asked for.
    expect(v.memories.orders?.history.scaleEvents).toEqual([{ at: 1_000_000, from: 2, to: 9 }]);
    expect(v.memories.refunds?.history.scaleEvents).toEqual([{ at: 1_000_000, from: 2, to: 9 }]);
    expect(v.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'Scaling' });
  });

  it('is exactly decide for one consumer', () => {
    const spec = specOf();
    const [only] = consumersOf(spec) as [ConsumerSpec];
    const v = decideAll({
      ...all(read(450), read(0)),
      spec,
      readings: [{ consumer: only, backlog: read(450) }],
    });
    const one = decide(input({ backlog: read(450) }));
    expect(v.desired).toBe(one.desired);
    expect(v.change).toEqual(one.change);
    expect(v.conditions).toEqual(one.conditions);
    expect(v.memories).toEqual({ c: one.memory });
  });

  it('with one of two unreadable still scales up for the other, never down', () => {
    const up = decideAll(all(unreachable, read(900)));
    expect(up.desired).toBe(9);
    expect(up.errorReason).toBe('NatsUnreachable');
    const ready = up.conditions.find((c) => c.type === 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'NatsUnreachable' });
    expect(ready?.message).toMatch(/^1 of 2 consumers could not be read \(orders\)/);
    // The readable one needs 1, the unreadable one's need is unknown: 6 replicas stay.
    const seeded = { refunds: { ...fresh(), seeded: true } };
    const fast = twoSpec({
      behavior: {
        scaleDown: { stabilizationWindow: '0s', policies: [{ type: 'Percent', value: 100, period: '15s' }] },
      },
    });
    const down = decideAll(all(unreachable, read(0), { spec: fast, scale: scaleAt(6), memories: seeded }));
    expect(down.consumers.map((c) => c.verdict.desired)).toEqual([6, 1]);
    expect(down.desired).toBe(6);
    expect(down.change).toBeUndefined();
  });

  it('after failureThreshold the unreadable one asks for its fallback; the other can ask for more', () => {
    const spec = twoSpec({
      fallback: { failureThreshold: 1, replicas: 3 },
      behavior: {
        scaleDown: { stabilizationWindow: '0s', policies: [{ type: 'Percent', value: 100, period: '15s' }] },
      },
    });
    const memories = { refunds: { ...fresh(), seeded: true }, orders: failingFor(60) };
    const low = decideAll(all(unreachable, read(0), { spec, scale: scaleAt(6), memories }));
    expect(low.fallbackActive).toBe(true);
    expect(low.desired).toBe(3);
    expect(low.conditions.find((c) => c.type === 'Fallback')).toMatchObject({ status: 'True' });
    const high = decideAll(all(unreachable, read(700), { spec, scale: scaleAt(6), memories }));
    expect(high.desired).toBe(7);
    expect(high.memories.orders?.failures).toBe(1);
    expect(high.memories.refunds?.failures).toBe(0);
  });

  it('a missing consumer under RunMinimum starts one replica from zero though the other is idle', () => {
    const spec = twoSpec({ minReplicas: 0 });
    const missing: BacklogReading = {
      ok: false,
      error: new BacklogError('ConsumerNotFound', 'no such consumer'),
    };
    const v = decideAll(all(missing, read(0), { spec, scale: scaleAt(0) }));
    expect(v.desired).toBe(1);
    expect(v.errorReason).toBe('ConsumerNotFound');
  });

  it('while paused asks for no change and records no scale event in any consumer’s history', () => {
    const memories = { orders: { ...fresh(), seeded: true }, refunds: { ...fresh(), seeded: true } };
    const v = decideAll(all(read(100), read(900), { spec: twoSpec({ paused: true }), memories }));
    expect(v.desired).toBe(9);
    expect(v.change).toBeUndefined();
    expect(v.memories.orders?.history.scaleEvents).toEqual([]);
    expect(v.memories.refunds?.history.scaleEvents).toEqual([]);
    expect(v.memories.refunds?.history.samples).toHaveLength(1);
    expect(v.conditions.find((c) => c.type === 'Paused')).toMatchObject({ status: 'True' });
  });
});

describe('decideAll with a consumer’s own thresholds', () => {
  it('sizes each consumer with its own backlogPerReplica (KEDA’s per-trigger lagThreshold)', () => {
    const parsed = parseEventConsumerSpec({
      scaleTargetRef: { name: 'worker' },
      backlogPerReplica: 100,
      consumers: [
        { name: 'a', servers: ['nats://a:4222'], stream: 'A', consumer: 'w' },
        { name: 'b', servers: ['nats://a:4222'], stream: 'B', consumer: 'w', backlogPerReplica: 20 },
      ],
    });
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    const [a, b] = consumersOf(parsed.spec) as [ConsumerSpec, ConsumerSpec];
    const v = decideAll({
      spec: parsed.spec,
      readings: [
        { consumer: a, backlog: { ok: true, sample: sample(300) } },
        { consumer: b, backlog: { ok: true, sample: sample(100) } },
      ],
      scale: { specReplicas: 1, statusReplicas: 1, readyReplicas: 1, resourceVersion: '1' },
      memories: {},
      now: 1_000_000,
      policy: policyDecide,
    });
    expect(v.consumers.map((c) => c.verdict.desired)).toEqual([3, 5]);
    expect(v.desired).toBe(5);
  });
});

describe('decide: replicas that do not become ready', () => {
  /** Polls every second with 600 pending, spec.replicas 6 and `ready` ready, from t=0 to `until`. */
  function pollUntil(until: number, ready: (t: number) => number, start?: ScalingMemory) {
    const spec = specOf({ behavior: { readinessDeadline: '30s' } });
    let memory = start ?? fresh();
    let v = decide(input({ spec, memory }));
    for (let t = 0; t <= until; t++) {
      v = decide(
        input({
          spec,
          backlog: { ok: true, sample: { ...sample(600 + t * 50), at: 1_000_000 + t * 1000 } },
          scale: { specReplicas: 6, statusReplicas: 6, readyReplicas: ready(t), resourceVersion: '1' },
          memory,
          now: 1_000_000 + t * 1000,
        }),
      );
      memory = v.memory;
      if (t < 30) expect(v.events.filter((e) => e.reason.startsWith('Replicas'))).toHaveLength(0);
    }
    return v;
  }

  it('keeps Ready=True, turns ReplicasReady False, warns once and adds no replicas past the deadline', () => {
    const before = pollUntil(29, () => 0);
    expect(before.conditions.find((c) => c.type === 'ReplicasReady')).toMatchObject({
      status: 'True',
      reason: 'ReplicasStarting',
    });
    const v = pollUntil(30, () => 0);
    expect(v.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(v.conditions.find((c) => c.type === 'ReplicasReady')).toMatchObject({
      status: 'False',
      reason: 'ReplicasNotReady',
    });
    expect(v.events).toEqual([
      expect.objectContaining({
        type: 'Warning',
        reason: 'ReplicasNotReady',
        message: expect.stringMatching(/^6 of 6 replicas/),
      }),
    ]);
    expect(v.change).toBeUndefined();
    expect(v.conditions.find((c) => c.type === 'ScalingLimited')?.reason).toBe('ReplicasNotReady');
  });

  it('says so once when the replicas are ready again', () => {
    const stuck = pollUntil(40, () => 0);
    const v = decide(
      input({
        spec: specOf({ behavior: { readinessDeadline: '30s' } }),
        backlog: { ok: true, sample: { ...sample(600), at: 1_041_000 } },
        scale: { specReplicas: 6, statusReplicas: 6, readyReplicas: 6, resourceVersion: '1' },
        memory: stuck.memory,
        now: 1_041_000,
      }),
    );
    expect(v.events).toEqual([expect.objectContaining({ type: 'Normal', reason: 'ReplicasReady' })]);
    expect(v.conditions.find((c) => c.type === 'ReplicasReady')).toMatchObject({
      status: 'True',
      reason: 'AllReady',
    });
  });

  it('is Unknown for a target that reports no ready replicas', () => {
    const v = decide(input({ scale: { specReplicas: 2, statusReplicas: 2, resourceVersion: '1' } }));
    expect(v.conditions.find((c) => c.type === 'ReplicasReady')).toMatchObject({
      status: 'Unknown',
      reason: 'NotReported',
    });
  });
});
