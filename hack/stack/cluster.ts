// A real local Kubernetes control plane — etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler — plus kwok faking nodes and pod status, started by kwokctl's binary runtime from
// the pinned builds in .tools/bin (no downloads), bound to 127.0.0.1. The API server keeps an
// audit log of the writes that matter to leader election (Leases, /scale, EventConsumer status,
// Events): the HA drills read it to learn who wrote what, in etcd's order.
//
// Ports: left to itself kwokctl counts down from 32767 and takes the first port nobody listens on
// yet, so two clusters created at once on one host pick the same ports and one reaches the other's
// etcd or API server (x509: unknown authority). Each cluster here gets six ports the kernel chose
// and reservePorts (ports.ts) reserved against other stacks starting at the same moment; once
// kwokctl is done, every port must be held by the component it was given to (port-owners.ts) and
// the API server must present a certificate from this cluster's own CA, or the start has failed.
// A port conflict is retried with new ports; the error names each port and who holds it.
//
// Cleanup: every process of the cluster is stopped on any failure after kwokctl started it and on
// delete, found by working directory and binary (dir-processes.ts), not only by kwokctl's pid files.
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { processesWorkingIn, stopProcessesWorkingIn } from './dir-processes.js';
import { describeOwner, PortConflict, portOwners } from './port-owners.js';
import { canBind, describeTakenPort, startOnOwnPorts } from './ports.js';
import { directLauncher, type Launcher } from './stack-cgroup.js';
import { toolPath, type ToolName } from './tools.js';

const run = promisify(execFile);

export interface ClusterOptions {
  /** kwokctl cluster name; one workdir can hold several. */
  name: string;
  /** kwokctl's KWOK_WORKDIR: cluster state, certificates, logs. */
  workdir: string;
  /** Where to write the kubeconfig. */
  kubeconfig: string;
  nodes?: number;
  /** An address the API server must answer on besides 127.0.0.1 (a real node's IP, which its pods
   *  reach): the API server then binds 0.0.0.0 with that address in its certificate; etcd and the
   *  other components stay on 127.0.0.1 (kwokctl's binary runtime wires them through loopback). */
  alsoServeAt?: string;
  /** Called with progress lines (cluster creation takes 10-40 s). */
  progress?: (line: string) => void;
  /** How to run `kwokctl create cluster`, whose components inherit its cgroup (stack-cgroup.ts). */
  launcher?: Launcher;
  /** Fixed ports (each checked free first; no retry). Default: reserved free ports, retried on a
   *  conflict. */
  ports?: ClusterPorts;
  /** How many times to start with new ports after a port conflict (default 3). */
  attempts?: number;
}

/** The host ports of the control plane's components (kwokctl's binary runtime binds each). */
export interface ClusterPorts {
  etcd: number;
  etcdPeer: number;
  apiServer: number;
  controllerManager: number;
  scheduler: number;
  kwokController: number;
}

/** Which component holds each port: kwokctl links each binary into <cluster dir>/bin under the
 *  component's name and names its pid and log files after it (pids/<component>.pid). */
const portHolders: Record<keyof ClusterPorts, { component: string; purpose: string }> = {
  etcd: { component: 'etcd', purpose: 'etcd client' },
  etcdPeer: { component: 'etcd', purpose: 'etcd peer' },
  apiServer: { component: 'kube-apiserver', purpose: 'kube-apiserver' },
  controllerManager: { component: 'kube-controller-manager', purpose: 'kube-controller-manager' },
  scheduler: { component: 'kube-scheduler', purpose: 'kube-scheduler' },
  kwokController: { component: 'kwok-controller', purpose: 'kwok controller' },
};
const portKeys = Object.keys(portHolders) as Array<keyof ClusterPorts>;
const componentBinaries: ToolName[] = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kwok',
];

/** The binaries of a cluster's components (what runs in its directory), as paths. */
export function clusterExecutables(): string[] {
  return componentBinaries.map((b) => toolPath(b));
}

