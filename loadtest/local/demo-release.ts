// charts/jetscale-demo as the harness installs it on the local stack, whoever runs its pods (the pod
// runner's processes on kwok nodes, or real containers on the real node): the JetStream names that
// keep runs apart on a shared NATS, the chart values, the CRD, helm install and uninstall, and the
// parts of the HarnessTarget that follow from the release. loadtest/local/system.ts and
// loadtest/harness/real-node-target.ts differ only in how pods run and are killed.
import * as k8s from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { crdEstablished } from '../../hack/stack/crd-established.js';
import { toolPath } from '../../hack/stack/tools.js';
import type { HarnessTarget } from '../harness/target.js';

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

/** The demo's helm release name: its Deployments are `demo-jetscale-demo-<component>`. */
export const demoRelease = 'demo';

export interface EnvVar {
  name: string;
  value: string;
}

/** The JetStream names of one run: `suffix` keeps runs apart on a shared NATS (the dev stack). */
export interface DemoNames {
  stream: string;
  subjectPrefix: string;
  consumer: string;
  eventLogStream: string;
  /** Names the chart has no value for, passed to gateway and consumer through extraEnv. */
  jetstreamEnv: EnvVar[];
}

export function demoNames(suffix?: string): DemoNames {
  const s = suffix ? `_${suffix}` : '';
  const d = suffix ? `-${suffix}` : '';
  return {
    stream: `EVENTS${s}`,
    subjectPrefix: `events${d}`,
    consumer: 'processor',
    eventLogStream: `EVENTLOG${s}`,
    jetstreamEnv: [
      { name: 'EVENT_LOG_STREAM', value: `EVENTLOG${s}` },
      { name: 'EVENT_LOG_SUBJECT_PREFIX', value: `eventlog${d}` },
      { name: 'DLQ_STREAM', value: `EVENTS_DLQ${s}` },
      { name: 'DLQ_SUBJECT_PREFIX', value: `dlq${d}` },
      { name: 'PROJECTION_BUCKET', value: `projection${d}` },
    ],
  };
}

export interface DemoValuesInput {
  natsUrl: string;
  names: DemoNames;
  tuning: ConsumerTuning;
  scaling: ScalingSettings;
  gateway: { replicas: number; extraEnv?: EnvVar[] };
  consumerExtraEnv?: EnvVar[];
  /** Anything else the chart takes (image, placement, probes …), merged at the top level. */
  extra?: Record<string, unknown>;
}

/** charts/jetscale-demo values for the stack's NATS (the chart's own NATS disabled). */
export function demoValues(v: DemoValuesInput): Record<string, unknown> {
  return {
    nats: { enabled: false },
    externalNats: { url: v.natsUrl },
    jetstream: {
      stream: v.names.stream,
      subjectPrefix: v.names.subjectPrefix,
      consumer: v.names.consumer,
      replicas: 1,
    },
    gateway: {
      replicas: v.gateway.replicas,
      extraEnv: [...v.names.jetstreamEnv, ...(v.gateway.extraEnv ?? [])],
    },
    consumer: {
      concurrency: v.tuning.concurrency,
      pullBatch: v.tuning.pullBatch,
      workLatencyMs: v.tuning.workLatencyMs,
      workLatencyJitterMs: v.tuning.workLatencyJitterMs,
      shutdownGraceMs: v.tuning.shutdownGraceMs,
      extraEnv: [...v.names.jetstreamEnv, ...(v.consumerExtraEnv ?? [])],
    },
    eventConsumer: {
      enabled: true,
      minReplicas: v.scaling.minReplicas,
      maxReplicas: v.scaling.maxReplicas,
      backlogPerReplica: v.scaling.backlogPerReplica,
      pollInterval: v.scaling.pollInterval,
    },
    ...v.extra,
  };
}

