/**
 * The People driver: the only file of the gateway that talks to the People API (and the only one importing
 * `@googleapis/people`, the types included: the contacts code takes them from here). One driver acts as one agent's
 * own contacts, those of the mailbox the session's token was issued for (`people/me`).
 *
 * It owns what People dictates: the client, `people/me`, every field mask (the sync's personFields, the update mask,
 * the read mask of writes, the group fields) and the page and batch limits. Each method is one People call (callers
 * count them, and the tests read the counts from the emulator's request log); callers cut their lists to the limits
 * below. Failures are Google's errors, thrown as the client throws them: callers map them with mapGoogleError
 * (google-errors.ts), or GoogleSession.toAppError.
 *
 * Reference: https://developers.google.com/people/api/rest/v1/people and
 * https://developers.google.com/people/api/rest/v1/contactGroups; what the gateway relies on, with the sources of
 * each detail: docs/google-people-contact-details.md.
 */
import { auth, people, type people_v1 } from '@googleapis/people';
import { bearerAuth, type DriverOptions } from './driver-options';

export type Person = people_v1.Schema$Person;
export type PersonResponse = people_v1.Schema$PersonResponse;
export type ContactGroup = people_v1.Schema$ContactGroup;
export type ContactGroupResponse = people_v1.Schema$ContactGroupResponse;
export type FieldMetadata = people_v1.Schema$FieldMetadata;
/** People's calendar date (Schema$Date): a part left out, or 0, is not set. */
export type PeopleDate = people_v1.Schema$Date;
export type PeopleAddress = people_v1.Schema$Address;

/* Limits: Google's documented maxima, each with its unit; callers cut their lists to them. */

/**
 * Persons per connections.list page: pageSize 1 to 1000
 * (https://developers.google.com/people/api/rest/v1/people.connections/list).
 */
const CONNECTIONS_PAGE_MAX = 1000;
/**
 * Resource names per people.getBatchGet request: up to 200
 * (https://developers.google.com/people/api/rest/v1/people/getBatchGet).
 */
export const BATCH_GET_MAX = 200;
/**
 * Contacts per people.batchCreateContacts request: up to 200
 * (https://developers.google.com/people/api/rest/v1/people/batchCreateContacts).
 */
export const BATCH_CREATE_MAX = 200;
/**
 * Contacts per people.batchUpdateContacts request: up to 200
 * (https://developers.google.com/people/api/rest/v1/people/batchUpdateContacts).
 */
export const BATCH_UPDATE_MAX = 200;
/**
 * Resource names per people.batchDeleteContacts request: up to 500
 * (https://developers.google.com/people/api/rest/v1/people/batchDeleteContacts).
 */
export const BATCH_DELETE_MAX = 500;
/**
 * Groups per contactGroups.list page: pageSize 1 to 1000, and 30 when not given, so it is always given
 * (https://developers.google.com/people/api/rest/v1/contactGroups/list).
 */
const GROUP_PAGE_MAX = 1000;
/**
 * Resource names per contactGroups.batchGet request: up to 200
 * (https://developers.google.com/people/api/rest/v1/contactGroups/batchGet).
 */
export const GROUP_BATCH_GET_MAX = 200;
/**
 * Resource names per contactGroups.members.modify request, added and removed together: up to 1000
 * (https://developers.google.com/people/api/rest/v1/contactGroups.members/modify).
 */
export const MEMBERS_MODIFY_MAX = 1000;

/* Field masks. */

/**
 * The person fields read by every sync and by every write's answer (readMask); constant,
 * because a sync token fixes `personFields` ("When the pageToken or syncToken is specified, all other request
 * parameters must match the first call", https://developers.google.com/people/api/rest/v1/people.connections/list).
 * A change of it is noticed per agent (contact_sync.personFields) and answered with one full sync
 * (contacts/contact.sync.ts). The doctor reads with it too (listConnections), so a key that passes its check can
 * serve the first real sync.
 */
export const PERSON_FIELDS =
  'names,nicknames,emailAddresses,phoneNumbers,addresses,organizations,biographies,birthdays,events,relations,urls,memberships,clientData,metadata';
/**
 * What our updates replace (updatePersonFields / updateMask: the listed fields are replaced whole). `clientData` is set
 * on create; only the guard before a delete writes it again, unchanged (GUARD_UPDATE_FIELDS). `memberships` never:
 * labels change through contactGroups.members.modify (an update would replace a contact's whole set).
 */
export const UPDATE_PERSON_FIELDS =
  'names,nicknames,emailAddresses,phoneNumbers,addresses,organizations,biographies,birthdays,events,relations,urls';
