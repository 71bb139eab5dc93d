/**
 * The contact change feed (contactChanges): every change of an agent's contacts, from the CRM or from Google, in the
 * order it committed, for clients that keep a local copy.
 *
 * The feed is compacted: a contact stands at the position of its latest change (`contact.changeSeq`), a contact gone
 * from the mirror at its tombstone's (`contact_tombstone.changeSeq`), and a client gets each contact as it is now.
 * Applying the feed in order to a local copy (an upsert, or a delete) makes that copy equal to `contacts`.
 *
 * Positions are per agent, taken from the agent row (`agent.contactChangeSeq`) by `changeFeed` as the first step of
 * every transaction that changes what a client sees of a contact. The row lock that taking one holds until commit
 * makes positions follow commit order: a transaction holding position 7 commits before one can take 8, so a reader
 * that sees 8 sees 7 too, on every replica. (An auto-increment would not: MySQL hands its values out at insert, and
 * the 8 may commit first, so that a client reading past it would skip the 7 for good.) The price: one agent's
 * contact writes commit one at a time (other agents' are not held).
 *
 * Retention: tombstones are kept CONTACT_CHANGES_RETENTION_DAYS; the highest position deleted is kept per agent
 * (contact_sync.changesPrunedThrough), and a cursor below it is told it missed deletes (CURSOR_EXPIRED) with a
 * cursor to resume from after re-reading everything. Live contacts are never pruned: a cursor is only ever too old
 * for deletes it could have missed.
 */
import type { DataSource, EntityManager } from 'typeorm';
import { In, LessThan } from 'typeorm';
import { Agent, Contact, ContactSyncRecord, ContactTombstone } from '../entities';
import { badInput } from '../errors';

/** Ids `n` at a time (an IN list per statement). */
export function* chunks(ids: readonly string[], n: number): Generator<string[]> {
  for (let i = 0; i < ids.length; i += n) yield ids.slice(i, i + n);
}

export interface FeedAgent {
  brokerageId: string;
  agentId: string;
}

/** A transaction's place in the agent's feed: its position, and how to put the contacts it changes there. */
export interface FeedWrite {
  seq: number;
  /** Puts contacts at this transaction's position. */
  mark(ids: readonly string[]): Promise<void>;
  /**
   * `n` more positions of this transaction, one per tombstone, so that a cursor's position alone says which tombstones
   * a client has read (the retention's horizon is a position: checkNotExpired). Returns the first.
   */
  reserve(n: number): Promise<number>;
}

/**
 * Takes the agent's next feed position, locking the agent row until commit. Every transaction that changes what a
 * client sees of the agent's contacts calls it FIRST: inserting a contact takes a shared lock on its agent row (the
 * foreign key), so two inserting transactions that asked for the row's exclusive lock last would each wait for the
 * other's shared one (a deadlock, seen on MariaDB with 24 concurrent creates). Taken first, it orders the agent's
 * writers: one holding it waits only for rows of transactions that change no contact of the agent's.
 */
export async function changeFeed(m: EntityManager, agent: FeedAgent): Promise<FeedWrite> {
  // The increment locks the row (lockAgentFeeds, src/db/agent-lock.ts, does the same for the calendar's feed).
  const agents = m.getRepository(Agent);
  /** Takes `n` positions: the last of them. */
  const advance = async (n: number) => {
    await agents.increment({ id: agent.agentId, brokerageId: agent.brokerageId }, 'contactChangeSeq', n);
    const row = await agents.findOne({
      where: { id: agent.agentId, brokerageId: agent.brokerageId },
      select: { id: true, contactChangeSeq: true },
    });
    if (!row)
      throw new Error(
        `agent ${agent.agentId} of brokerage ${agent.brokerageId} not found while recording a contact change`,
      );
    return row.contactChangeSeq;
  };
  const seq = await advance(1);
  return {
    seq,
    async reserve(n) {
      return (await advance(n)) - n + 1;
    },
    async mark(ids) {
      for (const slice of chunks([...new Set(ids)], 500)) {
        await m
          .getRepository(Contact)
          .update({ id: In(slice), agentId: agent.agentId, brokerageId: agent.brokerageId }, { changeSeq: seq });
      }
    },
  };
}

