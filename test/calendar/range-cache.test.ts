/**
 * RangeCache (the calendar's per-agent cache of listed windows) as a unit: time to live, single flight, invalidation
 * by generation here and through the counter shared by every process (a fake SharedGenerations, as two replicas see
 * it), and its bounds per agent and per process. test/calendar/range-bounds.test.ts covers the load turns, the
 * RATE_LIMITED queue bound and the biggest-holder rule; test/db/generations.test.ts the database counter.
 *
 * The cache reads the time with Date.now() and takes no clock, so the expiry tests replace Date.now with a fake one
 * (jest.spyOn); nothing here waits for real time.
 */
import { RangeCache } from '../../src/calendar/range-cache';

/** The types the cache takes, as its constructor and counter declare them (wherever those types live). */
type SharedGenerations = NonNullable<ConstructorParameters<typeof RangeCache>[3]>;
type AgentBounds = NonNullable<ConstructorParameters<typeof RangeCache>[5]>;
type CacheAgent = Parameters<SharedGenerations['read']>[0];

/** What a window holds here: events reduced to their ids (the cache never looks inside them). */
type GEvent = { id: string };

const A: CacheAgent = { brokerageId: 'b1', agentId: 'agent-a' };
const B: CacheAgent = { brokerageId: 'b1', agentId: 'agent-b' };
const C: CacheAgent = { brokerageId: 'b2', agentId: 'agent-c' };
const TTL = 60_000;
const ROOMY: AgentBounds = { maxLoadsPerAgent: 10, maxWindowsPerAgent: 50, maxWeightPerAgent: 20_000 };

const events = (n: number, tag = 'e'): GEvent[] => Array.from({ length: n }, (_, i) => ({ id: `${tag}${i}` }));

/** Lets every pending promise callback run (no timer involved). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The shared counter as every process sees it (calendar_cache_generation), in memory. */
class FakeShared implements SharedGenerations {
  readonly values = new Map<string, number>();
  reads = 0;
  readonly bumps: CacheAgent[] = [];
  failReads = false;
  failBumps: Error | null = null;
  private key = (a: CacheAgent) => `${a.brokerageId}/${a.agentId}`;

  async read(a: CacheAgent): Promise<number> {
    this.reads++;
    if (this.failReads) throw new Error('database away');
    return this.values.get(this.key(a)) ?? 0;
  }

  async bump(a: CacheAgent): Promise<void> {
    if (this.failBumps) throw this.failBumps;
    this.bumps.push(a);
    this.values.set(this.key(a), (this.values.get(this.key(a)) ?? 0) + 1);
  }
}

/** Counts the loads of each window; `get` asks the cache and says whether it loaded. */
function harness(cache: RangeCache) {
  const loads: string[] = [];
  return {
    loads,
    async get(agent: CacheAgent, key: string, n = 1): Promise<{ value: GEvent[]; loaded: boolean }> {
      const before = loads.length;
      const value = await cache.get(agent, key, async () => {
        loads.push(`${agent.agentId}:${key}`);
        return events(n, `${agent.agentId}:${key}:${loads.length}:`);
      });
      return { value, loaded: loads.length > before };
    },
    /** Whether the window is served from the cache now (asking loads it when it is not). */
    async cached(agent: CacheAgent, key: string, n = 1): Promise<boolean> {
      return !(await this.get(agent, key, n)).loaded;
    },
  };
}

