/**
 * A contact's details beyond names, emails and phones (name parts, nicknames, addresses, birthday, events, relations,
 * urls), end to end on both databases: written through GraphQL they land in Google, edited in Google they show here,
 * edits on both sides merge field by field, street and city are searched, bad input is refused with nothing written,
 * and a mirror made by a release that did not read them is filled in by one full sync.
 */
import { Contact, ContactSyncRecord, OutboxRow } from '../../src/entities';
import { describeEachDb } from '../support/db';
import { until } from '../support/wait';
import { FAST_OUTBOX_ENV, resetContacts, startWorld, type World } from '../support/world';

const AGENT = 'agent@alpha.test';
const DATE = 'year month day';
const DETAILS = `middleName honorificPrefix honorificSuffix nicknames { value type }
  addresses { type formattedValue poBox streetAddress extendedAddress city region postalCode country countryCode }
  birthday { date { ${DATE} } text } events { date { ${DATE} } type } relations { person type } urls { value type }`;
const FIELDS = `id resourceName etag displayName givenName familyName ${DETAILS} syncState syncError conflicts { field winner }`;

const HOME = {
  type: 'home',
  streetAddress: '12 Elm St',
  extendedAddress: 'Apt 4',
  city: 'Springfield',
  region: 'IL',
  postalCode: '62701',
  country: 'USA',
  countryCode: 'us',
};
const INPUT = {
  givenName: 'Maria',
  middleName: 'Elena',
  familyName: 'Lopez',
  honorificPrefix: 'Dr.',
  honorificSuffix: 'Jr.',
  nicknames: [{ value: 'Mari' }, { value: 'M.E.', type: 'alternate_name' }],
  addresses: [HOME, { type: 'Work', formattedValue: 'Acme Realty, 1 Main St, Springfield', city: 'Springfield' }],
  birthday: { month: 7, day: 26 },
  events: [{ date: { year: 2019, month: 5, day: 3 }, type: 'Anniversary' }],
  relations: [
    { person: 'Carlos Lopez', type: 'spouse' },
    { person: 'Ann Lee', type: 'referredby' },
  ],
  urls: [{ value: 'https://listings.test/12-elm', type: 'work' }],
};

