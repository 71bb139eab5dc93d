/**
 * The emulator's whole world, in memory: domains and users, service accounts with their RSA keys, domain-wide
 * delegation entries, API enablement per project, issued access tokens, the virtual clock, the request log, injected
 * faults and per-user quota windows. API modules keep their own per-user data through `userData()` so `reset()`
 * clears everything in one place.
 */
import { generateKeyPair, randomBytes, randomInt, type KeyObject, createPublicKey } from 'node:crypto';
import { promisify } from 'node:util';
import { API_NAMES, type ApiName } from './errors';

const generateKeyPairAsync = promisify(generateKeyPair);

/** Google's access-token lifetime for the JWT-bearer grant: commonly 3599 s (docs/google-behaviour.md §1.2). */
export const ACCESS_TOKEN_LIFETIME_SECONDS = 3599;
/**
 * Clock skew tolerated on assertion iat/exp. Google only says "reasonable timeframe"
 * (https://developers.google.com/identity/protocols/oauth2/service-account, "JWT error codes");
 * 300 s is what Google's own libraries allow when they verify Google-signed JWTs (google-auth-library CLOCK_SKEW_SECS).
 */
export const ASSERTION_CLOCK_SKEW_SECONDS = 300;
/**
 * Default cap of the request log: 50,000 entries (a few hundred bytes each, ~10-20 MB), far more than any test reads
 * and about a day of a busy sandbox. Older entries are dropped first.
 */
export const REQUEST_LOG_MAX_ENTRIES = 50_000;
/**
 * Issued access tokens are forgotten this long after they expire (swept when a new token is issued). Until then an
 * expired token is answered as expired (401 with ACCESS_TOKEN_EXPIRED), afterwards as unknown (401 without it).
 */
export const EXPIRED_TOKEN_RETENTION_SECONDS = 24 * 60 * 60;
/** RSA modulus of issued keys; Google issues 2048-bit keys. */
const RSA_MODULUS_BITS = 2048;

export interface QuotaSetting {
  /** units per user per minute (sliding 60 s window) */
  limitPerMinute?: number;
  /** which of Google's two answers to send when exceeded */
  errorStatus?: 403 | 429;
}

export interface EmulatorSettings {
  /**
   * Whether People methods accept a token carrying only `https://www.google.com/m8/feeds`. Default true: a real
   * People 403 listed it among acceptable scopes (docs/google-behaviour.md §2.5 [obs kwent/react-google-contacts#6]).
   */
  acceptM8FeedsForPeople: boolean;
  /** `expires_in` of issued tokens, seconds. Default ACCESS_TOKEN_LIFETIME_SECONDS. */
  accessTokenLifetimeSeconds: number;
  /** skew tolerated on assertion iat/exp, seconds. Default ASSERTION_CLOCK_SKEW_SECONDS. */
  assertionClockSkewSeconds: number;
  /**
   * The token error for an assertion signed with a *disabled* key. Google's table lists disabled keys under
   * `invalid_grant` "Invalid JWT Signature." (default); issue 3 mentions `disabled_client` [?].
   */
  disabledKeyError: 'invalid_grant' | 'disabled_client';
  /**
   * Whether Gmail's JSON `raw` may use the standard base64 alphabet (`+`, `/`) as well as base64url. Default false:
   * the Gmail reference documents `raw` as base64url, and anything else is answered like Google's decode failure
   * ("Invalid value at 'message.raw' (TYPE_BYTES), Base64 decoding failed for …" [obs
   * FlowCrypt/flowcrypt-android#859]).
   * [?] Google may well accept standard base64 too: proto3's JSON mapping says "Either standard or URL-safe base64
   * encoding with/without paddings are accepted" for bytes fields (protobuf.dev/programming-guides/json). True
   * switches to that reading.
   */
  gmailAcceptStandardBase64Raw: boolean;
  /**
   * The request log (`GET /emulator/v1/requests`) keeps the newest this many entries and drops the oldest, so a
   * sandbox that runs for weeks does not grow without bound. Default REQUEST_LOG_MAX_ENTRIES.
   */
  requestLogMaxEntries: number;
  /** per quota bucket overrides, keyed by bucket id (see registry.ts QuotaBucket) */
  quotas: Record<string, QuotaSetting>;
}

