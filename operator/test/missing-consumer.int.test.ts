// A consumer that does not exist while its workload is at zero: many applications create their
// own durable on start (and a consumer with inactive_threshold is removed by the server while
// nothing pulls). Holding the workload at zero would wait forever — the previous operator did —
// so by default (spec.missingConsumer RunMinimum) one replica is started, the "application"
// creates the consumer, and scaling from the backlog takes over. With Hold, zero stays zero.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { createNamespace, eventually, testStack } from '../../test/env.js';
import type { RunningOperator } from '../src/run-operator.js';
import {
  closeKubeApi,
  condition,
  createDeployment,
  createEventConsumer,
  eventConsumerStatus,
  installCrd,
  sleep,
  specReplicas,
  startInProcessOperator,
  streamName,
} from './harness.js';

describe('a missing consumer at zero replicas', () => {
  let ns: { name: string; cleanup: () => Promise<void> };
  let nc: NatsConnection;
  let operator: RunningOperator;
  let stream: string;

  beforeAll(async () => {
    await installCrd();
    ns = await createNamespace('op-missing');
    nc = await connect({ servers: testStack().natsUrl });
    stream = streamName('missing');
    await (await jetstreamManager(nc)).streams.add({ name: stream, subjects: [`${stream}.>`] });
    operator = await startInProcessOperator(ns.name);
  });

  afterAll(async () => {
    await operator?.stop();
    await (await jetstreamManager(nc)).streams.delete(stream).catch(() => undefined);
    await nc?.close();
    await ns?.cleanup();
    closeKubeApi();
  });

  const fixture = (name: string, consumer: string, extra: Record<string, unknown> = {}) => ({
    namespace: ns.name,
    name,
    target: name,
    servers: [testStack().natsUrl],
    stream,
    consumer,
    extra: { minReplicas: 0, pollInterval: '1s', ...extra },
  });

  it('starts one replica so the application can create its durable, then scales from the backlog', async () => {
    await createDeployment(ns.name, 'app', 0);
    await createEventConsumer(fixture('app', 'app'));
    await eventually(
      'one replica started for the missing consumer',
      async () => ((await specReplicas(ns.name, 'app')) === 1 ? true : undefined),
      15_000,
    );
    await eventually(
      'ConsumerNotFound reported',
      async () =>
        condition(await eventConsumerStatus(ns.name, 'app'), 'Ready')?.reason === 'ConsumerNotFound'
          ? true
          : undefined,
      10_000,
    );
    // The application starts and creates its durable; work arrives.
    await (
      await jetstreamManager(nc)
    ).consumers.add(stream, {
      durable_name: 'app',
      ack_policy: AckPolicy.Explicit,
      filter_subject: `${stream}.app`,
    });
    const js = jetstream(nc);
    await Promise.all(Array.from({ length: 350 }, (_, i) => js.publish(`${stream}.app`, `m${i}`)));
    await eventually(
      '4 replicas from the backlog once the consumer exists',
      async () => ((await specReplicas(ns.name, 'app')) === 4 ? true : undefined),
      15_000,
    );
    await eventually(
      'Ready once the consumer exists',
      async () =>
        condition(await eventConsumerStatus(ns.name, 'app'), 'Ready')?.status === 'True' ? true : undefined,
      10_000,
    );
  });

  it('with missingConsumer Hold leaves the workload at zero', async () => {
    await createDeployment(ns.name, 'held', 0);
    await createEventConsumer(fixture('held', 'held', { missingConsumer: 'Hold' }));
    await eventually(
      'ConsumerNotFound reported',
      async () =>
        condition(await eventConsumerStatus(ns.name, 'held'), 'Ready')?.reason === 'ConsumerNotFound'
          ? true
          : undefined,
      15_000,
    );
    await sleep(3000);
    expect(await specReplicas(ns.name, 'held')).toBe(0);
  });
});
