// Scale targets other than a Deployment: a StatefulSet (its pods start one after the other by
// default: OrderedReady), and a custom resource with a /scale subresource whose spec.replicas is
// unset. On the real stack, the reconciler driven directly; the StatefulSet's pods on a node the test
// plays kubelet for (hand-node.ts), so each is ready when the drill says.
import { eventually, testStack } from '../../test/env.js';
import {
  condition,
  createEventConsumer,
  eventConsumerStatus,
  eventsFor,
  kubeApi,
  publish,
  sleep,
  useStreamDrill,
} from './harness.js';
import { installScalableCrd } from './scalable-crd.js';
import { HandNode, onHandNode } from './hand-node.js';

describe('scale targets other than a Deployment', () => {
  const drill = useStreamDrill({ namespace: 'op-kinds', instance: 'target-kinds-test' });
  let node: HandNode;

  beforeAll(async () => {
    node = new HandNode(`hand-${drill.ns.name}`, drill.ns.name);
    await node.start();
  });
  afterAll(async () => {
    await node?.stop();
  });

  async function streamWithConsumer(name: string, backlog: number): Promise<string> {
    const stream = await drill.addStream(name, backlog);
    return stream;
  }

  async function statefulSet(name: string): Promise<{ spec: number; ready: number; replicas: number }> {
    const s = await kubeApi().request<{
      spec?: { replicas?: number };
      status?: { readyReplicas?: number; replicas?: number };
    }>('GET', `/apis/apps/v1/namespaces/${drill.ns.name}/statefulsets/${name}`);
    return {
      spec: s.spec?.replicas ?? 0,
      ready: s.status?.readyReplicas ?? 0,
      replicas: s.status?.replicas ?? 0,
    };
  }

  async function createStatefulSet(name: string, stream: string): Promise<void> {
    const template = onHandNode(node.name, 2000) as { metadata: Record<string, unknown>; spec: unknown };
    await kubeApi().request('POST', `/apis/apps/v1/namespaces/${drill.ns.name}/statefulsets`, {
      body: {
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: { name, namespace: drill.ns.name },
        spec: {
          replicas: 2,
          serviceName: name,
          selector: { matchLabels: { app: name } },
          template: { ...template, metadata: { ...template.metadata, labels: { app: name } } },
        },
      },
    });
    await eventually(`${name}: 2 pods ready`, async () =>
      (await statefulSet(name)).ready === 2 ? true : undefined,
    );
    await createEventConsumer({
      namespace: drill.ns.name,
      name,
      target: name,
      servers: [testStack().natsUrl],
      stream,
      consumer: 'worker',
      extra: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name },
        maxReplicas: 20,
        backlogPerReplica: 100,
        behavior: { readinessDeadline: '5s' },
      },
    });
  }

  /** A poll a second after the last; counts ReplicasReady=False and keeps a trace. */
  function poller(name: string): {
    poll: () => Promise<{ spec: number; ready: number }>;
    seen: string[];
    notReady: () => number;
  } {
    const seen: string[] = [];
    let notReady = 0;
    return {
      seen,
      notReady: () => notReady,
      poll: async () => {
        await sleep(1_000);
        await drill.poll(name);
        const s = await statefulSet(name);
        const c = condition(await eventConsumerStatus(drill.ns.name, name), 'ReplicasReady');
        if (c?.status === 'False') notReady++;
        seen.push(`${s.spec}/${s.ready}r/${s.replicas}c ${c?.status}:${c?.reason}`);
        return s;
      },
    };
  }

  /** A CRD with a /scale subresource (spec.replicas, status.replicas) and no controller behind it. */
  async function installWorkerCrd(): Promise<void> {
    await installScalableCrd({ group: 'drills.jetscale.test', kind: 'Worker', plural: 'workers' });
  }

  async function workerReplicas(name: string): Promise<number | undefined> {
    const w = await kubeApi().request<{ spec?: { replicas?: number } }>(
      'GET',
      `/apis/drills.jetscale.test/v1/namespaces/${drill.ns.name}/workers/${name}`,
    );
    return w.spec?.replicas;
  }

  it('a custom resource whose spec.replicas is unset: not scaled, and said so, until it has one', async () => {
    // The API server cannot read the /scale of a custom resource without a value at its
    // specReplicasPath (500 "the spec replicas field \".spec.replicas\" does not exist"): the count
    // it runs is not known (its own controller may default it to anything). The HPA reports
    // FailedGetScale and leaves it; so does jetscale, with a condition saying what to set. Before,
    // the error escaped the reconcile: "reconcile failed" with backoff at every poll and no
    // condition at all.
    await installWorkerCrd();
    const path = `/apis/drills.jetscale.test/v1/namespaces/${drill.ns.name}/workers/unset`;
    await kubeApi().request('POST', `/apis/drills.jetscale.test/v1/namespaces/${drill.ns.name}/workers`, {
      body: { apiVersion: 'drills.jetscale.test/v1', kind: 'Worker', metadata: { name: 'unset' }, spec: {} },
    });
    const stream = await streamWithConsumer('cr-unset', 300);
    await createEventConsumer({
      namespace: drill.ns.name,
      name: 'unset',
      target: 'unset',
      servers: [testStack().natsUrl],
      stream,
      consumer: 'worker',
      extra: {
        scaleTargetRef: { apiVersion: 'drills.jetscale.test/v1', kind: 'Worker', name: 'unset' },
        maxReplicas: 10,
        backlogPerReplica: 100,
      },
    });

    await drill.poll('unset');
    expect(await workerReplicas('unset')).toBeUndefined();
    const ready = condition(await eventConsumerStatus(drill.ns.name, 'unset'), 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'TargetReplicasUnset' });
    expect(ready?.message).toMatch(/has no \.spec\.replicas.*set \.spec\.replicas on it/);
    await sleep(1_000);
    await drill.poll('unset');
    expect(await workerReplicas('unset')).toBeUndefined();

    // Given a count, it is scaled from the backlog (300 at 100 per replica).
    await kubeApi().request('PATCH', path, { body: { spec: { replicas: 1 } } });
    await sleep(1_000);
    await drill.poll('unset');
    expect(await workerReplicas('unset')).toBe(3);
    expect(condition(await eventConsumerStatus(drill.ns.name, 'unset'), 'Ready')?.status).toBe('True');
  });

  it('a StatefulSet whose pods start one after the other is scaled up without counting the pods not created yet as not becoming ready', async () => {
    // OrderedReady (the default): pod n+1 is created only once pod n is ready. Each is ready 2 s
    // after it appears, so 2 -> 8 takes at least 12 s, twice the 5 s readiness deadline (before:
    // ReplicasReady=False at 8 polls, and no scale-up meanwhile).
    const name = 'ordered';
    const stream = await streamWithConsumer(name, 200);
    await createStatefulSet(name, stream);
    const { poll, seen, notReady } = poller(name);
    await poll();
    await publish(drill.nc, stream, 600); // asks for 8
    let s = await poll();
    for (let i = 0; i < 40 && s.ready < 8; i++) s = await poll();
    expect({ seen, spec: s.spec, ready: s.ready }).toMatchObject({ spec: 8, ready: 8 });
    expect({ seen, notReady: notReady() }).toMatchObject({ notReady: 0 });
    expect((await eventsFor(drill.ns.name, name)).filter((e) => e.reason === 'ReplicasNotReady')).toEqual([]);
    expect(node.errors).toEqual([]);
  });

  it('a StatefulSet whose ordered start is stuck on a pod that never becomes ready: reported, and no more replicas', async () => {
    const name = 'held';
    const stream = await streamWithConsumer(name, 200);
    node.neverReady.add(`${name}-3`);
    await createStatefulSet(name, stream);
    const { poll, seen } = poller(name);
    await poll();
    await publish(drill.nc, stream, 600); // asks for 8; pods 2 and 3 are created, 3 never ready
    let s = await poll();
    let reason: string | undefined;
    for (let i = 0; i < 40 && reason !== 'ReplicasNotReady'; i++) {
      s = await poll();
      reason = condition(await eventConsumerStatus(drill.ns.name, name), 'ReplicasReady')?.reason;
    }
    expect({ seen, reason }).toMatchObject({ reason: 'ReplicasNotReady' });
    expect(s.ready).toBe(3);
    const heldAt = s.spec;
    await publish(drill.nc, stream, 1000); // asks for 18
    for (let i = 0; i < 8; i++) s = await poll();
    expect({ seen, spec: s.spec }).toMatchObject({ spec: heldAt });
    expect(
      (await eventsFor(drill.ns.name, name)).filter((e) => e.reason === 'ReplicasNotReady'),
    ).toHaveLength(1);
    expect(node.errors).toEqual([]);
  });
});
