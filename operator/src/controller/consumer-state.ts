// What the operator remembers about one EventConsumer between polls (in memory, per leader), in
// four parts, each owned by one step of the reconcile: the observe step caches the parsed spec,
// the backlog source and the scale target; the decide step carries the policy's history and the
// fallback state machine; the report step remembers the status it last wrote.
import type {
  EventConsumerObject,
  EventConsumerStatus,
  SpecParseResult,
} from '../api/v1alpha1/event-consumer.js';
import type { BacklogSource } from '../backlog/backlog-source.js';
import { monotonicTimeOf, type ClockReading } from '../clock.js';
import type { ScaleReading } from '../kube/scale-client.js';
import type { AdmissionLimit } from './admission-cap.js';
import type { TugOfWar } from './tug-of-war.js';
import { CARRIED_CAPACITY_MAX_AGE_SECONDS, carriedReadAt } from './carried-age.js';
import { carriedAtCap, type CarriedAtCapMemory } from './carried-at-cap.js';
import { carriedPanic, type CarriedPanic } from './carried-panic.js';
import { emptyHistory } from '../scaling/index.js';
import { validHandlersInHand } from '../scaling/in-hand.js';
import { MAX_CARRIED_PER_REPLICA_PER_SECOND } from '../scaling/rates.js';
import type { ScalingHistory } from '../scaling/types.js';
import { STATUS_DECIMALS } from './report.js';

/** The decide step's memory: the policy's history and the fallback state machine. */
export interface ScalingMemory {
  history: ScalingHistory;
  /** Polls in a row whose backlog could not be read. */
  failures: number;
  /**
   * When the first of those failed (policy time, ms; this process's first for a count carried over
   * a restart): fallback waits for both the count and the time (decide.ts fallbackOutageSeconds).
   */
  failingSince?: number;
  /** True while the target is held at spec.fallback.replicas. */
  fallbackActive: boolean;
  /**
   * True once a backlog was read by this process. Before that the stabilization window is seeded
   * with the target's current size, so a new leader does not scale down at its first poll.
   */
  seeded: boolean;
  /** The scale target (apiVersion/kind/name) the history was gathered on. */
  target?: string;
  /**
   * True for the history of a target come back to (spec.scaleTargetRef renamed away and back,
   * switchTarget): its own step-policy record and holds are kept, so no restart hold is made up
   * for it; its first reading still seeds the stabilization window with the size it has. Dropped
   * at that reading.
   */
  returned?: true;
  /**
   * No scale-down before this (policy time, ms): set at this process's first reading when a scale
   * made before it started (status.lastScaleTime, or now when that status may not have landed:
   * reconciler.ts lastScaleBefore) is within the longest scale-down policy period. The step policies' record of changes lived in
   * the old process; this keeps the period it began (see decide.ts).
   */
  scaleDownHoldUntil?: number;
  /**
   * The per-replica capacity an earlier process measured for this consumer (its status entry,
   * validated by carriedCapacity): used by this process's first reading when it is of the same
   * stream and consumer (decide.ts fromBacklog), so a restart or a new leader does not start from
   * "unknown" again. Dropped once used, and with a new scale target.
   */
  carriedCapacity?: CarriedCapacity;
  /**
   * The failing spell an earlier process was in for this consumer (its status entry, validated by
   * carriedHandlersFailing): taken back by this process's first reading when it is of the same
   * stream and consumer (decide.ts fromBacklog), so a restart or a new leader neither adds a second
   * spare replica nor starts the spell's clock over (scaling/decide.ts 3d). Dropped once used, and
   * with a new scale target.
   */
  carriedHandlersFailing?: CarriedHandlersFailing;
  /**
   * The replicas an earlier process found overdue (its status entry, validated by
   * carriedReplicasOverdue): taken back by this process's first reading (scaling/readiness.ts
   * carriedReadiness), so a restart or a new leader adds no more of the pods that do not become
   * ready before its own readings cover the readiness deadline. Dropped once used, and with a new
   * scale target.
   */
  carriedReplicasOverdue?: CarriedReplicasOverdue;
  /**
   * What an earlier process learnt of max_ack_pending (its status entry, validated by carriedAtCap):
   * taken back by this process's first reading when it is of the same stream and consumer (decide.ts
   * fromBacklog), so a restart or a new leader neither climbs past a measured cap again nor probes
   * again at once. Dropped once used, and with a new scale target.
   */
  carriedAtCap?: CarriedAtCapMemory;
  /**
   * Handlers an earlier process read as slower than the stream's max_age (its status entry,
   * validated by carriedHandlersSlowerThanMaxAge): offered to this process's first reading when it
   * is of the same stream and consumer and no rollout is under way (decide.ts fromBacklog), which
   * takes it only when that reading shows it still holds (scaling/rates.ts carriedBeyondMaxAge), so
   * a restart or a new leader adds no trial replica again. Dropped once used, and with a new scale
   * target.
   */
  carriedHandlersSlowerThanMaxAge?: CarriedHandlersSlowerThanMaxAge;
  /**
   * The panic window an earlier process was holding for this consumer (its status entry, validated
   * by carried-panic.ts carriedPanic): taken back by this process's first reading when it is of the
   * same stream and consumer (decide.ts policyInputFor), so a restart or a new leader in the middle
   * of a spike does not scale down within it. Dropped once used, and with a new scale target.
   */
  carriedPanic?: CarriedPanic;
}

