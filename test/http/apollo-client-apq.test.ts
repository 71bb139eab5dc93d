/**
 * Issue 15: a real Apollo Client (4) with its persisted-query link against a running gateway: the protocol as the
 * apps speak it, not as our tests think it is. Hashed queries go over GET (useGETForHashedQueries, what makes them
 * cacheable); on PERSISTED_QUERY_NOT_FOUND the link sends the text by POST, and the next time the hash alone hits. With
 * the manifest's ids (what generatePersistedQueryIdsFromManifest does) under PERSISTED_OPERATIONS=require, the app
 * never sends a text at all.
 */
import { ApolloClient, gql, HttpLink, InMemoryCache, type TypedDocumentNode } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { print } from 'graphql';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MANIFEST_FORMAT, sha256Hex } from '../../src/http/persisted-operations';
import { createTestDb, type TestDb } from '../support/db';
import { seedBrokerage, startTestGateway, type TestGateway } from '../support/gateway';

let db: TestDb & { drop(): Promise<void> };
const gateways: TestGateway[] = [];

beforeAll(async () => {
  db = await createTestDb('sqlite');
  await seedBrokerage(db.ds, 'alpha.test', [{ email: 'a@alpha.test' }]);
});
afterAll(async () => {
  for (const gw of gateways) await gw.close();
  await db.drop();
});

/** An Apollo Client as an app builds it, recording each request's method and whether it carried the query text. */
function appClient(gw: TestGateway, token: string, link: PersistedQueryLink) {
  const seen: { method: string; status: number; text: boolean }[] = [];
  const recording: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    const url = new URL(String(input));
    const text = init?.method === 'POST' ? 'query' in JSON.parse(String(init.body)) : url.searchParams.has('query');
    seen.push({ method: init?.method ?? 'GET', status: res.status, text });
    return res;
  };
  const client = new ApolloClient({
    cache: new InMemoryCache(),
    link: link.concat(
      new HttpLink({ uri: gw.graphqlUrl, headers: { authorization: `Bearer ${token}` }, fetch: recording }),
    ),
  });
  return { client, seen };
}

const ME: TypedDocumentNode<{ me: { email: string; role: string } }> = gql`
  query AppMe {
    me {
      email
      role
    }
  }
`;

test('APQ: GET by hash misses, the link sends the text by POST, then GET by hash hits (no text)', async () => {
  const gw = await startTestGateway(db.ds);
  gateways.push(gw);
  const token = await gw.token('a@alpha.test');
  const { client, seen } = appClient(
    gw,
    token,
    new PersistedQueryLink({ sha256: sha256Hex, useGETForHashedQueries: true }),
  );
  const first = await client.query({ query: ME, fetchPolicy: 'network-only' });
  expect(first.data).toEqual({ me: { __typename: 'Agent', email: 'a@alpha.test', role: 'AGENT' } });
  expect(seen).toEqual([
    { method: 'GET', status: 200, text: false }, // PERSISTED_QUERY_NOT_FOUND
    { method: 'POST', status: 200, text: true }, // registered
  ]);
  seen.length = 0;
  // Another app instance (its own hash cache) on the same gateway: the hash is known.
  const second = appClient(gw, token, new PersistedQueryLink({ sha256: sha256Hex, useGETForHashedQueries: true }));
  const again = await second.client.query({ query: ME, fetchPolicy: 'network-only' });
  expect(again.data).toEqual(first.data);
  expect(second.seen).toEqual([{ method: 'GET', status: 200, text: false }]);
});

test('APQ off (APQ_CACHE_BYTES=0): the link sees PERSISTED_QUERY_NOT_SUPPORTED and goes on with plain queries', async () => {
  const gw = await startTestGateway(db.ds, { env: { APQ_CACHE_BYTES: '0' } });
  gateways.push(gw);
  const { client, seen } = appClient(
    gw,
    await gw.token('a@alpha.test'),
    new PersistedQueryLink({ sha256: sha256Hex, useGETForHashedQueries: true }),
  );
  expect((await client.query({ query: ME, fetchPolicy: 'network-only' })).data?.me.email).toBe('a@alpha.test');
  expect((await client.query({ query: ME, fetchPolicy: 'network-only' })).data?.me.email).toBe('a@alpha.test');
  expect(seen.map((s) => [s.method, s.text])).toEqual([
    ['GET', false], // PERSISTED_QUERY_NOT_SUPPORTED
    ['POST', true],
    ['POST', true], // hashing stopped
  ]);
});

test("trusted documents: an app built with the manifest's ids runs under PERSISTED_OPERATIONS=require without sending text", async () => {
  // The manifest as @apollo/generate-persisted-query-manifest writes it: the operation as the client sends it (through
  // the cache's document transforms, which add __typename), printed, its SHA-256 as id.
  const body = print(new InMemoryCache().transformDocument(ME));
  expect(body).toMatch(/__typename/);
  const file = join(mkdtempSync(join(tmpdir(), 'engage-apq-')), 'persisted-query-manifest.json');
  writeFileSync(
    file,
    JSON.stringify({
      format: MANIFEST_FORMAT,
      version: 1,
      operations: [{ id: sha256Hex(body), body, name: 'AppMe', type: 'query' }],
    }),
  );
  const gw = await startTestGateway(db.ds, {
    env: { PERSISTED_OPERATIONS: 'require', PERSISTED_OPERATIONS_FILE: file },
  });
  gateways.push(gw);
  const ids = new Map([[body, sha256Hex(body)]]);
  // What generatePersistedQueryIdsFromManifest does: the id from the manifest, never computed from a text at run time.
  const link = new PersistedQueryLink({
    generateHash: (doc) => ids.get(print(doc)) ?? 'unknown',
    useGETForHashedQueries: true,
  });
  const { client, seen } = appClient(gw, await gw.token('a@alpha.test'), link);
  expect((await client.query({ query: ME, fetchPolicy: 'network-only' })).data?.me.email).toBe('a@alpha.test');
  expect(seen).toEqual([{ method: 'GET', status: 200, text: false }]);
});
