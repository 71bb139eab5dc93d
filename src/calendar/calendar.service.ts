/**
 * An agent's calendar. Reads go to Google (the source of truth) through the
 * agent's own session, a window of whole UTC days at a time (event-window.ts),
 * kept a short while per agent (range-cache.ts): views over the same days
 * share one load; our own writes and push notifications invalidate it (a
 * generation number per agent, shared by the replicas: cache-generations.ts).
 * A load past CALENDAR_MAX_EVENTS_PER_VIEW events stops and the view asks
 * for a shorter range.
 * Writes go through the outbox (calendar.delivery.ts); until Google has them,
 * the pending local version is laid over what Google returns.
 */
import { randomUUID } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import type { TenantScope } from '../auth/tenant-scope';
import { checkFirst, decodeCursor, encodeCursor, pageOf } from '../graphql/connection';
import { readRows } from '../db/read-rows';
import { isUniqueViolation } from '../db/unique-violation';
import { Agent, CalendarEvent, type CalendarChannel, type CalendarSyncRecord } from '../entities';
import type { AgentRef } from '../agents/agent-ref';
import type { Config } from '../config';
import { AppError, badInput, ErrorCode, notFound } from '../errors';
import { createdThenDeleted, createOnce, keyed, remember, type Keyed } from '../idempotency/idempotency';
import { isEventId, newEventId, type CalendarDriver, type GoogleEvent } from '../google/calendar';
import { statusError, type FeatureProblem } from '../google/feature-health';
import { isTokenRejected } from '../google/google-errors';
import type { GoogleSessions } from '../google/google-sessions';
import { laneCounts } from '../outbox/status';
import { withReplaced } from '../outbox/unconfirmed';
import { CALENDAR_OUTBOX } from '../outbox/topics';
import type { OutboxWorker } from '../outbox/worker';
import type { DateTimeValue } from './date-time.scalar';
import type { EventInput, EventPatch } from './event.input';
import { googleEventFromInput, googlePatch, sameValue, startMs, toEventType } from './event.mapper';
import type { CalendarSyncStatusType, EventConnectionType, EventType } from './event.type';
import { inRange, loadWindow, windowOf, type LoadedWindow } from './event-window';
import type { RangeCache } from './range-cache';
import { viewPosition, type ViewPosition } from './cache-generations';
import { KeptPages, type Read, type Stamp } from '../graphql/kept-pages';
import type { ContactType } from '../contacts/contact.type';

/** Most events one page of events() answers. */
const MAX_EVENTS_PAGE = 500;
/** Refused writes syncStatus lists (newest first). */
const MAX_FAILED_WRITES_SHOWN = 50;

/** maxRangeMs: the longest range one events() query may ask for; maxEventsPerView: the most events one view loads. */
export type CalendarSettings = Pick<Config['calendar'], 'maxRangeMs' | 'maxEventsPerView'>;

/**
 * The most one write of ours may take as stored JSON (calendar_event.body). Each field has its own limit
 * (event.input.ts), but together at their limits they came to 69-89 KB, which MySQL's TEXT refused as a masked 500.
 * The column is MEDIUMTEXT now (Google's own copies of events may be larger: they are stored whole), and this bound
 * stays what one write of the CRM may carry: a clear BAD_USER_INPUT rather than whatever Google makes of it.
 */
const MAX_STORED_EVENT_BYTES = 60_000;

/** The write as stored; BAD_USER_INPUT when it is larger than a row holds. */
function storedBody(body: GoogleEvent): string {
  const json = JSON.stringify(body);
  const bytes = Buffer.byteLength(json);
  if (bytes > MAX_STORED_EVENT_BYTES) {
    throw badInput(
      `The event is too large: ${bytes} bytes once encoded, at most ${MAX_STORED_EVENT_BYTES}; shorten the description or the list of attendees`,
      { field: 'input', reason: 'too_large' },
    );
  }
  return json;
}

const cursorOf = (e: GoogleEvent) => encodeCursor([startMs(e), e.id ?? '']);

