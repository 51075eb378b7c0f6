// The operator's NATS connections, with every byte a server sends read first by a ProtocolGuard
// (protocol-guard.ts: why nats.js cannot be left to read a tenant's server alone). nats.js 3.4's
// node transport is kept — its TCP, TLS and handshake code — and only the two places where it
// takes bytes from the socket (peekInfo before the connection is up, setupHandlers after) and the
// one where it writes (send) are replaced. A violation drops the connection as a closed socket
// would, with the violation as the error: nats.js then reconnects as it does after any drop (and
// meets the guard again), and the hook the connection was opened with hears of it, to say on the
// EventConsumer's status what the server did.
//
// nats.js reconnects to a dropped server after reconnectTimeWait (1 s for the operator), for ever:
// a server that misbehaves on every connection would be connected to, and dropped, every second
// (session 23's drill: 4-14 connections in ~40 s per hostile server, each parsed up to its
// violation). So each guarded connection backs off a server the guard dropped (ViolationBackoff):
// its reconnects wait 0.5-1 s after the first violation, twice that after each next one, up to
// 30-60 s, and an ordinary disconnect keeps nats.js's own wait once a minute has passed without one.
//
// nats.js chooses its transport through one process-wide factory, set by whoever connects last
// (transport-node's connect() sets its own). The operator opens every NATS connection here; code
// in the same process that calls transport-node's connect() makes later reconnects unguarded.
import {
  NatsConnectionImpl,
  deferred,
  errors,
  hasWsProtocol,
  setTransportFactory,
  type ConnectionOptions,
  type NatsConnection,
  type ServerInfo,
} from '@nats-io/transport-node';
import { NodeTransport, nodeResolveHost } from '@nats-io/transport-node/lib/node_transport.js';
import { NatsServerMisbehaved, ProtocolGuard, type ProtocolLimits } from './protocol-guard.js';
import { halfJitterDelayMs } from '../kube/backoff.js';

/** The option under which a connection carries its hook (nats.js copies unknown options along). */
const GUARD_OPTION = 'jetscaleProtocolGuard';

export interface GuardHook {
  /** The server broke the protocol or a limit; the connection is being dropped. */
  onViolation(violation: NatsServerMisbehaved): void;
  limits?: Partial<ProtocolLimits>;
  /** Bytes written to the server and not yet taken by it before it counts as not reading (8 MiB). */
  maxUnsentBytes?: number;
  /** How reconnects back off a server the guard dropped (DEFAULT_VIOLATION_BACKOFF). */
  backoff?: Partial<ViolationBackoffOptions>;
}

const DEFAULT_MAX_UNSENT_BYTES = 8 * 1024 * 1024;

export interface ViolationBackoffOptions {
  /** The longest wait after the first violation (1 s); each next violation doubles it. */
  baseMs: number;
  /** The longest wait at all (60 s). */
  maxMs: number;
  /** A violation this long after the previous one's wait ended starts again from baseMs (60 s). */
  quietMs: number;
}

export const DEFAULT_VIOLATION_BACKOFF: Readonly<ViolationBackoffOptions> = {
  baseMs: 1000,
  maxMs: 60_000,
  quietMs: 60_000,
};

/**
 * How long one connection waits before reconnecting to a server the guard dropped: the n-th
 * violation in a row makes it wait a random time between half and all of min(maxMs, baseMs·2^(n-1))
 * (spread, so that the operator's connections to one bad server do not come back at once). Pure:
 * the clock and the random source passed in.
 */
export class ViolationBackoff {
  private readonly options: ViolationBackoffOptions;
  private violations = 0;
  private lastViolationAt = Number.NEGATIVE_INFINITY;
  private waitMs = 0;

  constructor(
    options: Partial<ViolationBackoffOptions> = {},
    private readonly now: () => number = () => performance.now(),
    private readonly random: () => number = Math.random,
  ) {
    this.options = { ...DEFAULT_VIOLATION_BACKOFF, ...options };
  }

  /** The guard dropped the connection (or a connect) to the server. */
  violated(): void {
    if (!this.recent()) this.violations = 0;
    this.violations++;
    this.lastViolationAt = this.now();
    this.waitMs = halfJitterDelayMs(this.violations, this.options, this.random);
  }

  /** The wait before the next reconnect: nats.js's own (`usual`), or longer after a recent violation. */
  delay(usual: number): number {
    return this.recent() ? Math.max(usual, this.waitMs) : usual;
  }

  private recent(): boolean {
    return this.violations > 0 && this.now() - this.lastViolationAt <= this.waitMs + this.options.quietMs;
  }
}

class GuardedTransport extends NodeTransport {
  private guard = new ProtocolGuard();
  private hook: GuardHook | undefined;

  override connect(
    hp: { hostname: string; port: number; tlsName: string },
    options: Parameters<NodeTransport['connect']>[1],
  ): Promise<void> {
    const hook = (options as Record<string, unknown>)[GUARD_OPTION];
    this.hook = isGuardHook(hook) ? hook : undefined;
    this.guard = new ProtocolGuard(this.hook?.limits);
    return super.connect(hp, options);
  }

