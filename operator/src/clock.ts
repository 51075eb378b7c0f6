// The operator's two clocks, each for its own job. Every duration, deadline and window it keeps —
// the Lease's terms and the write fence, stabilization windows, cooldowns, step-policy periods,
// rate windows, poll timers, cache lifetimes — is measured on the monotonic clock, which an NTP
// step, a hand-set date or a VM restored from a snapshot does not move (it runs on while the
// process is paused). The wall clock is only for what people and other programs read: status
// timestamps, condition transition times, Event times, log lines, the Lease's renewTime.

/** Milliseconds on a clock that only runs forward at a steady rate; its origin is arbitrary. */
export const monotonicNow = (): number => performance.now();

/** Milliseconds since the epoch as the host says now; may step forward or back at any time. */
export const wallNow = (): number => Date.now();

/** Both clocks, read at the same moment (a poll reads them once and uses the reading throughout). */
export interface ClockReading {
  monotonic: number;
  wall: number;
}

/** Reads both clocks. */
export function readClocks(
  monotonic: () => number = monotonicNow,
  wall: () => number = wallNow,
): ClockReading {
  return { monotonic: monotonic(), wall: wall() };
}

/** The wall-clock time of a moment `monotonicMs` on the monotonic clock, as the two clocks read now. */
export function wallTimeOf(monotonicMs: number, now: ClockReading): number {
  return now.wall - (now.monotonic - monotonicMs);
}

/** The monotonic time of a wall-clock moment, as the two clocks read now. */
export function monotonicTimeOf(wallMs: number, now: ClockReading): number {
  return now.monotonic - (now.wall - wallMs);
}