/** Start, then id by code units: the same order the `after` cursor filter uses, so pages neither skip nor repeat. */
const byStart = (a: GoogleEvent, b: GoogleEvent) =>
  startMs(a) - startMs(b) || ((a.id ?? '') < (b.id ?? '') ? -1 : (a.id ?? '') > (b.id ?? '') ? 1 : 0);

/** Every column of an event row: unsettled rows are read whole, as rows (readRows), not as entities. */
const EVENT_ROW_COLUMNS = [
  'id',
  'brokerageId',
  'agentId',
  'googleEventId',
  'etag',
  'pendingOp',
  'body',
  'baseEtag',
  'event',
  'syncState',
  'syncError',
  'conflicts',
  'unconfirmed',
  'createdAt',
  'updatedAt',
] as const satisfies readonly (keyof CalendarEvent)[];

/** A create Google refused for good: the event exists only in our row (body kept, see CalendarDelivery.onFailure). */
function isRefusedCreate(row: CalendarEvent | null | undefined): boolean {
  return Boolean(row && row.syncState === 'FAILED' && !row.pendingOp && !row.event && row.body);
}

/** A delete of ours that is done: a delivered delete (settled with no event) or a refused create forgotten. */
function isDoneDelete(row: CalendarEvent | null | undefined): boolean {
  return Boolean(row && !row.pendingOp && !row.event && !row.body && row.syncState === 'SYNCED');
}

/**
 * Marks the agent's event `googleEventId` as waiting for Google with `change`: its row updated, or a new row (with
 * `fresh`, what Google has of it now) when there is none; the row's id.
 */
async function putPending(
  m: EntityManager,
  scope: TenantScope,
  googleEventId: string,
  existing: Pick<CalendarEvent, 'id'> | null | undefined,
  change: Pick<CalendarEvent, 'pendingOp'> & Partial<Pick<CalendarEvent, 'body' | 'baseEtag' | 'unconfirmed'>>,
  fresh: Partial<Pick<CalendarEvent, 'etag' | 'event'>>,
  now: Date,
): Promise<string> {
  const pending = { ...change, syncState: 'PENDING' as const, syncError: null, updatedAt: now };
  const repo = m.getRepository(CalendarEvent);
  if (existing) {
    await repo.update({ id: existing.id, brokerageId: scope.brokerageId }, pending);
    return existing.id;
  }
  const id = randomUUID();
  await repo.insert({
    ...{ etag: null, body: null, baseEtag: null, event: null, conflicts: null, ...fresh, ...pending },
    id,
    brokerageId: scope.brokerageId,
    agentId: scope.agentId,
    googleEventId,
    createdAt: now,
  });
  return id;
}

/**
 * Google's events with our not-yet-delivered writes (`rows`, read by CalendarService.unsettled) laid over them (read
 * your writes).
 */
function overlay(
  rows: CalendarEvent[],
  google: GoogleEvent[],
  from: number,
  to: number,
): { events: GoogleEvent[]; local: Map<string, CalendarEvent> } {
  const local = new Map(rows.map((r) => [r.googleEventId, r]));
  const pending = rows.filter((r) => r.pendingOp);
  if (pending.length === 0) return { events: google, local };
  const byId = new Map(google.map((e) => [e.id!, e]));
  for (const r of pending) {
    const body = JSON.parse(r.body ?? '{}') as GoogleEvent;
    if (r.pendingOp === 'delete') byId.delete(r.googleEventId);
    else if (r.pendingOp === 'create' && !body.recurrence?.length) {
      const e = { ...body, etag: null };
      const s = startMs(e);
      const end = new Date(e.end?.dateTime ?? `${e.end?.date}T00:00:00Z`).getTime();
      if (end > from && s < to) byId.set(r.googleEventId, e);
    } else if (r.pendingOp === 'patch' && byId.has(r.googleEventId))
      byId.set(r.googleEventId, { ...byId.get(r.googleEventId), ...body });
  }
  return { events: [...byId.values()], local };
}

