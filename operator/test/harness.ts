// Helpers for the operator's integration tests on the real local stack: install the CRD from
// manifests/, create Deployments, streams, consumers and EventConsumers, read them back, run the
// operator in-process or as a child process, and publish / acknowledge messages.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { AckPolicy, jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { crdEstablished } from '../../hack/stack/crd-established.js';
import { startNatsServer, type NatsServer } from '../../hack/stack/nats-server.js';
import { diesWithThisProcess } from '../../hack/stack/dies-with-parent.js';
import { repoRoot, toolPath } from '../../hack/stack/tools.js';
import { createNamespace, eventually, kubeConfig, testStack } from '../../test/env.js';
import { compiledOperatorEntry } from './compiled-operator.js';
import type { EventConsumerObject, EventConsumerStatus } from '../src/api/v1alpha1/event-consumer.js';
import { eventConsumerPath, eventConsumersPath } from '../src/api/v1alpha1/group-version.js';
import { ConnectionPool } from '../src/backlog/connection-pool.js';
import { NatsBacklogSources } from '../src/backlog/nats-backlog-sources.js';
import { Reconciler, type ReconcilerDeps } from '../src/controller/reconciler.js';
import { EventRecorder } from '../src/kube/event-recorder.js';
import { ScaleClient } from '../src/kube/scale-client.js';
import { SecretReader } from '../src/kube/secret-reader.js';
import { silentLogger, type Logger } from '../src/observability/logger.js';
import { OperatorMetrics } from '../src/observability/metrics.js';
import type { OperatorConfig } from '../src/config/config.js';
import { loadConfig } from '../src/config/config.js';
import { KubeApiClient } from '../src/kube/api-client.js';
import { createLogger } from '../src/observability/logger.js';
import { runOperator, type RunningOperator } from '../src/run-operator.js';

const run = promisify(execFile);

export { repoRoot };

let api: KubeApiClient | undefined;
export function kubeApi(): KubeApiClient {
  api ??= new KubeApiClient(kubeConfig());
  return api;
}

/** Closes the shared API client's keep-alive sockets so jest can exit. */
export function closeKubeApi(): void {
  api?.close();
  api = undefined;
}

/** Applies manifests/crd (server-side, idempotent) and waits until the API serves it. */
export async function installCrd(): Promise<void> {
  const env = { ...process.env, KUBECONFIG: testStack().kubeconfigPath };
  const kubectl = toolPath('kubectl');
  await run(
    kubectl,
    [
      'apply',
      '--server-side',
      '--force-conflicts',
      '--field-manager=jetscale-tests',
      '-f',
      path.join(repoRoot, 'manifests/crd/jetscale.io_eventconsumers.yaml'),
    ],
    { env },
  );
  await crdEstablished(testStack().kubeconfigPath, 'eventconsumers.jetscale.io', 30_000);
}

export async function createDeployment(namespace: string, name: string, replicas: number): Promise<void> {
  await kubeApi().request('POST', `/apis/apps/v1/namespaces/${namespace}/deployments`, {
    body: {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace },
      spec: {
        replicas,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: { containers: [{ name: 'worker', image: 'jetscale/fake-worker' }] },
        },
      },
    },
  });
}

/**
 * Until the Deployment is at rest: its controller has written everything it will for the current
 * spec (status.observedGeneration = metadata.generation; replicas, updated, ready and available all
 * = spec.replicas), and the API server's watch cache (a resourceVersion=0 read, as the operator's
 * scale reads are served) is at the same resourceVersion as etcd. A test that counts the writes or
 * admission calls of one poll needs this: a poll that reads a stale copy meets a 409 on its write,
 * reads again and writes again (a second admission call), which is right, but not what it counts.
 */
