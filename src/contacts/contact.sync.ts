/**
 * Google → CRM: keeps an agent's contact mirror equal to Google's contacts, listing them with People's
 * connections.list (through the People driver, src/google/people.ts); what each person means for the mirror is
 * contact.import.ts's.
 *
 * - First sync: a full listing (pageSize 1000, requestSyncToken). Later: incremental with the sync token (the same
 *   parameters, as People requires). Deleted contacts (`metadata.deleted`) become deletions.
 * - An expired sync token (People answers 400 EXPIRED_SYNC_TOKEN, not Calendar's 410) triggers a full resync with
 *   mark and sweep: every mirrored contact Google no longer lists is removed, so deletes are never lost. It is
 *   recorded in contact_sync (fullResyncs, lastFullResyncAt/Reason).
 * - The labels (contact groups) are synced first on a full sync, and when a page names a group not known yet
 *   (contact-label.sync.ts).
 * - One sync per agent at a time in this process (single-flight), so 100 concurrent reads cause at most one call.
 */
import { LRUCache } from 'lru-cache';
import type { DataSource } from 'typeorm';
import { IsNull, Not } from 'typeorm';
import type { AgentKey, AgentRef } from '../agents/agent-ref';
import { Contact, ContactSyncRecord, ContactTombstone } from '../entities';
import { AppError, ErrorCode } from '../errors';
import { NO_SYNC_ERROR, syncErrorColumns } from '../google/feature-health';
import { isTokenRejected, mapGoogleError } from '../google/google-errors';
import type { GoogleSessions } from '../google/google-sessions';
import { BATCH_GET_MAX, PERSON_FIELDS, type PeopleDriver, type Person } from '../google/people';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics/metrics';
import type { OutboxWorker } from '../outbox/worker';
import { HourlySweep } from '../db/hourly-sweep';
import { isLockConflict } from '../db/lock-conflict';
import { pruneTombstones } from './contact-changes';
import { syncLabels } from './contact-label.sync';
import { SEARCH_TOKENS_VERSION, SearchIndex } from './contact-search';
import { ContactImport } from './contact.import';

/** Syncs run again after a lock conflict (isLockConflict) before the sync counts as failed. */
const LOCK_CONFLICT_RETRIES = 3;

/** Agents the tombstone sweep takes per round. */
const PRUNE_AGENTS_PER_ROUND = 100;
/** Agents whose last sync end ensureFresh remembers (a bound: older ones are simply asked the database again). */
const MAX_FINISHED_REMEMBERED = 10_000;

export interface SyncResult {
  kind: 'full' | 'incremental';
  calls: number;
  imported: number;
  removed: number;
}

/** An agent's sync record before its first sync. */
export function newSyncRecord(agent: AgentKey): ContactSyncRecord {
  return {
    agentId: agent.agentId,
    brokerageId: agent.brokerageId,
    personFields: null,
    syncToken: null,
    groupSyncToken: null,
    groupsSyncedAt: null,
    lastSyncAt: null,
    lastFullSyncAt: null,
    staleSince: null,
    ...NO_SYNC_ERROR,
    fullResyncs: 0,
    lastFullResyncAt: null,
    lastFullResyncReason: null,
    changesPrunedThrough: 0,
    // Every contact this release writes gets its tokens: a new agent's index is built as its contacts arrive.
    searchTokensVersion: SEARCH_TOKENS_VERSION,
  };
}

export class ContactSync {
  private readonly inflight = new Map<string, Promise<SyncResult>>();
  /** Label syncs under way, each resolving to when it began (a lower bound of the groupsSyncedAt it writes). */
  private readonly labelsInflight = new Map<string, Promise<Date>>();
  /** When each agent's last sync in this process ended (ms), for ensureFresh; the most recent agents only. */
  private readonly finished = new LRUCache<string, number>({ max: MAX_FINISHED_REMEMBERED });
  /**
   * The latest lastSyncAt and groupsSyncedAt this process saw of each agent's sync record (ms), so that a read within
   * the freshness window costs no statement: both only ever move forward in the database, so a time remembered here is
   * never later than the record's, and "fresh" said from here is true of the record too. The most recent agents only;
   * the others are asked the database, as before.
   */
  private readonly seen = new LRUCache<string, { contactsAt: number; labelsAt: number }>({
    max: MAX_FINISHED_REMEMBERED,
  });

