// Turns the Secrets an EventConsumer points at into NATS connection credentials, and gives each
// distinct set a fingerprint so EventConsumers with the same servers and credentials share one
// connection. Secret values never leave this module in a printable form: errors name the Secret
// and its keys, never the values, and the fingerprint is a hash.
import { createHash, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { credsAuthenticator, nkeyAuthenticator, type Authenticator } from '@nats-io/transport-node';
import { BacklogError } from './backlog-error.js';

export type NatsAuth =
  | { kind: 'none' }
  | { kind: 'token'; token: string }
  | { kind: 'userPassword'; user: string; password: string }
  | { kind: 'creds'; creds: string }
  | { kind: 'nkey'; seed: string };

export interface NatsTls {
  ca?: string;
  cert?: string;
  key?: string;
}

export interface NatsCredentials {
  auth: NatsAuth;
  tls?: NatsTls;
}

/** Secret data as the API server returns it: base64-encoded values. */
export type SecretData = Record<string, string> | undefined;

const decode = (data: SecretData, key: string): string | undefined => {
  const value = data?.[key];
  return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
};

/**
 * Whether nats.js can sign a server nonce with this authenticator, exactly as it will when it
 * connects: a seed with a bad checksum or a .creds file with junk inside fails here, as the
 * Secret's fault (SecretInvalid), instead of failing inside connect() where it reads as an
 * unreachable server and counts toward fallback.
 */
function signs(authenticator: Authenticator): boolean {
  try {
    authenticator('jetscale-credentials-check');
    return true;
  } catch {
    return false;
  }
}

/**
 * The blocks of a .creds file, read as nats.js reads them: its credsAuthenticator takes the two
 * first matches of /\s*(?:(?:[-]{3,}[^\n]*[-]{3,}\n)(.+)(?:\n\s*[-]{3,}[^\n]*[-]{3,}\n))/gi, the JWT
 * and then the seed (each trimmed). Read here line by line in one pass, with the same answers
 * (nats-credentials.test checks them against that pattern): the pattern itself backtracks on a
 * run of dashes, and a Secret is a tenant's input parsed on the operator's one event loop (both
 * markers and 500 dashes without a newline took 26 s of CPU in it).
 */
export function credsBlocks(creds: string): { jwt: string; seed: string } | undefined {
  const lines = creds.split('\n'); // each line but the last is followed by a newline
  // nextFilled[i]: the first line at or after i that is not whitespace only (\s* crosses the others).
  const nextFilled = new Array<number>(lines.length + 1).fill(lines.length);
  for (let i = lines.length - 1; i >= 0; i--)
    nextFilled[i] = (lines[i] ?? '').trimStart() === '' ? (nextFilled[i + 1] ?? lines.length) : i;
  const jwt = credsBlock(lines, nextFilled, 0);
  const seed = jwt === undefined ? undefined : credsBlock(lines, nextFilled, jwt.next);
  return jwt === undefined || seed === undefined
    ? undefined
    : { jwt: jwt.value.trim(), seed: seed.value.trim() };
}

/**
 * The pattern's first match from line `from` on: a line ending in a marker (`---…---`, 3 dashes
 * each side, anywhere in the line), the whole next line (what `.+` takes: not empty, no \r, \u2028
 * or \u2029), then after blank lines and leading whitespace a line that is a marker. `next`: the
 * line after that closing marker, where nats.js looks for the next block.
 */
function credsBlock(
  lines: string[],
  nextFilled: number[],
  from: number,
): { value: string; next: number } | undefined {
  // The opening marker, the value and the closing marker each end with a newline.
  for (let i = from; i + 2 < lines.length; i++) {
    const value = lines[i + 1] ?? '';
    if (!endsWithMarker(lines[i] ?? '') || value === '' || /[\r\u2028\u2029]/.test(value)) continue;
    const close = nextFilled[i + 2] ?? lines.length;
    if (close < lines.length - 1 && isMarker((lines[close] ?? '').trimStart()))
      return { value, next: close + 1 };
  }
  return undefined;
}

/** `[-]{3,}[^\n]*[-]{3,}` matches a suffix of the line: it ends in 3 dashes after 3 dashes of its own. */
function endsWithMarker(line: string): boolean {
  const first = line.indexOf('---');
  return first !== -1 && first <= line.length - 6 && line.endsWith('---');
}

/** `[-]{3,}[^\n]*[-]{3,}` matches the whole of `text`. */
function isMarker(text: string): boolean {
  return text.length >= 6 && text.startsWith('---') && text.endsWith('---');
}

/**
 * The .creds file handed to nats.js: the JWT and the seed read from the Secret, in the layout nsc
 * writes, so nats.js's own pattern (run again at every connect) reads a short, plain file and never
 * the Secret as given.
 */
function plainCreds(jwt: string, seed: string): string {
  return `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`;
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const USER_SEED_SHAPE = /^SU[A-Z2-7]{56}$/;

/** A JWT's `exp` claim (seconds since the epoch), when its claims are readable and carry one. */
function jwtExpiry(jwt: string): number | undefined {
  try {
    const claims: unknown = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8'));
    const exp = (claims as { exp?: unknown } | null)?.exp;
    return typeof exp === 'number' && Number.isFinite(exp) && exp > 0 ? exp : undefined;
  } catch {
    return undefined;
  }
}

/**
 * When the user JWT of .creds credentials expires (ms since the epoch), when it says; else
 * undefined (other kinds of credentials, or a JWT without `exp`).
 */
export function userJwtExpiresAt(auth: NatsAuth): number | undefined {
  if (auth.kind !== 'creds') return undefined;
  const jwt = credsBlocks(auth.creds)?.jwt;
  const exp = jwt === undefined ? undefined : jwtExpiry(jwt);
  return exp === undefined ? undefined : exp * 1000;
}

/**
 * Reads the auth Secret; `where` names it in errors (namespace/name). `now` (ms since the epoch,
 * the wall clock a JWT's expiry is on) judges a .creds file's user JWT.
 */
export function parseAuthSecret(data: SecretData, where: string, now: number = Date.now()): NatsAuth {
  const auth = oncePerRead(parsedAuth, data, where, readAuthSecret);
  // The server refuses a user JWT past its `exp` ("Authorization Violation", nothing more): say
  // so here, with the date, before any connect.
  const expiresAt = userJwtExpiresAt(auth);
  if (expiresAt !== undefined && expiresAt <= now)
    throw new BacklogError(
      'Invalid',
      `Secret ${where}: the user JWT in key "creds" expired at ${new Date(expiresAt).toISOString()}: renew the .creds file (nsc generate creds, or your NATS provider's console)`,
    );
  return auth;
}

/**
 * Each read of an auth Secret (SecretReader hands out the same data object until it reads the
 * Secret again) and what readAuthSecret made of it: checking that a seed signs costs an ed25519
 * signature in JavaScript, 9-10 ms of CPU on the event loop, and was done at every poll of every
 * EventConsumer with .creds or an NKey seed. The JWT's expiry is judged at every parse.
 */
const parsedAuth: ParsedOnce<NatsAuth> = new WeakMap();

/** What a read of a Secret made: its value, or the error to throw again. */
type ParsedOnce<T> = WeakMap<object, { where: string; value: T } | { where: string; error: unknown }>;

/**
 * `read(data, where)`, once per read of a Secret: SecretReader hands out the same data object until
 * it reads the Secret again, so the result (or the error) is kept on that object.
 */
function oncePerRead<T>(
  cache: ParsedOnce<T>,
  data: SecretData,
  where: string,
  read: (data: SecretData, where: string) => T,
): T {
  if (data === undefined) return read(data, where);
  let known = cache.get(data);
  if (known === undefined || known.where !== where) {
    try {
      known = { where, value: read(data, where) };
    } catch (error) {
      known = { where, error };
    }
    cache.set(data, known);
  }
  if ('error' in known) throw known.error;
  return known.value;
}

/** The auth Secret's credentials, or the reason they cannot be used (expiry aside). */
function readAuthSecret(data: SecretData, where: string): NatsAuth {
  const present = ['token', 'user', 'password', 'creds', 'nkeySeed'].filter(
    (k) => decode(data, k) !== undefined,
  );
  const token = decode(data, 'token');
  const user = decode(data, 'user');
  const password = decode(data, 'password');
  const creds = decode(data, 'creds');
  const seed = decode(data, 'nkeySeed');
  const modes = [
    token !== undefined,
    user !== undefined || password !== undefined,
    creds !== undefined,
    seed !== undefined,
  ].filter(Boolean).length;
  if (modes !== 1) {
    throw new BacklogError(
      'Invalid',
      `Secret ${where} must hold exactly one of: key "token"; keys "user" and "password"; key "creds"; key "nkeySeed" (found ${present.length === 0 ? 'none of them' : present.join(', ')})`,
    );
  }
  if (token !== undefined) {
    if (token.trim() === '') throw new BacklogError('Invalid', `Secret ${where}: key "token" is empty`);
    return { kind: 'token', token: token.trim() };
  }
  if (creds !== undefined) {
    if (!/-----BEGIN NATS USER JWT-----/.test(creds) || !/-----BEGIN USER NKEY SEED-----/.test(creds)) {
      throw new BacklogError(
        'Invalid',
        `Secret ${where}: key "creds" is not a NATS .creds file (it needs a USER JWT block and a USER NKEY SEED block)`,
      );
    }
    const blocks = credsBlocks(creds);
    if (blocks === undefined || !JWT_SHAPE.test(blocks.jwt))
      throw new BacklogError(
        'Invalid',
        `Secret ${where}: key "creds" has no readable JWT (three base64url parts separated by dots) in its USER JWT block: regenerate the .creds file (nsc generate creds)`,
      );
    const plain = plainCreds(blocks.jwt, blocks.seed);
    if (!USER_SEED_SHAPE.test(blocks.seed) || !signs(credsAuthenticator(new TextEncoder().encode(plain))))
      throw new BacklogError(
        'Invalid',
        `Secret ${where}: key "creds" holds no valid user NKey seed in its USER NKEY SEED block (it must start with SU and pass its checksum): regenerate the .creds file (nsc generate creds)`,
      );
    return { kind: 'creds', creds: plain };
  }
  if (seed !== undefined) {
    if (!USER_SEED_SHAPE.test(seed.trim()))
      throw new BacklogError(
        'Invalid',
        `Secret ${where}: key "nkeySeed" is not a user NKey seed (58 characters starting with SU)`,
      );
    if (!signs(nkeyAuthenticator(new TextEncoder().encode(seed.trim()))))
      throw new BacklogError(
        'Invalid',
        `Secret ${where}: key "nkeySeed" is not a valid user NKey seed (its checksum does not match; copy it again, or generate one with nk -gen user)`,
      );
    return { kind: 'nkey', seed: seed.trim() };
  }
  if (user === undefined || password === undefined || user === '') {
    throw new BacklogError('Invalid', `Secret ${where}: keys "user" and "password" must both be set`);
  }
  return { kind: 'userPassword', user, password };
}

/**
 * Each read of a TLS Secret (SecretReader hands out the same data object until it reads the Secret
 * again) and what parseTlsSecret made of it: a bundle costs its certificates to parse (the system
 * CA bundle, 144 certificates, 42 ms; 1 MB of them 200 ms), on the event loop, and was parsed at
 * every poll of every EventConsumer using it.
 */
const parsedTls: ParsedOnce<NatsTls> = new WeakMap();

/**
 * Reads the TLS Secret: ca.crt, and tls.crt + tls.key together when a client certificate is used.
 * Once per read of the Secret (parsedTls).
 */
export function parseTlsSecret(data: SecretData, where: string): NatsTls {
  return oncePerRead(parsedTls, data, where, readTlsSecret);
}

function readTlsSecret(data: SecretData, where: string): NatsTls {
  const tls: NatsTls = {};
  const ca = decode(data, 'ca.crt');
  const cert = decode(data, 'tls.crt');
  const key = decode(data, 'tls.key');
  if (ca === undefined && cert === undefined)
    throw new BacklogError(
      'Invalid',
      `Secret ${where} must hold ca.crt, or tls.crt and tls.key, or all three`,
    );
  if ((cert === undefined) !== (key === undefined))
    throw new BacklogError('Invalid', `Secret ${where}: tls.crt and tls.key must be set together`);
  for (const [name, value] of [
    ['ca.crt', ca],
    ['tls.crt', cert],
  ] as const) {
    if (value !== undefined && !value.includes('-----BEGIN CERTIFICATE-----'))
      throw new BacklogError('Invalid', `Secret ${where}: ${name} is not a PEM certificate`);
  }
  if (key !== undefined && !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key))
    throw new BacklogError('Invalid', `Secret ${where}: tls.key is not a PEM private key`);
  // Read as TLS will read them, so a damaged certificate or key is the Secret's fault
  // (SecretInvalid) here, not a failed connect that reads as an unreachable server.
  if (ca !== undefined) certificatesIn(ca, where, 'ca.crt');
  const leaf = cert === undefined ? undefined : certificatesIn(cert, where, 'tls.crt')[0];
  if (key !== undefined && leaf !== undefined) {
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey(key);
    } catch (err) {
      const encrypted = /passphrase/i.test(String(err)) || /ENCRYPTED/.test(key);
      throw new BacklogError(
        'Invalid',
        `Secret ${where}: tls.key ${encrypted ? 'is encrypted: store it without a passphrase' : 'cannot be read as a private key'}`,
      );
    }
    if (!leaf.checkPrivateKey(privateKey))
      throw new BacklogError(
        'Invalid',
        `Secret ${where}: tls.key is not the key of the first certificate in tls.crt`,
      );
  }
  if (ca !== undefined) tls.ca = ca;
  if (cert !== undefined) tls.cert = cert;
  if (key !== undefined) tls.key = key;
  return tls;
}

