import type { AgentKey } from '../agents/agent-ref';
import { AppError, ErrorCode } from '../errors';
import type { GoogleEvent } from '../google/calendar';
import type { DataSource, EntityManager } from 'typeorm';
import type { Config } from '../config';
import type { Logger } from '../logger';
import { DbGenerations, type SharedGenerations } from './cache-generations';

/** Loads (events.list page runs) one agent may have running at once; further windows wait their turn. */
const MAX_LOADS_PER_AGENT = 2;
/**
 * Distinct windows one agent may have waiting for a load; beyond, a view is refused with RATE_LIMITED rather than
 * queued (a thousand distinct-day views would otherwise keep calling Google for minutes, long after their clients
 * left).
 */
const MAX_WAITING_LOADS_PER_AGENT = 24; // two years of month views asked at once
const LOAD_RETRY_AFTER_SECONDS = 2;
/** Cached windows in the whole process, and one agent's share of them. */
const MAX_CACHED_WINDOWS = 1000;
const MAX_CACHED_WINDOWS_PER_AGENT = 50;
/** The warning that an agent's window was too heavy to keep: at most this often per agent. */
const TOO_HEAVY_WARNING_EVERY_MS = 60_000;
const MAX_WARNED_AGENTS = 10_000;

/** What one agent may hold of the cache and run at once. */
export interface AgentBounds {
  maxLoadsPerAgent: number;
  /**
   * Loads of one agent waiting for a turn; more are refused with RATE_LIMITED (default MAX_WAITING_LOADS_PER_AGENT).
   */
  maxWaitingLoadsPerAgent?: number;
  maxWindowsPerAgent: number;
  /** what the agent's windows may weigh in all (`weigh`: the text of their events, in viewCache) */
  maxWeightPerAgent: number;
}

interface CacheEntry {
  generation: number;
  shared: number;
  expiresAt: number;
  value: unknown;
  /** what it weighs, for the bounds */
  weight: number;
  /** which load of the window this is (peek) */
  serial: number;
}

/**
 * Per-agent cache of listed windows, invalidated by bumping the agent's generation (here and, shared, in the
 * database). Concurrent asks for one window share one load (single flight). Bounded three ways, so that one agent's
 * burst costs the others nothing beyond reason: each agent runs at most `maxLoadsPerAgent` loads at once (the rest
 * wait in order; a waiting window is still shared by everyone who asks for it); each agent keeps at most its share of
 * windows and weight (its own oldest go first); and when the process-wide bounds are exceeded, the agent holding the
 * most gives way, so an agent with less than the biggest holder is never evicted for someone else's window. A
 * window's weight is what its `weigh` says (viewCache: the text of its events; by default an array's length).
 */
export class RangeCache {
  /** agent → window key → entry, oldest first */
  private readonly entries = new Map<string, Map<string, CacheEntry>>();
  /** weight held per agent */
  private readonly held = new Map<string, number>();
  private windows = 0;
  private weight = 0;
  private serials = 0;
  private readonly generations = new Map<string, number>();
  private readonly inflight = new Map<string, Promise<unknown>>();
  private readonly loads = new Map<string, { running: number; waiting: Array<() => void> }>();

