/**
 * contacts(query:) through an index: each contact's tokens (person.mapper.ts searchTokensOf) in contact_search_token,
 * kept in the transaction that writes the contact, and a query word looked up as a range of that table's primary key
 * (agentId, token): the contacts with a token that begins with the word, found without reading the agent's other
 * contacts. A LIKE over contact.searchText read every contact of the agent: 93 ms for a word on an agent of 10,000
 * contacts, 0.9 ms through the tokens (MariaDB 10.11, 1,010,000 contacts). MySQL's FULLTEXT was measured too: it
 * starts from the words of every agent (1.4 to 2 s) and leaves out short words and stopwords.
 *
 * Contacts written before the index (or by a release with another tokenizer) have no tokens, or others: each agent's
 * index is built once, on its first search (SearchIndex), and `contact_sync.searchTokensVersion` says it is done.
 * Until then the agent's searches read the contacts as before (LIKE over searchText).
 */
import { LRUCache } from 'lru-cache';
import type { DataSource, EntityManager, SelectQueryBuilder } from 'typeorm';
import { In, LessThan } from 'typeorm';
import type { AgentKey } from '../agents/agent-ref';
import { lockAgentFeeds } from '../db/agent-lock';
import { batches } from '../db/batches';
import { Contact, ContactSearchToken, ContactSyncRecord } from '../entities';
import type { Logger } from '../logger';
import { fieldsOf } from './contact.mirror';
import { capToken, normalizeSearchText, searchTokensOf, type ContactFields } from './person.mapper';

/**
 * The tokenizer's version (searchTokensOf, normalizeSearchText). Raise it with any change to what they produce: every
 * agent's index is then built again, each on its first search, its searches reading the contacts meanwhile.
 */
export const SEARCH_TOKENS_VERSION = 1;

/**
 * Token rows per INSERT: 4 values a row, far below SQLite's 32,766 variables; batches() also keeps a statement under
 * 4 MiB, for MySQL's max_allowed_packet.
 */
const TOKEN_ROWS_PER_INSERT = 2000;
/** Contact ids per DELETE of their tokens (an IN list). */
const IDS_PER_DELETE = 500;
/** Contacts a build re-indexes per transaction (the agent's writes wait for one such transaction at most). */
const BUILD_CHUNK = 500;
/** How long this process remembers that an agent's index is built: an operator may reset it (docs/operations.md). */
const REMEMBER_BUILT_MS = 60_000;
/** After a build failed, the agent's searches read the contacts this long before a build is tried again. */
const RETRY_BUILD_MS = 60_000;
/** Agents remembered (a bound: the others are asked the database again). */
const MAX_AGENTS_REMEMBERED = 10_000;
/**
 * Index builds one process runs at once: after a deploy that brings (or changes) the tokenizer, every agent's first
 * search would start one, each holding a pooled connection (SQLite's one connection in turns) for its transactions.
 * An agent whose build cannot start now is answered by LIKE; a later search starts it.
 */
const MAX_BUILDS = 2;
/** Words a query may have: each is a range read of the agent's tokens (an IN subquery past the first). */
export const MAX_QUERY_WORDS = 10;

/** Upper end of a prefix range: above every code point a token can continue with. */
const PREFIX_END = '\u{10FFFF}';

/** A query that is a phone number as typed: digits and the separators people write numbers with. */
const PHONE_LIKE = /^[0-9\s()+.\-/]+$/;
/** What a query word starts with before its first letter or digit: tokens begin after it (searchTokensOf's tails). */
const LEADING_PUNCTUATION = /^[^\p{L}\p{N}]+/u;

export interface Tokenized {
  contact: Pick<Contact, 'id' | 'agentId' | 'brokerageId'>;
  fields: ContactFields;
  /** The fields the contact had: its tokens are left alone when they give the same ones. */
  before?: ContactFields;
}

/** The token rows of new contacts (no rows to remove), in multi-row inserts. */
export async function insertTokens(m: EntityManager, items: readonly Tokenized[]): Promise<void> {
  const rows = items.flatMap(({ contact, fields }) =>
    searchTokensOf(fields).map((token) => ({
      agentId: contact.agentId,
      token,
      contactId: contact.id,
      brokerageId: contact.brokerageId,
    })),
  );
  for (const batch of batches(rows, TOKEN_ROWS_PER_INSERT))
    // orIgnore: a token the database stores like another of the same contact (normalizeSearchText makes tokens as
    // MariaDB stores them; this is the guard) is one row, and must never fail the contact's write.
    await m
      .createQueryBuilder()
      .insert()
      .into(ContactSearchToken)
      .values(batch)
      .orIgnore()
      .updateEntity(false)
      .execute();
}

