// Judges a policy change on both axes: two bench runs (results.json of `bench.ts --out A` on the
// old code and `--out B` on the new, same seeds and traces) compared per trace, the cost beside the
// p99. For default jetscale: p99, replica-seconds and pod starts, old → new, with the per-seed
// differences. For jetscale's whole sweep (every latencyObjective): the runs that changed, the
// replica-seconds and pod starts summed over them, and the largest p99 rise. For the frontier: the
// KEDA points jetscale dominates, whether a KEDA point dominates default jetscale, whether every
// objective of 30 s or more held on every seed (the bench's own verdicts, recomputed from the
// frontiers), and default jetscale's ratios to the oracle. A p99 bought with replica-seconds, or
// replica-seconds saved at a worse frontier, shows as such.
//
//   (cd old-checkout && npx tsx loadtest/sim/bench.ts --seeds 2 --traces step,spike --out /tmp/A)
//   npx tsx loadtest/sim/bench.ts --seeds 2 --traces step,spike --out /tmp/B
//   npx tsx loadtest/sim/compare-bench.ts /tmp/A/results.json /tmp/B/results.json
import { readFileSync } from 'node:fs';
import { runScript } from './cli.js';
import { objectiveVerdict, type TraceFrontier } from './bench.js';
import { compareFamilies, dominatedBy, type FrontierPoint } from './frontier.js';
import { pairedDifference, signedText, type DifferenceInterval } from './paired.js';

/** One run of results.json, reduced to what the comparison reads. */
export interface BenchRun {
  trace: string;
  /** The setting's label: `jetscale`, `jetscale@30`, `keda-tuned@1000`, `oracle`… */
  policy: string;
  seed: number;
  p99WaitSeconds: number;
  replicaSeconds: number;
  podStarts: number;
  podStartsAfterScaleDown: number;
}

/** What the comparison reads of a bench's results.json. */
export interface BenchResults {
  command: string;
  runs: BenchRun[];
  frontiers: TraceFrontier[];
}

const KEDA_FAMILIES = ['keda', 'keda-tuned'] as const;
/** The default jetscale setting's label (no latency objective). */
const DEFAULT_SETTING = 'jetscale';

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Reads a bench's results.json (already parsed); `where` names the file in errors, which say what
 * is missing. The default jetscale point's knob is NaN in the bench and `null` once written as JSON.
 */
export function parseBenchResults(json: unknown, where: string): BenchResults {
  const fail = (what: string): never => {
    throw new Error(`${where}: ${what}; pass the results.json that bench.ts --out DIR wrote`);
  };
  if (!isRecord(json)) return fail('not a JSON object');
  if (!Array.isArray(json.runs) || json.runs.length === 0) return fail('no "runs" array');
  if (!Array.isArray(json.frontiers)) return fail('no "frontiers" array');
  const numbers = ['seed', 'p99WaitSeconds', 'replicaSeconds', 'podStarts', 'podStartsAfterScaleDown'];
  const runs = json.runs.map((r: unknown, i): BenchRun => {
    if (!isRecord(r) || typeof r.trace !== 'string' || typeof r.policy !== 'string')
      return fail(`runs[${i}] has no trace or policy`);
    const bad = numbers.find((k) => typeof r[k] !== 'number' || !Number.isFinite(r[k]));
    if (bad !== undefined) return fail(`runs[${i}] (${r.trace} ${r.policy}) has no number ${bad}`);
    return {
      trace: r.trace,
      policy: r.policy,
      seed: r.seed as number,
      p99WaitSeconds: r.p99WaitSeconds as number,
      replicaSeconds: r.replicaSeconds as number,
      podStarts: r.podStarts as number,
      podStartsAfterScaleDown: r.podStartsAfterScaleDown as number,
    };
  });
  const frontiers = json.frontiers.map((f: unknown, i): TraceFrontier => {
    if (!isRecord(f) || typeof f.trace !== 'string' || !Array.isArray(f.points))
      return fail(`frontiers[${i}] has no trace or points`);
    const points = f.points.map((p: unknown, j): FrontierPoint => {
      if (
        !isRecord(p) ||
        typeof p.family !== 'string' ||
        typeof p.p99WaitSeconds !== 'number' ||
        typeof p.replicaSeconds !== 'number'
      )
        return fail(
          `frontiers[${i}] (${String(f.trace)}) points[${j}] has no family, p99 or replica-seconds`,
        );
      return { ...(p as unknown as FrontierPoint), knob: typeof p.knob === 'number' ? p.knob : NaN };
    });
    return { trace: f.trace, physicalMinimum: Number(f.physicalMinimum), points };
  });
  return { command: typeof json.command === 'string' ? json.command : '', runs, frontiers };
}

