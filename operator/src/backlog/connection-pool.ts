// One NATS connection per distinct (servers, credentials), shared by every EventConsumer that uses
// them, counted by owner and closed when the last owner lets go. Each connection's status stream
// (disconnect, reconnect, errors) is watched for logs and metrics; nats.js reconnects by itself,
// so a connection that was once established is kept while its server is away.
import {
  connect,
  credsAuthenticator,
  nkeyAuthenticator,
  type ConnectionOptions,
  type NatsConnection,
} from '@nats-io/transport-node';
import type { Logger } from '../observability/logger.js';
import type { OperatorMetrics } from '../observability/metrics.js';
import { BacklogError } from './backlog-error.js';
import { connectionKey, type NatsCredentials } from './nats-credentials.js';

interface PooledConnection {
  key: string;
  servers: string[];
  owners: Set<string>;
  connecting?: Promise<NatsConnection>;
  connection?: NatsConnection;
}

export interface ConnectionPoolOptions {
  logger: Logger;
  metrics?: OperatorMetrics;
  /** Time to wait for the first connection to a server. */
  connectTimeoutMs?: number;
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
    );
  }
  return new BacklogError(
    'Unreachable',
    `cannot connect to NATS at ${server} (${text}): check spec.nats.servers and that NATS is running`,
    { server },
  );
}

export class ConnectionPool {
  private readonly pool = new Map<string, PooledConnection>();
  private readonly ownerKeys = new Map<string, string>();

  constructor(private readonly options: ConnectionPoolOptions) {}

  /** The shared connection for these servers and credentials, registered to `owner`. */
  async acquire(owner: string, servers: string[], credentials: NatsCredentials): Promise<NatsConnection> {
    const key = connectionKey(servers, credentials);
    const previous = this.ownerKeys.get(owner);
    if (previous !== undefined && previous !== key) this.release(owner);
    let entry = this.pool.get(key);
    if (!entry) {
      entry = { key, servers, owners: new Set() };
      this.pool.set(key, entry);
    }
    entry.owners.add(owner);
    this.ownerKeys.set(owner, key);
    if (entry.connection && !entry.connection.isClosed()) return entry.connection;
    entry.connecting ??= this.open(entry, credentials);
    return entry.connecting;
  }

  /** The owner no longer needs its connection; the last owner closes it. */
  release(owner: string): void {
    const key = this.ownerKeys.get(owner);
    if (key === undefined) return;
    this.ownerKeys.delete(owner);
    const entry = this.pool.get(key);
    if (!entry) return;
    entry.owners.delete(owner);
    if (entry.owners.size > 0) return;
    this.pool.delete(key);
    this.updateGauge();
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
    await Promise.all(entries.map((e) => e.connection?.close().catch(() => undefined)));
    this.updateGauge();
  }

  private async open(entry: PooledConnection, credentials: NatsCredentials): Promise<NatsConnection> {
    try {
      const connection = await connect(
        connectionOptions(entry.servers, credentials, this.options.connectTimeoutMs ?? 5000),
      );
      if (this.pool.get(entry.key) !== entry) {
        // Every owner left while we were connecting.
        void connection.close().catch(() => undefined);
        return connection;
      }
      entry.connection = connection;
      this.updateGauge();
      this.options.logger.info('connected to NATS', {
        servers: entry.servers.map(redactServer),
        server: connection.info?.server_name,
      });
      void this.watch(entry, connection);
      return connection;
    } catch (err) {
      throw connectError(err, entry.servers);
    } finally {
      entry.connecting = undefined;
    }
  }

  private async watch(entry: PooledConnection, connection: NatsConnection): Promise<void> {
    for await (const status of connection.status()) {
      this.options.metrics?.natsConnectionEvents.inc({ type: status.type });
      if (status.type === 'disconnect' || status.type === 'reconnect' || status.type === 'error') {
        this.options.logger.warn(`NATS connection ${status.type}`, {
          servers: entry.servers.map(redactServer),
          detail: 'server' in status ? status.server : undefined,
        });
      }
    }
    // The status iterator ends when the connection closes: forget it so the next acquire reconnects.
    if (entry.connection === connection) entry.connection = undefined;
    this.updateGauge();
  }

  private updateGauge(): void {
    this.options.metrics?.natsConnections.set(this.size());
  }
}
