// What integration tests know about the stack global-setup.ts prepared, and small helpers to keep
// tests isolated from one another on a shared stack (unique names, a namespace per test file).
import * as k8s from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
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

/**
 * Freezes a process with SIGSTOP and returns once every one of its threads has stopped. kill()
 * returns before the other threads of a multi-threaded process (nats-server is a Go program) have
 * stopped: on a loaded machine a request sent in that window is still answered, and a test that
 * means "the server is frozen" then sees it answer (connection-breaker.int failed so in CI).
 */
export async function freezeProcess(pid: number, timeoutMs = 5000): Promise<void> {
  process.kill(pid, 'SIGSTOP');
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const running = threadStates(pid).filter((s) => s !== 'T' && s !== 't');
    if (running.length === 0) return;
    if (performance.now() > deadline)
      throw new Error(
        `process ${pid} still has ${running.length} thread(s) running ${timeoutMs} ms after SIGSTOP`,
      );
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The scheduler state letter of each thread of a process (/proc/<pid>/task/<tid>/stat). */
function threadStates(pid: number): string[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      // The command name may hold spaces and parentheses: the state follows the last ')'.
      return [stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)];
    } catch {
      return []; // the thread exited meanwhile
    }
  });
}