/** A finding read back from status.consumers[].rates.handlersSlowerThanMaxAge (see carriedHandlersSlowerThanMaxAge). */
export interface CarriedHandlersSlowerThanMaxAge {
  /** When the run that showed it began (monotonic ms: lastBacklogReadTime less its seconds). */
  since: number;
  /** The replicas ready then. */
  replicas: number;
  /** The stream's max_age it was found on (seconds). */
  maxAgeSeconds: number;
  stream: string;
  consumer: string;
  /** Not used after this (monotonic ms): CARRIED_CAPACITY_MAX_AGE_SECONDS after lastBacklogReadTime. */
  usableUntil: number;
}

/** Replicas overdue as read back from status.consumers[].replicasOverdue (see carriedReplicasOverdue). */
export interface CarriedReplicasOverdue {
  /** When they were (monotonic ms: the entry's lastBacklogReadTime). */
  at: number;
  asked: number;
  ready: number;
  overdue: number;
}

/** A failing spell read back from status.consumers[].rates.handlersFailing (see carriedHandlersFailing). */
export interface CarriedHandlersFailing {
  /** When it began (monotonic ms: lastBacklogReadTime less its seconds). */
  since: number;
  /** The replicas ready when it began. */
  replicas: number;
  stream: string;
  consumer: string;
  /** Not used after this (monotonic ms): CARRIED_CAPACITY_MAX_AGE_SECONDS after lastBacklogReadTime. */
  usableUntil: number;
}

/** A per-replica capacity read back from status.consumers[] (see carriedCapacity). */
export interface CarriedCapacity {
  perReplicaPerSecond: number;
  /** The status marked it a low end only (rates.perReplicaLowEndOnly): it stays one. */
  lowEndOnly?: true;
  /** ... and one read from held messages alone (rates.perReplicaLowEndHeld): it stays one. */
  lowEndHeld?: true;
  /** What the replicas held was shown in their handlers' hands (rates.handlersInHand): it stays so. */
  handlersInHand?: { seconds: number; perReplica: number; from: number; to: number };
  stream: string;
  consumer: string;
  /** When the figure was current (wall ms: the entry's lastBacklogReadTime). */
  readAt: number;
  /**
   * The figure is not used after this (monotonic ms): CARRIED_CAPACITY_MAX_AGE_SECONDS after readAt.
   * A process whose first readings fail keeps it in memory until one succeeds.
   */
  usableUntil?: number;
}

