/**
 * Starts the Google Workspace emulator: one HTTP server serving, at the origin root (googleapis drops any path
 * prefix of rootUrl, docs/google-behaviour.md §1.6):
 *   /token                       OAuth 2.0 JWT-bearer token endpoint (token.ts)
 *   /gmail/v1/…, /upload/gmail/v1/…   Gmail (gmail.ts)
 *   /v1/…                        People (people.ts, when installed)
 *   /calendar/v3/…               Calendar (calendar.ts, when installed)
 *   /emulator/v1/…               admin API (admin.ts)
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { adminRouter } from './admin';
import { ApiRegistry } from './registry';
import { EmulatorState, type EmulatorSettings } from './state';
import { tokenEndpoint } from './token';
import { register as registerCalendar } from './calendar';
import { register as registerGmail } from './gmail';
import { register as registerPeople } from './people';

export { EmulatorState, type EmulatorSettings } from './state';
export { ApiRegistry } from './registry';

export interface EmulatorOptions {
  /** 0 = a free port (default) */
  port?: number;
  /** default 127.0.0.1: the emulator never listens on a public interface unless told to */
  host?: string;
  settings?: Partial<EmulatorSettings>;
}

export interface RunningEmulator {
  /** e.g. http://127.0.0.1:4001, no trailing slash */
  url: string;
  port: number;
  state: EmulatorState;
  registry: ApiRegistry;
  close(): Promise<void>;
}

/** An API module: `export function register(registry, state)` in src/<name>.ts. See registry.ts. */
export type RegisterApi = (registry: ApiRegistry, state: EmulatorState) => void;

/** The emulated APIs; each registers its methods, quota buckets and admin data routes (see registry.ts). */
const API_MODULES: RegisterApi[] = [registerGmail, registerPeople, registerCalendar];

export async function startEmulator(opts: EmulatorOptions = {}): Promise<RunningEmulator> {
  const state = new EmulatorState(opts.settings);
  const registry = new ApiRegistry(state);
  for (const register of API_MODULES) register(registry, state);

  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.post('/token', tokenEndpoint(state, registry));
  app.use('/emulator/v1', adminRouter(state, registry));
  app.use(registry.middleware());
  app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    // Errors that carry a client status (body-parser's 400 for malformed JSON, 413 for a too large body on the
    // admin API) are the caller's mistake: answer with that status in the admin API's `{error}` shape.
    const status = (err as { status?: unknown }).status ?? (err as { statusCode?: unknown }).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      if (!res.headersSent) res.status(status).json({ error: `bad request: ${(err as Error).message}` });
      return;
    }
    console.error('[emulator]', err);
    if (!res.headersSent) res.status(500).json({ error: `emulator failure: ${(err as Error).message}` });
  });

  const host = opts.host ?? '127.0.0.1';
  const server: Server = await new Promise((resolve, reject) => {
    // Express 5 hands listen errors (e.g. EADDRINUSE) to the callback.
    const s = app.listen(opts.port ?? 0, host, (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  // Large uploads (35 MiB) must not hit Node's default request timeout on slow machines.
  server.requestTimeout = 120_000;
  // An idle connection is kept two minutes, not Node's default 5 s. Node's fetch (undici) closes its idle connections
  // a little before the time the server announces (Keep-Alive: timeout=5, less undici's margin): a loop late by more
  // than that margin raced the server, which closed a connection just as a request was sent on it, and the request
  // failed with a reset that never reached us (seen in the gateway's suite under load). That race is real and the
  // gateway handles it, but with connections idle far longer than any test waits between two calls, a test meets it
  // where it arms it (a `resetConnection` fault), not by the clock.
  server.keepAliveTimeout = 120_000;
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  state.url = url;
  return {
    url,
    port,
    state,
    registry,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
