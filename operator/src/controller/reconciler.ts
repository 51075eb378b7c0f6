// Reconciles one EventConsumer, level-triggered, in four steps a reader can follow top to bottom:
//   observe (observe.ts)  the spec, Secrets, the consumer's backlog and the scale target;
//   decide  (decide.ts)   a pure verdict: desired replicas, why, conditions and Events;
//   act                   at most one change, PATCH /scale;
//   report  (report.ts)   status (only through the status subresource, only when it changed or
//                         lastPollTime is getting old), Events and metrics;
// then ask to be requeued after pollInterval, or sooner when the policy asks for it (its adaptive
// poll: every second while arrivals or the queue move). Each step keeps its own part of ConsumerState.
//
// Failure is never a reason to scale wildly: an invalid spec, a missing or unparsable Secret, a
// missing target, stream or consumer, or refused credentials set a condition and an Event and
// leave replicas alone (decide.ts says when fallback applies).
import type {
  EventConsumerObject,
  EventConsumerSpec,
  EventConsumerStatus,
} from '../api/v1alpha1/event-consumer.js';
import { monotonicNow, monotonicTimeOf, readClocks, wallNow, type ClockReading } from '../clock.js';
import { API_VERSION, eventConsumerPath, KIND } from '../api/v1alpha1/group-version.js';
import { pollIntervalMs, toScalingSpec } from '../api/v1alpha1/scaling-spec.js';
import type { BacklogSource } from '../backlog/backlog-source.js';
import type { ConsumerRef } from '../backlog/jetstream-backlog-source.js';
import type { NatsCredentials } from '../backlog/nats-credentials.js';
import { isFenced, JSON_PATCH, KubeApiError, type KubeApi } from '../kube/api-client.js';
import type { EventTarget } from '../kube/event-recorder.js';
import {
  FIELD_MANAGER,
  ScaleError,
  type ScaleReadOptions,
  type ScaleReading,
  type ScaleTargetRef,
} from '../kube/scale-client.js';
import type { SecretData } from '../kube/secret-reader.js';
import type { Logger } from '../observability/logger.js';
import type { OperatorMetrics } from '../observability/metrics.js';
import { decide as policyDecide } from '../scaling/index.js';
import type { ScalingDecision, ScalingInput } from '../scaling/types.js';
import type { ConditionUpdate } from './conditions.js';
import {
  memoriesForTarget,
  switchTarget,
  YIELDED_TARGET,
  newConsumerState,
  type ConsumerState,
  type ObservedCache,
  type ScalingMemories,
} from './consumer-state.js';
import {
  decideAll,
  memoryFor,
  memoryIfUnchanged,
  pausedCondition,
  withAppliedChange,
  withinBounds,
  withLateWrite,
  type ConsumersVerdict,
  type LateWrite,
  type PlannedEvent,
} from './decide.js';
import { observe, parsedSpec, targetKey } from './observe.js';
import { SCALE_REASONS } from './reasons.js';
import { TargetClaims, type TargetClaimsDeps } from './target-claims.js';
import {
  takenBackMessage,
  carriedTug,
  tugOfWar,
  tugStatus,
  TUG_OF_WAR,
  UNNAMED_WRITER,
  yieldedMessage,
  type TugOfWarRules,
  type TugVerdict,
} from './tug-of-war.js';
import {
  ADMISSION_RETRY_MAX_MS,
  afterWrite,
  heldFor,
  limitAdvice,
  type AskContext,
} from './admission-cap.js';
import {
  DEFAULT_STATUS_CADENCE,
  forgetWritten,
  lastActiveTime,
  statusPatchBody,
  recordPollMetrics,
  rememberWritten,
  statusAfterPoll,
  statusForGeneration,
  statusFingerprint,
  statusLane,
  statusToWrite,
  type StatusCadence,
  type StatusTimes,
} from './report.js';
import { carriedScaleUps, scaleUpPeriodSeconds, scaleUpsAfter } from './scale-up-record.js';
import { StatusWriter } from './status-writer.js';

export interface ReconcilerDeps {
  cache: {
    get(name: string, namespace?: string): EventConsumerObject | undefined;
    /** Every cached EventConsumer in a namespace: to find others on the same target. */
    list?(namespace: string): EventConsumerObject[];
    /** A status write's answer (the object as stored): lets the cache find out its watch stalled. */
    answered?(stored: EventConsumerObject): void;
  };
  /** HPAs and KEDA ScaledObjects on a target (kube/other-autoscalers.ts); a target they scale is left to them. */
  autoscalers?: TargetClaimsDeps['autoscalers'];
  api: KubeApi;
  scale: {
    get(namespace: string, ref: ScaleTargetRef, options?: ScaleReadOptions): Promise<ScaleReading>;
    /**
     * Optimistic: refused with ScaleError 'Conflict' unless the target still has resourceVersion.
     * Resolves to the replicas the API server stored, when its answer says.
     */
    setReplicas(
      namespace: string,
      ref: ScaleTargetRef,
      replicas: number,
      resourceVersion: string,
    ): Promise<number | undefined>;
  };
  secrets: { read(namespace: string, name: string): Promise<SecretData> };
  backlog: {
    open(owner: string, servers: string[], credentials: NatsCredentials, ref: ConsumerRef): BacklogSource;
  };
  events: {
    normal(target: EventTarget, reason: string, message: string): void;
    warning(target: EventTarget, reason: string, message: string, options?: { repeatKey?: string }): void;
    forget(namespace: string, name: string): void;
  };
  metrics: OperatorMetrics;
  logger: Logger;
  /**
   * The clock of the policy's time — stabilization windows, cooldowns, step-policy periods, rate
   * windows, poll cadence — on which the backlog source stamps its readings too: monotonic
   * (performance.now) by default, so a wall-clock step on the leader cannot end a window early.
   */
  now?: () => number;
  /** The wall clock, only for the times status shows people (Date.now by default). */
  wallClock?: () => number;
  decide?: (input: ScalingInput) => ScalingDecision;
  /** Rewrite an otherwise unchanged status this often, so lastPollTime stays meaningful. */
  statusRefreshMs?: number;
  /** Re-read an idle EventConsumer's scale target at least this often. */
  targetRefreshMs?: number;
  /** Read the target at every poll for this long after this process's first poll of it (LATE_WRITE_WATCH_MS). */
  lateWriteWatchMs?: number;
  /**
   * Write a status whose backlog alone moved to another order of magnitude at most this often;
   * changes users act on (replicas, conditions) are written at once.
   */
  statusReadingsRefreshMs?: number;
  /** Write a status whose other readings alone changed (rates, exact backlog, messages) at most this often. */
  statusRatesRefreshMs?: number;
  /** Readings-only status writes per second, all EventConsumers together (status-writer.ts). */
  statusReadingsPerSecond?: number;
  /** Status PATCHes in flight at once. */
  statusWriteConcurrency?: number;
  /**
   * This process and leadership term, as status.writtenBy shows it: every status write is then
   * conditional on the stored writtenBy being this term's (status-writer.ts), so a write of an
   * ended term that reaches the API server late cannot overwrite the next leader's status.
   * Absent (tests, tools): status is written without writtenBy and unconditionally.
   */
  writer?: string;
  /** When to yield to another writer of a target's replicas, and take it back (tug-of-war.ts; TUG_OF_WAR). */
  tugOfWar?: Partial<TugOfWarRules>;
}

