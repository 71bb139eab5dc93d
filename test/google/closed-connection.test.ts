/**
 * retryClosedConnection against a real HTTP server on loopback: which requests are sent again when the connection is
 * closed under them, and which never are.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { closedUnderRequest, retryClosedConnection } from '../../src/google/closed-connection';

let server: Server;
let url: string;
/** Requests the server saw, in order: method and body. */
let seen: { method: string; body: string }[];
/** How many of the next requests the server answers by closing the connection. */
let closeNext = 0;

const bodyOf = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let s = '';
    req.on('data', (c) => (s += c));
    req.on('end', () => resolve(s));
  });

beforeAll(async () => {
  server = createServer(async (req, res) => {
    seen.push({ method: req.method!, body: await bodyOf(req) });
    if (closeNext > 0) {
      closeNext--;
      req.socket.destroy();
      return;
    }
    res.setHeader('content-type', 'text/plain');
    res.end(`answer ${seen.length}`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));
beforeEach(() => {
  seen = [];
  closeNext = 0;
});

describe('retryClosedConnection', () => {
  const f = retryClosedConnection();

  test('a GET whose connection closed under it is sent once more, and its answer returned', async () => {
    closeNext = 1;
    const res = await f(url);
    expect(await res.text()).toBe('answer 2');
    expect(seen.map((s) => s.method)).toEqual(['GET', 'GET']);
  });

  test('a GET closed twice fails with the second failure: one retry, no more', async () => {
    closeNext = 2;
    const err = await f(url).catch((e: unknown) => e);
    expect(closedUnderRequest(err)).toBe(true);
    expect(seen).toHaveLength(2);
  });

  test('a POST is never sent twice: the server may have taken it', async () => {
    closeNext = 1;
    const err = await f(url, { method: 'POST', body: 'create' }).catch((e: unknown) => e);
    expect(closedUnderRequest(err)).toBe(true);
    expect(seen).toEqual([{ method: 'POST', body: 'create' }]);
  });

  test('with anyMethod (the token exchange), a POST is sent again with the same body', async () => {
    closeNext = 1;
    const body = new URLSearchParams({ grant_type: 'jwt-bearer', assertion: 'a.b.c' });
    const res = await retryClosedConnection(fetch, { anyMethod: true })(url, { method: 'POST', body });
    expect(await res.text()).toBe('answer 2');
    expect(seen).toEqual([
      { method: 'POST', body: body.toString() },
      { method: 'POST', body: body.toString() },
    ]);
  });

  test('with anyMethod, a body that was consumed (a stream) is not sent again: the reset is thrown', async () => {
    closeNext = 1;
    const body = Readable.from([Buffer.from('chunk')]);
    const err = await retryClosedConnection(fetch, { anyMethod: true })(url, {
      method: 'POST',
      body: body as unknown as RequestInit['body'],
      duplex: 'half',
    } as RequestInit).catch((e: unknown) => e);
    expect(closedUnderRequest(err)).toBe(true);
    expect(seen).toEqual([{ method: 'POST', body: 'chunk' }]);
  });

  test('an answer with an error status is an answer: not sent again', async () => {
    const inner = jest.fn(async () => new Response('busy', { status: 503 }));
    const res = await retryClosedConnection(inner as unknown as typeof fetch)(url);
    expect(res.status).toBe(503);
    expect(inner).toHaveBeenCalledTimes(1);
  });

  test('a refused connection, a timeout or an abort is not a closed connection: thrown at once', async () => {
    const refused = Object.assign(new TypeError('fetch failed'), {
      cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
    });
    const timeout = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    for (const failure of [refused, timeout]) {
      const inner = jest.fn(async () => {
        throw failure;
      });
      await expect(retryClosedConnection(inner as unknown as typeof fetch)(url)).rejects.toBe(failure);
      expect(inner).toHaveBeenCalledTimes(1);
    }
    // An aborted request whose failure looks like a reset is not sent again either.
    const ctl = new AbortController();
    const reset = Object.assign(new TypeError('fetch failed'), {
      cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }),
    });
    const inner = jest.fn(async () => {
      ctl.abort();
      throw reset;
    });
    await expect(retryClosedConnection(inner as unknown as typeof fetch)(url, { signal: ctl.signal })).rejects.toBe(
      reset,
    );
    expect(inner).toHaveBeenCalledTimes(1);
  });
});