export interface Cluster {
  name: string;
  kubeconfig: string;
  workdir: string;
  ports: ClusterPorts;
  delete(): Promise<void>;
}

/**
 * Which requests the API server records (auditLogPath): every change to a Lease and to a /scale
 * subresource with request and response bodies (the response's resourceVersion orders writes to
 * different objects as etcd committed them), EventConsumer status and Event writes as metadata,
 * and reads of a Deployment, a StatefulSet or their /scale as metadata: a new leader's first
 * reconcile reads its scale target (the object itself for these two kinds, scale-client.ts), which
 * is when the HA drills call a failover done (a write waits until the backlog asks for one). One
 * line per read: at the operator's busy rate (a read per poll) a small cost next to serving it.
 * The control plane's own Leases (kube-system, kube-node-lease) are left out: they renew every
 * few seconds and nothing here reads them.
 */
export const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    namespaces: [kube-system, kube-node-lease]
  - level: RequestResponse
    verbs: [create, update, patch, delete]
    resources:
      - group: coordination.k8s.io
        resources: [leases]
      - group: apps
        resources: [deployments/scale, statefulsets/scale]
  - level: Metadata
    verbs: [create, update, patch]
    resources:
      - group: jetscale.io
        resources: [eventconsumers/status]
      - group: ''
        resources: [events]
  - level: Metadata
    verbs: [get]
    resources:
      - group: apps
        resources: [deployments, deployments/scale, statefulsets, statefulsets/scale]
  - level: None
