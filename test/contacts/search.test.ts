/**
 * contacts(query:) and paging, through GraphQL, on both databases: phone numbers match however they are typed,
 * LIKE's wildcards (% and _) and our escape character (!) are plain text in a query, and an `after` cursor walks
 * a result in pages that neither overlap nor skip (ties on the sort key included).
 */
import { describeEachDb } from '../support/db';
import { resetContacts, startWorld, type World } from '../support/world';

const AGENT = 'agent@alpha.test';

const CONTACTS = [
  { givenName: 'Ann', familyName: 'Phone', phones: [{ value: '+1 555-123-4567', type: 'mobile' }] },
  { givenName: 'Bob', familyName: 'Abroad', phones: [{ value: '+44 20 7946 0958' }] },
  { organization: '50% Off Realty' },
  { organization: '150 Main Street Realty' },
  { organization: 'A_B Homes' },
  { organization: 'AxB Homes' },
  { organization: 'Wow! Realty' },
  { organization: 'Wow Realty' },
  { organization: 'Back\\Slash Homes' },
  // Seven "pat" contacts for paging, three of them with the same name (the same sort key).
  { givenName: 'Pat', familyName: 'Smith', emails: [{ value: 'pat.smith1@buyer.test' }] },
  { givenName: 'Pat', familyName: 'Smith', emails: [{ value: 'pat.smith2@buyer.test' }] },
  { givenName: 'Pat', familyName: 'Smith', emails: [{ value: 'pat.smith3@buyer.test' }] },
  { givenName: 'Pat', familyName: 'Jones' },
  { givenName: 'Pat', familyName: 'Brown' },
  { givenName: 'Patrick', familyName: 'Lee' },
  { givenName: 'Patty', familyName: 'Ray' },
];

describeEachDb('contacts: search and paging', (db) => {
  let w: World;
  let token: string;

  beforeAll(async () => {
    w = await startWorld(db(), { env: { MUTATION_WAIT_MS: '60000' } });
    token = await w.token(AGENT);
    await resetContacts(w, db(), AGENT);
    const res = await w.gw.gql('mutation ($i: [ContactInput!]!) { createContacts(input: $i) { id } }', {
      token,
      variables: { i: CONTACTS },
    });
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data.createContacts).toHaveLength(CONTACTS.length);
  });
  afterAll(() => w.close());

  interface Page {
    totalCount: number;
    edges: { cursor: string; node: { id: string; displayName: string } }[];
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
  }
  const page = async (args: { first: number; after?: string | null; query?: string | null }): Promise<Page> => {
    const res = await w.gw.gql(
      'query ($first: Int!, $after: String, $query: String) { contacts(first: $first, after: $after, query: $query) { totalCount edges { cursor node { id displayName } } pageInfo { hasNextPage endCursor } } }',
      { token, variables: args },
    );
    expect(res.body.errors).toBeUndefined();
    return res.body.data.contacts;
  };
  const search = async (query: string) => {
    const p = await page({ first: 200, query });
    expect(p.totalCount).toBe(p.edges.length);
    return p.edges.map((e) => e.node.displayName).sort();
  };

  test.each([
    ['(555) 123', ['Ann Phone']], // digits typed with other separators than the stored number's
    ['555-123-4567', ['Ann Phone']],
    ['555.123.4567', ['Ann Phone']],
    ['+44 (20) 7946', ['Bob Abroad']],
    ['5551234567', ['Ann Phone']],
    ['+1 555', ['Ann Phone']],
    ['20 7946', ['Bob Abroad']],
    ['(555) 124', []],
    ['55', ['Ann Phone']], // under 3 digits: plain text, still found in the number as typed
  ])('phone: %j finds %j', async (query, expected) => {
    expect(await search(query)).toEqual(expected);
  });

  test.each([
    ['50%', ['50% Off Realty']], // not "150 Main Street Realty": % is a character, not "anything"
    ['%', ['50% Off Realty']],
    ['_', ['A_B Homes']],
    ['a_b', ['A_B Homes']], // not "AxB Homes"
    ['!', ['Wow! Realty']], // our own escape character
    ['wow!', ['Wow! Realty']],
    ['!%', []],
    ['\\', ['Back\\Slash Homes']],
    ['REALTY', ['150 Main Street Realty', '50% Off Realty', 'Wow Realty', 'Wow! Realty']],
  ])('wildcards are text: %j finds %j', async (query, expected) => {
    expect(await search(query)).toEqual([...expected].sort());
  });

  test.each([
    ['pat', 2, 7],
    [null, 3, CONTACTS.length],
  ])(
    'query %j in pages of %i: no overlap, nothing skipped, the same order as one page, totalCount on every page',
    async (query, size, total) => {
      const all = await page({ first: 200, query });
      expect(all.totalCount).toBe(total);
      expect(all.edges).toHaveLength(total);

      const seen: string[] = [];
      let after: string | null = null;
      for (let n = 1; ; n++) {
        const p: Page = await page({ first: size, after, query });
        expect(p.totalCount).toBe(total);
        expect(p.edges.length).toBe(Math.min(size, total - seen.length));
        seen.push(...p.edges.map((e) => e.node.id));
        expect(p.pageInfo.hasNextPage).toBe(seen.length < total);
        expect(p.pageInfo.endCursor).toBe(p.edges[p.edges.length - 1].cursor);
        if (!p.pageInfo.hasNextPage) break;
        after = p.pageInfo.endCursor;
        expect(n).toBeLessThan(total); // a cursor that does not advance would loop forever
      }
      expect(seen).toEqual(all.edges.map((e) => e.node.id));
      expect(new Set(seen).size).toBe(total);

      // After the last item: an empty page.
      const past = await page({ first: size, after: all.edges[total - 1].cursor, query });
      expect(past).toEqual({ totalCount: total, edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
    },
  );

  test('the three "Pat Smith"s (one sort key) are split across pages and each comes exactly once', async () => {
    const smiths = (await page({ first: 200, query: 'pat smith' })).edges.map((e) => e.node.id);
    expect(smiths).toHaveLength(3);
    const first = await page({ first: 1, query: 'pat smith' });
    const rest = await page({ first: 5, after: first.pageInfo.endCursor, query: 'pat smith' });
    expect([...first.edges, ...rest.edges].map((e) => e.node.id)).toEqual(smiths);
  });
});
