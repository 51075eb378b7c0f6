import type { FrontierPoint } from './frontier.js';
import {
  bestAtOrAboveCost,
  cheapestMeeting,
  compareFamilies,
  dominatesOnMedians,
  medianSpread,
  paretoFront,
  tiedOnMedians,
} from './frontier.js';

const pt = (family: string, knob: number, p99: number, rs: number): FrontierPoint => ({
  family,
  knob,
  p99WaitSeconds: p99,
  replicaSeconds: rs,
});

describe('frontier', () => {
  it('dominates only when no worse on both and strictly better on one', () => {
    expect(dominatesOnMedians(pt('a', 1, 1, 100), pt('b', 1, 2, 100))).toBe(true);
    expect(dominatesOnMedians(pt('a', 1, 1, 90), pt('b', 1, 1, 100))).toBe(true);
    expect(dominatesOnMedians(pt('a', 1, 1, 100), pt('b', 1, 1, 100))).toBe(false); // a tie is not domination
    expect(dominatesOnMedians(pt('a', 1, 1, 110), pt('b', 1, 2, 100))).toBe(false); // a trade-off is not either
  });

  it('keeps the undominated points, cheapest first', () => {
    const points = [pt('k', 5, 1, 300), pt('k', 10, 2, 200), pt('k', 20, 3, 250), pt('k', 50, 9, 100)];
    expect(paretoFront(points).map((p) => p.knob)).toEqual([50, 10, 5]);
  });

  it('finds the cheapest point meeting a p99 and the best point at or above a cost', () => {
    const points = [pt('k', 5, 1, 300), pt('k', 10, 2, 200), pt('k', 50, 9, 100)];
    expect(cheapestMeeting(points, 2.5)?.knob).toBe(10);
    expect(cheapestMeeting(points, 0.5)).toBeUndefined();
    expect(bestAtOrAboveCost(points, 150)?.knob).toBe(5);
    expect(bestAtOrAboveCost(points, 301)).toBeUndefined();
  });

  it('says which baseline points the contender family fails to dominate, and which contender points are beaten', () => {
    const jet = [pt('jet', 1, 1, 200), pt('jet', 2, 5, 100)];
    const keda = [pt('keda', 5, 1.5, 250), pt('keda', 100, 8, 90), pt('keda', 10, 0.9, 150)];
    const v = compareFamilies(jet, keda);
    expect(v.undominated.map((p) => p.knob)).toEqual([100, 10]);
    expect(v.beaten.map((b) => [b.point.knob, b.by.knob])).toEqual([[1, 10]]);
  });

  it('counts differences within the seed-to-seed spread of the medians as ties', () => {
    const spread = (p: FrontierPoint, p99: number, rs: number): FrontierPoint => ({
      ...p,
      p99Spread: p99,
      replicaSecondsSpread: rs,
    });
    const keda = spread(pt('keda', 500, 30, 16_500), 1, 200);
    // 1.4 % cheaper, p99 1 s lower: both within the combined spread (√(1² + 1²) s, √2 × 200 replica-s).
    expect(dominatesOnMedians(spread(pt('jet', 30, 29, 16_270), 1, 200), keda)).toBe(false);
    // Cheaper beyond the spread, p99 no worse within it: dominated.
    expect(dominatesOnMedians(spread(pt('jet', 30, 30.5, 15_900), 1, 200), keda)).toBe(true);
    // p99 lower beyond the spread, 1 % dearer but within it: dominated (equal cost within the noise).
    expect(dominatesOnMedians(spread(pt('jet', 30, 20, 16_650), 1, 200), keda)).toBe(true);
    // Dearer beyond the spread: a trade-off, however much lower the p99.
    expect(dominatesOnMedians(spread(pt('jet', 30, 20, 17_000), 1, 200), keda)).toBe(false);
    // Without spreads (one seed) the medians decide, p99 within 0.1 s equal, as before.
    expect(dominatesOnMedians(pt('jet', 30, 29, 16_270), pt('keda', 500, 30, 16_500))).toBe(true);
    expect(tiedOnMedians(spread(pt('jet', 30, 29, 16_270), 1, 200), keda)).toBe(true);
    expect(tiedOnMedians(spread(pt('jet', 30, 30.5, 15_900), 1, 200), keda)).toBe(false);
  });

  it("estimates the spread of a median over seeds from the seeds' interquartile range", () => {
    expect(medianSpread([5])).toBe(0);
    expect(medianSpread([])).toBe(0);
    // Normal-like values: IQR / 1.349 estimates σ, and the median's standard error is 1.2533 σ / √n.
    const values = [8, 9, 9.5, 10, 10, 10.5, 11, 12];
    const q1 = 9.375;
    const q3 = 10.625;
    expect(medianSpread(values)).toBeCloseTo((1.2533 * ((q3 - q1) / 1.349)) / Math.sqrt(8), 6);
    // One seed far off does not move it (a standard deviation would triple).
    expect(medianSpread([...values.slice(0, 7), 120])).toBeCloseTo(medianSpread(values), 1);
  });
});
