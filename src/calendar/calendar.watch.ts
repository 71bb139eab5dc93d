/**
 * Push notifications (Calendar events.watch, docs/google-behaviour.md §3.4). With
 * CALENDAR_WEBHOOK_URL set, the gateway keeps one channel per agent who uses
 * the calendar, renews it before it expires, and stops its channels on
 * shutdown. Google POSTs an empty body with X-Goog-* headers; a known
 * channel with the right token invalidates that agent's cached ranges and
 * runs the change-feed sync. Anything else is ignored with a 200 and a log
 * line (never an error that would tell a prober which channels exist).
 * Channel tokens are random secrets; only their SHA-256 is stored.
 */
import type { Config } from '../config';
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import type { DataSource } from 'typeorm';
import { LessThan } from 'typeorm';
import { Agent, CalendarChannel } from '../entities';
import { CALENDAR_CHANNEL_ID_MAX_LENGTH, type CalendarDriver } from '../google/calendar';
import { mapGoogleError } from '../google/google-errors';
import type { LoadedCredential } from '../google/google-session';
import type { GoogleSessions } from '../google/google-sessions';
import type { Logger } from '../logger';
import type { RangeCache } from './range-cache';
import type { CalendarSync } from './calendar.sync';
import type { AgentKey, AgentRef } from '../agents/agent-ref';

export const WEBHOOK_PATH = '/webhooks/google/calendar';
/** Notifications arrive one per change (a bulk edit sends hundreds); they are served by one sync after this pause. */
const SYNC_DEBOUNCE_MS = 500;

/**
 * webhookUrl: the public https address of WEBHOOK_PATH (null: no push notifications); channelRenewBeforeMs /
 * channelRenewEveryMs: renewal; channelsOnShutdown: stop every channel at shutdown (a lone gateway) or leave them to
 * the other replicas (see config).
 */
export type WatchSettings = Pick<
  Config['calendar'],
  'webhookUrl' | 'channelRenewBeforeMs' | 'channelRenewEveryMs' | 'channelsOnShutdown'
>;

const digest = (token: string) => createHash('sha256').update(token).digest('hex');
/**
 * The order in which an agent's channels supersede one another: by creation, ties broken by id (the same on every
 * replica).
 */
const isNewer = (a: CalendarChannel, b: CalendarChannel) =>
  a.createdAt.getTime() > b.createdAt.getTime() || (a.createdAt.getTime() === b.createdAt.getTime() && a.id > b.id);

export class CalendarWatch {
  /**
   * Registrations under way in this process, one per agent, whoever started them (a first use, the renewal timer):
   * a second caller shares the first one's, and key removal and shutdown wait for them before stopping channels
   * (a channel Google opens after those stops would stay open, calling us with a key that is gone).
   */
  private readonly ensuring = new Map<string, Promise<CalendarChannel | null>>();
  private readonly checked = new Map<string, number>();
  private timer?: NodeJS.Timeout;
  /** The renewal pass under way; the timer starts no other meanwhile. */
  private renewing?: Promise<void>;
  private stopped = false;
  /**
   * Agents with a change-feed sync scheduled (and their brokerage): notifications come one per change, a sync serves
   * them all.
   */
  private readonly syncTimers = new Map<string, { timer: NodeJS.Timeout; brokerageId: string }>();

  constructor(
    private readonly deps: {
      ds: DataSource;
      sessions: GoogleSessions;
      cache: RangeCache;
      sync: CalendarSync;
      log: Logger;
      settings: WatchSettings;
    },
  ) {}

  start(): void {
    if (!this.deps.settings.webhookUrl) return;
    this.timer = setInterval(() => {
      if (this.renewing) return; // the last pass is still going: one at a time
      this.renewing = this.renewDue()
        .catch((err) => this.deps.log.warn({ err }, 'calendar channel renewal failed'))
        .finally(() => (this.renewing = undefined));
    }, this.deps.settings.channelRenewEveryMs);
    this.timer.unref();
  }

