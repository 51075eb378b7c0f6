// A first scale-up whose pods consume at once but are counted ready (the Deployment's
// status.readyReplicas) only READY_AFTER_MS later — a readiness probe slower than the consumer loop,
// a loaded kubelet. The per-replica capacity the operator learns then must not read high: before
// a6af3bd the first figure was completions ÷ ready replicas, so 1 ready pod and 7 consuming read
// several times what one pod does, and the operator sized the traffic by it (too few replicas).
// Real stack: nats-server, the control plane, the compiled operator (its per-poll decision trace at
// debug level), and nats.go Consume() pods run as processes by the local pod runner on a node the
// test plays kubelet for (hand-node.ts), which counts each pod ready READY_AFTER_MS after it appears
// while the runner starts its process at once. Each replica handles one message every HANDLER_MS
// (at most PER_REPLICA a second); STANDING messages wait and ARRIVAL_PER_SECOND arrive throughout.
// Judged at every poll of the operator, from its own trace:
// - the per-replica capacity it uses (rates.perReplicaPerSecond) is never above PER_REPLICA by more
//   than TOLERANCE, during the first scale-up (while fewer are ready than asked for) and after;
// - the scenario happened: at some poll more pods were asked for than ready, and the processing rate
//   was more than the ready ones can do (pods not counted ready were consuming);
// and, read every second, once the backlog has drained and readiness caught up, the replicas never
// fall below NEEDED for STEADY_SECONDS.
import { AckPolicy, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { PodRunner } from '../../loadtest/local/pod-runner.js';
import { createNamespace, eventually, testStack } from '../../test/env.js';
import { compiledOperatorEntry } from './compiled-operator.js';
import {
  createGoConsumerDeployment,
  startGoConsumerRunner,
  steadyPublisher,
  type GoConsumerDeployment,
} from './go-consumer-pods.js';
import { HandNode, onHandNode } from './hand-node.js';
import {
  closeKubeApi,
  createEventConsumer,
  installCrd,
  kubeApi,
  publish,
  sleep,
  spawnOperator,
  streamName,
  type OperatorProcess,
} from './harness.js';

const HANDLER_MS = 50;
const PER_REPLICA = 1000 / HANDLER_MS;
/**
 * How far above PER_REPLICA a figure may read (the pods can only be slower than their handler). The
 * estimator's own bound is 10 % (rates.test, deterministic); here acks bunched into one interval on
 * a loaded CI machine get room, and the over-read this guards against is 7x (137-141/s before
 * a6af3bd), so the test still fails on it by far.
 */
const TOLERANCE = 0.3;
const ARRIVAL_PER_SECOND = 60;
const NEEDED = Math.ceil(ARRIVAL_PER_SECOND / PER_REPLICA);
const STANDING = 3000;
const MAX_REPLICAS = 8;
/** Pods are counted ready this long after they appear; their process starts at once. */
const READY_AFTER_MS = 18_000;
/** Messages each pod's nats.go Consume() holds at most (1 s of its work). */
const PULL_MAX_MESSAGES = PER_REPLICA;
/** Drained: at most this many seconds of arrivals waiting. */
const CAUGHT_UP_SECONDS = 2;
const DRAIN_BOUND_SECONDS = 300;
/**
 * The steady phase: four default scale-down windows (15 s, defaults.ts), twelve default 5 s polls,
 * six time constants of the 10 s arrival smoothing (rates.ts): long enough for the settle from the
 * first scale-up's peak (8 to 4 within 13 s of the drain in the last CI rehearsal) and a step below
 * NEEDED after it, which would wait out one window. Until session 25 it was 90 s.
 */
const STEADY_SECONDS = 60;
const NAME = 'worker';

interface Poll {
  n: number;
  current: number;
  ready: number;
  desired: number;
  perReplica: number | undefined;
  processing: number | undefined;
  why: string;
}

interface Sample {
  t: number;
  replicas: number;
  ready: number;
  pending: number;
}

/** The operator's per-poll decisions for NAME, from its debug log (reconciler.ts logVerdict). */
function decisions(output: string): Poll[] {
  const polls: Poll[] = [];
  for (const line of output.split('\n')) {
    if (!line.includes('"decided"')) continue;
    let entry: {
      msg?: string;
      name?: string;
      current?: number;
      ready?: number;
      desired?: number;
      why?: string;
      rates?: Array<{ perReplicaPerSecond?: number; processingPerSecond?: number } | null>;
    };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      continue;
    }
    if (entry.msg !== 'decided' || entry.name !== NAME) continue;
    const rates = entry.rates?.[0] ?? undefined;
    polls.push({
      n: polls.length + 1,
      current: entry.current ?? NaN,
      ready: entry.ready ?? NaN,
      desired: entry.desired ?? NaN,
      perReplica: rates?.perReplicaPerSecond,
      processing: rates?.processingPerSecond,
      why: entry.why ?? '',
    });
  }
  return polls;
}

