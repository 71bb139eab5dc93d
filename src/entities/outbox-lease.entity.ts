import { Column, Entity, PrimaryColumn } from 'typeorm';
import { idColumn, timestampColumn } from './columns';

/**
 * Who delivers a lane (topic + agent) right now. Taken with one atomic
 * conditional UPDATE (the row lock of that statement serializes contenders),
 * held for a short lease that the holder renews; a crashed holder's lease
 * simply expires and another process takes over.
 */
@Entity('outbox_lease')
export class OutboxLease {
  /** `<topic>:<agentId>` */
  @PrimaryColumn({ type: 'varchar', length: 64 })
  lane: string;

  /** The lane's agent's brokerage: the tenant key (every table carries it). */
  @Column(idColumn)
  brokerageId: string;

  @Column({ type: 'varchar', length: 64 })
  owner: string;

  @Column(timestampColumn)
  until: Date;
}
