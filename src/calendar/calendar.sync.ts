/**
 * The calendar change feed: a sync-token based incremental sync of the
 * agent's primary calendar that records every changed or cancelled event
 * (calendar_change), so the CRM can ask what changed since its last look.
 * The first sync (and any after Google answers 410, which clears the token)
 * lists the calendar fully from `pastDays` ago and reconciles it with what the
 * feed already recorded (known-events.ts): only differences are recorded, and
 * events gone from Google are recorded cancelled.
 * One sync per agent at a time in this process.
 *
 * Retention: the feed keeps `retentionMs` (CALENDAR_CHANGES_RETENTION_DAYS)
 * of changes, each a full event. Older rows are deleted by the agent's own
 * sync and by an hourly sweep over every agent (`prune`); the highest seq
 * deleted is kept per agent (calendar_sync.changesPrunedThrough), so a
 * client whose cursor is below it is told it missed changes (eventChanges:
 * BAD_USER_INPUT, reason cursor_expired, with a cursor to resume from after a
 * reload) rather than silently skipping them.
 *
 * Clients read the feed with eventChanges (`changes`), in the order it was
 * recorded, each cursor the base64url of its row's seq in decimal.
 */
import type { DataSource } from 'typeorm';
import { In, LessThan, MoreThan } from 'typeorm';
import type { TenantScope } from '../auth/tenant-scope';
import { batches } from '../db/batches';
import { CalendarChange, CalendarKnown, CalendarSyncRecord } from '../entities';
import { EVENT_ID_LENGTH } from '../entities/calendar.entities';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics/metrics';
import { AppError, badInput, ErrorCode } from '../errors';
import { checkFirst, pageOf } from '../graphql/connection';
import type { CalendarDriver, EventListQuery, GoogleEvent } from '../google/calendar';
import { NO_SYNC_ERROR, syncErrorColumns } from '../google/feature-health';
import { isTokenRejected, mapGoogleError } from '../google/google-errors';
import type { GoogleSessions } from '../google/google-sessions';
import { toEventType } from './event.mapper';
import type { EventChangeConnectionType } from './event.type';
import { alreadyKnown, knownStateOf } from './known-events';
import { lockAgentFeeds } from '../db/agent-lock';
import { HourlySweep } from '../db/hourly-sweep';
import type { AgentKey, AgentRef } from '../agents/agent-ref';

/** Events a full resync looks up (events.get) when the listing lacks them; past this, the listing is believed. */
const MAX_LOOKUPS = 200;
const LOOKUP_CONCURRENCY = 4;

/** Event ids as stored (calendar_change, calendar_known): at most EVENT_ID_LENGTH characters. */
const storedId = (id: string): string => id.slice(0, EVENT_ID_LENGTH);

/** Rows deleted per statement by the retention (a bounded transaction, whatever an agent has piled up). */
const PRUNE_BATCH = 1000;
/** Agents the sweep looks at per round. */
const PRUNE_AGENTS_PER_ROUND = 100;

/** Most changes one page of eventChanges answers. */
const MAX_CHANGES_PAGE = 500;

/**
 * The cursor of the change at `seq`: its decimal seq in base64url. Clients keep cursors across releases, so this
 * format stays (it predates the JSON cursors of graphql/connection.ts).
 */
const changeCursor = (seq: number): string => Buffer.from(String(seq)).toString('base64url');

/**
 * The seq an eventChanges cursor stands for; BAD_USER_INPUT when it is not one. Strict: base64url decoding skips
 * characters outside its alphabet and Number() takes " 7", "1e3" or "" (0), so only the exact text changeCursor
 * makes is taken; anything else would restart the feed from its first change without a word.
 */
function seqOfCursor(after: string): number {
  const text = after.length <= 24 ? Buffer.from(after, 'base64url').toString('utf8') : '';
  if (!/^(0|[1-9]\d{0,15})$/.test(text) || changeCursor(Number(text)) !== after)
    throw badInput('"after" is not a cursor this API returned', { field: 'after' });
  return Number(text);
}

export class CalendarSync {
  private readonly inflight = new Map<string, Promise<number>>();
  private readonly sweeper: HourlySweep;

