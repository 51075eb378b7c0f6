// Opt-in forecasting of the arrival rate (spec.predictive): Holt's linear trend, plus an additive
// seasonal term (Holt-Winters) once the history covers one full season. The forecaster grades
// itself: every forecast is kept until its horizon has passed and then compared with what actually
// arrived; the policy only trusts it while that relative error stays under maxRelativeError.
//
// Bounds: the seasonal profile has at most SEASON_SLOTS slots; at most MAX_PENDING_FORECASTS
// forecasts await grading (one kept per horizon / MAX_PENDING_FORECASTS). State size is therefore
// constant: at most 3 × SEASON_SLOTS + 2 × MAX_PENDING_FORECASTS numbers.

import type { PredictiveSpec } from './types.js';

/** Smoothing factors per observation (the controller polls at a steady interval). */
export const LEVEL_SMOOTHING = 0.3;
export const TREND_SMOOTHING = 0.1;
export const SEASONAL_SMOOTHING = 0.2;
/** Error EWMA weight per graded forecast. */
export const ERROR_SMOOTHING = 0.1;
/** Observations and graded forecasts required before a forecast may be used. */
export const MIN_OBSERVATIONS = 12;
export const MIN_GRADED_FORECASTS = 6;
export const SEASON_SLOTS = 96;
export const MAX_PENDING_FORECASTS = 256;

export interface ForecastState {
  firstAt: number;
  lastAt: number;
  observations: number;
  level: number;
  /** Change of the level per second. */
  trend: number;
  seasonLengthSeconds?: number;
  /** Per-slot sums and counts collected during the first season, to initialise `seasonal`. */
  firstSeason?: { sums: number[]; counts: number[] };
  /** Additive seasonal offsets, one per slot; present once a full season has been seen. */
  seasonal?: number[];
  pending: Array<{ due: number; value: number }>;
  absErrorEwma?: number;
  absActualEwma?: number;
  graded: number;
}

export interface ForecastResult {
  arrivalPerSecond: number;
  /** The model's estimate of the rate now; below it, the model expects arrivals to fall. */
  currentPerSecond: number;
  /** Mean absolute error of past forecasts over mean actual rate (Infinity until graded). */
  relativeError: number;
  /** Whether the policy may use it: enough history and error within maxRelativeError. */
  usable: boolean;
  /** Why it is not usable, for the decision's reason. */
  why: string;
}

export function asForecastState(value: unknown): ForecastState | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Partial<ForecastState>;
  return typeof v.firstAt === 'number' && typeof v.level === 'number' && Array.isArray(v.pending)
    ? (v as ForecastState)
    : undefined;
}

function slotOf(atMs: number, seasonSeconds: number): number {
  const phase = (((atMs / 1000) % seasonSeconds) + seasonSeconds) % seasonSeconds;
  return Math.min(SEASON_SLOTS - 1, Math.floor((phase / seasonSeconds) * SEASON_SLOTS));
}

function seasonalAt(state: ForecastState, atMs: number): number {
  if (state.seasonal === undefined || state.seasonLengthSeconds === undefined) return 0;
  return state.seasonal[slotOf(atMs, state.seasonLengthSeconds)] ?? 0;
}

/** Builds the seasonal profile from the first season's slot means (empty slots from neighbours). */
function seasonalFromFirstSeason(first: { sums: number[]; counts: number[] }): number[] | undefined {
  const means: Array<number | undefined> = first.sums.map((sum, i) => {
    const count = first.counts[i] ?? 0;
    return count > 0 ? sum / count : undefined;
  });
  const known = means.filter((m): m is number => m !== undefined);
  if (known.length < SEASON_SLOTS / 2) return undefined;
  const filled = means.map((m, i) => {
    if (m !== undefined) return m;
    for (let d = 1; d < SEASON_SLOTS; d++) {
      const left = means[(i - d + SEASON_SLOTS) % SEASON_SLOTS];
      if (left !== undefined) return left;
      const right = means[(i + d) % SEASON_SLOTS];
      if (right !== undefined) return right;
    }
    return 0;
  });
  const mean = filled.reduce((a, b) => a + b, 0) / filled.length;
  return filled.map((m) => m - mean);
}

/** The forecast `horizonSeconds` after the last observation (never negative). */
function project(state: ForecastState, horizonSeconds: number): number {
  const at = state.lastAt + horizonSeconds * 1000;
  return Math.max(0, state.level + state.trend * horizonSeconds + seasonalAt(state, at));
}

/**
 * Folds one observed arrival rate (messages/s over the last interval) into the model, grading the
 * forecasts whose horizon has passed, and records a new forecast for `now + horizon`.
 */
