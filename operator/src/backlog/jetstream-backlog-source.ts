// Reads a durable consumer's backlog through the JetStream API (CONSUMER.INFO), which the
// consumer's leader answers — never the /jsz monitoring endpoint, where followers report
// num_pending 0 (nats-server #4539, KEDA #3860). Failures come back as BacklogError values.
import { jetstreamManager, type ConsumerInfo, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type {
  BacklogSample,
  LimitedStreamState,
  RemovingLimits,
  StreamLimit,
  ServerTime,
  UpstreamLag,
} from '../scaling/types.js';
import { BacklogError, isBacklogError } from './backlog-error.js';
import type { BacklogReading, BacklogSource } from './backlog-source.js';
import { monotonicNow } from '../clock.js';
import { filterCoversStream, type StreamSubjects } from './filter-coverage.js';
import { readDrops, type DropCount } from './drop-advisories.js';
import { STREAM_UPDATED_SUBJECT, StreamUpdates, type UpdateMark } from './stream-updates.js';
import { boundApiReplies, isApiReplyRefused, type ApiReplyRefused } from './api-replies.js';
import { countedFilters, filterCountUnusable, readFilterStored } from './filter-count.js';

export interface ConsumerRef {
  stream: string;
  consumer: string;
  domain?: string;
  apiPrefix?: string;
}

/** The CONSUMER.INFO fields a BacklogSample is read from (max_ack_pending may be absent: unlimited). */
const SAMPLE_FIELDS: ReadonlyArray<readonly [string, (info: ConsumerInfo) => unknown]> = [
  ['num_pending', (info) => info.num_pending],
  ['num_ack_pending', (info) => info.num_ack_pending],
  ['num_redelivered', (info) => info.num_redelivered],
  ['num_waiting', (info) => info.num_waiting],
  ['delivered.consumer_seq', (info) => info.delivered?.consumer_seq],
  ['delivered.stream_seq', (info) => info.delivered?.stream_seq],
  ['ack_floor.consumer_seq', (info) => info.ack_floor?.consumer_seq],
  ['ack_floor.stream_seq', (info) => info.ack_floor?.stream_seq],
];

/**
 * What makes a CONSUMER.INFO reply unusable as a reading: a missing or non-numeric counter (a
 * proxy, an old or foreign server) must not turn into NaN replicas. Empty when usable.
 */
export function consumerInfoProblems(info: ConsumerInfo): string[] {
  const problems: string[] = [];
  for (const [field, read] of SAMPLE_FIELDS) {
    const value = read(info);
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      problems.push(`${field} is ${JSON.stringify(value) ?? 'missing'}, not a whole number ≥ 0`);
    }
  }
  const maxAckPending: unknown = info.config?.max_ack_pending;
  if (
    maxAckPending !== undefined &&
    (typeof maxAckPending !== 'number' || !Number.isSafeInteger(maxAckPending))
  ) {
    problems.push(`config.max_ack_pending is ${JSON.stringify(maxAckPending)}, not a whole number`);
  }
  // nats-server 2.11+ (server/consumer.go, consumer info): `paused` while pause_until is ahead,
  // with `pause_remaining` in nanoseconds; older servers send neither.
  const paused: unknown = (info as { paused?: unknown }).paused;
  if (paused !== undefined && typeof paused !== 'boolean') {
    problems.push(`paused is ${JSON.stringify(paused)}, not true or false`);
  }
  const pauseRemaining: unknown = (info as { pause_remaining?: unknown }).pause_remaining;
  if (
    pauseRemaining !== undefined &&
    (typeof pauseRemaining !== 'number' || !Number.isSafeInteger(pauseRemaining) || pauseRemaining < 0)
  ) {
    problems.push(
      `pause_remaining is ${JSON.stringify(pauseRemaining)}, not a whole number of nanoseconds ≥ 0`,
    );
  }
  const maxDeliver: unknown = info.config?.max_deliver;
  if (maxDeliver !== undefined && (typeof maxDeliver !== 'number' || !Number.isSafeInteger(maxDeliver))) {
    problems.push(`config.max_deliver is ${JSON.stringify(maxDeliver)}, not a whole number`);
  }
  // A push consumer's subscribers are sent what max_ack_pending allows (decide.ts 2f reads one
  // replica's buffer from it): a deliver subject that is no subject leaves the kind unknown.
  const deliverSubject: unknown = info.config?.deliver_subject;
  if (deliverSubject !== undefined && typeof deliverSubject !== 'string') {
    problems.push(`config.deliver_subject is ${JSON.stringify(deliverSubject)}, not a subject`);
  }
  const filterSubject: unknown = info.config?.filter_subject;
  if (filterSubject !== undefined && typeof filterSubject !== 'string') {
    problems.push(`config.filter_subject is ${JSON.stringify(filterSubject)}, not a subject`);
  }
  const filterSubjects: unknown = info.config?.filter_subjects;
  if (
    filterSubjects !== undefined &&
    filterSubjects !== null &&
    !(Array.isArray(filterSubjects) && filterSubjects.every((s) => typeof s === 'string'))
  ) {
    problems.push(`config.filter_subjects is ${JSON.stringify(filterSubjects)}, not a list of subjects`);
  }
  return problems;
}

/** The consumer's filter subjects (config.filter_subject and filter_subjects), empty ones left out. */
export function filtersOf(info: ConsumerInfo): string[] {
  const one: unknown = info.config.filter_subject;
  const many: unknown = info.config.filter_subjects;
  return [...(typeof one === 'string' ? [one] : []), ...(Array.isArray(many) ? many : [])].filter(
    (s): s is string => typeof s === 'string' && s !== '',
  );
}

/**
 * What a STREAM.INFO reply says about the subjects its messages can have, or a sentence saying why
 * it is unusable (then the consumer's filter is not known to cover the stream).
 */
export function streamSubjectsOf(info: unknown): StreamSubjects | string {
  const config: unknown =
    typeof info === 'object' && info !== null ? (info as { config?: unknown }).config : undefined;
  if (typeof config !== 'object' || config === null) return 'the stream info has no config';
  const c = config as Record<string, unknown>;
  const subjects = c.subjects ?? [];
  if (!Array.isArray(subjects) || !subjects.every((s) => typeof s === 'string' && s !== ''))
    return `config.subjects is ${JSON.stringify(c.subjects)}, not a list of subjects`;
  const present = (v: unknown): boolean =>
    v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0);
  return {
    subjects,
    otherSubjects: present(c.mirror) || present(c.sources) || present(c.subject_transform),
  };
}

/**
 * Whether a stream's config lets it remove messages a consumer has delivered and not yet had
 * acknowledged, from the front of the stream: a limits stream with max_age (whatever its discard
 * policy), or max_msgs / max_bytes with discard old. nats-server then takes each removed message
 * out of the consumer's pending set "like an ack" (consumer.go decStreamPending → processTerm), so
 * num_ack_pending falls as if it had been acknowledged (rates.ts removedWhileHeld). Other limits
 * are left out here: max_msgs_per_subject removes messages from inside the stream, and on
 * WorkQueue or Interest retention acknowledgements move the first sequence too (both open).
 */
export function removesHeldMessages(info: unknown): boolean {
  const config: unknown =
    typeof info === 'object' && info !== null ? (info as { config?: unknown }).config : undefined;
  if (typeof config !== 'object' || config === null) return false;
  const c = config as Record<string, unknown>;
  const positive = (v: unknown): boolean => typeof v === 'number' && v > 0;
  const retention = c.retention ?? 'limits';
  const discardOld = (c.discard ?? 'old') === 'old';
  return (
    retention === 'limits' &&
    (positive(c.max_age) || (discardOld && (positive(c.max_msgs) || positive(c.max_bytes))))
  );
}

/**
 * Whether a stream's config lets it remove messages from inside it, not only from its front,
 * while a consumer holds them: max_msgs_per_subject (a KV-like stream: a newer message on a subject
 * removes its oldest), a rollup (allow_rollup_hdrs), per-message TTLs (allow_msg_ttl, nats-server
 * 2.11+: each message expires at its own time, whatever deny_delete and deny_purge say), a message
 * delete (unless deny_delete) or a purge by subject (unless deny_purge). nats-server takes a
 * removed message a consumer holds out of its pending set like an ack (consumer.go decStreamPending → processTerm; a purge: consumer.purge),
 * and the stream's first sequence does not move for one in the middle. Then the stream's counters
 * are read at every reading (rates.ts removedInside). A full purge, or one up to a sequence, moves
 * the first sequence: that is a removal from the front (removedWhileHeld), which these streams
 * allow too. WorkQueue and Interest streams are left out (acknowledgements remove messages there).
 * 'limits' when the stream's limits remove messages from inside it as messages arrive (a
 * per-subject limit, rollups, TTLs); 'requests' when only a user's request does (a delete, a purge).
 */
