/**
 * What an anonymous or greedy request can cost the process, over real HTTP (issue 12, items 2 and 3):
 * - no body is read (nor inflated) before the bearer token is checked;
 * - an authenticated body is small (MAX_BODY_BYTES, 1 MB) unless it is a mail being sent, and only a few large
 *   bodies are read at once, each brokerage its share; the rest are refused at once with RATE_LIMITED;
 * - compressed bodies are inflated under the small limit;
 * - a failure while the request's context is built (the database away) is masked and logged with the request id.
 */
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { createTestDb, describeEachDb, type Dialect } from '../support/db';
import { seedBrokerage, startTestGateway, type TestGateway } from '../support/gateway';
import { captureLog } from '../support/log-capture';
import { startWorld } from '../support/world';

interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** POST /graphql with a raw body and headers; resolves with the answer (the body may be cut short by the server). */
function post(url: string, body: Buffer, headers: Record<string, string>): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${url}/graphql`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': String(body.length), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    // The server may answer and close before the whole body is written: that is the point, not a failure.
    req.on('error', (err: NodeJS.ErrnoException) =>
      err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err),
    );
    req.end(body);
  });
}

/** A JSON body of about `bytes` bytes: a harmless query padded with a long variable. */
const padded = (query: string, bytes: number, variables: Record<string, unknown> = {}) =>
  Buffer.from(JSON.stringify({ query, variables: { ...variables, pad: 'a'.repeat(bytes) } }));

const codesOf = (text: string) =>
  (JSON.parse(text) as { errors?: { extensions?: { code?: string } }[] }).errors?.map((e) => e.extensions?.code);

describeEachDb('request bodies are read only for authenticated callers, and within bounds', (db) => {
  let gw: TestGateway;
  let token: string;

  beforeAll(async () => {
    await seedBrokerage(db().ds, 'alpha.test', [{ email: 'a@alpha.test' }]);
    gw = await startTestGateway(db().ds);
    token = await gw.token('a@alpha.test');
  });
  afterAll(() => gw.close());

  test('a request without a token is answered 401 before its body arrives', async () => {
    // Headers announcing 40 MB, then nothing: an answer can only come from a server that did not wait for the body.
    const { hostname, port } = new URL(gw.url);
    const socket = connect(Number(port), hostname);
    const answer = await new Promise<string>((resolve, reject) => {
      let text = '';
      socket.on('data', (c) => {
        text += c.toString('latin1');
        if (text.includes('\r\n\r\n')) resolve(text);
      });
      socket.on('error', reject);
      socket.write(
        `POST /graphql HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/json\r\nContent-Length: 40000000\r\n\r\n{"query":"{ __typ`,
      );
    }).finally(() => socket.destroy());
    expect(answer).toMatch(/^HTTP\/1\.1 401 /);
    expect(answer.toLowerCase()).toContain('www-authenticate: bearer');
  });

  test('20 parallel anonymous 40 KB gzip bodies that inflate to 40 MB: each 401 UNAUTHENTICATED, and the process does not grow', async () => {
    const bomb = gzipSync(padded('{ __typename }', 40_000_000), { level: 9 });
    expect(bomb.length).toBeLessThan(60 * 1024);
    const before = process.memoryUsage().rss;
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        post(gw.url, bomb, { 'content-encoding': 'gzip', ...(i % 2 ? { authorization: 'Bearer not-a-token' } : {}) }),
      ),
    );
    const grown = process.memoryUsage().rss - before;
    for (const a of answers) {
      expect(a.status).toBe(401);
      expect(codesOf(a.body)).toEqual(['UNAUTHENTICATED']);
    }
    // Before the fix: every body was inflated and parsed (20 × 40 MB strings and their JSON): gigabytes.
    expect(grown).toBeLessThan(50 * 1024 * 1024);
  });

  test('a compressed body is inflated under the small limit: 413 BAD_USER_INPUT, also for an authenticated caller', async () => {
    const bomb = gzipSync(padded('{ __typename }', 8 * 1024 * 1024));
    const a = await post(gw.url, bomb, { 'content-encoding': 'gzip', authorization: `Bearer ${token}` });
    expect(a.status).toBe(413);
    expect(codesOf(a.body)).toEqual(['BAD_USER_INPUT']);
    expect(JSON.parse(a.body).errors[0].message).toMatch(/1048576 bytes/);
    // Within the limit, compressed bodies work.
    const ok = await post(gw.url, gzipSync(Buffer.from(JSON.stringify({ query: '{ me { email } }' }))), {
      'content-encoding': 'gzip',
      authorization: `Bearer ${token}`,
    });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toEqual({ data: { me: { email: 'a@alpha.test' } } });
  });

  test('a large body is for sending mail only: a 2 MB query is refused with 413 BAD_USER_INPUT', async () => {
    const a = await post(gw.url, padded('{ me { id } }', 2 * 1024 * 1024), { authorization: `Bearer ${token}` });
    expect(a.status).toBe(413);
    expect(codesOf(a.body)).toEqual(['BAD_USER_INPUT']);
    expect(JSON.parse(a.body).errors[0].message).toMatch(/only sendMail/);
    const ok = await post(gw.url, padded('{ me { email } }', 512 * 1024), { authorization: `Bearer ${token}` });
    expect(ok.status).toBe(200);
  });

  describe('variables are bounded before GraphQL coerces them', () => {
    test('a list longer than any operation takes is refused before a single element is coerced or validated; nothing is written', async () => {
      const created = jest.spyOn(gw.services.contacts, 'createMany');
      // 349,458 × {} fit a 1 MiB body; before this guard they held the event loop 20 s before the service counted them.
      const res = await gw.gql('mutation ($i: [ContactInput!]!) { createContacts(input: $i) { id } }', {
        token,
        variables: { i: Array.from({ length: 300_000 }, () => ({})) },
      });
      expect(res.status).toBe(400);
      expect(res.body.errors).toEqual([
        {
          message: 'variables.i has 300000 items; a list takes at most 1000',
          extensions: { code: 'BAD_USER_INPUT', field: 'variables.i', reason: 'too_many_items' },
        },
      ]);
      expect(created).not.toHaveBeenCalled();
      // Nested lists too (a contact's emails), and documents nested deeper than any input type.
      const nested = await gw.gql('mutation ($i: ContactInput!) { createContact(input: $i) { id } }', {
        token,
        variables: { i: { givenName: 'Zoë', emails: Array.from({ length: 5_000 }, () => ({ value: 'z@b.test' })) } },
      });
      expect(nested.body.errors![0]).toMatchObject({
        extensions: { code: 'BAD_USER_INPUT', field: 'variables.i.emails' },
      });
      let deep: unknown = 'x';
      for (let i = 0; i < 100; i++) deep = { a: deep };
      const tooDeep = await gw.gql('query ($d: String) { me { email } }', { token, variables: { d: deep } });
      expect(tooDeep.body.errors![0].message).toMatch(/nested more than 32 levels/);
      expect(Number((await db().ds.query('SELECT COUNT(*) AS n FROM contact'))[0].n)).toBe(0);
      // One over the longest bulk (1,000 contacts) is refused here too.
      const atLimit = await gw.gql('mutation ($i: [ContactInput!]!) { createContacts(input: $i) { id } }', {
        token,
        variables: { i: Array.from({ length: 1001 }, () => ({ givenName: 'a' })) },
      });
      expect(atLimit.body.errors![0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'variables.i' } });
      created.mockRestore();
    });
  });
});

