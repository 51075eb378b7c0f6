// Turns a validated EventConsumer spec into the policy's ScalingSpec: durations become seconds and
// the scaling fields are handed over one to one. Kept apart from the schema so the policy package
// never sees Kubernetes-shaped input.
import type { ScalingRules, ScalingSpec } from '../../scaling/types.js';
import { parseDurationSeconds } from './duration.js';
import type { EventConsumerSpec } from './event-consumer.js';

type RulesSpec = EventConsumerSpec['behavior']['scaleUp'];

/** Seconds of a duration the schema has already validated. */
export function seconds(text: string): number {
  const value = parseDurationSeconds(text);
  if (value === undefined) throw new Error(`invalid duration "${text}" passed validation`);
  return value;
}

function rules(spec: RulesSpec): ScalingRules {
  return {
    stabilizationWindowSeconds: seconds(spec.stabilizationWindow),
    policies: spec.policies.map((p) => ({ type: p.type, value: p.value, periodSeconds: seconds(p.period) })),
    selectPolicy: spec.selectPolicy,
  };
}

export function toScalingSpec(spec: EventConsumerSpec): ScalingSpec {
  const scaling: ScalingSpec = {
    minReplicas: spec.minReplicas,
    maxReplicas: spec.maxReplicas,
    backlogPerReplica: spec.backlogPerReplica,
    activationBacklog: spec.activationBacklog,
    drainWithinSeconds: seconds(spec.drainWithin),
    scaleUp: rules(spec.behavior.scaleUp),
    scaleDown: rules(spec.behavior.scaleDown),
    cooldownPeriodSeconds: seconds(spec.behavior.cooldownPeriod),
    readinessDeadlineSeconds: seconds(spec.behavior.readinessDeadline),
    predictive: {
      enabled: spec.predictive.enabled,
      horizonSeconds: seconds(spec.predictive.horizon),
      maxRelativeError: spec.predictive.maxRelativeError,
    },
  };
  if (spec.predictive.seasonality !== undefined)
    scaling.predictive.seasonalitySeconds = seconds(spec.predictive.seasonality);
  if (spec.inFlightPerReplica !== undefined) scaling.inFlightPerReplica = spec.inFlightPerReplica;
  if (spec.latencyObjective !== undefined) scaling.latencyObjectiveSeconds = seconds(spec.latencyObjective);
  return scaling;
}

/** Poll interval in milliseconds, the requeue delay of every reconcile. */
export function pollIntervalMs(spec: EventConsumerSpec): number {
  return Math.round(seconds(spec.pollInterval) * 1000);
}
