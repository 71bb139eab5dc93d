/**
 * A gateway process killed with SIGKILL while writes are undelivered — some
 * merely queued, some sent to Google with the answer never read — and then
 * restarted: everything arrives, nothing twice. Runs the compiled gateway
 * (npm test builds first) against the test's emulator, on SQLite (a file
 * shared by the processes) and on MariaDB.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { signSandboxToken } from '../../src/auth/sandbox-token';
import { loadConfig } from '../../src/config';
import { openDatabase, type DatabaseConfig } from '../../src/db/data-source';
import { startEmulator, type RunningEmulator } from '../../src/emulator/server';
import { Contact, OutboxRow } from '../../src/entities';
import { GUIDE_SCOPES } from '../../src/google/scopes';
import { createTestDb, mariaDbAvailable, type Dialect } from '../support/db';
import { seedBrokerage } from '../support/gateway';
import { EmulatorAdmin } from '../support/google';

const MAIN = resolve(__dirname, '../../dist/src/main.js');
const AGENT = 'agent@alpha.test';

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

for (const dialect of ['sqlite', 'mariadb'] as Dialect[]) {
  (dialect === 'mariadb' && !mariaDbAvailable() ? describe.skip : describe)(`[${dialect}] gateway killed with undelivered writes`, () => {
    let emu: RunningEmulator;
    let admin: EmulatorAdmin;
    let dbConfig: DatabaseConfig;
    let drop = async () => {};
    const env: Record<string, string> = {
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: '0',
      JWT_SECRET: randomBytes(32).toString('base64'),
      JWT_ISSUER: 'https://id.crm.test',
      JWT_AUDIENCE: 'engage-gateway',
      KEY_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`,
      LOG_LEVEL: 'error',
      MUTATION_WAIT_MS: '300',
      OUTBOX_POLL_MS: '100',
      OUTBOX_LEASE_MS: '1500',
      OUTBOX_RETRY_BASE_MS: '50',
      OUTBOX_RETRY_MAX_MS: '300',
    };

    beforeAll(async () => {
      emu = await startEmulator();
      admin = new EmulatorAdmin(emu.url);
      Object.assign(env, { GOOGLE_API_ROOT_URL: `${emu.url}/`, GOOGLE_TOKEN_URIS: `${emu.url}/token` });
      if (dialect === 'sqlite') {
        dbConfig = { kind: 'sqlite', path: join(mkdtempSync(join(tmpdir(), 'engage-kill-')), 'engage.sqlite') };
        env.SQLITE_PATH = dbConfig.path;
      } else {
        const t = await createTestDb('mariadb');
        dbConfig = t.config;
        await t.ds.destroy();
        drop = t.drop;
        env.DATABASE_URL = (dbConfig as { url: string }).url;
      }
    });
    afterAll(async () => {
      await emu.close();
      await drop();
    });

    function startGateway(): Promise<{ child: ChildProcess; url: string }> {
      const child = spawn(process.execPath, [MAIN], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      return new Promise((res, rej) => {
        const timer = setTimeout(() => rej(new Error(`gateway did not start:\n${out}`)), 20_000);
        const onData = (d: Buffer) => {
          out += d;
          const m = /GraphQL:\s+(http:\/\/\S+)\/graphql/.exec(out);
          if (m) {
            clearTimeout(timer);
            res({ child, url: m[1] });
          }
        };
        child.stdout!.on('data', onData);
        child.stderr!.on('data', (d) => (out += d));
        child.once('exit', (code) => rej(new Error(`gateway exited (${code}):\n${out}`)));
      });
    }

    test('every accepted contact reaches Google exactly once after a SIGKILL and a restart', async () => {
      const tenant = await admin.tenant('alpha.test', [AGENT, 'boss@alpha.test'], [...GUIDE_SCOPES]);
      const first = await startGateway();
      const cfg = loadConfig(env);
      const gql = async (url: string, query: string, token: string, variables?: unknown) =>
        (await (await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query, variables }) })).json()) as any;
      // The brokerage exists in the shared database; its admin submits the key through the first process.
      const ds = await openDatabase(dbConfig);
      try {
        await seedBrokerage(ds, 'alpha.test', [{ email: 'boss@alpha.test', role: 'admin' }]);
        const adminToken = await signSandboxToken(cfg.auth, 'boss@alpha.test', { admin: true });
        const sub = await gql(first.url, 'mutation ($k: String!) { submitServiceAccountKey(keyJson: $k, testEmail: "agent@alpha.test") { status } }', adminToken, { k: JSON.stringify(tenant.key) });
        expect(sub.data.submitServiceAccountKey.status).toBe('VERIFIED');
        const token = await signSandboxToken(cfg.auth, AGENT);

        // Batch 1 is sent and committed by Google, but its answer is held back past the kill (in flight).
        await admin.addFault({ api: 'people', method: 'people.people.batchCreateContacts', latencyMs: 2500, afterCommit: true, resetConnection: true });
        const a = await gql(first.url, 'mutation { createContacts(input: [{ givenName: "A1" }, { givenName: "A2" }]) { id syncState } }', token);
        expect(a.data.createContacts.map((c: { syncState: string }) => c.syncState)).toEqual(['PENDING', 'PENDING']);
        // Batch 2 only queued: Google refuses for now.
        await admin.addFault({ api: 'people', method: 'people.people.batchCreateContacts', status: 503, unlimited: true });
        const b = await gql(first.url, 'mutation { createContacts(input: [{ givenName: "B1" }, { givenName: "B2" }, { givenName: "B3" }]) { id syncState } }', token);
        expect(b.data.createContacts.every((c: { syncState: string }) => c.syncState === 'PENDING')).toBe(true);

        first.child.kill('SIGKILL');
        await new Promise((r) => first.child.once('exit', r));
        await new Promise((r) => setTimeout(r, 2600)); // the held-back batch commits in Google meanwhile
        await admin.clearFaults();
        expect(await ds.getRepository(OutboxRow).count()).toBe(5);

        const second = await startGateway();
        try {
          await until('every outbox row delivered', async () => (await ds.getRepository(OutboxRow).count()) === 0);
          const google = (await admin.request<{ resourceName: string; names: { givenName: string }[]; clientData?: { value: string }[] }[]>('GET', `/users/${AGENT}/contacts`)).body;
          expect(google.map((p) => p.names[0].givenName).sort()).toEqual(['A1', 'A2', 'B1', 'B2', 'B3']);
          const mirror = await ds.getRepository(Contact).find();
          expect(mirror.map((c) => [c.givenName, c.syncState]).sort()).toEqual([['A1', 'SYNCED'], ['A2', 'SYNCED'], ['B1', 'SYNCED'], ['B2', 'SYNCED'], ['B3', 'SYNCED']]);
          expect(new Set(mirror.map((c) => c.resourceName))).toEqual(new Set(google.map((p) => p.resourceName)));
          expect(google.map((p) => p.clientData?.[0]?.value).sort()).toEqual(mirror.map((c) => c.id).sort());
        } finally {
          second.child.kill('SIGTERM');
          await new Promise((r) => second.child.once('exit', r));
        }
      } finally {
        await ds.destroy();
      }
    }, 60_000);
  });
}
