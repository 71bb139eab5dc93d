/**
 * `npm run keys:rewrap`: after putting a new key-encryption key first in
 * KEY_ENCRYPTION_KEYS (keeping the old one listed after it), re-wraps the
 * data key of every key in use with the new KEK (replaced and removed keys
 * are erased, so they are neither re-wrapped nor counted). Once it reports
 * 0 failures, the old KEK can be removed from the configuration.
 */
import 'reflect-metadata';
import { ConfigError, loadConfig } from '../config';
import { Envelope } from '../crypto/envelope';
import { rewrapAllCredentials } from '../crypto/rewrap';
import { openDatabase } from '../db/data-source';

async function main() {
  const config = loadConfig();
  const ds = await openDatabase(config.database);
  try {
    const report = await rewrapAllCredentials(ds, new Envelope(config.keyEncryptionKeys), 'cli:keys:rewrap');
    process.stdout.write(
      `active key-encryption key: ${report.activeKekId}\nre-wrapped: ${report.rewrapped}\nfailed: ${report.failed.length}\n`,
    );
    for (const f of report.failed)
      process.stdout.write(`  credential ${f.credentialId} (brokerage ${f.brokerageId}): ${f.reason}\n`);
    process.exitCode = report.failed.length ? 1 : 0;
  } finally {
    await ds.destroy();
  }
}

main().catch((err) => {
  process.stderr.write(`keys:rewrap: ${err instanceof ConfigError ? err.message : (err as Error).message}\n`);
  process.exit(1);
});
