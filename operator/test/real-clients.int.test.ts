// The real-client matrix (issue 10 item 8): consumers built with the clients people use, each with
// its library's default pull settings, scaled by a real operator on the real stack, their pods run
// as processes by the local pod runner on kwok nodes:
//   nats.go Consume() (500 buffered per subscriber) and a Fetch(10) loop — workloads/go-consumer,
//   nats.js consume() (100) and a fetch() loop (100)            — workloads/src/pull-consumer,
// each against the server's default max_ack_pending (1000) and a small one (20). Handlers take
// HANDLER_MS per message, one at a time (20 msg/s per replica); ARRIVAL_PER_SECOND arrive, so
// NEEDED replicas keep up; backlogPerReplica is high, so the policy must size from the arrival
// rate. For every combination: the operator reaches NEEDED replicas, the backlog drains while
// traffic still flows, and everything is acknowledged once it stops.
// On the old policy nats.go Consume() at max_ack_pending 1000 stayed at 2 replicas: 500 buffered
// messages per replica were taken for 500 in flight, so max_ack_pending "allowed" 2.
// All combinations run at once: about 1.5 minutes in all (longer only on a stalled machine).
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { AckPolicy, jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { PodRunner, type RunnerEvent } from '../../loadtest/local/pod-runner.js';
import { createNamespace, eventually, kubeConfig, testStack } from '../../test/env.js';
import { toolPath } from '../../hack/stack/tools.js';
import type { RunningOperator } from '../src/run-operator.js';
import {
  closeKubeApi,
  condition,
  createEventConsumer,
  eventConsumerStatus,
  installCrd,
  kubeApi,
  repoRoot,
  sleep,
  specReplicas,
  startInProcessOperator,
  streamName,
} from './harness.js';

const HANDLER_MS = 50;
const PER_REPLICA = 1000 / HANDLER_MS;
const ARRIVAL_PER_SECOND = 60;
const NEEDED = Math.ceil(ARRIVAL_PER_SECOND / PER_REPLICA);
const MAX_REPLICAS = 2 * NEEDED;
/**
 * The load runs until the consumer has caught up (after at least MIN_LOAD_SECONDS) or for
 * MAX_LOAD_SECONDS: a healthy run stops after about a minute, a stalled machine gets time.
 */
const MIN_LOAD_SECONDS = 60;
const MAX_LOAD_SECONDS = 300;
/** "Drained while traffic flows": at most this many seconds of arrivals pending or awaiting ack. */
const CAUGHT_UP_SECONDS = 2;
const SMALL_MAX_ACK_PENDING = 20;
const BACKLOG_PER_REPLICA = 1000;

interface Client {
  name: string;
  command: (goBinary: string) => string[];
  env: Record<string, string>;
}
const clients: Client[] = [
  { name: 'nats.go Consume()', command: (go) => [go], env: { PULL_MODE: 'consume' } },
  { name: 'nats.go Fetch(10)', command: (go) => [go], env: { PULL_MODE: 'fetch', FETCH_BATCH: '10' } },
  {
    name: 'nats.js consume()',
    command: () => ['node', 'dist/workloads/src/pull-consumer/main.js'],
    env: { PULL_MODE: 'consume' },
  },
  {
    name: 'nats.js fetch()',
    command: () => ['node', 'dist/workloads/src/pull-consumer/main.js'],
    env: { PULL_MODE: 'fetch' },
  },
];
const combos = clients.flatMap((client) =>
  [undefined, SMALL_MAX_ACK_PENDING].map((maxAckPending) => ({
    client,
    maxAckPending,
    label: `${client.name}, max_ack_pending ${maxAckPending ?? '1000 (server default)'}`,
  })),
);
type Combo = (typeof combos)[number];

interface Outcome {
  published: number;
  /** Publishes whose ack did not come (the message may still be stored). */
  publishFailures: number;
  /** The stream's last sequence after the load: every message stored. */
  stored: number;
  /** Readings skipped because a request timed out. */
  skippedReadings: number;
  maxReplicas: number;
  /** Seconds into the load when the Deployment first had NEEDED replicas. */
  reachedNeededAt?: number;
  /** Seconds into the load of the first reading after MIN_LOAD_SECONDS with the backlog drained. */
  caughtUpAt?: number;
  /** Backlog (pending + awaiting ack) readings during the load: [seconds, backlog]. */
  backlog: Array<[number, number]>;
  /** Seconds after the load stopped until nothing was pending or awaiting ack. */
  drainedAfter?: number;
  ackFloorStreamSeq: number;
  limitedBy: Set<string>;
}

const toError = (reason: unknown): Error => (reason instanceof Error ? reason : new Error(String(reason)));

describe('the real-client matrix: default pull settings of nats.go and nats.js', () => {
  let ns: { name: string; cleanup: () => Promise<void> };
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let operator: RunningOperator | undefined;
  let runner: PodRunner | undefined;
  const runnerEvents: RunnerEvent[] = [];
  const streams: string[] = [];
  const outcomes = new Map<string, Outcome | Error>();

  beforeAll(async () => {
    // The nats.go consumer is built like the pinned tools, on demand (seconds when up to date).
    await promisify(execFile)('bash', [path.join(repoRoot, 'hack/tools.sh'), 'go-consumer'], {
      cwd: repoRoot,
      timeout: 600_000,
    });
    const goBinary = toolPath('jetscale-go-consumer');
    const nodeEntry = path.join(repoRoot, 'dist/workloads/src/pull-consumer/main.js');
    if (!existsSync(nodeEntry)) throw new Error(`${nodeEntry} is missing: run \`npm run build\` first`);

    await installCrd();
    ns = await createNamespace('real-clients');
    nc = await connect({ servers: testStack().natsUrl });
    jsm = await jetstreamManager(nc);
    operator = await startInProcessOperator(ns.name);
    runner = new PodRunner({
      kubeConfig: kubeConfig(),
      namespace: ns.name,
      labelSelector: 'jetscale.io/client-matrix',
      repoRoot,
      serviceAddresses: {},
      portEnv: [],
      logDir: mkdtempSync(path.join(os.tmpdir(), 'jetscale-real-clients-')),
      onEvent: (e) => runnerEvents.push(e),
    });
    await runner.start();

    // All at once; a combination that fails is reported by its own test below, after all finished.
    const settled = await Promise.allSettled(combos.map((combo, i) => run(combo, i, goBinary)));
    settled.forEach((result, i) => {
      const label = combos[i]?.label ?? String(i);
      outcomes.set(label, result.status === 'fulfilled' ? result.value : toError(result.reason));
    });
  }, 600_000);

  afterAll(async () => {
    await runner?.stop();
    await operator?.stop();
    for (const s of streams) await jsm?.streams.delete(s).catch(() => undefined);
    await nc?.close();
    await ns?.cleanup();
    closeKubeApi();
  });

  async function run(combo: Combo, index: number, goBinary: string): Promise<Outcome> {
    const stream = streamName(`matrix${index}`);
    streams.push(stream);
    const name = `client-${index}`;
    await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
    await jsm.consumers.add(stream, {
      durable_name: 'worker',
      ack_policy: AckPolicy.Explicit,
      ...(combo.maxAckPending === undefined ? {} : { max_ack_pending: combo.maxAckPending }),
    });
    await kubeApi().request('POST', `/apis/apps/v1/namespaces/${ns.name}/deployments`, {
      body: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name, namespace: ns.name },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: name } },
          template: {
            metadata: { labels: { app: name, 'jetscale.io/client-matrix': 'true' } },
            spec: {
              terminationGracePeriodSeconds: 30,
              containers: [
                {
                  name: 'consumer',
                  image: 'jetscale/client-matrix:dev',
                  command: combo.client.command(goBinary),
                  env: Object.entries({
                    ...combo.client.env,
                    NATS_URL: testStack().natsUrl,
                    STREAM: stream,
                    CONSUMER: 'worker',
                    HANDLER_MS: String(HANDLER_MS),
                  }).map(([k, v]) => ({ name: k, value: v })),
                },
              ],
            },
          },
        },
      },
    });
    await createEventConsumer({
      namespace: ns.name,
      name,
      target: name,
      servers: [testStack().natsUrl],
      stream,
      consumer: 'worker',
      extra: {
        minReplicas: 1,
        maxReplicas: MAX_REPLICAS,
        pollInterval: '2s',
        // Above what one replica buffers (nats.go: 500), so that the arrival rate, not the
        // KEDA-style backlog floor, sizes the Deployment (a user sizing lagThreshold to their
        // client's prefetch would do the same).
        backlogPerReplica: BACKLOG_PER_REPLICA,
      },
    });
    await eventually(
      `${combo.label}: its first consumer process running`,
      async () => (runner?.running().some((p) => p.labels.app === name && p.pid) ? true : undefined),
      60_000,
    );

    const outcome: Outcome = {
      published: 0,
      publishFailures: 0,
      stored: 0,
      maxReplicas: 0,
      backlog: [],
      skippedReadings: 0,
      ackFloorStreamSeq: 0,
      limitedBy: new Set(),
    };
    const js = jetstream(nc);
    const started = Date.now();
    const seconds = (): number => (Date.now() - started) / 1000;
    // Open-model arrivals: every 100 ms publish what the rate owes by now. On a loaded machine a
    // publish ack can time out although the message was stored: the stream's own count is the
    // truth checked at the end, the failures are only counted.
    const publishing = (async () => {
      const acks: Array<Promise<unknown>> = [];
      while (outcome.caughtUpAt === undefined && seconds() < MAX_LOAD_SECONDS) {
        const owed = Math.floor(seconds() * ARRIVAL_PER_SECOND) - outcome.published;
        for (let k = 0; k < owed; k++) {
          acks.push(
            js.publish(`${stream}.event`, `m${outcome.published++}`).catch(() => {
              outcome.publishFailures++;
            }),
          );
        }
        await sleep(100);
      }
      await Promise.all(acks);
    })();
    let observing = true;
    const observed = (async () => {
      let tick = 0;
      while (observing) {
        const t = seconds();
        // A reading that times out on a stalled machine is skipped, not fatal: the verdict needs
        // only the maximum replicas and the lowest backlog late in the load.
        try {
          const [replicas, info] = await Promise.all([
            specReplicas(ns.name, name),
            jsm.consumers.info(stream, 'worker'),
          ]);
          outcome.maxReplicas = Math.max(outcome.maxReplicas, replicas);
          if (replicas >= NEEDED && outcome.reachedNeededAt === undefined) outcome.reachedNeededAt = t;
          const backlog = info.num_pending + info.num_ack_pending;
          outcome.backlog.push([t, backlog]);
          if (t >= MIN_LOAD_SECONDS && backlog <= CAUGHT_UP_SECONDS * ARRIVAL_PER_SECOND)
            outcome.caughtUpAt ??= t;
          if (tick++ % 3 === 0) {
            const limited = condition(await eventConsumerStatus(ns.name, name), 'ScalingLimited');
            if (limited?.status === 'True') outcome.limitedBy.add(limited.reason);
          }
        } catch {
          outcome.skippedReadings++;
        }
        await sleep(1000);
      }
    })();
    await publishing;
    const stoppedAt = Date.now();
    observing = false;
    await observed;
    const drained = await eventually(
      `${combo.label}: nothing pending or awaiting ack after the load`,
      async () => {
        const info = await jsm.consumers.info(stream, 'worker');
        return info.num_pending + info.num_ack_pending === 0 ? info : undefined;
      },
      120_000,
      500,
    );
    outcome.drainedAfter = (Date.now() - stoppedAt) / 1000;
    outcome.ackFloorStreamSeq = drained.ack_floor.stream_seq;
    outcome.stored = (await jsm.streams.info(stream)).state.last_seq;
    return outcome;
  }

  it.each(combos.map((c) => [c.label]))(
    '%s: reaches the replicas the arrival rate needs and drains the backlog',
    (label) => {
      const o = outcomes.get(label);
      if (o === undefined) throw new Error(`no outcome for ${label}`);
      if (o instanceof Error) throw o;
      // One line per combination for the record (and for anyone reading a failure).
      process.stdout.write(
        `${label}: max ${o.maxReplicas} replicas (needed ${NEEDED} at ${o.reachedNeededAt?.toFixed(0) ?? '-'} s), ` +
          `caught up at ${o.caughtUpAt?.toFixed(0) ?? '-'} s (load stopped then, at most ${MAX_LOAD_SECONDS} s), ` +
          `peak ${Math.max(...o.backlog.map(([, b]) => b))}, drained ${o.drainedAfter?.toFixed(0)} s after, ` +
          `limited by ${[...o.limitedBy].join(',') || 'nothing'}; ${o.stored} stored of ${o.published} published ` +
          `(${o.publishFailures} acks missed), ${o.skippedReadings} readings skipped\n`,
      );
      expect(o.maxReplicas).toBeGreaterThanOrEqual(NEEDED);
      // Drained while traffic still flowed: at most CAUGHT_UP_SECONDS of arrivals left.
      expect(o.caughtUpAt).toBeDefined();
      expect(o.stored).toBeGreaterThanOrEqual(o.published - o.publishFailures);
      expect(o.ackFloorStreamSeq).toBe(o.stored);
      expect(o.limitedBy.has('MaxAckPending')).toBe(false);
    },
  );
});
