/**
 * HTTP caching of GET /graphql answers (issue 15). Queries may come over GET (a persisted query's URL is short and
 * stable), but every answer is the calling agent's own: it depends on the bearer token, so it must never sit in a
 * shared cache, while the phone's own HTTP cache may keep it and revalidate cheaply.
 *
 * - `Cache-Control: private, no-cache`: only the client's own cache may store the answer, and only to revalidate it
 *   (no-cache: never reused without asking). Apollo's answer to a persisted-query miss says
 *   `private, no-cache, must-revalidate`, which is as strict, and is kept.
 * - `Vary: Authorization, Accept`: the answer is the token's; its content type follows Accept
 *   (application/graphql-response+json or application/json).
 * - A strong `ETag`, the SHA-256 of the body, on every 2xx answer; a request whose `If-None-Match` holds it is answered
 *   `304 Not Modified` without the body. The query still runs: the saving is the transfer, not the work. Decided here
 *   rather than by express's `req.fresh`, which never answers 304 to a request saying `Cache-Control: no-cache`, and
 *   fetch() adds exactly that to every request carrying If-None-Match: the client holds the body it names, so the
 *   origin answers the precondition (RFC 9110 §13.1.2, weak comparison).
 *
 * Every GET answer carries the first two, refusals (401, 400) included.
 */
import { createHash } from 'node:crypto';
import type { RequestHandler } from 'express';

const GET_CACHE_CONTROL = 'private, no-cache';

/**
 * A strong validator of the representation: its body and its media type (RFC 9110 §8.8.1: variants by Accept differ).
 */
function strongEtag(body: string | Buffer, contentType = ''): string {
  return `"${createHash('sha256').update(contentType).update('\n').update(body).digest('base64url')}"`;
}

/** RFC 9110 §13.1.2: If-None-Match matches when any listed entity tag equals ours, weakly compared ("*": any). */
function noneMatch(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  const opaque = etag.replace(/^W\//, '');
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === opaque);
}

export const cacheableGet: RequestHandler = (req, res, next) => {
  if (req.method !== 'GET') return next();
  res.setHeader('cache-control', GET_CACHE_CONTROL);
  res.vary('Authorization');
  res.vary('Accept');
  const send = res.send;
  res.send = function (this: typeof res, body?: unknown) {
    if ((typeof body === 'string' || Buffer.isBuffer(body)) && res.statusCode >= 200 && res.statusCode < 300) {
      const etag = strongEtag(body, String(res.getHeader('content-type') ?? ''));
      res.setHeader('etag', etag);
      // express's send strips the body and its content headers from a 304.
      if (noneMatch(req.header('if-none-match'), etag)) res.status(304);
    }
    return send.call(this, body);
  } as typeof res.send;
  next();
};
