// Arrival and processing rates of a JetStream consumer, estimated from successive consumer-info
// readings. JetStream exposes no rate, only counters and gauges, so:
//   arrived_total   ≈ delivered.consumer_seq + num_pending      (delivered or still waiting)
//   completed_total ≈ delivered.consumer_seq − num_ack_pending  (delivered and no longer in flight)
// Redeliveries bump delivered.consumer_seq, so both include them: that is work replicas must do.
// Rates are smoothed with a time-aware EWMA, so irregular poll intervals weigh correctly.

import type { BacklogSample, Rates } from './types.js';

/** Smoothing time constants: arrivals must be followed quickly; capacity is a slow property. */
export const ARRIVAL_TIME_CONSTANT_SECONDS = 10;
export const PROCESSING_TIME_CONSTANT_SECONDS = 10;
export const CAPACITY_TIME_CONSTANT_SECONDS = 60;

/** What the estimator keeps between readings (stored in ScalingHistory.rates). */
export interface RateState {
  last: {
    at: number;
    arrivedTotal: number;
    completedTotal: number;
    deliveredConsumerSeq: number;
    pending: number;
    readyReplicas: number;
  };
  arrivalPerSecond?: number;
  processingPerSecond?: number;
  perReplicaPerSecond?: number;
  inFlightPerReplica?: number;
  /** The arrival rate over the last interval alone (the forecaster smooths it itself). */
  lastIntervalArrivalPerSecond?: number;
  /** Set when the consumer's sequence went backwards (consumer recreated) at this reading. */
  resetAt?: number;
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

function baseline(sample: BacklogSample, readyReplicas: number): RateState['last'] {
  return {
    at: sample.at,
    ...totals(sample),
    deliveredConsumerSeq: sample.deliveredConsumerSeq,
    pending: sample.pending,
    readyReplicas,
  };
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
    return reset;
  }

  const now = totals(sample);
  // Pending can shrink without deliveries (messages removed by stream limits or by an operator):
  // that is not negative arrival, so clamp at zero.
  const arrivedPerSecond = Math.max(0, now.arrivedTotal - previous.last.arrivedTotal) / dtSeconds;
  const completedPerSecond = Math.max(0, now.completedTotal - previous.last.completedTotal) / dtSeconds;

  const next: RateState = {
    last: baseline(sample, readyReplicas),
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

  // Capacity is only observable while replicas had more work than they could take: at both ends of
  // the interval at least a full batch per replica was waiting (a few pending messages are normal
  // between pulls and would make idle replicas look slow), and the same replicas were ready
  // throughout (a pod that started mid-interval would make the replicas look slower than they are).
  const fullBatch = Math.max(1, readyReplicas * (previous.inFlightPerReplica ?? 1));
  const busyThroughout = previous.last.pending >= fullBatch && sample.pending >= fullBatch;
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

  // While messages wait and max_ack_pending is not the limit, every ready replica holds as many
  // messages as it can: that is its in-flight size.
  const capped = sample.maxAckPending > 0 && sample.ackPending >= sample.maxAckPending;
  let inFlight = previous.inFlightPerReplica;
  if (sample.pending > 0 && !capped && readyReplicas > 0 && sample.ackPending > 0) {
    inFlight = ewma(inFlight, sample.ackPending / readyReplicas, dtSeconds, CAPACITY_TIME_CONSTANT_SECONDS);
  }
  if (inFlight !== undefined) next.inFlightPerReplica = inFlight;
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
