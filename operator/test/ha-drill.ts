// The pieces of the HA chaos drills (ha-drills.int.test.ts): operator replicas as real processes
// (the built entry point, as the Deployment runs it) that can be paused, proxied, clock-shifted,
// killed and restarted under the same identity (a container restart keeps the pod name); a
// backlog that keeps changing; and the verdict, read from the API server's audit log.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { auditLogPath } from '../../hack/stack/cluster.js';
import { diesWithThisProcess } from '../../hack/stack/dies-with-parent.js';
import { repoRoot } from '../../hack/stack/tools.js';
import { kubeConfig, testStack } from '../../test/env.js';
import {
  checkSingleWriter,
  failovers,
  parseAuditLog,
  type Failover,
  type SingleWriterReport,
} from './audit-writes.js';
import { KubeApiClient } from '../src/kube/api-client.js';
import type { PausePointName } from '../src/kube/pause-points.js';
import { compiledOperatorEntry } from './compiled-operator.js';
import { consumeAndAck, publish, sleep } from './harness.js';
import { TcpProxy } from './tcp-proxy.js';

/** Short Lease timings so each drill takes seconds; margin = lease − renew deadline = 3 s. */
export const LEASE = { durationSeconds: 8, renewDeadlineSeconds: 5, retryPeriodSeconds: 1 };
export const POLL_SECONDS = 1;

export interface ReplicaOptions {
  identity: string;
  namespace: string;
  leaseName: string;
  kubeconfig?: string;
  env?: Record<string, string>;
  /** Lets the drill freeze the process at a pause point of its code (pause-point.mjs). */
  pausePoint?: PausePoint;
}

const pausePointModule = pathToFileURL(path.join(repoRoot, 'operator', 'test', 'pause-point.mjs')).href;

/**
 * The drill's side of pause-point.mjs: freeze a replica's main thread at a named pause point of
 * its code (operator/src/kube/pause-points.ts) — a stop-the-world pause at the worst moment — and
 * let it go.
 */
export class PausePoint {
  constructor(readonly dir: string) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
  }

  /** Arms the breakpoint: every call of `point` (operator/src/kube/pause-points.ts). Resolves once set. */
  async arm(point: PausePointName, timeoutMs: number): Promise<void> {
    writeFileSync(path.join(this.dir, 'arm'), JSON.stringify({ point }));
    await this.appears('armed', timeoutMs);
  }

  /** Resolves when the process has stopped at the breakpoint. */
  async paused(timeoutMs: number): Promise<void> {
    await this.appears('paused', timeoutMs);
  }

  resume(): void {
    writeFileSync(path.join(this.dir, 'resume'), '');
  }

  private async appears(name: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!existsSync(path.join(this.dir, name))) {
      const error = path.join(this.dir, 'error');
      if (existsSync(error)) throw new Error(`pause point: ${readFileSync(error, 'utf8')}`);
      if (Date.now() > deadline) throw new Error(`pause point: no ${name} within ${timeoutMs} ms`);
      await sleep(50);
    }
  }
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * One operator process, restarted under the same identity 0.5 s after it exits — as the kubelet
 * restarts a container (the pod name stays) — until stop().
 */
export class Replica {
  child: ChildProcess | undefined;
  exited: Promise<Exit> = Promise.resolve({ code: null, signal: null });
  /** Every exit that was not asked for by stop(), in order. */
  readonly exits: Exit[] = [];
  private out = '';
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;
  starts = 0;
  /** Date.now() at the latest start. */
  private startedAt = 0;

  constructor(readonly options: ReplicaOptions) {}

  get identity(): string {
    return this.options.identity;
  }

