/**
 * events.list and events.instances: filtering, recurring-series expansion, ordering, paging and sync tokens.
 * Parameter semantics are the texts of @googleapis/calendar v3.d.ts (Params$Resource$Events$List) and
 * https://developers.google.com/calendar/api/v3/reference/events/list and docs/google-behaviour.md §3.1:
 *  - timeMin: exclusive lower bound on an event's END; timeMax: exclusive upper bound on its START; both RFC3339 with
 *    offset; timeMin ≥ timeMax → 400 timeRangeEmpty.
 *  - singleEvents expands series into instances; orderBy=startTime only with singleEvents (400 otherwise).
 *  - maxResults default 250, "can never be larger than 2500" (see CalendarSettings.maxResultsAboveLimit).
 *  - syncToken cannot be combined with iCalUID, orderBy, privateExtendedProperty, q, sharedExtendedProperty,
 *    timeMin, timeMax, updatedMin; showDeleted=false is not allowed with it; deleted events always come back; an
 *    unknown or expired token → 410 fullSyncRequired.
 *  - nextSyncToken only on the last page.
 *  - pageToken: opaque, valid only with the first call's parameters (syncToken included) → 400 invalid otherwise.
 */
import { randomBytes } from 'node:crypto';
import type { ApiCall, ApiResponse } from '../registry';
import { OpaqueTokenStore } from '../opaque-tokens';
import type { EmulatorState } from '../state';
import { calendarError } from './errors';
import {
  calendarZone,
  isSeries,
  overlaps,
  renderCancelled,
  renderEvent,
  seriesInstances,
  type CalendarData,
  type RenderContext,
  type StoredEvent,
  type SyncTokenInfo,
} from './events';
import { calendarSettings } from './module-data';
import { isValidZone, parseQueryTimestamp, whenMs } from './time';

/** events.list / events.instances `maxResults`: default 250, at most 2500 per page (v3.d.ts). */
export const DEFAULT_PAGE_SIZE = 250;
export const MAX_PAGE_SIZE = 2500;
/** Reminders of a new primary calendar as Google reports them in `defaultReminders`. */
const DEFAULT_REMINDERS = [{ method: 'popup', minutes: 10 }];
/** Parameters that cannot be combined with syncToken (v3.d.ts, syncToken). */
export const SYNC_TOKEN_FORBIDDEN = [
  'iCalUID',
  'orderBy',
  'privateExtendedProperty',
  'q',
  'sharedExtendedProperty',
  'timeMin',
  'timeMax',
  'updatedMin',
] as const;

/**
 * Page tokens are opaque random ids (../opaque-tokens.ts, the store People uses) backed by this record: whose listing
 * it continues (user, calendar, and for events.instances the series), a fingerprint of the query that made the first
 * page, the offset, and the calendar's change counter when the listing began. A token used by another user, on
 * another calendar or series, or with other query parameters — notably without the syncToken of the first call — is
 * refused rather than silently starting another listing. Google: pageToken is "Token specifying which result page
 * to return" (v3.d.ts); other parameters must stay the same across pages like every Google list method [?].
 */
interface PageTokenRecord {
  user: string;
  calendar: string;
  /** `list`, or `instances:<seriesId>` */
  listing: string;
  fingerprint: string;
  /** offset into the ordered result */
  offset: number;
  /** calendar change counter when the listing's first page was computed: the state nextSyncToken stands for */
  changeSeq: number;
}

/** How long a page token stays usable, emulator time. Google does not document a lifetime [?]. */
export const PAGE_TOKEN_LIFETIME_SECONDS = 24 * 60 * 60;

/**
 * Query parameters left out of the fingerprint: the token itself, the page size (Google documents no rule against
 * changing it between pages, and an offset works with any size) and the standard system parameters
 * (https://cloud.google.com/apis/docs/system-parameters) that do not change the result.
 */
const NOT_FINGERPRINTED = new Set([
  'pageToken',
  'maxResults',
  'alt',
  'fields',
  'prettyPrint',
  'quotaUser',
  'key',
  'access_token',
  'oauth_token',
  'callback',
  'userIp',
  '$.xgafv',
  'upload_protocol',
  'uploadType',
]);

