import { createPrivateKey } from 'node:crypto';
import { startEmulator, type RunningEmulator } from 'google-workspace-emulator';
import { AppError, ErrorCode } from '../../src/errors';
import { mapGoogleError } from '../../src/google/google-errors';
import { CALENDAR_SCOPE, GMAIL_COMPOSE_SCOPE, LEGACY_CONTACTS_SCOPE } from '../../src/google/scopes';
import { TokenBroker, TokenEndpointError, type TokenRequest } from '../../src/google/token-broker';
import { EmulatorAdmin, type Tenant } from '../support/google';

let emu: RunningEmulator;
let admin: EmulatorAdmin;
let tenant: Tenant;

beforeAll(async () => {
  emu = await startEmulator();
  admin = new EmulatorAdmin(emu.url);
});
afterAll(() => emu.close());
beforeEach(async () => {
  await admin.reset();
  tenant = await admin.tenant(
    'alpha.test',
    ['agent@alpha.test', 'other@alpha.test'],
    [LEGACY_CONTACTS_SCOPE, CALENDAR_SCOPE, GMAIL_COMPOSE_SCOPE],
  );
});

const request = (subject: string, scope: string, t: Tenant = tenant): TokenRequest => ({
  credentialId: `cred-${t.clientId}`,
  clientEmail: t.key.client_email,
  privateKey: createPrivateKey(t.key.private_key),
  tokenUri: t.key.token_uri,
  subject,
  scope,
});

const tokenCalls = async () => (await admin.requests({ api: 'token' })).length;

test('100 concurrent first requests for one agent mint exactly one token per scope', async () => {
  const broker = new TokenBroker();
  const scopes = [LEGACY_CONTACTS_SCOPE, CALENDAR_SCOPE, GMAIL_COMPOSE_SCOPE];
  const tokens = await Promise.all(
    Array.from({ length: 100 }, (_, i) => broker.getToken(request('agent@alpha.test', scopes[i % 3]))),
  );
  expect(await tokenCalls()).toBe(3);
  for (const s of scopes) {
    expect(new Set(tokens.filter((_, i) => scopes[i % 3] === s).map((t) => t.token)).size).toBe(1);
  }
  const log = await admin.requests({ api: 'token' });
  expect(log.map((e) => [e.user, e.status])).toEqual(Array(3).fill(['agent@alpha.test', 200]));
});

test('tokens are cached across requests and per subject', async () => {
  const broker = new TokenBroker();
  const a = await broker.getToken(request('agent@alpha.test', CALENDAR_SCOPE));
  const b = await broker.getToken(request('agent@alpha.test', CALENDAR_SCOPE));
  const c = await broker.getToken(request('other@alpha.test', CALENDAR_SCOPE));
  expect(b.token).toBe(a.token);
  expect(c.token).not.toBe(a.token);
  expect(await tokenCalls()).toBe(2);
  // The token really works for the impersonated mailbox only.
  const res = await fetch(`${emu.url}/calendar/v3/calendars/primary/events`, {
    headers: { authorization: `Bearer ${a.token}` },
  });
  expect([200, 404, 501]).toContain(res.status); // calendar module may not be installed yet; never 401
});

test('refreshed 5 minutes before expiry, not earlier', async () => {
  let now = Date.now();
  const broker = new TokenBroker({ now: () => now });
  const first = await broker.getToken(request('agent@alpha.test', CALENDAR_SCOPE));
  expect(first.expiresAt - now).toBeGreaterThan(3500_000);
  now = first.expiresAt - 5 * 60_000 - 1000; // 5 min + 1 s left
  expect((await broker.getToken(request('agent@alpha.test', CALENDAR_SCOPE))).token).toBe(first.token);
  expect(await tokenCalls()).toBe(1);
  now = first.expiresAt - 5 * 60_000 + 1000; // 5 min - 1 s left
  await admin.advanceClock(Math.round((now - Date.now()) / 1000)); // keep the emulator's clock with ours
  const second = await broker.getToken(request('agent@alpha.test', CALENDAR_SCOPE));
  expect(second.token).not.toBe(first.token);
  expect(await tokenCalls()).toBe(2);
});

