/**
 * The shared request pipeline (registry.ts): bearer token, API enablement, scopes, quotas, faults and the request
 * log, for Gmail (through the real @googleapis/gmail client) and for People/Calendar-style methods registered here
 * through the same extension interface the People and Calendar modules use.
 */
import { startEmulator, type RunningEmulator } from '../src/server';
import { badRequest } from '../src/errors';
import { EmulatorAdmin, SCOPES, googleClients, googleError, mintToken, rawCall, type Tenant } from '../src/testing';

let emu: RunningEmulator;
let admin: EmulatorAdmin;
let t: Tenant;
let t2: Tenant;
const AGENT = 'agent@acme.test';
const RAW = Buffer.from('From: agent@acme.test\r\nTo: zoe@buyer.test\r\nSubject: Hi\r\n\r\nHello\r\n').toString(
  'base64url',
);

// People/Calendar-shaped test methods (test-only paths, so they never clash with the real modules).
const PEOPLE_PING = '/v1/people/me:emulatorTestPing';
const CALENDAR_PING = '/calendar/v3/calendars/primary/emulatorTestPing';

beforeAll(async () => {
  emu = await startEmulator();
  admin = new EmulatorAdmin(emu.url);
  const { registry } = emu;
  registry.defineQuotaBucket({
    id: 'test.peopleReads',
    api: 'people',
    defaultLimitPerMinute: 3,
    defaultErrorStatus: 429,
    metric: 'Critical read requests (Contact and Profile Reads)',
    limitName: 'Critical read requests (Contact and Profile Reads) per minute per user',
    metricId: 'people.googleapis.com/critical_read_requests',
    limitId: 'CriticalReadRequestsPerMinutePerUser',
    legacyReason: 'rateLimitExceeded',
    source: 'test',
  });
  registry.defineQuotaBucket({
    id: 'test.calendar',
    api: 'calendar',
    defaultLimitPerMinute: 2,
    defaultErrorStatus: 403,
    metric: 'Queries',
    limitName: 'Queries per minute per user',
    metricId: 'calendar-json.googleapis.com/default',
    limitId: 'defaultPerMinutePerUser',
    legacyReason: 'userRateLimitExceeded',
    source: 'test',
  });
  registry.register({
    api: 'people',
    id: 'people.emulatorTest.ping',
    httpMethod: 'GET',
    path: /^\/v1\/(?<resourceName>people\/[^/:]+):emulatorTestPing$/,
    scopes: [SCOPES.contacts, SCOPES.contactsReadonly],
    quota: { bucket: 'test.peopleReads', cost: 1 },
    handler: (call) => {
      if (call.query.get('fail') === '1')
        throw badRequest('people', 'personFields mask is required. Please specify one or more valid paths.');
      return {
        body: { resourceName: call.params.resourceName, user: call.user.email, now: call.state.now().toISOString() },
      };
    },
  });
  registry.register({
    api: 'calendar',
    id: 'calendar.emulatorTest.ping',
    httpMethod: 'GET',
    path: /^\/calendar\/v3\/calendars\/(?<calendarId>[^/]+)\/emulatorTestPing$/,
    scopes: [SCOPES.calendar],
    quota: { bucket: 'test.calendar', cost: 1 },
    handler: (call) => ({ body: { calendarId: call.params.calendarId } }),
  });
  await admin.reset();
});
afterAll(() => emu.close());

beforeEach(async () => {
  await admin.reset();
  // Reset drops the keys, so each test makes one (an RSA key costs ~0.05-0.1 s); tests needing a second tenant call
  // beta().
  t = await admin.tenant('acme.test', [AGENT], [SCOPES.gmailCompose, SCOPES.calendar, SCOPES.contacts, SCOPES.m8Feeds]);
});
const beta = async () => (t2 = await admin.tenant('beta.test', ['agent@beta.test'], [SCOPES.gmailCompose]));

const gmailFor = (scopes: string[], tenant = t, user = AGENT) => googleClients(emu.url, tenant.key, user, scopes).gmail;

