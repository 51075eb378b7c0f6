// Reconciles one EventConsumer, level-triggered: read the world (spec, Secrets, scale target,
// consumer backlog), compute the desired replicas with the pure policy, make at most one change
// (PATCH /scale), write status (only through the status subresource, only when it changed or
// lastPollTime is getting old), and ask to be requeued after pollInterval.
//
// Failure is never a reason to scale wildly: an invalid spec, a missing or unparsable Secret, a
// missing target, stream or consumer, or refused credentials set a condition and an Event and
// leave replicas alone. Only an unreachable NATS counts toward fallback: after
// fallback.failureThreshold failed polls in a row the target is held at fallback.replicas (when
// set) until the backlog can be read again.
import { API_VERSION, KIND, eventConsumerPath } from '../api/v1alpha1/group-version.js';
import {
  parseEventConsumerSpec,
  type Condition,
  type EventConsumerObject,
  type EventConsumerSpec,
  type EventConsumerStatus,
} from '../api/v1alpha1/event-consumer.js';
import { pollIntervalMs, toScalingSpec } from '../api/v1alpha1/scaling-spec.js';
import { isBacklogError, type BacklogErrorKind } from '../backlog/backlog-error.js';
import type { BacklogSource } from '../backlog/backlog-source.js';
import type { ConsumerRef } from '../backlog/jetstream-backlog-source.js';
import {
  connectionKey,
  parseAuthSecret,
  parseTlsSecret,
  type NatsCredentials,
} from '../backlog/nats-credentials.js';
import { isNotFound, type KubeApi } from '../kube/api-client.js';
import type { EventTarget } from '../kube/event-recorder.js';
import { ScaleError, type ScaleReading, type ScaleTargetRef } from '../kube/scale-client.js';
import { SecretNotFoundError, type SecretData } from '../kube/secret-reader.js';
import type { Logger } from '../observability/logger.js';
import type { OperatorMetrics } from '../observability/metrics.js';
import { decide as policyDecide, emptyHistory } from '../scaling/index.js';
import type { BacklogSample, ScalingDecision, ScalingHistory, ScalingInput } from '../scaling/types.js';
import { setConditions, type ConditionUpdate } from './conditions.js';

export interface ReconcilerDeps {
  cache: { get(name: string, namespace?: string): EventConsumerObject | undefined };
  api: KubeApi;
  scale: {
    get(namespace: string, ref: ScaleTargetRef): Promise<ScaleReading>;
    setReplicas(namespace: string, ref: ScaleTargetRef, replicas: number): Promise<void>;
  };
  secrets: { read(namespace: string, name: string): Promise<SecretData> };
  backlog: {
    open(owner: string, servers: string[], credentials: NatsCredentials, ref: ConsumerRef): BacklogSource;
  };
  events: {
    normal(target: EventTarget, reason: string, message: string): void;
    warning(target: EventTarget, reason: string, message: string): void;
    forget(namespace: string, name: string): void;
  };
  metrics: OperatorMetrics;
  logger: Logger;
  now?: () => number;
  decide?: (input: ScalingInput) => ScalingDecision;
  /** Rewrite an otherwise unchanged status this often, so lastPollTime stays meaningful. */
  statusRefreshMs?: number;
  /** Re-read an idle EventConsumer's scale target at least this often. */
  targetRefreshMs?: number;
}

export interface ReconcileResult {
  requeueAfterMs?: number;
}

