// The scaling benchmark: every trace × policy setting × seed through the simulator, medians over
// seeds, a table of each contender at its defaults, the frontier of p99 wait against
// replica-seconds for each policy family (its one knob swept), the targets checked, and JSON + a
// self-contained HTML report in reports/bench-scaling/. Run after `npm run build`:
//   node dist/loadtest/sim/bench.js [--seeds 5] [--out reports/bench-scaling] [--recorded file.json]

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultScalingSpec } from '../../operator/src/scaling/defaults.js';
import type { FrontierPoint } from './frontier.js';
import {
  bestAtOrAboveCost,
  cheapestMeeting,
  compareFamilies,
  dominatedBy,
  dominatesOnMedians,
  medianSpread,
  tied,
} from './frontier.js';
import { pairedDifference } from './paired.js';
import type { FrontierSeries, MetricSummary, RatioColumn, TraceSummary } from './report.js';
import { alignRows, frontierChart, frontierSheet, ratio, renderHtml, renderTable } from './report.js';
import type { PolicyName, Setting } from './scenarios.js';
import {
  KEDA_DEFAULT_LAG_THRESHOLD,
  allPolicyNames,
  builtInTraces,
  frontierKnobs,
  runScenario,
  settingLabel,
  shared,
  tableSettings,
} from './scenarios.js';
import type { RunResult, WorkloadModel } from './simulator.js';
import { DEFAULT_CONSUMES_BEFORE_READY_SECONDS, defaultWorkload } from './simulator.js';
import type { Trace } from './traces.js';
import { loadRecordedTrace } from './traces.js';
import { invokedDirectly } from './cli.js';

interface BenchOptions {
  seeds: number;
  outDir: string;
  recordedPath: string | undefined;
  /** Only these traces (--traces step,recurring); all when undefined. */
  traces: string[] | undefined;
  /** Only these policy families (--policies jetscale,keda-tuned); all when undefined. */
  policies: PolicyName[] | undefined;
  /** The simulated pods: defaultWorkload, or with --consumes-before-ready / --warmup. */
  workload: WorkloadModel;
}

/**
 * Seeds of a default run (make bench-scaling). With the spread counted as a tie (frontier.ts
 * dominates), 7 and 14 seeds gave the same verdicts on 62 of the 64 keda-tuned points (step
 * keda-tuned@500 and bursty keda-tuned@1000, cheap-end near-ties, flipped); on the medians alone
 * 4 flipped. See loadtest/sim/README.md.
 */
export const DEFAULT_SEEDS = 14;

const usage = `usage: bench.js [--seeds N] [--out DIR] [--recorded FILE] [--traces a,b] [--policies a,b]
                [--consumes-before-ready S] [--warmup S@SHARE] [--prefetch N] [--in-flight N]
  --seeds N        seeds 1..N (default 14); results are medians over them, ± their spread
  --out DIR        where results.json, index.html and frontiers.svg go (default reports/bench-scaling)
  --recorded FILE  the recorded trace (default loadtest/sim/traces/recorded-sample.json)
  --traces a,b     only these traces (step, spike, ramp, diurnal, bursty, recurring, recorded, demo)
  --policies a,b   only these policy families (${allPolicyNames.join(', ')}),
                   for cheap iteration: verdicts then cover only what ran, and the spike-by-start-up
                   section runs only when every policy does
  --consumes-before-ready S   new pods consume S seconds before they are counted ready
                              (default ${DEFAULT_CONSUMES_BEFORE_READY_SECONDS}: the sample consumer's 2 s readiness probe)
  --warmup S@SHARE            new pods serve at SHARE (0–1] of their speed for their first S seconds
                              of consuming, e.g. 20@0.5 (default none)
  --prefetch N                each pod's client buffers N messages beyond what its handlers work
                              on (nats.go Consume() 500, nats.js consume() 100; default 0)
  --in-flight N               messages each pod's handlers work on at once, at the same
                              ${defaultWorkload.serviceRatePerReplica}/s a pod: each takes N / ${defaultWorkload.serviceRatePerReplica} s (default ${defaultWorkload.inFlightPerReplica}: 0.4 s);
                              async handlers of seconds each, e.g. 100 (4 s)`;

function listArg(value: string | undefined, flag: string, allowed?: readonly string[]): string[] | undefined {
  if (value === undefined) return undefined;
  const items = value
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
  if (items.length === 0) throw new Error(`${flag} needs a comma-separated list\n${usage}`);
  const unknown = allowed === undefined ? [] : items.filter((v) => !allowed.includes(v));
  if (unknown.length > 0)
    throw new Error(`${flag}: unknown ${unknown.join(', ')}; one of ${allowed?.join(', ')}\n${usage}`);
  return items;
}

function parseArgs(argv: string[]): BenchOptions {
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(usage);
    process.exit(0);
  }
  const seeds = Number(value('--seeds') ?? String(DEFAULT_SEEDS));
  if (!Number.isInteger(seeds) || seeds < 1) throw new Error(`--seeds must be a whole number ≥ 1\n${usage}`);
  return {
    workload: parseWorkload(
      value('--consumes-before-ready'),
      value('--warmup'),
      value('--prefetch'),
      value('--in-flight'),
    ),
    seeds,
    outDir: value('--out') ?? 'reports/bench-scaling',
    recordedPath: value('--recorded'),
    traces: listArg(value('--traces'), '--traces'),
    policies: listArg(value('--policies'), '--policies', allPolicyNames) as PolicyName[] | undefined,
  };
}

