// Optimistic /scale writes on the real API server: a write carries the resourceVersion of the
// reading it was decided from, so a change made in between (a user, another controller, a former
// leader) is answered with 409 and never overwritten; the reconciler then reads the target again
// and decides from what it finds.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { createNamespace, eventually, testStack } from '../../test/env.js';
import type { EventConsumerObject } from '../src/api/v1alpha1/event-consumer.js';
import { eventConsumerPath } from '../src/api/v1alpha1/group-version.js';
import { ConnectionPool } from '../src/backlog/connection-pool.js';
import { NatsBacklogSources } from '../src/backlog/nats-backlog-sources.js';
import { Reconciler } from '../src/controller/reconciler.js';
import { EventRecorder } from '../src/kube/event-recorder.js';
import { ScaleClient, ScaleError, type ScaleTargetRef } from '../src/kube/scale-client.js';
import { SecretReader } from '../src/kube/secret-reader.js';
import { silentLogger } from '../src/observability/logger.js';
import { OperatorMetrics } from '../src/observability/metrics.js';
import {
  closeKubeApi,
  createDeployment,
  createEventConsumer,
  createStreamAndConsumer,
  eventsFor,
  installCrd,
  kubeApi,
  publish,
  setReplicas,
  specReplicas,
  streamName,
} from './harness.js';

const DEPLOYMENT: ScaleTargetRef = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'worker' };

describe('optimistic /scale writes', () => {
  let ns: { name: string; cleanup: () => Promise<void> };
  let nc: NatsConnection;
  let pool: ConnectionPool | undefined;
  let stream: string;

  beforeAll(async () => {
    await installCrd();
    ns = await createNamespace('op-conflict');
    nc = await connect({ servers: testStack().natsUrl });
    stream = streamName('conflict');
    await createStreamAndConsumer(nc, stream, 'worker');
    await createDeployment(ns.name, 'worker', 1);
  });

  afterAll(async () => {
    await pool?.closeAll();
    await (await jetstreamManager(nc)).streams.delete(stream).catch(() => undefined);
    await nc?.close();
    await ns?.cleanup();
    closeKubeApi();
  });

  it('a write based on an outdated reading is refused with Conflict and changes nothing', async () => {
    const scale = new ScaleClient(kubeApi());
    const reading = await scale.get(ns.name, DEPLOYMENT, { fresh: true });
    expect(reading.resourceVersion).toMatch(/^\d+$/);
    await setReplicas(ns.name, 'worker', 4); // someone else, after our read
    let error: unknown;
    try {
      await scale.setReplicas(ns.name, DEPLOYMENT, 9, reading.resourceVersion);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ScaleError);
    expect((error as ScaleError).kind).toBe('Conflict');
    expect(await specReplicas(ns.name, 'worker')).toBe(4);
    // Based on a current reading the same write goes through. The deployment controller keeps
    // writing the Deployment's status while its pods come up, and each write is a new
    // resourceVersion: a read it overtakes is refused too (Conflict, nothing written), so read again.
    for (let attempt = 1; ; attempt++) {
      const current = await scale.get(ns.name, DEPLOYMENT, { fresh: true });
      try {
        await scale.setReplicas(ns.name, DEPLOYMENT, 9, current.resourceVersion);
        break;
      } catch (err) {
        expect((err as ScaleError).kind).toBe('Conflict');
        expect(await specReplicas(ns.name, 'worker')).toBe(4);
        if (attempt >= 10) throw err;
      }
    }
    expect(await specReplicas(ns.name, 'worker')).toBe(9);
  });

  it('the reconciler never overwrites a change made after its read: it reads again and decides again', async () => {
    await setReplicas(ns.name, 'worker', 1);
    const api = kubeApi();
    const metrics = new OperatorMetrics({ processMetrics: false });
    pool = new ConnectionPool({ logger: silentLogger, metrics, connectTimeoutMs: 2000 });
    const realScale = new ScaleClient(api);
    // The real client, with someone else scaling the Deployment to 2 between the reconciler's
    // read and its first write (the write then meets a real 409 from the API server).
    let interleave: (() => Promise<void>) | undefined = () => setReplicas(ns.name, 'worker', 2);
    const writes: Array<{ replicas: number; outcome: string }> = [];
    const scale = {
      get: realScale.get.bind(realScale),
      setReplicas: async (namespace: string, ref: ScaleTargetRef, replicas: number, rv: string) => {
        const change = interleave;
        interleave = undefined;
        await change?.();
        try {
          const stored = await realScale.setReplicas(namespace, ref, replicas, rv);
          writes.push({ replicas, outcome: 'written' });
          return stored;
        } catch (err) {
          writes.push({ replicas, outcome: err instanceof ScaleError ? err.kind : 'error' });
          throw err;
        }
      },
    };
    await createEventConsumer({
      namespace: ns.name,
      name: 'orders',
      target: 'worker',
      servers: [testStack().natsUrl],
      stream,
      consumer: 'worker',
      extra: {
        maxReplicas: 20,
        behavior: { scaleUp: { policies: [{ type: 'Pods', value: 3, period: '60s' }] } },
      },
    });
    const obj = await api.request<EventConsumerObject>('GET', eventConsumerPath(ns.name, 'orders'));
    const reconciler = new Reconciler({
      cache: { get: () => obj },
      api,
      scale,
      secrets: new SecretReader(api),
      backlog: new NatsBacklogSources(pool, { timeoutMs: 2000, metrics }),
      events: new EventRecorder({ api, logger: silentLogger, instance: 'conflict-test' }),
      metrics,
      logger: silentLogger,
    });
    await publish(nc, stream, 1500);
    const first = await reconciler.reconcile(`${ns.name}/orders`);
    // Refused: the user's 2 stands, nothing else was written, and the reconcile asks to run again at once.
    expect(writes).toEqual([{ replicas: 4, outcome: 'Conflict' }]);
    expect(first.requeueAfterMs).toBe(0);
    expect(await specReplicas(ns.name, 'worker')).toBe(2);
    // Decided again from the 2 it now reads: the step policy (+3 per 60 s) allows 5, not 4. The
    // deployment controller may still be writing the Deployment's status after the user's change,
    // which moves its resourceVersion between our read and our write: that is another honest 409,
    // and the reconciler reads and decides again, as it would at its immediate requeue.
    for (let attempt = 0; attempt < 5 && writes.at(-1)?.outcome !== 'written'; attempt++)
      await reconciler.reconcile(`${ns.name}/orders`);
    expect(writes.slice(1).every((w) => w.replicas === 5)).toBe(true);
    expect(writes.at(-1)).toEqual({ replicas: 5, outcome: 'written' });
    expect(await specReplicas(ns.name, 'worker')).toBe(5);
    // Events are sent in the background: wait for the Scaled one, then check it is the only one.
    const events = await eventually(
      'the Scaled event',
      async () => {
        const all = await eventsFor(ns.name, 'orders');
        return all.some((e) => e.reason === 'Scaled') ? all : undefined;
      },
      10_000,
    );
    expect(events.filter((e) => e.reason === 'ScaleConflict')).toEqual([]);
    expect(events.filter((e) => e.reason === 'Scaled').map((e) => e.message)).toEqual([
      expect.stringMatching(/from 2 to 5/),
    ]);
    reconciler.forgetAll();
  });
});
