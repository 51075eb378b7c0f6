// Consumer pods that really consume: a Deployment whose pods run the nats.go consumer
// (workloads/go-consumer, built by `hack/tools.sh go-consumer`) as processes of the local pod
// runner, and a publisher that keeps a steady arrival rate. For the drills that judge the operator
// against real consumers with a client's own defaults (steady-load, readiness-lag).
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { PodRunner } from '../../loadtest/local/pod-runner.js';
import { kubeConfig, testStack } from '../../test/env.js';
import { toolPath } from '../../hack/stack/tools.js';
import { testScratchDir } from '../../test/scratch.js';
import { kubeApi, repoRoot, sleep } from './harness.js';

/** Builds the nats.go consumer (cached after the first time) and runs the pods labelled `label`. */
export async function startGoConsumerRunner(namespace: string, label: string): Promise<PodRunner> {
  await promisify(execFile)('bash', [path.join(repoRoot, 'hack/tools.sh'), 'go-consumer'], {
    cwd: repoRoot,
    timeout: 600_000,
  });
  const runner = new PodRunner({
    kubeConfig: kubeConfig(),
    namespace,
    labelSelector: label,
    repoRoot,
    serviceAddresses: {},
    portEnv: [],
    logDir: testScratchDir(`jetscale-${label.replace(/\W+/g, '-')}-`),
  });
  await runner.start();
  return runner;
}

export interface GoConsumerDeployment {
  namespace: string;
  name: string;
  /** The pod label the runner selects on (startGoConsumerRunner's `label`). */
  label: string;
  /** The go-consumer's environment besides NATS_URL (STREAM, CONSUMER, PULL_MODE, HANDLER_MS...). */
  env: Record<string, string>;
  terminationGracePeriodSeconds: number;
  /** A pod template to start from (for example hand-node.ts onHandNode's); its containers are replaced. */
  template?: { metadata?: Record<string, unknown>; spec?: Record<string, unknown> };
}

/** Creates the Deployment at 1 replica, its one container the go-consumer. */
export async function createGoConsumerDeployment(d: GoConsumerDeployment): Promise<void> {
  const container = {
    name: 'consumer',
    image: `jetscale/${d.label.replace(/^.*\//, '')}:dev`,
    command: [toolPath('jetscale-go-consumer')],
    env: Object.entries({ NATS_URL: testStack().natsUrl, ...d.env }).map(([k, v]) => ({ name: k, value: v })),
  };
  await kubeApi().request('POST', `/apis/apps/v1/namespaces/${d.namespace}/deployments`, {
    body: {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: d.name, namespace: d.namespace },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: d.name } },
        template: {
          metadata: { ...d.template?.metadata, labels: { app: d.name, [d.label]: 'true' } },
          spec: {
            ...d.template?.spec,
            terminationGracePeriodSeconds: d.terminationGracePeriodSeconds,
            containers: [container],
          },
        },
      },
    },
  });
}

/** Publishes to `subject` at `perSecond` until stopped; stop() waits for every publish ack. */
export function steadyPublisher(
  nc: NatsConnection,
  subject: string,
  perSecond: number,
): { stop(): Promise<void> } {
  const js = jetstream(nc);
  const started = Date.now();
  let publishing = true;
  let published = 0;
  const done = (async () => {
    const acks: Array<Promise<unknown>> = [];
    while (publishing) {
      const owed = Math.floor(((Date.now() - started) / 1000) * perSecond) - published;
      for (let k = 0; k < owed; k++) acks.push(js.publish(subject, `m${published++}`).catch(() => 0));
      await sleep(100);
    }
    await Promise.all(acks);
  })();
  return {
    stop: async () => {
      publishing = false;
      await done;
    },
  };
}
