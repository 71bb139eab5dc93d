/**
 * Recurring series through the real @googleapis/calendar client: singleEvents expansion across the 2026-03-08 DST
 * change in America/New_York with an EXDATE and a modified instance, instance ids, events.instances, cancelled
 * instances, all-day events and recurrence validation.
 */
import type { calendar_v3 } from '@googleapis/calendar';
import { RRule } from 'rrule';
import { MAX_RULE_ITERATIONS_PER_REQUEST } from '../src/calendar/recurrence';
import { startEmulator, type RunningEmulator } from '../src/server';
import { EmulatorAdmin, SCOPES, googleClients, googleError, type Tenant } from '../src/testing';

let emu: RunningEmulator;
let admin: EmulatorAdmin;
let t: Tenant;
let cal: calendar_v3.Calendar;
const AGENT = 'agent@series.test';
const NY = 'America/New_York';

beforeAll(async () => {
  emu = await startEmulator();
  admin = new EmulatorAdmin(emu.url);
  t = await admin.tenant('series.test', [AGENT, 'allday@series.test'], [SCOPES.calendar]);
  cal = googleClients(emu.url, t.key, AGENT, [SCOPES.calendar]).calendar;
});
afterAll(() => emu.close());
beforeEach(() => admin.clearRequests());

const MARCH = { timeMin: '2026-02-01T00:00:00-05:00', timeMax: '2026-05-01T00:00:00-04:00' };

