// What the policy learnt of max_ack_pending, read back from status by a restarted operator or a new
// leader (status.consumers[].maxAckPendingCap, carried-at-cap.ts). Measured in-process, the cap
// kept the replicas where more did not process more; a new process had no record of it and climbed
// to what the backlog asked for (maxReplicas) again, then had to measure it all over. A status is
// input from outside, so only a recent, well-formed record is taken, a cap only where its records
// show the limit binding, and a carried cap never lowers the replicas.
import { withScalingDefaults } from '../scaling/defaults.js';
import { natsGoConsume, runScenario } from '../scaling/test/pull-clients.js';
import type { BacklogSample } from '../scaling/types.js';
import { carriedAtCap } from './carried-at-cap.js';
import { CARRIED_CAPACITY_MAX_AGE_SECONDS } from './carried-age.js';
import { newConsumerState, type ScalingMemory } from './consumer-state.js';
import type { Verdict } from './decide.js';
import {
  carriedSpec,
  freshMemory,
  noFingerprint,
  objectWith,
  pollsOf,
  scaleOf,
  statusOf,
  carriedClock,
  CONSUMER_ENTRY,
} from './test/carried-status.js';
import { statusSchema, undeclared } from './test/status-schema.js';

const { WALL, iso, clocks } = carriedClock('2026-12-07T12:00:00Z');

function entry(cap: unknown, over: Record<string, unknown> = {}) {
  return {
    ...CONSUMER_ENTRY,
    maxAckPendingCap: cap,
    lastBacklogReadTime: iso(30),
    ...over,
  };
}
const pair = {
  maxAckPending: 100,
  fewer: { replicas: 2, perSecond: 200, seconds: 40, secondsAgo: 5 },
  more: { replicas: 4, perSecond: 201, seconds: 30, secondsAgo: 60 },
};

describe('carriedAtCap (status read back)', () => {
  it('takes a recent, well-formed record, its times on the monotonic clock', () => {
    expect(
      carriedAtCap(
        entry({ ...pair, lastProbeSecondsAgo: 100, probe: { from: 4, to: 2, secondsAgo: 20 } }),
        clocks,
      ),
    ).toEqual({
      maxAckPending: 100,
      records: [
        { replicas: 2, perSecond: 200, seconds: 40, at: 7_000_000 - 35_000 },
        { replicas: 4, perSecond: 201, seconds: 30, at: 7_000_000 - 90_000 },
      ],
      probeStartedAt: 7_000_000 - 130_000,
      probe: { from: 4, to: 2, since: 7_000_000 - 50_000 },
      stream: 'S',
      consumer: 'c',
      usableUntil: 7_000_000 - 30_000 + CARRIED_CAPACITY_MAX_AGE_SECONDS * 1000,
    });
  });

  it.each([
    ['stale', entry(pair, { lastBacklogReadTime: iso(CARRIED_CAPACITY_MAX_AGE_SECONDS + 1) })],
    ['from the future', entry(pair, { lastBacklogReadTime: iso(-120) })],
    ['without a read time', entry(pair, { lastBacklogReadTime: undefined })],
    ['without a stream', entry(pair, { stream: '' })],
    ['without a limit', entry({ ...pair, maxAckPending: undefined })],
    ['with a limit of 0', entry({ ...pair, maxAckPending: 0 })],
    ['with one count only', entry({ maxAckPending: 100, fewer: pair.fewer })],
    ['whose counts do not rise', entry({ ...pair, more: { ...pair.more, replicas: 2 } })],
    ['with a fraction of a replica', entry({ ...pair, fewer: { ...pair.fewer, replicas: 1.5 } })],
    ['with negative seconds', entry({ ...pair, more: { ...pair.more, seconds: -1 } })],
    ['with a rate beyond any replica', entry({ ...pair, more: { ...pair.more, perSecond: 1e12 } })],
    ['with a rate that is not a number', entry({ ...pair, more: { ...pair.more, perSecond: '201' } })],
    ['with a probe that does not lower', entry({ ...pair, probe: { from: 2, to: 4, secondsAgo: 1 } })],
    ['with a probe start that is no time', entry({ ...pair, lastProbeSecondsAgo: -5 })],
    ['that is not an object', entry('capped at 2')],
  ])('takes nothing from a record %s', (_why, e) => {
    expect(carriedAtCap(e, clocks)).toBeUndefined();
  });
});

