// What the operator reads from NATS must not mislead the capacity estimate: readings of stalls,
// of limits streams removing messages that replicas hold, and of slow handlers (rates.ts).
import { droppedAtFirstDelivery, observeRates, removedInside, type RateState } from './rates.js';
import { sample, T0 } from './test/fixtures.js';
import type { BacklogSample } from './types.js';

const s = (seconds: number): number => T0 + seconds * 1000;

/** Feeds readings taken once a second; returns the state after each. */
function feed(readings: BacklogSample[], ready: number, from?: RateState): RateState[] {
  const states: RateState[] = [];
  let state = from;
  for (const r of readings) {
    state = observeRates(state, r, ready);
    states.push(state);
  }
  return states;
}

describe('a delivery stall: work waits and nothing is delivered (a consumer leader stepped down)', () => {
  // One replica whose handlers do 20/s, holding 100 messages of the backlog (a nats.js consume()
  // buffer), until the server stops delivering to it: the rest of the run it holds 1 message it
  // never acknowledges (its ack went to the old leader) while 20/s more arrive (leader-change.int).
  function busy(seconds: number): BacklogSample[] {
    const out: BacklogSample[] = [];
    for (let t = 0; t <= seconds; t++)
      out.push(
        sample({
          at: s(t),
          pending: 1000 + 20 * t,
          ackPending: 100,
          deliveredConsumerSeq: 100 + 20 * t,
          ackFloorConsumerSeq: 20 * t,
        }),
      );
    return out;
  }
  function stalled(from: number, seconds: number, base: BacklogSample): BacklogSample[] {
    const out: BacklogSample[] = [];
    for (let t = from; t <= from + seconds; t++)
      out.push({
        ...base,
        at: s(t),
        pending: base.pending + 20 * (t - from + 1),
        // It works through what it holds at 20/s, and then holds 1 for good.
        ackPending: Math.max(1, base.ackPending - 20 * (t - from + 1)),
      });
    return out;
  }

  it('learns no capacity from a stall when none is known (before: 0/s)', () => {
    // The replica kept up before (nothing waited), so no figure was learnt; then the stall.
    const keepingUp: BacklogSample[] = [];
    for (let t = 0; t <= 5; t++)
      keepingUp.push(
        sample({ at: s(t), pending: 0, deliveredConsumerSeq: 20 * t, ackFloorConsumerSeq: 20 * t }),
      );
    const last = keepingUp.at(-1) ?? sample();
    const states = feed([...keepingUp, ...stalled(6, 30, { ...last, ackPending: 1 })], 1);
    expect(states.every((st) => st.perReplicaPerSecond === undefined)).toBe(true);
  });

  it('keeps the figure it had through a stall (before: 20/s fell to 11.5/s)', () => {
    const before = busy(30);
    const states = feed([...before, ...stalled(31, 30, before.at(-1) ?? sample())], 1);
    const atStallStart = states[before.length - 1]?.perReplicaPerSecond ?? NaN;
    expect(atStallStart).toBeCloseTo(20, 6);
    expect(states.at(-1)?.perReplicaPerSecond).toBeCloseTo(20, 0);
  });

  it('measures the interval that ends a stall alone: the idle run is not spread over the work (before: 13.7/s)', () => {
    const before = busy(30);
    const stall = stalled(31, 20, before.at(-1) ?? sample());
    const end = stall.at(-1) ?? sample();
    // Delivery resumes: 100 delivered into the buffer, 20 completed in the second.
    const resumed = {
      ...end,
      at: s(52),
      pending: end.pending + 20 - 100,
      ackPending: 81,
      deliveredConsumerSeq: end.deliveredConsumerSeq + 100,
    };
    const states = feed([...before, ...stall, resumed], 1);
    expect(states.at(-1)?.perReplicaPerSecond).toBeGreaterThan(0.95 * 20);
  });
});

