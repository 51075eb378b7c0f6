// A backlog that the consumer's own waiting pull requests refuse. More replicas that pull the
// same way would be refused too.
//
// nats-server hands a pending message to the next waiting pull request as soon as both exist
// (server/consumer.go, loopAndGatherMsgs: getNextMsg, then nextWaiting; nats-server v2.12). It
// skips a request only for a reason inside that request:
// - Overflow priority groups (priority_policy overflow). A request with min_pending or
//   min_ack_pending is cycled past unless num_pending >= min_pending or
//   num_ack_pending >= min_ack_pending (nextWaiting: "If one OR the other limit is exceeded, we
//   want to fulfill the request"). Three nats.js consume({group, min_pending: 100}) clients with
//   99 pending: nothing delivered, num_waiting 3 (redteam3, session 17).
// - A request whose max_bytes is below the message's size. It is closed with "409 Message Size
//   Exceeds MaxBytes", and its client pulls again.
// - pinned_client groups. Only the pinned client's requests get messages; the others are cycled
//   past.
// A consumer paused on the server delivers to no one either. That case has its own signal
// (BacklogSample.paused) and is left out here.
//
// So the signal is a run of readings that each show requests waiting (num_waiting > 0), messages
// pending and room under max_ack_pending, with nothing delivered between them
// (delivered.consumer_seq and stream_seq unchanged). When the run spans at least an interval, the
// requests refuse that backlog, whatever the reason. When it is shorter (a first reading, or
// messages that came since the previous one), it is not confirmed yet: the server may be about to
// deliver them (a burst published just before the reading).
//
// When messages keep arriving, overflow clients with min_pending get one message each time
// num_pending reaches it, so the backlog stands just under it while deliveries follow the arrivals
// (measured: 99 pending and 3–20 requests waiting at each of 40 readings of 20/s, min_pending 100).
// A run of readings spanning at least an interval that each show requests waiting with a backlog,
// with deliveries in between and the backlog growing by no more than they (heldAtThreshold), is a
// **standing** backlog: its least pending is held back by the requests themselves. A backlog being worked does not look like that: the server fills a waiting
// request from the pending messages at once, so a reading shows requests waiting with messages
// pending only in the moment in between (measured: 0 of 95 readings, 100 ms apart, of three nats.js
// consume() clients working through 20,000 at batches of 10 and 100).
//
// Two cases do not match and are scaled as usual:
// - No requests waiting (num_waiting 0): clients still starting, a consumer with no clients, or
//   busy clients.
// - A backlog that deliveries are working through: delivered.consumer_seq moves, and no earlier
//   reading of the run showed requests waiting with it.
import { limitRemovalsPossible, MIN_INTERVAL_SECONDS } from './rates.js';
import type { BacklogSample, LimitedStreamState } from './types.js';

export type BacklogRefusal =
  | {
      /** A run of readings spanning at least an interval: the waiting requests refuse the backlog. */
      state: 'refused';
      /** When the run began (ms, the clock of `at`): its first reading. */
      since: number;
    }
  | {
      /**
       * A run of readings spanning at least an interval, each with requests waiting and messages
       * pending, with messages delivered in between: the server hands the requests a message only
       * as the backlog reaches their threshold, so `level`, the least pending of the run, stands.
       */
      state: 'standing';
      /** When the run began (ms, the clock of `at`): its first reading. */
      since: number;
      level: number;
    }
  | {
      /**
       * The reading shows requests waiting with a backlog, but no interval shows yet whether the
       * server delivers to them.
       */
      state: 'unconfirmed';
      /** No earlier reading of this consumer (a first reading, or the consumer was recreated). */
      firstReading: boolean;
    };

/**
 * Pull requests wait at the server while messages are pending and max_ack_pending has room, on a
 * consumer not paused. A server that delivers clears this within milliseconds.
 */
export function waitsWithBacklog(sample: BacklogSample): boolean {
  const roomUnderMaxAckPending = !(sample.maxAckPending > 0 && sample.ackPending >= sample.maxAckPending);
  return sample.waiting > 0 && sample.pending > 0 && roomUnderMaxAckPending && sample.paused !== true;
}

/** Nothing was delivered between two readings of the same consumer. */
function nothingDelivered(before: BacklogSample, after: BacklogSample): boolean {
  return (
    before.consumerCreated === after.consumerCreated &&
    before.deliveredConsumerSeq === after.deliveredConsumerSeq &&
    before.deliveredStreamSeq === after.deliveredStreamSeq
  );
}

/** What heldAtThreshold needs of the earlier of two readings (a BacklogSample, or rates.ts RateState.last). */
export interface HeldReading {
  at: number;
  pending: number;
  deliveredConsumerSeq: number;
  /** delivered.stream_seq (absent: not known). */
  deliveredStreamSeq?: number;
  /** A WorkQueue or Interest stream's state at this reading, when its limits remove (BacklogSample.limitRemovals). */
  limitedStream?: LimitedStreamState;
}

/**
 * Between two readings that both show requests waiting with a backlog: messages were delivered, and
 * the backlog grew by no more than that, and the stream's own limits removed nothing the consumer
 * had not delivered (limitsRemovedUndelivered). Held at the requests' threshold, it moves by less
 * than a batch while what arrives is delivered; a backlog that outgrows what is delivered (real
 * readings of nats.go Consume() falling behind on a loaded machine showed a request waiting with
 * 5,280 and then 5,486 pending, rates.test) is work the clients are short of, whatever a reading
 * caught of their requests; so is one that the stream's limits keep from growing.
 */
