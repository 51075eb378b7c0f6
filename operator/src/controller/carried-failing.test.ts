// A failing spell (scaling/rates.ts failingSince) read back from the EventConsumer's status by a
// restarted operator or a new leader (consumer-state.ts carriedHandlersFailing, decide.ts
// fromBacklog): after FAILING_SPARE_AFTER_SECONDS of it one spare replica is added beside those
// ready when it began (scaling/decide.ts 3d), and a new process must not make a second one. A
// status is input from outside, so only a recent, well-formed spell of the same stream and consumer
// is taken.
import { FAILING_SPARE_AFTER_SECONDS } from '../scaling/rates.js';
import type { BacklogSample } from '../scaling/types.js';
import { CARRIED_CAPACITY_MAX_AGE_SECONDS } from './carried-age.js';
import { carriedHandlersFailing, newConsumerState, type ScalingMemory } from './consumer-state.js';
import type { Verdict } from './decide.js';
import {
  carriedSpec,
  freshMemory,
  noFingerprint,
  objectWith,
  pollsOf,
  scaleOf,
  statusOf,
  type PollRun,
  carriedClock,
  CONSUMER_ENTRY,
} from './test/carried-status.js';
import { statusSchema, undeclared } from './test/status-schema.js';

const { WALL, iso, clocks } = carriedClock('2026-12-04T06:00:00Z');

function entry(over: Record<string, unknown> = {}, spell: unknown = { seconds: 400, replicas: 1 }) {
  return {
    ...CONSUMER_ENTRY,
    consecutiveFailures: 0,
    rates: { arrivalPerSecond: 2.5, handlersFailing: spell },
    lastBacklogReadTime: iso(30),
    ...over,
  };
}

describe('carriedHandlersFailing (status read back)', () => {
  it('takes a recent spell of a named stream and consumer, its start on the monotonic clock', () => {
    expect(carriedHandlersFailing(entry(), clocks)).toEqual({
      // Read 30 s ago, 400 s old then: began 430 s before now.
      since: 7_000_000 - 430_000,
      replicas: 1,
      stream: 'S',
      consumer: 'c',
      usableUntil: 7_000_000 - 30_000 + CARRIED_CAPACITY_MAX_AGE_SECONDS * 1000,
    });
  });

  it.each([
    ['stale', entry({ lastBacklogReadTime: iso(CARRIED_CAPACITY_MAX_AGE_SECONDS + 1) })],
    ['from the future', entry({ lastBacklogReadTime: iso(-120) })],
    ['without a read time', entry({ lastBacklogReadTime: undefined })],
    ['without a stream', entry({ stream: '' })],
    ['without a spell', entry({ rates: { arrivalPerSecond: 2.5 } })],
    ['with negative seconds', entry({}, { seconds: -1, replicas: 1 })],
    ['with seconds not a number', entry({}, { seconds: '400', replicas: 1 })],
    ['with infinite seconds', entry({}, { seconds: Infinity, replicas: 1 })],
    ['with a fraction of a replica', entry({}, { seconds: 400, replicas: 1.5 })],
    ['with negative replicas', entry({}, { seconds: 400, replicas: -1 })],
    ['without replicas', entry({}, { seconds: 400 })],
    ['that is not an object', entry({}, 'failing')],
  ])('ignores a spell %s', (_why, e) => {
    expect(carriedHandlersFailing(e, clocks)).toBeUndefined();
  });
});

