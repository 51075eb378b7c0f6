// Messages a stream's own limit removed before this consumer delivered them: work lost unworked,
// which the user is told (the controller's MessagesRemovedUnworked condition and Warning event),
// whatever the policy does about it. On a WorkQueue or Interest stream whose limits remove
// (BacklogSample.limitRemovals) every message stored matches the consumer, and it is delivered,
// still pending, or gone before either (rates.ts expiredBeforeDelivery). Which limit removed it:
// a max_msgs / max_bytes that discards old while the stream stands at it (STREAM_FULL_SHARE),
// else max_age, else per-message TTLs; removals no limit explains (a purge or a delete by hand)
// are not the limit's and are not told. An interval's count is noise up to EXPIRED_NOISE_MESSAGES
// and EXPIRED_NOISE_SHARE of what the stream stored in it (the stream is read a moment after the
// consumer), as for the policy's own rule. Once told it is held REMOVED_UNWORKED_HOLD_SECONDS
// after the last interval that removed any, so a stream that removes every other reading (nats.js
// clients refill every other second) does not flap.
import { STREAM_FULL_SHARE } from './stream-full.js';
import type { LimitedStreamState, RemovingLimits } from './types.js';

/** The limit that removed messages unworked, as the stream's config names it. */
export type RemovingLimitName = 'max_age' | 'max_msgs' | 'max_bytes' | 'per-message TTL';

/** One reading-to-reading interval's removals before delivery (rates.ts expiredBeforeDelivery). */
export interface RemovalInterval {
  /** Messages removed before delivery in the interval. */
  removed: number;
  /** What the stream stored in it (its last sequence's growth). */
  stored: number;
  /** Pending at the server at the interval's start: with `stored`, the most that can go. */
  pendingBefore: number;
  seconds: number;
  /** The reading that ends the interval (ms). */
  at: number;
  limits: RemovingLimits;
  /** The stream's state at that reading. */
  state: LimitedStreamState | undefined;
}

/** A spell of removals before delivery by the stream's limit (RateState.removedUnworked). */
export interface RemovedUnworked {
  limit: RemovingLimitName;
  /** First interval of the spell that removed any (ms on the readings' clock, BacklogSample.at: the reading that ended it). */
  since: number;
  /** Last interval that removed any (ms). */
  lastAt: number;
  /** Removed in that interval, and its length. */
  removed: number;
  seconds: number;
  /** Removed over the spell. */
  total: number;
}

/** Seconds the condition is held after the last interval that removed any. */
export const REMOVED_UNWORKED_HOLD_SECONDS = 120;
/** An interval's removals above this many messages ... */
export const REMOVED_NOISE_MESSAGES = 2;
/** ... and this share of what the stream stored in it are the limit's, not the read's timing. */
export const REMOVED_NOISE_SHARE = 0.05;

/** Which limit removed an interval's messages, or undefined where none explains it. */
export function removingLimit(
  limits: RemovingLimits,
  state: LimitedStreamState | undefined,
): RemovingLimitName | undefined {
  if (state !== undefined) {
    if (
      limits.maxMsgs !== undefined &&
      limits.maxMsgs > 0 &&
      state.messages >= STREAM_FULL_SHARE * limits.maxMsgs
    )
      return 'max_msgs';
    if (
      limits.maxBytes !== undefined &&
      limits.maxBytes > 0 &&
      state.bytes >= STREAM_FULL_SHARE * limits.maxBytes
    )
      return 'max_bytes';
  }
  if (limits.maxAgeSeconds !== undefined && limits.maxAgeSeconds > 0) return 'max_age';
  if (limits.msgTtl === true) return 'per-message TTL';
  return undefined;
}

function validInterval(interval: RemovalInterval): boolean {
  const { removed, stored, pendingBefore, seconds, at } = interval;
  return (
    [removed, stored, pendingBefore, seconds, at].every((n) => Number.isFinite(n)) &&
    stored >= 0 &&
    pendingBefore >= 0 &&
    seconds > 0 &&
    // More than what arrived and what waited cannot have gone: a read that says so is not used.
    removed <= stored + pendingBefore
  );
}

/**
 * The spell after an interval (or after a reading that gave none: `interval` undefined), as of
 * `now`: extended, begun, held, or ended once REMOVED_UNWORKED_HOLD_SECONDS have passed without
 * removals.
 */
