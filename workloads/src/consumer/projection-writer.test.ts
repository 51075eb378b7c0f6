import { isWriterMarkKey, writerTimings } from './projection-writer.js';

describe('writer mark timings', () => {
  it('refreshes the mark well before it stops appending, and stops well before others step in', () => {
    const t = writerTimings(15_000);
    expect(t).toEqual({ heartbeatMs: 3000, appendDeadlineMs: 7500, checkOthersMs: 5000 });
    // Two heartbeats may fail before appends stop; appends stop at half the time others wait.
    expect(2 * t.heartbeatMs).toBeLessThan(t.appendDeadlineMs);
  });
});

describe('writer mark keys', () => {
  it('cannot be an aggregate id (aggregate ids have no dot)', () => {
    expect(isWriterMarkKey('_writers.0b8c')).toBe(true);
    expect(isWriterMarkKey('_writers')).toBe(false);
    expect(isWriterMarkKey('acc-1')).toBe(false);
  });
});
