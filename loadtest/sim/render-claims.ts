// The frontier chart and the claims made from it, from one source of truth (issue 13). A full
// `make bench-scaling` writes results.json; `--from` compacts that run into docs/frontiers.json
// (committed: per trace × family × setting the medians, their spreads and every seed's values, the
// physical minimum, the table policies' medians with the oracle's, the commit, the seeds and the
// date). Every run of this script then renders docs/frontiers.svg and the marked blocks of README.md
// and loadtest/sim/README.md (between `<!-- frontiers:begin NAME -->` and `<!-- frontiers:end NAME
// -->`) from that file alone, with the bench's own rules (bench.ts, frontier.ts): the chart and
// the numbers a reader compares it with are the same run. render-claims.test.ts fails when a
// committed doc differs from what this renders, so a number edited by hand or a rule changed
// without re-rendering is caught.
//
//   npx tsx loadtest/sim/render-claims.ts                       # re-render from docs/frontiers.json
//   npx tsx loadtest/sim/render-claims.ts --check               # list what differs, exit 1 if any
//   npx tsx loadtest/sim/render-claims.ts --from reports/bench-scaling/results.json \
//       [--commit SHA] [--date YYYY-MM-DD]                      # adopt a new run, then render

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LearnerFloors, TraceFrontier } from './bench.js';
import {
  benchSettings,
  evaluateTargets,
  familyPoints,
  frontierCharts,
  kedaFamilies,
  objectiveVerdict,
  p99NotWorse,
} from './bench.js';
import type { FrontierPoint } from './frontier.js';
import {
  P99_EQUAL_WITHIN_SECONDS,
  bestAtOrAboveCost,
  cheapestMeeting,
  compareFamilies,
  dominatedBy,
} from './frontier.js';
import type { MetricSummary, TraceSummary } from './report.js';
import { frontierSheet, metricLabels, ratio } from './report.js';
import { KEDA_DEFAULT_LAG_THRESHOLD, settingLabel } from './scenarios.js';
import { runScript } from './cli.js';

export const FRONTIERS_JSON = 'loadtest/sim/docs/frontiers.json';
export const FRONTIERS_SVG = 'loadtest/sim/docs/frontiers.svg';
export const README = 'README.md';
export const SIM_README = 'loadtest/sim/README.md';

/** The blocks each document must carry, in order. */
export const DOC_BLOCKS: Record<string, string[]> = {
  [README]: ['table', 'claims'],
  [SIM_README]: ['glance', 'sim-table'],
};

/** One frontier point: a family at one knob value (`default`: jetscale without an objective). */
export interface CompactPoint {
  family: string;
  knob: number | 'default';
  /** Medians over the seeds, and the standard error of each median (frontier.ts medianSpread). */
  p99: number;
  p99Spread: number;
  replicaSeconds: number;
  replicaSecondsSpread: number;
  /** Each seed's value, in the order of `seeds`: the paired verdicts need them. */
  seedP99: number[];
  seedReplicaSeconds: number[];
}

export interface CompactTrace {
  trace: string;
  /** Median over the seeds of messages ÷ per-replica rate: no policy can cost less. */
  physicalMinimum: number;
  /** The table policies at their defaults (keda, keda-tuned, jetscale, jetscale-predictive, oracle, oracle-poll). */
  medians: Record<string, MetricSummary>;
  /** bench.ts LearnerFloors for this trace (only traces with a warm-up have them). */
  learnerFloors: Record<string, number>;
  points: CompactPoint[];
}

export interface FrontiersFile {
  about: string;
  /** The commit the run measured (40 hex digits). */
  commit: string;
  /** The day the run was made, YYYY-MM-DD (UTC). */
  date: string;
  seeds: number[];
  /** Runs in the bench (traces × settings × seeds). */
  runs: number;
  command: string;
  traces: CompactTrace[];
}

const ABOUT =
  'The run behind loadtest/sim/docs/frontiers.svg and the frontier blocks of README.md and loadtest/sim/README.md. Made by `npx tsx loadtest/sim/render-claims.ts --from <results.json of make bench-scaling>`; edit nothing here by hand.';

/** How a trace is named in the tables. */
const TRACE_LABELS: Record<string, string> = {
  step: 'step 50→200/s',
  spike: 'spike 10× for 60 s',
  ramp: 'ramp',
  diurnal: 'diurnal',
  bursty: 'bursty on/off',
  recurring: 'recurring 10× burst every 30 min',
  recorded: 'recorded (hand-made hour)',
  demo: 'demo (a real `make demo` failover run, × 10)',
};

// ---------------------------------------------------------------------------------------------
// Reading and checking the committed file (input from outside: every field is validated).

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function finite(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new Error(`${where}: expected a finite number, got ${JSON.stringify(v)}`);
  return v;
}

function numbers(v: unknown, length: number, where: string): number[] {
  if (!Array.isArray(v) || v.length !== length)
    throw new Error(
      `${where}: expected ${length} numbers (one per seed), got ${Array.isArray(v) ? v.length : JSON.stringify(v)}`,
    );
  return v.map((x, i) => finite(x, `${where}[${i}]`));
}

