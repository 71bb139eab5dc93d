/**
 * An agent's calendar. Reads go to Google (the source of truth) through the
 * agent's own session: events.list with singleEvents (recurring series
 * expanded as Google expands them) and orderBy startTime, paged at 2500.
 * A short per-agent cache of ranges answers repeated views; our own writes
 * and push notifications invalidate it (a generation number per agent), and
 * concurrent identical views share one call (single-flight).
 * Writes go through the outbox (calendar.delivery.ts); until Google has them,
 * the pending local version is laid over what Google returns.
 */
import { randomUUID } from 'node:crypto';
import type { calendar_v3 } from '@googleapis/calendar';
import type { DataSource } from 'typeorm';
import { IsNull, Not } from 'typeorm';
import type { TenantScope } from '../auth/tenant-scope';
import { isUniqueViolation } from '../db/unique-violation';
import { CalendarCacheGeneration, CalendarEvent } from '../entities';
import { AppError, badInput, ErrorCode, notFound } from '../errors';
import type { GoogleSessions } from '../google/google-sessions';
import type { Logger } from '../logger';
import { enqueue, type OutboxWorker } from '../outbox/outbox';
import type { DateTimeValue } from './date-time.scalar';
import type { EventInput, EventPatch } from './event.input';
import { googleEventFromInput, googlePatch, startMs, toEventType } from './event.mapper';
import type { EventConnectionType, EventType } from './event.type';

type GEvent = calendar_v3.Schema$Event;

export const CALENDAR_TOPIC = 'calendar';
/** events.list maxResults maximum (Calendar v3 docs: "can never be larger than 2500"). */
export const LIST_PAGE_SIZE = 2500;
export const MAX_EVENTS_PAGE = 500;

export interface CalendarSettings {
  /** How long a listed range is reused, ms. */
  cacheMs: number;
  /** Longest range one events() query may ask for, ms. */
  maxRangeMs: number;
  mutationWaitMs: number;
}

interface CacheEntry {
  generation: number;
  shared: number;
  expiresAt: number;
  events: GEvent[];
}

/**
 * The agent's staleness counter as every process sharing the database sees it
 * (calendar_cache_generation): read before a cached range is served, bumped
 * by every invalidation. Without it, a write delivered or a notification
 * received by one replica would leave the others serving the old view until
 * their entries expire.
 */
export interface SharedGenerations {
  read(agentId: string): Promise<number>;
  bump(agentId: string): Promise<void>;
}

export class DbGenerations implements SharedGenerations {
  constructor(private readonly ds: DataSource) {}

  async read(agentId: string): Promise<number> {
    return (await this.ds.getRepository(CalendarCacheGeneration).findOneBy({ agentId }))?.generation ?? 0;
  }

  async bump(agentId: string): Promise<void> {
    const repo = this.ds.getRepository(CalendarCacheGeneration);
    for (let attempt = 0; attempt < 3; attempt++) {
      const res = await repo.createQueryBuilder().update().set({ generation: () => 'generation + 1' }).where('agentId = :agentId', { agentId }).execute();
      if (res.affected) return;
      try {
        await repo.insert({ agentId, generation: 1 });
        return;
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        // another process inserted it first: bump theirs
      }
    }
    throw new Error(`could not bump the calendar cache generation of agent ${agentId}`);
  }
}

/** Per-agent cache of listed ranges, invalidated by bumping the agent's generation (here and, shared, in the database). */
export class RangeCache {
  private readonly entries = new Map<string, CacheEntry>();
  private readonly generations = new Map<string, number>();
  private readonly inflight = new Map<string, Promise<GEvent[]>>();

