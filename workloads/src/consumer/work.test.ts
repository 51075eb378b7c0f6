import { HandlerFailure, simulatedWork, type WorkSettings } from './work.js';
import type { StoredEvent } from '../shared/event.js';

const settings: WorkSettings = {
  latencyMs: 0,
  jitterMs: 0,
  cpuMs: 0,
  transientFailureRate: 0,
  poisonTypes: ['poison'],
  hangTypes: ['hang'],
};
const event = (type: string) =>
  ({ id: 'e1', type, aggregateId: 'a1', payload: {}, timestamp: new Date().toISOString() }) as StoredEvent;
const within = (ms: number) => new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), ms));

describe('simulatedWork', () => {
  it('returns for ordinary events, fails poison types, and never returns for hang types', async () => {
    const work = simulatedWork(settings);
    await expect(work(event('deposit'))).resolves.toBeUndefined();
    await expect(work(event('poison'))).rejects.toBeInstanceOf(HandlerFailure);
    await expect(Promise.race([work(event('hang')).then(() => 'returned'), within(200)])).resolves.toBe(
      'pending',
    );
  });
});
