// The benchmark's scenarios: which traces, which policies, and the settings they share, so that
// every policy faces the same workload with the same bounds (min 0, max 60, 100 messages per
// replica). Kept apart from bench.ts so tests and the bench build the same runs.

import { defaultScaleUp, withScalingDefaults } from '../../operator/src/scaling/defaults.js';
import type { ScalingSpec } from '../../operator/src/scaling/types.js';
import { JetscaleAutoscaler } from './jetscale-autoscaler.js';
import type { HpaBehavior, KedaHpaConfig } from './keda-hpa.js';
import { KedaHpaAutoscaler, hpaBehaviorApiDefaults, kedaHpaDefaults } from './keda-hpa.js';
import { CostPlanner, OracleAutoscaler } from './oracle.js';
import type { Autoscaler, RunResult, SimulationOptions, WorkloadModel } from './simulator.js';
import { defaultWorkload, simulate } from './simulator.js';
import { Prng, deriveSeed } from './prng.js';
import type { Trace } from './traces.js';
import {
  burstyTrace,
  diurnalTrace,
  rampTrace,
  recurringBurstTrace,
  spikeTrace,
  stepTrace,
} from './traces.js';

export const shared = {
  minReplicas: 0,
  maxReplicas: 60,
  backlogPerReplica: 100,
  jetscalePollSeconds: 5,
  latencyObjectiveSeconds: 10,
  metricStalenessSeconds: 1,
  /**
   * After a trace ends the run goes on with no arrivals until the queue is empty (at most this
   * long), so every message is served and waited for and its draining is paid in replica-seconds.
   * Without it a policy leaving a standing queue at the end had those messages counted at the age
   * they had reached and their service for free: 6–11 % of the captured demo run at objectives of
   * 80–120 s and KEDA's lagThreshold 1000 (14 seeds), which put keda-tuned@1000 at 0.997× the
   * physical minimum.
   */
  drainLimitSeconds: 1800,
};

/** The trace as a run sees it: nothing arrives after its duration (the drain, above). */
export function endingAt(trace: Trace): Trace {
  return { ...trace, rateAt: (t) => (t < trace.durationSeconds ? trace.rateAt(t) : 0) };
}

/**
 * Every policy the bench can run. Contenders: `keda` (a ScaledObject with every default: the HPA
 * gets `behavior: nil` and takes its legacy path), `keda-tuned` (the same with the HPA behavior a
 * careful KEDA user sets, `kedaTunedBehavior`: jetscale's scale-up, a 30 s scale-down window),
 * `jetscale`, `jetscale-predictive`. Named variant: `keda-behavior-defaults` (a ScaledObject with an
 * empty `advanced.horizontalPodAutoscalerConfig.behavior`, so the API server's behavior defaults
 * apply: this was the bench's KEDA model before issue 13). References (oracle.ts), not contenders:
 * `oracle`, `oracle-poll`, `clairvoyant`, `clairvoyant-cost`.
 */
export const allPolicyNames = [
  'keda',
  'keda-tuned',
  'keda-behavior-defaults',
  'jetscale',
  'jetscale-predictive',
  'oracle',
  'oracle-poll',
  'clairvoyant',
  'clairvoyant-cost',
] as const;
export type PolicyName = (typeof allPolicyNames)[number];

/**
 * One point of a policy family: the policy and the value of its one trade-off knob —
 * lagThreshold for the KEDA families, spec.latencyObjective (seconds) for jetscale, the wait it
 * plans for (seconds) for `clairvoyant-cost`. Undefined = the policy's default (for jetscale: no
 * latency objective, sized by drainWithin).
 */
export interface Setting {
  policy: PolicyName;
  knob?: number;
}

/** KEDA's lagThreshold default (pkg/scalers/nats_jetstream_scaler.go). */
export const KEDA_DEFAULT_LAG_THRESHOLD = kedaHpaDefaults.lagThreshold;

/** The main table: each contender at its defaults, the oracle, and the oracle read at jetscale's 5 s poll. */
export const tableSettings: Setting[] = [
  { policy: 'keda' },
  { policy: 'keda-tuned' },
  { policy: 'jetscale' },
  { policy: 'jetscale-predictive' },
  { policy: 'oracle' },
  { policy: 'oracle-poll' },
];

