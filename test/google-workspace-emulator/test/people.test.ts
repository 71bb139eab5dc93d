/**
 * People API v1 through the real @googleapis/people client (v8): connections.list full and incremental sync,
 * get, getBatchGet, createContact, updateContact, deleteContact, batch create/update/delete, searchContacts, scopes,
 * quotas, and the admin data routes. Every error case asserts HTTP status, error.status, details and the request log.
 */
import { auth as googleAuth, people as peopleApi, type people_v1 } from '@googleapis/people';
import { startEmulator, type RunningEmulator } from '../src/server';
import {
  BATCH_DELETE_MAX_RESOURCE_NAMES,
  BATCH_GET_MAX_RESOURCE_NAMES,
  BATCH_MUTATE_MAX_CONTACTS,
  PEOPLE_READS_BUCKET,
  PEOPLE_WRITES_BUCKET,
} from '../src/people';
import { EmulatorAdmin, SCOPES, googleClients, googleError, mintToken, rawCall, type Tenant } from '../src/testing';

let emu: RunningEmulator;
let admin: EmulatorAdmin;
let t: Tenant;

// One user per concern, so tests never see each other's contacts.
const AGENT = 'agent@acme.test';
const SYNC = 'sync@acme.test';
const INC = 'inc@acme.test';
const EXP = 'exp@acme.test';
const QUOTA = 'quota@acme.test';
const SEARCH = 'search@acme.test';
const BATCH = 'batch@acme.test';
const DELAY = 'delay@acme.test';
const PAGING = 'paging@acme.test';
const SORT = 'sort@acme.test';
const DETAILS = 'details@acme.test';

const RN = /^people\/c\d+$/;
const BAD_REQUEST = 'type.googleapis.com/google.rpc.BadRequest';
const RESOURCE_INFO = 'type.googleapis.com/google.rpc.ResourceInfo';
const STALE =
  'Request person.etag is different than the current person.etag. Clear local cache and get the latest person.';
const EXPIRED_BODY = (status: string) => ({
  error: {
    code: 400,
    message: 'Sync token is expired. Clear local cache and retry call without the sync token.',
    status,
    details: [
      {
        '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
        reason: 'EXPIRED_SYNC_TOKEN',
        domain: 'people.googleapis.com',
      },
    ],
  },
});

beforeAll(async () => {
  emu = await startEmulator();
  admin = new EmulatorAdmin(emu.url);
  t = await admin.tenant(
    'acme.test',
    [AGENT, SYNC, INC, EXP, QUOTA, SEARCH, BATCH, DELAY, PAGING, SORT, DETAILS],
    [SCOPES.contacts, SCOPES.contactsReadonly, SCOPES.m8Feeds],
  );
});
afterAll(() => emu.close());
beforeEach(() => admin.clearRequests());

const peopleAs = (user = AGENT, scopes: string[] = [SCOPES.contacts]) =>
  googleClients(emu.url, t.key, user, scopes).people.people;

/** A People client with an access token minted at the emulator's (moved) clock; the JWT client signs with real time. */
async function peopleAtEmulatorClock(user: string): Promise<people_v1.Resource$People> {
  const { now } = await admin.request<{ now: string }>('GET', '/clock').then((r) => r.body);
  const { access_token } = await mintToken(t.key, user, [SCOPES.contacts], { iat: Math.floor(Date.parse(now) / 1000) });
  const oauth = new googleAuth.OAuth2();
  oauth.setCredentials({ access_token, expiry_date: Date.now() + 3_600_000 });
  oauth.transporter.defaults.fetchImplementation = fetch;
  return peopleApi({ version: 'v1', auth: oauth, rootUrl: `${emu.url}/` }).people;
}

const person = (i: number, extra: people_v1.Schema$Person = {}): people_v1.Schema$Person => ({
  names: [{ givenName: `Given${i}`, familyName: `Family${i}` }],
  emailAddresses: [{ value: `p${i}@buyers.test`, type: 'home' }],
  clientData: [{ key: 'engageId', value: `eng-${i}` }],
  ...extra,
});