describe('401 bearer token', () => {
  test("missing: Google's body per envelope (Gmail legacy errors[], People none) and WWW-Authenticate", async () => {
    const g = await rawCall(`${emu.url}/gmail/v1/users/me/profile`, undefined);
    expect(g.status).toBe(401);
    expect(g.headers.get('www-authenticate')).toBe('Bearer realm="https://accounts.google.com/"');
    expect(g.body).toEqual({
      error: {
        code: 401,
        message: expect.stringMatching(
          /^Request is missing required authentication credential\. Expected OAuth 2 access token/,
        ),
        errors: [
          {
            message: 'Login Required.',
            domain: 'global',
            reason: 'required',
            location: 'Authorization',
            locationType: 'header',
          },
        ],
        status: 'UNAUTHENTICATED',
        details: [
          expect.objectContaining({
            '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
            reason: 'CREDENTIALS_MISSING',
          }),
        ],
      },
    });
    const p = await rawCall(`${emu.url}${PEOPLE_PING}`, undefined);
    expect(p.status).toBe(401);
    expect((p.body as { error: Record<string, unknown> }).error.errors).toBeUndefined();
    expect((p.body as { error: Record<string, unknown> }).error.status).toBe('UNAUTHENTICATED');
    expect(await admin.requests()).toEqual([
      expect.objectContaining({
        api: 'gmail',
        method: 'gmail.users.getProfile',
        path: '/gmail/v1/users/me/profile',
        user: null,
        status: 401,
      }),
      expect.objectContaining({ api: 'people', method: 'people.emulatorTest.ping', status: 401 }),
    ]);
  });

  test('invalid token: authError, error="invalid_token"', async () => {
    const r = await rawCall(`${emu.url}/gmail/v1/users/me/profile`, 'ya29.made-up');
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toBe(
      'Bearer realm="https://accounts.google.com/", error="invalid_token"',
    );
    const body = r.body as { error: { message: string; errors: Array<{ reason: string; message: string }> } };
    expect(body.error.message).toMatch(/^Request had invalid authentication credentials\./);
    expect(body.error.errors[0]).toMatchObject({ reason: 'authError', message: 'Invalid Credentials' });
  });

  test('expired after the emulator clock moves past expires_in; the real client (no refresh on 401) gets 401', async () => {
    const gmail = gmailFor([SCOPES.gmailCompose]);
    expect((await gmail.users.getProfile({ userId: 'me' })).status).toBe(200);
    await admin.advanceClock(3600);
    const e = await googleError(gmail.users.getProfile({ userId: 'me' }));
    expect(e.status).toBe(401);
    expect(e.data.error.status).toBe('UNAUTHENTICATED');
    expect(e.data.error.errors![0].reason).toBe('authError');
    expect(e.data.error.details![0].reason).toBe('ACCESS_TOKEN_EXPIRED');
    expect((await admin.requests({ api: 'gmail' })).map((x) => x.status)).toEqual([200, 401]);
  });

  test('a token without sub (the service account itself) has no mailbox: 400 failedPrecondition', async () => {
    const { access_token } = await mintToken(t.key, undefined, [SCOPES.gmailCompose]);
    const r = await rawCall(`${emu.url}/gmail/v1/users/me/profile`, access_token);
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({
      error: {
        status: 'FAILED_PRECONDITION',
        message: 'Precondition check failed.',
        errors: [{ reason: 'failedPrecondition' }],
      },
    });
  });
});

