/**
 * The admin API contract (README.md, "Admin API") and the standalone start (`npm start` here, `npm run emulator` in the
 * repository root).
 */
import { spawn } from 'node:child_process';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, relative } from 'node:path';
import ts from 'typescript';
import { startEmulator, type RunningEmulator } from '../src/server';
import { freePort } from './free-port';
import { EmulatorAdmin, SCOPES, exchangeAssertion, googleClients, mintToken, signAssertion } from '../src/testing';

let emu: RunningEmulator;
let admin: EmulatorAdmin;

beforeAll(async () => {
  emu = await startEmulator();
  admin = new EmulatorAdmin(emu.url);
});
afterAll(() => emu.close());
beforeEach(() => admin.reset());

test('startEmulator listens on a free 127.0.0.1 port, serving as soon as it resolves; two get two ports', async () => {
  // How fast it starts is `npm run bench`'s business, not a test's.
  const e = await startEmulator();
  try {
    expect(e.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(e.url).toBe(`http://127.0.0.1:${e.port}`);
    expect(e.port).not.toBe(emu.port);
    expect(await new EmulatorAdmin(e.url).request('GET', '/clock')).toMatchObject({
      status: 200,
      body: { offsetSeconds: 0 },
    });
  } finally {
    await e.close();
  }
});

test('POST /service-accounts: a Google-shaped key JSON whose token_uri is this emulator', async () => {
  await admin.addDomain('acme.test', ['agent@acme.test']);
  const r = await admin.request<{ key: Record<string, string>; clientId: string; projectNumber: string }>(
    'POST',
    '/service-accounts',
    { domain: 'acme.test' },
  );
  expect(r.status).toBe(200);
  const { key } = r.body;
  expect(Object.keys(key).sort()).toEqual([
    'auth_provider_x509_cert_url',
    'auth_uri',
    'client_email',
    'client_id',
    'client_x509_cert_url',
    'private_key',
    'private_key_id',
    'project_id',
    'token_uri',
    'type',
    'universe_domain',
  ]);
  expect(key).toMatchObject({
    type: 'service_account',
    token_uri: `${emu.url}/token`,
    auth_uri: 'https://accounts.google.com/o/oauth2/auth',
    auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs',
    universe_domain: 'googleapis.com',
    client_id: expect.stringMatching(/^\d{21}$/),
    private_key_id: expect.stringMatching(/^[0-9a-f]{40}$/),
    private_key: expect.stringMatching(/^-----BEGIN PRIVATE KEY-----\n[\s\S]+\n-----END PRIVATE KEY-----\n$/),
  });
  expect(key.client_email).toBe(`gateway@${key.project_id}.iam.gserviceaccount.com`);
  expect(key.client_x509_cert_url).toBe(
    `https://www.googleapis.com/robot/v1/metadata/x509/${encodeURIComponent(key.client_email)}`,
  );
  expect(createPublicKey(createPrivateKey(key.private_key)).asymmetricKeyDetails?.modulusLength).toBe(2048);
  expect(r.body.clientId).toBe(key.client_id);
  expect(r.body.projectNumber).toMatch(/^\d{12}$/);
});

test('POST /domains accepts addresses and user objects, adds to an existing domain, and refuses bad input', async () => {
  const a = await admin.addDomain('acme.test', ['agent@acme.test']);
  expect(a).toEqual({ domain: 'acme.test', users: [{ email: 'agent@acme.test', gmail: true, suspended: false }] });
  const b = await admin.addDomain('acme.test', [{ email: 'Nomail@Acme.test', gmail: false }]);
  expect(b.users).toEqual([{ email: 'nomail@acme.test', gmail: false, suspended: false }]);
  expect(emu.state.findUser('agent@acme.test')).toBeDefined();
  expect(await admin.request('POST', '/domains', { domain: 'acme.test', users: ['x@other.test'] })).toEqual({
    status: 400,
    body: { error: 'user "x@other.test" must be an address in domain "acme.test"' },
  });
  expect(await admin.request('POST', '/domains', { users: [] })).toEqual({
    status: 400,
    body: { error: 'domain must be a non-empty string, got undefined' },
  });
  expect((await admin.request('POST', '/users/ghost@acme.test/suspend')).status).toBe(404);
});

test('PUT /delegations and PUT /apis validate; unknown routes 404', async () => {
  expect((await admin.request('PUT', '/delegations/123', { scopes: 'x' })).status).toBe(400);
  expect(await admin.request('PUT', '/delegations/123', { scopes: [SCOPES.contacts] })).toEqual({
    status: 200,
    body: { clientId: '123', scopes: [SCOPES.contacts] },
  });
  expect(await admin.request('PUT', '/apis/drive', { enabled: false })).toEqual({
    status: 400,
    body: { error: 'api must be one of people, calendar, gmail, got "drive"' },
  });
  expect((await admin.request('PUT', '/apis/gmail', { enabled: false, clientId: '999' })).status).toBe(404);
  expect((await admin.request('GET', '/nope')).status).toBe(404);
});

test('POST /clock moves the emulator clock; POST /reset puts it back and forgets users, keys, tokens and log', async () => {
  const before = Date.now();
  const c = await admin.advanceClock(3600);
  expect(Date.parse(c.now) - before).toBeGreaterThanOrEqual(3600_000);
  expect(c.offsetSeconds).toBe(3600);
  // Bracketed by the real clock read just before and just after: no bound that a slow machine could break.
  const [wallBefore, emulated, wallAfter] = [Date.now(), emu.state.nowMs(), Date.now()];
  expect(emulated).toBeGreaterThanOrEqual(wallBefore + 3600_000);
  expect(emulated).toBeLessThanOrEqual(wallAfter + 3600_000);
  expect((await admin.request('POST', '/clock', { advanceSeconds: 'soon' })).status).toBe(400);

  const t = await admin.tenant('acme.test', ['agent@acme.test'], [SCOPES.gmailCompose]);
  await admin.advanceClock(-3600);
  await mintToken(t.key, 'agent@acme.test', [SCOPES.gmailCompose]);
  await admin.addFault({ api: 'gmail', status: 500 });
  await admin.putSettings({ acceptM8FeedsForPeople: false });
  await admin.reset();
  expect(await admin.requests()).toEqual([]);
  expect(emu.state.users.size + emu.state.serviceAccounts.size + emu.state.tokens.size + emu.state.faults.length).toBe(
    0,
  );
  expect((await admin.request<{ offsetSeconds: number }>('GET', '/clock')).body.offsetSeconds).toBe(0);
  expect(
    (await admin.request<{ acceptM8FeedsForPeople: boolean }>('GET', '/settings')).body.acceptM8FeedsForPeople,
  ).toBe(true);
  // The old key is unknown now: a correctly signed assertion with it is refused like a deleted key.
  expect(
    await exchangeAssertion(
      t.key.token_uri,
      signAssertion(t.key, { sub: 'agent@acme.test', scope: SCOPES.gmailCompose }),
    ),
  ).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' } });
});

test('malformed input to the admin API is 400, not 500: a JSON syntax error, a bad percent-escape in a module route', async () => {
  const r = await fetch(`${emu.url}/emulator/v1/domains`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"domain": ',
  });
  expect(r.status).toBe(400);
  expect(await r.json()).toEqual({ error: expect.stringContaining('bad request') });
  for (const path of ['/users/%E0%A4%A/contacts', '/users/%E0%A4%A/events', '/users/%zz/messages']) {
    const res = await admin.request('GET', path);
    expect([path, res.status]).toEqual([path, 400]);
    expect(res.body).toEqual({ error: expect.stringContaining('not valid percent-encoding') });
  }
});

