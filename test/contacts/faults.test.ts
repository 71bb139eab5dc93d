/**
 * Contacts: the faults the two-way sync survives (issue 5, "Faults it survives"), on SQLite and MariaDB.
 *
 * Every scenario ends with the same check: Google (the emulator's GET /users/{email}/contacts) and the mirror (the
 * `contact` table) hold exactly the same contacts, none lost, none duplicated, no two Google contacts carry the same
 * clientData engageContactId, and nothing is left undelivered in the outbox.
 *
 * Faults are armed through the emulator's admin API; Retry-After is 1 s so waits stay short, and the request log's
 * `at` times prove the gateway waited at least that long before calling Google again.
 * (A gateway killed with SIGKILL mid-delivery cannot be simulated in-process; that test lives elsewhere.)
 */
import { Contact } from '../../src/entities';
import type { RequestLogEntry } from '../support/google';
import { describeEachDb, type TestDb } from '../support/db';
import { until } from '../support/wait';
import { resetContacts, startWorld, type World } from '../support/world';

const AGENT = 'agent@alpha.test';
const P = 'people.people.';
const LIST = `${P}connections.list`;
const CREATE = `${P}batchCreateContacts`;
const UPDATE = `${P}batchUpdateContacts`;
const DELETE = `${P}batchDeleteContacts`;
const BATCH_GET = `${P}getBatchGet`;
const FIELDS =
  'id resourceName etag givenName familyName emails { value } phones { value } organization jobTitle notes syncState syncError conflicts { field winner }';
const DEFAULT_PEOPLE_SETTINGS = {
  expiredSyncTokenStatus: 'FAILED_PRECONDITION',
  syncTokenLifetimeSeconds: 7 * 24 * 3600,
  syncTokenExpiresFrom: 'fullSync',
  syncPropagationDelaySeconds: 0,
};

/** The CRM fields of a Google Person, as the emulator's admin API lists it. */
function googleFields(p: any) {
  const org = p.organizations?.[0];
  return {
    givenName: p.names?.[0]?.givenName ?? null,
    familyName: p.names?.[0]?.familyName ?? null,
    organization: org?.name ?? null,
    jobTitle: org?.title ?? null,
    notes: p.biographies?.[0]?.value ?? null,
    emails: (p.emailAddresses ?? []).map((e: { value: string }) => e.value),
    phones: (p.phoneNumbers ?? []).map((e: { value: string }) => e.value),
  };
}

function mirrorFields(c: Contact) {
  return {
    givenName: c.givenName ?? null,
    familyName: c.familyName ?? null,
    organization: c.organization ?? null,
    jobTitle: c.jobTitle ?? null,
    notes: c.notes ?? null,
    emails: (JSON.parse(c.emails) as { value: string }[]).map((e) => e.value),
    phones: (JSON.parse(c.phones) as { value: string }[]).map((e) => e.value),
  };
}

const engageIdOf = (p: any): string | undefined =>
  p.clientData?.find((d: { key: string }) => d.key === 'engageContactId')?.value;