`;

/** Where kwokctl's binary runtime has the API server write its audit log. */
export function auditLogPath(workdir: string, name: string): string {
  return path.join(workdir, 'clusters', name, 'logs', 'audit.log');
}

function kwokctlEnv(workdir: string): NodeJS.ProcessEnv {
  return { ...process.env, KWOK_WORKDIR: workdir };
}

/** kwokctl's directory for one cluster: its config, pki, pids and logs; the components' cwd. */
export function clusterDir(workdir: string, name: string): string {
  return path.join(workdir, 'clusters', name);
}

/** The kwokctl configuration: pinned binaries, loopback, our ports, the audit policy. */
/** The control plane's own leader election (kube-controller-manager, kube-scheduler): see kwokctlConfig. */
export const CONTROL_PLANE_LEASE_SECONDS = 60;
export const CONTROL_PLANE_RENEW_DEADLINE_SECONDS = 40;

export function kwokctlConfig(options: {
  ports: ClusterPorts;
  auditPolicy: string;
  alsoServeAt?: string;
  binary: (name: ToolName) => string;
}): string {
  const { ports, alsoServeAt: extra, binary } = options;
  // bindAddress keeps every component on loopback (kwokctl's default is 0.0.0.0). kwok fakes only
  // the nodes it made (annotated kwok.x-k8s.io/node=fake by `kwokctl scale node`): left to manage
  // all nodes it would also fake the status of a real node's pods.
  return [
    'apiVersion: config.kwok.x-k8s.io/v1alpha1',
    'kind: KwokctlConfiguration',
    'componentsPatches:',
    '  - name: kwok-controller',
    '    extraArgs:',
    '      - { key: manage-all-nodes, value: "false", override: true }',
    '      - { key: manage-nodes-with-annotation-selector, value: "kwok.x-k8s.io/node=fake" }',
    // The controller manager and the scheduler keep their leader election (so that each starts
    // its controllers only once the API server answers), but with a renew deadline of 40 s instead
    // of 10 s: with the default each exits for good once it cannot renew its Lease for 10 s (an API
    // server slow under load, or restarted) and nobody starts it again, so a Deployment made after
    // that gets no pods (chart-values.int in CI: "the two operator pods the Deployment made" never
    // came). Without election (leader-elect false) a start under load failed instead: the
    // controller manager gives the API server 10 s to become healthy and exits (cluster.int).
    ...['kube-controller-manager', 'kube-scheduler'].flatMap((component) => [
      `  - name: ${component}`,
      '    extraArgs:',
      `      - { key: leader-elect-lease-duration, value: "${CONTROL_PLANE_LEASE_SECONDS}s" }`,
      `      - { key: leader-elect-renew-deadline, value: "${CONTROL_PLANE_RENEW_DEADLINE_SECONDS}s" }`,
    ]),
    ...(extra
      ? [
          '  - name: kube-apiserver',
          '    extraArgs:',
          '      - { key: bind-address, value: 0.0.0.0, override: true }',
          // kubectl logs/exec reach a kubelet by its IP (its hostname resolves nowhere).
          '      - { key: kubelet-preferred-address-types, value: "InternalIP,Hostname" }',
        ]
      : []),
    'options:',
    '  runtime: binary',
    '  bindAddress: 127.0.0.1',
    ...(extra ? ['  kubeApiserverCertSANs:', `    - ${extra}`] : []),
    `  etcdPort: ${ports.etcd}`,
    `  etcdPeerPort: ${ports.etcdPeer}`,
    `  kubeApiserverPort: ${ports.apiServer}`,
    `  kubeControllerManagerPort: ${ports.controllerManager}`,
    `  kubeSchedulerPort: ${ports.scheduler}`,
    `  kwokControllerPort: ${ports.kwokController}`,
    `  kubeAuditPolicy: ${options.auditPolicy}`,
    `  kubeApiserverBinary: ${binary('kube-apiserver')}`,
    `  kubeControllerManagerBinary: ${binary('kube-controller-manager')}`,
    `  kubeSchedulerBinary: ${binary('kube-scheduler')}`,
    `  kubectlBinary: ${binary('kubectl')}`,
    `  etcdBinary: ${binary('etcd')}`,
    `  kwokControllerBinary: ${binary('kwok')}`,
    '',
  ].join('\n');
}

/**
 * kube-controller-manager and kube-scheduler, started by kwokctl beside the API server (its binary
 * runtime starts every component at once and waits for none), give the API server a fixed 10 s to
 * be healthy once they hold their Lease ("failed to wait for apiserver being healthy") and then exit
 * for good. On a loaded machine the API server answers Lease requests while its post-start hooks
 * are still running: session 25 saw 4 of 6 stack starts at load 24-31 fail so ("kube-controller-manager
 * is not running"). So kwokctl is given, for these two, a wrapper that starts the pinned binary
 * only once the API server answers /readyz (every health check and post-start hook passed), asked
 * with the component's own kubeconfig (its --kubeconfig argument) through the pinned kubectl, for at
 * most `timeoutSeconds`; then it execs the binary (same pid, argv and log, so kwokctl's pid file
 * and the stack's process lookups see the component itself). Without --kubeconfig (kwokctl asking
 * `--version`) it execs at once. It writes what it waited for to the component's log.
 */
export function startAfterReadyzScript(options: {
  component: string;
  binary: string;
  kubectl: string;
  timeoutSeconds: number;
}): string {
  const q = (text: string): string => `'${text.replace(/'/g, `'\\''`)}'`;
  const { component, binary, kubectl, timeoutSeconds } = options;
  return [
    '#!/bin/sh',
    `# Written by hack/stack/cluster.ts (startAfterReadyzScript): starts ${component} once the API`,
    '# server answers /readyz.',
    'kubeconfig=',
    'previous=',
    'for arg in "$@"; do',
    '  case "$arg" in --kubeconfig=*) kubeconfig="${arg#--kubeconfig=}" ;; esac',
    '  if [ "$previous" = --kubeconfig ]; then kubeconfig="$arg"; fi',
    '  previous="$arg"',
    'done',
    'if [ -n "$kubeconfig" ]; then',
    '  started=$(date +%s)',
    `  echo ${q(`waiting for the API server to answer /readyz before starting ${component}`)} >&2`,
    `  until ${q(kubectl)} --kubeconfig "$kubeconfig" get --raw /readyz --request-timeout=5s >/dev/null 2>&1; do`,
    `    if [ $(( $(date +%s) - started )) -ge ${timeoutSeconds} ]; then`,
    `      echo ${q(`the API server did not answer /readyz within ${timeoutSeconds} s: ${component} not started`)} >&2`,
    '      exit 1',
    '    fi',
    '    sleep 0.5',
    '  done',
    `  echo "the API server answered /readyz after $(( $(date +%s) - started )) s: starting ${component}" >&2`,
    'fi',
    `exec ${q(binary)} "$@"`,
    '',
  ].join('\n');
}

