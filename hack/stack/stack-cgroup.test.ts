// The stack's CPU cgroup, without touching /sys/fs/cgroup: which hierarchy, what is written, and
// the wrapper that starts a daemon inside it (run here against a plain file standing in for
// cgroup.procs).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { findCpuHierarchy, joinCommand, stackCgroupName, stackCgroupPlan } from './stack-cgroup.js';
import { testScratchDir } from '../../test/scratch.js';

const host = (files: Record<string, string>) => ({
  exists: (f: string) => f in files,
  read: (f: string) => files[f] ?? '',
});

describe('the CPU cgroup hierarchy', () => {
  it('is cgroup v1 cpu/ when it has cpu.shares, even with v2 mounted beside it (hybrid)', () => {
    const found = findCpuHierarchy(
      host({ '/sys/fs/cgroup/cpu/cpu.shares': '1024', '/sys/fs/cgroup/unified/cgroup.controllers': '' }),
    );
    expect(found).toEqual({ version: 1, root: '/sys/fs/cgroup/cpu' });
  });

  it('is cgroup v1 cpu,cpuacct/ when cpu and cpuacct share a hierarchy', () => {
    expect(findCpuHierarchy(host({ '/sys/fs/cgroup/cpu,cpuacct/cpu.shares': '1024' }))).toEqual({
      version: 1,
      root: '/sys/fs/cgroup/cpu,cpuacct',
    });
  });

  it('is cgroup v2 when the unified root offers the cpu controller', () => {
    expect(
      findCpuHierarchy(host({ '/sys/fs/cgroup/cgroup.controllers': 'cpuset cpu io memory pids\n' })),
    ).toEqual({ version: 2, root: '/sys/fs/cgroup' });
  });

  it('is none, with the reason, on cgroup v2 without the cpu controller or without cgroups', () => {
    expect(findCpuHierarchy(host({ '/sys/fs/cgroup/cgroup.controllers': 'memory pids' }))).toMatch(
      /without the cpu controller .*memory pids/,
    );
    expect(findCpuHierarchy(host({}))).toMatch(/no CPU cgroup hierarchy under \/sys\/fs\/cgroup/);
  });
});

describe("the stack's cgroup", () => {
  it('is named after the cluster, and refuses a name that would escape or collide', () => {
    expect(stackCgroupName('jetscale-rn-123')).toBe('jetscale-stack-jetscale-rn-123');
    for (const bad of ['', '../kubepods', 'a/b', 'Upper', 'x'.repeat(70)])
      expect(() => stackCgroupName(bad)).toThrow(/cannot name a cgroup/);
  });

  it('weighs one nice-0 thread: cpu.shares 1024 on v1', () => {
    expect(stackCgroupPlan({ version: 1, root: '/sys/fs/cgroup/cpu' }, 'jetscale-stack-a')).toEqual({
      dir: '/sys/fs/cgroup/cpu/jetscale-stack-a',
      writes: [{ file: '/sys/fs/cgroup/cpu/jetscale-stack-a/cpu.shares', value: '1024' }],
      procs: '/sys/fs/cgroup/cpu/jetscale-stack-a/cgroup.procs',
    });
  });

  it('weighs one nice-0 thread: cpu.weight 100 on v2, with the cpu controller delegated first', () => {
    expect(stackCgroupPlan({ version: 2, root: '/sys/fs/cgroup' }, 'jetscale-stack-a').writes).toEqual([
      { file: '/sys/fs/cgroup/cgroup.subtree_control', value: '+cpu' },
      { file: '/sys/fs/cgroup/jetscale-stack-a/cpu.weight', value: '100' },
    ]);
  });
});

describe('a daemon started inside the cgroup', () => {
  const run = (procs: string, command: string, args: string[]) =>
    new Promise<{ pid: number | undefined; code: number | null; out: string }>((resolve) => {
      const wrapped = joinCommand(procs, command, args);
      const child = spawn(wrapped.command, wrapped.args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.once('close', (code) => resolve({ pid: child.pid, code, out }));
    });

  it('writes its own pid into cgroup.procs and then is the daemon, with its arguments intact', async () => {
    const procs = path.join(testScratchDir('jetscale-cg-'), 'cgroup.procs');
    // The daemon prints its own pid: the same one the shell wrote (exec, not a child process).
    const result = await run(procs, '/bin/sh', ['-c', 'echo "$$ $0 $1"', 'a b', '$HOME;x']);
    expect(result.code).toBe(0);
    expect(result.out.trim()).toBe(`${result.pid} a b $HOME;x`);
    expect(readFileSync(procs, 'utf8').trim()).toBe(String(result.pid));
  });

  it('does not start when it cannot join the cgroup', async () => {
    const result = await run('/nonexistent-dir/cgroup.procs', '/bin/echo', ['started']);
    expect(result.code).not.toBe(0);
    expect(result.out).toBe('');
  });
});
