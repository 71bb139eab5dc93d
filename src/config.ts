/**
 * The gateway's one configuration object, read from the environment once at
 * boot and validated as a whole: every bad or missing variable is reported on
 * its own line, naming the variable and what was expected. Secret values are
 * never echoed back, not even in those messages (we say what is wrong with a
 * secret, e.g. its length, never its content).
 *
 * Sandbox mode (the default outside NODE_ENV=production) fills in what a
 * newcomer's `npm start` lacks: random secrets generated once and kept in
 * `data/sandbox-secrets.json` (mode 0600), never fixed strings in the source.
 */
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

type NodeEnv = 'development' | 'production' | 'test';

export interface KeyEncryptionKey {
  /** Short identifier stored next to every wrapped data key, so the KEK can rotate. */
  id: string;
  /** 32 bytes (AES-256). Secret. */
  key: Buffer;
}

type CallerJwtVerification =
  | { kind: 'hs256'; secret: Buffer }
  | { kind: 'public-key'; pem: string; algorithms: ('RS256' | 'ES256')[] }
  | { kind: 'jwks'; url: URL; algorithms: ('RS256' | 'ES256')[] };

export interface Config {
  nodeEnv: NodeEnv;
  sandbox: boolean;
  port: number;
  /** Where GET /metrics is served: its own port (not exposed with the API), or null for the API's port. */
  metricsPort: number | null;
  host: string;
  emulatorPort: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  database:
    | {
        kind: 'mysql';
        url: string;
        /** TLS to the server, its certificate verified against `caFile` (PEM) or the system's CAs. */ tls?: {
          caFile: string | null;
        };
      }
    | { kind: 'sqlite'; path: string };
  /**
   * How HTTPS is ensured: the gateway serves TLS itself (`tls`), or a TLS-terminating proxy it trusts forwards
   * (`trustProxy`, express's "trust proxy": which peers may say X-Forwarded-Proto). In production one is required,
   * plain-HTTP requests are refused (health, readiness and metrics excepted) and HSTS is sent.
   */
  https: {
    tls: {
      certFile: string;
      keyFile: string;
      /** how often the files are checked for a renewal */ reloadSeconds: number;
    } | null;
    trustProxy: string | null;
    required: boolean;
  };
  auth: {
    verification: CallerJwtVerification;
    issuer: string;
    audience: string;
    clockToleranceSeconds: number;
    /** The HS256 secret is the sandbox's generated one (data/sandbox-secrets.json), not one an operator set. */
    generatedSecret: boolean;
  };
  /** Ordered: the first is the active KEK used to wrap new data keys. */
  keyEncryptionKeys: KeyEncryptionKey[];
  http: {
    /** Largest request body accepted, in bytes, counted after inflation. */
    maxBodyBytes: number;
    /** Largest body of a sendMail request (uncompressed, with a declared length), bytes. */
    maxMailBodyBytes: number;
    /** Bodies over maxBodyBytes read at once per process (a brokerage gets at most half of them). */
    largeBodySlots: number;
    /** How long such a body may take to arrive once it holds a slot, ms. */
    largeBodyTimeoutMs: number;
    /** How long an idle keep-alive connection is kept open, ms (announced to clients in `Keep-Alive: timeout=`). */
    keepAliveTimeoutMs: number;
    /** On SIGTERM: how long requests under way may take to finish before their connections are closed, ms. */
    drainMs: number;
  };
  google: {
    /** API roots per service (`rootUrl` of each generated client). */
    roots: { people: string; calendar: string; gmail: string };
    /**
     * Token endpoints a submitted key's `token_uri` may name (anything else is refused: no SSRF through a key file).
     */
    allowedTokenUris: string[];
    /** Timeout of one Google API call, ms. */
    requestTimeoutMs: number;
    /** Sandbox without explicit roots: main.ts points Google at the in-process emulator (withEmulator). */
    useSandboxEmulator: boolean;
  };
  contacts: {
    /** Reads sync first when the mirror is older than this, ms. */
    freshnessMs: number;
    /** How long the contact change feed keeps a change (and a deleted contact's tombstone), ms (contactChanges). */
    changesRetentionMs: number;
  };
  /** The gateway's clients: the explorer, introspection, persisted operations (issue 15). */
  clients: {
    /** GraphiQL at GET /explorer (EXPLORER; on outside production). */
    explorer: boolean;
    /**
     * Token roles that may introspect the schema in production and send documents outside the manifest
     * (INTROSPECTION_ROLES).
     */
    internalRoles: string[];
    /** Whether introspection is open to every caller (outside production) or only to internalRoles. */
    introspectionForAll: boolean;
    /** 'allow': any document, manifest ids too; 'require': only the manifest's documents (internal roles excepted). */
    persistedOperations: 'allow' | 'require';
    /** An Apollo persisted-query manifest (PERSISTED_OPERATIONS_FILE); null: none. */
    persistedOperationsFile: string | null;
    /** Bytes of documents the automatic persisted queries cache holds (APQ_CACHE_BYTES); 0 turns APQ off. */
    apqCacheBytes: number;
  };
  calendar: {
    cacheMs: number;
    /** Characters of event text the views' cache keeps in the process (CALENDAR_CACHE_MB; range-cache.ts viewCache). */
    cacheBytes: number;
    maxRangeMs: number;
    /** Most events one events() view loads from Google; a range holding more is refused (calendar.service.ts). */
    maxEventsPerView: number;
    /** Public address of /webhooks/google/calendar for push notifications; null: off. */
    webhookUrl: string | null;
    /** How far back the change feed's full sync lists events, days. */
    syncPastDays: number;
    /** How long the change feed keeps a change, ms; an older cursor is told to reload (eventChanges). */
    changesRetentionMs: number;
    /**
     * What a shutting-down process does with the push channels: 'keep' them
     * (the default: several replicas behind one address, the others go on
     * serving notifications, channels live in the shared database; a rolling
     * deploy must not turn push off for every agent) or 'stop' them (a lone
     * gateway going away for good: Google stops calling its address).
     */
    channelsOnShutdown: 'stop' | 'keep';
    /** A push channel is renewed this long before it expires, ms (derived, not set). */
    channelRenewBeforeMs: number;
    /** How often channels due for renewal are looked for, ms (derived, not set). */
    channelRenewEveryMs: number;
  };
  mail: {
    /** Most addresses (to + cc + bcc) in one mail. */
    maxRecipients: number;
    /**
     * A mail Gmail could not take for this long (outage, rate limits) is given up: FAILED, so it is not sent days late,
     * ms.
     */
    giveUpMs: number;
  };
  outbox: {
    /**
     * How long a mutation waits for Google's answer before it answers PENDING (its rows go on in the background), ms.
     */
    mutationWaitMs: number;
    pollMs: number;
    lingerMs: number;
    leaseMs: number;
    retryBaseMs: number;
    retryMaxMs: number;
    concurrency: number;
  };
}

