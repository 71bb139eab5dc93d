export interface BenchResult {
  name: string;
  figures: Record<string, number | string>;
}

/** The emulator's admin API (test/google-workspace-emulator/README.md, "Admin API"). */
export async function adminCall(url: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${url}/emulator/v1${path}`, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`admin ${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import { createApp } from '../src/app';
import { signSandboxToken } from '../src/auth/sandbox-token';
import { loadConfig, withEmulator } from '../src/config';
import type { Services } from '../src/context';
import { openDatabase } from '../src/db/data-source';
import { startEmulator, type RunningEmulator } from 'google-workspace-emulator';
import { GUIDE_SCOPES } from '../src/google/scopes';
import { createLogger } from '../src/logger';
import { ensureDemoTenant } from '../src/sandbox/demo';

export interface BenchWorld {
  emu: RunningEmulator;
  ds: DataSource;
  services: Services;
  url: string;
  token: string;
  /** Upstream calls in the emulator's log, optionally of one method. */
  calls(method?: string): Promise<number>;
  gql(query: string, variables?: unknown): Promise<any>;
  close(): Promise<void>;
}

/**
 * The sandbox's shape on a fresh SQLite file: demo brokerage, verified key, an HTTP gateway, agent@demo.test's token.
 */
export async function benchWorld(env: Record<string, string> = {}): Promise<BenchWorld> {
  const emu = await startEmulator();
  const config = withEmulator(
    loadConfig({
      DATA_DIR: mkdtempSync(join(tmpdir(), 'engage-bench-')),
      LOG_LEVEL: 'silent',
      OUTBOX_LINGER_MS: '10',
      ...env,
    }),
    emu.url,
  );
  const ds = await openDatabase(config.database);
  const brokerage = await ensureDemoTenant(ds);
  const { services, gateway } = await createApp(config, ds, createLogger('silent'));
  const url = await gateway.listen(0);
  await adminCall(emu.url, 'POST', '/domains', { domain: 'demo.test', users: ['agent@demo.test', 'admin@demo.test'] });
  const { key, clientId } = (await adminCall(emu.url, 'POST', '/service-accounts', { domain: 'demo.test' })) as {
    key: object;
    clientId: string;
  };
  await adminCall(emu.url, 'PUT', `/delegations/${clientId}`, { scopes: GUIDE_SCOPES });
  const v = await services.onboarding.submit(
    { brokerageId: brokerage.id, actor: 'bench' },
    JSON.stringify(key),
    'agent@demo.test',
  );
  if (v.status !== 'VERIFIED') throw new Error('bench key did not verify');
  const token = await signSandboxToken(config.auth, 'agent@demo.test');
  await adminCall(emu.url, 'DELETE', '/requests');
  return {
    emu,
    ds,
    services,
    url,
    token,
    async calls(method) {
      const log = (await adminCall(
        emu.url,
        'GET',
        `/requests?api=people${method ? `&method=${method}` : ''}`,
      )) as unknown[];
      return log.length;
    },
    async gql(query, variables) {
      const res = await fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await res.json()) as { data?: any; errors?: unknown[] };
      if (body.errors) throw new Error(`bench query failed: ${JSON.stringify(body.errors)}`);
      return body.data;
    },
    async close() {
      await gateway.close();
      await ds.destroy();
      await emu.close();
    },
  };
}

/** Requests per second of `fn`, run `n` times with `concurrency` in flight. */
export async function throughput(n: number, concurrency: number, fn: () => Promise<unknown>): Promise<number> {
  let next = 0;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < n) await fn();
    }),
  );
  return (n / (performance.now() - t)) * 1000;
}
