/**
 * Calendar API v3 through the real @googleapis/calendar client: events insert/get/update/patch/delete/list with
 * Google's errors, client-chosen ids, etags (If-Match → 412, If-None-Match → 304), a 1,000-event month view in one
 * call, paging, sync tokens (full → incremental with cancelled events → 410), scopes, quota and the admin routes.
 */
import type { calendar_v3 } from '@googleapis/calendar';
import { startEmulator, type RunningEmulator } from '../src/server';
import { CALENDAR_REQUESTS_PER_USER_PER_MINUTE } from '../src/calendar';
import { EmulatorAdmin, SCOPES, googleClients, googleError, mintToken, rawCall, type Tenant } from '../src/testing';

let emu: RunningEmulator;
let admin: EmulatorAdmin;
let t: Tenant;
const AGENT = 'agent@acme.test';
const OTHER = 'boss@acme.test';
const MONTH = 'month@acme.test';
const SYNC = 'sync@acme.test';
const QUOTA = 'quota@acme.test';
const READONLY = 'https://www.googleapis.com/auth/calendar.readonly';
const EVENTS_READONLY = 'https://www.googleapis.com/auth/calendar.events.readonly';

beforeAll(async () => {
  emu = await startEmulator();
  admin = new EmulatorAdmin(emu.url);
  t = await admin.tenant(
    'acme.test',
    [AGENT, OTHER, MONTH, SYNC, QUOTA],
    [SCOPES.calendar, SCOPES.calendarEvents, READONLY, EVENTS_READONLY, SCOPES.gmailSend],
  );
});
afterAll(() => emu.close());
beforeEach(() => admin.clearRequests());

// One client per (user, scopes): each JWT client mints and caches its own token, as the gateway's broker does.
const clients = new Map<string, calendar_v3.Calendar>();
function calAs(user = AGENT, scopes: string[] = [SCOPES.calendar]): calendar_v3.Calendar {
  const key = `${user}|${scopes.join(' ')}`;
  if (!clients.has(key)) clients.set(key, googleClients(emu.url, t.key, user, scopes).calendar);
  return clients.get(key)!;
}
const calendarLog = async (user?: string) =>
  (await admin.requests({ api: 'calendar', ...(user ? { user } : {}) })).map((e) => `${e.method} ${e.status}`);
const adminEvents = (email: string) =>
  admin.request<Array<Record<string, unknown>>>('GET', `/users/${encodeURIComponent(email)}/events`);
const adminInsert = (email: string, body: unknown) =>
  admin.request<Record<string, unknown>>('POST', `/users/${encodeURIComponent(email)}/events`, body);
const timed = (
  summary: string,
  startIso: string,
  endIso: string,
  extra: calendar_v3.Schema$Event = {},
): calendar_v3.Schema$Event => ({ summary, start: { dateTime: startIso }, end: { dateTime: endIso }, ...extra });

