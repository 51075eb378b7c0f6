// Defaults for the scaling part of an EventConsumer and the helper that applies them. The CRD
// carries the same defaults (durations as strings such as "15s"); the controller converts them to
// seconds and hands `withScalingDefaults` whatever the user left out. Each default says why.

import { DEFAULT_READINESS_DEADLINE_SECONDS } from './readiness.js';
import type { PredictiveSpec, ScalingRules, ScalingSpec, StepPolicy } from './types.js';

/**
 * Scale-up: no stabilization window, and at most 12× the replicas (or +40 pods, whichever is more)
 * per 15 s. The HPA's own default is 2× or +4 pods because a CPU ratio is a noisy proxy for demand;
 * jetscale's recommendation is the measured arrival rate plus the backlog to drain, already capped
 * by maxReplicas and by what max_ack_pending lets work in parallel. The step policy here is a guard
 * against a wild reading, not a brake: a 10× spike is met in one step instead of four doublings,
 * which matters because every step waits for pods to start. 12× rather than 10× (session 29): the
 * replicas before a rise run with headroom, so 10× of them covers a 10× rise's rate and little
 * more, while what piles up during the new pods' start-up is what the panic sizes for too; with 10×
 * the rest came one 15 s period later (loadtest/sim spike trace, seed 1: 5 replicas for 100/s, 50
 * at the spike's first panic reading and the last 10 of the 60 it asked for 14 s later; the
 * oracle asks 60 at the spike's first tick). Measured on the bench's 14 seeds (medians, default
 * jetscale): spike p99 12.75 → 12.26 s, recurring 11.82 → 11.36 s, replica-seconds bursty
 * +0.8 %, step +0.4 %, spike +0.5 %, recurring −0.5 %, the other traces unchanged. 15× and 20×
 * bought recurring more (10.89 s, 10.61 s) at a higher cost (bursty +2.9 % and +1.9 %, recurring
 * −0.7 % and +2.1 %).
 * +20 rather than +10 pods: from one or two replicas a burst needs more than ten in its first step
 * (measured, make bench-scaling, 3 seeds: bursty p99 22.3 → 17.9 s at +0.9 % replica-seconds; the
 * other traces unchanged).
 * +40 rather than +20 pods (session 30): from one replica a 40× burst (loadtest/sim bursty: 10/s,
 * then 400/s) got 21 pods in its first period and the rest of the 60 its pile-up asked 14 s later,
 * while the 21 drained ~6,000 queued at ~125/s; the oracle asks 60 at the burst's first tick.
 * Measured on the bench's 14 seeds (medians, default jetscale, paired): bursty p99 14.63 → 12.85 s
 * at −2.6 % replica-seconds (the queue is gone sooner), recurring 11.36 → 11.12 s at −0.0 %, demo
 * 8.74 → 8.64 s at +3.4 % (its rise from one replica at the start); step, spike, ramp, diurnal and
 * recorded identical (12× is the larger step from 4 replicas on). +50: bursty 12.39 s at +5.9 %,
 * +60 (6 seeds) 12.25 s at +11.5 %: the pile-up is asked for at a low-end per-replica figure, and
 * the pods past ~40 start after the queue they were sized for is drained.
 */
export const defaultScaleUp: ScalingRules = {
  stabilizationWindowSeconds: 0,
  policies: [
    { type: 'Percent', value: 1100, periodSeconds: 15 },
    { type: 'Pods', value: 40, periodSeconds: 15 },
  ],
  selectPolicy: 'Max',
};

