// Turns a shared load profile (loadtest/profiles) into k6 options: one open-model
// ramping-arrival-rate scenario and thresholds from the profile's budgets, so k6 and the local
// driver replay exactly the same arrival curve and are judged by the same numbers.
import type { Options } from 'k6/options';
import { plannedRequests, type LoadProfile } from '../../profiles/profiles.ts';

/** k6 wants whole iterations per time unit; round, but keep a non-zero rate non-zero. */
function wholeRate(rate: number): number {
  return rate > 0 ? Math.max(1, Math.round(rate)) : 0;
}

export function k6Options(profile: LoadProfile, testId: string): Options {
  const { budgets } = profile;
  // dropped_iterations is a counter: budget it as a share of the planned requests.
  const droppedBudget = Math.floor(plannedRequests(profile) * budgets.maxDroppedRatio);
  const peakRate = Math.max(profile.startRate, ...profile.stages.map((stage) => stage.targetRate));
  return {
    // Every metric carries the test id, which is how Grafana's k6 dashboards tell runs apart.
    tags: { testid: testId, profile: profile.name },
    discardResponseBodies: true,
    scenarios: {
      [profile.name]: {
        executor: 'ramping-arrival-rate',
        startRate: wholeRate(profile.startRate),
        timeUnit: '1s',
        stages: profile.stages.map((stage) => ({
          duration: `${stage.durationSeconds}s`,
          target: wholeRate(stage.targetRate),
        })),
        // Each VU has one request in flight; when all are busy k6 drops the iteration and counts it
        // in dropped_iterations (open model: the arrival schedule never waits for the system).
        preAllocatedVUs: Math.min(profile.maxInFlight, Math.max(10, Math.ceil(peakRate / 4))),
        maxVUs: profile.maxInFlight,
        gracefulStop: '10s',
      },
    },
    thresholds: {
      http_req_failed: [`rate<${budgets.maxFailedRatio}`],
      http_req_duration: [`p(95)<${budgets.p95LatencyMs}`],
      dropped_iterations: [`count<=${droppedBudget}`],
      checks: [`rate>=${1 - budgets.maxFailedRatio}`],
    },
    summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
  };
}
