/**
 * The fetcher GraphiQL calls: @graphiql/toolkit's, to this gateway's endpoint (same origin), with one change for the
 * schema's introspection.
 *
 * GraphiQL 5 introspects as it mounts, before Monaco has created the headers editor, so that first request carries no
 * headers; every request to this gateway needs a bearer token, so it would fail (401) and the docs would say "Error
 * fetching schema" until someone clicks "Re-fetch". Here an introspection without headers waits for the headers
 * editor (schema-headers.tsx says when it is there) and uses what it holds; with no Authorization header at all it is
 * not sent, and the result pane (where GraphiQL shows why the schema did not load) says how to paste a token.
 */
import { createGraphiQLFetcher, type Fetcher } from '@graphiql/toolkit';

type Headers = Record<string, unknown>;

const NO_TOKEN_MESSAGE =
  'No token yet: paste {"Authorization": "Bearer <token>"} into the Headers tab below the operation; the schema (docs, completion) then loads by itself.';

let provideHeaders!: (read: () => Headers | undefined) => void;
/** Resolves, once the headers editor exists, to a function reading its headers (undefined: empty or not JSON). */
const editorHeaders = new Promise<() => Headers | undefined>((resolve) => (provideHeaders = resolve));
export function headersEditorReady(read: () => Headers | undefined): void {
  provideHeaders(read);
}

export function hasAuthorization(headers: Headers | undefined): boolean {
  return (
    !!headers &&
    Object.entries(headers).some(
      ([name, value]) => name.toLowerCase() === 'authorization' && typeof value === 'string' && value.trim() !== '',
    )
  );
}

export function createFetcher(endpoint: string): Fetcher {
  // Plain POST with JSON: the gateway serves no @defer/@stream and no subscriptions over websockets.
  const http = createGraphiQLFetcher({
    url: new URL(endpoint, window.location.origin).href,
    enableIncrementalDelivery: false,
  });
  return (params, opts) => {
    if (params.operationName !== 'IntrospectionQuery') return http(params, opts);
    return (async () => {
      let headers = opts?.headers as Headers | undefined;
      if (!headers || Object.keys(headers).length === 0) headers = (await editorHeaders)();
      if (!hasAuthorization(headers)) return { errors: [{ message: NO_TOKEN_MESSAGE }] };
      return http(params, { ...opts, headers });
    })() as ReturnType<Fetcher>;
  };
}
