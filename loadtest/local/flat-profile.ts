import type { LoadProfile } from '../profiles/profiles.js';

/** A steady profile for the load drivers' tests: `rate` requests/s for `seconds`, no faults. */
export const flatProfile = (rate: number, seconds: number, maxInFlight: number): LoadProfile => ({
  name: 'spike',
  description: 'test',
  startRate: rate,
  stages: [{ durationSeconds: seconds, targetRate: rate }],
  faults: [],
  budgets: { maxFailedRatio: 0, p95LatencyMs: 1000, maxDroppedRatio: 0 },
  maxInFlight,
});
