/**
 * Contact pages kept at the agent's feed position (src/contacts/contact-page-cache.ts), on both databases: a page read
 * again costs one statement, and every change of what it shows is seen on the next read: a write through another
 * replica, a change in Google, and the outbox's label deliveries (a label's syncError and syncState). Under jest a
 * kept page is also compared with the page read afresh (a difference fails the request), so these reads fail if a
 * write changes a page without taking a feed position.
 */
import { verifyKeptPages } from '../../src/graphql/kept-pages';
import { describeEachDb } from '../support/db';
import type { TestGateway } from '../support/gateway';
import { statementsDuring } from '../support/sql-log';
import { deliveryDone, resetContacts, startReplica, startWorld, type World } from '../support/world';

const AGENT = 'agent@alpha.test';
const PAGE =
  '{ contacts(first: 50) { edges { node { id givenName syncState labels { name resourceName syncState syncError } } } pageInfo { hasNextPage } } }';

describeEachDb('contacts: pages kept at the feed position', (db) => {
  let w: World;
  let replica: TestGateway;
  let token: string;

  beforeAll(async () => {
    w = await startWorld(db(), { env: { MUTATION_WAIT_MS: '0' } });
    replica = await startReplica(w, db());
    token = await w.token(AGENT);
  });
  afterAll(async () => {
    await replica.close();
    await w.close();
  });
  beforeEach(async () => {
    await w.admin.clearFaults();
    await resetContacts(w, db(), AGENT);
  });

  const ok = async (query: string, variables?: Record<string, unknown>, gw: TestGateway = w.gw) => {
    const res = await gw.gql(query, { token, variables });
    expect(res.body.errors).toBeUndefined();
    return res.body.data;
  };
  const page = async (gw: TestGateway = w.gw) =>
    (await ok(PAGE, undefined, gw)).contacts.edges.map((e: any) => e.node) as any[];

  test('read again unchanged: one statement, the same page; a write through another replica shows at once', async () => {
    const [a] = (await ok('mutation { createContacts(input: [{ givenName: "Ann" }, { givenName: "Bob" }]) { id } }'))
      .createContacts;
    await deliveryDone(db());
    const first = await page();
    expect(first.map((c) => c.givenName)).toEqual(['Ann', 'Bob']);

    verifyKeptPages(false); // the check reads the page afresh: counted without it
    try {
      const { result, statements } = await statementsDuring(db().ds, page);
      expect(result).toEqual(first);
      const ours = statements.map((s) => s.sql).filter((q) => !/outbox/i.test(q) && q !== 'SELECT 1');
      expect(ours).toHaveLength(1);
      expect(ours[0]).toMatch(/contactChangeSeq/);
    } finally {
      verifyKeptPages(true);
    }

    // The other replica changes a contact; this one's kept page is at the position before.
    await ok(
      'mutation ($id: ID!) { updateContact(id: $id, input: { givenName: "Anna" }) { id } }',
      { id: a.id },
      replica,
    );
    expect((await page()).map((c) => c.givenName)).toEqual(['Anna', 'Bob']);
    await ok('mutation ($id: ID!) { deleteContact(id: $id) }', { id: a.id }, replica);
    expect((await page()).map((c) => c.givenName)).toEqual(['Bob']);
    await deliveryDone(db());

    // A delivery in the background: the page kept while the create waits at Google's door shows it SYNCED after.
    const held = await w.admin.addFault({ api: 'people', method: 'people.people.batchCreateContacts', hold: 'call' });
    await ok('mutation { createContact(input: { givenName: "Cal" }) { id } }');
    await w.admin.waitHeld(held.id);
    const states = async () => (await page()).map((c) => [c.givenName, c.syncState]);
    expect(await states()).toEqual([
      ['Bob', 'SYNCED'],
      ['Cal', 'PENDING'],
    ]);
    const hits = w.gw.services.contacts.pageStats().hits;
    await states();
    expect(w.gw.services.contacts.pageStats().hits).toBe(hits + 1);
    await w.admin.release(held.id);
    await deliveryDone(db());
    expect(await states()).toEqual([
      ['Bob', 'SYNCED'],
      ['Cal', 'SYNCED'],
    ]);
  });

  test("each agent's pages are its own", async () => {
    const other = await w.token('other@alpha.test');
    await resetContacts(w, db(), 'other@alpha.test');
    await ok('mutation { createContacts(input: [{ givenName: "Mine" }]) { id } }');
    const res = await w.gw.gql('mutation { createContacts(input: [{ givenName: "Theirs" }]) { id } }', {
      token: other,
    });
    expect(res.body.errors).toBeUndefined();
    for (let i = 0; i < 2; i++) {
      expect((await page()).map((c) => c.givenName)).toEqual(['Mine']);
      const theirs = await w.gw.gql(PAGE, { token: other });
      expect(theirs.body.data.contacts.edges.map((e: any) => e.node.givenName)).toEqual(['Theirs']);
    }
    await deliveryDone(db());
  });

  test("a label's delivery shows on a kept page: the reason it waits, then SYNCED with its resourceName", async () => {
    const [c] = (await ok('mutation { createContacts(input: [{ givenName: "Cy" }]) { id } }')).createContacts;
    await deliveryDone(db());
    // The label's create: refused once with a 503 (it waits, saying why), then parked before it runs; its members'
    // call parked too, so that nothing else the lane does moves the agent's feed meanwhile.
    const refused = await w.admin.addFault({
      api: 'people',
      method: 'people.contactGroups.create',
      status: 503,
      hold: 'call',
    });
    const retried = await w.admin.addFault({ api: 'people', method: 'people.contactGroups.create', hold: 'call' });
    const members = await w.admin.addFault({
      api: 'people',
      method: 'people.contactGroups.members.modify',
      hold: 'call',
    });
    const label = (await ok('mutation { createContactLabel(name: "Buyers") { id } }')).createContactLabel;
    await ok('mutation ($l: ID!, $c: [ID!]!) { addContactsToLabel(labelId: $l, contactIds: $c) { id } }', {
      l: label.id,
      c: [c.id],
    });
    await w.admin.waitHeld(refused.id);
    const labelOf = async () => (await page())[0].labels.filter((l: any) => l.name === 'Buyers');
    const hits = () => w.gw.services.contacts.pageStats().hits;
    expect(await labelOf()).toEqual([{ name: 'Buyers', resourceName: null, syncState: 'PENDING', syncError: null }]);
    let before = hits();
    await labelOf();
    expect(hits()).toBe(before + 1); // kept

    // The 503 is recorded on the label (markRun); the retry then lists Google's groups first (held here), so that
    // nothing else moves the agent's feed before the next read.
    const listing = await w.admin.addFault({ api: 'people', method: 'people.contactGroups.list', hold: 'call' });
    await w.admin.release(refused.id);
    await w.admin.waitHeld(listing.id);
    expect(await labelOf()).toEqual([
      { name: 'Buyers', resourceName: null, syncState: 'PENDING', syncError: expect.any(String) },
    ]);

    await w.admin.release(listing.id);
    await w.admin.waitHeld(retried.id); // the label sync committed; the create waits at Google's door
    await labelOf();
    before = hits();
    await labelOf();
    expect(hits()).toBe(before + 1); // kept
    await w.admin.release(retried.id);
    await w.admin.waitHeld(members.id); // the label is stored; its members wait
    expect(await labelOf()).toEqual([
      { name: 'Buyers', resourceName: expect.stringMatching(/^contactGroups\//), syncState: 'SYNCED', syncError: null },
    ]);
    await w.admin.release(members.id);
    await deliveryDone(db());
  });

  test('a change made in Google shows once the mirror syncs (a sync commits at a new position)', async () => {
    await ok('mutation { createContacts(input: [{ givenName: "Dee" }]) { id } }');
    await deliveryDone(db());
    expect((await page()).map((c) => c.givenName)).toEqual(['Dee']);
    await w.admin.request('POST', `/users/${AGENT}/contacts`, [{ names: [{ givenName: 'Eve' }] }]);
    // The next read syncs when the mirror is older than the freshness window: made so here (the time in the database
    // and the one this process remembers).
    await db().ds.query('UPDATE contact_sync SET lastSyncAt = NULL');
    w.gw.services.contactSync.forgetSyncTimes();
    expect((await page()).map((c) => c.givenName)).toEqual(['Dee', 'Eve']);
  });
});
