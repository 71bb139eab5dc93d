/**
 * The newcomer's path, on the compiled build (`npm test` builds first):
 * `npm start` brings up the sandbox, prints a URL and working tokens, and
 * stops cleanly; a bad configuration stops it with one clear line per problem.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../..');
const MAIN = join(ROOT, 'dist/src/main.js');
const TOKEN_CLI = join(ROOT, 'dist/src/cli/token.js');

beforeAll(() => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` (npm test does it first)`);
});

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
  return { ...env, ...extra };
}

function startSandbox(
  dataDir: string,
): Promise<{ child: ChildProcess; out: string; url: string; agentToken: string; adminToken: string }> {
  const child = spawn(process.execPath, [MAIN], {
    env: cleanEnv({ DATA_DIR: dataDir, PORT: '0', EMULATOR_PORT: '0', LOG_LEVEL: 'warn' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((resolveStart, reject) => {
    const timer = setTimeout(() => reject(new Error(`no banner within 20 s:\n${out}`)), 20_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const url = /GraphQL:\s+(http:\/\/\S+)\/graphql/.exec(out)?.[1];
      const agentToken = /agent agent@demo\.test:\s+(\S+)/.exec(out)?.[1];
      const adminToken = /admin admin@demo\.test:\s+(\S+)/.exec(out)?.[1];
      if (url && agentToken && adminToken && /Try it:/.test(out)) {
        clearTimeout(timer);
        resolveStart({ child, out, url, agentToken, adminToken });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => reject(new Error(`exited with ${code} before it was up:\n${out}`)));
  });
}

async function gql(url: string, token: string, query: string) {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query }),
  });
  return res.json() as Promise<{ data?: any; errors?: any[] }>;
}

function stop(child: ChildProcess): Promise<number | null> {
  return new Promise((r) => {
    child.once('exit', (code) => r(code));
    child.kill('SIGTERM');
  });
}

test('npm start: sandbox up with demo tenant and working tokens; restarts on the same data; stops on SIGTERM', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'engage-sandbox-'));
  const first = await startSandbox(dataDir);
  try {
    expect(first.out).toContain('demo brokerage demo.test');
    expect((await gql(first.url, first.agentToken, '{ me { email role brokerage { domain name } } }')).data).toEqual({
      me: { email: 'agent@demo.test', role: 'AGENT', brokerage: { domain: 'demo.test', name: 'Demo Realty' } },
    });
    // The demo key was provisioned in the in-process emulator and verified through the real onboarding path.
    expect(first.out).toMatch(/Demo service account \S+@\S+: VERIFIED \(7\/7 checks ok\)/);
    const emulatorUrl = /Google Workspace emulator: (http:\/\/\S+)/.exec(first.out)![1];
    const sa = (
      await gql(first.url, first.adminToken, '{ me { role } serviceAccount { clientEmail status grantedScopes } }')
    ).data;
    expect(sa.me).toEqual({ role: 'ADMIN' });
    expect(sa.serviceAccount).toMatchObject({
      status: 'VERIFIED',
      grantedScopes: expect.arrayContaining(['https://www.googleapis.com/auth/gmail.compose']),
    });
    const tokenCalls = (await (await fetch(`${emulatorUrl}/emulator/v1/requests?api=token`)).json()) as {
      user: string;
      status: number;
    }[];
    expect(tokenCalls.map((c) => [c.user, c.status])).toEqual(Array(3).fill(['agent@demo.test', 200]));
    expect(
      (await gql(first.url, first.agentToken, '{ serviceAccount { clientEmail } }')).errors?.[0].extensions.code,
    ).toBe('FORBIDDEN');
    expect(await (await fetch(`${first.url}/readyz`)).json()).toEqual({ status: 'ready', database: 'ok' });

    // `npm run token` signs with the same persisted sandbox secret.
    const cli = spawnSync(process.execPath, [TOKEN_CLI, '--email', 'newcomer@demo.test', '--admin'], {
      env: cleanEnv({ DATA_DIR: dataDir }),
      encoding: 'utf8',
    });
    expect(cli.status).toBe(0);
    expect((await gql(first.url, cli.stdout.trim(), '{ me { email role } }')).data).toEqual({
      me: { email: 'newcomer@demo.test', role: 'ADMIN' },
    });
  } finally {
    expect(await stop(first.child)).toBe(0);
  }

  const second = await startSandbox(dataDir);
  try {
    // Old tokens still work after a restart: the secrets are kept under data/.
    expect((await gql(second.url, first.agentToken, '{ me { email } }')).data).toEqual({
      me: { email: 'agent@demo.test' },
    });
    // The fresh emulator's new demo key replaced the previous start's.
    expect(second.out).toMatch(/Demo service account \S+: VERIFIED/);
    expect((await gql(second.url, first.adminToken, '{ serviceAccount { status } }')).data).toEqual({
      serviceAccount: { status: 'VERIFIED' },
    });
  } finally {
    await stop(second.child);
  }
}, 60_000);

test('a bad configuration stops the process with a clear line per problem, and no secret in it', () => {
  const res = spawnSync(process.execPath, [MAIN], {
    env: cleanEnv({
      NODE_ENV: 'production',
      PORT: '99999',
      JWT_SECRET: 'short-secret-do-not-print',
      JWT_ISSUER: 'i',
      JWT_AUDIENCE: 'a',
    }),
    encoding: 'utf8',
    timeout: 20_000,
  });
  expect(res.status).toBe(78);
  expect(res.stdout).toBe('');
  expect(res.stderr.split('\n').filter(Boolean)).toEqual([
    'engage-gateway: cannot start, invalid configuration:',
    '  - JWT_SECRET must be at least 32 bytes for HS256 (got 25 bytes; value not shown)',
    '  - KEY_ENCRYPTION_KEYS is required: "id:base64" of a 32-byte key (comma-separated list, active key first), e.g. generated with `openssl rand -base64 32`',
    '  - PORT must be a whole number from 0 to 65535 (got "99999")',
    '  - production serves HTTPS only: set TLS_CERT_FILE and TLS_KEY_FILE, or TRUST_PROXY (e.g. "10.0.0.0/8" or "loopback") naming the TLS-terminating proxy in front',
  ]);
});

test('the token CLI explains its usage', () => {
  const res = spawnSync(process.execPath, [TOKEN_CLI], {
    env: cleanEnv({ DATA_DIR: mkdtempSync(join(tmpdir(), 'engage-token-')) }),
    encoding: 'utf8',
  });
  expect(res.status).toBe(1);
  expect(res.stderr).toMatch(/usage: npm run token -- --email <agent@domain> \[--admin\]/);
});
