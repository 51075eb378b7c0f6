// One NATS connection per distinct (servers, credentials), shared by every EventConsumer that uses
// them, counted by owner and closed when the last owner lets go. Each connection's status stream
// (disconnect, reconnect, errors) is watched for logs and metrics; nats.js reconnects by itself,
// so a connection that was once established is kept while its server is away.
//
// A disconnect is not yet an outage: a server restarting in a rolling upgrade, or a cluster node
// going away, costs its clients a reconnect of tens to hundreds of milliseconds. For up to
// `reconnectGraceMs` after a disconnect (the read timeout) reads wait for the reconnect instead of
// failing, and a read whose request was out when the connection dropped (its reply is lost with
// it) asks again on the new one. Only when no reconnect comes within the grace is the connection
// down: the breaker opens, the waiting reads are released as Unreachable, and later reads fail at
// once. (Before, the breaker opened on the disconnect itself, so a poll landing in a routine
// reconnect failed, and at 1 s polls three such failures put an EventConsumer on fallback.)
//
// A server that refuses the credentials or the TLS handshake at connect opens the breaker too,
// with the refusal as its error: reads get the refusal at once (it still says which Secret to
// fix, and never counts toward fallback) and the background checks retry with backoff. A changed
// Secret is another connection key, so a new entry, read at once.
//
// One dead server must not slow everyone (the reconcile workers are shared): each connection has a
// circuit breaker (circuit-breaker.ts). It opens when the connection is found down — a connect
// attempt fails, nats.js reports a disconnect, or a request goes unanswered and a PING round trip
// then fails too while nothing else came from the server (a request timing out while PING answers
// is that consumer's problem, not the connection's, and trips nothing; nor does a server that
// answers late, slow but live: see probe). While it is open, reads fail at once with a message about the
// server (never about another EventConsumer's stream) and still count toward fallback; reads in
// flight when it opens are released at once; checks run in the background with backoff. And once
// `maxInFlightPerConnection` reads wait on one connection and the oldest has waited a second, more
// fail at once as Busy, so a server that is slow but alive cannot hold every worker either. Busy
// is not Unreachable: the read was never sent, the server may well answer, and a slow server is
// not a dead one, so it does not count toward fallback (a read that does time out still does).
// Slowness is one EventConsumer's as much as the connection's: a stream, or a JetStream domain,
// whose requests time out while the server answers everything else. So an EventConsumer whose last
// read on the connection was answered within the second is refused only when reads of such
// EventConsumers wait that long; the reads of those whose last read did not (timed out, or took a
// second or more) are refused as before, once enough reads of any kind wait. (Before, one tenant's
// EventConsumers timing out on a connection shared with another tenant had the other's reads
// refused as Busy for as long as they kept polling.)
//
// The per-connection limits cannot bound connects: every connection is another key, and one tenant
// can make as many as it has EventConsumers (other servers, another user in a URL, other
// credentials). A connect to servers that accept TCP and never speak (a firewall that drops all
// but the handshake, a hung process) waits 2 s per server in the list, up to 16, then ~2 s more to
// diagnose the silence: 38 s measured, a worker held all along. Nor can they bound requests that
// time out (an account whose JetStream lost its meta leader, a domain nobody answers) on one
// connection per EventConsumer. So slow reads are limited across the pool, `maxSlowReads` of them:
// reads that have waited a second (on a connect or a request), and reads of owners whose last read
// was slow, from their start. Past that:
// - a read whose connection is not up yet is refused as Busy (at once, or when its own second is
//   up) and its connect goes on in the background, to open the breaker if it fails;
// - a read of an owner whose last read timed out is answered at once with that failure, which
//   counts toward fallback as the read would have had it waited and timed out (Busy would stop
//   the count: a JetStream outage on many connections would never fall back); its request still
//   goes out, in the background, one at a time, so the owner's next read knows whether its NATS
//   answers again (else one whose JetStream came back would be answered with its old failure for
//   as long as others kept the slots);
// - any other read is let go as Busy when its second is up, its request going on: its answer is
//   what the owner's next read knows of it.
// Healthy connects and requests take milliseconds and never meet the limit, so a restart's first
// polls of many connections wait as before, and once reads are answered in time again every read
// is sent. Bounding slowness, not tenants (a share of workers per namespace, as a fair queue
// would), holds however many namespaces or connections one tenant spreads over, and never limits
// a tenant whose NATS answers.
import {
  credsAuthenticator,
  nkeyAuthenticator,
  type ConnectionOptions,
  type NatsConnection,
} from '@nats-io/transport-node';
import type { Logger } from '../observability/logger.js';
import type { OperatorMetrics } from '../observability/metrics.js';
import { BacklogError } from './backlog-error.js';
import type { BacklogReading } from './backlog-source.js';
import { CircuitBreaker } from './circuit-breaker.js';
import type { BackoffOptions } from '../kube/backoff.js';
import { connectionKey, type NatsCredentials } from './nats-credentials.js';
import {
  endedSilently,
  readServerInfo,
  silentEndProblem,
  serverAnsweringHttp,
  tlsProblemMessage,
  tlsProblemOf,
  type TlsProblem,
} from './tls-diagnosis.js';
import { monotonicNow } from '../clock.js';
import { guardedConnect } from './guarded-transport.js';
import { settledWithinAwake } from './awake-wait.js';
import { isNatsServerMisbehaved, type NatsServerMisbehaved } from './protocol-guard.js';

/** A cause noted this long before a disconnect is taken as its cause; an older one is not. */
const DROP_CAUSE_MS = 30_000;

