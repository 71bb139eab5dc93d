/**
 * `npm run keys:rewrap` (compiled dist/src/cli/rewrap-keys.js) against a temp SQLite database: keys stored by a
 * gateway running with KEK k1 are re-wrapped under k2 when KEY_ENCRYPTION_KEYS becomes "k2,k1"; afterwards a gateway
 * configured with k2 alone still decrypts and uses them, and one with k1 alone no longer can. A run that cannot unwrap
 * (the old KEK not configured) reports every row, exits 1 and changes nothing.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import { Envelope } from '../../src/crypto/envelope';
import { openDatabase } from '../../src/db/data-source';
import { startEmulator, type RunningEmulator } from 'google-workspace-emulator';
import { AuditLog, ServiceAccountCredential } from '../../src/entities';
import { GUIDE_SCOPES } from '../../src/google/scopes';
import { seedBrokerage, startTestGateway } from '../support/gateway';
import { EmulatorAdmin } from '../support/google';
import { runCli } from './run-cli';

const kek = (id: string) => ({ id, key: randomBytes(32) });
const K1 = kek('k1');
const K2 = kek('k2');
const K3 = kek('k3');
const setting = (...keks: Array<{ id: string; key: Buffer }>) =>
  keks.map((k) => `${k.id}:${k.key.toString('base64')}`).join(',');
const DOMAINS = ['alpha.test', 'beta.test'];

let emu: RunningEmulator;
let dir: string;
let ds: DataSource;

beforeAll(async () => {
  emu = await startEmulator();
  dir = mkdtempSync(join(tmpdir(), 'engage-rewrap-'));
  ds = await openDatabase({ kind: 'sqlite', path: join(dir, 'engage.sqlite') });
});
afterAll(async () => {
  await ds?.destroy();
  await emu?.close();
});

const googleEnv = () => ({ GOOGLE_API_ROOT_URL: `${emu.url}/`, GOOGLE_TOKEN_URIS: `${emu.url}/token` });
const rewrap = (keks: string) =>
  runCli('rewrap-keys', [], {
    env: { DATA_DIR: dir, SQLITE_PATH: join(dir, 'engage.sqlite'), KEY_ENCRYPTION_KEYS: keks },
  });
const credentials = () => ds.getRepository(ServiceAccountCredential).find({ order: { clientEmail: 'ASC' } });
const rewrapAudits = async () =>
  (await ds.getRepository(AuditLog).find({ where: { action: 'credential.kek_rewrapped' } })).map((a) => ({
    actor: a.actor,
    target: a.target,
    brokerageId: a.brokerageId,
    detail: JSON.parse(a.detail!),
  }));

/**
 * Each brokerage's admin runs verifyServiceAccount on a gateway configured with `keks`: the stored key decrypted, used.
 */
async function verifyAll(keks: string): Promise<unknown[]> {
  const gw = await startTestGateway(ds, { env: { ...googleEnv(), KEY_ENCRYPTION_KEYS: keks } });
  try {
    return await Promise.all(
      DOMAINS.map(
        async (d) =>
          (
            await gw.gql('mutation { verifyServiceAccount { status } }', {
              token: await gw.token(`boss@${d}`, { admin: true }),
            })
          ).body,
      ),
    );
  } finally {
    await gw.close();
  }
}

