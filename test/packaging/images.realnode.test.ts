// `make images` on a Docker without BuildKit (Debian's docker.io): the legacy builder keeps every
// stage before the last as an untagged image (~600 MB for a build stage with dev dependencies)
// and a rebuild leaves the previous ones dangling; nothing removed them. Here hack/images.sh
// rebuilds from a copy of the sources with one changed line (so the build stages really run
// again, as after an edit), and must leave no new dangling image, and none of the dangling images
// it did not make removed.
import { jest } from '@jest/globals';
import { execFile } from 'node:child_process';
import { appendFileSync, cpSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../../hack/stack/tools.js';
import { testScratchDir } from '../scratch.js';

jest.setTimeout(900_000);
const run = promisify(execFile);

async function docker(...args: string[]): Promise<string> {
  return (await run('docker', args, { maxBuffer: 16 << 20 })).stdout.trim();
}

async function danglingImages(): Promise<string[]> {
  return (await docker('images', '--quiet', '--no-trunc', '--filter', 'dangling=true'))
    .split('\n')
    .filter(Boolean);
}

/** An untagged image nobody's build made: an empty filesystem imported without a name. */
async function foreignDanglingImage(change: string[]): Promise<string> {
  const { stdout } = await run('sh', [
    '-c',
    'tar -cf - --files-from /dev/null | docker import "$@" -',
    'sh',
    ...change.flatMap((c) => ['--change', c]),
  ]);
  return stdout.trim();
}

test('make images after an edit leaves no dangling image of its own and keeps the dangling images it did not make', async () => {
  const copy = testScratchDir('jetscale-images-');
  for (const item of [
    'package.json',
    'package-lock.json',
    'tsconfig.json',
    'tsconfig.build.json',
    '.dockerignore',
    'operator/Dockerfile',
    'operator/src',
    'workloads',
    'hack/images.sh',
    'hack/base-image.sh',
    'hack/versions.env',
  ])
    cpSync(path.join(repoRoot, item), path.join(copy, item), { recursive: true });
  const marker = `images test ${process.pid} ${Date.now()}`;
  for (const source of ['operator/src/main.ts', 'workloads/src/gateway/main.ts'])
    appendFileSync(path.join(copy, source), `// ${marker}\n`);

  const labelled = await foreignDanglingImage(['LABEL org.example.made-by=someone-else']);
  const bare = await foreignDanglingImage([]);
  const tag = `dangling-check-${process.pid}`;
  try {
    const before = await danglingImages();
    expect(before).toEqual(expect.arrayContaining([labelled, bare]));

    const { stderr } = await run('bash', [path.join(copy, 'hack', 'images.sh'), tag], {
      maxBuffer: 64 << 20,
    });
    // The builds' own output went to reports/images/, one file per build, not into the log.
    expect(stderr).not.toMatch(/^Step \d+\/\d+ :|^#\d+ /m);
    for (const image of ['operator', 'workloads']) {
      expect(stderr).toContain(`(output in reports/images/${image}.log)`);
      expect(readFileSync(path.join(copy, 'reports', 'images', `${image}.log`), 'utf8')).toContain(
        `jetscale/${image}:${tag}`,
      );
    }

    const after = await danglingImages();
    const made = after.filter((id) => !before.includes(id));
    const sizes = await Promise.all(
      made.map((id) => docker('image', 'inspect', '--format', '{{.Id}} {{.Size}}', id)),
    );
    expect(sizes).toEqual([]);
    expect(after).toEqual(expect.arrayContaining([labelled, bare]));
    // The stages stay as the cache of the next build, under names of their own.
    for (const image of ['operator', 'workloads'])
      expect(
        await docker(
          'image',
          'inspect',
          '--format',
          '{{index .Config.Labels "io.jetscale.stage"}}',
          `jetscale/${image}-stage:build`,
        ),
      ).toBe('build');
  } finally {
    await docker('rmi', `jetscale/operator:${tag}`, `jetscale/workloads:${tag}`).catch(() => '');
    await docker('rmi', labelled, bare).catch(() => '');
  }
});
