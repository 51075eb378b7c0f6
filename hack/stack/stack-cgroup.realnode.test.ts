// Where the CPU goes on a stack with a real node (`make e2e-real-node`): the control plane and the
// node's daemons — etcd, the API server, the controller manager, the scheduler, kwok, containerd
// and its shims, the kubelet — in the stack's own cgroup weighing one thread, every container of a
// pod in the kubelet's kubepods, and NATS and the harness (this process) in neither (stack-cgroup.ts).
import * as k8s from '@kubernetes/client-node';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { createNamespace, eventually, kubeConfig, testStack } from '../../test/env.js';
import { realNodePlacement } from './real-node-config.js';
import { pauseImage } from './real-node.js';
import { readRealNodeState } from './stack.js';
import { cgroupPids } from './stack-cgroup.js';

/** The process's path in the CPU hierarchy (cgroup v1 "cpu" or "cpu,cpuacct", or v2's "0::"). */
function cpuCgroupOf(pid: number): string | undefined {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
  for (const line of lines) {
    const [, controllers, where] = line.split(':');
    if (controllers?.split(',').includes('cpu')) return where;
  }
  return lines.find((l) => l.startsWith('0::'))?.slice(3);
}

function processes(): Array<{ pid: number; argv: string[] }> {
  const found: Array<{ pid: number; argv: string[] }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      found.push({ pid: Number(entry), argv: readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0') });
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

describe("the stack's CPU cgroup beside the real node's pods", () => {
  const stack = testStack();
  const cgroupDir = process.env.JETSCALE_STACK_CGROUP ?? '';
  const stateFile = process.env.JETSCALE_REAL_NODE_STATE ?? '';
  const core = kubeConfig().makeApiClient(k8s.CoreV1Api);

  it('is set up, weighing one nice-0 thread', () => {
    expect(cgroupDir).toMatch(/\/jetscale-stack-jetscale-rn-\d+$/);
    const weight = ['cpu.shares', 'cpu.weight'].find((f) => {
      try {
        readFileSync(path.join(cgroupDir, f));
        return true;
      } catch {
        return false;
      }
    });
    expect(readFileSync(path.join(cgroupDir, weight ?? 'cpu.shares'), 'utf8').trim()).toBe(
      weight === 'cpu.weight' ? '100' : '1024',
    );
  });

  it('holds the control plane and the node daemons, and neither NATS nor the harness', () => {
    const inGroup = new Set(cgroupPids(cgroupDir));
    const state = readRealNodeState(stateFile);
    const all = processes();
    const named = (program: string): number[] =>
      all
        .filter(
          (p) =>
            path.basename(p.argv[0] ?? '') === program &&
            // this stack's, not another engineer's: its command line names this stack's directory
            p.argv.some((a) => a.includes(stack.stackDir)),
        )
        .map((p) => p.pid);
    const daemons: Record<string, number[]> = {
      kubelet: [state.kubeletPid],
      containerd: [state.containerdPid],
      etcd: named('etcd'),
      'kube-apiserver': named('kube-apiserver'),
      'kube-controller-manager': named('kube-controller-manager'),
      'kube-scheduler': named('kube-scheduler'),
      kwok: named('kwok-controller'), // kwokctl runs a copy under the cluster's bin/
    };
    for (const [name, pids] of Object.entries(daemons)) {
      expect({ name, count: pids.length }).toEqual({ name, count: 1 });
      expect({ name, inGroup: pids.every((p) => inGroup.has(p)) }).toEqual({ name, inGroup: true });
    }
    expect(inGroup.has(process.pid)).toBe(false);
    const nats = Number(process.env.JETSCALE_NATS_PID);
    expect(nats).toBeGreaterThan(0);
    expect(inGroup.has(nats)).toBe(false);
  });

  it("puts a pod's containers in kubepods and their shim in the stack's cgroup", async () => {
    const { name: namespace, cleanup } = await createNamespace('rn-cgroup');
    try {
      const pod = await core.createNamespacedPod({
        namespace,
        body: {
          metadata: { name: 'pause' },
          spec: {
            ...realNodePlacement(),
            automountServiceAccountToken: false,
            terminationGracePeriodSeconds: 1,
            containers: [{ name: 'pause', image: pauseImage(), imagePullPolicy: 'Never' }],
          },
        },
      });
      const uid = pod.metadata?.uid ?? '';
      const podProcesses = await eventually(
        'the pod running, with its sandbox and its container',
        async () => {
          const running = await core.readNamespacedPod({ name: 'pause', namespace });
          if (running.status?.phase !== 'Running') return undefined;
          const pids = processes()
            .map((p) => p.pid)
            .filter((p) => {
              try {
                return cpuCgroupOf(p)?.includes(`pod${uid}`) ?? false;
              } catch {
                return false;
              }
            });
          return pids.length >= 2 ? pids : undefined;
        },
        90_000,
        500,
      );
      for (const pid of podProcesses) expect(cpuCgroupOf(pid)).toMatch(/^\/kubepods\//);
      const state = readRealNodeState(stateFile);
      const shims = processes().filter(
        (p) => p.argv.some((a) => a.includes('containerd-shim')) && p.argv.includes(state.containerdSocket),
      );
      expect(shims.length).toBeGreaterThan(0);
      const inGroup = new Set(cgroupPids(cgroupDir));
      expect(shims.every((s) => inGroup.has(s.pid))).toBe(true);
    } finally {
      await cleanup();
    }
  }, 120_000);
});
