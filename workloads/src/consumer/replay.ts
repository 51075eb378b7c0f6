// Rebuilds every aggregate's projection from the event log alone (the same fold the live consumer
// uses) and compares it with the live projection bucket: the proof that the projection is derived
// state and can be thrown away.
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { z } from 'zod';
import { topologyOf, type NatsConfig } from '../shared/config.js';
import { readWholeStream } from '../shared/stream-reader.js';
import {
  emptyProjection,
  foldEntry,
  logEntrySchema,
  projectionDiff,
  projectionSchema,
  type AggregateProjection,
} from './projection.js';
import { isWriterMarkKey } from './projection-writer.js';

export interface ReplayReport {
  logEntries: number;
  aggregates: number;
  /** Aggregates whose live projection equals the rebuilt one. */
  equal: number;
  mismatched: { aggregateId: string; fields: string[] }[];
  /** Aggregates in the log with no live projection. */
  missingLive: string[];
  /** Live projections with no events in the log. */
  extraLive: string[];
  /** Live projections that cannot be read (bad JSON or schema): never equal to anything. */
  unreadableLive: { aggregateId: string; reason: string }[];
  /** Event-log entries that cannot be read; their aggregates cannot be rebuilt. */
  unreadableLog: { seq: number; subject: string; reason: string }[];
  matches: boolean;
}

const SAMPLE = 20;

function issuesOf(err: z.ZodError): string {
  return err.issues
    .slice(0, 3)
    .map((i) => `${i.path.join('.') || '(value)'}: ${i.message}`)
    .join('; ');
}

function parseJson(read: () => unknown): { ok: true; value: unknown } | { ok: false; reason: string } {
  try {
    return { ok: true, value: read() };
  } catch (err) {
    return { ok: false, reason: `not JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
}

export async function rebuildProjections(
  nc: NatsConnection,
  config: NatsConfig,
): Promise<{
  rebuilt: Map<string, AggregateProjection>;
  logEntries: number;
  unreadableLog: ReplayReport['unreadableLog'];
  /** Aggregates with a log entry that could not be read (not rebuilt). */
  brokenAggregates: Set<string>;
}> {
  const t = topologyOf(config);
  const rebuilt = new Map<string, AggregateProjection>();
  const unreadableLog: ReplayReport['unreadableLog'] = [];
  const brokenAggregates = new Set<string>();
  const logEntries = await readWholeStream(
    jetstream(nc),
    await jetstreamManager(nc),
    t.eventLogStream,
    (msg) => {
      const json = parseJson(() => msg.json());
      const parsed = json.ok ? logEntrySchema.safeParse(json.value) : undefined;
      if (!parsed?.success) {
        brokenAggregates.add(t.aggregateOfLogSubject(msg.subject) ?? msg.subject);
        unreadableLog.push({
          seq: msg.seq,
          subject: msg.subject,
          reason: json.ok ? (parsed ? issuesOf(parsed.error) : '') : json.reason,
        });
        return;
      }
      const entry = parsed.data;
      const state = rebuilt.get(entry.aggregateId) ?? emptyProjection(entry.aggregateId);
      rebuilt.set(entry.aggregateId, foldEntry(state, entry, msg.seq));
    },
  );
  return { rebuilt, logEntries, unreadableLog, brokenAggregates };
}

export async function runReplay(nc: NatsConnection, config: NatsConfig): Promise<ReplayReport> {
  const t = topologyOf(config);
  const { rebuilt, logEntries, unreadableLog, brokenAggregates } = await rebuildProjections(nc, config);
  const kv = await new Kvm(jetstream(nc)).open(t.projectionBucket);
  const live = new Map<string, AggregateProjection>();
  const unreadableLive: ReplayReport['unreadableLive'] = [];
  for await (const key of await kv.keys()) {
    if (isWriterMarkKey(key)) continue;
    const entry = await kv.get(key);
    if (!entry || entry.operation !== 'PUT') continue;
    const json = parseJson(() => entry.json());
    const parsed = json.ok ? projectionSchema.safeParse(json.value) : undefined;
    if (parsed?.success) live.set(key, parsed.data);
    else
      unreadableLive.push({
        aggregateId: key,
        reason: json.ok ? (parsed ? issuesOf(parsed.error) : '') : json.reason,
      });
  }
  const unreadable = new Set(unreadableLive.map((u) => u.aggregateId));
  const mismatched: ReplayReport['mismatched'] = [];
  const missingLive: string[] = [];
  let equal = 0;
  for (const [aggregateId, state] of rebuilt) {
    if (brokenAggregates.has(aggregateId)) {
      mismatched.push({ aggregateId, fields: ['(event log unreadable)'] });
      continue;
    }
    const current = live.get(aggregateId);
    if (unreadable.has(aggregateId))
      mismatched.push({ aggregateId, fields: ['(live projection unreadable)'] });
    else if (!current) missingLive.push(aggregateId);
    else {
      const fields = projectionDiff(state, current);
      if (fields.length === 0) equal++;
      else mismatched.push({ aggregateId, fields });
    }
  }
  const extraLive = [...live.keys()].filter((id) => !rebuilt.has(id));
  return {
    logEntries,
    aggregates: rebuilt.size,
    equal,
    mismatched,
    missingLive,
    extraLive,
    unreadableLive: unreadableLive.slice(0, SAMPLE),
    unreadableLog: unreadableLog.slice(0, SAMPLE),
    matches:
      mismatched.length === 0 &&
      missingLive.length === 0 &&
      extraLive.length === 0 &&
      unreadableLive.length === 0 &&
      unreadableLog.length === 0,
  };
}

export function formatReplay(r: ReplayReport): string {
  const lines = [
    `log entries     ${r.logEntries}`,
    `aggregates      ${r.aggregates}`,
    `equal           ${r.equal}`,
    `mismatched      ${r.mismatched.length}${
      r.mismatched.length
        ? `  e.g. ${r.mismatched
            .slice(0, 5)
            .map((m) => `${m.aggregateId} (${m.fields.join(',')})`)
            .join('; ')}`
        : ''
    }`,
    `missing live    ${r.missingLive.length}`,
    `extra live      ${r.extraLive.length}`,
    ...(r.unreadableLive.length
      ? [
          `unreadable live ${r.unreadableLive.length}  e.g. ${r.unreadableLive
            .slice(0, 3)
            .map((u) => `${u.aggregateId} (${u.reason})`)
            .join('; ')}`,
        ]
      : []),
    ...(r.unreadableLog.length
      ? [
          `unreadable log  ${r.unreadableLog.length}  e.g. ${r.unreadableLog
            .slice(0, 3)
            .map((u) => `seq ${u.seq} on ${u.subject} (${u.reason})`)
            .join('; ')}`,
        ]
      : []),
    r.matches ? 'verdict         replayed projection equals the live one' : 'verdict         DIFFERENT',
  ];
  return lines.join('\n');
}
