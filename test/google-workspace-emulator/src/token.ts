/**
 * POST /token: the OAuth 2.0 JWT-bearer grant (RFC 7523) as Google's token endpoint answers it for service accounts
 * with domain-wide delegation (https://developers.google.com/identity/protocols/oauth2/service-account; docs/google-behaviour.md §1).
 *
 * Order of checks (first failure answers): grant_type → assertion present → decodable → issuer is a known service
 * account → account not deleted/disabled → RS256 signature against one of its keys (the header has no `kid`, so every
 * key is tried) → key not deleted/disabled → aud → iat/exp → scope → sub → DWD covers every scope.
 */
import { verify } from 'node:crypto';
import type { Request, Response } from 'express';
import { OAUTH_ERRORS, OAuthError } from './errors';
import { applyFault, readBody, recordLog, sendJson, takeFault, type ApiRegistry } from './registry';
import type { EmulatorState, RequestLogEntry } from './state';

export const JWT_BEARER_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** The audience google-auth-library puts in every assertion (gtoken GOOGLE_TOKEN_URL). */
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
/** Older audience still accepted by Google for this grant. */
const LEGACY_GOOGLE_TOKEN_URL = 'https://www.googleapis.com/oauth2/v4/token';
/** `exp` may be at most one hour after `iat` (service-account guide, "JWT error codes"). */
export const MAX_ASSERTION_LIFETIME_SECONDS = 3600;
/** A token request form is tiny; anything bigger is not a token request. */
const MAX_TOKEN_REQUEST_BYTES = 64 * 1024;

/**
 * Scopes Google knows besides those of the registered methods, so that a token for an API whose module is not
 * installed (or for sign-in scopes) is not refused as `invalid_scope`.
 */
const OTHER_KNOWN_SCOPES = [
  'openid',
  'email',
  'profile',
  'https://www.googleapis.com/auth/userinfo.email',
  'https://www.googleapis.com/auth/userinfo.profile',
  'https://www.googleapis.com/auth/cloud-platform',
  'https://www.googleapis.com/auth/contacts',
  'https://www.googleapis.com/auth/contacts.readonly',
  'https://www.googleapis.com/auth/contacts.other.readonly',
  'https://www.googleapis.com/auth/directory.readonly',
  'https://www.googleapis.com/auth/user.emails.read',
  'https://www.googleapis.com/auth/user.phonenumbers.read',
  'https://www.google.com/m8/feeds',
  'https://www.googleapis.com/auth/calendar',
  'https://www.googleapis.com/auth/calendar.readonly',
  'https://www.googleapis.com/auth/calendar.events',
  'https://www.googleapis.com/auth/calendar.events.readonly',
  'https://mail.google.com/',
  'https://www.googleapis.com/auth/gmail.send',
  'https://www.googleapis.com/auth/gmail.compose',
  'https://www.googleapis.com/auth/gmail.modify',
  'https://www.googleapis.com/auth/gmail.readonly',
  'https://www.googleapis.com/auth/gmail.metadata',
  'https://www.googleapis.com/auth/gmail.insert',
  'https://www.googleapis.com/auth/gmail.labels',
  'https://www.googleapis.com/auth/gmail.addons.current.action.compose',
  'https://www.googleapis.com/auth/admin.directory.user.readonly',
];

interface AssertionClaims {
  iss?: unknown;
  sub?: unknown;
  aud?: unknown;
  scope?: unknown;
  iat?: unknown;
  exp?: unknown;
}

export function tokenEndpoint(state: EmulatorState, registry: ApiRegistry) {
  return async (req: Request, res: Response): Promise<void> => {
    const log: Omit<RequestLogEntry, 'status' | 'at'> = {
      api: 'token',
      method: 'token',
      path: req.path,
      user: null,
      httpMethod: req.method,
      clientId: null,
      startedAt: state.now().toISOString(),
      userAgent: req.headers['user-agent'],
    };
    const raw = await readBody(req, MAX_TOKEN_REQUEST_BYTES).catch(() => Buffer.alloc(0));
    const form = new URLSearchParams(raw.toString('utf8'));
    const claims = peekClaims(form.get('assertion'));
    if (typeof claims?.sub === 'string') log.user = claims.sub;
    if (typeof claims?.iss === 'string') log.clientId = state.findServiceAccountByEmail(claims.iss)?.clientId ?? null;

    const fault = takeFault(state, 'token', 'token', req.path);
    if (fault) {
      const outcome = await applyFault(fault, res, log, state, () => ({ body: tokenFaultBody(fault.status!) }));
      if (outcome === 'answered') return;
    }
    try {
      const body = exchange(state, registry, form);
      if (fault?.hold === 'answer') await state.park(fault);
      if (fault?.afterCommit) {
        recordLog(state, { ...log, status: 0, fault: 'resetAfterCommit', committedStatus: 200 });
        res.socket?.destroy();
        return;
      }
      recordLog(state, { ...log, status: 200 });
      // Google marks token responses uncacheable.
      sendJson(res, 200, body, {
        'Cache-Control': 'no-cache, no-store, max-age=0, must-revalidate',
        Pragma: 'no-cache',
      });
    } catch (e) {
      if (!(e instanceof OAuthError)) throw e;
      if (fault?.hold === 'answer') await state.park(fault);
      recordLog(state, { ...log, status: e.httpStatus });
      sendJson(res, e.httpStatus, e.body);
    }
  };
}