export function removesInside(info: unknown): false | 'limits' | 'requests' {
  const config: unknown =
    typeof info === 'object' && info !== null ? (info as { config?: unknown }).config : undefined;
  if (typeof config !== 'object' || config === null) return false;
  const c = config as Record<string, unknown>;
  if ((c.retention ?? 'limits') !== 'limits') return false;
  if (
    (typeof c.max_msgs_per_subject === 'number' && c.max_msgs_per_subject > 0) ||
    c.allow_rollup_hdrs === true ||
    c.allow_msg_ttl === true
  )
    return 'limits';
  return c.deny_delete !== true || c.deny_purge !== true ? 'requests' : false;
}

/**
 * How long a mirror or source may go without a message or heartbeat from its origin before its lag
 * is stale: nats-server's own rule for a stalled mirror or source (stream.go
 * sourceHealthCheckInterval, 10 s; an idle origin sends a heartbeat every second, sourceHealthHB).
 */
export const UPSTREAM_STALE_SECONDS = 10;

/**
 * Messages a mirror or sourced stream has not copied yet from its origin(s), from a STREAM.INFO reply
 * (undefined when the stream has neither a mirror nor sources). nats-server keeps each one's `lag` as
 * the origin consumer's num_pending after the last message copied, less that message (stream.go
 * processInboundMirrorMsg / processInboundSourceMsg: `lag = pending - 1`): the origin's messages that
 * pass the source's filter_subject or subject_transforms and are not in this stream yet, which this
 * stream's consumers will see once copied (measured, a mirror of 20,000: num_pending 6,496 with lag
 * 11,102, then 20,000 with lag 0). It is not known
 * - before the first contact (`active` -1: 0 pending read for 90–250 ms after a mirror of 20,000 was
 *   created), or before anything was copied (`active` is set when the origin's consumer is created,
 *   and lag stays 0 until its first message: a source read active 3 ms, lag 0, for 26 ms);
 * - after UPSTREAM_STALE_SECONDS without a message or heartbeat (the lag read then is stale);
 * - while the mirror or source reports an error (an origin that does not exist: 404).
 */
export function upstreamOf(info: unknown): UpstreamLag | undefined {
  const i = typeof info === 'object' && info !== null ? (info as Record<string, unknown>) : {};
  const entries: Array<{ what: string; source: unknown }> = [];
  if (i.mirror !== undefined && i.mirror !== null) entries.push({ what: 'mirror', source: i.mirror });
  if (Array.isArray(i.sources))
    for (const source of i.sources as unknown[]) entries.push({ what: 'source', source });
  if (entries.length === 0) return undefined;
  const state = i.state as { last_seq?: unknown } | undefined;
  const copiedNothing = state?.last_seq === 0;
  let lag = 0;
  const names: string[] = [];
  for (const { what, source } of entries) {
    const s = typeof source === 'object' && source !== null ? (source as Record<string, unknown>) : {};
    const name = typeof s.name === 'string' ? s.name : '?';
    const of = `${what} of stream "${name}"`;
    names.push(`"${name}"`);
    const error = s.error as { description?: unknown } | undefined;
    if (error !== undefined && error !== null)
      return {
        unknown: `the ${of} reports an error (${typeof error.description === 'string' ? error.description : JSON.stringify(error)}), so what it has not copied yet is not known: fix or recreate the origin stream`,
      };
    if (typeof s.lag !== 'number' || !Number.isSafeInteger(s.lag) || s.lag < 0)
      return {
        unknown: `the ${of} reports lag ${JSON.stringify(s.lag) ?? 'missing'}, not a whole number ≥ 0`,
      };
    if (typeof s.active !== 'number' || !Number.isFinite(s.active))
      return { unknown: `the ${of} reports active ${JSON.stringify(s.active) ?? 'missing'}, not a duration` };
    if (s.active < 0)
      return {
        unknown: `the ${of} has not been in contact with its origin yet (active -1), so how much it has still to copy is not known`,
      };
    const silentSeconds = s.active / 1e9;
    if (silentSeconds > UPSTREAM_STALE_SECONDS)
      return {
        unknown: `the ${of} has heard nothing from its origin for ${Math.round(silentSeconds)}s (lag ${s.lag} read before that is stale): is the origin reachable?`,
      };
    if (s.lag === 0 && copiedNothing)
      return {
        unknown: `the ${of} has copied nothing yet, so its lag 0 may mean it has not started: not known how much it has still to copy`,
      };
    lag += s.lag;
  }
  return {
    lag,
    from:
      entries.length === 1 && entries[0]?.what === 'mirror'
        ? `mirror of ${names[0]}`
        : `sources ${names.join(', ')}`,
  };
}

/**
 * The limits that remove messages from a WorkQueue or Interest stream besides acknowledgements, or
 * undefined when it has none (or is a limits stream: removesHeldMessages and removesInside cover
 * those). An acknowledgement removes the message there, so the stream's counters cannot tell an
 * expiry from one (consumer-configs.int: with max_age 3 s and handlers falling behind, 34–42/s read
 * for 20/s handlers); rates.ts voids the capacity of intervals in which these limits could act.
 */
export function removingLimitsOf(info: unknown): RemovingLimits | undefined {
  const config: unknown =
    typeof info === 'object' && info !== null ? (info as { config?: unknown }).config : undefined;
  if (typeof config !== 'object' || config === null) return undefined;
  const c = config as Record<string, unknown>;
  const retention = c.retention ?? 'limits';
  if (retention !== 'workqueue' && retention !== 'interest') return undefined;
  const positive = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0;
  const discardOld = (c.discard ?? 'old') === 'old';
  const limits: RemovingLimits = {
    ...(positive(c.max_age) ? { maxAgeSeconds: c.max_age / 1e9 } : {}),
    ...(discardOld && positive(c.max_msgs) ? { maxMsgs: c.max_msgs } : {}),
    ...(discardOld && positive(c.max_bytes) ? { maxBytes: c.max_bytes } : {}),
    ...(positive(c.max_msgs_per_subject) ? { maxMsgsPerSubject: c.max_msgs_per_subject } : {}),
    ...(c.allow_msg_ttl === true ? { msgTtl: true as const } : {}),
  };
  return Object.keys(limits).length > 0 ? limits : undefined;
}

/**
 * A stream's max_msgs / max_bytes limits and discard policy from a STREAM.INFO reply (undefined: it
 * has neither, or its config is unusable). At such a limit the stream refuses what arrives (discard
 * new) or drops its oldest message (discard old), whatever its retention: scaling/stream-full.ts.
 * What it holds (messages, bytes) is added from each reading's STREAM.INFO (storedOf).
 */
export function streamLimitOf(info: unknown): StreamLimit | undefined {
  const config: unknown =
    typeof info === 'object' && info !== null ? (info as { config?: unknown }).config : undefined;
  if (typeof config !== 'object' || config === null) return undefined;
  const c = config as Record<string, unknown>;
  const positive = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
  if (!positive(c.max_msgs) && !positive(c.max_bytes)) return undefined;
  return {
    discard: c.discard === 'new' ? 'new' : 'old',
    ...(positive(c.max_msgs) ? { maxMsgs: c.max_msgs } : {}),
    ...(positive(c.max_bytes) ? { maxBytes: c.max_bytes } : {}),
  };
}

/** What a stream holds (state.messages and state.bytes) from a STREAM.INFO reply; each absent when unusable. */
export function storedOf(info: unknown): Pick<StreamLimit, 'messages' | 'bytes'> {
  const state: unknown =
    typeof info === 'object' && info !== null ? (info as { state?: unknown }).state : undefined;
  const st = typeof state === 'object' && state !== null ? (state as Record<string, unknown>) : {};
  const whole = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  return {
    ...(whole(st.messages) ? { messages: st.messages } : {}),
    ...(whole(st.bytes) ? { bytes: st.bytes } : {}),
  };
}

/**
 * The state rates.ts bounds such a stream's limit removals by, from a STREAM.INFO reply (its
 * counters, and its oldest message's age on the server's own clock: `ts` less `first_ts`; its first
 * sequence where an acknowledgement removes the message: a WorkQueue stream, or an Interest stream
 * with one consumer), or a sentence saying why it is unusable.
 */