describe('weekly series across the DST change (America/New_York, 2026-03-08)', () => {
  let series: calendar_v3.Schema$Event;
  let movedId: string;

  beforeAll(async () => {
    // Thursdays 09:00–10:00 New York, 6 times from 2026-02-26; 03-12 excluded; 03-19 moved to 10:30–11:30.
    series = (
      await cal.events.insert({
        calendarId: 'primary',
        requestBody: {
          summary: 'Team meeting',
          start: { dateTime: '2026-02-26T09:00:00', timeZone: NY },
          end: { dateTime: '2026-02-26T10:00:00', timeZone: NY },
          recurrence: ['RRULE:FREQ=WEEKLY;BYDAY=TH;COUNT=6', `EXDATE;TZID=${NY}:20260312T090000`],
        },
      })
    ).data;
    // 09:00 EDT on 03-19 is 13:00Z: the instance id carries the UTC original start.
    movedId = `${series.id}_20260319T130000Z`;
    const moved = await cal.events.patch({
      calendarId: 'primary',
      eventId: movedId,
      requestBody: {
        summary: 'Team meeting (moved)',
        start: { dateTime: '2026-03-19T10:30:00-04:00' },
        end: { dateTime: '2026-03-19T11:30:00-04:00' },
      },
    });
    expect(moved.data).toMatchObject({
      id: movedId,
      recurringEventId: series.id,
      summary: 'Team meeting (moved)',
      originalStartTime: { dateTime: '2026-03-19T13:00:00Z', timeZone: NY },
      start: { dateTime: '2026-03-19T14:30:00Z', timeZone: NY },
    });
  });

  test('singleEvents: 09:00 local on both sides of the change, EXDATE left out, the moved instance in its new place', async () => {
    const res = await cal.events.list({
      calendarId: 'primary',
      ...MARCH,
      singleEvents: true,
      orderBy: 'startTime',
      timeZone: NY,
    });
    const items = res.data.items!;
    expect(items.map((e) => [e.id, e.start!.dateTime, e.end!.dateTime])).toEqual([
      [`${series.id}_20260226T140000Z`, '2026-02-26T09:00:00-05:00', '2026-02-26T10:00:00-05:00'],
      [`${series.id}_20260305T140000Z`, '2026-03-05T09:00:00-05:00', '2026-03-05T10:00:00-05:00'],
      [movedId, '2026-03-19T10:30:00-04:00', '2026-03-19T11:30:00-04:00'],
      [`${series.id}_20260326T130000Z`, '2026-03-26T09:00:00-04:00', '2026-03-26T10:00:00-04:00'],
      [`${series.id}_20260402T130000Z`, '2026-04-02T09:00:00-04:00', '2026-04-02T10:00:00-04:00'],
    ]);
    for (const e of items) {
      expect(e).toMatchObject({ recurringEventId: series.id, iCalUID: series.iCalUID, start: { timeZone: NY } });
      expect(e.recurrence).toBeUndefined();
    }
    expect(items[0].originalStartTime).toEqual({ dateTime: '2026-02-26T09:00:00-05:00', timeZone: NY });
    expect(items[2].summary).toBe('Team meeting (moved)');
    // In the calendar's own zone (UTC) the wall-clock hour shifts with DST: 14:00Z before, 13:00Z after.
    const utc = (await cal.events.list({ calendarId: 'primary', ...MARCH, singleEvents: true, orderBy: 'startTime' }))
      .data.items!;
    expect(utc.map((e) => e.start!.dateTime)).toEqual([
      '2026-02-26T14:00:00Z',
      '2026-03-05T14:00:00Z',
      '2026-03-19T14:30:00Z',
      '2026-03-26T13:00:00Z',
      '2026-04-02T13:00:00Z',
    ]);
    expect((await admin.requests({ api: 'calendar' })).map((e) => `${e.method} ${e.status}`)).toEqual([
      'calendar.events.list 200',
      'calendar.events.list 200',
    ]);
  });

  test('timeMin/timeMax cut the expansion; without singleEvents the series and its exception are returned as they are', async () => {
    const march = await cal.events.list({
      calendarId: 'primary',
      timeMin: '2026-03-10T00:00:00Z',
      timeMax: '2026-03-27T00:00:00Z',
      singleEvents: true,
      orderBy: 'startTime',
    });
    expect(march.data.items!.map((e) => e.id)).toEqual([movedId, `${series.id}_20260326T130000Z`]);
    const raw = await cal.events.list({ calendarId: 'primary', ...MARCH });
    expect(raw.data.items!.map((e) => e.id)).toEqual([series.id, movedId]);
    expect(raw.data.items![0].recurrence).toEqual([
      'RRULE:FREQ=WEEKLY;BYDAY=TH;COUNT=6',
      `EXDATE;TZID=${NY}:20260312T090000`,
    ]);
    // A window that holds no instance of the series leaves it out.
    expect(
      (
        await cal.events.list({
          calendarId: 'primary',
          timeMin: '2026-03-12T00:00:00Z',
          timeMax: '2026-03-13T00:00:00Z',
        })
      ).data.items,
    ).toEqual([]);
  });

  test('get by instance id; a date the series does not have (the EXDATE, a Wednesday) → 404', async () => {
    const inst = await cal.events.get({ calendarId: 'primary', eventId: `${series.id}_20260305T140000Z` });
    expect(inst.data).toMatchObject({
      recurringEventId: series.id,
      summary: 'Team meeting',
      start: { dateTime: '2026-03-05T14:00:00Z' },
    });
    for (const bad of [`${series.id}_20260312T130000Z`, `${series.id}_20260311T130000Z`, `${series.id}_20260312`]) {
      expect(
        (await googleError(cal.events.get({ calendarId: 'primary', eventId: bad }, { retry: false }))).status,
      ).toBe(404);
    }
  });

  test('events.instances lists the instances in order with the exception in place; deleting one instance cancels only it', async () => {
    const before = (await cal.events.instances({ calendarId: 'primary', eventId: series.id!, timeZone: NY })).data
      .items!;
    expect(before.map((e) => e.start!.dateTime)).toEqual([
      '2026-02-26T09:00:00-05:00',
      '2026-03-05T09:00:00-05:00',
      '2026-03-19T10:30:00-04:00',
      '2026-03-26T09:00:00-04:00',
      '2026-04-02T09:00:00-04:00',
    ]);
    const cancelId = `${series.id}_20260326T130000Z`;
    expect((await cal.events.delete({ calendarId: 'primary', eventId: cancelId })).status).toBe(204);
    expect(
      (await googleError(cal.events.delete({ calendarId: 'primary', eventId: cancelId }, { retry: false }))).status,
    ).toBe(410);
    const after = (await cal.events.list({ calendarId: 'primary', ...MARCH, singleEvents: true, orderBy: 'startTime' }))
      .data.items!;
    expect(after.map((e) => e.id)).not.toContain(cancelId);
    expect(after).toHaveLength(4);
    const withDeleted = (await cal.events.instances({ calendarId: 'primary', eventId: series.id!, showDeleted: true }))
      .data.items!;
    expect(withDeleted.find((e) => e.id === cancelId)).toEqual({
      kind: 'calendar#event',
      etag: expect.any(String),
      id: cancelId,
      status: 'cancelled',
      recurringEventId: series.id,
      originalStartTime: { dateTime: '2026-03-26T13:00:00Z', timeZone: NY },
    });
    const page = await cal.events.instances({ calendarId: 'primary', eventId: series.id!, maxResults: 2 });
    expect(page.data.items).toHaveLength(2);
    expect(page.data.nextPageToken).toBeTruthy();
    expect(
      (await googleError(cal.events.instances({ calendarId: 'primary', eventId: 'nosuchseries' }, { retry: false })))
        .status,
    ).toBe(404);
  });

  test('admin GET shows the series unexpanded plus its stored exceptions', async () => {
    const stored = (await admin.request<Array<Record<string, unknown>>>('GET', `/users/${AGENT}/events`)).body;
    expect(stored.map((e) => [e.id, e.status])).toEqual([
      [series.id, 'confirmed'],
      [movedId, 'confirmed'],
      [`${series.id}_20260326T130000Z`, 'cancelled'],
    ]);
  });

  test('deleting the series cancels it and its exceptions', async () => {
    await cal.events.delete({ calendarId: 'primary', eventId: series.id! });
    expect((await cal.events.list({ calendarId: 'primary', ...MARCH, singleEvents: true })).data.items).toEqual([]);
    expect((await cal.events.get({ calendarId: 'primary', eventId: movedId })).data.status).toBe('cancelled');
    expect(
      (await googleError(cal.events.instances({ calendarId: 'primary', eventId: series.id! }, { retry: false })))
        .status,
    ).toBe(410);
  });
});

