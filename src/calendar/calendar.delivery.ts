/**
 * CRM → Google for the calendar lane of the outbox, one event at a time, in
 * order (Calendar has no batch write besides the batch HTTP envelope).
 * - Inserts carry our chosen event id: a retried insert that finds 409
 *   duplicate means Google already has it, so it is read back, not copied.
 * - Patches carry If-Match with the etag they were based on: a 412 means the
 *   event changed in Google meanwhile; we re-read it, record which of our
 *   fields Google had also changed, and apply our patch on the new version
 *   (PATCH leaves Google's other changes in place; ours is the later write).
 * - A delete that finds the event gone (410 deleted, 404) is done.
 * Every delivered write invalidates the agent's cached ranges.
 */
import type { DataSource } from 'typeorm';
import { In } from 'typeorm';
import { CalendarEvent, type OutboxRow } from '../entities';
import { ErrorCode } from '../errors';
import type { CalendarDriver, GoogleEvent } from '../google/calendar';
import { isOurFailure, mapGoogleError, type GoogleFailure } from '../google/google-errors';
import type { GoogleSessions } from '../google/google-sessions';
import type { GoogleSession } from '../google/google-session';
import type { Logger } from '../logger';
import type { LaneRef } from '../outbox/topics';
import type { Outcome, OutboxHandler } from '../outbox/worker';
import { parseUnconfirmed } from '../outbox/unconfirmed';
import type { RangeCache } from './range-cache';
import { CALENDAR_OUTBOX } from '../outbox/topics';
import type { CalendarSync } from './calendar.sync';
import { sameValue } from './event.mapper';

/** Writes per delivery round before the lane's lease is renewed. */
const ROUND = 50;

export class CalendarDelivery implements OutboxHandler {
  readonly topic = CALENDAR_OUTBOX;

  constructor(
    private readonly deps: {
      ds: DataSource;
      sessions: GoogleSessions;
      cache: RangeCache;
      log: Logger;
      /** the change feed, told of what we wrote */ feed?: Pick<CalendarSync, 'recordDelivered' | 'position'>;
    },
  ) {}

  async deliver(lane: LaneRef, rows: OutboxRow[]): Promise<Outcome[]> {
    const session = await this.deps.sessions.forAgentId(lane.brokerageId, lane.agentId);
    const email = session.subject;
    const outcomes: Outcome[] = [];
    const batch = rows.slice(0, ROUND);
    const locals = new Map(
      (
        await this.deps.ds
          .getRepository(CalendarEvent)
          .findBy({ id: In([...new Set(batch.map((r) => r.entityId))]), brokerageId: lane.brokerageId })
      ).map((r) => [r.id, r]),
    );
    for (const row of batch) {
      const local = locals.get(row.entityId);
      if (!local || !local.pendingOp) {
        outcomes.push({ seq: row.seq, result: 'done' }); // already delivered by an earlier row of the same event
        continue;
      }
      try {
        const cal = await session.calendar();
        await this.apply(cal, local); // its settling made the agent's cached views stale, here and in every replica
        outcomes.push({ seq: row.seq, result: 'done' });
        local.pendingOp = null;
      } catch (err) {
        const f = mapGoogleError(err, { api: 'calendar', subject: email });
        outcomes.push(await this.onFailure(lane, session, row, local, f, err));
        break;
      }
    }
    return outcomes;
  }

