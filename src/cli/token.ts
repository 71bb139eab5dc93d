/**
 * `npm run token -- --email someone@demo.test [--admin] [--ttl 3600]`
 * Prints a caller token signed with the sandbox's HS256 secret.
 */
import { parseArgs } from 'node:util';
import { signSandboxToken } from '../auth/sandbox-token';
import { ConfigError, loadConfig } from '../config';

async function main() {
  const { values } = parseArgs({
    options: {
      email: { type: 'string' },
      admin: { type: 'boolean', default: false },
      ttl: { type: 'string', default: String(12 * 3600) },
    },
  });
  if (!values.email || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(values.email)) {
    throw new Error('usage: npm run token -- --email <agent@domain> [--admin] [--ttl <seconds>]');
  }
  const ttl = Number(values.ttl);
  if (!Number.isInteger(ttl) || ttl <= 0)
    throw new Error(`--ttl must be a positive number of seconds (got "${values.ttl}")`);
  const config = loadConfig();
  process.stdout.write(
    (await signSandboxToken(config.auth, values.email.toLowerCase(), { admin: values.admin, ttlSeconds: ttl })) + '\n',
  );
}

main().catch((err) => {
  process.stderr.write(`token: ${err instanceof ConfigError ? err.message : (err as Error).message}\n`);
  process.exit(1);
});
