/** Calendar reads under Google faults, and push channels stopped when the gateway shuts down. */
import { startEmulator, type RunningEmulator } from 'google-workspace-emulator';
import { CalendarChannel } from '../../src/entities';
import { describeEachDb } from '../support/db';
import { googleClients } from '../support/google';
import { freePort, startTestGateway } from '../support/gateway';
import { until } from '../support/wait';
import { FAST_OUTBOX_ENV, startWorld, type World } from '../support/world';

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
    // MUTATION_WAIT_MS: mutations answer SYNCED once Google has the write, however loaded the machine.
    // CALENDAR_CHANNELS_ON_SHUTDOWN=stop: the last test checks a lone gateway's shutdown stopping its channels.
    w = await startWorld(db(), {
      emu,
      port,
      env: {
        CALENDAR_WEBHOOK_URL: `http://127.0.0.1:${port}/webhooks/google/calendar`,
        CALENDAR_CACHE_SECONDS: '0',
        MUTATION_WAIT_MS: '60000',
        CALENDAR_CHANNELS_ON_SHUTDOWN: 'stop',
      },
    });
    token = await w.token(AGENT);
  });
  afterAll(async () => {
    if (!closed) await w.close();
    await emu.close();
  });

  const gql = (q: string, v?: Record<string, unknown>) => w.gw.gql(q, { token, variables: v });

  test("a 429 on events.list answers RATE_LIMITED with Google's Retry-After, a 503 on events.get UPSTREAM_UNAVAILABLE; then reads work again", async () => {
    await w.admin.addFault({ api: 'calendar', method: 'calendar.events.list', status: 429, retryAfterSeconds: 7 });
    const limited = await gql(VIEW);
    expect(limited.body.errors![0].extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: 7 });
    expect(limited.status).toBe(200);
    expect((await gql(VIEW)).body.data.events.totalCount).toBe(0);

    const c = (
      await gql(
        'mutation { createEvent(input: { title: "Fault", start: "2026-12-11T10:00:00Z", end: "2026-12-11T11:00:00Z" }) { id } }',
      )
    ).body.data.createEvent;
    await w.admin.addFault({ api: 'calendar', method: 'calendar.events.get', status: 503 });
    const down = await gql('query ($id: ID!) { event(id: $id) { id } }', { id: c.id });
    expect(down.body.errors![0].extensions.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(JSON.stringify(down.body)).not.toMatch(/stack|\.ts:\d+/);
    expect((await gql('query ($id: ID!) { event(id: $id) { title } }', { id: c.id })).body.data.event).toEqual({
      title: 'Fault',
    });
  });

  test('the remaining fault combinations: insert 429, list 503, get 429 (Retry-After passed on), watch 503 and channels.stop 503', async () => {
    // insert 429 with Retry-After: waited out, then one event.
    await w.admin.clearRequests();
    await w.admin.addFault({ api: 'calendar', method: 'calendar.events.insert', status: 429, retryAfterSeconds: 1 });
    const made = (
      await gql(
        'mutation { createEvent(input: { title: "After 429", start: "2026-12-21T10:00:00Z", end: "2026-12-21T11:00:00Z" }) { id syncState } }',
      )
    ).body.data.createEvent;
    expect(made.syncState).toBe('SYNCED');
    const inserts = await w.admin.requests({ api: 'calendar', method: 'calendar.events.insert' });
    expect(inserts.map((r) => r.status)).toEqual([429, 200]);
    expect(new Date(inserts[1].at).getTime() - new Date(inserts[0].at).getTime()).toBeGreaterThanOrEqual(1000);
    expect(
      (await w.admin.request<{ summary: string }[]>('GET', `/users/${AGENT}/events`)).body.filter(
        (e) => e.summary === 'After 429',
      ),
    ).toHaveLength(1);
    // list 503 → UPSTREAM_UNAVAILABLE, then the view works; get 429 → RATE_LIMITED with Google's wait.
    await w.admin.addFault({ api: 'calendar', method: 'calendar.events.list', status: 503 });
    expect((await gql(VIEW)).body.errors?.[0].extensions.code).toBe('UPSTREAM_UNAVAILABLE');
    expect((await gql(VIEW)).body.data.events.totalCount).toBeGreaterThan(0);
    await w.admin.addFault({ api: 'calendar', method: 'calendar.events.get', status: 429, retryAfterSeconds: 9 });
    expect(
      (await gql('query ($id: ID!) { event(id: $id) { id } }', { id: made.id })).body.errors?.[0].extensions,
    ).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: 9 });
    // watch 503: no channel, nothing broken; the next try registers one. channels.stop 503: dropped here, expires
    // there.
    const agent = {
      brokerageId: w.brokerageId,
      agentId: (await db().ds.query('SELECT id FROM agent WHERE email = ?', [AGENT]))[0].id,
      email: AGENT,
    };
    await w.gw.services.calendarWatch.ensureNow(agent);
    await db()
      .ds.getRepository(CalendarChannel)
      .update({ agentId: agent.agentId }, { expiration: new Date(Date.now() + 3600_000) }); // due for renewal
    const before = (await db().ds.query('SELECT id FROM calendar_channel')).map((r: { id: string }) => r.id);
    await w.admin.addFault({ api: 'calendar', method: 'calendar.events.watch', status: 503 });
    await expect(w.gw.services.calendarWatch.ensureNow(agent)).rejects.toThrow();
    expect((await db().ds.query('SELECT id FROM calendar_channel')).map((r: { id: string }) => r.id)).toEqual(before); // the old one kept
    const first = await w.gw.services.calendarWatch.ensureNow(agent);
    expect(first).not.toBeNull();
    await db()
      .ds.getRepository(CalendarChannel)
      .update({ id: first!.id }, { expiration: new Date(Date.now() + 3600_000) });
    await w.admin.clearRequests();
    await w.admin.addFault({ api: 'calendar', method: 'calendar.channels.stop', status: 503 });
    const second = await w.gw.services.calendarWatch.ensureNow(agent); // renewal: the old one cannot be stopped now
    expect(
      (await w.admin.requests({ api: 'calendar', method: 'calendar.channels.stop' })).map((r) => r.status),
    ).toEqual([503]);
    expect((await db().ds.query('SELECT id FROM calendar_channel')).map((r: { id: string }) => r.id)).toEqual([
      second!.id,
    ]);
    // Tidy up for the tests that count live channels: stop the one the 503 left open, as the agent would.
    await googleClients(w.emu.url, w.tenant.key, AGENT, [
      'https://www.googleapis.com/auth/calendar',
    ]).calendar.channels.stop({ requestBody: { id: first!.id, resourceId: first!.resourceId } });
  });

  test('a channel close to its expiry is renewed: a new one is opened, the old one stopped', async () => {
    const agent = {
      brokerageId: w.brokerageId,
      agentId: (await db().ds.query('SELECT id FROM agent WHERE email = ?', [AGENT]))[0].id,
      email: AGENT,
    };
    const first = await w.gw.services.calendarWatch.ensureNow(agent);
    // far from expiry: kept
    expect(await w.gw.services.calendarWatch.ensureNow(agent)).toMatchObject({ id: first!.id });
    // One hour left: inside the 24 h renewal margin.
    await db()
      .ds.getRepository(CalendarChannel)
      .update({ id: first!.id }, { expiration: new Date(Date.now() + 3600_000) });
    const second = await w.gw.services.calendarWatch.ensureNow(agent);
    expect(second!.id).not.toBe(first!.id);
    const live = (
      await w.admin.request<{ id: string; stopped: boolean; address: string }[]>('GET', '/calendar/channels')
    ).body.filter((c) => c.address.startsWith(w.gw.url) && !c.stopped);
    expect(live.map((c) => c.id)).toEqual([second!.id]);
    expect((await db().ds.query('SELECT id FROM calendar_channel')).map((r: { id: string }) => r.id)).toEqual([
      second!.id,
    ]);
  });

  test('writes meeting a 429 with Retry-After on patch and delete wait it out, then land', async () => {
    const c = (
      await gql(
        'mutation { createEvent(input: { title: "Busy", start: "2026-12-12T10:00:00Z", end: "2026-12-12T11:00:00Z" }) { id } }',
      )
    ).body.data.createEvent;
    await w.admin.clearRequests();
    await w.admin.addFault({ api: 'calendar', method: 'calendar.events.patch', status: 429, retryAfterSeconds: 1 });
    await w.admin.addFault({ api: 'calendar', method: 'calendar.events.delete', status: 429, retryAfterSeconds: 1 });
    expect(
      (
        await gql('mutation ($id: ID!) { updateEvent(id: $id, input: { title: "Busy (moved)" }) { syncState } }', {
          id: c.id,
        })
      ).body.data.updateEvent.syncState,
    ).toBe('SYNCED');
    expect((await gql('mutation ($id: ID!) { deleteEvent(id: $id) }', { id: c.id })).body.data.deleteEvent).toBe(true);
    await until(
      'calendar writes delivered',
      async () => Number((await db().ds.query("SELECT COUNT(*) AS n FROM outbox WHERE topic = 'calendar'"))[0].n),
      (n) => n === 0,
    );
    const log = await w.admin.requests({ api: 'calendar' });
    for (const method of ['calendar.events.patch', 'calendar.events.delete']) {
      const calls = log.filter((x) => x.method === method);
      expect(calls.map((x) => x.status)).toEqual([429, method.endsWith('patch') ? 200 : 204]);
      expect(new Date(calls[1].at).getTime() - new Date(calls[0].at).getTime()).toBeGreaterThanOrEqual(1000);
    }
    expect(
      (await w.admin.request<{ id: string; status: string }[]>('GET', `/users/${AGENT}/events`)).body.find(
        (e) => e.id === c.id,
      )?.status,
    ).toBe('cancelled');
  });

  test("removing the key stops the brokerage's channels first, then erases the key; calls answer GOOGLE_NOT_CONFIGURED until a new key", async () => {
    const agent = {
      brokerageId: w.brokerageId,
      agentId: (await db().ds.query('SELECT id FROM agent WHERE email = ?', [AGENT]))[0].id,
      email: AGENT,
    };
    const channel = await w.gw.services.calendarWatch.ensureNow(agent);
    const adminToken = await w.token('boss@alpha.test', true);
    // Only an admin may remove it.
    expect((await gql('mutation { removeServiceAccountKey }')).body.errors?.[0].extensions.code).toBe('FORBIDDEN');
    await w.admin.clearRequests();
    const removed = await w.gw.gql('mutation { removeServiceAccountKey }', { token: adminToken });
    expect(removed.body.data.removeServiceAccountKey).toBe(true);
    // Google was told to stop the channel, with the key that was still there.
    const chans = (await w.admin.request<{ id: string; stopped: boolean }[]>('GET', '/calendar/channels')).body;
    expect(chans.find((c) => c.id === channel!.id)?.stopped).toBe(true);
    expect(
      (await w.admin.requests({ api: 'calendar', method: 'calendar.channels.stop' })).map((r) => r.status),
    ).toEqual([204]);
    expect(Number((await db().ds.query('SELECT COUNT(*) AS n FROM calendar_channel'))[0].n)).toBe(0);
    // The secret is gone from the database, not only retired; the audit row says who did it.
    const rows = await db().ds.query(
      'SELECT status, wrappedKey, ciphertext FROM service_account_credential WHERE brokerageId = ?',
      [w.brokerageId],
    );
    expect(
      rows.map((r: { status: string; wrappedKey: string; ciphertext: string }) => [
        r.status,
        r.wrappedKey,
        r.ciphertext,
      ]),
    ).toEqual([['RETIRED', '', '']]);
    const audit = await db().ds.query(
      "SELECT action, actor, detail FROM audit_log WHERE action IN ('credential.removed', 'calendar.channels_stopped') ORDER BY action DESC",
    );
    expect(
      audit.map((a: { action: string; actor: string; detail: string }) => [
        a.action,
        a.actor,
        JSON.parse(a.detail).count ?? null,
      ]),
    ).toEqual([
      ['credential.removed', 'boss@alpha.test', null],
      ['calendar.channels_stopped', 'boss@alpha.test', 1],
    ]);
    expect(
      (await w.gw.gql('{ serviceAccount { status } }', { token: adminToken })).body.data.serviceAccount,
    ).toBeNull();
    const view = await gql(VIEW);
    expect(view.body.errors?.[0].extensions.code).toBe('GOOGLE_NOT_CONFIGURED');
    expect(
      (await w.gw.gql('mutation { removeServiceAccountKey }', { token: adminToken })).body.data.removeServiceAccountKey,
    ).toBe(false);
    // A new key puts the brokerage back in business.
    const again = await w.gw.gql(
      'mutation ($k: String!) { submitServiceAccountKey(keyJson: $k, testEmail: "agent@alpha.test") { status } }',
      { token: adminToken, variables: { k: JSON.stringify(w.tenant.key) } },
    );
    expect(again.body.data.submitServiceAccountKey.status).toBe('VERIFIED');
    const titles = (
      await gql(
        'query { events(from: "2026-12-01T00:00:00Z", to: "2027-01-01T00:00:00Z") { edges { node { title } } } }',
      )
    ).body.data.events.edges.map((e: { node: { title: string } }) => e.node.title);
    const inGoogle = (
      await w.admin.request<{ summary: string; status: string }[]>('GET', `/users/${AGENT}/events`)
    ).body
      .filter((e) => e.status !== 'cancelled')
      .map((e) => e.summary);
    expect(titles.sort()).toEqual(inGoogle.sort()); // the new key reads the agent's calendar again
  });

  test('removal racing a verification and a channel registration: the key stays removed and erased, and no channel is left open', async () => {
    const adminToken = await w.token('boss@alpha.test', true);
    // Both calls parked at Google: the doctor's calendar check before it runs, the channel registration after Google
    // opened the channel (its answer not yet back). The removal comes while both are under way, for certain.
    const check = await w.admin.addFault({ api: 'calendar', method: 'calendar.events.list', hold: 'call' });
    const watch = await w.admin.addFault({ api: 'calendar', method: 'calendar.events.watch', hold: 'answer' });
    await w.admin.clearRequests();
    const verifying = w.gw.gql('mutation { verifyServiceAccount { status } }', { token: adminToken });
    await w.admin.waitHeld(check.id);
    // A first use meanwhile, which registers a channel: by another agent, since AGENT's channel was checked by the
    // previous test less than a minute ago (ensure() looks at most once a minute per agent).
    const other = await w.gw.gql(VIEW, { token: await w.token('other@alpha.test') });
    expect(other.body.data.events.totalCount).toBe(0);
    await w.admin.waitHeld(watch.id);
    const removing = w.gw.gql('mutation { removeServiceAccountKey }', { token: adminToken });
    // Out of use and erased first; then it waits for the registration under way, which the release lets finish.
    await until(
      'the key retired',
      async () =>
        (
          await db().ds.query('SELECT status FROM service_account_credential WHERE brokerageId = ? AND status <> ?', [
            w.brokerageId,
            'RETIRED',
          ])
        ).length,
      (n) => n === 0,
    );
    await w.admin.release(check.id);
    await w.admin.release(watch.id);
    expect((await removing).body.data.removeServiceAccountKey).toBe(true);
    const verified = await verifying;
    expect(verified.body.errors?.[0].extensions.code).toBe('GOOGLE_NOT_CONFIGURED');
    const rows = await db().ds.query(
      'SELECT status, wrappedKey, ciphertext FROM service_account_credential WHERE brokerageId = ? AND status <> ?',
      [w.brokerageId, 'RETIRED'],
    );
    expect(rows).toEqual([]);
    expect(
      Number(
        (
          await db().ds.query(
            "SELECT COUNT(*) AS n FROM service_account_credential WHERE brokerageId = ? AND ciphertext <> ''",
            [w.brokerageId],
          )
        )[0].n,
      ),
    ).toBe(0);
    const live = (
      await w.admin.request<{ address: string; stopped: boolean }[]>('GET', '/calendar/channels')
    ).body.filter((c) => c.address.startsWith(w.gw.url) && !c.stopped);
    expect(live).toEqual([]);
    expect(Number((await db().ds.query('SELECT COUNT(*) AS n FROM calendar_channel'))[0].n)).toBe(0);
    // Back in business for the next test.
    await w.admin.clearFaults();
    const again = await w.gw.gql(
      'mutation ($k: String!) { submitServiceAccountKey(keyJson: $k, testEmail: "agent@alpha.test") { status } }',
      { token: adminToken, variables: { k: JSON.stringify(w.tenant.key) } },
    );
    expect(again.body.data.submitServiceAccountKey.status).toBe('VERIFIED');
  });

  test('with CALENDAR_CHANNELS_ON_SHUTDOWN=stop, shutdown stops the channels it registered (Google stops calling an address going away)', async () => {
    await w.admin.clearRequests();
    await gql(VIEW); // first use registers the channel
    const ours = async () =>
      (await w.admin.request<{ address: string; stopped: boolean }[]>('GET', '/calendar/channels')).body.filter(
        (c) => c.address.startsWith(w.gw.url) && !c.stopped,
      );
    const rows = async () => Number((await db().ds.query('SELECT COUNT(*) AS n FROM calendar_channel'))[0].n);
    // Registered in Google, then recorded by us (the row is written once watch has answered).
    await until(
      'a channel registered in Google and recorded',
      async () => [(await ours()).length, await rows()],
      ([g, r]) => g > 0 && r > 0,
    );
    expect(await rows()).toBe(1);
    await w.close();
    closed = true;
    expect(await ours()).toEqual([]);
    expect(Number((await db().ds.query('SELECT COUNT(*) AS n FROM calendar_channel'))[0].n)).toBe(0);
    expect(
      (await w.admin.requests({ api: 'calendar', method: 'calendar.channels.stop' })).map((r) => r.status),
    ).toEqual([204]);
  });
});