export async function deploymentAtRest(namespace: string, name: string): Promise<void> {
  type Deployment = {
    metadata?: { generation?: number; resourceVersion?: string };
    spec?: { replicas?: number };
    status?: {
      observedGeneration?: number;
      replicas?: number;
      updatedReplicas?: number;
      readyReplicas?: number;
      availableReplicas?: number;
    };
  };
  const path = `/apis/apps/v1/namespaces/${namespace}/deployments/${name}`;
  await eventually(
    `Deployment ${namespace}/${name} at rest`,
    async () => {
      const d = await kubeApi().request<Deployment>('GET', path);
      const want = d.spec?.replicas ?? 1;
      const s = d.status ?? {};
      const settled =
        s.observedGeneration === d.metadata?.generation &&
        [s.replicas, s.updatedReplicas, s.readyReplicas, s.availableReplicas].every((n) => (n ?? 0) === want);
      if (!settled) return undefined;
      const cached = await kubeApi().request<Deployment>('GET', path, { query: { resourceVersion: '0' } });
      return cached.metadata?.resourceVersion === d.metadata?.resourceVersion ? true : undefined;
    },
    30_000,
    200,
  );
}

export async function specReplicas(namespace: string, name: string): Promise<number> {
  const d = await kubeApi().request<{ spec?: { replicas?: number } }>(
    'GET',
    `/apis/apps/v1/namespaces/${namespace}/deployments/${name}`,
  );
  return d.spec?.replicas ?? 0;
}

/**
 * What a GitOps tool (Argo CD, Flux) or another controller does: server-side apply of a Deployment
 * manifest that says `replicas`, with its own field manager (forced: it takes the field over).
 */
export async function applyReplicas(
  namespace: string,
  name: string,
  replicas: number,
  fieldManager: string,
): Promise<void> {
  await kubeApi().request('PATCH', `/apis/apps/v1/namespaces/${namespace}/deployments/${name}`, {
    contentType: 'application/apply-patch+yaml',
    query: { fieldManager, force: true },
    body: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name }, spec: { replicas } },
  });
}

export async function setReplicas(namespace: string, name: string, replicas: number): Promise<void> {
  await kubeApi().request('PATCH', `/apis/apps/v1/namespaces/${namespace}/deployments/${name}/scale`, {
    body: { spec: { replicas } },
  });
}

export interface EventConsumerFixture {
  namespace: string;
  name: string;
  target: string;
  servers: string[];
  stream: string;
  consumer: string;
  extra?: Record<string, unknown>;
}

export function eventConsumerBody(f: EventConsumerFixture): Record<string, unknown> {
  return {
    apiVersion: 'jetscale.io/v1alpha1',
    kind: 'EventConsumer',
    metadata: { name: f.name, namespace: f.namespace },
    spec: {
      scaleTargetRef: { name: f.target },
      nats: { servers: f.servers, stream: f.stream, consumer: f.consumer },
      ...f.extra,
    },
  };
}

export async function createEventConsumer(f: EventConsumerFixture): Promise<void> {
  await kubeApi().request('POST', eventConsumersPath(f.namespace), { body: eventConsumerBody(f) });
}

export async function eventConsumerStatus(namespace: string, name: string): Promise<EventConsumerStatus> {
  const ec = await kubeApi().request<{ status?: EventConsumerStatus }>(
    'GET',
    eventConsumerPath(namespace, name),
  );
  return ec.status ?? {};
}

export function condition(
  status: EventConsumerStatus,
  type: string,
): { status: string; reason: string; message: string } | undefined {
  return status.conditions?.find((c) => c.type === type);
}

export interface KubeEvent {
  reason?: string;
  message?: string;
  type?: string;
  reportingInstance?: string;
  involvedObject?: { name?: string; kind?: string };
}

export async function eventsFor(namespace: string, name: string): Promise<KubeEvent[]> {
  const list = await kubeApi().request<{ items: KubeEvent[] }>(
    'GET',
    `/api/v1/namespaces/${namespace}/events`,
  );
  return list.items.filter(
    (e) => e.involvedObject?.kind === 'EventConsumer' && e.involvedObject.name === name,
  );
}

/** Creates the Secret, or replaces it when it exists (a rotation). */
export async function putSecret(
  namespace: string,
  name: string,
  stringData: Record<string, string>,
): Promise<void> {
  const body = { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, stringData };
  const base = `/api/v1/namespaces/${namespace}/secrets`;
  try {
    await kubeApi().request('POST', base, { body });
  } catch {
    await kubeApi().request('PUT', `${base}/${name}`, { body });
  }
}

