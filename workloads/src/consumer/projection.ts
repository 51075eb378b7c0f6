// The event-sourced side of the consumer, pure: what an event-log entry holds, and how the
// per-aggregate projection is derived from the log. The live consumer and the `replay` command fold
// with the same function, which is what makes their results comparable.
//
// Event types are user input and key `countsByType`: it is a prototype-free object (no inherited
// `constructor`, `toString` or `__proto__` to read or overwrite), built the same way when parsed.
import { z } from 'zod';
import { storedEventSchema } from '../shared/event.js';

/** One applied event as stored on `eventlog.<aggregateId>`. */
export const logEntrySchema = storedEventSchema.extend({
  version: z.number().int().positive(),
  /** Sequence of the original message in the events stream (for audits and debugging). */
  sourceSeq: z.number().int().nonnegative(),
  appliedAt: z.string(),
});
export type LogEntry = z.infer<typeof logEntrySchema>;

/** Per-type event counts: an object without a prototype, so every key is the user's own. */
export type TypeCounts = Record<string, number>;

export function emptyCounts(): TypeCounts {
  return Object.create(null) as TypeCounts;
}

/** The count of one event type (own keys only). */
export function countOf(counts: TypeCounts, type: string): number {
  return Object.hasOwn(counts, type) ? (counts[type] ?? 0) : 0;
}

const countsSchema = z
  .custom<TypeCounts>(
    (v) => typeof v === 'object' && v !== null && !Array.isArray(v),
    'must be an object of counts',
  )
  .transform((raw, ctx) => {
    const counts = emptyCounts();
    for (const [type, n] of Object.entries(raw)) {
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
        ctx.addIssue({ code: 'custom', path: [type], message: 'must be a whole number ≥ 0' });
        return z.NEVER;
      }
      counts[type] = n;
    }
    return counts;
  });

export const projectionSchema = z.object({
  aggregateId: z.string(),
  version: z.number().int().nonnegative(),
  /** Event-log stream sequence of the last entry folded in: everything up to it is reflected here. */
  lastLogSeq: z.number().int().nonnegative(),
  eventCount: z.number().int().nonnegative(),
  total: z.number().refine(Number.isFinite, 'must be a finite number'),
  countsByType: countsSchema,
  lastEventId: z.string().nullable(),
});
export type AggregateProjection = z.infer<typeof projectionSchema>;

export function emptyProjection(aggregateId: string): AggregateProjection {
  return {
    aggregateId,
    version: 0,
    lastLogSeq: 0,
    eventCount: 0,
    total: 0,
    countsByType: emptyCounts(),
    lastEventId: null,
  };
}

/** `payload.amount` when it is a finite number, else 0. */
export function amountOf(payload: Record<string, unknown>): number {
  const amount = Object.hasOwn(payload, 'amount') ? payload['amount'] : undefined;
  return typeof amount === 'number' && Number.isFinite(amount) ? amount : 0;
}

/** Folds one log entry (at event-log sequence `logSeq`) into the projection; returns a new value. */
export function foldEntry(state: AggregateProjection, entry: LogEntry, logSeq: number): AggregateProjection {
  const countsByType = emptyCounts();
  // for-in, not Object.entries (an array per entry per event): the counts have no prototype, so
  // for-in sees their own keys only.
  for (const type in state.countsByType) countsByType[type] = state.countsByType[type] as number;
  countsByType[entry.type] = countOf(state.countsByType, entry.type) + 1;
  return {
    aggregateId: state.aggregateId,
    version: entry.version,
    lastLogSeq: logSeq,
    eventCount: state.eventCount + 1,
    total: roundCents(state.total + amountOf(entry.payload)),
    countsByType,
    lastEventId: entry.id,
  };
}

// Sums of decimal amounts drift in binary floating point depending on grouping; rounding each step
// keeps live and replayed totals bit-identical because both fold in the same order.
function roundCents(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}

/** Compares two projections field by field; returns the names of the fields that differ. */
export function projectionDiff(a: AggregateProjection, b: AggregateProjection): string[] {
  const fields: (keyof AggregateProjection)[] = [
    'version',
    'lastLogSeq',
    'eventCount',
    'total',
    'lastEventId',
  ];
  const differ: string[] = fields.filter((f) => a[f] !== b[f]);
  const types = new Set([...Object.keys(a.countsByType), ...Object.keys(b.countsByType)]);
  for (const t of types)
    if (countOf(a.countsByType, t) !== countOf(b.countsByType, t)) differ.push(`countsByType.${t}`);
  return differ;
}