/** How a list attaches the attendees' contacts (GatewayContext's contacts freshness and attachContacts). */
export interface AttendeeContacts {
  fresh(): Promise<void>;
  attach(people: { email: string; contact?: ContactType | null }[]): Promise<void>;
}

/** What a kept page of events was read at: the generation, the window's load and, with contacts, their position. */
function stampOf(at: ViewPosition, serial: number, contacts: boolean): string {
  return `${at.generation}/${serial}/${contacts ? at.contactSeq : '-'}`;
}

export class CalendarService {
  readonly cache: RangeCache;
  /** Pages of events read again at the same stamp (list). */
  private readonly pages = new KeptPages<EventConnectionType>('calendar stamp');

  constructor(
    private readonly deps: {
      ds: DataSource;
      sessions: GoogleSessions;
      outbox: OutboxWorker;
      /** The views' cache (viewCache), shared with the delivery and the push notifications that make it stale. */
      cache: RangeCache;
      settings: CalendarSettings;
      /**
       * Push notifications: a channel is opened for the agent on its first view (none without CALENDAR_WEBHOOK_URL).
       */
      watch?: { ensure(agent: AgentRef): void };
    },
  ) {
    this.cache = deps.cache;
  }

  /** Every view of the brokerage's agents is stale (its key was removed: what was read with it goes). */
  async dropViewsOf(brokerageId: string): Promise<void> {
    for (const a of await this.deps.ds.getRepository(Agent).find({ where: { brokerageId }, select: { id: true } })) {
      this.pages.forget({ brokerageId, agentId: a.id });
      await this.cache.invalidate({ brokerageId, agentId: a.id });
    }
  }

  /**
   * Runs `call` with the agent's Calendar client; a token Google rejects (401) is dropped and the call made once more.
   */
  private async google<T>(scope: TenantScope, call: (cal: CalendarDriver) => Promise<T>, fresh = false): Promise<T> {
    const session = await this.deps.sessions.forAgent(scope.brokerageId, scope.caller.email);
    const cal = await session.calendar();
    try {
      return await call(cal);
    } catch (err) {
      const appErr = session.toAppError(err, 'calendar');
      if (!fresh && isTokenRejected(appErr)) return this.google(scope, call, true);
      throw appErr;
    }
  }