  private readonly importer: ContactImport;
  private readonly sweeper: HourlySweep;
  /** The agents' contact search indexes: whether built, and their building (contact-search.ts). */
  readonly searchIndex: SearchIndex;

  constructor(
    private readonly deps: {
      ds: DataSource;
      sessions: GoogleSessions;
      outbox: OutboxWorker;
      log: Logger;
      metrics?: Metrics;
      /** tombstones kept (contactChanges) */ retentionMs?: number;
    },
  ) {
    this.importer = new ContactImport(deps);
    this.searchIndex = new SearchIndex(deps);
    this.sweeper = new HourlySweep('contact change feed', (now) => this.pruneAll(deps.retentionMs ?? 0, now), deps.log);
  }

  /**
   * Starts the hourly sweep of tombstones past the retention, for agents that no longer sync (each sync prunes its
   * agent's).
   */
  start(): void {
    if (this.deps.retentionMs) this.sweeper.start();
  }

  async stop(): Promise<void> {
    await Promise.all([this.sweeper.stop(), this.searchIndex.stop()]);
  }

  /**
   * Deletes tombstones past the retention, PRUNE_AGENTS_PER_ROUND agents a round; resolves to how many went. One sweep
   * at a time.
   */
  prune(now = new Date()): Promise<number> {
    return this.deps.retentionMs ? this.sweeper.run(now) : Promise.resolve(0);
  }

  private async pruneAll(retentionMs: number, now: Date): Promise<number> {
    let removed = 0;
    for (;;) {
      const agents: { agentId: string; brokerageId: string }[] = await this.deps.ds
        .getRepository(ContactTombstone)
        .createQueryBuilder('t')
        .select('t.agentId', 'agentId')
        .addSelect('t.brokerageId', 'brokerageId')
        .distinct(true)
        .where('t.deletedAt < :cutoff', { cutoff: new Date(now.getTime() - retentionMs) })
        .limit(PRUNE_AGENTS_PER_ROUND)
        .getRawMany();
      let round = 0;
      for (const a of agents) round += await pruneTombstones(this.deps.ds, a, retentionMs, now);
      removed += round;
      if (agents.length < PRUNE_AGENTS_PER_ROUND || round === 0) return removed;
    }
  }

  async record(agent: AgentKey): Promise<ContactSyncRecord> {
    const repo = this.deps.ds.getRepository(ContactSyncRecord);
    const found = await repo.findOneBy({ agentId: agent.agentId, brokerageId: agent.brokerageId });
    if (found) {
      this.saw(agent.agentId, found.lastSyncAt, found.groupsSyncedAt);
      this.searchIndex.saw(agent.agentId, found.searchTokensVersion ?? 0);
      return found;
    }
    const fresh = newSyncRecord(agent);
    // Not read back (updateEntity(false)): TypeORM would select the defaulted columns by primary key alone, not naming
    // the brokerage. A concurrent first sync may have inserted it: the row is read below anyway.
    await repo
      .createQueryBuilder()
      .insert()
      .values(fresh)
      .updateEntity(false)
      .execute()
      .catch(() => undefined);
    return (await repo.findOneBy({ agentId: agent.agentId, brokerageId: agent.brokerageId }))!;
  }

  /** Remembers sync times read from (or just written to) the agent's record: see `seen`. */
  private saw(agentId: string, contactsAt: Date | null, labelsAt: Date | null): void {
    const was = this.seen.get(agentId);
    this.seen.set(agentId, {
      contactsAt: Math.max(was?.contactsAt ?? 0, contactsAt?.getTime() ?? 0),
      labelsAt: Math.max(was?.labelsAt ?? 0, labelsAt?.getTime() ?? 0),
    });
  }

