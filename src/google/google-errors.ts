/**
 * The one place that reads Google's error answers (token endpoint and APIs).
 * Every failure becomes a GoogleFailure: our public error code, a retry
 * decision (honouring Retry-After), and, for setup mistakes, a remedy that
 * names the step of the brokerage's integration guide to fix and links the
 * section of docs/admin-setup-guide.md that explains it (setup-guide.ts).
 *
 * Sources for every case: docs/google-behaviour.md §1.3 (token endpoint),
 * §2.2-2.3 (People), §3.3 (Calendar), §4 (Gmail), §5 (envelope).
 */
import { ErrorCode, AppError, quote } from '../errors';
import { TokenEndpointError, TokenTransportError } from './token-broker';
import { seeGuide } from './setup-guide';

/** Google's own text (an error's message or description) is quoted up to this many characters. */
const GOOGLE_TEXT_CHARS = 300;

export type GoogleApi = 'people' | 'calendar' | 'gmail';

export type FailureKind =
  | 'delegation-missing' // DWD entry missing or lacking a scope
  | 'unknown-user' // the mailbox does not exist, is suspended or deleted
  | 'key-invalid' // the key was deleted/disabled, or the signature does not verify
  | 'client-disabled'
  | 'client-deleted'
  | 'not-configured' // no key, or the feature's scope not granted (our own check)
  | 'forbidden' // Google refuses this action to this user (e.g. not the organizer)
  | 'clock-skew'
  | 'invalid-scope'
  | 'admin-policy'
  | 'api-disabled'
  | 'insufficient-scope'
  | 'token-rejected' // 401 from an API: the access token is no longer accepted
  | 'no-mailbox' // Gmail: the user has no Gmail service
  | 'rate-limited'
  | 'unavailable'
  | 'network' // no answer: the request may or may not have been applied
  | 'not-found'
  | 'gone'
  | 'sync-token-expired'
  | 'full-sync-required'
  | 'stale-etag'
  | 'duplicate'
  | 'bad-request'
  | 'unknown';

export interface GoogleFailure {
  kind: FailureKind;
  code: ErrorCode;
  /** Google's HTTP status, when there was an answer. */
  status?: number;
  /** Google's own reason (e.g. `unauthorized_client`, `SERVICE_DISABLED`, `rateLimitExceeded`). */
  reason?: string;
  /** For people, in our words; never holds secrets. */
  message: string;
  retryable: boolean;
  /** Wait at least this long before retrying (from Retry-After), ms. */
  retryAfterMs?: number;
  /** For setup mistakes: what the brokerage's admin should do. */
  remedy?: string;
  activationUrl?: string;
  projectNumber?: string;
  /**
   * kind 'unknown': what was thrown, for the log only (the masked-error plugin logs it under the request id).
   * Not enumerable: a failure may be stored or serialized, and a client error carries its request's headers.
   */
  readonly cause?: unknown;
}

export interface FailureContext {
  api?: GoogleApi | 'token';
  clientId?: string;
  scopes?: readonly string[];
  subject?: string;
}

const API_TITLES: Record<GoogleApi, { title: string; guideStep: string }> = {
  people: { title: 'People API', guideStep: 'Enable People API' },
  calendar: { title: 'Google Calendar API', guideStep: 'Enable Calendar API' },
  gmail: { title: 'Gmail API', guideStep: 'Enable Gmail API' },
};

const STEP_AUTHORIZE = 'Authorize the MoxiEngage Service Account as an API Client';
const STEP_CREATE_KEY = 'Create a Key for the MoxiEngage Service Account in JSON Format';
const STEP_CREATE_ACCOUNT = 'Create Google Service Account Credentials with the "Owner" Role';

interface GoogleErrorBody {
  error?: {
    code?: number;
    message?: string;
    status?: string;
    errors?: { reason?: string; message?: string; domain?: string }[];
    details?: { '@type'?: string; reason?: string; metadata?: Record<string, string> }[];
  };
}

/** What googleapis/gaxios throws: an Error with the HTTP response attached. */
interface HttpErrorLike {
  code?: string | number;
  message?: string;
  name?: string;
  response?: { status?: number; data?: unknown; headers?: unknown };
}

