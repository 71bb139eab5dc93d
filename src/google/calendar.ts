/**
 * The Calendar driver: the only file of the gateway that talks to the Calendar API (and the only one importing
 * `@googleapis/calendar`). One driver acts as one mailbox, the agent the session's token was issued for, on that
 * agent's own calendar (`primary`).
 *
 * It owns what Calendar's API dictates: the client, `primary`, the page size, the event id rules, that our writes
 * send no email to attendees, and the If-Match precondition of a patch. Each method is one Calendar call (callers'
 * call counts are what the tests read from the emulator's request log), except eventPages, which makes one call per
 * page it is asked for, and returns a typed result. Failures are Google's errors, thrown as the client throws them:
 * callers map them with mapGoogleError or GoogleSession.toAppError (google-errors.ts).
 */
import { randomUUID } from 'node:crypto';
import { auth, calendar, type calendar_v3 } from '@googleapis/calendar';
import { bearerAuth, type DriverOptions } from './driver-options';

/** An event as Google's Calendar API v3 shapes it (the `Event` resource). */
export type GoogleEvent = calendar_v3.Schema$Event;
/** An event's start or end: `dateTime` (with an offset) or, all day, `date`. */
export type GoogleEventDateTime = calendar_v3.Schema$EventDateTime;

/**
 * The largest events.list page: "The page size can never be larger than 2500 events" (maxResults, default 250).
 * https://developers.google.com/workspace/calendar/api/v3/reference/events/list
 */
export const CALENDAR_LIST_MAX_RESULTS = 2500;

/**
 * The calendar every call acts on: "To access the primary calendar of the currently logged in user, use the
 * `primary` keyword", i.e. the mailbox the token was issued for (JWT `sub`), so a driver never reaches another one.
 * https://developers.google.com/workspace/calendar/api/v3/reference/events/list
 */
const CALENDAR_ID = 'primary';

/**
 * Our inserts, patches and deletes ask Google to email no attendee (`sendUpdates=none`; the parameter's default
 * depends on the call): the outbox may send one write more than once (a retry after a lost answer), and would then
 * mail the attendees more than once. https://developers.google.com/workspace/calendar/api/v3/reference/events/insert
 */
const SEND_UPDATES = 'none';

/**
 * The longest event id: an id a client chooses must be 5 to 1024 characters of base32hex (a-v, 0-9). Google's own
 * ids are taken up to the same length, in a wider alphabet: an instance of a series is `<series id>_<start>`, e.g.
 * `..._20250101T100000Z`. https://developers.google.com/workspace/calendar/api/v3/reference/events/insert ("id")
 */
const CALENDAR_EVENT_ID_MAX_LENGTH = 1024;
const EVENT_ID = new RegExp(`^[A-Za-z0-9_]{1,${CALENDAR_EVENT_ID_MAX_LENGTH}}$`);

/**
 * The longest channel id events.watch takes (a UUID or a similar unique string of at most 64 characters;
 * docs/google-behaviour.md §3.4): a notification naming a longer one is not from a channel of ours.
 * https://developers.google.com/workspace/calendar/api/guides/push
 */
export const CALENDAR_CHANNEL_ID_MAX_LENGTH = 64;

/**
 * One events.list query. Google asks for the same parameters on every page of one listing (only pageToken changes),
 * and a sync token must be listed with the parameters of the full listing that issued it (showDeleted included).
 * https://developers.google.com/workspace/calendar/api/guides/sync
 */
export interface EventListQuery {
  /** Events per page; CALENDAR_LIST_MAX_RESULTS when not given. */
  maxResults?: number;
  /** An incremental listing: what changed since the listing that returned this token. */
  syncToken?: string;
  /** Events ending after this instant (RFC 3339 with an offset). */
  timeMin?: string;
  /** Events starting before this instant (RFC 3339 with an offset). */
  timeMax?: string;
  /** Cancelled events too. */
  showDeleted?: boolean;
  /** Recurring series expanded into their instances. */
  singleEvents?: boolean;
  /** `startTime` (only with singleEvents). */
  orderBy?: 'startTime';
}

