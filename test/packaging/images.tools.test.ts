// What `make images` relies on, checked without Docker: both Dockerfiles take their base from
// ARG BASE_IMAGE (default: the public image users pull) in every stage, the offline stand-in
// (hack/base-image.sh) is pinned to the same Node.js major, the build context leaves out what a
// checkout accumulates but keeps everything the Dockerfiles COPY, and the scripts are
// ShellCheck-clean. The images themselves are built and run by the real-node drill.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pinnedVersions, toolPath } from '../../hack/stack/tools.js';
import { repoRoot, run } from './support.js';

const dockerfiles = ['operator/Dockerfile', 'workloads/Dockerfile'];
const read = (file: string): string => readFileSync(path.join(repoRoot, file), 'utf8');
const instructions = (file: string): string[] =>
  read(file)
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));

/** .dockerignore patterns (no negations here), matched as Docker does for these simple forms. */
function ignored(patterns: string[], file: string): boolean {
  return patterns.some((p) => {
    const plain = p.replace(/^\*\*\//, '');
    const parts = file.split('/');
    if (p.startsWith('**/')) return parts.includes(plain);
    if (p.startsWith('*.')) return file.endsWith(p.slice(1));
    return file === p || file.startsWith(`${p}/`);
  });
}

describe('images (make images)', () => {
  it.each(dockerfiles)(
    '%s builds every stage FROM ${BASE_IMAGE}, whose default is node:<major>-slim',
    (file) => {
      const lines = instructions(file);
      const firstFrom = lines.findIndex((l) => /^FROM /i.test(l));
      const arg = lines.slice(0, firstFrom).find((l) => l.startsWith('ARG BASE_IMAGE='));
      expect(arg).toMatch(/^ARG BASE_IMAGE=node:\d+-slim$/);
      const froms = lines.filter((l) => /^FROM /i.test(l));
      expect(froms.length).toBeGreaterThanOrEqual(2);
      for (const from of froms) expect(from).toMatch(/^FROM \$\{BASE_IMAGE\}( AS \S+)?$/);
    },
  );

  it('pins the offline base to the Node.js major the Dockerfiles use', () => {
    const pins = pinnedVersions();
    for (const key of ['BASE_DEBIAN_SUITE', 'BASE_DEBIAN_MIRROR', 'BASE_NODE_VERSION', 'BASE_NPM_VERSION'])
      expect(pins[key]).toBeDefined();
    for (const file of dockerfiles) {
      const major = /^ARG BASE_IMAGE=node:(\d+)-slim$/m.exec(read(file))?.[1];
      expect(`${file}: node ${major}`).toBe(`${file}: node ${pins.BASE_NODE_VERSION?.split('.')[0]}`);
    }
  });

  it('keeps the build context to the sources: no .tools, node_modules, reports, .dev, dist', () => {
    const patterns = instructions('.dockerignore');
    expect(patterns.some((p) => p.startsWith('!'))).toBe(false); // ignored() handles no negations
    for (const junk of [
      '.tools/bin/kubectl',
      'node_modules/zod/index.js',
      'workloads/node_modules/x',
      'reports/a.html',
      '.dev/env',
      'dist/operator/src/main.js',
      '.git/HEAD',
    ])
      expect(`${junk}: ${ignored(patterns, junk)}`).toBe(`${junk}: true`);
    for (const file of dockerfiles) {
      for (const line of instructions(file)) {
        const copy = /^COPY (?!--from)(.+)$/.exec(line)?.[1];
        if (!copy) continue;
        for (const src of copy.split(/\s+/).slice(0, -1))
          expect(`${file} COPY ${src}: ${ignored(patterns, src)}`).toBe(`${file} COPY ${src}: false`);
      }
    }
  });

  it('has ShellCheck-clean build scripts in strict mode', async () => {
    const scripts = ['hack/images.sh', 'hack/base-image.sh'].map((s) => path.join(repoRoot, s));
    const r = await run(toolPath('shellcheck'), ['-x', ...scripts], { cwd: repoRoot });
    expect({ code: r.code, out: r.stdout + r.stderr }).toEqual({ code: 0, out: '' });
    for (const s of scripts) expect(readFileSync(s, 'utf8')).toMatch(/^set -euo pipefail$/m);
  });
});