/**
 * Scale-down: the highest recommendation of the last 15 s wins (the HPA uses 300 s; jetscale's
 * recommendation follows the measured arrival rate, which the readings of 15 s already smooth),
 * then no step limit beyond it (100 % per 15 s): once the window has passed, the count follows the
 * recommendation, which the arrival rate's 10 s smoothing (rates.ts ARRIVAL_TIME_CONSTANT_SECONDS)
 * already lowers gradually. Until session 23 it was then at most half the replicas (or 1 pod) per
 * 15 s: after a burst of 400/s that held 39 replicas, every 5 s from 15 s after it ended the count
 * read 39, 26, 19, 19, 13, 9, 9 where 10/s needs 2 (now 39, 26, 17, 11, 8, 5, 3; loadtest/sim
 * scenarios.test.ts, seed 1), and such halvings were most of the bursty trace's cost over the oracle
 * (loadtest/sim/README.md, "The scale-down window": measured, 14 seeds paired). A short lull
 * still keeps the capacity: the window holds it, and the smoothed rate falls only partly in a dip.
 * The window was measured (make bench-scaling, 14 seeds paired): against a 30 s window,
 * replica-seconds −0.8 % (diurnal) to −16.7 % (bursty) at an equal p99 on every trace, for more
 * churn — pod starts +0 to +52 % (the captured demo run), pods started within 60 s of a scale-down
 * 1.5–4× as many on five traces (equal on spike and recurring).
 * Against the 60 s window and 25 % per 30 s of an earlier round, the 30 s one had cut
 * replica-seconds after bursts by about a third.
 */
export const defaultScaleDown: ScalingRules = {
  stabilizationWindowSeconds: 15,
  policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
  selectPolicy: 'Max',
};

/** Predictive scaling is opt-in; the horizon is about the time a new replica takes to consume. */
export const defaultPredictive: PredictiveSpec = {
  enabled: false,
  horizonSeconds: 30,
  maxRelativeError: 0.3,
};

export const defaultScalingSpec: ScalingSpec = {
  minReplicas: 1,
  maxReplicas: 10,
  // KEDA's lagThreshold default is 10; 100 suits handlers that take milliseconds per message.
  backlogPerReplica: 100,
  // Like KEDA's activationLagThreshold: leave zero on the first message.
  activationBacklog: 0,
  drainWithinSeconds: 30,
  scaleUp: defaultScaleUp,
  scaleDown: defaultScaleDown,
  // Shorter than KEDA's 300 s because jetscale also requires nothing awaiting ack.
  cooldownPeriodSeconds: 120,
  predictive: defaultPredictive,
  // Longer than a slow image pull, shorter than a crash loop's 5 min back-off (readiness.ts).
  readinessDeadlineSeconds: DEFAULT_READINESS_DEADLINE_SECONDS,
};

/** What a user may leave out: every field optional, one level deep for the nested objects. */
export interface ScalingSpecInput {
  minReplicas?: number;
  maxReplicas?: number;
  backlogPerReplica?: number;
  activationBacklog?: number;
  drainWithinSeconds?: number;
  latencyObjectiveSeconds?: number;
  scaleUp?: Partial<ScalingRules>;
  scaleDown?: Partial<ScalingRules>;
  cooldownPeriodSeconds?: number;
  predictive?: Partial<PredictiveSpec>;
  inFlightPerReplica?: number;
  readinessDeadlineSeconds?: number;
}

function rulesWithDefaults(input: Partial<ScalingRules> | undefined, fallback: ScalingRules): ScalingRules {
  const policies: StepPolicy[] = (input?.policies ?? fallback.policies).map((p) => ({ ...p }));
  return {
    stabilizationWindowSeconds: input?.stabilizationWindowSeconds ?? fallback.stabilizationWindowSeconds,
    policies,
    selectPolicy: input?.selectPolicy ?? fallback.selectPolicy,
  };
}

