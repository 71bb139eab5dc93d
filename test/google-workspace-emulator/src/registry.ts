/**
 * The API method registry and the request pipeline every emulated Google call goes through.
 *
 * ## How to add an API (People, Calendar, …)
 * 1. Create `src/<api>.ts` (people.ts, calendar.ts) exporting
 *    `export function register(registry: ApiRegistry, state: EmulatorState): void`.
 *    and add it to API_MODULES in server.ts.
 *    Keep the module self-contained under src/ (the standalone start test transpiles only that folder).
 * 2. In `register`, define the quota buckets your methods draw from (`registry.defineQuotaBucket`), then register
 *    each method once (`registry.register`) with its discovery id, HTTP method, a path RegExp with named groups
 *    (they become `call.params`, URI-decoded), the scopes Google accepts for it and its quota cost.
 *    For People the registry adds `https://www.google.com/m8/feeds` to the accepted scopes while
 *    `settings.acceptM8FeedsForPeople` is true (the default), so list only the documented scopes.
 * 3. Handlers get an `ApiCall` whose token, user, API enablement, scope and quota have already been checked, read
 *    the body with `call.jsonObject()` (400 unless a JSON object; never parse `rawBody` yourself), `call.query` and
 *    `call.params`, keep data with `state.userData(call.user, '<api>', init)`, read the clock with `state.now()` and
 *    settings with `state.settings`, and either return `{status?, body?, headers?}` or throw a `GoogleApiError`
 *    (build it with the helpers in errors.ts; they pick the api's envelope).
 * 4. Admin data routes (`POST|GET /emulator/v1/users/{email}/contacts|events`) are answered by routes you add with
 *    `registry.addAdminRoute`; until one exists admin.ts answers 501.
 *
 * ## Pipeline, in order, for every registered call
 * route match → read body → injected fault → bearer token (401) → API enabled for the token's project (403
 * SERVICE_DISABLED) → scope (403 ACCESS_TOKEN_SCOPE_INSUFFICIENT) → impersonated user present → per-user quota
 * (429/403) → handler. Every answer (including faults and quota rejections) is written to the request log.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import {
  API_INFO,
  GoogleApiError,
  apiError,
  failedPrecondition,
  insufficientScope,
  invalidJson,
  quotaExceeded,
  serviceDisabled,
  statusError,
  unauthenticated,
  type ApiName,
} from './errors';
import type { AccessToken, EmulatorState, EmulatorUser, Fault, LoggedApi, RequestLogEntry } from './state';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** `https://www.google.com/m8/feeds`: the legacy Contacts scope (https://developers.google.com/people/contacts-api-migration). */
export const M8_FEEDS_SCOPE = 'https://www.google.com/m8/feeds';

/**
 * Largest request body the emulator reads, bytes. Above Gmail's 35 MiB media limit with room for base64 (4/3) in
 * the JSON `raw` form; bigger bodies get 413 before any handler runs.
 */
export const MAX_REQUEST_BODY_BYTES = 64 * 1024 * 1024;

export interface QuotaBucket {
  /** e.g. `gmail.units`, `people.criticalReads`, `calendar.requests` */
  id: string;
  api: ApiName;
  /** units per user per minute, before settings.quotas[id] overrides */
  defaultLimitPerMinute: number;
  /** 429 RESOURCE_EXHAUSTED or 403 usageLimits when exceeded, before settings override */
  defaultErrorStatus: 403 | 429;
  /** display names used in Google's message: "Quota exceeded for quota metric '<metric>' and limit '<limitName>' …" */
  metric: string;
  limitName: string;
  /** machine names for the ErrorInfo metadata */
  metricId: string;
  limitId: string;
  /** legacy errors[].reason: rateLimitExceeded or userRateLimitExceeded */
  legacyReason: string;
  /** where the default comes from (doc URL or note) */
  source: string;
}

