// The event for the current k6 iteration: the shared event shape (loadtest/profiles/events.ts)
// numbered by k6's test-wide iteration counter, so ids stay unique across VUs (and, with
// k6-operator parallelism, across runners: each has its own execution segment of iterations).
import exec from 'k6/execution';
import { loadEvent, type IngestEvent } from '../../profiles/events.ts';

export function nextEvent(testId: string): IngestEvent {
  return loadEvent(testId, exec.scenario.iterationInTest, new Date());
}
