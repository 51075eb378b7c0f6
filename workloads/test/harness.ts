// Helpers for the workloads' integration tests: isolated resource names per test on a shared NATS,
// workloads run as real child processes (so SIGKILL / SIGTERM hit the real thing), metrics scraping,
// direct publishing, and clean-up of the streams a test created.
import { jetstreamManager, jetstream, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig, natsSchema, topologyOf, type NatsConfig } from '../src/shared/config.js';
import { readWholeStream } from '../src/shared/stream-reader.js';
import { repoRoot } from '../../hack/stack/tools.js';
import { diesWithThisProcess } from '../../hack/stack/dies-with-parent.js';

export { repoRoot };

/** Environment naming a private set of streams/buckets for one test. */
export function workloadEnv(natsUrl: string, tag: string): Record<string, string> {
  const upper = tag.toUpperCase().replace(/-/g, '_');
  return {
    NATS_URL: natsUrl,
    EVENTS_STREAM: `${upper}_EVENTS`,
    EVENTS_SUBJECT_PREFIX: `${tag}-events`,
    EVENT_LOG_STREAM: `${upper}_LOG`,
    EVENT_LOG_SUBJECT_PREFIX: `${tag}-log`,
    DLQ_STREAM: `${upper}_DLQ`,
    DLQ_SUBJECT_PREFIX: `${tag}-dlq`,
    PROJECTION_BUCKET: `${tag}-projection`,
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'info',
  };
}

export function configOf(env: Record<string, string>): NatsConfig {
  return loadConfig(natsSchema, env);
}

export interface Workload {
  proc: ChildProcess;
  /** The HTTP port, from the "started" log line. */
  port: Promise<number>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  logs: string[];
  kill(signal: NodeJS.Signals): void;
}

/**
 * Where a workload's code comes from: its TypeScript source through tsx (the tests' default), or the
 * JavaScript `npm run build` compiled into `dist/` — what the image runs (the benchmark's `--run built`).
 */
export type WorkloadCode = 'source' | 'built';

/** The node arguments that start one workload of a checkout (throws when the build is missing). */
export function workloadEntry(kind: 'gateway' | 'consumer', root: string, code: WorkloadCode): string[] {
  if (code === 'source') return ['--import', 'tsx', path.join(root, 'workloads', 'src', kind, 'main.ts')];
  const main = path.join(root, 'dist', 'workloads', 'src', kind, 'main.js');
  if (!existsSync(main))
    throw new Error(`${main} is missing: run \`npm run build\` in ${root} first (or run the source)`);
  return [main];
}

/** Starts `workloads/src/<kind>/main.ts` (or its build) as one node process (no npx wrapper, so signals reach it). */
export function startWorkload(
  kind: 'gateway' | 'consumer',
  env: Record<string, string>,
  nodeArgs: string[] = [],
  /** The checkout to run it from (the benchmark's --compare runs another version's consumer). */
  root: string = repoRoot,
  code: WorkloadCode = 'source',
): Workload {
  const workload = diesWithThisProcess(process.execPath, [...nodeArgs, ...workloadEntry(kind, root, code)]);
  const proc = spawn(workload.command, workload.args, {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const logs: string[] = [];
  let resolvePort: (port: number) => void = () => undefined;
  let rejectPort: (err: Error) => void = () => undefined;
  const port = new Promise<number>((resolve, reject) => {
    resolvePort = resolve;
    rejectPort = reject;
  });
  port.catch(() => undefined);
  let buffered = '';
  proc.stderr?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      logs.push(line);
      const m = /"msg":"(gateway|consumer) started","port":(\d+)/.exec(line);
      if (m?.[2]) resolvePort(Number(m[2]));
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => {
      rejectPort(
        new Error(`${kind} exited (${code ?? signal}) before listening:\n${logs.slice(-10).join('\n')}`),
      );
      resolve({ code, signal });
    }),
  );
  return {
    proc,
    port,
    exited,
    logs,
    kill: (signal) => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    },
  };
}

/** Reads one unlabelled (or label-summed) metric value from a Prometheus text page. */
export async function scrapeMetric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) sum += Number(line.split(' ').pop());
  }
  return sum;
}

export interface TestEvent {
  id: string;
  type: string;
  aggregateId: string;
  payload: Record<string, unknown>;
  timestamp: string;
  version?: number;
}

export function makeEvent(id: string, aggregateId: string, extra: Partial<TestEvent> = {}): TestEvent {
  return {
    id,
    type: 'deposit',
    aggregateId,
    payload: { amount: 1 },
    timestamp: new Date().toISOString(),
    ...extra,
  };
}

/** Publishes events straight into the events stream, as the gateway would (msg id = event id). */
export async function publishEvents(
  js: JetStreamClient,
  config: NatsConfig,
  events: TestEvent[],
  window = 500,
): Promise<void> {
  const t = topologyOf(config);
  for (let i = 0; i < events.length; i += window) {
    await Promise.all(
      events
        .slice(i, i + window)
        .map((e) => js.publish(t.eventsSubject(e.aggregateId), JSON.stringify(e), { msgID: e.id })),
    );
  }
}

/** Deletes the streams and buckets of one test (they live on a shared server). */
export async function deleteTopology(nc: NatsConnection, config: NatsConfig): Promise<void> {
  const t = topologyOf(config);
  const jsm = await jetstreamManager(nc);
  for (const stream of [t.eventsStream, t.eventLogStream, t.dlqStream, `KV_${t.projectionBucket}`]) {
    await jsm.streams.delete(stream).catch(() => undefined);
  }
}

/** Counts event-log entries per event id. */
export async function logEntriesById(nc: NatsConnection, config: NatsConfig): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const jsm = await jetstreamManager(nc);
  await readWholeStream(jetstream(nc), jsm, topologyOf(config).eventLogStream, (msg) => {
    const id = (msg.json() as { id: string }).id;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  });
  return counts;
}

/**
 * Write system calls (socket writes included) a process made so far: `syscw` of /proc/<pid>/io
 * (Linux). It also holds the lifetime writes of every child the process has reaped (the kernel adds
 * a child's I/O counters to its parent's when it is reaped): count a process that spawns nothing,
 * never the jest process, where a child of an earlier file exiting in the window adds all of its
 * writes at once (ci8: 461 in js-publisher.int's window).
 */
export function writeSyscalls(pid: number): number {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  const writes = /^syscw: (\d+)$/m.exec(io)?.[1];
  if (writes === undefined) throw new Error(`/proc/${pid}/io has no syscw line`);
  return Number(writes);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
