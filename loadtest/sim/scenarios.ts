// The benchmark's scenarios: which traces, which policies, and the settings they share, so that
// every policy faces the same workload with the same bounds (min 0, max 60, 100 messages per
// replica). Kept apart from bench.ts so tests and the bench build the same runs.

import { withScalingDefaults } from '../../operator/src/scaling/defaults.js';
import type { ScalingSpec } from '../../operator/src/scaling/types.js';
import { JetscaleAutoscaler } from './jetscale-autoscaler.js';
import { KedaHpaAutoscaler, kedaHpaDefaults } from './keda-hpa.js';
import { OracleAutoscaler } from './oracle.js';
import type { Autoscaler, RunResult, SimulationOptions, WorkloadModel } from './simulator.js';
import { defaultWorkload, simulate } from './simulator.js';
import { Prng, deriveSeed } from './prng.js';
import type { Trace } from './traces.js';
import { burstyTrace, diurnalTrace, rampTrace, spikeTrace, stepTrace } from './traces.js';

export const shared = {
  minReplicas: 0,
  maxReplicas: 60,
  backlogPerReplica: 100,
  jetscalePollSeconds: 5,
  latencyObjectiveSeconds: 10,
  metricStalenessSeconds: 1,
};

/** The table's policies; `oracle` is a reference (oracle.ts), not a contender. */
export const policyNames = ['keda', 'jetscale', 'jetscale-predictive', 'oracle'] as const;
/** Extra runs reported apart from the targets: KEDA with its own lagThreshold default (10). */
export const sensitivityPolicyNames = ['keda-lag10'] as const;
/** Only in the start-up sensitivity section: the oracle with foresight, and limited to jetscale's poll. */
export const referencePolicyNames = ['clairvoyant', 'oracle-poll'] as const;
export type PolicyName =
  | (typeof policyNames)[number]
  | (typeof sensitivityPolicyNames)[number]
  | (typeof referencePolicyNames)[number];

/**
 * The five synthetic traces. The spike lands at a seed-dependent time in [600, 900) s: a spike is
 * not aligned with any controller's loop, and KEDA's replica count at that moment depends on where
 * it is in its own scale-up/scale-down cycle, so a fixed time would favour one policy by luck.
 */
export function builtInTraces(seed: number): Trace[] {
  const spikeAt = Math.round(new Prng(deriveSeed(seed, 9)).uniform(600, 900));
  return [
    stepTrace(),
    spikeTrace({ atSeconds: spikeAt }),
    rampTrace(),
    diurnalTrace(),
    burstyTrace({ seed }),
  ];
}

export function jetscaleSpec(trace: Trace, predictive: boolean): ScalingSpec {
  const predictiveSpec: ScalingSpec['predictive'] = {
    enabled: predictive,
    horizonSeconds: 30,
    maxRelativeError: 0.3,
  };
  if (trace.seasonalitySeconds !== undefined) predictiveSpec.seasonalitySeconds = trace.seasonalitySeconds;
  return withScalingDefaults({
    minReplicas: shared.minReplicas,
    maxReplicas: shared.maxReplicas,
    backlogPerReplica: shared.backlogPerReplica,
    predictive: predictiveSpec,
  });
}

export function makeAutoscaler(
  policy: PolicyName,
  trace: Trace,
  seed: number,
  workload: WorkloadModel = defaultWorkload,
): Autoscaler {
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
        name: policy,
      });
    case 'keda':
    case 'keda-lag10':
      return new KedaHpaAutoscaler(
        {
          ...kedaHpaDefaults,
          minReplicaCount: shared.minReplicas,
          maxReplicaCount: shared.maxReplicas,
          lagThreshold: policy === 'keda' ? shared.backlogPerReplica : kedaHpaDefaults.lagThreshold,
          // The HPA's sync is not aligned with anything in the trace: vary its phase with the seed.
          hpaPhaseSeconds: seed % kedaHpaDefaults.hpaSyncPeriodSeconds,
        },
        policy,
      );
    case 'jetscale':
      return new JetscaleAutoscaler(jetscaleSpec(trace, false), shared.jetscalePollSeconds, 'jetscale');
    case 'jetscale-predictive':
      return new JetscaleAutoscaler(
        jetscaleSpec(trace, true),
        shared.jetscalePollSeconds,
        'jetscale-predictive',
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
    initialReplicas,
    tickSeconds: 0.25,
  };
}

/** Every run of the benchmark; `workload` differs from the default only in the sensitivity section. */
export function runScenario(
  trace: Trace,
  policy: PolicyName,
  seed: number,
  workload: WorkloadModel = defaultWorkload,
): RunResult {
  // The references read the consumer as it is now (knowing everything is their point), except the
  // one that is there to show what jetscale's poll and staleness cost.
  const isReference = policy === 'oracle' || policy === 'clairvoyant';
  return simulate(
    scenarioOptions(trace, seed, workload, isReference ? 0 : shared.metricStalenessSeconds),
    makeAutoscaler(policy, trace, seed, workload),
  );
}