  /** maxEvents bounds memory: the cached events of all entries together. */
  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 1000,
    private readonly maxEvents = 200_000,
    private readonly shared?: SharedGenerations,
    private readonly onSharedError: (err: unknown) => void = () => {},
  ) {}

  private events = 0;

  private drop(key: string): void {
    const e = this.entries.get(key);
    if (e) {
      this.events -= e.events.length;
      this.entries.delete(key);
    }
  }

  /** Stale in this process only (a caller that bumps the shared counter later, once for several changes). */
  markStale(agentId: string): void {
    this.generations.set(agentId, (this.generations.get(agentId) ?? 0) + 1);
  }

  /** Stale from now on in this process at once, in the others as soon as the shared counter is bumped. */
  invalidate(agentId: string): Promise<void> {
    this.markStale(agentId);
    // Without a cache (CALENDAR_CACHE_SECONDS=0) nobody reads the shared counter: skip the write.
    return this.shared && this.ttlMs > 0 ? this.shared.bump(agentId).catch(this.onSharedError) : Promise.resolve();
  }

  async get(agentId: string, key: string, load: () => Promise<GEvent[]>): Promise<GEvent[]> {
    const k = `${agentId}|${key}`;
    const hit = this.entries.get(k);
    if (this.ttlMs <= 0 && !hit) return this.serve(agentId, k, 0, load);
    const shared = this.shared ? await this.shared.read(agentId).catch(() => -1) : 0;
    return this.serve(agentId, k, shared, load);
  }

  private serve(agentId: string, k: string, shared: number, load: () => Promise<GEvent[]>): Promise<GEvent[]> {
    const gen = this.generations.get(agentId) ?? 0;
    const hit = this.entries.get(k);
    if (hit && hit.generation === gen && hit.shared === shared && shared !== -1 && hit.expiresAt > Date.now()) return Promise.resolve(hit.events);
    const flight = `${k}|${gen}|${shared}`;
    const running = this.inflight.get(flight);
    if (running) return running;
    const p = load()
      .then((events) => {
        // A write or a notification during the call makes the result stale: answer it, do not keep it.
        if ((this.generations.get(agentId) ?? 0) === gen && shared !== -1 && this.ttlMs > 0) {
          this.drop(k);
          this.entries.set(k, { generation: gen, shared, expiresAt: Date.now() + this.ttlMs, events });
          this.events += events.length;
          // Oldest first (Map order): expired or superseded entries, then whatever exceeds the bounds.
          const now = Date.now();
          for (const [key, e] of this.entries) {
            if (key === k) continue;
            if (e.expiresAt > now && this.entries.size <= this.maxEntries && this.events <= this.maxEvents) break;
            this.drop(key);
          }
        }
        return events;
      })
      .finally(() => this.inflight.delete(flight));
    this.inflight.set(flight, p);
    return p;
  }
}

function encodeCursor(e: GEvent): string {
  return Buffer.from(JSON.stringify([startMs(e), e.id])).toString('base64url');
}

function decodeCursor(c: string): [number, string] {
  try {
    const v = JSON.parse(Buffer.from(c, 'base64url').toString('utf8'));
    if (Array.isArray(v) && typeof v[0] === 'number' && typeof v[1] === 'string') return v as [number, string];
  } catch {
    // fall through
  }
  throw badInput(`"after" is not a cursor this API returned (got "${c.slice(0, 60)}")`, { field: 'after' });
}

/** Start, then id by code units: the same order the `after` cursor filter uses, so pages neither skip nor repeat. */
const byStart = (a: GEvent, b: GEvent) => startMs(a) - startMs(b) || ((a.id ?? '') < (b.id ?? '') ? -1 : (a.id ?? '') > (b.id ?? '') ? 1 : 0);

/** A create Google refused for good: the event exists only in our row (body kept, see CalendarDelivery.onFailure). */
export function isRefusedCreate(row: CalendarEvent | null | undefined): boolean {
  return Boolean(row && row.syncState === 'FAILED' && !row.pendingOp && !row.event && row.body);
}

export class CalendarService {
  readonly cache: RangeCache;

  constructor(private readonly deps: { ds: DataSource; sessions: GoogleSessions; outbox: OutboxWorker; settings: CalendarSettings; onUse?: (scope: TenantScope) => void; log?: Logger }) {
    this.cache = new RangeCache(deps.settings.cacheMs, undefined, undefined, new DbGenerations(deps.ds), (err) => deps.log?.warn({ err }, 'could not mark calendar views stale for the other replicas'));
  }

  private lane(scope: TenantScope) {
    return { topic: CALENDAR_TOPIC, brokerageId: scope.brokerageId, agentId: scope.agentId };
  }

