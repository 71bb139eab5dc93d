/**
 * The contact mirror's rows: the columns of a contact from its fields and back (contactRow, columnsOf, fieldsOf), the
 * email index (contact_email) kept with them, and the removal of contacts (with their email, search and label rows)
 * and their tombstones. The search index's rows of live contacts are contact-search.ts's. Shared by the sync
 * (Google → mirror), the delivery (Google's answers → mirror) and the service (the CRM's writes).
 */
import type { EntityManager } from 'typeorm';
import { In } from 'typeorm';
import type { AgentKey } from '../agents/agent-ref';
import { batches } from '../db/batches';
import { Contact, ContactEmail, ContactLabelMember, ContactSearchToken, ContactTombstone } from '../entities';
import { EMAIL_LENGTH } from '../entities/columns';
import type { FeedWrite } from './contact-changes';
import type { Person } from '../google/people';
import {
  DETAIL_FIELDS,
  displayNameOf,
  searchTextOf,
  updateTimeOf,
  type ContactDetails,
  type ContactFields,
} from './person.mapper';

/** A new mirror row: a contact not yet in Google unless `base` says otherwise, with the columns of `f`. */
export function contactRow(
  base: Partial<Contact> & Pick<Contact, 'id' | 'brokerageId' | 'agentId'>,
  f: ContactFields,
  now: Date,
): Contact {
  return {
    resourceName: null,
    googleEtag: null,
    version: 1,
    syncedVersion: 0,
    person: null,
    syncState: 'PENDING',
    syncError: null,
    conflicts: null,
    googleUpdatedAt: null,
    deletedAt: null,
    changeSeq: 0,
    createdAt: now,
    updatedAt: now,
    ...base,
    ...columnsOf(f),
  } as Contact;
}

/**
 * A contact as a sync first brings it from Google (`f`: fieldsFromPerson(p)): in step with Google, Google's person
 * kept as the base of later merges. Used by the import, and by the scale bench to seed a mirror as an import leaves it.
 */
export function importedRow(
  key: Pick<Contact, 'id' | 'brokerageId' | 'agentId'>,
  p: Person,
  f: ContactFields,
  now: Date,
): Contact {
  return contactRow(
    {
      ...key,
      resourceName: p.resourceName!,
      googleEtag: p.etag ?? null,
      person: JSON.stringify(p),
      version: 1,
      syncedVersion: 1,
      syncState: 'SYNCED',
      googleUpdatedAt: updateTimeOf(p),
    },
    f,
    now,
  );
}

/** The mirror columns derived from a contact's fields. */
export function columnsOf(
  f: ContactFields,
): Pick<
  Contact,
  | 'givenName'
  | 'familyName'
  | 'organization'
  | 'jobTitle'
  | 'notes'
  | 'emails'
  | 'phones'
  | 'details'
  | 'sortKey'
  | 'searchText'
> {
  return {
    givenName: f.givenName,
    familyName: f.familyName,
    organization: f.organization,
    jobTitle: f.jobTitle,
    notes: f.notes,
    emails: JSON.stringify(f.emails),
    phones: JSON.stringify(f.phones),
    details: detailsColumn(f),
    sortKey: displayNameOf(f).toLowerCase().slice(0, 200),
    searchText: searchTextOf(f),
  };
}

/** The `details` column: JSON of the DETAIL_FIELDS a contact has (empty ones left out); null when it has none. */
function detailsColumn(f: ContactFields): string | null {
  const set = DETAIL_FIELDS.filter((k) => (Array.isArray(f[k]) ? (f[k] as unknown[]).length > 0 : f[k] !== null));
  return set.length ? JSON.stringify(Object.fromEntries(set.map((k) => [k, f[k]]))) : null;
}

/** The details of a contact that has none (the `details` column null). */
export const NO_DETAILS: ContactDetails = {
  middleName: null,
  honorificPrefix: null,
  honorificSuffix: null,
  nicknames: [],
  addresses: [],
  birthday: null,
  events: [],
  relations: [],
  urls: [],
};

/** A contact with no field set. */
export const EMPTY_FIELDS: ContactFields = {
  givenName: null,
  familyName: null,
  organization: null,
  jobTitle: null,
  notes: null,
  emails: [],
  phones: [],
  ...NO_DETAILS,
};

