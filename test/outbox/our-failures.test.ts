/**
 * An error of ours while delivering a write (the database, a bug), before or after the Google call, is retried, not
 * recorded as Google refusing the change (issue 13, item 2). Before, the contact or event became FAILED ("Google
 * refused the change: unexpected failure calling Google") and was never retried; when the failure came after
 * events.insert had succeeded, the event stayed in Google and a later deleteEvent removed only our row.
 * The failure is injected by wrapping the agent's Google driver (src/google/) in the delivery's session: once, a plain
 * Error (what a database driver throws) before or after the real call.
 */
import { describeEachDb } from '../support/db';
import { until } from '../support/wait';
import { resetContacts, startWorld, type World } from '../support/world';

const AGENT = 'agent@alpha.test';

describeEachDb('an error of ours while delivering a write', (db) => {
  let w: World;
  let token: string;

  beforeAll(async () => {
    w = await startWorld(db(), { env: { MUTATION_WAIT_MS: '60000' } });
    token = await w.token(AGENT);
  });
  afterAll(() => w.close());
  afterEach(() => jest.restoreAllMocks());

  const gql = (q: string, variables?: Record<string, unknown>) => w.gw.gql(q, { token, variables });

  /**
   * The next `method` call on the agent's `api` client fails once with a database-like error, before or after it runs.
   */
  function failOnce(api: 'calendar' | 'people', path: string[], when: 'before' | 'after') {
    const sessions = w.gw.services.sessions;
    const real = sessions.forAgentId.bind(sessions);
    let armed = true;
    jest.spyOn(sessions, 'forAgentId').mockImplementation(async (brokerageId, agentId) => {
      const session = await real(brokerageId, agentId);
      const factory = api === 'calendar' ? session.calendar.bind(session) : session.people.bind(session);
      return Object.assign(Object.create(session), {
        [api]: async () => {
          const client = (await factory()) as any;
          const owner = path.slice(0, -1).reduce((o, k) => o[k], client);
          const method = path[path.length - 1];
          const original = owner[method].bind(owner);
          owner[method] = async (...args: unknown[]) => {
            if (!armed) return original(...args);
            armed = false;
            if (when === 'before') throw new Error('SQLITE_BUSY: database is locked');
            await original(...args);
            throw new Error('SQLITE_BUSY: database is locked');
          };
          return client;
        },
      });
    });
    return () => armed;
  }

  test.each(['before', 'after'] as const)(
    'an event created with a failure of ours %s events.insert: SYNCED, once in Google, and deleting it removes it there',
    async (when) => {
      const title = `Showing ${when}`;
      const armed = failOnce('calendar', ['insertEvent'], when);
      const made = (
        await gql(
          'mutation ($t: String!) { createEvent(input: { title: $t, start: "2026-12-09T10:00:00Z", end: "2026-12-09T11:00:00Z" }) { id syncState } }',
          { t: title },
        )
      ).body.data.createEvent;
      expect(armed()).toBe(false);
      const state = async () =>
        (await gql('query ($id: ID!) { event(id: $id) { syncState syncError } }', { id: made.id })).body.data.event;
      await until('the event SYNCED', state, (e) => e?.syncState === 'SYNCED');
      const inGoogle = async () =>
        (await w.admin.request<{ summary: string; status: string }[]>('GET', `/users/${AGENT}/events`)).body.filter(
          (e) => e.summary === title && e.status !== 'cancelled',
        );
      expect(await inGoogle()).toHaveLength(1);
      expect((await gql('mutation ($id: ID!) { deleteEvent(id: $id) }', { id: made.id })).body.data.deleteEvent).toBe(
        true,
      );
      await until('the event gone from Google', inGoogle, (list) => list.length === 0);
    },
  );

  test('an event edited with a failure of ours after events.patch: SYNCED, not a conflict with itself', async () => {
    const made = (
      await gql(
        'mutation { createEvent(input: { title: "Walkthrough", start: "2026-12-10T10:00:00Z", end: "2026-12-10T11:00:00Z" }) { id etag syncState } }',
      )
    ).body.data.createEvent;
    expect(made.syncState).toBe('SYNCED');
    const armed = failOnce('calendar', ['patchEvent'], 'after');
    await gql(
      'mutation ($id: ID!, $e: String) { updateEvent(id: $id, input: { title: "Final walkthrough", etag: $e }) { id } }',
      { id: made.id, e: made.etag },
    );
    expect(armed()).toBe(false);
    // The retried patch meets 412 (Google's etag moved with our own patch): Google already holds what we sent.
    const state = async () =>
      (await gql('query ($id: ID!) { event(id: $id) { title syncState } }', { id: made.id })).body.data.event;
    expect(await until('the edit settled', state, (e) => e?.syncState !== 'PENDING')).toEqual({
      title: 'Final walkthrough',
      syncState: 'SYNCED',
    });
  });

  test.each(['before', 'after'] as const)(
    'a contact created with a failure of ours %s batchCreateContacts: SYNCED, and exactly once in Google',
    async (when) => {
      await resetContacts(w, db(), AGENT);
      const armed = failOnce('people', ['batchCreateContacts'], when);
      const made = (
        await gql('mutation ($n: String!) { createContact(input: { givenName: $n }) { id syncState } }', {
          n: `Dee ${when}`,
        })
      ).body.data.createContact;
      expect(armed()).toBe(false);
      const state = async () =>
        (await gql('query ($id: ID!) { contact(id: $id) { syncState syncError } }', { id: made.id })).body.data.contact;
      await until('the contact SYNCED', state, (c) => c?.syncState === 'SYNCED');
      const google = (
        await w.admin.request<{ names?: { givenName: string }[] }[]>('GET', `/users/${AGENT}/contacts`)
      ).body.filter((p) => p.names?.[0]?.givenName === `Dee ${when}`);
      expect(google).toHaveLength(1);
    },
  );
});