  /**
   * Forgets the sync times remembered (all agents, or one), and which search indexes are built: the next read asks the
   * database. For a record changed behind the gateway's back (tests that age it); the product only moves them forward.
   */
  forgetSyncTimes(agentId?: string): void {
    if (agentId === undefined) this.seen.clear();
    else this.seen.delete(agentId);
    this.searchIndex.forget(agentId);
  }

  /** Makes the mirror fresh if the last sync is older than `maxAgeMs`; never fails a read (staleness is recorded). */
  async ensureFresh(agent: AgentRef, maxAgeMs: number): Promise<void> {
    const looked = Date.now();
    if (looked - (this.seen.get(agent.agentId)?.contactsAt ?? 0) < maxAgeMs) return;
    const rec = await this.record(agent);
    if (rec.lastSyncAt && Date.now() - rec.lastSyncAt.getTime() < maxAgeMs) return;
    // A sync of this agent that ended after this look answered it (made the mirror fresh, or just failed): another
    // call now would be a second one for the same staleness. Before, of 100 concurrent reads of a stale mirror, one
    // that read the record before the first sync wrote lastSyncAt, and asked after that sync had ended, started a
    // second.
    if ((this.finished.peek(agent.agentId) ?? 0) >= looked) return;
    await this.sync(agent).catch((err) => {
      if (!(err instanceof AppError))
        this.deps.log.warn({ err, agentId: agent.agentId }, 'contact sync failed; serving the mirror');
    });
  }

  /**
   * Makes the labels fresh: a label sync (contactGroups.list, incremental with its token) when the last one is older
   * than `maxAgeMs`; the contacts first, as ensureFresh (their memberships). Single-flight per agent; never fails a
   * read (a failure is logged, and the labels are served as they are).
   */
  async ensureLabelsFresh(agent: AgentRef, maxAgeMs: number): Promise<void> {
    const looked = Date.now();
    await this.ensureFresh(agent, maxAgeMs);
    if (Date.now() - (this.seen.get(agent.agentId)?.labelsAt ?? 0) < maxAgeMs) return;
    const rec = await this.record(agent);
    // Fresh enough, or synced since this look (by the contacts' full sync just now): a second call would be the same.
    if (
      rec.groupsSyncedAt &&
      (Date.now() - rec.groupsSyncedAt.getTime() < maxAgeMs || rec.groupsSyncedAt.getTime() >= looked)
    )
      return;
    let running = this.labelsInflight.get(agent.agentId);
    if (!running) {
      running = (async () => {
        const began = new Date();
        const session = await this.deps.sessions.forAgent(agent.brokerageId, agent.email);
        await syncLabels(this.deps.ds, agent, await session.people(), !rec.groupSyncToken);
        return began;
      })().finally(() => this.labelsInflight.delete(agent.agentId));
      this.labelsInflight.set(agent.agentId, running);
    }
    await running.then(
      // The sync wrote groupsSyncedAt once it had begun: its beginning is a lower bound of it.
      (began) => this.saw(agent.agentId, null, began),
      (err: unknown) => {
        if (!(err instanceof AppError))
          this.deps.log.warn({ err, agentId: agent.agentId }, 'label sync failed; serving the labels as they are');
      },
    );
  }

  /** Whether the agent's mirror was made with other person fields than ours (an older release): a full sync is due. */
  async needsRefill(agent: AgentKey): Promise<boolean> {
    const rec = await this.deps.ds.getRepository(ContactSyncRecord).findOne({
      where: { agentId: agent.agentId, brokerageId: agent.brokerageId },
      select: { agentId: true, personFields: true, syncToken: true },
    });
    // No record, or no sync yet: nothing in the mirror came from Google with fewer fields.
    return Boolean(rec?.syncToken) && rec!.personFields !== PERSON_FIELDS;
  }

  /** A label sync now (incremental, or full before the first), for a delivery that must know Google's groups. */
  async syncLabelsNow(agent: AgentKey, people: PeopleDriver): Promise<void> {
    const rec = await this.record(agent);
    await syncLabels(this.deps.ds, agent, people, !rec.groupSyncToken);
  }

