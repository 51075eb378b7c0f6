// A per-replica figure learnt from one completion a replica, then frozen by max_age (the policy
// fuzzer's expiry worlds 375015 and 375020, session 37). Handlers slower than the poll complete 0
// or 1 message a replica in a 1 s interval, so the one interval that completed one read 1/s for
// handlers of 0.67/s and 0.33/s. From a few seconds on, the stream's max_age removes held messages
// in every interval, so no interval measures the replicas again (rates.ts limitRemovalsPossible)
// and the too-high figure sized the whole run: 12 replicas where 15 take each message in time,
// 14 where 30, while most messages expired in the replicas' hands. A figure resting on fewer than
// SHORT_FIGURE_COMPLETIONS completions a replica is lowered to what messages expiring in the
// replicas' hands show each did at most.
import { withScalingDefaults } from './defaults.js';
import { jnatsFetch, natsPyPush, runScenario } from './test/pull-clients.js';
import type { PullClient, Reading } from './test/pull-clients.js';
import { observeRates, SHORT_FIGURE_COMPLETIONS, type RateState } from './rates.js';

const ratesOf = (r: Reading): RateState => r.decision.history.rates as RateState;
const figureOf = (r: Reading): number | undefined => ratesOf(r).perReplicaPerSecond;

interface World {
  client: PullClient;
  handlerSeconds: number;
  maxAgeSeconds: number;
  backlogPerReplica: number;
  maxAckPending: number;
  startupSeconds: number;
  restartAt: number;
}

const PER_SECOND = 10;

function run(w: World): Reading[] {
  return runScenario({
    client: w.client,
    spec: withScalingDefaults({ minReplicas: 1, maxReplicas: 30, backlogPerReplica: w.backlogPerReplica }),
    maxAckPending: w.maxAckPending,
    handlerPerSecond: 1 / w.handlerSeconds,
    arrival: () => PER_SECOND,
    initialReplicas: 1,
    initialPending: 0,
    startupSeconds: w.startupSeconds,
    durationSeconds: 600,
    pollSeconds: 1,
    maxAgeSeconds: w.maxAgeSeconds,
    ...(w.client.push === true ? { randomPushSeed: 375015 } : {}),
    restartAt: [w.restartAt],
  });
}

/** The lead's expiry world 375020: jnats fetch() loop, 1.5 s handlers on max_age 5 s, restarted at 492 s. */
const WORLD_375020: World = {
  client: jnatsFetch,
  handlerSeconds: 1.5,
  maxAgeSeconds: 5,
  backlogPerReplica: 10,
  maxAckPending: 1000,
  startupSeconds: 5,
  restartAt: 492,
};

describe('a figure from one completion a replica, on a stream whose max_age then removes held messages', () => {
  it.each<[string, World]>([
    [
      'nats.py push, 3 s handlers, max_age 10 s (world 375015)',
      {
        client: natsPyPush,
        handlerSeconds: 3,
        maxAgeSeconds: 10,
        backlogPerReplica: 100,
        maxAckPending: 10000,
        startupSeconds: 15,
        restartAt: 363,
      },
    ],
    ['jnats fetch() loop, 1.5 s handlers, max_age 5 s (world 375020)', WORLD_375020],
  ])('%s: reaches the replicas that take each message in time', (_name, w) => {
    const readings = run(w);
    const needed = Math.ceil(PER_SECOND * w.handlerSeconds);
    // The figure first learnt rests on one completion, and reads more than the handlers do.
    const first = readings.find((r) => figureOf(r) !== undefined);
    expect(first && figureOf(first)).toBeGreaterThan(1 / w.handlerSeconds);
    // By the last 100 s (a restart among them), no fewer than take each message in time.
    const end = readings.filter((r) => r.t >= 500);
    const fewest = Math.min(...end.map((r) => r.replicas));
    expect(fewest).toBeGreaterThanOrEqual(needed);
    // And not far beyond them: the figure is lowered to what each was shown to do at most.
    const most = Math.max(...end.map((r) => r.replicas));
    expect(most).toBeLessThanOrEqual(Math.min(30, Math.ceil(needed * 1.5)));
  });

  // The reading at which the figure was first lowered, replayed through observeRates as decide()
  // calls it: from the state before it as it was (short), and as a figure resting on more.
  it('lowers only a figure resting on fewer than SHORT_FIGURE_COMPLETIONS completions a replica', () => {
    const readings = run(WORLD_375020);
    const at = readings.findIndex(
      (r, i) => i > 0 && (figureOf(r) ?? Infinity) < (figureOf(readings[i - 1] as Reading) ?? -Infinity),
    );
    expect(at).toBeGreaterThan(0);
    const before = ratesOf(readings[at - 1] as Reading);
    const reading = readings[at] as Reading;
    const sample = reading.decision.history.samples.at(-1);
    if (sample === undefined) throw new Error('no sample');
    expect(before.perReplicaEvidenceCompletions).toBeLessThan(SHORT_FIGURE_COMPLETIONS);
    const replay = (state: RateState): number | undefined =>
      observeRates(state, sample, reading.ready, { settleSeconds: 0, askedReplicas: reading.replicas })
        .perReplicaPerSecond;
    // As it was: lowered to the arrivals ÷ the ready replicas, below the 1/s read from one completion.
    const lowered = replay(before);
    expect(lowered).toBeCloseTo(figureOf(reading) ?? NaN, 9);
    expect(lowered).toBeLessThan(before.perReplicaPerSecond ?? 0);
    // Resting on enough completions, or on a count read back as anything but a number at or above
    // 0 (older state, a status written by hand), the same reading does not lower it.
    const { perReplicaEvidenceCompletions: _short, ...established } = before;
    for (const completions of [undefined, SHORT_FIGURE_COMPLETIONS, -1, Number.NaN, '3' as unknown as number])
      expect(
        replay(
          completions === undefined ? established : { ...before, perReplicaEvidenceCompletions: completions },
        ),
      ).toBe(before.perReplicaPerSecond);
  });
});