/** The observe step's caches. */
export interface ObservedCache {
  /** The spec parsed for this generation (parsing every poll costs CPU at 1,000 EventConsumers). */
  spec?: { generation: number | undefined; result: SpecParseResult };
  /** The backlog source of each consumer (by name), reopened when its servers, credentials or consumer change. */
  sources: Map<string, { key: string; source: BacklogSource }>;
  /** The scale target as last read (at: monotonic ms), reused while the EventConsumer is idle. */
  target?: { refKey: string; reading: ScaleReading; at: number };
  /**
   * Writes in a row refused with 409 (the target changed since it was read). While above zero
   * the next read of the target bypasses both this cache and the API server's watch cache.
   */
  conflicts: number;
  /**
   * The target's spec.replicas as this process last read or wrote it (refKey, the target's uid): a
   * later reading with another count that jetscale did not write was set by someone else.
   */
  replicas?: { refKey: string; uid: string | undefined; replicas: number };
  /**
   * A /scale write of this process whose outcome is not known (it failed, but not with 409: it may
   * have been applied): the replicas it asked for. A later reading with that count is this
   * process's own write, not a late one of the previous leader term.
   */
  unanswered?: number;
  /**
   * Until then (monotonic ms) the target is read at every poll, not from the cache above: a new
   * term (this state's first poll) watches for a late write of the previous leader term
   * (LATE_WRITE_WATCH_MS, reconciler.ts). Ended by this term's first write of the target: from then
   * on its resourceVersion has moved on, and a write based on an older reading gets 409.
   */
  freshReadsUntil?: number;
  /** The limit the last adjusted write found (a mutating admission), while it is trusted. */
  admissionLimit?: AdmissionLimit;
  /** Who else set the target's replicas lately, and whether they are left to one of them (tug-of-war.ts). */
  tug?: TugOfWar;
}

/** The report step's memory of the status it last wrote. */
export interface StatusMemory {
  /** The status last written; fresher than the informer cache, which lags our own writes. */
  written?: EventConsumerStatus;
  /** `written` as compared between polls, all of it (see statusFingerprint). */
  comparable?: string;
  /** `written` without its readings (backlog, rates, times, messages): what users act on. */
  comparableState?: string;
  /** comparableState and the order of magnitude of each backlog in `written`. */
  comparableBand?: string;
  /** When `written` was handed to the status writer (monotonic ms): the readings cadence counts from it. */
  writtenAt?: number;
  /** When a status of this EventConsumer last reached the API server (monotonic ms): the readings lane's order. */
  landedAt?: number;
  /** The last activity the policy saw (monotonic ms) and its wall-clock time as status shows it. */
  lastActive?: { at: number; time: string };
  /** Spreads unchanged-status refreshes of different EventConsumers over [1, 1.5) × the period. */
  refreshJitter: number;
}

/** The decide step's memory of each consumer, by name (consumersOf): each is sized on its own. */
export type ScalingMemories = Record<string, ScalingMemory>;

export interface ConsumerState {
  /**
   * The object this state belongs to. An EventConsumer deleted and recreated under the same name
   * is a new object: it starts from a new state, whatever events the informer missed.
   */
  uid: string | undefined;
  scaling: ScalingMemories;
  /** Targets left by a rename, by target key (switchTarget): bounded, newest last. */
  leftTargets?: Map<string, LeftTarget>;
  observed: ObservedCache;
  status: StatusMemory;
  /** When the next poll is due (monotonic ms), for the poll-delay metric. */
  dueAt?: number;
}

/**
 * The state of an EventConsumer this process has not polled yet. After a restart or failover the
 * status written by the previous leader counts as written (so an unchanged EventConsumer is not
 * rewritten just because this process is new), and its failure count carries over.
 */
export function newConsumerState(
  obj: EventConsumerObject,
  fingerprint: (status: EventConsumerStatus) => { state: string; band: string; all: string },
  now: ClockReading,
  random: () => number = Math.random,
): ConsumerState {
  const state: ConsumerState = {
    uid: obj.metadata?.uid,
    scaling: carriedFailures(obj, now),
    observed: { conflicts: 0, sources: new Map() },
    status: { refreshJitter: random() * 0.5 },
  };
  if (obj.status?.conditions !== undefined) {
    state.status.written = obj.status;
    const f = fingerprint(obj.status);
    state.status.comparable = f.all;
    state.status.comparableState = f.state;
    state.status.comparableBand = f.band;
    const polled = obj.status.lastPollTime === undefined ? NaN : Date.parse(obj.status.lastPollTime);
    // Written by another process at a wall-clock time; a time ahead of ours counts as just now.
    if (Number.isFinite(polled)) {
      state.status.writtenAt = monotonicTimeOf(Math.min(polled, now.wall), now);
      state.status.landedAt = state.status.writtenAt;
    }
  }
  return state;
}

