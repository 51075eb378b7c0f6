// What integration tests know about the stack global-setup.ts prepared, and small helpers to keep
// tests isolated from one another on a shared stack (unique names, a namespace per test file).
import * as k8s from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { waitFor } from '../hack/stack/ports.js';

export interface TestStack {
  natsUrl: string;
  natsMonitorUrl: string;
  kubeconfigPath: string;
  stackDir: string;
}

export function testStack(): TestStack {
  const need = (key: string): string => {
    const value = process.env[key];
    if (!value)
      throw new Error(
        `${key} is not set: run integration tests through jest's integration project (npm run test:integration)`,
      );
    return value;
  };
  return {
    natsUrl: need('JETSCALE_NATS_URL'),
    natsMonitorUrl: need('JETSCALE_NATS_MONITOR_URL'),
    kubeconfigPath: need('KUBECONFIG'),
    stackDir: need('JETSCALE_STACK_DIR'),
  };
}

export function kubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(testStack().kubeconfigPath);
  return kc;
}

/** A DNS-1123 name unique to this run: `prefix-<8 hex>`. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** Creates a fresh namespace; returns its name and a cleanup that deletes it. */
export async function createNamespace(
  prefix: string,
): Promise<{ name: string; cleanup: () => Promise<void> }> {
  const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
  const name = uniqueName(prefix);
  await core.createNamespace({ body: { metadata: { name } } });
  return {
    name,
    cleanup: async () => {
      await core.deleteNamespace({ name }).catch(() => undefined);
    },
  };
}

/** Polls `probe` until it returns a value (errors count as "not yet"); the shared waitFor with test defaults. */
export function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 30_000,
  intervalMs = 200,
): Promise<T> {
  return waitFor(what, probe, timeoutMs, intervalMs);
}
