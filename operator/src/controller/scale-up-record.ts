// The scale-up step policies' record of the changes made, carried over an operator restart or a
// change of leader through status.scaleUps. The step policies (scaling/behavior.ts scaleUpLimit)
// measure each period from the replica count at its start, from the scale events the policy
// history keeps in memory; a new process had none, so a restart in the middle of a climb granted a
// second full step at once (2 pods per 60 s: 1 -> 3, a restart, 3 -> 5 at its first reading).
//
// Only scale-ups are written. A scale-down a restart forgets is held by the scale-down hold
// (decide.ts scaleDownHoldAfterRestart); for the scale-up limit, a removal left out makes the
// period's start count lower, so the limit is never looser than the old process's. For the same
// reason the oldest entries beyond MAX_CARRIED_SCALE_UPS are folded into one at the newest folded
// entry's time, adding what each added: a period that holds that time counts at least as many added
// as the old process counted. Entries older than the longest scale-up period are dropped.
//
// status is input from outside: read back, a record counts only for the target it names
// (status.lastScaleTarget), with whole counts that rise, at most MAX_CARRIED_SCALE_UPS entries, and
// times no more than a minute ahead of this clock (a time ahead by less counts as now, one behind
// shortens what it holds by its lag, as for lastScaleTime); anything else is left out.
import type { EventConsumerStatus, ScaleUpStatus } from '../api/v1alpha1/event-consumer.js';
import { monotonicTimeOf, type ClockReading } from '../clock.js';
import type { ScalingRules } from '../scaling/types.js';

/** Entries status.scaleUps holds at most (the CRD's maxItems). */
export const MAX_CARRIED_SCALE_UPS = 8;

/** A time in status further ahead of this clock than this is no time this operator wrote. */
const MAX_CLOCK_AHEAD_MS = 60_000;

/** A scale this poll made, for the record (report.ts statusAfterPoll). */
export interface ScaleRecord {
  /** The longest scale-up step policy period, seconds (scaleUpPeriodSeconds). */
  upPeriodSeconds: number;
  /** The change this poll made to the target's replicas, if any. */
  change?: { from: number; to: number };
}

/** The longest period of the scale-up step policies: 0 when scale-up is disabled or has none. */
export function scaleUpPeriodSeconds(rules: ScalingRules): number {
  if (rules.selectPolicy === 'Disabled') return 0;
  return Math.max(0, ...rules.policies.map((p) => p.periodSeconds));
}

/**
 * status.scaleUps after a poll at wall time `wall`: the last status's entries still within the
 * longest scale-up period (none when the last scale was of another target), and this poll's change
 * when it was a scale-up; folded to MAX_CARRIED_SCALE_UPS. Undefined when empty.
 */
export function scaleUpsAfter(
  base: EventConsumerStatus,
  target: string | undefined,
  record: ScaleRecord,
  wall: number,
): ScaleUpStatus[] | undefined {
  const sameTarget =
    target === undefined || base.lastScaleTarget === undefined || base.lastScaleTarget === target;
  const kept = (sameTarget ? (base.scaleUps ?? []) : []).filter((e) => {
    const at = Date.parse(e.time);
    return (
      Number.isFinite(at) && wall - at < record.upPeriodSeconds * 1000 && at - wall <= MAX_CLOCK_AHEAD_MS
    );
  });
  const change = record.change;
  if (change !== undefined && change.to > change.from && record.upPeriodSeconds > 0)
    kept.push({ time: new Date(wall).toISOString(), from: change.from, to: change.to });
  const folded = foldOldest(kept);
  return folded.length === 0 ? undefined : folded;
}

/** The entries with the oldest folded into one so that at most MAX_CARRIED_SCALE_UPS remain (see the header). */
function foldOldest(entries: ScaleUpStatus[]): ScaleUpStatus[] {
  if (entries.length <= MAX_CARRIED_SCALE_UPS) return entries;
  const cut = entries.length - MAX_CARRIED_SCALE_UPS + 1;
  const old = entries.slice(0, cut);
  const newest = old[old.length - 1] as ScaleUpStatus;
  const added = old.reduce((n, e) => n + (e.to - e.from), 0);
  return [{ time: newest.time, from: Math.max(0, newest.to - added), to: newest.to }, ...entries.slice(cut)];
}

/** A carried scale-up on the policy clock (ScalingHistory.scaleEvents). */
export interface CarriedScaleUp {
  at: number;
  from: number;
  to: number;
}

/**
 * The scale-ups of status.scaleUps that count now for `target` (see the header): on the monotonic
 * clock, within the longest scale-up period `upPeriodSeconds`. Empty when none can be taken.
 */
export function carriedScaleUps(
  status: EventConsumerStatus | undefined,
  target: string,
  upPeriodSeconds: number,
  now: ClockReading,
): CarriedScaleUp[] {
  if (status === undefined || status.lastScaleTarget !== target || !(upPeriodSeconds > 0)) return [];
  const entries: unknown = status.scaleUps;
  if (!Array.isArray(entries) || entries.length > MAX_CARRIED_SCALE_UPS) return [];
  const out: CarriedScaleUp[] = [];
  for (const e of entries as unknown[]) {
    if (typeof e !== 'object' || e === null) continue;
    const { time, from, to } = e as { time?: unknown; from?: unknown; to?: unknown };
    const whole = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
    if (typeof time !== 'string' || !whole(from) || !whole(to) || to <= from) continue;
    const wallAt = Date.parse(time);
    if (!Number.isFinite(wallAt) || wallAt - now.wall > MAX_CLOCK_AHEAD_MS) continue;
    if (now.wall - wallAt >= upPeriodSeconds * 1000) continue;
    out.push({ at: monotonicTimeOf(Math.min(wallAt, now.wall), now), from, to });
  }
  return out;
}
