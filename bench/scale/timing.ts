/**
 * Timed GraphQL requests for the scale bench: `n` requests, `concurrency` in flight, each timed from send to its
 * parsed answer (performance.now()); an answer with `errors`, or one its `check` refuses (a search that did not find
 * what it should), fails the bench.
 */
import { headers } from '../http/processes';

export interface Timed {
  p50: number;
  p99: number;
  rps: number;
}

export interface Request {
  token: string;
  query: string;
  variables?: Record<string, unknown>;
  /** Throws when the answer is not what it should be. */
  check(data: any): void;
}

export async function post(url: string, r: Omit<Request, 'check'>): Promise<any> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: headers(r.token),
    body: JSON.stringify({ query: r.query, variables: r.variables }),
  });
  const text = await res.text();
  let body: { data?: any; errors?: unknown[] };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw new Error(`HTTP ${res.status}: ${text.slice(0, 500)}`);
  }
  if (body.errors || res.status !== 200)
    throw new Error(`HTTP ${res.status}, errors: ${JSON.stringify(body.errors).slice(0, 1500)}`);
  return body.data;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

/** Runs `requests` (made up front) `concurrency` at a time. */
export async function timeRequests(url: string, requests: Request[], concurrency: number): Promise<Timed> {
  const times: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, requests.length) }, async () => {
      while (next < requests.length) {
        const i = next++;
        const r = requests[i];
        const t = performance.now();
        const data = await post(url, r).catch((err: Error) => {
          throw new Error(`request ${i} (${r.query.slice(0, 120)} ${JSON.stringify(r.variables)}): ${err.message}`, {
            cause: err,
          });
        });
        times.push(performance.now() - t);
        try {
          r.check(data);
        } catch (err) {
          throw new Error(`request ${i} (${JSON.stringify(r.variables)}): ${(err as Error).message}`, { cause: err });
        }
      }
    }),
  );
  const elapsed = performance.now() - started;
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 0.5), p99: percentile(times, 0.99), rps: (requests.length / elapsed) * 1000 };
}

const ms = (x: number) => `${x < 10 ? x.toFixed(1) : Math.round(x)} ms`;

/** "p50 4.2 ms, p99 17 ms (230 req/s)" */
export const latency = (t: Timed, concurrency: number) =>
  `p50 ${ms(t.p50)}, p99 ${ms(t.p99)} (${Math.round(t.rps)} req/s, ${concurrency} in flight)`;
