/**
 * The contactChanges feed's cursor (src/contacts/contact-changes.ts, not yet one of src/graphql/connection.ts's
 * cursors): "c1:<seq>:<contact id>" in base64url. Its own versioned format, so a change of format can be told from a
 * client's garbage. Pure.
 */
import { decodeFeedCursor, encodeFeedCursor } from '../../src/contacts/contact-changes';

const ID = '0b7f6a9e-1c2d-4e5f-8a9b-0c1d2e3f4a5b';
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64url');
const notOurs = (given: string) =>
  expect.objectContaining({
    name: 'AppError',
    message: `"after" is not a cursor of contactChanges (got "${given.slice(0, 60)}")`,
    extensions: expect.objectContaining({ code: 'BAD_USER_INPUT', field: 'after' }),
  });

test('there and back, from the first change to the largest seq the format holds (15 digits)', () => {
  for (const seq of [0, 1, 42, 999_999_999_999_999]) {
    const cursor = encodeFeedCursor({ seq, id: ID });
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeFeedCursor(cursor)).toEqual({ seq, id: ID });
  }
});

test('the format is stable: version c1, seq and id, in base64url', () => {
  expect(encodeFeedCursor({ seq: 7, id: ID })).toBe(b64(`c1:7:${ID}`));
});

test.each([
  ['not base64url at all', '!!!'],
  ['empty once decoded', b64('')],
  ['another version', b64(`c2:7:${ID}`)],
  ['no version', b64(`7:${ID}`)],
  ['a negative seq', b64(`c1:-7:${ID}`)],
  ['a seq of 16 digits', b64(`c1:1234567890123456:${ID}`)],
  ['a seq with a fraction', b64(`c1:7.5:${ID}`)],
  ['an id that is not a UUID', b64('c1:7:maria')],
  ['an upper-case UUID (ours are lower case)', b64(`c1:7:${ID.toUpperCase()}`)],
  ['trailing text', b64(`c1:7:${ID}:x`)],
  ['a cursor of another list (contacts)', b64(`["maria","${ID}"]`)],
  ['longer than 100 characters', b64(`c1:7:${ID}`) + 'A'.repeat(100)],
  // Base64url decoding skips characters outside its alphabet: only the length bound refuses this one.
  ['a cursor of ours padded past 100 characters with characters base64url skips', b64(`c1:7:${ID}`) + '!'.repeat(100)],
])('%s: BAD_USER_INPUT naming after', (_why, cursor) => {
  expect(() => decodeFeedCursor(cursor)).toThrow(notOurs(cursor));
});