export interface ReconcileResult {
  requeueAfterMs?: number;
}

/**
 * How long a new term reads each target at every poll (not from the cache, which an idle
 * EventConsumer refreshes every targetRefreshMs, 15-22.5 s), unless it writes the target first.
 * The write it watches for: the previous leader's /scale write frozen between its fence check and
 * its send, applied when that process resumes, on a reading whose resourceVersion is still current
 * because this term changed nothing (the precondition stops it only once this term has written).
 * A predecessor frozen up to about a lease duration + this long after its term ended is seen at the
 * next poll; one frozen longer is seen at the next target refresh. Either way it is undone at the
 * poll that sees it. The cost: an idle EventConsumer's target is read at each of its polls in a
 * new term's first 30 s (6 reads at the default 5 s poll, instead of 1-2), from the API server's
 * watch cache.
 */
export const LATE_WRITE_WATCH_MS = 30_000;

/** Requeue delay when the spec is invalid (nothing to poll until the user fixes it). */
const INVALID_SPEC_REQUEUE_MS = 60_000;

/**
 * After a /scale write that failed: the reading it was based on is not reused (the target is read
 * again before the next write), and unless it was refused (409) it may have been applied after all
 * (one let go unanswered, a timeout): a later reading with that count is this process's own write,
 * not a late one of the previous leader term (noticeOutsideChange).
 */
function afterFailedScaleWrite(memory: ObservedCache, err: unknown, asked: number): void {
  memory.target = undefined;
  if (!(err instanceof ScaleError && err.kind === 'Conflict')) memory.unanswered = asked;
}

/**
 * After a /scale write that was answered: the target is read again next poll (pods are starting or
 * stopping), and its resourceVersion has moved on, so a late write of the previous leader term gets
 * 409 and need not be watched for any more (freshReadsUntil).
 */
function afterAnsweredScaleWrite(memory: ObservedCache): void {
  memory.target = undefined;
  memory.freshReadsUntil = undefined;
  memory.unanswered = undefined;
}

/** A change of the target's spec.replicas by someone other than jetscale: its field manager (UNNAMED_WRITER when not named). */
type OutsideChange = { manager: string };

/** One reconcile's identity: the object as cached, and where its Events and status go. */
interface Poll {
  key: string;
  namespace: string;
  name: string;
  obj: EventConsumerObject;
  state: ConsumerState;
  target: EventTarget;
  log: Logger;
  /** Policy time (monotonic ms): what every window and cadence is measured on. */
  now: number;
  /** Both clocks at this poll (the wall clock for what status shows people). */
  clocks: ClockReading;
}

/** Immediate re-polls after refused writes before falling back to the poll interval. */
const MAX_IMMEDIATE_CONFLICT_RETRIES = 3;

/** The outcome of the act step. */
type Action =
  | { ok: true; scaled: boolean }
  /** Not written: the stored EventConsumer is newer than the cached one (specCurrent). */
  | { ok: false; conflict: false; specChanged: 'newer' | 'gone' }
  | { ok: false; conflict: true; message: string }
  | {
      ok: false;
      conflict: false;
      reason: string;
      message: string;
      /** Replicas the API server stored instead of those asked for (a mutating admission). */
      applied?: number;
      /** Not asked: beyond a limit admission put on this target, within its hold (admission-cap.ts). */
      held?: true;
    };

export class Reconciler {
  private readonly states = new Map<string, ConsumerState>();
  private readonly now: () => number;
  private readonly wallClock: () => number;
  private readonly policy: (input: ScalingInput) => ScalingDecision;
  private readonly cadence: StatusCadence;
  private readonly targetRefreshMs: number;
  private readonly lateWriteWatchMs: number;
  private readonly tugRules: TugOfWarRules;
  private readonly claims: TargetClaims;
  private readonly statusWriter: StatusWriter;

  constructor(private readonly deps: ReconcilerDeps) {
    this.now = deps.now ?? monotonicNow;
    this.wallClock = deps.wallClock ?? wallNow;
    this.policy = deps.decide ?? policyDecide;
    this.cadence = {
      refreshMs: deps.statusRefreshMs ?? DEFAULT_STATUS_CADENCE.refreshMs,
      readingsMs: deps.statusReadingsRefreshMs ?? DEFAULT_STATUS_CADENCE.readingsMs,
      ratesMs: deps.statusRatesRefreshMs ?? DEFAULT_STATUS_CADENCE.ratesMs,
    };
    this.targetRefreshMs = deps.targetRefreshMs ?? 15_000;
    this.lateWriteWatchMs = deps.lateWriteWatchMs ?? LATE_WRITE_WATCH_MS;
    this.tugRules = { ...TUG_OF_WAR, ...deps.tugOfWar };
    this.statusWriter = new StatusWriter({
      api: deps.api,
      logger: deps.logger,
      readingsPerSecond: deps.statusReadingsPerSecond ?? 2,
      ...(deps.statusWriteConcurrency === undefined ? {} : { concurrency: deps.statusWriteConcurrency }),
      onWaiting: (waiting) => {
        for (const [lane, n] of Object.entries(waiting)) deps.metrics.statusWritesWaiting.set({ lane }, n);
      },
      onAnswer: (stored) => deps.cache.answered?.(stored),
      now: this.now,
    });
    const list = deps.cache.list?.bind(deps.cache);
    this.claims = new TargetClaims({
      ...(list ? { list } : {}),
      ...(deps.autoscalers ? { autoscalers: deps.autoscalers } : {}),
      now: this.now,
    });
  }

  /** Releases everything held for EventConsumers (shutdown or lost leadership); stops writing status. */
  forgetAll(): void {
    this.statusWriter.stop();
    for (const key of [...this.states.keys()]) this.forget(key);
  }

  /**
   * After the last reconcile of a term: writes the waiting statuses users act on (within
   * `timeoutMs`; readings-only ones are dropped, the next leader writes its own).
   */
  drainStatus(timeoutMs = 5000): Promise<void> {
    return this.statusWriter.drain(timeoutMs);
  }