describe('RDATE, open-ended rules and UNTIL', () => {
  test('RDATE adds an instance; an UNTIL in UTC ends the series; an open-ended daily rule expands within the window', async () => {
    const s = (
      await cal.events.insert({
        calendarId: 'primary',
        requestBody: {
          summary: 'Open house',
          start: { dateTime: '2026-06-06T13:00:00', timeZone: 'America/Chicago' },
          end: { dateTime: '2026-06-06T15:00:00', timeZone: 'America/Chicago' },
          recurrence: ['RRULE:FREQ=WEEKLY;UNTIL=20260620T180000Z', 'RDATE;TZID=America/Chicago:20260610T170000'],
        },
      })
    ).data;
    const items = (
      await cal.events.list({
        calendarId: 'primary',
        timeMin: '2026-06-01T00:00:00Z',
        timeMax: '2026-07-01T00:00:00Z',
        singleEvents: true,
        orderBy: 'startTime',
        q: 'Open house',
      })
    ).data.items!;
    expect(items.map((e) => e.start!.dateTime)).toEqual([
      '2026-06-06T18:00:00Z',
      '2026-06-10T22:00:00Z',
      '2026-06-13T18:00:00Z',
      '2026-06-20T18:00:00Z',
    ]);
    expect(items.every((e) => e.recurringEventId === s.id)).toBe(true);

    await cal.events.insert({
      calendarId: 'primary',
      requestBody: {
        summary: 'Standup',
        start: { dateTime: '2026-01-05T09:00:00', timeZone: 'UTC' },
        end: { dateTime: '2026-01-05T09:15:00', timeZone: 'UTC' },
        recurrence: ['RRULE:FREQ=DAILY'],
      },
    });
    const week = (
      await cal.events.list({
        calendarId: 'primary',
        timeMin: '2030-01-07T00:00:00Z',
        timeMax: '2030-01-14T00:00:00Z',
        singleEvents: true,
        q: 'Standup',
      })
    ).data.items!;
    expect(week).toHaveLength(7);
  });

  test.each([
    ['no FREQ', ['RRULE:BYDAY=MO']],
    ['an unknown FREQ', ['RRULE:FREQ=FORTNIGHTLY']],
    ['COUNT and UNTIL together', ['RRULE:FREQ=DAILY;COUNT=3;UNTIL=20260701']],
    ['a bad BYDAY', ['RRULE:FREQ=WEEKLY;BYDAY=XX']],
    ['an unknown rule part', ['RRULE:FREQ=DAILY;FOO=1']],
    ['a line that is not a rule', ['FREQ=DAILY']],
    ['a bad EXDATE', ['RRULE:FREQ=DAILY', 'EXDATE:tomorrow']],
    ['not a list', 'RRULE:FREQ=DAILY'],
    // Google Calendar repeats at most daily.
    ['FREQ=HOURLY', ['RRULE:FREQ=HOURLY']],
    ['FREQ=MINUTELY', ['RRULE:FREQ=MINUTELY;COUNT=5']],
    ['FREQ=SECONDLY', ['RRULE:FREQ=SECONDLY;INTERVAL=30']],
    ['an EXRULE with FREQ=HOURLY', ['RRULE:FREQ=DAILY', 'EXRULE:FREQ=HOURLY']],
  ])('%s → 400 "Invalid recurrence rule."', async (_label, recurrence) => {
    const e = await googleError(
      cal.events.insert({
        calendarId: 'primary',
        requestBody: {
          start: { dateTime: '2026-07-01T09:00:00', timeZone: NY },
          end: { dateTime: '2026-07-01T10:00:00', timeZone: NY },
          recurrence: recurrence as string[],
        },
      }),
    );
    expect(e.status).toBe(400);
    expect(e.data.error).toMatchObject({
      code: 400,
      message: 'Invalid recurrence rule.',
      errors: [{ reason: 'invalid', domain: 'global' }],
    });
  });

  test('a recurring timed event needs start.timeZone → 400 required "Missing time zone definition for start time."', async () => {
    const e = await googleError(
      cal.events.insert({
        calendarId: 'primary',
        requestBody: {
          start: { dateTime: '2026-07-01T09:00:00-04:00' },
          end: { dateTime: '2026-07-01T10:00:00-04:00' },
          recurrence: ['RRULE:FREQ=WEEKLY'],
        },
      }),
    );
    expect(e.data.error).toMatchObject({
      code: 400,
      message: 'Missing time zone definition for start time.',
      errors: [{ reason: 'required' }],
    });
  });
});