function text(v: unknown, where: string): string {
  if (typeof v !== 'string' || v === '')
    throw new Error(`${where}: expected a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}

/** The committed file, checked field by field; an error names the field and what it should be. */
export function parseFrontiersFile(raw: unknown, source = FRONTIERS_JSON): FrontiersFile {
  if (!isObject(raw)) throw new Error(`${source}: expected a JSON object`);
  const commit = text(raw['commit'], `${source} commit`);
  if (!/^[0-9a-f]{40}$/.test(commit))
    throw new Error(`${source} commit: expected 40 hex digits, got '${commit}'`);
  const date = text(raw['date'], `${source} date`);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date))
    throw new Error(`${source} date: expected YYYY-MM-DD, got '${date}'`);
  const seedsRaw = raw['seeds'];
  if (
    !Array.isArray(seedsRaw) ||
    seedsRaw.length === 0 ||
    !seedsRaw.every((s) => Number.isSafeInteger(s) && (s as number) >= 1)
  )
    throw new Error(`${source} seeds: expected a non-empty list of whole numbers ≥ 1`);
  const seeds = seedsRaw as number[];
  const tracesRaw = raw['traces'];
  if (!Array.isArray(tracesRaw) || tracesRaw.length === 0)
    throw new Error(`${source} traces: expected a non-empty list`);
  const traces = tracesRaw.map((t, i): CompactTrace => {
    const where = `${source} traces[${i}]`;
    if (!isObject(t)) throw new Error(`${where}: expected an object`);
    const trace = text(t['trace'], `${where}.trace`);
    const at = `${source} ${trace}`;
    const mediansRaw = t['medians'];
    if (!isObject(mediansRaw)) throw new Error(`${at}.medians: expected an object of policies`);
    const medians: Record<string, MetricSummary> = {};
    for (const [policy, m] of Object.entries(mediansRaw)) {
      if (!isObject(m)) throw new Error(`${at}.medians.${policy}: expected an object`);
      const summary = {} as MetricSummary;
      for (const key of Object.keys(metricLabels) as Array<keyof MetricSummary>)
        summary[key] = finite(m[key], `${at}.medians.${policy}.${key}`);
      medians[policy] = summary;
    }
    for (const policy of ['jetscale', 'oracle'])
      if (medians[policy] === undefined) throw new Error(`${at}.medians: no ${policy}`);
    const floorsRaw = t['learnerFloors'] ?? {};
    if (!isObject(floorsRaw)) throw new Error(`${at}.learnerFloors: expected an object`);
    const learnerFloors = Object.fromEntries(
      Object.entries(floorsRaw).map(([k, v]) => [k, finite(v, `${at}.learnerFloors.${k}`)]),
    );
    const pointsRaw = t['points'];
    if (!Array.isArray(pointsRaw) || pointsRaw.length === 0)
      throw new Error(`${at}.points: expected a non-empty list`);
    const points = pointsRaw.map((p, j): CompactPoint => {
      const pw = `${at}.points[${j}]`;
      if (!isObject(p)) throw new Error(`${pw}: expected an object`);
      const knob =
        p['knob'] === 'default' ? 'default' : finite(p['knob'], `${pw}.knob (a number or "default")`);
      return {
        family: text(p['family'], `${pw}.family`),
        knob,
        p99: finite(p['p99'], `${pw}.p99`),
        p99Spread: finite(p['p99Spread'], `${pw}.p99Spread`),
        replicaSeconds: finite(p['replicaSeconds'], `${pw}.replicaSeconds`),
        replicaSecondsSpread: finite(p['replicaSecondsSpread'], `${pw}.replicaSecondsSpread`),
        seedP99: numbers(p['seedP99'], seeds.length, `${pw}.seedP99`),
        seedReplicaSeconds: numbers(p['seedReplicaSeconds'], seeds.length, `${pw}.seedReplicaSeconds`),
      };
    });
    if (!points.some((p) => p.family === 'jetscale' && p.knob === 'default'))
      throw new Error(`${at}.points: no default jetscale point (family jetscale, knob "default")`);
    return {
      trace,
      physicalMinimum: finite(t['physicalMinimum'], `${at}.physicalMinimum`),
      medians,
      learnerFloors,
      points,
    };
  });
  return {
    about: typeof raw['about'] === 'string' ? raw['about'] : ABOUT,
    commit,
    date,
    seeds,
    runs: finite(raw['runs'], `${source} runs`),
    command: text(raw['command'], `${source} command`),
    traces,
  };
}

export function readFrontiersFile(root: string): FrontiersFile {
  const path = join(root, FRONTIERS_JSON);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  return parseFrontiersFile(raw, FRONTIERS_JSON);
}

/** The bench's frontiers (knob NaN = the default point; per-seed values for the paired verdicts). */
export function toFrontiers(file: FrontiersFile): TraceFrontier[] {
  return file.traces.map((t) => ({
    trace: t.trace,
    physicalMinimum: t.physicalMinimum,
    points: t.points.map((p): FrontierPoint => ({
      family: p.family,
      knob: p.knob === 'default' ? Number.NaN : p.knob,
      p99WaitSeconds: p.p99,
      replicaSeconds: p.replicaSeconds,
      p99Spread: p.p99Spread,
      replicaSecondsSpread: p.replicaSecondsSpread,
      perSeed: { p99WaitSeconds: p.seedP99, replicaSeconds: p.seedReplicaSeconds },
    })),
  }));
}

function toSummaries(file: FrontiersFile): TraceSummary[] {
  return file.traces.map((t) => ({ trace: t.trace, description: '', medians: t.medians, chartRuns: {} }));
}

function toFloors(file: FrontiersFile): LearnerFloors {
  return Object.fromEntries(
    file.traces.filter((t) => Object.keys(t.learnerFloors).length > 0).map((t) => [t.trace, t.learnerFloors]),
  );
}

/** The issue 13 target lines (bench.ts evaluateTargets) of this file's run. */
export function verdictsOf(file: FrontiersFile): string[] {
  return evaluateTargets(toSummaries(file), toFrontiers(file), toFloors(file));
}

// ---------------------------------------------------------------------------------------------
// Adopting a bench run.

// No value is rounded: the paired verdicts print interval bounds to 0.01, and a bound a rounding
// moved across a last digit would make the docs say what the bench did not (compactResults checks).
function summaryOf(m: unknown, where: string): MetricSummary {
  if (!isObject(m)) throw new Error(`${where}: expected an object`);
  const out = {} as MetricSummary;
  for (const key of Object.keys(metricLabels) as Array<keyof MetricSummary>)
    out[key] = finite(m[key], `${where}.${key}`);
  return out;
}

interface ResultsRun {
  trace: string;
  seed: number;
  p99PerfectAfterWarmupSeconds: number;
}

/**
 * The learner floors of a results.json written before the bench recorded them: from its runs,
 * which it writes trace by trace, each setting of benchSettings() in order, each seed in order.
 * Refused unless every run is where that order puts it.
 */
function floorsFromRuns(runs: unknown, traces: string[], seeds: number[]): LearnerFloors {
  const labels = benchSettings().map(settingLabel);
  if (!Array.isArray(runs) || runs.length !== traces.length * labels.length * seeds.length)
    throw new Error(
      `results.json has no learnerFloors and its runs are not the ${traces.length} traces × ${labels.length} settings × ${seeds.length} seeds of a full bench run: rerun \`make bench-scaling\``,
    );
  const floors: LearnerFloors = {};
  let i = 0;
  for (const trace of traces) {
    for (const label of labels) {
      const perfect: number[] = [];
      for (const seed of seeds) {
        const run = runs[i++] as Partial<ResultsRun> | undefined;
        if (run?.trace !== trace || run.seed !== seed)
          throw new Error(
            `results.json runs[${i - 1}] is ${run?.trace}/seed ${run?.seed}, expected ${trace}/seed ${seed} (${label}): not a full run of this bench's settings; rerun \`make bench-scaling\``,
          );
        perfect.push(
          finite(
            run.p99PerfectAfterWarmupSeconds,
            `results.json runs[${i - 1}].p99PerfectAfterWarmupSeconds`,
          ),
        );
      }
      if (['oracle', 'oracle-poll', 'jetscale'].includes(label) && perfect.some((v) => v > 0)) {
        const sorted = [...perfect].sort((a, b) => a - b);
        const mid = Math.floor(sorted.length / 2);
        (floors[trace] ??= {})[label] =
          sorted.length % 2 === 1 ? (sorted[mid] ?? NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
      }
    }
  }
  return floors;
}

/**
 * A full bench run's results.json, compacted. The commit and date come from its `provenance`
 * (bench.ts) or, for a run written before it recorded them, from `override`. Refused when the run
 * was partial (--traces/--policies), its tree had uncommitted changes, or the target lines
 * re-derived from the compact file differ from the ones the bench printed.
 */
export function compactResults(
  results: unknown,
  override: { commit?: string; date?: string } = {},
): FrontiersFile {
  if (!isObject(results)) throw new Error('results.json: expected a JSON object');
  const settings = results['settings'];
  if (!isObject(settings) || !Array.isArray(settings['seeds']))
    throw new Error('results.json: no settings.seeds');
  const seeds = settings['seeds'] as number[];
  const command = text(results['command'], 'results.json command');
  if (/--(traces|policies)\b/.test(command))
    throw new Error(
      `results.json is a partial run (${command}): the docs describe a full \`make bench-scaling\``,
    );
  const provenance = isObject(results['provenance']) ? results['provenance'] : {};
  if (provenance['dirty'] === true && override.commit === undefined)
    throw new Error(
      'results.json was run on a tree with uncommitted changes (provenance.dirty): commit them and rerun, or pass --commit with the commit whose code it measured',
    );
  const commit =
    override.commit ?? (typeof provenance['commit'] === 'string' ? provenance['commit'] : undefined);
  if (commit === undefined)
    throw new Error('results.json records no commit (provenance.commit): pass --commit SHA (40 hex digits)');
  const started =
    typeof provenance['startedAt'] === 'string' ? provenance['startedAt'].slice(0, 10) : undefined;
  const date = override.date ?? started;
  if (date === undefined)
    throw new Error('results.json records no date (provenance.startedAt): pass --date YYYY-MM-DD');
  const frontiers = results['frontiers'];
  const medians = results['medians'];
  if (!Array.isArray(frontiers) || !isObject(medians))
    throw new Error('results.json: no frontiers or medians');
  const traceNames = frontiers.map((f, i) =>
    text(isObject(f) ? f['trace'] : undefined, `results.json frontiers[${i}].trace`),
  );
  const floors: LearnerFloors = isObject(results['learnerFloors'])
    ? (results['learnerFloors'] as LearnerFloors)
    : floorsFromRuns(results['runs'], traceNames, seeds);
  const runs = Array.isArray(results['runs']) ? results['runs'].length : 0;
  const traces = frontiers.map((f: Json, i): CompactTrace => {
    const trace = traceNames[i] ?? '';
    const m = medians[trace];
    if (!isObject(m)) throw new Error(`results.json medians: no ${trace}`);
    const points = (f['points'] as Json[]).map((p): CompactPoint => {
      const perSeed = p['perSeed'] as { p99WaitSeconds: number[]; replicaSeconds: number[] };
      return {
        family: text(p['family'], 'a point family'),
        knob: p['knob'] === null || p['knob'] === undefined ? 'default' : finite(p['knob'], `${trace} knob`),
        p99: finite(p['p99WaitSeconds'], `${trace} p99`),
        p99Spread: finite(p['p99Spread'], `${trace} p99Spread`),
        replicaSeconds: finite(p['replicaSeconds'], `${trace} replicaSeconds`),
        replicaSecondsSpread: finite(p['replicaSecondsSpread'], `${trace} replicaSecondsSpread`),
        seedP99: perSeed.p99WaitSeconds,
        seedReplicaSeconds: perSeed.replicaSeconds,
      };
    });
    return {
      trace,
      physicalMinimum: finite(f['physicalMinimum'], `${trace} physicalMinimum`),
      medians: Object.fromEntries(
        Object.entries(m).map(([k, v]) => [k, summaryOf(v, `results.json medians.${trace}.${k}`)]),
      ),
      learnerFloors: floors[trace] ?? {},
      points,
    };
  });
  const file = parseFrontiersFile(
    { about: ABOUT, commit, date, seeds, runs, command, traces },
    'results.json',
  );
  const printed = results['verdicts'];
  if (Array.isArray(printed)) {
    const again = verdictsOf(file);
    const differ = again.filter((v, k) => v !== printed[k]);
    if (differ.length > 0 || again.length !== printed.length)
      throw new Error(
        `the target lines re-derived from the compact run differ from the bench's (the rules in bench.ts/frontier.ts changed since the run? rerun it):\n${differ.join('\n')}`,
      );
  }
  return file;
}

/** The committed file's text: one point per line, so a re-run's diff reads point by point. */
export function formatFrontiersFile(file: FrontiersFile): string {
  const lines: string[] = ['{'];
  lines.push(`  "about": ${JSON.stringify(file.about)},`);
  lines.push(`  "commit": ${JSON.stringify(file.commit)},`);
  lines.push(`  "date": ${JSON.stringify(file.date)},`);
  lines.push(`  "seeds": ${JSON.stringify(file.seeds)},`);
  lines.push(`  "runs": ${file.runs},`);
  lines.push(`  "command": ${JSON.stringify(file.command)},`);
  lines.push('  "traces": [');
  file.traces.forEach((t, i) => {
    lines.push('    {');
    lines.push(`      "trace": ${JSON.stringify(t.trace)},`);
    lines.push(`      "physicalMinimum": ${t.physicalMinimum},`);
    lines.push('      "medians": {');
    const policies = Object.entries(t.medians);
    policies.forEach(([policy, m], j) =>
      lines.push(
        `        ${JSON.stringify(policy)}: ${JSON.stringify(m)}${j < policies.length - 1 ? ',' : ''}`,
      ),
    );
    lines.push('      },');
    lines.push(`      "learnerFloors": ${JSON.stringify(t.learnerFloors)},`);
    lines.push('      "points": [');
    t.points.forEach((p, j) =>
      lines.push(`        ${JSON.stringify(p)}${j < t.points.length - 1 ? ',' : ''}`),
    );
    lines.push('      ]');
    lines.push(`    }${i < file.traces.length - 1 ? ',' : ''}`);
  });
  lines.push('  ]');
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// Rendering.

const int = (v: number): string => Math.round(v).toLocaleString('en-US');
const sec = (v: number): string => `${v.toFixed(2)} s`;
/** `v` to 0.01 with its sign; a value that rounds to zero is +0.00, never -0.00. */
const signed = (v: number): string => {
  const r = Number(v.toFixed(2));
  return `${r < 0 ? '' : '+'}${(r === 0 ? 0 : r).toFixed(2)}`;
};
const short = (commit: string): string => commit.slice(0, 7);
const label = (trace: string): string => TRACE_LABELS[trace] ?? trace;

function seedRange(seeds: number[]): string {
  const contiguous = seeds.every((s, i) => s === (seeds[0] ?? 0) + i);
  return contiguous && seeds.length > 1 ? `${seeds[0]}–${seeds[seeds.length - 1]}` : seeds.join(', ');
}

/** The run in one sentence: what every rendered number and the chart are. */
export function runLine(file: FrontiersFile): string {
  return `\`make bench-scaling\` on main at ${short(file.commit)} (${file.date}): ${file.seeds.length} seeds (${seedRange(file.seeds)}), ${int(file.runs)} runs, medians over the seeds`;
}

function defaultPoint(f: TraceFrontier): FrontierPoint {
  const jet = familyPoints(f, 'jetscale').find((p) => Number.isNaN(p.knob));
  if (jet === undefined) throw new Error(`${f.trace}: no default jetscale point`);
  return jet;
}

function dominatedCount(
  f: TraceFrontier,
  family: string,
): { dominated: number; of: number; not: FrontierPoint[] } {
  const baseline = familyPoints(f, family);
  const v = compareFamilies(familyPoints(f, 'jetscale'), baseline);
  return { dominated: baseline.length - v.undominated.length, of: baseline.length, not: v.undominated };
}

/** README.md: default jetscale per trace against `keda-tuned`'s frontier and the oracle. */
function renderReadmeTable(file: FrontiersFile, frontiers: TraceFrontier[]): string {
  const rows = [
    `Run: ${runLine(file)} ([docs/frontiers.json](loadtest/sim/docs/frontiers.json)).`,
    '',
    '| trace | frontier points dominated: `keda`, `keda-tuned` | default jetscale: p99, replica-s | × the oracle: p99, replica-s | best `keda-tuned` at ≥ its cost | cheapest `keda-tuned` at ≤ its p99 |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const f of frontiers) {
    const t = file.traces.find((x) => x.trace === f.trace);
    const jet = defaultPoint(f);
    const oracle = t?.medians['oracle'];
    const tuned = familyPoints(f, 'keda-tuned');
    const atCost = bestAtOrAboveCost(tuned, jet.replicaSeconds);
    const atP99 = cheapestMeeting(tuned, jet.p99WaitSeconds);
    const counts = kedaFamilies.map((k) => dominatedCount(f, k)).map((c) => `${c.dominated}/${c.of}`);
    rows.push(
      `| ${label(f.trace)} | ${counts.join(', ')} | ${sec(jet.p99WaitSeconds)}, ${int(jet.replicaSeconds)} | ${
        oracle === undefined
          ? '—'
          : `${ratio(jet.p99WaitSeconds, oracle.p99WaitSeconds)}×, ${ratio(jet.replicaSeconds, oracle.replicaSeconds)}×`
      } | ${
        atCost === undefined
          ? 'none costs as much'
          : `@${atCost.knob}: ${sec(atCost.p99WaitSeconds)} at ${ratio(atCost.replicaSeconds, jet.replicaSeconds)}×`
      } | ${
        atP99 === undefined
          ? `none reaches ${sec(jet.p99WaitSeconds)}`
          : `@${atP99.knob}: ${sec(atP99.p99WaitSeconds)} at ${ratio(atP99.replicaSeconds, jet.replicaSeconds)}×`
      } |`,
    );
  }
  return rows.join('\n');
}

/** The issue 13 targets of this run, met or not and by how much: README.md and the sim README. */
function renderClaimBullets(file: FrontiersFile, frontiers: TraceFrontier[]): string {
  const lines: string[] = [];
  // Frontiers.
  const totals = kedaFamilies.map((family) => {
    const counts = frontiers.map((f) => ({ f, c: dominatedCount(f, family) }));
    return {
      family,
      dominated: counts.reduce((n, x) => n + x.c.dominated, 0),
      of: counts.reduce((n, x) => n + x.c.of, 0),
      not: counts.flatMap((x) =>
        x.c.not.map(
          (p) =>
            `${x.f.trace} ${family}@${p.knob} (${sec(p.p99WaitSeconds)}, ${int(p.replicaSeconds)} replica-s)`,
        ),
      ),
    };
  });
  const beaten = frontiers.flatMap((f) => {
    const by = dominatedBy(
      defaultPoint(f),
      f.points.filter((p) => (kedaFamilies as string[]).includes(p.family)),
    );
    return by === undefined ? [] : [`${f.trace} (by ${by.family}@${by.knob})`];
  });
  const notDominated = totals.flatMap((t) => t.not);
  lines.push(
    `- **Frontiers** (target: jetscale's dominates both KEDA frontiers on every trace): ${totals
      .map((t) => `${t.dominated} of ${t.of} \`${t.family}\` points dominated`)
      .join(
        ', ',
      )}. ${notDominated.length === 0 ? '**Met.**' : `**Not met:** not dominated ${notDominated.join('; ')}.`} Default jetscale is dominated by ${
      beaten.length === 0 ? 'no KEDA setting on any trace' : `a KEDA setting on ${beaten.join(', ')}`
    }.`,
  );
  // Every default against KEDA's defaults.
  const vsKeda = file.traces.flatMap((t) => {
    const keda = t.medians['keda'];
    const jet = t.medians['jetscale'];
    return keda === undefined || jet === undefined
      ? []
      : [
          {
            trace: t.trace,
            keda,
            jet,
            better:
              jet.p99WaitSeconds <= keda.p99WaitSeconds + P99_EQUAL_WITHIN_SECONDS &&
              jet.replicaSeconds <= keda.replicaSeconds,
          },
        ];
  });
  if (vsKeda.length > 0)
    lines.push(
      `- **Against \`keda\` with every default** (lagThreshold ${KEDA_DEFAULT_LAG_THRESHOLD}), KEDA's p99 → default jetscale's, at jetscale's share of KEDA's replica-seconds: ${vsKeda
        .map(
          (x) =>
            `${x.trace} ${x.keda.p99WaitSeconds.toFixed(2)} → ${sec(x.jet.p99WaitSeconds)} at ${ratio(x.jet.replicaSeconds, x.keda.replicaSeconds)}×`,
        )
        .join(
          '; ',
        )}. Jetscale waits no longer (p99 within ${P99_EQUAL_WITHIN_SECONDS} s counts as equal) at no higher cost on ${vsKeda.filter((x) => x.better).length} of ${vsKeda.length} traces.`,
    );
  // The oracle.
  const oracleRows = file.traces.flatMap((t) => {
    const jet = t.medians['jetscale'];
    const oracle = t.medians['oracle'];
    if (jet === undefined || oracle === undefined) return [];
    const p99Met = p99NotWorse(jet.p99WaitSeconds, oracle.p99WaitSeconds, 0.25);
    const rsMet = jet.replicaSeconds <= 1.25 * oracle.replicaSeconds;
    const polled = t.medians['oracle-poll'];
    const pollMet =
      polled !== undefined &&
      p99NotWorse(jet.p99WaitSeconds, polled.p99WaitSeconds, 0.25) &&
      jet.replicaSeconds <= 1.25 * polled.replicaSeconds;
    return [{ t, jet, oracle, polled, p99Met, rsMet, pollMet }];
  });
  if (oracleRows.length > 0) {
    const missed = oracleRows.filter((r) => !(r.p99Met && r.rsMet));
    const withinTick = oracleRows.filter(
      (r) => r.p99Met && r.jet.p99WaitSeconds > 1.25 * r.oracle.p99WaitSeconds,
    );
    const rsRatios = oracleRows.map((r) => r.jet.replicaSeconds / r.oracle.replicaSeconds);
    lines.push(
      `- **Against the oracle** (knows the true rate at every instant; target: default jetscale within 1.25× on p99 and on replica-seconds, a p99 within the simulator's 0.25 s tick counting as met). p99 ÷ the oracle's: ${oracleRows
        .map((r) => `${r.t.trace} ${ratio(r.jet.p99WaitSeconds, r.oracle.p99WaitSeconds)}×`)
        .join(
          ', ',
        )}; replica-seconds ÷ the oracle's ${Math.min(...rsRatios).toFixed(2)}–${Math.max(...rsRatios).toFixed(2)}×. ${
        missed.length === 0
          ? '**Met on every trace.**'
          : `**Not met on ${missed
              .map(
                (r) =>
                  `${r.t.trace} (${sec(r.jet.p99WaitSeconds)} vs ${sec(r.oracle.p99WaitSeconds)}${r.rsMet ? '' : `; replica-seconds ${ratio(r.jet.replicaSeconds, r.oracle.replicaSeconds)}×`})`,
              )
              .join(', ')}**; met on the others.`
      }${
        withinTick.length === 0
          ? ''
          : ` Within the tick only: ${withinTick.map((r) => `${r.t.trace} (${sec(r.jet.p99WaitSeconds)} vs ${sec(r.oracle.p99WaitSeconds)})`).join(', ')}.`
      }${
        missed.length === 0
          ? ''
          : ` Against \`oracle-poll\` (the true rate, read every 5 s and 1 s stale, as everyone reads), p99 and replica-seconds: ${missed
              .map((r) =>
                r.polled === undefined
                  ? `${r.t.trace} —`
                  : `${r.t.trace} ${ratio(r.jet.p99WaitSeconds, r.polled.p99WaitSeconds)}×, ${ratio(r.jet.replicaSeconds, r.polled.replicaSeconds)}×${r.pollMet ? '' : ' (not within 1.25×)'}`,
              )
              .join('; ')}.`
      }`,
    );
  }
  // Predictive.
  const recurring = file.traces.find((t) => t.trace === 'recurring');
  const reactive = recurring?.medians['jetscale'];
  const predictive = recurring?.medians['jetscale-predictive'];
  if (recurring !== undefined && reactive !== undefined && predictive !== undefined) {
    const rs = predictive.replicaSeconds / reactive.replicaSeconds;
    const whole = reactive.p99WaitSeconds >= 5 * predictive.p99WaitSeconds && rs <= 1.2;
    const floor = recurring.learnerFloors['oracle'];
    const others = file.traces.flatMap((t) => {
      const r = t.medians['jetscale'];
      const p = t.medians['jetscale-predictive'];
      return t.trace === 'recurring' || r === undefined || p === undefined
        ? []
        : [
            {
              trace: t.trace,
              rs: p.replicaSeconds / r.replicaSeconds,
              ok:
                p.replicaSeconds <= 1.05 * r.replicaSeconds &&
                p99NotWorse(p.p99WaitSeconds, r.p99WaitSeconds, 0.05),
              dp99: p.p99WaitSeconds - r.p99WaitSeconds,
            },
          ];
    });
    const worst = others.reduce(
      (a, b) => (b.rs > a.rs ? b : a),
      others[0] ?? { trace: '', rs: 1, ok: true, dp99: 0 },
    );
    lines.push(
      `- **Predictive on recurring** (target: p99 ≥ 5× lower than reactive at ≤ 1.2× its replica-seconds): over the whole run ${sec(predictive.p99WaitSeconds)} vs ${sec(reactive.p99WaitSeconds)} (${ratio(reactive.p99WaitSeconds, predictive.p99WaitSeconds)}× lower) at ${rs.toFixed(2)}×, **${whole ? 'met' : 'not met'}**; after two bursts seen ${sec(predictive.p99AfterWarmupSeconds)} vs ${sec(reactive.p99AfterWarmupSeconds)} (${ratio(reactive.p99AfterWarmupSeconds, predictive.p99AfterWarmupSeconds)}× lower).${
        floor === undefined
          ? ''
          : ` A learner meeting the first two bursts like the oracle and then waiting 0 s gets ${sec(floor)} over the whole run, ${ratio(reactive.p99WaitSeconds, floor)}× below reactive: ≥ 5× ${reactive.p99WaitSeconds >= 5 * floor ? 'is' : 'is not'} reachable by learning from history on this trace.`
      }${
        others.length === 0
          ? ''
          : ` Elsewhere (target: never more than 5 % worse): ${
              others.every((o) => o.ok)
                ? '**met**'
                : `**not met** on ${others
                    .filter((o) => !o.ok)
                    .map((o) => o.trace)
                    .join(', ')}`
            }; the dearest ${worst.trace}, ${worst.rs.toFixed(3)}× the replica-seconds at p99 ${signed(worst.dp99)} s.`
      }`,
    );
  }
  // Requests and churn.
  const span = (policies: string[], key: 'consumerReadsPerMinute' | 'apiRequestsPerMinute'): string => {
    const values = file.traces.flatMap((t) => policies.flatMap((policy) => t.medians[policy]?.[key] ?? []));
    if (values.length === 0) return '—';
    const lo = Math.round(Math.min(...values));
    const hi = Math.round(Math.max(...values));
    return lo === hi ? String(lo) : `${lo}–${hi}`;
  };
  const starts = file.traces.flatMap((t) => {
    const jet = t.medians['jetscale'];
    const tuned = t.medians['keda-tuned'];
    return jet === undefined || tuned === undefined ? [] : [jet.podStarts < tuned.podStarts];
  });
  if (starts.length > 0)
    lines.push(
      `- **Requests and churn** (medians per trace): KEDA + HPA make ${span(['keda', 'keda-tuned'], 'consumerReadsPerMinute')} NATS reads and ${span(['keda', 'keda-tuned'], 'apiRequestsPerMinute')} API-server requests a minute; default jetscale ${span(['jetscale'], 'consumerReadsPerMinute')} and ${span(['jetscale'], 'apiRequestsPerMinute')}. It starts fewer pods than \`keda-tuned\` on ${starts.filter((x) => x).length} of ${starts.length} traces.`,
    );
  // Objectives a user set.
  const held = frontiers.map((f) => objectiveVerdict(f)).filter((v): v is string => v !== undefined);
  if (held.length > 0) {
    const missed = held.filter((v) => v.startsWith('MISSED'));
    lines.push(
      `- **Objectives held**: every \`latencyObjective\` of 30 s or more got a p99 within it on every seed on ${held.length - missed.length} of ${held.length} traces${missed.length === 0 ? '' : ` (${missed.map((v) => v.replace(/^MISSED /, '')).join('; ')})`}.`,
    );
  }
  return lines.join('\n');
}

