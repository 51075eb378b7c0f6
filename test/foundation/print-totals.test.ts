// make test's closing count (test/print-totals.js): the sum over its jest runs, and a non-zero exit
// whenever that sum could mislead (a failed test, no runs recorded, an unreadable file).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot } from '../../hack/stack/tools.js';

const script = path.join(repoRoot, 'test', 'print-totals.js');
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'jetscale-totals-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(lines: string[] | undefined): { code: number; out: string } {
  const file = path.join(dir, `t-${Math.random().toString(36).slice(2)}.jsonl`);
  if (lines) writeFileSync(file, lines.map((l) => `${l}\n`).join(''));
  try {
    return {
      code: 0,
      out: execFileSync(process.execPath, [script, file], { encoding: 'utf8', stdio: 'pipe' }),
    };
  } catch (err) {
    const e = err as { status: number; stdout: string; stderr: string };
    return { code: e.status, out: e.stdout + e.stderr };
  }
}

const line = (projects: string[], passed: number, failed = 0, skipped = 0) =>
  JSON.stringify({ projects, passed, failed, skipped, suites: 1 });

test('sums every run and names each', () => {
  const r = run([line(['unit', 'tools'], 1646), line(['integration'], 428), line(['real-node'], 18)]);
  expect(r.code).toBe(0);
  expect(r.out).toContain(
    'make test: 2092 tests passed, 0 failed, 0 skipped in 3 jest runs (unit+tools 1646/1646, integration 428/428, real-node 18/18)',
  );
  // The last line is the plain form, alone on its line, and the only count in the plain form.
  expect(r.out.trimEnd().split('\n').at(-1)).toBe('tests: 2092 passed, 0 failed, 0 skipped');
  expect(
    r.out.split('\n').filter((l) => /passed, \d+ failed/.test(l) && !l.startsWith('make test:')),
  ).toEqual(['tests: 2092 passed, 0 failed, 0 skipped']);
  expect(r.out).not.toMatch(/^Tests:/m);
});

test('a failed test makes the total fail and is counted first', () => {
  const r = run([line(['unit'], 10), line(['integration'], 5, 2, 1)]);
  expect(r.code).toBe(1);
  expect(r.out).toContain('make test: 15 tests passed, 2 failed, 1 skipped in 2 jest runs');
  expect(r.out.trimEnd().split('\n').at(-1)).toBe('tests: 15 passed, 2 failed, 1 skipped');
});

test('no runs recorded, or no file, is not a pass', () => {
  const none = run([]);
  expect(none.code).toBe(1);
  expect(none.out).toContain('no jest run recorded its counts');
  const missing = run(undefined);
  expect(missing.code).toBe(1);
  expect(missing.out).toContain('make test: no test totals');
});
