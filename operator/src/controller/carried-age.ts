// How recent a status entry's readings must be for what an earlier process learnt from them to be
// carried over an operator restart or a change of leader (consumer-state.ts carriedCapacity and the
// other carried parts, carried-at-cap.ts): one bound for all of them, read from the entry's
// lastBacklogReadTime, the time its readings were current.

/**
 * A capacity in status older than this (its lastBacklogReadTime) is not carried over: the workload
 * may have changed since (a new image, other handlers), and this process measures its own within
 * the first busy interval.
 */
export const CARRIED_CAPACITY_MAX_AGE_SECONDS = 900;

/** A read time further ahead of this process's clock than this is no time an operator wrote. */
export const CARRIED_CLOCK_AHEAD_SECONDS = 60;

/**
 * The wall time (ms) of an entry's lastBacklogReadTime when what it read may be carried: a valid
 * time no more than CARRIED_CAPACITY_MAX_AGE_SECONDS before `wallNow` and no more than
 * CARRIED_CLOCK_AHEAD_SECONDS after it. Undefined otherwise.
 */
export function carriedReadAt(lastBacklogReadTime: unknown, wallNow: number): number | undefined {
  if (typeof lastBacklogReadTime !== 'string') return undefined;
  const readAt = Date.parse(lastBacklogReadTime);
  if (!Number.isFinite(readAt)) return undefined;
  const age = (wallNow - readAt) / 1000;
  if (age > CARRIED_CAPACITY_MAX_AGE_SECONDS || age < -CARRIED_CLOCK_AHEAD_SECONDS) return undefined;
  return readAt;
}
