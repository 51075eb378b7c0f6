// Specifies how auth and TLS Secrets become NATS credentials, and that errors name the Secret and
// its keys but never a value.
import { nkeys } from '@nats-io/transport-node';
import { connectionKey, parseAuthSecret, parseTlsSecret } from './nats-credentials.js';
import { createPrivateKey } from 'node:crypto';
import { BacklogError } from './backlog-error.js';
import { TEST_CA, TEST_CLIENT_CERT, TEST_CLIENT_KEY, TEST_OTHER_KEY } from './test/tls-fixtures.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const seed = new TextDecoder().decode(nkeys.createUser().getSeed());
/** A seed of the right shape whose checksum (its last characters) is wrong. */
const badChecksum = seed.slice(0, -2) + (seed.endsWith('AA') ? 'BB' : 'AA');
const jwt = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJzdWIiOiJVQSJ9.c2ln';
const credsFile = (jwtText: string, seedText: string): string =>
  `-----BEGIN NATS USER JWT-----\n${jwtText}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${seedText}\n------END USER NKEY SEED------\n`;

describe('parseAuthSecret', () => {
  it.each([
    ['a token', { token: b64('s3cret') }, { kind: 'token', token: 's3cret' }],
    [
      'user and password',
      { user: b64('app'), password: b64('pw') },
      { kind: 'userPassword', user: 'app', password: 'pw' },
    ],
    ['an NKey seed', { nkeySeed: b64(seed) }, { kind: 'nkey', seed }],
  ])('reads %s', (_what, data, expected) => {
    expect(parseAuthSecret(data, 'ns/nats-auth')).toEqual(expected);
  });

  it('reads a .creds file', () => {
    const creds = credsFile(jwt, seed);
    expect(parseAuthSecret({ creds: b64(creds) }, 'ns/a')).toEqual({ kind: 'creds', creds });
  });

  describe('a .creds file whose user JWT has an expiry', () => {
    const withExp = (exp: number): string =>
      `eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.${Buffer.from(JSON.stringify({ sub: 'UA', exp })).toString('base64url')}.c2ln`;
    const now = Date.parse('2026-12-03T12:00:00Z');

    it('is read while the JWT is valid', () => {
      const creds = credsFile(withExp(now / 1000 + 60), seed);
      expect(parseAuthSecret({ creds: b64(creds) }, 'ns/a', now)).toEqual({ kind: 'creds', creds });
    });

    it('is refused once it expired, with the date and what to do', () => {
      const creds = credsFile(withExp(now / 1000 - 60), seed);
      expect(() => parseAuthSecret({ creds: b64(creds) }, 'ns/a', now)).toThrow(
        /Secret ns\/a: the user JWT in key "creds" expired at 2026-12-03T11:59:00.000Z: renew the .creds file/,
      );
    });
  });

  it.each([
    ['nothing usable', { other: b64('x') }, /exactly one of.*found none/],
    [
      'two modes at once',
      { token: b64('t'), user: b64('u'), password: b64('p') },
      /exactly one of.*found token, user, password/,
    ],
    ['a user without a password', { user: b64('u') }, /"user" and "password" must both be set/],
    ['a malformed seed', { nkeySeed: b64('SUshort') }, /not a user NKey seed/],
    ['a malformed creds file', { creds: b64('hello') }, /not a NATS .creds file/],
    [
      'a .creds file with junk inside its markers',
      { creds: b64(credsFile('hello', 'hello')) },
      /key "creds" has no readable JWT/,
    ],
    [
      'a .creds file whose seed fails its checksum',
      { creds: b64(credsFile(jwt, badChecksum)) },
      /key "creds" holds no valid user NKey seed/,
    ],
    ['an NKey seed whose checksum fails', { nkeySeed: b64(badChecksum) }, /checksum does not match/],
  ])('rejects %s, naming the Secret and never the value', (_what, data, pattern) => {
    let message = '';
    try {
      parseAuthSecret(data, 'ns/nats-auth');
    } catch (err) {
      message = (err as Error).message;
      expect((err as { kind?: string }).kind).toBe('Invalid');
    }
    expect(message).toMatch(pattern);
    expect(message).toContain('ns/nats-auth');
    expect(message).not.toMatch(/SUshort|hello/);
    expect(message).not.toContain(badChecksum);
  });
});

