/**
 * Calendar `Event` ↔ the API's Event, and the validation of what the CRM
 * writes. Google's event shape: GoogleEvent (src/google/calendar.ts);
 * docs/google-behaviour.md §3.
 */
import { RRule } from 'rrule';
import { badInput } from '../errors';
import { SyncStateEnum } from '../contacts/contact.type';
import type { CalendarEvent } from '../entities';
import type { GoogleEvent, GoogleEventDateTime } from '../google/calendar';
import type { DateTimeValue } from './date-time.scalar';
import type { EventInput, EventPatch } from './event.input';
import { EventType } from './event.type';

/**
 * Google Calendar does not support recurrence more frequent than daily (see the emulator's recurrence.ts for sources).
 */
const SUPPORTED_FREQ = new Set([RRule.DAILY, RRule.WEEKLY, RRule.MONTHLY, RRule.YEARLY]);

export function isValidTimeZone(tz: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(tz)) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

function checkRecurrence(lines: string[]): string[] {
  return lines.map((raw) => {
    const line = raw.trim();
    const m = /^(RRULE|EXRULE|RDATE|EXDATE)(;[^:]*)?:(.+)$/i.exec(line);
    if (!m)
      throw badInput(`recurrence: "${line.slice(0, 80)}" must start with RRULE:, EXRULE:, RDATE or EXDATE`, {
        field: 'recurrence',
      });
    if (/^(RRULE|EXRULE)$/i.test(m[1])) {
      // What rrule's parser lets through but Google refuses (400 "Invalid recurrence rule", RFC 5545 §3.3.10): caught
      // here, a typed error now, rather than a write that fails in the outbox and stays FAILED.
      const parts = new Map(
        m[3].split(';').map((p) => [p.split('=')[0].toUpperCase(), p.slice(p.indexOf('=') + 1)] as const),
      );
      for (const name of ['COUNT', 'INTERVAL']) {
        const v = parts.get(name);
        if (v !== undefined && !(/^\d{1,6}$/.test(v) && Number(v) >= 1))
          throw badInput(`recurrence: "${line.slice(0, 80)}": ${name} must be a whole number from 1`, {
            field: 'recurrence',
          });
      }
      if (parts.has('COUNT') && parts.has('UNTIL'))
        throw badInput(`recurrence: "${line.slice(0, 80)}": a rule ends by COUNT or UNTIL, not both`, {
          field: 'recurrence',
        });
      let rule: RRule;
      try {
        rule = new RRule(RRule.parseString(m[3]));
      } catch (err) {
        throw badInput(`recurrence: "${line.slice(0, 80)}" is not a valid rule (${(err as Error).message})`, {
          field: 'recurrence',
        });
      }
      if (!SUPPORTED_FREQ.has(rule.options.freq))
        throw badInput(
          `recurrence: "${line.slice(0, 80)}": Google Calendar repeats daily at most often (FREQ=DAILY, WEEKLY, MONTHLY or YEARLY)`,
          { field: 'recurrence' },
        );
    } else if (!/^(\d{8}(T\d{6}Z?)?)(,\d{8}(T\d{6}Z?)?)*$/.test(m[3])) {
      throw badInput(`recurrence: "${line.slice(0, 80)}" must list dates like 20261224 or 20261224T170000Z`, {
        field: 'recurrence',
      });
    }
    return line;
  });
}

interface Times {
  start: DateTimeValue;
  end: DateTimeValue;
  allDay: boolean;
  timeZone: string | null;
}

/** Google's start/end for the CRM's times, checked. */
/**
 * Google refuses a timed series without one (events.insert/patch: 400 "Missing time zone definition for start time").
 */
const needsTimeZone = () =>
  badInput(
    'A recurring event needs a timeZone (an IANA name such as America/New_York), so its times stay put across daylight-saving changes',
    { field: 'timeZone' },
  );

function googleTimes(t: Times, recurring: boolean): Pick<GoogleEvent, 'start' | 'end'> {
  if (t.timeZone !== null && !isValidTimeZone(t.timeZone))
    throw badInput(`timeZone must be an IANA time zone such as America/Los_Angeles (got "${t.timeZone}")`, {
      field: 'timeZone',
    });
  if (t.allDay) {
    // All-day: the dates as written, never shifted by an offset; a same-day end means that one day.
    const startDate = t.start.date;
    let endDate = t.end.date;
    if (endDate === startDate) endDate = addDays(startDate, 1);
    if (endDate < startDate) throw badInput(`end (${t.end.date}) is before start (${t.start.date})`, { field: 'end' });
    return {
      start: { date: startDate, ...(t.timeZone ? { timeZone: t.timeZone } : {}) },
      end: { date: endDate, ...(t.timeZone ? { timeZone: t.timeZone } : {}) },
    };
  }
  if (t.end.instant.getTime() <= t.start.instant.getTime())
    throw badInput(`end (${t.end.raw}) must be after start (${t.start.raw})`, { field: 'end' });
  if (recurring && !t.timeZone) throw needsTimeZone();
  return {
    start: { dateTime: t.start.raw, ...(t.timeZone ? { timeZone: t.timeZone } : {}) },
    end: { dateTime: t.end.raw, ...(t.timeZone ? { timeZone: t.timeZone } : {}) },
  };
}