  /**
   * Shutdown. With stopOnShutdown every channel is stopped: Google stops
   * calling an address that is going away. Without it (several replicas
   * share the database and the address) the channels stay for the others to
   * serve and renew.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    // Notifications already accepted are served before we go (with several replicas nobody else would).
    const pending = [...this.syncTimers].map(([agentId, { brokerageId }]) => ({ brokerageId, agentId }));
    for (const { timer } of this.syncTimers.values()) clearTimeout(timer);
    this.syncTimers.clear();
    await Promise.allSettled([
      this.renewing,
      ...this.ensuring.values(),
      ...pending.map((agent) => this.runSync(agent)),
    ]);
    if (!this.deps.settings.webhookUrl || this.deps.settings.channelsOnShutdown !== 'stop') return;
    // Every brokerage's channels, on purpose: with stopOnShutdown this is the only gateway, and its address goes away.
    const channels = await this.deps.ds.getRepository(CalendarChannel).find();
    await Promise.allSettled(channels.map((c) => this.stopChannel(c)));
  }

  /**
   * Stops a brokerage's channels with the key being removed (already out of use, so no new channel can be opened
   * with it): waits for registrations under way in this process, stops every channel in the table, then looks
   * once more for one a registration elsewhere added meanwhile. Returns how many were stopped (a channel Google
   * refuses to stop is dropped anyway).
   */
  async stopForBrokerage(brokerageId: string, credential: LoadedCredential): Promise<number> {
    const underWay = [...this.ensuring.values()];
    if (underWay.length)
      this.deps.log.info(
        { brokerageId, registrations: underWay.length },
        'calendar channel registrations under way: waiting for them before stopping the channels',
      );
    await Promise.allSettled(underWay);
    let stopped = 0;
    for (let pass = 0; pass < 2; pass++) {
      const channels = await this.deps.ds.getRepository(CalendarChannel).findBy({ brokerageId });
      await Promise.allSettled(channels.map((c) => this.stopChannel(c, credential)));
      for (const c of channels) {
        this.checked.delete(c.agentId); // with a new key, the next use registers again at once
        const t = this.syncTimers.get(c.agentId);
        if (t) clearTimeout(t.timer);
        this.syncTimers.delete(c.agentId);
      }
      stopped += channels.length;
    }
    return stopped;
  }

  /** Makes sure the agent has a live channel (at most one check a minute per agent; never fails the caller). */
  ensure(agent: AgentRef): void {
    if (!this.deps.settings.webhookUrl || this.stopped) return;
    const last = this.checked.get(agent.agentId) ?? 0;
    if (Date.now() - last < 60_000 || this.ensuring.has(agent.agentId)) return;
    this.checked.set(agent.agentId, Date.now());
    this.register(agent).catch((err) => {
      // No key (yet): nothing was asked of Google, so the next use may try again at once.
      if (mapGoogleError(err).kind === 'not-configured') this.checked.delete(agent.agentId);
      else this.deps.log.warn({ err, agentId: agent.agentId }, 'could not register a calendar push channel');
    });
  }

  /** ensureNow, one at a time per agent in this process (see `ensuring`). */
  private register(agent: AgentRef): Promise<CalendarChannel | null> {
    const running = this.ensuring.get(agent.agentId);
    if (running) return running;
    const p = this.ensureNow(agent).finally(() => this.ensuring.delete(agent.agentId));
    this.ensuring.set(agent.agentId, p);
    return p;
  }

  async ensureNow(agent: AgentRef): Promise<CalendarChannel | null> {
    const address = this.deps.settings.webhookUrl;
    if (!address) return null;
    const repo = this.deps.ds.getRepository(CalendarChannel);
    const live = await repo.findOne({
      where: { brokerageId: agent.brokerageId, agentId: agent.agentId },
      order: { expiration: 'DESC' },
    });
    if (live && live.expiration.getTime() - Date.now() > this.deps.settings.channelRenewBeforeMs) return live;
    const session = await this.deps.sessions.forAgent(agent.brokerageId, agent.email);
    const cal = await session.calendar();
    const token = randomBytes(32).toString('hex');
    const id = randomUUID();
    const opened = await cal.watchEvents({ id, address, token });
    const channel: CalendarChannel = {
      id,
      brokerageId: agent.brokerageId,
      agentId: agent.agentId,
      resourceId: opened.resourceId ?? '',
      tokenDigest: digest(token),
      expiration: new Date(Number(opened.expiration ?? Date.now() + 7 * 86_400_000)),
      createdAt: new Date(),
    };
    await repo.insert(channel);
    // Of the agent's channels only the newest stays: every other is stopped, not only the one we saw, and ours too
    // when a newer one is there. Another replica may be renewing at the same time, and its channel may be stamped
    // after ours yet recorded before ours (the stamp is taken before the insert): that replica looked before our row
    // existed, so it cannot stop ours; we must. Whichever replica looks last sees both, so one channel is left.
    const rows = await repo.findBy({ brokerageId: agent.brokerageId, agentId: agent.agentId });
    const newest = rows.reduce((n, c) => (isNewer(c, n) ? c : n), rows.find((c) => c.id === id) ?? channel);
    // With the session that opened ours: the key may have been removed meanwhile (a new session would find none,
    // and the old channel would stay open in Google while its row is dropped).
    await Promise.allSettled(rows.filter((c) => c.id !== newest.id).map((c) => this.stopChannel(c, undefined, cal)));
    return newest.id === id ? channel : newest;
  }

