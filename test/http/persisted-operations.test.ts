/**
 * Issue 15, persisted operations for mobile, over real HTTP against running gateways: Apollo's automatic persisted
 * queries (APQ) with a cache bounded in bytes, queries over GET (private, ETag, 304; never mutations), the apps'
 * operation manifest (by APQ hash and by the GraphQL-over-HTTP `documentId`), and PERSISTED_OPERATIONS=require with
 * its exemption for internal roles. The cases follow Apollo Server's own APQ tests and the reference implementations
 * (Apollo Router's persisted queries, @graphql-yoga/plugin-persisted-operations).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { createApp } from '../../src/app';
import { ConfigError } from '../../src/config';
import {
  APQ_TENANT_SHARE,
  ENTRY_OVERHEAD_BYTES,
  PersistedDocuments,
  documentBytes,
  entryBytes,
  MANIFEST_FORMAT,
  readManifest,
  sha256Hex,
} from '../../src/http/persisted-operations';
import { createLogger } from '../../src/logger';
import { buildGatewaySchema } from '../../src/schema';
import type { Gateway } from '../../src/server';
import { Contact } from '../../src/entities';
import { createTestDb, type TestDb } from '../support/db';
import { seedBrokerage, startTestGateway, testConfig, type TestGateway } from '../support/gateway';

type Answer = { status: number; body: any; text: string; headers: Headers };
const codes = (a: Answer) =>
  ((a.body?.errors ?? []) as { extensions?: { code?: string } }[]).map((e) => e.extensions?.code);
const reasons = (a: Answer) =>
  ((a.body?.errors ?? []) as { extensions?: { reason?: string } }[]).map((e) => e.extensions?.reason);

async function answer(res: Response): Promise<Answer> {
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: res.status, body, text, headers: res.headers };
}

/** POST /graphql with a JSON body. */
async function post(
  url: string,
  body: Record<string, unknown>,
  token?: string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  return answer(
    await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...headers,
      },
      body: JSON.stringify(body),
    }),
  );
}

/**
 * GET /graphql with the parameters in the query string (variables/extensions JSON-encoded), and only the bearer token.
 */
async function get(
  url: string,
  params: Record<string, unknown>,
  token?: string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) search.set(k, typeof v === 'string' ? v : JSON.stringify(v));
  return answer(
    await fetch(`${url}/graphql?${search}`, {
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    }),
  );
}

const apq = (hash: string) => ({ persistedQuery: { version: 1, sha256Hash: hash } });

// The apps' manifest, as @apollo/generate-persisted-query-manifest writes it (id = SHA-256 of the body).
const GET_ME = 'query GetMe { me { email } }';
const WITH_FRAGMENT = 'query MeWithFragment { me { ...Who } }\n\nfragment Who on Agent { email role }';
const CREATE = 'mutation CreateOne($name: String) { createContact(input: { givenName: $name }) { id } }';
const op = (body: string, name: string, type: string) => ({ id: sha256Hex(body), body, name, type });
const MANIFEST = {
  format: MANIFEST_FORMAT,
  version: 1,
  operations: [
    op(GET_ME, 'GetMe', 'query'),
    op(WITH_FRAGMENT, 'MeWithFragment', 'query'),
    op(CREATE, 'CreateOne', 'mutation'),
  ],
};

const dir = mkdtempSync(join(tmpdir(), 'engage-pq-'));
function manifestFile(content: unknown, name = `m-${Math.random().toString(36).slice(2)}.json`): string {
  const file = join(dir, name);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

let db: TestDb & { drop(): Promise<void> };
const closers: (() => Promise<void>)[] = [];
let schemaPromise: ReturnType<typeof buildGatewaySchema> | undefined;

async function start(env: Record<string, string | undefined>): Promise<TestGateway> {
  const gw = await startTestGateway(db.ds, { env });
  closers.push(() => gw.close());
  return gw;
}

/** A gateway whose Gateway object the test holds (to read the APQ cache's size). */
async function startRaw(
  env: Record<string, string | undefined>,
): Promise<{ url: string; gateway: Gateway; token: (email: string) => Promise<string> }> {
  const config = testConfig(env);
  const { gateway } = await createApp(config, db.ds, createLogger('silent'));
  const url = await gateway.listen(0);
  closers.push(() => gateway.close());
  return { url, gateway, token: (email) => signToken(config.auth, email, []) };
}

/** A caller token with any roles (the identity service's `roles` claim). */
function signToken(auth: TestGateway['config']['auth'], email: string, roles: string[]): Promise<string> {
  if (auth.verification.kind !== 'hs256') throw new Error('test tokens need HS256');
  return new SignJWT({ email, roles })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(auth.issuer)
    .setAudience(auth.audience)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new Uint8Array(auth.verification.secret));
}

