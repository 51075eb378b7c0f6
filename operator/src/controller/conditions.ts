// Bookkeeping for status.conditions (metav1.Condition keyed by type): a condition keeps its
// lastTransitionTime while its status stays the same, so users can see since when something has
// been true; reasons and messages are refreshed every time. Messages carry text from users and
// servers (names, error texts), so they are capped well under the CRD's maxLength: a status write
// refused with 422 would leave the object without a Ready condition forever.
import type { Condition, ConditionType } from '../api/v1alpha1/event-consumer.js';
import { capText } from '../kube/capped-text.js';

export { capText };

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
  'StreamFull',
  'MessagesRemovedUnworked',
  'ReplicasReady',
  'Fallback',
  'Paused',
];

/** Longest condition message written, in characters (the CRD allows 32768). */
export const MAX_CONDITION_MESSAGE = 4096;
/** Longest condition reason written (the CRD allows 1024). */
export const MAX_CONDITION_REASON = 256;

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
      reason: capText(u.reason, MAX_CONDITION_REASON),
      message: capText(u.message, MAX_CONDITION_MESSAGE),
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