/** The sim README's per-trace frontier table, with the physical minimum and the oracle. */
function renderSimTable(file: FrontiersFile, frontiers: TraceFrontier[]): string {
  const rows = [
    `Medians over ${file.seeds.length} seeds ± the standard error of the median (${runLine(file)}; [docs/frontiers.json](docs/frontiers.json)):`,
    '',
    '![frontiers](docs/frontiers.svg)',
    '',
    '| trace | physical minimum (replica-s) | `keda` points dominated by jetscale | `keda-tuned` points dominated | default jetscale: p99, replica-s (× minimum) | `oracle`: p99, replica-s (× minimum) |',
    '| --- | ---: | --- | --- | --- | --- |',
  ];
  for (const f of frontiers) {
    const jet = defaultPoint(f);
    const oracle = file.traces.find((t) => t.trace === f.trace)?.medians['oracle'];
    const cells = kedaFamilies.map((family) => {
      const c = dominatedCount(f, family);
      return `${c.dominated}/${c.of}${
        c.not.length === 0
          ? ''
          : ` (not ${c.not
              .map(
                (p) =>
                  `${p.knob}: ${p.p99WaitSeconds.toFixed(2)} ± ${(p.p99Spread ?? 0).toFixed(2)} s, ${int(p.replicaSeconds)} ± ${int(p.replicaSecondsSpread ?? 0)}`,
              )
              .join('; ')})`
      }`;
    });
    rows.push(
      `| ${f.trace} | ${int(f.physicalMinimum)} | ${cells.join(' | ')} | ${jet.p99WaitSeconds.toFixed(2)} ± ${(jet.p99Spread ?? 0).toFixed(2)} s, ${int(jet.replicaSeconds)} ± ${int(jet.replicaSecondsSpread ?? 0)} (${ratio(jet.replicaSeconds, f.physicalMinimum)}×) | ${
        oracle === undefined
          ? '—'
          : `${sec(oracle.p99WaitSeconds)}, ${int(oracle.replicaSeconds)} (${ratio(oracle.replicaSeconds, f.physicalMinimum)}×)`
      } |`,
    );
  }
  return rows.join('\n');
}

