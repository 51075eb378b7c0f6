// Where default jetscale's p99 gap to `oracle` comes from (issue 13's "within 1.25× of the oracle"
// target): a ladder of reference policies, each the one before it with one more thing a real
// policy has to live with, from `oracle` (the true rate and backlog at every 0.25 s tick) to a
// rung that reads, polls, measures and steps as jetscale does but sizes by the oracle's rule. The
// paired difference between two rungs (same seeds, same arrivals) is the price of that one thing;
// what is left between the last rung and jetscale is the policy's own.
//
//   npx tsx loadtest/sim/oracle-gap.ts                          # 14 seeds: spike, bursty, recurring, recorded
//   npx tsx loadtest/sim/oracle-gap.ts --seeds 6 --traces spike,step --poll 1   # rungs read every 1 s
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultScaleDown, defaultScaleUp, defaultScalingSpec } from '../../operator/src/scaling/defaults.js';
import { ARRIVING_POLL_SECONDS } from '../../operator/src/scaling/objective.js';
import type { ScalingRules } from '../../operator/src/scaling/types.js';
import { benchTraces, DEFAULT_SEEDS } from './bench.js';
import type { OracleOptions } from './oracle.js';
import { ORACLE_SCALE_DOWN_WINDOW_SECONDS, OracleAutoscaler } from './oracle.js';
import { pairedDifference, signedText } from './paired.js';
import { endingAt, oraclePollPhaseSeconds, runScenario, scenarioOptions, shared } from './scenarios.js';
import type { RunResult } from './simulator.js';
import { defaultWorkload, simulate } from './simulator.js';
import type { Trace } from './traces.js';

/** One rung: what it adds to the rung before, and how the oracle is set up for it. */
export interface Rung {
  name: string;
  adds: string;
  /** Seconds the readings are stale (the simulator's metricStalenessSeconds). */
  stalenessSeconds: number;
  oracle: Partial<Pick<OracleOptions, 'pollSeconds' | 'measuredRate' | 'rules' | 'drainSeconds'>>;
}

/** The oracle's own scale-down as rules: the highest of the last 15 s, then at once. */
const oracleScaleDown: ScalingRules = {
  stabilizationWindowSeconds: ORACLE_SCALE_DOWN_WINDOW_SECONDS,
  policies: [{ type: 'Percent', value: 100, periodSeconds: ORACLE_SCALE_DOWN_WINDOW_SECONDS }],
  selectPolicy: 'Max',
};

/**
 * The ladder, each rung the previous one plus one handicap; `pollSeconds` is how often the rungs
 * from `poll` on read (jetscale's while messages flow by default).
 */
export function ladder(pollSeconds: number = ARRIVING_POLL_SECONDS): Rung[] {
  return [
    {
      name: 'oracle',
      adds: 'the true rate and backlog at every 0.25 s tick',
      stalenessSeconds: 0,
      oracle: {},
    },
    {
      name: 'stale',
      adds: `readings ${shared.metricStalenessSeconds} s old, as every policy's`,
      stalenessSeconds: shared.metricStalenessSeconds,
      oracle: {},
    },
    {
      name: 'poll',
      adds: `read every ${pollSeconds} s (jetscale reads every ${ARRIVING_POLL_SECONDS} s while messages flow, every 1 s once it sees a change)`,
      stalenessSeconds: shared.metricStalenessSeconds,
      oracle: { pollSeconds: pollSeconds },
    },
    {
      name: 'signal',
      adds: 'the rate measured from its readings (arrivals between two readings), not known',
      stalenessSeconds: shared.metricStalenessSeconds,
      oracle: { pollSeconds, measuredRate: true },
    },
    {
      name: 'up',
      adds: "jetscale's default scale-up step policies (12× or +40 pods per 15 s; 10× before session 29, +20 before session 30)",
      stalenessSeconds: shared.metricStalenessSeconds,
      oracle: {
        pollSeconds,
        measuredRate: true,
        rules: { scaleUp: defaultScaleUp, scaleDown: oracleScaleDown },
      },
    },
    {
      name: 'down',
      adds: "jetscale's default scale-down step policy (100 % per 15 s since session 23, 50 % or 1 pod before; after the same 15 s window)",
      stalenessSeconds: shared.metricStalenessSeconds,
      oracle: {
        pollSeconds,
        measuredRate: true,
        rules: { scaleUp: defaultScaleUp, scaleDown: defaultScaleDown },
      },
    },
    {
      name: 'drain',
      adds: `drains what piled up within jetscale's drainWithin (${defaultScalingSpec.drainWithinSeconds} s), not 10 s`,
      stalenessSeconds: shared.metricStalenessSeconds,
      oracle: {
        pollSeconds,
        measuredRate: true,
        rules: { scaleUp: defaultScaleUp, scaleDown: defaultScaleDown },
        drainSeconds: defaultScalingSpec.drainWithinSeconds,
      },
    },
  ];
}

