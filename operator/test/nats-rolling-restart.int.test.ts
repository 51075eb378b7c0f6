// A rolling restart of a 3-node NATS cluster under a running operator (day one: every NATS upgrade,
// every node's OS patch). Each node in turn is stopped (SIGTERM, nats-server's graceful shutdown),
// left down a few seconds and started again on its store, and the next one waits until the stream
// and its consumer have all their replicas current again. The operator was given all three URLs
// and runs with the defaults (pollInterval 5s, fallback after 3 failed polls), then with 1 s polls
// and the same threshold of 3 (fallback waits at least 20 s of failed polls whatever the interval,
// an election with a split vote included: decide.ts FALLBACK_MIN_OUTAGE_SECONDS; before, this case
// needed failureThreshold 15). While a node is down
// its clients reconnect to another, JetStream elects new stream, consumer and meta leaders, and
// requests may be answered "temporarily unavailable" for a moment (the read asks again within 3 s:
// jetstream-backlog-source.ts): none of that is the backlog going away, nor NATS being unreachable
// for long enough to run on fallback replicas. The Deployment must keep the replicas its backlog
// asks for throughout: never fewer, never fallback's. Printed: polls that failed (Ready False).
// At 1 s polls, a poll often lands in a client's reconnect (17-820 ms measured): it must wait for
// the reconnect (connection-pool.ts), so no poll fails for the reconnect itself ("lost the
// connection"); before, such polls failed, and at failureThreshold 3 fell back in 2 of 3 runs.
import { AckPolicy, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNatsCluster, type NatsCluster } from '../../hack/stack/nats-cluster.js';
import { waitFor } from '../../hack/stack/ports.js';
import { createNamespace } from '../../test/env.js';
import { testScratchDir } from '../../test/scratch.js';
import type { RunningOperator } from '../src/run-operator.js';
import {
  closeKubeApi,
  condition,
  createDeployment,
  createEventConsumer,
  eventConsumerStatus,
  installCrd,
  publish,
  sleep,
  specReplicas,
  startInProcessOperator,
  streamName,
} from './harness.js';

const BACKLOG = 500;
const BACKLOG_PER_REPLICA = 100;
const NEEDED = BACKLOG / BACKLOG_PER_REPLICA;
const FALLBACK_REPLICAS = 8;
/** How long each node stays down. */
const DOWN_SECONDS = 4;