describe('incremental sync with singleEvents', () => {
  test('a changed series comes back as its instances; a cancelled instance as a cancelled item with originalStartTime', async () => {
    const c = googleClients(emu.url, t.key, 'allday@series.test', [SCOPES.calendar]).calendar;
    const s = (
      await c.events.insert({
        calendarId: 'primary',
        requestBody: {
          summary: 'Class',
          start: { dateTime: '2026-09-01T18:00:00', timeZone: NY },
          end: { dateTime: '2026-09-01T19:00:00', timeZone: NY },
          recurrence: ['RRULE:FREQ=WEEKLY;COUNT=3'],
        },
      })
    ).data;
    let pageToken: string | undefined;
    let syncToken: string | undefined;
    do {
      const res = await c.events.list({
        calendarId: 'primary',
        singleEvents: true,
        timeMin: '2026-08-01T00:00:00Z',
        pageToken,
      });
      pageToken = res.data.nextPageToken ?? undefined;
      syncToken = res.data.nextSyncToken ?? undefined;
    } while (pageToken);
    await c.events.patch({ calendarId: 'primary', eventId: s.id!, requestBody: { location: 'Room 4' } });
    const inc = (await c.events.list({ calendarId: 'primary', singleEvents: true, syncToken })).data;
    expect(inc.items!.map((e) => [e.id, e.location])).toEqual([
      [`${s.id}_20260901T220000Z`, 'Room 4'],
      [`${s.id}_20260908T220000Z`, 'Room 4'],
      [`${s.id}_20260915T220000Z`, 'Room 4'],
    ]);
    await c.events.delete({ calendarId: 'primary', eventId: `${s.id}_20260908T220000Z` });
    const inc2 = (await c.events.list({ calendarId: 'primary', singleEvents: true, syncToken: inc.nextSyncToken! }))
      .data;
    expect(inc2.items).toEqual([
      {
        kind: 'calendar#event',
        etag: expect.any(String),
        id: `${s.id}_20260908T220000Z`,
        status: 'cancelled',
        recurringEventId: s.id,
        originalStartTime: { dateTime: '2026-09-08T22:00:00Z', timeZone: NY },
      },
    ]);
  });
});