  private async apply(cal: CalendarDriver, local: CalendarEvent): Promise<void> {
    // The feed's position before we call Google: a sync recording this event after it has news at least as new.
    const sentAfter = (await this.deps.feed?.position(local)) ?? 0;
    const settle = async (event: GoogleEvent | null, extra: Partial<CalendarEvent> = {}) => {
      // Settled, the write is no longer laid over Google's window: the replicas' cached windows (from before Google
      // had it) go stale in the same transaction, or another replica would show neither until our round ended.
      await this.deps.ds.transaction(async (m) => {
        await this.deps.cache.invalidateWithin(m, local);
        // Only settle the operation we sent: a newer change made meanwhile keeps its own pending state.
        await m.getRepository(CalendarEvent).update(
          { id: local.id, brokerageId: local.brokerageId, updatedAt: local.updatedAt },
          {
            pendingOp: null,
            body: null,
            baseEtag: null,
            unconfirmed: null,
            etag: event?.etag ?? null,
            event: event ? JSON.stringify(event) : null,
            syncState: 'SYNCED',
            syncError: null,
            ...extra,
          },
        );
      });
      // The feed hears of our write now (eventChanges); a failure here loses nothing: the next sync records it.
      await this.deps.feed
        ?.recordDelivered(local, event ?? { id: local.googleEventId, status: 'cancelled' }, sentAfter)
        .catch((err) =>
          this.deps.log.warn(
            { err, agentId: local.agentId },
            'calendar change feed: recording a delivered write failed; the next sync records it',
          ),
        );
    };
    if (local.pendingOp === 'create') {
      const body = JSON.parse(local.body!) as GoogleEvent;
      try {
        await settle(await cal.insertEvent(body));
      } catch (err) {
        if (mapGoogleError(err, { api: 'calendar' }).kind !== 'duplicate') throw err;
        // Our id is taken: an earlier attempt reached Google. Bring that event to the body we hold (it may
        // carry changes folded in since) instead of inserting a copy.
        const { id: _id, ...fields } = body;
        await settle(await cal.patchEvent(local.googleEventId, fields));
      }
    } else if (local.pendingOp === 'patch') {
      const body = JSON.parse(local.body!) as GoogleEvent;
      try {
        await settle(await cal.patchEvent(local.googleEventId, body, local.baseEtag));
      } catch (err) {
        if (mapGoogleError(err, { api: 'calendar' }).kind !== 'stale-etag') throw err;
        const now = await cal.getEvent(local.googleEventId);
        const before = local.event ? (JSON.parse(local.event) as GoogleEvent) : null;
        // A field Google changed since our base is a conflict unless the change is ours: the value we are writing now,
        // or one an earlier write of ours may have put there unanswered (src/outbox/unconfirmed.ts).
        const ours = parseUnconfirmed(local.unconfirmed);
        const field = (e: GoogleEvent | null, k: string) => (e as Record<string, unknown> | null)?.[k];
        const changedInGoogle = (k: string) =>
          // both Google's own renderings
          JSON.stringify(field(before, k) ?? null) !== JSON.stringify(field(now, k) ?? null);
        const both = before
          ? Object.keys(body).filter(
              (k) =>
                changedInGoogle(k) &&
                !sameValue(field(body, k), field(now, k)) &&
                !(ours[k] ?? []).some((v) => sameValue(v, field(now, k))),
            )
          : [];
        await settle(
          await cal.patchEvent(local.googleEventId, body, now.etag!),
          both.length
            ? {
                syncState: 'CONFLICT',
                conflicts: JSON.stringify(
                  both.map((field) => ({ field, winner: 'crm', at: new Date().toISOString() })),
                ),
              }
            : {},
        );
      }
    } else if (local.pendingOp === 'delete') {
      try {
        await cal.deleteEvent(local.googleEventId);
      } catch (err) {
        const kind = mapGoogleError(err, { api: 'calendar' }).kind;
        if (kind !== 'gone' && kind !== 'not-found') throw err; // already deleted: done
      }
      await settle(null);
    }
  }

  private async onFailure(
    lane: LaneRef,
    session: GoogleSession,
    row: OutboxRow,
    local: CalendarEvent,
    f: GoogleFailure,
    err: unknown,
  ): Promise<Outcome> {
    if (f.kind === 'token-rejected') await this.deps.sessions.forgetTokens(lane.brokerageId);
    // Not an answer from Google (our database, a bug of ours): nothing is known about Google, so never "Google
    // refused": retried (a create goes again with its own id: Google answers 409 if the first one went).
    const ours = isOurFailure(f);
    if (ours) this.deps.log.error({ err, lane }, 'unexpected failure delivering calendar writes; will retry');
    // A second 412 in a row (changed again meanwhile) is retried too: the next attempt re-reads again.
    if (f.retryable || ours || f.code === ErrorCode.GOOGLE_NOT_CONFIGURED || f.kind === 'stale-etag') {
      const syncError = ours
        ? 'A temporary problem on our side; retrying'
        : f.remedy
          ? `${f.message}. ${f.remedy}`
          : f.message;
      // Views show the reason (syncError): a new one makes them stale with it (kept pages, calendar.service.ts).
      if (syncError !== local.syncError)
        await this.deps.ds.transaction(async (m) => {
          await this.deps.cache.invalidateWithin(m, local);
          await m.getRepository(CalendarEvent).update({ id: local.id, brokerageId: local.brokerageId }, { syncError });
        });
      return {
        seq: row.seq,
        result: 'retry',
        error: f.message,
        retryAfterMs: f.retryAfterMs,
        setupKey: f.code === ErrorCode.GOOGLE_NOT_CONFIGURED ? session.keyVersion : undefined,
      };
    }
    if (f.kind === 'unknown') this.deps.log.error({ err, lane }, 'unexpected failure delivering calendar writes');
    // Google refused it (e.g. the event was deleted there): the write is dropped and the event says why.
    // A refused create keeps its body: the event exists nowhere else, and reads show it FAILED with the reason.
    // Only the write we sent: a newer change recorded meanwhile keeps its pending state (and has its own outbox row).
    await this.deps.ds.transaction(async (m) => {
      await this.deps.cache.invalidateWithin(m, local); // views show it FAILED (or gone) from this commit on
      await m.getRepository(CalendarEvent).update(
        { id: local.id, brokerageId: local.brokerageId, updatedAt: local.updatedAt },
        {
          pendingOp: null,
          body: local.pendingOp === 'create' ? local.body : null,
          syncState: 'FAILED',
          syncError: `Google refused the change: ${f.message}`,
          updatedAt: new Date(),
        },
      );
    });
    return { seq: row.seq, result: 'failed', error: f.message };
  }
}