/** Until the Deployment `name` is asked for `n` replicas. */
export function replicasReach(namespace: string, name: string, n: number, timeoutMs = 30_000): Promise<true> {
  return eventually(
    `${name} at ${n} replicas`,
    async () => ((await specReplicas(namespace, name)) === n ? true : undefined),
    timeoutMs,
  );
}

/** Until the EventConsumer's Ready condition has `reason`; its message. A timeout says what it said instead. */
export async function readyReason(
  namespace: string,
  name: string,
  reason: string,
  timeoutMs = 30_000,
): Promise<string> {
  const status = await eventually(
    `${name}: Ready with reason ${reason}`,
    async () => {
      const ready = condition(await eventConsumerStatus(namespace, name), 'Ready');
      if (ready?.reason === reason) return ready;
      throw new Error(`Ready is ${ready?.status} ${ready?.reason}: ${ready?.message}`);
    },
    timeoutMs,
  );
  return status.message;
}

/**
 * A configuration mistake whose reads already fail: over `seconds` (several polls) its Fallback
 * condition is never True, and not always one that counts its failures toward fallback
 * (BelowFailureThreshold, NotConfigured: what decide.ts says of an unreachable NATS only), and the
 * replicas stay. Judged from the condition rather than by waiting out fallback's 20 s floor
 * (FALLBACK_MIN_OUTAGE_SECONDS): a read misclassified as NatsUnreachable says BelowFailureThreshold
 * at every poll, while a read that times out now and then on a loaded machine says it at that
 * poll only. (A Secret judged unusable before any read leaves the condition as it was.)
 */
export async function heldWithoutFallback(
  namespace: string,
  name: string,
  replicas: number,
  seconds = 4,
): Promise<void> {
  const seen: string[] = [];
  let notCounting = false;
  const until = Date.now() + seconds * 1000;
  do {
    const fallback = condition(await eventConsumerStatus(namespace, name), 'Fallback');
    seen.push(`${fallback?.status} ${fallback?.reason}: ${fallback?.message}`);
    if (fallback?.status === 'True') throw new Error(`${name} fell back: ${seen.at(-1)}`);
    if (fallback?.reason !== 'BelowFailureThreshold' && fallback?.reason !== 'NotConfigured')
      notCounting = true;
    await sleep(250);
  } while (Date.now() < until);
  if (!notCounting)
    throw new Error(`${name}: every failed poll counted toward fallback: ${[...new Set(seen)].join('; ')}`);
  expect(await specReplicas(namespace, name)).toBe(replicas);
}

/** A stream with one subject and a durable pull consumer (explicit ack). */
/**
 * A nats-server of its own with one account (APP, JetStream enabled) and two users connected:
 * `admin`, who may do anything, and `reader`, who may only ask CONSUMER.INFO and STREAM.INFO and
 * hear the replies, so every subscription to an advisory (drops at max_deliver, stream edits) is
 * refused to it. `stop` closes both connections, stops the server and removes its directory.
 */
