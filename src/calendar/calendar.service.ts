/**
 * An agent's calendar. Reads go to Google (the source of truth) through the
 * agent's own session: events.list with singleEvents (recurring series
 * expanded as Google expands them) and orderBy startTime, paged at 2500.
 * Google is asked for the view's range widened to whole UTC days, and the
 * exact range is cut out in memory, so views over the same days share one
 * load (single flight) and one entry of a short per-agent cache; our own
 * writes and push notifications invalidate it (a generation number per agent).
 * A load past MAX_EVENTS_PER_LOAD events stops and the view asks for a
 * shorter range; each agent runs a few loads at once and holds a bounded
 * share of the cache (RangeCache).
 * Writes go through the outbox (calendar.delivery.ts); until Google has them,
 * the pending local version is laid over what Google returns.
 */
import { randomUUID } from 'node:crypto';
import type { calendar_v3 } from '@googleapis/calendar';
import { DateTime } from 'luxon';
import type { DataSource } from 'typeorm';
import { IsNull, Not } from 'typeorm';
import type { TenantScope } from '../auth/tenant-scope';
import { checkFirst, decodeCursor, encodeCursor, pageOf } from '../graphql/connection';
import { isUniqueViolation } from '../db/unique-violation';
import { CalendarCacheGeneration, CalendarEvent } from '../entities';
import { AppError, badInput, ErrorCode, notFound } from '../errors';
import { createdThenDeleted, createOnce, keyed, remember, type Keyed } from '../idempotency/idempotency';
import { isTokenRejected } from '../google/google-errors';
import type { GoogleSessions } from '../google/google-sessions';
import type { Logger } from '../logger';
import { withReplaced } from '../outbox/unconfirmed';
import { CALENDAR_OUTBOX } from '../outbox/topics';
import type { OutboxWorker } from '../outbox/worker';
import type { DateTimeValue } from './date-time.scalar';
import type { EventInput, EventPatch } from './event.input';
import { googleEventFromInput, googlePatch, sameValue, startMs, toEventType } from './event.mapper';
import type { EventConnectionType, EventType } from './event.type';

type GEvent = calendar_v3.Schema$Event;

/** events.list maxResults maximum (Calendar v3 docs: "can never be larger than 2500"). */
export const LIST_PAGE_SIZE = 2500;
export const MAX_EVENTS_PAGE = 500;

/**
 * Most events one view loads from Google, counted over the whole UTC days its range touches (VIEW_GRID_MS). A load
 * stops at the first page past it and the view answers BAD_USER_INPUT ("ask for a shorter range") instead of a
 * partial list: totalCount, the order and the cursors all need the whole range. 10,000 events is four full pages;
 * a busy agent's year at 20 events a day is 7,300. An event with a few attendees is ~1.4 KB of heap (measured), so a
 * load holds at most ~17 MiB (the cap plus the page that crossed it); without the cap a 366-day range of 200 daily
 * series was ~73,600 events (~100 MiB) in one array, per view. (Per service: CalendarSettings.maxEventsPerLoad.)
 */
export const MAX_EVENTS_PER_LOAD = 10_000;
/**
 * Google is asked for the range widened to whole UTC days, and each view keeps its exact range in memory: views whose
 * ranges touch the same days (the same month asked again with `from` 1 ms later, "the year around now" asked all day)
 * share one load and one cache entry instead of each being a new key.
 */
export const VIEW_GRID_MS = 86_400_000;
/** Loads (events.list page runs) one agent may have running at once; further windows wait their turn. */
export const MAX_LOADS_PER_AGENT = 2;
/**
 * Distinct windows one agent may have waiting for a load; beyond, a view is refused with RATE_LIMITED rather than
 * queued (a thousand distinct-day views would otherwise keep calling Google for minutes, long after their clients left).
 */
export const MAX_WAITING_LOADS_PER_AGENT = 24; // two years of month views asked at once
const LOAD_RETRY_AFTER_SECONDS = 2;
/** Cached windows and their events in the whole process. */
export const MAX_CACHED_WINDOWS = 1000;
export const MAX_CACHED_EVENTS = 100_000;
/** One agent's share of the cache: two full windows. */
export const MAX_CACHED_WINDOWS_PER_AGENT = 50;
export const MAX_CACHED_EVENTS_PER_AGENT = 2 * MAX_EVENTS_PER_LOAD;

