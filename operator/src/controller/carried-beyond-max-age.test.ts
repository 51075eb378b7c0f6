// Handlers slower than the stream's max_age (scaling/beyond-max-age.ts), read back from the
// EventConsumer's status by a restarted operator or a new leader (consumer-state.ts
// carriedHandlersSlowerThanMaxAge, decide.ts fromBacklog, scaling/rates.ts carriedBeyondMaxAge):
// without it every new process took one more trial replica (scaling/beyond-max-age.test: 2 -> 6 over
// four restarts). A status is input from outside: only a recent, well-formed finding of the same
// stream and consumer is read back, and the policy takes it only when its first reading shows the
// same max_age, no fewer replicas ready and no message acknowledged before it expired.
import type { BacklogSample } from '../scaling/types.js';
import { CARRIED_CAPACITY_MAX_AGE_SECONDS } from './carried-age.js';
import { carriedHandlersSlowerThanMaxAge, newConsumerState, type ScalingMemory } from './consumer-state.js';
import { decide } from './decide.js';
import { decide as policyDecide } from '../scaling/index.js';
import {
  CONSUMER,
  carriedSpec,
  noFingerprint,
  objectWith,
  scaleOf,
  statusOf,
  CONSUMER_ENTRY,
  carriedClock,
} from './test/carried-status.js';
import { statusSchema, undeclared } from './test/status-schema.js';

const { WALL, iso, clocks } = carriedClock('2026-12-07T16:00:00Z');

function entry(
  over: Record<string, unknown> = {},
  finding: unknown = { seconds: 400, replicas: 2, maxAgeSeconds: 3 },
) {
  return {
    ...CONSUMER_ENTRY,
    consecutiveFailures: 0,
    rates: { arrivalPerSecond: 10, handlersSlowerThanMaxAge: finding },
    lastBacklogReadTime: iso(30),
    ...over,
  };
}

describe('carriedHandlersSlowerThanMaxAge (status read back)', () => {
  it('takes a recent finding of a named stream and consumer, its start on the monotonic clock', () => {
    expect(carriedHandlersSlowerThanMaxAge(entry(), clocks)).toEqual({
      since: 7_000_000 - 430_000,
      replicas: 2,
      maxAgeSeconds: 3,
      stream: 'S',
      consumer: 'c',
      usableUntil: 7_000_000 - 30_000 + CARRIED_CAPACITY_MAX_AGE_SECONDS * 1000,
    });
  });

  it.each([
    ['stale', entry({ lastBacklogReadTime: iso(CARRIED_CAPACITY_MAX_AGE_SECONDS + 1) })],
    ['from the future', entry({ lastBacklogReadTime: iso(-120) })],
    ['without a read time', entry({ lastBacklogReadTime: undefined })],
    ['without a consumer', entry({ consumer: '' })],
    ['without a finding', entry({ rates: { arrivalPerSecond: 10 } })],
    ['with negative seconds', entry({}, { seconds: -1, replicas: 2, maxAgeSeconds: 3 })],
    ['with infinite seconds', entry({}, { seconds: Infinity, replicas: 2, maxAgeSeconds: 3 })],
    ['with no replicas', entry({}, { seconds: 400, replicas: 0, maxAgeSeconds: 3 })],
    ['with a fraction of a replica', entry({}, { seconds: 400, replicas: 1.5, maxAgeSeconds: 3 })],
    ['with no max_age', entry({}, { seconds: 400, replicas: 2, maxAgeSeconds: 0 })],
    ['with max_age not a number', entry({}, { seconds: 400, replicas: 2, maxAgeSeconds: '3s' })],
    ['that is not an object', entry({}, 'slow')],
  ])('ignores a finding %s', (_why, e) => {
    expect(carriedHandlersSlowerThanMaxAge(e, clocks)).toBeUndefined();
  });

  it('is read back only from a status written for the current generation', () => {
    const status = { observedGeneration: 2, consumers: [entry()] } as never;
    const state = newConsumerState(objectWith(status, 3), noFingerprint, clocks);
    expect(state.scaling.c?.carriedHandlersSlowerThanMaxAge).toBeUndefined();
  });
});

