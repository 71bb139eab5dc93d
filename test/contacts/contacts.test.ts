/**
 * Two-way contact sync, end to end: GraphQL → gateway → outbox → emulator,
 * and emulator changes → sync → mirror. Call counts come from the emulator's
 * request log; "the same contacts on both sides" compares the emulator's
 * GET /users/{email}/contacts with the mirror.
 */
import { Contact, OutboxRow } from '../../src/entities';
import { describeEachDb } from '../support/db';
import { until } from '../support/wait';
import { resetContacts, startWorld, type World } from '../support/world';

const AGENT = 'agent@alpha.test';
const FIELDS =
  'id resourceName etag displayName givenName familyName emails { value type } phones { value type } organization jobTitle notes syncState syncError conflicts { field winner }';

describeEachDb('contacts: two-way sync', (db) => {
  let w: World;
  let token: string;

  beforeAll(async () => {
    // A healthy write answers SYNCED; the wait is long so that never depends on the machine's speed.
    w = await startWorld(db(), { env: { MUTATION_WAIT_MS: '60000' } });
    token = await w.token(AGENT);
  });
  afterAll(() => w.close());
  beforeEach(async () => {
    await w.admin.clearFaults();
    await resetContacts(w, db(), AGENT);
    await w.admin.clearRequests();
  });

  const gql = (query: string, variables?: Record<string, unknown>) => w.gw.gql(query, { token, variables });
  const googleContacts = async () => (await w.admin.request<any[]>('GET', `/users/${AGENT}/contacts`)).body;
  const peopleCalls = async (method?: string) =>
    (await w.admin.requests({ api: 'people', ...(method ? { method } : {}) })).filter((r) => r.user === AGENT);
  const seedGoogle = (persons: unknown) => w.admin.request('POST', `/users/${AGENT}/contacts`, persons);

  /** Google's contacts and the mirror hold the same people (by resourceName and fields). */
  async function expectSameOnBothSides() {
    const google = await googleContacts();
    const mirror = await db()
      .ds.getRepository(Contact)
      .find({ where: { agentId: await agentId() } });
    const live = mirror.filter((c) => !c.deletedAt);
    expect(live.map((c) => c.resourceName).sort()).toEqual(google.map((p) => p.resourceName).sort());
    for (const p of google) {
      const c = live.find((x) => x.resourceName === p.resourceName)!;
      expect(c.givenName ?? null).toEqual(p.names?.[0]?.givenName ?? null);
      expect(JSON.parse(c.emails).map((e: { value: string }) => e.value)).toEqual(
        (p.emailAddresses ?? []).map((e: { value: string }) => e.value),
      );
    }
  }
  const agentId = async () => (await db().ds.query('SELECT id FROM agent WHERE email = ?', [AGENT]))[0].id as string;

  test("first sync imports Google's contacts in one call (and one for the labels); nothing changed: exactly one call", async () => {
    await seedGoogle(
      Array.from({ length: 1000 }, (_, i) => ({
        names: [{ givenName: `G${String(i).padStart(4, '0')}` }],
        emailAddresses: [{ value: `g${i}@x.test` }],
      })),
    );
    await w.admin.clearRequests();
    const s = await gql('mutation { syncContacts { contacts { lastSyncAt lastFullSyncAt staleSince } } }');
    expect(s.body.errors).toBeUndefined();
    expect((await peopleCalls()).map((c) => c.method).sort()).toEqual([
      'people.contactGroups.list',
      'people.people.connections.list',
    ]);
    const list = await gql(
      `{ contacts(first: 5) { totalCount edges { node { displayName syncState } } pageInfo { hasNextPage } } }`,
    );
    expect(list.body.data.contacts.totalCount).toBe(1000);
    expect(list.body.data.contacts.edges.map((e: any) => e.node.displayName)).toEqual([
      'G0000',
      'G0001',
      'G0002',
      'G0003',
      'G0004',
    ]);
    await w.admin.clearRequests();
    await gql('mutation { syncContacts { contacts { lastSyncAt } } }');
    expect((await peopleCalls()).map((c) => c.method)).toEqual(['people.people.connections.list']);
    await expectSameOnBothSides();
  });

  test('a bulk create indexes each contact under its own emails (TypeORM once shuffled the ids of a multi-row insert)', async () => {
    // Batches of several sizes: whether the database answers the read-back in insertion order depends on its plan.
    const input = [5, 2, 40, 3].flatMap((n, b) =>
      Array.from({ length: n }, (_, i) => ({
        givenName: `Bulk${b}x${i}`,
        emails: [{ value: `bulk${b}x${i}@x.test` }],
      })),
    );
    let at = 0;
    for (const n of [5, 2, 40, 3]) {
      const batch = input.slice(at, (at += n));
      const made = (
        await gql('mutation ($i: [ContactInput!]!) { createContacts(input: $i) { id givenName emails { value } } }', {
          i: batch,
        })
      ).body.data.createContacts;
      expect(
        made.map((c: { givenName: string; emails: { value: string }[] }) => [c.givenName, c.emails[0].value]),
      ).toEqual(batch.map((c) => [c.givenName, c.emails[0].value]));
    }
    const index: { givenName: string; email: string }[] = await db().ds.query(
      'SELECT c.givenName AS givenName, e.email AS email FROM contact c JOIN contact_email e ON e.contactId = c.id',
    );
    expect(index).toHaveLength(50);
    expect(index.filter((r) => r.email !== `${r.givenName.toLowerCase()}@x.test`)).toEqual([]);
  });

  test('createContact reaches Google with our id in clientData and answers SYNCED; the next sync does not echo it back as new', async () => {
    const res = await gql(`mutation ($i: ContactInput!) { createContact(input: $i) { ${FIELDS} } }`, {
      i: {
        givenName: 'Zoë',
        familyName: 'Buyer',
        emails: [{ value: 'zoe@buyer.test', type: 'home' }],
        phones: [{ value: '+1 206 555 0101', type: 'mobile' }],
        organization: 'Buyers Inc',
        jobTitle: 'CEO',
        notes: 'likes lofts',
      },
    });
    expect(res.body.errors).toBeUndefined();
    const c = res.body.data.createContact;
    expect(c).toMatchObject({
      displayName: 'Zoë Buyer',
      syncState: 'SYNCED',
      resourceName: expect.stringMatching(/^people\/c\d+$/),
    });
    const [p] = await googleContacts();
    expect(p.resourceName).toBe(c.resourceName);
    expect(p.clientData).toEqual([expect.objectContaining({ key: 'engageContactId', value: c.id })]);
    expect(p.names[0]).toMatchObject({ givenName: 'Zoë', familyName: 'Buyer' });
    expect((await peopleCalls('people.people.batchCreateContacts')).length).toBe(1);
    await gql('mutation { syncContacts { contacts { lastSyncAt } } }');
    const list = await gql('{ contacts { totalCount } }');
    expect(list.body.data.contacts.totalCount).toBe(1);
    await expectSameOnBothSides();
  });

  test('updates and deletes travel both ways', async () => {
    const created = (
      await gql(
        `mutation { createContact(input: { givenName: "Ann", emails: [{ value: "ann@x.test" }] }) { id etag resourceName } }`,
      )
    ).body.data.createContact;
    const upd = await gql(
      `mutation ($id: ID!, $e: String) { updateContact(id: $id, input: { familyName: "Lee", etag: $e }) { familyName syncState etag } }`,
      { id: created.id, e: created.etag },
    );
    expect(upd.body.data.updateContact).toMatchObject({ familyName: 'Lee', syncState: 'SYNCED' });
    expect((await googleContacts())[0].names[0]).toMatchObject({ givenName: 'Ann', familyName: 'Lee' });
    // Edited in Google → the mirror follows on the next sync.
    await w.admin.request('PATCH', `/users/${AGENT}/contacts/${created.resourceName.replace('people/', '')}`, {
      names: [{ givenName: 'Anne', familyName: 'Lee' }],
    });
    await gql('mutation { syncContacts { contacts { lastSyncAt } } }');
    expect(
      (await gql(`query ($id: ID!) { contact(id: $id) { givenName syncState } }`, { id: created.id })).body.data
        .contact,
    ).toEqual({ givenName: 'Anne', syncState: 'SYNCED' });
    // Deleted in Google → gone from the CRM.
    await w.admin.request('DELETE', `/users/${AGENT}/contacts/${created.resourceName.replace('people/', '')}`);
    await gql('mutation { syncContacts { contacts { lastSyncAt } } }');
    expect(
      (await gql(`query ($id: ID!) { contact(id: $id) { id } }`, { id: created.id })).body.data.contact,
    ).toBeNull();
    // Deleted in the CRM → gone from Google.
    const second = (await gql(`mutation { createContact(input: { givenName: "Bo" }) { id } }`)).body.data.createContact;
    expect(
      (await gql(`mutation ($id: ID!) { deleteContact(id: $id) }`, { id: second.id })).body.data.deleteContact,
    ).toBe(true);
    expect(await googleContacts()).toEqual([]);
    await expectSameOnBothSides();
  });

  test("deleted in Google while the CRM edits it: an edit committed between the sync's check and its delete wins and goes back to Google", async () => {
    const created = (
      await gql(
        `mutation { createContact(input: { givenName: "Cy", emails: [{ value: "cy@x.test" }] }) { id resourceName syncState } }`,
      )
    ).body.data.createContact;
    expect(created.syncState).toBe('SYNCED');
    await w.admin.request('DELETE', `/users/${AGENT}/contacts/${created.resourceName.replace('people/', '')}`);
    // The sync has seen the deletion and found no unsynced edit; the CRM's edit commits right before the sync acts.
    const ds = w.gw.services.ds;
    const realTransaction = ds.transaction.bind(ds);
    let edited = false;
    const spy = jest.spyOn(ds, 'transaction').mockImplementationOnce((async (...args: unknown[]) => {
      await ds.query('UPDATE contact SET version = version + 1, givenName = ? WHERE id = ?', ['Cyrus', created.id]);
      edited = true;
      return (realTransaction as (...a: unknown[]) => Promise<unknown>)(...args);
    }) as typeof ds.transaction);
    try {
      await gql('mutation { syncContacts { contacts { lastSyncAt } } }');
    } finally {
      spy.mockRestore();
    }
    expect(edited).toBe(true);
    // Before: the row was deleted with the edit in it. Now the edit wins: kept, and created again in Google.
    const kept = (await gql(`query ($id: ID!) { contact(id: $id) { givenName } }`, { id: created.id })).body.data
      .contact;
    expect(kept).toEqual({ givenName: 'Cyrus' });
    await until(
      'the edited contact back in Google',
      () => googleContacts(),
      (g: any[]) => g.some((p) => p.names?.[0]?.givenName === 'Cyrus'),
    );
  });

  test('a batch Google refuses (400) is split: only the refused contact fails, the others reach Google', async () => {
    await w.admin.addFault({ api: 'people', method: 'people.people.batchCreateContacts', status: 400, count: 2 });
    const res = await gql(
      'mutation { createContacts(input: [{ givenName: "Bad" }, { givenName: "Good1" }, { givenName: "Good2" }]) { id givenName syncState syncError } }',
    );
    const byName = Object.fromEntries(res.body.data.createContacts.map((c: { givenName: string }) => [c.givenName, c]));
    expect(byName.Bad).toMatchObject({
      syncState: 'FAILED',
      syncError: expect.stringMatching(/^Google refused the change/),
    });
    expect([byName.Good1.syncState, byName.Good2.syncState]).toEqual(['SYNCED', 'SYNCED']);
    expect(
      (await googleContacts()).map((p: { names: { givenName: string }[] }) => p.names[0].givenName).sort(),
    ).toEqual(['Good1', 'Good2']);
    expect((await peopleCalls('people.people.batchCreateContacts')).map((c) => c.status)).toEqual([400, 400, 200, 200]);
    expect(
      (await gql('{ syncStatus { contacts { failedChanges pendingChanges } } }')).body.data.syncStatus.contacts,
    ).toEqual({ failedChanges: 1, pendingChanges: 0 });
  });

  test('a stale etag answers CONFLICT with the current version and writes nothing', async () => {
    const created = (await gql(`mutation { createContact(input: { givenName: "Cy" }) { id etag } }`)).body.data
      .createContact;
    await gql(`mutation ($id: ID!) { updateContact(id: $id, input: { givenName: "Cyrus" }) { id } }`, {
      id: created.id,
    });
    const row = async () => db().ds.getRepository(Contact).findOneByOrFail({ id: created.id });
    const outbox = async () =>
      db()
        .ds.getRepository(OutboxRow)
        .find({ where: { entityId: created.id }, order: { seq: 'ASC' } });
    const before = { row: await row(), outbox: await outbox() };
    expect(before.row.givenName).toBe('Cyrus');
    await w.admin.clearRequests();
    const res = await gql(
      `mutation ($id: ID!, $e: String) { updateContact(id: $id, input: { givenName: "Cyril", etag: $e }) { id } }`,
      { id: created.id, e: created.etag },
    );
    expect(res.body.errors![0].extensions).toMatchObject({ code: 'CONFLICT', current: { givenName: 'Cyrus' } });
    // Nothing written: the mirror row is as it was (fields, version), no outbox row was added, Google was not called.
    expect(await row()).toEqual(before.row);
    expect(await outbox()).toEqual(before.outbox);
    expect(await peopleCalls()).toEqual([]);
  });
});