/** Google's own roots (defaults of the generated clients) and token endpoint. */
const GOOGLE_DEFAULT_ROOTS = {
  people: 'https://people.googleapis.com/',
  calendar: 'https://www.googleapis.com/',
  gmail: 'https://gmail.googleapis.com/',
};
const GOOGLE_TOKEN_ENDPOINT = 'https://oauth2.googleapis.com/token';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** Defaults for sandbox secrets; created on first use, kept across restarts. */
export interface SandboxSecrets {
  jwtSecret: string; // base64
  kek: string; // base64, 32 bytes
}

const SANDBOX_ISSUER = 'engage-sandbox';
const SANDBOX_AUDIENCE = 'engage-gateway';

function loadSandboxSecrets(dataDir: string): SandboxSecrets {
  const file = resolve(dataDir, 'sandbox-secrets.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as SandboxSecrets;
  const secrets: SandboxSecrets = {
    jwtSecret: randomBytes(32).toString('base64'),
    kek: randomBytes(32).toString('base64'),
  };
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(secrets, null, 2) + '\n', { mode: 0o600 });
  return secrets;
}

/**
 * Reads and validates the environment. Throws ConfigError listing every
 * problem found; `sandboxSecrets` supplies defaults for secrets in sandbox mode.
 */
export function loadConfig(env: Env = process.env, sandboxSecrets?: (dataDir: string) => SandboxSecrets): Config {
  const problems: string[] = [];
  const str = (name: string) => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const int = (name: string, def: number, min: number, max: number): number => {
    const raw = str(name);
    if (raw === undefined) return def;
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      problems.push(`${name} must be a whole number from ${min} to ${max} (got "${raw}")`);
      return def;
    }
    return Number(raw);
  };
  const oneOf = <T extends string>(name: string, allowed: readonly T[], def: T): T => {
    const raw = str(name);
    if (raw === undefined) return def;
    if (!(allowed as readonly string[]).includes(raw)) {
      problems.push(`${name} must be one of ${allowed.join(', ')} (got "${raw}")`);
      return def;
    }
    return raw as T;
  };

  const nodeEnv = oneOf('NODE_ENV', ['development', 'production', 'test'] as const, 'development');
  const sandboxRaw = str('SANDBOX');
  let sandbox = nodeEnv !== 'production';
  if (sandboxRaw !== undefined) {
    if (sandboxRaw !== 'true' && sandboxRaw !== 'false')
      problems.push(`SANDBOX must be "true" or "false" (got "${sandboxRaw}")`);
    else sandbox = sandboxRaw === 'true';
  }
  if (sandbox && nodeEnv === 'production') problems.push('SANDBOX=true is not allowed with NODE_ENV=production');

  const dataDir = resolve(str('DATA_DIR') ?? 'data');
  let secrets: SandboxSecrets | undefined;
  const sandboxDefault = (): SandboxSecrets | undefined => {
    if (!sandbox) return undefined;
    secrets ??= (sandboxSecrets ?? loadSandboxSecrets)(dataDir);
    return secrets;
  };

  const database = readDatabase(str, problems, dataDir);

  // Caller JWT verification: exactly one of secret, public key, JWKS URL.
  const jwtSecret = str('JWT_SECRET');
  const jwtPublicKey = str('JWT_PUBLIC_KEY');
  const jwksUrl = str('JWT_JWKS_URL');
  const given = [jwtSecret && 'JWT_SECRET', jwtPublicKey && 'JWT_PUBLIC_KEY', jwksUrl && 'JWT_JWKS_URL'].filter(
    Boolean,
  );
  const asymAlgs = (): ('RS256' | 'ES256')[] => {
    const raw = str('JWT_ALGORITHMS') ?? 'RS256,ES256';
    const algs = raw.split(',').map((a) => a.trim());
    const bad = algs.filter((a) => a !== 'RS256' && a !== 'ES256');
    if (bad.length) problems.push(`JWT_ALGORITHMS must list RS256 and/or ES256 (got "${bad.join(',')}")`);
    return algs.filter((a): a is 'RS256' | 'ES256' => a === 'RS256' || a === 'ES256');
  };
  let verification: CallerJwtVerification = { kind: 'hs256', secret: Buffer.alloc(0) };
  let generatedSecret = false;
  if (given.length > 1) {
    problems.push(`set only one of JWT_SECRET, JWT_PUBLIC_KEY, JWT_JWKS_URL (got ${given.join(' and ')})`);
  } else if (jwtSecret) {
    if (Buffer.byteLength(jwtSecret) < 32)
      problems.push(
        `JWT_SECRET must be at least 32 bytes for HS256 (got ${Buffer.byteLength(jwtSecret)} bytes; value not shown)`,
      );
    verification = { kind: 'hs256', secret: Buffer.from(jwtSecret) };
  } else if (jwtPublicKey) {
    const pem = jwtPublicKey.replace(/\\n/g, '\n');
    if (!/-----BEGIN PUBLIC KEY-----[\s\S]+-----END PUBLIC KEY-----/.test(pem)) {
      problems.push('JWT_PUBLIC_KEY must be a PEM "-----BEGIN PUBLIC KEY-----" block (SPKI) of an RSA or EC P-256 key');
    }
    verification = { kind: 'public-key', pem, algorithms: asymAlgs() };
  } else if (jwksUrl) {
    let url: URL | undefined;
    try {
      url = new URL(jwksUrl);
    } catch {
      problems.push(`JWT_JWKS_URL must be an https:// URL of a JWKS document (got "${jwksUrl}")`);
    }
    if (
      url &&
      url.protocol !== 'https:' &&
      !(url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname))
    ) {
      problems.push(`JWT_JWKS_URL must use https:// (plain http only for localhost) (got "${url.protocol}//…")`);
    }
    if (url) verification = { kind: 'jwks', url, algorithms: asymAlgs() };
  } else {
    const s = sandboxDefault();
    if (s) {
      verification = { kind: 'hs256', secret: Buffer.from(s.jwtSecret, 'base64') };
      generatedSecret = true;
    } else
      problems.push("JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL is required (how callers' bearer tokens are verified)");
  }
  const issuer = str('JWT_ISSUER') ?? (sandbox ? SANDBOX_ISSUER : undefined);
  const audience = str('JWT_AUDIENCE') ?? (sandbox ? SANDBOX_AUDIENCE : undefined);
  if (!issuer) problems.push('JWT_ISSUER is required: the `iss` every caller token must carry');
  if (!audience) problems.push('JWT_AUDIENCE is required: the `aud` every caller token must carry');

  // Key-encryption keys: "id:base64key[,id:base64key…]", the first is active.
  const keyEncryptionKeys: KeyEncryptionKey[] = [];
  const kekRaw = str('KEY_ENCRYPTION_KEYS');
  if (kekRaw === undefined) {
    const s = sandboxDefault();
    if (s) keyEncryptionKeys.push({ id: 'sandbox', key: Buffer.from(s.kek, 'base64') });
    else
      problems.push(
        'KEY_ENCRYPTION_KEYS is required: "id:base64" of a 32-byte key (comma-separated list, active key first), e.g. generated with `openssl rand -base64 32`',
      );
  } else {
    const seen = new Set<string>();
    kekRaw.split(',').forEach((entry, i) => {
      const m = /^([A-Za-z0-9_.-]{1,32}):([A-Za-z0-9+/=_-]+)$/.exec(entry.trim());
      if (!m) {
        problems.push(
          `KEY_ENCRYPTION_KEYS entry ${i + 1} must look like "id:base64key" with an id of 1-32 letters, digits, "_", "." or "-" (value not shown)`,
        );
        return;
      }
      const key = Buffer.from(m[2], 'base64');
      if (key.length !== 32) {
        problems.push(
          `KEY_ENCRYPTION_KEYS entry ${i + 1} ("${m[1]}") must decode to 32 bytes (got ${key.length} bytes; value not shown)`,
        );
        return;
      }
      if (seen.has(m[1])) problems.push(`KEY_ENCRYPTION_KEYS lists the id "${m[1]}" twice`);
      seen.add(m[1]);
      keyEncryptionKeys.push({ id: m[1], key });
    });
  }

  const config: Config = {
    nodeEnv,
    sandbox,
    port: int('PORT', 4000, 0, 65535),
    metricsPort: str('METRICS_PORT') === undefined ? null : int('METRICS_PORT', 0, 0, 65535),
    host: str('HOST') ?? (nodeEnv === 'production' ? '0.0.0.0' : '127.0.0.1'),
    emulatorPort: int('EMULATOR_PORT', 4001, 0, 65535),
    logLevel: oneOf(
      'LOG_LEVEL',
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const,
      nodeEnv === 'test' ? 'silent' : 'info',
    ),
    database,
    https: readHttps(str, int, problems, nodeEnv === 'production'),
    auth: {
      verification,
      issuer: issuer ?? '',
      audience: audience ?? '',
      clockToleranceSeconds: int('JWT_CLOCK_TOLERANCE_SECONDS', 30, 0, 300),
      generatedSecret,
    },
    keyEncryptionKeys,
    // Every body is small (1 MiB), but a mail's: one as large as Gmail takes (35 MiB of MIME) arrives as base64
    // attachments in the JSON body, and 40 MiB lets every such mail through to sendMail's own size check (a typed
    // error naming the limit). Each large body costs several copies of itself while the mail is built and stored, so
    // only LARGE_BODY_SLOTS of them are read at once (http/request-body.ts).
    // Node's default keep-alive of 5 s is shorter than the idle timeout of the load balancers in front of us (60 s is
    // common): the balancer then reuses a connection we are closing and its client gets a reset (a 502). Clients that
    // keep connections as long as we announce close them first. 65 s outlasts a 60 s balancer.
    http: {
      maxBodyBytes: int('MAX_BODY_BYTES', 1024 * 1024, 1024, 64 * 1024 * 1024),
      maxMailBodyBytes: int('MAX_MAIL_BODY_BYTES', 40 * 1024 * 1024, 1024, 64 * 1024 * 1024),
      largeBodySlots: int('LARGE_BODY_SLOTS', 2, 1, 64),
      // 40 MiB in 120 s is 2.8 Mbit/s: a slow mobile uplink still makes it; a client gone quiet frees the slot.
      largeBodyTimeoutMs: int('LARGE_BODY_TIMEOUT_SECONDS', 120, 1, 3600) * 1000,
      keepAliveTimeoutMs: int('HTTP_KEEP_ALIVE_SECONDS', 65, 1, 3600) * 1000,
      // Above MUTATION_WAIT_MS (a write waits that long for Google) and a slow Google call; below Kubernetes' default
      // 30 s terminationGracePeriodSeconds, which deploy/ raises above this with room for the preStop sleep.
      drainMs: int('SHUTDOWN_DRAIN_SECONDS', 20, 0, 600) * 1000,
    },
    google: readGoogle(str, problems, sandbox),
    contacts: {
      freshnessMs: int('CONTACTS_FRESHNESS_SECONDS', 60, 0, 86_400) * 1000,
      changesRetentionMs: int('CONTACT_CHANGES_RETENTION_DAYS', 30, 1, 3660) * 86_400_000,
    },
    clients: readClients(str, int, oneOf, problems, nodeEnv === 'production'),
    calendar: {
      cacheMs: int('CALENDAR_CACHE_SECONDS', 60, 0, 3600) * 1000,
      cacheBytes: int('CALENDAR_CACHE_MB', 16, 1, 64) * 1024 * 1024,
      maxRangeMs: int('CALENDAR_MAX_RANGE_DAYS', 366, 1, 3660) * 86_400_000,
      maxEventsPerView: int('CALENDAR_MAX_EVENTS_PER_VIEW', 10_000, 1, 100_000),
      webhookUrl: readWebhookUrl(str, problems, nodeEnv === 'production'),
      syncPastDays: int('CALENDAR_SYNC_PAST_DAYS', 30, 0, 3660),
      changesRetentionMs: int('CALENDAR_CHANGES_RETENTION_DAYS', 30, 1, 3660) * 86_400_000,
      channelsOnShutdown: oneOf('CALENDAR_CHANNELS_ON_SHUTDOWN', ['stop', 'keep'] as const, 'keep'),
      // Google's events channels last about a week (docs/google-behaviour.md §3.4): renewing a day ahead, looked for
      // hourly, leaves 23 hours of retries for a renewal that fails (Google down, a replica restarting).
      channelRenewBeforeMs: 24 * 3600_000,
      channelRenewEveryMs: 3600_000,
    },
    // Gmail (Workspace) takes at most 2,000 recipients per message (500 outside the domain).
    mail: {
      maxRecipients: int('MAIL_MAX_RECIPIENTS', 100, 1, 2000),
      giveUpMs: int('MAIL_GIVE_UP_SECONDS', 86_400, 1, 30 * 86_400) * 1000,
    },
    outbox: {
      mutationWaitMs: int('MUTATION_WAIT_MS', 3000, 0, 60_000),
      pollMs: int('OUTBOX_POLL_MS', 1000, 10, 60_000),
      lingerMs: int('OUTBOX_LINGER_MS', 25, 0, 5000),
      leaseMs: int('OUTBOX_LEASE_MS', 30_000, 200, 600_000),
      retryBaseMs: int('OUTBOX_RETRY_BASE_MS', 1000, 1, 600_000),
      retryMaxMs: int('OUTBOX_RETRY_MAX_MS', 600_000, 1, 86_400_000),
      concurrency: int('OUTBOX_CONCURRENCY', 4, 1, 64),
    },
  };
  if (problems.length) throw new ConfigError(problems);
  return config;
}

