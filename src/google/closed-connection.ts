/**
 * One more try for a request whose connection was closed before any answer came: the race every pooled HTTP client
 * meets. A kept-alive connection idle near the server's timeout is closed by the server just as the client sends a
 * request on it; the request fails with a reset (`ECONNRESET`, undici's "other side closed") though the server never
 * looked at it. Go's net/http and urllib3 send such a request again on a new connection when it is idempotent; so do
 * we, for reads (GET, HEAD) and for callers whose requests are safe to repeat (the token exchange).
 *
 * Writes (POST, PATCH, PUT, DELETE to Google) are not repeated here: a reset may also come after Google took the
 * write, and the outbox, which knows what a write was for, decides (it reads Google before it writes again).
 *
 * A second failure is thrown as it came: one retry, at once, on a new connection (the pool drops the closed one).
 */

/** Failures of a connection that closed under the request, before its answer began. */
const CLOSED_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

const SAFE_METHODS = new Set(['GET', 'HEAD']);

/** Whether `err` (a fetch failure) is a connection closed under the request: not a timeout, an abort or a refusal. */
export function closedUnderRequest(err: unknown): boolean {
  let e = err as { name?: unknown; code?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; e && typeof e === 'object' && depth < 4; depth++) {
    if (e.name === 'AbortError' || e.name === 'TimeoutError') return false;
    if (typeof e.code === 'string' && CLOSED_CODES.has(e.code)) return true;
    e = e.cause as typeof e;
  }
  return false;
}

function methodOf(input: Parameters<typeof fetch>[0], init: Parameters<typeof fetch>[1]): string {
  const m = init?.method ?? (typeof input === 'object' && 'method' in input ? input.method : undefined) ?? 'GET';
  return m.toUpperCase();
}

/**
 * `inner`, with a request that met a closed connection sent once more. `anyMethod`: every request this fetch sends is
 * safe to repeat (its body must then be replayable: a string, bytes or URLSearchParams, never a stream).
 */
export function retryClosedConnection(inner: typeof fetch = fetch, opts: { anyMethod?: boolean } = {}): typeof fetch {
  return async (input, init) => {
    try {
      return await inner(input, init);
    } catch (err) {
      const repeatable =
        (opts.anyMethod || SAFE_METHODS.has(methodOf(input, init))) &&
        !(init?.body instanceof ReadableStream) &&
        !(typeof input === 'object' && 'body' in input && input.body !== null) &&
        !init?.signal?.aborted;
      if (!repeatable || !closedUnderRequest(err)) throw err;
      return inner(input, init);
    }
  };
}
