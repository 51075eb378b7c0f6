// One EventConsumer, two JetStream consumers on two NATS servers (the second one requires a
// password, given in a Secret): the target runs what the larger backlog needs, status lists each
// consumer, and a consumer that does not exist holds the replicas (they rise for the other, never
// fall) until it exists. Real nats-servers, a real API server, the operator in this process.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstreamManager } from '@nats-io/jetstream';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startNatsServer, type NatsServer } from '../../hack/stack/nats-server.js';
import { createNamespace, eventually, testStack } from '../../test/env.js';
import { eventConsumersPath } from '../src/api/v1alpha1/group-version.js';
import type { EventConsumerStatus } from '../src/api/v1alpha1/event-consumer.js';
import type { RunningOperator } from '../src/run-operator.js';
import {
  closeKubeApi,
  condition,
  consumeAndAck,
  createDeployment,
  createStreamAndConsumer,
  eventConsumerStatus,
  installCrd,
  kubeApi,
  publish,
  sleep,
  specReplicas,
  startInProcessOperator,
  streamName,
} from './harness.js';

const fastDown = {
  scaleDown: { stabilizationWindow: '0s', policies: [{ type: 'Percent', value: 100, period: '1s' }] },
};

describe('an EventConsumer with two consumers', () => {
  let ns: { name: string; cleanup: () => Promise<void> };
  let dir: string;
  let second: NatsServer;
  let nc1: NatsConnection;
  let nc2: NatsConnection;
  let operator: RunningOperator;
  const streams: Array<[NatsConnection, string]> = [];

  beforeAll(async () => {
    await installCrd();
    ns = await createNamespace('op-multi');
    dir = mkdtempSync(path.join(os.tmpdir(), 'jetscale-multi-'));
    second = await startNatsServer({ dir, auth: { user: 'scaler', password: 's3cret-pw' } });
    nc1 = await connect({ servers: testStack().natsUrl });
    nc2 = await connect({ servers: second.url, user: 'scaler', pass: 's3cret-pw' });
    await kubeApi().request('POST', `/api/v1/namespaces/${ns.name}/secrets`, {
      body: {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'second-nats' },
        stringData: { user: 'scaler', password: 's3cret-pw' },
      },
    });
    operator = await startInProcessOperator(ns.name);
  });

  afterAll(async () => {
    await operator?.stop();
    for (const [nc, stream] of streams)
      await (await jetstreamManager(nc)).streams.delete(stream).catch(() => undefined);
    await nc1?.close();
    await nc2?.close();
    await second?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await ns?.cleanup();
    closeKubeApi();
  });

  const create = async (name: string, consumers: Array<Record<string, unknown>>): Promise<void> => {
    await kubeApi().request('POST', eventConsumersPath(ns.name), {
      body: {
        apiVersion: 'jetscale.io/v1alpha1',
        kind: 'EventConsumer',
        metadata: { name, namespace: ns.name },
        spec: {
          scaleTargetRef: { name },
          consumers,
          minReplicas: 1,
          maxReplicas: 20,
          backlogPerReplica: 100,
          pollInterval: '1s',
          behavior: fastDown,
        },
      },
    });
  };
  const status = (name: string): Promise<EventConsumerStatus> => eventConsumerStatus(ns.name, name);

  it('runs what the larger backlog needs, on different servers with their own credentials', async () => {
    const s1 = streamName('multi-a');
    const s2 = streamName('multi-b');
    await createStreamAndConsumer(nc1, s1, 'work');
    streams.push([nc1, s1]);
    await createStreamAndConsumer(nc2, s2, 'work');
    streams.push([nc2, s2]);
    await publish(nc1, s1, 300);
    await publish(nc2, s2, 700);
    await createDeployment(ns.name, 'larger', 1);
    await create('larger', [
      { name: 'small', servers: [testStack().natsUrl], stream: s1, consumer: 'work' },
      {
        name: 'big',
        servers: [second.url],
        stream: s2,
        consumer: 'work',
        auth: { secretRef: { name: 'second-nats' } },
      },
    ]);
    await eventually(
      '7 replicas: the larger need (700 at 100 per replica), not 3 and not the sum 10',
      async () => ((await specReplicas(ns.name, 'larger')) === 7 ? true : undefined),
      30_000,
    );
    const s = await eventually(
      'status lists both consumers with their own backlog and need',
      async () => {
        const st = await status('larger');
        return st.consumers?.length === 2 && st.consumers.every((c) => c.ready === 'True') ? st : undefined;
      },
      15_000,
    );
    expect(s.consumers?.map((c) => [c.name, c.backlog?.total, c.desiredReplicas])).toEqual([
      ['small', 300, 3],
      ['big', 700, 7],
    ]);
    expect(s.backlog?.total).toBe(1000);
    expect(condition(s, 'Ready')?.status).toBe('True');
    // The big one drains: the small one's need takes over.
    expect(await consumeAndAck(nc2, s2, 'work', 700)).toBe(700);
    await eventually(
      '3 replicas once only the small backlog is left',
      async () => ((await specReplicas(ns.name, 'larger')) === 3 ? true : undefined),
      30_000,
    );
    expect(await specReplicas(ns.name, 'larger')).toBe(3);
  });

  it('with one consumer missing scales up for the other, never down, until it exists', async () => {
    const s = streamName('multi-m');
    await createStreamAndConsumer(nc1, s, 'present');
    streams.push([nc1, s]);
    await publish(nc1, s, 500);
    await createDeployment(ns.name, 'partial', 1);
    await create('partial', [
      { name: 'present', servers: [testStack().natsUrl], stream: s, consumer: 'present' },
      { name: 'absent', servers: [testStack().natsUrl], stream: s, consumer: 'absent' },
    ]);
    await eventually(
      '5 replicas for the consumer that can be read',
      async () => ((await specReplicas(ns.name, 'partial')) === 5 ? true : undefined),
      30_000,
    );
    const st = await eventually(
      'Ready=False ConsumerNotFound naming the missing one',
      async () => {
        const x = await status('partial');
        return condition(x, 'Ready')?.reason === 'ConsumerNotFound' ? x : undefined;
      },
      15_000,
    );
    expect(condition(st, 'Ready')?.message).toContain('absent');
    expect(st.consumers?.map((c) => [c.name, c.ready, c.reason])).toEqual([
      ['present', 'True', 'Scaling'],
      ['absent', 'False', 'ConsumerNotFound'],
    ]);
    // The readable backlog drains; the missing consumer's need is unknown, so 5 stay.
    expect(await consumeAndAck(nc1, s, 'present', 500)).toBe(500);
    await eventually(
      'the readable consumer asks for 1',
      async () =>
        (await status('partial')).consumers?.find((c) => c.name === 'present')?.desiredReplicas === 1
          ? true
          : undefined,
      15_000,
    );
    await sleep(3000);
    expect(await specReplicas(ns.name, 'partial')).toBe(5);
    // It exists now (the application created it): both are read and the replicas follow.
    await (
      await jetstreamManager(nc1)
    ).consumers.add(s, {
      durable_name: 'absent',
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.New,
    });
    await eventually(
      'down to minReplicas once both can be read and both are idle',
      async () => ((await specReplicas(ns.name, 'partial')) === 1 ? true : undefined),
      30_000,
    );
    await eventually(
      'Ready once both are read',
      async () => (condition(await status('partial'), 'Ready')?.status === 'True' ? true : undefined),
      10_000,
    );
  });
});
