// Every dashboard panel proven against a real Prometheus: after a run, each query of each panel
// (Grafana's variables substituted for the run's namespace and EventConsumer) is evaluated over the
// run's time range; a panel is answered when its queries return data. The series come back too,
// so the harness can compare them with what it measured itself and draw them in its report.
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';

export interface PanelQuery {
  panel: string;
  refId: string;
  legend: string;
  expr: string;
  instant: boolean;
}

interface PanelLike {
  title?: string;
  type?: string;
  targets?: Array<{ expr?: string; refId?: string; legendFormat?: string; instant?: boolean }>;
  panels?: PanelLike[];
}

/** Every query of every panel (rows' nested panels included), in dashboard order. */
export function panelQueries(dashboard: Pick<Dashboard, 'panels'>): PanelQuery[] {
  const walk = (panels: PanelLike[]): PanelLike[] => panels.flatMap((p) => [p, ...walk(p.panels ?? [])]);
  return walk((dashboard.panels ?? []) as PanelLike[]).flatMap((p) =>
    (p.targets ?? []).flatMap((t) =>
      t.expr === undefined
        ? []
        : [
            {
              panel: p.title ?? '?',
              refId: t.refId ?? '?',
              legend: t.legendFormat ?? '',
              expr: t.expr,
              instant: t.instant ?? false,
            },
          ],
    ),
  );
}

export interface Variables {
  /** Dashboard variables by name (namespace, name, deployment, testid): exact values. */
  values: Record<string, string>;
  /** Seconds for $__rate_interval, $__interval and $__range. */
  rateIntervalSeconds: number;
  intervalSeconds: number;
  rangeSeconds: number;
}

const regexEscape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Grafana's substitution: `$var` / `${var}` become the value (regex-escaped, as Grafana does for a
 * single value in a `=~` matcher), the built-in intervals become durations. An unknown variable
 * throws, so a panel cannot silently query for a literal "$foo".
 */
export function substituteVariables(expr: string, vars: Variables): string {
  return expr.replace(/\$\{?(\w+)\}?/g, (_m, name: string) => {
    if (name === '__rate_interval') return `${Math.max(1, Math.round(vars.rateIntervalSeconds))}s`;
    if (name === '__interval') return `${Math.max(1, Math.round(vars.intervalSeconds))}s`;
    if (name === '__range') return `${Math.max(1, Math.round(vars.rangeSeconds))}s`;
    const value = vars.values[name];
    if (value === undefined) throw new Error(`no value for dashboard variable $${name} in: ${expr}`);
    return regexEscape(value);
  });
}

export interface Series {
  labels: Record<string, string>;
  /** [unix seconds, value] in time order; NaN values are kept out. */
  points: Array<[number, number]>;
}

export interface QueryProof extends PanelQuery {
  promql: string;
  series: Series[];
  /** Set when Prometheus refused the query or could not be reached. */
  error?: string;
  /** An instant query (a stat panel's) that had no data at the run's end: `series` then holds the
   *  same expression over the whole run, so one missed scrape at the end (a stalled exporter, the
   *  operator pod that had just lost its Lease) does not leave the panel unproven. */
  emptyAtEnd?: boolean;
}

export interface PanelProof {
  panel: string;
  queries: QueryProof[];
  /** At least one query returned a sample. */
  answered: boolean;
}

export function groupByPanel(queries: QueryProof[]): PanelProof[] {
  const panels = new Map<string, QueryProof[]>();
  for (const q of queries) panels.set(q.panel, [...(panels.get(q.panel) ?? []), q]);
  return [...panels.entries()].map(([panel, qs]) => ({
    panel,
    queries: qs,
    answered: qs.some((q) => q.series.some((s) => s.points.length > 0)),
  }));
}

interface PromResponse {
  status: string;
  error?: string;
  data?: {
    resultType: string;
    result: Array<{
      metric: Record<string, string>;
      values?: Array<[number, string]>;
      value?: [number, string];
    }>;
  };
}

/** Parses a /api/v1/query or /api/v1/query_range answer into series; throws with Prometheus' error. */
export function parsePromResponse(body: PromResponse): Series[] {
  if (body.status !== 'success' || body.data === undefined)
    throw new Error(`prometheus: ${body.error ?? body.status}`);
  if (body.data.resultType === 'scalar' || body.data.resultType === 'string') return [];
  return body.data.result.map((r) => ({
    labels: r.metric,
    points: (r.values ?? (r.value ? [r.value] : []))
      .map(([t, v]): [number, number] => [t, Number(v)])
      .filter(([, v]) => !Number.isNaN(v)),
  }));
}

export interface ProveOptions {
  prometheusUrl: string;
  queries: PanelQuery[];
  vars: Variables;
  /** Unix seconds. */
  start: number;
  end: number;
  stepSeconds: number;
}

/**
 * Evaluates every query: range queries over [start, end], instant ones at end (as Grafana does). An
 * instant query with no data at the end is evaluated again over [start, end] (emptyAtEnd): a stat
 * panel shows one instant, and whether its query works is a question about the whole run.
 */
export async function proveQueries(options: ProveOptions): Promise<QueryProof[]> {
  const evaluate = async (promql: string, instant: boolean): Promise<Series[]> => {
    const params = new URLSearchParams({ query: promql });
    let endpoint = 'query';
    if (instant) params.set('time', String(options.end));
    else {
      endpoint = 'query_range';
      params.set('start', String(options.start));
      params.set('end', String(options.end));
      params.set('step', `${options.stepSeconds}s`);
    }
    const res = await fetch(`${options.prometheusUrl}/api/v1/${endpoint}`, {
      method: 'POST',
      body: params,
      signal: AbortSignal.timeout(30_000),
    });
    return parsePromResponse((await res.json()) as PromResponse);
  };
  const out: QueryProof[] = [];
  for (const q of options.queries) {
    const promql = substituteVariables(q.expr, options.vars);
    try {
      const series = await evaluate(promql, q.instant);
      if (q.instant && !series.some((s) => s.points.length > 0))
        out.push({ ...q, promql, series: await evaluate(promql, false), emptyAtEnd: true });
      else out.push({ ...q, promql, series });
    } catch (err) {
      out.push({ ...q, promql, series: [], error: err instanceof Error ? err.message : String(err) });
    }
  }
  return out;
}

/** The largest sample of any series a query returned (undefined: no data). */
export function maxOf(series: Series[]): number | undefined {
  let max: number | undefined;
  for (const s of series) for (const [, v] of s.points) if (max === undefined || v > max) max = v;
  return max;
}

/** Agreement within a relative tolerance (at least `absolute` apart allowed, for small counts). */
export function agrees(measured: number, fromPrometheus: number, relative: number, absolute = 0): boolean {
  return Math.abs(measured - fromPrometheus) <= Math.max(absolute, relative * Math.abs(measured));
}
