// The report step of a reconcile: the status an EventConsumer shows, written through the status
// subresource only when it changed (or lastPollTime is getting old), and the metrics. Building
// the status is pure; writing it is the one I/O here.
import { eventConsumerPath } from '../api/v1alpha1/group-version.js';
import type { Condition, EventConsumerObject, EventConsumerStatus } from '../api/v1alpha1/event-consumer.js';
import type { EventConsumerSpec } from '../api/v1alpha1/event-consumer.js';
import { isNotFound, type KubeApi } from '../kube/api-client.js';
import type { ScaleReading } from '../kube/scale-client.js';
import type { OperatorMetrics } from '../observability/metrics.js';
import { setConditions, type ConditionUpdate } from './conditions.js';
import type { StatusMemory } from './consumer-state.js';
import type { Verdict } from './decide.js';

/** The status after a poll that observed the world and decided (scaled, if scaledAt is set). */
export function statusAfterPoll(
  base: EventConsumerStatus,
  generation: number | undefined,
  scale: ScaleReading,
  verdict: Verdict,
  now: number,
  scaled: boolean,
): EventConsumerStatus {
  const status: EventConsumerStatus = {
    ...base,
    observedGeneration: generation,
    currentReplicas: scale.statusReplicas,
  };
  if (verdict.read) {
    const { sample, decision } = verdict.read;
    status.backlog = {
      pending: sample.pending,
      ackPending: sample.ackPending,
      redelivered: sample.redelivered,
      waiting: sample.waiting,
      total: sample.pending + sample.ackPending,
    };
    status.rates = compact({
      arrivalPerSecond: round(decision.rates.arrivalPerSecond),
      processingPerSecond: round(decision.rates.processingPerSecond),
      perReplicaPerSecond: round(decision.rates.perReplicaPerSecond),
    });
    status.forecast = decision.forecast
      ? {
          arrivalPerSecond: round(decision.forecast.arrivalPerSecond) ?? 0,
          relativeError: round(decision.forecast.relativeError) ?? 0,
          used: decision.forecast.used,
        }
      : undefined;
    if (decision.history.lastActiveAt !== undefined)
      status.lastActiveTime = new Date(decision.history.lastActiveAt).toISOString();
    status.lastBacklogReadTime = new Date(now).toISOString();
  }
  status.lastPollTime = new Date(now).toISOString();
  if (scaled) status.lastScaleTime = new Date(now).toISOString();
  status.desiredReplicas = verdict.desired;
  status.consecutiveFailures = verdict.memory.failures;
  return status;
}

/** Sets the per-EventConsumer gauges after a poll that observed and decided. */
export function recordPollMetrics(
  metrics: OperatorMetrics,
  labels: { namespace: string; name: string },
  spec: EventConsumerSpec,
  scale: ScaleReading,
  verdict: Verdict,
): void {
  if (verdict.read) {
    const { sample, decision } = verdict.read;
    metrics.backlogMessages.set(labels, sample.pending + sample.ackPending);
    metrics.pendingMessages.set(labels, sample.pending);
    metrics.ackPendingMessages.set(labels, sample.ackPending);
    metrics.redeliveredMessages.set(labels, sample.redelivered);
    if (decision.rates.arrivalPerSecond !== undefined)
      metrics.arrivalRate.set(labels, decision.rates.arrivalPerSecond);
    if (decision.rates.processingPerSecond !== undefined)
      metrics.processingRate.set(labels, decision.rates.processingPerSecond);
  }
  if (verdict.errorReason !== undefined)
    metrics.countError(labels.namespace, labels.name, verdict.errorReason);
  metrics.fallbackActive.set(labels, verdict.memory.fallbackActive ? 1 : 0);
  metrics.desiredReplicas.set(labels, verdict.desired);
  metrics.backlogPerReplicaTarget.set(labels, spec.backlogPerReplica);
  metrics.currentReplicas.set(labels, scale.statusReplicas);
}

