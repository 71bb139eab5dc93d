import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { SyncErrorType } from '../google/sync-error.type';

export enum SyncStateEnum {
  SYNCED = 'SYNCED',
  PENDING = 'PENDING',
  FAILED = 'FAILED',
  CONFLICT = 'CONFLICT',
}
registerEnumType(SyncStateEnum, {
  name: 'SyncState',
  description: 'Whether Google has the change: SYNCED yes; PENDING on its way (retried until it is); FAILED Google refused it (see syncError); CONFLICT it was edited on both sides and merged (see conflicts), Google has the merge.',
});

@ObjectType('TypedValue')
export class TypedValueType {
  @Field()
  value: string;

  @Field(() => String, { nullable: true })
  type: string | null;
}

@ObjectType('ContactConflict', { description: 'A field changed in the CRM and in Google since the last sync; the later writer won.' })
export class ContactConflictType {
  @Field()
  field: string;

  @Field(() => String, { nullable: true, description: 'The CRM\'s value (JSON).' })
  ours: string | null;

  @Field(() => String, { nullable: true, description: 'Google\'s value (JSON).' })
  theirs: string | null;

  @Field({ description: 'crm or google' })
  winner: string;

  @Field(() => Date)
  at: Date;
}

@ObjectType('Contact')
export class ContactType {
  @Field(() => ID)
  id: string;

  @Field(() => String, { nullable: true, description: 'The People API resourceName, null until Google has the contact.' })
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

  @Field(() => Date)
  updatedAt: Date;

  @Field(() => SyncStateEnum)
  syncState: SyncStateEnum;

  @Field(() => String, { nullable: true, description: 'Why Google does not have the change yet, or refused it.' })
  syncError: string | null;

  @Field(() => [ContactConflictType])
  conflicts: ContactConflictType[];
}

@ObjectType('ContactEdge')
export class ContactEdgeType {
  @Field()
  cursor: string;

  @Field(() => ContactType)
  node: ContactType;
}

@ObjectType('PageInfo')
export class PageInfoType {
  @Field()
  hasNextPage: boolean;

  @Field(() => String, { nullable: true })
  endCursor: string | null;
}

@ObjectType('ContactConnection')
export class ContactConnectionType {
  @Field(() => [ContactEdgeType])
  edges: ContactEdgeType[];

  @Field(() => PageInfoType)
  pageInfo: PageInfoType;

  @Field(() => Int)
  totalCount: number;
}

@ObjectType('ContactsSyncStatus')
export class ContactsSyncStatusType {
  @Field(() => ID, { description: 'A key for client caches (Apollo, urql normalize by id): one status per agent, refetched whole or in parts.' })
  id: string;

  @Field(() => Date, { nullable: true, description: 'The mirror is Google\'s state as of this time.' })
  lastSyncAt: Date | null;

  @Field(() => Date, { nullable: true, description: 'Set while Google cannot be reached: reads come from the mirror, stale since then.' })
  staleSince: Date | null;

  @Field(() => SyncErrorType, { nullable: true, description: 'What stops contacts from syncing now, from the brokerage\'s key or the last sync; null when all is well.' })
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

  @Field(() => Int, { description: 'Changes Google refused (see the contacts\' syncError).' })
  failedChanges: number;
}

@ObjectType('MailSyncStatus')
export class MailSyncStatusType {
  @Field(() => ID, { description: 'A key for client caches (Apollo, urql normalize by id): one status per agent, refetched whole or in parts.' })
  id: string;

  @Field(() => SyncErrorType, { nullable: true, description: 'What stops mail from reaching Gmail now (the brokerage\'s key); null when all is well.' })
  error: SyncErrorType | null;

  @Field(() => Int, { description: 'The caller\'s mails accepted and not sent yet (QUEUED).' })
  queued: number;
}

@ObjectType('SyncStatus')
export class SyncStatusType {
  @Field(() => ID, { description: 'The agent\'s id: a client cache keeps the status as one object, whichever parts each query asks for.' })
  id: string;

  @Field(() => ContactsSyncStatusType)
  contacts: ContactsSyncStatusType;
}

@ObjectType('ContactChange', { description: 'A contact that changed: created, updated or deleted, here or in Google. Apply these in order to a local copy: it then equals contacts.' })
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

@ObjectType('ContactChangeEdge')
export class ContactChangeEdgeType {
  @Field()
  cursor: string;

  @Field(() => ContactChangeType)
  node: ContactChangeType;
}

@ObjectType('ContactChangeConnection')
export class ContactChangeConnectionType {
  @Field(() => [ContactChangeEdgeType])
  edges: ContactChangeEdgeType[];

  @Field(() => PageInfoType, { description: 'endCursor: pass it back as after, also when this page is empty (it is then the cursor given).' })
  pageInfo: PageInfoType;
}
