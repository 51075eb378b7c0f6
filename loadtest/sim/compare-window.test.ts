import { describe, expect, it } from '@jest/globals';
import { compareWindows, formatComparison, type WindowRun } from './compare-window.js';

function run(windowSeconds: number, seed: number, replicaSeconds: number, p99WaitSeconds = 5): WindowRun {
  return {
    trace: 'step',
    setting: 'jetscale',
    windowSeconds,
    seed,
    p99WaitSeconds,
    replicaSeconds,
    podStarts: windowSeconds === 15 ? 12 : 10,
    podStartsAfterScaleDown: windowSeconds === 15 ? 4 : 2,
  };
}

describe('compareWindows', () => {
  it('pairs the two windows by seed, whatever order the runs came in', () => {
    // Window 15 s costs exactly 10 % less than 30 s on every seed, while the seeds themselves
    // differ by 10x: pairing by position in a shuffled list would mix seeds and blur it.
    const seeds = [1, 2, 3, 4, 5, 6, 7, 8];
    const runs = [
      ...seeds.map((s) => run(30, s, 1000 * s)),
      ...[...seeds].reverse().map((s) => run(15, s, 900 * s, 5 - 0.5)),
    ];
    const [row] = compareWindows(runs, 15, 30);
    expect(row?.replicaSecondsDifference.estimate).toBeCloseTo(-0.1, 10);
    expect(row?.replicaSecondsDifference.low).toBeCloseTo(-0.1, 10);
    expect(row?.replicaSecondsDifference.high).toBeCloseTo(-0.1, 10);
    expect(row?.p99Difference.estimate).toBeCloseTo(-0.5, 10);
    expect(row?.podStarts).toEqual([12, 10]);
    expect(row?.podStartsAfterScaleDown).toEqual([4, 2]);
  });

  it('refuses to compare when a seed ran under one window only', () => {
    const runs = [
      ...[1, 2, 3, 4, 5, 6].map((s) => run(30, s, 100)),
      ...[1, 2, 3, 4, 5, 7].map((s) => run(15, s, 90)),
    ];
    expect(() => compareWindows(runs, 15, 30)).toThrow(/both need the same seeds/);
  });

  it('prints signed differences with their interval, and no negative zero', () => {
    const runs = [
      ...[1, 2, 3, 4, 5, 6].map((s) => run(30, s, 100 * s)),
      ...[1, 2, 3, 4, 5, 6].map((s) => run(15, s, 97 * s)),
    ];
    const table = formatComparison(compareWindows(runs, 15, 30), 15, 30);
    expect(table).toContain(
      '| step | jetscale | 5.00 / 5.00 | 0.00 [0.00, 0.00] | −3.0 % [−3.0, −3.0] | 12 / 10 | 4 / 2 |',
    );
  });
});
