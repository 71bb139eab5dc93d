import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { Brokerage } from './brokerage.entity';
import { EMAIL_LENGTH, idColumn, nullableTimestampColumn, timestampColumn } from './columns';

/**
 * VERIFIED / CANNOT_BE_VERIFIED: the key in use (at most one per brokerage),
 * with the outcome of its latest verification. RETIRED: replaced by a newer
 * verified key. A submitted key that does not verify is never stored.
 */
export type CredentialStatus = 'VERIFIED' | 'CANNOT_BE_VERIFIED' | 'RETIRED';

/**
 * A brokerage's Google service-account key. The key JSON (with its private
 * key) is stored only envelope-encrypted (see crypto/envelope.ts): a fresh
 * AES-256-GCM data key per row, wrapped by the key-encryption key `kekId`.
 * The public face (client email, client id, key id) is kept in clear for display.
 */
@Entity('service_account_credential')
@Index('idx_credential_brokerage', ['brokerageId', 'status'])
export class ServiceAccountCredential {
  @PrimaryColumn(idColumn)
  id: string;

  @Column(idColumn)
  brokerageId: string;

  @ManyToOne(() => Brokerage, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'brokerageId', foreignKeyConstraintName: 'fk_credential_brokerage' })
  brokerage?: Brokerage;

  @Column({ type: 'varchar', length: 24 })
  status: CredentialStatus;

  @Column({ type: 'varchar', length: EMAIL_LENGTH })
  clientEmail: string;

  @Column({ type: 'varchar', length: 64 })
  clientId: string;

  @Column({ type: 'varchar', length: 64 })
  privateKeyId: string;

  /** Id of the key-encryption key that wrapped `wrappedKey`. */
  @Column({ type: 'varchar', length: 32 })
  kekId: string;

  /** The data key, wrapped: base64(iv | ciphertext | tag). */
  @Column({ type: 'text' })
  wrappedKey: string;

  /** The key JSON, encrypted with the data key: base64(iv | ciphertext | tag). */
  @Column({ type: 'text' })
  ciphertext: string;

  @Column(nullableTimestampColumn)
  verifiedAt: Date | null;

  /** The user the verification impersonates (a regular mailbox of the brokerage). */
  @Column({ type: 'varchar', length: EMAIL_LENGTH, nullable: true })
  testEmail: string | null;

  /** Scopes the last verification obtained tokens for (JSON array). */
  @Column({ type: 'text', nullable: true })
  grantedScopes: string | null;

  /** The last verification's checks (JSON), shown to admins; never holds secrets. */
  @Column({ type: 'text', nullable: true })
  lastChecks: string | null;

  @Column(timestampColumn)
  createdAt: Date;

  @Column(timestampColumn)
  updatedAt: Date;
}
