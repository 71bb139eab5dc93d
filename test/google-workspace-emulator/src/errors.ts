/**
 * Google error bodies, built in one place.
 *
 * Two envelopes exist on the wire (https://cloud.google.com/apis/design/errors; docs/google-behaviour.md §5.1):
 *  - OnePlatform (People): `{error:{code, message, status, details?}}`, no `errors[]`.
 *  - ESF / "legacy" (Calendar, Gmail): the same plus `errors:[{message, domain, reason, location?, locationType?}]`.
 * `apiError()` picks the envelope from the api, so a handler only says *what* went wrong.
 *
 * Handlers signal a Google error by throwing `GoogleApiError`; the pipeline in registry.ts turns it into the
 * HTTP response. The token endpoint has its own, flat OAuth body (`{error, error_description}`): `OAuthError`.
 */

export type ApiName = 'people' | 'calendar' | 'gmail';
export const API_NAMES: readonly ApiName[] = ['people', 'calendar', 'gmail'];

/** What Google calls each service in errors (service name, console title). [obs] docs/google-behaviour.md §5.1 */
export const API_INFO: Record<ApiName, { service: string; title: string; legacyErrors: boolean }> = {
  people: { service: 'people.googleapis.com', title: 'People API', legacyErrors: false },
  calendar: { service: 'calendar-json.googleapis.com', title: 'Google Calendar API', legacyErrors: true },
  gmail: { service: 'gmail.googleapis.com', title: 'Gmail API', legacyErrors: true },
};

const ERROR_INFO = 'type.googleapis.com/google.rpc.ErrorInfo';
const LOCALIZED_MESSAGE = 'type.googleapis.com/google.rpc.LocalizedMessage';
const HELP = 'type.googleapis.com/google.rpc.Help';

export interface LegacyErrorItem {
  message: string;
  domain: string;
  reason: string;
  location?: string;
  locationType?: string;
  extendedHelp?: string;
}

export interface GoogleErrorBody {
  error: {
    code: number;
    message: string;
    errors?: LegacyErrorItem[];
    status: string;
    details?: Record<string, unknown>[];
  };
}

/** Thrown by handlers (and the pipeline) to answer with a Google error. */
export class GoogleApiError extends Error {
  constructor(
    readonly httpStatus: number,
    readonly body: GoogleErrorBody,
    readonly headers: Record<string, string> = {},
  ) {
    super(`${httpStatus} ${body.error.status}: ${body.error.message}`);
    this.name = 'GoogleApiError';
  }
}

export interface ApiErrorSpec {
  code: number;
  /** google.rpc.Code name, e.g. INVALID_ARGUMENT */
  status: string;
  message: string;
  /** legacy `errors[0].reason`; only emitted for APIs with the legacy envelope */
  reason: string;
  /** legacy `errors[0].domain`; default "global" */
  domain?: string;
  /** legacy `errors[0].message` when it differs from the top-level message (e.g. "Invalid Credentials") */
  legacyMessage?: string;
  location?: string;
  locationType?: string;
  extendedHelp?: string;
  details?: Record<string, unknown>[];
  headers?: Record<string, string>;
  /** force the legacy `errors[]` on or off regardless of the api */
  legacyErrors?: boolean;
}

/** Builds a GoogleApiError in the envelope style of `api`. */
export function apiError(api: ApiName, spec: ApiErrorSpec): GoogleApiError {
  const withLegacy = spec.legacyErrors ?? API_INFO[api].legacyErrors;
  const body: GoogleErrorBody = { error: { code: spec.code, message: spec.message, status: spec.status } };
  if (withLegacy) {
    const item: LegacyErrorItem = {
      message: spec.legacyMessage ?? spec.message,
      domain: spec.domain ?? 'global',
      reason: spec.reason,
    };
    if (spec.location) item.location = spec.location;
    if (spec.locationType) item.locationType = spec.locationType;
    if (spec.extendedHelp) item.extendedHelp = spec.extendedHelp;
    // Key order as Google prints it: code, message, errors, status, details.
    body.error = { code: spec.code, message: spec.message, errors: [item], status: spec.status };
  }
  if (spec.details && spec.details.length > 0) body.error.details = spec.details;
  return new GoogleApiError(spec.code, body, spec.headers ?? {});
}