  constructor(
    private readonly deps: {
      ds: DataSource;
      sessions: GoogleSessions;
      pastDays: number;
      retentionMs: number;
      /** How old the last sync may be when a client reads the feed (CALENDAR_CACHE_SECONDS); older, it syncs first. */
      freshnessMs: number;
      log?: Logger;
      metrics?: Metrics;
    },
  ) {
    this.sweeper = new HourlySweep(
      'calendar change feed',
      (now) => this.sweep(new Date(now.getTime() - deps.retentionMs)),
      deps.log,
    );
  }

  /** Starts the hourly retention sweep (the first one an hour from now; each agent's sync prunes its own meanwhile). */
  start(): void {
    this.sweeper.start();
  }

  stop(): Promise<void> {
    return this.sweeper.stop();
  }

  /**
   * Deletes every agent's changes older than the retention; resolves to the number of rows deleted. One sweep at a
   * time.
   */
  prune(now = new Date()): Promise<number> {
    return this.sweeper.run(now);
  }

  private async sweep(cutoff: Date): Promise<number> {
    let deleted = 0;
    for (;;) {
      // Over every brokerage on purpose (a background sweep); the brokerage comes with each agent, so the statements
      // pruning one agent name it.
      const agents: { brokerageId: string; agentId: string }[] = await this.deps.ds
        .getRepository(CalendarChange)
        .createQueryBuilder('c')
        .select('c.brokerageId', 'brokerageId')
        .addSelect('c.agentId', 'agentId')
        .distinct()
        .where('c.recordedAt < :cutoff', { cutoff })
        .limit(PRUNE_AGENTS_PER_ROUND)
        .getRawMany();
      if (!agents.length) return deleted;
      for (const agent of agents) deleted += await this.pruneAgent(agent, cutoff);
    }
  }

  /** Deletes the agent's changes recorded before `cutoff`, raising its horizon in the same transaction. */
  private async pruneAgent({ brokerageId, agentId }: AgentKey, cutoff: Date): Promise<number> {
    let deleted = 0;
    for (;;) {
      const old = await this.deps.ds.getRepository(CalendarChange).find({
        where: { brokerageId, agentId, recordedAt: LessThan(cutoff) },
        select: { seq: true },
        order: { seq: 'ASC' },
        take: PRUNE_BATCH,
      });
      if (!old.length) return deleted;
      const through = old[old.length - 1].seq;
      await this.deps.ds.transaction(async (m) => {
        // Readers look at the rows first and the horizon second (`changes`), so they never miss a deletion.
        await m
          .createQueryBuilder()
          .update(CalendarSyncRecord)
          .set({ changesPrunedThrough: through })
          .where('agentId = :agentId AND brokerageId = :brokerageId AND changesPrunedThrough < :through', {
            agentId,
            brokerageId,
            through,
          })
          .execute();
        await m.getRepository(CalendarChange).delete({ seq: In(old.map((r) => r.seq)), brokerageId });
      });
      deleted += old.length;
      if (old.length < PRUNE_BATCH) break;
    }
    // The feed's memory forgets cancellations as old as the changes that told them, and events that ended before the
    // sync window (a full listing no longer returns them, so a resync has nothing to compare them with).
    const windowStart = new Date(Date.now() - this.deps.pastDays * 86_400_000);
    await this.deps.ds
      .createQueryBuilder()
      .delete()
      .from(CalendarKnown)
      .where(
        'agentId = :agentId AND brokerageId = :brokerageId AND ((status = :cancelled AND recordedAt < :cutoff) OR endsAt < :windowStart)',
        { agentId, brokerageId, cancelled: 'cancelled', cutoff, windowStart },
      )
      .execute();
    return deleted;
  }

