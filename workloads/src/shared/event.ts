// The domain event every workload exchanges: its schema (validated once at the gateway and again by
// the consumer, since anything can publish to the stream), the batch forms the gateway accepts, and
// the readable field paths used in 4xx answers.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { payloadIssues } from './payload.js';

/** Event ids become the `Nats-Msg-Id` and a KV key, so they keep to characters valid in both. */
export const eventIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,128}$/, 'must be 1-128 letters, digits, "_" or "-"');

const token = (max: number) =>
  z.string().regex(new RegExp(`^[A-Za-z0-9_-]{1,${max}}$`), `must be 1-${max} letters, digits, "_" or "-"`);

/**
 * The payload is kept as parsed (never copied key by key, which would drop a `__proto__` key
 * silently) and checked by payloadIssues(): depth, forbidden keys, the bounded `amount`.
 */
export const payloadSchema = z
  .custom<Record<string, unknown>>(
    (v) => typeof v === 'object' && v !== null && !Array.isArray(v),
    'must be a JSON object',
  )
  .superRefine((payload, ctx) => {
    for (const issue of payloadIssues(payload))
      ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
  });

export const incomingEventSchema = z.strictObject({
  id: eventIdSchema.optional(),
  type: token(64),
  aggregateId: token(128),
  payload: payloadSchema,
  timestamp: z.iso.datetime({ offset: true }),
  version: z.number().int().positive().optional(),
});

export type IncomingEvent = z.infer<typeof incomingEventSchema>;

/** An event as stored in the events stream: the id is always present. */
export const storedEventSchema = incomingEventSchema.extend({ id: eventIdSchema });
export type StoredEvent = z.infer<typeof storedEventSchema>;

export const batchSchema = z.union([z.array(z.unknown()), z.strictObject({ events: z.array(z.unknown()) })]);

export interface FieldIssue {
  field: string;
  message: string;
}

/** `['events', 3, 'aggregateId']` → `events[3].aggregateId`. */
export function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(body)' : out;
}

/** How the body held its events: one object, a JSON array, or `{"events": [...]}`. */
export type BodyForm = 'one' | 'array' | 'object';

export type ParsedBody =
  | { kind: 'ok'; events: StoredEvent[]; form: BodyForm }
  | { kind: 'invalid'; issues: FieldIssue[] }
  | { kind: 'too_many'; count: number; max: number };

/**
 * Validates a request body (one event, an array, or `{events: [...]}`) and gives each event an id
 * when it has none. Field paths name the offending element of a batch.
 */
export function parseEventsBody(
  body: unknown,
  maxBatch: number,
  newId: () => string = randomUUID,
): ParsedBody {
  let items: unknown[];
  let prefix: (string | number)[];
  if (Array.isArray(body)) {
    items = body;
    prefix = [];
  } else if (typeof body === 'object' && body !== null && 'events' in body) {
    const batch = batchSchema.safeParse(body);
    if (!batch.success) return { kind: 'invalid', issues: toIssues(batch.error.issues, []) };
    items = Array.isArray(batch.data) ? batch.data : batch.data.events;
    prefix = ['events'];
  } else {
    const one = incomingEventSchema.safeParse(body);
    if (!one.success) return { kind: 'invalid', issues: toIssues(one.error.issues, []) };
    return { kind: 'ok', events: [withId(one.data, newId)], form: 'one' };
  }
  if (items.length === 0)
    return {
      kind: 'invalid',
      issues: [{ field: fieldPath(prefix), message: 'must hold at least one event' }],
    };
  if (items.length > maxBatch) return { kind: 'too_many', count: items.length, max: maxBatch };
  const events: StoredEvent[] = [];
  const issues: FieldIssue[] = [];
  items.forEach((item, index) => {
    const parsed = incomingEventSchema.safeParse(item);
    if (parsed.success) events.push(withId(parsed.data, newId));
    else issues.push(...toIssues(parsed.error.issues, [...prefix, index]));
  });
  return issues.length > 0
    ? { kind: 'invalid', issues }
    : { kind: 'ok', events, form: prefix.length > 0 ? 'object' : 'array' };
}

