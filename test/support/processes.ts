/**
 * Compiled gateway processes (`dist/src/main.js`, as `npm start` runs it; npm test builds first) for tests of what
 * only separate processes show: a SIGKILL, a graceful SIGTERM, several replicas on one database.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { DataSource } from 'typeorm';
import { signSandboxToken } from '../../src/auth/sandbox-token';
import { loadConfig } from '../../src/config';
import type { DatabaseConfig } from '../../src/db/data-source';
import { startEmulator, type RunningEmulator } from 'google-workspace-emulator';
import { GUIDE_SCOPES } from '../../src/google/scopes';
import { createTestDb, type Dialect } from './db';
import { seedBrokerage } from './gateway';
import { EmulatorAdmin } from './google';

const MAIN = resolve(__dirname, '../../dist/src/main.js');

export interface GatewayProcess {
  child: ChildProcess;
  url: string;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
}

/** Production settings with fresh secrets and a fast outbox; the caller adds the database and Google's address. */
export function processEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'production',
    // Production serves HTTPS only: the tests are the TLS-terminating proxy on loopback (gqlAt says https).
    TRUST_PROXY: 'loopback',
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
    ...extra,
  };
}

export interface ProcessBench {
  emu: RunningEmulator;
  admin: EmulatorAdmin;
  /** The database the processes share (a file for SQLite, a fresh database on the test MariaDB). */
  dbConfig: DatabaseConfig;
  close(): Promise<void>;
}

/**
 * What a suite's gateway processes share: an emulator and a database of the dialect, both written into `env`
 * (Google's addresses, SQLITE_PATH or DATABASE_URL).
 */
export async function processBench(dialect: Dialect, env: Record<string, string>): Promise<ProcessBench> {
  const emu = await startEmulator();
  Object.assign(env, { GOOGLE_API_ROOT_URL: `${emu.url}/`, GOOGLE_TOKEN_URIS: `${emu.url}/token` });
  let dbConfig: DatabaseConfig;
  let drop = async () => {};
  if (dialect === 'sqlite') {
    dbConfig = { kind: 'sqlite', path: join(mkdtempSync(join(tmpdir(), 'engage-processes-')), 'engage.sqlite') };
    env.SQLITE_PATH = dbConfig.path;
  } else {
    const t = await createTestDb('mariadb');
    dbConfig = t.config;
    await t.ds.destroy();
    drop = t.drop;
    env.DATABASE_URL = (dbConfig as { url: string }).url;
  }
  return {
    emu,
    admin: new EmulatorAdmin(emu.url),
    dbConfig,
    async close() {
      await emu.close();
      await drop();
    },
  };
}

/** Starts one; resolves with its URL once it printed it. */
export function startGatewayProcess(env: Record<string, string>): Promise<GatewayProcess> {
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`gateway did not start:\n${out}`)), 20_000);
    const onData = (d: Buffer) => {
      out += d;
      const m = /GraphQL:\s+(http:\/\/\S+)\/graphql/.exec(out);
      if (m) {
        clearTimeout(timer);
        res({ child, url: m[1], output: () => out });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d) => (out += d));
    child.once('exit', (code) => rej(new Error(`gateway exited (${code}):\n${out}`)));
  });
}

/** Stops the process (a no-op when it has exited already) and waits for its exit; resolves to its exit code. */
export async function stopGatewayProcess(
  g: { child: ChildProcess },
  signal: 'SIGKILL' | 'SIGTERM',
): Promise<number | null> {
  if (g.child.exitCode !== null || g.child.signalCode !== null) return g.child.exitCode;
  const exited = new Promise<number | null>((r) => g.child.once('exit', (code) => r(code)));
  g.child.kill(signal);
  return exited;
}

/** POST /graphql at `url`; the parsed body. */
export async function gqlAt(url: string, query: string, token: string, variables?: unknown): Promise<any> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'x-forwarded-proto': 'https' },
    body: JSON.stringify({ query, variables }),
  });
  return res.json();
}

/**
 * A brokerage in the shared database whose admin submits its key through the running gateway `url`; returns a
 * caller token per user. `users[0]` is the key's test user.
 */
export async function onboardThrough(
  admin: EmulatorAdmin,
  env: Record<string, string>,
  ds: DataSource,
  url: string,
  domain: string,
  users: string[],
): Promise<Record<string, string>> {
  const boss = `boss@${domain}`;
  const tenant = await admin.tenant(domain, [...users, boss], [...GUIDE_SCOPES]);
  const auth = loadConfig(env).auth;
  await seedBrokerage(ds, domain, [{ email: boss, role: 'admin' }]);
  const sub = await gqlAt(
    url,
    'mutation ($k: String!, $e: String!) { submitServiceAccountKey(keyJson: $k, testEmail: $e) { status } }',
    await signSandboxToken(auth, boss, { admin: true }),
    { k: JSON.stringify(tenant.key), e: users[0] },
  );
  if (sub.data?.submitServiceAccountKey?.status !== 'VERIFIED')
    throw new Error(`onboarding ${domain}: ${JSON.stringify(sub)}`);
  return Object.fromEntries(await Promise.all(users.map(async (u) => [u, await signSandboxToken(auth, u)] as const)));
}