/** The event resource to insert, with our chosen id. */
export function googleEventFromInput(id: string, input: EventInput): GoogleEvent {
  const recurrence = input.recurrence?.length ? checkRecurrence(input.recurrence) : undefined;
  return {
    id,
    summary: input.title ?? undefined,
    description: input.description ?? undefined,
    location: input.location ?? undefined,
    ...googleTimes(
      { start: input.start, end: input.end, allDay: Boolean(input.allDay), timeZone: input.timeZone ?? null },
      Boolean(recurrence),
    ),
    ...(recurrence ? { recurrence } : {}),
    ...(input.attendees?.length
      ? { attendees: [...new Set(input.attendees.map((a) => a.trim().toLowerCase()))].map((email) => ({ email })) }
      : {}),
  };
}

/** The fields to patch, given the event as it is now. */
export function googlePatch(current: GoogleEvent, patch: EventPatch): GoogleEvent {
  const body: GoogleEvent = {};
  if (patch.title !== undefined) body.summary = patch.title ?? '';
  if (patch.description !== undefined) body.description = patch.description ?? '';
  if (patch.location !== undefined) body.location = patch.location ?? '';
  if (patch.attendees !== undefined)
    body.attendees = [...new Set((patch.attendees ?? []).map((a) => a.trim().toLowerCase()))].map((email) => ({
      email,
      responseStatus: current.attendees?.find((x) => x.email?.toLowerCase() === email)?.responseStatus ?? 'needsAction',
    }));
  const recurring =
    patch.recurrence !== undefined ? Boolean(patch.recurrence?.length) : Boolean(current.recurrence?.length);
  if (patch.recurrence !== undefined)
    body.recurrence = patch.recurrence?.length ? checkRecurrence(patch.recurrence) : [];
  const timesPatched =
    patch.start !== undefined || patch.end !== undefined || patch.allDay !== undefined || patch.timeZone !== undefined;
  // Made recurring with its times as they are: the same rule as on create (the times' own check runs only when
  // patched).
  if (!timesPatched && patch.recurrence?.length) {
    const cur = fromGoogleTimes(current);
    if (!cur.allDay && !cur.timeZone) throw needsTimeZone();
  }
  if (timesPatched) {
    const cur = fromGoogleTimes(current);
    const allDay = patch.allDay ?? cur.allDay;
    const start = patch.start ?? cur.start;
    const end = patch.end ?? cur.end;
    if (!start || !end)
      throw badInput('start and end are both needed to change the times of this event', { field: 'start' });
    Object.assign(
      body,
      googleTimes(
        { start, end, allDay, timeZone: patch.timeZone !== undefined ? patch.timeZone : cur.timeZone },
        recurring,
      ),
    );
  }
  return body;
}

function fromGoogleTimes(e: GoogleEvent): {
  start?: DateTimeValue;
  end?: DateTimeValue;
  allDay: boolean;
  timeZone: string | null;
} {
  const allDay = Boolean(e.start?.date);
  const dt = (x: GoogleEventDateTime | undefined) => {
    if (!x) return undefined;
    const raw = x.dateTime ?? `${x.date}T00:00:00Z`;
    return {
      instant: new Date(raw),
      date: x.date ?? raw.slice(0, 10),
      raw,
      toISOString: () => new Date(raw).toISOString(),
    } as DateTimeValue;
  };
  return { start: dt(e.start), end: dt(e.end), allDay, timeZone: e.start?.timeZone ?? null };
}

/** Sort key of an event: its start instant (all-day: the date at 00:00 UTC). */
export function startMs(e: GoogleEvent): number {
  return new Date(e.start?.dateTime ?? `${e.start?.date}T00:00:00Z`).getTime();
}

