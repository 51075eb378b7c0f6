// Paired comparison of two scale-down stabilization windows: default jetscale (and, with
// --objectives, jetscale at those latency objectives) run with window A and with window B on the
// same seeds and traces, nothing else changed. Prints, per trace, p99 and replica-seconds with the
// paired 95 % interval of A − B (paired.ts), pod starts and pods started within 60 s of a
// scale-down (flapping). The source of the README's "The scale-down window" table.
//
//   npx tsx loadtest/sim/compare-window.ts                       # 15 s vs 30 s, 14 seeds, every trace
//   npx tsx loadtest/sim/compare-window.ts --windows 20,30 --seeds 5 --traces bursty,demo --objectives 90
import { runScript } from './cli.js';
import { benchTraces, DEFAULT_SEEDS, pairedRunOptions } from './bench.js';
import { JetscaleAutoscaler } from './jetscale-autoscaler.js';
import { pairedDifference, signedText, type DifferenceInterval } from './paired.js';
import { jetscaleSpec, scenarioOptions, shared } from './scenarios.js';
import { simulate } from './simulator.js';

/** One simulated run, reduced to what the comparison reads. */
export interface WindowRun {
  trace: string;
  /** `jetscale` or `jetscale@<objective s>`. */
  setting: string;
  windowSeconds: number;
  seed: number;
  p99WaitSeconds: number;
  replicaSeconds: number;
  podStarts: number;
  podStartsAfterScaleDown: number;
}

export interface WindowComparison {
  trace: string;
  setting: string;
  /** Medians over seeds, window A then window B. */
  p99: [number, number];
  replicaSeconds: [number, number];
  podStarts: [number, number];
  podStartsAfterScaleDown: [number, number];
  /** Paired A − B: p99 in seconds, replica-seconds relative to B's. */
  p99Difference: DifferenceInterval;
  replicaSecondsDifference: DifferenceInterval;
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? NaN)
    : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}

/**
 * Pairs the runs of window A and window B by trace, setting and seed. Throws when a seed ran under
 * one window only: an unpaired seed would silently compare different arrivals.
 */
export function compareWindows(runs: WindowRun[], windowA: number, windowB: number): WindowComparison[] {
  const keys = [...new Set(runs.map((r) => `${r.trace}\u0000${r.setting}`))];
  return keys.map((key) => {
    const [trace = '', setting = ''] = key.split('\u0000');
    const of = (w: number): WindowRun[] =>
      runs
        .filter((r) => r.trace === trace && r.setting === setting && r.windowSeconds === w)
        .sort((x, y) => x.seed - y.seed);
    const a = of(windowA);
    const b = of(windowB);
    const seedsA = a.map((r) => r.seed).join(',');
    const seedsB = b.map((r) => r.seed).join(',');
    if (a.length === 0 || seedsA !== seedsB) {
      throw new Error(
        `${trace} ${setting}: window ${windowA} s ran seeds [${seedsA}], ${windowB} s ran [${seedsB}]; both need the same seeds`,
      );
    }
    const d = pairedDifference(
      { p99WaitSeconds: a.map((r) => r.p99WaitSeconds), replicaSeconds: a.map((r) => r.replicaSeconds) },
      { p99WaitSeconds: b.map((r) => r.p99WaitSeconds), replicaSeconds: b.map((r) => r.replicaSeconds) },
    );
    const pair = (pick: (r: WindowRun) => number): [number, number] => [
      median(a.map(pick)),
      median(b.map(pick)),
    ];
    return {
      trace,
      setting,
      p99: pair((r) => r.p99WaitSeconds),
      replicaSeconds: pair((r) => r.replicaSeconds),
      podStarts: pair((r) => r.podStarts),
      podStartsAfterScaleDown: pair((r) => r.podStartsAfterScaleDown),
      p99Difference: d.p99Seconds,
      replicaSecondsDifference: d.replicaSecondsRelative,
    };
  });
}

