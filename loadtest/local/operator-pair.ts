// The operator as two local processes with leader election, like the chart's two replicas: both
// watch, only the Lease holder scales. A replica that dies is started again after a short delay
// under a new identity (like a replacement pod), so a leader kill shows the hand-over and then two
// replicas again.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import path from 'node:path';
import { diesWithThisProcess } from '../../hack/stack/dies-with-parent.js';
import { freePort } from '../../hack/stack/ports.js';
import type { ScrapeTargetSink } from '../../hack/stack/scrape-targets.js';

export interface OperatorPairOptions {
  repoRoot: string;
  kubeconfig: string;
  /** Namespace the operator watches and keeps its Lease in. */
  namespace: string;
  logDir: string;
  replicas?: number;
  /** Lease timings (seconds); the chart's defaults are 15 / 10 / 2. */
  leaseDurationSeconds?: number;
  renewDeadlineSeconds?: number;
  retryPeriodSeconds?: number;
  restartDelayMs?: number;
  /** Extra environment for every replica. */
  env?: Record<string, string>;
  onEvent?: (line: string) => void;
  /** Registers each replica's /metrics with Prometheus while it runs (job jetscale-operator). */
  scrapeTargets?: ScrapeTargetSink;
}

interface Replica {
  baseIdentity: string;
  /** Changes on every restart, like the name of a replacement pod. */
  identity: string;
  metricsPort: number;
  child: ChildProcess | undefined;
  exited: Promise<void>;
  restartTimer: NodeJS.Timeout | undefined;
  restarts: number;
}

export const operatorEntry = 'dist/operator/src/main.js';

export class OperatorPair {
  private readonly replicas: Replica[] = [];
  private stopping = false;
  private readonly say: (line: string) => void;

  constructor(private readonly options: OperatorPairOptions) {
    this.say = options.onEvent ?? (() => undefined);
  }

  get leaseSettings(): {
    leaseDurationSeconds: number;
    renewDeadlineSeconds: number;
    retryPeriodSeconds: number;
  } {
    return {
      leaseDurationSeconds: this.options.leaseDurationSeconds ?? 15,
      renewDeadlineSeconds: this.options.renewDeadlineSeconds ?? 10,
      retryPeriodSeconds: this.options.retryPeriodSeconds ?? 2,
    };
  }

  async start(): Promise<void> {
    const count = this.options.replicas ?? 2;
    if (count === 0) return;
    const entry = path.join(this.options.repoRoot, operatorEntry);
    if (!existsSync(entry)) throw new Error(`${operatorEntry} does not exist: run \`npm run build\` first`);
    for (let i = 0; i < count; i++) {
      const replica: Replica = {
        baseIdentity: `jetscale-operator-${i}`,
        identity: `jetscale-operator-${i}`,
        metricsPort: await freePort(),
        child: undefined,
        exited: Promise.resolve(),
        restartTimer: undefined,
        restarts: 0,
      };
      this.replicas.push(replica);
      this.launch(replica);
    }
  }

  identities(): string[] {
    return this.replicas.map((r) => r.identity);
  }

  pids(): number[] {
    return this.replicas.flatMap((r) =>
      r.child?.pid !== undefined && r.child.exitCode === null && r.child.signalCode === null
        ? [r.child.pid]
        : [],
    );
  }

  metricsUrl(identity: string): string | undefined {
    const replica = this.replicas.find((r) => r.identity === identity);
    return replica ? `http://127.0.0.1:${replica.metricsPort}/metrics` : undefined;
  }

  /** SIGKILL one replica (it comes back after the restart delay). */
  kill(identity: string): string {
    const replica = this.replicas.find((r) => r.identity === identity);
    const pid = replica?.child?.pid;
    if (!replica?.child || pid === undefined || replica.child.exitCode !== null) {
      throw new Error(
        `operator replica ${identity} is not running here (running: ${this.identities().join(', ')})`,
      );
    }
    replica.child.kill('SIGKILL');
    return `SIGKILL to operator ${identity} (pid ${pid})`;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.replicas.map(async (replica) => {
        if (replica.restartTimer) clearTimeout(replica.restartTimer);
        const child = replica.child;
        if (!child || child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await replica.exited;
        clearTimeout(timer);
      }),
    );
  }

  private launch(replica: Replica): void {
    const { repoRoot, kubeconfig, namespace, logDir } = this.options;
    const lease = this.leaseSettings;
    const log = openSync(path.join(logDir, `${replica.identity}.log`), 'a');
    const operator = diesWithThisProcess(process.execPath, [operatorEntry]);
    const child = spawn(operator.command, operator.args, {
      cwd: repoRoot,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        NODE_ENV: 'production',
        KUBECONFIG: kubeconfig,
        JETSCALE_NAMESPACES: namespace,
        JETSCALE_LEASE_NAMESPACE: namespace,
        JETSCALE_POD_NAME: replica.identity,
        JETSCALE_METRICS_HOST: '127.0.0.1',
        JETSCALE_METRICS_PORT: String(replica.metricsPort),
        JETSCALE_LEADER_ELECTION: 'true',
        JETSCALE_LEASE_DURATION_SECONDS: String(lease.leaseDurationSeconds),
        JETSCALE_LEASE_RENEW_DEADLINE_SECONDS: String(lease.renewDeadlineSeconds),
        JETSCALE_LEASE_RETRY_PERIOD_SECONDS: String(lease.retryPeriodSeconds),
        ...this.options.env,
      },
      stdio: ['ignore', log, log],
      // Own process group: Ctrl-C reaches the harness, which stops the replicas in order.
      detached: true,
    });
    closeSync(log);
    replica.child = child;
    const scrapeId = `operator-${namespace}-${replica.identity}`;
    this.options.scrapeTargets?.register(scrapeId, {
      address: `127.0.0.1:${replica.metricsPort}`,
      labels: { job: 'jetscale-operator', namespace, pod: replica.identity },
    });
    replica.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.options.scrapeTargets?.unregister(scrapeId);
        resolve();
        if (this.stopping) return;
        replica.restarts++;
        const delay = this.options.restartDelayMs ?? 5000;
        this.say(
          `operator ${replica.identity} exited (${signal ?? `code ${code}`}); restarting in ${delay / 1000} s`,
        );
        replica.restartTimer = setTimeout(() => {
          if (this.stopping) return;
          // A killed leader comes back as a new pod would (`kubectl delete pod --force` → a new name),
          // so "another identity holds the Lease" is what failover means.
          replica.identity = `${replica.baseIdentity}-r${replica.restarts}`;
          this.launch(replica);
        }, delay);
      }),
    );
    this.say(
      `operator ${replica.identity} started (pid ${child.pid}, metrics 127.0.0.1:${replica.metricsPort})`,
    );
  }
}