export function limitedStreamStateOf(info: unknown): LimitedStreamState | string {
  const i = typeof info === 'object' && info !== null ? (info as Record<string, unknown>) : {};
  const st = typeof i.state === 'object' && i.state !== null ? (i.state as Record<string, unknown>) : {};
  const whole = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  const problems = (['messages', 'bytes', 'last_seq'] as const)
    .filter((f) => !whole(st[f]))
    .map((f) => `state.${f} is ${JSON.stringify(st[f]) ?? 'missing'}, not a whole number ≥ 0`);
  if (problems.length > 0) return problems.join('; ');
  const messages = st.messages as number;
  let oldestAgeSeconds = 0;
  if (messages > 0) {
    const now = typeof i.ts === 'string' ? Date.parse(i.ts) : NaN;
    const first = typeof st.first_ts === 'string' ? Date.parse(st.first_ts) : NaN;
    if (!Number.isFinite(now) || !Number.isFinite(first))
      return `ts ${JSON.stringify(i.ts)} or state.first_ts ${JSON.stringify(st.first_ts)} is not a time (nats-server ≥ 2.10 sends both)`;
    oldestAgeSeconds = Math.max(0, (now - first) / 1000);
  }
  // first_seq where an acknowledgement by this consumer removes the message: then a gap between
  // first_seq and last_seq is a message acknowledged before the limits removed it (limits remove
  // from the front): scaling/beyond-max-age.ts. Not on an Interest stream other consumers hold.
  const config =
    typeof i.config === 'object' && i.config !== null ? (i.config as Record<string, unknown>) : {};
  const ackRemoves =
    config.retention === 'workqueue' ||
    (config.retention === 'interest' && whole(st.consumer_count) && st.consumer_count <= 1);
  const firstSeq = ackRemoves && whole(st.first_seq) ? { firstSeq: st.first_seq } : {};
  return {
    messages,
    bytes: st.bytes as number,
    lastSeq: st.last_seq as number,
    oldestAgeSeconds,
    ...firstSeq,
  };
}

/**
 * Messages a mirror or sourced stream stored between the consumer's snapshot and the stream's, read
 * just after it: copied from the lag the stream's info shows, after num_pending was read, they count
 * in neither (a mirror catching up on 20,000 read 0 + 12,103 once, at first contact on a loaded
 * machine). The consumer's snapshot had the stream's last sequence at delivered.stream_seq +
 * num_pending wherever num_pending is every message stored after the delivered one: a consumer of
 * every subject (not `filtered`), a deliver policy other than last_per_subject (one message a
 * subject), and a stream that removed none of them (its first sequence at or below the one after
 * the delivered one, nothing deleted inside: num_deleted 0). 0 otherwise, or when the stream's
 * counters are not known.
 */
export function copiedSinceConsumerRead(
  info: ConsumerInfo,
  filtered: boolean,
  counts: StreamCounts | undefined,
): number {
  if (filtered || counts === undefined || String(info.config.deliver_policy) === 'last_per_subject') return 0;
  const delivered = info.delivered.stream_seq;
  if (counts.numDeleted !== 0 || counts.firstSeq > delivered + 1) return 0;
  return Math.max(0, counts.lastSeq - (delivered + info.num_pending));
}

/** A stream's state counters, from one STREAM.INFO reply (BacklogSample.stream). */
export interface StreamCounts {
  firstSeq: number;
  lastSeq: number;
  messages: number;
  /** state.num_deleted: sequences between first_seq and last_seq no longer in the stream. */
  numDeleted: number;
}

/**
 * The stream's counters from a STREAM.INFO reply, or a sentence saying why it is unusable.
 * nats-server leaves num_deleted out when it is 0 (StreamState, `omitempty`).
 */