export function formatComparison(rows: WindowComparison[], windowA: number, windowB: number): string {
  const f2 = (x: number): string => x.toFixed(2);
  const s2 = (x: number): string => signedText(x, 2);
  const pc = (x: number): string => signedText(100 * x, 1);
  const lines = [
    `| trace | setting | p99 (s), ${windowA} s / ${windowB} s | p99 ${windowA} s − ${windowB} s | replica-s ${windowA} s − ${windowB} s | pod starts | started ≤ 60 s after a scale-down |`,
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of rows) {
    const dp = r.p99Difference;
    const dc = r.replicaSecondsDifference;
    lines.push(
      `| ${r.trace} | ${r.setting} | ${f2(r.p99[0])} / ${f2(r.p99[1])} | ${s2(dp.estimate)} [${s2(dp.low)}, ${s2(dp.high)}] | ${pc(dc.estimate)} % [${pc(dc.low)}, ${pc(dc.high)}] | ${r.podStarts[0]} / ${r.podStarts[1]} | ${r.podStartsAfterScaleDown[0]} / ${r.podStartsAfterScaleDown[1]} |`,
    );
  }
  return lines.join('\n');
}

const usage = `usage: compare-window.ts [--windows A,B] [--seeds N] [--traces a,b] [--objectives s,s]
  --windows A,B     the two scale-down stabilization windows in seconds (default 15,30)
  --seeds N         seeds 1..N (default ${DEFAULT_SEEDS}; paired intervals need at least 6)
  --traces a,b      only these traces (step, spike, ramp, diurnal, bursty, recurring, recorded, demo)
  --objectives s,s  also compare jetscale at these latencyObjective settings (seconds)`;

function parseList(value: string | undefined, flag: string): number[] | undefined {
  if (value === undefined) return undefined;
  const items = value.split(',').map((v) => Number(v.trim()));
  if (items.length === 0 || items.some((v) => !Number.isFinite(v) || v < 0)) {
    throw new Error(`${flag} needs comma-separated non-negative numbers, got "${value}"\n${usage}`);
  }
  return items;
}

function main(argv: string[]): void {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(usage);
    return;
  }
  const known = new Set(['--windows', '--seeds', '--traces', '--objectives']);
  for (let i = 0; i < argv.length; i += 2) {
    if (!known.has(argv[i] ?? '') || argv[i + 1] === undefined)
      throw new Error(`unexpected argument "${argv[i]}"\n${usage}`);
  }
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const windows = parseList(value('--windows'), '--windows') ?? [15, 30];
  if (windows.length !== 2 || windows[0] === windows[1])
    throw new Error(`--windows needs two different values\n${usage}`);
  const [windowA = 15, windowB = 30] = windows;
  const { seeds, only } = pairedRunOptions(value, usage);
  const objectives = parseList(value('--objectives'), '--objectives') ?? [];

  const traces = benchTraces();
  for (const note of traces.notes) console.log(`note: ${note}`);
  const runs: WindowRun[] = [];
  for (let seed = 1; seed <= seeds; seed++) {
    for (const trace of traces.forSeed(seed)) {
      if (only !== undefined && !only.includes(trace.name)) continue;
      for (const windowSeconds of [windowA, windowB]) {
        for (const objective of [undefined, ...objectives]) {
          const spec = jetscaleSpec(trace, false, objective);
          spec.scaleDown = { ...spec.scaleDown, stabilizationWindowSeconds: windowSeconds };
          const setting = objective === undefined ? 'jetscale' : `jetscale@${objective}`;
          const r = simulate(
            scenarioOptions(trace, seed),
            new JetscaleAutoscaler(spec, shared.jetscalePollSeconds, setting),
          );
          runs.push({
            trace: trace.name,
            setting,
            windowSeconds,
            seed,
            p99WaitSeconds: r.p99WaitSeconds,
            replicaSeconds: r.replicaSeconds,
            podStarts: r.podStarts,
            podStartsAfterScaleDown: r.podStartsAfterScaleDown,
          });
        }
      }
    }
    process.stderr.write(`seed ${seed}/${seeds} done\n`);
  }
  if (runs.length === 0) throw new Error(`no trace matched --traces ${only?.join(',')}\n${usage}`);
  console.log(formatComparison(compareWindows(runs, windowA, windowB), windowA, windowB));
}

runScript(import.meta.url, main);