  /**
   * The caller's events overlapping [from, to). `contacts`: the attendees' CRM contacts are attached to the page
   * (`fresh` makes the contact mirror fresh, `attach` looks them up: GatewayContext).
   */
  async list(
    scope: TenantScope,
    args: { from: DateTimeValue; to: DateTimeValue; first: number; after?: string | null },
    contacts?: AttendeeContacts,
  ): Promise<EventConnectionType> {
    const from = args.from.instant.getTime();
    const to = args.to.instant.getTime();
    if (to <= from) throw badInput(`"to" (${args.to.raw}) must be after "from" (${args.from.raw})`, { field: 'to' });
    if (to - from > this.deps.settings.maxRangeMs)
      throw badInput(
        `The range may span at most ${Math.round(this.deps.settings.maxRangeMs / 86_400_000)} days (got ${Math.ceil((to - from) / 86_400_000)})`,
        { field: 'to' },
      );
    checkFirst(args.first, MAX_EVENTS_PAGE);
    this.deps.watch?.ensure(scope.agent);
    const cap = this.deps.settings.maxEventsPerView;
    const { timeMin, timeMax } = windowOf(from, to);
    const key = `${timeMin}|${timeMax}`;
    const load = () => this.google(scope, (cal) => loadWindow(cal, timeMin, timeMax, cap));
    const weigh = (w: LoadedWindow) => w.text;
    const build = async (rows: CalendarEvent[], window: LoadedWindow) => {
      const page = this.pageOf(rows, window, args, from, to, cap);
      if (contacts) await contacts.attach(page.edges.flatMap((e) => e.node.attendees));
      return page;
    };
    // Our writes first, then the window: a write a delivery settles in between was read pending (and is laid over
    // whatever Google's window has), or the window is as new as its settling, since the delivery bumps the replicas'
    // generation in the same transaction (calendar.delivery.ts). Read the other way round, a view on another replica
    // could show it neither way.
    if (!this.cache.keeps) return build(await this.unsettled(scope), await this.cache.get(scope, key, load, weigh));

    // The page is kept (pages), stamped with the shared generation it was read at, which every write of ours that a
    // view shows moves in its own transaction (our writes here, their delivery's outcome), the window's load, and, with
    // attendees' contacts, the agent's contact position (contact-changes.ts). Served again, it costs one statement.
    let read: ViewPosition | null = null;
    const stamp = async (): Promise<Stamp> => {
      read = null;
      try {
        if (contacts) await contacts.fresh(); // a sync that finds news moves the position first
        read = await scope.read((m) => viewPosition(m, scope));
      } catch {
        // Answered as without kept pages: the read meets the same trouble where it belongs (the database's fails the
        // query; the contact mirror's only the attendees' contact field, as GatewayContext answers it).
        return null;
      }
      const at: ViewPosition | null = read;
      const kept = at && this.cache.peek(scope.agentId, key, at.generation);
      return at && kept ? stampOf(at, kept.serial, Boolean(contacts)) : null;
    };
    const shape = JSON.stringify([from, to, args.first, args.after ?? null, Boolean(contacts)]);
    return this.pages.page(scope, shape, stamp, async (): Promise<Read<EventConnectionType>> => {
      const at: ViewPosition | null = read;
      const rows = await this.unsettled(scope);
      const shared = await this.cache.generation(scope);
      const window = await this.cache.getAt(scope, key, shared, load, weigh);
      const page = await build(rows, window);
      // Kept only when nothing our views show committed between the stamp and the window's generation, and the window
      // is the one kept.
      const kept = at && shared === at.generation ? this.cache.peek(scope.agentId, key, shared) : undefined;
      return {
        page,
        bytes: () => JSON.stringify(page).length,
        keepAs: kept?.value === window ? stampOf(at!, kept.serial, Boolean(contacts)) : null,
      };
    });
  }

  /** The kept pages of events: how many, their weight, how many requests they answered (tests). */
  get pageStats(): KeptPages<EventConnectionType>['stats'] {
    return this.pages.stats;
  }

  /** Forgets every kept page of events (tests). */
  forgetPages(): void {
    this.pages.clear();
  }

  /** The page of Google's window with our writes laid over (`rows`, unsettled). */
  private pageOf(
    rows: CalendarEvent[],
    window: LoadedWindow,
    args: { from: DateTimeValue; to: DateTimeValue; first: number; after?: string | null },
    from: number,
    to: number,
    cap: number,
  ): EventConnectionType {
    if (window.overCap) {
      throw badInput(
        `The range from ${args.from.raw} to ${args.to.raw} holds more than ${cap} events (counted over the whole UTC days it touches), the most one events() query reads; ask for a shorter range`,
        { field: 'to', maxEvents: cap },
      );
    }
    const google = inRange(window, from, to);
    const { events, local } = overlay(rows, google, from, to);
    let list = events.sort(byStart);
    if (args.after) {
      const [ms, id] = decodeCursor(args.after, ['number', 'string']);
      list = list.filter((e) => startMs(e) > ms || (startMs(e) === ms && (e.id ?? '') > id));
    }
    return {
      ...pageOf(list, args.first, cursorOf, (e) => toEventType(e, local.get(e.id!))),
      totalCount: events.length,
    };
  }

  /** Our writes Google does not have yet, or refused: the only local rows a read needs. */
  private async unsettled(scope: TenantScope): Promise<CalendarEvent[]> {
    // Read on every events() answer: rows as they are, the statement built once (src/db/statements.ts).
    return readRows(
      scope.agentQuery(CalendarEvent, 'e').andWhere("(e.pendingOp IS NOT NULL OR e.syncState = 'FAILED')"),
      'e',
      EVENT_ROW_COLUMNS,
    );
  }