const fixed = (n: number | undefined): string => (n === undefined ? '-' : n.toFixed(1));

describe('a first scale-up whose pods consume before they are counted ready', () => {
  let ns: { name: string; cleanup: () => Promise<void> };
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let node: HandNode | undefined;
  let operator: OperatorProcess | undefined;
  let runner: PodRunner | undefined;
  const stream = streamName('readylag');

  beforeAll(async () => {
    // A missing or stale dist/ is refused here, before the minute of set-up, not after it.
    compiledOperatorEntry();
    await installCrd();
    ns = await createNamespace('readylag');
    nc = await connect({ servers: testStack().natsUrl });
    jsm = await jetstreamManager(nc);
    node = new HandNode(`hand-${ns.name}`, ns.name);
    await node.start();
    runner = await startGoConsumerRunner(ns.name, 'jetscale.io/readiness-lag');
  }, 660_000);

  afterAll(async () => {
    await runner?.stop();
    await operator?.stop();
    await node?.stop();
    await jsm?.streams.delete(stream).catch(() => undefined);
    await nc?.close();
    await ns?.cleanup();
    closeKubeApi();
  });

  it('never reads the per-replica capacity high, and holds what the traffic needs once ready', async () => {
    const hand = node as HandNode;
    await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
    await jsm.consumers.add(stream, { durable_name: 'worker', ack_policy: AckPolicy.Explicit });

    await createGoConsumerDeployment({
      namespace: ns.name,
      name: NAME,
      label: 'jetscale.io/readiness-lag',
      env: {
        STREAM: stream,
        CONSUMER: 'worker',
        PULL_MODE: 'consume',
        PULL_MAX_MESSAGES: String(PULL_MAX_MESSAGES),
        HANDLER_MS: String(HANDLER_MS),
      },
      terminationGracePeriodSeconds: 10,
      template: onHandNode(hand.name, READY_AFTER_MS) as GoConsumerDeployment['template'],
    });
    const deploymentPath = `/apis/apps/v1/namespaces/${ns.name}/deployments/${NAME}`;
    const deployment = async (): Promise<{ replicas: number; ready: number }> => {
      const d = await kubeApi().request<{
        spec?: { replicas?: number };
        status?: { readyReplicas?: number };
      }>('GET', deploymentPath);
      return { replicas: d.spec?.replicas ?? 0, ready: d.status?.readyReplicas ?? 0 };
    };
    // The first pod runs at once and is counted ready READY_AFTER_MS later: the operator starts
    // from one ready replica and no capacity figure.
    const created = Date.now();
    await eventually(
      'the first pod running',
      async () => (runner?.running().some((p) => p.pid !== undefined) ? true : undefined),
      60_000,
    );
    await eventually(
      'the first pod counted ready',
      async () => ((await deployment()).ready === 1 ? true : undefined),
      READY_AFTER_MS + 60_000,
      500,
    );
    const firstReadyAfter = (Date.now() - created) / 1000;
    expect(firstReadyAfter).toBeGreaterThanOrEqual(READY_AFTER_MS / 1000 - 1);

    await publish(nc, stream, STANDING);
    const started = Date.now();
    const seconds = (): number => (Date.now() - started) / 1000;

    operator = spawnOperator('readiness-lag', {
      JETSCALE_NAMESPACES: ns.name,
      JETSCALE_LEADER_ELECTION: 'false',
      JETSCALE_LOG_LEVEL: 'debug',
    });
    const op = operator;
    await createEventConsumer({
      namespace: ns.name,
      name: NAME,
      target: NAME,
      servers: [testStack().natsUrl],
      stream,
      consumer: 'worker',
      // The README's fields: pollInterval defaulted (the operator reads sooner while the queue moves).
      extra: { minReplicas: 1, maxReplicas: MAX_REPLICAS, backlogPerReplica: 100 },
    });

    const samples: Sample[] = [];
    const sample = async (): Promise<Sample> => {
      const [d, c] = await Promise.all([deployment(), jsm.consumers.info(stream, 'worker')]);
      const s = { t: Math.round(seconds()), replicas: d.replicas, ready: d.ready, pending: c.num_pending };
      samples.push(s);
      return s;
    };
    const record = (list: Sample[]): string =>
      list.map((s) => `${s.replicas}/${s.ready}r/${s.pending}@${s.t}`).join(' ');
    const trace = (polls: Poll[]): string =>
      polls
        .map(
          (p) =>
            `#${p.n} ${p.current}/${p.ready}r->${p.desired} cap ${fixed(p.perReplica)} proc ${fixed(p.processing)}`,
        )
        .join('\n');

    // Started where the finally below stops it: a publisher left running keeps jest from exiting
    // after a failure (it hung ~17 min once when spawnOperator refused a stale dist/).
    const publisher = steadyPublisher(nc, `${stream}.event`, ARRIVAL_PER_SECOND);
    try {
      // 1. The first scale-up, then the standing backlog drained and readiness caught up.
      let scaledUp = false;
      let settledAt: number | undefined;
      while (settledAt === undefined && seconds() < DRAIN_BOUND_SECONDS) {
        const s = await sample().catch(() => undefined);
        if (s !== undefined && s.replicas > 1) scaledUp = true;
        if (
          s !== undefined &&
          scaledUp &&
          s.ready === s.replicas &&
          s.replicas >= NEEDED &&
          s.pending <= CAUGHT_UP_SECONDS * ARRIVAL_PER_SECOND
        )
          settledAt = s.t;
        await sleep(1000);
      }
      console.log(`settled at ${settledAt ?? '-'} s: ${record(samples)}`);
      expect(scaledUp).toBe(true);
      expect(settledAt).toBeDefined();

      // 2. Steady traffic, every pod counted ready: never below what the arrival rate needs.
      const steadyFrom = samples.length;
      const steadyUntil = seconds() + STEADY_SECONDS;
      while (seconds() < steadyUntil) {
        await sample().catch(() => undefined);
        await sleep(1000);
      }
      const steady = samples.slice(steadyFrom);
      console.log(`steady: ${record(steady)}`);

      const polls = decisions(op.output());
      console.log(`operator polls (current/ready -> desired, capacity, processing):\n${trace(polls)}`);
      // The scenario happened: pods asked for and not counted ready were consuming.
      const lagging = polls.filter(
        (p) =>
          p.current >= p.ready + 2 &&
          p.processing !== undefined &&
          p.processing > 1.5 * p.ready * PER_REPLICA,
      );
      expect(lagging.length).toBeGreaterThan(0);
      // Never read high, at any poll, during the first scale-up and after.
      const figures = polls.filter((p) => p.perReplica !== undefined);
      expect(figures.length).toBeGreaterThan(0);
      const highest = figures.reduce((a, b) => ((b.perReplica ?? 0) > (a.perReplica ?? 0) ? b : a));
      console.log(
        `highest capacity ${fixed(highest.perReplica)}/s at poll #${highest.n} (${highest.current} asked, ${highest.ready} ready); last ${fixed(figures.at(-1)?.perReplica)}/s`,
      );
      for (const p of figures)
        if ((p.perReplica ?? 0) > PER_REPLICA * (1 + TOLERANCE))
          throw new Error(
            `poll #${p.n}: per-replica capacity ${fixed(p.perReplica)}/s for ${PER_REPLICA}/s pods (${p.current} asked, ${p.ready} ready; ${p.why})`,
          );
      expect(Math.min(...steady.map((s) => s.replicas))).toBeGreaterThanOrEqual(NEEDED);
    } finally {
      await publisher.stop();
    }
  }, 900_000);
});
