// Messages a prefetching client holds awaiting ack are queued work (decide.ts 2f), on a real
// nats-server with a real prefetching client: nats.go QueueSubscribe() bound to a push consumer
// with a deliver group (workloads/go-consumer PULL_MODE=push), which the server sends up to
// max_ack_pending (1000) ahead, shared among the group at random. Handlers take HANDLER_MS, one
// message at a time (20/s a replica). STANDING messages are published before the load and land in
// the buffers of the START_REPLICAS running; then ARRIVAL_PER_SECOND arrive for LOAD_SECONDS.
// Once a second the operator's reading of the consumer (sampleFromConsumerInfo) goes to the policy
// (decide), and the test applies the replicas it asks for by starting consumer processes (or
// stopping them with SIGTERM: nats.go drains what it holds), as a Deployment would.
// Judged by latency, not the replica count: by Little's law the mean wait of what is queued is what
// waits (pending + awaiting ack) ÷ the arrival rate, so from JUDGED_FROM_SECONDS on what waits
// must be under QUEUED_SECONDS of arrivals. Not by the oldest message not yet acknowledged (the ack
// floor's next stream sequence), which is printed: a replica taken away by a scale-down strands
// what the server had sent it (nats.go's sub.Drain() on SIGTERM finishes what reached the
// subscription; what was on its way comes back after ack_wait), and that one message then ages
// for ack_wait whatever the policy does (seen here: 7 → 6 replicas at 27 s, the floor stuck from
// 28 s on).
// Before 2f the policy sized for the arrival rate alone ("draining 0 pending within 30s needs 5":
// 80/s × 1.15 at 20/s), and 5 replicas drain the ~1,000 buffered at what they do beyond 80/s,
// 20/s: about 400 still wait at 30 s (more on a loaded machine, where the handlers do less and 5
// barely keep up). With 2f the buffered are drained within drainWithin (30 s): 7 replicas. About
// 45 s.
import { spawn, type ChildProcess } from 'node:child_process';
import { AckPolicy, jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { sampleFromConsumerInfo } from '../src/backlog/jetstream-backlog-source.js';
import { decide, emptyHistory } from '../src/scaling/decide.js';
import { withScalingDefaults } from '../src/scaling/defaults.js';
import type { ScalingDecision } from '../src/scaling/types.js';
import { testStack } from '../../test/env.js';
import { toolPath } from '../../hack/stack/tools.js';
import { sleep, streamName } from './harness.js';

const HANDLER_MS = 50;
const ARRIVAL_PER_SECOND = 80;
const STANDING = 1000;
const START_REPLICAS = 5;
const MAX_REPLICAS = 10;
const LOAD_SECONDS = 38;
/** The buffers drained within drainWithin (30 s) of the first readings leave nothing queued after this. */
const JUDGED_FROM_SECONDS = 30;
/** From JUDGED_FROM_SECONDS on, what waits is at most this many seconds of arrivals (Little's law: the mean wait). */
const QUEUED_SECONDS = 2.5;

interface Reading {
  t: number;
  replicas: number;
  pending: number;
  ackPending: number;
  /** Seconds the oldest message not yet acknowledged has waited since it was published. */
  oldestWait: number;
  decision: ScalingDecision;
}

describe('a push consumer with a deliver group (nats.go QueueSubscribe()) at a steady rate: the latency of what its clients buffer', () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const stream = streamName('PREFETCH');
  const consumers: ChildProcess[] = [];
  const readings: Reading[] = [];

  const startConsumer = (): void => {
    const child = spawn(toolPath('jetscale-go-consumer'), [], {
      env: {
        ...process.env,
        NATS_URL: testStack().natsUrl,
        STREAM: stream,
        CONSUMER: 'worker',
        PULL_MODE: 'push',
        HANDLER_MS: String(HANDLER_MS),
        POD_NAME: `prefetch-${consumers.length}`,
      },
      stdio: 'ignore',
    });
    consumers.push(child);
  };

  beforeAll(async () => {
    nc = await connect({ servers: testStack().natsUrl });
    jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
    await jsm.consumers.add(stream, {
      durable_name: 'worker',
      ack_policy: AckPolicy.Explicit,
      ack_wait: 120_000_000_000,
      max_ack_pending: 1000,
      deliver_subject: `deliver.${stream}`,
      deliver_group: 'workers',
      filter_subject: `${stream}.work`,
    });
    const publishedAt: number[] = [];
    const publishOne = async (): Promise<void> => {
      const at = performance.now();
      const ack = await js.publish(`${stream}.work`, 'x');
      publishedAt[ack.seq] = at;
    };
    for (let i = 0; i < START_REPLICAS; i++) startConsumer();
    await Promise.all(Array.from({ length: STANDING }, publishOne));
    const start = performance.now();
    let stop = false;
    const inFlight: Promise<void>[] = [];
    const publishing = (async () => {
      let sent = 0;
      while (!stop) {
        const due = Math.floor(((performance.now() - start) / 1000) * ARRIVAL_PER_SECOND);
        for (; sent < due; sent++) inFlight.push(publishOne());
        await sleep(50);
      }
    })();
    const spec = withScalingDefaults({
      minReplicas: 1,
      maxReplicas: MAX_REPLICAS,
      backlogPerReplica: 1_000_000,
      drainWithinSeconds: 30,
    });
    let history = emptyHistory();
    let running = START_REPLICAS;
    let first = true;
    for (let second = 1; second <= LOAD_SECONDS; second++) {
      await sleep(start + second * 1000 - performance.now());
      const now = performance.now();
      const info = await jsm.consumers.info(stream, 'worker');
      const sample = sampleFromConsumerInfo(info, now);
      const oldest = publishedAt[info.ack_floor.stream_seq + 1];
      // The operator's first sight of a running target: its size seeds the stabilization window
      // (decide.ts, recordInitialRecommendation), or the first reading would take 5 to 1.
      if (first) history = { ...history, recommendations: [{ at: now, replicas: running }] };
      first = false;
      const decision = decide({
        spec,
        sample,
        currentReplicas: running,
        readyReplicas: running,
        history,
        now,
      });
      history = decision.history;
      readings.push({
        t: (now - start) / 1000,
        replicas: running,
        pending: sample.pending,
        ackPending: sample.ackPending,
        oldestWait: oldest === undefined ? 0 : (now - oldest) / 1000,
        decision,
      });
      while (running < decision.desiredReplicas) {
        startConsumer();
        running++;
      }
      while (running > decision.desiredReplicas) {
        // The newest first, as a ReplicaSet takes them away; nats.go drains what it holds.
        consumers[running - 1]?.kill('SIGTERM');
        running--;
      }
    }
    stop = true;
    await publishing;
    await Promise.allSettled(inFlight);
  }, 120_000);

  afterAll(async () => {
    for (const c of consumers) if (c.exitCode === null) c.kill('SIGKILL');
    await jsm?.streams.delete(stream).catch(() => undefined);
    await nc?.close();
  });

  it(`the buffered messages are drained: from ${JUDGED_FROM_SECONDS} s on what waits is under ${QUEUED_SECONDS} s of arrivals`, () => {
    console.log(
      `prefetch-latency: t replicas pending awaiting-ack oldest-wait(s)\n${readings
        .map((r) => `${r.t.toFixed(1)} ${r.replicas} ${r.pending} ${r.ackPending} ${r.oldestWait.toFixed(1)}`)
        .join('\n')}\nlast decision: ${readings.at(-1)?.decision.reason ?? ''}`,
    );
    const judged = readings.filter((r) => r.t >= JUDGED_FROM_SECONDS);
    expect(judged.length).toBeGreaterThan(4);
    const late = judged.filter((r) => r.pending + r.ackPending > QUEUED_SECONDS * ARRIVAL_PER_SECOND);
    expect(
      late.map((r) => `${r.t.toFixed(1)} s: ${r.pending} pending, ${r.ackPending} awaiting ack`),
    ).toEqual([]);
    // The readings show the buffers: nearly everything awaits ack, almost nothing is pending.
    expect(readings[0]?.ackPending).toBeGreaterThan(STANDING / 2);
    expect(readings.some((r) => r.decision.reason.includes("awaiting ack in the clients' buffers"))).toBe(
      true,
    );
    expect(Math.max(...readings.map((r) => r.replicas))).toBeLessThanOrEqual(MAX_REPLICAS);
  });
});
