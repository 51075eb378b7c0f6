// The scaling benchmark: every trace × policy × seed through the simulator, medians over seeds,
// a table with jetscale/KEDA ratios, the targets checked, and JSON + a self-contained HTML report in
// reports/bench-scaling/. Run after `npm run build`:
//   node dist/loadtest/sim/bench.js [--seeds 5] [--out reports/bench-scaling] [--recorded file.json]

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MetricSummary, RatioColumn, TraceSummary } from './report.js';
import { alignRows, ratio, renderHtml, renderTable } from './report.js';
import type { PolicyName } from './scenarios.js';
import { builtInTraces, policyNames, runScenario, sensitivityPolicyNames, shared } from './scenarios.js';
import type { RunResult, WorkloadModel } from './simulator.js';
import { defaultWorkload } from './simulator.js';
import type { Trace } from './traces.js';
import { loadRecordedTrace } from './traces.js';

interface BenchOptions {
  seeds: number;
  outDir: string;
  recordedPath: string | undefined;
}

function parseArgs(argv: string[]): BenchOptions {
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const seeds = Number(value('--seeds') ?? '7');
  if (!Number.isInteger(seeds) || seeds < 1) throw new Error('--seeds must be a whole number ≥ 1');
  return { seeds, outDir: value('--out') ?? 'reports/bench-scaling', recordedPath: value('--recorded') };
}

/** Finds the sample recording whether running from the source tree, from dist/, or from the repo root. */
function findRecordedSample(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [
    resolve('loadtest/sim/traces/recorded-sample.json'),
    join(here, 'traces/recorded-sample.json'),
    join(here, '../../../loadtest/sim/traces/recorded-sample.json'),
  ];
  return candidates.find((p) => existsSync(p));
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
    maxWaitSeconds: m((r) => r.maxWaitSeconds),
    peakBacklog: m((r) => r.peakBacklog),
    replicaSeconds: m((r) => r.replicaSeconds),
    scaleEvents: m((r) => r.scaleEvents),
    secondsOverObjective: m((r) => r.secondsOverObjective),
  };
}

/** p99 differences below one simulator tick are below what the simulator can resolve. */
const P99_RESOLUTION_SECONDS = 0.25;

function p99NotWorse(a: number, b: number, slack: number): boolean {
  return a <= b * (1 + slack) || a - b < P99_RESOLUTION_SECONDS;
}

