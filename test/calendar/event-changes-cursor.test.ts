/**
 * The eventChanges feed's cursor (the change's seq, as text in base64url), still its own format in
 * src/calendar/calendar.sync.ts rather than one of src/graphql/connection.ts's cursors. CalendarSync.changes checks
 * `first` and `after` before it touches the agent (a sync, the database), so the checks are tested here with a scope
 * whose agent stops the call: a cursor that passes the checks reaches it ("past the checks"), one that does not is
 * BAD_USER_INPUT. No database; nothing else of the feed runs.
 */
import { CalendarSync } from '../../src/calendar/calendar.sync';

const PAST = 'past the checks';
type Scope = Parameters<CalendarSync['changes']>[0];
const scope = {
  get agent(): never {
    throw new Error(PAST);
  },
} as unknown as Scope;
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64url');
const changes = (first: number, after?: string | null) =>
  new CalendarSync({} as ConstructorParameters<typeof CalendarSync>[0]).changes(scope, { first, after });

const notOurs = expect.objectContaining({
  message: '"after" is not a cursor this API returned',
  extensions: expect.objectContaining({ code: 'BAD_USER_INPUT', field: 'after' }),
});

test('the cursors the feed hands out (the seq as text) pass, as does no cursor (the feed from its start)', async () => {
  for (const after of [b64('0'), b64('1'), b64('42'), b64('9007199254740991'), null, undefined, '']) {
    await expect(changes(100, after)).rejects.toThrow(PAST);
  }
});

test.each([
  ['text', b64('maria')],
  ['a negative seq', b64('-1')],
  ['a fraction', b64('1.5')],
  ['a connection cursor of another list', b64('["maria","id"]')],
  ['a contactChanges cursor', b64('c1:7:0b7f6a9e-1c2d-4e5f-8a9b-0c1d2e3f4a5b')],
])('%s: BAD_USER_INPUT naming after', async (_why, after) => {
  await expect(changes(100, after)).rejects.toThrow(notOurs);
});

test.each([0, 501, 1.5])('first = %p: BAD_USER_INPUT naming first', async (first) => {
  await expect(changes(first, null)).rejects.toThrow(
    expect.objectContaining({ extensions: expect.objectContaining({ code: 'BAD_USER_INPUT', field: 'first' }) }),
  );
});

// Found by these tests (they failed before the fix): the cursor was decoded with Number(text), and Buffer's base64url
// decoding skips characters outside its alphabet, so "!!!" or "..." decoded to "" and Number("") is 0: the feed
// silently restarted from its first change. Number() also took " 7", "1e3" and "0x10", which the feed never hands out.
test.each([
  ['characters outside base64url only', '!!!'],
  ['dots', '...'],
  ['blanks once decoded', b64('  ')],
  ['padded digits', b64(' 7')],
  ['an exponent', b64('1e3')],
  ['hexadecimal', b64('0x10')],
])('%s is not a cursor the feed handed out: BAD_USER_INPUT naming after', async (_why, after) => {
  await expect(changes(100, after)).rejects.toThrow(notOurs);
});