export async function startReaderOnlyServer(): Promise<{
  server: NatsServer;
  admin: NatsConnection;
  reader: NatsConnection;
  stop: () => Promise<void>;
}> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jetscale-reader-only-'));
  const pass = 'pw-reader-only';
  const server = await startNatsServer({
    dir,
    config: `
accounts { APP: { jetstream: enabled, users: [
  { user: admin, password: "${pass}" }
  { user: reader, password: "${pass}", permissions: {
      publish: { allow: ["$JS.API.CONSUMER.INFO.*.*", "$JS.API.STREAM.INFO.*"] }
      subscribe: { allow: ["_INBOX.>"] } } }
] } }
`,
  });
  const admin = await connect({ servers: server.url, user: 'admin', pass });
  const reader = await connect({ servers: server.url, user: 'reader', pass });
  return {
    server,
    admin,
    reader,
    stop: async () => {
      await reader.close();
      await admin.close();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function createStreamAndConsumer(
  nc: NatsConnection,
  stream: string,
  consumer: string,
): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
  await jsm.consumers.add(stream, {
    durable_name: consumer,
    ack_policy: AckPolicy.Explicit,
    ack_wait: 60_000_000_000,
  });
}

/** JetStream publishes publish() keeps awaiting their ack at once. */
const PUBLISH_WINDOW = 100;
/**
 * How long publish() waits for one ack. nats.js waits 5 s by default, counted from the send: with
 * every message sent at once (real-clients.int, 4 × 1,500 standing at its start), the last acks
 * of the queue came later than that at load ~40 (TimeoutError, 4 of 20 combinations failed before
 * the operator decided anything), and a process stalled for 5 s fails every publish in flight.
 */
const PUBLISH_ACK_TIMEOUT_MS = 60_000;

/**
 * Stores `count` messages on `<stream>.event` (body `m<i>`, or `body`), each acknowledged by the
 * stream: PUBLISH_WINDOW in flight at a time, each given PUBLISH_ACK_TIMEOUT_MS.
 */
export async function publish(
  nc: NatsConnection,
  stream: string,
  count: number,
  body?: string,
): Promise<void> {
  const js = jetstream(nc);
  let next = 0;
  const sender = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      await js.publish(`${stream}.event`, body ?? `m${i}`, { timeout: PUBLISH_ACK_TIMEOUT_MS });
    }
  };
  await Promise.all(Array.from({ length: Math.min(PUBLISH_WINDOW, count) }, sender));
}

/** Core publishes sent at once by publishStored: half a stream's ingest queue (see there). */
const STORED_CHUNK = 5_000;

/**
 * Stores `count` messages in `stream` (on `subject(i)` for the i-th) by core publishes: no ack
 * each, fast enough for 10^6. Sent in chunks the stream has stored before the next is sent:
 * nats-server drops the core publishes beyond a stream's ingest queue (10,000 messages by
 * default; "Dropping messages due to excessive stream ingest rate ... IPQ len limit reached"),
 * and 10^6 sent at once left a stream ~10 % short. Throws if they are not stored by `timeoutMs`.
 */
export async function publishStored(
  nc: NatsConnection,
  jsm: JetStreamManager,
  stream: string,
  count: number,
  subject: (i: number) => string,
  timeoutMs: number,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  const before = (await jsm.streams.info(stream)).state.messages;
  for (let sent = 0; sent < count;) {
    const chunk = Math.min(STORED_CHUNK, count - sent);
    for (let i = sent; i < sent + chunk; i++) nc.publish(subject(i), 'm');
    await nc.flush();
    sent += chunk;
    for (;;) {
      const stored = (await jsm.streams.info(stream)).state.messages - before;
      if (stored >= sent) break;
      if (performance.now() > deadline)
        throw new Error(`${stored} of the ${sent} messages sent stored in ${stream} after ${timeoutMs} ms`);
      await sleep(10);
    }
  }
}

/** Fetches and acknowledges up to `count` messages (the work a consumer would do). */
export async function consumeAndAck(
  nc: NatsConnection,
  stream: string,
  consumer: string,
  count: number,
): Promise<number> {
  const c = await jetstream(nc).consumers.get(stream, consumer);
  let done = 0;
  while (done < count) {
    const batch = await c.fetch({ max_messages: Math.min(500, count - done), expires: 1000 });
    let got = 0;
    for await (const m of batch) {
      m.ack();
      got++;
    }
    done += got;
    if (got === 0) break;
  }
  await nc.flush();
  return done;
}

/** Runs the operator in this process, watching one namespace, without leader election. */
/** A Reconciler on the real API server and NATS, driven by the test instead of a controller. */
export interface DirectReconciler {
  metrics: OperatorMetrics;
  /**
   * One poll as the controller runs it: reads the EventConsumer into the cache, reconciles (again
   * at once while it asks to, at most 5 times) and waits until its status is written.
   */
  poll(namespace: string, name: string): Promise<void>;
  /** Forgets every EventConsumer and closes the NATS connections it opened. */
  close(): Promise<void>;
}

