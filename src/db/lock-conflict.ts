/**
 * MariaDB/MySQL gave up a transaction to a lock conflict: a deadlock (1213), which InnoDB resolves by rolling one
 * transaction back, or a lock wait timeout (1205). Both are to be retried: "always be prepared to re-issue a
 * transaction if it fails due to deadlock" (https://dev.mysql.com/doc/refman/8.0/en/innodb-deadlocks-handling.html).
 * Concurrent first syncs of many agents deadlocked on the gap locks of the contact table's indexes (npm run bench --
 * scale: 20 at a time).
 */
export function isLockConflict(err: unknown): boolean {
  const e = err as { driverError?: { errno?: number; code?: string }; errno?: number; code?: string } | undefined;
  const d = e?.driverError ?? e;
  return d?.errno === 1213 || d?.errno === 1205 || d?.code === 'ER_LOCK_DEADLOCK' || d?.code === 'ER_LOCK_WAIT_TIMEOUT';
}