export function defaultSettings(): EmulatorSettings {
  return {
    acceptM8FeedsForPeople: true,
    accessTokenLifetimeSeconds: ACCESS_TOKEN_LIFETIME_SECONDS,
    assertionClockSkewSeconds: ASSERTION_CLOCK_SKEW_SECONDS,
    disabledKeyError: 'invalid_grant',
    gmailAcceptStandardBase64Raw: false,
    requestLogMaxEntries: REQUEST_LOG_MAX_ENTRIES,
    quotas: {},
  };
}

/** Merges a partial settings object; `quotas` is merged per bucket. Throws naming the bad field. */
export function mergeSettings(base: EmulatorSettings, patch: Partial<EmulatorSettings>): EmulatorSettings {
  const out: EmulatorSettings = { ...base, quotas: { ...base.quotas } };
  for (const [key, value] of Object.entries(patch ?? {})) {
    switch (key) {
      case 'acceptM8FeedsForPeople':
      case 'gmailAcceptStandardBase64Raw':
        if (typeof value !== 'boolean')
          throw new Error(`settings.${key} must be a boolean, got ${JSON.stringify(value)}`);
        out[key] = value;
        break;
      case 'accessTokenLifetimeSeconds':
      case 'assertionClockSkewSeconds':
        if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
          throw new Error(`settings.${key} must be a non-negative number of seconds, got ${JSON.stringify(value)}`);
        out[key] = value;
        break;
      case 'requestLogMaxEntries':
        if (typeof value !== 'number' || !Number.isInteger(value) || value < 1)
          throw new Error(`settings.requestLogMaxEntries must be a positive integer, got ${JSON.stringify(value)}`);
        out.requestLogMaxEntries = value;
        break;
      case 'disabledKeyError':
        if (value !== 'invalid_grant' && value !== 'disabled_client')
          throw new Error(
            `settings.disabledKeyError must be "invalid_grant" or "disabled_client", got ${JSON.stringify(value)}`,
          );
        out.disabledKeyError = value;
        break;
      case 'quotas':
        if (typeof value !== 'object' || value === null)
          throw new Error(`settings.quotas must be an object keyed by quota bucket id, got ${JSON.stringify(value)}`);
        for (const [bucket, q] of Object.entries(value as Record<string, QuotaSetting>)) {
          if (q.limitPerMinute !== undefined && (typeof q.limitPerMinute !== 'number' || q.limitPerMinute < 0)) {
            throw new Error(
              `settings.quotas.${bucket}.limitPerMinute must be a non-negative number, got ${JSON.stringify(q.limitPerMinute)}`,
            );
          }
          if (q.errorStatus !== undefined && q.errorStatus !== 403 && q.errorStatus !== 429) {
            throw new Error(
              `settings.quotas.${bucket}.errorStatus must be 403 or 429, got ${JSON.stringify(q.errorStatus)}`,
            );
          }
          out.quotas[bucket] = { ...out.quotas[bucket], ...q };
        }
        break;
      default:
        throw new Error(
          `unknown setting "${key}"; known: acceptM8FeedsForPeople, accessTokenLifetimeSeconds, assertionClockSkewSeconds, disabledKeyError, gmailAcceptStandardBase64Raw, requestLogMaxEntries, quotas`,
        );
    }
  }
  return out;
}

export interface EmulatorUser {
  email: string;
  domain: string;
  /** false = the account has no Gmail service (Gmail answers failedPrecondition) */
  gmail: boolean;
  suspended: boolean;
  /** per-module data, see EmulatorState.userData */
  data: Map<string, unknown>;
}

export type ClientStatus = 'active' | 'disabled' | 'deleted';

export interface ServiceAccountKey {
  id: string;
  publicKey: KeyObject;
  status: ClientStatus;
}

