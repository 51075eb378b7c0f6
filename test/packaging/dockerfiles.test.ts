// The images `make kind-up` builds cannot be built here (no Docker daemon). What can be proved:
// each Dockerfile's build stage, replayed in a scratch directory holding exactly the files its
// COPY lines name (npm ci replaced by the repository's node_modules), compiles; everything the
// final stage copies from the build stage exists; and the image's entry point starts and answers
// a bad setting with its configuration error, as it would in the container.
import { jest } from '@jest/globals';
import { cpSync, existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { repoRoot, run } from './support.js';
import { testScratchDir } from '../scratch.js';

// Each build stage compiles the whole project (tsc), which takes minutes on a loaded machine (it
// timed out at 180 s in a CI rehearsal at load 20).
jest.setTimeout(600_000);

interface Stage {
  name: string;
  lines: string[];
}

function stages(dockerfile: string): Stage[] {
  const out: Stage[] = [];
  for (const raw of readFileSync(dockerfile, 'utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const from = /^FROM \S+(?: AS (\S+))?$/i.exec(line);
    if (from) out.push({ name: from[1] ?? `stage${out.length}`, lines: [] });
    else out[out.length - 1]?.lines.push(line);
  }
  return out;
}

/** Replays the build stage: COPY from the repository, RUN everything but npm ci. Returns /app. */
async function replayBuildStage(stage: Stage): Promise<string> {
  const app = path.join(testScratchDir('jetscale-image-'), 'app');
  mkdirSync(app, { recursive: true });
  symlinkSync(path.join(repoRoot, 'node_modules'), path.join(app, 'node_modules'));
  for (const line of stage.lines) {
    const copy = /^COPY (.+)$/.exec(line);
    if (copy?.[1]) {
      const parts = copy[1].split(/\s+/);
      const rawDest = parts.pop() ?? '.';
      const dest = path.join(app, rawDest);
      // Docker's rule: into the directory when the destination ends with / or there are several sources.
      const intoDir = rawDest.endsWith('/') || parts.length > 1;
      for (const src of parts) {
        expect({ line, exists: existsSync(path.join(repoRoot, src)) }).toEqual({ line, exists: true });
        const target = intoDir ? path.join(dest, path.basename(src)) : dest;
        cpSync(path.join(repoRoot, src), target, { recursive: true });
      }
      continue;
    }
    const runLine = /^RUN (.+)$/.exec(line)?.[1];
    if (runLine === undefined || /^npm ci\b/.test(runLine)) continue;
    const r = await run('bash', ['-c', runLine], {
      cwd: app,
      env: {
        ...process.env,
        PATH: `${path.join(repoRoot, 'node_modules', '.bin')}:${process.env.PATH ?? ''}`,
      },
      timeoutMs: 580_000,
    });
    expect({ line, code: r.code, out: r.code === 0 ? '' : r.stdout + r.stderr }).toEqual({
      line,
      code: 0,
      out: '',
    });
  }
  return app;
}

describe.each([
  ['operator/Dockerfile', { JETSCALE_METRICS_PORT: 'eighty' }, /JETSCALE_METRICS_PORT/],
  ['workloads/Dockerfile', { PORT: 'eighty' }, /PORT/],
])('%s', (dockerfile, badEnv, complaint) => {
  it('builds, ships what it built, and its entry point starts and validates its settings', async () => {
    const all = stages(path.join(repoRoot, dockerfile));
    const build = all.find((s) => s.name === 'build');
    expect(build).toBeDefined();
    const app = await replayBuildStage(build ?? { name: '', lines: [] });

    const final = all[all.length - 1] ?? { name: '', lines: [] };
    for (const line of final.lines) {
      const m = /^COPY --from=build \/app\/(\S+)/.exec(line);
      if (m?.[1]) expect({ line, exists: existsSync(path.join(app, m[1])) }).toEqual({ line, exists: true });
      expect(line).not.toMatch(/^USER (root|0)(:|$)/);
    }
    expect(final.lines.some((l) => /^USER [1-9][0-9]*:[1-9][0-9]*$/.test(l))).toBe(true);

    // ENTRYPOINT + CMD, exec form, as the container runs them (WORKDIR /app).
    const execForm = (kw: string): string[] => {
      const line = final.lines.find((l) => l.startsWith(`${kw} `));
      return line === undefined ? [] : (JSON.parse(line.slice(kw.length + 1)) as string[]);
    };
    const argv = [...execForm('ENTRYPOINT'), ...execForm('CMD')];
    expect(argv[0]).toBe('node');
    const entry = argv[1] ?? '';
    expect(existsSync(path.join(app, entry))).toBe(true);
    const r = await run(process.execPath, argv.slice(1), {
      cwd: app,
      env: { PATH: process.env.PATH ?? '', ...badEnv },
      timeoutMs: 30_000,
    });
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(complaint);
  });
});
