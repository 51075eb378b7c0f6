// The panic window carried over an operator restart or a change of leader
// (status.consumers[].panicHoldSeconds, carried-panic.ts). A process that panicked holds the count
// for PANIC_WINDOW_SECONDS (scaling/decide.ts 2b); a new process taking over within that window
// forgot it, and with a short scale-down window stepped down as soon as the restart's scale-down
// hold (the scale-down policy's period since the last scale) had passed. A status is input from
// outside, so the window is read back validated.
import type { EventConsumerStatus } from '../api/v1alpha1/event-consumer.js';
import { PANIC_WINDOW_SECONDS } from '../scaling/decide.js';
import type { BacklogSample } from '../scaling/types.js';
import { carriedPanic, PANIC_WRITE_STEP_SECONDS } from './carried-panic.js';
import { newConsumerState, type ScalingMemory } from './consumer-state.js';
import type { Verdict } from './decide.js';
import { statusFingerprint, statusForGeneration } from './report.js';
import {
  GENERATION,
  carriedSpec,
  freshMemory,
  noFingerprint,
  objectWith,
  pollsOf,
  scaleOf,
  statusOf,
  CONSUMER_ENTRY,
  carriedClock,
} from './test/carried-status.js';
import { statusSchema, undeclared } from './test/status-schema.js';

const { WALL, iso, clocks } = carriedClock('2026-12-07T12:00:00Z');

function entry(hold: unknown, over: Record<string, unknown> = {}) {
  return {
    ...CONSUMER_ENTRY,
    panicHoldSeconds: hold,
    lastBacklogReadTime: iso(10),
    ...over,
  };
}

describe('carriedPanic (status read back)', () => {
  it('takes the end of the window on this clock: the read time plus the seconds it still held', () => {
    expect(carriedPanic(entry(45), clocks)).toEqual({
      until: 7_000_000 + 35_000,
      stream: 'S',
      consumer: 'c',
    });
  });

  it('a read time ahead of this clock (by less than a minute) counts as now', () => {
    expect(carriedPanic(entry(20, { lastBacklogReadTime: iso(-30) }), clocks)?.until).toBe(
      7_000_000 + 20_000,
    );
  });

  it.each([
    ['a window already over', entry(10)],
    ['longer than any panic holds', entry(PANIC_WINDOW_SECONDS + 1, { lastBacklogReadTime: iso(0) })],
    ['negative', entry(-5)],
    ['not a number', entry('45')],
    ['not finite', entry(Infinity)],
    ['with no read time', entry(45, { lastBacklogReadTime: undefined })],
    ['with a read time that is no time', entry(45, { lastBacklogReadTime: 'just now' })],
    [
      'read more than a minute ahead (clock skew or a hand edit)',
      entry(45, { lastBacklogReadTime: iso(-61) }),
    ],
    ['of an entry that names no stream', entry(45, { stream: '' })],
    ['of an entry that is not an object', 'panicking'],
  ])('takes nothing from %s', (_why, e) => {
    expect(carriedPanic(e, clocks)).toBeUndefined();
  });

  it('is not kept in a status rewritten for another generation (what was read under another spec)', () => {
    const status = { observedGeneration: GENERATION - 1, consumers: [entry(45)] } as EventConsumerStatus;
    expect(statusForGeneration(status, GENERATION).consumers?.[0]?.panicHoldSeconds).toBeUndefined();
    expect(statusForGeneration(status, GENERATION - 1).consumers?.[0]?.panicHoldSeconds).toBe(45);
  });

  it('takes nothing from a status written for another generation (another spec)', () => {
    const status = { observedGeneration: GENERATION - 1, consumers: [entry(45)] } as EventConsumerStatus;
    const memory = newConsumerState(objectWith(status), noFingerprint, clocks).scaling.c;
    expect(memory?.carriedPanic).toBeUndefined();
    const same = { ...status, observedGeneration: GENERATION };
    expect(newConsumerState(objectWith(same), noFingerprint, clocks).scaling.c?.carriedPanic).toBeDefined();
  });
});