export interface ServiceAccount {
  clientId: string;
  email: string;
  domain: string;
  projectId: string;
  projectNumber: string;
  status: ClientStatus;
  keys: Map<string, ServiceAccountKey>;
}

/** The key file Google hands out (IAM → Service accounts → Keys → JSON). */
export interface ServiceAccountKeyFile {
  type: 'service_account';
  project_id: string;
  private_key_id: string;
  private_key: string;
  client_email: string;
  client_id: string;
  auth_uri: string;
  token_uri: string;
  auth_provider_x509_cert_url: string;
  client_x509_cert_url: string;
  universe_domain: string;
}

export interface AccessToken {
  token: string;
  clientId: string;
  projectNumber: string;
  /** impersonated user (JWT `sub`); null for the service account's own token */
  subject: string | null;
  scopes: string[];
  expiresAtMs: number;
}

export type LoggedApi = 'token' | ApiName;

export interface RequestLogEntry {
  api: LoggedApi;
  /** discovery method id, `token` for the token endpoint, `unknown` for an unmatched path */
  method: string;
  path: string;
  /** the query string (without "?"), so tests can tell calls of one method apart (e.g. singleEvents views) */
  query?: string;
  /** impersonated email (JWT `sub` for token calls); null when unknown */
  user: string | null;
  /** HTTP status sent; 0 when the connection was reset without an answer */
  status: number;
  /** when the answer was sent (or the connection dropped), emulator time */
  at: string;
  /** when the call came in, emulator time */
  startedAt: string;
  /** the caller's User-Agent header (our gateway names its process there) */
  userAgent?: string;
  httpMethod: string;
  clientId: string | null;
  /** set when an injected fault shaped this answer */
  fault?: 'status' | 'latency' | 'reset' | 'resetAfterCommit';
  /** for resetAfterCommit: the status the handler produced but never sent */
  committedStatus?: number;
}

export interface Fault {
  id: string;
  api: LoggedApi;
  /** discovery method id (e.g. gmail.users.messages.send, or `token`) */
  method?: string;
  pathPrefix?: string;
  /** answer with this status and Google's body for it */
  status?: number;
  /** override the body sent with `status` */
  body?: unknown;
  /** how many matching calls it hits; default 1 */
  count: number;
  /** hit every matching call until DELETE /faults */
  unlimited: boolean;
  retryAfterSeconds?: number;
  latencyMs?: number;
  /** destroy the socket before the call is handled (nothing committed) */
  resetConnection: boolean;
  /** run the call normally (state committed), then destroy the socket without answering */
  afterCommit: boolean;
  /**
   * Park matching calls until POST /faults/{id}/release: `call` before the call runs (nothing committed yet),
   * `answer` after it ran (its effects stored, its answer not yet sent). Lets a test order its own steps against
   * the gateway's calls instead of sleeping for them.
   */
  hold?: 'call' | 'answer';
  hits: number;
  /** calls parked on this fault's hold right now */
  held: number;
}

export class EmulatorState {
  /** this emulator's origin, e.g. http://127.0.0.1:4001 (set by server.ts once listening) */
  url = '';
  settings: EmulatorSettings;
  readonly users = new Map<string, EmulatorUser>();
  readonly domains = new Set<string>();
  readonly serviceAccounts = new Map<string, ServiceAccount>();
  readonly delegations = new Map<string, Set<string>>();
  readonly apiDefaults: Record<ApiName, boolean> = { people: true, calendar: true, gmail: true };
  readonly apiByProject = new Map<string, Partial<Record<ApiName, boolean>>>();
  readonly tokens = new Map<string, AccessToken>();
  readonly requestLog: RequestLogEntry[] = [];
  faults: Fault[] = [];
  /** bucket|project|user → [atMs, cost] entries within the last minute */
  readonly quotaWindows = new Map<string, Array<[number, number]>>();
  /** module-wide data that is not per user (e.g. Calendar watch channels), cleared by reset */
  readonly globalData = new Map<string, unknown>();
  /**
   * Bumped by every reset. Work queued before a reset (Calendar push deliveries) compares the generation it was
   * queued in and is dropped if a reset came in between, so a test's notifications never reach the next test.
   */
  generation = 0;
  private clockOffsetMs = 0;
  private idCounter = 0;
  /** fault id → the calls parked on its hold, oldest first */
  private readonly parked = new Map<string, Array<() => void>>();

