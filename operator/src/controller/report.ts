// The report step of a reconcile: the status an EventConsumer shows, written through the status
// subresource only when it changed (or lastPollTime is getting old), and the metrics. Building
// the status is pure; writing it is the one I/O here.
import { eventConsumerPath } from '../api/v1alpha1/group-version.js';
import type {
  BacklogStatus,
  Condition,
  ConsumerSpec,
  ConsumerStatus,
  EventConsumerObject,
  EventConsumerSpec,
  EventConsumerStatus,
  RatesStatus,
} from '../api/v1alpha1/event-consumer.js';
import { isNotFound, type KubeApi } from '../kube/api-client.js';
import type { ScaleReading } from '../kube/scale-client.js';
import { wallTimeOf, type ClockReading } from '../clock.js';
import type { ConsumerReadingMetrics, OperatorMetrics } from '../observability/metrics.js';
import type { BacklogSample } from '../scaling/types.js';
import {
  capText,
  MAX_CONDITION_MESSAGE,
  MAX_CONDITION_REASON,
  setConditions,
  type ConditionUpdate,
} from './conditions.js';
import type { StatusMemory } from './consumer-state.js';
import type { ConsumersVerdict, Verdict } from './decide.js';

/**
 * What the status says about time, all on the wall clock (people read it): when this poll ran, and
 * when activity was last seen (see lastActiveTime).
 */
export interface StatusTimes {
  wall: number;
  lastActiveTime?: string;
}

/**
 * The wall-clock time of the last activity the policy saw (its history keeps it on the monotonic
 * clock). It is converted once, at the poll that saw it, and remembered: converting again at every
 * poll would move it by however far the two clocks drift apart, and rewrite an idle status.
 */
export function lastActiveTime(
  memory: StatusMemory,
  activeAt: number | undefined,
  now: ClockReading,
): string | undefined {
  if (activeAt === undefined) return undefined;
  if (memory.lastActive?.at !== activeAt)
    memory.lastActive = { at: activeAt, time: new Date(wallTimeOf(activeAt, now)).toISOString() };
  return memory.lastActive.time;
}

/** The status after a poll that observed the world and decided (and scaled, when `scaled`). */
export function statusAfterPoll(
  base: EventConsumerStatus,
  generation: number | undefined,
  scale: ScaleReading,
  verdict: ConsumersVerdict,
  times: StatusTimes,
  scaled: boolean,
): EventConsumerStatus {
  const status: EventConsumerStatus = {
    ...base,
    observedGeneration: generation,
    currentReplicas: scale.statusReplicas,
  };
  const at = new Date(times.wall).toISOString();
  const entries = verdict.consumers.map(({ consumer, verdict: v }) =>
    consumerStatus(
      base.consumers?.find((e) => e.name === consumer.name),
      consumer,
      v,
      at,
    ),
  );
  status.consumers = entries;
  const read = verdict.consumers.flatMap(({ verdict: v }) => (v.read ? [v.read] : []));
  if (read.length > 0) {
    // The EventConsumer's numbers: with one consumer its own, with several the sums of each
    // consumer's last good reading (a consumer not read this poll counts with its last numbers).
    const withBacklog = entries.flatMap((e) => (e.backlog ? [e.backlog] : []));
    const sum = (f: (b: BacklogStatus) => number): number => withBacklog.reduce((n, b) => n + f(b), 0);
    status.backlog = {
      pending: sum((b) => b.pending),
      ackPending: sum((b) => b.ackPending),
      redelivered: sum((b) => b.redelivered),
      waiting: sum((b) => b.waiting),
      total: sum((b) => b.total),
    };
    if (entries.length === 1) {
      status.rates = entries[0]?.rates;
      const decision = read[0]?.decision;
      status.forecast = decision?.forecast
        ? {
            arrivalPerSecond: round(decision.forecast.arrivalPerSecond) ?? 0,
            relativeError: round(decision.forecast.relativeError) ?? 0,
            used: decision.forecast.used,
          }
        : undefined;
    } else {
      // Arrivals and processing add up over consumers; one replica's capacity is per consumer.
      const total = (f: (r: RatesStatus) => number | undefined): number | undefined => {
        const values = entries.flatMap((e) =>
          e.rates && f(e.rates) !== undefined ? [f(e.rates) as number] : [],
        );
        return values.length === 0 ? undefined : round(values.reduce((n, v) => n + v, 0));
      };
      status.rates = compact({
        arrivalPerSecond: total((r) => r.arrivalPerSecond),
        processingPerSecond: total((r) => r.processingPerSecond),
      });
      status.forecast = undefined;
    }
    if (times.lastActiveTime !== undefined) status.lastActiveTime = times.lastActiveTime;
    status.lastBacklogReadTime = at;
  }
  status.lastPollTime = at;
  if (scaled) status.lastScaleTime = at;
  status.desiredReplicas = verdict.desired;
  status.consecutiveFailures = verdict.failures;
  return status;
}