describe('handlers slower than the poll: quiet intervals are measured with the one that ends them', () => {
  // One replica whose handler takes 3 s, 1,000 waiting, readings once a second: every third reading
  // shows one completion (and one delivery refilling the buffer), the two between show nothing.
  function slow(seconds: number): BacklogSample[] {
    const out: BacklogSample[] = [];
    for (let t = 0; t <= seconds; t++) {
      const done = Math.floor(t / 3);
      out.push(
        sample({
          at: s(t),
          pending: 1000 - done,
          ackPending: 100,
          deliveredConsumerSeq: 100 + done,
          ackFloorConsumerSeq: done,
        }),
      );
    }
    return out;
  }

  it('learns 1/3 per second, not the 1/s of the readings that completed something', () => {
    const states = feed(slow(120), 1);
    expect(states.at(-1)?.perReplicaPerSecond).toBeCloseTo(1 / 3, 1);
  });

  it('does not take such a run for a stall once the figure is known (2 s at 1/3 per second: under STALL_MESSAGES)', () => {
    const states = feed(slow(600), 1);
    expect(states.at(-1)?.perReplicaPerSecond).toBeCloseTo(1 / 3, 1);
    expect(states.at(-1)?.quietSince).toBeUndefined();
  });
});

describe('a limits stream removing messages the replicas hold (max_msgs 100 discarding old, max_age)', () => {
  // One replica acknowledging 20 a second, in order, from a buffer of 100 (a nats.js consume()
  // client), while 60/s arrive into a stream of max_msgs 100: the server removes messages from the
  // front, held ones among them, and takes each out of num_ack_pending as if acknowledged
  // (consumer.go decStreamPending → processTerm); acknowledgements of removed messages do nothing.
  function limits(seconds: number, firstSeqKnown = true): BacklogSample[] {
    const out: BacklogSample[] = [];
    let last = 1000; // the stream's last sequence
    let first = last - 99;
    let delivered = 900; // delivered.stream_seq
    let consumerSeq = 0;
    const clientBuffer: number[] = [];
    const held = new Set<number>();
    const deliver = (n: number): void => {
      for (let k = 0; k < n && Math.max(delivered + 1, first) <= last; k++) {
        delivered = Math.max(delivered + 1, first);
        consumerSeq++;
        clientBuffer.push(delivered);
        held.add(delivered);
      }
    };
    deliver(100);
    for (let t = 0; t <= seconds; t++) {
      const floor = held.size > 0 ? Math.min(...held) - 1 : delivered;
      out.push(
        sample({
          at: s(t),
          pending: last - Math.max(delivered, first - 1),
          ackPending: held.size,
          deliveredConsumerSeq: consumerSeq,
          deliveredStreamSeq: delivered,
          ackFloorConsumerSeq: 0,
          ackFloorStreamSeq: floor,
          removesHeld: true,
          ...(firstSeqKnown ? { streamFirstSeq: first } : {}),
        }),
      );
      for (const seq of clientBuffer.splice(0, 20)) held.delete(seq); // acks (of removed ones: nothing)
      deliver(20);
      last += 60;
      first = last - 99;
      for (const seq of held) if (seq < first) held.delete(seq); // removed: out of num_ack_pending
    }
    return out;
  }

  it('takes no removal for a completion (before: 60/s for 20/s handlers)', () => {
    const states = feed(limits(30), 1);
    const figures = states.map((st) => st.perReplicaPerSecond).filter((c) => c !== undefined);
    expect(Math.max(0, ...figures)).toBeLessThanOrEqual(20);
    // Measured over the run, less what was held when removals began: what the handlers do.
    expect(states.at(-1)?.perReplicaPerSecond).toBeGreaterThan(0.8 * 20);
  });

  it('takes no capacity from an interval whose first sequence is not known', () => {
    const states = feed(limits(30, false), 1);
    expect(states.every((st) => st.perReplicaPerSecond === undefined)).toBe(true);
  });

  it('learns as before while the stream removes only acknowledged messages (its first sequence below the ack floor)', () => {
    // 2 replicas at 20/s each, 1,000 waiting; max_age keeps the last 60 s, far behind the floor.
    const readings: BacklogSample[] = [];
    for (let t = 0; t <= 30; t++)
      readings.push(
        sample({
          at: s(t),
          pending: 1000,
          ackPending: 200,
          deliveredConsumerSeq: 10_200 + 40 * t,
          deliveredStreamSeq: 10_200 + 40 * t,
          ackFloorConsumerSeq: 10_000 + 40 * t,
          ackFloorStreamSeq: 10_000 + 40 * t,
          removesHeld: true,
          streamFirstSeq: 8_000 + 40 * t,
        }),
      );
    expect(feed(readings, 2).at(-1)?.perReplicaPerSecond).toBeCloseTo(20, 6);
  });
});