beforeAll(async () => {
  db = await createTestDb('sqlite');
  await seedBrokerage(db.ds, 'alpha.test', [
    { email: 'a@alpha.test' },
    { email: 'b@alpha.test' },
    { email: 'staff@alpha.test' },
  ]);
  for (const d of ['t1', 't2', 't3', 't4', 't5']) await seedBrokerage(db.ds, `${d}.test`, [{ email: `u@${d}.test` }]);
});
afterAll(async () => {
  for (const close of closers) await close();
  await db.drop();
});

describe('automatic persisted queries (PERSISTED_OPERATIONS=allow)', () => {
  let gw: TestGateway;
  let token: string;
  beforeAll(async () => {
    gw = await start({ PERSISTED_OPERATIONS_FILE: manifestFile(MANIFEST) });
    token = await gw.token('a@alpha.test');
  });

  test("a miss answers PERSISTED_QUERY_NOT_FOUND exactly as Apollo's clients expect; registering runs it; the hash alone then hits (POST and GET)", async () => {
    const query = '{ me { email role } }';
    const hash = sha256Hex(query);
    const miss = await post(gw.url, { extensions: apq(hash) }, token);
    // The public contract: Apollo Client's persisted-query link and Apollo iOS/Kotlin match this message and code.
    expect(miss.status).toBe(200);
    expect(miss.body).toEqual({
      errors: [{ message: 'PersistedQueryNotFound', extensions: { code: 'PERSISTED_QUERY_NOT_FOUND' } }],
    });
    const getMiss = await get(gw.url, { extensions: apq(hash) }, token);
    expect(getMiss.body).toEqual({
      errors: [{ message: 'PersistedQueryNotFound', extensions: { code: 'PERSISTED_QUERY_NOT_FOUND' } }],
    });

    const register = await post(gw.url, { query, extensions: apq(hash) }, token);
    expect(register.status).toBe(200);
    expect(register.body).toEqual({ data: { me: { email: 'a@alpha.test', role: 'AGENT' } } });

    const hit = await post(gw.url, { extensions: apq(hash) }, token);
    expect(hit.body).toEqual({ data: { me: { email: 'a@alpha.test', role: 'AGENT' } } });
    const getHit = await get(gw.url, { extensions: apq(hash) }, token);
    expect(getHit.status).toBe(200);
    expect(getHit.body).toEqual({ data: { me: { email: 'a@alpha.test', role: 'AGENT' } } });
    // Answers are per caller: another agent's hit runs as that agent.
    const other = await get(gw.url, { extensions: apq(hash) }, await gw.token('b@alpha.test'));
    expect(other.body).toEqual({ data: { me: { email: 'b@alpha.test', role: 'AGENT' } } });
  });

  test('registration over GET (hash and text in the URL), then the hash alone over GET', async () => {
    const query = '{ me { email } }';
    const hash = sha256Hex(query);
    expect((await get(gw.url, { query, extensions: apq(hash) }, token)).body).toEqual({
      data: { me: { email: 'a@alpha.test' } },
    });
    expect((await get(gw.url, { extensions: apq(hash) }, token)).body).toEqual({
      data: { me: { email: 'a@alpha.test' } },
    });
  });

  test('a hash that is not the SHA-256 of the query: typed error, nothing cached', async () => {
    const query = '{ me { id } }';
    const wrong = sha256Hex('{ me { email } } # something else');
    for (const send of [
      () => post(gw.url, { query, extensions: apq(wrong) }, token),
      () => get(gw.url, { query, extensions: apq(wrong) }, token),
    ]) {
      const res = await send();
      expect(res.status).toBe(400);
      expect(codes(res)).toEqual(['BAD_USER_INPUT']);
      expect(reasons(res)).toEqual(['persisted_query_hash_mismatch']);
    }
    // Neither the wrong hash nor the query's own was stored.
    expect(codes(await post(gw.url, { extensions: apq(wrong) }, token))).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
    expect(codes(await post(gw.url, { extensions: apq(sha256Hex(query)) }, token))).toEqual([
      'PERSISTED_QUERY_NOT_FOUND',
    ]);
  });

  test('malformed persisted-query extensions: typed 400s, never an internal error', async () => {
    const cases: unknown[] = [
      { persistedQuery: { version: 2, sha256Hash: sha256Hex('{ me { id } }') } },
      { persistedQuery: { version: 1, sha256Hash: 'ABC' } },
      { persistedQuery: { version: 1, sha256Hash: sha256Hex('{ me { id } }').toUpperCase() } },
      { persistedQuery: { version: 1 } },
      { persistedQuery: 'yes' },
    ];
    for (const extensions of cases) {
      const res = await post(gw.url, { extensions }, token);
      expect(res.status).toBe(400);
      expect(codes(res)).toEqual(['BAD_USER_INPUT']);
      expect(reasons(res)).toEqual(['bad_persisted_query']);
    }
  });

  test('a manifest operation runs by its id: as the APQ hash (POST, GET) and as documentId "sha256:<id>" (POST, GET)', async () => {
    const id = sha256Hex(GET_ME);
    const data = { data: { me: { email: 'a@alpha.test' } } };
    expect((await post(gw.url, { extensions: apq(id) }, token)).body).toEqual(data);
    expect((await get(gw.url, { extensions: apq(id) }, token)).body).toEqual(data);
    expect((await post(gw.url, { documentId: `sha256:${id}` }, token)).body).toEqual(data);
    expect((await get(gw.url, { documentId: `sha256:${id}` }, token)).body).toEqual(data);
    // The manifest's bare id is a custom document identifier the gateway accepts too.
    expect((await post(gw.url, { documentId: id }, token)).body).toEqual(data);
    // With its fragments, operationName and variables.
    const frag = await get(
      gw.url,
      { documentId: `sha256:${sha256Hex(WITH_FRAGMENT)}`, operationName: 'MeWithFragment' },
      token,
    );
    expect(frag.body).toEqual({ data: { me: { email: 'a@alpha.test', role: 'AGENT' } } });
  });

  test('documentId: unknown, malformed, or sent with a query: typed 400s', async () => {
    const unknown = await post(gw.url, { documentId: `sha256:${sha256Hex('{ nope }')}` }, token);
    expect(unknown.status).toBe(400);
    expect(reasons(unknown)).toEqual(['unknown_operation_id']);
    expect(unknown.body.errors[0].message).toMatch(/manifest/);
    const getUnknown = await get(gw.url, { documentId: `sha256:${sha256Hex('{ nope }')}` }, token);
    expect(reasons(getUnknown)).toEqual(['unknown_operation_id']);
    for (const body of [
      { documentId: 'md5:abc' },
      { documentId: 42 },
      { documentId: `sha256:${sha256Hex(GET_ME)}`, query: GET_ME },
      { documentId: `sha256:${sha256Hex(GET_ME)}`, extensions: apq(sha256Hex(GET_ME)) },
    ]) {
      const res = await post(gw.url, body, token);
      expect(res.status).toBe(400);
      expect(codes(res)).toEqual(['BAD_USER_INPUT']);
      expect(reasons(res)).toEqual(['bad_document_id']);
    }
  });

  test("the manifest's documents are never stored in the APQ cache: registering one changes nothing", async () => {
    const id = sha256Hex(GET_ME);
    expect((await post(gw.url, { query: GET_ME, extensions: apq(id) }, token)).body).toEqual({
      data: { me: { email: 'a@alpha.test' } },
    });
    expect((await post(gw.url, { extensions: apq(id) }, token)).body).toEqual({
      data: { me: { email: 'a@alpha.test' } },
    });
  });

  test('ad-hoc documents still run under allow', async () => {
    expect((await post(gw.url, { query: '{ me { id email } }' }, token)).body.data.me.email).toBe('a@alpha.test');
  });
});

