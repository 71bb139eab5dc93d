/**
 * Starts the one MariaDB server the whole test run shares (each DB suite makes
 * its own database in it). Without MariaDB: a failure on CI, a loud notice
 * elsewhere (printed by summary-reporter.js), and the SQLite suites still run.
 */
import { findMariadbd, startMariaDb, MARIADB_INSTALL_HINT } from './mariadb';

export default async function globalSetup(): Promise<void> {
  if (process.env.TEST_MARIADB_URL) return; // an externally managed server
  const mariadbd = findMariadbd();
  if (!mariadbd) {
    if (process.env.CI === 'true') {
      throw new Error(
        `MariaDB is required on CI (CI=true) but mariadbd was not found. Install it with: ${MARIADB_INSTALL_HINT}`,
      );
    }
    process.env.TEST_MARIADB_URL = '';
    return;
  }
  const instance = await startMariaDb(mariadbd);
  process.env.TEST_MARIADB_URL = instance.url;
  (globalThis as Record<string, unknown>).__ENGAGE_MARIADB__ = instance;
}
