/**
 * Helpers for tests that talk to the emulator the way a Google client talks to Google (the package's
 * 'google-workspace-emulator/testing' entry; the gateway's tests use them too):
 *  - `EmulatorAdmin`: typed wrapper over the admin API (README.md, "Admin API") using plain fetch;
 *  - `signAssertion` / `exchangeAssertion` / `mintToken`: our own JWT-bearer exchange (RS256 with node:crypto, POST to
 *    the key's token_uri), for checking the token endpoint byte by byte;
 *  - `jwtClient` / `googleClients`: the real google-auth-library JWT client and real @googleapis clients with
 *    `rootUrl` pointed at the emulator. google-auth-library ignores `token_uri` (docs/google-behaviour.md §1.5), so a
 *    gaxios request interceptor on the JWT's transporter redirects its token call to the emulator;
 *  - `until`: polls a condition instead of sleeping.
 * The @googleapis clients are optional peer dependencies: only `jwtClient` and `googleClients` need them.
 */
import { createSign } from 'node:crypto';
import { auth as googleAuth, gmail as gmailApi, type gmail_v1 } from '@googleapis/gmail';
import { people as peopleApi, type people_v1 } from '@googleapis/people';
import { calendar as calendarApi, type calendar_v3 } from '@googleapis/calendar';
import type { ServiceAccountKeyFile, RequestLogEntry, EmulatorSettings } from './state';

export type { ServiceAccountKeyFile, RequestLogEntry } from './state';

/**
 * Generous on purpose: on a loaded 2-core machine a condition can take seconds; a correct emulator always gets there.
 */
export const UNTIL_TIMEOUT_MS = 20_000;

