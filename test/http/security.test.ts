/**
 * The security baseline, over real HTTP: armor limits, introspection,
 * suggestions, CSRF, batching, masking, and bad input that must get a typed
 * error and leave the process up.
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { getIntrospectionQuery } from 'graphql';
import { SignJWT } from 'jose';
import type { DataSource } from 'typeorm';
import { openDatabase, type DatabaseConfig } from '../../src/db/data-source';
import { describeEachDb } from '../support/db';
import { seedBrokerage, startTestGateway, TEST_JWT_SECRET, type TestGateway } from '../support/gateway';
import { captureLog } from '../support/log-capture';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/**
 * One POST /graphql written byte for byte on a socket, so a test can send header values fetch would refuse (bytes
 * above 0x7f, a bare CR). Returns the status and the response headers (lower-cased names, every value).
 */
async function rawPost(
  baseUrl: string,
  extraHeaderLines: Buffer,
): Promise<{ status: number; headers: Array<[string, string]>; body: string }> {
  const { hostname, port } = new URL(baseUrl);
  const body = JSON.stringify({ query: '{ __typename }' });
  const head = Buffer.from(
    `POST /graphql HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n`,
    'latin1',
  );
  const socket = connect(Number(port), hostname);
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    socket.on('data', (c) => chunks.push(c));
    socket.on('end', resolve);
    socket.on('close', () => resolve());
    socket.on('error', reject);
    socket.write(Buffer.concat([head, extraHeaderLines, Buffer.from(`\r\n${body}`, 'latin1')]));
  });
  const text = Buffer.concat(chunks).toString('latin1');
  const [headText, ...rest] = text.split('\r\n\r\n');
  const [statusLine, ...lines] = headText.split('\r\n');
  return {
    status: Number(statusLine.split(' ')[1]),
    headers: lines.map(
      (l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()] as [string, string],
    ),
    body: rest.join('\r\n\r\n'),
  };
}
const headerLine = (value: string | Buffer) =>
  Buffer.concat([
    Buffer.from('X-Request-Id: ', 'latin1'),
    typeof value === 'string' ? Buffer.from(value, 'latin1') : value,
    Buffer.from('\r\n', 'latin1'),
  ]);

/** The Keep-Alive header of a keep-alive POST /graphql (fetch hides hop-by-hop headers). */
function keepAliveHeader(url: string, token: string): Promise<string | undefined> {
  const agent = new HttpAgent({ keepAlive: true });
  return new Promise<string | undefined>((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.headers['keep-alive'] as string | undefined));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ query: '{ __typename }' }));
  }).finally(() => agent.destroy());
}

const codesOf = (body: any): (string | undefined)[] =>
  ((body as { errors?: { extensions?: { code?: string } }[] }).errors ?? []).map((e) => e.extensions?.code);