  start(): void {
    const entry = compiledOperatorEntry();
    const o = this.options;
    this.starts++;
    const args = o.pausePoint ? ['--import', pausePointModule, entry] : [entry];
    const operator = diesWithThisProcess(process.execPath, args);
    const child = spawn(operator.command, operator.args, {
      cwd: repoRoot,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        KUBECONFIG: o.kubeconfig ?? testStack().kubeconfigPath,
        JETSCALE_NAMESPACES: o.namespace,
        JETSCALE_LEASE_NAMESPACE: o.namespace,
        JETSCALE_LEASE_NAME: o.leaseName,
        JETSCALE_POD_NAME: o.identity,
        JETSCALE_METRICS_HOST: '127.0.0.1',
        JETSCALE_METRICS_PORT: '0',
        JETSCALE_LEADER_ELECTION: 'true',
        JETSCALE_LEASE_DURATION_SECONDS: String(LEASE.durationSeconds),
        JETSCALE_LEASE_RENEW_DEADLINE_SECONDS: String(LEASE.renewDeadlineSeconds),
        JETSCALE_LEASE_RETRY_PERIOD_SECONDS: String(LEASE.retryPeriodSeconds),
        JETSCALE_LOG_LEVEL: 'info',
        ...(o.pausePoint ? { JETSCALE_PAUSE_DIR: o.pausePoint.dir } : {}),
        ...o.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.startedAt = Date.now();
    this.out += `--- start ${this.starts} (pid ${child.pid})\n`;
    child.stdout?.on('data', (d: Buffer) => (this.out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.out += d.toString()));
    this.child = child;
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        resolve({ code, signal });
        if (this.stopping) return;
        this.exits.push({ code, signal });
        this.restartTimer = setTimeout(() => {
          if (!this.stopping) this.start();
        }, 500);
      }),
    );
  }

  /** Waits for the next exit that stop() did not ask for. */
  async nextExit(timeoutMs: number): Promise<Exit | 'still running'> {
    const before = this.exits.length;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const exit = this.exits[before];
      if (exit) return exit;
      await sleep(100);
    }
    return 'still running';
  }

  running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running()) this.child?.kill(signal);
  }

  output(): string {
    return this.out;
  }

  /**
   * How the latest process is doing, for a drill that timed out waiting on it: a process that
   * printed nothing may be starved of CPU on a loaded machine (little CPU time in a long wall
   * time), stopped, or stuck (its CPU time growing); /proc/<pid>/stat says which.
   */
  processState(): string {
    const pid = this.child?.pid;
    const up = `${((Date.now() - this.startedAt) / 1000).toFixed(1)} s since its start, load average ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`;
    if (pid === undefined || !this.running()) return `not running (${up})`;
    try {
      // Fields after the command's closing parenthesis: state is the 3rd, utime and stime the 14th
      // and 15th, in clock ticks (100 a second on Linux).
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      const cpu = (Number(fields[11]) + Number(fields[12])) / 100;
      return `pid ${pid} state ${fields[0]}, ${cpu.toFixed(2)} s of CPU in ${up}`;
    } catch (err) {
      return `pid ${pid}: /proc unreadable (${err instanceof Error ? err.message : String(err)}; ${up})`;
    }
  }

  /** The JSON log lines whose msg starts with `msg`, from every start. */
  logLines(msg: string): Array<Record<string, unknown>> {
    const lines: Array<Record<string, unknown>> = [];
    for (const line of this.out.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        if (typeof parsed.msg === 'string' && parsed.msg.startsWith(msg)) lines.push(parsed);
      } catch {
        // not a log line
      }
    }
    return lines;
  }

  /** Writes this process reported as sent / refused by its fence, over every start that ended. */
  fencedWrites(): { sent: number; refused: number } {
    const ends = [...this.logLines('lost leadership'), ...this.logLines('shut down')];
    return {
      sent: ends.reduce((n, l) => n + (typeof l.writesSent === 'number' ? l.writesSent : 0), 0),
      refused: ends.reduce((n, l) => n + (typeof l.writesRefused === 'number' ? l.writesRefused : 0), 0),
    };
  }

  /** SIGKILL and no restart: the node died, or the pod was deleted (a new one gets a new name). */
  async kill(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.signal('SIGKILL');
    await this.exited;
  }

  /** No more restarts; SIGCONT (in case it is paused), SIGTERM, then SIGKILL after 10 s. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (!this.running()) return;
    this.signal('SIGCONT');
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Publishes and drains in turns, so the desired replicas keep changing during the drill. */
export class ChangingBacklog {
  private running = false;
  private loop: Promise<void> = Promise.resolve();

