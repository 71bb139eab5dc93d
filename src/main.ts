/**
 * `npm start`: config → database (migrations run) → sandbox demo data → server.
 * In sandbox mode it prints the GraphQL URL and ready-to-use tokens.
 */
import 'reflect-metadata';
import { createApp } from './app';
import { explorerHandsOutToken } from './server';
import { ConfigError, describeConfig, loadConfig, withEmulator, type Config } from './config';
import { openDatabase } from './db/data-source';
import { createLogger } from './logger';
import { DEMO_ADMIN, DEMO_AGENT, ensureDemoTenant } from './sandbox/demo';
import { signSandboxToken } from './auth/sandbox-token';
import { startEmulator } from './sandbox/emulator';
import type { VerificationResult } from './onboarding/onboarding.service';
import { provisionSandbox } from './sandbox/provision';

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`engage-gateway: cannot start, ${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  log.info({ config: describeConfig(config) }, 'starting');
  const ds = await openDatabase(config.database);
  const demo = config.sandbox ? await ensureDemoTenant(ds) : undefined;
  // The sandbox's Google is the in-process emulator, unless Google roots were configured.
  const emulator = config.google.useSandboxEmulator ? await startEmulator({ port: config.emulatorPort }) : undefined;
  if (emulator) config = withEmulator(config, emulator.url);
  const { gateway, services } = await createApp(config, ds, log);
  const verification = demo && emulator ? await provisionSandbox(emulator, services, demo.id) : undefined;
  const base = await gateway.listen(config.port, config.host);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    await gateway.close();
    await emulator?.close();
    await ds.destroy();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  const lines = [
    ``,
    `engage-gateway is up`,
    `  GraphQL:  ${base}/graphql`,
    ...(config.clients.explorer
      ? [
          `  explorer: ${base}/explorer${explorerHandsOutToken(config) ? "   (GraphiQL, opens with the demo agent's token)" : ''}`,
        ]
      : []),
    `  health:   ${base}/healthz   ready: ${base}/readyz`,
  ];
  if (config.sandbox) {
    const agentToken = await signSandboxToken(config.auth, DEMO_AGENT);
    const adminToken = await signSandboxToken(config.auth, DEMO_ADMIN, { admin: true });
    lines.push(
      ``,
      `Sandbox (SQLite at ${config.database.kind === 'sqlite' ? config.database.path : 'DATABASE_URL'}; demo brokerage demo.test).`,
      ...(emulator
        ? [`Google Workspace emulator: ${emulator.url}  (request log: ${emulator.url}/emulator/v1/requests)`]
        : []),
      ...(verification ? [describeVerification(verification)] : []),
      `Tokens are valid for 12 hours; make more with: npm run token -- --email someone@demo.test [--admin]`,
      ``,
      `  agent ${DEMO_AGENT}:`,
      `    ${agentToken}`,
      `  admin ${DEMO_ADMIN}:`,
      `    ${adminToken}`,
      ``,
      `Try it:`,
      `  curl -s ${base}/graphql -H 'content-type: application/json' \\`,
      `    -H "authorization: Bearer ${agentToken}" \\`,
      `    -d '{"query":"{ me { email role brokerage { name domain } } }"}'`,
      `  curl -s ${base}/graphql -H 'content-type: application/json' \\`,
      `    -H "authorization: Bearer ${agentToken}" \\`,
      `    -d '{"query":"mutation { sendMail(input: { to: [\\"Zoë Buyer <zoe@buyer.test>\\"], subject: \\"Hello\\", text: \\"Hi!\\" }) { id status threadId } }"}'`,
      ...(emulator
        ? [
            `  (sent mail lands in the emulator's mailbox: ${emulator.url}/emulator/v1/users/${encodeURIComponent(DEMO_AGENT)}/messages)`,
          ]
        : []),
      ``,
    );
  }
  process.stdout.write(lines.join('\n') + '\n');
}

function describeVerification(v: VerificationResult): string {
  const ok = v.checks.filter((c) => c.ok).length;
  const head = `Demo service account ${v.serviceAccount.clientEmail}: ${v.status} (${ok}/${v.checks.length} checks ok)`;
  return [head, ...v.checks.filter((c) => !c.ok).map((c) => `  ✗ ${c.name}: ${c.message}`)].join('\n');
}

main().catch((err) => {
  process.stderr.write(`engage-gateway: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
