import { PageInfoType, type Count } from '../graphql/connection';
import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import type { LabelView } from './contact.loader';
import { SyncErrorType } from '../google/sync-error.type';

export enum SyncStateEnum {
  SYNCED = 'SYNCED',
  PENDING = 'PENDING',
  FAILED = 'FAILED',
  CONFLICT = 'CONFLICT',
}
registerEnumType(SyncStateEnum, {
  name: 'SyncState',
  description:
    'Whether Google has the change: SYNCED yes; PENDING on its way (retried until it is); FAILED Google refused it (see syncError); CONFLICT it was edited on both sides and merged (see conflicts), Google has the merge.',
});

@ObjectType('TypedValue', { simpleResolvers: true })
export class TypedValueType {
  @Field()
  value: string;

  @Field(() => String, { nullable: true })
  type: string | null;
}

@ObjectType('ContactDate', {
  simpleResolvers: true,
  description:
    'A calendar date as Google keeps it: a birthday or anniversary may have no year; Google also holds a year alone, or a year and month.',
})
export class ContactDateType {
  @Field(() => Int, { nullable: true })
  year: number | null;

  @Field(() => Int, { nullable: true })
  month: number | null;

  @Field(() => Int, { nullable: true })
  day: number | null;
}

@ObjectType('ContactBirthday', { simpleResolvers: true })
export class ContactBirthdayType {
  @Field(() => ContactDateType, { nullable: true })
  date: ContactDateType | null;

  @Field(() => String, {
    nullable: true,
    description: 'Free-form text Google may hold beside or instead of the date (deprecated by Google; read-only here).',
  })
  text: string | null;
}

@ObjectType('ContactEvent', {
  simpleResolvers: true,
  description: 'A dated event, such as the anniversary of a home purchase.',
})
export class ContactEventType {
  @Field(() => ContactDateType)
  date: ContactDateType;

  @Field(() => String, { nullable: true, description: 'anniversary, other, or a custom label' })
  type: string | null;
}

@ObjectType('ContactRelation', {
  simpleResolvers: true,
  description: 'Another person, by name (free text), and how they relate.',
})
export class ContactRelationType {
  @Field()
  person: string;

  @Field(() => String, { nullable: true, description: 'spouse, partner, child, referredBy, … or a custom label' })
  type: string | null;
}

@ObjectType('ContactAddress', {
  simpleResolvers: true,
  description: 'A postal address; every part optional, as in Google.',
})
export class ContactAddressType {
  @Field(() => String, { nullable: true, description: 'home, work, other, or a custom label' })
  type: string | null;

  @Field(() => String, {
    nullable: true,
    description: 'The address as one text: as written, or composed by Google from the parts.',
  })
  formattedValue: string | null;

  @Field(() => String, { nullable: true })
  poBox: string | null;

  @Field(() => String, { nullable: true })
  streetAddress: string | null;

  @Field(() => String, { nullable: true })
  extendedAddress: string | null;

  @Field(() => String, { nullable: true })
  city: string | null;

  @Field(() => String, { nullable: true })
  region: string | null;

  @Field(() => String, { nullable: true })
  postalCode: string | null;

  @Field(() => String, { nullable: true })
  country: string | null;

  @Field(() => String, { nullable: true, description: 'ISO 3166-1 alpha-2' })
  countryCode: string | null;
}

@ObjectType('ContactConflict', {
  simpleResolvers: true,
  description: 'A field changed in the CRM and in Google since the last sync; the later writer won.',
})
export class ContactConflictType {
  @Field()
  field: string;

  @Field(() => String, { nullable: true, description: "The CRM's value (JSON)." })
  ours: string | null;

  @Field(() => String, { nullable: true, description: "Google's value (JSON)." })
  theirs: string | null;

  @Field({ description: 'crm or google' })
  winner: string;

  @Field(() => Date)
  at: Date;
}

@ObjectType('Contact', { simpleResolvers: true })
export class ContactType {
  @Field(() => ID)
  id: string;

  /** Its labels, when the list that made it read them for the whole page (ContactService.list): not a field. */
  labelList?: LabelView[];

  /** Member counts of those labels, when the list read them too: not a field. */
  labelCounts?: ReadonlyMap<string, number>;

  @Field(() => String, {
    nullable: true,
    description: 'The People API resourceName, null until Google has the contact.',
  })
  resourceName: string | null;

  @Field({ description: 'The version of this contact; pass it to updateContact to detect concurrent edits.' })
  etag: string;

  @Field()
  displayName: string;

  @Field(() => String, { nullable: true })
  givenName: string | null;

  @Field(() => String, { nullable: true })
  familyName: string | null;

  @Field(() => [TypedValueType])
  emails: TypedValueType[];

  @Field(() => [TypedValueType])
  phones: TypedValueType[];

  @Field(() => String, { nullable: true })
  organization: string | null;

  @Field(() => String, { nullable: true })
  jobTitle: string | null;

  @Field(() => String, { nullable: true })
  notes: string | null;

  @Field(() => String, { nullable: true })
  middleName: string | null;

  @Field(() => String, { nullable: true, description: 'e.g. Dr., Mrs.' })
  honorificPrefix: string | null;

  @Field(() => String, { nullable: true, description: 'e.g. Jr.' })
  honorificSuffix: string | null;

  @Field(() => [TypedValueType], {
    description:
      "type: null (Google's DEFAULT) or ALTERNATE_NAME; older contacts may hold MAIDEN_NAME, INITIALS, SHORT_NAME, OTHER_NAME.",
  })
  nicknames: TypedValueType[];

