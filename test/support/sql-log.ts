/**
 * The statements a data source runs while some work runs: how tests count what a request or a sync costs the
 * database, or read a statement back to EXPLAIN it. TypeORM's logger is swapped in for the work and logging turned
 * off after, whatever the work does.
 */
import type { DataSource, Logger as OrmLogger } from 'typeorm';

export interface Statement {
  sql: string;
  params: unknown[];
}

/** What `work` answered, and every statement `ds` ran meanwhile (other flows' too: filter them). */
export async function statementsDuring<T>(
  ds: DataSource,
  work: () => Promise<T>,
): Promise<{ result: T; statements: Statement[] }> {
  const statements: Statement[] = [];
  const logger: OrmLogger = {
    logQuery: (sql, params) => statements.push({ sql, params: (params as unknown[] | undefined) ?? [] }),
    logQueryError: () => {},
    logQuerySlow: () => {},
    logSchemaBuild: () => {},
    logMigration: () => {},
    log: () => {},
  };
  ds.setOptions({ logging: ['query'], logger });
  try {
    const result = await work();
    return { result, statements };
  } finally {
    ds.setOptions({ logging: false });
  }
}
