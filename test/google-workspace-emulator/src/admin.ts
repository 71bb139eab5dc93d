/**
 * The emulator's admin API, mounted at /emulator/v1. JSON in, JSON out; errors are `{error: "<what was expected and
 * what was received>"}` with 400 (bad input), 404 (unknown user/account) or 501 (API module not installed).
 * Admin calls are not written to the request log.
 *
 * Contract (README.md, "Admin API") — paths and shapes must not change:
 *   POST   /reset                                  forget everything (settings back to the start-up ones) →
 * {reset:true}
 *   POST   /domains {domain, users:[email | {email, gmail?, suspended?}]}
 *                                                  create the domain or add users → {domain,
 * users:[{email,gmail,suspended}]}
 *   POST   /users/{email}/suspend                  → {email, suspended:true}
 *   POST   /service-accounts {domain}              → {key, clientId, projectNumber}: key = Google-style key JSON,
 *                                                  token_uri = <this emulator>/token
 *   PUT    /delegations/{clientId} {scopes:[...]}  the DWD entry (replaces) → {clientId, scopes}
 *   PUT    /apis/{people|calendar|gmail} {enabled, clientId?}
 *                                                  per project of one service account, or all projects → {api, enabled,
 * clientId?}
 *   POST   /faults {api, method?, pathPrefix?, status?, count?, retryAfterSeconds?, latencyMs?, resetConnection?,
 *                   afterCommit?, unlimited?, body?}  → the armed fault (with id)
 *            api: token|people|calendar|gmail; method: discovery id (`token` for the token endpoint);
 *            count: matching calls it hits, default 1 (`unlimited: true` = until DELETE /faults);
 *            status: answer with Google's body for it (or `body`); retryAfterSeconds → Retry-After;
 *            latencyMs: delay first; resetConnection: destroy the socket, call not run;
 *            afterCommit: run the call (state committed) then destroy the socket without answering;
 *            hold: 'call' parks the call before it runs, 'answer' after it ran (state committed) and before its
 *            answer (or reset) is sent, until POST /faults/{id}/release (see GET /faults `held`). A parked call
 *            whose client gave up meanwhile stays parked and counted, and still runs when released, as a request
 *            Google received does (tests of an unanswered call rely on that).
 *   DELETE /faults                                 → {deleted:n}
 *   GET    /requests?api=&method=&user=            request log [{api, method, path, user, status, startedAt, at,
 *                                                  httpMethod, clientId, userAgent?, fault?, committedStatus?}]
 *                                                  (status 0 = connection reset; startedAt: call received, at:
 * answered)
 *                                                  oldest first; only the newest settings.requestLogMaxEntries
 *                                                  (default 50,000) are kept
 *   DELETE /requests                               → {deleted:n}
 *   POST   /users/{email}/contacts (Person)        } provided by the People module (501 until installed)
 *   GET    /users/{email}/contacts                 }
 *   DELETE /users/{email}/contacts                 } (addition: every contact deleted in Google, → {deleted:n})
 *   POST   /users/{email}/events (Event)           } provided by the Calendar module (501 until installed)
 *   GET    /users/{email}/events                   }
 *   GET    /users/{email}/messages                 → [{id, threadId, labelIds, raw}] (Gmail module)
 *   POST   /clock {advanceSeconds}                 → {now, offsetSeconds}
 *
 * Additions (not in the contract):
 *   GET    /clock                                  → {now, offsetSeconds}
 *   GET    /settings, PUT /settings {partial EmulatorSettings}  → the effective settings (quotas merged per bucket)
 *   POST   /users/{email}/unsuspend                → {email, suspended:false}
 *   POST   /service-accounts/{clientId}/keys       → {key}: a second key for the same account (rotation)
 *   POST   /service-accounts/{clientId}/keys/{keyId}/disable | /enable,  DELETE …/keys/{keyId}
 *            deleted key → token `invalid_grant` "Invalid JWT Signature."; disabled key → settings.disabledKeyError
 *   POST   /service-accounts/{clientId}/disable | /enable → token `disabled_client`
 *   DELETE /service-accounts/{clientId}           → token `deleted_client`
 *   DELETE /delegations/{clientId}                → token `unauthorized_client`
 *   GET    /faults                                 → armed faults with their hit counts and `held` (calls parked now)
 *   POST   /faults/{id}/release {count?}           → {released:n}: lets parked calls go on, oldest first (all by
 * default)
 *   GET    /quotas                                 → quota buckets with effective limits
 *   People module additions (src/people.ts):
 *   PATCH  /users/{email}/contacts/{id}  DELETE …/contacts/{id}   a contact edited / deleted in Google
 *   GET, PUT /people/settings                      People behaviour Google leaves uncertain (people/store.ts)
 *   GET    /users/{email}/contactGroups            → the user's live groups (system ones too), every field and members
 *   POST   /users/{email}/contactGroups {name, clientData?}          a label created in Google → the group
 *   PATCH  /users/{email}/contactGroups/{id} {name?, clientData?}    renamed in Google → the group
 *   DELETE /users/{email}/contactGroups/{id}[?deleteContacts=true]   deleted in Google → {deleted, members,
 * contactsDeleted}
 *   POST   /users/{email}/contactGroups/{id}/members {add?:[], remove?:[]}
 *                                                  labels applied / removed in Google (members.modify's rules)
 *                                                  → {changed, notFoundResourceNames?,
 * canNotRemoveLastContactGroupResourceNames?}
 *            group changes show up in contactGroups.list sync, member changes in connections.list sync
 */
