/**
 * Access tokens for "service account acting as an agent's mailbox": the
 * OAuth 2.0 JWT-bearer grant (RFC 7523) against the key's own `token_uri`.
 *
 * Why not google-auth-library's JWT client: it ignores `token_uri` and always
 * posts to Google's URL (docs/google-behaviour.md §1.5), and it caches per client
 * instance. We sign the assertion ourselves (jose, RS256) and keep ONE cache
 * for the process, keyed by (credential, subject, scope):
 * - one token per scope, so a brokerage that did not authorize Gmail still
 *   gets contacts and calendar, and the failure names the missing scope;
 * - refreshed 5 minutes before expiry (the client library's own threshold);
 * - single-flight: concurrent first requests for one key share one token call.
 * Token values are secrets: never logged, never returned by the API.
 */
import type { KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import { retryClosedConnection } from './closed-connection';

/** `exp` may be at most one hour after `iat` (developers.google.com/identity/protocols/oauth2/service-account). */
const ASSERTION_LIFETIME_SECONDS = 3600;
/** Refresh this long before expiry (google-auth-library DEFAULT_EAGER_REFRESH_THRESHOLD_MILLIS). */
const EAGER_REFRESH_MS = 5 * 60 * 1000;
/** A token request that takes longer is abandoned. */
const TOKEN_REQUEST_TIMEOUT_MS = 10_000;

export interface TokenRequest {
  /** Identifies the key (a credential row id, or a digest for keys not stored yet). */
  credentialId: string;
  clientEmail: string;
  privateKey: KeyObject;
  tokenUri: string;
  subject: string;
  scope: string;
}

export interface AccessToken {
  token: string;
  expiresAt: number; // ms since epoch
}

/** The token endpoint said no: `error` and `error_description` as Google sends them. */
export class TokenEndpointError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly errorDescription: string,
    readonly retryAfterMs?: number,
  ) {
    super(`token endpoint answered ${status}: ${error}${errorDescription ? `: ${errorDescription}` : ''}`);
    this.name = 'TokenEndpointError';
  }
}

/** The token endpoint could not be reached or answered garbage. */
export class TokenTransportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenTransportError';
  }
}

export interface TokenBrokerOptions {
  now?: () => number;
  fetch?: typeof fetch;
  /** Most cached tokens kept; the oldest are dropped first. */
  maxEntries?: number;
}

export class TokenBroker {
  private readonly cache = new Map<string, AccessToken>();
  private readonly inflight = new Map<string, Promise<AccessToken>>();
  private readonly now: () => number;
  private readonly fetchFn: typeof fetch;
  private readonly maxEntries: number;

  constructor(opts: TokenBrokerOptions = {}) {
    this.now = opts.now ?? Date.now;
    // The token exchange is safe to repeat: a request that met a closed connection is sent once more.
    this.fetchFn = opts.fetch ?? retryClosedConnection(fetch, { anyMethod: true });
    this.maxEntries = opts.maxEntries ?? 10_000;
  }

  /** A token valid for at least EAGER_REFRESH_MS more. */
  async getToken(req: TokenRequest): Promise<AccessToken> {
    const key = `${req.credentialId}\u0000${req.subject.toLowerCase()}\u0000${req.scope}`;
    const cached = this.cache.get(key);
    if (cached && cached.expiresAt - EAGER_REFRESH_MS > this.now()) return cached;
    const pending = this.inflight.get(key);
    if (pending) return pending;
    const p = this.mint(req)
      .then(
        (t) => {
          this.onResult?.('ok');
          return t;
        },
        (err) => {
          this.onResult?.(err instanceof TokenEndpointError ? 'refused' : 'unreachable');
          throw err;
        },
      )
      .then((t) => {
        this.cache.delete(key); // re-insert: Map order is our LRU-ish eviction order
        this.cache.set(key, t);
        if (this.cache.size > this.maxEntries) this.cache.delete(this.cache.keys().next().value!);
        return t;
      })
      .finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  /** Called with each token request's result (metrics): ok, refused (Google answered an error), unreachable. */
  onResult?: (result: 'ok' | 'refused' | 'unreachable') => void;

  /** Forgets every token of a credential (key replaced, removed, or a token was refused). */
  forgetCredential(credentialId: string): void {
    for (const k of this.cache.keys()) if (k.startsWith(`${credentialId}\u0000`)) this.cache.delete(k);
  }

  private async mint(req: TokenRequest): Promise<AccessToken> {
    const iat = Math.floor(this.now() / 1000);
    const assertion = await new SignJWT({ scope: req.scope })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
      .setIssuer(req.clientEmail)
      .setSubject(req.subject)
      .setAudience(req.tokenUri)
      .setIssuedAt(iat)
      .setExpirationTime(iat + ASSERTION_LIFETIME_SECONDS)
      .sign(req.privateKey);
    let res: Response;
    try {
      res = await this.fetchFn(req.tokenUri, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }),
        signal: AbortSignal.timeout(TOKEN_REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      throw new TokenTransportError(`token endpoint ${req.tokenUri} unreachable: ${(err as Error).message}`);
    }
    const text = await res.text();
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      if (res.ok)
        throw new TokenTransportError(
          `token endpoint ${req.tokenUri} answered ${res.status} with a body that is not JSON`,
        );
    }
    if (!res.ok) {
      const retryAfter = Number(res.headers.get('retry-after'));
      throw new TokenEndpointError(
        res.status,
        typeof body.error === 'string' ? body.error : `http_${res.status}`,
        typeof body.error_description === 'string' ? body.error_description : '',
        Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined,
      );
    }
    if (typeof body.access_token !== 'string' || typeof body.expires_in !== 'number') {
      throw new TokenTransportError(`token endpoint ${req.tokenUri} answered without access_token/expires_in`);
    }
    return { token: body.access_token, expiresAt: this.now() + body.expires_in * 1000 };
  }
}
