// The sample system on a local stack, ready to be load tested: installs the CRD and the
// charts/jetscale-demo chart (NATS disabled: the stack's own nats-server serves it) into a fresh
// namespace, runs its pods as processes through the pod runner, runs the operator as two
// leader-elected processes, and describes all of it as a HarnessTarget. stop() undoes everything.
import * as k8s from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from '../../hack/stack/ports.js';
import type { ScrapeTargetSink } from '../../hack/stack/scrape-targets.js';
import { toolPath } from '../../hack/stack/tools.js';
import type { HarnessTarget } from '../harness/target.js';
import { OperatorPair } from './operator-pair.js';
import { PodRunner, type RunnerEvent } from './pod-runner.js';

const run = promisify(execFile);

export interface ConsumerTuning {
  /** Events one consumer process works on at once. */
  concurrency: number;
  /** Simulated I/O per event: with concurrency, what one replica can take. */
  workLatencyMs: number;
  workLatencyJitterMs: number;
  pullBatch: number;
  shutdownGraceMs: number;
}

export interface ScalingSettings {
  minReplicas: number;
  maxReplicas: number;
  backlogPerReplica: number;
  pollInterval: string;
}

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

export const defaultConsumerTuning: ConsumerTuning = {
  concurrency: 2,
  workLatencyMs: 80,
  workLatencyJitterMs: 20,
  pullBatch: 16,
  shutdownGraceMs: 10_000,
};

export const defaultScaling: ScalingSettings = {
  minReplicas: 1,
  maxReplicas: 10,
  backlogPerReplica: 100,
  pollInterval: '1s',
};

const release = 'demo';