describe('a KV-like stream removing held messages from inside it (max_msgs_per_subject, a delete, a purge by subject)', () => {
  // One replica acknowledging 20 a second, in order, from a buffer of 100 (a nats.js consume()
  // client) while 1,000 wait and 60/s arrive. From `removalsFrom` on, newer values supersede 15 of
  // the messages it holds each second, and 45 already acknowledged: nats-server takes each held one
  // out of num_ack_pending as if acknowledged (consumer.go decStreamPending → processTerm); the
  // client still works through it (its ack does nothing). The stream's first sequence stays at 1.
  function supersede(
    seconds: number,
    removalsFrom: number,
    counts = true,
    by: 'limits' | 'requests' = 'limits',
  ): BacklogSample[] {
    const out: BacklogSample[] = [];
    let last = 10_000; // the stream's last sequence
    let messages = 10_000;
    let deleted = 0; // num_deleted
    let delivered = 5_000; // delivered.stream_seq
    let consumerSeq = 5_000;
    const buffer: Array<{ seq: number; removed: boolean }> = [];
    const held = new Set<number>();
    const deliver = (n: number): void => {
      for (let k = 0; k < n; k++) {
        delivered++;
        consumerSeq++;
        buffer.push({ seq: delivered, removed: false });
        held.add(delivered);
      }
    };
    deliver(100);
    for (let t = 0; t <= seconds; t++) {
      out.push(
        sample({
          at: s(t),
          pending: 1000,
          ackPending: held.size,
          deliveredConsumerSeq: consumerSeq,
          deliveredStreamSeq: delivered,
          ackFloorConsumerSeq: 0,
          ackFloorStreamSeq: held.size > 0 ? Math.min(...held) - 1 : delivered,
          removesHeld: true,
          streamFirstSeq: 1,
          removesInside: by,
          ...(counts ? { stream: { firstSeq: 1, lastSeq: last, messages, numDeleted: deleted } } : {}),
        }),
      );
      for (const m of buffer.splice(0, 20)) held.delete(m.seq); // acks (of removed ones: nothing)
      deliver(20); // the client asks for what it worked through
      last += 60;
      messages += 60;
      if (t >= removalsFrom) {
        let n = 0;
        for (let i = buffer.length - 1; i >= 0 && n < 15; i--) {
          const m = buffer[i];
          if (m === undefined || m.removed) continue;
          m.removed = true;
          held.delete(m.seq);
          n++;
        }
        messages -= 60;
        deleted += 60;
      }
    }
    return out;
  }
  const figures = (states: RateState[]): number[] =>
    states.map((st) => st.perReplicaPerSecond).filter((c): c is number => c !== undefined);

  it('learns as before while the stream removes nothing', () => {
    const states = feed(supersede(40, Infinity), 1);
    expect(states.at(-1)?.perReplicaPerSecond).toBeCloseTo(20, 6);
  });

  it('takes the first interval where only a delete or a purge could remove (limits: from the second)', () => {
    // The stream's state is read after the consumer's: the first interval's removals before the
    // first stream reading are not known. Only a user's request could have made any on a stream
    // without a per-subject limit; on a KV-like stream they happen as messages arrive.
    expect(feed(supersede(1, Infinity, true, 'requests'), 1)[1]?.perReplicaPerSecond).toBeCloseTo(20, 6);
    const limits = feed(supersede(2, Infinity, true, 'limits'), 1);
    expect(limits[1]?.perReplicaPerSecond).toBeUndefined();
    expect(limits[2]?.perReplicaPerSecond).toBeCloseTo(20, 6);
  });

  it('takes no removal for a completion (before: 27.5/s for 20/s handlers)', () => {
    const states = feed(supersede(60, 20), 1);
    // Learnt before the removals began, and not raised by them.
    expect(states[19]?.perReplicaPerSecond).toBeCloseTo(20, 6);
    expect(Math.max(...figures(states))).toBeLessThanOrEqual(20 + 1e-9);
  });

  it('learns no figure from removals alone, and none without the stream counters', () => {
    expect(figures(feed(supersede(40, 0), 1))).toEqual([]);
    expect(figures(feed(supersede(40, Infinity, false), 1))).toEqual([]);
  });
});

