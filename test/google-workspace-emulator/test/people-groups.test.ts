/**
 * People API contact groups ("labels") through the real @googleapis/people client (v8): contactGroups.list (paging,
 * group sync tokens, expiry), get, batchGet, create, update, delete, members.modify; memberships changed by them in
 * connections.list sync; system groups; scopes, quota buckets and the request log; the admin group routes.
 * Rules and their sources: docs/google-people-contact-details.md §3, §4 and §7.
 */
import { auth as googleAuth, people as peopleApi, type people_v1 } from '@googleapis/people';
import { startEmulator, type RunningEmulator } from '../src/server';
import { MODIFY_MEMBERS_MAX_RESOURCE_NAMES, PEOPLE_READS_BUCKET, PEOPLE_WRITES_BUCKET } from '../src/people';
import { EmulatorAdmin, SCOPES, googleClients, googleError, mintToken, type Tenant } from '../src/testing';

let emu: RunningEmulator;
let admin: EmulatorAdmin;
let t: Tenant;

// One user per concern, so tests never see each other's groups or contacts.
const SYS = 'sys@labels.test';
const LIST = 'list@labels.test';
const SYNC = 'sync@labels.test';
const EXP = 'exp@labels.test';
const GET = 'get@labels.test';
const CREATE = 'create@labels.test';
const UPDATE = 'update@labels.test';
const DELETE = 'delete@labels.test';
const MODIFY = 'modify@labels.test';
const BUMP = 'bump@labels.test';
const SCOPE = 'scope@labels.test';
const ADMIN = 'admin@labels.test';

const BAD_REQUEST = 'type.googleapis.com/google.rpc.BadRequest';
const GROUP_RN = /^contactGroups\/[0-9a-f]{16}$/;
const ETAG = /^[A-Za-z0-9+/]{11}=$/; // base64 of 8 bytes
const INVALID = (field: string, description: unknown) => ({
  code: 400,
  message: 'Request contains an invalid argument.',
  status: 'INVALID_ARGUMENT',
  details: [{ '@type': BAD_REQUEST, fieldViolations: [{ field, description }] }],
});
const SYSTEM_GROUPS = [
  ['myContacts', 'My Contacts'],
  ['starred', 'Starred'],
  ['friends', 'Friends'],
  ['family', 'Family'],
  ['coworkers', 'Coworkers'],
  ['chatBuddies', 'Chat contacts'],
  ['all', 'All Contacts'],
  ['blocked', 'Blocked'],
] as const;

beforeAll(async () => {
  emu = await startEmulator();
  admin = new EmulatorAdmin(emu.url);
  t = await admin.tenant(
    'labels.test',
    [SYS, LIST, SYNC, EXP, GET, CREATE, UPDATE, DELETE, MODIFY, BUMP, SCOPE, ADMIN],
    [SCOPES.contacts, SCOPES.contactsReadonly],
  );
});
afterAll(() => emu.close());
beforeEach(() => admin.clearRequests());

const clients = (user: string, scopes: string[] = [SCOPES.contacts]) =>
  googleClients(emu.url, t.key, user, scopes).people;
const log = async (user: string) =>
  (await admin.requests({ api: 'people', user })).map((e) => `${e.method} ${e.status}`);

