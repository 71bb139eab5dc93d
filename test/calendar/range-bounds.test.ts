/**
 * Bounds of a calendar view (issue 12, item 4). A view lists Google's events of its range in memory; before these
 * bounds a 366-day range of 200 daily series was ~73,000 events in one array, and a `from` shifted by 1 ms was a new
 * cache key and a new single-flight, so 20 such views at once were 20 loads and gigabytes. Now:
 *  - Google is asked for the range widened to whole UTC days, and each view keeps its exact range in memory: views over
 *    the same days share one load and one cache entry;
 *  - a load stops past CALENDAR_MAX_EVENTS_PER_VIEW events and the view answers BAD_USER_INPUT (shorter range), never a
 *    partial list;
 *  - an agent runs at most MAX_LOADS_PER_AGENT loads at once, and the cache is bounded per agent and in total, the
 *    agent holding the most giving way first.
 */
import type { calendar_v3 } from '@googleapis/calendar';
import { RangeCache } from '../../src/calendar/range-cache';
import { CALENDAR_LIST_MAX_RESULTS as LIST_PAGE_SIZE } from '../../src/google/calendar';
import { describeEachDb } from '../support/db';
import { until } from '../support/wait';
import { startWorld, type World } from '../support/world';

/** An agent as the cache keys it (its brokerage names the shared counter's rows). */
const agent = (agentId: string) => ({ brokerageId: 'b1', agentId });

type GEvent = calendar_v3.Schema$Event;

const AGENT = 'agent@alpha.test';
/** The agent of the 200 daily series: a calendar of its own, so no other test has to clear 200 series. */
const BUSY = 'busy@alpha.test';
const DAY_MS = 86_400_000;
const MIB = 1024 * 1024;
/**
 * Allowed growth of the process (RSS, or its peak) around the burst of 20 year-long views. Everything runs in this
 * process, and the gateway is the small part: one capped load holds at most the cap (10,000) + one page of events
 * (12,500 events, at most ~10 MiB: see loadWindow). The big part is the emulator, which expands all ~73,600
 * instances of the 200 series on every page it serves; with it the growth measured 94-289 MiB from run to run,
 * depending on where the garbage collector stands when the burst begins (no `global.gc` here to settle it). Without
 * the bounds the 20 views are 20 loads of ~73,600 events each held at once: 20 × 73,600 × 1.4 KB ≈ 1.9 GiB.
 */
const MAX_GROWTH_MIB = 512;
/**
 * The cap of this test's gateway (CALENDAR_MAX_EVENTS_PER_VIEW); the default, 10,000, works the same way.
 */
const CAP = 2000;

