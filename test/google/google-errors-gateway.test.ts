/**
 * Google's refusals as a client of the gateway sees them, end to end: the emulator answers as Google does (a token it
 * no longer accepts, an admin policy, a scope it does not know or that does not cover the call, a forbidden action,
 * a revoked delegation, a disabled API) and each test checks the typed GraphQL error (`extensions.code`), the words
 * a person reads, and what the gateway did about it (a new token, nothing retried in vain).
 */
import { CALENDAR_SCOPE, GMAIL_COMPOSE_SCOPE, GUIDE_SCOPES, LEGACY_CONTACTS_SCOPE } from '../../src/google/scopes';
import { startEmulator, type RunningEmulator } from 'google-workspace-emulator';
import { describeEachDb } from '../support/db';
import { until } from '../support/wait';
import { startWorld, type World } from '../support/world';

const USERS = [
  'agent',
  'reader',
  'people401',
  'calendar401',
  'mail401',
  'policy',
  'scope',
  'm8',
  'forbidden',
  'organizer',
  'revoked',
  'disabled',
].map((u) => `${u}@alpha.test`);
const RANGE = (month: number) =>
  `(from: "2027-${String(month).padStart(2, '0')}-01T00:00:00Z", to: "2027-${String(month).padStart(2, '0')}-28T00:00:00Z")`;
const EVENTS = (month: number) => `{ events${RANGE(month)} { totalCount } }`;

