/**
 * Google Calendar API v3, the part the gateway uses, on each user's primary calendar:
 * events.list | get | insert | patch | update | delete | instances | watch and channels.stop.
 * Reference: https://developers.google.com/workspace/calendar/api/v3/reference/events ; wire facts in
 * docs/google-behaviour.md §3; the parts live in ./calendar/ (time, recurrence, events, list, channels, settings,
 * errors).
 *
 * Calendars: `primary` and the user's own address name the token user's primary calendar; any other id is
 * 404 notFound (the emulator has no secondary or shared calendars).
 *
 * Admin data routes (README.md, "Admin API"):
 *   POST   /emulator/v1/users/{email}/events            an Event body on primary, as if made in Google → the Event
 *   GET    /emulator/v1/users/{email}/events            stored events (series unexpanded, cancelled included)
 *   PATCH  /emulator/v1/users/{email}/events/{id}       patch an event (or an instance id) as if changed in Google
 *   DELETE /emulator/v1/users/{email}/events/{id}       delete it as if in Google → 204
 *   PUT    /emulator/v1/users/{email}/calendar {timeZone}            the calendar's time zone
 *   POST   /emulator/v1/users/{email}/calendar/invalidate-sync-tokens every sync token of the user → 410 next time
 *   GET|PUT /emulator/v1/calendar/settings              CalendarSettings (calendar/settings.ts)
 *   GET    /emulator/v1/calendar/channels               watch channels with their delivery log
 * Changes through admin routes count like changes in Google: they show up in the next incremental sync and trigger
 * push notifications.
 */
import { GoogleApiError } from './errors';
import type { AdminRequest, ApiCall, ApiRegistry, ApiResponse } from './registry';
import type { EmulatorState, EmulatorUser } from './state';
import {
  describeChannels,
  notifyChange,
  openChannel,
  renderChannel,
  stopChannel,
  type WatchRequest,
} from './calendar/channels';
import { calendarError } from './calendar/errors';
import {
  EVENT_ID_PATTERN,
  buildEvent,
  calendarOf,
  calendarZone,
  commit,
  findEvent,
  isSeries,
  newEventId,
  onCalendarChange,
  renderEvent,
  type CalendarData,
  type StoredEvent,
  type WriteMode,
} from './calendar/events';
import { listEvents, listInstances, responseZone } from './calendar/list';
import { calendarSettings, setCalendarSettings } from './calendar/module-data';
import { applyCalendarSettings } from './calendar/settings';
import { isValidZone } from './calendar/time';

/**
 * Calendar API per-user rate limit: 600 requests per minute per user per project (sliding window), for projects
 * created since 2026-05-01 (https://developers.google.com/workspace/calendar/api/guides/quota,
 * docs/google-behaviour.md §3.2). Configurable with settings.quotas['calendar.requests'] ({limitPerMinute,
 * errorStatus}).
 */
export const CALENDAR_REQUESTS_PER_USER_PER_MINUTE = 600;
export const CALENDAR_QUOTA_BUCKET = 'calendar.requests';

const S = {
  calendar: 'https://www.googleapis.com/auth/calendar',
  readonly: 'https://www.googleapis.com/auth/calendar.readonly',
  events: 'https://www.googleapis.com/auth/calendar.events',
  eventsReadonly: 'https://www.googleapis.com/auth/calendar.events.readonly',
  eventsOwned: 'https://www.googleapis.com/auth/calendar.events.owned',
  eventsOwnedReadonly: 'https://www.googleapis.com/auth/calendar.events.owned.readonly',
};
/**
 * Accepted scopes, from the generated samples in @googleapis/calendar v3.d.ts. Left out on purpose: the narrower
 * scopes whose effect depends on data the emulator does not model (calendar.app.created: calendars the app created;
 * calendar.events.freebusy and calendar.events.public.readonly: partial views) — granting them full access would
 * hide bugs rather than find them.
 */
const SCOPES = {
  read: [S.calendar, S.events, S.eventsOwned, S.eventsOwnedReadonly, S.eventsReadonly, S.readonly],
  write: [S.calendar, S.events, S.eventsOwned],
  /** channels.stop: any Calendar scope (v3.d.ts lists them all) */
  stop: [S.calendar, S.events, S.eventsOwned, S.eventsOwnedReadonly, S.eventsReadonly, S.readonly],
};

/** `sendUpdates` values (v3.d.ts); the emulator sends no invitations but refuses other values like Google. */
const SEND_UPDATES = ['all', 'externalOnly', 'none'];

