// handleSummary for the jetscale scenarios: writes the full k6 summary as JSON (for the harness
// and CI artifacts) and prints a short verdict table instead of k6's long default text.

/** The parts of k6's summary data this module reads; k6 passes much more. */
interface SummaryMetric {
  type: string;
  values: Record<string, number>;
  thresholds?: Record<string, { ok: boolean }>;
}
export interface SummaryData {
  metrics: Record<string, SummaryMetric | undefined>;
}

function value(data: SummaryData, metric: string, stat: string): number {
  return data.metrics[metric]?.values[stat] ?? 0;
}

function thresholdLines(data: SummaryData): { lines: string[]; failed: number } {
  const lines: string[] = [];
  let failed = 0;
  for (const [name, metric] of Object.entries(data.metrics)) {
    for (const [expression, result] of Object.entries(metric?.thresholds ?? {})) {
      if (!result.ok) failed++;
      lines.push(`  ${result.ok ? 'PASS' : 'FAIL'}  ${name} ${expression}`);
    }
  }
  return { lines, failed };
}

export function summaryOutputs(
  data: SummaryData,
  profileName: string,
  testId: string,
  jsonPath: string,
): Record<string, string> {
  const requests = value(data, 'http_reqs', 'count');
  const dropped = value(data, 'dropped_iterations', 'count');
  const { lines, failed } = thresholdLines(data);
  const text = [
    '',
    `jetscale ${profileName} (testid ${testId})`,
    `  requests ${requests}  achieved ${value(data, 'http_reqs', 'rate').toFixed(1)}/s  dropped ${dropped}`,
    `  failed ${(value(data, 'http_req_failed', 'rate') * 100).toFixed(2)} %  p95 ${value(data, 'http_req_duration', 'p(95)').toFixed(1)} ms  p99 ${value(data, 'http_req_duration', 'p(99)').toFixed(1)} ms`,
    ...lines,
    `  ${failed === 0 ? 'all thresholds passed' : `${failed} threshold(s) failed`}; summary JSON: ${jsonPath}`,
    '',
  ].join('\n');
  return { stdout: text, [jsonPath]: JSON.stringify({ profile: profileName, testId, ...data }, null, 2) };
}
