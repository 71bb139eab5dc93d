/**
 * `npm run onboard` (compiled): prints each check as it completes, stores the
 * key when it verifies, and exits 0 / 2 / 1 for verified / cannot be
 * verified / usage errors.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startEmulator, type RunningEmulator } from '../../src/emulator/server';
import { GUIDE_SCOPES } from '../../src/google/scopes';
import { EmulatorAdmin, type Tenant } from '../support/google';

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
    env: { PATH: process.env.PATH, DATA_DIR: dataDir, GOOGLE_API_ROOT_URL: `${emu.url}/`, GOOGLE_TOKEN_URIS: `${emu.url}/token` },
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

test('a healthy key: every check printed, stored, exit 0', async () => {
  const res = await run(['--brokerage', 'alpha.test', '--name', 'Alpha Realty', '--key', keyFile(tenant.key), '--test-email', 'tester@alpha.test']);
  expect(res.stderr).toBe('');
  expect(res.code).toBe(0);
  const lines = res.stdout.split('\n').filter((l) => /^[✓✗] /.test(l));
  expect(lines.map((l) => l.split(/\s+/)[1]).sort()).toEqual(['api:calendar', 'api:gmail', 'api:people', 'sync:contacts', 'token:calendar', 'token:contacts', 'token:mail']);
  expect(lines.every((l) => l.startsWith('✓'))).toBe(true);
  expect(res.stdout).toContain('registered brokerage Alpha Realty (alpha.test)');
  expect(res.stdout).toContain(`VERIFIED: key ${tenant.key.private_key_id} of ${tenant.key.client_email} is stored`);
  expect(res.stdout).not.toContain('PRIVATE KEY');
});

test('a Gmail API switched off: the fix is printed, exit 2, the stored key is unchanged', async () => {
  await admin.setApi('gmail', false, tenant.clientId);
  const second = await admin.addKey(tenant.clientId);
  const res = await run(['--brokerage', 'alpha.test', '--key', keyFile(second.key), '--test-email', 'tester@alpha.test']);
  await admin.setApi('gmail', true, tenant.clientId);
  expect(res.code).toBe(2);
  expect(res.stdout).toMatch(/✗ api:gmail\s+API_DISABLED\s+The Gmail API is not enabled in Google Cloud project \d+/);
  expect(res.stdout).toMatch(/fix: Enable the Gmail API in project \d+ \(guide step "Enable Gmail API"\): https:\/\/console\.developers\.google\.com\//);
  expect(res.stdout).toContain('CANNOT BE VERIFIED: nothing was stored');
});

test('usage and unreadable key files exit 1 with a clear message', async () => {
  expect(await run([])).toMatchObject({ code: 1, stderr: expect.stringContaining('usage: npm run onboard -- --brokerage <domain>') });
  expect(await run(['--brokerage', 'alpha.test', '--key', '/nope.json', '--test-email', 'tester@alpha.test'])).toMatchObject({ code: 1, stderr: expect.stringContaining('cannot read the key file /nope.json: ENOENT') });
  expect(await run(['--brokerage', 'gamma.test', '--key', keyFile(tenant.key), '--test-email', 'tester@gamma.test'])).toMatchObject({ code: 1, stderr: expect.stringContaining('add --name "Brokerage name" to register it') });
});