async function seed(user: string, persons: people_v1.Schema$Person[]): Promise<people_v1.Schema$Person[]> {
  const r = await admin.request<people_v1.Schema$Person[]>(
    'POST',
    `/users/${encodeURIComponent(user)}/contacts`,
    persons,
  );
  if (r.status !== 200) throw new Error(`seeding ${user} answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}
const named = (...names: string[]): people_v1.Schema$Person[] => names.map((givenName) => ({ names: [{ givenName }] }));
const groupIds = (p: people_v1.Schema$Person | undefined) =>
  (p?.memberships ?? []).map((m) => m.contactGroupMembership!.contactGroupId);

/** A full connections sync (memberships and metadata); returns the persons and the sync token. */
async function contactSync(people: people_v1.Resource$People, syncToken?: string) {
  const { data } = await people.connections.list({
    resourceName: 'people/me',
    personFields: 'names,memberships,metadata',
    pageSize: 1000,
    requestSyncToken: true,
    syncToken,
  });
  return { persons: data.connections ?? [], token: data.nextSyncToken! };
}

/** A People client whose access token was minted at the emulator's (moved) clock. */
async function contactGroupsAtEmulatorClock(user: string): Promise<people_v1.Resource$Contactgroups> {
  const { now } = await admin.request<{ now: string }>('GET', '/clock').then((r) => r.body);
  const { access_token } = await mintToken(t.key, user, [SCOPES.contacts], { iat: Math.floor(Date.parse(now) / 1000) });
  const oauth = new googleAuth.OAuth2();
  oauth.setCredentials({ access_token, expiry_date: Date.now() + 3_600_000 });
  oauth.transporter.defaults.fetchImplementation = fetch;
  return peopleApi({ version: 'v1', auth: oauth, rootUrl: `${emu.url}/` }).contactGroups;
}

describe('system groups', () => {
  test('every user has the 8 system groups: name = id, English formattedName, SYSTEM_CONTACT_GROUP, no etag or metadata; memberCount only when > 0', async () => {
    const { contactGroups } = clients(SYS);
    const empty = (await contactGroups.list()).data;
    expect(empty).toEqual({
      contactGroups: SYSTEM_GROUPS.map(([id, formattedName]) => ({
        resourceName: `contactGroups/${id}`,
        groupType: 'SYSTEM_CONTACT_GROUP',
        name: id,
        formattedName,
      })),
      nextSyncToken: expect.any(String),
      totalItems: 8,
    });
    await seed(SYS, named('A', 'B', 'C'));
    await seed(SYS, [
      {
        names: [{ givenName: 'D' }],
        memberships: [{ contactGroupMembership: { contactGroupResourceName: 'contactGroups/starred' } }],
      },
    ]);
    const counted = (await contactGroups.list()).data.contactGroups!;
    expect(counted[0]).toEqual({
      resourceName: 'contactGroups/myContacts',
      groupType: 'SYSTEM_CONTACT_GROUP',
      name: 'myContacts',
      formattedName: 'My Contacts',
      memberCount: 3,
    });
    expect(counted[1]).toEqual({
      resourceName: 'contactGroups/starred',
      groupType: 'SYSTEM_CONTACT_GROUP',
      name: 'starred',
      formattedName: 'Starred',
      memberCount: 1,
    });
    expect(counted.slice(2).every((g) => g.memberCount === undefined && !('memberCount' in g))).toBe(true);
    // get of a system group: same shape, with members on request.
    const got = (await contactGroups.get({ resourceName: 'contactGroups/starred', maxMembers: 10 })).data;
    expect(got).toEqual({
      resourceName: 'contactGroups/starred',
      groupType: 'SYSTEM_CONTACT_GROUP',
      name: 'starred',
      formattedName: 'Starred',
      memberCount: 1,
      memberResourceNames: [expect.stringMatching(/^people\/c\d+$/)],
    });
    // System groups cannot be renamed or deleted [?].
    const rename = await googleError(
      contactGroups.update({
        resourceName: 'contactGroups/myContacts',
        requestBody: { contactGroup: { name: 'Mine' } },
      }),
    );
    expect(rename.status).toBe(400);
    expect(rename.data.error).toEqual(
      INVALID(
        'contact_group.resource_name',
        'contactGroups/myContacts is a system contact group and cannot be updated',
      ),
    );
    const del = await googleError(contactGroups.delete({ resourceName: 'contactGroups/starred' }));
    expect(del.data.error).toEqual(
      INVALID('resource_name', 'contactGroups/starred is a system contact group and cannot be deleted'),
    );
    expect(await log(SYS)).toEqual([
      'people.contactGroups.list 200',
      'people.contactGroups.list 200',
      'people.contactGroups.get 200',
      'people.contactGroups.update 400',
      'people.contactGroups.delete 400',
    ]);
  });
});

describe('contactGroups.list', () => {
  test('pageSize defaults to 30 (0 too), max 1000 (1001 and -1 → 400); the last page always carries nextSyncToken; totalItems', async () => {
    const { contactGroups } = clients(LIST);
    for (let i = 0; i < 25; i++)
      await contactGroups.create({ requestBody: { contactGroup: { name: `Label ${String(i).padStart(2, '0')}` } } });
    for (const pageSize of [undefined, 0]) {
      const first = (await contactGroups.list({ pageSize })).data;
      expect(first.contactGroups).toHaveLength(30);
      expect(first.nextPageToken).toEqual(expect.any(String));
      expect(first.nextSyncToken).toBeUndefined();
      expect(first.totalItems).toBe(33);
      const second = (await contactGroups.list({ pageSize, pageToken: first.nextPageToken! })).data;
      expect(second.contactGroups).toHaveLength(3);
      expect(second.nextPageToken).toBeUndefined();
      expect(second.nextSyncToken).toEqual(expect.any(String));
      const all = [...first.contactGroups!, ...second.contactGroups!];
      expect(new Set(all.map((g) => g.resourceName)).size).toBe(33);
      // System groups first, then the user's in creation order.
      expect(all.slice(8).map((g) => g.name)).toEqual(
        Array.from({ length: 25 }, (_, i) => `Label ${String(i).padStart(2, '0')}`),
      );
    }
    expect((await contactGroups.list({ pageSize: 1000 })).data).toMatchObject({
      contactGroups: expect.any(Array),
      nextSyncToken: expect.any(String),
      totalItems: 33,
    });
    for (const pageSize of [1001, -1]) {
      const e = await googleError(contactGroups.list({ pageSize }));
      expect(e.status).toBe(400);
      expect(e.data.error).toEqual(INVALID('page_size', `pageSize must be between 1 and 1000, got ${pageSize}`));
    }
    const garbled = await googleError(contactGroups.list({ pageToken: 'nope' }));
    expect(garbled.data.error).toMatchObject({
      code: 400,
      status: 'INVALID_ARGUMENT',
      details: [{ fieldViolations: [{ field: 'page_token' }] }],
    });
    expect((await log(LIST)).slice(25)).toEqual([
      ...Array(5).fill('people.contactGroups.list 200'),
      ...Array(3).fill('people.contactGroups.list 400'),
    ]);
  });

  test('groupFields: default metadata,groupType,memberCount,name; a narrower mask; an unknown path → 400', async () => {
    const { contactGroups } = clients(LIST);
    const user = (await contactGroups.list({ pageSize: 1000 })).data.contactGroups!.find((g) => g.name === 'Label 00')!;
    expect(user).toEqual({
      resourceName: expect.stringMatching(GROUP_RN),
      etag: expect.stringMatching(ETAG),
      metadata: { updateTime: expect.any(String) },
      groupType: 'USER_CONTACT_GROUP',
      name: 'Label 00',
      formattedName: 'Label 00',
    });
    const narrow = (await contactGroups.list({ pageSize: 1000, groupFields: 'name' })).data.contactGroups!;
    expect(narrow.find((g) => g.resourceName === user.resourceName)).toEqual({
      resourceName: user.resourceName,
      etag: user.etag,
      name: 'Label 00',
      formattedName: 'Label 00',
    });
    expect(narrow[0]).toEqual({
      resourceName: 'contactGroups/myContacts',
      name: 'myContacts',
      formattedName: 'My Contacts',
    });
    const e = await googleError(contactGroups.list({ groupFields: 'name,memberResourceNames' }));
    expect(e.status).toBe(400);
    expect(e.data.error).toEqual({
      code: 400,
      status: 'INVALID_ARGUMENT',
      message:
        'Invalid groupFields mask path: "memberResourceNames". Valid paths are documented at https://developers.google.com/people/api/rest/v1/contactGroups/list.',
      details: [
        {
          '@type': BAD_REQUEST,
          fieldViolations: [
            { field: 'groupFields', description: 'valid paths: clientData, groupType, memberCount, metadata, name' },
          ],
        },
      ],
    });
  });

  test('with a syncToken: groups created, renamed and deleted since (API and "in Google"), deleted ones as {resourceName, metadata: {deleted, updateTime}}', async () => {
    const { contactGroups } = clients(SYNC);
    const keep = (await contactGroups.create({ requestBody: { contactGroup: { name: 'Keep' } } })).data;
    const renameMe = (await contactGroups.create({ requestBody: { contactGroup: { name: 'Old name' } } })).data;
    const dropMe = (await contactGroups.create({ requestBody: { contactGroup: { name: 'Drop' } } })).data;
    const inGoogle = (
      await admin.request<people_v1.Schema$ContactGroup>('POST', `/users/${SYNC}/contactGroups`, {
        name: 'Made in Google',
      })
    ).body;
    const full = (await contactGroups.list({ pageSize: 1000 })).data;
    expect(full.contactGroups!.map((g) => g.name)).toEqual([
      ...SYSTEM_GROUPS.map(([id]) => id),
      'Keep',
      'Old name',
      'Drop',
      'Made in Google',
    ]);

    // Nothing changed: an empty answer with a new token. Member counts changing do not count as group changes [?].
    await seed(SYNC, named('X'));
    const none = (await contactGroups.list({ syncToken: full.nextSyncToken! })).data;
    expect(none).toEqual({ nextSyncToken: expect.any(String), totalItems: 0 });

    const renamed = (
      await contactGroups.update({
        resourceName: renameMe.resourceName!,
        requestBody: { contactGroup: { etag: renameMe.etag, name: 'New name' } },
      })
    ).data;
    expect((await contactGroups.delete({ resourceName: dropMe.resourceName! })).data).toEqual({});
    const created = (await contactGroups.create({ requestBody: { contactGroup: { name: 'Fresh' } } })).data;
    expect(
      (
        await admin.request('PATCH', `/users/${SYNC}/contactGroups/${inGoogle.resourceName}`, {
          name: 'Renamed in Google',
        })
      ).status,
    ).toBe(200);
    expect(
      (
        await admin.request(
          'DELETE',
          `/users/${SYNC}/contactGroups/${keep.resourceName!.slice('contactGroups/'.length)}`,
        )
      ).status,
    ).toBe(200);

    const inc = (await contactGroups.list({ syncToken: none.nextSyncToken! })).data;
    const at = expect.stringMatching(/^\d{4}-\d\d-\d\dT/);
    expect(inc).toEqual({
      contactGroups: [
        {
          resourceName: renameMe.resourceName,
          etag: renamed.etag,
          metadata: { updateTime: at },
          groupType: 'USER_CONTACT_GROUP',
          name: 'New name',
          formattedName: 'New name',
        },
        { resourceName: dropMe.resourceName, metadata: { deleted: true, updateTime: at } },
        {
          resourceName: created.resourceName,
          etag: created.etag,
          metadata: { updateTime: at },
          groupType: 'USER_CONTACT_GROUP',
          name: 'Fresh',
          formattedName: 'Fresh',
        },
        {
          resourceName: inGoogle.resourceName,
          etag: expect.not.stringMatching(`^${inGoogle.etag!.replace(/[+/]/g, '\\$&')}$`),
          metadata: { updateTime: at },
          groupType: 'USER_CONTACT_GROUP',
          name: 'Renamed in Google',
          formattedName: 'Renamed in Google',
        },
        { resourceName: keep.resourceName, metadata: { deleted: true, updateTime: at } },
      ],
      nextSyncToken: expect.any(String),
      totalItems: 5,
    });
    // Incremental answers page like full ones; the last page carries the token.
    await contactGroups.create({ requestBody: { contactGroup: { name: 'P1' } } });
    await contactGroups.create({ requestBody: { contactGroup: { name: 'P2' } } });
    const p1 = (await contactGroups.list({ syncToken: inc.nextSyncToken!, pageSize: 1 })).data;
    expect([p1.contactGroups!.map((g) => g.name), !!p1.nextPageToken, p1.nextSyncToken]).toEqual([
      ['P1'],
      true,
      undefined,
    ]);
    const p2 = (await contactGroups.list({ syncToken: inc.nextSyncToken!, pageSize: 1, pageToken: p1.nextPageToken! }))
      .data;
    expect([p2.contactGroups!.map((g) => g.name), p2.nextPageToken, typeof p2.nextSyncToken]).toEqual([
      ['P2'],
      undefined,
      'string',
    ]);
    expect((await contactGroups.list({ syncToken: p2.nextSyncToken! })).data.contactGroups).toBeUndefined();
    // A garbled sync token → 400 naming sync_token.
    const garbled = await googleError(contactGroups.list({ syncToken: 'not-a-token' }));
    expect(garbled.data.error).toMatchObject({
      code: 400,
      status: 'INVALID_ARGUMENT',
      details: [
        {
          fieldViolations: [
            { field: 'sync_token', description: 'the sync token is not one this server issued for this user' },
          ],
        },
      ],
    });
  });

  test("group sync tokens expire like connections' (7 days after the full listing, emulator clock) → 400 EXPIRED_SYNC_TOKEN", async () => {
    const token = (await clients(EXP).contactGroups.list()).data.nextSyncToken!;
    let moved = 0;
    try {
      await admin.advanceClock(6 * 86_400);
      moved += 6 * 86_400;
      const g6 = await contactGroupsAtEmulatorClock(EXP);
      const chained = (await g6.list({ syncToken: token })).data.nextSyncToken!;
      await admin.advanceClock(86_400 + 1);
      moved += 86_400 + 1;
      const g7 = await contactGroupsAtEmulatorClock(EXP);
      for (const syncToken of [token, chained]) {
        const e = await googleError(g7.list({ syncToken }));
        expect(e.status).toBe(400);
        expect(e.data).toEqual({
          error: {
            code: 400,
            message: 'Sync token is expired. Clear local cache and retry call without the sync token.',
            status: 'FAILED_PRECONDITION',
            details: [
              {
                '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
                reason: 'EXPIRED_SYNC_TOKEN',
                domain: 'people.googleapis.com',
              },
            ],
          },
        });
      }
      // Same settings as connections: the status and the lifetime.
      await admin.request('PUT', '/people/settings', { expiredSyncTokenStatus: 'INVALID_ARGUMENT' });
      expect((await googleError(g7.list({ syncToken: token }))).data.error.status).toBe('INVALID_ARGUMENT');
      await admin.request('PUT', '/people/settings', { syncTokenLifetimeSeconds: 30 * 86_400 });
      expect((await g7.list({ syncToken: token })).status).toBe(200);
    } finally {
      await admin.request('PUT', '/people/settings', {
        expiredSyncTokenStatus: 'FAILED_PRECONDITION',
        syncTokenLifetimeSeconds: 7 * 86_400,
      });
      await admin.advanceClock(-moved);
    }
    expect(await log(EXP)).toEqual([
      'people.contactGroups.list 200',
      'people.contactGroups.list 200',
      'people.contactGroups.list 400',
      'people.contactGroups.list 400',
      'people.contactGroups.list 400',
      'people.contactGroups.list 200',
    ]);
  });
});

describe('contactGroups.get and batchGet', () => {
  test('get: maxMembers (default 0: no members), memberCount is the total; groupFields; unknown or deleted → 404', async () => {
    const { contactGroups } = clients(GET);
    const g = (
      await contactGroups.create({
        requestBody: { contactGroup: { name: 'Buyers', clientData: [{ key: 'engageId', value: 'lbl-1' }] } },
      })
    ).data;
    const empty = (await contactGroups.get({ resourceName: g.resourceName! })).data;
    expect(empty).toEqual({
      resourceName: g.resourceName,
      etag: g.etag,
      metadata: { updateTime: expect.any(String) },
      groupType: 'USER_CONTACT_GROUP',
      name: 'Buyers',
      formattedName: 'Buyers',
    });
    const members = await seed(GET, named('A', 'B', 'C'));
    expect(
      (
        await contactGroups.members.modify({
          resourceName: g.resourceName!,
          requestBody: { resourceNamesToAdd: members.map((m) => m.resourceName!) },
        })
      ).data,
    ).toEqual({});
    expect((await contactGroups.get({ resourceName: g.resourceName! })).data).toEqual({ ...empty, memberCount: 3 });
    const two = (
      await contactGroups.get({
        resourceName: g.resourceName!,
        maxMembers: 2,
        groupFields: 'name,clientData,memberCount',
      })
    ).data;
    expect(two).toEqual({
      resourceName: g.resourceName,
      etag: g.etag,
      name: 'Buyers',
      formattedName: 'Buyers',
      clientData: [{ key: 'engageId', value: 'lbl-1' }],
      memberCount: 3,
      memberResourceNames: members.slice(0, 2).map((m) => m.resourceName),
    });
    expect(
      (await contactGroups.get({ resourceName: g.resourceName!, maxMembers: 1000, groupFields: 'name' })).data
        .memberResourceNames,
    ).toEqual(members.map((m) => m.resourceName));
    const missing = await googleError(contactGroups.get({ resourceName: 'contactGroups/0123456789abcdef' }));
    expect(missing.status).toBe(404);
    expect(missing.data).toEqual({
      error: { code: 404, message: 'Requested entity was not found.', status: 'NOT_FOUND' },
    });
    const neg = await googleError(contactGroups.get({ resourceName: g.resourceName!, maxMembers: -1 }));
    expect(neg.data.error).toEqual(INVALID('max_members', 'maxMembers must not be negative, got -1'));
    await contactGroups.delete({ resourceName: g.resourceName! });
    expect((await googleError(contactGroups.get({ resourceName: g.resourceName! }))).status).toBe(404);
    expect(await log(GET)).toEqual([
      'people.contactGroups.create 200',
      'people.contactGroups.get 200',
      'people.contactGroups.members.modify 200',
      'people.contactGroups.get 200',
      'people.contactGroups.get 200',
      'people.contactGroups.get 200',
      'people.contactGroups.get 404',
      'people.contactGroups.get 400',
      'people.contactGroups.delete 200',
      'people.contactGroups.get 404',
    ]);
  });

  test('batchGet: a ContactGroupResponse per name in order (found, unknown code 5, malformed code 3); 200 names is the limit, 201 → 400', async () => {
    const { contactGroups } = clients(GET);
    const g = (await contactGroups.create({ requestBody: { contactGroup: { name: 'Sellers' } } })).data;
    const [m] = await seed(GET, [
      { memberships: [{ contactGroupMembership: { contactGroupResourceName: g.resourceName } }] },
    ]);
    const res = (
      await contactGroups.batchGet({
        resourceNames: [g.resourceName!, 'contactGroups/myContacts', 'contactGroups/ffffffffffffffff', 'people/c1'],
        maxMembers: 5,
      })
    ).data;
    expect(res).toEqual({
      responses: [
        {
          contactGroup: {
            resourceName: g.resourceName,
            etag: g.etag,
            metadata: { updateTime: expect.any(String) },
            groupType: 'USER_CONTACT_GROUP',
            name: 'Sellers',
            formattedName: 'Sellers',
            memberCount: 1,
            memberResourceNames: [m.resourceName],
          },
          requestedResourceName: g.resourceName,
          status: {},
        },
        {
          contactGroup: expect.objectContaining({ resourceName: 'contactGroups/myContacts', memberCount: 3 }),
          requestedResourceName: 'contactGroups/myContacts',
          status: {},
        },
        {
          requestedResourceName: 'contactGroups/ffffffffffffffff',
          status: { code: 5, message: 'Requested entity was not found.' },
        },
        {
          requestedResourceName: 'people/c1',
          status: { code: 3, message: 'Resource name "people/c1" is not a valid contact group resource name.' },
        },
      ],
    });
    const atLimit = Array.from({ length: 200 }, (_, i) => (i % 2 ? g.resourceName! : 'contactGroups/starred'));
    expect((await contactGroups.batchGet({ resourceNames: atLimit })).data.responses).toHaveLength(200);
    const over = await googleError(contactGroups.batchGet({ resourceNames: [...atLimit, 'contactGroups/all'] }));
    expect(over.status).toBe(400);
    expect(over.data.error).toEqual(
      INVALID('resource_names', 'at most 200 resource names are allowed per request, got 201'),
    );
    expect((await googleError(contactGroups.batchGet({}))).data.error).toEqual(
      INVALID('resource_names', 'at least one resourceNames value is required, got none'),
    );
  });
});

describe('contactGroups.create and update', () => {
  test('create: name required and not blank → 400; over maxGroupNameLength (default 255) → 400; duplicate (system names too) → 409 ALREADY_EXISTS', async () => {
    const { contactGroups } = clients(CREATE);
    const g = (
      await contactGroups.create({
        requestBody: { contactGroup: { name: 'Open house 2024', clientData: [{ key: 'k', value: 'v' }] } },
      })
    ).data;
    // readGroupFields defaults to metadata, groupType and name.
    expect(g).toEqual({
      resourceName: expect.stringMatching(GROUP_RN),
      etag: expect.stringMatching(ETAG),
      metadata: { updateTime: expect.any(String) },
      groupType: 'USER_CONTACT_GROUP',
      name: 'Open house 2024',
      formattedName: 'Open house 2024',
    });
    expect(
      (
        await contactGroups.create({
          requestBody: { contactGroup: { name: 'CD' }, readGroupFields: 'clientData,name' },
        })
      ).data,
    ).toEqual({
      resourceName: expect.stringMatching(GROUP_RN),
      etag: expect.any(String),
      name: 'CD',
      formattedName: 'CD',
    });
    for (const [contactGroup, description] of [
      [{}, 'a contact group needs a name that is not blank, got undefined'],
      [{ name: '' }, 'a contact group needs a name that is not blank, got ""'],
      [{ name: '   ' }, 'a contact group needs a name that is not blank, got "   "'],
      [{ name: 'x'.repeat(256) }, 'a contact group name may have at most 255 characters, got 256'],
    ] as const) {
      const e = await googleError(contactGroups.create({ requestBody: { contactGroup } }));
      expect(e.status).toBe(400);
      expect(e.data.error).toEqual(INVALID('contact_group.name', description));
    }
    expect((await googleError(contactGroups.create({ requestBody: {} }))).data.error).toEqual(
      INVALID('contact_group', 'contactGroup is required and must be a ContactGroup object, got undefined'),
    );
    expect(
      (await contactGroups.create({ requestBody: { contactGroup: { name: 'y'.repeat(255) } } })).data.name,
    ).toHaveLength(255);
    // memberCount is not a valid readGroupFields path on create.
    const mc = await googleError(
      contactGroups.create({ requestBody: { contactGroup: { name: 'Z' }, readGroupFields: 'name,memberCount' } }),
    );
    expect(mc.data.error).toMatchObject({
      code: 400,
      status: 'INVALID_ARGUMENT',
      message: expect.stringContaining('Invalid readGroupFields mask path: "memberCount"'),
    });
    // Unknown fields fail JSON-to-proto parsing.
    const unknown = await googleError(
      contactGroups.create({
        requestBody: { contactGroup: { name: 'Q', colour: 'red' } as people_v1.Schema$ContactGroup },
      }),
    );
    expect(unknown.data.error.message).toBe(
      'Invalid JSON payload received. Unknown name "colour" at \'contact_group\': Cannot find field.',
    );

    for (const name of ['Open house 2024', 'myContacts', 'starred']) {
      const dup = await googleError(contactGroups.create({ requestBody: { contactGroup: { name } } }));
      expect(dup.status).toBe(409);
      expect(dup.data).toEqual({
        error: { code: 409, message: 'Requested entity already exists', status: 'ALREADY_EXISTS' },
      });
    }
    // Exact comparison by default; case-insensitive is a setting [?].
    expect((await contactGroups.create({ requestBody: { contactGroup: { name: 'open house 2024' } } })).status).toBe(
      200,
    );
    await admin.request('PUT', '/people/settings', { groupNamesCaseInsensitive: true });
    try {
      expect(
        (await googleError(contactGroups.create({ requestBody: { contactGroup: { name: 'OPEN HOUSE 2024' } } })))
          .status,
      ).toBe(409);
      await admin.request('PUT', '/people/settings', { maxGroupNameLength: 10 });
      expect((await contactGroups.create({ requestBody: { contactGroup: { name: 'tenchars10' } } })).status).toBe(200);
      expect(
        (await googleError(contactGroups.create({ requestBody: { contactGroup: { name: 'elevenchars' } } }))).data
          .error,
      ).toEqual(INVALID('contact_group.name', 'a contact group name may have at most 10 characters, got 11'));
    } finally {
      await admin.request('PUT', '/people/settings', { groupNamesCaseInsensitive: false, maxGroupNameLength: 255 });
    }
    expect((await admin.request('PUT', '/people/settings', { maxGroupNameLength: 0 })).status).toBe(400);
    // Nothing refused was stored.
    const names = (await contactGroups.list({ pageSize: 1000 })).data.contactGroups!.slice(8).map((x) => x.name);
    expect(names).toEqual(['Open house 2024', 'CD', 'y'.repeat(255), 'open house 2024', 'tenchars10']);
  });

  test('update (PUT): renames with a new etag; updateGroupFields; stale etag → 400 FAILED_PRECONDITION; duplicate → 409; unknown → 404', async () => {
    const { contactGroups } = clients(UPDATE);
    const a = (
      await contactGroups.create({
        requestBody: { contactGroup: { name: 'A', clientData: [{ key: 'engageId', value: '1' }] } },
      })
    ).data;
    await contactGroups.create({ requestBody: { contactGroup: { name: 'B' } } });
    const [m] = await seed(UPDATE, [
      { memberships: [{ contactGroupMembership: { contactGroupResourceName: a.resourceName } }] },
    ]);
    const people = clients(UPDATE).people;
    const before = await contactSync(people);

    // updateGroupFields defaults to name: clientData in the body is ignored.
    const r1 = (
      await contactGroups.update({
        resourceName: a.resourceName!,
        requestBody: {
          contactGroup: { resourceName: a.resourceName, etag: a.etag, name: 'A renamed', clientData: [] },
          readGroupFields: 'name,clientData,memberCount,metadata',
        },
      })
    ).data;
    expect(r1).toEqual({
      resourceName: a.resourceName,
      etag: expect.stringMatching(ETAG),
      metadata: { updateTime: expect.any(String) },
      name: 'A renamed',
      formattedName: 'A renamed',
      clientData: [{ key: 'engageId', value: '1' }],
      memberCount: 1,
    });
    expect(r1.etag).not.toBe(a.etag);
    // A rename changes no person: memberships point to the resource name.
    expect((await contactSync(people, before.token)).persons).toEqual([]);
    expect((await people.get({ resourceName: m.resourceName!, personFields: 'memberships' })).data.etag).toBe(m.etag);

    const r2 = (
      await contactGroups.update({
        resourceName: a.resourceName!,
        requestBody: {
          contactGroup: { etag: r1.etag, clientData: [{ key: 'engageId', value: '2' }] },
          updateGroupFields: 'clientData',
          readGroupFields: 'name,clientData',
        },
      })
    ).data;
    expect(r2).toMatchObject({ name: 'A renamed', clientData: [{ key: 'engageId', value: '2' }] });
    // No etag sent: accepted.
    const r3 = (
      await contactGroups.update({ resourceName: a.resourceName!, requestBody: { contactGroup: { name: 'A3' } } })
    ).data;
    expect(r3).toMatchObject({ name: 'A3', groupType: 'USER_CONTACT_GROUP' });

    const stale = await googleError(
      contactGroups.update({
        resourceName: a.resourceName!,
        requestBody: { contactGroup: { etag: r1.etag, name: 'A4' } },
      }),
    );
    expect(stale.status).toBe(400);
    expect(stale.data.error).toEqual({
      code: 400,
      status: 'FAILED_PRECONDITION',
      message:
        'Request contactGroup.etag is different than the current contactGroup.etag. Clear local cache and get the latest contactGroup.',
      details: [
        {
          '@type': 'type.googleapis.com/google.rpc.ResourceInfo',
          resourceType: 'contactGroup',
          resourceName: a.resourceName,
          description: 'contactGroup.etag is stale',
        },
      ],
    });
    // Renamed in Google: the etag the client holds is stale.
    await admin.request('PATCH', `/users/${UPDATE}/contactGroups/${a.resourceName}`, { name: 'From Google' });
    expect(
      (
        await googleError(
          contactGroups.update({
            resourceName: a.resourceName!,
            requestBody: { contactGroup: { etag: r3.etag, name: 'A5' } },
          }),
        )
      ).data.error.status,
    ).toBe('FAILED_PRECONDITION');

    const dup = await googleError(
      contactGroups.update({ resourceName: a.resourceName!, requestBody: { contactGroup: { name: 'B' } } }),
    );
    expect(dup.status).toBe(409);
    expect(dup.data.error).toEqual({ code: 409, message: 'Requested entity already exists', status: 'ALREADY_EXISTS' });
    // Keeping its own name is not a duplicate.
    expect(
      (
        await contactGroups.update({
          resourceName: a.resourceName!,
          requestBody: { contactGroup: { name: 'From Google' } },
        })
      ).status,
    ).toBe(200);
    expect(
      (
        await googleError(
          contactGroups.update({ resourceName: a.resourceName!, requestBody: { contactGroup: { name: ' ' } } }),
        )
      ).data.error,
    ).toEqual(INVALID('contact_group.name', 'a contact group needs a name that is not blank, got " "'));
    expect(
      (
        await googleError(
          contactGroups.update({
            resourceName: a.resourceName!,
            requestBody: { contactGroup: { name: 'x' }, updateGroupFields: 'groupType' },
          }),
        )
      ).data.error.message,
    ).toBe(
      'Invalid updateGroupFields mask path: "groupType". Valid paths are documented at https://developers.google.com/people/api/rest/v1/contactGroups/update.',
    );
    expect(
      (
        await googleError(
          contactGroups.update({
            resourceName: a.resourceName!,
            requestBody: { contactGroup: { resourceName: 'contactGroups/starred', name: 'x' } },
          }),
        )
      ).data.error.details![0],
    ).toEqual({
      '@type': BAD_REQUEST,
      fieldViolations: [
        {
          field: 'contact_group.resource_name',
          description: `contactGroup.resourceName must be the group in the URL, ${a.resourceName}, got "contactGroups/starred"`,
        },
      ],
    });
    const missing = await googleError(
      contactGroups.update({
        resourceName: 'contactGroups/0000000000000000',
        requestBody: { contactGroup: { name: 'x' } },
      }),
    );
    expect(missing.data).toEqual({
      error: { code: 404, message: 'Requested entity was not found.', status: 'NOT_FOUND' },
    });
  });
});

describe('contactGroups.delete', () => {
  test('without deleteContacts: members lose the label and are re-stamped (in connections sync); one left without a group gets myContacts; a tombstone', async () => {
    const { contactGroups, people } = clients(DELETE);
    const g = (await contactGroups.create({ requestBody: { contactGroup: { name: 'Gone soon' } } })).data;
    const inG = { contactGroupMembership: { contactGroupResourceName: g.resourceName } };
    const [both, only, other] = await seed(DELETE, [
      {
        names: [{ givenName: 'Both' }],
        memberships: [{ contactGroupMembership: { contactGroupResourceName: 'contactGroups/starred' } }, inG],
      },
      { names: [{ givenName: 'Only' }], memberships: [inG] },
      { names: [{ givenName: 'Other' }] },
    ]);
    const contacts = await contactSync(people);
    const groups = (await contactGroups.list()).data.nextSyncToken!;

    expect((await contactGroups.delete({ resourceName: g.resourceName! })).data).toEqual({});
    const inc = await contactSync(people, contacts.token);
    expect(inc.persons.map((p) => [p.names![0].givenName, groupIds(p)])).toEqual([
      ['Both', ['starred']],
      ['Only', ['myContacts']],
    ]);
    expect(inc.persons[0].etag).not.toBe(both.etag);
    expect(inc.persons[1].etag).not.toBe(only.etag);
    expect((await people.get({ resourceName: other.resourceName!, personFields: 'names' })).data.etag).toBe(other.etag);
    expect((await contactGroups.list({ syncToken: groups })).data.contactGroups).toEqual([
      { resourceName: g.resourceName, metadata: { deleted: true, updateTime: expect.any(String) } },
    ]);
    // A full listing no longer has it.
    const full = (await contactGroups.list({ pageSize: 1000 })).data;
    expect([full.contactGroups!.map((x) => x.resourceName), full.totalItems]).toEqual([
      SYSTEM_GROUPS.map(([id]) => `contactGroups/${id}`),
      8,
    ]);
    // Gone: 404 on every method; the name can be used again.
    expect((await googleError(contactGroups.delete({ resourceName: g.resourceName! }))).status).toBe(404);
    expect(
      (
        await googleError(
          contactGroups.members.modify({
            resourceName: g.resourceName!,
            requestBody: { resourceNamesToAdd: [other.resourceName!] },
          }),
        )
      ).status,
    ).toBe(404);
    expect(
      (await contactGroups.create({ requestBody: { contactGroup: { name: 'Gone soon' } } })).data.resourceName,
    ).not.toBe(g.resourceName);
    // Contacts cannot name it any more.
    expect(
      (await googleError(people.createContact({ requestBody: { memberships: [inG] } }))).data.error.details![0],
    ).toEqual({
      '@type': BAD_REQUEST,
      fieldViolations: [
        {
          field: 'person.memberships[0].contactGroupMembership.contactGroupResourceName',
          description: `the user has no contact group ${g.resourceName}`,
        },
      ],
    });
  });

  test('deleteContacts=true deletes the members too: connections sync reports them deleted; non-members untouched', async () => {
    const { contactGroups, people } = clients(DELETE);
    const g = (await contactGroups.create({ requestBody: { contactGroup: { name: 'Purge' } } })).data;
    const mine = await seed(DELETE, named('P1', 'P2'));
    await contactGroups.members.modify({
      resourceName: g.resourceName!,
      requestBody: { resourceNamesToAdd: mine.map((m) => m.resourceName!) },
    });
    const before = await contactSync(people);
    const count = before.persons.length;
    expect((await contactGroups.delete({ resourceName: g.resourceName!, deleteContacts: true })).data).toEqual({});
    const inc = await contactSync(people, before.token);
    expect(inc.persons.map((p) => [p.resourceName, p.metadata!.deleted])).toEqual(
      mine.map((m) => [m.resourceName, true]),
    );
    expect((await contactSync(people)).persons).toHaveLength(count - 2);
    const bad = await googleError(
      contactGroups.delete({ resourceName: 'contactGroups/myContacts', deleteContacts: 'maybe' as unknown as boolean }),
    );
    expect(bad.data.error).toMatchObject({
      code: 400,
      message: 'Invalid value at \'delete_contacts\' (TYPE_BOOL), "maybe"',
    });
  });
});

describe('contactGroups.members.modify', () => {
  test('adds and removes; unknown people → notFoundResourceNames; a last group → canNotRemoveLastContactGroupResourceNames (contact untouched); idempotent; {} when nothing to report', async () => {
    const { contactGroups, people } = clients(MODIFY);
    const g = (await contactGroups.create({ requestBody: { contactGroup: { name: 'Hot leads' } } })).data;
    const [a, b, c] = await seed(MODIFY, named('A', 'B', 'C'));
    const deleted = (await seed(MODIFY, named('D')))[0];
    await people.deleteContact({ resourceName: deleted.resourceName! });
    const sync = await contactSync(people);

    const add = (
      await contactGroups.members.modify({
        resourceName: g.resourceName!,
        requestBody: { resourceNamesToAdd: [a.resourceName!, b.resourceName!, 'people/c1', deleted.resourceName!] },
      })
    ).data;
    expect(add).toEqual({ notFoundResourceNames: ['people/c1', deleted.resourceName] });
    const afterAdd = await contactSync(people, sync.token);
    expect(afterAdd.persons.map((p) => [p.resourceName, groupIds(p)])).toEqual([
      [a.resourceName, ['myContacts', g.resourceName!.slice(14)]],
      [b.resourceName, ['myContacts', g.resourceName!.slice(14)]],
    ]);
    expect(afterAdd.persons[0].etag).not.toBe(a.etag);
    expect(afterAdd.persons[0].metadata!.sources![0].etag).not.toBe(a.metadata!.sources![0].etag);

    // Again: nothing changes, nothing is re-stamped.
    expect(
      (
        await contactGroups.members.modify({
          resourceName: g.resourceName!,
          requestBody: { resourceNamesToAdd: [a.resourceName!] },
        })
      ).data,
    ).toEqual({});
    expect((await contactSync(people, afterAdd.token)).persons).toEqual([]);

    // Remove b from myContacts (it keeps the label), and from the label a contact in it alone: refused for c.
    await contactGroups.members.modify({
      resourceName: 'contactGroups/myContacts',
      requestBody: { resourceNamesToRemove: [b.resourceName!] },
    });
    const last = (
      await contactGroups.members.modify({
        resourceName: g.resourceName!,
        requestBody: { resourceNamesToRemove: [a.resourceName!, b.resourceName!, c.resourceName!] },
      })
    ).data;
    expect(last).toEqual({ canNotRemoveLastContactGroupResourceNames: [b.resourceName] });
    const after = await contactSync(people, afterAdd.token);
    expect(after.persons.map((p) => [p.names![0].givenName, groupIds(p)])).toEqual([
      ['B', [g.resourceName!.slice(14)]],
      ['A', ['myContacts']],
    ]);
    expect((await contactGroups.get({ resourceName: g.resourceName! })).data.memberCount).toBe(1);
    // The same limit for myContacts: c is only there.
    expect(
      (
        await contactGroups.members.modify({
          resourceName: 'contactGroups/myContacts',
          requestBody: { resourceNamesToRemove: [c.resourceName!] },
        })
      ).data,
    ).toEqual({ canNotRemoveLastContactGroupResourceNames: [c.resourceName] });
    expect((await contactGroups.members.modify({ resourceName: g.resourceName!, requestBody: {} })).data).toEqual({});
  });

  test('1000 names in adds plus removes is the limit (1001 → 400); adds to deprecated system groups → 400, removes from them allowed; unknown group → 404', async () => {
    const { contactGroups, people } = clients(MODIFY);
    const g = (await contactGroups.create({ requestBody: { contactGroup: { name: 'Bulk' } } })).data;
    const many = await seed(
      MODIFY,
      Array.from({ length: 600 }, (_, i) => ({ names: [{ givenName: `N${i}` }] })),
    );
    const names = many.map((m) => m.resourceName!);
    const ok = await contactGroups.members.modify({
      resourceName: g.resourceName!,
      requestBody: { resourceNamesToAdd: names.slice(0, 500), resourceNamesToRemove: names.slice(100, 600) },
    });
    expect(ok.data).toEqual({}); // 1000 names: adds, then removes of non-members or of members that keep myContacts
    expect((await contactGroups.get({ resourceName: g.resourceName! })).data.memberCount).toBe(100);
    const over = await googleError(
      contactGroups.members.modify({
        resourceName: g.resourceName!,
        requestBody: { resourceNamesToAdd: names.slice(0, 501), resourceNamesToRemove: names.slice(100, 600) },
      }),
    );
    expect(over.status).toBe(400);
    expect(over.data.error).toEqual(
      INVALID(
        'resource_names_to_add',
        `at most ${MODIFY_MEMBERS_MAX_RESOURCE_NAMES} resource names in resourceNamesToAdd and resourceNamesToRemove together are allowed per request, got 1001`,
      ),
    );
    expect((await contactGroups.get({ resourceName: g.resourceName! })).data.memberCount).toBe(100);

    for (const group of ['friends', 'family', 'coworkers', 'chatBuddies', 'all', 'blocked']) {
      const e = await googleError(
        contactGroups.members.modify({
          resourceName: `contactGroups/${group}`,
          requestBody: { resourceNamesToAdd: [names[0]] },
        }),
      );
      expect(e.status).toBe(400);
      expect(e.data.error).toEqual({
        code: 400,
        message: 'Cannot add contacts to deprecated system contact group',
        status: 'INVALID_ARGUMENT',
        details: [
          {
            '@type': BAD_REQUEST,
            fieldViolations: [
              {
                field: 'resource_names_to_add',
                description: `contactGroups/${group} is a deprecated system contact group: contacts can only be removed from it`,
              },
            ],
          },
        ],
      });
    }
    // starred can be added to; a legacy contact in family can be taken out of it.
    expect(
      (
        await contactGroups.members.modify({
          resourceName: 'contactGroups/starred',
          requestBody: { resourceNamesToAdd: [names[0]] },
        })
      ).data,
    ).toEqual({});
    const [legacy] = await seed(MODIFY, [
      {
        memberships: [
          { contactGroupMembership: { contactGroupResourceName: 'contactGroups/myContacts' } },
          { contactGroupMembership: { contactGroupResourceName: 'contactGroups/family' } },
        ],
      },
    ]);
    expect(
      (
        await contactGroups.members.modify({
          resourceName: 'contactGroups/family',
          requestBody: { resourceNamesToRemove: [legacy.resourceName!] },
        })
      ).data,
    ).toEqual({});
    expect(
      groupIds((await people.get({ resourceName: legacy.resourceName!, personFields: 'memberships' })).data),
    ).toEqual(['myContacts']);
    const unknown = await googleError(
      contactGroups.members.modify({
        resourceName: 'contactGroups/0123456789abcdef',
        requestBody: { resourceNamesToAdd: [names[0]] },
      }),
    );
    expect(unknown.data).toEqual({
      error: { code: 404, message: 'Requested entity was not found.', status: 'NOT_FOUND' },
    });
    const notList = await googleError(
      contactGroups.members.modify({
        resourceName: g.resourceName!,
        requestBody: { resourceNamesToAdd: 'people/c1' as unknown as string[] },
      }),
    );
    expect(notList.data.error).toEqual(
      INVALID('resource_names_to_add', 'resourceNamesToAdd must be an array of person resource names, got "people/c1"'),
    );
  });

  test('membershipChangesBumpContact=false: members.modify and group deletes change memberships without a new etag or a sync entry', async () => {
    const { contactGroups, people } = clients(BUMP);
    const g = (await contactGroups.create({ requestBody: { contactGroup: { name: 'Quiet' } } })).data;
    const [a] = await seed(BUMP, named('A'));
    const sync = await contactSync(people);
    expect((await admin.request('GET', '/people/settings')).body).toMatchObject({
      membershipChangesBumpContact: true,
      strictDates: true,
      maxGroupNameLength: 255,
      groupNamesCaseInsensitive: false,
    });
    await admin.request('PUT', '/people/settings', { membershipChangesBumpContact: false });
    try {
      await contactGroups.members.modify({
        resourceName: g.resourceName!,
        requestBody: { resourceNamesToAdd: [a.resourceName!] },
      });
      const got = (await people.get({ resourceName: a.resourceName!, personFields: 'memberships' })).data;
      expect(groupIds(got)).toEqual(['myContacts', g.resourceName!.slice(14)]);
      expect(got.etag).toBe(a.etag);
      await contactGroups.delete({ resourceName: g.resourceName! });
      expect((await contactSync(people, sync.token)).persons).toEqual([]);
      // A contact write is still a contact write: updateContact gives a new etag.
      const u = (
        await people.updateContact({
          resourceName: a.resourceName!,
          updatePersonFields: 'memberships',
          requestBody: {
            etag: a.etag,
            memberships: [{ contactGroupMembership: { contactGroupResourceName: 'contactGroups/starred' } }],
          },
        })
      ).data;
      expect(u.etag).not.toBe(a.etag);
    } finally {
      await admin.request('PUT', '/people/settings', { membershipChangesBumpContact: true });
    }
    expect((await admin.request('PUT', '/people/settings', { membershipChangesBumpContact: 1 })).status).toBe(400);
  });
});

describe('scopes, quotas and the request log', () => {
  test('contacts.readonly lists and gets groups but cannot write them (403 naming ContactGroupService); reads and writes draw from their buckets', async () => {
    const ro = clients(SCOPE, [SCOPES.contactsReadonly]).contactGroups;
    expect((await ro.list()).status).toBe(200);
    expect((await ro.get({ resourceName: 'contactGroups/myContacts' })).status).toBe(200);
    expect((await ro.batchGet({ resourceNames: ['contactGroups/starred'] })).status).toBe(200);
    const writes: Array<[string, () => Promise<unknown>]> = [
      ['CreateContactGroup', () => ro.create({ requestBody: { contactGroup: { name: 'x' } } })],
      [
        'UpdateContactGroup',
        () =>
          ro.update({ resourceName: 'contactGroups/0000000000000000', requestBody: { contactGroup: { name: 'x' } } }),
      ],
      ['DeleteContactGroup', () => ro.delete({ resourceName: 'contactGroups/0000000000000000' })],
      [
        'ModifyContactGroupMembers',
        () => ro.members.modify({ resourceName: 'contactGroups/starred', requestBody: {} }),
      ],
    ];
    for (const [rpc, call] of writes) {
      const e = await googleError(call());
      expect(e.status).toBe(403);
      expect(e.data.error).toMatchObject({
        status: 'PERMISSION_DENIED',
        details: [
          {
            reason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT',
            metadata: { method: `google.people.v1.ContactGroupService.${rpc}` },
          },
        ],
      });
    }
    expect(await log(SCOPE)).toEqual([
      'people.contactGroups.list 200',
      'people.contactGroups.get 200',
      'people.contactGroups.batchGet 200',
      'people.contactGroups.create 403',
      'people.contactGroups.update 403',
      'people.contactGroups.delete 403',
      'people.contactGroups.members.modify 403',
    ]);

    await admin.advanceClock(61);
    await admin.putSettings({
      quotas: { [PEOPLE_READS_BUCKET]: { limitPerMinute: 2 }, [PEOPLE_WRITES_BUCKET]: { limitPerMinute: 1 } },
    });
    try {
      const rw = clients(SCOPE).contactGroups;
      await rw.create({ requestBody: { contactGroup: { name: 'Metered' } } }); // write 1
      const w = await googleError(
        rw.members.modify({ resourceName: 'contactGroups/starred', requestBody: {} }, { retry: false }),
      );
      expect(w.data.error).toMatchObject({
        code: 429,
        status: 'RESOURCE_EXHAUSTED',
        message: expect.stringContaining("quota metric 'Write requests (Contact and Profile Writes)'"),
      });
      await rw.list(); // read 1
      await rw.get({ resourceName: 'contactGroups/starred' }); // read 2
      const r = await googleError(rw.batchGet({ resourceNames: ['contactGroups/starred'] }, { retry: false }));
      expect(r.data.error).toMatchObject({
        code: 429,
        status: 'RESOURCE_EXHAUSTED',
        message: expect.stringContaining("quota metric 'Critical read requests (Contact and Profile Reads)'"),
      });
    } finally {
      await admin.putSettings({
        quotas: { [PEOPLE_READS_BUCKET]: { limitPerMinute: 90 }, [PEOPLE_WRITES_BUCKET]: { limitPerMinute: 90 } },
      });
      await admin.advanceClock(61);
    }
  });
});

describe('admin group routes ("in Google")', () => {
  test('GET/POST/PATCH/DELETE /users/{email}/contactGroups and POST …/members feed both sync streams', async () => {
    const { contactGroups, people } = clients(ADMIN);
    const base = `/users/${encodeURIComponent(ADMIN)}/contactGroups`;
    const [a, b] = await seed(ADMIN, named('A', 'B'));
    const contacts = await contactSync(people);
    const groups = (await contactGroups.list()).data.nextSyncToken!;

    const created = await admin.request<people_v1.Schema$ContactGroup>('POST', base, {
      name: 'Investors',
      clientData: [{ key: 'engageId', value: 'g1' }],
    });
    expect(created).toEqual({
      status: 200,
      body: {
        resourceName: expect.stringMatching(GROUP_RN),
        etag: expect.stringMatching(ETAG),
        metadata: { updateTime: expect.any(String) },
        groupType: 'USER_CONTACT_GROUP',
        name: 'Investors',
        formattedName: 'Investors',
        clientData: [{ key: 'engageId', value: 'g1' }],
      },
    });
    const rn = created.body.resourceName!;
    const id = rn.slice('contactGroups/'.length);
    expect(
      await admin.request('POST', `${base}/${id}/members`, {
        add: [a.resourceName, b.resourceName!.slice('people/'.length), 'people/c1'],
      }),
    ).toEqual({
      status: 200,
      body: { changed: [a.resourceName, b.resourceName], notFoundResourceNames: ['people/c1'] },
    });
    expect(await admin.request('POST', `${base}/${id}/members`, { remove: [a.resourceName] })).toEqual({
      status: 200,
      body: { changed: [a.resourceName] },
    });
    const listed = await admin.request<people_v1.Schema$ContactGroup[]>('GET', base);
    expect(listed.body.map((g) => g.name)).toEqual([...SYSTEM_GROUPS.map(([g]) => g), 'Investors']);
    expect(listed.body[8]).toMatchObject({ memberCount: 1, memberResourceNames: [b.resourceName] });
    expect(listed.body[0]).toEqual({
      resourceName: 'contactGroups/myContacts',
      groupType: 'SYSTEM_CONTACT_GROUP',
      name: 'myContacts',
      formattedName: 'My Contacts',
      memberCount: 2,
      memberResourceNames: [a.resourceName, b.resourceName],
    });

    // Contact sync: both members changed (a added then removed, b added).
    const inc = await contactSync(people, contacts.token);
    expect(inc.persons.map((p) => [p.resourceName, groupIds(p)])).toEqual([
      [b.resourceName, ['myContacts', id]],
      [a.resourceName, ['myContacts']],
    ]);
    expect((await admin.request('PATCH', `${base}/${rn}`, { name: 'Investors 2' })).body).toMatchObject({
      name: 'Investors 2',
      etag: expect.not.stringMatching(`^${created.body.etag!.replace(/[+/]/g, '\\$&')}$`),
    });
    const gInc = (await contactGroups.list({ syncToken: groups })).data;
    expect(gInc.contactGroups!.map((g) => [g.resourceName, g.name])).toEqual([[rn, 'Investors 2']]);
    expect(await admin.request('DELETE', `${base}/${id}?deleteContacts=true`)).toEqual({
      status: 200,
      body: { deleted: rn, members: 1, contactsDeleted: true },
    });
    expect((await contactGroups.list({ syncToken: gInc.nextSyncToken! })).data.contactGroups).toEqual([
      { resourceName: rn, metadata: { deleted: true, updateTime: expect.any(String) } },
    ]);
    expect((await contactSync(people, inc.token)).persons.map((p) => [p.resourceName, p.metadata!.deleted])).toEqual([
      [b.resourceName, true],
    ]);

    // Errors: unknown user or group 404, duplicate 409, blank 400, system groups, deprecated adds.
    expect((await admin.request('GET', '/users/nobody@labels.test/contactGroups')).status).toBe(404);
    expect((await admin.request('PATCH', `${base}/${id}`, { name: 'x' })).status).toBe(404);
    expect(await admin.request('POST', base, { name: 'starred' })).toEqual({
      status: 409,
      body: { error: 'body.name: the user already has a contact group named "starred" (contactGroups/starred)' },
    });
    expect(await admin.request('POST', base, { name: ' ' })).toEqual({
      status: 400,
      body: { error: 'body.name: a contact group needs a name that is not blank, got " "' },
    });
    expect((await admin.request('DELETE', `${base}/myContacts`)).status).toBe(400);
    expect(await admin.request('POST', `${base}/friends/members`, { add: [a.resourceName] })).toEqual({
      status: 400,
      body: {
        error:
          'Cannot add contacts to deprecated system contact group: contactGroups/friends can only have contacts removed',
      },
    });
    expect((await admin.request('POST', `${base}/starred/members`, { add: 'x' })).status).toBe(400);
    // Admin calls are not in the request log: only the client's reads are.
    expect(await log(ADMIN)).toEqual([
      'people.people.connections.list 200',
      'people.contactGroups.list 200',
      'people.people.connections.list 200',
      'people.contactGroups.list 200',
      'people.contactGroups.list 200',
      'people.people.connections.list 200',
    ]);
  });
});
