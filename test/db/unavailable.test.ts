/** Which failures mean "the database is not there right now" (SERVICE_UNAVAILABLE), and which do not. */
import { stat } from 'node:fs';
import { QueryFailedError } from 'typeorm';
import { isDatabaseUnavailable, withinDatabaseDeadline } from '../../src/db/unavailable';

const driver = (props: Record<string, unknown>, message = 'x') => Object.assign(new Error(message), props);

test.each([
  ['a refused connection', driver({ code: 'ECONNREFUSED', errno: -111 })],
  ['a connection lost during a query', driver({ code: 'PROTOCOL_CONNECTION_LOST', fatal: true })],
  [
    'a connection already closed, used again (mysql2 sets no code)',
    driver({ fatal: true }, "Can't add new command when connection is in closed state"),
  ],
  ['the server shutting down', driver({ code: 'ER_SERVER_SHUTDOWN', errno: 1053 })],
  ['too many connections', driver({ code: 'ER_CON_COUNT_ERROR', errno: 1040 })],
  ['"server has gone away" (2006)', driver({ errno: 2006 })],
  ['SQLite busy past its timeout', driver({ code: 'SQLITE_BUSY' })],
  ['wrapped by TypeORM', new QueryFailedError('SELECT 1', [], driver({ code: 'ECONNRESET' }))],
  [
    'as the cause of a Google failure',
    Object.assign(new Error('wrapped'), { failure: { cause: driver({ code: 'ETIMEDOUT' }) } }),
  ],
])('unavailable: %s', (_what, err) => {
  expect(isDatabaseUnavailable(err)).toBe(true);
});

test.each([
  ['a duplicate key', driver({ code: 'ER_DUP_ENTRY', errno: 1062 })],
  ['a deadlock (retried by its caller, not an outage)', driver({ code: 'ER_LOCK_DEADLOCK', errno: 1213 })],
  ['a syntax error', new QueryFailedError('SELEC 1', [], driver({ code: 'ER_PARSE_ERROR', errno: 1064 }))],
  [
    'wrong credentials (a setup fault: retrying does not help)',
    driver({ code: 'ER_ACCESS_DENIED_ERROR', errno: 1045, fatal: true }),
  ],
  ['a bug', new TypeError("Cannot read properties of undefined (reading 'id')")],
  ['nothing', undefined],
])('not an outage: %s', (_what, err) => {
  expect(isDatabaseUnavailable(err)).toBe(false);
});

describe('withinDatabaseDeadline', () => {
  /** Holds the event loop, as a busy process does. */
  const busy = (ms: number) => {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      /* the process is busy: nothing else runs */
    }
  };

  test('an answer that arrived while this process was busy is read, not blamed on the database', async () => {
    // Arrives as I/O (as a database's answer does), read in the poll phase: after the timers of the next turn.
    const answered = new Promise<string>((resolve) => stat(__filename, () => resolve('row')));
    const raced = withinDatabaseDeadline(answered, 100);
    busy(300); // longer than the deadline: a plain timer would fire before the answer is read
    await expect(raced).resolves.toBe('row');
  });

  test('a database that does not answer while the process is free: unavailable', async () => {
    const never = new Promise<never>(() => undefined);
    const raced = withinDatabaseDeadline(never, 50);
    await expect(raced).rejects.toMatchObject({ code: 'ENGAGE_DB_DEADLINE' });
    await expect(raced.catch((e) => isDatabaseUnavailable(e))).resolves.toBe(true);
  });
});