/** A load that ends when the test says so. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

let now = Date.parse('2027-01-01T00:00:00Z');
beforeEach(() => {
  now = Date.parse('2027-01-01T00:00:00Z');
  jest.spyOn(Date, 'now').mockImplementation(() => now);
});
afterEach(() => jest.restoreAllMocks());

describe('time to live', () => {
  test('a window is served from the cache until its time is up, then loaded again (and kept again)', async () => {
    const h = harness(new RangeCache(TTL, 1000, 100_000, new FakeShared(), undefined, ROOMY));
    const first = await h.get(A, 'w');
    expect(first.loaded).toBe(true);
    now += TTL - 1;
    const again = await h.get(A, 'w');
    expect(again).toEqual({ value: first.value, loaded: false });
    expect(again.value).toBe(first.value); // the same array: nothing copied
    now += 1; // exactly TTL after the load: expired
    expect(await h.cached(A, 'w')).toBe(false);
    expect(await h.cached(A, 'w')).toBe(true);
  });

  test('no cache (CALENDAR_CACHE_SECONDS=0): every view loads, the shared counter is neither read nor bumped', async () => {
    const shared = new FakeShared();
    const cache = new RangeCache(0, 1000, 100_000, shared, undefined, ROOMY);
    const h = harness(cache);
    await h.get(A, 'w');
    expect(await h.cached(A, 'w')).toBe(false);
    await cache.invalidate(A);
    expect([shared.reads, shared.bumps.length, h.loads.length]).toEqual([0, 0, 2]);
  });

  test('windows are per agent and per key', async () => {
    const h = harness(new RangeCache(TTL, 1000, 100_000, new FakeShared(), undefined, ROOMY));
    await h.get(A, 'w1');
    expect(await h.cached(A, 'w2')).toBe(false);
    expect(await h.cached(B, 'w1')).toBe(false);
    expect(await h.cached(A, 'w1')).toBe(true);
    expect(h.loads).toEqual(['agent-a:w1', 'agent-a:w2', 'agent-b:w1']);
  });
});

describe('single flight', () => {
  test('views of one window asked while it loads share that one load and its answer', async () => {
    const cache = new RangeCache(TTL, 1000, 100_000, new FakeShared(), undefined, ROOMY);
    const d = deferred<GEvent[]>();
    let loads = 0;
    const load = () => {
      loads++;
      return d.promise;
    };
    const views = [cache.get(A, 'w', load), cache.get(A, 'w', load), cache.get(A, 'w', load)];
    await settle();
    expect(loads).toBe(1);
    const value = events(3);
    d.resolve(value);
    for (const v of await Promise.all(views)) expect(v).toBe(value);
    expect(await cache.get(A, 'w', load)).toBe(value); // kept
    expect(loads).toBe(1);
  });

  test('a failed load fails every view that joined it, is not kept, and the next view loads again', async () => {
    const cache = new RangeCache(TTL, 1000, 100_000, new FakeShared(), undefined, ROOMY);
    const d = deferred<GEvent[]>();
    let loads = 0;
    const views = [0, 1].map(() => cache.get(A, 'w', () => (loads++, d.promise)));
    await settle();
    d.reject(new Error('Google 503'));
    for (const r of await Promise.allSettled(views))
      expect(r).toEqual({ status: 'rejected', reason: new Error('Google 503') });
    expect(await cache.get(A, 'w', async () => (loads++, events(1)))).toHaveLength(1);
    expect(loads).toBe(2);
  });

  test('a failed load hands its turn to the window waiting behind it', async () => {
    const cache = new RangeCache(TTL, 1000, 100_000, new FakeShared(), undefined, { ...ROOMY, maxLoadsPerAgent: 1 });
    const first = deferred<GEvent[]>();
    const started: string[] = [];
    const p1 = cache.get(A, 'w1', () => (started.push('w1'), first.promise));
    const p2 = cache.get(A, 'w2', async () => (started.push('w2'), events(2)));
    await settle();
    expect(started).toEqual(['w1']);
    first.reject(new Error('boom'));
    await expect(p1).rejects.toThrow('boom');
    await expect(p2).resolves.toHaveLength(2);
    expect(started).toEqual(['w1', 'w2']);
  });
});

describe('invalidation by generation', () => {
  test("invalidate: the agent's windows are loaded again; other agents' are not touched; the shared counter is bumped once for that agent", async () => {
    const shared = new FakeShared();
    const cache = new RangeCache(TTL, 1000, 100_000, shared, undefined, ROOMY);
    const h = harness(cache);
    await h.get(A, 'w1');
    await h.get(A, 'w2');
    await h.get(B, 'w1');
    await cache.invalidate(A);
    expect(shared.bumps).toEqual([A]);
    expect(await h.cached(A, 'w1')).toBe(false);
    expect(await h.cached(A, 'w2')).toBe(false);
    expect(await h.cached(B, 'w1')).toBe(true);
    expect(await h.cached(A, 'w1')).toBe(true); // kept again under the new generation
  });

  test('markStale: stale in this process only (the caller bumps the shared counter later)', async () => {
    const shared = new FakeShared();
    const cache = new RangeCache(TTL, 1000, 100_000, shared, undefined, ROOMY);
    const h = harness(cache);
    await h.get(A, 'w');
    cache.markStale(A.agentId);
    expect(shared.bumps).toEqual([]);
    expect(await h.cached(A, 'w')).toBe(false);
  });

  test("a write during a load: the load's views get its answer, but it is not kept; a view asked after the write does not join the stale load", async () => {
    const cache = new RangeCache(TTL, 1000, 100_000, new FakeShared(), undefined, ROOMY);
    const before = deferred<GEvent[]>();
    const loads: string[] = [];
    const stale = cache.get(A, 'w', () => (loads.push('before'), before.promise));
    await settle();
    await cache.invalidate(A);
    const fresh = cache.get(A, 'w', async () => (loads.push('after'), events(2, 'new')));
    await settle();
    expect(loads).toEqual(['before', 'after']);
    before.resolve(events(1, 'old'));
    expect(await stale).toEqual(events(1, 'old'));
    expect(await fresh).toEqual(events(2, 'new'));
    // What is kept is the load that began after the write.
    expect(await cache.get(A, 'w', async () => (loads.push('again'), []))).toEqual(events(2, 'new'));
    expect(loads).toEqual(['before', 'after']);
  });
  test('the same with a local mark only (markStale, the shared counter unchanged): a view asked after it starts a load of its own', async () => {
    const cache = new RangeCache(TTL, 1000, 100_000, new FakeShared(), undefined, ROOMY);
    const before = deferred<GEvent[]>();
    const loads: string[] = [];
    const stale = cache.get(A, 'w', () => (loads.push('before'), before.promise));
    await settle();
    cache.markStale(A.agentId);
    const fresh = cache.get(A, 'w', async () => (loads.push('after'), events(2, 'new')));
    await settle();
    expect(loads).toEqual(['before', 'after']);
    before.resolve(events(1, 'old'));
    expect([await stale, await fresh]).toEqual([events(1, 'old'), events(2, 'new')]);
  });
});

describe('the generation shared by every process', () => {
  test('a write through one replica makes the other replica load again, though nothing changed in that process', async () => {
    const shared = new FakeShared();
    const one = harness(new RangeCache(TTL, 1000, 100_000, shared, undefined, ROOMY));
    const twoCache = new RangeCache(TTL, 1000, 100_000, shared, undefined, ROOMY);
    const two = harness(twoCache);
    await one.get(A, 'w');
    await two.get(A, 'w');
    await twoCache.invalidate(A);
    expect(await one.cached(A, 'w')).toBe(false);
    expect(await one.cached(A, 'w')).toBe(true); // kept under the new shared value
    // Another agent's counter is its own.
    await one.get(B, 'w');
    await twoCache.invalidate(A);
    expect(await one.cached(B, 'w')).toBe(true);
  });

  test("the counter is read on every view, hits included (that is how another replica's write is seen)", async () => {
    const shared = new FakeShared();
    const h = harness(new RangeCache(TTL, 1000, 100_000, shared, undefined, ROOMY));
    await h.get(A, 'w');
    await h.get(A, 'w');
    await h.get(A, 'w');
    expect(shared.reads).toBe(3);
    expect(h.loads).toHaveLength(1);
  });

  test("the counter cannot be read: nothing is served from the cache nor kept (another replica's write could not be seen); views of one window still share a load", async () => {
    const shared = new FakeShared();
    const cache = new RangeCache(TTL, 1000, 100_000, shared, undefined, ROOMY);
    const h = harness(cache);
    await h.get(A, 'w');
    shared.failReads = true;
    expect(await h.cached(A, 'w')).toBe(false);
    expect(await h.cached(A, 'w')).toBe(false);
    const d = deferred<GEvent[]>();
    let loads = 0;
    const views = [cache.get(A, 'w', () => (loads++, d.promise)), cache.get(A, 'w', () => (loads++, d.promise))];
    await settle();
    d.resolve([]);
    await Promise.all(views);
    expect(loads).toBe(1);
    // Readable again (and unchanged): the window kept before is served; the loads meanwhile did not replace it.
    shared.failReads = false;
    expect(await h.cached(A, 'w')).toBe(true);
    expect(h.loads).toHaveLength(3);
  });

  test("the bump fails: invalidate still resolves, the error goes to the handler, and this process's view is stale all the same", async () => {
    const shared = new FakeShared();
    const seen: unknown[] = [];
    const cache = new RangeCache(TTL, 1000, 100_000, shared, (err) => seen.push(err), ROOMY);
    const h = harness(cache);
    await h.get(A, 'w');
    shared.failBumps = new Error('deadlock');
    await cache.invalidate(A); // resolves (a rejection would fail the test here)
    expect(seen).toEqual([new Error('deadlock')]);
    expect(await h.cached(A, 'w')).toBe(false);
  });

  test('without a shared counter (one process): invalidation is local and views are cached all the same', async () => {
    const cache = new RangeCache(TTL, 1000, 100_000, undefined, undefined, ROOMY);
    const h = harness(cache);
    await h.get(A, 'w');
    expect(await h.cached(A, 'w')).toBe(true);
    await cache.invalidate(A);
    expect(await h.cached(A, 'w')).toBe(false);
  });
});

describe('bounds', () => {
  test('an agent keeps at most maxWindowsPerAgent windows: its oldest goes', async () => {
    const h = harness(
      new RangeCache(TTL, 1000, 100_000, new FakeShared(), undefined, { ...ROOMY, maxWindowsPerAgent: 2 }),
    );
    for (const k of ['w1', 'w2', 'w3']) await h.get(A, k);
    await h.get(B, 'w1');
    expect(await h.cached(A, 'w3')).toBe(true);
    expect(await h.cached(A, 'w2')).toBe(true);
    expect(await h.cached(B, 'w1')).toBe(true);
    expect(await h.cached(A, 'w1')).toBe(false);
  });

  test('an agent keeps at most maxWeightPerAgent (here: events): its oldest windows go until the new one fits', async () => {
    const h = harness(
      new RangeCache(TTL, 1000, 100_000, new FakeShared(), undefined, { ...ROOMY, maxWeightPerAgent: 25 }),
    );
    await h.get(A, 'w1', 10);
    await h.get(A, 'w2', 10);
    await h.get(A, 'w3', 20); // 40 > 25: w1 goes (30), then w2 (20)
    expect(await h.cached(A, 'w3', 20)).toBe(true);
    expect(await h.cached(A, 'w2', 10)).toBe(false);
    expect(await h.cached(A, 'w1', 10)).toBe(false);
  });

  test("a window heavier than the agent's share is answered, not kept, and costs the agent none of its other windows", async () => {
    const h = harness(
      new RangeCache(TTL, 1000, 100_000, new FakeShared(), undefined, { ...ROOMY, maxWeightPerAgent: 20 }),
    );
    await h.get(A, 'small', 5);
    expect((await h.get(A, 'big', 21)).value).toHaveLength(21);
    expect(await h.cached(A, 'big', 21)).toBe(false);
    expect(await h.cached(A, 'small', 5)).toBe(true);
  });

  test('too many windows in the process: the agent with the most windows gives its oldest, the others keep theirs', async () => {
    const h = harness(new RangeCache(TTL, 3, 100_000, new FakeShared(), undefined, ROOMY));
    await h.get(A, 'a1');
    await h.get(A, 'a2');
    await h.get(B, 'b1');
    await h.get(C, 'c1'); // 4 > 3
    expect(await h.cached(B, 'b1')).toBe(true);
    expect(await h.cached(C, 'c1')).toBe(true);
    expect(await h.cached(A, 'a2')).toBe(true);
    expect(await h.cached(A, 'a1')).toBe(false);
  });

  test("too many events in the process, the newcomer being the biggest holder: its own oldest window goes, not the others'", async () => {
    const h = harness(new RangeCache(TTL, 1000, 30, new FakeShared(), undefined, ROOMY));
    await h.get(B, 'b1', 5);
    await h.get(A, 'a1', 10);
    await h.get(A, 'a2', 20); // 35 > 30: A holds 30, B 5
    expect(await h.cached(A, 'a2', 20)).toBe(true);
    expect(await h.cached(B, 'b1', 5)).toBe(true);
    expect(await h.cached(A, 'a1', 10)).toBe(false);
  });

  test('expired windows are dropped before anyone is evicted: they do not count against the bounds', async () => {
    const h = harness(new RangeCache(1000, 1000, 20, new FakeShared(), undefined, ROOMY));
    await h.get(A, 'old', 15); // expires at +1000
    now += 900;
    await h.get(B, 'b1', 5);
    now += 100; // A's window expired; B's has 900 ms left
    await h.get(B, 'b2', 15); // 35 > 20 if A's expired window still counted, and B (20) would give b1
    expect(await h.cached(B, 'b1', 5)).toBe(true);
    expect(await h.cached(B, 'b2', 15)).toBe(true);
  });

  // Found by this test (it failed before the fix): a window heavier than the whole process's bound (possible when
  // maxWeight is set below maxWeightPerAgent) made `keep` evict the other agents' windows one by one, then drop the
  // new window too. The production settings (viewCache: the agent's share is half the process's) cannot reach it.
  test("a window heavier than the whole process's bound is answered, not kept, and evicts no other agent's window", async () => {
    const h = harness(new RangeCache(TTL, 1000, 30, new FakeShared(), undefined, { ...ROOMY, maxWeightPerAgent: 50 }));
    await h.get(B, 'b1', 10);
    expect((await h.get(A, 'big', 40)).value).toHaveLength(40);
    expect(await h.cached(B, 'b1', 10)).toBe(true);
    expect(await h.cached(A, 'big', 40)).toBe(false);
  });
});
