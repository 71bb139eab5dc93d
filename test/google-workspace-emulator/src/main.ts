/**
 * `npm run emulator`: the Google Workspace emulator on its own, on EMULATOR_PORT (default 4001), 127.0.0.1 unless
 * EMULATOR_HOST says otherwise. Prints its URL and a first request to try.
 */
import { startEmulator } from './server';

/** EMULATOR_PORT defaults to 4001 (README.md, "Running it standalone"; the gateway's sandbox uses the same default). */
const DEFAULT_EMULATOR_PORT = 4001;

async function main(): Promise<void> {
  const raw = process.env.EMULATOR_PORT;
  const port = raw === undefined || raw === '' ? DEFAULT_EMULATOR_PORT : Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`EMULATOR_PORT must be a port number (0-65535), got "${raw}"`);
  }
  const emu = await startEmulator({ port, host: process.env.EMULATOR_HOST || '127.0.0.1' });
  const admin = `${emu.url}/emulator/v1`;
  process.stdout.write(
    `Google Workspace emulator listening on ${emu.url}\n` +
      `  token endpoint: ${emu.url}/token   admin API: ${admin}\n` +
      `Try:\n` +
      `  curl -s -X POST ${admin}/domains -H 'content-type: application/json' -d '{"domain":"demo.test","users":["agent@demo.test"]}'\n` +
      `  curl -s -X POST ${admin}/service-accounts -H 'content-type: application/json' -d '{"domain":"demo.test"}'\n`,
  );
  const stop = () => {
    emu.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((e: unknown) => {
  process.stderr.write(`emulator failed to start: ${(e as Error).message}\n`);
  process.exit(1);
});
