// One CPU cgroup for the stack's own daemons when it has a real node — what `system.slice` is on a
// real node. The kubelet puts every pod into one cgroup, `kubepods`, whose CPU weight is the node's
// cores (cpu.shares 2048 for two); left in the root cgroup, each thread of the stack's daemons (etcd,
// the API server, the controller manager, the scheduler, kwok, containerd, the kubelet, Prometheus)
// weighs as a whole nice-0 thread on its own, so while they are busy — nine pods starting at once —
// all pods together get a small fraction of the machine. In a cgroup of their own, weighing one
// nice-0 thread together (cpu.shares 1024, cgroup v2 cpu.weight 100), the daemons can no longer
// outweigh the pods. Two processes keep their own place: NATS, a service every request of the pods
// waits on (on machines of its own in a real cluster; in this cgroup its publishes would queue
// behind the kubelet's and the API server's pod start-up work), and the harness (the load driver,
// the client of the system).
//
// Only the CPU controller: on cgroup v1 every other hierarchy (memory, pids, …) is left as it is.
// Each daemon is born in the cgroup (joinCommand: a shell moves itself, then execs the daemon,
// keeping its pid), so what it forks — kwokctl's components, containerd's shims — is in it too.
// The pure parts (which hierarchy, what to write, the wrapper) are here; stack.ts does the I/O.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Where the CPU controller lives on this host. */
export type CpuHierarchy =
  | { version: 1; root: string } // e.g. /sys/fs/cgroup/cpu (cpu.shares)
  | { version: 2; root: string }; // e.g. /sys/fs/cgroup (cpu.weight)

export interface CgroupProbe {
  exists(file: string): boolean;
  read(file: string): string;
}

/** The CPU hierarchy under `base` (default /sys/fs/cgroup), or why there is none to use. */
export function findCpuHierarchy(probe: CgroupProbe, base = '/sys/fs/cgroup'): CpuHierarchy | string {
  // cgroup v1 (also a hybrid host with v2 mounted at /sys/fs/cgroup/unified): the cpu hierarchy,
  // mounted alone at cpu/ or as cpu,cpuacct/ with a cpu symlink to it.
  for (const dir of ['cpu', 'cpu,cpuacct']) {
    const root = path.join(base, dir);
    if (probe.exists(path.join(root, 'cpu.shares'))) return { version: 1, root };
  }
  // cgroup v2: one hierarchy; the cpu controller must be available at its root.
  const controllers = path.join(base, 'cgroup.controllers');
  if (probe.exists(controllers)) {
    if (probe.read(controllers).trim().split(/\s+/).includes('cpu')) return { version: 2, root: base };
    return `cgroup v2 at ${base} without the cpu controller (${controllers} lists: ${probe.read(controllers).trim() || 'nothing'})`;
  }
  return `no CPU cgroup hierarchy under ${base} (neither ${base}/cpu/cpu.shares nor ${base}/cgroup.controllers)`;
}

/** The cgroup's name: one per stack, so two stacks never share or remove each other's. */
export function stackCgroupName(clusterName: string): string {
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(clusterName))
    throw new Error(`cluster name "${clusterName}" cannot name a cgroup (lowercase letters, digits, -)`);
  return `jetscale-stack-${clusterName}`;
}

export interface CgroupPlan {
  dir: string;
  /** Files to write, in order, before any process joins (relative paths are under dir). */
  writes: Array<{ file: string; value: string }>;
  /** What a process writes its pid into to join. */
  procs: string;
}

/** The directory and settings of the stack's cgroup: the weight of one nice-0 thread. */
export function stackCgroupPlan(hierarchy: CpuHierarchy, name: string): CgroupPlan {
  const dir = path.join(hierarchy.root, name);
  if (hierarchy.version === 1)
    return {
      dir,
      writes: [{ file: path.join(dir, 'cpu.shares'), value: '1024' }],
      procs: path.join(dir, 'cgroup.procs'),
    };
  return {
    dir,
    writes: [
      // Children of the root get the cpu controller only when the root delegates it.
      { file: path.join(hierarchy.root, 'cgroup.subtree_control'), value: '+cpu' },
      { file: path.join(dir, 'cpu.weight'), value: '100' },
    ],
    procs: path.join(dir, 'cgroup.procs'),
  };
}

/** `command args…` started inside the cgroup: a shell writes its own pid into `procs` and execs
 *  the command (same pid, so signals and pid files still name the daemon). */
export function joinCommand(
  procs: string,
  command: string,
  args: string[],
): { command: string; args: string[] } {
  return {
    command: '/bin/sh',
    args: ['-c', 'echo $$ > "$0" && exec "$@"', procs, command, ...args],
  };
}

/** How the stack starts its daemons: as they are, or inside its cgroup. */
export interface Launcher {
  wrap(command: string, args: string[]): { command: string; args: string[] };
}

export const directLauncher: Launcher = { wrap: (command, args) => ({ command, args }) };

export interface StackCgroup extends Launcher {
  dir: string;
  /** Removes the cgroup once every process in it has exited (waits up to timeoutMs for them). */
  remove(timeoutMs?: number): Promise<void>;
}

/** Creates (or reuses) the stack's cgroup; throws saying what is missing. Needs root. */
export function createStackCgroup(clusterName: string, base = '/sys/fs/cgroup'): StackCgroup {
  const probe: CgroupProbe = { exists: existsSync, read: (f) => readFileSync(f, 'utf8') };
  const hierarchy = findCpuHierarchy(probe, base);
  if (typeof hierarchy === 'string')
    throw new Error(`cannot give the stack's daemons a CPU cgroup of their own: ${hierarchy}`);
  const plan = stackCgroupPlan(hierarchy, stackCgroupName(clusterName));
  mkdirSync(plan.dir, { recursive: true });
  for (const { file, value } of plan.writes) writeFileSync(file, value);
  return {
    dir: plan.dir,
    wrap: (command, args) => joinCommand(plan.procs, command, args),
    remove: (timeoutMs) => removeCgroup(plan.dir, timeoutMs),
  };
}

/** The pids still in a cgroup directory ([] when it is gone). */
export function cgroupPids(dir: string): number[] {
  try {
    return readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** rmdir a cgroup once it is empty; an absent one is fine. Throws naming the pids left in it. */
export async function removeCgroup(dir: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!existsSync(dir)) return;
    try {
      rmdirSync(dir);
      return;
    } catch (err) {
      if (Date.now() >= deadline)
        throw new Error(
          `cannot remove cgroup ${dir} (${(err as NodeJS.ErrnoException).code ?? String(err)}): pids still in it: ${cgroupPids(dir).join(' ') || 'none listed'}`,
        );
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
