/**
 * The processes of the HTTP and scale benches, each as it runs in production: the emulator and the gateway in their
 * own processes (the gateway compiled, NODE_ENV=production), the database in its own (SQLite is the gateway's file).
 * With `taskset` present, the server under load gets core 0 to itself and everything else (load generator, emulator,
 * MariaDB) shares core 1.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { EmulatorAdmin } from 'google-workspace-emulator/testing';
import * as mysql from 'mysql2/promise';
import { signSandboxToken } from '../../src/auth/sandbox-token';
import { loadConfig, loadDatabaseConfig } from '../../src/config';
import { openDatabase } from '../../src/db/data-source';
import { Agent, Brokerage } from '../../src/entities';
import { GUIDE_SCOPES } from '../../src/google/scopes';
import { findMariadbd, startMariaDb, type MariaDbInstance } from '../../test/support/mariadb';

const ROOT = resolve(__dirname, '../../..');
const GATEWAY_MAIN = join(ROOT, 'dist-bench/src/main.js');
const EMULATOR_MAIN = join(ROOT, 'test/google-workspace-emulator/dist/main.js');

export type Dialect = 'sqlite' | 'mariadb';

let tasksetChecked: boolean | undefined;
/** Whether `taskset` can pin processes here (util-linux; absent on some machines, then nothing is pinned). */
export function canPin(): boolean {
  if (tasksetChecked === undefined) {
    try {
      execFileSync('taskset', ['-cp', '0', String(process.pid)], { stdio: 'ignore' });
      execFileSync('taskset', ['-cp', '0-1', String(process.pid)], { stdio: 'ignore' });
      tasksetChecked = true;
    } catch {
      tasksetChecked = false;
    }
  }
  return tasksetChecked;
}

/** Pins a running process (all its threads) to `cpus`, e.g. "1". */
export function pin(pid: number, cpus: string): void {
  if (canPin()) execFileSync('taskset', ['-a', '-cp', cpus, String(pid)], { stdio: 'ignore' });
}

export interface Child {
  child: ChildProcess;
  url: string;
  output(): string;
  /** Resident set size in MiB (VmRSS), read from /proc. */
  rssMiB(): number;
  /** CPU time the process has used (user + system), in ms, read from /proc. */
  cpuMs(): number;
  /** What it was started with, read from /proc: its node flags and allocator settings (MALLOC_*, LD_PRELOAD…). */
  runsWith(): string;
  stop(): Promise<void>;
}

/** Spawns `node args` pinned to `cpus` and resolves once its output matches `ready` (group 1 is its URL). */
export function spawnNode(
  args: string[],
  env: Record<string, string>,
  cpus: string,
  ready: RegExp,
  nodeFlags: string[] = [],
): Promise<Child> {
  const child = spawn(process.execPath, [...nodeFlags, ...args], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  pin(child.pid!, cpus);
  let out = '';
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`${args[0]} did not start:\n${out}`)), 60_000);
    const onData = (d: Buffer) => {
      // Keep what a failure report needs, not a production log's worth.
      out = (out + d.toString()).slice(-20_000);
      const m = ready.exec(out);
      if (m && timer) {
        clearTimeout(timer);
        res({
          child,
          url: m[1],
          output: () => out,
          rssMiB: () => rssMiB(child.pid!),
          cpuMs: () => cpuMs(child.pid!),
          runsWith: () => runsWith(child.pid!),
          stop: () => stopChild(child),
        });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`${args[0]} exited (${code}):\n${out}`));
    });
  });
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 102.4) / 10 : NaN;
}

/** What the process was started with, from /proc: its node flags and what changes its allocator. */
function runsWith(pid: number): string {
  const flags = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    .split('\0')
    .filter((a) => a.startsWith('--'));
  const allocator = readFileSync(`/proc/${pid}/environ`, 'utf8')
    .split('\0')
    .filter((e) => /^(MALLOC_\w+|GLIBC_TUNABLES|LD_PRELOAD|NODE_OPTIONS)=/.test(e));
  return [...flags, ...allocator].join(' ') || 'no node flags, no allocator settings';
}

let ticksPerSecond: number | undefined;

