// The local pod runner: the kubelet of the local stack. kwok fakes nodes and pod status but runs
// nothing, so this watches the pods of the sample Deployments and runs each one as a local process
// (command, args and env from the pod spec; Service addresses mapped to 127.0.0.1; a free port for
// each listening port), so scaling a Deployment really adds and removes consumers.
//
// Deletion behaves as on a node: SIGTERM, up to the grace period, then SIGKILL (at once for a
// forced delete with grace 0). kwok itself deletes a terminating pod with grace 0 straight away
// (its default `pod-delete` stage; seen on kwok v0.8.0), which would lose that grace period and
// let the Deployment count the pod gone while its process still runs. The runner therefore puts
// its own finalizer on every pod it runs and removes it only once the process has exited; kwok's
// delete leaves finalizers alone. The grace period is read from the FIRST update that carries a
// deletionTimestamp, because kwok's grace-0 delete rewrites deletionGracePeriodSeconds to 0
// about 100 ms later. A pod's process ends with the runner's process, also when that is killed and
// runs no stop() (dies-with-parent.ts), as a node's containers end with the node.
import * as k8s from '@kubernetes/client-node';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { diesWithThisProcess } from '../../hack/stack/dies-with-parent.js';
import { freePort } from '../../hack/stack/ports.js';
import type { ScrapeTargetSink } from '../../hack/stack/scrape-targets.js';

export const runnerFinalizer = 'jetscale.io/local-pod-runner';

/** How a container's command becomes a local one. */
export interface LocalCommand {
  command: string;
  args: string[];
  cwd: string;
}

export interface PodRunnerOptions {
  kubeConfig: k8s.KubeConfig;
  namespace: string;
  /** Only pods matching this label selector are run (others stay kwok's fakes). */
  labelSelector?: string;
  /** Where the image's working directory lives locally (the repository root). */
  repoRoot: string;
  /** The image's WORKDIR: absolute paths under it are mapped to repoRoot. */
  imageWorkdir?: string;
  /**
   * Service host (short, `<svc>.<ns>`, `<svc>.<ns>.svc[.cluster.local]`) and port to the local
   * `127.0.0.1:<port>` that serves it, e.g. `nats:4222` → `127.0.0.1:14222`.
   */
  serviceAddresses: Record<string, string>;
  /** Env vars holding a port the process listens on; each pod gets a free port for each. */
  portEnv: readonly string[];
  /** Fixed local ports for some pods' port env vars, e.g. the gateway, so the load has a stable target. */
  pinnedPorts?: Array<{ labels: Record<string, string>; env: string; port: number }>;
  /** Per-pod stdout/stderr logs. */
  logDir: string;
  /** Told about starts, exits, kills and errors. */
  onEvent?: (event: RunnerEvent) => void;
  /**
   * Registers each running pod's /metrics with a Prometheus (the local stack's file SD) while its
   * process lives, as a PodMonitor would: labels job (the pod's app.kubernetes.io/component),
   * namespace and pod; portEnv names the port env var its /metrics listens on.
   */
  scrape?: { targets: ScrapeTargetSink; portEnv: string };
}

export type RunnerEvent =
  | { kind: 'started'; pod: string; pid: number; ports: Record<string, number> }
  | { kind: 'terminating'; pod: string; graceSeconds: number }
  | { kind: 'exited'; pod: string; code: number | null; signal: string | null; afterDeletion: boolean }
  | { kind: 'restarting'; pod: string; restarts: number; delayMs: number }
  | { kind: 'error'; pod?: string; message: string };

/** A pod the runner is running (or winding down). */
export interface RunningPod {
  name: string;
  labels: Record<string, string>;
  pid: number | undefined;
  ports: Record<string, number>;
  startedAt: number;
  restarts: number;
  terminating: boolean;
}

interface PodProcess {
  pod: RunningPod;
  child: ChildProcess | undefined;
  /** Resolves when the current child exits. */
  exited: Promise<void>;
  /** Set once deletion began; no restarts after that. */
  deleting: boolean;
  /** The spec's grace period, for a delete we only learn about from the DELETED event. */
  specGraceSeconds: number;
  hasFinalizer: boolean;
  /** The pod's CPU request in cores (undefined: none), for its process's scheduling weight. */
  cpuRequest: number | undefined;
  restartTimer: NodeJS.Timeout | undefined;
}

function errorMessage(err: unknown): string {
  if (err instanceof k8s.ApiException)
    return `HTTP ${err.code}: ${typeof err.body === 'string' ? err.body : JSON.stringify(err.body)}`;
  return err instanceof Error ? err.message : String(err);
}