type Reader = (name: string) => string | undefined;
type IntReader = (name: string, def: number, min: number, max: number) => number;
type OneOfReader = <T extends string>(name: string, allowed: readonly T[], def: T) => T;

/** Token roles are short names; a list of them, comma-separated. */
const ROLE = /^[A-Za-z0-9_.:-]{1,64}$/;

function readClients(
  str: Reader,
  int: IntReader,
  oneOf: OneOfReader,
  problems: string[],
  production: boolean,
): Config['clients'] {
  const explorerRaw = str('EXPLORER');
  if (explorerRaw !== undefined && explorerRaw !== 'true' && explorerRaw !== 'false')
    problems.push(`EXPLORER must be "true" or "false" (got "${explorerRaw}")`);
  const explorer = explorerRaw === undefined ? !production : explorerRaw === 'true';
  const roles = (str('INTROSPECTION_ROLES') ?? '')
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  const bad = roles.filter((r) => !ROLE.test(r));
  if (bad.length)
    problems.push(
      `INTROSPECTION_ROLES must be a comma-separated list of token roles (letters, digits, "_", ".", ":", "-"; got "${bad[0].slice(0, 80)}")`,
    );
  // Brokerage admins are customers, not staff: the schema in production is for roles named on purpose.
  if (production && explorer && roles.length === 0)
    problems.push(
      'EXPLORER=true in production needs INTROSPECTION_ROLES (the token roles of staff who may read the schema, e.g. "internal"): without it the explorer has no schema to show',
    );
  const file = str('PERSISTED_OPERATIONS_FILE') ?? null;
  if (file !== null && !readable(file))
    problems.push(`PERSISTED_OPERATIONS_FILE must name a readable JSON manifest (got "${file}")`);
  const persistedOperations = oneOf('PERSISTED_OPERATIONS', ['allow', 'require'] as const, 'allow');
  if (persistedOperations === 'require' && file === null)
    problems.push(
      'PERSISTED_OPERATIONS=require needs PERSISTED_OPERATIONS_FILE (the manifest of the operations the apps may send)',
    );
  return {
    explorer,
    internalRoles: roles.filter((r) => ROLE.test(r)),
    introspectionForAll: !production,
    persistedOperations,
    persistedOperationsFile: file,
    // Apollo Server's own default for its APQ cache is about 30 MiB; ours holds a mobile app's few hundred documents.
    apqCacheBytes: int('APQ_CACHE_BYTES', 8 * 1024 * 1024, 0, 1024 * 1024 * 1024),
  };
}

