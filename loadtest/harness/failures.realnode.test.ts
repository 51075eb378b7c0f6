// Failures only a real kubelet shows honestly (`make e2e-real-node`): consumer pods whose image
// cannot be pulled, consumer pods OOM-killed into a crash loop, and a pod that ignores SIGTERM and
// is killed by the kubelet at the end of its grace period. Each consumer Deployment runs on the real
// node and is scaled by jetscale (one operator process) from a fixed JetStream backlog that
// asks for ceil(600 / 100) = 6 replicas. While no replica ever becomes ready, jetscale must keep the
// EventConsumer Ready=True and must not add replicas beyond what the backlog asks for.
import * as k8s from '@kubernetes/client-node';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { mkdtempSync } from 'node:fs';
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

  beforeAll(async () => {
    await installCrd(stack.kubeconfigPath, repoRoot);
    ({ name: namespace, cleanup } = await createNamespace('rn-fail'));
    const logDir = mkdtempSync(path.join(os.tmpdir(), 'jetscale-rn-fail-'));
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
  }, 120_000);

  /** A stream with `backlog` messages nobody consumes, and its durable consumer. */
  async function backlogOf(stream: string): Promise<void> {
    const nc = await connect({ servers: stack.natsUrl });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
      await jsm.consumers.add(stream, { durable_name: 'processor', ack_policy: AckPolicy.Explicit });
      const js = jetstream(nc);
      await Promise.all(Array.from({ length: backlog }, (_, i) => js.publish(`${stream}.e`, `${i}`)));
    } finally {
      await nc.close();
    }
  }

  async function consumerDeployment(name: string, container: k8s.V1Container, grace = 5): Promise<void> {
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: name } },
          template: {
            metadata: { labels: { app: name } },
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
        },
      },
    });
  }

  interface Watch {
    maxAsked: number;
    readyWasTrue: boolean;
    readyFalse: string[];
    everReady: number;
  }

  /** Samples the Deployment and the EventConsumer every second for `seconds`. */
  async function watch(name: string, seconds: number): Promise<Watch> {
    const w: Watch = { maxAsked: 0, readyWasTrue: false, readyFalse: [], everReady: 0 };
    for (let i = 0; i < seconds; i++) {
      const dep = await apps.readNamespacedDeployment({ name, namespace });
      w.maxAsked = Math.max(w.maxAsked, dep.spec?.replicas ?? 0);
      w.everReady = Math.max(w.everReady, dep.status?.readyReplicas ?? 0);
      const ec = (await custom.getNamespacedCustomObject({
        group: 'jetscale.io',
        version: 'v1alpha1',
        namespace,
        plural: 'eventconsumers',
        name,
      })) as { status?: { conditions?: Array<{ type: string; status: string; reason?: string }> } };
      const ready = ec.status?.conditions?.find((c) => c.type === 'Ready');
      if (ready?.status === 'True') w.readyWasTrue = true;
      else if (ready) w.readyFalse.push(`${ready.status}/${ready.reason ?? ''}`);
      await sleep(1000);
    }
    return w;
  }

  async function podStatuses(name: string): Promise<k8s.V1ContainerStatus[]> {
    const pods = await core.listNamespacedPod({ namespace, labelSelector: `app=${name}` });
    return pods.items.flatMap((p) => p.status?.containerStatuses ?? []);
  }

  it('image that cannot be pulled: pods stay in ImagePullBackOff, jetscale stays Ready and asks for the backlog only', async () => {
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
    const w = await watch(name, 30);
    expect(w.everReady).toBe(0);
    expect(w.maxAsked).toBe(asked);
    expect(w.readyFalse).toEqual([]);
    expect(w.readyWasTrue).toBe(true);
  }, 300_000);

  it('consumer OOM-killed into a crash loop: the kubelet reports OOMKilled, jetscale stays Ready and asks for the backlog only', async () => {
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
    const w = await watch(name, 30);
    expect(w.maxAsked).toBe(asked);
    expect(w.readyFalse).toEqual([]);
    expect(w.readyWasTrue).toBe(true);
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
});
