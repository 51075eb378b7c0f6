// The operator's watch of EventConsumers stalls without a word (a half-open connection, a load
// balancer dropping an idle stream, an API server that stops sending): no error, no close, and
// every other request still answered. A user lowers maxReplicas meanwhile. The operator must not
// keep scaling by the old spec until the periodic re-list (5 min by default): its own status write
// answers carry the object's generation, newer than the cached one, and that is taken at once.
// On the real stack: an in-process operator reaches the API server through a TCP proxy that
// freezes the long-lived streams (the watch) while request/response traffic passes.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { eventually, testStack } from '../../test/env.js';
import { eventConsumerPath, eventConsumersPath } from '../src/api/v1alpha1/group-version.js';
import { loadConfig } from '../src/config/config.js';
import { createLogger } from '../src/observability/logger.js';
import { runOperator, type RunningOperator } from '../src/run-operator.js';
import { apiServerProxy } from './ha-drill.js';
import {
  condition,
  createDeployment,
  createEventConsumer,
  eventConsumerStatus,
  kubeApi,
  publish,
  sleep,
  specReplicas,
  useStreamDrill,
} from './harness.js';
import { CRDS_PATH, installScalableCrd } from './scalable-crd.js';
import type { TcpProxy } from './tcp-proxy.js';

/** The quiet case's target kind: its own group, deleted at the end. */
const QUIET_KIND = { group: 'quiet.jetscale.test', kind: 'Gizmo', plural: 'gizmos' };

/**
 * Freezes the operator's watch: an annotation changed now and then makes the API server push an
 * event on it long after its request, so the proxy knows it as a stream; then its socket stays
 * open and nothing more arrives on it.
 */
async function freezeWatch(proxy: TcpProxy, namespace: string, name: string): Promise<void> {
  let nudges = 0;
  await eventually(
    'the watch to show as a stream',
    async () => {
      if (proxy.streams() >= 1) return true;
      await kubeApi().request('PATCH', eventConsumerPath(namespace, name), {
        body: { metadata: { annotations: { 'test/nudge': String(++nudges) } } },
      });
      return undefined;
    },
    30_000,
    1_500,
  );
  expect(proxy.freezeStreams()).toBeGreaterThanOrEqual(1);
}

