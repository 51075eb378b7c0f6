// A stack's processes that outlive their starter on purpose (kwokctl runs the control plane in
// sessions of its own) end, and the stack's directory goes, when the process that started the
// stack is killed. Played with a real process tree: an owner process (jest's part) starts the
// watchdog, then a "component" in a session of its own working in the stack's directory (kwokctl's
// part, with `sleep` for a binary); the owner is SIGKILLed.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { makeScratchDir } from './scratch-dir.js';
import { waitFor } from './ports.js';
import { isProcessRunning } from './process-alive.js';
import { repoRoot } from './tools.js';

/** What the owner does: start the watchdog, then a component in the cluster's directory. */
const OWNER = `
import { spawn, spawnSync } from 'node:child_process';
import { removeWhenThisProcessEnds } from ${JSON.stringify(path.join(repoRoot, 'hack/stack/stack-watchdog.ts'))};
const [stackDir, clusterDir, sleep, keep] = process.argv.slice(1);
const watchdog = removeWhenThisProcessEnds(stackDir, [sleep]);
if (keep === 'keep') watchdog.keepDirectory();
const component = spawn(sleep, ['600'], { cwd: clusterDir, detached: true, stdio: 'ignore' });
component.unref();
console.log(component.pid);
setInterval(() => undefined, 1000);
`;

const sleepBinary = realpathSync(
  ['/usr/bin/sleep', '/bin/sleep'].find((p) => existsSync(p)) ?? '/usr/bin/sleep',
);

/** Starts an owner of a stack in a fresh directory; resolves with the pids once its component runs. */
async function startOwner(keep: boolean) {
  const scratch = makeScratchDir('jetscale-watchdog-test-');
  const stackDir = scratch.dir;
  const clusterDir = path.join(stackDir, 'kwok', 'clusters', 'jetscale-test-1');
  mkdirSync(clusterDir, { recursive: true });
  const owner = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      OWNER,
      stackDir,
      clusterDir,
      sleepBinary,
      keep ? 'keep' : '',
    ],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const line = await new Promise<string>((resolve) =>
    createInterface({ input: owner.stdout }).once('line', resolve),
  );
  const component = Number(line);
  return { owner, component, stackDir, remove: () => scratch.remove() };
}

describe('removeWhenThisProcessEnds', () => {
  it('stops the stack’s processes and removes its directory when its owner is SIGKILLed', async () => {
    const { owner, component, stackDir, remove } = await startOwner(false);
    try {
      expect(isProcessRunning(component)).toBe(true);
      owner.kill('SIGKILL');
      // The bound is for a loaded machine: the watchdog sees end-of-file at once and stops the
      // component with SIGTERM (sleep obeys it).
      await waitFor(
        'the component to stop and the stack directory to go',
        async () => (!isProcessRunning(component) && !existsSync(stackDir) ? true : undefined),
        30_000,
      );
    } finally {
      owner.kill('SIGKILL');
      if (isProcessRunning(component)) process.kill(component, 'SIGKILL');
      remove();
    }
  }, 60_000);

  it('keeps the directory of a stack that failed to start, and still stops its processes', async () => {
    const { owner, component, stackDir, remove } = await startOwner(true);
    try {
      owner.kill('SIGKILL');
      await waitFor(
        'the component to stop',
        async () => (isProcessRunning(component) ? undefined : true),
        30_000,
      );
      expect(existsSync(stackDir)).toBe(true);
    } finally {
      owner.kill('SIGKILL');
      if (isProcessRunning(component)) process.kill(component, 'SIGKILL');
      remove();
    }
  }, 60_000);
});