  /** Resolves once no status write is in flight and none waiting may go yet (tests). */
  statusSettled(): Promise<void> {
    return this.statusWriter.whenSettled();
  }

  trackedCount(): number {
    return this.states.size;
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    try {
      return await this.poll(key);
    } catch (err) {
      // This process stopped leading (or holds the Lease with too little margin to write): the
      // request was refused or cut off. Stop quietly — write nothing more, no error condition, no
      // Event — and come back at the poll interval in case leadership is still held after all.
      if (isFenced(err)) {
        const dueAt = this.states.get(key)?.dueAt;
        return { requeueAfterMs: Math.max(1000, (dueAt ?? 0) - this.now()) };
      }
      throw err;
    }
  }

  private async poll(key: string): Promise<ReconcileResult> {
    const [namespace = '', name = ''] = key.split('/');
    const obj = this.deps.cache.get(name, namespace);
    if (!obj || obj.metadata?.deletionTimestamp) {
      this.forget(key);
      this.deps.metrics.forget(namespace, name);
      this.deps.events.forget(namespace, name);
      return {};
    }
    const clocks = readClocks(this.now, this.wallClock);
    const now = clocks.monotonic;
    const state = this.stateFor(key, obj, clocks);
    if (state.dueAt !== undefined)
      this.deps.metrics.pollDelay.observe(
        { backlog: Object.values(state.scaling).some((m) => m.failures > 0) ? 'unread' : 'read' },
        Math.max(0, now - state.dueAt) / 1000,
      );
    const poll: Poll = {
      key,
      namespace,
      name,
      obj,
      state,
      target: { apiVersion: API_VERSION, kind: KIND, namespace, name, uid: obj.metadata?.uid },
      log: this.deps.logger.child({ namespace, name }),
      now,
      clocks,
    };

    // Observe.
    const parsed = parsedSpec(state.observed, obj);
    if (!parsed.ok) return this.reportInvalidSpec(poll, parsed.problems);
    const spec = parsed.spec;
    // The next poll is due one interval after this one started, not after it finished, so slow
    // API calls do not stretch the cadence; an overdue poll runs as soon as a worker is free.
    let dueAt = now + pollIntervalMs(spec);
    state.dueAt = dueAt;
    const requeue = (): ReconcileResult => ({ requeueAfterMs: Math.max(0, dueAt - this.now()) });
    switchTarget(state, targetKey(spec.scaleTargetRef), now);
    const observation = await observe(
      { ...this.deps, claims: this.claims },
      {
        key,
        namespace,
        obj,
        spec,
        cache: state.observed,
        now,
        wallClock: this.wallClock,
        // Spread per EventConsumer, so many that started together (or failed together) do not
        // all re-read their targets in the same second while the others wait for workers.
        targetRefreshMs: this.targetRefreshMs * (1 + state.status.refreshJitter),
      },
    );
    if (!observation.ok) {
      // The target was not read: what its replicas were is not known now (a target recreated, or
      // another controller holding it meanwhile, is not a change to report).
      state.observed.replicas = undefined;
      // Yielding the target to another controller: whatever it does meanwhile is not in this
      // history. Taking the target back later starts a new one, seeded with the size found then, as
      // a new leader's is — not a history from before (its windows would let the first poll halve
      // what the other controller set, and its rates would span the whole gap).
      if (observation.reason === 'TargetConflict') switchTarget(state, YIELDED_TARGET, now);
      let message = observation.message;
      let fields: EventConsumerStatus = {};
      if (observation.scale !== undefined) {
        const bounds = await this.replicasWithoutBacklog(poll, spec, observation.scale);
        if (bounds.conflict) {
          state.observed.target = undefined;
          state.observed.conflicts++;
          this.deps.metrics.countError(namespace, name, 'ScaleConflict');
          return state.observed.conflicts <= MAX_IMMEDIATE_CONFLICT_RETRIES
            ? { requeueAfterMs: 0 }
            : requeue();
        }
        state.observed.conflicts = 0;
        if (bounds.note !== undefined) message = `${message} (${bounds.note})`;
        fields = { currentReplicas: observation.scale.statusReplicas };
        // What a restart's hold reads (lastScaleBefore): the count written, and when.
        if (bounds.scaledTo !== undefined) {
          const scaledTarget = targetKey(spec.scaleTargetRef);
          // ... and what its scale-up step policies count (scale-up-record.ts).
          const scaleUps = scaleUpsAfter(
            this.lastStatus(poll),
            scaledTarget,
            {
              upPeriodSeconds: scaleUpPeriodSeconds(toScalingSpec(spec).scaleUp),
              change: { from: observation.scale.specReplicas, to: bounds.scaledTo },
            },
            clocks.wall,
          );
          fields = {
            ...fields,
            desiredReplicas: bounds.scaledTo,
            lastScaleTime: new Date(clocks.wall).toISOString(),
            lastScaleTarget: scaledTarget,
            scaleUps,
          };
        }
      }
      await this.reportFailure(
        poll,
        observation.reason,
        message,
        [...notObserved(observation.reason, observation.message), pausedCondition(spec)],
        fields,
      );
      return requeue();
    }

    const seen = this.noticeOutsideChange(poll, spec, observation.scale);
    const lateWrite = seen?.lateWrite;
    const tug = this.tugOfWar(poll, spec, observation.scale, seen?.outside);
    if (tug.yielded) {
      // Another writer keeps setting the replicas: left to it, as to an HPA (TargetConflict). Whatever
      // it does meanwhile is not in this history (see the TargetConflict path above).
      switchTarget(state, YIELDED_TARGET, now);
      const message = yieldedMessage(tug, spec.scaleTargetRef);
      await this.reportFailure(
        poll,
        'TargetConflict',
        message,
        [...notObserved('TargetConflict', message), pausedCondition(spec)],
        { currentReplicas: observation.scale.statusReplicas },
      );
      return requeue();
    }
    // Recorded as a change made (just before this poll): the step policies measure from the size
    // before it, so undoing it is not held back by them.
    if (lateWrite !== undefined) state.scaling = withLateWrite(state.scaling, now, lateWrite);

    // Decide.
    const previous = state.scaling;
    const lastScaleAt = lastScaleBefore(obj, targetKey(spec.scaleTargetRef), observation.scale, clocks);
    // The scale-ups an earlier process made, for a new history's step policies (scale-up-record.ts).
    const upPeriodSeconds = scaleUpPeriodSeconds(toScalingSpec(spec).scaleUp);
    const scaleUpsBefore = Object.values(previous).some((m) => !m.seeded)
      ? scaleUpsBeforeThis(obj, targetKey(spec.scaleTargetRef), observation.scale, upPeriodSeconds, clocks)
      : [];
    const verdict = decideAll({
      spec,
      readings: observation.readings,
      scale: observation.scale,
      memories: previous,
      now,
      policy: this.policy,
      ...(lastScaleAt === undefined ? {} : { lastScaleAt }),
      ...(scaleUpsBefore.length === 0 ? {} : { scaleUpsBefore }),
      ...(lateWrite === undefined ? {} : { lateWrite }),
    });
    if (lateWrite !== undefined && verdict.change !== undefined)
      verdict.why = `${verdict.why} (undoing a late write of the previous leader term, which set ${lateWrite.to} replicas after this term began)`;
    // Adaptive poll: the policy asks to read again sooner while arrivals or the queue move
    // (scaling/objective.ts); pollInterval stays the longest interval. Not while paused: nothing
    // read sooner would be acted on, and the policy, disagreeing with the held count, would ask
    // for it at every poll.
    const suggested = verdict.nextPollSeconds;
    const paused = spec.paused || spec.pausedReplicas !== undefined;
    if (!paused && suggested !== undefined && suggested * 1000 < pollIntervalMs(spec)) {
      dueAt = now + Math.max(1000, suggested * 1000);
      state.dueAt = dueAt;
    }

    // Act.
    const action = await this.act(poll, spec, observation.scale, verdict);
    if ('specChanged' in action) {
      // Decided by a spec older than the stored one: void. When the cache took the stored object
      // (cache.answered), decide again with it, at once. When it did not (no answered, or a
      // supervisor not synced), an immediate requeue would decide from the same old spec, GET the
      // same newer object and requeue at once again for as long as the watch stalls: the next poll
      // comes at the interval instead, writing nothing until the cache catches up. Deleted or
      // recreated: its watch event (or the informer's restart) brings the news; until then, polls
      // at the interval write nothing.
      state.scaling = previous;
      return action.specChanged === 'newer' && this.cacheMovedPast(poll) ? { requeueAfterMs: 0 } : requeue();
    }
    if (!action.ok && action.conflict) {
      // The target changed since it was read: this verdict is void. Forget it (as if this poll
      // had not happened), read the target again from etcd and decide again, at once.
      state.scaling = previous;
      state.observed.target = undefined;
      state.observed.conflicts++;
      this.deps.metrics.countError(namespace, name, 'ScaleConflict');
      poll.log.info('scale target changed since it was read; reading it again', {
        conflicts: state.observed.conflicts,
        detail: action.message,
      });
      return state.observed.conflicts <= MAX_IMMEDIATE_CONFLICT_RETRIES ? { requeueAfterMs: 0 } : requeue();
    }
    state.observed.conflicts = 0;
    const current = observation.scale.specReplicas;
    // Stored other than asked (a mutating admission): that is the change made, recorded as such.
    const applied = action.ok ? undefined : action.applied;
    const adjusted = applied !== undefined && applied !== current;
    // A consumer polled for the first time has a memory without a target: stamp it.
    state.scaling = memoriesForTarget(
      action.ok
        ? verdict.memories
        : adjusted
          ? Object.fromEntries(
              Object.entries(verdict.memories).map(([n, m]) => [
                n,
                { ...m, history: withAppliedChange(m.history, now, current, applied) },
              ]),
            )
          : unchangedMemories(verdict.memories, previous),
      targetKey(spec.scaleTargetRef),
    );
    this.logVerdict(
      poll,
      verdict,
      observation.scale,
      Object.values(previous).some((m) => m.fallbackActive),
    );
    this.recordEvents(poll, verdict.events);
    recordPollMetrics(this.deps.metrics, { namespace, name }, spec, observation.scale, verdict);
    if (!action.ok) {
      // The backlog was read and a verdict reached; only the change failed, or was stored changed.
      if (adjusted)
        this.recordScaled(poll, spec.scaleTargetRef, {
          change: { from: current, to: applied },
          why: `${verdict.why} (asked for ${verdict.change?.to}; the API server stored ${applied})`,
        });
      if (action.held) {
        // Said when it was learnt (and at each ask after a hold): nothing new to warn about.
        poll.log.debug(action.message, { reason: action.reason });
      } else {
        poll.log.warn(action.message, { reason: action.reason });
        this.deps.metrics.countError(namespace, name, action.reason);
        this.deps.events.warning(poll.target, action.reason, action.message);
      }
      const status = statusAfterPoll(
        this.lastStatus(poll),
        obj.metadata?.generation,
        observation.scale,
        verdict,
        this.statusTimes(poll, verdict),
        adjusted ? targetKey(spec.scaleTargetRef) : undefined,
        {
          upPeriodSeconds,
          ...(adjusted && applied !== undefined ? { change: { from: current, to: applied } } : {}),
        },
      );
      this.writeStatus(poll, status, [
        ...verdict.conditions,
        { type: 'Ready', status: 'False', reason: action.reason, message: action.message },
      ]);
      // Not the adaptive poll: a write refused now (RBAC, a webhook, a missing target) is refused
      // again a second later, each time with a Warning Event and a status write.
      dueAt = now + pollIntervalMs(spec);
      state.dueAt = dueAt;
      return requeue();
    }
    if (action.scaled) this.recordScaled(poll, spec.scaleTargetRef, verdict);

    // Report.
    const status = statusAfterPoll(
      this.lastStatus(poll),
      obj.metadata?.generation,
      observation.scale,
      verdict,
      this.statusTimes(poll, verdict),
      action.scaled ? targetKey(spec.scaleTargetRef) : undefined,
      {
        upPeriodSeconds,
        ...(action.scaled && verdict.change !== undefined ? { change: verdict.change } : {}),
      },
    );
    this.writeStatus(poll, status, verdict.conditions);
    return requeue();
  }

