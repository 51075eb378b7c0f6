import type { TraceFrontier } from './bench.js';
import {
  DEFAULT_KNOB,
  HELD_OBJECTIVE_SECONDS,
  benchProvenance,
  evaluateTargets,
  objectiveVerdict,
  parseWorkload,
} from './bench.js';
import type { FrontierPoint } from './frontier.js';
import { defaultWorkload } from './simulator.js';

describe('bench realism flags', () => {
  it('leaves the default pods alone without flags', () => {
    expect(parseWorkload(undefined, undefined)).toEqual(defaultWorkload);
  });

  it('reads --consumes-before-ready seconds and --warmup SECONDS@SHARE', () => {
    const w = parseWorkload('5', '20@0.5');
    expect(w.consumesBeforeReadySeconds).toBe(5);
    expect(w.warmup).toEqual({ seconds: 20, speedShare: 0.5 });
    expect(w.serviceRatePerReplica).toBe(defaultWorkload.serviceRatePerReplica);
  });

  it('rejects values it cannot use, saying what to pass', () => {
    expect(() => parseWorkload('-1', undefined)).toThrow(/--consumes-before-ready must be seconds from 0/);
    expect(() => parseWorkload('30', undefined)).toThrow(/the shortest start-up \(10\)/);
    expect(() => parseWorkload(undefined, '20')).toThrow(/--warmup must be SECONDS@SHARE/);
    expect(() => parseWorkload(undefined, '20@0')).toThrow(/SHARE in \(0, 1\]/);
    expect(() => parseWorkload(undefined, '20@1.5')).toThrow(/e\.g\. 20@0\.5, got '20@1\.5'/);
    expect(() => parseWorkload(undefined, undefined, '-5')).toThrow(/--prefetch must be a whole number/);
    expect(() => parseWorkload(undefined, undefined, '1.5')).toThrow(/got '1\.5'/);
  });

  it('reads --prefetch N: each pod buffers N beyond what its handlers work on', () => {
    expect(parseWorkload(undefined, undefined, '100').prefetchPerReplica).toBe(100);
    expect(parseWorkload(undefined, undefined).prefetchPerReplica).toBeUndefined();
  });
  it('--in-flight: handlers that work on N at once (the same rate a pod, N / rate seconds each)', () => {
    const w = parseWorkload(undefined, undefined, undefined, '100');
    expect(w.inFlightPerReplica).toBe(100);
    expect(w.serviceRatePerReplica).toBe(defaultWorkload.serviceRatePerReplica);
    expect(parseWorkload(undefined, undefined).inFlightPerReplica).toBe(defaultWorkload.inFlightPerReplica);
    expect(() => parseWorkload(undefined, undefined, undefined, '0')).toThrow(
      /--in-flight must be a whole number/,
    );
    expect(() => parseWorkload(undefined, undefined, undefined, '2.5')).toThrow(/got '2\.5'/);
  });
});