/** How long the wrappers of startAfterReadyzScript wait: within kwokctl create's own --wait 3m. */
const READYZ_WAIT_SECONDS = 150;

/**
 * The binaries kwokctl is given: the pinned ones, except kube-controller-manager and kube-scheduler,
 * which start through a startAfterReadyzScript wrapper written into `dir`.
 */
export function clusterBinaries(
  dir: string,
  cluster: string,
  pinned: (name: ToolName) => string,
): (name: ToolName) => string {
  const wrapped = new Map<ToolName, string>();
  for (const component of ['kube-controller-manager', 'kube-scheduler'] as const) {
    const file = path.join(dir, `${cluster}-${component}-after-readyz.sh`);
    writeFileSync(
      file,
      startAfterReadyzScript({
        component,
        binary: pinned(component),
        kubectl: pinned('kubectl'),
        timeoutSeconds: READYZ_WAIT_SECONDS,
      }),
    );
    chmodSync(file, 0o755);
    wrapped.set(component, file);
  }
  return (name) => wrapped.get(name) ?? pinned(name);
}

/** Checks fixed ports before anything starts: throws naming each taken port and its holder. */
async function assertPortsFree(ports: ClusterPorts): Promise<void> {
  const taken: string[] = [];
  for (const key of portKeys)
    if (!(await canBind(ports[key]))) taken.push(describeTakenPort(ports[key], portHolders[key].purpose));
  if (taken.length > 0)
    throw new PortConflict(`${taken.join('; ')}: stop what holds them or choose other ports`);
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Waits until each port is held by the component kwokctl started for it (by the pid in its pid
 * file). Throws PortConflict naming the holder when another process has one, or an error naming the
 * component and its log when the component died first.
 */
async function verifyPortOwners(dir: string, ports: ClusterPorts, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const owners = portOwners(portKeys.map((k) => ports[k]));
    const waiting: string[] = [];
    for (const key of portKeys) {
      const { component, purpose } = portHolders[key];
      const pid = readPid(path.join(dir, 'pids', `${component}.pid`));
      const owner = owners.get(ports[key]);
      if (owner && owner.pid !== pid)
        throw new PortConflict(
          `port ${ports[key]} (${purpose}) is held by ${describeOwner(owner)}, not by this cluster's ${component} (pid ${pid ?? 'none'})`,
        );
      if (owner) continue;
      if (pid === undefined || !alive(pid))
        throw new Error(
          `${component} is not running (its log: ${path.join(dir, 'logs', `${component}.log`)})`,
        );
      waiting.push(`${purpose} on ${ports[key]}`);
    }
    if (waiting.length === 0) return;
    if (Date.now() > deadline)
      throw new Error(`after ${timeoutMs} ms still not listening: ${waiting.join(', ')}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** What a kubeconfig written by kwokctl says about its cluster: server URL and credentials. */
function readKubeconfigCredentials(kubeconfig: string): {
  server: string;
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
} {
  const doc = parseYaml(readFileSync(kubeconfig, 'utf8')) as {
    clusters?: Array<{ cluster?: Record<string, string> }>;
    users?: Array<{ user?: Record<string, string> }>;
  };
  const cluster = doc.clusters?.[0]?.cluster ?? {};
  const user = doc.users?.[0]?.user ?? {};
  const material = (data: string | undefined, file: string | undefined, what: string): Buffer => {
    if (data) return Buffer.from(data, 'base64');
    if (file) return readFileSync(file);
    throw new Error(`${kubeconfig} has no ${what}`);
  };
  const server = cluster.server;
  if (!server) throw new Error(`${kubeconfig} has no cluster server URL`);
  return {
    server,
    ca: material(
      cluster['certificate-authority-data'],
      cluster['certificate-authority'],
      'certificate authority',
    ),
    cert: material(user['client-certificate-data'], user['client-certificate'], 'client certificate'),
    key: material(user['client-key-data'], user['client-key'], 'client key'),
  };
}

/**
 * Resolves when the kubeconfig's API server answers /readyz over TLS verified against the
 * kubeconfig's own CA: another cluster's API server on that port fails with "unable to verify"
 * (its certificate comes from another CA).
 */
export function assertOwnApiServer(kubeconfig: string, timeoutMs = 10_000): Promise<void> {
  const { server, ca, cert, key } = readKubeconfigCredentials(kubeconfig);
  return new Promise((resolve, reject) => {
    const req = https.get(new URL('/readyz', server), { ca, cert, key, timeout: timeoutMs }, (res) => {
      res.resume();
      if (res.statusCode === 200) resolve();
      else reject(new Error(`${server}/readyz answered ${res.statusCode}`));
    });
    req.on('timeout', () => req.destroy(new Error(`${server}/readyz did not answer within ${timeoutMs} ms`)));
    req.on('error', (err) =>
      reject(new Error(`the API server at ${server} is not this cluster's (${kubeconfig}): ${err.message}`)),
    );
  });
}

