// The operator as its container runs it: the compiled entry point in dist/ (`npm run build`; `make
// test` builds before the integration tests). It starts in a second or two, where running the
// sources through tsx compiles them first — tens of seconds on a loaded 2-core machine, which
// tests then had to wait out. A missing or stale build is refused with what to run, so a test
// never runs old code by accident.
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../hack/stack/tools.js';

const sources = path.join(repoRoot, 'operator', 'src');
const compiled = path.join(repoRoot, 'dist', 'operator', 'src');

/** The operator's sources (not tests) whose compiled file is missing or older than the source. */
export function staleOutputs(): string[] {
  const stale: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'test') walk(file);
        continue;
      }
      if (!entry.name.endsWith('.ts') || entry.name.endsWith('.test.ts')) continue;
      const out = path.join(compiled, path.relative(sources, file)).replace(/\.ts$/, '.js');
      if (!existsSync(out) || statSync(out).mtimeMs < statSync(file).mtimeMs)
        stale.push(path.relative(repoRoot, file));
    }
  };
  walk(sources);
  return stale;
}

/** dist/operator/src/main.js, checked to be built from the current sources. */
export function compiledOperatorEntry(): string {
  const entry = path.join(compiled, 'main.js');
  if (!existsSync(entry))
    throw new Error(`${path.relative(repoRoot, entry)} does not exist: run \`npm run build\` first`);
  const stale = staleOutputs();
  if (stale.length > 0)
    throw new Error(
      `dist/ is older than ${stale.slice(0, 3).join(', ')}${stale.length > 3 ? ` and ${stale.length - 3} more` : ''}: run \`npm run build\` first`,
    );
  return entry;
}
