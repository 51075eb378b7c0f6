// Another writer that keeps setting the target's replicas: a GitOps tool re-applying a manifest
// that still says `replicas: 3` (Argo CD with selfHeal, Flux at every interval, a `kubectl apply`
// loop) or a controller writing spec.replicas from its own spec. Each of its syncs undoes
// jetscale's count and jetscale's next poll undoes the sync: pods start and stop for as long as
// both run. The HPA and KEDA fight such a writer for ever; jetscale fights it twice, then leaves the
// replicas to it (TargetConflict, naming the field manager and the fix) and takes them back once
// that manager has left them alone for a quiet period. A single change (a person's `kubectl scale`)
// is set back as before. Pure: the reconciler feeds it the changes it sees and acts on the verdict.

import type { TugOfWarStatus } from '../api/v1alpha1/event-consumer.js';
import { monotonicTimeOf, wallTimeOf, type ClockReading } from '../clock.js';

/** When jetscale yields to a writer, and when it takes the target back. */
export interface TugOfWarRules {
  /** Changes of spec.replicas by one field manager within `windowMs` at which jetscale yields. */
  changes: number;
  windowMs: number;
  /** How long that manager must leave spec.replicas alone before jetscale takes the target back. */
  quietMs: number;
  /** The quiet period doubles each time the same manager is yielded to again, up to this. */
  maxQuietMs: number;
}

/**
 * The defaults, from the writers this is for. Argo CD's selfHeal re-syncs a drifted object within
 * seconds (selfHealTimeoutSeconds 5; newer versions back off 2 s x3 up to 5 min), so its third
 * change comes within a minute or so; Flux's kustomize-controller corrects drift once per
 * Kustomization interval (10 m in its documentation's examples), so its third comes about 20 min
 * after its first: 3 within 30 min catches both, and a person who scales by hand twice in half an
 * hour is still set back. Taken back after 30 min without a change by that manager (a GitOps tool
 * that has not written for two of Flux's intervals has been told to leave the field alone), then
 * 1 h, 2 h, 4 h if it undoes jetscale again each time: at most one round of pods started and
 * stopped per try.
 */
export const TUG_OF_WAR: TugOfWarRules = {
  changes: 3,
  windowMs: 30 * 60_000,
  quietMs: 30 * 60_000,
  maxQuietMs: 4 * 60 * 60_000,
};

/** The field manager of a change the target does not name (no managedFields entry owns spec.replicas). */
export const UNNAMED_WRITER = '';

/** What is remembered of the writers of one target (policy time, ms). */
export interface TugOfWar {
  /** The target these are of (its key and uid): another target, or this one recreated, starts afresh. */
  target: string;
  /** Changes of spec.replicas by others, within the rules' window, oldest first. */
  changes: { manager: string; at: number }[];
  /** Yielded to this manager since `since`; its last change at `lastChangeAt`. */
  yielded?: {
    manager: string;
    since: number;
    lastChangeAt: number;
    /** Its changes within the window when jetscale yielded (what the message says). */
    count: number;
    quietMs: number;
    /** Yielded at its first change after the target was taken back from it. */
    again: boolean;
    /** The EventConsumer's generation then: a new spec takes the target back at once. */
    generation: number | undefined;
  };
  /**
   * Taken back from this manager at `at`: a change by it within the window after that yields again
   * at once, with the quiet period doubled (the writer was still there, only quiet).
   */
  takenBack?: { manager: string; at: number; quietMs: number };
}

export type TugVerdict =
  /** jetscale scales the target; `takenBack` when it has just taken it back (say so). */
  | { yielded: false; takenBack?: TakenBack }
  /** The replicas are left to `manager`; `fresh` at the poll that yields. */
  | {
      yielded: true;
      fresh: boolean;
      manager: string;
      count: number;
      /** Yielded at its first change after jetscale took the target back from it. */
      again: boolean;
      windowMs: number;
      quietMs: number;
    };

export interface TakenBack {
  manager: string;
  /** 'quiet': the manager left spec.replicas alone for `quietMs`; 'spec': the EventConsumer changed. */
  why: 'quiet' | 'spec';
  quietMs: number;
  /** The quiet period of the next yield to the same manager, should it change them within `windowMs`. */
  nextQuietMs: number;
  windowMs: number;
}

/**
 * One poll: `change` when spec.replicas was set by someone other than jetscale since the last
 * reading (its field manager, UNNAMED_WRITER when the target does not say).
 */
