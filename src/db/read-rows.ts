/**
 * Rows for a read-only answer, without TypeORM's entity hydration: the selected columns of `alias`, each converted by
 * the driver as hydration would (dates, booleans, JSON), into plain objects. Hydration (grouping raw rows by primary
 * key, building entity instances, transforming every column of every relation) was a fifth of the CPU of a contacts
 * page (docs/performance.md); a page needs none of it. The statement's text is built once per shape (statements.ts).
 */
import type { ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import { rawRows } from './statements';

export async function readRows<T extends ObjectLiteral, K extends keyof T & string>(
  qb: SelectQueryBuilder<T>,
  alias: string,
  columns: readonly K[],
): Promise<Pick<T, K>[]> {
  const metadata = qb.expressionMap.findAliasByName(alias).metadata;
  const driver = qb.connection.driver;
  const read = columns.map((name) => {
    const column = metadata.findColumnWithPropertyName(name);
    if (!column) throw new Error(`readRows: ${metadata.name} has no column ${name}`);
    return { name, key: `${alias}_${column.databaseName}`, column };
  });
  const raws: Record<string, unknown>[] = await rawRows(qb.select(read.map((r) => `${alias}.${r.name}`)));
  return raws.map((raw) => {
    const row: Record<string, unknown> = {};
    for (const r of read) row[r.name] = driver.prepareHydratedValue(raw[r.key], r.column);
    return row as Pick<T, K>;
  });
}