describe('all-day events', () => {
  test('dates stay dates in every response zone; yearly all-day series get _YYYYMMDD instance ids', async () => {
    const c = googleClients(emu.url, t.key, 'allday@series.test', [SCOPES.calendar]).calendar;
    const trip = (
      await c.events.insert({
        calendarId: 'primary',
        requestBody: { summary: 'Conference', start: { date: '2026-03-07' }, end: { date: '2026-03-10' } },
      })
    ).data;
    expect(trip.start).toEqual({ date: '2026-03-07' });
    expect(trip.end).toEqual({ date: '2026-03-10' });
    const bday = (
      await c.events.insert({
        calendarId: 'primary',
        requestBody: {
          summary: 'Birthday',
          start: { date: '2024-03-08' },
          end: { date: '2024-03-09' },
          recurrence: ['RRULE:FREQ=YEARLY'],
        },
      })
    ).data;
    for (const timeZone of ['Pacific/Kiritimati', 'America/Los_Angeles', 'UTC']) {
      const items = (
        await c.events.list({
          calendarId: 'primary',
          timeMin: '2026-03-01T00:00:00Z',
          timeMax: '2026-04-01T00:00:00Z',
          singleEvents: true,
          orderBy: 'startTime',
          timeZone,
        })
      ).data.items!;
      expect(items.map((e) => [e.id, e.start, e.end])).toEqual([
        [trip.id, { date: '2026-03-07' }, { date: '2026-03-10' }],
        [`${bday.id}_20260308`, { date: '2026-03-08' }, { date: '2026-03-09' }],
      ]);
    }
    const inst = await c.events.get({ calendarId: 'primary', eventId: `${bday.id}_20260308` });
    expect(inst.data.originalStartTime).toEqual({ date: '2026-03-08' });
    // All-day events occupy the calendar's local day: a window ending at midnight UTC of 03-07 does not include the
    // trip.
    expect(
      (
        await c.events.list({
          calendarId: 'primary',
          timeMin: '2026-03-06T00:00:00Z',
          timeMax: '2026-03-07T00:00:00Z',
          q: 'Conference',
        })
      ).data.items,
    ).toEqual([]);
    // In a calendar whose zone is Los Angeles, the trip starts at 08:00Z on 03-07.
    expect(
      (await admin.request('PUT', '/users/allday@series.test/calendar', { timeZone: 'America/Los_Angeles' })).status,
    ).toBe(200);
    const la = await c.events.list({
      calendarId: 'primary',
      timeMin: '2026-03-07T07:00:00Z',
      timeMax: '2026-03-07T08:00:00Z',
      q: 'Conference',
    });
    expect(la.data.timeZone).toBe('America/Los_Angeles');
    expect(la.data.items).toEqual([]);
    expect(
      (
        await c.events.list({
          calendarId: 'primary',
          timeMin: '2026-03-07T07:00:00Z',
          timeMax: '2026-03-07T08:00:01Z',
          q: 'Conference',
        })
      ).data.items,
    ).toHaveLength(1);
  });
});

