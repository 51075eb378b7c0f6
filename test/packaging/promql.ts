// What the packaging tests need to know about the PromQL inside Grafana dashboards: every query
// (panels, template variables, annotations), the metric names each one reads, and the same
// expression with Grafana's variables replaced so Prometheus' own parser (promtool) can check it.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export interface DashboardQuery {
  dashboard: string;
  /** Where in the dashboard: panel title, variable or annotation name. */
  where: string;
  expr: string;
}

interface PanelLike {
  title?: string;
  type?: string;
  targets?: Array<{ expr?: string }>;
  panels?: PanelLike[];
}

export interface Dashboard {
  uid?: string;
  title?: string;
  panels?: PanelLike[];
  templating?: {
    list?: Array<{ name?: string; type?: string; query?: string | { query?: string }; definition?: string }>;
  };
  annotations?: { list?: Array<{ name?: string; expr?: string }> };
}

export function loadDashboards(dir: string): Array<{ file: string; dashboard: Dashboard }> {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({
      file,
      dashboard: JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as Dashboard,
    }));
}

function allPanels(panels: PanelLike[] = []): PanelLike[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels)]);
}

/** Every PromQL expression of a dashboard, with where it sits. label_values() is unwrapped. */
export function dashboardQueries(file: string, d: Dashboard): DashboardQuery[] {
  const out: DashboardQuery[] = [];
  for (const panel of allPanels(d.panels)) {
    for (const t of panel.targets ?? []) {
      if (t.expr !== undefined)
        out.push({ dashboard: file, where: `panel "${panel.title ?? '?'}"`, expr: t.expr });
    }
  }
  for (const v of d.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : (v.query?.query ?? v.definition ?? '');
    // label_values(<selector>, label) queries the series of <selector>.
    const m = /^label_values\((.*),\s*[a-zA-Z_]\w*\)$/.exec(q.trim());
    out.push({ dashboard: file, where: `variable $${v.name ?? '?'}`, expr: m?.[1] ?? q });
  }
  for (const a of d.annotations?.list ?? []) {
    if (a.expr !== undefined)
      out.push({ dashboard: file, where: `annotation "${a.name ?? '?'}"`, expr: a.expr });
  }
  return out;
}

/** Grafana's variables replaced by plain values, so the expression is pure PromQL. */
export function withoutGrafanaVariables(expr: string): string {
  return expr.replace(/\$\{?(\w+)\}?/g, (_m, name: string) => (name.startsWith('__') ? '5m' : 'x'));
}

const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'offset',
  'bool',
  'inf',
  'nan',
  'atan2',
]);

/**
 * The metric names an expression selects. Strings, label matchers, ranges and grouping label
 * lists are removed first; what remains that is an identifier not called like a function and not
 * a keyword is a metric name.
 */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/(?<![\w.:$])([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    const [, name, call] = m;
    if (name === undefined || call !== undefined || KEYWORDS.has(name.toLowerCase())) continue;
    names.add(name);
  }
  return [...names].sort();
}

/** Names a scrape would show for a metric family of this type. */
export function seriesNames(family: string, type: string): string[] {
  if (type === 'histogram') return [family, `${family}_bucket`, `${family}_sum`, `${family}_count`];
  if (type === 'summary') return [family, `${family}_sum`, `${family}_count`];
  return [family];
}

/** Metric names in Prometheus text exposition: TYPE lines (families, even with no samples yet) and samples. */
export function namesInScrape(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const typed = /^# TYPE (\S+) (\S+)/.exec(line);
    if (typed?.[1] && typed[2]) {
      for (const n of seriesNames(typed[1], typed[2])) names.add(n);
      continue;
    }
    const sample = /^([a-zA-Z_:][\w:]*)[{ ]/.exec(line);
    if (sample?.[1]) names.add(sample[1]);
  }
  return names;
}

/**
 * Series from outside jetscale that panels use, each with its source:
 * - k6's experimental-prometheus-rw output: counters get `_total`, rates `_rate`, trends one
 *   series per stat in K6_PROMETHEUS_RW_TREND_STATS (default p(99) → `_p99`; `make loadtest` adds
 *   p(95)); names are `k6_` +
 *   the built-in metric name (http_reqs, http_req_failed, http_req_duration, vus, checks,
 *   dropped_iterations).
 */
export const EXTERNAL_SERIES: Record<string, string> = {
  k6_http_reqs_total: 'k6 remote write',
  k6_http_req_failed_rate: 'k6 remote write',
  k6_http_req_duration_p95: 'k6 remote write',
  k6_http_req_duration_p99: 'k6 remote write',
  k6_vus: 'k6 remote write',
  k6_checks_rate: 'k6 remote write',
  k6_dropped_iterations_total: 'k6 remote write',
};