export interface CalendarSettings {
  /** How long a listed range is reused, ms. */
  cacheMs: number;
  /** Longest range one events() query may ask for, ms. */
  maxRangeMs: number;
  mutationWaitMs: number;
  /** Most events one view loads (default MAX_EVENTS_PER_LOAD). */
  maxEventsPerLoad?: number;
}

/** What one agent may hold of the cache and run at once. */
export interface AgentBounds {
  maxLoadsPerAgent: number;
  /** Loads of one agent waiting for a turn; more are refused with RATE_LIMITED (default MAX_WAITING_LOADS_PER_AGENT). */
  maxWaitingLoadsPerAgent?: number;
  maxWindowsPerAgent: number;
  maxEventsPerAgent: number;
}

export const AGENT_BOUNDS: AgentBounds = { maxLoadsPerAgent: MAX_LOADS_PER_AGENT, maxWindowsPerAgent: MAX_CACHED_WINDOWS_PER_AGENT, maxEventsPerAgent: MAX_CACHED_EVENTS_PER_AGENT };

interface CacheEntry {
  generation: number;
  shared: number;
  expiresAt: number;
  value: unknown;
  /** events held, for the bounds */
  weight: number;
}

/** One window as Google listed it, or the mark that it holds more events than a view may load (then nothing held). */
interface LoadedWindow {
  events: GEvent[];
  /** start and end instants of events[i] at 2i and 2i + 1, all-day dates in the calendar's time zone as Google reads them */
  spans: Float64Array;
  overCap: boolean;
}

/**
 * The agent's staleness counter as every process sharing the database sees it
 * (calendar_cache_generation): read before a cached range is served, bumped
 * by every invalidation. Without it, a write delivered or a notification
 * received by one replica would leave the others serving the old view until
 * their entries expire.
 *
 * The agent is named with its brokerage, the tenant key every statement names (a sharded database finds the row
 * on one shard).
 */
export interface SharedGenerations {
  read(agent: CacheAgent): Promise<number>;
  bump(agent: CacheAgent): Promise<void>;
}

/** An agent as the cache keys it: its id, and its brokerage for the shared counter's statements. */
export interface CacheAgent {
  brokerageId: string;
  agentId: string;
}

export class DbGenerations implements SharedGenerations {
  constructor(private readonly ds: DataSource) {}

  async read({ brokerageId, agentId }: CacheAgent): Promise<number> {
    return (await this.ds.getRepository(CalendarCacheGeneration).findOneBy({ agentId, brokerageId }))?.generation ?? 0;
  }

  async bump({ brokerageId, agentId }: CacheAgent): Promise<void> {
    const repo = this.ds.getRepository(CalendarCacheGeneration);
    for (let attempt = 0; attempt < 3; attempt++) {
      const res = await repo
        .createQueryBuilder()
        .update()
        .set({ generation: () => 'generation + 1' })
        .where('agentId = :agentId AND brokerageId = :brokerageId', { agentId, brokerageId })
        .execute();
      if (res.affected) return;
      try {
        await repo.insert({ agentId, brokerageId, generation: 1 });
        return;
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        // another process inserted it first: bump theirs
      }
    }
    throw new Error(`could not bump the calendar cache generation of agent ${agentId}`);
  }
}

/**
 * Per-agent cache of listed windows, invalidated by bumping the agent's generation (here and, shared, in the
 * database). Concurrent asks for one window share one load (single flight). Bounded three ways, so that one agent's
 * burst costs the others nothing beyond reason: each agent runs at most `maxLoadsPerAgent` loads at once (the rest
 * wait in order; a waiting window is still shared by everyone who asks for it); each agent keeps at most its share of
 * windows and events (its own oldest go first); and when the process-wide bounds are exceeded, the agent holding the
 * most gives way, so an agent with less than the biggest holder is never evicted for someone else's window.
 */
export class RangeCache {
  /** agent → window key → entry, oldest first */
  private readonly entries = new Map<string, Map<string, CacheEntry>>();
  /** events held per agent */
  private readonly held = new Map<string, number>();
  private windows = 0;
  private events = 0;
  private readonly generations = new Map<string, number>();
  private readonly inflight = new Map<string, Promise<unknown>>();
  private readonly loads = new Map<string, { running: number; waiting: Array<() => void> }>();

