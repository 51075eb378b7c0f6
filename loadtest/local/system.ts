// The sample system on a local stack, ready to be load tested: installs the CRD and the
// charts/jetscale-demo chart (NATS disabled: the stack's own nats-server serves it) into a fresh
// namespace, runs its pods as processes through the pod runner, runs the operator as two
// leader-elected processes, and describes all of it as a HarnessTarget. stop() undoes everything.
import * as k8s from '@kubernetes/client-node';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { waitFor } from '../../hack/stack/ports.js';
import type { ScrapeTargetSink } from '../../hack/stack/scrape-targets.js';
import type { HarnessTarget } from '../harness/target.js';
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
  installCrd,
  podSelectorOf,
  uninstallAll,
  type ConsumerTuning,
  type ScalingSettings,
} from './demo-release.js';
import { OperatorPair } from './operator-pair.js';
import { PodRunner, type RunnerEvent } from './pod-runner.js';

export interface LocalSystemOptions {
  repoRoot: string;
  kubeconfig: string;
  natsUrl: string;
  namespace: string;
  /** Logs of every process and the rendered values go here. */
  workDir: string;
  /** Short suffix that keeps JetStream names apart on a shared NATS (the dev stack). */
  jetstreamSuffix?: string;
  consumer?: Partial<ConsumerTuning>;
  scaling?: Partial<ScalingSettings>;
  lease?: { durationSeconds: number; renewDeadlineSeconds: number; retryPeriodSeconds: number };
  /** Operator replicas to run (default 2; 0 runs the system without an autoscaler, as a baseline). */
  operatorReplicas?: number;
  /** Fixed local port of the gateway (the load target). */
  gatewayPort: number;
  restartNats?: (downSeconds: number) => Promise<void>;
  progress?: (line: string) => void;
  onRunnerEvent?: (event: RunnerEvent) => void;
  /** The stack's Prometheus: the operator replicas and every pod are registered with its file SD. */
  prometheus?: { url: string; intervalSeconds: number; targets: ScrapeTargetSink };
}

export interface LocalSystem {
  target: HarnessTarget;
  runner: PodRunner;
  operators: OperatorPair;
  /** Every process this system started that is still alive (leak checks). */
  pids(): number[];
  stop(): Promise<void>;
}

export async function startLocalSystem(options: LocalSystemOptions): Promise<LocalSystem> {
  const say = options.progress ?? (() => undefined);
  const { repoRoot, kubeconfig, namespace, workDir } = options;
  mkdirSync(workDir, { recursive: true });
  const logDir = path.join(workDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const tuning = { ...defaultConsumerTuning, ...options.consumer };
  const scaling = { ...defaultScaling, ...options.scaling };
  const names = demoNames(options.jetstreamSuffix);
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const release = demoRelease;

  say('installing the EventConsumer CRD…');
  await installCrd(kubeconfig, repoRoot);
  await ensureNamespace(core, namespace);
  const onLoopback = [{ name: 'HOST', value: '127.0.0.1' }];
  const values = demoValues({
    natsUrl: options.natsUrl,
    names,
    tuning,
    scaling,
    // One gateway: its process listens on the fixed load-target port.
    gateway: { replicas: 1, extraEnv: onLoopback },
    consumerExtraEnv: onLoopback,
  });
  const chart = chartWithoutNatsDependency(repoRoot, workDir);

  const runner = new PodRunner({
    kubeConfig: kc,
    namespace,
    labelSelector: `app.kubernetes.io/instance=${release}`,
    repoRoot,
    serviceAddresses: {},
    portEnv: ['PORT'],
    pinnedPorts: [
      { labels: { 'app.kubernetes.io/component': 'gateway' }, env: 'PORT', port: options.gatewayPort },
    ],
    logDir,
    ...(options.onRunnerEvent ? { onEvent: options.onRunnerEvent } : {}),
    ...(options.prometheus ? { scrape: { targets: options.prometheus.targets, portEnv: 'PORT' } } : {}),
  });
  await runner.start();

  const lease = options.lease ?? { durationSeconds: 10, renewDeadlineSeconds: 7, retryPeriodSeconds: 2 };
  const operators = new OperatorPair({
    repoRoot,
    kubeconfig,
    namespace,
    logDir,
    replicas: options.operatorReplicas ?? 2,
    leaseDurationSeconds: lease.durationSeconds,
    renewDeadlineSeconds: lease.renewDeadlineSeconds,
    retryPeriodSeconds: lease.retryPeriodSeconds,
    onEvent: say,
    ...(options.prometheus ? { scrapeTargets: options.prometheus.targets } : {}),
  });

  const stop = async (): Promise<void> => {
    say('stopping the operator replicas…');
    await operators.stop();
    say('stopping the pod processes…');
    await runner.stop();
    await uninstallAll({ kubeconfig, core, namespace, releases: [release], timeoutSeconds: 60 });
  };

  try {
    say(
      `helm install ${release} charts/jetscale-demo (NATS disabled; JetStream stream ${names.stream}) into ${namespace}…`,
    );
    await helmInstall({
      kubeconfig,
      release,
      chart,
      namespace,
      values,
      valuesFile: path.join(workDir, 'demo-values.json'),
      timeoutSeconds: 120,
    });
    await operators.start();
    const gatewayUrl = `http://127.0.0.1:${options.gatewayPort}`;
    await waitFor(
      `the gateway answering /readyz on ${gatewayUrl}`,
      async () => ((await fetch(`${gatewayUrl}/readyz`)).ok ? true : undefined),
      60_000,
      250,
    );
    const fields = demoTargetFields(names);
    const target: HarnessTarget = {
      name: `local (kwok cluster, kubeconfig ${kubeconfig})`,
      kubeConfig: kc,
      namespace,
      gatewayUrl,
      natsUrl: options.natsUrl,
      ...fields,
      consumerPodSelector: await podSelectorOf(apps, namespace, fields.consumerDeployment),
      lease: { name: 'jetscale-operator', namespace },
      consumerMetricsUrls: () =>
        runner
          .running()
          .filter(
            (p) =>
              p.labels['app.kubernetes.io/component'] === 'consumer' &&
              p.pid !== undefined &&
              p.ports.PORT !== undefined,
          )
          .map((p) => `http://127.0.0.1:${p.ports.PORT}/metrics`),
      runningConsumers: () =>
        runner
          .running()
          .filter(
            (p) =>
              p.labels['app.kubernetes.io/component'] === 'consumer' && p.pid !== undefined && !p.terminating,
          ).length,
      killOperator: async (identity) => operators.kill(identity),
      ...(options.restartNats ? { restartNats: options.restartNats } : {}),
      ...(options.prometheus
        ? { prometheus: { url: options.prometheus.url, intervalSeconds: options.prometheus.intervalSeconds } }
        : {}),
      settings: {
        'pods run as': 'local processes on kwok nodes (loadtest/local/pod-runner.ts)',
        ...demoSettings(names, tuning, scaling),
        'operator replicas': options.operatorReplicas ?? 2,
        'operator lease duration / renew deadline / retry': `${lease.durationSeconds} / ${lease.renewDeadlineSeconds} / ${lease.retryPeriodSeconds} s`,
      },
    };
    return { target, runner, operators, pids: () => [...runner.pids(), ...operators.pids()], stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
