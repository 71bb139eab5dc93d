/**
 * The GraphQL request parameters of a request to /graphql, read exactly where Apollo Server reads them: a POST's JSON
 * body, or a GET's query string (`query`, `operationName`, `documentId`, and `variables`/`extensions` as JSON). The
 * middleware in front of Apollo (limits, persisted operations) decide on these values, so they must be the ones Apollo
 * then runs: for a GET both use the raw URL's search as @as-integrations/express5 hands it over (`url.parse`), never
 * express's `req.query` (whose parser reads repeated or bracketed names differently).
 *
 * A GET's parameters are bounded by the request line (Node's 16 KiB header limit), so parsing its JSON here is cheap.
 */
import { parse as urlParse } from 'node:url';
import type { Request } from 'express';

/** A JSON parameter of a GET that does not parse: Apollo refuses the request (400), nothing else is decided on it. */
export const MALFORMED = Symbol('malformed JSON parameter');

export interface GraphqlParams {
  query: unknown;
  documentId: unknown;
  operationName: unknown;
  variables: unknown;
  extensions: unknown;
  /** A GET parameter given more than once (Apollo refuses such a request), else null. */
  repeated: string | null;
}

const NAMES = ['query', 'documentId', 'operationName', 'variables', 'extensions'] as const;

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}

/** The search part of a request URL, as Apollo's express integration reads it. */
export function searchOf(url: string): string {
  return urlParse(url).search ?? '';
}

export function graphqlParams(req: Request): GraphqlParams {
  if (req.method === 'GET') {
    const search = new URLSearchParams(searchOf(req.url));
    let repeated: string | null = null;
    const one = (name: string): string | undefined => {
      const all = search.getAll(name);
      if (all.length > 1) repeated ??= name;
      return all[0];
    };
    const json = (name: string): unknown => {
      const raw = one(name);
      if (raw === undefined) return undefined;
      try {
        return JSON.parse(raw);
      } catch {
        return MALFORMED;
      }
    };
    const [query, documentId, operationName] = [one('query'), one('documentId'), one('operationName')];
    return { query, documentId, operationName, variables: json('variables'), extensions: json('extensions'), repeated };
  }
  const body: Record<string, unknown> = isRecord(req.body) ? req.body : {};
  const [query, documentId, operationName, variables, extensions] = NAMES.map((n) => body[n]);
  return { query, documentId, operationName, variables, extensions, repeated: null };
}

/**
 * Replaces a GET's parameters (the persisted-operation middleware puts a manifest document's text in place of its
 * `documentId`). `req.url` is what Apollo's integration reads; the rest of the URL is kept as it was.
 */
export function setSearchParams(req: Request, change: (search: URLSearchParams) => void): void {
  const at = req.url.indexOf('?');
  const path = at === -1 ? req.url : req.url.slice(0, at);
  const search = new URLSearchParams(searchOf(req.url));
  change(search);
  req.url = `${path}?${search.toString()}`;
}