/** Changes contacts in a transaction of their own, at the agent's next feed position. */
export function writeChanged(
  ds: DataSource,
  agent: FeedAgent,
  ids: readonly string[],
  write: (m: EntityManager) => Promise<unknown>,
): Promise<void> {
  return ds.transaction(async (m) => {
    const feed = await changeFeed(m, agent);
    await write(m);
    await feed.mark(ids);
  });
}

/** A position in the feed: the change's position and the contact's id (several contacts share a transaction's). */
export interface FeedCursor {
  seq: number;
  id: string;
}

const CURSOR_VERSION = 'c1';

export function encodeFeedCursor(c: FeedCursor): string {
  return Buffer.from(`${CURSOR_VERSION}:${c.seq}:${c.id}`, 'utf8').toString('base64url');
}

export function decodeFeedCursor(cursor: string): FeedCursor {
  const m = /^c1:(\d{1,15}):([0-9a-f-]{36})$/.exec(
    cursor.length <= 100 ? Buffer.from(cursor, 'base64url').toString('utf8') : '',
  );
  if (!m)
    throw badInput(`"after" is not a cursor of contactChanges (got "${cursor.slice(0, 60)}")`, { field: 'after' });
  return { seq: Number(m[1]), id: m[2] };
}

export interface FeedEntry {
  id: string;
  seq: number;
  /** Gone from the mirror (a tombstone), or deleted here and on its way to Google. */
  deleted: boolean;
  /** When the change was recorded: the contact's updatedAt, or its deletion's time. */
  at: Date;
  contact: Contact | null;
}

/**
 * One page of the feed after `after` (null: from the start). The positions are read in one statement (one snapshot
 * on both databases, so a contact that became a tombstone between two reads cannot be missed by both), then the
 * contacts as they are now.
 */
export async function readFeed(
  m: EntityManager,
  agent: FeedAgent,
  after: FeedCursor | null,
  first: number,
): Promise<{ entries: FeedEntry[]; hasMore: boolean }> {
  const q = (s: string) => m.connection.driver.escape(s);
  // Each side ordered and cut to the page on its own index (agentId, changeSeq, id), then merged: a page reads
  // about `first` rows of each, however many contacts the agent has (without the inner limits, every page read and
  // sorted everything after the cursor: 54-72 ms a page at 60,000 contacts on SQLite, 0.5 ms with them).
  const side = (table: string, idCol: string, gone: 0 | 1, alias: string) => {
    const params: unknown[] = [agent.brokerageId, agent.agentId];
    let since = '';
    if (after) {
      since = ` AND (${q('changeSeq')} > ? OR (${q('changeSeq')} = ? AND ${q(idCol)} > ?))`;
      params.push(after.seq, after.seq, after.id);
    }
    params.push(first + 1);
    const sql = `SELECT * FROM (SELECT ${q(idCol)} AS id, ${q('changeSeq')} AS seq, ${gone} AS gone FROM ${q(table)} WHERE ${q('brokerageId')} = ? AND ${q('agentId')} = ?${since} ORDER BY ${q('changeSeq')}, ${q(idCol)} LIMIT ?) ${alias}`;
    return { sql, params };
  };
  const live = side('contact', 'id', 0, 'live');
  const dead = side('contact_tombstone', 'contactId', 1, 'dead');
  const rows: { id: string; seq: number | string; gone: number | string }[] = await m.query(
    `${live.sql} UNION ALL ${dead.sql} ORDER BY seq, id LIMIT ?`,
    [...live.params, ...dead.params, first + 1],
  );
  const page = rows.slice(0, first);
  const liveIds = page.filter((r) => Number(r.gone) === 0).map((r) => r.id);
  const contacts = new Map<string, Contact>();
  for (const slice of chunks(liveIds, 500)) {
    for (const c of await m
      .getRepository(Contact)
      .find({ where: { id: In(slice), agentId: agent.agentId, brokerageId: agent.brokerageId } }))
      contacts.set(c.id, c);
  }
  const deadIds = page.filter((r) => Number(r.gone) === 1).map((r) => r.id);
  const tombstones = new Map<string, Date>();
  for (const slice of chunks(deadIds, 500)) {
    for (const t of await m.getRepository(ContactTombstone).find({
      where: { contactId: In(slice), agentId: agent.agentId, brokerageId: agent.brokerageId },
      select: { contactId: true, deletedAt: true },
    }))
      tombstones.set(t.contactId, t.deletedAt);
  }
  const now = new Date();
  const entries = page.map((r): FeedEntry => {
    const c = Number(r.gone) === 0 ? (contacts.get(r.id) ?? null) : null;
    // Removed since the positions were read: a tombstone at a later position reports it again.
    if (!c || c.deletedAt)
      return {
        id: r.id,
        seq: Number(r.seq),
        deleted: true,
        at: c?.deletedAt ?? tombstones.get(r.id) ?? now,
        contact: null,
      };
    return { id: r.id, seq: Number(r.seq), deleted: false, at: c.updatedAt, contact: c };
  });
  return { entries, hasMore: rows.length > first };
}

