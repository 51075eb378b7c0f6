// The HPA's scaling behaviour (autoscaling/v2 `behavior`), as pure functions over jetscale's
// history: stabilization windows and step policies with the same semantics as
// kubernetes/pkg/controller/podautoscaler/horizontal.go (stabilizeRecommendationWithBehaviors,
// convertDesiredReplicasWithBehaviorRate, calculateScaleUpLimitWithScalingRules,
// calculateScaleDownLimitWithBehaviors, getReplicasChangePerPeriod), so a user moving from an HPA
// keeps the meaning of every field.

import type { ScalingHistory, ScalingRules } from './types.js';

/**
 * The stabilized recommendation: scale-up takes the lowest recommendation within its window,
 * scale-down the highest within its window, and the current count stays when it lies between.
 * Windows are open at the old end (a recommendation exactly `window` seconds old no longer counts),
 * like the HPA's `timestamp.After(cutoff)`.
 */
export function stabilize(
  recommendations: ScalingHistory['recommendations'],
  now: number,
  currentReplicas: number,
  recommended: number,
  scaleUp: ScalingRules,
  scaleDown: ScalingRules,
): number {
  const upCutoff = now - scaleUp.stabilizationWindowSeconds * 1000;
  const downCutoff = now - scaleDown.stabilizationWindowSeconds * 1000;
  let upRecommendation = recommended;
  let downRecommendation = recommended;
  for (const r of recommendations) {
    if (r.at > upCutoff) upRecommendation = Math.min(upRecommendation, r.replicas);
    if (r.at > downCutoff) downRecommendation = Math.max(downRecommendation, r.replicas);
  }
  let stabilized = currentReplicas;
  if (stabilized < upRecommendation) stabilized = upRecommendation;
  if (stabilized > downRecommendation) stabilized = downRecommendation;
  return stabilized;
}

/** Replicas added and removed by scale events newer than `periodSeconds`. */
export function replicaChangesInPeriod(
  scaleEvents: ScalingHistory['scaleEvents'],
  now: number,
  periodSeconds: number,
): { added: number; removed: number } {
  const cutoff = now - periodSeconds * 1000;
  let added = 0;
  let removed = 0;
  for (const e of scaleEvents) {
    if (e.at <= cutoff) continue;
    if (e.to > e.from) added += e.to - e.from;
    else removed += e.from - e.to;
  }
  return { added, removed };
}

/**
 * The most replicas the scale-up policies allow now. Each policy is measured from the replica count
 * at the start of its period (current − added + removed within it); Max picks the policy allowing
 * the biggest change, Min the smallest, Disabled forbids scaling up. Percent rounds up so that a
 * small deployment can always grow. Never below the current count.
 */
export function scaleUpLimit(
  rules: ScalingRules,
  scaleEvents: ScalingHistory['scaleEvents'],
  now: number,
  currentReplicas: number,
): number {
  if (rules.selectPolicy === 'Disabled' || rules.policies.length === 0) return currentReplicas;
  let limit = rules.selectPolicy === 'Min' ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
  for (const policy of rules.policies) {
    const { added, removed } = replicaChangesInPeriod(scaleEvents, now, policy.periodSeconds);
    const periodStart = currentReplicas - added + removed;
    const proposed =
      policy.type === 'Pods' ? periodStart + policy.value : Math.ceil(periodStart * (1 + policy.value / 100));
    limit = rules.selectPolicy === 'Min' ? Math.min(limit, proposed) : Math.max(limit, proposed);
  }
  return Math.max(limit, currentReplicas);
}

/**
 * The fewest replicas the scale-down policies allow now (mirror of scaleUpLimit). Percent rounds
 * down like the HPA's int32 conversion. Never above the current count.
 */
export function scaleDownLimit(
  rules: ScalingRules,
  scaleEvents: ScalingHistory['scaleEvents'],
  now: number,
  currentReplicas: number,
): number {
  if (rules.selectPolicy === 'Disabled' || rules.policies.length === 0) return currentReplicas;
  let limit = rules.selectPolicy === 'Min' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  for (const policy of rules.policies) {
    const { added, removed } = replicaChangesInPeriod(scaleEvents, now, policy.periodSeconds);
    const periodStart = currentReplicas - added + removed;
    const proposed =
      policy.type === 'Pods'
        ? periodStart - policy.value
        : Math.trunc(periodStart * (1 - policy.value / 100));
    limit = rules.selectPolicy === 'Min' ? Math.max(limit, proposed) : Math.min(limit, proposed);
  }
  return Math.min(limit, currentReplicas);
}
