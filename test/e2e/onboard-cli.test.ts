/**
 * `npm run onboard` (compiled): prints each check as it completes, stores the
 * key when it verifies, and exits 0 / 2 / 1 for verified / cannot be
 * verified / usage errors. What it says is checked against what it did: the
 * rows of its SQLite database (DATA_DIR/engage.sqlite), read by the test.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Envelope } from '../../src/crypto/envelope';
import { openDatabase } from '../../src/db/data-source';
import { startEmulator, type RunningEmulator } from 'google-workspace-emulator';
import { AuditLog, Brokerage, ServiceAccountCredential } from '../../src/entities';
import { GUIDE_SCOPES } from '../../src/google/scopes';
import { EmulatorAdmin, type ServiceAccountKeyFile, type Tenant } from '../support/google';

const CLI = resolve(__dirname, '../../dist/src/cli/onboard.js');

let emu: RunningEmulator;
let admin: EmulatorAdmin;
let tenant: Tenant;
let dataDir: string;

beforeAll(async () => {
  emu = await startEmulator();
  admin = new EmulatorAdmin(emu.url);
  tenant = await admin.tenant('alpha.test', ['tester@alpha.test'], [...GUIDE_SCOPES]);
  dataDir = mkdtempSync(join(tmpdir(), 'engage-onboard-'));
});
afterAll(() => emu.close());

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // Async spawn: the in-process emulator must keep answering while the CLI runs.
  const child = spawn(process.execPath, [CLI, ...args], {
    env: {
      PATH: process.env.PATH,
      DATA_DIR: dataDir,
      GOOGLE_API_ROOT_URL: `${emu.url}/`,
      GOOGLE_TOKEN_URIS: `${emu.url}/token`,
    },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((r) => child.on('exit', (code) => r({ code, stdout, stderr })));
}

function keyFile(key: unknown): string {
  const f = join(dataDir, `key-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(f, JSON.stringify(key), { mode: 0o600 });
  return f;
}

/** The CLI's database as it left it: brokerages, credentials (every column), audit rows, oldest first. */
async function stored() {
  const ds = await openDatabase({ kind: 'sqlite', path: join(dataDir, 'engage.sqlite') });
  try {
    return {
      brokerages: await ds.getRepository(Brokerage).find(),
      credentials: await ds.getRepository(ServiceAccountCredential).find({ order: { createdAt: 'ASC' } }),
      audit: (await ds.getRepository(AuditLog).find({ order: { at: 'ASC' } })).map((a) => ({
        ...a,
        detail: a.detail === null ? null : JSON.parse(a.detail),
      })),
      /** Every value of every table, as text: for looking for secrets. */
      allText: (
        await Promise.all(ds.entityMetadatas.map((m) => ds.query(`SELECT * FROM ${ds.driver.escape(m.tableName)}`)))
      )
        .map((rows) => JSON.stringify(rows))
        .join('\n'),
    };
  } finally {
    await ds.destroy();
  }
}

/** Neither the PEM armour nor any 32-character piece of the key's body, in the rows or anywhere in the files. */
function expectNoPrivateKeyText(haystack: { allText: string }, key: ServiceAccountKeyFile): void {
  const body = key.private_key.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
  const pieces = Array.from({ length: Math.floor(body.length / 32) }, (_, i) => body.slice(i * 32, i * 32 + 32));
  const files = ['engage.sqlite', 'engage.sqlite-wal']
    .map((f) => join(dataDir, f))
    .filter(existsSync)
    .map((f) => readFileSync(f).toString('latin1'))
    .join('');
  for (const text of [haystack.allText, files]) {
    expect(text).not.toContain('PRIVATE KEY');
    expect(pieces.filter((p) => text.includes(p))).toEqual([]);
  }
}

/** The KEK the sandbox-mode CLI made for itself in DATA_DIR (KEY_ENCRYPTION_KEYS unset). */
function sandboxEnvelope(): Envelope {
  const { kek } = JSON.parse(readFileSync(join(dataDir, 'sandbox-secrets.json'), 'utf8')) as { kek: string };
  return new Envelope([{ id: 'sandbox', key: Buffer.from(kek, 'base64') }]);
}