describe('events.insert / get', () => {
  test('insert returns a full Event; get returns the same; the request log counts both', async () => {
    const cal = calAs();
    const ins = await cal.events.insert({
      calendarId: 'primary',
      sendUpdates: 'none',
      requestBody: timed('Showing: 12 Elm St', '2026-04-14T10:00:00-04:00', '2026-04-14T11:00:00-04:00', {
        description: 'Bring keys',
        location: '12 Elm St',
        attendees: [{ email: 'Zoe@Buyer.test' }, { email: AGENT, responseStatus: 'accepted' }],
      }),
    });
    expect(ins.status).toBe(200);
    const ev = ins.data;
    expect(ev).toMatchObject({
      kind: 'calendar#event',
      status: 'confirmed',
      summary: 'Showing: 12 Elm St',
      description: 'Bring keys',
      location: '12 Elm St',
      creator: { email: AGENT, self: true },
      organizer: { email: AGENT, self: true },
      start: { dateTime: '2026-04-14T14:00:00Z' },
      end: { dateTime: '2026-04-14T15:00:00Z' },
      iCalUID: `${ev.id}@google.com`,
      sequence: 0,
      reminders: { useDefault: true },
      eventType: 'default',
      attendees: [
        { email: 'zoe@buyer.test', responseStatus: 'needsAction' },
        { email: AGENT, responseStatus: 'accepted', organizer: true, self: true },
      ],
    });
    expect(ev.id).toMatch(/^[a-v0-9]{26}$/);
    expect(ev.etag).toMatch(/^"\d+"$/);
    expect(ev.htmlLink).toBe(
      `https://www.google.com/calendar/event?eid=${Buffer.from(`${ev.id} ${AGENT}`).toString('base64').replace(/=+$/, '')}`,
    );
    expect(ev.created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

    const got = await cal.events.get({ calendarId: AGENT, eventId: ev.id! });
    expect(got.data).toEqual(ev);
    // timeZone parameter: the same instant written in the caller's zone.
    const ny = await cal.events.get({ calendarId: 'primary', eventId: ev.id!, timeZone: 'America/New_York' });
    expect(ny.data.start).toEqual({ dateTime: '2026-04-14T10:00:00-04:00' });
    expect(await calendarLog()).toEqual([
      'calendar.events.insert 200',
      'calendar.events.get 200',
      'calendar.events.get 200',
    ]);
  });

  test('a start with a timeZone keeps it; the dateTime is written in the calendar zone (UTC) unless timeZone is given', async () => {
    const ev = (
      await calAs().events.insert({
        calendarId: 'primary',
        requestBody: {
          summary: 'Local',
          start: { dateTime: '2026-07-01T09:00:00', timeZone: 'Europe/Paris' },
          end: { dateTime: '2026-07-01T10:00:00', timeZone: 'Europe/Paris' },
        },
      })
    ).data;
    expect(ev.start).toEqual({ dateTime: '2026-07-01T07:00:00Z', timeZone: 'Europe/Paris' });
    const paris = await calAs().events.get({ calendarId: 'primary', eventId: ev.id!, timeZone: 'Europe/Paris' });
    expect(paris.data.start).toEqual({ dateTime: '2026-07-01T09:00:00+02:00', timeZone: 'Europe/Paris' });
  });

  test('client-chosen base32hex id: stored under it; the same id again → 409 duplicate (also after delete)', async () => {
    const cal = calAs();
    const id = 'crm0000000000000000000000000001';
    const first = await cal.events.insert({
      calendarId: 'primary',
      requestBody: { id, ...timed('Idempotent', '2026-05-01T10:00:00Z', '2026-05-01T11:00:00Z') },
    });
    expect(first.data.id).toBe(id);
    const again = await googleError(
      cal.events.insert({
        calendarId: 'primary',
        requestBody: { id, ...timed('Idempotent', '2026-05-01T10:00:00Z', '2026-05-01T11:00:00Z') },
      }),
    );
    expect(again.status).toBe(409);
    expect(again.data.error).toEqual({
      code: 409,
      message: 'The requested identifier already exists.',
      errors: [{ message: 'The requested identifier already exists.', domain: 'global', reason: 'duplicate' }],
      status: 'ALREADY_EXISTS',
    });
    await cal.events.delete({ calendarId: 'primary', eventId: id });
    expect(
      (
        await googleError(
          cal.events.insert({
            calendarId: 'primary',
            requestBody: { id, ...timed('x', '2026-05-01T10:00:00Z', '2026-05-01T11:00:00Z') },
          }),
        )
      ).status,
    ).toBe(409);
    expect((await adminEvents(AGENT)).body.filter((e) => e.id === id)).toHaveLength(1);
    expect(await calendarLog()).toEqual([
      'calendar.events.insert 200',
      'calendar.events.insert 409',
      'calendar.events.delete 204',
      'calendar.events.insert 409',
    ]);
  });

  test.each([
    ['uppercase', 'ABCDEF12345'],
    ['w-z letters', 'wxyz12345'],
    ['a dash (a UUID as is)', '0f8e2a6c-1d4b-4c9e-8f00-000000000000'],
    ['too short', 'abcd'],
    ['too long', 'a'.repeat(1025)],
  ])('an invalid client id (%s) → 400 invalid "Invalid resource id value."', async (_label, id) => {
    const e = await googleError(
      calAs().events.insert({
        calendarId: 'primary',
        requestBody: { id, ...timed('x', '2026-05-01T10:00:00Z', '2026-05-01T11:00:00Z') },
      }),
    );
    expect(e.status).toBe(400);
    expect(e.data.error).toEqual({
      code: 400,
      message: 'Invalid resource id value.',
      errors: [{ message: 'Invalid resource id value.', domain: 'global', reason: 'invalid' }],
      status: 'INVALID_ARGUMENT',
    });
  });

  test('ids of exactly 5 and 1024 base32hex characters are accepted', async () => {
    for (const id of ['a0v9z'.replace('z', 'q'), 'v'.repeat(1024)]) {
      expect(
        (
          await calAs().events.insert({
            calendarId: 'primary',
            requestBody: { id, ...timed('edge', '2026-05-02T10:00:00Z', '2026-05-02T11:00:00Z') },
          })
        ).data.id,
      ).toBe(id);
    }
  });

  test.each<[string, calendar_v3.Schema$Event, number, string, string, string?]>([
    [
      'end before start',
      timed('x', '2026-05-01T11:00:00Z', '2026-05-01T10:00:00Z'),
      400,
      'timeRangeEmpty',
      'The specified time range is empty.',
      'calendar',
    ],
    [
      'end equal to start',
      timed('x', '2026-05-01T11:00:00Z', '2026-05-01T11:00:00Z'),
      400,
      'timeRangeEmpty',
      'The specified time range is empty.',
      'calendar',
    ],
    [
      'an all-day end on the start date',
      { start: { date: '2026-05-01' }, end: { date: '2026-05-01' } },
      400,
      'timeRangeEmpty',
      'The specified time range is empty.',
      'calendar',
    ],
    [
      'an unknown time zone',
      {
        start: { dateTime: '2026-05-01T10:00:00', timeZone: 'Mars/Olympus' },
        end: { dateTime: '2026-05-01T11:00:00', timeZone: 'Mars/Olympus' },
      },
      400,
      'invalid',
      'Invalid time zone definition for start time.',
    ],
    [
      'a dateTime without offset or zone',
      { start: { dateTime: '2026-05-01T10:00:00' }, end: { dateTime: '2026-05-01T11:00:00' } },
      400,
      'required',
      'Missing time zone definition for start time.',
    ],
    [
      'a malformed dateTime',
      { start: { dateTime: 'tomorrow at ten' }, end: { dateTime: '2026-05-01T11:00:00Z' } },
      400,
      'invalid',
      'Invalid start time.',
    ],
    ['no end', { start: { dateTime: '2026-05-01T10:00:00Z' } }, 400, 'required', 'Missing end time.'],
    [
      'date and dateTime mixed',
      { start: { date: '2026-05-01' }, end: { dateTime: '2026-05-01T11:00:00Z' } },
      400,
      'invalid',
      'Start and end times must either both be date or both be dateTime.',
    ],
    [
      'a malformed RRULE',
      {
        ...timed('x', '2026-05-01T10:00:00', '2026-05-01T11:00:00'),
        start: { dateTime: '2026-05-01T10:00:00', timeZone: 'UTC' },
        end: { dateTime: '2026-05-01T11:00:00', timeZone: 'UTC' },
        recurrence: ['RRULE:FREQ=YEARLY;COUNT=-1'],
      },
      400,
      'invalid',
      'Invalid recurrence rule.',
    ],
    [
      'an attendee without email',
      { ...timed('x', '2026-05-01T10:00:00Z', '2026-05-01T11:00:00Z'), attendees: [{ displayName: 'Nobody' }] },
      400,
      'required',
      'Missing attendee email.',
    ],
  ])(
    "validation: %s → 400 with Google's reason and wording",
    async (_label, body, status, reason, message, domain = 'global') => {
      const before = (await adminEvents(AGENT)).body.length;
      const e = await googleError(calAs().events.insert({ calendarId: 'primary', requestBody: body }));
      expect(e.status).toBe(status);
      expect(e.data.error).toMatchObject({
        code: status,
        message,
        status: 'INVALID_ARGUMENT',
        errors: [expect.objectContaining({ reason, message, domain })],
      });
      expect((await adminEvents(AGENT)).body).toHaveLength(before);
    },
  );

  test('sendUpdates must be all, externalOnly or none', async () => {
    const e = await googleError(
      calAs().events.insert({
        calendarId: 'primary',
        sendUpdates: 'everyone',
        requestBody: timed('x', '2026-05-01T10:00:00Z', '2026-05-01T11:00:00Z'),
      }),
    );
    expect(e.data.error).toMatchObject({ code: 400, errors: [{ reason: 'invalid', location: 'sendUpdates' }] });
  });

  test('another calendar id → 404 notFound; an unknown event → 404', async () => {
    const e = await googleError(calAs().events.list({ calendarId: OTHER }));
    expect(e.status).toBe(404);
    expect(e.data.error).toEqual({
      code: 404,
      message: 'Not Found',
      errors: [{ message: 'Not Found', domain: 'global', reason: 'notFound' }],
      status: 'NOT_FOUND',
    });
    expect(
      (await googleError(calAs().events.get({ calendarId: 'primary', eventId: 'nosuchevent0' }, { retry: false })))
        .status,
    ).toBe(404);
    expect(await calendarLog()).toEqual(['calendar.events.list 404', 'calendar.events.get 404']);
  });
});

describe('update / patch / delete with etags', () => {
  test('patch changes only the given fields, bumps etag and updated; update replaces; sequence rises on time changes', async () => {
    const cal = calAs();
    const ev = (
      await cal.events.insert({
        calendarId: 'primary',
        requestBody: timed('Call', '2026-06-01T10:00:00Z', '2026-06-01T10:30:00Z', { description: 'keep me' }),
      })
    ).data;
    const patched = (
      await cal.events.patch({ calendarId: 'primary', eventId: ev.id!, requestBody: { summary: 'Call back' } })
    ).data;
    expect(patched).toMatchObject({ summary: 'Call back', description: 'keep me', sequence: 0, start: ev.start });
    expect(patched.etag).not.toBe(ev.etag);
    const moved = (
      await cal.events.patch({
        calendarId: 'primary',
        eventId: ev.id!,
        requestBody: { end: { dateTime: '2026-06-01T11:00:00Z' } },
      })
    ).data;
    expect(moved).toMatchObject({
      sequence: 1,
      start: { dateTime: '2026-06-01T10:00:00Z' },
      end: { dateTime: '2026-06-01T11:00:00Z' },
    });
    const replaced = (
      await cal.events.update({
        calendarId: 'primary',
        eventId: ev.id!,
        requestBody: timed('Replaced', '2026-06-01T10:00:00Z', '2026-06-01T11:00:00Z'),
      })
    ).data;
    expect(replaced.summary).toBe('Replaced');
    expect(replaced.description).toBeUndefined();
    expect(replaced.created).toBe(ev.created);
    const stale = await googleError(
      cal.events.update({
        calendarId: 'primary',
        eventId: ev.id!,
        requestBody: { ...timed('x', '2026-06-01T10:00:00Z', '2026-06-01T11:00:00Z'), sequence: 0 },
      }),
    );
    expect(stale.data.error).toMatchObject({
      code: 400,
      message:
        'Invalid sequence value. The specified sequence number is below the current sequence number of the resource.',
    });
  });

  test('If-Match with a stale etag → 412 conditionNotMet on patch, update and delete; the current etag succeeds', async () => {
    const cal = calAs();
    const ev = (
      await cal.events.insert({
        calendarId: 'primary',
        requestBody: timed('Etag', '2026-06-02T10:00:00Z', '2026-06-02T11:00:00Z'),
      })
    ).data;
    const v2 = (
      await cal.events.patch(
        { calendarId: 'primary', eventId: ev.id!, requestBody: { summary: 'v2' } },
        { headers: { 'If-Match': ev.etag! } },
      )
    ).data;
    await admin.clearRequests();
    const stale = { headers: { 'If-Match': ev.etag! }, retry: false };
    const e1 = await googleError(
      cal.events.patch({ calendarId: 'primary', eventId: ev.id!, requestBody: { summary: 'lost update' } }, stale),
    );
    expect(e1.status).toBe(412);
    expect(e1.data.error).toEqual({
      code: 412,
      message: 'Precondition Failed',
      errors: [
        {
          message: 'Precondition Failed',
          domain: 'global',
          reason: 'conditionNotMet',
          location: 'If-Match',
          locationType: 'header',
        },
      ],
      status: 'FAILED_PRECONDITION',
    });
    expect(
      (
        await googleError(
          cal.events.update(
            {
              calendarId: 'primary',
              eventId: ev.id!,
              requestBody: timed('x', '2026-06-02T10:00:00Z', '2026-06-02T11:00:00Z'),
            },
            stale,
          ),
        )
      ).status,
    ).toBe(412);
    expect((await googleError(cal.events.delete({ calendarId: 'primary', eventId: ev.id! }, stale))).status).toBe(412);
    expect((await cal.events.get({ calendarId: 'primary', eventId: ev.id! })).data.summary).toBe('v2');
    expect(
      (await cal.events.delete({ calendarId: 'primary', eventId: ev.id! }, { headers: { 'If-Match': v2.etag! } }))
        .status,
    ).toBe(204);
    expect(await calendarLog()).toEqual([
      'calendar.events.patch 412',
      'calendar.events.update 412',
      'calendar.events.delete 412',
      'calendar.events.get 200',
      'calendar.events.delete 204',
    ]);
  });

  test('wire: ETag header on get; If-None-Match with the current etag → 304 without a body', async () => {
    const { access_token } = await mintToken(t.key, AGENT, [SCOPES.calendar]);
    const ev = (
      await calAs().events.insert({
        calendarId: 'primary',
        requestBody: timed('Wire', '2026-06-03T10:00:00Z', '2026-06-03T11:00:00Z'),
      })
    ).data;
    const url = `${emu.url}/calendar/v3/calendars/primary/events/${ev.id}`;
    const plain = await rawCall(url, access_token);
    expect(plain.status).toBe(200);
    expect(plain.headers.get('etag')).toBe(ev.etag);
    const cached = await rawCall(url, access_token, { headers: { 'If-None-Match': ev.etag! } });
    expect(cached.status).toBe(304);
    expect(cached.body).toBeUndefined();
    expect((await rawCall(url, access_token, { headers: { 'If-None-Match': '"0"' } })).status).toBe(200);
    // The client library treats 304 as success.
    expect(
      (await calAs().events.get({ calendarId: 'primary', eventId: ev.id! }, { headers: { 'If-None-Match': ev.etag! } }))
        .status,
    ).toBe(304);
  });

  test('delete → 204; deleting again → 410 deleted; get still returns it as cancelled; unknown → 404', async () => {
    const cal = calAs();
    const ev = (
      await cal.events.insert({
        calendarId: 'primary',
        requestBody: timed('Gone', '2026-06-04T10:00:00Z', '2026-06-04T11:00:00Z'),
      })
    ).data;
    await admin.clearRequests();
    expect((await cal.events.delete({ calendarId: 'primary', eventId: ev.id! })).status).toBe(204);
    const twice = await googleError(cal.events.delete({ calendarId: 'primary', eventId: ev.id! }, { retry: false }));
    expect(twice.status).toBe(410);
    expect(twice.data.error).toEqual({
      code: 410,
      message: 'Resource has been deleted',
      errors: [{ message: 'Resource has been deleted', domain: 'global', reason: 'deleted' }],
      status: 'NOT_FOUND',
    });
    expect((await cal.events.get({ calendarId: 'primary', eventId: ev.id! })).data).toMatchObject({
      id: ev.id,
      status: 'cancelled',
      summary: 'Gone',
    });
    expect(
      (await googleError(cal.events.delete({ calendarId: 'primary', eventId: 'nosuchevent0' }, { retry: false })))
        .status,
    ).toBe(404);
    expect(await calendarLog()).toEqual([
      'calendar.events.delete 204',
      'calendar.events.delete 410',
      'calendar.events.get 200',
      'calendar.events.delete 404',
    ]);
  });
});

describe('events.list', () => {
  test('a month view of 1,000 events is one events.list call (singleEvents, orderBy startTime, maxResults 2500)', async () => {
    // 1,000 events in April 2026 plus some outside the month, added as if made in Google.
    const bodies = Array.from({ length: 1000 }, (_, i) => {
      const day = 1 + (i % 30);
      const minute = Math.floor(i / 30) * 20;
      const start = Date.UTC(2026, 3, day, 8, minute);
      return timed(`Appointment ${i}`, new Date(start).toISOString(), new Date(start + 15 * 60_000).toISOString());
    });
    bodies.push(
      timed('March', '2026-03-31T10:00:00Z', '2026-03-31T11:00:00Z'),
      timed('May', '2026-05-01T00:00:00Z', '2026-05-01T01:00:00Z'),
    );
    for (let i = 0; i < bodies.length; i += 100) {
      const rs = await Promise.all(bodies.slice(i, i + 100).map((b) => adminInsert(MONTH, b)));
      expect(rs.every((r) => r.status === 200)).toBe(true);
    }
    await admin.clearRequests();
    const res = await calAs(MONTH).events.list({
      calendarId: 'primary',
      timeMin: '2026-04-01T00:00:00Z',
      timeMax: '2026-05-01T00:00:00Z',
      singleEvents: true,
      orderBy: 'startTime',
      maxResults: 2500,
    });
    expect(res.data).toMatchObject({
      kind: 'calendar#events',
      summary: MONTH,
      timeZone: 'UTC',
      accessRole: 'owner',
      defaultReminders: [{ method: 'popup', minutes: 10 }],
    });
    expect(res.data.items).toHaveLength(1000);
    expect(res.data.nextPageToken).toBeUndefined();
    const starts = res.data.items!.map((e) => e.start!.dateTime!);
    expect([...starts].sort()).toEqual(starts);
    expect(await calendarLog(MONTH)).toEqual(['calendar.events.list 200']);
  });

  test('timeMin bounds the END and timeMax the START, both exclusive', async () => {
    const cal = calAs(MONTH);
    const list = async (timeMin: string, timeMax: string) =>
      (await cal.events.list({ calendarId: 'primary', timeMin, timeMax, maxResults: 2500 })).data.items!.map(
        (e) => e.summary,
      );
    // "March" is 10:00–11:00 on 03-31: an end equal to timeMin is out, a start equal to timeMax is out.
    expect(await list('2026-03-31T11:00:00Z', '2026-03-31T12:00:00Z')).toEqual([]);
    expect(await list('2026-03-31T10:59:59Z', '2026-03-31T12:00:00Z')).toEqual(['March']);
    expect(await list('2026-03-31T09:00:00Z', '2026-03-31T10:00:00Z')).toEqual([]);
    expect(await list('2026-03-31T09:00:00Z', '2026-03-31T10:00:01Z')).toEqual(['March']);
    // Offsets other than Z are honoured.
    expect(await list('2026-03-31T06:30:00-04:00', '2026-03-31T08:00:00-04:00')).toEqual(['March']);
  });

  test('paging: maxResults 400 over 1,002 events → 3 pages; nextSyncToken only on the last', async () => {
    const cal = calAs(MONTH);
    const seen = new Set<string>();
    let pageToken: string | undefined;
    const pages: calendar_v3.Schema$Events[] = [];
    do {
      const res = await cal.events.list({ calendarId: 'primary', maxResults: 400, pageToken });
      pages.push(res.data);
      for (const e of res.data.items!) seen.add(e.id!);
      pageToken = res.data.nextPageToken ?? undefined;
    } while (pageToken);
    expect(pages.map((p) => p.items!.length)).toEqual([400, 400, 202]);
    expect(seen.size).toBe(1002);
    expect(pages.map((p) => Boolean(p.nextSyncToken))).toEqual([false, false, true]);
    expect(await calendarLog(MONTH)).toEqual([
      'calendar.events.list 200',
      'calendar.events.list 200',
      'calendar.events.list 200',
    ]);
  });

  test('page tokens are opaque and bound to user, calendar and query (syncToken included); forged, mismatched or expired → 400 invalid pageToken', async () => {
    const PAGES = 'pages@acme.test';
    await admin.addDomain('acme.test', [PAGES]);
    const cal = calAs(PAGES);
    const add = (i: number) =>
      cal.events.insert({
        calendarId: 'primary',
        requestBody: timed(`P${i}`, `2026-10-0${i + 1}T10:00:00Z`, `2026-10-0${i + 1}T11:00:00Z`),
      });
    for (let i = 0; i < 5; i++) await add(i);
    const INVALID = 'Invalid page token value.';
    const invalid = async (p: Promise<unknown>) => {
      const e = await googleError(p);
      expect(e.status).toBe(400);
      expect(e.data.error).toEqual({
        code: 400,
        message: INVALID,
        errors: [
          { message: INVALID, domain: 'global', reason: 'invalid', location: 'pageToken', locationType: 'parameter' },
        ],
        status: 'INVALID_ARGUMENT',
      });
    };
    const first = await cal.events.list({ calendarId: 'primary', maxResults: 2 });
    const token = first.data.nextPageToken!;
    // Opaque: nothing a client could decode, edit and send back.
    expect(() => JSON.parse(Buffer.from(token, 'base64url').toString('utf8'))).toThrow();
    await invalid(
      cal.events.list({
        calendarId: 'primary',
        maxResults: 2,
        pageToken: Buffer.from(JSON.stringify({ o: 2, s: 0 })).toString('base64url'),
      }),
    );
    await invalid(cal.events.list({ calendarId: 'primary', maxResults: 2, pageToken: `${token}x` }));
    // Other query parameters than the first call's, another user, another listing (a series' instances).
    await invalid(cal.events.list({ calendarId: 'primary', maxResults: 2, pageToken: token, q: 'P' }));
    await invalid(cal.events.list({ calendarId: 'primary', maxResults: 2, pageToken: token, showDeleted: true }));
    await invalid(calAs(OTHER).events.list({ calendarId: 'primary', maxResults: 2, pageToken: token }));
    // The first call's parameters continue the listing (the page size may change).
    const rest = await cal.events.list({ calendarId: 'primary', maxResults: 3, pageToken: token });
    expect(rest.data.items!.map((e) => e.summary)).toEqual(['P2', 'P3', 'P4']);
    const sync = rest.data.nextSyncToken!;

    // Incremental listing in pages: its page token needs the syncToken of the first call, not a full listing.
    for (let i = 5; i < 8; i++) await add(i);
    const inc1 = await cal.events.list({ calendarId: 'primary', maxResults: 2, syncToken: sync });
    expect(inc1.data.items!.map((e) => e.summary)).toEqual(['P5', 'P6']);
    await invalid(cal.events.list({ calendarId: 'primary', maxResults: 2, pageToken: inc1.data.nextPageToken! }));
    const inc2 = await cal.events.list({
      calendarId: 'primary',
      maxResults: 2,
      syncToken: sync,
      pageToken: inc1.data.nextPageToken!,
    });
    expect(inc2.data.items!.map((e) => e.summary)).toEqual(['P7']);
    expect(inc2.data.nextSyncToken).toBeTruthy();

    // Page tokens expire on the emulator clock (24 h). A fresh token, minted at emulator time, for the call after.
    const again = (await cal.events.list({ calendarId: 'primary', maxResults: 2 })).data.nextPageToken!;
    const clock = await admin.advanceClock(24 * 3600 + 1);
    try {
      const { access_token } = await mintToken(t.key, PAGES, [SCOPES.calendar], {
        iat: Math.floor(Date.parse(clock.now) / 1000),
      });
      const late = await rawCall(
        `${emu.url}/calendar/v3/calendars/primary/events?maxResults=2&pageToken=${encodeURIComponent(again)}`,
        access_token,
      );
      expect(late.status).toBe(400);
      expect((late.body as { error: { message: string } }).error.message).toBe(INVALID);
    } finally {
      await admin.advanceClock(-(24 * 3600 + 1));
    }
  });

  test('events.instances page tokens are bound to their series', async () => {
    const cal = calAs(AGENT);
    const mk = async () =>
      (
        await cal.events.insert({
          calendarId: 'primary',
          requestBody: {
            summary: 'Daily',
            start: { dateTime: '2026-11-01T09:00:00Z', timeZone: 'UTC' },
            end: { dateTime: '2026-11-01T10:00:00Z', timeZone: 'UTC' },
            recurrence: ['RRULE:FREQ=DAILY;COUNT=5'],
          },
        })
      ).data.id!;
    const [a, b] = [await mk(), await mk()];
    const page1 = await cal.events.instances({ calendarId: 'primary', eventId: a, maxResults: 2 });
    const e = await googleError(
      cal.events.instances({ calendarId: 'primary', eventId: b, maxResults: 2, pageToken: page1.data.nextPageToken! }),
    );
    expect(e.status).toBe(400);
    expect(e.data.error.errors![0]).toMatchObject({ reason: 'invalid', location: 'pageToken' });
    const page2 = await cal.events.instances({
      calendarId: 'primary',
      eventId: a,
      maxResults: 2,
      pageToken: page1.data.nextPageToken!,
    });
    expect(page2.data.items!.map((i) => i.originalStartTime!.dateTime)).toEqual([
      '2026-11-03T09:00:00Z',
      '2026-11-04T09:00:00Z',
    ]);
  });

  test('maxResults: default 250; above 2500 clamped to 2500 (setting: reject → 400); 0 → 400', async () => {
    const cal = calAs(MONTH);
    expect((await cal.events.list({ calendarId: 'primary' })).data.items).toHaveLength(250);
    // 1,002 stored events: a page of 2,500 takes them all.
    expect((await cal.events.list({ calendarId: 'primary', maxResults: 5000 })).data.items).toHaveLength(1002);
    await admin.request('PUT', '/calendar/settings', { maxResultsAboveLimit: 'reject' });
    try {
      const e = await googleError(cal.events.list({ calendarId: 'primary', maxResults: 2501 }, { retry: false }));
      expect(e.data.error).toMatchObject({ code: 400, errors: [{ reason: 'invalid', location: 'maxResults' }] });
    } finally {
      await admin.request('PUT', '/calendar/settings', { maxResultsAboveLimit: 'clamp' });
    }
    expect(
      (await googleError(cal.events.list({ calendarId: 'primary', maxResults: 0 }, { retry: false }))).status,
    ).toBe(400);
  });

  test('orderBy=startTime without singleEvents → 400 invalid; orderBy=updated works; unknown orderBy → 400', async () => {
    const cal = calAs(MONTH);
    const e = await googleError(cal.events.list({ calendarId: 'primary', orderBy: 'startTime' }, { retry: false }));
    expect(e.status).toBe(400);
    expect(e.data.error).toEqual({
      code: 400,
      message: 'The requested ordering is not available for the particular query.',
      errors: [
        {
          message: 'The requested ordering is not available for the particular query.',
          domain: 'global',
          reason: 'invalid',
          location: 'orderBy',
          locationType: 'parameter',
        },
      ],
      status: 'INVALID_ARGUMENT',
    });
    const byUpdated = (
      await cal.events.list({ calendarId: 'primary', orderBy: 'updated', maxResults: 2500 })
    ).data.items!.map((i) => i.updated!);
    expect([...byUpdated].sort()).toEqual(byUpdated);
    expect(
      (await googleError(cal.events.list({ calendarId: 'primary', orderBy: 'title' }, { retry: false }))).data.error
        .errors![0].reason,
    ).toBe('invalid');
  });

  test('timeMin ≥ timeMax → 400 timeRangeEmpty; a timestamp without offset → 400 badRequest; a bad timeZone → 400', async () => {
    const cal = calAs(MONTH);
    const empty = await googleError(
      cal.events.list(
        { calendarId: 'primary', timeMin: '2026-04-02T00:00:00Z', timeMax: '2026-04-02T00:00:00Z' },
        { retry: false },
      ),
    );
    expect(empty.data.error).toEqual({
      code: 400,
      message: 'The specified time range is empty.',
      errors: [
        {
          message: 'The specified time range is empty.',
          domain: 'calendar',
          reason: 'timeRangeEmpty',
          location: 'timeMax',
          locationType: 'parameter',
        },
      ],
      status: 'INVALID_ARGUMENT',
    });
    const noOffset = await googleError(
      cal.events.list({ calendarId: 'primary', timeMin: '2026-04-01T00:00:00' }, { retry: false }),
    );
    expect(noOffset.data.error).toEqual({
      code: 400,
      message: 'Bad Request',
      errors: [{ message: 'Bad Request', domain: 'global', reason: 'badRequest' }],
      status: 'INVALID_ARGUMENT',
    });
    expect(
      (await googleError(cal.events.list({ calendarId: 'primary', timeMax: 'soon' }, { retry: false }))).data.error
        .errors![0].reason,
    ).toBe('badRequest');
    expect(
      (await googleError(cal.events.list({ calendarId: 'primary', timeZone: 'Nowhere/Land' }, { retry: false }))).data
        .error.errors![0],
    ).toMatchObject({ reason: 'invalid', location: 'timeZone' });
  });

  test('q matches summary/description/location text; showDeleted shows cancelled events; iCalUID filters', async () => {
    const cal = calAs(OTHER);
    const a = (
      await cal.events.insert({
        calendarId: 'primary',
        requestBody: timed('Closing 9 Oak Ave', '2026-08-01T10:00:00Z', '2026-08-01T11:00:00Z'),
      })
    ).data;
    const b = (
      await cal.events.insert({
        calendarId: 'primary',
        requestBody: timed('Lunch', '2026-08-01T12:00:00Z', '2026-08-01T13:00:00Z', { location: 'Oak Cafe' }),
      })
    ).data;
    await cal.events.delete({ calendarId: 'primary', eventId: b.id! });
    expect((await cal.events.list({ calendarId: 'primary', q: 'oak' })).data.items!.map((e) => e.id)).toEqual([a.id]);
    const withDeleted = (await cal.events.list({ calendarId: 'primary', showDeleted: true })).data.items!;
    expect(withDeleted.find((e) => e.id === b.id)).toEqual({
      kind: 'calendar#event',
      etag: expect.any(String),
      id: b.id,
      status: 'cancelled',
    });
    expect(
      (await cal.events.list({ calendarId: 'primary', iCalUID: a.iCalUID! })).data.items!.map((e) => e.id),
    ).toEqual([a.id]);
  });
});

describe('incremental sync', () => {
  test('full sync → changes (insert, patch, API delete, admin insert, admin patch, admin delete) incl. cancelled → 410 after an invalid token', async () => {
    const cal = calAs(SYNC);
    const keep = (
      await cal.events.insert({
        calendarId: 'primary',
        requestBody: timed('Keep', '2026-09-01T10:00:00Z', '2026-09-01T11:00:00Z'),
      })
    ).data;
    const change = (
      await cal.events.insert({
        calendarId: 'primary',
        requestBody: timed('Change', '2026-09-02T10:00:00Z', '2026-09-02T11:00:00Z'),
      })
    ).data;
    const drop = (
      await cal.events.insert({
        calendarId: 'primary',
        requestBody: timed('Drop', '2026-09-03T10:00:00Z', '2026-09-03T11:00:00Z'),
      })
    ).data;
    const googleSide = (
      await adminInsert(SYNC, timed('Made in Google', '2026-09-04T10:00:00Z', '2026-09-04T11:00:00Z'))
    ).body;

    // Full sync in pages of 2: the sync token arrives with the last page only.
    await admin.clearRequests();
    let pageToken: string | undefined;
    let syncToken: string | undefined;
    const full: string[] = [];
    do {
      const res = await cal.events.list({ calendarId: 'primary', maxResults: 2, pageToken });
      full.push(...res.data.items!.map((e) => e.summary!));
      pageToken = res.data.nextPageToken ?? undefined;
      if (pageToken) expect(res.data.nextSyncToken).toBeUndefined();
      syncToken = res.data.nextSyncToken ?? undefined;
    } while (pageToken);
    expect(full).toEqual(['Keep', 'Change', 'Drop', 'Made in Google']);
    expect(syncToken).toMatch(/^C/);

    // Nothing changed yet.
    const none = await cal.events.list({ calendarId: 'primary', syncToken });
    expect(none.data.items).toEqual([]);
    expect(none.data.nextSyncToken).toBeTruthy();

    const added = (
      await cal.events.insert({
        calendarId: 'primary',
        requestBody: timed('Added', '2026-09-05T10:00:00Z', '2026-09-05T11:00:00Z'),
      })
    ).data;
    await cal.events.patch({ calendarId: 'primary', eventId: change.id!, requestBody: { summary: 'Changed' } });
    await cal.events.delete({ calendarId: 'primary', eventId: drop.id! });
    const adminAdded = (
      await adminInsert(SYNC, timed('Also made in Google', '2026-09-06T10:00:00Z', '2026-09-06T11:00:00Z'))
    ).body;
    expect(
      (await admin.request('PATCH', `/users/${SYNC}/events/${googleSide.id}`, { location: 'Moved in Google' })).status,
    ).toBe(200);

    const inc = await cal.events.list({ calendarId: 'primary', syncToken: none.data.nextSyncToken! });
    const items = inc.data.items!;
    expect(items.map((e) => e.id).sort()).toEqual([added.id, change.id, drop.id, adminAdded.id, googleSide.id].sort());
    expect(items.find((e) => e.id === change.id)!.summary).toBe('Changed');
    expect(items.find((e) => e.id === drop.id)).toEqual({
      kind: 'calendar#event',
      etag: expect.any(String),
      id: drop.id,
      status: 'cancelled',
    });
    expect(items.find((e) => e.id === googleSide.id)!.location).toBe('Moved in Google');
    expect(items.some((e) => e.id === keep.id)).toBe(false);

    // Deleted in Google → cancelled in the next incremental result.
    expect((await admin.request('DELETE', `/users/${SYNC}/events/${keep.id}`)).status).toBe(204);
    const inc2 = await cal.events.list({ calendarId: 'primary', syncToken: inc.data.nextSyncToken! });
    expect(inc2.data.items).toEqual([
      { kind: 'calendar#event', etag: expect.any(String), id: keep.id, status: 'cancelled' },
    ]);

    // A token Google never issued (or one with a byte changed) → 410 fullSyncRequired, Google's exact body.
    const bad = await googleError(
      cal.events.list({ calendarId: 'primary', syncToken: `1${inc2.data.nextSyncToken}` }, { retry: false }),
    );
    expect(bad.status).toBe(410);
    expect(bad.data.error).toEqual({
      code: 410,
      message: 'Sync token is no longer valid, a full sync is required.',
      errors: [
        {
          message: 'Sync token is no longer valid, a full sync is required.',
          domain: 'calendar',
          reason: 'fullSyncRequired',
          location: 'syncToken',
          locationType: 'parameter',
        },
      ],
      status: 'NOT_FOUND',
    });
    // Another user's token is not valid for this calendar.
    const otherToken = (await calAs(OTHER).events.list({ calendarId: 'primary', maxResults: 2500 })).data
      .nextSyncToken!;
    expect(
      (await googleError(cal.events.list({ calendarId: 'primary', syncToken: otherToken }, { retry: false }))).status,
    ).toBe(410);
    expect((await calendarLog(SYNC)).filter((l) => l.startsWith('calendar.events.list'))).toEqual([
      'calendar.events.list 200',
      'calendar.events.list 200',
      'calendar.events.list 200',
      'calendar.events.list 200',
      'calendar.events.list 200',
      'calendar.events.list 410',
      'calendar.events.list 410',
    ]);
  });

  test.each([
    ['timeMin', { timeMin: '2026-01-01T00:00:00Z' }],
    ['timeMax', { timeMax: '2027-01-01T00:00:00Z' }],
    ['orderBy', { orderBy: 'updated' }],
    ['q', { q: 'x' }],
    ['updatedMin', { updatedMin: '2026-01-01T00:00:00Z' }],
    ['iCalUID', { iCalUID: 'x@google.com' }],
    ['privateExtendedProperty', { privateExtendedProperty: ['a=b'] }],
    ['showDeleted', { showDeleted: false }],
  ])('syncToken combined with %s → 400 invalid', async (param, extra) => {
    const cal = calAs(SYNC);
    const token = (await cal.events.list({ calendarId: 'primary', maxResults: 2500 })).data.nextSyncToken!;
    const e = await googleError(
      cal.events.list({ calendarId: 'primary', syncToken: token, ...extra }, { retry: false }),
    );
    expect(e.status).toBe(400);
    expect(e.data.error).toMatchObject({
      code: 400,
      status: 'INVALID_ARGUMENT',
      errors: [{ reason: 'invalid', location: param }],
    });
  });

  test('nextSyncToken is left out after full listings with orderBy / q / timeMax (setting), kept with timeMin', async () => {
    const cal = calAs(SYNC);
    expect(
      (await cal.events.list({ calendarId: 'primary', singleEvents: true, orderBy: 'startTime' })).data.nextSyncToken,
    ).toBeUndefined();
    expect((await cal.events.list({ calendarId: 'primary', q: 'Added' })).data.nextSyncToken).toBeUndefined();
    expect(
      (await cal.events.list({ calendarId: 'primary', timeMax: '2027-01-01T00:00:00Z' })).data.nextSyncToken,
    ).toBeUndefined();
    expect(
      (await cal.events.list({ calendarId: 'primary', timeMin: '2026-01-01T00:00:00Z' })).data.nextSyncToken,
    ).toBeTruthy();
    await admin.request('PUT', '/calendar/settings', { syncTokenSuppressedBy: [] });
    try {
      expect(
        (await cal.events.list({ calendarId: 'primary', singleEvents: true, orderBy: 'startTime' })).data.nextSyncToken,
      ).toBeTruthy();
    } finally {
      await admin.request('PUT', '/calendar/settings', {
        syncTokenSuppressedBy: [
          'orderBy',
          'q',
          'timeMax',
          'updatedMin',
          'iCalUID',
          'privateExtendedProperty',
          'sharedExtendedProperty',
        ],
      });
    }
  });

  test('sync tokens expire (emulator clock) and can be invalidated by the server → 410', async () => {
    const cal = calAs(SYNC);
    await admin.request('PUT', '/calendar/settings', { syncTokenLifetimeSeconds: 60 });
    try {
      const token = (await cal.events.list({ calendarId: 'primary', maxResults: 2500 })).data.nextSyncToken!;
      expect((await cal.events.list({ calendarId: 'primary', syncToken: token })).status).toBe(200);
      await admin.advanceClock(61);
      expect(
        (await googleError(cal.events.list({ calendarId: 'primary', syncToken: token }, { retry: false }))).data.error
          .errors![0].reason,
      ).toBe('fullSyncRequired');
    } finally {
      await admin.request('PUT', '/calendar/settings', { syncTokenLifetimeSeconds: 30 * 24 * 3600 });
    }
    const token = (await cal.events.list({ calendarId: 'primary', maxResults: 2500 })).data.nextSyncToken!;
    const inv = await admin.request<{ invalidated: number }>('POST', `/users/${SYNC}/calendar/invalidate-sync-tokens`);
    expect(inv.body.invalidated).toBeGreaterThan(0);
    expect(
      (await googleError(cal.events.list({ calendarId: 'primary', syncToken: token }, { retry: false }))).status,
    ).toBe(410);
  });
});

describe('scopes, quota and admin routes', () => {
  test('read-only scopes may list and get but not write (403 insufficientPermissions); a Gmail-only token → 403', async () => {
    const ev = (
      await calAs().events.insert({
        calendarId: 'primary',
        requestBody: timed('Scoped', '2026-10-01T10:00:00Z', '2026-10-01T11:00:00Z'),
      })
    ).data;
    for (const scope of [READONLY, EVENTS_READONLY]) {
      const ro = calAs(AGENT, [scope]);
      expect((await ro.events.get({ calendarId: 'primary', eventId: ev.id! })).status).toBe(200);
      expect((await ro.events.list({ calendarId: 'primary', maxResults: 1 })).status).toBe(200);
      const e = await googleError(
        ro.events.insert({
          calendarId: 'primary',
          requestBody: timed('x', '2026-10-01T10:00:00Z', '2026-10-01T11:00:00Z'),
        }),
      );
      expect(e.status).toBe(403);
      expect(e.data.error).toMatchObject({
        status: 'PERMISSION_DENIED',
        errors: [{ reason: 'insufficientPermissions' }],
        details: [
          {
            reason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT',
            metadata: { service: 'calendar-json.googleapis.com', method: 'calendar.v3.Events.Insert' },
          },
        ],
      });
      expect(
        (await googleError(ro.events.delete({ calendarId: 'primary', eventId: ev.id! }, { retry: false }))).status,
      ).toBe(403);
    }
    expect(
      (
        await calAs(AGENT, [SCOPES.calendarEvents]).events.patch({
          calendarId: 'primary',
          eventId: ev.id!,
          requestBody: { summary: 'ok' },
        })
      ).status,
    ).toBe(200);
    const { access_token } = await mintToken(t.key, AGENT, [SCOPES.gmailSend]);
    expect((await rawCall(`${emu.url}/calendar/v3/calendars/primary/events`, access_token)).status).toBe(403);
  });

  test(`quota: ${CALENDAR_REQUESTS_PER_USER_PER_MINUTE}/min/user by default; over the limit → 403 userRateLimitExceeded (setting: 429)`, async () => {
    const quotas = (await admin.request<Array<{ id: string; limit: number; errorStatus: number }>>('GET', '/quotas'))
      .body;
    expect(quotas.find((q) => q.id === 'calendar.requests')).toMatchObject({ limit: 600, errorStatus: 403 });
    await admin.putSettings({ quotas: { 'calendar.requests': { limitPerMinute: 5 } } });
    try {
      const cal = calAs(QUOTA);
      for (let i = 0; i < 5; i++) await cal.events.list({ calendarId: 'primary' });
      const e = await googleError(cal.events.list({ calendarId: 'primary' }, { retry: false }));
      expect(e.status).toBe(403);
      expect(e.data.error).toMatchObject({
        code: 403,
        status: 'PERMISSION_DENIED',
        errors: [{ domain: 'usageLimits', reason: 'userRateLimitExceeded' }],
        details: expect.arrayContaining([
          expect.objectContaining({
            reason: 'RATE_LIMIT_EXCEEDED',
            metadata: expect.objectContaining({ service: 'calendar-json.googleapis.com', quota_limit_value: '5' }),
          }),
        ]),
      });
      // Other users keep their own quota.
      expect((await calAs(OTHER).events.list({ calendarId: 'primary', maxResults: 1 })).status).toBe(200);
      await admin.putSettings({ quotas: { 'calendar.requests': { errorStatus: 429 } } });
      const e429 = await googleError(
        cal.events.insert({
          calendarId: 'primary',
          requestBody: timed('x', '2026-10-01T10:00:00Z', '2026-10-01T11:00:00Z'),
        }),
      );
      expect(e429.status).toBe(429);
      expect(e429.data.error.status).toBe('RESOURCE_EXHAUSTED');
      expect(await calendarLog(QUOTA)).toEqual([
        ...Array(5).fill('calendar.events.list 200'),
        'calendar.events.list 403',
        'calendar.events.insert 429',
      ]);
      expect((await adminEvents(QUOTA)).body).toEqual([]);
    } finally {
      await admin.putSettings({
        quotas: { 'calendar.requests': { limitPerMinute: CALENDAR_REQUESTS_PER_USER_PER_MINUTE, errorStatus: 403 } },
      });
      await admin.advanceClock(61);
    }
  });

  test('admin: GET lists stored events (series unexpanded, cancelled included); errors name the problem', async () => {
    const series = await adminInsert(OTHER, {
      summary: 'Weekly sync',
      start: { dateTime: '2026-11-02T09:00:00', timeZone: 'America/New_York' },
      end: { dateTime: '2026-11-02T09:30:00', timeZone: 'America/New_York' },
      recurrence: ['RRULE:FREQ=WEEKLY'],
    });
    expect(series.status).toBe(200);
    const stored = (await adminEvents(OTHER)).body;
    expect(stored.filter((e) => e.summary === 'Weekly sync')).toEqual([
      expect.objectContaining({ id: series.body.id, recurrence: ['RRULE:FREQ=WEEKLY'] }),
    ]);
    expect(stored.some((e) => e.status === 'cancelled')).toBe(true);
    expect(
      await adminInsert('nobody@acme.test', timed('x', '2026-11-02T09:00:00Z', '2026-11-02T10:00:00Z')),
    ).toMatchObject({ status: 404, body: { error: expect.stringContaining('no user nobody@acme.test') } });
    expect(await adminInsert(OTHER, { summary: 'no times' })).toMatchObject({
      status: 400,
      body: { error: 'Missing start time.', reason: 'required' },
    });
    expect(await adminInsert(OTHER, [1, 2])).toMatchObject({
      status: 400,
      body: { error: expect.stringContaining('JSON Event object') },
    });
    expect(await admin.request('PUT', '/calendar/settings', { nope: 1 })).toMatchObject({
      status: 400,
      body: { error: expect.stringContaining('unknown calendar setting "nope"') },
    });
    expect(await admin.requests({ api: 'calendar' })).toEqual([]);
  });
});
