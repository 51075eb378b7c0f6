import { externalSource, onTimeline, presence, prometheusVerdicts, sampleSum } from './prometheus-check.js';
import type { PrometheusSection } from './types.js';

describe('prometheus-check helpers', () => {
  it('sums a metric family in exposition text', () => {
    const text = [
      '# TYPE process_cpu_seconds_total counter',
      'process_cpu_seconds_total 1.5',
      'prometheus_rule_group_duration_seconds_sum{rule_group="a"} 0.2',
      'prometheus_rule_group_duration_seconds_sum{rule_group="b"} 0.3',
      'prometheus_rule_group_duration_seconds_count{rule_group="a"} 4',
    ].join('\n');
    expect(sampleSum(text, 'process_cpu_seconds_total')).toBe(1.5);
    expect(sampleSum(text, 'prometheus_rule_group_duration_seconds_sum')).toBeCloseTo(0.5);
    expect(sampleSum(text, 'absent_metric')).toBeUndefined();
    expect(sampleSum(undefined, 'x')).toBeUndefined();
  });

  it('puts Prometheus samples on the timeline (seconds since load start), summing series', () => {
    const start = 1_000_000;
    const series = [
      {
        labels: {},
        points: [
          [1000, 1],
          [1001, 2],
        ] as Array<[number, number]>,
      },
      { labels: {}, points: [[1001, 3]] as Array<[number, number]> },
    ];
    expect(onTimeline(series, [0, 1, 2], start)).toEqual([1, 5, null]);
  });

  it('finds the runs during which a range query had samples', () => {
    const series = [{ labels: {}, points: [10, 11, 12, 30, 31].map((t): [number, number] => [t, 1]) }];
    expect(presence(series, 0, 1)).toEqual([
      [10, 12],
      [30, 31],
    ]);
  });

  it('knows which series come from exporters the local stack does not run', () => {
    expect(externalSource('sum(rate(k6_http_reqs_total[1m]))')).toMatch(/k6/);
    expect(externalSource('jetscale_backlog_messages')).toBeUndefined();
  });
});

describe('prometheusVerdicts', () => {
  const section = (over: Partial<PrometheusSection>): PrometheusSection => ({
    url: 'http://127.0.0.1:9090',
    range: { start: 0, end: 100, stepSeconds: 1 },
    panels: [
      { panel: 'Backlog', answered: true, localSources: true, queries: [] },
      { panel: 'k6', answered: false, localSources: false, queries: [] },
    ],
    agreement: [{ name: 'peak backlog', harness: 100, prometheus: 98, tolerance: '5 %', pass: true }],
    alerts: [],
    natsOutages: [],
    cost: {
      scrapeIntervalSeconds: 1,
      targetsAtEnd: 1,
      meanLastScrapeMs: 1,
      headSeries: 1,
      samplesPerSecond: 1,
      ruleEvaluationMsPerRound: 1,
      cpuSecondsPerSecond: 0.01,
      residentMemoryMiB: 50,
    },
    charts: { times: [], backlog: [], desired: [], current: [], arrival: [], applied: [] },
    ...over,
  });

  it('pass when every locally answerable panel has data, and name the ones that cannot be', () => {
    const [panels, agreement] = prometheusVerdicts(section({}));
    expect(panels).toMatchObject({ pass: true, value: 1, unit: 'of 1' });
    expect(panels?.detail).toMatch(/Not answerable on the local stack.*k6/);
    expect(agreement).toMatchObject({ name: 'Prometheus agrees: peak backlog', pass: true });
  });

  it('fail on an unanswered panel, and on a NATS outage no alert fired for or one still firing', () => {
    const v = prometheusVerdicts(
      section({
        panels: [{ panel: 'Backlog', answered: false, localSources: true, queries: [] }],
        natsOutages: [
          { t: 240, seconds: 5, alertsFiring: [], resolvedAfter: true },
          { t: 300, seconds: 5, alertsFiring: ['JetscaleReconcileErrors'], resolvedAfter: false },
          { t: 360, seconds: 5, alertsFiring: ['JetscaleReconcileErrors'], resolvedAfter: true },
        ],
      }),
    );
    expect(v.map((x) => x.pass)).toEqual([false, true, false, false, true]);
    expect(v[0]?.detail).toMatch(/no data: Backlog/);
  });
});
