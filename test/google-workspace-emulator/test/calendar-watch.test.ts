/**
 * events.watch / channels.stop through the real @googleapis/calendar client, with a local HTTP receiver
 * (127.0.0.1, port 0) standing in for the gateway's /webhooks/google/calendar: Google's headers, `sync` then
 * `exists` with increasing message numbers, notifications for API and admin changes, nothing after stop or expiry.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { calendar_v3 } from '@googleapis/calendar';
import { channels as channelsOf } from '../src/calendar/channels';
import { startEmulator, type RunningEmulator } from '../src/server';
import { EmulatorAdmin, SCOPES, googleClients, googleError, until, type Tenant } from '../src/testing';

let emu: RunningEmulator;
let admin: EmulatorAdmin;
let t: Tenant;
let cal: calendar_v3.Calendar;
let receiver: Server;
let hookUrl: string;
const received: Array<{ path: string; headers: IncomingHttpHeaders; body: string }> = [];
const AGENT = 'agent@watch.test';
const OTHER = 'other@watch.test';

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      received.push({ path: req.url!, headers: req.headers, body });
      res.statusCode = 200;
      res.end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/webhooks/google/calendar`;
  emu = await startEmulator();
  admin = new EmulatorAdmin(emu.url);
  t = await admin.tenant('watch.test', [AGENT, OTHER], [SCOPES.calendar]);
  cal = googleClients(emu.url, t.key, AGENT, [SCOPES.calendar]).calendar;
});
afterAll(async () => {
  await emu.close();
  await new Promise((r) => receiver.close(r));
});
beforeEach(async () => {
  received.length = 0;
  await admin.clearRequests();
});

/** Waits until `n` notifications for channel `id` have arrived (deliveries are asynchronous). */
async function notifications(id: string, n: number) {
  return until(
    `${n} notification(s) on channel ${id}`,
    () => received.filter((r) => r.headers['x-goog-channel-id'] === id),
    (mine) => mine.length >= n,
  );
}

interface ChannelView {
  id: string;
  messageNumber: number;
  stopped: boolean;
  deliveries: Array<{ state: string; status: number }>;
}
/** The emulator's record of a channel (GET /emulator/v1/calendar/channels). */
async function channel(id: string): Promise<ChannelView> {
  const c = (await admin.request<ChannelView[]>('GET', '/calendar/channels')).body.find((x) => x.id === id);
  if (!c) throw new Error(`no channel ${id} in the emulator`);
  return c;
}
/**
 * "No notification for this change": the emulator numbers a channel's notifications (X-Goog-Message-Number) when
 * the change commits, before the call that made it answers; so once that call has answered, `messageNumber` says
 * how many notifications were ever queued for the channel. Asserting it (and that every one of them was delivered)
 * proves that none is on its way, without waiting for one that should not come.
 */
async function expectQueuedAndDelivered(id: string, n: number): Promise<void> {
  const c = await until(
    `the ${n} notification(s) queued on ${id} delivered`,
    () => channel(id),
    (v) => v.deliveries.length >= v.messageNumber,
  );
  expect([c.messageNumber, c.deliveries.length]).toEqual([n, n]);
}
const ev = (summary: string): calendar_v3.Schema$Event => ({
  summary,
  start: { dateTime: '2026-05-01T10:00:00Z' },
  end: { dateTime: '2026-05-01T11:00:00Z' },
});