/**
 * The memory to decide with for this scale target: the policy's history describes the target it
 * was gathered on, so a changed scaleTargetRef starts a new history (seeded again with the new
 * target's size). Failures and fallback concern the backlog, not the target, and carry over.
 */
export function memoryForTarget(memory: ScalingMemory, target: string): ScalingMemory {
  if (memory.target === target) return memory;
  if (memory.target === undefined) return { ...memory, target };
  const {
    carriedCapacity: _dropped,
    carriedHandlersFailing: _spell,
    carriedReplicasOverdue: _overdue,
    carriedAtCap: _atCap,
    carriedHandlersSlowerThanMaxAge: _slower,
    carriedPanic: _panic,
    ...rest
  } = memory;
  return { ...rest, history: emptyHistory(), seeded: false, target };
}

/**
 * The failure counts a previous leader wrote (status.consumers, or status.consecutiveFailures of
 * a status written before there was a list, for the spec.nats consumer), so fallback's count
 * carries over a failover.
 */
function carriedFailures(obj: EventConsumerObject, now: ClockReading): ScalingMemories {
  const fresh = (failures: number): ScalingMemory => ({
    history: emptyHistory(),
    failures,
    fallbackActive: false,
    seeded: false,
  });
  const out: ScalingMemories = {};
  // A figure measured under another spec (servers, stream, consumer, target, credentials) says
  // nothing about this one: only a status written for this generation carries a capacity (report.ts
  // keeps an entry's rates over a failed read only within one generation, so its rates were
  // measured under the generation the status names).
  const generation = obj.metadata?.generation;
  const specUnchanged = typeof generation === 'number' && obj.status?.observedGeneration === generation;
  const entries = obj.status?.consumers;
  if (Array.isArray(entries)) {
    for (const e of entries as unknown[]) {
      if (typeof e !== 'object' || e === null) continue;
      const entry = e as { name?: unknown; consecutiveFailures?: unknown };
      if (typeof entry.name !== 'string') continue;
      const failures = typeof entry.consecutiveFailures === 'number' ? entry.consecutiveFailures : undefined;
      const capacity = specUnchanged ? carriedCapacity(e, now.wall) : undefined;
      const spell = specUnchanged ? carriedHandlersFailing(e, now) : undefined;
      const overdue = specUnchanged ? carriedReplicasOverdue(e, now) : undefined;
      const atCap = specUnchanged ? carriedAtCap(e, now) : undefined;
      const slower = specUnchanged ? carriedHandlersSlowerThanMaxAge(e, now) : undefined;
      const panic = specUnchanged ? carriedPanic(e, now) : undefined;
      if (
        failures === undefined &&
        capacity === undefined &&
        spell === undefined &&
        overdue === undefined &&
        atCap === undefined &&
        slower === undefined &&
        panic === undefined
      )
        continue;
      const memory = fresh(failures ?? 0);
      if (capacity !== undefined)
        memory.carriedCapacity = {
          ...capacity,
          usableUntil: monotonicTimeOf(capacity.readAt + CARRIED_CAPACITY_MAX_AGE_SECONDS * 1000, now),
        };
      if (spell !== undefined) memory.carriedHandlersFailing = spell;
      if (overdue !== undefined) memory.carriedReplicasOverdue = overdue;
      if (atCap !== undefined) memory.carriedAtCap = atCap;
      if (slower !== undefined) memory.carriedHandlersSlowerThanMaxAge = slower;
      if (panic !== undefined) memory.carriedPanic = panic;
      out[entry.name] = memory;
    }
    return out;
  }
  const nats = (obj.spec as { nats?: { consumer?: unknown } } | undefined)?.nats;
  const failures = obj.status?.consecutiveFailures;
  if (typeof nats?.consumer === 'string' && typeof failures === 'number')
    out[nats.consumer] = fresh(failures);
  return out;
}

/** memoryForTarget for every consumer's memory. */
export function memoriesForTarget(memories: ScalingMemories, target: string): ScalingMemories {
  return Object.fromEntries(Object.entries(memories).map(([name, m]) => [name, memoryForTarget(m, target)]));
}

/** The target key of a memory kept while another controller had the target (never a real target). */
export const YIELDED_TARGET = '(yielded to another controller)';

