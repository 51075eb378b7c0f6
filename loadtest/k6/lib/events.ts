// The events k6 sends to the gateway: every event has an id unique across the whole test run
// (so the audit can tell a lost event from a duplicate) and an aggregate key drawn from a fixed
// set (so the consumers' per-aggregate ordering and idempotency are exercised under load).
import exec from 'k6/execution';

export interface IngestEvent {
  id: string;
  type: string;
  aggregateId: string;
  payload: { amount: number; sequence: number; testId: string };
}

/** How many distinct aggregates the load spreads over. */
export const aggregateCount = 64;

/** The event for the current iteration; ids are `<testId>-<iterationInTest>`, unique per run. */
export function nextEvent(testId: string): IngestEvent {
  const sequence = exec.scenario.iterationInTest;
  return {
    id: `${testId}-${sequence}`,
    type: 'order.placed',
    aggregateId: `order-${sequence % aggregateCount}`,
    payload: { amount: 1 + (sequence % 97), sequence, testId },
  };
}