export function streamCountsOf(info: unknown): StreamCounts | string {
  const state: unknown =
    typeof info === 'object' && info !== null ? (info as { state?: unknown }).state : undefined;
  const st = typeof state === 'object' && state !== null ? (state as Record<string, unknown>) : {};
  const fields = [
    ['first_seq', st.first_seq],
    ['last_seq', st.last_seq],
    ['messages', st.messages],
    ['num_deleted', st.num_deleted ?? 0],
  ] as const;
  const problems = fields
    .filter(([, v]) => typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    .map(([name, v]) => `state.${name} is ${JSON.stringify(v) ?? 'missing'}, not a whole number ≥ 0`);
  if (problems.length > 0) return problems.join('; ');
  const [firstSeq, lastSeq, messages, numDeleted] = fields.map(([, v]) => v as number) as [
    number,
    number,
    number,
    number,
  ];
  return { firstSeq, lastSeq, messages, numDeleted };
}

/** The stream's first sequence from a STREAM.INFO reply, or a sentence saying why it is unusable. */
export function streamFirstSeqOf(info: unknown): number | string {
  const state: unknown =
    typeof info === 'object' && info !== null ? (info as { state?: unknown }).state : undefined;
  const first: unknown =
    typeof state === 'object' && state !== null ? (state as { first_seq?: unknown }).first_seq : undefined;
  if (typeof first !== 'number' || !Number.isSafeInteger(first) || first < 0)
    return `state.first_seq is ${JSON.stringify(first) ?? 'missing'}, not a whole number ≥ 0`;
  return first;
}

/**
 * What the operator keeps of a stream's config: its subjects, whether it removes held messages from
 * its front, and whether from inside it.
 */
interface StreamFacts {
  subjects: StreamSubjects | undefined;
  removesHeld: boolean;
  removesInside: false | 'limits' | 'requests';
  /** A mirror or a sourced stream: its lag is read with every reading (upstreamOf). */
  upstream: boolean;
  /** A WorkQueue or Interest stream's limits that remove messages (removingLimitsOf). */
  removingLimits: RemovingLimits | undefined;
  /** The stream's max_msgs / max_bytes and discard policy (streamLimitOf; what it holds is read with each reading: storedOf). */
  limit: StreamLimit | undefined;
  /** Why the stream's count on a filter does not grow by what arrives for it (filterCountUnusable), or undefined. */
  filterCountUnusable: string | undefined;
  /** state.num_subjects when the config was read: whether a wildcard filter is counted (filter-count.ts). */
  numSubjects: number | undefined;
}

/**
 * A stream's config changes rarely (a user editing it in place, or recreating it), so it is kept per
 * connection and stream and asked for again (one STREAM.INFO) when
 * - the server said the stream was edited since it was read (stream-updates.ts: its advisory), or
 *   the connection was interrupted since (edits meanwhile were not seen); else after
 *   STREAM_CONFIG_TTL_MS all the same;
 * - edits are not seen on the connection (a user not allowed the advisory subscription, a stream
 *   read through a JetStream domain or API prefix): after STREAM_CONFIG_UNWATCHED_TTL_MS;
 * - the read failed or was unusable (a user allowed CONSUMER.INFO only, a timeout): after
 *   STREAM_CONFIG_RETRY_MS, the consumer counted as filtered meanwhile — the cautious side
 *   (rates.ts learns less from it, never more);
 * - the consumer was recreated (consumerRecreated: its stream may be new).
 * A STREAM.INFO read for the stream's state refreshes it too (freshStreamState).
 */
export const STREAM_CONFIG_TTL_MS = 5 * 60_000;
export const STREAM_CONFIG_UNWATCHED_TTL_MS = 30_000;
export const STREAM_CONFIG_RETRY_MS = 60_000;

/** A kept stream config: read at `at` (the reading's clock), with the stream's edit mark then. */
interface KeptStreamFacts {
  at: number;
  facts: StreamFacts | undefined;
  mark: UpdateMark;
  reading?: Promise<StreamFacts | undefined>;
}

const streamFactsCache = new WeakMap<NatsConnection, Map<string, KeptStreamFacts>>();

/**
 * Whether a kept stream config may still be used at `now`: `unchanged` says whether the stream's
 * edits were seen throughout since it was read, and there were none (StreamUpdates.unchangedSince).
 */
export function keptConfigCurrent(
  kept: { at: number; usable: boolean; watched: boolean },
  now: number,
  unchanged: boolean,
): boolean {
  const age = now - kept.at;
  if (!kept.usable) return age < STREAM_CONFIG_RETRY_MS;
  if (!kept.watched) return age < STREAM_CONFIG_UNWATCHED_TTL_MS;
  return unchanged && age < STREAM_CONFIG_TTL_MS;
}

/** The watch of stream edits on a connection, for a consumer read without a domain or API prefix. */
const streamUpdates = new WeakMap<NatsConnection, StreamUpdates>();

function streamUpdatesFor(nc: NatsConnection, ref: ConsumerRef): StreamUpdates | undefined {
  // Through a JetStream domain or an API prefix the stream may be another account's or domain's,
  // whose advisories do not reach this connection.
  if (ref.domain !== undefined || ref.apiPrefix !== undefined) return undefined;
  let updates = streamUpdates.get(nc);
  if (updates === undefined) {
    updates = new StreamUpdates(
      nc,
      (stream) => streamFactsCache.get(nc)?.has(streamKey({ stream })) === true,
    );
    streamUpdates.set(nc, updates);
  }
  return updates;
}

/** How many times stream edits were subscribed to on a connection (tests). */
export function streamEditSubscriptions(nc: NatsConnection): number {
  return streamUpdates.get(nc)?.subscriptions ?? 0;
}

/** A stream's key in what is kept of its config and state requests on a connection. */
function streamKey(ref: Pick<ConsumerRef, 'stream' | 'domain' | 'apiPrefix'>): string {
  return `${ref.domain ?? ''}|${ref.apiPrefix ?? ''}|${ref.stream}`;
}

const UNWATCHED: UpdateMark = { epoch: 0, edits: 0 };

function factsOf(info: unknown): StreamFacts {
  const read = streamSubjectsOf(info);
  const config: unknown =
    typeof info === 'object' && info !== null ? (info as { config?: unknown }).config : undefined;
  const c = typeof config === 'object' && config !== null ? (config as Record<string, unknown>) : {};
  return {
    subjects: typeof read === 'string' ? undefined : read,
    removesHeld: removesHeldMessages(info),
    removesInside: removesInside(info),
    upstream:
      (c.mirror !== undefined && c.mirror !== null) || (Array.isArray(c.sources) && c.sources.length > 0),
    removingLimits: removingLimitsOf(info),
    limit: streamLimitOf(info),
    filterCountUnusable: filterCountUnusable(info),
    numSubjects: numSubjectsOf(info),
  };
}

/** state.num_subjects of a STREAM.INFO reply (nats-server 2.7+), or undefined when not a whole number. */
function numSubjectsOf(info: unknown): number | undefined {
  const state: unknown =
    typeof info === 'object' && info !== null ? (info as { state?: unknown }).state : undefined;
  const n: unknown =
    typeof state === 'object' && state !== null
      ? (state as { num_subjects?: unknown }).num_subjects
      : undefined;
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** Connection and stream whose STREAM.INFO was refused and said so (once each: streamFacts). */
const unseenStreams = new WeakMap<NatsConnection, Set<string>>();

/**
 * What a user who may not read STREAM.INFO (the documented least-privilege user) gets: polls that
 * read and scale from the consumer's numbers, and this, said once per connection and stream.
 */
export function streamInfoDeniedMessage(ref: ConsumerRef, server: string, text: string): string {
  return `not allowed to read the info of stream "${ref.stream}" at ${server} (${text}): the backlog is read from the consumer alone, but the operator cannot see whether the stream removes messages a replica holds (per-subject limits, rollups, deletes, purges), so on such a stream the per-replica capacity it learns may read high; a filtered consumer learns capacity from fewer intervals; and on a mirror or sourced stream what is not copied yet from the origin is not counted. Grant the user publish on $JS.API.STREAM.INFO.${ref.stream} to let it see`;
}

/**
 * What a user who may not subscribe to the stream edit advisories gets: stream configs read again
 * after STREAM_CONFIG_UNWATCHED_TTL_MS instead of at the next reading after an edit; said once per
 * connection.
 */
export function streamEditsUnseenMessage(server: string, problem: string): string {
  return `stream edits are not seen at once at ${server}: ${problem}; a stream edited in place (sources or a mirror added, limits, subjects) is read again within ${STREAM_CONFIG_UNWATCHED_TTL_MS / 1000}s, and until then what its new sources have not copied yet is not counted and its new limits are not applied to the capacity learnt. Allow the user to subscribe to ${STREAM_UPDATED_SUBJECT}.* to see an edit at the next reading`;
}

function isPermissionDenied(err: unknown): err is Error {
  return (
    err instanceof Error &&
    (err.name === 'PermissionViolationError' || /permissions? violation/i.test(err.message))
  );
}

/**
 * Each consumer's creation time (CONSUMER.INFO `created`) at its last reading, by connection. A
 * stream deleted and recreated under the same name takes its consumers with it, so a consumer read
 * with another creation time may sit on another stream: streams are recreated to change what cannot
 * be edited (retention, a mirror), and the config read of the old one must not be used for it.
 */
const consumersCreated = new WeakMap<NatsConnection, Map<string, string>>();

/** Whether the consumer was created anew since its last reading on `nc` (and notes this reading's). */
function consumerRecreated(nc: NatsConnection, ref: ConsumerRef, created: unknown): boolean {
  // A server that does not say (the field is not checked by consumerInfoProblems): not known.
  if (typeof created !== 'string' || created === '') return false;
  let byConsumer = consumersCreated.get(nc);
  if (!byConsumer) {
    byConsumer = new Map();
    consumersCreated.set(nc, byConsumer);
  }
  const key = consumerKey(ref);
  const before = byConsumer.get(key);
  byConsumer.set(key, created);
  return before !== undefined && before !== created;
}

/**
 * The stream's config facts, from the cache or one STREAM.INFO request; undefined when not known.
 * Read again when the stream was edited since (stream-updates.ts), or the consumer recreated
 * (consumerRecreated: the stream may be new), or when kept too long (keptConfigCurrent).
 */
async function streamFacts(
  nc: NatsConnection,
  jsm: JetStreamManager,
  ref: ConsumerRef,
  now: number,
  consumerCreated: unknown,
  tell: {
    onDenied?: ((message: string) => void) | undefined;
    onEditsUnseen?: ((message: string) => void) | undefined;
  },
): Promise<StreamFacts | undefined> {
  let byStream = streamFactsCache.get(nc);
  if (!byStream) {
    byStream = new Map();
    streamFactsCache.set(nc, byStream);
  }
  const key = streamKey(ref);
  const updates = streamUpdatesFor(nc, ref);
  const recreated = consumerRecreated(nc, ref, consumerCreated);
  const cached = recreated ? undefined : byStream.get(key);
  if (cached !== undefined) {
    if (cached.reading !== undefined) return cached.reading;
    const current = keptConfigCurrent(
      { at: cached.at, usable: cached.facts?.subjects !== undefined, watched: cached.mark.epoch !== 0 },
      now,
      updates?.unchangedSince(ref.stream, cached.mark) === true,
    );
    if (current) return cached.facts;
  }
  // The first read on a connection waits for the watch of edits (one round trip), so that what it
  // reads is watched from the start.
  await updates?.ready;
  const unseen = updates?.tellUnseenOnce();
  if (unseen !== undefined)
    tell.onEditsUnseen?.(streamEditsUnseenMessage(nc.info?.server_name ?? nc.getServer(), unseen));
  const entry: KeptStreamFacts = {
    at: now,
    facts: cached?.facts,
    mark: updates?.mark(ref.stream) ?? UNWATCHED,
  };
  entry.reading = jsm.streams.info(ref.stream).then(factsOf, (err: unknown) => {
    // A reply not parsed fails the reading (and is asked for again at the next one).
    if (isApiReplyRefused(err)) throw err;
    if (isPermissionDenied(err)) {
      let said = unseenStreams.get(nc);
      if (!said) {
        said = new Set();
        unseenStreams.set(nc, said);
      }
      if (!said.has(key)) {
        said.add(key);
        tell.onDenied?.(streamInfoDeniedMessage(ref, nc.info?.server_name ?? nc.getServer(), err.message));
      }
    }
    return undefined;
  });
  byStream.set(key, entry);
  let facts: StreamFacts | undefined;
  try {
    facts = await entry.reading;
  } catch (err) {
    if (byStream.get(key) === entry) byStream.delete(key);
    throw err;
  }
  byStream.set(key, { at: now, facts, mark: entry.mark });
  return facts;
}

/**
 * STREAM.INFO requests waiting to be sent, by connection and stream: readings of consumers of the
 * same stream that need the stream's state in the same turn of the event loop share one request,
 * sent after every one of their CONSUMER.INFO replies arrived (what each needs: removals up to its
 * consumer's snapshot all seen).
 */
const nextStreamInfo = new WeakMap<
  NatsConnection,
  Map<string, Promise<{ info: unknown; mark: UpdateMark }>>
>();

function sharedStreamInfo(
  nc: NatsConnection,
  jsm: JetStreamManager,
  ref: ConsumerRef,
): Promise<{ info: unknown; mark: UpdateMark }> {
  let byStream = nextStreamInfo.get(nc);
  if (!byStream) {
    byStream = new Map();
    nextStreamInfo.set(nc, byStream);
  }
  const key = streamKey(ref);
  const queued = byStream.get(key);
  if (queued !== undefined) return queued;
  const map = byStream;
  const request = new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
    map.delete(key);
    // The stream's edit mark as the request goes: an edit seen after it makes its config read again.
    const mark = streamUpdatesFor(nc, ref)?.mark(ref.stream) ?? UNWATCHED;
    return { info: await jsm.streams.info(ref.stream), mark };
  });
  byStream.set(key, request);
  return request;
}

/**
 * The stream's state, read after the consumer's info (so it is no earlier than the consumer's
 * snapshot: removals up to then are all seen), when its config lets it remove messages a consumer
 * holds; the cached config is refreshed from the same reply. A failed or unusable reply leaves it
 * unknown, and rates.ts then takes no capacity from the interval.
 */
async function freshStreamState(
  nc: NatsConnection,
  jsm: JetStreamManager,
  ref: ConsumerRef,
  now: number,
): Promise<StreamState> {
  try {
    const { info, mark } = await sharedStreamInfo(nc, jsm, ref);
    streamFactsCache.get(nc)?.set(streamKey(ref), { at: now, facts: factsOf(info), mark });
    const first = streamFirstSeqOf(info);
    const counts = streamCountsOf(info);
    const limited = limitedStreamStateOf(info);
    return {
      firstSeq: typeof first === 'number' ? first : undefined,
      counts: typeof counts === 'string' ? undefined : counts,
      upstream: upstreamOf(info),
      limited: typeof limited === 'string' ? undefined : limited,
      stored: storedOf(info),
    };
  } catch (err) {
    if (isApiReplyRefused(err)) throw err;
    return {
      firstSeq: undefined,
      counts: undefined,
      limited: undefined,
      stored: {},
      upstream: {
        unknown: `the info of stream "${ref.stream}" could not be read (${err instanceof Error ? err.message : String(err)}), so what its mirror or sources have not copied yet is not known`,
      },
    };
  }
}

