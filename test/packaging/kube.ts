// Integration helpers: kubectl and helm against the test stack's API server, and a kubeconfig
// that authenticates as a ServiceAccount with a token from the TokenRequest API.
import * as k8s from '@kubernetes/client-node';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { crdEstablished } from '../../hack/stack/crd-established.js';
import { kubeConfig, testStack } from '../env.js';
import { helmEnv, helmPath, kubectlPath, run, runOk, type RunResult } from './support.js';
import { testScratchDir } from '../scratch.js';

export function kubectl(args: string[], input?: string): Promise<RunResult> {
  return run(
    kubectlPath(),
    ['--kubeconfig', testStack().kubeconfigPath, ...args],
    input === undefined ? {} : { input },
  );
}

export function kubectlOk(args: string[], input?: string): Promise<string> {
  return runOk(
    kubectlPath(),
    ['--kubeconfig', testStack().kubeconfigPath, ...args],
    input === undefined ? {} : { input },
  );
}

export function helmOnCluster(args: string[]): Promise<RunResult> {
  return run(helmPath(), ['--kubeconfig', testStack().kubeconfigPath, ...args], {
    env: helmEnv(),
    timeoutMs: 300_000,
  });
}

/**
 * The CRD every test shares (cluster-scoped): applied idempotently from manifests/crd, never
 * deleted, and waited for until Established.
 */
export async function ensureCrd(crdFile: string): Promise<void> {
  await kubectlOk([
    'apply',
    '--server-side',
    '--force-conflicts',
    '--field-manager=jetscale-packaging-tests',
    '-f',
    crdFile,
  ]);
  await crdEstablished(testStack().kubeconfigPath, 'eventconsumers.jetscale.io');
}

/**
 * A kubeconfig for the test API server that authenticates with a short-lived token of
 * ServiceAccount namespace/name (TokenRequest API, as `kubectl create token` uses), and nothing else.
 */
export async function serviceAccountKubeconfig(
  namespace: string,
  name: string,
): Promise<{ path: string; config: k8s.KubeConfig }> {
  const token = (await kubectlOk(['-n', namespace, 'create', 'token', name, '--duration', '30m'])).trim();
  const admin = kubeConfig();
  const cluster = admin.getCurrentCluster();
  if (cluster === null) throw new Error('the test kubeconfig has no current cluster');
  const config = new k8s.KubeConfig();
  config.loadFromOptions({
    clusters: [{ ...cluster, name: 'test' }],
    users: [{ name: `${namespace}-${name}`, token }],
    contexts: [{ name: 'sa', cluster: 'test', user: `${namespace}-${name}` }],
    currentContext: 'sa',
  });
  const file = path.join(testScratchDir('jetscale-sa-'), 'kubeconfig');
  writeFileSync(file, config.exportConfig(), { mode: 0o600 });
  return { path: file, config };
}

/** `kubectl auth can-i` as a ServiceAccount: true when allowed. */
export async function canI(
  serviceAccount: string,
  verb: string,
  resource: string,
  namespace?: string,
  name?: string,
): Promise<boolean> {
  // `kind/x` would mean the object named x to can-i: subresources go in --subresource.
  const [kind = resource, subresource] = resource.split('/');
  const args = [
    'auth',
    'can-i',
    verb,
    name === undefined ? kind : `${kind}/${name}`,
    `--as=${serviceAccount}`,
  ];
  if (subresource !== undefined) args.push(`--subresource=${subresource}`);
  if (namespace === undefined) args.push('--all-namespaces');
  else args.push('-n', namespace);
  const r = await kubectl(args);
  // can-i prints yes/no and exits 0/1; anything else is a broken invocation.
  if (r.stdout.trim() !== 'yes' && r.stdout.trim() !== 'no')
    throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim() === 'yes';
}