  /** maxEntries and maxEvents bound the whole process; `bounds` each agent. */
  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = MAX_CACHED_WINDOWS,
    private readonly maxEvents = MAX_CACHED_EVENTS,
    private readonly shared?: SharedGenerations,
    private readonly onSharedError: (err: unknown) => void = () => {},
    private readonly bounds: AgentBounds = AGENT_BOUNDS,
  ) {}

  private drop(agentId: string, key: string): void {
    const mine = this.entries.get(agentId);
    const e = mine?.get(key);
    if (!mine || !e) return;
    mine.delete(key);
    this.windows--;
    this.events -= e.weight;
    const left = (this.held.get(agentId) ?? 0) - e.weight;
    if (mine.size === 0) {
      this.entries.delete(agentId);
      this.held.delete(agentId);
    } else this.held.set(agentId, left);
  }

  /** Stale in this process only (a caller that bumps the shared counter later, once for several changes). */
  markStale(agentId: string): void {
    this.generations.set(agentId, (this.generations.get(agentId) ?? 0) + 1);
    // Entries of the old generation can never be served again: free them now rather than when evicted.
    for (const key of [...(this.entries.get(agentId)?.keys() ?? [])]) this.drop(agentId, key);
  }

  /** Stale from now on in this process at once, in the others as soon as the shared counter is bumped. */
  invalidate(agent: CacheAgent): Promise<void> {
    this.markStale(agent.agentId);
    // Without a cache (CALENDAR_CACHE_SECONDS=0) nobody reads the shared counter: skip the write.
    return this.shared && this.ttlMs > 0 ? this.shared.bump(agent).catch(this.onSharedError) : Promise.resolve();
  }

  /** The agent's window `key`: cached, joined to the load under way, or loaded. `weigh` counts its events (an array's length by default). */
  async get<T = GEvent[]>(agent: CacheAgent, key: string, load: () => Promise<T>, weigh: (value: T) => number = (v) => (v as unknown[]).length): Promise<T> {
    const { agentId } = agent;
    const hit = this.entries.get(agentId)?.get(key);
    if (this.ttlMs <= 0 && !hit) return this.serve(agentId, key, 0, load, weigh);
    const shared = this.shared ? await this.shared.read(agent).catch(() => -1) : 0;
    return this.serve(agentId, key, shared, load, weigh);
  }

  private serve<T>(agentId: string, key: string, shared: number, load: () => Promise<T>, weigh: (value: T) => number): Promise<T> {
    const gen = this.generations.get(agentId) ?? 0;
    const hit = this.entries.get(agentId)?.get(key);
    if (hit && hit.generation === gen && hit.shared === shared && shared !== -1 && hit.expiresAt > Date.now()) return Promise.resolve(hit.value as T);
    const flight = `${agentId}|${key}|${gen}|${shared}`;
    const running = this.inflight.get(flight);
    if (running) return running as Promise<T>;
    const p = this.limited(agentId, load)
      .then((value) => {
        // A write or a notification during the call makes the result stale: answer it, do not keep it.
        if ((this.generations.get(agentId) ?? 0) === gen && shared !== -1 && this.ttlMs > 0) {
          this.keep(agentId, key, { generation: gen, shared, expiresAt: Date.now() + this.ttlMs, value, weight: weigh(value) });
        }
        return value;
      })
      .finally(() => this.inflight.delete(flight));
    this.inflight.set(flight, p);
    return p;
  }

  /** Runs the load once fewer than maxLoadsPerAgent loads of the agent are running; otherwise when one ends (in order). */
  private async limited<T>(agentId: string, load: () => Promise<T>): Promise<T> {
    let slots = this.loads.get(agentId);
    if (!slots) this.loads.set(agentId, (slots = { running: 0, waiting: [] }));
    const mine = slots;
    if (mine.running < this.bounds.maxLoadsPerAgent) mine.running++;
    else if (mine.waiting.length >= (this.bounds.maxWaitingLoadsPerAgent ?? MAX_WAITING_LOADS_PER_AGENT)) {
      throw new AppError(ErrorCode.RATE_LIMITED, `Too many different calendar ranges are being loaded for you at once; ask again in ${LOAD_RETRY_AFTER_SECONDS} s`, { retryAfterSeconds: LOAD_RETRY_AFTER_SECONDS });
    } else await new Promise<void>((resolve) => mine.waiting.push(resolve)); // a finishing load hands its slot over
    try {
      return await load();
    } finally {
      const next = mine.waiting.shift();
      if (next) next();
      else if (--mine.running === 0) this.loads.delete(agentId);
    }
  }

  private keep(agentId: string, key: string, entry: CacheEntry): void {
    this.drop(agentId, key);
    // Larger than the agent's whole share: keeping it would push out everything else the agent has. Answer it only.
    if (entry.weight > this.bounds.maxEventsPerAgent) return;
    const now = Date.now();
    for (const [agent, windows] of this.entries) {
      const gen = this.generations.get(agent) ?? 0;
      for (const [k, e] of [...windows]) if (e.expiresAt <= now || e.generation !== gen) this.drop(agent, k);
    }
    let mine = this.entries.get(agentId);
    if (!mine) this.entries.set(agentId, (mine = new Map()));
    mine.set(key, entry);
    this.windows++;
    this.events += entry.weight;
    this.held.set(agentId, (this.held.get(agentId) ?? 0) + entry.weight);
    // The agent's own share: its oldest windows go.
    while (mine.size > this.bounds.maxWindowsPerAgent || this.held.get(agentId)! > this.bounds.maxEventsPerAgent) {
      const oldest = [...mine.keys()].find((k) => k !== key);
      if (oldest === undefined) break;
      this.drop(agentId, oldest);
    }
    // The process: the agent holding the most (events, or windows when those are over) gives its oldest window.
    while (this.windows > this.maxEntries || this.events > this.maxEvents) {
      const byWindows = this.windows > this.maxEntries;
      let victim: { agent: string; key: string } | undefined;
      let most = -1;
      for (const [agent, windows] of this.entries) {
        const oldest = [...windows.keys()].find((k) => agent !== agentId || k !== key);
        const size = byWindows ? windows.size : (this.held.get(agent) ?? 0);
        if (oldest !== undefined && size > most) {
          most = size;
          victim = { agent, key: oldest };
        }
      }
      // Nothing else left to give: the new window alone is over the process bound.
      this.drop(victim?.agent ?? agentId, victim?.key ?? key);
      if (!victim) break;
    }
  }
}

