// The events every load run sends to the gateway, shared by k6 and the local driver (so this file,
// like profiles.ts, imports nothing and uses no Node or k6 API). Each event id is unique across the
// run (`<testId>-<sequence>`), so the audit can tell a lost event from one applied twice; aggregate
// keys come from a fixed set: per-aggregate ordering and idempotency are exercised under load, and
// the set is large enough that replicas rarely contend for one aggregate.

export interface IngestEvent {
  id: string;
  type: string;
  aggregateId: string;
  /** When the event was created; the consumers measure end-to-end latency from it. */
  timestamp: string;
  payload: { amount: number; sequence: number; testId: string };
}

/** How many distinct aggregates the load spreads over. */
export const aggregateCount = 1024;

/** The `sequence`-th event (0-based) of test run `testId`. */
export function loadEvent(testId: string, sequence: number, now: Date): IngestEvent {
  return {
    id: `${testId}-${sequence}`,
    type: 'order_placed',
    aggregateId: `order-${sequence % aggregateCount}`,
    timestamp: now.toISOString(),
    payload: { amount: 1 + (sequence % 97), sequence, testId },
  };
}
