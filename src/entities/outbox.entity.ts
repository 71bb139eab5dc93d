import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { idColumn, timestampColumn } from './columns';

export type OutboxStatus = 'PENDING' | 'FAILED';

/**
 * A write that must reach Google, recorded in the same transaction as the
 * local change (transactional outbox). Delivered per lane (topic + agent) in
 * `seq` order; delivered rows are deleted, failed ones kept with the reason.
 */
@Entity('outbox')
@Index('idx_outbox_due', ['status', 'nextAttemptAt'])
@Index('idx_outbox_lane', ['topic', 'agentId', 'status', 'seq'])
export class OutboxRow {
  @PrimaryGeneratedColumn({ type: 'integer' })
  seq: number;

  @Column(idColumn)
  brokerageId: string;

  @Column(idColumn)
  agentId: string;

  /** The lane's API: contacts, calendar, mail. */
  @Column({ type: 'varchar', length: 16 })
  topic: string;

  /** What to do, e.g. create, update, delete. */
  @Column({ type: 'varchar', length: 16 })
  kind: string;

  /** The local entity the write is about (its current state is read at delivery). */
  @Column({ type: 'varchar', length: 64 })
  entityId: string;

  @Column({ type: 'varchar', length: 16 })
  status: OutboxStatus;

  @Column({ type: 'integer' })
  attempts: number;

  /** Set after a failure whose outcome is unknown (no answer): the next attempt must first find out. */
  @Column({ type: 'boolean' })
  ambiguous: boolean;

  @Column(timestampColumn)
  nextAttemptAt: Date;

  @Column({ type: 'text', nullable: true })
  lastError: string | null;

  @Column(timestampColumn)
  createdAt: Date;
}