  async record(agent: AgentRef): Promise<CalendarSyncRecord> {
    const repo = this.deps.ds.getRepository(CalendarSyncRecord);
    const found = await repo.findOneBy({ agentId: agent.agentId, brokerageId: agent.brokerageId });
    if (found) return found;
    // Not read back by TypeORM (updateEntity: without RETURNING, as on SQLite, it selects the defaults by primary key
    // alone, not naming the brokerage): the row is read below anyway, whoever inserted it.
    await repo
      .createQueryBuilder()
      .insert()
      .values({
        agentId: agent.agentId,
        brokerageId: agent.brokerageId,
        syncToken: null,
        lastSyncAt: null,
        lastFullSyncAt: null,
        fullSyncs: 0,
        lastFullSyncReason: null,
        staleSince: null,
        ...NO_SYNC_ERROR,
        changesPrunedThrough: 0,
      })
      .updateEntity(false)
      .execute()
      .catch(() => undefined);
    return (await repo.findOneBy({ agentId: agent.agentId, brokerageId: agent.brokerageId }))!;
  }

  /**
   * The caller's changes after `after` (eventChanges), fresh with Google first when the last sync is older than
   * `freshnessMs`, as contactChanges does. A cursor older than the retention is BAD_USER_INPUT, reason cursor_expired,
   * with the cursor to continue from once the client has reloaded its events (extensions.resyncCursor).
   */
  async changes(
    scope: TenantScope,
    args: { first: number; after?: string | null },
  ): Promise<EventChangeConnectionType> {
    checkFirst(args.first, MAX_CHANGES_PAGE);
    const since = args.after ? seqOfCursor(args.after) : 0;
    await this.ensureFresh(scope.agent, this.deps.freshnessMs);
    const rows = await scope.findManyForAgent(
      CalendarChange,
      { seq: MoreThan(since) },
      { order: { seq: 'ASC' }, take: args.first + 1 },
    );
    if (args.after) {
      // The horizon is read after the rows: a retention sweep between the two reads is caught, never a silent gap.
      const rec = await this.record(scope.agent);
      if (since < rec.changesPrunedThrough) {
        const newest = await this.position(scope.agent);
        const days = Math.round(this.deps.retentionMs / 86_400_000);
        throw badInput(
          `The cursor is older than the change feed keeps (${days} days): changes after it were deleted. Reload the events you hold with events(from, to), then continue the feed from extensions.resyncCursor`,
          {
            field: 'after',
            reason: 'cursor_expired',
            retentionDays: days,
            resyncCursor: changeCursor(Math.max(newest, rec.changesPrunedThrough)),
          },
        );
      }
    }
    return pageOf(
      rows,
      args.first,
      (r) => changeCursor(r.seq),
      (r) => {
        const e = JSON.parse(r.event) as GoogleEvent;
        return {
          eventId: r.googleEventId,
          status: r.status,
          event: r.status === 'cancelled' || !e.start ? null : toEventType(e),
          recordedAt: r.recordedAt,
        };
      },
      args.after ?? null,
    );
  }

  /**
   * Syncs first when the last sync is older than `maxAgeMs` (as contactChanges does), so a client reading the feed sees
   * Google's news without asking for a sync; never fails the read (staleness is recorded).
   */
  async ensureFresh(agent: AgentRef, maxAgeMs: number): Promise<void> {
    const rec = await this.record(agent);
    if (rec.lastSyncAt && Date.now() - rec.lastSyncAt.getTime() < maxAgeMs) return;
    await this.sync(agent).catch((err) => {
      if (!(err instanceof AppError))
        this.deps.log?.warn({ err, agentId: agent.agentId }, 'calendar sync failed; serving the change feed as it is');
    });
  }

  /** Runs one sync; resolves to the number of changes recorded. Concurrent callers share it. */
  sync(agent: AgentRef): Promise<number> {
    const running = this.inflight.get(agent.agentId);
    if (running) return running;
    const p = this.run(agent).finally(() => this.inflight.delete(agent.agentId));
    this.inflight.set(agent.agentId, p);
    return p;
  }

  /**
   * Records what our own delivery wrote to Google (the event Google answered with; a deleted one cancelled), so that a
   * CRM write is in the change feed at once, not only after the next sync; the sync then finds it known.
   */
  async recordDelivered(agent: AgentKey, event: GoogleEvent, sentAfter: number): Promise<void> {
    await this.recordChanges({ ...agent, email: '' }, [event], { unlessRecordedAfter: sentAfter });
  }

