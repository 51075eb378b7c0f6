// Arrival and processing rates of a JetStream consumer, estimated from successive consumer-info
// readings. JetStream exposes no rate, only counters and gauges, so:
//   arrived_total   ≈ delivered.consumer_seq + num_pending      (delivered or still waiting)
//   completed_total ≈ delivered.consumer_seq − num_ack_pending  (delivered and no longer in flight)
// Redeliveries bump delivered.consumer_seq, so both include them: that is work replicas must do.
// Rates are smoothed with a time-aware EWMA, so irregular poll intervals weigh correctly.
//
// max_ack_pending: what a replica holds awaiting ack is mostly its client's prefetch (nats.go's
// Consume() keeps up to 500 per subscriber, nats.js consume() 100), not how many messages its
// handlers work on at once. A full max_ack_pending therefore says nothing by itself: a replica with
// one message in hand is as busy as one with 500, acks free slots, and the server hands them to
// whichever pull request waits. Whether the limit binds is measured instead: while
// max_ack_pending is full and work waits, the processing rate is recorded per ready replica count,
// and the limit binds when more replicas did not raise it (see maxAckPendingBinding).

import type { BacklogSample, Rates } from './types.js';

/** Smoothing time constants: arrivals must be followed quickly; capacity is a slow property. */
export const ARRIVAL_TIME_CONSTANT_SECONDS = 10;
export const PROCESSING_TIME_CONSTANT_SECONDS = 10;
export const CAPACITY_TIME_CONSTANT_SECONDS = 60;
/** A replica count needs this many seconds at a full max_ack_pending before it counts as evidence. */
export const SATURATION_MIN_SECONDS = 10;
/** Intervals starting sooner than this after the ready replica count changed are not evidence. */
export const SATURATION_SETTLE_SECONDS = 10;
/** Evidence older than this is forgotten, so a cap that once bound is probed again. */
export const SATURATION_MEMORY_SECONDS = 900;
/**
 * The limit binds when going from a to b replicas raised processing by less than this share of
 * the proportional gain (b − a) / a. Only steps of at least SATURATION_MIN_STEP × a are compared:
 * a smaller step's expected gain would drown in measurement noise.
 */
export const SATURATION_GAIN_SHARE = 0.25;
export const SATURATION_MIN_STEP = 1.2;
/** Awaiting ack at least this share of max_ack_pending counts as full. */
export const AT_CAP_SHARE = 0.9;
/** Replica counts remembered at a full max_ack_pending. */
const MAX_AT_CAP_ENTRIES = 8;

/** Processing measured at one ready replica count while max_ack_pending was full and work waited. */
export interface AtCapThroughput {
  replicas: number;
  /** Messages completed per second (time-weighted mean over `seconds`). */
  perSecond: number;
  seconds: number;
  /** Epoch ms of the last interval added. */
  at: number;
}

/** What the estimator keeps between readings (stored in ScalingHistory.rates). */
export interface RateState {
  last: {
    at: number;
    arrivedTotal: number;
    completedTotal: number;
    deliveredConsumerSeq: number;
    /** ack_floor.consumer_seq (absent in state kept by older versions: reads as 0). */
    ackFloorConsumerSeq?: number;
    pending: number;
    ackPending: number;
    maxAckPending: number;
    readyReplicas: number;
    /** Since when (ms, the clock of `now`) this many replicas have been ready. */
    readySince: number;
  };
  arrivalPerSecond?: number;
  processingPerSecond?: number;
  perReplicaPerSecond?: number;
  inFlightPerReplica?: number;
  /** The arrival rate over the last interval alone (the forecaster smooths it itself). */
  lastIntervalArrivalPerSecond?: number;
  /** Set when the consumer's sequence went backwards (consumer recreated) at this reading. */
  resetAt?: number;
  /** Processing by ready replica count at a full max_ack_pending (reset when the limit changes). */
  atCap?: { maxAckPending: number; throughput: AtCapThroughput[] };
}

function ewma(previous: number | undefined, value: number, dtSeconds: number, tau: number): number {
  if (previous === undefined) return value;
  const alpha = 1 - Math.exp(-dtSeconds / tau);
  return previous + alpha * (value - previous);
}