test('PUT /settings merges quota buckets and refuses unknown or ill-typed settings', async () => {
  const s = await admin.putSettings({ quotas: { 'gmail.units': { limitPerMinute: 10 } } });
  expect(s.quotas['gmail.units']).toEqual({ limitPerMinute: 10 });
  const s2 = await admin.putSettings({ quotas: { 'gmail.units': { errorStatus: 403 } } });
  expect(s2.quotas['gmail.units']).toEqual({ limitPerMinute: 10, errorStatus: 403 });
  const q = await admin.request<Array<{ id: string; limit: number; errorStatus: number }>>('GET', '/quotas');
  expect(q.body.find((b) => b.id === 'gmail.units')).toMatchObject({
    limit: 10,
    errorStatus: 403,
    defaultLimitPerMinute: 6000,
  });
  expect(await admin.request('PUT', '/settings', { quota: {} })).toEqual({
    status: 400,
    body: { error: expect.stringContaining('unknown setting "quota"') },
  });
  expect((await admin.request('PUT', '/settings', { acceptM8FeedsForPeople: 'yes' })).status).toBe(400);
});

test('module data routes: GET /users/{email}/messages from Gmail; contacts/events from their modules or 501', async () => {
  const t = await admin.tenant('acme.test', ['agent@acme.test'], [SCOPES.gmailCompose]);
  expect(await admin.messages('agent@acme.test')).toEqual([]);
  await googleClients(emu.url, t.key, 'agent@acme.test', [SCOPES.gmailCompose]).gmail.users.messages.send({
    userId: 'me',
    requestBody: { raw: Buffer.from('To: a@b.test\r\nSubject: x\r\n\r\nhi').toString('base64url') },
  });
  expect(await admin.messages('agent@acme.test')).toEqual([
    { id: expect.any(String), threadId: expect.any(String), labelIds: ['SENT'], raw: expect.any(String) },
  ]);
  expect((await admin.request('GET', '/users/ghost@acme.test/messages')).status).toBe(404);
  // Admin calls are never logged.
  expect((await admin.requests()).every((e) => e.api !== ('admin' as string))).toBe(true);

  // People and Calendar are installed (server.ts API_MODULES): their data routes answer 200 with an empty list.
  for (const [api, path] of [
    ['people', 'contacts'],
    ['calendar', 'events'],
  ] as const) {
    expect(emu.registry.methods.some((m) => m.api === api)).toBe(true);
    expect(await admin.request('GET', `/users/agent@acme.test/${path}`)).toEqual({ status: 200, body: [] });
  }
});

