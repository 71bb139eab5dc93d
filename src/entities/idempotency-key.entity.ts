import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { idColumn, timestampColumn } from './columns';

/**
 * A creating mutation's idempotency key (createContact, createContacts, createEvent; sendMail keeps its own on the
 * mail): what the first request with it created, so that a retry answers that and creates nothing. Per agent, kept
 * IDEMPOTENCY_KEY_DAYS (src/idempotency/idempotency.ts).
 */
@Entity('idempotency_key')
@Index('idx_idempotency_key_created', ['agentId', 'createdAt'])
export class IdempotencyKey {
  @PrimaryColumn(idColumn)
  agentId: string;

  /**
   * SHA-256 (hex) of the key: keys compare exactly (byte for byte) on every database, whatever the collation (MySQL's
   * utf8mb4_unicode_ci would make "Key-A" equal "key-a"). The primary key makes two first sends at once meet.
   */
  @PrimaryColumn({ type: 'varchar', length: 64 })
  keyHash: string;

  @Column(idColumn)
  brokerageId: string;

  /** The mutation that used it: a key is for one request, not one per operation. */
  @Column({ type: 'varchar', length: 32 })
  operation: string;

  /** SHA-256 of the request: the same key with another request is a CONFLICT. */
  @Column({ type: 'varchar', length: 64 })
  requestHash: string;

  /** What the first request created, as JSON: contact ids in input order, or the event's id. */
  @Column({ type: 'text' })
  result: string;

  @Column(timestampColumn)
  createdAt: Date;
}