function matches(labels: Record<string, string>, wanted: Record<string, string>): boolean {
  return Object.entries(wanted).every(([k, v]) => labels[k] === v);
}

export class PodRunner {
  private readonly core: k8s.CoreV1Api;
  private readonly processes = new Map<string, PodProcess>();
  private abort: AbortController | undefined;
  private stopped = false;
  /** The largest CPU request of any pod this runner has started (cores), see weigh(). */
  private largestCpuRequest = 0;
  private relistTimer: NodeJS.Timeout | undefined;
  private readonly say: (event: RunnerEvent) => void;
  /** Serialises handling per pod so a quick add-then-delete cannot interleave. */
  private readonly podQueues = new Map<string, Promise<void>>();

  constructor(private readonly options: PodRunnerOptions) {
    this.core = options.kubeConfig.makeApiClient(k8s.CoreV1Api);
    this.say = options.onEvent ?? (() => undefined);
    mkdirSync(options.logDir, { recursive: true });
  }

  async start(): Promise<void> {
    await this.listAndWatch();
  }

  /** The pods currently running as processes. */
  running(): RunningPod[] {
    return [...this.processes.values()].map((p) => p.pod);
  }

  /** Every pid the runner has alive, for leak checks. */
  pids(): number[] {
    return [...this.processes.values()].flatMap((p) =>
      p.child?.pid !== undefined && p.child.exitCode === null ? [p.child.pid] : [],
    );
  }

