/**
 * The calendar event mapper (src/calendar/event.mapper.ts) as pure functions: the CRM's input and patches → Google's
 * event resource (times timed and all-day, time zones, recurrence lines, attendees), Google's event → our Event type,
 * the sort key, and `sameValue` (whether what we wrote is what Google holds). Until now reached only end to end
 * through the emulator. Google's event shape: https://developers.google.com/calendar/api/v3/reference/events.
 */
import { SyncStateEnum } from '../../src/contacts/contact.type';
import { parseDateTime } from '../../src/calendar/date-time.scalar';
import type { EventInput, EventPatch } from '../../src/calendar/event.input';
import {
  googleEventFromInput,
  googlePatch,
  isValidTimeZone,
  sameValue,
  startMs,
  toEventType,
  viewedEvent,
} from '../../src/calendar/event.mapper';

/** Google's event as the mapper types it (whatever module declares that type). */
type GEvent = Parameters<typeof toEventType>[0];

const dt = parseDateTime;
const input = (i: Partial<Omit<EventInput, 'start' | 'end'>> & { start: string; end: string }): EventInput =>
  ({ ...i, start: dt(i.start), end: dt(i.end) }) as EventInput;
const patch = (p: Partial<Omit<EventPatch, 'start' | 'end'>> & { start?: string; end?: string }): EventPatch =>
  ({
    ...p,
    ...(p.start !== undefined ? { start: dt(p.start) } : {}),
    ...(p.end !== undefined ? { end: dt(p.end) } : {}),
  }) as EventPatch;

/** The BAD_USER_INPUT AppError the mapper throws, naming `field`, its message matching `message`. */
const badInput = (field: string, message: RegExp | string = /./) =>
  expect.objectContaining({
    name: 'AppError',
    message: typeof message === 'string' ? expect.stringContaining(message) : expect.stringMatching(message),
    extensions: expect.objectContaining({ code: 'BAD_USER_INPUT', field }),
  });

describe('isValidTimeZone', () => {
  test.each([
    'America/Los_Angeles',
    'UTC',
    'Europe/London',
    'America/Argentina/Buenos_Aires',
    'Etc/GMT+5',
    'Asia/Kolkata',
  ])('%s is an IANA zone', (tz) => {
    expect(isValidTimeZone(tz)).toBe(true);
  });

  test.each([
    '',
    'Mars/Olympus',
    '+05:00',
    '-08:00',
    'America/Los Angeles',
    'America//Denver',
    '../etc/passwd',
    'America/',
    '/UTC',
    'PST8PDT/',
  ])('%j is not', (tz) => {
    expect(isValidTimeZone(tz)).toBe(false);
  });
});

describe('googleEventFromInput: timed events', () => {
  test('the times as written (offset kept), our id, the texts; nothing else in the body', () => {
    const e = googleEventFromInput(
      'abc123',
      input({
        title: 'Showing',
        description: '12 Elm St',
        location: 'Springfield',
        start: '2026-12-24T09:00:00-08:00',
        end: '2026-12-24T10:30:00-08:00',
      }),
    );
    expect(e).toEqual({
      id: 'abc123',
      summary: 'Showing',
      description: '12 Elm St',
      location: 'Springfield',
      start: { dateTime: '2026-12-24T09:00:00-08:00' },
      end: { dateTime: '2026-12-24T10:30:00-08:00' },
    });
  });

  test('absent or null texts are left out of the JSON, not sent as null', () => {
    const e = googleEventFromInput(
      'abc',
      input({ title: null, description: undefined, start: '2026-12-24T09:00:00Z', end: '2026-12-24T10:00:00Z' }),
    );
    expect(JSON.parse(JSON.stringify(e))).toEqual({
      id: 'abc',
      start: { dateTime: '2026-12-24T09:00:00Z' },
      end: { dateTime: '2026-12-24T10:00:00Z' },
    });
  });

  test('a time zone goes on both start and end', () => {
    const e = googleEventFromInput(
      'abc',
      input({ start: '2026-12-24T09:00:00-05:00', end: '2026-12-24T10:00:00-05:00', timeZone: 'America/New_York' }),
    );
    expect([e.start, e.end]).toEqual([
      { dateTime: '2026-12-24T09:00:00-05:00', timeZone: 'America/New_York' },
      { dateTime: '2026-12-24T10:00:00-05:00', timeZone: 'America/New_York' },
    ]);
  });

  test('an unknown time zone is BAD_USER_INPUT naming timeZone and quoting it', () => {
    expect(() =>
      googleEventFromInput(
        'abc',
        input({ start: '2026-12-24T09:00:00Z', end: '2026-12-24T10:00:00Z', timeZone: 'Mars/Olympus' }),
      ),
    ).toThrow(badInput('timeZone', '"Mars/Olympus"'));
  });

  test('end must be after start, compared as instants whatever the offsets', () => {
    // 09:00 in Los Angeles is 17:00Z: an end at 12:00 in New York (17:00Z) is the same instant, 10:00Z is before.
    for (const end of [
      '2026-12-24T09:00:00-08:00',
      '2026-12-24T12:00:00-05:00',
      '2026-12-24T10:00:00Z',
      '2026-12-24T08:00:00-08:00',
    ]) {
      expect(() => googleEventFromInput('abc', input({ start: '2026-12-24T09:00:00-08:00', end }))).toThrow(
        badInput('end', `end (${end}) must be after start (2026-12-24T09:00:00-08:00)`),
      );
    }
    // 17:00:01Z is after: wall clock earlier, instant later.
    expect(
      googleEventFromInput('abc', input({ start: '2026-12-24T09:00:00-08:00', end: '2026-12-24T12:00:01-05:00' })).end,
    ).toEqual({ dateTime: '2026-12-24T12:00:01-05:00' });
  });
});