  /** Events by id (Google's, or our pending version). Used by the per-request loader. */
  async getMany(scope: TenantScope, ids: readonly string[]): Promise<(EventType | null)[]> {
    const rows = await this.unsettled(scope);
    const local = new Map(rows.map((r) => [r.googleEventId, r]));
    return Promise.all(
      ids.map(async (id) => {
        const l = local.get(id);
        if (l?.pendingOp === 'delete') return null;
        if (l?.pendingOp === 'create') return toEventType(JSON.parse(l.body!) as GoogleEvent, l);
        if (isRefusedCreate(l)) return toEventType(JSON.parse(l!.body!) as GoogleEvent, l); // a create Google refused
        const e = await this.fetch(scope, id);
        if (!e || e.status === 'cancelled') return null;
        return toEventType(l?.pendingOp === 'patch' ? { ...e, ...(JSON.parse(l.body!) as GoogleEvent) } : e, l);
      }),
    );
  }

  private async fetch(scope: TenantScope, id: string): Promise<GoogleEvent | null> {
    if (!isEventId(id)) return null; // not a Google event id: nothing to ask
    try {
      return await this.google(scope, (cal) => cal.getEvent(id));
    } catch (err) {
      if (err instanceof AppError && err.extensions.code === ErrorCode.NOT_FOUND) return null;
      throw err;
    }
  }

  /** `idempotencyKey`: the same key answers the event its first request created (src/idempotency/idempotency.ts). */
  async create(scope: TenantScope, input: EventInput, idempotencyKey?: string | null): Promise<EventType> {
    const key = keyed('createEvent', idempotencyKey, input);
    return createOnce(
      scope,
      key,
      () => this.insert(scope, input, key),
      (ids) => this.replay(scope, key!, ids[0]),
    );
  }

  private async insert(scope: TenantScope, input: EventInput, key: Keyed | null): Promise<EventType> {
    // Our own id: a retried insert meets 409 instead of making a copy.
    const googleEventId = newEventId();
    const body = googleEventFromInput(googleEventId, input);
    const now = new Date();
    const row: CalendarEvent = {
      id: randomUUID(),
      brokerageId: scope.brokerageId,
      agentId: scope.agentId,
      googleEventId,
      etag: null,
      pendingOp: 'create',
      body: storedBody(body),
      baseEtag: null,
      event: null,
      syncState: 'PENDING',
      syncError: null,
      conflicts: null,
      unconfirmed: null,
      createdAt: now,
      updatedAt: now,
    };
    const seqs = await scope.transaction(async (m) => {
      await this.cache.invalidateWithin(m, scope);
      if (key) await remember(m, scope, key, [googleEventId], now);
      await m.getRepository(CalendarEvent).insert(row);
      return CALENDAR_OUTBOX.write(m, scope, { kind: 'create', entityId: row.id }, now);
    });
    return this.afterWrite(scope, seqs, googleEventId);
  }

  /** The event a key's first request created, as it is now. */
  private async replay(scope: TenantScope, key: Keyed, googleEventId: string): Promise<EventType> {
    const [e] = await this.getMany(scope, [googleEventId]);
    if (!e) throw createdThenDeleted(key, 'event');
    return e;
  }

