/**
 * Load for the HTTP bench: autocannon (keep-alive connections) from this process, which the bench pins to the core
 * the servers do not use. Latencies are each answer's own, in fractions of a millisecond (autocannon's 'response'
 * event): its histogram keeps whole milliseconds, so a p50 of "1 ms" there is anything from 1.0 to 1.99 ms, and the
 * p99/p50 of a 1–2 ms answer was a matter of rounding. Every answer is checked: a GraphQL error or a non-2xx answer
 * counts as an error, and a run with errors fails the bench rather than reporting a fast failure as throughput.
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

/** The value below which a share `q` of the sorted `values` lie (nearest rank). */
function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const { body } = spec;
  let errors = 0;
  const latencies: number[] = [];
  return new Promise((resolvePromise, reject) => {
    const instance = autocannon(
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
        const sorted = Float64Array.from(latencies).sort();
        resolvePromise({
          rps: r.requests.total / spec.seconds,
          p50: quantile(sorted, 0.5),
          p99: quantile(sorted, 0.99),
          requests: r.requests.total,
          errors: errors + r.non2xx + r.errors + r.timeouts,
        });
      },
    );
    // Every answer's time, ms with fractions (a few seconds of a round: some tens of thousands of numbers).
    instance.on('response', (_client: unknown, _status: number, _bytes: number, ms: number) => latencies.push(ms));
  });
}
