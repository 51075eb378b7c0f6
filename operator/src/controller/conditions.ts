// Bookkeeping for status.conditions (metav1.Condition keyed by type): a condition keeps its
// lastTransitionTime while its status stays the same, so users can see since when something has
// been true; reasons and messages are refreshed every time.
import type { Condition, ConditionType } from '../api/v1alpha1/event-consumer.js';

export interface ConditionUpdate {
  type: ConditionType;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

/** The order conditions are listed in, most important first. */
export const CONDITION_ORDER: ConditionType[] = [
  'Ready',
  'Active',
  'MetricsAvailable',
  'ScalingLimited',
  'Fallback',
  'Paused',
];

export function setConditions(
  existing: Condition[] | undefined,
  updates: ConditionUpdate[],
  now: string,
  generation: number | undefined,
): Condition[] {
  const byType = new Map<ConditionType, Condition>();
  for (const c of existing ?? []) if (CONDITION_ORDER.includes(c.type)) byType.set(c.type, c);
  for (const u of updates) {
    const previous = byType.get(u.type);
    const next: Condition = {
      type: u.type,
      status: u.status,
      reason: u.reason,
      message: u.message,
      lastTransitionTime: previous && previous.status === u.status ? previous.lastTransitionTime : now,
    };
    if (generation !== undefined) next.observedGeneration = generation;
    byType.set(u.type, next);
  }
  return CONDITION_ORDER.flatMap((type) => {
    const c = byType.get(type);
    return c ? [c] : [];
  });
}

export function findCondition(
  conditions: Condition[] | undefined,
  type: ConditionType,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}