describe('googleEventFromInput: all-day events', () => {
  test('the dates as written, never shifted by the offset (23:00 in Los Angeles on the 24th is the 25th in UTC)', () => {
    const e = googleEventFromInput(
      'abc',
      input({ allDay: true, start: '2026-12-24T23:00:00-08:00', end: '2026-12-26T23:00:00-08:00' }),
    );
    expect([e.start, e.end]).toEqual([{ date: '2026-12-24' }, { date: '2026-12-26' }]);
  });

  test.each([
    ['2026-12-24', '2026-12-25'],
    ['2026-12-31', '2027-01-01'],
    ['2028-02-28', '2028-02-29'],
    ['2027-02-28', '2027-03-01'],
  ])('an end on the start day (%s) means that one day: the end becomes %s', (day, next) => {
    const e = googleEventFromInput('abc', input({ allDay: true, start: `${day}T00:00:00Z`, end: `${day}T00:00:00Z` }));
    expect([e.start, e.end]).toEqual([{ date: day }, { date: next }]);
  });

  test('an end date before the start date is BAD_USER_INPUT naming end', () => {
    expect(() =>
      googleEventFromInput('abc', input({ allDay: true, start: '2026-12-24T00:00:00Z', end: '2026-12-23T23:59:59Z' })),
    ).toThrow(badInput('end', 'end (2026-12-23) is before start (2026-12-24)'));
  });

  test('a time zone goes on both dates; an unknown one is refused as for timed events', () => {
    const e = googleEventFromInput(
      'abc',
      input({ allDay: true, start: '2026-12-24T00:00:00Z', end: '2026-12-25T00:00:00Z', timeZone: 'Europe/Paris' }),
    );
    expect([e.start, e.end]).toEqual([
      { date: '2026-12-24', timeZone: 'Europe/Paris' },
      { date: '2026-12-25', timeZone: 'Europe/Paris' },
    ]);
    expect(() =>
      googleEventFromInput(
        'abc',
        input({ allDay: true, start: '2026-12-24T00:00:00Z', end: '2026-12-25T00:00:00Z', timeZone: 'Paris' }),
      ),
    ).toThrow(badInput('timeZone'));
  });
});