describe('a purge of the messages a replica holds, on a stream only a request removes from (the default config)', () => {
  // One replica acknowledging 20 a second, in order, from a buffer of 100, while 1,000 wait. Just
  // after the reading at `purgeAt` a user purges the stream up to its last delivered message: the
  // 100 held leave num_ack_pending at once, as if acknowledged (nats-server consumer.go purge: the
  // ack floor jumps to the purge), and the client still works through them (its acks do nothing).
  function purged(seconds: number, purgeAt: number, onlyOnRequest = true): BacklogSample[] {
    const out: BacklogSample[] = [];
    let delivered = 5_000; // delivered.stream_seq = delivered.consumer_seq
    let first = 1;
    let last = 10_000;
    const buffer: number[] = [];
    const held = new Set<number>();
    const deliver = (n: number): void => {
      for (let k = 0; k < n; k++) {
        delivered++;
        buffer.push(delivered);
        held.add(delivered);
      }
    };
    deliver(100);
    for (let t = 0; t <= seconds; t++) {
      out.push(
        sample({
          at: s(t),
          pending: 1000,
          ackPending: held.size,
          deliveredConsumerSeq: delivered,
          deliveredStreamSeq: delivered,
          ackFloorConsumerSeq: 0,
          ackFloorStreamSeq: held.size > 0 ? Math.min(...held) - 1 : delivered,
          removesHeld: true,
          streamFirstSeq: first,
          removesInside: 'requests',
          stream: { firstSeq: first, lastSeq: last, messages: last - first + 1, numDeleted: 0 },
          ...(onlyOnRequest ? { removedOnlyOnRequest: true as const } : {}),
        }),
      );
      for (const seq of buffer.splice(0, 20)) held.delete(seq); // acks (of purged ones: nothing)
      deliver(20); // the client asks for what it worked through
      last += 20;
      if (t === purgeAt) {
        first = delivered + 1;
        held.clear();
      }
    }
    return out;
  }

  it('the purge is no processing: the processing rate and the last speed seen keep what they were (before: the 100 purged read as done in 1 s)', () => {
    const states = feed(purged(30, 20), 1);
    const before = states[20];
    const across = states[21];
    expect(before?.processingPerSecond).toBeCloseTo(20, 0);
    expect(across?.processingPerSecond).toBe(before?.processingPerSecond);
    expect(across?.lastCompletedPerReplica).toBe(before?.lastCompletedPerReplica);
    // Nor capacity, as before.
    const figures = states.map((st) => st.perReplicaPerSecond ?? 0);
    expect(Math.max(...figures)).toBeLessThanOrEqual(20 + 1e-9);
    // After it the client works through the purged messages, whose acks count nothing: what it
    // is seen processing may read low for a while, never high.
    for (const st of states.slice(21)) expect(st.processingPerSecond ?? 0).toBeLessThanOrEqual(20 + 1e-6);
  });
});