function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function header(headers: unknown, name: string): string | undefined {
  if (!headers) return undefined;
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const v = (headers as Record<string, unknown>)[name] ?? (headers as Record<string, unknown>)[name.toLowerCase()];
  return Array.isArray(v) ? String(v[0]) : v === undefined ? undefined : String(v);
}

/** What a failure of ours says where a Google failure would be reported (sync errors, syncStatus). */
const OUR_FAILURE_MESSAGE = 'An unexpected failure in the gateway, not an answer from Google; it was logged';

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

export function mapGoogleError(err: unknown, ctx: FailureContext = {}): GoogleFailure {
  if (err instanceof GoogleAppError) return err.failure;
  if (err instanceof AppError) {
    // Raised by our own Google layer without a Google answer (no key yet, a scope not granted, sync failed).
    const code = err.extensions.code as ErrorCode;
    const retryable = code === ErrorCode.UPSTREAM_UNAVAILABLE || code === ErrorCode.RATE_LIMITED;
    return {
      kind: code === ErrorCode.GOOGLE_NOT_CONFIGURED ? 'not-configured' : retryable ? 'unavailable' : 'unknown',
      code,
      message: err.message,
      retryable,
      remedy: typeof err.extensions.remedy === 'string' ? err.extensions.remedy : undefined,
    };
  }
  if (err instanceof TokenEndpointError) return mapTokenError(err, ctx);
  if (err instanceof TokenTransportError) {
    return {
      kind: 'network',
      code: ErrorCode.UPSTREAM_UNAVAILABLE,
      message: `Google's token endpoint could not be reached: ${err.message}`,
      retryable: true,
    };
  }
  const e = err as HttpErrorLike;
  const status = e?.response?.status;
  if (typeof status === 'number')
    return mapApiError(status, e.response!.data, header(e.response!.headers, 'retry-after'), ctx);
  // gaxios 7 over Node's fetch wraps a reset three deep: GaxiosError → TypeError("fetch failed") →
  // SocketError(UND_ERR_SOCKET).
  for (
    let c: HttpErrorLike | undefined = e, depth = 0;
    c && depth < 5;
    c = (c as { cause?: HttpErrorLike }).cause, depth++
  ) {
    const code = typeof c.code === 'string' ? c.code : undefined;
    if (
      (code && NETWORK_CODES.has(code)) ||
      c.name === 'AbortError' ||
      c.name === 'TimeoutError' ||
      /socket hang up|other side closed|network|fetch failed|aborted|timed? ?out/i.test(c.message ?? '')
    ) {
      return {
        kind: 'network',
        code: ErrorCode.UPSTREAM_UNAVAILABLE,
        message: `Google did not answer (${code ?? c.name ?? 'network error'}); the request may or may not have been applied`,
        retryable: true,
      };
    }
  }
  // Neither an answer from Google nor a lost connection: a failure of ours (the database, a bug), not Google's.
  return Object.defineProperty(
    {
      kind: 'unknown',
      code: ErrorCode.INTERNAL_SERVER_ERROR,
      message: OUR_FAILURE_MESSAGE,
      retryable: false,
    } as GoogleFailure,
    'cause',
    { value: err, enumerable: false },
  );
}