describe('GET /graphql', () => {
  let gw: TestGateway;
  let token: string;
  beforeAll(async () => {
    gw = await start({ PERSISTED_OPERATIONS_FILE: manifestFile(MANIFEST) });
    token = await gw.token('a@alpha.test');
  });
  const contacts = () => db.ds.getRepository(Contact).count();

  test('a query with just the bearer token: 200, private to the caller, a strong ETag; If-None-Match answers 304 without a body', async () => {
    const first = await get(gw.url, { query: '{ me { email } }' }, token);
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ data: { me: { email: 'a@alpha.test' } } });
    expect(first.headers.get('cache-control')).toBe('private, no-cache');
    expect(
      first.headers
        .get('vary')
        ?.split(/\s*,\s*/)
        .map((v) => v.toLowerCase()),
    ).toEqual(expect.arrayContaining(['authorization', 'accept']));
    const etag = first.headers.get('etag')!;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{43}"$/); // strong: no W/ prefix; the body's SHA-256
    const again = await get(gw.url, { query: '{ me { email } }' }, token, { 'if-none-match': etag });
    expect(again.status).toBe(304);
    expect(again.text).toBe('');
    expect(again.headers.get('etag')).toBe(etag);
    // A different answer (another agent) has another ETag: the old one does not match it.
    const other = await get(gw.url, { query: '{ me { email } }' }, await gw.token('b@alpha.test'), {
      'if-none-match': etag,
    });
    expect(other.status).toBe(200);
    expect(other.headers.get('etag')).not.toBe(etag);
    // A persisted query over GET is cacheable the same way.
    const id = sha256Hex(GET_ME);
    const byId = await get(gw.url, { extensions: apq(id) }, token);
    expect(byId.headers.get('etag')).toBe(etag); // the same body
    expect((await get(gw.url, { extensions: apq(id) }, token, { 'if-none-match': etag })).status).toBe(304);
    // POST answers are not made cacheable, and carry no validator: nothing revalidates a POST, and hashing every
    // answer (express's default weak ETag, a SHA-1 of the whole body) was 2% of the CPU of a contacts page.
    const posted = await post(gw.url, { query: '{ me { email } }' }, token);
    expect(posted.headers.get('cache-control')).toBeNull();
    expect(posted.headers.get('etag')).toBeNull();
  });

  test('a mutation over GET: 405 with Allow: POST, and nothing is written (text, APQ registration, documentId)', async () => {
    const before = await contacts();
    const text = 'mutation { createContact(input: { givenName: "ViaGet" }) { id } }';
    for (const params of [
      { query: text },
      { query: text, extensions: apq(sha256Hex(text)) },
      { documentId: `sha256:${sha256Hex(CREATE)}`, variables: { name: 'ViaGet' } },
    ]) {
      const res = await get(gw.url, params, token);
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('POST');
    }
    // The refused registration was not stored either.
    expect(codes(await post(gw.url, { extensions: apq(sha256Hex(text)) }, token))).toEqual([
      'PERSISTED_QUERY_NOT_FOUND',
    ]);
    expect(await contacts()).toBe(before);
  });

  test('without a bearer token a GET is 401 (also with Basic credentials a browser adds by itself), and not cacheable', async () => {
    for (const headers of [{}, { authorization: 'Basic YTpi' }] as Record<string, string>[]) {
      const res = await get(gw.url, { query: '{ me { email } }' }, undefined, headers);
      expect(res.status).toBe(401);
      expect(codes(res)).toEqual(['UNAUTHENTICATED']);
      expect(res.headers.get('cache-control')).toBe('private, no-cache');
    }
  });

  test('CSRF: the bearer token counts as a preflight-forcing header; a form POST is still refused', async () => {
    // What a cross-site page could send without a preflight carries no bearer token: it is 401 before Apollo.
    const form = await answer(
      await fetch(`${gw.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'query=%7B__typename%7D',
      }),
    );
    expect(form.status).toBe(401);
    // With a token (only a script can set it, and cross-origin only after a preflight we never answer): a form body is
    // not GraphQL.
    const formWithToken = await answer(
      await fetch(`${gw.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${token}` },
        body: 'query=%7B__typename%7D',
      }),
    );
    expect(formWithToken.status).toBe(400);
    // Apollo's own preflight headers still work.
    expect((await get(gw.url, { query: '{ __typename }' }, token, { 'apollo-require-preflight': 'true' })).status).toBe(
      200,
    );
    // A preflight (OPTIONS) is never answered with CORS permission.
    const preflight = await fetch(`${gw.url}/graphql`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://evil.example',
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization',
      },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    expect(preflight.headers.get('access-control-allow-headers')).toBeNull();
  });

  test('the POST bounds apply to GET: too many tokens, too long a list in variables, repeated parameters', async () => {
    const big = `{ ${'a '.repeat(2100)}}`; // short tokens: a URL is at most 16 KiB (Node's header limit)
    const tokens = await get(gw.url, { query: big }, token);
    expect(tokens.status).toBe(400);
    expect(tokens.body.errors[0].message).toMatch(/tokens/);
    const list = await get(
      gw.url,
      {
        query: 'query ($ids: [ID!]!) { __typename }',
        variables: { ids: Array.from({ length: 1001 }, (_, i) => String(i)) },
      },
      token,
    );
    expect(list.status).toBe(400);
    expect(reasons(list)).toEqual(['too_many_items']);
    const twice = await answer(
      await fetch(
        `${gw.url}/graphql?query=${encodeURIComponent('{ __typename }')}&query=${encodeURIComponent('{ me { email } }')}`,
        { headers: { authorization: `Bearer ${token}` } },
      ),
    );
    expect(twice.status).toBe(400);
    expect(codes(twice)).toEqual(['BAD_USER_INPUT']);
  });

  test('GETs and persisted queries are counted in engage_graphql_requests_total like POSTs', async () => {
    const count = async (labels: Record<string, string>) =>
      (await gw.services.metrics.graphqlRequests.get()).values
        .filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k as keyof typeof v.labels] === x))
        .reduce((n, v) => n + v.value, 0);
    const me = { operation_type: 'query', operation_name: 'me', outcome: 'ok' };
    const refused = { operation_name: '(refused)', outcome: 'UNAUTHENTICATED' };
    const missLabels = { outcome: 'PERSISTED_QUERY_NOT_FOUND' };
    const [m0, r0, x0] = [await count(me), await count(refused), await count(missLabels)];
    await get(gw.url, { query: '{ me { email } }' }, token);
    await get(gw.url, { extensions: apq(sha256Hex(GET_ME)) }, token);
    await post(gw.url, { documentId: `sha256:${sha256Hex(GET_ME)}` }, token);
    await get(gw.url, { query: '{ me { email } }' }, undefined);
    await get(gw.url, { extensions: apq(sha256Hex('{ me { email } } # never sent')) }, token);
    expect(await count(me)).toBe(m0 + 3);
    expect(await count(refused)).toBe(r0 + 1);
    expect(await count(missLabels)).toBe(x0 + 1);
  });
});

describe('PERSISTED_OPERATIONS=require', () => {
  let gw: TestGateway;
  let token: string;
  let staff: string;
  beforeAll(async () => {
    gw = await start({
      PERSISTED_OPERATIONS: 'require',
      PERSISTED_OPERATIONS_FILE: manifestFile(MANIFEST),
      INTROSPECTION_ROLES: 'internal,support',
    });
    token = await gw.token('a@alpha.test');
    staff = await signToken(gw.config.auth, 'staff@alpha.test', ['internal']);
  });

  test("the manifest's operations run: by APQ hash, by documentId, and as their exact text (POST and GET)", async () => {
    const id = sha256Hex(GET_ME);
    const data = { data: { me: { email: 'a@alpha.test' } } };
    expect((await post(gw.url, { extensions: apq(id) }, token)).body).toEqual(data);
    expect((await get(gw.url, { extensions: apq(id) }, token)).body).toEqual(data);
    expect((await post(gw.url, { documentId: `sha256:${id}` }, token)).body).toEqual(data);
    expect((await get(gw.url, { documentId: `sha256:${id}` }, token)).body).toEqual(data);
    expect((await post(gw.url, { query: GET_ME }, token)).body).toEqual(data);
    expect((await post(gw.url, { query: GET_ME, extensions: apq(id) }, token)).body).toEqual(data);
  });

  test('a GET cannot slip an ad-hoc query past the check: repeated or malformed parameters are refused', async () => {
    const id = sha256Hex(GET_ME);
    const adhoc = encodeURIComponent('{ me { id email } }');
    for (const search of [
      `documentId=sha256:${id}&documentId=sha256:${id}&query=${adhoc}`,
      `query=${adhoc}&query=${encodeURIComponent(GET_ME)}`,
      `query=${adhoc}&extensions=%7Bnot-json`,
    ]) {
      const res = await answer(
        await fetch(`${gw.url}/graphql?${search}`, { headers: { authorization: `Bearer ${token}` } }),
      );
      expect(res.status).toBe(400);
      expect(codes(res)).toEqual(['BAD_USER_INPUT']);
      expect(res.body.data).toBeUndefined();
    }
  });

  test('an ad-hoc document is refused (403 persisted_operation_required, saying what to do), POST and GET', async () => {
    for (const res of [
      await post(gw.url, { query: '{ me { email } }' }, token),
      await get(gw.url, { query: '{ me { email } }' }, token),
      await post(gw.url, { query: `${GET_ME} ` }, token),
    ]) {
      expect(res.status).toBe(403);
      expect(codes(res)).toEqual(['FORBIDDEN']);
      expect(reasons(res)).toEqual(['persisted_operation_required']);
      expect(res.body.errors[0].message).toMatch(/manifest/);
    }
  });

  test('an APQ registration of a new document is refused and stores nothing; an unknown id is a typed error', async () => {
    const query = '{ me { id } }';
    const hash = sha256Hex(query);
    const register = await post(gw.url, { query, extensions: apq(hash) }, token);
    expect(register.status).toBe(403);
    expect(reasons(register)).toEqual(['persisted_operation_required']);
    for (const res of [
      await post(gw.url, { extensions: apq(hash) }, token),
      await get(gw.url, { extensions: apq(hash) }, token),
      await post(gw.url, { documentId: `sha256:${hash}` }, token),
    ]) {
      expect(res.status).toBe(400);
      expect(codes(res)).toEqual(['BAD_USER_INPUT']);
      expect(reasons(res)).toEqual(['unknown_operation_id']);
      expect(res.body.errors[0].message).toMatch(/deploy the manifest/);
    }
    // Nothing was cached: for the staff, to whom APQ works as usual, it is a miss.
    expect(codes(await post(gw.url, { extensions: apq(hash) }, staff))).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
  });

  test('a caller with an internal role (INTROSPECTION_ROLES) may send any document, and use APQ', async () => {
    const support = await signToken(gw.config.auth, 'staff@alpha.test', ['support']);
    expect((await post(gw.url, { query: '{ me { email } }' }, staff)).body).toEqual({
      data: { me: { email: 'staff@alpha.test' } },
    });
    expect((await get(gw.url, { query: '{ me { email } }' }, support)).body).toEqual({
      data: { me: { email: 'staff@alpha.test' } },
    });
    const query = '{ me { email role } }';
    const hash = sha256Hex(query);
    expect(codes(await post(gw.url, { extensions: apq(hash) }, staff))).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
    expect((await post(gw.url, { query, extensions: apq(hash) }, staff)).body.data.me.email).toBe('staff@alpha.test');
    expect((await post(gw.url, { extensions: apq(hash) }, staff)).body.data.me.email).toBe('staff@alpha.test');
    // What the staff registered is not thereby allowed to everyone.
    expect(reasons(await post(gw.url, { extensions: apq(hash) }, token))).toEqual(['unknown_operation_id']);
    // An admin is a customer, not staff.
    const admin = await signToken(gw.config.auth, 'staff@alpha.test', ['admin']);
    expect(reasons(await post(gw.url, { query: '{ me { email } }' }, admin))).toEqual(['persisted_operation_required']);
  });
});

describe('the APQ cache is bounded in bytes', () => {
  const BOUND = 16 * 1024;
  /** Distinct documents of one size: `{ <alias>: __typename }` with a padded alias, after an optional comment. */
  const doc = (i: number, comment = '') =>
    `${comment ? `# ${comment}\n` : ''}{ a${String(i).padStart(5, '0')}${'x'.repeat(300)}: __typename }`;

  async function fill(docs: string[], existing?: Awaited<ReturnType<typeof startRaw>>, email = 'a@alpha.test') {
    const gw =
      existing ??
      (await startRaw({ APQ_CACHE_BYTES: String(BOUND), PERSISTED_OPERATIONS_FILE: manifestFile(MANIFEST) }));
    const token = await gw.token(email);
    for (const q of docs) {
      const res = await post(gw.url, { query: q, extensions: apq(sha256Hex(q)) }, token);
      expect(res.body.errors).toBeUndefined();
    }
    const hits: boolean[] = [];
    // In order, oldest first: a miss registers nothing, a hit does not evict.
    for (const q of docs) {
      const res = await post(gw.url, { extensions: apq(sha256Hex(q)) }, token);
      hits.push(res.body.errors?.[0]?.extensions?.code !== 'PERSISTED_QUERY_NOT_FOUND');
    }
    return { gw, token, hits, stats: gw.gateway.persistedDocuments.stats() };
  }

  test('past APQ_CACHE_BYTES the earliest documents are evicted and miss again; the total stays under the bound', async () => {
    const docs = Array.from({ length: 60 }, (_, i) => doc(i));
    const each = entryBytes(sha256Hex(docs[0]), docs[0]);
    expect(each).toBe(docs[0].length + 64 + ENTRY_OVERHEAD_BYTES);
    // One brokerage holds at most its share of the bound.
    const fits = Math.floor(BOUND / APQ_TENANT_SHARE / each);
    expect(fits).toBeLessThan(docs.length);
    const { gw, token, hits, stats } = await fill(docs);
    expect(hits).toEqual(docs.map((_, i) => i >= docs.length - fits));
    expect(stats).toEqual({ entries: fits, bytes: fits * each, maxBytes: BOUND, tenants: 1 });
    expect(stats.bytes).toBeLessThanOrEqual(BOUND);
    // The manifest is apart: its documents are still served by hash, and count nothing.
    expect((await post(gw.url, { extensions: apq(sha256Hex(GET_ME)) }, token)).body).toEqual({
      data: { me: { email: 'a@alpha.test' } },
    });
    expect(gw.gateway.persistedDocuments.stats().bytes).toBe(stats.bytes);
  });

  test("bytes, not characters: a document in Cyrillic counts its bytes (Apollo's default counted string length)", async () => {
    const docs = Array.from({ length: 40 }, (_, i) => doc(i, 'Ж'.repeat(200)));
    // V8 holds it as a two-byte string: 2 bytes a character, more than its UTF-8 size (1 byte a character but Ж's 2).
    expect(documentBytes(docs[0])).toBe(2 * docs[0].length);
    expect(documentBytes(docs[0])).toBeGreaterThanOrEqual(Buffer.byteLength(docs[0], 'utf8'));
    // A Latin-1 document is one byte a character in V8, but its UTF-8 size (é is 2 bytes) is more.
    expect(documentBytes(`# ${'é'.repeat(100)}\n{ __typename }`)).toBe(
      Buffer.byteLength(`# ${'é'.repeat(100)}\n{ __typename }`, 'utf8'),
    );
    const each = entryBytes(sha256Hex(docs[0]), docs[0]);
    const fits = Math.floor(BOUND / APQ_TENANT_SHARE / each);
    const { hits, stats } = await fill(docs);
    expect(hits.filter(Boolean)).toHaveLength(fits);
    expect(hits).toEqual(docs.map((_, i) => i >= docs.length - fits));
    expect(stats.bytes).toBeLessThanOrEqual(BOUND);
    // With InMemoryLRUCache's own size calculation (string length, no key) more would have been kept than fit in the
    // bound.
    expect(Math.floor(BOUND / APQ_TENANT_SHARE / docs[0].length)).toBeGreaterThan(fits);
  });

  test("per brokerage: its own key space, at most its share, and a flood of large documents from one leaves the others' documents cached", async () => {
    const gw = await startRaw({ APQ_CACHE_BYTES: String(BOUND), PERSISTED_OPERATIONS_FILE: manifestFile(MANIFEST) });
    const mine = 'query AppMe { me { email } }';
    const alpha = await gw.token('a@alpha.test');
    expect((await post(gw.url, { query: mine, extensions: apq(sha256Hex(mine)) }, alpha)).body.errors).toBeUndefined();
    // Another brokerage does not see alpha's document by its hash (a hit would tell it what alpha sends).
    const t1 = await gw.token('u@t1.test');
    expect((await post(gw.url, { extensions: apq(sha256Hex(mine)) }, t1)).body.errors?.[0]?.extensions?.code).toBe(
      'PERSISTED_QUERY_NOT_FOUND',
    );
    // t1 registers nine ~1 MB documents (a comment costs no token) and many small ones: alpha's stays.
    for (let i = 0; i < 9; i++) {
      const big = `# ${'x'.repeat(1_000_000)}\n{ b${i}: __typename }`;
      expect((await post(gw.url, { query: big, extensions: apq(sha256Hex(big)) }, t1)).body.errors).toBeUndefined();
      // Too large to keep (MAX_APQ_DOCUMENT_BYTES): it ran, and its hash alone misses.
      expect((await post(gw.url, { extensions: apq(sha256Hex(big)) }, t1)).body.errors?.[0]?.extensions?.code).toBe(
        'PERSISTED_QUERY_NOT_FOUND',
      );
    }
    await fill(
      Array.from({ length: 60 }, (_, i) => doc(i)),
      gw,
      'u@t1.test',
    );
    expect((await post(gw.url, { extensions: apq(sha256Hex(mine)) }, alpha)).body).toEqual({
      data: { me: { email: 'a@alpha.test' } },
    });
    expect(gw.gateway.persistedDocuments.stats().bytes).toBeLessThanOrEqual(BOUND);
    // Five brokerages filling their shares: the whole stays within the bound, the least recently used going first.
    for (const d of ['t2', 't3', 't4', 't5'])
      await fill(
        Array.from({ length: 60 }, (_, i) => doc(i, d)),
        gw,
        `u@${d}.test`,
      );
    const stats = gw.gateway.persistedDocuments.stats();
    expect(stats.bytes).toBeLessThanOrEqual(BOUND);
    expect(stats.bytes).toBeGreaterThan(BOUND - BOUND / APQ_TENANT_SHARE); // and it is used
  });

  test("APQ_CACHE_BYTES=0: APQ off (PERSISTED_QUERY_NOT_SUPPORTED, as Apollo's clients expect), but a manifest still serves its ids", async () => {
    const off = await start({ APQ_CACHE_BYTES: '0' });
    const token = await off.token('a@alpha.test');
    const res = await post(off.url, { extensions: apq(sha256Hex('{ me { email } }')) }, token);
    expect(res.body).toEqual({
      errors: [{ message: 'PersistedQueryNotSupported', extensions: { code: 'PERSISTED_QUERY_NOT_SUPPORTED' } }],
    });
    const withManifest = await start({ APQ_CACHE_BYTES: '0', PERSISTED_OPERATIONS_FILE: manifestFile(MANIFEST) });
    expect((await post(withManifest.url, { extensions: apq(sha256Hex(GET_ME)) }, token)).body).toEqual({
      data: { me: { email: 'a@alpha.test' } },
    });
    // Registration runs the query but keeps nothing.
    const q = '{ me { id } }';
    expect(
      (await post(withManifest.url, { query: q, extensions: apq(sha256Hex(q)) }, token)).body.errors,
    ).toBeUndefined();
    expect(codes(await post(withManifest.url, { extensions: apq(sha256Hex(q)) }, token))).toEqual([
      'PERSISTED_QUERY_NOT_FOUND',
    ]);
  });
});

