import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { EMAIL_LENGTH, idColumn, nullableTimestampColumn, timestampColumn } from './columns';

export type MailStatus = 'QUEUED' | 'SENT' | 'FAILED';
/**
 * Where the delivery of a QUEUED mail stands, so a retry after a crash or an
 * unanswered call knows what Google may already have:
 * null: nothing sent yet · creating: drafts.create was sent, its answer not
 * read (a draft with our Message-ID may exist) · created: the draft exists
 * (gmailDraftId) · sending: drafts.send was sent, its answer not read (a
 * draft that is gone was sent).
 */
export type MailPhase = 'creating' | 'created' | 'sending';

/** Longest idempotency key a caller may pass. */
const IDEMPOTENCY_KEY_LENGTH = 128;

/**
 * One mail an agent sent (or is sending) through us: gmail.compose cannot
 * read mail back, so this row is the record. The MIME is built once, when
 * the mail is accepted, and kept in mail_mime_chunk until Gmail has it.
 */
@Entity('sent_mail')
@Index('uq_sent_mail_idempotency', ['agentId', 'idempotencyKeyHash'], { unique: true })
@Index('idx_sent_mail_agent_created', ['agentId', 'createdAt', 'id'])
export class SentMail {
  @PrimaryColumn(idColumn)
  id: string;

  @Column(idColumn)
  brokerageId: string;

  @Column(idColumn)
  agentId: string;

  /** The caller's key, as given (null: none given). */
  @Column({ type: 'varchar', length: IDEMPOTENCY_KEY_LENGTH, nullable: true })
  idempotencyKey: string | null;

  /**
   * SHA-256 (hex) of the key: the unique index is on this, so keys compare exactly (byte for byte) on every
   * database, whatever the column collation (MySQL's utf8mb4_unicode_ci would make "Key-A" equal "key-a").
   * NULLs never collide.
   */
  @Column({ type: 'varchar', length: 64, nullable: true })
  idempotencyKeyHash: string | null;

  /** SHA-256 of the request, to tell a replay from a different mail sent with a reused key. */
  @Column({ type: 'varchar', length: 64 })
  requestHash: string;

  @Column({ type: 'varchar', length: 16 })
  status: MailStatus;

  @Column({ type: 'varchar', length: 16, nullable: true })
  phase: MailPhase | null;

  /**
   * Set by each delivery attempt when it starts; every later write of the attempt requires it unchanged. An
   * attempt that lost its lane (a stalled process whose lease expired) finds it changed and stops before its
   * next Gmail call instead of racing the attempt that took over.
   */
  @Column({ type: 'varchar', length: 36, nullable: true })
  deliveryToken: string | null;

  @Column({ type: 'varchar', length: EMAIL_LENGTH })
  fromAddress: string;

  @Column({ type: 'text' })
  subject: string;

  /** Our Message-ID header: <uuid@agent's domain> (a domain may have 253 characters). */
  @Column({ type: 'varchar', length: 320 })
  messageIdHeader: string;

  /** The References header (space-separated Message-IDs), for replies: the thread's ancestry. */
  @Column({ type: 'text', nullable: true })
  referencesHeader: string | null;

  /** The mail this one answers (ours, same agent); its Gmail thread is used when it was sent. */
  @Column({ ...idColumn, nullable: true })
  replyToMailId: string | null;

  /** JSON: [{filename, contentType, size}] (what the agent attached; the bytes live only in the MIME). */
  @Column({ type: 'text' })
  attachments: string;

  @Column({ type: 'integer' })
  sizeBytes: number;

  @Column({ type: 'varchar', length: 64, nullable: true })
  gmailDraftId: string | null;

  @Column({ type: 'varchar', length: 64, nullable: true })
  gmailMessageId: string | null;

  @Column({ type: 'varchar', length: 64, nullable: true })
  threadId: string | null;

  /** For FAILED (and, while QUEUED, the last transient problem): what went wrong and what to do. */
  @Column({ type: 'varchar', length: 40, nullable: true })
  failureCode: string | null;

  @Column({ type: 'text', nullable: true })
  failureReason: string | null;

  @Column(timestampColumn)
  createdAt: Date;

  @Column(nullableTimestampColumn)
  sentAt: Date | null;

  @Column(timestampColumn)
  updatedAt: Date;
}

export type RecipientKind = 'to' | 'cc' | 'bcc';

/** One address of a mail, in order per kind (a table, not a JSON column: up to MAIL_MAX_RECIPIENTS of them). */
@Entity('mail_recipient')
export class MailRecipient {
  @PrimaryColumn(idColumn)
  mailId: string;

  @Column(idColumn)
  brokerageId: string;

  @PrimaryColumn({ type: 'integer' })
  position: number;

  @Column({ type: 'varchar', length: 3 })
  kind: RecipientKind;

  /** Lower-cased address. */
  @Column({ type: 'varchar', length: EMAIL_LENGTH })
  email: string;

  /** Display name, as given. */
  @Column({ type: 'varchar', length: 255, nullable: true })
  name: string | null;
}

/**
 * Bytes of MIME per chunk: base64 of 45,000 bytes is 60,000 characters; small rows keep each insert statement well
 * under MySQL's max_allowed_packet.
 */
export const MIME_CHUNK_BYTES = 45_000;

/** The built message, base64 in chunks (a mail may be 35 MB); deleted once Gmail has it or it failed. */
@Entity('mail_mime_chunk')
export class MailMimeChunk {
  @PrimaryColumn(idColumn)
  mailId: string;

  @Column(idColumn)
  brokerageId: string;

  @PrimaryColumn({ type: 'integer' })
  seq: number;

  @Column({ type: 'text' })
  data: string;
}
