// The informer supervisor's decisions (informer-supervisor.ts), without I/O or timers: what a
// write answer says about the cached object, whether a watch is overdue, silent or due a probe,
// what a probe's list shows the watch did not bring, and what a fresh list shows was deleted.
import type { KubernetesObject } from '@kubernetes/client-node';

export function objectKey(obj: KubernetesObject): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}

/**
 * What an answer of the API server (the object as stored by a write of ours, or as a probe's list
 * has it) says about the cached object: nothing ('ignore': not cached, another object under the
 * same name, or the version the cache holds); a spec change the watch missed ('missed': a newer
 * generation, taken at once); or an event the watch owes within canaryMs ('owed').
 */
export function answerVerdict(
  cached: KubernetesObject | undefined,
  answer: KubernetesObject,
): 'ignore' | 'missed' | 'owed' {
  const resourceVersion = answer.metadata?.resourceVersion;
  if (cached === undefined || resourceVersion === undefined) return 'ignore';
  if (cached.metadata?.uid !== answer.metadata?.uid) return 'ignore';
  if (cached.metadata?.resourceVersion === resourceVersion) return 'ignore';
  if ((answer.metadata?.generation ?? 0) > (cached.metadata?.generation ?? 0)) return 'missed';
  return 'owed';
}

/** An event of an object the watch owes since `at` (monotonic ms). */
export interface OwedEvent {
  resourceVersion: string;
  at: number;
}

export interface WatchLimits {
  canaryMs: number;
  staleAfterMs: number;
  probeAfterMs: number;
}

export interface WatchState {
  now: number;
  /** When the informer last showed life: an event, a list, a connect. */
  lastHeardAt: number;
  owed: ReadonlyMap<string, OwedEvent>;
  /** A restart is scheduled (its timer set) and not yet launched. */
  restartPending: boolean;
  /** When the last restart was scheduled, until it launched. */
  restartScheduledAt: number | undefined;
  probing: boolean;
  synced: boolean;
  lastProbeAt: number;
}

export interface WatchCheck {
  /** The first owed event past canaryMs: restart at once (nothing else is decided then). */
  overdue?: { key: string; event: OwedEvent; waitedMs: number };
  /** A restart scheduled longer than staleAfterMs ago never came back (a hung list): drop it. */
  stuckRestart: boolean;
  /** List and compare: the watch has brought nothing for probeAfterMs, and no probe since. */
  probe: boolean;
  /** Restart now: silent past staleAfterMs, or a stuck restart. */
  restart: boolean;
}

/** The watchdog's decision at `now` (see informer-supervisor.ts for why each limit). */
export function watchCheck(state: WatchState, limits: WatchLimits): WatchCheck {
  const { now } = state;
  const pending = state.restartPending;
  if (!pending)
    for (const [key, event] of state.owed)
      if (now - event.at > limits.canaryMs)
        return {
          overdue: { key, event, waitedMs: now - event.at },
          stuckRestart: false,
          probe: false,
          restart: false,
        };
  const stuckRestart =
    state.restartScheduledAt !== undefined && now - state.restartScheduledAt > limits.staleAfterMs;
  const silenceMs = now - state.lastHeardAt;
  const probe =
    (!pending || stuckRestart) &&
    !state.probing &&
    state.synced &&
    silenceMs >= limits.probeAfterMs &&
    now - state.lastProbeAt >= limits.probeAfterMs;
  return { stuckRestart, probe, restart: stuckRestart || silenceMs > limits.staleAfterMs };
}

/**
 * What a probe's list shows against the cache: objects to judge as write answers (cached ones),
 * and events the watch owes — an object listed and not cached, one cached and not listed (a
 * delete) — unless already owed.
 */
export function probeFindings<T extends KubernetesObject>(
  items: readonly T[],
  cached: ReadonlyMap<string, T>,
  owed: ReadonlyMap<string, OwedEvent>,
): { answers: T[]; owed: Array<{ key: string; resourceVersion: string }> } {
  const answers: T[] = [];
  const newlyOwed: Array<{ key: string; resourceVersion: string }> = [];
  const listed = new Set<string>();
  for (const obj of items) {
    const key = objectKey(obj);
    listed.add(key);
    if (cached.has(key)) answers.push(obj);
    else if (!owed.has(key)) newlyOwed.push({ key, resourceVersion: obj.metadata?.resourceVersion ?? '' });
  }
  for (const [key, obj] of cached)
    if (!listed.has(key) && !owed.has(key))
      newlyOwed.push({ key, resourceVersion: `deleted after ${obj.metadata?.resourceVersion ?? ''}` });
  return { answers, owed: newlyOwed };
}

/** Cached keys a full list lacks: deleted while nobody was watching. */
export function deletedByList(cachedKeys: Iterable<string>, items: readonly KubernetesObject[]): string[] {
  const listed = new Set(items.map(objectKey));
  return [...cachedKeys].filter((key) => !listed.has(key));
}

/** An event for the version the cache already holds (a re-list's, a repeated one): no change. */
export function sameVersion(old: KubernetesObject | undefined, obj: KubernetesObject): boolean {
  return (
    old?.metadata?.resourceVersion !== undefined &&
    old.metadata.resourceVersion === obj.metadata?.resourceVersion
  );
}