const EVENTS = '^/calendar/v3/calendars/(?<calendarId>[^/]+)/events';
const EVENT = `${EVENTS}/(?<eventId>[^/]+)`;

export function register(registry: ApiRegistry, state: EmulatorState): void {
  registry.defineQuotaBucket({
    id: CALENDAR_QUOTA_BUCKET,
    api: 'calendar',
    defaultLimitPerMinute: CALENDAR_REQUESTS_PER_USER_PER_MINUTE,
    // Default 403 usageLimits/userRateLimitExceeded: the Calendar errors guide lists it first for per-user limits;
    // settings.quotas['calendar.requests'].errorStatus = 429 switches to the other answer Google gives.
    defaultErrorStatus: 403,
    metric: 'Queries',
    limitName: 'Queries per minute per user',
    metricId: 'calendar-json.googleapis.com/default',
    limitId: 'defaultPerMinutePerUser',
    legacyReason: 'userRateLimitExceeded',
    source: 'https://developers.google.com/workspace/calendar/api/guides/quota',
  });
  const quota = { bucket: CALENDAR_QUOTA_BUCKET, cost: 1 };
  const method = (
    id: string,
    rpc: string,
    httpMethod: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    path: string,
    scopes: string[],
    handler: (call: ApiCall) => ApiResponse,
  ) =>
    registry.register({
      api: 'calendar',
      id,
      rpcMethod: `calendar.v3.${rpc}`,
      httpMethod,
      path: new RegExp(`${path}$`),
      scopes,
      quota,
      handler,
    });

  method('calendar.events.watch', 'Events.Watch', 'POST', `${EVENTS}/watch`, SCOPES.read, watch);
  method('calendar.events.list', 'Events.List', 'GET', EVENTS, SCOPES.read, (call) =>
    listEvents(call, openCalendar(call)),
  );
  method('calendar.events.insert', 'Events.Insert', 'POST', EVENTS, SCOPES.write, insert);
  method('calendar.events.instances', 'Events.Instances', 'GET', `${EVENT}/instances`, SCOPES.read, instances);
  method('calendar.events.get', 'Events.Get', 'GET', EVENT, SCOPES.read, get);
  method('calendar.events.update', 'Events.Update', 'PUT', EVENT, SCOPES.write, (call) => write(call, 'update'));
  method('calendar.events.patch', 'Events.Patch', 'PATCH', EVENT, SCOPES.write, (call) => write(call, 'patch'));
  method('calendar.events.delete', 'Events.Delete', 'DELETE', EVENT, SCOPES.write, remove);
  method('calendar.channels.stop', 'Channels.Stop', 'POST', '^/calendar/v3/channels/stop', SCOPES.stop, (call) => {
    stopChannel(call.state, call.token.projectNumber, call.jsonObject());
    return { status: 204 };
  });

  onCalendarChange(state, (s, cal) => notifyChange(s, cal.owner));
  registerAdminRoutes(registry, state);
}

// --- API handlers ---------------------------------------------------------------------------------------------

function openCalendar(call: ApiCall): CalendarData {
  const id = call.params.calendarId;
  if (id !== 'primary' && id.toLowerCase() !== call.user.email) throw calendarError.notFound();
  return calendarOf(call.state, call.user);
}

function checkSendUpdates(call: ApiCall): void {
  const v = call.query.get('sendUpdates');
  if (v !== null && !SEND_UPDATES.includes(v))
    throw calendarError.invalid(
      `Invalid value '${v}' for sendUpdates: expected all, externalOnly or none.`,
      'sendUpdates',
    );
}

/** `If-Match: <etag>` (or `*`) must name the current version; otherwise 412 conditionNotMet (errors guide). */
function checkIfMatch(call: ApiCall, ev: StoredEvent): void {
  const h = call.headers['if-match'];
  if (h === undefined) return;
  const tags = String(h)
    .split(',')
    .map((t) => t.trim());
  if (!tags.includes('*') && !tags.includes(ev.etag)) throw calendarError.conditionNotMet();
}

function eventResponse(call: ApiCall, cal: CalendarData, ev: StoredEvent): ApiResponse {
  const zone = responseZone(call.state, cal, call.query);
  return { body: renderEvent(ev, { owner: cal.owner, zone }), headers: { ETag: ev.etag } };
}