/** Polls `read` until `ok` holds; returns the value that satisfied it, or fails naming what it waited for. */
export async function until<T>(
  what: string,
  read: () => Promise<T> | T,
  ok: (v: T) => boolean = Boolean,
  timeoutMs = UNTIL_TIMEOUT_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await read();
    if (ok(last)) return last;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last value: ${JSON.stringify(last)}`);
    await new Promise<void>((r) => setTimeout(r, 20));
  }
}

export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

export const SCOPES = {
  contacts: 'https://www.googleapis.com/auth/contacts',
  contactsReadonly: 'https://www.googleapis.com/auth/contacts.readonly',
  m8Feeds: 'https://www.google.com/m8/feeds',
  calendar: 'https://www.googleapis.com/auth/calendar',
  calendarEvents: 'https://www.googleapis.com/auth/calendar.events',
  gmailCompose: 'https://www.googleapis.com/auth/gmail.compose',
  gmailSend: 'https://www.googleapis.com/auth/gmail.send',
  gmailReadonly: 'https://www.googleapis.com/auth/gmail.readonly',
  mail: 'https://mail.google.com/',
} as const;

export interface AdminResponse<T = unknown> {
  status: number;
  body: T;
}

export interface FaultSpec {
  api: 'token' | 'people' | 'calendar' | 'gmail';
  method?: string;
  pathPrefix?: string;
  status?: number;
  count?: number;
  unlimited?: boolean;
  retryAfterSeconds?: number;
  latencyMs?: number;
  resetConnection?: boolean;
  afterCommit?: boolean;
  /** park matching calls until `release`: 'call' before they run, 'answer' after they ran (state committed) */
  hold?: 'call' | 'answer';
  body?: unknown;
}

export interface ArmedFault extends FaultSpec {
  id: string;
  hits: number;
  /** calls parked on this fault's hold right now */
  held: number;
}

export interface Tenant {
  domain: string;
  users: string[];
  key: ServiceAccountKeyFile;
  clientId: string;
  projectNumber: string;
}

/** The admin API over fetch. Methods throw when the admin call fails, naming the route and the answer. */
export class EmulatorAdmin {
  constructor(readonly url: string) {}

  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<AdminResponse<T>> {
    const res = await fetch(`${this.url}/emulator/v1${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  }

  private async ok<T>(method: string, path: string, body?: unknown): Promise<T> {
    const r = await this.request<T>(method, path, body);
    if (r.status !== 200) throw new Error(`admin ${method} ${path} answered ${r.status}: ${JSON.stringify(r.body)}`);
    return r.body;
  }

  reset() {
    return this.ok('POST', '/reset');
  }
  addDomain(domain: string, users: Array<string | { email: string; gmail?: boolean; suspended?: boolean }>) {
    return this.ok<{ domain: string; users: Array<{ email: string; gmail: boolean; suspended: boolean }> }>(
      'POST',
      '/domains',
      { domain, users },
    );
  }
  suspend(email: string) {
    return this.ok('POST', `/users/${encodeURIComponent(email)}/suspend`);
  }
  createServiceAccount(domain: string) {
    return this.ok<{ key: ServiceAccountKeyFile; clientId: string; projectNumber: string }>(
      'POST',
      '/service-accounts',
      { domain },
    );
  }
  addKey(clientId: string) {
    return this.ok<{ key: ServiceAccountKeyFile }>('POST', `/service-accounts/${clientId}/keys`);
  }
  deleteKey(clientId: string, keyId: string) {
    return this.ok('DELETE', `/service-accounts/${clientId}/keys/${keyId}`);
  }
  disableKey(clientId: string, keyId: string) {
    return this.ok('POST', `/service-accounts/${clientId}/keys/${keyId}/disable`);
  }
  disableServiceAccount(clientId: string) {
    return this.ok('POST', `/service-accounts/${clientId}/disable`);
  }
  deleteServiceAccount(clientId: string) {
    return this.ok('DELETE', `/service-accounts/${clientId}`);
  }
  delegate(clientId: string, scopes: string[]) {
    return this.ok('PUT', `/delegations/${clientId}`, { scopes });
  }
  setApi(api: 'people' | 'calendar' | 'gmail', enabled: boolean, clientId?: string) {
    return this.ok('PUT', `/apis/${api}`, clientId === undefined ? { enabled } : { enabled, clientId });
  }
  addFault(fault: FaultSpec) {
    return this.ok<ArmedFault>('POST', '/faults', fault);
  }
  clearFaults() {
    return this.ok('DELETE', '/faults');
  }
  faults() {
    return this.ok<ArmedFault[]>('GET', '/faults');
  }
  /** Lets parked calls of a hold fault go on (all of them, or the oldest `count`). */
  release(faultId: string, count?: number) {
    return this.ok<{ released: number }>('POST', `/faults/${faultId}/release`, count === undefined ? {} : { count });
  }
  /** Waits until `n` calls are parked on a hold fault: the gateway has reached that call. */
  async waitHeld(faultId: string, n = 1): Promise<void> {
    await until(
      `${n} call(s) parked on fault ${faultId}`,
      async () => (await this.faults()).find((f) => f.id === faultId)?.held ?? 0,
      (held) => held >= n,
    );
  }
  requests(filter: { api?: string; method?: string; user?: string } = {}) {
    const q = new URLSearchParams(Object.entries(filter).filter(([, v]) => v !== undefined) as Array<[string, string]>);
    return this.ok<RequestLogEntry[]>('GET', `/requests${q.size ? `?${q}` : ''}`);
  }
  clearRequests() {
    return this.ok('DELETE', '/requests');
  }
  messages(email: string) {
    return this.ok<Array<{ id: string; threadId: string; labelIds: string[]; raw: string }>>(
      'GET',
      `/users/${encodeURIComponent(email)}/messages`,
    );
  }
  advanceClock(seconds: number) {
    return this.ok<{ now: string; offsetSeconds: number }>('POST', '/clock', { advanceSeconds: seconds });
  }
  putSettings(patch: Partial<EmulatorSettings>) {
    return this.ok<EmulatorSettings>('PUT', '/settings', patch);
  }

  /** A domain with users, a service account key and a DWD entry for `scopes`. */
  async tenant(
    domain: string,
    users: Array<string | { email: string; gmail?: boolean; suspended?: boolean }>,
    scopes: string[],
  ): Promise<Tenant> {
    await this.addDomain(domain, users);
    const { key, clientId, projectNumber } = await this.createServiceAccount(domain);
    await this.delegate(clientId, scopes);
    return { domain, users: users.map((u) => (typeof u === 'string' ? u : u.email)), key, clientId, projectNumber };
  }
}

export interface AssertionClaims {
  iss?: string;
  sub?: string;
  scope?: string;
  aud?: string;
  iat?: number;
  exp?: number;
}

