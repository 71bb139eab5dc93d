import type { TableColumnOptions } from 'typeorm/schema-builder/options/TableColumnOptions';

// Column shapes for dialect-neutral migrations (TypeORM's Table API), matching src/entities/columns.ts.
export const id = (name: string, nullable = false): TableColumnOptions => ({ name, type: 'varchar', length: '36', isNullable: nullable });
export const str = (name: string, length: number, nullable = false): TableColumnOptions => ({ name, type: 'varchar', length: String(length), isNullable: nullable });
export const text = (name: string, nullable = false): TableColumnOptions => ({ name, type: 'text', isNullable: nullable });
export const ts = (name: string, nullable = false): TableColumnOptions => ({ name, type: 'datetime', precision: 3, isNullable: nullable });
export const int = (name: string): TableColumnOptions => ({ name, type: 'integer' });
export const pk = (c: TableColumnOptions): TableColumnOptions => ({ ...c, isPrimary: true });
export const serial = (name: string): TableColumnOptions => ({ name, type: 'integer', isPrimary: true, isGenerated: true, generationStrategy: 'increment' });