/** What the operator remembers about one EventConsumer between polls (in memory, per leader). */
interface ConsumerState {
  history: ScalingHistory;
  failures: number;
  fallbackActive: boolean;
  source?: { key: string; source: BacklogSource };
  dueAt?: number;
  lastStatus?: string;
  lastStatusWriteAt?: number;
  lastPollAt?: number;
  lastSample?: BacklogSample;
  lastDecision?: ScalingDecision;
  /** The spec parsed for this generation (parsing every poll costs CPU at 1,000 EventConsumers). */
  parsed?: { generation: number | undefined; result: ReturnType<typeof parseEventConsumerSpec> };
  /** The scale target as last read, reused while the EventConsumer is idle. */
  target?: { refKey: string; reading: ScaleReading; at: number };
  /** Spreads unchanged-status refreshes of different EventConsumers over time. */
  refreshJitter?: number;
  /** The status last written; fresher than the informer cache, which lags our own writes. */
  lastWritten?: EventConsumerStatus;
}

/** Requeue delay when the spec is invalid (nothing to poll until the user fixes it). */
const INVALID_SPEC_REQUEUE_MS = 60_000;

const BACKLOG_REASONS: Record<BacklogErrorKind, string> = {
  StreamNotFound: 'StreamNotFound',
  ConsumerNotFound: 'ConsumerNotFound',
  Unreachable: 'NatsUnreachable',
  Unauthorized: 'NatsUnauthorized',
  Invalid: 'NatsRequestFailed',
};

const SCALE_REASONS: Record<ScaleError['kind'], string> = {
  TargetNotFound: 'TargetNotFound',
  Forbidden: 'TargetForbidden',
  NotScalable: 'TargetNotScalable',
};

export class Reconciler {
  private readonly states = new Map<string, ConsumerState>();
  private readonly now: () => number;
  private readonly decide: (input: ScalingInput) => ScalingDecision;
  private readonly statusRefreshMs: number;
  private readonly targetRefreshMs: number;

  constructor(private readonly deps: ReconcilerDeps) {
    this.now = deps.now ?? Date.now;
    this.decide = deps.decide ?? policyDecide;
    this.statusRefreshMs = deps.statusRefreshMs ?? 300_000;
    this.targetRefreshMs = deps.targetRefreshMs ?? 15_000;
  }

  /** Releases everything held for EventConsumers (shutdown or lost leadership). */
  forgetAll(): void {
    for (const key of [...this.states.keys()]) this.forget(key);
  }

