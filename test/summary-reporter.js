// Prints one plain closing line per jest run ("jest: N passed, N failed, N skipped") so CI logs and
// people can read the outcome at a glance, whichever project ran.
export default class SummaryReporter {
  onRunComplete(_contexts, results) {
    const { numPassedTests, numFailedTests, numPendingTests, numTodoTests, numRuntimeErrorTestSuites } =
      results;
    const failed = numFailedTests + numRuntimeErrorTestSuites;
    console.log(
      `\njest: ${numPassedTests} passed, ${failed} failed, ${numPendingTests + numTodoTests} skipped`,
    );
  }
}
