/**
 * Issue 13, item 5: after Google invalidates the sync token (410), the full resync reconciles against what the feed
 * already told its clients. A client that keeps a local copy from `eventChanges` ends with exactly Google's events:
 * deletions made while the token was invalid arrive as cancelled entries, unchanged events are not repeated, and an
 * event that merely left the sync window (it ended before it) is not reported cancelled.
 */
import { describeEachDb } from '../support/db';
import { startWorld, type World } from '../support/world';

const AGENT = 'agent@alpha.test';

interface Change {
  eventId: string;
  status: string;
  event: { title: string | null } | null;
}

describeEachDb('calendar change feed: a full resync after 410 reconciles', (db) => {
  let w: World;
  let token: string;

  beforeAll(async () => {
    w = await startWorld(db(), { env: { MUTATION_WAIT_MS: '60000' } });
    token = await w.token(AGENT);
  });
  afterAll(() => w.close());
  beforeEach(async () => {
    for (const t of ['calendar_event', 'calendar_change', 'calendar_known', 'calendar_sync', 'outbox'])
      await db().ds.query(`DELETE FROM ${t}`);
    for (const e of (await w.admin.request<{ id: string; status: string }[]>('GET', `/users/${AGENT}/events`)).body)
      if (e.status !== 'cancelled') await w.admin.request('DELETE', `/users/${AGENT}/events/${e.id}`);
    await w.admin.clearFaults();
    setPastDays(30);
    await w.admin.clearRequests();
  });

  const gql = (q: string, v?: Record<string, unknown>) => w.gw.gql(q, { token, variables: v });
  const sync = async () => {
    const r = await gql('mutation { syncCalendar { calendar { fullSyncs lastFullSyncReason lastError } } }');
    expect(r.body.errors).toBeUndefined();
    return r.body.data.syncCalendar.calendar;
  };
  /** Every change after `after`, paging as a client does; returns them and the cursor to keep. */
  async function changesAfter(after: string | null): Promise<{ changes: Change[]; cursor: string | null }> {
    const changes: Change[] = [];
    let cursor = after;
    for (;;) {
      const r = await gql(
        'query ($a: String) { eventChanges(first: 50, after: $a) { edges { node { eventId status event { title } } } pageInfo { hasNextPage endCursor } } }',
        { a: cursor },
      );
      expect(r.body.errors).toBeUndefined();
      const page = r.body.data.eventChanges;
      changes.push(...page.edges.map((e: { node: Change }) => e.node));
      cursor = page.pageInfo.endCursor ?? cursor;
      if (!page.pageInfo.hasNextPage) return { changes, cursor };
    }
  }
  /** A client's local copy: id → title, built by applying changes in order. */
  const apply = (copy: Map<string, string | null>, changes: Change[]) => {
    for (const c of changes) {
      if (c.status === 'cancelled') copy.delete(c.eventId);
      else copy.set(c.eventId, c.event?.title ?? null);
    }
    return copy;
  };
  /** Google's live events (series unexpanded), id → title. */
  const googleEvents = async () =>
    new Map(
      (
        await w.admin.request<Array<{ id: string; status: string; summary?: string }>>('GET', `/users/${AGENT}/events`)
      ).body
        .filter((e) => e.status !== 'cancelled')
        .map((e) => [e.id, e.summary ?? null]),
    );
  const seed = async (summary: string, start: string, end: string, extra: Record<string, unknown> = {}) =>
    (
      await w.admin.request<{ id: string }>('POST', `/users/${AGENT}/events`, {
        summary,
        start: { dateTime: start, timeZone: 'UTC' },
        end: { dateTime: end, timeZone: 'UTC' },
        ...extra,
      })
    ).body.id;
  /** Moves the sync window's start, as the days passing do (CALENDAR_SYNC_PAST_DAYS back from now). */
  const setPastDays = (days: number) => {
    (w.gw.services.calendarSync as unknown as { deps: { pastDays: number } }).deps.pastDays = days;
  };
  const day = (offset: number, hour = 10) =>
    new Date(
      Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate() + offset, hour),
    ).toISOString();

  test('deleted while the token was invalid: a cancelled entry; edited and added: one entry each; unchanged: none; the local copy equals Google', async () => {
    const x = await seed('X: to be deleted', day(3), day(3, 11));
    const wId = await seed('W: to be edited', day(4), day(4, 11));
    const u = await seed('U: unchanged', day(5), day(5, 11));
    const series = await seed('R: weekly, to be deleted', day(6), day(6, 11), {
      recurrence: ['RRULE:FREQ=WEEKLY;COUNT=10'],
    });
    const keptSeries = await seed('S: weekly, unchanged', day(7), day(7, 11), {
      recurrence: ['RRULE:FREQ=WEEKLY;COUNT=10'],
    });
    expect((await sync()).lastFullSyncReason).toBe('FIRST_SYNC');
    const first = await changesAfter(null);
    const copy = apply(new Map(), first.changes);
    expect(copy).toEqual(await googleEvents());

    await w.admin.request('DELETE', `/users/${AGENT}/events/${x}`);
    await w.admin.request('DELETE', `/users/${AGENT}/events/${series}`);
    await w.admin.request('PATCH', `/users/${AGENT}/events/${wId}`, { summary: 'W: edited in Google' });
    const y = await seed('Y: added', day(8), day(8, 11));
    await w.admin.request('POST', `/users/${AGENT}/calendar/invalidate-sync-tokens`);
    const after = await sync();
    expect(after.lastFullSyncReason).toBe('FULL_SYNC_REQUIRED');
    expect(after.lastError).toBeNull();

    const { changes } = await changesAfter(first.cursor);
    const byId = (id: string) => changes.filter((c) => c.eventId === id).map((c) => [c.status, c.event?.title ?? null]);
    expect(byId(x)).toEqual([['cancelled', null]]);
    expect(byId(series)).toEqual([['cancelled', null]]);
    expect(byId(wId)).toEqual([['confirmed', 'W: edited in Google']]);
    expect(byId(y)).toEqual([['confirmed', 'Y: added']]);
    expect(byId(u)).toEqual([]);
    expect(byId(keptSeries)).toEqual([]);
    expect(changes).toHaveLength(4);
    expect(apply(copy, changes)).toEqual(await googleEvents());

    // Nothing changed since: another forced full resync adds nothing to the feed.
    const cursor = (await changesAfter(first.cursor)).cursor;
    await w.admin.request('POST', `/users/${AGENT}/calendar/invalidate-sync-tokens`);
    await sync();
    expect((await changesAfter(cursor)).changes).toEqual([]);
  });

  test('after the window moved: an event that ended before it is forgotten unasked; a series that ended is looked up and not reported; a deleted one is', async () => {
    const past = await seed('Yesterday', day(-1), day(-1, 11));
    const endedSeries = await seed('Weekly, last one yesterday', day(-8), day(-8, 11), {
      recurrence: ['RRULE:FREQ=WEEKLY;COUNT=2'],
    });
    const goneSeries = await seed('Weekly, deleted', day(-8, 12), day(-8, 13), {
      recurrence: ['RRULE:FREQ=WEEKLY;COUNT=2'],
    });
    await sync();
    const first = await changesAfter(null);
    expect(first.changes.map((c) => c.eventId).sort()).toEqual([past, endedSeries, goneSeries].sort());
    await w.admin.request('DELETE', `/users/${AGENT}/events/${goneSeries}`);
    setPastDays(0); // time passed: all three now end before the window, and the listing no longer returns them
    await w.admin.request('POST', `/users/${AGENT}/calendar/invalidate-sync-tokens`);
    await w.admin.clearRequests();
    expect((await sync()).lastError).toBeNull();
    const { changes } = await changesAfter(first.cursor);
    expect(changes).toEqual([{ eventId: goneSeries, status: 'cancelled', event: null }]);
    // The ended series is looked up (and found); the deleted one is listed as cancelled or looked up; "Yesterday" is
    // not asked about.
    const gets = (await w.admin.requests({ api: 'calendar', method: 'calendar.events.get' })).map((r) =>
      r.path.split('/').pop(),
    );
    expect(gets).toContain(endedSeries);
    expect(gets.every((id) => id === endedSeries || id === goneSeries)).toBe(true);
  });

  test('a resync that fails half way (a lookup answers 503 after the listing was recorded) is completed by the next sync: nothing told twice, nothing missed', async () => {
    const x = await seed('X: deleted, in the window', day(3), day(3, 11));
    const moved = await seed('Moved before the window', day(4), day(4, 11));
    const edited = await seed('Edited', day(5), day(5, 11));
    await sync();
    const first = await changesAfter(null);
    await w.admin.request('DELETE', `/users/${AGENT}/events/${x}`);
    await w.admin.request('PATCH', `/users/${AGENT}/events/${moved}`, {
      summary: 'Moved to last week',
      start: { dateTime: day(-7), timeZone: 'UTC' },
      end: { dateTime: day(-7, 11), timeZone: 'UTC' },
    });
    await w.admin.request('PATCH', `/users/${AGENT}/events/${edited}`, { summary: 'Edited in Google' });
    setPastDays(1); // the moved event now ends before the window: only a lookup finds its change
    await w.admin.request('POST', `/users/${AGENT}/calendar/invalidate-sync-tokens`);
    await w.admin.addFault({ api: 'calendar', method: 'calendar.events.get', status: 503, count: 1 });
    const failed = await gql('mutation { syncCalendar { calendar { lastError } } }');
    expect(failed.body.errors?.[0]?.extensions?.code).toBe('UPSTREAM_UNAVAILABLE');
    // Had the token been saved before the sweep, this sync would be incremental and never learn of the move.
    const done = await sync();
    expect(done).toMatchObject({ lastError: null, lastFullSyncReason: 'FULL_SYNC_REQUIRED' });
    const { changes } = await changesAfter(first.cursor);
    expect(changes.map((c) => [c.eventId, c.status, c.event?.title ?? null]).sort()).toEqual(
      [
        [x, 'cancelled', null],
        [moved, 'confirmed', 'Moved to last week'],
        [edited, 'confirmed', 'Edited in Google'],
      ].sort(),
    );
  });

  test("event ids up to Google's 1,024 characters: told whole, two sharing a long prefix kept apart, and editable", async () => {
    const prefix = 'a'.repeat(300);
    const longA = `${prefix}${'b'.repeat(724)}`; // 1,024 characters, base32hex
    const longB = `${prefix}${'c'.repeat(724)}`;
    for (const [id, summary] of [
      [longA, 'Long A'],
      [longB, 'Long B'],
    ]) {
      const r = await w.admin.request('POST', `/users/${AGENT}/events`, {
        id,
        summary,
        start: { dateTime: day(3), timeZone: 'UTC' },
        end: { dateTime: day(3, 11), timeZone: 'UTC' },
      });
      expect(r.status).toBe(200);
    }
    expect((await sync()).lastError).toBeNull();
    const { changes } = await changesAfter(null);
    expect(
      changes.map((c) => [c.eventId.length, c.eventId === longA || c.eventId === longB, c.event?.title]).sort(),
    ).toEqual([
      [1024, true, 'Long A'],
      [1024, true, 'Long B'],
    ]);
    const upd = await gql(
      'mutation ($id: ID!) { updateEvent(id: $id, input: { title: "Long A, renamed" }) { id title syncState } }',
      { id: longA },
    );
    expect(upd.body.errors).toBeUndefined();
    expect(upd.body.data.updateEvent).toEqual({ id: longA, title: 'Long A, renamed', syncState: 'SYNCED' });
    // Not an event id at all (MySQL's ASCII id column cannot even compare it): NOT_FOUND, not a failure.
    for (const op of [
      'mutation ($id: ID!) { updateEvent(id: $id, input: { title: "x" }) { id } }',
      'mutation ($id: ID!) { deleteEvent(id: $id) }',
      'query ($id: ID!) { event(id: $id) { id } }',
    ]) {
      const r = await gql(op, { id: 'événement-😀' });
      if (op.startsWith('query')) expect(r.body).toEqual({ data: { event: null } });
      else expect(r.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    }
    await w.admin.request('DELETE', `/users/${AGENT}/events/${longB}`);
    await w.admin.request('POST', `/users/${AGENT}/calendar/invalidate-sync-tokens`);
    await sync();
    const after = (await changesAfter(null)).changes
      .slice(2)
      .map((c) => [
        c.eventId === longA ? 'A' : c.eventId === longB ? 'B' : c.eventId,
        c.status,
        c.event?.title ?? null,
      ]);
    expect(after.sort()).toEqual([
      ['A', 'confirmed', 'Long A, renamed'],
      ['B', 'cancelled', null],
    ]);
  });

  test('an occurrence of a series deleted while the token was invalid arrives as a cancelled entry', async () => {
    const series = await seed('Weekly showing', day(2), day(2, 11), { recurrence: ['RRULE:FREQ=WEEKLY;COUNT=5'] });
    await sync();
    const first = await changesAfter(null);
    const instance = `${series}_${day(9)
      .replace(/[-:]/g, '')
      .replace(/\.\d{3}/, '')}`; // the second occurrence: <series>_YYYYMMDDTHHMMSSZ
    const del = await w.admin.request('DELETE', `/users/${AGENT}/events/${instance}`);
    expect(del.status).toBeLessThan(300);
    await w.admin.request('POST', `/users/${AGENT}/calendar/invalidate-sync-tokens`);
    expect((await sync()).lastFullSyncReason).toBe('FULL_SYNC_REQUIRED');
    const { changes } = await changesAfter(first.cursor);
    expect(changes.map((c) => [c.eventId, c.status])).toEqual([[instance, 'cancelled']]);
  });
});
