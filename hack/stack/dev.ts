// `make dev-up` / `make dev-down` / `make dev-status`: the long-lived local stack in .dev/.
// Usage: tsx hack/stack/dev.ts up [--real-node] | down | status
//   --real-node (make dev-up REAL_NODE=1) adds a real kubelet + containerd node (real-node.ts).
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { deleteCluster } from './cluster.js';
import { isListening } from './ports.js';
import {
  readEnvFile,
  removeRecordedNodeNetwork,
  startStack,
  stopRecordedRealNode,
  writeEnvFile,
} from './stack.js';
import { removeCgroup } from './stack-cgroup.js';
import { repoRoot, toolPath } from './tools.js';
import { isProcessAlive } from './process-alive.js';

const dir = process.env.JETSCALE_DEV_DIR ?? path.join(repoRoot, '.dev');
const envFile = path.join(dir, 'env');
const say = (line: string): void => console.error(`[dev] ${line}`);

async function up(realNode: boolean): Promise<void> {
  if (existsSync(envFile)) {
    const env = readEnvFile(envFile);
    if (isProcessAlive(Number(env.JETSCALE_NATS_PID))) {
      say(`already up (env file ${envFile}); \`make dev-down\` stops it`);
      return;
    }
    say('found a stale stack; cleaning it up first');
    await down();
  }
  const natsPort = (await isListening(4222)) ? undefined : 4222;
  const natsMonitorPort = (await isListening(8222)) ? undefined : 8222;
  if (natsPort === undefined) say('port 4222 is in use; nats-server gets a free port instead');
  if (natsMonitorPort === undefined) say('port 8222 is in use; the NATS monitor gets a free port instead');
  const prometheusPort = (await isListening(9090)) ? undefined : 9090;
  if (prometheusPort === undefined) say('port 9090 is in use; prometheus gets a free port instead');
  const started = Date.now();
  const stack = await startStack({
    dir,
    clusterName: 'jetscale-dev',
    detached: true,
    natsPort,
    natsMonitorPort,
    prometheus: { intervalSeconds: 1, ...(prometheusPort ? { port: prometheusPort } : {}) },
    realNode,
    progress: say,
  });
  writeEnvFile(envFile, stack.env);
  const nodes = execFileSync(toolPath('kubectl'), ['get', 'nodes', '--kubeconfig', stack.env.KUBECONFIG], {
    encoding: 'utf8',
  });
  console.log(nodes.trimEnd());
  console.log(`
jetscale dev stack is up (${((Date.now() - started) / 1000).toFixed(1)} s)
  NATS:        ${stack.env.JETSCALE_NATS_URL} (monitoring ${stack.env.JETSCALE_NATS_MONITOR_URL})
  Prometheus:  ${stack.env.JETSCALE_PROMETHEUS_URL ?? '(none)'} (HTTP API; scrape targets: one file each in ${stack.env.JETSCALE_PROMETHEUS_TARGETS_DIR ?? '-'})
  kubeconfig:  ${stack.env.KUBECONFIG}
  env file:    ${envFile}

Use it:
  export KUBECONFIG=${stack.env.KUBECONFIG}
  kubectl get nodes                 # or .tools/bin/kubectl
  set -a; source ${envFile}; set +a # NATS URL and KUBECONFIG for the operator and workloads
  JETSCALE_TEST_ENV=${envFile} make test-integration   # integration tests reuse this stack
Stop it: make dev-down`);
}

async function down(): Promise<void> {
  if (!existsSync(envFile)) {
    say(`nothing to stop (no ${envFile})`);
    return;
  }
  const env = readEnvFile(envFile);
  const nodeState = env.JETSCALE_REAL_NODE_STATE;
  if (nodeState && existsSync(nodeState))
    await stopRecordedRealNode(nodeState, say).catch((err: unknown) =>
      say(`stopping the real node: ${String(err)}`),
    );
  try {
    await deleteCluster(
      {
        name: env.JETSCALE_CLUSTER_NAME,
        workdir: path.join(env.JETSCALE_STACK_DIR, 'kwok'),
        kubeconfig: env.KUBECONFIG,
      },
      say,
    );
    say(`deleted cluster ${env.JETSCALE_CLUSTER_NAME}`);
  } catch (err) {
    say(`deleting cluster ${env.JETSCALE_CLUSTER_NAME} failed: ${String(err)}`);
  }
  for (const [what, pidText] of [
    ['prometheus', env.JETSCALE_PROMETHEUS_PID],
    ['nats-server', env.JETSCALE_NATS_PID],
  ] as const) {
    const pid = Number(pidText);
    if (pid > 0 && isProcessAlive(pid)) {
      process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 100 && isProcessAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
      if (isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
      say(`stopped ${what} (pid ${pid})`);
    }
  }
  if (nodeState && existsSync(nodeState)) {
    await removeRecordedNodeNetwork(nodeState);
    say('removed the real node network');
  }
  if (env.JETSCALE_STACK_CGROUP) {
    await removeCgroup(env.JETSCALE_STACK_CGROUP).then(
      () => say(`removed the stack's cgroup ${env.JETSCALE_STACK_CGROUP}`),
      (err: unknown) => say(String(err)),
    );
  }
  rmSync(dir, { recursive: true, force: true });
  say('dev stack is down');
}

function status(): void {
  if (!existsSync(envFile)) {
    console.log('dev stack: down');
    return;
  }
  const env = readEnvFile(envFile);
  console.log(
    `dev stack: nats-server ${isProcessAlive(Number(env.JETSCALE_NATS_PID)) ? 'running' : 'NOT running'} at ${env.JETSCALE_NATS_URL}`,
  );
  if (env.JETSCALE_PROMETHEUS_URL)
    console.log(
      `prometheus ${isProcessAlive(Number(env.JETSCALE_PROMETHEUS_PID)) ? 'running' : 'NOT running'} at ${env.JETSCALE_PROMETHEUS_URL}`,
    );
  try {
    console.log(
      execFileSync(toolPath('kubectl'), ['get', 'nodes', '--kubeconfig', env.KUBECONFIG], {
        encoding: 'utf8',
      }),
    );
  } catch {
    console.log('cluster: API server not answering');
  }
}

const command = process.argv[2];
const flags = process.argv.slice(3);
const unknown = flags.filter((f) => f !== '--real-node');
if (unknown.length > 0 || (flags.length > 0 && command !== 'up')) {
  console.error(
    `unknown flag ${flags.join(' ')}; usage: tsx hack/stack/dev.ts up [--real-node] | down | status`,
  );
  process.exit(2);
}
const commands: Record<string, () => Promise<void> | void> = {
  up: () => up(flags.includes('--real-node')),
  down,
  status,
};
const fn = command ? commands[command] : undefined;
if (!fn) {
  console.error('usage: tsx hack/stack/dev.ts up [--real-node] | down | status');
  process.exit(2);
}
try {
  await fn();
} catch (err) {
  console.error(`[dev] ${command} failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