/** What is kept of a target a rename left: its memories and when (policy time, ms) it was left. */
export interface LeftTarget {
  at: number;
  memories: ScalingMemories;
}

/** Targets left by renames that are kept, and for how long (longer than any step policy period). */
export const LEFT_TARGETS_KEPT = 4;
export const LEFT_TARGET_MAX_AGE_MS = 3_600_000;

/**
 * The memories for `target` at a poll (policy time `now`). A rename A -> B -> A within a
 * scale-down period must not forget A: the step policies' record of A's changes (scaleEvents), its
 * stabilization window's recommendations, its panic and its scale-down hold are A's, and judged A
 * again when it comes back (before, A came back with an empty record: a scale-up policy's
 * allowance used just before the renames was granted again at once). So the memories of the
 * target left are kept (LEFT_TARGETS_KEPT targets, LEFT_TARGET_MAX_AGE_MS each) and those parts
 * restored on return; the backlog readings and rates start over (the consumer was read for
 * another target meanwhile), and the first reading seeds the window with the size A has then.
 * Yielding to another controller keeps nothing: taking a target back starts a new history.
 */
export function switchTarget(state: ConsumerState, target: string, now: number): void {
  const from = Object.values(state.scaling).find((m) => m.target !== undefined)?.target;
  if (from === undefined || from === target) {
    state.scaling = memoriesForTarget(state.scaling, target);
    return;
  }
  const left = (state.leftTargets ??= new Map());
  for (const [key, kept] of left) if (now - kept.at > LEFT_TARGET_MAX_AGE_MS) left.delete(key);
  left.delete(from);
  if (from !== YIELDED_TARGET && target !== YIELDED_TARGET) {
    left.set(from, { at: now, memories: state.scaling });
    while (left.size > LEFT_TARGETS_KEPT) left.delete(left.keys().next().value as string);
  }
  const back = left.get(target);
  left.delete(target);
  state.scaling = Object.fromEntries(
    Object.entries(state.scaling).map(([name, m]) => {
      const own = back?.memories[name];
      const fresh = memoryForTarget(m, target);
      if (own === undefined) return [name, fresh];
      const restored: ScalingMemory = {
        ...fresh,
        history: {
          ...emptyHistory(),
          recommendations: own.history.recommendations,
          scaleEvents: own.history.scaleEvents,
          ...(own.history.panicUntil === undefined ? {} : { panicUntil: own.history.panicUntil }),
        },
        returned: true,
      };
      if (own.scaleDownHoldUntil !== undefined) restored.scaleDownHoldUntil = own.scaleDownHoldUntil;
      return [name, restored];
    }),
  );
}

/**
 * The per-replica capacity a status.consumers[] entry shows, when it can be carried over: a status
 * is input from outside (another process wrote it, a user may have edited it), so it is taken only
 * from a status written for the object's current generation (carriedFailures), and only
 * when the entry names its stream and consumer, its rate is a finite number of at least the
 * resolution status is written to (report.ts STATUS_DECIMALS: 0.001) and at most
 * MAX_CARRIED_PER_REPLICA_PER_SECOND, and its lastBacklogReadTime (when that rate was current) is
 * a valid time no more than CARRIED_CAPACITY_MAX_AGE_SECONDS ago (and not ahead of this clock by
 * more than a minute). Otherwise undefined: the process starts from "unknown", as before.
 */