async function seed(user: string, persons: people_v1.Schema$Person[]): Promise<people_v1.Schema$Person[]> {
  const r = await admin.request<people_v1.Schema$Person[]>(
    'POST',
    `/users/${encodeURIComponent(user)}/contacts`,
    persons,
  );
  if (r.status !== 200) throw new Error(`seeding ${user} answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}
const stored = async (user: string) =>
  (await admin.request<people_v1.Schema$Person[]>('GET', `/users/${encodeURIComponent(user)}/contacts`)).body;
const log = async (user?: string) =>
  (await admin.requests({ api: 'people', ...(user ? { user } : {}) })).map((e) => `${e.method} ${e.status}`);

async function fullSync(
  p: people_v1.Resource$People,
  personFields = 'names,emailAddresses,clientData,metadata',
  pageSize = 1000,
) {
  const pages: people_v1.Schema$ListConnectionsResponse[] = [];
  let pageToken: string | undefined;
  do {
    const { data } = await p.connections.list({
      resourceName: 'people/me',
      personFields,
      pageSize,
      requestSyncToken: true,
      pageToken,
    });
    pages.push(data);
    pageToken = data.nextPageToken ?? undefined;
  } while (pageToken);
  return pages;
}

describe('connections.list', () => {
  test('full sync of 2,500 contacts with pageSize 1000: 3 pages, nextSyncToken on the last only; then an empty incremental', async () => {
    const seeded = await seed(
      SYNC,
      Array.from({ length: 2500 }, (_, i) => person(i)),
    );
    const p = peopleAs(SYNC);
    const pages = await fullSync(p);
    expect(pages.map((pg) => pg.connections?.length)).toEqual([1000, 1000, 500]);
    expect(pages.map((pg) => [!!pg.nextPageToken, !!pg.nextSyncToken])).toEqual([
      [true, false],
      [true, false],
      [false, true],
    ]);
    expect(pages.every((pg) => pg.totalPeople === 2500 && pg.totalItems === 2500)).toBe(true);
    const all = pages.flatMap((pg) => pg.connections!);
    expect(new Set(all.map((c) => c.resourceName)).size).toBe(2500);
    expect(all.map((c) => c.resourceName)).toEqual(seeded.map((c) => c.resourceName)); // LAST_MODIFIED_ASCENDING
    expect(all[7]).toEqual({
      resourceName: expect.stringMatching(RN),
      etag: seeded[7].etag,
      metadata: {
        sources: [
          {
            type: 'CONTACT',
            id: expect.stringMatching(/^[0-9a-f]{16}$/),
            etag: expect.stringMatching(/^#/),
            updateTime: expect.any(String),
          },
        ],
        objectType: 'PERSON',
      },
      names: [
        expect.objectContaining({
          givenName: 'Given7',
          familyName: 'Family7',
          displayName: 'Given7 Family7',
          metadata: { primary: true, sourcePrimary: true, source: { type: 'CONTACT', id: expect.any(String) } },
        }),
      ],
      emailAddresses: [expect.objectContaining({ value: 'p7@buyers.test', type: 'home', formattedType: 'Home' })],
      clientData: [
        {
          key: 'engageId',
          value: 'eng-7',
          metadata: expect.objectContaining({ source: expect.objectContaining({ type: 'CONTACT' }) }),
        },
      ],
    });
    // The resource name is the decimal form of the CONTACT source id, as on Google.
    expect(all[7].resourceName).toBe(`people/c${BigInt(`0x${all[7].metadata!.sources![0].id}`)}`);

    const inc = await p.connections.list({
      resourceName: 'people/me',
      personFields: 'names,emailAddresses,clientData,metadata',
      pageSize: 1000,
      requestSyncToken: true,
      syncToken: pages[2].nextSyncToken!,
    });
    expect(inc.data.connections).toBeUndefined();
    expect(inc.data.nextSyncToken).toEqual(expect.any(String));
    expect(inc.data.nextSyncToken).not.toBe(pages[2].nextSyncToken);
    expect(await log(SYNC)).toEqual(Array(4).fill('people.people.connections.list 200'));
  });

  test('pageSize: default 100; 0 means 100; 1001 and -1 → 400 INVALID_ARGUMENT naming page_size', async () => {
    const p = peopleAs(SYNC);
    for (const pageSize of [undefined, 0]) {
      const { data } = await p.connections.list({ resourceName: 'people/me', personFields: 'names', pageSize });
      expect(data.connections).toHaveLength(100);
      expect(data.nextPageToken).toEqual(expect.any(String));
      expect(data.nextSyncToken).toBeUndefined(); // not requested
    }
    for (const pageSize of [1001, -1]) {
      const e = await googleError(p.connections.list({ resourceName: 'people/me', personFields: 'names', pageSize }));
      expect(e.status).toBe(400);
      expect(e.data.error).toEqual({
        code: 400,
        message: 'Request contains an invalid argument.',
        status: 'INVALID_ARGUMENT',
        details: [
          {
            '@type': BAD_REQUEST,
            fieldViolations: [
              { field: 'page_size', description: `pageSize must be between 1 and 1000, got ${pageSize}` },
            ],
          },
        ],
      });
    }
    expect(await log(SYNC)).toEqual([
      'people.people.connections.list 200',
      'people.people.connections.list 200',
      'people.people.connections.list 400',
      'people.people.connections.list 400',
    ]);
  });

  test("personFields is required (400, Google's text, no errors[]); an unknown path → 400; only people/me is valid", async () => {
    const p = peopleAs(SYNC);
    const e = await googleError(p.connections.list({ resourceName: 'people/me' }));
    expect(e.status).toBe(400);
    expect(e.data.error).toMatchObject({
      code: 400,
      status: 'INVALID_ARGUMENT',
      message:
        'personFields mask is required. Please specify one or more valid paths. Valid paths are documented at https://developers.google.com/people/api/rest/v1/people/get.',
      details: [{ '@type': BAD_REQUEST, fieldViolations: [{ field: 'personFields' }] }],
    });
    expect(e.data.error.errors).toBeUndefined();
    const bad = await googleError(p.connections.list({ resourceName: 'people/me', personFields: 'names,shoeSize' }));
    expect(bad.data.error).toMatchObject({
      code: 400,
      status: 'INVALID_ARGUMENT',
      message: expect.stringContaining('Invalid personFields mask path: "shoeSize"'),
    });
    const other = await googleError(p.connections.list({ resourceName: 'people/c123', personFields: 'names' }));
    expect(other.data.error).toMatchObject({
      status: 'INVALID_ARGUMENT',
      details: [
        { fieldViolations: [{ field: 'resource_name', description: 'only people/me is valid, got "people/c123"' }] },
      ],
    });
    // The legacy requestMask.includeField spelling still works.
    expect(
      (
        await p.connections.list({
          resourceName: 'people/me',
          'requestMask.includeField': 'person.email_addresses',
          pageSize: 1,
        })
      ).data.connections![0],
    ).toEqual({
      resourceName: expect.stringMatching(RN),
      etag: expect.any(String),
      emailAddresses: [expect.objectContaining({ value: expect.any(String) })],
    });
    expect(await log(SYNC)).toEqual([
      'people.people.connections.list 400',
      'people.people.connections.list 400',
      'people.people.connections.list 400',
      'people.people.connections.list 200',
    ]);
  });

  test('sortOrder: last modified ascending (default) or descending, first or last name; an unknown value → 400', async () => {
    await seed(SORT, [
      { names: [{ givenName: 'Carol', familyName: 'Adams' }] },
      { names: [{ givenName: 'Alice', familyName: 'Cole' }] },
      { names: [{ givenName: 'Bob', familyName: 'Baker' }] },
    ]);
    const p = peopleAs(SORT);
    const order = async (sortOrder?: string) =>
      (await p.connections.list({ resourceName: 'people/me', personFields: 'names', sortOrder })).data.connections!.map(
        (c) => c.names![0].givenName,
      );
    expect(await order()).toEqual(['Carol', 'Alice', 'Bob']);
    expect(await order('LAST_MODIFIED_DESCENDING')).toEqual(['Bob', 'Alice', 'Carol']);
    expect(await order('FIRST_NAME_ASCENDING')).toEqual(['Alice', 'Bob', 'Carol']);
    expect(await order('LAST_NAME_ASCENDING')).toEqual(['Carol', 'Bob', 'Alice']);
    const e = await googleError(
      p.connections.list({ resourceName: 'people/me', personFields: 'names', sortOrder: 'RANDOM' }),
    );
    expect(e.data.error).toMatchObject({
      code: 400,
      status: 'INVALID_ARGUMENT',
      message:
        'Invalid value at \'sort_order\' (type.googleapis.com/google.people.v1.ListConnectionsRequest.SortOrder), "RANDOM"',
    });
    expect(await log(SORT)).toEqual([
      ...Array(4).fill('people.people.connections.list 200'),
      'people.people.connections.list 400',
    ]);
  });

  test('with a pageToken the other parameters must match the first call; garbled page and sync tokens → 400', async () => {
    await seed(
      PAGING,
      Array.from({ length: 5 }, (_, i) => person(i)),
    );
    const p = peopleAs(PAGING);
    const first = await p.connections.list({
      resourceName: 'people/me',
      personFields: 'names,emailAddresses',
      pageSize: 2,
      requestSyncToken: true,
    });
    const pageToken = first.data.nextPageToken!;
    const cases: Array<[people_v1.Params$Resource$People$Connections$List, string, string]> = [
      [
        { personFields: 'names', pageSize: 2, requestSyncToken: true },
        'personFields',
        'personFields must match the call that issued the page token: expected "emailAddresses,names", got "names"',
      ],
      [
        { personFields: 'names,emailAddresses', pageSize: 3, requestSyncToken: true },
        'pageSize',
        'pageSize must match the call that issued the page token: expected "2", got "3"',
      ],
      [
        {
          personFields: 'names,emailAddresses',
          pageSize: 2,
          requestSyncToken: true,
          sortOrder: 'FIRST_NAME_ASCENDING',
        },
        'sortOrder',
        expect.stringContaining('expected "LAST_MODIFIED_ASCENDING", got "FIRST_NAME_ASCENDING"'),
      ],
      [
        { personFields: 'names,emailAddresses', pageSize: 2 },
        'requestSyncToken',
        'requestSyncToken must match the call that issued the page token: expected "true", got "false"',
      ],
    ];
    for (const [params, field, description] of cases) {
      const e = await googleError(p.connections.list({ resourceName: 'people/me', pageToken, ...params }));
      expect(e.status).toBe(400);
      expect(e.data.error).toEqual({
        code: 400,
        message: 'Request contains an invalid argument.',
        status: 'INVALID_ARGUMENT',
        details: [{ '@type': BAD_REQUEST, fieldViolations: [{ field, description }] }],
      });
    }
    // Masks compare as sets: the same fields in another order match.
    const second = await p.connections.list({
      resourceName: 'people/me',
      personFields: 'emailAddresses,names',
      pageSize: 2,
      requestSyncToken: true,
      pageToken,
    });
    expect(second.data.connections).toHaveLength(2);
    // Tokens are opaque: a tampered one is refused.
    const garbledPage = await googleError(
      p.connections.list({
        resourceName: 'people/me',
        personFields: 'names,emailAddresses',
        pageSize: 2,
        requestSyncToken: true,
        pageToken: `${pageToken}x`,
      }),
    );
    expect(garbledPage.data.error).toMatchObject({
      code: 400,
      status: 'INVALID_ARGUMENT',
      details: [{ fieldViolations: [{ field: 'page_token' }] }],
    });
    const garbledSync = await googleError(
      p.connections.list({ resourceName: 'people/me', personFields: 'names', syncToken: 'not-a-token' }),
    );
    expect(garbledSync.data.error).toMatchObject({
      code: 400,
      status: 'INVALID_ARGUMENT',
      details: [{ fieldViolations: [{ field: 'sync_token' }] }],
    });
    // A sync token pins personFields and sortOrder (but not pageSize) of the full sync that issued it.
    const pages = await fullSync(p, 'names', 2);
    const syncToken = pages[pages.length - 1].nextSyncToken!;
    const mismatch = await googleError(
      p.connections.list({ resourceName: 'people/me', personFields: 'names,metadata', syncToken }),
    );
    expect(mismatch.data.error.details![0]).toEqual({
      '@type': BAD_REQUEST,
      fieldViolations: [
        {
          field: 'personFields',
          description:
            'personFields must match the call that issued the sync token: expected "names", got "metadata,names"',
        },
      ],
    });
    expect(
      (
        await p.connections.list({
          resourceName: 'people/me',
          personFields: 'names',
          pageSize: 500,
          requestSyncToken: true,
          syncToken,
        })
      ).status,
    ).toBe(200);
    const statuses = await log(PAGING);
    expect(statuses.filter((s) => s.endsWith(' 400'))).toHaveLength(7);
    expect(statuses).toHaveLength(1 + 4 + 1 + 2 + 3 + 2);
  });

  test('incremental sync returns creates, updates and deletes made through the API and in Google (admin routes)', async () => {
    const [a, b, c, f] = await seed(INC, [person(1), person(2), person(3), person(6)]);
    const p = peopleAs(INC);
    const pages = await fullSync(p);
    expect(pages[0].connections).toHaveLength(4);
    const token = pages[0].nextSyncToken!;

    const d = (await p.createContact({ personFields: 'names', requestBody: person(4) })).data;
    const a2 = (
      await p.updateContact({
        resourceName: a.resourceName!,
        updatePersonFields: 'names',
        requestBody: { etag: a.etag, names: [{ givenName: 'Renamed' }] },
      })
    ).data;
    expect((await p.deleteContact({ resourceName: b.resourceName! })).data).toEqual({});
    const [e] = await seed(INC, [person(5)]);
    const cEdited = await admin.request<people_v1.Schema$Person>('PATCH', `/users/${INC}/contacts/${c.resourceName}`, {
      phoneNumbers: [{ value: '+14155550123' }],
    });
    expect(cEdited.status).toBe(200);
    expect(cEdited.body.etag).not.toBe(c.etag);
    expect(await admin.request('DELETE', `/users/${INC}/contacts/${f.resourceName!.slice('people/'.length)}`)).toEqual({
      status: 200,
      body: { deleted: f.resourceName },
    });

    const inc = await p.connections.list({
      resourceName: 'people/me',
      personFields: 'names,emailAddresses,clientData,metadata',
      pageSize: 1000,
      requestSyncToken: true,
      syncToken: token,
    });
    const got = inc.data.connections!;
    // In change order: d created, a updated, b deleted, e created, c edited, f deleted.
    expect(got.map((x) => x.resourceName)).toEqual([
      d.resourceName,
      a.resourceName,
      b.resourceName,
      e.resourceName,
      c.resourceName,
      f.resourceName,
    ]);
    expect(got[1]).toMatchObject({
      etag: a2.etag,
      names: [expect.objectContaining({ givenName: 'Renamed', displayName: 'Renamed' })],
      clientData: [expect.objectContaining({ value: 'eng-1' })],
    });
    // Deleted contacts: resourceName, etag and metadata with deleted: true, nothing else.
    for (const deleted of [got[2], got[5]]) {
      expect(deleted).toEqual({
        resourceName: expect.stringMatching(RN),
        etag: expect.any(String),
        metadata: { sources: [expect.objectContaining({ type: 'CONTACT' })], objectType: 'PERSON', deleted: true },
      });
    }
    expect(got[4].metadata!.sources![0].etag).toBe(cEdited.body.metadata!.sources![0].etag);
    expect(inc.data.nextSyncToken).toEqual(expect.any(String));
    expect(inc.data.totalItems).toBe(6);

    // The admin listing shows current contacts only.
    expect((await stored(INC)).map((x) => x.resourceName).sort()).toEqual(
      [a.resourceName, c.resourceName, d.resourceName, e.resourceName].sort(),
    );
    // Nothing changed since: the next incremental is empty — exactly one call.
    await admin.clearRequests();
    const again = await p.connections.list({
      resourceName: 'people/me',
      personFields: 'names,emailAddresses,clientData,metadata',
      pageSize: 1000,
      requestSyncToken: true,
      syncToken: inc.data.nextSyncToken!,
    });
    expect(again.data.connections).toBeUndefined();
    expect(await log(INC)).toEqual(['people.people.connections.list 200']);
  });

  test("sync tokens expire 7 days (emulator clock) after the full sync → 400 with exactly Google's EXPIRED_SYNC_TOKEN body", async () => {
    await seed(EXP, [person(1)]);
    const pages = await fullSync(peopleAs(EXP), 'names');
    const token = pages[0].nextSyncToken!;
    let moved = 0;
    try {
      // Six days later the token works and the incremental sync issues a new one …
      await admin.advanceClock(6 * 86_400);
      moved += 6 * 86_400;
      const p6 = await peopleAtEmulatorClock(EXP);
      const inc = await p6.connections.list({
        resourceName: 'people/me',
        personFields: 'names',
        requestSyncToken: true,
        syncToken: token,
      });
      const chained = inc.data.nextSyncToken!;
      // … which still expires 7 days after the full sync ("Sync tokens expire 7 days after the full sync").
      await admin.advanceClock(86_400 + 1);
      moved += 86_400 + 1;
      const p7 = await peopleAtEmulatorClock(EXP);
      for (const syncToken of [token, chained]) {
        const e = await googleError(
          p7.connections.list({ resourceName: 'people/me', personFields: 'names', requestSyncToken: true, syncToken }),
        );
        expect(e.status).toBe(400);
        expect(e.data).toEqual(EXPIRED_BODY('FAILED_PRECONDITION'));
      }
      // The status is a setting (one capture shows INVALID_ARGUMENT).
      expect(
        await admin.request('PUT', '/people/settings', { expiredSyncTokenStatus: 'INVALID_ARGUMENT' }),
      ).toMatchObject({ status: 200, body: { expiredSyncTokenStatus: 'INVALID_ARGUMENT' } });
      expect(
        (await googleError(p7.connections.list({ resourceName: 'people/me', personFields: 'names', syncToken: token })))
          .data,
      ).toEqual(EXPIRED_BODY('INVALID_ARGUMENT'));
      // A full sync without the token recovers.
      expect(
        (await p7.connections.list({ resourceName: 'people/me', personFields: 'names', requestSyncToken: true })).data,
      ).toMatchObject({ connections: [expect.anything()], nextSyncToken: expect.any(String) });
      expect(await log(EXP)).toEqual([
        'people.people.connections.list 200',
        'people.people.connections.list 200',
        'people.people.connections.list 400',
        'people.people.connections.list 400',
        'people.people.connections.list 400',
        'people.people.connections.list 200',
      ]);
    } finally {
      await admin.request('PUT', '/people/settings', { expiredSyncTokenStatus: 'FAILED_PRECONDITION' });
      await admin.advanceClock(-moved);
    }
  });

  test('an incremental call must repeat requestSyncToken=true (400 otherwise); setting requestSyncTokenMustMatch=false restores the lenient answer', async () => {
    const p = peopleAs(DELAY);
    const token = (await fullSync(p, 'names'))[0].nextSyncToken!;
    const e = await googleError(
      p.connections.list({ resourceName: 'people/me', personFields: 'names', syncToken: token }),
    );
    expect(e.status).toBe(400);
    expect(e.data.error).toEqual({
      code: 400,
      message: 'Request contains an invalid argument.',
      status: 'INVALID_ARGUMENT',
      details: [
        {
          '@type': BAD_REQUEST,
          fieldViolations: [
            {
              field: 'requestSyncToken',
              description:
                'requestSyncToken must match the call that issued the sync token: expected "true", got "false"',
            },
          ],
        },
      ],
    });
    const ok = await p.connections.list({
      resourceName: 'people/me',
      personFields: 'names',
      requestSyncToken: true,
      syncToken: token,
    });
    expect(ok.data.nextSyncToken).toEqual(expect.any(String));
    expect(await admin.request('GET', '/people/settings')).toMatchObject({ body: { requestSyncTokenMustMatch: true } });
    expect(await admin.request('PUT', '/people/settings', { requestSyncTokenMustMatch: false })).toMatchObject({
      status: 200,
      body: { requestSyncTokenMustMatch: false },
    });
    try {
      const lenient = await p.connections.list({
        resourceName: 'people/me',
        personFields: 'names',
        syncToken: ok.data.nextSyncToken!,
      });
      expect(lenient.data.nextSyncToken).toEqual(expect.any(String));
    } finally {
      await admin.request('PUT', '/people/settings', { requestSyncTokenMustMatch: true });
    }
    expect((await admin.request('PUT', '/people/settings', { requestSyncTokenMustMatch: 'yes' })).status).toBe(400);
  });

  test('propagation delay setting: a write shows up in sync only after syncPropagationDelaySeconds (default 0)', async () => {
    const p = peopleAs(DELAY);
    const token = (await fullSync(p, 'names'))[0].nextSyncToken!;
    expect(await admin.request('GET', '/people/settings')).toMatchObject({
      body: { syncPropagationDelaySeconds: 0, syncTokenLifetimeSeconds: 604800, syncTokenExpiresFrom: 'fullSync' },
    });
    await admin.request('PUT', '/people/settings', { syncPropagationDelaySeconds: 120 });
    try {
      const created = (await p.createContact({ requestBody: person(1) })).data;
      const early = await p.connections.list({
        resourceName: 'people/me',
        personFields: 'names',
        requestSyncToken: true,
        syncToken: token,
      });
      expect(early.data.connections).toBeUndefined();
      // Reads by name see it at once: only sync lags.
      expect((await p.get({ resourceName: created.resourceName!, personFields: 'names' })).status).toBe(200);
      await admin.advanceClock(121);
      const late = await p.connections.list({
        resourceName: 'people/me',
        personFields: 'names',
        requestSyncToken: true,
        syncToken: early.data.nextSyncToken!,
      });
      expect(late.data.connections!.map((c) => c.resourceName)).toEqual([created.resourceName]);
    } finally {
      await admin.request('PUT', '/people/settings', { syncPropagationDelaySeconds: 0 });
    }
    expect((await admin.request('PUT', '/people/settings', { syncPropagationDelaySeconds: -1 })).status).toBe(400);
    expect((await admin.request('PUT', '/people/settings', { nope: 1 })).body).toEqual({
      error: expect.stringContaining('unknown people setting "nope"'),
    });
  });
});

describe('get and getBatchGet', () => {
  test('get returns only the requested fields (plus resourceName and etag); unknown → 404; malformed → 400; people/me', async () => {
    const [c] = await seed(AGENT, [
      person(10, {
        phoneNumbers: [{ value: '+1 415 555 0100', type: 'mobile' }],
        organizations: [{ name: 'Sunset Realty', title: 'Broker' }],
      }),
    ]);
    const p = peopleAs(AGENT, [SCOPES.contactsReadonly]);
    const got = await p.get({ resourceName: c.resourceName!, personFields: 'phoneNumbers,organizations' });
    expect(got.data).toEqual({
      resourceName: c.resourceName,
      etag: c.etag,
      phoneNumbers: [
        {
          metadata: expect.objectContaining({ primary: true }),
          value: '+1 415 555 0100',
          type: 'mobile',
          formattedType: 'Mobile',
          canonicalForm: '+14155550100',
        },
      ],
      organizations: [{ metadata: expect.objectContaining({ primary: true }), name: 'Sunset Realty', title: 'Broker' }],
    });
    const missing = await googleError(p.get({ resourceName: 'people/c1', personFields: 'names' }));
    expect(missing.status).toBe(404);
    expect(missing.data).toEqual({
      error: { code: 404, message: 'Requested entity was not found.', status: 'NOT_FOUND' },
    });
    const noFields = await googleError(p.get({ resourceName: c.resourceName! }));
    expect(noFields.data.error).toMatchObject({
      code: 400,
      status: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/^personFields mask is required/),
    });
    const malformed = await googleError(p.get({ resourceName: 'people/bogus', personFields: 'names' }));
    expect(malformed.data.error).toMatchObject({
      code: 400,
      status: 'INVALID_ARGUMENT',
      details: [{ fieldViolations: [{ field: 'resource_name' }] }],
    });
    const me = await p.get({ resourceName: 'people/me', personFields: 'emailAddresses' });
    expect(me.data.emailAddresses).toEqual([expect.objectContaining({ value: AGENT })]);
    expect(await log(AGENT)).toEqual([
      'people.people.get 200',
      'people.people.get 404',
      'people.people.get 400',
      'people.people.get 400',
      'people.people.get 200',
    ]);
  });

  test('getBatchGet: per-item 200/404 PersonResponses; more than 200 names → 400', async () => {
    const [a, b] = await seed(AGENT, [person(11), person(12)]);
    await admin.request('DELETE', `/users/${AGENT}/contacts/${b.resourceName}`);
    const p = peopleAs(AGENT);
    const res = await p.getBatchGet({
      resourceNames: [a.resourceName!, b.resourceName!, 'people/c42'],
      personFields: 'names,clientData',
    });
    expect(res.data).toEqual({
      responses: [
        {
          httpStatusCode: 200,
          requestedResourceName: a.resourceName,
          status: {},
          person: {
            resourceName: a.resourceName,
            etag: a.etag,
            names: [expect.objectContaining({ givenName: 'Given11' })],
            clientData: [expect.objectContaining({ key: 'engageId', value: 'eng-11' })],
          },
        },
        {
          httpStatusCode: 404,
          requestedResourceName: b.resourceName,
          status: { code: 5, message: 'Requested entity was not found.' },
        },
        {
          httpStatusCode: 404,
          requestedResourceName: 'people/c42',
          status: { code: 5, message: 'Requested entity was not found.' },
        },
      ],
    });
    const atLimit = Array.from({ length: BATCH_GET_MAX_RESOURCE_NAMES }, (_, i) => `people/c${1000 + i}`);
    expect((await p.getBatchGet({ resourceNames: atLimit, personFields: 'names' })).data.responses).toHaveLength(200);
    const e = await googleError(p.getBatchGet({ resourceNames: [...atLimit, 'people/c9'], personFields: 'names' }));
    expect(e.status).toBe(400);
    expect(e.data.error).toEqual({
      code: 400,
      message: 'Request contains an invalid argument.',
      status: 'INVALID_ARGUMENT',
      details: [
        {
          '@type': BAD_REQUEST,
          fieldViolations: [
            { field: 'resource_names', description: 'at most 200 resource names are allowed per request, got 201' },
          ],
        },
      ],
    });
    expect(await log(AGENT)).toEqual([
      'people.people.getBatchGet 200',
      'people.people.getBatchGet 200',
      'people.people.getBatchGet 400',
    ]);
  });
});

describe('createContact, updateContact, deleteContact', () => {
  test('createContact: resourceName, etag, metadata.sources, myContacts membership and clientData round-trip', async () => {
    const p = peopleAs(AGENT);
    const res = await p.createContact({
      requestBody: person(20, {
        biographies: [{ value: 'Met at open house', contentType: 'TEXT_PLAIN' }],
        addresses: [{ streetAddress: '12 Elm St', city: 'Springfield', type: 'home' }],
      }),
    });
    expect(res.status).toBe(200);
    const c = res.data;
    expect(c.resourceName).toMatch(RN);
    expect(c.etag).toMatch(/^%/);
    expect(c.metadata).toEqual({
      sources: [{ type: 'CONTACT', id: expect.any(String), etag: expect.any(String), updateTime: expect.any(String) }],
      objectType: 'PERSON',
    });
    expect(c.memberships).toEqual([
      {
        metadata: expect.objectContaining({ source: expect.objectContaining({ type: 'CONTACT' }) }),
        contactGroupMembership: { contactGroupId: 'myContacts', contactGroupResourceName: 'contactGroups/myContacts' },
      },
    ]);
    expect(c.biographies![0]).toMatchObject({ value: 'Met at open house', contentType: 'TEXT_PLAIN' });
    expect(c.addresses![0]).toMatchObject({ streetAddress: '12 Elm St', city: 'Springfield' });
    const onlyClientData = await p.get({ resourceName: c.resourceName!, personFields: 'clientData' });
    expect(onlyClientData.data).toEqual({
      resourceName: c.resourceName,
      etag: c.etag,
      clientData: [
        {
          key: 'engageId',
          value: 'eng-20',
          metadata: expect.objectContaining({ source: expect.objectContaining({ type: 'CONTACT' }) }),
        },
      ],
    });
    // personFields restricts the answer of a create too.
    const narrow = await p.createContact({ personFields: 'names', requestBody: person(21) });
    expect(Object.keys(narrow.data).sort()).toEqual(['etag', 'names', 'resourceName']);
    expect(await log(AGENT)).toEqual([
      'people.people.createContact 200',
      'people.people.get 200',
      'people.people.createContact 200',
    ]);
  });

  test('createContact: two values of a singleton field or an unknown field → 400 INVALID_ARGUMENT, nothing created', async () => {
    const p = peopleAs(BATCH);
    const before = (await stored(BATCH)).length;
    const two = await googleError(
      p.createContact({ requestBody: { names: [{ givenName: 'A' }, { givenName: 'B' }] } }),
    );
    expect(two.status).toBe(400);
    expect(two.data.error).toEqual({
      code: 400,
      message: 'Cannot have more than one person.names per source.',
      status: 'INVALID_ARGUMENT',
      details: [
        {
          '@type': BAD_REQUEST,
          fieldViolations: [
            { field: 'person.names', description: 'Cannot have more than one person.names per source.' },
          ],
        },
      ],
    });
    const bios = await googleError(p.createContact({ requestBody: { biographies: [{ value: 'a' }, { value: 'b' }] } }));
    expect(bios.data.error.message).toBe('Cannot have more than one person.biographies per source.');
    const unknown = await googleError(
      p.createContact({ requestBody: { shoeSize: [{ value: 44 }] } as people_v1.Schema$Person }),
    );
    expect(unknown.data.error).toMatchObject({
      status: 'INVALID_ARGUMENT',
      message: 'Invalid JSON payload received. Unknown name "shoeSize" at \'person\': Cannot find field.',
    });
    expect(await stored(BATCH)).toHaveLength(before);
    expect(await log(BATCH)).toEqual(Array(3).fill('people.people.createContact 400'));
  });

  test('updateContact: listed fields are replaced, others kept, new etag; chained updates use the returned etag', async () => {
    const p = peopleAs(AGENT);
    const c = (await p.createContact({ requestBody: person(30, { phoneNumbers: [{ value: '555-0101' }] }) })).data;
    const u1 = await p.updateContact({
      resourceName: c.resourceName!,
      updatePersonFields: 'emailAddresses,phoneNumbers',
      personFields: 'names,emailAddresses,phoneNumbers,clientData',
      requestBody: {
        etag: c.etag,
        names: [{ givenName: 'Ignored' }],
        emailAddresses: [{ value: 'new@buyers.test' }, { value: 'second@buyers.test' }],
      },
    });
    expect(u1.data.etag).not.toBe(c.etag);
    expect(u1.data.names![0].givenName).toBe('Given30'); // not in updatePersonFields
    expect(u1.data.emailAddresses!.map((e) => [e.value, e.metadata!.primary ?? false])).toEqual([
      ['new@buyers.test', true],
      ['second@buyers.test', false],
    ]);
    expect(u1.data.phoneNumbers).toBeUndefined(); // listed but absent → cleared
    expect(u1.data.clientData![0].value).toBe('eng-30');
    // The CONTACT source etag is accepted as well as the person etag.
    const withSource = await p.get({ resourceName: c.resourceName!, personFields: 'metadata' });
    const u2 = await p.updateContact({
      resourceName: c.resourceName!,
      updatePersonFields: 'biographies',
      requestBody: { metadata: withSource.data.metadata, biographies: [{ value: 'VIP' }] },
    });
    expect(u2.data.biographies![0].value).toBe('VIP');
    const u3 = await p.updateContact({
      resourceName: c.resourceName!,
      updatePersonFields: 'clientData',
      requestBody: { etag: u2.data.etag, clientData: [{ key: 'engageId', value: 'eng-30b' }] },
    });
    expect(u3.data.clientData).toEqual([expect.objectContaining({ key: 'engageId', value: 'eng-30b' })]);
    expect(await log(AGENT)).toEqual([
      'people.people.createContact 200',
      'people.people.updateContact 200',
      'people.people.get 200',
      'people.people.updateContact 200',
      'people.people.updateContact 200',
    ]);
  });

  test('updateContact errors: stale etag (also after an edit in Google) → 400 FAILED_PRECONDITION failedPrecondition; no etag, no mask, unknown, singleton', async () => {
    const p = peopleAs(AGENT);
    const c = (await p.createContact({ requestBody: person(31) })).data;
    const u = (
      await p.updateContact({
        resourceName: c.resourceName!,
        updatePersonFields: 'names',
        requestBody: { etag: c.etag, names: [{ givenName: 'X' }] },
      })
    ).data;
    const stale = await googleError(
      p.updateContact({
        resourceName: c.resourceName!,
        updatePersonFields: 'names',
        requestBody: { etag: c.etag, names: [{ givenName: 'Y' }] },
      }),
    );
    expect(stale.status).toBe(400);
    expect(stale.data.error).toEqual({
      code: 400,
      message: STALE,
      status: 'FAILED_PRECONDITION',
      errors: [{ message: STALE, domain: 'global', reason: 'failedPrecondition' }],
      details: [
        {
          '@type': RESOURCE_INFO,
          resourceType: 'person',
          resourceName: c.resourceName,
          description: 'person.etag is stale',
        },
      ],
    });
    // Edited in Google: the etag the client holds is stale.
    await admin.request('PATCH', `/users/${AGENT}/contacts/${c.resourceName}`, {
      names: [{ givenName: 'Edited in Google' }],
    });
    const afterEdit = await googleError(
      p.updateContact({
        resourceName: c.resourceName!,
        updatePersonFields: 'names',
        requestBody: { etag: u.etag, names: [{ givenName: 'Z' }] },
      }),
    );
    expect(afterEdit.data.error).toMatchObject({
      status: 'FAILED_PRECONDITION',
      errors: [{ reason: 'failedPrecondition' }],
    });
    expect((await p.get({ resourceName: c.resourceName!, personFields: 'names' })).data.names![0].givenName).toBe(
      'Edited in Google',
    );

    const noEtag = await googleError(
      p.updateContact({
        resourceName: c.resourceName!,
        updatePersonFields: 'names',
        requestBody: { names: [{ givenName: 'Q' }] },
      }),
    );
    expect(noEtag.data.error).toMatchObject({
      code: 400,
      status: 'INVALID_ARGUMENT',
      message: 'Request must set person.etag or person.metadata.sources.etag for the source that is being updated.',
    });
    const noMask = await googleError(p.updateContact({ resourceName: c.resourceName!, requestBody: { etag: u.etag } }));
    expect(noMask.data.error).toMatchObject({
      code: 400,
      status: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/^updatePersonFields mask is required/),
    });
    const readOnlyMask = await googleError(
      p.updateContact({ resourceName: c.resourceName!, updatePersonFields: 'photos', requestBody: { etag: u.etag } }),
    );
    expect(readOnlyMask.data.error.message).toContain('Invalid updatePersonFields mask path: "photos"');
    const unknown = await googleError(
      p.updateContact({
        resourceName: 'people/c77',
        updatePersonFields: 'names',
        requestBody: { etag: u.etag, names: [{ givenName: 'Q' }] },
      }),
    );
    expect(unknown.status).toBe(404);
    expect(unknown.data.error).toEqual({ code: 404, message: 'Requested entity was not found.', status: 'NOT_FOUND' });
    const singleton = await googleError(
      p.updateContact({
        resourceName: c.resourceName!,
        updatePersonFields: 'names',
        requestBody: { etag: u.etag, names: [{ givenName: 'A' }, { givenName: 'B' }] },
      }),
    );
    expect(singleton.data.error.message).toBe('Cannot have more than one person.names per source.');
    const noGroup = await googleError(
      p.updateContact({
        resourceName: c.resourceName!,
        updatePersonFields: 'memberships',
        requestBody: { etag: u.etag, memberships: [] },
      }),
    );
    expect(noGroup.data.error).toMatchObject({
      status: 'INVALID_ARGUMENT',
      details: [{ fieldViolations: [{ field: 'person.memberships' }] }],
    });
    expect(await log(AGENT)).toEqual([
      'people.people.createContact 200',
      'people.people.updateContact 200',
      'people.people.updateContact 400',
      'people.people.updateContact 400',
      'people.people.get 200',
      'people.people.updateContact 400',
      'people.people.updateContact 400',
      'people.people.updateContact 400',
      'people.people.updateContact 404',
      'people.people.updateContact 400',
      'people.people.updateContact 400',
    ]);
  });

  test('deleteContact: {} then 404 "Requested entity was not found."; the contact is gone from get and the admin listing', async () => {
    const p = peopleAs(AGENT);
    const c = (await p.createContact({ requestBody: person(40) })).data;
    const del = await p.deleteContact({ resourceName: c.resourceName! });
    expect(del.status).toBe(200);
    expect(del.data).toEqual({});
    const again = await googleError(p.deleteContact({ resourceName: c.resourceName! }));
    expect(again.status).toBe(404);
    expect(again.data).toEqual({
      error: { code: 404, message: 'Requested entity was not found.', status: 'NOT_FOUND' },
    });
    expect((await googleError(p.get({ resourceName: c.resourceName!, personFields: 'names' }))).status).toBe(404);
    expect((await stored(AGENT)).some((x) => x.resourceName === c.resourceName)).toBe(false);
    const malformed = await googleError(p.deleteContact({ resourceName: 'people/me' }));
    expect(malformed.data.error).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT' });
    expect(await log(AGENT)).toEqual([
      'people.people.createContact 200',
      'people.people.deleteContact 200',
      'people.people.deleteContact 404',
      'people.people.get 404',
      'people.people.deleteContact 400',
    ]);
  });
});

describe('contact details: addresses, dates, nicknames, types, memberships (docs/google-people-contact-details.md §1, §7)', () => {
  const invalid = (field: string, description: string | ReturnType<typeof expect.any>) => ({
    code: 400,
    message: 'Request contains an invalid argument.',
    status: 'INVALID_ARGUMENT',
    details: [{ '@type': BAD_REQUEST, fieldViolations: [{ field, description }] }],
  });

  test('addresses: a sent formattedValue is kept; without one it is built from the parts, one line per part group', async () => {
    const p = peopleAs(DETAILS);
    const c = (
      await p.createContact({
        personFields: 'addresses',
        requestBody: {
          addresses: [
            {
              type: 'home',
              streetAddress: '12 Elm St',
              extendedAddress: 'Apt 4',
              poBox: 'PO Box 9',
              city: 'Springfield',
              region: 'IL',
              postalCode: '62701',
              country: 'USA',
              countryCode: 'US',
            },
            { type: 'work', formattedValue: '1 Main St, Shelbyville', streetAddress: '1 Main St', city: 'Shelbyville' },
            { city: 'Paris', countryCode: 'FR' },
            { region: 'CA', postalCode: '94043' },
          ],
        },
      })
    ).data;
    expect(c.addresses!.map((a) => a.formattedValue)).toEqual([
      '12 Elm St\nApt 4\nPO Box 9\nSpringfield, IL 62701\nUSA',
      '1 Main St, Shelbyville',
      'Paris\nFR',
      'CA 94043',
    ]);
    expect(c.addresses![0]).toEqual({
      metadata: { primary: true, sourcePrimary: true, source: { type: 'CONTACT', id: expect.any(String) } },
      type: 'home',
      formattedType: 'Home',
      streetAddress: '12 Elm St',
      extendedAddress: 'Apt 4',
      poBox: 'PO Box 9',
      city: 'Springfield',
      region: 'IL',
      postalCode: '62701',
      country: 'USA',
      countryCode: 'US',
      formattedValue: '12 Elm St\nApt 4\nPO Box 9\nSpringfield, IL 62701\nUSA',
    });
    // The built value is not stored: changing the parts changes it; a value read back and sent again is kept as sent.
    const u = (
      await p.updateContact({
        resourceName: c.resourceName!,
        updatePersonFields: 'addresses',
        personFields: 'addresses',
        requestBody: {
          etag: c.etag,
          addresses: [{ streetAddress: '13 Elm St', city: 'Springfield' }, c.addresses![1]],
        },
      })
    ).data;
    expect(u.addresses!.map((a) => a.formattedValue)).toEqual(['13 Elm St\nSpringfield', '1 Main St, Shelbyville']);
    // Addresses are not searchable on Google (doc §5).
    expect((await p.searchContacts({ query: 'springfield', readMask: 'names' })).data).toEqual({});
  });

  test('birthdays and events: Date validated (year ≤ 9999, month ≤ 12, day valid for the month, a day needs a month) → 400 naming the date', async () => {
    const p = peopleAs(DETAILS);
    const before = (await stored(DETAILS)).length;
    const cases: Array<[people_v1.Schema$Person, string, string]> = [
      [
        { birthdays: [{ date: { year: 1990, month: 13, day: 1 } }] },
        'person.birthdays[0].date',
        'month must be between 1 and 12, or 0, got 13',
      ],
      [
        { birthdays: [{ date: { year: 10000, month: 1, day: 1 } }] },
        'person.birthdays[0].date',
        'year must be between 1 and 9999, or 0 for a date without a year, got 10000',
      ],
      [
        { birthdays: [{ date: { year: 1990, month: 2, day: 31 } }] },
        'person.birthdays[0].date',
        'day 31 is not valid for February 1990',
      ],
      [
        { birthdays: [{ date: { year: 2023, month: 2, day: 29 } }] },
        'person.birthdays[0].date',
        'day 29 is not valid for February 2023',
      ],
      [{ birthdays: [{ date: { month: 4, day: 31 } }] }, 'person.birthdays[0].date', 'day 31 is not valid for April'],
      [
        { birthdays: [{ date: { year: 1990, day: 5 } }] },
        'person.birthdays[0].date',
        'a day needs a month, got day 5 with month 0',
      ],
      [
        { birthdays: [{ date: { month: 1, day: 32 } }] },
        'person.birthdays[0].date',
        'day must be between 1 and 31, or 0, got 32',
      ],
      [
        { birthdays: [{ date: { month: -1 } }] },
        'person.birthdays[0].date',
        'month must be between 1 and 12, or 0, got -1',
      ],
      [{ birthdays: [{}] }, 'person.birthdays[0]', 'a birthday needs a date or a text, got neither'],
      [{ birthdays: [{ text: '' }] }, 'person.birthdays[0]', 'a birthday needs a date or a text, got neither'],
      [
        { events: [{ type: 'anniversary', date: { year: 2010, month: 6, day: 15 } }, { type: 'other' }] },
        'person.events[1].date',
        'an event needs a date (year, month and day, or month and day), got none',
      ],
      [
        { events: [{ date: { year: 2010, month: 6, day: 31 } }] },
        'person.events[0].date',
        'day 31 is not valid for June 2010',
      ],
    ];
    for (const [requestBody, field, description] of cases) {
      const e = await googleError(p.createContact({ requestBody }));
      expect(e.status).toBe(400);
      expect(e.data.error).toEqual(invalid(field, description));
    }
    // Not a Date at all: 400 whatever strictDates says (JSON-to-proto parsing).
    const notInt = await googleError(
      p.createContact({ requestBody: { birthdays: [{ date: { month: 'July' as unknown as number } }] } }),
    );
    expect(notInt.data.error).toMatchObject({
      code: 400,
      status: 'INVALID_ARGUMENT',
      message: 'Invalid value at \'person.birthdays[0].date.month\' (TYPE_INT32), "July"',
    });
    const unknownKey = await googleError(
      p.createContact({
        requestBody: { birthdays: [{ date: { month: 7, day: 1, era: 'AD' } as people_v1.Schema$Date }] },
      }),
    );
    expect(unknownKey.data.error.message).toBe(
      'Invalid JSON payload received. Unknown name "era" at \'person.birthdays[0].date\': Cannot find field.',
    );
    expect(await stored(DETAILS)).toHaveLength(before);

    // Valid: every documented combination, 29 February in a leap year and without a year, date and text together.
    const ok = (
      await p.batchCreateContacts({
        requestBody: {
          readMask: 'birthdays,events',
          contacts: [
            {
              contactPerson: {
                birthdays: [{ date: { year: 1990, month: 7, day: 26 } }],
                events: [
                  { type: 'anniversary', date: { month: 6, day: 15 } },
                  { type: 'closing', date: { year: 2024, month: 3 } },
                ],
              },
            },
            { contactPerson: { birthdays: [{ date: { year: 0, month: 2, day: 29 }, text: 'leap day' }] } },
            {
              contactPerson: {
                birthdays: [{ date: { year: 2000, month: 2, day: 29 } }],
                events: [{ date: { year: 1999 } }],
              },
            },
            { contactPerson: { birthdays: [{ text: 'sometime in spring' }] } },
          ],
        },
      })
    ).data.createdPeople!.map((r) => r.person!);
    expect(ok[0].birthdays).toEqual([
      { metadata: expect.objectContaining({ primary: true }), date: { year: 1990, month: 7, day: 26 } },
    ]);
    expect(ok[0].events!.map((e) => [e.type, e.formattedType, e.date])).toEqual([
      ['anniversary', 'Anniversary', { month: 6, day: 15 }],
      ['closing', 'closing', { year: 2024, month: 3 }],
    ]);
    // Zero parts are left out, as proto3 JSON prints them; text is never parsed into a date.
    expect(ok[1].birthdays).toEqual([
      { metadata: expect.objectContaining({ primary: true }), date: { month: 2, day: 29 }, text: 'leap day' },
    ]);
    expect(ok[2].birthdays![0].date).toEqual({ year: 2000, month: 2, day: 29 });
    expect(ok[2].events![0].date).toEqual({ year: 1999 });
    expect(ok[3].birthdays).toEqual([
      { metadata: expect.objectContaining({ primary: true }), text: 'sometime in spring' },
    ]);
    // Still one birthday per contact.
    expect(
      (await googleError(p.createContact({ requestBody: { birthdays: [{ text: 'a' }, { text: 'b' }] } }))).data.error
        .message,
    ).toBe('Cannot have more than one person.birthdays per source.');

    // The same rules on updates, naming the update's path.
    const e = await googleError(
      p.batchUpdateContacts({
        requestBody: {
          updateMask: 'birthdays',
          readMask: 'birthdays',
          contacts: { [ok[3].resourceName!]: { etag: ok[3].etag, birthdays: [{ date: { month: 2, day: 30 } }] } },
        },
      }),
    );
    expect(e.data.error).toEqual(
      invalid(`contacts[${ok[3].resourceName}].birthdays[0].date`, 'day 30 is not valid for February'),
    );

    // strictDates=false: Google's answer is not documented, so the check can be turned off; the date is stored as sent.
    await admin.request('PUT', '/people/settings', { strictDates: false });
    try {
      const lax = (
        await p.createContact({
          personFields: 'birthdays,events',
          requestBody: { birthdays: [{ date: { year: 1990, month: 2, day: 31 } }], events: [{ type: 'other' }] },
        })
      ).data;
      expect(lax.birthdays![0].date).toEqual({ year: 1990, month: 2, day: 31 });
      expect(lax.events).toEqual([{ metadata: expect.anything(), type: 'other', formattedType: 'Other' }]);
      expect(
        (
          await googleError(
            p.createContact({ requestBody: { birthdays: [{ date: { month: 'x' as unknown as number } }] } }),
          )
        ).status,
      ).toBe(400);
    } finally {
      await admin.request('PUT', '/people/settings', { strictDates: true });
    }
    expect((await admin.request('PUT', '/people/settings', { strictDates: 'no' })).status).toBe(400);
  });

  test("nicknames: type is an enum (unknown → 400 with Google's enum text); DEFAULT is rendered without type; no formattedType", async () => {
    const p = peopleAs(DETAILS);
    const e = await googleError(
      p.createContact({ requestBody: { nicknames: [{ value: 'Bob' }, { value: 'Bobby', type: 'foo' }] } }),
    );
    expect(e.status).toBe(400);
    const message =
      'Invalid value at \'person.nicknames[1].type\' (type.googleapis.com/google.people.v1.Nickname.NicknameType), "foo"';
    expect(e.data.error).toEqual({
      code: 400,
      message,
      status: 'INVALID_ARGUMENT',
      details: [
        { '@type': BAD_REQUEST, fieldViolations: [{ field: 'person.nicknames[1].type', description: message }] },
      ],
    });
    // Enum values are case-sensitive.
    expect(
      (await googleError(p.createContact({ requestBody: { nicknames: [{ value: 'B', type: 'default' }] } }))).data.error
        .message,
    ).toBe(
      'Invalid value at \'person.nicknames[0].type\' (type.googleapis.com/google.people.v1.Nickname.NicknameType), "default"',
    );
    const c = (
      await p.createContact({
        personFields: 'nicknames',
        requestBody: {
          nicknames: [
            { value: 'Bob', type: 'DEFAULT' },
            { value: 'Rob', type: 'ALTERNATE_NAME' },
            { value: 'R.', type: 'INITIALS' },
            { value: 'Bobby' },
          ],
        },
      })
    ).data;
    expect(c.nicknames).toEqual([
      { metadata: expect.objectContaining({ primary: true }), value: 'Bob' },
      { metadata: expect.not.objectContaining({ primary: true }), value: 'Rob', type: 'ALTERNATE_NAME' },
      { metadata: expect.anything(), value: 'R.', type: 'INITIALS' },
      { metadata: expect.anything(), value: 'Bobby' },
    ]);
    // Nicknames stay searchable (searchContacts matches nickNames).
    expect(
      (await p.searchContacts({ query: 'rob', readMask: 'nicknames' })).data.results!.map(
        (r) => r.person!.resourceName,
      ),
    ).toEqual([c.resourceName]);
  });

  test('formattedType: English labels for the documented predefined types of each field; custom types come back unchanged', async () => {
    const p = peopleAs(DETAILS);
    const c = (
      await p.createContact({
        requestBody: {
          emailAddresses: [
            { value: 'a@x.test', type: 'work' },
            { value: 'b@x.test', type: 'Personal' },
          ],
          phoneNumbers: [
            { value: '1', type: 'mobile' },
            { value: '2', type: 'workFax' },
            { value: '3', type: 'googleVoice' },
            { value: '4', type: 'boat' },
          ],
          addresses: [
            { city: 'A', type: 'other' },
            { city: 'B', type: 'vacation' },
          ],
          relations: [
            { person: 'Ann', type: 'spouse' },
            { person: 'Dan', type: 'domesticPartner' },
            { person: 'Sam', type: 'referredBy' },
            { person: 'Kim', type: 'realtor' },
          ],
          urls: [
            { value: 'https://a.test', type: 'homePage' },
            { value: 'https://b.test', type: 'appInstallPage' },
            { value: 'https://c.test', type: 'ftp' },
            { value: 'https://d.test', type: 'resume' },
          ],
          events: [
            { type: 'anniversary', date: { month: 1, day: 2 } },
            { type: 'Closing day', date: { month: 3, day: 4 } },
          ],
          organizations: [{ name: 'Acme', type: 'school' }],
        },
      })
    ).data;
    const labels = (items: Array<{ type?: string | null; formattedType?: string | null }> | undefined) =>
      items!.map((x) => [x.type, x.formattedType]);
    expect(labels(c.emailAddresses)).toEqual([
      ['work', 'Work'],
      ['Personal', 'Personal'],
    ]);
    expect(labels(c.phoneNumbers)).toEqual([
      ['mobile', 'Mobile'],
      ['workFax', 'Work Fax'],
      ['googleVoice', 'Google Voice'],
      ['boat', 'boat'],
    ]);
    expect(labels(c.addresses)).toEqual([
      ['other', 'Other'],
      ['vacation', 'vacation'],
    ]);
    expect(labels(c.relations)).toEqual([
      ['spouse', 'Spouse'],
      ['domesticPartner', 'Domestic Partner'],
      ['referredBy', 'Referred By'],
      ['realtor', 'realtor'],
    ]);
    expect(labels(c.urls)).toEqual([
      ['homePage', 'Home Page'],
      ['appInstallPage', 'App Install Page'],
      ['ftp', 'FTP'],
      ['resume', 'resume'],
    ]);
    expect(labels(c.events)).toEqual([
      ['anniversary', 'Anniversary'],
      ['Closing day', 'Closing day'],
    ]);
    expect(labels(c.organizations)).toEqual([['school', 'School']]);
    // formattedType is output only: a client echoing it back does not change it.
    const u = (
      await p.updateContact({
        resourceName: c.resourceName!,
        updatePersonFields: 'urls',
        personFields: 'urls',
        requestBody: { etag: c.etag, urls: [{ value: 'https://e.test', type: 'blog', formattedType: 'My Blog' }] },
      })
    ).data;
    expect(labels(u.urls)).toEqual([['blog', 'Blog']]);
  });

  test('memberships: only contactGroupResourceName counts; contactGroupId is derived; metadata is the CONTACT source without primary', async () => {
    const p = peopleAs(DETAILS);
    const groups = googleClients(emu.url, t.key, DETAILS, [SCOPES.contacts]).people.contactGroups;
    const vip = (await groups.create({ requestBody: { contactGroup: { name: 'VIP' } } })).data;
    const id = vip.resourceName!.slice('contactGroups/'.length);
    const c = (
      await p.createContact({
        personFields: 'memberships,metadata',
        requestBody: {
          memberships: [
            {
              contactGroupMembership: { contactGroupResourceName: vip.resourceName, contactGroupId: 'ignored' },
              metadata: { primary: true },
            },
            { contactGroupMembership: { contactGroupResourceName: 'contactGroups/starred' } },
            { contactGroupMembership: { contactGroupResourceName: vip.resourceName } }, // twice: stored once
          ],
        },
      })
    ).data;
    const source = { type: 'CONTACT', id: c.metadata!.sources![0].id };
    // Only groups named: no myContacts added (doc §1.10 [?]).
    expect(c.memberships).toEqual([
      {
        metadata: { source },
        contactGroupMembership: { contactGroupId: id, contactGroupResourceName: vip.resourceName },
      },
      {
        metadata: { source },
        contactGroupMembership: { contactGroupId: 'starred', contactGroupResourceName: 'contactGroups/starred' },
      },
    ]);
    // An update replaces the whole set (GAMADV-X#86) and gives the contact a new etag.
    const u = (
      await p.updateContact({
        resourceName: c.resourceName!,
        updatePersonFields: 'memberships',
        personFields: 'memberships',
        requestBody: {
          etag: c.etag,
          memberships: [{ contactGroupMembership: { contactGroupResourceName: 'contactGroups/myContacts' } }],
        },
      })
    ).data;
    expect(u.etag).not.toBe(c.etag);
    expect(u.memberships!.map((m) => m.contactGroupMembership!.contactGroupId)).toEqual(['myContacts']);

    // A group the user does not have → 400 naming the membership; contactGroupId alone is not a membership target.
    const unknown = await googleError(
      p.createContact({
        requestBody: {
          memberships: [{ contactGroupMembership: { contactGroupResourceName: 'contactGroups/0123456789abcdef' } }],
        },
      }),
    );
    expect(unknown.data.error).toEqual(
      invalid(
        'person.memberships[0].contactGroupMembership.contactGroupResourceName',
        'the user has no contact group contactGroups/0123456789abcdef',
      ),
    );
    const idOnly = await googleError(
      p.createContact({ requestBody: { memberships: [{ contactGroupMembership: { contactGroupId: 'myContacts' } }] } }),
    );
    expect(idOnly.data.error).toEqual(
      invalid(
        'person.memberships[0].contactGroupMembership.contactGroupResourceName',
        'expected a contact group resource name like contactGroups/myContacts (contactGroupId is output only), got undefined',
      ),
    );
    // A deprecated system group cannot be added, on create or update.
    const deprecated = {
      code: 400,
      message: 'Cannot add contacts to deprecated system contact group',
      status: 'INVALID_ARGUMENT',
      details: [
        {
          '@type': BAD_REQUEST,
          fieldViolations: [
            {
              field: 'person.memberships[1].contactGroupMembership.contactGroupResourceName',
              description: expect.stringContaining('contactGroups/family is a deprecated system contact group'),
            },
          ],
        },
      ],
    };
    const family = [
      { contactGroupMembership: { contactGroupResourceName: 'contactGroups/myContacts' } },
      { contactGroupMembership: { contactGroupResourceName: 'contactGroups/family' } },
    ];
    expect((await googleError(p.createContact({ requestBody: { memberships: family } }))).data.error).toEqual(
      deprecated,
    );
    expect(
      (
        await googleError(
          p.updateContact({
            resourceName: c.resourceName!,
            updatePersonFields: 'memberships',
            requestBody: { etag: u.etag, memberships: family },
          }),
        )
      ).data.error,
    ).toEqual(deprecated);
    // … but a contact already in one (a legacy contact, seeded "in Google") may keep it.
    const [legacy] = await seed(DETAILS, [{ names: [{ givenName: 'Legacy' }], memberships: family }]);
    const kept = (
      await p.updateContact({
        resourceName: legacy.resourceName!,
        updatePersonFields: 'memberships',
        personFields: 'memberships',
        requestBody: {
          etag: legacy.etag,
          memberships: [...family, { contactGroupMembership: { contactGroupResourceName: vip.resourceName } }],
        },
      })
    ).data;
    expect(kept.memberships!.map((m) => m.contactGroupMembership!.contactGroupId)).toEqual([
      'myContacts',
      'family',
      id,
    ]);
    expect(
      await admin.request('POST', `/users/${DETAILS}/contacts`, {
        memberships: [{ contactGroupMembership: { contactGroupResourceName: 'contactGroups/nope' } }],
      }),
    ).toEqual({
      status: 400,
      body: {
        error:
          'Request contains an invalid argument. body.memberships[0].contactGroupMembership.contactGroupResourceName: the user has no contact group contactGroups/nope',
      },
    });
    expect(
      (await admin.request('PATCH', `/users/${DETAILS}/contacts/${legacy.resourceName}`, { memberships: [] })).status,
    ).toBe(400);
  });
});

describe('batch methods', () => {
  test('batchCreateContacts: PersonResponses per contact; 200 is the limit, 201 → 400 and nothing created; empty readMask → {}', async () => {
    const p = peopleAs(BATCH);
    const before = (await stored(BATCH)).length;
    const res = await p.batchCreateContacts({
      requestBody: {
        readMask: 'names,clientData',
        contacts: [1, 2, 3].map((i) => ({ contactPerson: person(100 + i) })),
      },
    });
    expect(res.data.createdPeople).toHaveLength(3);
    expect(res.data.createdPeople![0]).toEqual({
      httpStatusCode: 200,
      status: {},
      person: {
        resourceName: expect.stringMatching(RN),
        etag: expect.any(String),
        names: [expect.objectContaining({ givenName: 'Given101' })],
        clientData: [expect.objectContaining({ value: 'eng-101' })],
      },
    });
    const max = await p.batchCreateContacts({
      requestBody: {
        readMask: 'metadata',
        contacts: Array.from({ length: BATCH_MUTATE_MAX_CONTACTS }, (_, i) => ({ contactPerson: person(i) })),
      },
    });
    expect(max.data.createdPeople).toHaveLength(200);
    const over = await googleError(
      p.batchCreateContacts({
        requestBody: {
          readMask: 'names',
          contacts: Array.from({ length: 201 }, (_, i) => ({ contactPerson: person(i) })),
        },
      }),
    );
    expect(over.status).toBe(400);
    expect(over.data.error).toEqual({
      code: 400,
      message: 'Request contains an invalid argument.',
      status: 'INVALID_ARGUMENT',
      details: [
        {
          '@type': BAD_REQUEST,
          fieldViolations: [
            { field: 'contacts', description: 'at most 200 contacts are allowed per request, got 201' },
          ],
        },
      ],
    });
    // One invalid contact fails the whole batch.
    const oneBad = await googleError(
      p.batchCreateContacts({
        requestBody: {
          readMask: 'names',
          contacts: [
            { contactPerson: person(1) },
            { contactPerson: { names: [{ givenName: 'a' }, { givenName: 'b' }] } },
          ],
        },
      }),
    );
    expect(oneBad.data.error).toMatchObject({
      status: 'INVALID_ARGUMENT',
      details: [{ fieldViolations: [{ field: 'contacts[1].contactPerson.names' }] }],
    });
    const noMask = await p.batchCreateContacts({ requestBody: { contacts: [{ contactPerson: person(7) }] } });
    expect(noMask.data).toEqual({});
    expect(await stored(BATCH)).toHaveLength(before + 3 + 200 + 1);
    expect(await log(BATCH)).toEqual([
      'people.people.batchCreateContacts 200',
      'people.people.batchCreateContacts 200',
      'people.people.batchCreateContacts 400',
      'people.people.batchCreateContacts 400',
      'people.people.batchCreateContacts 200',
    ]);
  });

  test('batchUpdateContacts: updateResult keyed by resource name; a stale etag fails the batch (nothing applied); unknown → 404; 201 → 400', async () => {
    const p = peopleAs(BATCH);
    const [a, b] = await seed(BATCH, [person(201), person(202)]);
    const res = await p.batchUpdateContacts({
      requestBody: {
        updateMask: 'names',
        readMask: 'names,clientData',
        contacts: {
          [a.resourceName!]: { etag: a.etag, names: [{ givenName: 'A2' }] },
          [b.resourceName!]: { etag: b.etag, names: [{ givenName: 'B2' }] },
        },
      },
    });
    expect(Object.keys(res.data.updateResult!).sort()).toEqual([a.resourceName, b.resourceName].sort());
    const ra = res.data.updateResult![a.resourceName!];
    expect(ra).toEqual({
      httpStatusCode: 200,
      requestedResourceName: a.resourceName,
      status: {},
      person: {
        resourceName: a.resourceName,
        etag: expect.any(String),
        names: [expect.objectContaining({ givenName: 'A2' })],
        clientData: [expect.objectContaining({ value: 'eng-201' })],
      },
    });
    expect(ra.person!.etag).not.toBe(a.etag);

    // b is edited in Google; a batch with b's old etag fails entirely — a keeps its name.
    await admin.request('PATCH', `/users/${BATCH}/contacts/${b.resourceName}`, { names: [{ givenName: 'B-google' }] });
    const stale = await googleError(
      p.batchUpdateContacts({
        requestBody: {
          updateMask: 'names',
          readMask: 'names',
          contacts: {
            [a.resourceName!]: { etag: ra.person!.etag, names: [{ givenName: 'A3' }] },
            [b.resourceName!]: {
              etag: res.data.updateResult![b.resourceName!].person!.etag,
              names: [{ givenName: 'B3' }],
            },
          },
        },
      }),
    );
    expect(stale.status).toBe(400);
    expect(stale.data.error).toEqual({
      code: 400,
      message: STALE,
      status: 'FAILED_PRECONDITION',
      errors: [{ message: STALE, domain: 'global', reason: 'failedPrecondition' }],
      details: [
        {
          '@type': RESOURCE_INFO,
          resourceType: 'person',
          resourceName: b.resourceName,
          description: 'person.etag is stale',
        },
      ],
    });
    const now = await p.getBatchGet({ resourceNames: [a.resourceName!, b.resourceName!], personFields: 'names' });
    expect(now.data.responses!.map((r) => r.person!.names![0].givenName)).toEqual(['A2', 'B-google']);

    const unknown = await googleError(
      p.batchUpdateContacts({
        requestBody: { updateMask: 'names', readMask: 'names', contacts: { 'people/c5': { etag: 'x', names: [] } } },
      }),
    );
    expect(unknown.status).toBe(404);
    expect(unknown.data.error).toEqual({
      code: 404,
      message: 'Requested entity was not found.',
      status: 'NOT_FOUND',
      details: [
        { '@type': RESOURCE_INFO, resourceType: 'person', resourceName: 'people/c5', description: 'no such contact' },
      ],
    });
    const tooMany = Object.fromEntries(
      Array.from({ length: BATCH_MUTATE_MAX_CONTACTS + 1 }, (_, i) => [`people/c${i + 1}`, { etag: 'x' }]),
    );
    const over = await googleError(
      p.batchUpdateContacts({ requestBody: { updateMask: 'names', readMask: 'names', contacts: tooMany } }),
    );
    expect(over.data.error).toEqual({
      code: 400,
      message: 'Request contains an invalid argument.',
      status: 'INVALID_ARGUMENT',
      details: [
        {
          '@type': BAD_REQUEST,
          fieldViolations: [
            { field: 'contacts', description: 'at most 200 contacts are allowed per request, got 201' },
          ],
        },
      ],
    });
    const noMask = await googleError(
      p.batchUpdateContacts({
        requestBody: { readMask: 'names', contacts: { [a.resourceName!]: { etag: ra.person!.etag } } },
      }),
    );
    expect(noMask.data.error).toMatchObject({
      status: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/^updateMask mask is required/),
    });
    expect(await log(BATCH)).toEqual([
      'people.people.batchUpdateContacts 200',
      'people.people.batchUpdateContacts 400',
      'people.people.getBatchGet 200',
      'people.people.batchUpdateContacts 404',
      'people.people.batchUpdateContacts 400',
      'people.people.batchUpdateContacts 400',
    ]);
  });

  test('batchDeleteContacts: deletes all; 500 is the limit, 501 → 400; an unknown name → 404 and nothing deleted', async () => {
    const p = peopleAs(BATCH);
    const [a, b, c] = await seed(BATCH, [person(301), person(302), person(303)]);
    expect(
      (await p.batchDeleteContacts({ requestBody: { resourceNames: [a.resourceName!, b.resourceName!] } })).data,
    ).toEqual({});
    const names = (await stored(BATCH)).map((x) => x.resourceName);
    expect(names).not.toContain(a.resourceName);
    expect(names).toContain(c.resourceName);
    const partial = await googleError(
      p.batchDeleteContacts({ requestBody: { resourceNames: [c.resourceName!, a.resourceName!] } }),
    );
    expect(partial.status).toBe(404);
    expect(partial.data.error).toMatchObject({
      status: 'NOT_FOUND',
      message: 'Requested entity was not found.',
      details: [{ '@type': RESOURCE_INFO, resourceName: a.resourceName }],
    });
    expect((await stored(BATCH)).map((x) => x.resourceName)).toContain(c.resourceName);
    const over = await googleError(
      p.batchDeleteContacts({
        requestBody: {
          resourceNames: Array.from({ length: BATCH_DELETE_MAX_RESOURCE_NAMES + 1 }, (_, i) => `people/c${i + 1}`),
        },
      }),
    );
    expect(over.data.error).toEqual({
      code: 400,
      message: 'Request contains an invalid argument.',
      status: 'INVALID_ARGUMENT',
      details: [
        {
          '@type': BAD_REQUEST,
          fieldViolations: [
            { field: 'resource_names', description: 'at most 500 resource names are allowed per request, got 501' },
          ],
        },
      ],
    });
    const atLimit = await googleError(
      p.batchDeleteContacts({
        requestBody: { resourceNames: Array.from({ length: 500 }, (_, i) => `people/c${i + 1}`) },
      }),
    );
    expect(atLimit.status).toBe(404); // within the limit: refused only because the names are unknown
    const empty = await googleError(p.batchDeleteContacts({ requestBody: { resourceNames: [] } }));
    expect(empty.data.error).toMatchObject({
      status: 'INVALID_ARGUMENT',
      details: [{ fieldViolations: [{ field: 'resource_names' }] }],
    });
    expect(await log(BATCH)).toEqual([
      'people.people.batchDeleteContacts 200',
      'people.people.batchDeleteContacts 404',
      'people.people.batchDeleteContacts 400',
      'people.people.batchDeleteContacts 404',
      'people.people.batchDeleteContacts 400',
    ]);
  });
});

describe('searchContacts', () => {
  test('prefix phrases on names, emails, phones and organizations; warm-up; pageSize default 10, capped at 30; readMask required', async () => {
    await seed(SEARCH, [
      { names: [{ givenName: 'Jane', familyName: 'Doe' }], emailAddresses: [{ value: 'jane.doe@acme-buyers.test' }] },
      {
        names: [{ givenName: 'John', familyName: 'Smith' }],
        phoneNumbers: [{ value: '(415) 555-0199' }],
        organizations: [{ name: 'Sunset Realty' }],
      },
      ...Array.from({ length: 35 }, (_, i) => ({ names: [{ givenName: `Zed${i}`, familyName: 'Many' }] })),
    ]);
    const p = peopleAs(SEARCH, [SCOPES.contactsReadonly]);
    const names = async (query: string, pageSize?: number) =>
      ((await p.searchContacts({ query, readMask: 'names', pageSize })).data.results ?? []).map(
        (r) => r.person!.names![0].displayName,
      );
    expect((await p.searchContacts({ query: '', readMask: 'names' })).data).toEqual({}); // warm-up
    expect(await names('ja')).toEqual(['Jane Doe']);
    expect(await names('jane d')).toEqual(['Jane Doe']);
    expect(await names('doe')).toEqual(['Jane Doe']);
    expect(await names('oe')).toEqual([]); // not a prefix of a word
    expect(await names('acme-b')).toEqual(['Jane Doe']); // email
    expect(await names('sunset')).toEqual(['John Smith']); // organization
    expect(await names('415')).toEqual(['John Smith']); // phone
    expect(await names('many')).toHaveLength(10);
    expect(await names('many', 40)).toHaveLength(30);
    const result = (await p.searchContacts({ query: 'jane', readMask: 'emailAddresses' })).data.results![0].person!;
    expect(Object.keys(result).sort()).toEqual(['emailAddresses', 'etag', 'resourceName']);
    const noMask = await googleError(p.searchContacts({ query: 'jane' }));
    expect(noMask.data.error).toMatchObject({
      code: 400,
      status: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/^readMask mask is required/),
    });
    const statuses = await log(SEARCH);
    expect(statuses).toHaveLength(12);
    expect(statuses[11]).toBe('people.people.searchContacts 400');
  });
});

describe('scopes and quotas', () => {
  test('contacts.readonly may read but not write: 403 ACCESS_TOKEN_SCOPE_INSUFFICIENT, no errors[], WWW-Authenticate lists the accepted scopes', async () => {
    const p = peopleAs(AGENT, [SCOPES.contactsReadonly]);
    expect((await p.connections.list({ resourceName: 'people/me', personFields: 'names', pageSize: 1 })).status).toBe(
      200,
    );
    const e = await googleError(p.createContact({ requestBody: person(50) }));
    expect(e.status).toBe(403);
    expect(e.data.error).toEqual({
      code: 403,
      message: 'Request had insufficient authentication scopes.',
      status: 'PERMISSION_DENIED',
      details: [
        {
          '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
          reason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT',
          domain: 'googleapis.com',
          metadata: { service: 'people.googleapis.com', method: 'google.people.v1.PeopleService.CreateContact' },
        },
      ],
    });
    const { access_token } = await mintToken(t.key, AGENT, [SCOPES.contactsReadonly]);
    const raw = await rawCall(`${emu.url}/v1/people:batchDeleteContacts`, access_token, {
      method: 'POST',
      body: JSON.stringify({ resourceNames: ['people/c1'] }),
      headers: { 'content-type': 'application/json' },
    });
    expect(raw.status).toBe(403);
    expect(raw.headers.get('www-authenticate')).toBe(
      `Bearer realm="https://accounts.google.com/", error="insufficient_scope", scope="${SCOPES.contacts} ${SCOPES.m8Feeds}"`,
    );
    expect(await log(AGENT)).toEqual([
      'people.people.connections.list 200',
      'people.people.createContact 403',
      'people.people.batchDeleteContacts 403',
    ]);
  });

  test('m8/feeds is accepted by default for reads and writes, and refused with acceptM8FeedsForPeople off', async () => {
    const p = peopleAs(AGENT, [SCOPES.m8Feeds]);
    const c = (await p.createContact({ requestBody: person(60) })).data;
    expect((await p.get({ resourceName: c.resourceName!, personFields: 'names' })).status).toBe(200);
    await admin.putSettings({ acceptM8FeedsForPeople: false });
    try {
      const e = await googleError(p.get({ resourceName: c.resourceName!, personFields: 'names' }));
      expect(e.status).toBe(403);
      expect(e.data.error).toMatchObject({
        status: 'PERMISSION_DENIED',
        details: [
          {
            reason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT',
            metadata: { method: 'google.people.v1.PeopleService.GetPerson' },
          },
        ],
      });
    } finally {
      await admin.putSettings({ acceptM8FeedsForPeople: true });
    }
    expect(await log(AGENT)).toEqual([
      'people.people.createContact 200',
      'people.people.get 200',
      'people.people.get 403',
    ]);
  });

  test('critical reads per user per minute (default 90): reads and updateContact draw from it → 429 RESOURCE_EXHAUSTED; writes have their own bucket', async () => {
    const quotas = (await admin.request<Array<{ id: string; limit: number; errorStatus: number }>>('GET', '/quotas'))
      .body;
    expect(quotas.find((q) => q.id === PEOPLE_READS_BUCKET)).toMatchObject({ limit: 90, errorStatus: 429 });
    expect(quotas.find((q) => q.id === PEOPLE_WRITES_BUCKET)).toMatchObject({ limit: 90, errorStatus: 429 });
    await admin.advanceClock(61);
    await admin.putSettings({
      quotas: { [PEOPLE_READS_BUCKET]: { limitPerMinute: 3 }, [PEOPLE_WRITES_BUCKET]: { limitPerMinute: 2 } },
    });
    try {
      const p = peopleAs(QUOTA);
      const c = (await p.createContact({ requestBody: person(70) })).data; // write 1
      await p.get({ resourceName: c.resourceName!, personFields: 'names' }); // read 1
      await p.connections.list({ resourceName: 'people/me', personFields: 'names' }); // read 2
      await p.updateContact({
        resourceName: c.resourceName!,
        updatePersonFields: 'names',
        requestBody: { etag: c.etag, names: [{ givenName: 'Q' }] },
      }); // read 3
      const e = await googleError(p.searchContacts({ query: 'q', readMask: 'names' }, { retry: false }));
      expect(e.status).toBe(429);
      expect(e.data.error).toMatchObject({
        code: 429,
        status: 'RESOURCE_EXHAUSTED',
        message: `Quota exceeded for quota metric 'Critical read requests (Contact and Profile Reads)' and limit 'Critical read requests (Contact and Profile Reads) per minute per user' of service 'people.googleapis.com' for consumer 'project_number:${t.projectNumber}'.`,
        details: [
          expect.objectContaining({
            reason: 'RATE_LIMIT_EXCEEDED',
            metadata: expect.objectContaining({ quota_limit_value: '3', service: 'people.googleapis.com' }),
          }),
          expect.anything(),
        ],
      });
      expect(e.data.error.errors).toBeUndefined();
      // Writes are metered apart: one more write fits, the next does not.
      expect((await p.deleteContact({ resourceName: c.resourceName! })).status).toBe(200); // write 2
      const w = await googleError(p.createContact({ requestBody: person(71) }));
      expect(w.data.error).toMatchObject({
        code: 429,
        status: 'RESOURCE_EXHAUSTED',
        message: expect.stringContaining("quota metric 'Write requests (Contact and Profile Writes)'"),
      });
      // A minute later (emulator clock) the window has moved on.
      await admin.advanceClock(61);
      expect((await p.searchContacts({ query: 'q', readMask: 'names' })).status).toBe(200);
      expect(await log(QUOTA)).toEqual([
        'people.people.createContact 200',
        'people.people.get 200',
        'people.people.connections.list 200',
        'people.people.updateContact 200',
        'people.people.searchContacts 429',
        'people.people.deleteContact 200',
        'people.people.createContact 429',
        'people.people.searchContacts 200',
      ]);
    } finally {
      await admin.putSettings({
        quotas: { [PEOPLE_READS_BUCKET]: { limitPerMinute: 90 }, [PEOPLE_WRITES_BUCKET]: { limitPerMinute: 90 } },
      });
    }
  });
});

describe('admin data routes', () => {
  test('POST a Person (or an array) as if made in Google; GET current Persons; PATCH/DELETE unknown → 404; bad input → 400', async () => {
    const one = await admin.request<people_v1.Schema$Person>(
      'POST',
      `/users/${encodeURIComponent(PAGING)}/contacts`,
      person(400),
    );
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({
      resourceName: expect.stringMatching(RN),
      etag: expect.any(String),
      names: [expect.objectContaining({ givenName: 'Given400' })],
      metadata: { objectType: 'PERSON' },
    });
    expect((await stored(PAGING)).map((x) => x.resourceName)).toContain(one.body.resourceName);
    expect(await admin.request('POST', '/users/nobody@acme.test/contacts', person(1))).toEqual({
      status: 404,
      body: { error: 'no user nobody@acme.test; create it with POST /emulator/v1/domains' },
    });
    expect(await admin.request('POST', `/users/${PAGING}/contacts`, { names: 'Jane' })).toEqual({
      status: 400,
      body: { error: `Invalid value at 'body.names': expected a JSON array, got "Jane"` },
    });
    expect((await admin.request('PATCH', `/users/${PAGING}/contacts/c1`, { names: [] })).status).toBe(404);
    expect((await admin.request('DELETE', `/users/${PAGING}/contacts/people/c1`)).status).toBe(404);
    // Admin calls are not in the request log.
    expect(await log()).toEqual([]);
  });

  test('the wire: colon paths, JSON content type, People envelope without errors[]', async () => {
    const { access_token } = await mintToken(t.key, AGENT, [SCOPES.contacts]);
    const r = await rawCall(
      `${emu.url}/v1/people:batchGet?resourceNames=people/c1&resourceNames=people/c2&personFields=names`,
      access_token,
    );
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    expect((r.body as { responses: unknown[] }).responses).toHaveLength(2);
    const bad = await rawCall(`${emu.url}/v1/people/me/connections`, access_token);
    expect(bad.status).toBe(400);
    expect(Object.keys((bad.body as { error: object }).error).sort()).toEqual(['code', 'details', 'message', 'status']);
  });
});
