// The Makefile's own rules that protect a checkout: `make deps` must not run `npm ci` through a
// node_modules symlink (npm ci empties node_modules first, so the directory the link points to
// would be emptied for every checkout sharing it). Runs the real Makefile with a stand-in npm.
import { execFile } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './support.js';
import { testScratchDir } from '../scratch.js';

const run = promisify(execFile);

/** A checkout with the real Makefile, a package.json newer than node_modules, and a fake npm. */
function checkout(
  linked: boolean,
  shlvl?: string,
): { dir: string; shared: string; npmLog: string; env: NodeJS.ProcessEnv } {
  const dir = testScratchDir('jetscale-makefile-');
  const repo = path.join(dir, 'repo');
  mkdirSync(repo);
  copyFileSync(path.join(repoRoot, 'Makefile'), path.join(repo, 'Makefile'));
  const shared = path.join(dir, 'shared-node_modules');
  mkdirSync(shared);
  writeFileSync(path.join(shared, 'marker'), 'installed');
  if (linked) symlinkSync(shared, path.join(repo, 'node_modules'));
  else mkdirSync(path.join(repo, 'node_modules'));
  const old = new Date(Date.now() - 3600_000);
  utimesSync(shared, old, old);
  if (!linked) utimesSync(path.join(repo, 'node_modules'), old, old);
  for (const f of ['package.json', 'package-lock.json']) writeFileSync(path.join(repo, f), '{}');
  const bin = path.join(dir, 'bin');
  mkdirSync(bin);
  const npmLog = path.join(dir, 'npm.log');
  writeFileSync(path.join(bin, 'npm'), `#!/bin/sh\necho "npm $*" >> '${npmLog}'\n`);
  chmodSync(path.join(bin, 'npm'), 0o755);
  // The shell start-up files a recipe's bash could read, each saying so on stderr: the user's
  // ~/.bashrc (read, after the host's /etc/bash.bashrc, for a -c command whose stdin is a socket, as
  // execFile's is, while SHLVL is unset: make started by a Node process, a CI runner, s26's unit
  // run) and $BASH_ENV (read otherwise by any shell that is not interactive). SHLVL is set or unset
  // here, not inherited: before, the host's /etc/bash.bashrc failed the recipes' `set -u` ("line 7:
  // PS1: unbound variable", three times) only when jest was started without SHLVL.
  const home = path.join(dir, 'home');
  mkdirSync(home);
  writeFileSync(path.join(home, '.bashrc'), 'echo "~/.bashrc was read" >&2\n');
  const bashEnv = path.join(dir, 'bash-env');
  writeFileSync(bashEnv, 'echo "$BASH_ENV was read" >&2\n');
  const { SHLVL: _shlvl, ...inherited } = process.env;
  return {
    dir: repo,
    shared,
    npmLog,
    env: {
      ...inherited,
      PATH: `${bin}:${process.env.PATH ?? ''}`,
      HOME: home,
      BASH_ENV: bashEnv,
      ...(shlvl !== undefined ? { SHLVL: shlvl } : {}),
    },
  };
}

async function makeDeps(c: ReturnType<typeof checkout>): Promise<{ code: number; stderr: string }> {
  try {
    const r = await run('make', ['--no-print-directory', 'deps'], { cwd: c.dir, env: c.env });
    return { code: 0, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stderr?: string };
    return { code: e.code ?? -1, stderr: e.stderr ?? '' };
  }
}

describe('make deps', () => {
  it('refuses to run npm ci through a node_modules symlink, saying what to do instead', async () => {
    const c = checkout(true);
    const r = await makeDeps(c);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`node_modules is a symlink to ${c.shared}`);
    expect(r.stderr).toContain('rm node_modules');
    expect(r.stderr).not.toMatch(/bashrc|was read/);
    expect(existsSync(c.npmLog)).toBe(false);
    expect(existsSync(path.join(c.shared, 'marker'))).toBe(true);
  });

  it.each([
    ['a Node process (no SHLVL)', undefined],
    ['a shell (SHLVL 1)', '1'],
  ])(
    'runs npm ci when node_modules is a directory of its own and out of date, make started by %s, reading no shell start-up file',
    async (_by, shlvl) => {
      const c = checkout(false, shlvl);
      const r = await makeDeps(c);
      expect(r).toEqual({ code: 0, stderr: '' });
      expect(existsSync(c.npmLog)).toBe(true);
    },
  );
});
