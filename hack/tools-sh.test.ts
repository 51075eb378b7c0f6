// hack/tools.sh names the step that failed ("FAILED: <step>") and exits 1, also when the step runs
// inside a build function or a subshell of one (every step does), and stops at a missing
// prerequisite instead of going on to the next step. Run with a PATH holding only the few commands
// the script needs before the step under test, so the prerequisite (cargo, javac, go) is missing
// on any machine, and a tools directory of its own, so nothing is built or touched.
import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './stack/tools.js';
import { testScratchDir } from '../test/scratch.js';

const BASICS = ['bash', 'dirname', 'cat', 'sha256sum', 'cut', 'mkdir'];

function runTools(tool: string): { status: number | null; stderr: string } {
  const dir = testScratchDir('jetscale-tools-sh-');
  const bin = path.join(dir, 'path');
  mkdirSync(bin);
  for (const command of BASICS) {
    const found = spawnSync('bash', ['-c', `command -v ${command}`], { encoding: 'utf8' }).stdout.trim();
    if (!found) throw new Error(`${command} is not on PATH`);
    symlinkSync(found, path.join(bin, command));
  }
  const result = spawnSync('bash', [path.join(repoRoot, 'hack/tools.sh'), tool], {
    env: { PATH: bin, JETSCALE_TOOLS_BIN: path.join(dir, 'tools') },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: result.status, stderr: result.stderr };
}

const failedLines = (stderr: string): string[] => stderr.split('\n').filter((l) => l.includes('FAILED:'));

describe('hack/tools.sh reports the step that failed', () => {
  it('names a step that fails inside a build function (rust-consumer without cargo)', () => {
    const { status, stderr } = runTools('rust-consumer');
    expect(status).toBe(1);
    expect(failedLines(stderr)).toEqual([expect.stringContaining('FAILED: find cargo and rustc >= 1.88')]);
  });

  it('names a step that fails in a subshell of a build function, once (go-consumer without go)', () => {
    const { status, stderr } = runTools('go-consumer');
    expect(status).toBe(1);
    expect(failedLines(stderr)).toEqual([expect.stringContaining('FAILED: go build jetscale-go-consumer')]);
  });

  it('stops at a missing JDK instead of downloading jnats (java-consumer without javac)', () => {
    const { status, stderr } = runTools('java-consumer');
    expect(status).toBe(1);
    expect(failedLines(stderr)).toEqual([expect.stringContaining('FAILED: find javac and java')]);
    expect(stderr).not.toContain('download jnats');
  });
});