export function readBenchResults(path: string): BenchResults {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`${path}: cannot read it (${error instanceof Error ? error.message : String(error)})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`${path}: not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  return parseBenchResults(json, path);
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return NaN;
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? NaN)
    : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}

/** A value before and after. */
export type Pair = [before: number, after: number];

export interface FrontierState {
  /** Per KEDA family: its points jetscale's frontier dominates, and how many it has. */
  dominated: Record<string, { count: number; of: number; undominated: string[] }>;
  /** The KEDA point that dominates default jetscale (`keda-tuned@20`), or undefined. */
  defaultDominatedBy: string | undefined;
  /** objectiveVerdict's line: MET or MISSED, and the nearest objective. */
  objectivesHeld: string | undefined;
  /** Default jetscale's median p99 and replica-seconds ÷ the oracle's; NaN without an oracle. */
  oracleRatio: { p99: number; replicaSeconds: number };
}

export interface TraceComparison {
  trace: string;
  seeds: number[];
  /** Default jetscale: medians over seeds, before and after. */
  defaults: {
    p99: Pair;
    replicaSeconds: Pair;
    podStarts: Pair;
    podStartsAfterScaleDown: Pair;
    /** Paired per seed, after − before: p99 in seconds, replica-seconds relative to before. */
    p99Difference: DifferenceInterval;
    replicaSecondsDifference: DifferenceInterval;
  };
  /** Every jetscale setting (default and each latencyObjective) over every seed. */
  sweep: {
    runs: number;
    changed: number;
    replicaSeconds: Pair;
    podStarts: Pair;
    /** The run whose p99 rose most (undefined when none rose). */
    largestP99Rise: { setting: string; seed: number; p99: Pair } | undefined;
  };
  frontier: [before: FrontierState, after: FrontierState];
  /**
   * jetscale's frontier after against itself before, on the same rule as the KEDA points (paired
   * per seed), among the settings no other setting of the same run dominates: those before that a
   * setting after dominates, and those after that a setting before dominates. A change that moves the frontier the right way has the first and
   * not the second.
   */
  jetscaleFrontier: { improved: string[]; regressed: string[] };
}

function frontierState(frontier: TraceFrontier, runs: BenchRun[]): FrontierState {
  const family = (name: string): FrontierPoint[] => frontier.points.filter((p) => p.family === name);
  const jetscale = family('jetscale');
  const dominated: FrontierState['dominated'] = {};
  for (const name of KEDA_FAMILIES) {
    const baseline = family(name);
    if (baseline.length === 0 || jetscale.length === 0) continue;
    const v = compareFamilies(jetscale, baseline);
    dominated[name] = {
      count: baseline.length - v.undominated.length,
      of: baseline.length,
      undominated: v.undominated.map((p) => `${name}@${p.knob}`),
    };
  }
  const jet = jetscale.find((p) => Number.isNaN(p.knob));
  const by =
    jet === undefined
      ? undefined
      : dominatedBy(
          jet,
          frontier.points.filter((p) => (KEDA_FAMILIES as readonly string[]).includes(p.family)),
        );
  const medianOf = (policy: string, pick: (r: BenchRun) => number): number =>
    median(runs.filter((r) => r.trace === frontier.trace && r.policy === policy).map(pick));
  return {
    dominated,
    defaultDominatedBy: by === undefined ? undefined : `${by.family}@${by.knob}`,
    objectivesHeld: objectiveVerdict(frontier),
    oracleRatio: {
      p99: medianOf(DEFAULT_SETTING, (r) => r.p99WaitSeconds) / medianOf('oracle', (r) => r.p99WaitSeconds),
      replicaSeconds:
        medianOf(DEFAULT_SETTING, (r) => r.replicaSeconds) / medianOf('oracle', (r) => r.replicaSeconds),
    },
  };
}

const knobText = (knob: number): string => (Number.isNaN(knob) ? 'default' : `@${knob}`);