/**
 * Replaces the token rows of contacts whose searchable fields changed: one DELETE per IDS_PER_DELETE contacts, then
 * multi-row inserts. Called in the transaction that writes the contacts, after its changeFeed (which holds the agent's
 * row): the agent's token writes, and a build of its index, then take turns.
 */
export async function replaceTokens(m: EntityManager, items: readonly Tokenized[]): Promise<void> {
  const changed = items.filter(
    (x) => !x.before || searchTokensOf(x.before).join('\n') !== searchTokensOf(x.fields).join('\n'),
  );
  if (changed.length === 0) return;
  const byAgent = new Map<string, AgentKey & { ids: string[] }>();
  for (const { contact } of changed) {
    const agent = byAgent.get(contact.agentId) ?? {
      agentId: contact.agentId,
      brokerageId: contact.brokerageId,
      ids: [],
    };
    agent.ids.push(contact.id);
    byAgent.set(contact.agentId, agent);
  }
  for (const { agentId, brokerageId, ids } of byAgent.values()) {
    for (let i = 0; i < ids.length; i += IDS_PER_DELETE)
      await m
        .getRepository(ContactSearchToken)
        .delete({ contactId: In(ids.slice(i, i + IDS_PER_DELETE)), agentId, brokerageId });
  }
  await insertTokens(m, changed);
}

/**
 * What a query looks for in the index: each word normalized as tokens are (normalizeSearchText), without what it
 * starts with before its first letter or digit (`@x.com` looks for `x.com`), cut as tokens are; a word that begins
 * another word of the query is left out (the other one implies it). A query that is a phone number as typed
 * (digits and spaces, ( ) + . - /, 3 digits or more) looks for its digits. Empty for a query of punctuation alone.
 */
export function queryWords(query: string): string[] {
  const q = normalizeSearchText(query).trim();
  const digits = q.replace(/[^0-9]/g, '');
  if (PHONE_LIKE.test(q) && digits.length >= 3) return [capToken(digits)];
  const words = [
    ...new Set(
      q
        .split(/\s+/)
        .map((w) => capToken(w.replace(LEADING_PUNCTUATION, '')))
        .filter(Boolean),
    ),
  ];
  return words.filter((w) => !words.some((other) => other !== w && other.startsWith(w)));
}

/**
 * Narrows `qb` (the caller's contacts, as `c`, from TenantScope.agentQuery, whose :agentId and :brokerageId the
 * subqueries reuse) to those matching `query` (trimmed, 200 characters at most). `words`: its queryWords when the
 * agent's index is built (SearchIndex.ready), else none. Through the index every word must begin a token of the
 * contact, each word a range of the primary key; without words (an index not built yet, or a query of punctuation
 * alone), a LIKE over searchText, as before the index.
 *
 * The longest word (likely the fewest contacts) is joined as a derived table, the contacts it finds then read by
 * their primary key; the other words are `c.id IN (…)`. Not every word as `IN`: without statistics (the product runs
 * no ANALYZE) SQLite then walks the agent's contacts in sort order and tests each against the lists; a join it starts
 * from the tokens. MariaDB plans both from the tokens (test/contacts/search-index.test.ts checks the plans).
 */
export function searchCondition(qb: SelectQueryBuilder<Contact>, query: string, words: readonly string[]): void {
  if (words.length === 0) {
    likeCondition(qb, query.toLowerCase());
    return;
  }
  const lead = words.reduce((a, b) => (b.length > a.length ? b : a));
  const range = (t: string, i: number) =>
    `${t}.agentId = :agentId AND ${t}.brokerageId = :brokerageId AND ${t}.token >= :word${i} AND ${t}.token < :wordEnd${i}`;
  words.forEach((word, i) => {
    const t = `t${i}`;
    const params = { [`word${i}`]: word, [`wordEnd${i}`]: word + PREFIX_END };
    if (word === lead)
      qb.innerJoin(
        (sub) =>
          sub.select(`${t}.contactId`, 'contactId').distinct(true).from(ContactSearchToken, t).where(range(t, i)),
        `m${i}`,
        `m${i}.contactId = c.id`,
        params,
      );
    else
      qb.andWhere(
        (sub) =>
          `c.id IN ${sub.subQuery().select(`${t}.contactId`).from(ContactSearchToken, t).where(range(t, i)).getQuery()}`,
        params,
      );
  });
}

/** The search before the index: a substring of searchText; a phone number as typed also by its digits alone. */
function likeCondition(qb: SelectQueryBuilder<Contact>, q: string): void {
  // '!' as the LIKE escape: a backslash would be an escape inside MariaDB string literals themselves.
  const like = `%${q.replace(/[!%_]/g, (ch) => `!${ch}`)}%`;
  const digits = q.replace(/\D/g, '');
  qb.andWhere(
    digits.length >= 3 && digits.length === q.replace(/[\s()+.\-/]/g, '').length
      ? "(c.searchText LIKE :like ESCAPE '!' OR c.searchText LIKE :digits)"
      : "c.searchText LIKE :like ESCAPE '!'",
    { like, digits: `%${digits}%` },
  );
}

