// The local stack jetscale's tests, benchmarks and demo run on: one JetStream nats-server, one
// kwok-backed Kubernetes control plane, (for dev-up and the demo) a Prometheus, and optionally a
// real kubelet + containerd node beside the kwok nodes (realNode: NATS then binds the node's
// private IP and the API server answers on it too, so its pods reach both), described to
// everything else by an env file (KEY=value lines, shell-sourceable) so test processes, the
// operator and the harness agree.
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { createCluster, killClusterNow, type Cluster } from './cluster.js';
import { startNatsServer, type NatsServer } from './nats-server.js';
import { startPrometheus, type PrometheusServer } from './prometheus.js';
import { defaultRealNodeNetwork } from './real-node-config.js';
import {
  assertRealNodePrerequisites,
  createNodeNetwork,
  guardApiServer,
  removeNodeNetwork,
  startRealNode,
  stopRealNode,
  type RealNode,
  type RealNodeState,
} from './real-node.js';
import { cgroupPids, createStackCgroup, directLauncher, type Launcher } from './stack-cgroup.js';

export interface StackEnv {
  JETSCALE_NATS_URL: string;
  JETSCALE_NATS_MONITOR_URL: string;
  KUBECONFIG: string;
  /** Where the stack keeps its state and logs. */
  JETSCALE_STACK_DIR: string;
  /** The pid of the nats-server process (for restart drills and `dev-down`). */
  JETSCALE_NATS_PID: string;
  JETSCALE_CLUSTER_NAME: string;
  /** Set when the stack runs a Prometheus: its URL, pid and file-SD directory (scrape-targets.ts). */
  JETSCALE_PROMETHEUS_URL?: string;
  JETSCALE_PROMETHEUS_PID?: string;
  JETSCALE_PROMETHEUS_TARGETS_DIR?: string;
  /** Set when the stack has a real node: the JSON file with its state (for teardown). */
  JETSCALE_REAL_NODE_STATE?: string;
  /** Set when the stack's daemons run in a CPU cgroup of their own (stack-cgroup.ts): its directory. */
  JETSCALE_STACK_CGROUP?: string;
}

export interface StartedStack {
  env: StackEnv;
  nats: NatsServer;
  cluster: Cluster;
  prometheus?: PrometheusServer;
  realNode?: RealNode;
  stop(): Promise<void>;
  /**
   * The last resort (a second Ctrl-C), synchronous: `kwokctl delete`, then SIGKILL for every process
   * the stack started — the cluster's components (by working directory, pid files or not), the
   * daemons in its CPU cgroup (containerd's shims too), the real node's kubelet and containerd,
   * Prometheus and NATS. Returns lines naming what this cannot undo (a real node's containers,
   * network and mounts), for the user.
   */
  killNow(): string[];
}

export interface StackOptions {
  dir: string;
  clusterName: string;
  detached?: boolean;
  natsPort?: number;
  natsMonitorPort?: number;
  nodes?: number;
  /** Add a real kubelet + containerd node (needs root, Docker, containerd; see real-node.ts). */
  realNode?: boolean;
  progress?: (line: string) => void;
  /** Also run a Prometheus (scrape and rule interval, port); its data lives in <dir>/prometheus. */
  prometheus?: { intervalSeconds?: number; port?: number };
}

