import { backlogRefusal, heldAtThreshold, waitsWithBacklog } from './refused-backlog.js';
import { sample, T0 } from './test/fixtures.js';

const s = (seconds: number): number => T0 + seconds * 1000;
// Three overflow clients pulling with min_pending 100, 99 pending, nothing delivered yet.
const refusing = (seconds: number, extra = {}) =>
  sample({ at: s(seconds), pending: 99, waiting: 3, maxAckPending: 1000, ...extra });

describe('backlogRefusal: pull requests that wait with a backlog and take none of it', () => {
  it('is unconfirmed on a first reading, refused once a run of readings spans an interval', () => {
    expect(backlogRefusal([], refusing(0))).toEqual({ state: 'unconfirmed', firstReading: true });
    expect(backlogRefusal([refusing(0)], refusing(0.5))).toEqual({
      state: 'unconfirmed',
      firstReading: false,
    });
    expect(backlogRefusal([refusing(0), refusing(0.5)], refusing(1))).toEqual({
      state: 'refused',
      since: s(0),
    });
    // The run starts at its first reading: an earlier one with no requests waiting is not part of it.
    const before = sample({ at: s(-5), pending: 99, waiting: 0, maxAckPending: 1000 });
    expect(backlogRefusal([before, refusing(0)], refusing(2))).toEqual({ state: 'refused', since: s(0) });
  });

  it('is not a refusal when anything was delivered since the previous reading (a backlog being worked)', () => {
    const worked = sample({
      at: s(1),
      pending: 500,
      waiting: 2,
      deliveredConsumerSeq: 40,
      maxAckPending: 1000,
    });
    // The reading before showed no request waiting: the server fills them at once while it delivers.
    expect(backlogRefusal([sample({ at: s(0), pending: 540, waiting: 0 })], worked)).toBeUndefined();
    // Stream sequence alone moving (a redelivery counts in consumer_seq; a recreated consumer may not).
    expect(
      backlogRefusal([refusing(0)], refusing(1, { deliveredConsumerSeq: 0, deliveredStreamSeq: 7 })),
    ).toBeUndefined();
  });

  it('is a standing backlog when requests wait at every reading of a run spanning an interval while deliveries keep it level', () => {
    // min_pending 100, 20/s arriving: one message delivered each time num_pending reaches 100.
    const standing = (seconds: number, extra = {}) =>
      refusing(seconds, { deliveredConsumerSeq: 20 * seconds, ...extra });
    expect(backlogRefusal([standing(0)], standing(0.5))).toBeUndefined();
    expect(backlogRefusal([standing(0)], standing(1))).toEqual({ state: 'standing', since: s(0), level: 99 });
    expect(backlogRefusal([standing(0), standing(1, { pending: 92 })], standing(2))).toEqual({
      state: 'standing',
      since: s(0),
      level: 92,
    });
    // A reading with no request waiting ends the run.
    expect(backlogRefusal([standing(0), standing(1, { waiting: 0 })], standing(2))).toBeUndefined();
    // A backlog that outgrows what is delivered is no standing one, requests waiting or not (real
    // readings of nats.go Consume() falling behind: a request waiting with 5,280 then 5,486 pending).
    expect(
      backlogRefusal(
        [sample({ at: s(0), pending: 5280, waiting: 1, deliveredConsumerSeq: 1755, maxAckPending: 1000 })],
        sample({ at: s(2.272), pending: 5486, waiting: 1, deliveredConsumerSeq: 1804, maxAckPending: 1000 }),
      ),
    ).toBeUndefined();
  });

  it("is no standing backlog when the stream's own limits remove what waits undelivered (discard old at its limit)", () => {
    // consumer-configs.int, max_msgs 100 discard old: 60/s arrive, one 20/s replica; the stream holds
    // 100, all pending, and its front passes the consumer's position (a request caught waiting at
    // both readings). The backlog stays at 100 because the stream discards, not because requests
    // hold it back: 25 delivered while the front moved 88 past where the consumer was.
    const full = (seconds: number, delivered: number, streamSeq: number, firstSeq: number, extra = {}) =>
      sample({
        at: s(seconds),
        pending: 100,
        waiting: 1,
        maxAckPending: 1000,
        deliveredConsumerSeq: delivered,
        deliveredStreamSeq: streamSeq,
        removesHeld: true,
        streamFirstSeq: firstSeq,
        ...extra,
      });
    const before = full(0, 175, 175, 205);
    const after = full(1, 200, 238, 264);
    expect(heldAtThreshold(before, after)).toBe(false);
    expect(backlogRefusal([before], after)).toBeUndefined();
    expect(backlogRefusal([full(-1, 150, 150, 143), before], after)).toBeUndefined();
    // The same readings on a stream whose front stays behind the consumer (nothing removed that it
    // had not delivered): held at the requests' threshold.
    expect(heldAtThreshold(full(0, 175, 175, 1), full(1, 200, 200, 1))).toBe(true);
    // The front reaching no further than what was delivered in between: still held.
    expect(heldAtThreshold(full(0, 175, 175, 150), full(1, 200, 200, 201))).toBe(true);
    // The first sequence not known on a stream that removes: not told apart, so not held.
    expect(heldAtThreshold(full(0, 175, 175, 1), full(1, 200, 200, 1, { streamFirstSeq: undefined }))).toBe(
      false,
    );
    // Limits removing from inside the stream (max_msgs_per_subject, rollups, TTLs): not told apart.
    expect(heldAtThreshold(full(0, 175, 175, 1), full(1, 200, 200, 1, { removesInside: 'limits' }))).toBe(
      false,
    );
    // Only a user's delete or purge removes from inside: held.
    expect(heldAtThreshold(full(0, 175, 175, 1), full(1, 200, 200, 1, { removesInside: 'requests' }))).toBe(
      true,
    );
  });

  it("is no standing backlog when a WorkQueue or Interest stream's limits may have removed messages", () => {
    const limited = (seconds: number, delivered: number, messages: number, lastSeq: number) => {
      const state = { messages, bytes: messages * 10, lastSeq, oldestAgeSeconds: 1 };
      return {
        ...sample({
          at: s(seconds),
          pending: 99,
          waiting: 3,
          maxAckPending: 1000,
          deliveredConsumerSeq: delivered,
          deliveredStreamSeq: delivered,
          limitRemovals: { limits: { maxMsgs: 100 }, state },
        }),
        // As rates.ts keeps it of the earlier reading.
        limitedStream: state,
      };
    };
    // At max_msgs: what arrives discards the oldest.
    expect(heldAtThreshold(limited(0, 100, 100, 200), limited(1, 120, 100, 220))).toBe(false);
    // Far below it: nothing can have been removed by the limits.
    expect(heldAtThreshold(limited(0, 100, 10, 200), limited(1, 120, 10, 220))).toBe(true);
  });

  it('needs requests waiting, messages pending, room under max_ack_pending and no pause', () => {
    expect(waitsWithBacklog(refusing(0))).toBe(true);
    // Clients still starting, or none at all: nothing waits at the server.
    expect(waitsWithBacklog(refusing(0, { waiting: 0 }))).toBe(false);
    expect(waitsWithBacklog(refusing(0, { pending: 0 }))).toBe(false);
    // max_ack_pending full: the server holds deliveries back for that, not the requests.
    expect(waitsWithBacklog(refusing(0, { ackPending: 1000 }))).toBe(false);
    expect(waitsWithBacklog(refusing(0, { ackPending: 999 }))).toBe(true);
    expect(waitsWithBacklog(refusing(0, { maxAckPending: -1, ackPending: 5000 }))).toBe(true);
    expect(waitsWithBacklog(refusing(0, { paused: true }))).toBe(false);
    expect(backlogRefusal([refusing(0)], refusing(2, { waiting: 0 }))).toBeUndefined();
  });

  it('starts over on a recreated consumer', () => {
    const old = refusing(0, { consumerCreated: '2026-01-01T00:00:00Z' });
    const recreated = refusing(5, { consumerCreated: '2026-01-01T00:00:04Z' });
    expect(backlogRefusal([old], recreated)).toEqual({ state: 'unconfirmed', firstReading: true });
  });
});
