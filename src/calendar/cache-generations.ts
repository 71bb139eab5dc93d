/**
 * The agent's staleness counter as every process sharing the database sees it
 * (calendar_cache_generation): read before a cached range is served, bumped
 * by every invalidation. Without it, a write delivered or a notification
 * received by one replica would leave the others serving the old view until
 * their entries expire.
 *
 * The agent is named with its brokerage, the tenant key every statement names (a sharded database finds the row
 * on one shard).
 */
import type { DataSource, EntityManager } from 'typeorm';
import type { AgentKey } from '../agents/agent-ref';
import { isUniqueViolation } from '../db/unique-violation';
import { rawRows } from '../db/statements';
import { CalendarCacheGeneration } from '../entities';

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

  async bump({ brokerageId, agentId }: AgentKey, m: EntityManager = this.ds.manager): Promise<void> {
    const repo = m.getRepository(CalendarCacheGeneration);
    for (let attempt = 0; attempt < 3; attempt++) {
      const res = await repo
        .createQueryBuilder()
        .update()
        .set({ generation: () => 'generation + 1' })
        .where('agentId = :agentId AND brokerageId = :brokerageId', { agentId, brokerageId })
        .execute();
      if (res.affected) return;
      try {
        await repo.insert({ agentId, brokerageId, generation: 1 });
        return;
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        // another process inserted it first: bump theirs
      }
    }
    throw new Error(`could not bump the calendar cache generation of agent ${agentId}`);
  }
}