export function carriedCapacity(entry: unknown, wallNow: number): CarriedCapacity | undefined {
  if (typeof entry !== 'object' || entry === null) return undefined;
  const e = entry as { stream?: unknown; consumer?: unknown; rates?: unknown; lastBacklogReadTime?: unknown };
  if (typeof e.stream !== 'string' || e.stream === '' || typeof e.consumer !== 'string' || e.consumer === '')
    return undefined;
  if (typeof e.rates !== 'object' || e.rates === null) return undefined;
  const {
    perReplicaPerSecond: rate,
    perReplicaLowEndOnly: lowEnd,
    perReplicaLowEndHeld: held,
    handlersInHand: inHand,
  } = e.rates as {
    perReplicaPerSecond?: unknown;
    perReplicaLowEndOnly?: unknown;
    perReplicaLowEndHeld?: unknown;
    handlersInHand?: unknown;
  };
  // The operator writes rates to STATUS_DECIMALS (report.ts): a figure above 0 and below that
  // resolution is no status it wrote.
  if (
    typeof rate !== 'number' ||
    !Number.isFinite(rate) ||
    rate < 10 ** -STATUS_DECIMALS ||
    rate > MAX_CARRIED_PER_REPLICA_PER_SECOND
  )
    return undefined;
  // A mark that is neither true nor false is no status this operator wrote: not knowing whether
  // the figure is a low end, take none.
  if (lowEnd !== undefined && typeof lowEnd !== 'boolean') return undefined;
  // Held marks a kind of low end (rates.ts sets it only with perReplicaLowEndOnly): alone, or not a
  // boolean, it is no status this operator wrote.
  if (held !== undefined && (typeof held !== 'boolean' || (held && lowEnd !== true))) return undefined;
  // The in-hand mark (in-hand.ts validHandlersInHand: positive numbers, two different counts);
  // one that is not is no status this operator wrote.
  const handlersInHand =
    inHand === undefined ? undefined : validHandlersInHand({ ...(inHand as object), at: 0 });
  if (inHand !== undefined && handlersInHand === undefined) return undefined;
  const readAt = carriedReadAt(e.lastBacklogReadTime, wallNow);
  if (readAt === undefined) return undefined;
  return {
    perReplicaPerSecond: rate,
    ...(lowEnd === true ? { lowEndOnly: true as const } : {}),
    ...(held === true ? { lowEndHeld: true as const } : {}),
    ...(handlersInHand !== undefined
      ? {
          handlersInHand: {
            seconds: handlersInHand.seconds,
            perReplica: handlersInHand.perReplica,
            from: handlersInHand.from,
            to: handlersInHand.to,
          },
        }
      : {}),
    stream: e.stream,
    consumer: e.consumer,
    readAt,
  };
}

/**
 * The failing spell a status.consumers[] entry shows (rates.handlersFailing, written by report.ts
 * from the policy's rates), when it can be carried over: like a capacity (carriedCapacity), only
 * from a status written for the object's current generation, an entry that names its stream and
 * consumer, and a lastBacklogReadTime no more than CARRIED_CAPACITY_MAX_AGE_SECONDS ago (nor more
 * than a minute ahead); `seconds` a finite number of at least 0 and `replicas` a whole number of
 * at least 0 (the CRD's schema). Otherwise undefined: the process reads the spell afresh (and may
 * add a spare replica once more after FAILING_SPARE_AFTER_SECONDS of it).
 */
export function carriedHandlersFailing(
  entry: unknown,
  now: ClockReading,
): CarriedHandlersFailing | undefined {
  if (typeof entry !== 'object' || entry === null) return undefined;
  const e = entry as { stream?: unknown; consumer?: unknown; rates?: unknown; lastBacklogReadTime?: unknown };
  if (typeof e.stream !== 'string' || e.stream === '' || typeof e.consumer !== 'string' || e.consumer === '')
    return undefined;
  if (typeof e.rates !== 'object' || e.rates === null) return undefined;
  const spell = (e.rates as { handlersFailing?: unknown }).handlersFailing;
  if (typeof spell !== 'object' || spell === null) return undefined;
  const { seconds, replicas } = spell as { seconds?: unknown; replicas?: unknown };
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) return undefined;
  if (typeof replicas !== 'number' || !Number.isSafeInteger(replicas) || replicas < 0) return undefined;
  const readAt = carriedReadAt(e.lastBacklogReadTime, now.wall);
  if (readAt === undefined) return undefined;
  return {
    since: monotonicTimeOf(readAt - seconds * 1000, now),
    replicas,
    stream: e.stream,
    consumer: e.consumer,
    usableUntil: monotonicTimeOf(readAt + CARRIED_CAPACITY_MAX_AGE_SECONDS * 1000, now),
  };
}

