// A node of a 3-node NATS cluster stops under a running operator at 1 s polls and failureThreshold 3
// (day one: a node's kernel panics, a VM is paused, a pod is OOM-killed). The node led the consumer,
// the stream or the JetStream meta group, and was stopped with SIGKILL (its sockets reset: clients
// see a disconnect) or SIGSTOP (frozen: its sockets stay open and silent, as a hung process or a
// partition). JetStream elects a new leader among the other two within 4–9 s (nats-server raft.go's
// election timeout) and the new leader answers from the replicated state. That is no outage:
// fallback (failureThreshold polls over at least 20 s, decide.ts fallbackOutageSeconds) must not be
// taken, the Deployment must keep the replicas its backlog asks for, every failed poll must say
// NatsUnreachable, and readings must resume on the new leader (a backlog published after the stop
// is seen and scaled for). And a real outage — every node down for longer than fallback waits —
// must still reach fallback: the rule hides elections, never outages. An election that takes longer
// than one round (a split vote waits a new 4–9 s) is played by freezing a follower with the leader
// for 17 s: reads fail for more than the 10 s fallback used to wait, and still no fallback.
import { AckPolicy, jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNatsCluster, type ClusterNode, type NatsCluster } from '../../hack/stack/nats-cluster.js';
import { waitFor } from '../../hack/stack/ports.js';
import { createNamespace } from '../../test/env.js';
import { testScratchDir } from '../../test/scratch.js';
import { eventConsumerPath } from '../src/api/v1alpha1/group-version.js';
import { FALLBACK_MIN_OUTAGE_SECONDS } from '../src/controller/decide.js';
import type { RunningOperator } from '../src/run-operator.js';
import {
  closeKubeApi,
  condition,
  createDeployment,
  createEventConsumer,
  eventConsumerStatus,
  installCrd,
  kubeApi,
  sleep,
  specReplicas,
  startInProcessOperator,
  streamName,
} from './harness.js';

const BACKLOG = 500;
const BACKLOG_PER_REPLICA = 100;
const NEEDED = BACKLOG / BACKLOG_PER_REPLICA;
const FALLBACK_REPLICAS = 8;

type Leader = 'consumer' | 'stream' | 'meta';