export async function startStack(options: StackOptions): Promise<StartedStack> {
  const say = options.progress ?? (() => undefined);
  mkdirSync(options.dir, { recursive: true });
  const network = defaultRealNodeNetwork;
  let host = '127.0.0.1';
  // What to undo, in reverse order, when a later step fails or the stack stops.
  const undo: Array<() => Promise<void>> = [];
  const unwind = async (): Promise<void> => {
    for (const step of undo.splice(0).reverse())
      await step().catch((err: unknown) => say(`cleanup: ${String(err)}`));
  };
  let launcher: Launcher = directLauncher;
  let cgroupDir: string | undefined;
  if (options.realNode) {
    assertRealNodePrerequisites();
    // The pods share one cgroup weighing the node's cores; the control plane and the node's
    // daemons share one weighing one thread, as system.slice does on a real node. NATS stays out:
    // it is a service the pods use, on machines of its own in a real cluster (stack-cgroup.ts).
    const cgroup = createStackCgroup(options.clusterName);
    launcher = cgroup;
    cgroupDir = cgroup.dir;
    undo.push(() => cgroup.remove());
    say(`the stack's daemons run in the CPU cgroup ${cgroup.dir} (the weight of one thread)`);
    say(`creating the real node's network (${network.nodeIp} on ${network.nodeBridge})…`);
    try {
      await createNodeNetwork(network);
    } catch (err) {
      await unwind();
      throw err;
    }
    undo.push(() => removeNodeNetwork(network));
    host = network.nodeIp;
  }
  try {
    say('starting nats-server with JetStream…');
    const nats = await startNatsServer({
      dir: path.join(options.dir, 'nats'),
      port: options.natsPort,
      monitorPort: options.natsMonitorPort,
      detached: options.detached,
      host,
    });
    undo.push(() => nats.stop());
    say(`nats-server ready at ${nats.url} (monitoring ${nats.monitorUrl})`);
    const cluster = await createCluster({
      name: options.clusterName,
      workdir: path.join(options.dir, 'kwok'),
      kubeconfig: path.join(options.dir, 'kubeconfig'),
      nodes: options.nodes,
      ...(options.realNode ? { alsoServeAt: network.nodeIp } : {}),
      progress: say,
      launcher,
    });
    undo.push(() => cluster.delete());
    if (options.realNode) {
      // The API server binds the wildcard address so the node's pods reach it at the node IP:
      // firewall its port to the host and those pods (node-firewall.ts).
      const kc = readFileSync(cluster.kubeconfig, 'utf8');
      const server = /^\s*server:\s*(\S+)/m.exec(kc)?.[1];
      if (!server) throw new Error(`no API server URL in ${cluster.kubeconfig}`);
      say(`firewalling the API server (${server}) to this host and the real node's pods…`);
      await guardApiServer(network, server);
    }
    let prometheus: PrometheusServer | undefined;
    if (options.prometheus) {
      say('starting prometheus…');
      const started = await startPrometheus({
        dir: path.join(options.dir, 'prometheus'),
        intervalSeconds: options.prometheus.intervalSeconds,
        port: options.prometheus.port,
        detached: options.detached,
        launcher,
      });
      prometheus = started;
      undo.push(() => started.stop());
      say(`prometheus ready at ${started.url} (scrapes every ${started.intervalSeconds} s)`);
    }
    let realNode: RealNode | undefined;
    let stateFile: string | undefined;
    if (options.realNode) {
      realNode = await startRealNode({
        dir: path.join(options.dir, 'node'),
        name: `${options.clusterName}-real`,
        kubeconfig: cluster.kubeconfig,
        network,
        detached: options.detached,
        progress: say,
        launcher,
      });
      stateFile = path.join(options.dir, 'real-node.json');
      writeFileSync(stateFile, JSON.stringify(realNode.state, null, 2));
    }
    const env: StackEnv = {
      JETSCALE_NATS_URL: nats.url,
      JETSCALE_NATS_MONITOR_URL: nats.monitorUrl,
      KUBECONFIG: cluster.kubeconfig,
      JETSCALE_STACK_DIR: options.dir,
      JETSCALE_NATS_PID: String(nats.pid() ?? ''),
      JETSCALE_CLUSTER_NAME: cluster.name,
      ...(prometheus
        ? {
            JETSCALE_PROMETHEUS_URL: prometheus.url,
            JETSCALE_PROMETHEUS_PID: String(prometheus.pid() ?? ''),
            JETSCALE_PROMETHEUS_TARGETS_DIR: prometheus.targets.dir,
          }
        : {}),
      ...(stateFile ? { JETSCALE_REAL_NODE_STATE: stateFile } : {}),
      ...(cgroupDir ? { JETSCALE_STACK_CGROUP: cgroupDir } : {}),
    };
    return {
      env,
      nats,
      cluster,
      ...(prometheus ? { prometheus } : {}),
      ...(realNode ? { realNode } : {}),
      stop: async () => {
        await realNode?.stop();
        await unwind();
      },
      killNow: () => {
        const left: string[] = [];
        try {
          killClusterNow(cluster);
        } catch (err) {
          left.push(`kwok cluster ${cluster.name}: ${String(err)}`);
        }
        const pids = [
          ...(cgroupDir ? cgroupPids(cgroupDir) : []),
          realNode?.state.kubeletPid,
          realNode?.state.containerdPid,
          prometheus?.pid(),
          nats.pid(),
        ];
        for (const pid of pids) if (pid !== undefined && pid > 0) killQuietly(pid);
        if (realNode)
          left.push(
            `the real node's pods may still run (their processes are in the kubepods cgroup), and its bridges and mounts remain: ` +
              `ip link del ${network.cniBridge}; ip link del ${network.nodeBridge}; ` +
              `grep ' ${realNode.state.dir}' /proc/self/mountinfo lists the mounts to umount -l`,
          );
        return left;
      },
    };
  } catch (err) {
    await unwind();
    throw err;
  }
}