describeEachDb(
  'a large body is read only for a registered brokerage, within a deadline, and counted before it is parsed',
  (db) => {
    let gw: TestGateway;
    let token: string;

    beforeAll(async () => {
      await seedBrokerage(db().ds, 'alpha.test', [{ email: 'a@alpha.test' }]);
      gw = await startTestGateway(db().ds, { env: { LARGE_BODY_TIMEOUT_SECONDS: '1' } });
      token = await gw.token('a@alpha.test');
    });
    afterAll(() => gw.close());

    /**
     * Headers announcing `length` bytes and the first bytes of the body, then silence; resolves with the socket and
     * what comes back.
     */
    function stall(authToken: string, length: number) {
      const { hostname, port } = new URL(gw.url);
      const socket = connect(Number(port), hostname);
      let text = '';
      const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
      const answered = new Promise<string>((resolve) => {
        socket.on('data', (c) => {
          text += c.toString('latin1');
          if (text.includes('\r\n\r\n')) resolve(text);
        });
        socket.on('close', () => resolve(text));
      });
      socket.on('error', () => undefined);
      socket.write(
        `POST /graphql HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/json\r\nAuthorization: Bearer ${authToken}\r\nContent-Length: ${length}\r\n\r\n{"query":"`,
      );
      return { socket, closed, answered };
    }

    test('a valid token of a domain that is no brokerage: 401 before the large body arrives, no slot taken', async () => {
      const s = stall(await gw.token('z@nowhere.test'), 30_000_000);
      try {
        const answer = await s.answered;
        expect(answer).toMatch(/^HTTP\/1\.1 401 /);
        expect(answer).toContain('no brokerage is registered for the domain');
      } finally {
        s.socket.destroy();
      }
    });

    test('a large body that stops arriving is cut off at LARGE_BODY_TIMEOUT_SECONDS, and its slot comes back', async () => {
      const s = stall(token, 2_000_000);
      try {
        // alpha's one slot is held by the silent upload: another large body of alpha is refused at once.
        const refused = await post(gw.url, padded('{ me { id } }', 1_500_000), { authorization: `Bearer ${token}` });
        expect(refused.status).toBe(429);
        // The server gives up on the silent one (the body will never come: a condition, not a race) ...
        await s.closed;
      } finally {
        s.socket.destroy();
      }
      // ... and the slot is free again: this large body is read (then refused for not being a mail).
      const read = await post(gw.url, padded('{ me { id } }', 1_500_000), { authorization: `Bearer ${token}` });
      expect(read.status).toBe(413);
      expect(JSON.parse(read.body).errors[0].message).toMatch(/only sendMail/);
    });

    test('a large body holding millions of values is refused before it is parsed', async () => {
      const arrays = `[${Array.from({ length: 400_000 }, () => '[]').join(',')}]`;
      const body = Buffer.from(`{"query":"{ me { id } }","variables":{"x":${arrays}}}`);
      expect(body.length).toBeGreaterThan(1024 * 1024);
      const res = await post(gw.url, body, { authorization: `Bearer ${token}` });
      expect(res.status).toBe(400);
      expect(JSON.parse(res.body).errors[0]).toMatchObject({
        message: 'The request holds more than 20000 values; a mail needs a few hundred',
        extensions: { code: 'BAD_USER_INPUT', reason: 'too_many_items' },
      });
    });
  },
);