describeEachDb('calendar channels with several replicas (the default, CALENDAR_CHANNELS_ON_SHUTDOWN=keep)', (db) => {
  test('a replica shutting down leaves the channels; the replica behind the same address serves the next notification', async () => {
    const port = await freePort();
    const emu = await startEmulator();
    // No CALENDAR_CHANNELS_ON_SHUTDOWN: the default must be safe for a rolling deploy of several replicas.
    const env = {
      CALENDAR_WEBHOOK_URL: `http://127.0.0.1:${port}/webhooks/google/calendar`,
      CALENDAR_CACHE_SECONDS: '0',
    };
    try {
      const a = await startWorld(db(), { emu, port, env });
      const token = await a.token(AGENT);
      await a.gw.gql('{ me { id } }', { token }); // the agent's row is made on first sight
      const agentId = (await db().ds.query('SELECT id FROM agent WHERE email = ?', [AGENT]))[0].id;
      const channel = await a.gw.services.calendarWatch.ensureNow({
        brokerageId: a.brokerageId,
        agentId,
        email: AGENT,
      });
      await a.gw.gql('mutation { syncCalendar { calendar { lastSyncAt } } }', { token });
      await a.gw.close();
      // Nothing was stopped: the channel is live in Google and in the shared database.
      expect(
        (await a.admin.request<{ id: string; stopped: boolean }[]>('GET', '/calendar/channels')).body.find(
          (c) => c.id === channel!.id,
        )?.stopped,
      ).toBe(false);
      expect((await a.admin.requests({ api: 'calendar', method: 'calendar.channels.stop' })).length).toBe(0);
      expect((await db().ds.query('SELECT id FROM calendar_channel')).map((r: { id: string }) => r.id)).toEqual([
        channel!.id,
      ]);

      // Another replica now answers at the address (same port: what a load balancer would do).
      const b = await startTestGateway(db().ds, {
        env: { GOOGLE_API_ROOT_URL: `${emu.url}/`, GOOGLE_TOKEN_URIS: `${emu.url}/token`, ...FAST_OUTBOX_ENV, ...env },
        port,
      });
      try {
        // An event made in Google: the emulator notifies the channel's address, replica B verifies the token and syncs.
        const made = (
          await a.admin.request<{ id: string }>('POST', `/users/${AGENT}/events`, {
            summary: 'Made in Google',
            start: { dateTime: '2026-12-14T10:00:00Z' },
            end: { dateTime: '2026-12-14T11:00:00Z' },
          })
        ).body;
        const bToken = await b.token(AGENT);
        await until(
          `replica B synced after the notification for ${made.id}`,
          async () =>
            (
              await b.gql('{ eventChanges(first: 100) { edges { node { eventId event { title } } } } }', {
                token: bToken,
              })
            ).body.data.eventChanges.edges as Array<{ node: { event: { title: string } | null } }>,
          (feed) => feed.some((e) => e.node.event?.title === 'Made in Google'),
        );
        const syncs = (await a.admin.requests({ api: 'calendar', method: 'calendar.events.list' })).filter((r) =>
          /(^|&)syncToken=/.test(r.query ?? ''),
        );
        expect(syncs.length).toBeGreaterThanOrEqual(1);
      } finally {
        await b.close();
      }
    } finally {
      await emu.close();
    }
  });
});