describe('a restarted operator takes the failing spell back: one spare replica in all', () => {
  const spec = carriedSpec();

  /**
   * A push consumer at max_ack_pending 1000 whose handlers nak everything (or whose one member hung
   * for good: the same counters), at seconds `t` of the scenario: 1000 redelivered at each 5 s
   * reading, nothing acknowledged, 2.5/s arriving. At t < 0 the handlers still completed 2/s.
   */
  function reading(at: number, t: number): BacklogSample {
    const working = t < 0;
    return {
      at,
      pending: 200 + Math.max(0, Math.round(2.5 * t)),
      ackPending: 1000,
      redelivered: working ? 0 : 1000,
      waiting: 0,
      deliveredConsumerSeq: working ? 5020 + 2 * t : 5010 + 1000 * (t / 5 + 1),
      deliveredStreamSeq: working ? 5020 + 2 * t : 5010,
      ackFloorConsumerSeq: working ? 4020 + 2 * t : 4010,
      maxAckPending: 1000,
      push: true,
    };
  }

  /** Polls every 5 s; the replicas follow the verdicts once the spell is under way (t >= 0). */
  function polls(memory: ScalingMemory, replicas: number, base: number, from: number, to: number): PollRun {
    return pollsOf({ spec, reading, memory, replicas, base, from, to, follow: (t) => t >= 0 });
  }

  // The first process: 600 s of the spell, its spare replica added at 300 s. Its status at the last poll.
  const first = polls(freshMemory(), 1, 1_000_000, -10, 600);
  const last = first.verdicts.at(-1) as Verdict;
  const written = statusOf(last, scaleOf(first.replicas), WALL);

  it('the first process adds one spare replica at the bound, and its status declares the spell', () => {
    expect(first.replicas).toBe(2);
    // (The two warm-up polls at t < 0 ask for the backlog's count; the pods stay at one.)
    const failing = first.verdicts.slice(2);
    const probe = failing.findIndex((v) => v.desired > 1);
    expect(Math.max(...failing.map((v) => v.desired))).toBe(2);
    expect(last.read?.decision.limitedBy).toBe('HandlersFailing');
    expect(failing[probe]?.read?.decision.rates.handlersFailing?.seconds).toBe(FAILING_SPARE_AFTER_SECONDS);
    expect(written.consumers?.[0]?.rates?.handlersFailing).toEqual({ seconds: 605, replicas: 1 });
    expect(written.rates?.handlersFailing).toEqual({ seconds: 605, replicas: 1 });
    // The CRD declares it, or the API server would drop it unseen.
    expect(undeclared(written, statusSchema(), 'status')).toEqual([]);
  });

  it('a new process 5 s later (another monotonic clock) holds at the count with the spare for 15 minutes', () => {
    const later = { wall: WALL + 5000, monotonic: 9_000_000 };
    const state = newConsumerState(objectWith(written), noFingerprint, later);
    const memory = state.scaling.c as ScalingMemory;
    expect(memory.carriedHandlersFailing?.since).toBe(9_000_000 - 5000 - 605_000);
    // Its scenario second 605 is its monotonic 9,000,000.
    const second = polls(memory, 2, 9_000_000 - 605_000, 605, 1500);
    expect(Math.max(...second.verdicts.map((v) => v.desired))).toBe(2);
    expect(second.verdicts[0]?.read?.decision.limitedBy).toBe('HandlersFailing');
    expect(second.verdicts.at(-1)?.read?.decision.reason).toContain('no more in this spell');
    // The carried spell is used once, then dropped from memory.
    expect(second.memory.carriedHandlersFailing).toBeUndefined();
  });

  it('without the spell in status (as 7b9a82c wrote it), the new process adds more than the spare', () => {
    const consumers = written.consumers?.map((c) => {
      const { handlersFailing: _dropped, ...rates } = c.rates ?? {};
      return { ...c, rates };
    });
    const state = newConsumerState(
      objectWith({ ...written, ...(consumers !== undefined ? { consumers } : {}) }),
      noFingerprint,
      { wall: WALL + 5000, monotonic: 9_000_000 },
    );
    const second = polls(state.scaling.c as ScalingMemory, 2, 9_000_000 - 605_000, 605, 1500);
    expect(Math.max(...second.verdicts.map((v) => v.desired))).toBeGreaterThan(2);
  });
});
