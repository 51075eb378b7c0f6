// Rebuilds every aggregate's projection from the event log alone (the same fold the live consumer
// uses) and compares it with the live projection bucket: the proof that the projection is derived
// state and can be thrown away.
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
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
  matches: boolean;
}

export async function rebuildProjections(
  nc: NatsConnection,
  config: NatsConfig,
): Promise<{ rebuilt: Map<string, AggregateProjection>; logEntries: number }> {
  const t = topologyOf(config);
  const rebuilt = new Map<string, AggregateProjection>();
  const logEntries = await readWholeStream(
    jetstream(nc),
    await jetstreamManager(nc),
    t.eventLogStream,
    (msg) => {
      const entry = logEntrySchema.parse(msg.json());
      const state = rebuilt.get(entry.aggregateId) ?? emptyProjection(entry.aggregateId);
      rebuilt.set(entry.aggregateId, foldEntry(state, entry, msg.seq));
    },
  );
  return { rebuilt, logEntries };
}

export async function runReplay(nc: NatsConnection, config: NatsConfig): Promise<ReplayReport> {
  const t = topologyOf(config);
  const { rebuilt, logEntries } = await rebuildProjections(nc, config);
  const kv = await new Kvm(jetstream(nc)).open(t.projectionBucket);
  const live = new Map<string, AggregateProjection>();
  for await (const key of await kv.keys()) {
    const entry = await kv.get(key);
    if (entry && entry.operation === 'PUT') live.set(key, projectionSchema.parse(entry.json()));
  }
  const mismatched: ReplayReport['mismatched'] = [];
  const missingLive: string[] = [];
  let equal = 0;
  for (const [aggregateId, state] of rebuilt) {
    const current = live.get(aggregateId);
    if (!current) missingLive.push(aggregateId);
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
    matches: mismatched.length === 0 && missingLive.length === 0 && extraLive.length === 0,
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
    r.matches ? 'verdict         replayed projection equals the live one' : 'verdict         DIFFERENT',
  ];
  return lines.join('\n');
}
