// Bounds the JetStream API replies the operator parses. The NATS server an EventConsumer reads is
// the tenant's (spec.nats.servers): it may answer CONSUMER.INFO or STREAM.INFO with anything up to
// the 64 MiB nats.js accepts for a message, and nats.js decodes and JSON.parses a reply on the
// operator's one event loop, which every EventConsumer's polls and the Lease renewals share (a
// 64 MiB consumer info of filter subjects: 1.7–3 s a parse, measured on the loaded machine). A
// reply over its kind's limit is refused before it is decoded: the EventConsumer that read it fails
// its poll with a message naming the limit; no other EventConsumer waits on it.
//
// The limits are far above what real configs make (nats-server 2.12, measured): a stream of 10,000
// subjects answers STREAM.INFO in 429 KiB (its create took the server 27 s: more grows
// quadratically), one of 1,000 sources in 139 KiB; a consumer of 10,000 filter subjects answers
// CONSUMER.INFO in 234 KiB (24 s to create).
import type { JetStreamManager } from '@nats-io/jetstream';
import type { Msg } from '@nats-io/transport-node';

/** The JetStream API requests whose replies the operator parses. */
export type ApiReplyKind = 'CONSUMER.INFO' | 'STREAM.INFO';

/** The largest reply of each kind the operator parses (bytes of payload). */
export const API_REPLY_LIMIT_BYTES: Readonly<Record<ApiReplyKind, number>> = {
  'CONSUMER.INFO': 1024 * 1024,
  'STREAM.INFO': 2 * 1024 * 1024,
};

/** A reply the operator did not parse, and why. */
export class ApiReplyRefused extends Error {
  constructor(
    readonly kind: ApiReplyKind,
    readonly reason: string,
  ) {
    super(reason);
    this.name = 'ApiReplyRefused';
  }
}

export function isApiReplyRefused(err: unknown): err is ApiReplyRefused {
  return err instanceof ApiReplyRefused;
}

/** Why a reply of `bytes` is not parsed; undefined when it may be. Pure. */
export function oversizedReply(kind: ApiReplyKind, bytes: number): string | undefined {
  const limit = API_REPLY_LIMIT_BYTES[kind];
  if (bytes <= limit) return undefined;
  return `is ${mebibytes(bytes)} (${bytes} bytes), over jetscale's limit of ${mebibytes(limit)} for ${kind} replies: not parsed, as parsing a reply holds the operator's event loop, which every EventConsumer's polls share (real configs answer far below the limit: a stream of 10,000 subjects in 0.42 MiB)`;
}

/**
 * Why a parsed STREAM.INFO reply is refused: the operator never asks for the stream's subjects, and
 * nats-server pages a reply (`total`) only when they are asked for; nats.js would ask for the next
 * page, and the next, as long as `total` says there are more, so a server that says 10^15 keeps
 * the reading asking for ever. Pure.
 */
export function pagedStreamInfo(reply: unknown): string | undefined {
  if (typeof reply !== 'object' || reply === null) return undefined;
  const total = (reply as { total?: unknown }).total;
  if (total === undefined || total === 0) return undefined;
  return `says it is one page of ${String(total)} subjects, which the operator never asks for (nats-server pages a STREAM.INFO reply only for a subjects_filter)`;
}

/**
 * Makes `jsm` refuse CONSUMER.INFO and STREAM.INFO replies over their limits before decoding
 * them, and STREAM.INFO replies that page. nats.js's API clients parse every reply in their
 * `parseJsResponse` method: this wraps it on the manager's own consumer and stream clients (one
 * per connection, jetstream-backlog-source.ts managerFor), which the operator uses only for info.
 * Throws when nats.js no longer parses there, rather than leave replies unbounded.
 */
export function boundApiReplies(jsm: JetStreamManager): JetStreamManager {
  bound(jsm.consumers, 'CONSUMER.INFO', () => undefined);
  bound(jsm.streams, 'STREAM.INFO', pagedStreamInfo);
  return jsm;
}

function bound(api: object, kind: ApiReplyKind, refused: (reply: unknown) => string | undefined): void {
  const client = api as { parseJsResponse?: unknown };
  const parse = client.parseJsResponse;
  if (typeof parse !== 'function')
    throw new Error(`nats.js's ${kind} client has no parseJsResponse to bound: update api-replies.ts`);
  client.parseJsResponse = (m: Msg): unknown => {
    const oversized = oversizedReply(kind, m.data.length);
    if (oversized !== undefined) throw new ApiReplyRefused(kind, oversized);
    const reply: unknown = parse.call(api, m);
    const why = refused(reply);
    if (why !== undefined) throw new ApiReplyRefused(kind, why);
    return reply;
  };
}

function mebibytes(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(bytes < 1024 * 1024 ? 2 : 1)} MiB`;
}