export function directReconciler(
  instance: string,
  options: {
    /** The reconciler's wall clock (Date.now): moved back, it plays a NATS server whose clock is ahead. */
    wallClock?: () => number;
    /** How often an idle EventConsumer re-reads a settled target (the Reconciler's default: 15 s). */
    targetRefreshMs?: number;
    /** The reconciler's logger (default: silent). */
    logger?: Logger;
    /** When it yields to another writer of the target's replicas, and retakes it (the Reconciler's default: TUG_OF_WAR). */
    tugOfWar?: ReconcilerDeps['tugOfWar'];
  } = {},
): DirectReconciler {
  const api = kubeApi();
  const metrics = new OperatorMetrics({ processMetrics: false });
  const pool = new ConnectionPool({ logger: silentLogger, metrics, connectTimeoutMs: 2000 });
  let cached: EventConsumerObject | undefined;
  const reconciler = new Reconciler({
    cache: { get: () => cached },
    api,
    scale: new ScaleClient(api),
    secrets: new SecretReader(api),
    backlog: new NatsBacklogSources(pool, { timeoutMs: 2000, metrics }),
    events: new EventRecorder({ api, logger: silentLogger, instance }),
    metrics,
    logger: options.logger ?? silentLogger,
    ...(options.wallClock !== undefined ? { wallClock: options.wallClock } : {}),
    ...(options.targetRefreshMs !== undefined ? { targetRefreshMs: options.targetRefreshMs } : {}),
    ...(options.tugOfWar !== undefined ? { tugOfWar: options.tugOfWar } : {}),
  });
  return {
    metrics,
    async poll(namespace, name) {
      cached = await kubeApi().request<EventConsumerObject>('GET', eventConsumerPath(namespace, name));
      for (let attempt = 0; attempt < 5; attempt++) {
        if ((await reconciler.reconcile(`${namespace}/${name}`)).requeueAfterMs !== 0) break;
      }
      await reconciler.statusSettled();
    },
    async close() {
      reconciler.forgetAll();
      await pool.closeAll();
    },
  };
}

/**
 * What a drill that drives one Reconciler against the real stack works in: a namespace, a NATS
 * connection, streams of its own (deleted at the end) and a directReconciler. Filled in by the
 * beforeAll that useStreamDrill registers; read it inside tests and hooks only.
 */
export interface StreamDrill {
  ns: { name: string; cleanup: () => Promise<void> };
  nc: NatsConnection;
  jsm: JetStreamManager;
  direct: DirectReconciler;
  /** Streams deleted at the end: those created at the start, and any a test adds. */
  streams: string[];
  /** One poll of an EventConsumer in the drill's namespace (directReconciler's poll). */
  poll(name: string): Promise<void>;
  /**
   * A new stream named after `name` (deleted at the end) with a durable pull consumer "worker"
   * (explicit ack, ack_wait 60 s: nothing in these drills acks) and `backlog` messages published;
   * returns the stream's name.
   */
  addStream(name: string, backlog?: number): Promise<string>;
  /**
   * A Deployment `name` of 1 replica and an EventConsumer `name` scaling it from `consumer`
   * (default `name`) on `stream`, maxReplicas 20 and backlogPerReplica 100 unless `extra` says else.
   */
  addTarget(
    name: string,
    stream: string,
    options?: { consumer?: string; extra?: Record<string, unknown> },
  ): Promise<void>;
}

/**
 * Registers the beforeAll and afterAll of a drill: the CRD, namespace `namespace`, a NATS
 * connection, a stream on subjects `<stream>.>` for each of `streams`, and a directReconciler whose
 * Events say `instance`; afterAll undoes them. Register hooks that must run before the connection
 * closes (clients of its own, timers) before calling this: afterAll hooks run in that order.
 */
