// A real node beside the kwok nodes: the pinned kubelet and Debian's containerd (its own socket,
// state and CNI configuration), runc and CNI bridge plugin, registered with the local control plane
// as a Ready Node that is labelled and tainted so only pods that ask for it run there (as real
// containers from locally imported images). Needs root. The configuration and why each setting is
// there: real-node-config.ts.
//
// Order of a stack with a real node: createNodeNetwork (the node IP the stack then binds) →
// nats-server and the control plane on that IP → startRealNode. Teardown runs in reverse:
// stopRealNode (pods, kubelet, containerd, mounts, state) → control plane and NATS →
// removeNodeNetwork. stopRealNode works from the recorded state alone, so `make dev-down` can
// clean up a node started by another process.
import * as k8s from '@kubernetes/client-node';
import { execFile, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { apiServerPortOf, applyFirewall, firewallRules, removeFirewall } from './node-firewall.js';
import { freePort, waitFor } from './ports.js';
import { isProcessAlive } from './process-alive.js';
import {
  cniConfig,
  containerdConfig,
  defaultRealNodeNetwork,
  kubeletConfig,
  missingPrerequisites,
  realNodeLabel,
  type RealNodeNetwork,
} from './real-node-config.js';
import { directLauncher, type Launcher } from './stack-cgroup.js';
import { pinnedVersions, toolsBin } from './tools.js';

const run = promisify(execFile);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const cniBinDir = '/usr/lib/cni';
export const pauseArchive = (): string => path.join(toolsBin, '..', 'images', 'pause.tar');
export const pauseImage = (): string => `jetscale/pause:${pinnedVersions().KUBERNETES_VERSION}`;

function onPath(name: string): boolean {
  return (process.env.PATH ?? '')
    .split(path.delimiter)
    .some((dir) => dir !== '' && existsSync(path.join(dir, name)));
}

/** Throws one error listing everything the host lacks for a real node, with the fixes. */
export function assertRealNodePrerequisites(): void {
  const missing = missingPrerequisites(
    { isRoot: process.getuid?.() === 0, hasCommand: onPath, exists: existsSync },
    { kubelet: path.join(toolsBin, 'kubelet'), pauseArchive: pauseArchive(), cniBinDir },
  );
  if (missing.length > 0)
    throw new Error(`cannot start a real node; this host lacks:\n  - ${missing.join('\n  - ')}`);
}

async function ip(...args: string[]): Promise<string> {
  return (await run('ip', args)).stdout;
}

/** The node IP as a /32 on a bridge of its own (the kubelet refuses loopback; no dummy links here). */
export async function createNodeNetwork(network: RealNodeNetwork = defaultRealNodeNetwork): Promise<void> {
  const addresses = await ip('-4', '-o', 'addr', 'show');
  const holder = addresses
    .split('\n')
    .find((l) => l.includes(` ${network.nodeIp}/`) && !l.includes(` ${network.nodeBridge} `));
  if (holder)
    throw new Error(
      `${network.nodeIp} is already on another interface (${holder.trim()}): is another real node running?`,
    );
  const links = await ip('-o', 'link', 'show');
  if (!links.includes(`: ${network.nodeBridge}:`))
    await ip('link', 'add', network.nodeBridge, 'type', 'bridge');
  if (!addresses.includes(` ${network.nodeIp}/32`))
    await ip('addr', 'add', `${network.nodeIp}/32`, 'dev', network.nodeBridge);
  await ip('link', 'set', network.nodeBridge, 'up');
  // Only the host and the node's pods reach the node IP (node-firewall.ts); the API server's port
  // joins once the control plane is up (guardApiServer).
  await applyFirewall(firewallRules(network));
}

/** Keeps the API server's wildcard socket to the host and the node's pods (node-firewall.ts). */
export async function guardApiServer(network: RealNodeNetwork, apiServerUrl: string): Promise<void> {
  await applyFirewall(firewallRules(network, apiServerPortOf(apiServerUrl)));
}

/** Removes both bridges (the node's and the pods') and the firewall chain; absent ones are fine. */
export async function removeNodeNetwork(network: RealNodeNetwork = defaultRealNodeNetwork): Promise<void> {
  for (const bridge of [network.cniBridge, network.nodeBridge])
    await ip('link', 'del', bridge).catch(() => undefined);
  await removeFirewall();
}

/** The kubelet's and containerd's log files of a real node whose directory is `dir`. */
export function realNodeLogFiles(dir: string): { kubelet: string; containerd: string } {
  return {
    kubelet: path.join(dir, 'logs', 'kubelet.log'),
    containerd: path.join(dir, 'logs', 'containerd.log'),
  };
}

export interface RealNodeOptions {
  /** The node's state: containerd root and state, kubelet root, pod logs, logs, configuration. */
  dir: string;
  name: string;
  /** The stack's admin kubeconfig (the kubelet registers the Node with it). */
  kubeconfig: string;
  network?: RealNodeNetwork;
  /** Outlive this process (make dev-up). */
  detached?: boolean;
  progress?: (line: string) => void;
  /** How to start containerd and the kubelet (inside the stack's cgroup; stack-cgroup.ts). */
  launcher?: Launcher;
}

/** What teardown needs, recorded in the stack env file. */
export interface RealNodeState {
  name: string;
  dir: string;
  kubeconfig: string;
  kubeletPid: number;
  containerdPid: number;
  containerdSocket: string;
  network: RealNodeNetwork;
}

export interface RealNode {
  state: RealNodeState;
  /** `docker save` each image into the node's containerd (IfNotPresent pods then find them). */
  importDockerImages(refs: string[]): Promise<void>;
  stop(): Promise<void>;
}

function spawnLogged(
  launcher: Launcher,
  program: string,
  programArgs: string[],
  logFile: string,
  detached: boolean,
): { pid: number; exited: Promise<number | null> } {
  const log = openSync(logFile, 'a');
  const { command, args } = launcher.wrap(program, programArgs);
  const child = spawn(command, args, { stdio: ['ignore', log, log], detached });
  closeSync(log);
  if (detached) child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${command}; see ${logFile}`);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { pid: child.pid, exited };
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

async function ctr(socket: string, args: string[], input?: NodeJS.ReadableStream): Promise<string> {
  const child = spawn('ctr', ['--address', socket, '--namespace', 'k8s.io', ...args], {
    stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  if (input && child.stdin) input.pipe(child.stdin);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  if (code !== 0) throw new Error(`ctr ${args.join(' ')} exited ${code}: ${err.trim()}`);
  return out;
}

async function importDockerImage(socket: string, ref: string): Promise<void> {
  const save = spawn('docker', ['save', ref], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  save.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const saved = new Promise<number | null>((resolve) => save.once('close', resolve));
  if (!save.stdout) throw new Error('docker save has no stdout');
  await ctr(socket, ['images', 'import', '-'], save.stdout);
  const code = await saved;
  if (code !== 0) throw new Error(`docker save ${ref} exited ${code}: ${err.trim()} (run \`make images\`)`);
}

export async function startRealNode(options: RealNodeOptions): Promise<RealNode> {
  const say = options.progress ?? (() => undefined);
  const network = options.network ?? defaultRealNodeNetwork;
  const detached = options.detached ?? false;
  const launcher = options.launcher ?? directLauncher;
  const dir = path.resolve(options.dir);
  const d = {
    containerd: path.join(dir, 'containerd'),
    kubelet: path.join(dir, 'kubelet'),
    cni: path.join(dir, 'cni'),
    logs: path.dirname(realNodeLogFiles(dir).kubelet),
  };
  for (const sub of Object.values(d)) mkdirSync(sub, { recursive: true });
  mkdirSync(path.join(d.cni, 'net.d'), { recursive: true });
  const socket = path.join(d.containerd, 'containerd.sock');
  writeFileSync(
    path.join(d.containerd, 'config.toml'),
    containerdConfig({
      root: path.join(d.containerd, 'root'),
      state: path.join(d.containerd, 'state'),
      socket,
      cniConfDir: path.join(d.cni, 'net.d'),
      cniBinDir,
      sandboxImage: pauseImage(),
    }),
  );
  writeFileSync(
    path.join(d.cni, 'net.d', '10-jetscale.conflist'),
    cniConfig(network, path.join(d.cni, 'ipam')),
  );

  const state: RealNodeState = {
    name: options.name,
    dir,
    kubeconfig: options.kubeconfig,
    kubeletPid: 0,
    containerdPid: 0,
    containerdSocket: socket,
    network,
  };
  try {
    say('starting containerd for the real node…');
    const containerdLog = realNodeLogFiles(dir).containerd;
    const containerd = spawnLogged(
      launcher,
      'containerd',
      ['--config', path.join(d.containerd, 'config.toml')],
      containerdLog,
      detached,
    );
    state.containerdPid = containerd.pid;
    await Promise.race([
      waitFor(
        'containerd answering on its socket',
        async () => ((await ctr(socket, ['version'])) ? true : undefined),
        30_000,
        250,
      ),
      containerd.exited.then((code) => {
        throw new Error(`containerd exited with code ${code}:\n${tail(containerdLog)}`);
      }),
    ]);
    say(`importing ${pauseImage()} (the sandbox image, built by make tools)…`);
    await ctr(socket, ['images', 'import', pauseArchive()]);

    const port = await freePort();
    const healthzPort = await freePort();
    const kubeletConfigFile = path.join(d.kubelet, 'config.yaml');
    writeFileSync(
      kubeletConfigFile,
      kubeletConfig({
        nodeIp: network.nodeIp,
        port,
        healthzPort,
        containerdSocket: socket,
        podLogsDir: path.join(dir, 'pod-logs'),
      }),
    );
    say(`starting the kubelet (node ${options.name}, ${network.nodeIp})…`);
    const kubeletLog = realNodeLogFiles(dir).kubelet;
    const kubelet = spawnLogged(
      launcher,
      path.join(toolsBin, 'kubelet'),
      [
        `--config=${kubeletConfigFile}`,
        `--kubeconfig=${options.kubeconfig}`,
        `--root-dir=${path.join(d.kubelet, 'root')}`,
        `--cert-dir=${path.join(d.kubelet, 'pki')}`,
        `--hostname-override=${options.name}`,
        `--node-ip=${network.nodeIp}`,
        `--node-labels=${realNodeLabel.key}=${realNodeLabel.value}`,
        '--v=1',
      ],
      kubeletLog,
      detached,
    );
    state.kubeletPid = kubelet.pid;
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(options.kubeconfig);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await Promise.race([
      waitFor(
        `node ${options.name} Ready (kubelet log ${kubeletLog})`,
        async () => {
          const node = await core.readNode({ name: options.name });
          return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
            ? true
            : undefined;
        },
        120_000,
        500,
      ),
      kubelet.exited.then((code) => {
        throw new Error(`the kubelet exited with code ${code}:\n${tail(kubeletLog)}`);
      }),
    ]);
    say(`real node ${options.name} is Ready (kubelet + containerd; logs in ${d.logs})`);
  } catch (err) {
    await stopRealNode(state, say);
    throw err;
  }
  return attachRealNode(state, say);
}

/** A handle on a running real node from its recorded state (another process may have started it). */
export function attachRealNode(
  state: RealNodeState,
  say: (line: string) => void = () => undefined,
): RealNode {
  return {
    state,
    importDockerImages: async (refs) => {
      for (const ref of refs) {
        say(`importing ${ref} into the real node's containerd…`);
        await importDockerImage(state.containerdSocket, ref);
      }
    },
    stop: () => stopRealNode(state, say),
  };
}

/** SIGKILL a container's task (a crash or an OOM kill, as the kubelet sees it: it restarts it). */
export async function killContainer(state: RealNodeState, containerId: string): Promise<void> {
  const id = containerId.replace(/^containerd:\/\//, '');
  if (!/^[0-9a-f]{64}$/.test(id)) throw new Error(`not a containerd container id: ${containerId}`);
  await ctr(state.containerdSocket, ['tasks', 'kill', '-s', 'SIGKILL', id]);
}

async function stopProcess(pid: number, graceMs: number): Promise<void> {
  if (!(pid > 0) || !isProcessAlive(pid)) return;
  process.kill(pid, 'SIGTERM');
  for (let waited = 0; waited < graceMs && isProcessAlive(pid); waited += 100) await sleep(100);
  if (isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
}

/** Pids whose command line names this containerd socket: the runc shims it started. */
function shimPids(socket: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (cmdline.some((a) => a.includes('containerd-shim')) && cmdline.includes(socket))
        pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Mount points at or below dir, deepest first. */
function mountsUnder(dir: string): string[] {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4]?.replace(/\\040/g, ' '))
    .filter((m): m is string => m !== undefined && (m === dir || m.startsWith(`${dir}/`)));
  return [...new Set(mounts)].sort((a, b) => b.length - a.length);
}

/** Stops everything startRealNode started and removes its state: the node's pods first (so the
 *  kubelet tears their sandboxes and networks down), then the kubelet, every container left,
 *  containerd and its shims, the mounts under the node's directory, the Node object, the directory. */
export async function stopRealNode(
  state: RealNodeState,
  say: (line: string) => void = () => undefined,
): Promise<void> {
  const { socket, core } = {
    socket: state.containerdSocket,
    core: ((): k8s.CoreV1Api | undefined => {
      try {
        const kc = new k8s.KubeConfig();
        kc.loadFromFile(state.kubeconfig);
        return kc.makeApiClient(k8s.CoreV1Api);
      } catch {
        return undefined;
      }
    })(),
  };
  const kubeletAlive = isProcessAlive(state.kubeletPid);
  if (core && kubeletAlive) {
    try {
      const pods = await core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${state.name}` });
      await Promise.all(
        pods.items.map((p) =>
          core
            .deleteNamespacedPod({
              name: p.metadata?.name ?? '',
              namespace: p.metadata?.namespace ?? '',
              gracePeriodSeconds: 0,
            })
            .catch(() => undefined),
        ),
      );
      if (pods.items.length > 0) {
        say(`deleting the ${pods.items.length} pods on ${state.name}…`);
        await waitFor(
          `the kubelet to stop the pods on ${state.name}`,
          async () => {
            const left = await core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${state.name}` });
            return left.items.length === 0 ? true : undefined;
          },
          30_000,
          500,
        ).catch((err: unknown) => say(String(err)));
        await sleep(2000); // the kubelet stops the sandboxes right after the pods are gone
      }
    } catch (err) {
      say(`listing the real node's pods failed (${String(err)}); removing its containers directly`);
    }
  }
  await stopProcess(state.kubeletPid, 10_000);
  if (isProcessAlive(state.containerdPid)) {
    try {
      const tasks = (await ctr(socket, ['tasks', 'ls', '-q'])).split('\n').filter(Boolean);
      for (const task of tasks)
        await ctr(socket, ['tasks', 'kill', '-s', 'SIGKILL', task]).catch(() => undefined);
      await sleep(tasks.length > 0 ? 1000 : 0);
      for (const task of tasks) await ctr(socket, ['tasks', 'delete', '-f', task]).catch(() => undefined);
      const containers = (await ctr(socket, ['containers', 'ls', '-q'])).split('\n').filter(Boolean);
      for (const c of containers) await ctr(socket, ['containers', 'delete', c]).catch(() => undefined);
    } catch (err) {
      say(`removing the real node's containers: ${String(err)}`);
    }
  }
  await stopProcess(state.containerdPid, 10_000);
  for (const pid of shimPids(socket)) await stopProcess(pid, 2000);
  // Containers' root filesystems, pods' volumes and network namespaces (netns_mounts_under_state_dir).
  for (const mount of mountsUnder(state.dir)) await run('umount', ['-l', mount]).catch(() => undefined);
  if (core) await core.deleteNode({ name: state.name }).catch(() => undefined);
  rmSync(state.dir, { recursive: true, force: true });
  say(`real node ${state.name} stopped and its state removed`);
}