  constructor(private readonly initialSettings: Partial<EmulatorSettings> = {}) {
    this.settings = mergeSettings(defaultSettings(), initialSettings);
  }

  /** Forget everything except the URL; settings go back to the ones given at start. */
  reset(): void {
    this.generation += 1;
    this.settings = mergeSettings(defaultSettings(), this.initialSettings);
    this.users.clear();
    this.domains.clear();
    this.serviceAccounts.clear();
    this.delegations.clear();
    for (const api of API_NAMES) this.apiDefaults[api] = true;
    this.apiByProject.clear();
    this.tokens.clear();
    this.requestLog.length = 0;
    this.clearFaults();
    this.quotaWindows.clear();
    this.globalData.clear();
    this.clockOffsetMs = 0;
  }

  // --- faults ------------------------------------------------------------------------------------------------------

  /** Disarms every fault and lets every parked call go on (so nothing waits for a release that cannot come). */
  clearFaults(): number {
    const n = this.faults.length;
    for (const f of this.faults) this.release(f.id);
    this.faults = [];
    return n;
  }

  /** Parks a call on `fault`'s hold until release(). */
  park(fault: Fault): Promise<void> {
    return new Promise((resolve) => {
      fault.held += 1;
      const queue = this.parked.get(fault.id) ?? [];
      queue.push(() => {
        fault.held -= 1;
        resolve();
      });
      this.parked.set(fault.id, queue);
    });
  }

  /** Lets up to `count` of the calls parked on a fault go on, oldest first; returns how many went. */
  release(faultId: string, count = Number.POSITIVE_INFINITY): number {
    const queue = this.parked.get(faultId) ?? [];
    const going = queue.splice(0, count);
    if (queue.length === 0) this.parked.delete(faultId);
    for (const go of going) go();
    return going.length;
  }

  // --- clock ------------------------------------------------------------------------------------------------------

  /** The emulator's virtual time: real time plus what POST /clock added. Use it for every expiry. */
  now(): Date {
    return new Date(this.nowMs());
  }
  nowMs(): number {
    return Date.now() + this.clockOffsetMs;
  }
  advanceClock(seconds: number): void {
    this.clockOffsetMs += seconds * 1000;
  }
  get clockOffsetSeconds(): number {
    return this.clockOffsetMs / 1000;
  }

  /** A short unique id, unique within this emulator's life (not reset, so ids never repeat across tests). */
  newId(): string {
    this.idCounter += 1;
    return this.nowMs().toString(16) + this.idCounter.toString(16).padStart(4, '0') + randomBytes(2).toString('hex');
  }

  // --- domains and users --------------------------------------------------------------------------------------------

  addDomain(domain: string, users: Array<{ email: string; gmail?: boolean; suspended?: boolean }>): EmulatorUser[] {
    const d = domain.toLowerCase();
    this.domains.add(d);
    return users.map((u) => {
      const email = u.email.toLowerCase();
      const at = email.lastIndexOf('@');
      if (at < 1 || email.slice(at + 1) !== d) {
        throw new Error(`user "${u.email}" must be an address in domain "${d}"`);
      }
      const existing = this.users.get(email);
      const user: EmulatorUser = existing ?? { email, domain: d, gmail: true, suspended: false, data: new Map() };
      if (u.gmail !== undefined) user.gmail = u.gmail;
      if (u.suspended !== undefined) user.suspended = u.suspended;
      this.users.set(email, user);
      return user;
    });
  }

  findUser(email: string): EmulatorUser | undefined {
    return this.users.get(email.toLowerCase());
  }

  /**
   * Per-user storage for API modules (contacts, events, mailbox). `key` should be the module's api name or a
   * sub-key of it. Created on first use, dropped by reset.
   */
  userData<T>(user: EmulatorUser, key: string, init: () => T): T {
    if (!user.data.has(key)) user.data.set(key, init());
    return user.data.get(key) as T;
  }