function totals(sample: BacklogSample): { arrivedTotal: number; completedTotal: number } {
  const pending = Math.max(0, sample.pending);
  const ackPending = Math.max(0, sample.ackPending);
  const delivered = Math.max(0, sample.deliveredConsumerSeq);
  return { arrivedTotal: delivered + pending, completedTotal: Math.max(0, delivered - ackPending) };
}

function baseline(sample: BacklogSample, readyReplicas: number, readySince = sample.at): RateState['last'] {
  return {
    at: sample.at,
    ...totals(sample),
    deliveredConsumerSeq: sample.deliveredConsumerSeq,
    ackFloorConsumerSeq: sample.ackFloorConsumerSeq,
    pending: sample.pending,
    ackPending: sample.ackPending,
    maxAckPending: sample.maxAckPending,
    readyReplicas,
    readySince,
  };
}

/**
 * At (or within AT_CAP_SHARE of) a full max_ack_pending: a reading catches slots freed by acks
 * that the server has not yet refilled, so an exact comparison would rarely hold.
 */
function atMaxAckPending(ackPending: number, maxAckPending: number): boolean {
  return maxAckPending > 0 && ackPending >= AT_CAP_SHARE * maxAckPending;
}

/** Adds one interval at a full max_ack_pending to the per-replica-count record. */
function recordAtCap(
  previous: RateState['atCap'],
  maxAckPending: number,
  replicas: number,
  completedPerSecond: number,
  dtSeconds: number,
  at: number,
): NonNullable<RateState['atCap']> {
  const fresh = (e: AtCapThroughput): boolean => at - e.at <= SATURATION_MEMORY_SECONDS * 1000;
  const kept =
    previous !== undefined && previous.maxAckPending === maxAckPending
      ? previous.throughput.filter(fresh)
      : [];
  const old = kept.find((e) => e.replicas === replicas);
  const seconds = (old?.seconds ?? 0) + dtSeconds;
  const perSecond = ((old?.perSecond ?? 0) * (old?.seconds ?? 0) + completedPerSecond * dtSeconds) / seconds;
  const throughput = [...kept.filter((e) => e.replicas !== replicas), { replicas, perSecond, seconds, at }]
    .sort((x, y) => y.at - x.at)
    .slice(0, MAX_AT_CAP_ENTRIES)
    .sort((x, y) => x.replicas - y.replicas);
  return { maxAckPending, throughput };
}

/** The evidence that max_ack_pending binds: `more` replicas did not process more than `fewer`. */
export interface MaxAckPendingBinding {
  maxAckPending: number;
  fewer: AtCapThroughput;
  more: AtCapThroughput;
}

/**
 * Whether max_ack_pending is measured to bind at `maxAckPending`: two replica counts a < b, each
 * observed for SATURATION_MIN_SECONDS at the full limit with work waiting (within the last
 * SATURATION_MEMORY_SECONDS), where b processed less than a plus SATURATION_GAIN_SHARE of the
 * proportional gain. Returns the pair with the fewest replicas, or undefined.
 */
export function maxAckPendingBinding(
  state: RateState | undefined,
  maxAckPending: number,
  now: number,
): MaxAckPendingBinding | undefined {
  const atCap = state?.atCap;
  if (atCap === undefined || maxAckPending <= 0 || atCap.maxAckPending !== maxAckPending) return undefined;
  const evidence = atCap.throughput.filter(
    (e) => e.seconds >= SATURATION_MIN_SECONDS && now - e.at <= SATURATION_MEMORY_SECONDS * 1000,
  );
  for (const fewer of evidence) {
    for (const more of evidence) {
      if (more.replicas < Math.max(fewer.replicas + 1, fewer.replicas * SATURATION_MIN_STEP)) continue;
      const proportionalGain = (more.replicas - fewer.replicas) / fewer.replicas;
      if (more.perSecond < fewer.perSecond * (1 + SATURATION_GAIN_SHARE * proportionalGain)) {
        return { maxAckPending, fewer, more };
      }
    }
  }
  return undefined;
}

