// The run as Prometheus saw it: after the load, every panel of the shipped dashboard is evaluated
// against the stack's Prometheus over the run's time range (monitoring/panel-proof.ts), the key
// series are compared with what the harness measured itself, alerts are read back from ALERTS,
// and Prometheus' own cost is measured. The result goes into result.json and the report's
// "Prometheus" section, so the picture a user sees in Grafana is the one the report shows.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../hack/stack/tools.js';
import {
  groupByPanel,
  maxOf,
  panelQueries,
  parsePromResponse,
  proveQueries,
  type PanelQuery,
  type Series,
} from '../../monitoring/panel-proof.js';
import { peakAgreement } from './peak-agreement.js';
import type { PrometheusSection, TimelineSample, Verdict } from './types.js';

/** Series a local run cannot have: their exporters are not part of the local stack. */
export const EXTERNAL_SOURCES: Array<{ prefix: string; source: string }> = [
  { prefix: 'k6_', source: "k6's remote write (k6 does not run on the local stack)" },
];

export function externalSource(expr: string): string | undefined {
  return EXTERNAL_SOURCES.find((s) => new RegExp(`\\b${s.prefix}[a-z_]+`).test(expr))?.source;
}

export interface PrometheusCheckOptions {
  url: string;
  intervalSeconds: number;
  /** Dashboard variables: the run's namespace, EventConsumer, scale target, test id. */
  namespace: string;
  eventConsumer: string;
  deployment: string;
  testId: string;
  /** Unix ms when the load started (t = 0 of the timeline) and when the run ended. */
  loadStartMs: number;
  endMs: number;
  timeline: readonly TimelineSample[];
  /** Outage lengths of restart-nats faults, by their time (s). */
  natsOutages: Array<{ t: number; seconds: number }>;
  /** How stale a Prometheus point of an operator gauge may be: poll interval + scrape + slack (default 5 s). */
  lagSeconds?: number;
  /** Prometheus' /metrics at the start of the load (for cost deltas). */
  selfMetricsAtStart?: string;
  dashboardFile?: string;
}

async function promQuery(url: string, query: string, params: Record<string, string>): Promise<Series[]> {
  const endpoint = 'start' in params ? 'query_range' : 'query';
  const res = await fetch(`${url}/api/v1/${endpoint}`, {
    method: 'POST',
    body: new URLSearchParams({ query, ...params }),
    signal: AbortSignal.timeout(30_000),
  });
  return parsePromResponse((await res.json()) as Parameters<typeof parsePromResponse>[0]);
}

export async function fetchSelfMetrics(url: string): Promise<string | undefined> {
  try {
    const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) });
    return res.ok ? await res.text() : undefined;
  } catch {
    return undefined;
  }
}

/** Sum of a metric family's samples (optionally only lines containing `filter`) in exposition text. */
export function sampleSum(text: string | undefined, name: string, filter = ''): number | undefined {
  if (text === undefined) return undefined;
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || !line.includes(filter)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m?.[1] !== name) continue;
    sum = (sum ?? 0) + Number(m[3]);
  }
  return sum;
}

/** A Prometheus series on the timeline's axis (seconds since load start, one value per sample). */
export function onTimeline(
  series: Series[],
  times: readonly number[],
  loadStartMs: number,
): Array<number | null> {
  const byT = new Map<number, number>();
  for (const s of series)
    for (const [ts, v] of s.points) {
      const t = Math.round(ts - loadStartMs / 1000);
      byT.set(t, (byT.get(t) ?? 0) + v);
    }
  return times.map((t) => byT.get(Math.round(t)) ?? null);
}

/** [from, to] runs (seconds since load start) during which a range query had samples. */
export function presence(
  series: Series[],
  loadStartMs: number,
  stepSeconds: number,
): Array<[number, number]> {
  const ts = [...new Set(series.flatMap((s) => s.points.map(([t]) => t - loadStartMs / 1000)))].sort(
    (a, b) => a - b,
  );
  const runs: Array<[number, number]> = [];
  for (const t of ts) {
    const last = runs.at(-1);
    if (last && t - last[1] <= stepSeconds * 1.5) last[1] = t;
    else runs.push([t, t]);
  }
  return runs;
}

