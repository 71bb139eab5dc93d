/**
 * A real gateway on a free port, over a TestDb, with test settings. Tests
 * talk to it over HTTP like any client.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import type { DataSource } from 'typeorm';
import { createApp } from '../../src/app';
import { signSandboxToken } from '../../src/auth/sandbox-token';
import { loadConfig, type Config } from '../../src/config';
import type { Services } from '../../src/context';
import { Agent, Brokerage } from '../../src/entities';
import { createLogger, type Logger } from '../../src/logger';
import { onClear } from './db';

export const TEST_JWT_SECRET = randomBytes(32).toString('base64');
const TEST_KEK = `k1:${randomBytes(32).toString('base64')}`;

function testEnv(overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    NODE_ENV: 'test',
    SANDBOX: 'false',
    JWT_SECRET: TEST_JWT_SECRET,
    JWT_ISSUER: 'https://id.crm.test',
    JWT_AUDIENCE: 'engage-gateway',
    KEY_ENCRYPTION_KEYS: TEST_KEK,
    ...overrides,
  };
}

export function testConfig(overrides: Record<string, string | undefined> = {}): Config {
  return loadConfig(testEnv(overrides));
}

export interface TestGateway {
  url: string;
  graphqlUrl: string;
  /** The metrics port's base URL when METRICS_PORT is set (else /metrics is at `url`). */
  metricsUrl: string | null;
  config: Config;
  services: Services;
  close(): Promise<void>;
  /** POST /graphql; returns status, parsed body and headers. */
  gql<T = any>(
    query: string,
    opts?: { variables?: Record<string, unknown>; token?: string; headers?: Record<string, string> },
  ): Promise<{ status: number; body: { data?: T; errors?: any[] }; headers: Headers }>;
  token(email: string, opts?: { admin?: boolean; ttlSeconds?: number }): Promise<string>;
}

export async function startTestGateway(
  ds: DataSource,
  opts: { env?: Record<string, string | undefined>; log?: Logger; mutate?: (s: Services) => void; port?: number } = {},
): Promise<TestGateway> {
  const config = testConfig(opts.env);
  const log = opts.log ?? createLogger('silent');
  const { services, gateway } = await createApp(config, ds, log);
  opts.mutate?.(services);
  const unsubscribe = onClear(ds, () => forgetRows(services));
  const url = await gateway.listen(opts.port ?? 0);
  const graphqlUrl = `${url}/graphql`;
  return {
    url,
    graphqlUrl,
    metricsUrl: gateway.metricsUrl,
    config,
    services,
    close: () => {
      unsubscribe();
      return gateway.close();
    },
    async gql(query, o = {}) {
      const res = await fetch(graphqlUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          // As a TLS-terminating proxy on loopback would (production serves HTTPS only; TRUST_PROXY names loopback).
          'x-forwarded-proto': 'https',
          ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
          ...o.headers,
        },
        body: JSON.stringify({ query, variables: o.variables }),
      });
      const text = await res.text();
      let body;
      try {
        body = JSON.parse(text);
      } catch {
        throw new Error(`non-JSON response (${res.status}): ${text.slice(0, 500)}`);
      }
      return { status: res.status, body, headers: res.headers };
    },
    token: (email, o) => signSandboxToken(config.auth, email, o),
  };
}

/**
 * What the gateway remembers of rows (callers, contact sync times), forgotten: for a test that deleted or aged rows
 * behind its back (the product only moves them forward). TestDb.clear does it for every gateway on the database.
 */
export function forgetRows(services: Services): void {
  services.callers.clear();
  services.contactSync.forgetSyncTimes();
  services.contacts.forgetPages();
}

/** A brokerage with its domain, plus optional pre-made agents. */
export async function seedBrokerage(
  ds: DataSource,
  domain: string,
  agents: { email: string; role?: 'agent' | 'admin' }[] = [],
): Promise<Brokerage> {
  const b: Brokerage = { id: randomUUID(), name: `Brokerage ${domain}`, domain, createdAt: new Date() };
  await ds.getRepository(Brokerage).insert(b);
  for (const a of agents) {
    await ds.getRepository(Agent).insert({
      id: randomUUID(),
      brokerageId: b.id,
      email: a.email,
      role: a.role ?? 'agent',
      createdAt: new Date(),
      lastSeenAt: null,
    });
  }
  return b;
}

/** A free loopback port (for a gateway whose own URL must be in its config, e.g. the calendar webhook). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}
