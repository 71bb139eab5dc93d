/**
 * Issue 15: how the gateway wires the explorer (its page is src/explorer/explorer.ts, tested on its own). The router is
 * replaced here by one that records the options it was given and sets a CSP of its own, so these tests see exactly
 * what the gateway passes it and that nothing the gateway does overrides the router's headers.
 */
import { buildSchema, parse, validate } from 'graphql';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CallerTokenVerifier } from '../../src/auth/caller-token';
import type { ExplorerOptions } from '../../src/explorer/explorer';
import { EXPLORER_DEFAULT_QUERY } from '../../src/server';
import { createTestDb, type TestDb } from '../support/db';
import { seedBrokerage, startTestGateway, type TestGateway } from '../support/gateway';

const ROUTER_CSP = "default-src 'none'; script-src 'self'; connect-src 'self'";
const seen: ExplorerOptions[] = [];

jest.mock('../../src/explorer/explorer', () => {
  const express = jest.requireActual('express');
  return {
    explorerRouter: (options: ExplorerOptions) => {
      seen.push(options);
      const router = express.Router();
      router.get(
        '/',
        (_req: unknown, res: { setHeader(n: string, v: string): void; type(t: string): { send(b: string): void } }) => {
          res.setHeader('content-security-policy', ROUTER_CSP);
          res.setHeader('x-frame-options', 'DENY');
          res.type('html').send('<!doctype html><title>explorer</title>');
        },
      );
      return router;
    },
  };
});

let db: TestDb & { drop(): Promise<void> };
const gateways: TestGateway[] = [];
const start = async (env: Record<string, string | undefined>) => {
  const gw = await startTestGateway(db.ds, { env });
  gateways.push(gw);
  return gw;
};
const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';
const PROD = { NODE_ENV: 'production', SANDBOX: undefined, TRUST_PROXY: 'loopback' };

beforeAll(async () => {
  db = await createTestDb('sqlite');
  await seedBrokerage(db.ds, 'alpha.test', [{ email: 'a@alpha.test' }]);
});
afterAll(async () => {
  for (const gw of gateways) await gw.close();
  await db.drop();
});
beforeEach(() => {
  seen.length = 0;
});

