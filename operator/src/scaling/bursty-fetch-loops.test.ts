// A cron-like producer (10x its mean for 2 s of every 20 s, quiet between) consumed by fetch loops,
// read as the reconciler reads (adaptivePoll: every 1-2 s while messages move or arrive). A burst of
// 340 reaches the server within two readings. rates.ts counted the arrival dispersion pair by pair:
// a step up and a step down, each capped, then empty pairs, so the stream read as independent
// messages (dispersion 1.0). The burst's second reading then confirmed 161/s as a rise, and the
// panic sized it against 6 replicas of 5/s: 50 (maxReplicas) asked at every burst, where 6 drain it
// in 11 s. A batch that comes within BATCH_RUN_SECONDS between empty readings is now one batch to the
// dispersion (rates.ts arrivalRun), as it is when one reading holds it. Measured as sent in batches,
// the stream then lost keepingUp (decide.ts): idle replicas with a low-end figure were sized by the
// arrival rate's peaks, and nats.js fetch() went from 7 replicas to 13. A stream sent in batches now
// keeps up as one of independent messages does while its backlog runs of the last 300 s drained
// within half of drainWithinSeconds (rates.ts recentBacklogRunSeconds, decide.ts BATCH_DRAIN_SHARE).
// Mean replicas over t = 300-900 s (pull-clients model, 17/s and 22/s on average, 5/s handlers):
//   b16007a: nats.js fetch() 7 / 9, nats.go Fetch(10) 39.5 / 40, jnats fetch() 40.5 / 41.9
//   now:     nats.js fetch() 8.4 / 10.9, nats.go Fetch(10) 10.3 / 12.3, jnats fetch() 14.1 / 20.4
import { withScalingDefaults } from './defaults.js';
import { jnatsFetch, natsGoFetch10, natsJsFetch, runScenario } from './test/pull-clients.js';
import type { PullClient, Reading } from './test/pull-clients.js';

const HANDLER_PER_SECOND = 5;
const MAX_REPLICAS = 50;

function cronBursts(client: PullClient, meanPerSecond: number): Reading[] {
  return runScenario({
    client,
    spec: withScalingDefaults({ minReplicas: 1, maxReplicas: MAX_REPLICAS, drainWithinSeconds: 30 }),
    maxAckPending: 1000,
    handlerPerSecond: HANDLER_PER_SECOND,
    arrival: (t) => (t % 20 < 2 ? meanPerSecond * 10 : 0),
    initialReplicas: 1,
    initialPending: 0,
    startupSeconds: 10,
    durationSeconds: 900,
    pollSeconds: 5,
    adaptivePoll: true,
  });
}

/** Replicas over time (replica-seconds ÷ seconds) from t = `from` on. */
function meanReplicas(readings: readonly Reading[], from: number): number {
  const late = readings.filter((r) => r.t >= from);
  let replicaSeconds = 0;
  for (let i = 1; i < late.length; i++) {
    const a = late[i - 1];
    const b = late[i];
    if (a !== undefined && b !== undefined) replicaSeconds += a.replicas * (b.t - a.t);
  }
  const first = late[0];
  const last = late.at(-1);
  return first === undefined || last === undefined ? NaN : replicaSeconds / (last.t - first.t);
}

describe('bursts between quiet spells, read every 1-2 s: one batch each, not a rise to panic on', () => {
  for (const client of [natsJsFetch, natsGoFetch10, jnatsFetch])
    for (const meanPerSecond of [17, 22]) {
      it(`${client.name}, ${meanPerSecond}/s on average: at most 5x the replicas the mean needs, never maxReplicas, every burst drained before the next`, () => {
        const readings = cronBursts(client, meanPerSecond);
        const late = readings.filter((r) => r.t >= 300);
        const needed = meanPerSecond / HANDLER_PER_SECOND;
        // b16007a: 39.5-41.9 for the Fetch(10) and jnats fetch() loops (bound 17 and 22).
        expect(meanReplicas(readings, 300)).toBeLessThanOrEqual(5 * needed);
        expect(Math.max(...late.map((r) => r.decision.desiredReplicas))).toBeLessThan(MAX_REPLICAS);
        // Fewer replicas still drain each burst in time: nothing waits at the server by the
        // reading before the next burst (t = 18-20 s into each 20 s).
        const beforeNext = late.filter((r) => r.t % 20 >= 18);
        expect(beforeNext.length).toBeGreaterThan(20);
        for (const r of beforeNext) expect(r.pending).toBe(0);
        // And the figure is never read above what a handler does.
        for (const r of late)
          expect(r.decision.rates.perReplicaPerSecond ?? 0).toBeLessThanOrEqual(HANDLER_PER_SECOND * 1.05);
      });
    }
});