describe('a restarted operator takes the finding back only when its first reading shows it still holds', () => {
  const spec = carriedSpec({ minReplicas: 1, maxReplicas: 30 });

  /**
   * A push consumer on a WorkQueue stream with max_age 3 s at 10/s: 30 held by the replicas, every
   * message expiring in hand, nothing acknowledged (no gap: first_seq..last_seq all stored, the
   * oldest at max_age), unless `acked` (a gap of 5 inside the stream).
   */
  function reading(at: number, t: number, o: { maxAge?: number; acked?: boolean } = {}): BacklogSample {
    const lastSeq = 20_000 + 10 * t;
    const messages = o.acked === true ? 25 : 30;
    return {
      at,
      pending: 0,
      ackPending: messages,
      redelivered: 0,
      waiting: 0,
      deliveredConsumerSeq: lastSeq,
      deliveredStreamSeq: lastSeq,
      ackFloorConsumerSeq: lastSeq - 30,
      maxAckPending: 1000,
      push: true,
      limitRemovals: {
        limits: { maxAgeSeconds: o.maxAge ?? 3 },
        state: { messages, bytes: messages * 100, lastSeq, firstSeq: lastSeq - 29, oldestAgeSeconds: 2.95 },
      },
    };
  }

  /** The new process's first verdict at 2 replicas (`ready` of them ready), 5 s after the status was written. */
  function firstVerdict(o: { maxAge?: number; acked?: boolean; ready?: number; rollout?: boolean } = {}) {
    const status = { observedGeneration: 3, consumers: [entry({ lastBacklogReadTime: iso(0) })] } as never;
    const later = { wall: WALL + 5000, monotonic: 9_000_000 };
    const memory = newConsumerState(objectWith(status), noFingerprint, later).scaling.c as ScalingMemory;
    expect(memory.carriedHandlersSlowerThanMaxAge).toBeDefined();
    return decide({
      spec,
      consumer: CONSUMER,
      backlog: { ok: true, sample: reading(9_000_000, 405, o) },
      scale: {
        ...scaleOf(2, o.ready ?? 2),
        ...(o.rollout === true ? { rollout: { unavailable: 1, remaining: 1 } } : {}),
      },
      memory,
      now: 9_000_000,
      policy: policyDecide,
    });
  }

  it('the same max_age, the replicas ready, nothing acknowledged: held, and said from the first reading', () => {
    const v = firstVerdict();
    expect(v.read?.decision.handlersSlowerThanMaxAge).toMatchObject({
      replicas: 2,
      maxAgeSeconds: 3,
      started: false,
    });
    // Used once, then dropped from memory (the history holds it now).
    expect(v.memory.carriedHandlersSlowerThanMaxAge).toBeUndefined();
  });

  it.each([
    ['max_age changed', { maxAge: 10 }],
    ['a message acknowledged before it expired (a gap in the stream)', { acked: true }],
    ['fewer replicas ready than it was found with (pods replaced)', { ready: 1 }],
    ['a rollout under way', { rollout: true }],
  ])('not taken with %s', (_why, o) => {
    expect(firstVerdict(o).read?.decision.handlersSlowerThanMaxAge).toBeUndefined();
  });

  it('a status that carries it declares it in the CRD, from the decision', () => {
    const v = firstVerdict();
    const written = statusOf(v, scaleOf(2), WALL + 5000);
    expect(written.consumers?.[0]?.rates?.handlersSlowerThanMaxAge).toEqual({
      seconds: 405,
      replicas: 2,
      maxAgeSeconds: 3,
    });
    expect(undeclared(written, statusSchema(), 'status')).toEqual([]);
  });
});
