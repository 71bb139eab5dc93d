import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { idColumn, timestampColumn } from './columns';

/**
 * A contact that is gone from the mirror (deleted here and in Google, or in Google): its id and when, nothing of its
 * content. A repeated delete of it answers true rather than NOT_FOUND, and the change feed reports it as deleted
 * (contactChanges). Kept CONTACT_CHANGES_RETENTION_DAYS.
 */
@Entity('contact_tombstone')
@Index('idx_contact_tombstone_deleted', ['deletedAt'])
@Index('idx_contact_tombstone_changes', ['agentId', 'changeSeq', 'contactId'])
export class ContactTombstone {
  @PrimaryColumn(idColumn)
  contactId: string;

  @Column(idColumn)
  brokerageId: string;

  @Column(idColumn)
  agentId: string;

  /** Its place in the agent's change feed (src/contacts/contact-changes.ts). */
  @Column({ type: 'integer' })
  changeSeq: number;

  @Column(timestampColumn)
  deletedAt: Date;
}