test('re-wraps every data key under the new KEK; the gateway still decrypts with the new KEK alone', async () => {
  // Two brokerages' keys, stored by a gateway running with k1.
  const admin = new EmulatorAdmin(emu.url);
  const gw = await startTestGateway(ds, { env: { ...googleEnv(), KEY_ENCRYPTION_KEYS: setting(K1) } });
  try {
    for (const d of DOMAINS) {
      const tenant = await admin.tenant(d, [`tester@${d}`, `boss@${d}`], [...GUIDE_SCOPES]);
      await seedBrokerage(ds, d, [{ email: `boss@${d}`, role: 'admin' }]);
      const res = await gw.gql(
        'mutation ($k: String!, $e: String!) { submitServiceAccountKey(keyJson: $k, testEmail: $e) { status } }',
        {
          token: await gw.token(`boss@${d}`, { admin: true }),
          variables: { k: JSON.stringify(tenant.key), e: `tester@${d}` },
        },
      );
      expect(res.body.data?.submitServiceAccountKey.status).toBe('VERIFIED');
    }
  } finally {
    await gw.close();
  }
  const stored = await credentials();
  expect(stored.map((c) => c.kekId)).toEqual(['k1', 'k1']);

  // Without k1 configured nothing can be unwrapped: each row reported, exit 1, the database untouched.
  const blind = await rewrap(setting(K3));
  expect(blind.code).toBe(1);
  expect(blind.stderr).toBe('');
  const lines = blind.stdout.split('\n');
  expect(lines.slice(0, 3)).toEqual(['active key-encryption key: k3', 're-wrapped: 0', 'failed: 2']);
  expect(lines.slice(3).sort()).toEqual(
    [
      '', // the final newline
      ...stored.map(
        (c) =>
          `  credential ${c.id} (brokerage ${c.brokerageId}): data key of brokerage ${c.brokerageId} is wrapped by key-encryption key "k1", which is not configured (configured: k3)`,
      ),
    ].sort(),
  );
  expect(await credentials()).toEqual(stored);
  expect(await rewrapAudits()).toEqual([]);

  // k2 first, k1 still listed: every data key re-wrapped by k2; the secrets themselves untouched.
  const run = await rewrap(setting(K2, K1));
  expect(run).toEqual({ code: 0, stdout: 'active key-encryption key: k2\nre-wrapped: 2\nfailed: 0\n', stderr: '' });
  const after = await credentials();
  for (const [i, c] of after.entries()) {
    expect(c.kekId).toBe('k2');
    expect(c.wrappedKey).not.toBe(stored[i].wrappedKey);
    expect(c.ciphertext).toBe(stored[i].ciphertext);
    expect({ ...c, kekId: 'k1', wrappedKey: stored[i].wrappedKey, updatedAt: stored[i].updatedAt }).toEqual(stored[i]); // nothing else changed
    const ctx = { brokerageId: c.brokerageId, purpose: 'service-account-key' } as const;
    expect(new Envelope([K2]).decrypt(c, ctx)).toBe(new Envelope([K1]).decrypt(stored[i], ctx));
    expect(() => new Envelope([K1]).decrypt(c, ctx)).toThrow(
      /wrapped by key-encryption key "k2", which is not configured/,
    );
  }
  expect((await rewrapAudits()).sort((a, b) => a.target!.localeCompare(b.target!))).toEqual(
    [...after]
      .sort((a, b) => a.id.localeCompare(b.id))
      .map((c) => ({
        actor: 'cli:keys:rewrap',
        target: c.id,
        brokerageId: c.brokerageId,
        detail: { from: 'k1', to: 'k2' },
      })),
  );

  // Again: nothing left to do.
  expect(await rewrap(setting(K2, K1))).toEqual({
    code: 0,
    stdout: 'active key-encryption key: k2\nre-wrapped: 0\nfailed: 0\n',
    stderr: '',
  });
  expect(await credentials()).toEqual(after);

  // The gateway with the new KEK alone decrypts the keys and uses them against Google; with the old one alone it
  // cannot.
  expect(await verifyAll(setting(K2))).toEqual(
    DOMAINS.map(() => ({ data: { verifyServiceAccount: { status: 'VERIFIED' } } })),
  );
  const old = await verifyAll(setting(K1));
  expect(
    old.map((b) => [
      (b as { data: unknown }).data,
      (b as { errors?: { path: string[] }[] }).errors?.map((e) => e.path),
    ]),
  ).toEqual(DOMAINS.map(() => [null, [['verifyServiceAccount']]]));
});
