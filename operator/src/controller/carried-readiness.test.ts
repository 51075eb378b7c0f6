// Replicas asked for and not ready for the readiness deadline (scaling/readiness.ts: a crash loop,
// an image that cannot be pulled) stop every scale-up: more of the same pods would not become ready
// either. A restarted operator or a new leader starts with no readiness readings, and readiness.ts
// holds back on no guess: until its own readings cover a whole deadline (180 s by default) nothing
// is overdue, so its first reading sized the count by the backlog alone and asked for dozens more
// broken pods. The previous process's finding is carried through status
// (status.consumers[].replicasOverdue, consumer-state.ts carriedReplicasOverdue) and taken back at
// the first reading. A status is input from outside, so only a recent, well-formed one is taken.
import type { BacklogSample } from '../scaling/types.js';
import { carriedReplicasOverdue, newConsumerState, type ScalingMemory } from './consumer-state.js';
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

const { WALL, iso, clocks } = carriedClock('2026-12-07T09:00:00Z');
const DEADLINE = 180;

function entry(over: Record<string, unknown> = {}, overdue: unknown = { asked: 8, ready: 2, overdue: 6 }) {
  return {
    ...CONSUMER_ENTRY,
    consecutiveFailures: 0,
    replicasOverdue: overdue,
    lastBacklogReadTime: iso(30),
    ...over,
  };
}

describe('carriedReplicasOverdue (status read back)', () => {
  it('takes a recent, well-formed finding, its time on the monotonic clock', () => {
    expect(carriedReplicasOverdue(entry(), clocks)).toEqual({
      at: 7_000_000 - 30_000,
      asked: 8,
      ready: 2,
      overdue: 6,
    });
  });

  it.each([
    ['from the future', entry({ lastBacklogReadTime: iso(-120) })],
    ['without a read time', entry({ lastBacklogReadTime: undefined })],
    ['with a read time that is no time', entry({ lastBacklogReadTime: 'yesterday' })],
    ['absent', entry({ replicasOverdue: undefined })],
    ['that is not an object', entry({}, 'crash loop')],
    ['with none overdue', entry({}, { asked: 8, ready: 8, overdue: 0 })],
    ['with more overdue than asked', entry({}, { asked: 3, ready: 0, overdue: 4 })],
    ['with more ready than the overdue leave', entry({}, { asked: 8, ready: 3, overdue: 6 })],
    ['with a fraction of a replica', entry({}, { asked: 8, ready: 2, overdue: 5.5 })],
    ['with negative ready', entry({}, { asked: 8, ready: -1, overdue: 6 })],
    ['with asked not a number', entry({}, { asked: '8', ready: 2, overdue: 6 })],
    ['without ready', entry({}, { asked: 8, overdue: 6 })],
  ])('ignores a finding %s', (_why, e) => {
    expect(carriedReplicasOverdue(e, clocks)).toBeUndefined();
  });
});

