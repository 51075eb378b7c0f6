import { decide, emptyHistory } from '../../operator/src/scaling/decide.js';
import { withScalingDefaults } from '../../operator/src/scaling/defaults.js';
import type { ScalingHistory } from '../../operator/src/scaling/types.js';
import { HpaModel, KedaHpaAutoscaler, hpaBehaviorApiDefaults, kedaHpaDefaults } from './keda-hpa.js';
import { Prng } from './prng.js';
import type { ClusterView } from './simulator.js';

const T0 = Date.UTC(2026, 0, 1);
const s = (seconds: number): number => T0 + seconds * 1000;
const config = { ...kedaHpaDefaults, lagThreshold: 100, maxReplicaCount: 100 };
/** The same ScaledObject with an empty `behavior`: the API server's behavior defaults apply. */
const withBehavior = { ...config, behavior: hpaBehaviorApiDefaults };

function view(now: number, lag: number, specReplicas: number): ClusterView {
  return {
    now,
    sample: {
      at: now,
      pending: lag,
      ackPending: 0,
      redelivered: 0,
      waiting: 0,
      deliveredConsumerSeq: 0,
      deliveredStreamSeq: 0,
      ackFloorConsumerSeq: 0,
      maxAckPending: -1,
    },
    specReplicas,
    readyReplicas: specReplicas,
    statusReplicas: specReplicas,
  };
}

describe('HPA model (External metric, AverageValue target)', () => {
  it.each([
    { lag: 1050, status: 10, want: 10, why: 'within tolerance' },
    { lag: 1200, status: 10, want: 12, why: 'ceil(total / target)' },
    { lag: 30, status: 10, want: 1, why: 'a small total asks for one replica' },
  ])('computes $want replicas for lag $lag on $status replicas ($why)', ({ lag, status, want }) => {
    expect(new HpaModel(config).externalAverageValueReplicas(lag, status)).toBe(want);
  });

  it('with behavior nil (what KEDA creates by default) grows by max(2 × current, 4) per sync', () => {
    const hpa = new HpaModel(config);
    const path: number[] = [];
    let replicas = 1;
    for (let i = 0; i < 5; i++) {
      replicas = hpa.sync(s(15 * i), 100_000, replicas, replicas) ?? replicas;
      path.push(replicas);
    }
    // horizontal.go calculateScaleUpLimit: max(scaleUpLimitFactor × current, scaleUpLimitMinimum).
    expect(path).toEqual([4, 8, 16, 32, 64]);
  });

  it('with behavior nil keeps scaling up toward an earlier capped recommendation after the backlog is gone', () => {
    // The legacy stabilization returns the highest recommendation of the last 300 s and does not
    // compare it with the current size: a capped 1,000 keeps pulling the count up.
    const hpa = new HpaModel(config);
    let replicas = hpa.sync(s(0), 100_000, 1, 1) ?? 1;
    expect(replicas).toBe(4);
    const path: number[] = [];
    for (let t = 15; t <= 60; t += 15) {
      replicas = hpa.sync(s(t), 0, replicas, replicas) ?? replicas;
      path.push(replicas);
    }
    expect(path).toEqual([8, 16, 32, 64]);
  });

  it('with behavior nil seeds its window with the size it first sees, so it cannot shrink for 300 s', () => {
    const hpa = new HpaModel(config);
    let replicas = 20;
    const seen: number[] = [];
    for (let t = 0; t <= 330; t += 15) {
      replicas = hpa.sync(s(t), 0, replicas, replicas) ?? replicas;
      seen.push(replicas);
    }
    expect(seen.slice(0, 21)).toEqual(new Array(21).fill(20)); // t = 0 … 300: the seed is in the window
    expect(replicas).toBe(1); // KEDA's HPA has minReplicas 1 when minReplicaCount is 0
  });

  it('with a behavior set scales up by max(100 %, 4 pods) per 15 s, the API defaults', () => {
    const hpa = new HpaModel(withBehavior);
    const path: number[] = [];
    let replicas = 1;
    for (let i = 0; i < 5; i++) {
      replicas = hpa.sync(s(15 * i), 100_000, replicas, replicas) ?? replicas;
      path.push(replicas);
    }
    expect(path).toEqual([5, 10, 20, 40, 80]);
  });

  it('with a behavior set never scales up once the backlog is gone', () => {
    const hpa = new HpaModel(withBehavior);
    let replicas = hpa.sync(s(0), 100_000, 1, 1) ?? 1;
    expect(replicas).toBe(5);
    for (let t = 15; t <= 60; t += 15) {
      replicas = hpa.sync(s(t), 0, replicas, replicas) ?? replicas;
      expect(replicas).toBe(5);
    }
  });

  it('with a behavior set holds the highest recommendation for the 300 s scale-down window, then drops to minReplicas', () => {
    const hpa = new HpaModel(withBehavior);
    expect(hpa.sync(s(0), 2000, 20, 20)).toBeUndefined(); // recommends 20: no change
    let replicas = 20;
    const seen: number[] = [];
    for (let t = 15; t <= 330; t += 15) {
      replicas = hpa.sync(s(t), 0, replicas, replicas) ?? replicas;
      seen.push(replicas);
    }
    expect(seen.slice(0, 19)).toEqual(new Array(19).fill(20)); // t = 15 … 285
    expect(replicas).toBe(1);
  });

  it('does nothing at zero replicas (KEDA owns 0 ↔ 1)', () => {
    expect(new HpaModel(config).sync(s(0), 10_000, 0, 0)).toBeUndefined();
  });
});