export interface RenderedDocs {
  svg: string;
  blocks: Record<string, string>;
}

/** Everything the docs show of the run, from the committed file alone. */
export function renderDocs(file: FrontiersFile): RenderedDocs {
  const frontiers = toFrontiers(file);
  const caption = [
    `p99 wait against replica-seconds: ${runLine(file).replace(/`/g, '')}.`,
    `Commit ${file.commit}; every point's values per seed: ${FRONTIERS_JSON}.`,
  ];
  const claims = renderClaimBullets(file, frontiers);
  return {
    svg: frontierSheet(frontierCharts(frontiers), 2, caption),
    blocks: {
      table: renderReadmeTable(file, frontiers),
      claims,
      glance: `The latest full run: ${runLine(file)}. Its targets of issue 13:\n\n${claims}`,
      'sim-table': renderSimTable(file, frontiers),
    },
  };
}

const BEGIN = /<!-- frontiers:begin ([a-z-]+)[^>]*-->\n/g;

/**
 * `text` with every marked block's inside replaced by what was rendered for it. The markers stay;
 * a block this script does not know, a begin without its end, or a block of `expected` missing is
 * an error naming the file.
 */
export function replaceBlocks(
  text: string,
  blocks: Record<string, string>,
  file: string,
  expected: string[],
): string {
  let out = '';
  let from = 0;
  const seen: string[] = [];
  for (const match of text.matchAll(BEGIN)) {
    const name = match[1] ?? '';
    const start = (match.index ?? 0) + match[0].length;
    if (start < from) continue;
    const content = blocks[name];
    if (content === undefined)
      throw new Error(
        `${file}: unknown block '${name}' (render-claims.ts renders ${Object.keys(blocks).join(', ')})`,
      );
    const end = `<!-- frontiers:end ${name} -->`;
    const endAt = text.indexOf(end, start);
    if (endAt < 0) throw new Error(`${file}: '<!-- frontiers:begin ${name} -->' has no '${end}'`);
    out += `${text.slice(from, start)}${content}\n`;
    from = endAt;
    seen.push(name);
  }
  const missing = expected.filter((name) => !seen.includes(name));
  if (missing.length > 0)
    throw new Error(
      `${file}: no '<!-- frontiers:begin ${missing[0]} -->' … '<!-- frontiers:end ${missing[0]} -->' block (expected ${expected.join(', ')})`,
    );
  return out + text.slice(from);
}