export function observeArrival(
  previous: ForecastState | undefined,
  spec: PredictiveSpec,
  now: number,
  arrivalPerSecond: number,
): ForecastState {
  const y = Math.max(0, arrivalPerSecond);
  const seasonLengthSeconds = spec.seasonalitySeconds;
  if (
    previous === undefined ||
    previous.seasonLengthSeconds !== seasonLengthSeconds ||
    now < previous.lastAt
  ) {
    const fresh: ForecastState = {
      firstAt: now,
      lastAt: now,
      observations: 1,
      level: y,
      trend: 0,
      pending: [],
      graded: 0,
    };
    if (seasonLengthSeconds !== undefined) {
      fresh.seasonLengthSeconds = seasonLengthSeconds;
      fresh.firstSeason = {
        sums: new Array<number>(SEASON_SLOTS).fill(0),
        counts: new Array<number>(SEASON_SLOTS).fill(0),
      };
      const slot = slotOf(now, seasonLengthSeconds);
      fresh.firstSeason.sums[slot] = y;
      fresh.firstSeason.counts[slot] = 1;
    }
    fresh.pending.push({ due: now + spec.horizonSeconds * 1000, value: project(fresh, spec.horizonSeconds) });
    return fresh;
  }
  const dtSeconds = (now - previous.lastAt) / 1000;
  if (dtSeconds === 0) return previous;

  const state: ForecastState = { ...previous, pending: [...previous.pending] };

  // Grade forecasts that are due: compare with what arrived over the interval just observed.
  let absError = state.absErrorEwma;
  let absActual = state.absActualEwma;
  let graded = state.graded;
  while (state.pending.length > 0 && (state.pending[0]?.due ?? Infinity) <= now) {
    const due = state.pending.shift();
    if (due === undefined) break;
    absError =
      absError === undefined
        ? Math.abs(due.value - y)
        : absError + ERROR_SMOOTHING * (Math.abs(due.value - y) - absError);
    absActual = absActual === undefined ? y : absActual + ERROR_SMOOTHING * (y - absActual);
    graded++;
  }
  if (absError !== undefined) state.absErrorEwma = absError;
  if (absActual !== undefined) state.absActualEwma = absActual;
  state.graded = graded;

  // Holt-Winters additive update (the seasonal term is 0 until a season has been seen).
  const season = seasonalAt(state, now);
  const predictedLevel = state.level + state.trend * dtSeconds;
  const level = LEVEL_SMOOTHING * (y - season) + (1 - LEVEL_SMOOTHING) * predictedLevel;
  state.trend = TREND_SMOOTHING * ((level - state.level) / dtSeconds) + (1 - TREND_SMOOTHING) * state.trend;
  state.level = level;
  if (state.seasonal !== undefined && state.seasonLengthSeconds !== undefined) {
    const slot = slotOf(now, state.seasonLengthSeconds);
    const seasonal = [...state.seasonal];
    seasonal[slot] = SEASONAL_SMOOTHING * (y - level) + (1 - SEASONAL_SMOOTHING) * (seasonal[slot] ?? 0);
    state.seasonal = seasonal;
  } else if (state.firstSeason !== undefined && state.seasonLengthSeconds !== undefined) {
    const slot = slotOf(now, state.seasonLengthSeconds);
    const sums = [...state.firstSeason.sums];
    const counts = [...state.firstSeason.counts];
    sums[slot] = (sums[slot] ?? 0) + y;
    counts[slot] = (counts[slot] ?? 0) + 1;
    state.firstSeason = { sums, counts };
    if (now - state.firstAt >= state.seasonLengthSeconds * 1000) {
      const seasonal = seasonalFromFirstSeason(state.firstSeason);
      if (seasonal !== undefined) {
        // With the season known the level is the deseasonalised rate and the trend starts flat:
        // during the first season the trend was chasing the seasonal swing, not a real trend.
        state.seasonal = seasonal;
        state.level = y - (seasonal[slot] ?? 0);
        state.trend = 0;
        delete state.firstSeason;
      }
    }
  }
  state.lastAt = now;
  state.observations = previous.observations + 1;

  // At most MAX_PENDING_FORECASTS over one horizon: a forecast is kept only when the last one kept
  // was made at least horizon / MAX_PENDING_FORECASTS before, so a 1 h horizon read every second
  // is still graded (dropping the oldest instead dropped every forecast before it was due).
  const horizonMs = spec.horizonSeconds * 1000;
  const lastMadeAt = (state.pending.at(-1)?.due ?? -Infinity) - horizonMs;
  if (now - lastMadeAt >= horizonMs / MAX_PENDING_FORECASTS)
    state.pending.push({ due: now + horizonMs, value: project(state, spec.horizonSeconds) });
  if (state.pending.length > MAX_PENDING_FORECASTS)
    state.pending.splice(0, state.pending.length - MAX_PENDING_FORECASTS);
  return state;
}

/** The arrival rate expected `horizonSeconds` from the last observation, with its track record. */
export function forecastArrival(state: ForecastState, spec: PredictiveSpec): ForecastResult {
  const arrivalPerSecond = project(state, spec.horizonSeconds);
  const relativeError =
    state.absErrorEwma === undefined || state.absActualEwma === undefined
      ? Infinity
      : state.absErrorEwma / Math.max(state.absActualEwma, 1e-9);
  let why = '';
  if (state.observations < MIN_OBSERVATIONS || state.graded < MIN_GRADED_FORECASTS) {
    why = `history too short (${state.observations} readings, ${state.graded} forecasts graded)`;
  } else if (!(relativeError <= spec.maxRelativeError)) {
    why = `forecast error ${(relativeError * 100).toFixed(0)}% is above the ${(spec.maxRelativeError * 100).toFixed(0)}% allowed`;
  }
  const currentPerSecond = project(state, 0);
  return { arrivalPerSecond, currentPerSecond, relativeError, usable: why === '', why };
}
