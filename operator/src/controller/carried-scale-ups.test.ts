// The scale-up step policies' record carried over a restart or a change of leader
// (status.scaleUps, scale-up-record.ts). With scale-up limited to 2 pods per 60 s, a process that
// went 1 -> 3 and was restarted 10 s later: the new one had no record of that step and went 3 -> 5
// at its first reading (4 pods within 60 s). A status is input from outside, so the record is read
// back validated.
import type { EventConsumerStatus } from '../api/v1alpha1/event-consumer.js';
import type { BacklogSample } from '../scaling/types.js';
import { newConsumerState, type ScalingMemory } from './consumer-state.js';
import {
  MAX_CARRIED_SCALE_UPS,
  carriedScaleUps,
  scaleUpPeriodSeconds,
  scaleUpsAfter,
} from './scale-up-record.js';
import {
  TARGET_KEY,
  carriedSpec,
  freshMemory,
  noFingerprint,
  objectWith,
  pollsOf,
  scaleOf,
  statusOf,
  carriedClock,
} from './test/carried-status.js';
import { statusSchema, undeclared } from './test/status-schema.js';

const { WALL, iso, clocks } = carriedClock('2026-12-07T12:00:00Z');
const PERIOD = 60;

const spec = carriedSpec({
  behavior: {
    scaleUp: { stabilizationWindow: '0s', policies: [{ type: 'Pods', value: 2, period: `${PERIOD}s` }] },
  },
});

/** 1,000 pending and growing: the backlog asks for 10 (backlogPerReplica 100) and more. */
function reading(at: number, t: number): BacklogSample {
  return {
    at,
    pending: 1000 + 20 * Math.max(0, t),
    ackPending: 10,
    redelivered: 0,
    waiting: 0,
    deliveredConsumerSeq: 5000 + 2 * t,
    deliveredStreamSeq: 5000 + 2 * t,
    ackFloorConsumerSeq: 4990 + 2 * t,
    maxAckPending: 1000,
  };
}

describe('carriedScaleUps (status read back)', () => {
  const status = (scaleUps: unknown, over: Partial<EventConsumerStatus> = {}): EventConsumerStatus =>
    ({ lastScaleTarget: TARGET_KEY, scaleUps, ...over }) as EventConsumerStatus;

  it('takes the scale-ups of this target within the period, on the monotonic clock', () => {
    expect(carriedScaleUps(status([{ time: iso(10), from: 1, to: 3 }]), TARGET_KEY, PERIOD, clocks)).toEqual([
      { at: 7_000_000 - 10_000, from: 1, to: 3 },
    ]);
  });

  it('a time ahead of this clock (by less than a minute) counts as now', () => {
    expect(carriedScaleUps(status([{ time: iso(-30), from: 1, to: 3 }]), TARGET_KEY, PERIOD, clocks)).toEqual(
      [{ at: 7_000_000, from: 1, to: 3 }],
    );
  });

  it.each([
    [
      'of another target',
      status([{ time: iso(10), from: 1, to: 3 }], { lastScaleTarget: 'apps/v1/Deployment/other' }),
    ],
    ['without a target', status([{ time: iso(10), from: 1, to: 3 }], { lastScaleTarget: undefined })],
    ['that is not a list', status({ time: iso(10), from: 1, to: 3 })],
    [
      'longer than any this operator writes',
      status(Array.from({ length: MAX_CARRIED_SCALE_UPS + 1 }, () => ({ time: iso(10), from: 1, to: 2 }))),
    ],
  ])('takes nothing from a record %s', (_why, s) => {
    expect(carriedScaleUps(s, TARGET_KEY, PERIOD, clocks)).toEqual([]);
  });

  it.each([
    ['older than the longest period', { time: iso(PERIOD), from: 1, to: 3 }],
    ['more than a minute ahead (clock skew or a hand edit)', { time: iso(-61), from: 1, to: 3 }],
    ['with no time', { time: 'yesterday', from: 1, to: 3 }],
    ['that is a scale-down', { time: iso(10), from: 3, to: 1 }],
    ['with a fraction of a replica', { time: iso(10), from: 1, to: 2.5 }],
    ['with negative replicas', { time: iso(10), from: -4, to: 3 }],
    ['with counts that are not numbers', { time: iso(10), from: '1', to: 3 }],
    ['that is not an object', 'scaled'],
  ])('leaves out an entry %s, keeps the others', (_why, bad) => {
    const good = { time: iso(20), from: 3, to: 5 };
    expect(carriedScaleUps(status([bad, good]), TARGET_KEY, PERIOD, clocks)).toEqual([
      { at: 7_000_000 - 20_000, from: 3, to: 5 },
    ]);
  });

  it('takes nothing when scale-up is disabled', () => {
    expect(
      scaleUpPeriodSeconds({ stabilizationWindowSeconds: 0, policies: [], selectPolicy: 'Disabled' }),
    ).toBe(0);
    expect(carriedScaleUps(status([{ time: iso(10), from: 1, to: 3 }]), TARGET_KEY, 0, clocks)).toEqual([]);
  });
});

