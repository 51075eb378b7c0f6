// Proof that the test environment's NATS is a real JetStream server: streams, durable pull
// consumers and the consumer-info numbers jetscale scales on.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { testStack, uniqueName } from '../env.js';

describe('JetStream in the test environment', () => {
  let nc: NatsConnection;
  beforeAll(async () => {
    nc = await connect({ servers: testStack().natsUrl });
  });
  afterAll(async () => {
    await nc.drain();
  });

  it('reports num_pending and num_ack_pending for a durable pull consumer', async () => {
    const stream = uniqueName('proof').toUpperCase().replace(/-/g, '_');
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
    await jsm.consumers.add(stream, { durable_name: 'worker', ack_policy: AckPolicy.Explicit });
    const js = jetstream(nc);
    for (let i = 0; i < 10; i++) await js.publish(`${stream}.e`, `event ${i}`, { msgID: `id-${i}` });
    const dup = await js.publish(`${stream}.e`, 'event 0 again', { msgID: 'id-0' });
    expect(dup.duplicate).toBe(true);

    let info = await jsm.consumers.info(stream, 'worker');
    expect(info.num_pending).toBe(10);
    expect(info.num_ack_pending).toBe(0);

    const consumer = await js.consumers.get(stream, 'worker');
    const batch = await consumer.fetch({ max_messages: 3, expires: 2000 });
    const held = [];
    for await (const m of batch) held.push(m);
    expect(held).toHaveLength(3);
    info = await jsm.consumers.info(stream, 'worker');
    expect(info.num_pending).toBe(7);
    expect(info.num_ack_pending).toBe(3);

    for (const m of held) await m.ackAck();
    info = await jsm.consumers.info(stream, 'worker');
    expect(info.num_ack_pending).toBe(0);
    await jsm.streams.delete(stream);
  });
});
