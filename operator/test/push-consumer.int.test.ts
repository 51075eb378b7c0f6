// Push consumers (day one: an application written against the older push API). One with a
// deliver_group shares its messages among its subscribers like a pull consumer, and is scaled from
// its backlog. One without hands every message to every subscriber of its deliver subject (nats.go
// lets only one bind), so a second replica processes each message again instead of draining
// faster: it stays at one replica and ScalingLimited says why (before: scaled to 9 for 900
// pending). On the real stack (real API server, real NATS), the reconciler driven directly.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { createNamespace, testStack } from '../../test/env.js';
import {
  closeKubeApi,
  directReconciler,
  type DirectReconciler,
  condition,
  createDeployment,
  createEventConsumer,
  eventConsumerStatus,
  installCrd,
  publish,
  specReplicas,
  streamName,
} from './harness.js';

describe('push consumers', () => {
  let ns: { name: string; cleanup: () => Promise<void> };
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let direct: DirectReconciler;
  const stream = streamName('push');

  beforeAll(async () => {
    await installCrd();
    ns = await createNamespace('op-push');
    nc = await connect({ servers: testStack().natsUrl });
    jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
    direct = directReconciler('push-consumer-test');
  });

  afterAll(async () => {
    await direct?.close();
    await jsm?.streams.delete(stream).catch(() => undefined);
    await nc?.close();
    await ns?.cleanup();
    closeKubeApi();
  });

  const poll = (name: string): Promise<void> => direct.poll(ns.name, name);

  async function pushConsumer(name: string, group?: string): Promise<void> {
    await jsm.consumers.add(stream, {
      durable_name: name,
      ack_policy: AckPolicy.Explicit,
      deliver_subject: `deliver.${stream}.${name}`,
      ...(group === undefined ? {} : { deliver_group: group }),
    });
    await createDeployment(ns.name, name, 1);
    await createEventConsumer({
      namespace: ns.name,
      name,
      target: name,
      servers: [testStack().natsUrl],
      stream,
      consumer: name,
      extra: { maxReplicas: 20, backlogPerReplica: 100 },
    });
  }

  it('scales one with a deliver_group from its backlog, and holds one without at a single replica', async () => {
    await pushConsumer('grouped', 'workers');
    await pushConsumer('alone');
    await publish(nc, stream, 900);
    expect((await jsm.consumers.info(stream, 'alone')).num_pending).toBe(900);

    await poll('grouped');
    expect(await specReplicas(ns.name, 'grouped')).toBe(9);

    await poll('alone');
    expect(await specReplicas(ns.name, 'alone')).toBe(1);
    const status = await eventConsumerStatus(ns.name, 'alone');
    expect(condition(status, 'Ready')?.status).toBe('True');
    const limited = condition(status, 'ScalingLimited');
    expect(limited).toMatchObject({ status: 'True', reason: 'PushConsumer' });
    expect(limited?.message).toContain('push consumer without deliver_group');
  });
});
