/**
 * Verifies the caller's bearer JWT (signed by the CRM's identity service) with
 * jose: signature, `iss`, `aud`, `exp` (required) with a small clock
 * tolerance, and an algorithm allow-list fixed by the configured key type, so
 * `alg: none` and HS/RS confusion are refused before any claim is read.
 *
 * A token verified is remembered for a minute (REMEMBER_MS), never past its own expiry (`exp` plus the tolerance), by
 * its SHA-256 (the token itself is not kept): a session sends the same token with every request, and checking its
 * signature and claims again was a tenth of the CPU of a small request (docs/performance.md). What a minute allows:
 * a JWKS key withdrawn by the identity service stops admitting its tokens within that minute, as the caller cache
 * (caller.ts) already lets a token's roles stand for a minute. Refusals are not remembered.
 */
import { createHash, createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { Config } from '../config';
import { unauthenticated } from '../errors';

export interface CallerClaims {
  email: string;
  roles: string[];
}

const EMAIL =
  /^[^\s@<>()[\]\\,;:"]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

/** How long a verified token is answered from memory. */
const REMEMBER_MS = 60_000;
/** Tokens remembered at most (about 150 bytes each): more than the callers a replica serves in a minute. */
const MAX_REMEMBERED = 10_000;

export class CallerTokenVerifier {
  private readonly key: KeyObject | JWTVerifyGetKey;
  private readonly algorithms: string[];
  private readonly verified = new LRUCache<string, { claims: CallerClaims; until: number }>({ max: MAX_REMEMBERED });
  /** Tokens verified in full (signature and claims), for tests. */
  verifications = 0;

  constructor(
    private readonly cfg: Config['auth'],
    private readonly now: () => number = Date.now,
  ) {
    const v = cfg.verification;
    if (v.kind === 'hs256') {
      // A KeyObject made once: jose makes one from raw bytes on every verification.
      this.key = createSecretKey(v.secret);
      this.algorithms = ['HS256'];
    } else if (v.kind === 'public-key') {
      this.key = createPublicKey(v.pem);
      this.algorithms = v.algorithms;
    } else {
      this.key = createRemoteJWKSet(v.url);
      this.algorithms = v.algorithms;
    }
  }

  /** The caller's claims, or an UNAUTHENTICATED error saying what is wrong with the token. */
  async verify(token: string): Promise<CallerClaims> {
    const key = createHash('sha256').update(token).digest('base64');
    const now = this.now();
    const known = this.verified.get(key);
    if (known && now < known.until) return known.claims;
    const claims = await this.verifyInFull(token, now);
    this.verified.set(key, { claims: claims.claims, until: Math.min(claims.expiresAt, now + REMEMBER_MS) });
    return claims.claims;
  }

  private async verifyInFull(token: string, now: number): Promise<{ claims: CallerClaims; expiresAt: number }> {
    this.verifications++;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.key as KeyObject, {
        issuer: this.cfg.issuer,
        audience: this.cfg.audience,
        algorithms: this.algorithms,
        clockTolerance: this.cfg.clockToleranceSeconds,
        requiredClaims: ['exp'],
        currentDate: new Date(now),
      }));
    } catch (err) {
      throw unauthenticated(`bearer token rejected: ${describeJoseError(err, this.algorithms)}`);
    }
    const email = payload.email;
    // Length before the pattern: no pattern ever runs over an unbounded string.
    if (typeof email !== 'string' || email.length > 320 || !EMAIL.test(email)) {
      throw unauthenticated('bearer token rejected: the "email" claim must be the agent\'s email address');
    }
    const roles = payload.roles ?? [];
    if (!Array.isArray(roles) || roles.some((r) => typeof r !== 'string')) {
      throw unauthenticated('bearer token rejected: the "roles" claim must be a list of strings');
    }
    // jose refuses a token once its clock is at exp + tolerance (both in whole seconds).
    return {
      claims: { email: email.toLowerCase(), roles: roles as string[] },
      expiresAt: (payload.exp! + this.cfg.clockToleranceSeconds) * 1000,
    };
  }
}

function describeJoseError(err: unknown, algorithms: string[]): string {
  if (err instanceof joseErrors.JWTExpired) return 'it has expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed)
    return `claim "${err.claim}" ${err.reason === 'check_failed' ? 'is not what this gateway expects' : err.reason.replace(/_/g, ' ')}`;
  if (err instanceof joseErrors.JOSEAlgNotAllowed)
    return `its algorithm is not allowed (allowed: ${algorithms.join(', ')})`;
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'its signature does not verify';
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'no key in the JWKS matches it';
  if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid)
    return 'the JWKS could not be fetched';
  if (err instanceof joseErrors.JOSENotSupported) return 'it uses an unsupported algorithm or key';
  return 'it is not a well-formed signed JWT';
}

/** The token from an `Authorization: Bearer <token>` header; undefined when there is no header. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined || header === '') return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) throw unauthenticated('the Authorization header must be "Bearer <token>"');
  return m[1];
}