export function errorInfo(reason: string, domain: string, metadata?: Record<string, string>): Record<string, unknown> {
  const d: Record<string, unknown> = { '@type': ERROR_INFO, reason, domain };
  if (metadata) d.metadata = metadata;
  return d;
}

// ---------------------------------------------------------------------------------------------------------------
// 401: docs/google-behaviour.md §5.1 [obs]. Gmail/Calendar add the legacy item; "Login Required." / reason `required`
// for a
// missing credential, "Invalid Credentials" / `authError` for a bad or expired one.

export const WWW_AUTHENTICATE_REALM = 'Bearer realm="https://accounts.google.com/"';
const MISSING_CREDENTIAL_MESSAGE =
  'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.';
const INVALID_CREDENTIAL_MESSAGE =
  'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.';

export type UnauthenticatedKind = 'missing' | 'invalid' | 'expired';

export function unauthenticated(api: ApiName, kind: UnauthenticatedKind, rpcMethod: string): GoogleApiError {
  const meta = { service: API_INFO[api].service, method: rpcMethod };
  if (kind === 'missing') {
    return apiError(api, {
      code: 401,
      status: 'UNAUTHENTICATED',
      message: MISSING_CREDENTIAL_MESSAGE,
      reason: 'required',
      legacyMessage: 'Login Required.',
      location: 'Authorization',
      locationType: 'header',
      details: [errorInfo('CREDENTIALS_MISSING', 'googleapis.com', meta)],
      headers: { 'WWW-Authenticate': WWW_AUTHENTICATE_REALM },
    });
  }
  return apiError(api, {
    code: 401,
    status: 'UNAUTHENTICATED',
    message: INVALID_CREDENTIAL_MESSAGE,
    reason: 'authError',
    legacyMessage: 'Invalid Credentials',
    location: 'Authorization',
    locationType: 'header',
    // [?] Google adds ACCESS_TOKEN_EXPIRED for an expired token; for an unknown token we send no detail.
    details: kind === 'expired' ? [errorInfo('ACCESS_TOKEN_EXPIRED', 'googleapis.com', meta)] : undefined,
    headers: { 'WWW-Authenticate': `${WWW_AUTHENTICATE_REALM}, error="invalid_token"` },
  });
}

/** 403 insufficient scope: docs/google-behaviour.md §5.1 [obs Analog#296 et al.]. */
export function insufficientScope(api: ApiName, rpcMethod: string, acceptedScopes: readonly string[]): GoogleApiError {
  return apiError(api, {
    code: 403,
    status: 'PERMISSION_DENIED',
    message: 'Request had insufficient authentication scopes.',
    reason: 'insufficientPermissions',
    legacyMessage: 'Insufficient Permission',
    details: [
      errorInfo('ACCESS_TOKEN_SCOPE_INSUFFICIENT', 'googleapis.com', {
        service: API_INFO[api].service,
        method: rpcMethod,
      }),
    ],
    headers: {
      'WWW-Authenticate': `${WWW_AUTHENTICATE_REALM}, error="insufficient_scope", scope="${acceptedScopes.join(' ')}"`,
    },
  });
}

/**
 * 403 API disabled for the consumer project: docs/google-behaviour.md §5.1 [obs workspace_mcp#126, gemini-cli#1343].
 */
export function serviceDisabled(api: ApiName, projectNumber: string): GoogleApiError {
  const { service, title } = API_INFO[api];
  const activationUrl = `https://console.developers.google.com/apis/api/${service}/overview?project=${projectNumber}`;
  const message =
    `${title} has not been used in project ${projectNumber} before or it is disabled. Enable it by visiting ${activationUrl} then retry. ` +
    'If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry.';
  return apiError(api, {
    code: 403,
    status: 'PERMISSION_DENIED',
    message,
    reason: 'accessNotConfigured',
    domain: 'usageLimits',
    extendedHelp: 'https://console.developers.google.com',
    details: [
      errorInfo('SERVICE_DISABLED', 'googleapis.com', {
        consumer: `projects/${projectNumber}`,
        service,
        serviceTitle: title,
        containerInfo: projectNumber,
        activationUrl,
      }),
      { '@type': LOCALIZED_MESSAGE, locale: 'en-US', message },
      { '@type': HELP, links: [{ description: 'Google developers console API activation', url: activationUrl }] },
    ],
  });
}