test('watch → Channel; sync message, then exists for API and admin changes with increasing numbers; stop → nothing more', async () => {
  const expiration = Date.now() + 3600_000;
  const res = await cal.events.watch({
    calendarId: 'primary',
    requestBody: {
      id: 'chan-1',
      type: 'web_hook',
      address: hookUrl,
      token: 'agent=42&v=1',
      expiration: String(expiration),
    },
  });
  expect(res.data).toEqual({
    kind: 'api#channel',
    id: 'chan-1',
    resourceId: expect.stringMatching(/^[A-Za-z0-9_-]+$/),
    resourceUri: 'https://www.googleapis.com/calendar/v3/calendars/primary/events?alt=json',
    token: 'agent=42&v=1',
    expiration: String(expiration),
  });
  const [sync] = await notifications('chan-1', 1);
  expect(sync.path).toBe('/webhooks/google/calendar');
  expect(sync.body).toBe('');
  expect(sync.headers).toMatchObject({
    'x-goog-channel-id': 'chan-1',
    'x-goog-channel-token': 'agent=42&v=1',
    'x-goog-channel-expiration': new Date(expiration).toUTCString(),
    'x-goog-resource-id': res.data.resourceId,
    'x-goog-resource-uri': res.data.resourceUri,
    'x-goog-resource-state': 'sync',
    'x-goog-message-number': '1',
  });

  const created = (await cal.events.insert({ calendarId: 'primary', requestBody: ev('Via API') })).data;
  await cal.events.patch({ calendarId: 'primary', eventId: created.id!, requestBody: { summary: 'Patched' } });
  expect((await admin.request('POST', `/users/${AGENT}/events`, ev('Made in Google'))).status).toBe(200);
  expect((await admin.request('DELETE', `/users/${AGENT}/events/${created.id}`)).status).toBe(204);
  const all = await notifications('chan-1', 5);
  expect(all.map((r) => [r.headers['x-goog-resource-state'], r.headers['x-goog-message-number']])).toEqual([
    ['sync', '1'],
    ['exists', '2'],
    ['exists', '3'],
    ['exists', '4'],
    ['exists', '5'],
  ]);
  // A change of someone else's calendar is not this channel's business; reads notify nobody.
  await googleClients(emu.url, t.key, OTHER, [SCOPES.calendar]).calendar.events.insert({
    calendarId: 'primary',
    requestBody: ev('Other'),
  });
  await cal.events.list({ calendarId: 'primary' });
  await expectQueuedAndDelivered('chan-1', 5);
  expect(received.filter((r) => r.headers['x-goog-channel-id'] === 'chan-1')).toHaveLength(5);

  const stop = await cal.channels.stop({ requestBody: { id: 'chan-1', resourceId: res.data.resourceId } });
  expect(stop.status).toBe(204);
  await cal.events.insert({ calendarId: 'primary', requestBody: ev('After stop') });
  await expectQueuedAndDelivered('chan-1', 5);
  expect(received.filter((r) => r.headers['x-goog-channel-id'] === 'chan-1')).toHaveLength(5);
  // Stopping it again, or with the wrong resourceId → 404.
  const again = await googleError(
    cal.channels.stop({ requestBody: { id: 'chan-1', resourceId: res.data.resourceId } }),
  );
  expect(again.status).toBe(404);
  expect(again.data.error.errors![0].reason).toBe('notFound');
  expect((await admin.requests({ api: 'calendar', user: AGENT })).map((e) => `${e.method} ${e.status}`)).toEqual([
    'calendar.events.watch 200',
    'calendar.events.insert 200',
    'calendar.events.patch 200',
    'calendar.events.list 200',
    'calendar.channels.stop 204',
    'calendar.events.insert 200',
    'calendar.channels.stop 404',
  ]);
});

test('a change never waits for the receiver: the insert answers while the receiver still holds the sync message unanswered', async () => {
  let answer!: () => void;
  const answered = new Promise<void>((r) => {
    answer = r;
  });
  const holding = await server((_req, res) => {
    void answered.then(() => {
      res.statusCode = 200;
      res.end();
    });
  });
  try {
    const { data } = await cal.events.watch({
      calendarId: 'primary',
      requestBody: { id: 'chan-held', type: 'web_hook', address: `${holding.url}/hook` },
    });
    await until(
      'the sync message at the receiver',
      () => holding.hits.length,
      (n) => n >= 1,
    );
    // The receiver has not answered: an insert that waited for its notifications would not answer either.
    expect((await cal.events.insert({ calendarId: 'primary', requestBody: ev('Not waiting') })).status).toBe(200);
    expect(await channel('chan-held')).toMatchObject({ messageNumber: 2, deliveries: [] });
    expect(holding.hits).toEqual(['POST /hook']); // `exists` queues behind the unanswered `sync`
    answer();
    const done = await until(
      'both notifications answered',
      () => channel('chan-held'),
      (c) => c.deliveries.length >= 2,
    );
    expect(done.deliveries.map((d) => [d.state, d.status])).toEqual([
      ['sync', 200],
      ['exists', 200],
    ]);
    expect(holding.hits).toEqual(['POST /hook', 'POST /hook']);
    await cal.channels.stop({ requestBody: { id: 'chan-held', resourceId: data.resourceId } });
  } finally {
    answer();
    await holding.close();
  }
});

