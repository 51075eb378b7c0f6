import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { testScratchDir } from '../../test/scratch.js';
import { cwdIsIn, processesWorkingIn, stopProcessesWorkingIn } from './dir-processes.js';
import { isProcessAlive } from './process-alive.js';

describe('whether a working directory lies in a stack directory', () => {
  test('the directory itself and anything below it', () => {
    expect(cwdIsIn('/tmp/s/kwok/clusters/a', '/tmp/s/kwok/clusters/a')).toBe(true);
    expect(cwdIsIn('/tmp/s/kwok/clusters/a/logs', '/tmp/s/kwok/clusters/a')).toBe(true);
  });

  test('also once the directory was deleted under the process', () => {
    expect(cwdIsIn('/tmp/s/kwok/clusters/a (deleted)', '/tmp/s/kwok/clusters/a')).toBe(true);
  });

  test('not a sibling whose name starts the same', () => {
    expect(cwdIsIn('/tmp/s/kwok/clusters/a-2', '/tmp/s/kwok/clusters/a')).toBe(false);
    expect(cwdIsIn('/tmp/s', '/tmp/s/kwok/clusters/a')).toBe(false);
  });
});

describe('the processes working in a directory', () => {
  const children: ChildProcess[] = [];
  afterAll(() => children.forEach((c) => c.kill('SIGKILL')));

  function startIn(cwd: string, command: string, args: string[]): number {
    const child = spawn(command, args, { cwd, stdio: 'ignore' });
    children.push(child);
    if (child.pid === undefined) throw new Error(`${command} did not start`);
    return child.pid;
  }

  test('finds the given binaries running there and stops them; leaves other programs and other directories alone', async () => {
    const dir = testScratchDir('jetscale-dirproc-');
    const inside = path.join(dir, 'clusters', 'x');
    const outside = path.join(dir, 'elsewhere');
    mkdirSync(inside, { recursive: true });
    mkdirSync(outside, { recursive: true });
    const component = startIn(inside, 'sleep', ['300']);
    // Another program sitting in the directory (a user's `tail -f` of a log): not the stack's.
    const tail = startIn(inside, 'tail', ['-f', '/dev/null']);
    const elsewhere = startIn(outside, 'sleep', ['300']);
    const sleep = '/bin/sleep';

    expect(processesWorkingIn(inside, [sleep]).map((p) => p.pid)).toContain(component);
    expect(processesWorkingIn(inside, [sleep]).map((p) => p.pid)).not.toContain(tail);
    expect(processesWorkingIn(inside, [sleep]).map((p) => p.pid)).not.toContain(elsewhere);

    const stopped = await stopProcessesWorkingIn(inside, [sleep]);
    expect(stopped.map((p) => p.pid)).toContain(component);
    expect(stopped.find((p) => p.pid === component)?.command).toBe('sleep 300');
    expect(isProcessAlive(elsewhere)).toBe(true);
    expect(isProcessAlive(tail)).toBe(true);
    expect(processesWorkingIn(inside, [sleep])).toEqual([]);
  });

  test('stopping when nothing runs there is a no-op', async () => {
    expect(await stopProcessesWorkingIn(testScratchDir('jetscale-dirproc-'), ['/bin/sleep'])).toEqual([]);
  });
});