interface PooledConnection {
  key: string;
  servers: string[];
  credentials: NatsCredentials;
  owners: Set<string>;
  connecting?: Promise<NatsConnection>;
  connection?: NatsConnection;
  breaker: CircuitBreaker;
  /** Reads waiting on this connection (connecting or requesting). */
  inFlight: Set<WaitingRead>;
  /**
   * Owners whose last read on this connection took `slowAfterMs` or more, or timed out (or was let
   * go after waiting that long), with that read's failure when it failed Unreachable.
   */
  slowOwners: Map<string, SlowRead>;
  /** Requests of each owner still out (a read let go, or a request asked in the background). */
  requestsOut: Map<string, number>;
  /** A PING round trip in flight after an unanswered request. */
  probing?: Promise<void>;
  /** Called when the breaker opens: each releases one read waiting on the connection. */
  waiters: Set<() => void>;
  /** Disconnected, and the grace for a reconnect has not run out (see the header). */
  outage?: Outage;
  /**
   * Disconnected and not reconnected yet: nats.js is dialing. A PING is refused at once meanwhile,
   * which says nothing of the server (check).
   */
  dialing?: boolean;
  /** Called on the next disconnect: each tells one read in flight that its request's reply is lost. */
  onDrop: Set<() => void>;
  /**
   * The server refused this connection's credentials or TLS while it was connected or
   * reconnecting (credentials rotated on the server first): what its disconnect and unanswered
   * PINGs mean until a reconnect or a new connect attempt says otherwise.
   */
  refusal?: BacklogError;
  /**
   * The server said these credentials expired ("User Authentication Expired": a user JWT past its
   * `exp` by the server's clock). Kept until a read succeeds: what follows — the connection
   * closing, a reconnect refused with a bare "Authorization Violation" — is that expiry, whatever
   * this host's clock says of `exp` (a server clock ahead of ours; jwt-clock-skew.int).
   */
  expired?: BacklogError;
  /**
   * The server broke the NATS protocol or one of its limits (protocol-guard.ts) on this entry's
   * last connect or connection, which the guard dropped: what the connect's own error (often a
   * timeout, or another server's) and the disconnect mean.
   */
  misbehaved?: BacklogError;
  /** The errors logged and left unlogged in the current minute (logError). */
  errorLog?: { since: number; logged: number; unlogged: number };
  /**
   * Why the connection's next disconnect happens, when something on this side knows: jetscale
   * itself reconnecting away from a silent server, the protocol guard dropping it, nats.js's own
   * PINGs unanswered, an error the server sent. Logged with the disconnect, then cleared.
   */
  dropCause?: { text: string; at: number };
}

/** A read waiting on its connection: since when, and whether its owner's last read was answered in time. */
interface WaitingRead {
  since: number;
  answeredInTime: boolean;
}

/** An owner's last read that was slow: its failure, when it failed Unreachable (a timeout). */
interface SlowRead {
  failure?: BacklogError;
}

/** Errors (-ERR) of one connection logged in a minute; the rest are counted (logError). */
const ERROR_LOGS_PER_MINUTE = 5;

/** What nats-server says (-ERR) when it closes a connection whose user JWT expired by its clock. */
const AUTH_EXPIRED = /User Authentication Expired/i;

export interface ConnectionPoolOptions {
  logger: Logger;
  metrics?: OperatorMetrics;
  /** Time to wait for the first connection to a server. */
  connectTimeoutMs?: number;
  /** Time to wait for a PING reply when checking whether a connection is alive. */
  pingTimeoutMs?: number;
  /**
   * Reads allowed to wait on one connection at once while it is slow (default 4): once that many
   * wait and the oldest has waited `slowAfterMs`, more fail at once. A healthy server answers in
   * milliseconds, so bursts of reads on it are never refused.
   */
  maxInFlightPerConnection?: number;
  /** How long the oldest waiting read must have waited before the connection counts as slow (1 s). */
  slowAfterMs?: number;
  /**
   * Reads allowed to be slow, all connections together (default 4; the operator gives half its
   * workers): reads that have waited longer than `slowAfterMs` on a connect or a request, and reads
   * of owners whose last read was slow. The rest are answered at once (see the header).
   */
  maxSlowReads?: number;
  /** Backoff between background checks of a connection that is down. */
  checkBackoff?: BackoffOptions;
  /**
   * How long after a disconnect reads wait for nats.js to reconnect before the connection counts as
   * down (default 2000 ms; the operator passes its NATS read timeout).
   */
  reconnectGraceMs?: number;
  /**
   * How long a background check of a connection that is down waits for a PING's answer before the
   * server counts as silent and is left for another (default twice pingTimeoutMs): a server that
   * answers in 2–3 s is slow, not frozen.
   */
  silentAfterMs?: number;
  /** The clock the breaker and the slowness check measure on (monotonic by default). */
  now?: () => number;
}

export function connectionOptions(
  servers: string[],
  credentials: NatsCredentials,
  timeoutMs: number,
): ConnectionOptions {
  const options: ConnectionOptions = {
    servers,
    name: 'jetscale-operator',
    timeout: timeoutMs,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
    // Notice a dead server within ~30 s even when no request is in flight.
    pingInterval: 10_000,
    maxPingOut: 3,
  };
  const auth = credentials.auth;
  if (auth.kind === 'token') options.token = auth.token;
  if (auth.kind === 'userPassword') {
    options.user = auth.user;
    options.pass = auth.password;
  }
  if (auth.kind === 'creds') options.authenticator = credsAuthenticator(new TextEncoder().encode(auth.creds));
  if (auth.kind === 'nkey') options.authenticator = nkeyAuthenticator(new TextEncoder().encode(auth.seed));
  if (credentials.tls) options.tls = { ...credentials.tls };
  return options;
}

/** A server URL as it may be shown: user and password in the URL are replaced by ***. */
export function redactServer(server: string): string {
  return server.replace(/\/\/[^/@]*@/, '//***@');
}

/** What to check when NATS cannot be reached, said once in a message. */
const CHECK_SERVERS = 'check spec.nats.servers and that NATS is running';

/** Maps a failure to connect to an error kind and a message that says what to check. */
export function connectError(err: unknown, servers: string[]): BacklogError {
  const text = redactServer(err instanceof Error ? err.message : String(err));
  const server = servers.map(redactServer).join(', ');
  if (
    /authoriz|authentic|permission|user|credentials/i.test(text) ||
    (err instanceof Error && err.name === 'AuthorizationError')
  ) {
    return new BacklogError(
      'Unauthorized',
      `NATS at ${server} refused the credentials (${text}): check the auth Secret`,
      { server },
      undefined,
      text,
    );
  }
  // A host name that does not resolve is most often a typo in spec.nats.servers, not an outage (it
  // still counts as one: DNS can fail for a while too).
  const unresolved = /\b(?:ENOTFOUND|EAI_AGAIN|EAI_NONAME)\s+(\S+)/.exec(text)?.[1];
  if (unresolved !== undefined) {
    return new BacklogError(
      'Unreachable',
      `cannot connect to NATS at ${server}: the host ${unresolved} does not resolve (${text}): check spec.nats.servers for a typo, and the cluster's DNS`,
      { server },
    );
  }
  return new BacklogError('Unreachable', `cannot connect to NATS at ${server} (${text}): ${CHECK_SERVERS}`, {
    server,
  });
}