/**
 * The guard before a delete rewrites only the contact's own clientData, with the etag last seen (see
 * rewriteClientData).
 */
const GUARD_UPDATE_FIELDS = 'clientData';
/** Whether a contact (or group) still exists: its metadata says so (`deleted`), nothing more is read. */
const METADATA_ONLY = 'metadata';
/** The group fields a label sync reads (memberCount is ours: counted over the mirror, as contacts(label:) sees it). */
const GROUP_FIELDS = 'metadata,groupType,name';
/** A rename changes the group's name only (contactGroups.update updateGroupFields). */
const GROUP_RENAME_FIELDS = 'name';

/**
 * The authenticated user, whose connections are listed: "Only people/me is valid"
 * (https://developers.google.com/people/api/rest/v1/people.connections/list). The user is the mailbox the token acts
 * as (JWT `sub`), so a driver can never reach another one's contacts.
 */
const ME = 'people/me';

/** One page of connections.list. */
export interface ConnectionsPage {
  persons: Person[];
  nextPageToken?: string;
  /** On the last page only, when a sync token was asked for. */
  nextSyncToken?: string;
  /** How many contacts the agent has (totalPeople, or the older totalItems), when Google says. */
  total?: number;
}

/** One page of contactGroups.list. */
export interface GroupsPage {
  groups: ContactGroup[];
  nextPageToken?: string;
  nextSyncToken?: string;
}

/** What contactGroups.members.modify did not do, by resource name. */
export interface MembersModified {
  /** Contacts Google does not have (notFoundResourceNames). */
  notFound: string[];
  /** Contacts left in the group because it is their last one (canNotRemoveLastContactGroupResourceNames). */
  keptInLastGroup: string[];
}

export class PeopleDriver {
  private readonly api: people_v1.People;

  constructor(options: DriverOptions) {
    this.api = people({ version: 'v1', auth: bearerAuth(auth.OAuth2, options), ...options.client });
  }

  /**
   * One page of the agent's contacts with PERSON_FIELDS, as a sync reads them: CONNECTIONS_PAGE_MAX a page, a sync
   * token asked for. Without `syncToken` a full listing; with it, only what changed since (deleted contacts carry
   * `metadata.deleted`). An expired token is answered 400 EXPIRED_SYNC_TOKEN (mapGoogleError: 'sync-token-expired').
   */
  async listConnections(page: { syncToken?: string; pageToken?: string } = {}): Promise<ConnectionsPage> {
    const res = await this.api.people.connections.list({
      resourceName: ME,
      personFields: PERSON_FIELDS,
      pageSize: CONNECTIONS_PAGE_MAX,
      requestSyncToken: true,
      ...page,
    });
    return {
      persons: res.data.connections ?? [],
      nextPageToken: res.data.nextPageToken ?? undefined,
      nextSyncToken: res.data.nextSyncToken ?? undefined,
      total: res.data.totalPeople ?? res.data.totalItems ?? undefined,
    };
  }

  /** The cheapest call that proves People answers for this agent: one contact's metadata, no sync token. */
  async probe(): Promise<void> {
    await this.api.people.connections.list({ resourceName: ME, pageSize: 1, personFields: METADATA_ONLY });
  }

  /** people.getBatchGet with PERSON_FIELDS: one answer per name (up to BATCH_GET_MAX), each with its own status. */
  async getPersons(resourceNames: string[]): Promise<PersonResponse[]> {
    const res = await this.api.people.getBatchGet({ resourceNames, personFields: PERSON_FIELDS });
    return res.data.responses ?? [];
  }

  /** people.getBatchGet of the metadata alone (up to BATCH_GET_MAX names): which contacts Google still has. */
  async getPersonsMetadata(resourceNames: string[]): Promise<PersonResponse[]> {
    const res = await this.api.people.getBatchGet({ resourceNames, personFields: METADATA_ONLY });
    return res.data.responses ?? [];
  }

  /**
   * people.batchCreateContacts (up to BATCH_CREATE_MAX): the created persons with PERSON_FIELDS, in the order sent
   * (null: none returned).
   */
  async batchCreateContacts(persons: Person[]): Promise<(Person | null)[]> {
    const res = await this.api.people.batchCreateContacts({
      requestBody: { contacts: persons.map((contactPerson) => ({ contactPerson })), readMask: PERSON_FIELDS },
    });
    return (res.data.createdPeople ?? []).map((r) => r.person ?? null);
  }

