import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { Brokerage } from './brokerage.entity';
import { EMAIL_LENGTH, idColumn, nullableTimestampColumn, timestampColumn } from './columns';

export type AgentRole = 'agent' | 'admin';

/** A CRM user; their email is their own Google mailbox, the only one they act as. */
@Entity('agent')
@Index('idx_agent_brokerage', ['brokerageId'])
@Index('uq_agent_email', ['email'], { unique: true })
export class Agent {
  @PrimaryColumn(idColumn)
  id: string;

  @Column(idColumn)
  brokerageId: string;

  @ManyToOne(() => Brokerage, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'brokerageId', foreignKeyConstraintName: 'fk_agent_brokerage' })
  brokerage?: Brokerage;

  /** Lower-case; unique across brokerages because a domain belongs to one brokerage. */
  @Column({ type: 'varchar', length: EMAIL_LENGTH })
  email: string;

  /** Mirrors the `roles` claim of the caller's latest token (the identity service is the authority). */
  @Column({ type: 'varchar', length: 16 })
  role: AgentRole;

  @Column(timestampColumn)
  createdAt: Date;

  @Column(nullableTimestampColumn)
  lastSeenAt: Date | null;

  /**
   * The agent's contact change feed's last position (src/contacts/contact-changes.ts). Taken, with this row's lock,
   * as the first step of every transaction that changes the agent's contacts, so positions are handed out in commit
   * order and a client never reads past a change that commits later.
   */
  @Column({ type: 'integer', default: 0 })
  contactChangeSeq: number;
}
