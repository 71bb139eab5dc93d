/**
 * Runs a DB suite once per database: SQLite (in memory) and the MariaDB server
 * the global setup started. Each suite gets its own fresh database with every
 * migration applied. Without MariaDB (outside CI) the MariaDB copy is skipped
 * under a "[mariadb]" title, which summary-reporter.js lists loudly.
 */
import { randomBytes } from 'node:crypto';
import * as mysql from 'mysql2/promise';
import type { DataSource } from 'typeorm';
import { openDatabase, type DatabaseConfig } from '../../src/db/data-source';

export type Dialect = 'sqlite' | 'mariadb';

const clearHooks = new WeakMap<DataSource, Set<() => void>>();

/**
 * Runs `forget` whenever the database's rows are cleared (TestDb.clear): a gateway on it forgets what it remembers of
 * rows (callers, sync times), which the product only ever sees move forward. Returns the unsubscribe.
 */
export function onClear(ds: DataSource, forget: () => void): () => void {
  let hooks = clearHooks.get(ds);
  if (!hooks) clearHooks.set(ds, (hooks = new Set()));
  hooks.add(forget);
  return () => hooks.delete(forget);
}

export interface TestDb {
  dialect: Dialect;
  config: DatabaseConfig;
  ds: DataSource;
  /** Deletes every row of every table (children first), keeping the schema. */
  clear(): Promise<void>;
}

export function mariaDbAvailable(): boolean {
  return Boolean(process.env.TEST_MARIADB_URL);
}

/** A fresh, migrated database of the given dialect. */
export async function createTestDb(dialect: Dialect): Promise<TestDb & { drop(): Promise<void> }> {
  let config: DatabaseConfig;
  let dropDatabase = async () => {};
  if (dialect === 'sqlite') {
    config = { kind: 'sqlite', path: ':memory:' };
  } else {
    const root = process.env.TEST_MARIADB_URL;
    if (!root) throw new Error('MariaDB is not available (TEST_MARIADB_URL is empty)');
    const name = `t_${process.env.JEST_WORKER_ID ?? '0'}_${randomBytes(4).toString('hex')}`;
    const admin = await mysql.createConnection(root);
    await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    await admin.end();
    config = { kind: 'mysql', url: `${root}${name}` };
    dropDatabase = async () => {
      const c = await mysql.createConnection(root);
      await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await c.end();
    };
  }
  const ds = await openDatabase(config);
  const tables = ds.entityMetadatas.map((m) => m.tableName);
  return {
    dialect,
    config,
    ds,
    async clear() {
      // Children before parents: reverse of the order entities were registered.
      for (const t of [...tables].reverse()) await ds.query(`DELETE FROM ${ds.driver.escape(t)}`);
      for (const forget of clearHooks.get(ds) ?? []) forget();
    },
    async drop() {
      if (ds.isInitialized) await ds.destroy();
      await dropDatabase();
    },
  };
}

/**
 * `describeEachDb('contacts', (db) => { test(...) })`: the body runs once per
 * dialect; `db()` returns that dialect's TestDb inside hooks and tests.
 */
export function describeEachDb(title: string, body: (db: () => TestDb) => void): void {
  for (const dialect of ['sqlite', 'mariadb'] as const) {
    const skip = dialect === 'mariadb' && !mariaDbAvailable();
    const label = `[${dialect}] ${title}`;
    (skip ? describe.skip : describe)(label, () => {
      let current: (TestDb & { drop(): Promise<void> }) | undefined;
      beforeAll(async () => {
        current = await createTestDb(dialect);
      });
      body(() => {
        if (!current) throw new Error(`${label}: the database is not open yet (use db() inside hooks or tests)`);
        return current;
      });
      // Declared after the body's hooks: jest runs afterAll hooks in declaration order, and the
      // body's own teardown (closing a gateway, say) still needs the database.
      afterAll(async () => {
        await current?.drop();
      });
    });
  }
}
