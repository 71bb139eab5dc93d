/**
 * Issue 15, introspection by role: open outside production; in production only to callers whose token's `roles`
 * claim holds one of INTROSPECTION_ROLES (403 FORBIDDEN naming the variable otherwise), decided per request however
 * the operation arrives (POST, GET, fragments, persisted queries). `__typename` is always allowed.
 */
import { getIntrospectionQuery, parse, type OperationDefinitionNode } from 'graphql';
import { SignJWT } from 'jose';
import { readsSchema } from '../../src/http/introspection';
import { sha256Hex } from '../../src/http/persisted-operations';
import { createTestDb, type TestDb } from '../support/db';
import { seedBrokerage, startTestGateway, type TestGateway } from '../support/gateway';

let db: TestDb & { drop(): Promise<void> };
const gateways: TestGateway[] = [];
const PROD = { NODE_ENV: 'production', SANDBOX: undefined, TRUST_PROXY: 'loopback' };

function signToken(gw: TestGateway, email: string, roles: string[]): Promise<string> {
  const auth = gw.config.auth;
  if (auth.verification.kind !== 'hs256') throw new Error('test tokens need HS256');
  return new SignJWT({ email, roles })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(auth.issuer)
    .setAudience(auth.audience)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new Uint8Array(auth.verification.secret));
}

/** Over HTTPS as the trusted proxy says (production refuses plain HTTP). */
async function post(gw: TestGateway, body: Record<string, unknown>, token: string) {
  const res = await fetch(gw.graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-proto': 'https', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as { data?: any; errors?: any[] } };
}
async function get(gw: TestGateway, params: Record<string, string>, token: string) {
  const res = await fetch(`${gw.graphqlUrl}?${new URLSearchParams(params)}`, {
    headers: { 'x-forwarded-proto': 'https', authorization: `Bearer ${token}` },
  });
  return { status: res.status, body: (await res.json()) as { data?: any; errors?: any[] } };
}

beforeAll(async () => {
  db = await createTestDb('sqlite');
  await seedBrokerage(db.ds, 'alpha.test', [{ email: 'a@alpha.test' }, { email: 'staff@alpha.test' }]);
});
afterAll(async () => {
  for (const gw of gateways) await gw.close();
  await db.drop();
});

const SCHEMA_QUERIES = [
  '{ __schema { queryType { name } } }',
  '{ __type(name: "Agent") { name } }',
  'query { ...Q } fragment Q on Query { __schema { types { name } } }',
  'query { ... on Query { __type(name: "Query") { name } } }',
  'query { ...A } fragment A on Query { ...B } fragment B on Query { __schema { queryType { name } } }',
];

describe('in production', () => {
  let gw: TestGateway;
  let agent: string;
  let staff: string;
  beforeAll(async () => {
    gw = await startTestGateway(db.ds, { env: { ...PROD, INTROSPECTION_ROLES: 'internal, engineering' } });
    gateways.push(gw);
    agent = await gw.token('a@alpha.test');
    staff = await signToken(gw, 'staff@alpha.test', ['internal']);
  });

  test('refused to an agent: 403 FORBIDDEN naming INTROSPECTION_ROLES, however the schema is asked for', async () => {
    for (const query of [getIntrospectionQuery(), ...SCHEMA_QUERIES]) {
      const res = await post(gw, { query }, agent);
      expect(res.status).toBe(403);
      expect(res.body.data).toBeUndefined();
      expect(res.body.errors).toEqual([
        {
          message: expect.stringMatching(/INTROSPECTION_ROLES/),
          extensions: { code: 'FORBIDDEN', reason: 'introspection_forbidden' },
        },
      ]);
    }
    const viaGet = await get(gw, { query: SCHEMA_QUERIES[0] }, agent);
    expect(viaGet.status).toBe(403);
    expect(viaGet.body.errors![0].extensions.code).toBe('FORBIDDEN');
  });

  test('an admin is a customer, not staff: refused too', async () => {
    const admin = await gw.token('a@alpha.test', { admin: true });
    expect((await post(gw, { query: SCHEMA_QUERIES[0] }, admin)).status).toBe(403);
  });

  test('__typename is always allowed, with data alongside', async () => {
    const res = await post(gw, { query: '{ __typename me { __typename email } }' }, agent);
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({ __typename: 'Query', me: { __typename: 'Agent', email: 'a@alpha.test' } });
  });

  test('allowed to a caller with one of INTROSPECTION_ROLES (the standard introspection query too, over GET as well)', async () => {
    const full = await post(gw, { query: getIntrospectionQuery() }, staff);
    expect(full.body.errors).toBeUndefined();
    expect(full.body.data.__schema.queryType.name).toBe('Query');
    for (const query of SCHEMA_QUERIES) expect((await post(gw, { query }, staff)).body.errors).toBeUndefined();
    const other = await signToken(gw, 'staff@alpha.test', ['engineering']);
    expect((await get(gw, { query: SCHEMA_QUERIES[1] }, other)).body.data).toEqual({ __type: { name: 'Agent' } });
  });

  test("a persisted introspection query registered by staff is still refused to an agent, and the agent's registration stores nothing", async () => {
    const query = '{ __schema { mutationType { name } } }';
    const ext = { persistedQuery: { version: 1, sha256Hash: sha256Hex(query) } };
    expect((await post(gw, { query, extensions: ext }, agent)).status).toBe(403);
    expect((await post(gw, { extensions: ext }, staff)).body.errors![0].extensions.code).toBe(
      'PERSISTED_QUERY_NOT_FOUND',
    );
    expect((await post(gw, { query, extensions: ext }, staff)).body.data).toEqual({
      __schema: { mutationType: { name: 'Mutation' } },
    });
    const hit = await post(gw, { extensions: ext }, agent);
    expect(hit.status).toBe(403);
    expect(hit.body.errors![0].extensions.code).toBe('FORBIDDEN');
  });
});

test('outside production introspection is open to every caller, whatever INTROSPECTION_ROLES says', async () => {
  const gw = await startTestGateway(db.ds, { env: { INTROSPECTION_ROLES: 'internal' } });
  gateways.push(gw);
  const res = await post(gw, { query: getIntrospectionQuery() }, await gw.token('a@alpha.test'));
  expect(res.body.errors).toBeUndefined();
  expect(res.body.data.__schema.queryType.name).toBe('Query');
});

test('readsSchema walks the operation that runs and the fragments it spreads, only', () => {
  const op = (doc: ReturnType<typeof parse>, name?: string) =>
    doc.definitions.find(
      (d) => d.kind === 'OperationDefinition' && (!name || d.name?.value === name),
    ) as OperationDefinitionNode;
  for (const q of SCHEMA_QUERIES) expect(readsSchema(parse(q), op(parse(q)))).toBe(true);
  const two = parse('query A { __typename } query B { __schema { queryType { name } } }');
  expect(readsSchema(two, op(two, 'A'))).toBe(false);
  expect(readsSchema(two, op(two, 'B'))).toBe(true);
  const cyclic = parse('query { ...F } fragment F on Query { ...F __typename }');
  expect(readsSchema(cyclic, op(cyclic))).toBe(false);
  expect(readsSchema(parse('{ me { __typename email } }'), op(parse('{ me { __typename email } }')))).toBe(false);
});
