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
import type { KubeApi } from '../src/kube/api-client.js';
import { EventRecorder } from '../src/kube/event-recorder.js';
import { ScaleClient } from '../src/kube/scale-client.js';
import { SecretReader } from '../src/kube/secret-reader.js';
import { silentLogger, type Logger } from '../src/observability/logger.js';
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

/**
 * A reconciler on the real API server and NATS whose informer cache is whatever `cached` returns;
 * `writes` is the client for the EventConsumer's own requests (status), `api` for everything else.
 */
function testReconciler(
  cached: () => EventConsumerObject | undefined,
  deps: { api: KubeApi; writes: KubeApi; pool: ConnectionPool; metrics: OperatorMetrics; logger: Logger },
): Reconciler {
  const { api, pool, metrics } = deps;
  return new Reconciler({
    cache: { get: cached },
    api: deps.writes,
    scale: new ScaleClient(api),
    secrets: new SecretReader(api),
    backlog: new NatsBacklogSources(pool, { timeoutMs: 2000, metrics }),
    events: new EventRecorder({ api, logger: silentLogger, instance: 'recreate-test' }),
    metrics,
    logger: deps.logger,
  });
}

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
    const reconciler = testReconciler(() => cached, {
      api,
      writes: api,
      pool,
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
    await reconciler.statusSettled();
    const status = await eventConsumerStatus(ns.name, 'orders');
    expect(status.desiredReplicas).toBe(3);
    expect(status.consecutiveFailures).toBe(0);
    expect(reconciler.trackedCount()).toBe(1);
    reconciler.forgetAll();
  });

  it('never writes the status built for the old object onto the new one', async () => {
    // The informer has not seen the delete yet: its cache still shows the old object while the API
    // server holds a new one under the same name. The status the reconciler builds from the old
    // object must not land on the new one (on the old reconciler, a merge patch by name, it did).
    const api = kubeApi();
    let statusPatches = 0;
    const counting: typeof api = {
      request: (method, path, options) => {
        if (method === 'PATCH' && path.endsWith('/status')) statusPatches++;
        return api.request(method, path, options);
      },
    } as typeof api;
    const metrics = new OperatorMetrics({ processMetrics: false });
    const warnings: string[] = [];
    const logger = { ...silentLogger, warn: (msg: string) => void warnings.push(msg) };
    const statusPool = new ConnectionPool({ logger: silentLogger, metrics, connectTimeoutMs: 2000 });
    let cached: EventConsumerObject | undefined;
    const reconciler = testReconciler(() => cached, {
      api,
      writes: counting,
      pool: statusPool,
      metrics,
      logger,
    });
    const key = `${ns.name}/payments`;
    const reconcileSettled = async (): Promise<void> => {
      for (let attempt = 0; attempt < 5; attempt++) {
        if ((await reconciler.reconcile(key)).requeueAfterMs !== 0) break;
      }
      await reconciler.statusSettled();
    };
    const get = (): Promise<EventConsumerObject> =>
      api.request<EventConsumerObject>('GET', eventConsumerPath(ns.name, 'payments'));
    try {
      const fixture = {
        namespace: ns.name,
        name: 'payments',
        target: 'payments-worker',
        servers: [testStack().natsUrl],
        stream,
        consumer: 'worker',
      };
      // At the old object's maxReplicas already, so its verdict needs no /scale write: a write
      // would be stopped before it by the stored object's other uid (47a67fb), and so would the
      // status; this test is about the status built for the old object.
      await createDeployment(ns.name, 'payments-worker', 2);
      await createEventConsumer({ ...fixture, extra: { maxReplicas: 2 } });
      cached = await get();
      await api.request('DELETE', eventConsumerPath(ns.name, 'payments'));
      await createEventConsumer({ ...fixture, extra: { maxReplicas: 4 } });

      await reconcileSettled();
      const fresh = await get();
      expect(fresh.metadata?.uid).not.toBe(cached?.metadata?.uid);
      expect(statusPatches).toBeGreaterThan(0);
      // Nothing of the old object's status on the new one, and no warning: the object it was
      // meant for is gone, which is not a failure.
      expect(fresh.status ?? {}).toEqual({});
      expect(warnings).toEqual([]);

      // Once the cache shows the new object, its own status is written.
      cached = fresh;
      await reconcileSettled();
      const written = await eventConsumerStatus(ns.name, 'payments');
      expect(written.observedGeneration).toBe(1);
      expect(written.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    } finally {
      reconciler.forgetAll();
      await statusPool.closeAll();
    }
  });
});
