// What a filtered consumer's stream holds on the consumer's filter subjects (BacklogSample.
// filterStored): STREAM.INFO with `subjects_filter` answers the stream's message count per matching
// subject. On a stream whose limits remove nothing, that count only grows, by what arrives for the
// filter, so rates.ts takes its growth as the arrivals: consumer info alone cannot tell a retry from
// a new delivery on a filtered consumer (delivered.stream_seq also moves over the other subjects'
// messages), and a poisoned message retried at once from the consumer's first readings read as
// arrivals at the other subjects' rate (filtered-redelivery.int).
//
// Bounded: at most MAX_COUNTED_FILTERS filter subjects (one request each). nats-server 2.12
// (jetstream_api.go jsStreamInfoRequest) counts every subject a filter matches (SubjectsTotals) at
// each request and sends up to JSMaxSubjectDetails (100,000) a page; measured on the pinned server,
// one subject a message: a wildcard over 1,000 subjects answered 18,878 bytes in 1.4 ms, over
// 100,000 subjects 2,189,892 bytes in 269 ms (over jetscale's 2 MiB STREAM.INFO limit), 113–161 ms
// of JSON.parse on the operator's event loop, at every reading; a literal one 1,015 bytes in 0.4 ms
// whatever the stream holds. So a literal filter is always counted, and a wildcard one only on a
// stream that held at most MAX_COUNTED_SUBJECTS subjects in all when its info was last read
// (state.num_subjects, at most 5 min old: jetstream-backlog-source.ts STREAM_CONFIG_TTL_MS), its
// reply refused unparsed past WILDCARD_REPLY_MAX_BYTES should the stream have gained subjects since.
// A per-aggregate subject space (orders.<id>) has millions: there a wildcard keeps today's estimate
// (rates.ts arrivalsWhileRedeliveriesHide), and `unknown` says why.
// Pure but for readFilterStored, the I/O edge.
import type { NatsConnection } from '@nats-io/transport-node';
import { oversizedReply } from './api-replies.js';
import { subjectCovers } from './filter-coverage.js';

/** A consumer with more filter subjects than this is not counted (one request each). */
export const MAX_COUNTED_FILTERS = 4;
/**
 * A wildcard filter is counted only on a stream holding at most this many subjects in all: one
 * reply entry per matching subject, 18,878 bytes and 1.4 ms for 1,000 on the pinned server.
 */
export const MAX_COUNTED_SUBJECTS = 1_000;
/** A wildcard filter's reply larger than this is not parsed (about 3,400 subjects at 19 bytes each). */
export const WILDCARD_REPLY_MAX_BYTES = 64 * 1024;

const hasWildcard = (subject: string): boolean => subject.split('.').some((t) => t === '*' || t === '>');

/**
 * Why a stream's count on a filter does not grow by exactly what arrives for it, or undefined when
 * it does: a limits stream whose limits remove nothing (no max_age, no max_msgs / max_bytes
 * discarding old, no per-subject limit, rollups or per-message TTLs). A user's delete or purge can
 * still remove some (deny_delete, deny_purge unset: the default): a one-off that reads as fewer
 * arrivals for one interval, as it does for a consumer of every subject (rates.ts storedBetween).
 */
export function filterCountUnusable(info: unknown): string | undefined {
  const config: unknown =
    typeof info === 'object' && info !== null ? (info as { config?: unknown }).config : undefined;
  if (typeof config !== 'object' || config === null) return 'the stream info has no config';
  const c = config as Record<string, unknown>;
  const positive = (v: unknown): boolean => typeof v === 'number' && v > 0;
  const retention = c.retention ?? 'limits';
  if (retention !== 'limits')
    return `the stream's retention is ${String(retention)}: acknowledgements remove messages`;
  if (positive(c.max_age)) return 'the stream removes messages at max_age';
  if ((c.discard ?? 'old') === 'old' && (positive(c.max_msgs) || positive(c.max_bytes)))
    return 'the stream removes its oldest messages at max_msgs or max_bytes';
  if (positive(c.max_msgs_per_subject)) return 'the stream removes messages at max_msgs_per_subject';
  if (c.allow_rollup_hdrs === true) return 'the stream allows rollups, which remove messages';
  if (c.allow_msg_ttl === true) return 'the stream allows per-message TTLs, which remove messages';
  return undefined;
}

/**
 * The filters to count (at most MAX_COUNTED_FILTERS; a wildcard one only when the stream held at most
 * MAX_COUNTED_SUBJECTS subjects at its last STREAM.INFO: `streamSubjects`, undefined when not known),
 * or why they are not counted.
 */
export function countedFilters(filters: readonly string[], streamSubjects?: number): string[] | string {
  if (filters.length === 0) return 'the consumer has no filter subject';
  const wildcard = filters.find(hasWildcard);
  if (wildcard !== undefined && !(streamSubjects !== undefined && streamSubjects <= MAX_COUNTED_SUBJECTS))
    return `filter subject "${wildcard}" has a wildcard and the stream holds ${streamSubjects === undefined ? 'an unknown number of' : streamSubjects.toLocaleString('en-US')} subjects (counted up to ${MAX_COUNTED_SUBJECTS.toLocaleString('en-US')}): the stream's count per matching subject can run to millions of entries a reading`;
  if (filters.length > MAX_COUNTED_FILTERS)
    return `${filters.length} filter subjects, more than the ${MAX_COUNTED_FILTERS} counted (one request each)`;
  return [...filters];
}

