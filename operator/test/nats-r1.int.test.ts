// On a 3-node cluster: what a shared connection keeps of a consumer it read is freed with the
// EventConsumer reading it; and an R1 stream whose only replica's server is down, on real nats-servers:
// nobody answers CONSUMER.INFO (no election can move a single replica), through any live node, for
// as long as that server is away. The failed read says so — the stream's only replica is down, on
// which server, what to do — instead of "no answer from" the live server the connection is on.
import { AckPolicy, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNatsCluster, type NatsCluster } from '../../hack/stack/nats-cluster.js';
import { testScratchDir } from '../../test/scratch.js';
import { ConnectionPool } from '../src/backlog/connection-pool.js';
import { keptConsumers, readConsumerBacklog } from '../src/backlog/jetstream-backlog-source.js';
import { NatsBacklogSources } from '../src/backlog/nats-backlog-sources.js';
import { silentLogger } from '../src/observability/logger.js';
import { OperatorMetrics } from '../src/observability/metrics.js';

describe('a stream whose only replica (R1) is down', () => {
  let cluster: NatsCluster;
  let nc: NatsConnection | undefined;

  beforeAll(async () => {
    cluster = await startNatsCluster({ dir: testScratchDir('jetscale-r1-'), name: 'jetscale-r1' });
  }, 120_000);

  afterAll(async () => {
    await nc?.close();
    await cluster?.stop();
  });

  /** Adds a stream, waiting for the meta group to elect its first leader. */
  async function addStream(jsm: JetStreamManager, name: string): Promise<void> {
    for (let i = 0; ; i++) {
      try {
        await jsm.streams.add({ name, subjects: [`${name.toLowerCase()}.>`], num_replicas: 1 });
        return;
      } catch (err) {
        if (i >= 40) throw err; // the meta group electing its first leader
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  it('keeps nothing of a consumer read on a shared connection once its EventConsumer is gone (before: an entry each, for good)', async () => {
    const admin = await connect({ servers: cluster.urls });
    const jsm = await jetstreamManager(admin, { checkAPI: false });
    await addStream(jsm, 'CYCLES');
    const pool = new ConnectionPool({
      logger: silentLogger,
      metrics: new OperatorMetrics(),
      connectTimeoutMs: 2000,
      pingTimeoutMs: 1000,
      checkBackoff: { baseMs: 500, maxMs: 2000, jitter: 0 },
    });
    const sources = new NatsBacklogSources(pool, { timeoutMs: 5000 });
    const creds = { auth: { kind: 'none' as const } };
    const servers = cluster.nodes.map((n) => n.url);
    try {
      // One EventConsumer stays, so the shared connection lives throughout.
      await jsm.consumers.add('CYCLES', { durable_name: 'keeper', ack_policy: AckPolicy.Explicit });
      const keeper = sources.open('keeper', servers, creds, { stream: 'CYCLES', consumer: 'keeper' });
      expect((await keeper.read()).ok).toBe(true);
      for (let i = 0; i < 10; i++) {
        const consumer = `passing${i}`;
        await jsm.consumers.add('CYCLES', { durable_name: consumer, ack_policy: AckPolicy.Explicit });
        const source = sources.open(`ec${i}`, servers, creds, { stream: 'CYCLES', consumer });
        expect((await source.read()).ok).toBe(true);
        source.close();
        await jsm.consumers.delete('CYCLES', consumer);
      }
      const shared = await pool.acquire('keeper', servers, creds);
      // The keeper's own: its stream's last state (a default-config stream) and its placement (R1).
      expect(keptConsumers(shared)).toEqual({ streamStates: 1, placements: 1, creationTimes: 1 });
      keeper.close();
      expect(keptConsumers(shared)).toEqual({ streamStates: 0, placements: 0, creationTimes: 0 });
    } finally {
      await pool.closeAll();
      await admin.close();
    }
  }, 120_000);

  it('says the only replica is down, and where, not that the live server does not answer', async () => {
    const admin = await connect({ servers: cluster.urls });
    const jsm = await jetstreamManager(admin, { checkAPI: false });
    await addStream(jsm, 'ONE');
    await jsm.consumers.add('ONE', { durable_name: 'worker', ack_policy: AckPolicy.Explicit });
    const hostName = (await jsm.streams.info('ONE')).cluster?.leader;
    await admin.close();
    const host = cluster.nodes.find((n) => n.name === hostName);
    const other = cluster.nodes.find((n) => n.name !== hostName);
    if (host === undefined || other === undefined) throw new Error(`no node named ${hostName}`);

    nc = await connect({ servers: other.url, ignoreClusterUpdates: true });
    const ref = { stream: 'ONE', consumer: 'worker' };
    const before = await readConsumerBacklog(nc, ref, { timeoutMs: 2000 });
    expect(before.ok).toBe(true);

    await host.stop('SIGKILL');
    const after = await readConsumerBacklog(nc, ref, { timeoutMs: 2000 });
    expect(after.ok).toBe(false);
    if (after.ok) return;
    expect(after.error.kind).toBe('Unreachable'); // a real outage of the stream: counts toward fallback
    expect(after.error.message).toContain(`its only replica (R1) was on ${host.name}`);
    expect(after.error.message).toContain(`bring ${host.name} back`);
    expect(after.error.message).toContain(`no answer from NATS at ${other.name}`);
  }, 120_000);
});