/** Shared by both suites: a world plus the helpers every scenario uses. */
function harness(db: () => TestDb, env: Record<string, string> = {}) {
  const h = {} as {
    w: World;
    token: string;
    gql: (
      query: string,
      variables?: Record<string, unknown>,
    ) => Promise<{ status: number; body: { data?: any; errors?: any[] } }>;
  };

  beforeAll(async () => {
    h.w = await startWorld(db(), { env });
    h.token = await h.w.token(AGENT);
    h.gql = (query, variables) => h.w.gw.gql(query, { token: h.token, variables });
    // Plenty of quota: a rate limit here must be one we injected, not the emulator's per-minute default.
    await h.w.admin.putSettings({
      quotas: { 'people.writes': { limitPerMinute: 100_000 }, 'people.criticalReads': { limitPerMinute: 100_000 } },
    });
  });
  afterAll(async () => {
    await h.w?.admin.clearFaults().catch(() => undefined);
    await h.w?.close();
  });
  beforeEach(async () => {
    const { w } = h;
    await w.admin.clearFaults();
    await w.admin.request('PUT', '/people/settings', DEFAULT_PEOPLE_SETTINGS);
    await resetContacts(w, db(), AGENT);
    // Start every scenario from a completed full sync, so reads inside the freshness window call nobody.
    const s = await h.gql('mutation { syncContacts { contacts { lastSyncAt } } }');
    expect(s.body.errors).toBeUndefined();
    await w.admin.clearRequests();
  });

  const googleContacts = async () => (await h.w.admin.request<any[]>('GET', `/users/${AGENT}/contacts`)).body;
  const peopleCalls = async (method?: string): Promise<RequestLogEntry[]> =>
    (await h.w.admin.requests({ api: 'people', ...(method ? { method } : {}) })).filter((r) => r.user === AGENT);
  const agentId = async () => (await db().ds.query('SELECT id FROM agent WHERE email = ?', [AGENT]))[0].id as string;
  const mirror = async () =>
    db()
      .ds.getRepository(Contact)
      .find({ where: { agentId: await agentId() } });
  const status = async () => {
    const r = await h.gql(
      '{ syncStatus { contacts { lastSyncAt staleSince lastError lastFullSyncAt fullResyncs lastFullResyncAt lastFullResyncReason pendingChanges failedChanges } } }',
    );
    expect(r.body.errors).toBeUndefined();
    return r.body.data.syncStatus.contacts as {
      lastSyncAt: string | null;
      staleSince: string | null;
      lastError: string | null;
      lastFullSyncAt: string | null;
      fullResyncs: number;
      lastFullResyncAt: string | null;
      lastFullResyncReason: string | null;
      pendingChanges: number;
      failedChanges: number;
    };
  };
  const contact = async (id: string) => {
    const r = await h.gql(`query ($id: ID!) { contact(id: $id) { ${FIELDS} } }`, { id });
    expect(r.body.errors).toBeUndefined();
    return r.body.data.contact;
  };
  const sync = async () => {
    const r = await h.gql(
      'mutation { syncContacts { contacts { lastSyncAt staleSince lastError fullResyncs lastFullResyncReason } } }',
    );
    expect(r.body.errors).toBeUndefined();
    return r.body.data.syncContacts.contacts;
  };
  const create = async (input: Record<string, unknown>) => {
    const r = await h.gql(`mutation ($i: ContactInput!) { createContact(input: $i) { ${FIELDS} } }`, { i: input });
    expect(r.body.errors).toBeUndefined();
    return r.body.data.createContact;
  };
  const update = async (id: string, input: Record<string, unknown>) => {
    const r = await h.gql(
      `mutation ($id: ID!, $i: ContactPatch!) { updateContact(id: $id, input: $i) { ${FIELDS} } }`,
      { id, i: input },
    );
    expect(r.body.errors).toBeUndefined();
    return r.body.data.updateContact;
  };
  const remove = async (id: string) => {
    const r = await h.gql('mutation ($id: ID!) { deleteContact(id: $id) }', { id });
    expect(r.body.errors).toBeUndefined();
    return r.body.data.deleteContact as boolean;
  };
  /** A contact created in the CRM and confirmed by Google. */
  const synced = async (input: Record<string, unknown>) => {
    const c = await create(input);
    return c.syncState === 'SYNCED'
      ? c
      : until(
          `contact ${c.id} to be SYNCED`,
          () => contact(c.id),
          (x) => x?.syncState === 'SYNCED',
        );
  };
  /** Waits for one of `states`; FAILED is final, so it ends the wait at once unless it is one of them. */
  const waitState = (id: string, states: string[]) =>
    until(
      `contact ${id} to reach ${states.join('|')}`,
      () => contact(id),
      (c) => {
        if (!states.includes('FAILED') && c?.syncState === 'FAILED')
          throw new Error(`contact ${id} became FAILED while waiting for ${states.join('|')}: ${JSON.stringify(c)}`);
        return states.includes(c?.syncState);
      },
    );
  /** Every outbox row delivered (none pending), none refused. */
  const waitDelivered = async () => {
    const s = await until('the outbox to deliver everything (pendingChanges 0)', status, (x) => x.pendingChanges === 0);
    expect(s.failedChanges).toBe(0);
    return s;
  };
  const googlePatch = (resourceName: string, body: unknown) =>
    h.w.admin.request('PATCH', `/users/${AGENT}/contacts/${resourceName.replace('people/', '')}`, body).then((r) => {
      expect(r.status).toBe(200);
      return r.body as any;
    });
  /**
   * A Google edit stamped `seconds` away from now (the emulator's clock moves for this one edit only), so which side
   * wrote last never depends on how fast the machine ran between the two writes.
   */
  const googlePatchAt = async (seconds: number, resourceName: string, body: unknown) => {
    await h.w.admin.advanceClock(seconds);
    try {
      return await googlePatch(resourceName, body);
    } finally {
      await h.w.admin.advanceClock(-seconds);
    }
  };
  const googleDelete = (resourceName: string) =>
    h.w.admin
      .request('DELETE', `/users/${AGENT}/contacts/${resourceName.replace('people/', '')}`)
      .then((r) => expect(r.status).toBe(200));

  /**
   * Google and the mirror hold exactly the same contacts: the same resourceNames (each once), the same fields, no
   * contact only on one side, no two Google contacts with one engageContactId, nothing pending in the outbox.
   */
  async function expectSameOnBothSides() {
    const s = await status();
    expect({ pendingChanges: s.pendingChanges, failedChanges: s.failedChanges }).toEqual({
      pendingChanges: 0,
      failedChanges: 0,
    });
    const google = await googleContacts();
    const rows = await mirror();
    expect(rows.filter((c) => c.deletedAt).map((c) => c.id)).toEqual([]); // no delete left undelivered
    expect(rows.filter((c) => !c.resourceName).map((c) => c.id)).toEqual([]); // no contact only in the CRM
    const googleNames = google.map((p) => p.resourceName as string).sort();
    const mirrorNames = rows.map((c) => c.resourceName!).sort();
    expect(mirrorNames).toEqual(googleNames);
    expect(new Set(mirrorNames).size).toBe(mirrorNames.length);
    const engageIds = google.map(engageIdOf).filter((x): x is string => Boolean(x));
    expect(engageIds.length - new Set(engageIds).size).toBe(0); // no contact created twice
    for (const p of google) {
      const c = rows.find((x) => x.resourceName === p.resourceName)!;
      expect({ rn: p.resourceName, ...mirrorFields(c) }).toEqual({ rn: p.resourceName, ...googleFields(p) });
      const id = engageIdOf(p);
      if (id) expect(c.id).toBe(id); // ours: mapped to the contact that created it
    }
    return { google, rows };
  }

  /**
   * Every call the fault answered (fault: 'status') was followed by the gateway's next People call for this user no
   * sooner than Retry-After (the emulator logs both with its clock).
   */
  async function expectRetryAfterHonoured(method: string, retryAfterMs: number, statuses: number[]) {
    const log = await peopleCalls();
    const failed = log.map((e, i) => ({ e, i })).filter(({ e }) => e.method === method && e.fault === 'status');
    expect(failed.map(({ e }) => e.status)).toEqual(statuses);
    for (const { e, i } of failed) {
      const next = log[i + 1];
      expect(next).toBeDefined();
      const gap = Date.parse(next.at) - Date.parse(e.at);
      expect({
        after: `${e.method} ${e.status}`,
        next: next.method,
        waitedAtLeastRetryAfter: gap >= retryAfterMs,
        gap,
      }).toMatchObject({ waitedAtLeastRetryAfter: true });
    }
    return log;
  }

  return {
    h,
    googleContacts,
    peopleCalls,
    mirror,
    status,
    contact,
    sync,
    create,
    update,
    remove,
    synced,
    waitState,
    waitDelivered,
    googlePatch,
    googlePatchAt,
    googleDelete,
    expectSameOnBothSides,
    expectRetryAfterHonoured,
  };
}