  trackedCount(): number {
    return this.states.size;
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const [namespace = '', name = ''] = key.split('/');
    const obj = this.deps.cache.get(name, namespace);
    if (!obj || obj.metadata?.deletionTimestamp) {
      this.forget(key);
      this.deps.metrics.forget(namespace, name);
      this.deps.events.forget(namespace, name);
      return {};
    }
    const log = this.deps.logger.child({ namespace, name });
    const now = this.now();
    let state = this.states.get(key);
    if (!state) {
      state = {
        history: emptyHistory(),
        failures: obj.status?.consecutiveFailures ?? 0,
        fallbackActive: false,
      };
      // After a restart or failover the status written by the previous leader counts as written,
      // so an unchanged EventConsumer is not rewritten just because this process is new.
      if (obj.status?.conditions !== undefined) {
        state.lastWritten = obj.status;
        state.lastStatus = comparableStatus(obj.status);
        const polled = obj.status.lastPollTime === undefined ? NaN : Date.parse(obj.status.lastPollTime);
        if (Number.isFinite(polled)) state.lastStatusWriteAt = polled;
      }
      this.states.set(key, state);
    }
    if (state.dueAt !== undefined) this.deps.metrics.pollDelay.observe(Math.max(0, now - state.dueAt) / 1000);
    const target: EventTarget = {
      apiVersion: API_VERSION,
      kind: KIND,
      namespace,
      name,
      uid: obj.metadata?.uid,
    };
    const generation = obj.metadata?.generation;

    let parsedEntry = state.parsed;
    if (parsedEntry === undefined || parsedEntry.generation !== generation || generation === undefined) {
      parsedEntry = { generation, result: parseEventConsumerSpec(obj.spec) };
      state.parsed = parsedEntry;
    }
    const parsed = parsedEntry.result;
    if (!parsed.ok) {
      const message = `the spec is invalid: ${parsed.problems.join('; ')}. Fix the EventConsumer (kubectl explain eventconsumer.spec)`;
      log.warn('invalid EventConsumer spec', { problems: parsed.problems });
      this.deps.metrics.errors.inc({ reason: 'InvalidSpec' });
      this.deps.events.warning(target, 'InvalidSpec', message);
      await this.writeStatus(
        key,
        obj,
        state,
        { ...(state.lastWritten ?? obj.status ?? {}), observedGeneration: generation },
        [{ type: 'Ready', status: 'False', reason: 'InvalidSpec', message }],
        now,
      );
      state.dueAt = now + INVALID_SPEC_REQUEUE_MS;
      return { requeueAfterMs: INVALID_SPEC_REQUEUE_MS };
    }
    const spec = parsed.spec;
    const interval = pollIntervalMs(spec);
    // The next poll is due one interval after this one started, not after it finished, so slow
    // API calls do not stretch the cadence; an overdue poll runs as soon as a worker is free.
    const dueAt = now + interval;
    state.dueAt = dueAt;
    const requeue = (): ReconcileResult => ({ requeueAfterMs: Math.max(0, dueAt - this.now()) });
    const fail = async (
      reason: string,
      message: string,
      extra: ConditionUpdate[] = [],
    ): Promise<ReconcileResult> => {
      log.warn(message, { reason });
      this.deps.metrics.errors.inc({ reason });
      this.deps.events.warning(target, reason, message);
      const conditions: ConditionUpdate[] = [
        { type: 'Ready', status: 'False', reason, message },
        ...extra,
        this.pausedCondition(spec),
      ];
      await this.writeStatus(
        key,
        obj,
        state,
        {
          ...(state.lastWritten ?? obj.status ?? {}),
          observedGeneration: generation,
          consecutiveFailures: state.failures,
        },
        conditions,
        now,
      );
      return requeue();
    };

    // 1. Credentials.
    let credentials: NatsCredentials;
    try {
      credentials = await this.credentials(namespace, spec);
    } catch (err) {
      if (err instanceof SecretNotFoundError)
        return fail(err.forbidden ? 'SecretForbidden' : 'SecretNotFound', err.message);
      if (isBacklogError(err)) return fail('SecretInvalid', err.message);
      throw err;
    }

    // 2. The backlog.
    const source = this.sourceFor(key, state, spec, credentials);
    const reading = await source.read();

    // 3. The scale target: read fresh while anything is happening (backlog, a recent change,
    // pods not yet ready) and at least every targetRefreshMs when idle, like the HPA's sync period.
    // Idle EventConsumers are most of a large installation, and this keeps their API cost low.
    const ref: ScaleTargetRef = spec.scaleTargetRef;
    const refKey = `${ref.apiVersion}/${ref.kind}/${ref.name}`;
    const cached = state.target;
    const busy = !reading.ok || reading.sample.pending + reading.sample.ackPending > 0;
    const settled =
      cached !== undefined &&
      cached.reading.specReplicas === cached.reading.statusReplicas &&
      (cached.reading.readyReplicas ?? cached.reading.statusReplicas) === cached.reading.statusReplicas;
    let scale: ScaleReading;
    if (
      cached !== undefined &&
      cached.refKey === refKey &&
      !busy &&
      settled &&
      now - cached.at < this.targetRefreshMs
    ) {
      scale = cached.reading;
    } else {
      try {
        scale = await this.deps.scale.get(namespace, ref);
      } catch (err) {
        state.target = undefined;
        if (err instanceof ScaleError) return fail(SCALE_REASONS[err.kind], err.message);
        throw err;
      }
      state.target = { refKey, reading: scale, at: now };
    }
    const current = scale.specReplicas;

    const scalingSpec = toScalingSpec(spec);
    let desired = current;
    let why = '';
    const conditions: ConditionUpdate[] = [this.pausedCondition(spec)];
    const status: EventConsumerStatus = {
      ...(state.lastWritten ?? obj.status ?? {}),
      observedGeneration: generation,
      currentReplicas: scale.statusReplicas,
    };
    let decision: ScalingDecision | undefined;
    const previousHistory = state.history;

    if (reading.ok) {
      const sample = reading.sample;
      if (state.fallbackActive) {
        this.deps.events.normal(
          target,
          'FallbackEnded',
          `the backlog of consumer "${spec.nats.consumer}" can be read again; scaling from the backlog resumes`,
        );
        log.info('leaving fallback: metrics are back');
      }
      state.failures = 0;
      state.fallbackActive = false;
      if (state.lastPollAt === undefined && state.history.recommendations.length === 0) {
        // A new leader (or a restarted one) has no recommendations in memory. Seed the window
        // with the size the target has, so the stabilization windows hold it for one window as
        // if this process had watched it all along, instead of scaling down at its first poll.
        state.history = { ...state.history, recommendations: [{ at: now, replicas: current }] };
      }
      const input: ScalingInput = {
        spec: scalingSpec,
        sample,
        currentReplicas: current,
        history: state.history,
        now,
      };
      if (scale.readyReplicas !== undefined) input.readyReplicas = scale.readyReplicas;
      decision = this.decide(input);
      desired = decision.desiredReplicas;
      why = decision.reason;
      // decide() records the change it asks for; keep the old history if the change will not be made.
      if (desired === current || !spec.paused) state.history = decision.history;
      state.lastPollAt = now;
      state.lastSample = sample;
      state.lastDecision = decision;
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
      status.lastPollTime = new Date(now).toISOString();
      const backlogText = `backlog ${sample.pending + sample.ackPending} (${sample.pending} pending, ${sample.ackPending} awaiting ack)`;
      conditions.push(
        {
          type: 'Ready',
          status: 'True',
          reason: 'Scaling',
          message: `reading consumer "${spec.nats.consumer}" on stream "${spec.nats.stream}" and scaling ${ref.kind} ${ref.name}`,
        },
        { type: 'MetricsAvailable', status: 'True', reason: 'BacklogRead', message: backlogText },
        decision.active
          ? {
              type: 'Active',
              status: 'True',
              reason: 'BacklogAboveActivation',
              message: `${backlogText} is above activationBacklog ${spec.activationBacklog} or messages await ack`,
            }
          : {
              type: 'Active',
              status: 'False',
              reason: 'NoBacklog',
              message: `${backlogText} is at most activationBacklog ${spec.activationBacklog}`,
            },
        decision.limitedBy
          ? {
              type: 'ScalingLimited',
              status: 'True',
              reason: decision.limitedBy,
              message: `${decision.recommendedReplicas} replicas recommended, ${desired} allowed: ${decision.reason}`,
            }
          : {
              type: 'ScalingLimited',
              status: 'False',
              reason: 'DesiredWithinLimits',
              message: `${desired} replicas, as recommended`,
            },
        {
          type: 'Fallback',
          status: 'False',
          reason: 'MetricsAvailable',
          message: 'the backlog is being read',
        },
      );
      this.recordMetrics(namespace, name, sample, decision);
    } else {
      const error = reading.error;
      const reason = BACKLOG_REASONS[error.kind];
      state.failures++;
      this.deps.metrics.errors.inc({ reason });
      log.warn(error.message, { reason, failures: state.failures });
      const threshold = spec.fallback.failureThreshold;
      const fallbackReplicas = spec.fallback.replicas;
      const countsTowardFallback = error.kind === 'Unreachable';
      if (countsTowardFallback && state.failures >= threshold && fallbackReplicas !== undefined) {
        if (!state.fallbackActive) {
          this.deps.events.warning(
            target,
            'FallbackStarted',
            `${state.failures} polls in a row failed (${error.message}); holding ${fallbackReplicas} replicas (spec.fallback.replicas) until the backlog can be read`,
          );
        }
        state.fallbackActive = true;
        desired = fallbackReplicas;
        why = `fallback: ${state.failures} consecutive failed polls (${error.message})`;
        conditions.push({
          type: 'Fallback',
          status: 'True',
          reason,
          message: `holding fallback.replicas ${fallbackReplicas} after ${state.failures} failed polls: ${error.message}`,
        });
      } else {
        // Hold the last decision: the replicas stay where they are.
        state.fallbackActive = false;
        const message = countsTowardFallback
          ? fallbackReplicas === undefined
            ? `${state.failures} failed polls; replicas are held (set spec.fallback.replicas to hold a fixed count instead)`
            : `${state.failures} of ${threshold} failed polls before fallback.replicas ${fallbackReplicas}; replicas are held until then`
          : 'replicas are held: this error does not trigger fallback, fix its cause';
        conditions.push({
          type: 'Fallback',
          status: 'False',
          reason: countsTowardFallback ? 'BelowFailureThreshold' : 'NotApplicable',
          message,
        });
      }
      this.deps.events.warning(target, reason, error.message);
      conditions.push(
        { type: 'Ready', status: 'False', reason, message: error.message },
        { type: 'MetricsAvailable', status: 'False', reason, message: error.message },
      );
      this.deps.metrics.fallbackActive.set({ namespace, name }, state.fallbackActive ? 1 : 0);
    }

    // 4. At most one change.
    if (spec.paused) {
      if (desired !== current) why = `paused: would scale from ${current} to ${desired} (${why})`;
    } else if (desired !== current) {
      try {
        await this.deps.scale.setReplicas(namespace, ref, desired);
      } catch (err) {
        state.history = previousHistory;
        if (err instanceof ScaleError) return fail(SCALE_REASONS[err.kind], err.message);
        throw err;
      }
      const direction = desired > current ? 'up' : 'down';
      this.deps.metrics.scaleEvents.inc({ namespace, name, direction });
      this.deps.events.normal(
        target,
        'Scaled',
        `scaled ${ref.kind} ${ref.name} from ${current} to ${desired}: ${why}`,
      );
      log.info('scaled', { target: `${ref.kind}/${ref.name}`, from: current, to: desired, why });
      status.lastScaleTime = new Date(now).toISOString();
      state.target = undefined; // re-read next poll: pods are starting or stopping
    }
    status.desiredReplicas = desired;
    status.consecutiveFailures = state.failures;
    this.deps.metrics.desiredReplicas.set({ namespace, name }, desired);
    this.deps.metrics.backlogPerReplicaTarget.set({ namespace, name }, scalingSpec.backlogPerReplica);
    this.deps.metrics.currentReplicas.set({ namespace, name }, scale.statusReplicas);
    await this.writeStatus(key, obj, state, status, conditions, now);
    return requeue();
  }

