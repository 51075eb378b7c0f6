// A stack that goes when the process that started it goes, even when that process is killed and
// runs no cleanup (a jest stopped by SIGKILL, `timeout` or a session's end). The harness's own
// children die with it (dies-with-parent.ts), but kwokctl starts the control plane (etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler, kwok) in sessions of their own and
// exits: no parent-death signal reaches them, and a killed jest left its jetscale-test-<pid> stack
// running in /tmp (sessions 20 and 21).
//
// The owner starts a watchdog process before the stack: detached (its own session, so it outlives
// the owner and a terminal's Ctrl-C), with its stdin a pipe from the owner. Nothing writes to the
// pipe; when the owner ends, however it ends, the kernel closes the owner's end and the watchdog
// reads end-of-file. It then stops every process working in the stack's directory that runs one of
// the stack's binaries (dir-processes.ts: never another stack's, never a shell sitting there), and
// removes the directory. After a clean stop the directory is already gone and it only exits. A
// stack that failed to start keeps its directory (its logs say why: scratch-dir.ts): the owner
// writes KEEP to the pipe, and the watchdog then only stops processes.
//
// Run as a program: node --import tsx hack/stack/stack-watchdog.ts <stack dir> <executable>...
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stopProcessesWorkingIn } from './dir-processes.js';
import { repoRoot } from './tools.js';

/** SIGTERM, then SIGKILL after this long: the stack's owner is gone, nothing will read its data. */
const GRACE_MS = 2_000;
/** Written by the owner when the directory must stay once it has gone. */
const KEEP = 'keep';

export interface StackWatchdog {
  /** The directory stays when this process ends (its processes are still stopped). */
  keepDirectory(): void;
}

/**
 * Starts the watchdog of `stackDir` for this process: once this process ends, every process working
 * in `stackDir` that runs one of `executables` is stopped and `stackDir` is removed.
 */
export function removeWhenThisProcessEnds(stackDir: string, executables: string[]): StackWatchdog {
  if (!path.isAbsolute(stackDir)) throw new Error(`stack directory must be absolute, not ${stackDir}`);
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(import.meta.url), stackDir, ...executables],
    { cwd: repoRoot, detached: true, stdio: ['pipe', 'ignore', 'ignore'] },
  );
  // Neither the watchdog nor the pipe to it keeps this process alive (nor counts as a leak).
  child.unref();
  // A pipe's stream is a net.Socket (typed Writable), which has unref.
  (child.stdin as Socket).unref();
  // The pipe breaking early (the watchdog killed) must not take this process down.
  child.stdin.on('error', () => undefined);
  return { keepDirectory: () => void child.stdin.write(`${KEEP}\n`) };
}

async function watch(stackDir: string, executables: string[]): Promise<void> {
  let keep = false;
  await new Promise<void>((resolve) => {
    process.stdin.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes(KEEP)) keep = true;
    });
    process.stdin.on('end', resolve);
    process.stdin.on('error', () => resolve());
    process.stdin.on('close', () => resolve());
    process.stdin.resume();
  });
  await stopProcessesWorkingIn(stackDir, executables, GRACE_MS);
  if (!keep && existsSync(stackDir)) rmSync(stackDir, { recursive: true, force: true });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [stackDir, ...executables] = process.argv.slice(2);
  if (stackDir === undefined || !path.isAbsolute(stackDir) || executables.length === 0) {
    process.stderr.write('usage: stack-watchdog.ts <absolute stack dir> <executable>...\n');
    process.exit(2);
  }
  watch(stackDir, executables).then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`stack-watchdog: ${String(err)}\n`);
      process.exit(1);
    },
  );
}