/** Fills every omitted field from `defaultScalingSpec`; the result shares no objects with it. */
export function withScalingDefaults(input: ScalingSpecInput = {}): ScalingSpec {
  const d = defaultScalingSpec;
  const spec: ScalingSpec = {
    minReplicas: input.minReplicas ?? d.minReplicas,
    maxReplicas: input.maxReplicas ?? d.maxReplicas,
    backlogPerReplica: input.backlogPerReplica ?? d.backlogPerReplica,
    activationBacklog: input.activationBacklog ?? d.activationBacklog,
    drainWithinSeconds: input.drainWithinSeconds ?? d.drainWithinSeconds,
    scaleUp: rulesWithDefaults(input.scaleUp, d.scaleUp),
    scaleDown: rulesWithDefaults(input.scaleDown, d.scaleDown),
    cooldownPeriodSeconds: input.cooldownPeriodSeconds ?? d.cooldownPeriodSeconds,
    predictive: { ...d.predictive, ...input.predictive },
  };
  const readinessDeadline = input.readinessDeadlineSeconds ?? d.readinessDeadlineSeconds;
  if (readinessDeadline !== undefined) spec.readinessDeadlineSeconds = readinessDeadline;
  if (input.inFlightPerReplica !== undefined) spec.inFlightPerReplica = input.inFlightPerReplica;
  const objective = input.latencyObjectiveSeconds ?? d.latencyObjectiveSeconds;
  if (objective !== undefined) spec.latencyObjectiveSeconds = objective;
  return spec;
}

/**
 * Problems that make a spec unusable, as messages a user can act on (empty = fine). The CRD's CEL
 * rules should reject these first; the policy still guards itself against them.
 */
export function scalingSpecProblems(spec: ScalingSpec): string[] {
  const problems: string[] = [];
  const nonNegativeInt = (name: string, v: number): void => {
    if (!Number.isInteger(v) || v < 0) problems.push(`${name} must be a whole number ≥ 0 (got ${v})`);
  };
  nonNegativeInt('minReplicas', spec.minReplicas);
  nonNegativeInt('maxReplicas', spec.maxReplicas);
  if (spec.maxReplicas < 1) problems.push('maxReplicas must be at least 1');
  if (spec.minReplicas > spec.maxReplicas) {
    problems.push(`minReplicas (${spec.minReplicas}) must not exceed maxReplicas (${spec.maxReplicas})`);
  }
  if (!(spec.backlogPerReplica > 0)) problems.push('backlogPerReplica must be greater than 0');
  if (!(spec.activationBacklog >= 0)) problems.push('activationBacklog must be ≥ 0');
  if (!(spec.drainWithinSeconds > 0)) problems.push('drainWithinSeconds must be greater than 0');
  if (!(spec.cooldownPeriodSeconds >= 0)) problems.push('cooldownPeriodSeconds must be ≥ 0');
  for (const [direction, rules] of [
    ['scaleUp', spec.scaleUp],
    ['scaleDown', spec.scaleDown],
  ] as const) {
    const w = rules.stabilizationWindowSeconds;
    if (!(w >= 0 && w <= 3600)) problems.push(`${direction}.stabilizationWindowSeconds must be in [0, 3600]`);
    if (rules.selectPolicy !== 'Disabled' && rules.policies.length === 0) {
      problems.push(`${direction}.policies needs at least one policy unless selectPolicy is Disabled`);
    }
    for (const p of rules.policies) {
      if (!(p.value > 0)) problems.push(`${direction} ${p.type} policy value must be greater than 0`);
      if (!(p.periodSeconds > 0 && p.periodSeconds <= 1800)) {
        problems.push(`${direction} policy periodSeconds must be in (0, 1800]`);
      }
    }
  }
  if (!(spec.predictive.horizonSeconds > 0))
    problems.push('predictive.horizonSeconds must be greater than 0');
  if (!(spec.predictive.maxRelativeError > 0))
    problems.push('predictive.maxRelativeError must be greater than 0');
  if (spec.predictive.seasonalitySeconds !== undefined && !(spec.predictive.seasonalitySeconds > 0)) {
    problems.push('predictive.seasonalitySeconds must be greater than 0 when set');
  }
  if (spec.latencyObjectiveSeconds !== undefined && !(spec.latencyObjectiveSeconds > 0)) {
    problems.push('latencyObjective must be greater than 0 when set');
  }
  if (spec.readinessDeadlineSeconds !== undefined && !(spec.readinessDeadlineSeconds > 0)) {
    problems.push('readinessDeadlineSeconds must be greater than 0 when set');
  }
  if (spec.inFlightPerReplica !== undefined && !(spec.inFlightPerReplica > 0)) {
    problems.push('inFlightPerReplica must be greater than 0 when set');
  }
  return problems;
}