export async function checkPrometheus(o: PrometheusCheckOptions): Promise<PrometheusSection> {
  const dashboardFile =
    o.dashboardFile ?? path.join(repoRoot, 'charts', 'jetscale', 'dashboards', 'jetscale.json');
  const dashboard = JSON.parse(readFileSync(dashboardFile, 'utf8')) as Parameters<typeof panelQueries>[0];
  const step = Math.max(1, o.intervalSeconds);
  const start = Math.floor(o.loadStartMs / 1000);
  const end = Math.ceil(o.endMs / 1000);
  const queries: PanelQuery[] = panelQueries(dashboard);
  const proofStarted = performance.now();
  const proofs = await proveQueries({
    prometheusUrl: o.url,
    queries,
    vars: {
      values: { namespace: o.namespace, name: o.eventConsumer, deployment: o.deployment, testid: o.testId },
      // Grafana: max(4 × scrape interval, step + scrape interval).
      rateIntervalSeconds: Math.max(4 * o.intervalSeconds, step + o.intervalSeconds),
      intervalSeconds: step,
      rangeSeconds: end - start,
    },
    start,
    end,
    stepSeconds: step,
  });
  const proofSeconds = (performance.now() - proofStarted) / 1000;
  const panels = groupByPanel(proofs).map((p) => {
    const external = p.queries.map((q) => externalSource(q.expr));
    return {
      panel: p.panel,
      answered: p.answered,
      // A panel is answerable here when one of its queries reads only series the local stack has.
      localSources: external.some((e) => e === undefined),
      queries: p.queries.map((q, i) => ({
        refId: q.refId,
        legend: q.legend,
        promql: q.promql,
        series: q.series.length,
        samples: q.series.reduce((n, s) => n + s.points.length, 0),
        max: maxOf(q.series) ?? null,
        ...(external[i] ? { externalSource: external[i] } : {}),
        ...(q.error ? { error: q.error } : {}),
        ...(q.emptyAtEnd ? { emptyAtEnd: true } : {}),
      })),
    };
  });

  const find = (panel: string, refId: string): Series[] =>
    proofs.find((q) => q.panel === panel && q.refId === refId)?.series ?? [];
  const times = o.timeline.map((s) => s.t);
  const backlog = find('Backlog vs per-replica target', 'A');
  const desired = find('Replicas: desired / current / ready', 'A');
  const current = find('Replicas: desired / current / ready', 'B');
  // By metric, not position: the panel also has a line per consumer (spec.consumers).
  const ready =
    proofs.find(
      (q) => q.panel === 'Replicas: desired / current / ready' && q.expr.includes('jetscale_ready_replicas'),
    )?.series ?? [];
  const arrival = find('Arrival vs processing rate', 'A');
  const applied = find('Arrival vs processing rate', 'C');

  // Prometheus' peaks against the harness's, fair to the operator's poll lag and to a failover gap
  // (peak-agreement.ts): the backlog and desired replicas exist in Prometheus only while a leader exports.
  const lagSeconds = o.lagSeconds ?? 5;
  const agreement = [
    { name: 'max desired replicas', series: desired, value: (s: TimelineSample) => s.desiredReplicas },
    { name: 'max ready replicas', series: ready, value: (s: TimelineSample) => s.readyReplicas },
    { name: 'peak backlog', series: backlog, value: (s: TimelineSample) => s.backlog },
  ].map((a) =>
    peakAgreement({
      name: a.name,
      harness: o.timeline.map((s) => ({ t: s.t, value: a.value(s) })),
      prometheusAtSamples: onTimeline(a.series, times, o.loadStartMs),
      prometheusPeak: maxOf(a.series),
      lagSeconds,
      tolerance: 0.05,
    }),
  );

  // Alerts as Prometheus evaluated them (the rules of monitoring/alerts.ts, demo timings).
  const alertSeries = await promQuery(o.url, `ALERTS{alertstate="firing", namespace="${o.namespace}"}`, {
    start: String(start),
    end: String(end),
    step: `${step}s`,
  }).catch(() => [] as Series[]);
  const alertNames = [...new Set(alertSeries.map((s) => s.labels.alertname ?? '?'))].sort();
  const alerts = alertNames.map((alert) => {
    const runs = presence(
      alertSeries.filter((s) => s.labels.alertname === alert),
      o.loadStartMs,
      step,
    );
    return { alert, firing: runs, firingAtEnd: runs.some(([, to]) => to >= end - start - 2 * step) };
  });
  const outages = o.natsOutages.map((n) => {
    const during = alerts.filter((a) =>
      a.firing.some(([from, to]) => from <= n.t + n.seconds + 30 && to >= n.t),
    );
    return {
      t: n.t,
      seconds: n.seconds,
      alertsFiring: during.map((a) => a.alert),
      resolvedAfter: during.every((a) => !a.firingAtEnd),
    };
  });

  // What Prometheus itself cost over the run (its own /metrics, read at the start and now).
  const selfNow = await fetchSelfMetrics(o.url);
  const delta = (name: string): number | null => {
    const a = sampleSum(o.selfMetricsAtStart, name);
    const b = sampleSum(selfNow, name);
    return a === undefined || b === undefined ? null : b - a;
  };
  const seconds = Math.max(1, end - start);
  const cpu = delta('process_cpu_seconds_total');
  const appended = delta('prometheus_tsdb_head_samples_appended_total');
  const ruleSeconds = delta('prometheus_rule_group_duration_seconds_sum');
  const ruleCount = delta('prometheus_rule_group_duration_seconds_count');
  const targets = await fetch(`${o.url}/api/v1/targets?state=active`, { signal: AbortSignal.timeout(10_000) })
    .then(
      async (r) =>
        ((await r.json()) as { data?: { activeTargets?: Array<{ lastScrapeDuration?: number }> } }).data,
    )
    .catch(() => undefined);
  const scrapeDurations = (targets?.activeTargets ?? []).map((t) => t.lastScrapeDuration ?? 0);
  const cost = {
    scrapeIntervalSeconds: o.intervalSeconds,
    targetsAtEnd: scrapeDurations.length,
    meanLastScrapeMs:
      scrapeDurations.length > 0
        ? (1000 * scrapeDurations.reduce((a, b) => a + b, 0)) / scrapeDurations.length
        : null,
    headSeries: sampleSum(selfNow, 'prometheus_tsdb_head_series') ?? null,
    samplesPerSecond: appended === null ? null : appended / seconds,
    ruleEvaluationMsPerRound: ruleSeconds === null || !ruleCount ? null : (1000 * ruleSeconds) / ruleCount,
    cpuSecondsPerSecond: cpu === null ? null : cpu / seconds,
    residentMemoryMiB: (sampleSum(selfNow, 'process_resident_memory_bytes') ?? NaN) / 2 ** 20 || null,
    panelQueries: queries.length,
    panelProofSeconds: proofSeconds,
  };

  return {
    url: o.url,
    range: { start, end, stepSeconds: step },
    panels,
    agreement,
    alerts,
    natsOutages: outages,
    cost,
    charts: {
      times,
      backlog: onTimeline(backlog, times, o.loadStartMs),
      desired: onTimeline(desired, times, o.loadStartMs),
      current: onTimeline(current, times, o.loadStartMs),
      arrival: onTimeline(arrival, times, o.loadStartMs),
      applied: onTimeline(applied, times, o.loadStartMs),
    },
  };
}