export function nextRemovedUnworked(
  previous: RemovedUnworked | undefined,
  interval: RemovalInterval | undefined,
  now: number,
): RemovedUnworked | undefined {
  const held = validRemovedUnworked(previous, now);
  if (interval === undefined || !validInterval(interval)) return held;
  const noise = Math.max(REMOVED_NOISE_MESSAGES, REMOVED_NOISE_SHARE * interval.stored);
  const limit = removingLimit(interval.limits, interval.state);
  if (!(interval.removed > noise) || limit === undefined) return held;
  const removed = Math.round(interval.removed);
  return {
    limit,
    since: held?.since ?? interval.at,
    lastAt: interval.at,
    removed,
    seconds: interval.seconds,
    total: (held?.total ?? 0) + removed,
  };
}

/** A spell read back from state, while it is held at `now` (undefined: none, ended, or not valid). */
export function validRemovedUnworked(state: unknown, now: number): RemovedUnworked | undefined {
  if (typeof state !== 'object' || state === null) return undefined;
  const s = state as Partial<Record<keyof RemovedUnworked, unknown>>;
  const names: RemovingLimitName[] = ['max_age', 'max_msgs', 'max_bytes', 'per-message TTL'];
  const limit = names.find((n) => n === s.limit);
  const numbers = [s.since, s.lastAt, s.removed, s.seconds, s.total];
  if (limit === undefined || !numbers.every((n) => typeof n === 'number' && Number.isFinite(n) && n >= 0))
    return undefined;
  const r = state as RemovedUnworked;
  if (r.since > r.lastAt || r.lastAt > now || now - r.lastAt > REMOVED_UNWORKED_HOLD_SECONDS * 1000)
    return undefined;
  return { limit, since: r.since, lastAt: r.lastAt, removed: r.removed, seconds: r.seconds, total: r.total };
}

function limitText(limit: RemovingLimitName, limits: RemovingLimits | undefined): string {
  switch (limit) {
    case 'max_age':
      return `max_age${limits?.maxAgeSeconds !== undefined ? ` (${limits.maxAgeSeconds}s)` : ''}`;
    case 'max_msgs':
      return `max_msgs${limits?.maxMsgs !== undefined ? ` (${limits.maxMsgs}, discard old)` : ''}`;
    case 'max_bytes':
      return `max_bytes${limits?.maxBytes !== undefined ? ` (${limits.maxBytes}, discard old)` : ''}`;
    case 'per-message TTL':
      return 'per-message TTL (the publishers’ Nats-TTL headers)';
  }
}

function whatToChange(limit: RemovingLimitName): string {
  switch (limit) {
    case 'max_age':
      return "raise the stream's max_age, or maxReplicas if more replicas would take them in time";
    case 'max_msgs':
      return "raise the stream's max_msgs, or maxReplicas if more replicas would take them in time";
    case 'max_bytes':
      return "raise the stream's max_bytes, or maxReplicas if more replicas would take them in time";
    case 'per-message TTL':
      return 'give the messages a longer TTL, or raise maxReplicas if more replicas would take them in time';
  }
}

/**
 * What the condition says of a spell at `now`: which limit, how many in the last interval (or
 * that the last interval removed none, held since when), and what to change.
 */
export function removedUnworkedMessage(
  spell: RemovedUnworked,
  limits: RemovingLimits | undefined,
  now: number,
): string {
  const ago = Math.max(0, Math.round((now - spell.lastAt) / 1000));
  const fmt = (n: number): string => (Math.round(n * 10) / 10).toString();
  const last =
    spell.lastAt >= now
      ? `${spell.removed} removed in the last interval (${fmt(spell.seconds)}s)`
      : `none in the last interval; ${spell.removed} removed in an interval of ${fmt(spell.seconds)}s ${ago}s ago (said until ${REMOVED_UNWORKED_HOLD_SECONDS}s pass without any)`;
  return `messages are being removed unworked by the stream's limit ${limitText(spell.limit, limits)}: this consumer never delivered them; ${last}, ${spell.total} over the last ${Math.max(0, Math.round((now - spell.since) / 1000 + spell.seconds))}s; ${whatToChange(spell.limit)}`;
}