/** helm refuses a chart whose dependency is not vendored even when it is disabled: install a copy without it. */
export function chartWithoutNatsDependency(repoRoot: string, workDir: string): string {
  const copy = path.join(workDir, 'chart', 'jetscale-demo');
  cpSync(path.join(repoRoot, 'charts', 'jetscale-demo'), copy, { recursive: true });
  const chartYaml = path.join(copy, 'Chart.yaml');
  const text = readFileSync(chartYaml, 'utf8').replace(/\ndependencies:\n(?:[ #].*\n?)*/, '\n');
  writeFileSync(chartYaml, text);
  return copy;
}

/** Applies the EventConsumer CRD (server-side, idempotent) and waits until it is served. */
export async function installCrd(kubeconfig: string, repoRoot: string): Promise<void> {
  const kubectl = toolPath('kubectl');
  const crd = path.join(repoRoot, 'manifests', 'crd', 'jetscale.io_eventconsumers.yaml');
  await run(kubectl, ['--kubeconfig', kubeconfig, 'apply', '--server-side', '-f', crd]);
  await crdEstablished(kubeconfig, 'eventconsumers.jetscale.io');
}

/** Creates the namespace; one that exists already is fine. */
export async function ensureNamespace(core: k8s.CoreV1Api, namespace: string): Promise<void> {
  await core.createNamespace({ body: { metadata: { name: namespace } } }).catch((err: unknown) => {
    if (!(err instanceof k8s.ApiException && err.code === 409)) throw err;
  });
}

/** `helm install --wait` of a chart directory with a values object (written to `valuesFile`). */
export async function helmInstall(o: {
  kubeconfig: string;
  release: string;
  chart: string;
  namespace: string;
  values: Record<string, unknown>;
  valuesFile: string;
  timeoutSeconds: number;
}): Promise<void> {
  writeFileSync(o.valuesFile, JSON.stringify(o.values, null, 2));
  await run(
    toolPath('helm'),
    [
      '--kubeconfig',
      o.kubeconfig,
      'install',
      o.release,
      o.chart,
      '--namespace',
      o.namespace,
      '--values',
      o.valuesFile,
      '--wait',
      '--timeout',
      `${o.timeoutSeconds}s`,
    ],
    { maxBuffer: 8 << 20 },
  );
}

/**
 * Teardown: uninstalls each release (waiting up to `timeoutSeconds` for its pods) and deletes the
 * namespace. Never throws: a teardown goes as far as it can (the namespace deletion removes what is left).
 */
export async function uninstallAll(o: {
  kubeconfig: string;
  core: k8s.CoreV1Api;
  namespace: string;
  releases: string[];
  timeoutSeconds: number;
}): Promise<void> {
  for (const release of o.releases)
    await run(
      toolPath('helm'),
      [
        '--kubeconfig',
        o.kubeconfig,
        'uninstall',
        release,
        '--namespace',
        o.namespace,
        '--wait',
        '--timeout',
        `${o.timeoutSeconds}s`,
      ],
      { maxBuffer: 8 << 20 },
    ).catch(() => undefined);
  await o.core.deleteNamespace({ name: o.namespace }).catch(() => undefined);
}

/** The label selector of a Deployment's pods, from its spec.selector.matchLabels. */
export async function podSelectorOf(apps: k8s.AppsV1Api, namespace: string, name: string): Promise<string> {
  const dep = await apps.readNamespacedDeployment({ name, namespace });
  return Object.entries(dep.spec?.selector.matchLabels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** The HarnessTarget fields that follow from the demo release and its names. */
export function demoTargetFields(
  names: DemoNames,
): Pick<
  HarnessTarget,
  | 'stream'
  | 'consumer'
  | 'eventLogStream'
  | 'jetstreamEnv'
  | 'consumerDeployment'
  | 'gatewayDeployment'
  | 'eventConsumerName'
> {
  return {
    stream: names.stream,
    consumer: names.consumer,
    eventLogStream: names.eventLogStream,
    jetstreamEnv: {
      EVENTS_STREAM: names.stream,
      EVENTS_SUBJECT_PREFIX: names.subjectPrefix,
      CONSUMER_NAME: names.consumer,
      ...Object.fromEntries(names.jetstreamEnv.map((e) => [e.name, e.value])),
    },
    consumerDeployment: `${demoRelease}-jetscale-demo-consumer`,
    gatewayDeployment: `${demoRelease}-jetscale-demo-gateway`,
    eventConsumerName: `${demoRelease}-jetscale-demo-consumer`,
  };
}

/** The report's settings that describe the demo's consumers and EventConsumer. */
export function demoSettings(
  names: DemoNames,
  tuning: ConsumerTuning,
  scaling: ScalingSettings,
): Record<string, string | number> {
  return {
    'consumer concurrency': tuning.concurrency,
    'consumer work per event': `${tuning.workLatencyMs} ± ${tuning.workLatencyJitterMs} ms`,
    'consumer shutdown grace': `${tuning.shutdownGraceMs} ms`,
    'EventConsumer min/max replicas': `${scaling.minReplicas} / ${scaling.maxReplicas}`,
    'EventConsumer backlogPerReplica': scaling.backlogPerReplica,
    'EventConsumer pollInterval': scaling.pollInterval,
    'JetStream stream / consumer': `${names.stream} / ${names.consumer}`,
  };
}
