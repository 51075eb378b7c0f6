// The kind demo (`make kind-up`) as a harness target, so the same scenarios, faults, verdicts and
// report run against a real cluster: the gateway through kind's NodePort mapping (127.0.0.1:8080),
// NATS through a supervised `kubectl port-forward` (restarted when the pod behind it goes away),
// pod faults through the API, the leader kill as a forced delete of the leader's pod (its Lease
// identity is the pod name), the NATS restart as a rolling restart of its StatefulSet.
// Written against the charts' names; not exercised here (no Docker on this machine).
import * as k8s from '@kubernetes/client-node';
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort, isListening, waitFor } from '../../hack/stack/ports.js';
import type { HarnessTarget } from './target.js';

export interface KindTargetOptions {
  /** kubectl context; default: the current one (kind-jetscale after `make kind-up`). */
  context?: string;
  /** Namespace and Helm release of charts/jetscale-demo. */
  namespace: string;
  release: string;
  /** Namespace and Lease of the operator (charts/jetscale: `<release>-leader`). */
  operatorNamespace: string;
  leaseName: string;
  gatewayUrl: string;
}

export interface KindTarget {
  target: HarnessTarget;
  stop(): Promise<void>;
}

export async function kindTarget(options: KindTargetOptions): Promise<KindTarget> {
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  if (options.context) {
    if (!kc.getContextObject(options.context)) {
      throw new Error(
        `kubectl context ${options.context} does not exist: \`make kind-up\` creates kind-jetscale`,
      );
    }
    kc.setCurrentContext(options.context);
  }
  const context = kc.getCurrentContext();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const { namespace, release } = options;
  const natsService = `${release}-nats`;
  const localPort = await freePort();
  let forward: ChildProcess | undefined;
  let stopping = false;
  const startForward = (): void => {
    forward = spawn(
      'kubectl',
      ['--context', context, '-n', namespace, 'port-forward', `svc/${natsService}`, `${localPort}:4222`],
      {
        stdio: 'ignore',
      },
    );
    forward.once('exit', () => {
      if (!stopping) setTimeout(startForward, 1000);
    });
  };
  startForward();
  await waitFor(
    `kubectl port-forward to svc/${natsService} on 127.0.0.1:${localPort}`,
    async () => ((await isListening(localPort)) ? true : undefined),
    30_000,
  );

  const consumerDeployment = `${release}-consumer`;
  const dep = await apps.readNamespacedDeployment({ name: consumerDeployment, namespace });
  const selector = Object.entries(dep.spec?.selector.matchLabels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const target: HarnessTarget = {
    name: `kind (context ${context})`,
    kubeConfig: kc,
    namespace,
    gatewayUrl: options.gatewayUrl,
    natsUrl: `nats://127.0.0.1:${localPort}`,
    stream: 'EVENTS',
    consumer: 'processor',
    eventLogStream: 'EVENTLOG',
    jetstreamEnv: {},
    consumerDeployment,
    gatewayDeployment: `${release}-gateway`,
    eventConsumerName: `${release}-consumer`,
    consumerPodSelector: selector,
    lease: { name: options.leaseName, namespace: options.operatorNamespace },
    killOperator: async (identity) => {
      await core.deleteNamespacedPod({
        name: identity,
        namespace: options.operatorNamespace,
        gracePeriodSeconds: 0,
      });
      return `force-deleted operator pod ${options.operatorNamespace}/${identity} (grace 0)`;
    },
    restartNats: async () => {
      // A rolling restart: JetStream with three replicas keeps serving while one server is away.
      // What `kubectl rollout restart` does; a merge patch keeps the chart's own annotations.
      await apps.patchNamespacedStatefulSet(
        {
          name: natsService,
          namespace,
          body: {
            spec: {
              template: {
                metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() } },
              },
            },
          },
        },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
      );
    },
    settings: {
      cluster: context,
      'demo release': `${namespace}/${release}`,
      'operator Lease': `${options.operatorNamespace}/${options.leaseName}`,
    },
  };
  return {
    target,
    stop: async () => {
      stopping = true;
      forward?.kill('SIGTERM');
    },
  };
}