function exchange(state: EmulatorState, registry: ApiRegistry, form: URLSearchParams) {
  const grantType = form.get('grant_type') ?? '';
  if (grantType !== JWT_BEARER_GRANT_TYPE) throw OAUTH_ERRORS.unsupportedGrantType(grantType);
  const assertion = form.get('assertion');
  if (!assertion) throw OAUTH_ERRORS.missingAssertion();
  const parts = assertion.split('.');
  const claims = peekClaims(assertion);
  const header = parseJsonPart(parts[0]);
  if (parts.length !== 3 || !claims || !header) throw OAUTH_ERRORS.malformedAssertion();

  // The issuer names the account; an unknown issuer looks to Google like a key that does not match the email.
  const account = typeof claims.iss === 'string' ? state.findServiceAccountByEmail(claims.iss) : undefined;
  if (!account) throw OAUTH_ERRORS.invalidSignature();
  if (account.status === 'deleted') throw OAUTH_ERRORS.deletedClient();
  if (account.status === 'disabled') throw OAUTH_ERRORS.disabledClient();

  if (header.alg !== 'RS256') throw OAUTH_ERRORS.invalidSignature();
  const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
  const signature = Buffer.from(parts[2], 'base64url');
  const key = [...account.keys.values()].find((k) => verify('RSA-SHA256', signed, k.publicKey, signature));
  if (!key || key.status === 'deleted') throw OAUTH_ERRORS.invalidSignature();
  if (key.status === 'disabled') {
    throw state.settings.disabledKeyError === 'disabled_client'
      ? OAUTH_ERRORS.disabledClient()
      : OAUTH_ERRORS.invalidSignature();
  }

  const ownTokenUrl = `${state.url}/token`;
  if (claims.aud !== GOOGLE_TOKEN_URL && claims.aud !== LEGACY_GOOGLE_TOKEN_URL && claims.aud !== ownTokenUrl) {
    throw OAUTH_ERRORS.badAudience(GOOGLE_TOKEN_URL);
  }

  const { iat, exp } = claims;
  const nowSec = Math.floor(state.nowMs() / 1000);
  const skew = state.settings.assertionClockSkewSeconds;
  if (
    typeof iat !== 'number' ||
    typeof exp !== 'number' ||
    exp < iat ||
    exp - iat > MAX_ASSERTION_LIFETIME_SECONDS ||
    iat > nowSec + skew ||
    exp < nowSec - skew
  ) {
    throw OAUTH_ERRORS.badTimeframe();
  }

  // Space-separated (a comma-separated list is one unknown scope). Empty or unknown → invalid_scope.
  const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ').filter((s) => s !== '') : [];
  const known = registry.knownScopes();
  if (scopes.length === 0 || scopes.some((s) => !known.has(s) && !OTHER_KNOWN_SCOPES.includes(s))) {
    throw OAUTH_ERRORS.invalidScope();
  }

  let subject: string | null = null;
  if (claims.sub !== undefined) {
    const user = typeof claims.sub === 'string' ? state.findUser(claims.sub) : undefined;
    // [?] A suspended user is answered like an unknown one; Google's exact text for it is not documented.
    if (!user || user.domain !== account.domain || user.suspended) throw OAUTH_ERRORS.invalidEmail();
    const delegated = state.delegations.get(account.clientId);
    if (!delegated || scopes.some((s) => !delegated.has(s))) throw OAUTH_ERRORS.unauthorizedClient();
    subject = user.email;
  }

  const token = state.issueToken(account, subject, scopes);
  return {
    access_token: token.token,
    expires_in: Math.round((token.expiresAtMs - state.nowMs()) / 1000),
    token_type: 'Bearer',
  };
}

function parseJsonPart(part: string | undefined): Record<string, unknown> | undefined {
  if (!part) return undefined;
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Claims without verification, for logging and for finding the account. */
function peekClaims(assertion: string | null): AssertionClaims | undefined {
  return assertion ? parseJsonPart(assertion.split('.')[1]) : undefined;
}

/** [?] Body of an injected token-endpoint fault; Google's 5xx token bodies are not documented. */
function tokenFaultBody(status: number): { error: string; error_description: string } {
  if (status === 503)
    return { error: 'temporarily_unavailable', error_description: 'The service is currently unavailable.' };
  if (status >= 500) return { error: 'internal_failure', error_description: 'Backend Error' };
  if (status === 429) return { error: 'rate_limit_exceeded', error_description: 'Rate Limit Exceeded' };
  return { error: 'invalid_request', error_description: `Injected fault: HTTP ${status}` };
}