describe('KEDA ScaledObject loop + HPA', () => {
  it('activates from zero at its polling interval, then lets the HPA grow at its next sync', () => {
    const keda = new KedaHpaAutoscaler({ ...config, hpaPhaseSeconds: 7 });
    let replicas = 0;
    const changes: Array<{ t: number; to: number }> = [];
    for (let t = 0; t <= 45; t++) {
      const lag = t >= 5 ? 5000 : 0;
      const to = keda.tick(view(s(t), lag, replicas));
      if (to !== undefined) {
        changes.push({ t, to });
        replicas = to;
      }
    }
    // KEDA polls at 0 and 30 s; the HPA syncs at 7, 22, 37 s and does nothing at zero replicas;
    // then the legacy path allows max(2 × 1, 4).
    expect(changes).toEqual([
      { t: 30, to: 1 },
      { t: 37, to: 4 },
    ]);
  });

  it('scales to zero only once cooldownPeriod (300 s) has passed since it was last active', () => {
    const keda = new KedaHpaAutoscaler({ ...config, hpaSyncPeriodSeconds: 10_000 });
    keda.tick(view(s(0), 50, 1)); // active at t = 0
    const decisions: Array<number | undefined> = [];
    for (let t = 30; t <= 330; t += 30) decisions.push(keda.tick(view(s(t), 0, 1)));
    expect(decisions.slice(0, 9)).toEqual(new Array(9).fill(undefined)); // t = 30 … 270
    expect(decisions).toContain(0);
    expect(decisions.indexOf(0)).toBe(9); // t = 300: 300 s after the last active poll
  });
});

describe('jetscale with HPA behaviour reproduces the HPA model', () => {
  it('matches the HPA step by step on a random backlog sequence while no rates are known', () => {
    const prng = new Prng(11);
    const spec = withScalingDefaults({
      minReplicas: 1,
      maxReplicas: 100,
      backlogPerReplica: 100,
      // The HPA ignores readiness for external metrics; the replicas below are never ready (so no
      // capacity is estimated), which jetscale would otherwise report and stop adding to.
      readinessDeadlineSeconds: Number.POSITIVE_INFINITY,
      // The same rules the HPA model runs: the API server's defaults for an empty behavior.
      scaleUp: hpaBehaviorApiDefaults.scaleUp,
      scaleDown: hpaBehaviorApiDefaults.scaleDown,
    });
    const hpa = new HpaModel(withBehavior);
    let history: ScalingHistory = emptyHistory();
    let replicas = 3;
    let lag = 500;
    for (let i = 0; i < 400; i++) {
      lag = Math.max(0, Math.round(lag * (0.6 + 0.8 * prng.next()) + (prng.next() < 0.05 ? 20_000 : 0)));
      const now = s(15 * i);
      const expected = hpa.sync(now, lag, replicas, replicas) ?? replicas;
      const d = decide({
        spec,
        sample: {
          at: now,
          pending: lag,
          ackPending: 0,
          redelivered: 0,
          waiting: 0,
          deliveredConsumerSeq: 0,
          deliveredStreamSeq: 0,
          ackFloorConsumerSeq: 0,
          maxAckPending: -1,
        },
        currentReplicas: replicas,
        readyReplicas: 0, // no ready replicas: no capacity estimate, so the backlog term alone decides
        history,
        now,
      });
      expect({ i, lag, replicas: d.desiredReplicas }).toEqual({ i, lag, replicas: expected });
      history = d.history;
      replicas = expected;
    }
  });
});
