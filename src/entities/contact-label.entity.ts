import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { idColumn, nullableTimestampColumn, timestampColumn } from './columns';

export type ContactLabelKind = 'USER' | 'SYSTEM';
export type ContactLabelState = 'SYNCED' | 'PENDING' | 'FAILED';

/**
 * One of an agent's labels: a People contact group (contactGroups/…). The agent's own groups (USER), and of Google's
 * system groups the two that still mean something, myContacts and starred (SYSTEM, read-only here). Created, renamed
 * and deleted here through the outbox like contacts; `deletedAt` marks a delete on its way to Google.
 */
@Entity('contact_label')
@Index('idx_contact_label_agent', ['agentId', 'deletedAt'])
@Index('uq_contact_label_resource', ['agentId', 'resourceName'], { unique: true })
export class ContactLabel {
  @PrimaryColumn(idColumn)
  id: string;

  @Column(idColumn)
  brokerageId: string;

  @Column(idColumn)
  agentId: string;

  /** `contactGroups/…`; null until Google has the group. */
  @Column({ type: 'varchar', length: 128, nullable: true })
  resourceName: string | null;

  @Column({ type: 'varchar', length: 16 })
  kind: ContactLabelKind;

  @Column({ type: 'text' })
  name: string;

  /**
   * The name its create was sent with, set before the call: if the answer is lost and the label renamed (or deleted)
   * before the retry, the group Google made under that name is still found and linked, never made a second time.
   */
  @Column({ type: 'text', nullable: true })
  sentName: string | null;

  /** Bumped on every change here; `syncedVersion` is the one Google has. */
  @Column({ type: 'integer' })
  version: number;

  @Column({ type: 'integer' })
  syncedVersion: number;

  @Column({ type: 'varchar', length: 16 })
  syncState: ContactLabelState;

  @Column({ type: 'text', nullable: true })
  syncError: string | null;

  @Column(nullableTimestampColumn)
  deletedAt: Date | null;

  @Column(timestampColumn)
  createdAt: Date;

  @Column(timestampColumn)
  updatedAt: Date;
}

/**
 * A contact in a label, as Google has it, or on its way there: `pending` 'add' or 'remove' is a change made here that
 * Google does not have yet (a removal keeps its row until Google has it, and is not shown). `changeNo` tells a
 * delivery whether the row changed again while it was being sent.
 */
@Entity('contact_label_member')
@Index('idx_contact_label_member_label', ['agentId', 'labelId', 'contactId'])
export class ContactLabelMember {
  @PrimaryColumn(idColumn)
  contactId: string;

  @PrimaryColumn(idColumn)
  labelId: string;

  @Column(idColumn)
  agentId: string;

  @Column(idColumn)
  brokerageId: string;

  @Column({ type: 'varchar', length: 8, nullable: true })
  pending: 'add' | 'remove' | null;

  @Column({ type: 'integer' })
  changeNo: number;
}
