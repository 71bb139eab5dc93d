import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, describeConfig, loadConfig } from '../../src/config';

const KEY = Buffer.alloc(32, 7).toString('base64');
const SECRET = 'super-secret-value-0123456789-abcdef';
const prod = (env: Record<string, string>) => ({ NODE_ENV: 'production', ...env });
const valid = {
  JWT_SECRET: SECRET,
  JWT_ISSUER: 'https://id.crm.test',
  JWT_AUDIENCE: 'engage',
  KEY_ENCRYPTION_KEYS: `k1:${KEY}`,
  TRUST_PROXY: '10.0.0.0/8',
};

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  test('production with nothing set: one line per missing variable', () => {
    const p = problems(prod({}));
    expect(p).toEqual([
      expect.stringMatching(/^JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL is required/),
      expect.stringMatching(/^JWT_ISSUER is required/),
      expect.stringMatching(/^JWT_AUDIENCE is required/),
      expect.stringMatching(/^KEY_ENCRYPTION_KEYS is required/),
      expect.stringMatching(/^production serves HTTPS only: set TLS_CERT_FILE and TLS_KEY_FILE, or TRUST_PROXY/),
    ]);
  });

  test('a valid production config loads', () => {
    const c = loadConfig(prod({ ...valid, DATABASE_URL: 'mysql://u:p@db:3306/engage', PORT: '8080' }));
    expect(c).toMatchObject({
      nodeEnv: 'production',
      sandbox: false,
      port: 8080,
      database: { kind: 'mysql' },
      auth: { issuer: 'https://id.crm.test' },
    });
    expect(c.keyEncryptionKeys.map((k) => k.id)).toEqual(['k1']);
  });

  test('HTTP_KEEP_ALIVE_SECONDS: 65 by default, a whole number of seconds from 1 to 3600', () => {
    expect(loadConfig(prod(valid)).http.keepAliveTimeoutMs).toBe(65_000);
    expect(loadConfig(prod({ ...valid, HTTP_KEEP_ALIVE_SECONDS: '120' })).http.keepAliveTimeoutMs).toBe(120_000);
    expect(problems(prod({ ...valid, HTTP_KEEP_ALIVE_SECONDS: '0' }))).toEqual([
      expect.stringMatching(/^HTTP_KEEP_ALIVE_SECONDS must be a whole number from 1 to 3600 \(got "0"\)/),
    ]);
  });

  test('bad values name the variable, the expectation and (for non-secrets) what was received', () => {
    const p = problems(prod({ ...valid, PORT: 'eighty', LOG_LEVEL: 'loud', NODE_ENV: 'production' }));
    expect(p).toContain('PORT must be a whole number from 0 to 65535 (got "eighty")');
    expect(p).toContain('LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "loud")');
  });

  test('secrets are never echoed, not even when wrong', () => {
    const shortSecret = 'tooshort-but-secret';
    const p = problems(
      prod({
        ...valid,
        JWT_SECRET: shortSecret,
        KEY_ENCRYPTION_KEYS: `k1:${Buffer.alloc(16, 1).toString('base64')},k2:not base64!!`,
        DATABASE_URL: 'mysql://user:pa ss@@:x/',
      }),
    );
    const text = p.join('\n');
    expect(text).toMatch(/JWT_SECRET must be at least 32 bytes for HS256 \(got 19 bytes; value not shown\)/);
    expect(text).toMatch(/KEY_ENCRYPTION_KEYS entry 1 \("k1"\) must decode to 32 bytes \(got 16 bytes/);
    expect(text).toMatch(/KEY_ENCRYPTION_KEYS entry 2 must look like "id:base64key"/);
    expect(text).not.toContain(shortSecret);
    expect(text).not.toContain(Buffer.alloc(16, 1).toString('base64'));
    expect(text).not.toContain('pa ss');
  });

  test('DATABASE_URL: wrong scheme, or no database name', () => {
    expect(problems(prod({ ...valid, DATABASE_URL: 'postgres://u:p@h/db' }))).toEqual([
      expect.stringMatching(/DATABASE_URL must start with mysql:\/\/ or mariadb:\/\/ \(got "postgres:\/\/…"\)/),
    ]);
    expect(problems(prod({ ...valid, DATABASE_URL: 'mysql://u:p@h:3306/' }))).toEqual([
      expect.stringMatching(/must name a database/),
    ]);
  });

  test('only one way to verify caller tokens', () => {
    expect(problems(prod({ ...valid, JWT_JWKS_URL: 'https://id.crm.test/jwks' }))).toEqual([
      'set only one of JWT_SECRET, JWT_PUBLIC_KEY, JWT_JWKS_URL (got JWT_SECRET and JWT_JWKS_URL)',
    ]);
    expect(problems(prod({ ...valid, JWT_SECRET: '', JWT_JWKS_URL: 'http://id.crm.test/jwks' }))).toEqual([
      expect.stringMatching(/JWT_JWKS_URL must use https:\/\//),
    ]);
    expect(problems(prod({ ...valid, JWT_SECRET: '', JWT_PUBLIC_KEY: 'nope' }))).toEqual([
      expect.stringMatching(/JWT_PUBLIC_KEY must be a PEM/),
    ]);
  });

  test('JWT_ALGORITHMS (public key or JWKS): RS256 and/or ES256, anything else named; unset means both', () => {
    const pem = '-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----';
    const withKey = (algs?: string) =>
      prod({ ...valid, JWT_SECRET: '', JWT_PUBLIC_KEY: pem, ...(algs === undefined ? {} : { JWT_ALGORITHMS: algs }) });
    expect(loadConfig(withKey()).auth.verification).toMatchObject({
      kind: 'public-key',
      algorithms: ['RS256', 'ES256'],
    });
    expect(loadConfig(withKey(' ES256 ')).auth.verification).toMatchObject({ algorithms: ['ES256'] });
    expect(
      loadConfig({
        ...prod({ ...valid, JWT_SECRET: '', JWT_JWKS_URL: 'https://id.crm.test/jwks' }),
        JWT_ALGORITHMS: 'RS256',
      }).auth.verification,
    ).toMatchObject({ kind: 'jwks', algorithms: ['RS256'] });
    expect(problems(withKey('RS256,HS256,none'))).toEqual([
      'JWT_ALGORITHMS must list RS256 and/or ES256 (got "HS256,none")',
    ]);
  });

  test('JWT_CLOCK_TOLERANCE_SECONDS: 30 by default, 0 to 300', () => {
    expect(loadConfig(prod(valid)).auth.clockToleranceSeconds).toBe(30);
    expect(loadConfig(prod({ ...valid, JWT_CLOCK_TOLERANCE_SECONDS: '0' })).auth.clockToleranceSeconds).toBe(0);
    expect(loadConfig(prod({ ...valid, JWT_CLOCK_TOLERANCE_SECONDS: '300' })).auth.clockToleranceSeconds).toBe(300);
    expect(problems(prod({ ...valid, JWT_CLOCK_TOLERANCE_SECONDS: '301' }))).toEqual([
      'JWT_CLOCK_TOLERANCE_SECONDS must be a whole number from 0 to 300 (got "301")',
    ]);
    expect(problems(prod({ ...valid, JWT_CLOCK_TOLERANCE_SECONDS: '-1' }))).toEqual([
      'JWT_CLOCK_TOLERANCE_SECONDS must be a whole number from 0 to 300 (got "-1")',
    ]);
  });

  test("Google roots: a per-API root beats GOOGLE_API_ROOT_URL, which beats Google's own; bad URLs are named", () => {
    const c = loadConfig(
      prod({ ...valid, GOOGLE_API_ROOT_URL: 'http://all.test/', GOOGLE_CALENDAR_ROOT_URL: 'http://cal.test/' }),
    );
    expect(c.google.roots).toEqual({
      people: 'http://all.test/',
      calendar: 'http://cal.test/',
      gmail: 'http://all.test/',
    });
    expect(loadConfig(prod({ ...valid, GOOGLE_GMAIL_ROOT_URL: 'http://mail.test/' })).google.roots).toEqual({
      people: 'https://people.googleapis.com/',
      calendar: 'https://www.googleapis.com/',
      gmail: 'http://mail.test/',
    });
    expect(problems(prod({ ...valid, GOOGLE_PEOPLE_ROOT_URL: 'ftp://people.test/' }))).toEqual([
      'GOOGLE_PEOPLE_ROOT_URL must be an http(s) URL (got "ftp://people.test/")',
    ]);
    // In the sandbox, one explicit root is enough to keep the in-process emulator out of the way.
    const dir = mkdtempSync(join(tmpdir(), 'engage-config-'));
    expect(loadConfig({ DATA_DIR: dir }).google.useSandboxEmulator).toBe(true);
    expect(loadConfig({ DATA_DIR: dir, GOOGLE_PEOPLE_ROOT_URL: 'http://people.test/' }).google.useSandboxEmulator).toBe(
      false,
    );
  });

  test('the sandbox is refused in production', () => {
    expect(problems(prod({ ...valid, SANDBOX: 'true' }))).toEqual([
      'SANDBOX=true is not allowed with NODE_ENV=production',
    ]);
  });

  test('sandbox: secrets are generated once, kept with mode 0600, and reused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'engage-config-'));
    const a = loadConfig({ DATA_DIR: dir });
    const b = loadConfig({ DATA_DIR: dir });
    expect(a.sandbox).toBe(true);
    expect(a.database).toEqual({ kind: 'sqlite', path: join(dir, 'engage.sqlite') });
    const file = join(dir, 'sandbox-secrets.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8')).jwtSecret).toHaveLength(44);
    expect(a.auth.verification).toEqual(b.auth.verification);
    expect(a.keyEncryptionKeys[0].key.equals(b.keyEncryptionKeys[0].key)).toBe(true);
    expect(
      loadConfig({ DATA_DIR: mkdtempSync(join(tmpdir(), 'engage-config-')) }).keyEncryptionKeys[0].key.equals(
        a.keyEncryptionKeys[0].key,
      ),
    ).toBe(false);
  });

  test('what is printed about a config holds no secret', () => {
    const c = loadConfig(prod({ ...valid, DATABASE_URL: 'mysql://u:hunter2@db:3306/engage' }));
    const printed = JSON.stringify(describeConfig(c));
    expect(printed).not.toContain('hunter2');
    expect(printed).not.toContain(SECRET);
    expect(printed).not.toContain(KEY);
    expect(printed).toContain('mysql://u:***@db:3306/engage');
  });
});

