/**
 * Push-channel renewal (CalendarWatch.renewDue), on its timer, and how it meets key removal.
 *
 * The gateway's own renewal timer runs hourly with a 24 h margin (src/app.ts), far beyond a test. The timer tests run
 * the same class on its own timer with a small interval (`renewer`), over the gateway's database, sessions, cache and
 * sync. A channel becomes due the way it does in life: Google granted it for less than the renewal margin (the
 * emulator's `channelDefaultTtlSeconds`). Every wait is for a state (a row, a channel in Google, a request in the
 * emulator's log), never for time.
 */
import { CalendarWatch } from '../../src/calendar/calendar.watch';
import type { AgentRef } from '../../src/agents/agent-ref';
import { CalendarChannel } from '../../src/entities';
import { describeEachDb } from '../support/db';
import { freePort } from '../support/gateway';
import { SCOPES, googleClients } from '../support/google';
import { until } from '../support/wait';
import { startWorld, type World } from '../support/world';

const AGENT = 'agent@alpha.test';
const OTHER = 'other@alpha.test';
const DAY_MS = 24 * 3600_000;
const WEEK_S = 7 * 24 * 3600;

interface GoogleChannel {
  id: string;
  resourceId: string;
  address: string;
  stopped: boolean;
  expiration: string;
}