/** A contact's fields, read back from its columns. */
export function fieldsOf(
  c: Pick<
    Contact,
    'givenName' | 'familyName' | 'organization' | 'jobTitle' | 'notes' | 'emails' | 'phones' | 'details'
  >,
): ContactFields {
  const details = c.details ? (JSON.parse(c.details) as Partial<ContactDetails>) : {};
  // Written out rather than built from DETAIL_FIELDS (every contact of every page comes through here), in
  // DETAIL_FIELDS' order whatever the stored JSON's: fields are compared as JSON.
  return {
    givenName: c.givenName,
    familyName: c.familyName,
    organization: c.organization,
    jobTitle: c.jobTitle,
    notes: c.notes,
    emails: JSON.parse(c.emails),
    phones: JSON.parse(c.phones),
    middleName: details.middleName ?? null,
    honorificPrefix: details.honorificPrefix ?? null,
    honorificSuffix: details.honorificSuffix ?? null,
    nicknames: details.nicknames ?? [],
    addresses: details.addresses ?? [],
    birthday: details.birthday ?? null,
    events: details.events ?? [],
    relations: details.relations ?? [],
    urls: details.urls ?? [],
  } satisfies Record<(typeof DETAIL_FIELDS)[number], unknown> & Partial<ContactFields> as ContactFields;
}

/**
 * Inserts new mirror rows, 200 a statement. Not read back (updateEntity(false)): for a column with a database default
 * (changeSeq) TypeORM selects the rows again and merges the i-th row it gets into the i-th entity given, whatever
 * order the database answered in, primary key included, so the ids of the entities passed in got shuffled (the
 * contacts' email index then pointed at one another; seen on SQLite). Every column is given here anyway.
 */
export async function insertContacts(m: EntityManager, rows: Contact[]): Promise<void> {
  for (const batch of batches(rows, 200))
    await m.createQueryBuilder().insert().into(Contact).values(batch).updateEntity(false).execute();
}

/** Index rows of new contacts (no previous rows to remove), in multi-row inserts. */
export async function insertEmails(
  m: EntityManager,
  items: { contact: Pick<Contact, 'id' | 'agentId' | 'brokerageId'>; fields: ContactFields }[],
): Promise<void> {
  // A value longer than an address can be (Google keeps any text as an email) is not indexed: no mail goes to it.
  const rows = items.flatMap(({ contact, fields }) =>
    [...new Set(fields.emails.map((e) => e.value.toLowerCase()))]
      .filter((email) => email.length <= EMAIL_LENGTH)
      .map((email) => ({ contactId: contact.id, email, agentId: contact.agentId, brokerageId: contact.brokerageId })),
  );
  // orIgnore: MySQL's utf8mb4_unicode_ci holds "anna.müller@" and "anna.muller@" (or ß and ss) equal, so a second
  // one of a contact would break the key and fail the sync page for good; the index needs it once.
  for (let i = 0; i < rows.length; i += 500)
    await m
      .createQueryBuilder()
      .insert()
      .into(ContactEmail)
      .values(rows.slice(i, i + 500))
      .orIgnore()
      .execute();
}

/** Replaces a contact's index rows. */
export async function writeEmails(
  m: EntityManager,
  c: Pick<Contact, 'id' | 'agentId' | 'brokerageId'>,
  f: ContactFields,
): Promise<void> {
  await m.getRepository(ContactEmail).delete({ contactId: c.id, brokerageId: c.brokerageId });
  await insertEmails(m, [{ contact: c, fields: f }]);
}

/**
 * Removes contacts from the mirror, leaving a tombstone of each (its id and when: contact-tombstone.entity.ts), each
 * at a feed position of its own reserved by the transaction (`feed`: taken first in it, contact-changes.ts).
 */
export async function removeContacts(
  m: EntityManager,
  agent: AgentKey,
  feed: FeedWrite,
  ids: string[],
  now = new Date(),
): Promise<void> {
  const { brokerageId, agentId } = agent;
  for (let i = 0; i < ids.length; i += 500) {
    const slice = ids.slice(i, i + 500);
    await m.getRepository(ContactEmail).delete({ contactId: In(slice), brokerageId });
    await m.getRepository(ContactSearchToken).delete({ contactId: In(slice), brokerageId, agentId });
    await m.getRepository(ContactLabelMember).delete({ contactId: In(slice), brokerageId, agentId });
    await m.getRepository(Contact).delete({ id: In(slice), brokerageId, agentId });
  }
  const first = await feed.reserve(ids.length); // a position each (contact-changes.ts)
  for (let i = 0; i < ids.length; i += 500) {
    await m
      .createQueryBuilder()
      .insert()
      .into(ContactTombstone)
      .values(
        ids
          .slice(i, i + 500)
          .map((contactId, j) => ({ contactId, brokerageId, agentId, changeSeq: first + i + j, deletedAt: now })),
      )
      .orIgnore()
      .execute();
  }
}