/**
 * The stream state attached to one reading: its first sequence and counters (undefined: unknown),
 * and what a mirror or sourced stream has not copied yet (undefined: neither).
 */
interface StreamState {
  firstSeq: number | undefined;
  counts: StreamCounts | undefined;
  upstream: UpstreamLag | undefined;
  /** The state a WorkQueue or Interest stream's limit removals are bounded by (undefined: unknown). */
  limited: LimitedStreamState | undefined;
  /** What the stream holds (each absent: unknown). */
  stored: Pick<StreamLimit, 'messages' | 'bytes'>;
}

/** No limit of the stream removes messages, only a user's request (a delete, a purge) does. */
function removedOnlyOnRequest(facts: StreamFacts): boolean {
  return !facts.removesHeld && facts.removesInside === 'requests';
}

/**
 * How long a stream's state may be taken over from an earlier reading of the same consumer
 * (streamStateFor) before it is read again all the same.
 */
export const STREAM_STATE_REUSE_MS = 60_000;

/**
 * The consumer's counters that move when a message it holds leaves it — acknowledged, or removed by
 * the stream (nats-server takes a deleted or purged held message out of the consumer's pending set
 * like an ack: consumer.go decStreamPending, purge) — or when it delivers one; and its creation
 * time (a recreated consumer). num_pending and num_waiting are left out: arrivals and removals of
 * messages not yet delivered move them, and neither is a completion.
 */
export function heldCountersOf(info: ConsumerInfo): string {
  return JSON.stringify([
    info.created,
    info.delivered.consumer_seq,
    info.delivered.stream_seq,
    info.ack_floor.consumer_seq,
    info.ack_floor.stream_seq,
    info.num_ack_pending,
    info.num_redelivered,
  ]);
}

/**
 * The last stream state read for each consumer, by connection: when it was read, and the consumer's
 * held counters (heldCountersOf) at that reading.
 */
const lastStreamStates = new WeakMap<
  NatsConnection,
  Map<string, { at: number; heldCounters: string; state: StreamState }>
>();

/**
 * The stream's state for this reading. On a stream where only a user's request (a delete, a purge)
 * removes messages (the default config), a removal of a message the consumer holds moves the
 * consumer's held counters; while they have not moved since the last reading that read the state,
 * no held message was removed in between (removals of messages not yet delivered are no completions,
 * and what the stream stored meanwhile shows at the next read: its counters only grow), so that
 * state is taken over instead of asking STREAM.INFO again — an idle consumer, or one whose replicas
 * are all stalled, costs one request a poll instead of two. At most for STREAM_STATE_REUSE_MS. On a
 * stream whose limits remove messages (max_age, max_msgs, max_msgs_per_subject, per-message TTLs…) the state is read
 * at every reading: it moves without the consumer.
 */
async function streamStateFor(
  nc: NatsConnection,
  jsm: JetStreamManager,
  ref: ConsumerRef,
  info: ConsumerInfo,
  facts: StreamFacts,
  now: number,
): Promise<StreamState> {
  let byConsumer = lastStreamStates.get(nc);
  if (!byConsumer) {
    byConsumer = new Map();
    lastStreamStates.set(nc, byConsumer);
  }
  const key = consumerKey(ref);
  const heldCounters = heldCountersOf(info);
  const last = byConsumer.get(key);
  if (
    removedOnlyOnRequest(facts) &&
    !facts.upstream &&
    // What a bounded stream holds moves with arrivals alone: read at every reading.
    facts.limit === undefined &&
    last !== undefined &&
    last.heldCounters === heldCounters &&
    now - last.at < STREAM_STATE_REUSE_MS &&
    last.state.firstSeq !== undefined &&
    last.state.counts !== undefined
  )
    return last.state;
  const state = await freshStreamState(nc, jsm, ref, now);
  byConsumer.set(key, { at: now, heldCounters, state });
  return state;
}

/**
 * A reading from a CONSUMER.INFO reply that consumerInfoProblems found usable. `stream` is what
 * the stream's config says about its subjects (undefined when not known): a consumer whose
 * filters cover the whole stream counts as unfiltered (filter-coverage.ts).
 */
export function sampleFromConsumerInfo(
  info: ConsumerInfo,
  at: number,
  stream?: StreamSubjects,
  removals?: {
    streamFirstSeq: number | undefined;
    inside?: { by: 'limits' | 'requests'; counts: StreamCounts | undefined };
    /** The stream's counters, read with this reading (never taken over): a stream removing from its front. */
    counts?: StreamCounts;
    /** Only a user's request removes messages from the stream (removedOnlyOnRequest). */
    onlyOnRequest?: boolean;
  },
  upstream?: UpstreamLag,
): BacklogSample {
  const filters = filtersOf(info);
  const filtered = filters.length > 0 && (stream === undefined || !filterCoversStream(filters, stream));
  return {
    at,
    pending: info.num_pending,
    ackPending: info.num_ack_pending,
    redelivered: info.num_redelivered,
    waiting: info.num_waiting,
    deliveredConsumerSeq: info.delivered.consumer_seq,
    deliveredStreamSeq: info.delivered.stream_seq,
    ackFloorConsumerSeq: info.ack_floor.consumer_seq,
    ackFloorStreamSeq: info.ack_floor.stream_seq,
    maxAckPending: maxAckPendingOf(info),
    ...(typeof info.config.max_deliver === 'number' && info.config.max_deliver > 0
      ? { maxDeliver: info.config.max_deliver }
      : {}),
    ...maxWaitingOf(info),
    ...(removals !== undefined ? { removesHeld: true } : {}),
    ...(removals?.streamFirstSeq !== undefined ? { streamFirstSeq: removals.streamFirstSeq } : {}),
    ...(removals?.inside !== undefined ? { removesInside: removals.inside.by } : {}),
    ...(removals?.inside?.counts !== undefined
      ? { stream: removals.inside.counts }
      : removals?.counts !== undefined
        ? { stream: removals.counts }
        : {}),
    ...(removals?.onlyOnRequest === true ? { removedOnlyOnRequest: true as const } : {}),
    filtered,
    ...(upstream !== undefined ? { upstream: upstreamFor(upstream, filtered, filters) } : {}),
    ...(typeof info.created === 'string' && info.created !== '' ? { consumerCreated: info.created } : {}),
    consumerFilter: [...filters].sort().join(' '),
    ...(pushConsumer(info) ? { push: true as const } : {}),
    ...(pushWithoutGroup(info) ? { pushWithoutGroup: true } : {}),
    ...(pinsOneClient(info) ? { pinnedClient: true } : {}),
    ...(String(info.config.ack_policy) === 'none' ? { ackNone: true } : {}),
    ...pauseOf(info),
  };
}

/**
 * What a stream's lag is to one consumer: all of it when the consumer reads every subject, and
 * unknown when it has a filter and something lags — the origin's messages not copied yet may or may
 * not match it (a subject transform can rename them on the way), so the lag bounds its part only
 * from above.
 */
function upstreamFor(upstream: UpstreamLag, filtered: boolean, filters: string[]): UpstreamLag {
  if (!filtered || !('lag' in upstream) || upstream.lag === 0) return upstream;
  return {
    unknown: `up to ${upstream.lag} messages the ${upstream.from} has not copied yet may match the consumer's filter (${filters.join(', ')}), or none: not known how many`,
  };
}

/**
 * A consumer paused on the server (nats-server 2.11+, `pause_until` in its config): until the
 * deadline the server delivers nothing to anyone (server/consumer.go, loopAndGatherMsgs: "If the
 * consumer is paused then stop sending"), so no replica can drain its backlog. `paused` is what the
 * server says now (it compares pause_until with its own clock); pause_remaining is in nanoseconds.
 */
function pauseOf(info: ConsumerInfo): Pick<BacklogSample, 'paused' | 'pauseRemainingSeconds'> {
  if ((info as { paused?: unknown }).paused !== true) return {};
  const remaining: unknown = (info as { pause_remaining?: unknown }).pause_remaining;
  return {
    paused: true,
    ...(typeof remaining === 'number' && remaining > 0 ? { pauseRemainingSeconds: remaining / 1e9 } : {}),
  };
}

/**
 * A pull consumer whose priority groups pin one client (nats-server 2.11+, config.priority_policy
 * pinned_client): the server delivers only to the pinned client and holds every other client's
 * pull requests until the pin is dropped (ADR-42, Pull Consumer Priority Groups: the others are a
 * warm standby). Servers before 2.11 send no priority_policy.
 */
function pinsOneClient(info: ConsumerInfo): boolean {
  const policy: unknown = (info.config as { priority_policy?: unknown } | undefined)?.priority_policy;
  return policy === 'pinned_client';
}

