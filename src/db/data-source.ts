/**
 * The TypeORM DataSource for either dialect. MySQL/MariaDB (through mysql2)
 * in production; SQLite (better-sqlite3 12) as the embedded default.
 * `synchronize` is never set: the schema comes from migrations/ only.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { DataSource, MigrationExecutor, type DataSourceOptions } from 'typeorm';
import { MIGRATIONS } from '../../migrations';
import type { Config } from '../config';
import { ENTITIES } from '../entities';
import { isolateSqliteTransactions } from './sqlite-turns';
import { keepBuiltStatements } from './statements';

export type DatabaseConfig = Config['database'];

export function dataSourceOptions(db: DatabaseConfig, flavor: 'mysql' | 'mariadb' = 'mysql'): DataSourceOptions {
  const common = {
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTableName: 'migrations',
    synchronize: false,
    logging: false,
  } as const;
  if (db.kind === 'mysql') {
    return {
      ...common,
      // TypeORM reads MariaDB's catalog differently from MySQL's (column
      // defaults, for one), so the flavour must match the server: openDatabase detects it.
      type: flavor,
      url: db.url,
      // Store and read DATETIME values as UTC, whatever the server's time zone.
      timezone: 'Z',
      charset: 'utf8mb4_unicode_ci',
      // maxPreparedStatements: mysql2 gives each pooled connection an LRU of 16,000 prepared statements, ~0.5 MB
      // allocated up front (lru.min's arrays), which TypeORM never uses (it sends text queries): 10 MB of heap with 20
      // connections. 0 would mean the default; 1 is the least. (maxIdle is left at connectionLimit: below it, mysql2
      // re-arms a one-second timer that is not unref'd for as long as the pool lives.)
      extra: { connectionLimit: 20, maxPreparedStatements: 1 },
      // DATABASE_TLS / DATABASE_CA_FILE: encrypted, and the server's certificate verified (never rejectUnauthorized:
      // false).
      // verifyIdentity: the certificate must also name the host connected to (mysql2 checks only the chain without it).
      ...(db.tls
        ? {
            ssl: {
              rejectUnauthorized: true,
              verifyIdentity: true,
              ...(db.tls.caFile ? { ca: readFileSync(db.tls.caFile, 'utf8') } : {}),
            },
          }
        : {}),
    };
  }
  if (db.path !== ':memory:') mkdirSync(dirname(db.path), { recursive: true });
  return {
    ...common,
    type: 'better-sqlite3',
    database: db.path,
    // WAL lets readers and a writer work at once; busy waits instead of SQLITE_BUSY.
    enableWAL: db.path !== ':memory:',
    timeout: 5000,
  };
}

/**
 * Every `text` column of the entities is MEDIUMTEXT (16 MiB) on MySQL/MariaDB, where TEXT holds only 64 KB: Google
 * keeps notes, descriptions and whole people or events larger than that, and a copy that does not fit failed the sync
 * of its page for good (migration LargeValues1764210000000). SQLite's TEXT has no such limit, and TypeORM has no
 * type name both dialects accept, so the entities say `text` and MySQL's metadata is widened here, once it is built:
 * the schema check (test/db/migrations.test.ts) and the TypeORM CLI see the same types as the migrations create.
 */
class EngageDataSource extends DataSource {
  protected override async buildMetadatas(): Promise<void> {
    await super.buildMetadatas();
    if (this.options.type !== 'mysql' && this.options.type !== 'mariadb') return;
    for (const meta of this.entityMetadatas) {
      for (const column of meta.columns) if (column.type === 'text') column.type = 'mediumtext';
    }
  }
}

export function createDataSource(db: DatabaseConfig, flavor: 'mysql' | 'mariadb' = 'mysql'): DataSource {
  return new EngageDataSource(dataSourceOptions(db, flavor));
}

/**
 * Opens the database and applies pending migrations (at every start, on both dialects). On SQLite, transactions and
 * statements of concurrent requests then take turns on the one connection typeorm gives a DataSource (sqlite-turns.ts).
 */
export async function openDatabase(db: DatabaseConfig): Promise<DataSource> {
  keepBuiltStatements();
  let ds = createDataSource(db);
  await ds.initialize();
  isolateSqliteTransactions(ds);
  if (db.kind === 'mysql') {
    const [{ version }] = (await ds.query('SELECT VERSION() AS version')) as { version: string }[];
    if (/mariadb/i.test(version)) {
      await ds.destroy();
      ds = createDataSource(db, 'mariadb');
      await ds.initialize();
    }
  }
  try {
    await migrate(ds);
  } catch (err) {
    await ds.destroy();
    throw err;
  }
  return ds;
}

/** How long a process waits for another one's migrations before it gives up starting. */
export const MIGRATION_LOCK_SECONDS = 600;
const LOCK_NAME = "CONCAT('engage_migrations_', SHA1(DATABASE()))";

/**
 * Applies pending migrations. On MySQL/MariaDB one process at a time, under a named lock held on its own connection
 * (GET_LOCK): replicas starting together on a new database otherwise ran the same migration at once, and all but one
 * failed their start-up ("Table 'migrations' already exists"). The later ones then find nothing to do. SQLite is one
 * process's file.
 */
async function migrate(ds: DataSource): Promise<void> {
  if (ds.options.type !== 'mysql' && ds.options.type !== 'mariadb') {
    await ds.runMigrations({ transaction: 'each' });
    return;
  }
  const lock = ds.createQueryRunner();
  await lock.connect();
  try {
    // One lock per database (not per server: staging and production may share one), within MySQL's 64 characters.
    const [{ got }] = (await lock.query(`SELECT GET_LOCK(${LOCK_NAME}, ?) AS got`, [MIGRATION_LOCK_SECONDS])) as {
      got: number | string | null;
    }[];
    if (Number(got) !== 1)
      throw new Error(
        `another process has been applying migrations for ${MIGRATION_LOCK_SECONDS} s; not starting on a schema that may be half-migrated`,
      );
    try {
      // On the lock's own connection: should it drop, the lock goes with it, and so does this run (another process
      // may then take over), never two runs at once.
      const executor = new MigrationExecutor(ds, lock);
      executor.transaction = 'each';
      await executor.executePendingMigrations();
    } finally {
      await lock.query(`SELECT RELEASE_LOCK(${LOCK_NAME})`).catch(() => undefined);
    }
  } finally {
    await lock.release();
  }
}
