// Paired comparison of jetscale-predictive against default (reactive) jetscale: on every bench trace
// and on three where no burst it could expect comes — the recurring burst switched off after 2 h
// (`recurring-stops`), a period that drifts by 3 min a cycle (`drifting`), a flat 100/s (`noise`,
// Poisson noise only). Prints, per trace, the medians over seeds of p99 (whole run and after the
// warm-up, and the whole run's had every message after the warm-up waited 0 s: simulator.ts
// p99PerfectAfterWarmupSeconds) and replica-seconds for both, and the paired 95 % interval of predictive − reactive
// (paired.ts) for replica-seconds (relative) and p99 (seconds). Issue 13's bound: predictive no more
// than 5 % worse than reactive on any trace but `recurring`, where it must earn its place.
//
//   npx tsx loadtest/sim/compare-predictive.ts                    # 14 seeds, every trace
//   npx tsx loadtest/sim/compare-predictive.ts --seeds 3 --traces recurring,recurring-stops
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchTraces, DEFAULT_SEEDS } from './bench.js';
import { pairedDifference, signedText } from './paired.js';
import { runScenario } from './scenarios.js';
import type { Trace } from './traces.js';
import { recurringBurstTrace } from './traces.js';

/** The traces on which predictive mode has nothing to find, or finds something that goes away. */
export function safetyTraces(): Trace[] {
  return [
    { ...recurringBurstTrace({ stopAtSeconds: 2 * 3600 }), name: 'recurring-stops' },
    { ...recurringBurstTrace({ driftSeconds: 180 }), name: 'drifting' },
    {
      name: 'noise',
      description: '100/s flat (Poisson noise only)',
      durationSeconds: 4 * 3600,
      rateAt: () => 100,
    },
  ];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? NaN)
    : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}

function parseArgs(argv: string[]): { seeds: number; traces: string[] | undefined } {
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const seeds = Number(value('--seeds') ?? String(DEFAULT_SEEDS));
  if (!Number.isInteger(seeds) || seeds < 1)
    throw new Error(`--seeds must be a whole number ≥ 1, got ${value('--seeds')}`);
  return {
    seeds,
    traces: value('--traces')
      ?.split(',')
      .map((t) => t.trim()),
  };
}

function main(): void {
  const { seeds, traces: wanted } = parseArgs(process.argv.slice(2));
  const bench = benchTraces();
  const tracesFor = (seed: number): Trace[] => [...bench.forSeed(seed), ...safetyTraces()];
  const names = tracesFor(1).map((t) => t.name);
  const unknown = wanted?.filter((t) => !names.includes(t)) ?? [];
  if (unknown.length > 0)
    throw new Error(`--traces: unknown ${unknown.join(', ')}; known: ${names.join(', ')}`);
  for (const name of names.filter((n) => wanted?.includes(n) ?? true)) {
    const reactive = {
      p99: [] as number[],
      warm: [] as number[],
      floor: [] as number[],
      cost: [] as number[],
    };
    const predictive = {
      p99: [] as number[],
      warm: [] as number[],
      floor: [] as number[],
      cost: [] as number[],
    };
    for (let seed = 1; seed <= seeds; seed++) {
      const trace = tracesFor(seed).find((t) => t.name === name);
      if (trace === undefined) throw new Error(`trace ${name} missing for seed ${seed}`);
      for (const [runs, policy] of [
        [reactive, 'jetscale'],
        [predictive, 'jetscale-predictive'],
      ] as const) {
        const r = runScenario(trace, policy, seed);
        runs.p99.push(r.p99WaitSeconds);
        runs.warm.push(r.p99AfterWarmupSeconds);
        runs.floor.push(r.p99PerfectAfterWarmupSeconds);
        runs.cost.push(r.replicaSeconds);
      }
    }
    const d = pairedDifference(
      { p99WaitSeconds: predictive.p99, replicaSeconds: predictive.cost },
      { p99WaitSeconds: reactive.p99, replicaSeconds: reactive.cost },
    );
    const pct = (x: number): string => `${signedText(x * 100, 1)} %`;
    console.log(
      `${name.padEnd(16)} p99 ${median(reactive.p99).toFixed(2)} → ${median(predictive.p99).toFixed(2)} s ` +
        `(after warm-up ${median(reactive.warm).toFixed(2)} → ${median(predictive.warm).toFixed(2)} s; ` +
        `floor had every message after it waited 0 s ${median(reactive.floor).toFixed(2)} → ${median(predictive.floor).toFixed(2)} s), ` +
        `replica-s ${median(reactive.cost).toFixed(0)} → ${median(predictive.cost).toFixed(0)}; ` +
        `paired: replica-s ${pct(d.replicaSecondsRelative.estimate)} [${pct(d.replicaSecondsRelative.low)}, ${pct(d.replicaSecondsRelative.high)}], ` +
        `p99 ${signedText(d.p99Seconds.estimate, 2)} s [${signedText(d.p99Seconds.low, 2)}, ${signedText(d.p99Seconds.high, 2)}]`,
    );
  }
}

if (resolve(process.argv[1] ?? '') === fileURLToPath(import.meta.url)) main();