describe('a watch that stalls silently', () => {
  let operator: RunningOperator | undefined;
  let proxy: TcpProxy | undefined;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'stalled-watch-'));
  afterAll(async () => {
    await kubeApi()
      .request('DELETE', `${CRDS_PATH}/${QUIET_KIND.plural}.${QUIET_KIND.group}`)
      .catch(() => undefined);
    await operator?.stop();
    await proxy?.close();
    rmSync(tmp, { recursive: true, force: true });
  });
  const drill = useStreamDrill({ namespace: 'op-stalledwatch', instance: 'stalled-watch-test' });

  it('does not hide a lowered maxReplicas: it is followed within two polls + 10 s', async () => {
    const name = 'watched';
    const stream = await drill.addStream(name, 300);
    await createDeployment(drill.ns.name, name, 1);
    await createEventConsumer({
      namespace: drill.ns.name,
      name,
      target: name,
      servers: [testStack().natsUrl],
      stream,
      consumer: 'worker',
      extra: { pollInterval: '2s', maxReplicas: 10, backlogPerReplica: 100 },
    });

    const file = path.join(tmp, 'kubeconfig');
    proxy = await apiServerProxy(file);
    const kc = new KubeConfig();
    kc.loadFromFile(file);
    const config = loadConfig({
      JETSCALE_NAMESPACES: drill.ns.name,
      JETSCALE_LEADER_ELECTION: 'false',
      JETSCALE_METRICS_HOST: '127.0.0.1',
      JETSCALE_METRICS_PORT: '0',
    });
    operator = await runOperator(config, kc, createLogger({ level: 'error' }));
    await eventually('scaled to 3', async () =>
      (await specReplicas(drill.ns.name, name)) === 3 ? true : undefined,
    );

    await freezeWatch(proxy, drill.ns.name, name);

    await kubeApi().request('PATCH', eventConsumerPath(drill.ns.name, name), {
      body: { spec: { maxReplicas: 2 } },
    });
    const changedAt = performance.now();
    // More backlog: by the old spec (maxReplicas 10) that is 6 replicas; by the new one, 2.
    await publish(drill.nc, stream, 300);

    // Two polls (2 s each) + 10 s. On the old code the operator went to 6 and stayed there until
    // the re-list 5 min later.
    await eventually(
      'maxReplicas 2 applied',
      async () => {
        const replicas = await specReplicas(drill.ns.name, name);
        if (replicas !== 2) throw new Error(`the Deployment has ${replicas} replicas`);
        return true;
      },
      14_000,
      250,
    );
    const followedSeconds = (performance.now() - changedAt) / 1000;
    process.stderr.write(`stalled-watch: maxReplicas 2 followed in ${followedSeconds.toFixed(1)} s\n`);
    // And it stays there: nothing from the old spec comes back.
    for (let i = 0; i < 5; i++) {
      await sleep(1_000);
      expect({ followedSeconds, replicas: await specReplicas(drill.ns.name, name) }).toMatchObject({
        replicas: 2,
      });
    }
    // Noticed by the operator's own requests — a write answer or the GET before a /scale write
    // showing a newer generation ('missed'), or an owed event not arriving ('stale', when that came
    // first on a loaded machine) — not by the periodic re-list; the frozen watch was closed by it.
    const restarts: Record<string, number> = Object.fromEntries(
      (await operator.metrics.informerRestarts.get()).values.map((v) => [String(v.labels.cause), v.value]),
    );
    expect((restarts.missed ?? 0) + (restarts.stale ?? 0)).toBeGreaterThanOrEqual(1);
    expect(restarts.relist).toBeUndefined();
  });

  it('does not scale a target once paused: no /scale write on a spec older than the stored one', async () => {
    if (operator === undefined || proxy === undefined)
      throw new Error('the first case did not start the operator');
    const name = 'paused';
    const stream = await drill.addStream(name, 300);
    await createDeployment(drill.ns.name, name, 1);
    await createEventConsumer({
      namespace: drill.ns.name,
      name,
      target: name,
      servers: [testStack().natsUrl],
      stream,
      consumer: 'worker',
      extra: { pollInterval: '2s', maxReplicas: 10, backlogPerReplica: 100 },
    });
    await eventually('scaled to 3', async () =>
      (await specReplicas(drill.ns.name, name)) === 3 ? true : undefined,
    );
    // The informer restarted in the first case: its new watch must show as a stream before it is frozen.
    await freezeWatch(proxy, drill.ns.name, name);

    await kubeApi().request('PATCH', eventConsumerPath(drill.ns.name, name), {
      body: { spec: { paused: true } },
    });
    // By the cached spec (not paused) this backlog asks for 6; paused leaves the target alone, so a
    // single write by the old spec would stay.
    await publish(drill.nc, stream, 300);
    const seen = new Set<number>();
    for (let i = 0; i < 12; i++) {
      await sleep(1_000);
      seen.add(await specReplicas(drill.ns.name, name));
    }
    expect([...seen]).toEqual([3]);
    // The spec was taken from the stored object: the EventConsumer says it is paused.
    await eventually('the Paused condition', async () => {
      const status = await eventConsumerStatus(drill.ns.name, name);
      const paused = status.conditions?.find((c) => c.type === 'Paused');
      if (paused?.status !== 'True') throw new Error(`Paused is ${JSON.stringify(paused)}`);
      return true;
    });
  });

  /**
   * Deletes the EventConsumers of the earlier cases: their status writes (and the restarts their
   * answers cause) would restart the shared informer and hide what a lone EventConsumer sees.
   */
  async function deleteEventConsumersBut(keep: string): Promise<void> {
    const list = await kubeApi().request<{ items: Array<{ metadata: { name: string } }> }>(
      'GET',
      eventConsumersPath(drill.ns.name),
    );
    for (const { metadata } of list.items)
      if (metadata.name !== keep)
        await kubeApi().request('DELETE', eventConsumerPath(drill.ns.name, metadata.name));
    await eventually('only one EventConsumer left', async () => {
      const left = await kubeApi().request<{ items: unknown[] }>('GET', eventConsumersPath(drill.ns.name));
      return left.items.length === 1 ? true : undefined;
    });
  }

  /** Until the status has not changed for `quietMs` (its conditions settled after the first polls). */
  async function statusSettled(name: string, quietMs: number): Promise<void> {
    let last = '';
    let since = performance.now();
    await eventually(
      `${name}'s status to settle`,
      async () => {
        const now = JSON.stringify((await eventConsumerStatus(drill.ns.name, name)).conditions);
        if (now !== last) {
          last = now;
          since = performance.now();
        }
        return performance.now() - since >= quietMs ? true : undefined;
      },
      60_000,
      500,
    );
  }

  /** Informer restarts so far, by cause. */
  async function restartsByCause(): Promise<Record<string, number>> {
    if (operator === undefined) throw new Error('the first case did not start the operator');
    return Object.fromEntries(
      (await operator.metrics.informerRestarts.get()).values.map((v) => [String(v.labels.cause), v.value]),
    );
  }

  it("restarts the watch within 10 s (+ the watchdog's tick) when the event of its own status write does not come", async () => {
    if (operator === undefined || proxy === undefined)
      throw new Error('the first case did not start the operator');
    const name = 'canary';
    const stream = await drill.addStream(name);
    await createDeployment(drill.ns.name, name, 1);
    await createEventConsumer({
      namespace: drill.ns.name,
      name,
      target: name,
      servers: [testStack().natsUrl],
      stream,
      consumer: 'worker',
      extra: { pollInterval: '2s', minReplicas: 1, maxReplicas: 10, backlogPerReplica: 100 },
    });
    await deleteEventConsumersBut(name);
    await statusSettled(name, 5_000);
    await freezeWatch(proxy, drill.ns.name, name);
    const before = await restartsByCause();
    // Something users act on changes (the consumer is gone): the operator writes status at once,
    // and the frozen watch never brings that write's event.
    await drill.jsm.consumers.delete(stream, 'worker');
    await eventually(
      'the ConsumerNotFound status',
      async () => {
        const status = await eventConsumerStatus(drill.ns.name, name);
        return status.conditions?.find((c) => c.type === 'Ready')?.reason === 'ConsumerNotFound'
          ? true
          : undefined;
      },
      20_000,
      100,
    );
    const writtenAt = performance.now();
    await eventually(
      'a stale restart',
      async () => ((await restartsByCause()).stale ?? 0) > (before.stale ?? 0) || undefined,
      30_000,
      100,
    );
    const seconds = (performance.now() - writtenAt) / 1000;
    process.stderr.write(
      `stalled-watch: own status write's event missing, restart after ${seconds.toFixed(1)} s\n`,
    );
    // canaryMs (10 s) + the watchdog's tick (2.5 s) + slack for a loaded machine.
    expect(seconds).toBeLessThanOrEqual(17.5);
  });

  it('follows a spec change of a quiet EventConsumer (no status writes, no /scale writes) within 10 s of probing', async () => {
    if (operator === undefined || proxy === undefined)
      throw new Error('the first case did not start the operator');
    const name = 'quiet';
    const stream = await drill.addStream(name);
    // A custom resource with no controller behind it: no pods whose readiness changes the status.
    await installScalableCrd(QUIET_KIND);
    await kubeApi().request(
      'POST',
      `/apis/${QUIET_KIND.group}/v1/namespaces/${drill.ns.name}/${QUIET_KIND.plural}`,
      {
        body: {
          apiVersion: `${QUIET_KIND.group}/v1`,
          kind: QUIET_KIND.kind,
          metadata: { name },
          spec: { replicas: 1 },
        },
      },
    );
    await createEventConsumer({
      namespace: drill.ns.name,
      name,
      target: name,
      servers: [testStack().natsUrl],
      stream,
      consumer: 'worker',
      extra: {
        scaleTargetRef: { apiVersion: `${QUIET_KIND.group}/v1`, kind: QUIET_KIND.kind, name },
        pollInterval: '2s',
        minReplicas: 1,
        maxReplicas: 10,
        backlogPerReplica: 100,
      },
    });
    await deleteEventConsumersBut(name);
    // Quiet: the scale-down stabilization window of its first polls is over (ScalingLimited's
    // reason goes from Stabilization to MinReplicas, a status write), and nothing changes after.
    await eventually(
      'held at minReplicas',
      async () =>
        condition(await eventConsumerStatus(drill.ns.name, name), 'ScalingLimited')?.reason === 'MinReplicas'
          ? true
          : undefined,
      90_000,
      500,
    );
    await statusSettled(name, 3_000);
    await freezeWatch(proxy, drill.ns.name, name);
    const before = await restartsByCause();
    // Nothing moves: the operator has no status to write for minutes, and nothing to scale.
    await kubeApi().request('PATCH', eventConsumerPath(drill.ns.name, name), {
      body: { spec: { paused: true } },
    });
    const changedAt = performance.now();
    await eventually(
      'the Paused condition',
      async () => {
        const status = await eventConsumerStatus(drill.ns.name, name);
        return status.conditions?.find((c) => c.type === 'Paused')?.status === 'True' ? true : undefined;
      },
      40_000,
      200,
    );
    const seconds = (performance.now() - changedAt) / 1000;
    process.stderr.write(
      `stalled-watch: restarts before ${JSON.stringify(before)}, after ${JSON.stringify(await restartsByCause())}\n`,
    );
    process.stderr.write(
      `stalled-watch: quiet EventConsumer's spec change followed in ${seconds.toFixed(1)} s\n`,
    );
    // Silent for probeAfterMs (10 s) + the watchdog's tick (2.5 s) + one poll (2 s) + slack. Before
    // the probe: at its next status refresh (5 min) or re-list (5 min).
    expect(seconds).toBeLessThanOrEqual(20);
    expect((await restartsByCause()).missed ?? 0).toBeGreaterThan(before.missed ?? 0);
  });
});