/** The targets from the brief, checked on the medians; each line says met or missed and by how much. */
export function evaluateTargets(summaries: TraceSummary[]): string[] {
  const byTrace = new Map(summaries.map((s) => [s.trace, s.medians]));
  const verdicts: string[] = [];
  const spike = byTrace.get('spike');
  const keda = spike?.['keda'];
  const jet = spike?.['jetscale'];
  if (keda !== undefined && jet !== undefined) {
    const p99Factor = keda.p99WaitSeconds / jet.p99WaitSeconds;
    const rsFactor = jet.replicaSeconds / keda.replicaSeconds;
    const met = p99Factor >= 5 && rsFactor <= 1.2;
    verdicts.push(
      `${met ? 'MET' : 'MISSED'} spike: jetscale p99 ${p99Factor.toFixed(2)}x lower than KEDA (target ≥ 5x) at ${rsFactor.toFixed(2)}x its replica-seconds (target ≤ 1.2x)`,
    );
    const oracle = spike?.['oracle'];
    if (oracle !== undefined) {
      // The oracle sees the spike the instant it starts, so no reacting policy can beat its p99:
      // KEDA/oracle is the largest factor any of them can reach with this pod start-up.
      const bound = keda.p99WaitSeconds / oracle.p99WaitSeconds;
      verdicts.push(
        `BOUND spike: the oracle (knows the rate and backlog at every instant, no foresight) gets p99 ${oracle.p99WaitSeconds.toFixed(2)} s, ${bound.toFixed(2)}x lower than KEDA: the 5x target is ${bound >= 5 ? 'reachable' : 'out of reach for any policy that reacts'} with this start-up; jetscale's p99 is ${(jet.p99WaitSeconds / oracle.p99WaitSeconds).toFixed(2)}x the oracle's`,
      );
    }
  }
  const diurnal = byTrace.get('diurnal');
  const dk = diurnal?.['keda'];
  const dj = diurnal?.['jetscale'];
  if (dk !== undefined && dj !== undefined) {
    const saving = 1 - dj.replicaSeconds / dk.replicaSeconds;
    const met = saving >= 0.2 && p99NotWorse(dj.p99WaitSeconds, dk.p99WaitSeconds, 0);
    verdicts.push(
      `${met ? 'MET' : 'MISSED'} diurnal: jetscale uses ${(saving * 100).toFixed(0)}% fewer replica-seconds than KEDA (target ≥ 20%) with p99 ${dj.p99WaitSeconds.toFixed(2)} s vs ${dk.p99WaitSeconds.toFixed(2)} s (target: equal or better)`,
    );
  }
  for (const s of summaries) {
    const reactive = s.medians['jetscale'];
    const predictive = s.medians['jetscale-predictive'];
    if (reactive === undefined || predictive === undefined) continue;
    const rs = predictive.replicaSeconds / reactive.replicaSeconds;
    const p99 = `p99 ${predictive.p99WaitSeconds.toFixed(2)} vs ${reactive.p99WaitSeconds.toFixed(2)} s, replica-seconds ${ratio(predictive.replicaSeconds, reactive.replicaSeconds)}x`;
    if (s.trace === 'diurnal' || s.trace === 'ramp') {
      // Beats: better on one of p99 / replica-seconds, and no more than 2 % worse on the other.
      const betterRs = rs < 1 && p99NotWorse(predictive.p99WaitSeconds, reactive.p99WaitSeconds, 0.02);
      const betterP99 =
        predictive.p99WaitSeconds < reactive.p99WaitSeconds - P99_RESOLUTION_SECONDS && rs <= 1.02;
      verdicts.push(
        `${betterRs || betterP99 ? 'MET' : 'MISSED'} forecast beats reactive on ${s.trace}: ${p99}`,
      );
    } else {
      const ok = rs <= 1.05 && p99NotWorse(predictive.p99WaitSeconds, reactive.p99WaitSeconds, 0.05);
      verdicts.push(`${ok ? 'MET' : 'MISSED'} forecast not > 5% worse than reactive on ${s.trace}: ${p99}`);
    }
  }
  return verdicts;
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
export function startupSensitivity(seeds: number[]): StartupRow[] {
  const rows: StartupRow[] = [];
  for (const variant of startupVariants) {
    const workload: WorkloadModel = { ...defaultWorkload, startupSeconds: variant.startup };
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
  const seeds = Array.from({ length: options.seeds }, (_, i) => i + 1);
  const recordedPath = options.recordedPath ?? findRecordedSample();
  const recorded: Trace | undefined =
    recordedPath === undefined ? undefined : loadRecordedTrace(recordedPath);
  if (recorded === undefined)
    console.log('note: no recorded trace found (pass --recorded <file.json>); skipping it');

  const policies: PolicyName[] = [...policyNames];
  const allPolicies: PolicyName[] = [...policyNames, ...sensitivityPolicyNames];
  const traceNames = [...builtInTraces(1).map((t) => t.name), ...(recorded ? [recorded.name] : [])];
  const total = traceNames.length * allPolicies.length * seeds.length;
  const runs = new Map<string, RunResult[]>();
  const descriptions = new Map<string, string>();
  let done = 0;
  let simulatedSeconds = 0;
  for (const seed of seeds) {
    const traces = [...builtInTraces(seed), ...(recorded ? [recorded] : [])];
    for (const trace of traces) {
      if (!descriptions.has(trace.name)) descriptions.set(trace.name, trace.description);
      for (const policy of allPolicies) {
        const t0 = performance.now();
        const result = runScenario(trace, policy, seed);
        const ms = performance.now() - t0;
        done++;
        simulatedSeconds += result.durationSeconds;
        const key = `${trace.name}|${policy}`;
        runs.set(key, [...(runs.get(key) ?? []), result]);
        console.log(
          `[${String(done).padStart(3)}/${total}] ${trace.name.padEnd(8)} ${policy.padEnd(20)} seed ${seed}: p99 ${result.p99WaitSeconds.toFixed(2)} s, ${Math.round(result.replicaSeconds)} replica-s (${(result.durationSeconds / 3600).toFixed(1)} h simulated in ${ms.toFixed(0)} ms)`,
        );
      }
    }
  }

  const summaries: TraceSummary[] = traceNames.map((name) => {
    const medians: Record<string, MetricSummary> = {};
    const chartRuns: Record<string, RunResult> = {};
    for (const policy of policies) {
      const list = runs.get(`${name}|${policy}`) ?? [];
      medians[policy] = summarize(list);
      const first = list[0];
      if (first !== undefined) chartRuns[policy] = first;
    }
    return { trace: name, description: descriptions.get(name) ?? '', medians, chartRuns };
  });

  const ratios: RatioColumn[] = [
    ['jetscale', 'keda'],
    ['jetscale-predictive', 'keda'],
    ['oracle', 'keda'],
    ['jetscale', 'oracle'],
    ['jetscale-predictive', 'jetscale'],
  ];
  const table = renderTable(summaries, policies, ratios);
  const startupRows = startupSensitivity(seeds);
  const startupTable = renderStartupTable(startupRows);
  const verdicts = evaluateTargets(summaries);
  // KEDA's own lagThreshold default (10) instead of the shared 100: not part of the targets, shown
  // so the comparison does not hinge on one KEDA setting.
  const sensitivity = traceNames
    .map((name) => {
      const lag10 = summarize(runs.get(`${name}|keda-lag10`) ?? []);
      const jet = summaries.find((s) => s.trace === name)?.medians['jetscale'];
      return `  ${name.padEnd(9)} keda lagThreshold 10: p99 ${lag10.p99WaitSeconds.toFixed(2)} s, ${Math.round(lag10.replicaSeconds)} replica-s (jetscale p99 ${ratio(jet?.p99WaitSeconds ?? NaN, lag10.p99WaitSeconds)}x, replica-s ${ratio(jet?.replicaSeconds ?? NaN, lag10.replicaSeconds)}x)`;
    })
    .join('\n');
  console.log(
    `\nMedians over ${seeds.length} seed(s); ratios are policy / KEDA (and predictive / reactive):\n`,
  );
  console.log(table);
  console.log('\nKEDA with lagThreshold 10 (its default), medians; ratios are jetscale / this:');
  console.log(sensitivity);
  console.log(
    "\nSpike trace by pod start-up delay, medians (oracle: no foresight, the floor for any reacting policy; oracle-poll: the same seen only at jetscale's 5 s polls with 1 s staleness; clairvoyant: sees the trace one start-up ahead):\n",
  );
  console.log(startupTable);
  console.log('\nTargets:');
  for (const v of verdicts) console.log(`  ${v}`);

  const settings = {
    seeds,
    shared,
    workload: defaultWorkload,
    kedaModel:
      'KEDA nats-jetstream + HPA defaults (loadtest/sim/keda-hpa.ts), lagThreshold = backlogPerReplica',
    tickSeconds: 0.25,
    waitDefinition: 'arrival → ack, per message (fluid cohorts); messages left at the end count at their age',
    recordedTrace: recordedPath ?? null,
  };
  mkdirSync(options.outDir, { recursive: true });
  const command = `node dist/loadtest/sim/bench.js ${process.argv.slice(2).join(' ')}`.trim();
  writeFileSync(
    join(options.outDir, 'results.json'),
    `${JSON.stringify(
      {
        command,
        settings,
        verdicts,
        medians: Object.fromEntries(summaries.map((s) => [s.trace, s.medians])),
        spikeByStartup: startupRows,
        kedaLagThreshold10Medians: Object.fromEntries(
          traceNames.map((name) => [name, summarize(runs.get(`${name}|keda-lag10`) ?? [])]),
        ),
        runs: [...runs.values()].flat().map(({ timeline: _timeline, ...metrics }) => metrics),
      },
      null,
      2,
    )}\n`,
  );
  writeFileSync(
    join(options.outDir, 'index.html'),
    renderHtml({
      title: 'jetscale scaling benchmark (simulated)',
      command,
      settings,
      summaries,
      policies,
      verdicts,
      table,
      extras: [
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
    `\nWrote ${join(options.outDir, 'results.json')} and ${join(options.outDir, 'index.html')} — ${(simulatedSeconds / 3600).toFixed(0)} simulated hours in ${elapsed.toFixed(1)} s`,
  );
}

const invokedDirectly =
  process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) main();