/** One consumer's status entry: this poll's reading, or its last good numbers when it failed. */
function consumerStatus(
  base: ConsumerStatus | undefined,
  consumer: ConsumerSpec,
  v: Verdict,
  at: string,
): ConsumerStatus {
  const ready = v.conditions.find((c) => c.type === 'Ready');
  const entry: ConsumerStatus = {
    name: consumer.name,
    stream: consumer.stream,
    consumer: consumer.consumer,
    ready: v.read ? 'True' : 'False',
    reason: capText(ready?.reason ?? v.errorReason ?? 'Unknown', MAX_CONDITION_REASON),
    message: capText(ready?.message ?? '', MAX_CONDITION_MESSAGE),
    desiredReplicas: v.desired,
    consecutiveFailures: v.memory.failures,
  };
  const same = base !== undefined && base.stream === consumer.stream && base.consumer === consumer.consumer;
  if (v.read) {
    const { sample, decision } = v.read;
    entry.backlog = {
      pending: sample.pending,
      ackPending: sample.ackPending,
      redelivered: sample.redelivered,
      waiting: sample.waiting,
      total: sample.pending + sample.ackPending,
    };
    entry.rates = compact({
      arrivalPerSecond: round(decision.rates.arrivalPerSecond),
      processingPerSecond: round(decision.rates.processingPerSecond),
      perReplicaPerSecond: round(decision.rates.perReplicaPerSecond),
    });
    entry.lastBacklogReadTime = at;
  } else if (same) {
    if (base.backlog) entry.backlog = base.backlog;
    if (base.rates) entry.rates = base.rates;
    if (base.lastBacklogReadTime) entry.lastBacklogReadTime = base.lastBacklogReadTime;
  }
  return entry;
}

/** Sets the per-EventConsumer gauges after a poll that observed and decided. */
export function recordPollMetrics(
  metrics: OperatorMetrics,
  labels: { namespace: string; name: string },
  spec: EventConsumerSpec,
  scale: ScaleReading,
  verdict: ConsumersVerdict,
): void {
  const read = verdict.consumers.flatMap(({ verdict: v }) => (v.read ? [v.read] : []));
  if (read.length > 0) {
    const sum = (f: (sample: BacklogSample) => number): number => read.reduce((n, r) => n + f(r.sample), 0);
    metrics.backlogMessages.set(
      labels,
      sum((s) => s.pending + s.ackPending),
    );
    metrics.pendingMessages.set(
      labels,
      sum((s) => s.pending),
    );
    metrics.ackPendingMessages.set(
      labels,
      sum((s) => s.ackPending),
    );
    metrics.redeliveredMessages.set(
      labels,
      sum((s) => s.redelivered),
    );
    const arrival = read.flatMap((r) =>
      r.decision.rates.arrivalPerSecond === undefined ? [] : [r.decision.rates.arrivalPerSecond],
    );
    if (arrival.length > 0)
      metrics.arrivalRate.set(
        labels,
        arrival.reduce((n, v) => n + v, 0),
      );
    const processing = read.flatMap((r) =>
      r.decision.rates.processingPerSecond === undefined ? [] : [r.decision.rates.processingPerSecond],
    );
    if (processing.length > 0)
      metrics.processingRate.set(
        labels,
        processing.reduce((n, v) => n + v, 0),
      );
    const readiness = read.find((r) => r.decision.readiness !== undefined)?.decision.readiness;
    if (readiness !== undefined) {
      metrics.replicasNotReady.set(labels, readiness.overdue);
    }
  }
  metrics.setConsumers(
    labels.namespace,
    labels.name,
    verdict.consumers.map(({ consumer, verdict: v }) => {
      const reading: ConsumerReadingMetrics = {
        consumer: consumer.name,
        readable: v.read !== undefined,
        desired: v.desired,
      };
      if (v.read) reading.backlog = v.read.sample.pending + v.read.sample.ackPending;
      return reading;
    }),
  );
  if (verdict.errorReason !== undefined)
    metrics.countError(labels.namespace, labels.name, verdict.errorReason);
  metrics.fallbackActive.set(labels, verdict.fallbackActive ? 1 : 0);
  metrics.desiredReplicas.set(labels, verdict.desired);
  metrics.backlogPerReplicaTarget.set(labels, spec.backlogPerReplica);
  metrics.currentReplicas.set(labels, scale.statusReplicas);
  if (scale.readyReplicas !== undefined) metrics.readyReplicas.set(labels, scale.readyReplicas);
  else metrics.readyReplicas.remove(labels);
}

