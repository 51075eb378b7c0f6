// A WorkQueue stream with a short max_age whose consumer falls behind: messages expire before any
// replica takes them, and an expiry of a held message leaves num_ack_pending as an acknowledgement
// does, so no capacity is learnt (rates.ts limitRemovalsPossible). Sized by its backlog, which
// max_age keeps short, such a consumer stayed under-sized while most messages expired unworked.
// What arrives is known (the stream's last sequence) and what expired before delivery too (stored
// less delivered less the growth of num_pending): the replicas must grow until nothing expires,
// and stay there while the load does (decide.ts, point 2c).
import { decide, emptyHistory } from './decide.js';
import { withScalingDefaults } from './defaults.js';
import { expiredBeforeDelivery } from './rates.js';
import { sample, T0 } from './test/fixtures.js';
import type { BacklogSample, ScalingDecision, ScalingHistory } from './types.js';

const s = (seconds: number): number => T0 + seconds * 1000;

/** What one replica's handler does (messages/s). */
const CAPACITY = 20;
/** What its client buffers (nats.js consume() max_messages). */
const BUFFER = 100;
const MAX_AGE_SECONDS = 3;
/** Simulation step (seconds). */
const STEP = 0.1;

interface Held {
  seq: number;
  storedAt: number;
}

interface Run {
  decisions: ScalingDecision[];
  /** Replicas asked for after each second's decision. */
  replicas: number[];
  /** Messages that expired before a replica took them, per second. */
  expiredBeforeDelivery: number[];
  /** Messages that expired unworked (before delivery, or in a buffer before the handler reached them), per second. */
  expiredUnworked: number[];
}

/**
 * A WorkQueue stream with max_age MAX_AGE_SECONDS fed at `arrivalAt(t)` per second, consumed by the
 * replicas asked for (ready `startupSeconds` after being asked for), each a client that keeps its
 * buffer of BUFFER full from the stream and works through it at CAPACITY a second. A message that
 * reaches max_age leaves the stream wherever it is (a held one leaves num_ack_pending as if
 * acknowledged; the client still works on it). Read every second, as the operator does.
 */