describe('403 insufficient scope', () => {
  test('a calendar-only token calling Gmail: insufficientPermissions + ErrorInfo + WWW-Authenticate scope list', async () => {
    const e = await googleError(gmailFor([SCOPES.calendar]).users.getProfile({ userId: 'me' }));
    expect(e.status).toBe(403);
    expect(e.data.error).toMatchObject({
      code: 403,
      message: 'Request had insufficient authentication scopes.',
      status: 'PERMISSION_DENIED',
      errors: [{ message: 'Insufficient Permission', domain: 'global', reason: 'insufficientPermissions' }],
    });
    expect(e.data.error.details![0]).toEqual({
      '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
      reason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT',
      domain: 'googleapis.com',
      metadata: { service: 'gmail.googleapis.com', method: 'caribou.api.proto.MailboxService.GetProfile' },
    });
    const { access_token } = await mintToken(t.key, AGENT, [SCOPES.calendar]);
    const raw = await rawCall(`${emu.url}/gmail/v1/users/me/profile`, access_token);
    expect(raw.headers.get('www-authenticate')).toBe(
      'Bearer realm="https://accounts.google.com/", error="insufficient_scope", scope="https://mail.google.com/ https://www.googleapis.com/auth/gmail.compose https://www.googleapis.com/auth/gmail.metadata https://www.googleapis.com/auth/gmail.modify https://www.googleapis.com/auth/gmail.readonly"',
    );
  });

  test('People: m8/feeds accepted by default, rejected with the setting off; no errors[] in the People envelope', async () => {
    const { access_token } = await mintToken(t.key, AGENT, [SCOPES.m8Feeds]);
    const ok = await rawCall(`${emu.url}${PEOPLE_PING}`, access_token);
    expect(ok).toMatchObject({ status: 200, body: { resourceName: 'people/me', user: AGENT } });
    await admin.putSettings({ acceptM8FeedsForPeople: false });
    const denied = await rawCall(`${emu.url}${PEOPLE_PING}`, access_token);
    expect(denied.status).toBe(403);
    expect(denied.body).toEqual({
      error: {
        code: 403,
        message: 'Request had insufficient authentication scopes.',
        status: 'PERMISSION_DENIED',
        details: [
          expect.objectContaining({
            reason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT',
            metadata: expect.objectContaining({ service: 'people.googleapis.com' }),
          }),
        ],
      },
    });
    expect(denied.headers.get('www-authenticate')).toContain(`scope="${SCOPES.contacts} ${SCOPES.contactsReadonly}"`);
  });

  test("handlers throw typed errors in their api's envelope", async () => {
    const { access_token } = await mintToken(t.key, AGENT, [SCOPES.contacts]);
    const r = await rawCall(`${emu.url}${PEOPLE_PING}?fail=1`, access_token);
    expect(r).toMatchObject({
      status: 400,
      body: { error: { code: 400, status: 'INVALID_ARGUMENT', message: expect.stringContaining('personFields') } },
    });
    expect((r.body as { error: object }).error).not.toHaveProperty('errors');
  });
});

describe('403 SERVICE_DISABLED', () => {
  test('Gmail off for all projects: accessNotConfigured + SERVICE_DISABLED with the project number and activation URL', async () => {
    await admin.setApi('gmail', false);
    const e = await googleError(gmailFor([SCOPES.gmailCompose]).users.getProfile({ userId: 'me' }));
    expect(e.status).toBe(403);
    const url = `https://console.developers.google.com/apis/api/gmail.googleapis.com/overview?project=${t.projectNumber}`;
    expect(e.data.error.message).toBe(
      `Gmail API has not been used in project ${t.projectNumber} before or it is disabled. Enable it by visiting ${url} then retry. If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry.`,
    );
    expect(e.data.error.status).toBe('PERMISSION_DENIED');
    expect(e.data.error.errors![0]).toMatchObject({ reason: 'accessNotConfigured', domain: 'usageLimits' });
    expect(e.data.error.details![0]).toMatchObject({
      reason: 'SERVICE_DISABLED',
      domain: 'googleapis.com',
      metadata: {
        consumer: `projects/${t.projectNumber}`,
        service: 'gmail.googleapis.com',
        serviceTitle: 'Gmail API',
        activationUrl: url,
      },
    });
    await admin.setApi('gmail', true);
    expect((await gmailFor([SCOPES.gmailCompose]).users.getProfile({ userId: 'me' })).status).toBe(200);
  });

  test("per clientId: only that service account's project is affected", async () => {
    await beta();
    await admin.setApi('gmail', false, t.clientId);
    expect((await googleError(gmailFor([SCOPES.gmailCompose]).users.getProfile({ userId: 'me' }))).status).toBe(403);
    expect(
      (await gmailFor([SCOPES.gmailCompose], t2, 'agent@beta.test').users.getProfile({ userId: 'me' })).status,
    ).toBe(200);
  });

  test('People and Calendar: their service names and titles', async () => {
    await admin.setApi('people', false, t.clientId);
    await admin.setApi('calendar', false);
    const p = await rawCall(
      `${emu.url}${PEOPLE_PING}`,
      (await mintToken(t.key, AGENT, [SCOPES.contacts])).access_token,
    );
    expect(p.status).toBe(403);
    expect(p.body).toMatchObject({
      error: {
        status: 'PERMISSION_DENIED',
        message: expect.stringMatching(/^People API has not been used in project \d{12} /),
        details: [{ reason: 'SERVICE_DISABLED', metadata: { service: 'people.googleapis.com' } }, {}, {}],
      },
    });
    expect((p.body as { error: object }).error).not.toHaveProperty('errors');
    const c = await rawCall(
      `${emu.url}${CALENDAR_PING}`,
      (await mintToken(t.key, AGENT, [SCOPES.calendar])).access_token,
    );
    expect(c.body).toMatchObject({
      error: {
        code: 403,
        message: expect.stringMatching(/^Google Calendar API has not been used/),
        errors: [{ reason: 'accessNotConfigured' }],
        details: [{ reason: 'SERVICE_DISABLED', metadata: { service: 'calendar-json.googleapis.com' } }, {}, {}],
      },
    });
  });
});

