// A 3-node (or n-node) nats-server cluster with JetStream on 127.0.0.1, for the tests whose
// behaviour depends on clustering: replicated streams, leader elections, a rolling restart. The
// shared stack runs one server; each test that needs a cluster starts its own with this, on free
// ports, its stores under `dir`. A node can be stopped and started again on the same ports and
// store, as a rolling upgrade does.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { diesWithThisProcess } from './dies-with-parent.js';
import { freePort, isListening, waitFor } from './ports.js';
import { toolPath } from './tools.js';

export interface ClusterNode {
  /** The server name: n0, n1, … */
  name: string;
  port: number;
  url: string;
  /** The node's HTTP monitoring endpoint (/jsz says who leads the meta group). */
  monitorUrl: string;
  /** Whether the node's process is running (a frozen one is). */
  running(): boolean;
  /** Stops the node (SIGTERM: nats-server's graceful shutdown, or SIGKILL) and waits for it. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /**
   * Freezes the node (SIGSTOP): its sockets stay open and unanswered, as a hung process, a VM
   * paused or a partition that drops packets — clients see no disconnect. thaw() (SIGCONT) resumes it.
   */
  freeze(): void;
  thaw(): void;
  /** Sends the node's process a signal and returns at once (SIGUSR2: nats-server's lame duck mode). */
  signal(signal: NodeJS.Signals): void;
  /** Starts the node again on the same ports and store, and waits until it accepts clients. */
  start(): Promise<void>;
}

export interface NatsCluster {
  nodes: ClusterNode[];
  /** Every node's URL, comma-separated, as clients are given a cluster. */
  urls: string;
  /** Stops every node. */
  stop(): Promise<void>;
}

export async function startNatsCluster(options: {
  dir: string;
  name: string;
  size?: number;
}): Promise<NatsCluster> {
  const size = options.size ?? 3;
  // Asked one at a time and kept distinct: the kernel may hand a port just released to the next ask.
  const taken = new Set<number>();
  const distinctPort = async (): Promise<number> => {
    for (;;) {
      const port = await freePort();
      if (!taken.has(port)) {
        taken.add(port);
        return port;
      }
    }
  };
  const ports: Array<{ client: number; route: number; monitor: number }> = [];
  for (let i = 0; i < size; i++)
    ports.push({ client: await distinctPort(), route: await distinctPort(), monitor: await distinctPort() });
  const routes = ports.map((p) => `nats://127.0.0.1:${p.route}`).join(',');
  const nodes = ports.map((p, i): ClusterNode => {
    const name = `n${i}`;
    let child: ChildProcess | undefined;
    const exited = (c: ChildProcess): Promise<void> =>
      c.exitCode !== null || c.signalCode !== null
        ? Promise.resolve()
        : new Promise((resolve) => c.once('exit', () => resolve()));
    const launch = (): ChildProcess => {
      const server = diesWithThisProcess(toolPath('nats-server'), [
        '--jetstream',
        '--store_dir',
        path.join(options.dir, name),
        '--addr',
        '127.0.0.1',
        '--port',
        String(p.client),
        '--http_port',
        String(p.monitor),
        '--server_name',
        name,
        '--cluster_name',
        options.name,
        '--cluster',
        `nats://127.0.0.1:${p.route}`,
        '--routes',
        routes,
      ]);
      return spawn(server.command, server.args, { stdio: 'ignore' });
    };
    const node: ClusterNode = {
      name,
      port: p.client,
      url: `nats://127.0.0.1:${p.client}`,
      monitorUrl: `http://127.0.0.1:${p.monitor}`,
      running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
      async stop(signal = 'SIGTERM') {
        if (child === undefined || !node.running()) return;
        const c = child;
        c.kill(signal);
        c.kill('SIGCONT'); // a frozen node acts on the signal only once it runs
        await exited(c);
      },
      freeze() {
        if (node.running()) child?.kill('SIGSTOP');
      },
      thaw() {
        if (node.running()) child?.kill('SIGCONT');
      },
      signal(signal) {
        if (node.running()) child?.kill(signal);
      },
      async start() {
        if (node.running()) return;
        child = launch();
        await waitFor(
          `nats-server ${name} to accept clients on ${p.client}`,
          async () => ((await isListening(p.client)) ? true : undefined),
          30_000,
        );
      },
    };
    child = launch();
    return node;
  });
  try {
    await Promise.all(
      nodes.map((n) =>
        waitFor(
          `nats-server ${n.name} to accept clients on ${n.port}`,
          async () => ((await isListening(n.port)) ? true : undefined),
          30_000,
        ),
      ),
    );
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop())); // no node outlives a cluster that did not start
    throw err;
  }
  return {
    nodes,
    urls: nodes.map((n) => n.url).join(','),
    stop: async () => {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}
