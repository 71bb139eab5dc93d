/**
 * Issue 14, HTTPS only: the integration guide promises HTTPS for all traffic. In production the gateway serves TLS
 * itself (TLS_CERT_FILE, TLS_KEY_FILE) or trusts a TLS-terminating proxy (TRUST_PROXY) and refuses what did not
 * arrive over TLS, sending HSTS; the Calendar webhook must be https; MySQL can be reached over verified TLS.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config';
import { dataSourceOptions } from '../../src/db/data-source';
import { createTestDb, type TestDb } from '../support/db';
import { seedBrokerage, startTestGateway, type TestGateway } from '../support/gateway';
import { captureLog } from '../support/log-capture';
import { prototypeChangesDuring } from '../support/prototypes';
import { until } from '../support/wait';

const KEY = Buffer.alloc(32, 7).toString('base64');
const prod = {
  NODE_ENV: 'production',
  JWT_SECRET: 'super-secret-value-0123456789-abcdef',
  JWT_ISSUER: 'https://id.crm.test',
  JWT_AUDIENCE: 'engage',
  KEY_ENCRYPTION_KEYS: `k1:${KEY}`,
};
const problems = (env: Record<string, string>) => {
  try {
    loadConfig(env);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
};

/** A self-signed certificate for 127.0.0.1, made with the system's openssl. */
function selfSigned(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'engage-tls-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'pipe' },
  );
  return { cert, key };
}

describe('HTTPS in production: configuration', () => {
  test('neither TLS files nor a trusted proxy: one line saying what to set', () => {
    expect(problems(prod)).toEqual([
      'production serves HTTPS only: set TLS_CERT_FILE and TLS_KEY_FILE, or TRUST_PROXY (e.g. "10.0.0.0/8" or "loopback") naming the TLS-terminating proxy in front',
    ]);
  });
  test('TLS files must come in pairs and be readable; a webhook must be https; DATABASE_TLS is true or false', () => {
    expect(problems({ ...prod, TLS_CERT_FILE: '/nonexistent/cert.pem' })).toEqual([
      expect.stringMatching(/^TLS_CERT_FILE and TLS_KEY_FILE go together/),
    ]);
    expect(problems({ ...prod, TLS_CERT_FILE: '/nonexistent/cert.pem', TLS_KEY_FILE: '/nonexistent/key.pem' })).toEqual(
      ['TLS_CERT_FILE must name a readable PEM file (got "/nonexistent/cert.pem")'],
    );
    expect(
      problems({
        ...prod,
        TRUST_PROXY: 'loopback',
        CALENDAR_WEBHOOK_URL: 'http://gw.example.com/webhooks/google/calendar',
      }),
    ).toEqual([
      'CALENDAR_WEBHOOK_URL must be https:// in production (got "http://gw.example.com/webhooks/google/calendar")',
    ]);
    expect(
      problems({ ...prod, TRUST_PROXY: 'loopback', DATABASE_URL: 'mysql://u:p@db/engage', DATABASE_TLS: 'yes' }),
    ).toEqual(['DATABASE_TLS must be true or false (got "yes")']);
    expect(problems({ ...prod, TRUST_PROXY: '0' })).toEqual([
      expect.stringMatching(/^TRUST_PROXY must name the proxy to trust .*"0" trusts none/),
    ]);
    expect(problems({ ...prod, TRUST_PROXY: 'loopback' })).toEqual([]);
  });
  test('MySQL over TLS: the server certificate is verified, against DATABASE_CA_FILE when given', () => {
    const { cert } = selfSigned();
    const withCa = loadConfig({
      ...prod,
      TRUST_PROXY: 'loopback',
      DATABASE_URL: 'mysql://u:p@db/engage',
      DATABASE_CA_FILE: cert,
    });
    expect(dataSourceOptions(withCa.database)).toMatchObject({
      ssl: { rejectUnauthorized: true, verifyIdentity: true, ca: readFileSync(cert, 'utf8') },
    });
    const systemCas = loadConfig({
      ...prod,
      TRUST_PROXY: 'loopback',
      DATABASE_URL: 'mysql://u:p@db/engage',
      DATABASE_TLS: 'true',
    });
    expect(dataSourceOptions(systemCas.database)).toMatchObject({
      ssl: { rejectUnauthorized: true, verifyIdentity: true },
    });
    expect(
      dataSourceOptions(
        loadConfig({ ...prod, TRUST_PROXY: 'loopback', DATABASE_URL: 'mysql://u:p@db/engage' }).database,
      ),
    ).not.toHaveProperty('ssl');
  });
});