describeEachDb('contacts: faults the sync survives', (db) => {
  // Mutations wait half a second for Google: long enough for a healthy call, shorter than a 1 s Retry-After.
  const t = harness(db, { MUTATION_WAIT_MS: '500' });
  const admin = () => t.h.w.admin;

  describe('503 and 429 with Retry-After on every People method the gateway uses', () => {
    const RETRY_AFTER_S = 1;
    /** One 503 then one 429, both with Retry-After: 1, on `method`. */
    const armBoth = async (method: string) => {
      await admin().addFault({ api: 'people', method, status: 503, count: 1, retryAfterSeconds: RETRY_AFTER_S });
      await admin().addFault({ api: 'people', method, status: 429, count: 1, retryAfterSeconds: RETRY_AFTER_S });
    };

    test('batchCreateContacts: createContact answers PENDING, then the outbox delivers once, after Retry-After', async () => {
      await armBoth(CREATE);
      const started = Date.now();
      const c = await t.create({ givenName: 'Ada', familyName: 'Create', emails: [{ value: 'ada@create.test' }] });
      expect(c).toMatchObject({ syncState: 'PENDING', resourceName: null });
      expect(c.syncError).toMatch(/503/);
      expect((await t.status()).pendingChanges).toBe(1);
      const done = await t.waitState(c.id, ['SYNCED']);
      expect(Date.now() - started).toBeGreaterThanOrEqual(2 * RETRY_AFTER_S * 1000);
      expect(done.syncError).toBeNull();
      await t.expectRetryAfterHonoured(CREATE, RETRY_AFTER_S * 1000, [503, 429]);
      expect((await t.peopleCalls(CREATE)).map((e) => e.status)).toEqual([503, 429, 200]);
      const { google } = await t.expectSameOnBothSides();
      expect(google).toHaveLength(1);
      expect(engageIdOf(google[0])).toBe(c.id);
      expect(done.resourceName).toBe(google[0].resourceName);
    });

    test('batchUpdateContacts: updateContact answers PENDING, then Google gets the edit after Retry-After', async () => {
      const c = await t.synced({ givenName: 'Bea', familyName: 'Update' });
      await admin().clearRequests();
      await armBoth(UPDATE);
      const u = await t.update(c.id, { jobTitle: 'Broker', phones: [{ value: '+1 206 555 0199' }] });
      expect(u).toMatchObject({ syncState: 'PENDING', jobTitle: 'Broker' });
      expect((await t.status()).pendingChanges).toBe(1);
      await t.waitState(c.id, ['SYNCED']);
      await t.expectRetryAfterHonoured(UPDATE, RETRY_AFTER_S * 1000, [503, 429]);
      const { google } = await t.expectSameOnBothSides();
      expect(google).toHaveLength(1);
      expect(googleFields(google[0])).toMatchObject({
        givenName: 'Bea',
        jobTitle: 'Broker',
        phones: ['+1 206 555 0199'],
      });
    });

    test('batchDeleteContacts: the delete stays pending while Google fails, then leaves Google after Retry-After', async () => {
      const keep = await t.synced({ givenName: 'Keep' });
      const c = await t.synced({ givenName: 'Cal', familyName: 'Delete' });
      await admin().clearRequests();
      await armBoth(DELETE);
      expect(await t.remove(c.id)).toBe(true);
      expect(await t.status()).toMatchObject({ pendingChanges: 1, failedChanges: 0 });
      expect(await t.contact(c.id)).toBeNull();
      expect((await t.googleContacts()).map((p) => p.resourceName)).toContain(c.resourceName);
      await t.waitDelivered();
      await t.expectRetryAfterHonoured(DELETE, RETRY_AFTER_S * 1000, [503, 429]);
      const { google } = await t.expectSameOnBothSides();
      expect(google.map((p) => p.resourceName)).toEqual([keep.resourceName]);
    });

    // PRODUCT BUG (see the report, bug 1): the sync that delivery runs before a delete throws the AppError made by
    // ContactSync.run; ContactDelivery.deliver hands it to mapGoogleError, which does not know AppError and answers
    // kind 'unknown', retryable false, so a transient 503/429 on connections.list turns the delete FAILED for good.
    test('connections.list: the sync before a delete fails, the delete is retried after Retry-After and delivered', async () => {
      const keep = await t.synced({ givenName: 'Keep' });
      const c = await t.synced({ givenName: 'Dee', familyName: 'List' });
      await admin().clearRequests();
      await armBoth(LIST);
      expect(await t.remove(c.id)).toBe(true);
      expect(await t.status()).toMatchObject({ pendingChanges: 1, failedChanges: 0 });
      await t.waitDelivered();
      await t.expectRetryAfterHonoured(LIST, RETRY_AFTER_S * 1000, [503, 429]);
      const { google } = await t.expectSameOnBothSides();
      expect(google.map((p) => p.resourceName)).toEqual([keep.resourceName]);
      const s = await t.status();
      expect({ staleSince: s.staleSince, lastError: s.lastError }).toEqual({ staleSince: null, lastError: null });
    });

    test('connections.list: syncContacts reports the failure with its Retry-After and the staleness; the next sync clears it', async () => {
      const c = await t.synced({ givenName: 'Eli' });
      await t.googlePatch(c.resourceName, { names: [{ givenName: 'Elias' }] });
      await armBoth(LIST);
      const before = Date.now();
      const r1 = await t.h.gql('mutation { syncContacts { contacts { lastSyncAt } } }');
      expect(r1.body.errors?.[0]?.extensions).toMatchObject({
        code: 'UPSTREAM_UNAVAILABLE',
        retryAfterSeconds: RETRY_AFTER_S,
      });
      const s1 = await t.status();
      expect(s1.staleSince).not.toBeNull();
      expect(Date.parse(s1.staleSince!)).toBeGreaterThanOrEqual(before - 1000);
      expect(s1.lastError).toMatch(/503/);
      const r2 = await t.h.gql('mutation { syncContacts { contacts { lastSyncAt } } }');
      expect(r2.body.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: RETRY_AFTER_S });
      const s2 = await t.status();
      expect(s2.staleSince).toBe(s1.staleSince); // stale since the FIRST failure
      expect(s2.lastError).not.toBe(s1.lastError);
      expect((await t.contact(c.id)).givenName).toBe('Eli'); // the mirror still answers
      const ok = await t.sync();
      expect({ staleSince: ok.staleSince, lastError: ok.lastError }).toEqual({ staleSince: null, lastError: null });
      expect((await t.contact(c.id)).givenName).toBe('Elias');
      await t.expectSameOnBothSides();
    });

    test('getBatchGet: the re-read after a stale etag fails, is retried after Retry-After, and both edits survive', async () => {
      const c = await t.synced({ givenName: 'Fay', familyName: 'Get', organization: 'Old Org' });
      await t.googlePatch(c.resourceName, { organizations: [{ name: 'New Org' }] }); // Google's etag moves on
      await admin().clearRequests();
      await armBoth(BATCH_GET);
      const u = await t.update(c.id, { familyName: 'Getty' });
      expect(u.syncState).toBe('PENDING');
      await t.waitState(c.id, ['SYNCED']);
      const log = await t.expectRetryAfterHonoured(BATCH_GET, RETRY_AFTER_S * 1000, [503, 429]);
      // the stale etag
      expect(log.filter((e) => e.method === UPDATE && e.status === 400).length).toBeGreaterThanOrEqual(1);
      const { google } = await t.expectSameOnBothSides();
      expect(google).toHaveLength(1);
      expect(googleFields(google[0])).toMatchObject({ givenName: 'Fay', familyName: 'Getty', organization: 'New Org' });
      expect((await t.contact(c.id)).conflicts).toEqual([]);
    });
  });

  // A kept-alive connection the server closed just as the gateway sent a read on it (the server's idle timeout and
  // the client's crossing): the read never reached Google. Before, the sync failed on it (CI under load: a full sync
  // of 10,000 contacts ended after 7 of its 10 pages, with UPSTREAM_UNAVAILABLE).
  describe('a connection closed before Google answered a read', () => {
    test('connections.list: read again at once, and the sync completes', async () => {
      await admin().request('POST', `/users/${AGENT}/contacts`, [
        { names: [{ givenName: 'Ada' }] },
        { names: [{ givenName: 'Bo' }] },
      ]);
      await admin().addFault({ api: 'people', method: LIST, resetConnection: true, count: 1 });
      const r = await t.h.gql('mutation { syncContacts { contacts { lastSyncAt staleSince lastError } } }');
      expect(r.body.errors).toBeUndefined();
      expect(r.body.data.syncContacts.contacts).toMatchObject({ staleSince: null, lastError: null });
      expect((await t.peopleCalls(LIST)).map((e) => e.fault ?? null)).toEqual(['reset', null]);
      expect((await t.mirror()).map((c) => c.givenName).sort()).toEqual(['Ada', 'Bo']);
      await t.expectSameOnBothSides();
    });

    test('the token exchange (safe to repeat) on a closed connection: asked again, and the sync completes', async () => {
      const other = 'other@alpha.test'; // no token minted for this mailbox yet
      await admin().addFault({ api: 'token', resetConnection: true, count: 1 });
      const r = await t.h.w.gw.gql('mutation { syncContacts { contacts { lastSyncAt staleSince } } }', {
        token: await t.h.w.token(other),
      });
      expect(r.body.errors).toBeUndefined();
      const tokens = (await admin().requests({ api: 'token' })).filter((e) => e.user === other);
      expect(tokens.map((e) => e.fault ?? null)).toEqual(['reset', null]);
    });

    test('a write is not sent again by the transport: batchCreateContacts reset before Google took it, the outbox delivers it once', async () => {
      await admin().addFault({ api: 'people', method: CREATE, resetConnection: true, count: 1 });
      const c = await t.create({ givenName: 'Cy' });
      await t.waitState(c.id, ['SYNCED']);
      // The reset call; then the outbox, which reads Google before it writes again (a lost answer may hide a contact
      // Google has), and its own attempt. A transport that re-sent the write would leave no read between the two.
      expect((await t.peopleCalls()).map((e) => [e.method, e.fault ?? null])).toEqual([
        [CREATE, 'reset'],
        [LIST, null],
        [CREATE, null],
      ]);
      const { google } = await t.expectSameOnBothSides();
      expect(google).toHaveLength(1);
    });
  });

  // PRODUCT BUG (see the report, bug 2): a reset connection reaches mapGoogleError as GaxiosError("Unexpected Gaxios
  // Error") ← TypeError("fetch failed") ← SocketError(UND_ERR_SOCKET "other side closed"); only the outer error's
  // code/name/message are looked at, so it is 'unknown' and not retryable: the create becomes FAILED while Google
  // has the contact (a contact on one side only). The third test also needs bugs 1 and 3 fixed.
  describe('a connection reset after Google accepted batchCreateContacts', () => {
    test('createContact: exactly one Google contact, mapped in the mirror, SYNCED', async () => {
      await admin().addFault({ api: 'people', method: CREATE, resetConnection: true, afterCommit: true, count: 1 });
      const c = await t.create({ givenName: 'Gus', familyName: 'Reset', emails: [{ value: 'gus@reset.test' }] });
      const done = await t.waitState(c.id, ['SYNCED']);
      const creates = await t.peopleCalls(CREATE);
      expect(creates.map((e) => ({ status: e.status, fault: e.fault, committedStatus: e.committedStatus }))).toEqual([
        { status: 0, fault: 'resetAfterCommit', committedStatus: 200 },
      ]);
      const { google } = await t.expectSameOnBothSides();
      expect(google).toHaveLength(1);
      expect(engageIdOf(google[0])).toBe(c.id);
      expect(done.resourceName).toBe(google[0].resourceName);
      // A later sync neither duplicates nor re-imports it.
      await t.sync();
      expect((await t.mirror()).map((x) => x.id)).toEqual([c.id]);
      await t.expectSameOnBothSides();
    });

    test('createContacts (a batch of 3): each exists once in Google and is mapped', async () => {
      await admin().addFault({ api: 'people', method: CREATE, resetConnection: true, afterCommit: true, count: 1 });
      const r = await t.h.gql('mutation ($i: [ContactInput!]!) { createContacts(input: $i) { id syncState } }', {
        i: [{ givenName: 'H1' }, { givenName: 'H2' }, { givenName: 'H3' }],
      });
      expect(r.body.errors).toBeUndefined();
      const ids: string[] = r.body.data.createContacts.map((x: { id: string }) => x.id);
      for (const id of ids) await t.waitState(id, ['SYNCED']);
      await t.waitDelivered();
      expect((await t.peopleCalls(CREATE)).map((e) => e.status)).toEqual([0]);
      const { google } = await t.expectSameOnBothSides();
      expect(google.map(engageIdOf).sort()).toEqual([...ids].sort());
    });
    test('reset after commit, then the linking sync fails too, and the CRM edits the contact meanwhile: still one Google contact, with the edit', async () => {
      await admin().addFault({ api: 'people', method: CREATE, resetConnection: true, afterCommit: true, count: 1 });
      // The linking sync after the reset is parked, then fails with 503 (Retry-After 1 s) once the edit is in.
      const linking = await admin().addFault({
        api: 'people',
        method: LIST,
        hold: 'call',
        status: 503,
        count: 1,
        retryAfterSeconds: 1,
      });
      const c = await t.create({ givenName: 'Ike', familyName: 'Reset' });
      expect(c.syncState).toBe('PENDING');
      await admin().waitHeld(linking.id);
      const u = await t.update(c.id, { jobTitle: 'Edited while unsure' });
      expect(u.syncState).toBe('PENDING');
      expect(await t.status()).toMatchObject({ pendingChanges: 2, failedChanges: 0 });
      await admin().release(linking.id);
      const done = await t.waitState(c.id, ['SYNCED']);
      await t.waitDelivered();
      expect(done.jobTitle).toBe('Edited while unsure');
      expect((await t.peopleCalls(CREATE)).map((e) => e.status)).toEqual([0]); // never created a second time
      expect((await t.peopleCalls(LIST)).map((e) => e.status)).toEqual([503, 200]);
      await t.expectRetryAfterHonoured(LIST, 1000, [503]);
      const { google } = await t.expectSameOnBothSides();
      expect(google).toHaveLength(1);
      expect(googleFields(google[0])).toMatchObject({ givenName: 'Ike', jobTitle: 'Edited while unsure' });
    });
  });

  describe('an expired sync token', () => {
    test.each(['FAILED_PRECONDITION', 'INVALID_ARGUMENT'])(
      '(400 %s): full resync, recorded; deletes made in Google meanwhile are swept, the rest intact',
      async (expiredStatus) => {
        await admin().request('POST', `/users/${AGENT}/contacts`, [
          { names: [{ givenName: 'Ivy' }] },
          { names: [{ givenName: 'Jon' }] },
          { names: [{ givenName: 'Kim' }] },
        ]);
        const ours = await t.synced({ givenName: 'Lou', emails: [{ value: 'lou@x.test' }] });
        await t.sync();
        const [ivy, jon] = (await t.googleContacts()).filter((p) => ['Ivy', 'Jon'].includes(p.names?.[0]?.givenName));
        expect((await t.mirror()).length).toBe(4);
        // A create still waiting for Google when the resync happens must survive it.
        await admin().addFault({ api: 'people', method: CREATE, status: 503, unlimited: true });
        const waiting = await t.create({ givenName: 'Max' });
        expect(waiting.syncState).toBe('PENDING');

        const set = await admin().request('PUT', '/people/settings', {
          syncTokenLifetimeSeconds: 1,
          expiredSyncTokenStatus: expiredStatus,
        });
        expect(set.status).toBe(200);
        await t.googleDelete(ivy.resourceName); // deleted in Google while the token ages
        await t.googlePatch(jon.resourceName, { names: [{ givenName: 'Jonathan' }] }); // and one edited
        await admin().advanceClock(2); // the token is now older than its 1 s lifetime
        await admin().clearRequests();
        const before = Date.now();
        const r = await t.sync();
        expect(r).toMatchObject({
          staleSince: null,
          lastError: null,
          fullResyncs: 1,
          lastFullResyncReason: 'EXPIRED_SYNC_TOKEN',
        });
        const s = await t.status();
        expect(s).toMatchObject({ fullResyncs: 1, lastFullResyncReason: 'EXPIRED_SYNC_TOKEN' });
        expect(Date.parse(s.lastFullResyncAt!)).toBeGreaterThanOrEqual(before - 1000);
        const lists = await t.peopleCalls(LIST);
        expect(lists.map((e) => e.status)).toEqual([400, 200]);

        const rows = await t.mirror();
        expect(rows.find((c) => c.resourceName === ivy.resourceName)).toBeUndefined(); // swept
        expect(rows.find((c) => c.resourceName === jon.resourceName)?.givenName).toBe('Jonathan');
        expect(rows.find((c) => c.id === ours.id)?.resourceName).toBe(ours.resourceName);
        expect(rows.find((c) => c.id === waiting.id)).toBeDefined(); // not yet in Google, not swept
        expect(rows.map((c) => c.givenName).sort()).toEqual(['Jonathan', 'Kim', 'Lou', 'Max']);

        await admin().clearFaults();
        await admin().request('PUT', '/people/settings', DEFAULT_PEOPLE_SETTINGS);
        await t.waitState(waiting.id, ['SYNCED']);
        const { google } = await t.expectSameOnBothSides();
        expect(google.map((p) => p.names[0].givenName).sort()).toEqual(['Jonathan', 'Kim', 'Lou', 'Max']);
      },
    );
  });

  describe('edits on both sides before a sync', () => {
    /** Delivery of updates fails (503, no Retry-After: fast retries) until `release`. */
    const holdUpdates = () => admin().addFault({ api: 'people', method: UPDATE, status: 503, unlimited: true });
    const release = () => admin().clearFaults();
    // Two ways the two edits meet: the outbox's update hits Google's stale etag and re-reads (getBatchGet), or an
    // incremental sync brings Google's edit while ours is still pending.
    const MEET = ['outbox (stale etag, re-read)', 'incremental sync'] as const;
    const meet = async (how: (typeof MEET)[number]) => {
      if (how === 'incremental sync') await t.sync();
      await release();
    };

    test.each(MEET)('different fields, meeting in the %s: both edits survive, no conflict', async (how) => {
      const c = await t.synced({ givenName: 'Nia', familyName: 'Both', organization: 'Acme' });
      await holdUpdates();
      const u = await t.update(c.id, { jobTitle: 'Agent', emails: [{ value: 'nia@crm.test' }] });
      expect(u.syncState).toBe('PENDING');
      await t.googlePatch(c.resourceName, {
        names: [{ givenName: 'Nina', familyName: 'Both' }],
        phoneNumbers: [{ value: '+1 206 555 0142' }],
      });
      await meet(how);
      const done = await t.waitState(c.id, ['SYNCED', 'CONFLICT', 'FAILED']);
      await t.waitDelivered();
      expect(done).toMatchObject({
        syncState: 'SYNCED',
        givenName: 'Nina',
        familyName: 'Both',
        organization: 'Acme',
        jobTitle: 'Agent',
        emails: [{ value: 'nia@crm.test' }],
        phones: [{ value: '+1 206 555 0142' }],
        conflicts: [],
      });
      const { google } = await t.expectSameOnBothSides();
      expect(google).toHaveLength(1);
      expect(googleFields(google[0])).toEqual({
        givenName: 'Nina',
        familyName: 'Both',
        organization: 'Acme',
        jobTitle: 'Agent',
        notes: null,
        emails: ['nia@crm.test'],
        phones: ['+1 206 555 0142'],
      });
    });

    test.each(MEET)(
      'same field, Google wrote last, meeting in the %s: Google wins and the conflict is recorded',
      async (how) => {
        const c = await t.synced({ givenName: 'Oli', familyName: 'Same' });
        await holdUpdates();
        await t.update(c.id, { givenName: 'Oliver-CRM' });
        await t.googlePatchAt(60, c.resourceName, { names: [{ givenName: 'Oliver-Google', familyName: 'Same' }] });
        await meet(how);
        await t.waitDelivered();
        const done = await t.contact(c.id);
        expect(['SYNCED', 'CONFLICT']).toContain(done.syncState);
        expect(done.givenName).toBe('Oliver-Google');
        expect(done.conflicts).toEqual([{ field: 'givenName', winner: 'google' }]);
        const { google } = await t.expectSameOnBothSides();
        expect(google).toHaveLength(1);
        expect(googleFields(google[0]).givenName).toBe('Oliver-Google');
      },
    );

    test.each(MEET)(
      'same field, the CRM wrote last, meeting in the %s: the CRM wins and the conflict is recorded',
      async (how) => {
        const c = await t.synced({ givenName: 'Pia', familyName: 'Same' });
        await t.googlePatchAt(-60, c.resourceName, { names: [{ givenName: 'Pia-Google', familyName: 'Same' }] });
        await holdUpdates();
        const u = await t.update(c.id, { givenName: 'Pia-CRM' });
        expect(u.syncState).toBe('PENDING');
        await meet(how);
        await t.waitDelivered();
        const done = await t.contact(c.id);
        expect(['SYNCED', 'CONFLICT']).toContain(done.syncState);
        expect(done.givenName).toBe('Pia-CRM');
        expect(done.conflicts).toEqual([{ field: 'givenName', winner: 'crm' }]);
        const { google } = await t.expectSameOnBothSides();
        expect(google).toHaveLength(1);
        expect(googleFields(google[0]).givenName).toBe('Pia-CRM');
      },
    );

    test.each(MEET)(
      'deleted in Google, edited in the CRM, meeting in the %s: re-created in Google with the edit',
      async (how) => {
        const other = await t.synced({ givenName: 'Other' });
        const c = await t.synced({ givenName: 'Quinn', familyName: 'Gone' });
        await holdUpdates();
        const u = await t.update(c.id, { notes: 'still a lead' });
        expect(u.syncState).toBe('PENDING');
        await t.googleDelete(c.resourceName);
        await meet(how);
        const done = await t.waitState(c.id, ['SYNCED', 'CONFLICT', 'FAILED']);
        await t.waitDelivered();
        expect(done).toMatchObject({ syncState: 'SYNCED', givenName: 'Quinn', notes: 'still a lead' });
        expect(done.resourceName).not.toBeNull();
        expect(done.resourceName).not.toBe(c.resourceName);
        expect(done.conflicts).toEqual([{ field: 'deleted', winner: 'crm' }]);
        const { google } = await t.expectSameOnBothSides();
        expect(google.map((p) => p.resourceName).sort()).toEqual([other.resourceName, done.resourceName].sort());
        const again = google.find((p) => p.resourceName === done.resourceName);
        expect(engageIdOf(again)).toBe(c.id);
        expect(googleFields(again).notes).toBe('still a lead');
      },
    );

    test.each(['outbox (sync before delete)', 'incremental sync'] as const)(
      "deleted in the CRM, edited in Google, meeting in the %s: restored with Google's edit",
      async (how) => {
        const other = await t.synced({ givenName: 'Other' });
        const c = await t.synced({ givenName: 'Rae', familyName: 'Back' });
        // The delete reaches Google (after its check) and is parked, then refused with 503: it waits in the outbox.
        const parked = await admin().addFault({ api: 'people', method: DELETE, hold: 'call', status: 503, count: 1 });
        expect(await t.remove(c.id)).toBe(true);
        expect(await t.contact(c.id)).toBeNull();
        await admin().waitHeld(parked.id);
        expect((await t.status()).pendingChanges).toBe(1);
        await t.googlePatch(c.resourceName, { organizations: [{ name: 'Kept Realty' }] });
        if (how === 'incremental sync') await t.sync();
        await admin().release(parked.id);
        await t.waitDelivered();
        const back = await t.contact(c.id);
        expect(back).toMatchObject({
          syncState: 'SYNCED',
          givenName: 'Rae',
          organization: 'Kept Realty',
          resourceName: c.resourceName,
        });
        expect(back.conflicts).toEqual([{ field: 'deleted', winner: 'google' }]);
        const { google } = await t.expectSameOnBothSides();
        expect(google.map((p) => p.resourceName).sort()).toEqual([other.resourceName, c.resourceName].sort());
        expect((await t.peopleCalls(DELETE)).filter((e) => e.status === 200)).toEqual([]); // never deleted in Google
      },
    );

    // People's delete takes no etag: an edit landing in Google after the check before the delete would be erased by
    // a plain delete. The hold parks the check's answer (its sync has read Google) while Google's edit lands.
    test('deleted in the CRM, edited in Google just after the check before the delete: restored, never deleted', async () => {
      const c = await t.synced({ givenName: 'Sol', familyName: 'Late' });
      const check = await admin().addFault({ api: 'people', method: LIST, hold: 'answer' });
      expect(await t.remove(c.id)).toBe(true);
      await admin().waitHeld(check.id);
      await t.googlePatch(c.resourceName, { organizations: [{ name: 'Edited Meanwhile' }] });
      await admin().release(check.id);
      await t.waitDelivered();
      const back = await until(
        `contact ${c.id} to come back`,
        () => t.contact(c.id),
        (x) => x !== null,
      );
      expect(back).toMatchObject({
        syncState: 'SYNCED',
        givenName: 'Sol',
        organization: 'Edited Meanwhile',
        resourceName: c.resourceName,
      });
      expect(back.conflicts).toEqual([{ field: 'deleted', winner: 'google' }]);
      expect(await t.peopleCalls(DELETE)).toEqual([]); // never sent
      await t.expectSameOnBothSides();
    });
  });

  describe('the guard before a delete (a write with the etag the check saw)', () => {
    test('its answer lost after Google took it: the next attempt knows the new etag as ours and deletes', async () => {
      const keep = await t.synced({ givenName: 'Keep' });
      const c = await t.synced({ givenName: 'Uri', familyName: 'Lost' });
      await admin().addFault({ api: 'people', method: UPDATE, resetConnection: true, afterCommit: true, count: 1 });
      expect(await t.remove(c.id)).toBe(true);
      await t.waitDelivered();
      expect((await t.peopleCalls(UPDATE)).map((e) => e.status)).toEqual([0, 200]);
      expect((await t.peopleCalls(DELETE)).map((e) => e.status)).toEqual([200]);
      expect(await t.contact(c.id)).toBeNull();
      const { google } = await t.expectSameOnBothSides();
      expect(google.map((p) => p.resourceName)).toEqual([keep.resourceName]);
    });

    test('a contact already deleted in Google but not yet in its sync: read again, forgotten, the rest deleted in the same round', async () => {
      const a = await t.synced({ givenName: 'Vic' });
      const b = await t.synced({ givenName: 'Wyn' });
      const set = await admin().request('PUT', '/people/settings', { syncPropagationDelaySeconds: 3600 });
      expect(set.status).toBe(200);
      await t.googleDelete(b.resourceName); // the incremental sync will not show this for an hour
      await admin().clearRequests();
      const r = await t.h.gql('mutation ($ids: [ID!]!) { deleteContacts(ids: $ids) }', { ids: [a.id, b.id] });
      expect(r.body.errors).toBeUndefined();
      await t.waitDelivered();
      // The guard's 404 names the gone contact's batch; one read finds which; the live one is guarded and deleted.
      expect((await t.peopleCalls()).map((e) => `${e.method.replace(P, '')} ${e.status}`)).toEqual([
        'connections.list 200',
        'batchUpdateContacts 404',
        'getBatchGet 200',
        'batchUpdateContacts 200',
        'batchDeleteContacts 200',
      ]);
      expect(await t.mirror()).toEqual([]);
      expect(await t.googleContacts()).toEqual([]);
    });
  });
});

