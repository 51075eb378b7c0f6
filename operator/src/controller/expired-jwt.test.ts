// A read that fails after the user JWT of the credentials expired is told as the expiry
// (observe.ts withExpiredUserJwt): whether nats.js reported the server's disconnect (a read in flight
// waits out the reconnect grace: Unreachable) or its refusal first depends on timing.
import { nkeys } from '@nats-io/transport-node';
import { BacklogError } from '../backlog/backlog-error.js';
import type { BacklogReading } from '../backlog/backlog-source.js';
import { userJwtExpiresAt, type NatsCredentials } from '../backlog/nats-credentials.js';
import { JWT_EXPIRY_EARLY_MS, withExpiredUserJwt } from './observe.js';

const seed = new TextDecoder().decode(nkeys.createUser().getSeed());
const jwtWith = (claims: object): string =>
  `eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.${Buffer.from(JSON.stringify({ sub: 'UA', ...claims })).toString('base64url')}.c2ln`;
const creds = (claims: object): NatsCredentials => ({
  auth: {
    kind: 'creds',
    creds: `-----BEGIN NATS USER JWT-----\n${jwtWith(claims)}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`,
  },
});
const EXP = Date.parse('2026-12-04T12:00:00Z');
const server = 'nats://n1:4222';
const failed = (kind: BacklogError['kind'], message = 'x'): BacklogReading => ({
  ok: false,
  error: new BacklogError(kind, message, { server, stream: 'S', consumer: 'c' }),
});

describe('userJwtExpiresAt', () => {
  it("reads a .creds file's exp in ms", () => {
    expect(userJwtExpiresAt(creds({ exp: EXP / 1000 }).auth)).toBe(EXP);
  });
  it('is undefined without exp, and for other credentials', () => {
    expect(userJwtExpiresAt(creds({}).auth)).toBeUndefined();
    expect(userJwtExpiresAt({ kind: 'userPassword', user: 'u', password: 'p' })).toBeUndefined();
    expect(userJwtExpiresAt({ kind: 'none' })).toBeUndefined();
  });
});

describe('withExpiredUserJwt', () => {
  const expiring = creds({ exp: EXP / 1000 });

  it.each([
    ['unreachable (the disconnect came first, the reconnect grace ran out)', 'Unreachable'],
    ['refused without saying why ("Authorization Violation" to a reconnect)', 'Unauthorized'],
    ['not sent for a slow connection', 'Busy'],
  ] as const)('a read %s after the expiry is NatsUnauthorized, saying it expired and when', (_why, kind) => {
    const told = withExpiredUserJwt(failed(kind), expiring, EXP + 1500);
    expect(told.ok).toBe(false);
    if (told.ok) return;
    expect(told.error.kind).toBe('Unauthorized');
    expect(told.error.refusal).toMatch(
      /User Authentication Expired: the user JWT expired at 2026-12-04T12:00:00.000Z/,
    );
    expect(told.error.message).toContain(server);
    expect(told.error.where).toEqual({ server, stream: 'S', consumer: 'c' });
  });

  it('counts from up to 1 s before exp, when nats-server already closes the connection (whole seconds)', () => {
    // Connected at 11:59:20.900: the server's timer is exp − 11:59:20 = 40 s, so it fires at
    // 12:00:00.900 − 1 s = 11:59:59.900; the breaker then fails reads at once, before exp.
    const told = withExpiredUserJwt(failed('Unreachable'), expiring, EXP - 100);
    expect(told.ok || told.error.kind).toBe('Unauthorized');
    const at = withExpiredUserJwt(failed('Unreachable'), expiring, EXP - JWT_EXPIRY_EARLY_MS);
    expect(at.ok || at.error.kind).toBe('Unauthorized');
  });

  it('leaves a failure well before the expiry as it was (an outage is an outage)', () => {
    const reading = failed('Unreachable');
    expect(withExpiredUserJwt(reading, expiring, EXP - JWT_EXPIRY_EARLY_MS - 1)).toBe(reading);
    expect(withExpiredUserJwt(reading, expiring, EXP - 60_000)).toBe(reading);
  });

  it('leaves failures that are not the connection, and reads that succeeded', () => {
    for (const kind of [
      'ConsumerNotFound',
      'StreamNotFound',
      'TlsFailed',
      'JetStreamDisabled',
      'Invalid',
    ] as const) {
      const reading = failed(kind);
      expect(withExpiredUserJwt(reading, expiring, EXP + 1000)).toBe(reading);
    }
    const ok = { ok: true } as unknown as BacklogReading;
    expect(withExpiredUserJwt(ok, expiring, EXP + 1000)).toBe(ok);
  });

  it('leaves credentials without an expiry alone', () => {
    const reading = failed('Unreachable');
    expect(withExpiredUserJwt(reading, creds({}), EXP + 1000)).toBe(reading);
    expect(withExpiredUserJwt(reading, { auth: { kind: 'token', token: 't' } }, EXP + 1000)).toBe(reading);
  });
});
