/**
 * Calendar's error bodies (legacy ESF envelope with `errors[]`, built by the core's `apiError`). Texts, domains and
 * locations are from Google's Calendar errors guide (https://developers.google.com/workspace/calendar/api/guides/errors,
 * docs/google-behaviour.md §3.3) unless a line cites an observed response instead.
 *
 * `status` (the google.rpc code name) is not shown in the guide's samples; current responses carry it (§5.1). Where
 * HTTP has no obvious rpc code (409 duplicate, 410) the value is marked [?].
 */
import { apiError, type GoogleApiError } from '../errors';

const invalidArgument = (
  message: string,
  reason: string,
  extra: { domain?: string; location?: string; locationType?: string } = {},
): GoogleApiError => apiError('calendar', { code: 400, status: 'INVALID_ARGUMENT', message, reason, ...extra });

export const calendarError = {
  /** 400 global/badRequest "Bad Request": what Google answers for a malformed timestamp parameter [obs]. */
  badRequest: () => invalidArgument('Bad Request', 'badRequest'),
  /** 400 global/invalid: a bad value ("Invalid resource id value.", "Invalid recurrence rule.", …). */
  invalid: (message: string, location?: string) =>
    invalidArgument(message, 'invalid', location ? { location, locationType: 'parameter' } : {}),
  /** 400 global/required: a missing value ("Missing end time.", "Missing time zone definition for start time."). */
  required: (message: string, location?: string) =>
    invalidArgument(message, 'required', location ? { location, locationType: 'parameter' } : {}),
  /**
   * 400 calendar/timeRangeEmpty "The specified time range is empty." at parameter timeMax — for events.list with
   * timeMin ≥ timeMax, and, with the very same body, for an event whose end is not after its start
   * [obs kewisch/gdata-provider#12: POST …/events answered exactly this].
   */
  timeRangeEmpty: () =>
    invalidArgument('The specified time range is empty.', 'timeRangeEmpty', {
      domain: 'calendar',
      location: 'timeMax',
      locationType: 'parameter',
    }),
  /**
   * 400 orderBy=startTime without singleEvents [obs googleworkspace/java-samples#52: reason invalid, location orderBy].
   */
  orderingUnavailable: () =>
    invalidArgument('The requested ordering is not available for the particular query.', 'invalid', {
      location: 'orderBy',
      locationType: 'parameter',
    }),
  notFound: () => apiError('calendar', { code: 404, status: 'NOT_FOUND', message: 'Not Found', reason: 'notFound' }),
  /** [?] status ALREADY_EXISTS: the guide shows only code, message and reason. */
  duplicate: () =>
    apiError('calendar', {
      code: 409,
      status: 'ALREADY_EXISTS',
      message: 'The requested identifier already exists.',
      reason: 'duplicate',
    }),
  /** [?] status: HTTP 410 has no rpc code of its own; NOT_FOUND as the core's statusError(410) uses. */
  deleted: () =>
    apiError('calendar', { code: 410, status: 'NOT_FOUND', message: 'Resource has been deleted', reason: 'deleted' }),
  fullSyncRequired: () =>
    apiError('calendar', {
      code: 410,
      status: 'NOT_FOUND',
      message: 'Sync token is no longer valid, a full sync is required.',
      reason: 'fullSyncRequired',
      domain: 'calendar',
      location: 'syncToken',
      locationType: 'parameter',
    }),
  conditionNotMet: () =>
    apiError('calendar', {
      code: 412,
      status: 'FAILED_PRECONDITION',
      message: 'Precondition Failed',
      reason: 'conditionNotMet',
      location: 'If-Match',
      locationType: 'header',
    }),
};