  /** maxEntries and maxWeight bound the whole process; `bounds` each agent. */
  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
    private readonly maxWeight: number,
    private readonly shared: SharedGenerations | undefined,
    private readonly onSharedError: (err: unknown) => void = () => {},
    private readonly bounds: AgentBounds,
    /** A window answered but not kept: heavier than the agent's share (or the whole bound). */
    private readonly onTooHeavy: (agentId: string, weight: number) => void = () => {},
  ) {}

  private drop(agentId: string, key: string): void {
    const mine = this.entries.get(agentId);
    const e = mine?.get(key);
    if (!mine || !e) return;
    mine.delete(key);
    this.windows--;
    this.weight -= e.weight;
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
  invalidate(agent: AgentKey): Promise<void> {
    this.markStale(agent.agentId);
    // Without a cache (CALENDAR_CACHE_SECONDS=0) nobody reads the shared counter: skip the write.
    return this.shared && this.ttlMs > 0 ? this.shared.bump(agent).catch(this.onSharedError) : Promise.resolve();
  }

  /**
   * Stale in the other processes once the caller's transaction `m` commits, and with it: for a write that changes
   * what a view shows beside Google's window (a delivery settling our pending write), so that no process sees the one
   * without the other. Stale here too (at once). A failure fails the transaction.
   */
  async invalidateWithin(m: EntityManager, agent: AgentKey): Promise<void> {
    this.markStale(agent.agentId);
    if (this.shared && this.ttlMs > 0) await this.shared.bump(agent, m);
  }

  /** Whether windows are kept at all (CALENDAR_CACHE_SECONDS is not 0). */
  get keeps(): boolean {
    return this.ttlMs > 0;
  }

  /**
   * The agent's window `key`: cached, joined to the load under way, or loaded. `weigh` says what keeping it costs (an
   * array's length by default).
   */
  async get<T = GoogleEvent[]>(
    agent: AgentKey,
    key: string,
    load: () => Promise<T>,
    weigh: (value: T) => number = (v) => (v as unknown[]).length,
  ): Promise<T> {
    const hit = this.entries.get(agent.agentId)?.get(key);
    if (this.ttlMs <= 0 && !hit) return this.serve(agent.agentId, key, 0, load, weigh);
    return this.getAt(agent, key, await this.generation(agent), load, weigh);
  }

  /** The agent's shared generation as every replica sees it now (-1 when unreadable: nothing is served or kept). */
  generation(agent: AgentKey): Promise<number> {
    return this.shared ? this.shared.read(agent).catch(() => -1) : Promise.resolve(0);
  }

  /** As `get`, at the shared generation the caller read (`generation`). */
  getAt<T = GoogleEvent[]>(
    agent: AgentKey,
    key: string,
    shared: number,
    load: () => Promise<T>,
    weigh: (value: T) => number = (v) => (v as unknown[]).length,
  ): Promise<T> {
    return this.serve(agent.agentId, key, shared, load, weigh);
  }

  /**
   * The window `key` that `getAt(…, shared, …)` would answer from the cache now, and which load of it it is (a new
   * serial each time the window is loaded and kept); undefined when it would not answer from the cache.
   */
  peek(agentId: string, key: string, shared: number): { value: unknown; serial: number } | undefined {
    const hit = this.entries.get(agentId)?.get(key);
    return hit && this.valid(hit, agentId, shared) ? { value: hit.value, serial: hit.serial } : undefined;
  }

  private valid(e: CacheEntry, agentId: string, shared: number): boolean {
    return (
      e.generation === (this.generations.get(agentId) ?? 0) &&
      e.shared === shared &&
      shared !== -1 &&
      e.expiresAt > Date.now()
    );
  }

  private serve<T>(
    agentId: string,
    key: string,
    shared: number,
    load: () => Promise<T>,
    weigh: (value: T) => number,
  ): Promise<T> {
    const gen = this.generations.get(agentId) ?? 0;
    const hit = this.entries.get(agentId)?.get(key);
    if (hit && this.valid(hit, agentId, shared)) return Promise.resolve(hit.value as T);
    const flight = `${agentId}|${key}|${gen}|${shared}`;
    const running = this.inflight.get(flight);
    if (running) return running as Promise<T>;
    const p = this.limited(agentId, load)
      .then((value) => {
        // A write or a notification during the call makes the result stale: answer it, do not keep it.
        if ((this.generations.get(agentId) ?? 0) === gen && shared !== -1 && this.ttlMs > 0) {
          this.keep(agentId, key, {
            generation: gen,
            shared,
            expiresAt: Date.now() + this.ttlMs,
            value,
            weight: weigh(value),
            serial: ++this.serials,
          });
        }
        return value;
      })
      .finally(() => this.inflight.delete(flight));
    this.inflight.set(flight, p);
    return p;
  }

  /**
   * Runs the load once fewer than maxLoadsPerAgent loads of the agent are running; otherwise when one ends (in order).
   */
  private async limited<T>(agentId: string, load: () => Promise<T>): Promise<T> {
    let slots = this.loads.get(agentId);
    if (!slots) this.loads.set(agentId, (slots = { running: 0, waiting: [] }));
    const mine = slots;
    if (mine.running < this.bounds.maxLoadsPerAgent) mine.running++;
    else if (mine.waiting.length >= (this.bounds.maxWaitingLoadsPerAgent ?? MAX_WAITING_LOADS_PER_AGENT)) {
      throw new AppError(
        ErrorCode.RATE_LIMITED,
        `Too many different calendar ranges are being loaded for you at once; ask again in ${LOAD_RETRY_AFTER_SECONDS} s`,
        { retryAfterSeconds: LOAD_RETRY_AFTER_SECONDS },
      );
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
    // Larger than the agent's whole share, or than the whole process's bound: keeping it would push out everything
    // else the agent (or every agent) has, and then not fit anyway. Answer it only.
    if (entry.weight > Math.min(this.bounds.maxWeightPerAgent, this.maxWeight)) {
      this.onTooHeavy(agentId, entry.weight);
      return;
    }
    const now = Date.now();
    for (const [agent, windows] of this.entries) {
      const gen = this.generations.get(agent) ?? 0;
      for (const [k, e] of [...windows]) if (e.expiresAt <= now || e.generation !== gen) this.drop(agent, k);
    }
    let mine = this.entries.get(agentId);
    if (!mine) this.entries.set(agentId, (mine = new Map()));
    mine.set(key, entry);
    this.windows++;
    this.weight += entry.weight;
    this.held.set(agentId, (this.held.get(agentId) ?? 0) + entry.weight);
    // The agent's own share: its oldest windows go.
    while (mine.size > this.bounds.maxWindowsPerAgent || this.held.get(agentId)! > this.bounds.maxWeightPerAgent) {
      const oldest = [...mine.keys()].find((k) => k !== key);
      if (oldest === undefined) break;
      this.drop(agentId, oldest);
    }
    // The process: the agent holding the most (weight, or windows when those are over) gives its oldest window.
    while (this.windows > this.maxEntries || this.weight > this.maxWeight) {
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

/**
 * The calendar's view cache as configured: views kept CALENDAR_CACHE_SECONDS, made stale across replicas through the
 * database's generation counter, weighed by the text of their events (LoadedWindow.text, characters): CALENDAR_CACHE_MB
 * in the whole process, half of it for one agent. Kept, a window takes about 2.2 times its text on the heap (measured:
 * a showing with two attendees is ~250 characters of text, ~0.55 KB of heap; long descriptions come near 1 times,
 * text beyond Latin-1 takes two bytes a character), so the 16 MiB default holds ~65,000 such events in ~36 MB, e.g. a
 * month of 20 for each of 1,000 agents in a third of it; an agent's half holds a full window at the default cap
 * (10,000 events) of up to ~800 characters each. A window heavier than the agent's half is answered and not kept, so
 * every page of it (`after`) lists it from Google again: logged, at most once a minute per agent.
 */
export function viewCache(
  settings: Pick<Config['calendar'], 'cacheMs' | 'cacheBytes'>,
  ds: DataSource,
  log?: Logger,
): RangeCache {
  const share = Math.floor(settings.cacheBytes / 2);
  /** agent → when it was last warned about, bounded (cleared when full) */
  const warned = new Map<string, number>();
  return new RangeCache(
    settings.cacheMs,
    MAX_CACHED_WINDOWS,
    settings.cacheBytes,
    new DbGenerations(ds),
    (err) => log?.warn({ err }, 'could not mark calendar views stale for the other replicas'),
    {
      maxLoadsPerAgent: MAX_LOADS_PER_AGENT,
      maxWindowsPerAgent: MAX_CACHED_WINDOWS_PER_AGENT,
      maxWeightPerAgent: share,
    },
    (agentId, weight) => {
      // Each such window is a load from Google, bounded by the per-agent load limits: no need to say so each time.
      const now = Date.now();
      if ((warned.get(agentId) ?? -Infinity) > now - TOO_HEAVY_WARNING_EVERY_MS) return;
      if (warned.size >= MAX_WARNED_AGENTS) warned.clear();
      warned.set(agentId, now);
      log?.warn(
        { agentId, weight, share },
        "a calendar window heavier than an agent's half of CALENDAR_CACHE_MB was answered, not kept: each page of it " +
          'lists it from Google again (raise CALENDAR_CACHE_MB, or ask for shorter ranges); said once a minute per agent',
      );
    },
  );
}