describe('parseTlsSecret', () => {
  const cert = TEST_CLIENT_CERT;
  const key = TEST_CLIENT_KEY;
  /** The same PEM with its base64 body changed and its BEGIN/END lines intact. */
  const damaged = (pem: string): string =>
    pem
      .split('\n')
      .map((line) => (line.startsWith('-----') ? line : line.replace(/[A-M]/g, 'Z').replace(/[n-z]/g, 'a')))
      .join('\n');
  it('reads a CA and a client certificate with its key', () => {
    expect(
      parseTlsSecret({ 'ca.crt': b64(TEST_CA), 'tls.crt': b64(cert), 'tls.key': b64(key) }, 'ns/tls'),
    ).toEqual({ ca: TEST_CA, cert, key });
  });
  it('reads a CA bundle of several certificates', () => {
    const bundle = `${TEST_CA}\n${cert}`;
    expect(parseTlsSecret({ 'ca.crt': b64(bundle) }, 'ns/tls')).toEqual({ ca: bundle });
  });
  it('rejects a certificate without its key', () => {
    expect(() => parseTlsSecret({ 'tls.crt': b64(cert) }, 'ns/tls')).toThrow(
      /tls.crt and tls.key must be set together/,
    );
  });
  it('rejects a CA that is not PEM', () => {
    expect(() => parseTlsSecret({ 'ca.crt': b64('nope') }, 'ns/tls')).toThrow(
      /ca.crt is not a PEM certificate/,
    );
  });
  // Before: these reached connect(), failed inside Node's TLS and read as an unreachable server,
  // which counts toward fallback: one tenant's damaged Secret scaled its Deployment to fallback.
  it.each([
    ['a damaged CA', { 'ca.crt': damaged(TEST_CA) }, /certificate 1 of ca.crt cannot be read/],
    [
      'a damaged second certificate in the CA bundle',
      { 'ca.crt': `${TEST_CA}${damaged(TEST_CA)}` },
      /certificate 2 of ca.crt cannot be read/,
    ],
    [
      'a damaged client certificate',
      { 'tls.crt': damaged(cert), 'tls.key': key },
      /certificate 1 of tls.crt cannot be read/,
    ],
    [
      'a damaged key',
      { 'tls.crt': cert, 'tls.key': damaged(key) },
      /tls.key cannot be read as a private key/,
    ],
    [
      "another certificate's key",
      { 'tls.crt': cert, 'tls.key': TEST_OTHER_KEY },
      /tls.key is not the key of the first certificate in tls.crt/,
    ],
    [
      'a key encrypted with a passphrase',
      {
        'tls.crt': cert,
        'tls.key': createPrivateKey(key).export({
          format: 'pem',
          type: 'pkcs8',
          cipher: 'aes-256-cbc',
          passphrase: 'hunter2',
        }) as string,
      },
      /tls.key is encrypted: store it without a passphrase/,
    ],
  ])("rejects %s as the Secret's fault, naming the Secret and the key", (_, data, pattern) => {
    const encoded = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)]));
    let message = '';
    try {
      parseTlsSecret(encoded, 'ns/nats-tls');
    } catch (err) {
      expect(err).toBeInstanceOf(BacklogError);
      expect((err as BacklogError).kind).toBe('Invalid');
      message = (err as Error).message;
    }
    expect(message).toMatch(pattern);
    expect(message).toContain('Secret ns/nats-tls');
    expect(message).not.toContain('BEGIN');
  });
});

describe('connectionKey', () => {
  it('is the same for the same servers in any order and the same credentials', () => {
    const auth = { auth: { kind: 'token' as const, token: 't' } };
    expect(connectionKey(['nats://a:4222', 'nats://b:4222'], auth)).toBe(
      connectionKey(['nats://b:4222', 'nats://a:4222'], auth),
    );
  });
  it('is the same for one server however it is spelled, so EventConsumers naming it differently share a connection', () => {
    const auth = { auth: { kind: 'none' as const } };
    const key = connectionKey(['nats://nats.example:4222'], auth);
    for (const spelling of [
      ['nats.example'],
      ['nats.example:4222'],
      ['NATS://Nats.Example:4222/'],
      [' nats://nats.example '],
      ['nats://nats.example:4222', 'nats.example'],
    ])
      expect(connectionKey(spelling, auth)).toBe(key);
    expect(connectionKey(['tls://nats.example:4222'], auth)).not.toBe(key);
    expect(connectionKey(['nats://nats.example:4223'], auth)).not.toBe(key);
    expect(connectionKey(['nats://other.example:4222'], auth)).not.toBe(key);
    expect(connectionKey(['ws://nats.example'], auth)).toBe(connectionKey(['ws://nats.example:80'], auth));
  });
  it('differs when credentials differ, without containing them', () => {
    const a = connectionKey(['nats://a:4222'], { auth: { kind: 'token', token: 'first-secret' } });
    const b = connectionKey(['nats://a:4222'], { auth: { kind: 'token', token: 'second-secret' } });
    expect(a).not.toBe(b);
    expect(a).not.toContain('secret');
  });
});

describe('redactServer', () => {
  it('hides credentials written into a server URL', async () => {
    const { redactServer } = await import('./connection-pool.js');
    expect(redactServer('nats://app:s3cret@nats.example:4222')).toBe('nats://***@nats.example:4222');
    expect(redactServer('nats://nats.example:4222')).toBe('nats://nats.example:4222');
  });
});