test('a refused scope fails alone and names the scope; other scopes keep working', async () => {
  await admin.delegate(tenant.clientId, [CALENDAR_SCOPE]);
  const broker = new TokenBroker();
  const err = await broker.getToken(request('agent@alpha.test', GMAIL_COMPOSE_SCOPE)).catch((e) => e);
  expect(err).toBeInstanceOf(TokenEndpointError);
  expect(err).toMatchObject({ status: 401, error: 'unauthorized_client' });
  const f = mapGoogleError(err, { api: 'token', clientId: tenant.clientId, scopes: [GMAIL_COMPOSE_SCOPE] });
  expect(f).toMatchObject({ kind: 'delegation-missing', code: 'GOOGLE_NOT_CONFIGURED', retryable: false });
  expect(f.remedy).toContain(`Authorize client id ${tenant.clientId} for scopes ${GMAIL_COMPOSE_SCOPE}`);
  expect(f.remedy).toContain('Admin console › Security › API controls › Domain-wide delegation');
  await expect(broker.getToken(request('agent@alpha.test', CALENDAR_SCOPE))).resolves.toMatchObject({
    token: expect.any(String),
  });
  // A failure is not cached: once authorized, the next call succeeds.
  await admin.delegate(tenant.clientId, [CALENDAR_SCOPE, GMAIL_COMPOSE_SCOPE]);
  await expect(broker.getToken(request('agent@alpha.test', GMAIL_COMPOSE_SCOPE))).resolves.toMatchObject({
    token: expect.any(String),
  });
});

test.each([
  ['an unknown user', async () => 'nobody@alpha.test', 'unknown-user'],
  [
    'a suspended user',
    async () => {
      await admin.suspend('other@alpha.test');
      return 'other@alpha.test';
    },
    'unknown-user',
  ],
  [
    'a deleted key',
    async () => {
      await admin.deleteKey(tenant.clientId, tenant.key.private_key_id);
      return 'agent@alpha.test';
    },
    'key-invalid',
  ],
  [
    'a disabled service account',
    async () => {
      await admin.disableServiceAccount(tenant.clientId);
      return 'agent@alpha.test';
    },
    'client-disabled',
  ],
  [
    'a deleted service account',
    async () => {
      await admin.deleteServiceAccount(tenant.clientId);
      return 'agent@alpha.test';
    },
    'client-deleted',
  ],
  [
    'our clock 2 hours behind Google',
    async () => {
      await admin.advanceClock(7200);
      return 'agent@alpha.test';
    },
    'clock-skew',
  ],
])("%s is diagnosed from the token endpoint's answer", async (_case, arrange, kind) => {
  const subject = await arrange();
  const err = await new TokenBroker().getToken(request(subject, CALENDAR_SCOPE)).catch((e) => e);
  expect(err).toBeInstanceOf(TokenEndpointError);
  const f = mapGoogleError(err, { api: 'token', clientId: tenant.clientId, scopes: [CALENDAR_SCOPE], subject });
  expect(f.kind).toBe(kind);
  expect(f.remedy).toEqual(expect.any(String));
  expect(JSON.stringify(f)).not.toContain('PRIVATE KEY');
});

test('token endpoint 503 is retryable; Retry-After is kept', async () => {
  await admin.addFault({ api: 'token', status: 503, retryAfterSeconds: 7 });
  const err = await new TokenBroker().getToken(request('agent@alpha.test', CALENDAR_SCOPE)).catch((e) => e);
  expect(mapGoogleError(err)).toMatchObject({
    kind: 'unavailable',
    retryable: true,
    retryAfterMs: 7000,
    code: 'UPSTREAM_UNAVAILABLE',
  });
});

test('our own setup errors (no key, scope not granted) stay retryable setup failures, not unknown ones', () => {
  const f = mapGoogleError(new AppError(ErrorCode.GOOGLE_NOT_CONFIGURED, 'no key', { remedy: 'submit one' }));
  expect(f).toMatchObject({
    kind: 'not-configured',
    code: 'GOOGLE_NOT_CONFIGURED',
    retryable: false,
    remedy: 'submit one',
  });
  expect(mapGoogleError(new AppError(ErrorCode.UPSTREAM_UNAVAILABLE, 'down'))).toMatchObject({ retryable: true });
});

test('a reset seen through gaxios (cause chain down to the socket) is a network failure', () => {
  const socket = Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' });
  const fetchFailed = Object.assign(new TypeError('fetch failed'), { cause: socket });
  const gaxios = Object.assign(new Error('Unexpected Gaxios Error'), { cause: fetchFailed });
  expect(mapGoogleError(gaxios)).toMatchObject({ kind: 'network', retryable: true });
});
