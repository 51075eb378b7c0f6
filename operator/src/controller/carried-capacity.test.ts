// The per-replica capacity a previous process measured, read back from the EventConsumer's status
// by a restarted operator or a new leader (consumer-state.ts carriedCapacity, decide.ts fromBacklog):
// a status is input from outside, so only a recent, well-formed figure for the same stream and
// consumer is taken.
import type { EventConsumerObject, EventConsumerStatus } from '../api/v1alpha1/event-consumer.js';
import { decide as policyDecide } from '../scaling/index.js';
import type { BacklogSample } from '../scaling/types.js';
import { CARRIED_CAPACITY_MAX_AGE_SECONDS } from './carried-age.js';
import { carriedCapacity, newConsumerState, type ScalingMemory } from './consumer-state.js';
import { decide, type Verdict } from './decide.js';
import { statusForGeneration } from './report.js';
import { asRateState } from '../scaling/rates.js';
import {
  CONSUMER,
  carriedSpec,
  freshMemory,
  noFingerprint,
  objectWith as objectWithStatus,
  scaleOf,
  statusOf as fixtureStatusOf,
  carriedClock,
  CONSUMER_ENTRY,
} from './test/carried-status.js';
import { statusSchema, undeclared } from './test/status-schema.js';

const { WALL, iso, clocks } = carriedClock('2026-12-04T06:00:00Z', 1_000_000);

function entry(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ...CONSUMER_ENTRY,
    consecutiveFailures: 0,
    rates: { arrivalPerSecond: 50, processingPerSecond: 50, perReplicaPerSecond: 25 },
    lastBacklogReadTime: iso(30),
    ...over,
  };
}

describe('carriedCapacity (status read back)', () => {
  it('takes a recent figure of a named stream and consumer', () => {
    expect(carriedCapacity(entry(), WALL)).toEqual({
      perReplicaPerSecond: 25,
      stream: 'S',
      consumer: 'c',
      readAt: WALL - 30_000,
    });
  });

  it.each([
    ['stale', { lastBacklogReadTime: iso(CARRIED_CAPACITY_MAX_AGE_SECONDS + 1) }],
    ['from the future', { lastBacklogReadTime: iso(-120) }],
    ['without a read time', { lastBacklogReadTime: undefined }],
    ['with an unparsable read time', { lastBacklogReadTime: 'yesterday' }],
    ['without rates', { rates: undefined }],
    ['zero', { rates: { perReplicaPerSecond: 0 } }],
    ['negative', { rates: { perReplicaPerSecond: -3 } }],
    // Status is written to 3 decimals (report.ts STATUS_DECIMALS): no process of this operator wrote it.
    ['below the resolution status is written to', { rates: { perReplicaPerSecond: 0.000001 } }],
    ['not a number', { rates: { perReplicaPerSecond: '25' } }],
    ['absurdly large', { rates: { perReplicaPerSecond: 1e12 } }],
    ['without a stream', { stream: undefined }],
    ['without a consumer', { consumer: '' }],
    [
      'whose low-end mark is not a boolean',
      { rates: { perReplicaPerSecond: 25, perReplicaLowEndOnly: 'yes' } },
    ],
    [
      'whose held mark is not a boolean',
      { rates: { perReplicaPerSecond: 25, perReplicaLowEndOnly: true, perReplicaLowEndHeld: 1 } },
    ],
    // Held implies a low end (rates.ts sets both): no status this operator wrote.
    ['held but not a low end', { rates: { perReplicaPerSecond: 25, perReplicaLowEndHeld: true } }],
    [
      'whose in-hand mark is not one (the same count twice)',
      { rates: { perReplicaPerSecond: 25, handlersInHand: { seconds: 10, perReplica: 9, from: 5, to: 5 } } },
    ],
    [
      'whose in-hand mark is not one (no time held)',
      { rates: { perReplicaPerSecond: 25, handlersInHand: { perReplica: 9, from: 12, to: 5 } } },
    ],
  ])('ignores a figure %s', (_why, over) => {
    expect(carriedCapacity(entry(over), WALL)).toBeUndefined();
  });

  it('takes a figure marked as a low end as a low end', () => {
    expect(
      carriedCapacity(entry({ rates: { perReplicaPerSecond: 25, perReplicaLowEndOnly: true } }), WALL),
    ).toEqual({
      perReplicaPerSecond: 25,
      lowEndOnly: true,
      stream: 'S',
      consumer: 'c',
      readAt: WALL - 30_000,
    });
  });

  it('ignores what is not an object', () => {
    expect(carriedCapacity(null, WALL)).toBeUndefined();
    expect(carriedCapacity('25', WALL)).toBeUndefined();
  });
});