  constructor(
    private readonly nc: NatsConnection,
    private readonly stream: string,
    private readonly consumer: string,
  ) {}

  start(): void {
    this.running = true;
    this.loop = (async () => {
      let round = 0;
      while (this.running) {
        // 20..60 messages at 10 per replica, then everything acknowledged: 2..6 replicas, then 1.
        await publish(this.nc, this.stream, 20 + 20 * (round++ % 3));
        await sleep(2500);
        if (!this.running) break;
        await consumeAndAck(this.nc, this.stream, this.consumer, 1000);
        await sleep(1500);
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

/** The EventConsumer spec the drills use: fast polls, small steps, quick scale-down. */
export const drillSpec = {
  pollInterval: `${POLL_SECONDS}s`,
  minReplicas: 1,
  maxReplicas: 8,
  backlogPerReplica: 10,
  behavior: {
    scaleDown: { stabilizationWindow: '0s', policies: [{ type: 'Percent', value: 100, period: '1s' }] },
  },
};

export function auditLog(): string {
  const stack = testStack();
  const name = process.env.JETSCALE_CLUSTER_NAME;
  if (!name) throw new Error('JETSCALE_CLUSTER_NAME is not set: run through the integration project');
  const file = auditLogPath(path.join(stack.stackDir, 'kwok'), name);
  if (!existsSync(file))
    throw new Error(
      `the API server's audit log ${file} does not exist: the stack predates the audit policy in hack/stack/cluster.ts; recreate it (make dev-down && make dev-up)`,
    );
  return file;
}

export function readVerdict(namespace: string, leaseName: string): SingleWriterReport {
  return checkSingleWriter(parseAuditLog(readFileSync(auditLog(), 'utf8')), {
    namespace,
    leaseNamespace: namespace,
    leaseName,
  });
}

/** The libfaketime library (Debian package faketime), for a real wall-clock jump in one process. */
export function libfaketime(): string {
  const roots = ['/usr/lib', '/usr/local/lib', '/usr/lib64'];
  for (const root of roots) {
    const candidates = [path.join(root, 'faketime')];
    if (existsSync(root)) for (const d of readdirSync(root)) candidates.push(path.join(root, d, 'faketime'));
    for (const dir of candidates) {
      const lib = path.join(dir, 'libfaketimeMT.so.1');
      if (existsSync(lib)) return lib;
    }
  }
  throw new Error(
    'libfaketime is not installed: apt-get install -y faketime (the clock drill jumps one replica’s wall clock with it; .ci/run installs it)',
  );
}

/**
 * A process's wall clock under a file's control (FAKETIME_TIMESTAMP_FILE, read at every call):
 * jump(3600) steps it an hour ahead of the real time at once, jump(0) back. The monotonic clock
 * is left alone, as an NTP step or a hand-set date leaves it alone.
 */
export class WallClockOffset {
  constructor(readonly file: string) {
    this.jump(0);
  }

  /** The environment that puts a process's wall clock under this file. */
  env(): Record<string, string> {
    return {
      LD_PRELOAD: libfaketime(),
      FAKETIME_TIMESTAMP_FILE: this.file,
      FAKETIME_NO_CACHE: '1',
      FAKETIME_DONT_FAKE_MONOTONIC: '1',
    };
  }

  /** Sets the offset from the real time, in seconds. */
  jump(seconds: number): void {
    writeFileSync(this.file, `${seconds >= 0 ? '+' : ''}${seconds}\n`);
  }
}

/**
 * A TCP proxy in front of the API server, and at `file` a kubeconfig like the stack's that reaches
 * the API server through it.
 */
export async function apiServerProxy(file: string): Promise<TcpProxy> {
  const text = readFileSync(testStack().kubeconfigPath, 'utf8');
  const m = /server:\s*https:\/\/127\.0\.0\.1:(\d+)/.exec(text);
  if (!m?.[1]) throw new Error(`no https://127.0.0.1:<port> server in ${testStack().kubeconfigPath}`);
  const proxy = await TcpProxy.start({ host: '127.0.0.1', port: Number(m[1]) });
  writeFileSync(file, text.replace(m[0], `server: https://127.0.0.1:${proxy.port}`));
  return proxy;
}

/**
 * A client of its own (its own connections, as each operator process has) on the API server, or
 * through the proxy whose kubeconfig apiServerProxy wrote at `proxyKubeconfig`. The caller closes it.
 */
export function ownApiClient(through: 'direct' | 'proxy', proxyKubeconfig: string): KubeApiClient {
  if (through === 'direct') return new KubeApiClient(kubeConfig());
  const kc = new KubeConfig();
  kc.loadFromFile(proxyKubeconfig);
  return new KubeApiClient(kc);
}

export interface DrillNumbers {
  drill: string;
  /**
   * takeoverMs: old holder's last renewal → new holder's Lease write; firstPollMs: → its first
   * read of the target (failover done); firstWriteMs: → its first write (when the backlog asked).
   */
  failovers: Array<
    Failover & { takeoverMs: number; firstPollMs: number | undefined; firstWriteMs: number | undefined }
  >;
  writesByWriter: Record<string, number>;
  scaleWrites: number;
  violations: number;
  rejected: number;
  fenced: Record<string, { sent: number; refused: number }>;
}

/** One line per drill run, to stderr and (when HA_DRILL_RESULTS names a file) appended as JSON. */
export function recordNumbers(drill: string, report: SingleWriterReport, replicas: Replica[]): DrillNumbers {
  const numbers: DrillNumbers = {
    drill,
    failovers: failovers(report).map((f) => ({
      ...f,
      takeoverMs: f.acquiredAt - f.lastRenewalAt,
      firstPollMs: f.firstPollAt === undefined ? undefined : f.firstPollAt - f.lastRenewalAt,
      firstWriteMs: f.firstWriteAt === undefined ? undefined : f.firstWriteAt - f.lastRenewalAt,
    })),
    writesByWriter: {},
    scaleWrites: report.writes.filter((w) => w.kind === 'scale').length,
    violations: report.violations.length,
    rejected: report.rejected,
    fenced: Object.fromEntries(replicas.map((r) => [r.identity, r.fencedWrites()])),
  };
  for (const w of report.writes)
    numbers.writesByWriter[w.writer] = (numbers.writesByWriter[w.writer] ?? 0) + 1;
  const line = `[ha-drill] ${drill}: failovers ${numbers.failovers
    .map(
      (f) =>
        `${f.from}→${f.to} takeover ${f.takeoverMs} ms, first poll ${f.firstPollMs ?? '-'} ms ` +
        `(after ${f.renewalsBeforeFirstPoll ?? '-'} renewals), first write ${f.firstWriteMs ?? '-'} ms`,
    )
    .join(
      '; ',
    )}; scale writes ${numbers.scaleWrites}; writes ${JSON.stringify(numbers.writesByWriter)}; violations ${numbers.violations}; refused by the API server ${numbers.rejected}; fenced ${JSON.stringify(numbers.fenced)}`;
  process.stderr.write(`${line}\n`);
  const file = process.env.HA_DRILL_RESULTS;
  if (file) writeFileSync(file, `${JSON.stringify(numbers)}\n`, { flag: 'a' });
  return numbers;
}
