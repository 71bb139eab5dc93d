import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { EMAIL_LENGTH, idColumn, timestampColumn } from './columns';

/** Who did what to a brokerage's setup, and when. Never holds secrets. */
@Entity('audit_log')
@Index('idx_audit_brokerage_at', ['brokerageId', 'at'])
export class AuditLog {
  @PrimaryColumn(idColumn)
  id: string;

  /** Null only for actions on the system itself (e.g. a KEK rotation). */
  @Column({ ...idColumn, nullable: true })
  brokerageId: string | null;

  /** The caller's email, or a system actor such as "cli:keys:rewrap". */
  @Column({ type: 'varchar', length: EMAIL_LENGTH })
  actor: string;

  @Column({ type: 'varchar', length: 64 })
  action: string;

  /** What the action was on (e.g. a credential id). */
  @Column({ type: 'varchar', length: 255, nullable: true })
  target: string | null;

  /** JSON with details of the action. */
  @Column({ type: 'text', nullable: true })
  detail: string | null;

  @Column(timestampColumn)
  at: Date;
}
