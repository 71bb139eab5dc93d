import { Column, Entity, PrimaryColumn } from 'typeorm';
import { idColumn, nullableTimestampColumn } from './columns';

/** Per-agent state of the Google → CRM contact sync. */
@Entity('contact_sync')
export class ContactSyncRecord {
  @PrimaryColumn(idColumn)
  agentId: string;

  @Column(idColumn)
  brokerageId: string;

  /**
   * The `personFields` the sync token and the mirror were made with (person.mapper.ts PERSON_FIELDS). When ours
   * differ (a release reads more fields), the token cannot be used (Google requires the same parameters) and the
   * mirror lacks the new fields: one full sync fills them in (contact.sync.ts). Null: before the first full sync.
   */
  @Column({ type: 'varchar', length: 512, nullable: true })
  personFields: string | null;

  /** People `nextSyncToken`; null before the first full sync and after a reset. */
  @Column({ type: 'text', nullable: true })
  syncToken: string | null;

  /** contactGroups.list `nextSyncToken` (labels); null before the first label sync. */
  @Column({ type: 'text', nullable: true })
  groupSyncToken: string | null;

  /** When the labels were last synced with Google. */
  @Column(nullableTimestampColumn)
  groupsSyncedAt: Date | null;

  /** Last time a sync call succeeded: the mirror is fresh as of then. */
  @Column(nullableTimestampColumn)
  lastSyncAt: Date | null;

  @Column(nullableTimestampColumn)
  lastFullSyncAt: Date | null;

  /** Set while Google is unreachable: the mirror is stale since then. */
  @Column(nullableTimestampColumn)
  staleSince: Date | null;

  @Column({ type: 'text', nullable: true })
  lastError: string | null;

  /**
   * The last failed sync's error code (GOOGLE_NOT_CONFIGURED, UPSTREAM_UNAVAILABLE, …) and remedy, shown with
   * lastError.
   */
  @Column({ type: 'varchar', length: 64, nullable: true })
  lastErrorCode: string | null;

  @Column({ type: 'text', nullable: true })
  lastErrorRemedy: string | null;

  /** Full resyncs forced by Google (expired sync token), and the last one's time and reason. */
  @Column({ type: 'integer' })
  fullResyncs: number;

  @Column(nullableTimestampColumn)
  lastFullResyncAt: Date | null;

  @Column({ type: 'varchar', length: 64, nullable: true })
  lastFullResyncReason: string | null;

  /**
   * The highest change-feed position of a tombstone deleted for age (0: none): a cursor below it has missed deletes.
   */
  @Column({ type: 'integer', default: 0 })
  changesPrunedThrough: number;

  /**
   * The tokenizer version the agent's search index was built with (src/contacts/contact-search.ts
   * SEARCH_TOKENS_VERSION; 0: not built). Below the current one, the agent's searches read the contacts themselves
   * while the index is built anew. Optional here: a record inserted without it takes the column's default, 0.
   */
  @Column({ type: 'integer', default: 0 })
  searchTokensVersion?: number;
}