function queryFingerprint(q: URLSearchParams): string {
  const pairs = [...q]
    .filter(([k]) => !NOT_FINGERPRINTED.has(k))
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return JSON.stringify(pairs);
}

function pageTokens(state: EmulatorState): OpaqueTokenStore<PageTokenRecord> {
  return state.moduleData('calendar.pageTokens', () => new OpaqueTokenStore<PageTokenRecord>());
}

/** Where this page starts: offset 0 and the current change counter, or what the page token says. */
function pageStart(call: ApiCall, cal: CalendarData, listing: string): { offset: number; changeSeq: number } {
  const raw = call.query.get('pageToken');
  if (raw === null) return { offset: 0, changeSeq: cal.changeSeq };
  const rec = pageTokens(call.state).get(raw, call.state.nowMs());
  if (
    !rec ||
    rec.user !== call.user.email ||
    rec.calendar !== cal.owner ||
    rec.listing !== listing ||
    rec.fingerprint !== queryFingerprint(call.query)
  ) {
    // [?] wording: Google answers a page token it did not issue (or one used with other parameters) with 400 invalid.
    throw calendarError.invalid('Invalid page token value.', 'pageToken');
  }
  return { offset: rec.offset, changeSeq: rec.changeSeq };
}

function nextPageToken(call: ApiCall, cal: CalendarData, listing: string, offset: number, changeSeq: number): string {
  const record: PageTokenRecord = {
    user: call.user.email,
    calendar: cal.owner,
    listing,
    fingerprint: queryFingerprint(call.query),
    offset,
    changeSeq,
  };
  return pageTokens(call.state).issue(record, call.state.nowMs(), PAGE_TOKEN_LIFETIME_SECONDS * 1000);
}

function bool(q: URLSearchParams, name: string): boolean | undefined {
  const v = q.get(name);
  if (v === null) return undefined;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw calendarError.invalid(`Invalid value '${v}' for ${name}: expected true or false.`, name);
}

/** maxResults: integer ≥ 1 (discovery `minimum: 1`); above 2500 clamped or refused per settings. */
function pageSize(state: EmulatorState, q: URLSearchParams): number {
  const raw = q.get('maxResults');
  if (raw === null) return DEFAULT_PAGE_SIZE;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < 1) {
    throw calendarError.invalid(
      `Invalid value '${raw}'. Values must be within the range: [1, ${MAX_PAGE_SIZE}]`,
      'maxResults',
    );
  }
  if (n > MAX_PAGE_SIZE) {
    if (calendarSettings(state).maxResultsAboveLimit === 'reject') {
      throw calendarError.invalid(
        `Invalid value '${raw}'. Values must be within the range: [1, ${MAX_PAGE_SIZE}]`,
        'maxResults',
      );
    }
    return MAX_PAGE_SIZE;
  }
  return n;
}

export function responseZone(state: EmulatorState, cal: CalendarData, q: URLSearchParams): string {
  const tz = q.get('timeZone');
  if (tz === null || tz === '') return calendarZone(state, cal);
  if (!isValidZone(tz))
    throw calendarError.invalid(
      `Invalid time zone definition: expected an IANA zone such as America/New_York, got "${tz}".`,
      'timeZone',
    );
  return tz;
}

function timeBounds(q: URLSearchParams): { lo?: number; hi?: number } {
  const lo = q.get('timeMin') === null ? undefined : parseQueryTimestamp(q.get('timeMin')!);
  const hi = q.get('timeMax') === null ? undefined : parseQueryTimestamp(q.get('timeMax')!);
  if (lo !== undefined && hi !== undefined && lo >= hi) throw calendarError.timeRangeEmpty();
  return { lo, hi };
}