/** An RS256 assertion exactly like google-auth-library's: header {"alg":"RS256"} (no kid, no typ). */
export function signAssertion(
  key: Pick<ServiceAccountKeyFile, 'private_key' | 'client_email'>,
  claims: AssertionClaims,
): string {
  const iat = claims.iat ?? Math.floor(Date.now() / 1000);
  const payload: AssertionClaims = { iss: key.client_email, aud: GOOGLE_TOKEN_URL, iat, exp: iat + 3600, ...claims };
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${enc({ alg: 'RS256' })}.${enc(payload)}`;
  const signature = createSign('RSA-SHA256').update(input).sign(key.private_key).toString('base64url');
  return `${input}.${signature}`;
}

/** POST the assertion to a token endpoint as the Google library does; returns status and parsed body. */
export async function exchangeAssertion(
  tokenUri: string,
  assertion: string,
  grantType = JWT_BEARER_GRANT,
): Promise<AdminResponse<Record<string, unknown>>> {
  const res = await fetch(tokenUri, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded;charset=UTF-8', accept: 'application/json' },
    body: new URLSearchParams({ grant_type: grantType, assertion }).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

export interface TokenResponse {
  access_token: string;
  expires_in: number;
  token_type: string;
}

/** Our own JWT-bearer exchange against `key.token_uri`; throws with Google's error body on failure. */
export async function mintToken(
  key: ServiceAccountKeyFile,
  sub: string | undefined,
  scopes: string[],
  claims: AssertionClaims = {},
): Promise<TokenResponse> {
  const assertion = signAssertion(key, { scope: scopes.join(' '), ...(sub === undefined ? {} : { sub }), ...claims });
  const r = await exchangeAssertion(key.token_uri, assertion);
  if (r.status !== 200)
    throw new Error(`token endpoint ${key.token_uri} answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body as unknown as TokenResponse;
}

/**
 * google-auth-library's JWT client, named through @googleapis/gmail (google-auth-library is not a direct dependency).
 */
export type JwtClient = InstanceType<typeof googleAuth.JWT>;

/**
 * The real google-auth-library JWT client for (key, subject, scopes), its token request redirected from Google's
 * token URL to the emulator's by a gaxios interceptor (docs/google-behaviour.md §1.5).
 */
export function jwtClient(
  emulatorUrl: string,
  key: ServiceAccountKeyFile,
  subject: string,
  scopes: string[],
): JwtClient {
  const jwt = new googleAuth.JWT({
    email: key.client_email,
    key: key.private_key,
    keyId: key.private_key_id,
    scopes,
    subject,
  });
  // gaxios 7 loads node-fetch with a dynamic import(), which jest's CommonJS runtime refuses ("A dynamic import
  // callback was invoked without --experimental-vm-modules"); Node 20's global fetch does the same job. API calls go
  // through the auth client's transporter too, so this covers them.
  jwt.transporter.defaults.fetchImplementation = fetch;
  jwt.transporter.interceptors.request.add({
    resolved: async (cfg) => {
      const u = new URL(String(cfg.url));
      if (u.hostname === 'oauth2.googleapis.com') cfg.url = new URL(`${emulatorUrl}/token`);
      return cfg;
    },
  });
  return jwt;
}

export interface GoogleClients {
  auth: JwtClient;
  gmail: gmail_v1.Gmail;
  people: people_v1.People;
  calendar: calendar_v3.Calendar;
}

/**
 * Real @googleapis clients for one impersonated user, pointed at the emulator with a service-level `rootUrl`.
 * Media uploads ignore the service-level rootUrl: pass `{rootUrl: emulatorUrl}` as the per-call options too.
 */
export function googleClients(
  emulatorUrl: string,
  key: ServiceAccountKeyFile,
  subject: string,
  scopes: string[],
): GoogleClients {
  const auth = jwtClient(emulatorUrl, key, subject, scopes);
  const rootUrl = `${emulatorUrl}/`;
  return {
    auth,
    gmail: gmailApi({ version: 'v1', auth, rootUrl }),
    people: peopleApi({ version: 'v1', auth, rootUrl }),
    calendar: calendarApi({ version: 'v3', auth, rootUrl }),
  };
}

/** The error a googleapis call rejected with, for asserting on status and Google's body. */
export async function googleError(
  p: Promise<unknown>,
): Promise<{ status: number; data: GoogleErrorData; headers: Headers | Record<string, string> }> {
  try {
    await p;
  } catch (e) {
    const err = e as {
      status?: number;
      code?: number | string;
      response?: { status: number; data: GoogleErrorData; headers: Headers };
    };
    if (!err.response) throw e;
    return { status: err.response.status, data: err.response.data, headers: err.response.headers };
  }
  throw new Error('expected the Google call to fail, but it succeeded');
}

export interface GoogleErrorData {
  error: {
    code: number;
    message: string;
    status: string;
    errors?: Array<{ message: string; domain: string; reason: string; location?: string; locationType?: string }>;
    details?: Array<{ '@type': string; reason?: string; domain?: string; metadata?: Record<string, string> }>;
  };
}

/** Raw fetch with a bearer token, for wire checks (headers) the client libraries hide. */
export async function rawCall(
  url: string,
  token: string | undefined,
  init: RequestInit = {},
): Promise<{ status: number; headers: Headers; body: unknown }> {
  const headers = new Headers(init.headers);
  if (token !== undefined) headers.set('authorization', `Bearer ${token}`);
  const res = await fetch(url, { ...init, headers });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON */
  }
  return { status: res.status, headers: res.headers, body };
}
