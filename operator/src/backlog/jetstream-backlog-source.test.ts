// Specifies how failed consumer-info requests are classified: the kind decides what the
// controller does, the message names stream, consumer and server.
import { consumerInfoError } from './jetstream-backlog-source.js';

const ref = { stream: 'ORDERS', consumer: 'worker' };
const named = (name: string, message: string, code?: number): Error =>
  Object.assign(new Error(message), { name, code });

describe('consumerInfoError', () => {
  it.each([
    [
      'StreamNotFound',
      named('StreamNotFoundError', 'stream not found', 404),
      'stream "ORDERS" does not exist',
    ],
    [
      'ConsumerNotFound',
      named('ConsumerNotFoundError', 'consumer not found', 404),
      'consumer "worker" does not exist on stream "ORDERS"',
    ],
    [
      'Unauthorized',
      named(
        'PermissionViolationError',
        "Permissions Violation for Publish to '$JS.API.CONSUMER.INFO.ORDERS.worker'",
      ),
      'not allowed',
    ],
    ['Unreachable', named('TimeoutError', 'timeout'), 'no answer from NATS'],
    [
      'Unreachable',
      named('NoRespondersError', 'no responders: $JS.API.CONSUMER.INFO.ORDERS.worker'),
      'is JetStream enabled',
    ],
    ['Invalid', named('JetStreamApiError', 'bad request', 400), 'JetStream rejected'],
  ])('classifies as %s', (kind, err, text) => {
    const error = consumerInfoError(err, ref, 'nats-1');
    expect(error.kind).toBe(kind);
    expect(error.message).toContain(text);
    expect(error.message).toContain('nats-1');
    expect(error.where).toEqual({ stream: 'ORDERS', consumer: 'worker', server: 'nats-1' });
  });
});
