/**
 * The primary calendar of each user: stored events, how a request body becomes a stored event (with Google's
 * validation), how a stored event is written back as an Event resource, and recurring-series expansion.
 * Resource reference: https://developers.google.com/workspace/calendar/api/v3/reference/events
 *
 * Modified or cancelled instances of a series ("exceptions") are stored as events of their own, under the instance
 * id `<seriesId>_<YYYYMMDDTHHMMSSZ>` (`_<YYYYMMDD>` for all-day series), with `recurringEventId` and
 * `originalStartTime` — the shape Google returns them in.
 *
 * Every change bumps the calendar's change counter and stamps the event with it: that is what sync tokens and push
 * notifications are built on (`onChange`).
 */
import { randomBytes } from 'node:crypto';
import type { EmulatorState, EmulatorUser } from '../state';
import { calendarError } from './errors';
import { occurrences, parseRecurrence, type ParsedRecurrence } from './recurrence';
import { calendarSettings } from './module-data';
import {
  addDays,
  daysBetween,
  instanceStamp,
  isoMs,
  parseEventTime,
  parseInstanceStamp,
  renderWhen,
  whenMs,
  type EventDateTime,
  type When,
} from './time';

/**
 * Client-chosen ids: "characters allowed in the ID are those used in base32hex encoding, i.e. lowercase letters a-v
 * and digits 0-9 … the length of the ID must be between 5 and 1024 characters" (Event resource, `id`).
 */
export const EVENT_ID_PATTERN = /^[a-v0-9]{5,1024}$/;
/**
 * How far ahead an open-ended series is expanded when the request gives no upper bound (singleEvents without
 * timeMax, events.instances without timeMax, incremental sync with singleEvents). Google does not publish one [?].
 */
export const OPEN_ENDED_EXPANSION_DAYS = 2 * 366;
const DAY_MS = 24 * 3600 * 1000;

export type EventStatus = 'confirmed' | 'tentative' | 'cancelled';

/** Event fields stored as the client sent them (validated where Google validates). */
const PASSTHROUGH_FIELDS = [
  'summary',
  'description',
  'location',
  'colorId',
  'transparency',
  'visibility',
  'reminders',
  'extendedProperties',
  'source',
  'anyoneCanAddSelf',
  'guestsCanInviteOthers',
  'guestsCanModify',
  'guestsCanSeeOtherGuests',
  'endTimeUnspecified',
] as const;

export interface Attendee {
  email: string;
  responseStatus: string;
  [k: string]: unknown;
}

export interface StoredEvent {
  id: string;
  status: EventStatus;
  fields: Record<string, unknown>;
  start: When;
  end: When;
  recurrence?: string[];
  parsedRecurrence?: ParsedRecurrence;
  attendees?: Attendee[];
  recurringEventId?: string;
  originalStart?: When;
  createdMs: number;
  updatedMs: number;
  etag: string;
  sequence: number;
  iCalUID: string;
  /** value of the calendar's change counter at this event's last change */
  changeSeq: number;
}

export interface SyncTokenInfo {
  changeSeq: number;
  issuedMs: number;
  singleEvents: boolean;
  timeMinMs?: number;
}

export interface CalendarData {
  owner: string;
  /** insertion order is the listing's default ("unspecified, stable") order */
  events: Map<string, StoredEvent>;
  changeSeq: number;
  lastChangeMs: number;
  syncTokens: Map<string, SyncTokenInfo>;
  /** per-user override of settings.defaultCalendarTimeZone */
  timeZone?: string;
}

export function calendarOf(state: EmulatorState, user: EmulatorUser): CalendarData {
  return state.userData(user, 'calendar', () => ({
    owner: user.email,
    events: new Map(),
    changeSeq: 0,
    lastChangeMs: state.nowMs(),
    syncTokens: new Map(),
  }));
}

export function calendarZone(state: EmulatorState, cal: CalendarData): string {
  return cal.timeZone ?? calendarSettings(state).defaultCalendarTimeZone;
}