describe('per-user quotas', () => {
  test('Gmail units: send costs 100, getProfile 1; over the limit → 429 RESOURCE_EXHAUSTED; recovers a minute later', async () => {
    await beta();
    await admin.putSettings({ quotas: { 'gmail.units': { limitPerMinute: 205 } } });
    const gmail = gmailFor([SCOPES.gmailCompose]);
    await gmail.users.messages.send({ userId: 'me', requestBody: { raw: RAW } });
    await gmail.users.messages.send({ userId: 'me', requestBody: { raw: RAW } });
    for (let i = 0; i < 5; i++) await gmail.users.getProfile({ userId: 'me' });
    const e = await googleError(gmail.users.messages.send({ userId: 'me', requestBody: { raw: RAW } }));
    expect(e.status).toBe(429);
    expect(e.data.error).toMatchObject({
      code: 429,
      status: 'RESOURCE_EXHAUSTED',
      message: `Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user' of service 'gmail.googleapis.com' for consumer 'project_number:${t.projectNumber}'.`,
      errors: [{ reason: 'rateLimitExceeded', domain: 'usageLimits' }],
    });
    expect(e.data.error.details![0]).toMatchObject({
      reason: 'RATE_LIMIT_EXCEEDED',
      metadata: { quota_limit_value: '205' },
    });
    // The other user and the other tenant have their own windows.
    expect(
      (
        await gmailFor([SCOPES.gmailCompose], t2, 'agent@beta.test').users.messages.send({
          userId: 'me',
          requestBody: { raw: RAW },
        })
      ).status,
    ).toBe(200);
    // The rejected send was logged and not stored.
    expect((await admin.requests({ method: 'gmail.users.messages.send', user: AGENT })).map((x) => x.status)).toEqual([
      200, 200, 429,
    ]);
    expect(await admin.messages(AGENT)).toHaveLength(2);
    await admin.advanceClock(61);
    expect((await gmail.users.messages.send({ userId: 'me', requestBody: { raw: RAW } })).status).toBe(200);
  });

  test('403 variant by setting; Calendar-style 403 userRateLimitExceeded; People-style 429 without errors[]', async () => {
    await admin.putSettings({ quotas: { 'gmail.units': { limitPerMinute: 1, errorStatus: 403 } } });
    const gmail = gmailFor([SCOPES.gmailCompose]);
    await gmail.users.getProfile({ userId: 'me' });
    const e = await googleError(gmail.users.getProfile({ userId: 'me' }, { retry: false }));
    expect(e.status).toBe(403);
    expect(e.data.error).toMatchObject({
      status: 'PERMISSION_DENIED',
      errors: [{ reason: 'rateLimitExceeded', domain: 'usageLimits' }],
    });

    const cal = (await mintToken(t.key, AGENT, [SCOPES.calendar])).access_token;
    await rawCall(`${emu.url}${CALENDAR_PING}`, cal);
    await rawCall(`${emu.url}${CALENDAR_PING}`, cal);
    const c = await rawCall(`${emu.url}${CALENDAR_PING}`, cal);
    expect(c).toMatchObject({ status: 403, body: { error: { errors: [{ reason: 'userRateLimitExceeded' }] } } });

    const ppl = (await mintToken(t.key, AGENT, [SCOPES.contacts])).access_token;
    for (let i = 0; i < 3; i++) expect((await rawCall(`${emu.url}${PEOPLE_PING}`, ppl)).status).toBe(200);
    const p = await rawCall(`${emu.url}${PEOPLE_PING}`, ppl);
    expect(p).toMatchObject({
      status: 429,
      body: {
        error: {
          status: 'RESOURCE_EXHAUSTED',
          message: expect.stringContaining(
            "'Critical read requests (Contact and Profile Reads) per minute per user' of service 'people.googleapis.com'",
          ),
        },
      },
    });
    expect((p.body as { error: object }).error).not.toHaveProperty('errors');
  });
});

