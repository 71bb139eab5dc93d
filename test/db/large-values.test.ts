/**
 * Issue 13, item 4: a value Google keeps never blocks an agent's sync. On MySQL the mirror's names were
 * varchar(200), emails' index varchar(320) and the notes and the person JSON 64 KB TEXT: one such contact failed its
 * whole page on every sync and the sync token never advanced. Now each value is stored whole (readable in full) and the
 * rest of the page imports; a page of large contacts goes to the database in statements that fit its packet limit.
 * The same for the calendar: a Google event copy larger than 64 KB failed the change feed's page, and an agent could
 * not retitle an event whose description Google kept at 100 KB.
 */
import { createHash } from 'node:crypto';
import { IsNull } from 'typeorm';
import { Contact } from '../../src/entities';
import { describeEachDb } from '../support/db';
import { resetContacts, startWorld, type World } from '../support/world';

const AGENT = 'agent@alpha.test';
/** A long text as its length and hash, so a failed comparison prints two lines, not 100 KB. */
const digest = (s: string | null | undefined) =>
  typeof s === 'string' ? `${s.length} chars, sha256 ${createHash('sha256').update(s).digest('hex').slice(0, 16)}` : s;

describeEachDb('values larger than our columns used to hold', (db) => {
  let w: World;
  let token: string;

  beforeAll(async () => {
    w = await startWorld(db(), { env: { MUTATION_WAIT_MS: '60000' } });
    token = await w.token(AGENT);
  });
  afterAll(() => w.close());
  beforeEach(async () => {
    await w.admin.clearFaults();
    await resetContacts(w, db(), AGENT);
    for (const t of ['calendar_event', 'calendar_change', 'calendar_known', 'calendar_sync'])
      await db().ds.query(`DELETE FROM ${t}`);
    await w.admin.clearRequests();
  });

  const gql = (query: string, variables?: Record<string, unknown>) => w.gw.gql(query, { token, variables });
  const seedGoogle = (persons: unknown) => w.admin.request('POST', `/users/${AGENT}/contacts`, persons);
  const listCalls = async () =>
    (await w.admin.requests({ api: 'people', method: 'people.people.connections.list' })).filter(
      (r) => r.user === AGENT,
    );
  const sync = async () => {
    const r = await gql('mutation { syncContacts { contacts { lastSyncAt lastError } } }');
    expect(r.body.errors).toBeUndefined();
    return r.body.data.syncContacts.contacts;
  };

  test('a 300-character name, a 400-character email and a 100 KB note import whole, with the rest of their page; the sync token advances', async () => {
    const longName = 'Ä'.repeat(150) + 'b'.repeat(150); // 300 characters, 450 bytes in UTF-8
    const longEmail = `${'l'.repeat(380)}@long.example`; // not an address anyone can mail, but Google keeps it
    const note = 'Ω note line. '.repeat(8000).slice(0, 100_000); // 100,000 characters, more than 64 KB in UTF-8
    await seedGoogle([
      { names: [{ givenName: 'Alice', familyName: 'Before' }], emailAddresses: [{ value: 'alice@x.test' }] },
      {
        names: [{ givenName: longName, familyName: 'Large' }],
        emailAddresses: [{ value: longEmail }, { value: 'large@x.test' }],
        organizations: [{ name: 'O'.repeat(300), title: 'T'.repeat(300) }],
        biographies: [{ value: note, contentType: 'TEXT_PLAIN' }],
      },
      { names: [{ givenName: 'Zed', familyName: 'After' }], emailAddresses: [{ value: 'zed@x.test' }] },
    ]);
    expect((await sync()).lastError).toBeNull();

    const list = await gql(
      '{ contacts(first: 10) { totalCount edges { node { id givenName familyName organization jobTitle notes emails { value } syncState } } } }',
    );
    expect(list.body.errors).toBeUndefined();
    expect(list.body.data.contacts.totalCount).toBe(3);
    const large = list.body.data.contacts.edges.map((e: any) => e.node).find((n: any) => n.familyName === 'Large');
    expect({ ...large, notes: digest(large.notes) }).toMatchObject({
      givenName: longName,
      organization: 'O'.repeat(300),
      jobTitle: 'T'.repeat(300),
      notes: digest(note),
      syncState: 'SYNCED',
    });
    expect(large.emails.map((e: any) => e.value)).toEqual([longEmail, 'large@x.test']);
    // The address index still finds the contact by its real address.
    const rows = await db().ds.query('SELECT email FROM contact_email WHERE contactId = ?', [large.id]);
    expect(rows.map((r: { email: string }) => r.email)).toContain('large@x.test');

    // The token advanced: the next sync is incremental (syncToken sent) and imports a change made since.
    await seedGoogle([{ names: [{ givenName: 'New', familyName: 'Later' }] }]);
    await w.admin.clearRequests();
    await sync();
    const calls = await listCalls();
    expect(calls).toHaveLength(1);
    expect(new URLSearchParams(calls[0].query ?? '').get('syncToken')).toBeTruthy();
    expect((await gql('{ contacts { totalCount } }')).body.data.contacts.totalCount).toBe(4);
  });

  test("two addresses the database's collation holds equal (ü and u, ß and ss) import, and the contact can be edited", async () => {
    await seedGoogle([
      {
        names: [{ givenName: 'Anna', familyName: 'Müller' }],
        emailAddresses: [
          { value: 'anna.müller@x.de' },
          { value: 'anna.muller@x.de' },
          { value: 'strasse@x.de' },
          { value: 'straße@x.de' },
        ],
      },
    ]);
    expect((await sync()).lastError).toBeNull();
    const list = await gql('{ contacts(first: 5) { edges { node { id emails { value } } } } }');
    const anna = list.body.data.contacts.edges[0].node;
    expect(anna.emails.map((e: any) => e.value)).toEqual([
      'anna.müller@x.de',
      'anna.muller@x.de',
      'strasse@x.de',
      'straße@x.de',
    ]);
    const upd = await gql(
      'mutation ($id: ID!) { updateContact(id: $id, input: { emails: [{ value: "anna.müller@x.de" }, { value: "anna.muller@x.de" }] }) { syncState } }',
      { id: anna.id },
    );
    expect(upd.body.errors).toBeUndefined();
    expect(upd.body.data.updateContact.syncState).toBe('SYNCED');
  });

  test('a page of 60 contacts with 300 KB notes each (18 MB) imports, and an edit in the CRM keeps each note whole in Google', async () => {
    const noteOf = (i: number) => `${i}:`.padEnd(300_000, 'n');
    await seedGoogle(
      Array.from({ length: 60 }, (_, i) => ({
        names: [{ givenName: `P${String(i).padStart(2, '0')}` }],
        biographies: [{ value: noteOf(i), contentType: 'TEXT_PLAIN' }],
      })),
    );
    expect((await sync()).lastError).toBeNull();
    const stored = await db()
      .ds.getRepository(Contact)
      .find({ where: { deletedAt: IsNull() } });
    expect(stored).toHaveLength(60);
    expect(stored.every((c) => c.notes === noteOf(Number(c.givenName!.slice(1))))).toBe(true);

    const p07 = stored.find((c) => c.givenName === 'P07')!;
    const upd = await gql(
      'mutation ($id: ID!, $p: ContactPatch!) { updateContact(id: $id, input: $p) { syncState notes } }',
      { id: p07.id, p: { phones: [{ value: '+1 206 555 0107' }] } },
    );
    expect(upd.body.errors).toBeUndefined();
    expect({ ...upd.body.data.updateContact, notes: digest(upd.body.data.updateContact.notes) }).toEqual({
      syncState: 'SYNCED',
      notes: digest(noteOf(7)),
    });
    const google = (await w.admin.request<any[]>('GET', `/users/${AGENT}/contacts`)).body.find(
      (p) => p.resourceName === p07.resourceName,
    );
    expect(digest(google.biographies[0].value)).toBe(digest(noteOf(7)));
    expect(google.phoneNumbers[0].value).toBe('+1 206 555 0107');
  });

  test('an event whose description Google keeps at 100 KB reaches the change feed, and retitling it in the CRM keeps the description whole', async () => {
    const description = 'Ω directions. '.repeat(8000).slice(0, 100_000);
    const seeded = (
      await w.admin.request<{ id: string }>('POST', `/users/${AGENT}/events`, {
        summary: 'Open house',
        description,
        start: { dateTime: '2026-12-12T10:00:00Z' },
        end: { dateTime: '2026-12-12T12:00:00Z' },
      })
    ).body;
    const synced = await gql('mutation { syncCalendar { calendar { lastSyncAt lastError } } }');
    expect(synced.body.errors).toBeUndefined();
    expect(synced.body.data.syncCalendar.calendar.lastError).toBeNull();
    const feed = await gql(
      '{ eventChanges(first: 10) { edges { node { eventId status event { title description } } } } }',
    );
    expect(feed.body.errors).toBeUndefined();
    expect(
      feed.body.data.eventChanges.edges.map((e: any) => ({
        ...e.node,
        event: { ...e.node.event, description: digest(e.node.event.description) },
      })),
    ).toEqual([
      { eventId: seeded.id, status: 'confirmed', event: { title: 'Open house', description: digest(description) } },
    ]);

    const upd = await gql(
      'mutation ($id: ID!) { updateEvent(id: $id, input: { title: "Open house (moved)" }) { syncState title description } }',
      { id: seeded.id },
    );
    expect(upd.body.errors).toBeUndefined();
    expect({ ...upd.body.data.updateEvent, description: digest(upd.body.data.updateEvent.description) }).toEqual({
      syncState: 'SYNCED',
      title: 'Open house (moved)',
      description: digest(description),
    });
    const google = (await w.admin.request<any[]>('GET', `/users/${AGENT}/events`)).body.find((e) => e.id === seeded.id);
    expect({ summary: google.summary, description: digest(google.description) }).toEqual({
      summary: 'Open house (moved)',
      description: digest(description),
    });
  });
});
