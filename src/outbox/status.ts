import type { EntityManager } from 'typeorm';
import { OutboxRow } from '../entities';
import type { OutboxStatus } from '../entities/outbox.entity';
import type { LaneRef } from './topics';

/** Rows of a lane still to deliver, and those Google refused for good (the sync status queries). */
export async function laneCounts(m: EntityManager, lane: LaneRef): Promise<{ PENDING: number; FAILED: number }> {
  const rows: { status: OutboxStatus; n: string | number }[] = await m
    .getRepository(OutboxRow)
    .createQueryBuilder('o')
    .select('o.status', 'status')
    .addSelect('COUNT(*)', 'n')
    .where('o.brokerageId = :brokerageId AND o.topic = :topic AND o.agentId = :agentId', lane)
    .groupBy('o.status')
    .getRawMany();
  const out = { PENDING: 0, FAILED: 0 };
  for (const r of rows) out[r.status] = Number(r.n); // COUNT(*) is a string on MySQL, a number on SQLite
  return out;
}
