/**
 * The Relay-style connection helpers every list of the API shares (src/graphql/connection.ts): opaque `after`
 * cursors (the row's sort key as JSON in base64url: contacts [sortKey, id], events [startMs, id], sent mail
 * [createdAt ms, id]), the `first` check and pageInfo. A cursor this API did not return must be BAD_USER_INPUT naming
 * `after`, never a 500 and never a silently wrong page. Pure; the lists themselves are tested end to end.
 */
import { AppError } from '../../src/errors';
import { checkFirst, decodeCursor, edgesPage, encodeCursor, pageOf, type Page } from '../../src/graphql/connection';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64url');

/** The BAD_USER_INPUT AppError of a cursor that is not ours, quoting (the start of) what was given. */
const notOurs = (given: string) =>
  expect.objectContaining({
    name: 'AppError',
    message: `"after" is not a cursor this API returned (got "${given.slice(0, 60)}")`,
    extensions: expect.objectContaining({ code: 'BAD_USER_INPUT', field: 'after' }),
  });

describe("cursors: each list's sort key there and back", () => {
  test.each([
    ['contacts', ['string', 'string'] as const, ['maria lopez', '0b7f6a9e-1c2d-4e5f-8a9b-0c1d2e3f4a5b']],
    [
      'contacts, a sort key with quotes, a backslash, a newline and non-Latin letters',
      ['string', 'string'] as const,
      ['"o\'brien"\\\n 李 Ørsted 🏠', 'id'],
    ],
    ['contacts, an empty sort key (a contact with no name)', ['string', 'string'] as const, ['', 'id']],
    ['events', ['number', 'string'] as const, [Date.parse('2026-12-24T17:00:00Z'), 'abc123_20261224T170000Z']],
    ['events before 1970', ['number', 'string'] as const, [Date.parse('1969-07-20T20:17:00Z'), 'moon']],
    ['sent mail', ['integer', 'string'] as const, [1_798_000_000_123, 'f3c1']],
  ])('%s', (_list, shape, key) => {
    const cursor = encodeCursor(key);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/); // URL-safe, no padding: a client can put it in a query string as it is
    expect(decodeCursor(cursor, shape)).toEqual(key);
  });

  test('the format is stable across releases (a cursor a client kept still works after a deploy): JSON of the key in base64url', () => {
    expect(encodeCursor(['maria', 'id-1'])).toBe(b64('["maria","id-1"]'));
    expect(decodeCursor(b64('[1798000000000,"m1"]'), ['integer', 'string'])).toEqual([1798000000000, 'm1']);
  });

  test('cursors order nothing themselves: two keys give two different cursors', () => {
    expect(encodeCursor(['a', 'b'])).not.toBe(encodeCursor(['a', 'c']));
    expect(encodeCursor([1, 'x'])).not.toBe(encodeCursor(['1', 'x']));
  });
});

describe('cursors this API did not return: BAD_USER_INPUT naming after', () => {
  test.each([
    ['not base64url JSON at all', 'not a cursor'],
    ['characters base64url does not have', '!!!'],
    ['empty JSON', b64('')],
    ['JSON, not an array', b64('{"sortKey":"a","id":"b"}')],
    ['JSON null', b64('null')],
    ['an array one part short', b64('["maria"]')],
    ['an array one part long', b64('["maria","id","x"]')],
    ['a number where the sort key is a string', b64('[5,"id"]')],
    ['a string where the id is', b64('["maria",7]')],
    ['null parts', b64('[null,null]')],
    ['truncated JSON', encodeCursor(['maria', 'id']).slice(0, -3)],
  ])('contacts: %s', (_why, cursor) => {
    expect(() => decodeCursor(cursor, ['string', 'string'])).toThrow(notOurs(cursor));
  });

  test.each([
    ['a contacts cursor', encodeCursor(['maria', 'id'])],
    ['a number as a string', b64('["1798000000000","id"]')],
    ['null where a time is (what NaN becomes in JSON)', b64('[null,"id"]')],
    ['1e999 (Infinity once parsed)', b64('[1e999,"id"]')],
  ])('events ([number, string]): %s', (_why, cursor) => {
    expect(() => decodeCursor(cursor, ['number', 'string'])).toThrow(notOurs(cursor));
  });

  test('sent mail ([integer, string]): a time with a fraction is not a cursor of it, though it is a number', () => {
    const cursor = b64('[1798000000000.5,"m1"]');
    expect(decodeCursor(cursor, ['number', 'string'])).toEqual([1798000000000.5, 'm1']);
    expect(() => decodeCursor(cursor, ['integer', 'string'])).toThrow(notOurs(cursor));
  });

  test('a cursor longer than 2048 characters is not decoded at all; the message quotes its first 60 characters', () => {
    const long = encodeCursor(['x'.repeat(2000), 'id']);
    expect(long.length).toBeGreaterThan(2048);
    expect(() => decodeCursor(long, ['string', 'string'])).toThrow(notOurs(long));
    expect(() => decodeCursor(long, ['string', 'string'])).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining(long.slice(0, 61)) }),
    );
    // Just within the bound, it is.
    const within = encodeCursor(['x'.repeat(1500), 'id']);
    expect(within.length).toBeLessThanOrEqual(2048);
    expect(decodeCursor(within, ['string', 'string'])).toEqual(['x'.repeat(1500), 'id']);
  });

  test('the error is an AppError (a public code, not masked as INTERNAL_SERVER_ERROR)', () => {
    let err: unknown;
    try {
      decodeCursor('nope', ['string', 'string']);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('BAD_USER_INPUT');
  });
});

