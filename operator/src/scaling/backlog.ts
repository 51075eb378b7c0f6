// The backlog of one reading: what the policy sizes for, what status.consumers[].backlog says and
// what the jetscale_backlog_* gauges show. One definition, so the three cannot disagree.
import type { BacklogSample } from './types.js';

export interface Backlog {
  /** num_pending. */
  pending: number;
  /**
   * What a mirror or sourced stream has still to copy from its origin(s) (BacklogSample.upstream),
   * when known: work for the replicas as much as what the stream holds. Absent on other streams and
   * while it is not known.
   */
  upstreamLag?: number;
  /** num_ack_pending. */
  ackPending: number;
  /** pending + upstreamLag + ackPending. */
  total: number;
}

/** What a mirror or sourced stream had still to copy at a reading, when known (a whole number ≥ 0). */
export function upstreamLagOf(sample: Pick<BacklogSample, 'upstream'>): number | undefined {
  const upstream = sample.upstream;
  return upstream !== undefined &&
    'lag' in upstream &&
    Number.isSafeInteger(upstream.lag) &&
    upstream.lag >= 0
    ? upstream.lag
    : undefined;
}

/** The backlog of a reading (negative counters, which no server sends, count as 0). */
export function backlogOf(sample: Pick<BacklogSample, 'pending' | 'ackPending' | 'upstream'>): Backlog {
  const pending = Math.max(0, sample.pending);
  const ackPending = Math.max(0, sample.ackPending);
  const upstreamLag = upstreamLagOf(sample);
  return {
    pending,
    ...(upstreamLag !== undefined ? { upstreamLag } : {}),
    ackPending,
    total: pending + (upstreamLag ?? 0) + ackPending,
  };
}
