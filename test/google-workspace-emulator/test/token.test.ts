/**
 * POST /token: the JWT-bearer grant, driven by the real google-auth-library JWT client and by assertions we sign
 * ourselves with the issued key. Expected bodies are Google's (https://developers.google.com/identity/protocols/oauth2/service-account,
 * "JWT error codes"; docs/google-behaviour.md §1.3).
 */
import { startEmulator, type RunningEmulator } from '../src/server';
import {
  EmulatorAdmin,
  GOOGLE_TOKEN_URL,
  SCOPES,
  exchangeAssertion,
  jwtClient,
  mintToken,
  signAssertion,
  type Tenant,
} from '../src/testing';

const UNAUTHORIZED_CLIENT =
  'Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.';
const SHORT_LIVED =
  'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.';

let emu: RunningEmulator;
let admin: EmulatorAdmin;
let t: Tenant;
const AGENT = 'agent@acme.test';
const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  emu = await startEmulator();
  admin = new EmulatorAdmin(emu.url);
  t = await admin.tenant(
    'acme.test',
    [AGENT, 'boss@acme.test'],
    [SCOPES.contacts, SCOPES.calendar, SCOPES.gmailCompose],
  );
  await admin.addDomain('other.test', ['someone@other.test']);
});
afterAll(() => emu.close());
beforeEach(async () => {
  await admin.clearRequests();
  await admin.clearFaults();
  await admin.putSettings({ disabledKeyError: 'invalid_grant' });
});

async function tokenFor(claims: Parameters<typeof signAssertion>[1], key = t.key) {
  return exchangeAssertion(key.token_uri, signAssertion(key, { sub: AGENT, scope: SCOPES.contacts, ...claims }));
}

describe('success', () => {
  test('the real google-auth-library JWT client gets a bound, opaque ya29 token; the exchange is logged', async () => {
    const jwt = jwtClient(emu.url, t.key, AGENT, [SCOPES.contacts, SCOPES.gmailCompose]);
    const before = Date.now();
    const { token } = await jwt.getAccessToken();
    const after = Date.now();
    expect(token).toMatch(/^ya29\.[A-Za-z0-9_-]{40,}$/);
    const stored = emu.state.tokens.get(token!);
    expect(stored).toMatchObject({
      subject: AGENT,
      clientId: t.clientId,
      scopes: [SCOPES.contacts, SCOPES.gmailCompose],
    });
    // expiry_date = (the assertion's iat, whole seconds, taken between before and after + expires_in (3599 s)) ms:
    // bracketed by the clock read around the call, so a slow machine cannot move it out of bounds.
    const expiry = jwt.credentials.expiry_date!;
    expect(expiry).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 3599_000);
    expect(expiry).toBeLessThanOrEqual(after + 3599_000);
    const log = await admin.requests({ api: 'token' });
    expect(log).toEqual([
      expect.objectContaining({
        api: 'token',
        method: 'token',
        path: '/token',
        user: AGENT,
        status: 200,
        clientId: t.clientId,
      }),
    ]);
    expect(Date.parse(log[0].at)).not.toBeNaN();
  });

  test("our own exchange: exact body, aud may be Google's URL or the emulator's own token_uri; tokens differ", async () => {
    expect(t.key.token_uri).toBe(`${emu.url}/token`);
    const a = await exchangeAssertion(t.key.token_uri, signAssertion(t.key, { sub: AGENT, scope: SCOPES.calendar }));
    expect(a.status).toBe(200);
    expect(Object.keys(a.body).sort()).toEqual(['access_token', 'expires_in', 'token_type']);
    expect(a.body).toMatchObject({ expires_in: 3599, token_type: 'Bearer' });
    const b = await mintToken(t.key, AGENT, [SCOPES.calendar], { aud: t.key.token_uri });
    expect(b.access_token).not.toBe(a.body.access_token);
  });

  test('scope is space-separated: several delegated scopes in one token', async () => {
    const r = await mintToken(t.key, AGENT, [SCOPES.contacts, SCOPES.calendar, SCOPES.gmailCompose]);
    expect(emu.state.tokens.get(r.access_token)!.scopes).toHaveLength(3);
  });
});

