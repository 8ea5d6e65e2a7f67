/**
 * Jest reporter that ends the run with one plain line, `tests: N passed, N failed[, N skipped]`,
 * which CI reads to tell a real run from one that ran nothing.
 */
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    const line = `tests: ${results.numPassedTests} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`;
    // Written at exit so it comes after jest's own summary and stays the closing line.
    process.once('exit', () => process.stdout.write(line));
  }
}
module.exports = SummaryReporter;
