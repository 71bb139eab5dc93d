import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Authorized, Ctx, FieldResolver, ID, Info, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { selects } from '../graphql/selection';
import type { GatewayContext } from '../context';
import { ContactType, SyncStateEnum, SyncStatusType } from '../contacts/contact.type';
import { IDEMPOTENCY_KEY_DOC } from '../idempotency/idempotency';
import { DateTimeValue } from './date-time.scalar';
import { EventInput, EventPatch } from './event.input';
import {
  AttendeeType,
  CalendarSyncStatusType,
  EventChangeConnectionType,
  EventConnectionType,
  EventType,
} from './event.type';

@Resolver(() => EventType)
export class EventResolver {
  @FieldResolver(() => String, {
    nullable: true,
    description:
      'Why Google does not have the change (FAILED: refused; PENDING: what holds it back, e.g. the brokerage has no key).',
  })
  syncError(@Root() e: EventType, @Ctx() ctx: GatewayContext): string | null | Promise<string | null> {
    // Answered at once unless PENDING, as a contact's (ContactResolver.syncError).
    return e.syncState === SyncStateEnum.PENDING ? ctx.syncErrorOf('calendar', e) : e.syncError;
  }

  @Authorized()
  @Query(() => EventConnectionType, {
    description:
      "The caller's events overlapping [from, to), recurring series expanded into instances, ordered by start.",
  })
  events(
    @Ctx() ctx: GatewayContext,
    @Arg('from', () => DateTimeValue) from: DateTimeValue,
    @Arg('to', () => DateTimeValue) to: DateTimeValue,
    @Arg('first', () => Int, { defaultValue: 100 }) first: number,
    @Arg('after', () => String, { nullable: true }) after?: string | null,
    @Info() info?: GraphQLResolveInfo,
  ): Promise<EventConnectionType> {
    // The attendees' contacts are attached by the list (and kept with its page) when the query asks for them.
    const contacts =
      info && selects(info, ['edges', 'node', 'attendees', 'contact'])
        ? { fresh: () => ctx.contactsFresh(), attach: (people: AttendeeType[]) => ctx.attachContacts(people) }
        : undefined;
    return ctx.services.calendar.list(ctx.scope(), { from, to, first, after }, contacts);
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
    @Arg('idempotencyKey', () => String, { nullable: true, description: IDEMPOTENCY_KEY_DOC })
    idempotencyKey?: string | null,
  ): Promise<EventType> {
    return ctx.services.calendar.create(ctx.scope(), input, idempotencyKey);
  }

  @Authorized()
  @Mutation(() => EventType)
  updateEvent(
    @Ctx() ctx: GatewayContext,
    @Arg('id', () => ID) id: string,
    @Arg('input', () => EventPatch) input: EventPatch,
  ): Promise<EventType> {
    return ctx.services.calendar.update(ctx.scope(), id, input);
  }

  @Authorized()
  @Mutation(() => Boolean)
  deleteEvent(@Ctx() ctx: GatewayContext, @Arg('id', () => ID) id: string): Promise<boolean> {
    return ctx.services.calendar.delete(ctx.scope(), id);
  }

  @Authorized()
  @Query(() => EventChangeConnectionType, {
    description:
      'Events of the primary calendar that were created, changed or cancelled (here or in Google), in the order they were recorded; pass endCursor back as after. Synced with Google first when the last sync is older than CALENDAR_CACHE_SECONDS (syncCalendar or push notifications fetch news sooner). A cursor older than CALENDAR_CHANGES_RETENTION_DAYS is BAD_USER_INPUT with reason cursor_expired: re-read events(from, to) and continue from extensions.resyncCursor.',
  })
  eventChanges(
    @Ctx() ctx: GatewayContext,
    @Arg('first', () => Int, { defaultValue: 100 }) first: number,
    @Arg('after', () => String, { nullable: true }) after?: string | null,
  ): Promise<EventChangeConnectionType> {
    return ctx.services.calendarSync.changes(ctx.scope(), { first, after });
  }

  @Authorized()
  @Mutation(() => SyncStatusType, { description: 'Runs the calendar change-feed sync now.' })
  async syncCalendar(@Ctx() ctx: GatewayContext): Promise<SyncStatusType> {
    const scope = ctx.scope();
    await ctx.services.calendarSync.sync(scope.agent);
    return ctx.services.contacts.status(scope);
  }
}

@Resolver(() => AttendeeType)
export class AttendeeResolver {
  @FieldResolver(() => ContactType, {
    nullable: true,
    description:
      "The caller's CRM contact with this email (contacts-by-email loader: one query for all attendees of a response).",
  })
  contact(@Root() a: AttendeeType, @Ctx() ctx: GatewayContext): ContactType | null | Promise<ContactType | null> {
    // Attached by the list for all its attendees (events), or looked up here (one loader batch per response).
    return a.contact !== undefined ? a.contact : ctx.contactByEmail(a.email);
  }
}

@Resolver(() => SyncStatusType)
export class CalendarStatusResolver {
  @FieldResolver(() => CalendarSyncStatusType)
  async calendar(@Ctx() ctx: GatewayContext): Promise<CalendarSyncStatusType> {
    const scope = ctx.scope();
    const record = await ctx.services.calendarSync.record(scope.agent);
    const channel = await ctx.services.calendarWatch.current(scope.agentId, scope.brokerageId);
    return ctx.services.calendar.status(scope, { record, channel, keyProblem: await ctx.keyProblem('calendar') });
  }
}