describeEachDb('calendar views across replicas sharing one database', (db) => {
  test("a write delivered or a notification received by one replica makes the other's cached view stale at once; two replicas renewing one channel leave one", async () => {
    const emu = await startEmulator();
    const portB = await freePort();
    try {
      const a = await startWorld(db(), {
        emu,
        env: {
          CALENDAR_CACHE_SECONDS: '600',
          CALENDAR_WEBHOOK_URL: `http://127.0.0.1:${portB}/webhooks/google/calendar`,
        },
      });
      const b = await startTestGateway(db().ds, {
        env: {
          GOOGLE_API_ROOT_URL: `${emu.url}/`,
          GOOGLE_TOKEN_URIS: `${emu.url}/token`,
          ...FAST_OUTBOX_ENV,
          MUTATION_WAIT_MS: '60000',
          CALENDAR_CACHE_SECONDS: '600',
          CALENDAR_WEBHOOK_URL: `http://127.0.0.1:${portB}/webhooks/google/calendar`,
        },
        port: portB,
      });
      try {
        const token = await a.token(AGENT);
        const viewOn = async (gw: { gql: typeof a.gw.gql }) =>
          (
            await gw.gql(
              'query { events(from: "2026-12-01T00:00:00Z", to: "2027-01-01T00:00:00Z") { edges { node { title } } } }',
              { token },
            )
          ).body.data.events.edges.map((e: { node: { title: string } }) => e.node.title);
        const lists = async () =>
          (await a.admin.requests({ api: 'calendar', method: 'calendar.events.list' })).filter((r) =>
            /singleEvents=true/.test(r.query ?? ''),
          ).length;
        expect(await viewOn(a.gw)).toEqual([]);
        expect(await viewOn(a.gw)).toEqual([]);
        expect(await lists()).toBe(1); // the second view came from A's cache

        // B delivers a write: A's cached view is stale, its next view asks Google once.
        const made = await b.gql(
          'mutation { createEvent(input: { title: "Via B", start: "2026-12-15T10:00:00Z", end: "2026-12-15T11:00:00Z" }) { syncState } }',
          { token },
        );
        expect(made.body.data.createEvent.syncState).toBe('SYNCED');
        await a.admin.clearRequests();
        expect(await viewOn(a.gw)).toEqual(['Via B']);
        expect(await viewOn(a.gw)).toEqual(['Via B']);
        expect(await lists()).toBe(1);

        // A change made in Google reaches B as a push notification: A's view follows.
        const agentId = (await db().ds.query('SELECT id FROM agent WHERE email = ?', [AGENT]))[0].id;
        await b.services.calendarWatch.ensureNow({ brokerageId: a.brokerageId, agentId, email: AGENT });
        await a.admin.clearRequests();
        await a.admin.request('POST', `/users/${AGENT}/events`, {
          summary: 'Made in Google',
          start: { dateTime: '2026-12-16T10:00:00Z' },
          end: { dateTime: '2026-12-16T11:00:00Z' },
        });
        const titles: string[] = await until(
          'replica A serving the event made in Google',
          () => viewOn(a.gw),
          (t: string[]) => t.includes('Made in Google'),
        );
        expect(titles).toEqual(['Via B', 'Made in Google']);

        // Both replicas renew the same channel at once: one channel survives, in Google and in the table.
        await db()
          .ds.getRepository(CalendarChannel)
          .update({ agentId }, { expiration: new Date(Date.now() + 3600_000) });
        await Promise.all([
          a.gw.services.calendarWatch.ensureNow({ brokerageId: a.brokerageId, agentId, email: AGENT }),
          b.services.calendarWatch.ensureNow({ brokerageId: a.brokerageId, agentId, email: AGENT }),
        ]);
        const live = (
          await a.admin.request<{ id: string; address: string; stopped: boolean }[]>('GET', '/calendar/channels')
        ).body.filter((c) => c.address.includes(`:${portB}/`) && !c.stopped);
        expect(live).toHaveLength(1);
        expect((await db().ds.query('SELECT id FROM calendar_channel')).map((r: { id: string }) => r.id)).toEqual([
          live[0].id,
        ]);
      } finally {
        await b.close();
        await a.gw.close();
      }
    } finally {
      await emu.close();
    }
  });
});

