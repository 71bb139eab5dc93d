/**
 * Pages of `contacts` kept in memory, each with the position of the agent's change feed it was read at
 * (`agent.contactChangeSeq`, contact-changes.ts), and served again while that position has not moved.
 *
 * Why the position tells: every transaction that changes what a page shows of the agent's contacts or of their labels
 * takes the agent's next position first, and commits it with the change (contact-changes.ts, changeFeed). So a
 * position read says which committed state the agent's contacts are in, on every replica: a page read after reading
 * position P shows P's state or a later one, and is kept under P. A later request reads the position again (one
 * primary-key statement instead of the page, its labels and their counts); the same P means nothing committed since,
 * and the kept page is what it would read. A page read at P that already shows a later state only makes the next
 * reader of P see that state sooner; a reader at a later position misses and reads afresh.
 *
 * The freshness check runs before (ContactService.list): a sync that finds changes commits them at a new position.
 * What a page shows beyond its rows is computed per request and never kept here: the reason a PENDING contact waits
 * (ContactResolver.syncError, which depends on the brokerage's key).
 *
 * Bounded by size, fairly (as the calendar's RangeCache): a page is weighed by the text of its rows and labels
 * (`weight`), and the process keeps at most MAX_BYTES of pages in all, each agent at most AGENT_SHARE_BYTES and
 * AGENT_SHARE_PAGES (its own least recently read go first; a page heavier than the share is answered, not kept). Over
 * the process's bound, the agent holding the most gives way: an agent holding less is never pushed out by another's
 * pages. One entry per agent and page shape, replaced when the position moves. Searches (`query`) are not kept: each
 * is typed once, and would push out the pages agents read again and again.
 *
 * Under jest (NODE_ENV=test) a page served from here is also read afresh and compared, unless the position moved
 * meanwhile, and a difference fails the request loudly: every test that reads a page twice checks that no write
 * changes what a page shows without taking a position. Kept pages are frozen there too: a resolver that changed one
 * (which would show in other requests) throws.
 */
import type { EntityManager } from 'typeorm';
import { rawRows } from '../db/statements';
import { Agent } from '../entities';
import type { Page } from '../graphql/connection';
import type { FeedAgent } from './contact-changes';
import type { ContactType } from './contact.type';

/** Text of kept pages in the whole process (their objects take some three times that on the heap). */
const MAX_BYTES = 2 * 1024 * 1024;
/** One agent's share: a few pages of 50 rich contacts. */
const AGENT_SHARE_BYTES = 256 * 1024;
const AGENT_SHARE_PAGES = 8;

let verify = process.env.NODE_ENV === 'test';

/** Turns jest's check off or on (its test counts statements without it). */
export function verifyKeptPages(on: boolean): void {
  verify = on;
}

/** The agent's feed position now: null when the agent has no row (then nothing is kept). */
export async function feedPosition(m: EntityManager, agent: FeedAgent): Promise<number | null> {
  const [row] = await rawRows<{ seq: number | string }>(
    m
      .getRepository(Agent)
      .createQueryBuilder('a')
      .select('a.contactChangeSeq', 'seq')
      .where('a.id = :agentId AND a.brokerageId = :brokerageId', {
        agentId: agent.agentId,
        brokerageId: agent.brokerageId,
      }),
  );
  return row ? Number(row.seq) : null;
}

interface Kept {
  seq: number;
  page: Page<ContactType>;
  bytes: number;
}

/** What a kept page weighs: the text of the rows (and labels) it was made of, as `weight` counts it. */
export function weight(values: Iterable<unknown>): number {
  let n = 0;
  for (const v of values) n += typeof v === 'string' ? v.length + 8 : 8;
  return n;
}

export class ContactPageCache {
  /** agent → page shape → kept page, least recently read first */
  private readonly agents = new Map<string, Map<string, Kept>>();
  private readonly held = new Map<string, number>();
  private bytes = 0;
  private hits = 0;

  constructor(
    private readonly maxBytes = MAX_BYTES,
    private readonly share = { bytes: AGENT_SHARE_BYTES, pages: AGENT_SHARE_PAGES },
  ) {}

