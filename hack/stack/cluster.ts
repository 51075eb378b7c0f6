// A real local Kubernetes control plane — etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler — plus kwok faking nodes and pod status, started by kwokctl's binary runtime from
// the pinned builds in .tools/bin (no downloads), bound to 127.0.0.1.
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
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
  /** Called with progress lines (cluster creation takes 10-40 s). */
  progress?: (line: string) => void;
}

export interface Cluster {
  name: string;
  kubeconfig: string;
  workdir: string;
  delete(): Promise<void>;
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
  // bindAddress keeps every component on loopback (kwokctl's default is 0.0.0.0).
  writeFileSync(
    config,
    [
      'apiVersion: config.kwok.x-k8s.io/v1alpha1',
      'kind: KwokctlConfiguration',
      'options:',
      '  runtime: binary',
      '  bindAddress: 127.0.0.1',
      '  kubeAuthorization: true',
      '  disableQPSLimits: true',
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
    await run(
      kwokctl,
      ['create', 'cluster', '--name', name, '--config', config, '--kubeconfig', kubeconfig, '--wait', '3m'],
      { env, maxBuffer: 16 << 20 },
    );
  } catch (err) {
    const detail =
      err instanceof Error && 'stderr' in err ? String((err as { stderr: unknown }).stderr) : String(err);
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
