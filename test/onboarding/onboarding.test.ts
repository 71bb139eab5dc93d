/**
 * Key submission and the doctor, end to end: GraphQL over HTTP → gateway →
 * emulator (real token exchanges and API calls) → database rows.
 */
import { startEmulator, type RunningEmulator } from 'google-workspace-emulator';
import { AuditLog, ServiceAccountCredential } from '../../src/entities';
import { GoogleSession } from '../../src/google/google-session';
import { CALENDAR_SCOPE, CONTACTS_SCOPE, GMAIL_COMPOSE_SCOPE, LEGACY_CONTACTS_SCOPE } from '../../src/google/scopes';
import { describeEachDb } from '../support/db';
import { seedBrokerage, startTestGateway, type TestGateway } from '../support/gateway';
import { EmulatorAdmin, type Tenant } from '../support/google';
import { captureLog } from '../support/log-capture';

const GUIDE_SCOPES = [LEGACY_CONTACTS_SCOPE, CALENDAR_SCOPE, GMAIL_COMPOSE_SCOPE];

const SUBMIT = `mutation ($key: String!, $email: String!) {
  submitServiceAccountKey(keyJson: $key, testEmail: $email) {
    status
    checks { name ok code message remedy }
    serviceAccount { clientEmail clientId privateKeyId status verifiedAt testEmail grantedScopes }
  }
}`;
const VERIFY = `mutation { verifyServiceAccount { status checks { name ok code message remedy } serviceAccount { status verifiedAt } } }`;
const SERVICE_ACCOUNT =
  '{ serviceAccount { clientEmail clientId privateKeyId status verifiedAt testEmail grantedScopes lastChecks { name ok code } } }';

interface Check {
  name: string;
  ok: boolean;
  code: string | null;
  message: string;
  remedy: string | null;
}

