/**
 * What the change feed has told an agent's clients about each event (calendar_known): the latest etag and status it
 * recorded. Every listing records only what differs from it, so a full resync (after Google answers 410 and the
 * sync guide says "clear your store and sync fully") repeats nothing a client already has; deleted events come back
 * in the full listing (showDeleted) and are told as cancelled; what it no longer returns at all is looked up
 * (events.get) and reported cancelled only when Google says it is gone. Without it, a
 * client keeping a local copy kept events deleted while the token was invalid, forever (issue 13, item 5).
 * https://developers.google.com/calendar/api/guides/sync
 */
import type { CalendarKnown } from '../entities';
import type { GoogleEvent } from '../google/calendar';

/**
 * An all-day event's end date is midnight in the calendar's zone: from 14 hours before (UTC+14) to 12 after (UTC-12)
 * midnight UTC; the later bound, with room.
 */
const LATEST_ZONE_MS = 14 * 3600_000;

export type KnownState = Pick<CalendarKnown, 'etag' | 'status' | 'endsAt'>;

export function knownStateOf(e: GoogleEvent): KnownState {
  return { etag: e.etag ?? null, status: e.status ?? 'confirmed', endsAt: endOf(e) };
}

/** True when the feed already holds this version of the event (same etag and status; a cancellation already told). */
export function alreadyKnown(known: KnownState | undefined, e: GoogleEvent): boolean {
  if (!known) return false;
  const status = e.status ?? 'confirmed';
  if (known.status !== status) return false;
  return e.etag ? known.etag === e.etag : status === 'cancelled';
}

/** When the event stops being returned by a listing from `timeMin` (Google filters on the end); null when unknown. */
function endOf(e: GoogleEvent): Date | null {
  if (e.recurrence?.length) return null; // a series: its last instance would take the recurrence rules to find
  const ms = e.end?.dateTime
    ? Date.parse(e.end.dateTime)
    : e.end?.date
      ? Date.parse(`${e.end.date}T00:00:00Z`) + LATEST_ZONE_MS
      : NaN;
  return Number.isNaN(ms) ? null : new Date(ms);
}
