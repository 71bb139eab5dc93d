import { Column, Entity, Index, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';
import { idColumn, nullableTimestampColumn, timestampColumn } from './columns';
import type { ContactSyncState } from './contact.entity';

/**
 * Google event ids: base32hex, 5-1024 characters (instance ids add "_<time>" to a shorter one). Stored whole: cut at
 * 255 as they were, two ids sharing a long prefix became one event and the feed told a truncated id. ASCII with a
 * binary collation on MySQL: 1,024 bytes in an index key (utf8mb4 would take 4,096, over InnoDB's 3,072), and ids
 * differing only in case are different events.
 */
export const EVENT_ID_LENGTH = 1024;
const eventIdColumn = { type: 'varchar', length: EVENT_ID_LENGTH, charset: 'ascii', collation: 'ascii_bin' } as const;

/**
 * An event the CRM wrote (or is writing) to an agent's Google calendar:
 * our record of the mapping (our row id ↔ Google event id, which we choose
 * ourselves for creates, so a retried insert cannot make a copy), the pending
 * operation and its body, and Google's etag. Reads go to Google; this row
 * overlays writes Google does not have yet.
 */
@Entity('calendar_event')
@Index('uq_calendar_event', ['agentId', 'googleEventId'], { unique: true })
export class CalendarEvent {
  @PrimaryColumn(idColumn)
  id: string;

  @Column(idColumn)
  brokerageId: string;

  @Column(idColumn)
  agentId: string;

  @Column(eventIdColumn)
  googleEventId: string;

  /** Google's etag as we last saw or wrote it. */
  @Column({ type: 'varchar', length: 255, nullable: true })
  etag: string | null;

  /** create, patch or delete while Google does not have it yet; null when delivered. */
  @Column({ type: 'varchar', length: 16, nullable: true })
  pendingOp: string | null;

  /** JSON: the event resource to insert, or the fields to patch. */
  @Column({ type: 'text', nullable: true })
  body: string | null;

  /** The etag a patch or delete was based on (If-Match). */
  @Column({ type: 'varchar', length: 255, nullable: true })
  baseEtag: string | null;

  /** The event as Google last returned it (JSON). */
  @Column({ type: 'text', nullable: true })
  event: string | null;

  @Column({ type: 'varchar', length: 16 })
  syncState: ContactSyncState;

  @Column({ type: 'text', nullable: true })
  syncError: string | null;

  @Column({ type: 'text', nullable: true })
  conflicts: string | null;

  /** Values of earlier changes of ours that may be in Google unanswered (src/outbox/unconfirmed.ts); null when none. */
  @Column({ type: 'text', nullable: true })
  unconfirmed: string | null;

  @Column(timestampColumn)
  createdAt: Date;

  @Column(timestampColumn)
  updatedAt: Date;
}

/** Per-agent state of the incremental sync of the primary calendar (the change feed). */
@Entity('calendar_sync')
export class CalendarSyncRecord {
  @PrimaryColumn(idColumn)
  agentId: string;

  @Column(idColumn)
  brokerageId: string;

  @Column({ type: 'text', nullable: true })
  syncToken: string | null;

  @Column(nullableTimestampColumn)
  lastSyncAt: Date | null;

  @Column(nullableTimestampColumn)
  lastFullSyncAt: Date | null;

  @Column({ type: 'integer' })
  fullSyncs: number;

  @Column({ type: 'varchar', length: 64, nullable: true })
  lastFullSyncReason: string | null;

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

  /** The highest seq of the agent's change feed deleted for age (0: none): a cursor below it has missed changes. */
  @Column({ type: 'integer', default: 0 })
  changesPrunedThrough: number;
}

/** One changed or cancelled event seen by the incremental sync; the CRM reads these in seq order. */
@Entity('calendar_change')
@Index('idx_calendar_change_agent', ['agentId', 'seq'])
@Index('idx_calendar_change_recorded', ['recordedAt'])
export class CalendarChange {
  @PrimaryGeneratedColumn({ type: 'integer' })
  seq: number;

  @Column(idColumn)
  brokerageId: string;

  @Column(idColumn)
  agentId: string;

  @Column(eventIdColumn)
  googleEventId: string;

  /** confirmed, tentative or cancelled */
  @Column({ type: 'varchar', length: 16 })
  status: string;

  /** The event as the sync returned it (JSON; few fields for cancelled ones). */
  @Column({ type: 'text' })
  event: string;

  @Column(timestampColumn)
  recordedAt: Date;
}

/**
 * What the change feed last told an agent's clients about each event (its etag and status), so that a full resync
 * (after Google answers 410) records only what changed and reports as cancelled what is gone: the mark and sweep of
 * src/calendar/known-events.ts. `endsAt` says when the event leaves the sync window (null: a series, unknown).
 */
@Entity('calendar_known')
export class CalendarKnown {
  @PrimaryColumn(idColumn)
  agentId: string;

  @Column(idColumn)
  brokerageId: string;

  @PrimaryColumn(eventIdColumn)
  googleEventId: string;

  @Column({ type: 'varchar', length: 255, nullable: true })
  etag: string | null;

  /** confirmed, tentative or cancelled */
  @Column({ type: 'varchar', length: 16 })
  status: string;

  /** The end of the event at the latest (all-day: the end date in the last time zone), null for a series. */
  @Column(nullableTimestampColumn)
  endsAt: Date | null;

  @Column(timestampColumn)
  recordedAt: Date;
}

/** An events.watch channel on an agent's primary calendar. The token is kept only as a SHA-256 digest. */
@Entity('calendar_channel')
@Index('idx_calendar_channel_agent', ['agentId'])
export class CalendarChannel {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id: string;

  @Column(idColumn)
  brokerageId: string;

  @Column(idColumn)
  agentId: string;

  @Column({ type: 'varchar', length: 255 })
  resourceId: string;

  @Column({ type: 'varchar', length: 64 })
  tokenDigest: string;

  @Column(timestampColumn)
  expiration: Date;

  @Column(timestampColumn)
  createdAt: Date;
}

/**
 * Per agent, a counter bumped whenever their cached calendar views become
 * stale (each write of ours, in its transaction; its delivery's outcome; a
 * push notification): every process compares it with the counter its cached
 * range or kept page was read under, so a change handled by one replica
 * invalidates the caches of all (src/calendar/cache-generations.ts).
 */
@Entity('calendar_cache_generation')
export class CalendarCacheGeneration {
  @PrimaryColumn(idColumn)
  agentId: string;

  @Column(idColumn)
  brokerageId: string;

  @Column({ type: 'integer' })
  generation: number;
}
