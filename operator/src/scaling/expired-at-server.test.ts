// Messages that wait at the server and expire there before any replica takes them (a WorkQueue
// stream with max_age, pull clients that hold their buffers of expired messages and ask again only
// at their refill mark: nats.js consume() at 10/s with 30 s handlers holds 100 and asks at 75). An
// interval then delivers nothing, and num_pending holds level (what arrives replaces what expires):
// counted from deliveries and num_pending's growth, what arrived read as nothing, 0.6-0.9/s for
// 10/s arriving (session 34's nats.js runs). The stream's last sequence, read with every reading on
// such a stream (BacklogSample.limitRemovals), says what it stored.
import { maxAgeExpiring, observeRates } from './rates.js';
import type { RateState } from './rates.js';
import { sample, T0 } from './test/fixtures.js';
import type { BacklogSample } from './types.js';

const MAX_AGE_SECONDS = 3;

/** Second `t` of 10/s arriving: 30 wait (3 s of them), 200 held (two replicas' buffers), nothing delivered. */
function atServer(t: number, over: Partial<BacklogSample> = {}): BacklogSample {
  const lastSeq = 5000 + 10 * t;
  return sample({
    at: T0 + t * 1000,
    pending: 30,
    ackPending: 200,
    waiting: 0,
    deliveredConsumerSeq: 4770,
    deliveredStreamSeq: 4770,
    ackFloorConsumerSeq: 4570,
    maxAckPending: 1000,
    limitRemovals: {
      limits: { maxAgeSeconds: MAX_AGE_SECONDS },
      state: { messages: 230, bytes: 23000, lastSeq, firstSeq: lastSeq - 229, oldestAgeSeconds: 2.95 },
    },
    ...over,
  });
}

function readEverySecond(seconds: number, reading: (t: number) => BacklogSample): RateState {
  let state: RateState | undefined;
  for (let t = 0; t <= seconds; t++) state = observeRates(state, reading(t), 2);
  return state as RateState;
}

describe('messages that expire at the server before delivery are arrivals all the same', () => {
  it('10/s stored, nothing delivered, num_pending level: reads 10/s', () => {
    const state = readEverySecond(60, (t) => atServer(t));
    expect(state.arrivalPerSecond).toBeGreaterThan(9);
    expect(state.arrivalPerSecond).toBeLessThan(11);
  });

  it('a filtered consumer (the stream stores other subjects too) is not read from the stream', () => {
    // Its stream's last sequence moves with every subject's messages: nothing here says which are its own.
    const state = readEverySecond(60, (t) => atServer(t, { filtered: true }));
    expect(state.arrivalPerSecond).toBeLessThan(1);
  });
});

/**
 * Second `t` of 10/s arriving at two replicas that each take 5 at once every 4 s (one refill
 * between them: 10 every 4 s, 1.25/s a replica), 30 waiting at the removal edge throughout.
 */
function takingEveryFourSeconds(
  t: number,
  limits: { maxAgeSeconds?: number; maxMsgs?: number },
): BacklogSample {
  const lastSeq = 5000 + 10 * t;
  const delivered = 4770 + 10 * Math.floor(t / 4);
  return sample({
    at: T0 + t * 1000,
    pending: 30,
    ackPending: 200,
    waiting: 0,
    deliveredConsumerSeq: delivered,
    deliveredStreamSeq: delivered,
    ackFloorConsumerSeq: delivered - 200,
    maxAckPending: 1000,
    limitRemovals: {
      limits,
      state: { messages: 230, bytes: 23000, lastSeq, firstSeq: lastSeq - 229, oldestAgeSeconds: 2.95 },
    },
  });
}

describe('what the replicas take while the limit removes (perReplicaTakenWhileRemoving)', () => {
  it('where messages expire at the server by age, intervals that took nothing count: 1.25/s a replica, not 5', () => {
    // Read only from intervals that took something, one refill a second read 5/s a replica: sized
    // at it, the count fell to one while four replicas' worth expired (nats.js consume() 1 <-> 2).
    const state = readEverySecond(120, (t) => takingEveryFourSeconds(t, { maxAgeSeconds: MAX_AGE_SECONDS }));
    expect(state.perReplicaTakenWhileRemoving).toBeGreaterThan(0.9);
    expect(state.perReplicaTakenWhileRemoving).toBeLessThan(1.6);
  });

  it('where a max_msgs limit discards, only intervals that took something count (a hung client does not lower it)', () => {
    const state = readEverySecond(120, (t) => takingEveryFourSeconds(t, { maxMsgs: 230 }));
    expect(state.perReplicaTakenWhileRemoving).toBeGreaterThan(4);
    expect(state.perReplicaTakenWhileRemoving).toBeLessThan(6);
  });

  it('a stream with max_age standing full at a max_msgs that discards: as at max_msgs', () => {
    const state = readEverySecond(120, (t) =>
      takingEveryFourSeconds(t, { maxAgeSeconds: MAX_AGE_SECONDS, maxMsgs: 230 }),
    );
    expect(state.perReplicaTakenWhileRemoving).toBeGreaterThan(4);
  });
});

describe('maxAgeExpiring: where 2c’s pace checks apply', () => {
  const state = { messages: 230, bytes: 23000, lastSeq: 5000, firstSeq: 4771, oldestAgeSeconds: 2.95 };
  it('the max_age of a stream below any limit that discards', () => {
    expect(maxAgeExpiring({ limitRemovals: { limits: { maxAgeSeconds: 3, maxMsgs: 1000 }, state } })).toBe(3);
  });
  it('none while the stream stands at a max_msgs / max_bytes that discards old, nor without max_age', () => {
    expect(
      maxAgeExpiring({ limitRemovals: { limits: { maxAgeSeconds: 3, maxMsgs: 230 }, state } }),
    ).toBeUndefined();
    expect(
      maxAgeExpiring({ limitRemovals: { limits: { maxAgeSeconds: 3, maxBytes: 24000 }, state } }),
    ).toBeUndefined();
    expect(maxAgeExpiring({ limitRemovals: { limits: { maxMsgs: 1000 }, state } })).toBeUndefined();
    expect(maxAgeExpiring({})).toBeUndefined();
  });
  it('none while the taken figure was last learnt at such a limit, though the stream has drained below it', () => {
    const limits = { maxAgeSeconds: 3, maxMsgs: 1000 };
    expect(
      maxAgeExpiring({ limitRemovals: { limits, state } }, { takenAtDiscardLimit: true }),
    ).toBeUndefined();
    expect(maxAgeExpiring({ limitRemovals: { limits, state } }, {})).toBe(3);
  });
});
