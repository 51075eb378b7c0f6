import { decide, emptyHistory } from './decide.js';
import { withScalingDefaults } from './defaults.js';
import { forecastArrival, MAX_PENDING_FORECASTS, MIN_GRADED_FORECASTS, observeArrival } from './forecast.js';
import type { ForecastState } from './forecast.js';
import { sampleFromTotals, T0 } from './test/fixtures.js';
import type { PredictiveSpec } from './types.js';

const STEP_SECONDS = 5;

/** Feeds a series observed every 5 s; returns the final state. */
function feed(spec: PredictiveSpec, series: (t: number) => number, seconds: number): ForecastState {
  let state: ForecastState | undefined;
  for (let t = 0; t <= seconds; t += STEP_SECONDS)
    state = observeArrival(state, spec, T0 + t * 1000, series(t));
  if (state === undefined) throw new Error('no observations');
  return state;
}

/** A deterministic pseudo-random sequence in [0, 1) (the tests must not depend on Math.random). */
function noise(seed: number): (i: number) => number {
  return (i) => {
    const x = Math.sin(seed * 9301 + i * 49297) * 233280;
    return x - Math.floor(x);
  };
}

const trendOnly: PredictiveSpec = { enabled: true, horizonSeconds: 30, maxRelativeError: 0.3 };

describe('forecastArrival on synthetic series', () => {
  it('extrapolates a linear ramp to the horizon', () => {
    const ramp = (t: number) => 100 + 2 * t;
    const state = feed(trendOnly, ramp, 600);
    const f = forecastArrival(state, trendOnly);
    expect(f.usable).toBe(true);
    expect(f.arrivalPerSecond).toBeGreaterThan(ramp(600) + 30); // ahead of the last observation
    expect(Math.abs(f.arrivalPerSecond - ramp(630)) / ramp(630)).toBeLessThan(0.03);
    expect(f.relativeError).toBeLessThan(0.05);
  });

  it('learns a season once history covers one and then beats the trend-only model', () => {
    const period = 1200;
    const sine = (t: number) => 200 + 150 * Math.sin((2 * Math.PI * t) / period);
    const seasonal: PredictiveSpec = { ...trendOnly, seasonalitySeconds: period };
    const withSeason = feed(seasonal, sine, 3 * period);
    const withoutSeason = feed(trendOnly, sine, 3 * period);
    expect(withSeason.seasonal).toBeDefined();
    expect(withoutSeason.seasonal).toBeUndefined();
    const a = forecastArrival(withSeason, seasonal);
    const b = forecastArrival(withoutSeason, trendOnly);
    expect(a.usable).toBe(true);
    expect(a.relativeError).toBeLessThan(0.05);
    expect(a.relativeError).toBeLessThan(b.relativeError);
    expect(Math.abs(a.arrivalPerSecond - sine(3 * period + 30))).toBeLessThan(15);
  });

  it('does not use seasonality before a full season has been seen', () => {
    const seasonal: PredictiveSpec = { ...trendOnly, seasonalitySeconds: 3600 };
    const state = feed(seasonal, () => 100, 1800);
    expect(state.seasonal).toBeUndefined();
    expect(state.firstSeason).toBeDefined();
  });

  it('refuses itself when noise makes its error exceed maxRelativeError', () => {
    const r = noise(3);
    let i = 0;
    const noisy = () => 100 * (0.2 + 1.6 * r(i++));
    const f = forecastArrival(feed(trendOnly, noisy, 900), trendOnly);
    expect(f.relativeError).toBeGreaterThan(0.3);
    expect(f.usable).toBe(false);
    expect(f.why).toMatch(/forecast error \d+% is above the 30% allowed/);
  });

  it('accepts moderate noise around a level', () => {
    const r = noise(5);
    let i = 0;
    const f = forecastArrival(
      feed(trendOnly, () => 100 * (0.95 + 0.1 * r(i++)), 900),
      trendOnly,
    );
    expect(f.usable).toBe(true);
    expect(Math.abs(f.arrivalPerSecond - 100)).toBeLessThan(8);
  });

  it('falls back while the history is short', () => {
    const f = forecastArrival(
      feed(trendOnly, (t) => 100 + t, 20),
      trendOnly,
    );
    expect(f.usable).toBe(false);
    expect(f.why).toContain('history too short');
  });

  it('keeps its state bounded', () => {
    const state = feed({ ...trendOnly, seasonalitySeconds: 600 }, (t) => 100 + (t % 600), 20_000);
    expect(state.pending.length).toBeLessThanOrEqual(Math.ceil(trendOnly.horizonSeconds / STEP_SECONDS) + 1);
    expect(state.seasonal?.length).toBe(96);
  });
});