/**
 * A read refused at once because the connection's breaker is open: why it went down (the last
 * failure, which names the server, else "NATS at <server>"), that reads fail at once until a check
 * reaches it, and what to check unless the failure already says (each once: before, the server and
 * the advice were said twice, the second time around the failure's own).
 */
export function natsDownMessage(server: string, lastFailure: string | undefined): string {
  const why =
    lastFailure === undefined
      ? `NATS at ${server} stopped answering`
      : lastFailure.includes(server)
        ? lastFailure
        : `NATS at ${server}: ${lastFailure}`;
  const advice = why.includes('spec.nats') ? '' : `: ${CHECK_SERVERS}`;
  return `${why}; reads fail at once until a background check reaches it again${advice}`;
}

/**
 * connectError, with TLS failures told apart (tls-diagnosis.ts): a certificate Node refused, TLS
 * set for a server without it, or a server that wants a client certificate and stopped answering
 * (its INFO line, read only now, says tls_verify).
 */
export async function diagnoseConnectError(
  err: unknown,
  servers: string[],
  credentials: NatsCredentials,
): Promise<BacklogError> {
  if (isNatsServerMisbehaved(err)) return misbehavedError(err, servers);
  const refused = refusalOf(err, servers);
  if (refused) return refused;
  const error = connectError(err, servers);
  if (error.kind !== 'Unreachable' || !endedSilently(err)) return error;
  const info = await readServerInfo(servers, 1000);
  if (info === undefined) {
    // No greeting at all: an HTTP server (the monitoring port) waits to be asked.
    const http = await serverAnsweringHttp(servers, 1000);
    return http === undefined ? error : notNatsError(http, servers);
  }
  const problem = silentEndProblem(info, {
    tlsAsked: credentials.tls !== undefined || servers.some((s) => s.startsWith('tls://')),
    clientCertificate: credentials.tls?.cert !== undefined,
  });
  return problem === undefined ? error : tlsFailure(servers, problem);
}

/**
 * A server that broke the NATS protocol or a limit the operator keeps (protocol-guard.ts): a
 * server the tenant controls, or a broken proxy. Unreachable — nothing can be read from it, and it
 * counts toward fallback as a dead server does — with what it did, so the tenant can fix it.
 */
export function misbehavedError(violation: NatsServerMisbehaved, servers: string[]): BacklogError {
  const server = servers.map(redactServer).join(', ');
  return new BacklogError(
    'Unreachable',
    `NATS at ${server} misbehaves: it ${violation.what}; the operator drops such a connection: check that spec.nats.servers names a NATS server's client port, and that nothing in between alters what it sends`,
    { server },
  );
}

/**
 * A server that answers HTTP instead of NATS. Still Unreachable (it counts toward fallback as a
 * wrong port does), with a message that says which port to use.
 */
export function notNatsError(httpServer: string, servers: string[]): BacklogError {
  const server = servers.map(redactServer).join(', ');
  // Named once: the server that answered HTTP (the rest are in \`where\`).
  return new BacklogError(
    'Unreachable',
    `cannot connect to NATS: ${redactServer(httpServer)} answers HTTP, not NATS: is it the monitoring port (8222 by default; KEDA's natsServerMonitoringEndpoint)? spec.nats.servers needs the client port (4222 by default)`,
    { server },
  );
}

function tlsFailure(servers: string[], problem: TlsProblem): BacklogError {
  const server = servers.map(redactServer).join(', ');
  return new BacklogError('TlsFailed', tlsProblemMessage(problem, server, undefined), { server }, problem);
}

/**
 * The error as a refusal of this client's credentials or TLS, told by the error alone; else
 * undefined. A permission violation is none: the server refused one subject (a request, or the
 * MAX_DELIVERIES advisories drop-advisories.ts subscribes to) and keeps the connection. Taken for a
 * refusal it was remembered, and the next ordinary disconnect read as Unauthorized, which never
 * counts toward fallback.
 */
export function refusalOf(err: unknown, servers: string[]): BacklogError | undefined {
  if (err instanceof Error && err.name === 'PermissionViolationError') return undefined;
  const named = tlsProblemOf(err);
  if (named) return tlsFailure(servers, named);
  const error = connectError(err, servers);
  return error.kind === 'Unauthorized' ? error : undefined;
}

/**
 * A failure on a connection whose credentials the server said expired (PooledConnection.expired),
 * as the user must read it: what that expiry explains is the expiry — the connection closing or
 * found down (Unreachable), a reconnect refused with a bare "Authorization Violation"
 * (Unauthorized), and reads refused because others pile up waiting on that dead connection (Busy:
 * "NATS is slow, check that it is healthy" would send the user to a healthy server). Any other
 * failure (a TLS refusal, a missing stream) is its own. The one rule for the breaker's error and
 * for each read's: before, the breaker left Busy out and reads did not.
 */
export function explainedByExpiry(failure: BacklogError, expired: BacklogError | undefined): BacklogError {
  if (expired === undefined) return failure;
  return failure.kind === 'Unreachable' || failure.kind === 'Unauthorized' || failure.kind === 'Busy'
    ? expired
    : failure;
}

const TRIPPED = Symbol('tripped');
const DROPPED = Symbol('dropped');
const CONNECT_SLOW = Symbol('connect slow');
const LET_GO = Symbol('let go');

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
}

