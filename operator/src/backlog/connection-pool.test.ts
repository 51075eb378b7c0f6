// What a NATS status error means for a pooled connection (connection-pool.ts refusalOf), and what a
// failed connection says (connectError, natsDownMessage).
import { errors } from '@nats-io/transport-node';
import { BacklogError } from './backlog-error.js';
import {
  connectError,
  explainedByExpiry,
  natsDownMessage,
  notNatsError,
  refusalOf,
} from './connection-pool.js';
import { isHttpStatusLine } from './tls-diagnosis.js';

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

describe('what an unreachable NATS says', () => {
  const typo = ['nats://nats-typo.invalid:4222'];
  const count = (text: string, part: string): number => text.split(part).length - 1;

  it('a host that does not resolve is named as such, with the typo to look for (before: "cannot connect")', () => {
    const err = connectError(new Error('getaddrinfo ENOTFOUND nats-typo.invalid'), typo);
    expect(err.kind).toBe('Unreachable');
    expect(err.message).toContain('the host nats-typo.invalid does not resolve');
    expect(err.message).toContain('check spec.nats.servers for a typo');
    expect(connectError(new Error('getaddrinfo EAI_AGAIN nats.nats.svc'), typo).message).toContain(
      'the host nats.nats.svc does not resolve',
    );
    expect(connectError(new Error('connect ECONNREFUSED 127.0.0.1:1'), servers).message).toBe(
      'cannot connect to NATS at nats://127.0.0.1:4222 (connect ECONNREFUSED 127.0.0.1:1): check spec.nats.servers and that NATS is running',
    );
  });

  it('a read refused by the open breaker names the server and the advice once (before: twice each)', () => {
    for (const failure of [
      connectError(new Error('connect ECONNREFUSED 127.0.0.1:4222'), servers),
      connectError(new Error('getaddrinfo ENOTFOUND nats-typo.invalid'), typo),
      notNatsError('nats://nats.nats.svc:8222', ['nats://nats.nats.svc:8222']),
    ]) {
      const server = failure.where.server ?? '';
      const message = natsDownMessage(server, failure.message);
      expect(count(message, server)).toBe(1);
      expect(count(message, 'spec.nats.servers')).toBe(1);
      expect(message).toContain('reads fail at once until a background check reaches it again');
    }
    // A failure without advice of its own gets it; one that does not name the server is prefixed.
    const ping = natsDownMessage(
      servers[0] ?? '',
      'no PING reply from NATS at nats://127.0.0.1:4222 within 2000 ms',
    );
    expect(ping).toBe(
      'no PING reply from NATS at nats://127.0.0.1:4222 within 2000 ms; reads fail at once until a background check reaches it again: check spec.nats.servers and that NATS is running',
    );
    expect(natsDownMessage('nats://a:4222', 'socket hang up')).toBe(
      'NATS at nats://a:4222: socket hang up; reads fail at once until a background check reaches it again: check spec.nats.servers and that NATS is running',
    );
    expect(natsDownMessage('nats://a:4222', undefined)).toContain('NATS at nats://a:4222 stopped answering');
  });
});

describe('a server that answers HTTP (the monitoring port KEDA users know)', () => {
  it('is told by its status line', () => {
    expect(isHttpStatusLine('HTTP/1.1 200 OK')).toBe(true);
    expect(isHttpStatusLine('HTTP/1.0 404 Not Found')).toBe(true);
    expect(isHttpStatusLine('HTTP/2 200')).toBe(true);
    expect(isHttpStatusLine('INFO {"server_id":"x"}')).toBe(false);
    expect(isHttpStatusLine('-ERR Unknown Protocol Operation')).toBe(false);
  });

  it('says to use the client port, and stays Unreachable (a wrong port, as any other)', () => {
    const err = notNatsError('nats://u:secret@nats.nats.svc:8222', ['nats://u:secret@nats.nats.svc:8222']);
    expect(err.kind).toBe('Unreachable');
    expect(err.message).toBe(
      "cannot connect to NATS: nats://***@nats.nats.svc:8222 answers HTTP, not NATS: is it the monitoring port (8222 by default; KEDA's natsServerMonitoringEndpoint)? spec.nats.servers needs the client port (4222 by default)",
    );
  });
});

describe('a failure after the server said the credentials expired (explainedByExpiry)', () => {
  const server = 'nats://127.0.0.1:4222';
  const expired = new BacklogError(
    'Unauthorized',
    `NATS at ${server} refused the credentials (User Authentication Expired): check the auth Secret`,
    { server },
    undefined,
    'User Authentication Expired',
  );
  const failure = (kind: BacklogError['kind']): BacklogError =>
    new BacklogError(kind, `a ${kind} failure`, { server });

  it('is the expiry when the expiry explains it: the connection closed, a bare refusal, reads piled up behind it', () => {
    for (const kind of ['Unreachable', 'Unauthorized', 'Busy'] as const)
      expect(explainedByExpiry(failure(kind), expired)).toBe(expired);
  });

  it('a read refused as Busy reads as the expiry, not "NATS is slow" (the breaker\'s rule left Busy out)', () => {
    const busy = new BacklogError(
      'Busy',
      `NATS at ${server} is slow: 4 backlog reads have waited on this connection for over 1000 ms, so this one was not sent (it does not count toward fallback); check that NATS is healthy`,
      { server },
    );
    const read = explainedByExpiry(busy, expired);
    expect(read.kind).toBe('Unauthorized');
    expect(read.message).toContain('User Authentication Expired');
  });

  it('is its own failure when the expiry does not explain it, or none was said', () => {
    for (const kind of [
      'TlsFailed',
      'StreamNotFound',
      'ConsumerNotFound',
      'JetStreamDisabled',
      'Invalid',
    ] as const) {
      const own = failure(kind);
      expect(explainedByExpiry(own, expired)).toBe(own);
    }
    const unreachable = failure('Unreachable');
    expect(explainedByExpiry(unreachable, undefined)).toBe(unreachable);
  });
});
