import { Field, ID, Int, ObjectType } from 'type-graphql';
import { SyncErrorType } from '../google/sync-error.type';
import { ContactType, SyncStateEnum } from '../contacts/contact.type';
import { PageInfoType } from '../graphql/connection';

@ObjectType('Attendee', { simpleResolvers: true })
export class AttendeeType {
  @Field()
  email: string;

  @Field({ description: "needsAction, declined, tentative or accepted (Google's values)." })
  responseStatus: string;

  /** Resolved through the contacts-by-email loader (see EventResolver). */
  contact?: ContactType | null;
}

@ObjectType('Event', { simpleResolvers: true })
export class EventType {
  @Field(() => ID, { description: 'The Google event id (instances of a series: "<seriesId>_<time>").' })
  id: string;

  @Field()
  googleEventId: string;

  @Field(() => String, { nullable: true, description: "For an instance of a recurring series: the series' id." })
  recurringEventId: string | null;

  @Field(() => String, { nullable: true })
  title: string | null;

  @Field(() => String, { nullable: true })
  description: string | null;

  @Field(() => String, { nullable: true })
  location: string | null;

  @Field(() => Date, { description: 'For all-day events: the start date at 00:00 UTC (see startDate).' })
  start: Date;

  @Field(() => Date, {
    description: 'Exclusive. For all-day events: the day after the last day, at 00:00 UTC (see endDate).',
  })
  end: Date;

  @Field()
  allDay: boolean;

  @Field(() => String, {
    nullable: true,
    description: 'All-day events: the first day, YYYY-MM-DD, as in Google (never shifted by time zones).',
  })
  startDate: string | null;

  @Field(() => String, {
    nullable: true,
    description: "All-day events: the day after the last day, YYYY-MM-DD (Google's exclusive end).",
  })
  endDate: string | null;

  @Field(() => String, { nullable: true, description: 'IANA time zone of the event.' })
  timeZone: string | null;

  @Field({ description: 'confirmed, tentative or cancelled.' })
  status: string;

  @Field(() => [AttendeeType])
  attendees: AttendeeType[];

  @Field(() => [String], { description: 'RRULE, EXRULE, RDATE and EXDATE lines of a series.' })
  recurrence: string[];

  @Field(() => String, {
    nullable: true,
    description: "Google's etag: pass it to updateEvent to detect concurrent edits.",
  })
  etag: string | null;

  @Field(() => SyncStateEnum)
  syncState: SyncStateEnum;

  @Field(() => String, { nullable: true })
  syncError: string | null;
}

@ObjectType('EventEdge', { simpleResolvers: true })
export class EventEdgeType {
  @Field()
  cursor: string;

  @Field(() => EventType)
  node: EventType;
}

@ObjectType('EventConnection', { simpleResolvers: true })
export class EventConnectionType {
  @Field(() => [EventEdgeType])
  edges: EventEdgeType[];

  @Field(() => PageInfoType)
  pageInfo: PageInfoType;

  @Field(() => Int)
  totalCount: number;
}

@ObjectType('CalendarWriteFailure', { simpleResolvers: true })
export class CalendarWriteFailureType {
  @Field({ description: "The event's id." })
  eventId: string;

  @Field(() => String, { nullable: true })
  title: string | null;

  @Field()
  error: string;

  @Field(() => Date)
  at: Date;
}

@ObjectType('EventChange', {
  simpleResolvers: true,
  description: 'An event of the primary calendar that changed or was cancelled, as the incremental sync saw it.',
})
export class EventChangeType {
  @Field()
  eventId: string;

  @Field({ description: 'confirmed, tentative or cancelled' })
  status: string;

  @Field(() => EventType, {
    nullable: true,
    description: 'Null for cancelled events (Google sends few fields for them).',
  })
  event: EventType | null;

  @Field(() => Date)
  recordedAt: Date;
}

@ObjectType('EventChangeEdge', { simpleResolvers: true })
export class EventChangeEdgeType {
  @Field()
  cursor: string;

  @Field(() => EventChangeType)
  node: EventChangeType;
}

@ObjectType('EventChangeConnection', { simpleResolvers: true })
export class EventChangeConnectionType {
  @Field(() => [EventChangeEdgeType])
  edges: EventChangeEdgeType[];

  @Field(() => PageInfoType)
  pageInfo: PageInfoType;
}

@ObjectType('CalendarSyncStatus', { simpleResolvers: true })
export class CalendarSyncStatusType {
  @Field(() => ID, {
    description:
      'A key for client caches (Apollo, urql normalize by id): one status per agent, refetched whole or in parts.',
  })
  id: string;

  @Field(() => Date, { nullable: true })
  lastSyncAt: Date | null;

  @Field(() => Date, { nullable: true })
  lastFullSyncAt: Date | null;

  @Field(() => Int, { description: 'Full syncs, including those Google forced (410 fullSyncRequired).' })
  fullSyncs: number;

  @Field(() => String, { nullable: true })
  lastFullSyncReason: string | null;

  @Field(() => Date, { nullable: true })
  staleSince: Date | null;

  @Field(() => SyncErrorType, {
    nullable: true,
    description:
      "What stops the calendar from syncing now, from the brokerage's key or the last sync; null when all is well.",
  })
  error: SyncErrorType | null;

  @Field(() => String, { nullable: true, description: 'error.message (kept for older clients).' })
  lastError: string | null;

  @Field(() => Int)
  pendingChanges: number;

  @Field(() => Int)
  failedChanges: number;

  @Field(() => Date, {
    nullable: true,
    description: 'When the push-notification channel expires (null: not watching).',
  })
  watchExpiresAt: Date | null;

  @Field(() => [CalendarWriteFailureType], {
    description:
      'Writes Google refused for good (newest first, at most 50): the event keeps syncState FAILED and this reason until it is written again.',
  })
  failedWrites: CalendarWriteFailureType[];
}
