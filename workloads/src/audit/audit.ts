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
  /** Neither applied nor dead-lettered although the consumer acknowledged them. */
  lost: number;
  /** Ids both applied and dead-lettered (counted in `applied`). */
  appliedAndDeadLettered: number;
  /** Event-log entries whose id the events stream does not hold (expired, or written by hand). */
  appliedNotAccepted: number;
  /** Keys in the processed-id bucket. */
  processedMarks: number;
  consumer: { ackFloor: number; numPending: number; numAckPending: number; numRedelivered: number } | null;
  lostIds: string[];
  appliedTwiceIds: string[];
  /** Nothing lost and nothing applied twice. */
  ok: boolean;
}

export interface AuditOptions {
  /** Keep auditing until nothing is pending or this many ms passed (0: audit once). */
  settleTimeoutMs?: number;
  settleIntervalMs?: number;
}

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
    const report = await auditOnce(js, jsm, config);
    if (report.pending === 0 || Date.now() >= deadline) return report;
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

async function auditOnce(
  js: JetStreamClient,
  jsm: JetStreamManager,
  config: NatsConfig,
): Promise<AuditReport> {
  const t = topologyOf(config);
  // Consumer state first: anything acknowledged by then must show up in the log we read afterwards.
  let consumer: AuditReport['consumer'] = null;
  try {
    const info = await jsm.consumers.info(t.eventsStream, t.consumer);
    consumer = {
      ackFloor: info.ack_floor.stream_seq,
      numPending: info.num_pending,
      numAckPending: info.num_ack_pending,
      numRedelivered: info.num_redelivered,
    };
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound)) throw err;
  }

  const acceptedSeq = new Map<string, number>();
  const idBySeq = new Map<number, string>();
  let acceptedMessages = 0;
  await readWholeStream(js, jsm, t.eventsStream, (msg) => {
    acceptedMessages++;
    // The event id in the body names the event; the msg id may differ (a copy stored again later).
    const id = idFromBody(msg.data) ?? msg.headers?.get('Nats-Msg-Id');
    if (!id) return;
    idBySeq.set(msg.seq, id);
    // The first stored copy is the one the consumer's ack floor speaks about.
    if (!acceptedSeq.has(id)) acceptedSeq.set(id, msg.seq);
  });

  const logCount = new Map<string, number>();
  await readWholeStream(js, jsm, t.eventLogStream, (msg) => {
    const id = idFromBody(msg.data);
    if (id) logCount.set(id, (logCount.get(id) ?? 0) + 1);
  });

  const dlqIds = new Set<string>();
  await readWholeStream(js, jsm, t.dlqStream, (msg) => {
    const seq = Number(msg.headers?.get(DlqHeaders.streamSeq) ?? NaN);
    const id = idBySeq.get(seq) ?? msg.headers?.get(DlqHeaders.originalMsgId);
    if (id) dlqIds.add(id);
  });

  let processedMarks = 0;
  const kv = await new Kvm(js).open(t.processedBucket);
  for await (const _key of await kv.keys()) processedMarks++;

  const ackFloor = consumer?.ackFloor ?? 0;
  let applied = 0;
  let deadLettered = 0;
  let pending = 0;
  let appliedAndDeadLettered = 0;
  const lostIds: string[] = [];
  for (const [id, seq] of acceptedSeq) {
    const inLog = (logCount.get(id) ?? 0) > 0;
    const inDlq = dlqIds.has(id);
    if (inLog) {
      applied++;
      if (inDlq) appliedAndDeadLettered++;
    } else if (inDlq) deadLettered++;
    else if (seq > ackFloor) pending++;
    else lostIds.push(id);
  }
  const appliedTwiceIds = [...logCount].filter(([, n]) => n > 1).map(([id]) => id);
  const appliedNotAccepted = [...logCount.keys()].filter((id) => !acceptedSeq.has(id)).length;
  return {
    accepted: acceptedSeq.size,
    acceptedMessages,
    applied,
    appliedTwice: appliedTwiceIds.length,
    deadLettered,
    pending,
    lost: lostIds.length,
    appliedAndDeadLettered,
    appliedNotAccepted,
    processedMarks,
    consumer,
    lostIds: lostIds.slice(0, SAMPLE),
    appliedTwiceIds: appliedTwiceIds.slice(0, SAMPLE),
    ok: lostIds.length === 0 && appliedTwiceIds.length === 0,
  };
}

function idFromBody(data: Uint8Array): string | undefined {
  try {
    const body: unknown = JSON.parse(new TextDecoder().decode(data));
    if (typeof body === 'object' && body !== null && 'id' in body && typeof body.id === 'string')
      return body.id;
  } catch {
    // not JSON: no id to report
  }
  return undefined;
}

export function formatAudit(r: AuditReport): string {
  const lines = [
    `accepted        ${r.accepted}${r.acceptedMessages !== r.accepted ? ` (${r.acceptedMessages} messages)` : ''}`,
    `applied         ${r.applied}`,
    `dead-lettered   ${r.deadLettered}`,
    `pending         ${r.pending}`,
    `lost            ${r.lost}${r.lostIds.length ? `  e.g. ${r.lostIds.slice(0, 5).join(', ')}` : ''}`,
    `applied twice   ${r.appliedTwice}${r.appliedTwiceIds.length ? `  e.g. ${r.appliedTwiceIds.slice(0, 5).join(', ')}` : ''}`,
  ];
  if (r.appliedAndDeadLettered) lines.push(`applied and dead-lettered ${r.appliedAndDeadLettered}`);
  if (r.appliedNotAccepted) lines.push(`applied, not in the events stream ${r.appliedNotAccepted}`);
  lines.push(`processed marks ${r.processedMarks}`);
  if (r.consumer) {
    lines.push(
      `consumer        ack floor ${r.consumer.ackFloor}, pending ${r.consumer.numPending}, ack pending ${r.consumer.numAckPending}, redelivered ${r.consumer.numRedelivered}`,
    );
  } else lines.push('consumer        not found');
  lines.push(r.ok ? 'verdict         OK: nothing lost, nothing applied twice' : 'verdict         FAIL');
  return lines.join('\n');
}