export interface ApiResponse {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface ApiCall {
  state: EmulatorState;
  method: ApiMethod;
  /** named groups of the path RegExp, URI-decoded */
  params: Record<string, string>;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  path: string;
  rawBody: Buffer;
  /** lower-cased media type without parameters, '' when absent */
  contentType: string;
  token: AccessToken;
  /** the impersonated user (JWT `sub`); always present for handlers */
  user: EmulatorUser;
  /** the request body as JSON: `{}` when empty, 400 parseError when not JSON. Any JSON value: prefer jsonObject(). */
  json<T = Record<string, unknown>>(): T;
  /**
   * The request body as a JSON object — what every emulated method's body is (a proto message): `{}` when empty,
   * Google's 400 INVALID_ARGUMENT (the api's envelope) when it is not JSON or not an object (`null`, `[]`, `3`).
   */
  jsonObject(): Record<string, unknown>;
}

export interface ApiMethod {
  api: ApiName;
  /** discovery method id, e.g. `gmail.users.messages.send`; several entries may share one (upload + JSON paths) */
  id: string;
  /** RPC name used in ErrorInfo metadata `method`; default derived from `id` */
  rpcMethod?: string;
  httpMethod: HttpMethod;
  /** matched against the URL path (no query), anchored by you (`^…$`); named groups become params */
  path: RegExp;
  /** scopes Google accepts for this method (discovery doc / generated samples) */
  scopes: readonly string[];
  /** quota bucket and cost in units; null = not metered */
  quota: { bucket: string; cost: number } | null;
  handler(call: ApiCall): Promise<ApiResponse> | ApiResponse;
}

export interface AdminRequest {
  state: EmulatorState;
  params: Record<string, string>;
  query: URLSearchParams;
  body: unknown;
}

export interface AdminRoute {
  httpMethod: HttpMethod;
  /** matched against the path below /emulator/v1, e.g. /^\/users\/(?<email>[^/]+)\/contacts$/ */
  path: RegExp;
  handler(req: AdminRequest): Promise<ApiResponse> | ApiResponse;
}

/** Path prefixes owned by each API, so an unknown method under them gets a Google-style 404. */
const API_PREFIXES: Array<[RegExp, ApiName]> = [
  [/^\/(upload\/)?gmail\/v1\//, 'gmail'],
  [/^\/calendar\/v3\//, 'calendar'],
  [/^\/v1\//, 'people'],
];

export class ApiRegistry {
  readonly methods: ApiMethod[] = [];
  readonly buckets = new Map<string, QuotaBucket>();
  readonly adminRoutes: AdminRoute[] = [];

  constructor(private readonly state: EmulatorState) {}

  defineQuotaBucket(bucket: QuotaBucket): void {
    if (this.buckets.has(bucket.id)) throw new Error(`quota bucket "${bucket.id}" is defined twice`);
    this.buckets.set(bucket.id, bucket);
  }

  register(method: ApiMethod): void {
    if (method.quota && !this.buckets.has(method.quota.bucket)) {
      throw new Error(
        `method ${method.id} uses quota bucket "${method.quota.bucket}", which is not defined; defined: ${[...this.buckets.keys()].join(', ') || 'none'}`,
      );
    }
    const clash = this.methods.find((m) => m.httpMethod === method.httpMethod && m.path.source === method.path.source);
    if (clash)
      throw new Error(`method ${method.id}: ${method.httpMethod} ${method.path} is already registered by ${clash.id}`);
    this.methods.push(method);
  }

  addAdminRoute(route: AdminRoute): void {
    this.adminRoutes.push(route);
  }

  /** Every scope some registered method accepts: the token endpoint's notion of a "known" scope. */
  knownScopes(): Set<string> {
    const s = new Set<string>();
    for (const m of this.methods) for (const sc of this.acceptedScopes(m)) s.add(sc);
    return s;
  }

  acceptedScopes(method: ApiMethod): string[] {
    const scopes = [...method.scopes];
    if (method.api === 'people' && this.state.settings.acceptM8FeedsForPeople && !scopes.includes(M8_FEEDS_SCOPE)) {
      scopes.push(M8_FEEDS_SCOPE);
    }
    return scopes;
  }

  quotaLimit(bucket: QuotaBucket): { limit: number; errorStatus: 403 | 429 } {
    const s = this.state.settings.quotas[bucket.id] ?? {};
    return {
      limit: s.limitPerMinute ?? bucket.defaultLimitPerMinute,
      errorStatus: s.errorStatus ?? bucket.defaultErrorStatus,
    };
  }

  match(httpMethod: string, path: string): { method: ApiMethod; params: Record<string, string> } | undefined {
    for (const m of this.methods) {
      if (m.httpMethod !== httpMethod) continue;
      const r = m.path.exec(path);
      if (!r) continue;
      const params: Record<string, string> = {};
      for (const [k, v] of Object.entries(r.groups ?? {})) if (v !== undefined) params[k] = safeDecode(v);
      return { method: m, params };
    }
    return undefined;
  }

  /** Express middleware serving every registered API method. */
  middleware() {
    return (req: Request, res: Response, next: NextFunction): void => {
      this.handle(req, res).catch(next);
    };
  }

  private async handle(req: Request, res: Response): Promise<void> {
    const url = new URL(req.originalUrl, 'http://emulator.invalid');
    const path = url.pathname;
    const found = this.match(req.method, path);
    const prefixApi = API_PREFIXES.find(([re]) => re.test(path))?.[1];
    const state = this.state;
    const bearer = bearerToken(req.headers.authorization);
    const knownToken = bearer ? state.tokens.get(bearer) : undefined;
    const log: Omit<RequestLogEntry, 'status' | 'at'> = {
      api: found?.method.api ?? prefixApi ?? 'gmail',
      method: found?.method.id ?? 'unknown',
      path,
      user: knownToken?.subject ?? null,
      httpMethod: req.method,
      clientId: knownToken?.clientId ?? null,
      query: url.search.slice(1),
      startedAt: state.now().toISOString(),
      userAgent: req.headers['user-agent'],
    };
    if (!found) {
      if (!prefixApi) {
        res.status(404).json({ error: `no emulated Google endpoint for ${req.method} ${path}` });
        return;
      }
      // Google's front end answers unknown paths with a bare 404; a JSON body is friendlier and harmless.
      const err = apiError(prefixApi, {
        code: 404,
        status: 'NOT_FOUND',
        message: `Method not found: ${req.method} ${path}`,
        reason: 'notFound',
      });
      sendGoogleError(state, res, log, err);
      return;
    }
    const { method, params } = found;
    const rpcMethod = method.rpcMethod ?? defaultRpcMethod(method.id);

    let rawBody: Buffer;
    try {
      rawBody = await readBody(req, MAX_REQUEST_BODY_BYTES);
    } catch (e) {
      if (e instanceof BodyTooLarge) {
        sendGoogleError(
          state,
          res,
          log,
          apiError(method.api, {
            code: 413,
            status: 'INVALID_ARGUMENT',
            message: `Request payload size exceeds the limit: ${MAX_REQUEST_BODY_BYTES} bytes.`,
            reason: 'badRequest',
          }),
        );
        return;
      }
      throw e;
    }

    const fault = takeFault(state, method.api, method.id, path);
    if (fault) {
      // An injected 401 is the real one (body and WWW-Authenticate header, docs/google-behaviour.md §5.1), so clients
      // that
      // key on the header see what Google sends; other statuses get Google's body for that status.
      const outcome = await applyFault(fault, res, log, state, () => {
        const err =
          fault.status === 401
            ? unauthenticated(method.api, 'invalid', rpcMethod)
            : statusError(method.api, fault.status!);
        return { body: err.body, headers: err.headers };
      });
      if (outcome === 'answered') return;
    }

    try {
      if (!bearer) throw unauthenticated(method.api, 'missing', rpcMethod);
      if (!knownToken) throw unauthenticated(method.api, 'invalid', rpcMethod);
      if (state.nowMs() >= knownToken.expiresAtMs) throw unauthenticated(method.api, 'expired', rpcMethod);
      if (!state.isApiEnabled(method.api, knownToken.projectNumber))
        throw serviceDisabled(method.api, knownToken.projectNumber);
      const accepted = this.acceptedScopes(method);
      if (!knownToken.scopes.some((s) => accepted.includes(s)))
        throw insufficientScope(method.api, rpcMethod, accepted);
      const user = knownToken.subject ? state.findUser(knownToken.subject) : undefined;
      // A token without `sub` is the service account's own; it has no mailbox, contacts or calendar here
      // (Gmail: "Precondition check failed.", docs/google-behaviour.md §4).
      if (!user) throw failedPrecondition(method.api);
      if (method.quota) this.chargeQuota(method.quota.bucket, method.quota.cost, knownToken.projectNumber, user.email);

      const contentType = String(req.headers['content-type'] ?? '')
        .split(';')[0]
        .trim()
        .toLowerCase();
      const call: ApiCall = {
        state,
        method,
        params,
        query: url.searchParams,
        headers: req.headers,
        path,
        rawBody,
        contentType,
        token: knownToken,
        user,
        json<T>(): T {
          if (rawBody.length === 0) return {} as T;
          try {
            return JSON.parse(rawBody.toString('utf8')) as T;
          } catch (e) {
            throw invalidJson(method.api, (e as Error).message);
          }
        },
        jsonObject(): Record<string, unknown> {
          return parseJsonObject(method.api, rawBody);
        },
      };
      const result = await method.handler(call);
      const status = result.status ?? 200;
      if (fault?.hold === 'answer') await state.park(fault);
      if (fault?.afterCommit) {
        // The call succeeded and its effects are stored; the client never hears about it.
        recordLog(state, { ...log, status: 0, fault: 'resetAfterCommit', committedStatus: status });
        res.socket?.destroy();
        return;
      }
      for (const [k, v] of Object.entries(result.headers ?? {})) res.setHeader(k, v);
      recordLog(state, { ...log, status });
      if (status === 204 || result.body === undefined) {
        res.status(status).end();
      } else {
        res.status(status).type('application/json; charset=UTF-8').send(JSON.stringify(result.body));
      }
    } catch (e) {
      const err = e instanceof GoogleApiError ? e : internalError(method.api, e);
      if (fault?.hold === 'answer') await state.park(fault);
      sendGoogleError(state, res, log, err);
    }
  }

  /** Sliding 60 s window per (bucket, project, user) on the emulator clock; rejected calls are not charged. */
  private chargeQuota(bucketId: string, cost: number, projectNumber: string, user: string): void {
    const bucket = this.buckets.get(bucketId)!;
    const { limit, errorStatus } = this.quotaLimit(bucket);
    const key = `${bucketId}|${projectNumber}|${user}`;
    const now = this.state.nowMs();
    const window = (this.state.quotaWindows.get(key) ?? []).filter(([at]) => at > now - QUOTA_WINDOW_MS);
    const used = window.reduce((sum, [, c]) => sum + c, 0);
    this.state.quotaWindows.set(key, window);
    if (used + cost > limit) {
      throw quotaExceeded(bucket.api, errorStatus, projectNumber, {
        metric: bucket.metric,
        limitName: bucket.limitName,
        metricId: bucket.metricId,
        limitId: bucket.limitId,
        limitValue: limit,
        legacyReason: bucket.legacyReason,
      });
    }
    window.push([now, cost]);
  }
}

/** Per-minute quotas are measured over the last 60 s of emulator time. */
const QUOTA_WINDOW_MS = 60_000;

/**
 * A JSON request body (or JSON part of a multipart upload) that must be an object: `{}` when empty, otherwise the
 * parsed object. Not JSON → 400 parseError with the parser's text; JSON but not an object → Google's text for a root
 * that is not a message: "Invalid JSON payload received. Unknown name \"\": Root element must be a message."
 * [obs google-wallet/rest-samples#22, a top-level array sent to a OnePlatform API]. The legacy reason there was
 * `invalid`; invalidJson() sends `parseError`, Google's reason for unparsable bodies, for both [?].
 */
export function parseJsonObject(api: ApiName, raw: Buffer): Record<string, unknown> {
  if (raw.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch (e) {
    throw invalidJson(api, (e as Error).message);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidJson(api, 'Unknown name "": Root element must be a message.');
  }
  return value as Record<string, unknown>;
}

function defaultRpcMethod(id: string): string {
  // `gmail.users.messages.send` → `gmail.v1.UsersMessages.Send`-like; only used as ErrorInfo metadata.
  const [api, ...rest] = id.split('.');
  const last = rest.pop() ?? '';
  const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
  return `${api}.${rest.map(cap).join('')}.${cap(last)}`;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1] : undefined;
}

function internalError(api: ApiName, e: unknown): GoogleApiError {
  // A bug in the emulator: answer like Google's 500, but say what broke so the test output shows it.
  console.error(`[emulator] ${API_INFO[api].title} handler failed:`, e);
  return statusError(api, 500);
}

class BodyTooLarge extends Error {}

export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      req.resume();
      reject(new BodyTooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        chunks.length = 0;
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks));
    });
    req.on('error', reject);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Request log and faults, shared with the token endpoint.

export function recordLog(state: EmulatorState, entry: Omit<RequestLogEntry, 'at'>): void {
  const log = state.requestLog;
  log.push({ ...entry, at: state.now().toISOString() } as RequestLogEntry);
  // Bounded (settings.requestLogMaxEntries, default 50,000): the oldest entries go first.
  const excess = log.length - state.settings.requestLogMaxEntries;
  if (excess > 0) log.splice(0, excess);
}

export function sendGoogleError(
  state: EmulatorState,
  res: ServerResponse,
  log: Omit<RequestLogEntry, 'status' | 'at'>,
  err: GoogleApiError,
): void {
  recordLog(state, { ...log, status: err.httpStatus });
  sendJson(res, err.httpStatus, err.body, err.headers);
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.setHeader('Content-Type', 'application/json; charset=UTF-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

/** The first armed fault matching this call; consumes one hit. */
export function takeFault(state: EmulatorState, api: LoggedApi, methodId: string, path: string): Fault | undefined {
  const fault = state.faults.find(
    (f) =>
      f.api === api &&
      (f.method === undefined || f.method === methodId) &&
      (f.pathPrefix === undefined || path.startsWith(f.pathPrefix)) &&
      (f.unlimited || f.hits < f.count),
  );
  if (fault) fault.hits += 1;
  return fault;
}

/**
 * Applies the parts of a fault that act before the handler: latency, a hold on the call, then either a reset, a
 * status answer, or nothing (latency-only, hold and afterCommit faults let the call proceed).
 */
export async function applyFault(
  fault: Fault,
  res: ServerResponse,
  log: Omit<RequestLogEntry, 'status' | 'at'>,
  state: EmulatorState,
  defaultAnswer: () => { body: unknown; headers?: Record<string, string> },
): Promise<'answered' | 'proceed'> {
  if (fault.latencyMs) await new Promise((r) => setTimeout(r, fault.latencyMs));
  if (fault.hold === 'call') await state.park(fault);
  if (fault.resetConnection && !fault.afterCommit) {
    recordLog(state, { ...log, status: 0, fault: 'reset' });
    res.socket?.destroy();
    return 'answered';
  }
  if (fault.status !== undefined && !fault.afterCommit) {
    const answer = defaultAnswer();
    const headers: Record<string, string> = { ...answer.headers };
    if (fault.retryAfterSeconds !== undefined) headers['Retry-After'] = String(fault.retryAfterSeconds);
    recordLog(state, { ...log, status: fault.status, fault: 'status' });
    sendJson(res, fault.status, fault.body ?? answer.body, headers);
    return 'answered';
  }
  if (fault.latencyMs && !fault.afterCommit) log.fault = 'latency';
  return 'proceed';
}