describe('decide with spec.predictive', () => {
  /**
   * Readings every 5 s with 10 ready replicas kept busy: 480 messages always waiting, 20 awaiting ack,
   * and completions keeping pace with arrivals (so capacity is measured and the rate term applies).
   */
  function run(predictive: Partial<PredictiveSpec>, seconds: number, rate: (t: number) => number) {
    const spec = withScalingDefaults({ maxReplicas: 100, backlogPerReplica: 10_000, predictive });
    let history = emptyHistory();
    let completed = 0;
    const reading = (now: number) => sampleFromTotals(now, completed + 500, completed, 20);
    let last = decide({
      spec,
      sample: reading(T0),
      currentReplicas: 10,
      readyReplicas: 10,
      history,
      now: T0,
    });
    for (let t = STEP_SECONDS; t <= seconds; t += STEP_SECONDS) {
      completed += rate(t) * STEP_SECONDS;
      const now = T0 + t * 1000;
      last = decide({ spec, sample: reading(now), currentReplicas: 10, readyReplicas: 10, history, now });
      history = last.history;
    }
    return last;
  }

  it('reports no forecast when predictive scaling is off', () => {
    expect(run({ enabled: false }, 300, () => 100).forecast).toBeUndefined();
  });

  it('reports the forecast but does not use it while history is short', () => {
    const d = run({ enabled: true }, 20, () => 100);
    expect(d.forecast?.used).toBe(false);
    expect(d.reason).toContain('history too short');
  });

  it('reacts to a step it could not foresee instead of trusting the forecast', () => {
    // The reading that confirms the step: one interval alone counts at most CONFIRM_FACTOR times
    // the one before (a single batch can look like a step), so the second one after it shows 400/s.
    const d = run({ enabled: true }, 595, (t) => (t < 590 ? 100 : 400));
    expect(d.forecast?.used).toBe(false);
    expect(d.reason).toMatch(/400\/s arriving.*forecast not used/);
  });

  it('never sizes below what the reactive policy needs when the forecast expects a fall', () => {
    // Predictive mode may only add replicas ahead of a rise it expects; on the way down the
    // reactive policy (and the scale-down window) decide.
    const falling = (t: number) => 500 - t / 2;
    const seasonal = (t: number) => 300 + 200 * Math.sin((2 * Math.PI * t) / 1200);
    const reactive = run({ enabled: false }, 600, falling);
    const predictive = run({ enabled: true }, 600, falling);
    expect(predictive.forecast?.arrivalPerSecond).toBeLessThan(falling(600));
    expect(predictive.forecast?.used).toBe(false);
    expect(predictive.recommendedReplicas).toBe(reactive.recommendedReplicas);
    expect(predictive.reason).toContain('forecast not used: it expects a fall');
    // With a season told, the falling half of the season is left to the reactive policy too.
    const told = { enabled: true, seasonalitySeconds: 1200 };
    const atFall = 3 * 1200 + 450; // sin falls from 300 s to 900 s into each season
    const seasonalReactive = run({ enabled: false }, atFall, seasonal);
    const seasonalPredictive = run(told, atFall, seasonal);
    expect(seasonalPredictive.forecast?.arrivalPerSecond).toBeLessThan(seasonal(atFall));
    expect(seasonalPredictive.recommendedReplicas).toBe(seasonalReactive.recommendedReplicas);
  });

  it('reports a trend-only forecast (no season told) but does not size for it', () => {
    // Measured in the simulator (loadtest/sim/README.md): sizing for the trend 30 s ahead cost
    // 2.6-4.5 % replica-seconds on step, spike, ramp and diurnal for no p99.
    const rising = (t: number) => 100 + t / 10;
    const reactive = run({ enabled: false }, 600, rising);
    const d = run({ enabled: true }, 600, rising);
    expect(d.forecast?.relativeError).toBeLessThan(0.05);
    expect(d.forecast?.arrivalPerSecond).toBeGreaterThan(rising(600));
    expect(d.forecast?.used).toBe(false);
    expect(d.recommendedReplicas).toBe(reactive.recommendedReplicas);
    expect(d.reason).toContain('forecast not used: trend only (no predictive.seasonality)');
  });

  it('sizes ahead of the rise a told season expects, and says so', () => {
    const seasonal = (t: number) => 300 + 200 * Math.sin((2 * Math.PI * t) / 1200);
    const atRise = 3 * 1200 + 1100; // rising towards the peak at 300 s into the next season
    const reactive = run({ enabled: false }, atRise, seasonal);
    const d = run({ enabled: true, seasonalitySeconds: 1200 }, atRise, seasonal);
    expect(d.forecast?.used).toBe(true);
    expect(d.forecast?.arrivalPerSecond).toBeGreaterThan(seasonal(atRise));
    expect(d.recommendedReplicas).toBeGreaterThan(reactive.recommendedReplicas);
  });
});

describe('forecast at a long horizon', () => {
  it('grades forecasts at a 1 h horizon with readings every second (it kept only the last 256 s of them)', () => {
    const hour: PredictiveSpec = { enabled: true, horizonSeconds: 3600, maxRelativeError: 0.3 };
    let state: ForecastState | undefined;
    for (let t = 0; t <= 2 * 3600; t += 1) state = observeArrival(state, hour, T0 + t * 1000, 100);
    if (state === undefined) throw new Error('no observations');
    expect(state.pending.length).toBeLessThanOrEqual(MAX_PENDING_FORECASTS);
    expect(state.graded).toBeGreaterThan(MIN_GRADED_FORECASTS);
    expect(forecastArrival(state, hour).usable).toBe(true);
  });
});