/** An EventConsumer at `generation` whose status was written for `observedGeneration`. */
function objectWith(
  entries: unknown[],
  generation = 3,
  observedGeneration: number | 'absent' = generation,
): EventConsumerObject {
  const status = {
    ...(observedGeneration === 'absent' ? {} : { observedGeneration }),
    consumers: entries,
  } as EventConsumerStatus;
  return objectWithStatus(status, generation);
}

const fingerprint = noFingerprint;

describe('a new process starts from the capacity in status', () => {
  const spec = carriedSpec({ maxReplicas: 20 });
  const consumer = CONSUMER;

  function reading(at: number, delivered: number): BacklogSample {
    return {
      at,
      pending: 0,
      ackPending: 6,
      redelivered: 0,
      waiting: 0,
      deliveredConsumerSeq: delivered,
      deliveredStreamSeq: delivered,
      ackFloorConsumerSeq: delivered - 6,
      maxAckPending: 1000,
    };
  }

  /** Two polls 5 s apart of 3 replicas carrying 50/s (never busy); the second poll's reason. */
  function twoPolls(memory: ScalingMemory): { reason: string; memory: ScalingMemory; verdict: Verdict } {
    let m = memory;
    let why = '';
    let last: Verdict | undefined;
    for (const [i, t] of [1_000_000, 1_005_000].entries()) {
      const v = decide({
        spec,
        consumer,
        backlog: { ok: true, sample: reading(t, 10_000 + i * 250) },
        scale: { specReplicas: 3, statusReplicas: 3, readyReplicas: 3, resourceVersion: '1' },
        memory: m,
        now: t,
        policy: policyDecide,
      });
      m = v.memory;
      why = v.why;
      last = v;
    }
    if (last === undefined) throw new Error('no poll');
    return { reason: why, memory: m, verdict: last };
  }

  /** The status a poll with this verdict writes. */
  function statusOf(verdict: Verdict): EventConsumerStatus {
    return fixtureStatusOf(verdict, scaleOf(3), WALL);
  }

  // A figure learnt while more replicas were asked for than ready is a low end only (rates.ts
  // perReplicaLowEndOnly): the status says so, and a new process takes it back as one, not as a
  // measurement (which would end the low end's re-measurement and size by it as if confirmed).
  it('a low end in status stays a low end: written as one, carried as one', () => {
    const lowEnd = {
      arrivalPerSecond: 50,
      processingPerSecond: 50,
      perReplicaPerSecond: 25,
      perReplicaLowEndOnly: true,
    };
    const state = newConsumerState(objectWith([entry({ rates: lowEnd })]), fingerprint, clocks);
    const { memory, verdict } = twoPolls(state.scaling.c as ScalingMemory);
    expect(asRateState(memory.history.rates)?.perReplicaLowEndOnly).toBe(true);
    const written = statusOf(verdict);
    expect(written.consumers?.[0]?.rates?.perReplicaLowEndOnly).toBe(true);
    expect(written.rates?.perReplicaLowEndOnly).toBe(true);
    // The CRD declares it (and all else written), or the API server would drop it unseen.
    expect(undeclared(written, statusSchema(), 'status')).toEqual([]);
    const again = newConsumerState(
      objectWith([{ ...written.consumers?.[0], lastBacklogReadTime: iso(5) }]),
      fingerprint,
      clocks,
    );
    expect(again.scaling.c?.carriedCapacity?.lowEndOnly).toBe(true);
  });

  // A low end read from messages the replicas held alone while some were warming up (rates.ts
  // perReplicaLowEndHeld, 06c9a02): held-only intervals neither catch it up nor lower it. Before,
  // the mark lived in memory only, so a restarted operator took the figure back as a plain low end
  // and its first held-only kept-up interval caught it up as measured (heldonly30's report).
  it('a held low end stays held: written as one, carried as one', () => {
    const held = {
      arrivalPerSecond: 50,
      processingPerSecond: 50,
      perReplicaPerSecond: 25,
      perReplicaLowEndOnly: true,
      perReplicaLowEndHeld: true,
    };
    const state = newConsumerState(objectWith([entry({ rates: held })]), fingerprint, clocks);
    expect(state.scaling.c?.carriedCapacity).toMatchObject({ lowEndOnly: true, lowEndHeld: true });
    const { memory, verdict } = twoPolls(state.scaling.c as ScalingMemory);
    expect(asRateState(memory.history.rates)).toMatchObject({
      perReplicaLowEndOnly: true,
      perReplicaLowEndHeld: true,
    });
    const written = statusOf(verdict);
    expect(written.consumers?.[0]?.rates).toMatchObject({
      perReplicaLowEndOnly: true,
      perReplicaLowEndHeld: true,
    });
    expect(written.rates?.perReplicaLowEndHeld).toBe(true);
    expect(undeclared(written, statusSchema(), 'status')).toEqual([]);
    const again = newConsumerState(
      objectWith([{ ...written.consumers?.[0], lastBacklogReadTime: iso(5) }]),
      fingerprint,
      clocks,
    );
    expect(again.scaling.c?.carriedCapacity).toMatchObject({ lowEndOnly: true, lowEndHeld: true });
  });

  it('a plain low end is written and carried without the held mark', () => {
    const lowEnd = { perReplicaPerSecond: 25, perReplicaLowEndOnly: true };
    const state = newConsumerState(objectWith([entry({ rates: lowEnd })]), fingerprint, clocks);
    const { memory, verdict } = twoPolls(state.scaling.c as ScalingMemory);
    expect(asRateState(memory.history.rates)?.perReplicaLowEndHeld).toBeUndefined();
    expect(statusOf(verdict).consumers?.[0]?.rates?.perReplicaLowEndHeld).toBeUndefined();
  });

  // Held messages shown in the handlers' hands (scaling/in-hand.ts: a change of the ready count
  // left the mean time held as it was). Kept in memory only, a restarted operator or a new leader
  // counted them as buffered again (2f) until its own next change of count showed it again: one
  // round of replicas that change nothing at every restart.
  it("held messages shown in the handlers' hands stay so: written, declared, carried", () => {
    const handlersInHand = { seconds: 10.2, perReplica: 9, from: 12, to: 5 };
    const rates = { arrivalPerSecond: 50, processingPerSecond: 50, perReplicaPerSecond: 25, handlersInHand };
    const state = newConsumerState(objectWith([entry({ rates })]), fingerprint, clocks);
    expect(state.scaling.c?.carriedCapacity?.handlersInHand).toEqual(handlersInHand);
    const { memory, verdict } = twoPolls(state.scaling.c as ScalingMemory);
    expect(asRateState(memory.history.rates)?.handlersInHand).toMatchObject(handlersInHand);
    const written = statusOf(verdict);
    expect(written.consumers?.[0]?.rates?.handlersInHand).toEqual(handlersInHand);
    expect(written.rates?.handlersInHand).toEqual(handlersInHand);
    expect(undeclared(written, statusSchema(), 'status')).toEqual([]);
    const again = newConsumerState(
      objectWith([{ ...written.consumers?.[0], lastBacklogReadTime: iso(5) }]),
      fingerprint,
      clocks,
    );
    expect(again.scaling.c?.carriedCapacity?.handlersInHand).toEqual(handlersInHand);
  });

  it('a measured figure is written without the low-end mark', () => {
    const state = newConsumerState(objectWith([entry()]), fingerprint, clocks);
    const { memory, verdict } = twoPolls(state.scaling.c as ScalingMemory);
    expect(asRateState(memory.history.rates)?.perReplicaLowEndOnly).toBeUndefined();
    expect(statusOf(verdict).consumers?.[0]?.rates?.perReplicaLowEndOnly).toBeUndefined();
  });

  it('sizes by the carried capacity at its first readings, and drops it once its rates have it', () => {
    const state = newConsumerState(objectWith([entry()]), fingerprint, clocks);
    expect(state.scaling.c?.carriedCapacity).toMatchObject({
      perReplicaPerSecond: 25,
      stream: 'S',
      consumer: 'c',
    });
    const { reason, memory } = twoPolls(state.scaling.c as ScalingMemory);
    // 50/s at 25/s per replica with RATE_HEADROOM: the rate term, not "no capacity measured yet".
    expect(reason).toMatch(/50(\.0)?\/s arriving at 25(\.0)?\/s per replica/);
    expect(reason).not.toMatch(/no per-replica capacity measured yet/);
    expect(memory.carriedCapacity).toBeUndefined();
  });

  // A status is input from outside: anyone who may write /status (an admin, a tool, a restore) can
  // put any figure there. A tiny one sized the first readings for the arrival rate at that figure:
  // maxReplicas (redteam6, session 20: 5 -> 20 with perReplicaPerSecond 1e-6; 1e-6 is now refused
  // as below the resolution status is written to, so the smallest figure taken is used here). A
  // carried figure may spare replicas, never add them beyond what the process would ask without it
  // (scaling/rates.ts perReplicaCarried, scaling/decide.ts).
  it('never scales above what it would without the carried figure (a tiny figure written by hand)', () => {
    const tiny = { arrivalPerSecond: 50, processingPerSecond: 50, perReplicaPerSecond: 0.001 };
    const carried = newConsumerState(objectWith([entry({ rates: tiny })]), fingerprint, clocks);
    expect(carried.scaling.c?.carriedCapacity?.perReplicaPerSecond).toBe(0.001);
    const none = freshMemory();
    const without = twoPolls(none).verdict.desired;
    const { verdict, reason } = twoPolls(carried.scaling.c as ScalingMemory);
    expect(verdict.desired).toBeLessThanOrEqual(Math.max(3, without));
    expect(reason).toMatch(/carried over from status/);
  });

  // Taken when the state is made (the first poll); a process whose first reads fail keeps it in
  // memory, and its first reading may come long after the figure was current.
  it('does not use a figure that has aged past CARRIED_CAPACITY_MAX_AGE_SECONDS by the first reading', () => {
    const state = newConsumerState(objectWith([entry()]), fingerprint, clocks);
    expect(state.scaling.c?.carriedCapacity?.perReplicaPerSecond).toBe(25);
    // The entry was read 30 s before the state was made: first reading 1 s past its age limit.
    const late = clocks.monotonic + (CARRIED_CAPACITY_MAX_AGE_SECONDS - 30 + 1) * 1000;
    const v = decide({
      spec,
      consumer,
      backlog: { ok: true, sample: reading(late, 10_000) },
      scale: { specReplicas: 3, statusReplicas: 3, readyReplicas: 3, resourceVersion: '1' },
      memory: state.scaling.c as ScalingMemory,
      now: late,
      policy: policyDecide,
    });
    expect(asRateState(v.memory.history.rates)?.perReplicaPerSecond).toBeUndefined();
    // Within it, the same first reading takes it.
    const inTime = late - 2000;
    const w = decide({
      spec,
      consumer,
      backlog: { ok: true, sample: reading(inTime, 10_000) },
      scale: { specReplicas: 3, statusReplicas: 3, readyReplicas: 3, resourceVersion: '1' },
      memory: state.scaling.c as ScalingMemory,
      now: inTime,
      policy: policyDecide,
    });
    expect(asRateState(w.memory.history.rates)?.perReplicaPerSecond).toBe(25);
  });

  it('ignores a capacity measured on another stream or consumer', () => {
    const state = newConsumerState(objectWith([entry({ consumer: 'other' })]), fingerprint, clocks);
    const { reason } = twoPolls(state.scaling.c as ScalingMemory);
    expect(reason).toMatch(/no per-replica capacity measured yet/);
  });

  // A spec edit (other servers, another scale target, other credentials) bumps the generation; a
  // capacity measured under the old spec is not this workload's. The edit may land while no
  // operator runs, or be seen by a new leader before it polls.
  it.each([
    ['written for an older generation (the spec changed since)', 4, 3],
    ['written for a newer generation (an edit undone by a restore)', 3, 4],
    ['without an observedGeneration', 3, 'absent' as const],
  ])('ignores a capacity in a status %s', (_why, generation, observed) => {
    const state = newConsumerState(objectWith([entry()], generation, observed), fingerprint, clocks);
    expect(state.scaling.c?.carriedCapacity).toBeUndefined();
    expect(twoPolls(state.scaling.c as ScalingMemory).reason).toMatch(/no per-replica capacity measured yet/);
  });

  it('a status rewritten for a new generation keeps no rates of the old one, so none is carried later', () => {
    const written = { observedGeneration: 3, consumers: [entry()] } as unknown as EventConsumerStatus;
    // A poll (a failed read, an invalid spec) of generation 4 writes from the last status.
    const rewritten = statusForGeneration(written, 4);
    expect(rewritten.observedGeneration).toBe(4);
    expect(rewritten.consumers?.[0]?.rates).toBeUndefined();
    expect(rewritten.consumers?.[0]?.lastBacklogReadTime).toBe(entry().lastBacklogReadTime);
    const obj = { ...objectWith([], 4), status: rewritten } as EventConsumerObject;
    expect(newConsumerState(obj, fingerprint, clocks).scaling.c?.carriedCapacity).toBeUndefined();
    // Within one generation the last rates stay (a failed read shows the last good numbers).
    expect(statusForGeneration(written, 3).consumers?.[0]?.rates).toEqual(entry().rates);
  });

  it('starts from unknown without one, as before', () => {
    const none = freshMemory();
    expect(twoPolls(none).reason).toMatch(/no per-replica capacity measured yet/);
  });
});