describe('an operator restart in the middle of a spike does not step down within the panic window', () => {
  // No scale-down window, scale-up unbounded: a backlog term out of the way (backlogPerReplica
  // 1,000,000), 1 replica doing 125/s (its pods take longer than the test to become ready). 125/s
  // arrive until 60 s, 1,000/s from 60 to 70 s, then 50/s: the 8,700 that piled up drain at 75/s.
  const spec = carriedSpec({
    backlogPerReplica: 1_000_000,
    inFlightPerReplica: 10,
    drainWithinSeconds: 30,
    behavior: {
      scaleUp: { stabilizationWindow: '0s', policies: [{ type: 'Percent', value: 100_000, period: '15s' }] },
      scaleDown: { stabilizationWindow: '0s' },
    },
  });
  const arrived = (t: number): number =>
    125 * Math.min(t, 60) + 1000 * Math.max(0, Math.min(t, 70) - 60) + 50 * Math.max(0, t - 70);
  function reading(at: number, t: number): BacklogSample {
    const completed = 10_000 + 125 * t;
    const delivered = completed + 50;
    return {
      at,
      pending: Math.max(0, 10_000 + arrived(t) - delivered),
      ackPending: 50,
      redelivered: 0,
      waiting: 0,
      deliveredConsumerSeq: delivered,
      deliveredStreamSeq: delivered,
      ackFloorConsumerSeq: completed,
      maxAckPending: -1,
    };
  }
  const BASE = 1_000_000;
  const first = pollsOf({
    spec,
    reading,
    memory: freshMemory(),
    replicas: 1,
    base: BASE,
    from: 0,
    to: 140,
    ready: () => 1,
  });
  const at = (t: number): Verdict => {
    const v = first.verdicts[t / 5];
    if (v === undefined) throw new Error(`no poll at ${t}s`);
    return v;
  };
  const panicAt = first.verdicts.findIndex((v) => v.read?.decision.panic === true) * 5;
  const panicked = at(panicAt).desired;
  // The status the first process wrote at each poll, as its writer builds it.
  const statuses = new Map<number, EventConsumerStatus>();
  let status: EventConsumerStatus = { observedGeneration: GENERATION };
  for (let t = 0; t <= 140; t += 5) {
    const v = at(t);
    status = statusOf(
      v,
      scaleOf(v.desired),
      WALL + t * 1000,
      status,
      v.change === undefined ? undefined : { upPeriodSeconds: 15, change: v.change },
    );
    statuses.set(t, status);
  }
  const writtenAt = (t: number): EventConsumerStatus => {
    const s = statuses.get(t);
    if (s === undefined) throw new Error(`no status at ${t}s`);
    return s;
  };

  /** A new process from `written`, started `restartAt` s into the scenario: what it asks for at each poll to 140 s. */
  function restarted(written: EventConsumerStatus, restartAt: number): Array<{ t: number; desired: number }> {
    const later = { wall: WALL + restartAt * 1000, monotonic: 9_000_000 };
    const base = later.monotonic - restartAt * 1000;
    const memory = newConsumerState(objectWith(written), noFingerprint, later).scaling.c as
      ScalingMemory | undefined;
    const lastScale = written.lastScaleTime === undefined ? undefined : Date.parse(written.lastScaleTime);
    const run = pollsOf({
      spec,
      reading,
      memory: memory ?? freshMemory(),
      replicas: panicked,
      base,
      from: restartAt,
      to: 140,
      ready: () => 1,
      input: lastScale === undefined ? {} : { lastScaleAt: base + (lastScale - WALL) },
    });
    return run.verdicts.map((v, i) => ({ t: restartAt + i * 5, desired: v.desired }));
  }

  it('the first process panics, holds the count for the window, then steps down', () => {
    expect(panicAt).toBe(70);
    expect(panicked).toBeGreaterThan(10);
    for (let t = panicAt; t < panicAt + PANIC_WINDOW_SECONDS; t += 5) expect(at(t).desired).toBe(panicked);
    expect(at(panicAt + PANIC_WINDOW_SECONDS).desired).toBeLessThan(panicked);
  });

  it('its status says how long the window holds, declared in the CRD, and none once it is over', () => {
    expect(writtenAt(panicAt).consumers?.[0]?.panicHoldSeconds).toBe(PANIC_WINDOW_SECONDS);
    expect(writtenAt(panicAt + 20).consumers?.[0]?.panicHoldSeconds).toBe(PANIC_WINDOW_SECONDS - 20);
    expect(undeclared(writtenAt(panicAt + 20), statusSchema(), 'status')).toEqual([]);
    expect(writtenAt(panicAt + PANIC_WINDOW_SECONDS).consumers?.[0]?.panicHoldSeconds).toBeUndefined();
  });

  it('a new process 25 s after the panic, from the status written 5 s before, does not step down before the same end', () => {
    const seen = restarted(writtenAt(panicAt + 20), panicAt + 25);
    const within = seen.filter((p) => p.t < panicAt + PANIC_WINDOW_SECONDS);
    expect(within.length).toBeGreaterThan(5);
    expect(within.every((p) => p.desired >= panicked)).toBe(true);
    expect(seen[0]?.desired).toBe(panicked);
  });

  // The 37 pods the panic asked for are not ready (the scenario's pods take longer than it to
  // start): the one ready replica still does its 125/s. The old process knows its figure was
  // measured before they were asked for, and reads completions ÷ the 38 asked as a low end only.
  // A new process has the figure from status but no interval of its own: it must not take the
  // first busy interval's completions ÷ 38 (3.3/s) as the figure and ask for maxReplicas.
  it.each([
    ['inside the panic window', 25, (s: EventConsumerStatus) => s],
    [
      'inside the scale-down hold, from a status without the window',
      5,
      (s: EventConsumerStatus) => ({
        ...s,
        consumers: s.consumers?.map(({ panicHoldSeconds: _dropped, ...e }) => e),
      }),
    ],
  ])(
    'a new process %s, while the panic’s pods still start, asks for no more than the old one did',
    (_when, after, status) => {
      const seen = restarted(status(writtenAt(panicAt + after - 5)), panicAt + after);
      expect(seen.length).toBeGreaterThan(5);
      const more = seen.filter((p) => p.desired > at(p.t).desired);
      expect(more).toEqual([]);
    },
  );

  it('without the window in status (as 612bbef wrote it), the new process stepped down at its first reading', () => {
    const written = writtenAt(panicAt + 20);
    const without = {
      ...written,
      consumers: written.consumers?.map(({ panicHoldSeconds: _dropped, ...e }) => e),
    };
    const seen = restarted(without, panicAt + 25);
    expect(seen[0]?.desired).toBeLessThan(panicked);
  });

  it('the status is due in the state lane when a panic begins or ends, and as its end moves on', () => {
    const state = (t: number): string => statusFingerprint(writtenAt(t)).state;
    expect(state(panicAt)).not.toBe(state(panicAt - 5));
    expect(state(panicAt + PANIC_WINDOW_SECONDS)).not.toBe(state(panicAt + PANIC_WINDOW_SECONDS - 5));
    // A later panic reading moves the end on: by PANIC_WRITE_STEP_SECONDS or more, a state change.
    const s = writtenAt(panicAt + 20);
    const moved = (seconds: number): EventConsumerStatus => ({
      ...s,
      consumers: s.consumers?.map((e) => ({
        ...e,
        panicHoldSeconds: (e.panicHoldSeconds ?? 0) + seconds,
      })),
    });
    expect(statusFingerprint(moved(PANIC_WRITE_STEP_SECONDS)).state).not.toBe(statusFingerprint(s).state);
    // Within the window, the seconds left fall as the read time moves on: the same end, no write.
    expect(statusFingerprint(writtenAt(panicAt + 25)).state).toBe(statusFingerprint(s).state);
  });
});