/**
 * Which agents' indexes are built, and their building: one build per agent at a time in this process, started by a
 * search that finds the agent's version behind, not waited for by it. Builds of one agent on several replicas at once
 * do no harm: each transaction replaces the tokens of the contacts it reads, holding the agent's row as every contact
 * write does, and the version only ever moves up.
 */
export class SearchIndex {
  private readonly built = new LRUCache<string, true>({ max: MAX_AGENTS_REMEMBERED, ttl: REMEMBER_BUILT_MS });
  private readonly failed = new LRUCache<string, true>({ max: MAX_AGENTS_REMEMBERED, ttl: RETRY_BUILD_MS });
  private readonly building = new Map<string, Promise<void>>();
  private stopping = false;

  constructor(private readonly deps: { ds: DataSource; log: Logger }) {}

  /**
   * Whether the agent's searches can use its index; when not, its build is started (unless under way, or failed
   * within RETRY_BUILD_MS). Costs no statement when the agent is remembered built.
   */
  async ready(agent: AgentKey): Promise<boolean> {
    if (this.built.get(agent.agentId)) return true;
    const rec = await this.deps.ds.getRepository(ContactSyncRecord).findOne({
      where: { agentId: agent.agentId, brokerageId: agent.brokerageId },
      select: { agentId: true, searchTokensVersion: true },
    });
    if (rec) this.saw(agent.agentId, rec.searchTokensVersion ?? 0);
    if (this.built.get(agent.agentId)) return true;
    if (
      !this.failed.get(agent.agentId) &&
      !this.stopping &&
      (this.building.has(agent.agentId) || this.building.size < MAX_BUILDS)
    )
      void this.build(agent);
    return false;
  }

  /** Notes the version an agent's sync record was read with (ContactSync.record). */
  saw(agentId: string, version: number): void {
    if (version >= SEARCH_TOKENS_VERSION) this.built.set(agentId, true);
  }

  /**
   * Builds the agent's index, or joins the build under way; resolves when it ends (a failure is logged, and the agent
   * keeps the LIKE search until a later try succeeds).
   */
  build(agent: AgentKey): Promise<void> {
    let running = this.building.get(agent.agentId);
    if (!running) {
      running = this.run(agent)
        .catch((err: unknown) => {
          this.failed.set(agent.agentId, true);
          this.deps.log.warn(
            { err, agentId: agent.agentId },
            'building the contact search index failed; searches read the contacts meanwhile',
          );
        })
        .finally(() => this.building.delete(agent.agentId));
      this.building.set(agent.agentId, running);
    }
    return running;
  }

  private async run(agent: AgentKey): Promise<void> {
    const { ds } = this.deps;
    // The ids first, from the index the contacts page is read with; each chunk then reads its contacts again under
    // the agent's row. A contact written after this list keeps its own tokens (replaceTokens); one gone is not read.
    const ids = (
      await ds.getRepository(Contact).find({
        where: { agentId: agent.agentId, brokerageId: agent.brokerageId },
        select: { id: true },
      })
    ).map((c) => c.id);
    for (let i = 0; i < ids.length; i += BUILD_CHUNK) {
      if (this.stopping) return;
      await ds.transaction(async (m) => {
        await lockAgentFeeds(m, agent);
        const rows = await m.getRepository(Contact).find({
          where: { id: In(ids.slice(i, i + BUILD_CHUNK)), agentId: agent.agentId, brokerageId: agent.brokerageId },
          select: {
            id: true,
            agentId: true,
            brokerageId: true,
            givenName: true,
            familyName: true,
            organization: true,
            jobTitle: true,
            notes: true,
            emails: true,
            phones: true,
            details: true,
          },
        });
        await replaceTokens(
          m,
          rows.map((c) => ({ contact: c, fields: fieldsOf(c) })),
        );
      });
    }
    const res = await ds.getRepository(ContactSyncRecord).update(
      {
        agentId: agent.agentId,
        brokerageId: agent.brokerageId,
        searchTokensVersion: LessThan(SEARCH_TOKENS_VERSION),
      },
      { searchTokensVersion: SEARCH_TOKENS_VERSION },
    );
    // Nothing updated: already set (another replica's build), or no record yet (the next search looks again).
    if (res.affected) this.built.set(agent.agentId, true);
  }

  /** Forgets which agents are built (all, or one): the next search asks the database. */
  forget(agentId?: string): void {
    if (agentId === undefined) {
      this.built.clear();
      this.failed.clear();
    } else {
      this.built.delete(agentId);
      this.failed.delete(agentId);
    }
  }

  /** Ends the builds under way after their current transaction (a drain); none starts after. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.building.values());
  }
}
