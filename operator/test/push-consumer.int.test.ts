// Push consumers (day one: an application written against the older push API). One with a
// deliver_group shares its messages among its subscribers like a pull consumer, and is scaled from
// its backlog. One without hands every message to every subscriber of its deliver subject (nats.go
// lets only one bind), so a second replica processes each message again instead of draining
// faster: it stays at one replica and ScalingLimited says why (before: scaled to 9 for 900
// pending). On the real stack (real API server, real NATS), the reconciler driven directly.
import { AckPolicy } from '@nats-io/jetstream';
import {
  condition,
  eventConsumerStatus,
  publish,
  specReplicas,
  streamName,
  useStreamDrill,
} from './harness.js';

describe('push consumers', () => {
  const stream = streamName('push');
  const drill = useStreamDrill({ namespace: 'op-push', instance: 'push-consumer-test', streams: [stream] });

  const poll = drill.poll;

  async function pushConsumer(name: string, group?: string): Promise<void> {
    await drill.jsm.consumers.add(stream, {
      durable_name: name,
      ack_policy: AckPolicy.Explicit,
      deliver_subject: `deliver.${stream}.${name}`,
      ...(group === undefined ? {} : { deliver_group: group }),
    });
    await drill.addTarget(name, stream);
  }

  it('scales one with a deliver_group from its backlog, and holds one without at a single replica', async () => {
    await pushConsumer('grouped', 'workers');
    await pushConsumer('alone');
    await publish(drill.nc, stream, 900);
    expect((await drill.jsm.consumers.info(stream, 'alone')).num_pending).toBe(900);

    await poll('grouped');
    expect(await specReplicas(drill.ns.name, 'grouped')).toBe(9);

    await poll('alone');
    expect(await specReplicas(drill.ns.name, 'alone')).toBe(1);
    const status = await eventConsumerStatus(drill.ns.name, 'alone');
    expect(condition(status, 'Ready')?.status).toBe('True');
    const limited = condition(status, 'ScalingLimited');
    expect(limited).toMatchObject({ status: 'True', reason: 'PushConsumer' });
    expect(limited?.message).toContain('push consumer without deliver_group');
  });
});