export function useStreamDrill(options: {
  namespace: string;
  instance: string;
  streams?: string[];
}): StreamDrill {
  const drill = {
    streams: [...(options.streams ?? [])],
    poll: (name: string) => drill.direct.poll(drill.ns.name, name),
    addStream: async (name: string, backlog = 0) => {
      const stream = streamName(name);
      drill.streams.push(stream);
      await drill.jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
      await drill.jsm.consumers.add(stream, {
        durable_name: 'worker',
        ack_policy: AckPolicy.Explicit,
        ack_wait: 60_000_000_000,
      });
      if (backlog > 0) await publish(drill.nc, stream, backlog);
      return stream;
    },
    addTarget: async (name, stream, options = {}) => {
      await createDeployment(drill.ns.name, name, 1);
      await createEventConsumer({
        namespace: drill.ns.name,
        name,
        target: name,
        servers: [testStack().natsUrl],
        stream,
        consumer: options.consumer ?? name,
        extra: { maxReplicas: 20, backlogPerReplica: 100, ...options.extra },
      });
    },
  } as StreamDrill;
  beforeAll(async () => {
    await installCrd();
    drill.ns = await createNamespace(options.namespace);
    drill.nc = await connect({ servers: testStack().natsUrl });
    drill.jsm = await jetstreamManager(drill.nc);
    for (const stream of drill.streams)
      await drill.jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
    drill.direct = directReconciler(options.instance);
  });
  afterAll(async () => {
    await drill.direct?.close();
    for (const stream of drill.streams) await drill.jsm?.streams.delete(stream).catch(() => undefined);
    await drill.nc?.close();
    await drill.ns?.cleanup();
    closeKubeApi();
  });
  return drill;
}

export async function startInProcessOperator(
  namespace: string,
  overrides: Partial<OperatorConfig> = {},
  /** Receives every log line at debug level (the per-poll decision trace) instead of stdout. */
  logSink?: (line: string) => void,
): Promise<RunningOperator> {
  const config: OperatorConfig = {
    ...loadConfig({
      JETSCALE_NAMESPACES: namespace,
      JETSCALE_LEADER_ELECTION: 'false',
      JETSCALE_METRICS_HOST: '127.0.0.1',
      JETSCALE_METRICS_PORT: '0',
    }),
    ...overrides,
  };
  const logger =
    logSink === undefined
      ? // To the test file's trace (reports/traces/, test/integration-environment.js), not the CI log.
        createLogger({
          level: (process.env.JETSCALE_TEST_LOG_LEVEL as 'debug' | undefined) ?? 'error',
          write: (line) => console.log(line),
        })
      : createLogger({ level: 'debug', write: logSink });
  return runOperator(config, kubeConfig(), logger);
}

export interface OperatorProcess {
  child: ChildProcess;
  identity: string;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM unless it has already exited, then its exit. */
  stop(): Promise<void>;
}

/**
 * Runs the compiled operator as a child process (`node dist/operator/src/main.js`; see
 * compiled-operator.ts). Its output is piped to this process and kept for output(), or, with
 * `logFile`, appended to that file (output() reads it back). A pipe is written synchronously on
 * Linux: when this process falls behind reading it (a busy jest event loop), the operator's log
 * writes block and its polls with them. A file never blocks the writer, so a test that loads its
 * own process and judges the operator's polls (real-clients.int) gives it one and tails it.
 */