  @Field(() => [ContactAddressType])
  addresses: ContactAddressType[];

  @Field(() => ContactBirthdayType, { nullable: true })
  birthday: ContactBirthdayType | null;

  @Field(() => [ContactEventType], {
    description: 'Dated events: anniversaries (e.g. of the home purchase) and others.',
  })
  events: ContactEventType[];

  @Field(() => [ContactRelationType], { description: 'The spouse, partner, children, who referred them…' })
  relations: ContactRelationType[];

  @Field(() => [TypedValueType], { description: "Web addresses: a listing, the client's site, a profile." })
  urls: TypedValueType[];

  @Field(() => Date)
  updatedAt: Date;

  @Field(() => SyncStateEnum)
  syncState: SyncStateEnum;

  @Field(() => String, { nullable: true, description: 'Why Google does not have the change yet, or refused it.' })
  syncError: string | null;

  @Field(() => [ContactConflictType])
  conflicts: ContactConflictType[];
}

@ObjectType('ContactEdge', { simpleResolvers: true })
export class ContactEdgeType {
  @Field()
  cursor: string;

  @Field(() => ContactType)
  node: ContactType;
}

@ObjectType('ContactConnection', { simpleResolvers: true })
export class ContactConnectionType {
  @Field(() => [ContactEdgeType])
  edges: ContactEdgeType[];

  @Field(() => PageInfoType)
  pageInfo: PageInfoType;

  /** Counts the list when asked for (graphql/connection.ts, Count). */
  count: Count;

  @Field(() => Int)
  totalCount(): Promise<number> {
    return this.count();
  }
}

@ObjectType('ContactsSyncStatus', { simpleResolvers: true })
export class ContactsSyncStatusType {
  @Field(() => ID, {
    description:
      'A key for client caches (Apollo, urql normalize by id): one status per agent, refetched whole or in parts.',
  })
  id: string;

  @Field(() => Date, { nullable: true, description: "The mirror is Google's state as of this time." })
  lastSyncAt: Date | null;

  @Field(() => Date, {
    nullable: true,
    description: 'Set while Google cannot be reached: reads come from the mirror, stale since then.',
  })
  staleSince: Date | null;

  @Field(() => SyncErrorType, {
    nullable: true,
    description:
      "What stops contacts from syncing now, from the brokerage's key or the last sync; null when all is well.",
  })
  error: SyncErrorType | null;

  @Field(() => String, { nullable: true, description: 'error.message (kept for older clients).' })
  lastError: string | null;

  @Field(() => Date, { nullable: true })
  lastFullSyncAt: Date | null;

  @Field(() => Int, { description: 'Full resyncs Google forced (expired sync token).' })
  fullResyncs: number;

  @Field(() => Date, { nullable: true })
  lastFullResyncAt: Date | null;

  @Field(() => String, { nullable: true, description: 'e.g. EXPIRED_SYNC_TOKEN' })
  lastFullResyncReason: string | null;

  @Field(() => Int, { description: 'Changes made here that Google does not have yet.' })
  pendingChanges: number;

  @Field(() => Int, { description: "Changes Google refused (see the contacts' syncError)." })
  failedChanges: number;
}

@ObjectType('MailSyncStatus', { simpleResolvers: true })
export class MailSyncStatusType {
  @Field(() => ID, {
    description:
      'A key for client caches (Apollo, urql normalize by id): one status per agent, refetched whole or in parts.',
  })
  id: string;

  @Field(() => SyncErrorType, {
    nullable: true,
    description: "What stops mail from reaching Gmail now (the brokerage's key); null when all is well.",
  })
  error: SyncErrorType | null;

  @Field(() => Int, { description: "The caller's mails accepted and not sent yet (QUEUED)." })
  queued: number;
}

@ObjectType('SyncStatus', { simpleResolvers: true })
export class SyncStatusType {
  @Field(() => ID, {
    description: "The agent's id: a client cache keeps the status as one object, whichever parts each query asks for.",
  })
  id: string;

  @Field(() => ContactsSyncStatusType)
  contacts: ContactsSyncStatusType;
}

@ObjectType('ContactChange', {
  simpleResolvers: true,
  description:
    'A contact that changed: created, updated or deleted, here or in Google. Apply these in order to a local copy: it then equals contacts.',
})
export class ContactChangeType {
  @Field(() => ID)
  contactId: string;

  @Field({ description: 'True when the contact is gone (deleted here or in Google): remove it from the local copy.' })
  deleted: boolean;

  @Field(() => ContactType, { nullable: true, description: 'The contact as it is now; null when deleted.' })
  contact: ContactType | null;

  @Field(() => Date, { description: 'When it changed (its updatedAt), or when it was deleted.' })
  changedAt: Date;
}

@ObjectType('ContactChangeEdge', { simpleResolvers: true })
export class ContactChangeEdgeType {
  @Field()
  cursor: string;

  @Field(() => ContactChangeType)
  node: ContactChangeType;
}

@ObjectType('ContactChangeConnection', { simpleResolvers: true })
export class ContactChangeConnectionType {
  @Field(() => [ContactChangeEdgeType])
  edges: ContactChangeEdgeType[];

  @Field(() => PageInfoType, {
    description: 'endCursor: pass it back as after, also when this page is empty (it is then the cursor given).',
  })
  pageInfo: PageInfoType;
}
