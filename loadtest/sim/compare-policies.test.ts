import { describe, expect, it } from '@jest/globals';
import { defaultScaleUp } from '../../operator/src/scaling/defaults.js';
import {
  comparePolicies,
  formatPolicyComparison,
  parseVariants,
  variantSpec,
  type PolicyRun,
} from './compare-policies.js';
import { jetscaleSpec } from './scenarios.js';

function run(
  variant: string | undefined,
  seed: number,
  replicaSeconds: number,
  p99WaitSeconds = 5,
): PolicyRun {
  return {
    trace: 'step',
    variant,
    seed,
    p99WaitSeconds,
    replicaSeconds,
    consumerReadsPerMinute: variant === undefined ? 34 : 60,
  };
}

describe('parseVariants', () => {
  it('reads poll<seconds> and up<pods>', () => {
    expect(parseVariants('poll1, up40,poll2.5')).toEqual([
      { name: 'poll1', label: 'poll ≤ 1 s', pollSeconds: 1 },
      { name: 'up40', label: '+40 pods per 15 s', scaleUpPods: 40 },
      { name: 'poll2.5', label: 'poll ≤ 2.5 s', pollSeconds: 2.5 },
    ]);
  });

  it.each(['poll0', 'up', 'up-5', 'window30', 'poll1 up40', ''])(
    'refuses "%s", naming the forms it takes',
    (bad) => {
      expect(() => parseVariants(bad)).toThrow(/use poll<seconds> .* or up<pods>/);
    },
  );

  it('refuses a variant named twice', () => {
    expect(() => parseVariants('up40,up40')).toThrow(/names a variant twice/);
  });
});

describe('variantSpec', () => {
  const base = jetscaleSpec(
    { name: 'step', description: 'flat', durationSeconds: 600, rateAt: () => 10 },
    false,
  );

  it('replaces the Pods step of the scale-up and keeps the Percent one', () => {
    const [up60] = parseVariants('up60');
    const spec = variantSpec(base, up60);
    expect(spec.scaleUp?.policies).toEqual([
      { type: 'Percent', value: 1100, periodSeconds: 15 },
      { type: 'Pods', value: 60, periodSeconds: 15 },
    ]);
    expect(spec.scaleUp?.selectPolicy).toBe(defaultScaleUp.selectPolicy);
    expect(spec.scaleDown).toEqual(base.scaleDown);
    expect(base.scaleUp?.policies).toContainEqual({ type: 'Pods', value: 40, periodSeconds: 15 });
  });

  it('leaves the spec alone for the default and for a poll variant (the poll is the autoscaler’s)', () => {
    expect(variantSpec(base, undefined)).toBe(base);
    expect(variantSpec(base, parseVariants('poll1')[0])).toBe(base);
  });
});

describe('comparePolicies', () => {
  it('pairs each variant with the default by seed, whatever order the runs came in', () => {
    // The variant costs exactly 10 % more on every seed while the seeds differ by 10x: pairing by
    // position in a shuffled list would mix seeds and blur it.
    const seeds = [1, 2, 3, 4, 5, 6, 7, 8];
    const runs = [
      ...seeds.map((s) => run(undefined, s, 1000 * s)),
      ...[...seeds].reverse().map((s) => run('poll1', s, 1100 * s, 4.5)),
    ];
    const [row] = comparePolicies(runs, ['poll1']);
    expect(row?.p99).toBe(5);
    expect(row?.replicaSeconds).toBe(4500);
    expect(row?.consumerReadsPerMinute).toBe(34);
    const cell = row?.cells[0];
    expect(cell?.replicaSecondsDifference.estimate).toBeCloseTo(0.1, 10);
    expect(cell?.replicaSecondsDifference.low).toBeCloseTo(0.1, 10);
    expect(cell?.replicaSecondsDifference.high).toBeCloseTo(0.1, 10);
    expect(cell?.p99Difference.estimate).toBeCloseTo(-0.5, 10);
    expect(cell?.consumerReadsPerMinute).toBe(60);
  });

  it('refuses to compare when a seed ran under the default or the variant only', () => {
    const runs = [
      ...[1, 2, 3, 4, 5, 6].map((s) => run(undefined, s, 100)),
      ...[1, 2, 3, 4, 5, 7].map((s) => run('up40', s, 90)),
    ];
    expect(() => comparePolicies(runs, ['up40'])).toThrow(/both need the same seeds/);
    expect(() => comparePolicies(runs.slice(0, 6), ['up40'])).toThrow(/up40 ran \[\]/);
  });

  it('prints signed differences with their interval, and no negative zero', () => {
    const runs = [
      ...[1, 2, 3, 4, 5, 6].map((s) => run(undefined, s, 10_000 * s)),
      ...[1, 2, 3, 4, 5, 6].map((s) => run('up40', s, 9_700 * s)),
    ];
    const table = formatPolicyComparison(comparePolicies(runs, ['up40']), parseVariants('up40'));
    expect(table.split('\n')[0]).toBe(
      '| trace | default (p99 s / replica-s / reads a min) | +40 pods per 15 s |',
    );
    expect(table).toContain('| step | 5.00 / 35,000 / 34 | 0.00 s [0.00, 0.00], −3.0 % [−3.0, −3.0], 60 |');
  });
});
