// A real local Kubernetes control plane — etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler — plus kwok faking nodes and pod status, started by kwokctl's binary runtime from
// the pinned builds in .tools/bin (no downloads), bound to 127.0.0.1. The API server keeps an
// audit log of the writes that matter to leader election (Leases, /scale, EventConsumer status,
// Events): the HA drills read it to learn who wrote what, in etcd's order.
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { directLauncher, type Launcher } from './stack-cgroup.js';
import { toolPath } from './tools.js';

const run = promisify(execFile);

export interface ClusterOptions {
  /** kwokctl cluster name; one workdir can hold several. */
  name: string;
  /** kwokctl's KWOK_WORKDIR: cluster state, certificates, logs. */
  workdir: string;
  /** Where to write the kubeconfig. */
  kubeconfig: string;
  nodes?: number;
  /** An address the API server must answer on besides 127.0.0.1 (a real node's IP, which its pods
   *  reach): the API server then binds 0.0.0.0 with that address in its certificate; etcd and the
   *  other components stay on 127.0.0.1 (kwokctl's binary runtime wires them through loopback). */
  alsoServeAt?: string;
  /** Called with progress lines (cluster creation takes 10-40 s). */
  progress?: (line: string) => void;
  /** How to run `kwokctl create cluster`, whose components inherit its cgroup (stack-cgroup.ts). */
  launcher?: Launcher;
}

export interface Cluster {
  name: string;
  kubeconfig: string;
  workdir: string;
  delete(): Promise<void>;
}

/**
 * Which requests the API server records (auditLogPath): every change to a Lease and to a /scale
 * subresource with request and response bodies (the response's resourceVersion orders writes to
 * different objects as etcd committed them), EventConsumer status and Event writes as metadata,
 * and reads of a Deployment, a StatefulSet or their /scale as metadata: a new leader's first
 * reconcile reads its scale target (the object itself for these two kinds, scale-client.ts), which
 * is when the HA drills call a failover done (a write waits until the backlog asks for one). One
 * line per read: at the operator's busy rate (a read per poll) a small cost next to serving it.
 * The control plane's own Leases (kube-system, kube-node-lease) are left out: they renew every
 * few seconds and nothing here reads them.
 */
export const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    namespaces: [kube-system, kube-node-lease]
  - level: RequestResponse
    verbs: [create, update, patch, delete]
    resources:
      - group: coordination.k8s.io
        resources: [leases]
      - group: apps
        resources: [deployments/scale, statefulsets/scale]
  - level: Metadata
    verbs: [create, update, patch]
    resources:
      - group: jetscale.io
        resources: [eventconsumers/status]
      - group: ''
        resources: [events]
  - level: Metadata
    verbs: [get]
    resources:
      - group: apps
        resources: [deployments, deployments/scale, statefulsets, statefulsets/scale]
  - level: None
`;

/** Where kwokctl's binary runtime has the API server write its audit log. */
export function auditLogPath(workdir: string, name: string): string {
  return path.join(workdir, 'clusters', name, 'logs', 'audit.log');
}

function kwokctlEnv(workdir: string): NodeJS.ProcessEnv {
  return { ...process.env, KWOK_WORKDIR: workdir };
}

export async function createCluster(options: ClusterOptions): Promise<Cluster> {
  const { name, workdir, kubeconfig } = options;
  const say = options.progress ?? (() => undefined);
  mkdirSync(workdir, { recursive: true });
  mkdirSync(path.dirname(kubeconfig), { recursive: true });
  const config = path.join(workdir, `kwokctl-${name}.yaml`);
  const auditPolicy = path.join(workdir, `audit-policy-${name}.yaml`);
  writeFileSync(auditPolicy, AUDIT_POLICY);
  // bindAddress keeps every component on loopback (kwokctl's default is 0.0.0.0). kwok fakes only
  // the nodes it made (annotated kwok.x-k8s.io/node=fake by `kwokctl scale node`): left to manage
  // all nodes it would also fake the status of a real node's pods.
  const extra = options.alsoServeAt;
  writeFileSync(
    config,
    [
      'apiVersion: config.kwok.x-k8s.io/v1alpha1',
      'kind: KwokctlConfiguration',
      'componentsPatches:',
      '  - name: kwok-controller',
      '    extraArgs:',
      '      - { key: manage-all-nodes, value: "false", override: true }',
      '      - { key: manage-nodes-with-annotation-selector, value: "kwok.x-k8s.io/node=fake" }',
      ...(extra
        ? [
            '  - name: kube-apiserver',
            '    extraArgs:',
            '      - { key: bind-address, value: 0.0.0.0, override: true }',
            // kubectl logs/exec reach a kubelet by its IP (its hostname resolves nowhere).
            '      - { key: kubelet-preferred-address-types, value: "InternalIP,Hostname" }',
          ]
        : []),
      'options:',
      '  runtime: binary',
      '  bindAddress: 127.0.0.1',
      ...(extra ? ['  kubeApiserverCertSANs:', `    - ${extra}`] : []),
      `  kubeAuditPolicy: ${auditPolicy}`,
      `  kubeApiserverBinary: ${toolPath('kube-apiserver')}`,
      `  kubeControllerManagerBinary: ${toolPath('kube-controller-manager')}`,
      `  kubeSchedulerBinary: ${toolPath('kube-scheduler')}`,
      `  kubectlBinary: ${toolPath('kubectl')}`,
      `  etcdBinary: ${toolPath('etcd')}`,
      `  kwokControllerBinary: ${toolPath('kwok')}`,
      '',
    ].join('\n'),
  );
  const env = kwokctlEnv(workdir);
  const kwokctl = toolPath('kwokctl');
  say(`creating cluster ${name} (etcd, kube-apiserver, controller-manager, scheduler, kwok)…`);
  try {
    const create = (options.launcher ?? directLauncher).wrap(kwokctl, [
      ...['create', 'cluster', '--name', name, '--config', config, '--kubeconfig', kubeconfig],
      ...['--wait', '3m'],
    ]);
    await run(create.command, create.args, { env, maxBuffer: 16 << 20 });
  } catch (err) {
    const detail =
      err instanceof Error && 'stderr' in err ? String((err as { stderr: unknown }).stderr) : String(err);
    // A half-created cluster leaves its processes running: take them down before reporting.
    await run(kwokctl, ['delete', 'cluster', '--name', name, '--kubeconfig', kubeconfig], { env }).catch(
      () => undefined,
    );
    throw new Error(
      `kwokctl create cluster ${name} failed (logs in ${workdir}/clusters/${name}/logs):\n${detail}`,
    );
  }
  const nodes = options.nodes ?? 3;
  say(`adding ${nodes} kwok nodes…`);
  await run(kwokctl, ['scale', 'node', '--name', name, '--replicas', String(nodes)], { env });
  return {
    name,
    kubeconfig,
    workdir,
    delete: async () => {
      await run(kwokctl, ['delete', 'cluster', '--name', name, '--kubeconfig', kubeconfig], { env }).catch(
        (err: unknown) => say(`kwokctl delete cluster ${name}: ${String(err)}`),
      );
    },
  };
}