function mapTokenError(err: TokenEndpointError, ctx: FailureContext): GoogleFailure {
  const base = { status: err.status, reason: err.error };
  const scopes = ctx.scopes?.length ? ctx.scopes.join(', ') : 'the requested scopes';
  const clientId = ctx.clientId ?? 'of the service account';
  const who = ctx.subject ? `"${ctx.subject}"` : 'the user';
  const desc = quote(err.errorDescription, GOOGLE_TEXT_CHARS);
  switch (err.error) {
    case 'unauthorized_client':
    case 'access_denied':
      return {
        ...base,
        kind: 'delegation-missing',
        code: ErrorCode.GOOGLE_NOT_CONFIGURED,
        retryable: false,
        message: `Google refused domain-wide delegation for scope(s) ${scopes}${desc ? ` ("${desc}")` : ''}`,
        remedy: `Authorize client id ${clientId} for scopes ${scopes} in Admin console › Security › API controls › Domain-wide delegation (guide step "${STEP_AUTHORIZE}"). A new authorization can take a few minutes, rarely up to 24 hours, to take effect. ${seeGuide('delegation')}`,
      };
    case 'invalid_grant':
      if (/Invalid JWT Signature/i.test(desc)) {
        return {
          ...base,
          kind: 'key-invalid',
          code: ErrorCode.GOOGLE_NOT_CONFIGURED,
          retryable: false,
          message:
            'Google does not accept this key: it was deleted or disabled, or it does not belong to this service account',
          remedy: `Create a new JSON key for the service account (guide step "${STEP_CREATE_KEY}") and submit it. ${seeGuide('key')}`,
        };
      }
      if (/short-lived|reasonable timeframe|iat and exp/i.test(desc)) {
        return {
          ...base,
          kind: 'clock-skew',
          code: ErrorCode.UPSTREAM_UNAVAILABLE,
          retryable: true,
          message:
            'Google refused the token request as outside a reasonable timeframe: the clocks of our server and Google disagree',
          remedy: "Check the gateway server's clock (NTP synchronisation); nothing is wrong with the key.",
        };
      }
      if (/Invalid email or User ID|Not a valid email|deleted|suspended/i.test(desc)) {
        return {
          ...base,
          kind: 'unknown-user',
          code: ErrorCode.GOOGLE_NOT_CONFIGURED,
          retryable: false,
          message: `Google does not know the mailbox ${who} in this Workspace, or it is suspended or deleted`,
          remedy: `Use the address of an active user of your Google Workspace domain (not a group or alias); check ${who} in Admin console › Directory › Users.`,
        };
      }
      return {
        ...base,
        kind: 'unknown',
        code: ErrorCode.GOOGLE_NOT_CONFIGURED,
        retryable: false,
        message: `Google refused the token request: invalid_grant${desc ? ` (${desc})` : ''}`,
      };
    case 'invalid_scope':
      return {
        ...base,
        kind: 'invalid-scope',
        code: ErrorCode.GOOGLE_NOT_CONFIGURED,
        retryable: false,
        message: `Google does not recognise the scope(s) ${scopes}`,
        remedy: `Authorize exactly the scopes of the guide step "${STEP_AUTHORIZE}", separated by commas. ${seeGuide('delegation')}`,
      };
    case 'disabled_client':
      return {
        ...base,
        kind: 'client-disabled',
        code: ErrorCode.GOOGLE_NOT_CONFIGURED,
        retryable: false,
        message: 'The service account is disabled in Google Cloud',
        remedy:
          'Enable the service account again in Google Cloud console › IAM & Admin › Service accounts, or create a new one and submit its key.',
      };
    case 'deleted_client':
      return {
        ...base,
        kind: 'client-deleted',
        code: ErrorCode.GOOGLE_NOT_CONFIGURED,
        retryable: false,
        message: 'The service account was deleted in Google Cloud',
        remedy: `Create a new service account and key (guide steps "${STEP_CREATE_ACCOUNT}" and "${STEP_CREATE_KEY}"), authorize its client id, and submit the new key. ${seeGuide('serviceAccount')}`,
      };
    case 'admin_policy_enforced':
      return {
        ...base,
        kind: 'admin-policy',
        code: ErrorCode.GOOGLE_NOT_CONFIGURED,
        retryable: false,
        message: `A Google Workspace admin policy blocks scope(s) ${scopes} for ${who}`,
        remedy:
          "In Admin console › Security › API controls, allow access to the Google services named above for this user's organisational unit.",
      };
    default:
      if (err.status === 429 || err.status >= 500) {
        return {
          ...base,
          kind: err.status === 429 ? 'rate-limited' : 'unavailable',
          code: err.status === 429 ? ErrorCode.RATE_LIMITED : ErrorCode.UPSTREAM_UNAVAILABLE,
          retryable: true,
          retryAfterMs: err.retryAfterMs,
          message: `Google's token endpoint answered ${err.status}`,
        };
      }
      return {
        ...base,
        kind: 'unknown',
        code: ErrorCode.GOOGLE_NOT_CONFIGURED,
        retryable: false,
        message: `Google refused the token request: ${err.error}${desc ? ` (${desc})` : ''}`,
      };
  }
}

