// make test's closing line: the tests of all its jest runs together (each run appended its counts to
// the file named by the first argument, see test/summary-reporter.js). Exits 1 when a run failed a
// test or when the file is missing or unreadable, so a closing line never claims what did not run.
import { readFileSync } from 'node:fs';

const file = process.argv[2];
if (!file) {
  console.error('usage: node test/print-totals.js <totals file written by test/summary-reporter.js>');
  process.exit(2);
}
let runs;
try {
  runs = readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line));
} catch (err) {
  console.error(`make test: no test totals (${file}: ${err.message})`);
  process.exit(1);
}
if (runs.length === 0) {
  console.error(`make test: no jest run recorded its counts in ${file}`);
  process.exit(1);
}
const sum = (key) => runs.reduce((n, r) => n + (Number.isInteger(r[key]) ? r[key] : 0), 0);
const passed = sum('passed');
const failed = sum('failed');
const skipped = sum('skipped');
const each = runs.map((r) => `${r.projects.join('+')} ${r.passed}/${r.passed + r.failed}`).join(', ');
console.log(
  `\nmake test: ${passed} tests passed, ${failed} failed, ${skipped} skipped in ${runs.length} jest runs (${each})`,
);
// Last, the plain closing line any CI log reader takes in every language ("N passed, N failed, N
// skipped" alone on a line, one word and a colon before it). No jest-style "Tests: N passed, N
// total" copy of it any more: each jest run prints its own, and a second form of the same count
// is one more line a reader of the log could take for some other runner's.
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 ? 1 : 0);