  /**
   * Before a /scale write: is the cached EventConsumer the stored one? One GET from etcd per write
   * (not per poll). A watch that stalled silently leaves the cache behind; a spec changed since
   * (paused, a lower maxReplicas) must not be overridden by one more write from the old spec. A
   * newer generation goes to the cache (which restarts its informer) and this poll's verdict is
   * void; a different uid (recreated) or a 404 (deleted) writes nothing either.
   */
  private async specCurrent(poll: Poll): Promise<'current' | 'newer' | 'gone'> {
    let stored: EventConsumerObject;
    try {
      stored = await this.deps.api.request<EventConsumerObject>(
        'GET',
        eventConsumerPath(poll.namespace, poll.name),
      );
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return 'gone';
      throw err;
    }
    if (stored.metadata?.uid !== poll.obj.metadata?.uid) return 'gone';
    if ((stored.metadata?.generation ?? 0) <= (poll.obj.metadata?.generation ?? 0)) return 'current';
    poll.log.warn(
      'the EventConsumer changed since it was cached (a stalled watch?): deciding again with the stored spec',
      {
        cachedGeneration: poll.obj.metadata?.generation,
        generation: stored.metadata?.generation,
      },
    );
    this.deps.cache.answered?.(stored);
    return 'newer';
  }

