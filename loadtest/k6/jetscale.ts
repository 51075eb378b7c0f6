// The k6 load test for jetscale: replays one of the shared profiles (loadtest/profiles) against the
// gateway as an open model and judges it with thresholds. k6 ≥ 0.57 runs this file directly.
//
//   k6 run -e SCENARIO=spike -e GATEWAY_URL=http://127.0.0.1:8080 loadtest/k6/jetscale.ts
//
// Environment: SCENARIO (ramp | spike | spike-ci | soak | failover | recovery; default spike),
// GATEWAY_URL, RATE_SCALE (multiplies every rate; default 1), TEST_ID (tags every metric; default
// <scenario>-<start time>), SUMMARY_PATH (default k6-summary-<testid>.json). See README.md.
import http from 'k6/http';
import { check } from 'k6';
import { isProfileName, profiles, scaleProfile } from '../profiles/profiles.ts';
import { nextEvent } from './lib/events.ts';
import { k6Options } from './lib/options.ts';
import { summaryOutputs, type SummaryData } from './lib/summary.ts';

const scenarioName = __ENV.SCENARIO ?? 'spike';
if (!isProfileName(scenarioName)) {
  throw new Error(`unknown SCENARIO "${scenarioName}": use one of ${Object.keys(profiles).join(', ')}`);
}
const rateScale = Number(__ENV.RATE_SCALE ?? '1');
const profile = scaleProfile(profiles[scenarioName], rateScale);
const testId = __ENV.TEST_ID ?? `${scenarioName}-${new Date().toISOString().replace(/[:.]/g, '-')}`;
const gatewayUrl = (__ENV.GATEWAY_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
const ingestPath = __ENV.INGEST_PATH ?? '/events';
const summaryPath = __ENV.SUMMARY_PATH ?? `k6-summary-${testId}.json`;

export const options = k6Options(profile, testId);

const headers = { 'Content-Type': 'application/json' };

export default function sendEvent(): void {
  const event = nextEvent(testId);
  const res = http.post(`${gatewayUrl}${ingestPath}`, JSON.stringify(event), {
    headers,
    timeout: '10s',
    tags: { name: 'ingest' },
  });
  check(res, { 'event accepted (2xx)': (r) => r.status >= 200 && r.status < 300 });
}

export function handleSummary(data: SummaryData): Record<string, string> {
  return summaryOutputs(data, profile.name, testId, summaryPath);
}