function envelope(
  cal: CalendarData,
  zone: string,
  items: unknown[],
  extra: { nextPageToken?: string; nextSyncToken?: string },
) {
  const body: Record<string, unknown> = {
    kind: 'calendar#events',
    etag: `"p3${cal.lastChangeMs}${cal.changeSeq}g"`,
    summary: cal.owner,
    updated: new Date(cal.lastChangeMs).toISOString(),
    timeZone: zone,
    accessRole: 'owner',
    defaultReminders: DEFAULT_REMINDERS,
  };
  if (extra.nextPageToken) body.nextPageToken = extra.nextPageToken;
  if (extra.nextSyncToken) body.nextSyncToken = extra.nextSyncToken;
  body.items = items;
  return body;
}

function render(ev: StoredEvent, ctx: RenderContext): Record<string, unknown> {
  return ev.status === 'cancelled' ? renderCancelled(ev, ctx) : renderEvent(ev, ctx);
}

function issueSyncToken(cal: CalendarData, info: SyncTokenInfo): string {
  // Opaque like Google's ("CPj…8gIEGAU="); the meaning stays on the server.
  const token = `C${randomBytes(18).toString('base64')}`;
  cal.syncTokens.set(token, info);
  return token;
}

function matchesText(ev: StoredEvent, text: string): boolean {
  const hay = [
    ev.fields.summary,
    ev.fields.description,
    ev.fields.location,
    ...(ev.attendees ?? []).flatMap((a) => [a.email, a.displayName]),
  ]
    .filter((s): s is string => typeof s === 'string')
    .join('\n')
    .toLowerCase();
  return text
    .toLowerCase()
    .split(/\s+/)
    .filter(Boolean)
    .every((w) => hay.includes(w));
}

/** events.list */
export function listEvents(call: ApiCall, cal: CalendarData): ApiResponse {
  const { state, query: q } = call;
  const settings = calendarSettings(state);
  const now = state.nowMs();
  const size = pageSize(state, q);
  const zone = responseZone(state, cal, q);
  const calZone = calendarZone(state, cal);
  const singleEvents = bool(q, 'singleEvents') ?? false;
  const showDeletedParam = bool(q, 'showDeleted');
  const orderBy = q.get('orderBy');
  const syncToken = q.get('syncToken');

  let sync: SyncTokenInfo | undefined;
  if (syncToken !== null) {
    const clash = SYNC_TOKEN_FORBIDDEN.find((p) => q.has(p));
    // [?] wording: Google refuses these combinations with 400; the text is not documented.
    if (clash)
      throw calendarError.invalid(
        `The syncToken parameter cannot be combined with ${clash}: an incremental sync returns every change since the token.`,
        clash,
      );
    if (showDeletedParam === false)
      throw calendarError.invalid(
        'The syncToken parameter cannot be combined with showDeleted=false: deleted events are always returned by an incremental sync.',
        'showDeleted',
      );
    sync = cal.syncTokens.get(syncToken);
    if (!sync || sync.issuedMs + settings.syncTokenLifetimeSeconds * 1000 <= now)
      throw calendarError.fullSyncRequired();
  }
  if (orderBy !== null && orderBy !== 'startTime' && orderBy !== 'updated') {
    throw calendarError.invalid(`Invalid value '${orderBy}' for orderBy: expected startTime or updated.`, 'orderBy');
  }
  if (orderBy === 'startTime' && !singleEvents) throw calendarError.orderingUnavailable();
  const { lo, hi } = timeBounds(q);
  const updatedMin = q.get('updatedMin') === null ? undefined : parseQueryTimestamp(q.get('updatedMin')!);
  const text = q.get('q');
  const iCalUID = q.get('iCalUID');
  const page = pageStart(call, cal, 'list');

  // "Deleted events since the last sync always come back"; with updatedMin "entries deleted since this time will
  // always be included regardless of showDeleted" (v3.d.ts).
  const showDeleted = sync !== undefined || updatedMin !== undefined || showDeletedParam === true;
  const picked: StoredEvent[] = [];
  const windowLo = sync ? sync.timeMinMs : lo;
  for (const ev of cal.events.values()) {
    if (sync && ev.changeSeq <= sync.changeSeq) continue;
    if (ev.changeSeq > page.changeSeq) continue; // changed after the listing began: the next sync token delivers it
    if (updatedMin !== undefined && ev.updatedMs < updatedMin) continue;
    if (iCalUID !== null && ev.iCalUID !== iCalUID) continue;
    if (text !== null && !matchesText(ev, text)) continue;
    if (ev.status === 'cancelled') {
      if (showDeleted) picked.push(ev);
      continue;
    }
    if (isSeries(ev)) {
      const instances = seriesInstances(cal, ev, calZone, windowLo, sync ? undefined : hi, now, true);
      if (sync ? sync.singleEvents : singleEvents) picked.push(...instances);
      else if (
        (windowLo === undefined && hi === undefined) ||
        instances.length > 0 ||
        hasExceptionIn(cal, ev, calZone, windowLo, hi)
      )
        picked.push(ev);
      continue;
    }
    if (overlaps(ev, calZone, windowLo, sync ? undefined : hi)) picked.push(ev);
  }

  if (orderBy === 'startTime') {
    picked.sort(
      (a, b) => whenMs(a.start, calZone) - whenMs(b.start, calZone) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
    );
  } else if (orderBy === 'updated') {
    picked.sort((a, b) => a.updatedMs - b.updatedMs || a.changeSeq - b.changeSeq);
  }

  const slice = picked.slice(page.offset, page.offset + size);
  const ctx: RenderContext = { owner: cal.owner, zone };
  const last = page.offset + size >= picked.length;
  const extra: { nextPageToken?: string; nextSyncToken?: string } = {};
  if (!last) extra.nextPageToken = nextPageToken(call, cal, 'list', page.offset + size, page.changeSeq);
  const suppressed = sync === undefined && settings.syncTokenSuppressedBy.some((p) => q.has(p));
  if (last && !suppressed) {
    extra.nextSyncToken = issueSyncToken(cal, {
      changeSeq: page.changeSeq,
      issuedMs: now,
      singleEvents: sync ? sync.singleEvents : singleEvents,
      timeMinMs: sync ? sync.timeMinMs : lo,
    });
  }
  return {
    body: envelope(
      cal,
      zone,
      slice.map((ev) => render(ev, ctx)),
      extra,
    ),
  };
}

