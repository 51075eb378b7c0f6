// Scratch directories for tests (hack/stack/scratch-dir.ts), removed after the last test of the
// file that made them: importing this module registers one afterAll per test file (jest evaluates
// it once per file), so a test or a helper may ask for a directory anywhere, even inside a test.
// Imported outside jest (a test helper run by a child process), they go when the process exits.
import { makeScratchDir, type ScratchDir } from '../hack/stack/scratch-dir.js';

const made: ScratchDir[] = [];
const removeAll = (): void => {
  for (const scratch of made.splice(0)) scratch.remove();
};

if (typeof afterAll === 'function') afterAll(removeAll);
else process.once('exit', removeAll);

/** A fresh /tmp/<prefix>XXXXXX, removed after this test file's last test. */
export function testScratchDir(prefix: string): string {
  const scratch = makeScratchDir(prefix);
  made.push(scratch);
  return scratch.dir;
}
