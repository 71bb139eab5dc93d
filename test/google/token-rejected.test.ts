/**
 * A 401 from Google means it no longer takes the access token we hold (revoked, or expired before the time it gave
 * us). On every read path the token is dropped and the call made once more with a fresh one (issue 13, item 7).
 * Before, only queued-write delivery dropped it; a sync or a view kept failing with the rejected token until it would
 * have expired (up to ~55 minutes).
 */
import { describeEachDb } from '../support/db';
import { startWorld, type World } from '../support/world';

const AGENT = 'agent@alpha.test';

describeEachDb('a token Google rejects (401) on a read path', (db) => {
  let w: World;
  let token: string;

  beforeAll(async () => {
    w = await startWorld(db());
    token = await w.token(AGENT);
  });
  afterAll(() => w.close());
  beforeEach(() => w.admin.clearFaults());

  const gql = (q: string) => w.gw.gql(q, { token });
  /** The token requests and the API calls of `method` made since the last clearRequests, in order. */
  const trail = async (method: string) =>
    (await w.admin.requests({ user: AGENT }))
      .filter((r) => r.api === 'token' || r.method === method)
      .map((r) => (r.api === 'token' ? 'token' : r.status));

  test.each([
    [
      'syncContacts',
      'people',
      'people.people.connections.list',
      'mutation { syncContacts { contacts { lastError } } }',
    ],
    ['syncCalendar', 'calendar', 'calendar.events.list', 'mutation { syncCalendar { calendar { lastError } } }'],
    // Two different days: the second view is not answered from the first one's cache.
    [
      'a calendar view',
      'calendar',
      'calendar.events.list',
      '{ events(from: "2026-12-0DAYT00:00:00Z", to: "2026-12-0DAYT12:00:00Z") { totalCount } }',
    ],
  ] as const)(
    '%s: the rejected token is dropped and the call made again with a new one, once; the caller sees no error',
    async (_what, api, method, query) => {
      expect((await gql(query.replace(/DAY/g, '1'))).body.errors).toBeUndefined(); // a token is held from here on
      await w.admin.clearRequests();
      await w.admin.addFault({ api, method, status: 401, count: 1 });
      const res = await gql(query.replace(/DAY/g, '2'));
      expect(res.body.errors).toBeUndefined();
      expect(JSON.stringify(res.body.data)).not.toMatch(/no longer accepts/);
      // 401 with the old token, a new token, then the same call answered.
      expect(await trail(method)).toEqual([401, 'token', 200]);
    },
  );

  test('a fresh token refused too: the error says what to do, and there was exactly one retry', async () => {
    expect((await gql('mutation { syncContacts { contacts { lastError } } }')).body.errors).toBeUndefined(); // a token is held
    await w.admin.clearRequests();
    await w.admin.addFault({ api: 'people', method: 'people.people.connections.list', status: 401, count: 2 });
    const res = await gql('mutation { syncContacts { contacts { lastError } } }');
    expect(res.body.errors![0]).toMatchObject({
      extensions: { code: 'UPSTREAM_UNAVAILABLE', remedy: expect.stringMatching(/verifyServiceAccount/) },
    });
    expect(await trail('people.people.connections.list')).toEqual([401, 'token', 401]);
  });
});