describe('HTTPS in production: requests', () => {
  let db: TestDb & { drop(): Promise<void> };
  beforeAll(async () => {
    db = await createTestDb('sqlite');
    await seedBrokerage(db.ds, 'alpha.test', [{ email: 'a@alpha.test' }]);
  });
  afterAll(() => db.drop());

  const post = (url: string, token: string, headers: Record<string, string> = {}) =>
    fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers },
      body: JSON.stringify({ query: '{ me { email } }' }),
    });

  test('behind a trusted proxy: a request forwarded as plain http is refused, https served with HSTS; probes answer over plain http', async () => {
    const gw: TestGateway = await startTestGateway(db.ds, {
      env: { NODE_ENV: 'production', SANDBOX: undefined, TRUST_PROXY: 'loopback' },
    });
    try {
      const token = await gw.token('a@alpha.test');
      const plain = await post(gw.url, token, { 'x-forwarded-proto': 'http' });
      expect(plain.status).toBe(403);
      expect(await plain.json()).toEqual({
        errors: [
          {
            message: expect.stringMatching(/^HTTPS is required/),
            extensions: { code: 'FORBIDDEN', reason: 'https_required' },
          },
        ],
      });
      const none = await post(gw.url, token); // no X-Forwarded-Proto: the proxy did not vouch for TLS
      expect(none.status).toBe(403);
      const tls = await post(gw.url, token, { 'x-forwarded-proto': 'https' });
      expect(tls.status).toBe(200);
      expect(tls.headers.get('strict-transport-security')).toBe('max-age=31536000; includeSubDomains');
      expect(await tls.json()).toEqual({ data: { me: { email: 'a@alpha.test' } } });
      for (const probe of ['/healthz', '/readyz', '/metrics'])
        expect((await fetch(`${gw.url}${probe}`)).status).toBe(200);
    } finally {
      await gw.close();
    }
  });

  test('an untrusted peer cannot vouch for TLS: X-Forwarded-Proto is ignored when TRUST_PROXY does not name it', async () => {
    const gw = await startTestGateway(db.ds, {
      env: { NODE_ENV: 'production', SANDBOX: undefined, TRUST_PROXY: '10.0.0.0/8' },
    });
    try {
      const res = await post(gw.url, await gw.token('a@alpha.test'), { 'x-forwarded-proto': 'https' });
      expect(res.status).toBe(403);
    } finally {
      await gw.close();
    }
  });

  test('serving TLS itself (TLS_CERT_FILE, TLS_KEY_FILE): https with HSTS', async () => {
    const { cert, key } = selfSigned();
    const gw = await startTestGateway(db.ds, {
      env: { NODE_ENV: 'production', SANDBOX: undefined, TLS_CERT_FILE: cert, TLS_KEY_FILE: key },
    });
    try {
      expect(gw.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const token = await gw.token('a@alpha.test');
      let answer: unknown;
      // The TLS server, too, makes requests with express's prototypes already (src/http/express-prototypes.ts).
      const changed = await prototypeChangesDuring(async () => {
        answer = await new Promise<{ status: number; hsts: string | undefined; body: string }>((resolve, reject) => {
          const req = request(
            `${gw.url}/graphql`,
            {
              method: 'POST',
              ca: readFileSync(cert),
              headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
            },
            (res) => {
              let body = '';
              res.on('data', (d) => (body += d));
              res.on('end', () =>
                resolve({
                  status: res.statusCode!,
                  hsts: res.headers['strict-transport-security'] as string | undefined,
                  body,
                }),
              );
            },
          );
          req.on('error', reject);
          req.end(JSON.stringify({ query: '{ me { email } }' }));
        });
      });
      expect(changed).toEqual([]);
      expect(answer).toEqual({
        status: 200,
        hsts: 'max-age=31536000; includeSubDomains',
        body: JSON.stringify({ data: { me: { email: 'a@alpha.test' } } }),
      });
    } finally {
      await gw.close();
    }
  });

  test('a certificate renewed on disk (a rotated Kubernetes secret) is served to new connections without a restart; a half-written one is not taken', async () => {
    const first = selfSigned();
    const dir = mkdtempSync(join(tmpdir(), 'engage-tls-live-'));
    const cert = join(dir, 'tls.crt');
    const key = join(dir, 'tls.key');
    copyFileSync(first.cert, cert);
    copyFileSync(first.key, key);
    const { log, text } = captureLog('warn');
    const gw = await startTestGateway(db.ds, {
      env: {
        NODE_ENV: 'production',
        SANDBOX: undefined,
        TLS_CERT_FILE: cert,
        TLS_KEY_FILE: key,
        TLS_RELOAD_SECONDS: '1',
      },
      log,
    });
    /** The fingerprint of the certificate a new connection is served. */
    const served = () =>
      new Promise<string>((resolve, reject) => {
        const s = tlsConnect(
          { host: '127.0.0.1', port: Number(new URL(gw.url).port), rejectUnauthorized: false },
          () => {
            resolve(s.getPeerCertificate().fingerprint256);
            s.end();
          },
        );
        s.on('error', reject);
      });
    const fingerprint = (file: string) => new X509Certificate(readFileSync(file)).fingerprint256;
    try {
      expect(await served()).toBe(fingerprint(first.cert));
      writeFileSync(cert, '-----BEGIN CERTIFICATE-----\nnot yet\n'); // the renewal caught half-written
      await until('the half-written certificate refused', text, (o) => /could not reload the TLS certificate/.test(o));
      expect(await served()).toBe(fingerprint(first.cert)); // still the old one, not a broken server
      const second = selfSigned();
      copyFileSync(second.key, key);
      copyFileSync(second.cert, cert);
      await until('the renewed certificate served', served, (f) => f === fingerprint(second.cert));
      expect(text()).not.toMatch(/PRIVATE KEY/);
    } finally {
      await gw.close();
    }
  });
});