  /** Stops watching, terminates every process (SIGTERM, 5 s, SIGKILL) and removes our finalizers. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    if (this.relistTimer) clearTimeout(this.relistTimer);
    await Promise.all(
      [...this.processes.entries()].map(async ([name, proc]) => {
        proc.deleting = true;
        if (proc.restartTimer) clearTimeout(proc.restartTimer);
        await this.terminate(proc, Math.min(5, proc.specGraceSeconds));
        await this.removeFinalizer(name);
        this.processes.delete(name);
      }),
    );
  }

  private async listAndWatch(): Promise<void> {
    const { namespace, labelSelector } = this.options;
    const list = await this.core.listNamespacedPod({ namespace, labelSelector });
    const seen = new Set<string>();
    for (const pod of list.items) {
      const name = pod.metadata?.name;
      if (!name) continue;
      seen.add(name);
      this.enqueue(name, () => this.onPod(pod));
    }
    // Pods deleted while we were not watching.
    for (const name of this.processes.keys()) {
      if (!seen.has(name)) this.enqueue(name, () => this.onPodGone(name));
    }
    const watch = new k8s.Watch(this.options.kubeConfig);
    this.abort = await watch.watch(
      `/api/v1/namespaces/${namespace}/pods`,
      { labelSelector, resourceVersion: list.metadata?.resourceVersion, allowWatchBookmarks: false },
      (phase: string, obj: k8s.V1Pod) => {
        const name = obj.metadata?.name;
        if (!name) return;
        if (phase === 'DELETED') this.enqueue(name, () => this.onPodGone(name));
        else if (phase === 'ADDED' || phase === 'MODIFIED') this.enqueue(name, () => this.onPod(obj));
      },
      (err: unknown) => {
        if (this.stopped) return;
        // A clean end or an error (410 Gone included): list again, which catches up on anything missed.
        if (err) this.say({ kind: 'error', message: `pod watch ended: ${errorMessage(err)}; listing again` });
        this.relistTimer = setTimeout(() => {
          this.listAndWatch().catch((e: unknown) => {
            this.say({ kind: 'error', message: `pod list failed: ${errorMessage(e)}` });
            this.relistTimer = setTimeout(() => void this.listAndWatch().catch(() => undefined), 2000);
          });
        }, 500);
      },
    );
  }

  private enqueue(name: string, work: () => Promise<void>): void {
    const previous = this.podQueues.get(name) ?? Promise.resolve();
    const next = previous
      .then(work)
      .catch((err: unknown) => this.say({ kind: 'error', pod: name, message: errorMessage(err) }));
    this.podQueues.set(name, next);
    void next.then(() => {
      if (this.podQueues.get(name) === next) this.podQueues.delete(name);
    });
  }

  private async onPod(pod: k8s.V1Pod): Promise<void> {
    if (this.stopped) return;
    const name = pod.metadata?.name ?? '';
    const existing = this.processes.get(name);
    if (pod.metadata?.deletionTimestamp) {
      if (existing && !existing.deleting) {
        existing.deleting = true;
        // The first terminating update carries the grace period the deleter asked for.
        const grace = pod.metadata.deletionGracePeriodSeconds ?? existing.specGraceSeconds;
        await this.windDown(name, existing, grace);
      } else if (!existing && pod.metadata.finalizers?.includes(runnerFinalizer)) {
        // Left over from an earlier runner: nothing runs it any more.
        await this.removeFinalizer(name);
      }
      return;
    }
    if (existing || !pod.spec?.nodeName) return; // not scheduled yet, or already running
    const container = pod.spec.containers[0];
    if (!container) return;
    const proc: PodProcess = {
      pod: {
        name,
        labels: pod.metadata?.labels ?? {},
        pid: undefined,
        ports: {},
        startedAt: Date.now(),
        restarts: 0,
        terminating: false,
      },
      child: undefined,
      exited: Promise.resolve(),
      deleting: false,
      specGraceSeconds: pod.spec.terminationGracePeriodSeconds ?? 30,
      hasFinalizer: false,
      restartTimer: undefined,
      cpuRequest: cpuCores(container.resources?.requests?.cpu),
    };
    this.processes.set(name, proc);
    if (!pod.metadata?.finalizers?.includes(runnerFinalizer)) {
      try {
        await this.core.patchNamespacedPod({
          name,
          namespace: this.options.namespace,
          body: [
            {
              op: 'add',
              path: pod.metadata?.finalizers ? '/metadata/finalizers/-' : '/metadata/finalizers',
              value: pod.metadata?.finalizers ? runnerFinalizer : [runnerFinalizer],
            },
          ],
        });
      } catch (err) {
        // Most likely deleted meanwhile; the watch tells us.
        this.processes.delete(name);
        this.say({ kind: 'error', pod: name, message: `could not add finalizer: ${errorMessage(err)}` });
        return;
      }
    }
    proc.hasFinalizer = true;
    const env = await this.environment(pod, container, proc.pod);
    const command = this.localCommand(container);
    // stop() or a delete may have come in while we were talking to the API server.
    if (this.stopped || proc.deleting) {
      this.processes.delete(name);
      await this.removeFinalizer(name);
      return;
    }
    this.launch(proc, command, env);
  }

  private async onPodGone(name: string): Promise<void> {
    const proc = this.processes.get(name);
    if (!proc) return;
    if (!proc.deleting) {
      proc.deleting = true;
      await this.windDown(name, proc, proc.specGraceSeconds);
    }
  }

  private async windDown(name: string, proc: PodProcess, graceSeconds: number): Promise<void> {
    proc.pod.terminating = true;
    if (proc.restartTimer) clearTimeout(proc.restartTimer);
    this.say({ kind: 'terminating', pod: name, graceSeconds });
    await this.terminate(proc, graceSeconds);
    await this.removeFinalizer(name);
    this.processes.delete(name);
  }

  private async terminate(proc: PodProcess, graceSeconds: number): Promise<void> {
    const child = proc.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    if (graceSeconds <= 0) {
      child.kill('SIGKILL');
      await proc.exited;
      return;
    }
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceSeconds * 1000);
    await proc.exited;
    clearTimeout(timer);
  }

  /** Lifts our finalizer; a 422 means the list changed under us (the test op): read again. */
  private async removeFinalizer(name: string, attempt = 1): Promise<void> {
    try {
      const pod = await this.core.readNamespacedPod({ name, namespace: this.options.namespace });
      const index = pod.metadata?.finalizers?.indexOf(runnerFinalizer) ?? -1;
      if (index < 0) return;
      await this.core.patchNamespacedPod({
        name,
        namespace: this.options.namespace,
        // The test op makes a concurrent finalizer change fail instead of removing the wrong entry.
        body: [
          { op: 'test', path: `/metadata/finalizers/${index}`, value: runnerFinalizer },
          { op: 'remove', path: `/metadata/finalizers/${index}` },
        ],
      });
    } catch (err) {
      if (err instanceof k8s.ApiException && err.code === 404) return;
      if (err instanceof k8s.ApiException && err.code === 422 && attempt < 3)
        return this.removeFinalizer(name, attempt + 1);
      this.say({ kind: 'error', pod: name, message: `could not remove finalizer: ${errorMessage(err)}` });
    }
  }

