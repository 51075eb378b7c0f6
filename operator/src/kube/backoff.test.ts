import { halfJitterDelayMs } from './backoff.js';

describe('halfJitterDelayMs', () => {
  const options = { baseMs: 1000, maxMs: 60_000 };

  test('doubles per attempt up to maxMs, and waits between half and all of the step', () => {
    expect([1, 2, 3, 6, 7, 40].map((n) => halfJitterDelayMs(n, options, () => 0))).toEqual([
      500, 1000, 2000, 16_000, 30_000, 30_000,
    ]);
    expect([1, 2, 3, 6, 7, 40].map((n) => halfJitterDelayMs(n, options, () => 0.999_999))).toEqual([
      1000, 2000, 4000, 32_000, 60_000, 60_000,
    ]);
  });

  test('an attempt below 1 waits as the first', () => {
    expect(halfJitterDelayMs(0, options, () => 0)).toBe(500);
  });
});
