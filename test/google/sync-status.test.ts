/**
 * Issue 13, item 8: an agent can see what is wrong, per feature, from the brokerage's key as much as from the last
 * sync: `syncStatus { contacts | calendar | mail { error { code message remedy since } } }`, with a true message for
 * each state (never submitted, removed, failing its latest verification); a write made while there is no key answers
 * PENDING at once with the reason (no wait for a delivery that cannot happen); a recovered key clears every error at
 * once, before any sync, and the writes made meanwhile go out.
 */
import { describeEachDb } from '../support/db';
import { seedBrokerage } from '../support/gateway';
import { until } from '../support/wait';
import { resetContacts, startWorld, type World } from '../support/world';
import type { Settlements } from '../../src/outbox/settle';

const AGENT = 'agent@alpha.test';
const BOSS = 'boss@alpha.test';
const ERROR = 'error { code message remedy since }';
const STATUS = `{ syncStatus { contacts { lastError ${ERROR} } calendar { lastError ${ERROR} } mail { queued ${ERROR} } } }`;

describeEachDb('syncStatus: what is wrong, per feature, and since when', (db) => {
  let w: World;
  let token: string;
  let adminToken: string;

  beforeAll(async () => {
    // A long mutation wait: a write that waited for delivery would show in the outbox spy, not as a slow test.
    // Retries ten minutes apart: a write queued during an outage goes out soon after a new key only if the key's
    // verification makes it due (the test world's usual 200 ms backoff would hide that).
    w = await startWorld(db(), {
      env: { MUTATION_WAIT_MS: '60000', OUTBOX_RETRY_BASE_MS: '600000', OUTBOX_RETRY_MAX_MS: '600000' },
    });
    token = await w.token(AGENT);
    adminToken = await w.token(BOSS, true);
  });
  afterAll(() => w.close());
  beforeEach(async () => {
    await w.admin.clearFaults();
    await resetContacts(w, db(), AGENT);
  });

  const gql = (query: string, variables?: Record<string, unknown>, as = token) =>
    w.gw.gql(query, { token: as, variables });
  const status = async (as = token) => {
    const r = await gql(STATUS, undefined, as);
    expect(r.body.errors).toBeUndefined();
    return r.body.data.syncStatus;
  };
  const submitKey = async () => {
    const r = await gql(
      'mutation ($k: String!, $e: String!) { submitServiceAccountKey(keyJson: $k, testEmail: $e) { status } }',
      { k: JSON.stringify(w.tenant.key), e: AGENT },
      adminToken,
    );
    expect(r.body.data?.submitServiceAccountKey?.status).toBe('VERIFIED');
  };
  /** Runs `write` and tells whether the mutation waited for the outbox. */
  /**
   * Holds the recording of the outcome of contact `contactId`'s update round (not another lane's), once, after
   * checking that the round's outcome matches `outcome`, until `release`: the test then acts while that round's retry
   * is not yet recorded.
   */
  const holdUpdateRound = (contactId: string, outcome: Record<string, unknown>) => {
    const settlements = (w.gw.services.outbox as unknown as { settlements: Settlements }).settlements;
    const record = settlements.record.bind(settlements);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let arrived!: () => void;
    const atGate = new Promise<void>((r) => (arrived = r));
    let held = false;
    const spy = jest.spyOn(settlements, 'record').mockImplementation(async (brokerageId, rows, outcomes) => {
      if (!held && rows.some((r) => r.entityId === contactId && r.kind === 'update')) {
        expect(outcomes).toEqual([expect.objectContaining(outcome)]);
        held = true;
        arrived();
        await gate;
      }
      return record(brokerageId, rows, outcomes);
    });
    return { atGate, release, restore: () => spy.mockRestore() };
  };
  const waitedFor = async <T>(write: () => Promise<T>): Promise<{ answer: T; waited: boolean }> => {
    const spy = jest.spyOn((w.gw.services.outbox as unknown as { settlements: Settlements }).settlements, 'waitFor');
    try {
      const answer = await write();
      return { answer, waited: spy.mock.calls.length > 0 };
    } finally {
      spy.mockRestore();
    }
  };

  test('a brokerage that never submitted a key: every feature says so, with the remedy, since the brokerage was registered; a write answers PENDING at once with the reason', async () => {
    const beta = await seedBrokerage(db().ds, 'beta.test');
    const betaToken = await w.token('agent@beta.test');
    const s = await status(betaToken);
    for (const feature of ['contacts', 'calendar', 'mail'] as const) {
      expect(s[feature].error).toEqual({
        code: 'GOOGLE_NOT_CONFIGURED',
        message: expect.stringMatching(/has not submitted a Google service-account key/),
        remedy: expect.stringMatching(/submitServiceAccountKey/),
        since: beta.createdAt.toISOString(),
      });
    }
    expect(s.contacts.lastError).toBe(s.contacts.error.message);
    expect(s.calendar.lastError).toBe(s.calendar.error.message);

    const created = await waitedFor(() =>
      gql('mutation { createContact(input: { givenName: "Waiting" }) { syncState syncError } }', undefined, betaToken),
    );
    expect(created.answer.body.data.createContact).toEqual({
      syncState: 'PENDING',
      syncError: s.contacts.error.message,
    });
    expect(created.waited).toBe(false);
    const event = await waitedFor(() =>
      gql(
        'mutation { createEvent(input: { title: "Waiting", start: "2026-12-10T10:00:00Z", end: "2026-12-10T11:00:00Z" }) { syncState syncError } }',
        undefined,
        betaToken,
      ),
    );
    expect(event.answer.body.data.createEvent).toEqual({ syncState: 'PENDING', syncError: s.calendar.error.message });
    expect(event.waited).toBe(false);
    // A sync asked for says the same, not "no key yet" for a key that was never there or "unexpected".
    const sync = await gql('mutation { syncContacts { contacts { lastSyncAt } } }', undefined, betaToken);
    expect(sync.body.errors?.[0]).toMatchObject({
      message: s.contacts.error.message,
      extensions: { code: 'GOOGLE_NOT_CONFIGURED', remedy: s.contacts.error.remedy },
    });
  });

  test('a write whose delivery found no key while the new key was being verified goes out at once, not after its backoff', async () => {
    const c = (await gql('mutation { createContact(input: { givenName: "Before" }) { id syncState } }')).body.data
      .createContact;
    expect(c.syncState).toBe('SYNCED');
    expect(
      (await gql('mutation { removeServiceAccountKey }', undefined, adminToken)).body.data.removeServiceAccountKey,
    ).toBe(true);
    // The delivery of the update below finds no key; its retry (ten minutes off, in this world) is recorded only once
    // the new key has been verified and has made the writes queued meanwhile due: the interleaving CI met under load.
    const { atGate, release, restore } = holdUpdateRound(c.id, { result: 'retry', setupKey: 'none' }); // met no key
    try {
      const updated = await gql(
        'mutation ($id: ID!) { updateContact(id: $id, input: { givenName: "During" }) { syncState } }',
        { id: c.id },
      );
      expect(updated.body.data.updateContact.syncState).toBe('PENDING');
      await atGate;
      await submitKey();
      release();
      await until(
        'the update made while the key was missing, in Google',
        async () =>
          (await w.admin.request<any[]>('GET', `/users/${AGENT}/contacts`)).body.map((p) => p.names?.[0]?.givenName),
        (names) => names.includes('During'),
      );
    } finally {
      release();
      restore();
    }
  });

  test('a write whose delivery met a setup problem while an admin fixed it and verified the key again goes out at once, not after its backoff', async () => {
    const c = (await gql('mutation { createContact(input: { givenName: "Before" }) { id syncState } }')).body.data
      .createContact;
    expect(c.syncState).toBe('SYNCED');
    // The key stays in use; Google refuses it for contacts (the People API switched off in the brokerage's project).
    await w.admin.request('PUT', '/apis/people', { enabled: false });
    // The update's round met the setup problem; its retry (ten minutes off, in this world) is recorded only once the
    // admin has fixed it and the key's verification has made the writes queued meanwhile due. It names the key it met
    // the problem with (its id and when it last verified).
    const { atGate, release, restore } = holdUpdateRound(c.id, {
      result: 'retry',
      error: expect.stringMatching(/People API/),
      setupKey: expect.stringMatching(/^[0-9a-f-]{36}@\d+$/),
    });
    try {
      const updating = gql(
        'mutation ($id: ID!) { updateContact(id: $id, input: { givenName: "During" }) { syncState } }',
        {
          id: c.id,
        },
      );
      await atGate;
      await w.admin.request('PUT', '/apis/people', { enabled: true });
      const verified = await gql('mutation { verifyServiceAccount { status } }', undefined, adminToken);
      expect(verified.body.data.verifyServiceAccount.status).toBe('VERIFIED');
      release();
      expect((await updating).body.errors).toBeUndefined();
      await until(
        'the update made while Google refused the key, in Google',
        async () =>
          (await w.admin.request<any[]>('GET', `/users/${AGENT}/contacts`)).body.map((p) => p.names?.[0]?.givenName),
        (names) => names.includes('During'),
      );
    } finally {
      release();
      restore();
      await w.admin.request('PUT', '/apis/people', { enabled: true });
    }
  });

  test('a removed key: said at once (no sync needed), with when; writes meanwhile answer PENDING at once with the reason; a new key clears every error before any sync and the writes go out', async () => {
    const c = (await gql('mutation { createContact(input: { givenName: "Before" }) { id syncState } }')).body.data
      .createContact;
    expect(c.syncState).toBe('SYNCED');
    await gql('mutation { syncCalendar { calendar { lastSyncAt } } }');
    const healthy = await status();
    expect([healthy.contacts.error, healthy.calendar.error, healthy.mail.error]).toEqual([null, null, null]);

    const before = Date.now();
    expect(
      (await gql('mutation { removeServiceAccountKey }', undefined, adminToken)).body.data.removeServiceAccountKey,
    ).toBe(true);
    const s = await status();
    for (const feature of ['contacts', 'calendar', 'mail'] as const) {
      expect(s[feature].error).toMatchObject({
        code: 'GOOGLE_NOT_CONFIGURED',
        message: expect.stringMatching(/key was removed/),
        remedy: expect.stringMatching(/submitServiceAccountKey/),
      });
      expect(s[feature].error.message).not.toMatch(/yet/);
      expect(Date.parse(s[feature].error.since)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 - 1000);
    }

    const updated = await waitedFor(() =>
      gql('mutation ($id: ID!) { updateContact(id: $id, input: { givenName: "During" }) { syncState syncError } }', {
        id: c.id,
      }),
    );
    expect(updated.answer.body.data.updateContact).toEqual({
      syncState: 'PENDING',
      syncError: s.contacts.error.message,
    });
    expect(updated.waited).toBe(false);
    // The pending contact says why when read, too.
    expect(
      (await gql('query ($id: ID!) { contact(id: $id) { syncState syncError } }', { id: c.id })).body.data.contact,
    ).toEqual({ syncState: 'PENDING', syncError: s.contacts.error.message });
    // A calendar sync during the outage fails and records its error...
    expect(
      (await gql('mutation { syncCalendar { calendar { lastSyncAt } } }')).body.errors?.[0]?.extensions?.code,
    ).toBe('GOOGLE_NOT_CONFIGURED');

    await submitKey();
    // ...which the new key clears at once, before any sync runs.
    const recovered = await status();
    expect([recovered.contacts.error, recovered.calendar.error, recovered.mail.error]).toEqual([null, null, null]);
    expect([recovered.contacts.lastError, recovered.calendar.lastError]).toEqual([null, null]);
    // The write made meanwhile goes out without waiting for its backoff to run out.
    await until(
      'the update made during the outage in Google',
      async () =>
        (await w.admin.request<any[]>('GET', `/users/${AGENT}/contacts`)).body.map((p) => p.names?.[0]?.givenName),
      (names) => names.includes('During'),
    );
    expect(
      (await gql('query ($id: ID!) { contact(id: $id) { syncState syncError } }', { id: c.id })).body.data.contact,
    ).toEqual({ syncState: 'SYNCED', syncError: null });
  });

  test('a key failing its latest verification: the feature that fails says why and what to do; the others are fine; a sync that works again ends it', async () => {
    await w.admin.request('PUT', '/apis/gmail', { enabled: false });
    await w.admin.request('PUT', '/apis/calendar', { enabled: false });
    try {
      const r = await gql('mutation { verifyServiceAccount { status } }', undefined, adminToken);
      expect(r.body.data.verifyServiceAccount.status).toBe('CANNOT_BE_VERIFIED');
      const s = await status();
      expect(s.mail.error).toMatchObject({
        code: 'GOOGLE_NOT_CONFIGURED',
        message: expect.stringMatching(/failed its latest verification.*Gmail API is not enabled/),
        remedy: expect.stringMatching(/Enable the Gmail API/),
      });
      expect(s.calendar.error).toMatchObject({
        code: 'GOOGLE_NOT_CONFIGURED',
        message: expect.stringMatching(/failed its latest verification.*Calendar API is not enabled/),
      });
      expect(s.contacts.error).toBeNull();
      // The key is still used: a write waits for Google as usual (which may work again by now).
      const created = await waitedFor(() =>
        gql('mutation { createContact(input: { givenName: "Still delivered" }) { syncState } }'),
      );
      expect(created).toEqual({
        answer: expect.objectContaining({ body: { data: { createContact: { syncState: 'SYNCED' } } } }),
        waited: true,
      });
    } finally {
      await w.admin.request('PUT', '/apis/gmail', { enabled: true });
      await w.admin.request('PUT', '/apis/calendar', { enabled: true });
    }
    // The calendar works again: its next sync proves it, and the verification's verdict stops counting for it.
    expect(
      (await gql('mutation { syncCalendar { calendar { error { code } } } }')).body.data.syncCalendar.calendar.error,
    ).toBeNull();
    expect((await status()).mail.error).not.toBeNull(); // nothing proved mail works yet
    expect(
      (await gql('mutation { verifyServiceAccount { status } }', undefined, adminToken)).body.data.verifyServiceAccount
        .status,
    ).toBe('VERIFIED');
    expect((await status()).mail.error).toBeNull();
  });

  test('a verification that meets a passing Google failure (a 503 from the token endpoint) takes no feature away', async () => {
    await w.admin.addFault({ api: 'token', status: 503, count: 1 });
    const r = await gql('mutation { verifyServiceAccount { status checks { name ok code } } }', undefined, adminToken);
    expect(r.body.data.verifyServiceAccount.status).toBe('CANNOT_BE_VERIFIED');
    expect(
      r.body.data.verifyServiceAccount.checks
        .filter((c: { ok: boolean }) => !c.ok)
        .map((c: { code: string }) => c.code),
    ).toContain('UNAVAILABLE');
    const s = await status();
    expect([s.contacts.error, s.calendar.error, s.mail.error]).toEqual([null, null, null]);
    const created = await waitedFor(() =>
      gql('mutation { createContact(input: { givenName: "After a hiccup" }) { syncState } }'),
    );
    expect(created.answer.body.data.createContact.syncState).toBe('SYNCED');
    expect(
      (
        await gql(
          'mutation { createEvent(input: { title: "After a hiccup", start: "2026-12-10T10:00:00Z", end: "2026-12-10T11:00:00Z" }) { syncState } }',
        )
      ).body.data.createEvent.syncState,
    ).toBe('SYNCED');
    expect(
      (await gql('mutation { verifyServiceAccount { status } }', undefined, adminToken)).body.data.verifyServiceAccount
        .status,
    ).toBe('VERIFIED');
  });

  test("a failing sync: its error carries the code and the remedy Google's answer gave, since the sync went stale", async () => {
    // A mailbox with no token cached yet, so the token endpoint is asked.
    const other = await w.token('other@alpha.test');
    await w.admin.addFault({
      api: 'token',
      unlimited: true,
      status: 401,
      body: {
        error: 'unauthorized_client',
        error_description:
          'Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.',
      },
    } as never);
    const sync = await gql('mutation { syncContacts { contacts { lastSyncAt } } }', undefined, other);
    expect(sync.body.errors?.[0]?.extensions?.code).toBe('GOOGLE_NOT_CONFIGURED');
    await w.admin.clearFaults();
    const s = await status(other);
    expect(s.contacts.error).toMatchObject({
      code: 'GOOGLE_NOT_CONFIGURED',
      message: expect.stringMatching(/domain-wide delegation/),
      remedy: expect.stringMatching(/Domain-wide delegation/),
      since: expect.any(String),
    });
    expect(s.contacts.lastError).toBe(s.contacts.error.message);
    expect(s.calendar.error).toBeNull();
    expect(
      (await gql('mutation { syncContacts { contacts { lastSyncAt } } }', undefined, other)).body.errors,
    ).toBeUndefined();
    expect((await status(other)).contacts.error).toBeNull();
  });

  test("a failure of ours during a sync (the database) is reported as ours, logged with its cause, never as Google's", async () => {
    await w.admin.request('POST', `/users/${AGENT}/contacts`, [{ names: [{ givenName: 'Imported' }] }]);
    const ds = w.gw.services.ds;
    const real = ds.transaction.bind(ds);
    // A deadlock is retried (3 more times, src/contacts/contact.sync.ts): one that persists is a failure of ours.
    let refusals = 4;
    const spy = jest.spyOn(ds, 'transaction').mockImplementation(((...args: unknown[]) => {
      if (refusals > 0) {
        refusals--;
        return Promise.reject(
          Object.assign(new Error('Deadlock found when trying to get lock; try restarting transaction'), {
            code: 'ER_LOCK_DEADLOCK',
          }),
        );
      }
      return (real as (...a: unknown[]) => unknown)(...args);
    }) as never);
    const logged = jest.spyOn(w.gw.services.log, 'error');
    try {
      const sync = await gql('mutation { syncContacts { contacts { lastSyncAt } } }');
      expect(sync.body.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
      expect(sync.body.errors?.[0]?.message).not.toMatch(/calling Google|Google refused/);
      expect(logged.mock.calls.some(([o]) => (o as { err?: { code?: string } }).err?.code === 'ER_LOCK_DEADLOCK')).toBe(
        true,
      );
      const s = await status();
      expect(s.contacts.error).toMatchObject({
        code: 'INTERNAL_SERVER_ERROR',
        message: expect.stringMatching(/not an answer from Google/),
      });
    } finally {
      spy.mockRestore();
      logged.mockRestore();
    }
    expect((await gql('mutation { syncContacts { contacts { lastSyncAt } } }')).body.errors).toBeUndefined();
    expect((await status()).contacts.error).toBeNull();
  });
});
