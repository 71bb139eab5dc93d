import type { QueryRunner } from 'typeorm';
import type { TableColumnOptions } from 'typeorm/schema-builder/options/TableColumnOptions';

// Column shapes for dialect-neutral migrations (TypeORM's Table API), matching src/entities/columns.ts.
export const id = (name: string, nullable = false): TableColumnOptions => ({ name, type: 'varchar', length: '36', isNullable: nullable });
export const str = (name: string, length: number, nullable = false): TableColumnOptions => ({ name, type: 'varchar', length: String(length), isNullable: nullable });
export const text = (name: string, nullable = false): TableColumnOptions => ({ name, type: 'text', isNullable: nullable });
export const ts = (name: string, nullable = false): TableColumnOptions => ({ name, type: 'datetime', precision: 3, isNullable: nullable });
export const int = (name: string): TableColumnOptions => ({ name, type: 'integer' });
export const pk = (c: TableColumnOptions): TableColumnOptions => ({ ...c, isPrimary: true });
export const serial = (name: string): TableColumnOptions => ({ name, type: 'integer', isPrimary: true, isGenerated: true, generationStrategy: 'increment' });

/** True on MySQL/MariaDB (the production dialect), false on SQLite. */
export function isMysql(q: QueryRunner): boolean {
  return q.connection.options.type === 'mysql' || q.connection.options.type === 'mariadb';
}

/** On MySQL/MariaDB, whatever the server's default: store text as full UTF-8 (names like "Zoë", emoji). */
export async function useUtf8mb4(q: QueryRunner, tables: string[]): Promise<void> {
  if (!isMysql(q)) return;
  for (const t of tables) await q.query(`ALTER TABLE \`${t}\` CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
}