test('the admin-route hook lets a module serve data routes', async () => {
  const e = await startEmulator();
  try {
    e.registry.addAdminRoute({
      httpMethod: 'POST',
      path: /^\/users\/(?<email>[^/]+)\/emulatorTestData$/,
      handler: ({ params, body }) => ({ status: 201, body: { email: params.email, got: body } }),
    });
    const r = await new EmulatorAdmin(e.url).request('POST', '/users/a%40b.test/emulatorTestData', { x: 1 });
    expect(r).toEqual({ status: 201, body: { email: 'a@b.test', got: { x: 1 } } });
  } finally {
    await e.close();
  }
});

/**
 * `npm start` here (and `npm run emulator` in the repository root) runs dist/main.js, as `tsc -b` built it. So that
 * this test runs the current source even before a build, it transpiles src/ (self-contained) into a temp dir and
 * starts main.js from there with the package's and the repository's node_modules (where npm hoists the package's
 * dependencies) on NODE_PATH. How fast it starts is measured by `npm run bench`, not asserted here.
 */
test('standalone: EMULATOR_PORT is honoured, it prints the URL and a curl example, and serves the admin API', async () => {
  const out = mkdtempSync(join(tmpdir(), 'emulator-'));
  try {
    const srcRoot = join(__dirname, '../src');
    const walk = (dir: string): string[] =>
      readdirSync(dir).flatMap((f) => {
        const p = join(dir, f);
        return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
      });
    for (const file of walk(srcRoot)) {
      const js = ts.transpileModule(readFileSync(file, 'utf8'), {
        compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
      }).outputText;
      const target = join(out, relative(srcRoot, file)).replace(/\.ts$/, '.js');
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, js);
    }
    const port = await freePort();
    const child = spawn(process.execPath, [join(out, 'main.js')], {
      env: {
        ...process.env,
        EMULATOR_PORT: String(port),
        NODE_PATH: [join(__dirname, '../node_modules'), join(__dirname, '../../../node_modules')].join(delimiter),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const output = await new Promise<string>((resolve, reject) => {
        let text = '';
        child.stdout.on('data', (d: Buffer) => {
          text += d.toString();
          if (text.includes('curl')) resolve(text);
        });
        child.stderr.on('data', (d: Buffer) => {
          text += d.toString();
        });
        child.on('exit', (code) => reject(new Error(`emulator exited with ${code}: ${text}`)));
      });
      expect(output).toContain(`listening on http://127.0.0.1:${port}`);
      expect(output).toContain(`curl -s -X POST http://127.0.0.1:${port}/emulator/v1/domains`);
      const r = await fetch(`http://127.0.0.1:${port}/emulator/v1/domains`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ domain: 'demo.test', users: ['agent@demo.test'] }),
      });
      expect(r.status).toBe(200);
    } finally {
      child.kill('SIGTERM');
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
