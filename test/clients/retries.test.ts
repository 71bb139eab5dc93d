/**
 * Mobile retries never duplicate (issue 15, item 3). A phone on a train sends a write, loses the answer and sends it
 * again. Creating mutations take an idempotency key with sendMail's contract: the same key answers the first result
 * and never creates twice; the same key with another input is CONFLICT; keys are per agent and compared exactly.
 * Updates repeated with the etag they already applied answer the current object, and repeated deletes answer true.
 *
 * The client here drops every first answer (it reads it, then acts as if it never came) and retries: the mirror's rows,
 * Google's contacts and events, and the emulator's request log must show one of each.
 */
import { describeEachDb } from '../support/db';
import { until } from '../support/wait';
import { deliveryDone, resetContacts, startWorld, type World } from '../support/world';

const AGENT = 'agent@alpha.test';
const OTHER = 'other@alpha.test';

describeEachDb('mobile retries never duplicate', (db) => {
  let w: World;
  let token: string;

  beforeAll(async () => {
    // Healthy Google: a mutation waits as long as it needs to answer SYNCED (no race with the machine's speed).
    w = await startWorld(db(), { env: { MUTATION_WAIT_MS: '60000' } });
    token = await w.token(AGENT);
  });
  afterAll(() => w.close());
  beforeEach(async () => {
    await w.admin.clearFaults();
    await resetContacts(w, db(), AGENT);
    await resetContacts(w, db(), OTHER);
    await db().ds.query('DELETE FROM idempotency_key');
    await w.admin.clearRequests();
  });

  const gql = (q: string, v?: Record<string, unknown>, as = token) => w.gw.gql(q, { token: as, variables: v });
  /**
   * Sends the operation twice, as a client that never saw the first answer: the answer of the retry is the one it gets.
   */
  const twice = async (q: string, v?: Record<string, unknown>, as = token) => {
    const dropped = await gql(q, v, as);
    const kept = await gql(q, v, as);
    return { dropped: dropped.body, kept: kept.body };
  };
  const rows = async (table: string, where = '1=1') =>
    Number((await db().ds.query(`SELECT COUNT(*) AS n FROM ${table} WHERE ${where}`))[0].n);
  const googleContacts = async (email = AGENT) =>
    (
      await w.admin.request<Array<{ names?: Array<{ givenName?: string }> }>>('GET', `/users/${email}/contacts`)
    ).body.map((p) => p.names?.[0]?.givenName);
  /** Google's live events of one title (the emulator keeps the calendar across tests: each test has its own titles). */
  const googleEvents = async (title: string) =>
    (await w.admin.request<Array<{ summary?: string; status?: string }>>('GET', `/users/${AGENT}/events`)).body
      .filter((e) => e.status !== 'cancelled' && e.summary === title)
      .map((e) => e.summary);
  const calls = async (method: string) =>
    (await w.admin.requests({ api: method.split('.')[0] === 'people' ? 'people' : 'calendar', method })).length;
  const idle = () =>
    until(
      'the outbox empty',
      async () => rows('outbox'),
      (n) => n === 0,
    );

  const CREATE_CONTACT =
    'mutation ($input: ContactInput!, $key: String) { createContact(input: $input, idempotencyKey: $key) { id givenName syncState } }';
  const CREATE_CONTACTS =
    'mutation ($input: [ContactInput!]!, $key: String) { createContacts(input: $input, idempotencyKey: $key) { id givenName } }';
  const CREATE_EVENT =
    'mutation ($input: EventInput!, $key: String) { createEvent(input: $input, idempotencyKey: $key) { id title etag } }';
  const event = (title: string) => ({ title, start: '2026-12-03T10:00:00Z', end: '2026-12-03T11:00:00Z' });

  test('createContact retried with its key: one contact in the mirror and in Google, one create call; the retry answers the first contact', async () => {
    const { dropped, kept } = await twice(CREATE_CONTACT, { input: { givenName: 'Train' }, key: 'c-0001' });
    expect(dropped.errors).toBeUndefined();
    expect(kept).toEqual({
      data: { createContact: { id: dropped.data.createContact.id, givenName: 'Train', syncState: 'SYNCED' } },
    });
    await idle();
    expect(await rows('contact')).toBe(1);
    expect(await googleContacts()).toEqual(['Train']);
    expect(await calls('people.people.batchCreateContacts')).toBe(1);
  });

  test('createContacts retried with its key: the same contacts, in the same order, created once', async () => {
    const input = [{ givenName: 'Ann' }, { givenName: 'Bo' }, { givenName: 'Cy' }];
    const { dropped, kept } = await twice(CREATE_CONTACTS, { input, key: 'bulk-1' });
    expect(kept.data.createContacts).toEqual(dropped.data.createContacts);
    expect(kept.data.createContacts.map((c: { givenName: string }) => c.givenName)).toEqual(['Ann', 'Bo', 'Cy']);
    await idle();
    expect(await rows('contact')).toBe(3);
    expect((await googleContacts()).sort()).toEqual(['Ann', 'Bo', 'Cy']);
  });

  test('createEvent retried with its key: one event in Google, one insert call, the same id and etag', async () => {
    const { dropped, kept } = await twice(CREATE_EVENT, { input: event('Showing'), key: 'e-0001' });
    expect(dropped.errors).toBeUndefined();
    expect(kept.data.createEvent).toEqual(dropped.data.createEvent);
    await idle();
    expect(await googleEvents('Showing')).toEqual(['Showing']);
    expect(await calls('calendar.events.insert')).toBe(1);
  });

  test('two sends with one key at once (the retry overtook the first): one contact, one event', async () => {
    const [a, b] = await Promise.all([
      gql(CREATE_CONTACT, { input: { givenName: 'Race' }, key: 'race-1' }),
      gql(CREATE_CONTACT, { input: { givenName: 'Race' }, key: 'race-1' }),
    ]);
    expect(b.body.data.createContact.id).toBe(a.body.data.createContact.id);
    const [x, y] = await Promise.all([
      gql(CREATE_EVENT, { input: event('Race'), key: 'race-2' }),
      gql(CREATE_EVENT, { input: event('Race'), key: 'race-2' }),
    ]);
    expect(y.body.data.createEvent.id).toBe(x.body.data.createEvent.id);
    await idle();
    expect(await googleContacts()).toEqual(['Race']);
    expect(await googleEvents('Race')).toEqual(['Race']);
  });

  test('many keyed creates at once, distinct keys and one key sent several times: every one answered, nothing twice (a range delete in the creating transaction deadlocked on MariaDB)', async () => {
    const events = await Promise.all(
      Array.from({ length: 12 }, (_, i) => gql(CREATE_EVENT, { input: event('Crowd'), key: `crowd-e-${i}` })),
    );
    expect(events.map((r) => r.body.errors ?? null)).toEqual(Array(12).fill(null));
    const contacts = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        gql(CREATE_CONTACT, { input: { givenName: `Crowd${i}` }, key: `crowd-c-${i}` }),
      ),
    );
    expect(contacts.map((r) => r.body.errors ?? null)).toEqual(Array(12).fill(null));
    for (let round = 0; round < 4; round++) {
      const same = await Promise.all(
        Array.from({ length: 4 }, () => gql(CREATE_EVENT, { input: event('Same'), key: `same-${round}` })),
      );
      expect(same.map((r) => r.body.errors ?? null)).toEqual(Array(4).fill(null));
      expect(new Set(same.map((r) => r.body.data.createEvent.id)).size).toBe(1);
      const sameContact = await Promise.all(
        Array.from({ length: 4 }, () =>
          gql(CREATE_CONTACT, { input: { givenName: `Same${round}` }, key: `same-c-${round}` }),
        ),
      );
      expect(new Set(sameContact.map((r) => r.body.data?.createContact?.id)).size).toBe(1);
    }
    await idle();
    expect(await googleEvents('Crowd')).toHaveLength(12);
    expect(await googleEvents('Same')).toHaveLength(4);
    expect(await rows('contact')).toBe(16);
  });

  test("a key is kept 30 days: past that the same request creates again, and the agent's expired keys are forgotten", async () => {
    const first = (await gql(CREATE_CONTACT, { input: { givenName: 'Old' }, key: 'old-1' })).body.data.createContact;
    await gql(CREATE_CONTACT, { input: { givenName: 'Older' }, key: 'old-2' });
    const past = new Date(Date.now() - 31 * 86_400_000);
    await db().ds.createQueryBuilder().update('idempotency_key').set({ createdAt: past }).execute();
    const again = (await gql(CREATE_CONTACT, { input: { givenName: 'Old' }, key: 'old-1' })).body.data.createContact;
    expect(again.id).not.toBe(first.id);
    // The create with the expired key made it new again; the other expired key went after it.
    expect((await db().ds.query('SELECT operation FROM idempotency_key')).length).toBe(1);
  });

  test('the same key with another input is CONFLICT and writes nothing; another key creates', async () => {
    await gql(CREATE_CONTACT, { input: { givenName: 'First' }, key: 'k-1' });
    const again = await gql(CREATE_CONTACT, { input: { givenName: 'Second' }, key: 'k-1' });
    expect(again.body.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT', field: 'idempotencyKey' });
    expect(again.body.data).toBeNull();
    // One key, one operation: a key used for a contact is not reused for an event either.
    const asEvent = await gql(CREATE_EVENT, { input: event('Reused'), key: 'k-1' });
    expect(asEvent.body.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    await idle();
    expect(await rows('contact')).toBe(1);
    expect(await googleEvents('Reused')).toEqual([]);
    const other = await gql(CREATE_CONTACT, { input: { givenName: 'Second' }, key: 'k-2' });
    expect(other.body.data.createContact.givenName).toBe('Second');
  });

  test('keys are per agent and compared exactly (case and all)', async () => {
    const mine = await gql(CREATE_CONTACT, { input: { givenName: 'Mine' }, key: 'Shared-Key' });
    const theirs = await gql(CREATE_CONTACT, { input: { givenName: 'Mine' }, key: 'Shared-Key' }, await w.token(OTHER));
    expect(theirs.body.data.createContact.id).not.toBe(mine.body.data.createContact.id);
    const lower = await gql(CREATE_CONTACT, { input: { givenName: 'Mine' }, key: 'shared-key' });
    expect(lower.body.data.createContact.id).not.toBe(mine.body.data.createContact.id);
    await idle();
    expect(await googleContacts(AGENT)).toEqual(['Mine', 'Mine']);
    expect(await googleContacts(OTHER)).toEqual(['Mine']);
  });

  test('a key that is not 1 to 128 printable ASCII characters is BAD_USER_INPUT naming it, nothing written', async () => {
    for (const key of ['', 'has space', 'x'.repeat(129), 'naïve']) {
      const r = await gql(CREATE_CONTACT, { input: { givenName: 'Bad' }, key });
      expect(r.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'idempotencyKey' });
    }
    expect(await rows('contact')).toBe(0);
  });

  test('an update repeated with the etag it already applied answers the current contact; a stale etag with another change is still CONFLICT', async () => {
    const c = (await gql(CREATE_CONTACT, { input: { givenName: 'Ed' } })).body.data.createContact;
    const read = (await gql('query ($id: ID!) { contact(id: $id) { etag } }', { id: c.id })).body.data.contact;
    const UPDATE =
      'mutation ($id: ID!, $input: ContactPatch!) { updateContact(id: $id, input: $input) { id familyName etag } }';
    const { dropped, kept } = await twice(UPDATE, { id: c.id, input: { etag: read.etag, familyName: 'Once' } });
    expect(dropped.errors).toBeUndefined();
    expect(kept).toEqual({ data: { updateContact: { id: c.id, familyName: 'Once', etag: expect.any(String) } } });
    const stale = await gql(UPDATE, { id: c.id, input: { etag: read.etag, familyName: 'Other' } });
    expect(stale.body.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    await idle();
    expect(await calls('people.people.batchUpdateContacts')).toBe(1);
  });

  test('an event update repeated with the etag it already applied answers the current event', async () => {
    const e = (await gql(CREATE_EVENT, { input: event('To move') })).body.data.createEvent;
    await idle();
    const etag = (await gql('query ($id: ID!) { event(id: $id) { etag } }', { id: e.id })).body.data.event.etag;
    const UPDATE = 'mutation ($id: ID!, $input: EventPatch!) { updateEvent(id: $id, input: $input) { id title } }';
    const { dropped, kept } = await twice(UPDATE, { id: e.id, input: { etag, title: 'Moved' } });
    expect(dropped.errors).toBeUndefined();
    expect(kept).toEqual({ data: { updateEvent: { id: e.id, title: 'Moved' } } });
    const stale = await gql(UPDATE, { id: e.id, input: { etag, title: 'Elsewhere' } });
    expect(stale.body.errors?.[0]?.extensions?.code).toBe('CONFLICT');
  });

  test('a delete repeated answers true, before and after Google has it; an id never known is still NOT_FOUND', async () => {
    const c = (await gql(CREATE_CONTACT, { input: { givenName: 'Gone' } })).body.data.createContact;
    const { dropped, kept } = await twice('mutation ($id: ID!) { deleteContact(id: $id) }', { id: c.id });
    expect([dropped, kept]).toEqual([{ data: { deleteContact: true } }, { data: { deleteContact: true } }]);
    await idle();
    expect(await googleContacts()).toEqual([]);
    expect((await gql('mutation ($id: ID!) { deleteContact(id: $id) }', { id: c.id })).body).toEqual({
      data: { deleteContact: true },
    });
    expect((await gql('mutation ($ids: [ID!]!) { deleteContacts(ids: $ids) }', { ids: [c.id, c.id] })).body).toEqual({
      data: { deleteContacts: true },
    });
    const unknown = await gql('mutation { deleteContact(id: "00000000-0000-4000-8000-000000000000") }');
    expect(unknown.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(await calls('people.people.batchDeleteContacts')).toBe(1);

    const e = (await gql(CREATE_EVENT, { input: event('To delete') })).body.data.createEvent;
    const again = await twice('mutation ($id: ID!) { deleteEvent(id: $id) }', { id: e.id });
    expect([again.dropped, again.kept]).toEqual([{ data: { deleteEvent: true } }, { data: { deleteEvent: true } }]);
    await idle();
    expect((await gql('mutation ($id: ID!) { deleteEvent(id: $id) }', { id: e.id })).body).toEqual({
      data: { deleteEvent: true },
    });
    expect(await googleEvents('To delete')).toEqual([]);
    expect((await gql('mutation { deleteEvent(id: "abcdefabcdef0123") }')).body.errors?.[0]?.extensions?.code).toBe(
      'NOT_FOUND',
    );
  });

  test('the contact a key created was deleted since: the retry says so (NOT_FOUND) and creates nothing', async () => {
    const c = (await gql(CREATE_CONTACT, { input: { givenName: 'Brief' }, key: 'brief-1' })).body.data.createContact;
    await gql('mutation ($id: ID!) { deleteContact(id: $id) }', { id: c.id });
    const again = await gql(CREATE_CONTACT, { input: { givenName: 'Brief' }, key: 'brief-1' });
    expect(again.body.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND', field: 'idempotencyKey' });
    await idle();
    expect(await googleContacts()).toEqual([]);
  });
});

describeEachDb('repeated deletes of events Google never had', (db) => {
  let w: World;
  let token: string;

  beforeAll(async () => {
    w = await startWorld(db(), { env: { MUTATION_WAIT_MS: '0' } }); // writes answer PENDING at once
    token = await w.token(AGENT);
  });
  afterAll(() => w.close());
  beforeEach(() => w.admin.clearFaults());

  const gql = async (q: string, v?: Record<string, unknown>) => (await w.gw.gql(q, { token, variables: v })).body;
  const idle = () => deliveryDone(db());
  const create = async (title: string) =>
    (
      await gql(
        'mutation ($t: String!) { createEvent(input: { title: $t, start: "2026-12-05T10:00:00Z", end: "2026-12-05T11:00:00Z" }) { id syncState } }',
        { t: title },
      )
    ).data.createEvent;
  const del = (id: string) => gql('mutation ($id: ID!) { deleteEvent(id: $id) }', { id });

  test('created and deleted before Google had it: the delete is done, and repeating it answers true', async () => {
    await w.admin.addFault({ api: 'calendar', method: 'calendar.events.insert', status: 503, unlimited: true });
    const e = await create('Never inserted');
    expect(e.syncState).toBe('PENDING');
    expect(await del(e.id)).toEqual({ data: { deleteEvent: true } });
    await w.admin.clearFaults();
    await idle();
    expect(await del(e.id)).toEqual({ data: { deleteEvent: true } });
    expect((await gql('query ($id: ID!) { event(id: $id) { id } }', { id: e.id })).data.event).toBeNull();
  });

  test('a create Google refused, deleted (forgotten), then deleted again: true', async () => {
    await w.admin.addFault({ api: 'calendar', method: 'calendar.events.insert', status: 400, count: 1 });
    const e = await create('Refused');
    await until(
      'the create refused',
      async () => (await gql('query ($id: ID!) { event(id: $id) { syncState } }', { id: e.id })).data.event?.syncState,
      (s) => s === 'FAILED',
    );
    expect(await del(e.id)).toEqual({ data: { deleteEvent: true } });
    expect(await del(e.id)).toEqual({ data: { deleteEvent: true } });
    expect((await gql('query ($id: ID!) { event(id: $id) { id } }', { id: e.id })).data.event).toBeNull();
    expect(
      (await gql('{ syncStatus { calendar { failedWrites { eventId } } } }')).data.syncStatus.calendar.failedWrites,
    ).toEqual([]);
  });
});