describeEachDb('contacts: reads while Google is unreachable', (db) => {
  // Every read syncs first (freshness 0 s), so each read tries Google.
  const t = harness(db, { CONTACTS_FRESHNESS_SECONDS: '0', MUTATION_WAIT_MS: '500' });
  const admin = () => t.h.w.admin;

  test('contacts answers from the mirror, syncStatus says since when it is stale; after recovery staleSince is null', async () => {
    await admin().request('POST', `/users/${AGENT}/contacts`, [
      { names: [{ givenName: 'Sam' }], emailAddresses: [{ value: 'sam@x.test' }] },
      { names: [{ givenName: 'Tia' }] },
    ]);
    await t.sync();
    expect((await t.status()).staleSince).toBeNull();

    await admin().addFault({ api: 'people', method: LIST, status: 503, unlimited: true, retryAfterSeconds: 1 });
    await admin().clearRequests();
    const before = Date.now();
    const list = await t.h.gql('{ contacts(first: 10) { totalCount edges { node { givenName } } } }');
    expect(list.body.errors).toBeUndefined();
    expect(list.body.data.contacts.totalCount).toBe(2);
    expect(list.body.data.contacts.edges.map((e: any) => e.node.givenName)).toEqual(['Sam', 'Tia']);
    expect((await t.peopleCalls(LIST)).map((e) => e.status)).toEqual([503]); // it did try Google
    const s1 = await t.status();
    expect(s1.staleSince).not.toBeNull();
    expect(Date.parse(s1.staleSince!)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(s1.staleSince!)).toBeLessThanOrEqual(Date.now());
    expect(s1.lastError).toMatch(/503/);

    // A change made in Google meanwhile is not visible yet: the mirror answers as it was.
    await admin().request('POST', `/users/${AGENT}/contacts`, { names: [{ givenName: 'Uma' }] });
    const again = await t.h.gql('{ contacts(first: 10) { totalCount } }');
    expect(again.body.errors).toBeUndefined();
    expect(again.body.data.contacts.totalCount).toBe(2);
    expect((await t.peopleCalls(LIST)).map((e) => e.status)).toEqual([503, 503]);
    const s2 = await t.status();
    expect(s2.staleSince).toBe(s1.staleSince); // still stale since the first failure

    await admin().clearFaults();
    const fresh = await t.h.gql('{ contacts(first: 10) { totalCount edges { node { givenName } } } }');
    expect(fresh.body.data.contacts.edges.map((e: any) => e.node.givenName)).toEqual(['Sam', 'Tia', 'Uma']);
    const s3 = await t.status();
    expect({ staleSince: s3.staleSince, lastError: s3.lastError }).toEqual({ staleSince: null, lastError: null });
    expect(Date.parse(s3.lastSyncAt!)).toBeGreaterThan(Date.parse(s1.staleSince!));
    await t.expectSameOnBothSides();
  });

  // PRODUCT BUG on MariaDB (see the report, bug 4): contact.service.ts list() writes `LIKE :like ESCAPE '\'`, which
  // MariaDB
  // (backslash escapes on by default) parses as an unterminated string literal, so every contacts(query:) search fails
  // with INTERNAL_SERVER_ERROR there, stale or not. Expected to fail on MariaDB until that is fixed.
  test('a search (contacts(query:)) still answers from the mirror while stale', async () => {
    await admin().request('POST', `/users/${AGENT}/contacts`, [
      { names: [{ givenName: 'Wes' }], emailAddresses: [{ value: 'wes@search.test' }] },
      { names: [{ givenName: 'Xan' }] },
    ]);
    await t.sync();
    await admin().addFault({ api: 'people', method: LIST, status: 503, unlimited: true, retryAfterSeconds: 1 });
    const search = await t.h.gql(
      '{ contacts(first: 10, query: "wes@search") { totalCount edges { node { givenName } } } }',
    );
    expect(search.body.errors).toBeUndefined();
    expect(search.body.data.contacts).toEqual({ totalCount: 1, edges: [{ node: { givenName: 'Wes' } }] });
    expect((await t.status()).staleSince).not.toBeNull();
    await admin().clearFaults();
    await t.sync();
    await t.expectSameOnBothSides();
  });

  test('a 429 on connections.list: contact(id) still answers, staleness is reported, cleared by the next good read', async () => {
    const c = await t.synced({ givenName: 'Val' });
    await admin().addFault({ api: 'people', method: LIST, status: 429, unlimited: true, retryAfterSeconds: 1 });
    const got = await t.contact(c.id);
    expect(got).toMatchObject({ id: c.id, givenName: 'Val', syncState: 'SYNCED' });
    const s1 = await t.status();
    expect(s1.staleSince).not.toBeNull();
    expect(s1.lastError).toBeTruthy();
    await admin().clearFaults();
    await t.contact(c.id);
    const s2 = await t.status();
    expect({ staleSince: s2.staleSince, lastError: s2.lastError }).toEqual({ staleSince: null, lastError: null });
    await t.expectSameOnBothSides();
  });
});
