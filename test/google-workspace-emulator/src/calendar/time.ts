/**
 * Event times as Calendar API v3 carries them (`EventDateTime`: `date` for all-day events, or `dateTime` with an
 * optional IANA `timeZone`), parsed into instants and rendered back. Reference: the Event resource,
 * https://developers.google.com/workspace/calendar/api/v3/reference/events (start/end/originalStartTime) and the
 * events.list parameter texts in @googleapis/calendar v3.d.ts (timeMin/timeMax/updatedMin).
 *
 * Wall-clock arithmetic goes through luxon so that a 09:00 America/New_York event stays 09:00 local on both sides
 * of a daylight-saving change, and so that a wall-clock time in a DST gap moves forward the way calendars do.
 */
import { DateTime, IANAZone } from 'luxon';
import { calendarError } from './errors';

export interface EventDateTime {
  date?: string | null;
  dateTime?: string | null;
  timeZone?: string | null;
}

/** A parsed start or end: an all-day date, or an instant plus the zone the event's wall clock lives in. */
export type When = { allDay: true; date: string } | { allDay: false; ms: number; zone: string | null };

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?$/;
const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;

export function isValidZone(zone: string): boolean {
  return IANAZone.isValidZone(zone);
}

/**
 * A query timestamp (timeMin, timeMax, updatedMin): "an RFC3339 timestamp with mandatory time zone offset …
 * Milliseconds may be provided but are ignored" (v3.d.ts). Anything else is Google's bare 400 badRequest
 * [obs google-api-java-client#625, google-api-python-client#779: a timeMin without offset → "Bad Request"].
 */