  /** One sync (incremental, or full when needed); concurrent callers share it. */
  sync(agent: AgentRef): Promise<SyncResult> {
    const running = this.inflight.get(agent.agentId);
    if (running) return running;
    const p = this.run(agent).finally(() => {
      this.inflight.delete(agent.agentId);
      // Set last, so the agents that synced longest ago go first (peek above does not reorder).
      this.finished.set(agent.agentId, Date.now());
    });
    this.inflight.set(agent.agentId, p);
    return p;
  }

  /**
   * A sync that starts after this call. Joining one already under way could miss a change made just before
   * the call, which a delivery must see before it acts (a Google edit that cancels a delete).
   */
  async syncFresh(agent: AgentRef): Promise<SyncResult> {
    const running = this.inflight.get(agent.agentId);
    if (running) await running.catch(() => undefined);
    return this.sync(agent);
  }

  /** `fresh`: a retry after Google rejected our access token (401): at most one per sync. */
  private async run(agent: AgentRef, fresh = false, conflicts = 0): Promise<SyncResult> {
    const rec = await this.record(agent);
    const session = await this.deps.sessions.forAgent(agent.brokerageId, agent.email);
    try {
      const people = await session.people();
      let result: SyncResult;
      if (rec.syncToken && rec.personFields === PERSON_FIELDS) {
        try {
          result = await this.incremental(agent, people, rec.syncToken);
        } catch (err) {
          if (mapGoogleError(err, { api: 'people' }).kind !== 'sync-token-expired') throw err;
          this.deps.log.info(
            { agentId: agent.agentId },
            'contacts sync token expired: full resync with mark and sweep',
          );
          this.deps.metrics?.fullResyncs.inc({ api: 'people' });
          result = await this.full(agent, people, 'EXPIRED_SYNC_TOKEN');
        }
      } else {
        // First sync, or the mirror was made with fewer personFields (an older release): a full sync, which also
        // fills in the fields the mirror lacks for contacts Google did not change since (refill).
        result = await this.full(agent, people, null);
      }
      const syncedAt = new Date();
      await this.deps.ds
        .getRepository(ContactSyncRecord)
        .update(
          { agentId: agent.agentId, brokerageId: agent.brokerageId },
          { lastSyncAt: syncedAt, staleSince: null, ...NO_SYNC_ERROR },
        );
      this.saw(agent.agentId, syncedAt, null);
      // The agent's tombstones past the retention (contactChanges): a failure here is no failure of the sync.
      if (this.deps.retentionMs)
        await pruneTombstones(this.deps.ds, agent, this.deps.retentionMs).catch((err) =>
          this.deps.log.warn(
            { err, agentId: agent.agentId },
            'contact change feed: pruning tombstones failed; the sweep tries again',
          ),
        );
      this.deps.metrics?.syncSucceeded('people');
      return result;
    } catch (err) {
      // A transaction the database gave up to a lock conflict (another agent's sync or write): the sync again, from its
      // start, as for a rejected token below.
      if (conflicts < LOCK_CONFLICT_RETRIES && isLockConflict(err)) {
        this.deps.log.info(
          { agentId: agent.agentId, conflicts },
          'contacts sync met a lock conflict: running it again',
        );
        await new Promise((r) => setTimeout(r, 10 + Math.random() * 50 * (conflicts + 1)));
        return this.run(agent, fresh, conflicts + 1);
      }
      const appErr = err instanceof AppError ? err : session.toAppError(err, 'contacts');
      // Google no longer takes the token (toAppError dropped it): once more with a new one, from the sync's start
      // (the sync token only moves when a sync completes, and importing a page twice changes nothing).
      if (!fresh && isTokenRejected(appErr)) return this.run(agent, true, conflicts);
      if (appErr.extensions.code === ErrorCode.INTERNAL_SERVER_ERROR)
        this.deps.log.error({ err, agentId: agent.agentId }, 'contacts sync failed on our side');
      await this.deps.ds
        .getRepository(ContactSyncRecord)
        .update(
          { agentId: agent.agentId, brokerageId: agent.brokerageId },
          { staleSince: rec.staleSince ?? new Date(), ...syncErrorColumns(appErr) },
        );
      throw appErr;
    }
  }

