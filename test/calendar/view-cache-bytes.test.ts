/**
 * The views' cache is bounded by the text of the events it keeps (CALENDAR_CACHE_MB in the whole process, half of it
 * for one agent), not by their number: a month of a thousand short showings is kept where a few dozen events with
 * long descriptions may not be. Measured from the emulator's request log: a kept window is answered again without
 * events.list, a window not kept costs one more.
 */
import { describeEachDb } from '../support/db';
import { captureLog } from '../support/log-capture';
import { startWorld, type World } from '../support/world';

const SMALL = 'small@alpha.test';
const HUGE = 'huge@alpha.test';
const BIG = ['big1@alpha.test', 'big2@alpha.test', 'big3@alpha.test'];
const FROM = '2026-12-01T00:00:00Z';
const TO = '2027-01-01T00:00:00Z';
/** CALENDAR_CACHE_MB of this test's gateway: 1 MiB of text in all, 512 KiB for one agent. */
const CACHE_MB = 1;
const DESCRIPTION = 8000;

/** `n` events this month, each with a description of DESCRIPTION characters (`long`) or none. */
const month = (n: number, long: boolean) =>
  Array.from({ length: n }, (_, i) => ({
    summary: `Showing ${i}`,
    ...(long ? { description: `${i} `.padEnd(DESCRIPTION, 'x') } : {}),
    start: { dateTime: `2026-12-${String(1 + (i % 28)).padStart(2, '0')}T15:00:00Z` },
    end: { dateTime: `2026-12-${String(1 + (i % 28)).padStart(2, '0')}T16:00:00Z` },
  }));

describeEachDb('the views cache is bounded by the text of its events', (db) => {
  let w: World;
  const tokens: Record<string, string> = {};
  const logged = captureLog('info');

  beforeAll(async () => {
    w = await startWorld(db(), {
      log: logged.log,
      users: [SMALL, HUGE, ...BIG],
      env: { CALENDAR_CACHE_SECONDS: '600', CALENDAR_CACHE_MB: String(CACHE_MB) },
    });
    for (const u of [SMALL, HUGE, ...BIG]) tokens[u] = await w.token(u);
    // 70 long events: ~570 KB of text, over one agent's half. 45 or 46: ~370 KB, two such agents and SMALL fit in
    // 1 MiB, a third does not. BIG[0], with 46, holds the most of them.
    const seed: [string, number, boolean][] = [
      [SMALL, 3, false],
      [HUGE, 70, true],
      [BIG[0], 46, true],
      [BIG[1], 45, true],
      [BIG[2], 45, true],
    ];
    for (const [u, n, long] of seed)
      expect((await w.admin.request('POST', `/users/${u}/events`, month(n, long))).status).toBe(200);
  });
  afterAll(() => w.close());

  /** The user's month; what it answered and how many events.list calls it made. */
  const view = async (user: string) => {
    await w.admin.clearRequests();
    const res = await w.gw.gql(
      'query ($f: DateTime!, $t: DateTime!) { events(from: $f, to: $t, first: 100) { totalCount edges { node { title description } } } }',
      { token: tokens[user], variables: { f: FROM, t: TO } },
    );
    expect(res.body.errors).toBeUndefined();
    const calls = (await w.admin.requests({ api: 'calendar', method: 'calendar.events.list' })).filter(
      (c) => c.user === user,
    );
    return { events: res.body.data.events, lists: calls.length };
  };

  test("a window over one agent's half is answered whole but not kept; the others' windows stay", async () => {
    expect((await view(SMALL)).lists).toBe(1);
    const huge = await view(HUGE);
    expect(huge.lists).toBe(1);
    expect(huge.events.totalCount).toBe(70);
    expect(huge.events.edges[69].node.description).toHaveLength(DESCRIPTION);
    expect((await view(HUGE)).lists).toBe(1); // not kept: loaded again
    expect((await view(SMALL)).lists).toBe(0); // kept
    // The operator is told what it weighed against the share: once a minute per agent, not at every load (the two
    // views above are well within a minute of each other).
    const told = logged
      .entries()
      .filter((l) => String(l.msg).includes("heavier than an agent's half of CALENDAR_CACHE_MB"));
    expect(told).toHaveLength(1);
    expect(told[0]).toMatchObject({ share: (CACHE_MB * 1024 * 1024) / 2 });
    expect(told[0].weight).toBeGreaterThan(told[0].share);
  });

  test('over the whole bound, the agent holding the most gives way: smaller holders keep their windows', async () => {
    await view(SMALL); // kept here, or by the test before
    for (const [i, u] of BIG.entries()) {
      const first = await view(u);
      expect(first.lists).toBe(1);
      expect(first.events.totalCount).toBe(i === 0 ? 46 : 45);
    }
    // BIG[2]'s window took the cache over 1 MiB: BIG[0], the largest holder, gave its window.
    expect((await view(SMALL)).lists).toBe(0);
    expect((await view(BIG[1])).lists).toBe(0);
    expect((await view(BIG[2])).lists).toBe(0);
    expect((await view(BIG[0])).lists).toBe(1);
  });
});
