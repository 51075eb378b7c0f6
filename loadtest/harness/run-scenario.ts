// One harness run: wait for a quiet system, replay the profile against the gateway while sampling
// the timeline and injecting the profile's faults, let the backlog drain, audit, judge, and write
// the JSON result and the HTML report. The caller owns the target (start and teardown).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  profileDurationSeconds,
  type Budgets,
  type LoadProfile,
  type ScheduledFault,
} from '../profiles/profiles.js';
import { ThreadedLoadDriver } from '../local/load-driver-thread.js';
import { auditTarget } from './audit.js';
import { FaultInjector } from './faults.js';
import { LiveView } from './live-view.js';
import { renderHtml, terminalSummary } from './report.js';
import { checkPrometheus, fetchSelfMetrics, prometheusVerdicts } from './prometheus-check.js';
import { Sampler } from './sampler.js';
import type { HarnessTarget } from './target.js';
import type { RunResult } from './types.js';
import { judge } from './verdicts.js';

export interface RunScenarioOptions {
  target: HarnessTarget;
  profile: LoadProfile;
  /** Overrides the profile's faults (e.g. none for a pure spike in the demo). */
  faults?: ScheduledFault[];
  budgets?: Partial<Budgets>;
  /** Directory for result.json and report.html (a subdirectory per test id is created). */
  reportDir: string;
  /** Backlog at or under which the consumers count as caught up (default: 2 s of the base rate, at least 20). */
  drainedBacklog?: number;
  /** After the load ends, how long to wait for the backlog to drain before auditing. */
  settleSeconds?: number;
  testId?: string;
  signal?: AbortSignal;
  /** Where progress goes (default stderr). */
  view?: LiveView;
}

export interface RunOutcome {
  result: RunResult;
  resultPath: string;
  reportPath: string;
  summary: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runScenario(options: RunScenarioOptions): Promise<RunOutcome> {
  const { target, signal } = options;
  const profile: LoadProfile = { ...options.profile, faults: options.faults ?? options.profile.faults };
  const budgets: Budgets = { ...profile.budgets, ...options.budgets };
  const testId = options.testId ?? `${profile.name}-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  const totalSeconds = profileDurationSeconds(profile);
  const view = options.view ?? new LiveView({ scenario: profile.name, totalSeconds });
  const drainedBacklog = options.drainedBacklog ?? Math.max(20, Math.round(profile.startRate * 2));
  const startedAtIso = new Date().toISOString();

  // The driver runs on a worker thread: the sampler, the faults and the view below share this
  // thread's event loop, and their stalls must not be measured as the system's latency.
  const driver = new ThreadedLoadDriver({
    profile,
    targetUrl: `${target.gatewayUrl}/events`,
    testId,
    snapshotMs: 100,
    ...(target.gatewayBackends ? { backends: target.gatewayBackends } : {}),
  });
  let phase = 'load';
  const sampler = new Sampler(target, driver, (s) => view.sample(s, phase));
  try {
    await sampler.connect();
  } catch (err) {
    await driver.terminate();
    throw err;
  }
  const faults = new FaultInjector(target, (m) => view.fault(m));
  const abort = (): void => driver.stop();
  signal?.addEventListener('abort', abort, { once: true });
  try {
    view.message(`[harness] ${profile.name}: ${profile.description}`);
    view.message(
      `[harness] ${totalSeconds} s of load, ${profile.faults.length} fault(s) scheduled; gateway ${target.gatewayUrl}; test id ${testId}`,
    );
    const promSelfAtStart = target.prometheus ? await fetchSelfMetrics(target.prometheus.url) : undefined;
    await driver.ready();
    const startedAt = Date.now();
    sampler.start(startedAt);
    driver.start();
    faults.schedule(profile.faults, startedAt);
    await driver.done();
    if (signal?.aborted) throw new Error('run interrupted');

    // Let the consumers finish what was accepted; the drain verdict is measured from the timeline.
    phase = 'drain';
    const settleDeadline = Date.now() + (options.settleSeconds ?? 120) * 1000;
    while (Date.now() < settleDeadline && !signal?.aborted) {
      const latest = sampler.latest();
      if (latest && latest.t > totalSeconds && latest.backlog === 0) break;
      await sleep(500);
    }
    await faults.settle();
    await sampler.stop();
    if (signal?.aborted) throw new Error('run interrupted');

    view.message('[harness] auditing: every accepted event applied exactly once?');
    const audit = await auditTarget(target, 30_000);
    const driverTotals = driver.totals();
    const verdicts = judge({
      profile,
      budgets,
      timeline: sampler.timeline,
      faults: faults.markers,
      driver: driverTotals,
      audit,
      drainedBacklog,
    });
    let prometheus: RunResult['prometheus'];
    if (target.prometheus) {
      view.message('[harness] asking Prometheus: every dashboard panel over the run, alerts, cost');
      const checkStarted = Date.now();
      // One more scrape and rule evaluation, so the last seconds of the run are in.
      await sleep(2 * target.prometheus.intervalSeconds * 1000);
      prometheus = await checkPrometheus({
        url: target.prometheus.url,
        intervalSeconds: target.prometheus.intervalSeconds,
        namespace: target.namespace,
        eventConsumer: target.eventConsumerName,
        deployment: target.consumerDeployment,
        testId,
        loadStartMs: startedAt,
        endMs: Date.now(),
        timeline: sampler.timeline,
        natsOutages: faults.markers
          .filter((f) => f.kind === 'restart-nats' && f.injected)
          .map((f) => ({
            t: f.t,
            seconds: profile.faults.find((p) => p.kind === 'restart-nats')?.durationSeconds ?? 5,
          })),
        ...(promSelfAtStart ? { selfMetricsAtStart: promSelfAtStart } : {}),
      });
      verdicts.push(...prometheusVerdicts(prometheus));
      const answered = prometheus.panels.filter((x) => x.answered).length;
      view.message(
        `[harness] Prometheus answered ${answered} of ${prometheus.panels.length} panels; check took ${((Date.now() - checkStarted) / 1000).toFixed(1)} s`,
      );
    }
    const result: RunResult = {
      scenario: profile.name,
      testId,
      target: target.name,
      startedAt: startedAtIso,
      finishedAt: new Date().toISOString(),
      profile,
      budgets,
      settings: { ...target.settings, 'drained when backlog ≤': drainedBacklog },
      timeline: sampler.timeline,
      faults: faults.markers,
      driver: driverTotals,
      audit,
      verdicts,
      passed: verdicts.every((v) => v.pass),
      ...(prometheus ? { prometheus } : {}),
    };
    const dir = path.join(options.reportDir, testId);
    mkdirSync(dir, { recursive: true });
    const resultPath = path.join(dir, 'result.json');
    const reportPath = path.join(dir, 'report.html');
    writeFileSync(resultPath, `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(reportPath, renderHtml(result));
    return { result, resultPath, reportPath, summary: terminalSummary(result, reportPath) };
  } finally {
    signal?.removeEventListener('abort', abort);
    driver.stop();
    await driver.terminate();
    await faults.settle();
    await sampler.stop();
  }
}