describe('googleEventFromInput: recurrence', () => {
  const timed = { start: '2026-12-24T09:00:00-05:00', end: '2026-12-24T10:00:00-05:00' };

  test('a timed series needs a time zone; with one, its lines go as written (trimmed)', () => {
    expect(() => googleEventFromInput('abc', input({ ...timed, recurrence: ['RRULE:FREQ=WEEKLY;COUNT=10'] }))).toThrow(
      badInput('timeZone', 'A recurring event needs a timeZone'),
    );
    const e = googleEventFromInput(
      'abc',
      input({
        ...timed,
        timeZone: 'America/New_York',
        recurrence: [
          '  RRULE:FREQ=WEEKLY;BYDAY=MO,WE;UNTIL=20271231T000000Z ',
          'EXDATE;TZID=America/New_York:20261230T090000',
        ],
      }),
    );
    expect(e.recurrence).toEqual([
      'RRULE:FREQ=WEEKLY;BYDAY=MO,WE;UNTIL=20271231T000000Z',
      'EXDATE;TZID=America/New_York:20261230T090000',
    ]);
  });

  test('an all-day series needs no time zone (its dates do not move)', () => {
    const e = googleEventFromInput(
      'abc',
      input({
        allDay: true,
        start: '2026-12-24T00:00:00Z',
        end: '2026-12-25T00:00:00Z',
        recurrence: ['RRULE:FREQ=YEARLY'],
      }),
    );
    expect(e.recurrence).toEqual(['RRULE:FREQ=YEARLY']);
  });

  test('an empty recurrence list is no series: no recurrence key, no time zone needed', () => {
    const e = googleEventFromInput('abc', input({ ...timed, recurrence: [] }));
    expect('recurrence' in e).toBe(false);
  });

  test.each([
    'RRULE:FREQ=DAILY',
    'RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=999999',
    'RRULE:FREQ=MONTHLY;BYMONTHDAY=15',
    'RRULE:FREQ=YEARLY;UNTIL=20301231',
    'EXRULE:FREQ=WEEKLY;BYDAY=FR',
    'RDATE;VALUE=DATE:20261224,20261231',
    'EXDATE:20261224T170000Z',
    'exdate:20261224',
  ])('%s is accepted', (line) => {
    expect(
      googleEventFromInput('abc', input({ ...timed, timeZone: 'America/New_York', recurrence: [line] })).recurrence,
    ).toEqual([line]);
  });

  test.each([
    ['FREQ=WEEKLY', 'must start with RRULE:, EXRULE:, RDATE or EXDATE'],
    ['DTSTART:20261224T090000Z', 'must start with RRULE:'],
    ['RRULE:FREQ=WEEKLY;COUNT=0', 'COUNT must be a whole number from 1'],
    ['RRULE:FREQ=WEEKLY;COUNT=', 'COUNT must be a whole number from 1'],
    ['RRULE:FREQ=WEEKLY;COUNT=1000000', 'COUNT must be a whole number from 1'],
    ['RRULE:FREQ=WEEKLY;INTERVAL=-1', 'INTERVAL must be a whole number from 1'],
    ['RRULE:FREQ=WEEKLY;INTERVAL=1.5', 'INTERVAL must be a whole number from 1'],
    ['RRULE:FREQ=WEEKLY;COUNT=3;UNTIL=20271231T000000Z', 'a rule ends by COUNT or UNTIL, not both'],
    ['RRULE:FREQ=FORTNIGHTLY', 'is not a valid rule'],
    ['RRULE:FREQ=WEEKLY;UNTIL=someday', 'is not a valid rule'],
    ['RRULE:FREQ=HOURLY', 'repeats daily at most often'],
    ['RRULE:FREQ=MINUTELY;INTERVAL=30', 'repeats daily at most often'],
    ['EXRULE:FREQ=SECONDLY', 'repeats daily at most often'],
    ['EXDATE:2026-12-24', 'must list dates like 20261224'],
    ['RDATE:20261224T1700', 'must list dates like 20261224'],
    ['EXDATE:20261224,', 'must list dates like 20261224'],
  ])('%s is BAD_USER_INPUT naming recurrence: %s', (line, why) => {
    expect(() =>
      googleEventFromInput(
        'abc',
        input({ ...timed, timeZone: 'America/New_York', recurrence: ['RRULE:FREQ=DAILY', line] }),
      ),
    ).toThrow(badInput('recurrence', why));
  });

  test('a long bad line is quoted cut to 80 characters', () => {
    const line = `X-${'A'.repeat(200)}`;
    let message = '';
    try {
      googleEventFromInput('abc', input({ ...timed, timeZone: 'UTC', recurrence: [line] }));
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain(`"${line.slice(0, 80)}"`);
    expect(message).not.toContain(line.slice(0, 81));
  });
});

describe('googleEventFromInput: attendees', () => {
  test("trimmed, lower-cased, each address once (first occurrence's place); no response status on insert", () => {
    const e = googleEventFromInput(
      'abc',
      input({
        start: '2026-12-24T09:00:00Z',
        end: '2026-12-24T10:00:00Z',
        attendees: [' Ann@Acme.test', 'bob@acme.test', 'ANN@acme.test ', 'cy@acme.test'],
      }),
    );
    expect(e.attendees).toEqual([{ email: 'ann@acme.test' }, { email: 'bob@acme.test' }, { email: 'cy@acme.test' }]);
  });

  test('none, or an empty list: no attendees key (Google keeps its organizer default)', () => {
    for (const attendees of [undefined, null, []])
      expect(
        'attendees' in
          googleEventFromInput('abc', input({ start: '2026-12-24T09:00:00Z', end: '2026-12-24T10:00:00Z', attendees })),
      ).toBe(false);
  });
});

describe('googlePatch', () => {
  const TIMED: GEvent = {
    id: 'ev1',
    etag: '"1"',
    summary: 'Showing',
    description: 'Bring keys',
    location: '12 Elm St',
    start: { dateTime: '2026-12-24T09:00:00-05:00', timeZone: 'America/New_York' },
    end: { dateTime: '2026-12-24T10:00:00-05:00', timeZone: 'America/New_York' },
    attendees: [
      { email: 'Ann@acme.test', responseStatus: 'accepted', displayName: 'Ann' },
      { email: 'bob@acme.test', responseStatus: 'declined' },
    ],
  };
  const ALL_DAY: GEvent = {
    id: 'ev2',
    summary: 'Open house',
    start: { date: '2026-12-24' },
    end: { date: '2026-12-26' },
  };
  const SERIES: GEvent = { ...TIMED, id: 'ev3', recurrence: ['RRULE:FREQ=WEEKLY'] };

  test('an empty patch changes nothing', () => {
    expect(googlePatch(TIMED, patch({}))).toEqual({});
  });

  test('texts: a value is set, null clears (sent as ""), absent is left alone', () => {
    expect(googlePatch(TIMED, patch({ title: 'Closing', description: null }))).toEqual({
      summary: 'Closing',
      description: '',
    });
    expect(googlePatch(TIMED, patch({ location: null }))).toEqual({ location: '' });
  });

  test('attendees: the whole list, normalised; those already invited keep their answer (matched whatever the case), new ones need to act', () => {
    const body = googlePatch(TIMED, patch({ attendees: ['ann@ACME.test', ' cy@acme.test ', 'Cy@acme.test'] }));
    expect(body).toEqual({
      attendees: [
        { email: 'ann@acme.test', responseStatus: 'accepted' },
        { email: 'cy@acme.test', responseStatus: 'needsAction' },
      ],
    });
    expect(googlePatch(TIMED, patch({ attendees: null }))).toEqual({ attendees: [] });
    expect(googlePatch({ ...TIMED, attendees: undefined }, patch({ attendees: ['ann@acme.test'] }))).toEqual({
      attendees: [{ email: 'ann@acme.test', responseStatus: 'needsAction' }],
    });
  });

  test('recurrence: lines checked and trimmed; null or [] ends the series ([] sent)', () => {
    expect(googlePatch(TIMED, patch({ recurrence: [' RRULE:FREQ=DAILY;COUNT=5 '] }))).toEqual({
      recurrence: ['RRULE:FREQ=DAILY;COUNT=5'],
    });
    expect(googlePatch(SERIES, patch({ recurrence: null }))).toEqual({ recurrence: [] });
    expect(googlePatch(SERIES, patch({ recurrence: [] }))).toEqual({ recurrence: [] });
    expect(() => googlePatch(TIMED, patch({ recurrence: ['RRULE:FREQ=HOURLY'] }))).toThrow(badInput('recurrence'));
  });

  test('a new start alone: sent with the current end and zone, both checked', () => {
    expect(googlePatch(TIMED, patch({ start: '2026-12-24T08:00:00-05:00' }))).toEqual({
      start: { dateTime: '2026-12-24T08:00:00-05:00', timeZone: 'America/New_York' },
      end: { dateTime: '2026-12-24T10:00:00-05:00', timeZone: 'America/New_York' },
    });
    expect(() => googlePatch(TIMED, patch({ start: '2026-12-24T11:00:00-05:00' }))).toThrow(
      badInput('end', 'must be after start'),
    );
  });

  test('a new time zone alone: the same times sent again in it; an unknown one refused', () => {
    expect(googlePatch(TIMED, patch({ timeZone: 'America/Chicago' }))).toEqual({
      start: { dateTime: '2026-12-24T09:00:00-05:00', timeZone: 'America/Chicago' },
      end: { dateTime: '2026-12-24T10:00:00-05:00', timeZone: 'America/Chicago' },
    });
    expect(() => googlePatch(TIMED, patch({ timeZone: 'Chicago' }))).toThrow(badInput('timeZone'));
  });

  test('a series keeps needing its time zone: clearing it is refused, unless the same patch ends the series', () => {
    expect(() => googlePatch(SERIES, patch({ timeZone: null }))).toThrow(
      badInput('timeZone', 'A recurring event needs a timeZone'),
    );
    expect(googlePatch(SERIES, patch({ timeZone: null, recurrence: [] }))).toEqual({
      recurrence: [],
      start: { dateTime: '2026-12-24T09:00:00-05:00' },
      end: { dateTime: '2026-12-24T10:00:00-05:00' },
    });
    // Moving a series keeps its zone.
    expect(googlePatch(SERIES, patch({ start: '2026-12-24T08:00:00-05:00' })).start).toEqual({
      dateTime: '2026-12-24T08:00:00-05:00',
      timeZone: 'America/New_York',
    });
  });

  // Found by this test (it failed before the fix): a patch that only adds a recurrence to a timed event without a time
  // zone was let through, Google answered events.patch 400 "Missing time zone definition for start time", and the
  // write stayed FAILED in the outbox instead of being BAD_USER_INPUT at once, as on create.
  test('adding a recurrence to a timed event without a time zone is BAD_USER_INPUT naming timeZone, as on create', () => {
    const noZone: GEvent = {
      id: 'ev4',
      start: { dateTime: '2026-12-24T09:00:00-05:00' },
      end: { dateTime: '2026-12-24T10:00:00-05:00' },
    };
    expect(() => googlePatch(noZone, patch({ recurrence: ['RRULE:FREQ=WEEKLY'] }))).toThrow(
      badInput('timeZone', 'A recurring event needs a timeZone'),
    );
  });

  test("timed → all-day: the current times' dates as written become the dates", () => {
    const late: GEvent = {
      start: { dateTime: '2026-12-24T23:00:00-08:00' },
      end: { dateTime: '2026-12-25T23:30:00-08:00' },
    };
    expect(googlePatch(late, patch({ allDay: true }))).toEqual({
      start: { date: '2026-12-24' },
      end: { date: '2026-12-25' },
    });
  });

  test('all-day: a new end alone is checked against the current start date; the same day means one day', () => {
    expect(googlePatch(ALL_DAY, patch({ end: '2026-12-28T00:00:00Z' }))).toEqual({
      start: { date: '2026-12-24' },
      end: { date: '2026-12-28' },
    });
    expect(googlePatch(ALL_DAY, patch({ end: '2026-12-24T00:00:00Z' }))).toEqual({
      start: { date: '2026-12-24' },
      end: { date: '2026-12-25' },
    });
    expect(() => googlePatch(ALL_DAY, patch({ end: '2026-12-20T00:00:00Z' }))).toThrow(
      badInput('end', 'is before start'),
    );
  });

  test('all-day → timed with new times: dateTimes sent', () => {
    expect(
      googlePatch(ALL_DAY, patch({ allDay: false, start: '2026-12-24T09:00:00Z', end: '2026-12-24T10:00:00Z' })),
    ).toEqual({ start: { dateTime: '2026-12-24T09:00:00Z' }, end: { dateTime: '2026-12-24T10:00:00Z' } });
  });

  test("an event without times (as some of Google's answers are) cannot have one of them changed alone", () => {
    expect(() => googlePatch({ id: 'x' }, patch({ end: '2026-12-24T10:00:00Z' }))).toThrow(
      badInput('start', 'start and end are both needed'),
    );
  });

  test('the event given is not changed', () => {
    const current = structuredClone(TIMED);
    googlePatch(
      current,
      patch({ title: 'X', attendees: ['z@acme.test'], start: '2026-12-24T08:00:00-05:00', timeZone: 'UTC' }),
    );
    expect(current).toEqual(TIMED);
  });
});

describe('startMs', () => {
  test('a timed event: its start instant; an all-day event: its date at 00:00 UTC', () => {
    expect(startMs({ start: { dateTime: '2026-12-24T09:00:00-08:00' } })).toBe(Date.parse('2026-12-24T17:00:00Z'));
    expect(startMs({ start: { date: '2026-12-24', timeZone: 'America/Los_Angeles' } })).toBe(
      Date.parse('2026-12-24T00:00:00Z'),
    );
  });
});

describe('toEventType', () => {
  test('a timed event, every field', () => {
    const e: GEvent = {
      id: 'ev1_20261224T170000Z',
      recurringEventId: 'ev1',
      summary: 'Showing',
      description: 'd',
      location: 'l',
      start: { dateTime: '2026-12-24T09:00:00-08:00', timeZone: 'America/Los_Angeles' },
      end: { dateTime: '2026-12-24T10:00:00-08:00', timeZone: 'America/Los_Angeles' },
      status: 'tentative',
      attendees: [
        { email: 'ann@acme.test', responseStatus: 'accepted', self: true },
        { email: 'bob@acme.test' },
        { displayName: 'no address' },
      ],
      recurrence: ['RRULE:FREQ=WEEKLY'],
      etag: '"3"',
    };
    expect(toEventType(e)).toEqual({
      id: 'ev1_20261224T170000Z',
      googleEventId: 'ev1_20261224T170000Z',
      recurringEventId: 'ev1',
      title: 'Showing',
      description: 'd',
      location: 'l',
      start: new Date('2026-12-24T17:00:00Z'),
      end: new Date('2026-12-24T18:00:00Z'),
      allDay: false,
      startDate: null,
      endDate: null,
      timeZone: 'America/Los_Angeles',
      status: 'tentative',
      attendees: [
        { email: 'ann@acme.test', responseStatus: 'accepted' },
        { email: 'bob@acme.test', responseStatus: 'needsAction' },
      ],
      recurrence: ['RRULE:FREQ=WEEKLY'],
      etag: '"3"',
      syncState: SyncStateEnum.SYNCED,
      syncError: null,
    });
  });

  test('an all-day event: its dates as Google has them, start and end at 00:00 UTC of those dates', () => {
    const t = toEventType({ id: 'ev2', start: { date: '2026-12-24' }, end: { date: '2026-12-26' } });
    expect([t.allDay, t.startDate, t.endDate, t.start, t.end]).toEqual([
      true,
      '2026-12-24',
      '2026-12-26',
      new Date('2026-12-24T00:00:00Z'),
      new Date('2026-12-26T00:00:00Z'),
    ]);
  });

  test('what Google leaves out: null texts, no zone, confirmed, no attendees, no recurrence, no etag', () => {
    const t = toEventType({
      id: 'ev3',
      start: { dateTime: '2026-12-24T09:00:00Z' },
      end: { dateTime: '2026-12-24T10:00:00Z' },
    });
    expect(t).toMatchObject({
      recurringEventId: null,
      title: null,
      description: null,
      location: null,
      timeZone: null,
      status: 'confirmed',
      attendees: [],
      recurrence: [],
      etag: null,
    });
  });

  test('the local row gives the sync state; its error only while not SYNCED', () => {
    const e: GEvent = {
      id: 'ev4',
      start: { dateTime: '2026-12-24T09:00:00Z' },
      end: { dateTime: '2026-12-24T10:00:00Z' },
    };
    expect(toEventType(e, { syncState: 'FAILED', syncError: 'Google refused it' })).toMatchObject({
      syncState: SyncStateEnum.FAILED,
      syncError: 'Google refused it',
    });
    expect(toEventType(e, { syncState: 'PENDING', syncError: null })).toMatchObject({
      syncState: SyncStateEnum.PENDING,
      syncError: null,
    });
    expect(toEventType(e, { syncState: 'SYNCED', syncError: 'an old error' })).toMatchObject({
      syncState: SyncStateEnum.SYNCED,
      syncError: null,
    });
    expect(toEventType(e, null)).toMatchObject({ syncState: SyncStateEnum.SYNCED, syncError: null });
  });
});

describe('sameValue: is what we wrote what Google holds?', () => {
  test('empty is empty however written: undefined, null, "" and []', () => {
    const empties = [undefined, null, '', []];
    for (const a of empties) for (const b of empties) expect(sameValue(a, b)).toBe(true);
    for (const e of empties) {
      expect(sameValue(e, 'x')).toBe(false);
      expect(sameValue('x', e)).toBe(false);
      expect(sameValue(e, [{ email: 'a@x.test' }])).toBe(false);
    }
  });

  test('scalars are compared strictly', () => {
    expect(sameValue('Showing', 'Showing')).toBe(true);
    expect(sameValue('Showing', 'showing')).toBe(false);
    expect(sameValue(1, '1')).toBe(false);
    expect(sameValue(true, true)).toBe(true);
  });

  test('objects: what we sent is found within what Google answers (Google adds keys), a key of ours missing or different is a difference', () => {
    expect(sameValue({ date: '2026-12-24' }, { date: '2026-12-24', timeZone: 'UTC' })).toBe(true);
    expect(sameValue({ date: '2026-12-24', timeZone: 'UTC' }, { date: '2026-12-24' })).toBe(false);
    expect(sameValue({ date: '2026-12-24' }, { date: '2026-12-25' })).toBe(false);
    expect(sameValue({ date: '2026-12-24' }, 'x')).toBe(false);
  });

  test('a dateTime is compared as an instant (Google may write it in another offset); other strings are not', () => {
    expect(
      sameValue(
        { dateTime: '2026-12-24T09:00:00-08:00' },
        { dateTime: '2026-12-24T17:00:00Z', timeZone: 'America/Los_Angeles' },
      ),
    ).toBe(true);
    expect(sameValue({ dateTime: '2026-12-24T09:00:00-08:00' }, { dateTime: '2026-12-24T09:00:00Z' })).toBe(false);
    expect(sameValue({ date: '2026-12-24' }, { date: '2026-12-24T00:00:00Z' })).toBe(false);
  });

  // Our writes lower-case the addresses, and Google answers them lower-cased (as the emulator does).
  test("attendees are matched by address whatever the order, each compared within Google's", () => {
    const ours = [
      { email: 'ann@acme.test', responseStatus: 'accepted' },
      { email: 'bob@acme.test', responseStatus: 'needsAction' },
    ];
    const google = [
      { email: 'bob@acme.test', responseStatus: 'needsAction', displayName: 'Bob' },
      { email: 'ann@acme.test', responseStatus: 'accepted', self: true },
    ];
    expect(sameValue(ours, google)).toBe(true);
    expect(sameValue(ours, [google[0], { ...google[1], responseStatus: 'declined' }])).toBe(false);
    expect(sameValue(ours, [google[0], { email: 'cy@acme.test', responseStatus: 'accepted' }])).toBe(false);
    // Google holding one attendee more (or fewer) is a difference.
    expect(sameValue(ours, [...google, { email: 'organizer@acme.test', organizer: true }])).toBe(false);
    expect(sameValue(ours, [google[0]])).toBe(false);
  });

  test('other lists (recurrence) are compared in order', () => {
    expect(sameValue(['RRULE:FREQ=DAILY', 'EXDATE:20261224'], ['RRULE:FREQ=DAILY', 'EXDATE:20261224'])).toBe(true);
    expect(sameValue(['RRULE:FREQ=DAILY', 'EXDATE:20261224'], ['EXDATE:20261224', 'RRULE:FREQ=DAILY'])).toBe(false);
  });
});

describe('round trips', () => {
  /** What Google answers for an inserted body: its fields plus what Google adds (etag, status, organizer's zone…). */
  const asGoogleHolds = (body: GEvent): GEvent => ({
    ...structuredClone(body),
    etag: '"1"',
    status: 'confirmed',
    htmlLink: 'https://calendar.test/e',
    start: {
      ...body.start,
      ...(body.start?.dateTime ? { dateTime: new Date(body.start.dateTime).toISOString().replace('.000Z', 'Z') } : {}),
    },
    end: {
      ...body.end,
      ...(body.end?.dateTime ? { dateTime: new Date(body.end.dateTime).toISOString().replace('.000Z', 'Z') } : {}),
    },
    ...(body.attendees
      ? {
          attendees: [...body.attendees]
            .reverse()
            .map((a) => ({ ...a, responseStatus: 'needsAction', displayName: a.email })),
        }
      : {}),
  });

  test('input → Google → our Event: the same texts, instants, zone, attendees and recurrence', () => {
    const i = input({
      title: 'Showing',
      location: '12 Elm St',
      start: '2026-12-24T09:00:00-05:00',
      end: '2026-12-24T10:00:00-05:00',
      timeZone: 'America/New_York',
      attendees: ['Bob@acme.test', 'ann@acme.test'],
      recurrence: ['RRULE:FREQ=WEEKLY;COUNT=4'],
    });
    const body = googleEventFromInput('ev1', i);
    const t = toEventType(asGoogleHolds(body));
    expect(t).toMatchObject({
      id: 'ev1',
      title: 'Showing',
      description: null,
      location: '12 Elm St',
      allDay: false,
      timeZone: 'America/New_York',
      recurrence: ['RRULE:FREQ=WEEKLY;COUNT=4'],
      status: 'confirmed',
      etag: '"1"',
    });
    expect([t.start, t.end]).toEqual([i.start.instant, i.end.instant]);
    expect(t.attendees.map((a) => a.email).sort()).toEqual(['ann@acme.test', 'bob@acme.test']);
    // And every field of the body is found in what Google holds (a delivery recognises its own write).
    for (const [k, v] of Object.entries(body))
      expect([k, sameValue(v, (asGoogleHolds(body) as Record<string, unknown>)[k])]).toEqual([k, true]);
  });

  test('an all-day input → Google → our Event: the dates as written, end exclusive', () => {
    const t = toEventType(
      asGoogleHolds(
        googleEventFromInput(
          'ev2',
          input({ allDay: true, start: '2026-12-24T23:00:00-08:00', end: '2026-12-24T23:00:00-08:00' }),
        ),
      ),
    );
    expect([t.allDay, t.startDate, t.endDate]).toEqual([true, '2026-12-24', '2026-12-25']);
  });

  test('a patch applied → our Event shows it; a patch of the values the event already has finds nothing to change', () => {
    const current = asGoogleHolds(
      googleEventFromInput(
        'ev1',
        input({
          title: 'Showing',
          start: '2026-12-24T09:00:00-05:00',
          end: '2026-12-24T10:00:00-05:00',
          timeZone: 'America/New_York',
          attendees: ['ann@acme.test'],
        }),
      ),
    );
    const body = googlePatch(
      current,
      patch({
        title: 'Closing',
        start: '2026-12-24T11:00:00-05:00',
        end: '2026-12-24T12:00:00-05:00',
        attendees: ['ann@acme.test', 'bob@acme.test'],
      }),
    );
    const t = toEventType({ ...current, ...body });
    expect([t.title, t.start, t.end, t.attendees]).toEqual([
      'Closing',
      new Date('2026-12-24T16:00:00Z'),
      new Date('2026-12-24T17:00:00Z'),
      [
        { email: 'ann@acme.test', responseStatus: 'needsAction' },
        { email: 'bob@acme.test', responseStatus: 'needsAction' },
      ],
    ]);

    // The same values again (times in another offset, attendees in another order and case): every field the same.
    const again = googlePatch(
      current,
      patch({
        title: 'Showing',
        start: '2026-12-24T14:00:00Z',
        end: '2026-12-24T15:00:00Z',
        attendees: ['ANN@acme.test'],
        location: null,
      }),
    );
    expect(Object.entries(again).map(([k, v]) => [k, sameValue(v, (current as Record<string, unknown>)[k])])).toEqual(
      Object.keys(again).map((k) => [k, true]),
    );
    // A real change is seen.
    const moved = googlePatch(current, patch({ start: '2026-12-24T09:30:00-05:00' }));
    expect(sameValue(moved.start, current.start)).toBe(false);
  });
});

describe('viewedEvent (what a kept window holds of an event)', () => {
  /** Google's whole Event resource, as events.list answers it (the emulator renders this shape). */
  const full = (over: Partial<GEvent> = {}): GEvent => ({
    kind: 'calendar#event',
    etag: '"3381823776040000"',
    id: 'ev1_20261224T170000Z',
    status: 'confirmed',
    htmlLink: 'https://www.google.com/calendar/event?eid=ZXYxIGFubkBhY21lLnRlc3Q',
    created: '2026-12-01T10:00:00.000Z',
    updated: '2026-12-01T10:00:00.000Z',
    summary: 'Showing',
    description: 'Bring the keys',
    location: '12 Main Street',
    creator: { email: 'ann@acme.test', self: true },
    organizer: { email: 'ann@acme.test', self: true },
    start: { dateTime: '2026-12-24T09:00:00-08:00', timeZone: 'America/Los_Angeles' },
    end: { dateTime: '2026-12-24T10:00:00-08:00', timeZone: 'America/Los_Angeles' },
    recurringEventId: 'ev1',
    originalStartTime: { dateTime: '2026-12-24T09:00:00-08:00', timeZone: 'America/Los_Angeles' },
    iCalUID: 'ev1@google.com',
    sequence: 0,
    attendees: [
      { email: 'ann@acme.test', responseStatus: 'accepted', self: true, organizer: true },
      { email: 'bob@acme.test', displayName: 'Bob' },
      { displayName: 'no address', responseStatus: 'declined' },
    ],
    reminders: { useDefault: true },
    eventType: 'default',
    ...over,
  });

  test.each([
    ['a timed instance of a series', full()],
    ['an all-day event', full({ start: { date: '2026-12-24' }, end: { date: '2026-12-25' } })],
    [
      'a series with its rules',
      full({ recurringEventId: undefined, recurrence: ['RRULE:FREQ=WEEKLY', 'EXDATE:20261231T170000Z'] }),
    ],
    ['a bare one', { id: 'x', start: { date: '2026-12-24' }, end: { date: '2026-12-25' } } as GEvent],
  ])('%s reads in a view as the whole resource does, with none of the fields a view does not read', (_, e) => {
    const { event } = viewedEvent(e);
    expect(toEventType(event)).toEqual(toEventType(e));
    expect(toEventType(event, { syncState: 'PENDING', syncError: null })).toEqual(
      toEventType(e, { syncState: 'PENDING', syncError: null }),
    );
    // A pending patch laid over it (calendar.service.ts overlay) reads the same too.
    const body: GEvent = {
      summary: 'Moved',
      start: { dateTime: '2026-12-26T09:00:00Z' },
      end: { dateTime: '2026-12-26T10:00:00Z' },
    };
    expect(toEventType({ ...event, ...body })).toEqual(toEventType({ ...e, ...body }));
    const defined = (o: object) => Object.keys(o).filter((k) => (o as Record<string, unknown>)[k] !== undefined);
    for (const gone of ['kind', 'htmlLink', 'created', 'updated', 'creator', 'organizer', 'iCalUID', 'reminders'])
      expect(defined(event)).not.toContain(gone);
    expect((event.attendees ?? []).flatMap(defined)).not.toContain('self');
  });

  test('strings that repeat within a window are kept, and weighed, once', () => {
    const seen = new Map<string, string>();
    const first = viewedEvent(full(), seen).text;
    const second = viewedEvent(full({ id: 'ev1_20261231T170000Z' }), seen);
    // the same status, title, place, zone (the first event's end already shared its start's), series and attendees
    // (addresses and answers) weigh 8 each now
    const repeated = ['confirmed', 'Showing', '12 Main Street', 'America/Los_Angeles', 'ev1']
      .concat(['ann@acme.test', 'accepted', 'bob@acme.test', 'declined'])
      .join('').length;
    expect(first - second.text).toBe(repeated);
    expect(toEventType(second.event).attendees).toEqual(toEventType(full()).attendees);
  });

  test("what it weighs is its text: a description's characters count one each", () => {
    const without = viewedEvent(full({ description: undefined })).text;
    expect(viewedEvent(full({ description: 'x'.repeat(1000) })).text - without).toBe(1000);
    // every string kept counts, the attendees' addresses too
    expect(without).toBeGreaterThan(
      ['"3381823776040000"', 'ev1_20261224T170000Z', 'ann@acme.test', 'bob@acme.test', '12 Main Street'].join('')
        .length,
    );
  });
});
