// The sample system as real containers on the stack's real node (hack/stack/real-node.ts): the
// images from `make images` imported into the node's containerd, charts/jetscale (the operator as
// two leader-elected pods, with its ServiceAccount and RBAC) and charts/jetscale-demo (gateway and
// consumer pods) installed with helm, every pod placed on the real node. The harness reaches the
// gateway pods through a local TCP proxy (it follows the Ready pods, so a restarted gateway keeps
// serving the load; the load driver itself connects to the Ready pods directly, as a Service
// would, so the proxy's sockets do not share its event loop), and kills containers with SIGKILL
// through containerd (no grace, as a crash or an OOM kill would) or pods through the API.
//
// Without kube-proxy, ClusterIPs do not route: pods reach NATS and the API server at the node IP the
// stack binds (KUBERNETES_SERVICE_HOST/PORT point the operator's in-cluster client there).
import * as k8s from '@kubernetes/client-node';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { waitFor } from '../../hack/stack/ports.js';
import { realNodePlacement } from '../../hack/stack/real-node-config.js';
import { killContainer, type RealNode } from '../../hack/stack/real-node.js';
import type { ScrapeTargetSink } from '../../hack/stack/scrape-targets.js';
import { podScrapeTargets, ScrapeTargetSync } from './pod-scrape-targets.js';
import {
  chartWithoutNatsDependency,
  defaultConsumerTuning,
  defaultScaling,
  demoNames,
  demoRelease,
  demoSettings,
  demoTargetFields,
  demoValues,
  ensureNamespace,
  helmInstall,
  podSelectorOf,
  uninstallAll,
} from '../local/demo-release.js';
import type { HarnessTarget } from './target.js';

export interface RealNodeTargetOptions {
  repoRoot: string;
  kubeconfig: string;
  /** nats://<node IP>:<port>: the stack's NATS, as pods reach it. */
  natsUrl: string;
  node: RealNode;
  namespace: string;
  workDir: string;
  /** Image tag of jetscale/operator and jetscale/workloads (hack/images.sh). */
  imageTag: string;
  /** The images are already in the node's containerd (default: import them from Docker). */
  imagesImported?: boolean;
  jetstreamSuffix?: string;
  operatorReplicas?: number;
  lease?: { durationSeconds: number; renewDeadlineSeconds: number; retryPeriodSeconds: number };
  restartNats?: (downSeconds: number) => Promise<void>;
  progress?: (line: string) => void;
  /** The stack's Prometheus: every running pod is registered with its file SD (pod-scrape-targets.ts). */
  prometheus?: { url: string; intervalSeconds: number; targets: ScrapeTargetSink };
  /** Called when the system cannot start, before its releases are uninstalled (save the pods' logs). */
  onStartFailure?: () => Promise<void>;
}

export interface RealNodeTarget {
  target: HarnessTarget;
  stop(): Promise<void>;
}

const operatorRelease = 'jetscale';

