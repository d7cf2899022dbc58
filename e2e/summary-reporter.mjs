// Prints one closing line "e2e: N passed, N failed, N skipped" after the run.
// A test marked test.fail() that fails as expected counts as passed, as in
// Playwright's own summary.
export default class SummaryReporter {
  constructor() {
    this.outcomes = new Map();
  }
  onTestEnd(test) {
    this.outcomes.set(test.id, test.outcome());
  }
  onEnd() {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const o of this.outcomes.values()) {
      if (o === 'expected' || o === 'flaky') passed++;
      else if (o === 'skipped') skipped++;
      else failed++;
    }
    console.log(`e2e: ${passed} passed, ${failed} failed, ${skipped} skipped`);
  }
  printsToStdio() {
    return false;
  }
}
