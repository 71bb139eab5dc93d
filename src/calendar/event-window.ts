/**
 * A window of the agent's events as a view reads them: Google is asked for the view's range widened to whole UTC days
 * (events.list with singleEvents, recurring series expanded as Google expands them, ordered by start), and each view
 * cuts its exact range out in memory, so views over the same days share one load and one cache entry (RangeCache).
 * A load past its cap of events stops and keeps nothing: the view asks for a shorter range.
 */
import { DateTime } from 'luxon';
import type { CalendarDriver, GoogleEvent, GoogleEventDateTime } from '../google/calendar';
import { viewedEvent } from './event.mapper';

/**
 * Google is asked for the range widened to whole UTC days, and each view keeps its exact range in memory: views whose
 * ranges touch the same days (the same month asked again with `from` 1 ms later, "the year around now" asked all day)
 * share one load and one cache entry instead of each being a new key.
 */
const VIEW_GRID_MS = 86_400_000;

/** One window as Google listed it, or the mark that it holds more events than a view may load (then nothing held). */
export interface LoadedWindow {
  /** what a view reads of each event (viewedEvent) */
  events: GoogleEvent[];
  /** the text of the events, what keeping the window weighs */
  text: number;
  /**
   * start and end instants of events[i] at 2i and 2i + 1, all-day dates in the calendar's time zone as Google reads
   * them
   */
  spans: Float64Array;
  overCap: boolean;
}

/** The window Google is asked for: [from, to) widened to whole UTC days, as events.list's timeMin and timeMax. */
export function windowOf(from: number, to: number): { timeMin: string; timeMax: string } {
  return {
    timeMin: new Date(Math.floor(from / VIEW_GRID_MS) * VIEW_GRID_MS).toISOString(),
    timeMax: new Date(Math.ceil(to / VIEW_GRID_MS) * VIEW_GRID_MS).toISOString(),
  };
}

/**
 * Google's events of the window, all pages, or the mark that there are more than `cap` (then none kept). `cap` is the
 * most events one view loads (CALENDAR_MAX_EVENTS_PER_VIEW, default 10,000), counted over the whole UTC days its range
 * touches (VIEW_GRID_MS). A load stops at the first page past it and the view answers BAD_USER_INPUT ("ask for a
 * shorter range") instead of a partial list: totalCount, the order and the cursors all need the whole range. 10,000
 * events is four full pages; a busy agent's year at 20 events a day is 7,300. A load holds what a view reads of each
 * event (viewedEvent, ~0.55 KB of heap) and one page of Google's whole events (~1.2 KB each): at most ~10 MiB;
 * without the cap a 366-day range of 200 daily series was ~73,600 whole events (~100 MiB) in one array, per view.
 */
export async function loadWindow(
  cal: CalendarDriver,
  timeMin: string,
  timeMax: string,
  cap: number,
): Promise<LoadedWindow> {
  const events: GoogleEvent[] = [];
  let text = 0;
  const seen = new Map<string, string>(); // strings kept once for the whole window (viewedEvent)
  let zone: string | null = null;
  // maxResults stays the same on every page (whether a page token outlives a changed query is not documented),
  // so a load holds at most the cap plus one page.
  for await (const page of cal.eventPages({ timeMin, timeMax, singleEvents: true, orderBy: 'startTime' })) {
    zone ??= page.timeZone;
    // Past the cap: no further page, and nothing kept (a partial list would give wrong totals and cursors).
    if (events.length + page.items.length > cap)
      return { events: [], text: 0, spans: new Float64Array(0), overCap: true };
    for (const e of page.items) {
      const viewed = viewedEvent(e, seen);
      events.push(viewed.event);
      text += viewed.text;
    }
  }
  return { events, text, spans: spansOf(events, zone ?? 'UTC'), overCap: false };
}

/**
 * The window's events in [from, to) as Google's events.list picks them for that range: end after timeMin, start
 * before timeMax, milliseconds ignored (docs/google-behaviour.md §3.1), so a view answers what it answered when
 * Google was asked for its exact range.
 */
export function inRange(w: LoadedWindow, from: number, to: number): GoogleEvent[] {
  const lo = Math.floor(from / 1000) * 1000;
  const hi = Math.floor(to / 1000) * 1000;
  return w.events.filter((_, i) => w.spans[2 * i + 1] > lo && w.spans[2 * i] < hi);
}

/**
 * The instant an event's start or end stands for: all-day dates begin at midnight in the calendar's zone, as Google
 * reads them for timeMin/timeMax. (luxon: midnight in an IANA zone, moved forward when a daylight-saving change skips
 * it; an unknown zone reads the date in UTC.)
 */
function instantOf(t: GoogleEventDateTime | undefined, zone: string, midnights: Map<string, number>): number {
  if (t?.dateTime) return Date.parse(t.dateTime);
  const date = t?.date ?? '';
  let ms = midnights.get(date);
  if (ms === undefined) {
    const local = DateTime.fromISO(date, { zone });
    ms = local.isValid ? local.toMillis() : Date.parse(`${date}T00:00:00Z`);
    midnights.set(date, ms);
  }
  return ms;
}

function spansOf(events: GoogleEvent[], zone: string): Float64Array {
  const spans = new Float64Array(events.length * 2);
  const midnights = new Map<string, number>();
  events.forEach((e, i) => {
    spans[2 * i] = instantOf(e.start, zone, midnights);
    spans[2 * i + 1] = instantOf(e.end, zone, midnights);
  });
  return spans;
}