describe('checkFirst', () => {
  test("a whole number from 1 to the list's maximum passes", () => {
    for (const first of [1, 2, 199, 200]) expect(() => checkFirst(first, 200)).not.toThrow();
  });

  test.each([0, -1, 201, 1.5, Number.NaN, Number.POSITIVE_INFINITY])(
    '%p is BAD_USER_INPUT naming first, with the bounds',
    (first) => {
      expect(() => checkFirst(first, 200)).toThrow(
        expect.objectContaining({
          message: `"first" must be from 1 to 200 (got ${first})`,
          extensions: expect.objectContaining({ code: 'BAD_USER_INPUT', field: 'first' }),
        }),
      );
    },
  );
});

describe('pageOf and edgesPage', () => {
  const rows = ['a', 'b', 'c', 'd'];
  const cursorOf = (r: string) => `cursor-${r}`;
  const nodeOf = (r: string) => ({ name: r.toUpperCase() });

  test("rows read one more than first: the extra row is not an edge, it only says there is a next page; endCursor is the last edge's", () => {
    expect(pageOf(rows, 3, cursorOf, nodeOf)).toEqual({
      edges: [
        { cursor: 'cursor-a', node: { name: 'A' } },
        { cursor: 'cursor-b', node: { name: 'B' } },
        { cursor: 'cursor-c', node: { name: 'C' } },
      ],
      pageInfo: { hasNextPage: true, endCursor: 'cursor-c' },
    });
  });

  test('exactly first rows, or fewer: no next page', () => {
    expect(pageOf(rows, 4, cursorOf, nodeOf).pageInfo).toEqual({ hasNextPage: false, endCursor: 'cursor-d' });
    expect(pageOf(rows, 10, cursorOf, nodeOf).pageInfo).toEqual({ hasNextPage: false, endCursor: 'cursor-d' });
  });

  test('an empty page: endCursor null for a list, the cursor given for a change feed (the client keeps polling from there)', () => {
    expect(pageOf([], 10, cursorOf, nodeOf)).toEqual({ edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
    expect(pageOf([], 10, cursorOf, nodeOf, 'where-i-was')).toEqual({
      edges: [],
      pageInfo: { hasNextPage: false, endCursor: 'where-i-was' },
    });
    // A page with edges ends at its last edge whatever emptyEnd is.
    expect(pageOf(['a'], 10, cursorOf, nodeOf, 'where-i-was').pageInfo.endCursor).toBe('cursor-a');
  });

  test("edgesPage: the edges as given, endCursor the last one's or emptyEnd", () => {
    const edges = [
      { cursor: 'c1', node: 1 },
      { cursor: 'c2', node: 2 },
    ];
    expect(edgesPage(edges, true)).toEqual({ edges, pageInfo: { hasNextPage: true, endCursor: 'c2' } });
    expect(edgesPage([], false, 'after')).toEqual({ edges: [], pageInfo: { hasNextPage: false, endCursor: 'after' } });
    expect(edgesPage([], false)).toEqual({ edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
  });

  test('walking pages with the cursors: every row once, in order, and the last page says so', () => {
    const all = Array.from({ length: 23 }, (_, i) => ({ key: `k${String(i).padStart(2, '0')}`, id: `id${i}` }));
    const cursor = (r: { key: string; id: string }) => encodeCursor([r.key, r.id]);
    const read = (after: string | null, first: number) => {
      const [k, id] = after ? decodeCursor(after, ['string', 'string']) : ['', ''];
      return all.filter((r) => !after || r.key > k || (r.key === k && r.id > id)).slice(0, first + 1);
    };
    const seen: string[] = [];
    let after: string | null = null;
    for (let pages = 0; pages < 10; pages++) {
      const page: Page<string> = pageOf(read(after, 5), 5, cursor, (r) => r.id);
      seen.push(...page.edges.map((e) => e.node));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(seen).toEqual(all.map((r) => r.id));
  });
});
