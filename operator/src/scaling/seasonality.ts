// Recurring load found in the arrival history itself (spec.predictive, no period given): batch
// jobs and cron-driven producers send the same burst every N minutes, and a policy that only
// reacts meets every one of them with pods still starting. Pure functions, constant-size state.
//
// - Arrivals are kept in BUCKET_SECONDS buckets over the last BUCKETS buckets (4 h).
// - Every DETECT_EVERY_BUCKETS the period is looked for: the lag, between MIN_PERIOD_SECONDS and
//   half the history and past the first lag where the autocorrelation turns negative, with the
//   highest autocorrelation of the bucketed rate; it is kept only when that autocorrelation is at
//   least MIN_AUTOCORRELATION (noise and a single burst score far lower), so the history holds at
//   least two periods.
// - The rate expected at `t` is the lower of what the previous two cycles saw around `t − P` and
//   `t − 2P` (each the highest bucket within ±JITTER_BUCKETS, so a burst a bucket late still
//   counts): a burst seen once is not expected again, one seen in both cycles is. Once such a
//   burst is overdue (what both cycles saw JITTER_BUCKETS + 1 complete buckets ago has not come,
//   within a factor MISSED_FACTOR), it is no longer expected (and the next one is not either: the
//   last cycle did not see it), so a pattern that stops costs part of one pre-warm.
// The policy sizes for that expectation `horizonSeconds` ahead, never below what arrives now.

export const BUCKET_SECONDS = 10;
export const BUCKETS = 1440;
export const DETECT_EVERY_BUCKETS = 30;
export const MIN_PERIOD_SECONDS = 120;
export const MIN_AUTOCORRELATION = 0.5;
export const JITTER_BUCKETS = 1;
/** A recurrence is overdue when what arrived is below 1/MISSED_FACTOR of what both cycles saw. */
export const MISSED_FACTOR = 2;

export interface SeasonalityState {
  /** Index (ms on the clock of `now` / bucket width) of the newest bucket. */
  newest: number;
  /** Arrivals per bucket, oldest first, ending at `newest`. */
  counts: number[];
  /** Seconds of observation per bucket (a partly observed bucket is scaled up). */
  seconds: number[];
  /** Detected period in buckets, if any. */
  periodBuckets?: number;
  /** Its autocorrelation. */
  strength?: number;
  /** Bucket index at the last detection. */
  detectedAt?: number;
}

export function asSeasonalityState(value: unknown): SeasonalityState | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Partial<SeasonalityState>;
  return typeof v.newest === 'number' && Array.isArray(v.counts) && Array.isArray(v.seconds)
    ? (v as SeasonalityState)
    : undefined;
}

const bucketOf = (atMs: number): number => Math.floor(atMs / (BUCKET_SECONDS * 1000));

/** Adds `arrivalPerSecond` over the interval (fromMs, toMs] to the buckets it covers. */
export function observeSeasonality(
  previous: SeasonalityState | undefined,
  fromMs: number,
  toMs: number,
  arrivalPerSecond: number,
): SeasonalityState {
  if (!(toMs > fromMs) || !(arrivalPerSecond >= 0))
    return previous ?? { newest: bucketOf(toMs), counts: [0], seconds: [0] };
  const last = bucketOf(toMs);
  let state: SeasonalityState;
  if (previous === undefined || last < previous.newest) {
    state = { newest: last, counts: [0], seconds: [0] };
  } else {
    const gap = last - previous.newest;
    state = {
      ...previous,
      newest: last,
      counts: [...previous.counts, ...new Array<number>(Math.min(gap, BUCKETS)).fill(0)],
      seconds: [...previous.seconds, ...new Array<number>(Math.min(gap, BUCKETS)).fill(0)],
    };
  }
  // Spread the interval over its buckets.
  const width = BUCKET_SECONDS * 1000;
  for (let b = Math.max(bucketOf(fromMs), last - state.counts.length + 1); b <= last; b++) {
    const start = Math.max(fromMs, b * width);
    const end = Math.min(toMs, (b + 1) * width);
    if (end <= start) continue;
    const i = state.counts.length - 1 - (last - b);
    const seconds = (end - start) / 1000;
    state.counts[i] = (state.counts[i] ?? 0) + arrivalPerSecond * seconds;
    state.seconds[i] = (state.seconds[i] ?? 0) + seconds;
  }
  if (state.counts.length > BUCKETS) {
    state.counts.splice(0, state.counts.length - BUCKETS);
    state.seconds.splice(0, state.seconds.length - BUCKETS);
  }
  if (state.detectedAt === undefined || last - state.detectedAt >= DETECT_EVERY_BUCKETS) {
    const found = detectPeriod(rates(state));
    state.detectedAt = last;
    if (found === undefined) {
      delete state.periodBuckets;
      delete state.strength;
    } else {
      state.periodBuckets = found.periodBuckets;
      state.strength = found.strength;
    }
  }
  return state;
}

