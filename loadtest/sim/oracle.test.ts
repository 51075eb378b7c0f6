import { defaultScaleDown, defaultScaleUp } from '../../operator/src/scaling/defaults.js';
import { ladder, runRung } from './oracle-gap.js';
import { OracleAutoscaler } from './oracle.js';
import { runScenario } from './scenarios.js';
import type { ClusterView } from './simulator.js';
import { EPOCH_MS, defaultWorkload } from './simulator.js';
import { spikeTrace } from './traces.js';

const trace = spikeTrace({ atSeconds: 600, spikeSeconds: 60 });

function view(t: number, backlog: number, replicas: number, ready = replicas): ClusterView {
  return {
    now: EPOCH_MS + t * 1000,
    sample: {
      at: EPOCH_MS + t * 1000,
      pending: backlog,
      ackPending: 0,
      redelivered: 0,
      waiting: 0,
      deliveredConsumerSeq: 0,
      deliveredStreamSeq: 0,
      ackFloorConsumerSeq: 0,
      maxAckPending: -1,
    },
    specReplicas: replicas,
    readyReplicas: ready,
    statusReplicas: replicas,
  };
}

const oracle = (foresightSeconds: number): OracleAutoscaler =>
  new OracleAutoscaler({
    trace,
    workload: defaultWorkload,
    minReplicas: 0,
    maxReplicas: 60,
    foresightSeconds,
    name: 'oracle',
  });