/**
 * The stream's message count on `filter` from a STREAM.INFO reply to subjects_filter `filter`, or a
 * sentence saying why the reply is unusable. nats-server leaves state.subjects out when nothing is
 * stored on a matching subject (and `total` 0); otherwise it is {subject: count} for each matching
 * subject, `total` of them: for a literal filter the filter itself, total 1; for a wildcard one, at
 * most MAX_COUNTED_SUBJECTS subjects the filter matches, all in this reply (the server pages past
 * 100,000), summed.
 */
export function filterCountOf(reply: unknown, filter: string): number | string {
  if (typeof reply !== 'object' || reply === null) return 'the reply is not a JSON object';
  const r = reply as { error?: unknown; state?: unknown; total?: unknown };
  if (r.error !== undefined && r.error !== null) {
    const e = r.error as { description?: unknown };
    return `the server answered an error (${typeof e.description === 'string' ? e.description : JSON.stringify(r.error)})`;
  }
  if (typeof r.state !== 'object' || r.state === null) return 'the reply has no state';
  const subjects: unknown = (r.state as { subjects?: unknown }).subjects;
  const total = r.total ?? 0;
  const wildcard = hasWildcard(filter);
  const most = wildcard ? MAX_COUNTED_SUBJECTS : 1;
  if (typeof total !== 'number' || !Number.isSafeInteger(total) || total < 0 || total > most)
    return wildcard
      ? `total is ${JSON.stringify(total)}, not a whole number of subjects up to ${MAX_COUNTED_SUBJECTS} for "${filter}"`
      : `total is ${JSON.stringify(total)}, not 0 or 1 for the literal subject "${filter}"`;
  if (subjects === undefined || subjects === null)
    return total === 0 ? 0 : `state.subjects is missing with total ${total}`;
  if (typeof subjects !== 'object' || Array.isArray(subjects))
    return `state.subjects is ${JSON.stringify(subjects)}, not an object of subjects and counts`;
  const entries = Object.entries(subjects as Record<string, unknown>);
  if (wildcard && entries.length !== total)
    return `state.subjects has ${entries.length} subjects where total says ${total} (a page of a longer list)`;
  const other = entries.find(([subject]) =>
    wildcard ? hasWildcard(subject) || !subjectCovers(filter, subject) : subject !== filter,
  );
  if (other !== undefined)
    return wildcard
      ? `state.subjects names "${other[0]}", which "${filter}" does not match`
      : `state.subjects names "${other[0]}", not the subject "${filter}" asked for`;
  let sum = 0;
  for (const [subject, count] of entries) {
    if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0)
      return `state.subjects["${subject}"] is ${JSON.stringify(count)}, not a whole number ≥ 0`;
    sum += count;
  }
  return sum;
}

/**
 * Reads the stream's count on the consumer's filters (summed), one STREAM.INFO request with
 * subjects_filter each, all at once (a reading waits one timeout at most), `prefix` the JetStream
 * API prefix ($JS.API, $JS.<domain>.API, or the account's). A reply over the STREAM.INFO limit is not
 * parsed. Never throws: what cannot be read is `unknown`, and the reading keeps today's estimate.
 */
export async function readFilterStored(
  nc: NatsConnection,
  prefix: string,
  stream: string,
  filters: readonly string[],
  timeoutMs: number,
): Promise<{ count: number } | { unknown: string }> {
  const counts = await Promise.all(filters.map((f) => readOneFilter(nc, prefix, stream, f, timeoutMs)));
  const why = counts.find((c): c is string => typeof c === 'string');
  if (why !== undefined) return { unknown: why };
  return { count: counts.reduce<number>((n, c) => n + (c as number), 0) };
}

/** The stream's count on one filter, or a sentence saying why it is not known. */
async function readOneFilter(
  nc: NatsConnection,
  prefix: string,
  stream: string,
  filter: string,
  timeoutMs: number,
): Promise<number | string> {
  const what = `the STREAM.INFO reply for subjects_filter "${filter}"`;
  let data: Uint8Array;
  try {
    const reply = await nc.request(
      `${prefix}.STREAM.INFO.${stream}`,
      JSON.stringify({ subjects_filter: filter }),
      {
        timeout: timeoutMs,
      },
    );
    data = reply.data;
  } catch (err) {
    return `STREAM.INFO with subjects_filter "${filter}" failed (${err instanceof Error ? err.message : String(err)})`;
  }
  const oversized = oversizedReply('STREAM.INFO', data.length);
  if (oversized !== undefined) return `${what} ${oversized}`;
  if (hasWildcard(filter) && data.length > WILDCARD_REPLY_MAX_BYTES)
    return `${what} is ${data.length.toLocaleString('en-US')} bytes, over the ${WILDCARD_REPLY_MAX_BYTES.toLocaleString('en-US')} read for a wildcard filter (the stream gained subjects since its info was read): not parsed`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return `${what} is not JSON`;
  }
  const count = filterCountOf(parsed, filter);
  return typeof count === 'string' ? `${what} is unusable: ${count}` : count;
}
