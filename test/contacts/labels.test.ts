/**
 * Labels (People contact groups) end to end on both databases: contactLabels, contacts(label:), Contact.labels and
 * starred, creating, renaming and deleting a label, and adding and removing contacts in bulk, in Google through the
 * emulator; labels and memberships changed in Google showing here; call counts from the emulator's request log; bad
 * input refused with nothing written; a lost answer never making a label twice.
 */
import { forgetRows } from '../support/gateway';
import { IsNull, Not } from 'typeorm';
import { Contact, ContactLabel, ContactLabelMember, OutboxRow } from '../../src/entities';
import { describeEachDb } from '../support/db';
import { until } from '../support/wait';
import { deliveryDone, FAST_OUTBOX_ENV, resetContacts, startWorld, type World } from '../support/world';

const AGENT = 'agent@alpha.test';
const OTHER = 'other@alpha.test';
const LABEL = 'id name system memberCount resourceName syncState syncError';

describeEachDb('contacts: labels', (db) => {
  let w: World;
  let token: string;

  beforeAll(async () => {
    // Reads sync with Google every time (freshness 0): a change made in Google shows on the next read.
    w = await startWorld(db(), {
      env: { ...FAST_OUTBOX_ENV, MUTATION_WAIT_MS: '60000', CONTACTS_FRESHNESS_SECONDS: '0' },
    });
    token = await w.token(AGENT);
  });
  afterAll(() => w.close());
  beforeEach(async () => {
    await w.admin.clearFaults();
    for (const user of [AGENT, OTHER]) await resetContacts(w, db(), user);
    await w.admin.clearRequests();
  });

  const gql = async (query: string, variables?: Record<string, unknown>, t = token) =>
    (await w.gw.gql(query, { token: t, variables })).body;
  const ok = async (query: string, variables?: Record<string, unknown>, t = token) => {
    const b = await gql(query, variables, t);
    expect(b.errors).toBeUndefined();
    return b.data;
  };
  const labels = async () => (await ok(`{ contactLabels { ${LABEL} } }`)).contactLabels as any[];
  const createLabel = async (name: string) =>
    (await ok(`mutation ($n: String!) { createContactLabel(name: $n) { ${LABEL} } }`, { n: name })).createContactLabel;
  const add = async (labelId: string, contactIds: string[]) =>
    (
      await ok(`mutation ($l: ID!, $c: [ID!]!) { addContactsToLabel(labelId: $l, contactIds: $c) { ${LABEL} } }`, {
        l: labelId,
        c: contactIds,
      })
    ).addContactsToLabel;
  const remove = async (labelId: string, contactIds: string[]) =>
    (
      await ok(`mutation ($l: ID!, $c: [ID!]!) { removeContactsFromLabel(labelId: $l, contactIds: $c) { ${LABEL} } }`, {
        l: labelId,
        c: contactIds,
      })
    ).removeContactsFromLabel;
  const inLabel = async (label: string, first = 200) =>
    (
      await ok(
        'query ($l: ID!, $f: Int!) { contacts(label: $l, first: $f) { totalCount edges { node { id givenName } } } }',
        { l: label, f: first },
      )
    ).contacts;
  const createContacts = async (n: number, prefix = 'C') => {
    const input = Array.from({ length: n }, (_, i) => ({ givenName: `${prefix}${String(i).padStart(4, '0')}` }));
    const made = (
      await ok('mutation ($i: [ContactInput!]!) { createContacts(input: $i) { id resourceName syncState } }', {
        i: input,
      })
    ).createContacts as { id: string; resourceName: string; syncState: string }[];
    expect(made.every((c) => c.syncState === 'SYNCED')).toBe(true);
    return made;
  };
  const googleGroups = async (user = AGENT) =>
    (await w.admin.request<any[]>('GET', `/users/${user}/contactGroups`)).body;
  const googleGroup = async (name: string) => (await googleGroups()).find((g) => g.name === name);
  const googleGroupsOf = async (resourceName: string) =>
    (
      (await w.admin.request<any[]>('GET', `/users/${AGENT}/contacts`)).body.find(
        (p) => p.resourceName === resourceName,
      )?.memberships ?? []
    )
      .map((m: any) => m.contactGroupMembership.contactGroupResourceName)
      .sort();
  const calls = async (method?: string) =>
    (await w.admin.requests({ api: 'people', ...(method ? { method: `people.${method}` } : {}) })).filter(
      (r) => r.user === AGENT,
    );
  const seedGoogle = (persons: unknown) =>
    w.admin.request<any[]>('POST', `/users/${AGENT}/contacts`, persons).then((r) => r.body);
  const googleLabel = (name: string) =>
    w.admin.request<any>('POST', `/users/${AGENT}/contactGroups`, { name }).then((r) => r.body);
  const googleMembers = (group: string, body: { add?: string[]; remove?: string[] }) =>
    w.admin.request('POST', `/users/${AGENT}/contactGroups/${group.replace('contactGroups/', '')}/members`, body);

  test('labels made in Google: a full sync of 1,000 contacts in labels is one contactGroups.list and one connections.list; counts, filters, Contact.labels and starred', async () => {
    const buyers = await googleLabel('Buyers 2026');
    const past = await googleLabel('Past clients');
    await googleLabel('Empty');
    const persons = await seedGoogle(
      Array.from({ length: 1000 }, (_, i) => ({ names: [{ givenName: `G${String(i).padStart(4, '0')}` }] })),
    );
    await googleMembers(buyers.resourceName, { add: persons.slice(0, 300).map((p: any) => p.resourceName) });
    await googleMembers(past.resourceName, { add: persons.slice(250, 400).map((p: any) => p.resourceName) });
    await googleMembers('contactGroups/starred', { add: [persons[0].resourceName, persons[999].resourceName] });
    await w.admin.clearRequests();

    const list = await labels();
    expect((await calls()).map((c) => c.method).sort()).toEqual([
      'people.contactGroups.list',
      'people.people.connections.list',
    ]);
    expect(list.map((l) => [l.name, l.system, l.memberCount, l.syncState])).toEqual([
      ['My Contacts', true, 1000, 'SYNCED'],
      ['Starred', true, 2, 'SYNCED'],
      ['Buyers 2026', false, 300, 'SYNCED'],
      ['Empty', false, 0, 'SYNCED'],
      ['Past clients', false, 150, 'SYNCED'],
    ]);
    const byName = Object.fromEntries(list.map((l) => [l.name, l]));
    expect(byName['Buyers 2026'].resourceName).toBe(buyers.resourceName);
    const page = await inLabel(byName['Past clients'].id, 5);
    expect(page.totalCount).toBe(150);
    expect(page.edges.map((e: any) => e.node.givenName)).toEqual(['G0250', 'G0251', 'G0252', 'G0253', 'G0254']);
    const c = (await ok('{ contacts(first: 1) { edges { node { givenName starred labels { name memberCount } } } } }'))
      .contacts.edges[0].node;
    expect(c).toEqual({
      givenName: 'G0000',
      starred: true,
      labels: [
        { name: 'My Contacts', memberCount: 1000 },
        { name: 'Starred', memberCount: 2 },
        { name: 'Buyers 2026', memberCount: 300 },
      ],
    });
  });

  test('create, rename and delete a label: each lands in Google; deleting again answers true; its contacts stay', async () => {
    const [a] = await createContacts(1);
    const l = await createLabel('  Buyers   2026 ');
    expect(l).toMatchObject({
      name: 'Buyers 2026',
      system: false,
      memberCount: 0,
      syncState: 'SYNCED',
      syncError: null,
    });
    expect(await googleGroup('Buyers 2026')).toMatchObject({
      resourceName: l.resourceName,
      groupType: 'USER_CONTACT_GROUP',
    });
    await add(l.id, [a.id]);
    const renamed = (
      await ok(`mutation ($id: ID!) { renameContactLabel(id: $id, name: "Buyers 2027") { ${LABEL} } }`, { id: l.id })
    ).renameContactLabel;
    expect(renamed).toMatchObject({ id: l.id, name: 'Buyers 2027', memberCount: 1, syncState: 'SYNCED' });
    expect((await googleGroups()).filter((g) => g.groupType === 'USER_CONTACT_GROUP').map((g) => g.name)).toEqual([
      'Buyers 2027',
    ]);
    await w.admin.clearRequests();
    expect((await ok('mutation ($id: ID!) { deleteContactLabel(id: $id) }', { id: l.id })).deleteContactLabel).toBe(
      true,
    );
    expect((await calls('contactGroups.delete')).map((c) => c.query)).toEqual([
      expect.stringContaining('deleteContacts=false'),
    ]);
    expect((await googleGroups()).filter((g) => g.groupType === 'USER_CONTACT_GROUP')).toEqual([]);
    expect(await googleGroupsOf(a.resourceName)).toEqual(['contactGroups/myContacts']);
    expect((await ok('mutation ($id: ID!) { deleteContactLabel(id: $id) }', { id: l.id })).deleteContactLabel).toBe(
      true,
    );
    expect((await labels()).map((x) => x.name)).toEqual(['My Contacts', 'Starred']);
    expect((await ok('{ contacts { totalCount } }')).contacts.totalCount).toBe(1);
    const gone = await gql('query ($l: ID!) { contacts(label: $l) { totalCount } }', { l: l.id });
    expect(gone.errors![0].extensions).toMatchObject({ code: 'NOT_FOUND', field: 'label' });
  });

  test('adding 500 contacts to a label is one members.modify call, removing 200 another; the echo of our own change bumps no contact again', async () => {
    const contacts = await createContacts(500);
    const l = await createLabel('Open house');
    const before = new Map(
      ((await ok('{ contacts(first: 200) { edges { node { id etag } } } }')).contacts.edges as any[]).map((e) => [
        e.node.id,
        e.node.etag,
      ]),
    );
    await w.admin.clearRequests();
    expect(
      await add(
        l.id,
        contacts.map((c) => c.id),
      ),
    ).toMatchObject({ memberCount: 500, syncState: 'SYNCED' });
    // The contacts' versions as the change left them, before any read (every read here syncs first).
    const versions = async () =>
      new Map(
        ((await db().ds.query('SELECT id, version FROM contact')) as { id: string; version: number }[]).map((r) => [
          r.id,
          Number(r.version),
        ]),
      );
    const changedHere = await versions();
    const modify = await calls('contactGroups.members.modify');
    expect(modify).toHaveLength(1);
    expect((await calls()).filter((c) => !c.method.endsWith('.list')).map((c) => c.method)).toEqual([
      'people.contactGroups.members.modify',
    ]);
    const group = await googleGroup('Open house');
    expect(group.memberCount).toBe(500);
    expect((await inLabel(l.id, 1)).totalCount).toBe(500);
    // The contacts changed (their labels did): new etags, once.
    const after = new Map(
      (
        (await ok('{ contacts(first: 200) { edges { node { id etag labels { name } } } } }')).contacts.edges as any[]
      ).map((e) => [e.node.id, e.node]),
    );
    for (const [id, etag] of before) expect(after.get(id).etag).not.toBe(etag);
    expect([...after.values()][0].labels.map((x: any) => x.name)).toEqual(['My Contacts', 'Open house']);
    // Google re-stamped them for our change; the sync the read above ran saw 500 new etags and changed nothing we
    // show: no contact moved past the version our change gave it.
    expect(await versions()).toEqual(changedHere);
    const feedEnd = async (after: string | null = null): Promise<{ cursor: string | null; changes: number }> => {
      let changes = 0;
      for (;;) {
        const page = (
          await ok(
            'query ($a: String) { contactChanges(after: $a, first: 500) { edges { cursor } pageInfo { hasNextPage endCursor } } }',
            { a: after },
          )
        ).contactChanges;
        changes += page.edges.length;
        after = page.pageInfo.endCursor;
        if (!page.pageInfo.hasNextPage) return { cursor: after, changes };
      }
    };
    const { cursor } = await feedEnd();
    await w.admin.clearRequests();
    await ok('mutation { syncContacts { contacts { lastSyncAt } } }');
    expect((await calls('people.connections.list')).length).toBe(1);
    const again = new Map(
      ((await ok('{ contacts(first: 200) { edges { node { id etag } } } }')).contacts.edges as any[]).map((e) => [
        e.node.id,
        e.node.etag,
      ]),
    );
    for (const [id, n] of after) expect(again.get(id)).toBe(n.etag);
    expect((await feedEnd(cursor)).changes).toBe(0);

    await w.admin.clearRequests();
    expect(
      await remove(
        l.id,
        contacts.slice(0, 200).map((c) => c.id),
      ),
    ).toMatchObject({ memberCount: 300 });
    expect(await calls('contactGroups.members.modify')).toHaveLength(1);
    expect((await googleGroup('Open house')).memberCount).toBe(300);
    expect(await googleGroupsOf(contacts[0].resourceName)).toEqual(['contactGroups/myContacts']);
    expect(await googleGroupsOf(contacts[499].resourceName)).toEqual(
      [group.resourceName, 'contactGroups/myContacts'].sort(),
    );
  });

  test('1,000 at once is one call; adding contacts already in it changes nothing and calls nothing', async () => {
    const contacts = await createContacts(1000);
    const l = await createLabel('All of them');
    await w.admin.clearRequests();
    await add(
      l.id,
      contacts.map((c) => c.id),
    );
    expect(await calls('contactGroups.members.modify')).toHaveLength(1);
    expect((await googleGroup('All of them')).memberCount).toBe(1000);
    await w.admin.clearRequests();
    const rows = await db().ds.getRepository(OutboxRow).count();
    expect(
      await add(
        l.id,
        contacts.slice(0, 10).map((c) => c.id),
      ),
    ).toMatchObject({ memberCount: 1000 });
    expect(await calls('contactGroups.members.modify')).toHaveLength(0);
    expect(await db().ds.getRepository(OutboxRow).count()).toBe(rows);
  });

  test('changed in Google: a new label, a rename, a contact added and one removed, a label deleted: each shows on the next read', async () => {
    const [a, b] = await createContacts(2);
    const mine = await createLabel('Mine');
    await add(mine.id, [a.id, b.id]);
    const made = await googleLabel('Made in Google');
    await googleMembers(made.resourceName, { add: [a.resourceName] });
    await w.admin.request('PATCH', `/users/${AGENT}/contactGroups/${mine.resourceName.replace('contactGroups/', '')}`, {
      name: 'Renamed in Google',
    });
    await googleMembers(mine.resourceName, { remove: [b.resourceName] });
    const list = await labels();
    expect(list.filter((l) => !l.system).map((l) => [l.name, l.memberCount])).toEqual([
      ['Made in Google', 1],
      ['Renamed in Google', 1],
    ]);
    const node = async (id: string) =>
      (await ok('query ($id: ID!) { contact(id: $id) { labels { name } } }', { id })).contact.labels.map(
        (l: any) => l.name,
      );
    expect(await node(a.id)).toEqual(['My Contacts', 'Made in Google', 'Renamed in Google']);
    expect(await node(b.id)).toEqual(['My Contacts']);
    await w.admin.request('DELETE', `/users/${AGENT}/contactGroups/${made.resourceName.replace('contactGroups/', '')}`);
    expect((await labels()).filter((l) => !l.system).map((l) => l.name)).toEqual(['Renamed in Google']);
    expect(await node(a.id)).toEqual(['My Contacts', 'Renamed in Google']);
  });

  test('a create whose answer was lost is retried and linked to the group Google made: one label in Google', async () => {
    await w.admin.addFault({
      api: 'people',
      method: 'people.contactGroups.create',
      resetConnection: true,
      afterCommit: true,
      count: 1,
    });
    const l = await createLabel('Lost answer');
    expect(l.syncState).toBe('SYNCED');
    expect((await googleGroups()).filter((g) => g.name === 'Lost answer')).toHaveLength(1);
    // The retry looked first (the group under the name sent) and linked it: one create in all.
    expect(await calls('contactGroups.create')).toHaveLength(1);
    expect(l.resourceName).toBe((await googleGroup('Lost answer')).resourceName);
  });

  describe('bad input: a typed error naming the field, nothing written', () => {
    const nothingWritten = async (labelsBefore: number) => {
      expect(await db().ds.getRepository(ContactLabel).count()).toBe(labelsBefore);
      expect(await db().ds.getRepository(OutboxRow).count()).toBe(0);
      expect((await calls()).filter((c) => !c.method.endsWith('.list'))).toEqual([]);
    };

    test("names: blank, over Google's limit, a duplicate (whatever its case), a name of Google's own", async () => {
      const taken = await createLabel('Buyers');
      await deliveryDone(db());
      await db().ds.query('DELETE FROM outbox');
      await w.admin.clearRequests();
      const count = await db().ds.getRepository(ContactLabel).count();
      for (const [name, message] of [
        ['  ', /must not be blank/],
        ['x'.repeat(256), /at most 255 characters/],
        ['buyers', /already a label named "Buyers"/],
        ['Starred', /Google's own labels/],
        ['My Contacts', /Google's own/],
      ] as const) {
        const b = await gql('mutation ($n: String!) { createContactLabel(name: $n) { id } }', { n: name });
        expect(b.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'name' });
        expect(b.errors![0].message).toMatch(message);
      }
      const dup = await gql('mutation ($n: String!) { createContactLabel(name: $n) { id } }', { n: 'BUYERS' });
      expect(dup.errors![0].extensions.existingId).toBe(taken.id);
      expect(
        (await gql('mutation ($id: ID!) { renameContactLabel(id: $id, name: "") { id } }', { id: taken.id })).errors![0]
          .extensions,
      ).toMatchObject({ code: 'BAD_USER_INPUT', field: 'name' });
      await nothingWritten(count);
    });

    test("Google's own labels are read-only; another agent's label or contact is NOT_FOUND; more than 1,000 contacts is refused", async () => {
      const [c] = await createContacts(1);
      const otherToken = await w.token(OTHER);
      const theirLabel = (await ok('mutation { createContactLabel(name: "Theirs") { id } }', undefined, otherToken))
        .createContactLabel;
      const theirContact = (
        await ok('mutation { createContact(input: { givenName: "Theirs" }) { id } }', undefined, otherToken)
      ).createContact;
      const mine = await createLabel('Mine');
      const starred = (await labels()).find((l) => l.name === 'Starred');
      await deliveryDone(db());
      await db().ds.query('DELETE FROM outbox');
      await w.admin.clearRequests();
      const count = await db().ds.getRepository(ContactLabel).count();
      const members = await db().ds.getRepository(ContactLabelMember).count();
      const cases: [string, Record<string, unknown>, Record<string, unknown>][] = [
        [
          'mutation ($id: ID!) { renameContactLabel(id: $id, name: "Faves") { id } }',
          { id: starred.id },
          { code: 'BAD_USER_INPUT', field: 'id' },
        ],
        [
          'mutation ($id: ID!) { deleteContactLabel(id: $id) }',
          { id: starred.id },
          { code: 'BAD_USER_INPUT', field: 'id' },
        ],
        [
          'mutation ($l: ID!, $c: [ID!]!) { addContactsToLabel(labelId: $l, contactIds: $c) { id } }',
          { l: starred.id, c: [c.id] },
          { code: 'BAD_USER_INPUT', field: 'labelId' },
        ],
        [
          'mutation ($id: ID!) { renameContactLabel(id: $id, name: "Mine now") { id } }',
          { id: theirLabel.id },
          { code: 'NOT_FOUND', field: 'id' },
        ],
        [
          'mutation ($id: ID!) { deleteContactLabel(id: $id) }',
          { id: theirLabel.id },
          { code: 'NOT_FOUND', field: 'id' },
        ],
        [
          'mutation ($l: ID!, $c: [ID!]!) { addContactsToLabel(labelId: $l, contactIds: $c) { id } }',
          { l: theirLabel.id, c: [c.id] },
          { code: 'NOT_FOUND', field: 'labelId' },
        ],
        [
          'mutation ($l: ID!, $c: [ID!]!) { removeContactsFromLabel(labelId: $l, contactIds: $c) { id } }',
          { l: theirLabel.id, c: [c.id] },
          { code: 'NOT_FOUND', field: 'labelId' },
        ],
        [
          'mutation ($l: ID!, $c: [ID!]!) { addContactsToLabel(labelId: $l, contactIds: $c) { id } }',
          { l: mine.id, c: [c.id, theirContact.id] },
          { code: 'NOT_FOUND', field: 'contactIds' },
        ],
        [
          'mutation ($l: ID!, $c: [ID!]!) { addContactsToLabel(labelId: $l, contactIds: $c) { id } }',
          { l: mine.id, c: Array.from({ length: 1001 }, (_, i) => `id-${i}`) },
          { code: 'BAD_USER_INPUT' },
        ],
        [
          'query ($l: ID!) { contacts(label: $l) { totalCount } }',
          { l: theirLabel.id },
          { code: 'NOT_FOUND', field: 'label' },
        ],
      ];
      for (const [q, v, ext] of cases) {
        const b = await gql(q, v);
        expect({ q, ext: b.errors?.[0]?.extensions }).toMatchObject({ q, ext });
        expect(JSON.stringify(b)).not.toMatch(/stack|\.ts:\d+/);
      }
      expect(await db().ds.getRepository(ContactLabelMember).count()).toBe(members);
      await nothingWritten(count);
    });
  });

  test('a membership of ours on its way is kept when a sync brings the person as Google still has it', async () => {
    const [a] = await createContacts(1);
    const l = await createLabel('Held');
    await w.admin.addFault({
      api: 'people',
      method: 'people.contactGroups.members.modify',
      status: 503,
      unlimited: true,
    });
    // It waits for Google (up to MUTATION_WAIT_MS) while the fault holds delivery back: looked at before it answers.
    const answer = w.gw.gql(
      `mutation ($l: ID!, $c: [ID!]!) { addContactsToLabel(labelId: $l, contactIds: $c) { memberCount syncState } }`,
      { token, variables: { l: l.id, c: [a.id] } },
    );
    await until(
      'the membership to be pending',
      () => db().ds.getRepository(ContactLabelMember).findOneBy({ contactId: a.id, labelId: l.id }),
      (r) => r?.pending === 'add',
    );
    await w.admin.request('PATCH', `/users/${AGENT}/contacts/${a.resourceName.replace('people/', '')}`, {
      names: [{ givenName: 'Edited in Google' }],
    });
    await ok('mutation { syncContacts { contacts { lastSyncAt } } }');
    expect(
      (await ok('query ($id: ID!) { contact(id: $id) { givenName labels { name } } }', { id: a.id })).contact,
    ).toEqual({ givenName: 'Edited in Google', labels: [{ name: 'My Contacts' }, { name: 'Held' }] });
    await w.admin.clearFaults();
    expect((await answer).body.data.addContactsToLabel).toEqual({ memberCount: 1, syncState: 'SYNCED' });
    await deliveryDone(db());
    expect(await googleGroupsOf(a.resourceName)).toEqual([l.resourceName, 'contactGroups/myContacts'].sort());

    // And a removal on its way: Google still lists the contact in the label; the label stays off it here.
    await w.admin.addFault({
      api: 'people',
      method: 'people.contactGroups.members.modify',
      status: 503,
      unlimited: true,
    });
    const removal = w.gw.gql(
      `mutation ($l: ID!, $c: [ID!]!) { removeContactsFromLabel(labelId: $l, contactIds: $c) { memberCount } }`,
      { token, variables: { l: l.id, c: [a.id] } },
    );
    await until(
      'the removal to be pending',
      () => db().ds.getRepository(ContactLabelMember).findOneBy({ contactId: a.id, labelId: l.id }),
      (r) => r?.pending === 'remove',
    );
    await w.admin.request('PATCH', `/users/${AGENT}/contacts/${a.resourceName.replace('people/', '')}`, {
      names: [{ givenName: 'Edited again' }],
    });
    await ok('mutation { syncContacts { contacts { lastSyncAt } } }');
    expect(
      (await ok('query ($id: ID!) { contact(id: $id) { givenName labels { name } } }', { id: a.id })).contact,
    ).toEqual({ givenName: 'Edited again', labels: [{ name: 'My Contacts' }] });
    await w.admin.clearFaults();
    expect((await removal).body.data.removeContactsFromLabel).toEqual({ memberCount: 0 });
    await deliveryDone(db());
    expect(await googleGroupsOf(a.resourceName)).toEqual(['contactGroups/myContacts']);
  });
});

/**
 * The same, with reads that do not sync every time (as in production): what the mirror keeps of Google between syncs
 * (etags, the person as last seen) must not turn our own label changes into edits, and no label change may be left
 * behind when what it waited for comes late.
 */
describeEachDb('contacts: labels between syncs', (db) => {
  let w: World;
  let token: string;

  beforeAll(async () => {
    w = await startWorld(db(), { env: { ...FAST_OUTBOX_ENV, MUTATION_WAIT_MS: '60000' } });
    token = await w.token(AGENT);
  });
  afterAll(() => w.close());
  beforeEach(async () => {
    await w.admin.clearFaults();
    await resetContacts(w, db(), AGENT);
    await ok('mutation { syncContacts { contacts { lastSyncAt } } }');
    await w.admin.clearRequests();
  });

  const gql = async (query: string, variables?: Record<string, unknown>) =>
    (await w.gw.gql(query, { token, variables })).body;
  const ok = async (query: string, variables?: Record<string, unknown>) => {
    const b = await gql(query, variables);
    expect(b.errors).toBeUndefined();
    return b.data;
  };
  const createLabel = (name: string) =>
    gql('mutation ($n: String!) { createContactLabel(name: $n) { id name resourceName syncState } }', { n: name });
  const add = async (labelId: string, contactIds: string[]) =>
    (
      await ok(
        'mutation ($l: ID!, $c: [ID!]!) { addContactsToLabel(labelId: $l, contactIds: $c) { memberCount syncState } }',
        { l: labelId, c: contactIds },
      )
    ).addContactsToLabel;
  const userGroups = async () =>
    (await w.admin.request<any[]>('GET', `/users/${AGENT}/contactGroups`)).body
      .filter((g) => g.groupType === 'USER_CONTACT_GROUP')
      .map((g) => ({ name: g.name, resourceName: g.resourceName, memberCount: g.memberCount ?? 0 }));
  const googleContacts = async () => (await w.admin.request<any[]>('GET', `/users/${AGENT}/contacts`)).body;
  const googleLabel = (name: string) =>
    w.admin.request<any>('POST', `/users/${AGENT}/contactGroups`, { name }).then((r) => r.body);
  const groupsOf = async (resourceName: string) =>
    ((await googleContacts()).find((p) => p.resourceName === resourceName)?.memberships ?? [])
      .map((m: any) => m.contactGroupMembership.contactGroupResourceName)
      .sort();
  const contact = async (id: string) =>
    (
      await ok(
        'query ($id: ID!) { contact(id: $id) { id resourceName givenName syncState conflicts { field } labels { name } } }',
        { id },
      )
    ).contact;

  test('a contact deleted right after a label change of ours is deleted (Google re-stamped it for the label: no edit)', async () => {
    const [a] = (await ok('mutation { createContacts(input: [{ givenName: "Del" }]) { id resourceName } }'))
      .createContacts;
    const l = (await createLabel('Buyers')).data.createContactLabel;
    const editedAt = (await db().ds.getRepository(Contact).findOneByOrFail({ id: a.id })).updatedAt;
    expect(await add(l.id, [a.id])).toEqual({ memberCount: 1, syncState: 'SYNCED' });
    // A label change is no edit of the contact's fields: their time, which decides merges, stays.
    expect((await db().ds.getRepository(Contact).findOneByOrFail({ id: a.id })).updatedAt).toEqual(editedAt);
    expect(await ok('mutation ($ids: [ID!]!) { deleteContacts(ids: $ids) }', { ids: [a.id] })).toEqual({
      deleteContacts: true,
    });
    await deliveryDone(db());
    expect(await contact(a.id)).toBeNull();
    expect((await googleContacts()).map((p) => p.resourceName)).toEqual([]);
    expect(await db().ds.getRepository(ContactLabelMember).count()).toBe(0);
  });

  test('a contact Google refused at first, labelled meanwhile, then fixed: its label reaches Google when it does', async () => {
    await w.admin.addFault({ api: 'people', method: 'people.people.batchCreateContacts', status: 400, count: 1 });
    const c = (await ok('mutation { createContact(input: { givenName: "Refused" }) { id syncState } }')).createContact;
    expect(c.syncState).toBe('FAILED');
    const l = (await createLabel('Buyers')).data.createContactLabel;
    expect(await add(l.id, [c.id])).toEqual({ memberCount: 1, syncState: 'SYNCED' });
    const fixed = (
      await ok(
        'mutation ($id: ID!) { updateContact(id: $id, input: { givenName: "Accepted" }) { resourceName syncState } }',
        { id: c.id },
      )
    ).updateContact;
    expect(fixed.syncState).toBe('SYNCED');
    await deliveryDone(db());
    expect(await groupsOf(fixed.resourceName)).toEqual([l.resourceName, 'contactGroups/myContacts'].sort());
    expect(
      await db()
        .ds.getRepository(ContactLabelMember)
        .countBy({ pending: Not(IsNull()) }),
    ).toBe(0);
  });

  test('a label Google refused at first, filled meanwhile, then renamed: it and its contacts reach Google, and the lane never stalls', async () => {
    const [a] = (await ok('mutation { createContacts(input: [{ givenName: "Member" }]) { id resourceName } }'))
      .createContacts;
    await w.admin.addFault({ api: 'people', method: 'people.contactGroups.create', status: 400, count: 1 });
    const refused = (await createLabel('Refused')).data.createContactLabel;
    expect(refused.syncState).toBe('FAILED');
    expect(await add(refused.id, [a.id])).toEqual({ memberCount: 1, syncState: 'FAILED' });
    const renamed = (
      await ok(
        'mutation ($id: ID!) { renameContactLabel(id: $id, name: "Accepted") { name syncState resourceName } }',
        { id: refused.id },
      )
    ).renameContactLabel;
    expect(renamed).toMatchObject({ name: 'Accepted', syncState: 'SYNCED' });
    await deliveryDone(db());
    expect(await groupsOf(a.resourceName)).toEqual([renamed.resourceName, 'contactGroups/myContacts'].sort());
    // Nothing left behind in the agent's lane: a later write goes straight through.
    expect(
      (await ok('mutation { createContact(input: { givenName: "After" }) { syncState } }')).createContact.syncState,
    ).toBe('SYNCED');
    expect(
      await db()
        .ds.getRepository(OutboxRow)
        .countBy({ status: Not('FAILED') }),
    ).toBe(0); // the refused create stays, FAILED
  });

  test('labelled here after Google deleted it, then edited here: it comes back to Google with the label', async () => {
    const [a] = (await ok('mutation { createContacts(input: [{ givenName: "Gone" }]) { id resourceName } }'))
      .createContacts;
    const l = (await createLabel('Buyers')).data.createContactLabel;
    await w.admin.request('DELETE', `/users/${AGENT}/contacts/${a.resourceName.replace('people/', '')}`);
    expect(await add(l.id, [a.id])).toEqual({ memberCount: 1, syncState: 'SYNCED' });
    const back = (
      await ok(
        'mutation ($id: ID!) { updateContact(id: $id, input: { givenName: "Back" }) { resourceName syncState } }',
        { id: a.id },
      )
    ).updateContact;
    expect(back.syncState).toBe('SYNCED');
    await deliveryDone(db());
    expect(back.resourceName).not.toBe(a.resourceName);
    expect(await groupsOf(back.resourceName)).toEqual([l.resourceName, 'contactGroups/myContacts'].sort());
    expect((await contact(a.id)).labels.map((x: any) => x.name)).toEqual(['My Contacts', 'Buyers']);
  });

  test('renamed while its create was on its way to Google: Google ends with the new name', async () => {
    const held = await w.admin.addFault({ api: 'people', method: 'people.contactGroups.create', hold: 'answer' });
    const creating = createLabel('Alpha');
    await w.admin.waitHeld(held.id);
    const id = (await db().ds.getRepository(ContactLabel).findOneByOrFail({ name: 'Alpha' })).id;
    // The rename waits for Google behind the held create: looked at once it is recorded here.
    const renaming = ok('mutation ($id: ID!) { renameContactLabel(id: $id, name: "Beta") { name } }', { id });
    await until(
      'the rename recorded here',
      () => db().ds.getRepository(ContactLabel).findOneByOrFail({ id }),
      (l) => l.name === 'Beta',
    );
    await w.admin.release(held.id);
    expect((await creating).data.createContactLabel).toMatchObject({ id, name: 'Beta' });
    expect((await renaming).renameContactLabel.name).toBe('Beta');
    await deliveryDone(db());
    expect((await userGroups()).map((g) => g.name)).toEqual(['Beta']);
    expect(
      (await ok('{ contactLabels { name syncState } }')).contactLabels.filter((x: any) => x.name === 'Beta'),
    ).toEqual([{ name: 'Beta', syncState: 'SYNCED' }]);
  });

  test.each(['renamed', 'deleted'])(
    'a create whose answer was lost, then %s before the retry: no second group, no ghost',
    async (then) => {
      await w.admin.addFault({
        api: 'people',
        method: 'people.contactGroups.create',
        resetConnection: true,
        afterCommit: true,
        count: 1,
      });
      // The retry first looks at Google's groups: held there while the agent changes the label.
      const look = await w.admin.addFault({ api: 'people', method: 'people.contactGroups.list', hold: 'call' });
      const creating = createLabel('Alpha');
      await w.admin.waitHeld(look.id);
      const id = (await db().ds.getRepository(ContactLabel).findOneByOrFail({ name: 'Alpha' })).id;
      // A delete waits for Google behind the held create: looked at once it is recorded here.
      const changing =
        then === 'renamed'
          ? ok('mutation ($id: ID!) { renameContactLabel(id: $id, name: "Beta") { name } }', { id })
          : ok('mutation ($id: ID!) { deleteContactLabel(id: $id) }', { id });
      await until(
        `the label ${then} here`,
        () => db().ds.getRepository(ContactLabel).findOneByOrFail({ id }),
        (l) => (then === 'renamed' ? l.name === 'Beta' : l.deletedAt !== null),
      );
      await w.admin.release(look.id);
      await creating;
      expect(await changing).toEqual(
        then === 'renamed' ? { renameContactLabel: { name: 'Beta' } } : { deleteContactLabel: true },
      );
      await deliveryDone(db());
      expect((await userGroups()).map((g) => g.name)).toEqual(then === 'renamed' ? ['Beta'] : []);
      expect((await ok('{ contactLabels { name } }')).contactLabels.map((x: any) => x.name)).toEqual(
        then === 'renamed' ? ['My Contacts', 'Starred', 'Beta'] : ['My Contacts', 'Starred'],
      );
      expect(await w.admin.requests({ api: 'people', method: 'people.contactGroups.create' })).toHaveLength(1);
    },
  );

  test('Google has a group of that name we did not know (409): linked, and a rename made meanwhile still reaches Google', async () => {
    await googleLabel('Alpha'); // made in Google; the mirror's labels are older than it
    const look = await w.admin.addFault({ api: 'people', method: 'people.contactGroups.list', hold: 'call' });
    const creating = createLabel('Alpha');
    await w.admin.waitHeld(look.id); // Google answered 409, and the delivery looks for the group
    const id = (await db().ds.getRepository(ContactLabel).findOneByOrFail({ name: 'Alpha' })).id;
    const renaming = ok('mutation ($id: ID!) { renameContactLabel(id: $id, name: "Beta") { name } }', { id });
    await until(
      'the rename recorded here',
      () => db().ds.getRepository(ContactLabel).findOneByOrFail({ id }),
      (l) => l.name === 'Beta',
    );
    await w.admin.release(look.id);
    await creating;
    await renaming;
    await deliveryDone(db());
    expect((await userGroups()).map((g) => g.name)).toEqual(['Beta']);
    expect(await db().ds.getRepository(ContactLabel).findOneByOrFail({ id })).toMatchObject({
      name: 'Beta',
      syncState: 'SYNCED',
    });
    expect(await w.admin.requests({ api: 'people', method: 'people.contactGroups.create' })).toHaveLength(1);
  });

  test('a label created while a full label listing is under way is not taken for one deleted in Google', async () => {
    await db().ds.query('UPDATE contact_sync SET groupSyncToken = NULL, groupsSyncedAt = NULL');
    forgetRows(w.gw.services); // the record changed behind the gateway's back
    // The listing has run in Google (without the label below); its answer is held until the label is in Google.
    const listing = await w.admin.addFault({ api: 'people', method: 'people.contactGroups.list', hold: 'answer' });
    const reading = gql('{ contactLabels { id name } }');
    await w.admin.waitHeld(listing.id);
    const made = (await createLabel('Made meanwhile')).data.createContactLabel;
    expect(made.syncState).toBe('SYNCED');
    await w.admin.release(listing.id);
    expect((await reading).data.contactLabels).toContainEqual({ id: made.id, name: 'Made meanwhile' });
    expect(await ok('{ contactLabels { id name } }')).toEqual({
      contactLabels: expect.arrayContaining([{ id: made.id, name: 'Made meanwhile' }]),
    });
    expect(await w.admin.requests({ api: 'people', method: 'people.contactGroups.batchGet' })).toHaveLength(1);
    expect((await userGroups()).map((g) => g.name)).toEqual(['Made meanwhile']);
  });
});