  /**
   * The feed's last position for the agent: what a delivery notes before its call, so that what Google answered is
   * not recorded over a version a sync recorded meanwhile (which is at least as new, or followed by a sync that
   * brings ours).
   */
  async position(agent: AgentKey): Promise<number> {
    // The newest row on the (agentId, seq) index, read backwards: MAX() with brokerageId outside the index scanned
    // every retained row of the agent on MariaDB (30-45 ms at 120,000 rows, before each calendar write).
    const row = await this.deps.ds.getRepository(CalendarChange).findOne({
      where: { agentId: agent.agentId, brokerageId: agent.brokerageId },
      order: { seq: 'DESC' },
      select: { seq: true },
    });
    return row?.seq ?? 0;
  }

  /** `fresh`: a retry after Google rejected our access token (401): at most one per sync. */
  private async run(agent: AgentRef, fresh = false): Promise<number> {
    const rec = await this.record(agent);
    const session = await this.deps.sessions.forAgent(agent.brokerageId, agent.email);
    const repo = this.deps.ds.getRepository(CalendarSyncRecord);
    try {
      const cal = await session.calendar();
      let recorded: number;
      if (rec.syncToken) {
        try {
          // showDeleted as on the full listing that issued the token (Google asks for the same parameters).
          const listed = await this.list(agent, cal, { syncToken: rec.syncToken, showDeleted: true });
          await this.saveToken(agent, listed.nextSyncToken);
          recorded = listed.recorded;
        } catch (err) {
          // Any 410 on an incremental list means "sync fully", whatever its reason: Google's sync guide
          // (https://developers.google.com/calendar/api/guides/sync) answers an invalid or expired token with 410 and
          // has the client clear its store and sync fully. A 410 of another reason used to fail syncCalendar with
          // NOT_FOUND "already deleted".
          const f = mapGoogleError(err, { api: 'calendar' });
          if (f.kind !== 'full-sync-required' && f.status !== 410) throw err;
          await repo.update({ agentId: agent.agentId, brokerageId: agent.brokerageId }, { syncToken: null });
          this.deps.metrics?.fullResyncs.inc({ api: 'calendar' });
          recorded = await this.full(agent, cal, 'FULL_SYNC_REQUIRED', rec.fullSyncs);
        }
      } else {
        // No token and a full sync done before: the resync after a 410 failed half way, and this one completes it.
        recorded = await this.full(agent, cal, rec.lastFullSyncAt ? 'FULL_SYNC_REQUIRED' : 'FIRST_SYNC', rec.fullSyncs);
      }
      await repo.update(
        { agentId: agent.agentId, brokerageId: agent.brokerageId },
        { lastSyncAt: new Date(), staleSince: null, ...NO_SYNC_ERROR },
      );
      this.deps.metrics?.syncSucceeded('calendar');
      // The agent's own old changes go with each sync (the hourly sweep covers agents who stopped syncing).
      await this.pruneAgent(agent, new Date(Date.now() - this.deps.retentionMs));
      return recorded;
    } catch (err) {
      const appErr = err instanceof AppError ? err : session.toAppError(err, 'calendar');
      // Google no longer takes the token (toAppError dropped it): once more with a new one. Changes recorded before
      // the 401 stay, and are not recorded again (the feed's memory); the sync token only moves when a listing
      // completes.
      if (!fresh && isTokenRejected(appErr)) return this.run(agent, true);
      if (appErr.extensions.code === ErrorCode.INTERNAL_SERVER_ERROR)
        this.deps.log?.error({ err, agentId: agent.agentId }, 'calendar sync failed on our side');
      await repo.update(
        { agentId: agent.agentId, brokerageId: agent.brokerageId },
        { staleSince: rec.staleSince ?? new Date(), ...syncErrorColumns(appErr) },
      );
      throw appErr;
    }
  }

