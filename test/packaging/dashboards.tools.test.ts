// The Grafana dashboards shipped in charts/jetscale/dashboards: well-formed for Grafana and the
// kube-prometheus-stack sidecar, every query parsed by Prometheus' own parser (promtool), and
// every metric a query reads is one the operator or the workloads define (their source and
// README), or a documented k6 remote-write series. dashboards.int.test.ts
// checks the same names against a real scrape of the running processes.
import { jest } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  EXTERNAL_SERIES,
  dashboardQueries,
  loadDashboards,
  metricNames,
  seriesNames,
  withoutGrafanaVariables,
} from './promql.js';
import { toolPath } from '../../hack/stack/tools.js';
import { operatorChart, repoRoot, run } from './support.js';
import { testScratchDir } from '../scratch.js';

// helm, promtool and the scripts are real processes; on a busy 2-core machine they need more than 5 s.
jest.setTimeout(60_000);

/** Metric families the operator defines in code (prom-client constructors). */
function operatorDefinedSeries(): Set<string> {
  const src = readFileSync(path.join(repoRoot, 'operator', 'src', 'observability', 'metrics.ts'), 'utf8');
  const names = new Set<string>();
  for (const m of src.matchAll(/new (Counter|Gauge|Histogram|Summary)\(\{\s*name: '([a-z_:][a-z0-9_:]*)'/g)) {
    const [, type, name] = m;
    if (type && name) for (const n of seriesNames(name, type.toLowerCase())) names.add(n);
  }
  return names;
}

/** Metric families the workloads document (workloads/README.md metric tables: `name` | type). */
function workloadsDocumentedSeries(): Set<string> {
  const readme = readFileSync(path.join(repoRoot, 'workloads', 'README.md'), 'utf8');
  const names = new Set<string>();
  for (const m of readme.matchAll(
    /^\|\s*`(jetscale_[a-z0-9_]+)`\s*\|\s*(counter|gauge|histogram|summary)\s*\|/gm,
  )) {
    const [, name, type] = m;
    if (name && type) for (const n of seriesNames(name, type)) names.add(n);
  }
  return names;
}

const dashboards = loadDashboards(path.join(operatorChart, 'dashboards'));
const queries = dashboards.flatMap(({ file, dashboard }) => dashboardQueries(file, dashboard));

describe('Grafana dashboards', () => {
  it('exist and have unique uids and a Prometheus datasource variable', () => {
    expect(dashboards.length).toBeGreaterThan(0);
    const uids = dashboards.map((d) => d.dashboard.uid);
    expect(new Set(uids).size).toBe(uids.length);
    for (const { dashboard } of dashboards) {
      const vars = dashboard.templating?.list ?? [];
      expect(vars.find((v) => v.name === 'datasource')?.type).toBe('datasource');
    }
  });

  it('let the user pick namespace and EventConsumer name, and every jetscale panel filters by them', () => {
    const main = dashboards.find((d) => d.dashboard.uid === 'jetscale-overview');
    expect(main).toBeDefined();
    const vars = (main?.dashboard.templating?.list ?? []).map((v) => v.name);
    expect(vars).toEqual(expect.arrayContaining(['namespace', 'name']));
    for (const q of queries.filter(
      (q) =>
        q.dashboard === main?.file &&
        /jetscale_(backlog|desired|current|ready|arrival|processing|redelivery|fallback|scale)_/.test(q.expr),
    )) {
      if (q.where.startsWith('variable')) continue;
      expect(`${q.where}: ${q.expr}`).toMatch(/namespace=~"\$namespace", name=~"\$name"/);
    }
  });

  it('cover the panels users need', () => {
    const text = JSON.stringify(dashboards.map((d) => d.dashboard));
    for (const needle of [
      'jetscale_backlog_messages',
      'jetscale_desired_replicas',
      'jetscale_current_replicas',
      'jetscale_ready_replicas',
      'jetscale_scale_events_total',
      'jetscale_arrival_rate_messages_per_second',
      'jetscale_processing_rate_messages_per_second',
      'jetscale_redelivery_rate_messages_per_second',
      'jetscale_consumer_end_to_end_latency_seconds_bucket',
      'jetscale_consumer_redeliveries_total',
      'jetscale_consumer_dead_lettered_total',
      'jetscale_gateway_http_requests_total',
      'jetscale_reconcile_duration_seconds_bucket',
      'jetscale_errors_total',
      'jetscale_leader',
      'k6_http_reqs_total',
    ]) {
      expect(text).toContain(needle);
    }
    const main = dashboards.find((d) => d.dashboard.uid === 'jetscale-overview')?.dashboard;
    const annotationExprs = (main?.annotations?.list ?? []).map((a) => a.expr ?? '');
    expect(annotationExprs.some((e) => e.includes('jetscale_scale_events_total'))).toBe(true);
    const rows = (main?.panels ?? []).filter((p) => p.type === 'row').map((p) => p.title ?? '');
    expect(rows.some((r) => /load test/i.test(r))).toBe(true);
  });

  it("lay panels out on Grafana's 24-column grid without overlaps", () => {
    type Box = { title?: string; gridPos?: { x: number; y: number; w: number; h: number } };
    for (const { dashboard } of dashboards) {
      const boxes = (dashboard.panels ?? []) as Box[];
      for (const b of boxes) {
        expect(b.gridPos).toBeDefined();
        const g = b.gridPos ?? { x: 0, y: 0, w: 0, h: 0 };
        expect({ title: b.title, fits: g.x >= 0 && g.w > 0 && g.x + g.w <= 24 && g.h > 0 }).toEqual({
          title: b.title,
          fits: true,
        });
      }
      const overlaps = boxes.flatMap((a, i) =>
        boxes.slice(i + 1).flatMap((b) => {
          const p = a.gridPos ?? { x: 0, y: 0, w: 0, h: 0 };
          const q = b.gridPos ?? { x: 0, y: 0, w: 0, h: 0 };
          const hit = p.x < q.x + q.w && q.x < p.x + p.w && p.y < q.y + q.h && q.y < p.y + p.h;
          return hit ? [`${a.title} / ${b.title}`] : [];
        }),
      );
      expect(overlaps).toEqual([]);
    }
  });

  it('contain only PromQL that Prometheus parses (promtool check rules)', async () => {
    const promtool = toolPath('promtool');
    expect(queries.length).toBeGreaterThan(20);
    // One recording rule per query: `promtool check rules` parses each expression offline.
    const rules = {
      groups: [
        {
          name: 'dashboards',
          rules: queries.map((q, i) => ({
            record: `dashboard_query_${i}`,
            expr: withoutGrafanaVariables(q.expr),
          })),
        },
      ],
    };
    const file = path.join(testScratchDir('jetscale-promql-'), 'rules.yaml');
    writeFileSync(file, JSON.stringify(rules));
    const r = await run(promtool, ['check', 'rules', file]);
    const failing = [...(r.stdout + r.stderr).matchAll(/rule (\d+)/g)].map((m) => queries[Number(m[1])]);
    expect({ code: r.code, failing, output: r.code === 0 ? '' : r.stdout + r.stderr }).toEqual({
      code: 0,
      failing: [],
      output: '',
    });
    expect(r.stdout).toContain(`SUCCESS: ${queries.length} rules found`);
  });

  it('catches a broken expression (the parser check can fail)', async () => {
    const file = path.join(testScratchDir('jetscale-promql-'), 'rules.yaml');
    writeFileSync(
      file,
      JSON.stringify({ groups: [{ name: 'g', rules: [{ record: 'r', expr: 'sum by (le (rate(x[5m]))' }] }] }),
    );
    const r = await run(toolPath('promtool'), ['check', 'rules', file]);
    expect(r.code).not.toBe(0);
  });

  it('query only metrics the operator and workloads define, or documented external series', () => {
    const defined = new Set([
      ...operatorDefinedSeries(),
      ...workloadsDocumentedSeries(),
      ...Object.keys(EXTERNAL_SERIES),
    ]);
    expect(defined.size).toBeGreaterThan(30);
    const unknown = queries.flatMap((q) =>
      metricNames(q.expr)
        .filter((n) => !defined.has(n))
        .map((n) => `${n} (${q.dashboard} ${q.where})`),
    );
    expect(unknown).toEqual([]);
  });
});

describe('metricNames', () => {
  it.each([
    [
      'sum by (le, route) (rate(jetscale_gateway_http_request_duration_seconds_bucket{namespace=~"$namespace"}[$__rate_interval]))',
      ['jetscale_gateway_http_request_duration_seconds_bucket'],
    ],
    [
      'max(jetscale_work_queue_depth * on (pod) group_left jetscale_leader)',
      ['jetscale_leader', 'jetscale_work_queue_depth'],
    ],
    ['count(up{job="a"} == 0) or vector(0)', ['up']],
    ['x / clamp_min(y, 1e-9) offset 5m', ['x', 'y']],
    ['histogram_quantile(0.99, sum by (le) (rate(a_bucket[5m]))) > bool 1', ['a_bucket']],
  ])('finds the metrics in %s', (expr, names) => {
    expect(metricNames(expr)).toEqual(names);
  });
});