describe('faults', () => {
  test("503 on a GET: Google's UNAVAILABLE body and Retry-After; the client retries a GET and then succeeds", async () => {
    await admin.addFault({ api: 'gmail', method: 'gmail.users.getProfile', status: 503, retryAfterSeconds: 7 });
    const { access_token } = await mintToken(t.key, AGENT, [SCOPES.gmailCompose]);
    const raw = await rawCall(`${emu.url}/gmail/v1/users/me/profile`, access_token);
    expect(raw.status).toBe(503);
    expect(raw.headers.get('retry-after')).toBe('7');
    expect(raw.body).toEqual({
      error: {
        code: 503,
        message: 'The service is currently unavailable.',
        errors: [{ message: 'The service is currently unavailable.', domain: 'global', reason: 'backendError' }],
        status: 'UNAVAILABLE',
      },
    });
    // count defaults to 1: spent. Arm two more and let the real client retry through them.
    await admin.addFault({ api: 'gmail', method: 'gmail.users.getProfile', status: 500, count: 2 });
    const res = await gmailFor([SCOPES.gmailCompose]).users.getProfile({ userId: 'me' });
    expect(res.status).toBe(200);
    expect((await admin.requests({ api: 'gmail' })).map((e) => [e.status, e.fault])).toEqual([
      [503, 'status'],
      [500, 'status'],
      [500, 'status'],
      [200, undefined],
    ]);
  });

  test("an injected 401 is Google's real one: Invalid Credentials body and WWW-Authenticate header", async () => {
    await admin.addFault({ api: 'gmail', method: 'gmail.users.getProfile', status: 401 });
    await admin.addFault({ api: 'people', status: 401 });
    const { access_token } = await mintToken(t.key, AGENT, [SCOPES.gmailCompose, SCOPES.contacts]);
    const g = await rawCall(`${emu.url}/gmail/v1/users/me/profile`, access_token);
    expect(g.status).toBe(401);
    expect(g.headers.get('www-authenticate')).toBe(
      'Bearer realm="https://accounts.google.com/", error="invalid_token"',
    );
    expect(g.body).toMatchObject({
      error: {
        code: 401,
        status: 'UNAUTHENTICATED',
        errors: [
          { message: 'Invalid Credentials', reason: 'authError', location: 'Authorization', locationType: 'header' },
        ],
      },
    });
    const p = await rawCall(`${emu.url}/v1/people/me:emulatorTestPing`, access_token);
    expect(p.status).toBe(401);
    expect(p.headers.get('www-authenticate')).toBe(
      'Bearer realm="https://accounts.google.com/", error="invalid_token"',
    );
    expect((p.body as { error: Record<string, unknown> }).error.errors).toBeUndefined();
  });

  test('429 and 500 bodies; POST is not retried by the client', async () => {
    await admin.addFault({ api: 'gmail', method: 'gmail.users.messages.send', status: 429 });
    const e = await googleError(
      gmailFor([SCOPES.gmailCompose]).users.messages.send({ userId: 'me', requestBody: { raw: RAW } }),
    );
    expect(e.status).toBe(429);
    expect(e.data.error).toMatchObject({ status: 'RESOURCE_EXHAUSTED', errors: [{ reason: 'rateLimitExceeded' }] });
    await admin.addFault({ api: 'gmail', status: 500 });
    const e2 = await googleError(
      gmailFor([SCOPES.gmailCompose]).users.messages.send({ userId: 'me', requestBody: { raw: RAW } }),
    );
    expect(e2.data.error).toMatchObject({ code: 500, status: 'INTERNAL', errors: [{ reason: 'backendError' }] });
    expect((await admin.requests({ method: 'gmail.users.messages.send' })).map((x) => x.status)).toEqual([429, 500]);
    expect(await admin.messages(AGENT)).toHaveLength(0);
  });

  test('matching by method and pathPrefix; unlimited until DELETE /faults', async () => {
    await admin.addFault({ api: 'gmail', pathPrefix: '/gmail/v1/users/me/drafts', status: 500, unlimited: true });
    const gmail = gmailFor([SCOPES.gmailCompose]);
    expect((await gmail.users.getProfile({ userId: 'me' })).status).toBe(200);
    for (let i = 0; i < 3; i++)
      expect((await googleError(gmail.users.drafts.list({ userId: 'me' }, { retry: false }))).status).toBe(500);
    await admin.clearFaults();
    expect((await gmail.users.drafts.list({ userId: 'me' })).status).toBe(200);
  });

  test('latency delays the answer', async () => {
    await admin.addFault({ api: 'gmail', latencyMs: 300 });
    const started = Date.now();
    expect((await gmailFor([SCOPES.gmailCompose]).users.getProfile({ userId: 'me' })).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect((await admin.requests({ api: 'gmail' }))[0]).toMatchObject({ status: 200, fault: 'latency' });
  });

  test('resetConnection: no answer, nothing stored', async () => {
    await admin.addFault({ api: 'gmail', method: 'gmail.users.messages.send', resetConnection: true });
    await expect(
      gmailFor([SCOPES.gmailCompose]).users.messages.send({ userId: 'me', requestBody: { raw: RAW } }),
    ).rejects.toThrow();
    expect(await admin.messages(AGENT)).toEqual([]);
    expect(await admin.requests({ api: 'gmail' })).toEqual([
      expect.objectContaining({ status: 0, fault: 'reset', method: 'gmail.users.messages.send' }),
    ]);
  });

  test('afterCommit: Google accepted the send (message stored) but the connection resets', async () => {
    await admin.addFault({ api: 'gmail', method: 'gmail.users.messages.send', afterCommit: true });
    await expect(
      gmailFor([SCOPES.gmailCompose]).users.messages.send({ userId: 'me', requestBody: { raw: RAW } }),
    ).rejects.toThrow();
    const stored = await admin.messages(AGENT);
    expect(stored).toHaveLength(1);
    expect(stored[0].labelIds).toEqual(['SENT']);
    expect(await admin.requests({ api: 'gmail' })).toEqual([
      expect.objectContaining({ status: 0, fault: 'resetAfterCommit', committedStatus: 200 }),
    ]);
  });

  test('hold "call": the call waits before it runs (nothing stored) until released, then runs', async () => {
    const f = await admin.addFault({ api: 'gmail', method: 'gmail.users.messages.send', hold: 'call' });
    expect(f).toMatchObject({ hold: 'call', hits: 0, held: 0 });
    let settled = false;
    const sending = gmailFor([SCOPES.gmailCompose])
      .users.messages.send({ userId: 'me', requestBody: { raw: RAW } })
      .finally(() => {
        settled = true;
      });
    await admin.waitHeld(f.id);
    expect(await admin.messages(AGENT)).toEqual([]);
    expect(await admin.requests({ api: 'gmail' })).toEqual([]);
    expect(settled).toBe(false);
    expect(await admin.release(f.id)).toEqual({ released: 1 });
    expect((await sending).status).toBe(200);
    expect(await admin.messages(AGENT)).toHaveLength(1);
    expect((await admin.faults()).find((x) => x.id === f.id)).toMatchObject({ hits: 1, held: 0 });
  });

  test('hold "answer": the call runs and its effects are stored while its answer waits for the release', async () => {
    const f = await admin.addFault({ api: 'gmail', method: 'gmail.users.messages.send', hold: 'answer', count: 2 });
    const gmail = gmailFor([SCOPES.gmailCompose]);
    let answered = 0;
    const sends = [1, 2].map(() =>
      gmail.users.messages.send({ userId: 'me', requestBody: { raw: RAW } }).then((r) => {
        answered += 1;
        return r;
      }),
    );
    await admin.waitHeld(f.id, 2);
    expect(await admin.messages(AGENT)).toHaveLength(2);
    expect(answered).toBe(0);
    expect(await admin.release(f.id, 1)).toEqual({ released: 1 });
    await Promise.race(sends);
    expect((await admin.faults())[0].held).toBe(1);
    expect(await admin.release(f.id)).toEqual({ released: 1 });
    expect((await Promise.all(sends)).map((r) => r.status)).toEqual([200, 200]);
  });

  test('hold "call" with a status: parked, then answered with that status; DELETE /faults lets parked calls go', async () => {
    const f = await admin.addFault({ api: 'gmail', method: 'gmail.users.messages.send', hold: 'call', status: 503 });
    const failing = googleError(
      gmailFor([SCOPES.gmailCompose]).users.messages.send({ userId: 'me', requestBody: { raw: RAW } }),
    );
    await admin.waitHeld(f.id);
    expect(await admin.release(f.id)).toEqual({ released: 1 });
    expect((await failing).status).toBe(503);
    const g = await admin.addFault({ api: 'gmail', method: 'gmail.users.getProfile', hold: 'call' });
    const profile = gmailFor([SCOPES.gmailCompose]).users.getProfile({ userId: 'me' });
    await admin.waitHeld(g.id);
    await admin.clearFaults();
    expect((await profile).status).toBe(200);
  });

  test('hold specs and releases are checked', async () => {
    expect(await admin.request('POST', '/faults', { api: 'gmail', hold: 'later' })).toEqual({
      status: 400,
      body: { error: 'fault.hold must be "call" or "answer", got "later"' },
    });
    expect((await admin.request('POST', '/faults', { api: 'gmail', hold: 'answer', status: 500 })).status).toBe(400);
    expect(await admin.request('POST', '/faults/nope/release', {})).toEqual({
      status: 404,
      body: { error: 'no armed fault with id nope' },
    });
    const f = await admin.addFault({ api: 'gmail', hold: 'call' });
    expect(await admin.request('POST', `/faults/${f.id}/release`, { count: 0 })).toEqual({
      status: 400,
      body: { error: 'count must be a positive integer, got 0' },
    });
    expect(await admin.release(f.id)).toEqual({ released: 0 });
  });

  test('bad fault specs are refused naming the field', async () => {
    expect(await admin.request('POST', '/faults', { api: 'drive', status: 500 })).toEqual({
      status: 400,
      body: { error: 'fault.api must be one of token, people, calendar, gmail, got "drive"' },
    });
    expect((await admin.request('POST', '/faults', { api: 'gmail' })).status).toBe(400);
    expect((await admin.request('POST', '/faults', { api: 'gmail', status: 999 })).status).toBe(400);
  });
});

describe('request log', () => {
  test('filters by api, method and user; admin calls are not logged; unknown paths are', async () => {
    await beta();
    const a = gmailFor([SCOPES.gmailCompose]);
    const b = gmailFor([SCOPES.gmailCompose], t2, 'agent@beta.test');
    await a.users.getProfile({ userId: 'me' });
    await a.users.messages.send({ userId: 'me', requestBody: { raw: RAW } });
    await b.users.getProfile({ userId: 'me' });
    await admin.messages(AGENT);
    const all = await admin.requests();
    expect(all.map((e) => `${e.api} ${e.method} ${e.user} ${e.status}`)).toEqual([
      `token token ${AGENT} 200`,
      `gmail gmail.users.getProfile ${AGENT} 200`,
      `gmail gmail.users.messages.send ${AGENT} 200`,
      'token token agent@beta.test 200',
      'gmail gmail.users.getProfile agent@beta.test 200',
    ]);
    expect(all[1]).toMatchObject({ path: '/gmail/v1/users/me/profile', httpMethod: 'GET', clientId: t.clientId });
    // Who called (the client's User-Agent: which replica, in multi-process tests) and when the call came in and was
    // answered, so tests can tell whether two callers worked one mailbox at the same time.
    expect(all[1].userAgent).toMatch(/google-api-nodejs-client\/[\d.]+ \(gzip\)/);
    expect(all.every((e) => Date.parse(e.startedAt) <= Date.parse(e.at))).toBe(true);
    expect(await admin.requests({ api: 'token' })).toHaveLength(2);
    expect(await admin.requests({ method: 'gmail.users.getProfile' })).toHaveLength(2);
    expect(await admin.requests({ api: 'gmail', user: 'agent@beta.test' })).toHaveLength(1);
    const { access_token } = await mintToken(t.key, AGENT, [SCOPES.gmailCompose]);
    const unknown = await rawCall(`${emu.url}/gmail/v1/users/me/nonsense`, access_token);
    expect(unknown.status).toBe(404);
    expect((await admin.requests({ method: 'unknown' }))[0]).toMatchObject({ api: 'gmail', status: 404 });
    // `at` is emulator time
    await admin.advanceClock(86_400);
    await a.users.getProfile({ userId: 'me' }).catch(() => undefined);
    const last = (await admin.requests()).pop()!;
    expect(Date.parse(last.at) - Date.now()).toBeGreaterThan(86_000_000);
    await admin.clearRequests();
    expect(await admin.requests()).toEqual([]);
  });
});

describe('request bodies (call.jsonObject)', () => {
  const ROOT_NOT_MESSAGE = 'Invalid JSON payload received. Unknown name "": Root element must be a message.';
  const bodies: Array<[string, string, string]> = [
    ['POST', '/calendar/v3/channels/stop', 'calendar'],
    ['POST', '/calendar/v3/calendars/primary/events/watch', 'calendar'],
    ['POST', '/calendar/v3/calendars/primary/events', 'calendar'],
    ['POST', '/gmail/v1/users/me/messages/send', 'gmail'],
    ['POST', '/gmail/v1/users/me/drafts', 'gmail'],
    ['POST', '/gmail/v1/users/me/drafts/send', 'gmail'],
    ['POST', '/v1/people:createContact', 'people'],
    ['POST', '/v1/people:batchDeleteContacts', 'people'],
  ];
  test.each(['null', '[]', '3', '"x"'])(
    "%s as the body → 400 INVALID_ARGUMENT in each api's envelope, never 500",
    async (json) => {
      const { access_token } = await mintToken(t.key, AGENT, [SCOPES.gmailCompose, SCOPES.calendar, SCOPES.contacts]);
      for (const [method, path, api] of bodies) {
        const r = await rawCall(`${emu.url}${path}`, access_token, {
          method,
          headers: { 'content-type': 'application/json' },
          body: json,
        });
        expect([path, r.status]).toEqual([path, 400]);
        const expected =
          api === 'people'
            ? { code: 400, message: ROOT_NOT_MESSAGE, status: 'INVALID_ARGUMENT' }
            : {
                code: 400,
                message: ROOT_NOT_MESSAGE,
                errors: [{ message: ROOT_NOT_MESSAGE, domain: 'global', reason: 'parseError' }],
                status: 'INVALID_ARGUMENT',
              };
        expect([path, r.body]).toEqual([path, { error: expected }]);
      }
      expect((await admin.requests()).filter((e) => e.status >= 500)).toEqual([]);
    },
  );
});

describe('bounded memory', () => {
  test('the request log keeps the newest requestLogMaxEntries entries (default 50,000)', async () => {
    expect((await admin.request<{ requestLogMaxEntries: number }>('GET', '/settings')).body.requestLogMaxEntries).toBe(
      50_000,
    );
    await admin.putSettings({ requestLogMaxEntries: 3 });
    const { access_token } = await mintToken(t.key, AGENT, [SCOPES.gmailCompose]);
    for (let i = 0; i < 4; i++) await rawCall(`${emu.url}/gmail/v1/users/me/profile?i=${i}`, access_token);
    await rawCall(`${emu.url}/gmail/v1/users/me/nonsense`, access_token);
    const log = await admin.requests();
    expect(log.map((e) => `${e.method} ${e.status}`)).toEqual([
      'gmail.users.getProfile 200',
      'gmail.users.getProfile 200',
      'unknown 404',
    ]);
    expect((await admin.request('PUT', '/settings', { requestLogMaxEntries: 0 })).status).toBe(400);
  });

  test('issuing a token forgets tokens that expired more than a day ago; a recently expired one still answers "expired"', async () => {
    const old = (await mintToken(t.key, AGENT, [SCOPES.gmailCompose])).access_token;
    const recent = await admin.advanceClock(86_400);
    const fresh = (
      await mintToken(t.key, AGENT, [SCOPES.gmailCompose], { iat: Math.floor(Date.parse(recent.now) / 1000) })
    ).access_token;
    // Expired ~21 h ago: kept, so the 401 still says ACCESS_TOKEN_EXPIRED.
    expect(emu.state.tokens.has(old)).toBe(true);
    const expired = await rawCall(`${emu.url}/gmail/v1/users/me/profile`, old);
    expect((expired.body as { error: { details?: Array<{ reason: string }> } }).error.details![0].reason).toBe(
      'ACCESS_TOKEN_EXPIRED',
    );
    const later = await admin.advanceClock(4 * 3600);
    await mintToken(t.key, AGENT, [SCOPES.gmailCompose], { iat: Math.floor(Date.parse(later.now) / 1000) });
    expect(emu.state.tokens.has(old)).toBe(false);
    expect(emu.state.tokens.has(fresh)).toBe(true);
    expect((await rawCall(`${emu.url}/gmail/v1/users/me/profile`, old)).status).toBe(401);
  });
});
