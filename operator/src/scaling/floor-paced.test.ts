// Held messages read one way for sizing and one way for measuring (session 31, probe30's root cause
// B): decide.ts 2f sized what the replicas held beyond one each as a queue in their clients'
// buffers, drained within drainWithinSeconds at the per-replica figure, while rates.ts never let
// the same held-only intervals lower a measured figure (heldOnlyKeptUp: held counts alone cannot
// tell many handlers at once from one handler behind a buffer). A figure measured before the
// handlers slowed then stood for good, 2f sized the standing buffers as drained within 30 s by the
// replicas there, and messages waited minutes. The ack floor tells the two apart (rates.ts
// floorPacedBusy): behind buffers taken in blocks, the replica at the floor works through the
// oldest one in order, and the floor moves at one replica's share of the completions; handlers
// that work on what they hold at once, with time to spare, move it with all of them.
import { withScalingDefaults } from './defaults.js';
import { FLOOR_PACED_SECONDS, floorPacedBusy } from './rates.js';
import type { RateState } from './rates.js';
import { adverseWorld, runWorld } from './test/fuzz-world.js';
import { steadyViolations, stepViolations } from './test/fuzz-invariants.js';
import { natsJsFetch, runScenario } from './test/pull-clients.js';
import type { Reading } from './test/pull-clients.js';
import { T0 } from './test/fixtures.js';

const figureOf = (r: Reading): number => r.decision.rates.perReplicaPerSecond ?? NaN;

describe('rates: held messages behind a floor paced at one replica show the replicas busy', () => {
  it('nats.js fetch() loops whose handlers slow from 5/s to 0.125/s: the figure follows, the buffers drain', () => {
    // 100 pending at the start (a figure of 5/s learnt on them), 0.6/s arriving, handlers 40x slower
    // from t = 120 s, 60 s start-ups. On main 80b776c the figure read 1.12/s at t = 300 s and kept
    // it to the end: 3-5 replicas held 61-139 (each a fetch batch worked through at 0.125/s), 2f
    // sized them as drained within 30 s at 1.12/s a replica, and messages waited ~200 s.
    const readings = runScenario({
      client: natsJsFetch,
      spec: withScalingDefaults({ minReplicas: 1, maxReplicas: 50, drainWithinSeconds: 30 }),
      maxAckPending: 1000,
      handlerPerSecond: (t) => (t < 120 ? 5 : 0.125),
      arrival: () => 0.6,
      initialReplicas: 1,
      initialPending: 100,
      startupSeconds: 60,
      durationSeconds: 1200,
      pollSeconds: 5,
    });
    const from = (t: number): Reading[] => readings.filter((r) => r.t >= t);
    // Measured down to what a replica does (0.125/s at most: a fetch loop waits for its next batch),
    // not below 0.08/s: 1.12/s on main 80b776c.
    const late = from(600);
    expect(late.length).toBeGreaterThan(100);
    expect(Math.max(...late.map(figureOf))).toBeLessThanOrEqual(0.2);
    expect(Math.min(...late.map(figureOf))).toBeGreaterThanOrEqual(0.08);
    // The buffers drained: at most a few messages each of the replicas there (main: 92-133 held).
    expect(Math.max(...from(900).map((r) => r.ackPending))).toBeLessThanOrEqual(20);
    // ... by replicas sized for the true pace: 0.6/s at 0.125/s needs 5, 7 with the headroom and the
    // fetch loop's own pace; draining 100 held within 30 s more for a while.
    expect(Math.max(...from(900).map((r) => r.replicas))).toBeLessThanOrEqual(8);
  });

  it('adverse world 291460 (the policy fuzzer): the 0.65/s figure no longer stands, nor the wait', () => {
    // nats.js fetch() loops, 0.6/s, handlers 5/s then 0.125/s from t = 120 s. On main 80b776c a figure
    // of 0.65/s stood from t = 266 s to the end of the stretch (t = 1,020 s) on held-only intervals,
    // 2f sized 71-125 held as drained within 30 s by 5-8 replicas, and every message completed in
    // the stretch's last 120 s had waited over 97 s (164 s at its end): the fuzzer's wait invariant.
    const run = runWorld(adverseWorld(291460));
    expect([...stepViolations(run), ...steadyViolations(run)]).toEqual([]);
    const end = run.steps.filter((s) => s.t >= 900 && s.t < 1020);
    expect(end.length).toBeGreaterThan(10);
    for (const s of end) expect(s.decision.rates.perReplicaPerSecond ?? Infinity).toBeLessThanOrEqual(0.3);
  });
});