/**
 * What a kept window holds of one of Google's events: the fields toEventType, the overlay of our pending writes and
 * the window's spans read, nothing else. Strings that repeat from event to event (statuses, time zones, attendees'
 * addresses and answers, titles and places) are kept once per window through `seen`: a calendar names the same people
 * and places again and again, and each copy JSON.parse makes is a string of its own. For a month of showings with two
 * attendees, Google's whole resource (htmlLink, creator, organizer, iCalUID, reminders, timestamps...) is ~1.2 KB of
 * heap, this ~0.55 KB (measured with `node --expose-gc` over 20,000 events). `text` is what it weighs for the cache's
 * bound: its strings' length, counted at their first sight in `seen`, and 8 for each field holding a string (or none).
 */
export function viewedEvent(e: GoogleEvent, seen = new Map<string, string>()): { event: GoogleEvent; text: number } {
  let text = 0;
  const str = (v: string | null | undefined) => {
    text += typeof v === 'string' ? v.length + 8 : 8;
    return v;
  };
  const once = (v: string | null | undefined) => {
    if (typeof v !== 'string') return str(v);
    const kept = seen.get(v);
    if (kept !== undefined) {
      text += 8;
      return kept;
    }
    seen.set(v, v);
    return str(v);
  };
  const when = (t: GoogleEventDateTime | undefined): GoogleEventDateTime | undefined =>
    t && { date: str(t.date), dateTime: str(t.dateTime), timeZone: once(t.timeZone) };
  const event: GoogleEvent = {
    id: str(e.id),
    etag: str(e.etag),
    status: once(e.status),
    summary: once(e.summary),
    description: str(e.description),
    location: once(e.location),
    start: when(e.start),
    end: when(e.end),
    recurringEventId: once(e.recurringEventId),
    recurrence: e.recurrence?.map(str) as string[] | undefined,
    attendees: e.attendees?.map((a) => ({ email: once(a.email), responseStatus: once(a.responseStatus) })),
  };
  return { event, text };
}

export function toEventType(e: GoogleEvent, local?: Pick<CalendarEvent, 'syncState' | 'syncError'> | null): EventType {
  const allDay = Boolean(e.start?.date);
  // An instance: type-graphql would copy a plain object into one for each field resolver call (syncError).
  return Object.assign(new EventType(), {
    id: e.id!,
    googleEventId: e.id!,
    recurringEventId: e.recurringEventId ?? null,
    title: e.summary ?? null,
    description: e.description ?? null,
    location: e.location ?? null,
    start: new Date(e.start?.dateTime ?? `${e.start?.date}T00:00:00Z`),
    end: new Date(e.end?.dateTime ?? `${e.end?.date}T00:00:00Z`),
    allDay,
    startDate: allDay ? e.start!.date! : null,
    endDate: allDay ? (e.end?.date ?? null) : null,
    timeZone: e.start?.timeZone ?? null,
    status: e.status ?? 'confirmed',
    attendees: (e.attendees ?? [])
      .filter((a) => a.email)
      .map((a) => ({ email: a.email!, responseStatus: a.responseStatus ?? 'needsAction' })),
    recurrence: e.recurrence ?? [],
    etag: e.etag ?? null,
    syncState: local ? SyncStateEnum[local.syncState] : SyncStateEnum.SYNCED,
    syncError: local && local.syncState !== 'SYNCED' ? local.syncError : null,
  });
}

/**
 * Whether a value we wrote is the one Google holds: what we sent is found within what Google answers (Google adds
 * to objects, e.g. a time zone to a start, and to attendees, e.g. `self` or a display name), attendees are matched
 * by address whatever their order, empty is empty however written (a cleared field or list may come back absent), and a
 * start's or an end's time is compared as an instant (Google may write it otherwise).
 */
export function sameValue(ours: unknown, google: unknown): boolean {
  const empty = (v: unknown) => v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0);
  if (empty(ours) || empty(google)) return empty(ours) && empty(google);
  if (Array.isArray(ours) && Array.isArray(google)) {
    const byEmail = (v: unknown) =>
      v && typeof v === 'object' && typeof (v as { email?: unknown }).email === 'string'
        ? (v as { email: string }).email.toLowerCase()
        : undefined;
    if (ours.length !== google.length) return false;
    if (ours.every((o) => byEmail(o) !== undefined))
      return ours.every((o) => google.some((g) => byEmail(g) === byEmail(o) && sameValue(o, g)));
    return ours.every((o, i) => sameValue(o, google[i]));
  }
  if (typeof ours === 'object' && typeof google === 'object' && !Array.isArray(ours) && !Array.isArray(google)) {
    return Object.entries(ours as Record<string, unknown>).every(([k, v]) =>
      k === 'dateTime' && typeof v === 'string' && typeof (google as Record<string, unknown>)[k] === 'string'
        ? Date.parse(v) === Date.parse((google as Record<string, string>)[k])
        : sameValue(v, (google as Record<string, unknown>)[k]),
    );
  }
  return ours === google;
}
