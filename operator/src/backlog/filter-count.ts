// What a filtered consumer's stream holds on the consumer's filter subjects (BacklogSample.
// filterStored): STREAM.INFO with `subjects_filter` answers the stream's message count per matching
// subject. On a stream whose limits remove nothing, that count only grows, by what arrives for the
// filter, so rates.ts takes its growth as the arrivals: consumer info alone cannot tell a retry from
// a new delivery on a filtered consumer (delivered.stream_seq also moves over the other subjects'
// messages), and a poisoned message retried at once from the consumer's first readings read as
// arrivals at the other subjects' rate (filtered-redelivery.int).
//
// Bounded: asked only for literal filter subjects (one entry a reply at most), at most
// MAX_COUNTED_FILTERS of them. nats-server 2.12 (jetstream_api.go jsStreamInfoRequest) counts every
// subject a filter matches (SubjectsTotals) at each request and sends up to JSMaxSubjectDetails
// (100,000) a page; measured on the pinned server, one subject a message: a wildcard over 1,000
// subjects answered 18,878 bytes in 1.4 ms, over 100,000 subjects 2,189,892 bytes in 269 ms (over
// jetscale's 2 MiB STREAM.INFO limit), 113–161 ms of JSON.parse on the operator's event loop, at
// every reading; a literal one 1,015 bytes in 0.4 ms whatever the stream holds. A per-aggregate
// subject space (orders.<id>) has millions. Wildcard filters keep today's estimate (rates.ts
// arrivalsWhileRedeliveriesHide), and `unknown` says why.
// Pure but for readFilterStored, the I/O edge.
import type { NatsConnection } from '@nats-io/transport-node';
import { oversizedReply } from './api-replies.js';

/** A consumer with more literal filter subjects than this is not counted (one request each). */
export const MAX_COUNTED_FILTERS = 4;

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

/** The filters to count (literal, at most MAX_COUNTED_FILTERS), or why they are not counted. */
export function countedFilters(filters: readonly string[]): string[] | string {
  if (filters.length === 0) return 'the consumer has no filter subject';
  const wildcard = filters.find((f) => f.split('.').some((t) => t === '*' || t === '>'));
  if (wildcard !== undefined)
    return `filter subject "${wildcard}" has a wildcard: the stream's count per matching subject can run to millions of entries a reading`;
  if (filters.length > MAX_COUNTED_FILTERS)
    return `${filters.length} filter subjects, more than the ${MAX_COUNTED_FILTERS} counted (one request each)`;
  return [...filters];
}

/**
 * The stream's message count on one literal `filter` from a STREAM.INFO reply to subjects_filter
 * `filter`, or a sentence saying why the reply is unusable. nats-server leaves state.subjects out
 * when nothing is stored on the subject (and `total` 0); otherwise it is {filter: count}, total 1.
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
  if (typeof total !== 'number' || !Number.isSafeInteger(total) || total < 0 || total > 1)
    return `total is ${JSON.stringify(total)}, not 0 or 1 for the literal subject "${filter}"`;
  if (subjects === undefined || subjects === null) return 0;
  if (typeof subjects !== 'object' || Array.isArray(subjects))
    return `state.subjects is ${JSON.stringify(subjects)}, not an object of subjects and counts`;
  const entries = Object.entries(subjects as Record<string, unknown>);
  const other = entries.find(([subject]) => subject !== filter);
  if (other !== undefined) return `state.subjects names "${other[0]}", not the subject "${filter}" asked for`;
  const count = entries[0]?.[1] ?? 0;
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0)
    return `state.subjects["${filter}"] is ${JSON.stringify(count)}, not a whole number ≥ 0`;
  return count;
}

/**
 * Reads the stream's count on the consumer's literal filters (summed), one STREAM.INFO request with
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

/** The stream's count on one literal filter, or a sentence saying why it is not known. */
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
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return `${what} is not JSON`;
  }
  const count = filterCountOf(parsed, filter);
  return typeof count === 'string' ? `${what} is unusable: ${count}` : count;
}