const isJetscaleSetting = (policy: string): boolean =>
  policy === DEFAULT_SETTING || policy.startsWith(`${DEFAULT_SETTING}@`);

/**
 * Pairs the two runs by trace, setting and seed, per trace that both ran. Throws when a trace's
 * seeds differ between them, or default jetscale did not run: runs of different seeds see
 * different arrivals, and comparing them would say nothing about the change.
 */
export function compareBenchResults(before: BenchResults, after: BenchResults): TraceComparison[] {
  const traces = before.frontiers
    .map((f) => f.trace)
    .filter((t) => after.frontiers.some((f) => f.trace === t));
  if (traces.length === 0)
    throw new Error(
      `the two results share no trace (before: ${before.frontiers.map((f) => f.trace).join(', ')}; after: ${after.frontiers.map((f) => f.trace).join(', ')})`,
    );
  return traces.map((trace): TraceComparison => {
    const key = (r: BenchRun): string => `${r.policy}\u0000${r.seed}`;
    const afterRuns = new Map(after.runs.filter((r) => r.trace === trace).map((r) => [key(r), r]));
    const beforeRuns = before.runs.filter((r) => r.trace === trace);
    const seedsOf = (runs: Iterable<BenchRun>): number[] =>
      [...new Set([...runs].filter((r) => r.policy === DEFAULT_SETTING).map((r) => r.seed))].sort(
        (x, y) => x - y,
      );
    const seeds = seedsOf(beforeRuns);
    const afterSeeds = seedsOf(afterRuns.values());
    if (seeds.length === 0 || seeds.join(',') !== afterSeeds.join(','))
      throw new Error(
        `${trace}: default jetscale ran seeds [${seeds.join(',')}] before and [${afterSeeds.join(',')}] after; rerun both with the same --seeds and --policies (jetscale at least)`,
      );
    const pairs = beforeRuns.flatMap((b) => {
      const a = afterRuns.get(key(b));
      return a === undefined ? [] : [[b, a] as const];
    });
    const defaults = pairs.filter(([b]) => b.policy === DEFAULT_SETTING).sort(([x], [y]) => x.seed - y.seed);
    const pair = (list: typeof pairs, pick: (r: BenchRun) => number): Pair => [
      median(list.map(([b]) => pick(b))),
      median(list.map(([, a]) => pick(a))),
    ];
    const sum = (list: typeof pairs, pick: (r: BenchRun) => number): Pair => [
      list.reduce((s, [b]) => s + pick(b), 0),
      list.reduce((s, [, a]) => s + pick(a), 0),
    ];
    const d = pairedDifference(
      {
        p99WaitSeconds: defaults.map(([, a]) => a.p99WaitSeconds),
        replicaSeconds: defaults.map(([, a]) => a.replicaSeconds),
      },
      {
        p99WaitSeconds: defaults.map(([b]) => b.p99WaitSeconds),
        replicaSeconds: defaults.map(([b]) => b.replicaSeconds),
      },
    );
    const sweep = pairs.filter(([b]) => isJetscaleSetting(b.policy));
    let largestP99Rise: TraceComparison['sweep']['largestP99Rise'];
    for (const [b, a] of sweep) {
      const rise = a.p99WaitSeconds - b.p99WaitSeconds;
      if (rise > 0 && (largestP99Rise === undefined || rise > largestP99Rise.p99[1] - largestP99Rise.p99[0]))
        largestP99Rise = { setting: b.policy, seed: b.seed, p99: [b.p99WaitSeconds, a.p99WaitSeconds] };
    }
    const frontierOf = (results: BenchResults): TraceFrontier => {
      const found = results.frontiers.find((f) => f.trace === trace);
      if (found === undefined) throw new Error(`${trace}: no frontier`);
      return found;
    };
    const jetscaleOf = (results: BenchResults): FrontierPoint[] =>
      frontierOf(results).points.filter((p) => p.family === 'jetscale');
    // Only the settings on each side's own frontier: the sweep holds settings another setting of
    // the same run dominates (@0.15 by @0.2), and those say nothing about the frontier.
    const efficient = (points: FrontierPoint[]): FrontierPoint[] =>
      points.filter(
        (p) =>
          dominatedBy(
            p,
            points.filter((q) => q !== p),
          ) === undefined,
      );
    const [oldPoints, newPoints] = [efficient(jetscaleOf(before)), efficient(jetscaleOf(after))];
    const label = (p: FrontierPoint, by: FrontierPoint): string =>
      `${knobText(p.knob)} by ${knobText(by.knob)}`;
    const dominatedAcross = (points: FrontierPoint[], by: FrontierPoint[]): string[] =>
      points.flatMap((p) => {
        const q = dominatedBy(p, by);
        return q === undefined ? [] : [label(p, q)];
      });
    return {
      trace,
      seeds,
      jetscaleFrontier: {
        improved: dominatedAcross(oldPoints, newPoints),
        regressed: dominatedAcross(newPoints, oldPoints),
      },
      defaults: {
        p99: pair(defaults, (r) => r.p99WaitSeconds),
        replicaSeconds: pair(defaults, (r) => r.replicaSeconds),
        podStarts: pair(defaults, (r) => r.podStarts),
        podStartsAfterScaleDown: pair(defaults, (r) => r.podStartsAfterScaleDown),
        p99Difference: d.p99Seconds,
        replicaSecondsDifference: d.replicaSecondsRelative,
      },
      sweep: {
        runs: sweep.length,
        changed: sweep.filter(
          ([b, a]) =>
            b.p99WaitSeconds !== a.p99WaitSeconds ||
            b.replicaSeconds !== a.replicaSeconds ||
            b.podStarts !== a.podStarts,
        ).length,
        replicaSeconds: sum(sweep, (r) => r.replicaSeconds),
        podStarts: sum(sweep, (r) => r.podStarts),
        largestP99Rise,
      },
      frontier: [
        frontierState(frontierOf(before), before.runs),
        frontierState(frontierOf(after), after.runs),
      ],
    };
  });
}

