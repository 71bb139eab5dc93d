/**
 * Issue 14: while the database is away, the gateway says so in a way a client can act on, and recovers by itself.
 * A private MariaDB (its own data directory) is killed and started again on the same data: meanwhile `/healthz`
 * answers 200 (the process is fine: do not restart it), `/readyz` 503 (send no traffic here), and every GraphQL
 * request a typed, retryable SERVICE_UNAVAILABLE with retryAfterSeconds: never INTERNAL_SERVER_ERROR, a stack trace
 * or a hang. Before: 32 of 80 such requests were answered INTERNAL_SERVER_ERROR.
 */
import * as mysql from 'mysql2/promise';
import { openDatabase } from '../../src/db/data-source';
import { Contact } from '../../src/entities';
import type { TestDb } from '../support/db';
import { findMariadbd, startMariaDb, type MariaDbInstance } from '../support/mariadb';
import { until } from '../support/wait';
import { startWorld, type World } from '../support/world';

const AGENT = 'agent@alpha.test';
const mariadbd = findMariadbd();

(mariadbd ? describe : describe.skip)('[mariadb] the database goes away and comes back', () => {
  let server: MariaDbInstance;
  let db: TestDb;
  let w: World;
  let token: string;

  beforeAll(async () => {
    server = await startMariaDb(mariadbd!);
    const c = await mysql.createConnection(server.url);
    await c.query('CREATE DATABASE engage CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci');
    await c.end();
    const config = { kind: 'mysql' as const, url: `${server.url}engage` };
    const ds = await openDatabase(config);
    db = { dialect: 'mariadb', config, ds, clear: async () => {} };
    w = await startWorld(db, { env: { MUTATION_WAIT_MS: '10000' } });
    token = await w.token(AGENT);
  }, 60_000);
  afterAll(async () => {
    await w?.close();
    if (db?.ds.isInitialized) await db.ds.destroy();
    await server?.stop();
  });

  const gql = (query: string, variables?: Record<string, unknown>) => w.gw.gql(query, { token, variables });
  const get = async (path: string) => (await fetch(`${w.gw.url}${path}`)).status;

  test('down: healthz 200, readyz 503, every operation SERVICE_UNAVAILABLE with retryAfterSeconds; back: all recovers by itself', async () => {
    expect(
      (await gql('mutation { createContact(input: { givenName: "Before" }) { syncState } }')).body.data.createContact
        .syncState,
    ).toBe('SYNCED');

    await server.kill();
    expect(await get('/healthz')).toBe(200);
    expect(await get('/readyz')).toBe(503);
    const operations = [
      '{ me { id email } }',
      '{ contacts(first: 5) { totalCount } }',
      'mutation { createContact(input: { givenName: "During" }) { id } }',
      '{ syncStatus { contacts { lastSyncAt } } }',
      '{ sentMail(first: 5) { edges { node { id } } } }',
    ];
    for (const op of operations) {
      const r = await gql(op);
      expect({
        op,
        status: r.status,
        errors: r.body.errors?.map((e) => ({ code: e.extensions?.code, retry: e.extensions?.retryAfterSeconds })),
      }).toEqual({ op, status: 503, errors: [{ code: 'SERVICE_UNAVAILABLE', retry: expect.any(Number) }] });
      expect(JSON.stringify(r.body)).not.toMatch(/ECONNREFUSED|at \w+ \(|mysql/i);
      expect(r.headers.get('retry-after')).toBe(String(r.body.errors?.[0]?.extensions?.retryAfterSeconds));
    }
    // The operator still sees the process and the outage in its metrics while the database is away.
    const scrape = await fetch(`${w.gw.url}/metrics`);
    expect(scrape.status).toBe(200);
    const text = await scrape.text();
    expect(text).toContain('process_cpu_user_seconds_total');
    expect(text).toMatch(
      /engage_graphql_requests_total\{operation_type="[^"]*",operation_name="[^"]*",outcome="SERVICE_UNAVAILABLE"\} [1-9]/,
    );

    await server.restart();
    await until(
      'GraphQL answers again',
      async () => (await gql('{ me { email } }')).body.data?.me?.email,
      (e) => e === AGENT,
      30_000,
    );
    expect(await get('/readyz')).toBe(200);
    expect(
      (await gql('mutation { createContact(input: { givenName: "After" }) { syncState } }')).body.data.createContact
        .syncState,
    ).toBe('SYNCED');
    const names = (await w.admin.request<any[]>('GET', `/users/${AGENT}/contacts`)).body
      .map((p) => p.names?.[0]?.givenName)
      .sort();
    expect(names).toEqual(['After', 'Before']);
    expect(await db.ds.getRepository(Contact).count()).toBe(2);
  }, 90_000);

  test('a database that stops answering (frozen: connections open, no answer) is met with SERVICE_UNAVAILABLE, not a hang; it recovers when it answers again', async () => {
    expect((await gql('{ me { email } }')).body.data.me.email).toBe(AGENT);
    server.freeze();
    try {
      const r = await gql('{ me { email } }');
      expect({
        status: r.status,
        code: r.body.errors?.[0]?.extensions?.code,
        retry: r.headers.get('retry-after'),
      }).toEqual({ status: 503, code: 'SERVICE_UNAVAILABLE', retry: '5' });
      expect(await get('/readyz')).toBe(503);
      expect(await get('/healthz')).toBe(200);
    } finally {
      server.thaw();
    }
    await until(
      'GraphQL answers again',
      async () => (await gql('{ me { email } }')).body.data?.me?.email,
      (e) => e === AGENT,
      30_000,
    );
    expect(await get('/readyz')).toBe(200);
  }, 60_000);
});
