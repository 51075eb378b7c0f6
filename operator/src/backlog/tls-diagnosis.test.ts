// Specifies how a failed TLS connect to NATS is told apart from an unreachable server, and what the
// user is told to fix. The socket side (reading a live server's INFO line) runs in
// operator/test/nats-security.int.test.ts against real nats-servers.
import {
  endedSilently,
  parseInfoLine,
  silentEndProblem,
  tlsProblemMessage,
  tlsProblemOf,
  type ServerTlsInfo,
} from './tls-diagnosis.js';

/** An error as Node's TLS socket raises it, optionally wrapped as nats.js wraps socket errors. */
const nodeError = (code: string, message: string): Error => Object.assign(new Error(message), { code });
const wrapped = (cause: Error): Error =>
  Object.assign(new Error(cause.message), { name: 'ConnectionError', cause });

describe('tlsProblemOf', () => {
  it.each([
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'untrusted'],
    ['SELF_SIGNED_CERT_IN_CHAIN', 'untrusted'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'untrusted'],
    ['CERT_HAS_EXPIRED', 'expired'],
    ['CERT_NOT_YET_VALID', 'expired'],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'wrongName'],
  ])('%s is %s, directly or as the cause nats.js wraps', (code, kind) => {
    const err = nodeError(code, 'certificate trouble');
    expect(tlsProblemOf(err)?.kind).toBe(kind);
    expect(tlsProblemOf(wrapped(err))?.kind).toBe(kind);
    expect(tlsProblemOf(err)).toMatchObject({ detail: `${code}: certificate trouble` });
  });
  it('TLS settings for a server that offers none', () => {
    expect(tlsProblemOf(new Error("'tls' is not available on this server"))?.kind).toBe('noTlsOnServer');
    // nats.js 3.4's words, as a real nats-server without TLS made it say (nats-security.int).
    expect(tlsProblemOf(new Error("server does not support 'tls'"))?.kind).toBe('noTlsOnServer');
  });
  it.each([
    ['a refused connection', nodeError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:4222')],
    ['an unknown host', nodeError('ENOTFOUND', 'getaddrinfo ENOTFOUND nats')],
    ['a timeout', Object.assign(new Error('timeout'), { name: 'TimeoutError' })],
    [
      'refused credentials',
      Object.assign(new Error('Authorization Violation'), { name: 'AuthorizationError' }),
    ],
  ])('is nothing for %s', (_, err) => {
    expect(tlsProblemOf(err)).toBeUndefined();
  });
  it('is nothing for values that are not errors', () => {
    expect(tlsProblemOf('UNABLE_TO_VERIFY_LEAF_SIGNATURE')).toBeUndefined();
    expect(tlsProblemOf(undefined)).toBeUndefined();
  });
});

describe('endedSilently', () => {
  it('is a timeout or a closed socket', () => {
    expect(endedSilently(Object.assign(new Error('timeout'), { name: 'TimeoutError' }))).toBe(true);
    expect(endedSilently(wrapped(nodeError('ECONNRESET', 'read ECONNRESET')))).toBe(true);
    expect(endedSilently(new Error('connection closed'))).toBe(true);
  });
  it('is not a refusal or a name that does not resolve', () => {
    expect(endedSilently(wrapped(nodeError('ECONNREFUSED', 'connect ECONNREFUSED')))).toBe(false);
    expect(endedSilently(nodeError('ENOTFOUND', 'getaddrinfo ENOTFOUND nats'))).toBe(false);
  });
});