/**
 * The event with an id: zod's output is a new object of the caller's, so a missing id is set on it (last,
 * where `{...event, id}` put it) rather than copied with a spread, which V8 takes on a slow path (2-3 µs
 * per event in a micro-benchmark, against zod's own 2.8 µs).
 */
function withId(event: IncomingEvent, newId: () => string): StoredEvent {
  if (event.id === undefined) event.id = newId();
  return event as StoredEvent;
}

function toIssues(issues: readonly z.core.$ZodIssue[], prefix: (string | number)[]): FieldIssue[] {
  return issues.map((issue) => {
    // zod reports unknown keys on the object itself; name the key so the client knows what to drop.
    const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
    const path = keys.length === 1 ? [...prefix, ...issue.path, keys[0] ?? ''] : [...prefix, ...issue.path];
    return { field: fieldPath(path), message: issue.message };
  });
}

/**
 * Room a stored event leaves below the server's max_payload: the consumer writes it again with
 * more fields (the event-log entry: version, sourceSeq, appliedAt) and headers (Nats-Msg-Id,
 * expected sequence), and a dead-letter copy carries the original plus up to ~1.5 KB of
 * `Jetscale-Dlq-*` headers. An event that leaves less could be accepted but never applied nor
 * dead-lettered.
 */
export const STORED_EVENT_HEADROOM = 4096;

/** Largest stored event (JSON bytes, id included) on a server with this max_payload. */
export function storedEventLimit(serverMaxPayload: number): number {
  return Math.max(0, serverMaxPayload - STORED_EVENT_HEADROOM);
}

/**
 * The events stream's max_msg_size, which counts headers too: the gateway's largest event plus
 * room for its publish headers (Nats-Msg-Id, Nats-Expected-Stream). It stops other publishers from
 * storing what the consumer could not copy; the gateway checks storedEventLimit() itself first.
 */
export function eventsStreamMaxMsgSize(serverMaxPayload: number): number {
  return Math.max(0, serverMaxPayload - STORED_EVENT_HEADROOM / 2);
}

export interface EncodedEvent {
  event: StoredEvent;
  /** The message body stored in the events stream. */
  data: Uint8Array;
}

const decoder = new TextDecoder();

/**
 * Encodes events as they will be stored (after the gateway added ids) and checks each against
 * `maxEventBytes`; the issues name the events that are too large.
 */
export function encodeEvents(
  events: readonly StoredEvent[],
  maxEventBytes: number,
  form: BodyForm,
): { kind: 'ok'; events: EncodedEvent[] } | { kind: 'too_large'; issues: FieldIssue[] } {
  const encoded: EncodedEvent[] = [];
  const issues: FieldIssue[] = [];
  events.forEach((event, index) => {
    // Buffer.from: a slice of Node's pool for a short string, where TextEncoder makes an ArrayBuffer each time.
    const data = Buffer.from(JSON.stringify(event));
    if (data.byteLength > maxEventBytes)
      issues.push({
        field: form === 'one' ? '(body)' : fieldPath(form === 'object' ? ['events', index] : [index]),
        message: `the stored event (id included) is ${data.byteLength} bytes; at most ${maxEventBytes} (the NATS server's max_payload less ${STORED_EVENT_HEADROOM} bytes for the consumer's copies)`,
      });
    else encoded.push({ event, data });
  });
  return issues.length > 0 ? { kind: 'too_large', issues } : { kind: 'ok', events: encoded };
}

/** Parses a stored message body; `ok: false` with a reason when it is not a valid event (poison). */
export function decodeStoredEvent(
  data: Uint8Array,
): { ok: true; event: StoredEvent } | { ok: false; reason: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(decoder.decode(data));
  } catch (err) {
    return { ok: false, reason: `not JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
  const parsed = storedEventSchema.safeParse(raw);
  if (!parsed.success) {
    return {
      ok: false,
      reason: parsed.error.issues.map((i) => `${fieldPath(i.path)}: ${i.message}`).join('; '),
    };
  }
  return { ok: true, event: parsed.data };
}