describe('an ack_policy none consumer: a delivery is all the server sees', () => {
  // One replica whose client takes 20 a second from 1,000 waiting; num_ack_pending stays 0 (nothing
  // awaits ack). Deliveries are what the client took into its buffer, not what its handlers did.
  function ackNone(seconds: number, flagged: boolean): BacklogSample[] {
    const out: BacklogSample[] = [];
    for (let t = 0; t <= seconds; t++)
      out.push(
        sample({
          at: s(t),
          pending: 1000,
          ackPending: 0,
          deliveredConsumerSeq: 20 * t,
          ackFloorConsumerSeq: 20 * t,
          maxAckPending: -1,
          ...(flagged ? { ackNone: true } : {}),
        }),
      );
    return out;
  }

  it('learns no capacity from it (before: 20/s, whatever the handlers did)', () => {
    // The same readings from an explicit-ack consumer are completions, and a figure is learnt.
    expect(feed(ackNone(30, false), 1).at(-1)?.perReplicaPerSecond).toBeCloseTo(20, 6);
    const states = feed(ackNone(30, true), 1);
    expect(states.map((st) => st.perReplicaPerSecond).filter((c) => c !== undefined)).toEqual([]);
    // Arrivals are still read: 20/s delivered, pending level.
    expect(states.at(-1)?.arrivalPerSecond).toBeCloseTo(20, 6);
  });
});

describe('removedInside: what the stream removed from inside it between two readings', () => {
  const at = (firstSeq: number, lastSeq: number, messages: number, numDeleted = 0) => ({
    removesInside: 'limits' as const,
    stream: { firstSeq, lastSeq, messages, numDeleted },
  });
  const before = (firstSeq: number, lastSeq: number, messages: number, numDeleted = 0) => ({
    stream: { firstSeq, lastSeq, messages, numDeleted },
  });

  it.each([
    ['nothing removed: 60 stored', before(1, 1000, 1000), at(1, 1060, 1060), 0],
    [
      'max_msgs_per_subject: 60 stored, 40 superseded inside',
      before(1, 1000, 1000),
      at(1, 1060, 1020, 40),
      40,
    ],
    ['max_age: 60 stored, 60 expired from the front', before(1, 1000, 1000), at(61, 1060, 1000), 0],
    // 50 sequences passed at the front, 30 of them gaps already: at least 20 left from the front,
    // so at most 25 of the 45 removed were inside.
    ['front and inside together', before(101, 1000, 870, 30), at(151, 1060, 885, 20), 25],
    [
      'a purge by subject: 300 of 1,000 removed, nothing stored',
      before(1, 1000, 1000),
      at(1, 1000, 700, 300),
      300,
    ],
    ['a full purge: everything from the front', before(1, 1000, 1000), at(1001, 1000, 0), 0],
  ])('%s', (_title, b, a, removed) => {
    expect(removedInside(b, a)).toBe(removed);
  });

  it('is 0 on a stream that cannot remove from inside, and unknown without counts at both ends', () => {
    expect(
      removedInside(before(1, 1000, 1000), {
        stream: { firstSeq: 1, lastSeq: 1060, messages: 1020, numDeleted: 40 },
      }),
    ).toBe(0);
    expect(removedInside({}, at(1, 1060, 1060))).toBeUndefined();
    expect(removedInside(before(1, 1000, 1000), { removesInside: 'limits' })).toBeUndefined();
  });

  it('is unknown when the counters go backwards (the stream was recreated) or are not numbers', () => {
    expect(removedInside(before(1, 1000, 1000), at(1, 10, 10))).toBeUndefined();
    expect(removedInside(before(500, 1000, 500), at(1, 1060, 1060))).toBeUndefined();
    const corrupt = {
      stream: { firstSeq: 1, lastSeq: '1000', messages: 1000, numDeleted: 0 },
    } as unknown as Parameters<typeof removedInside>[0];
    expect(removedInside(corrupt, at(1, 1060, 1060))).toBeUndefined();
  });
});