  private async google<T>(scope: TenantScope, call: (cal: calendar_v3.Calendar) => Promise<T>): Promise<T> {
    const session = await this.deps.sessions.forAgent(scope.brokerageId, scope.caller.email);
    const cal = await session.calendar();
    try {
      return await call(cal);
    } catch (err) {
      throw session.toAppError(err, 'calendar');
    }
  }

  async list(scope: TenantScope, args: { from: DateTimeValue; to: DateTimeValue; first: number; after?: string | null }): Promise<EventConnectionType> {
    const from = args.from.instant.getTime();
    const to = args.to.instant.getTime();
    if (to <= from) throw badInput(`"to" (${args.to.raw}) must be after "from" (${args.from.raw})`, { field: 'to' });
    if (to - from > this.deps.settings.maxRangeMs) throw badInput(`The range may span at most ${Math.round(this.deps.settings.maxRangeMs / 86_400_000)} days (got ${Math.ceil((to - from) / 86_400_000)})`, { field: 'to' });
    if (!Number.isInteger(args.first) || args.first < 1 || args.first > MAX_EVENTS_PAGE) throw badInput(`"first" must be from 1 to ${MAX_EVENTS_PAGE} (got ${args.first})`, { field: 'first' });
    this.deps.onUse?.(scope);
    const timeMin = new Date(from).toISOString();
    const timeMax = new Date(to).toISOString();
    const google = await this.cache.get(scope.agentId, `${timeMin}|${timeMax}`, () =>
      this.google(scope, async (cal) => {
        const items: GEvent[] = [];
        let pageToken: string | undefined;
        do {
          const res = await cal.events.list({ calendarId: 'primary', timeMin, timeMax, singleEvents: true, orderBy: 'startTime', maxResults: LIST_PAGE_SIZE, pageToken });
          items.push(...(res.data.items ?? []));
          pageToken = res.data.nextPageToken ?? undefined;
        } while (pageToken);
        return items;
      }),
    );
    const { events, local } = await this.overlay(scope, google, from, to);
    let list = events.sort(byStart);
    if (args.after) {
      const [ms, id] = decodeCursor(args.after);
      list = list.filter((e) => startMs(e) > ms || (startMs(e) === ms && (e.id ?? '') > id));
    }
    const page = list.slice(0, args.first);
    return {
      edges: page.map((e) => ({ cursor: encodeCursor(e), node: toEventType(e, local.get(e.id!)) })),
      pageInfo: { hasNextPage: list.length > args.first, endCursor: page.length ? encodeCursor(page[page.length - 1]) : null },
      totalCount: events.length,
    };
  }

  /** Google's events with our not-yet-delivered writes laid over them (read your writes). */
  private async overlay(scope: TenantScope, google: GEvent[], from: number, to: number): Promise<{ events: GEvent[]; local: Map<string, CalendarEvent> }> {
    const rows = await this.unsettled(scope);
    const local = new Map(rows.map((r) => [r.googleEventId, r]));
    const pending = rows.filter((r) => r.pendingOp);
    if (pending.length === 0) return { events: google, local };
    const byId = new Map(google.map((e) => [e.id!, e]));
    for (const r of pending) {
      const body = JSON.parse(r.body ?? '{}') as GEvent;
      if (r.pendingOp === 'delete') byId.delete(r.googleEventId);
      else if (r.pendingOp === 'create' && !body.recurrence?.length) {
        const e = { ...body, etag: null };
        const s = startMs(e);
        const end = new Date(e.end?.dateTime ?? `${e.end?.date}T00:00:00Z`).getTime();
        if (end > from && s < to) byId.set(r.googleEventId, e);
      } else if (r.pendingOp === 'patch' && byId.has(r.googleEventId)) byId.set(r.googleEventId, { ...byId.get(r.googleEventId), ...body });
    }
    return { events: [...byId.values()], local };
  }

  /** Our writes Google does not have yet, or refused: the only local rows a read needs. */
  private async unsettled(scope: TenantScope): Promise<CalendarEvent[]> {
    const [pending, failed] = await Promise.all([
      scope.findForAgent(CalendarEvent, { pendingOp: Not(IsNull()) }),
      scope.findForAgent(CalendarEvent, { syncState: 'FAILED' }),
    ]);
    return [...pending, ...failed.filter((f) => !f.pendingOp)];
  }