/** The instant an event's start or end stands for: all-day dates begin at midnight in the calendar's zone, as Google reads them for timeMin/timeMax. */
function instantOf(t: calendar_v3.Schema$EventDateTime | undefined, zone: string, midnights: Map<string, number>): number {
  if (t?.dateTime) return Date.parse(t.dateTime);
  const date = t?.date ?? '';
  let ms = midnights.get(date);
  if (ms === undefined) {
    const local = DateTime.fromISO(date, { zone });
    ms = local.isValid ? local.toMillis() : Date.parse(`${date}T00:00:00Z`);
    midnights.set(date, ms);
  }
  return ms;
}

function spansOf(events: GEvent[], zone: string): Float64Array {
  const spans = new Float64Array(events.length * 2);
  const midnights = new Map<string, number>();
  events.forEach((e, i) => {
    spans[2 * i] = instantOf(e.start, zone, midnights);
    spans[2 * i + 1] = instantOf(e.end, zone, midnights);
  });
  return spans;
}

/**
 * The window's events in [from, to) as Google's events.list picks them for that range: end after timeMin, start
 * before timeMax, milliseconds ignored (google-api-notes §3.1), so a view answers what it answered when Google was
 * asked for its exact range.
 */
function inRange(w: LoadedWindow, from: number, to: number): GEvent[] {
  const lo = Math.floor(from / 1000) * 1000;
  const hi = Math.floor(to / 1000) * 1000;
  return w.events.filter((_, i) => w.spans[2 * i + 1] > lo && w.spans[2 * i] < hi);
}

/**
 * The most one write of ours may take as stored JSON (calendar_event.body). Each field has its own limit
 * (event.input.ts), but together at their limits they came to 69-89 KB, which MySQL's TEXT refused as a masked 500.
 * The column is MEDIUMTEXT now (Google's own copies of events may be larger: they are stored whole), and this bound
 * stays what one write of the CRM may carry: a clear BAD_USER_INPUT rather than whatever Google makes of it.
 */
export const MAX_STORED_EVENT_BYTES = 60_000;

