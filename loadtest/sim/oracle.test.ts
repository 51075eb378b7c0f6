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

  it('bounds what reacting policies can reach on the spike', () => {
    const p99 = (policy: 'oracle' | 'jetscale' | 'clairvoyant'): number =>
      runScenario(trace, policy, 1).p99WaitSeconds;
    const reactive = p99('oracle');
    expect(reactive).toBeLessThan(p99('jetscale'));
    expect(p99('clairvoyant')).toBeLessThan(reactive / 5);
  });
});