  /**
   * Lists the calendar from `pastDays` ago and reconciles the feed with it (mark and sweep): what differs from what
   * the feed holds is recorded, what it holds but the listing lacks is looked up, and reported cancelled when Google
   * no longer has it. The sync token is saved last, so a resync that fails half way is done again whole, and then
   * records nothing twice.
   */
  private async full(agent: AgentRef, cal: CalendarDriver, reason: string, fullSyncs: number): Promise<number> {
    const timeMin = new Date(Date.now() - this.deps.pastDays * 86_400_000);
    const seen = new Set<string>();
    // showDeleted: events deleted while the token was invalid come back as cancelled (Google keeps them for a while),
    // and are told to clients that knew them; a cancelled event the feed never told is skipped (recordChanges).
    const listed = await this.list(agent, cal, { timeMin: timeMin.toISOString(), showDeleted: true }, seen);
    const swept = await this.reconcile(agent, cal, seen, timeMin);
    await this.saveToken(agent, listed.nextSyncToken);
    await this.deps.ds
      .getRepository(CalendarSyncRecord)
      .update(
        { agentId: agent.agentId, brokerageId: agent.brokerageId },
        { lastFullSyncAt: new Date(), fullSyncs: fullSyncs + 1, lastFullSyncReason: reason },
      );
    return listed.recorded + swept;
  }

  private async saveToken(agent: AgentRef, token: string | undefined): Promise<void> {
    if (token)
      await this.deps.ds
        .getRepository(CalendarSyncRecord)
        .update({ agentId: agent.agentId, brokerageId: agent.brokerageId }, { syncToken: token });
  }

  /** Pages through events.list (the driver asks for the same parameters on every page) and records what changed. */
  private async list(
    agent: AgentRef,
    cal: CalendarDriver,
    query: EventListQuery,
    seen?: Set<string>,
  ): Promise<{ recorded: number; nextSyncToken?: string }> {
    let nextSyncToken: string | undefined;
    let recorded = 0;
    for await (const page of cal.eventPages(query)) {
      for (const e of page.items) if (e.id) seen?.add(storedId(e.id));
      recorded += await this.recordChanges(agent, page.items, { full: Boolean(seen) });
      nextSyncToken = page.nextSyncToken ?? nextSyncToken;
    }
    return { recorded, nextSyncToken };
  }

  /**
   * Records the events that differ from what the feed holds, and remembers them, in one transaction: the memory is
   * never ahead of the feed, so a change is never skipped as known without having been recorded. `full`: the items
   * of a full listing, where a cancelled event the feed does not hold as live is old news, not a change (except a
   * cancelled occurrence of a series, told once: the memory then holds it cancelled).
   */
  private async recordChanges(
    agent: AgentRef,
    items: GoogleEvent[],
    opts: { full?: boolean; unlessRecordedAfter?: number } = {},
  ): Promise<number> {
    const latest = new Map<string, GoogleEvent>();
    for (const e of items) if (e.id) latest.set(storedId(e.id), e);
    if (!latest.size) return 0;
    const ids = [...latest.keys()];
    return this.deps.ds.transaction(async (m) => {
      // The agent's feed in commit order: two replicas recording one agent's changes at once would otherwise commit
      // their seqs out of order, and a client that read past the later one would skip the earlier for good. What the
      // feed holds is read under it too, so two recorders never both take the same version for news.
      await lockAgentFeeds(m, agent);
      if (opts.unlessRecordedAfter !== undefined) {
        const since = await m.getRepository(CalendarChange).exists({
          where: {
            agentId: agent.agentId,
            brokerageId: agent.brokerageId,
            seq: MoreThan(opts.unlessRecordedAfter),
            googleEventId: In(ids),
          },
        });
        if (since) return 0;
      }
      const known = new Map<string, CalendarKnown>();
      for (let i = 0; i < ids.length; i += 500) {
        for (const k of await m
          .getRepository(CalendarKnown)
          .findBy({ agentId: agent.agentId, brokerageId: agent.brokerageId, googleEventId: In(ids.slice(i, i + 500)) }))
          known.set(k.googleEventId, k);
      }
      const changed = [...latest].filter(([id, e]) => {
        const k = known.get(id);
        // A cancelled occurrence of a series (recurringEventId) is news though the feed never told it by its own id:
        // it removes an instance a client expands from the series' recurrence.
        if (opts.full && e.status === 'cancelled' && !e.recurringEventId && (!k || k.status === 'cancelled'))
          return false;
        return !alreadyKnown(k, e);
      });
      if (!changed.length) return 0;
      const now = new Date();
      const changes = changed.map(([id, e]) => ({
        brokerageId: agent.brokerageId,
        agentId: agent.agentId,
        googleEventId: id,
        status: e.status ?? 'confirmed',
        event: JSON.stringify(e),
        recordedAt: now,
      }));
      for (const batch of batches(changes, 500)) await m.getRepository(CalendarChange).insert(batch);
      const memory = changed.map(([id, e]) => ({
        brokerageId: agent.brokerageId,
        agentId: agent.agentId,
        googleEventId: id,
        ...knownStateOf(e),
        recordedAt: now,
      }));
      for (const batch of batches(memory, 500))
        await m.getRepository(CalendarKnown).upsert(batch, ['agentId', 'googleEventId']);
      return changed.length;
    });
  }

