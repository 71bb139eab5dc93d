import type { QueryRunner } from 'typeorm';
import type { TableColumnOptions } from 'typeorm/schema-builder/options/TableColumnOptions';

// Column shapes for dialect-neutral migrations (TypeORM's Table API), matching src/entities/columns.ts.
export const id = (name: string, nullable = false): TableColumnOptions => ({
  name,
  type: 'varchar',
  length: '36',
  isNullable: nullable,
});
export const str = (name: string, length: number, nullable = false): TableColumnOptions => ({
  name,
  type: 'varchar',
  length: String(length),
  isNullable: nullable,
});
export const text = (name: string, nullable = false): TableColumnOptions => ({
  name,
  type: 'text',
  isNullable: nullable,
});
export const ts = (name: string, nullable = false): TableColumnOptions => ({
  name,
  type: 'datetime',
  precision: 3,
  isNullable: nullable,
});
export const int = (name: string): TableColumnOptions => ({ name, type: 'integer' });
export const pk = (c: TableColumnOptions): TableColumnOptions => ({ ...c, isPrimary: true });
export const serial = (name: string): TableColumnOptions => ({
  name,
  type: 'integer',
  isPrimary: true,
  isGenerated: true,
  generationStrategy: 'increment',
});

/** True on MySQL/MariaDB (the production dialect), false on SQLite. */
export function isMysql(q: QueryRunner): boolean {
  return q.connection.options.type === 'mysql' || q.connection.options.type === 'mariadb';
}

/** On MySQL/MariaDB, whatever the server's default: store text as full UTF-8 (names like "Zoë", emoji). */
export async function useUtf8mb4(q: QueryRunner, tables: string[]): Promise<void> {
  if (!isMysql(q)) return;
  for (const t of tables)
    await q.query(`ALTER TABLE \`${t}\` CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
}

/**
 * SQLite: typeorm changes a column by rebuilding the table, and the new calendar_change's AUTOINCREMENT counter
 * starts again from its highest remaining row. Rows the retention deleted at the top would then have their positions
 * handed out again, below cursors clients hold, and those clients would skip the new changes. The counter is put back.
 */
export async function keepingSequence(q: QueryRunner, rebuild: () => Promise<unknown>): Promise<void> {
  const before: { seq: number }[] = await q.query("SELECT seq FROM sqlite_sequence WHERE name = 'calendar_change'");
  await rebuild();
  if (!before.length) return;
  const after: { seq: number }[] = await q.query("SELECT seq FROM sqlite_sequence WHERE name = 'calendar_change'");
  if (after.length)
    await q.query("UPDATE sqlite_sequence SET seq = ? WHERE name = 'calendar_change' AND seq < ?", [
      before[0].seq,
      before[0].seq,
    ]);
  else await q.query("INSERT INTO sqlite_sequence (name, seq) VALUES ('calendar_change', ?)", [before[0].seq]);
}
