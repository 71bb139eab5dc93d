import { Arg, Authorized, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { GatewayContext } from '../context';
import { toContactType } from '../contacts/contact.service';
import { ContactType, SyncStateEnum, SyncStatusType } from '../contacts/contact.type';
import { statusError } from '../google/feature-health';
import { badInput } from '../errors';
import { IDEMPOTENCY_KEY_DOC } from '../idempotency/idempotency';
import { DateTimeValue } from './date-time.scalar';
import { EventInput, EventPatch } from './event.input';
import { toEventType } from './event.mapper';
import { AttendeeType, CalendarSyncStatusType, EventChangeConnectionType, EventConnectionType, EventType } from './event.type';
import { CalendarChange, CalendarEvent } from '../entities';
import { laneCounts } from '../outbox/status';
import { CALENDAR_OUTBOX } from '../outbox/topics';
import { MoreThan } from 'typeorm';

const MAX_CHANGES_PAGE = 500;

@Resolver(() => EventType)
export class EventResolver {
  @FieldResolver(() => String, { nullable: true, description: 'Why Google does not have the change (FAILED: refused; PENDING: what holds it back, e.g. the brokerage has no key).' })
  async syncError(@Root() e: EventType, @Ctx() ctx: GatewayContext): Promise<string | null> {
    if (e.syncState !== SyncStateEnum.PENDING) return e.syncError;
    // Nothing can be delivered without a key: that is the reason, whatever the last attempt said.
    const problem = await ctx.keyProblem('calendar');
    return problem?.definite ? problem.message : e.syncError;
  }

  @Authorized()
  @Query(() => EventConnectionType, { description: 'The caller\'s events overlapping [from, to), recurring series expanded into instances, ordered by start.' })
  events(
    @Ctx() ctx: GatewayContext,
    @Arg('from', () => DateTimeValue) from: DateTimeValue,
    @Arg('to', () => DateTimeValue) to: DateTimeValue,
    @Arg('first', () => Int, { defaultValue: 100 }) first: number,
    @Arg('after', () => String, { nullable: true }) after?: string | null,
  ): Promise<EventConnectionType> {
    return ctx.services.calendar.list(ctx.scope(), { from, to, first, after });
  }

  @Authorized()
  @Query(() => EventType, { nullable: true })
  event(@Ctx() ctx: GatewayContext, @Arg('id', () => ID) id: string): Promise<EventType | null> {
    return ctx.loaders().events.load(id);
  }

  @Authorized()
  @Mutation(() => EventType)
  createEvent(
    @Ctx() ctx: GatewayContext,
    @Arg('input', () => EventInput) input: EventInput,
    @Arg('idempotencyKey', () => String, { nullable: true, description: IDEMPOTENCY_KEY_DOC }) idempotencyKey?: string | null,
  ): Promise<EventType> {
    return ctx.services.calendar.create(ctx.scope(), input, idempotencyKey);
  }

  @Authorized()
  @Mutation(() => EventType)
  updateEvent(@Ctx() ctx: GatewayContext, @Arg('id', () => ID) id: string, @Arg('input', () => EventPatch) input: EventPatch): Promise<EventType> {
    return ctx.services.calendar.update(ctx.scope(), id, input);
  }

  @Authorized()
  @Mutation(() => Boolean)
  deleteEvent(@Ctx() ctx: GatewayContext, @Arg('id', () => ID) id: string): Promise<boolean> {
    return ctx.services.calendar.delete(ctx.scope(), id);
  }

  @Authorized()
  @Query(() => EventChangeConnectionType, {
    description: 'Events of the primary calendar that were created, changed or cancelled (here or in Google), in the order they were recorded; pass endCursor back as after. Synced with Google first when the last sync is older than CALENDAR_CACHE_SECONDS (syncCalendar or push notifications fetch news sooner). A cursor older than CALENDAR_CHANGES_RETENTION_DAYS is BAD_USER_INPUT with reason cursor_expired: re-read events(from, to) and continue from extensions.resyncCursor.',
  })
  async eventChanges(
    @Ctx() ctx: GatewayContext,
    @Arg('first', () => Int, { defaultValue: 100 }) first: number,
    @Arg('after', () => String, { nullable: true }) after?: string | null,
  ): Promise<EventChangeConnectionType> {
    if (!Number.isInteger(first) || first < 1 || first > MAX_CHANGES_PAGE) throw badInput(`"first" must be from 1 to ${MAX_CHANGES_PAGE} (got ${first})`, { field: 'first' });
    const since = after ? Number(Buffer.from(after, 'base64url').toString('utf8')) : 0;
    if (!Number.isInteger(since) || since < 0) throw badInput('"after" is not a cursor this API returned', { field: 'after' });
    const scope = ctx.scope();
    // Fresh with Google first when the last sync is older than the calendar's cache window, as contactChanges does.
    const agent = { brokerageId: scope.brokerageId, agentId: scope.agentId, email: scope.caller.email };
    await ctx.services.calendarSync.ensureFresh(agent, ctx.services.config.calendar.cacheMs);
    const repo = scope.manager.getRepository(CalendarChange);
    const rows = await repo.find({ where: { brokerageId: scope.brokerageId, agentId: scope.agentId, seq: MoreThan(since) }, order: { seq: 'ASC' }, take: first + 1 });
    const cursor = (seq: number) => Buffer.from(String(seq)).toString('base64url');
    if (after) {
      // The horizon is read after the rows: a retention sweep between the two reads is caught, never a silent gap.
      const rec = await ctx.services.calendarSync.record(agent);
      if (since < rec.changesPrunedThrough) {
        const newest = await repo.findOne({ where: { brokerageId: scope.brokerageId, agentId: scope.agentId }, order: { seq: 'DESC' }, select: { seq: true } });
        const days = Math.round(ctx.services.config.calendar.changesRetentionMs / 86_400_000);
        throw badInput(
          `The cursor is older than the change feed keeps (${days} days): changes after it were deleted. Reload the events you hold with events(from, to), then continue the feed from extensions.resyncCursor`,
          { field: 'after', reason: 'cursor_expired', retentionDays: days, resyncCursor: cursor(Math.max(newest?.seq ?? 0, rec.changesPrunedThrough)) },
        );
      }
    }
    const page = rows.slice(0, first);
    return {
      edges: page.map((r) => {
        const e = JSON.parse(r.event);
        return { cursor: cursor(r.seq), node: { eventId: r.googleEventId, status: r.status, event: r.status === 'cancelled' || !e.start ? null : toEventType(e), recordedAt: r.recordedAt } };
      }),
      pageInfo: { hasNextPage: rows.length > first, endCursor: page.length ? cursor(page[page.length - 1].seq) : (after ?? null) },
    };
  }

  @Authorized()
  @Mutation(() => SyncStatusType, { description: 'Runs the calendar change-feed sync now.' })
  async syncCalendar(@Ctx() ctx: GatewayContext): Promise<SyncStatusType> {
    const scope = ctx.scope();
    await ctx.services.calendarSync.sync({ brokerageId: scope.brokerageId, agentId: scope.agentId, email: scope.caller.email });
    return ctx.services.contacts.status(scope);
  }
}

@Resolver(() => AttendeeType)
export class AttendeeResolver {
  @FieldResolver(() => ContactType, { nullable: true, description: 'The caller\'s CRM contact with this email (contacts-by-email loader: one query for all attendees of a response).' })
  async contact(@Root() a: AttendeeType, @Ctx() ctx: GatewayContext): Promise<ContactType | null> {
    const [c] = await ctx.loaders().contacts.byEmail.load(a.email);
    return c ? toContactType(c) : null;
  }
}

@Resolver(() => SyncStatusType)
export class CalendarStatusResolver {
  @FieldResolver(() => CalendarSyncStatusType)
  async calendar(@Ctx() ctx: GatewayContext): Promise<CalendarSyncStatusType> {
    const scope = ctx.scope();
    const rec = await ctx.services.calendarSync.record({ brokerageId: scope.brokerageId, agentId: scope.agentId, email: scope.caller.email });
    const counts = await laneCounts(scope.manager, CALENDAR_OUTBOX.lane(scope));
    const channel = await ctx.services.calendarWatch.current(scope.agentId, scope.brokerageId);
    const error = statusError(await ctx.keyProblem('calendar'), rec);
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
      failedWrites: (await scope.manager.getRepository(CalendarEvent).find({ where: { brokerageId: scope.brokerageId, agentId: scope.agentId, syncState: 'FAILED' }, order: { updatedAt: 'DESC' }, take: 50 })).map((r) => ({
        eventId: r.googleEventId,
        title: (JSON.parse(r.event ?? r.body ?? '{}') as { summary?: string }).summary ?? null,
        error: r.syncError ?? 'Google refused the change',
        at: r.updatedAt,
      })),
    };
  }
}