/** A series is in a window when one of its (moved) exceptions is, even if no unmodified instance is. */
function hasExceptionIn(
  cal: CalendarData,
  series: StoredEvent,
  zone: string,
  lo: number | undefined,
  hi: number | undefined,
): boolean {
  for (const ev of cal.events.values()) {
    if (ev.recurringEventId === series.id && ev.status !== 'cancelled' && overlaps(ev, zone, lo, hi)) return true;
  }
  return false;
}

/**
 * events.instances: the instances of one series, exceptions in place, in start order. A single (non-recurring)
 * event has no instances: an empty page [?] (Google's answer is not documented).
 */
export function listInstances(call: ApiCall, cal: CalendarData, series: StoredEvent): ApiResponse {
  const { state, query: q } = call;
  const size = pageSize(state, q);
  const zone = responseZone(state, cal, q);
  const calZone = calendarZone(state, cal);
  const showDeleted = bool(q, 'showDeleted') ?? false;
  const { lo, hi } = timeBounds(q);
  const page = pageStart(call, cal, `instances:${series.id}`);
  let items = (isSeries(series) ? seriesInstances(cal, series, calZone, lo, hi, state.nowMs(), false) : []).filter(
    (ev) => showDeleted || ev.status !== 'cancelled',
  );
  const originalStart = q.get('originalStart');
  if (originalStart !== null) {
    const at = parseQueryTimestamp(originalStart);
    items = items.filter((ev) => ev.originalStart && whenMs(ev.originalStart, calZone) === at);
  }
  const ctx: RenderContext = { owner: cal.owner, zone };
  const slice = items.slice(page.offset, page.offset + size);
  const extra =
    page.offset + size < items.length
      ? { nextPageToken: nextPageToken(call, cal, `instances:${series.id}`, page.offset + size, page.changeSeq) }
      : {};
  return {
    body: envelope(
      cal,
      zone,
      slice.map((ev) => render(ev, ctx)),
      extra,
    ),
  };
}