function cpuMs(pid: number): number {
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  // Fields 14 and 15 of /proc/<pid>/stat (utime, stime), counted after the command name, which may hold spaces.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond;
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => {
    child.once('exit', () => r());
    child.kill('SIGTERM');
  });
}

export function startEmulatorProcess(): Promise<Child> {
  return spawnNode([EMULATOR_MAIN], { EMULATOR_PORT: '0' }, '1', /listening on (http:\/\/\S+)/);
}

export interface Database {
  dialect: Dialect;
  /** SQLITE_PATH or DATABASE_URL for the gateway's environment. */
  env: Record<string, string>;
  close(): Promise<void>;
}

let mariadb: MariaDbInstance | undefined;

/** A fresh database: a SQLite file, or a database on a private MariaDB server (started once, on core 1). */
export async function freshDatabase(dialect: Dialect): Promise<Database | undefined> {
  if (dialect === 'sqlite') {
    return {
      dialect,
      env: { SQLITE_PATH: join(mkdtempSync(join(tmpdir(), 'engage-bench-')), 'engage.sqlite') },
      close: async () => {},
    };
  }
  if (!mariadb) {
    const mariadbd = findMariadbd();
    if (!mariadbd) return undefined;
    mariadb = await startMariaDb(mariadbd);
    pin(mariadb.pid, process.env.BENCH_MARIADB_CPUS ?? '1');
  }
  const name = `bench_${randomBytes(4).toString('hex')}`;
  const conn = await mysql.createConnection(mariadb.url);
  await conn.query(`CREATE DATABASE ${name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await conn.end();
  const url = `${mariadb.url}${name}`;
  return {
    dialect,
    env: { DATABASE_URL: url },
    async close() {
      const c = await mysql.createConnection(mariadb!.url);
      await c.query(`DROP DATABASE ${name}`);
      await c.end();
    },
  };
}

export async function stopMariaDb(): Promise<void> {
  await mariadb?.stop();
  mariadb = undefined;
}

/** The production environment of the benches' gateways: fresh secrets, Google at the emulator, TLS at a proxy. */
export function gatewayEnv(
  emulatorUrl: string,
  db: Database,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    NODE_ENV: 'production',
    TRUST_PROXY: 'loopback',
    HOST: '127.0.0.1',
    PORT: '0',
    JWT_SECRET: randomBytes(32).toString('base64'),
    JWT_ISSUER: 'https://id.crm.test',
    JWT_AUDIENCE: 'engage-gateway',
    KEY_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`,
    LOG_LEVEL: 'warn',
    GOOGLE_API_ROOT_URL: `${emulatorUrl}/`,
    GOOGLE_TOKEN_URIS: `${emulatorUrl}/token`,
    ...db.env,
    ...extra,
  };
}

/**
 * How production runs the gateway, from deploy/Dockerfile's runtime stage: the node flags of its CMD (the heap's
 * sizes), and the C library's settings its `ENV` sets, `MALLOC_*` and `GLIBC_TUNABLES` (glibc's malloc arenas), in
 * their `NAME=value` form, quotes taken off as Docker does. The rest of that ENV is the bench's own to set (NODE_ENV,
 * ports).
 */
