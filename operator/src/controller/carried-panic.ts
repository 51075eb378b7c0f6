// The panic window (scaling/decide.ts 2b: no scale-down for PANIC_WINDOW_SECONDS after the last
// panic reading, unless the panic is over sooner), carried over an operator restart or a change of
// leader through status.consumers[].panicHoldSeconds. Without it a new process taking over in the
// middle of a spike forgot it was panicking: once the restart's scale-down hold (the scale-down
// policy's period since the last scale, 15 s by default) had passed, a user's short scale-down
// window let it step down where the old process held (carried-panic.test: 38 -> 5 at the first
// reading 25 s after the panic; the old process held 38 for the 60 s).
//
// Written as the seconds the window still held at the entry's lastBacklogReadTime, so a status
// written once carries it on whatever clock reads it back. What users act on (the state lane,
// report.ts statusFingerprint): a panic that begins or ends, and the window's end each time it
// moves on by PANIC_WRITE_STEP_SECONDS, so a restart reads an end at most that much (and the
// write's latency) before the old process's, where the readings lane's 2-3 min would have lost it.
//
// A status is input from outside: read back, the entry must name its stream and consumer, have a
// lastBacklogReadTime carriedReadAt takes, and hold a number of seconds from 0 to
// PANIC_WINDOW_SECONDS (the most the policy ever holds); a window already over is not taken. The
// policy then holds as it does after its own panic, and ends the window sooner by the same rule
// (the backlog it sized for drained, arrivals within what the ready replicas do).
import type { ConsumerStatus } from '../api/v1alpha1/event-consumer.js';
import { monotonicTimeOf, type ClockReading } from '../clock.js';
import { PANIC_WINDOW_SECONDS } from '../scaling/decide.js';
import type { BacklogSample, ScalingHistory } from '../scaling/types.js';
import { carriedReadAt } from './carried-age.js';

/** The window's end is written in the state lane each time it moves on by this much. */
export const PANIC_WRITE_STEP_SECONDS = 15;

/** Status is written to this many decimals (report.ts STATUS_DECIMALS; not imported: report.ts imports this). */
const DECIMALS = 3;

/**
 * The entry's panicHoldSeconds after a reading (`history` as the policy returned it): how long the
 * panic window holds from the reading on, at most PANIC_WINDOW_SECONDS. Undefined when none holds.
 */
export function panicHoldStatus(history: ScalingHistory, sample: BacklogSample): number | undefined {
  const until = history.panicUntil;
  if (until === undefined || !(until > sample.at)) return undefined;
  const seconds = Math.min(PANIC_WINDOW_SECONDS, (until - sample.at) / 1000);
  return Math.round(seconds * 10 ** DECIMALS) / 10 ** DECIMALS;
}

/**
 * What of an entry's panic window is state (report.ts statusFingerprint): whether one holds, and
 * its end in steps of PANIC_WRITE_STEP_SECONDS. Undefined when none holds.
 */
export function panicWindowState(
  entry: Pick<ConsumerStatus, 'panicHoldSeconds' | 'lastBacklogReadTime'>,
): number | undefined {
  const hold = entry.panicHoldSeconds;
  if (hold === undefined) return undefined;
  const readAt = entry.lastBacklogReadTime === undefined ? NaN : Date.parse(entry.lastBacklogReadTime);
  if (!Number.isFinite(readAt)) return 0;
  return Math.floor((readAt + hold * 1000) / (PANIC_WRITE_STEP_SECONDS * 1000));
}

/** A panic window read back from status (see carriedPanic). */
export interface CarriedPanic {
  /** No scale-down before this (monotonic ms). */
  until: number;
  stream: string;
  consumer: string;
}

/** The panic window of a status.consumers[] entry, when it can be carried over (see the header). */
export function carriedPanic(entry: unknown, now: ClockReading): CarriedPanic | undefined {
  if (typeof entry !== 'object' || entry === null) return undefined;
  const e = entry as Partial<Record<keyof ConsumerStatus, unknown>>;
  if (typeof e.stream !== 'string' || e.stream === '' || typeof e.consumer !== 'string' || e.consumer === '')
    return undefined;
  const hold = e.panicHoldSeconds;
  if (typeof hold !== 'number' || !Number.isFinite(hold) || hold < 0 || hold > PANIC_WINDOW_SECONDS)
    return undefined;
  const readAt = carriedReadAt(e.lastBacklogReadTime, now.wall);
  if (readAt === undefined) return undefined;
  // A read time ahead of this clock counts as now, as for every carried time.
  const untilWall = Math.min(readAt, now.wall) + hold * 1000;
  if (untilWall <= now.wall) return undefined;
  return { until: monotonicTimeOf(untilWall, now), stream: e.stream, consumer: e.consumer };
}
