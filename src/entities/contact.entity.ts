import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { Agent } from './agent.entity';
import { idColumn, nullableTimestampColumn, timestampColumn } from './columns';

export type ContactSyncState = 'SYNCED' | 'PENDING' | 'FAILED' | 'CONFLICT';

/**
 * The mirror of one Google contact of one agent (Google is the source of
 * truth, docs/architecture.md §2), with the mapping of our stable id to the
 * People `resourceName`, the etag and the Person as Google last sent it (the
 * common ancestor for three-way merges). Deleted contacts stay as tombstones
 * (`deletedAt`) so a delete can travel to Google and be told apart from an
 * unknown id.
 */
@Entity('contact')
@Index('idx_contact_agent', ['agentId', 'deletedAt', 'sortKey'])
@Index('uq_contact_resource', ['agentId', 'resourceName'], { unique: true })
@Index('idx_contact_changes', ['agentId', 'changeSeq', 'id'])
export class Contact {
  @PrimaryColumn(idColumn)
  id: string;

  @Column(idColumn)
  brokerageId: string;

  @Column(idColumn)
  agentId: string;

  @ManyToOne(() => Agent, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'agentId', foreignKeyConstraintName: 'fk_contact_agent' })
  agent?: Agent;

  /** `people/c…`; null until Google has the contact. */
  @Column({ type: 'varchar', length: 128, nullable: true })
  resourceName: string | null;

  /** Google's etag of the person as we last saw or wrote it. */
  @Column({ type: 'varchar', length: 255, nullable: true })
  googleEtag: string | null;

  /** Our own version, bumped on every change of the mirror row; the API's `etag` is derived from it. */
  @Column({ type: 'integer' })
  version: number;

  /**
   * Its place in the agent's change feed: set by every transaction that changes what a client sees of it
   * (contact-changes.ts).
   */
  @Column({ type: 'integer', default: 0 })
  changeSeq: number;

  /** The version Google has: below `version` means local changes are on their way (syncState PENDING). */
  @Column({ type: 'integer' })
  syncedVersion: number;

  // Text, not varchar: Google keeps names of any length, and one longer than a column held failed its whole page.
  @Column({ type: 'text', nullable: true })
  givenName: string | null;

  @Column({ type: 'text', nullable: true })
  familyName: string | null;

  @Column({ type: 'text', nullable: true })
  organization: string | null;

  @Column({ type: 'text', nullable: true })
  jobTitle: string | null;

  @Column({ type: 'text', nullable: true })
  notes: string | null;

  /** JSON [{value, type}] */
  @Column({ type: 'text' })
  emails: string;

  /** JSON [{value, type}] */
  @Column({ type: 'text' })
  phones: string;

  /**
   * JSON of the details beyond the columns above, those the contact has (src/contacts/person.mapper.ts DETAIL_FIELDS:
   * name parts, nicknames, addresses, birthday, events, relations, urls); null when it has none.
   */
  @Column({ type: 'text', nullable: true })
  details: string | null;

  /** Lower-case display name (or email), its first 200 characters, for stable ordering and cursors. */
  @Column({ type: 'varchar', length: 200 })
  sortKey: string;

  /** Lower-case concatenation of names, emails, phone digits and organization, for search. */
  @Column({ type: 'text' })
  searchText: string;

  /** The Person as Google last sent it (JSON): the base of three-way merges. */
  @Column({ type: 'text', nullable: true })
  person: string | null;

  @Column({ type: 'varchar', length: 16 })
  syncState: ContactSyncState;

  /** Why the last delivery to Google failed for good (FAILED), in words an agent can act on. */
  @Column({ type: 'text', nullable: true })
  syncError: string | null;

  /** JSON [{field, ours, theirs, winner, at}] of the last conflict resolved by last-writer-wins. */
  @Column({ type: 'text', nullable: true })
  conflicts: string | null;

  /** Values of earlier changes of ours that may be in Google unanswered (src/outbox/unconfirmed.ts); null when none. */
  @Column({ type: 'text', nullable: true })
  unconfirmed: string | null;

  /** When Google last changed the contact (metadata.sources[].updateTime). */
  @Column(nullableTimestampColumn)
  googleUpdatedAt: Date | null;

  @Column(nullableTimestampColumn)
  deletedAt: Date | null;

  @Column(timestampColumn)
  createdAt: Date;

  /** When the CRM side last changed it (local edits and imports). */
  @Column(timestampColumn)
  updatedAt: Date;
}