import express, { type Request, type Response, type Router } from 'express';
import { API_NAMES, type ApiName } from './errors';
import type { ApiRegistry, HttpMethod } from './registry';
import {
  mergeSettings,
  type ClientStatus,
  type EmulatorState,
  type Fault,
  type LoggedApi,
  type ServiceAccount,
} from './state';

const FAULT_APIS: readonly LoggedApi[] = ['token', ...API_NAMES];
/** Module-provided data routes: answered 501 until an API module registers them. */
const MODULE_ROUTES: Array<{ path: RegExp; module: string }> = [
  { path: /^\/users\/[^/]+\/contacts$/, module: 'People (src/people.ts)' },
  { path: /^\/users\/[^/]+\/events$/, module: 'Calendar (src/calendar.ts)' },
  { path: /^\/users\/[^/]+\/messages$/, module: 'Gmail (src/gmail.ts)' },
];

class AdminError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function adminRouter(state: EmulatorState, registry: ApiRegistry): Router {
  const r = express.Router();
  r.use(express.json({ limit: '50mb' }));

  // Routes added by API modules come first (they own their data).
  r.use(async (req, res, next) => {
    const path = req.path;
    for (const route of registry.adminRoutes) {
      if (route.httpMethod !== (req.method as HttpMethod)) continue;
      const m = route.path.exec(path);
      if (!m) continue;
      const params: Record<string, string> = {};
      try {
        // A malformed escape (`%E0%A4%A`) is the caller's mistake: 400, not a URIError turned into 500.
        for (const [k, v] of Object.entries(m.groups ?? {})) if (v !== undefined) params[k] = decodeParam(v);
        const out = await route.handler({
          state,
          params,
          query: new URL(req.originalUrl, 'http://x').searchParams,
          body: req.body,
        });
        for (const [k, v] of Object.entries(out.headers ?? {})) res.setHeader(k, v);
        if (out.body === undefined) res.status(out.status ?? 204).end();
        else res.status(out.status ?? 200).json(out.body);
      } catch (e) {
        sendAdminError(res, e);
      }
      return;
    }
    next();
  });

  const h = (fn: (req: Request) => Promise<unknown> | unknown) => async (req: Request, res: Response) => {
    try {
      res.json(await fn(req));
    } catch (e) {
      sendAdminError(res, e);
    }
  };

  r.post(
    '/reset',
    h(() => {
      state.reset();
      return { reset: true };
    }),
  );

  r.get(
    '/settings',
    h(() => state.settings),
  );
  r.put(
    '/settings',
    h((req) => {
      try {
        state.settings = mergeSettings(state.settings, obj(req.body, 'body'));
      } catch (e) {
        throw new AdminError(400, (e as Error).message);
      }
      return state.settings;
    }),
  );

  r.post(
    '/domains',
    h((req) => {
      const body = obj(req.body, 'body');
      const domain = str(body.domain, 'domain');
      const users =
        body.users === undefined
          ? []
          : arr(body.users, 'users').map((u, i) => {
              if (typeof u === 'string') return { email: u };
              const o = obj(u, `users[${i}]`);
              return {
                email: str(o.email, `users[${i}].email`),
                gmail: o.gmail === undefined ? undefined : bool(o.gmail, `users[${i}].gmail`),
                suspended: o.suspended === undefined ? undefined : bool(o.suspended, `users[${i}].suspended`),
              };
            });
      let created;
      try {
        created = state.addDomain(domain, users);
      } catch (e) {
        throw new AdminError(400, (e as Error).message);
      }
      return {
        domain: domain.toLowerCase(),
        users: created.map(({ email, gmail, suspended }) => ({ email, gmail, suspended })),
      };
    }),
  );