  private pausedCondition(spec: EventConsumerSpec): ConditionUpdate {
    return spec.paused
      ? {
          type: 'Paused',
          status: 'True',
          reason: 'PausedBySpec',
          message:
            'spec.paused is true: the backlog is read but replicas are not changed; set it to false to resume scaling',
        }
      : { type: 'Paused', status: 'False', reason: 'NotPaused', message: 'scaling is enabled' };
  }

  private async credentials(namespace: string, spec: EventConsumerSpec): Promise<NatsCredentials> {
    const credentials: NatsCredentials = { auth: { kind: 'none' } };
    const auth = spec.nats.auth?.secretRef.name;
    if (auth !== undefined)
      credentials.auth = parseAuthSecret(
        await this.deps.secrets.read(namespace, auth),
        `${namespace}/${auth}`,
      );
    const tls = spec.nats.tls?.secretRef.name;
    if (tls !== undefined)
      credentials.tls = parseTlsSecret(await this.deps.secrets.read(namespace, tls), `${namespace}/${tls}`);
    return credentials;
  }

  /** The EventConsumer's backlog source, reopened when servers, credentials or consumer change. */
  private sourceFor(
    key: string,
    state: ConsumerState,
    spec: EventConsumerSpec,
    credentials: NatsCredentials,
  ): BacklogSource {
    const ref: ConsumerRef = { stream: spec.nats.stream, consumer: spec.nats.consumer };
    if (spec.nats.domain !== undefined) ref.domain = spec.nats.domain;
    if (spec.nats.apiPrefix !== undefined) ref.apiPrefix = spec.nats.apiPrefix;
    const sourceKey = `${connectionKey(spec.nats.servers, credentials)}|${JSON.stringify(ref)}`;
    if (state.source?.key === sourceKey) return state.source.source;
    state.source?.source.close();
    const source = this.deps.backlog.open(key, spec.nats.servers, credentials, ref);
    state.source = { key: sourceKey, source };
    return source;
  }