function readDatabase(str: Reader, problems: string[], dataDir: string): Config['database'] {
  // The password inside DATABASE_URL is a secret: never echo the URL.
  const dbUrl = str('DATABASE_URL');
  if (dbUrl === undefined) {
    return { kind: 'sqlite', path: resolve(str('SQLITE_PATH') ?? resolve(dataDir, 'engage.sqlite')) };
  }
  let parsed: URL | undefined;
  try {
    parsed = new URL(dbUrl);
  } catch {
    problems.push(
      'DATABASE_URL must be a URL like mysql://user:password@host:3306/database (the value given does not parse; not shown because it may hold a password)',
    );
  }
  if (parsed && !['mysql:', 'mariadb:'].includes(parsed.protocol)) {
    problems.push(
      `DATABASE_URL must start with mysql:// or mariadb:// (got "${parsed.protocol}//…"); leave it unset for the embedded SQLite database`,
    );
  } else if (parsed && parsed.pathname.replace(/^\//, '') === '') {
    problems.push('DATABASE_URL must name a database, e.g. mysql://user:password@host:3306/engage');
  }
  const caFile = str('DATABASE_CA_FILE');
  if (caFile !== undefined && !readable(caFile))
    problems.push(`DATABASE_CA_FILE must name a readable PEM file (got "${caFile}")`);
  const tls = str('DATABASE_TLS');
  if (tls !== undefined && tls !== 'true' && tls !== 'false')
    problems.push(`DATABASE_TLS must be true or false (got "${tls}")`);
  const wantTls = caFile !== undefined || tls === 'true';
  return {
    kind: 'mysql',
    url: dbUrl.replace(/^mariadb:/, 'mysql:'),
    ...(wantTls ? { tls: { caFile: caFile ?? null } } : {}),
  };
}

function readable(file: string): boolean {
  try {
    accessSync(file, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

function readHttps(str: Reader, int: IntReader, problems: string[], production: boolean): Config['https'] {
  const certFile = str('TLS_CERT_FILE');
  const keyFile = str('TLS_KEY_FILE');
  let tls: Config['https']['tls'] = null;
  if (certFile !== undefined || keyFile !== undefined) {
    if (certFile === undefined || keyFile === undefined)
      problems.push(
        'TLS_CERT_FILE and TLS_KEY_FILE go together: set both (PEM certificate chain and private key) or neither',
      );
    else if (!readable(certFile)) problems.push(`TLS_CERT_FILE must name a readable PEM file (got "${certFile}")`);
    else if (!readable(keyFile)) problems.push('TLS_KEY_FILE must name a readable PEM file (path not shown)');
    else tls = { certFile, keyFile, reloadSeconds: int('TLS_RELOAD_SECONDS', 60, 1, 86_400) };
  }
  let trustProxy = str('TRUST_PROXY') ?? null;
  if (trustProxy !== null && /^(false|0)$/.test(trustProxy)) {
    problems.push(
      `TRUST_PROXY must name the proxy to trust (addresses or subnets such as "10.0.0.0/8" or "loopback", a hop count of 1 or more, or true); "${trustProxy}" trusts none, so every request would be refused as not HTTPS`,
    );
    trustProxy = null;
  }
  if (production && certFile === undefined && keyFile === undefined && str('TRUST_PROXY') === undefined) {
    problems.push(
      'production serves HTTPS only: set TLS_CERT_FILE and TLS_KEY_FILE, or TRUST_PROXY (e.g. "10.0.0.0/8" or "loopback") naming the TLS-terminating proxy in front',
    );
  }
  return { tls, trustProxy, required: production };
}

/** Google posts push notifications only to https addresses; plain http is for a local emulator. */
function readWebhookUrl(str: Reader, problems: string[], production: boolean): string | null {
  const url = readUrl(str, problems, 'CALENDAR_WEBHOOK_URL');
  if (url && production && !url.startsWith('https://')) {
    problems.push(`CALENDAR_WEBHOOK_URL must be https:// in production (got "${url}")`);
    return null;
  }
  return url ?? null;
}

function readUrl(str: Reader, problems: string[], name: string): string | undefined {
  const raw = str(name);
  if (raw === undefined) return undefined;
  try {
    const u = new URL(raw);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error();
    return u.toString();
  } catch {
    problems.push(`${name} must be an http(s) URL (got "${raw}")`);
    return undefined;
  }
}

function readGoogle(str: Reader, problems: string[], sandbox: boolean): Config['google'] {
  const all = readUrl(str, problems, 'GOOGLE_API_ROOT_URL');
  const roots = {
    people: readUrl(str, problems, 'GOOGLE_PEOPLE_ROOT_URL') ?? all ?? GOOGLE_DEFAULT_ROOTS.people,
    calendar: readUrl(str, problems, 'GOOGLE_CALENDAR_ROOT_URL') ?? all ?? GOOGLE_DEFAULT_ROOTS.calendar,
    gmail: readUrl(str, problems, 'GOOGLE_GMAIL_ROOT_URL') ?? all ?? GOOGLE_DEFAULT_ROOTS.gmail,
  };
  const uris = (str('GOOGLE_TOKEN_URIS') ?? GOOGLE_TOKEN_ENDPOINT)
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
  for (const u of uris) {
    try {
      new URL(u);
    } catch {
      problems.push(`GOOGLE_TOKEN_URIS must be a comma-separated list of URLs (got "${u}")`);
    }
  }
  const timeout = str('GOOGLE_REQUEST_TIMEOUT_MS');
  let requestTimeoutMs = 30_000;
  if (timeout !== undefined) {
    if (!/^\d+$/.test(timeout) || Number(timeout) < 100)
      problems.push(
        `GOOGLE_REQUEST_TIMEOUT_MS must be a whole number of milliseconds, at least 100 (got "${timeout}")`,
      );
    else requestTimeoutMs = Number(timeout);
  }
  const explicit = [
    'GOOGLE_API_ROOT_URL',
    'GOOGLE_PEOPLE_ROOT_URL',
    'GOOGLE_CALENDAR_ROOT_URL',
    'GOOGLE_GMAIL_ROOT_URL',
  ].some((n) => str(n) !== undefined);
  return { roots, allowedTokenUris: uris, requestTimeoutMs, useSandboxEmulator: sandbox && !explicit };
}

/** The config with Google pointed at an emulator (the sandbox's in-process one, once its port is known). */
export function withEmulator(c: Config, emulatorUrl: string): Config {
  const root = emulatorUrl.endsWith('/') ? emulatorUrl : `${emulatorUrl}/`;
  return {
    ...c,
    google: {
      ...c.google,
      roots: { people: root, calendar: root, gmail: root },
      allowedTokenUris: [...c.google.allowedTokenUris, `${root}token`],
    },
  };
}

/** Only the database settings: what the migration CLI needs, without the rest. */
export function loadDatabaseConfig(env: Env = process.env): Config['database'] {
  const problems: string[] = [];
  const str: Reader = (name) => (env[name] === undefined || env[name]!.trim() === '' ? undefined : env[name]!.trim());
  const db = readDatabase(str, problems, resolve(str('DATA_DIR') ?? 'data'));
  if (problems.length) throw new ConfigError(problems);
  return db;
}

/** What may be printed about a config: everything but the secrets. */
export function describeConfig(c: Config): Record<string, unknown> {
  return {
    nodeEnv: c.nodeEnv,
    sandbox: c.sandbox,
    port: c.port,
    database:
      c.database.kind === 'sqlite'
        ? { kind: 'sqlite', path: c.database.path }
        : { kind: 'mysql', url: redactUrl(c.database.url) },
    auth: { verification: c.auth.verification.kind, issuer: c.auth.issuer, audience: c.auth.audience },
    keyEncryptionKeyIds: c.keyEncryptionKeys.map((k) => k.id),
  };
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}