function get(call: ApiCall): ApiResponse {
  const cal = openCalendar(call);
  const ev = findEvent(cal, call.params.eventId);
  if (!ev) throw calendarError.notFound();
  // "Get specific versions of resources": If-None-Match with the current etag → 304 Not Modified, no body.
  const inm = call.headers['if-none-match'];
  if (
    inm !== undefined &&
    String(inm)
      .split(',')
      .map((t) => t.trim())
      .includes(ev.etag)
  ) {
    return { status: 304, headers: { ETag: ev.etag } };
  }
  // "The get method always returns them" (cancelled events, v3.d.ts status).
  return eventResponse(call, cal, ev);
}

/** Insert as the API and the admin route both do it; returns the committed event. */
function insertEvent(state: EmulatorState, cal: CalendarData, body: Record<string, unknown>): StoredEvent {
  let id: string;
  if (body.id !== undefined && body.id !== null && body.id !== '') {
    // Both id and iCalUID given is refused with the same 400 [obs melgarafael/DeskcommCRM#467]: "only one of
    // them should be supplied at event creation time" (Event resource, iCalUID).
    if (
      typeof body.id !== 'string' ||
      !EVENT_ID_PATTERN.test(body.id) ||
      (body.iCalUID !== undefined && body.iCalUID !== null)
    ) {
      throw calendarError.invalid('Invalid resource id value.');
    }
    // A deleted event keeps its id: inserting it again is still a duplicate [obs
    // googleapis/google-api-ruby-client#1811].
    if (cal.events.has(body.id)) throw calendarError.duplicate();
    id = body.id;
  } else {
    id = newEventId();
  }
  const ev = buildEvent(state, cal, body, 'insert', undefined, id);
  return commit(state, cal, ev);
}

function insert(call: ApiCall): ApiResponse {
  const cal = openCalendar(call);
  checkSendUpdates(call);
  const ev = insertEvent(call.state, cal, call.jsonObject());
  return eventResponse(call, cal, ev);
}

/** The event to change: stored, or an unmodified instance that becomes a stored exception. */
function existing(state: EmulatorState, cal: CalendarData, id: string): StoredEvent {
  const ev = findEvent(cal, id);
  if (!ev) throw calendarError.notFound();
  return ev;
}

function applyWrite(
  state: EmulatorState,
  cal: CalendarData,
  current: StoredEvent,
  body: Record<string, unknown>,
  mode: WriteMode,
): StoredEvent {
  return commit(state, cal, buildEvent(state, cal, body, mode, current, current.id));
}

function write(call: ApiCall, mode: 'update' | 'patch'): ApiResponse {
  const cal = openCalendar(call);
  checkSendUpdates(call);
  const current = existing(call.state, cal, call.params.eventId);
  checkIfMatch(call, current);
  return eventResponse(call, cal, applyWrite(call.state, cal, current, call.jsonObject(), mode));
}

/** Deletes (cancels) an event; a series takes its exceptions with it. Deleting again → 410 deleted. */
function deleteEvent(state: EmulatorState, cal: CalendarData, current: StoredEvent): void {
  if (current.status === 'cancelled') throw calendarError.deleted();
  commit(state, cal, { ...current, status: 'cancelled' });
  if (isSeries(current)) {
    for (const ev of [...cal.events.values()]) {
      if (ev.recurringEventId === current.id && ev.status !== 'cancelled')
        commit(state, cal, { ...ev, status: 'cancelled' });
    }
  }
}

function remove(call: ApiCall): ApiResponse {
  const cal = openCalendar(call);
  checkSendUpdates(call);
  const current = existing(call.state, cal, call.params.eventId);
  if (current.status !== 'cancelled') checkIfMatch(call, current);
  deleteEvent(call.state, cal, current);
  return { status: 204 };
}

function instances(call: ApiCall): ApiResponse {
  const cal = openCalendar(call);
  const series = cal.events.get(call.params.eventId);
  if (!series) throw calendarError.notFound();
  // [?] Google's answer for the instances of a deleted series is not documented; a deleted resource is 410 elsewhere.
  if (series.status === 'cancelled') throw calendarError.deleted();
  return listInstances(call, cal, series);
}

function watch(call: ApiCall): ApiResponse {
  const cal = openCalendar(call);
  const channel = openChannel(
    call.state,
    cal.owner,
    call.token.projectNumber,
    call.params.calendarId,
    call.jsonObject() as WatchRequest,
  );
  return { body: renderChannel(channel) };
}

// --- admin routes ----------------------------------------------------------------------------------------------

function adminUser(state: EmulatorState, email: string): EmulatorUser {
  const user = state.findUser(email);
  if (!user) throw new AdminFailure(404, `no user ${email}; create it with POST /emulator/v1/domains`);
  return user;
}

class AdminFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Admin answers are `{error}` with the status; Google's validation errors keep their reason for the caller. */
function admin(fn: (req: AdminRequest) => ApiResponse) {
  return (req: AdminRequest): ApiResponse => {
    try {
      return fn(req);
    } catch (e) {
      if (e instanceof AdminFailure) return { status: e.status, body: { error: e.message } };
      if (e instanceof GoogleApiError) {
        return {
          status: e.httpStatus,
          body: { error: e.body.error.message, reason: e.body.error.errors?.[0]?.reason },
        };
      }
      throw e;
    }
  };
}

function adminBody(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new AdminFailure(400, `the body must be a JSON Event object, got ${JSON.stringify(body)}`);
  }
  return body as Record<string, unknown>;
}

function registerAdminRoutes(registry: ApiRegistry, state: EmulatorState): void {
  const render = (cal: CalendarData, ev: StoredEvent) =>
    renderEvent(ev, { owner: cal.owner, zone: calendarZone(state, cal) });
  const userCalendar = (email: string) => calendarOf(state, adminUser(state, email));

  registry.addAdminRoute({
    httpMethod: 'POST',
    path: /^\/users\/(?<email>[^/]+)\/events$/,
    handler: admin(({ params, body }) => {
      const cal = userCalendar(params.email);
      // One Event, or an array of them (seeding a month of 1,000 events in one call, like the contacts route).
      if (Array.isArray(body)) return { body: body.map((b) => render(cal, insertEvent(state, cal, adminBody(b)))) };
      return { body: render(cal, insertEvent(state, cal, adminBody(body))) };
    }),
  });
  registry.addAdminRoute({
    httpMethod: 'GET',
    path: /^\/users\/(?<email>[^/]+)\/events$/,
    handler: admin(({ params }) => {
      const cal = userCalendar(params.email);
      return { body: [...cal.events.values()].map((ev) => render(cal, ev)) };
    }),
  });
  registry.addAdminRoute({
    httpMethod: 'PATCH',
    path: /^\/users\/(?<email>[^/]+)\/events\/(?<id>[^/]+)$/,
    handler: admin(({ params, body }) => {
      const cal = userCalendar(params.email);
      return { body: render(cal, applyWrite(state, cal, existing(state, cal, params.id), adminBody(body), 'patch')) };
    }),
  });
  registry.addAdminRoute({
    httpMethod: 'DELETE',
    path: /^\/users\/(?<email>[^/]+)\/events\/(?<id>[^/]+)$/,
    handler: admin(({ params }) => {
      const cal = userCalendar(params.email);
      deleteEvent(state, cal, existing(state, cal, params.id));
      return { status: 204 };
    }),
  });
  registry.addAdminRoute({
    httpMethod: 'PUT',
    path: /^\/users\/(?<email>[^/]+)\/calendar$/,
    handler: admin(({ params, body }) => {
      const cal = userCalendar(params.email);
      const tz = adminBody(body).timeZone;
      if (typeof tz !== 'string' || !isValidZone(tz))
        throw new AdminFailure(
          400,
          `timeZone must be an IANA time zone such as "America/New_York", got ${JSON.stringify(tz)}`,
        );
      cal.timeZone = tz;
      return { body: { email: cal.owner, timeZone: tz } };
    }),
  });
  registry.addAdminRoute({
    httpMethod: 'POST',
    path: /^\/users\/(?<email>[^/]+)\/calendar\/invalidate-sync-tokens$/,
    handler: admin(({ params }) => {
      const cal = userCalendar(params.email);
      const n = cal.syncTokens.size;
      cal.syncTokens.clear();
      return { body: { email: cal.owner, invalidated: n } };
    }),
  });
  registry.addAdminRoute({
    httpMethod: 'GET',
    path: /^\/calendar\/settings$/,
    handler: () => ({ body: calendarSettings(state) }),
  });
  registry.addAdminRoute({
    httpMethod: 'PUT',
    path: /^\/calendar\/settings$/,
    handler: admin(({ body }) => {
      try {
        setCalendarSettings(state, applyCalendarSettings(calendarSettings(state), body));
      } catch (e) {
        throw new AdminFailure(400, (e as Error).message);
      }
      return { body: calendarSettings(state) };
    }),
  });
  registry.addAdminRoute({
    httpMethod: 'GET',
    path: /^\/calendar\/channels$/,
    handler: () => ({ body: describeChannels(state) }),
  });
}