describe('floorPacedBusy', () => {
  /** A reading `s` seconds in: the floor, completions (delivered less held) and held. */
  const at = (s: number, floor: number, done: number, held: number, ready: number) => {
    const sample = {
      at: T0 + s * 1000,
      pending: 0,
      ackPending: held,
      maxAckPending: 1000,
      ackFloorConsumerSeq: floor,
      deliveredConsumerSeq: done + held,
    };
    return { last: { ...sample, readyReplicas: ready }, sample };
  };
  /** Readings every 5 s for `seconds`, the floor moving `floorPerSecond`, completing `donePerSecond`. */
  function walk(
    seconds: number,
    floorPerSecond: number,
    donePerSecond: number,
    ready = 5,
    held = 75,
  ): { busy: boolean; run?: RateState['floorPacedRun'] }[] {
    let run: RateState['floorPacedRun'];
    const out: { busy: boolean; run?: RateState['floorPacedRun'] }[] = [];
    for (let s = 5; s <= seconds; s += 5) {
      const before = at(
        s - 5,
        Math.floor((s - 5) * floorPerSecond),
        Math.floor((s - 5) * donePerSecond),
        held,
        ready,
      );
      const after = at(s, Math.floor(s * floorPerSecond), Math.floor(s * donePerSecond), held, ready);
      const r = floorPacedBusy(run, before.last, after.sample, ready, true);
      run = r.run;
      out.push(r);
    }
    return out;
  }

  it('5 replicas each completing what the one at the floor does: busy once the run is long enough', () => {
    const steps = walk(120, 0.125, 0.6);
    expect(steps.slice(0, FLOOR_PACED_SECONDS / 5 - 1).some((r) => r.busy)).toBe(false);
    expect(steps.slice(FLOOR_PACED_SECONDS / 5).every((r) => r.busy)).toBe(true);
  });

  it('a floor that moves with every completion (many in hand at once, newest held): not busy', () => {
    expect(walk(300, 0.6, 0.6).some((r) => r.busy)).toBe(false);
  });

  it('a floor pinned far behind the completions (a straggler, a slow replica among idle ones): not busy', () => {
    expect(walk(300, 0.05, 0.6).some((r) => r.busy)).toBe(false);
  });

  it('one replica, or no more held than two each, shows nothing', () => {
    expect(walk(300, 0.125, 0.125, 1).some((r) => r.busy)).toBe(false);
    expect(walk(300, 0.125, 0.6, 5, 10).some((r) => r.busy)).toBe(false);
  });

  it('a run that did not show them busy starts again: the next minute is read alone', () => {
    // 60 s of a floor moving with every completion, then one paced at a fifth of them.
    let run: RateState['floorPacedRun'];
    const busy: boolean[] = [];
    for (let s = 5; s <= 180; s += 5) {
      const floorAt = (x: number): number => (x <= 60 ? x * 0.6 : 36 + (x - 60) * 0.12);
      const before = at(s - 5, Math.floor(floorAt(s - 5)), Math.floor((s - 5) * 0.6), 75, 5);
      const after = at(s, Math.floor(floorAt(s)), Math.floor(s * 0.6), 75, 5);
      const r = floorPacedBusy(run, before.last, after.sample, 5, true);
      run = r.run;
      busy.push(r.busy);
    }
    // The first minute, read with the floor at every completion, is not busy, and the run starts
    // again at 60 s: busy from 120 s on (index 23), the paced minute alone.
    expect(busy.slice(0, 23).some((b) => b)).toBe(false);
    expect(busy.slice(23).every((b) => b)).toBe(true);
  });

  it('an interval whose completions are not known to be theirs ends the run', () => {
    const before = at(0, 0, 0, 75, 5);
    const after = at(5, 1, 3, 75, 5);
    expect(
      floorPacedBusy(
        { since: T0 - 100_000, floor: 0, done: 0, atFloorPace: 50 },
        before.last,
        after.sample,
        5,
        false,
      ),
    ).toEqual({ busy: false });
  });
});
