/**
 * Pages of a list kept in memory under a stamp (what the page was read at: the agent's contact feed position, the
 * calendar's generation and window...), and served again while a fresh stamp says nothing has changed. The stamp is
 * read first, then the page: a page that already shows a later state only makes the next reader of that stamp see it
 * sooner; any write that changes what a page shows must change the stamp in its own transaction (the users of this
 * module say how).
 *
 * Bounded by size, fairly (as the calendar's RangeCache): a page is weighed by its reader (roughly the text it was
 * made of), and the process keeps at most `maxBytes` of pages in all, each agent at most its share of bytes and pages
 * (its own least recently read go first; a page heavier than the share is answered, not kept). Over the process's
 * bound, the agent holding the most gives way: an agent holding less is never pushed out by another's pages. One
 * entry per agent and page shape, replaced when the stamp moves.
 *
 * Under jest (NODE_ENV=test) a page served from here is also read afresh and compared, unless the stamp moved
 * meanwhile, and a difference fails the request loudly: every test that reads a page twice checks that no write
 * changes what a page shows without moving its stamp. Kept pages are frozen there too: a resolver that changed one
 * (which would show in other requests) throws.
 */

/** Text of kept pages in the whole process, by default (their objects take some three times that on the heap). */
const MAX_BYTES = 2 * 1024 * 1024;
/** One agent's share, by default: a few pages of 50 rich contacts, or of a month of events. */
const AGENT_SHARE_BYTES = 256 * 1024;
const AGENT_SHARE_PAGES = 8;

let verify = process.env.NODE_ENV === 'test';

/** Turns jest's check off or on (tests that count statements turn it off). */
export function verifyKeptPages(on: boolean): void {
  verify = on;
}

/** A page's stamp: null when nothing may be kept (e.g. the agent has no row). */
export type Stamp = string | number | null;

/** What a read answers: the page, what it weighs, and (when not the stamp read before) the stamp to keep it under. */
export interface Read<P> {
  page: P;
  /** what keeping it costs (a function: worked out only when it is kept) */
  bytes: number | (() => number);
  /** Kept under this stamp instead of the one read before the page (null: answered, not kept). */
  keepAs?: Stamp;
}

interface Kept<P> {
  stamp: string | number;
  page: P;
  bytes: number;
}

/** What a kept page weighs: the text of the values it was made of (8 bytes for anything else). */
export function weight(values: Iterable<unknown>): number {
  let n = 0;
  for (const v of values) n += typeof v === 'string' ? v.length + 8 : 8;
  return n;
}

export class KeptPages<P> {
  /** agent → page shape → kept page, least recently read first */
  private readonly agents = new Map<string, Map<string, Kept<P>>>();
  private readonly held = new Map<string, number>();
  private bytes = 0;
  private hits = 0;

  /** `what` names the stamp in the loud failure of jest's check. */
  constructor(
    private readonly what: string,
    private readonly maxBytes = MAX_BYTES,
    private readonly share = { bytes: AGENT_SHARE_BYTES, pages: AGENT_SHARE_PAGES },
  ) {}

  /**
   * The page of `shape` (everything that selects and shapes it, the agent aside): kept, when `stamp` reads what it was
   * kept under, else `read` and kept.
   */
  async page(
    agent: { brokerageId: string; agentId: string },
    shape: string,
    stamp: () => Promise<Stamp>,
    read: () => Promise<Read<P>>,
  ): Promise<P> {
    const now = await stamp();
    const who = `${agent.brokerageId}/${agent.agentId}`;
    const mine = this.agents.get(who);
    const kept = mine?.get(shape);
    if (now !== null && kept?.stamp === now) {
      mine!.delete(shape); // read now: the most recent
      mine!.set(shape, kept);
      if (verify) await this.check(kept, read, stamp);
      this.hits++;
      return kept.page;
    }
    const fresh = await read();
    const as = fresh.keepAs === undefined ? now : fresh.keepAs;
    // A page the stamp has moved past is never served again: freed now rather than when pushed out.
    if (as === null) this.drop(who, shape);
    else
      this.keep(who, shape, {
        stamp: as,
        page: fresh.page,
        bytes: (typeof fresh.bytes === 'number' ? fresh.bytes : fresh.bytes()) + shape.length,
      });
    return fresh.page;
  }

  /** Forgets the agent's kept pages (what was read with a key that is gone, say). */
  forget(agent: { brokerageId: string; agentId: string }): void {
    const who = `${agent.brokerageId}/${agent.agentId}`;
    for (const shape of [...(this.agents.get(who)?.keys() ?? [])]) this.drop(who, shape);
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

  private keep(who: string, shape: string, kept: Kept<P>): void {
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

  private async check(kept: Kept<P>, read: () => Promise<Read<P>>, stamp: () => Promise<Stamp>): Promise<void> {
    const fresh = (await read()).page;
    if ((await stamp()) !== kept.stamp) return; // a write committed meanwhile: the two may differ rightly
    const a = asJson(kept.page);
    const b = asJson(fresh);
    if (a !== b)
      throw new Error(
        `kept-pages.ts: a kept page differs from the page read now at ${this.what} ${kept.stamp}: a write changed what a page shows without moving the ${this.what}\nkept:  ${a}\nfresh: ${b}`,
      );
  }
}

function deepFreeze(v: unknown): void {
  if (v === null || typeof v !== 'object' || Object.isFrozen(v)) return;
  Object.freeze(v);
  if (v instanceof Map) for (const x of v.values()) deepFreeze(x);
  for (const x of Object.values(v)) deepFreeze(x);
}

function asJson(page: unknown): string {
  return JSON.stringify(page, (_k, v: unknown) => (v instanceof Map ? [...v.entries()] : v));
}