describeEachDb('onboarding: submitServiceAccountKey and the doctor', (db) => {
  let emu: RunningEmulator;
  let admin: EmulatorAdmin;
  let gw: TestGateway;
  let adminToken: string;
  let tenant: Tenant;
  const { log, lines: logLines } = captureLog('debug');

  beforeAll(async () => {
    emu = await startEmulator();
    admin = new EmulatorAdmin(emu.url);
    gw = await startTestGateway(db().ds, {
      env: { GOOGLE_API_ROOT_URL: `${emu.url}/`, GOOGLE_TOKEN_URIS: `${emu.url}/token` },
      log,
    });
  });
  afterAll(async () => {
    await gw.close();
    await emu.close();
  });
  beforeEach(async () => {
    await db().clear();
    await admin.reset();
    await seedBrokerage(db().ds, 'alpha.test', [{ email: 'boss@alpha.test', role: 'admin' }]);
    adminToken = await gw.token('boss@alpha.test', { admin: true });
    tenant = await admin.tenant(
      'alpha.test',
      ['boss@alpha.test', 'tester@alpha.test', { email: 'nomail@alpha.test', gmail: false }],
      GUIDE_SCOPES,
    );
  });

  const submit = async (key: unknown, email = 'tester@alpha.test', token = adminToken) => {
    const res = await gw.gql(SUBMIT, {
      token,
      variables: { key: typeof key === 'string' ? key : JSON.stringify(key), email },
    });
    return res;
  };
  const checksOf = (res: { body: { data?: any } }) =>
    Object.fromEntries((res.body.data.submitServiceAccountKey.checks as Check[]).map((c) => [c.name, c]));
  const storedRows = () =>
    db()
      .ds.getRepository(ServiceAccountCredential)
      .find({ order: { createdAt: 'ASC' } });

  test('a healthy key verifies: every check ok, stored encrypted, audit-logged, shown without its private key', async () => {
    const res = await submit(tenant.key);
    expect(res.body.errors).toBeUndefined();
    const v = res.body.data.submitServiceAccountKey;
    expect(v.status).toBe('VERIFIED');
    expect(v.checks.map((c: Check) => [c.name, c.ok])).toEqual([
      ['token:contacts', true],
      ['token:calendar', true],
      ['token:mail', true],
      ['api:people', true],
      ['api:calendar', true],
      ['api:gmail', true],
      ['sync:contacts', true],
    ]);
    expect(v.serviceAccount).toMatchObject({
      clientEmail: tenant.key.client_email,
      clientId: tenant.clientId,
      privateKeyId: tenant.key.private_key_id,
      status: 'VERIFIED',
      testEmail: 'tester@alpha.test',
    });
    expect(v.serviceAccount.grantedScopes.sort()).toEqual([...GUIDE_SCOPES].sort());

    const rows = await storedRows();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 'VERIFIED', clientId: tenant.clientId, kekId: 'k1' });
    const stored = JSON.stringify(rows[0]);
    expect(stored).not.toContain('PRIVATE KEY');
    expect(stored).not.toContain(tenant.key.private_key.slice(40, 80));
    expect(
      gw.services.envelope.decrypt(rows[0], { brokerageId: rows[0].brokerageId, purpose: 'service-account-key' }),
    ).toBe(JSON.stringify(tenant.key));

    const audit = await db().ds.getRepository(AuditLog).findBy({ action: 'credential.submitted' });
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor: 'boss@alpha.test', target: rows[0].id });
    expect(JSON.parse(audit[0].detail!)).toMatchObject({ outcome: 'VERIFIED', failed: [] });

    const shown = await gw.gql(SERVICE_ACCOUNT, { token: adminToken });
    expect(shown.body.data.serviceAccount).toMatchObject({
      clientEmail: tenant.key.client_email,
      status: 'VERIFIED',
      lastChecks: expect.arrayContaining([{ name: 'sync:contacts', ok: true, code: null }]),
    });
    const everything = JSON.stringify([res.body, shown.body, logLines]);
    expect(everything).not.toContain('PRIVATE KEY');
    expect(everything).not.toMatch(/ya29\./);

    // One token call per scope, one real call per API, one sync page.
    const calls = await admin.requests();
    expect(calls.filter((c) => c.api === 'token').map((c) => c.status)).toEqual([200, 200, 200]);
    expect(
      calls
        .filter((c) => c.api !== 'token')
        .map((c) => c.method)
        .sort(),
    ).toEqual([
      'calendar.events.list',
      'gmail.users.getProfile',
      'people.people.connections.list',
      'people.people.connections.list',
    ]);
  });

  test('no domain-wide delegation: every token check says which client id to authorize for which scopes', async () => {
    await admin.delegate(tenant.clientId, []);
    const res = await submit(tenant.key);
    expect(res.body.data.submitServiceAccountKey.status).toBe('CANNOT_BE_VERIFIED');
    const c = checksOf(res);
    for (const [name, scope] of [
      ['token:contacts', LEGACY_CONTACTS_SCOPE],
      ['token:calendar', CALENDAR_SCOPE],
      ['token:mail', GMAIL_COMPOSE_SCOPE],
    ]) {
      expect(c[name]).toMatchObject({ ok: false, code: 'DELEGATION_MISSING' });
      expect(c[name].remedy).toContain(
        `Authorize client id ${tenant.clientId} for scopes ${scope} in Admin console › Security › API controls › Domain-wide delegation`,
      );
      expect(c[name].remedy).toContain('"Authorize the MoxiEngage Service Account as an API Client"');
    }
    expect(c['api:people']).toMatchObject({ ok: false, code: 'NOT_RUN' });
    expect(await storedRows()).toEqual([]);
    const audit = await db().ds.getRepository(AuditLog).findOneByOrFail({ action: 'credential.submitted' });
    expect(JSON.parse(audit.detail!)).toMatchObject({
      outcome: 'CANNOT_BE_VERIFIED',
      failed: expect.arrayContaining(['token:mail:DELEGATION_MISSING']),
    });
  });

  test('one scope missing: only that feature fails, naming the scope', async () => {
    await admin.delegate(tenant.clientId, [LEGACY_CONTACTS_SCOPE, CALENDAR_SCOPE]);
    const c = checksOf(await submit(tenant.key));
    expect(c['token:mail']).toMatchObject({ ok: false, code: 'DELEGATION_MISSING' });
    expect(c['token:mail'].remedy).toContain(GMAIL_COMPOSE_SCOPE);
    expect(c['api:gmail'].code).toBe('NOT_RUN');
    for (const n of ['token:contacts', 'token:calendar', 'api:people', 'api:calendar', 'sync:contacts'])
      expect(c[n].ok).toBe(true);
  });

  test('auth/contacts authorized instead of m8/feeds serves contacts', async () => {
    await admin.delegate(tenant.clientId, [CONTACTS_SCOPE, CALENDAR_SCOPE, GMAIL_COMPOSE_SCOPE]);
    const res = await submit(tenant.key);
    expect(res.body.data.submitServiceAccountKey.status).toBe('VERIFIED');
    expect(res.body.data.submitServiceAccountKey.serviceAccount.grantedScopes).toContain(CONTACTS_SCOPE);
  });

  test.each([
    ['people', 'api:people', 'People API', 'Enable People API'],
    ['calendar', 'api:calendar', 'Google Calendar API', 'Enable Calendar API'],
    ['gmail', 'api:gmail', 'Gmail API', 'Enable Gmail API'],
  ] as const)(
    '%s API disabled in the project: names the project, the guide step and the activation link',
    async (api, check, title, step) => {
      await admin.setApi(api, false, tenant.clientId);
      const c = checksOf(await submit(tenant.key));
      expect(c[check]).toMatchObject({ ok: false, code: 'API_DISABLED' });
      expect(c[check].message).toContain(`${title} is not enabled in Google Cloud project ${tenant.projectNumber}`);
      expect(c[check].remedy).toContain(`(guide step "${step}")`);
      expect(c[check].remedy).toMatch(
        new RegExp(`https://console\\.developers\\.google\\.com/apis/api/.+project=${tenant.projectNumber}`),
      );
      const others = Object.values(c).filter(
        (x) => x.name !== check && !(api === 'people' && x.name === 'sync:contacts'),
      );
      expect(others.every((x) => x.ok)).toBe(true);
    },
  );

  test.each([
    ['an unknown test user', 'ghost@alpha.test', async () => {}],
    [
      'a suspended test user',
      'tester@alpha.test',
      async () => {
        await admin.suspend('tester@alpha.test');
      },
    ],
  ])('%s: UNKNOWN_USER on every token check', async (_c, email, arrange) => {
    await arrange();
    const c = checksOf(await submit(tenant.key, email));
    for (const n of ['token:contacts', 'token:calendar', 'token:mail']) {
      expect(c[n]).toMatchObject({ ok: false, code: 'UNKNOWN_USER' });
      expect(c[n].message).toContain(email);
    }
  });

  test('a deleted key: KEY_INVALID, make a new key', async () => {
    await admin.deleteKey(tenant.clientId, tenant.key.private_key_id);
    const c = checksOf(await submit(tenant.key));
    expect(c['token:calendar']).toMatchObject({ ok: false, code: 'KEY_INVALID' });
    expect(c['token:calendar'].remedy).toContain('"Create a Key for the MoxiEngage Service Account in JSON Format"');
  });

  test('clock skew between our server and Google: CLOCK_SKEW, check the server time', async () => {
    await admin.advanceClock(2 * 3600);
    const c = checksOf(await submit(tenant.key));
    expect(c['token:mail']).toMatchObject({ ok: false, code: 'CLOCK_SKEW' });
    expect(c['token:mail'].remedy).toMatch(/clock/i);
  });

  test('a test user without Gmail: NO_MAILBOX on the Gmail check only', async () => {
    const c = checksOf(await submit(tenant.key, 'nomail@alpha.test'));
    expect(c['api:gmail']).toMatchObject({ ok: false, code: 'NO_MAILBOX' });
    expect(c['api:calendar'].ok).toBe(true);
  });

  test.each([
    ['not JSON', '{"type": "service_account",', 'not_json', /not valid JSON/],
    [
      'an OAuth client secret',
      { installed: { client_id: 'x' } },
      'not_service_account',
      /"type" must be "service_account"/,
    ],
    [
      'missing private_key and token_uri',
      { type: 'service_account', client_email: 'a@b.iam.test', client_id: '1234567', private_key_id: 'k' },
      'missing_field',
      /missing "private_key", "token_uri"/,
    ],
    ['a mangled private key', 'MANGLE', 'bad_private_key', /not a readable PEM private key/],
    ['a token_uri elsewhere', 'TOKEN_URI', 'bad_token_uri', /"token_uri" must be/],
  ] as const)(
    'malformed key (%s): BAD_USER_INPUT with one precise message, nothing stored or echoed',
    async (_c, variant, fault, message) => {
      let key: unknown = variant;
      if (variant === 'MANGLE')
        key = { ...tenant.key, private_key: tenant.key.private_key.replace(/\n/g, '\\n').slice(0, 300) };
      if (variant === 'TOKEN_URI') key = { ...tenant.key, token_uri: 'http://169.254.169.254/token' };
      const res = await submit(key);
      expect(res.body.errors).toHaveLength(1);
      expect(res.body.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', fault });
      expect(res.body.errors![0].message).toMatch(message);
      expect(JSON.stringify(res.body)).not.toContain('PRIVATE KEY');
      expect(await storedRows()).toEqual([]);
      expect(await admin.requests({ api: 'token' })).toEqual([]);
    },
  );

  test("a test user outside the brokerage's domain is refused before any Google call", async () => {
    const res = await submit(tenant.key, 'someone@elsewhere.test');
    expect(res.body.errors![0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'testEmail' } });
    expect(res.body.errors![0].message).toContain('alpha.test');
    expect(await admin.requests()).toEqual([]);
  });

  // Issue 12 item 5: `a@a.a.a.…@` made the address pattern backtrack quadratically (1 MB: about 25 minutes). The
  // length is checked before any pattern runs; with the old check this test runs into jest's timeout.
  test('a 1 MB test user of a backtracking shape is refused as too long at once, before any Google call', async () => {
    // As large as fits the 1 MiB body with the key beside it: the service's own cap answers, before any pattern runs.
    const hostile = `a@${'a.'.repeat(500_000)}@`;
    const res = await submit(tenant.key, hostile);
    expect(res.body.errors![0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'testEmail' } });
    expect(res.body.errors![0].message).toMatch(
      /^The test user must be an email address of at most 254 characters \(got 1000003\)/,
    );
    // Larger still, the body limit answers first: BAD_USER_INPUT too.
    const larger = await submit(tenant.key, `a@${'a.'.repeat(512 * 1024)}@`);
    expect(larger.status).toBe(413);
    expect(larger.body.errors![0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', reason: 'too_large' } });
    expect(await admin.requests()).toEqual([]);
  });

  test.each([
    'tester@alpha',
    'tester@.alpha.test',
    'tester@alpha.test.',
    'test er@alpha.test',
    '@alpha.test',
    'a@b@alpha.test',
    'tester@alpha..test',
  ])('%j is not an address: BAD_USER_INPUT', async (email) => {
    const res = await submit(tenant.key, email);
    expect(res.body.errors![0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'testEmail' } });
    expect(res.body.errors![0].message).toMatch(/^The test user must be an email address/);
  });

  test('agents cannot submit or verify keys (FORBIDDEN)', async () => {
    const agentToken = await gw.token('tester@alpha.test');
    expect((await submit(tenant.key, 'tester@alpha.test', agentToken)).body.errors![0].extensions.code).toBe(
      'FORBIDDEN',
    );
    expect((await gw.gql(VERIFY, { token: agentToken })).body.errors![0].extensions.code).toBe('FORBIDDEN');
    expect(await admin.requests()).toEqual([]);
  });

  test('rotation: a broken new key never replaces the working one; a good one does, and the old is retired', async () => {
    expect((await submit(tenant.key)).body.data.submitServiceAccountKey.status).toBe('VERIFIED');
    const second = await admin.addKey(tenant.clientId);
    await admin.deleteKey(tenant.clientId, second.key.private_key_id); // broken new key
    expect((await submit(second.key)).body.data.submitServiceAccountKey.status).toBe('CANNOT_BE_VERIFIED');
    expect((await gw.gql(SERVICE_ACCOUNT, { token: adminToken })).body.data.serviceAccount.privateKeyId).toBe(
      tenant.key.private_key_id,
    );

    const third = await admin.addKey(tenant.clientId);
    expect((await submit(third.key)).body.data.submitServiceAccountKey.status).toBe('VERIFIED');
    expect((await gw.gql(SERVICE_ACCOUNT, { token: adminToken })).body.data.serviceAccount.privateKeyId).toBe(
      third.key.private_key_id,
    );
    expect((await storedRows()).map((r) => [r.privateKeyId, r.status])).toEqual([
      [tenant.key.private_key_id, 'RETIRED'],
      [third.key.private_key_id, 'VERIFIED'],
    ]);
    expect(await db().ds.getRepository(AuditLog).countBy({ action: 'credential.submitted' })).toBe(3);
  });

  test('verifyServiceAccount re-runs the checks with fresh tokens and records the outcome', async () => {
    await submit(tenant.key);
    await admin.clearRequests();
    const ok = await gw.gql(VERIFY, { token: adminToken });
    expect(ok.body.data.verifyServiceAccount.status).toBe('VERIFIED');
    expect((await admin.requests({ api: 'token' })).length).toBe(3); // not served from the token cache

    await admin.delegate(tenant.clientId, [LEGACY_CONTACTS_SCOPE, GMAIL_COMPOSE_SCOPE]); // calendar revoked
    const bad = await gw.gql(VERIFY, { token: adminToken });
    expect(bad.body.data.verifyServiceAccount.status).toBe('CANNOT_BE_VERIFIED');
    expect(bad.body.data.verifyServiceAccount.checks.find((c: Check) => c.name === 'token:calendar')).toMatchObject({
      ok: false,
      code: 'DELEGATION_MISSING',
    });
    const shown = (await gw.gql(SERVICE_ACCOUNT, { token: adminToken })).body.data.serviceAccount;
    expect(shown.status).toBe('CANNOT_BE_VERIFIED');
    expect(shown.grantedScopes.sort()).toEqual([LEGACY_CONTACTS_SCOPE, GMAIL_COMPOSE_SCOPE].sort());
    expect(await db().ds.getRepository(AuditLog).countBy({ action: 'credential.verified' })).toBe(2);

    // An agent's session now answers GOOGLE_NOT_CONFIGURED for calendar only, naming the scope; mail still works.
    const cred = await gw.services.credentials.current(db().ds.manager, (await storedRows())[0].brokerageId);
    const session = new GoogleSession(gw.services.broker, gw.config.google, cred, 'boss@alpha.test');
    const err = await session.accessToken('calendar').catch((e) => e);
    expect(err.extensions).toMatchObject({ code: 'GOOGLE_NOT_CONFIGURED' });
    expect(err.message).toContain(CALENDAR_SCOPE);
    await expect(session.accessToken('mail')).resolves.toEqual(expect.any(String));
  });

  test('sessions of one agent share tokens: 100 concurrent first requests mint one token per scope', async () => {
    await submit(tenant.key);
    await admin.clearRequests();
    gw.services.broker.forgetCredential((await storedRows())[0].id);
    const cred = await gw.services.credentials.current(db().ds.manager, (await storedRows())[0].brokerageId);
    const features = ['contacts', 'calendar', 'mail'] as const;
    await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        new GoogleSession(gw.services.broker, gw.config.google, cred, 'boss@alpha.test').accessToken(features[i % 3]),
      ),
    );
    const calls = await admin.requests({ api: 'token' });
    expect(calls.map((c) => c.user)).toEqual(['boss@alpha.test', 'boss@alpha.test', 'boss@alpha.test']);
  });

  test('verifyServiceAccount without a stored key: GOOGLE_NOT_CONFIGURED', async () => {
    const res = await gw.gql(VERIFY, { token: adminToken });
    expect(res.body.errors![0].extensions.code).toBe('GOOGLE_NOT_CONFIGURED');
  });

  test("tenant isolation: another brokerage's admin neither sees nor replaces this key", async () => {
    await submit(tenant.key);
    await seedBrokerage(db().ds, 'beta.test', [{ email: 'chief@beta.test', role: 'admin' }]);
    const betaToken = await gw.token('chief@beta.test', { admin: true });
    expect((await gw.gql(SERVICE_ACCOUNT, { token: betaToken })).body.data.serviceAccount).toBeNull();
    // Beta submitting alpha's key with an alpha test user is refused (domain), and alpha's key is untouched.
    const res = await submit(tenant.key, 'tester@alpha.test', betaToken);
    expect(res.body.errors![0].extensions.code).toBe('BAD_USER_INPUT');
    expect((await gw.gql(VERIFY, { token: betaToken })).body.errors![0].extensions.code).toBe('GOOGLE_NOT_CONFIGURED');
    expect((await storedRows()).map((r) => r.status)).toEqual(['VERIFIED']);
  });
});