describe('a restarted operator takes back the replicas overdue: no more broken pods at its first reading', () => {
  const spec = carriedSpec();

  /**
   * A Deployment of 8 whose 6 newest pods crash-loop: 2 replicas stay ready whatever is asked for,
   * completing 10/s. Until t = 0 that is what arrives; from then on 20/s, so the backlog grows by
   * 10/s.
   */
  function reading(at: number, t: number): BacklogSample {
    return {
      at,
      pending: 50 + 10 * Math.max(0, t),
      ackPending: 20,
      redelivered: 0,
      waiting: 0,
      deliveredConsumerSeq: 12_000 + 10 * t,
      deliveredStreamSeq: 12_000 + 10 * t,
      ackFloorConsumerSeq: 11_980 + 10 * t,
      maxAckPending: 1000,
    };
  }

  /** Polls every 5 s from scenario second `from` to `to` on a monotonic clock at `base` for t = 0, `ready` ready. */
  function polls(
    memory: ScalingMemory,
    replicas: number,
    base: number,
    from: number,
    to: number,
    ready: (asked: number) => number = () => 2,
  ): PollRun {
    return pollsOf({ spec, reading, memory, replicas, base, from, to, ready });
  }

  // The first process, from t = -200 s (its readings cover the deadline from -20 s) to 300 s.
  const first = polls(freshMemory(), 8, 1_000_000, -200, 300);
  const last = first.verdicts.at(-1) as Verdict;
  const written = statusOf(last, scaleOf(first.replicas, 2), WALL);
  const held = first.replicas;
  const later = { wall: WALL + 5000, monotonic: 9_000_000 };
  // The new process's scenario second 305 is its monotonic 9,000,000.
  const base = 9_000_000 - 305_000;

  it('the first process stops adding replicas once they are overdue, and its status says how many', () => {
    expect(last.read?.decision.limitedBy).toBe('ReplicasNotReady');
    // Itself new at -200 s, it added 4 (to 12) before its readings covered the deadline; from 5 s
    // on, with the backlog growing to 3,050, it holds.
    expect(held).toBeLessThan(20);
    expect(Math.max(...first.verdicts.map((v) => v.desired))).toBe(held);
    expect(first.verdicts.slice(-60).every((v) => v.read?.decision.limitedBy === 'ReplicasNotReady')).toBe(
      true,
    );
    const overdue = last.read?.decision.readiness?.overdue ?? 0;
    expect(overdue).toBeGreaterThan(0);
    expect(written.consumers?.[0]?.replicasOverdue).toEqual({ asked: held, ready: 2, overdue });
    // The CRD declares it, or the API server would drop it unseen.
    expect(undeclared(written, statusSchema(), 'status')).toEqual([]);
  });

  it('a new process 5 s later (another monotonic clock) keeps holding at its first readings', () => {
    const state = newConsumerState(objectWith(written), noFingerprint, later);
    const second = polls(state.scaling.c as ScalingMemory, held, base, 305, 600);
    expect(Math.max(...second.verdicts.map((v) => v.desired))).toBe(held);
    expect(second.verdicts[0]?.read?.decision.limitedBy).toBe('ReplicasNotReady');
    // No second Warning event: the replicas were overdue before this process too.
    expect(second.verdicts[0]?.events.filter((e) => e.reason === 'ReplicasNotReady')).toEqual([]);
    expect(second.memory.carriedReplicasOverdue).toBeUndefined();
  });

  it('without the finding in status (as cc16f66 wrote it), the new process adds broken pods', () => {
    const consumers = written.consumers?.map(({ replicasOverdue: _dropped, ...c }) => c);
    const state = newConsumerState(
      objectWith({ ...written, ...(consumers !== undefined ? { consumers } : {}) }),
      noFingerprint,
      later,
    );
    const second = polls(state.scaling.c as ScalingMemory, held, base, 305, 305);
    expect(second.verdicts[0]?.desired).toBeGreaterThan(held);
  });

  it("pods ready again by the new process's first reading: it scales up at once (a spike is not sat on)", () => {
    const state = newConsumerState(objectWith(written), noFingerprint, later);
    const second = polls(state.scaling.c as ScalingMemory, held, base, 305, 305, (asked) => asked);
    expect(second.verdicts[0]?.desired).toBeGreaterThan(held);
    expect(second.verdicts[0]?.read?.decision.limitedBy).not.toBe('ReplicasNotReady');
  });

  it('a finding older than the readiness deadline, or of another generation, is not taken', () => {
    const old = newConsumerState(objectWith(written), noFingerprint, {
      wall: WALL + (DEADLINE + 1) * 1000,
      monotonic: 9_000_000,
    });
    const stale = polls(old.scaling.c as ScalingMemory, held, 9_000_000 - 481_000, 481, 481);
    expect(stale.verdicts[0]?.desired).toBeGreaterThan(held);
    const edited = newConsumerState(objectWith(written, 4), noFingerprint, later);
    expect(edited.scaling.c?.carriedReplicasOverdue).toBeUndefined();
  });
});