describe('errors', () => {
  test("unauthorized_client (401) when one requested scope is not delegated, with Google's exact text", async () => {
    const r = await tokenFor({ scope: `${SCOPES.contacts} ${SCOPES.mail}` });
    expect(r).toEqual({ status: 401, body: { error: 'unauthorized_client', error_description: UNAUTHORIZED_CLIENT } });
    expect((await admin.requests({ api: 'token' }))[0]).toMatchObject({ status: 401, user: AGENT });
  });

  test('unauthorized_client when the client id has no DWD entry at all', async () => {
    const { key } = await admin.createServiceAccount('acme.test');
    const r = await tokenFor({}, key);
    expect(r).toEqual({ status: 401, body: { error: 'unauthorized_client', error_description: UNAUTHORIZED_CLIENT } });
  });

  test('the real client surfaces it as "<error>: <description>" and does not retry', async () => {
    const jwt = jwtClient(emu.url, t.key, 'nobody@acme.test', [SCOPES.contacts]);
    await expect(jwt.getAccessToken()).rejects.toThrow('invalid_grant: Invalid email or User ID');
    expect(await admin.requests({ api: 'token' })).toHaveLength(1);
  });

  test.each([
    ['an unknown user', 'nobody@acme.test'],
    ['a user of another domain', 'someone@other.test'],
  ])('invalid_grant "Invalid email or User ID" (400) for %s', async (_label, sub) => {
    const r = await tokenFor({ sub });
    expect(r).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: 'Invalid email or User ID' } });
  });

  test('a suspended user cannot be impersonated', async () => {
    await admin.addDomain('acme.test', ['leaver@acme.test']);
    expect((await tokenFor({ sub: 'leaver@acme.test' })).status).toBe(200);
    await admin.suspend('leaver@acme.test');
    expect(await tokenFor({ sub: 'leaver@acme.test' })).toEqual({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'Invalid email or User ID' },
    });
  });

  test('invalid_grant "Invalid JWT Signature." for a key of another account, a tampered token and an unknown issuer', async () => {
    const other = await admin.createServiceAccount('acme.test');
    const foreign = signAssertion(
      { ...other.key, client_email: t.key.client_email },
      { sub: AGENT, scope: SCOPES.contacts },
    );
    const bad = { status: 400, body: { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' } };
    expect(await exchangeAssertion(t.key.token_uri, foreign)).toEqual(bad);
    const good = signAssertion(t.key, { sub: AGENT, scope: SCOPES.contacts });
    const [h, , s] = good.split('.');
    const tampered = `${h}.${Buffer.from(JSON.stringify({ iss: t.key.client_email, sub: 'boss@acme.test', scope: SCOPES.contacts, aud: GOOGLE_TOKEN_URL, iat: now(), exp: now() + 3600 })).toString('base64url')}.${s}`;
    expect(await exchangeAssertion(t.key.token_uri, tampered)).toEqual(bad);
    expect(await tokenFor({ iss: 'ghost@nowhere.iam.gserviceaccount.com' })).toEqual(bad);
  });

  test('key rotation: a deleted key → "Invalid JWT Signature.", the new key works; a disabled key per setting', async () => {
    const sa = await admin.createServiceAccount('acme.test');
    await admin.delegate(sa.clientId, [SCOPES.contacts]);
    const { key: second } = await admin.addKey(sa.clientId);
    expect(second.client_email).toBe(sa.key.client_email);
    expect(second.private_key_id).not.toBe(sa.key.private_key_id);
    expect((await tokenFor({}, sa.key)).status).toBe(200);
    await admin.deleteKey(sa.clientId, sa.key.private_key_id);
    expect(await tokenFor({}, sa.key)).toEqual({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' },
    });
    expect((await tokenFor({}, second)).status).toBe(200);

    await admin.disableKey(sa.clientId, second.private_key_id);
    expect(await tokenFor({}, second)).toEqual({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' },
    });
    await admin.putSettings({ disabledKeyError: 'disabled_client' });
    expect(await tokenFor({}, second)).toEqual({
      status: 401,
      body: { error: 'disabled_client', error_description: 'The OAuth client was disabled.' },
    });
  });

  test('disabled_client / deleted_client (401) for a disabled or deleted service account', async () => {
    const sa = await admin.createServiceAccount('acme.test');
    await admin.delegate(sa.clientId, [SCOPES.contacts]);
    await admin.disableServiceAccount(sa.clientId);
    expect(await tokenFor({}, sa.key)).toEqual({
      status: 401,
      body: { error: 'disabled_client', error_description: 'The OAuth client was disabled.' },
    });
    await admin.deleteServiceAccount(sa.clientId);
    expect(await tokenFor({}, sa.key)).toEqual({
      status: 401,
      body: { error: 'deleted_client', error_description: 'The OAuth client was deleted.' },
    });
  });

  test.each([
    ['empty', ''],
    ['unknown', 'https://www.googleapis.com/auth/not-a-real-scope'],
    ['comma-separated', `${SCOPES.contacts},${SCOPES.calendar}`],
  ])('invalid_scope (400) for an %s scope', async (_label, scope) => {
    const r = await tokenFor({ scope });
    expect(r).toEqual({
      status: 400,
      body: { error: 'invalid_scope', error_description: 'Invalid OAuth scope or ID token audience provided.' },
    });
  });

  test.each([
    ['exp more than 1 hour after iat', { iat: now(), exp: now() + 3601 }],
    ['exp before iat', { iat: now(), exp: now() - 10 }],
    ['iat in the future beyond the skew', { iat: now() + 600, exp: now() + 1200 }],
    ['an expired assertion', { iat: now() - 4000, exp: now() - 400 }],
  ])('invalid_grant short-lived-token message (400) for %s', async (_label, claims) => {
    expect(await tokenFor(claims)).toEqual({
      status: 400,
      body: { error: 'invalid_grant', error_description: SHORT_LIVED },
    });
  });

  test('small clock skew is tolerated (iat 2 minutes ahead)', async () => {
    expect((await tokenFor({ iat: now() + 120, exp: now() + 120 + 3600 })).status).toBe(200);
  });

  test("a gateway clock behind the emulator's: after POST /clock +2h a fresh assertion is out of range", async () => {
    await admin.advanceClock(7200);
    try {
      expect(await tokenFor({})).toEqual({
        status: 400,
        body: { error: 'invalid_grant', error_description: SHORT_LIVED },
      });
    } finally {
      await admin.advanceClock(-7200);
    }
    expect((await tokenFor({})).status).toBe(200);
  });

  test('wrong aud → invalid_grant audience check', async () => {
    const r = await tokenFor({ aud: 'https://example.com/token' });
    expect(r).toEqual({
      status: 400,
      body: {
        error: 'invalid_grant',
        error_description: `Invalid JWT: Failed audience check. The right audience is ${GOOGLE_TOKEN_URL}`,
      },
    });
  });

  test('wrong grant_type → unsupported_grant_type; garbage assertion → invalid_grant', async () => {
    const a = await exchangeAssertion(
      t.key.token_uri,
      signAssertion(t.key, { sub: AGENT, scope: SCOPES.contacts }),
      'client_credentials',
    );
    expect(a).toEqual({
      status: 400,
      body: { error: 'unsupported_grant_type', error_description: 'Invalid grant_type: client_credentials' },
    });
    const b = await exchangeAssertion(t.key.token_uri, 'not-a-jwt');
    expect(b).toEqual({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'Invalid JWT: could not be decoded.' },
    });
  });
});

describe('faults on the token endpoint', () => {
  test('two 500s then success: the real client retries the POST (docs/google-behaviour.md §1.4); all three are logged', async () => {
    await admin.addFault({ api: 'token', status: 500, count: 2 });
    const { token } = await jwtClient(emu.url, t.key, AGENT, [SCOPES.contacts]).getAccessToken();
    expect(token).toMatch(/^ya29\./);
    const log = await admin.requests({ api: 'token' });
    expect(log.map((e) => e.status)).toEqual([500, 500, 200]);
    expect(log[0]).toMatchObject({ fault: 'status', user: AGENT });
  });

  test('afterCommit: the token is issued but the connection resets', async () => {
    await admin.addFault({ api: 'token', afterCommit: true });
    const before = emu.state.tokens.size;
    await expect(
      exchangeAssertion(t.key.token_uri, signAssertion(t.key, { sub: AGENT, scope: SCOPES.contacts })),
    ).rejects.toThrow();
    expect(emu.state.tokens.size).toBe(before + 1);
    expect(await admin.requests({ api: 'token' })).toEqual([
      expect.objectContaining({ status: 0, fault: 'resetAfterCommit', committedStatus: 200 }),
    ]);
  });
});
