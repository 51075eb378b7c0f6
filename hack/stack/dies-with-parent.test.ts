// A process started through diesWithThisProcess runs as itself (its pid, its arguments untouched)
// and ends when the process that started it is killed; one whose starter is already gone when it
// would start does not run at all.
import { spawn, spawnSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { commandThatDiesWithParent, diesWithThisProcess, findSetpriv } from './dies-with-parent.js';
import { waitFor } from './ports.js';
import { isProcessRunning } from './process-alive.js';

describe('diesWithThisProcess', () => {
  it('runs the command itself, with its arguments as given, under the pid spawn() reports', async () => {
    const args = [
      '-e',
      'console.log(JSON.stringify(process.argv.slice(1))); setTimeout(() => undefined, 30000)',
    ];
    const odd = ['two words', '$HOME', '"quoted"', "it's", ''];
    const wrapped = diesWithThisProcess(process.execPath, [...args, ...odd]);
    const child = spawn(wrapped.command, wrapped.args, { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const line = await new Promise<string>((resolve) =>
        createInterface({ input: child.stdout }).once('line', resolve),
      );
      expect(JSON.parse(line)).toEqual(odd);
      expect(realpathSync(`/proc/${child.pid}/exe`)).toBe(realpathSync(process.execPath));
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('a child ends when the process that started it is killed with SIGKILL, though it ignores SIGTERM', async () => {
    // A starter that starts one stubborn child through the wrapper, prints its pid and waits.
    const stubborn = `process.on('SIGTERM', () => undefined); setInterval(() => undefined, 1000);`;
    // Wrapped as the starter will run it: with the starter's pid, which it puts in place of this one.
    const placeholder = 999_999_999;
    const wrapped = commandThatDiesWithParent(findSetpriv(), placeholder, {
      command: process.execPath,
      args: ['-e', stubborn],
    });
    const starter = `
      const { spawn } = require('node:child_process');
      const args = ${JSON.stringify(wrapped.args)}.map((a) => (a === '${placeholder}' ? String(process.pid) : a));
      const child = spawn(${JSON.stringify(wrapped.command)}, args, { stdio: 'ignore' });
      console.log(child.pid);
      setInterval(() => undefined, 1000);`;
    const parent = spawn(process.execPath, ['-e', starter], { stdio: ['ignore', 'pipe', 'inherit'] });
    let childPid: number | undefined;
    try {
      const line = await new Promise<string>((resolve) =>
        createInterface({ input: parent.stdout }).once('line', resolve),
      );
      const pid = Number(line);
      childPid = pid;
      await waitFor(
        'the child runs node',
        async () => (realpathSync(`/proc/${pid}/exe`) === realpathSync(process.execPath) ? true : undefined),
        5_000,
        20,
      );
      const parentExited = new Promise((resolve) => parent.once('exit', resolve));
      parent.kill('SIGKILL');
      await parentExited;
      await waitFor(
        'the child ends with its parent',
        async () => (isProcessRunning(pid) ? undefined : true),
        10_000,
        20,
      );
    } finally {
      parent.kill('SIGKILL');
      if (childPid !== undefined && isProcessRunning(childPid)) process.kill(childPid, 'SIGKILL');
    }
  }, 15_000);

  it('does not run the command when its starter is gone before the parent-death signal was set', () => {
    // The shell sees a parent other than the one named: what it sees when the starter died after
    // the fork and the child was adopted before setpriv's prctl.
    const notOurParent = process.pid === 2 ? 3 : 2;
    const wrapped = commandThatDiesWithParent(findSetpriv(), notOurParent, {
      command: process.execPath,
      args: ['-e', 'console.log("ran")'],
    });
    const result = spawnSync(wrapped.command, wrapped.args, { encoding: 'utf8' });
    expect(result.stdout).toBe('');
    expect(result.status).toBe(70);
  });

  it('refuses a parent pid that names no process of ours', () => {
    expect(() => commandThatDiesWithParent('/usr/bin/setpriv', 1, { command: 'x', args: [] })).toThrow(
      'parent pid must be',
    );
    expect(() =>
      commandThatDiesWithParent('/usr/bin/setpriv', Number.NaN, { command: 'x', args: [] }),
    ).toThrow('parent pid must be');
  });
});