  for (const [action, suspended] of [
    ['suspend', true],
    ['unsuspend', false],
  ] as const) {
    r.post(
      `/users/:email/${action}`,
      h((req) => {
        const user = state.findUser(String(req.params.email));
        if (!user) throw new AdminError(404, `no user ${req.params.email}; create it with POST /emulator/v1/domains`);
        user.suspended = suspended;
        return { email: user.email, suspended };
      }),
    );
  }

  r.post(
    '/service-accounts',
    h(async (req) => {
      const domain = str(obj(req.body, 'body').domain, 'domain');
      const { account, key } = await state.createServiceAccount(domain);
      return { key, clientId: account.clientId, projectNumber: account.projectNumber };
    }),
  );
  r.post(
    '/service-accounts/:clientId/keys',
    h(async (req) => ({ key: await state.addKey(account(state, req)) })),
  );
  const setKey = (status: ClientStatus) =>
    h((req) => {
      const sa = account(state, req);
      const key = sa.keys.get(String(req.params.keyId));
      if (!key)
        throw new AdminError(
          404,
          `service account ${sa.clientId} has no key ${req.params.keyId}; keys: ${[...sa.keys.keys()].join(', ')}`,
        );
      key.status = status;
      return { clientId: sa.clientId, keyId: key.id, status };
    });
  r.post('/service-accounts/:clientId/keys/:keyId/disable', setKey('disabled'));
  r.post('/service-accounts/:clientId/keys/:keyId/enable', setKey('active'));
  r.delete('/service-accounts/:clientId/keys/:keyId', setKey('deleted'));
  const setAccount = (status: ClientStatus) =>
    h((req) => {
      const sa = account(state, req);
      sa.status = status;
      return { clientId: sa.clientId, status };
    });
  r.post('/service-accounts/:clientId/disable', setAccount('disabled'));
  r.post('/service-accounts/:clientId/enable', setAccount('active'));
  r.delete('/service-accounts/:clientId', setAccount('deleted'));

  r.put(
    '/delegations/:clientId',
    h((req) => {
      const scopes = arr(obj(req.body, 'body').scopes, 'scopes').map((s, i) => str(s, `scopes[${i}]`));
      const clientId = String(req.params.clientId);
      state.delegations.set(clientId, new Set(scopes));
      return { clientId, scopes };
    }),
  );
  r.delete(
    '/delegations/:clientId',
    h((req) => ({ deleted: state.delegations.delete(String(req.params.clientId)) })),
  );

  r.put(
    '/apis/:api',
    h((req) => {
      const api = String(req.params.api) as ApiName;
      if (!API_NAMES.includes(api))
        throw new AdminError(400, `api must be one of ${API_NAMES.join(', ')}, got "${api}"`);
      const body = obj(req.body, 'body');
      const enabled = bool(body.enabled, 'enabled');
      if (body.clientId === undefined) {
        state.setApiEnabled(api, enabled);
        return { api, enabled };
      }
      const clientId = str(body.clientId, 'clientId');
      const sa = state.serviceAccounts.get(clientId);
      if (!sa) throw new AdminError(404, `no service account with client id ${clientId}`);
      state.setApiEnabled(api, enabled, sa.projectNumber);
      return { api, enabled, clientId, projectNumber: sa.projectNumber };
    }),
  );

  r.post(
    '/faults',
    h((req) => {
      const fault = parseFault(obj(req.body, 'body'), state.newId());
      state.faults.push(fault);
      return fault;
    }),
  );
  r.get(
    '/faults',
    h(() => state.faults),
  );
  r.post(
    '/faults/:id/release',
    h((req) => {
      const id = String(req.params.id);
      if (!state.faults.some((f) => f.id === id)) throw new AdminError(404, `no armed fault with id ${id}`);
      const body = req.body === undefined ? {} : obj(req.body, 'body');
      const count = body.count;
      if (count !== undefined && (typeof count !== 'number' || !Number.isInteger(count) || count < 1)) {
        throw new AdminError(400, `count must be a positive integer, got ${JSON.stringify(count)}`);
      }
      return { released: state.release(id, count as number | undefined) };
    }),
  );
  r.delete(
    '/faults',
    h(() => {
      const n = state.clearFaults();
      return { deleted: n };
    }),
  );

  r.get(
    '/requests',
    h((req) => {
      const q = req.query as Record<string, string | undefined>;
      return state.requestLog.filter(
        (e) =>
          (q.api === undefined || e.api === q.api) &&
          (q.method === undefined || e.method === q.method) &&
          (q.user === undefined || (e.user ?? '').toLowerCase() === q.user.toLowerCase()),
      );
    }),
  );
  r.delete(
    '/requests',
    h(() => {
      const n = state.requestLog.length;
      state.requestLog.length = 0;
      return { deleted: n };
    }),
  );

