/**
 * The security baseline, over real HTTP: armor limits, introspection,
 * suggestions, CSRF, batching, masking, and bad input that must get a typed
 * error and leave the process up.
 */
import { Writable } from 'node:stream';
import { getIntrospectionQuery } from 'graphql';
import { createLogger } from '../../src/logger';
import { describeEachDb } from '../support/db';
import { seedBrokerage, startTestGateway, type TestGateway } from '../support/gateway';

const codesOf = (body: any): (string | undefined)[] => ((body as { errors?: { extensions?: { code?: string } }[] }).errors ?? []).map((e) => e.extensions?.code);

describeEachDb('HTTP security baseline', (db) => {
  let gw: TestGateway;
  let token: string;
  const logLines: string[] = [];

  beforeAll(async () => {
    await seedBrokerage(db().ds, 'alpha.test', [{ email: 'a@alpha.test' }]);
    const sink = new Writable({ write(chunk, _enc, cb) { logLines.push(String(chunk)); cb(); } });
    gw = await startTestGateway(db().ds, { log: createLogger('info', sink) });
    token = await gw.token('a@alpha.test');
  });
  afterAll(() => gw.close());

  test('15 aliases pass, 16 aliases of __typename are rejected', async () => {
    const aliases = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: __typename`).join(' ')} }`;
    const ok = await gw.gql(aliases(15));
    expect(ok.body.errors).toBeUndefined();
    const bad = await gw.gql(aliases(16));
    expect(bad.status).toBe(400);
    expect(codesOf(bad.body)).toEqual(['BAD_USER_INPUT']);
    expect(bad.body.errors![0].message).toMatch(/aliases/i);
  });

  test('5 directives pass; 6 directives (directive overloading) are rejected', async () => {
    const spread = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: __typename @include(if: true)`).join(' ')} }`;
    expect((await gw.gql(spread(5))).body.errors).toBeUndefined();
    for (const query of [spread(6), `{ __typename ${'@a '.repeat(6)}}`]) {
      const bad = await gw.gql(query);
      expect(bad.status).toBe(400);
      expect(new Set(codesOf(bad.body))).toEqual(new Set(['BAD_USER_INPUT']));
      expect(bad.body.errors!.map((e) => e.message)).toContainEqual(expect.stringMatching(/directives limit of 5/i));
    }
  });

  test('deep queries are rejected, the standard introspection query is not', async () => {
    expect((await gw.gql(getIntrospectionQuery())).body.errors).toBeUndefined();
    const deep = `{ __schema { types { fields { type { ${'ofType { '.repeat(25)}name${' }'.repeat(25)} } } } } }`;
    const bad = await gw.gql(deep, { token });
    expect(bad.status).toBe(400);
    expect(codesOf(bad.body)).toEqual(['BAD_USER_INPUT']);
    expect(bad.body.errors![0].message).toMatch(/depth/i);
  });

  test('oversized queries (too many tokens) are rejected', async () => {
    const big = `{ ${Array.from({ length: 2100 }, () => '__typename').join(' ')} }`;
    const bad = await gw.gql(big);
    expect(bad.status).toBe(400);
    expect(codesOf(bad.body)).toEqual(['BAD_USER_INPUT']);
    expect(bad.body.errors![0].message).toMatch(/token/i);
  });

  test('wide queries are rejected and the server stays up', async () => {
    const wide = `{ ${Array.from({ length: 1500 }, () => '__typename').join(' ')} }`;
    const bad = await gw.gql(wide);
    expect(bad.status).toBe(400);
    expect(codesOf(bad.body)).toEqual(['BAD_USER_INPUT']);
    expect((await gw.gql('{ __typename }')).body.data).toEqual({ __typename: 'Query' });
  });

  test('unknown fields: BAD_USER_INPUT without "Did you mean" suggestions', async () => {
    const res = await gw.gql('{ me { emial } }', { token });
    expect(res.status).toBe(400);
    expect(codesOf(res.body)).toEqual(['BAD_USER_INPUT']);
    expect(res.body.errors![0].extensions.reason).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(JSON.stringify(res.body)).not.toMatch(/did you mean|email/i);
  });

  test('syntax errors: BAD_USER_INPUT', async () => {
    const res = await gw.gql('{ me { ', { token });
    expect(res.status).toBe(400);
    expect(codesOf(res.body)).toEqual(['BAD_USER_INPUT']);
  });

  test('wrong variable types: BAD_USER_INPUT', async () => {
    const res = await gw.gql('query ($b: Boolean!) { __typename @include(if: $b) }', { variables: { b: 'seven' } });
    expect(res.status).toBe(400);
    expect(codesOf(res.body)).toEqual(['BAD_USER_INPUT']);
  });

  test('introspection is on outside production', async () => {
    const res = await gw.gql('{ __schema { queryType { name } } }');
    expect(res.body.data?.__schema.queryType.name).toBe('Query');
  });

  test('CSRF: a simple (preflight-free) request without a custom header is refused', async () => {
    const get = await fetch(`${gw.graphqlUrl}?query=${encodeURIComponent('{__typename}')}`);
    expect(get.status).toBe(400);
    expect(await get.text()).toMatch(/CSRF/i);
    const textPlain = await fetch(gw.graphqlUrl, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ query: '{__typename}' }) });
    expect(textPlain.status).toBe(400);
    const withHeader = await fetch(`${gw.graphqlUrl}?query=${encodeURIComponent('{__typename}')}`, { headers: { 'apollo-require-preflight': 'true' } });
    expect(withHeader.status).toBe(200);
  });

  test('batched HTTP requests are refused', async () => {
    const res = await fetch(gw.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ query: '{__typename}' }, { query: '{__typename}' }]) });
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/batch/i);
  });

  test('malformed JSON body: 400 BAD_USER_INPUT, and the process stays up', async () => {
    const res = await fetch(gw.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query": "{ __typename }"' });
    expect(res.status).toBe(400);
    expect(codesOf(await res.json())).toEqual(['BAD_USER_INPUT']);
    expect((await gw.gql('{ __typename }')).body.data).toEqual({ __typename: 'Query' });
  });

  test('body over the size limit: 413 BAD_USER_INPUT', async () => {
    const res = await fetch(gw.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{__typename}', variables: { pad: 'x'.repeat(gw.config.http.maxBodyBytes) } }) });
    expect(res.status).toBe(413);
    expect(codesOf(await res.json())).toEqual(['BAD_USER_INPUT']);
  });

  test('unknown paths: 404 with a typed error', async () => {
    const res = await fetch(`${gw.url}/nope`);
    expect(res.status).toBe(404);
    expect(codesOf(await res.json())).toEqual(['NOT_FOUND']);
  });

  test('health: /healthz is up, /readyz checks the database', async () => {
    expect(await (await fetch(`${gw.url}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${gw.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', database: 'ok' });
  });

  test('an unexpected error is masked as INTERNAL_SERVER_ERROR with a request id; details only in the log', async () => {
    const original = gw.services.agents.me;
    gw.services.agents.me = async () => {
      throw new Error('connection to db-primary-7 refused: password=hunter2');
    };
    try {
      const res = await gw.gql('{ me { id } }', { token, headers: { 'x-request-id': 'req-abc-123' } });
      expect(res.status).toBe(200);
      expect(res.body.errors).toEqual([
        { message: 'Internal server error', locations: [{ line: 1, column: 3 }], path: ['me'], extensions: { code: 'INTERNAL_SERVER_ERROR', requestId: 'req-abc-123' } },
      ]);
      expect(res.headers.get('x-request-id')).toBe('req-abc-123');
      const logged = logLines.find((l) => l.includes('req-abc-123') && l.includes('masked'));
      expect(logged).toMatch(/db-primary-7/);
    } finally {
      gw.services.agents.me = original;
    }
  });

  test('the bearer token never reaches the log', async () => {
    await gw.gql('{ me { id } }', { token });
    expect(logLines.join('\n')).not.toContain(token);
  });
});

describeEachDb('production settings', (db) => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway(db().ds, { env: { NODE_ENV: 'production', SANDBOX: undefined } });
  });
  afterAll(() => gw.close());

  test('introspection is off in production', async () => {
    const res = await gw.gql('{ __schema { queryType { name } } }');
    expect(res.status).toBe(400);
    expect(codesOf(res.body)).toEqual(['BAD_USER_INPUT']);
    expect(res.body.errors![0].message).toMatch(/introspection/i);
  });

  test('no stack traces in production errors', async () => {
    const res = await gw.gql('{ nope }');
    expect(JSON.stringify(res.body)).not.toMatch(/stacktrace|\.ts:\d+|\.js:\d+/);
  });
});