/** Called after every change of a calendar (API or admin); calendar.ts wires it to push notifications. */
export type ChangeListener = (state: EmulatorState, cal: CalendarData) => void;
const listeners: WeakMap<EmulatorState, ChangeListener> = new WeakMap();
export function onCalendarChange(state: EmulatorState, listener: ChangeListener): void {
  listeners.set(state, listener);
}

/** Stamps `ev` as changed now and stores it; notifies watchers. */
export function commit(state: EmulatorState, cal: CalendarData, ev: StoredEvent): StoredEvent {
  cal.changeSeq += 1;
  const now = state.nowMs();
  ev.changeSeq = cal.changeSeq;
  ev.updatedMs = now;
  // Google's event etags are quoted decimal numbers ("3392561571006000"); unique per change here.
  ev.etag = `"${now * 1000 + (cal.changeSeq % 1000)}"`;
  cal.lastChangeMs = now;
  cal.events.set(ev.id, ev);
  listeners.get(state)?.(state, cal);
  return ev;
}

/** Google's generated event ids are 26 base32hex characters. */
export function newEventId(): string {
  const alphabet = '0123456789abcdefghijklmnopqrstuv';
  return [...randomBytes(26)].map((b) => alphabet[b & 31]).join('');
}

// ---------------------------------------------------------------------------------------------------------------
// Request body → stored event

export type WriteMode = 'insert' | 'update' | 'patch';

/**
 * Builds the stored form of a write. `current` is the event being replaced (update/patch) or undefined (insert).
 * Throws Google's 400s; never touches the calendar.
 */
export function buildEvent(
  state: EmulatorState,
  cal: CalendarData,
  body: Record<string, unknown>,
  mode: WriteMode,
  current: StoredEvent | undefined,
  id: string,
): StoredEvent {
  const base: Record<string, unknown> = mode === 'patch' && current ? writableView(current) : {};
  const merged: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(body)) {
    if (
      (k === 'start' || k === 'end' || k === 'originalStartTime') &&
      mode === 'patch' &&
      isObject(v) &&
      isObject(base[k])
    ) {
      // Patch merges sub-fields; switching between date and dateTime drops the other one.
      const prev = { ...(base[k] as EventDateTime) };
      if ('date' in v) delete prev.dateTime;
      if ('dateTime' in v) delete prev.date;
      merged[k] = { ...prev, ...v };
    } else {
      merged[k] = v;
    }
  }

  const start = parseEventTime(merged.start as EventDateTime, 'start');
  const end = parseEventTime(merged.end as EventDateTime, 'end');
  if (start.allDay !== end.allDay)
    throw calendarError.invalid('Start and end times must either both be date or both be dateTime.');
  const empty = start.allDay
    ? daysBetween(start.date, (end as { date: string }).date) <= 0
    : (end as { ms: number }).ms <= start.ms;
  if (empty) throw calendarError.timeRangeEmpty();

  let recurrence: string[] | undefined;
  let parsedRecurrence: ParsedRecurrence | undefined;
  const rawRecurrence = merged.recurrence;
  if (
    rawRecurrence !== undefined &&
    rawRecurrence !== null &&
    !(Array.isArray(rawRecurrence) && rawRecurrence.length === 0)
  ) {
    if (current?.recurringEventId) throw calendarError.invalid('Invalid recurrence rule.');
    // A recurring timed event needs a zone to expand in [obs openclaw/gogcli#347: offset alone → this 400].
    if (!start.allDay && !start.zone) throw calendarError.required('Missing time zone definition for start time.');
    parsedRecurrence = parseRecurrence(rawRecurrence, start);
    recurrence = (rawRecurrence as string[]).map((l) => l.trim());
  }

  const status = merged.status ?? current?.status ?? 'confirmed';
  if (status !== 'confirmed' && status !== 'tentative' && status !== 'cancelled') {
    throw calendarError.invalid(
      `Invalid value for status: expected confirmed, tentative or cancelled, got ${JSON.stringify(status)}.`,
    );
  }

  const attendees =
    merged.attendees === undefined || merged.attendees === null
      ? undefined
      : parseAttendees(merged.attendees, cal.owner);

  const fields: Record<string, unknown> = {};
  for (const f of PASSTHROUGH_FIELDS) if (merged[f] !== undefined && merged[f] !== null) fields[f] = merged[f];
  if (fields.transparency !== undefined && fields.transparency !== 'opaque' && fields.transparency !== 'transparent') {
    throw calendarError.invalid(
      `Invalid value for transparency: expected opaque or transparent, got ${JSON.stringify(fields.transparency)}.`,
    );
  }

  let sequence = current?.sequence ?? 0;
  const askedSequence = body.sequence;
  if (askedSequence !== undefined && askedSequence !== null) {
    const asked = Number(askedSequence);
    if (!Number.isInteger(asked) || asked < 0)
      throw calendarError.invalid(
        `Invalid sequence value: expected a non-negative integer, got ${JSON.stringify(askedSequence)}.`,
      );
    // [obs] "Invalid sequence value. The specified sequence number is below the current sequence number of the
    // resource."
    if (asked < sequence)
      throw calendarError.invalid(
        'Invalid sequence value. The specified sequence number is below the current sequence number of the resource.',
      );
  }
  if (askedSequence !== undefined && askedSequence !== null && Number(askedSequence) > sequence) {
    sequence = Number(askedSequence);
  } else if (current && timesChanged(current, start, end, recurrence)) {
    // Google raises the iCalendar SEQUENCE when the time or recurrence changes (RFC 5546 §2.1.4 significant change).
    sequence += 1;
  }

  const now = state.nowMs();
  return {
    id,
    status,
    fields,
    start,
    end,
    recurrence,
    parsedRecurrence,
    attendees,
    recurringEventId: current?.recurringEventId,
    originalStart: current?.originalStart,
    createdMs: current?.createdMs ?? now,
    updatedMs: now,
    etag: current?.etag ?? '',
    sequence,
    iCalUID:
      current?.iCalUID ?? (typeof merged.iCalUID === 'string' && merged.iCalUID ? merged.iCalUID : `${id}@google.com`),
    changeSeq: current?.changeSeq ?? 0,
  };
}

