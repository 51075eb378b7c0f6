// An EventConsumer deleted and recreated under the same name is a new object: on the real stack
// (real API server, real NATS), the reconciler must not carry the old object's parsed spec,
// policy history or failure count over to the new one. The reconciler is driven directly with a
// cache that, like an informer after a relist that missed the delete, shows the new object under
// the old key with the same generation.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { createNamespace, testStack } from '../../test/env.js';
import type { EventConsumerObject } from '../src/api/v1alpha1/event-consumer.js';
import { eventConsumerPath } from '../src/api/v1alpha1/group-version.js';
import { ConnectionPool } from '../src/backlog/connection-pool.js';
import { NatsBacklogSources } from '../src/backlog/nats-backlog-sources.js';
import { Reconciler } from '../src/controller/reconciler.js';
import { EventRecorder } from '../src/kube/event-recorder.js';
import { ScaleClient } from '../src/kube/scale-client.js';
import { SecretReader } from '../src/kube/secret-reader.js';
import { silentLogger } from '../src/observability/logger.js';
import { OperatorMetrics } from '../src/observability/metrics.js';
import {
  closeKubeApi,
  createDeployment,
  createEventConsumer,
  createStreamAndConsumer,
  eventConsumerStatus,
  installCrd,
  kubeApi,
  publish,
  specReplicas,
  streamName,
} from './harness.js';

describe('an EventConsumer deleted and recreated under the same name', () => {
  let ns: { name: string; cleanup: () => Promise<void> };
  let nc: NatsConnection;
  let pool: ConnectionPool;
  let stream: string;

  beforeAll(async () => {
    await installCrd();
    ns = await createNamespace('op-recreate');
    nc = await connect({ servers: testStack().natsUrl });
    stream = streamName('recreate');
    await createStreamAndConsumer(nc, stream, 'worker');
  });

  afterAll(async () => {
    await pool?.closeAll();
    await (await jetstreamManager(nc)).streams.delete(stream).catch(() => undefined);
    await nc?.close();
    await ns?.cleanup();
    closeKubeApi();
  });

  it('does not inherit the old object’s spec, history or failures', async () => {
    const api = kubeApi();
    const metrics = new OperatorMetrics({ processMetrics: false });
    pool = new ConnectionPool({ logger: silentLogger, metrics, connectTimeoutMs: 2000 });
    let cached: EventConsumerObject | undefined;
    const refresh = async (): Promise<void> => {
      cached = await api.request<EventConsumerObject>('GET', eventConsumerPath(ns.name, 'orders'));
    };
    const reconciler = new Reconciler({
      cache: { get: () => cached },
      api,
      scale: new ScaleClient(api),
      secrets: new SecretReader(api),
      backlog: new NatsBacklogSources(pool, { timeoutMs: 2000, metrics }),
      events: new EventRecorder({ api, logger: silentLogger, instance: 'recreate-test' }),
      metrics,
      logger: silentLogger,
    });
    const key = `${ns.name}/orders`;
    // As the controller's work queue does: a reconcile that asks to run again at once (the
    // Deployment changed between read and write, a 409 from kube-controller-manager's own status
    // updates) is run again before the outcome is judged.
    const reconcileSettled = async (): Promise<void> => {
      for (let attempt = 0; attempt < 5; attempt++) {
        const result = await reconciler.reconcile(key);
        if (result.requeueAfterMs !== 0) return;
      }
    };
    const fixture = {
      namespace: ns.name,
      name: 'orders',
      target: 'worker',
      servers: [testStack().natsUrl],
      stream,
      consumer: 'worker',
    };

    await createDeployment(ns.name, 'worker', 1);
    await createEventConsumer({ ...fixture, extra: { maxReplicas: 5 } });
    await publish(nc, stream, 900);
    await refresh();
    const oldUid = cached?.metadata?.uid;
    await reconcileSettled();
    expect(await specReplicas(ns.name, 'worker')).toBe(5);

    await api.request('DELETE', eventConsumerPath(ns.name, 'orders'));
    await createEventConsumer({ ...fixture, extra: { maxReplicas: 3 } });
    await refresh();
    expect(cached?.metadata?.uid).not.toBe(oldUid);
    expect(cached?.metadata?.generation).toBe(1);

    await reconcileSettled();
    // The new object's maxReplicas (3) applies at once: on the old reconciler the spec parsed for
    // the old object (generation 1, maxReplicas 5) was reused and the Deployment stayed at 5.
    expect(await specReplicas(ns.name, 'worker')).toBe(3);
    const status = await eventConsumerStatus(ns.name, 'orders');
    expect(status.desiredReplicas).toBe(3);
    expect(status.consecutiveFailures).toBe(0);
    expect(reconciler.trackedCount()).toBe(1);
    reconciler.forgetAll();
  });
});