/** The Prometheus section as verdicts: panels answered, figures agreeing, alerts fired for outages. */
export function prometheusVerdicts(p: PrometheusSection): Verdict[] {
  const answerable = p.panels.filter((x) => x.localSources);
  const unanswered = answerable.filter((x) => !x.answered).map((x) => x.panel);
  const external = p.panels.filter((x) => !x.localSources).map((x) => x.panel);
  const verdicts: Verdict[] = [
    {
      name: 'dashboard panels answered by Prometheus',
      value: answerable.length - unanswered.length,
      unit: `of ${answerable.length}`,
      budget: 'all',
      pass: answerable.length > 0 && unanswered.length === 0,
      detail:
        (unanswered.length > 0 ? `no data: ${unanswered.join(', ')}. ` : '') +
        (external.length > 0
          ? `Not answerable on the local stack (no exporter here): ${external.join(', ')}.`
          : ''),
    },
    ...p.agreement.map((a) => ({
      name: `Prometheus agrees: ${a.name}`,
      value: a.prometheus,
      unit: '',
      budget: `within ${a.tolerance} of the harness (${a.harness ?? '—'})`,
      pass: a.pass,
      detail:
        a.detail ??
        `harness measured ${a.harness ?? 'nothing'}, Prometheus answered ${a.prometheus ?? 'nothing'}`,
    })),
  ];
  for (const o of p.natsOutages) {
    verdicts.push({
      name: `alert fired during the NATS outage at ${o.t} s and resolved after`,
      value: o.alertsFiring.length,
      unit: 'alerts',
      budget: '≥ 1, none firing at the end',
      pass: o.alertsFiring.length > 0 && o.resolvedAfter,
      detail: o.alertsFiring.length > 0 ? `firing: ${o.alertsFiring.join(', ')}` : 'no alert fired',
    });
  }
  return verdicts;
}
