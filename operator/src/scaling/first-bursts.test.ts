// The first bursts of a cron-like stream (a burst every 20 or 60 s, quiet between), before any
// burst is recorded (rates.ts lastBurst, so no decide.ts burstSizing). The arrival rate is smoothed
// with a fast attack and a slow decay: after 600 in one 5 s reading it still reads 43/s a second
// later, 35/s after 3 s, while nothing arrives. The rate term sized that stopped arrival as a
// step-up: an idle consumer read every 5 s, 600 in 2 s within one reading, nats.go Fetch(10) loops
// of 5/s handlers; the next reading, with 575 queued and nothing arrived, asked for 82 (41 by the
// step policy) where what is queued drains within drainWithinSeconds with 24 at the 0.83/s low end
// the policy had then (5 at 5/s). Now, once the last interval shows the arrival ended (decide.ts
// arrivalEnded, and history.arrivalEnded while it stands), the rate term sizes what arrives now,
// the queue it left and what the clients buffer: the first burst's largest count 41 -> 23 for 600
// and 31 -> 9 for 340 (nats.js fetch() the same, jnats fetch() 48 -> 15 for 340). With the rule
// off, every case below fails at the reading after the burst (t = 3 s or 32 s). A step that lasts is
// not touched: its last interval shows it going on. Not changed: a burst read twice while it lasts
// panics at its last second, and the scale-down window holds what that asked for.
import { arrivalEnded } from './decide.js';
import { MIN_INTERVAL_SECONDS } from './rates.js';
import { withScalingDefaults } from './defaults.js';
import { jnatsFetch, natsGoFetch10, natsJsFetch, runScenario } from './test/pull-clients.js';
import type { PullClient, Reading } from './test/pull-clients.js';
import { seededRng } from '../../../test/seeded-rng.js';

const HANDLER_PER_SECOND = 5;
const DRAIN_WITHIN_SECONDS = 30;

/** `size` in the first 2 s of every `period` from `quiet` on (nothing before), read as the reconciler reads. */
function cron(client: PullClient, period: number, size: number, quiet: number): Reading[] {
  return runScenario({
    client,
    spec: withScalingDefaults({ minReplicas: 1, maxReplicas: 50, drainWithinSeconds: DRAIN_WITHIN_SECONDS }),
    maxAckPending: 1000,
    handlerPerSecond: HANDLER_PER_SECOND,
    arrival: (t) => (t >= quiet && (t - quiet) % period < 2 ? size / 2 : 0),
    initialReplicas: 1,
    initialPending: 0,
    startupSeconds: 10,
    durationSeconds: quiet + 40,
    pollSeconds: 5,
    adaptivePoll: true,
  });
}

describe('the first burst of a cron-like stream, once its arrival is seen to have ended', () => {
  // quiet 0: the burst begins with the first reading; quiet 27: an idle consumer read every 5 s
  // (26 s, 31 s), the whole burst within one interval, and nothing arrives after it.
  for (const client of [natsGoFetch10, natsJsFetch, jnatsFetch])
    for (const [period, size, quiet] of [
      [20, 340, 0],
      [60, 600, 0],
      [20, 340, 27],
      [60, 600, 27],
    ] as const)
      it(`${client.name}, ${size} in 2 s of every ${period} s from ${quiet} s: no more than what drains the queue it left`, () => {
        const readings = cron(client, period, size, quiet);
        // The readings after the burst up to the first pods' start-up: nothing arrives, so what is
        // asked is what drains the backlog (pending and buffered) within drainWithinSeconds at the
        // figure the reading had, one more for rounding (or the replicas there: the scale-down
        // window keeps them).
        const after = readings.filter((r) => r.t > quiet + 2.5 && r.t < quiet + 12);
        expect(after.length).toBeGreaterThan(3);
        const over: string[] = [];
        for (const r of after) {
          const figure = r.decision.rates.perReplicaPerSecond;
          if (figure === undefined) continue;
          const backlog = r.pending + r.ackPending;
          const drains = Math.ceil(backlog / (figure * DRAIN_WITHIN_SECONDS)) + 1;
          if (r.decision.desiredReplicas > Math.max(drains, r.replicas))
            over.push(`t=${r.t.toFixed(1)}: ${r.decision.desiredReplicas} where ${drains} drain ${backlog}`);
        }
        expect(over).toEqual([]);
      });
});

describe('arrivalEnded', () => {
  it('reads a stopped burst as ended, and a lasting step as going on', () => {
    expect(arrivalEnded(270, 0, 1)).toBe(true);
    expect(arrivalEnded(153, 0, 1)).toBe(true);
    expect(arrivalEnded(270, 300, 1)).toBe(false);
    expect(arrivalEnded(270, 250, 1)).toBe(false);
    // Half of it within noise of a stream that goes on.
    expect(arrivalEnded(270, 140, 1)).toBe(false);
    // Too few messages an interval to tell a lull from an end.
    expect(arrivalEnded(4, 0, 1)).toBe(false);
    expect(arrivalEnded(5, 0, 2)).toBe(false);
    // Batches too coarse for the interval: a quiet second is what they do.
    expect(arrivalEnded(34, 0, 1, 20)).toBe(false);
    expect(arrivalEnded(9, 0, 1)).toBe(false);
    // A reading sooner than a measured interval measures nothing.
    expect(arrivalEnded(270, 0, MIN_INTERVAL_SECONDS / 2)).toBe(false);
  });

  it('almost never reads a steady Poisson stream as ended (1 s readings, 5-200/s)', () => {
    const rng = seededRng(35);
    const poisson = (mean: number): number => {
      // Knuth's method in chunks, exact enough for the means here.
      let n = 0;
      let left = mean;
      while (left > 0) {
        const step = Math.min(left, 30);
        left -= step;
        const limit = Math.exp(-step);
        let p = rng();
        while (p > limit) {
          n++;
          p *= rng();
        }
      }
      return n;
    };
    for (const rate of [5, 10, 15, 20, 30, 50, 200]) {
      let ended = 0;
      const readings = 10_000;
      for (let i = 0; i < readings; i++) if (arrivalEnded(rate, poisson(rate), 1)) ended++;
      // 20/s: 6 or fewer in a second, 0.05 % of seconds; below 20/s never, faster less often.
      const share = ended / readings;
      expect({ rate, share: share <= 0.001 ? 'rare' : share }).toEqual({
        rate,
        share: 'rare',
      });
    }
  });
});