/** Reads the state file a stack with a real node wrote (make dev-down stops the node with it). */
export function readRealNodeState(file: string): RealNodeState {
  return JSON.parse(readFileSync(file, 'utf8')) as RealNodeState;
}

/** Stops a real node from its recorded state (before the control plane and NATS stop). */
export async function stopRecordedRealNode(file: string, say: (line: string) => void): Promise<void> {
  await stopRealNode(readRealNodeState(file), say);
}

/** Removes a real node's network (after NATS and the API server, which bind its address, stopped). */
export async function removeRecordedNodeNetwork(file: string): Promise<void> {
  await removeNodeNetwork(readRealNodeState(file).network);
}

export function writeEnvFile(file: string, env: StackEnv): void {
  const lines = Object.entries(env)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${v}`);
  writeFileSync(
    file,
    `# Written by jetscale's local stack. Use: set -a; source ${file}; set +a\n${lines.join('\n')}\n`,
  );
}

const optionalEnvKeys = [
  'JETSCALE_PROMETHEUS_URL',
  'JETSCALE_PROMETHEUS_PID',
  'JETSCALE_PROMETHEUS_TARGETS_DIR',
  'JETSCALE_REAL_NODE_STATE',
  'JETSCALE_STACK_CGROUP',
] as const;

const envKeys: Array<Exclude<keyof StackEnv, (typeof optionalEnvKeys)[number]>> = [
  'JETSCALE_NATS_URL',
  'JETSCALE_NATS_MONITOR_URL',
  'KUBECONFIG',
  'JETSCALE_STACK_DIR',
  'JETSCALE_NATS_PID',
  'JETSCALE_CLUSTER_NAME',
];

/** Reads an env file written by writeEnvFile; throws naming the missing key. */
export function readEnvFile(file: string): StackEnv {
  if (!existsSync(file)) throw new Error(`stack env file ${file} does not exist: run \`make dev-up\` first`);
  const values: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) values[m[1]] = m[2];
  }
  const env: Partial<StackEnv> = {};
  for (const key of envKeys) {
    const value = values[key];
    if (value === undefined)
      throw new Error(`stack env file ${file} lacks ${key}: recreate it with \`make dev-up\``);
    env[key] = value;
  }
  for (const key of optionalEnvKeys) {
    const value = values[key];
    if (value !== undefined && value !== '') env[key] = value;
  }
  return env as StackEnv;
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
