// The processes a kwokctl cluster started, found by where they run rather than by kwokctl's pid
// files. kwokctl's binary runtime starts every component (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kwok) in its own session with the cluster's directory as
// working directory and records each pid in <cluster dir>/pids. When a start fails part way, the
// pid files and the processes part company: `kwokctl create` returns success though a component
// died (it only logs a failed readiness wait), a later step fails and nobody deletes the cluster,
// or `kwokctl delete` removes the directory while a component still runs. Each stack has a
// directory of its own, so "every process whose working directory is in it" is exactly that
// stack's processes, with or without pid files, and never another stack's.
import { readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { commandLine } from './port-owners.js';
import { isProcessAlive } from './process-alive.js';

/** A /proc/<pid>/cwd or exe link target without the " (deleted)" the kernel adds once it is gone. */
function linkTarget(link: string): string {
  return link.replace(/ \(deleted\)$/, '');
}

/** Whether a /proc/<pid>/cwd link target lies in `dir` (also once `dir` has been deleted). */
export function cwdIsIn(cwdLink: string, dir: string): boolean {
  const cwd = linkTarget(cwdLink);
  const root = path.resolve(dir);
  return cwd === root || cwd.startsWith(root + path.sep);
}

export interface DirProcess {
  pid: number;
  command: string;
}

function realpathOr(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return path.resolve(file);
  }
}

/**
 * The processes (other than this one) running one of `executables` with their working directory
 * in `dir`. Both must hold: a user's shell or `tail -f` sitting in the directory is not the
 * stack's to stop.
 */
export function processesWorkingIn(dir: string, executables: string[]): DirProcess[] {
  const binaries = new Set(executables.map(realpathOr));
  const found: DirProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    let cwd: string;
    let exe: string;
    try {
      cwd = readlinkSync(`/proc/${entry}/cwd`);
      exe = readlinkSync(`/proc/${entry}/exe`);
    } catch {
      continue; // exited, a kernel thread, or another user's
    }
    if (cwdIsIn(cwd, dir) && binaries.has(linkTarget(exe)))
      found.push({ pid, command: commandLine(pid) ?? '?' });
  }
  return found;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/**
 * Stops every process processesWorkingIn finds: SIGTERM, then SIGKILL after graceMs. Resolves with what it
 * stopped; throws naming the pids still alive after that (a process in uninterruptible sleep).
 */
export async function stopProcessesWorkingIn(
  dir: string,
  executables: string[],
  graceMs = 5_000,
): Promise<DirProcess[]> {
  const found = processesWorkingIn(dir, executables);
  if (found.length === 0) return [];
  for (const p of found) signal(p.pid, 'SIGTERM');
  const alive = (): DirProcess[] => found.filter((p) => isRunning(p.pid));
  const deadline = Date.now() + graceMs;
  while (alive().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const p of alive()) signal(p.pid, 'SIGKILL');
  const killDeadline = Date.now() + 5_000;
  while (alive().length > 0 && Date.now() < killDeadline) await new Promise((r) => setTimeout(r, 100));
  const left = alive();
  if (left.length > 0)
    throw new Error(
      `processes of ${dir} survived SIGKILL: ${left.map((p) => `pid ${p.pid} (${p.command})`).join(', ')}`,
    );
  return found;
}

/** Running, not a zombie (an exited process waiting for its parent: it holds no port, no cgroup). */
export function isRunning(pid: number): boolean {
  if (!isProcessAlive(pid)) return false;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  // "pid (comm) S ...": comm may hold spaces and parentheses; the state follows the last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}
