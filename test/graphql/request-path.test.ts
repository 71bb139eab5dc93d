/**
 * The statements a warm request costs (docs/performance.md, "The request path"): who is calling is remembered a
 * minute, a fresh mirror is known fresh without asking, and a count runs only when totalCount (or a label's
 * memberCount) is selected. On MariaDB every statement is a round trip, and they were most of a request's time.
 */
import { Agent } from '../../src/entities';
import { verifyKeptPages } from '../../src/graphql/kept-pages';
import { describeEachDb } from '../support/db';
import { deliveryDone, startWorld, type World } from '../support/world';
import { statementsDuring } from '../support/sql-log';

const AGENT = 'agent@alpha.test';

describeEachDb('request path: statements per warm request', (db) => {
  let w: World;
  let token: string;
  beforeAll(async () => {
    w = await startWorld(db());
    token = await w.token(AGENT);
    const made = await w.gw.gql('mutation ($i: [ContactInput!]!) { createContacts(input: $i) { id syncState } }', {
      token,
      variables: {
        i: Array.from({ length: 60 }, (_, n) => ({ givenName: `P${n}`, emails: [{ value: `p${n}@x.test` }] })),
      },
    });
    expect(made.body.errors).toBeUndefined();
    const mail = await w.gw.gql('mutation { sendMail(input: { to: ["a@x.test"], subject: "s", text: "t" }) { id } }', {
      token,
    });
    expect(mail.body.errors).toBeUndefined();
    await deliveryDone(db()); // a delivery settling between two reads would move the agent's feed
  });
  afterAll(() => w.close());

  /** The statements `query` ran (the outbox's own polling left out), and its answer. */
  async function statementsOf(query: string, as = token): Promise<{ statements: string[]; body: any }> {
    const { result: res, statements } = await statementsDuring(db().ds, () => w.gw.gql(query, { token: as }));
    expect(res.body.errors).toBeUndefined();
    return {
      // The outbox worker polls on its own timer, whatever the requests do; on MariaDB a remembered caller waits for
      // the shared check that the database answers (DatabasePulse), which is no statement of the request's.
      statements: statements.map((s) => s.sql).filter((q) => !/outbox/i.test(q) && q !== 'SELECT 1'),
      body: res.body,
    };
  }

  const CONTACTS =
    '{ contacts(first: 50) { edges { cursor node { id displayName emails { value } syncState syncError labels { id name } starred } } pageInfo { hasNextPage endCursor } } }';

  test('{ me { id } } runs no statement once the caller is known; its brokerage only when asked for', async () => {
    await statementsOf('{ me { id } }'); // the first sight of the token resolves the caller
    const warm = await statementsOf('{ me { id email role } }');
    expect(warm.statements).toEqual([]);
    expect(warm.body.data.me).toMatchObject({ email: AGENT, role: 'AGENT' });
    const withBrokerage = await statementsOf('{ me { id brokerage { name domain } } }');
    expect(withBrokerage.statements).toHaveLength(1);
    expect(withBrokerage.body.data.me.brokerage).toEqual({ name: 'Brokerage alpha.test', domain: 'alpha.test' });
  });

  test('contacts(first: 50) with labels: read once, the page and the labels; again, only the feed position', async () => {
    // A kept page is checked against the page read afresh under jest (contact-page-cache.ts): counted without it.
    verifyKeptPages(false);
    try {
      await statementsOf(CONTACTS); // the first read syncs
      w.gw.services.contacts.forgetPages();
      const cold = await statementsOf(CONTACTS);
      const warm = await statementsOf(CONTACTS);
      expect(warm.body).toEqual(cold.body);
      expect(cold.statements).toHaveLength(3); // the agent's feed position, the page, its labels
      expect(warm.statements).toEqual([cold.statements[0]]);
      expect(warm.statements[0]).toMatch(/contactChangeSeq/);
      for (const s of [...cold.statements, ...warm.statements]) expect(s).not.toMatch(/COUNT\(/i);
    } finally {
      verifyKeptPages(true);
    }
  });

  test('totalCount and memberCount are counted when asked for, and right', async () => {
    const counted = await statementsOf('{ contacts(first: 5) { totalCount edges { node { id } } } }');
    expect(counted.body.data.contacts.totalCount).toBe(60);
    expect(counted.statements.filter((s) => /COUNT\(/i.test(s))).toHaveLength(1);
    const members = await statementsOf('{ contacts(first: 5) { edges { node { labels { name memberCount } } } } }');
    const labels = members.body.data.contacts.edges.flatMap((e: any) => e.node.labels);
    expect(labels.length).toBeGreaterThan(0);
    for (const l of labels) expect(l.memberCount).toBe(60);
    // One count for every label of the page (the labelCounts loader), not one per contact.
    expect(members.statements.filter((s) => /COUNT\(/i.test(s))).toHaveLength(1);
  });

  test('sentMail(first: 50): the page and its recipients; totalCount only when asked for', async () => {
    await statementsOf('{ sentMail(first: 50) { edges { node { id } } } }');
    const warm = await statementsOf('{ sentMail(first: 50) { edges { node { id subject to } } } }');
    expect(warm.statements).toHaveLength(2);
    const counted = await statementsOf('{ sentMail(first: 50) { totalCount } }');
    expect(counted.body.data.sentMail.totalCount).toBe(1);
    expect(counted.statements.filter((s) => /COUNT\(/i.test(s))).toHaveLength(1);
  });

  test("a month of events with attendees' contacts: read once; again, one statement (generation and contact position)", async () => {
    const start = new Date(Date.UTC(2030, 0, 10, 9));
    const made = await w.gw.gql('mutation ($i: EventInput!) { createEvent(input: $i) { id syncState } }', {
      token,
      variables: {
        i: {
          title: 'Showing',
          start: start.toISOString(),
          end: new Date(start.getTime() + 3600_000).toISOString(),
          attendees: ['p1@x.test', 'stranger@x.test'],
        },
      },
    });
    expect(made.body.data.createEvent.syncState).toBe('SYNCED');
    const query =
      '{ events(from: "2030-01-01T00:00:00Z", to: "2030-02-01T00:00:00Z") { edges { node { title attendees { email contact { givenName } } } } } }';
    // A kept page is checked against the page read afresh under jest (kept-pages.ts): counted without it.
    verifyKeptPages(false);
    try {
      const cold = await statementsOf(query);
      const warm = await statementsOf(query);
      expect(warm.body).toEqual(cold.body);
      expect(warm.body.data.events.edges[0].node.attendees).toEqual([
        { email: 'p1@x.test', contact: { givenName: 'P1' } },
        { email: 'stranger@x.test', contact: null },
      ]);
      expect(warm.statements).toHaveLength(1);
      expect(warm.statements[0]).toMatch(/contactChangeSeq/);
      expect(warm.statements[0]).toMatch(/calendar_cache_generation/);
    } finally {
      verifyKeptPages(true);
    }
  });

  test("sentMail with recipients' contacts: page, recipients, contacts (3)", async () => {
    const sent = await w.gw.gql(
      'mutation { sendMail(input: { to: ["p2@x.test"], subject: "s2", text: "t" }) { id } }',
      {
        token,
      },
    );
    expect(sent.body.errors).toBeUndefined();
    const query = '{ sentMail(first: 50) { edges { node { subject recipients { email contact { givenName } } } } } }';
    await statementsOf(query);
    const warm = await statementsOf(query);
    const bySubject = Object.fromEntries(
      warm.body.data.sentMail.edges.map((e: any) => [e.node.subject, e.node.recipients]),
    );
    expect(bySubject).toEqual({
      s: [{ email: 'a@x.test', contact: null }],
      s2: [{ email: 'p2@x.test', contact: { givenName: 'P2' } }],
    });
    expect(warm.statements).toHaveLength(3);
  });

  test('a token with another role is resolved afresh: the answer and the agent row follow it at once', async () => {
    await statementsOf('{ me { role } }');
    const admin = await w.token(AGENT, true);
    const asAdmin = await statementsOf('{ me { role } }', admin);
    expect(asAdmin.body.data.me.role).toBe('ADMIN');
    expect(asAdmin.statements.length).toBeGreaterThan(0);
    expect((await db().ds.getRepository(Agent).findOneByOrFail({ email: AGENT })).role).toBe('admin');
    const back = await statementsOf('{ me { role } }');
    expect(back.body.data.me.role).toBe('AGENT');
    expect((await db().ds.getRepository(Agent).findOneByOrFail({ email: AGENT })).role).toBe('agent');
  });
});
