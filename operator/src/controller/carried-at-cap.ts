// What the policy learnt of max_ack_pending, carried over an operator restart or a change of leader
// through status.consumers[].maxAckPendingCap: the two replica counts that showed the limit binding
// (scaling/rates.ts maxAckPendingBinding: more replicas did not process more while it was full with
// work waiting), when the last at-cap probe started, and the probe under way (scaling/at-cap-probe.ts).
// Without it a new process forgot that replicas beyond the cap do nothing more, climbed to
// maxReplicas again, and (held there) probed again at once.
//
// Times are written as seconds before the entry's lastBacklogReadTime, so a status written once
// carries them on whatever clock reads it back. A status is input from outside: read back, the
// entry must name its stream and consumer, be recent (CARRIED_CAPACITY_MAX_AGE_SECONDS, not more
// than a minute ahead), and every part of it well formed, or none of it is taken; the policy then
// takes the records only at the limit its reading shows and only when they show the limit binding,
// and a carried cap never takes the replicas below the count there is (scaling/decide.ts).
import type { ConsumerStatus, MaxAckPendingCapStatus } from '../api/v1alpha1/event-consumer.js';
import { monotonicTimeOf, type ClockReading } from '../clock.js';
import { asAtCapProbeState, PROBE_GAP_SECONDS } from '../scaling/at-cap-probe.js';
import { asRateState, maxAckPendingBinding, MAX_CARRIED_PER_REPLICA_PER_SECOND } from '../scaling/rates.js';
import type { BacklogSample, CarriedAtCap, ScalingHistory } from '../scaling/types.js';
import { CARRIED_CAPACITY_MAX_AGE_SECONDS, carriedReadAt } from './carried-age.js';

/** Status is written to this many decimals (report.ts STATUS_DECIMALS; not imported: report.ts imports this). */
const DECIMALS = 3;
const round = (n: number): number => Math.round(n * 10 ** DECIMALS) / 10 ** DECIMALS;

/**
 * The status entry's maxAckPendingCap after a reading (`history` as the policy returned it): the
 * binding pair, the last probe's start while it still spaces probes, the probe under way.
 * Undefined when there is none of these.
 */
export function atCapStatus(
  history: ScalingHistory,
  sample: BacklogSample,
): MaxAckPendingCapStatus | undefined {
  const ago = (at: number): number => round(Math.max(0, sample.at - at) / 1000);
  const binding = maxAckPendingBinding(asRateState(history.rates), sample.maxAckPending, sample.at);
  const probe = asAtCapProbeState(history.atCapProbe);
  const startedAt = probe?.startedAt;
  const recent = startedAt !== undefined && sample.at - startedAt < PROBE_GAP_SECONDS * 1000;
  if (binding === undefined && !recent && probe?.active === undefined) return undefined;
  const record = (r: { replicas: number; perSecond: number; seconds: number; at: number }) => ({
    replicas: r.replicas,
    perSecond: round(r.perSecond),
    seconds: round(r.seconds),
    secondsAgo: ago(r.at),
  });
  return {
    maxAckPending: sample.maxAckPending,
    ...(binding !== undefined ? { fewer: record(binding.fewer), more: record(binding.more) } : {}),
    ...(recent ? { lastProbeSecondsAgo: ago(startedAt) } : {}),
    ...(probe?.active !== undefined
      ? { probe: { from: probe.active.from, to: probe.active.to, secondsAgo: ago(probe.active.since) } }
      : {}),
  };
}

/** What a new process keeps of an entry's maxAckPendingCap until its first reading (see carriedAtCap). */
export interface CarriedAtCapMemory extends CarriedAtCap {
  stream: string;
  consumer: string;
  /** Not used after this (monotonic ms): CARRIED_CAPACITY_MAX_AGE_SECONDS after lastBacklogReadTime. */
  usableUntil: number;
}

/** The maxAckPendingCap of a status.consumers[] entry, when it can be carried over (see the header). */
export function carriedAtCap(entry: unknown, now: ClockReading): CarriedAtCapMemory | undefined {
  if (typeof entry !== 'object' || entry === null) return undefined;
  const e = entry as Partial<Record<keyof ConsumerStatus, unknown>>;
  if (typeof e.stream !== 'string' || e.stream === '' || typeof e.consumer !== 'string' || e.consumer === '')
    return undefined;
  if (typeof e.maxAckPendingCap !== 'object' || e.maxAckPendingCap === null) return undefined;
  const readAt = carriedReadAt(e.lastBacklogReadTime, now.wall);
  if (readAt === undefined) return undefined;
  const cap = e.maxAckPendingCap as Record<string, unknown>;
  const whole = (n: unknown, least: number): n is number =>
    typeof n === 'number' && Number.isSafeInteger(n) && n >= least;
  const seconds = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n) && n >= 0;
  // On this clock: the read time (one ahead of this clock counts as now) less `secondsAgo`.
  const at = (secondsAgo: number): number =>
    monotonicTimeOf(Math.min(readAt, now.wall) - secondsAgo * 1000, now);
  if (!whole(cap.maxAckPending, 1)) return undefined;
  const out: CarriedAtCapMemory = {
    maxAckPending: cap.maxAckPending,
    stream: e.stream,
    consumer: e.consumer,
    usableUntil: monotonicTimeOf(readAt + CARRIED_CAPACITY_MAX_AGE_SECONDS * 1000, now),
  };
  const record = (
    value: unknown,
  ): { replicas: number; perSecond: number; seconds: number; at: number } | undefined => {
    if (typeof value !== 'object' || value === null) return undefined;
    const r = value as Record<string, unknown>;
    if (!whole(r.replicas, 1) || !seconds(r.perSecond) || !seconds(r.seconds) || !seconds(r.secondsAgo))
      return undefined;
    if (r.perSecond > MAX_CARRIED_PER_REPLICA_PER_SECOND * r.replicas) return undefined;
    return { replicas: r.replicas, perSecond: r.perSecond, seconds: r.seconds, at: at(r.secondsAgo) };
  };
  if (cap.fewer !== undefined || cap.more !== undefined) {
    const fewer = record(cap.fewer);
    const more = record(cap.more);
    if (fewer === undefined || more === undefined || more.replicas <= fewer.replicas) return undefined;
    out.records = [fewer, more];
  }
  if (cap.lastProbeSecondsAgo !== undefined) {
    if (!seconds(cap.lastProbeSecondsAgo)) return undefined;
    out.probeStartedAt = at(cap.lastProbeSecondsAgo);
  }
  if (cap.probe !== undefined) {
    if (typeof cap.probe !== 'object' || cap.probe === null) return undefined;
    const p = cap.probe as Record<string, unknown>;
    if (!whole(p.from, 2) || !whole(p.to, 1) || p.to >= p.from || !seconds(p.secondsAgo)) return undefined;
    out.probe = { from: p.from, to: p.to, since: at(p.secondsAgo) };
  }
  return out;
}
