// Specifies how auth and TLS Secrets become NATS credentials, and that errors name the Secret and
// its keys but never a value.
import { nkeys } from '@nats-io/transport-node';
import { credsAuthenticator } from '@nats-io/transport-node';
import { connectionKey, credsBlocks, parseAuthSecret, parseTlsSecret } from './nats-credentials.js';
import { createPrivateKey } from 'node:crypto';
import { seededRng } from '../../../test/seeded-rng.js';
import { BacklogError } from './backlog-error.js';
import { TEST_CA, TEST_CLIENT_CERT, TEST_CLIENT_KEY, TEST_OTHER_KEY } from './test/tls-fixtures.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const seed = new TextDecoder().decode(nkeys.createUser().getSeed());
/** A seed of the right shape whose checksum (its last characters) is wrong. */
const badChecksum = seed.slice(0, -2) + (seed.endsWith('AA') ? 'BB' : 'AA');
const jwt = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJzdWIiOiJVQSJ9.c2ln';
const credsFile = (jwtText: string, seedText: string): string =>
  `-----BEGIN NATS USER JWT-----\n${jwtText}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${seedText}\n------END USER NKEY SEED------\n`;

/** CPU milliseconds `fn` takes (this process's user + system time: load on the machine does not move it). */
function cpuMs(fn: () => void): number {
  const before = process.cpuUsage();
  fn();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

/** The message of what `fn` throws ('' when it returns). */
function thrown(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  return '';
}

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

// Checking that a seed signs costs an ed25519 signature in JavaScript: 9-10 ms of CPU (measured),
// at every poll of every EventConsumer with .creds or an NKey seed (100 of them at 1 s polls: the
// whole event loop). One read of the Secret is checked once; the JWT's expiry at every poll.
describe('parseAuthSecret, read once per read of the Secret', () => {
  it.each([
    ['a .creds file', () => ({ creds: b64(credsFile(jwt, seed)) })],
    ['an NKey seed', () => ({ nkeySeed: b64(seed) })],
  ])('%s: 100 parses of one read within 100 ms of CPU, with the same answer', (_what, read) => {
    const data = read();
    const first = parseAuthSecret(data, 'ns/a');
    let again: unknown;
    const ms = cpuMs(() => {
      for (let i = 0; i < 100; i++) again = parseAuthSecret(data, 'ns/a');
    });
    expect(again).toEqual(first);
    expect(ms).toBeLessThan(100);
  });
  it('still judges the JWT against the time given at each parse', () => {
    const now = Date.UTC(2026, 11, 3, 12, 0, 0);
    const body = b64(JSON.stringify({ sub: 'UA', exp: now / 1000 + 60 }));
    const data = { creds: b64(credsFile(`eyJ0eXAiOiJKV1QifQ.${body.replace(/=+$/, '')}.c2ln`, seed)) };
    expect(parseAuthSecret(data, 'ns/a', now).kind).toBe('creds');
    expect(thrown(() => parseAuthSecret(data, 'ns/a', now + 61_000))).toMatch(
      /expired at 2026-12-03T12:01:00.000Z/,
    );
    expect(parseAuthSecret(data, 'ns/a', now).kind).toBe('creds');
  });
  it('gives the same refusal for the same read, and names the Secret it was asked about', () => {
    const data = { nkeySeed: b64(badChecksum) };
    expect(thrown(() => parseAuthSecret(data, 'ns/a'))).toMatch(
      /Secret ns\/a: key "nkeySeed" is not a valid/,
    );
    expect(thrown(() => parseAuthSecret(data, 'ns/a'))).toMatch(
      /Secret ns\/a: key "nkeySeed" is not a valid/,
    );
    expect(thrown(() => parseAuthSecret(data, 'ns/b'))).toMatch(/Secret ns\/b: /);
  });
});

// A Secret is a tenant's input, parsed on the operator's one event loop (every tenant's polls and
// the Lease renewals). nats.js reads a .creds file with a pattern that backtracks on a long run of
// dashes: a Secret holding both markers and then 500 dashes without a newline took 26 s of CPU in
// that pattern (measured; 2,000 would take hours), at every poll of every EventConsumer using it.
describe('a .creds Secret crafted to make its parse backtrack', () => {
  const markers = '-----BEGIN NATS USER JWT-----\n-----BEGIN USER NKEY SEED-----\n';
  it.each([
    ['a line of 100,000 dashes without its newline', `${markers}${'-'.repeat(100_000)}`],
    ['100,000 dashes after a newline', `${markers}\n${'-'.repeat(100_000)}\nx`],
    ['200,000 spaces and no marker line after them', `${markers}${' '.repeat(200_000)}x`],
    ['20,000 empty blocks', `${markers}${'---a---\n\n'.repeat(20_000)}`],
  ])('is refused within 300 ms of CPU: %s', (_what, creds) => {
    let message = '';
    const ms = cpuMs(() => (message = thrown(() => parseAuthSecret({ creds: b64(creds) }, 'ns/nats-auth'))));
    expect(message).toMatch(/Secret ns\/nats-auth: key "creds" has no readable JWT/);
    expect(ms).toBeLessThan(300);
  });

  it('a valid .creds file after 100,000 dashes is read, and what reaches nats.js is the plain file', () => {
    const creds = `${'-'.repeat(100_000)}\n${credsFile(jwt, seed)}`;
    let auth: ReturnType<typeof parseAuthSecret> | undefined;
    const ms = cpuMs(() => (auth = parseAuthSecret({ creds: b64(creds) }, 'ns/a')));
    expect(auth).toEqual({ kind: 'creds', creds: credsFile(jwt, seed) });
    expect(ms).toBeLessThan(300);
  });
});

describe('credsBlocks', () => {
  // nats.js's own pattern (@nats-io/nats-core credsAuthenticator), the reference credsBlocks follows.
  const natsJs = (creds: string): { jwt: string; seed: string } | undefined => {
    const block = /\s*(?:(?:[-]{3,}[^\n]*[-]{3,}\n)(.+)(?:\n\s*[-]{3,}[^\n]*[-]{3,}\n))/gi;
    const jwtText = block.exec(creds)?.[1]?.trim();
    const seedText = block.exec(creds)?.[1]?.trim();
    return jwtText === undefined || seedText === undefined ? undefined : { jwt: jwtText, seed: seedText };
  };

  it('reads what nats.js reads from 10,000 random short texts (seed 6)', () => {
    const rng = seededRng(6);
    // Lines near the pattern's edges (markers of 5 and 6 dashes, leading and trailing whitespace,
    // characters `.` does not match), and now and then a line of random characters.
    const lines = [
      '---a---',
      '---a---',
      '------',
      '------',
      '-----',
      '---',
      'x',
      'x',
      'ab c',
      '',
      ' ',
      '\t',
      '  ---b---',
      '---c---\r',
      'a\rb',
      '\u2028',
      'x---y---',
      '--- ---',
      '\u00a0------',
    ];
    const chars = ['-', '-', '-', 'a', ' ', '\t', '\r', '\u2028', '\u00a0'];
    let read = 0;
    for (let i = 0; i < 10_000; i++) {
      const count = Math.floor(rng() * 12);
      const parts: string[] = [];
      for (let l = 0; l < count; l++) {
        if (rng() < 0.15) {
          let line = '';
          for (let c = Math.floor(rng() * 8); c > 0; c--) line += chars[Math.floor(rng() * chars.length)];
          parts.push(line);
        } else parts.push(lines[Math.floor(rng() * lines.length)] ?? '');
      }
      const text = parts.join('\n') + (rng() < 0.7 ? '\n' : '');
      const expected = natsJs(text);
      if (expected !== undefined) read++;
      expect([text, credsBlocks(text)]).toEqual([text, expected]);
    }
    // The texts exercise both outcomes.
    expect(read).toBeGreaterThan(150);
  });

  it('reads a .creds file as nsc writes it, banners included', () => {
    const nsc = `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n************************* IMPORTANT *************************\nNKEY Seed printed below can be used to sign and prove identity.\nNKEYs are sensitive and should be treated as secrets.\n\n-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n\n*************************************************************\n`;
    expect(credsBlocks(nsc)).toEqual(natsJs(nsc));
    expect(credsBlocks(nsc)).toEqual({ jwt, seed });
    const auth = parseAuthSecret({ creds: b64(nsc) }, 'ns/a');
    expect(auth).toEqual({ kind: 'creds', creds: credsFile(jwt, seed) });
    // What the connection hands nats.js signs as the Secret's file does.
    const nonce = 'nonce';
    const signed = (text: string) => credsAuthenticator(new TextEncoder().encode(text))(nonce);
    expect(signed(auth.kind === 'creds' ? auth.creds : '')).toEqual(signed(nsc));
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

  // A CA bundle is a tenant's input too: a ca.crt of BEGIN lines without an END made the lazy
  // pattern that cut it into certificates scan to the end from each one (7 s for 1 MB, measured),
  // at every poll.
  it('refuses a ca.crt of 35,000 BEGIN lines without an END within 300 ms of CPU', () => {
    const ca = '-----BEGIN CERTIFICATE-----\n'.repeat(35_000);
    let message = '';
    const ms = cpuMs(() => (message = thrown(() => parseTlsSecret({ 'ca.crt': b64(ca) }, 'ns/tls'))));
    expect(message).toMatch(/Secret ns\/tls: ca.crt is not a PEM certificate/);
    expect(ms).toBeLessThan(300);
  });
  // Parsing a bundle costs its certificates: the system bundle (144 certificates) took 42 ms, a
  // 1 MB one 200 ms. Each read of the Secret is parsed once, not at every poll.
  it('parses one read of a Secret once: the same data gives the same answer without parsing again', () => {
    const bundle = Array.from({ length: 200 }, () => TEST_CA).join('\n');
    const data = { 'ca.crt': b64(bundle) };
    const first = parseTlsSecret(data, 'ns/tls');
    expect(first).toEqual({ ca: bundle });
    let again: unknown;
    const ms = cpuMs(() => {
      for (let i = 0; i < 100; i++) again = parseTlsSecret(data, 'ns/tls');
    });
    expect(again).toBe(first);
    expect(ms).toBeLessThan(100);
    const damagedData = { 'ca.crt': b64(damaged(TEST_CA)) };
    expect(thrown(() => parseTlsSecret(damagedData, 'ns/tls'))).toMatch(
      /certificate 1 of ca.crt cannot be read/,
    );
    expect(thrown(() => parseTlsSecret(damagedData, 'ns/tls'))).toMatch(
      /certificate 1 of ca.crt cannot be read/,
    );
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
  // A TLS Secret's certificates go into the key's hash, at every poll (more than once): 13 ms for a
  // 880 KB bundle (measured). The TLS part of one read of the Secret is hashed once.
  it('hashes a read TLS Secret once: 200 keys of a 1 MB CA bundle within 100 ms of CPU', () => {
    const bundle = TEST_CA.repeat(Math.ceil(1_000_000 / TEST_CA.length));
    const tls = { ca: bundle }; // as parseTlsSecret hands out one read of the Secret
    const key = connectionKey(['nats://a:4222'], { auth: { kind: 'none' }, tls });
    let again = '';
    const ms = cpuMs(() => {
      for (let i = 0; i < 200; i++) again = connectionKey(['nats://a:4222'], { auth: { kind: 'none' }, tls });
    });
    expect(again).toBe(key);
    expect(ms).toBeLessThan(100);
    // Another CA is another connection; the same CA read again, the same one.
    expect(connectionKey(['nats://a:4222'], { auth: { kind: 'none' }, tls: { ca: TEST_CA } })).not.toBe(key);
    expect(connectionKey(['nats://a:4222'], { auth: { kind: 'none' }, tls: { ca: bundle } })).toBe(key);
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