/** One page of events.list. */
export interface EventPage {
  items: GoogleEvent[];
  /** The next page's token; null on the last page. */
  nextPageToken: string | null;
  /** On the last page only: the token of the next incremental listing. */
  nextSyncToken: string | null;
  /** The calendar's time zone (all-day dates are midnight there); null when Google leaves it out. */
  timeZone: string | null;
}

/** A push channel Google opened (events.watch). */
export interface WatchChannel {
  resourceId: string | null;
  /** When Google stops the channel, ms since the epoch (as Google writes it, a decimal string); null when not given. */
  expiration: string | null;
}

/**
 * A new id for an event we create (base32hex: a UUID's 32 lowercase hex digits), so that a retried insert meets 409.
 */
export function newEventId(): string {
  return randomUUID().replace(/-/g, '');
}

/** Whether `id` can be an event's id (ours, Google's, an instance's): letters, digits and `_`, at most 1024. */
export function isEventId(id: string): boolean {
  return EVENT_ID.test(id);
}

export class CalendarDriver {
  private readonly api: calendar_v3.Calendar;

  constructor(options: DriverOptions) {
    this.api = calendar({ version: 'v3', auth: bearerAuth(auth.OAuth2, options), ...options.client });
  }

  /** One page of events.list. */
  async listEvents(query: EventListQuery, pageToken?: string): Promise<EventPage> {
    const res = await this.api.events.list({
      calendarId: CALENDAR_ID,
      ...query,
      maxResults: query.maxResults ?? CALENDAR_LIST_MAX_RESULTS,
      pageToken,
    });
    return {
      items: res.data.items ?? [],
      nextPageToken: res.data.nextPageToken ?? null,
      nextSyncToken: res.data.nextSyncToken ?? null,
      timeZone: res.data.timeZone ?? null,
    };
  }

  /** The pages of one listing, each asked for when the caller takes it (stopping early asks for no further page). */
  async *eventPages(query: EventListQuery): AsyncGenerator<EventPage, void, undefined> {
    let pageToken: string | undefined;
    do {
      const page = await this.listEvents(query, pageToken);
      yield page;
      pageToken = page.nextPageToken ?? undefined;
    } while (pageToken);
  }

  /** events.get: the event as Google has it now (a deleted one may come back `cancelled`). */
  async getEvent(eventId: string): Promise<GoogleEvent> {
    return (await this.api.events.get({ calendarId: CALENDAR_ID, eventId })).data;
  }

  /** events.insert with the id the event carries (an id taken answers 409). */
  async insertEvent(event: GoogleEvent): Promise<GoogleEvent> {
    return (await this.api.events.insert({ calendarId: CALENDAR_ID, requestBody: event, sendUpdates: SEND_UPDATES }))
      .data;
  }

  /**
   * events.patch: the fields given, Google's others left as they are. With `ifMatch` (an etag), only if the event is
   * still that version: otherwise Google answers 412.
   * https://developers.google.com/workspace/calendar/api/guides/version-resources
   */
  async patchEvent(eventId: string, fields: GoogleEvent, ifMatch?: string | null): Promise<GoogleEvent> {
    return (
      await this.api.events.patch(
        { calendarId: CALENDAR_ID, eventId, requestBody: fields, sendUpdates: SEND_UPDATES },
        ifMatch ? { headers: { 'If-Match': ifMatch } } : {},
      )
    ).data;
  }

  /** events.delete (an event already deleted answers 410, one Google never had 404). */
  async deleteEvent(eventId: string): Promise<void> {
    await this.api.events.delete({ calendarId: CALENDAR_ID, eventId, sendUpdates: SEND_UPDATES });
  }

  /** events.watch: a web_hook channel calling `address` with `token` for changes of the calendar's events. */
  async watchEvents(channel: { id: string; address: string; token: string }): Promise<WatchChannel> {
    const res = await this.api.events.watch({
      calendarId: CALENDAR_ID,
      requestBody: { id: channel.id, type: 'web_hook', address: channel.address, token: channel.token },
    });
    return { resourceId: res.data.resourceId ?? null, expiration: res.data.expiration ?? null };
  }

  /** channels.stop: Google stops calling the channel's address. */
  async stopChannel(channel: { id: string; resourceId: string }): Promise<void> {
    await this.api.channels.stop({ requestBody: { id: channel.id, resourceId: channel.resourceId } });
  }
}
