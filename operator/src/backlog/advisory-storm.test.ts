import { ADVISORY_LIMITS, AdvisoryStorms, advisoryPauseMs } from './advisory-storm.js';

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

describe("a watcher's count of advisories and storms", () => {
  it('says "too many" past maxPerSecond within a second, and doubles the pause only for storms in a row', () => {
    let now = 0;
    const storms = new AdvisoryStorms(() => now);
    storms.subscribed();
    // 1,000 in one second are taken; the 1,001st is one too many. A new second counts afresh.
    for (let i = 0; i < ADVISORY_LIMITS.maxPerSecond; i++) expect(storms.tooMany()).toBe(false);
    expect(storms.tooMany()).toBe(true);
    now = 1000;
    expect(storms.tooMany()).toBe(false);
    // Storms in a row: the pause doubles (a random half to whole of 30 s, then of 60 s).
    const first = storms.left();
    expect(first).toBeGreaterThanOrEqual(15_000);
    expect(first).toBeLessThanOrEqual(30_000);
    now += 30_000;
    storms.subscribed();
    now += 1000;
    const second = storms.left();
    expect(second).toBeGreaterThanOrEqual(30_000);
    expect(second).toBeLessThanOrEqual(60_000);
    // A subscription that lasted the longest pause without a storm starts the doubling again.
    storms.subscribed();
    now += ADVISORY_LIMITS.maxPauseMs + 1;
    const fresh = storms.left();
    expect(fresh).toBeLessThanOrEqual(30_000);
  });
});
