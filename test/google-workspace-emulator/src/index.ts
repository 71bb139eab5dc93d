/**
 * google-workspace-emulator: an in-process stand-in for the Google Workspace APIs a service-account key with
 * domain-wide delegation reaches (the OAuth 2.0 token endpoint, People v1, Calendar v3, Gmail v1), with an admin API
 * to set up domains, keys, delegations and faults and to read the request log. See README.md.
 *
 *   const emu = await startEmulator();            // http://127.0.0.1:<free port>
 *   const admin = new EmulatorAdmin(emu.url);     // from 'google-workspace-emulator/testing'
 *
 * The test helpers (`EmulatorAdmin`, `googleClients`, …) are the separate entry 'google-workspace-emulator/testing'.
 */
export { startEmulator, type EmulatorOptions, type RunningEmulator, type RegisterApi } from './server';
export {
  EmulatorState,
  type EmulatorSettings,
  type QuotaSetting,
  type RequestLogEntry,
  type ServiceAccountKeyFile,
} from './state';
export { ApiRegistry } from './registry';
