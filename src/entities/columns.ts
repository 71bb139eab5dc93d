/**
 * Column shapes shared by every entity, so the entities and the migrations
 * (which must run unchanged on MySQL/MariaDB and SQLite) agree on one type per
 * kind of value. Timestamps are set by the application (UTC, millisecond
 * precision), not by database defaults, which differ between the dialects.
 */
import type { ColumnOptions } from 'typeorm';

const ID_LENGTH = 36; // a UUID
export const EMAIL_LENGTH = 320; // RFC 3696 erratum: 64 + 1 + 255
export const DOMAIN_LENGTH = 253;

export const idColumn = { type: 'varchar', length: ID_LENGTH } as const satisfies ColumnOptions;
export const timestampColumn = { type: 'datetime', precision: 3 } as const satisfies ColumnOptions;
export const nullableTimestampColumn = { ...timestampColumn, nullable: true } as const satisfies ColumnOptions;
