/**
 * Calendar behaviours where Google's documentation is silent or contradicts what people observe. Each is a setting
 * with a documented default, kept in module data (so `POST /emulator/v1/reset` restores the defaults) and changed
 * with `PUT /emulator/v1/calendar/settings` (a partial object; unknown keys are refused).
 */
import { isValidZone } from './time';

/**
 * Parameters of a full events.list whose presence leaves out `nextSyncToken`. Google documents only that these
 * cannot be *combined* with a syncToken (v3.d.ts); people report the token missing after full listings that used
 * orderBy [obs googleapis/google-api-php-client#2637, google-api-dotnet-client#610] — docs/google-behaviour.md §3.1
 * calls
 * this safest rule [?]. timeMin is not in it: the sync guide's own sample does a full sync bounded by timeMin.
 */
export const DEFAULT_SYNC_TOKEN_SUPPRESSED_BY = [
  'orderBy',
  'q',
  'timeMax',
  'updatedMin',
  'iCalUID',
  'privateExtendedProperty',
  'sharedExtendedProperty',
] as const;

/**
 * Lifetime of a sync token, seconds of emulator clock. Google: "Sometimes sync tokens are invalidated by the server,
 * for various reasons including token expiration" (sync guide) — no number is published [?]; 30 days is a guess
 * long enough for normal use and short enough that `POST /clock` can exercise the 410.
 */
export const DEFAULT_SYNC_TOKEN_LIFETIME_SECONDS = 30 * 24 * 3600;
/**
 * Channel lifetime when the request gives no `expiration`, and the most Google grants [?] (docs/google-behaviour.md
 * §3.4).
 */
export const DEFAULT_CHANNEL_TTL_SECONDS = 7 * 24 * 3600;
export const MAX_CHANNEL_TTL_SECONDS = 30 * 24 * 3600;

export interface CalendarSettings {
  syncTokenSuppressedBy: string[];
  /**
   * What events.list/instances do with `maxResults` above 2500. The discovery document declares only `minimum: 1`
   * and the parameter text says "The page size can never be larger than 2500 events"; a user asking for 10,000 got
   * 2,500 [obs wanasit/google-calendar#6]. Default `clamp`; `reject` answers 400 invalid instead.
   */
  maxResultsAboveLimit: 'clamp' | 'reject';
  syncTokenLifetimeSeconds: number;
  channelDefaultTtlSeconds: number;
  channelMaxTtlSeconds: number;
  /** time zone of every user's primary calendar unless set per user (`PUT /emulator/v1/users/{email}/calendar`) */
  defaultCalendarTimeZone: string;
}

export function defaultCalendarSettings(): CalendarSettings {
  return {
    syncTokenSuppressedBy: [...DEFAULT_SYNC_TOKEN_SUPPRESSED_BY],
    maxResultsAboveLimit: 'clamp',
    syncTokenLifetimeSeconds: DEFAULT_SYNC_TOKEN_LIFETIME_SECONDS,
    channelDefaultTtlSeconds: DEFAULT_CHANNEL_TTL_SECONDS,
    channelMaxTtlSeconds: MAX_CHANNEL_TTL_SECONDS,
    defaultCalendarTimeZone: 'UTC',
  };
}

/** Applies a partial settings object; throws naming the bad field, the expected value and the received one. */
export function applyCalendarSettings(current: CalendarSettings, patch: unknown): CalendarSettings {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
    throw new Error(`calendar settings must be a JSON object, got ${JSON.stringify(patch)}`);
  }
  const next = { ...current };
  for (const [key, value] of Object.entries(patch)) {
    switch (key) {
      case 'syncTokenSuppressedBy':
        if (!Array.isArray(value) || value.some((v) => typeof v !== 'string'))
          throw new Error(
            `syncTokenSuppressedBy must be an array of events.list parameter names, got ${JSON.stringify(value)}`,
          );
        next.syncTokenSuppressedBy = value as string[];
        break;
      case 'maxResultsAboveLimit':
        if (value !== 'clamp' && value !== 'reject')
          throw new Error(`maxResultsAboveLimit must be "clamp" or "reject", got ${JSON.stringify(value)}`);
        next.maxResultsAboveLimit = value;
        break;
      case 'syncTokenLifetimeSeconds':
      case 'channelDefaultTtlSeconds':
      case 'channelMaxTtlSeconds':
        if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
          throw new Error(`${key} must be a positive number of seconds, got ${JSON.stringify(value)}`);
        next[key] = value;
        break;
      case 'defaultCalendarTimeZone':
        if (typeof value !== 'string' || !isValidZone(value))
          throw new Error(
            `defaultCalendarTimeZone must be an IANA time zone such as "America/New_York", got ${JSON.stringify(value)}`,
          );
        next.defaultCalendarTimeZone = value;
        break;
      default:
        throw new Error(`unknown calendar setting "${key}"; known: ${Object.keys(current).join(', ')}`);
    }
  }
  return next;
}