describe('scaleUpsAfter (status written)', () => {
  const record = { upPeriodSeconds: PERIOD };

  it('adds a scale-up, drops entries past the period, writes no scale-down', () => {
    const base = { lastScaleTarget: TARGET_KEY, scaleUps: [{ time: iso(PERIOD + 1), from: 1, to: 2 }] };
    expect(scaleUpsAfter(base, TARGET_KEY, { ...record, change: { from: 2, to: 4 } }, WALL)).toEqual([
      { time: iso(0), from: 2, to: 4 },
    ]);
    expect(scaleUpsAfter(base, TARGET_KEY, { ...record, change: { from: 4, to: 2 } }, WALL)).toBeUndefined();
  });

  it("starts again for another target: the old target's steps say nothing of it", () => {
    const base = {
      lastScaleTarget: 'apps/v1/Deployment/other',
      scaleUps: [{ time: iso(5), from: 1, to: 9 }],
    };
    expect(scaleUpsAfter(base, TARGET_KEY, { ...record, change: { from: 1, to: 2 } }, WALL)).toEqual([
      { time: iso(0), from: 1, to: 2 },
    ]);
  });

  it('folds the oldest beyond the bound into one that adds what they added, at the newest of their times', () => {
    const scaleUps = Array.from({ length: MAX_CARRIED_SCALE_UPS }, (_, i) => ({
      time: iso(50 - i),
      from: 1 + i,
      to: 2 + i,
    }));
    const after = scaleUpsAfter(
      { lastScaleTarget: TARGET_KEY, scaleUps },
      TARGET_KEY,
      { ...record, change: { from: 9, to: 11 } },
      WALL,
    );
    expect(after).toHaveLength(MAX_CARRIED_SCALE_UPS);
    expect(after?.[0]).toEqual({ time: iso(49), from: 1, to: 3 });
    const added = (after ?? []).reduce((n, e) => n + e.to - e.from, 0);
    expect(added).toBe(MAX_CARRIED_SCALE_UPS + 2);
  });
});

describe('a restarted operator keeps the scale-up period a step began: no second step at once', () => {
  // The first process: 1 -> 3 at its first reading (2 pods per 60 s), its status at that poll.
  const first = pollsOf({
    spec,
    reading,
    memory: freshMemory(),
    replicas: 1,
    base: 1_000_000,
    from: 0,
    to: 0,
  });
  const step = first.verdicts[0];
  if (step?.change === undefined) throw new Error('the first process did not scale');
  const written = statusOf(step, scaleOf(3), WALL, undefined, {
    upPeriodSeconds: PERIOD,
    change: step.change,
  });
  // The new process, 10 s later on another monotonic clock: its scenario second 10 is 9,000,000.
  const later = { wall: WALL + 10_000, monotonic: 9_000_000 };
  const base = 9_000_000 - 10_000;

  function second(status: EventConsumerStatus): number[] {
    const memory = newConsumerState(objectWith(status), noFingerprint, later).scaling.c as
      ScalingMemory | undefined;
    const scaleUpsBefore = carriedScaleUps(status, TARGET_KEY, PERIOD, later);
    const run = pollsOf({
      spec,
      reading,
      memory: memory ?? freshMemory(),
      replicas: 3,
      base,
      from: 10,
      to: 75,
      input: { scaleUpsBefore },
    });
    return run.verdicts.map((v) => v.desired);
  }

  it('the first process stepped 1 -> 3 and its status records the step, declared in the CRD', () => {
    expect(step.change).toEqual({ from: 1, to: 3 });
    expect(written.scaleUps).toEqual([{ time: iso(0), from: 1, to: 3 }]);
    expect(undeclared(written, statusSchema(), 'status')).toEqual([]);
  });

  it('the new process holds 3 until the period that step began has passed, then steps', () => {
    const desired = second({ ...written, lastScaleTarget: TARGET_KEY });
    // Polls at 10, 15, ..., 55 s after the step: within its 60 s period.
    expect(desired.slice(0, 10).every((d) => d === 3)).toBe(true);
    // From 60 s on, one more step of 2 (the backlog asks for more).
    expect(desired.at(-1)).toBe(5);
  });

  it('without the record in status (as d0dd71a wrote it), the new process steps again at once', () => {
    const { scaleUps: _dropped, ...without } = written;
    const desired = second({ ...without, lastScaleTarget: TARGET_KEY });
    expect(desired[0]).toBe(5);
  });
});
