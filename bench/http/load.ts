/**
 * Load for the HTTP bench: autocannon (keep-alive connections, HdrHistogram latencies) from this process, which the
 * bench pins to the core the servers do not use. Every answer is checked: a GraphQL error or a non-2xx answer counts
 * as an error, and a run with errors fails the bench rather than reporting a fast failure as throughput.
 */
import autocannon from 'autocannon';

export interface LoadSpec {
  url: string;
  headers: Record<string, string>;
  /** The request body; a function makes a fresh one per request (a mutation's input). */
  body: string | (() => string);
  /** Headers per request (another agent's token each time), over `headers`. */
  headersFor?: () => Record<string, string>;
  connections: number;
  seconds: number;
}

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  errors: number;
}

export function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const { body } = spec;
  let errors = 0;
  return new Promise((resolvePromise, reject) => {
    autocannon(
      {
        url: `${spec.url}/graphql`,
        method: 'POST',
        headers: spec.headers,
        connections: spec.connections,
        duration: spec.seconds,
        ...(typeof body === 'string' && !spec.headersFor
          ? { body }
          : {
              requests: [
                {
                  setupRequest: (req: autocannon.Request) => ({
                    ...req,
                    body: typeof body === 'string' ? body : body(),
                    headers: { ...spec.headers, ...spec.headersFor?.() },
                  }),
                },
              ],
            }),
        // The answers of a GraphQL server are 200s with an "errors" member when something went wrong.
        verifyBody: (raw) => {
          const b = String(raw ?? '');
          const ok = b !== '' && !b.includes('"errors"');
          if (!ok && errors++ === 0) process.stderr.write(`bench: an answer with errors: ${b.slice(0, 500)}\n`);
          return ok;
        },
      },
      (err, r) => {
        if (err) return reject(err);
        resolvePromise({
          rps: r.requests.total / spec.seconds,
          p50: r.latency.p50,
          p99: r.latency.p99,
          requests: r.requests.total,
          errors: errors + r.non2xx + r.errors + r.timeouts,
        });
      },
    );
  });
}