/** Every certificate of a PEM bundle, parsed; the first is the leaf of a chain. */
function certificatesIn(pem: string, where: string, name: string): X509Certificate[] {
  const blocks = pemCertificates(pem);
  if (blocks.length === 0)
    throw new BacklogError('Invalid', `Secret ${where}: ${name} is not a PEM certificate`);
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch {
      throw new BacklogError(
        'Invalid',
        `Secret ${where}: certificate ${i + 1} of ${name} cannot be read (damaged PEM): copy it again from its source`,
      );
    }
  });
}

const PEM_BEGIN = '-----BEGIN CERTIFICATE-----';
const PEM_END = '-----END CERTIFICATE-----';

/**
 * The certificate blocks of a PEM text, each from a BEGIN line to the first END after it (what
 * /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g finds). That pattern scanned to the
 * end of the text from every BEGIN that had no END after it (7 s for a 1 MB ca.crt of BEGIN
 * lines); found with indexOf, no END after one BEGIN means none after any later one either.
 */
function pemCertificates(pem: string): string[] {
  const blocks: string[] = [];
  for (let from = 0; ;) {
    const begin = pem.indexOf(PEM_BEGIN, from);
    if (begin === -1) return blocks;
    const end = pem.indexOf(PEM_END, begin + PEM_BEGIN.length);
    if (end === -1) return blocks;
    blocks.push(pem.slice(begin, end + PEM_END.length));
    from = end + PEM_END.length;
  }
}

