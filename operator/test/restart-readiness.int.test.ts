// Replicas that do not become ready stop every scale-up (scaling/readiness.ts, the readiness
// deadline). An operator restarted (a helm upgrade, a node drain) or a new leader has no readings of
// its own for a whole deadline: before the finding was carried through status
// (status.consumers[].replicasOverdue), its first reading sized the count by the backlog alone and
// asked for more of the pods that do not start. On the real stack (API server, kube-controller-manager,
// NATS): pods that cannot be scheduled (a nodeSelector no node has), a backlog that asks for more,
// one reconciler that holds, then a new one reading the status the first wrote.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { createNamespace, testStack } from '../../test/env.js';
import type { EventConsumerObject } from '../src/api/v1alpha1/event-consumer.js';
import { eventConsumerPath } from '../src/api/v1alpha1/group-version.js';
import { ConnectionPool } from '../src/backlog/connection-pool.js';
import { NatsBacklogSources } from '../src/backlog/nats-backlog-sources.js';
import { Reconciler } from '../src/controller/reconciler.js';
import type { KubeApi } from '../src/kube/api-client.js';
import { EventRecorder } from '../src/kube/event-recorder.js';
import { ScaleClient } from '../src/kube/scale-client.js';
import { SecretReader } from '../src/kube/secret-reader.js';
import { silentLogger } from '../src/observability/logger.js';
import { OperatorMetrics } from '../src/observability/metrics.js';
import {
  closeKubeApi,
  condition,
  createEventConsumer,
  createStreamAndConsumer,
  eventConsumerStatus,
  installCrd,
  kubeApi,
  publish,
  sleep,
  specReplicas,
  streamName,
} from './harness.js';

/** A reconciler on the real API server and NATS reading the EventConsumer from `cached` (a new process: a new one). */
function processReconciler(
  cached: () => EventConsumerObject | undefined,
  api: KubeApi,
  pool: ConnectionPool,
) {
  const metrics = new OperatorMetrics({ processMetrics: false });
  return new Reconciler({
    cache: { get: cached },
    api,
    scale: new ScaleClient(api),
    secrets: new SecretReader(api),
    backlog: new NatsBacklogSources(pool, { timeoutMs: 2000, metrics }),
    events: new EventRecorder({ api, logger: silentLogger, instance: 'restart-readiness-test' }),
    metrics,
    logger: silentLogger,
  });
}

describe('an operator restarted while replicas do not become ready', () => {
  let ns: { name: string; cleanup: () => Promise<void> };
  let nc: NatsConnection;
  let pool: ConnectionPool;
  let stream: string;

  beforeAll(async () => {
    await installCrd();
    ns = await createNamespace('op-restart-ready');
    nc = await connect({ servers: testStack().natsUrl });
    stream = streamName('restartready');
    await createStreamAndConsumer(nc, stream, 'worker');
  });

  afterAll(async () => {
    await pool?.closeAll();
    await (await jetstreamManager(nc)).streams.delete(stream).catch(() => undefined);
    await nc?.close();
    await ns?.cleanup();
    closeKubeApi();
  });

  it('keeps the count the previous process held: no more unschedulable pods at its first readings', async () => {
    const api = kubeApi();
    pool = new ConnectionPool({
      logger: silentLogger,
      metrics: new OperatorMetrics({ processMetrics: false }),
      connectTimeoutMs: 2000,
    });
    let cached: EventConsumerObject | undefined;
    const refresh = async (): Promise<void> => {
      cached = await api.request<EventConsumerObject>('GET', eventConsumerPath(ns.name, 'orders'));
    };
    const key = `${ns.name}/orders`;
    const settled = async (r: Reconciler): Promise<void> => {
      await refresh();
      for (let attempt = 0; attempt < 5; attempt++) {
        if ((await r.reconcile(key)).requeueAfterMs !== 0) break;
      }
      await r.statusSettled();
    };
    // Pods no node can take: never ready.
    await api.request('POST', `/apis/apps/v1/namespaces/${ns.name}/deployments`, {
      body: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'worker', namespace: ns.name },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'worker' } },
          template: {
            metadata: { labels: { app: 'worker' } },
            spec: {
              nodeSelector: { 'jetscale.io/no-such-node': 'true' },
              containers: [{ name: 'worker', image: 'jetscale/fake-worker' }],
            },
          },
        },
      },
    });
    await createEventConsumer({
      namespace: ns.name,
      name: 'orders',
      target: 'worker',
      servers: [testStack().natsUrl],
      stream,
      consumer: 'worker',
      extra: {
        minReplicas: 1,
        maxReplicas: 20,
        backlogPerReplica: 100,
        behavior: { readinessDeadline: '10s' },
      },
    });
    await publish(nc, stream, 250);

    // The first process: the backlog asks for 3; none become ready; 10 s later they are overdue.
    const first = processReconciler(() => cached, api, pool);
    const start = Date.now();
    while (Date.now() - start < 14_000) {
      await settled(first);
      await sleep(2000);
    }
    expect(await specReplicas(ns.name, 'worker')).toBe(3);
    // The backlog now asks for 15: held.
    await publish(nc, stream, 1250);
    await settled(first);
    expect(await specReplicas(ns.name, 'worker')).toBe(3);
    const held = await eventConsumerStatus(ns.name, 'orders');
    expect(condition(held, 'ScalingLimited')?.reason).toBe('ReplicasNotReady');
    expect(held.consumers?.[0]?.replicasOverdue).toEqual({ asked: 3, ready: 0, overdue: 3 });
    first.forgetAll();

    // A new process (a restart, a new leader): its first two readings.
    const second = processReconciler(() => cached, api, pool);
    await settled(second);
    expect(await specReplicas(ns.name, 'worker')).toBe(3);
    expect(condition(await eventConsumerStatus(ns.name, 'orders'), 'ScalingLimited')?.reason).toBe(
      'ReplicasNotReady',
    );
    await sleep(2000);
    await settled(second);
    expect(await specReplicas(ns.name, 'worker')).toBe(3);
    second.forgetAll();
  }, 60_000);
});
