/**
 * `node dist/src/cli/migrate.js` (the Kubernetes migrations Job; `npm run migrate` here): applies pending migrations
 * under the same MySQL named lock as every replica's start-up (db/data-source.ts), so a Job and replicas starting
 * meanwhile never run one migration twice. Reads only the database settings (DATABASE_URL, DATABASE_TLS, …).
 */
import 'reflect-metadata';
import { ConfigError, loadDatabaseConfig } from '../config';
import { openDatabase } from '../db/data-source';

async function main() {
  const db = loadDatabaseConfig();
  if (db.kind === 'sqlite' && process.env.NODE_ENV === 'production')
    throw new Error(
      'DATABASE_URL is not set: in production this would migrate a local SQLite file, not the database the gateway uses',
    );
  const ds = await openDatabase(db);
  const applied = (await ds.query('SELECT COUNT(*) AS n FROM migrations')) as { n: number | string }[];
  await ds.destroy();
  process.stdout.write(`migrations: up to date (${Number(applied[0].n)} applied)\n`);
}

main().catch((err) => {
  process.stderr.write(`migrate: ${err instanceof ConfigError ? err.message : (err as Error).message}\n`);
  process.exit(1);
});