describeEachDb('calendar channel renewal by two replicas at once', (db) => {
  test("the older of two new channels, recorded only after the newer one's replica looked, is stopped: one channel left, in Google and in the table", async () => {
    const emu = await startEmulator();
    const port = await freePort();
    const env = { CALENDAR_WEBHOOK_URL: `http://127.0.0.1:${port}/webhooks/google/calendar` };
    // one Repository per DataSource: both replicas' inserts go through it
    const repo = db().ds.getRepository(CalendarChannel);
    const insert = repo.insert.bind(repo);
    const spy = jest.spyOn(repo, 'insert');
    let recordOlder = () => {};
    try {
      const a = await startWorld(db(), { emu, port, env });
      const b = await startTestGateway(db().ds, {
        env: { GOOGLE_API_ROOT_URL: `${emu.url}/`, GOOGLE_TOKEN_URIS: `${emu.url}/token`, ...FAST_OUTBOX_ENV, ...env },
      });
      try {
        await a.gw.gql('{ me { id } }', { token: await a.token(AGENT) }); // the agent's row is made on first sight
        const agent = {
          brokerageId: a.brokerageId,
          agentId: (await db().ds.query('SELECT id FROM agent WHERE email = ?', [AGENT]))[0].id,
          email: AGENT,
        };
        const old = (await a.gw.services.calendarWatch.ensureNow(agent))!;
        // due for renewal, on both replicas
        await repo.update({ id: old.id }, { expiration: new Date(Date.now() + 3600_000) });

        // Both replicas open a new channel in Google; their answers are parked there. The first answer back is stamped
        // first (the older channel), and its row is held on the way to the database (the window between the stamp and
        // the insert: a slow connection, a busy pool); the second (the newer) is recorded, looks for older channels and
        // stops them, all before the older one is in the table.
        const watch = await a.admin.addFault({
          api: 'calendar',
          method: 'calendar.events.watch',
          hold: 'answer',
          count: 2,
        });
        let olderStamped!: (createdAt: Date) => void;
        const olderAtInsert = new Promise<Date>((r) => (olderStamped = r));
        const olderMayInsert = new Promise<void>((r) => (recordOlder = r));
        let inserts = 0;
        spy.mockImplementation(async (row) => {
          if (++inserts === 1) {
            olderStamped((row as CalendarChannel).createdAt);
            await olderMayInsert;
          }
          return insert(row);
        });
        const finished: Array<CalendarChannel | null> = [];
        const renewing = Promise.all(
          [a.gw.services.calendarWatch, b.services.calendarWatch].map((watcher) =>
            watcher.ensureNow(agent).then((c) => (finished.push(c), c)),
          ),
        );
        await a.admin.waitHeld(watch.id, 2);
        await a.admin.release(watch.id, 1);
        const olderCreatedAt = await olderAtInsert;
        // Stamps are milliseconds: the newer channel must be stamped in a later one to be the newer for certain.
        await until(
          "a millisecond after the older channel's stamp",
          () => Date.now(),
          (now) => now > olderCreatedAt.getTime(),
        );
        await a.admin.release(watch.id, 1);
        await until(
          'the replica with the newer channel finished its renewal',
          () => finished.length,
          (n) => n === 1,
        );
        const newer = finished[0]!;
        expect(newer.createdAt.getTime()).toBeGreaterThan(olderCreatedAt.getTime());
        recordOlder();
        const answers = await renewing;

        // The newer channel survives; both replicas answer with it.
        const live = (
          await a.admin.request<{ id: string; address: string; stopped: boolean }[]>('GET', '/calendar/channels')
        ).body.filter((c) => c.address === env.CALENDAR_WEBHOOK_URL && !c.stopped);
        expect(live.map((c) => c.id)).toEqual([newer.id]);
        expect((await db().ds.query('SELECT id FROM calendar_channel')).map((r: { id: string }) => r.id)).toEqual([
          newer.id,
        ]);
        expect(answers.map((c) => c?.id)).toEqual([newer.id, newer.id]);
      } finally {
        recordOlder(); // a failed step must not leave a renewal waiting
        await b.close();
        await a.close();
      }
    } finally {
      spy.mockRestore();
      await emu.close();
    }
  });
});

