// Starts and stops a real JetStream-enabled nats-server (the pinned build) on 127.0.0.1 (or the
// real node's IP) for tests, benchmarks and the dev stack. A server can be stopped and started
// again on the same ports and store, which is how tests simulate a NATS restart.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { diesWithThisProcess, directCommand } from './dies-with-parent.js';
import { assertPortsHeldBy, blameTakenPorts } from './port-owners.js';
import { assertPortFree, startOnOwnPorts, waitFor } from './ports.js';
import { toolPath } from './tools.js';

export interface NatsServerOptions {
  /** Directory for the JetStream file store and the log. */
  dir: string;
  port?: number;
  monitorPort?: number;
  /** Address to listen on (default 127.0.0.1; a real node's IP when the stack has one). */
  host?: string;
  /** Run detached (survives this process) — used by `make dev-up`. */
  detached?: boolean;
  /** Require this user and password of every client (nats-server --user/--pass). */
  auth?: { user: string; password: string };
  /**
   * A nats-server configuration file's text (TLS, token, nkey users…), written to the server's
   * directory and given with -c; the command-line flags above (ports, store, auth) win over it.
   * `reload()` rewrites it and sends SIGHUP, as an operator of NATS rotating credentials does.
   */
  config?: string;
}

export interface NatsServer {
  url: string;
  monitorUrl: string;
  port: number;
  monitorPort: number;
  dir: string;
  pid(): number | undefined;
  /** SIGTERM (or SIGKILL with hard) and wait for exit. */
  stop(opts?: { hard?: boolean }): Promise<void>;
  /** Start again on the same ports and store. */
  start(): Promise<void>;
  /** Rewrite the configuration file (options.config) and make the running server reload it (SIGHUP). */
  reload(config: string): Promise<void>;
}

/**
 * Starts nats-server on the ports given, or on ports reserved against other stacks starting at the
 * same moment (ports.ts), retried with new ones when a process that reserves nothing took one.
 */
export async function startNatsServer(options: NatsServerOptions): Promise<NatsServer> {
  const missing = [options.port, options.monitorPort].filter((p) => p === undefined).length;
  return startOnOwnPorts({
    count: missing,
    owner: `nats-server in ${options.dir}`,
    attempts: missing === 2 ? 3 : 1,
    start: async (reserved) => {
      const [first, second] = reserved;
      const port = options.port ?? first;
      const monitorPort = options.monitorPort ?? (options.port === undefined ? second : first);
      if (port === undefined || monitorPort === undefined)
        throw new Error('no ports reserved for nats-server');
      return startNatsServerOn(options, port, monitorPort);
    },
  });
}

async function startNatsServerOn(
  options: NatsServerOptions,
  port: number,
  monitorPort: number,
): Promise<NatsServer> {
  const storeDir = path.join(options.dir, 'jetstream');
  mkdirSync(storeDir, { recursive: true });
  const logFile = path.join(options.dir, 'nats-server.log');
  const configFile = path.join(options.dir, 'nats-server.conf');
  // The server name is in the file too: a reload re-reads the file and refuses to change a name
  // that only the command line gave ("config reload not supported for ServerName").
  const writeConfig = (text: string): void =>
    writeFileSync(configFile, `server_name: "jetscale-${port}"\n${text}`);
  if (options.config !== undefined) writeConfig(options.config);
  let child: ChildProcess | undefined;

  const host = options.host ?? '127.0.0.1';
  const monitorUrl = `http://${host}:${monitorPort}`;
  const start = async (): Promise<void> => {
    await assertPortFree(port, 'nats-server client port');
    await assertPortFree(monitorPort, 'nats-server monitoring port');
    const log = openSync(logFile, 'a');
    const server = (options.detached ? directCommand : diesWithThisProcess)(toolPath('nats-server'), [
      '--jetstream',
      '--store_dir',
      storeDir,
      '--addr',
      host,
      // Monitoring listens on the client address too (nats-server's HTTPHost default).
      '--http_port',
      String(monitorPort),
      '--port',
      String(port),
      '--server_name',
      `jetscale-${port}`,
      ...(options.auth ? ['--user', options.auth.user, '--pass', options.auth.password] : []),
      ...(options.config === undefined ? [] : ['-c', configFile]),
    ]);
    // A server of a test or a benchmark ends with the process that started it, even when that one is
    // killed; the dev stack's (detached) outlives it.
    child = spawn(server.command, server.args, {
      stdio: ['ignore', log, log],
      detached: options.detached ?? false,
    });
    closeSync(log);
    if (options.detached) child.unref();
    const exited = new Promise<never>((_, reject) =>
      child?.once('exit', (code) =>
        reject(new Error(`nats-server exited with code ${code}; see ${logFile}`)),
      ),
    );
    exited.catch(() => undefined);
    const ports = [
      { port, purpose: 'nats-server client port' },
      { port: monitorPort, purpose: 'nats-server monitoring port' },
    ];
    try {
      await Promise.race([
        waitFor(
          `nats-server JetStream on ${host}:${port}`,
          async () => {
            const res = await fetch(`${monitorUrl}/healthz?js-enabled-only=true`);
            return res.ok ? true : undefined;
          },
          15_000,
        ),
        exited,
      ]);
      // The probe answered: from our nats-server, not another stack's that took a port first.
      assertPortsHeldBy(child?.pid, ports);
    } catch (err) {
      child?.kill('SIGKILL');
      throw blameTakenPorts(err, child?.pid, ports);
    }
  };

  const stop = async (opts?: { hard?: boolean }): Promise<void> => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const done = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill(opts?.hard ? 'SIGKILL' : 'SIGTERM');
    await done;
  };

  await start();
  return {
    url: `nats://${host}:${port}`,
    monitorUrl,
    port,
    monitorPort,
    dir: options.dir,
    pid: () => child?.pid,
    stop,
    start,
    reload: async (config: string): Promise<void> => {
      if (options.config === undefined)
        throw new Error('reload() needs a server started with options.config');
      const proc = child;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null)
        throw new Error('nats-server is not running');
      const loadedAt = async (): Promise<string | undefined> => {
        const res = await fetch(`${monitorUrl}/varz`);
        return res.ok ? ((await res.json()) as { config_load_time?: string }).config_load_time : undefined;
      };
      const before = await loadedAt();
      writeConfig(config);
      proc.kill('SIGHUP');
      await waitFor(
        `nats-server in ${options.dir} to reload its configuration (see ${logFile})`,
        async () => {
          const now = await loadedAt();
          return now !== undefined && now !== before ? true : undefined;
        },
        10_000,
      );
    },
  };
}