describe('oracle', () => {
  it('sizes for the present rate with headroom when nothing is queued', () => {
    // 100/s × 1.2 / 25 per replica = 4.8 → 5.
    expect(oracle(0).desired(view(100, 0, 5))).toBe(5);
  });

  it('jumps to maxReplicas at the first instant of a spike, not before', () => {
    expect(oracle(0).desired(view(599, 0, 5))).toBe(5);
    // 1000/s with 5 ready: the shortfall piles up for a start-up, so it asks for everything.
    expect(oracle(0).desired(view(600, 0, 5))).toBe(60);
  });

  it('with foresight is sized for the spike a start-up before it begins', () => {
    // 1000/s × 1.2 / 25 = 48, asked for 20 s (the start-up max) ahead.
    expect(oracle(20).desired(view(581, 0, 5))).toBe(48);
    expect(oracle(20).desired(view(579, 0, 5))).toBe(5);
  });

  it('scales down only to the highest size wanted within its window', () => {
    const o = oracle(0);
    expect(o.tick(view(600, 0, 5))).toBe(60);
    // With 60 ready the spike wants 1000 × 1.2 / 25 = 48, but 60 was wanted within 15 s.
    expect(o.tick(view(605, 0, 60))).toBeUndefined();
    expect(o.tick(view(616, 0, 60))).toBe(48);
    expect(o.tick(view(650, 0, 48))).toBeUndefined();
    // Spike over at 660 s: 5 is wanted, but 48 was wanted 11 s ago.
    expect(o.tick(view(661, 0, 48))).toBeUndefined();
    expect(o.tick(view(666, 0, 48))).toBe(5);
  });

  it('polling, acts only every pollSeconds and on the rate when its reading was taken', () => {
    const o = new OracleAutoscaler({
      trace,
      workload: defaultWorkload,
      minReplicas: 0,
      maxReplicas: 60,
      foresightSeconds: 0,
      pollSeconds: 5,
      name: 'oracle-poll',
    });
    const stale = (t: number): ClusterView => {
      const v = view(t, 0, 5);
      return { ...v, sample: { ...v.sample, at: v.sample.at - 1000 } };
    };
    expect(o.tick(stale(595))).toBeUndefined(); // polls at 595, 600, 605 …
    // At 600 s its reading is from 599 s, before the spike; between polls it does nothing.
    expect(o.tick(stale(600))).toBeUndefined();
    expect(o.tick(stale(602))).toBeUndefined();
    expect(o.tick(stale(605))).toBe(60);
  });

  it('with measuredRate, sizes for the arrivals its readings show, not the true rate', () => {
    const o = new OracleAutoscaler({
      trace,
      workload: defaultWorkload,
      minReplicas: 0,
      maxReplicas: 60,
      foresightSeconds: 0,
      measuredRate: true,
      name: 'signal',
    });
    // 10 ready replicas do 250/s: no shortfall piles up in what follows.
    const arrivedBy = (t: number, arrived: number): ClusterView => {
      const v = view(t, 0, 10);
      return { ...v, sample: { ...v.sample, deliveredStreamSeq: arrived, deliveredConsumerSeq: arrived } };
    };
    // First reading: nothing to measure from, the true 100/s: 100 × 1.2 / 25 = 4.8 → 5.
    expect(o.desired(arrivedBy(100, 10_000))).toBe(5);
    // 500 more arrived in the 2 s since: 250/s, though the trace says 100/s: 250 × 1.2 / 25 = 12.
    expect(o.desired(arrivedBy(102, 10_500))).toBe(12);
    // 1 s later 25 more, 10 of them pending (pending counts as arrived): 25/s and 10 to drain in 10 s → 2.
    const v = arrivedBy(103, 10_515);
    expect(o.desired({ ...v, sample: { ...v.sample, pending: 10 } })).toBe(2);
  });

  it("with rules, grows and shrinks within jetscale's step policies and windows", () => {
    const o = new OracleAutoscaler({
      trace,
      workload: defaultWorkload,
      minReplicas: 0,
      maxReplicas: 60,
      foresightSeconds: 0,
      // jetscale's scale-down window with a step limit (the default's before session 23: 100 %
      // per 15 s now, which no step here would reach).
      rules: {
        scaleUp: defaultScaleUp,
        scaleDown: {
          ...defaultScaleDown,
          policies: [
            { type: 'Percent', value: 50, periodSeconds: 15 },
            { type: 'Pods', value: 1, periodSeconds: 15 },
          ],
        },
      },
      name: 'steps',
    });
    // The spike wants 60 from 2 replicas; 12× or +40 per 15 s allows max(24, 42) = 42.
    expect(o.tick(view(600, 0, 2))).toBe(42);
    expect(o.tick(view(610, 0, 42, 2))).toBeUndefined();
    // 15 s after that step the period starts from 42: 60 allowed.
    expect(o.tick(view(615.25, 0, 42, 2))).toBe(60);
    // With 60 ready the spike wants 48; the window still holds the 60 wanted at 615.25 s.
    expect(o.tick(view(616, 0, 60))).toBeUndefined();
    // 15 s later only 48 is in the window: down to it (half of 60 would allow 30).
    expect(o.tick(view(631.25, 0, 60))).toBe(48);
    expect(o.tick(view(650, 0, 48))).toBeUndefined();
    // Spike over at 660 s: 5 wanted, but 48 was wanted 11 s ago.
    expect(o.tick(view(661, 0, 48))).toBeUndefined();
    // Out of the window: at most half per 15 s, 48 → 24, then nothing until 15 s after that step.
    expect(o.tick(view(666, 0, 48))).toBe(24);
    expect(o.tick(view(680, 0, 24))).toBeUndefined();
    expect(o.tick(view(681.25, 0, 24))).toBe(12);
  });

  it("the oracle-gap ladder starts at the bench's oracle and ends with jetscale's read, steps and drain", () => {
    const rungs = ladder();
    const [oracleRung] = rungs;
    const last = rungs.at(-1);
    if (oracleRung === undefined || last === undefined) throw new Error('the ladder has no rungs');
    expect(oracleRung.name).toBe('oracle');
    const first = runRung(oracleRung, trace, 3);
    const bench = runScenario(trace, 'oracle', 3);
    expect([first.p99WaitSeconds, first.replicaSeconds]).toEqual([
      bench.p99WaitSeconds,
      bench.replicaSeconds,
    ]);
    // Every rung keeps the ones before it: the last reads stale, polls, measures and steps.
    expect(last.stalenessSeconds).toBeGreaterThan(0);
    expect(last.oracle).toMatchObject({ pollSeconds: 2, measuredRate: true, drainSeconds: 30 });
    expect(last.oracle.rules?.scaleUp).toEqual(defaultScaleUp);
    expect(last.oracle.rules?.scaleDown).toEqual(defaultScaleDown);
  });

  it('bounds what reacting policies can reach on the spike', () => {
    const p99 = (policy: 'oracle' | 'jetscale' | 'clairvoyant'): number =>
      runScenario(trace, policy, 1).p99WaitSeconds;
    const reactive = p99('oracle');
    expect(reactive).toBeLessThan(p99('jetscale'));
    expect(p99('clairvoyant')).toBeLessThan(reactive / 5);
  });
});