describe('the manifest is checked at startup', () => {
  const problemsOf = async (content: unknown): Promise<string[]> => {
    schemaPromise ??= buildGatewaySchema();
    try {
      readManifest(manifestFile(content), await schemaPromise, { maxTokens: 2000 });
      return [];
    } catch (err) {
      if (err instanceof ConfigError) return err.problems;
      throw err;
    }
  };

  test("Apollo's format is accepted as generated (name may be absent for an anonymous operation)", async () => {
    const anon = '{ me { email } }';
    expect(
      await problemsOf({
        ...MANIFEST,
        operations: [...MANIFEST.operations, { id: sha256Hex(anon), body: anon, type: 'query' }],
      }),
    ).toEqual([]);
  });

  test('a bad file: not JSON, not the format', async () => {
    expect(await problemsOf('{ nope')).toEqual([
      expect.stringMatching(/^PERSISTED_OPERATIONS_FILE \(.+\) must be a JSON operation manifest: it is not JSON/),
    ]);
    for (const bad of [
      { operations: [] },
      { format: MANIFEST_FORMAT, version: 2, operations: [] },
      { format: MANIFEST_FORMAT, version: 1 },
      [MANIFEST],
    ]) {
      expect(await problemsOf(bad)).toEqual([
        expect.stringMatching(
          /must be an Apollo persisted-query manifest: \{"format":"apollo-persisted-query-manifest","version":1/,
        ),
      ]);
    }
  });

  test('every bad operation is named: wrong id, duplicate, unparsable, invalid, two operations, wrong type or name', async () => {
    const ok = MANIFEST.operations[0];
    const unparsable = 'query Broken { me { email }';
    const invalid = 'query Invalid { me { salary } }';
    const two = 'query A { me { email } } query B { me { role } }';
    const problems = await problemsOf({
      ...MANIFEST,
      operations: [
        ok,
        { ...ok, name: 'Tampered', body: 'query Tampered { me { email role } }' },
        ok,
        op(unparsable, 'Broken', 'query'),
        op(invalid, 'Invalid', 'query'),
        op(two, 'A', 'query'),
        op('query TypeLie { me { email } }', 'TypeLie', 'mutation'),
        op('query Named { me { email } }', 'Other', 'query'),
        { id: 'not-a-hash', body: GET_ME, name: 'GetMe', type: 'query' },
      ],
    });
    expect(problems).toEqual([
      expect.stringMatching(
        /operation 2 "Tampered" \(id [0-9a-f]{16}…\) has an id that is not the SHA-256 of its body/,
      ),
      expect.stringMatching(/operation 3 "GetMe" .* appears twice \(also operation 1\)/),
      expect.stringMatching(/operation 4 "Broken" .* does not parse: Syntax Error/),
      expect.stringMatching(
        /operation 5 "Invalid" .* does not validate against the schema: Cannot query field "salary" on type "Agent"/,
      ),
      expect.stringMatching(/operation 6 "A" .* must hold exactly one operation \(and its fragments\); it holds 2/),
      expect.stringMatching(/operation 7 "TypeLie" .* is a query, but its "type" says mutation/),
      expect.stringMatching(/operation 8 "Other" .* is named "Named" in its body, but its "name" says "Other"/),
      expect.stringMatching(/operation 9 "GetMe" \(id not-a-hash\) must have an "id" of 64 lower-case hex digits/),
    ]);
    for (const p of problems) expect(p).toMatch(/^PERSISTED_OPERATIONS_FILE \(/);
  });

  test('an operation over the token limit is refused at startup (every request running it would be)', async () => {
    const big = `query Big { ${Array.from({ length: 2100 }, () => '__typename').join(' ')} }`;
    expect(await problemsOf({ ...MANIFEST, operations: [op(big, 'Big', 'query')] })).toEqual([
      expect.stringMatching(/operation 1 "Big" .* has more than 2000 tokens/),
    ]);
  });

  test("the gateway refuses to start with a bad manifest, naming the operation; with armor's limits too", async () => {
    const fine = 'query Fine { me { brokerage { name } } }';
    await expect(
      startRaw({
        PERSISTED_OPERATIONS_FILE: manifestFile({
          ...MANIFEST,
          operations: [op('query Bad { nope }', 'Bad', 'query')],
        }),
      }),
    ).rejects.toThrow(
      /invalid configuration:\n {2}- PERSISTED_OPERATIONS_FILE \(.+\): operation 1 "Bad" .*Cannot query field "nope"/,
    );
    const aliases = `query Aliases { ${Array.from({ length: 16 }, (_, i) => `a${i}: __typename`).join(' ')} }`;
    await expect(
      startRaw({
        PERSISTED_OPERATIONS_FILE: manifestFile({
          ...MANIFEST,
          operations: [op(fine, 'Fine', 'query'), op(aliases, 'Aliases', 'query')],
        }),
      }),
    ).rejects.toThrow(/operation 2 "Aliases" .*aliases/i);
  });
});

describe('PersistedDocuments, the APQ store itself', () => {
  const text = (i: number) => `{ d${String(i).padStart(3, '0')}${'y'.repeat(200)}: __typename }`;
  const hash = (i: number) => sha256Hex(text(i));

  test('one document registered twice at once is counted once', async () => {
    const store = new PersistedDocuments(new Map(), 64 * 1024);
    await store.runAs('alpha.test', () => Promise.all([store.set(hash(1), text(1)), store.set(hash(1), text(1))]));
    expect(store.stats()).toMatchObject({ entries: 1, bytes: entryBytes(hash(1), text(1)), tenants: 1 });
  });

  test("within a brokerage's share the least recently used goes first: a document in use stays", async () => {
    const each = entryBytes(hash(0), text(0));
    const store = new PersistedDocuments(new Map(), 4 * APQ_TENANT_SHARE * each); // a share of four documents
    await store.runAs('alpha.test', async () => {
      for (let i = 0; i < 4; i++) await store.set(hash(i), text(i));
      expect(await store.get(hash(0))).toBe(text(0)); // the first one, in use
      await store.set(hash(4), text(4));
      expect(await store.get(hash(0))).toBe(text(0));
      expect(await store.get(hash(1))).toBeUndefined(); // the least recently used went
    });
    expect(store.stats()).toMatchObject({ entries: 4, bytes: 4 * each });
    // Another brokerage's key space: the same hash is unknown there.
    expect(await store.runAs('t1.test', () => store.get(hash(0)))).toBeUndefined();
  });
});