/**
 * Whether the frontier is as good after as before on every trace: no fewer KEDA points dominated
 * in each family, default jetscale dominated by no KEDA point where it was not, and the objectives
 * still held where they were. Lists what got worse; empty when nothing did.
 */
export function frontierRegressions(rows: TraceComparison[]): string[] {
  const worse: string[] = [];
  for (const r of rows) {
    const [b, a] = r.frontier;
    for (const [family, was] of Object.entries(b.dominated)) {
      const now = a.dominated[family];
      if (now !== undefined && now.count < was.count)
        worse.push(`${r.trace}: ${family} points dominated ${was.count}/${was.of} → ${now.count}/${now.of}`);
    }
    if (b.defaultDominatedBy === undefined && a.defaultDominatedBy !== undefined)
      worse.push(`${r.trace}: default jetscale now dominated by ${a.defaultDominatedBy}`);
    if (b.objectivesHeld?.startsWith('MET') === true && a.objectivesHeld?.startsWith('MISSED') === true)
      worse.push(`${r.trace}: ${a.objectivesHeld}`);
    if (r.jetscaleFrontier.regressed.length > 0)
      worse.push(
        `${r.trace}: jetscale settings after dominated by one before: ${r.jetscaleFrontier.regressed.join(', ')}`,
      );
  }
  return worse;
}

function percent(p: Pair): string {
  return `${signedText((100 * (p[1] - p[0])) / p[0], 1)} %`;
}

function interval(d: DifferenceInterval, scale: number, digits: number, unit: string): string {
  const s = (x: number): string => signedText(x * scale, digits);
  // Fewer than 6 seeds have no 95 % interval: the range of the per-seed averages, marked as such.
  return `${s(d.estimate)}${unit} [${s(d.low)}, ${s(d.high)}]${d.n < 6 ? ` (range of ${d.n} seeds, no 95 % interval)` : ''}`;
}

function dominatedText(state: FrontierState): string {
  if (Object.keys(state.dominated).length === 0) return 'no KEDA run';
  return Object.entries(state.dominated)
    .map(
      ([family, d]) =>
        `${family} ${d.count}/${d.of}${d.undominated.length > 0 ? ` (not ${d.undominated.join(', ')})` : ''}`,
    )
    .join('; ');
}