  /** The cache now holds a newer generation of this EventConsumer than the one this poll decided with. */
  private cacheMovedPast(poll: Poll): boolean {
    const cached = this.deps.cache.get(poll.name, poll.namespace);
    return (
      cached?.metadata?.uid === poll.obj.metadata?.uid &&
      (cached?.metadata?.generation ?? 0) > (poll.obj.metadata?.generation ?? 0)
    );
  }

  /** The one change a poll may make: PATCH /scale, conditional on the version read. */
  private async act(
    poll: Poll,
    spec: EventConsumerSpec,
    scale: ScaleReading,
    verdict: ConsumersVerdict,
  ): Promise<Action> {
    const ref = spec.scaleTargetRef;
    const change = verdict.change;
    if (!change) return { ok: true, scaled: false };
    const memory = poll.state.observed;
    const ask: AskContext = {
      refKey: targetKey(ref),
      uid: scale.uid,
      generation: poll.obj.metadata?.generation,
      current: scale.specReplicas,
      to: change.to,
      now: poll.now,
    };
    const limit = memory.admissionLimit;
    const held = heldFor(limit, ask);
    if (limit !== undefined && held !== undefined)
      return {
        ok: false,
        conflict: false,
        reason: 'ScaleAdjusted',
        message: adjustedMessage(ref, limit.asked, limit.stored, limit.holdMs),
        held: true,
      };
    const cached = await this.specCurrent(poll);
    if (cached !== 'current') return { ok: false, conflict: false, specChanged: cached };
    let stored: number | undefined;
    try {
      stored = await this.deps.scale.setReplicas(poll.namespace, ref, change.to, scale.resourceVersion);
    } catch (err) {
      afterFailedScaleWrite(memory, err, change.to);
      if (err instanceof ScaleError)
        return err.kind === 'Conflict'
          ? { ok: false, conflict: true, message: err.message }
          : { ok: false, conflict: false, reason: SCALE_REASONS[err.kind], message: err.message };
      throw err;
    }
    const applied = stored ?? change.to;
    afterAnsweredScaleWrite(memory);
    memory.replicas = { refKey: targetKey(ref), uid: scale.uid, replicas: applied };
    memory.admissionLimit = afterWrite(limit, ask, stored, pollIntervalMs(spec));
    if (applied === change.to) return { ok: true, scaled: true };
    return {
      ok: false,
      conflict: false,
      reason: 'ScaleAdjusted',
      message: adjustedMessage(ref, change.to, applied, memory.admissionLimit?.holdMs),
      applied,
    };
  }

  /**
   * Replicas set by someone else since the last reading — `kubectl scale`, a GitOps tool
   * re-applying a manifest with `replicas`, a script, another controller (`outside`, logged with
   * the counts; tugOfWar says whether jetscale sets them back) — or by a late write of the previous
   * leader term (`lateWrite`). While paused (spec.paused), replicas set by hand are the user's and
   * nothing is reported.
   */
  private noticeOutsideChange(
    poll: Poll,
    spec: EventConsumerSpec,
    scale: ScaleReading,
  ): { lateWrite?: LateWrite; outside?: OutsideChange } | undefined {
    const memory = poll.state.observed;
    const ref = spec.scaleTargetRef;
    const refKey = targetKey(ref);
    const known = memory.replicas;
    const unanswered = memory.unanswered;
    memory.replicas = { refKey, uid: scale.uid, replicas: scale.specReplicas };
    memory.unanswered = undefined;
    if (known === undefined || known.refKey !== refKey || known.uid !== scale.uid) return undefined;
    if (known.replicas === scale.specReplicas || spec.paused) return undefined;
    const manager = scale.replicasManager;
    if (manager?.manager === FIELD_MANAGER) {
      // This process's own write whose answer was lost (a timeout), applied after all.
      if (unanswered === scale.specReplicas) return undefined;
      // jetscale's field manager, and not this term's write: a write of the previous leader term
      // that reached the API server after this term read the target (its writer frozen between
      // its fence check and its send, a SIGSTOP or a long GC pause; the resourceVersion it was
      // based on was still current because this term had changed nothing). Not the user's doing
      // and not a rival: set from the backlog again at this poll, the change undone as one of
      // jetscale's own (withLateWrite), not held as the policy's earlier size.
      this.deps.metrics.previousTermWrites.inc({ namespace: poll.namespace, name: poll.name });
      poll.log.warn(
        "replicas of the scale target were set by a late write of the previous leader term (jetscale's own, sent before that term ended and applied after this one began): setting them from the backlog again",
        {
          target: `${ref.kind}/${ref.name}`,
          from: known.replicas,
          to: scale.specReplicas,
          manager: manager.manager,
          at: manager.time,
          ...(this.deps.writer === undefined ? {} : { term: this.deps.writer }),
        },
      );
      return { lateWrite: { from: known.replicas, to: scale.specReplicas } };
    }
    poll.log.warn('replicas of the scale target were changed by someone else', {
      target: `${ref.kind}/${ref.name}`,
      from: known.replicas,
      to: scale.specReplicas,
      manager: manager?.manager,
      operation: manager?.operation,
      at: manager?.time,
    });
    return { outside: { manager: manager?.manager ?? UNNAMED_WRITER } };
  }

