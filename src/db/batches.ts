/**
 * Multi-row inserts cut to fit one statement: at most `maxRows` rows and `MAX_STATEMENT_BYTES` of values. MySQL
 * refuses a statement over its `max_allowed_packet` (16 MiB by default on MariaDB, 64 MiB on MySQL 8): 200 Google
 * contacts with 100 KB notes, inserted 200 at a time, made 40 MB and failed their sync page on every attempt.
 */
const MAX_STATEMENT_BYTES = 4 * 1024 * 1024;

export function* batches<T extends object>(
  rows: readonly T[],
  maxRows: number,
  maxBytes = MAX_STATEMENT_BYTES,
): Generator<T[]> {
  let batch: T[] = [];
  let bytes = 0;
  for (const row of rows) {
    const size = rowBytes(row);
    if (batch.length > 0 && (batch.length >= maxRows || bytes + size > maxBytes)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(row);
    bytes += size;
  }
  if (batch.length > 0) yield batch;
}

/**
 * What a row adds to the statement, at most: its string values' UTF-8 bytes twice over (the driver escapes quotes and
 * backslashes, which JSON is full of), plus a little for each other value and the SQL around it.
 */
function rowBytes(row: object): number {
  let n = 0;
  for (const v of Object.values(row)) n += typeof v === 'string' ? 2 * Buffer.byteLength(v) + 8 : 32;
  return n;
}