  /** Module-wide storage that is not per user; dropped by reset. */
  moduleData<T>(key: string, init: () => T): T {
    if (!this.globalData.has(key)) this.globalData.set(key, init());
    return this.globalData.get(key) as T;
  }

  // --- service accounts ------------------------------------------------------------------------------------------

  async createServiceAccount(domain: string): Promise<{ account: ServiceAccount; key: ServiceAccountKeyFile }> {
    const d = domain.toLowerCase();
    this.domains.add(d);
    const slug =
      d
        .replace(/[^a-z0-9]+/g, '-')
        .replace(/^-|-$/g, '')
        .slice(0, 20) || 'domain';
    const projectId = `${slug}-${randomBytes(3).toString('hex')}`;
    // Google project numbers are 12 digits; client ids are 21 digits (IAM "Unique ID").
    const projectNumber = String(randomInt(1, 10)) + digits(11);
    const clientId = '1' + digits(20);
    const account: ServiceAccount = {
      clientId,
      email: `gateway@${projectId}.iam.gserviceaccount.com`,
      domain: d,
      projectId,
      projectNumber,
      status: 'active',
      keys: new Map(),
    };
    this.serviceAccounts.set(clientId, account);
    const key = await this.addKey(account);
    return { account, key };
  }

  /** A new key for an existing account (rotation). */
  async addKey(account: ServiceAccount): Promise<ServiceAccountKeyFile> {
    const { privateKey } = await generateKeyPairAsync('rsa', { modulusLength: RSA_MODULUS_BITS });
    const id = randomBytes(20).toString('hex');
    account.keys.set(id, { id, publicKey: createPublicKey(privateKey), status: 'active' });
    return {
      type: 'service_account',
      project_id: account.projectId,
      private_key_id: id,
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      client_email: account.email,
      client_id: account.clientId,
      auth_uri: 'https://accounts.google.com/o/oauth2/auth',
      token_uri: `${this.url}/token`,
      auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs',
      client_x509_cert_url: `https://www.googleapis.com/robot/v1/metadata/x509/${encodeURIComponent(account.email)}`,
      universe_domain: 'googleapis.com',
    };
  }

  findServiceAccountByEmail(email: string): ServiceAccount | undefined {
    for (const sa of this.serviceAccounts.values()) if (sa.email === email) return sa;
    return undefined;
  }

  // --- API enablement ------------------------------------------------------------------------------------------

  setApiEnabled(api: ApiName, enabled: boolean, projectNumber?: string): void {
    if (projectNumber === undefined) {
      this.apiDefaults[api] = enabled;
      for (const p of this.apiByProject.values()) delete p[api];
      return;
    }
    const p = this.apiByProject.get(projectNumber) ?? {};
    p[api] = enabled;
    this.apiByProject.set(projectNumber, p);
  }

  isApiEnabled(api: ApiName, projectNumber: string): boolean {
    return this.apiByProject.get(projectNumber)?.[api] ?? this.apiDefaults[api];
  }

  // --- tokens ------------------------------------------------------------------------------------------------------

  issueToken(account: ServiceAccount, subject: string | null, scopes: string[]): AccessToken {
    const forgetBefore = this.nowMs() - EXPIRED_TOKEN_RETENTION_SECONDS * 1000;
    for (const [t, info] of this.tokens) if (info.expiresAtMs < forgetBefore) this.tokens.delete(t);
    // Opaque and unguessable: 48 random bytes. The `ya29.` prefix is what Google's access tokens look like.
    const token: AccessToken = {
      token: 'ya29.' + randomBytes(48).toString('base64url'),
      clientId: account.clientId,
      projectNumber: account.projectNumber,
      subject,
      scopes,
      expiresAtMs: this.nowMs() + this.settings.accessTokenLifetimeSeconds * 1000,
    };
    this.tokens.set(token.token, token);
    return token;
  }
}

function digits(n: number): string {
  let s = '';
  while (s.length < n) s += String(randomInt(0, 10));
  return s;
}