describeEachDb('Google errors through the gateway', (db) => {
  let emu: RunningEmulator;
  let w: World;

  beforeAll(async () => {
    emu = await startEmulator();
    w = await startWorld(db(), { emu, users: USERS });
    // Tokens live 10 minutes (the gateway keeps one until 5 minutes before its end) and the emulator may move its
    // clock past a token's end without refusing our assertions' iat (signed on the real clock).
    await w.admin.putSettings({ accessTokenLifetimeSeconds: 600, assertionClockSkewSeconds: 86_400 });
  });
  afterEach(async () => {
    await w.admin.clearFaults();
    await w.admin.putSettings({ acceptM8FeedsForPeople: true });
    await w.admin.delegate(w.tenant.clientId, [...GUIDE_SCOPES]);
    await w.admin.setApi('calendar', true);
  });
  afterAll(async () => {
    await w.close();
    await emu.close();
  });

  const gql = async (user: string, query: string, variables?: Record<string, unknown>) =>
    w.gw.gql(query, { token: await w.token(user), variables });
  const tokenCalls = async (user: string) =>
    (await w.admin.requests({ api: 'token' })).filter((r) => r.user === user).length;
  /**
   * Moves Google's clock past the end of every token the gateway holds; the gateway still thinks them good for minutes.
   */
  const expireGoogleTokens = () => w.admin.advanceClock(700);

  describe('401: Google no longer accepts the access token', () => {
    test('a read: the gateway drops the rejected token and asks again with a new one, and the caller sees no error', async () => {
      const user = 'reader@alpha.test';
      expect((await gql(user, EVENTS(1))).body.data.events.totalCount).toBe(0);
      await expireGoogleTokens();
      await w.admin.clearRequests();

      const read = await gql(user, EVENTS(2));
      expect(read.body.errors).toBeUndefined();
      expect(read.body.data.events.totalCount).toBe(0);
      expect(await tokenCalls(user)).toBe(1);
      expect((await w.admin.requests({ api: 'calendar', user })).map((r) => [r.method, r.status])).toEqual([
        ['calendar.events.list', 401],
        ['calendar.events.list', 200],
      ]);
    });

    // How each write is seen to have reached Google, read from the gateway's database only (no Google call of
    // ours may race the delivery for the token), then what the client sees of it.
    const writes = [
      {
        api: 'people',
        user: 'people401@alpha.test',
        write: async (user: string, n: number) =>
          (
            await gql(user, 'mutation ($n: String!) { createContact(input: { givenName: $n }) { id } }', {
              n: `Client ${n}`,
            })
          ).body.data.createContact.id as string,
        // contact(id) reads the mirror (synced within the freshness window: no Google call).
        state: async (user: string, id: string) =>
          (await gql(user, 'query ($id: ID!) { contact(id: $id) { syncState syncError } }', { id })).body.data.contact,
        done: { syncState: 'SYNCED', syncError: null },
      },
      {
        api: 'calendar',
        user: 'calendar401@alpha.test',
        write: async (user: string, n: number) =>
          (
            await gql(
              user,
              'mutation ($t: String!) { createEvent(input: { title: $t, start: "2027-03-10T10:00:00Z", end: "2027-03-10T11:00:00Z" }) { id } }',
              { t: `Showing ${n}` },
            )
          ).body.data.createEvent.id as string,
        // event(id) would read Google: the status reads only the database.
        state: async (user: string) =>
          (await gql(user, '{ syncStatus { calendar { pendingChanges failedChanges failedWrites { eventId } } } }'))
            .body.data.syncStatus.calendar,
        done: { pendingChanges: 0, failedChanges: 0, failedWrites: [] },
      },
      {
        api: 'gmail',
        user: 'mail401@alpha.test',
        write: async (user: string, n: number) =>
          (
            await gql(user, 'mutation ($i: SendMailInput!) { sendMail(input: $i) { id } }', {
              i: { to: ['client@buyer.test'], subject: `Offer ${n}`, text: 'Hello' },
            })
          ).body.data.sendMail.id as string,
        state: async (user: string, id: string) =>
          (await gql(user, 'query ($id: ID!) { mail(id: $id) { status } }', { id })).body.data.mail,
        done: { status: 'SENT' },
      },
    ] as const;

    test.each(writes)(
      'a $api write is retried with a new token and reaches Google',
      async ({ api, user, write, state, done }) => {
        const same = (s: unknown) => JSON.stringify(s) === JSON.stringify(done);
        const first = await write(user, 1);
        await until(`the first ${api} write delivered`, () => state(user, first), same);
        await expireGoogleTokens();
        await w.admin.clearRequests();

        const second = await write(user, 2);
        expect(await until(`the second ${api} write delivered`, () => state(user, second), same)).toEqual(done);
        const calls = await w.admin.requests({ api, user });
        expect(calls[0].status).toBe(401); // the held token, refused
        expect(
          calls
            .slice(1)
            .map((c) => c.status)
            .filter((s) => s >= 400),
        ).toEqual([]); // then the new one, accepted
        expect(await tokenCalls(user)).toBe(1);
        if (api === 'calendar')
          expect(
            (await gql(user, 'query ($id: ID!) { event(id: $id) { syncState } }', { id: second })).body.data.event,
          ).toEqual({ syncState: 'SYNCED' });
      },
    );
  });

  describe('the token endpoint refuses', () => {
    test('an admin policy: GOOGLE_NOT_CONFIGURED naming the scope and the user, with the remedy', async () => {
      await w.admin.addFault({
        api: 'token',
        status: 400,
        body: {
          error: 'admin_policy_enforced',
          error_description: 'Access to this scope is restricted by your administrator.',
        },
      });
      const res = await gql('policy@alpha.test', EVENTS(1));
      expect(res.body.data).toBeNull();
      expect(res.body.errors?.[0]).toMatchObject({
        message: `A Google Workspace admin policy blocks scope(s) ${CALENDAR_SCOPE} for "policy@alpha.test"`,
        extensions: {
          code: 'GOOGLE_NOT_CONFIGURED',
          googleReason: 'admin_policy_enforced',
          remedy: expect.stringMatching(/Admin console › Security › API controls/),
        },
      });
    });

    test('a scope Google does not recognise: GOOGLE_NOT_CONFIGURED with the guide step', async () => {
      await w.admin.addFault({
        api: 'token',
        status: 400,
        body: { error: 'invalid_scope', error_description: 'Invalid OAuth scope or ID token audience provided.' },
      });
      const res = await gql('scope@alpha.test', EVENTS(1));
      expect(res.body.errors?.[0]).toMatchObject({
        message: `Google does not recognise the scope(s) ${CALENDAR_SCOPE}`,
        extensions: {
          code: 'GOOGLE_NOT_CONFIGURED',
          googleReason: 'invalid_scope',
          remedy: expect.stringMatching(/Authorize the MoxiEngage Service Account as an API Client/),
        },
      });
    });

    test('a delegation revoked after the key was verified: GOOGLE_NOT_CONFIGURED for that feature only, naming the scope', async () => {
      await w.admin.delegate(w.tenant.clientId, [LEGACY_CONTACTS_SCOPE, GMAIL_COMPOSE_SCOPE]);
      const res = await gql('revoked@alpha.test', EVENTS(1));
      expect(res.body.errors?.[0]).toMatchObject({
        message: expect.stringContaining(`Google refused domain-wide delegation for scope(s) ${CALENDAR_SCOPE}`),
        extensions: {
          code: 'GOOGLE_NOT_CONFIGURED',
          scope: CALENDAR_SCOPE,
          googleReason: 'unauthorized_client',
          remedy: expect.stringContaining(`Authorize client id ${w.tenant.clientId} for scopes ${CALENDAR_SCOPE}`),
        },
      });
      // Mail still goes out.
      const mail = await gql(
        'revoked@alpha.test',
        'mutation { sendMail(input: { to: ["client@buyer.test"], subject: "Still here", text: "." }) { id status } }',
      );
      expect(['SENT', 'QUEUED']).toContain(mail.body.data.sendMail.status); // QUEUED when the mutation's wait ran out first
      await until(
        'the mail to be sent',
        async () =>
          (
            await gql('revoked@alpha.test', 'query ($id: ID!) { mail(id: $id) { status } }', {
              id: mail.body.data.sendMail.id,
            })
          ).body.data.mail.status,
        (s) => s === 'SENT',
      );
    });
  });

  describe('an API refuses the call', () => {
    test('the token does not cover the call (403 ACCESS_TOKEN_SCOPE_INSUFFICIENT): GOOGLE_NOT_CONFIGURED, and the contact mirror says why it is stale', async () => {
      // Google stops accepting the m8/feeds scope (the one the guide authorizes) for the People API.
      await w.admin.putSettings({ acceptM8FeedsForPeople: false });
      const res = await gql('m8@alpha.test', 'mutation { syncContacts { contacts { lastSyncAt } } }');
      expect(res.body.errors?.[0]).toMatchObject({
        message: 'Google says our token lacks the scope this People API call needs',
        extensions: {
          code: 'GOOGLE_NOT_CONFIGURED',
          googleReason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT',
          remedy: expect.stringMatching(/Authorize the scopes of the guide step/),
        },
      });
      const status = (await gql('m8@alpha.test', '{ syncStatus { contacts { lastSyncAt staleSince lastError } } }'))
        .body.data.syncStatus.contacts;
      expect(status).toEqual({
        lastSyncAt: null,
        staleSince: expect.any(String),
        lastError: 'Google says our token lacks the scope this People API call needs',
      });
      expect((await w.admin.requests({ api: 'people', user: 'm8@alpha.test' })).map((r) => r.status)).toEqual([403]); // refused for good: not retried
    });

    test('the API is disabled in the project: GOOGLE_NOT_CONFIGURED with the project and the activation link', async () => {
      await w.admin.setApi('calendar', false);
      const res = await gql('disabled@alpha.test', EVENTS(1));
      expect(res.body.errors?.[0]).toMatchObject({
        message: `The Google Calendar API is not enabled in Google Cloud project ${w.tenant.projectNumber}`,
        extensions: {
          code: 'GOOGLE_NOT_CONFIGURED',
          googleReason: 'SERVICE_DISABLED',
          remedy: expect.stringContaining(`project=${w.tenant.projectNumber}`),
        },
      });
    });

    test("a forbidden read (403 forbidden): FORBIDDEN with Google's words", async () => {
      await w.admin.addFault({ api: 'calendar', method: 'calendar.events.list', status: 403 });
      const res = await gql('forbidden@alpha.test', EVENTS(1));
      expect(res.body.errors?.[0]).toMatchObject({
        message: 'Google refused the call (403: The caller does not have permission)',
        extensions: { code: 'FORBIDDEN', googleReason: 'forbidden' },
      });
    });

    test('a forbidden write (403 forbiddenForNonOrganizer): the change fails for good and says why; it is not retried', async () => {
      const user = 'organizer@alpha.test';
      const created = await gql(
        user,
        'mutation { createEvent(input: { title: "Open house", start: "2027-04-10T10:00:00Z", end: "2027-04-10T11:00:00Z" }) { id syncState } }',
      );
      const id = created.body.data.createEvent.id;
      await until(
        'the event reached Google',
        async () =>
          (await gql(user, 'query ($id: ID!) { event(id: $id) { syncState } }', { id })).body.data.event?.syncState,
        (s) => s === 'SYNCED',
      );
      const message = 'Shared properties can only be changed by the organizer of the event.';
      await w.admin.addFault({
        api: 'calendar',
        method: 'calendar.events.patch',
        status: 403,
        body: {
          error: { code: 403, message, errors: [{ domain: 'calendar', reason: 'forbiddenForNonOrganizer', message }] },
        },
      });
      await w.admin.clearRequests();
      const res = await gql(user, 'mutation ($id: ID!) { updateEvent(id: $id, input: { title: "Renamed" }) { id } }', {
        id,
      });
      expect(res.body.errors).toBeUndefined();
      const failed = await until(
        'the refused change settled',
        () =>
          gql(user, '{ syncStatus { calendar { pendingChanges failedWrites { eventId error } } } }').then(
            (r) => r.body.data.syncStatus.calendar,
          ),
        (c) => c.pendingChanges === 0,
      );
      expect(failed.failedWrites).toEqual([
        { eventId: id, error: `Google refused the change: Google refused the call (403: ${message})` },
      ]);
      expect(
        (await w.admin.requests({ api: 'calendar', method: 'calendar.events.patch', user })).map((r) => r.status),
      ).toEqual([403]);
    });
  });
});
