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
 * Kept and bounded as src/graphql/kept-pages.ts says (a page weighed by the text of its rows and labels, `weight`),
 * and checked against a fresh read under jest. Searches (`query`) are not kept: each is typed once, and would push out
 * the pages agents read again and again.
 */
import type { EntityManager } from 'typeorm';
import { rawRows } from '../db/statements';
import { Agent } from '../entities';
import type { Page } from '../graphql/connection';
import { KeptPages } from '../graphql/kept-pages';
import type { FeedAgent } from './contact-changes';
import type { ContactType } from './contact.type';

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

/** Contact pages kept at the agent's feed position. */
export class ContactPageCache extends KeptPages<Page<ContactType>> {
  constructor(maxBytes?: number, share?: { bytes: number; pages: number }) {
    super('feed position', maxBytes, share);
  }
}