/**
 * The finding of handlers slower than max_age a status.consumers[] entry shows
 * (rates.handlersSlowerThanMaxAge, written by report.ts from the policy's decision), when it can be
 * carried over: like a failing spell (carriedHandlersFailing), only from a status written for the
 * object's current generation, an entry that names its stream and consumer, and a
 * lastBacklogReadTime no more than CARRIED_CAPACITY_MAX_AGE_SECONDS ago (nor more than a minute
 * ahead); `seconds` a finite number of at least 0, `replicas` a whole number of at least 1 and
 * `maxAgeSeconds` a finite number above 0. Otherwise undefined: the process reads the handlers
 * afresh (one trial replica more). The policy takes it only when its first reading shows the same
 * max_age, no fewer replicas ready and no message acknowledged before it expired.
 */
export function carriedHandlersSlowerThanMaxAge(
  entry: unknown,
  now: ClockReading,
): CarriedHandlersSlowerThanMaxAge | undefined {
  if (typeof entry !== 'object' || entry === null) return undefined;
  const e = entry as { stream?: unknown; consumer?: unknown; rates?: unknown; lastBacklogReadTime?: unknown };
  if (typeof e.stream !== 'string' || e.stream === '' || typeof e.consumer !== 'string' || e.consumer === '')
    return undefined;
  if (typeof e.rates !== 'object' || e.rates === null) return undefined;
  const finding = (e.rates as { handlersSlowerThanMaxAge?: unknown }).handlersSlowerThanMaxAge;
  if (typeof finding !== 'object' || finding === null) return undefined;
  const { seconds, replicas, maxAgeSeconds } = finding as Record<string, unknown>;
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) return undefined;
  if (typeof replicas !== 'number' || !Number.isSafeInteger(replicas) || replicas < 1) return undefined;
  if (typeof maxAgeSeconds !== 'number' || !Number.isFinite(maxAgeSeconds) || !(maxAgeSeconds > 0))
    return undefined;
  if (typeof e.lastBacklogReadTime !== 'string') return undefined;
  const readAt = Date.parse(e.lastBacklogReadTime);
  if (!Number.isFinite(readAt)) return undefined;
  const age = (now.wall - readAt) / 1000;
  if (age > CARRIED_CAPACITY_MAX_AGE_SECONDS || age < -60) return undefined;
  return {
    // (A read time ahead of this clock counts as now.)
    since: monotonicTimeOf(Math.min(readAt, now.wall) - seconds * 1000, now),
    replicas,
    maxAgeSeconds,
    stream: e.stream,
    consumer: e.consumer,
    usableUntil: monotonicTimeOf(readAt + CARRIED_CAPACITY_MAX_AGE_SECONDS * 1000, now),
  };
}

/**
 * The replicas a status.consumers[] entry shows overdue (replicasOverdue, written by report.ts from
 * the policy's readiness report), when they can be carried over: like a capacity (carriedCapacity),
 * only from a status written for the object's current generation (the readiness deadline is in the
 * spec), and with a valid lastBacklogReadTime not ahead of this clock by more than a minute; whole
 * numbers with at least one overdue, no more overdue than asked, and no more ready than the overdue
 * leave (readiness.ts: overdue is the fewest asked less the most ready over the deadline, and what
 * is ready now is among them). Its age is bounded by the readiness deadline where it is used
 * (scaling/readiness.ts carriedReadiness). Otherwise undefined: the process finds overdue replicas
 * afresh, a deadline after its first reading.
 */
export function carriedReplicasOverdue(
  entry: unknown,
  now: ClockReading,
): CarriedReplicasOverdue | undefined {
  if (typeof entry !== 'object' || entry === null) return undefined;
  const e = entry as { replicasOverdue?: unknown; lastBacklogReadTime?: unknown };
  if (typeof e.replicasOverdue !== 'object' || e.replicasOverdue === null) return undefined;
  const { asked, ready, overdue } = e.replicasOverdue as {
    asked?: unknown;
    ready?: unknown;
    overdue?: unknown;
  };
  const whole = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
  if (!whole(asked) || !whole(ready) || !whole(overdue)) return undefined;
  if (overdue < 1 || overdue > asked || ready > asked - overdue) return undefined;
  if (typeof e.lastBacklogReadTime !== 'string') return undefined;
  const readAt = Date.parse(e.lastBacklogReadTime);
  if (!Number.isFinite(readAt) || (readAt - now.wall) / 1000 > 60) return undefined;
  return { at: monotonicTimeOf(Math.min(readAt, now.wall), now), asked, ready, overdue };
}
