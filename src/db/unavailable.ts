/**
 * "The database is not there right now", told apart from every other failure: a refused or dropped connection, a
 * server shutting down or out of connections, SQLite busy past its timeout. A request that meets one is answered
 * SERVICE_UNAVAILABLE (HTTP 503) with retryAfterSeconds, which a client can act on, instead of a masked
 * INTERNAL_SERVER_ERROR; the pool reconnects by itself once the server is back.
 */
import { HeaderMap } from '@apollo/server';
import type { DataSource } from 'typeorm';
import { AppError, ErrorCode } from '../errors';

/** Set on the error of a database call that outlived its deadline (withinDatabaseDeadline). */
const DEADLINE_CODE = 'ENGAGE_DB_DEADLINE';

/**
 * How long a request waits for the database while it identifies the caller, its first query: a server that stops
 * answering (frozen, a network partition) would otherwise hold every request until TCP gives up, minutes later.
 */
const DATABASE_DEADLINE_MS = 5000;

/**
 * The call's result, or a "database unavailable" error once the database has had `ms` to answer (the call itself
 * runs on). Only time the event loop was free counts: while this process is busy (a large calendar expanded, a
 * burst of requests) an answer that has arrived cannot be read, and a plain timer, run before the I/O it waits for,
 * blamed the database for our own stall (20 parallel year-long views answered SERVICE_UNAVAILABLE under CI load).
 */
export function withinDatabaseDeadline<T>(call: Promise<T>, ms = DATABASE_DEADLINE_MS): Promise<T> {
  const tick = Math.max(5, Math.min(250, Math.floor(ms / 4)));
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    let counted = 0;
    let last = performance.now();
    timer = setInterval(() => {
      const now = performance.now();
      counted += Math.min(now - last, 2 * tick); // a stall of the loop is ours, not the database's
      last = now;
      if (counted >= ms)
        reject(Object.assign(new Error(`the database did not answer within ${ms} ms`), { code: DEADLINE_CODE }));
    }, tick);
  });
  call.catch(() => undefined); // answered late or failed after the deadline: nobody is waiting for it any more
  return Promise.race([call, deadline]).finally(() => clearInterval(timer));
}

/** What a client is told to wait before trying again. */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

const CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
  'PROTOCOL_ENQUEUE_AFTER_QUIT',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_CONNECTION_KILLED',
  'SQLITE_BUSY',
  DEADLINE_CODE,
]);
/** MySQL client errors: can't connect (2002, 2003), server gone away (2006), lost connection (2013). */
const ERRNOS = new Set([2002, 2003, 2006, 2013]);

export function isDatabaseUnavailable(err: unknown): boolean {
  const seen = new Set<unknown>();
  for (
    let e = err as Record<string, unknown> | undefined, depth = 0;
    e && typeof e === 'object' && depth < 6 && !seen.has(e);
    depth++
  ) {
    seen.add(e);
    if (typeof e.code === 'string' && CODES.has(e.code)) return true;
    if (typeof e.errno === 'number' && ERRNOS.has(e.errno)) return true;
    if (
      typeof e.message === 'string' &&
      /^Pool is closed|Connection lost: The server closed the connection|^Can't add new command when connection is in closed state/.test(
        e.message,
      )
    )
      return true;
    const next = (e.driverError ??
      e.cause ??
      (e.failure as { cause?: unknown } | undefined)?.cause ??
      e.originalError) as Record<string, unknown> | undefined;
    e = next;
  }
  return false;
}

/**
 * The error a request gets; thrown while Apollo builds the context it also sets the response's status and Retry-After.
 */
export function databaseUnavailable(): AppError {
  const err = new AppError(
    ErrorCode.SERVICE_UNAVAILABLE,
    'The service cannot reach its database right now; try again shortly',
    { retryAfterSeconds: DATABASE_RETRY_AFTER_SECONDS },
  );
  err.extensions.http = {
    status: 503,
    headers: new HeaderMap([['retry-after', String(DATABASE_RETRY_AFTER_SECONDS)]]),
  };
  return err;
}

/**
 * A check that the database answers (`SELECT 1` within the deadline), shared by every caller arriving while one is
 * under way: under load, one round trip serves a whole burst of requests. Nothing on SQLite, which is a file in this
 * process and cannot go away.
 */
export class DatabasePulse {
  private probe: Promise<void> | undefined;

  constructor(private readonly ds: DataSource) {}

  check(): Promise<void> {
    if (this.ds.options.type === 'better-sqlite3') return Promise.resolve();
    this.probe ??= withinDatabaseDeadline(this.ds.query('SELECT 1'))
      .then(() => undefined)
      .finally(() => {
        this.probe = undefined;
      });
    return this.probe;
  }
}
