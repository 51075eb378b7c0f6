// A PodRunner in a process of its own, for pod-runner.int's drill of a runner that is killed
// (SIGKILL, no cleanup) while its pods run: it runs the pods of RUNNER_NAMESPACE matching
// RUNNER_SELECTOR (KUBECONFIG's cluster, logs in RUNNER_LOG_DIR) and prints each RunnerEvent as one
// JSON line on stdout. Run with `node --import tsx loadtest/local/pod-runner-process.ts`.
import * as k8s from '@kubernetes/client-node';
import { repoRoot } from '../../hack/stack/tools.js';
import { PodRunner } from './pod-runner.js';

function required(name: string): string {
  const value = process.env[name];
  if (!value)
    throw new Error(
      `${name} is not set: pod-runner-process needs RUNNER_NAMESPACE, RUNNER_SELECTOR, RUNNER_LOG_DIR and KUBECONFIG`,
    );
  return value;
}

const kubeConfig = new k8s.KubeConfig();
kubeConfig.loadFromFile(required('KUBECONFIG'));
const runner = new PodRunner({
  kubeConfig,
  namespace: required('RUNNER_NAMESPACE'),
  labelSelector: required('RUNNER_SELECTOR'),
  repoRoot,
  serviceAddresses: {},
  portEnv: [],
  logDir: required('RUNNER_LOG_DIR'),
  onEvent: (event) => process.stdout.write(`${JSON.stringify(event)}\n`),
});
await runner.start();
