// A stream at its max_msgs / max_bytes limit because its consumer falls behind: what arrives beyond
// the room the replicas free is refused (discard new: the publisher gets "maximum messages
// exceeded", and no sequence is spent on it) or drops the stream's oldest unconsumed message
// (discard old). With discard new the refused publishes leave no trace in any counter the operator
// reads: the backlog sits at the limit and the arrival rate read is what the replicas make room
// for, their own drain rate. So the arrivals read are a lower bound of the demand, not the demand,
// and a policy sizing from them keeps what it has (at best: RATE_HEADROOM ratchets one replica at a
// time) or, with a latency objective whose allowed queue is larger than the stream holds, never
// adds one (consumer-configs.int: 100/s offered to 20/s replicas, 2 replicas and the stream at
// 198-200 of 200 for 75 readings with latencyObjective 60s).
//
// The signal is the stream's own config and state (STREAM.INFO, read with the reading): messages
// (or bytes) at STREAM_FULL_SHARE of the limit or more, and the consumer's backlog (pending +
// awaiting ack) at least that share of what the stream holds, so it is this consumer's unfinished
// work that fills it (a limits stream full of messages the consumer has long acknowledged is not:
// more replicas free no room there). decide.ts (2e) then sizes no lower than the current count
// while the replicas complete work, and adds replicas in steps of STREAM_FULL_STEP_SHARE while the
// stream stays at its limit for STREAM_FULL_CONFIRM_SECONDS with every replica asked for ready
// (a burst that fills the stream once and is drained within that is not sized for). Replicas that
// complete nothing (handlers failing every message, a paused consumer, refused pull requests) get
// none: more of them would free no room.
import type { BacklogSample, StreamLimit } from './types.js';

/** A stream holding at least this share of its max_msgs or max_bytes is at its limit. */
export const STREAM_FULL_SHARE = 0.9;
/**
 * The stream must stay at its limit this long, with the same replicas ready, before replicas are
 * added for it: a burst that fills it once and is drained sooner is not a demand above capacity.
 */
export const STREAM_FULL_CONFIRM_SECONDS = 10;
/**
 * Replicas are added only while they complete at least this share of what the per-replica figure
 * says the ready ones do: a replica that gets nothing frees no room.
 */
export const STREAM_FULL_BUSY_SHARE = 0.75;
/** Each step adds this share of the current replicas (at least one). */
export const STREAM_FULL_STEP_SHARE = 0.5;

/** What a reading shows of a stream at its limit. */
export interface AtLimit {
  limit: 'max_msgs' | 'max_bytes';
  discard: StreamLimit['discard'];
  /** Messages, or bytes, the stream holds. */
  stored: number;
  /** The limit: max_msgs, or max_bytes. */
  max: number;
}

/** A run of readings, up to and including the latest, each showing the stream at its limit. */
export interface StreamFullRun extends AtLimit {
  /** When the run began (ms, the clock of `at`): its first reading. */
  since: number;
}

const nonNegative = (n: number): number => (Number.isFinite(n) && n > 0 ? n : 0);

/**
 * Whether this reading shows the stream at its limit with the consumer's own backlog filling it
 * (undefined: not at its limit, not this consumer's doing, or the stream's state not read).
 */
export function atStreamLimit(sample: BacklogSample): AtLimit | undefined {
  const l = sample.streamLimit;
  if (l === undefined || l.messages === undefined || !(l.messages > 0)) return undefined;
  const backlog = nonNegative(sample.pending) + nonNegative(sample.ackPending);
  if (backlog < STREAM_FULL_SHARE * l.messages) return undefined;
  if (l.maxMsgs !== undefined && l.maxMsgs > 0 && l.messages >= STREAM_FULL_SHARE * l.maxMsgs)
    return { limit: 'max_msgs', discard: l.discard, stored: l.messages, max: l.maxMsgs };
  if (
    l.maxBytes !== undefined &&
    l.maxBytes > 0 &&
    l.bytes !== undefined &&
    l.bytes >= STREAM_FULL_SHARE * l.maxBytes
  )
    return { limit: 'max_bytes', discard: l.discard, stored: l.bytes, max: l.maxBytes };
  return undefined;
}

/**
 * The run of readings, ending with `sample`, that each show the stream at its limit (undefined when
 * `sample` does not). `history` holds the readings before `sample`, oldest first.
 */
export function streamFullRun(
  history: readonly BacklogSample[],
  sample: BacklogSample,
): StreamFullRun | undefined {
  const now = atStreamLimit(sample);
  if (now === undefined) return undefined;
  let since = sample.at;
  for (let i = history.length - 1; i >= 0; i--) {
    const s = history[i];
    if (s === undefined || s.at > since || atStreamLimit(s) === undefined) break;
    since = s.at;
  }
  return { ...now, since };
}

/**
 * The most messages the stream holds: max_msgs, or max_bytes at the mean size of what it holds
 * (undefined: no such limit, or its state not read). A latency objective's standing queue cannot
 * be larger: what it would stand beyond this is refused or dropped.
 */
export function streamCapacityMessages(sample: BacklogSample): number | undefined {
  const l = sample.streamLimit;
  if (l === undefined) return undefined;
  const byMsgs = l.maxMsgs !== undefined && l.maxMsgs > 0 ? l.maxMsgs : Infinity;
  const byBytes =
    l.maxBytes !== undefined &&
    l.maxBytes > 0 &&
    l.messages !== undefined &&
    l.messages > 0 &&
    l.bytes !== undefined &&
    l.bytes > 0
      ? l.maxBytes / (l.bytes / l.messages)
      : Infinity;
  const cap = Math.min(byMsgs, byBytes);
  return Number.isFinite(cap) ? cap : undefined;
}

/** One clause a user can read: what the stream does at its limit and what to change. */
export function streamFullText(run: StreamFullRun, stream: 'refuses' | 'drops', seconds: number): string {
  const limit = run.limit === 'max_msgs' ? `max_msgs ${run.max}` : `max_bytes ${run.max}`;
  const stored = run.limit === 'max_msgs' ? `${run.stored} messages` : `${run.stored} bytes`;
  return stream === 'refuses'
    ? `the stream holds ${stored} at its ${limit} with discard new for ${seconds.toFixed(0)}s: it refuses what it has no room for (publishers get "maximum messages exceeded"), so the arrival rate read is what the replicas make room for, a lower bound of the demand; raise the stream's ${run.limit} or maxReplicas if replicas cannot be added`
    : `the stream holds ${stored} at its ${limit} with discard old for ${seconds.toFixed(0)}s: it drops its oldest messages before any replica takes them; raise the stream's ${run.limit} or maxReplicas if replicas cannot be added`;
}