function timesChanged(current: StoredEvent, start: When, end: When, recurrence: string[] | undefined): boolean {
  return (
    JSON.stringify([current.start, current.end, current.recurrence ?? null]) !==
    JSON.stringify([start, end, recurrence ?? null])
  );
}

function parseAttendees(v: unknown, owner: string): Attendee[] {
  if (!Array.isArray(v))
    throw calendarError.invalid(`Invalid attendees: expected an array of {email}, got ${JSON.stringify(v)}.`);
  return v.map((a) => {
    if (!isObject(a) || typeof a.email !== 'string' || !/^[^@\s]+@[^@\s]+$/.test(a.email)) {
      // [?] wording; Google answers 400 for an attendee without a valid email.
      throw calendarError.required('Missing attendee email.');
    }
    const email = a.email.toLowerCase();
    const out: Attendee = {
      email,
      ...(typeof a.displayName === 'string' ? { displayName: a.displayName } : {}),
      responseStatus: 'needsAction',
    };
    if (email === owner) Object.assign(out, { organizer: true, self: true });
    if (a.optional === true) out.optional = true;
    if (typeof a.comment === 'string') out.comment = a.comment;
    if (typeof a.additionalGuests === 'number') out.additionalGuests = a.additionalGuests;
    const rs = a.responseStatus ?? 'needsAction';
    if (!['needsAction', 'declined', 'tentative', 'accepted'].includes(rs as string)) {
      throw calendarError.invalid(
        `Invalid attendee responseStatus: expected needsAction, declined, tentative or accepted, got ${JSON.stringify(rs)}.`,
      );
    }
    out.responseStatus = rs as string;
    return out;
  });
}