describe('clients (issue 15): EXPLORER, INTROSPECTION_ROLES, PERSISTED_OPERATIONS(_FILE), APQ_CACHE_BYTES', () => {
  const dev = (env: Record<string, string> = {}) => ({ ...valid, NODE_ENV: 'development', SANDBOX: 'false', ...env });
  const manifest = () => {
    const file = join(mkdtempSync(join(tmpdir(), 'engage-config-')), 'manifest.json');
    writeFileSync(file, JSON.stringify({ format: 'apollo-persisted-query-manifest', version: 1, operations: [] }));
    return file;
  };

  test('defaults: explorer and introspection for all outside production; neither in production; allow; 8 MiB of APQ', () => {
    expect(loadConfig(dev()).clients).toEqual({
      explorer: true,
      internalRoles: [],
      introspectionForAll: true,
      persistedOperations: 'allow',
      persistedOperationsFile: null,
      apqCacheBytes: 8 * 1024 * 1024,
    });
    expect(loadConfig(prod(valid)).clients).toEqual({
      explorer: false,
      internalRoles: [],
      introspectionForAll: false,
      persistedOperations: 'allow',
      persistedOperationsFile: null,
      apqCacheBytes: 8 * 1024 * 1024,
    });
  });

  test('EXPLORER is "true" or "false"; in production it needs INTROSPECTION_ROLES', () => {
    expect(loadConfig(dev({ EXPLORER: 'false' })).clients.explorer).toBe(false);
    expect(problems(dev({ EXPLORER: 'yes' }))).toEqual(['EXPLORER must be "true" or "false" (got "yes")']);
    expect(problems(prod({ ...valid, EXPLORER: 'true' }))).toEqual([
      expect.stringMatching(
        /^EXPLORER=true in production needs INTROSPECTION_ROLES \(the token roles of staff who may read the schema/,
      ),
    ]);
    const c = loadConfig(prod({ ...valid, EXPLORER: 'true', INTROSPECTION_ROLES: 'internal' }));
    expect(c.clients).toMatchObject({ explorer: true, internalRoles: ['internal'], introspectionForAll: false });
  });

  test('INTROSPECTION_ROLES: a comma-separated list of token roles, trimmed; a bad role is named', () => {
    expect(
      loadConfig(prod({ ...valid, INTROSPECTION_ROLES: ' internal , support:read,eng.team ,' })).clients.internalRoles,
    ).toEqual(['internal', 'support:read', 'eng.team']);
    expect(problems(prod({ ...valid, INTROSPECTION_ROLES: 'internal,has space' }))).toEqual([
      expect.stringMatching(/^INTROSPECTION_ROLES must be a comma-separated list of token roles .*got "has space"/),
    ]);
    // Outside production the roles do not close introspection (they still exempt callers from
    // PERSISTED_OPERATIONS=require).
    expect(loadConfig(dev({ INTROSPECTION_ROLES: 'internal' })).clients).toMatchObject({
      introspectionForAll: true,
      internalRoles: ['internal'],
    });
  });

  test('PERSISTED_OPERATIONS: allow or require; require needs PERSISTED_OPERATIONS_FILE, which must be readable', () => {
    const file = manifest();
    expect(
      loadConfig(prod({ ...valid, PERSISTED_OPERATIONS: 'require', PERSISTED_OPERATIONS_FILE: file })).clients,
    ).toMatchObject({ persistedOperations: 'require', persistedOperationsFile: file });
    expect(loadConfig(dev({ PERSISTED_OPERATIONS_FILE: file })).clients).toMatchObject({
      persistedOperations: 'allow',
      persistedOperationsFile: file,
    });
    expect(problems(dev({ PERSISTED_OPERATIONS: 'strict' }))).toEqual([
      'PERSISTED_OPERATIONS must be one of allow, require (got "strict")',
    ]);
    expect(problems(prod({ ...valid, PERSISTED_OPERATIONS: 'require' }))).toEqual([
      expect.stringMatching(/^PERSISTED_OPERATIONS=require needs PERSISTED_OPERATIONS_FILE/),
    ]);
    expect(problems(dev({ PERSISTED_OPERATIONS_FILE: '/nonexistent/manifest.json' }))).toEqual([
      'PERSISTED_OPERATIONS_FILE must name a readable JSON manifest (got "/nonexistent/manifest.json")',
    ]);
    const unreadable = manifest();
    chmodSync(unreadable, 0o000);
    // root reads any file whatever its mode: the check is only meaningful for other users.
    if (process.getuid?.() !== 0)
      expect(problems(dev({ PERSISTED_OPERATIONS_FILE: unreadable }))).toEqual([
        `PERSISTED_OPERATIONS_FILE must name a readable JSON manifest (got "${unreadable}")`,
      ]);
    // Both problems at once when require names an unreadable file.
    expect(
      problems(prod({ ...valid, PERSISTED_OPERATIONS: 'require', PERSISTED_OPERATIONS_FILE: '/nonexistent/m.json' })),
    ).toEqual(['PERSISTED_OPERATIONS_FILE must name a readable JSON manifest (got "/nonexistent/m.json")']);
  });

  test('APQ_CACHE_BYTES: bytes of documents, 0 (APQ off) to 1 GiB', () => {
    expect(loadConfig(dev({ APQ_CACHE_BYTES: '0' })).clients.apqCacheBytes).toBe(0);
    expect(loadConfig(dev({ APQ_CACHE_BYTES: '65536' })).clients.apqCacheBytes).toBe(65536);
    expect(problems(dev({ APQ_CACHE_BYTES: '8MiB' }))).toEqual([
      'APQ_CACHE_BYTES must be a whole number from 0 to 1073741824 (got "8MiB")',
    ]);
    expect(problems(dev({ APQ_CACHE_BYTES: String(2 * 1024 ** 3) }))).toEqual([
      `APQ_CACHE_BYTES must be a whole number from 0 to 1073741824 (got "${2 * 1024 ** 3}")`,
    ]);
  });

  test('CONTACT_CHANGES_RETENTION_DAYS: 30 days by default, 1 to 3660', () => {
    expect(loadConfig(dev()).contacts.changesRetentionMs).toBe(30 * 86_400_000);
    expect(loadConfig(dev({ CONTACT_CHANGES_RETENTION_DAYS: '7' })).contacts.changesRetentionMs).toBe(7 * 86_400_000);
    expect(problems(dev({ CONTACT_CHANGES_RETENTION_DAYS: '0' }))).toEqual([
      'CONTACT_CHANGES_RETENTION_DAYS must be a whole number from 1 to 3660 (got "0")',
    ]);
    expect(problems(dev({ CONTACT_CHANGES_RETENTION_DAYS: 'a month' }))).toEqual([
      'CONTACT_CHANGES_RETENTION_DAYS must be a whole number from 1 to 3660 (got "a month")',
    ]);
  });
});
