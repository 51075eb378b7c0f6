// Whether a process id still names a process (signal 0 probes without signalling), and whether that
// process still runs.
import { readFileSync } from 'node:fs';

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether `pid` runs: a zombie (dead, not yet reaped by whoever adopted it) answers signal 0 but
 * does not. Reads /proc/<pid>/stat: "pid (comm) S ...", the state after the last ')' (comm may hold one).
 */
export function isProcessRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
