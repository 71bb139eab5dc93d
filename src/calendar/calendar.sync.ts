/**
 * The calendar change feed: a sync-token based incremental sync of the
 * agent's primary calendar that records every changed or cancelled event
 * (calendar_change), so the CRM can ask what changed since its last look.
 * The first sync (and any after Google answers 410 fullSyncRequired, which
 * clears the token) lists the calendar fully from `pastDays` ago.
 * One sync per agent at a time in this process.
 */
import type { calendar_v3 } from '@googleapis/calendar';
import type { DataSource } from 'typeorm';
import { CalendarChange, CalendarSyncRecord } from '../entities';
import { AppError } from '../errors';
import { mapGoogleError } from '../google/google-errors';
import type { GoogleSessions } from '../google/google-sessions';
import { LIST_PAGE_SIZE } from './calendar.service';

export interface CalendarAgentRef {
  brokerageId: string;
  agentId: string;
  email: string;
}

type GEvent = calendar_v3.Schema$Event;

export class CalendarSync {
  private readonly inflight = new Map<string, Promise<number>>();

  constructor(private readonly deps: { ds: DataSource; sessions: GoogleSessions; pastDays: number }) {}

  async record(agent: CalendarAgentRef): Promise<CalendarSyncRecord> {
    const repo = this.deps.ds.getRepository(CalendarSyncRecord);
    const found = await repo.findOneBy({ agentId: agent.agentId });
    if (found) return found;
    await repo.insert({ agentId: agent.agentId, brokerageId: agent.brokerageId, syncToken: null, lastSyncAt: null, lastFullSyncAt: null, fullSyncs: 0, lastFullSyncReason: null, staleSince: null, lastError: null }).catch(() => undefined);
    return (await repo.findOneBy({ agentId: agent.agentId }))!;
  }

  /** Runs one sync; resolves to the number of changes recorded. Concurrent callers share it. */
  sync(agent: CalendarAgentRef): Promise<number> {
    const running = this.inflight.get(agent.agentId);
    if (running) return running;
    const p = this.run(agent).finally(() => this.inflight.delete(agent.agentId));
    this.inflight.set(agent.agentId, p);
    return p;
  }

  private async run(agent: CalendarAgentRef): Promise<number> {
    const rec = await this.record(agent);
    const session = await this.deps.sessions.forAgent(agent.brokerageId, agent.email);
    const repo = this.deps.ds.getRepository(CalendarSyncRecord);
    try {
      const cal = await session.calendar();
      let recorded: number;
      if (rec.syncToken) {
        try {
          recorded = await this.list(agent, cal, { syncToken: rec.syncToken });
        } catch (err) {
          if (mapGoogleError(err, { api: 'calendar' }).kind !== 'full-sync-required') throw err;
          await repo.update({ agentId: agent.agentId }, { syncToken: null });
          recorded = await this.full(agent, cal, 'FULL_SYNC_REQUIRED', rec.fullSyncs);
        }
      } else {
        recorded = await this.full(agent, cal, 'FIRST_SYNC', rec.fullSyncs);
      }
      await repo.update({ agentId: agent.agentId }, { lastSyncAt: new Date(), staleSince: null, lastError: null });
      return recorded;
    } catch (err) {
      const appErr = err instanceof AppError ? err : session.toAppError(err, 'calendar');
      await repo.update({ agentId: agent.agentId }, { staleSince: rec.staleSince ?? new Date(), lastError: appErr.message.slice(0, 2000) });
      throw appErr;
    }
  }

  private async full(agent: CalendarAgentRef, cal: calendar_v3.Calendar, reason: string, fullSyncs: number): Promise<number> {
    const timeMin = new Date(Date.now() - this.deps.pastDays * 86_400_000).toISOString();
    const n = await this.list(agent, cal, { timeMin });
    await this.deps.ds.getRepository(CalendarSyncRecord).update({ agentId: agent.agentId }, { lastFullSyncAt: new Date(), fullSyncs: fullSyncs + 1, lastFullSyncReason: reason });
    return n;
  }

  /** Pages through events.list (the same parameters on every page, as Google requires) and records the items. */
  private async list(agent: CalendarAgentRef, cal: calendar_v3.Calendar, params: { syncToken?: string; timeMin?: string }): Promise<number> {
    let pageToken: string | undefined;
    let nextSyncToken: string | undefined;
    let recorded = 0;
    do {
      const res = await cal.events.list({ calendarId: 'primary', maxResults: LIST_PAGE_SIZE, ...params, pageToken });
      const items: GEvent[] = res.data.items ?? [];
      if (items.length) {
        const now = new Date();
        await this.deps.ds.getRepository(CalendarChange).insert(items.filter((e) => e.id).map((e) => ({ agentId: agent.agentId, googleEventId: e.id!.slice(0, 255), status: e.status ?? 'confirmed', event: JSON.stringify(e), recordedAt: now })));
        recorded += items.length;
      }
      pageToken = res.data.nextPageToken ?? undefined;
      nextSyncToken = res.data.nextSyncToken ?? nextSyncToken;
    } while (pageToken);
    if (nextSyncToken) await this.deps.ds.getRepository(CalendarSyncRecord).update({ agentId: agent.agentId }, { syncToken: nextSyncToken });
    return recorded;
  }
}