/**
 * What a committed run renders, by the run file's text: a render costs ~2 s of CPU (the paired
 * verdicts of every point against every other family's), and a check asks for the same run again.
 */
const rendersByRun = new Map<string, RenderedDocs>();

/** The committed run under `root`, rendered (once per distinct file text). */
export function renderedRun(root: string): RenderedDocs {
  const path = join(root, FRONTIERS_JSON);
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const cached = rendersByRun.get(raw);
  if (cached !== undefined) return cached;
  const rendered = renderDocs(readFrontiersFile(root));
  rendersByRun.set(raw, rendered);
  return rendered;
}

/** Each generated file's path and the text it should have, given the repository at `root`. */
export function expectedDocs(root: string): Record<string, string> {
  const rendered = renderedRun(root);
  const out: Record<string, string> = { [FRONTIERS_SVG]: rendered.svg };
  for (const [doc, names] of Object.entries(DOC_BLOCKS))
    out[doc] = replaceBlocks(readFileSync(join(root, doc), 'utf8'), rendered.blocks, doc, names);
  return out;
}

/** The generated files under `root` that differ from what the committed frontiers.json renders. */
export function staleDocs(root: string): string[] {
  return Object.entries(expectedDocs(root))
    .filter(([file, content]) => {
      try {
        return readFileSync(join(root, file), 'utf8') !== content;
      } catch {
        return true;
      }
    })
    .map(([file]) => file);
}