  /** Events by id (Google's, or our pending version). Used by the per-request loader. */
  async getMany(scope: TenantScope, ids: readonly string[]): Promise<(EventType | null)[]> {
    const rows = await this.unsettled(scope);
    const local = new Map(rows.map((r) => [r.googleEventId, r]));
    return Promise.all(
      ids.map(async (id) => {
        const l = local.get(id);
        if (l?.pendingOp === 'delete') return null;
        if (l?.pendingOp === 'create') return toEventType(JSON.parse(l.body!) as GEvent, l);
        if (isRefusedCreate(l)) return toEventType(JSON.parse(l!.body!) as GEvent, l); // a create Google refused
        const e = await this.fetch(scope, id);
        if (!e || e.status === 'cancelled') return null;
        return toEventType(l?.pendingOp === 'patch' ? { ...e, ...(JSON.parse(l.body!) as GEvent) } : e, l);
      }),
    );
  }

  private async fetch(scope: TenantScope, id: string): Promise<GEvent | null> {
    if (!/^[A-Za-z0-9_]{1,255}$/.test(id)) return null; // not a Google event id: nothing to ask
    try {
      return await this.google(scope, async (cal) => (await cal.events.get({ calendarId: 'primary', eventId: id })).data);
    } catch (err) {
      if (err instanceof AppError && err.extensions.code === ErrorCode.NOT_FOUND) return null;
      throw err;
    }
  }

  async create(scope: TenantScope, input: EventInput): Promise<EventType> {
    // Our own id (a UUID's hex is valid base32hex): a retried insert meets 409 instead of making a copy.
    const googleEventId = randomUUID().replace(/-/g, '');
    const body = googleEventFromInput(googleEventId, input);
    const now = new Date();
    const row: CalendarEvent = { id: randomUUID(), brokerageId: scope.brokerageId, agentId: scope.agentId, googleEventId, etag: null, pendingOp: 'create', body: JSON.stringify(body), baseEtag: null, event: null, syncState: 'PENDING', syncError: null, conflicts: null, createdAt: now, updatedAt: now };
    const seqs = await scope.manager.transaction(async (m) => {
      await m.getRepository(CalendarEvent).insert(row);
      return enqueue(m, [{ lane: this.lane(scope), kind: 'create', entityId: row.id }], now);
    });
    return this.afterWrite(scope, seqs, googleEventId);
  }

  async update(scope: TenantScope, id: string, patch: EventPatch): Promise<EventType> {
    const { etag, ...changes } = patch;
    const existing = await scope.findOneForAgent(CalendarEvent, { googleEventId: id });
    if (existing?.pendingOp === 'delete') throw notFound('Event', id);
    let current: GEvent | null;
    if (existing?.pendingOp === 'create' || isRefusedCreate(existing)) current = JSON.parse(existing!.body!) as GEvent;
    else {
      current = await this.fetch(scope, id);
      if (current && existing?.pendingOp === 'patch') current = { ...current, ...(JSON.parse(existing.body!) as GEvent) };
    }
    if (!current || current.status === 'cancelled') throw notFound('Event', id);
    if (etag && current.etag && etag !== current.etag) {
      throw new AppError(ErrorCode.CONFLICT, `Event ${id} changed since you read it (your etag ${etag}, current ${current.etag}); apply your change to the current version`, { current: toEventType(current, existing) });
    }
    const body = googlePatch(current, changes);
    if (Object.keys(body).length === 0) return toEventType(current, existing);
    const seqs = await this.recordPatch(scope, id, current, body);
    return this.afterWrite(scope, seqs, id);
  }

