// What a NATS status error means for a pooled connection (connection-pool.ts refusalOf).
import { errors } from '@nats-io/transport-node';
import { refusalOf } from './connection-pool.js';

const servers = ['nats://127.0.0.1:4222'];

describe('refusalOf', () => {
  it('takes refused credentials for a refusal', () => {
    const refused = refusalOf(new errors.AuthorizationError('Authorization Violation'), servers);
    expect(refused?.kind).toBe('Unauthorized');
  });

  it('takes no permission violation for one: the server refused a subject and kept the connection (before: Unauthorized)', () => {
    for (const line of [
      'Permissions Violation for Subscription to "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>"',
      'Permissions Violation for Publish to "$JS.API.STREAM.INFO.ORDERS"',
    ]) {
      const err = errors.PermissionViolationError.parse(line);
      expect(err).not.toBeNull();
      expect(refusalOf(err, servers)).toBeUndefined();
    }
  });
});