export function spawnOperator(
  identity: string,
  env: Record<string, string>,
  options: { logFile?: string } = {},
): OperatorProcess {
  const operator = diesWithThisProcess(process.execPath, [compiledOperatorEntry()]);
  const logFd = options.logFile === undefined ? undefined : openSync(options.logFile, 'a');
  const child = spawn(operator.command, operator.args, {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      KUBECONFIG: testStack().kubeconfigPath,
      JETSCALE_POD_NAME: identity,
      JETSCALE_METRICS_HOST: '127.0.0.1',
      JETSCALE_METRICS_PORT: '0',
      JETSCALE_LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', logFd ?? 'pipe', logFd ?? 'pipe'],
  });
  // The child has its own copy of the descriptor.
  if (logFd !== undefined) closeSync(logFd);
  let piped = '';
  child.stdout?.on('data', (d: Buffer) => (piped += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (piped += d.toString()));
  const out = (): string =>
    options.logFile === undefined
      ? piped
      : existsSync(options.logFile)
        ? readFileSync(options.logFile, 'utf8')
        : '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  return { child, identity, output: out, exited, stop };
}

/** Until the spawned operator has logged "operator started": the port its metrics listen on. */
export async function startedMetricsPort(operator: OperatorProcess): Promise<number> {
  const started = await eventually(
    'the operator to start',
    async () =>
      operator
        .output()
        .split('\n')
        .find((l) => l.includes('"operator started"')),
    60_000,
  );
  return (JSON.parse(started) as { metricsPort: number }).metricsPort;
}

/** The Lease's holder and resourceVersion (which changes at every renewal), or undefined. */
export async function leaseRecord(
  namespace: string,
  name: string,
): Promise<{ holder: string; resourceVersion: string } | undefined> {
  try {
    const lease = await kubeApi().request<{
      metadata?: { resourceVersion?: string };
      spec?: { holderIdentity?: string };
    }>('GET', `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${name}`);
    return {
      holder: lease.spec?.holderIdentity ?? '',
      resourceVersion: lease.metadata?.resourceVersion ?? '',
    };
  } catch {
    return undefined;
  }
}

export async function leaseHolder(namespace: string, name: string): Promise<string | undefined> {
  try {
    const lease = await kubeApi().request<{ spec?: { holderIdentity?: string } }>(
      'GET',
      `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${name}`,
    );
    return lease.spec?.holderIdentity ?? '';
  } catch {
    return undefined;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A stream name unique to this run (JetStream names: no dots or dashes needed). */
export function streamName(prefix: string): string {
  return `${prefix}_${Math.random().toString(16).slice(2, 10)}`.toUpperCase();
}

/**
 * Blocks this process's event loop for `ms` when it next writes a CONSUMER.INFO request, before the
 * write, as a busy operator's is (GC, many tenants, a loaded node): the reading was stamped when
 * its request was made, and the server takes it `ms` later.
 */
export function stallBeforeNextConsumerInfo(nc: NatsConnection, ms: number): void {
  const transport = (nc as unknown as { protocol: { transport: { send(frame: Uint8Array): void } } }).protocol
    .transport;
  const send = transport.send.bind(transport);
  transport.send = (frame: Uint8Array): void => {
    if (Buffer.from(frame).includes('$JS.API.CONSUMER.INFO.')) {
      transport.send = send;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    }
    send(frame);
  };
}

/**
 * A tenant beside the one a drill harms: its own namespace, stream and consumer, a Deployment at 1
 * replica and an EventConsumer on it (backlogPerReplica 100 by default, polled every `pollMs`).
 * `scalesTo` publishes `count` and returns the ms until the Deployment has `replicas`.
 */
export interface HealthyTenant {
  namespace: string;
  stream: string;
  pollMs: number;
  scalesTo(count: number, replicas: number): Promise<number>;
  cleanup(): Promise<void>;
}

export async function healthyTenant(
  nc: NatsConnection,
  namespacePrefix: string,
  options: { pollMs?: number; scaleTimeoutMs: number },
): Promise<HealthyTenant> {
  const pollMs = options.pollMs ?? 2000;
  const ns = await createNamespace(namespacePrefix);
  const stream = streamName(namespacePrefix.replace(/[^a-z0-9]/gi, ''));
  await createStreamAndConsumer(nc, stream, 'worker');
  await createDeployment(ns.name, 'healthy', 1);
  await createEventConsumer({
    namespace: ns.name,
    name: 'healthy',
    target: 'healthy',
    servers: [testStack().natsUrl],
    stream,
    consumer: 'worker',
    extra: { pollInterval: `${pollMs / 1000}s` },
  });
  return {
    namespace: ns.name,
    stream,
    pollMs,
    scalesTo: async (count, replicas) => {
      await publish(nc, stream, count);
      const published = Date.now();
      await eventually(
        `the healthy tenant's Deployment at ${replicas}`,
        async () => ((await specReplicas(ns.name, 'healthy')) === replicas ? true : undefined),
        options.scaleTimeoutMs,
        100,
      );
      return Date.now() - published;
    },
    cleanup: async () => {
      await ns.cleanup();
      const jsm = await jetstreamManager(nc);
      await jsm.streams.delete(stream).catch(() => undefined);
    },
  };
}
