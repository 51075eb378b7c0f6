import type { FrontierPoint } from './frontier.js';
import { bestAtOrAboveCost, cheapestMeeting, compareFamilies, dominates, paretoFront } from './frontier.js';

const pt = (family: string, knob: number, p99: number, rs: number): FrontierPoint => ({
  family,
  knob,
  p99WaitSeconds: p99,
  replicaSeconds: rs,
});

describe('frontier', () => {
  it('dominates only when no worse on both and strictly better on one', () => {
    expect(dominates(pt('a', 1, 1, 100), pt('b', 1, 2, 100))).toBe(true);
    expect(dominates(pt('a', 1, 1, 90), pt('b', 1, 1, 100))).toBe(true);
    expect(dominates(pt('a', 1, 1, 100), pt('b', 1, 1, 100))).toBe(false); // a tie is not domination
    expect(dominates(pt('a', 1, 1, 110), pt('b', 1, 2, 100))).toBe(false); // a trade-off is not either
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
});
