/**
 * Opaque tokens backed by server-side records: the page tokens of Calendar events.list / events.instances and of
 * People connections.list, and People's sync tokens. The client gets a random string that means nothing to it (so it
 * can neither read nor forge one — Google's tokens are opaque too, issue 3 "Tokens, sync tokens and etags are opaque
 * to clients"); what the token stands for (whose listing, which query, which offset) stays here.
 *
 * Records expire on the emulator clock (`state.nowMs()`, so `POST /clock` ages them) and expired ones are swept
 * whenever the store grows past a threshold, so a long-running sandbox does not accumulate them.
 */
import { randomBytes } from 'node:crypto';

/** Expired records are swept when a store holds this many tokens. */
export const OPAQUE_TOKEN_SWEEP_THRESHOLD = 1000;

export class OpaqueTokenStore<R> {
  private readonly records = new Map<string, { record: R; expiresAtMs: number }>();

  /**
   * A new token for `record`, valid until `nowMs + lifetimeMs` (Infinity: until the store is dropped, for records
   * whose expiry the caller judges itself, like People's sync tokens and their EXPIRED_SYNC_TOKEN answer).
   */
  issue(record: R, nowMs: number, lifetimeMs: number): string {
    if (this.records.size >= OPAQUE_TOKEN_SWEEP_THRESHOLD) {
      for (const [t, r] of this.records) if (r.expiresAtMs <= nowMs) this.records.delete(t);
    }
    // Shaped like Google's (long, URL-safe) and meaningless to the client.
    const token = randomBytes(24).toString('base64url');
    this.records.set(token, { record, expiresAtMs: nowMs + lifetimeMs });
    return token;
  }

  /** The record behind `token`; undefined when it was never issued here or has expired. */
  get(token: string, nowMs: number): R | undefined {
    const r = this.records.get(token);
    if (!r) return undefined;
    if (r.expiresAtMs <= nowMs) {
      this.records.delete(token);
      return undefined;
    }
    return r.record;
  }

  get size(): number {
    return this.records.size;
  }
}