test("EXPLORER on: /explorer is served without a token, the router's own CSP and headers untouched", async () => {
  const gw = await start({ EXPLORER: 'true' });
  const res = await fetch(`${gw.url}/explorer`, { headers: { accept: BROWSER_ACCEPT } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-security-policy')).toBe(ROUTER_CSP);
  expect(res.headers.get('x-frame-options')).toBe('DENY');
  expect(res.headers.get('x-powered-by')).toBeNull();
  expect(seen).toHaveLength(1);
  expect(seen[0].endpoint).toBe('/graphql');
  // Outside the sandbox the page starts with no credentials.
  expect(seen[0].initialHeaders).toBeUndefined();
});

test('a browser opening GET /graphql is redirected to /explorer; API calls and operations in the URL are not', async () => {
  const gw = await start({ EXPLORER: 'true' });
  const page = await fetch(gw.graphqlUrl, { headers: { accept: BROWSER_ACCEPT }, redirect: 'manual' });
  expect(page.status).toBe(302);
  expect(page.headers.get('location')).toBe('/explorer');
  // A client asking for JSON (or anything) is the API: no token, 401 as before.
  for (const accept of ['application/graphql-response+json', 'application/json', '*/*']) {
    const api = await fetch(gw.graphqlUrl, { headers: { accept }, redirect: 'manual' });
    expect(api.status).toBe(401);
  }
  // An operation in the URL is a request, even from a browser.
  for (const search of ['?query=%7B__typename%7D', '?documentId=sha256:00', '?extensions=%7B%7D']) {
    const op = await fetch(`${gw.graphqlUrl}${search}`, { headers: { accept: BROWSER_ACCEPT }, redirect: 'manual' });
    expect(op.status).toBe(401);
  }
  // POST is never redirected.
  const post = await fetch(gw.graphqlUrl, {
    method: 'POST',
    headers: { accept: BROWSER_ACCEPT, 'content-type': 'application/json' },
    body: '{"query":"{__typename}"}',
    redirect: 'manual',
  });
  expect(post.status).toBe(401);
});

test('a redirect is not counted as a refused GraphQL request', async () => {
  const gw = await start({ EXPLORER: 'true' });
  const refused = async () =>
    (await gw.services.metrics.graphqlRequests.get()).values
      .filter((v) => v.labels.operation_name === '(refused)')
      .reduce((n, v) => n + v.value, 0);
  const before = await refused();
  expect((await fetch(gw.graphqlUrl, { headers: { accept: BROWSER_ACCEPT }, redirect: 'manual' })).status).toBe(302);
  expect(await refused()).toBe(before);
  expect((await fetch(gw.graphqlUrl, { headers: { accept: 'application/json' } })).status).toBe(401);
  expect(await refused()).toBe(before + 1);
});

test('EXPLORER off: /explorer is 404 and /graphql redirects nobody', async () => {
  const gw = await start({ EXPLORER: 'false' });
  const res = await fetch(`${gw.url}/explorer`, { headers: { accept: BROWSER_ACCEPT } });
  expect(res.status).toBe(404);
  expect(((await res.json()) as any).errors[0].extensions.code).toBe('NOT_FOUND');
  const page = await fetch(gw.graphqlUrl, { headers: { accept: BROWSER_ACCEPT }, redirect: 'manual' });
  expect(page.status).toBe(401);
  expect(seen).toHaveLength(0);
});

test('in the sandbox, with its generated secret, each page starts with a fresh 12-hour token of the demo agent', async () => {
  const gw = await start({
    EXPLORER: 'true',
    SANDBOX: 'true',
    JWT_SECRET: undefined,
    JWT_ISSUER: undefined,
    JWT_AUDIENCE: undefined,
    DATA_DIR: mkdtempSync(join(tmpdir(), 'engage-sbx-')),
  });
  expect(seen).toHaveLength(1);
  const headers = seen[0].initialHeaders;
  expect(typeof headers).toBe('function');
  const header = (await (headers as () => Promise<Record<string, string>>)()).Authorization;
  expect(header).toMatch(/^Bearer \S+$/);
  const token = header.slice('Bearer '.length);
  const claims = await new CallerTokenVerifier(gw.config.auth).verify(token);
  expect(claims).toEqual({ email: 'agent@demo.test', roles: [] });
  const payload = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
  expect(payload.exp - payload.iat).toBe(12 * 3600);
  expect(seen[0].defaultQuery).toBe(EXPLORER_DEFAULT_QUERY);
});

test('a sandbox whose JWT_SECRET an operator set (a shared development box) hands no token to the page', async () => {
  await start({ EXPLORER: 'true', SANDBOX: 'true' });
  expect(seen.at(-1)!.initialHeaders).toBeUndefined();
  expect(seen.at(-1)!.defaultQuery).toMatch(/Paste your bearer token/);
});

test('production: the explorer only over HTTPS, like everything else', async () => {
  const gw = await start({ ...PROD, EXPLORER: 'true', INTROSPECTION_ROLES: 'internal' });
  const plain = await fetch(`${gw.url}/explorer`, { headers: { accept: BROWSER_ACCEPT } });
  expect(plain.status).toBe(403);
  expect(((await plain.json()) as any).errors[0].extensions.reason).toBe('https_required');
  const tls = await fetch(`${gw.url}/explorer`, { headers: { accept: BROWSER_ACCEPT, 'x-forwarded-proto': 'https' } });
  expect(tls.status).toBe(200);
  expect(tls.headers.get('strict-transport-security')).toMatch(/max-age=/);
  expect(tls.headers.get('content-security-policy')).toBe(ROUTER_CSP);
  expect(seen.at(-1)!.initialHeaders).toBeUndefined();
  // Production's default is no explorer.
  const off = await start({ ...PROD });
  expect((await fetch(`${off.url}/explorer`, { headers: { 'x-forwarded-proto': 'https' } })).status).toBe(404);
});

test('the default query is valid against the schema', () => {
  const schema = buildSchema(readFileSync(join(__dirname, '../../schema/schema.graphql'), 'utf8'));
  expect(validate(schema, parse(EXPLORER_DEFAULT_QUERY))).toEqual([]);
  expect(EXPLORER_DEFAULT_QUERY).toMatch(/\bme\b[\s\S]*\bcontacts\(first: 5\)/);
});
