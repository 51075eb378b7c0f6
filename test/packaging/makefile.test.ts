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
function checkout(linked: boolean): { dir: string; shared: string; npmLog: string; env: NodeJS.ProcessEnv } {
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
  return { dir: repo, shared, npmLog, env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` } };
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
    expect(existsSync(c.npmLog)).toBe(false);
    expect(existsSync(path.join(c.shared, 'marker'))).toBe(true);
  });

  it('runs npm ci when node_modules is a directory of its own and out of date', async () => {
    const c = checkout(false);
    const r = await makeDeps(c);
    expect(r).toEqual({ code: 0, stderr: '' });
    expect(existsSync(c.npmLog)).toBe(true);
  });
});
