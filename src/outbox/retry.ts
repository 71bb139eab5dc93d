/**
 * When a failed delivery is tried again: exponential backoff with "equal jitter" (half the delay fixed, half random:
 * https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/), so a lane never retries at once after a
 * failure yet replicas retrying together spread out; never sooner than Google's Retry-After.
 */
import type { Config } from '../config';

export type RetrySettings = Pick<Config['outbox'], 'retryBaseMs' | 'retryMaxMs'>;

/** A random wait in [d/2, d], d doubling per attempt from retryBaseMs up to retryMaxMs; at least `retryAfterMs`. */
export function backoffMs(attempts: number, s: RetrySettings, retryAfterMs = 0, random = Math.random): number {
  const d = Math.min(s.retryMaxMs, s.retryBaseMs * 2 ** Math.max(0, attempts - 1));
  return Math.max(retryAfterMs, Math.round(d / 2 + (random() * d) / 2));
}