  /**
   * The page of `shape` (everything that selects and shapes it, the agent aside): kept, when the agent's feed is at
   * the position it was read at, else `read` (the page and what it weighs) and kept. `position` reads the agent's
   * position (feedPosition).
   */
  async page(
    agent: FeedAgent,
    shape: string,
    position: () => Promise<number | null>,
    read: () => Promise<{ page: Page<ContactType>; bytes: number }>,
  ): Promise<Page<ContactType>> {
    const seq = await position();
    if (seq === null) return (await read()).page;
    const who = `${agent.brokerageId}/${agent.agentId}`;
    const mine = this.agents.get(who);
    const kept = mine?.get(shape);
    if (kept?.seq === seq) {
      mine!.delete(shape); // read now: the most recent
      mine!.set(shape, kept);
      if (verify) await check(kept, read, position);
      this.hits++;
      return kept.page;
    }
    const fresh = await read();
    this.keep(who, shape, { seq, page: fresh.page, bytes: fresh.bytes + shape.length });
    return fresh.page;
  }

  /** Pages kept in all, their weight, and how many requests they answered (tests). */
  get stats(): { agents: number; pages: number; bytes: number; hits: number } {
    let pages = 0;
    for (const m of this.agents.values()) pages += m.size;
    return { agents: this.agents.size, pages, bytes: this.bytes, hits: this.hits };
  }

  clear(): void {
    this.agents.clear();
    this.held.clear();
    this.bytes = 0;
  }

  private keep(who: string, shape: string, kept: Kept): void {
    this.drop(who, shape);
    if (kept.bytes > Math.min(this.share.bytes, this.maxBytes)) return; // answered, not kept
    if (verify) deepFreeze(kept.page);
    let mine = this.agents.get(who);
    if (!mine) this.agents.set(who, (mine = new Map()));
    mine.set(shape, kept);
    this.held.set(who, (this.held.get(who) ?? 0) + kept.bytes);
    this.bytes += kept.bytes;
    while (mine.size > this.share.pages || this.held.get(who)! > this.share.bytes) this.dropOldest(who);
    while (this.bytes > this.maxBytes) {
      let biggest = who;
      for (const [a, n] of this.held) if (n > this.held.get(biggest)!) biggest = a;
      this.dropOldest(biggest);
    }
  }

  private dropOldest(who: string): void {
    const oldest = this.agents.get(who)?.keys().next();
    if (oldest && !oldest.done) this.drop(who, oldest.value);
  }

  private drop(who: string, shape: string): void {
    const mine = this.agents.get(who);
    const kept = mine?.get(shape);
    if (!mine || !kept) return;
    mine.delete(shape);
    this.bytes -= kept.bytes;
    if (mine.size === 0) {
      this.agents.delete(who);
      this.held.delete(who);
    } else this.held.set(who, this.held.get(who)! - kept.bytes);
  }
}

function deepFreeze(v: unknown): void {
  if (v === null || typeof v !== 'object' || Object.isFrozen(v)) return;
  Object.freeze(v);
  if (v instanceof Map) for (const x of v.values()) deepFreeze(x);
  for (const x of Object.values(v)) deepFreeze(x);
}

async function check(
  kept: Kept,
  read: () => Promise<{ page: Page<ContactType> }>,
  position: () => Promise<number | null>,
): Promise<void> {
  const fresh = (await read()).page;
  if ((await position()) !== kept.seq) return; // a write committed meanwhile: the two may differ rightly
  const a = asJson(kept.page);
  const b = asJson(fresh);
  if (a !== b)
    throw new Error(
      `contact-page-cache.ts: a kept page differs from the page read now at feed position ${kept.seq}: a write changed what a page shows without taking a feed position (changeFeed)\nkept:  ${a}\nfresh: ${b}`,
    );
}

function asJson(page: Page<ContactType>): string {
  return JSON.stringify(page, (_k, v: unknown) => (v instanceof Map ? [...v.entries()] : v));
}