const usage = `usage: render-claims.ts [--check] [--from results.json [--commit SHA] [--date YYYY-MM-DD]]
  (no flag)      re-render ${FRONTIERS_SVG} and the frontier blocks of ${README} and ${SIM_README}
                 from ${FRONTIERS_JSON}
  --check        render nothing; list the files that differ and exit 1 if any
  --from FILE    first replace ${FRONTIERS_JSON} with FILE (the results.json of a full
                 \`make bench-scaling\`), compacted; --commit/--date for a run that did not record them`;

function main(argv: string[]): void {
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new Error(`${flag} needs a value\n${usage}`);
    return v;
  };
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(usage);
    return;
  }
  const known = new Set(['--check', '--from', '--commit', '--date']);
  const unknown = argv.filter(
    (a, i) =>
      a.startsWith('--') &&
      !known.has(a) &&
      !(i > 0 && ['--from', '--commit', '--date'].includes(argv[i - 1] ?? '')),
  );
  if (unknown.length > 0) throw new Error(`unknown ${unknown.join(', ')}\n${usage}`);
  const root = process.cwd();
  const from = value('--from');
  if (from !== undefined) {
    const commit = value('--commit');
    if (commit !== undefined && !/^[0-9a-f]{40}$/.test(commit))
      throw new Error(`--commit must be the full 40-hex-digit commit the run measured, got '${commit}'`);
    const date = value('--date');
    const file = compactResults(JSON.parse(readFileSync(from, 'utf8')), {
      ...(commit === undefined ? {} : { commit }),
      ...(date === undefined ? {} : { date }),
    });
    writeFileSync(join(root, FRONTIERS_JSON), formatFrontiersFile(file));
    console.log(`wrote ${FRONTIERS_JSON} from ${from} (main at ${short(file.commit)}, ${file.date})`);
  }
  if (argv.includes('--check')) {
    const stale = staleDocs(root);
    if (stale.length > 0) {
      console.error(
        `differ from what ${FRONTIERS_JSON} renders (run npx tsx loadtest/sim/render-claims.ts): ${stale.join(', ')}`,
      );
      process.exitCode = 1;
    } else console.log(`up to date with ${FRONTIERS_JSON}`);
    return;
  }
  for (const [file, content] of Object.entries(expectedDocs(root))) {
    writeFileSync(join(root, file), content);
    console.log(`rendered ${file}`);
  }
}

runScript(import.meta.url, main);