function mapApiError(
  status: number,
  data: unknown,
  retryAfterHeader: string | undefined,
  ctx: FailureContext,
): GoogleFailure {
  const body = (typeof data === 'string' ? safeJson(data) : data) as GoogleErrorBody | undefined;
  const e = body?.error ?? {};
  const legacy = e.errors?.map((x) => x.reason ?? '') ?? [];
  const details = e.details ?? [];
  const infoReasons = details.map((d) => d.reason ?? '');
  const has = (r: string) => legacy.includes(r) || infoReasons.includes(r);
  // Google's text is quoted in messages clients see: a few hundred characters say what it says.
  const googleMessage = quote(typeof e.message === 'string' ? e.message : '', GOOGLE_TEXT_CHARS);
  const retryAfterMs = parseRetryAfter(retryAfterHeader);
  const api = ctx.api && ctx.api !== 'token' ? ctx.api : undefined;
  const base = { status, reason: infoReasons.find(Boolean) ?? legacy.find(Boolean) ?? e.status };

  if (status === 401) {
    return {
      ...base,
      kind: 'token-rejected',
      code: ErrorCode.UPSTREAM_UNAVAILABLE,
      retryable: true,
      message: 'Google no longer accepts our access token; a new one is needed',
      // Read paths already retried once with a new token when a client sees this: a fresh token refused too.
      remedy:
        'If this persists, a brokerage admin runs verifyServiceAccount: the key may have been deleted in Google Cloud or its domain-wide delegation revoked.',
    };
  }
  if (has('SERVICE_DISABLED') || has('accessNotConfigured')) {
    const info = details.find((d) => d.reason === 'SERVICE_DISABLED')?.metadata ?? {};
    const projectNumber = info.consumer?.replace(/^projects\//, '') ?? /project (\d+)/.exec(googleMessage)?.[1];
    const activationUrl =
      info.activationUrl ?? /(https:\/\/console\.developers\.google\.com\/\S+?)(?=\s|$)/.exec(googleMessage)?.[1];
    const t = api ? API_TITLES[api] : undefined;
    return {
      ...base,
      reason: 'SERVICE_DISABLED',
      kind: 'api-disabled',
      code: ErrorCode.GOOGLE_NOT_CONFIGURED,
      retryable: false,
      projectNumber,
      activationUrl,
      message: `The ${info.serviceTitle ?? t?.title ?? 'Google API'} is not enabled in Google Cloud project ${projectNumber ?? '(unknown)'}`,
      remedy: `Enable the ${t?.title ?? info.serviceTitle ?? 'API'} in project ${projectNumber ?? 'of the service account'}${t ? ` (guide step "${t.guideStep}")` : ''}${activationUrl ? `: ${activationUrl}` : ''}. If you just enabled it, wait a few minutes and try again. ${seeGuide('apis')}`,
    };
  }
  if (has('ACCESS_TOKEN_SCOPE_INSUFFICIENT') || has('insufficientPermissions')) {
    return {
      ...base,
      kind: 'insufficient-scope',
      code: ErrorCode.GOOGLE_NOT_CONFIGURED,
      retryable: false,
      message: `Google says our token lacks the scope this ${api ? API_TITLES[api].title : 'API'} call needs`,
      remedy: `Authorize the scopes of the guide step "${STEP_AUTHORIZE}" for the service account's client id. ${seeGuide('delegation')}`,
    };
  }
  if (
    status === 429 ||
    has('rateLimitExceeded') ||
    has('userRateLimitExceeded') ||
    has('RATE_LIMIT_EXCEEDED') ||
    has('quotaExceeded') ||
    has('dailyLimitExceeded') ||
    e.status === 'RESOURCE_EXHAUSTED'
  ) {
    return {
      ...base,
      kind: 'rate-limited',
      code: ErrorCode.RATE_LIMITED,
      retryable: true,
      retryAfterMs,
      message: `Google's rate limit for this user was reached${googleMessage ? ` (${googleMessage})` : ''}`,
    };
  }
  if (status >= 500 || status === 408) {
    // 408: the request timed out at Google's front end; like a 5xx it may or may not have been applied.
    return {
      ...base,
      kind: 'unavailable',
      code: ErrorCode.UPSTREAM_UNAVAILABLE,
      retryable: true,
      retryAfterMs,
      message: `Google answered ${status}${googleMessage ? ` (${googleMessage})` : ''}`,
    };
  }
  if (has('EXPIRED_SYNC_TOKEN') || /^Sync token is expired/i.test(googleMessage)) {
    return {
      ...base,
      reason: 'EXPIRED_SYNC_TOKEN',
      kind: 'sync-token-expired',
      code: ErrorCode.UPSTREAM_UNAVAILABLE,
      retryable: false,
      message: 'The contacts sync token expired; a full sync is needed',
    };
  }
  if (status === 410 && has('fullSyncRequired')) {
    return {
      ...base,
      kind: 'full-sync-required',
      code: ErrorCode.UPSTREAM_UNAVAILABLE,
      retryable: false,
      message: 'The calendar sync token is no longer valid; a full sync is needed',
    };
  }
  if (status === 410)
    return {
      ...base,
      kind: 'gone',
      code: ErrorCode.NOT_FOUND,
      retryable: false,
      message: 'It was already deleted in Google',
    };
  if (status === 412 || (status === 400 && /etag is different/i.test(googleMessage))) {
    return {
      ...base,
      kind: 'stale-etag',
      code: ErrorCode.CONFLICT,
      retryable: false,
      message: 'It was changed in Google since we last read it',
    };
  }
  if (api === 'gmail' && (has('failedPrecondition') || e.status === 'FAILED_PRECONDITION')) {
    return {
      ...base,
      kind: 'no-mailbox',
      code: ErrorCode.GOOGLE_NOT_CONFIGURED,
      retryable: false,
      message: `The mailbox ${ctx.subject ? `"${ctx.subject}" ` : ''}has no Gmail service`,
      remedy:
        "Turn Gmail on for this user's organisational unit in Admin console › Apps › Google Workspace › Gmail, or use a user who has Gmail.",
    };
  }
  if (status === 404)
    return {
      ...base,
      kind: 'not-found',
      code: ErrorCode.NOT_FOUND,
      retryable: false,
      message: 'Google has no such item',
    };
  if (status === 409)
    return {
      ...base,
      kind: 'duplicate',
      code: ErrorCode.CONFLICT,
      retryable: false,
      message: `Google says it already exists${googleMessage ? ` (${googleMessage})` : ''}`,
    };
  if (status === 403) {
    // Not a setup problem (those are matched above): Google refuses this action to this user, e.g.
    // forbiddenForNonOrganizer.
    return {
      ...base,
      kind: 'forbidden',
      code: ErrorCode.FORBIDDEN,
      retryable: false,
      message: `Google refused the call (403${googleMessage ? `: ${googleMessage}` : ''})`,
    };
  }
  if (status === 400)
    return {
      ...base,
      kind: 'bad-request',
      code: ErrorCode.BAD_USER_INPUT,
      retryable: false,
      message: `Google refused the data: ${googleMessage || 'bad request'}`,
    };
  return {
    ...base,
    kind: 'unknown',
    code: ErrorCode.UPSTREAM_UNAVAILABLE,
    retryable: false,
    message: `Google answered ${status}${googleMessage ? ` (${googleMessage})` : ''}`,
  };
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

/** The client-facing error for a failure (remedy and retry hint in the extensions). */
/** An AppError that still knows the Google failure behind it (for retry decisions further up). */
class GoogleAppError extends AppError {
  constructor(
    readonly failure: GoogleFailure,
    extensions: Record<string, unknown>,
  ) {
    super(failure.code, failure.message, extensions);
  }
}

/** Not an answer from Google (our database, a bug of ours): nothing is known of what Google did. */
export function isOurFailure(f: GoogleFailure): boolean {
  return f.kind === 'unknown' && f.status === undefined;
}

/** A 401 from Google, already mapped: the session that mapped it dropped the token (GoogleSession.toAppError). */
export function isTokenRejected(err: unknown): boolean {
  return err instanceof GoogleAppError && err.failure.kind === 'token-rejected';
}

export function failureToAppError(f: GoogleFailure): AppError {
  return new GoogleAppError(f, {
    googleReason: f.reason,
    ...(f.remedy ? { remedy: f.remedy } : {}),
    ...(f.retryAfterMs !== undefined ? { retryAfterSeconds: Math.ceil(f.retryAfterMs / 1000) } : {}),
  });
}