test('a rule generating millions of occurrences is cut off at MAX_RULE_ITERATIONS_PER_REQUEST generated occurrences, whatever the window', async () => {
  // 288 occurrences a day since 1970: ~6 million before 2026. The bound is on occurrences *generated* per rule per
  // request (counted from DTSTART, before the window), not only on the in-window hits, and not on time: the rrule
  // iterator is counted, and the cut shows in what the API returns.
  const minutes = Array.from({ length: 12 }, (_, i) => i * 5).join(',');
  const hours = Array.from({ length: 24 }, (_, i) => i).join(',');
  const series = await cal.events.insert({
    calendarId: 'primary',
    requestBody: {
      summary: 'Dense',
      start: { dateTime: '1970-01-01T00:00:00', timeZone: NY },
      end: { dateTime: '1970-01-01T00:01:00', timeZone: NY },
      recurrence: [
        `RRULE:FREQ=DAILY;BYHOUR=${hours};BYMINUTE=${minutes}`,
        `EXRULE:FREQ=DAILY;BYHOUR=3;BYMINUTE=${minutes}`,
      ],
    },
  });
  const id = series.data.id!;
  // Every occurrence rrule hands to the emulator's iterator, per all() call (one per RRULE/EXRULE expansion).
  const realAll = RRule.prototype.all;
  const generated: number[] = [];
  const spy = jest.spyOn(RRule.prototype, 'all').mockImplementation(function (
    this: RRule,
    iterator?: (d: Date, i: number) => boolean,
  ) {
    const call = generated.push(0) - 1;
    return realAll.call(this, (d: Date, i: number) => {
      generated[call] += 1;
      return iterator ? iterator(d, i) : true;
    });
  });
  try {
    const list = await cal.events.list({
      calendarId: 'primary',
      singleEvents: true,
      q: 'Dense',
      timeMin: '2026-07-01T00:00:00Z',
      timeMax: '2026-07-02T00:00:00Z',
    });
    const inst = await cal.events.instances({
      calendarId: 'primary',
      eventId: id,
      timeMin: '2026-07-01T00:00:00Z',
      timeMax: '2026-07-02T00:00:00Z',
    });
    // 2 requests × (the RRULE and the EXRULE): 4 expansions, each stopped after the cap (+1: the refused one).
    expect(generated).toEqual(Array(4).fill(MAX_RULE_ITERATIONS_PER_REQUEST + 1));
    // Uncut, July 2026 would hold 276 instances; the cut came decades earlier, so there are none.
    expect([list.data.items, inst.data.items]).toEqual([[], []]);
  } finally {
    spy.mockRestore();
  }
  // Where the cut falls: the first 100,000 occurrences are 347 full days (99,936) and the first 64 of 1970-12-14
  // (00:00 to 05:15); less the 12 at 03:xx, 52 instances are left that day.
  expect(MAX_RULE_ITERATIONS_PER_REQUEST).toBe(347 * 288 + 64);
  const cutDay = await cal.events.instances({
    calendarId: 'primary',
    eventId: id,
    timeMin: '1970-12-14T00:00:00-05:00',
    timeMax: '1970-12-15T00:00:00-05:00',
    timeZone: NY,
    maxResults: 2500,
  });
  expect(cutDay.data.items).toHaveLength(52);
  expect(cutDay.data.items!.at(-1)!.start!.dateTime).toBe('1970-12-14T05:15:00-05:00');
  // The day before is whole: 288 occurrences less the 12 at 03:xx.
  const dayBefore = await cal.events.instances({
    calendarId: 'primary',
    eventId: id,
    timeMin: '1970-12-13T00:00:00-05:00',
    timeMax: '1970-12-14T00:00:00-05:00',
    maxResults: 2500,
  });
  expect(dayBefore.data.items).toHaveLength(276);
  // The first day is expanded in full: 288 occurrences less the 12 at 03:xx.
  const first = await cal.events.instances({
    calendarId: 'primary',
    eventId: id,
    timeMax: '1970-01-02T05:00:00Z',
    maxResults: 2500,
  });
  expect(first.data.items).toHaveLength(276);
  await cal.events.delete({ calendarId: 'primary', eventId: id });
});