describe('a rolling restart of the NATS cluster under a running operator', () => {
  let ns: { name: string; cleanup: () => Promise<void> };
  let cluster: NatsCluster | undefined;
  let nc: NatsConnection | undefined;
  let jsm: JetStreamManager;
  let operator: RunningOperator | undefined;
  const connectionLog: string[] = [];

  beforeAll(async () => {
    await installCrd();
    ns = await createNamespace('op-rolling');
    cluster = await startNatsCluster({ dir: testScratchDir('jetscale-rolling-'), name: 'jetscale-rolling' });
    nc = await connect({ servers: cluster.nodes.map((n) => n.url), waitOnFirstConnect: true });
    jsm = await jetstreamManager(nc, { checkAPI: false });
    // Its connection's story (disconnects, reconnects, the breaker), printed with the verdict.
    operator = await startInProcessOperator(ns.name, {}, (line) => {
      if (/NATS connection|connected to NATS|backlog reads/.test(line))
        connectionLog.push(line.slice(0, 300));
    });
  }, 60_000);

  afterAll(async () => {
    await operator?.stop();
    await nc?.close();
    await cluster?.stop();
    await ns?.cleanup();
    closeKubeApi();
  });

  /**
   * Until the stream and its consumer have a leader and every replica current again, as a rolling
   * restart waits for a node's /healthz before the next (the next node may then go down).
   */
  async function healed(stream: string): Promise<void> {
    const current = (cluster?: {
      leader?: string;
      replicas?: Array<{ current: boolean; offline?: boolean }>;
    }) =>
      cluster?.leader !== undefined &&
      (cluster.replicas ?? []).length === 2 &&
      (cluster.replicas ?? []).every((r) => r.current && r.offline !== true);
    await waitFor(
      `stream ${stream} and its consumer to have a leader and 2 current replicas`,
      async () =>
        current((await jsm.streams.info(stream)).cluster) &&
        current((await jsm.consumers.info(stream, 'work')).cluster)
          ? true
          : undefined,
      60_000,
      250,
    );
  }

  it.each([
    { polls: 'the default 5 s polls', name: 'rolling', pollInterval: undefined, failureThreshold: undefined },
    { polls: '1 s polls', name: 'rolling-fast', pollInterval: '1s', failureThreshold: 3 },
  ])(
    'keeps the replicas the backlog asks for at $polls: never fewer, never fallback',
    async (run) => {
      const stream = streamName(run.name);
      const name = run.name;
      connectionLog.length = 0;
      await waitFor(
        'the cluster to accept an R3 stream',
        async () => {
          try {
            await jsm.streams.add({ name: stream, subjects: [`${stream}.>`], num_replicas: 3 });
            return true;
          } catch {
            return undefined;
          }
        },
        30_000,
        250,
      );
      await jsm.consumers.add(stream, {
        durable_name: 'work',
        ack_policy: AckPolicy.Explicit,
        num_replicas: 3,
      });
      if (nc === undefined || cluster === undefined) throw new Error('no cluster');
      await publish(nc, stream, BACKLOG);
      await createDeployment(ns.name, name, 1);
      await createEventConsumer({
        namespace: ns.name,
        name,
        target: name,
        servers: cluster.nodes.map((n) => n.url),
        stream,
        consumer: 'work',
        extra: {
          minReplicas: 1,
          maxReplicas: 10,
          backlogPerReplica: BACKLOG_PER_REPLICA,
          // The defaults (pollInterval 5s, fallback after failureThreshold 3 failed polls in a row)
          // unless the run sets them.
          ...(run.pollInterval === undefined ? {} : { pollInterval: run.pollInterval }),
          fallback: {
            replicas: FALLBACK_REPLICAS,
            ...(run.failureThreshold === undefined ? {} : { failureThreshold: run.failureThreshold }),
          },
        },
      });
      await waitFor(
        `the Deployment at ${NEEDED} replicas`,
        async () => ((await specReplicas(ns.name, name)) === NEEDED ? true : undefined),
        30_000,
        250,
      );

      // Watch the Deployment and the EventConsumer's conditions through the whole restart.
      const seen = new Map<number, number>();
      const notReady = new Map<string, number>();
      const messages = new Set<string>();
      let fallbackSeen = false;
      let watching = true;
      const watcher = (async () => {
        while (watching) {
          const replicas = await specReplicas(ns.name, name);
          seen.set(replicas, (seen.get(replicas) ?? 0) + 1);
          const status = await eventConsumerStatus(ns.name, name);
          const ready = condition(status, 'Ready');
          if (ready?.status === 'False') {
            notReady.set(ready.reason, (notReady.get(ready.reason) ?? 0) + 1);
            messages.add(`${ready.reason}: ${ready.message}`);
          }
          if (condition(status, 'Fallback')?.status === 'True') fallbackSeen = true;
          await sleep(250);
        }
      })();

      const log: string[] = [];
      for (const node of cluster.nodes) {
        const started = Date.now();
        connectionLog.push(`${new Date().toISOString()} stopping ${node.name} (${node.url})`);
        await node.stop('SIGTERM');
        await sleep(DOWN_SECONDS * 1000);
        await node.start();
        await healed(stream);
        log.push(
          `${node.name} down ${DOWN_SECONDS} s, healed after ${((Date.now() - started) / 1000).toFixed(1)} s`,
        );
      }
      await sleep(3000); // a few polls after the last node is back
      watching = false;
      await watcher;
      console.log(
        `rolling restart at ${run.polls}: ${log.join('; ')}; replicas seen ${JSON.stringify(Object.fromEntries(seen))}; Ready False ${JSON.stringify(Object.fromEntries(notReady))}; fallback ${fallbackSeen}\n${[...messages].join('\n')}\n${connectionLog.join('\n')}`,
      );

      expect([...seen.keys()]).toEqual([NEEDED]);
      expect(fallbackSeen).toBe(false);
      // No poll failed for a reconnect: each waited for it (a real outage says "lost the connection").
      expect([...messages].filter((m) => /lost the connection/.test(m))).toEqual([]);
    },
    240_000,
  );
});
