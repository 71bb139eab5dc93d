/**
 * One more try for a request whose connection was closed before any answer came: the race every pooled HTTP client
 * meets. A kept-alive connection idle near the server's timeout is closed by the server just as the client sends a
 * request on it; the request fails with a reset (`ECONNRESET`, undici's "other side closed") though the server never
 * looked at it. HTTP clients such as Go's net/http and urllib3 send such a request again when it is idempotent; so do
 * we, for reads (GET, HEAD) and for callers whose requests are safe to repeat (the token exchange).
 *
 * Writes (POST, PATCH, PUT, DELETE to Google) are not repeated here: a reset may also come after Google took the
 * write, and the outbox, which knows what a write was for, decides (it reads Google before it writes again).
 *
 * A second failure is thrown as it came: one retry, at once (the pool has dropped the closed connection), within the
 * first attempt's deadline: the same AbortSignal (gaxios sets one per call) bounds both.
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

/**
 * Bodies that can be sent a second time as they were: none, text, bytes, form data. A stream (web or node's) or an
 * async iterable was consumed by the first attempt: sent again, it would go out empty, or fail and hide the reset.
 */
function replayable(body: unknown): boolean {
  return (
    body === undefined ||
    body === null ||
    typeof body === 'string' ||
    body instanceof URLSearchParams ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body) ||
    body instanceof Blob ||
    body instanceof FormData
  );
}

function methodOf(input: Parameters<typeof fetch>[0], init: Parameters<typeof fetch>[1]): string {
  const m = init?.method ?? (typeof input === 'object' && 'method' in input ? input.method : undefined) ?? 'GET';
  return m.toUpperCase();
}

/**
 * `inner`, with a request that met a closed connection sent once more. `anyMethod`: every request this fetch sends is
 * safe to repeat; a body that cannot be sent twice (a stream) is never sent again.
 */
export function retryClosedConnection(inner: typeof fetch = fetch, opts: { anyMethod?: boolean } = {}): typeof fetch {
  return async (input, init) => {
    try {
      return await inner(input, init);
    } catch (err) {
      const repeatable =
        (opts.anyMethod || SAFE_METHODS.has(methodOf(input, init))) &&
        replayable(init?.body) &&
        !(typeof input === 'object' && 'body' in input && input.body !== null) &&
        !init?.signal?.aborted;
      if (!repeatable || !closedUnderRequest(err)) throw err;
      return inner(input, init);
    }
  };
}
