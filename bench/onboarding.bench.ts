/**
 * Verification time of a healthy key against the emulator, and the upstream
 * calls it makes: the doctor's full run (3 token exchanges, 3 API calls, one
 * sync page) as submitServiceAccountKey performs it, on SQLite.
 */
import 'reflect-metadata';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildServices } from '../src/app';
import { loadConfig, withEmulator } from '../src/config';
import { openDatabase } from '../src/db/data-source';
import { startEmulator } from 'google-workspace-emulator';
import { GUIDE_SCOPES } from '../src/google/scopes';
import { createLogger } from '../src/logger';
import { ensureDemoTenant } from '../src/sandbox/demo';
import { adminCall, type BenchResult } from './support';

export async function benchOnboarding(): Promise<BenchResult> {
  const emu = await startEmulator();
  const dir = mkdtempSync(join(tmpdir(), 'engage-bench-'));
  const config = withEmulator(loadConfig({ DATA_DIR: dir }), emu.url);
  const ds = await openDatabase(config.database);
  try {
    const brokerage = await ensureDemoTenant(ds);
    const services = buildServices(config, ds, createLogger('silent'));
    await adminCall(emu.url, 'POST', '/domains', { domain: 'demo.test', users: ['agent@demo.test'] });
    await adminCall(
      emu.url,
      'POST',
      '/users/agent%40demo.test/contacts',
      Array.from({ length: 500 }, (_, i) => ({
        names: [{ givenName: `Contact${i}` }],
        emailAddresses: [{ value: `c${i}@x.test` }],
      })),
    );
    const runs: number[] = [];
    for (let i = 0; i < 10; i++) {
      const { key, clientId } = (await adminCall(emu.url, 'POST', '/service-accounts', { domain: 'demo.test' })) as {
        key: object;
        clientId: string;
      };
      await adminCall(emu.url, 'PUT', `/delegations/${clientId}`, { scopes: GUIDE_SCOPES });
      await adminCall(emu.url, 'DELETE', '/requests');
      const t = performance.now();
      const r = await services.onboarding.submit(
        { brokerageId: brokerage.id, actor: 'bench' },
        JSON.stringify(key),
        'agent@demo.test',
      );
      runs.push(performance.now() - t);
      if (r.status !== 'VERIFIED') throw new Error(`bench key did not verify: ${JSON.stringify(r.checks)}`);
    }
    const calls = (await adminCall(emu.url, 'GET', '/requests')) as { api: string }[];
    runs.sort((a, b) => a - b);
    return {
      name: 'onboarding: verify a healthy key (500 contacts in the first sync page)',
      figures: {
        'median ms': Math.round(runs[5]),
        'max ms': Math.round(runs[9]),
        'token calls per verification': calls.filter((c) => c.api === 'token').length,
        'API calls per verification': calls.filter((c) => c.api !== 'token').length,
      },
    };
  } finally {
    await ds.destroy();
    await emu.close();
  }
}
