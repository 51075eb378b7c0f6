// End to end on the real stack: an in-process operator scales a Deployment from a JetStream
// consumer's backlog — up within two poll intervals of a burst, down after the stabilization
// window once messages are acknowledged, to zero only after the cooldown, and back up on new
// messages. Also: the API server rejects invalid EventConsumers with the CRD's CEL messages, and
// a missing consumer or a broken Secret leaves replicas alone and says what to fix.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { KubeApiError } from '../src/kube/api-client.js';
import { eventConsumersPath } from '../src/api/v1alpha1/group-version.js';
import type { RunningOperator } from '../src/run-operator.js';
import { createNamespace, eventually, testStack } from '../../test/env.js';
import {
  closeKubeApi,
  condition,
  consumeAndAck,
  createDeployment,
  createEventConsumer,
  createStreamAndConsumer,
  eventConsumerBody,
  eventConsumerStatus,
  eventsFor,
  installCrd,
  kubeApi,
  publish,
  specReplicas,
  streamName,
} from './harness.js';

const POLL_MS = 2000;

describe('operator scaling on a real stack', () => {
  let ns: { name: string; cleanup: () => Promise<void> };
  let nc: NatsConnection;
  let operator: RunningOperator;
  const streams: string[] = [];

  beforeAll(async () => {
    await installCrd();
    ns = await createNamespace('op-scale');
    nc = await connect({ servers: testStack().natsUrl });
    operator = await startOperator();
  });

  async function startOperator(): Promise<RunningOperator> {
    const { startInProcessOperator } = await import('./harness.js');
    return startInProcessOperator(ns.name);
  }

  afterAll(async () => {
    await operator?.stop();
    const jsm = await jetstreamManager(nc);
    for (const s of streams) await jsm.streams.delete(s).catch(() => undefined);
    await nc?.close();
    await ns?.cleanup();
    closeKubeApi();
  });

  it('scales up on a burst, down after the window, to zero after the cooldown, and up again', async () => {
    const stream = streamName('scale');
    streams.push(stream);
    await createStreamAndConsumer(nc, stream, 'worker');
    await createDeployment(ns.name, 'worker', 1);
    await createEventConsumer({
      namespace: ns.name,
      name: 'worker',
      target: 'worker',
      servers: [testStack().natsUrl],
      stream,
      consumer: 'worker',
      extra: {
        minReplicas: 0,
        pollInterval: `${POLL_MS / 1000}s`,
        behavior: {
          scaleDown: { stabilizationWindow: '3s', policies: [{ type: 'Percent', value: 100, period: '1s' }] },
          cooldownPeriod: '6s',
        },
      },
    });
    await eventually(
      'the operator to report on the EventConsumer',
      async () => ((await eventConsumerStatus(ns.name, 'worker')).lastPollTime ? true : undefined),
      10_000,
    );

    // Up: 450 messages at 100 per replica need 5 replicas.
    await publish(nc, stream, 450);
    const published = Date.now();
    await eventually(
      '5 replicas',
      async () => ((await specReplicas(ns.name, 'worker')) === 5 ? true : undefined),
      2 * POLL_MS + 1000,
      100,
    );
    const upAfter = Date.now() - published;
    expect(upAfter).toBeLessThanOrEqual(2 * POLL_MS + 1000);
    const metrics = await (await fetch(`http://127.0.0.1:${operator.metricsPort}/metrics`)).text();
    expect(metrics).toContain(`jetscale_desired_replicas{namespace="${ns.name}",name="worker"} 5`);
    expect(metrics).toMatch(
      new RegExp(
        `jetscale_scale_events_total\\{namespace="${ns.name}",name="worker",direction="up"\\} [1-9]`,
      ),
    );
    expect((await fetch(`http://127.0.0.1:${operator.metricsPort}/readyz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${operator.metricsPort}/healthz`)).status).toBe(200);
    const scaled = await eventually(
      'a Scaled event',
      async () =>
        (await eventsFor(ns.name, 'worker')).find(
          (e) => e.reason === 'Scaled' && /to 5/.test(e.message ?? ''),
        ),
      5000,
    );
    expect(scaled.message).toMatch(/from (0|1) to 5/);

    // Down: acknowledge everything; replicas hold through the 3 s window, then fall to 1 (not 0).
    expect(await consumeAndAck(nc, stream, 'worker', 450)).toBe(450);
    const acked = Date.now();
    const seen: Array<{ at: number; replicas: number }> = [];
    await eventually(
      'zero replicas after the cooldown',
      async () => {
        const replicas = await specReplicas(ns.name, 'worker');
        if (seen.at(-1)?.replicas !== replicas) seen.push({ at: Date.now() - acked, replicas });
        return replicas === 0 ? true : undefined;
      },
      25_000,
      100,
    );
    const firstDrop = seen.find((s) => s.replicas < 5);
    expect(firstDrop?.at).toBeGreaterThanOrEqual(3000 - POLL_MS);
    expect(seen.map((s) => s.replicas)).toContain(1);
    const zeroAt = seen.find((s) => s.replicas === 0)?.at ?? 0;
    // The cooldown counts from the last poll that saw a backlog, at most one poll before the acks.
    expect(zeroAt).toBeGreaterThanOrEqual(6000 - POLL_MS);
    const status = await eventConsumerStatus(ns.name, 'worker');
    expect(condition(status, 'Active')?.status).toBe('False');
    expect(status.backlog?.total).toBe(0);

    // Up again from zero on new messages.
    await publish(nc, stream, 30);
    const republished = Date.now();
    await eventually(
      '1 replica after activation',
      async () => ((await specReplicas(ns.name, 'worker')) === 1 ? true : undefined),
      2 * POLL_MS + 1000,
      100,
    );
    expect(Date.now() - republished).toBeLessThanOrEqual(2 * POLL_MS + 1000);
  });

  it.each([
    [{ minReplicas: 5, maxReplicas: 2 }, 'minReplicas must be less than or equal to maxReplicas'],
    [{ pollInterval: '100ms' }, 'pollInterval must be between 1s and 10m'],
    [
      { behavior: { scaleUp: { policies: [{ type: 'Pods', value: 1, period: '2h' }] } } },
      'policy period must be between 1s and 30m',
    ],
    [{ fallback: { replicas: 50 }, maxReplicas: 10 }, 'fallback.replicas must not exceed maxReplicas'],
    [{ latencyObjective: '0s' }, 'latencyObjective must be between 100ms and 24h'],
    [{ latencyObjective: '25h' }, 'latencyObjective must be between 100ms and 24h'],
  ])('the API server rejects %j with the CEL rule message', async (extra, message) => {
    const body = eventConsumerBody({
      namespace: ns.name,
      name: 'invalid',
      target: 'worker',
      servers: [testStack().natsUrl],
      stream: 'S',
      consumer: 'c',
      extra,
    });
    let error: unknown;
    try {
      await kubeApi().request('POST', eventConsumersPath(ns.name), { body });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(KubeApiError);
    expect((error as KubeApiError).status).toBe(422);
    expect((error as KubeApiError).message).toContain(message);
  });

  it('leaves replicas alone and says what to fix when the consumer does not exist', async () => {
    const stream = streamName('nocons');
    streams.push(stream);
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
    await createDeployment(ns.name, 'orphan', 3);
    await createEventConsumer({
      namespace: ns.name,
      name: 'orphan',
      target: 'orphan',
      servers: [testStack().natsUrl],
      stream,
      consumer: 'missing',
      extra: { pollInterval: '1s', fallback: { failureThreshold: 1, replicas: 9 } },
    });
    // Failed polls (the operator's own count), their Fallback condition saying they do not count
    // toward fallback (NotApplicable: decide.ts counts only an unreachable NATS). A missing consumer
    // counted as an outage would say BelowFailureThreshold, then fall back after 20 s.
    const failedPolls = async (): Promise<number> => {
      const text = await (await fetch(`http://127.0.0.1:${operator.metricsPort}/metrics`)).text();
      const line = text
        .split('\n')
        .find(
          (l) =>
            l.startsWith('jetscale_eventconsumer_errors_total{') &&
            l.includes(`namespace="${ns.name}"`) &&
            l.includes('name="orphan"') &&
            l.includes('reason="ConsumerNotFound"'),
        );
      return Number(line?.split(' ').at(-1) ?? 0);
    };
    const status = await eventually(
      'a ConsumerNotFound condition, not counted toward fallback, after 3 failed polls',
      async () => {
        const s = await eventConsumerStatus(ns.name, 'orphan');
        return condition(s, 'Ready')?.reason === 'ConsumerNotFound' &&
          condition(s, 'Fallback')?.reason === 'NotApplicable' &&
          (await failedPolls()) >= 3
          ? s
          : undefined;
      },
      30_000,
    );
    expect(condition(status, 'Ready')?.message).toContain(
      `consumer "missing" does not exist on stream "${stream}"`,
    );
    expect(condition(status, 'Fallback')?.status).toBe('False');
    expect(await specReplicas(ns.name, 'orphan')).toBe(3);
    const warning = await eventually(
      'a ConsumerNotFound event',
      async () => (await eventsFor(ns.name, 'orphan')).find((e) => e.reason === 'ConsumerNotFound'),
      5000,
    );
    expect(warning.type).toBe('Warning');
  });

  it('drops the metrics of a deleted EventConsumer', async () => {
    const series = `name="orphan"`;
    const scrape = async (): Promise<string> =>
      (await fetch(`http://127.0.0.1:${operator.metricsPort}/metrics`)).text();
    await eventually(
      'orphan series',
      async () => ((await scrape()).includes(series) ? true : undefined),
      10_000,
    );
    await kubeApi().request('DELETE', `${eventConsumersPath(ns.name)}/orphan`);
    await eventually(
      'orphan series gone',
      async () => ((await scrape()).includes(series) ? undefined : true),
      10_000,
    );
  });

  it('leaves replicas alone when the auth Secret does not parse, naming the Secret', async () => {
    await kubeApi().request('POST', `/api/v1/namespaces/${ns.name}/secrets`, {
      body: {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'nats-auth', namespace: ns.name },
        stringData: { user: 'only-a-user' },
      },
    });
    await createDeployment(ns.name, 'locked', 2);
    await createEventConsumer({
      namespace: ns.name,
      name: 'locked',
      target: 'locked',
      servers: [testStack().natsUrl],
      stream: 'ANY',
      consumer: 'any',
      extra: {
        pollInterval: '1s',
        nats: {
          servers: [testStack().natsUrl],
          stream: 'ANY',
          consumer: 'any',
          auth: { secretRef: { name: 'nats-auth' } },
        },
      },
    });
    const status = await eventually(
      'a SecretInvalid condition',
      async () => {
        const s = await eventConsumerStatus(ns.name, 'locked');
        return condition(s, 'Ready')?.reason === 'SecretInvalid' ? s : undefined;
      },
      10_000,
    );
    expect(condition(status, 'Ready')?.message).toContain(`Secret ${ns.name}/nats-auth`);
    expect(condition(status, 'Ready')?.message).not.toContain('only-a-user');
    expect(await specReplicas(ns.name, 'locked')).toBe(2);
  });
});
