import type { FrontierPoint } from './frontier.js';
import {
  P99_EQUAL_WITHIN_SECONDS,
  dominates,
  dominatesOnMedians,
  medianSpread,
  tied,
  tiedOnMedians,
} from './frontier.js';
import type { PerSeed } from './paired.js';
import { pairedDifference, pairedDominates, signedRankCriticalValue, signedRankInterval } from './paired.js';

const median = (values: number[]): number => {
  const s = [...values].sort((x, y) => x - y);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
};

/** A frontier point as the bench builds it: medians, their spreads, and the per-seed values. */
const point = (family: string, perSeed: PerSeed): FrontierPoint => ({
  family,
  knob: 0,
  p99WaitSeconds: median(perSeed.p99WaitSeconds),
  replicaSeconds: median(perSeed.replicaSeconds),
  p99Spread: medianSpread(perSeed.p99WaitSeconds),
  replicaSecondsSpread: medianSpread(perSeed.replicaSeconds),
  perSeed,
});

const seeds = Array.from({ length: 14 }, (_, i) => i);

describe('paired per-seed comparison', () => {
  it('uses the exact signed-rank critical values of the tables', () => {
    // Two-sided 5 %, n = 6…15 (e.g. Hollander & Wolfe; Siegel): 0 2 3 5 8 10 13 17 21 25.
    expect([6, 7, 8, 9, 10, 11, 12, 13, 14, 15].map(signedRankCriticalValue)).toEqual([
      0, 2, 3, 5, 8, 10, 13, 17, 21, 25,
    ]);
    expect(signedRankCriticalValue(5)).toBe(-1); // 2^-5 > 2.5 %: no 95 % interval
    expect(() => signedRankCriticalValue(0)).toThrow(/whole number/);
  });

  it('gives the interval of the Walsh averages cut at the critical value', () => {
    // 14 differences 1…14: the Walsh averages run 1…14 in steps of 0.5; the 22nd from either end.
    const d = seeds.map((i) => i + 1);
    const walsh = d.flatMap((x, i) => d.slice(i).map((y) => (x + y) / 2)).sort((x, y) => x - y);
    const interval = signedRankInterval(d);
    expect(interval.n).toBe(14);
    expect(interval.estimate).toBe(7.5);
    expect(interval.low).toBe(walsh[21]);
    expect(interval.high).toBe(walsh[104 - 21]);
    expect(interval.low).toBeGreaterThan(1);
    expect(interval.high).toBeLessThan(14);
    // One pair: the difference itself.
    expect(signedRankInterval([-3])).toEqual({ estimate: -3, low: -3, high: -3, n: 1 });
    expect(() => signedRankInterval([])).toThrow(/at least one seed/);
    expect(() => signedRankInterval([1, NaN])).toThrow(/non-finite/);
  });

  it('finds a setting 3 % cheaper on every seed dominant where the medians call it a tie', () => {
    // Seeds move both settings a lot (bursts drawn per seed), the same way.
    const kedaCost = seeds.map((i) => 15_000 + 1_000 * i);
    const kedaP99 = seeds.map((i) => 20 + (i % 3));
    const keda = point('keda', { p99WaitSeconds: kedaP99, replicaSeconds: kedaCost });
    const jet = point('jet', { p99WaitSeconds: kedaP99, replicaSeconds: kedaCost.map((c) => c * 0.97) });
    expect(dominatesOnMedians(jet, keda)).toBe(false);
    expect(tiedOnMedians(jet, keda)).toBe(true);
    expect(dominates(jet, keda)).toBe(true);
    expect(tied(jet, keda)).toBe(false);
    const d = pairedDifference(jet.perSeed as PerSeed, keda.perSeed as PerSeed);
    expect(d.replicaSecondsRelative.high).toBeCloseTo(-0.03, 9);
    expect(d.p99Seconds).toMatchObject({ low: 0, high: 0 });
  });

  it('finds a setting 4 % dearer on every seed not dominant where the medians call it dominant', () => {
    // Lower p99 beyond the spread, and dearer within the medians' spread but on every seed.
    const kedaCost = seeds.map((i) => 25_000 + 700 * i);
    const kedaP99 = seeds.map((i) => 33 + 0.1 * (i % 4));
    const keda = point('keda', { p99WaitSeconds: kedaP99, replicaSeconds: kedaCost });
    const jet = point('jet', {
      p99WaitSeconds: kedaP99.map((p) => p - 2.5),
      replicaSeconds: kedaCost.map((c) => c * 1.04),
    });
    expect(dominatesOnMedians(jet, keda)).toBe(true);
    expect(dominates(jet, keda)).toBe(false);
    expect(tied(jet, keda)).toBe(false); // a trade-off: lower p99, higher cost
  });

  it('does not count a difference whose sign changes from seed to seed', () => {
    // Medians 1 s apart, but half the seeds go each way: no verdict.
    const a: PerSeed = {
      p99WaitSeconds: seeds.map((i) => (i % 2 === 0 ? 10 : 14)),
      replicaSeconds: seeds.map(() => 1_000),
    };
    const b: PerSeed = {
      p99WaitSeconds: seeds.map((i) => (i % 2 === 0 ? 13 : 11)),
      replicaSeconds: seeds.map(() => 1_000),
    };
    expect(pairedDominates(a, b, P99_EQUAL_WITHIN_SECONDS)).toBe(false);
    expect(pairedDominates(b, a, P99_EQUAL_WITHIN_SECONDS)).toBe(false);
    expect(tied(point('a', a), point('b', b))).toBe(true);
  });

  it('counts p99 differences within the histogram resolution as equal', () => {
    const b: PerSeed = { p99WaitSeconds: seeds.map(() => 0.7), replicaSeconds: seeds.map(() => 1_000) };
    const a: PerSeed = { p99WaitSeconds: seeds.map(() => 0.65), replicaSeconds: seeds.map(() => 1_000) };
    expect(pairedDominates(a, b, P99_EQUAL_WITHIN_SECONDS)).toBe(false);
    // …and the same difference on cost does count: consistent on every seed.
    const cheaper: PerSeed = { ...b, replicaSeconds: seeds.map(() => 990) };
    expect(pairedDominates(cheaper, b, P99_EQUAL_WITHIN_SECONDS)).toBe(true);
  });

  it('refuses settings run on different seed counts', () => {
    const a: PerSeed = { p99WaitSeconds: [1, 2], replicaSeconds: [1, 2] };
    const b: PerSeed = { p99WaitSeconds: [1], replicaSeconds: [1] };
    expect(() => pairedDifference(a, b)).toThrow(/one value per seed/);
  });
});
