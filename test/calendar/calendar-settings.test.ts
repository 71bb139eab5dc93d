/**
 * Calendar settings seen through GraphQL: CALENDAR_MAX_RANGE_DAYS bounds one events() query, CALENDAR_SYNC_PAST_DAYS
 * is how far back the change feed's full sync lists the calendar. Both set away from their defaults (366 and 30) so
 * that the tests tell the setting from the default.
 */
import { describeEachDb } from '../support/db';
import { startWorld, type World } from '../support/world';

const AGENT = 'agent@alpha.test';
const DAY_MS = 86_400_000;

describeEachDb('calendar settings', (db) => {
  let w: World;
  let token: string;

  beforeAll(async () => {
    w = await startWorld(db(), { env: { CALENDAR_MAX_RANGE_DAYS: '31', CALENDAR_SYNC_PAST_DAYS: '10' } });
    token = await w.token(AGENT);
  });
  afterAll(() => w.close());
  beforeEach(() => w.admin.clearRequests());

  const gql = (q: string, v?: Record<string, unknown>) => w.gw.gql(q, { token, variables: v });
  const range = (from: string, to: string) =>
    gql('query ($f: DateTime!, $t: DateTime!) { events(from: $f, to: $t) { totalCount } }', { f: from, t: to });
  const lists = async () => (await w.admin.requests({ api: 'calendar', method: 'calendar.events.list' })).length;

  test('CALENDAR_MAX_RANGE_DAYS=31: a range of 31 days is read; one second more is BAD_USER_INPUT on "to", and Google is not asked', async () => {
    const ok = await range('2026-12-01T00:00:00Z', '2027-01-01T00:00:00Z');
    expect(ok.body.errors).toBeUndefined();
    expect(ok.body.data.events.totalCount).toBe(0);
    expect(await lists()).toBe(1);
    await w.admin.clearRequests();
    const over = await range('2026-12-01T00:00:00Z', '2027-01-01T00:00:01Z');
    expect(over.body.data).toBeNull();
    expect(over.body.errors).toHaveLength(1);
    expect(over.body.errors![0].message).toBe('The range may span at most 31 days (got 32)');
    expect(over.body.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'to' });
    expect(await lists()).toBe(0);
  });

  test('CALENDAR_SYNC_PAST_DAYS=10: the first change-feed sync lists events ending in the last 10 days and later, not older ones', async () => {
    const now = Date.now();
    const at = (daysFromNow: number, title: string) => {
      const end = new Date(now + daysFromNow * DAY_MS);
      return {
        summary: title,
        start: { dateTime: new Date(end.getTime() - 3600_000).toISOString() },
        end: { dateTime: end.toISOString() },
      };
    };
    // A day either side of the bound, and one in the future.
    const seeded = (
      await w.admin.request<Array<{ id: string; summary: string }>>('POST', `/users/${AGENT}/events`, [
        at(-11, 'Eleven days ago'),
        at(-9, 'Nine days ago'),
        at(5, 'Next week'),
      ])
    ).body;
    expect(seeded).toHaveLength(3);
    const sync = await gql('mutation { syncCalendar { calendar { fullSyncs lastFullSyncReason } } }');
    expect(sync.body.errors).toBeUndefined();
    expect(sync.body.data.syncCalendar.calendar).toEqual({ fullSyncs: 1, lastFullSyncReason: 'FIRST_SYNC' });
    const feed = (await gql('{ eventChanges(first: 100) { edges { node { eventId status event { title } } } } }')).body
      .data.eventChanges.edges as Array<{ node: { eventId: string; status: string; event: { title: string } | null } }>;
    expect(feed.map((e) => e.node.event?.title).sort()).toEqual(['Next week', 'Nine days ago']);
    // The older event is in Google all the same: the setting, not the data, left it out.
    expect(
      (await w.admin.request<Array<{ summary: string }>>('GET', `/users/${AGENT}/events`)).body.map((e) => e.summary),
    ).toContain('Eleven days ago');
  });
});