describe('parseInfoLine', () => {
  it('reads tls_required, tls_available and tls_verify', () => {
    expect(parseInfoLine('INFO {"server_id":"N","tls_required":true,"tls_verify":true}')).toEqual({
      tlsRequired: true,
      tlsAvailable: false,
      tlsVerify: true,
    });
    expect(parseInfoLine('INFO {"server_id":"N","tls_available":true}')).toEqual({
      tlsRequired: false,
      tlsAvailable: true,
      tlsVerify: false,
    });
    expect(parseInfoLine('INFO {"server_id":"N"}')).toEqual({
      tlsRequired: false,
      tlsAvailable: false,
      tlsVerify: false,
    });
  });
  it.each([
    ['another protocol', 'HTTP/1.1 400 Bad Request'],
    ['broken JSON', 'INFO {"tls_verify":tru'],
    ['JSON that is not an object', 'INFO ["tls_verify"]'.replace('[', '{').replace(']', '}')],
    ['a string where a boolean belongs', 'INFO {"tls_verify":"true"}'],
  ])('gives nothing, or no TLS, for %s', (_, line) => {
    const info = parseInfoLine(line);
    expect(info === undefined || info.tlsVerify === false).toBe(true);
  });
});

describe('silentEndProblem: a connect that ended without an answer, told by the INFO line read after it', () => {
  const info = (fields: Partial<ServerTlsInfo>): ServerTlsInfo => ({
    tlsRequired: false,
    tlsAvailable: false,
    tlsVerify: false,
    ...fields,
  });
  it('TLS asked of a server that offers none: TLS set for a server without it (the client refuses it once INFO comes; a connect timing out first on a loaded machine read as unreachable)', () => {
    expect(silentEndProblem(info({}), { tlsAsked: true, clientCertificate: false })).toMatchObject({
      kind: 'noTlsOnServer',
    });
  });
  it('nothing to tell when TLS was not asked, or the server offers it', () => {
    expect(silentEndProblem(info({}), { tlsAsked: false, clientCertificate: false })).toBeUndefined();
    expect(
      silentEndProblem(info({ tlsAvailable: true }), { tlsAsked: true, clientCertificate: false }),
    ).toBeUndefined();
    expect(
      silentEndProblem(info({ tlsRequired: true }), { tlsAsked: true, clientCertificate: false }),
    ).toBeUndefined();
  });
  it('a server that verifies client certificates: one is needed, or the one given was refused', () => {
    const verifying = info({ tlsRequired: true, tlsVerify: true });
    expect(silentEndProblem(verifying, { tlsAsked: true, clientCertificate: false })).toEqual({
      kind: 'clientCertificateRequired',
    });
    expect(silentEndProblem(verifying, { tlsAsked: true, clientCertificate: true })).toEqual({
      kind: 'clientCertificateRefused',
    });
  });
});

describe('tlsProblemMessage', () => {
  const server = 'tls://nats:4222';
  it('names the TLS Secret to put the CA in, or says none is set', () => {
    const problem = { kind: 'untrusted' as const, detail: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE: x' };
    expect(tlsProblemMessage(problem, server, 'shop/nats-ca')).toMatch(
      /cannot be verified .*ca\.crt of the TLS Secret shop\/nats-ca/,
    );
    expect(tlsProblemMessage(problem, server, undefined)).toMatch(/tls\.secretRef is not set/);
  });
  it('asks for a client certificate in the Secret that has none', () => {
    expect(tlsProblemMessage({ kind: 'clientCertificateRequired' }, server, 'shop/nats-ca')).toMatch(
      /requires a TLS client certificate .*add tls\.crt and tls\.key to the TLS Secret shop\/nats-ca/,
    );
  });
  it('TLS for a server without it: the Secret to remove, or the tls:// URL when no Secret is set', () => {
    const problem = { kind: 'noTlsOnServer' as const, detail: 'd' };
    expect(tlsProblemMessage(problem, server, 'shop/nats-ca')).toMatch(
      /the TLS Secret shop\/nats-ca is set: remove tls\.secretRef/,
    );
    expect(tlsProblemMessage(problem, server, undefined)).toMatch(/tls:\/\/ server URL\): use nats:\/\//);
  });
  it('names the server in every message', () => {
    for (const problem of [
      { kind: 'expired' as const, detail: 'd' },
      { kind: 'wrongName' as const, detail: 'd' },
      { kind: 'noTlsOnServer' as const, detail: 'd' },
      { kind: 'clientCertificateRefused' as const },
    ])
      expect(tlsProblemMessage(problem, server, 'shop/x')).toContain(server);
  });
});