export function heldAtThreshold(
  before: HeldReading,
  after: Pick<
    BacklogSample,
    | 'at'
    | 'deliveredConsumerSeq'
    | 'deliveredStreamSeq'
    | 'pending'
    | 'removesHeld'
    | 'removesInside'
    | 'streamFirstSeq'
    | 'limitRemovals'
  >,
): boolean {
  const delivered = after.deliveredConsumerSeq - before.deliveredConsumerSeq;
  return (
    delivered > 0 && after.pending - before.pending <= delivered && !limitsRemovedUndelivered(before, after)
  );
}

/**
 * Whether the stream's own limits may have removed, between two readings, messages the consumer had
 * not delivered: then its backlog stays level because the stream discards it (max_msgs or max_bytes
 * with discard old at the limit, max_age), not because the requests hold it back
 * (consumer-configs.int, max_msgs 100: 100 pending at every reading, a request caught waiting,
 * while the stream's first sequence ran 60/s ahead of the 20/s delivered).
 * - From the front (BacklogSample.removesHeld): the messages between the consumer's position at the
 *   first reading and the stream's first sequence at the second are gone; more of them than were
 *   delivered in between means some went undelivered (on a filtered consumer, other subjects' count
 *   too: an upper end, taken as a removal). Not known (no first sequence or position): taken as one.
 * - From inside by the limits (max_msgs_per_subject, rollups, per-message TTLs): not told apart from
 *   deliveries, taken as one. A user's delete or purge is a one-off and is not.
 * - A WorkQueue or Interest stream's limits: whenever they could have removed any message
 *   (rates.ts limitRemovalsPossible; acknowledgements move its first sequence too).
 */
export function limitsRemovedUndelivered(
  before: HeldReading,
  after: Pick<
    BacklogSample,
    'at' | 'deliveredConsumerSeq' | 'removesHeld' | 'removesInside' | 'streamFirstSeq' | 'limitRemovals'
  >,
): boolean {
  if (after.limitRemovals !== undefined)
    return limitRemovalsPossible(before.limitedStream, after, (after.at - before.at) / 1000);
  if (after.removesInside === 'limits') return true;
  if (after.removesHeld !== true) return false;
  if (after.streamFirstSeq === undefined || before.deliveredStreamSeq === undefined) return true;
  const gone = after.streamFirstSeq - 1 - before.deliveredStreamSeq;
  return gone > after.deliveredConsumerSeq - before.deliveredConsumerSeq;
}

/** The parts of a reading heldAtThreshold reads as the earlier of two. */
function heldReading(sample: BacklogSample): HeldReading {
  return {
    at: sample.at,
    pending: sample.pending,
    deliveredConsumerSeq: sample.deliveredConsumerSeq,
    deliveredStreamSeq: sample.deliveredStreamSeq,
    ...(sample.limitRemovals?.state !== undefined ? { limitedStream: sample.limitRemovals.state } : {}),
  };
}

/**
 * The backlog that stands while requests wait at every reading of a run spanning an interval, with
 * deliveries in between that kept it from growing by more (heldAtThreshold; BacklogRefusal
 * 'standing'); undefined when the run is shorter.
 */
function standingBacklog(
  earlier: readonly BacklogSample[],
  sample: BacklogSample,
): BacklogRefusal | undefined {
  let since = sample.at;
  let level = sample.pending;
  let later = sample;
  for (let i = earlier.length - 1; i >= 0; i--) {
    const reading = earlier[i];
    if (
      reading === undefined ||
      !waitsWithBacklog(reading) ||
      reading.consumerCreated !== sample.consumerCreated ||
      !heldAtThreshold(heldReading(reading), later)
    )
      break;
    since = reading.at;
    level = Math.min(level, reading.pending);
    later = reading;
  }
  return (sample.at - since) / 1000 >= MIN_INTERVAL_SECONDS ? { state: 'standing', since, level } : undefined;
}

/**
 * Whether the waiting pull requests refuse the backlog at `sample`, given the readings before it
 * (oldest first). Undefined when the reading shows no such state, or when a delivery since the
 * previous reading shows that the server delivers and no run of such readings shows a standing
 * backlog.
 */
export function backlogRefusal(
  earlier: readonly BacklogSample[],
  sample: BacklogSample,
): BacklogRefusal | undefined {
  if (!waitsWithBacklog(sample)) return undefined;
  const previous = earlier.at(-1);
  if (previous === undefined || previous.consumerCreated !== sample.consumerCreated)
    return { state: 'unconfirmed', firstReading: true };
  if (!nothingDelivered(previous, sample)) return standingBacklog(earlier, sample);
  // Walk back over the run: every reading in it waits with a backlog, with nothing delivered since.
  let since = sample.at;
  let later = sample;
  for (let i = earlier.length - 1; i >= 0; i--) {
    const reading = earlier[i];
    if (reading === undefined || !waitsWithBacklog(reading) || !nothingDelivered(reading, later)) break;
    since = reading.at;
    later = reading;
  }
  return (sample.at - since) / 1000 >= MIN_INTERVAL_SECONDS
    ? { state: 'refused', since }
    : { state: 'unconfirmed', firstReading: false };
}
