// Starts hostile-nats-server.mjs (a hostile or broken NATS server, in its own process so that
// what a test measures of its own heap and event loop is the client's) and reads what it reports.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { repoRoot } from '../../hack/stack/tools.js';

export type Hostility =
  /**
   * An INFO listing `urls` connect_urls: as the first line, or once the client is connected (and
   * `afterMs` later: the client's connect done, a connection that was up).
   */
  | { kind: 'infoFlood'; urls: number; when: 'first' | 'connected'; afterMs?: number }
  /** One INFO line of about `bytes` (a long string field). */
  | { kind: 'giantInfo'; bytes: number; when: 'first' | 'connected' }
  /** "INFO {" and then bytes without a line end, as fast as the client takes them, up to `cap`. */
  | { kind: 'endlessInfo'; when: 'first' | 'connected'; cap: number }
  /** A server that advertises this max_payload, and answers JetStream requests with a 503. */
  | { kind: 'maxPayload'; maxPayload: unknown }
  /** Answers every $JS.API request with malformed JSON, or with `bytes` of junk. */
  | { kind: 'apiReply'; reply: 'malformed' }
  | { kind: 'apiReply'; reply: 'huge'; bytes: number }
  /** Sends its INFO line one byte every `everyMs`. */
  | { kind: 'slowloris'; everyMs: number }
  /** Once the client is connected: PINGs as fast as the socket takes them, reading nothing, up to `cap` bytes. */
  | { kind: 'pingFlood'; cap: number }
  /** Once the client is connected: -ERR lines as fast as the socket takes them, up to `cap` bytes. */
  | { kind: 'errFlood'; cap: number }
  /** Once the client is connected, reads nothing more. */
  | { kind: 'stopsReading' }
  /**
   * Answers a $JS.API request with messages on the client's request inbox (its wildcard
   * subscription, a reply token no request is waiting for) as fast as the socket takes them, up to
   * `cap` bytes: as many as it likes, where one reply is owed.
   */
  | { kind: 'inboxFlood'; cap: number };

export interface ClosedConnection {
  connection: number;
  /** Bytes the server wrote to it. */
  sent: number;
  closedAt: number;
}

export class HostileNats {
  readonly closed: ClosedConnection[] = [];

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {}

  static async start(hostility: Hostility): Promise<HostileNats> {
    const child = spawn(
      process.execPath,
      [path.join(repoRoot, 'operator', 'test', 'hostile-nats-server.mjs'), JSON.stringify(hostility)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    if (child.stdout === null) throw new Error('hostile-nats-server.mjs has no stdout');
    const lines = createInterface({ input: child.stdout });
    const closed: ClosedConnection[] = [];
    const port = await new Promise<number>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`hostile-nats-server.mjs exited (${code})`)));
      lines.on('line', (line) => {
        const report = JSON.parse(line) as { port?: number } & ClosedConnection;
        if (report.port !== undefined) resolve(report.port);
        else closed.push(report);
      });
    });
    const server = new HostileNats(child, port);
    lines.removeAllListeners('line');
    lines.on('line', (line) => server.closed.push(JSON.parse(line) as ClosedConnection));
    server.closed.push(...closed);
    return server;
  }

  url(user?: string): string {
    return `nats://${user === undefined ? '' : `${user}@`}127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }
}