  private async renewDue(): Promise<void> {
    // Every brokerage's channels due, on purpose (a background pass); each channel then goes with its own brokerage.
    const due = await this.deps.ds
      .getRepository(CalendarChannel)
      .find({ where: { expiration: LessThan(new Date(Date.now() + this.deps.settings.channelRenewBeforeMs)) } });
    for (const c of due) {
      if (this.stopped) return; // shutting down: open nothing more
      const agent = await this.deps.ds.getRepository(Agent).findOneBy({ id: c.agentId, brokerageId: c.brokerageId });
      const renewed = agent
        ? await this.register({ brokerageId: c.brokerageId, agentId: c.agentId, email: agent.email }).then(
            () => true,
            (err) => (this.deps.log.warn({ err, channel: c.id }, 'renewal failed'), false),
          )
        : false;
      // Expired and not renewable (e.g. the brokerage's key is gone): Google has dropped it, so do we.
      if (!renewed && c.expiration.getTime() < Date.now())
        await this.deps.ds.getRepository(CalendarChannel).delete({ id: c.id, brokerageId: c.brokerageId });
    }
  }

  /**
   * Stops a channel in Google (with `credential`, or a client of the agent's, or the agent's current session) and drops
   * its row.
   */
  private async stopChannel(c: CalendarChannel, credential?: LoadedCredential, client?: CalendarDriver): Promise<void> {
    try {
      const agent = client
        ? null
        : await this.deps.ds.getRepository(Agent).findOneBy({ id: c.agentId, brokerageId: c.brokerageId });
      let cal = client;
      if (!cal && agent) {
        const session = credential
          ? this.deps.sessions.withCredential(credential, agent.email)
          : await this.deps.sessions.forAgent(c.brokerageId, agent.email);
        cal = await session.calendar();
      }
      if (cal) await cal.stopChannel({ id: c.id, resourceId: c.resourceId });
    } catch (err) {
      this.deps.log.warn({ err, channel: c.id }, 'could not stop a calendar channel (it will expire by itself)');
    } finally {
      await this.deps.ds.getRepository(CalendarChannel).delete({ id: c.id, brokerageId: c.brokerageId });
    }
  }

  /** One change-feed sync per agent per SYNC_DEBOUNCE_MS, however many notifications arrive. */
  private scheduleSync(channel: CalendarChannel): void {
    if (this.syncTimers.has(channel.agentId)) return;
    const timer = setTimeout(() => {
      this.syncTimers.delete(channel.agentId);
      if (!this.stopped) void this.runSync(channel);
    }, SYNC_DEBOUNCE_MS);
    timer.unref();
    this.syncTimers.set(channel.agentId, { timer, brokerageId: channel.brokerageId });
  }

  private async runSync({ brokerageId, agentId }: AgentKey): Promise<void> {
    const agent = await this.deps.ds
      .getRepository(Agent)
      .findOneBy({ id: agentId, brokerageId })
      .catch(() => null);
    if (agent)
      await this.deps.sync
        .sync({ brokerageId: agent.brokerageId, agentId, email: agent.email })
        .catch((err) => this.deps.log.warn({ err, agentId }, 'calendar change-feed sync failed'));
  }

  current(agentId: string, brokerageId: string): Promise<CalendarChannel | null> {
    return this.deps.ds
      .getRepository(CalendarChannel)
      .findOne({ where: { brokerageId, agentId }, order: { expiration: 'DESC' } });
  }

  /** POST WEBHOOK_PATH: always 200; only a known channel with its token has an effect. */
  handler() {
    return async (req: Request, res: Response): Promise<void> => {
      const id = req.header('x-goog-channel-id') ?? '';
      const token = req.header('x-goog-channel-token') ?? '';
      const state = req.header('x-goog-resource-state') ?? '';
      res.status(200).end();
      if (this.stopped) return;
      try {
        // By the channel id alone: Google's notification says nothing else, and the brokerage is the channel's own.
        const channel =
          id.length <= CALENDAR_CHANNEL_ID_MAX_LENGTH
            ? await this.deps.ds.getRepository(CalendarChannel).findOneBy({ id })
            : null;
        const ok =
          channel && timingSafeEqual(Buffer.from(digest(token), 'hex'), Buffer.from(channel.tokenDigest, 'hex'));
        if (!channel || !ok) {
          this.deps.log.warn(
            { channelId: id.slice(0, 80), known: Boolean(channel) },
            'calendar notification ignored: unknown channel or wrong token',
          );
          return;
        }
        if (state === 'sync') return; // the handshake after watch: nothing changed yet
        await this.deps.cache.invalidate(channel);
        this.scheduleSync(channel);
      } catch (err) {
        this.deps.log.error({ err }, 'calendar notification failed');
      }
    };
  }
}
