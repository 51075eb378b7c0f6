import { DiscardPolicy, JetStreamApiError } from '@nats-io/jetstream';
import { isAlreadyInLog } from '../consumer/event-store.js';
import { loadConfig, natsSchema, topologyOf } from './config.js';
import { eventLogConfig, eventLogMismatch } from './topology.js';

const config = loadConfig(natsSchema, {});

describe('the event log layout', () => {
  it('puts each event on a subject of its own, under a filter per aggregate', () => {
    const t = topologyOf(config);
    expect(t.eventLogSubject('acc-1', 'e-9')).toBe('eventlog.acc-1.e-9');
    expect(t.eventLogAggregateFilter('acc-1')).toBe('eventlog.acc-1.*');
    expect(t.aggregateOfLogSubject('eventlog.acc-1.e-9')).toBe('acc-1');
    // The older layout (one subject per aggregate) and foreign subjects name no aggregate.
    expect(t.aggregateOfLogSubject('eventlog.acc-1')).toBeUndefined();
    expect(t.aggregateOfLogSubject('other.acc-1.e-9')).toBeUndefined();
  });

  it('is a stream that refuses a second message on a subject', () => {
    expect(eventLogConfig(config)).toMatchObject({
      name: 'EVENTLOG',
      subjects: ['eventlog.*.*'],
      max_msgs_per_subject: 1,
      discard: DiscardPolicy.New,
      discard_new_per_subject: true,
    });
  });

  it('accepts an existing log with that layout', () => {
    const wanted = eventLogConfig(config);
    expect(eventLogMismatch({ ...wanted, max_age: 0 }, wanted)).toBeUndefined();
  });

  it('refuses a log of the older layout, naming every difference and what to do', () => {
    const wanted = eventLogConfig(config);
    const old = {
      name: 'EVENTLOG',
      subjects: ['eventlog.>'],
      discard: DiscardPolicy.Old,
      max_msgs_per_subject: -1,
    };
    const message = eventLogMismatch(old, wanted) ?? '';
    expect(message).toMatch(/subjects \["eventlog\.>"\] \(wanted \["eventlog\.\*\.\*"\]\)/);
    expect(message).toMatch(/max_msgs_per_subject -1 \(wanted 1\)/);
    expect(message).toMatch(/discard old \(wanted new\)/);
    expect(message).toMatch(/discard_new_per_subject off/);
    expect(message).toMatch(/would delete the history/);
    expect(message).toMatch(/EVENT_LOG_STREAM/);
  });

  it('refuses a log where only the per-subject refusal is missing', () => {
    const wanted = eventLogConfig(config);
    expect(eventLogMismatch({ ...wanted, discard_new_per_subject: false }, wanted)).toMatch(
      /discard_new_per_subject off \(wanted on\)/,
    );
  });
});

describe('isAlreadyInLog', () => {
  const apiError = (code: number, err_code: number, description: string) =>
    new JetStreamApiError({ code, err_code, description });

  it('recognises the refusal of a second entry on an event subject', () => {
    expect(isAlreadyInLog(apiError(503, 10077, 'maximum messages per subject exceeded'))).toBe(true);
  });

  it('does not mistake other store failures or a wrong last sequence for it', () => {
    expect(isAlreadyInLog(apiError(503, 10077, 'maximum messages exceeded'))).toBe(false);
    expect(isAlreadyInLog(apiError(400, 10071, 'wrong last sequence: 4'))).toBe(false);
    expect(isAlreadyInLog(new Error('maximum messages per subject exceeded'))).toBe(false);
  });
});