/** One rung's run on one trace and seed (the bench's options: warm start, drain, 0.25 s ticks). */
export function runRung(rung: Rung, trace: Trace, seed: number): RunResult {
  const run = endingAt(trace);
  const poll = rung.oracle.pollSeconds ?? 0;
  return simulate(
    scenarioOptions(run, seed, defaultWorkload, rung.stalenessSeconds),
    new OracleAutoscaler({
      trace: run,
      workload: defaultWorkload,
      minReplicas: shared.minReplicas,
      maxReplicas: shared.maxReplicas,
      foresightSeconds: 0,
      // A phase drawn per seed, as oracle-poll's, scaled to this poll.
      ...(poll > 0
        ? { pollPhaseSeconds: (oraclePollPhaseSeconds(seed) * poll) / shared.jetscalePollSeconds }
        : {}),
      ...rung.oracle,
      name: rung.name,
    }),
  );
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? NaN)
    : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}

function main(): void {
  const argv = process.argv.slice(2);
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const seeds = Number(value('--seeds') ?? String(DEFAULT_SEEDS));
  if (!Number.isInteger(seeds) || seeds < 6)
    throw new Error(`--seeds must be a whole number ≥ 6 (paired intervals), got ${value('--seeds')}`);
  const pollSeconds = Number(value('--poll') ?? String(ARRIVING_POLL_SECONDS));
  if (!(pollSeconds > 0)) throw new Error(`--poll must be a number of seconds > 0, got ${value('--poll')}`);
  const rungs = ladder(pollSeconds);
  const bench = benchTraces();
  const names = bench.forSeed(1).map((t) => t.name);
  const wanted = (value('--traces') ?? 'spike,bursty,recurring,recorded').split(',').map((t) => t.trim());
  const unknown = wanted.filter((t) => !names.includes(t));
  if (unknown.length > 0)
    throw new Error(`--traces: unknown ${unknown.join(', ')}; known: ${names.join(', ')}`);
  for (const rung of rungs) console.log(`${rung.name.padEnd(8)} ${rung.adds}`);
  for (const name of wanted) {
    const rows: Array<{ name: string; runs: RunResult[] }> = rungs.map((r) => ({ name: r.name, runs: [] }));
    rows.push({ name: 'jetscale', runs: [] });
    for (let seed = 1; seed <= seeds; seed++) {
      const trace = bench.forSeed(seed).find((t) => t.name === name);
      if (trace === undefined) throw new Error(`trace ${name} missing for seed ${seed}`);
      rungs.forEach((rung, i) => rows[i]?.runs.push(runRung(rung, trace, seed)));
      rows[rungs.length]?.runs.push(runScenario(trace, 'jetscale', seed));
    }
    const oracleP99 = median(rows[0]?.runs.map((r) => r.p99WaitSeconds) ?? []);
    const oracleCost = median(rows[0]?.runs.map((r) => r.replicaSeconds) ?? []);
    console.log(
      `\n${name}, medians over ${seeds} seeds; Δ = paired difference from the rung above (95 % signed-rank interval)`,
    );
    console.log(
      'rung       p99 (s)  × oracle   replica-s  × oracle   Δ p99 (s)                  Δ replica-s',
    );
    rows.forEach((row, i) => {
      const p99 = median(row.runs.map((r) => r.p99WaitSeconds));
      const cost = median(row.runs.map((r) => r.replicaSeconds));
      const above = rows[i - 1];
      let delta = '';
      if (above !== undefined) {
        const d = pairedDifference(
          {
            p99WaitSeconds: row.runs.map((r) => r.p99WaitSeconds),
            replicaSeconds: row.runs.map((r) => r.replicaSeconds),
          },
          {
            p99WaitSeconds: above.runs.map((r) => r.p99WaitSeconds),
            replicaSeconds: above.runs.map((r) => r.replicaSeconds),
          },
        );
        const pct = (x: number): string => `${signedText(x * 100, 1)} %`;
        delta =
          `${signedText(d.p99Seconds.estimate, 2)} [${signedText(d.p99Seconds.low, 2)}, ${signedText(d.p99Seconds.high, 2)}]`.padEnd(
            27,
          ) +
          `${pct(d.replicaSecondsRelative.estimate)} [${pct(d.replicaSecondsRelative.low)}, ${pct(d.replicaSecondsRelative.high)}]`;
      }
      console.log(
        `${row.name.padEnd(9)} ${p99.toFixed(2).padStart(8)}  ${(p99 / oracleP99).toFixed(2).padStart(7)}x  ${cost.toFixed(0).padStart(10)}  ${(cost / oracleCost).toFixed(2).padStart(7)}x   ${delta}`,
      );
    });
  }
}

if (resolve(process.argv[1] ?? '') === fileURLToPath(import.meta.url)) main();