export interface StatusWrite {
  api: KubeApi;
  namespace: string;
  name: string;
  obj: EventConsumerObject;
  memory: StatusMemory;
  status: EventConsumerStatus;
  updates: ConditionUpdate[];
  /** Both clocks at this poll: the monotonic one for how long ago the last write was, the wall one for condition times. */
  now: ClockReading;
  /** Rewrite an otherwise unchanged status this often, so lastPollTime stays meaningful. */
  refreshMs: number;
  /** Told the conditions of every poll (jetscale_eventconsumer_condition), written or not. */
  metrics?: Pick<OperatorMetrics, 'setConditions'>;
  /** Write a status whose readings alone changed (backlog, rates, messages) at most this often. */
  readingsRefreshMs: number;
}

/**
 * Writes status when what users act on changed (replicas, condition statuses and reasons, failing
 * or not, generation); when only readings changed (backlog, rates, forecast, messages, times, the
 * count of failed polls) at
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
      new Date(now.wall).toISOString(),
      obj.metadata?.generation,
    ),
  };
  w.metrics?.setConditions(w.namespace, w.name, next.conditions ?? []);
  const { state, all } = statusFingerprint(next);
  const age = memory.writtenAt === undefined ? Infinity : now.monotonic - memory.writtenAt;
  const due =
    state !== memory.comparableState ||
    (all !== memory.comparable && age >= w.readingsRefreshMs * (1 + memory.refreshJitter)) ||
    age >= w.refreshMs * (1 + memory.refreshJitter);
  if (!due) return false;
  try {
    await w.api.request('PATCH', `${eventConsumerPath(w.namespace, w.name)}/status`, {
      body: { status: nullForUndefined(next) },
    });
    memory.comparable = all;
    memory.comparableState = state;
    memory.writtenAt = now.monotonic;
    memory.written = next;
    return true;
  } catch (err) {
    if (isNotFound(err)) return false; // deleted meanwhile; the delete event cleans up
    throw err;
  }
}

/**
 * A status as compared between polls. `all`: everything but the poll times and condition
 * transition times. `state`: also without the readings that change at every poll — of a busy
 * EventConsumer (backlog, rates), or of one whose NATS is down (the count of failed polls: only
 * whether there are any is state; crossing fallback's threshold changes the Fallback condition,
 * which is written at once). Twenty EventConsumers on a dead NATS writing status at every poll
 * would hold the shared workers that the healthy ones need.
 */
export function statusFingerprint(status: EventConsumerStatus): { state: string; all: string } {
  const all = stableStringify(
    nullForUndefined({
      ...status,
      lastPollTime: undefined,
      lastBacklogReadTime: undefined,
      consumers: status.consumers?.map((c) => ({ ...c, lastBacklogReadTime: undefined })),
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
      consecutiveFailures: Math.min(1, status.consecutiveFailures ?? 0),
      consumers: status.consumers?.map(({ name, ready, reason, desiredReplicas, consecutiveFailures }) => ({
        name,
        ready,
        reason,
        desiredReplicas,
        consecutiveFailures: Math.min(1, consecutiveFailures ?? 0),
      })) as ConsumerStatus[] | undefined,
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
    'consumers',
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
