// Mocha's spec output, plus the run's counts written as JSON to $BERTRT_MOCHA_STATS (read by run-tests.mjs,
// which prints the combined `N passed, N failed` line that CI understands).
'use strict';
const fs = require('node:fs');
const Mocha = require('mocha');

class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      const s = runner.stats;
      const out = { passed: s.passes, failed: s.failures, skipped: s.pending };
      if (process.env.BERTRT_MOCHA_STATS) fs.writeFileSync(process.env.BERTRT_MOCHA_STATS, JSON.stringify(out));
    });
  }
}

module.exports = SummaryReporter;