  /**
   * Whether jetscale scales the target at this poll or leaves its replicas to another writer that
   * keeps setting them (tug-of-war.ts), with what it says about either. A change by someone else
   * that jetscale sets back is counted
   * (jetscale_eventconsumer_errors_total{reason="ReplicasChangedOutside"}: a tool that re-applies at
   * every sync shows as a steady rate until jetscale yields to it), and its Warning Event names the
   * field manager, not repeated for the same manager within 10 minutes. The change at which it
   * yields is counted too; its Warning is the TargetConflict one (reportFailure), and changes while
   * yielded (not set back) are neither counted nor told. Taking the target back is a
   * Normal Event, TargetTakenBack.
   */
  private tugOfWar(
    poll: Poll,
    spec: EventConsumerSpec,
    scale: ScaleReading,
    outside: OutsideChange | undefined,
  ): TugVerdict {
    const memory = poll.state.observed;
    const ref = spec.scaleTargetRef;
    const was = memory.tug?.yielded;
    const { state, verdict } = tugOfWar(
      memory.tug,
      {
        target: `${targetKey(ref)} ${scale.uid ?? ''}`,
        now: poll.now,
        generation: poll.obj.metadata?.generation,
        ...(outside === undefined ? {} : { change: outside }),
      },
      this.tugRules,
    );
    memory.tug = state;
    if (verdict.yielded) {
      if (verdict.fresh) {
        this.deps.metrics.countError(poll.namespace, poll.name, 'ReplicasChangedOutside');
        poll.log.warn('another writer keeps setting the replicas of the scale target: leaving them to it', {
          target: `${ref.kind}/${ref.name}`,
          manager: verdict.manager,
          changes: verdict.count,
          again: verdict.again,
          quietSeconds: verdict.quietMs / 1000,
        });
      }
      return verdict;
    }
    if (verdict.takenBack !== undefined) {
      const message = takenBackMessage(verdict.takenBack, ref);
      poll.log.info(message, { target: `${ref.kind}/${ref.name}`, manager: was?.manager });
      this.deps.events.normal(poll.target, 'TargetTakenBack', message);
    }
    if (outside !== undefined) {
      const reason = 'ReplicasChangedOutside';
      const m = scale.replicasManager;
      const who =
        m === undefined
          ? 'a writer the target does not name (no field manager owns spec.replicas)'
          : `"${m.manager}"${m.subresource === 'scale' ? ' through /scale' : m.operation === 'Apply' ? ' (server-side apply)' : ''}`;
      this.deps.metrics.countError(poll.namespace, poll.name, reason);
      this.deps.events.warning(
        poll.target,
        reason,
        `spec.replicas of ${ref.kind} ${ref.name} was changed by ${who}, not by jetscale, which owns the replicas of the target it scales and sets them from the backlog again. To set replicas by hand, pause this EventConsumer first (spec.paused: true, or spec.pausedReplicas); a GitOps tool or manifest must leave spec.replicas of ${ref.name} out (or ignore differences in it): jetscale sets back ${this.tugRules.changes - 1} changes by one writer within ${Math.round(this.tugRules.windowMs / 60_000)} min and then leaves the replicas to it (TargetConflict) until it has been quiet for a while (counted in jetscale_eventconsumer_errors_total{reason="${reason}"})${ownerText(scale)}`,
      );
    }
    return verdict;
  }

  /**
   * A poll that stopped before the backlog was read, with the target read (credentials that cannot
   * be read): the target is kept within minReplicas..maxReplicas all the same, as for a backlog that
   * cannot be read (decide.ts withinBounds) — a bound changed in the same edit that broke the
   * Secret, or replicas set by hand meanwhile, must not stay outside it until the Secret is fixed.
   * spec.pausedReplicas wins, as it does over a backlog that cannot be read (it needs none);
   * spec.paused leaves the target alone. The write is conditional on the version read, as every scale.
   */
  private async replicasWithoutBacklog(
    poll: Poll,
    spec: EventConsumerSpec,
    scale: ScaleReading,
  ): Promise<{ conflict?: true; note?: string; scaledTo?: number }> {
    const current = scale.specReplicas;
    const paused = spec.pausedReplicas;
    if (paused === undefined && spec.paused) return {};
    const bounded =
      paused === undefined
        ? withinBounds(spec, current, current)
        : { desired: paused, why: `pausedReplicas ${paused}: holding it` };
    if (bounded.desired === current) return {};
    const ref = spec.scaleTargetRef;
    if ((await this.specCurrent(poll)) !== 'current') return {};
    let stored: number | undefined;
    try {
      stored = await this.deps.scale.setReplicas(poll.namespace, ref, bounded.desired, scale.resourceVersion);
    } catch (err) {
      afterFailedScaleWrite(poll.state.observed, err, bounded.desired);
      if (!(err instanceof ScaleError)) throw err;
      if (err.kind === 'Conflict') return { conflict: true };
      return {
        note: `${ref.kind} ${ref.name} has ${current} replicas and could not be scaled to ${bounded.desired} (${bounded.why}): ${err.message}`,
      };
    }
    afterAnsweredScaleWrite(poll.state.observed);
    const applied = stored ?? bounded.desired;
    const adjusted = applied === bounded.desired ? '' : `; ${adjustedMessage(ref, bounded.desired, applied)}`;
    if (applied === current)
      return { note: `${ref.kind} ${ref.name} has ${current} replicas (${bounded.why})${adjusted}` };
    const change = { from: current, to: applied };
    this.recordScaled(poll, ref, { change, why: `${bounded.why}${adjusted}` });
    return {
      note: `scaled ${ref.kind} ${ref.name} from ${current} to ${applied}: ${bounded.why}${adjusted}`,
      scaledTo: applied,
    };
  }

  private recordScaled(
    poll: Poll,
    ref: ScaleTargetRef,
    verdict: Pick<ConsumersVerdict, 'change' | 'why'>,
  ): void {
    const change = verdict.change;
    if (!change) return;
    const direction = change.to > change.from ? 'up' : 'down';
    this.deps.metrics.scaleEvents.inc({ namespace: poll.namespace, name: poll.name, direction });
    this.deps.events.normal(
      poll.target,
      'Scaled',
      `scaled ${ref.kind} ${ref.name} from ${change.from} to ${change.to}: ${verdict.why}`,
    );
    poll.log.info('scaled', {
      target: `${ref.kind}/${ref.name}`,
      from: change.from,
      to: change.to,
      why: verdict.why,
    });
  }

  private async reportInvalidSpec(poll: Poll, problems: string[]): Promise<ReconcileResult> {
    const message = `the spec is invalid: ${problems.join('; ')}. Fix the EventConsumer (kubectl explain eventconsumer.spec)`;
    poll.log.warn('invalid EventConsumer spec', { problems });
    this.deps.metrics.countError(poll.namespace, poll.name, 'InvalidSpec');
    this.deps.events.warning(poll.target, 'InvalidSpec', message);
    this.writeStatus(
      poll,
      {
        ...statusForGeneration(this.lastStatus(poll), poll.obj.metadata?.generation),
        lastPollTime: new Date(poll.clocks.wall).toISOString(),
      },
      [
        { type: 'Ready', status: 'False', reason: 'InvalidSpec', message },
        ...notObserved('InvalidSpec', message),
      ],
    );
    poll.state.dueAt = poll.now + INVALID_SPEC_REQUEUE_MS;
    return { requeueAfterMs: INVALID_SPEC_REQUEUE_MS };
  }