export function tugOfWar(
  previous: TugOfWar | undefined,
  poll: { target: string; now: number; generation: number | undefined; change?: { manager: string } },
  rules: TugOfWarRules = TUG_OF_WAR,
): { state: TugOfWar; verdict: TugVerdict } {
  const { target, now, change } = poll;
  if (previous !== undefined && previous.target !== target) previous = undefined;
  const changes = (previous?.changes ?? []).filter((c) => now - c.at < rules.windowMs);
  if (change !== undefined) changes.push({ manager: change.manager, at: now });
  let takenBack = previous?.takenBack;
  if (takenBack !== undefined && now - takenBack.at >= rules.windowMs) takenBack = undefined;
  const yielded = previous?.yielded;

  if (yielded !== undefined) {
    const lastChangeAt = change?.manager === yielded.manager ? now : yielded.lastChangeAt;
    const specChanged = poll.generation !== yielded.generation;
    if (!specChanged && now - lastChangeAt < yielded.quietMs) {
      return {
        state: { target, changes, yielded: { ...yielded, lastChangeAt } },
        verdict: {
          yielded: true,
          fresh: false,
          manager: yielded.manager,
          count: yielded.count,
          again: yielded.again,
          windowMs: rules.windowMs,
          quietMs: yielded.quietMs,
        },
      };
    }
    // Its earlier changes are not counted again: the next yield comes at its first change (takenBack).
    const back: TakenBack = {
      manager: yielded.manager,
      why: specChanged ? 'spec' : 'quiet',
      quietMs: yielded.quietMs,
      nextQuietMs: Math.min(rules.maxQuietMs, yielded.quietMs * 2),
      windowMs: rules.windowMs,
    };
    return {
      state: {
        target,
        changes: changes.filter((c) => c.manager !== yielded.manager),
        takenBack: { manager: yielded.manager, at: now, quietMs: yielded.quietMs },
      },
      verdict: { yielded: false, takenBack: back },
    };
  }

  if (change !== undefined) {
    const count = changes.filter((c) => c.manager === change.manager).length;
    const again = takenBack?.manager === change.manager;
    if (again || count >= rules.changes) {
      const quietMs =
        again && takenBack !== undefined ? Math.min(rules.maxQuietMs, takenBack.quietMs * 2) : rules.quietMs;
      return {
        state: {
          target,
          changes,
          yielded: {
            manager: change.manager,
            since: now,
            lastChangeAt: now,
            count,
            quietMs,
            again,
            generation: poll.generation,
          },
        },
        verdict: {
          yielded: true,
          fresh: true,
          manager: change.manager,
          count,
          again,
          windowMs: rules.windowMs,
          quietMs,
        },
      };
    }
  }
  return {
    state: { target, changes, ...(takenBack === undefined ? {} : { takenBack }) },
    verdict: { yielded: false },
  };
}

/** A duration as a message says it: whole hours, else whole minutes, else seconds. */
function spoken(ms: number): string {
  if (ms >= 3_600_000 && ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms >= 60_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 1000)} s`;
}

function writerText(manager: string): string {
  return manager === UNNAMED_WRITER
    ? 'a writer the target does not name (no field manager owns spec.replicas)'
    : `field manager "${manager}"`;
}

/** What a target is called in messages: `Deployment web`. */
export interface TargetName {
  kind: string;
  name: string;
}

/**
 * Ready=False's message (reason TargetConflict) while yielded: who, how often, until when, and
 * what to change. Words only, the same at every poll of one yield (status is rewritten when they change).
 */
export function yieldedMessage(v: Extract<TugVerdict, { yielded: true }>, ref: TargetName): string {
  const who = writerText(v.manager);
  const what = v.again
    ? `${who} set spec.replicas of ${ref.kind} ${ref.name} again within ${spoken(v.windowMs)} of jetscale taking the replicas back from it`
    : `${who} set spec.replicas of ${ref.kind} ${ref.name} ${v.count} times in ${spoken(v.windowMs)}, each time undoing jetscale's count`;
  return (
    `${what}: jetscale leaves the replicas to it rather than fight (each would undo the other, starting and stopping pods at every sync) ` +
    `and scales again once it has left spec.replicas alone for ${spoken(v.quietMs)}, or at once when this EventConsumer's spec changes. ` +
    `For jetscale to scale ${ref.name}, take spec.replicas out of what that writer applies: ` +
    'Argo CD: ignoreDifferences on /spec/replicas with the sync option RespectIgnoreDifferences=true, or remove replicas from the manifest; ' +
    'Flux: remove replicas from the manifest (a HelmRelease: driftDetection.ignore on /spec/replicas); ' +
    'another controller: stop it setting replicas, or point spec.scaleTargetRef at what it manages. ' +
    'To set replicas by hand, pause this EventConsumer first (spec.paused: true)'
  );
}

