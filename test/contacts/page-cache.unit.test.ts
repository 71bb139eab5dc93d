/**
 * The bounds of kept contact pages (src/contacts/contact-page-cache.ts), without a database: each agent's share of
 * pages and bytes, the process's bound taken from the agent holding the most, a page too heavy to keep, and what moves
 * the position. The jest-only check that a kept page equals a fresh read is off here (it reads again), but for the
 * test that shows it catching a difference.
 */
import { ContactPageCache } from '../../src/contacts/contact-page-cache';
import { verifyKeptPages } from '../../src/graphql/kept-pages';
import type { Page } from '../../src/graphql/connection';
import type { ContactType } from '../../src/contacts/contact.type';

const agent = (n: number) => ({ brokerageId: 'b1', agentId: `a${n}` });

/** A page of `size` bytes, and a count of the reads that made it. */
function source(size = 100) {
  let reads = 0;
  return {
    get reads() {
      return reads;
    },
    read: async () => {
      reads++;
      const page: Page<ContactType> = { edges: [], pageInfo: { hasNextPage: false, endCursor: `r${reads}` } };
      return { page, bytes: size };
    },
  };
}

describe('kept contact pages: bounds and positions', () => {
  beforeAll(() => verifyKeptPages(false));
  afterAll(() => verifyKeptPages(true));

  test('the same position serves the kept page; a new position reads again; no agent row keeps nothing, and drops what was kept', async () => {
    const cache = new ContactPageCache();
    const src = source();
    let seq: number | null = 1;
    const get = () => cache.page(agent(1), 's', async () => seq, src.read);
    const first = await get();
    expect(await get()).toBe(first);
    expect(src.reads).toBe(1);
    seq = 2;
    const second = await get();
    expect(second).not.toBe(first);
    expect(src.reads).toBe(2);
    seq = null;
    await get();
    await get();
    expect(src.reads).toBe(4);
    expect(cache.stats.pages).toBe(0); // the page of position 2, dropped by the first read that could not keep
  });

  test("forget drops the agent's kept pages, and only theirs", async () => {
    const cache = new ContactPageCache();
    const src = source();
    await cache.page(agent(1), 's', async () => 1, src.read);
    await cache.page(agent(2), 's', async () => 1, src.read);
    cache.forget(agent(1));
    expect(cache.stats).toMatchObject({ agents: 1, pages: 1 });
    await cache.page(agent(2), 's', async () => 1, src.read);
    await cache.page(agent(1), 's', async () => 1, src.read);
    expect(src.reads).toBe(3); // agent 2's served as kept; agent 1's read again
  });

  test("each agent keeps its share of pages, its least recently read going first; another's stay", async () => {
    const cache = new ContactPageCache(1_000_000, { bytes: 100_000, pages: 3 });
    const src = source();
    await cache.page(agent(2), 'other', async () => 1, src.read);
    for (const s of ['p1', 'p2', 'p3']) await cache.page(agent(1), s, async () => 1, src.read);
    await cache.page(agent(1), 'p1', async () => 1, src.read); // p1 read again: now p2 is the oldest
    await cache.page(agent(1), 'p4', async () => 1, src.read);
    expect(src.reads).toBe(5);
    for (const s of ['p1', 'p3', 'p4']) await cache.page(agent(1), s, async () => 1, src.read);
    expect(src.reads).toBe(5);
    await cache.page(agent(1), 'p2', async () => 1, src.read);
    expect(src.reads).toBe(6);
    await cache.page(agent(2), 'other', async () => 1, src.read);
    expect(src.reads).toBe(6);
    expect(cache.stats).toMatchObject({ agents: 2, pages: 4 });
  });

  test('over the process bound the agent holding the most gives way; a page heavier than a share is not kept', async () => {
    const cache = new ContactPageCache(1_000, { bytes: 600, pages: 100 });
    const small = source(100);
    const big = source(100);
    await cache.page(agent(1), 'mine', async () => 1, small.read);
    for (let i = 0; i < 20; i++) await cache.page(agent(2), `flood${i}`, async () => 1, big.read);
    expect(cache.stats.bytes).toBeLessThanOrEqual(1_000);
    await cache.page(agent(1), 'mine', async () => 1, small.read);
    expect(small.reads).toBe(1); // never pushed out by the other agent's pages
    const heavy = source(700);
    await cache.page(agent(3), 'heavy', async () => 1, heavy.read);
    await cache.page(agent(3), 'heavy', async () => 1, heavy.read);
    expect(heavy.reads).toBe(2);
  });

  test('under jest a kept page that differs from a fresh read at the same position fails loudly', async () => {
    const cache = new ContactPageCache();
    const src = source();
    await cache.page(agent(1), 's', async () => 1, src.read);
    verifyKeptPages(true);
    try {
      // src makes a different endCursor on each read: as if a write had changed the page without a new position.
      await expect(cache.page(agent(1), 's', async () => 1, src.read)).rejects.toThrow(
        /without moving the feed position/,
      );
    } finally {
      verifyKeptPages(false);
    }
  });
});
