import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { EMAIL_LENGTH, idColumn } from './columns';

/**
 * One row per (contact, email): the index behind the contacts-by-email loader (calendar attendees, mail recipients).
 */
@Entity('contact_email')
@Index('idx_contact_email_lookup', ['agentId', 'email'])
export class ContactEmail {
  @PrimaryColumn(idColumn)
  contactId: string;

  /** Lower-case. */
  @PrimaryColumn({ type: 'varchar', length: EMAIL_LENGTH })
  email: string;

  @Column(idColumn)
  agentId: string;

  /**
   * The tenant: every table carries it, every query names it (docs/operations.md, "How far one database carries it").
   */
  @Column(idColumn)
  brokerageId: string;
}
