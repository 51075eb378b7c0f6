import { JetStreamApiError } from '@nats-io/jetstream';
import { errors } from '@nats-io/transport-node';
import { ZodError } from 'zod';
import { failureKind } from './failure.js';

describe('failureKind', () => {
  it('retries NATS trouble without spending the event attempts', () => {
    for (const err of [
      new errors.TimeoutError(),
      new errors.ClosedConnectionError(),
      new errors.RequestError('cancelled'),
      new errors.NoRespondersError('$JS.API.STREAM.MSG.GET'),
      new Error('request failed', { cause: new errors.TimeoutError() }),
      new JetStreamApiError({
        err_code: 10008,
        code: 503,
        description: 'JetStream system temporarily unavailable',
      }),
    ])
      expect(failureKind(err)).toBe('infrastructure');
  });

  it('counts what would fail the same way every time towards the DLQ', () => {
    for (const err of [
      new TypeError('x is not a function'),
      new ZodError([]),
      new RangeError('Maximum call stack size exceeded'),
      errors.InvalidArgumentError.format('payload', 'max_payload size exceeded'),
      new JetStreamApiError({
        err_code: 10054,
        code: 400,
        description: 'message size exceeds maximum allowed',
      }),
      'a string',
    ])
      expect(failureKind(err)).toBe('event');
  });
});