describe('handlers slower than ack_wait whose prefetched copies expire (failing-handlers.int)', () => {
  // One replica whose handler takes 3 s, 1,000 waiting, readings once a second, ack_wait 2 s: the
  // copies waiting in its buffer expire and are redelivered (2 a second, into the slots the server
  // frees), and it completes one message every third second. The intervals between completions
  // redeliver and complete nothing, as failing handlers' do.
  function slowExpiring(seconds: number, from = 0): BacklogSample[] {
    const out: BacklogSample[] = [];
    for (let t = from; t <= from + seconds; t++) {
      const done = Math.floor(t / 3);
      out.push(
        sample({
          at: s(t),
          pending: 1000 - done,
          ackPending: 100,
          // One new delivery per completion, 2 redeliveries a second.
          deliveredConsumerSeq: 100 + done + 2 * t,
          deliveredStreamSeq: 100 + done,
          ackFloorConsumerSeq: done,
          redelivered: 50,
        }),
      );
    }
    return out;
  }

  it('is not held as failing once the replicas were seen completing (before: failing 2 seconds in 3)', () => {
    const states = feed(slowExpiring(60), 1);
    const firstCompletion = 3; // the reading at 3 s is the first to complete anything
    expect(states.slice(firstCompletion).filter((st) => st.failingSince !== undefined)).toEqual([]);
    expect(states.at(-1)?.perReplicaPerSecond).toBeCloseTo(1 / 3, 1);
  });

  it('is held as failing when nothing completes for longer than the known speed allows', () => {
    // The same replica, whose handlers now fail every message: redeliveries go on, nothing completes.
    const working = slowExpiring(60);
    const stuck = working.at(-1) ?? sample();
    const failing: BacklogSample[] = [];
    for (let t = 61; t <= 120; t++)
      failing.push({
        ...stuck,
        at: s(t),
        deliveredConsumerSeq: stuck.deliveredConsumerSeq + 2 * (t - 60),
      });
    const states = feed([...working, ...failing], 1);
    // At 1/3 per second, STALL_MESSAGES take 30 s: failing from then on, since the run began.
    expect(states.at(-1)?.failingSince).toBeDefined();
    expect(states.at(-1)?.failingSince).toBeLessThanOrEqual(s(61));
    expect(states[60 + 20]?.failingSince).toBeUndefined();
  });
});

describe('messages dropped after their last delivery (max_deliver)', () => {
  /**
   * 1,000 waiting, 1 replica; each second 19 messages acknowledged and one poison message dropped
   * after its 3 redeliveries (3 a second), which leave its count in num_redelivered.
   */
  const poisonReadings = (maxDeliver?: number): BacklogSample[] => {
    const readings: BacklogSample[] = [];
    for (let t = 0; t <= 60; t++)
      readings.push(
        sample({
          at: s(t),
          pending: 1000,
          ackPending: 100,
          deliveredConsumerSeq: 100 + 23 * t,
          deliveredStreamSeq: 100 + 20 * t,
          ackFloorConsumerSeq: 23 * t,
          redelivered: 5 + t,
          ...(maxDeliver === undefined ? {} : { maxDeliver }),
        }),
      );
    return readings;
  };

  it('max_deliver 4, 1 message in 20 retried until dropped: the drops do not count (before: 20/s for 19/s acknowledged)', () => {
    const states = feed(poisonReadings(4), 1);
    expect(states.at(-1)?.perReplicaPerSecond).toBeCloseTo(19, 6);
    expect(states.some((st) => st.failingSince !== undefined)).toBe(false);
  });

  it('without max_deliver nothing is taken from completions', () => {
    expect(feed(poisonReadings(), 1).at(-1)?.perReplicaPerSecond).toBeCloseTo(20, 6);
  });
});

