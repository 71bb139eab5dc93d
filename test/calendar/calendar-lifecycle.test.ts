/** Calendar reads under Google faults, and push channels stopped when the gateway shuts down. */
import { startEmulator, type RunningEmulator } from '../../src/emulator/server';
import { describeEachDb } from '../support/db';
import { freePort } from '../support/gateway';
import { startWorld, type World } from '../support/world';

const AGENT = 'agent@alpha.test';
const VIEW = 'query { events(from: "2026-12-01T00:00:00Z", to: "2027-01-01T00:00:00Z") { totalCount } }';

describeEachDb('calendar lifecycle', (db) => {
  let w: World;
  let emu: RunningEmulator;
  let token: string;
  let closed = false;

  beforeAll(async () => {
    const port = await freePort();
    emu = await startEmulator(); // outlives the gateway: the shutdown test looks at it afterwards
    w = await startWorld(db(), { emu, port, env: { CALENDAR_WEBHOOK_URL: `http://127.0.0.1:${port}/webhooks/google/calendar`, CALENDAR_CACHE_SECONDS: '0' } });
    token = await w.token(AGENT);
  });
  afterAll(async () => {
    if (!closed) await w.close();
    await emu.close();
  });

  const gql = (q: string, v?: Record<string, unknown>) => w.gw.gql(q, { token, variables: v });

  test('a 429 on events.list answers RATE_LIMITED with Google\'s Retry-After, a 503 on events.get UPSTREAM_UNAVAILABLE; then reads work again', async () => {
    await w.admin.addFault({ api: 'calendar', method: 'calendar.events.list', status: 429, retryAfterSeconds: 7 });
    const limited = await gql(VIEW);
    expect(limited.body.errors![0].extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: 7 });
    expect(limited.status).toBe(200);
    expect((await gql(VIEW)).body.data.events.totalCount).toBe(0);

    const c = (await gql('mutation { createEvent(input: { title: "Fault", start: "2026-12-11T10:00:00Z", end: "2026-12-11T11:00:00Z" }) { id } }')).body.data.createEvent;
    await w.admin.addFault({ api: 'calendar', method: 'calendar.events.get', status: 503 });
    const down = await gql('query ($id: ID!) { event(id: $id) { id } }', { id: c.id });
    expect(down.body.errors![0].extensions.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(JSON.stringify(down.body)).not.toMatch(/stack|\.ts:\d+/);
    expect((await gql('query ($id: ID!) { event(id: $id) { title } }', { id: c.id })).body.data.event).toEqual({ title: 'Fault' });
  });

  test('shutdown stops the channels it registered (Google stops calling an address going away)', async () => {
    await gql(VIEW); // first use registers the channel
    const deadline = Date.now() + 5000;
    const ours = async () => (await w.admin.request<{ address: string; stopped: boolean }[]>('GET', '/calendar/channels')).body.filter((c) => c.address.startsWith(w.gw.url) && !c.stopped);
    while ((await ours()).length === 0) {
      if (Date.now() > deadline) throw new Error('no channel was registered');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(Number((await db().ds.query('SELECT COUNT(*) AS n FROM calendar_channel'))[0].n)).toBe(1);
    await w.close();
    closed = true;
    expect(await ours()).toEqual([]);
    expect(Number((await db().ds.query('SELECT COUNT(*) AS n FROM calendar_channel'))[0].n)).toBe(0);
    expect((await w.admin.requests({ api: 'calendar', method: 'calendar.channels.stop' })).map((r) => r.status)).toEqual([204]);
  });
});
