/**
 * The calendar change feed keeps CALENDAR_CHANGES_RETENTION_DAYS (default 30) of changes (issue 12, item 7). Before,
 * `calendar_change` kept every event's full JSON forever. Rows older than the retention are deleted by a sweep (every
 * agent, also those who never sync again) and by each agent's own sync; a cursor from before what was deleted gets a
 * typed error telling the client to reload and go on from `resyncCursor`, never a silent gap.
 * The sweep is called directly (no timer is raced); rows are made old by moving their recordedAt back.
 */
import { CalendarChange, CalendarKnown, CalendarSyncRecord } from '../../src/entities';
import { testConfig } from '../support/gateway';
import { describeEachDb } from '../support/db';
import { startWorld, type World } from '../support/world';

const AGENT = 'agent@alpha.test';
const OTHER = 'other@alpha.test';
const DAY = 86_400_000;

test('CALENDAR_CHANGES_RETENTION_DAYS: 30 days by default, configurable', () => {
  expect(testConfig().calendar.changesRetentionMs).toBe(30 * DAY);
  expect(testConfig({ CALENDAR_CHANGES_RETENTION_DAYS: '7' }).calendar.changesRetentionMs).toBe(7 * DAY);
  expect(() => testConfig({ CALENDAR_CHANGES_RETENTION_DAYS: '0' })).toThrow(/CALENDAR_CHANGES_RETENTION_DAYS/);
});

