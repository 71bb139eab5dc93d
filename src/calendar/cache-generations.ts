/**
 * The agent's staleness counter as every process sharing the database sees it
 * (calendar_cache_generation): read before a cached range or a kept page of
 * events is served, and moved by every change a view shows: each write of
 * ours (in its own transaction, first), its delivery's outcome, a push
 * notification. Without it, a change handled by one replica would leave the
 * others serving the old view until their entries expire.
 *
 * The agent is named with its brokerage, the tenant key every statement names (a sharded database finds the row
 * on one shard).
 */
import type { DataSource, EntityManager } from 'typeorm';
import type { AgentKey } from '../agents/agent-ref';
import { rawRows } from '../db/statements';
import { Agent, CalendarCacheGeneration } from '../entities';

export interface SharedGenerations {
  read(agent: AgentKey): Promise<number>;
  /** `m`: within that transaction (committed with it), else on its own. */
  bump(agent: AgentKey, m?: EntityManager): Promise<void>;
}

/** The counter in the database (RangeCache's `shared`). */
export class DbGenerations implements SharedGenerations {
  constructor(private readonly ds: DataSource) {}

  async read({ brokerageId, agentId }: AgentKey): Promise<number> {
    const [row] = await rawRows<{ generation: number }>(
      this.ds
        .getRepository(CalendarCacheGeneration)
        .createQueryBuilder('g')
        .select('g.generation', 'generation')
        .where('g.agentId = :agentId AND g.brokerageId = :brokerageId', { agentId, brokerageId }),
    );
    return row ? Number(row.generation) : 0;
  }

  /**
   * One upsert, whether or not the agent has a row yet. Bumps run first in write transactions (calendar.service.ts),
   * and "UPDATE, then INSERT when nothing was updated" deadlocked there on MariaDB: two first writes at once each took
   * a gap lock with the UPDATE (repeatable read), then waited for the other's with the INSERT
   * (test/calendar/first-writes.test.ts). The upsert locks the one row it inserts or updates. The row is keyed by
   * the agent alone (ids are UUIDs: an agent has one brokerage), and the columns are named as their properties.
   */
  async bump({ brokerageId, agentId }: AgentKey, m: EntityManager = this.ds.manager): Promise<void> {
    const table = m.connection.driver.escape(m.connection.getMetadata(CalendarCacheGeneration).tableName);
    const onConflict =
      m.connection.options.type === 'better-sqlite3'
        ? 'ON CONFLICT (agentId) DO UPDATE SET generation = generation + 1'
        : 'ON DUPLICATE KEY UPDATE generation = generation + 1';
    await m.query(`INSERT INTO ${table} (agentId, brokerageId, generation) VALUES (?, ?, 1) ${onConflict}`, [
      agentId,
      brokerageId,
    ]);
  }
}

/** What a kept page of events is stamped with (calendar.service.ts): the shared generation and the contact position. */
export interface ViewPosition {
  generation: number;
  /** agent.contactChangeSeq: the contacts attached to attendees are as of this position (contact-changes.ts) */
  contactSeq: number;
}

/**
 * The agent's shared generation and contact feed position in one statement (a kept page of events is checked with
 * nothing else); null when the agent has no row.
 */
export async function viewPosition(m: EntityManager, { brokerageId, agentId }: AgentKey): Promise<ViewPosition | null> {
  const [row] = await rawRows<{ seq: number | string; generation: number | string | null }>(
    m
      .getRepository(Agent)
      .createQueryBuilder('a')
      .select('a.contactChangeSeq', 'seq')
      .addSelect('g.generation', 'generation')
      .leftJoin(CalendarCacheGeneration, 'g', 'g.agentId = a.id AND g.brokerageId = a.brokerageId')
      .where('a.id = :agentId AND a.brokerageId = :brokerageId', { agentId, brokerageId }),
  );
  return row ? { generation: row.generation === null ? 0 : Number(row.generation), contactSeq: Number(row.seq) } : null;
}