describeEachDb('calendar range bounds', (db) => {
  let w: World;
  let token: string;
  let busyToken: string;

  beforeAll(async () => {
    // The emulator serves a page of the 200 expanded series in seconds, more on a loaded machine: a slow page must not
    // become a timeout (UPSTREAM_UNAVAILABLE) and fail the test for the machine's speed.
    // CALENDAR_MAX_EVENTS_PER_VIEW below one page (2500): the first page already crosses the cap, so the emulator
    // expands the 73,600 instances once, not once per page (seconds each, minutes on a loaded 2-core machine).
    w = await startWorld(db(), {
      users: [AGENT, BUSY, 'boss@alpha.test'],
      env: {
        CALENDAR_CACHE_SECONDS: '60',
        GOOGLE_REQUEST_TIMEOUT_MS: '600000',
        CALENDAR_MAX_EVENTS_PER_VIEW: String(CAP),
      },
    });
    token = await w.token(AGENT);
    busyToken = await w.token(BUSY);
  });
  afterAll(() => w.close());
  beforeEach(() => w.admin.clearRequests());

  const view = (from: Date, to: Date, as: string) =>
    w.gw.gql(
      'query ($f: DateTime!, $t: DateTime!) { events(from: $f, to: $t, first: 100) { totalCount edges { node { title start attendees { email } } } } }',
      { token: as, variables: { f: from.toISOString(), t: to.toISOString() } },
    );
  /** The views' events.list calls (expanded, ordered listings) made as `user`, with the window each asked for. */
  const listCalls = async (user: string) =>
    (await w.admin.requests({ api: 'calendar', method: 'calendar.events.list' }))
      .filter((c) => c.user === user && /singleEvents=true/.test(c.query ?? ''))
      .map((c) => {
        const q = new URLSearchParams(c.query);
        return { timeMin: q.get('timeMin'), timeMax: q.get('timeMax'), status: c.status };
      });

  test("200 daily series with attendees, 20 parallel 366-day views with `from` shifted by 1 ms each: one load's pages of events.list, bounded memory, and every view answers BAD_USER_INPUT with the cap, not a partial list", async () => {
    const series = Array.from({ length: 200 }, (_, i) => ({
      summary: `Daily ${i}`,
      start: { dateTime: `2025-12-01T${String(8 + (i % 10)).padStart(2, '0')}:00:00`, timeZone: 'America/New_York' },
      end: { dateTime: `2025-12-01T${String(8 + (i % 10)).padStart(2, '0')}:30:00`, timeZone: 'America/New_York' },
      recurrence: ['RRULE:FREQ=DAILY'],
      attendees: Array.from({ length: 3 }, (_, j) => ({
        email: `buyer${i}-${j}@buyer.test`,
        responseStatus: 'accepted',
      })),
    }));
    expect((await w.admin.request<unknown[]>('POST', `/users/${BUSY}/events`, series)).status).toBe(200);
    // Warm-up: the agent's first request makes its row, its Google token and session; those are not the view's cost.
    const warm = await view(new Date('2026-03-01T00:00:00Z'), new Date('2026-03-02T00:00:00Z'), busyToken);
    expect(warm.body.errors).toBeUndefined();
    expect(warm.body.data.events.totalCount).toBe(200);
    // The database pool opens its connections now, not during the burst: the emulator runs in this process and
    // expanding 73,600 instances holds its event loop for seconds (more on a loaded machine), long enough for a
    // connection being opened meanwhile to time out ("connect ETIMEDOUT"); a view whose read of the shared cache
    // generation failed so loads the window again, and the test sees two loads. Google is not in the gateway's process
    // in production. Twenty statements that each hold a connection a moment: `{ me { id } }` did this while it read
    // the caller from the database, and needs no statement since callers are remembered (src/auth/caller.ts).
    if (db().dialect === 'mariadb')
      await Promise.all(Array.from({ length: 20 }, () => db().ds.query('SELECT SLEEP(0.05)')));
    await w.admin.clearRequests();

    const from = Date.parse('2026-01-01T12:00:00.000Z');
    const burst = () =>
      Promise.all(
        Array.from({ length: 20 }, (_, i) => view(new Date(from + i), new Date(from + i + 366 * DAY_MS), busyToken)),
      );
    const before = { rss: process.memoryUsage().rss, peak: process.resourceUsage().maxRSS * 1024 };
    const answers = await burst();
    const after = { rss: process.memoryUsage().rss, peak: process.resourceUsage().maxRSS * 1024 };
    // Growth that stayed (rss) or a new peak during the burst (maxRSS only ever rises: its delta is this burst's).
    const growthMiB = Math.max(after.rss - before.rss, after.peak - before.peak) / MIB;

    // (c) each view: the typed error naming the cap, and no data.
    for (const a of answers) {
      expect({ status: a.status, body: a.body }).toMatchObject({ status: 200, body: { data: null } });
      expect(a.body.errors).toHaveLength(1);
      expect(a.body.errors![0].message).toMatch(new RegExp(`more than ${CAP} events.*ask for a shorter range`));
      expect(a.body.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'to', maxEvents: CAP });
    }
    // (a) one load for the 20 views: the pages up to the first one past the cap, all for the range widened to whole
    // UTC days (the latest `to`, 2027-01-02T12:00:00.019Z, still ends the same day).
    const pagesOfOneLoad = Math.floor(CAP / LIST_PAGE_SIZE) + 1;
    const calls = await listCalls(BUSY);
    expect(calls).toHaveLength(pagesOfOneLoad);
    expect(
      calls.every(
        (c) => c.status === 200 && c.timeMin === '2026-01-01T00:00:00.000Z' && c.timeMax === '2027-01-03T00:00:00.000Z',
      ),
    ).toBe(true);
    // (b) memory.
    expect(growthMiB).toBeLessThan(MAX_GROWTH_MIB);

    // The outcome is remembered like a listing (within CALENDAR_CACHE_SECONDS): asking again costs Google nothing.
    await w.admin.clearRequests();
    const again = await burst();
    expect(again.every((a) => a.body.errors?.[0]?.extensions?.code === 'BAD_USER_INPUT')).toBe(true);
    expect(await listCalls(BUSY)).toEqual([]);
  }, 180_000);

  test("views over the same UTC days share one events.list and one cache entry; each answers exactly its own range, all-day events placed in the calendar's time zone", async () => {
    // New York: an all-day date runs from 05:00Z to 05:00Z the next day, so a range starting or ending at 03:00Z tells
    // the calendar's zone from UTC.
    expect((await w.admin.request('PUT', `/users/${AGENT}/calendar`, { timeZone: 'America/New_York' })).status).toBe(
      200,
    );
    const timed = (summary: string, start: string, end: string) => ({
      summary,
      start: { dateTime: start },
      end: { dateTime: end },
    });
    await w.admin.request('POST', `/users/${AGENT}/events`, [
      timed('in the first day, before the range', '2026-12-01T01:00:00Z', '2026-12-01T02:00:00Z'),
      timed('ends as the range starts', '2026-12-01T02:00:00Z', '2026-12-01T03:00:00Z'),
      timed('straddles the start', '2026-12-01T02:30:00Z', '2026-12-01T03:30:00Z'),
      timed('inside', '2026-12-04T15:00:00Z', '2026-12-04T16:00:00Z'),
      timed('starts as the range ends', '2026-12-08T03:00:00Z', '2026-12-08T04:00:00Z'),
      timed('in the last day, after the range', '2026-12-08T20:00:00Z', '2026-12-08T21:00:00Z'),
      { summary: 'all-day Nov 30 (ends 05:00Z Dec 1)', start: { date: '2026-11-30' }, end: { date: '2026-12-01' } },
      { summary: 'all-day Dec 8 (starts 05:00Z)', start: { date: '2026-12-08' }, end: { date: '2026-12-09' } },
    ]);
    const expected = ['all-day Nov 30 (ends 05:00Z Dec 1)', 'straddles the start', 'inside'];
    const from = Date.parse('2026-12-01T03:00:00.000Z');
    const to = Date.parse('2026-12-08T03:00:00.000Z');
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => view(new Date(from + i), new Date(to + i), token)),
    );
    for (const a of answers) {
      expect(a.body.errors).toBeUndefined();
      expect(a.body.data.events.edges.map((e: { node: { title: string } }) => e.node.title)).toEqual(expected);
      expect(a.body.data.events.totalCount).toBe(3);
    }
    expect(await listCalls(AGENT)).toEqual([
      { timeMin: '2026-12-01T00:00:00.000Z', timeMax: '2026-12-09T00:00:00.000Z', status: 200 },
    ]);
    // Later views over the same days, shifted by hours: the cache entry answers them, each with its own range.
    const later = await view(new Date('2026-12-01T00:00:00Z'), new Date('2026-12-08T23:59:59Z'), token);
    expect(later.body.data.events.edges.map((e: { node: { title: string } }) => e.node.title)).toEqual([
      'all-day Nov 30 (ends 05:00Z Dec 1)',
      'in the first day, before the range',
      'ends as the range starts',
      'straddles the start',
      'inside',
      'all-day Dec 8 (starts 05:00Z)',
      'starts as the range ends',
      'in the last day, after the range',
    ]);
    expect(await listCalls(AGENT)).toHaveLength(1);
  }, 60_000);
});