/** The agent's newest position (the cursor a client resumes from after re-reading everything). */
/** The id of a cursor that stands after every contact at its position. */
const PAST_EVERY_ID = 'ffffffff-ffff-ffff-ffff-ffffffffffff';

async function headCursor(m: EntityManager, agent: FeedAgent): Promise<string> {
  const row = await m.getRepository(Agent).findOne({
    where: { id: agent.agentId, brokerageId: agent.brokerageId },
    select: { id: true, contactChangeSeq: true },
  });
  // After every id at this position: nothing at it is repeated.
  return encodeFeedCursor({ seq: row?.contactChangeSeq ?? 0, id: PAST_EVERY_ID });
}

/** Throws CURSOR_EXPIRED (BAD_USER_INPUT, reason cursor_expired) when deletes after `after` were pruned. */
export async function checkNotExpired(
  m: EntityManager,
  agent: FeedAgent,
  after: FeedCursor,
  retentionMs: number,
): Promise<void> {
  const rec = await m.getRepository(ContactSyncRecord).findOne({
    where: { agentId: agent.agentId, brokerageId: agent.brokerageId },
    select: { agentId: true, changesPrunedThrough: true },
  });
  // Each tombstone has a position of its own (FeedWrite.reserve): a cursor at the highest one pruned has read it.
  if (after.seq >= (rec?.changesPrunedThrough ?? 0)) return;
  const days = Math.round(retentionMs / 86_400_000);
  throw badInput(
    `The cursor is older than the change feed keeps (${days} days): deletions after it were forgotten. Re-read every contact with contacts(first, after), then continue the feed from extensions.resyncCursor`,
    { field: 'after', reason: 'cursor_expired', retentionDays: days, resyncCursor: await headCursor(m, agent) },
  );
}

/** Tombstones deleted per statement by the retention. */
const PRUNE_BATCH = 500;

/**
 * Deletes the agent's tombstones older than the retention, recording the highest position deleted first (in the same
 * transaction), so a cursor below it is told. Returns how many went.
 */
export async function pruneTombstones(
  ds: DataSource,
  agent: FeedAgent,
  retentionMs: number,
  now = new Date(),
): Promise<number> {
  const cutoff = new Date(now.getTime() - retentionMs);
  let removed = 0;
  for (;;) {
    const n = await ds.transaction(async (m) => {
      const old = await m.getRepository(ContactTombstone).find({
        where: { agentId: agent.agentId, brokerageId: agent.brokerageId, deletedAt: LessThan(cutoff) },
        select: { contactId: true, changeSeq: true },
        order: { changeSeq: 'ASC' },
        take: PRUNE_BATCH,
      });
      if (!old.length) return 0;
      const top = Math.max(...old.map((t) => t.changeSeq));
      const recs = m.getRepository(ContactSyncRecord);
      const rec = await recs.findOne({
        where: { agentId: agent.agentId, brokerageId: agent.brokerageId },
        select: { agentId: true, changesPrunedThrough: true },
      });
      if (!rec) return 0; // no sync record yet: the tombstones wait for the agent's first sync, which creates it
      // Only ever raised: a concurrent pruner with an older cutoff (another replica, the sweep) must not lower it.
      await recs.update(
        { agentId: agent.agentId, brokerageId: agent.brokerageId, changesPrunedThrough: LessThan(top) },
        { changesPrunedThrough: top },
      );
      await m
        .getRepository(ContactTombstone)
        .delete({ contactId: In(old.map((t) => t.contactId)), brokerageId: agent.brokerageId });
      return old.length;
    });
    removed += n;
    if (n < PRUNE_BATCH) return removed;
  }
}
