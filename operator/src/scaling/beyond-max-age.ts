// Handlers slower than the stream's max_age. Every message then expires while a handler still
// holds it, whatever the count: nats-server removes it at max_age and handles the removal of a
// message a consumer holds like an acknowledgement (consumer.go decStreamPending: "If it was
// pending process it like an ack"), so num_ack_pending falls, the ack floor moves and, on a push
// consumer or pull clients whose buffers hold the whole backlog, nothing waits at the server. The
// same counters show a consumer whose handlers are fast enough but whose replicas are too few
// (their buffers grow until what they hold expires), where more replicas do help; rates.ts
// (behindInHand) adds one more than fell behind there, and before this took a push consumer at 10/s
// with 3.2 s handlers on max_age 3 s from 1 to maxReplicas 30 (session 33's reproduction).
//
// What tells the two apart is the stream. Its limits remove messages from its front only; an
// acknowledgement removes a message wherever it is (a WorkQueue stream, or an Interest stream with
// no other consumer), so a message acknowledged before it expired leaves a gap between first_seq and
// last_seq (state.num_deleted) until the front passes it, max_age later at most. Handlers slower than
// max_age acknowledge nothing, and leave none. Too few replicas whose handlers are fast enough may
// leave none either once every buffer is long (each handler works through what expired in it), but
// a replica added then starts with an empty buffer and acknowledges its first messages at once, and
// they are younger than what the others hold: a gap. So after a step taken for messages expiring in
// the replicas' hands, a run of READINGS with the step's replicas ready, messages still expiring in
// hand and no gap for BEYOND_MAX_AGE_CONFIRM_SECONDS (at least twice max_age) says the handlers
// are slower than max_age: rates.ts takes no further step for it and decide.ts adds no replicas
// while it lasts (ScalingLimited=HandlersSlowerThanMaxAge, a Warning event when it starts). A gap
// at any reading ends it (the handlers were fixed, or some messages are fast enough: then more
// replicas take each sooner, and help).
//
// A gap left by something else (a message deleted by a user, max_msgs_per_subject, per-message
// TTLs) reads as an acknowledgement: the policy then steps as before, never holds for it.
import type { LimitedStreamState } from './types.js';

/**
 * A run with the step's replicas ready, messages expiring in their hands and nothing acknowledged
 * must last this long (and at least BEYOND_MAX_AGE_AGE_FACTOR × max_age) before the handlers are
 * read as slower than max_age: a replica that starts takes a poll or two to receive its first
 * messages, and one whose handler is faster than max_age acknowledges the first within max_age.
 */
export const BEYOND_MAX_AGE_CONFIRM_SECONDS = 15;
/** ... and at least this many times max_age (a gap lasts max_age at most: readings 2 s apart see it). */
export const BEYOND_MAX_AGE_AGE_FACTOR = 2;

/**
 * Messages the stream shows acknowledged before they expired: sequences between first_seq and
 * last_seq no longer stored (last_seq − first_seq + 1 − messages). Undefined when first_seq is not
 * read (an Interest stream with other consumers: an acknowledgement need not remove the message)
 * or the counters do not add up.
 */
export function acknowledgedInside(state: LimitedStreamState): number | undefined {
  const { firstSeq, lastSeq, messages } = state;
  if (firstSeq === undefined) return undefined;
  if (![firstSeq, lastSeq, messages].every((n) => Number.isSafeInteger(n) && n >= 0)) return undefined;
  const span = lastSeq - firstSeq + 1;
  if (span < messages) return undefined;
  return span - messages;
}

/**
 * Whether the stream shows a message acknowledged before it expired: a gap inside it
 * (acknowledgedInside), or messages held with the oldest younger than `edgeSeconds` (what the
 * oldest is when every message expires: rates.ts inHandEdgeSeconds), so the front was acknowledged
 * too. False when neither; undefined when no gap can be read (first_seq not read) and the front
 * shows none.
 */
export function acknowledgedBeforeExpiry(
  state: LimitedStreamState,
  edgeSeconds: number,
): boolean | undefined {
  if (state.messages > 0 && Number.isFinite(state.oldestAgeSeconds) && state.oldestAgeSeconds < edgeSeconds)
    return true;
  const inside = acknowledgedInside(state);
  return inside === undefined ? undefined : inside > 0;
}

/** RateState.beyondMaxAge: handlers read as slower than max_age (see rates.ts). */
export interface BeyondMaxAge {
  /** When the run that showed it began (ms). */
  since: number;
  /** Replicas ready then. */
  replicas: number;
  /** The stream's max_age it was found on (seconds). */
  maxAgeSeconds: number;
}

/** RateState.beyondMaxAge read back from history: finite times, a whole replica count >= 1, max_age > 0. */
export function validBeyondMaxAge(v: unknown): BeyondMaxAge | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const { since, replicas, maxAgeSeconds } = v as Record<string, unknown>;
  if (typeof since !== 'number' || !Number.isFinite(since)) return undefined;
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 1) return undefined;
  if (typeof maxAgeSeconds !== 'number' || !Number.isFinite(maxAgeSeconds) || !(maxAgeSeconds > 0))
    return undefined;
  return { since, replicas, maxAgeSeconds };
}