function run(options: {
  replicas: number;
  seconds: number;
  arrivalAt: (t: number) => number;
  startupSeconds?: number;
  maxReplicas?: number;
}): Run {
  const spec = withScalingDefaults({
    minReplicas: 1,
    maxReplicas: options.maxReplicas ?? 20,
    backlogPerReplica: 100,
  });
  let history: ScalingHistory = {
    ...emptyHistory(),
    recommendations: [{ at: s(0), replicas: options.replicas }],
  };
  const startup = options.startupSeconds ?? 5;
  // Each replica: when it was asked for, its buffer, and its handler's progress on the head message.
  const pods: Array<{ since: number; buffer: Held[]; progress: number }> = [];
  const scaleTo = (n: number, now: number): void => {
    while (pods.length < n) pods.push({ since: now, buffer: [], progress: 0 });
    while (pods.length > n) {
      const gone = pods.pop();
      // A pod taken back: its unacknowledged messages are redelivered later (here: at once).
      if (gone !== undefined) pending.unshift(...gone.buffer.filter((m) => inStream.has(m.seq)));
    }
  };
  let pending: Held[] = [];
  const inStream = new Set<number>();
  let lastSeq = 0;
  let deliveredConsumerSeq = 0;
  let deliveredStreamSeq = 0;
  let arrivedFraction = 0;
  // The server's turn among the waiting pull requests.
  let turn = 0;
  scaleTo(options.replicas, -startup);
  const out: Run = { decisions: [], replicas: [], expiredBeforeDelivery: [], expiredUnworked: [] };
  for (let t = 1; t <= options.seconds; t++) {
    let expiredPending = 0;
    let expiredHeld = 0;
    for (let step = 0; step < Math.round(1 / STEP); step++) {
      const now = t - 1 + (step + 1) * STEP;
      arrivedFraction += options.arrivalAt(t) * STEP;
      for (; arrivedFraction >= 1; arrivedFraction--) {
        lastSeq++;
        pending.push({ seq: lastSeq, storedAt: now });
        inStream.add(lastSeq);
      }
      // max_age: the stream removes what is older, delivered or not.
      const expired = pending.filter((m) => now - m.storedAt >= MAX_AGE_SECONDS);
      expiredPending += expired.length;
      for (const m of expired) inStream.delete(m.seq);
      pending = pending.filter((m) => now - m.storedAt < MAX_AGE_SECONDS);
      for (const pod of pods) {
        for (const m of pod.buffer)
          if (inStream.has(m.seq) && now - m.storedAt >= MAX_AGE_SECONDS) {
            inStream.delete(m.seq);
            expiredHeld++;
          }
      }
      // Each ready client keeps a pull request for what its buffer has room for, and the server
      // hands what waits to the waiting requests in turn.
      const pulling = pods.filter((p) => now - p.since >= startup);
      for (let given = true; given && pending.length > 0;) {
        given = false;
        for (let i = 0; i < pulling.length && pending.length > 0; i++) {
          const pod = pulling[(turn + i) % pulling.length] as (typeof pulling)[number];
          if (pod.buffer.length >= BUFFER) continue;
          const m = pending.shift() as Held;
          pod.buffer.push(m);
          deliveredConsumerSeq++;
          deliveredStreamSeq = Math.max(deliveredStreamSeq, m.seq);
          given = true;
        }
        turn++;
      }
      for (const pod of pulling) {
        pod.progress += CAPACITY * STEP;
        while (pod.progress >= 1 && pod.buffer.length > 0) {
          pod.progress--;
          const m = pod.buffer.shift() as Held;
          // Acknowledged (a message that expired meanwhile is worked on all the same).
          inStream.delete(m.seq);
        }
        if (pod.buffer.length === 0) pod.progress = 0;
      }
    }
    const held = pods.reduce((n, p) => n + p.buffer.filter((m) => inStream.has(m.seq)).length, 0);
    const ready = pods.filter((p) => t - p.since >= startup).length;
    const messages = pending.length + held;
    const oldest = Math.min(
      Infinity,
      ...pending.map((m) => m.storedAt),
      ...pods.flatMap((p) => p.buffer.filter((m) => inStream.has(m.seq)).map((m) => m.storedAt)),
    );
    const reading: BacklogSample = sample({
      at: s(t),
      pending: pending.length,
      ackPending: held,
      deliveredConsumerSeq,
      deliveredStreamSeq,
      ackFloorConsumerSeq: Math.max(0, deliveredConsumerSeq - held),
      limitRemovals: {
        limits: { maxAgeSeconds: MAX_AGE_SECONDS },
        state: {
          messages,
          bytes: messages * 10,
          lastSeq,
          oldestAgeSeconds: messages > 0 ? t - oldest : 0,
        },
      },
    });
    const d = decide({
      spec,
      sample: reading,
      currentReplicas: pods.length,
      readyReplicas: ready,
      history,
      now: s(t),
    });
    history = d.history;
    scaleTo(d.desiredReplicas, t);
    out.decisions.push(d);
    out.replicas.push(pods.length);
    out.expiredBeforeDelivery.push(expiredPending);
    out.expiredUnworked.push(expiredPending + expiredHeld);
  }
  return out;
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
/** How many times the count changed direction (up then down, or down then up). */
function reversals(replicas: number[]): number {
  let last = 0;
  let turns = 0;
  for (let i = 1; i < replicas.length; i++) {
    const move = Math.sign((replicas[i] ?? 0) - (replicas[i - 1] ?? 0));
    if (move === 0) continue;
    if (last !== 0 && move !== last) turns++;
    last = move;
  }
  return turns;
}

describe('a WorkQueue stream with a short max_age whose consumer falls behind', () => {
  it('grows until messages stop expiring, and stays there while the load does', () => {
    // 60/s arrive, one 20/s replica: two thirds expire unworked. Before, the backlog term (max_age
    // keeps it at about 120 pending + 100 held: 3 at backlogPerReplica 100... less as the buffer
    // empties) held 1-2 replicas and no capacity was ever learnt.
    const r = run({ replicas: 1, seconds: 600, arrivalAt: () => 60 });
    const last = r.decisions.at(-1);
    expect(last?.rates.perReplicaPerSecond).toBeUndefined();
    // Enough replicas to take all of it: 3 at 20/s, with RATE_HEADROOM 4; never more than that + 1.
    expect(Math.min(...r.replicas.slice(120))).toBeGreaterThanOrEqual(3);
    expect(Math.max(...r.replicas)).toBeLessThanOrEqual(5);
    // Nothing expires once they run: fewer than 1 % of the last 5 minutes' arrivals.
    expect(sum(r.expiredUnworked.slice(300))).toBeLessThan(0.01 * 60 * 300);
    // No flapping: up to the count that carries the load, never back down while it arrives.
    expect(reversals(r.replicas)).toBe(0);
    // The decision says why.
    const grew = r.decisions.find((d) => /expir/.test(d.reason));
    expect(grew?.reason).toMatch(/expired before any replica took them/);
  });

  it('comes down when the load falls, and does not go back up', () => {
    const r = run({ replicas: 1, seconds: 900, arrivalAt: (t) => (t <= 300 ? 60 : 15) });
    expect(Math.min(...r.replicas.slice(120, 300))).toBeGreaterThanOrEqual(3);
    // 15/s is one replica's work with headroom: the count comes down (after the scale-down window)...
    expect(r.replicas.at(-1)).toBeLessThanOrEqual(2);
    // ...without expiring anything on the way (below 1 % of arrivals after the first minutes).
    expect(sum(r.expiredUnworked.slice(300))).toBeLessThan(0.01 * 15 * 600);
    expect(reversals(r.replicas)).toBeLessThanOrEqual(1);
  });

  it('stays within maxReplicas and the step policies', () => {
    const r = run({ replicas: 1, seconds: 120, arrivalAt: () => 200, maxReplicas: 4 });
    expect(Math.max(...r.replicas)).toBe(4);
    expect(r.decisions.at(-1)?.limitedBy).toBe('MaxReplicas');
  });

  it('a consumer that keeps up grows no replicas for the expiries it does not have', () => {
    const r = run({ replicas: 1, seconds: 300, arrivalAt: () => 15 });
    expect(sum(r.expiredUnworked)).toBe(0);
    expect(Math.max(...r.replicas)).toBe(1);
    expect(r.decisions.every((d) => !/expired before any replica took them/.test(d.reason))).toBe(true);
  });

  it('replicas that carry the load, scaled down by their small backlog, come back once and stay', () => {
    // 3 replicas carry 50/s: never busy, no capacity measured, and the unmeasured-capacity floor
    // does not apply where none is ever learnt: the backlog term takes them down after the
    // scale-down window, messages expire, and they grow back. Once: the figure then holds them.
    const r = run({ replicas: 3, seconds: 900, arrivalAt: () => 50 });
    expect(reversals(r.replicas)).toBeLessThanOrEqual(1);
    expect(Math.min(...r.replicas.slice(600))).toBeGreaterThanOrEqual(3);
    expect(sum(r.expiredUnworked.slice(600))).toBeLessThan(0.01 * 50 * 300);
  });
});

describe('expiredBeforeDelivery: messages the stream removed before this consumer took them', () => {
  const limits = { maxAgeSeconds: 3 };
  const state = (
    lastSeq: number,
  ): { messages: number; bytes: number; lastSeq: number; oldestAgeSeconds: number } => ({
    messages: 10,
    bytes: 100,
    lastSeq,
    oldestAgeSeconds: 1,
  });
  const before = { pending: 50, limitedStream: state(1000) };

  it('is what was stored less what was delivered less the growth of num_pending', () => {
    // 60 stored, 20 delivered, pending grew by 0: 40 expired before delivery.
    expect(
      expiredBeforeDelivery(before, { pending: 50, limitRemovals: { limits, state: state(1060) } }, 20),
    ).toBe(40);
    expect(
      expiredBeforeDelivery(before, { pending: 90, limitRemovals: { limits, state: state(1060) } }, 20),
    ).toBe(0);
  });

  it('is not known for a filtered consumer, another stream kind, or a state not read at both ends', () => {
    const after = { pending: 50, limitRemovals: { limits, state: state(1060) } };
    expect(expiredBeforeDelivery(before, { ...after, filtered: true }, 20)).toBeUndefined();
    expect(expiredBeforeDelivery(before, { pending: 50 }, 20)).toBeUndefined();
    expect(expiredBeforeDelivery({ pending: 50 }, after, 20)).toBeUndefined();
    expect(expiredBeforeDelivery(before, { pending: 50, limitRemovals: { limits } }, 20)).toBeUndefined();
    // The stream was recreated (its sequence went back).
    expect(
      expiredBeforeDelivery(before, { pending: 50, limitRemovals: { limits, state: state(10) } }, 20),
    ).toBeUndefined();
    // Read back from history: not a whole number.
    expect(
      expiredBeforeDelivery({ pending: 50, limitedStream: { ...state(1000), lastSeq: 1.5 } }, after, 20),
    ).toBeUndefined();
  });
});