/** The Normal Event (TargetTakenBack) when jetscale scales the target again. */
export function takenBackMessage(back: TakenBack, ref: TargetName): string {
  const who = writerText(back.manager);
  const why =
    back.why === 'quiet'
      ? `${who} has left spec.replicas of ${ref.kind} ${ref.name} alone for ${spoken(back.quietMs)}: jetscale scales it from the backlog again`
      : `this EventConsumer's spec changed: jetscale scales ${ref.kind} ${ref.name} from the backlog again, no longer waiting for ${who} to leave spec.replicas alone`;
  return `${why}. Should it set them again within ${spoken(back.windowMs)}, jetscale leaves them to it at once and waits ${spoken(back.nextQuietMs)} before the next try`;
}

/** The longest field manager name carried (the API server allows 128 characters). */
const MAX_MANAGER_LENGTH = 128;
/** The longest target key carried (status.lastScaleTarget's bound, and a uid). */
const MAX_TARGET_LENGTH = 1100;

/** status.tugOfWar for `state` (undefined when there is nothing a new process needs). */
export function tugStatus(state: TugOfWar | undefined, now: ClockReading): TugOfWarStatus | undefined {
  if (state === undefined || (state.yielded === undefined && state.takenBack === undefined)) return undefined;
  const time = (monotonicMs: number): string => new Date(wallTimeOf(monotonicMs, now)).toISOString();
  const y = state.yielded;
  const b = state.takenBack;
  return {
    target: state.target,
    ...(y === undefined
      ? {}
      : {
          yieldedTo: {
            manager: y.manager,
            since: time(y.since),
            lastChangeTime: time(y.lastChangeAt),
            changes: y.count,
            quietSeconds: y.quietMs / 1000,
            again: y.again,
            ...(y.generation === undefined ? {} : { generation: y.generation }),
          },
        }),
    ...(b === undefined
      ? {}
      : { takenBackFrom: { manager: b.manager, time: time(b.at), quietSeconds: b.quietMs / 1000 } }),
  };
}

/**
 * The tug of war status.tugOfWar carries (tugStatus), validated: anything malformed is dropped (the
 * part it is in: jetscale then counts changes afresh, as before this was carried). Neither a hostile
 * nor a stale status can make it yield for ever: a time ahead of this process's clock counts as
 * now, a quiet period is taken within rules.quietMs..rules.maxQuietMs, and tugOfWar takes the target
 * back once that has passed since the writer's last change (at the first poll, for a stale one), or
 * when the EventConsumer's generation is not the one recorded. One for another target or uid is
 * dropped by tugOfWar at the first poll.
 */
export function carriedTug(
  raw: unknown,
  now: ClockReading,
  rules: TugOfWarRules = TUG_OF_WAR,
): TugOfWar | undefined {
  if (!isObject(raw)) return undefined;
  const target = raw.target;
  if (typeof target !== 'string' || target === '' || target.length > MAX_TARGET_LENGTH) return undefined;
  const at = (value: unknown): number | undefined => {
    if (typeof value !== 'string') return undefined;
    const wall = Date.parse(value);
    return Number.isFinite(wall) ? monotonicTimeOf(Math.min(wall, now.wall), now) : undefined;
  };
  const quiet = (value: unknown): number | undefined =>
    typeof value === 'number' && Number.isFinite(value)
      ? Math.min(rules.maxQuietMs, Math.max(rules.quietMs, value * 1000))
      : undefined;
  const manager = (value: unknown): string | undefined =>
    typeof value === 'string' && value.length <= MAX_MANAGER_LENGTH ? value : undefined;

  let yielded: TugOfWar['yielded'];
  const y = raw.yieldedTo;
  if (isObject(y)) {
    const who = manager(y.manager);
    const since = at(y.since);
    const lastChangeAt = at(y.lastChangeTime);
    const quietMs = quiet(y.quietSeconds);
    const count = y.changes;
    const generation = y.generation;
    if (
      who !== undefined &&
      since !== undefined &&
      lastChangeAt !== undefined &&
      quietMs !== undefined &&
      typeof count === 'number' &&
      Number.isSafeInteger(count) &&
      count >= 1 &&
      typeof y.again === 'boolean' &&
      (generation === undefined || (typeof generation === 'number' && Number.isSafeInteger(generation)))
    )
      yielded = {
        manager: who,
        since: Math.min(since, lastChangeAt),
        lastChangeAt,
        count,
        quietMs,
        again: y.again,
        generation,
      };
  }
  let takenBack: TugOfWar['takenBack'];
  const b = raw.takenBackFrom;
  if (isObject(b)) {
    const who = manager(b.manager);
    const time = at(b.time);
    const quietMs = quiet(b.quietSeconds);
    if (who !== undefined && time !== undefined && quietMs !== undefined)
      takenBack = { manager: who, at: time, quietMs };
  }
  if (yielded === undefined && takenBack === undefined) return undefined;
  return {
    target,
    changes: [],
    ...(yielded === undefined ? {} : { yielded }),
    ...(takenBack === undefined ? {} : { takenBack }),
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