  async update(scope: TenantScope, id: string, patch: EventPatch): Promise<EventType> {
    if (!isEventId(id)) throw notFound('Event', id); // before any query: MySQL's ASCII id column refuses other text
    const { etag, ...changes } = patch;
    const existing = await scope.findOneForAgent(CalendarEvent, { googleEventId: id });
    if (existing?.pendingOp === 'delete') throw notFound('Event', id);
    let current: GoogleEvent | null;
    if (existing?.pendingOp === 'create' || isRefusedCreate(existing))
      current = JSON.parse(existing!.body!) as GoogleEvent;
    else {
      current = await this.fetch(scope, id);
      if (current && existing?.pendingOp === 'patch')
        current = { ...current, ...(JSON.parse(existing.body!) as GoogleEvent) };
    }
    if (!current || current.status === 'cancelled') throw notFound('Event', id);
    const body = googlePatch(current, changes);
    // Nothing to change: also with an etag gone stale, the event already is what the caller asked for (a retry of an
    // update that was applied, its answer lost): it is answered as it is, not CONFLICT.
    // (A write Google refused is not: the same values sent again are a new attempt, and they clear the failure.)
    if (
      existing?.syncState !== 'FAILED' &&
      Object.entries(body).every(([k, v]) => sameValue(v, (current as Record<string, unknown>)[k]))
    )
      return toEventType(current, existing);
    if (etag && current.etag && etag !== current.etag) {
      throw new AppError(
        ErrorCode.CONFLICT,
        `Event ${id} changed since you read it (your etag ${etag}, current ${current.etag}); apply your change to the current version`,
        { current: toEventType(current, existing) },
      );
    }
    const seqs = await this.recordPatch(scope, id, current, body);
    return this.afterWrite(scope, seqs, id);
  }

  /**
   * Records a patch in one transaction, against the row as it is now (a delivery may have settled a pending
   * create since `current` was read): folded into a pending insert, or queued as a patch based on the etag we
   * hold. Two first edits of one event at once meet the unique index; the loser retries on the winner's row.
   */
  private async recordPatch(
    scope: TenantScope,
    id: string,
    current: GoogleEvent,
    body: GoogleEvent,
    attempt = 0,
  ): Promise<number[]> {
    const now = new Date();
    try {
      return await scope.transaction(async (m, tx) => {
        await this.cache.invalidateWithin(m, scope);
        const row = await tx.findOneForAgent(CalendarEvent, { googleEventId: id });
        if (row?.pendingOp === 'delete') throw notFound('Event', id);
        if (row?.pendingOp === 'create' || isRefusedCreate(row)) {
          // Not in Google yet (or refused there): fold the change into the insert, which goes (again) with it.
          const folded = storedBody({ ...(JSON.parse(row!.body!) as GoogleEvent), ...body });
          await putPending(m, scope, id, row, { pendingOp: 'create', body: folded }, {}, now);
          return CALENDAR_OUTBOX.write(m, scope, { kind: 'create', entityId: row!.id }, now);
        }
        const pending = row?.pendingOp === 'patch' ? (JSON.parse(row.body!) as GoogleEvent) : null;
        const merged = pending ? { ...pending, ...body } : body;
        const baseEtag = pending ? row!.baseEtag : (row?.etag ?? current.etag ?? null);
        // The pending patch may be in Google already, unanswered: the values this change replaces are kept, so that
        // meeting them there is known for our own write (src/outbox/unconfirmed.ts).
        const unconfirmed = pending
          ? withReplaced(row!.unconfirmed, pending, body, Object.keys(body))
          : (row?.unconfirmed ?? null);
        const change = { pendingOp: 'patch' as const, body: storedBody(merged), baseEtag, unconfirmed };
        const rowId = await putPending(
          m,
          scope,
          id,
          row,
          change,
          { etag: current.etag ?? null, event: JSON.stringify(current) },
          now,
        );
        return CALENDAR_OUTBOX.write(m, scope, { kind: 'patch', entityId: rowId }, now);
      });
    } catch (err) {
      if (attempt === 0 && isUniqueViolation(err)) return this.recordPatch(scope, id, current, body, 1);
      throw err;
    }
  }

