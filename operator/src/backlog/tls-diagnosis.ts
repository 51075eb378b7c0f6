// Why a connection to NATS failed in TLS, in words that say what to fix. A TLS failure is the
// configuration's fault (a CA that did not sign the server's certificate, a missing client
// certificate, an expired certificate), like refused credentials: it holds replicas and never
// counts toward fallback, where an unreachable server does. Node names certificate failures by
// code; a server that requires a client certificate and gets none just stops answering in TLS 1.3,
// so that one is recognised from the server's INFO line (sent in plain text before the handshake:
// `tls_verify`), read only after a connect has failed.
import net from 'node:net';
import { serverIdentity } from './nats-credentials.js';

export type TlsProblem =
  | { kind: 'untrusted'; detail: string }
  | { kind: 'expired'; detail: string }
  | { kind: 'wrongName'; detail: string }
  | { kind: 'noTlsOnServer'; detail: string }
  | { kind: 'clientCertificateRequired' }
  | { kind: 'clientCertificateRefused' };

/** OpenSSL's verification failures as Node reports them (err.code), bar expiry and names. */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
]);
const EXPIRED = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
]);
const WRONG_NAME = new Set(['ERR_TLS_CERT_ALTNAME_INVALID', 'HOSTNAME_MISMATCH']);

/** The error and its causes, outermost first (nats.js wraps socket errors). */
function chain(err: unknown): Array<{ code?: unknown; message?: unknown; name?: unknown }> {
  const out: Array<{ code?: unknown; message?: unknown; name?: unknown }> = [];
  let current: unknown = err;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    out.push(current as { code?: unknown; message?: unknown; name?: unknown });
    current = (current as { cause?: unknown }).cause;
  }
  return out;
}

/** A certificate failure named by the error itself, or undefined. Pure. */
export function tlsProblemOf(err: unknown): TlsProblem | undefined {
  for (const e of chain(err)) {
    const code = typeof e.code === 'string' ? e.code : '';
    const message = typeof e.message === 'string' ? e.message : '';
    const detail = code === '' ? message : `${code}: ${message}`;
    if (UNTRUSTED.has(code)) return { kind: 'untrusted', detail };
    if (EXPIRED.has(code)) return { kind: 'expired', detail };
    if (WRONG_NAME.has(code)) return { kind: 'wrongName', detail };
    // nats.js: the client was given TLS settings, the server offers no TLS.
    if (/\btls\b.*not available|does not support '?tls\b/i.test(message))
      return { kind: 'noTlsOnServer', detail: message };
  }
  return undefined;
}

/** Whether a failed connect ended without an answer (a timeout or a closed socket), not a refusal. */
export function endedSilently(err: unknown): boolean {
  return chain(err).some(
    (e) =>
      e.name === 'TimeoutError' ||
      (typeof e.code === 'string' && ['ECONNRESET', 'EPIPE'].includes(e.code)) ||
      (typeof e.message === 'string' && /^(timeout|connection closed|socket hang up)$/i.test(e.message)),
  );
}

/** What a NATS server announces before any handshake: the fields that matter for TLS. */
export interface ServerTlsInfo {
  tlsRequired: boolean;
  /** TLS offered though not required (nats-server `allow_non_tls`). */
  tlsAvailable: boolean;
  tlsVerify: boolean;
}

/** Parses a server's first line (`INFO {…}`); undefined for anything else. Pure. */
export function parseInfoLine(line: string): ServerTlsInfo | undefined {
  const match = /^INFO\s+(\{.*\})\s*$/.exec(line);
  if (!match?.[1]) return undefined;
  let info: unknown;
  try {
    info = JSON.parse(match[1]);
  } catch {
    return undefined;
  }
  if (typeof info !== 'object' || info === null) return undefined;
  const {
    tls_required: required,
    tls_available: available,
    tls_verify: verify,
  } = info as Record<string, unknown>;
  return { tlsRequired: required === true, tlsAvailable: available === true, tlsVerify: verify === true };
}

/**
 * Why a connect that ended without an answer (endedSilently) failed, told by the server's INFO line
 * read after it; undefined when that line explains nothing (then it is unreachable). Pure.
 * - TLS asked of a server that offers none: the client refuses such a server as soon as its INFO
 *   comes ("does not support tls", tlsProblemOf), but a connect that times out first — a loaded
 *   machine, a slow link — ends silently, and was read as unreachable, which counts toward fallback.
 * - A server that verifies client certificates stops answering in TLS 1.3 when it refuses one, or
 *   gets none.
 */
export function silentEndProblem(
  info: ServerTlsInfo,
  client: { tlsAsked: boolean; clientCertificate: boolean },
): TlsProblem | undefined {
  if (client.tlsAsked && !info.tlsRequired && !info.tlsAvailable)
    return { kind: 'noTlsOnServer', detail: 'its INFO line says tls_required false, tls_available false' };
  if (info.tlsVerify)
    return { kind: client.clientCertificate ? 'clientCertificateRefused' : 'clientCertificateRequired' };
  return undefined;
}

/** Host and port of each of the first three `servers` that is a NATS URL (nats:// or tls://). */
function dialable(servers: string[]): Array<{ server: string; host: string; port: number }> {
  const out: Array<{ server: string; host: string; port: number }> = [];
  for (const server of servers.slice(0, 3)) {
    let url: URL;
    try {
      url = new URL(serverIdentity(server));
    } catch {
      continue;
    }
    if (!/^(nats|tls):$/.test(url.protocol)) continue;
    out.push({ server, host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(url.port) });
  }
  return out;
}

/**
 * The first line (up to CR LF) `host:port` sends within `timeoutMs`, after `ask` when given; undefined
 * on a timeout, an error, a close, or more than `maxBytes` without a line end.
 */
function firstLine(
  to: { host: string; port: number },
  timeoutMs: number,
  maxBytes: number,
  ask?: string,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect(to, () => {
      if (ask !== undefined) socket.write(ask);
    });
    let buffered = '';
    const done = (line: string | undefined): void => {
      socket.destroy();
      resolve(line);
    };
    socket.setTimeout(timeoutMs, () => done(undefined));
    socket.on('error', () => done(undefined));
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      const end = buffered.indexOf('\r\n');
      if (end >= 0) done(buffered.slice(0, end));
      else if (buffered.length > maxBytes) done(undefined);
    });
    socket.on('close', () => done(undefined));
  });
}