/** The simulated pods with the realism flags applied; errors say what to pass. */
export function parseWorkload(
  consumesBeforeReady: string | undefined,
  warmup: string | undefined,
  prefetch?: string,
  inFlight?: string,
): WorkloadModel {
  const workload: WorkloadModel = { ...defaultWorkload };
  if (consumesBeforeReady !== undefined) {
    const seconds = Number(consumesBeforeReady);
    if (!(Number.isFinite(seconds) && seconds >= 0 && seconds <= defaultWorkload.startupSeconds.min))
      throw new Error(
        `--consumes-before-ready must be seconds from 0 to the shortest start-up (${defaultWorkload.startupSeconds.min}), got '${consumesBeforeReady}'\n${usage}`,
      );
    workload.consumesBeforeReadySeconds = seconds;
  }
  if (warmup !== undefined) {
    const match = /^([0-9.]+)@([0-9.]+)$/.exec(warmup);
    const seconds = Number(match?.[1]);
    const speedShare = Number(match?.[2]);
    if (!(match && Number.isFinite(seconds) && seconds >= 0 && speedShare > 0 && speedShare <= 1))
      throw new Error(
        `--warmup must be SECONDS@SHARE with SECONDS ≥ 0 and SHARE in (0, 1], e.g. 20@0.5, got '${warmup}'\n${usage}`,
      );
    workload.warmup = { seconds, speedShare };
  }
  if (prefetch !== undefined) {
    const messages = Number(prefetch);
    if (!(Number.isSafeInteger(messages) && messages >= 0 && messages <= 100_000))
      throw new Error(
        `--prefetch must be a whole number of messages from 0 to 100000, got '${prefetch}'\n${usage}`,
      );
    workload.prefetchPerReplica = messages;
  }
  if (inFlight !== undefined) {
    const messages = Number(inFlight);
    if (!(Number.isSafeInteger(messages) && messages >= 1 && messages <= 10_000))
      throw new Error(
        `--in-flight must be a whole number of messages from 1 to 10000, got '${inFlight}'\n${usage}`,
      );
    workload.inFlightPerReplica = messages;
  }
  return workload;
}

/** Finds a file of loadtest/sim/traces whether running from the source tree, from dist/, or from the repo root. */
export function findTraceFile(file: string): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [
    resolve('loadtest/sim/traces', file),
    join(here, 'traces', file),
    join(here, '../../../loadtest/sim/traces', file),
  ];
  return candidates.find((p) => existsSync(p));
}

/**
 * The failover run of `make demo` captured by the harness (capture-trace.ts; how, in the README):
 * the trace named `demo`.
 */
export const DEMO_TRACE_FILE = 'demo-failover.json';

/** The bench's traces: the built-in ones of a seed, then the recorded trace and the demo's, each when its file is found. */
export interface BenchTraces {
  /** Every trace of one seed, in the bench's order. */
  forSeed(seed: number): Trace[];
  /** Why a trace is left out (its file was not found), one line each. */
  notes: string[];
  /** The files read, for the results' record. */
  recordedPath: string | undefined;
  demoPath: string | undefined;
}

/**
 * The options every paired comparison tool takes: `--seeds N` (≥ 6, so that the paired intervals
 * mean something; default DEFAULT_SEEDS) and `--traces a,b` (undefined: every trace).
 */
export function pairedRunOptions(
  value: (flag: string) => string | undefined,
  usage: string,
): { seeds: number; only: string[] | undefined } {
  const seeds = Number(value('--seeds') ?? DEFAULT_SEEDS);
  if (!Number.isInteger(seeds) || seeds < 6)
    throw new Error(`--seeds must be a whole number ≥ 6 (paired intervals)\n${usage}`);
  const only = value('--traces')
    ?.split(',')
    .map((t) => t.trim());
  return { seeds, only };
}