/** How long the run must last on a stream with this max_age (seconds). */
export function beyondMaxAgeConfirmSeconds(maxAgeSeconds: number): number {
  return Math.max(BEYOND_MAX_AGE_CONFIRM_SECONDS, BEYOND_MAX_AGE_AGE_FACTOR * maxAgeSeconds);
}

/** What the status and the Warning event say (decision.handlersSlowerThanMaxAge.message). */
export function beyondMaxAgeText(o: { maxAgeSeconds: number; seconds: number; replicas: number }): string {
  const maxAge = Number.isInteger(o.maxAgeSeconds) ? String(o.maxAgeSeconds) : o.maxAgeSeconds.toFixed(1);
  return `handlers take longer than the stream's max_age (${maxAge}s): for ${o.seconds.toFixed(0)}s every message expired before it was acknowledged, with ${o.replicas} ${o.replicas === 1 ? 'replica' : 'replicas'} ready, including one added with nothing in hand — more replicas cannot help; raise the stream's max_age or speed the handler`;
}

// Messages that wait and expire at the server (a fetch loop, or a buffered client that asks again
// only as its handlers free room) show nothing in the stream: every replica takes the oldest
// waiting, a moment short of max_age, and each expires in hand whatever the handler, so no gap
// and no young front tells handlers slower than max_age from too few replicas there. What the
// replicas take does: a replica whose handlers each take longer than max_age per message takes
// fewer than one message per max_age per handler, and one whose handlers are faster takes more.
// Sized at what they take (decide.ts 2c byTaken), fetch loops with slow handlers climbed to
// maxReplicas (nats.py fetch(1) with 20 s handlers on max_age 2 s; session 35's expiry worlds
// 35914, 35915), every replica added holding one more message to expire.

/**
 * A run of settled intervals with the same replicas ready in which messages waited and expired at
 * the server (rates.ts expiringNow): what the replicas took in it, zero-delivery intervals counted.
 */
export interface TakenRun {
  /** When it began (ms). */
  since: number;
  /** Replicas ready throughout. */
  replicas: number;
  /** Seconds of intervals counted. */
  seconds: number;
  /** New deliveries in them. */
  deliveries: number;
  /** The most delivered in one of them (a batch a fetch loop took at once). */
  largest: number;
}

/** RateState.takenRun read back from history: finite, non-negative, a whole replica count >= 1. */
export function validTakenRun(v: unknown): TakenRun | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const { since, replicas, seconds, deliveries, largest } = v as Record<string, unknown>;
  if (typeof since !== 'number' || !Number.isFinite(since)) return undefined;
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 1) return undefined;
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) return undefined;
  if (typeof deliveries !== 'number' || !Number.isFinite(deliveries) || deliveries < 0) return undefined;
  if (typeof largest !== 'number' || !Number.isFinite(largest) || largest < 0) return undefined;
  return { since, replicas, seconds, deliveries, largest };
}

/** The run with one more interval counted (a new run when `before` had other replicas). */
export function extendTakenRun(
  before: TakenRun | undefined,
  o: { since: number; replicas: number; seconds: number; deliveries: number },
): TakenRun {
  const base =
    before !== undefined && before.replicas === o.replicas
      ? before
      : { since: o.since, replicas: o.replicas, seconds: 0, deliveries: 0, largest: 0 };
  return {
    ...base,
    seconds: base.seconds + o.seconds,
    deliveries: base.deliveries + o.deliveries,
    largest: Math.max(base.largest, o.deliveries),
  };
}

/**
 * The run shows the replicas taking more than one message per max_age each, beyond the largest
 * batch taken at once (the one each may have begun with): handlers faster than max_age, or more
 * of them than one a replica. Sizing at what they take (decide.ts byTaken) helps then.
 */
export function takenShowsFaster(run: TakenRun, maxAgeSeconds: number): boolean {
  return run.seconds > 0 && (run.deliveries - run.largest) * maxAgeSeconds >= run.replicas * run.seconds;
}

/**
 * The run no longer shows handlers faster than max_age: for beyondMaxAgeConfirmSeconds, fewer than
 * one message per max_age each (handlers that turned slow, or a batch client whose first batches
 * said more than its pace). Steps sized at what they take wait until a run shows them faster again.
 */
export function takenShowsNotFaster(run: TakenRun, maxAgeSeconds: number): boolean {
  return (
    run.seconds >= beyondMaxAgeConfirmSeconds(maxAgeSeconds) &&
    run.deliveries * maxAgeSeconds < run.replicas * run.seconds
  );
}

/**
 * The run shows handlers slower than max_age: for beyondMaxAgeConfirmSeconds the replicas took
 * something, and fewer than one message per twice max_age each. A replica takes one more only as a
 * handler frees, so with batches of b, k of them taken in a run shorter than k + 1 batch times of
 * b·h: 2·k·b·max_age < (k + 1)·b·h, so h > max_age. (At one per max_age, a batch client whose
 * handlers take 0.6 × max_age reads slower over a run of 1.7 batch times.)
 */
export function takenShowsSlower(run: TakenRun, maxAgeSeconds: number): boolean {
  return (
    run.seconds >= beyondMaxAgeConfirmSeconds(maxAgeSeconds) &&
    run.deliveries >= 1 &&
    2 * run.deliveries * maxAgeSeconds < run.replicas * run.seconds
  );
}