test('a change never fails on the receiver: an unreachable address still lets the insert succeed, deliveries record status 0', async () => {
  const dead = 'http://127.0.0.1:9/webhooks/google/calendar'; // discard port: nothing listens
  await cal.events.watch({ calendarId: 'primary', requestBody: { id: 'chan-dead', type: 'web_hook', address: dead } });
  expect((await cal.events.insert({ calendarId: 'primary', requestBody: ev('Still fine') })).status).toBe(200);
  const c = await until(
    'both deliveries to the dead address attempted',
    () => channel('chan-dead'),
    (v) => v.deliveries.length >= 2,
  );
  expect(c.deliveries.map((d) => [d.state, d.status])).toEqual([
    ['sync', 0],
    ['exists', 0],
  ]);
});

test('an expired channel gets nothing; the default expiration is 7 days', async () => {
  const clockNow = async () => Date.parse((await admin.request<{ now: string }>('GET', '/clock')).body.now);
  const before = await clockNow();
  const { data } = await cal.events.watch({
    calendarId: 'primary',
    requestBody: { id: 'chan-short', type: 'web_hook', address: hookUrl },
  });
  const clock = await clockNow();
  // 7 days from the emulator's "now" at the watch call, which lies between the two clock reads.
  expect(Number(data.expiration)).toBeGreaterThanOrEqual(before + 7 * 24 * 3600_000);
  expect(Number(data.expiration)).toBeLessThanOrEqual(clock + 7 * 24 * 3600_000);
  await notifications('chan-short', 1);
  // Past the channel's expiration on the emulator clock (tokens stay valid: the JWT client is already authorized
  // and the skew allowed for assertions is not involved).
  const short = await cal.events.watch({
    calendarId: 'primary',
    requestBody: { id: 'chan-30s', type: 'web_hook', address: hookUrl, expiration: String(clock + 30_000) },
  });
  expect(short.status).toBe(200);
  await notifications('chan-30s', 1);
  await admin.advanceClock(31);
  await cal.events.insert({ calendarId: 'primary', requestBody: ev('After expiry') });
  await notifications('chan-short', 2);
  await expectQueuedAndDelivered('chan-30s', 1); // the insert was not numbered for the expired channel
  expect(
    received
      .filter((r) => r.headers['x-goog-channel-id'] === 'chan-30s')
      .map((r) => r.headers['x-goog-resource-state']),
  ).toEqual(['sync']);
  expect(
    received
      .filter((r) => r.headers['x-goog-channel-id'] === 'chan-short')
      .map((r) => r.headers['x-goog-resource-state']),
  ).toEqual(['sync', 'exists']);
});

test.each([
  [
    'a non-loopback address',
    { id: 'c-remote', type: 'web_hook', address: 'https://hooks.example.com/calendar' },
    'push.webhookUrlUnauthorized',
  ],
  [
    'a private-range address',
    { id: 'c-private', type: 'web_hook', address: 'http://10.0.0.5/calendar' },
    'push.webhookUrlUnauthorized',
  ],
  ['a non-URL address', { id: 'c-bad', type: 'web_hook', address: 'not a url' }, 'push.webhookUrlNoHostOrAddress'],
  [
    'an unsupported type',
    { id: 'c-type', type: 'email', address: 'http://127.0.0.1:1/x' },
    'push.channelTypeNotSupported',
  ],
  ['no id', { type: 'web_hook', address: 'http://127.0.0.1:1/x' }, 'required'],
  [
    'an id over 64 characters',
    { id: 'x'.repeat(65), type: 'web_hook', address: 'http://127.0.0.1:1/x' },
    'push.channelIdInvalid',
  ],
])("watch with %s → 400 with Google's push reason", async (_label, requestBody, reason) => {
  const e = await googleError(cal.events.watch({ calendarId: 'primary', requestBody }));
  expect(e.status).toBe(400);
  expect(e.data.error).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT', errors: [{ reason }] });
});