describe.each<Dialect>(['sqlite', 'mariadb'])('[%s] the database away while the context is built', (dialect) => {
  const run = dialect === 'mariadb' && !process.env.TEST_MARIADB_URL ? test.skip : test;

  run(
    'the client sees INTERNAL_SERVER_ERROR with a request id and nothing else; the log has the error under that id',
    async () => {
      const db = await createTestDb(dialect);
      const { log, lines } = captureLog('info');
      await seedBrokerage(db.ds, 'alpha.test', [{ email: 'a@alpha.test' }]);
      const gw = await startTestGateway(db.ds, { log });
      try {
        const token = await gw.token('a@alpha.test');
        expect((await gw.gql('{ me { email } }', { token })).body.data).toEqual({ me: { email: 'a@alpha.test' } });
        await db.ds.destroy(); // the database is gone: every query now fails in the driver
        // A caller the gateway has not met yet (a known one is remembered for a minute: no statement to fail).
        const res = await gw.gql('{ me { email } }', { token: await gw.token('b@alpha.test') });
        expect(res.body.errors).toHaveLength(1);
        const [e] = res.body.errors!;
        expect(e.extensions.code).toBe('INTERNAL_SERVER_ERROR');
        expect(e.message).toBe('Internal server error');
        expect(e.extensions.requestId).toBe(res.headers.get('x-request-id'));
        expect(Object.keys(e.extensions).sort()).toEqual(['code', 'requestId']);
        const logged = lines.map((l) => JSON.parse(l)).filter((l) => l.requestId === e.extensions.requestId);
        expect(logged).toHaveLength(1);
        expect(logged[0].level).toBe(50);
        expect(logged[0].err.message).toBeTruthy();
      } finally {
        await gw.close();
        await db.drop().catch(() => undefined);
      }
    },
  );
});

describeEachDb('an INTERNAL_SERVER_ERROR raised on purpose is logged too', (db) => {
  test('an unknown failure calling Google: the client sees the masked error and its request id; the log has what was thrown under that id', async () => {
    const { log, lines } = captureLog('info');
    const w = await startWorld(db(), { log });
    try {
      const token = await w.token('agent@alpha.test');
      const real = w.gw.services.sessions.forAgent.bind(w.gw.services.sessions);
      jest.spyOn(w.gw.services.sessions, 'forAgent').mockImplementation(async (brokerageId, email) => {
        const session = await real(brokerageId, email);
        // A bug of ours inside the call to Google (not a Google answer): mapped as 'unknown'.
        return Object.assign(Object.create(session), {
          calendar: async () => ({
            // eslint-disable-next-line require-yield -- a listing that fails at its first page
            async *eventPages() {
              throw new TypeError('cannot read properties of undefined (reading "items") at the 7th page');
            },
          }),
        });
      });
      const res = await w.gw.gql(
        '{ events(from: "2026-12-01T00:00:00Z", to: "2026-12-02T00:00:00Z") { totalCount } }',
        { token },
      );
      const [e] = res.body.errors!;
      expect(e.extensions).toMatchObject({ code: 'INTERNAL_SERVER_ERROR', requestId: res.headers.get('x-request-id') });
      expect(JSON.stringify(res.body)).not.toContain('7th page');
      const logged = lines
        .map((l) => JSON.parse(l))
        .filter((l) => l.requestId === e.extensions.requestId && l.level >= 50);
      expect(logged).toHaveLength(1);
      expect(logged[0].err).toMatchObject({ type: 'TypeError', message: expect.stringContaining('7th page') });
    } finally {
      jest.restoreAllMocks();
      await w.close();
    }
  });
});