export interface QuotaErrorSpec {
  /** quota metric display name, e.g. "Queries" */
  metric: string;
  /** limit display name, e.g. "Queries per minute per user" */
  limitName: string;
  /** machine names used in ErrorInfo metadata */
  metricId: string;
  limitId: string;
  limitValue: number;
  /** legacy reason: rateLimitExceeded (Gmail, People) or userRateLimitExceeded (Calendar) */
  legacyReason: string;
}

/**
 * Per-user rate quota exceeded. Message text [obs]: "Quota exceeded for quota metric 'Queries' and limit 'Queries per
 * minute per user' of service 'gmail.googleapis.com' for consumer 'project_number:N'." Google sends it as 429
 * RESOURCE_EXHAUSTED on current stacks and as 403 (legacy domain usageLimits) on others (docs/google-behaviour.md §3.2,
 * §5.1).
 */
export function quotaExceeded(
  api: ApiName,
  httpStatus: 403 | 429,
  projectNumber: string,
  q: QuotaErrorSpec,
): GoogleApiError {
  const service = API_INFO[api].service;
  const message = `Quota exceeded for quota metric '${q.metric}' and limit '${q.limitName}' of service '${service}' for consumer 'project_number:${projectNumber}'.`;
  return apiError(api, {
    code: httpStatus,
    status: httpStatus === 429 ? 'RESOURCE_EXHAUSTED' : 'PERMISSION_DENIED',
    message,
    reason: q.legacyReason,
    domain: 'usageLimits',
    details: [
      errorInfo('RATE_LIMIT_EXCEEDED', 'googleapis.com', {
        consumer: `projects/${projectNumber}`,
        quota_metric: q.metricId,
        quota_limit: q.limitId,
        quota_limit_value: String(q.limitValue),
        quota_location: 'global',
        service,
      }),
      {
        '@type': HELP,
        links: [
          {
            description: 'Request a higher quota limit.',
            url: 'https://cloud.google.com/docs/quotas/help/request_increase',
          },
        ],
      },
    ],
  });
}

/**
 * The body Google sends for a bare status (used by injected faults and generic failures). Texts: 503 "The service is
 * currently unavailable." and 500 backendError (docs/google-behaviour.md §5.1;
 * https://developers.google.com/calendar/api/guides/errors); 429
 * "Resource has been exhausted (e.g. check quota)." [obs mxngls/gmail-cleaner#5].
 */
const STATUS_BODIES: Record<number, { status: string; message: string; reason: string }> = {
  400: { status: 'INVALID_ARGUMENT', message: 'Bad Request', reason: 'badRequest' },
  401: { status: 'UNAUTHENTICATED', message: INVALID_CREDENTIAL_MESSAGE, reason: 'authError' },
  403: { status: 'PERMISSION_DENIED', message: 'The caller does not have permission', reason: 'forbidden' },
  404: { status: 'NOT_FOUND', message: 'Requested entity was not found.', reason: 'notFound' },
  409: { status: 'ABORTED', message: 'The operation was aborted.', reason: 'conflict' },
  410: { status: 'NOT_FOUND', message: 'Resource has been deleted', reason: 'deleted' },
  412: { status: 'FAILED_PRECONDITION', message: 'Precondition Failed', reason: 'conditionNotMet' },
  429: {
    status: 'RESOURCE_EXHAUSTED',
    message: 'Resource has been exhausted (e.g. check quota).',
    reason: 'rateLimitExceeded',
  },
  500: { status: 'INTERNAL', message: 'Internal error encountered.', reason: 'backendError' },
  502: { status: 'UNAVAILABLE', message: 'Bad Gateway', reason: 'backendError' },
  503: { status: 'UNAVAILABLE', message: 'The service is currently unavailable.', reason: 'backendError' },
  504: { status: 'DEADLINE_EXCEEDED', message: 'The request timed out. Please try again.', reason: 'backendError' },
};