test('a channel id in use → 400 channelIdNotUnique; another calendar → 404', async () => {
  await cal.events.watch({
    calendarId: 'primary',
    requestBody: { id: 'chan-dup', type: 'web_hook', address: hookUrl },
  });
  const e = await googleError(
    cal.events.watch({ calendarId: AGENT, requestBody: { id: 'chan-dup', type: 'web_hook', address: hookUrl } }),
  );
  expect(e.data.error).toMatchObject({
    code: 400,
    message: 'Channel id chan-dup not unique',
    errors: [{ reason: 'channelIdNotUnique' }],
  });
  expect(
    (
      await googleError(
        cal.events.watch({ calendarId: OTHER, requestBody: { id: 'chan-x', type: 'web_hook', address: hookUrl } }),
      )
    ).status,
  ).toBe(404);
});

/** A throwaway loopback HTTP server; `handler` answers each request. */
async function server(
  handler: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void,
): Promise<{ url: string; hits: string[]; close(): Promise<void> }> {
  const hits: string[] = [];
  const s = createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => handler(req, res));
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
    hits,
    close: () =>
      new Promise((r) => {
        s.closeAllConnections();
        s.close(() => r());
      }),
  };
}

test('a receiver answering 307 is not followed: nothing reaches the Location, the delivery records 307', async () => {
  // The Location is another origin (here another loopback port; off the machine in the attack the fix prevents).
  const elsewhere = await server((_req, res) => {
    res.statusCode = 200;
    res.end();
  });
  const redirecting = await server((_req, res) => {
    res.writeHead(307, { Location: `${elsewhere.url}/stolen` });
    res.end();
  });
  try {
    await cal.events.watch({
      calendarId: 'primary',
      requestBody: { id: 'chan-redirect', type: 'web_hook', address: `${redirecting.url}/hook` },
    });
    await cal.events.insert({ calendarId: 'primary', requestBody: ev('Redirected?') });
    // A delivery is recorded once its POST has answered: the 307 was not followed by then.
    const mine = (
      await until(
        'both deliveries to the redirecting receiver',
        () => channel('chan-redirect'),
        (c) => c.deliveries.length >= 2,
      )
    ).deliveries;
    expect(mine.map((d) => [d.state, d.status])).toEqual([
      ['sync', 307],
      ['exists', 307],
    ]);
    expect(redirecting.hits).toEqual(['POST /hook', 'POST /hook']);
    expect(elsewhere.hits).toEqual([]);
  } finally {
    await redirecting.close();
    await elsewhere.close();
  }
});

test('deliveries queued before POST /reset are dropped, not sent afterwards', async () => {
  // Its own emulator: reset would drop this file's tenant.
  const e = await startEmulator();
  let release!: () => void;
  const held = new Promise<void>((r) => {
    release = r;
  });
  const slow = await server((_req, res) => {
    void held.then(() => {
      res.statusCode = 200;
      res.end();
    });
  });
  try {
    const a = new EmulatorAdmin(e.url);
    const tenant = await a.tenant('reset.test', ['agent@reset.test'], [SCOPES.calendar]);
    const c = googleClients(e.url, tenant.key, 'agent@reset.test', [SCOPES.calendar]).calendar;
    await c.events.watch({
      calendarId: 'primary',
      requestBody: { id: 'chan-reset', type: 'web_hook', address: `${slow.url}/hook` },
    });
    // The sync message is in flight (held by the receiver); two `exists` queue behind it.
    await c.events.insert({ calendarId: 'primary', requestBody: ev('Before reset 1') });
    await c.events.insert({ calendarId: 'primary', requestBody: ev('Before reset 2') });
    await until(
      'the sync message at the receiver',
      () => slow.hits.length,
      (n) => n >= 1,
    );
    // The channel as it was before the reset (which forgets it): its delivery chain holds the two `exists`.
    const before = channelsOf(e.state).get('chan-reset')!;
    expect(before.messageNumber).toBe(3);
    await a.reset();
    release();
    // Every notification queued before the reset has been dealt with (sent or dropped) once the chain has run out.
    for (let q = before.queue; ; q = before.queue) {
      await q;
      if (q === before.queue) break;
    }
    expect(slow.hits).toEqual(['POST /hook']);
  } finally {
    release();
    await slow.close();
    await e.close();
  }
});