function productionRuntime(): { flags: string[]; env: Record<string, string> } {
  const dockerfile = readFileSync(join(ROOT, 'deploy/Dockerfile'), 'utf8');
  const stage = /^FROM\s+\S+\s+AS\s+runtime\s*$/im.exec(dockerfile);
  if (!stage) throw new Error('deploy/Dockerfile has no runtime stage (FROM … AS runtime)');
  const rest = dockerfile.slice(stage.index + stage[0].length);
  const runtime = rest.slice(0, /^FROM\s/im.exec(rest)?.index ?? rest.length);
  const cmd = /^CMD (\[.*\])$/m.exec(runtime);
  if (!cmd) throw new Error('deploy/Dockerfile has no CMD line in its runtime stage');
  const env: Record<string, string> = {};
  for (const [, line] of runtime.replace(/\\\n/g, ' ').matchAll(/^ENV\s+(.+)$/gim)) {
    if (!line.includes('=')) throw new Error(`deploy/Dockerfile: ENV without NAME=value: ${line}`);
    for (const [, name, value] of line.matchAll(/(?:^|\s)(MALLOC_\w+|GLIBC_TUNABLES)=("[^"]*"|'[^']*'|\S+)/g))
      env[name] = /^(["']).*\1$/.test(value) ? value.slice(1, -1) : value;
  }
  return { flags: (JSON.parse(cmd[1]) as string[]).filter((a) => a.startsWith('--')), env };
}

/**
 * BENCH_GATEWAY_ENV, `NAME=value …` over the gateway's environment; `NAME=` takes the variable away (e.g.
 * `MALLOC_ARENA_MAX=` measures with glibc's own number of arenas, whatever the machine).
 */
function benchGatewayEnv(env: Record<string, string>): Record<string, string> {
  const out = { ...env };
  for (const pair of (process.env.BENCH_GATEWAY_ENV ?? '').split(/\s+/).filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq < 1) throw new Error(`BENCH_GATEWAY_ENV: "${pair}" is not NAME=value`);
    const [name, value] = [pair.slice(0, eq), pair.slice(eq + 1)];
    if (value === '') delete out[name];
    else out[name] = value;
  }
  return out;
}

/**
 * The compiled gateway, with production's node flags and allocator settings (plus `nodeFlags`, e.g. a CPU profile, and
 * BENCH_GATEWAY_ENV).
 */
export function startGateway(env: Record<string, string>, nodeFlags: string[] = []): Promise<Child> {
  const production = productionRuntime();
  return spawnNode(
    [GATEWAY_MAIN],
    benchGatewayEnv({ ...production.env, ...env }),
    '0',
    /GraphQL:\s+(http:\/\/\S+)\/graphql/,
    [...production.flags, ...nodeFlags],
  );
}

/** Headers of an agent's request as the TLS-terminating proxy forwards it. */
export function headers(token: string): Record<string, string> {
  return { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'x-forwarded-proto': 'https' };
}

export async function gql(url: string, token: string, query: string, variables?: unknown): Promise<any> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: headers(token),
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: any; errors?: unknown[] };
  if (body.errors) throw new Error(`bench query failed: ${JSON.stringify(body.errors).slice(0, 2000)}`);
  return body.data;
}

export interface Tenant {
  /** A caller token per user. */
  tokens: Record<string, string>;
  admin: EmulatorAdmin;
}

/**
 * A brokerage of `domain` with `users`: registered in the database, its key made in the emulator and submitted by
 * its admin through the running gateway (verified as in production).
 */
export async function onboard(
  gatewayUrl: string,
  emulatorUrl: string,
  env: Record<string, string>,
  domain: string,
  users: string[],
): Promise<Tenant> {
  const admin = new EmulatorAdmin(emulatorUrl);
  const boss = `boss@${domain}`;
  const tenant = await admin.tenant(domain, [...users, boss], [...GUIDE_SCOPES]);
  const ds = await openDatabase(loadDatabaseConfig(env));
  try {
    const b = { id: randomUUID(), name: `Brokerage ${domain}`, domain, createdAt: new Date() };
    await ds.getRepository(Brokerage).insert(b);
    await ds.getRepository(Agent).insert({
      id: randomUUID(),
      brokerageId: b.id,
      email: boss,
      role: 'admin',
      createdAt: new Date(),
      lastSeenAt: null,
    });
  } finally {
    await ds.destroy();
  }
  const auth = loadConfig(env).auth;
  const sub = await gql(
    gatewayUrl,
    await signSandboxToken(auth, boss, { admin: true }),
    'mutation ($k: String!, $e: String!) { submitServiceAccountKey(keyJson: $k, testEmail: $e) { status } }',
    { k: JSON.stringify(tenant.key), e: users[0] },
  );
  if (sub.submitServiceAccountKey.status !== 'VERIFIED')
    throw new Error(`onboarding ${domain}: ${JSON.stringify(sub)}`);
  const tokens: Record<string, string> = {};
  for (const u of users) tokens[u] = await signSandboxToken(auth, u);
  return { tokens, admin };
}