  private launch(proc: PodProcess, command: LocalCommand, env: NodeJS.ProcessEnv): void {
    const name = proc.pod.name;
    const logFile = path.join(this.options.logDir, `${name}.log`);
    const log = openSync(logFile, 'a');
    // Own process group: a Ctrl-C in the terminal reaches the harness, which then winds pods down in
    // order, instead of every pod at once. And SIGKILL when the runner's process ends, however it
    // ends: a killed runner runs no stop(), and its pods would run on (dies-with-parent.ts).
    const wrapped = diesWithThisProcess(command.command, command.args);
    const child = spawn(wrapped.command, wrapped.args, {
      cwd: command.cwd,
      env,
      stdio: ['ignore', log, log],
      detached: true,
    });
    closeSync(log);
    this.weigh(proc, child.pid);
    proc.child = child;
    proc.pod.pid = child.pid;
    proc.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        proc.pod.pid = undefined;
        this.options.scrape?.targets.unregister(this.scrapeId(name));
        this.say({ kind: 'exited', pod: name, code, signal, afterDeletion: proc.deleting });
        resolve();
        if (!proc.deleting && !this.stopped) {
          // restartPolicy Always, with the kubelet's doubling back-off (capped low for a local run).
          proc.pod.restarts++;
          const delayMs = Math.min(10_000, 1000 * 2 ** Math.min(4, proc.pod.restarts - 1));
          this.say({ kind: 'restarting', pod: name, restarts: proc.pod.restarts, delayMs });
          proc.restartTimer = setTimeout(() => {
            if (!proc.deleting && !this.stopped) this.launch(proc, command, env);
          }, delayMs);
        }
      });
      child.once('error', (err) => {
        this.say({ kind: 'error', pod: name, message: `cannot run ${command.command}: ${err.message}` });
      });
    });
    if (child.pid !== undefined) {
      this.register(proc);
      this.say({ kind: 'started', pod: name, pid: child.pid, ports: proc.pod.ports });
    }
  }

  /**
   * On a node, cgroup CPU shares follow each pod's CPU request: a burst of consumer pods starting
   * at once cannot starve the gateway that asked for more. Local processes get the same relative
   * weights through their niceness (each nice level is ~1.25x less weight). A runner can only
   * lower priorities, so the largest request seen runs at normal priority.
   */
  private weigh(proc: PodProcess, pid: number | undefined): void {
    if (pid === undefined || proc.cpuRequest === undefined) return;
    this.largestCpuRequest = Math.max(this.largestCpuRequest, proc.cpuRequest);
    const niceness = nicenessForCpuRequest(proc.cpuRequest, this.largestCpuRequest);
    if (niceness === 0) return;
    try {
      os.setPriority(pid, niceness);
    } catch (err) {
      this.say({
        kind: 'error',
        pod: proc.pod.name,
        message: `could not set niceness ${niceness}: ${errorMessage(err)}`,
      });
    }
  }

  private scrapeId(pod: string): string {
    return `pod-${this.options.namespace}-${pod}`;
  }

  private register(proc: PodProcess): void {
    const scrape = this.options.scrape;
    const port = scrape ? proc.pod.ports[scrape.portEnv] : undefined;
    if (!scrape || port === undefined) return;
    try {
      scrape.targets.register(this.scrapeId(proc.pod.name), {
        address: `127.0.0.1:${port}`,
        labels: {
          job: proc.pod.labels['app.kubernetes.io/component'] ?? 'pod',
          namespace: this.options.namespace,
          pod: proc.pod.name,
        },
      });
    } catch (err) {
      this.say({
        kind: 'error',
        pod: proc.pod.name,
        message: `cannot register scrape target: ${errorMessage(err)}`,
      });
    }
  }

  /** Maps the container's command to local paths: `node` is this Node, image paths are repo paths. */
  localCommand(container: k8s.V1Container): LocalCommand {
    const argv = [...(container.command ?? []), ...(container.args ?? [])];
    const [first, ...rest] = argv;
    if (!first)
      throw new Error(
        `container ${container.name} has no command; the local runner needs command/args in the pod spec`,
      );
    const workdir = this.options.imageWorkdir ?? '/app';
    const mapPath = (arg: string): string =>
      arg === workdir
        ? this.options.repoRoot
        : arg.startsWith(`${workdir}/`)
          ? path.join(this.options.repoRoot, arg.slice(workdir.length + 1))
          : arg;
    const program = first === 'node' || first.endsWith('/node') ? process.execPath : mapPath(first);
    const args = rest.map(mapPath);
    for (const arg of args) {
      if (
        /\.(c|m)?js$/.test(arg) &&
        !path.isAbsolute(arg) &&
        !existsSync(path.join(this.options.repoRoot, arg))
      ) {
        throw new Error(`${arg} does not exist under ${this.options.repoRoot}: run \`npm run build\` first`);
      }
    }
    return { command: program, args, cwd: this.options.repoRoot };
  }

  /** Rewrites `host[:port]` of a Service to its local address; other values pass through. */
  mapServiceAddresses(value: string): string {
    const ns = this.options.namespace;
    let out = value;
    for (const [service, local] of Object.entries(this.options.serviceAddresses)) {
      const [host, port] = service.split(':');
      if (!host) continue;
      const hosts = [`${host}.${ns}.svc.cluster.local`, `${host}.${ns}.svc`, `${host}.${ns}`, host];
      for (const h of hosts) {
        const pattern = new RegExp(
          `(^|[/@,\\s])${h.replace(/\./g, '\\.')}${port ? `:${port}` : ''}(?=$|[/,?\\s])`,
          'g',
        );
        out = out.replace(pattern, `$1${local}`);
      }
    }
    return out;
  }

  private async environment(
    pod: k8s.V1Pod,
    container: k8s.V1Container,
    running: RunningPod,
  ): Promise<NodeJS.ProcessEnv> {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'production',
      HOSTNAME: running.name,
    };
    const namespace = this.options.namespace;
    for (const source of container.envFrom ?? []) {
      const prefix = source.prefix ?? '';
      if (source.configMapRef?.name) {
        const cm = await this.core.readNamespacedConfigMap({ name: source.configMapRef.name, namespace });
        for (const [k, v] of Object.entries(cm.data ?? {})) env[prefix + k] = v;
      }
      if (source.secretRef?.name) {
        const secret = await this.core.readNamespacedSecret({ name: source.secretRef.name, namespace });
        for (const [k, v] of Object.entries(secret.data ?? {}))
          env[prefix + k] = Buffer.from(v, 'base64').toString('utf8');
      }
    }
    for (const variable of container.env ?? []) {
      const from = variable.valueFrom;
      if (variable.value !== undefined)
        env[variable.name] = variable.value.replace(
          /\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g,
          (_, k: string) => env[k] ?? '',
        );
      else if (from?.fieldRef) {
        const field = from.fieldRef.fieldPath;
        env[variable.name] =
          field === 'metadata.name'
            ? running.name
            : field === 'metadata.namespace'
              ? namespace
              : field === 'status.podIP' || field === 'status.hostIP'
                ? '127.0.0.1'
                : field === 'spec.nodeName'
                  ? (pod.spec?.nodeName ?? '')
                  : '';
      } else if (from?.configMapKeyRef?.name) {
        const cm = await this.core.readNamespacedConfigMap({ name: from.configMapKeyRef.name, namespace });
        env[variable.name] = cm.data?.[from.configMapKeyRef.key] ?? '';
      } else if (from?.secretKeyRef?.name) {
        const secret = await this.core.readNamespacedSecret({ name: from.secretKeyRef.name, namespace });
        const raw = secret.data?.[from.secretKeyRef.key];
        env[variable.name] = raw ? Buffer.from(raw, 'base64').toString('utf8') : '';
      }
    }
    for (const [key, value] of Object.entries(env)) {
      if (value !== undefined) env[key] = this.mapServiceAddresses(value);
    }
    for (const portVar of this.options.portEnv) {
      const pinned = this.options.pinnedPorts?.find(
        (p) => p.env === portVar && matches(running.labels, p.labels),
      );
      const port = pinned?.port ?? (await freePort());
      env[portVar] = String(port);
      running.ports[portVar] = port;
    }
    return env;
  }
}

/** A Kubernetes CPU quantity in cores ("250m" → 0.25, "1.5" → 1.5); undefined when absent or not one. */
export function cpuCores(quantity: string | number | undefined): number | undefined {
  if (quantity === undefined) return undefined;
  const text = String(quantity).trim();
  const match = /^(\d+(?:\.\d+)?)(m?)$/.exec(text);
  if (!match) return undefined;
  const cores = Number(match[1]) / (match[2] === 'm' ? 1000 : 1);
  return cores > 0 ? cores : undefined;
}

/**
 * The niceness that gives a process the CPU weight, relative to one that asked for `largest`
 * cores, that cgroup shares give a pod that asked for `request` (Linux: each nice level weighs
 * ~1.25x less). 0 for the largest request, at most 19.
 */
export function nicenessForCpuRequest(request: number, largest: number): number {
  if (!(request > 0) || !(largest > request)) return 0;
  return Math.min(19, Math.round(Math.log(largest / request) / Math.log(1.25)));
}
