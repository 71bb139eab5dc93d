/**
 * Whether a failed INSERT/UPDATE broke a unique index (or primary key): two writers raced for the same row. By
 * the message, which both drivers spell plainly: SQLite "UNIQUE constraint failed: …", MySQL/MariaDB
 * "Duplicate entry '…' for key '…'".
 */
export function isUniqueViolation(err: unknown): boolean {
  return /unique|duplicate/i.test((err as Error)?.message ?? '');
}