function deferred(): Deferred {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** A disconnect waiting for its reconnect: `over` resolves on the reconnect or when the grace runs out. */
interface Outage {
  over: Deferred;
  timer: NodeJS.Timeout;
}

function releaseAll(entry: PooledConnection): void {
  for (const release of [...entry.waiters]) release();
  entry.waiters.clear();
}

export class ConnectionPool {
  private readonly pool = new Map<string, PooledConnection>();
  private readonly ownerKeys = new Map<string, string>();
  private readonly now: () => number;
  /**
   * Slow reads that may go on waiting: reads that have waited over `slowAfterMs` (on a connect or a
   * request), and reads of owners whose last read was slow, from their start.
   */
  private readonly slowReads = new Set<object>();

  constructor(private readonly options: ConnectionPoolOptions) {
    this.now = options.now ?? monotonicNow;
  }

  /** The shared connection for these servers and credentials, registered to `owner`. */
  async acquire(owner: string, servers: string[], credentials: NatsCredentials): Promise<NatsConnection> {
    const entry = this.register(owner, servers, credentials);
    if (entry.connection && !entry.connection.isClosed()) return entry.connection;
    entry.connecting ??= this.open(entry);
    return entry.connecting;
  }

  /**
   * Runs one read on the owner's shared connection, through the connection's breaker: fails at
   * once while the connection is known down or too many reads already wait on it.
   */
  async read(
    owner: string,
    servers: string[],
    credentials: NatsCredentials,
    send: (nc: NatsConnection) => Promise<BacklogReading>,
  ): Promise<BacklogReading> {
    const entry = this.register(owner, servers, credentials);
    const reading = await this.readOn(entry, owner, send);
    if (reading.ok) {
      entry.expired = undefined;
      // A server the guard dropped, reconnected to after its backoff, answers again: what a later
      // disconnect or unanswered PING means is no longer its violation (kept until now, not only
      // until the reconnect: a hostile server that is quiet once reconnected is silent, and its
      // reads failing for "no PING reply" through the next backoff said nothing of what it did).
      entry.misbehaved = undefined;
      return reading;
    }
    return { ok: false, error: explainedByExpiry(reading.error, entry.expired) };
  }

  private async readOn(
    entry: PooledConnection,
    owner: string,
    send: (nc: NatsConnection) => Promise<BacklogReading>,
  ): Promise<BacklogReading> {
    const decision = entry.breaker.admit();
    if (decision === 'check') void this.check(entry);
    if (decision !== 'send') return this.fastFailure(entry, 'down');
    const last = entry.slowOwners.get(owner);
    const answeredInTime = last === undefined;
    if (this.isSlow(entry, answeredInTime)) return this.fastFailure(entry, 'busy');
    const connecting = !this.isConnected(entry);
    const slotsTaken = this.slowReads.size >= this.maxSlowReads();
    if (connecting && slotsTaken) {
      this.connectInBackground(entry);
      return this.fastFailure(entry, 'connecting');
    }
    if (last !== undefined && slotsTaken) {
      // Its request still goes out, in the background (one at a time): once its NATS answers in
      // time again, its next read is sent and waited for, however long others keep the slots.
      if (!entry.requestsOut.has(owner)) this.ask(entry, owner, send, this.now()).catch(() => undefined);
      return this.slowAgain(entry, last);
    }
    const waiting: WaitingRead = { since: this.now(), answeredInTime };
    entry.inFlight.add(waiting);
    let release: () => void = () => undefined;
    const tripped = new Promise<typeof TRIPPED>((resolve) => (release = () => resolve(TRIPPED)));
    entry.waiters.add(release);
    const slowWait = this.waitWhileSlow(entry, !answeredInTime);
    // A read let go (its connect or request slow, no slot free) leaves its attempt running: a
    // connect goes on in the background, and a failure opens the breaker (attempt), as if the read
    // had waited; a request's answer is what the owner's next read knows of it.
    const answered = this.ask(entry, owner, send, waiting.since);
    answered.catch(() => undefined); // awaited below, unless the read was let go first
    try {
      const outcome = await Promise.race([answered, tripped, slowWait.letGo]);
      if (outcome === TRIPPED) return this.fastFailure(entry, 'down');
      if (outcome === CONNECT_SLOW) return this.fastFailure(entry, 'connecting');
      if (outcome === LET_GO) {
        // It waited a second: slow, whatever its answer will be (which then takes its place).
        entry.slowOwners.set(owner, last ?? {});
        return this.fastFailure(entry, 'letGo');
      }
      return outcome;
    } finally {
      slowWait.end();
      entry.waiters.delete(release);
      entry.inFlight.delete(waiting);
    }
  }

  /**
   * Sends the owner's request, counted among its requests out until answered, and remembers the
   * answer for its next read.
   */
  private async ask(
    entry: PooledConnection,
    owner: string,
    send: (nc: NatsConnection) => Promise<BacklogReading>,
    since: number,
  ): Promise<BacklogReading> {
    entry.requestsOut.set(owner, (entry.requestsOut.get(owner) ?? 0) + 1);
    try {
      const outcome = await this.afterReconnect(entry, () => this.attempt(entry, owner, send));
      if (entry.owners.has(owner)) this.remember(entry, owner, since, outcome);
      return outcome;
    } finally {
      const out = (entry.requestsOut.get(owner) ?? 1) - 1;
      if (out > 0) entry.requestsOut.set(owner, out);
      else entry.requestsOut.delete(owner);
    }
  }

  /** What the owner's next read knows of this one: slow (with its failure, if it timed out), or not. */
  private remember(entry: PooledConnection, owner: string, since: number, outcome: BacklogReading): void {
    const failure = !outcome.ok && outcome.error.kind === 'Unreachable' ? outcome.error : undefined;
    const slow = failure !== undefined || this.now() - since >= (this.options.slowAfterMs ?? 1000);
    if (!slow) entry.slowOwners.delete(owner);
    else entry.slowOwners.set(owner, failure === undefined ? {} : { failure });
  }

  /**
   * A read of an owner whose last read was slow, while every slot for slow reads is taken: answered
   * at once, with the last read's failure when it failed (a timeout: it counts toward fallback
   * again, as the read would have had it waited and timed out), else as Busy (answered, slowly:
   * not toward fallback). Its request goes on in the background (readOn).
   */
  private slowAgain(entry: PooledConnection, last: SlowRead): BacklogReading {
    const failure = last.failure;
    if (failure === undefined) return this.fastFailure(entry, 'busy');
    this.options.metrics?.natsFastFailures.inc({ why: 'repeated' });
    this.options.metrics?.natsRequestDuration.observe({ result: failure.kind }, 0);
    const slowAfterMs = this.options.slowAfterMs ?? 1000;
    const message = `${failure.message} (this poll was answered with the last read's failure, at once: ${this.slowReads.size} backlog reads already wait over ${slowAfterMs} ms on NATS across the operator; it counts as failed again, toward fallback, and a request goes on in the background, whose answer the next poll uses)`;
    return {
      ok: false,
      error: new BacklogError(failure.kind, message, failure.where, failure.tls, failure.refusal),
    };
  }

  private isConnected(entry: PooledConnection): boolean {
    return entry.connection !== undefined && !entry.connection.isClosed();
  }

  private maxSlowReads(): number {
    return this.options.maxSlowReads ?? 4;
  }

  /**
   * A read's slot among the slow reads: taken at once by a read of an owner whose last read was
   * slow (the caller saw one free), else once the read has waited `slowAfterMs`; with none free
   * then, the read is let go (`letGo` resolves: CONNECT_SLOW while its connection is not up yet,
   * else LET_GO). `end` when the read is over.
   */
  private waitWhileSlow(
    entry: PooledConnection,
    slowAlready: boolean,
  ): { letGo: Promise<typeof CONNECT_SLOW | typeof LET_GO>; end: () => void } {
    let timer: NodeJS.Timeout | undefined;
    let slot: object | undefined;
    const letGo = new Promise<typeof CONNECT_SLOW | typeof LET_GO>((resolve) => {
      if (slowAlready) {
        this.slowReads.add((slot = {}));
        return;
      }
      timer = setTimeout(() => {
        if (this.slowReads.size < this.maxSlowReads()) this.slowReads.add((slot = {}));
        else resolve(this.isConnected(entry) ? LET_GO : CONNECT_SLOW);
      }, this.options.slowAfterMs ?? 1000);
      timer.unref();
    });
    return {
      letGo,
      end: () => {
        clearTimeout(timer);
        if (slot) this.slowReads.delete(slot);
      },
    };
  }

  /** Starts a connect no read waits for; its failure opens the breaker, as a read's would. */
  private connectInBackground(entry: PooledConnection): void {
    if (entry.connecting) return;
    entry.connecting = this.open(entry);
    entry.connecting.catch((err: unknown) => {
      if (this.pool.get(entry.key) === entry && !entry.breaker.isOpen()) this.connectFailed(entry, err);
    });
  }

  /**
   * A connect failed: its error, and the breaker opened when the server is unreachable or refused
   * the connection. A refusal (credentials, TLS) cannot heal by itself: it is remembered like an
   * outage, so reads get it back at once until a background check (with backoff) is accepted or the
   * Secret changes (other credentials are another connection), instead of every poll making a full
   * connect attempt on a shared worker.
   */
  private connectFailed(entry: PooledConnection, err: unknown): BacklogError {
    const error = err instanceof BacklogError ? err : connectError(err, entry.servers);
    if (error.kind === 'Unreachable' || error.kind === 'Unauthorized' || error.kind === 'TlsFailed')
      this.markDown(entry, error);
    return error;
  }

  /**
   * Enough reads already wait on the connection, and the oldest has waited too long. For a read
   * whose owner's last read was answered in time only the reads of such owners count (see the
   * header).
   */
  private isSlow(entry: PooledConnection, answeredInTime: boolean): boolean {
    const reads = [...entry.inFlight].filter((w) => !answeredInTime || w.answeredInTime);
    if (reads.length < (this.options.maxInFlightPerConnection ?? 4)) return false;
    const now = this.now();
    let oldest = now;
    for (const w of reads) oldest = Math.min(oldest, w.since);
    return now - oldest >= (this.options.slowAfterMs ?? 1000);
  }

  /**
   * Runs `then` once the connection is not in an outage's grace: at once, after the reconnect, or
   * as a fast failure when the grace ran out without one (the breaker opened).
   */
  private async afterReconnect(
    entry: PooledConnection,
    then: () => Promise<BacklogReading>,
  ): Promise<BacklogReading> {
    const outage = entry.outage;
    if (outage) {
      await outage.over.promise;
      if (entry.breaker.isOpen()) return this.fastFailure(entry, 'down');
    }
    return then();
  }

  private async attempt(
    entry: PooledConnection,
    owner: string,
    send: (nc: NatsConnection) => Promise<BacklogReading>,
  ): Promise<BacklogReading> {
    let nc: NatsConnection;
    try {
      nc = await this.acquire(owner, entry.servers, entry.credentials);
    } catch (err) {
      return { ok: false, error: this.connectFailed(entry, err) };
    }
    const again = (): Promise<BacklogReading> =>
      this.afterReconnect(entry, async () => this.afterSend(entry, nc, await send(nc)));
    if (entry.outage) return again();
    // A request out when the connection drops gets no reply (it went with the old socket, or sat in
    // nats.js's buffer, which each dial attempt empties): ask again once the reconnect came, once.
    let onDrop: () => void = () => undefined;
    const dropped = new Promise<typeof DROPPED>((resolve) => (onDrop = () => resolve(DROPPED)));
    entry.onDrop.add(onDrop);
    try {
      const outcome = await Promise.race([send(nc), dropped]);
      return outcome === DROPPED ? await again() : this.afterSend(entry, nc, outcome);
    } finally {
      entry.onDrop.delete(onDrop);
    }
  }

  private afterSend(entry: PooledConnection, nc: NatsConnection, result: BacklogReading): BacklogReading {
    if (!result.ok && result.error.kind === 'Unreachable' && !entry.breaker.isOpen()) this.probe(entry, nc);
    return result;
  }

  /** Whether the breaker of this servers + credentials connection is open (for tests and status). */
  isDown(servers: string[], credentials: NatsCredentials): boolean {
    return this.pool.get(connectionKey(servers, credentials))?.breaker.isOpen() ?? false;
  }

  /** The owner no longer needs its connection; the last owner closes it. */
  release(owner: string): void {
    const key = this.ownerKeys.get(owner);
    if (key === undefined) return;
    this.ownerKeys.delete(owner);
    const entry = this.pool.get(key);
    if (!entry) return;
    entry.owners.delete(owner);
    entry.slowOwners.delete(owner);
    if (entry.owners.size > 0) return;
    this.pool.delete(key);
    this.endOutage(entry);
    releaseAll(entry);
    this.updateGauges();
    const connection = entry.connection;
    if (connection) {
      this.options.logger.info('closing NATS connection: no EventConsumer uses it any more', {
        servers: entry.servers.map(redactServer),
      });
      void connection.close().catch(() => undefined);
    }
  }

  size(): number {
    return [...this.pool.values()].filter((e) => e.connection !== undefined).length;
  }

  async closeAll(): Promise<void> {
    const entries = [...this.pool.values()];
    this.pool.clear();
    this.ownerKeys.clear();
    for (const e of entries) {
      this.endOutage(e);
      releaseAll(e);
    }
    await Promise.all(entries.map((e) => e.connection?.close().catch(() => undefined)));
    this.updateGauges();
  }

  private register(owner: string, servers: string[], credentials: NatsCredentials): PooledConnection {
    const key = connectionKey(servers, credentials);
    const previous = this.ownerKeys.get(owner);
    if (previous !== undefined && previous !== key) this.release(owner);
    let entry = this.pool.get(key);
    if (!entry) {
      entry = {
        key,
        servers,
        credentials,
        owners: new Set(),
        breaker: new CircuitBreaker({
          now: this.now,
          ...(this.options.checkBackoff ? { backoff: this.options.checkBackoff } : {}),
        }),
        inFlight: new Set(),
        slowOwners: new Map(),
        waiters: new Set(),
        onDrop: new Set(),
        requestsOut: new Map(),
      };
      this.pool.set(key, entry);
    }
    entry.owners.add(owner);
    this.ownerKeys.set(owner, key);
    return entry;
  }

  /** A read answered without asking NATS. Names only the server: the connection is shared. */
  private fastFailure(
    entry: PooledConnection,
    why: 'down' | 'busy' | 'connecting' | 'letGo',
  ): BacklogReading {
    this.options.metrics?.natsFastFailures.inc({ why: why === 'down' ? 'down' : 'busy' });
    // The background check reached the server and was refused (credentials rotated on the server,
    // a certificate it no longer accepts): that is the configuration to fix, not an outage, and
    // must not count toward fallback as one.
    const refusal = entry.breaker.lastError();
    if (why === 'down' && (refusal?.kind === 'Unauthorized' || refusal?.kind === 'TlsFailed')) {
      this.options.metrics?.natsRequestDuration.observe({ result: refusal.kind }, 0);
      return { ok: false, error: refusal };
    }
    const kind = why === 'down' ? 'Unreachable' : 'Busy';
    this.options.metrics?.natsRequestDuration.observe({ result: kind }, 0);
    const server = entry.servers.map(redactServer).join(', ');
    const slowAfterMs = this.options.slowAfterMs ?? 1000;
    const message =
      why === 'down'
        ? natsDownMessage(server, entry.breaker.lastError()?.message)
        : why === 'busy'
          ? `NATS at ${server} is slow: ${entry.inFlight.size} backlog reads have waited on this connection for over ${slowAfterMs} ms, so this one was not sent (it does not count toward fallback); check that NATS is healthy`
          : why === 'letGo'
            ? `NATS at ${server} is slow: this backlog read waited ${slowAfterMs} ms, and ${this.slowReads.size} others already wait that long on NATS across the operator, so it was not kept waiting (this does not count toward fallback; its request goes on, and its answer counts for the next poll); check that NATS is healthy`
            : `NATS at ${server} has not answered a connect yet, and ${this.slowReads.size} backlog reads already wait over ${slowAfterMs} ms on NATS across the operator (on connects or requests), so this one was not kept waiting: the connect goes on in the background (this does not count toward fallback); if this persists, ${CHECK_SERVERS}`;
    return { ok: false, error: new BacklogError(kind, message, { server }) };
  }

  private markDown(entry: PooledConnection, cause: BacklogError): void {
    const wasOpen = entry.breaker.isOpen();
    const explained = explainedByExpiry(cause, entry.expired);
    // A server refused the credentials, or was dropped for breaking the protocol (and is being
    // reconnected to after a backoff): what its disconnect and unanswered PINGs mean meanwhile.
    const known = entry.refusal ?? entry.misbehaved;
    const error = explained.kind === 'Unreachable' && known ? known : explained;
    entry.breaker.failed(error);
    if (!wasOpen) {
      const refused = error.kind === 'Unauthorized' || error.kind === 'TlsFailed';
      this.options.logger.warn(
        refused
          ? 'NATS refused the connection: backlog reads on it get the refusal at once until a background check is accepted or the Secret changes'
          : 'NATS connection is down: backlog reads on it fail at once until it answers',
        { servers: entry.servers.map(redactServer), error: error.message },
      );
      // Release the reads waiting on this connection: they would only wait out their timeouts.
      releaseAll(entry);
    }
    this.updateGauges();
  }

  /** The disconnect is over (reconnected, found down, or the connection let go): wake its waiting reads. */
  private endOutage(entry: PooledConnection): void {
    const outage = entry.outage;
    if (!outage) return;
    entry.outage = undefined;
    clearTimeout(outage.timer);
    outage.over.resolve();
  }

  /** A disconnect: reads wait for the reconnect, until the grace runs out and the connection is down. */
  private startOutage(entry: PooledConnection): void {
    for (const dropped of [...entry.onDrop]) dropped();
    entry.onDrop.clear();
    if (entry.outage || entry.breaker.isOpen()) return;
    const graceMs = this.options.reconnectGraceMs ?? 2000;
    const timer = setTimeout(() => {
      if (entry.outage?.timer !== timer) return;
      const server = entry.servers.map(redactServer).join(', ');
      // markDown first, so the reads the outage releases find the breaker open.
      this.markDown(
        entry,
        new BacklogError(
          'Unreachable',
          `lost the connection to NATS at ${server}, and no reconnect within ${graceMs} ms`,
          {
            server,
          },
        ),
      );
      this.endOutage(entry);
    }, graceMs);
    timer.unref();
    entry.outage = { over: deferred(), timer };
  }

  private markUp(entry: PooledConnection): void {
    if (!entry.breaker.isOpen()) return;
    entry.breaker.succeeded();
    this.options.logger.info('NATS connection answers again: backlog reads resume', {
      servers: entry.servers.map(redactServer),
    });
    this.updateGauges();
  }

  /**
   * A request went unanswered: is the connection itself alive? One PING at a time, in the
   * background. A PING unanswered within pingTimeoutMs finds the connection down only when nothing
   * at all came from the server meanwhile: a server that answers, slowly (in 2–3 s, past the
   * request and PING timeouts), still delivers the replies to earlier requests, and it is not left
   * for another (connection-breaker.int: before, every late PING forced a reconnect, whose handshake
   * through the same delay outlasted its own timeout, so a slow server's live connection was broken
   * over and over). Its reads time out on their own, and count as timeouts do. The PING's time is
   * time this process's event loop was free (ping): an operator held by its own load is no silent
   * server.
   *
   * Found silent, the connection is down at once (its reads fail fast). It is dropped for a
   * reconnect at once only when there is another server to go to (leaveSilentServer); with none,
   * only when the background check's longer PING goes unanswered too: a reconnect to the same
   * server cannot find a better one, drops every owner's reads in flight, and under load its
   * handshake may not finish within the connect timeout (the operator fuzz at 300 objects: one such
   * reconnect took 3 minutes, every EventConsumer on the connection reading NatsUnreachable).
   */
  private probe(entry: PooledConnection, nc: NatsConnection): void {
    const receivedBefore = nc.stats().inMsgs;
    entry.probing ??= this.ping(nc)
      .then((ping) => {
        if (ping.answer === 'inTime' || this.pool.get(entry.key) !== entry) return;
        if (nc.stats().inMsgs !== receivedBefore) return; // slow, not silent
        this.markDown(entry, this.noPingReply(entry, this.options.pingTimeoutMs ?? 2000));
        if (this.elsewhere(entry, nc)) this.leaveSilentServer(entry, nc, ping);
        else {
          this.options.logger.warn(
            'NATS server stopped answering on an open connection: reads on it fail at once until a background check is answered (no other server to reconnect to)',
            {
              servers: entry.servers.map(redactServer),
              server: nc.info?.server_name,
              pingWaitedMs: ping.waitedMs,
              eventLoopDelayMs: ping.eventLoopDelayMs,
            },
          );
        }
      })
      .finally(() => (entry.probing = undefined));
  }

  /**
   * Whether a reconnect may reach another server than this one: several URLs, or a server that
   * names others (connect_urls) or a cluster (one URL, a Kubernetes Service, may front its nodes).
   */
  private elsewhere(entry: PooledConnection, nc: NatsConnection): boolean {
    const info = nc.info;
    return (
      entry.servers.length > 1 ||
      (info?.connect_urls?.length ?? 0) > 0 ||
      (typeof info?.cluster === 'string' && info.cluster !== '')
    );
  }

  /**
   * The server neither answers a request nor a PING, yet its socket is open: a frozen process (a
   * paused VM, a node under SIGSTOP) or a partition that drops packets. nats.js would notice only
   * after maxPingOut unanswered PINGs (~30 s), reads failing all along (an EventConsumer at 1 s polls
   * falls back after 20 s; nats-elections.int). Dropping the connection makes nats.js reconnect to
   * another server of the cluster (its pool, and those the cluster told it of), where JetStream
   * answers again once it has elected new leaders. Against a single server it helps only when the
   * socket is dead and the server lives (a pod behind a Service replaced): probe leaves a single
   * server only after a second, longer PING went unanswered.
   */
  private leaveSilentServer(
    entry: PooledConnection,
    nc: NatsConnection,
    ping: { waitedMs: number; eventLoopDelayMs: number },
  ): void {
    if (nc.isClosed()) return;
    entry.dropCause = {
      text: 'jetscale reconnected it: the server answered neither a request nor a PING in time',
      at: Date.now(),
    };
    this.options.logger.warn(
      this.elsewhere(entry, nc)
        ? 'NATS server stopped answering on an open connection: reconnecting to another server'
        : 'NATS server stopped answering on an open connection, a background check too: reconnecting to it (its socket may be dead while it lives)',
      {
        servers: entry.servers.map(redactServer),
        server: nc.info?.server_name,
        pingWaitedMs: ping.waitedMs,
        eventLoopDelayMs: ping.eventLoopDelayMs,
      },
    );
    void nc.reconnect().catch(() => undefined);
  }

  /** A background check of a connection that is down: PING it, or connect when there is none. */
  private async check(entry: PooledConnection): Promise<void> {
    const nc = entry.connection;
    let up: boolean;
    let error: BacklogError | undefined;
    if (nc && !nc.isClosed() && entry.dialing === true) {
      // nats.js is reconnecting (after a disconnect, or leaveSilentServer): still down, for the
      // reason already known. A PING now is refused at once, disconnected, and was taken for another
      // silence (a "no PING reply within 4000 ms" that waited no time, another forced reconnect
      // logged: 16 in the 3 minutes of seed 23003's reconnect).
      up = false;
      error = entry.breaker.lastError() ?? this.noPingReply(entry, this.silentAfterMs());
    } else if (nc && !nc.isClosed()) {
      // Reads fail at once while the breaker is open, so nothing else comes from a slow server
      // meanwhile: its PING may answer late (up to silentAfterMs) and still count as an answer.
      const ping = await this.ping(nc, this.silentAfterMs());
      up = ping.answer !== 'none';
      if (!up) {
        error = this.noPingReply(entry, this.silentAfterMs());
        this.leaveSilentServer(entry, nc, ping);
      }
    } else {
      try {
        entry.connecting ??= this.open(entry);
        await entry.connecting;
        up = true;
      } catch (err) {
        up = false;
        error = err instanceof BacklogError ? err : connectError(err, entry.servers);
      }
    }
    if (this.pool.get(entry.key) !== entry) return;
    if (up) this.markUp(entry);
    else if (error) this.markDown(entry, error);
  }

  /** How long a background check waits for a PING's answer before the server counts as silent. */
  private silentAfterMs(): number {
    const pingTimeoutMs = this.options.pingTimeoutMs ?? 2000;
    return Math.max(pingTimeoutMs, this.options.silentAfterMs ?? 2 * pingTimeoutMs);
  }

  /**
   * One PING: answered within pingTimeoutMs ('inTime'), later but within `lateWithinMs` ('late':
   * alive, slow), or not at all ('none', a closed connection included). The times are time this
   * process's event loop was free (awake-wait.ts): a PONG that waited in the socket while the loop
   * was held is an answer, not a silent server. `eventLoopDelayMs`: how long the loop was held
   * meanwhile, beyond the wait.
   */
  private async ping(
    nc: NatsConnection,
    lateWithinMs?: number,
  ): Promise<{ answer: 'inTime' | 'late' | 'none'; waitedMs: number; eventLoopDelayMs: number }> {
    const pingTimeoutMs = this.options.pingTimeoutMs ?? 2000;
    const started = performance.now();
    const answered = nc.rtt().then(
      () => true,
      () => false,
    );
    const first = await settledWithinAwake(answered, pingTimeoutMs);
    const waited = (answer: 'inTime' | 'late' | 'none', eventLoopDelayMs: number) => ({
      answer,
      waitedMs: Math.round(performance.now() - started),
      eventLoopDelayMs: Math.round(eventLoopDelayMs),
    });
    if (first.settled) return waited(first.value ? 'inTime' : 'none', first.eventLoopDelayMs);
    if (lateWithinMs === undefined || lateWithinMs <= pingTimeoutMs)
      return waited('none', first.eventLoopDelayMs);
    const later = await settledWithinAwake(answered, lateWithinMs - pingTimeoutMs);
    return waited(
      later.settled && later.value ? 'late' : 'none',
      first.eventLoopDelayMs + later.eventLoopDelayMs,
    );
  }

  private noPingReply(entry: PooledConnection, withinMs: number): BacklogError {
    const server = entry.servers.map(redactServer).join(', ');
    return new BacklogError('Unreachable', `no PING reply from NATS at ${server} within ${withinMs} ms`, {
      server,
    });
  }

  private async open(entry: PooledConnection): Promise<NatsConnection> {
    entry.refusal = undefined; // this attempt's own answer counts now
    entry.misbehaved = undefined;
    try {
      const connection = await guardedConnect(
        connectionOptions(entry.servers, entry.credentials, this.options.connectTimeoutMs ?? 5000),
        { onViolation: (violation) => this.misbehaving(entry, violation) },
      );
      if (this.pool.get(entry.key) !== entry) {
        // Every owner left while we were connecting.
        void connection.close().catch(() => undefined);
        return connection;
      }
      entry.connection = connection;
      entry.dialing = false;
      this.markUp(entry);
      this.updateGauges();
      this.options.logger.info('connected to NATS', {
        servers: entry.servers.map(redactServer),
        server: connection.info?.server_name,
      });
      void this.watch(entry, connection);
      return connection;
    } catch (err) {
      throw entry.misbehaved ?? (await diagnoseConnectError(err, entry.servers, entry.credentials));
    } finally {
      entry.connecting = undefined;
    }
  }

  /**
   * The guard dropped a connection of this entry (or a connect to one of its servers) because the
   * server broke the protocol: once it had been up, the connection is down at once, with what the
   * server did (its disconnect is no reconnect to wait for: nats.js reconnects to the same
   * server, and the guard drops it again).
   */
  private misbehaving(entry: PooledConnection, violation: NatsServerMisbehaved): void {
    const error = misbehavedError(violation, entry.servers);
    entry.misbehaved = error;
    this.options.metrics?.natsConnectionEvents.inc({ type: 'misbehaved' });
    entry.dropCause = { text: `the protocol guard dropped it: ${error.message}`, at: Date.now() };
    if (this.pool.get(entry.key) !== entry || entry.connection === undefined) return;
    this.markDown(entry, error);
  }

  /**
   * A server's -ERR (or another error nats.js reports on the connection), logged at most
   * ERROR_LOGS_PER_MINUTE times a minute per connection: a server may send thousands a second (the
   * guard lets 10,000 control lines a second through), and a warning each was a log flood. The
   * first error after a minute with some left unlogged says how many.
   */
  private logError(entry: PooledConnection, error: Error): void {
    const now = this.now();
    let log = (entry.errorLog ??= { since: now, logged: 0, unlogged: 0 });
    if (now - log.since >= 60_000) {
      if (log.unlogged > 0) {
        this.options.logger.warn(
          `NATS connection errors not logged (over ${ERROR_LOGS_PER_MINUTE} a minute)`,
          {
            servers: entry.servers.map(redactServer),
            unlogged: log.unlogged,
          },
        );
      }
      log = entry.errorLog = { since: now, logged: 0, unlogged: 0 };
    }
    if (log.logged >= ERROR_LOGS_PER_MINUTE) {
      log.unlogged++;
      return;
    }
    log.logged++;
    this.options.logger.warn('NATS connection error', {
      servers: entry.servers.map(redactServer),
      error: redactServer(error.message).slice(0, 300),
      ...(log.logged === ERROR_LOGS_PER_MINUTE
        ? {
            note: `${ERROR_LOGS_PER_MINUTE} errors logged this minute: more are counted, and said once the minute is over`,
          }
        : {}),
    });
  }

  private async watch(entry: PooledConnection, connection: NatsConnection): Promise<void> {
    for await (const status of connection.status()) {
      this.options.metrics?.natsConnectionEvents.inc({ type: status.type });
      if (status.type === 'staleConnection')
        entry.dropCause = {
          text: 'nats.js had no answer to its PINGs (maxPingOut): a stale connection',
          at: Date.now(),
        };
      if (status.type === 'error')
        entry.dropCause ??= {
          text: `after the server's error: ${redactServer(status.error instanceof Error ? status.error.message : String(status.error)).slice(0, 300)}`,
          at: Date.now(),
        };
      if (status.type === 'disconnect' || status.type === 'reconnect') {
        // Which connection (the EventConsumers sharing it) and, for a disconnect, why: a fuzz run
        // or a drill that counts disconnects must be able to tell who dropped it.
        const owners = [...entry.owners];
        this.options.logger.warn(`NATS connection ${status.type}`, {
          servers: entry.servers.map(redactServer),
          detail: 'server' in status ? status.server : undefined,
          owners: owners.length,
          ownersSample: owners.slice(0, 3),
          ...(status.type === 'disconnect'
            ? {
                cause:
                  entry.dropCause !== undefined && Date.now() - entry.dropCause.at < DROP_CAUSE_MS
                    ? entry.dropCause.text
                    : 'the socket closed (the server or the network ended it)',
              }
            : {}),
        });
        if (status.type === 'disconnect') entry.dropCause = undefined;
      }
      if (status.type === 'error') this.logError(entry, status.error);
      if (this.pool.get(entry.key) !== entry) continue;
      if (status.type === 'error') {
        const refused = refusalOf(status.error, entry.servers);
        if (refused) entry.refusal = refused;
        if (refused && AUTH_EXPIRED.test(refused.refusal ?? refused.message)) entry.expired = refused;
      }
      // A refusal is no reconnect to wait for: down at once. An ordinary disconnect waits its grace.
      if (status.type === 'disconnect' && entry.refusal) this.markDown(entry, entry.refusal);
      if (status.type === 'disconnect') {
        entry.dialing = true;
        this.startOutage(entry);
      }
      if (status.type === 'reconnect') {
        entry.dialing = false;
        entry.refusal = undefined;
        this.markUp(entry);
        this.endOutage(entry);
      }
    }
    // The status iterator ends when the connection closes: forget it so the next acquire reconnects.
    if (entry.connection === connection) entry.connection = undefined;
    if (this.pool.get(entry.key) === entry && entry.outage) {
      const server = entry.servers.map(redactServer).join(', ');
      this.markDown(
        entry,
        new BacklogError('Unreachable', `the connection to NATS at ${server} closed`, { server }),
      );
      this.endOutage(entry);
    }
    this.updateGauges();
  }

  private updateGauges(): void {
    this.options.metrics?.natsConnections.set(this.size());
    this.options.metrics?.natsConnectionsDown.set(
      [...this.pool.values()].filter((e) => e.breaker.isOpen()).length,
    );
  }
}
