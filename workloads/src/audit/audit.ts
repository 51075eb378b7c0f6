// The load-test verdict: compare what was accepted (the events stream) with what was applied (the
// event log), dead-lettered (the DLQ) or is still in the consumer's hands, and count events lost or
// applied twice. `runAudit()` is the library form the harness calls; main.ts is the CLI.
import {
  jetstream,
  jetstreamManager,
  JetStreamApiError,
  JetStreamApiCodes,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { topologyOf, type NatsConfig } from '../shared/config.js';
import { readWholeStream } from '../shared/stream-reader.js';
import { DlqHeaders } from '../consumer/dead-letter.js';
import {
  emptyProjection,
  foldEntry,
  logEntrySchema,
  projectionDiff,
  projectionSchema,
  type LogEntry,
} from '../consumer/projection.js';
import { isWriterMarkKey } from '../consumer/projection-writer.js';

export interface AuditReport {
  /** Distinct event ids in the events stream. */
  accepted: number;
  /** Messages in the events stream (more than `accepted` if an id was stored twice outside the duplicate window). */
  acceptedMessages: number;
  /** Distinct accepted ids with at least one event-log entry. */
  applied: number;
  /** Ids with more than one event-log entry. */
  appliedTwice: number;
  /** Distinct accepted ids in the dead-letter stream and never applied. */
  deadLettered: number;
  /** Neither applied nor dead-lettered, and still the consumer's business (above its ack floor). */
  pending: number;
  /**
   * Pending events that are stuck, not merely in progress: after a wait (`settleTimeoutMs` > 0)
   * every event still pending when it ran out; in a one-shot audit, those already delivered to the
   * consumer and stored longer ago than `stuckAfterMs`.
   */
  stuck: number;
  /** The grace period behind `stuck` in a one-shot audit. */
  stuckAfterMs: number;
  /** Neither applied nor dead-lettered although the consumer acknowledged them. */
  lost: number;
  /** Ids both applied and dead-lettered (counted in `applied`). */
  appliedAndDeadLettered: number;
  /** Event-log entries whose id the events stream does not hold (expired, or written by hand). */
  appliedNotAccepted: number;
  /** Event-log entries that are not valid log entries (nothing can be folded past them). */
  unreadableLogEntries: number;
  /** Live projections compared with the fold of the log up to their `lastLogSeq`. */
  projectionsChecked: number;
  /** Live projections that cannot be read, or differ from the log they claim to reflect. */
  projectionsWrong: number;
  /** Examples: `aggregate: what is wrong`. */
  projectionIssues: string[];
  consumer: { ackFloor: number; numPending: number; numAckPending: number; numRedelivered: number } | null;
  lostIds: string[];
  appliedTwiceIds: string[];
  stuckIds: string[];
  /** Nothing lost, nothing applied twice, nothing stuck. */
  ok: boolean;
}

export interface AuditOptions {
  /** Keep auditing until nothing is pending or this many ms passed (0: audit once). */
  settleTimeoutMs?: number;
  settleIntervalMs?: number;
  /**
   * One-shot audits: a pending event delivered to the consumer and stored longer ago than this is
   * stuck. Default: STUCK_AFTER_ACK_WAITS × the consumer's ack_wait.
   */
  stuckAfterMs?: number;
}

/** Default grace, in ack_waits: enough for MAX_DELIVER attempts with their back-off delays. */
export const STUCK_AFTER_ACK_WAITS = 10;

const SAMPLE = 20;

/** Audits the streams named by `config` on connection `nc`. */
export async function runAudit(
  nc: NatsConnection,
  config: NatsConfig,
  options: AuditOptions = {},
): Promise<AuditReport> {
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const deadline = Date.now() + (options.settleTimeoutMs ?? 0);
  const t = topologyOf(config);
  for (;;) {
    // A full audit reads every stream; wait on the cheap consumer info until the backlog is gone.
    while (Date.now() < deadline && (await consumerBacklog(jsm, t.eventsStream, t.consumer)) > 0) {
      await new Promise((resolve) => setTimeout(resolve, options.settleIntervalMs ?? 250));
    }
    const { report, pendingIds } = await auditOnce(js, jsm, config, options.stuckAfterMs);
    if (report.pending === 0) return report;
    if (Date.now() >= deadline) {
      // Still pending after the drain phase: stuck, whatever their age.
      if (!options.settleTimeoutMs) return report;
      return withStuck(report, pendingIds);
    }
    await new Promise((resolve) => setTimeout(resolve, options.settleIntervalMs ?? 500));
  }
}

async function consumerBacklog(jsm: JetStreamManager, stream: string, consumer: string): Promise<number> {
  try {
    const info = await jsm.consumers.info(stream, consumer);
    return info.num_pending + info.num_ack_pending;
  } catch {
    return 0; // no consumer (or no answer): nothing to wait for, the audit itself will say
  }
}

function withStuck(report: AuditReport, stuckIds: readonly string[]): AuditReport {
  return {
    ...report,
    stuck: stuckIds.length,
    stuckIds: stuckIds.slice(0, SAMPLE),
    ok:
      report.lost === 0 &&
      report.appliedTwice === 0 &&
      stuckIds.length === 0 &&
      report.unreadableLogEntries === 0 &&
      report.projectionsWrong === 0,
  };
}

async function auditOnce(
  js: JetStreamClient,
  jsm: JetStreamManager,
  config: NatsConfig,
  stuckAfterOption: number | undefined,
): Promise<{ report: AuditReport; pendingIds: string[] }> {
  const t = topologyOf(config);
  // Consumer state first: anything acknowledged by then must show up in the log we read afterwards.
  let consumer: AuditReport['consumer'] = null;
  let deliveredSeq = 0;
  let ackWaitMs = 30_000;
  try {
    const info = await jsm.consumers.info(t.eventsStream, t.consumer);
    deliveredSeq = info.delivered.stream_seq;
    ackWaitMs = info.config.ack_wait ? info.config.ack_wait / 1_000_000 : ackWaitMs;
    consumer = {
      ackFloor: info.ack_floor.stream_seq,
      numPending: info.num_pending,
      numAckPending: info.num_ack_pending,
      numRedelivered: info.num_redelivered,
    };
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound)) throw err;
  }

  const stuckAfterMs = stuckAfterOption ?? STUCK_AFTER_ACK_WAITS * ackWaitMs;
  const acceptedSeq = new Map<string, number>();
  const storedAtMs = new Map<string, number>();
  const idBySeq = new Map<number, string>();
  let acceptedMessages = 0;
  await readWholeStream(js, jsm, t.eventsStream, (msg) => {
    acceptedMessages++;
    // The event id in the body names the event; the msg id may differ (a copy stored again later).
    const id = idFromBody(msg.data) ?? msg.headers?.get('Nats-Msg-Id');
    if (!id) return;
    idBySeq.set(msg.seq, id);
    // The first stored copy is the one the consumer's ack floor speaks about.
    if (!acceptedSeq.has(id)) {
      acceptedSeq.set(id, msg.seq);
      storedAtMs.set(id, msg.info.timestampNanos / 1_000_000);
    }
  });

  const logCount = new Map<string, number>();
  const logByAggregate = new Map<string, { seq: number; entry: LogEntry }[]>();
  const brokenAggregates = new Set<string>();
  let unreadableLogEntries = 0;
  let lastLogSeq = 0;
  await readWholeStream(js, jsm, t.eventLogStream, (msg) => {
    lastLogSeq = msg.seq;
    const raw = jsonOf(msg.data);
    const id = idOf(raw);
    if (id) logCount.set(id, (logCount.get(id) ?? 0) + 1);
    const parsed = logEntrySchema.safeParse(raw);
    const aggregateId = t.aggregateOfLogSubject(msg.subject) ?? msg.subject;
    if (!parsed.success) {
      unreadableLogEntries++;
      brokenAggregates.add(aggregateId);
      return;
    }
    const entries = logByAggregate.get(aggregateId) ?? [];
    entries.push({ seq: msg.seq, entry: parsed.data });
    logByAggregate.set(aggregateId, entries);
  });

  const dlqIds = new Set<string>();
  await readWholeStream(js, jsm, t.dlqStream, (msg) => {
    const seq = Number(msg.headers?.get(DlqHeaders.streamSeq) ?? NaN);
    const id = idBySeq.get(seq) ?? msg.headers?.get(DlqHeaders.originalMsgId);
    if (id) dlqIds.add(id);
  });

  // Each live projection must equal the fold of the log up to the entry it says it reflects (a
  // projection behind the log is work in progress; one past what we read is newer than this audit).
  const projectionIssues: string[] = [];
  let projectionsChecked = 0;
  const projections = await new Kvm(js).open(t.projectionBucket);
  for await (const aggregateId of await projections.keys()) {
    if (isWriterMarkKey(aggregateId)) continue;
    const stored = await projections.get(aggregateId);
    if (!stored || stored.operation !== 'PUT') continue;
    const parsed = projectionSchema.safeParse(jsonOf(stored.value));
    if (!parsed.success) {
      projectionIssues.push(`${aggregateId}: unreadable (${parsed.error.issues[0]?.message ?? 'not JSON'})`);
      continue;
    }
    const live = parsed.data;
    if (live.lastLogSeq > lastLogSeq || brokenAggregates.has(aggregateId)) continue;
    projectionsChecked++;
    let folded = emptyProjection(aggregateId);
    for (const { seq, entry } of logByAggregate.get(aggregateId) ?? [])
      if (seq <= live.lastLogSeq) folded = foldEntry(folded, entry, seq);
    const differ = projectionDiff(folded, live);
    if (differ.length > 0)
      projectionIssues.push(`${aggregateId}: differs from its log in ${differ.join(', ')}`);
  }

  const ackFloor = consumer?.ackFloor ?? 0;
  let applied = 0;
  let deadLettered = 0;
  let appliedAndDeadLettered = 0;
  const lostIds: string[] = [];
  const pendingIds: string[] = [];
  const stuckIds: string[] = [];
  const now = Date.now();
  for (const [id, seq] of acceptedSeq) {
    const inLog = (logCount.get(id) ?? 0) > 0;
    const inDlq = dlqIds.has(id);
    if (inLog) {
      applied++;
      if (inDlq) appliedAndDeadLettered++;
    } else if (inDlq) deadLettered++;
    else if (seq > ackFloor) {
      pendingIds.push(id);
      if (seq <= deliveredSeq && now - (storedAtMs.get(id) ?? now) > stuckAfterMs) stuckIds.push(id);
    } else lostIds.push(id);
  }
  const appliedTwiceIds = [...logCount].filter(([, n]) => n > 1).map(([id]) => id);
  const appliedNotAccepted = [...logCount.keys()].filter((id) => !acceptedSeq.has(id)).length;
  const report: AuditReport = {
    accepted: acceptedSeq.size,
    acceptedMessages,
    applied,
    appliedTwice: appliedTwiceIds.length,
    deadLettered,
    pending: pendingIds.length,
    stuck: 0,
    stuckAfterMs,
    lost: lostIds.length,
    appliedAndDeadLettered,
    appliedNotAccepted,
    unreadableLogEntries,
    projectionsChecked,
    projectionsWrong: projectionIssues.length,
    projectionIssues: projectionIssues.slice(0, SAMPLE),
    consumer,
    lostIds: lostIds.slice(0, SAMPLE),
    appliedTwiceIds: appliedTwiceIds.slice(0, SAMPLE),
    stuckIds: [],
    ok: false,
  };
  return { report: withStuck(report, stuckIds), pendingIds };
}