/**
 * What awaits ack must be at least this share of the messages delivered since the ack floor for
 * it to count as held in buffers: a client works through its buffer in order, so what it holds is
 * the newest deliveries, nearly contiguous; messages waiting for redelivery (nak'd with a delay,
 * ack_wait expired) are scattered far behind them among messages acknowledged since.
 */
export const HELD_SHARE_OF_UNACKED_SPAN = 0.5;

/**
 * Whether the messages the replicas held awaiting ack at the start of an interval kept every one of
 * them busy through it: more were held than the interval completed, by at least one per ready
 * replica (so on average each still had one in hand at the end, whatever was delivered meanwhile);
 * they were the newest deliveries (HELD_SHARE_OF_UNACKED_SPAN), not messages waiting out a
 * redelivery delay that no replica has in hand; and the ack floor moved — the held messages are
 * being worked through, not stuck (a handler that never acks, a replica that died holding its
 * buffer pin the floor).
 */
export function busyOnPrefetch(
  before: Pick<RateState['last'], 'ackPending' | 'ackFloorConsumerSeq' | 'deliveredConsumerSeq'>,
  after: Pick<BacklogSample, 'ackFloorConsumerSeq'>,
  readyReplicas: number,
  completed: number,
): boolean {
  const floor = before.ackFloorConsumerSeq;
  if (floor === undefined) return false;
  const unackedSpan = before.deliveredConsumerSeq - floor;
  return (
    readyReplicas > 0 &&
    completed > 0 &&
    before.ackPending - completed >= readyReplicas &&
    before.ackPending >= HELD_SHARE_OF_UNACKED_SPAN * unackedSpan &&
    after.ackFloorConsumerSeq > floor
  );
}

/** Reads a RateState back from history, refusing anything that does not look like one. */
export function asRateState(value: unknown): RateState | undefined {
  if (typeof value !== 'object' || value === null || !('last' in value)) return undefined;
  const last: unknown = (value as { last: unknown }).last;
  if (typeof last !== 'object' || last === null) return undefined;
  const at: unknown = (last as { at?: unknown }).at;
  return typeof at === 'number' ? (value as RateState) : undefined;
}

/**
 * Folds one reading into the estimate. Readings that do not move time forward are ignored. When
 * the delivered sequence goes backwards the consumer was recreated: counters restart, so the
 * arrival and processing estimates restart too (no negative rates), while the per-replica capacity
 * — a property of the workload, not of the consumer — is kept.
 */
