// Every metric jetscale's processes export is somewhere a user looks: a dashboard panel or an
// alert rule. A metric added without either fails here, and so does a stale entry below.
import { OperatorMetrics } from '../operator/src/observability/metrics.js';
import { createConsumerMetrics } from '../workloads/src/consumer/metrics.js';
import { createGatewayMetrics } from '../workloads/src/gateway/metrics.js';
import { alertRules } from './alerts.js';
import { overviewDashboard } from './dashboards/overview.js';

/** Metrics deliberately on no panel and in no rule, each with why. */
const NOT_SHOWN: Record<string, string> = {};

function exported(): string[] {
  const registries = [
    new OperatorMetrics({ processMetrics: false }).registry,
    createGatewayMetrics(false).registry,
    createConsumerMetrics(false).registry,
  ];
  return registries.flatMap((r) => r.getMetricsAsArray().map((m) => m.name)).sort();
}

describe('metric coverage', () => {
  const shown = `${JSON.stringify(overviewDashboard())}\n${JSON.stringify(alertRules())}`;
  // A histogram is shown through its _bucket, _sum or _count series.
  const isShown = (name: string): boolean => new RegExp(`\\b${name}(_bucket|_sum|_count)?\\b`).test(shown);

  it('every exported jetscale metric is on the overview dashboard or in an alert rule', () => {
    const names = exported();
    expect(names.length).toBeGreaterThan(50);
    expect(names.filter((n) => !isShown(n) && NOT_SHOWN[n] === undefined)).toEqual([]);
  });

  it('lists as not shown only metrics that exist and really are not shown', () => {
    const names = new Set(exported());
    for (const name of Object.keys(NOT_SHOWN)) {
      expect(names.has(name)).toBe(true);
      expect(isShown(name)).toBe(false);
    }
  });
});