/** The knob values swept for each family's frontier. */
export const frontierKnobs: Partial<Record<PolicyName, number[]>> = {
  keda: [5, 10, 20, 50, 100, 200, 500, 1000],
  'keda-tuned': [5, 10, 20, 50, 100, 200, 500, 1000],
  jetscale: [
    0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7, 0.8, 1, 1.5, 2, 3, 4, 5, 6, 8, 10, 30, 40, 45, 50, 55, 60,
    65, 70, 75, 80, 90, 100, 105, 120,
  ],
  'clairvoyant-cost': [0, 1, 2, 5, 10, 20, 30, 40, 45, 50, 55, 60, 70, 80],
};

export function settingLabel(setting: Setting): string {
  return setting.knob === undefined ? setting.policy : `${setting.policy}@${setting.knob}`;
}

/** The bench's traces. The spike lands at a seed-dependent time in [600, 900) s: see below. */
export function builtInTraces(seed: number): Trace[] {
  // A spike is not aligned with any controller's loop, and KEDA's replica count at that moment
  // depends on where it is in its own scale-up/scale-down cycle, so a fixed time would favour one
  // policy by luck.
  const spikeAt = Math.round(new Prng(deriveSeed(seed, 9)).uniform(600, 900));
  return [
    stepTrace(),
    spikeTrace({ atSeconds: spikeAt }),
    rampTrace(),
    diurnalTrace(),
    burstyTrace({ seed }),
    recurringBurstTrace(),
  ];
}

export function jetscaleSpec(
  trace: Trace,
  predictive: boolean,
  latencyObjectiveSeconds?: number,
): ScalingSpec {
  const predictiveSpec: ScalingSpec['predictive'] = {
    enabled: predictive,
    horizonSeconds: 30,
    maxRelativeError: 0.3,
  };
  // The period is not told (trace.seasonalitySeconds stays unused): predictive mode has to find
  // recurring load in what it observed (operator/src/scaling/seasonality.ts).
  const input: Parameters<typeof withScalingDefaults>[0] = {
    minReplicas: shared.minReplicas,
    maxReplicas: shared.maxReplicas,
    backlogPerReplica: shared.backlogPerReplica,
    predictive: predictiveSpec,
  };
  if (latencyObjectiveSeconds !== undefined) input.latencyObjectiveSeconds = latencyObjectiveSeconds;
  return withScalingDefaults(input);
}

/**
 * The HPA behavior a careful KEDA user sets (`keda-tuned`), given through the behavior KEDA passes
 * on: jetscale's scale-up (defaults.ts: 12× or +40 pods per 15 s, no window; 10× before session 29, +20 before session 30) and a 30 s scale-down
 * window, then 50 % or 1 pod per 15 s. It was jetscale's own scale-down until its default window
 * became 15 s; the baseline kept 30 s and no longer follows jetscale's scale-down defaults. At the
 * HPA's 15 s sync a 15 s window holds about one earlier recommendation: measured on keda-tuned@10,
 * scale events ×1.1–2.2 and pod starts up to ×3 (diurnal), and at lagThreshold 1000 p99 +22 to
 * +29 s on spike, bursty and recurring — a window that weakens the baseline where it is strongest
 * (loadtest/sim/README.md "The scale-down window").
 */
export const kedaTunedBehavior: HpaBehavior = {
  scaleUp: defaultScaleUp,
  scaleDown: {
    stabilizationWindowSeconds: 30,
    policies: [
      { type: 'Percent', value: 50, periodSeconds: 15 },
      { type: 'Pods', value: 1, periodSeconds: 15 },
    ],
    selectPolicy: 'Max',
  },
};

/** The random stream (prng.ts deriveSeed) of the HPA's sync phase; 1–3 are the simulator's, 9 the spike's time. */
const HPA_PHASE_STREAM = 10;
/** The random stream of `oracle-poll`'s poll phase. */
const ORACLE_POLL_PHASE_STREAM = 11;

/**
 * When `oracle-poll` first reads, drawn per seed uniform over its poll interval. From 0 s its
 * reading at each multiple of 5 s carried the rate 1 s before (the staleness), so it met the step
 * (600 s) and every recurring burst (900 s + k × 1800 s) a whole poll late, on every seed: a
 * bound weaker than the policies it bounds, which poll at a phase of their own history.
 */
export function oraclePollPhaseSeconds(seed: number): number {
  return new Prng(deriveSeed(seed, ORACLE_POLL_PHASE_STREAM)).uniform(0, shared.jetscalePollSeconds);
}

