// Failures only a real kubelet shows honestly (`make e2e-real-node`): consumer pods whose image
// cannot be pulled, consumer pods OOM-killed into a crash loop, consumer pods that exit 1 at
// start-up (a crash loop), a pod that ignores SIGTERM and is killed by the kubelet at the end of
// its grace period, and a pod held in Terminating by a finalizer. Each consumer Deployment runs on
// the real node and is scaled by jetscale (one operator process) from a JetStream backlog that
// first asks for ceil(600 / 100) = 6 replicas. Once those have not been ready for the
// EventConsumer's readinessDeadline (20 s here), jetscale must keep Ready=True, say so
// (ReplicasReady=False, a Warning Event, jetscale_replicas_not_ready) and must not add replicas
// when the backlog then triples (before this rule it went on to 18).
import * as k8s from '@kubernetes/client-node';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { realNodePlacement } from '../../hack/stack/real-node-config.js';
import { repoRoot } from '../../hack/stack/tools.js';
import { createNamespace, eventually, kubeConfig, testStack } from '../../test/env.js';
import { installCrd } from '../local/demo-release.js';
import { OperatorPair } from '../local/operator-pair.js';

const backlog = 600;
const backlogPerReplica = 100;
const asked = Math.ceil(backlog / backlogPerReplica);
/** Published once the replicas count as not becoming ready: the backlog alone then asks for 18. */
const more = 1200;
const readinessDeadline = '20s';
const imageTag = process.env.JETSCALE_IMAGE_TAG ?? 'test';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('failures on real pods', () => {
  const stack = testStack();
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  let namespace = '';
  let cleanup: () => Promise<void> = async () => undefined;
  let operators: OperatorPair | undefined;
  const logDir = mkdtempSync(path.join(os.tmpdir(), 'jetscale-rn-fail-'));

  beforeAll(async () => {
    await installCrd(stack.kubeconfigPath, repoRoot);
    ({ name: namespace, cleanup } = await createNamespace('rn-fail'));
    operators = new OperatorPair({
      repoRoot,
      kubeconfig: stack.kubeconfigPath,
      namespace,
      logDir,
      replicas: 1,
    });
    await operators.start();
  });

  afterAll(async () => {
    await operators?.stop();
    await cleanup();
    rmSync(logDir, { recursive: true, force: true });
  }, 120_000);

  /** A stream with `count` messages nobody consumes (created with its durable consumer at first). */
  async function backlogOf(stream: string, count = backlog): Promise<void> {
    const nc = await connect({ servers: stack.natsUrl });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] }).catch(() => undefined);
      await jsm.consumers
        .add(stream, { durable_name: 'processor', ack_policy: AckPolicy.Explicit })
        .catch(() => undefined);
      const js = jetstream(nc);
      await Promise.all(Array.from({ length: count }, (_, i) => js.publish(`${stream}.e`, `${i}`)));
    } finally {
      await nc.close();
    }
  }

  async function consumerDeployment(
    name: string,
    container: k8s.V1Container,
    grace = 5,
    finalizers?: string[],
  ): Promise<void> {
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: name } },
          template: {
            metadata: { labels: { app: name }, ...(finalizers ? { finalizers } : {}) },
            spec: {
              ...realNodePlacement(),
              terminationGracePeriodSeconds: grace,
              automountServiceAccountToken: false,
              containers: [container],
            },
          },
        },
      },
    });
  }

  async function eventConsumer(name: string, stream: string): Promise<void> {
    await custom.createNamespacedCustomObject({
      group: 'jetscale.io',
      version: 'v1alpha1',
      namespace,
      plural: 'eventconsumers',
      body: {
        apiVersion: 'jetscale.io/v1alpha1',
        kind: 'EventConsumer',
        metadata: { name },
        spec: {
          scaleTargetRef: { name },
          nats: { servers: [stack.natsUrl], stream, consumer: 'processor' },
          minReplicas: 1,
          maxReplicas: 20,
          backlogPerReplica,
          pollInterval: '1s',
          behavior: { readinessDeadline },
        },
      },
    });
  }

  interface Watch {
    maxAsked: number;
    readyWasTrue: boolean;
    readyFalse: string[];
    everReady: number;
    /** ReplicasReady status/reason at the last sample. */
    replicasReady: string;
    /** ScalingLimited reason at the last sample. */
    limitedBy: string;
  }

  type Conditions = { status?: { conditions?: Array<{ type: string; status: string; reason?: string }> } };
  async function conditionsOf(name: string): Promise<Conditions> {
    return (await custom.getNamespacedCustomObject({
      group: 'jetscale.io',
      version: 'v1alpha1',
      namespace,
      plural: 'eventconsumers',
      name,
    })) as Conditions;
  }

  /** Samples the Deployment and the EventConsumer every second for `seconds`. */
  async function watch(name: string, seconds: number): Promise<Watch> {
    const w: Watch = {
      maxAsked: 0,
      readyWasTrue: false,
      readyFalse: [],
      everReady: 0,
      replicasReady: '',
      limitedBy: '',
    };
    for (let i = 0; i < seconds; i++) {
      const dep = await apps.readNamespacedDeployment({ name, namespace });
      w.maxAsked = Math.max(w.maxAsked, dep.spec?.replicas ?? 0);
      w.everReady = Math.max(w.everReady, dep.status?.readyReplicas ?? 0);
      const conditions = (await conditionsOf(name)).status?.conditions ?? [];
      const ready = conditions.find((c) => c.type === 'Ready');
      if (ready?.status === 'True') w.readyWasTrue = true;
      else if (ready) w.readyFalse.push(`${ready.status}/${ready.reason ?? ''}`);
      const replicasReady = conditions.find((c) => c.type === 'ReplicasReady');
      w.replicasReady = `${replicasReady?.status ?? ''}/${replicasReady?.reason ?? ''}`;
      w.limitedBy = conditions.find((c) => c.type === 'ScalingLimited')?.reason ?? '';
      await sleep(1000);
    }
    return w;
  }

  /**
   * Waits until jetscale reports the asked-for replicas as not becoming ready (condition, Event,
   * metric), then publishes `more` messages and watches for 30 s: nothing may be added.
   */
  async function expectReportedAndHeld(name: string, stream: string): Promise<Watch> {
    await eventually(
      'ReplicasReady=False (ReplicasNotReady)',
      async () =>
        (await conditionsOf(name)).status?.conditions?.find(
          (c) => c.type === 'ReplicasReady' && c.status === 'False' && c.reason === 'ReplicasNotReady',
        ),
      90_000,
      1000,
    );
    const events = await core.listNamespacedEvent({
      namespace,
      fieldSelector: `involvedObject.kind=EventConsumer,involvedObject.name=${name}`,
    });
    const warned = events.items.filter((e) => e.reason === 'ReplicasNotReady');
    // One Warning when the shortfall starts (the replica created with the Deployment is overdue
    // first; the five the backlog added follow), not one per poll.
    expect(warned.map((e) => e.type)).toEqual(['Warning']);
    expect(warned[0]?.message).toMatch(
      new RegExp(
        `^[1-${asked}] of ${asked} replicas asked for have not been ready for the readiness deadline \\(20s\\)`,
      ),
    );
    const identity = operators?.identities()[0] ?? '';
    const metricsUrl = operators?.metricsUrl(identity) ?? '';
    const metrics = await (await fetch(metricsUrl)).text();
    expect(metrics).toMatch(
      new RegExp(`jetscale_replicas_not_ready\\{namespace="${namespace}",name="${name}"\\} [1-${asked}]\\b`),
    );
    await backlogOf(stream, more);
    const w = await watch(name, 30);
    expect(w.maxAsked).toBe(asked);
    expect(w.replicasReady).toBe('False/ReplicasNotReady');
    expect(w.limitedBy).toBe('ReplicasNotReady');
    expect(w.readyFalse).toEqual([]);
    expect(w.readyWasTrue).toBe(true);
    return w;
  }

  async function podStatuses(name: string): Promise<k8s.V1ContainerStatus[]> {
    const pods = await core.listNamespacedPod({ namespace, labelSelector: `app=${name}` });
    return pods.items.flatMap((p) => p.status?.containerStatuses ?? []);
  }

  it('image that cannot be pulled: pods stay in ImagePullBackOff; jetscale stays Ready, reports them and adds none', async () => {
    const name = 'pull-fails';
    await backlogOf('PULLFAILS');
    await consumerDeployment(name, {
      name: 'consumer',
      image: 'jetscale/image-that-was-never-built:0',
      imagePullPolicy: 'IfNotPresent',
    });
    await eventConsumer(name, 'PULLFAILS');
    const reasons = await eventually(
      'the pull to fail',
      async () => {
        const waiting = (await podStatuses(name)).map((s) => s.state?.waiting?.reason ?? '');
        return waiting.some((r) => r === 'ErrImagePull' || r === 'ImagePullBackOff') ? waiting : undefined;
      },
      90_000,
      1000,
    );
    expect(reasons.length).toBeGreaterThan(0);
    await eventually(
      `jetscale to ask for ${asked} replicas`,
      async () =>
        (await apps.readNamespacedDeployment({ name, namespace })).spec?.replicas === asked
          ? true
          : undefined,
      60_000,
      1000,
    );
    const w = await expectReportedAndHeld(name, 'PULLFAILS');
    expect(w.everReady).toBe(0);
  }, 300_000);

  it('consumer OOM-killed into a crash loop: the kubelet reports OOMKilled; jetscale stays Ready, reports them and adds none', async () => {
    const name = 'oom';
    await backlogOf('OOMS');
    await consumerDeployment(name, {
      name: 'consumer',
      image: `jetscale/workloads:${imageTag}`,
      imagePullPolicy: 'Never',
      command: [
        'node',
        '-e',
        'const held = []; setInterval(() => held.push(Buffer.alloc(16 << 20, 1)), 20);',
      ],
      resources: { limits: { memory: '64Mi' }, requests: { memory: '64Mi' } },
    });
    await eventConsumer(name, 'OOMS');
    const oom = await eventually(
      'a container OOM-killed and restarted',
      async () => {
        const statuses = await podStatuses(name);
        return statuses.find(
          (s) => s.lastState?.terminated?.reason === 'OOMKilled' && (s.restartCount ?? 0) >= 1,
        );
      },
      120_000,
      1000,
    );
    expect(oom.lastState?.terminated?.exitCode).toBe(137);
    await eventually(
      `jetscale to ask for ${asked} replicas`,
      async () =>
        (await apps.readNamespacedDeployment({ name, namespace })).spec?.replicas === asked
          ? true
          : undefined,
      60_000,
      1000,
    );
    await expectReportedAndHeld(name, 'OOMS');
  }, 300_000);

  it('consumer that exits at start-up (a crash loop): the kubelet backs off restarting it; jetscale stays Ready, reports them and adds none', async () => {
    const name = 'crashes';
    await backlogOf('CRASHES');
    // As a consumer with a bad setting would: up for a moment, then exit 1, never having answered
    // its readiness probe (without a probe the kubelet calls a running container ready at once).
    await consumerDeployment(name, {
      name: 'consumer',
      image: `jetscale/workloads:${imageTag}`,
      imagePullPolicy: 'Never',
      command: [
        'node',
        '-e',
        "setTimeout(() => { console.error('EVENTS_STREAM is not set'); process.exit(1); }, 500);",
      ],
      readinessProbe: { httpGet: { path: '/readyz', port: 8081 }, periodSeconds: 1 },
    });
    await eventConsumer(name, 'CRASHES');
    const backingOff = await eventually(
      'a container exited 1, restarted and now in CrashLoopBackOff',
      async () =>
        (await podStatuses(name)).find(
          (s) =>
            s.state?.waiting?.reason === 'CrashLoopBackOff' &&
            s.lastState?.terminated?.exitCode === 1 &&
            (s.restartCount ?? 0) >= 1,
        ),
      120_000,
      1000,
    );
    expect(backingOff.lastState?.terminated?.reason).toBe('Error');
    await eventually(
      `jetscale to ask for ${asked} replicas`,
      async () =>
        (await apps.readNamespacedDeployment({ name, namespace })).spec?.replicas === asked
          ? true
          : undefined,
      60_000,
      1000,
    );
    const w = await expectReportedAndHeld(name, 'CRASHES');
    expect(w.everReady).toBe(0);
  }, 300_000);

  it('a pod that ignores SIGTERM stays Terminating through its grace period, then the kubelet kills it', async () => {
    const name = 'stubborn';
    const grace = 8;
    await consumerDeployment(
      name,
      {
        name: 'consumer',
        image: `jetscale/workloads:${imageTag}`,
        imagePullPolicy: 'Never',
        command: [
          'node',
          '-e',
          "process.on('SIGTERM', () => console.log('ignoring SIGTERM')); setInterval(() => {}, 1000);",
        ],
      },
      grace,
    );
    const pod = await eventually(
      'the stubborn pod running',
      async () => {
        const pods = await core.listNamespacedPod({ namespace, labelSelector: `app=${name}` });
        return pods.items.find((p) => p.status?.containerStatuses?.[0]?.state?.running);
      },
      90_000,
      1000,
    );
    const podName = pod.metadata?.name ?? '';
    const deletedAt = Date.now();
    await core.deleteNamespacedPod({ name: podName, namespace });
    await sleep((grace / 2) * 1000);
    const during = await core.readNamespacedPod({ name: podName, namespace });
    expect(during.metadata?.deletionTimestamp).toBeDefined();
    expect(during.status?.containerStatuses?.[0]?.state?.running).toBeDefined();
    await eventually(
      'the kubelet to kill the pod after its grace period',
      async () => {
        try {
          await core.readNamespacedPod({ name: podName, namespace });
          return undefined;
        } catch (err) {
          return err instanceof k8s.ApiException && err.code === 404 ? true : undefined;
        }
      },
      (grace + 60) * 1000,
      500,
    );
    const gone = (Date.now() - deletedAt) / 1000;
    expect(gone).toBeGreaterThanOrEqual(grace - 1);
  }, 300_000);

  it('a pod held in Terminating past its grace period (a finalizer): its replacement serves, jetscale neither counts it nor adds replicas', async () => {
    const name = 'held';
    const finalizer = 'jetscale.io/test-hold';
    await backlogOf('HELD', 200);
    await consumerDeployment(
      name,
      {
        name: 'consumer',
        image: `jetscale/workloads:${imageTag}`,
        imagePullPolicy: 'Never',
        command: ['node', '-e', 'setInterval(() => {}, 1000);'],
      },
      3,
      [finalizer],
    );
    await eventConsumer(name, 'HELD');
    const twoReady = async (): Promise<true | undefined> => {
      const dep = await apps.readNamespacedDeployment({ name, namespace });
      return dep.spec?.replicas === 2 && dep.status?.readyReplicas === 2 ? true : undefined;
    };
    await eventually('jetscale to ask for 2 replicas and both ready', twoReady, 120_000, 1000);
    const pods = await core.listNamespacedPod({ namespace, labelSelector: `app=${name}` });
    const victim = pods.items[0]?.metadata?.name ?? '';
    try {
      await core.deleteNamespacedPod({ name: victim, namespace });
      await eventually('a replacement ready beside the held pod', twoReady, 90_000, 1000);
      await sleep(5000); // past the 3 s grace period: the containers are gone, the object stays
      const held = await core.readNamespacedPod({ name: victim, namespace });
      expect(held.metadata?.deletionTimestamp).toBeDefined();
      const w = await watch(name, 20);
      expect(
        (await core.readNamespacedPod({ name: victim, namespace })).metadata?.deletionTimestamp,
      ).toBeDefined();
      expect(w.maxAsked).toBe(2);
      expect(w.replicasReady).toBe('True/AllReady');
      expect(w.readyFalse).toEqual([]);
      expect(w.readyWasTrue).toBe(true);
    } finally {
      // Nothing may be left that a finalizer holds: the namespace could never be deleted.
      await custom
        .deleteNamespacedCustomObject({
          group: 'jetscale.io',
          version: 'v1alpha1',
          namespace,
          plural: 'eventconsumers',
          name,
        })
        .catch(() => undefined);
      await apps
        .deleteNamespacedDeployment({ name, namespace, propagationPolicy: 'Foreground' })
        .catch(() => undefined);
      await sleep(3000);
      for (const p of (await core.listNamespacedPod({ namespace, labelSelector: `app=${name}` })).items)
        await core
          .patchNamespacedPod({
            name: p.metadata?.name ?? '',
            namespace,
            body: [{ op: 'remove', path: '/metadata/finalizers' }],
          })
          .catch(() => undefined);
    }
  }, 300_000);
});