  private async incremental(agent: AgentRef, people: PeopleDriver, syncToken: string): Promise<SyncResult> {
    const result: SyncResult = { kind: 'incremental', calls: 0, imported: 0, removed: 0 };
    let pageToken: string | undefined;
    let next: string | undefined;
    do {
      const page = await people.listConnections({ syncToken, pageToken });
      result.calls++;
      const counts = await this.importer.importPage(agent, page.persons, { people, result });
      result.imported += counts.imported;
      result.removed += counts.removed;
      pageToken = page.nextPageToken;
      next = page.nextSyncToken ?? next;
    } while (pageToken);
    if (next)
      await this.deps.ds
        .getRepository(ContactSyncRecord)
        .update({ agentId: agent.agentId, brokerageId: agent.brokerageId }, { syncToken: next });
    return result;
  }

  private async full(agent: AgentRef, people: PeopleDriver, reason: string | null): Promise<SyncResult> {
    const result: SyncResult = { kind: 'full', calls: 0, imported: 0, removed: 0 };
    const refill = (await this.record(agent)).personFields !== PERSON_FIELDS;
    // The labels first, all of them: the persons' memberships name them.
    result.calls += (await syncLabels(this.deps.ds, agent, people, true)).calls;
    const labels = { people, result, synced: true };
    const seen = new Set<string>();
    let pageToken: string | undefined;
    let next: string | undefined;
    do {
      const page = await people.listConnections({ pageToken });
      result.calls++;
      for (const p of page.persons) if (p.resourceName && !p.metadata?.deleted) seen.add(p.resourceName);
      result.imported += (await this.importer.importPage(agent, page.persons, labels, refill)).imported;
      pageToken = page.nextPageToken;
      next = page.nextSyncToken ?? next;
    } while (pageToken);
    const swept = await this.sweep(agent, people, seen);
    result.removed = swept.removed;
    result.calls += swept.calls;
    const now = new Date();
    const rec = await this.record(agent);
    await this.deps.ds.getRepository(ContactSyncRecord).update(
      { agentId: agent.agentId, brokerageId: agent.brokerageId },
      {
        syncToken: next ?? null,
        personFields: PERSON_FIELDS,
        lastFullSyncAt: now,
        ...(reason ? { fullResyncs: rec.fullResyncs + 1, lastFullResyncAt: now, lastFullResyncReason: reason } : {}),
      },
    );
    return result;
  }

  /**
   * Mark and sweep: mirrored contacts a full sync did not list are gone from Google. A contact our outbox
   * created while the pages were being read is not listed either, so candidates are confirmed with
   * getBatchGet (BATCH_GET_MAX per call) and only those Google answers 404 for are removed.
   */
  private async sweep(
    agent: AgentRef,
    people: PeopleDriver,
    seen: Set<string>,
  ): Promise<{ removed: number; calls: number }> {
    const mapped = await this.deps.ds.getRepository(Contact).find({
      where: { agentId: agent.agentId, brokerageId: agent.brokerageId, resourceName: Not(IsNull()) },
      select: { id: true, resourceName: true },
    });
    const candidates = mapped.filter((c) => !seen.has(c.resourceName!)).map((c) => c.resourceName!);
    let removed = 0;
    let calls = 0;
    for (let i = 0; i < candidates.length; i += BATCH_GET_MAX) {
      const slice = candidates.slice(i, i + BATCH_GET_MAX);
      const responses = await people.getPersonsMetadata(slice);
      calls++;
      const alive = new Set(
        responses
          .filter((r) => r.person && !r.person.metadata?.deleted && r.httpStatusCode !== 404)
          .map((r) => r.requestedResourceName ?? r.person!.resourceName!),
      );
      for (const rn of slice) if (!alive.has(rn) && (await this.importer.applyDeleted(agent, rn))) removed++;
    }
    return { removed, calls };
  }

  /**
   * Applies Google's current version of some contacts, read outside a sync (getBatchGet): live persons as a sync
   * would, and `{resourceName, metadata: {deleted: true}}` for those Google no longer has.
   */
  async importPersons(agent: AgentRef, persons: Person[]): Promise<void> {
    await this.importer.importPage(agent, persons);
  }
}
