// An R1 stream in a 3-node cluster whose only replica's server is down, on real nats-servers:
// nobody answers CONSUMER.INFO (no election can move a single replica), through any live node, for
// as long as that server is away. The failed read says so — the stream's only replica is down, on
// which server, what to do — instead of "no answer from" the live server the connection is on.
import { AckPolicy, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNatsCluster, type NatsCluster } from '../../hack/stack/nats-cluster.js';
import { testScratchDir } from '../../test/scratch.js';
import { readConsumerBacklog } from '../src/backlog/jetstream-backlog-source.js';

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

  it('says the only replica is down, and where, not that the live server does not answer', async () => {
    const admin = await connect({ servers: cluster.urls });
    const jsm = await jetstreamManager(admin, { checkAPI: false });
    for (let i = 0; ; i++) {
      try {
        await jsm.streams.add({ name: 'ONE', subjects: ['one.>'], num_replicas: 1 });
        break;
      } catch (err) {
        if (i >= 40) throw err; // the meta group electing its first leader
        await new Promise((r) => setTimeout(r, 500));
      }
    }
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