export interface ClusterRef {
  name: string;
  workdir: string;
  kubeconfig: string;
}

/**
 * The last resort, synchronous: `kwokctl delete cluster` (20 s at most), then SIGKILL for every
 * component still running in the cluster's directory. Throws when kwokctl's delete failed.
 */
export function killClusterNow(ref: ClusterRef): void {
  let failure: unknown;
  try {
    execFileSync(
      toolPath('kwokctl'),
      ['delete', 'cluster', '--name', ref.name, '--kubeconfig', ref.kubeconfig],
      {
        env: kwokctlEnv(ref.workdir),
        stdio: 'ignore',
        timeout: 20_000,
      },
    );
  } catch (err) {
    failure = err;
  }
  const dir = clusterDir(ref.workdir, ref.name);
  for (const { pid } of processesWorkingIn(dir, clusterExecutables())) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  if (failure !== undefined)
    throw new Error(
      `kwokctl delete cluster ${ref.name} failed (${String(failure)}); KWOK_WORKDIR=${ref.workdir} kwokctl delete cluster --name ${ref.name}`,
    );
}

/**
 * Deletes a cluster and stops every process it started: `kwokctl delete cluster` (by its pid files),
 * then any component still running in its directory (pid files lost, or kwokctl's delete failed).
 * Throws naming what survived. `make dev-down` uses it too.
 */
export async function deleteCluster(
  ref: ClusterRef,
  say: (line: string) => void = () => undefined,
): Promise<void> {
  await run(toolPath('kwokctl'), ['delete', 'cluster', '--name', ref.name, '--kubeconfig', ref.kubeconfig], {
    env: kwokctlEnv(ref.workdir),
    timeout: 60_000,
  }).catch((err: unknown) => say(`kwokctl delete cluster ${ref.name}: ${String(err)}`));
  const stopped = await stopProcessesWorkingIn(clusterDir(ref.workdir, ref.name), clusterExecutables());
  if (stopped.length > 0)
    say(
      `stopped ${stopped.length} process(es) kwokctl left behind: ${stopped.map((p) => `pid ${p.pid} (${p.command.split(' ')[0]})`).join(', ')}`,
    );
}