/** The write as stored; BAD_USER_INPUT when it is larger than a row holds. */
function storedBody(body: GEvent): string {
  const json = JSON.stringify(body);
  const bytes = Buffer.byteLength(json);
  if (bytes > MAX_STORED_EVENT_BYTES) {
    throw badInput(`The event is too large: ${bytes} bytes once encoded, at most ${MAX_STORED_EVENT_BYTES}; shorten the description or the list of attendees`, { field: 'input', reason: 'too_large' });
  }
  return json;
}

/** Google's event ids (base32hex; instances add "_<time>"), at most EVENT_ID_LENGTH characters. */
function isEventId(id: string): boolean {
  return /^[A-Za-z0-9_]{1,1024}$/.test(id);
}

const cursorOf = (e: GEvent) => encodeCursor([startMs(e), e.id ?? '']);

/** Start, then id by code units: the same order the `after` cursor filter uses, so pages neither skip nor repeat. */
const byStart = (a: GEvent, b: GEvent) => startMs(a) - startMs(b) || ((a.id ?? '') < (b.id ?? '') ? -1 : (a.id ?? '') > (b.id ?? '') ? 1 : 0);

/** A create Google refused for good: the event exists only in our row (body kept, see CalendarDelivery.onFailure). */
export function isRefusedCreate(row: CalendarEvent | null | undefined): boolean {
  return Boolean(row && row.syncState === 'FAILED' && !row.pendingOp && !row.event && row.body);
}

/** A delete of ours that is done: a delivered delete (settled with no event) or a refused create forgotten. */
export function isDoneDelete(row: CalendarEvent | null | undefined): boolean {
  return Boolean(row && !row.pendingOp && !row.event && !row.body && row.syncState === 'SYNCED');
}

export class CalendarService {
  readonly cache: RangeCache;

  constructor(private readonly deps: { ds: DataSource; sessions: GoogleSessions; outbox: OutboxWorker; settings: CalendarSettings; onUse?: (scope: TenantScope) => void; log?: Logger }) {
    // The shares follow the configured cap (CALENDAR_MAX_EVENTS_PER_VIEW): an agent keeps two full windows, the
    // process ten agents' worth at least; with fixed numbers a raised cap made every large window uncacheable.
    const cap = deps.settings.maxEventsPerLoad ?? MAX_EVENTS_PER_LOAD;
    this.cache = new RangeCache(deps.settings.cacheMs, MAX_CACHED_WINDOWS, Math.max(MAX_CACHED_EVENTS, 10 * cap), new DbGenerations(deps.ds), (err) => deps.log?.warn({ err }, 'could not mark calendar views stale for the other replicas'), {
      ...AGENT_BOUNDS,
      maxEventsPerAgent: Math.max(MAX_CACHED_EVENTS_PER_AGENT, 2 * cap),
    });
  }