  /** A poll that could not observe or act: Ready=False with the reason, replicas left alone. */
  private async reportFailure(
    poll: Poll,
    reason: string,
    message: string,
    extra: ConditionUpdate[],
    /** Status fields this poll knows anyway (the target's, when it was read). */
    fields: EventConsumerStatus = {},
  ): Promise<void> {
    poll.log.warn(message, { reason });
    this.deps.metrics.countError(poll.namespace, poll.name, reason);
    this.deps.events.warning(poll.target, reason, message);
    this.writeStatus(
      poll,
      {
        ...statusForGeneration(this.lastStatus(poll), poll.obj.metadata?.generation),
        ...fields,
        consecutiveFailures: Math.max(0, ...Object.values(poll.state.scaling).map((m) => m.failures)),
        lastPollTime: new Date(poll.clocks.wall).toISOString(),
      },
      [{ type: 'Ready', status: 'False', reason, message }, ...extra],
    );
  }

  private logVerdict(
    poll: Poll,
    verdict: ConsumersVerdict,
    scale: ScaleReading,
    wasInFallback: boolean,
  ): void {
    // Every poll's decision at debug level: the trace to read when replicas are not what you expect.
    poll.log.debug('decided', {
      current: verdict.current,
      ready: scale.readyReplicas,
      desired: verdict.desired,
      why: verdict.why,
      rates: verdict.consumers.map((c) => c.verdict.read?.decision.rates),
    });
    if (verdict.errorReason !== undefined) {
      const error = verdict.conditions.find((c) => c.type === 'Ready')?.message ?? verdict.errorReason;
      poll.log.warn(error, { reason: verdict.errorReason, failures: verdict.failures });
    } else if (wasInFallback) {
      poll.log.info('leaving fallback: metrics are back');
    }
  }

  private recordEvents(poll: Poll, events: PlannedEvent[]): void {
    for (const e of events) {
      if (e.type === 'Normal') this.deps.events.normal(poll.target, e.reason, e.message);
      else
        this.deps.events.warning(
          poll.target,
          e.reason,
          e.message,
          e.repeatKey !== undefined ? { repeatKey: e.repeatKey } : {},
        );
    }
  }

  /** The status to build on: the one this process last wrote, else the one the object carries. */
  private lastStatus(poll: Poll): EventConsumerStatus {
    return poll.state.status.written ?? poll.obj.status ?? {};
  }

  /**
   * Hands the status to the status writer when it is due (report.ts statusLane): at once when what
   * users act on changed, the readings under the writer's budget. Never waits for the write.
   */
  private writeStatus(poll: Poll, status: EventConsumerStatus, updates: ConditionUpdate[]): void {
    const memory = poll.state.status;
    const next: EventConsumerStatus = {
      ...statusToWrite(memory, poll.obj, status, updates, poll.clocks.wall),
      // What a restart or a new leader needs of the tug of war (tug-of-war.ts carriedTug), from memory
      // at every write: whatever path this poll took.
      tugOfWar: tugStatus(poll.state.observed.tug, poll.clocks),
      writtenBy: this.deps.writer,
    };
    this.deps.metrics.setConditions(poll.namespace, poll.name, next.conditions ?? []);
    const fingerprint = statusFingerprint(next);
    const lane = statusLane(
      fingerprint,
      memory,
      poll.now,
      this.cadence,
      this.statusWriter.isWaiting(poll.key),
    );
    if (lane === undefined) return;
    const staleSince = memory.landedAt ?? -Infinity;
    rememberWritten(memory, next, fingerprint, poll.now);
    this.statusWriter.submit(
      poll.key,
      lane,
      {
        path: `${eventConsumerPath(poll.namespace, poll.name)}/status`,
        // Refused when the object under this name is no longer the one this status was built for.
        contentType: JSON_PATCH,
        body: statusPatchBody(poll.obj.metadata?.uid, next),
        ...(poll.obj.metadata?.uid === undefined
          ? {}
          : { object: { path: eventConsumerPath(poll.namespace, poll.name), uid: poll.obj.metadata.uid } }),
        onWritten: (writtenLane) => {
          memory.landedAt = this.now();
          this.deps.metrics.statusWrites.inc({ lane: writtenLane });
        },
        onFailed: (err) => {
          forgetWritten(memory, next);
          this.noticeRefusedStatus(poll, err);
        },
        ...(this.deps.writer === undefined
          ? {}
          : { writer: { ours: this.deps.writer, seen: writtenBy(poll.obj) } }),
      },
      staleSince,
    );
  }

  /**
   * A status write the API server refused for good (4xx: an admission webhook or policy, a status
   * schema stricter than jetscale's CRD): scaling goes on without it, but `kubectl get ec` shows an
   * older poll and nothing else would say why. A Warning Event says it (the recorder sends the
   * same one at most every 10 minutes). Transient failures (5xx, 429, timeouts) are retried
   * quietly at the next poll.
   */
  private noticeRefusedStatus(poll: Poll, err: unknown): void {
    if (!(err instanceof KubeApiError) || err.status < 400 || err.status >= 500 || err.status === 429) return;
    this.deps.events.warning(
      poll.target,
      'StatusNotWritten',
      `the API server refused this EventConsumer's status (HTTP ${err.status} ${err.reason}: ${err.message}): replicas are still scaled from the backlog, but status and conditions show an older poll until it is accepted. An admission webhook or policy refusing status writes, or an EventConsumer CRD other than jetscale's (manifests/crd), is the usual cause`,
    );
  }

  /** The times status shows for this poll, on the wall clock. */
  private statusTimes(poll: Poll, verdict: ConsumersVerdict): StatusTimes {
    // The latest activity any consumer read this poll saw (each history keeps it on the monotonic clock).
    const active = verdict.consumers.flatMap(({ verdict: v }) => {
      const at = v.read?.decision.history.lastActiveAt;
      return at === undefined ? [] : [at];
    });
    const time = lastActiveTime(
      poll.state.status,
      active.length > 0 ? Math.max(...active) : undefined,
      poll.clocks,
    );
    return time === undefined ? { wall: poll.clocks.wall } : { wall: poll.clocks.wall, lastActiveTime: time };
  }

  private stateFor(key: string, obj: EventConsumerObject, clocks: ClockReading): ConsumerState {
    let state = this.states.get(key);
    if (state && state.uid !== obj.metadata?.uid) {
      // Deleted and recreated under the same name while the informer was not looking (a relist
      // turns that into an update with the same generation): nothing of the old object carries over.
      const [namespace = '', name = ''] = key.split('/');
      this.forget(key);
      this.deps.metrics.forget(namespace, name);
      this.deps.events.forget(namespace, name);
      state = undefined;
    }
    if (!state) {
      state = newConsumerState(obj, statusFingerprint, clocks);
      // Left to another writer (or taken back from one) by an earlier process: go on from there
      // rather than fight it two more rounds (status.tugOfWar, validated).
      const tug = carriedTug(obj.status?.tugOfWar, clocks, this.tugRules);
      if (tug !== undefined) state.observed.tug = tug;
      // This process's first poll of it (a new term, a restart, a new EventConsumer): read the
      // target at every poll for a while, to see a late write of the previous term at once.
      state.observed.freshReadsUntil = clocks.monotonic + this.lateWriteWatchMs;
      this.states.set(key, state);
    }
    return state;
  }

