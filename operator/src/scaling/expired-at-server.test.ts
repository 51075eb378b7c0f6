// Messages that wait at the server and expire there before any replica takes them (a WorkQueue
// stream with max_age, pull clients that hold their buffers of expired messages and ask again only
// at their refill mark: nats.js consume() at 10/s with 30 s handlers holds 100 and asks at 75). An
// interval then delivers nothing, and num_pending holds level (what arrives replaces what expires):
// counted from deliveries and num_pending's growth, what arrived read as nothing, 0.6-0.9/s for
// 10/s arriving (session 34's nats.js runs). The stream's last sequence, read with every reading on
// such a stream (BacklogSample.limitRemovals), says what it stored.
import { observeRates } from './rates.js';
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