test('a healthy key: every check printed, stored, exit 0', async () => {
  const res = await run([
    '--brokerage',
    'alpha.test',
    '--name',
    'Alpha Realty',
    '--key',
    keyFile(tenant.key),
    '--test-email',
    'tester@alpha.test',
  ]);
  expect(res.stderr).toBe('');
  expect(res.code).toBe(0);
  const lines = res.stdout.split('\n').filter((l) => /^[✓✗] /.test(l));
  expect(lines.map((l) => l.split(/\s+/)[1]).sort()).toEqual([
    'api:calendar',
    'api:gmail',
    'api:people',
    'sync:contacts',
    'token:calendar',
    'token:contacts',
    'token:mail',
  ]);
  expect(lines.every((l) => l.startsWith('✓'))).toBe(true);
  expect(res.stdout).toContain('registered brokerage Alpha Realty (alpha.test)');
  expect(res.stdout).toContain(`VERIFIED: key ${tenant.key.private_key_id} of ${tenant.key.client_email} is stored`);
  expect(res.stdout).not.toContain('PRIVATE KEY');

  // What it did: the brokerage, one credential in use, its key sealed (the DB holds no private-key text), an audit row.
  const db = await stored();
  expect(db.brokerages.map((b) => [b.domain, b.name])).toEqual([['alpha.test', 'Alpha Realty']]);
  const brokerageId = db.brokerages[0].id;
  expect(db.credentials).toHaveLength(1);
  const cred = db.credentials[0];
  expect(cred).toMatchObject({
    brokerageId,
    status: 'VERIFIED',
    clientEmail: tenant.key.client_email,
    clientId: tenant.key.client_id,
    privateKeyId: tenant.key.private_key_id,
    testEmail: 'tester@alpha.test',
    kekId: 'sandbox',
    verifiedAt: expect.any(Date),
  });
  expect([cred.wrappedKey, cred.ciphertext].every((v) => v.startsWith('v1.'))).toBe(true);
  expect(JSON.parse(sandboxEnvelope().decrypt(cred, { brokerageId, purpose: 'service-account-key' }))).toEqual(
    tenant.key,
  );
  expectNoPrivateKeyText(db, tenant.key);
  expect(
    db.audit.map((a) => [a.actor, a.action, a.target, a.brokerageId, a.detail.outcome, a.detail.privateKeyId]),
  ).toEqual([['cli:onboard', 'credential.submitted', cred.id, brokerageId, 'VERIFIED', tenant.key.private_key_id]]);
});

test('a Gmail API switched off: the fix is printed, exit 2, the stored key is unchanged', async () => {
  const before = await stored();
  expect(before.credentials).toHaveLength(1); // the key the test above stored
  await admin.setApi('gmail', false, tenant.clientId);
  const second = await admin.addKey(tenant.clientId);
  const res = await run([
    '--brokerage',
    'alpha.test',
    '--key',
    keyFile(second.key),
    '--test-email',
    'tester@alpha.test',
  ]);
  await admin.setApi('gmail', true, tenant.clientId);
  expect(res.code).toBe(2);
  expect(res.stdout).toMatch(/✗ api:gmail\s+API_DISABLED\s+The Gmail API is not enabled in Google Cloud project \d+/);
  expect(res.stdout).toMatch(
    /fix: Enable the Gmail API in project \d+ \(guide step "Enable Gmail API"\): https:\/\/console\.developers\.google\.com\//,
  );
  expect(res.stdout).toContain('CANNOT BE VERIFIED: nothing was stored');

  // What it did: the credential row is exactly as it was (every column); the attempt is audited, without a target.
  const after = await stored();
  expect(after.credentials).toEqual(before.credentials);
  expectNoPrivateKeyText(after, second.key);
  expect(after.audit.slice(0, before.audit.length)).toEqual(before.audit);
  expect(
    after.audit
      .slice(before.audit.length)
      .map((a) => [a.actor, a.action, a.target, a.detail.outcome, a.detail.privateKeyId, a.detail.failed]),
  ).toEqual([
    [
      'cli:onboard',
      'credential.submitted',
      null,
      'CANNOT_BE_VERIFIED',
      second.key.private_key_id,
      ['api:gmail:API_DISABLED'],
    ],
  ]);
});

test('usage and unreadable key files exit 1 with a clear message', async () => {
  expect(await run([])).toMatchObject({
    code: 1,
    stderr: expect.stringContaining('usage: npm run onboard -- --brokerage <domain>'),
  });
  expect(
    await run(['--brokerage', 'alpha.test', '--key', '/nope.json', '--test-email', 'tester@alpha.test']),
  ).toMatchObject({ code: 1, stderr: expect.stringContaining('cannot read the key file /nope.json: ENOENT') });
  expect(
    await run(['--brokerage', 'gamma.test', '--key', keyFile(tenant.key), '--test-email', 'tester@gamma.test']),
  ).toMatchObject({ code: 1, stderr: expect.stringContaining('add --name "Brokerage name" to register it') });
});