export function observeRates(
  previous: RateState | undefined,
  sample: BacklogSample,
  readyReplicas: number,
): RateState {
  if (previous === undefined) return { last: baseline(sample, readyReplicas) };
  const dtSeconds = (sample.at - previous.last.at) / 1000;
  if (!(dtSeconds > 0)) return previous;

  if (sample.deliveredConsumerSeq < previous.last.deliveredConsumerSeq) {
    const reset: RateState = { last: baseline(sample, readyReplicas), resetAt: sample.at };
    if (previous.perReplicaPerSecond !== undefined) reset.perReplicaPerSecond = previous.perReplicaPerSecond;
    if (previous.inFlightPerReplica !== undefined) reset.inFlightPerReplica = previous.inFlightPerReplica;
    if (previous.atCap !== undefined) reset.atCap = previous.atCap;
    return reset;
  }

  const now = totals(sample);
  // Pending can shrink without deliveries (messages removed by stream limits or by an operator):
  // that is not negative arrival, so clamp at zero.
  const arrivedPerSecond = Math.max(0, now.arrivedTotal - previous.last.arrivedTotal) / dtSeconds;
  const completedPerSecond = Math.max(0, now.completedTotal - previous.last.completedTotal) / dtSeconds;

  const readySince =
    readyReplicas === previous.last.readyReplicas
      ? (previous.last.readySince ?? previous.last.at)
      : sample.at;
  const next: RateState = {
    last: baseline(sample, readyReplicas, readySince),
    arrivalPerSecond: ewma(
      previous.arrivalPerSecond,
      arrivedPerSecond,
      dtSeconds,
      ARRIVAL_TIME_CONSTANT_SECONDS,
    ),
    processingPerSecond: ewma(
      previous.processingPerSecond,
      completedPerSecond,
      dtSeconds,
      PROCESSING_TIME_CONSTANT_SECONDS,
    ),
    lastIntervalArrivalPerSecond: arrivedPerSecond,
  };

  // Capacity is only observable while replicas had more work than they could take, and the same
  // replicas were ready throughout (a pod that started mid-interval would make the replicas look
  // slower than they are). Work was there throughout when either
  // - at both ends at least a full batch per replica waited at the server (a few pending messages
  //   are normal between pulls and would make idle replicas look slow), or
  // - the replicas' own buffers outlasted the interval (busyOnPrefetch): a prefetching client
  //   (nats.go Consume() buffers 500) takes the whole backlog into its buffer, so nothing waits
  //   at the server although its handler never stops.
  const fullBatch = Math.max(1, readyReplicas * (previous.inFlightPerReplica ?? 1));
  const busyThroughout =
    (previous.last.pending >= fullBatch && sample.pending >= fullBatch) ||
    busyOnPrefetch(previous.last, sample, readyReplicas, now.completedTotal - previous.last.completedTotal);
  const sameReplicas = readyReplicas > 0 && readyReplicas === previous.last.readyReplicas;
  let perReplica = previous.perReplicaPerSecond;
  if (busyThroughout && sameReplicas) {
    perReplica = ewma(
      perReplica,
      completedPerSecond / readyReplicas,
      dtSeconds,
      CAPACITY_TIME_CONSTANT_SECONDS,
    );
  }
  if (perReplica !== undefined) next.perReplicaPerSecond = perReplica;

  // While messages wait, every ready replica holds what its client asks for, or its share of a full
  // max_ack_pending: what it holds now (measured at the limit too, so the figure follows the
  // replica count instead of freezing at what one replica held before the limit was reached).
  let inFlight = previous.inFlightPerReplica;
  if (sample.pending > 0 && readyReplicas > 0 && sample.ackPending > 0) {
    inFlight = ewma(inFlight, sample.ackPending / readyReplicas, dtSeconds, CAPACITY_TIME_CONSTANT_SECONDS);
  }
  if (inFlight !== undefined) next.inFlightPerReplica = inFlight;

  // Processing at a full max_ack_pending, by replica count: full at both ends, work waiting at both
  // ends, the same replicas ready throughout and for SATURATION_SETTLE_SECONDS before (a pod that
  // reports ready before its process consumes would read as a replica that adds nothing), and the
  // same limit.
  const settled = previous.last.at - readySince >= SATURATION_SETTLE_SECONDS * 1000;
  const fullThroughout =
    atMaxAckPending(previous.last.ackPending, previous.last.maxAckPending) &&
    atMaxAckPending(sample.ackPending, sample.maxAckPending) &&
    previous.last.maxAckPending === sample.maxAckPending &&
    previous.last.pending > 0 &&
    sample.pending > 0;
  if (fullThroughout && sameReplicas && settled) {
    next.atCap = recordAtCap(
      previous.atCap,
      sample.maxAckPending,
      readyReplicas,
      completedPerSecond,
      dtSeconds,
      sample.at,
    );
  } else if (previous.atCap !== undefined) {
    next.atCap = previous.atCap;
  }
  return next;
}

/** The public view of the estimate (what goes into a decision and the EventConsumer status). */
export function ratesOf(state: RateState | undefined): Rates {
  const rates: Rates = {};
  if (state?.arrivalPerSecond !== undefined) rates.arrivalPerSecond = state.arrivalPerSecond;
  if (state?.processingPerSecond !== undefined) rates.processingPerSecond = state.processingPerSecond;
  if (state?.perReplicaPerSecond !== undefined) rates.perReplicaPerSecond = state.perReplicaPerSecond;
  if (state?.inFlightPerReplica !== undefined) rates.inFlightPerReplica = state.inFlightPerReplica;
  return rates;
}