/** The writable fields of a stored event, as a body that buildEvent accepts (patch base, exception base). */
function writableView(ev: StoredEvent): Record<string, unknown> {
  return {
    ...ev.fields,
    status: ev.status,
    start: rawWhen(ev.start),
    end: rawWhen(ev.end),
    ...(ev.recurrence ? { recurrence: ev.recurrence } : {}),
    ...(ev.attendees ? { attendees: ev.attendees.map(({ organizer: _o, self: _s, ...a }) => a) } : {}),
  };
}

function rawWhen(w: When): EventDateTime {
  if (w.allDay) return { date: w.date };
  return { dateTime: new Date(w.ms).toISOString().replace('.000Z', 'Z'), ...(w.zone ? { timeZone: w.zone } : {}) };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// ---------------------------------------------------------------------------------------------------------------
// Stored event → Event resource

export interface RenderContext {
  owner: string;
  /** zone dateTimes are written in: the request's timeZone parameter or the calendar's zone */
  zone: string;
}

/** Google's htmlLink: …/event?eid=<base64 of "<eventId> <calendarId>" without padding>. */
function htmlLink(id: string, owner: string): string {
  return `https://www.google.com/calendar/event?eid=${Buffer.from(`${id} ${owner}`).toString('base64').replace(/=+$/, '')}`;
}

/** The full Event resource, in Google's field order. */
export function renderEvent(ev: StoredEvent, ctx: RenderContext): Record<string, unknown> {
  const f = ev.fields;
  const out: Record<string, unknown> = {
    kind: 'calendar#event',
    etag: ev.etag,
    id: ev.id,
    status: ev.status,
    htmlLink: htmlLink(ev.id, ctx.owner),
    created: isoMs(ev.createdMs),
    updated: isoMs(ev.updatedMs),
  };
  for (const k of ['summary', 'description', 'location', 'colorId'] as const) if (f[k] !== undefined) out[k] = f[k];
  out.creator = { email: ctx.owner, self: true };
  out.organizer = { email: ctx.owner, self: true };
  out.start = renderWhen(ev.start, ctx.zone);
  out.end = renderWhen(ev.end, ctx.zone);
  if (f.endTimeUnspecified !== undefined) out.endTimeUnspecified = f.endTimeUnspecified;
  if (ev.recurrence) out.recurrence = ev.recurrence;
  if (ev.recurringEventId) out.recurringEventId = ev.recurringEventId;
  if (ev.originalStart) out.originalStartTime = renderWhen(ev.originalStart, ctx.zone);
  for (const k of ['transparency', 'visibility'] as const) if (f[k] !== undefined) out[k] = f[k];
  out.iCalUID = ev.iCalUID;
  out.sequence = ev.sequence;
  if (ev.attendees?.length) out.attendees = ev.attendees; // Google leaves empty lists out of its JSON
  for (const k of [
    'extendedProperties',
    'anyoneCanAddSelf',
    'guestsCanInviteOthers',
    'guestsCanModify',
    'guestsCanSeeOtherGuests',
    'source',
  ] as const) {
    if (f[k] !== undefined) out[k] = f[k];
  }
  out.reminders = f.reminders ?? { useDefault: true };
  out.eventType = 'default';
  return out;
}

/**
 * What lists carry for a cancelled event: "only the id, status and (for instances) recurringEventId and
 * originalStartTime are guaranteed" (docs/google-behaviour.md §3.1 [?] exact set).
 */
export function renderCancelled(ev: StoredEvent, ctx: RenderContext): Record<string, unknown> {
  const out: Record<string, unknown> = { kind: 'calendar#event', etag: ev.etag, id: ev.id, status: 'cancelled' };
  if (ev.recurringEventId) out.recurringEventId = ev.recurringEventId;
  if (ev.originalStart) out.originalStartTime = renderWhen(ev.originalStart, ctx.zone);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Series and instances

export function isSeries(ev: StoredEvent): boolean {
  return ev.parsedRecurrence !== undefined && !ev.recurringEventId;
}

/** The unmodified instance of `series` that originally starts at `originalStart`. */
export function virtualInstance(series: StoredEvent, originalStart: When): StoredEvent {
  let start: When;
  let end: When;
  if (originalStart.allDay && series.start.allDay && series.end.allDay) {
    start = originalStart;
    end = { allDay: true, date: addDays(originalStart.date, daysBetween(series.start.date, series.end.date)) };
  } else {
    const s = originalStart as { ms: number; zone: string | null };
    const e = series.end as { ms: number; zone: string | null };
    start = {
      allDay: false,
      ms: s.ms,
      zone: series.start.allDay ? null : (series.start as { zone: string | null }).zone,
    };
    end = { allDay: false, ms: s.ms + (e.ms - (series.start as { ms: number }).ms), zone: e.zone };
  }
  return {
    ...series,
    id: `${series.id}_${instanceStamp(originalStart)}`,
    start,
    end,
    recurrence: undefined,
    parsedRecurrence: undefined,
    recurringEventId: series.id,
    originalStart,
  };
}

/** Length of the series' first instance, ms (all-day: whole days). */
function durationMs(series: StoredEvent): number {
  if (series.start.allDay && series.end.allDay) return daysBetween(series.start.date, series.end.date) * DAY_MS;
  return (series.end as { ms: number }).ms - (series.start as { ms: number }).ms;
}

/**
 * Instances of a series overlapping (lo, hi) — end after lo, start before hi, as events.list filters — in start
 * order. Instances that have a stored exception are left out when `skipExceptions` (the exception is an event of
 * its own); otherwise the exception stands in for the instance.
 */
export function seriesInstances(
  cal: CalendarData,
  series: StoredEvent,
  zone: string,
  lo: number | undefined,
  hi: number | undefined,
  nowMs: number,
  skipExceptions: boolean,
): StoredEvent[] {
  const rec = series.parsedRecurrence!;
  const dur = durationMs(series);
  const seriesStartMs = whenMs(series.start, zone);
  const from = Math.max(seriesStartMs, (lo ?? seriesStartMs) - dur) - DAY_MS;
  const to = (hi ?? Math.max(nowMs, seriesStartMs) + OPEN_ENDED_EXPANSION_DAYS * DAY_MS) + DAY_MS;
  const out: StoredEvent[] = [];
  for (const occ of occurrences(rec, series.start, from, to)) {
    const inst = virtualInstance(series, occ);
    const stored = cal.events.get(inst.id);
    if (stored) {
      if (skipExceptions) continue;
      out.push(stored);
      continue;
    }
    if (overlaps(inst, zone, lo, hi)) out.push(inst);
  }
  return out;
}

export function overlaps(ev: StoredEvent, zone: string, lo: number | undefined, hi: number | undefined): boolean {
  const s = whenMs(ev.start, zone);
  const e = whenMs(ev.end, zone);
  return (lo === undefined || e > lo) && (hi === undefined || s < hi);
}

/**
 * Finds an event by id: a stored event, or an unmodified instance `<seriesId>_<stamp>` of a stored series (checked
 * against the rule, so an id for a date the series does not have is 404 like Google's).
 */
export function findEvent(cal: CalendarData, id: string): StoredEvent | undefined {
  const stored = cal.events.get(id);
  if (stored) return stored;
  const us = id.lastIndexOf('_');
  if (us < 0) return undefined;
  const series = cal.events.get(id.slice(0, us));
  const stamp = parseInstanceStamp(id.slice(us + 1));
  if (!series || !isSeries(series) || !stamp || stamp.allDay !== series.start.allDay) return undefined;
  const at = stamp.allDay ? whenMs({ allDay: true, date: stamp.date }, 'UTC') : stamp.ms;
  const candidates = occurrences(series.parsedRecurrence!, series.start, at - DAY_MS, at + DAY_MS);
  const occ = candidates.find((c) => `${series.id}_${instanceStamp(c)}` === id);
  return occ ? virtualInstance(series, occ) : undefined;
}