describe('RangeCache bounds (counting fakes)', () => {
  const events = (n: number): GEvent[] => Array.from({ length: n }, (_, i) => ({ id: `e${i}` }));

  /** Loads that finish when the test says so, recording which ran. */
  function gatedLoads() {
    const started: string[] = [];
    const open = new Map<string, () => void>();
    return {
      started,
      load:
        (name: string, n = 0) =>
        () =>
          new Promise<GEvent[]>((resolve) => {
            started.push(name);
            open.set(name, () => resolve(events(n)));
          }),
      finish(name: string) {
        open.get(name)!();
        open.delete(name);
      },
    };
  }

  test('an agent runs at most maxLoadsPerAgent loads at once; its next one starts when one finishes; another agent does not wait behind it', async () => {
    const cache = new RangeCache(60_000, 1000, 100_000, undefined, undefined, {
      maxLoadsPerAgent: 2,
      maxWindowsPerAgent: 50,
      maxWeightPerAgent: 20_000,
    });
    const g = gatedLoads();
    const a = ['w1', 'w2', 'w3'].map((k) => cache.get(agent('A'), k, g.load(`A:${k}`)));
    const b = cache.get(agent('B'), 'w1', g.load('B:w1'));
    await until(
      'two loads of A and the load of B started',
      () => g.started.length,
      (n) => n === 3,
    );
    expect(g.started).toEqual(['A:w1', 'A:w2', 'B:w1']);
    // The same window asked again while A's third waits joins it (single flight), rather than queueing a second load.
    const a3again = cache.get(agent('A'), 'w3', g.load('A:w3 again'));
    g.finish('A:w1');
    await until(
      "A's third load started",
      () => g.started.length,
      (n) => n === 4,
    );
    expect(g.started[3]).toBe('A:w3');
    for (const name of ['A:w2', 'A:w3', 'B:w1']) g.finish(name);
    await Promise.all([...a, b, a3again]);
    expect(g.started).toEqual(['A:w1', 'A:w2', 'B:w1', 'A:w3']);
  });

  test("an agent's waiting loads are bounded: one more distinct window is refused at once with RATE_LIMITED; the same window joins; others are not affected", async () => {
    const cache = new RangeCache(60_000, 1000, 100_000, undefined, undefined, {
      maxLoadsPerAgent: 1,
      maxWaitingLoadsPerAgent: 1,
      maxWindowsPerAgent: 50,
      maxWeightPerAgent: 20_000,
    });
    const g = gatedLoads();
    const w1 = cache.get(agent('A'), 'w1', g.load('A:w1'));
    const w2 = cache.get(agent('A'), 'w2', g.load('A:w2')); // waits its turn
    await expect(cache.get(agent('A'), 'w3', g.load('A:w3'))).rejects.toMatchObject({
      extensions: { code: 'RATE_LIMITED', retryAfterSeconds: 2 },
    });
    const w2again = cache.get(agent('A'), 'w2', g.load('A:w2 again')); // joins the waiting load: nothing new queued
    const b = cache.get(agent('B'), 'w1', g.load('B:w1')); // another agent has its own turns
    await until(
      'A:w1 and B:w1 started',
      () => g.started.length,
      (n) => n === 2,
    );
    g.finish('A:w1');
    await until(
      'A:w2 started',
      () => g.started.length,
      (n) => n === 3,
    );
    // A turn is free again: a new window may wait once more.
    const w3 = cache.get(agent('A'), 'w3', g.load('A:w3'));
    for (const name of ['A:w2', 'B:w1']) g.finish(name);
    await until(
      'A:w3 started',
      () => g.started.length,
      (n) => n === 4,
    );
    g.finish('A:w3');
    await Promise.all([w1, w2, w2again, b, w3]);
    expect(g.started).toEqual(['A:w1', 'B:w1', 'A:w2', 'A:w3']);
  });

  test('the cache is bounded per agent and in total; the agent holding the most gives way, not the others', async () => {
    // 30 events in all, 20 per agent: B holds 10, then A fills its share and more, then C arrives.
    const cache = new RangeCache(60_000, 1000, 30, undefined, undefined, {
      maxLoadsPerAgent: 2,
      maxWindowsPerAgent: 50,
      maxWeightPerAgent: 20,
    });
    let loads = 0;
    const load = (n: number) => async () => {
      loads++;
      return events(n);
    };
    const cached = async (id: string, key: string) => {
      const n = loads;
      await cache.get(agent(id), key, load(10));
      return loads === n;
    };
    await cache.get(agent('B'), 'b1', load(10));
    for (const k of ['a1', 'a2', 'a3']) await cache.get(agent('A'), k, load(10)); // a3 is over A's 20: A's oldest (a1) goes
    await cache.get(agent('C'), 'c1', load(10)); // 40 > 30 in all: A (20) holds the most and gives way (a2), not B
    expect(await cached('B', 'b1')).toBe(true);
    expect(await cached('C', 'c1')).toBe(true);
    expect(await cached('A', 'a3')).toBe(true);
    expect(await cached('A', 'a1')).toBe(false);
  });

  test("a window larger than an agent's share is answered but not kept", async () => {
    const cache = new RangeCache(60_000, 1000, 100, undefined, undefined, {
      maxLoadsPerAgent: 2,
      maxWindowsPerAgent: 50,
      maxWeightPerAgent: 20,
    });
    let loads = 0;
    const load = async () => {
      loads++;
      return events(21);
    };
    expect(await cache.get(agent('A'), 'big', load)).toHaveLength(21);
    expect(await cache.get(agent('A'), 'big', load)).toHaveLength(21);
    expect(loads).toBe(2);
  });
});
