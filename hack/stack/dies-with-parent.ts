// Processes the test and load harness starts (consumer pods, operators, nats-servers) end with the
// process that started them, even when it is killed and runs no cleanup: a jest stopped by
// `timeout` or SIGKILL, a session that ends. Before, its children were re-parented to init and ran
// on (session 20: pull consumers with parent pid 1 two hours after their jest, still consuming;
// with their NATS server gone they ignored SIGTERM for more than 4 s).
//
// Linux's parent-death signal (prctl PR_SET_PDEATHSIG), set by util-linux's `setpriv`, which then
// execs the command: the pid stays the command's own, so signals, pid checks and niceness reach
// it, and Node, Go and Python children alike need not know. The signal is SIGKILL, which nothing
// can ignore. A shell between setpriv and the command closes the one gap: a parent that dies
// after the fork but before the prctl would send nothing, so the shell exits unless its parent is
// still the process that spawned it (util-linux is part of every Debian and Ubuntu base system).
//
// The kernel sends the signal when the THREAD that spawned the child ends; Node spawns children
// from its main thread, so that is the process's end. A process meant to outlive its starter (the
// dev stack's `detached` servers) must not be wrapped.
import { existsSync } from 'node:fs';
import path from 'node:path';

/** A command and its arguments, as spawn() takes them. */
export interface Command {
  command: string;
  args: string[];
}

/**
 * Exits unless the parent (after the prctl) is still the spawner, whose pid is $0; else execs "$@",
 * keeping the pid.
 */
const STILL_OUR_CHILD = '[ "$PPID" = "$0" ] || exit 70; exec "$@"';

/** The command wrapped so that it gets SIGKILL when `parentPid` (the spawner) ends. */
export function commandThatDiesWithParent(
  setpriv: string,
  parentPid: number,
  { command, args }: Command,
): Command {
  if (!Number.isInteger(parentPid) || parentPid <= 1)
    throw new Error(`parent pid must be a process's pid above 1, not ${parentPid}`);
  return {
    command: setpriv,
    args: [
      '--pdeathsig',
      'KILL',
      '--',
      '/bin/sh',
      '-c',
      STILL_OUR_CHILD,
      String(parentPid),
      command,
      ...args,
    ],
  };
}

let setprivPath: string | undefined;

/** Where setpriv is on PATH (or the usual /usr/bin), or an error saying what to install. */
export function findSetpriv(searchPath: string = process.env.PATH ?? ''): string {
  if (setprivPath) return setprivPath;
  const candidates = [...searchPath.split(path.delimiter).filter(Boolean), '/usr/bin', '/bin'];
  const found = candidates.map((dir) => path.join(dir, 'setpriv')).find((file) => existsSync(file));
  if (!found)
    throw new Error(
      'setpriv is not installed (util-linux): the test harness starts every process through it so that ' +
        'none outlives the harness; install util-linux (apt-get install util-linux)',
    );
  setprivPath = found;
  return found;
}

/** `command args` as they are, for a process meant to outlive this one. */
export function directCommand(command: string, args: string[]): Command {
  return { command, args };
}

/** `command args` wrapped so that it gets SIGKILL when this process ends. */
export function diesWithThisProcess(command: string, args: string[]): Command {
  return commandThatDiesWithParent(findSetpriv(), process.pid, { command, args });
}
