// Pure decisions of the consumer: the ordering policy for versioned events and what to do with a
// failed attempt (retry later with a growing delay, or dead-letter). Kept free of I/O so they are
// table-tested and the README can state them exactly.

export type OrderDecision =
  | { kind: 'apply'; version: number }
  | { kind: 'wait_for_predecessor'; missing: number }
  | { kind: 'version_conflict'; current: number };

/**
 * An unversioned event takes the next version. A versioned one applies only right after its
 * predecessor; if it is ahead it waits (nak with delay); if its version is already taken by another
 * event it can never apply (dead letter).
 */
export function decideOrder(currentVersion: number, eventVersion: number | undefined): OrderDecision {
  if (eventVersion === undefined || eventVersion === currentVersion + 1) {
    return { kind: 'apply', version: currentVersion + 1 };
  }
  if (eventVersion > currentVersion + 1) return { kind: 'wait_for_predecessor', missing: currentVersion + 1 };
  return { kind: 'version_conflict', current: currentVersion };
}

export interface RetryPolicy {
  maxDeliver: number;
  baseDelayMs: number;
  maxDelayMs: number;
  orderDelayMs: number;
}

export type FailureDecision = { kind: 'nak'; delayMs: number } | { kind: 'dead_letter' };

/** Exponential delay for transient failures: base, 2·base, 4·base … capped. */
export function retryDelayMs(deliveryCount: number, policy: RetryPolicy): number {
  const exp = Math.min(Math.max(deliveryCount - 1, 0), 30);
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** exp);
}

/** After a failed attempt number `deliveryCount` (1-based): retry, or dead-letter when attempts are used up. */
export function onFailure(
  deliveryCount: number,
  policy: RetryPolicy,
  kind: 'transient' | 'out_of_order',
): FailureDecision {
  if (deliveryCount >= policy.maxDeliver) return { kind: 'dead_letter' };
  const delayMs =
    kind === 'transient'
      ? retryDelayMs(deliveryCount, policy)
      : Math.min(policy.maxDelayMs, policy.orderDelayMs * Math.max(deliveryCount, 1));
  return { kind: 'nak', delayMs };
}