/** A TCP proxy on 127.0.0.1 to whichever backend `pick` names at connection time. */
async function tcpProxy(pick: () => string | undefined): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const backend = pick();
    if (!backend) {
      client.destroy();
      return;
    }
    const [host, port] = backend.split(':');
    const upstream = net.connect({ host, port: Number(port) });
    sockets.add(client).add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('the gateway proxy has no address');
  return {
    port: address.port,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export async function realNodeTarget(options: RealNodeTargetOptions): Promise<RealNodeTarget> {
  const say = options.progress ?? (() => undefined);
  const { kubeconfig, namespace, workDir, imageTag, node } = options;
  mkdirSync(workDir, { recursive: true });
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const api = new URL(kc.getCurrentCluster()?.server ?? '');
  const placement = realNodePlacement();
  const names = demoNames(options.jetstreamSuffix);
  const operatorImage = `jetscale/operator:${imageTag}`;
  const workloadsImage = `jetscale/workloads:${imageTag}`;
  const lease = options.lease ?? { durationSeconds: 10, renewDeadlineSeconds: 7, retryPeriodSeconds: 2 };
  const operatorReplicas = options.operatorReplicas ?? 2;
  const tuning = defaultConsumerTuning;
  const scaling = defaultScaling;

  if (!options.imagesImported) await node.importDockerImages([operatorImage, workloadsImage]);
  await ensureNamespace(core, namespace);
  const operatorValues = {
    image: { repository: 'jetscale/operator', tag: imageTag, pullPolicy: 'Never' },
    replicaCount: Math.max(1, operatorReplicas),
    leaderElection: {
      enabled: true,
      leaseDurationSeconds: lease.durationSeconds,
      renewDeadlineSeconds: lease.renewDeadlineSeconds,
      retryPeriodSeconds: lease.retryPeriodSeconds,
    },
    watchNamespaces: [namespace],
    extraEnv: [
      { name: 'KUBERNETES_SERVICE_HOST', value: node.state.network.nodeIp },
      { name: 'KUBERNETES_SERVICE_PORT', value: api.port || '443' },
    ],
    ...placement,
  };
  const values = demoValues({
    natsUrl: options.natsUrl,
    names,
    tuning,
    scaling,
    // As a user runs it: two gateways behind the harness' proxy (the chart's default, with its
    // PodDisruptionBudget), so one busy or restarting gateway does not fail the load.
    gateway: { replicas: 2 },
    extra: { image: { repository: 'jetscale/workloads', tag: imageTag, pullPolicy: 'Never' }, ...placement },
  });

  let backends: string[] = [];
  let metricsUrls: string[] = [];
  let refreshing = true;
  const scrape = options.prometheus ? new ScrapeTargetSync(options.prometheus.targets) : undefined;
  const component = (p: k8s.V1Pod): string | undefined => p.metadata?.labels?.['app.kubernetes.io/component'];
  const readyIps = (pods: k8s.V1Pod[], of: string): string[] =>
    pods
      .filter(
        (p) =>
          component(p) === of &&
          p.metadata?.labels?.['app.kubernetes.io/instance'] === demoRelease &&
          !p.metadata.deletionTimestamp &&
          p.status?.podIP &&
          p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      )
      .map((p) => p.status?.podIP ?? '');
  const refresh = async (): Promise<void> => {
    try {
      const pods = (await core.listNamespacedPod({ namespace })).items;
      backends = readyIps(pods, 'gateway').map((ip) => `${ip}:8080`);
      metricsUrls = readyIps(pods, 'consumer').map((ip) => `http://${ip}:8081/metrics`);
      scrape?.update(podScrapeTargets(pods));
    } catch {
      // keep the last known pods while the API server is busy
    }
  };
  const refresher = (async () => {
    while (refreshing) {
      await refresh();
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  let turn = 0;
  const pickGateway = (): string | undefined => backends[turn++ % Math.max(1, backends.length)];
  const proxy = await tcpProxy(pickGateway);
  const stop = async (): Promise<void> => {
    refreshing = false;
    await refresher;
    scrape?.clear();
    await proxy.close();
    await uninstallAll({
      kubeconfig,
      core,
      namespace,
      releases: [demoRelease, operatorRelease],
      timeoutSeconds: 90,
    });
  };

  try {
    say(
      `helm install ${operatorRelease} charts/jetscale (${operatorImage}, ${operatorValues.replicaCount} pods on the real node)…`,
    );
    await helmInstall({
      kubeconfig,
      release: operatorRelease,
      chart: path.join(options.repoRoot, 'charts', 'jetscale'),
      namespace,
      values: operatorValues,
      valuesFile: path.join(workDir, 'operator-values.json'),
      timeoutSeconds: 180,
    });
    if (operatorReplicas === 0)
      await apps.patchNamespacedDeploymentScale({
        name: operatorRelease,
        namespace,
        body: [{ op: 'replace', path: '/spec/replicas', value: 0 }],
      });
    const chart = chartWithoutNatsDependency(options.repoRoot, workDir);
    say(
      `helm install ${demoRelease} charts/jetscale-demo (${workloadsImage}, NATS ${options.natsUrl}) into ${namespace}…`,
    );
    await helmInstall({
      kubeconfig,
      release: demoRelease,
      chart,
      namespace,
      values,
      valuesFile: path.join(workDir, 'demo-values.json'),
      timeoutSeconds: 180,
    });
    const gatewayUrl = `http://127.0.0.1:${proxy.port}`;
    await waitFor(
      `the gateway pod answering /readyz through ${gatewayUrl}`,
      async () => {
        await refresh();
        return (await fetch(`${gatewayUrl}/readyz`)).ok ? true : undefined;
      },
      90_000,
      500,
    );
    const fields = demoTargetFields(names);
    const target: HarnessTarget = {
      name: `real node ${node.state.name} (kubelet + containerd; images ${operatorImage}, ${workloadsImage})`,
      kubeConfig: kc,
      namespace,
      gatewayUrl,
      gatewayBackends: () => backends,
      natsUrl: options.natsUrl,
      ...fields,
      consumerPodSelector: await podSelectorOf(apps, namespace, fields.consumerDeployment),
      lease: { name: `${operatorRelease}-leader`, namespace },
      consumerMetricsUrls: () => metricsUrls,
      killPods: async (pods) => {
        const done: string[] = [];
        for (const name of pods) {
          const pod = await core.readNamespacedPod({ name, namespace });
          for (const status of pod.status?.containerStatuses ?? []) {
            if (!status.containerID) continue;
            await killContainer(node.state, status.containerID);
            done.push(`${name}/${status.name}`);
          }
        }
        return `SIGKILL to container ${done.join(', ')} through containerd (no grace; the kubelet restarts it)`;
      },
      killOperator: async (identity) => {
        await core.deleteNamespacedPod({ name: identity, namespace, gracePeriodSeconds: 0 });
        return `deleted operator pod ${namespace}/${identity} with grace 0 (the kubelet kills it; a new pod replaces it)`;
      },
      ...(options.restartNats ? { restartNats: options.restartNats } : {}),
      ...(options.prometheus
        ? { prometheus: { url: options.prometheus.url, intervalSeconds: options.prometheus.intervalSeconds } }
        : {}),
      settings: {
        'pods run as': `real containers on ${node.state.name} (kubelet + containerd)`,
        images: `${operatorImage}, ${workloadsImage}`,
        ...demoSettings(names, tuning, scaling),
        'operator replicas': operatorReplicas,
        'operator lease duration / renew deadline / retry': `${lease.durationSeconds} / ${lease.renewDeadlineSeconds} / ${lease.retryPeriodSeconds} s`,
      },
    };
    return { target, stop };
  } catch (err) {
    await options.onStartFailure?.().catch((e: unknown) => say(`saving the logs failed: ${String(e)}`));
    await stop();
    throw err;
  }
}
