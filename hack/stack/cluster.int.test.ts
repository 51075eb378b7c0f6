// The local control plane as users start it, several at once on one host (make demo beside make
// dev-up, two CI jobs, the integration suite's own stack already running): each cluster must come
// up on ports of its own and talk to its own API server, and a start that fails part way must
// leave no process behind. Process checks here look for the cluster's directory in command lines
// (every component gets paths in it), independently of how cluster.ts finds its processes.
import { jest } from '@jest/globals';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { testScratchDir } from '../../test/scratch.js';
import { createCluster, type Cluster, type ClusterPorts } from './cluster.js';
import { isRunning } from './dir-processes.js';
import { startStack } from './stack.js';
import { toolPath } from './tools.js';

jest.setTimeout(420_000);
const run = promisify(execFile);

/** Processes whose command line mentions `dir` (pid and command). */
function processesMentioning(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
    } catch {
      continue;
    }
    if (cmdline.includes(dir)) found.push(`${entry}: ${cmdline.slice(0, 120)}`);
  }
  return found;
}

async function eventuallyNoProcesses(dir: string, timeoutMs = 15_000): Promise<string[]> {
  // A SIGTERMed component may take a moment to exit; 15 s is far beyond what a stop needs.
  const deadline = Date.now() + timeoutMs;
  let left = processesMentioning(dir);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    left = processesMentioning(dir);
  }
  return left;
}

/** kubectl checks the server's certificate against the kubeconfig's CA. */
async function readyz(kubeconfig: string, server?: string): Promise<string> {
  const { stdout } = await run(toolPath('kubectl'), [
    '--kubeconfig',
    kubeconfig,
    ...(server ? ['--server', server] : []),
    'get',
    '--raw',
    '/readyz',
  ]);
  return stdout.trim();
}

function serverOf(kubeconfig: string): string {
  const server = /^\s*server:\s*(\S+)/m.exec(readFileSync(kubeconfig, 'utf8'))?.[1];
  if (!server) throw new Error(`no server in ${kubeconfig}`);
  return server;
}

function start(workdir: string, name: string, extra: Partial<Parameters<typeof createCluster>[0]> = {}) {
  return createCluster({
    name,
    workdir: path.join(workdir, 'kwok'),
    kubeconfig: path.join(workdir, 'kubeconfig'),
    nodes: 1,
    ...extra,
  });
}

describe('local kwok clusters started side by side', () => {
  test('two clusters created at the same moment each come up on ports of their own and talk to their own API server', async () => {
    const dirA = testScratchDir('jetscale-cluster-a-');
    const dirB = testScratchDir('jetscale-cluster-b-');
    const results = await Promise.allSettled([start(dirA, 'side-a'), start(dirB, 'side-b')]);
    const clusters = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    try {
      const errors = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
      expect(errors).toEqual([]);
      const [a, b] = clusters as [Cluster, Cluster];
      const portsOf = (c: Cluster): number[] => Object.values(c.ports);
      expect(new Set([...portsOf(a), ...portsOf(b)]).size).toBe(12);
      expect(await readyz(a.kubeconfig)).toBe('ok');
      expect(await readyz(b.kubeconfig)).toBe('ok');
      // The check can fail: A's credentials against B's API server are refused by TLS.
      await expect(readyz(a.kubeconfig, serverOf(b.kubeconfig))).rejects.toThrow(/certificate|x509/i);
    } finally {
      for (const c of clusters) await c.delete();
    }
    expect(await eventuallyNoProcesses(dirA)).toEqual([]);
    expect(await eventuallyNoProcesses(dirB)).toEqual([]);
  });

  test('a start that fails after the control plane is up stops every process it started', async () => {
    const dir = testScratchDir('jetscale-cluster-fail-');
    // Any error after kwokctl has started the components: here the caller's progress callback
    // throws when the nodes are about to be added (where a failed `kwokctl scale node` fails).
    const failing = start(dir, 'fails-part-way', {
      progress: (line) => {
        if (line.startsWith('adding')) throw new Error('injected failure while adding nodes');
      },
    });
    await expect(failing).rejects.toThrow(/injected failure/);
    expect(await eventuallyNoProcesses(dir)).toEqual([]);
  });

  test('fixed ports that are taken fail before anything starts, naming the port and who holds it', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const taken = (holder.address() as net.AddressInfo).port;
    const dir = testScratchDir('jetscale-cluster-taken-');
    try {
      const free = await Promise.all(
        Array.from({ length: 5 }, async () => {
          const s = net.createServer();
          await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
          const port = (s.address() as net.AddressInfo).port;
          await new Promise((r) => s.close(r));
          return port;
        }),
      );
      const [etcd, etcdPeer, controllerManager, scheduler, kwokController] = free as [
        number,
        number,
        number,
        number,
        number,
      ];
      const ports: ClusterPorts = {
        etcd,
        etcdPeer,
        apiServer: taken,
        controllerManager,
        scheduler,
        kwokController,
      };
      await expect(start(dir, 'taken-port', { ports })).rejects.toThrow(
        new RegExp(`port ${taken} \\(kube-apiserver\\) is taken by pid ${process.pid} \\(`),
      );
      expect(processesMentioning(dir)).toEqual([]);
    } finally {
      await new Promise((r) => holder.close(r));
    }
  });

  test('deleting a cluster stops its components even when kwokctl has lost track of them', async () => {
    const dir = testScratchDir('jetscale-cluster-lost-');
    const cluster = await start(dir, 'lost-pids');
    expect(processesMentioning(dir).length).toBeGreaterThanOrEqual(5);
    // kwokctl stops components by the pid files in the cluster directory; without them its delete
    // stops nothing (as after a create that failed half way).
    rmSync(path.join(dir, 'kwok', 'clusters', 'lost-pids', 'pids'), { recursive: true, force: true });
    await cluster.delete();
    expect(await eventuallyNoProcesses(dir)).toEqual([]);
  });
});

describe('a whole stack killed at once (a second Ctrl-C in the load harness)', () => {
  test('every process it started is gone, even a component kwokctl has lost track of', async () => {
    const dir = testScratchDir('jetscale-stack-kill-');
    const stack = await startStack({ dir, clusterName: 'kill-now', prometheus: {} });
    const pids = [stack.nats.pid(), stack.prometheus?.pid()];
    expect(processesMentioning(dir).length).toBeGreaterThanOrEqual(7);
    rmSync(path.join(dir, 'kwok', 'clusters', 'kill-now', 'pids'), { recursive: true, force: true });
    expect(stack.killNow()).toEqual([]); // nothing left to tell the user: no real node
    // SIGKILLed, not asked: gone within moments. (Left alone, the components lose their etcd and
    // some exit within ~15 s by themselves, which a longer wait would mistake for the kill.)
    expect(await eventuallyNoProcesses(dir, 2_000)).toEqual([]);
    const running = (): unknown[] => pids.filter((pid) => pid === undefined || isRunning(pid));
    for (let waited = 0; running().length > 0 && waited < 2_000; waited += 100)
      await new Promise((r) => setTimeout(r, 100));
    expect(running()).toEqual([]);
  });
});
