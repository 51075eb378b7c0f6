// Prints one plain closing line per jest run ("jest: N passed, N failed, N skipped") so CI logs and
// people can read the outcome at a glance, whichever project ran. With JETSCALE_TEST_TOTALS set (make
// test sets it), it also appends the run's counts to that file as one JSON line, so make test can
// close with the total over its jest runs (test/print-totals.js).
import { appendFileSync } from 'node:fs';

export default class SummaryReporter {
  onRunComplete(contexts, results) {
    const { numPassedTests, numFailedTests, numPendingTests, numTodoTests, numRuntimeErrorTestSuites } =
      results;
    const failed = numFailedTests + numRuntimeErrorTestSuites;
    const skipped = numPendingTests + numTodoTests;
    console.log(`\njest: ${numPassedTests} passed, ${failed} failed, ${skipped} skipped`);
    const totals = process.env.JETSCALE_TEST_TOTALS;
    if (totals) {
      const projects = [
        ...new Set([...contexts].map((c) => c.config.displayName?.name ?? c.config.displayName ?? '?')),
      ];
      appendFileSync(
        totals,
        `${JSON.stringify({ projects, passed: numPassedTests, failed, skipped, suites: results.numTotalTestSuites })}\n`,
      );
    }
  }
}