  async delete(scope: TenantScope, id: string): Promise<boolean> {
    if (!isEventId(id)) throw notFound('Event', id);
    const existing = await scope.findOneForAgent(CalendarEvent, { googleEventId: id });
    // Deleting again is no error (a retry whose answer was lost): on its way to Google, or (below) cancelled there, or
    // gone from Google after a delete of ours (a settled delete leaves its row without an operation, body or event).
    if (existing?.pendingOp === 'delete') return true;
    if (isRefusedCreate(existing)) {
      // Google never had it: deleting is forgetting our record, which is left as a done delete (so that deleting
      // again answers true). Guarded: a concurrent edit re-queued it meanwhile.
      const res = await scope.transaction(async (m) => {
        await this.cache.invalidateWithin(m, scope);
        return m.getRepository(CalendarEvent).update(
          { id: existing!.id, brokerageId: scope.brokerageId, updatedAt: existing!.updatedAt },
          {
            pendingOp: null,
            body: null,
            event: null,
            etag: null,
            baseEtag: null,
            unconfirmed: null,
            syncState: 'SYNCED',
            syncError: null,
            conflicts: null,
            updatedAt: new Date(),
          },
        );
      });
      if (!res.affected) return this.delete(scope, id);
      return true;
    }
    if (existing?.pendingOp !== 'create') {
      const current = await this.fetch(scope, id);
      // Google never had it, or no longer has it, and we deleted it
      if (!current && isDoneDelete(existing)) return true;
      if (!current) throw notFound('Event', id);
      if (current.status === 'cancelled') return true; // Google keeps a deleted event's id, cancelled
    }
    const now = new Date();
    const seqs = await scope.transaction(async (m) => {
      await this.cache.invalidateWithin(m, scope);
      const rowId = await putPending(m, scope, id, existing, { pendingOp: 'delete' }, {}, now);
      return CALENDAR_OUTBOX.write(m, scope, { kind: 'delete', entityId: rowId }, now);
    });
    await this.deliver(scope, seqs);
    return true;
  }

  /** OutboxWorker.settle; without a key the event says why in syncError (EventResolver.syncError). */
  private async deliver(scope: TenantScope, seqs: number[]): Promise<void> {
    await this.deps.outbox.settle(CALENDAR_OUTBOX, scope, seqs, { feature: 'calendar' });
  }

  /**
   * The calendar part of syncStatus: the change feed's `record` (CalendarSync.record), our writes still on their way
   * to Google and those it refused, the push channel, and what stops the calendar from syncing (`keyProblem`: the
   * brokerage's keys, GatewayContext.keyProblem).
   */
  async status(
    scope: TenantScope,
    state: { record: CalendarSyncRecord; channel: CalendarChannel | null; keyProblem: FeatureProblem | null },
  ): Promise<CalendarSyncStatusType> {
    const { record: rec, channel } = state;
    const counts = await scope.read((m) => laneCounts(m, CALENDAR_OUTBOX.lane(scope)));
    const failed = await scope.findManyForAgent(
      CalendarEvent,
      { syncState: 'FAILED' },
      { order: { updatedAt: 'DESC' }, take: MAX_FAILED_WRITES_SHOWN },
    );
    const error = statusError(state.keyProblem, rec);
    return {
      id: `${scope.agentId}/calendar`,
      lastSyncAt: rec.lastSyncAt,
      lastFullSyncAt: rec.lastFullSyncAt,
      fullSyncs: rec.fullSyncs,
      lastFullSyncReason: rec.lastFullSyncReason,
      staleSince: rec.staleSince,
      error,
      lastError: error?.message ?? null,
      pendingChanges: counts.PENDING,
      failedChanges: counts.FAILED,
      watchExpiresAt: channel?.expiration ?? null,
      failedWrites: failed.map((r) => ({
        eventId: r.googleEventId,
        title: (JSON.parse(r.event ?? r.body ?? '{}') as GoogleEvent).summary ?? null,
        error: r.syncError ?? 'Google refused the change',
        at: r.updatedAt,
      })),
    };
  }

  private async afterWrite(scope: TenantScope, seqs: number[], googleEventId: string): Promise<EventType> {
    await this.deliver(scope, seqs);
    const row = await scope.findOneForAgent(CalendarEvent, { googleEventId });
    if (row && !row.pendingOp && row.event) return toEventType(JSON.parse(row.event) as GoogleEvent, row);
    const [e] = await this.getMany(scope, [googleEventId]);
    if (!e) throw notFound('Event', googleEventId);
    return e;
  }
}
