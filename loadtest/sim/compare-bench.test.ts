import { describe, expect, it } from '@jest/globals';
import {
  compareBenchResults,
  formatBenchComparison,
  frontierRegressions,
  parseBenchResults,
  type BenchResults,
  type BenchRun,
} from './compare-bench.js';
import type { FrontierPoint } from './frontier.js';

const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];

function runs(policy: string, p99: (seed: number) => number, cost: (seed: number) => number): BenchRun[] {
  return SEEDS.map((seed) => ({
    trace: 'step',
    policy,
    seed,
    p99WaitSeconds: p99(seed),
    replicaSeconds: cost(seed),
    podStarts: 10 * seed,
    podStartsAfterScaleDown: seed,
  }));
}

function point(family: string, knob: number, list: BenchRun[]): FrontierPoint {
  const sorted = [...list].sort((a, b) => a.seed - b.seed);
  return {
    family,
    knob,
    p99WaitSeconds: sorted[3]?.p99WaitSeconds ?? NaN,
    replicaSeconds: sorted[3]?.replicaSeconds ?? NaN,
    perSeed: {
      p99WaitSeconds: sorted.map((r) => r.p99WaitSeconds),
      replicaSeconds: sorted.map((r) => r.replicaSeconds),
    },
  };
}

/**
 * One trace: default jetscale at `jetCost` per seed (the seeds differ 8-fold, so a comparison
 * that did not pair by seed would see noise), one KEDA point at 1,000 × seed replica-seconds and
 * p99 20 s, and the oracle at 5 s and 1,000 × seed.
 */
function results(jetCost: number): BenchResults {
  const jet = runs(
    'jetscale',
    () => 10,
    (s) => jetCost * s,
  );
  const keda = runs(
    'keda@100',
    () => 20,
    (s) => 1000 * s,
  );
  const oracle = runs(
    'oracle',
    () => 5,
    (s) => 1000 * s,
  );
  return {
    command: `bench ${jetCost}`,
    runs: [...jet, ...keda, ...oracle],
    frontiers: [
      {
        trace: 'step',
        physicalMinimum: 500,
        points: [point('keda', 100, keda), point('jetscale', NaN, jet)],
      },
    ],
  };
}

describe('compareBenchResults', () => {
  it('pairs default jetscale by seed and judges the KEDA point on both axes', () => {
    // Before: jetscale waits less (10 s vs 20 s) but costs 5 % more than KEDA on every seed, so it
    // does not dominate the KEDA point. After: 10 % cheaper than before, 5.5 % cheaper than KEDA,
    // at the same p99: it dominates it.
    const [row] = compareBenchResults(results(1050), results(945));
    expect(row?.seeds).toEqual(SEEDS);
    expect(row?.defaults.replicaSecondsDifference.estimate).toBeCloseTo(-0.1, 10);
    expect(row?.defaults.replicaSecondsDifference.high).toBeCloseTo(-0.1, 10);
    expect(row?.defaults.p99Difference.estimate).toBe(0);
    expect(row?.defaults.podStarts).toEqual([45, 45]);
    expect(row?.sweep.changed).toBe(8);
    expect((row?.sweep.replicaSeconds[1] ?? NaN) / (row?.sweep.replicaSeconds[0] ?? NaN)).toBeCloseTo(
      0.9,
      10,
    );
    expect(row?.frontier[0].dominated['keda']).toEqual({ count: 0, of: 1, undominated: ['keda@100'] });
    expect(row?.frontier[1].dominated['keda']).toEqual({ count: 1, of: 1, undominated: [] });
    expect(row?.frontier[0].oracleRatio.p99).toBeCloseTo(2, 10);
    expect(row?.frontier[1].oracleRatio.replicaSeconds).toBeCloseTo(0.945, 10);
    // The new default dominates the old one (cheaper on every seed, same p99), not the reverse.
    expect(row?.jetscaleFrontier).toEqual({ improved: ['default by default'], regressed: [] });
    expect(frontierRegressions(compareBenchResults(results(1050), results(945)))).toEqual([]);
  });

  it('lists a KEDA point lost and a jetscale setting made worse', () => {
    const rows = compareBenchResults(results(945), results(1050));
    expect(frontierRegressions(rows)).toEqual([
      'step: keda points dominated 1/1 → 0/1',
      'step: jetscale settings after dominated by one before: default by default',
    ]);
    expect(formatBenchComparison(rows)).toContain('Frontier worse: step: keda points dominated 1/1 → 0/1');
  });

  it('says so when no KEDA family ran (--policies jetscale,oracle)', () => {
    const withoutKeda = (cost: number): BenchResults => {
      const r = results(cost);
      r.runs = r.runs.filter((run) => !run.policy.startsWith('keda'));
      for (const f of r.frontiers) f.points = f.points.filter((q) => q.family === 'jetscale');
      return r;
    };
    expect(formatBenchComparison(compareBenchResults(withoutKeda(1050), withoutKeda(945)))).toContain(
      '| step | no KEDA run → no KEDA run | none → none |',
    );
  });

  it('refuses runs of different seeds: they saw different arrivals', () => {
    const fewer = results(945);
    fewer.runs = fewer.runs.filter((r) => r.seed !== 8);
    expect(() => compareBenchResults(results(1050), fewer)).toThrow(
      'step: default jetscale ran seeds [1,2,3,4,5,6,7,8] before and [1,2,3,4,5,6,7] after',
    );
  });
});

describe('parseBenchResults', () => {
  it("reads the default point's knob written as null, and says what is missing", () => {
    const json = JSON.parse(JSON.stringify(results(1000))) as Record<string, unknown>;
    expect(Number.isNaN(parseBenchResults(json, 'a.json').frontiers[0]?.points[1]?.knob)).toBe(true);
    expect(() => parseBenchResults({ frontiers: [] }, 'a.json')).toThrow(
      'a.json: no "runs" array; pass the results.json that bench.ts --out DIR wrote',
    );
    const broken = JSON.parse(JSON.stringify(results(1000))) as { runs: Array<Record<string, unknown>> };
    delete broken.runs[0]?.replicaSeconds;
    expect(() => parseBenchResults(broken, 'b.json')).toThrow(
      'b.json: runs[0] (step jetscale) has no number replicaSeconds',
    );
  });
});