export function parseQueryTimestamp(value: string): number {
  const m = RFC3339.exec(value);
  if (!m || !m[8]) throw calendarError.badRequest();
  const ms = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${m[8].toUpperCase() === 'Z' ? 'Z' : m[8]}`);
  if (Number.isNaN(ms)) throw calendarError.badRequest();
  return ms;
}

/**
 * Parses an event's start/end. `which` names the field in Google's messages ("start", "end"). Rules, with the
 * wording Google answers with:
 *  - exactly one of date/dateTime [?] "Start and end times must either both be date or both be dateTime." is checked
 *    by the caller across start and end; here a missing value is "Missing <which> time." (reason required);
 *  - a dateTime that is not RFC3339 → "Invalid <which> time." (reason invalid) [obs
 * phw198/OutlookGoogleCalendarSync#1196];
 *  - an unknown timeZone → "Invalid time zone definition for <which> time." [obs n8n-io/n8n#2995];
 *  - a dateTime without offset and without timeZone → "Missing time zone definition for <which> time."
 *    (reason required) [obs openclaw/gogcli#347].
 */
export function parseEventTime(v: EventDateTime | undefined | null, which: 'start' | 'end'): When {
  if (!v || typeof v !== 'object' || (!v.date && !v.dateTime)) throw calendarError.required(`Missing ${which} time.`);
  const zone = v.timeZone ?? null;
  if (zone !== null && (typeof zone !== 'string' || !isValidZone(zone))) {
    throw calendarError.invalid(`Invalid time zone definition for ${which} time.`);
  }
  if (v.dateTime) {
    const m = typeof v.dateTime === 'string' ? RFC3339.exec(v.dateTime) : null;
    if (!m) throw calendarError.invalid(`Invalid ${which} time.`);
    const [, y, mo, d, h, mi, s, , off] = m;
    let ms: number;
    if (off) {
      ms = Date.parse(`${y}-${mo}-${d}T${h}:${mi}:${s}${off.toUpperCase() === 'Z' ? 'Z' : off}`);
    } else {
      if (!zone) throw calendarError.required(`Missing time zone definition for ${which} time.`);
      ms = DateTime.fromObject(
        { year: +y, month: +mo, day: +d, hour: +h, minute: +mi, second: +s },
        { zone },
      ).toMillis();
    }
    if (Number.isNaN(ms)) throw calendarError.invalid(`Invalid ${which} time.`);
    return { allDay: false, ms: Math.floor(ms / 1000) * 1000, zone };
  }
  if (typeof v.date !== 'string' || !DATE_ONLY.test(v.date) || !DateTime.fromISO(v.date, { zone: 'UTC' }).isValid) {
    throw calendarError.invalid(`Invalid ${which} time.`);
  }
  return { allDay: true, date: v.date };
}

/** The instant an all-day date begins in `zone` (the calendar's zone: all-day events span local midnights). */
export function dateStartMs(date: string, zone: string): number {
  return DateTime.fromISO(date, { zone }).startOf('day').toMillis();
}

/** The instant a `When` stands for, all-day dates taken at midnight in the calendar's zone. */
export function whenMs(w: When, calendarZone: string): number {
  return w.allDay ? dateStartMs(w.date, calendarZone) : w.ms;
}

/**
 * RFC3339 with the offset of `zone`, seconds precision, "Z" for a zero offset (Google writes e.g.
 * "2023-10-02T21:30:00Z" on a UTC calendar and "2021-04-07T08:00:00+07:00" elsewhere).
 */
export function formatInZone(ms: number, zone: string): string {
  const dt = DateTime.fromMillis(ms, { zone });
  return dt.offset === 0 ? dt.toUTC().toFormat("yyyy-MM-dd'T'HH:mm:ss'Z'") : dt.toFormat("yyyy-MM-dd'T'HH:mm:ssZZ");
}

/** Google's timestamps for created/updated: UTC with milliseconds ("2023-10-02T21:06:25.503Z"). */
export function isoMs(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * Renders a stored time for a response: all-day stays `{date}`; a dateTime is written in the response zone (the
 * `timeZone` parameter or the calendar's zone — "Time zone used in the response", v3.d.ts) and keeps the event's own
 * `timeZone` when it has one.
 */
export function renderWhen(w: When, responseZone: string): EventDateTime {
  if (w.allDay) return { date: w.date };
  const out: EventDateTime = { dateTime: formatInZone(w.ms, responseZone) };
  if (w.zone) out.timeZone = w.zone;
  return out;
}

/** The suffix of an instance id: `YYYYMMDDTHHMMSSZ` of the original start in UTC, `YYYYMMDD` for all-day. */
export function instanceStamp(w: When): string {
  if (w.allDay) return w.date.replace(/-/g, '');
  return DateTime.fromMillis(w.ms, { zone: 'UTC' }).toFormat("yyyyMMdd'T'HHmmss'Z'");
}

/** Inverse of instanceStamp, for looking an instance id up. */
export function parseInstanceStamp(
  stamp: string,
): { allDay: true; date: string } | { allDay: false; ms: number } | undefined {
  let m = /^(\d{4})(\d{2})(\d{2})$/.exec(stamp);
  if (m) return { allDay: true, date: `${m[1]}-${m[2]}-${m[3]}` };
  m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(stamp);
  if (m) return { allDay: false, ms: Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) };
  return undefined;
}

/** Adds whole days to an ISO date. */
export function addDays(date: string, days: number): string {
  return DateTime.fromISO(date, { zone: 'UTC' }).plus({ days }).toISODate()!;
}

/** Whole days from date a to date b. */
export function daysBetween(a: string, b: string): number {
  return Math.round(DateTime.fromISO(b, { zone: 'UTC' }).diff(DateTime.fromISO(a, { zone: 'UTC' }), 'days').days);
}

/**
 * "Floating" dates: rrule computes on Dates whose UTC fields are the wall clock of the event's zone, which sidesteps
 * its own time-zone handling; these two convert between real instants and that representation.
 */
export function toFloating(ms: number, zone: string): Date {
  const dt = DateTime.fromMillis(ms, { zone });
  return new Date(Date.UTC(dt.year, dt.month - 1, dt.day, dt.hour, dt.minute, dt.second));
}

export function fromFloating(d: Date, zone: string): number {
  return DateTime.fromObject(
    {
      year: d.getUTCFullYear(),
      month: d.getUTCMonth() + 1,
      day: d.getUTCDate(),
      hour: d.getUTCHours(),
      minute: d.getUTCMinutes(),
      second: d.getUTCSeconds(),
    },
    { zone },
  ).toMillis();
}

export function floatingDate(date: string): Date {
  const [y, m, d] = date.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d));
}

export function floatingToDate(d: Date): string {
  return d.toISOString().slice(0, 10);
}