describe('a restarted operator keeps a measured max_ack_pending cap: no climb past it', () => {
  // Handlers work on 50 held messages at once (2/s each: 100/s a replica) behind max_ack_pending
  // 100: two replicas have every slot in hand. Traffic rises past what two do, the policy climbs,
  // and more replicas process no more: the cap is measured (scaling/decide.test.ts, the same world).
  const spec = withScalingDefaults({
    maxReplicas: 30,
    drainWithinSeconds: 30,
    scaleDown: {
      stabilizationWindowSeconds: 60,
      policies: [
        { type: 'Percent', value: 25, periodSeconds: 30 },
        { type: 'Pods', value: 1, periodSeconds: 30 },
      ],
    },
  });
  const readings = runScenario({
    spec,
    client: { ...natsGoConsume, name: 'batch-concurrent', prefetch: 50, refillAt: 25, concurrency: 50 },
    handlerPerSecond: 2,
    maxAckPending: 100,
    arrival: (t) => (t < 60 ? 150 : 1000),
    initialReplicas: 2,
    initialPending: 0,
    startupSeconds: 15,
    durationSeconds: 240,
  });
  const capped = readings.find((r) => r.decision.maxAckPendingCap?.source === 'Measured');
  if (capped === undefined) throw new Error('no cap measured');
  const cap = capped.decision.maxAckPendingCap?.replicas ?? 0;
  const sample = capped.decision.history.samples.at(-1) as BacklogSample;
  const verdict = {
    current: capped.replicas,
    desired: capped.decision.desiredReplicas,
    why: capped.decision.reason,
    memory: { ...freshMemory(), history: capped.decision.history, seeded: true },
    read: { sample, decision: capped.decision },
    conditions: [],
    events: [],
  } as Verdict;
  const written = statusOf(verdict, scaleOf(capped.replicas), WALL);
  const controllerSpec = carriedSpec({ maxReplicas: 30, drainWithinSeconds: '30s' });
  // The new process, 5 s later on another monotonic clock, at the cap: 1,000/s still arrive and
  // max_ack_pending is full with thousands waiting — the backlog asks for maxReplicas.
  const later = { wall: WALL + 5000, monotonic: 9_000_000 };
  const reading = (at: number, t: number): BacklogSample => ({
    at,
    pending: 20_000 + 800 * t,
    ackPending: 100,
    redelivered: 0,
    waiting: 0,
    deliveredConsumerSeq: 100_000 + 200 * t,
    deliveredStreamSeq: 100_000 + 200 * t,
    ackFloorConsumerSeq: 99_900 + 200 * t,
    maxAckPending: 100,
  });
  const firstReadings = (memory: ScalingMemory, replicas: number): number[] =>
    pollsOf({
      spec: controllerSpec,
      reading,
      memory,
      replicas,
      base: 9_000_000,
      from: 0,
      to: 10,
    }).verdicts.map((v) => v.desired);

  it('the first process measured the cap below maxReplicas, and its status records it, declared in the CRD', () => {
    expect(cap).toBeGreaterThan(0);
    expect(cap).toBeLessThan(30);
    expect(written.consumers?.[0]?.maxAckPendingCap).toMatchObject({
      maxAckPending: 100,
      fewer: { replicas: cap },
    });
    expect(undeclared(written, statusSchema(), 'status')).toEqual([]);
  });

  it('the new process holds at the cap at its first readings', () => {
    const memory = newConsumerState(objectWith(written), noFingerprint, later).scaling.c as ScalingMemory;
    expect(memory.carriedAtCap?.records).toHaveLength(2);
    const desired = firstReadings(memory, cap);
    expect(Math.max(...desired)).toBe(cap);
  });

  it('without the record in status (as d0dd71a wrote it), the new process climbs past it', () => {
    const consumers = written.consumers?.map(({ maxAckPendingCap: _dropped, ...c }) => c);
    const memory = newConsumerState(
      objectWith({ ...written, ...(consumers ? { consumers } : {}) }),
      noFingerprint,
      later,
    ).scaling.c as ScalingMemory | undefined;
    expect(Math.max(...firstReadings(memory ?? freshMemory(), cap))).toBeGreaterThan(cap);
  });

  it('a carried cap never lowers the replicas: above it, the count there is stays', () => {
    const memory = newConsumerState(objectWith(written), noFingerprint, later).scaling.c as ScalingMemory;
    const desired = firstReadings(memory, cap + 3);
    expect(Math.min(...desired)).toBe(cap + 3);
    expect(Math.max(...desired)).toBe(cap + 3);
  });

  // Held at the cap with more asked for, a new history with the cap's records would try half the
  // replicas at once (at-cap-probe.ts: a measured cap may bind lower still); the last probe's start
  // is carried too, so probes stay PROBE_GAP_SECONDS apart over a restart.
  it('a probe started 60 s before the restart: no other probe in its first readings; without it, one', () => {
    const withStart = (secondsAgo: number | undefined) =>
      written.consumers?.map((c) => ({
        ...c,
        maxAckPendingCap: {
          ...(c.maxAckPendingCap as NonNullable<typeof c.maxAckPendingCap>),
          ...(secondsAgo === undefined ? {} : { lastProbeSecondsAgo: secondsAgo }),
        },
      }));
    const run = (secondsAgo: number | undefined): string[] => {
      const consumers = withStart(secondsAgo);
      const memory = newConsumerState(
        objectWith({ ...written, ...(consumers ? { consumers } : {}) }),
        noFingerprint,
        later,
      ).scaling.c as ScalingMemory;
      return pollsOf({
        spec: controllerSpec,
        reading,
        memory,
        replicas: cap,
        base: 9_000_000,
        from: 0,
        to: 30,
      }).verdicts.map((v) => v.read?.decision.maxAckPendingCap?.source ?? 'none');
    };
    expect(run(60)).not.toContain('Probe');
    expect(run(undefined)).toContain('Probe');
  });

  it('a record of another limit (max_ack_pending changed since), or of another generation, is not taken', () => {
    const other = written.consumers?.map((c) => ({
      ...c,
      maxAckPendingCap: { ...c.maxAckPendingCap, maxAckPending: 200 } as typeof c.maxAckPendingCap,
    }));
    const memory = newConsumerState(
      objectWith({ ...written, ...(other ? { consumers: other } : {}) }),
      noFingerprint,
      later,
    ).scaling.c as ScalingMemory;
    expect(Math.max(...firstReadings(memory, cap))).toBeGreaterThan(cap);
    const edited = newConsumerState(objectWith(written, 4), noFingerprint, later);
    expect(edited.scaling.c?.carriedAtCap).toBeUndefined();
  });
});