describeEachDb('contacts: details both ways', (db) => {
  let w: World;
  let token: string;

  beforeAll(async () => {
    // Fast retries, and a short wait for Google (a write held back by a fault answers PENDING soon): a write is
    // waited for until SYNCED (synced, updated), so no test depends on the machine's speed.
    w = await startWorld(db(), { env: FAST_OUTBOX_ENV });
    token = await w.token(AGENT);
  });
  afterAll(() => w.close());
  beforeEach(async () => {
    await w.admin.clearFaults();
    await resetContacts(w, db(), AGENT);
    // The agent's first sync (the labels with it): contacts created after it come back from Google in My Contacts.
    await w.gw.gql('mutation { syncContacts { contacts { lastSyncAt } } }', { token });
    await w.admin.clearRequests();
  });

  const gql = async (query: string, variables?: Record<string, unknown>) => {
    const r = await w.gw.gql(query, { token, variables });
    return r.body;
  };
  const ok = async (query: string, variables?: Record<string, unknown>) => {
    const b = await gql(query, variables);
    expect(b.errors).toBeUndefined();
    return b.data;
  };
  const create = async (input: unknown) =>
    (await ok(`mutation ($i: ContactInput!) { createContact(input: $i) { ${FIELDS} } }`, { i: input })).createContact;
  const update = async (id: string, input: unknown) =>
    (
      await ok(`mutation ($id: ID!, $i: ContactPatch!) { updateContact(id: $id, input: $i) { ${FIELDS} } }`, {
        id,
        i: input,
      })
    ).updateContact;
  const contact = async (id: string) =>
    (await ok(`query ($id: ID!) { contact(id: $id) { ${FIELDS} } }`, { id })).contact;
  /** Created, then waited for until Google has it. */
  const synced = async (input: unknown) => {
    const c = await create(input);
    return c.syncState === 'SYNCED'
      ? c
      : until(
          `contact ${c.id} SYNCED`,
          () => contact(c.id),
          (x) => x.syncState === 'SYNCED',
        );
  };
  const updated = async (id: string, input: unknown) => {
    const c = await update(id, input);
    return c.syncState === 'SYNCED'
      ? c
      : until(
          `contact ${id} SYNCED`,
          () => contact(id),
          (x) => x.syncState === 'SYNCED',
        );
  };
  const sync = () => ok('mutation { syncContacts { contacts { lastSyncAt } } }');
  const google = async (resourceName: string) =>
    (await w.admin.request<any[]>('GET', `/users/${AGENT}/contacts`)).body.find((p) => p.resourceName === resourceName);
  const googlePatch = async (resourceName: string, body: unknown) => {
    const r = await w.admin.request('PATCH', `/users/${AGENT}/contacts/${resourceName.replace('people/', '')}`, body);
    expect(r.status).toBe(200);
    return r.body as any;
  };
  const googlePatchAt = async (seconds: number, resourceName: string, body: unknown) => {
    await w.admin.advanceClock(seconds);
    try {
      return await googlePatch(resourceName, body);
    } finally {
      await w.admin.advanceClock(-seconds);
    }
  };
  const status = async () =>
    (await ok('{ syncStatus { contacts { pendingChanges failedChanges } } }')).syncStatus.contacts;
  const waitDelivered = async () =>
    expect(await until('nothing pending', status, (s) => s.pendingChanges === 0)).toMatchObject({ failedChanges: 0 });
  const strip = (items: any[] | undefined) => (items ?? []).map(({ metadata: _m, formattedType: _f, ...rest }) => rest);

  test('created with every detail: Google holds each one as People writes it, and the answer shows what Google composed', async () => {
    const c = await synced(INPUT);
    const p = await google(c.resourceName);
    expect(p.names[0]).toMatchObject({
      givenName: 'Maria',
      middleName: 'Elena',
      familyName: 'Lopez',
      honorificPrefix: 'Dr.',
      honorificSuffix: 'Jr.',
    });
    expect(strip(p.nicknames)).toEqual([{ value: 'Mari' }, { value: 'M.E.', type: 'ALTERNATE_NAME' }]);
    expect(strip(p.addresses)[0]).toMatchObject({
      type: 'home',
      streetAddress: '12 Elm St',
      extendedAddress: 'Apt 4',
      city: 'Springfield',
      region: 'IL',
      postalCode: '62701',
      country: 'USA',
      countryCode: 'US',
    });
    expect(strip(p.addresses)[1]).toEqual({
      type: 'work',
      formattedValue: 'Acme Realty, 1 Main St, Springfield',
      city: 'Springfield',
    });
    expect(strip(p.birthdays)).toEqual([{ date: { month: 7, day: 26 } }]);
    expect(strip(p.events)).toEqual([{ date: { year: 2019, month: 5, day: 3 }, type: 'anniversary' }]);
    expect(strip(p.relations)).toEqual([
      { person: 'Carlos Lopez', type: 'spouse' },
      { person: 'Ann Lee', type: 'referredBy' },
    ]);
    expect(strip(p.urls)).toEqual([{ value: 'https://listings.test/12-elm', type: 'work' }]);
    // Google composed the home address's formattedValue (we sent none): the answer, the mirror and Google agree.
    const composed = p.addresses[0].formattedValue;
    expect(composed).toEqual(expect.stringContaining('12 Elm St'));
    expect(c.addresses[0]).toEqual({
      type: 'home',
      formattedValue: composed,
      poBox: null,
      streetAddress: '12 Elm St',
      extendedAddress: 'Apt 4',
      city: 'Springfield',
      region: 'IL',
      postalCode: '62701',
      country: 'USA',
      countryCode: 'US',
    });
    expect(c).toMatchObject({
      middleName: 'Elena',
      honorificPrefix: 'Dr.',
      honorificSuffix: 'Jr.',
      nicknames: [
        { value: 'Mari', type: null },
        { value: 'M.E.', type: 'ALTERNATE_NAME' },
      ],
      birthday: { date: { year: null, month: 7, day: 26 }, text: null },
      events: [{ date: { year: 2019, month: 5, day: 3 }, type: 'anniversary' }],
      relations: [
        { person: 'Carlos Lopez', type: 'spouse' },
        { person: 'Ann Lee', type: 'referredBy' },
      ],
      urls: [{ value: 'https://listings.test/12-elm', type: 'work' }],
    });
    expect(await contact(c.id)).toEqual(c);
    // Our own write coming back through the next sync changes nothing.
    await sync();
    expect(await contact(c.id)).toEqual(c);
  });

  test('edited in Google: the next sync shows every detail; what we do not model survives our later update', async () => {
    const c = await synced({ givenName: 'Noah', familyName: 'Park' });
    await googlePatch(c.resourceName, {
      names: [{ givenName: 'Noah', familyName: 'Park', honorificPrefix: 'Mr.', phoneticGivenName: 'NO-ah' }],
      addresses: [{ type: 'Lake house', streetAddress: '9 Shore Rd', city: 'Lakeview' }],
      birthdays: [{ date: { year: 1984, month: 2, day: 29 }, text: 'Feb 29' }],
      events: [{ date: { year: 2021, month: 6, day: 1 }, type: 'Closing day' }],
      relations: [{ person: 'Sun Park', type: 'partner' }],
      urls: [{ value: 'park.test', type: 'homePage' }],
      nicknames: [{ value: 'Noa', type: 'MAIDEN_NAME' }],
      imClients: [{ username: 'noah', protocol: 'skype' }],
      userDefined: [{ key: 'Budget', value: '450k' }],
    });
    await sync();
    const seen = await contact(c.id);
    expect(seen).toMatchObject({
      honorificPrefix: 'Mr.',
      addresses: [{ type: 'Lake house', streetAddress: '9 Shore Rd', city: 'Lakeview' }],
      birthday: { date: { year: 1984, month: 2, day: 29 }, text: 'Feb 29' },
      events: [{ date: { year: 2021, month: 6, day: 1 }, type: 'Closing day' }],
      relations: [{ person: 'Sun Park', type: 'partner' }],
      urls: [{ value: 'park.test', type: 'homePage' }],
      nicknames: [{ value: 'Noa', type: 'MAIDEN_NAME' }],
    });
    expect(seen.etag).not.toBe(c.etag);

    // Custom labels the contact already has are taken back as they are; only the birthday changes.
    const u = await updated(c.id, {
      birthday: { year: 1984, month: 3, day: 1 },
      addresses: seen.addresses.map(({ formattedValue: _f, ...a }: any) => a),
      events: seen.events,
      nicknames: seen.nicknames,
    });
    expect(u.syncState).toBe('SYNCED');
    const p = await google(c.resourceName);
    // a new date drops Google's old text
    expect(strip(p.birthdays)).toEqual([{ date: { year: 1984, month: 3, day: 1 } }]);
    expect(strip(p.addresses)[0]).toMatchObject({ type: 'Lake house', streetAddress: '9 Shore Rd', city: 'Lakeview' });
    expect(strip(p.events)).toEqual([{ date: { year: 2021, month: 6, day: 1 }, type: 'Closing day' }]);
    expect(strip(p.nicknames)).toEqual([{ value: 'Noa', type: 'MAIDEN_NAME' }]);
    expect(p.names[0]).toMatchObject({ phoneticGivenName: 'NO-ah', honorificPrefix: 'Mr.' });
    expect(strip(p.imClients)).toEqual([{ username: 'noah', protocol: 'skype' }]);
    expect(strip(p.userDefined)).toEqual([{ key: 'Budget', value: '450k' }]);
    expect(p.memberships?.map((m: any) => m.contactGroupMembership.contactGroupResourceName)).toEqual([
      'contactGroups/myContacts',
    ]);

    // The same birthday date sent back keeps Google's text with it.
    await googlePatch(c.resourceName, {
      birthdays: [{ date: { year: 1984, month: 3, day: 1 }, text: 'first of March' }],
    });
    await sync();
    await updated(c.id, { birthday: { year: 1984, month: 3, day: 1 }, notes: 'call in spring' });
    expect(strip((await google(c.resourceName)).birthdays)).toEqual([
      { date: { year: 1984, month: 3, day: 1 }, text: 'first of March' },
    ]);
  });

  describe('edited on both sides before they meet', () => {
    const UPDATE = 'people.people.batchUpdateContacts';
    const holdUpdates = () => w.admin.addFault({ api: 'people', method: UPDATE, status: 503, unlimited: true });

    test('different details: both edits survive, no conflict', async () => {
      const c = await synced({ givenName: 'Ida', addresses: [HOME], birthday: { month: 1, day: 2 } });
      await holdUpdates();
      const u = await update(c.id, { addresses: [{ ...HOME, streetAddress: '14 Elm St' }] });
      expect(u.syncState).toBe('PENDING');
      await googlePatch(c.resourceName, {
        names: [{ givenName: 'Ida' }],
        birthdays: [{ date: { month: 1, day: 3 } }],
        relations: [{ person: 'Ben', type: 'child' }],
        addresses: (await google(c.resourceName)).addresses.map(({ metadata: _m, ...a }: any) => a),
      });
      await sync();
      await w.admin.clearFaults();
      await waitDelivered();
      const done = await contact(c.id);
      expect(done).toMatchObject({
        syncState: 'SYNCED',
        conflicts: [],
        birthday: { date: { year: null, month: 1, day: 3 } },
        relations: [{ person: 'Ben', type: 'child' }],
      });
      expect(done.addresses[0].streetAddress).toBe('14 Elm St');
      const p = await google(c.resourceName);
      expect(strip(p.addresses)[0].streetAddress).toBe('14 Elm St');
      expect(strip(p.birthdays)).toEqual([{ date: { month: 1, day: 3 } }]);
      expect(strip(p.relations)).toEqual([{ person: 'Ben', type: 'child' }]);
    });

    test('the same detail: the later writer wins, and the conflict names the field', async () => {
      const c = await synced({ givenName: 'Jo', urls: [{ value: 'a.test' }] });
      await holdUpdates();
      await update(c.id, { urls: [{ value: 'crm.test' }] });
      await googlePatchAt(60, c.resourceName, { urls: [{ value: 'google.test' }] });
      await sync();
      await w.admin.clearFaults();
      await waitDelivered();
      const done = await contact(c.id);
      expect(done.urls).toEqual([{ value: 'google.test', type: null }]);
      expect(done.conflicts).toEqual([{ field: 'urls', winner: 'google' }]);
      expect(strip((await google(c.resourceName)).urls)).toEqual([{ value: 'google.test' }]);
    });
  });

  test('an address read here, its street changed and sent back whole: Google composes the text anew (the old one would be stale)', async () => {
    const c = await synced({ givenName: 'Moving', addresses: [HOME] });
    const moved = c.addresses.map((a: any) => ({ ...a, streetAddress: '99 Oak Ave' }));
    const u = await updated(c.id, { addresses: moved });
    expect(u.addresses[0].formattedValue).toEqual(expect.stringContaining('99 Oak Ave'));
    expect(u.addresses[0].formattedValue).not.toContain('12 Elm St');
    expect(strip((await google(c.resourceName)).addresses)[0].formattedValue).toBe(u.addresses[0].formattedValue);
    // A text of the agent's own, with the parts unchanged, is kept as written.
    const own = await updated(c.id, { addresses: [{ ...moved[0], formattedValue: 'Corner house by the park' }] });
    expect(own.addresses[0].formattedValue).toBe('Corner house by the park');
  });

  test('contacts(query:) finds a contact by street, city or postal code, not by what it does not hold', async () => {
    await ok('mutation ($i: [ContactInput!]!) { createContacts(input: $i) { id } }', {
      i: [
        { givenName: 'Elm', addresses: [HOME] },
        { givenName: 'Oak', addresses: [{ streetAddress: '7 Oak Ave', city: 'Shelbyville', postalCode: '62565' }] },
        { givenName: 'None' },
      ],
    });
    const names = async (query: string) =>
      (
        await ok('query ($q: String) { contacts(query: $q) { edges { node { givenName } } } }', { q: query })
      ).contacts.edges.map((e: any) => e.node.givenName);
    expect(await names('elm st')).toEqual(['Elm']);
    expect(await names('SHELBYVILLE')).toEqual(['Oak']);
    expect(await names('62565')).toEqual(['Oak']);
    expect(await names('springfield')).toEqual(['Elm']);
    expect(await names('maple')).toEqual([]);
  });

  test('createContacts carries the details of each contact in one batch', async () => {
    const answered = (
      await ok(`mutation ($i: [ContactInput!]!) { createContacts(input: $i) { id } }`, {
        i: [INPUT, { givenName: 'Plain' }],
      })
    ).createContacts;
    const made = await Promise.all(
      answered.map((c: any) =>
        until(
          `contact ${c.id} SYNCED`,
          () => contact(c.id),
          (x) => x.syncState === 'SYNCED',
        ),
      ),
    );
    expect((await w.admin.requests({ api: 'people', method: 'people.people.batchCreateContacts' })).length).toBe(1);
    expect(strip((await google(made[0].resourceName)).relations)).toEqual([
      { person: 'Carlos Lopez', type: 'spouse' },
      { person: 'Ann Lee', type: 'referredBy' },
    ]);
    expect(made[1]).toMatchObject({
      addresses: [],
      birthday: null,
      events: [],
      relations: [],
      urls: [],
      nicknames: [],
      middleName: null,
    });
  });

  describe('bad input: a typed BAD_USER_INPUT naming the field, nothing written', () => {
    const nothingWritten = async () => {
      expect(await db().ds.getRepository(Contact).count()).toBe(0);
      expect(await db().ds.getRepository(OutboxRow).count()).toBe(0);
      expect((await w.admin.requests({ api: 'people' })).filter((r) => !r.method.endsWith('.list'))).toEqual([]); // reads (connections, contact groups) aside
    };
    test.each([
      [
        'an unknown address type',
        { givenName: 'A', addresses: [{ type: 'hoem', city: 'X' }] },
        'addresses.0.type',
        /"hoem" is not an address type \(home, work, other/,
      ],
      [
        'a birthday that is not a date',
        { givenName: 'A', birthday: { month: 2, day: 30 } },
        'birthday',
        /birthday: .* is not a date/,
      ],
      ['a birthday without a month', { givenName: 'A', birthday: { day: 3 } }, 'birthday', /is not a date/],
      [
        'an event date out of range',
        { givenName: 'A', events: [{ date: { month: 13, day: 1 } }] },
        'events.0.date',
        /is not a date/,
      ],
      [
        'an unknown relation type',
        { givenName: 'A', relations: [{ person: 'B', type: 'spuose' }] },
        'relations.0.type',
        /not a relation type/,
      ],
      [
        'an unknown nickname type',
        { givenName: 'A', nicknames: [{ value: 'B', type: 'NICK' }] },
        'nicknames.0.type',
        /not a nickname type \(DEFAULT or ALTERNATE_NAME\)/,
      ],
      [
        'a deprecated nickname type the contact does not have',
        { givenName: 'A', nicknames: [{ value: 'B', type: 'MAIDEN_NAME' }] },
        'nicknames.0.type',
        /not a nickname type/,
      ],
      [
        'an address with no part',
        { givenName: 'A', addresses: [{ type: 'home' }] },
        'addresses.0',
        /needs at least one part/,
      ],
      [
        'a blank relation',
        { givenName: 'A', relations: [{ person: '   ' }] },
        'relations.0.person',
        /must not be blank/,
      ],
    ])('%s', async (_case, input, field, message) => {
      const b = await gql('mutation ($i: ContactInput!) { createContact(input: $i) { id } }', { i: input });
      expect(b.errors).toHaveLength(1);
      expect(b.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
      expect(b.errors![0].message).toMatch(message);
      expect(JSON.stringify(b)).not.toMatch(/stack|\.ts:\d+/);
      await nothingWritten();
    });

    test.each([
      ['an over-long url', { givenName: 'A', urls: [{ value: `https://x.test/${'a'.repeat(2048)}` }] }, /urls/],
      [
        'a type with a line break',
        { givenName: 'A', addresses: [{ type: 'home\nBcc: x', city: 'X' }] },
        /addresses.0.type/,
      ],
      [
        'a country code that is not one',
        { givenName: 'A', addresses: [{ countryCode: 'USA', city: 'X' }] },
        /countryCode/,
      ],
      [
        'too many addresses',
        { givenName: 'A', addresses: Array.from({ length: 21 }, () => ({ city: 'X' })) },
        /addresses/,
      ],
      ['a birthday year as text', { givenName: 'A', birthday: { year: 'nineteen', month: 1, day: 1 } }, /year/],
    ])('%s', async (_case, input, message) => {
      const b = await gql('mutation ($i: ContactInput!) { createContact(input: $i) { id } }', { i: input });
      expect(b.errors![0].extensions.code).toBe('BAD_USER_INPUT');
      expect(b.errors![0].message).toMatch(message);
      await nothingWritten();
    });

    test('an update with a bad detail changes nothing, here or in Google', async () => {
      const c = await synced({ givenName: 'Kay', addresses: [HOME] });
      await w.admin.clearRequests();
      const b = await gql('mutation ($id: ID!, $i: ContactPatch!) { updateContact(id: $id, input: $i) { id } }', {
        id: c.id,
        i: { givenName: 'Kai', addresses: [{ type: 'vacation', city: 'Y' }] },
      });
      expect(b.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'addresses.0.type' });
      expect(await contact(c.id)).toEqual(c);
      expect(await db().ds.getRepository(OutboxRow).count()).toBe(0);
      expect((await w.admin.requests({ api: 'people' })).filter((r) => !r.method.endsWith('.list'))).toEqual([]); // reads (connections, contact groups) aside
    });
  });

  test('after the upgrade, an update made before any read does not clear in Google the details the mirror does not have yet', async () => {
    const c = await synced({ givenName: 'Up', familyName: 'Date' });
    await googlePatch(c.resourceName, {
      names: [{ givenName: 'Up', familyName: 'Date', middleName: 'Q' }],
      addresses: [{ type: 'home', city: 'Keepville' }],
      birthdays: [{ date: { month: 4, day: 5 } }],
      urls: [{ value: 'keep.test' }],
    });
    await sync();
    // As the previous release left it: no details in the row or in the person it keeps, another personFields.
    const row = await db().ds.getRepository(Contact).findOneByOrFail({ id: c.id });
    const person = JSON.parse(row.person!);
    for (const k of ['addresses', 'birthdays', 'events', 'relations', 'urls', 'nicknames', 'memberships'])
      delete person[k];
    delete person.names[0].middleName;
    await db()
      .ds.getRepository(Contact)
      .update({ id: c.id }, { details: null, person: JSON.stringify(person) });
    await db()
      .ds.getRepository(ContactSyncRecord)
      .update(
        { agentId: row.agentId },
        { personFields: 'names,emailAddresses,phoneNumbers,organizations,biographies,clientData,metadata' },
      );
    await updated(c.id, { notes: 'changed before any read' });
    const p = await google(c.resourceName);
    expect(p.names[0]).toMatchObject({ givenName: 'Up', middleName: 'Q', familyName: 'Date' });
    expect(strip(p.addresses)[0]).toMatchObject({ type: 'home', city: 'Keepville' });
    expect(strip(p.birthdays)).toEqual([{ date: { month: 4, day: 5 } }]);
    expect(strip(p.urls)).toEqual([{ value: 'keep.test' }]);
    expect(strip(p.biographies)).toEqual([{ value: 'changed before any read', contentType: 'TEXT_PLAIN' }]);
    expect((await contact(c.id)).addresses[0].city).toBe('Keepville');
  });

  test('a mirror made without the details (an older release) is filled in by one full sync, keeping a pending edit of ours', async () => {
    const c = await synced({ givenName: 'Old', familyName: 'Mirror' });
    await googlePatch(c.resourceName, {
      names: [{ givenName: 'Old', familyName: 'Mirror' }],
      addresses: [{ type: 'home', city: 'Oldtown' }],
      birthdays: [{ date: { month: 4, day: 5 } }],
    });
    await sync();
    const filled = await contact(c.id);
    expect(filled.addresses[0].city).toBe('Oldtown');
    // As the previous release left it: no details in the row or in the person it keeps, another personFields.
    const row = await db().ds.getRepository(Contact).findOneByOrFail({ id: c.id });
    const person = JSON.parse(row.person!);
    for (const k of ['addresses', 'birthdays', 'events', 'relations', 'urls', 'nicknames', 'memberships'])
      delete person[k];
    await db()
      .ds.getRepository(Contact)
      .update({ id: c.id }, { details: null, person: JSON.stringify(person) });
    await db()
      .ds.getRepository(ContactSyncRecord)
      .update(
        { agentId: row.agentId },
        { personFields: 'names,emailAddresses,phoneNumbers,organizations,biographies,clientData,metadata' },
      );
    // A CRM edit made before the upgrade's sync, held back from Google. Its delivery runs that full sync first.
    await w.admin.clearRequests();
    await w.admin.addFault({
      api: 'people',
      method: 'people.people.batchUpdateContacts',
      status: 503,
      unlimited: true,
    });
    await update(c.id, { notes: 'pending' });
    await sync();
    const calls = (await w.admin.requests({ api: 'people' })).map((r) => ({
      method: r.method,
      syncToken: new URLSearchParams(r.query ?? '').has('syncToken'),
    }));
    const lists = calls.filter((x) => x.method === 'people.people.connections.list');
    expect(lists[0]).toEqual({ method: 'people.people.connections.list', syncToken: false });
    expect(lists.slice(1).every((x) => x.syncToken)).toBe(true); // one full sync, the rest incremental
    const after = await contact(c.id);
    expect(after).toMatchObject({
      addresses: [{ type: 'home', city: 'Oldtown' }],
      birthday: { date: { year: null, month: 4, day: 5 } },
      syncState: 'PENDING',
      conflicts: [],
    });
    expect(
      (await db().ds.getRepository(ContactSyncRecord).findOneByOrFail({ agentId: row.agentId })).personFields,
    ).toMatch(/addresses/);
    await w.admin.clearFaults();
    await waitDelivered();
    const p = await google(c.resourceName);
    expect(strip(p.addresses)[0]).toMatchObject({ type: 'home', city: 'Oldtown' });
    expect(strip(p.biographies)).toEqual([{ value: 'pending', contentType: 'TEXT_PLAIN' }]);
    // Later syncs are incremental again.
    await w.admin.clearRequests();
    await sync();
    expect(
      (await w.admin.requests({ api: 'people', method: 'people.people.connections.list' })).map((r) =>
        new URLSearchParams(r.query ?? '').has('syncToken'),
      ),
    ).toEqual([true]);
  });
});