describe('max_deliver 1: drops counted from the MAX_DELIVERIES advisories', () => {
  // 4 replicas, each handling one message at a time: one acknowledged in time, the next dropped at
  // ack_wait (its only delivery). Every second 8 are delivered and all 8 leave num_ack_pending; 4
  // of them are drops, announced by advisories (consumer-configs.int: 1.0/s a replica acknowledged).
  function halfDropped(
    seconds: number,
    drops: (t: number) => BacklogSample['deliveryDrops'],
  ): BacklogSample[] {
    const out: BacklogSample[] = [];
    for (let t = 0; t <= seconds; t++)
      out.push(
        sample({
          at: s(t),
          pending: 600,
          ackPending: 4,
          deliveredConsumerSeq: 4 + 8 * t,
          ackFloorConsumerSeq: 8 * t,
          maxDeliver: 1,
          deliveryDrops: drops(t),
        }),
      );
    return out;
  }

  it('takes no drop for a completion (before: 2/s a replica for 1/s acknowledged)', () => {
    const states = feed(
      halfDropped(30, (t) => ({ count: 4 * t, epoch: 7 })),
      4,
    );
    const figures = states.map((st) => st.perReplicaPerSecond).filter((c) => c !== undefined);
    expect(figures.length).toBeGreaterThan(0);
    expect(Math.max(...figures)).toBeCloseTo(1, 6);
    expect(states.at(-1)?.processingPerSecond).toBeCloseTo(4, 1);
  });

  it('learns nothing while drops are not counted (no permission), nor across a new epoch', () => {
    const denied = feed(
      halfDropped(30, () => ({ unknown: 'this NATS user may not subscribe' })),
      4,
    );
    expect(denied.every((st) => st.perReplicaPerSecond === undefined)).toBe(true);
    // Every reading in a new epoch (the connection dropped between each two): nothing compares.
    const interrupted = feed(
      halfDropped(30, (t) => ({ count: 4 * t, epoch: t })),
      4,
    );
    expect(interrupted.every((st) => st.perReplicaPerSecond === undefined)).toBe(true);
  });

  it('counts drops only for max_deliver 1, within one epoch', () => {
    const at = (count: number, epoch = 1) => ({ deliveryDrops: { count, epoch } });
    expect(droppedAtFirstDelivery(at(4), { maxDeliver: 1, ...at(10) })).toBe(6);
    expect(droppedAtFirstDelivery({}, { maxDeliver: 3, ...at(10) })).toBe(0);
    expect(droppedAtFirstDelivery({}, at(10))).toBe(0);
    expect(droppedAtFirstDelivery({}, { maxDeliver: 1, ...at(10) })).toBeUndefined();
    expect(droppedAtFirstDelivery(at(12), { maxDeliver: 1, ...at(10) })).toBeUndefined();
    expect(droppedAtFirstDelivery(at(4, 1), { maxDeliver: 1, ...at(10, 2) })).toBeUndefined();
    expect(droppedAtFirstDelivery(at(4), { maxDeliver: 1, deliveryDrops: { unknown: 'x' } })).toBeUndefined();
  });

  it('holds handlers that only drop as failing (no redeliveries with max_deliver 1)', () => {
    // Every message dropped: 4 delivered a second, 4 dropped, none acknowledged.
    const readings: BacklogSample[] = [];
    for (let t = 0; t <= 10; t++)
      readings.push(
        sample({
          at: s(t),
          pending: 600,
          ackPending: 4,
          deliveredConsumerSeq: 4 + 4 * t,
          ackFloorConsumerSeq: 4 * t,
          maxDeliver: 1,
          deliveryDrops: { count: 4 * t, epoch: 2 },
        }),
      );
    const states = feed(readings, 4);
    expect(states.at(-1)?.failingSince).toBe(s(0));
    expect(states.every((st) => st.perReplicaPerSecond === undefined)).toBe(true);
  });
});
