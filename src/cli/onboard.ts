/**
 * `npm run onboard -- --brokerage <domain> --key key.json --test-email user@domain [--name "Brokerage name"]`
 *
 * The admin-facing doctor from a key file: prints each check as it
 * completes, then stores the key (encrypted) if it verifies. `--name`
 * registers the brokerage when its domain is not registered yet.
 * Exit code: 0 verified, 2 cannot be verified, 1 usage or other error.
 */
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { buildServices } from '../app';
import { ConfigError, loadConfig } from '../config';
import { openDatabase } from '../db/data-source';
import { Brokerage } from '../entities';
import { AppError } from '../errors';
import { createLogger } from '../logger';
import type { CheckResult } from '../onboarding/doctor';

const USAGE =
  'usage: npm run onboard -- --brokerage <domain> --key <key.json> --test-email <user@domain> [--name "Brokerage name"]';

export function formatCheck(c: CheckResult): string {
  const head = `${c.ok ? '✓' : '✗'} ${c.name.padEnd(15)} ${c.ok ? '' : `${c.code}  `}${c.message}`;
  return c.remedy ? `${head}\n    fix: ${c.remedy}` : head;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      brokerage: { type: 'string' },
      key: { type: 'string' },
      'test-email': { type: 'string' },
      name: { type: 'string' },
    },
  });
  if (!values.brokerage || !values.key || !values['test-email']) throw new Error(USAGE);
  let keyJson: string;
  try {
    keyJson = readFileSync(values.key, 'utf8');
  } catch (err) {
    throw new Error(
      `cannot read the key file ${values.key}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      { cause: err },
    );
  }
  const config = loadConfig();
  const ds = await openDatabase(config.database);
  try {
    const domain = values.brokerage.toLowerCase();
    let brokerage = await ds.getRepository(Brokerage).findOneBy({ domain });
    if (!brokerage) {
      if (!values.name)
        throw new Error(
          `no brokerage is registered for the domain ${domain}; add --name "Brokerage name" to register it`,
        );
      brokerage = { id: randomUUID(), name: values.name, domain, createdAt: new Date() };
      await ds.getRepository(Brokerage).insert(brokerage);
      process.stdout.write(`registered brokerage ${values.name} (${domain})\n`);
    }
    const services = buildServices(config, ds, createLogger('silent'));
    process.stdout.write(`verifying as ${values['test-email']} …\n`);
    const result = await services.onboarding.submit(
      { brokerageId: brokerage.id, actor: 'cli:onboard' },
      keyJson,
      values['test-email'],
      (c) => process.stdout.write(formatCheck(c) + '\n'),
    );
    const sa = result.serviceAccount;
    process.stdout.write(
      result.status === 'VERIFIED'
        ? `\nVERIFIED: key ${sa.privateKeyId} of ${sa.clientEmail} is stored (encrypted) and in use for ${domain}.\n`
        : `\nCANNOT BE VERIFIED: nothing was stored; the key in use (if any) is unchanged. Fix the steps above and run again.\n`,
    );
    return result.status === 'VERIFIED' ? 0 : 2;
  } finally {
    await ds.destroy();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(
      `onboard: ${err instanceof ConfigError || err instanceof AppError ? err.message : (err as Error).message}\n`,
    );
    process.exit(1);
  },
);