/** Loads the recorded trace (`recordedPath`, by default the committed sample) and the demo's once, for every seed. */
export function benchTraces(recordedPath = findTraceFile('recorded-sample.json')): BenchTraces {
  const recorded = recordedPath === undefined ? undefined : loadRecordedTrace(recordedPath);
  const demoPath = findTraceFile(DEMO_TRACE_FILE);
  const demo = demoPath === undefined ? undefined : loadRecordedTrace(demoPath, 'demo');
  const notes = [
    ...(recorded === undefined ? ['no recorded trace found (pass --recorded <file.json>); skipping it'] : []),
    ...(demo === undefined ? [`${DEMO_TRACE_FILE} not found; skipping the demo trace`] : []),
  ];
  return {
    forSeed: (seed) => [...builtInTraces(seed), ...(recorded ? [recorded] : []), ...(demo ? [demo] : [])],
    notes,
    recordedPath,
    demoPath,
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return NaN;
  return sorted.length % 2 === 1 ? (sorted[mid] ?? NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

function summarize(runs: RunResult[]): MetricSummary {
  const m = (f: (r: RunResult) => number): number => median(runs.map(f));
  return {
    p50WaitSeconds: m((r) => r.p50WaitSeconds),
    p99WaitSeconds: m((r) => r.p99WaitSeconds),
    p99AfterWarmupSeconds: m((r) => r.p99AfterWarmupSeconds),
    maxWaitSeconds: m((r) => r.maxWaitSeconds),
    peakBacklog: m((r) => r.peakBacklog),
    replicaSeconds: m((r) => r.replicaSeconds),
    scaleEvents: m((r) => r.scaleEvents),
    podStarts: m((r) => r.podStarts),
    podStartsAfterScaleDown: m((r) => r.podStartsAfterScaleDown),
    secondsOverObjective: m((r) => r.secondsOverObjective),
    consumerReadsPerMinute: m((r) => r.consumerReadsPerMinute),
    apiRequestsPerMinute: m((r) => r.apiRequestsPerMinute),
  };
}

/** p99 differences below one simulator tick are below what the simulator can resolve. */
const P99_RESOLUTION_SECONDS = 0.25;

/** `a` is no worse than `b` beyond `slack` (a share of b), or within one simulator tick of it. */
export function p99NotWorse(a: number, b: number, slack: number): boolean {
  return a <= b * (1 + slack) || a - b < P99_RESOLUTION_SECONDS;
}

/** Every setting the bench runs on every trace: the table's and each family's sweep. */
export function benchSettings(): Setting[] {
  const settings = new Map<string, Setting>();
  for (const setting of tableSettings) {
    const resolved = resolveSetting(setting);
    settings.set(settingLabel(resolved), resolved);
  }
  for (const [policy, knobs] of Object.entries(frontierKnobs) as Array<[PolicyName, number[]]>) {
    for (const knob of knobs) settings.set(settingLabel({ policy, knob }), { policy, knob });
  }
  for (const policy of defaultPointFamilies) settings.set(policy, { policy });
  return [...settings.values()];
}

/** A setting with its knob filled in where the policy has one, so defaults and sweeps share runs. */
export function resolveSetting(setting: Setting): Setting {
  if (setting.knob !== undefined) return setting;
  switch (setting.policy) {
    case 'keda':
    case 'keda-tuned':
    case 'keda-behavior-defaults':
      return { ...setting, knob: KEDA_DEFAULT_LAG_THRESHOLD };
    case 'clairvoyant-cost':
      return { ...setting, knob: 0 };
    default:
      return setting;
  }
}

/** Families whose default is not one of the swept knob values (jetscale: no latency objective). */
const defaultPointFamilies: PolicyName[] = ['jetscale'];
/** The knob of a default point in a frontier (shown as "default"). */
export const DEFAULT_KNOB = Number.NaN;
const knobText = (knob: number): string => (Number.isNaN(knob) ? 'default' : String(knob));

/** The contender families compared on the frontier; `clairvoyant-cost` is the reference. */
export const contenderFamilies: PolicyName[] = ['keda', 'keda-tuned', 'jetscale'];
export const kedaFamilies: PolicyName[] = ['keda', 'keda-tuned'];
export const familyColors: Record<string, string> = {
  keda: '#c0392b',
  'keda-tuned': '#e67e22',
  jetscale: '#2471a3',
  'jetscale-predictive': '#27ae60',
  'clairvoyant-cost': '#7d3c98',
};

export interface TraceFrontier {
  trace: string;
  /** Median over seeds of messages ÷ per-replica service rate: no policy can cost less. */
  physicalMinimum: number;
  points: FrontierPoint[];
}

export function familyPoints(frontier: TraceFrontier, family: string): FrontierPoint[] {
  return frontier.points.filter((p) => p.family === family);
}

/**
 * One frontier chart per trace (report.ts frontierChart): every family's points in knob order,
 * hollow where a point of another contender family dominates it. The bench's report and
 * render-claims.ts (docs/frontiers.svg, from the committed docs/frontiers.json) draw the same.
 */
export function frontierCharts(frontiers: TraceFrontier[]): string[] {
  return frontiers.map((f) => {
    const series: FrontierSeries[] = Object.keys(frontierKnobs).map((family) => ({
      family,
      color: familyColors[family] ?? '#333',
      points: familyPoints(f, family).map((p) => ({
        ...p,
        dominated:
          family !== 'clairvoyant-cost' &&
          dominatedBy(
            p,
            f.points.filter((q) => q.family !== family && contenderFamilies.includes(q.family as PolicyName)),
          ) !== undefined,
      })),
    }));
    return frontierChart(f.trace, series, f.physicalMinimum);
  });
}

/** The frontier table: every point of every family, with how far it is from the references. */
export function renderFrontierTable(frontiers: TraceFrontier[]): string {
  const header = [
    'trace',
    'family',
    'knob',
    'p99 (s)',
    'replica-s',
    '× minimum',
    '× planner',
    'dominated by',
    'medians rule',
  ];
  const rows: string[][] = [header];
  for (const f of frontiers) {
    const planner = familyPoints(f, 'clairvoyant-cost');
    for (const p of f.points) {
      const others = f.points.filter(
        (q) => q.family !== p.family && contenderFamilies.includes(q.family as PolicyName),
      );
      const by = p.family === 'clairvoyant-cost' ? undefined : dominatedBy(p, others);
      const byMedians =
        p.family === 'clairvoyant-cost' ? undefined : dominatedBy(p, others, dominatesOnMedians);
      const cheapest = cheapestMeeting(planner, p.p99WaitSeconds);
      rows.push([
        f.trace,
        p.family,
        knobText(p.knob),
        `${p.p99WaitSeconds.toFixed(2)} ± ${(p.p99Spread ?? 0).toFixed(2)}`,
        `${Math.round(p.replicaSeconds).toLocaleString('en-US')} ± ${Math.round(p.replicaSecondsSpread ?? 0).toLocaleString('en-US')}`,
        `${ratio(p.replicaSeconds, f.physicalMinimum)}x`,
        cheapest === undefined ? '—' : `${ratio(p.replicaSeconds, cheapest.replicaSeconds)}x`,
        by === undefined ? '' : `${by.family}@${knobText(by.knob)}`,
        // The medians' rule only where its verdict differs from the paired one.
        (by === undefined) === (byMedians === undefined)
          ? ''
          : byMedians === undefined
            ? 'not dominated'
            : `${byMedians.family}@${knobText(byMedians.knob)}`,
      ]);
    }
  }
  return alignRows(rows);
}

/**
 * For each trace, jetscale's default against each KEDA family: the best KEDA setting at equal or
 * higher cost (lowest p99 among those costing at least as much) and the best at equal or lower
 * p99 (cheapest among those waiting no longer).
 */
export function renderClaims(frontiers: TraceFrontier[]): string[] {
  const lines: string[] = [];
  for (const f of frontiers) {
    const jet = familyPoints(f, 'jetscale').find((p) => Number.isNaN(p.knob));
    if (jet === undefined) continue;
    for (const family of kedaFamilies) {
      const points = familyPoints(f, family);
      const atCost = bestAtOrAboveCost(points, jet.replicaSeconds);
      const atP99 = cheapestMeeting(points, jet.p99WaitSeconds);
      const costText =
        atCost === undefined
          ? `no ${family} setting costs as much`
          : `best ${family} at ≥ its cost is @${atCost.knob}: p99 ${atCost.p99WaitSeconds.toFixed(2)} s at ${ratio(atCost.replicaSeconds, jet.replicaSeconds)}x the replica-s`;
      const p99Text =
        atP99 === undefined
          ? `no ${family} setting reaches its p99`
          : `cheapest ${family} at ≤ its p99 is @${atP99.knob}: ${ratio(atP99.replicaSeconds, jet.replicaSeconds)}x the replica-s (p99 ${atP99.p99WaitSeconds.toFixed(2)} s)`;
      lines.push(
        `${f.trace.padEnd(9)} jetscale (p99 ${jet.p99WaitSeconds.toFixed(2)} s, ${Math.round(jet.replicaSeconds).toLocaleString('en-US')} replica-s) vs ${family}: ${costText}; ${p99Text}`,
      );
    }
  }
  return lines;
}

/** The paired per-seed differences of `a` − `b` (paired.ts), as the bench prints them. */
function pairedText(a: FrontierPoint, b: FrontierPoint): string {
  if (a.perSeed === undefined || b.perSeed === undefined) return '';
  const d = pairedDifference(a.perSeed, b.perSeed);
  const pct = (v: number): string => `${v >= 0 ? '+' : ''}${(v * 100).toFixed(1)} %`;
  const sec = (v: number): string => `${v >= 0 ? '+' : ''}${v.toFixed(2)}`;
  return `paired over ${d.p99Seconds.n} seeds, jetscale@${knobText(a.knob)} − it: p99 ${sec(d.p99Seconds.estimate)} s [${sec(d.p99Seconds.low)}, ${sec(d.p99Seconds.high)}], replica-s ${pct(d.replicaSecondsRelative.estimate)} [${pct(d.replicaSecondsRelative.low)}, ${pct(d.replicaSecondsRelative.high)}]`;
}

/**
 * The shortest latency objective the bench holds jetscale to on every seed, as the policy fuzzer
 * does (operator/src/scaling/test/fuzz-invariants.ts WAIT_CHECKED_OBJECTIVE_SECONDS). A shorter
 * one than a pod start-up cannot be met through a rise by replicas that are not running yet: the
 * frontier shows what those reach, and they are not a promise.
 */
export const HELD_OBJECTIVE_SECONDS = 30;

/**
 * Whether each swept `spec.latencyObjective` of at least HELD_OBJECTIVE_SECONDS got what it asked
 * on every seed: p99 wait ≤ the objective. A constant that moves jetscale's frontier (cheaper at a
 * p99 nearer the objective) must not buy that by missing the objective a user set. One line per
 * trace; undefined when no such point ran.
 */
export function objectiveVerdict(frontier: TraceFrontier): string | undefined {
  const points = familyPoints(frontier, 'jetscale').filter(
    (p) => !Number.isNaN(p.knob) && p.knob >= HELD_OBJECTIVE_SECONDS,
  );
  if (points.length === 0) return undefined;
  const seedP99s = (p: FrontierPoint): number[] => p.perSeed?.p99WaitSeconds ?? [p.p99WaitSeconds];
  const broken = points.flatMap((p) => {
    const over = seedP99s(p).filter((w) => w > p.knob);
    return over.length === 0
      ? []
      : [`@${p.knob} (${over.length}/${seedP99s(p).length} seeds, up to ${Math.max(...over).toFixed(2)} s)`];
  });
  if (broken.length > 0)
    return `MISSED ${frontier.trace}: jetscale's p99 within the latencyObjective asked (≥ ${HELD_OBJECTIVE_SECONDS} s) on every seed — above it at ${broken.join(', ')}`;
  const closest = points
    .map((p) => ({ p, share: Math.max(...seedP99s(p)) / p.knob }))
    .reduce((a, b) => (b.share > a.share ? b : a));
  const runs = points.reduce((n, p) => n + seedP99s(p).length, 0);
  return `MET ${frontier.trace}: jetscale's p99 within the latencyObjective asked (≥ ${HELD_OBJECTIVE_SECONDS} s) on every seed (${points.length} objectives, ${runs} runs; the nearest: @${closest.p.knob}, up to ${(closest.share * closest.p.knob).toFixed(2)} s = ${closest.share.toFixed(2)}x)`;
}

/** The targets of issue 13; each line says met or missed and by how much. */
/**
 * Per trace with a warm-up, the whole-run p99 each policy would get had every message arriving
 * after the warm-up waited nothing (medians over seeds): see RunResult.p99PerfectAfterWarmupSeconds.
 */
export type LearnerFloors = Record<string, Record<string, number>>;

export function evaluateTargets(
  summaries: TraceSummary[],
  frontiers: TraceFrontier[],
  floors: LearnerFloors = {},
): string[] {
  const verdicts: string[] = [];
  for (const f of frontiers) {
    const jetscale = familyPoints(f, 'jetscale');
    const jet = jetscale.find((p) => Number.isNaN(p.knob));
    for (const family of kedaFamilies) {
      const baseline = familyPoints(f, family);
      const v = compareFamilies(jetscale, baseline);
      const onMedians = compareFamilies(jetscale, baseline, dominatesOnMedians);
      const medianText =
        onMedians.undominated.length === v.undominated.length &&
        onMedians.undominated.every((p) => v.undominated.includes(p))
          ? ''
          : `; on the medians' rule ${baseline.length - onMedians.undominated.length}/${baseline.length}${onMedians.undominated.length === 0 ? '' : `, not: ${onMedians.undominated.map((p) => `@${p.knob}`).join(', ')}`}`;
      const missing = v.undominated
        .map(
          (p) =>
            `@${p.knob} (p99 ${p.p99WaitSeconds.toFixed(2)} s, ${Math.round(p.replicaSeconds)} replica-s)`,
        )
        .join(', ');
      verdicts.push(
        `${v.undominated.length === 0 ? 'MET' : 'MISSED'} ${f.trace}: jetscale's frontier dominates ${family}'s (${baseline.length - v.undominated.length}/${baseline.length} ${family} settings dominated${missing === '' ? '' : `; not: ${missing}`}${medianText})`,
      );
      // By how much, and how much room there is: a KEDA point at 1.0x the physical minimum leaves
      // no policy more than that much cheaper at any p99.
      for (const p of v.undominated) {
        const nearest = cheapestMeeting(jetscale, p.p99WaitSeconds);
        const room = p.replicaSeconds / f.physicalMinimum;
        // The reference for "could anything be cheaper at this p99": the clairvoyant planner's
        // cheapest plan waiting no longer (it knows the whole trace; a rule, not a proven optimum).
        const plan = cheapestMeeting(familyPoints(f, 'clairvoyant-cost'), p.p99WaitSeconds);
        const planText =
          plan === undefined
            ? ''
            : `; the clairvoyant planner's cheapest plan at ≤ its p99 (@${plan.knob}: ${plan.p99WaitSeconds.toFixed(2)} s, ${Math.round(plan.replicaSeconds)} replica-s) costs ${ratio(plan.replicaSeconds, p.replicaSeconds)}x its replica-s`;
        const tie = jetscale.find((q) => tied(q, p));
        verdicts.push(
          `    ${family}@${p.knob}: ${nearest === undefined ? '' : `${pairedText(nearest, p)}; `}${tie === undefined ? 'no jetscale setting within the noise on both; ' : `a tie with jetscale@${knobText(tie.knob)} (${tie.p99WaitSeconds.toFixed(2)} s, ${Math.round(tie.replicaSeconds)} replica-s: the paired differences within the noise on both); `}${nearest === undefined ? `no jetscale setting reaches p99 ${p.p99WaitSeconds.toFixed(2)} s` : `the cheapest jetscale setting at ≤ its p99 is @${knobText(nearest.knob)} (${nearest.p99WaitSeconds.toFixed(2)} s) at ${ratio(nearest.replicaSeconds, p.replicaSeconds)}x its replica-s`}; it runs at ${room.toFixed(3)}x the physical minimum${room < 1 ? ', below it (pods faster than the mean rate, or messages left unserved)' : room < 1.1 ? `, so no policy can be more than ${((1 - 1 / room) * 100).toFixed(1)} % cheaper at any p99` : ''}${planText}`,
        );
      }
    }
    const held = objectiveVerdict(f);
    if (held !== undefined) verdicts.push(held);
    if (jet !== undefined) {
      const kedaPoints = f.points.filter((p) => kedaFamilies.includes(p.family as PolicyName));
      const by = dominatedBy(jet, kedaPoints);
      const byMedians = dominatedBy(jet, kedaPoints, dominatesOnMedians);
      const medianNote =
        (by === undefined) === (byMedians === undefined)
          ? ''
          : byMedians === undefined
            ? " (on the medians' rule: by none)"
            : ` (on the medians' rule: by ${byMedians.family}@${byMedians.knob})`;
      verdicts.push(
        `${by === undefined ? 'MET' : 'MISSED'} ${f.trace}: default jetscale (p99 ${jet.p99WaitSeconds.toFixed(2)} s, ${Math.round(jet.replicaSeconds)} replica-s) is dominated by no KEDA setting${by === undefined ? '' : ` — ${by.family}@${by.knob} has p99 ${by.p99WaitSeconds.toFixed(2)} s at ${Math.round(by.replicaSeconds)}`}${medianNote}`,
      );
    }
  }
  for (const s of summaries) {
    const jet = s.medians['jetscale'];
    const oracle = s.medians['oracle'];
    if (jet === undefined || oracle === undefined) continue;
    const p99 = jet.p99WaitSeconds / oracle.p99WaitSeconds;
    const rs = jet.replicaSeconds / oracle.replicaSeconds;
    const met = p99NotWorse(jet.p99WaitSeconds, oracle.p99WaitSeconds, 0.25) && rs <= 1.25;
    verdicts.push(
      `${met ? 'MET' : 'MISSED'} ${s.trace}: default jetscale within 1.25x of the oracle: p99 ${jet.p99WaitSeconds.toFixed(2)} vs ${oracle.p99WaitSeconds.toFixed(2)} s (${p99.toFixed(2)}x), replica-seconds ${rs.toFixed(2)}x`,
    );
    // The same against the oracle read only at jetscale's longest poll (5 s) with everyone's 1 s
    // staleness: what is left once the reading cadence is shared is the policy's own gap.
    const polled = s.medians['oracle-poll'];
    if (!met && polled !== undefined) {
      const pollMet =
        p99NotWorse(jet.p99WaitSeconds, polled.p99WaitSeconds, 0.25) &&
        jet.replicaSeconds <= 1.25 * polled.replicaSeconds;
      verdicts.push(
        `  ${pollMet ? 'but within' : 'and not within'} 1.25x of oracle-poll (the true rate read every 5 s, 1 s stale): p99 ${jet.p99WaitSeconds.toFixed(2)} vs ${polled.p99WaitSeconds.toFixed(2)} s (${ratio(jet.p99WaitSeconds, polled.p99WaitSeconds)}x), replica-seconds ${ratio(jet.replicaSeconds, polled.replicaSeconds)}x`,
      );
    }
  }
  for (const s of summaries) {
    const reactive = s.medians['jetscale'];
    const predictive = s.medians['jetscale-predictive'];
    if (reactive === undefined || predictive === undefined) continue;
    const rs = predictive.replicaSeconds / reactive.replicaSeconds;
    const p99 = `p99 ${predictive.p99WaitSeconds.toFixed(2)} vs ${reactive.p99WaitSeconds.toFixed(2)} s (${ratio(reactive.p99WaitSeconds, predictive.p99WaitSeconds)}x lower), replica-seconds ${rs.toFixed(2)}x`;
    if (s.trace === 'recurring') {
      const met = reactive.p99WaitSeconds >= 5 * predictive.p99WaitSeconds && rs <= 1.2;
      verdicts.push(
        `${met ? 'MET' : 'MISSED'} recurring: predictive p99 ≥ 5x lower than reactive at ≤ 1.2x its replica-seconds: ${p99}`,
      );
      // Out of reach for anything that learns the period from history, whatever it does after the
      // warm-up: the first two bursts are met reactively, and with the oracle's waits for them
      // (the best any reacting policy gets) and none at all afterwards, the whole-run p99 is still
      // this floor.
      const floor = floors[s.trace]?.['oracle'];
      const own = floors[s.trace]?.['jetscale'];
      const polled = floors[s.trace]?.['oracle-poll'];
      if (floor !== undefined && own !== undefined) {
        verdicts.push(
          `BOUND recurring: a learner that meets the first two bursts like the oracle (knows the rate at every instant) and then waits 0 s for every message has a whole-run p99 of ${floor.toFixed(2)} s (meeting them like reactive jetscale: ${own.toFixed(2)} s): reactive jetscale's ${reactive.p99WaitSeconds.toFixed(2)} s is ${ratio(reactive.p99WaitSeconds, floor)}x that, so ≥ 5x ${reactive.p99WaitSeconds >= 5 * floor ? 'is' : 'is not'} reachable by learning from history on this trace`,
        );
        // The same with the first two bursts read as every policy reads (every 5 s, 1 s stale):
        // the bound for a learner that polls, so the gap between the two is the read's.
        if (polled !== undefined)
          verdicts.push(
            `BOUND recurring, read every 5 s: meeting the first two bursts like oracle-poll and then perfectly gives ${polled.toFixed(2)} s, ${ratio(reactive.p99WaitSeconds, polled)}x below reactive jetscale; predictive gets ${ratio(reactive.p99WaitSeconds, predictive.p99WaitSeconds)}x`,
          );
      }
      // The first two bursts cannot be expected by anything that learns from history: the same
      // target over the messages arriving once two have been seen.
      const warm = reactive.p99AfterWarmupSeconds >= 5 * predictive.p99AfterWarmupSeconds && rs <= 1.2;
      verdicts.push(
        `${warm ? 'MET' : 'MISSED'} recurring after two bursts seen: predictive p99 ${predictive.p99AfterWarmupSeconds.toFixed(2)} vs ${reactive.p99AfterWarmupSeconds.toFixed(2)} s (${ratio(reactive.p99AfterWarmupSeconds, predictive.p99AfterWarmupSeconds)}x lower) at ${rs.toFixed(2)}x the replica-seconds`,
      );
    } else {
      const ok = rs <= 1.05 && p99NotWorse(predictive.p99WaitSeconds, reactive.p99WaitSeconds, 0.05);
      verdicts.push(`${ok ? 'MET' : 'MISSED'} ${s.trace}: predictive not > 5% worse than reactive: ${p99}`);
    }
  }
  const spike = summaries.find((s) => s.trace === 'spike')?.medians;
  const keda = spike?.['keda'];
  const oracle = spike?.['oracle'];
  if (keda !== undefined && oracle !== undefined) {
    // The oracle sees the spike the instant it starts, so no reacting policy can beat its p99.
    verdicts.push(
      `BOUND spike: the oracle (knows the rate and backlog at every instant, no foresight) gets p99 ${oracle.p99WaitSeconds.toFixed(2)} s, ${ratio(keda.p99WaitSeconds, oracle.p99WaitSeconds)}x lower than default KEDA's ${keda.p99WaitSeconds.toFixed(2)} s: the floor for any policy that reacts`,
    );
  }
  return verdicts;
}

/**
 * Which code a run measured, for the docs rendered from it (render-claims.ts): the commit checked
 * out, whether the tree had changes beyond it, when the run started and how long it took. undefined
 * fields where git is not there (a tarball).
 */
export interface BenchProvenance {
  commit: string | undefined;
  dirty: boolean | undefined;
  startedAt: string;
  wallSeconds: number;
}

/** The checked-out commit and whether the tree has changes beyond it (undefined without git). */
export function gitState(): { commit: string | undefined; dirty: boolean | undefined } {
  const git = (...args: string[]): string | undefined => {
    try {
      return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return undefined;
    }
  };
  const status = git('status', '--porcelain', '--untracked-files=no');
  return { commit: git('rev-parse', 'HEAD'), dirty: status === undefined ? undefined : status !== '' };
}

/**
 * The run's provenance from the tree as it was when the run started (the code it loaded) and as it
 * is at the end: a run during which the tree moved on (a commit, a rebase, an edit) measured code
 * that no one commit holds for sure, so it counts as dirty (render-claims refuses it unless told the
 * commit).
 */
export function benchProvenance(
  startedMs: number,
  atStart: { commit: string | undefined; dirty: boolean | undefined },
  atEnd: { commit: string | undefined; dirty: boolean | undefined } = gitState(),
): BenchProvenance {
  const moved = atStart.commit !== atEnd.commit || (atStart.dirty === false && atEnd.dirty === true);
  return {
    commit: atStart.commit,
    dirty: atStart.dirty === undefined ? undefined : atStart.dirty || moved,
    startedAt: new Date(startedMs).toISOString(),
    wallSeconds: Math.round((Date.now() - startedMs) / 100) / 10,
  };
}

/** Pod start-up delays for the sensitivity section: the shared 10–20 s and one on either side. */
export const startupVariants: Array<{ label: string; startup: WorkloadModel['startupSeconds'] }> = [
  { label: '5 s', startup: { min: 5, max: 5 } },
  { label: '10–20 s', startup: { min: 10, max: 20 } },
  { label: '30 s', startup: { min: 30, max: 30 } },
];
export const startupPolicies: PolicyName[] = ['keda', 'jetscale', 'oracle-poll', 'oracle', 'clairvoyant'];

export interface StartupRow {
  startup: string;
  policy: PolicyName;
  medians: MetricSummary;
}

/** The spike trace under each start-up delay: where the 5x target is and is not reachable. */
export function startupSensitivity(seeds: number[], base: WorkloadModel = defaultWorkload): StartupRow[] {
  const rows: StartupRow[] = [];
  for (const variant of startupVariants) {
    // Early consumption is bounded by the start-up in the simulator (never before the pod exists).
    const workload: WorkloadModel = { ...base, startupSeconds: variant.startup };
    for (const policy of startupPolicies) {
      const runs = seeds.map((seed) => {
        const spike = builtInTraces(seed).find((t) => t.name === 'spike');
        if (spike === undefined) throw new Error('no spike trace');
        return runScenario(spike, policy, seed, workload);
      });
      rows.push({ startup: variant.label, policy, medians: summarize(runs) });
    }
  }
  return rows;
}

export function renderStartupTable(rows: StartupRow[]): string {
  const header = ['start-up', 'policy', 'p99 wait (s)', 'replica-s', 'KEDA p99 / p99', 'replica-s / KEDA'];
  const lines: string[][] = [header];
  for (const r of rows) {
    const keda = rows.find((k) => k.startup === r.startup && k.policy === 'keda')?.medians;
    lines.push([
      r.startup,
      r.policy,
      r.medians.p99WaitSeconds.toFixed(2),
      Math.round(r.medians.replicaSeconds).toLocaleString('en-US'),
      `${ratio(keda?.p99WaitSeconds ?? NaN, r.medians.p99WaitSeconds)}x`,
      `${ratio(r.medians.replicaSeconds, keda?.replicaSeconds ?? NaN)}x`,
    ]);
  }
  return alignRows(lines);
}

function main(): void {
  const options = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const treeAtStart = gitState();
  const seeds = Array.from({ length: options.seeds }, (_, i) => i + 1);
  const traces = benchTraces(options.recordedPath ?? findTraceFile('recorded-sample.json'));
  for (const note of traces.notes) console.log(`note: ${note}`);
  const tracesFor = traces.forSeed;

  const wanted = (policy: PolicyName): boolean => options.policies?.includes(policy) ?? true;
  const settings = benchSettings().filter((s) => wanted(s.policy));
  const tableLabels = new Map(
    tableSettings.filter((s) => wanted(s.policy)).map((s) => [s.policy, settingLabel(resolveSetting(s))]),
  );
  const chartLabels = new Set(tableLabels.values());
  const allTraceNames = tracesFor(1).map((t) => t.name);
  const unknownTraces = options.traces?.filter((t) => !allTraceNames.includes(t)) ?? [];
  if (unknownTraces.length > 0)
    throw new Error(`--traces: unknown ${unknownTraces.join(', ')}; one of ${allTraceNames.join(', ')}`);
  const traceNames = allTraceNames.filter((t) => options.traces?.includes(t) ?? true);
  const runs = new Map<string, RunResult[]>();
  const descriptions = new Map<string, string>();
  let simulatedSeconds = 0;
  console.log(
    `${traceNames.length} traces × ${settings.length} settings × ${seeds.length} seeds = ${traceNames.length * settings.length * seeds.length} runs`,
  );
  for (const name of traceNames) {
    const t0 = performance.now();
    for (const seed of seeds) {
      const trace = tracesFor(seed).find((t) => t.name === name);
      if (trace === undefined) throw new Error(`no trace ${name} for seed ${seed}`);
      if (!descriptions.has(name)) descriptions.set(name, trace.description);
      for (const setting of settings) {
        const label = settingLabel(setting);
        const result = runScenario(trace, setting, seed, options.workload);
        simulatedSeconds += result.durationSeconds;
        // Timelines only for the charts (the table's settings, first seed): the rest would only cost memory.
        if (!(seed === seeds[0] && chartLabels.has(label))) result.timeline = [];
        const key = `${name}|${label}`;
        runs.set(key, [...(runs.get(key) ?? []), result]);
      }
    }
    console.log(
      `${name.padEnd(9)} ${settings.length} settings × ${seeds.length} seeds in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
  }
  const mediansOf = (name: string, label: string): MetricSummary =>
    summarize(runs.get(`${name}|${label}`) ?? []);

  const summaries: TraceSummary[] = traceNames.map((name) => {
    const medians: Record<string, MetricSummary> = {};
    const chartRuns: Record<string, RunResult> = {};
    for (const [policy, label] of tableLabels) {
      medians[policy] = mediansOf(name, label);
      const first = runs.get(`${name}|${label}`)?.[0];
      if (first !== undefined) chartRuns[policy] = { ...first, policy };
    }
    return { trace: name, description: descriptions.get(name) ?? '', medians, chartRuns };
  });

  const frontiers: TraceFrontier[] = traceNames.map((name) => {
    const minimum = median(
      (runs.get(`${name}|${settingLabel(settings[0] ?? { policy: 'oracle' })}`) ?? []).map(
        (r) => r.arrived / defaultWorkload.serviceRatePerReplica,
      ),
    );
    const points: FrontierPoint[] = [];
    for (const [family, knobs] of Object.entries(frontierKnobs)) {
      if (!wanted(family as PolicyName)) continue;
      const withDefault = defaultPointFamilies.includes(family as PolicyName)
        ? [DEFAULT_KNOB, ...knobs]
        : knobs;
      for (const knob of withDefault) {
        const setting: Setting = Number.isNaN(knob)
          ? { policy: family as PolicyName }
          : { policy: family as PolicyName, knob };
        const m = mediansOf(name, settingLabel(setting));
        const perSeed = runs.get(`${name}|${settingLabel(setting)}`) ?? [];
        points.push({
          family,
          knob,
          p99WaitSeconds: m.p99WaitSeconds,
          replicaSeconds: m.replicaSeconds,
          p99Spread: medianSpread(perSeed.map((r) => r.p99WaitSeconds)),
          replicaSecondsSpread: medianSpread(perSeed.map((r) => r.replicaSeconds)),
          perSeed: {
            p99WaitSeconds: perSeed.map((r) => r.p99WaitSeconds),
            replicaSeconds: perSeed.map((r) => r.replicaSeconds),
          },
        });
      }
    }
    return { trace: name, physicalMinimum: minimum, points };
  });

  const ratios: RatioColumn[] = [
    ['jetscale', 'keda'],
    ['jetscale', 'keda-tuned'],
    ['jetscale', 'oracle'],
    ['jetscale-predictive', 'jetscale'],
  ];
  const tableNames = tableSettings.map((s) => s.policy).filter(wanted);
  const table = renderTable(
    summaries,
    tableNames,
    ratios.filter(([a, b]) => wanted(a as PolicyName) && wanted(b as PolicyName)),
  );
  const frontierTable = renderFrontierTable(frontiers);
  const claims = renderClaims(frontiers);
  // The start-up section reruns the spike for five policies: only in a full run.
  const startupRows =
    traceNames.includes('spike') && startupPolicies.every(wanted)
      ? startupSensitivity(seeds, options.workload)
      : [];
  const startupTable = renderStartupTable(startupRows);
  const floors: LearnerFloors = {};
  for (const name of traceNames) {
    for (const policy of ['oracle', 'oracle-poll', 'jetscale']) {
      const found = runs.get(`${name}|${policy}`) ?? [];
      if (found.some((r) => r.p99PerfectAfterWarmupSeconds > 0))
        (floors[name] ??= {})[policy] = median(found.map((r) => r.p99PerfectAfterWarmupSeconds));
    }
  }
  const verdicts = evaluateTargets(summaries, frontiers, floors);
  console.log(
    `\nMedians over ${seeds.length} seed(s), each contender at its defaults (keda: lagThreshold ${KEDA_DEFAULT_LAG_THRESHOLD}, behavior nil; keda-tuned: the same with jetscale's scale-up/down rules as HPA behavior; jetscale: no latency objective, drainWithin ${defaultScalingSpec.drainWithinSeconds} s, adaptive poll ≤ ${shared.jetscalePollSeconds} s):\n`,
  );
  console.log(table);
  console.log(
    "\nFrontiers (medians; knob = lagThreshold for keda*, latencyObjective (s) for jetscale* (default = none), planned wait for clairvoyant-cost; × minimum = replica-s / (messages ÷ per-replica rate); × planner = replica-s / the clairvoyant planner's least replica-s at this p99 or lower; p99 and replica-s ± the standard error of the median over seeds; dominated by = a point of another contender family that is better on one axis and no worse on the other, judged on the per-seed differences (same seed = same arrivals): beyond their 95 % signed-rank interval, p99 within 0.1 s equal; medians rule = the verdict of the previous rule (medians, differences within their combined spread equal), shown only where it differs):\n",
  );
  console.log(frontierTable);
  console.log('\nDefault jetscale against the KEDA frontiers:');
  for (const c of claims) console.log(`  ${c}`);
  console.log(
    "\nSpike trace by pod start-up delay, medians (oracle: no foresight, the floor for any reacting policy; oracle-poll: the same seen only at jetscale's 5 s polls with 1 s staleness; clairvoyant: sees the trace one start-up ahead):\n",
  );
  console.log(startupTable);
  console.log('\nTargets:');
  for (const v of verdicts) console.log(`  ${v}`);

  const benchSettingsJson = {
    seeds,
    shared,
    workload: options.workload,
    kedaModel:
      "KEDA nats-jetstream + the HPA it creates (loadtest/sim/keda-hpa.ts): keda = behavior nil (legacy HPA path), keda-tuned = behavior with jetscale's scale-up/down rules",
    tickSeconds: 0.25,
    waitDefinition: 'arrival → ack, per message (fluid cohorts); messages left at the end count at their age',
    recordedTrace: traces.recordedPath ?? null,
    demoTrace: traces.demoPath ?? null,
  };
  mkdirSync(options.outDir, { recursive: true });
  const command = `node dist/loadtest/sim/bench.js ${process.argv.slice(2).join(' ')}`.trim();
  writeFileSync(
    join(options.outDir, 'results.json'),
    `${JSON.stringify(
      {
        command,
        provenance: benchProvenance(started, treeAtStart),
        settings: benchSettingsJson,
        learnerFloors: floors,
        verdicts,
        claims,
        medians: Object.fromEntries(summaries.map((s) => [s.trace, s.medians])),
        frontiers,
        spikeByStartup: startupRows,
        runs: [...runs.values()].flat().map(({ timeline: _timeline, ...metrics }) => metrics),
      },
      null,
      2,
    )}\n`,
  );
  const chartList = frontierCharts(frontiers);
  const charts = chartList.join('');
  writeFileSync(join(options.outDir, 'frontiers.svg'), frontierSheet(chartList));
  writeFileSync(
    join(options.outDir, 'index.html'),
    renderHtml({
      title: 'jetscale scaling benchmark (simulated)',
      command,
      settings: benchSettingsJson,
      summaries,
      policies: tableNames,
      verdicts,
      table,
      extras: [
        {
          heading: 'Frontiers: p99 wait against replica-seconds (medians)',
          text: 'Each family is one policy with its one trade-off knob swept: lagThreshold 5…1000 for KEDA (keda: every default, so the HPA runs its legacy path; keda-tuned: HPA behavior with jetscale’s scale-up and scale-down rules), spec.latencyObjective for jetscale (plus its default, no objective), the wait it plans for with the whole trace known for clairvoyant-cost (a reference: an estimate of the least replica-seconds for a given p99). Hollow points are dominated by a point of another contender family. The dashed line is the physical minimum: messages ÷ per-replica rate.',
          html: `<div class="charts">${charts}</div>`,
          pre: `${frontierTable}\n\n${claims.join('\n')}`,
        },
        {
          heading: 'Spike by pod start-up delay (medians)',
          text: 'The spike trace with pod start-up 5 s, the shared 10–20 s, and 30 s. The oracle knows the arrival rate and backlog at every instant but not the future: the floor for any policy that reacts, so KEDA p99 / oracle p99 is the largest factor such a policy can reach. oracle-poll knows the rate too, but only at jetscale’s 5 s polls with the shared 1 s staleness: the floor for a policy polling that often. The clairvoyant oracle also sees the trace one start-up ahead: what only foresight buys.',
          pre: startupTable,
        },
      ],
    }),
  );
  const elapsed = (Date.now() - started) / 1000;
  console.log(
    `\nWrote ${join(options.outDir, 'results.json')}, ${join(options.outDir, 'index.html')} and ${join(options.outDir, 'frontiers.svg')} — ${(simulatedSeconds / 3600).toFixed(0)} simulated hours in ${elapsed.toFixed(1)} s`,
  );
}

if (invokedDirectly(import.meta.url)) main();