/**
 * A pull consumer's max_waiting (the pull requests the server lets wait; nats-server's default is
 * 512): none for a push consumer (deliver_subject set: no pull requests), nor when absent or not a
 * whole number above 0 (it only words a decision's reason: a bad one is left out, not an error).
 */
function maxWaitingOf(info: ConsumerInfo): { maxWaiting?: number } {
  const subject: unknown = info.config?.deliver_subject;
  if (typeof subject === 'string' && subject !== '') return {};
  const max: unknown = (info.config as { max_waiting?: unknown } | undefined)?.max_waiting;
  return typeof max === 'number' && Number.isSafeInteger(max) && max > 0 ? { maxWaiting: max } : {};
}

/** A push consumer: deliver_subject set (the server sends to its subscribers; no pull requests). */
function pushConsumer(info: ConsumerInfo): boolean {
  const subject: unknown = info.config?.deliver_subject;
  return typeof subject === 'string' && subject !== '';
}

/** A push consumer (deliver_subject set) whose subscribers do not share its messages (no deliver_group). */
function pushWithoutGroup(info: ConsumerInfo): boolean {
  const group: unknown = info.config?.deliver_group;
  return pushConsumer(info) && !(typeof group === 'string' && group !== '');
}

/**
 * The limit on messages awaiting ack, -1 when none applies: max_ack_pending absent, or an
 * ack_policy none consumer — the server accepts and reports max_ack_pending there, but nothing
 * ever awaits ack, so it never holds a delivery back (and must not cap replicas).
 */
function maxAckPendingOf(info: ConsumerInfo): number {
  if (String(info.config.ack_policy) === 'none') return -1;
  return info.config.max_ack_pending ?? -1;
}

/**
 * Waits before asking again when JetStream answers "temporarily unavailable" (err_code 10008,
 * JSClusterNotAvailErr: no meta, stream or consumer leader right now). The answer itself comes at
 * once, so these bound what a read adds: 3 s, within a default 5 s poll. Past them the read fails
 * (and counts toward fallback, as a lost quorum or a partition lasts).
 */
const ELECTION_RETRY_MS = [500, 1000, 1500];
const CLUSTER_NOT_AVAILABLE = 10008;

function isClusterNotAvailable(err: unknown): boolean {
  return err instanceof Error && (err as Error & { code?: unknown }).code === CLUSTER_NOT_AVAILABLE;
}

/**
 * Whether a CONSUMER.INFO reply came from the consumer's leader, the only server that counts its
 * backlog. A standalone server sends no `cluster`; a clustered consumer's reply names its leader in
 * cluster.leader, which is empty while it has none — then a server answers from its replica's state,
 * where num_pending is 0 whatever the stream holds (measured after every node of a 3-node cluster
 * restarted: num_pending 0, and no leader, for 3 s; 400 once n1 was elected). Taken as a reading,
 * that empty backlog scaled a Deployment of 8 to 2 (nats-elections.int).
 */
export function answeredByLeader(info: ConsumerInfo): boolean {
  const cluster: unknown = info.cluster;
  if (typeof cluster !== 'object' || cluster === null) return true;
  const leader: unknown = (cluster as { leader?: unknown }).leader;
  return typeof leader === 'string' && leader !== '';
}

function leaderlessMessage(ref: ConsumerRef, server: string): string {
  return `JetStream at ${server} has no leader for consumer "${ref.consumer}" on stream "${ref.stream}" right now (a replica answered, and only the leader counts the backlog): a node restarting or an election takes seconds; longer, the cluster has lost its quorum`;
}

/** The JetStream API prefix a consumer is read through. */
function apiPrefixOf(ref: ConsumerRef): string {
  return ref.apiPrefix ?? (ref.domain !== undefined ? `$JS.${ref.domain}.API` : '$JS.API');
}

/**
 * A filtered consumer's stream count on its filters (filter-count.ts), read just after the consumer
 * info, or why it is not read.
 */
async function filterStoredFor(
  nc: NatsConnection,
  ref: ConsumerRef,
  filters: string[],
  facts: StreamFacts,
  timeoutMs: number,
): Promise<NonNullable<BacklogSample['filterStored']>> {
  if (facts.filterCountUnusable !== undefined)
    return { unknown: `${facts.filterCountUnusable}, so its count on the filter is not what arrived` };
  const counted = countedFilters(filters, facts.numSubjects);
  if (typeof counted === 'string') return { unknown: counted };
  return readFilterStored(nc, apiPrefixOf(ref), ref.stream, counted, timeoutMs);
}

/** A reply the operator refused to parse (api-replies.ts): the server is at fault, not the spec. */
function replyRefusedError(err: ApiReplyRefused, ref: ConsumerRef, server: string): BacklogError {
  const prefix = apiPrefixOf(ref);
  const subject = `${prefix}.${err.kind}.${ref.stream}${err.kind === 'CONSUMER.INFO' ? `.${ref.consumer}` : ''}`;
  return new BacklogError(
    'Invalid',
    `the ${err.kind} reply read for consumer "${ref.consumer}" on stream "${ref.stream}" from ${server} ${err.message}; check what this server answers at ${subject}`,
    { stream: ref.stream, consumer: ref.consumer, server },
  );
}

/** JetStream's err_code for "JetStream not enabled for account" (nats-server's JSNotEnabledForAccountErr). */
const JETSTREAM_NOT_ENABLED_FOR_ACCOUNT = 10039;

/** Classifies a failed CONSUMER.INFO request. */
export function consumerInfoError(err: unknown, ref: ConsumerRef, server: string): BacklogError {
  const where = { stream: ref.stream, consumer: ref.consumer, server };
  const name = err instanceof Error ? err.name : '';
  const text = err instanceof Error ? err.message : String(err);
  // nats.js's JetStreamApiError: `code` is JetStream's err_code (10008…), `status` the HTTP-like
  // code (400, 503…).
  const code = err instanceof Error ? (err as Error & { code?: unknown }).code : undefined;
  const status = err instanceof Error ? (err as Error & { status?: unknown }).status : undefined;
  if (name === 'StreamNotFoundError' || /stream not found/i.test(text)) {
    return new BacklogError(
      'StreamNotFound',
      `stream "${ref.stream}" does not exist on ${server}: create it or fix spec.nats.stream`,
      where,
    );
  }
  if (name === 'ConsumerNotFoundError' || /consumer not found/i.test(text)) {
    return new BacklogError(
      'ConsumerNotFound',
      `consumer "${ref.consumer}" does not exist on stream "${ref.stream}" at ${server}: create the durable consumer or fix spec.nats.consumer`,
      where,
    );
  }
  if (
    name === 'PermissionViolationError' ||
    name === 'AuthorizationError' ||
    /permission|authoriz/i.test(text)
  ) {
    // The reply comes to the connection's inbox: a user that may ask but not subscribe there never
    // hears the answer (the server says "Subscription to").
    const grant = /subscription/i.test(text)
      ? 'allow the user to subscribe to _INBOX.> (where the replies come)'
      : `grant the user publish on $JS.API.CONSUMER.INFO.${ref.stream}.${ref.consumer}`;
    return new BacklogError(
      'Unauthorized',
      `not allowed to read consumer "${ref.consumer}" on stream "${ref.stream}" at ${server} (${text}): ${grant}`,
      where,
    );
  }
  // The account of the user the operator connects as has no JetStream (streams are per account: a
  // user of another account, or an account whose JetStream limits were never set). nats.js names
  // this error as it names "no responders" (JetStreamNotEnabled); the server's err_code tells them apart.
  const cause = err instanceof Error ? (err.cause as { code?: unknown } | undefined) : undefined;
  if (cause?.code === JETSTREAM_NOT_ENABLED_FOR_ACCOUNT || /not enabled for account/i.test(text)) {
    return new BacklogError(
      'JetStreamDisabled',
      `JetStream is not enabled for the account of the NATS user reading consumer "${ref.consumer}" on stream "${ref.stream}" at ${server}: enable JetStream for that account, or give spec.nats.auth a user of the stream's account`,
      where,
    );
  }
  if (code === CLUSTER_NOT_AVAILABLE) {
    return new BacklogError(
      'Unreachable',
      `JetStream at ${server} has no leader for consumer "${ref.consumer}" on stream "${ref.stream}" right now (${text}): a node restarting or an election takes seconds; longer, the cluster has lost its quorum`,
      where,
    );
  }
  if (name === 'NoRespondersError' || name === 'JetStreamNotEnabled' || /no responders/i.test(text)) {
    return new BacklogError(
      'Unreachable',
      `no JetStream API answered at ${server} for stream "${ref.stream}": is JetStream enabled, and are spec.nats.domain / apiPrefix right?`,
      where,
    );
  }
  if (name === 'JetStreamApiError' && typeof status === 'number' && status >= 400 && status < 500) {
    return new BacklogError(
      'Invalid',
      `JetStream rejected the request for consumer "${ref.consumer}" on stream "${ref.stream}" at ${server}: ${text}`,
      where,
    );
  }
  // nats.js JSON.parses the reply: a server (or a proxy) that answers with something else did
  // answer, so "no answer" would send the user looking for an outage.
  if (name === 'SyntaxError') {
    return new BacklogError(
      'Unreachable',
      `NATS at ${server} answered the request for consumer "${ref.consumer}" on stream "${ref.stream}" with a reply that is not JSON (${text}): no JetStream API answers so; check that spec.nats.servers names a NATS server, and that nothing in between alters its replies`,
      where,
    );
  }
  return new BacklogError(
    'Unreachable',
    `no answer from NATS at ${server} for consumer "${ref.consumer}" on stream "${ref.stream}" (${text})`,
    where,
  );
}