/**
 * Identifies one connection: the servers (order-insensitive, each spelled as nats.js reads it) plus
 * a hash of the credentials. EventConsumers that name the same servers differently — `host`,
 * `nats://host:4222`, `nats://HOST:4222/` — share one connection.
 */
export function connectionKey(servers: string[], credentials: NatsCredentials): string {
  const tls = credentials.tls === undefined ? null : tlsDigest(credentials.tls);
  const material = JSON.stringify({ auth: credentials.auth, tls });
  const digest = sha256(material).slice(0, 16);
  return `${[...new Set(servers.map(serverIdentity))].sort().join(',')}#${digest}`;
}

/**
 * The hash of a TLS Secret's contents, once per read of it (parseTlsSecret hands out the same
 * object until the Secret is read again): the key is made more than once a poll, and hashing a
 * 1 MB CA bundle each time cost 2 ms of CPU (13 ms on a loaded machine).
 */
const tlsDigests = new WeakMap<NatsTls, string>();

function tlsDigest(tls: NatsTls): string {
  let digest = tlsDigests.get(tls);
  if (digest === undefined) {
    digest = sha256(JSON.stringify(tls));
    tlsDigests.set(tls, digest);
  }
  return digest;
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** A server URL as nats.js connects to it: scheme nats:// unless given, port 4222 (ws 80, wss 443) unless given. */
export function serverIdentity(server: string): string {
  const trimmed = server.trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `nats://${trimmed}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    return trimmed; // nats.js will refuse it; it shares nothing
  }
  const scheme = url.protocol.toLowerCase();
  const port = url.port || (scheme === 'ws:' ? '80' : scheme === 'wss:' ? '443' : '4222');
  const user = url.username === '' ? '' : `${url.username}${url.password === '' ? '' : `:${url.password}`}@`;
  const path = url.pathname === '/' ? '' : url.pathname;
  return `${scheme}//${user}${url.hostname.toLowerCase()}:${port}${path}`;
}