describe('a leader of a 3-node NATS cluster stops under a running operator at 1 s polls', () => {
  let ns: { name: string; cleanup: () => Promise<void> };
  let cluster: NatsCluster | undefined;
  /** One connection per node, each to that node only: the test asks a node that is not stopped. */
  const admin = new Map<string, { nc: NatsConnection; jsm: JetStreamManager }>();
  let operator: RunningOperator | undefined;
  const connectionLog: string[] = [];
  /** The longest run of failed polls in the current case: how many, and from the first to the last. */
  const failing = { polls: 0, seconds: 0, since: 0 };

  beforeAll(async () => {
    await installCrd();
    ns = await createNamespace('op-elections');
    cluster = await startNatsCluster({
      dir: testScratchDir('jetscale-elections-'),
      name: 'jetscale-elections',
    });
    for (const node of cluster.nodes) {
      const nc = await connect({ servers: node.url, ignoreClusterUpdates: true, maxReconnectAttempts: -1 });
      admin.set(node.name, { nc, jsm: await jetstreamManager(nc, { checkAPI: false }) });
    }
    operator = await startInProcessOperator(ns.name, {}, (line) => {
      if (/NATS connection|connected to NATS|backlog reads/.test(line))
        connectionLog.push(line.slice(0, 300));
      // Each failed poll is logged with its count in a row: how close a blip came to fallback's 20 s.
      const failed = /"time":"([^"]+)".*"failures":(\d+)/.exec(line);
      if (failed !== null) {
        const at = Date.parse(failed[1] ?? '');
        if (failed[2] === '1') failing.since = at;
        failing.seconds = Math.max(failing.seconds, (at - failing.since) / 1000);
        failing.polls = Math.max(failing.polls, Number(failed[2]));
      }
    });
  }, 60_000);

  afterAll(async () => {
    await operator?.stop();
    for (const { nc } of admin.values()) await nc.close().catch(() => undefined);
    await cluster?.stop();
    await ns?.cleanup();
    closeKubeApi();
  });

  const nodes = (): ClusterNode[] => cluster?.nodes ?? [];
  const node = (name: string | undefined): ClusterNode => {
    const found = nodes().find((n) => n.name === name);
    if (found === undefined) throw new Error(`no node named ${name}`);
    return found;
  };
  /** Nodes stopped with SIGSTOP (or in lame duck mode) and not back: their process may run, but the test asks others. */
  const frozen = new Set<string>();
  /** A node that answers (running, not frozen). */
  const answering = (): ClusterNode => {
    const up = nodes().find((n) => n.running() && !frozen.has(n.name));
    if (up === undefined) throw new Error('no node is running');
    return up;
  };
  /** The test's connection to a node that answers. */
  const adminOn = (): { nc: NatsConnection; jsm: JetStreamManager } => {
    const a = admin.get(answering().name);
    if (a === undefined) throw new Error(`no connection to ${answering().name}`);
    return a;
  };
  const jsmOn = (): JetStreamManager => adminOn().jsm;

  async function leaders(stream: string): Promise<Record<Leader, string | undefined>> {
    const jsm = jsmOn();
    const jsz = (await (await fetch(`${answering().monitorUrl}/jsz`)).json()) as {
      meta_cluster?: { leader?: string };
    };
    return {
      consumer: (await jsm.consumers.info(stream, 'work')).cluster?.leader,
      stream: (await jsm.streams.info(stream)).cluster?.leader,
      meta: jsz.meta_cluster?.leader,
    };
  }

  /** Until the stream and its consumer have a leader and two current replicas on running nodes. */
  async function healed(stream: string): Promise<void> {
    const current = (c?: { leader?: string; replicas?: Array<{ current: boolean; offline?: boolean }> }) =>
      c?.leader !== undefined &&
      (c.replicas ?? []).length === 2 &&
      (c.replicas ?? []).every((r) => r.current && r.offline !== true);
    await waitFor(
      `stream ${stream} and its consumer to have a leader and 2 current replicas`,
      async () => {
        const jsm = jsmOn();
        return current((await jsm.streams.info(stream)).cluster) &&
          current((await jsm.consumers.info(stream, 'work')).cluster)
          ? true
          : undefined;
      },
      60_000,
      250,
    );
  }

  /** An R3 stream and consumer with BACKLOG messages, and an EventConsumer scaling a Deployment to NEEDED. */
  async function scaled(
    name: string,
    servers: (stream: string) => Promise<string[]>,
  ): Promise<{ stream: string }> {
    const stream = streamName(name);
    await waitFor(
      'the cluster to accept an R3 stream',
      async () => {
        try {
          await jsmOn().streams.add({ name: stream, subjects: [`${stream}.>`], num_replicas: 3 });
          return true;
        } catch {
          return undefined;
        }
      },
      30_000,
      250,
    );
    await jsmOn().consumers.add(stream, {
      durable_name: 'work',
      ack_policy: AckPolicy.Explicit,
      num_replicas: 3,
    });
    await publishTo(stream, BACKLOG);
    await healed(stream);
    await createDeployment(ns.name, name, 1);
    await createEventConsumer({
      namespace: ns.name,
      name,
      target: name,
      servers: await servers(stream),
      stream,
      consumer: 'work',
      extra: {
        minReplicas: 1,
        maxReplicas: 10,
        backlogPerReplica: BACKLOG_PER_REPLICA,
        pollInterval: '1s',
        fallback: { replicas: FALLBACK_REPLICAS, failureThreshold: 3 },
      },
    });
    await waitFor(
      `the Deployment at ${NEEDED} replicas`,
      async () => ((await specReplicas(ns.name, name)) === NEEDED ? true : undefined),
      30_000,
      250,
    );
    return { stream };
  }

  /**
   * Publishes `count` messages through a running node, waiting out an election of the stream's
   * leader. All at once, each retried until stored (its msgID makes a retry of a stored one a
   * duplicate, not a second message): one at a time, 500 took a round trip to the R3 stream each.
   */
  async function publishTo(stream: string, count: number, first = 0): Promise<void> {
    const js = jetstream(adminOn().nc, { timeout: 2000 });
    await Promise.all(
      Array.from({ length: count }, (_, k) => first + k).map((i) =>
        waitFor(
          `message ${i} stored in ${stream}`,
          async () => {
            try {
              await js.publish(`${stream}.event`, `m${i}`, { msgID: `${stream}-${i}` });
              return true;
            } catch {
              return undefined;
            }
          },
          30_000,
          250,
        ),
      ),
    );
  }

  type Watcher = ReturnType<typeof watch>;
  /** The Deployment's replicas and the EventConsumer's conditions, watched every 250 ms. */
  function watch(name: string) {
    const replicas: number[] = [];
    const notReady = new Map<string, number>();
    const messages = new Set<string>();
    let fallback = false;
    let watching = true;
    const done = (async () => {
      while (watching) {
        const r = await specReplicas(ns.name, name);
        if (replicas.at(-1) !== r) replicas.push(r);
        const status = await eventConsumerStatus(ns.name, name);
        const ready = condition(status, 'Ready');
        if (ready?.status === 'False') {
          notReady.set(ready.reason, (notReady.get(ready.reason) ?? 0) + 1);
          messages.add(`${ready.reason}: ${ready.message}`);
        }
        if (condition(status, 'Fallback')?.status === 'True') fallback = true;
        await sleep(250);
      }
    })();
    return {
      replicas,
      notReady,
      messages,
      fallback: () => fallback,
      // A last look after the loop ends: a caller stops the watcher as soon as its own read saw
      // the change, which may fall between two of the loop's samples.
      stop: async () => {
        watching = false;
        await done;
        const r = await specReplicas(ns.name, name);
        if (replicas.at(-1) !== r) replicas.push(r);
      },
    };
  }

  async function removeEventConsumer(name: string): Promise<void> {
    await kubeApi()
      .request('DELETE', eventConsumerPath(ns.name, name))
      .catch(() => undefined);
  }

  /**
   * A backlog that grows after the stop, which only a reading from the new leader can show: waits
   * for the Deployment to be scaled for it, watches 3 s more, then ends the watch and the
   * EventConsumer. Returns the seconds from the stop to the scale.
   */
  async function scaledOnTheNewLeader(
    name: string,
    stream: string,
    watcher: Watcher,
    stoppedAt: number,
  ): Promise<number> {
    await publishTo(stream, BACKLOG_PER_REPLICA, BACKLOG);
    await waitFor(
      `the Deployment at ${NEEDED + 1} replicas, read on the new leader`,
      async () => ((await specReplicas(ns.name, name)) === NEEDED + 1 ? true : undefined),
      60_000,
      250,
    );
    const resumedAfter = (Date.now() - stoppedAt) / 1000;
    await sleep(3000);
    await watcher.stop();
    await removeEventConsumer(name);
    return resumedAfter;
  }

  /** The election was no outage to the operator. */
  function expectNoOutage(watcher: Watcher): void {
    expect(watcher.fallback()).toBe(false);
    // NEEDED throughout the blip, then one more for the messages published after it.
    expect(watcher.replicas).toEqual([NEEDED, NEEDED + 1]);
    // Every failed poll said what happened: NATS (or its JetStream leader) did not answer.
    expect([...watcher.notReady.keys()].filter((r) => r !== 'NatsUnreachable')).toEqual([]);
  }

  it.each([
    { leader: 'consumer', how: 'SIGSTOP', connectedTo: 'the stopped node' },
    { leader: 'consumer', how: 'SIGKILL', connectedTo: 'the stopped node' },
    { leader: 'consumer', how: 'SIGSTOP', connectedTo: 'another node' },
    { leader: 'stream', how: 'SIGKILL', connectedTo: 'another node' },
    { leader: 'meta', how: 'SIGSTOP', connectedTo: 'every node' },
    // Lame duck mode (SIGUSR2, as `nats-server --signal ldm`: how a NATS upgrade drains a node):
    // the node gives up its leaders and closes its clients over its grace period, then exits.
    { leader: 'consumer', how: 'lame duck mode', connectedTo: 'the stopped node' },
  ] as const)(
    'the $leader leader stopped with $how, the operator connected to $connectedTo: no fallback, replicas kept, readings resume on the new leader',
    async ({ leader, how, connectedTo }) => {
      const name = `${leader}-${how.toLowerCase().replaceAll(' ', '')}-${connectedTo.split(' ')[0]}`.replace(
        /[^a-z0-9-]/g,
        '',
      );
      let victim: ClusterNode | undefined;
      connectionLog.length = 0;
      const { stream } = await scaled(name, async (s) => {
        victim = node((await leaders(s))[leader]);
        if (connectedTo === 'the stopped node') return [victim.url];
        if (connectedTo === 'another node') return [nodes().find((n) => n !== victim)?.url ?? ''];
        return nodes().map((n) => n.url);
      });
      if (victim === undefined) throw new Error('no victim');
      const watcher = watch(name);
      Object.assign(failing, { polls: 0, seconds: 0 });
      await sleep(2000); // a few polls before
      const stoppedAt = Date.now();
      connectionLog.push(`${new Date().toISOString()} ${how} ${victim.name} (led the ${leader})`);
      if (how === 'SIGSTOP') {
        victim.freeze();
        frozen.add(victim.name);
      } else if (how === 'lame duck mode') {
        victim.signal('SIGUSR2');
        frozen.add(victim.name); // the test asks the other nodes meanwhile
      } else await victim.stop('SIGKILL');
      // JetStream elects new leaders among the two others.
      await waitFor(
        `a new ${leader} leader`,
        async () => {
          const now = await leaders(stream).catch(() => undefined);
          return now?.[leader] !== undefined && now[leader] !== victim?.name ? true : undefined;
        },
        60_000,
        250,
      ).catch(() => undefined);
      const resumedAfter = await scaledOnTheNewLeader(name, stream, watcher, stoppedAt);
      if (how === 'SIGSTOP') victim.thaw();
      else {
        await victim.stop(); // lame duck mode: ended, or ended now
        await victim.start();
      }
      frozen.delete(victim.name);
      await healed(stream);
      console.log(
        `${leader} leader ${victim.name} ${how}, operator connected to ${connectedTo}: scaled for the new backlog after ${resumedAfter.toFixed(1)} s; replicas ${JSON.stringify(watcher.replicas)}; Ready False ${JSON.stringify(Object.fromEntries(watcher.notReady))}; up to ${failing.polls} failed polls in a row over ${failing.seconds.toFixed(1)} s; fallback ${watcher.fallback()}\n${[...watcher.messages].join('\n')}\n${connectionLog.join('\n')}`,
      );

      expectNoOutage(watcher);
    },
    180_000,
  );

  // A split vote (two followers campaign at once) makes an election wait a new random 4–9 s:
  // failed reads for up to ~18 s (decide.ts FALLBACK_MIN_OUTAGE_SECONDS). Played here by freezing
  // the consumer leader and one follower: the node left alone cannot win a vote, and once the
  // follower thaws (it takes the vote requests queued meanwhile) a leader is elected at once. The
  // operator reads through the node left alone. Before (fallback after 10 s): fallback's 8.
  it('an election held up 17 s (the leader and a follower frozen): no fallback, replicas kept', async () => {
    const name = 'slow-election';
    connectionLog.length = 0;
    let victim: ClusterNode | undefined;
    let follower: ClusterNode | undefined;
    const { stream } = await scaled(name, async (s) => {
      victim = node((await leaders(s)).consumer);
      const others = nodes().filter((n) => n !== victim);
      follower = others[1];
      return [others[0]?.url ?? ''];
    });
    if (victim === undefined || follower === undefined) throw new Error('no victim');
    const watcher = watch(name);
    Object.assign(failing, { polls: 0, seconds: 0 });
    await sleep(2000); // a few polls before
    const stoppedAt = Date.now();
    connectionLog.push(`${new Date().toISOString()} SIGSTOP ${victim.name} (leader), ${follower.name}`);
    for (const n of [victim, follower]) {
      n.freeze();
      frozen.add(n.name);
    }
    await sleep(17_000);
    follower.thaw();
    frozen.delete(follower.name);
    connectionLog.push(`${new Date().toISOString()} SIGCONT ${follower.name}`);
    const resumedAfter = await scaledOnTheNewLeader(name, stream, watcher, stoppedAt);
    victim.thaw();
    frozen.delete(victim.name);
    await healed(stream);
    console.log(
      `consumer leader ${victim.name} and follower ${follower.name} frozen 17 s: scaled for the new backlog after ${resumedAfter.toFixed(1)} s; replicas ${JSON.stringify(watcher.replicas)}; Ready False ${JSON.stringify(Object.fromEntries(watcher.notReady))}; up to ${failing.polls} failed polls in a row over ${failing.seconds.toFixed(1)} s; fallback ${watcher.fallback()}\n${[...watcher.messages].join('\n')}\n${connectionLog.join('\n')}`,
    );
    // Longer than the 10 s fallback waited before, or this case proves nothing.
    expect(failing.seconds).toBeGreaterThan(10);
    expectNoOutage(watcher);
  }, 180_000);

  it('every node down for longer than fallback waits is an outage: fallback holds its replicas until NATS answers', async () => {
    const name = 'outage';
    connectionLog.length = 0;
    const { stream } = await scaled(name, async () => nodes().map((n) => n.url));
    const watcher = watch(name);
    const stoppedAt = Date.now();
    for (const n of nodes()) await n.stop('SIGKILL');
    await waitFor(
      `the Deployment at fallback's ${FALLBACK_REPLICAS} replicas`,
      async () => ((await specReplicas(ns.name, name)) === FALLBACK_REPLICAS ? true : undefined),
      60_000,
      250,
    );
    const fellBackAfter = (Date.now() - stoppedAt) / 1000;
    // The status follows the /scale write (the same poll writes it just after; two polls' room for
    // a loaded machine). Read once at the moment replicas changed, it can still be the last poll's.
    const fallback = await waitFor(
      'the Fallback condition True',
      async () => {
        const c = condition(await eventConsumerStatus(ns.name, name), 'Fallback');
        return c?.status === 'True' ? c : undefined;
      },
      5_000,
      100,
    ).catch(async () => condition(await eventConsumerStatus(ns.name, name), 'Fallback'));
    await Promise.all(nodes().map((n) => n.start()));
    await healed(stream);
    await waitFor(
      `fallback over and the Deployment back at ${NEEDED} replicas`,
      async () =>
        condition(await eventConsumerStatus(ns.name, name), 'Fallback')?.status === 'False' &&
        (await specReplicas(ns.name, name)) === NEEDED
          ? true
          : undefined,
      120_000,
      500,
    );
    await watcher.stop();
    await removeEventConsumer(name);
    console.log(
      `every node SIGKILLed: fallback after ${fellBackAfter.toFixed(1)} s (${fallback?.reason}: ${fallback?.message}); replicas ${JSON.stringify(watcher.replicas)}\n${connectionLog.join('\n')}`,
    );
    expect(fallback).toMatchObject({ status: 'True', reason: 'NatsUnreachable' });
    // Not before failureThreshold polls over 20 s (decide.ts FALLBACK_MIN_OUTAGE_SECONDS).
    expect(fellBackAfter).toBeGreaterThanOrEqual(FALLBACK_MIN_OUTAGE_SECONDS);
    // NEEDED, fallback's, and NEEDED again once the new leaders answer. After a restart of every
    // node, CONSUMER.INFO is answered for a few seconds by a replica while the consumer has no
    // leader (its cluster.leader empty): num_pending 0 there is no backlog read, and must not scale
    // in (before: [5, 8, 2, 5]).
    expect(watcher.replicas).toEqual([NEEDED, FALLBACK_REPLICAS, NEEDED]);
  }, 240_000);
});
