import { ADVISORY_LIMITS, advisoryPauseMs } from './drop-advisories.js';

describe('the pause before the advisories are taken again after a storm', () => {
  it('doubles at each storm in a row from pauseMs up to maxPauseMs, a random half to whole of it', () => {
    const limits = { pauseMs: 30_000, maxPauseMs: 600_000 };
    const whole = (storms: number) => advisoryPauseMs(storms, limits, () => 1);
    const half = (storms: number) => advisoryPauseMs(storms, limits, () => 0);
    expect([1, 2, 3, 4, 5, 6, 7, 20].map(whole)).toEqual([
      30_000, 60_000, 120_000, 240_000, 480_000, 600_000, 600_000, 600_000,
    ]);
    expect([1, 2, 6].map(half)).toEqual([15_000, 30_000, 300_000]);
    // Spread: operators cut off by one storm do not come back at once.
    const pauses = new Set(Array.from({ length: 50 }, () => advisoryPauseMs(1, limits)));
    expect(pauses.size).toBeGreaterThan(10);
    for (const p of pauses) {
      expect(p).toBeGreaterThanOrEqual(15_000);
      expect(p).toBeLessThanOrEqual(30_000);
    }
  });

  it('defaults: above 1,000 advisories a second, a pause of 15-30 s first, at most 10 minutes', () => {
    expect(ADVISORY_LIMITS).toEqual({ maxPerSecond: 1000, pauseMs: 30_000, maxPauseMs: 600_000 });
  });
});
