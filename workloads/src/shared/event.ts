// The domain event every workload exchanges: its schema (validated once at the gateway and again by
// the consumer, since anything can publish to the stream), the batch forms the gateway accepts, and
// the readable field paths used in 4xx answers.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';

/** Event ids become the `Nats-Msg-Id` and a KV key, so they keep to characters valid in both. */
export const eventIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,128}$/, 'must be 1-128 letters, digits, "_" or "-"');

const token = (max: number) =>
  z.string().regex(new RegExp(`^[A-Za-z0-9_-]{1,${max}}$`), `must be 1-${max} letters, digits, "_" or "-"`);

export const incomingEventSchema = z.strictObject({
  id: eventIdSchema.optional(),
  type: token(64),
  aggregateId: token(128),
  payload: z.record(z.string(), z.unknown()),
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

export type ParsedBody =
  | { kind: 'ok'; events: StoredEvent[] }
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
    return { kind: 'ok', events: [{ ...one.data, id: one.data.id ?? newId() }] };
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
    if (parsed.success) events.push({ ...parsed.data, id: parsed.data.id ?? newId() });
    else issues.push(...toIssues(parsed.error.issues, [...prefix, index]));
  });
  return issues.length > 0 ? { kind: 'invalid', issues } : { kind: 'ok', events };
}

function toIssues(issues: readonly z.core.$ZodIssue[], prefix: (string | number)[]): FieldIssue[] {
  return issues.map((issue) => {
    // zod reports unknown keys on the object itself; name the key so the client knows what to drop.
    const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
    const path = keys.length === 1 ? [...prefix, ...issue.path, keys[0] ?? ''] : [...prefix, ...issue.path];
    return { field: fieldPath(path), message: issue.message };
  });
}

/** Parses a stored message body; `ok: false` with a reason when it is not a valid event (poison). */
export function decodeStoredEvent(
  data: Uint8Array,
): { ok: true; event: StoredEvent } | { ok: false; reason: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(data));
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