describeEachDb("the calendar change feed's retention", (db) => {
  let w: World;
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    w = await startWorld(db());
    for (const who of [AGENT, OTHER]) tokens[who] = await w.token(who);
  });
  afterAll(() => w.close());

  const gql = (who: string, q: string, variables?: Record<string, unknown>) =>
    w.gw.gql(q, { token: tokens[who], variables });
  const FEED =
    'query ($after: String) { eventChanges(first: 100, after: $after) { edges { cursor node { eventId event { title } } } pageInfo { endCursor } } }';
  const feed = async (who: string, after?: string) => gql(who, FEED, { after });
  const titles = (res: { body: { data?: any } }) =>
    res.body.data.eventChanges.edges.map((e: { node: { event: { title: string } | null } }) => e.node.event?.title);
  const makeInGoogle = (who: string, summary: string, day: number) =>
    w.admin.request('POST', `/users/${who}/events`, {
      summary,
      start: { dateTime: `2026-12-${String(day).padStart(2, '0')}T10:00:00Z` },
      end: { dateTime: `2026-12-${String(day).padStart(2, '0')}T11:00:00Z` },
    });
  const sync = async (who: string) =>
    expect((await gql(who, 'mutation { syncCalendar { calendar { lastSyncAt } } }')).body.errors).toBeUndefined();
  const agentId = async (who: string) =>
    (await db().ds.query('SELECT id FROM agent WHERE email = ?', [who]))[0].id as string;
  const rowsOf = async (who: string) =>
    (
      await db()
        .ds.getRepository(CalendarChange)
        .find({ where: { agentId: await agentId(who) }, order: { seq: 'ASC' } })
    ).map((r) => r.seq);
  /** Moves rows back in time, as if recorded `days` ago. */
  const age = (seqs: number[], days: number) =>
    db()
      .ds.createQueryBuilder()
      .update(CalendarChange)
      .set({ recordedAt: new Date(Date.now() - days * DAY) })
      .whereInIds(seqs)
      .execute();

  test("old rows go (every agent's), recent ones stay; a cursor from before the deleted rows is refused with a resync cursor; one at the edge goes on", async () => {
    for (const [i, t] of ['One', 'Two', 'Three'].entries()) await makeInGoogle(AGENT, t, i + 1);
    await makeInGoogle(OTHER, 'Other old', 4);
    await sync(AGENT);
    await sync(OTHER);
    const first = await feed(AGENT);
    expect(titles(first)).toEqual(['One', 'Two', 'Three']);
    const [c1, c2] = first.body.data.eventChanges.edges.map((e: { cursor: string }) => e.cursor);
    const [s1, s2, s3] = await rowsOf(AGENT);
    const [o1] = await rowsOf(OTHER);
    await age([s1, s2, o1], 31);
    await makeInGoogle(AGENT, 'Four', 5);
    await sync(AGENT); // the agent's own sync already drops its old rows
    expect(await rowsOf(AGENT)).toEqual([s3, expect.any(Number)]);
    expect(await rowsOf(OTHER)).toEqual([o1]); // OTHER did not sync: its old row waits for the sweep
    expect(await w.gw.services.calendarSync.prune()).toBe(1);
    expect(await rowsOf(OTHER)).toEqual([]);
    expect(await w.gw.services.calendarSync.prune()).toBe(0);
    const horizon = async (who: string) =>
      (
        await db()
          .ds.getRepository(CalendarSyncRecord)
          .findOneByOrFail({ agentId: await agentId(who) })
      ).changesPrunedThrough;
    expect(await horizon(AGENT)).toBe(s2);
    expect(await horizon(OTHER)).toBe(o1);

    // A client that had read only "One" missed "Two", which is gone: refused, told how to go on.
    const expired = await feed(AGENT, c1);
    expect(expired.body.errors).toEqual([
      expect.objectContaining({
        extensions: expect.objectContaining({
          code: 'BAD_USER_INPUT',
          field: 'after',
          reason: 'cursor_expired',
          retentionDays: 30,
          resyncCursor: expect.any(String),
        }),
      }),
    ]);
    expect(expired.body.errors![0].message).toMatch(/older than the change feed keeps \(30 days\).*events\(from, to\)/);
    // The resync cursor is the feed's current end: nothing after it yet; what comes next is delivered after it.
    const resync = expired.body.errors![0].extensions.resyncCursor as string;
    expect(titles(await feed(AGENT, resync))).toEqual([]);
    await makeInGoogle(AGENT, 'Five', 6);
    await sync(AGENT);
    expect(titles(await feed(AGENT, resync))).toEqual(['Five']);
    // A client that had read up to "Two" missed nothing: it goes on.
    expect(titles(await feed(AGENT, c2))).toEqual(['Three', 'Four', 'Five']);
    // No cursor: what the feed still holds.
    expect(titles(await feed(AGENT))).toEqual(['Three', 'Four', 'Five']);
    // OTHER's feed is empty now, and its first cursor is no longer valid either.
    expect(titles(await feed(OTHER))).toEqual([]);
  });

  test("the feed's memory forgets with it: cancellations as old as the retention, and events that ended before the sync window", async () => {
    for (const t of ['calendar_change', 'calendar_known', 'calendar_sync']) await db().ds.query(`DELETE FROM ${t}`);
    for (const e of (await w.admin.request<{ id: string; status: string }[]>('GET', `/users/${AGENT}/events`)).body)
      if (e.status !== 'cancelled') await w.admin.request('DELETE', `/users/${AGENT}/events/${e.id}`);
    const made = async (summary: string, day: number) =>
      (await makeInGoogle(AGENT, summary, day)).body as { id: string };
    const kept = await made('Kept', 10);
    const cancelled = await made('Cancelled', 11);
    const ended = await made('Ended', 12);
    await sync(AGENT);
    await w.admin.request('DELETE', `/users/${AGENT}/events/${cancelled.id}`);
    await sync(AGENT);
    const me = await agentId(AGENT);
    const known = async () =>
      (
        await db()
          .ds.getRepository(CalendarKnown)
          .find({ where: { agentId: me }, order: { googleEventId: 'ASC' } })
      ).map((k) => [k.googleEventId, k.status]);
    expect(await known()).toEqual(
      [
        [kept.id, 'confirmed'],
        [cancelled.id, 'cancelled'],
        [ended.id, 'confirmed'],
      ].sort(),
    );
    // All of it recorded 31 days ago; "Ended" ended 40 days ago (before the 30-day window).
    await age(await rowsOf(AGENT), 31);
    await db()
      .ds.createQueryBuilder()
      .update(CalendarKnown)
      .set({ recordedAt: new Date(Date.now() - 31 * DAY) })
      .where('agentId = :me', { me })
      .execute();
    await db()
      .ds.createQueryBuilder()
      .update(CalendarKnown)
      .set({ endsAt: new Date(Date.now() - 40 * DAY) })
      .where('agentId = :me AND googleEventId = :id', { me, id: ended.id })
      .execute();
    await w.gw.services.calendarSync.prune();
    expect(await known()).toEqual([[kept.id, 'confirmed']]);
  });
});