  private forget(key: string): void {
    this.statusWriter.forget(key);
    for (const { source } of this.states.get(key)?.observed.sources.values() ?? []) source.close();
    this.states.delete(key);
  }
}

/**
 * When jetscale last scaled the target, as far as the API server tells, on the policy clock:
 * status.lastScaleTime. That status is written after the scale and apart from it, so a process
 * killed in between leaves an older one: then the target's spec.replicas differs from the
 * status.desiredReplicas the last status recorded, and spec.replicas was last set by jetscale (its
 * field manager owns it in managedFields, or the target does not say — a custom resource's /scale
 * carries no managedFields): the last scale may be just now, and now is taken. (The /scale write's
 * managedFields entry carries no time.) lastScaleTime is another process's wall-clock time; one ahead
 * of ours counts as now. Only when status.lastScaleTarget names this target (or is absent: a status
 * written before it existed, or its field pruned by an older CRD).
 */
export function lastScaleBefore(
  obj: EventConsumerObject,
  refKey: string,
  scale: ScaleReading,
  clocks: ClockReading,
): number | undefined {
  const manager = scale.replicasManager?.manager;
  const statusTarget = obj.status?.lastScaleTarget;
  if (statusTarget !== undefined && statusTarget !== refKey) {
    // The status's last scale is another target's (spec.scaleTargetRef changed since): it says
    // nothing of this one. Replicas last set by jetscale may have been set just now (a scale whose
    // status did not land before a restart): held from now; otherwise nothing of its own to hold.
    return manager === FIELD_MANAGER ? clocks.monotonic : undefined;
  }
  if (statusBehind(obj, scale)) return clocks.monotonic;
  const fromStatus = obj.status?.lastScaleTime === undefined ? NaN : Date.parse(obj.status.lastScaleTime);
  if (!Number.isFinite(fromStatus)) return undefined;
  return monotonicTimeOf(Math.min(fromStatus, clocks.wall), clocks);
}

/**
 * Whether the target's spec.replicas may have been set by a jetscale scale whose status did not land
 * (see lastScaleBefore): it differs from the status's desiredReplicas, and jetscale's field manager
 * set it (or the target does not say who did, and the status names a count).
 */
function statusBehind(obj: EventConsumerObject, scale: ScaleReading): boolean {
  const manager = scale.replicasManager?.manager;
  return (
    (manager === undefined || manager === FIELD_MANAGER) &&
    obj.status?.desiredReplicas !== scale.specReplicas &&
    (manager === FIELD_MANAGER || obj.status?.desiredReplicas !== undefined)
  );
}

/**
 * The scale-ups of the target a new history's step policies count (scale-up-record.ts): those in
 * status.scaleUps, and — when the last scale's status may not have landed (statusBehind) and the
 * target has more replicas than that status asked for — one to them just now, from the count that
 * status asked for (or the target's pods, when it names none).
 */
export function scaleUpsBeforeThis(
  obj: EventConsumerObject,
  refKey: string,
  scale: ScaleReading,
  upPeriodSeconds: number,
  clocks: ClockReading,
): Array<{ at: number; from: number; to: number }> {
  const carried = carriedScaleUps(obj.status, refKey, upPeriodSeconds, clocks);
  const statusTarget = obj.status?.lastScaleTarget;
  if (upPeriodSeconds <= 0 || (statusTarget !== undefined && statusTarget !== refKey)) return carried;
  if (!statusBehind(obj, scale)) return carried;
  const from = obj.status?.desiredReplicas ?? scale.statusReplicas;
  return typeof from === 'number' && from < scale.specReplicas
    ? [...carried, { at: clocks.monotonic, from, to: scale.specReplicas }]
    : carried;
}

/** status.writtenBy of the object as cached, when it is a string (the status is the API server's input). */
function writtenBy(obj: EventConsumerObject): string | undefined {
  const value: unknown = obj.status?.writtenBy;
  return typeof value === 'string' ? value : undefined;
}

/**
 * For a ReplicasChangedOutside Event: the target's controller, when it has one (a Deployment an
 * operator created): that controller may be what sets its replicas.
 */
function ownerText(scale: ScaleReading): string {
  const c = scale.controller;
  if (c === undefined) return '';
  return `. ${c.kind} ${c.name} manages this target (its controller ownerReference): if that controller sets spec.replicas from its own spec, the two undo each other at every poll; point spec.scaleTargetRef at ${c.kind} ${c.name} if it has a /scale, or leave the replicas to it and delete this EventConsumer`;
}

/**
 * A /scale write the API server stored with other replicas than asked for. `holdMs`: how long
 * after this ask jetscale asks again (undefined: the next poll asks). Not a countdown: the message
 * stays the same between asks, so the status is not rewritten for it.
 */
function adjustedMessage(ref: ScaleTargetRef, asked: number, stored: number, holdMs?: number): string {
  const again =
    holdMs === undefined
      ? 'jetscale asks again at the next poll while the backlog needs it'
      : `jetscale keeps ${stored} and asks again ${Math.ceil(holdMs / 1000)} s after this ask (twice as long each time the answer stays ${stored}, up to every ${ADMISSION_RETRY_MAX_MS / 60_000} min), or at once when this spec changes`;
  return `asked for ${asked} replicas of ${ref.kind} ${ref.name}, and the API server stored ${stored}: a mutating admission webhook or policy changed the request. ${again}. To stop asking, ${limitAdvice(asked, stored)}`;
}

/** The memories to keep when the verdict's change was not made (see memoryIfUnchanged). */
function unchangedMemories(next: ScalingMemories, previous: ScalingMemories): ScalingMemories {
  return Object.fromEntries(
    Object.entries(next).map(([name, m]) => {
      return [name, memoryIfUnchanged(m, memoryFor(previous, name))];
    }),
  );
}

/**
 * The conditions of a poll that stopped before reading the backlog: what it would have told is
 * unknown, not what an earlier poll saw (status.backlog keeps the last reading, and
 * lastBacklogReadTime says when that was).
 */
function notObserved(reason: string, why: string): ConditionUpdate[] {
  const message = `not known: the backlog was not read (${why})`;
  return [
    { type: 'MetricsAvailable', status: 'Unknown', reason, message },
    { type: 'Active', status: 'Unknown', reason, message },
    { type: 'ScalingLimited', status: 'Unknown', reason, message },
    { type: 'StreamFull', status: 'Unknown', reason, message },
    { type: 'MessagesRemovedUnworked', status: 'Unknown', reason, message },
  ];
}