  r.get(
    '/quotas',
    h(() => [...registry.buckets.values()].map((b) => ({ ...b, ...registry.quotaLimit(b) }))),
  );

  const clock = () => ({ now: state.now().toISOString(), offsetSeconds: state.clockOffsetSeconds });
  r.get('/clock', h(clock));
  r.post(
    '/clock',
    h((req) => {
      const s = obj(req.body, 'body').advanceSeconds;
      if (typeof s !== 'number' || !Number.isFinite(s))
        throw new AdminError(400, `advanceSeconds must be a number of seconds, got ${JSON.stringify(s)}`);
      state.advanceClock(s);
      return clock();
    }),
  );

  r.use((req, res) => {
    const mod = MODULE_ROUTES.find((m) => m.path.test(req.path));
    if (mod) {
      res.status(501).json({
        error: `${req.method} /emulator/v1${req.path} is served by the ${mod.module} module, which is not installed`,
      });
      return;
    }
    res.status(404).json({
      error: `no admin route ${req.method} /emulator/v1${req.path}; see the route list in google-workspace-emulator's src/admin.ts or README.md`,
    });
  });
  return r;
}

function decodeParam(v: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    throw new AdminError(400, `the path segment "${v}" is not valid percent-encoding`);
  }
}

function sendAdminError(res: Response, e: unknown): void {
  if (e instanceof AdminError) {
    res.status(e.status).json({ error: e.message });
    return;
  }
  console.error('[emulator admin]', e);
  res.status(500).json({ error: `admin route failed: ${(e as Error).message}` });
}

function account(state: EmulatorState, req: Request): ServiceAccount {
  const sa = state.serviceAccounts.get(String(req.params.clientId));
  if (!sa) throw new AdminError(404, `no service account with client id ${req.params.clientId}`);
  return sa;
}

function parseFault(b: Record<string, unknown>, id: string): Fault {
  const api = b.api as LoggedApi;
  if (!FAULT_APIS.includes(api))
    throw new AdminError(400, `fault.api must be one of ${FAULT_APIS.join(', ')}, got ${JSON.stringify(b.api)}`);
  const optNum = (k: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined => {
    const v = b[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
      throw new AdminError(400, `fault.${k} must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
    return v;
  };
  const optBool = (k: string): boolean => (b[k] === undefined ? false : bool(b[k], `fault.${k}`));
  const fault: Fault = {
    id,
    api,
    method: b.method === undefined ? undefined : str(b.method, 'fault.method'),
    pathPrefix: b.pathPrefix === undefined ? undefined : str(b.pathPrefix, 'fault.pathPrefix'),
    status: optNum('status', 100, 599),
    body: b.body,
    count: optNum('count', 1) ?? 1,
    unlimited: optBool('unlimited'),
    retryAfterSeconds: optNum('retryAfterSeconds', 0),
    latencyMs: optNum('latencyMs', 0, 120_000),
    resetConnection: optBool('resetConnection'),
    afterCommit: optBool('afterCommit'),
    hits: 0,
    held: 0,
  };
  if (b.hold !== undefined) {
    if (b.hold !== 'call' && b.hold !== 'answer')
      throw new AdminError(400, `fault.hold must be "call" or "answer", got ${JSON.stringify(b.hold)}`);
    fault.hold = b.hold;
  }
  if (fault.status === undefined && !fault.latencyMs && !fault.resetConnection && !fault.afterCommit && !fault.hold) {
    throw new AdminError(400, 'a fault needs at least one of status, latencyMs, resetConnection, afterCommit or hold');
  }
  if (fault.hold === 'answer' && (fault.status !== undefined || fault.resetConnection)) {
    throw new AdminError(
      400,
      'hold "answer" parks the answer of a call that ran; it cannot also replace it with status or resetConnection (use hold "call")',
    );
  }
  if (fault.afterCommit && fault.status !== undefined) {
    throw new AdminError(400, 'afterCommit resets the connection after the call succeeded; it cannot also set status');
  }
  return fault;
}

function obj(v: unknown, name: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new AdminError(400, `${name} must be a JSON object, got ${JSON.stringify(v)}`);
  return v as Record<string, unknown>;
}
function arr(v: unknown, name: string): unknown[] {
  if (!Array.isArray(v)) throw new AdminError(400, `${name} must be an array, got ${JSON.stringify(v)}`);
  return v;
}
function str(v: unknown, name: string): string {
  if (typeof v !== 'string' || v === '')
    throw new AdminError(400, `${name} must be a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}
function bool(v: unknown, name: string): boolean {
  if (typeof v !== 'boolean') throw new AdminError(400, `${name} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}