describe('latency objectives held', () => {
  const point = (family: string, knob: number, p99s: number[]): FrontierPoint => ({
    family,
    knob,
    p99WaitSeconds: [...p99s].sort((a, b) => a - b)[Math.floor(p99s.length / 2)] ?? 0,
    replicaSeconds: 1000,
    perSeed: { p99WaitSeconds: p99s, replicaSeconds: p99s.map(() => 1000) },
  });
  const frontier = (points: FrontierPoint[]): TraceFrontier => ({
    trace: 'bursty',
    physicalMinimum: 500,
    points,
  });
  // Neither the default (no objective), an objective shorter than HELD_OBJECTIVE_SECONDS (a pod
  // start-up cannot be beaten through a rise) nor a KEDA point is held to anything.
  const exempt = [
    point('jetscale', DEFAULT_KNOB, [18, 19, 20]),
    point('jetscale', 10, [15, 16, 17]),
    point('keda-tuned', 1000, [51, 52, 200]),
  ];

  it('names every objective whose p99 went above it on some seed, and on how many', () => {
    const verdict = objectiveVerdict(
      frontier([...exempt, point('jetscale', 60, [40, 50, 59.9]), point('jetscale', 90, [80, 91, 95])]),
    );
    expect(verdict).toMatch(/^MISSED bursty: /);
    expect(verdict).toContain('@90 (2/3 seeds, up to 95.00 s)');
    expect(verdict).not.toContain('@60 (');
    expect(verdict).not.toContain('@10 (');
  });

  it('counts one seed over as a miss though the median is well within', () => {
    const verdict = objectiveVerdict(frontier([point('jetscale', HELD_OBJECTIVE_SECONDS, [10, 11, 12, 31])]));
    expect(verdict).toMatch(/^MISSED bursty: .*@30 \(1\/4 seeds, up to 31\.00 s\)/);
  });

  it('says met, with the objective it came nearest to, when every seed is within', () => {
    const verdict = objectiveVerdict(
      frontier([...exempt, point('jetscale', 60, [40, 50, 54]), point('jetscale', 90, [60, 62, 63])]),
    );
    expect(verdict).toMatch(/^MET bursty: /);
    expect(verdict).toContain('2 objectives, 6 runs; the nearest: @60, up to 54.00 s = 0.90x');
  });

  it('says nothing when no objective of that length ran', () => {
    expect(objectiveVerdict(frontier(exempt))).toBeUndefined();
  });
});

describe('a KEDA point no jetscale setting dominates', () => {
  it("is set against the clairvoyant planner's cheapest plan at its p99", () => {
    const at = (family: string, knob: number, p99: number, replicaSeconds: number): FrontierPoint => ({
      family,
      knob,
      p99WaitSeconds: p99,
      replicaSeconds,
    });
    const verdicts = evaluateTargets(
      [],
      [
        {
          trace: 'bursty',
          physicalMinimum: 15_000,
          points: [
            at('jetscale', DEFAULT_KNOB, 18, 58_000),
            at('jetscale', 80, 51, 22_000),
            at('keda-tuned', 1000, 51.1, 20_000),
            at('clairvoyant-cost', 40, 38, 22_800),
            at('clairvoyant-cost', 50, 48.6, 21_800),
            at('clairvoyant-cost', 60, 58.4, 19_000),
          ],
        },
      ],
    );
    const line = verdicts.find((v) => v.trim().startsWith('keda-tuned@1000:'));
    // The cheapest plan waiting no longer than 51.1 s is @50, not @60 (cheaper, but it waits longer).
    expect(line).toContain(
      "the clairvoyant planner's cheapest plan at ≤ its p99 (@50: 48.60 s, 21800 replica-s) costs 1.09x its replica-s",
    );
  });
});

describe('benchProvenance', () => {
  it('names the commit the run started on, and counts a run during which the tree moved on as dirty', () => {
    const started = Date.now() - 5_000;
    const clean = { commit: 'aaa', dirty: false };
    expect(benchProvenance(started, clean, clean)).toMatchObject({ commit: 'aaa', dirty: false });
    // A commit or rebase during the run (bench.ts used to record the end's commit: e77c261 for code of 094713d).
    expect(benchProvenance(started, clean, { commit: 'bbb', dirty: false })).toMatchObject({
      commit: 'aaa',
      dirty: true,
    });
    expect(benchProvenance(started, clean, { commit: 'aaa', dirty: true })).toMatchObject({ dirty: true });
    expect(benchProvenance(started, { commit: 'aaa', dirty: true }, clean)).toMatchObject({ dirty: true });
    expect(benchProvenance(started, { commit: undefined, dirty: undefined }, clean)).toMatchObject({
      commit: undefined,
      dirty: undefined,
    });
    expect(benchProvenance(started, clean, clean).wallSeconds).toBeGreaterThanOrEqual(5);
  });
});