/**
 * Where a clustered consumer's replicas were at its last reading on a connection: its leader and how
 * many replicas it has (CONSUMER.INFO `cluster`: the leader, and `replicas`, the others).
 */
interface ConsumerPlacement {
  leader: string;
  replicas: number;
}

const lastPlacements = new WeakMap<NatsConnection, Map<string, ConsumerPlacement>>();

/**
 * How far the server's clock may read from the operator's before its `ts` is not used: clocks a
 * cluster keeps in sync (NTP) agree to well under a second, and one further off is not kept in
 * sync, so it may be stepped when it is. Either way: ahead is a stamp from the future; behind,
 * Go's zero time (0001-01-01) is what an unset one reads.
 */
export const MAX_SERVER_CLOCK_SKEW_SECONDS = 60;

/** Why a reading carries no server time (the `stamp` label of jetscale_nats_reading_stamps_total). */
export type ServerTimeProblem = 'absent' | 'invalid' | 'skewed' | 'unidentified';

/** An RFC 3339 time as Go's encoding/json writes a time.Time (RFC3339Nano). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

function timeOf(value: unknown): number | undefined {
  if (typeof value !== 'string' || !RFC3339.test(value)) return undefined;
  const at = Date.parse(value);
  return Number.isFinite(at) ? at : undefined;
}

/**
 * When the server took a CONSUMER.INFO reading, by its own clock (`ts`, nats-server ≥ 2.10: its wall
 * clock when it gathered the info), and which clock that is — or why not (then rates.ts times the
 * interval by the operator's clock, as before server times were read). The clock is named so that
 * two readings naming the same one were stamped by one running server:
 * - a clustered consumer is answered by its leader (`cluster.leader`), for a term that began at
 *   `cluster.leader_since` (nats-server ≥ 2.11): a new leader, or the same one again after a
 *   restart or an election, starts a new term, and may be another machine's clock;
 * - a standalone server (no `cluster`) is the one the connection is on (`serverId`, the connection's
 *   server_id, which the server draws anew at every start); through a JetStream domain another
 *   server answers, not known which.
 * A `ts` that is not an RFC 3339 time, or more than MAX_SERVER_CLOCK_SKEW_SECONDS from the operator's
 * wall clock (`wallNow`, read at the reply) either way, is not used.
 */
export function serverTimeOf(
  info: ConsumerInfo,
  answeredBy: { serverId?: string; domain?: string; wallNow: number },
): { serverTime: ServerTime } | { unusable: ServerTimeProblem; message: string } {
  const ts: unknown = (info as { ts?: unknown }).ts;
  if (ts === undefined)
    return { unusable: 'absent', message: 'the server sent no ts (nats-server < 2.10 does not)' };
  const at = timeOf(ts);
  if (at === undefined)
    return { unusable: 'invalid', message: `the server's ts ${JSON.stringify(ts)} is not an RFC 3339 time` };
  const skewSeconds = (at - answeredBy.wallNow) / 1000;
  if (Math.abs(skewSeconds) > MAX_SERVER_CLOCK_SKEW_SECONDS)
    return {
      unusable: 'skewed',
      message: `the server's clock (ts ${String(ts)}) reads ${Math.round(Math.abs(skewSeconds))} s ${skewSeconds > 0 ? 'ahead of' : 'behind'} the operator's, more than ${MAX_SERVER_CLOCK_SKEW_SECONDS} s: a clock not kept in sync (NTP) may be stepped, so its times are not used`,
    };
  const cluster: unknown = info.cluster;
  if (typeof cluster === 'object' && cluster !== null) {
    const {
      name,
      leader,
      leader_since: since,
    } = cluster as { name?: unknown; leader?: unknown; leader_since?: unknown };
    if (typeof leader !== 'string' || leader === '')
      return { unusable: 'unidentified', message: 'the consumer info names no leader' };
    if (timeOf(since) === undefined)
      return {
        unusable: 'unidentified',
        message: `the consumer info does not say since when ${leader} leads the consumer (nats-server < 2.11 does not), so a leader that restarted is not told apart`,
      };
    return {
      serverTime: {
        at,
        clock: `leader ${leader}${typeof name === 'string' && name !== '' ? ` of cluster ${name}` : ''} since ${String(since)}`,
      },
    };
  }
  if (answeredBy.domain !== undefined)
    return {
      unusable: 'unidentified',
      message: `read through JetStream domain "${answeredBy.domain}", by a server other than the one connected to`,
    };
  if (answeredBy.serverId === undefined || answeredBy.serverId === '')
    return { unusable: 'unidentified', message: 'the connection names no server id' };
  return { serverTime: { at, clock: `server ${answeredBy.serverId}` } };
}

/** The placement a CONSUMER.INFO reply says, when clustered (undefined for a standalone server). */
export function placementOf(info: ConsumerInfo): ConsumerPlacement | undefined {
  const cluster: unknown = info.cluster;
  if (typeof cluster !== 'object' || cluster === null) return undefined;
  const { leader, replicas } = cluster as { leader?: unknown; replicas?: unknown };
  if (typeof leader !== 'string' || leader === '') return undefined;
  return { leader, replicas: 1 + (Array.isArray(replicas) ? replicas.length : 0) };
}

/**
 * A read nobody answered, of a consumer whose only replica (an R1 stream in a cluster) was on
 * another server at the last reading: no election can move it, so while that server is down nothing
 * can answer for it, however long the wait. Said instead of "no answer from <the server this
 * connection is on>", which is up (measured on a 3-node cluster, the R1 host killed: every
 * CONSUMER.INFO and STREAM.INFO timed out for a minute, through a live node).
 */
export function onlyReplicaDownMessage(ref: ConsumerRef, server: string, host: string, text: string): string {
  return `no answer from NATS at ${server} for consumer "${ref.consumer}" on stream "${ref.stream}" (${text}): its only replica (R1) was on ${host} at the last reading, so while ${host} is down nothing can read the backlog (there is no other replica to elect): bring ${host} back, or give the stream replicas (num_replicas 3) so a node's loss is an election`;
}

function isTimeout(err: unknown): boolean {
  return err instanceof Error && (err.name === 'TimeoutError' || /\btimeout\b/i.test(err.message));
}

const managers = new WeakMap<NatsConnection, Map<string, Promise<JetStreamManager>>>();

/** One JetStreamManager per connection and API prefix (they are cheap but not free). */
function managerFor(nc: NatsConnection, ref: ConsumerRef, timeoutMs: number): Promise<JetStreamManager> {
  let byPrefix = managers.get(nc);
  if (!byPrefix) {
    byPrefix = new Map();
    managers.set(nc, byPrefix);
  }
  const key = `${ref.domain ?? ''}|${ref.apiPrefix ?? ''}|${timeoutMs}`;
  let jsm = byPrefix.get(key);
  if (!jsm) {
    const opts: { checkAPI: boolean; timeout: number; domain?: string; apiPrefix?: string } = {
      checkAPI: false,
      timeout: timeoutMs,
    };
    if (ref.domain !== undefined) opts.domain = ref.domain;
    if (ref.apiPrefix !== undefined) opts.apiPrefix = ref.apiPrefix;
    jsm = jetstreamManager(nc, opts).then(boundApiReplies);
    byPrefix.set(key, jsm);
  }
  return jsm;
}