describeEachDb('calendar push-channel renewal', (db) => {
  let w: World;
  let webhook: string;
  const agents: Record<string, AgentRef> = {};

  beforeAll(async () => {
    const port = await freePort();
    webhook = `http://127.0.0.1:${port}/webhooks/google/calendar`;
    w = await startWorld(db(), { port, env: { CALENDAR_WEBHOOK_URL: webhook, CALENDAR_CACHE_SECONDS: '0' } });
    for (const email of [AGENT, OTHER]) {
      await w.gw.gql('{ me { id } }', { token: await w.token(email) }); // the agent's row is made on first sight
      agents[email] = {
        brokerageId: w.brokerageId,
        agentId: (await db().ds.query('SELECT id FROM agent WHERE email = ?', [email]))[0].id,
        email,
      };
    }
  });
  afterAll(() => w.close());
  beforeEach(async () => {
    await w.admin.clearFaults();
    await w.admin.setApi('calendar', true);
    await w.admin.request('PUT', '/calendar/settings', { channelDefaultTtlSeconds: WEEK_S });
    // No channel left from an earlier test, in Google or in the table.
    // any user of the project may stop them
    const cal = googleClients(w.emu.url, w.tenant.key, AGENT, [SCOPES.calendar]).calendar;
    for (const c of await live()) await cal.channels.stop({ requestBody: { id: c.id, resourceId: c.resourceId } });
    await db().ds.query('DELETE FROM calendar_channel');
    await w.admin.clearRequests();
  });

  /** Channels Google holds open to this gateway's webhook. */
  const live = async () =>
    (await w.admin.request<GoogleChannel[]>('GET', '/calendar/channels')).body.filter(
      (c) => c.address === webhook && !c.stopped,
    );
  const rows = async () =>
    (
      await db()
        .ds.getRepository(CalendarChannel)
        .find({ order: { createdAt: 'ASC' } })
    ).map((c) => ({ id: c.id, agentId: c.agentId }));
  const calls = async (method: string) =>
    (await w.admin.requests({ api: 'calendar', method })).map((r) => `${r.user} ${r.status}`);
  /** Google grants the next channels for `seconds` (the gateway renews what expires within a day). */
  const grant = (seconds: number) =>
    w.admin.request('PUT', '/calendar/settings', { channelDefaultTtlSeconds: seconds });
  /** The product's CalendarWatch on its own renewal timer, every `renewEveryMs`. */
  const renewer = (renewEveryMs = 20) => {
    const s = w.gw.services;
    return new CalendarWatch({
      ds: db().ds,
      sessions: s.sessions,
      cache: s.calendar.cache,
      sync: s.calendarSync,
      log: s.log,
      settings: {
        webhookUrl: webhook,
        channelRenewBeforeMs: DAY_MS,
        channelRenewEveryMs: renewEveryMs,
        channelsOnShutdown: 'keep',
      },
    });
  };

  test('a channel Google granted for less than the renewal margin is renewed by the timer: one new channel opened, the old one stopped', async () => {
    await grant(3600); // one hour: inside the 24 h margin, due at once
    const first = (await w.gw.services.calendarWatch.ensureNow(agents[AGENT]))!;
    await grant(WEEK_S); // the renewed one gets a week: not due again
    await w.admin.clearRequests();
    const r = renewer();
    r.start();
    let renewed: Array<{ id: string }>;
    try {
      renewed = await until(
        'a new channel in the table instead of the old one',
        rows,
        (v) => v.length === 1 && v[0].id !== first.id,
      );
      await until('Google holding only the new channel open', live, (l) => l.length === 1 && l[0].id === renewed[0].id);
    } finally {
      await r.stop();
    }
    expect(renewed).toEqual([{ id: expect.any(String), agentId: agents[AGENT].agentId }]);
    // Renewed once, however many times the timer fired meanwhile; the old channel stopped with Google.
    expect(await calls('calendar.events.watch')).toEqual([`${AGENT} 200`]);
    expect(await calls('calendar.channels.stop')).toEqual([`${AGENT} 204`]);
    const [chan] = await live();
    expect(Date.parse(chan.expiration)).toBeGreaterThan(first.expiration.getTime() + DAY_MS);
  });

  test('a renewal Google refuses keeps a channel that is still valid and drops one that has expired; the valid one is tried again on the next pass', async () => {
    await grant(0.001); // expires a millisecond after it is opened: expired by the time the timer looks
    const expired = (await w.gw.services.calendarWatch.ensureNow(agents[AGENT]))!;
    await grant(3600); // due, but valid for an hour
    const valid = (await w.gw.services.calendarWatch.ensureNow(agents[OTHER]))!;
    await w.admin.setApi('calendar', false); // the project's Calendar API turned off: every watch answers 403
    await w.admin.clearRequests();
    const r = renewer();
    r.start();
    try {
      await until('the expired channel dropped from the table', rows, (v) => !v.some((c) => c.id === expired.id));
      // Two refused renewals of the valid one: the pass that tried it first has finished (and kept it, or not).
      await until(
        'two refused renewals of the valid channel',
        () => calls('calendar.events.watch'),
        (c) => c.filter((x) => x === `${OTHER} 403`).length >= 2,
      );
    } finally {
      await r.stop();
    }
    expect(await rows()).toEqual([{ id: valid.id, agentId: agents[OTHER].agentId }]);
    expect((await calls('calendar.events.watch')).filter((x) => !x.endsWith(' 403'))).toEqual([]);
  });

  test('a key removed while a renewal is at Google waits for it, then stops the old and the new channel: none is left open', async () => {
    const watch = w.gw.services.calendarWatch;
    const earlier = new Set(
      (await w.admin.request<GoogleChannel[]>('GET', '/calendar/channels')).body.map((c) => c.id),
    );
    await grant(3600);
    const first = (await watch.ensureNow(agents[AGENT]))!;
    await grant(WEEK_S);
    // Google opens the new channel; its answer is parked, so the gateway does not know the channel yet.
    const held = await w.admin.addFault({ api: 'calendar', method: 'calendar.events.watch', hold: 'answer' });
    // what the gateway's hourly timer runs
    const renewal = (watch as unknown as { renewDue(): Promise<void> }).renewDue();
    await w.admin.waitHeld(held.id);
    const info = jest.spyOn(w.gw.services.log, 'info');
    const adminToken = await w.token(`boss@alpha.test`, true);
    let removedAt = 0;
    const removal = w.gw
      .gql('mutation { removeServiceAccountKey }', { token: adminToken })
      .then((res) => ((removedAt = Date.now()), res));
    try {
      // Either the removal is over (the channel opened by the renewal would escape it), or it says it waits for the
      // renewal under way; then the renewal may go on.
      await until(
        'the removal finished or waiting for the renewal',
        () => removedAt > 0 || info.mock.calls.some((c) => /registrations? under way/.test(String(c[1]))),
      );
    } finally {
      info.mockRestore();
      await w.admin.release(held.id);
    }
    expect((await removal).body.data.removeServiceAccountKey).toBe(true);
    await renewal;
    expect(
      (await w.admin.request<GoogleChannel[]>('GET', '/calendar/channels')).body
        .filter((c) => !earlier.has(c.id))
        .map((c) => [c.id === first.id ? 'old' : 'new', c.stopped]),
    ).toEqual([
      ['old', true],
      ['new', true],
    ]);
    expect(await rows()).toEqual([]);
    // Back in business for the next test.
    const again = await w.gw.gql(
      'mutation ($k: String!) { submitServiceAccountKey(keyJson: $k, testEmail: "agent@alpha.test") { status } }',
      { token: adminToken, variables: { k: JSON.stringify(w.tenant.key) } },
    );
    expect(again.body.data.submitServiceAccountKey.status).toBe('VERIFIED');
  });
});