  /**
   * The sweep after a full listing (deleted events included): each event the feed holds as live that the listing did
   * not return at all. One that ended before the window left it: forgotten, nothing to tell. Any other (a series that
   * ended, an event moved before the window, one Google deleted long ago) is looked up with events.get, at most
   * MAX_LOOKUPS per resync: recorded cancelled when Google answers 404/410 or `cancelled`, as changed when it differs,
   * and forgotten when it exists, as it is outside what the listing covers. Past MAX_LOOKUPS the rest stay as they
   * are for the next resync: never reported cancelled without Google saying so.
   */
  private async reconcile(agent: AgentRef, cal: CalendarDriver, seen: Set<string>, timeMin: Date): Promise<number> {
    const repo = this.deps.ds.getRepository(CalendarKnown);
    const missing: string[] = [];
    const leftWindow: string[] = [];
    for (let after = ''; ;) {
      const rows = await repo.find({
        where: { agentId: agent.agentId, brokerageId: agent.brokerageId, googleEventId: MoreThan(after) },
        order: { googleEventId: 'ASC' },
        take: 1000,
      });
      if (!rows.length) break;
      for (const k of rows) {
        if (seen.has(k.googleEventId) || k.status === 'cancelled') continue;
        if (k.endsAt && k.endsAt.getTime() <= timeMin.getTime()) leftWindow.push(k.googleEventId);
        else missing.push(k.googleEventId);
      }
      after = rows[rows.length - 1].googleEventId;
    }
    for (let i = 0; i < leftWindow.length; i += 500)
      await repo.delete({
        agentId: agent.agentId,
        brokerageId: agent.brokerageId,
        googleEventId: In(leftWindow.slice(i, i + 500)),
      });
    if (missing.length > MAX_LOOKUPS) {
      this.deps.log?.warn(
        { agentId: agent.agentId, missing: missing.length, lookups: MAX_LOOKUPS },
        'calendar resync: more remembered events missing from the listing than one resync looks up; the rest wait for the next resync',
      );
    }
    const found: GoogleEvent[] = [];
    const lookups = missing.slice(0, MAX_LOOKUPS);
    for (let i = 0; i < lookups.length; i += LOOKUP_CONCURRENCY) {
      found.push(...(await Promise.all(lookups.slice(i, i + LOOKUP_CONCURRENCY).map((id) => this.lookUp(cal, id)))));
    }
    let recorded = 0;
    for (let i = 0; i < found.length; i += 500) recorded += await this.recordChanges(agent, found.slice(i, i + 500));
    // Forgotten only when it lies before the window (or is a series, whose end we do not compute): a later change
    // brings it back. One inside the window (changed while the listing paged) stays remembered.
    const outside = found
      .filter((e) => e.status !== 'cancelled' && (knownStateOf(e).endsAt?.getTime() ?? 0) <= timeMin.getTime())
      .map((e) => storedId(e.id!));
    for (let i = 0; i < outside.length; i += 500)
      await repo.delete({
        agentId: agent.agentId,
        brokerageId: agent.brokerageId,
        googleEventId: In(outside.slice(i, i + 500)),
      });
    return recorded;
  }

  /** The event as Google has it now; `{ id, status: 'cancelled' }` when Google says it is gone (404 or 410). */
  private async lookUp(cal: CalendarDriver, id: string): Promise<GoogleEvent> {
    try {
      return await cal.getEvent(id);
    } catch (err) {
      const f = mapGoogleError(err, { api: 'calendar' });
      if (f.status === 404 || f.status === 410) return { id, status: 'cancelled' };
      throw err;
    }
  }
}
