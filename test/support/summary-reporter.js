// Closing lines of a jest run:
// 1. a loud notice naming every DB suite that did not run on MariaDB (because
//    mariadbd is not installed on this machine), with the one install command;
// 2. a plain "N passed, N failed, N skipped" line that CI tooling reads.
'use strict';

const INSTALL = 'apt-get update && apt-get install -y mariadb-server';

class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skippedMaria = new Set();
    for (const file of results.testResults) {
      for (const t of file.testResults) {
        if (t.status === 'pending' && t.ancestorTitles.some((a) => a.startsWith('[mariadb]'))) {
          skippedMaria.add(
            `${file.testFilePath.replace(process.cwd() + '/', '')} › ${t.ancestorTitles.find((a) => a.startsWith('[mariadb]'))}`,
          );
        }
      }
    }
    const out = [];
    // Skipped because MariaDB is missing, not because of a -t filter: the global setup left the URL empty.
    if (skippedMaria.size > 0 && !process.env.TEST_MARIADB_URL) {
      const bar = '!'.repeat(78);
      out.push('', bar, `!! ${skippedMaria.size} DB suite(s) did NOT run on MariaDB: mariadbd is not installed here.`);
      for (const s of skippedMaria) out.push(`!!   - ${s}`);
      out.push(`!! Install MariaDB with:  ${INSTALL}`, '!! (On CI, CI=true, a missing MariaDB fails the run.)', bar);
    }
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    out.push(
      '',
      `jest: ${results.numPassedTests} passed, ${failed} failed, ${results.numPendingTests + results.numTodoTests} skipped`,
    );
    process.stdout.write(out.join('\n') + '\n');
  }
}

module.exports = SummaryReporter;