describeEachDb('calendar writes Google refuses for good', (db) => {
  test("a refused create answers FAILED with Google's reason, stays readable, and is listed in syncStatus.calendar.failedWrites", async () => {
    const w = await startWorld(db(), { env: { MUTATION_WAIT_MS: '60000' } }); // answers once Google has answered, however loaded the machine
    try {
      const token = await w.token(AGENT);
      const gql = (q: string, v?: Record<string, unknown>) => w.gw.gql(q, { token, variables: v });
      await w.admin.addFault({ api: 'calendar', method: 'calendar.events.insert', status: 400 });
      const made = (
        await gql(
          'mutation { createEvent(input: { title: "Refused", start: "2026-12-18T10:00:00Z", end: "2026-12-18T11:00:00Z" }) { id title syncState syncError } }',
        )
      ).body.data.createEvent;
      expect(made).toMatchObject({ title: 'Refused', syncState: 'FAILED' });
      expect(made.syncError).toMatch(/^Google refused the change/);
      expect(
        (await gql('query ($id: ID!) { event(id: $id) { title syncState } }', { id: made.id })).body.data.event,
      ).toEqual({ title: 'Refused', syncState: 'FAILED' });
      const status = (
        await gql('{ syncStatus { calendar { failedChanges pendingChanges failedWrites { eventId title error } } } }')
      ).body.data.syncStatus.calendar;
      expect(status).toMatchObject({
        failedChanges: 1,
        pendingChanges: 0,
        failedWrites: [{ eventId: made.id, title: 'Refused', error: made.syncError }],
      });
      // Nothing in Google, and nothing retried.
      expect((await w.admin.request<unknown[]>('GET', `/users/${AGENT}/events`)).body).toEqual([]);
      expect(
        (await w.admin.requests({ api: 'calendar', method: 'calendar.events.insert' })).map((r) => r.status),
      ).toEqual([400]);

      // Written again, it goes again (as a create, with the change); deleted, it is simply forgotten.
      const fixed = (
        await gql(
          'mutation ($id: ID!) { updateEvent(id: $id, input: { title: "Refused, fixed" }) { title syncState syncError } }',
          { id: made.id },
        )
      ).body.data.updateEvent;
      expect(fixed).toEqual({ title: 'Refused, fixed', syncState: 'SYNCED', syncError: null });
      expect(
        (await w.admin.request<{ id: string; summary: string }[]>('GET', `/users/${AGENT}/events`)).body.map((e) => [
          e.id,
          e.summary,
        ]),
      ).toEqual([[made.id, 'Refused, fixed']]);
      await w.admin.addFault({ api: 'calendar', method: 'calendar.events.insert', status: 400 });
      const again = (
        await gql(
          'mutation { createEvent(input: { title: "Refused twice", start: "2026-12-19T10:00:00Z", end: "2026-12-19T11:00:00Z" }) { id syncState } }',
        )
      ).body.data.createEvent;
      expect(again.syncState).toBe('FAILED');
      expect((await gql('mutation ($id: ID!) { deleteEvent(id: $id) }', { id: again.id })).body.data.deleteEvent).toBe(
        true,
      );
      expect((await gql('query ($id: ID!) { event(id: $id) { id } }', { id: again.id })).body.data.event).toBeNull();
      expect(
        (await gql('{ syncStatus { calendar { failedWrites { eventId } } } }')).body.data.syncStatus.calendar
          .failedWrites,
      ).toEqual([]);
      expect(await w.admin.requests({ api: 'calendar', method: 'calendar.events.delete' })).toEqual([]); // nothing to delete in Google
    } finally {
      await w.close();
    }
  });

  test('an edit made while Google is refusing the create is not lost: the refusal settles only the write it answered', async () => {
    const w = await startWorld(db(), { domain: 'beta.test', env: { MUTATION_WAIT_MS: '100' } });
    const AGENT = 'agent@beta.test';
    try {
      const token = await w.token(AGENT);
      const gql = (q: string, v?: Record<string, unknown>) => w.gw.gql(q, { token, variables: v });
      // The insert is parked at Google until released, then refused: the edit below is made while it is under way.
      const refusal = await w.admin.addFault({
        api: 'calendar',
        method: 'calendar.events.insert',
        status: 400,
        hold: 'call',
      });
      const made = (
        await gql(
          'mutation { createEvent(input: { title: "Draft", start: "2026-12-20T10:00:00Z", end: "2026-12-20T11:00:00Z" }) { id syncState } }',
        )
      ).body.data.createEvent;
      expect(made.syncState).toBe('PENDING');
      await w.admin.waitHeld(refusal.id);
      expect(
        (
          await gql('mutation ($id: ID!) { updateEvent(id: $id, input: { title: "Final" }) { syncState } }', {
            id: made.id,
          })
        ).body.data.updateEvent.syncState,
      ).toBe('PENDING');
      await w.admin.release(refusal.id);
      await until(
        'calendar writes delivered',
        async () =>
          Number(
            (await db().ds.query("SELECT COUNT(*) AS n FROM outbox WHERE topic = 'calendar' AND status = 'PENDING'"))[0]
              .n,
          ),
        (n) => n === 0,
      );
      expect(
        (await w.admin.requests({ api: 'calendar', method: 'calendar.events.insert' })).map((r) => r.status),
      ).toEqual([400, 200]);
      expect(
        (await w.admin.request<{ id: string; summary: string }[]>('GET', `/users/${AGENT}/events`)).body.map((e) => [
          e.id,
          e.summary,
        ]),
      ).toEqual([[made.id, 'Final']]);
      expect(
        (await gql('query ($id: ID!) { event(id: $id) { title syncState } }', { id: made.id })).body.data.event,
      ).toEqual({ title: 'Final', syncState: 'SYNCED' });
    } finally {
      await w.close();
    }
  });
});