export async function createCluster(options: ClusterOptions): Promise<Cluster> {
  const given = options.ports;
  return startOnOwnPorts({
    count: portKeys.length,
    owner: `kwok cluster ${options.name} in ${options.workdir}`,
    given: given && portKeys.map((key) => given[key]),
    attempts: options.attempts,
    progress: options.progress,
    start: async (list, attempt) => {
      const ports = Object.fromEntries(portKeys.map((key, i) => [key, list[i]])) as unknown as ClusterPorts;
      if (given) await assertPortsFree(ports);
      return startCluster(options, ports, attempt);
    },
  });
}

async function startCluster(options: ClusterOptions, ports: ClusterPorts, attempt: number): Promise<Cluster> {
  const { name, workdir, kubeconfig } = options;
  const say = options.progress ?? (() => undefined);
  mkdirSync(workdir, { recursive: true });
  mkdirSync(path.dirname(kubeconfig), { recursive: true });
  const config = path.join(workdir, `kwokctl-${name}.yaml`);
  const auditPolicy = path.join(workdir, `audit-policy-${name}.yaml`);
  writeFileSync(auditPolicy, AUDIT_POLICY);
  writeFileSync(
    config,
    kwokctlConfig({
      ports,
      auditPolicy,
      alsoServeAt: options.alsoServeAt,
      binary: clusterBinaries(workdir, name, (b) => toolPath(b)),
    }),
  );
  const env = kwokctlEnv(workdir);
  const dir = clusterDir(workdir, name);
  const ref: ClusterRef = { name, workdir, kubeconfig };
  try {
    say(
      `creating cluster ${name} (etcd ${ports.etcd}/${ports.etcdPeer}, kube-apiserver ${ports.apiServer}, controller-manager ${ports.controllerManager}, scheduler ${ports.scheduler}, kwok ${ports.kwokController})…`,
    );
    const create = (options.launcher ?? directLauncher).wrap(toolPath('kwokctl'), [
      ...['create', 'cluster', '--name', name, '--config', config, '--kubeconfig', kubeconfig],
      ...['--wait', '3m'],
    ]);
    try {
      await run(create.command, create.args, { env, maxBuffer: 16 << 20 });
    } catch (err) {
      const detail =
        err instanceof Error && 'stderr' in err ? String((err as { stderr: unknown }).stderr) : String(err);
      // A port another process took between our reservation and the component's bind is what
      // usually fails here: name it, so the attempt is retried with new ports.
      const taken = portKeys.flatMap((key) => {
        const owner = portOwners([ports[key]]).get(ports[key]);
        const ours =
          owner?.pid !== undefined &&
          owner.pid === readPid(path.join(dir, 'pids', `${portHolders[key].component}.pid`));
        return owner && !ours
          ? [`port ${ports[key]} (${portHolders[key].purpose}) is held by ${describeOwner(owner)}`]
          : [];
      });
      if (taken.length > 0)
        throw new PortConflict(`kwokctl create cluster ${name} failed: ${taken.join('; ')}`);
      throw new Error(`kwokctl create cluster ${name} failed:\n${detail}`);
    }
    // kwokctl create returns success even when its readiness wait timed out: check for ourselves.
    await verifyPortOwners(dir, ports, 60_000);
    await assertOwnApiServer(kubeconfig);
    const nodes = options.nodes ?? 3;
    say(`adding ${nodes} kwok nodes…`);
    await run(toolPath('kwokctl'), ['scale', 'node', '--name', name, '--replicas', String(nodes)], { env });
  } catch (err) {
    // Keep the logs (kwokctl delete removes the cluster directory), then stop everything it started.
    const kept = path.join(workdir, `failed-${name}-${attempt}-logs`);
    if (existsSync(path.join(dir, 'logs'))) cpSync(path.join(dir, 'logs'), kept, { recursive: true });
    await deleteCluster(ref, say);
    const message = err instanceof Error ? err.message : String(err);
    const withLogs = `${message} (logs in ${kept})`;
    throw err instanceof PortConflict ? new PortConflict(withLogs) : new Error(withLogs);
  }
  return {
    name,
    kubeconfig,
    workdir,
    ports,
    delete: () => deleteCluster(ref, say),
  };
}
