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
//   7b9a82c: nats.js fetch() 8.4 / 12.4, nats.go Fetch(10) 10.3 / 12.3, jnats fetch() 14.1 / 20.4
//   now:     nats.js fetch() 7 / 8, nats.go Fetch(10) 7 / 8, jnats fetch() 7 / 9
// On 7b9a82c the count was never brought down to what the bursts need: replicas idle between
// bursts show no per-replica rate, so a low end read at the first burst (3.1/s for 5/s handlers
// behind jnats fetch()) stood, and each burst was sized by the arrival rate it lifted and the
// backlog it is, at once, with pods that started after it drained. A burst's backlog run is now
// one interval (rates.ts burstBound: 5.0/s), and the next bursts are sized by the last one
// (decide.ts burstSizing): drained within half of drainWithinSeconds, 5 replicas for 340 and 6
// for 440 at 5/s.
import { withScalingDefaults } from './defaults.js';
import { jnatsFetch, natsGoFetch10, natsJsFetch, runScenario } from './test/pull-clients.js';
import type { PullClient, Reading } from './test/pull-clients.js';

const HANDLER_PER_SECOND = 5;
const MAX_REPLICAS = 50;

const DRAIN_WITHIN_SECONDS = 30;
/**
 * What the bursts need: replicas that drain the largest within half of drainWithinSeconds (decide.ts
 * BATCH_DRAIN_SHARE) at what a handler does. A tolerance of 1.6x over it: a burst arrives over
 * 2 s, a client's batches spread it unevenly (jnats fetch() 22/s: 9.25 where 6 are needed), and
 * the scale-down window holds what a burst's readings asked for.
 */
const burstNeed = (messages: number): number =>
  Math.ceil(messages / (HANDLER_PER_SECOND * 0.5 * DRAIN_WITHIN_SECONDS));
const BURST_TOLERANCE = 1.6;

function cronBursts(
  client: PullClient,
  meanPerSecond: number,
  arrival: (t: number) => number = (t) => (t % 20 < 2 ? meanPerSecond * 10 : 0),
  pause?: { at: number; seconds: number },
): Reading[] {
  return runScenario({
    client,
    spec: withScalingDefaults({
      minReplicas: 1,
      maxReplicas: MAX_REPLICAS,
      drainWithinSeconds: DRAIN_WITHIN_SECONDS,
    }),
    maxAckPending: 1000,
    handlerPerSecond: HANDLER_PER_SECOND,
    arrival,
    ...(pause === undefined ? {} : { pause }),
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
      it(`${client.name}, ${meanPerSecond}/s on average: about the replicas the bursts need, never maxReplicas, every burst drained before the next`, () => {
        const readings = cronBursts(client, meanPerSecond);
        const late = readings.filter((r) => r.t >= 300);
        // 7b9a82c: 8.4-20.4 where the bound is 8 (17/s) and 9.6 (22/s).
        expect(meanReplicas(readings, 300)).toBeLessThanOrEqual(
          BURST_TOLERANCE * burstNeed(meanPerSecond * 20),
        );
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

/** Whether a burst of 2 s starts at t, the period growing from 20 s to 40 s over the first 900 s. */
function driftingBurst(t: number): boolean {
  let start = 0;
  let period = 20;
  while (start + period <= t) {
    start += period;
    period = 20 + 20 * Math.min(1, start / 900);
  }
  return t - start < 2;
}

describe('bursts that do not keep one period: each sized by the last', () => {
  for (const client of [natsJsFetch, natsGoFetch10, jnatsFetch]) {
    it(`${client.name}: a period drifting from 20 s to 40 s, 170/s for 2 s: about the replicas a burst needs`, () => {
      const readings = cronBursts(client, 17, (t) => (driftingBurst(t) ? 170 : 0));
      const late = readings.filter((r) => r.t >= 300);
      // 7b9a82c: 8.5-13.6 (the figure read 2.7/s behind jnats fetch()).
      expect(meanReplicas(readings, 300)).toBeLessThanOrEqual(BURST_TOLERANCE * burstNeed(340));
      expect(Math.max(...late.map((r) => r.decision.desiredReplicas))).toBeLessThan(MAX_REPLICAS);
      for (const r of late)
        expect(r.decision.rates.perReplicaPerSecond ?? 0).toBeLessThanOrEqual(HANDLER_PER_SECOND * 1.05);
    });

    it(`${client.name}: two producers, 340 every 20 s and 300 at once every 45 s: no standing backlog, never maxReplicas`, () => {
      const readings = cronBursts(client, 17, (t) => (t % 20 < 2 ? 170 : 0) + (t % 45 < 1 ? 300 : 0));
      const late = readings.filter((r) => r.t >= 300);
      // Both together are 640 at most: the bursts' need is 9.
      expect(meanReplicas(readings, 300)).toBeLessThanOrEqual(BURST_TOLERANCE * burstNeed(640));
      expect(Math.max(...late.map((r) => r.decision.desiredReplicas))).toBeLessThan(MAX_REPLICAS);
      // Every burst drained: nothing pending at some reading of every 20 s.
      for (let from = 300; from < 880; from += 20)
        expect(late.some((r) => r.t >= from && r.t < from + 20 && r.pending === 0)).toBe(true);
    });

    it(`${client.name}: a pod's handlers stop for 20 s at a burst (t = 600 s): the figure is not read high, and the count comes back down`, () => {
      const readings = cronBursts(client, 17, undefined, { at: 600, seconds: 20 });
      for (const r of readings.filter((x) => x.t >= 300))
        expect(r.decision.rates.perReplicaPerSecond ?? 0).toBeLessThanOrEqual(HANDLER_PER_SECOND * 1.05);
      const after = readings.filter((r) => r.t >= 700);
      expect(meanReplicas(after, 700)).toBeLessThanOrEqual(BURST_TOLERANCE * burstNeed(340));
      for (const r of after.filter((x) => x.t % 20 >= 18)) expect(r.pending).toBe(0);
    });
  }
});