  private recordMetrics(
    namespace: string,
    name: string,
    sample: BacklogSample,
    decision: ScalingDecision,
  ): void {
    const labels = { namespace, name };
    const m = this.deps.metrics;
    m.backlogMessages.set(labels, sample.pending + sample.ackPending);
    m.pendingMessages.set(labels, sample.pending);
    m.ackPendingMessages.set(labels, sample.ackPending);
    m.redeliveredMessages.set(labels, sample.redelivered);
    if (decision.rates.arrivalPerSecond !== undefined)
      m.arrivalRate.set(labels, decision.rates.arrivalPerSecond);
    if (decision.rates.processingPerSecond !== undefined)
      m.processingRate.set(labels, decision.rates.processingPerSecond);
    m.fallbackActive.set(labels, 0);
  }

  /** Writes status when it changed (or lastPollTime is older than statusRefreshMs). */
  private async writeStatus(
    key: string,
    obj: EventConsumerObject,
    state: ConsumerState,
    status: EventConsumerStatus,
    updates: ConditionUpdate[],
    now: number,
  ): Promise<void> {
    const nowText = new Date(now).toISOString();
    const next: EventConsumerStatus = {
      ...status,
      conditions: setConditions(
        state.lastWritten?.conditions ?? obj.status?.conditions,
        updates,
        nowText,
        obj.metadata?.generation,
      ),
    };
    const comparable = comparableStatus(next);
    // Each EventConsumer refreshes at its own point within [1, 1.5) × the period, so EventConsumers
    // created together do not all rewrite their status in the same second.
    state.refreshJitter ??= Math.random() * 0.5;
    const fresh =
      state.lastStatusWriteAt !== undefined &&
      now - state.lastStatusWriteAt < this.statusRefreshMs * (1 + state.refreshJitter);
    if (comparable === state.lastStatus && fresh) return;
    const [namespace = '', name = ''] = key.split('/');
    try {
      await this.deps.api.request('PATCH', `${eventConsumerPath(namespace, name)}/status`, {
        body: { status: nullForUndefined(next) },
      });
      state.lastStatus = comparable;
      state.lastStatusWriteAt = now;
      state.lastWritten = next;
    } catch (err) {
      if (isNotFound(err)) return; // deleted meanwhile; the delete event cleans up
      throw err;
    }
  }

  private forget(key: string): void {
    const state = this.states.get(key);
    state?.source?.source.close();
    this.states.delete(key);
  }
}

/** A status as compared between polls: without lastPollTime and condition transition times. */
function comparableStatus(status: EventConsumerStatus): string {
  return stableStringify(
    nullForUndefined({
      ...status,
      lastPollTime: undefined,
      conditions: status.conditions?.map(withoutTime) as Condition[] | undefined,
    }),
  );
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
    'consecutiveFailures',
    'conditions',
  ];
  return Object.fromEntries(keys.map((k) => [k, status[k] ?? null]));
}