describeEachDb('HTTP security baseline', (db) => {
  let gw: TestGateway;
  let token: string;
  // Everything the gateway logs, at every level: what must never reach it must not hide behind a level.
  const { log, lines: logLines } = captureLog('trace');

  beforeAll(async () => {
    await seedBrokerage(db().ds, 'alpha.test', [{ email: 'a@alpha.test' }]);
    gw = await startTestGateway(db().ds, { log });
    token = await gw.token('a@alpha.test');
  });
  afterAll(() => gw.close());

  test('15 aliases pass, 16 aliases of __typename are rejected', async () => {
    const aliases = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: __typename`).join(' ')} }`;
    const ok = await gw.gql(aliases(15), { token });
    expect(ok.body.errors).toBeUndefined();
    const bad = await gw.gql(aliases(16), { token });
    expect(bad.status).toBe(400);
    expect(codesOf(bad.body)).toEqual(['BAD_USER_INPUT']);
    expect(bad.body.errors![0].message).toMatch(/aliases/i);
  });

  test('5 directives pass; 6 directives (directive overloading) are rejected', async () => {
    const spread = (n: number) =>
      `{ ${Array.from({ length: n }, (_, i) => `a${i}: __typename @include(if: true)`).join(' ')} }`;
    expect((await gw.gql(spread(5), { token })).body.errors).toBeUndefined();
    for (const query of [spread(6), `{ __typename ${'@a '.repeat(6)}}`]) {
      const bad = await gw.gql(query, { token });
      expect(bad.status).toBe(400);
      expect(new Set(codesOf(bad.body))).toEqual(new Set(['BAD_USER_INPUT']));
      expect(bad.body.errors!.map((e) => e.message)).toContainEqual(expect.stringMatching(/directives limit of 5/i));
    }
  });

  test('deep queries are rejected, the standard introspection query is not', async () => {
    expect((await gw.gql(getIntrospectionQuery(), { token })).body.errors).toBeUndefined();
    const deep = `{ __schema { types { fields { type { ${'ofType { '.repeat(25)}name${' }'.repeat(25)} } } } } }`;
    const bad = await gw.gql(deep, { token });
    expect(bad.status).toBe(400);
    expect(codesOf(bad.body)).toEqual(['BAD_USER_INPUT']);
    expect(bad.body.errors![0].message).toMatch(/depth/i);
  });

  test('oversized queries (too many tokens) are rejected', async () => {
    const big = `{ ${Array.from({ length: 2100 }, () => '__typename').join(' ')} }`;
    const bad = await gw.gql(big, { token });
    expect(bad.status).toBe(400);
    expect(codesOf(bad.body)).toEqual(['BAD_USER_INPUT']);
    expect(bad.body.errors![0].message).toMatch(/token/i);
  });

  test('wide queries are rejected and the server stays up', async () => {
    const wide = `{ ${Array.from({ length: 1500 }, () => '__typename').join(' ')} }`;
    const bad = await gw.gql(wide, { token });
    expect(bad.status).toBe(400);
    expect(codesOf(bad.body)).toEqual(['BAD_USER_INPUT']);
    expect((await gw.gql('{ __typename }', { token })).body.data).toEqual({ __typename: 'Query' });
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
    const res = await gw.gql('query ($b: Boolean!) { __typename @include(if: $b) }', {
      token,
      variables: { b: 'seven' },
    });
    expect(res.status).toBe(400);
    expect(codesOf(res.body)).toEqual(['BAD_USER_INPUT']);
  });

  test('introspection is on outside production', async () => {
    const res = await gw.gql('{ __schema { queryType { name } } }', { token });
    expect(res.body.data?.__schema.queryType.name).toBe('Query');
  });

  test('CSRF: the bearer token is the preflight-forcing header; a form-encoded or text/plain body is still refused', async () => {
    // A page on another origin cannot set Authorization without a CORS preflight (which we never answer), and a browser
    // adds no Bearer token by itself: a GET with just the token, as mobile clients send persisted queries, is allowed.
    const get = await fetch(`${gw.graphqlUrl}?query=${encodeURIComponent('{__typename}')}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(get.status).toBe(200);
    expect(await get.json()).toEqual({ data: { __typename: 'Query' } });
    // What a cross-site page can send without a preflight carries no bearer token: refused before GraphQL runs.
    const anonymous = await fetch(`${gw.graphqlUrl}?query=${encodeURIComponent('{__typename}')}`);
    expect(anonymous.status).toBe(401);
    const basic = await fetch(`${gw.graphqlUrl}?query=${encodeURIComponent('{__typename}')}`, {
      headers: { authorization: 'Basic dXNlcjpwYXNz' },
    });
    expect(basic.status).toBe(401);
    // A body of a preflight-free content type is never read as GraphQL.
    const textPlain = await fetch(gw.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: '{__typename}' }),
    });
    expect(textPlain.status).toBe(400);
    const withHeader = await fetch(`${gw.graphqlUrl}?query=${encodeURIComponent('{__typename}')}`, {
      headers: { 'apollo-require-preflight': 'true', authorization: `Bearer ${token}` },
    });
    expect(withHeader.status).toBe(200);
  });

  test('batched HTTP requests are refused', async () => {
    const res = await fetch(gw.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify([{ query: '{__typename}' }, { query: '{__typename}' }]),
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/batch/i);
  });

  test('malformed JSON body: 400 BAD_USER_INPUT, and the process stays up', async () => {
    const res = await fetch(gw.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: '{"query": "{ __typename }"',
    });
    expect(res.status).toBe(400);
    expect(codesOf(await res.json())).toEqual(['BAD_USER_INPUT']);
    expect((await gw.gql('{ __typename }', { token })).body.data).toEqual({ __typename: 'Query' });
  });

  test('body over the size limit: 413 BAD_USER_INPUT', async () => {
    const res = await fetch(gw.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: '{__typename}', variables: { pad: 'x'.repeat(gw.config.http.maxBodyBytes) } }),
    });
    expect(res.status).toBe(413);
    expect(codesOf(await res.json())).toEqual(['BAD_USER_INPUT']);
  });

  test("idle connections are kept 65 s (longer than a load balancer's 60 s), announced in Keep-Alive; HTTP_KEEP_ALIVE_SECONDS sets it", async () => {
    expect(await keepAliveHeader(gw.graphqlUrl, token)).toBe('timeout=65');
    const other = await startTestGateway(db().ds, { env: { HTTP_KEEP_ALIVE_SECONDS: '120' } });
    try {
      expect(await keepAliveHeader(other.graphqlUrl, await other.token('a@alpha.test'))).toBe('timeout=120');
    } finally {
      await other.close();
    }
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
        {
          message: 'Internal server error',
          locations: [{ line: 1, column: 3 }],
          path: ['me'],
          extensions: { code: 'INTERNAL_SERVER_ERROR', requestId: 'req-abc-123' },
        },
      ]);
      expect(res.headers.get('x-request-id')).toBe('req-abc-123');
      const logged = logLines.find((l) => l.includes('req-abc-123') && l.includes('masked'));
      expect(logged).toMatch(/db-primary-7/);
    } finally {
      gw.services.agents.me = original;
    }
  });

  test("a caller's bearer token never reaches the log: not on success, not when refused, not when the request fails", async () => {
    const from = logLines.length;
    const now = Math.floor(Date.now() / 1000);
    const sign = (o: { secret?: string; exp?: number }) =>
      new SignJWT({ email: 'a@alpha.test', roles: [] })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer(gw.config.auth.issuer)
        .setAudience(gw.config.auth.audience)
        .setIssuedAt()
        .setExpirationTime(o.exp ?? now + 600)
        .sign(new TextEncoder().encode(o.secret ?? TEST_JWT_SECRET));
    const forged = await sign({ secret: 'a-different-secret-of-at-least-32-bytes!!' });
    const expired = await sign({ exp: now - 3600 });
    const failing = await sign({});

    expect((await gw.gql('{ me { id } }', { token })).body.data.me.id).toEqual(expect.any(String));
    for (const [t, reason] of [
      [forged, /signature does not verify/],
      [expired, /expired/],
    ] as const) {
      const res = await gw.gql('{ me { id } }', { token: t });
      expect(res.status).toBe(401);
      expect(res.body.errors?.[0]).toMatchObject({
        extensions: { code: 'UNAUTHENTICATED' },
        message: expect.stringMatching(reason),
      });
    }
    // A header that is not "Bearer <token>" is refused before the token is read; it must not be logged either.
    const malformed = await gw.gql('{ me { id } }', { headers: { authorization: `Bearer ${forged} trailing` } });
    expect(malformed.body.errors?.[0].extensions.code).toBe('UNAUTHENTICATED');
    // A request that fails inside the gateway, with a valid token: its error is logged, the token is not.
    const original = gw.services.agents.me;
    gw.services.agents.me = async () => {
      throw new Error('resolver exploded');
    };
    try {
      const res = await gw.gql('{ me { id } }', { token: failing });
      expect(res.body.errors?.[0].extensions.code).toBe('INTERNAL_SERVER_ERROR');
    } finally {
      gw.services.agents.me = original;
    }

    const logged = logLines.slice(from).join('\n');
    expect(logged).toContain('resolver exploded'); // the log did capture this stretch
    for (const t of [token, forged, expired, failing]) {
      expect(logged).not.toContain(t);
      expect(logged).not.toContain(t.split('.')[2]); // not even the signature alone
    }
  });

  describe('x-request-id', () => {
    test('a clean id (letters, digits, ".", "_", "-", up to 128) is echoed', async () => {
      for (const id of ['req-abc.123_XYZ', 'a'.repeat(128)]) {
        const res = await gw.gql('{ __typename }', { token, headers: { 'x-request-id': id } });
        expect(res.headers.get('x-request-id')).toBe(id);
      }
    });

    test('a hostile id is replaced by a fresh UUID, also in the error a client quotes to support', async () => {
      const hostile = [
        'a'.repeat(129),
        'has space',
        'semi;colon=1',
        '<script>alert(1)</script>',
        '"quoted"',
        '../../etc/passwd\\x',
        'tab\there',
      ];
      const seen = new Set<string>();
      for (const id of hostile) {
        const res = await gw.gql('{ __typename }', { token, headers: { 'x-request-id': id } });
        const echoed = res.headers.get('x-request-id')!;
        expect(echoed).toMatch(UUID);
        seen.add(echoed);
      }
      expect(seen.size).toBe(hostile.length);
      const original = gw.services.agents.me;
      gw.services.agents.me = async () => {
        throw new Error('boom');
      };
      try {
        const res = await gw.gql('{ me { id } }', { token, headers: { 'x-request-id': 'x'.repeat(500) } });
        expect(res.headers.get('x-request-id')).toMatch(UUID);
        expect(res.body.errors?.[0].extensions).toEqual({
          code: 'INTERNAL_SERVER_ERROR',
          requestId: res.headers.get('x-request-id'),
        });
      } finally {
        gw.services.agents.me = original;
      }
    });

    test('bytes outside ASCII (Latin-1 or UTF-8) are not echoed', async () => {
      for (const value of [Buffer.from([0x63, 0x61, 0x66, 0xe9]), Buffer.from('ünïcödé-id', 'utf8')]) {
        const res = await rawPost(
          gw.url,
          Buffer.concat([headerLine(value), Buffer.from(`Authorization: Bearer ${token}\r\n`, 'latin1')]),
        );
        expect(res.status).toBe(200);
        const ids = res.headers.filter(([k]) => k === 'x-request-id').map(([, v]) => v);
        expect(ids).toHaveLength(1);
        expect(ids[0]).toMatch(UUID);
      }
    });

    test('CR/LF never split the response: raw ones are refused by the HTTP parser, encoded ones are not echoed', async () => {
      for (const value of [
        'evil\rSet-Cookie: stolen=1',
        'evil\nSet-Cookie: stolen=1',
        'evil\r\n Set-Cookie: stolen=1',
      ]) {
        const res = await rawPost(gw.url, headerLine(value));
        expect(res.status).toBe(400); // Node's parser: the request never reaches the gateway
        expect(res.headers.map(([k]) => k)).not.toContain('set-cookie');
      }
      // What does reach the gateway is an encoded one; a proxy or log viewer that decodes it must not find it in our
      // answer.
      const res = await gw.gql('{ __typename }', {
        token,
        headers: { 'x-request-id': 'evil%0d%0aSet-Cookie:%20stolen=1' },
      });
      expect(res.headers.get('x-request-id')).toMatch(UUID);
      expect(res.headers.get('set-cookie')).toBeNull();
    });
  });
});

/** A TCP relay in front of MariaDB that a test can cut: the database "goes away" for the clients behind it. */
async function relay(host: string, port: number): Promise<{ port: number; cut(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(port, host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    cut: async () => {
      const closed = new Promise<void>((r) => server.close(() => r()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

describeEachDb('readiness when the database is gone', (db) => {
  test('/readyz answers 503 without internals; /healthz stays up', async () => {
    // The gateway gets a connection of its own that the test can take away: SQLite's is closed, MariaDB's goes
    // through a relay that is then cut (new connections refused, open ones dropped).
    let own: DataSource;
    let cut: () => Promise<void>;
    const cfg: DatabaseConfig = db().config;
    if (cfg.kind === 'mysql') {
      const url = new URL(cfg.url);
      const r = await relay(url.hostname, Number(url.port));
      url.port = String(r.port);
      own = await openDatabase({ kind: 'mysql', url: url.toString() });
      cut = r.cut;
    } else {
      own = await openDatabase({ kind: 'sqlite', path: ':memory:' });
      cut = () => own.destroy();
    }
    const gw = await startTestGateway(own);
    try {
      const up = await fetch(`${gw.url}/readyz`);
      expect(up.status).toBe(200);
      expect(await up.json()).toEqual({ status: 'ready', database: 'ok' });
      await cut();
      const down = await fetch(`${gw.url}/readyz`);
      expect(down.status).toBe(503);
      const text = await down.text();
      expect(JSON.parse(text)).toEqual({ status: 'not ready', database: 'unreachable' });
      expect(text).not.toMatch(/ECONN|refused|127\.0\.0\.1|mysql|sqlite|QueryFailed|DataSource|Error|stack/i);
      // Liveness is not readiness: the process is up, and says so.
      expect(await (await fetch(`${gw.url}/healthz`)).json()).toEqual({ status: 'ok' });
    } finally {
      await gw.close();
      if (own.isInitialized) await own.destroy().catch(() => undefined);
    }
  });
});

describeEachDb('production settings', (db) => {
  let gw: TestGateway;
  let token: string;
  beforeAll(async () => {
    await seedBrokerage(db().ds, 'alpha.test', [{ email: 'a@alpha.test' }]);
    gw = await startTestGateway(db().ds, {
      env: { NODE_ENV: 'production', SANDBOX: undefined, TRUST_PROXY: 'loopback' },
    });
    token = await gw.token('a@alpha.test');
  });
  afterAll(() => gw.close());

  test('introspection is off in production (for callers without an INTROSPECTION_ROLES role: introspection.test.ts)', async () => {
    const res = await gw.gql('{ __schema { queryType { name } } }', { token });
    expect(res.status).toBe(403);
    expect(codesOf(res.body)).toEqual(['FORBIDDEN']);
    expect(res.body.errors![0].message).toMatch(/introspection/i);
  });

  test('no stack traces in production errors', async () => {
    const res = await gw.gql('{ nope }', { token });
    expect(JSON.stringify(res.body)).not.toMatch(/stacktrace|\.ts:\d+|\.js:\d+/);
  });
});