  /**
   * people.batchUpdateContacts (up to BATCH_UPDATE_MAX, keyed by resource name, each with the etag it was based on):
   * UPDATE_PERSON_FIELDS replaced. The persons as Google now has them (PERSON_FIELDS), by resource name. People fails
   * the whole batch for one stale etag (400 FAILED_PRECONDITION) or one contact it no longer has (404).
   */
  async batchUpdateContacts(contacts: Record<string, Person>): Promise<Map<string, Person>> {
    const res = await this.api.people.batchUpdateContacts({
      requestBody: { contacts, updateMask: UPDATE_PERSON_FIELDS, readMask: PERSON_FIELDS },
    });
    return updatedPersons(res.data);
  }

  /**
   * The guard before a delete (People's deletes take no etag): each contact's own clientData written back unchanged
   * with the etag last seen, so that Google refuses it (stale etag, or 404) when the contact changed or went since.
   * Up to BATCH_UPDATE_MAX; the persons as Google now has them, by resource name.
   */
  async rewriteClientData(contacts: Record<string, Pick<Person, 'etag' | 'clientData'>>): Promise<Map<string, Person>> {
    const res = await this.api.people.batchUpdateContacts({
      requestBody: { contacts, updateMask: GUARD_UPDATE_FIELDS, readMask: PERSON_FIELDS },
    });
    return updatedPersons(res.data);
  }

  /** people.batchDeleteContacts (up to BATCH_DELETE_MAX names). One Google no longer has fails the batch (404). */
  async batchDeleteContacts(resourceNames: string[]): Promise<void> {
    await this.api.people.batchDeleteContacts({ requestBody: { resourceNames } });
  }

  /**
   * One page of the agent's contact groups (GROUP_PAGE_MAX a page, GROUP_FIELDS): all of them, or with `syncToken` what
   * changed since.
   */
  async listGroups(page: { syncToken?: string; pageToken?: string } = {}): Promise<GroupsPage> {
    const res = await this.api.contactGroups.list({
      pageSize: GROUP_PAGE_MAX,
      groupFields: GROUP_FIELDS,
      syncToken: page.syncToken,
      pageToken: page.pageToken,
    });
    return {
      groups: res.data.contactGroups ?? [],
      nextPageToken: res.data.nextPageToken ?? undefined,
      nextSyncToken: res.data.nextSyncToken ?? undefined,
    };
  }

  /** contactGroups.batchGet of the metadata alone (up to GROUP_BATCH_GET_MAX names): which groups Google still has. */
  async getGroupsMetadata(resourceNames: string[]): Promise<ContactGroupResponse[]> {
    const res = await this.api.contactGroups.batchGet({ resourceNames, groupFields: METADATA_ONLY });
    return res.data.responses ?? [];
  }

  /** contactGroups.create. Google refuses a second group of a name the user's groups have (409). */
  async createGroup(name: string): Promise<ContactGroup> {
    const res = await this.api.contactGroups.create({ requestBody: { contactGroup: { name } } });
    return res.data;
  }

  /** contactGroups.update of the name alone, without an etag: the rename is the agent's latest word on the name. */
  async renameGroup(resourceName: string, name: string): Promise<ContactGroup> {
    const res = await this.api.contactGroups.update({
      resourceName,
      requestBody: { contactGroup: { resourceName, name }, updateGroupFields: GROUP_RENAME_FIELDS },
    });
    return res.data;
  }

  /** contactGroups.delete with deleteContacts=false: the contacts stay, they only leave the group. */
  async deleteGroup(resourceName: string): Promise<void> {
    await this.api.contactGroups.delete({ resourceName, deleteContacts: false });
  }

  /**
   * contactGroups.members.modify: adds and removes contacts (up to MEMBERS_MODIFY_MAX names in all); idempotent in
   * Google.
   */
  async modifyGroupMembers(resourceName: string, add: string[], remove: string[]): Promise<MembersModified> {
    const res = await this.api.contactGroups.members.modify({
      resourceName,
      requestBody: { resourceNamesToAdd: add, resourceNamesToRemove: remove },
    });
    return {
      notFound: res.data.notFoundResourceNames ?? [],
      keptInLastGroup: res.data.canNotRemoveLastContactGroupResourceNames ?? [],
    };
  }
}

function updatedPersons(data: people_v1.Schema$BatchUpdateContactsResponse): Map<string, Person> {
  return new Map(
    Object.entries(data.updateResult ?? {}).flatMap(([rn, r]) => (r.person ? [[rn, r.person] as const] : [])),
  );
}