function jsonOf(data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
}

function idOf(body: unknown): string | undefined {
  if (typeof body === 'object' && body !== null && 'id' in body && typeof body.id === 'string')
    return body.id;
  return undefined;
}

function idFromBody(data: Uint8Array): string | undefined {
  return idOf(jsonOf(data));
}

export function formatAudit(r: AuditReport): string {
  const lines = [
    `accepted        ${r.accepted}${r.acceptedMessages !== r.accepted ? ` (${r.acceptedMessages} messages)` : ''}`,
    `applied         ${r.applied}`,
    `dead-lettered   ${r.deadLettered}`,
    `pending         ${r.pending}`,
    `stuck           ${r.stuck}${r.stuckIds.length ? `  e.g. ${r.stuckIds.slice(0, 5).join(', ')}` : ''}`,
    `lost            ${r.lost}${r.lostIds.length ? `  e.g. ${r.lostIds.slice(0, 5).join(', ')}` : ''}`,
    `applied twice   ${r.appliedTwice}${r.appliedTwiceIds.length ? `  e.g. ${r.appliedTwiceIds.slice(0, 5).join(', ')}` : ''}`,
  ];
  if (r.appliedAndDeadLettered) lines.push(`applied and dead-lettered ${r.appliedAndDeadLettered}`);
  if (r.appliedNotAccepted) lines.push(`applied, not in the events stream ${r.appliedNotAccepted}`);
  if (r.unreadableLogEntries) lines.push(`unreadable log entries ${r.unreadableLogEntries}`);
  lines.push(
    `projections     ${r.projectionsChecked} checked against the log, ${r.projectionsWrong} wrong${
      r.projectionIssues.length ? `  e.g. ${r.projectionIssues.slice(0, 3).join('; ')}` : ''
    }`,
  );
  if (r.consumer) {
    lines.push(
      `consumer        ack floor ${r.consumer.ackFloor}, pending ${r.consumer.numPending}, ack pending ${r.consumer.numAckPending}, redelivered ${r.consumer.numRedelivered}`,
    );
  } else lines.push('consumer        not found');
  lines.push(
    r.ok
      ? 'verdict         OK: nothing lost, nothing applied twice, nothing stuck'
      : `verdict         FAIL${r.stuck ? ` (stuck: pending after the wait, or delivered and older than ${Math.round(r.stuckAfterMs / 1000)} s)` : ''}`,
  );
  return lines.join('\n');
}
