// A first per-replica figure read from messages the replicas held alone (nothing waiting at the
// server, the replicas keeping up: rates.ts heldOnlyKeptUp) while some ready replicas were still
// warming up is a low end (rates.ts perReplicaLowEndHeld): the messages held then were handed out
// while fewer were ready, so they show busy only the replicas that hold them. Taken as measured,
// no held-only reading ever lowered, raised or re-measured it, and the policy kept far too many
// replicas: the policy fuzzer's worlds 2995 (FUZZ_SEED=2828 FUZZ_WORLDS=300: 0.49/s read for
// handlers that do 50/s, 4 -> 9 where 3 is the bound) and 61747 (FUZZ_SEED=61700 FUZZ_WORLDS=200:
// 0.75/s for 12.5/s, later 1.3/s for 50/s, 4 -> 8 where 3 is the bound).
import { withScalingDefaults } from './defaults.js';
import { asRateState } from './rates.js';
import { randomWorld, runWorld } from './test/fuzz-world.js';
import { steadyViolations, stepViolations } from './test/fuzz-invariants.js';
import { natsJsConsume, runScenario } from './test/pull-clients.js';
import { replayReadings } from './test/replay-readings.js';

describe('rates: a held-only first figure read while replicas warm up is a low end', () => {
  it("world 2995's readings of t = 25-70 s: 0.49/s is a low end that held-only readings neither lower nor measure", () => {
    const { decisions, data } = replayReadings('world-2995-t70.json');
    const first = data.readings.findIndex((r) => r.t > 33 && r.t < 34);
    // What 6099f6b did at the first figure: 2 -> 4.
    expect(data.readings[first]?.decided).toBe(4);
    const at = asRateState(decisions[first]?.history.rates);
    expect(at?.perReplicaPerSecond).toBeCloseTo(0.49, 2);
    expect(at?.perReplicaLowEndOnly).toBe(true);
    expect(at?.perReplicaLowEndHeld).toBe(true);
    // Every later reading holds 10-19 with nothing pending: the figure stays that low end (on
    // 6099f6b it was measured, and kept-up held readings only ever raised it).
    const figure = at?.perReplicaPerSecond ?? Infinity;
    for (const d of decisions.slice(first)) {
      const rates = asRateState(d.history.rates);
      expect(rates?.perReplicaLowEndOnly).toBe(true);
      expect(rates?.perReplicaLowEndHeld).toBe(true);
      expect(rates?.perReplicaPerSecond ?? 0).toBeGreaterThanOrEqual(figure);
    }
    // No reading scales beyond the fuzzer's bound (3) or the replicas there: 6099f6b went 4 -> 10
    // at t = 38.9 s, sizing the noise of 1.2/s above the figure as a shortfall.
    expect(data.readings.some((r) => r.decided === 10 && r.currentReplicas === 4)).toBe(true);
    decisions.forEach((d, i) =>
      expect(d.desiredReplicas).toBeLessThanOrEqual(Math.max(3, data.readings[i]?.currentReplicas ?? 0)),
    );
  });

  it("world 61747's readings of t = 0-19 s: one member's drained buffer beside 19 idle ones is a low end", () => {
    const { decisions, data } = replayReadings('world-61747-t20.json');
    const first = decisions.findIndex((d) => d.rates.perReplicaPerSecond !== undefined);
    expect(data.readings[first]?.t).toBeCloseTo(4.65, 2);
    expect(data.readings[first]?.readyReplicas).toBe(20);
    const at = asRateState(decisions[first]?.history.rates);
    expect(at?.perReplicaPerSecond).toBeCloseTo(0.75, 2);
    // 6099f6b: measured (perReplicaLowEndOnly absent).
    expect(at?.perReplicaLowEndOnly).toBe(true);
    expect(at?.perReplicaLowEndHeld).toBe(true);
  });

  it('world 2995 whole: no violation, and 2 replicas carry its 900 s at 4.0/s', () => {
    const run = runWorld(randomWorld(2995));
    // 6099f6b: 3 violations (4 -> 6, 6 -> 9, 4 -> 7 where the bound is 3, t = 1395-1448 s).
    expect([...stepViolations(run), ...steadyViolations(run)]).toEqual([]);
    const stretch = run.steps.filter((s) => s.t >= 1200 && s.t < 1500);
    expect(Math.max(...stretch.map((s) => s.decision.desiredReplicas))).toBeLessThanOrEqual(3);
  });

  it('world 61747 whole: no violation, and the figure is re-measured up to the handlers it has', () => {
    const run = runWorld(randomWorld(61747));
    // 6099f6b: 4 violations (4 -> 5 ... 6 -> 8 where the bound is 3, t = 1109-1152 s), the figure
    // 1.3/s for 50/s handlers.
    expect([...stepViolations(run), ...steadyViolations(run)]).toEqual([]);
    const at1100 = run.steps.find((s) => s.t >= 1100);
    expect(at1100?.decision.rates.perReplicaPerSecond).toBeGreaterThan(5);
  });

  it("nats.js consume() one at a time behind its prefetch, every replica warm: the held-only figure is the handlers' pace, measured", () => {
    // The simulator's --prefetch 100 case, where marking every held-only first figure a low end
    // cost p99 (session 29: diurnal 0.79 -> 2.12 s): 2 replicas of 25/s handlers take a backlog of
    // 150 into their buffers (nothing waits at the server) while 48/s arrive. Both were ready at the
    // first reading, so the held messages keep both busy: completions ÷ ready is what each can do.
    const readings = runScenario({
      client: natsJsConsume,
      spec: withScalingDefaults({ minReplicas: 2, maxReplicas: 2 }),
      maxAckPending: 1000,
      handlerPerSecond: 25,
      arrival: () => 48,
      initialReplicas: 2,
      initialPending: 150,
      startupSeconds: 5,
      durationSeconds: 60,
      pollSeconds: 1,
    });
    expect(readings.every((r) => r.pending === 0 || r.t < 2)).toBe(true);
    const last = readings.at(-1)?.decision.rates;
    expect(last?.perReplicaPerSecond).toBeGreaterThan(23);
    expect(last?.perReplicaLowEndOnly).toBeUndefined();
  });
});