  /** Runs `call` with the agent's Calendar client; a token Google rejects (401) is dropped and the call made once more. */
  private async google<T>(scope: TenantScope, call: (cal: calendar_v3.Calendar) => Promise<T>, fresh = false): Promise<T> {
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

  async list(scope: TenantScope, args: { from: DateTimeValue; to: DateTimeValue; first: number; after?: string | null }): Promise<EventConnectionType> {
    const from = args.from.instant.getTime();
    const to = args.to.instant.getTime();
    if (to <= from) throw badInput(`"to" (${args.to.raw}) must be after "from" (${args.from.raw})`, { field: 'to' });
    if (to - from > this.deps.settings.maxRangeMs) throw badInput(`The range may span at most ${Math.round(this.deps.settings.maxRangeMs / 86_400_000)} days (got ${Math.ceil((to - from) / 86_400_000)})`, { field: 'to' });
    checkFirst(args.first, MAX_EVENTS_PAGE);
    this.deps.onUse?.(scope);
    const cap = this.deps.settings.maxEventsPerLoad ?? MAX_EVENTS_PER_LOAD;
    const timeMin = new Date(Math.floor(from / VIEW_GRID_MS) * VIEW_GRID_MS).toISOString();
    const timeMax = new Date(Math.ceil(to / VIEW_GRID_MS) * VIEW_GRID_MS).toISOString();
    const window = await this.cache.get(scope, `${timeMin}|${timeMax}`, () => this.loadWindow(scope, timeMin, timeMax, cap), (w) => w.events.length);
    if (window.overCap) {
      throw badInput(`The range from ${args.from.raw} to ${args.to.raw} holds more than ${cap} events (counted over the whole UTC days it touches), the most one events() query reads; ask for a shorter range`, { field: 'to', maxEvents: cap });
    }
    const google = inRange(window, from, to);
    const { events, local } = await this.overlay(scope, google, from, to);
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

  /** Google's events of the window, all pages, or the mark that there are more than `cap` (then none kept). */
  private loadWindow(scope: TenantScope, timeMin: string, timeMax: string, cap: number): Promise<LoadedWindow> {
    return this.google(scope, async (cal) => {
      const events: GEvent[] = [];
      let zone: string | null | undefined;
      let pageToken: string | undefined;
      do {
        // maxResults stays the same on every page (whether a page token outlives a changed query is not documented),
        // so a load holds at most the cap plus one page.
        const res = await cal.events.list({ calendarId: 'primary', timeMin, timeMax, singleEvents: true, orderBy: 'startTime', maxResults: LIST_PAGE_SIZE, pageToken });
        zone ??= res.data.timeZone;
        for (const e of res.data.items ?? []) events.push(e);
        // Past the cap: no further page, and nothing kept (a partial list would give wrong totals and cursors).
        if (events.length > cap) return { events: [], spans: new Float64Array(0), overCap: true };
        pageToken = res.data.nextPageToken ?? undefined;
      } while (pageToken);
      return { events, spans: spansOf(events, zone ?? 'UTC'), overCap: false };
    });
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
    if (!isEventId(id)) return null; // not a Google event id: nothing to ask
    try {
      return await this.google(scope, async (cal) => (await cal.events.get({ calendarId: 'primary', eventId: id })).data);
    } catch (err) {
      if (err instanceof AppError && err.extensions.code === ErrorCode.NOT_FOUND) return null;
      throw err;
    }
  }

  /** `idempotencyKey`: the same key answers the event its first request created (src/idempotency/idempotency.ts). */
  async create(scope: TenantScope, input: EventInput, idempotencyKey?: string | null): Promise<EventType> {
    const key = keyed('createEvent', idempotencyKey, input);
    return createOnce(scope, key, () => this.insert(scope, input, key), (ids) => this.replay(scope, key!, ids[0]));
  }

  private async insert(scope: TenantScope, input: EventInput, key: Keyed | null): Promise<EventType> {
    // Our own id (a UUID's hex is valid base32hex): a retried insert meets 409 instead of making a copy.
    const googleEventId = randomUUID().replace(/-/g, '');
    const body = googleEventFromInput(googleEventId, input);
    const now = new Date();
    const row: CalendarEvent = { id: randomUUID(), brokerageId: scope.brokerageId, agentId: scope.agentId, googleEventId, etag: null, pendingOp: 'create', body: storedBody(body), baseEtag: null, event: null, syncState: 'PENDING', syncError: null, conflicts: null, unconfirmed: null, createdAt: now, updatedAt: now };
    const seqs = await scope.manager.transaction(async (m) => {
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
    let current: GEvent | null;
    if (existing?.pendingOp === 'create' || isRefusedCreate(existing)) current = JSON.parse(existing!.body!) as GEvent;
    else {
      current = await this.fetch(scope, id);
      if (current && existing?.pendingOp === 'patch') current = { ...current, ...(JSON.parse(existing.body!) as GEvent) };
    }
    if (!current || current.status === 'cancelled') throw notFound('Event', id);
    const body = googlePatch(current, changes);
    // Nothing to change: also with an etag gone stale, the event already is what the caller asked for (a retry of an
    // update that was applied, its answer lost): it is answered as it is, not CONFLICT.
    // (A write Google refused is not: the same values sent again are a new attempt, and they clear the failure.)
    if (existing?.syncState !== 'FAILED' && Object.entries(body).every(([k, v]) => sameValue(v, (current as Record<string, unknown>)[k]))) return toEventType(current, existing);
    if (etag && current.etag && etag !== current.etag) {
      throw new AppError(ErrorCode.CONFLICT, `Event ${id} changed since you read it (your etag ${etag}, current ${current.etag}); apply your change to the current version`, { current: toEventType(current, existing) });
    }
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
          await repo.update({ id: row!.id, brokerageId: scope.brokerageId }, { pendingOp: 'create', body: storedBody({ ...(JSON.parse(row!.body!) as GEvent), ...body }), syncState: 'PENDING', syncError: null, updatedAt: now });
          return CALENDAR_OUTBOX.write(m, scope, { kind: 'create', entityId: row!.id }, now);
        }
        const pending = row?.pendingOp === 'patch' ? (JSON.parse(row.body!) as GEvent) : null;
        const merged = pending ? { ...pending, ...body } : body;
        const baseEtag = pending ? row!.baseEtag : (row?.etag ?? current.etag ?? null);
        // The pending patch may be in Google already, unanswered: the values this change replaces are kept, so that
        // meeting them there is known for our own write (src/outbox/unconfirmed.ts).
        const unconfirmed = pending ? withReplaced(row!.unconfirmed, pending, body, Object.keys(body)) : (row?.unconfirmed ?? null);
        let rowId = row?.id;
        if (row) await repo.update({ id: row.id, brokerageId: scope.brokerageId }, { pendingOp: 'patch', body: storedBody(merged), baseEtag, unconfirmed, syncState: 'PENDING', syncError: null, updatedAt: now });
        else {
          rowId = randomUUID();
          await repo.insert({ id: rowId, brokerageId: scope.brokerageId, agentId: scope.agentId, googleEventId: id, etag: current.etag ?? null, pendingOp: 'patch', body: storedBody(merged), baseEtag, event: JSON.stringify(current), syncState: 'PENDING', syncError: null, conflicts: null, createdAt: now, updatedAt: now });
        }
        return CALENDAR_OUTBOX.write(m, scope, { kind: 'patch', entityId: rowId! }, now);
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
      const res = await scope.manager.getRepository(CalendarEvent).update({ id: existing!.id, brokerageId: scope.brokerageId, updatedAt: existing!.updatedAt }, { pendingOp: null, body: null, event: null, etag: null, baseEtag: null, unconfirmed: null, syncState: 'SYNCED', syncError: null, conflicts: null, updatedAt: new Date() });
      if (!res.affected) return this.delete(scope, id);
      await this.cache.invalidate(scope);
      return true;
    }
    if (existing?.pendingOp !== 'create') {
      const current = await this.fetch(scope, id);
      if (!current && isDoneDelete(existing)) return true; // Google never had it, or no longer has it, and we deleted it
      if (!current) throw notFound('Event', id);
      if (current.status === 'cancelled') return true; // Google keeps a deleted event's id, cancelled
    }
    const now = new Date();
    const seqs = await scope.manager.transaction(async (m) => {
      const repo = m.getRepository(CalendarEvent);
      let rowId = existing?.id;
      if (existing) await repo.update({ id: existing.id, brokerageId: scope.brokerageId }, { pendingOp: 'delete', syncState: 'PENDING', syncError: null, updatedAt: now });
      else {
        rowId = randomUUID();
        await repo.insert({ id: rowId, brokerageId: scope.brokerageId, agentId: scope.agentId, googleEventId: id, etag: null, pendingOp: 'delete', body: null, baseEtag: null, event: null, syncState: 'PENDING', syncError: null, conflicts: null, createdAt: now, updatedAt: now });
      }
      return CALENDAR_OUTBOX.write(m, scope, { kind: 'delete', entityId: rowId! }, now);
    });
    await this.cache.invalidate(scope);
    await this.deliver(scope, seqs);
    return true;
  }

  /** OutboxWorker.settle; without a key the event says why in syncError (EventResolver.syncError). */
  private async deliver(scope: TenantScope, seqs: number[]): Promise<void> {
    await this.deps.outbox.settle(CALENDAR_OUTBOX, scope, seqs, { feature: 'calendar', waitMs: this.deps.settings.mutationWaitMs });
  }

  private async afterWrite(scope: TenantScope, seqs: number[], googleEventId: string): Promise<EventType> {
    await this.cache.invalidate(scope);
    await this.deliver(scope, seqs);
    const row = await scope.findOneForAgent(CalendarEvent, { googleEventId });
    if (row && !row.pendingOp && row.event) return toEventType(JSON.parse(row.event) as GEvent, row);
    const [e] = await this.getMany(scope, [googleEventId]);
    if (!e) throw notFound('Event', googleEventId);
    return e;
  }
}
