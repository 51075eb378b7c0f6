// The report step of a reconcile: the status an EventConsumer shows and the metrics. Building the
// status and deciding whether (and in which lane) it is due are pure; the writing is
// status-writer.ts's, off the reconcile workers.
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
import type { ScaleReading } from '../kube/scale-client.js';
import { wallTimeOf, type ClockReading } from '../clock.js';
import type { ConsumerReadingMetrics, OperatorMetrics } from '../observability/metrics.js';
import { backlogOf } from '../scaling/backlog.js';
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
import { atCapStatus } from './carried-at-cap.js';
import { panicHoldStatus, panicWindowState } from './carried-panic.js';
import { scaleUpsAfter, type ScaleRecord } from './scale-up-record.js';
import type { StatusLane } from './status-writer.js';

export type { ScaleRecord } from './scale-up-record.js';

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

/**
 * `last` (the status last written) as the base of a status for `generation`. The rates of each
 * consumer entry are kept only within one generation: a figure measured under another spec
 * (servers, stream, consumer, target) says nothing about this one, and a status that names this
 * generation with it would let a new leader carry that per-replica capacity over
 * (consumer-state.ts carriedFailures). Backlog numbers and read times stay (what was last seen).
 */
export function statusForGeneration(
  last: EventConsumerStatus,
  generation: number | undefined,
): EventConsumerStatus {
  const status: EventConsumerStatus = { ...last, observedGeneration: generation };
  if (last.observedGeneration === generation || last.consumers === undefined) return status;
  status.consumers = last.consumers.map(
    ({
      rates: _measuredUnderAnotherSpec,
      replicasOverdue: _underAnotherDeadline,
      maxAckPendingCap: _learntUnderAnotherSpec,
      panicHoldSeconds: _panickedUnderAnotherSpec,
      ...entry
    }) => entry,
  );
  return status;
}