/** The KEDA configurations: every default, except the bounds shared by all policies. */
export function kedaConfig(
  policy: 'keda' | 'keda-tuned' | 'keda-behavior-defaults',
  lagThreshold: number,
  seed: number,
): KedaHpaConfig {
  const config: KedaHpaConfig = {
    ...kedaHpaDefaults,
    minReplicaCount: shared.minReplicas,
    maxReplicaCount: shared.maxReplicas,
    lagThreshold,
    // The HPA's sync is not aligned with anything in the trace: its phase is drawn from the seed,
    // uniform over the sync period. (It was seed % 15: the step and every recurring burst start on
    // a multiple of 15 s, so seeds 1–5 had the HPA look 1–5 s after each of them, never 6–15 s.)
    hpaPhaseSeconds: new Prng(deriveSeed(seed, HPA_PHASE_STREAM)).uniform(
      0,
      kedaHpaDefaults.hpaSyncPeriodSeconds,
    ),
  };
  if (policy === 'keda-tuned') config.behavior = kedaTunedBehavior;
  if (policy === 'keda-behavior-defaults') config.behavior = hpaBehaviorApiDefaults;
  return config;
}

export function makeAutoscaler(
  setting: Setting,
  trace: Trace,
  seed: number,
  workload: WorkloadModel = defaultWorkload,
): Autoscaler {
  const { policy, knob } = setting;
  const name = settingLabel(setting);
  switch (policy) {
    case 'oracle':
    case 'clairvoyant':
    case 'oracle-poll':
      return new OracleAutoscaler({
        trace,
        workload,
        minReplicas: shared.minReplicas,
        maxReplicas: shared.maxReplicas,
        foresightSeconds: policy === 'clairvoyant' ? Math.ceil(workload.startupSeconds.max) : 0,
        pollSeconds: policy === 'oracle-poll' ? shared.jetscalePollSeconds : 0,
        pollPhaseSeconds: policy === 'oracle-poll' ? oraclePollPhaseSeconds(seed) : 0,
        name,
      });
    case 'clairvoyant-cost':
      return new CostPlanner({
        trace,
        workload,
        minReplicas: shared.minReplicas,
        maxReplicas: shared.maxReplicas,
        plannedWaitSeconds: knob ?? 0,
        name,
      });
    case 'keda':
    case 'keda-tuned':
    case 'keda-behavior-defaults':
      return new KedaHpaAutoscaler(kedaConfig(policy, knob ?? KEDA_DEFAULT_LAG_THRESHOLD, seed), name);
    case 'jetscale':
    case 'jetscale-predictive':
      return new JetscaleAutoscaler(
        jetscaleSpec(trace, policy === 'jetscale-predictive', knob),
        shared.jetscalePollSeconds,
        name,
      );
  }
}

export function scenarioOptions(
  trace: Trace,
  seed: number,
  workload: WorkloadModel = defaultWorkload,
  metricStalenessSeconds: number = shared.metricStalenessSeconds,
): SimulationOptions {
  // Start warm: enough replicas for the initial rate, so the comparison is about reacting to change.
  const initialReplicas = Math.max(1, Math.ceil((trace.rateAt(0) * 1.2) / workload.serviceRatePerReplica));
  return {
    seed,
    trace,
    workload,
    metricStalenessSeconds,
    latencyObjectiveSeconds: shared.latencyObjectiveSeconds,
    drainLimitSeconds: shared.drainLimitSeconds,
    initialReplicas,
    tickSeconds: 0.25,
    ...(trace.warmupSeconds !== undefined ? { warmupSeconds: trace.warmupSeconds } : {}),
  };
}

/** Every run of the benchmark; `workload` differs from the default only in the sensitivity section. */
export function runScenario(
  trace: Trace,
  setting: Setting | PolicyName,
  seed: number,
  workload: WorkloadModel = defaultWorkload,
): RunResult {
  const s: Setting = typeof setting === 'string' ? { policy: setting } : setting;
  // The references read the trace: they know arrivals stop when it ends, as they do.
  const run = endingAt(trace);
  // The references read the consumer as it is now (knowing everything is their point), except the
  // one that is there to show what jetscale's poll and staleness cost.
  const isReference = s.policy === 'oracle' || s.policy === 'clairvoyant' || s.policy === 'clairvoyant-cost';
  return simulate(
    scenarioOptions(run, seed, workload, isReference ? 0 : shared.metricStalenessSeconds),
    makeAutoscaler(s, run, seed, workload),
  );
}