  /** nats.js's peekInfo, with the guard reading each frame first (and no concatenation per frame). */
  override peekInfo(): Promise<ServerInfo> {
    const d = deferred<ServerInfo>();
    let peekError: Error | undefined;
    this.socket.on('data', (frame: Uint8Array) => {
      const violation = this.guard.feed(frame);
      if (violation) {
        this.socket.removeAllListeners();
        this.hook?.onViolation(violation);
        d.reject(violation);
        return;
      }
      this.yields.push(frame);
      const info = this.guard.firstInfo;
      if (info !== undefined) {
        this.socket.removeAllListeners();
        d.resolve(info as unknown as ServerInfo);
      }
    });
    this.socket.on('error', (err: Error) => {
      peekError = err;
    });
    this.socket.on('close', () => {
      this.socket.removeAllListeners();
      d.reject(peekError);
    });
    return d;
  }

  /** nats.js's setupHandlers, with the guard reading each frame before the parser does. */
  override setupHandlers(): void {
    let connError: Error | undefined;
    this.socket.on('data', (frame: Uint8Array) => {
      const violation = this.guard.feed(frame);
      if (violation) {
        this.drop(violation);
        return;
      }
      this.yields.push(frame);
      this.signal.resolve();
    });
    this.socket.on('error', (err: Error) => {
      connError = err;
    });
    this.socket.on('end', () => {
      if (this.socket?.destroyed) return;
      this.socket?.write(new Uint8Array(0), () => {
        this.socket?.end();
      });
    });
    this.socket.on('close', () => {
      void this.closeWith(connError);
    });
  }

  /**
   * nats.js closes a transport whose connect failed, with the failure. A connect that timed out
   * while the server was still sending its INFO line is the server's doing (a trickle, a proxy
   * that holds bytes back), not a server that is away: say so.
   */
  override close(err?: Error): Promise<void> {
    if (
      !this.connected &&
      err?.name === 'TimeoutError' &&
      this.guard.firstInfo === undefined &&
      this.guard.received > 0
    ) {
      const timeoutMs = typeof this.options?.timeout === 'number' ? ` ${this.options.timeout} ms` : '';
      this.hook?.onViolation(
        new NatsServerMisbehaved(
          `sent only ${this.guard.received} bytes of its INFO line within the${timeoutMs} connect timeout (a NATS server sends the whole line at once)`,
        ),
      );
    }
    return super.close(err);
  }

  override send(frame: Uint8Array): void {
    const unsent = this.socket?.writableLength ?? 0;
    const max = this.hook?.maxUnsentBytes ?? DEFAULT_MAX_UNSENT_BYTES;
    if (this.connected && !this.done && unsent > max) {
      this.drop(
        new NatsServerMisbehaved(
          `does not read what the operator sends it: ${(unsent / (1024 * 1024)).toFixed(1)} MiB written to it (PONGs, requests) wait unread`,
        ),
      );
      return;
    }
    this.guard.sent(frame); // the operator's subscriptions: messages on them are data it asked for
    super.send(frame);
  }

  /** Drops the connection as a closed socket would, with the violation as its error. */
  private drop(violation: NatsServerMisbehaved): void {
    if (this.done) return;
    this.hook?.onViolation(violation);
    void this.closeWith(violation).then(() => this.signal.resolve()); // ends nats.js's reader
  }

  /** NodeTransport's private _closed(err, internal = false): the socket is gone. */
  private closeWith(err: Error | undefined): Promise<void> {
    return (this as unknown as { _closed(err: Error | undefined, internal: boolean): Promise<void> })._closed(
      err,
      false,
    );
  }
}

function isGuardHook(value: unknown): value is GuardHook {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { onViolation?: unknown }).onViolation === 'function'
  );
}

/** transport-node's connect(), with the guarded transport and `hook` told of every violation. */
export function guardedConnect(options: ConnectionOptions, hook: GuardHook): Promise<NatsConnection> {
  if (hasWsProtocol(options)) {
    return Promise.reject(
      errors.InvalidArgumentError.format(
        'servers',
        "node client doesn't support websockets, use the 'wsconnect' function instead",
      ),
    );
  }
  setTransportFactory({ factory: () => new GuardedTransport(), dnsResolveFn: nodeResolveHost });
  const backoff = new ViolationBackoff(hook.backoff);
  const usualDelay =
    options.reconnectDelayHandler ??
    ((): number => {
      // nats.js's own (nats-core options.js): reconnectTimeWait plus up to its jitter.
      const jitter = options.tls ? (options.reconnectJitterTLS ?? 1000) : (options.reconnectJitter ?? 100);
      return (options.reconnectTimeWait ?? 2000) + Math.floor(Math.random() * (jitter + 1));
    });
  const guarded: GuardHook = {
    ...hook,
    onViolation: (violation) => {
      backoff.violated();
      hook.onViolation(violation);
    },
  };
  return NatsConnectionImpl.connect({
    ...options,
    reconnectDelayHandler: () => backoff.delay(usualDelay()),
    [GUARD_OPTION]: guarded,
  } as ConnectionOptions);
}