/** The status after a poll that observed the world and decided (and scaled, when `scaledTarget` says). */
export function statusAfterPoll(
  base: EventConsumerStatus,
  generation: number | undefined,
  scale: ScaleReading,
  verdict: ConsumersVerdict,
  times: StatusTimes,
  /** The target's key (observe.ts targetKey) when this poll scaled it. */
  scaledTarget: string | undefined,
  /**
   * The scale-up step policies' longest period and this poll's change, for status.scaleUps
   * (scale-up-record.ts). Absent: the last status's record is kept as it was.
   */
  steps?: ScaleRecord,
): EventConsumerStatus {
  const status: EventConsumerStatus = {
    ...statusForGeneration(base, generation),
    currentReplicas: scale.statusReplicas,
  };
  const at = new Date(times.wall).toISOString();
  const entries = verdict.consumers.map(({ consumer, verdict: v }) =>
    consumerStatus(
      status.consumers?.find((e) => e.name === consumer.name),
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
      ...(withBacklog.some((b) => b.upstreamLag !== undefined)
        ? { upstreamLag: sum((b) => b.upstreamLag ?? 0) }
        : {}),
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
  if (steps !== undefined) status.scaleUps = scaleUpsAfter(base, scaledTarget, steps, times.wall);
  if (scaledTarget !== undefined) {
    status.lastScaleTime = at;
    status.lastScaleTarget = scaledTarget;
  }
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
    const backlog = backlogOf(sample);
    entry.backlog = {
      pending: backlog.pending,
      ackPending: backlog.ackPending,
      redelivered: sample.redelivered,
      waiting: sample.waiting,
      ...(backlog.upstreamLag !== undefined ? { upstreamLag: backlog.upstreamLag } : {}),
      total: backlog.total,
    };
    entry.rates = compact({
      arrivalPerSecond: round(decision.rates.arrivalPerSecond),
      processingPerSecond: round(decision.rates.processingPerSecond),
      perReplicaPerSecond: round(decision.rates.perReplicaPerSecond),
      perReplicaLowEndOnly: decision.rates.perReplicaLowEndOnly === true ? true : undefined,
      perReplicaLowEndHeld: decision.rates.perReplicaLowEndHeld === true ? true : undefined,
      arrivalsFrom: arrivalsFromOf(sample),
      handlersInHand:
        decision.rates.handlersInHand === undefined
          ? undefined
          : {
              seconds: round(decision.rates.handlersInHand.seconds) ?? 0,
              perReplica: decision.rates.handlersInHand.perReplica,
              from: decision.rates.handlersInHand.from,
              to: decision.rates.handlersInHand.to,
            },
      handlersFailing:
        decision.rates.handlersFailing === undefined
          ? undefined
          : {
              seconds: round(decision.rates.handlersFailing.seconds) ?? 0,
              replicas: decision.rates.handlersFailing.replicas,
            },
      handlersSlowerThanMaxAge:
        decision.handlersSlowerThanMaxAge === undefined
          ? undefined
          : {
              seconds: round(Math.max(0, sample.at - decision.handlersSlowerThanMaxAge.since) / 1000) ?? 0,
              replicas: decision.handlersSlowerThanMaxAge.replicas,
              maxAgeSeconds: decision.handlersSlowerThanMaxAge.maxAgeSeconds,
            },
    });
    const readiness = decision.readiness;
    if (readiness !== undefined && readiness.overdue > 0)
      entry.replicasOverdue = { asked: readiness.asked, ready: readiness.ready, overdue: readiness.overdue };
    const atCap = atCapStatus(decision.history, sample);
    if (atCap !== undefined) entry.maxAckPendingCap = atCap;
    const panicHold = panicHoldStatus(decision.history, sample);
    if (panicHold !== undefined) entry.panicHoldSeconds = panicHold;
    entry.lastBacklogReadTime = at;
  } else if (same) {
    if (base.backlog) entry.backlog = base.backlog;
    if (base.rates) entry.rates = base.rates;
    if (base.replicasOverdue) entry.replicasOverdue = base.replicasOverdue;
    if (base.maxAckPendingCap) entry.maxAckPendingCap = base.maxAckPendingCap;
    // (As of its read time, kept with it: read back, a window already over is not taken.)
    if (base.panicHoldSeconds !== undefined) entry.panicHoldSeconds = base.panicHoldSeconds;
    if (base.lastBacklogReadTime) entry.lastBacklogReadTime = base.lastBacklogReadTime;
  }
  return entry;
}

/** Longest status.consumers[].rates.arrivalsFrom (the CRD's maxLength). */
export const MAX_ARRIVALS_FROM = 1024;

/**
 * For a filtered consumer whose stream's info was read: where its arrivals are read from
 * (BacklogSample.filterStored), status.rates.arrivalsFrom.
 */
export function arrivalsFromOf(sample: BacklogSample): string | undefined {
  const counted = sample.filterStored;
  if (sample.filtered !== true || counted === undefined) return undefined;
  if ('count' in counted) return "the stream's count on the filter subjects";
  return capText(
    `the consumer's counters, where a retry hiding behind the other subjects' messages reads as an arrival: ${counted.unknown}`,
    MAX_ARRIVALS_FROM,
  );
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
    // The backlog status and the policy count (backlogOf): a mirror's lag included, and on its own.
    metrics.backlogMessages.set(
      labels,
      sum((s) => backlogOf(s).total),
    );
    metrics.pendingMessages.set(
      labels,
      sum((s) => backlogOf(s).pending),
    );
    const lags = read.flatMap((r) => {
      const lag = backlogOf(r.sample).upstreamLag;
      return lag === undefined ? [] : [lag];
    });
    if (lags.length > 0)
      metrics.upstreamLagMessages.set(
        labels,
        lags.reduce((n, v) => n + v, 0),
      );
    else metrics.upstreamLagMessages.remove(labels);
    metrics.ackPendingMessages.set(
      labels,
      sum((s) => backlogOf(s).ackPending),
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
    const redelivery = read.flatMap((r) =>
      r.decision.rates.redeliveryPerSecond === undefined ? [] : [r.decision.rates.redeliveryPerSecond],
    );
    if (redelivery.length > 0)
      metrics.redeliveryRate.set(
        labels,
        redelivery.reduce((n, v) => n + v, 0),
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
      if (v.read) reading.backlog = backlogOf(v.read.sample).total;
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

/** How often each kind of status change is written (all durations on the monotonic clock, ms). */
export interface StatusCadence {
  /** Rewrite an otherwise unchanged status this often, so lastPollTime stays meaningful. */
  refreshMs: number;
  /** A backlog that moved to another order of magnitude (see backlogBand), at most this often. */
  readingsMs: number;
  /** Other readings (exact backlog, rates, forecast, messages) at most this often. */
  ratesMs: number;
}

/** The operator's status cadence unless its deps say otherwise (reconciler.ts). */
export const DEFAULT_STATUS_CADENCE: StatusCadence = {
  refreshMs: 300_000,
  readingsMs: 30_000,
  ratesMs: 120_000,
};

/** The status as it is to be written: this poll's, with the conditions updated (transition times kept). */
export function statusToWrite(
  memory: StatusMemory,
  obj: EventConsumerObject,
  status: EventConsumerStatus,
  updates: ConditionUpdate[],
  wall: number,
): EventConsumerStatus {
  return {
    ...status,
    conditions: setConditions(
      memory.written?.conditions ?? obj.status?.conditions,
      updates,
      new Date(wall).toISOString(),
      obj.metadata?.generation,
    ),
  };
}

/**
 * Whether a status is due, and in which lane (status-writer.ts). What users act on (replicas,
 * condition statuses and reasons, the words of the messages in MESSAGE_IS_STATE, failing or not,
 * generation) at once, in the state lane. Only
 * readings: a backlog that changed its order of magnitude after readingsMs, any other reading
 * (rates change at every poll of a busy EventConsumer; the metrics carry them at full rate) after
 * ratesMs, an unchanged status after refreshMs — all measured from the last write handed over, so
 * a poll that comes late is not more due than one on time, and in the readings lane, whose budget
 * bounds them all together. A status still waiting there is replaced by the newest one (`waiting`).
 */
export function statusLane(
  next: StatusFingerprint,
  memory: StatusMemory,
  now: number,
  cadence: StatusCadence,
  waiting = false,
): StatusLane | undefined {
  if (next.state !== memory.comparableState) return 'state';
  if (waiting) return next.all !== memory.comparable ? 'readings' : undefined;
  const age = memory.writtenAt === undefined ? Infinity : now - memory.writtenAt;
  const stretch = 1 + memory.refreshJitter;
  if (next.band !== memory.comparableBand && age >= cadence.readingsMs * stretch) return 'readings';
  if (next.all !== memory.comparable && age >= cadence.ratesMs * stretch) return 'readings';
  if (age >= cadence.refreshMs * stretch) return 'readings';
  return undefined;
}

/** Remembers the status handed to the writer: the next poll builds on it and compares with it. */
export function rememberWritten(
  memory: StatusMemory,
  status: EventConsumerStatus,
  fingerprint: StatusFingerprint,
  now: number,
): void {
  memory.written = status;
  memory.comparable = fingerprint.all;
  memory.comparableState = fingerprint.state;
  memory.comparableBand = fingerprint.band;
  memory.writtenAt = now;
}

/** A status write failed: unless a newer one is on its way, the next poll writes at once. */
export function forgetWritten(memory: StatusMemory, status: EventConsumerStatus): void {
  if (memory.written !== status) return;
  memory.comparable = undefined;
  memory.comparableState = undefined;
  memory.comparableBand = undefined;
}

/**
 * The order of magnitude of a backlog: 0 for none, then 1 for 1–9, 2 for 10–99, 3 for 100–999, …
 * A status whose backlog moved to another band is worth rewriting sooner than one whose numbers
 * moved within it.
 */
export function backlogBand(total: number | undefined): number | undefined {
  if (total === undefined || !Number.isFinite(total)) return undefined;
  if (total <= 0) return 0;
  return Math.floor(Math.log10(total)) + 1;
}

export interface StatusFingerprint {
  /** What users act on. */
  state: string;
  /** state, and the order of magnitude of each backlog. */
  band: string;
  /** Everything but the poll times and condition transition times. */
  all: string;
}

/**
 * A status as compared between polls. `all`: everything but the poll times and condition
 * transition times. `state`: also without the readings that change at every poll — the numbers
 * in messages, and the messages that narrate readings (MESSAGE_IS_STATE) — of a busy
 * EventConsumer (backlog, rates), or of one whose NATS is down (the count of failed polls: only
 * whether there are any is state; crossing fallback's threshold changes the Fallback condition,
 * which is written at once). Twenty EventConsumers on a dead NATS writing status at every poll
 * would hold the shared workers that the healthy ones need. While paused, the replicas the policy
 * would ask for are readings too (desiredReplicas; nothing acts on them). `band`: state and each
 * backlog's order of magnitude.
 *
 * A panic window is state (carried-panic.ts panicWindowState): whether one holds, and its end in
 * steps of PANIC_WRITE_STEP_SECONDS. A restart carries it from status, and the readings lane would
 * write it only after the 60 s window is over.
 *
 * Who wrote (writtenBy: this process and leadership term) is state: a new term's first status of
 * each EventConsumer is written at its first poll, whatever else changed. Until then, a status
 * write of the previous term that reached the API server late, before any of this term's, would
 * stand — its fence (status-writer.ts: the write tests writtenBy) refuses a late write only once
 * this term's own write has replaced writtenBy — and with it a state the previous leader saw and
 * this one does not (a consumer briefly gone, a condition since cleared) until something changed
 * or the unchanged-status refresh (refreshMs, 5 min by default). The cost: one status write per
 * EventConsumer at each change of leader or restart, in the state lane (200 idle EventConsumers:
 * all written within 16 s of the process's start; before, none within 90 s).
 */
export function statusFingerprint(status: EventConsumerStatus): StatusFingerprint {
  // Found by make bench-operator: a paused, busy EventConsumer's would-be count climbs with its
  // backlog, and 1,000 of them wrote ~600 statuses a minute in the state lane.
  const paused = status.conditions?.some((c) => c.type === 'Paused' && c.status === 'True') ?? false;
  const desired = (n: number | undefined): number | undefined => (paused ? undefined : n);
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
      // Added with a scale (which moves lastScaleTime) and dropped once past its period: the drop
      // rides with the next write, whatever its lane (a reader leaves such entries out anyway).
      scaleUps: undefined,
      consecutiveFailures: Math.min(1, status.consecutiveFailures ?? 0),
      desiredReplicas: desired(status.desiredReplicas),
      consumers: status.consumers?.map(
        ({
          name,
          ready,
          reason,
          message,
          desiredReplicas,
          consecutiveFailures,
          panicHoldSeconds,
          lastBacklogReadTime,
        }) => ({
          name,
          ready,
          reason,
          message: messageWords(message),
          desiredReplicas: desired(desiredReplicas),
          consecutiveFailures: Math.min(1, consecutiveFailures ?? 0),
          // A panic window that begins or ends, and its end as it moves on (carried-panic.ts): a
          // restart must find it, and the readings lane would write it minutes late.
          panicWindow: panicWindowState({ panicHoldSeconds, lastBacklogReadTime }),
        }),
      ) as ConsumerStatus[] | undefined,
      conditions: status.conditions?.map(({ type, status: s, reason, message }) => ({
        type,
        status: s,
        reason,
        ...(MESSAGE_IS_STATE.has(type) ? { message: messageWords(message) } : {}),
      })) as Condition[] | undefined,
    }),
  );
  const band = JSON.stringify([
    backlogBand(status.backlog?.total),
    ...(status.consumers ?? []).map((c) => backlogBand(c.backlog?.total)),
  ]);
  return { state, band: `${state}|${band}`, all };
}

/**
 * The conditions whose message tells the user what is wrong, or what jetscale holds, and what to
 * do about it: a change in its words is state, written at the next poll, even when the reason and
 * the generation stay the same (the auth Secret fixed and the user then refused for another cause,
 * both NatsUnauthorized; an outage that now names another node). The per-consumer entries' message
 * is their Ready message. The other conditions narrate readings — MetricsAvailable the backlog,
 * Active and ScalingLimited the policy's reasoning, ReplicasReady the replica counts — whose words
 * move with the numbers at every poll of a busy EventConsumer; their reason says what they mean.
 */
const MESSAGE_IS_STATE: ReadonlySet<string> = new Set(['Ready', 'Fallback', 'Paused']);

/**
 * A message's words: every number that stands alone (a count, a duration, a rate, a backlog:
 * "2 of 3 failed polls", "within 2000 ms", "over 5s") replaced by '#', so a message whose numbers
 * alone moved keeps the readings cadence. Digits that are part of a name stay: a node (nats-2, n3),
 * a replication factor (R1), an address or a port (10.0.0.5:4222).
 */
export function messageWords(message: string | undefined): string | undefined {
  return message?.replace(/(?<![\p{L}\p{N}_.:/-])\d+(?:\.\d+)?(?!\.?\d)/gu, '#');
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

/**
 * Rates and forecasts are written to status to this many decimals: a per-replica figure this
 * operator wrote is 0 or at least 10^-STATUS_DECIMALS (consumer-state.ts carriedCapacity).
 */
export const STATUS_DECIMALS = 3;

function round(n: number | undefined): number | undefined {
  const scale = 10 ** STATUS_DECIMALS;
  return n === undefined || !Number.isFinite(n) ? undefined : Math.round(n * scale) / scale;
}

function compact<T extends Record<string, unknown>>(obj: T): T {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as T;
}

/**
 * The status write as a JSON Patch (RFC 6902): test that the object under this name is still the
 * one the status was built for (its uid), then replace the whole status. The test is what makes a
 * deleted-and-recreated object refuse a status built for its predecessor while the informer had not
 * seen the delete: a uid in a merge patch to /status is silently dropped by the API server (the
 * status strategy keeps only .status), while a failed test refuses the whole patch (422, see
 * isFailedPatchTest). The status is written whole, as the reconciler builds it whole: a field it
 * no longer sets disappears, nested ones included.
 */
export function statusPatchBody(uid: string | undefined, status: EventConsumerStatus): StatusPatchOp[] {
  const replace: StatusPatchOp = { op: 'add', path: '/status', value: status };
  return uid === undefined ? [replace] : [{ op: 'test', path: '/metadata/uid', value: uid }, replace];
}

export type StatusPatchOp =
  | { op: 'test'; path: '/metadata/uid'; value: string }
  | { op: 'add'; path: '/status'; value: EventConsumerStatus };

/** JSON merge patch removes a field only when it is null; absent optional fields become null. */
export function nullForUndefined(status: EventConsumerStatus): Record<string, unknown> {
  const keys: Array<keyof EventConsumerStatus> = [
    'observedGeneration',
    'currentReplicas',
    'desiredReplicas',
    'backlog',
    'rates',
    'consumers',
    'forecast',
    'lastScaleTime',
    'lastScaleTarget',
    'scaleUps',
    'lastActiveTime',
    'lastPollTime',
    'lastBacklogReadTime',
    'consecutiveFailures',
    'conditions',
    'tugOfWar',
    'writtenBy',
  ];
  return Object.fromEntries(keys.map((k) => [k, status[k] ?? null]));
}