export interface StatusWrite {
  api: KubeApi;
  namespace: string;
  name: string;
  obj: EventConsumerObject;
  memory: StatusMemory;
  status: EventConsumerStatus;
  updates: ConditionUpdate[];
  now: number;
  /** Rewrite an otherwise unchanged status this often, so lastPollTime stays meaningful. */
  refreshMs: number;
  /** Told the conditions of every poll (jetscale_eventconsumer_condition), written or not. */
  metrics?: Pick<OperatorMetrics, 'setConditions'>;
  /** Write a status whose readings alone changed (backlog, rates, messages) at most this often. */
  readingsRefreshMs: number;
}

/**
 * Writes status when what users act on changed (replicas, condition statuses and reasons,
 * failures, generation); when only readings changed (backlog, rates, forecast, messages, times) at
 * most every readingsRefreshMs — a busy EventConsumer's numbers change at every poll, and the
 * metrics carry them at full rate; and at least every refreshMs. Remembers what it wrote.
 */
export async function writeStatus(w: StatusWrite): Promise<boolean> {
  const { memory, obj, now } = w;
  const next: EventConsumerStatus = {
    ...w.status,
    conditions: setConditions(
      memory.written?.conditions ?? obj.status?.conditions,
      w.updates,
      new Date(now).toISOString(),
      obj.metadata?.generation,
    ),
  };
  w.metrics?.setConditions(w.namespace, w.name, next.conditions ?? []);
  const { state, all } = statusFingerprint(next);
  const age = memory.writtenAt === undefined ? Infinity : now - memory.writtenAt;
  const due =
    state !== memory.comparableState ||
    (all !== memory.comparable && age >= w.readingsRefreshMs) ||
    age >= w.refreshMs * (1 + memory.refreshJitter);
  if (!due) return false;
  try {
    await w.api.request('PATCH', `${eventConsumerPath(w.namespace, w.name)}/status`, {
      body: { status: nullForUndefined(next) },
    });
    memory.comparable = all;
    memory.comparableState = state;
    memory.writtenAt = now;
    memory.written = next;
    return true;
  } catch (err) {
    if (isNotFound(err)) return false; // deleted meanwhile; the delete event cleans up
    throw err;
  }
}

/**
 * A status as compared between polls. `all`: everything but the poll times and condition
 * transition times. `state`: also without the readings that change at every poll of a busy EventConsumer.
 */
export function statusFingerprint(status: EventConsumerStatus): { state: string; all: string } {
  const all = stableStringify(
    nullForUndefined({
      ...status,
      lastPollTime: undefined,
      lastBacklogReadTime: undefined,
      conditions: status.conditions?.map(withoutTime) as Condition[] | undefined,
    }),
  );
  const state = stableStringify(
    nullForUndefined({
      ...status,
      backlog: undefined,
      rates: undefined,
      forecast: undefined,
      lastActiveTime: undefined,
      lastPollTime: undefined,
      lastBacklogReadTime: undefined,
      conditions: status.conditions?.map(({ type, status: s, reason }) => ({ type, status: s, reason })) as
        Condition[] | undefined,
    }),
  );
  return { state, all };
}

/** JSON with object keys sorted: the API server returns status keys in its own order. */
function stableStringify(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

function withoutTime(c: Condition): Omit<Condition, 'lastTransitionTime'> {
  const { lastTransitionTime: _ignored, ...rest } = c;
  return rest;
}

function round(n: number | undefined): number | undefined {
  return n === undefined || !Number.isFinite(n) ? undefined : Math.round(n * 1000) / 1000;
}

function compact<T extends Record<string, unknown>>(obj: T): T {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as T;
}

/** JSON merge patch removes a field only when it is null; absent optional fields become null. */
function nullForUndefined(status: EventConsumerStatus): Record<string, unknown> {
  const keys: Array<keyof EventConsumerStatus> = [
    'observedGeneration',
    'currentReplicas',
    'desiredReplicas',
    'backlog',
    'rates',
    'forecast',
    'lastScaleTime',
    'lastActiveTime',
    'lastPollTime',
    'lastBacklogReadTime',
    'consecutiveFailures',
    'conditions',
  ];
  return Object.fromEntries(keys.map((k) => [k, status[k] ?? null]));
}
