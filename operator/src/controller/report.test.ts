// The words of a condition message, as the status state compares them (report.ts messageWords).
import { messageWords } from './report.js';

describe('messageWords', () => {
  it('masks the numbers that stand alone: counts, durations, rates, backlogs', () => {
    expect(messageWords('2 of 3 failed polls, over 5s of 10s')).toBe('# of # failed polls, over #s of #s');
    expect(messageWords('no answer within 2000 ms; 12.5/s arriving (backlog 1200)')).toBe(
      'no answer within # ms; #/s arriving (backlog #)',
    );
    expect(messageWords('held at 3 for another 12s.')).toBe('held at # for another #s.');
  });

  it('keeps digits that are part of a name: a node, a replication factor, an address, a port, a subject', () => {
    for (const kept of [
      'JetStream at nats-2 has no leader',
      'its only replica (R1) was on n3',
      'cannot connect to NATS at 10.0.0.5:4222 (ECONNREFUSED)',
      'nats://10.0.0.5:4222',
      'publish on $JS.API.CONSUMER.INFO.orders2.worker_1',
    ])
      expect(messageWords(kept)).toBe(kept);
    expect(messageWords('JetStream at nats-1 has no leader')).not.toBe(
      messageWords('JetStream at nats-2 has no leader'),
    );
  });

  it('leaves no message as none', () => {
    expect(messageWords(undefined)).toBeUndefined();
  });
});