  /**
   * Records a patch in one transaction, against the row as it is now (a delivery may have settled a pending
   * create since `current` was read): folded into a pending insert, or queued as a patch based on the etag we
   * hold. Two first edits of one event at once meet the unique index; the loser retries on the winner's row.
   */
  private async recordPatch(scope: TenantScope, id: string, current: GEvent, body: GEvent, attempt = 0): Promise<number[]> {
    const now = new Date();
    try {
      return await scope.manager.transaction(async (m) => {
        const repo = m.getRepository(CalendarEvent);
        const row = await scope.within(m).findOneForAgent(CalendarEvent, { googleEventId: id });
        if (row?.pendingOp === 'delete') throw notFound('Event', id);
        if (row?.pendingOp === 'create' || isRefusedCreate(row)) {
          // Not in Google yet (or refused there): fold the change into the insert, which goes (again) with it.
          await repo.update({ id: row!.id }, { pendingOp: 'create', body: JSON.stringify({ ...(JSON.parse(row!.body!) as GEvent), ...body }), syncState: 'PENDING', syncError: null, updatedAt: now });
          return enqueue(m, [{ lane: this.lane(scope), kind: 'create', entityId: row!.id }], now);
        }
        const merged = row?.pendingOp === 'patch' ? { ...(JSON.parse(row.body!) as GEvent), ...body } : body;
        const baseEtag = row?.pendingOp === 'patch' ? row.baseEtag : (row?.etag ?? current.etag ?? null);
        let rowId = row?.id;
        if (row) await repo.update({ id: row.id }, { pendingOp: 'patch', body: JSON.stringify(merged), baseEtag, syncState: 'PENDING', syncError: null, updatedAt: now });
        else {
          rowId = randomUUID();
          await repo.insert({ id: rowId, brokerageId: scope.brokerageId, agentId: scope.agentId, googleEventId: id, etag: current.etag ?? null, pendingOp: 'patch', body: JSON.stringify(merged), baseEtag, event: JSON.stringify(current), syncState: 'PENDING', syncError: null, conflicts: null, createdAt: now, updatedAt: now });
        }
        return enqueue(m, [{ lane: this.lane(scope), kind: 'patch', entityId: rowId! }], now);
      });
    } catch (err) {
      if (attempt === 0 && isUniqueViolation(err)) return this.recordPatch(scope, id, current, body, 1);
      throw err;
    }
  }

  async delete(scope: TenantScope, id: string): Promise<boolean> {
    const existing = await scope.findOneForAgent(CalendarEvent, { googleEventId: id });
    if (existing?.pendingOp === 'delete') throw notFound('Event', id);
    if (isRefusedCreate(existing)) {
      // Google never had it: deleting is forgetting our record (guarded: a concurrent edit re-queued it meanwhile).
      const res = await scope.manager.getRepository(CalendarEvent).delete({ id: existing!.id, updatedAt: existing!.updatedAt });
      if (!res.affected) return this.delete(scope, id);
      await this.cache.invalidate(scope.agentId);
      return true;
    }
    if (existing?.pendingOp !== 'create') {
      const current = await this.fetch(scope, id);
      if (!current || current.status === 'cancelled') throw notFound('Event', id);
    }
    const now = new Date();
    const seqs = await scope.manager.transaction(async (m) => {
      const repo = m.getRepository(CalendarEvent);
      let rowId = existing?.id;
      if (existing) await repo.update({ id: existing.id }, { pendingOp: 'delete', syncState: 'PENDING', syncError: null, updatedAt: now });
      else {
        rowId = randomUUID();
        await repo.insert({ id: rowId, brokerageId: scope.brokerageId, agentId: scope.agentId, googleEventId: id, etag: null, pendingOp: 'delete', body: null, baseEtag: null, event: null, syncState: 'PENDING', syncError: null, conflicts: null, createdAt: now, updatedAt: now });
      }
      return enqueue(m, [{ lane: this.lane(scope), kind: 'delete', entityId: rowId! }], now);
    });
    await this.cache.invalidate(scope.agentId);
    this.deps.outbox.kick(this.lane(scope));
    await this.deps.outbox.waitFor(seqs, this.deps.settings.mutationWaitMs);
    return true;
  }

  private async afterWrite(scope: TenantScope, seqs: number[], googleEventId: string): Promise<EventType> {
    await this.cache.invalidate(scope.agentId);
    this.deps.outbox.kick(this.lane(scope));
    await this.deps.outbox.waitFor(seqs, this.deps.settings.mutationWaitMs);
    const row = await scope.findOneForAgent(CalendarEvent, { googleEventId });
    if (row && !row.pendingOp && row.event) return toEventType(JSON.parse(row.event) as GEvent, row);
    const [e] = await this.getMany(scope, [googleEventId]);
    if (!e) throw notFound('Event', googleEventId);
    return e;
  }
}