/**
 * Reads the INFO line of the first of `servers` (at most three are tried) that sends one within
 * `timeoutMs`; undefined when none does. Sends nothing: the socket closes after the first line.
 */
export async function readServerInfo(
  servers: string[],
  timeoutMs: number,
): Promise<ServerTlsInfo | undefined> {
  for (const to of dialable(servers)) {
    const line = await firstLine(to, timeoutMs, 64 * 1024);
    const info = line === undefined ? undefined : parseInfoLine(line);
    if (info) return info;
  }
  return undefined;
}

/** Whether a server's first answer to `HEAD / HTTP/1.0` is an HTTP status line. Pure. */
export function isHttpStatusLine(line: string): boolean {
  return /^HTTP\/\d(\.\d)? \d{3}\b/.test(line);
}

/**
 * The first of `servers` (at most three are tried) that answers `HEAD / HTTP/1.0` with an HTTP
 * status line within `timeoutMs`, or undefined. An HTTP server — NATS's monitoring port (8222, what
 * KEDA's nats-jetstream scaler is given), a gateway — sends nothing until asked, so a NATS client
 * waiting for INFO only times out. Asked only after a connect ended so and no INFO line came.
 */
export async function serverAnsweringHttp(servers: string[], timeoutMs: number): Promise<string | undefined> {
  for (const to of dialable(servers)) {
    const line = await firstLine(to, timeoutMs, 4096, 'HEAD / HTTP/1.0\r\n\r\n');
    if (line !== undefined && isHttpStatusLine(line)) return to.server;
  }
  return undefined;
}

/** What to tell the user; `secret` is the TLS Secret's namespace/name, if one is set. Pure. */
export function tlsProblemMessage(problem: TlsProblem, server: string, secret: string | undefined): string {
  const inSecret = secret === undefined ? undefined : `the TLS Secret ${secret}`;
  const noSecret = 'tls.secretRef is not set (spec.nats.tls, or tls of the spec.consumers entry)';
  switch (problem.kind) {
    case 'untrusted':
      return `NATS at ${server} presented a TLS certificate that cannot be verified (${problem.detail}): ${
        inSecret === undefined
          ? `${noSecret}; point it at a Secret whose ca.crt holds the CA that signed the server's certificate`
          : `put the CA that signed the server's certificate in ca.crt of ${inSecret}`
      }`;
    case 'expired':
      return `NATS at ${server} presented a TLS certificate outside its validity period (${problem.detail}): the server's certificate must be renewed (or this host's clock is wrong)`;
    case 'wrongName':
      return `NATS at ${server} presented a TLS certificate for another name (${problem.detail}): list the server by a name its certificate holds in servers, or reissue the certificate`;
    case 'noTlsOnServer':
      return `NATS at ${server} offers no TLS, but ${
        inSecret === undefined
          ? 'TLS was asked for (a tls:// server URL): use nats://'
          : `${inSecret} is set: remove tls.secretRef`
      } or enable TLS on the server`;
    case 'clientCertificateRequired':
      return `NATS at ${server} requires a TLS client certificate (tls_verify) and none was given: ${
        inSecret === undefined
          ? `${noSecret}; point it at a Secret with tls.crt, tls.key and ca.crt`
          : `add tls.crt and tls.key to ${inSecret}`
      }`;
    case 'clientCertificateRefused':
      return `NATS at ${server} requires a TLS client certificate (tls_verify) and did not complete the handshake with the one in ${inSecret ?? 'the TLS Secret'}: check that tls.crt is signed by a CA the server trusts and is valid for client authentication`;
  }
}
