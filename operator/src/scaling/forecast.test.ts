import { decide, emptyHistory } from './decide.js';
import { withScalingDefaults } from './defaults.js';
import { forecastArrival, observeArrival } from './forecast.js';
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

  it('goes ahead of a predicted fall, sizing for the forecast plus its measured error', () => {
    const falling = (t: number) => 500 - t / 2;
    const reactive = run({ enabled: false }, 600, falling);
    const predictive = run({ enabled: true }, 600, falling);
    expect(predictive.forecast?.used).toBe(true);
    expect(predictive.forecast?.arrivalPerSecond).toBeLessThan(falling(600));
    const observed = Number(/([\d.]+)\/s arriving/.exec(reactive.reason)?.[1]);
    const expected = Number(
      /([\d.]+)\/s expected \(forecast [\d.]+\/s in 30s, falling\)/.exec(predictive.reason)?.[1],
    );
    expect(observed).toBeGreaterThan(0);
    expect(expected).toBeLessThan(observed);
    const forecast = predictive.forecast?.arrivalPerSecond ?? NaN;
    const error = predictive.forecast?.relativeError ?? NaN;
    expect(expected).toBeCloseTo(forecast * (1 + error), 0);
    expect(predictive.recommendedReplicas).toBeLessThanOrEqual(reactive.recommendedReplicas);
  });

  it('uses a forecast with a good track record and says so', () => {
    const d = run({ enabled: true }, 600, (t) => 100 + t / 10);
    expect(d.forecast?.used).toBe(true);
    expect(d.forecast?.relativeError).toBeLessThan(0.05);
    expect(d.forecast?.arrivalPerSecond).toBeGreaterThan(100 + 600 / 10);
  });
});