export function statusError(api: ApiName, httpStatus: number): GoogleApiError {
  const known = STATUS_BODIES[httpStatus] ?? {
    status: httpStatus >= 500 ? 'INTERNAL' : 'UNKNOWN',
    message: `HTTP ${httpStatus}`,
    reason: httpStatus >= 500 ? 'backendError' : 'unknown',
  };
  return apiError(api, { code: httpStatus, ...known });
}

export function badRequest(api: ApiName, message: string, reason = 'invalidArgument'): GoogleApiError {
  return apiError(api, { code: 400, status: 'INVALID_ARGUMENT', message, reason });
}

export function failedPrecondition(
  api: ApiName,
  message = 'Precondition check failed.',
  reason = 'failedPrecondition',
  details?: Record<string, unknown>[],
): GoogleApiError {
  return apiError(api, { code: 400, status: 'FAILED_PRECONDITION', message, reason, details });
}

export function notFound(api: ApiName, message = 'Requested entity was not found.'): GoogleApiError {
  return apiError(api, { code: 404, status: 'NOT_FOUND', message, reason: 'notFound' });
}

export function forbidden(api: ApiName, message: string): GoogleApiError {
  return apiError(api, { code: 403, status: 'PERMISSION_DENIED', message, reason: 'forbidden' });
}

/** Google's answer to an unparsable JSON body (INVALID_ARGUMENT, legacy reason parseError). */
export function invalidJson(api: ApiName, detail: string): GoogleApiError {
  return apiError(api, {
    code: 400,
    status: 'INVALID_ARGUMENT',
    message: `Invalid JSON payload received. ${detail}`,
    reason: 'parseError',
  });
}

// ---------------------------------------------------------------------------------------------------------------
// OAuth token endpoint errors: flat `{error, error_description}` (docs/google-behaviour.md §1.3).

export class OAuthError extends Error {
  constructor(
    readonly httpStatus: number,
    readonly error: string,
    readonly description: string,
  ) {
    super(`${error}: ${description}`);
    this.name = 'OAuthError';
  }
  get body(): { error: string; error_description: string } {
    return { error: this.error, error_description: this.description };
  }
}

/**
 * Exact texts from the service-account guide's "JWT error codes" table
 * (https://developers.google.com/identity/protocols/oauth2/service-account; docs/google-behaviour.md §1.3).
 */
export const OAUTH_ERRORS = {
  unauthorizedClient: () =>
    new OAuthError(
      401,
      'unauthorized_client',
      'Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.',
    ),
  invalidEmail: () => new OAuthError(400, 'invalid_grant', 'Invalid email or User ID'),
  invalidSignature: () => new OAuthError(400, 'invalid_grant', 'Invalid JWT Signature.'),
  badTimeframe: () =>
    new OAuthError(
      400,
      'invalid_grant',
      'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.',
    ),
  badAudience: (expected: string) =>
    new OAuthError(400, 'invalid_grant', `Invalid JWT: Failed audience check. The right audience is ${expected}`),
  malformedAssertion: () => new OAuthError(400, 'invalid_grant', 'Invalid JWT: could not be decoded.'),
  invalidScope: () => new OAuthError(400, 'invalid_scope', 'Invalid OAuth scope or ID token audience provided.'),
  disabledClient: () => new OAuthError(401, 'disabled_client', 'The OAuth client was disabled.'),
  deletedClient: () => new OAuthError(401, 'deleted_client', 'The OAuth client was deleted.'),
  unsupportedGrantType: (got: string) => new OAuthError(400, 'unsupported_grant_type', `Invalid grant_type: ${got}`),
  missingAssertion: () => new OAuthError(400, 'invalid_request', 'Missing required parameter: assertion'),
};