/** Per-bucket rates (undefined where nothing was observed). */
function rates(state: SeasonalityState): Array<number | undefined> {
  return state.counts.map((c, i) => {
    const s = state.seconds[i] ?? 0;
    return s > 0 ? c / s : undefined;
  });
}

/**
 * The lag (in buckets) with the highest autocorrelation, if at least MIN_AUTOCORRELATION, with at
 * least two periods of history. Exported for tests.
 */
export function detectPeriod(
  series: Array<number | undefined>,
): { periodBuckets: number; strength: number } | undefined {
  const known = series.filter((v): v is number => v !== undefined);
  if (known.length < 2 * (MIN_PERIOD_SECONDS / BUCKET_SECONDS)) return undefined;
  const mean = known.reduce((a, b) => a + b, 0) / known.length;
  let variance = 0;
  for (const v of known) variance += (v - mean) ** 2;
  variance /= known.length;
  if (!(variance > 0)) return undefined;
  const minLag = Math.ceil(MIN_PERIOD_SECONDS / BUCKET_SECONDS);
  const maxLag = Math.floor(series.length / 2);
  const r: number[] = [];
  for (let lag = 0; lag <= maxLag + 1; lag++) {
    let sum = 0;
    let n = 0;
    for (let i = lag; i < series.length; i++) {
      const a = series[i];
      const b = series[i - lag];
      if (a === undefined || b === undefined) continue;
      sum += (a - mean) * (b - mean);
      n++;
    }
    r.push(n >= minLag ? sum / n / variance : Number.NaN);
  }
  // Candidates: local maxima past the first lag where the autocorrelation turns negative (before
  // it, any smooth series looks like itself a little later: a sine correlates ~1 with itself two
  // minutes on), at least MIN_PERIOD_SECONDS.
  const firstDip = r.findIndex((v) => v < 0);
  if (firstDip < 0) return undefined;
  const candidates: Array<{ periodBuckets: number; strength: number }> = [];
  for (let lag = Math.max(firstDip, minLag, 1); lag <= maxLag; lag++) {
    const v = r[lag] ?? Number.NaN;
    if (v >= (r[lag - 1] ?? -Infinity) && v >= (r[lag + 1] ?? -Infinity))
      candidates.push({ periodBuckets: lag, strength: v });
  }
  const top = Math.max(...candidates.map((c) => c.strength));
  // A multiple of the period scores about as high as the period: take the shortest near the top.
  const best = candidates.find((c) => c.strength >= top - 0.05);
  return best !== undefined && best.strength >= MIN_AUTOCORRELATION ? best : undefined;
}

/** What the last two cycles saw at `atMs` (the lower of the two), or undefined without a period. */
export function expectedRate(state: SeasonalityState, atMs: number): number | undefined {
  const period = state.periodBuckets;
  if (period === undefined) return undefined;
  const series = rates(state);
  const target = bucketOf(atMs);
  const around = (bucket: number): number | undefined => {
    let best: number | undefined;
    for (let d = -JITTER_BUCKETS; d <= JITTER_BUCKETS; d++) {
      const i = series.length - 1 - (state.newest - (bucket + d));
      if (i < 0 || i >= series.length) continue;
      const v = series[i];
      if (v !== undefined && (best === undefined || v > best)) best = v;
    }
    return best;
  };
  const one = around(target - period);
  const two = around(target - 2 * period);
  if (one === undefined || two === undefined) return undefined;
  if (overdue(state, series, period)) return undefined;
  return Math.min(one, two);
}

/**
 * Whether what the last two cycles both saw a little while ago (in the newest complete bucket a
 * burst a bucket late would already show in) has not come: nothing up to now reached 1/MISSED_FACTOR
 * of it. Replicas started for a burst that does not come are then no longer asked for: a pattern
 * that stops costs part of one pre-warm, not all of it.
 */
function overdue(state: SeasonalityState, series: Array<number | undefined>, period: number): boolean {
  const at = (bucket: number): number | undefined => series[series.length - 1 - (state.newest - bucket)];
  const checked = state.newest - 1 - JITTER_BUCKETS;
  const one = at(checked - period);
  const two = at(checked - 2 * period);
  if (one === undefined || two === undefined) return false;
  const sawThen = Math.min(one, two);
  let seenSince = 0;
  for (let b = checked - JITTER_BUCKETS; b < state.newest; b++) seenSince = Math.max(seenSince, at(b) ?? 0);
  return sawThen > MISSED_FACTOR * seenSince;
}