/** Reads one consumer's backlog over an existing connection. */
export async function readConsumerBacklog(
  nc: NatsConnection,
  ref: ConsumerRef,
  options: {
    timeoutMs: number;
    observe?: (seconds: number, result: string) => void;
    now?: () => number;
    /** Told once per connection and stream when the user may not read STREAM.INFO (what it cannot see). */
    onStreamInfoDenied?: (message: string) => void;
    /** Told at each reading whether it carries the server's time, or why not (serverTimeOf). */
    onServerTime?: (stamp: 'server' | ServerTimeProblem, message?: string) => void;
    /** The operator's wall clock (ms since the epoch), to check the server's against. */
    wallNow?: () => number;
    /** Told once per connection when the user may not subscribe to the streams' edit advisories. */
    onStreamEditsUnseen?: (message: string) => void;
  },
): Promise<BacklogReading> {
  const now = options.now ?? monotonicNow;
  const wallNow = options.wallNow ?? Date.now;
  const server = nc.info?.server_name ?? nc.getServer();
  const started = performance.now();
  try {
    const jsm = await managerFor(nc, ref, options.timeoutMs);
    // Stamped when sent: the server's snapshot is no earlier, and a process that stalls with the
    // reply waiting would otherwise stamp it late (the matrix's capacity over-reads, rates.ts). The
    // round trip says how much later it may be (a reply held up by a leader election).
    let sentAt = now();
    let info: ConsumerInfo;
    for (let attempt = 0; ; attempt++) {
      let electing: unknown;
      try {
        info = await jsm.consumers.info(ref.stream, ref.consumer);
        if (answeredByLeader(info)) break;
        electing = new BacklogError('Unreachable', leaderlessMessage(ref, server), {
          stream: ref.stream,
          consumer: ref.consumer,
          server,
        });
      } catch (err) {
        if (!isClusterNotAvailable(err)) throw err;
        electing = err;
      }
      // JetStream answered that it is electing a leader (a node of the cluster restarting), or a
      // replica answered for a consumer that has no leader yet: asked again a moment later, a
      // routine election fails no poll (nats-rolling-restart.int, nats-elections.int).
      const delay = ELECTION_RETRY_MS[attempt];
      if (delay === undefined) throw electing;
      await new Promise((resolve) => setTimeout(resolve, delay));
      sentAt = now();
    }
    const roundTripMs = Math.max(0, now() - sentAt);
    const stamp = serverTimeOf(info, {
      ...(nc.info?.server_id !== undefined ? { serverId: nc.info.server_id } : {}),
      ...(ref.domain !== undefined ? { domain: ref.domain } : {}),
      wallNow: wallNow(),
    });
    const problems = consumerInfoProblems(info);
    if (problems.length > 0) {
      options.observe?.((performance.now() - started) / 1000, 'Invalid');
      const error = new BacklogError(
        'Invalid',
        `the consumer info of "${ref.consumer}" on stream "${ref.stream}" from ${server} is unusable (${problems.join('; ')}): is this a JetStream server jetscale supports (nats-server ≥ 2.9)?`,
        { stream: ref.stream, consumer: ref.consumer, server },
      );
      return { ok: false, error };
    }
    options.observe?.((performance.now() - started) / 1000, 'ok');
    if ('serverTime' in stamp) options.onServerTime?.('server');
    else options.onServerTime?.(stamp.unusable, stamp.message);
    // The stream's config (cached): whether the consumer's filter covers it, and whether it removes
    // messages consumers hold (from its front, or inside it) — then its state is read with the
    // reading (streamStateFor: not again while nothing the consumer holds moved, on a stream only
    // requests remove from), one STREAM.INFO shared by the consumers of the stream read together.
    const facts = await streamFacts(nc, jsm, ref, sentAt, info.created, {
      onDenied: options.onStreamInfoDenied,
      onEditsUnseen: options.onStreamEditsUnseen,
    });
    let removals: Parameters<typeof sampleFromConsumerInfo>[3];
    let upstream: UpstreamLag | undefined;
    let limitRemovals: BacklogSample['limitRemovals'];
    let streamCounts: StreamCounts | undefined;
    let streamLimit: StreamLimit | undefined;
    const removes = facts !== undefined && (facts.removesHeld || facts.removesInside !== false);
    if (
      facts !== undefined &&
      (removes || facts.upstream || facts.removingLimits !== undefined || facts.limit !== undefined)
    ) {
      const state = await streamStateFor(nc, jsm, ref, info, facts, sentAt);
      streamCounts = state.counts;
      if (facts.limit !== undefined) streamLimit = { ...facts.limit, ...state.stored };
      if (removes)
        removals = {
          streamFirstSeq: state.firstSeq,
          ...(facts.removesHeld && state.counts !== undefined ? { counts: state.counts } : {}),
          onlyOnRequest: removedOnlyOnRequest(facts),
          ...(facts.removesInside !== false
            ? { inside: { by: facts.removesInside, counts: state.counts } }
            : {}),
        };
      // A stream that stopped being a mirror (a user's edit) says so in the same reply. What it copied
      // after the consumer was read is still to do: counted with the lag (copiedSinceConsumerRead).
      if (facts.upstream) upstream = state.upstream;
      if (facts.removingLimits !== undefined)
        limitRemovals = {
          limits: facts.removingLimits,
          ...(state.limited !== undefined ? { state: state.limited } : {}),
        };
    }
    const placement = placementOf(info);
    const placements = lastPlacements.get(nc) ?? new Map<string, ConsumerPlacement>();
    lastPlacements.set(nc, placements);
    if (placement === undefined) placements.delete(consumerKey(ref));
    else placements.set(consumerKey(ref), placement);
    const read = sampleFromConsumerInfo(info, sentAt, facts?.subjects, removals, upstream);
    if (read.upstream !== undefined && 'lag' in read.upstream)
      read.upstream = {
        ...read.upstream,
        lag: read.upstream.lag + copiedSinceConsumerRead(info, read.filtered === true, streamCounts),
      };
    const filterStored =
      read.filtered === true && facts !== undefined
        ? await filterStoredFor(nc, ref, filtersOf(info), facts, options.timeoutMs)
        : undefined;
    const sample = {
      ...read,
      ...(filterStored !== undefined ? { filterStored } : {}),
      ...(limitRemovals !== undefined ? { limitRemovals } : {}),
      ...(streamLimit !== undefined ? { streamLimit } : {}),
      roundTripMs,
      ...('serverTime' in stamp ? { serverTime: stamp.serverTime } : {}),
    };
    // With max_deliver 1 a drop looks like a completion in the counters: counted from advisories.
    if (sample.maxDeliver === 1)
      sample.deliveryDrops = await dropsOf(nc, ref, started, started + options.timeoutMs);
    return { ok: true, sample };
  } catch (err) {
    let error = isBacklogError(err)
      ? err
      : isApiReplyRefused(err)
        ? replyRefusedError(err, ref, server)
        : consumerInfoError(err, ref, server);
    const placement = lastPlacements.get(nc)?.get(consumerKey(ref));
    if (
      isTimeout(err) &&
      placement !== undefined &&
      placement.replicas === 1 &&
      placement.leader !== nc.info?.server_name
    )
      error = new BacklogError(
        error.kind,
        onlyReplicaDownMessage(
          ref,
          server,
          placement.leader,
          err instanceof Error ? err.message : String(err),
        ),
        error.where,
      );
    options.observe?.((performance.now() - started) / 1000, error.kind);
    return { ok: false, error };
  }
}

/** A consumer's key in what is kept of its readings on a connection (lastStreamStates, lastPlacements, consumersCreated). */
function consumerKey(ref: ConsumerRef): string {
  return `${ref.domain ?? ''}|${ref.apiPrefix ?? ''}|${ref.stream}|${ref.consumer}`;
}

/**
 * Forgets what is kept of a consumer's readings on a connection — its last stream state, its
 * placement and its creation time — when the EventConsumer reading it goes (nats-backlog-sources.ts close): both are
 * freed with the connection otherwise, and a long-lived shared connection kept an entry for every
 * consumer ever read on it. Another EventConsumer reading the same consumer there only reads the
 * stream's state again at its next reading.
 */
export function forgetConsumer(nc: NatsConnection, ref: ConsumerRef): void {
  lastStreamStates.get(nc)?.delete(consumerKey(ref));
  lastPlacements.get(nc)?.delete(consumerKey(ref));
  consumersCreated.get(nc)?.delete(consumerKey(ref));
}

/** How many consumers' last stream states, placements and creation times are kept for a connection (tests). */
export function keptConsumers(nc: NatsConnection): {
  streamStates: number;
  placements: number;
  creationTimes: number;
} {
  return {
    streamStates: lastStreamStates.get(nc)?.size ?? 0,
    placements: lastPlacements.get(nc)?.size ?? 0,
    creationTimes: consumersCreated.get(nc)?.size ?? 0,
  };
}

/**
 * The consumer's drops at max_deliver seen so far (drop-advisories.ts). Through a JetStream domain
 * or an API prefix the advisories may be another account's or domain's: not known.
 */
function dropsOf(nc: NatsConnection, ref: ConsumerRef, sentAt: number, deadline: number): Promise<DropCount> {
  if (ref.domain !== undefined || ref.apiPrefix !== undefined)
    return Promise.resolve({
      unknown:
        'the consumer is read through a JetStream domain or API prefix, whose advisories may not reach this connection',
    });
  return readDrops(nc, ref.stream, ref.consumer, sentAt, deadline);
}

/** A BacklogSource over a shared connection; closing it releases the connection to the pool. */
export class JetStreamBacklogSource implements BacklogSource {
  constructor(
    private readonly nc: NatsConnection,
    private readonly ref: ConsumerRef,
    private readonly timeoutMs: number,
    private readonly onClose: () => void = () => undefined,
  ) {}

  read(): Promise<BacklogReading> {
    return readConsumerBacklog(this.nc, this.ref, { timeoutMs: this.timeoutMs });
  }

  close(): void {
    this.onClose();
  }
}