/** helm refuses a chart whose dependency is not vendored even when it is disabled: install a copy without it. */
export function chartWithoutNatsDependency(repoRoot: string, workDir: string): string {
  const copy = path.join(workDir, 'chart', 'jetscale-demo');
  cpSync(path.join(repoRoot, 'charts', 'jetscale-demo'), copy, { recursive: true });
  const chartYaml = path.join(copy, 'Chart.yaml');
  const text = readFileSync(chartYaml, 'utf8').replace(/\ndependencies:\n(?:[ #].*\n?)*/, '\n');
  writeFileSync(chartYaml, text);
  return copy;
}

export async function startLocalSystem(options: LocalSystemOptions): Promise<LocalSystem> {
  const say = options.progress ?? (() => undefined);
  const { repoRoot, kubeconfig, namespace, workDir } = options;
  mkdirSync(workDir, { recursive: true });
  const logDir = path.join(workDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const tuning = { ...defaultConsumerTuning, ...options.consumer };
  const scaling = { ...defaultScaling, ...options.scaling };
  const suffix = options.jetstreamSuffix ? `_${options.jetstreamSuffix}` : '';
  const subjectSuffix = options.jetstreamSuffix ? `-${options.jetstreamSuffix}` : '';
  const names = {
    stream: `EVENTS${suffix}`,
    subjectPrefix: `events${subjectSuffix}`,
    consumer: 'processor',
    eventLogStream: `EVENTLOG${suffix}`,
  };
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const kubectl = toolPath('kubectl');

  say('installing the EventConsumer CRD…');
  await run(kubectl, [
    '--kubeconfig',
    kubeconfig,
    'apply',
    '--server-side',
    '-f',
    path.join(repoRoot, 'manifests', 'crd', 'jetscale.io_eventconsumers.yaml'),
  ]);
  await run(kubectl, [
    '--kubeconfig',
    kubeconfig,
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    'crd/eventconsumers.jetscale.io',
  ]);
  await core.createNamespace({ body: { metadata: { name: namespace } } }).catch((err: unknown) => {
    if (!(err instanceof k8s.ApiException && err.code === 409)) throw err;
  });

  // Names the chart has no value for go in through extraEnv, so a shared NATS keeps runs apart.
  const jetstreamEnv = [
    { name: 'EVENT_LOG_STREAM', value: names.eventLogStream },
    { name: 'EVENT_LOG_SUBJECT_PREFIX', value: `eventlog${subjectSuffix}` },
    { name: 'DLQ_STREAM', value: `EVENTS_DLQ${suffix}` },
    { name: 'DLQ_SUBJECT_PREFIX', value: `dlq${subjectSuffix}` },
    { name: 'PROCESSED_BUCKET', value: `processed${subjectSuffix}` },
    { name: 'PROJECTION_BUCKET', value: `projection${subjectSuffix}` },
  ];
  const values = {
    nats: { enabled: false },
    externalNats: { url: options.natsUrl },
    jetstream: {
      stream: names.stream,
      subjectPrefix: names.subjectPrefix,
      consumer: names.consumer,
      replicas: 1,
    },
    // One gateway: its process listens on the fixed load-target port.
    gateway: { replicas: 1, extraEnv: [...jetstreamEnv, { name: 'HOST', value: '127.0.0.1' }] },
    consumer: {
      concurrency: tuning.concurrency,
      pullBatch: tuning.pullBatch,
      workLatencyMs: tuning.workLatencyMs,
      workLatencyJitterMs: tuning.workLatencyJitterMs,
      shutdownGraceMs: tuning.shutdownGraceMs,
      extraEnv: [...jetstreamEnv, { name: 'HOST', value: '127.0.0.1' }],
    },
    eventConsumer: {
      enabled: true,
      minReplicas: scaling.minReplicas,
      maxReplicas: scaling.maxReplicas,
      backlogPerReplica: scaling.backlogPerReplica,
      pollInterval: scaling.pollInterval,
    },
  };
  const valuesFile = path.join(workDir, 'demo-values.json');
  writeFileSync(valuesFile, JSON.stringify(values, null, 2));
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
    await run(toolPath('helm'), [
      '--kubeconfig',
      kubeconfig,
      'uninstall',
      release,
      '--namespace',
      namespace,
      '--wait',
      '--timeout',
      '60s',
    ]).catch(() => undefined);
    await core.deleteNamespace({ name: namespace }).catch(() => undefined);
  };

  try {
    say(
      `helm install ${release} charts/jetscale-demo (NATS disabled; JetStream stream ${names.stream}) into ${namespace}…`,
    );
    await run(
      toolPath('helm'),
      [
        '--kubeconfig',
        kubeconfig,
        'install',
        release,
        chart,
        '--namespace',
        namespace,
        '--values',
        valuesFile,
        '--wait',
        '--timeout',
        '120s',
      ],
      {
        maxBuffer: 8 << 20,
      },
    );
    await operators.start();
    const gatewayUrl = `http://127.0.0.1:${options.gatewayPort}`;
    await waitFor(
      `the gateway answering /readyz on ${gatewayUrl}`,
      async () => ((await fetch(`${gatewayUrl}/readyz`)).ok ? true : undefined),
      60_000,
      250,
    );
    const consumerDeployment = `${release}-jetscale-demo-consumer`;
    const dep = await apps.readNamespacedDeployment({ name: consumerDeployment, namespace });
    const selector = Object.entries(dep.spec?.selector.matchLabels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const target: HarnessTarget = {
      name: `local (kwok cluster, kubeconfig ${kubeconfig})`,
      kubeConfig: kc,
      namespace,
      gatewayUrl,
      natsUrl: options.natsUrl,
      stream: names.stream,
      consumer: names.consumer,
      eventLogStream: names.eventLogStream,
      jetstreamEnv: {
        EVENTS_STREAM: names.stream,
        EVENTS_SUBJECT_PREFIX: names.subjectPrefix,
        CONSUMER_NAME: names.consumer,
        ...Object.fromEntries(jetstreamEnv.map((e) => [e.name, e.value])),
      },
      consumerDeployment,
      gatewayDeployment: `${release}-jetscale-demo-gateway`,
      eventConsumerName: `${release}-jetscale-demo-consumer`,
      consumerPodSelector: selector,
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
        'consumer concurrency': tuning.concurrency,
        'consumer work per event': `${tuning.workLatencyMs} ± ${tuning.workLatencyJitterMs} ms`,
        'consumer shutdown grace': `${tuning.shutdownGraceMs} ms`,
        'EventConsumer min/max replicas': `${scaling.minReplicas} / ${scaling.maxReplicas}`,
        'EventConsumer backlogPerReplica': scaling.backlogPerReplica,
        'EventConsumer pollInterval': scaling.pollInterval,
        'operator replicas': options.operatorReplicas ?? 2,
        'operator lease duration / renew deadline / retry': `${lease.durationSeconds} / ${lease.renewDeadlineSeconds} / ${lease.retryPeriodSeconds} s`,
        'JetStream stream / consumer': `${names.stream} / ${names.consumer}`,
      },
    };
    return { target, runner, operators, pids: () => [...runner.pids(), ...operators.pids()], stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
