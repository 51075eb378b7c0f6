// The target Deployment's own life while jetscale scales it: a rolling update (a new template), a
// rollout whose new pods never become ready, a paused Deployment. On the real stack (API server,
// deployment and ReplicaSet controllers, NATS), with the pods on a node the test plays kubelet for
// (hand-node.ts), so each pod becomes ready when the drill says and old pods stay Terminating for a
// while, as on a real node. The reconciler is driven directly, a poll about every second.
import { eventually } from '../../test/env.js';
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
import { HandNode, onHandNode, READY_AFTER_ANNOTATION } from './hand-node.js';
import { testStack } from '../../test/env.js';

interface DeploymentState {
  spec: number;
  ready: number;
  updated: number;
  replicas: number;
  generation: number;
  observedGeneration: number;
}

describe('the target Deployment rolls out while jetscale scales it', () => {
  const drill = useStreamDrill({ namespace: 'op-rollout', instance: 'rollout-test' });
  let node: HandNode;

  beforeAll(async () => {
    node = new HandNode(`hand-${drill.ns.name}`, drill.ns.name);
    await node.start();
  });
  afterAll(async () => {
    await node?.stop();
  });

  const deploymentPath = (name: string): string =>
    `/apis/apps/v1/namespaces/${drill.ns.name}/deployments/${name}`;

  async function deployment(name: string): Promise<DeploymentState> {
    const d = await kubeApi().request<{
      metadata: { generation?: number };
      spec?: { replicas?: number };
      status?: {
        readyReplicas?: number;
        updatedReplicas?: number;
        replicas?: number;
        observedGeneration?: number;
      };
    }>('GET', deploymentPath(name));
    return {
      spec: d.spec?.replicas ?? 0,
      ready: d.status?.readyReplicas ?? 0,
      updated: d.status?.updatedReplicas ?? 0,
      replicas: d.status?.replicas ?? 0,
      generation: d.metadata.generation ?? 0,
      observedGeneration: d.status?.observedGeneration ?? 0,
    };
  }

  const rolledOut = (d: DeploymentState): boolean =>
    d.observedGeneration >= d.generation &&
    d.updated === d.spec &&
    d.replicas === d.spec &&
    d.ready === d.spec;

  /** A Deployment on the hand-driven node, its pods ready `readyAfter` ms after they appear. */
  async function setUp(
    name: string,
    replicas: number,
    strategy: Record<string, unknown>,
    readyAfter: number,
    backlog: number,
    extra: Record<string, unknown> = {},
  ): Promise<string> {
    const stream = await drill.addStream(name);
    const template = onHandNode(node.name, readyAfter) as {
      metadata: Record<string, unknown>;
      spec: unknown;
    };
    await kubeApi().request('POST', `/apis/apps/v1/namespaces/${drill.ns.name}/deployments`, {
      body: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name, namespace: drill.ns.name },
        spec: {
          replicas,
          strategy,
          selector: { matchLabels: { app: name } },
          template: { ...template, metadata: { ...template.metadata, labels: { app: name } } },
        },
      },
    });
    await publish(drill.nc, stream, backlog);
    await createEventConsumer({
      namespace: drill.ns.name,
      name,
      target: name,
      servers: [testStack().natsUrl],
      stream,
      consumer: 'worker',
      extra: { maxReplicas: 20, backlogPerReplica: 100, ...extra },
    });
    await eventually(`${name}: all ${replicas} pods ready`, async () =>
      rolledOut(await deployment(name)) ? true : undefined,
    );
    return stream;
  }

  /** Changes the pod template (a new revision): its pods become ready `readyAfter` ms after they appear. */
  async function rollOut(name: string, readyAfter: number | 'never', revision: string): Promise<void> {
    await kubeApi().request('PATCH', deploymentPath(name), {
      body: {
        spec: {
          template: {
            metadata: {
              annotations: {
                [READY_AFTER_ANNOTATION]: String(readyAfter),
                'drill.jetscale.io/revision': revision,
              },
            },
          },
        },
      },
    });
  }

  interface Seen {
    deployment: DeploymentState;
    replicasReady: string | undefined;
    reason: string | undefined;
  }

  /** One poll, a second after the last, and what it left. */
  async function pollAndLook(name: string): Promise<Seen> {
    await sleep(1_000);
    await drill.poll(name);
    const status = await eventConsumerStatus(drill.ns.name, name);
    const ready = condition(status, 'ReplicasReady');
    return { deployment: await deployment(name), replicasReady: ready?.status, reason: ready?.reason };
  }

  const traceOf = (seen: Seen[]): string[] =>
    seen.map(
      (s) =>
        `${s.deployment.spec}/${s.deployment.ready}r/${s.deployment.updated}u ${s.replicasReady}:${s.reason}`,
    );

  it('a slow rolling update that keeps one replica unavailable for longer than the readiness deadline does not block a scale-up', async () => {
    // 8 replicas, one replaced at a time (maxUnavailable 1, no surge), each new pod ready 3 s after
    // it appears: the rollout takes 24 s at the very least, and for nearly all of it 7 of 8
    // replicas are ready — by design, not because pods fail. The readiness deadline is 5 s; an old
    // replica goes about every 3 s, so the rollout is seen making progress within every deadline
    // (the allowance lapses only after about two deadlines, 10 s, without progress).
    const name = 'slow';
    const stream = await setUp(
      name,
      8,
      { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } },
      300,
      800,
      { behavior: { readinessDeadline: '5s' } },
    );
    const seen: Seen[] = [];
    for (let i = 0; i < 3; i++) seen.push(await pollAndLook(name));
    expect(seen.at(-1)?.deployment.spec).toBe(8);
    expect(seen.at(-1)?.replicasReady).toBe('True');

    await rollOut(name, 3000, '2');
    // Past the readiness deadline into the rollout (7 s; a slower machine only makes the rollout
    // longer), then the backlog asks for 11.
    const rolloutStart = performance.now();
    while (performance.now() - rolloutStart < 7_000) seen.push(await pollAndLook(name));
    expect({
      trace: traceOf(seen),
      rolledOut: rolledOut(seen.at(-1)?.deployment as DeploymentState),
    }).toMatchObject({
      rolledOut: false,
    });
    await publish(drill.nc, stream, 300);
    const afterPublish: Seen[] = [];
    for (let i = 0; i < 4; i++) afterPublish.push(await pollAndLook(name));
    seen.push(...afterPublish);
    // Let the rollout finish, still polling.
    for (let i = 0; i < 60 && !rolledOut(seen.at(-1)?.deployment as DeploymentState); i++)
      seen.push(await pollAndLook(name));

    const trace = traceOf(seen);
    // Never scaled down by surge or terminating pods, never read as pods that do not become ready.
    expect({ trace, min: Math.min(...seen.map((s) => s.deployment.spec)) }).toMatchObject({ min: 8 });
    expect({ trace, notReady: seen.filter((s) => s.replicasReady === 'False').length }).toMatchObject({
      notReady: 0,
    });
    // The scale-up the backlog asks for came within the four polls after it (before: held by
    // ReplicasNotReady until the rollout ended).
    expect({ trace, spec: Math.max(...afterPublish.map((s) => s.deployment.spec)) }).toMatchObject({
      spec: 11,
    });
    const warnings = (await eventsFor(drill.ns.name, name)).filter((e) => e.reason === 'ReplicasNotReady');
    expect(warnings).toEqual([]);
    expect(node.errors).toEqual([]);
  });

  it.each([
    [
      'maxSurge 1, maxUnavailable 0',
      { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
    ],
    // The apps/v1 defaults, 25 % each: the new replicas a scale-up shares with the new ReplicaSet
    // keep the shortfall at maxUnavailable, so only the rollout's lack of progress tells.
    ['the default 25 % / 25 %', {}],
  ])(
    'a rollout whose new pods never become ready (%s): replicas stop growing once they are overdue, and it is reported',
    async (label, strategy) => {
      // 4 replicas; the new template's pods never become ready (an image that cannot be pulled).
      const name = label.startsWith('max') ? 'stuck-surge' : 'stuck-default';
      const stream = await setUp(name, 4, strategy, 300, 400, { behavior: { readinessDeadline: '5s' } });
      await rollOut(name, 'never', '2');
      const seen: Seen[] = [];
      for (let i = 0; i < 3; i++) seen.push(await pollAndLook(name));
      // The backlog asks for 8: the deployment controller shares the new replicas between the old and
      // the new ReplicaSet, and the new one's never become ready.
      await publish(drill.nc, stream, 400);
      // Overdue once the new pods have gone a deadline without being ready after the rollout's last
      // step (about 10 s here; 40 polls is the bound).
      for (let i = 0; i < 40 && seen.at(-1)?.replicasReady !== 'False'; i++)
        seen.push(await pollAndLook(name));
      const held = seen.at(-1) as Seen;
      expect({ trace: traceOf(seen), reason: held.reason }).toMatchObject({ reason: 'ReplicasNotReady' });
      expect(held.deployment.spec).toBeGreaterThan(4);
      // More backlog: no more of the same pods.
      await publish(drill.nc, stream, 800);
      for (let i = 0; i < 8; i++) seen.push(await pollAndLook(name));
      expect({ trace: traceOf(seen), spec: seen.at(-1)?.deployment.spec }).toMatchObject({
        spec: held.deployment.spec,
      });
      expect(
        (await eventsFor(drill.ns.name, name)).filter((e) => e.reason === 'ReplicasNotReady'),
      ).toHaveLength(1);
      expect(node.errors).toEqual([]);
    },
  );

  it('a paused Deployment (spec.paused) is still scaled, and its pods count as ready', async () => {
    const name = 'paused';
    const stream = await setUp(
      name,
      2,
      { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 1 } },
      300,
      200,
      { behavior: { readinessDeadline: '5s' } },
    );
    await kubeApi().request('PATCH', deploymentPath(name), { body: { spec: { paused: true } } });
    // A new template waits behind the pause (no rollout while paused).
    await rollOut(name, 300, '2');
    await publish(drill.nc, stream, 300);
    const seen: Seen[] = [];
    for (let i = 0; i < 8; i++) seen.push(await pollAndLook(name));
    const trace = traceOf(seen);
    expect({ trace, spec: seen.at(-1)?.deployment.spec, ready: seen.at(-1)?.deployment.ready }).toMatchObject(
      {
        spec: 5,
        ready: 5,
      },
    );
    expect({ trace, notReady: seen.filter((s) => s.replicasReady === 'False').length }).toMatchObject({
      notReady: 0,
    });
  });
});