/** Markdown: a table per axis, then the frontier per trace, then what got worse. */
export function formatBenchComparison(rows: TraceComparison[]): string {
  const f2 = (x: number): string => x.toFixed(2);
  const int = (x: number): string => Math.round(x).toLocaleString('en-US');
  const lines = [
    'Default jetscale, medians over seeds, before → after (paired after − before: the Hodges–Lehmann estimate [95 % signed-rank interval]):',
    '',
    '| trace | seeds | p99 (s) | p99 after − before (s) | replica-s | replica-s after − before | pod starts | started ≤ 60 s after a scale-down |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of rows) {
    const d = r.defaults;
    lines.push(
      `| ${r.trace} | ${r.seeds.length} | ${f2(d.p99[0])} → ${f2(d.p99[1])} | ${interval(d.p99Difference, 1, 2, '')} | ${int(d.replicaSeconds[0])} → ${int(d.replicaSeconds[1])} | ${interval(d.replicaSecondsDifference, 100, 1, ' %')} | ${d.podStarts[0]} → ${d.podStarts[1]} | ${d.podStartsAfterScaleDown[0]} → ${d.podStartsAfterScaleDown[1]} |`,
    );
  }
  lines.push(
    '',
    "jetscale's whole sweep (the default and every latencyObjective, every seed), summed, before → after:",
    '',
    '| trace | runs changed | replica-s | pod starts | largest p99 rise |',
    '| --- | --- | --- | --- | --- |',
  );
  for (const r of rows) {
    const s = r.sweep;
    const rise = s.largestP99Rise;
    lines.push(
      `| ${r.trace} | ${s.changed}/${s.runs} | ${int(s.replicaSeconds[0])} → ${int(s.replicaSeconds[1])} (${percent(s.replicaSeconds)}) | ${int(s.podStarts[0])} → ${int(s.podStarts[1])} (${percent(s.podStarts)}) | ${rise === undefined ? 'none' : `${rise.setting} seed ${rise.seed}: ${f2(rise.p99[0])} → ${f2(rise.p99[1])} s`} |`,
    );
  }
  lines.push(
    '',
    "Frontier, before → after (KEDA points dominated by jetscale; the KEDA point dominating default jetscale; default jetscale ÷ the oracle; jetscale's settings on its own frontier before and after against each other, on the same paired rule):",
    '',
    '| trace | KEDA points dominated | default dominated by | p99 ÷ oracle | replica-s ÷ oracle | objectives ≥ 30 s held | jetscale before dominated by after | after dominated by before |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const r of rows) {
    const [b, a] = r.frontier;
    const ratio = (x: number): string => `${x.toFixed(2)}x`;
    const held = (s: FrontierState): string => s.objectivesHeld?.split(':')[0]?.split(' ')[0] ?? '—';
    lines.push(
      `| ${r.trace} | ${dominatedText(b)} → ${dominatedText(a)} | ${b.defaultDominatedBy ?? 'none'} → ${a.defaultDominatedBy ?? 'none'} | ${ratio(b.oracleRatio.p99)} → ${ratio(a.oracleRatio.p99)} | ${ratio(b.oracleRatio.replicaSeconds)} → ${ratio(a.oracleRatio.replicaSeconds)} | ${held(b)} → ${held(a)} | ${r.jetscaleFrontier.improved.join(', ') || 'none'} | ${r.jetscaleFrontier.regressed.join(', ') || 'none'} |`,
    );
  }
  const worse = frontierRegressions(rows);
  lines.push(
    '',
    worse.length === 0
      ? 'Frontier: no trace lost a dominated KEDA point, default jetscale is dominated nowhere it was not, every objective held where it held.'
      : `Frontier worse: ${worse.join('; ')}`,
  );
  return lines.join('\n');
}

const usage = `usage: compare-bench.ts BEFORE/results.json AFTER/results.json
  Two results.json of bench.ts (--out DIR) run with the same --seeds, --traces and --policies
  (jetscale at least; keda,keda-tuned for the dominated points, oracle for the ratios), the first
  on the code before the change, the second after it.`;

function main(argv: string[]): void {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(usage);
    return;
  }
  const [beforePath, afterPath, ...rest] = argv;
  if (beforePath === undefined || afterPath === undefined || rest.length > 0)
    throw new Error(`need exactly two results.json files\n${usage}`);
  const before = readBenchResults(beforePath);
  const after = readBenchResults(afterPath);
  console.log(`before: ${beforePath} (${before.command})\nafter:  ${afterPath} (${after.command})\n`);
  console.log(formatBenchComparison(compareBenchResults(before, after)));
}

runScript(import.meta.url, main);
