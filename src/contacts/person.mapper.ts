/**
 * People `Person` ↔ the CRM's contact fields. Only the fields the CRM edits
 * are written back (updatePersonFields lists exactly them), and within them
 * nothing Google holds beyond what we model is dropped: a second organization
 * or a name's extra parts survive our updates.
 * Person shape: @googleapis/people v1 Schema$Person; google-api-notes §2.4.
 */
import type { people_v1 } from '@googleapis/people';

export interface Typed {
  value: string;
  type: string | null;
}

export interface ContactFields {
  givenName: string | null;
  familyName: string | null;
  organization: string | null;
  jobTitle: string | null;
  notes: string | null;
  emails: Typed[];
  phones: Typed[];
}

export const FIELD_NAMES = ['givenName', 'familyName', 'organization', 'jobTitle', 'notes', 'emails', 'phones'] as const;
export type FieldName = (typeof FIELD_NAMES)[number];

/** Read on every sync and write; constant, because a sync token fixes `personFields` (People connections.list). */
export const PERSON_FIELDS = 'names,emailAddresses,phoneNumbers,organizations,biographies,clientData,metadata';
/** What our updates replace. `clientData` is set on create; only the guard before a delete writes it again, unchanged. */
export const UPDATE_PERSON_FIELDS = 'names,emailAddresses,phoneNumbers,organizations,biographies';
/** Our contact id travels in People `clientData` under this key: how a retried create finds the first one. */
export const CLIENT_DATA_KEY = 'engageContactId';

type Person = people_v1.Schema$Person;

export const primaryFirst = <T extends { metadata?: people_v1.Schema$FieldMetadata | null }>(items: T[] | null | undefined): T[] =>
  [...(items ?? [])].sort((a, b) => Number(Boolean(b.metadata?.primary)) - Number(Boolean(a.metadata?.primary)));

const clean = (v: string | null | undefined): string | null => (v === undefined || v === null || v.trim() === '' ? null : v.trim());

export function fieldsFromPerson(p: Person): ContactFields {
  const name = primaryFirst(p.names)[0];
  const org = primaryFirst(p.organizations)[0];
  const bio = primaryFirst(p.biographies)[0];
  return {
    givenName: clean(name?.givenName),
    familyName: clean(name?.familyName),
    organization: clean(org?.name),
    jobTitle: clean(org?.title),
    notes: clean(bio?.value),
    emails: (p.emailAddresses ?? []).filter((e) => clean(e.value)).map((e) => ({ value: e.value!.trim(), type: clean(e.type) })),
    phones: (p.phoneNumbers ?? []).filter((e) => clean(e.value)).map((e) => ({ value: e.value!.trim(), type: clean(e.type) })),
  };
}

/** Our id as stored in the person's clientData, if any. */
export function engageIdOf(p: Person): string | undefined {
  return p.clientData?.find((c) => c.key === CLIENT_DATA_KEY)?.value ?? undefined;
}

/**
 * The person body to write: our fields over `base` (the person as Google last
 * sent it), keeping what we do not model (other name parts, other
 * organizations, item metadata Google needs to match items).
 */
export function personFromFields(f: ContactFields, base: Person | null, opts: { engageId?: string; etag?: string | null } = {}): Person {
  const baseName = primaryFirst(base?.names)[0] ?? {};
  const baseOrgs = primaryFirst(base?.organizations);
  const person: Person = {
    names: f.givenName || f.familyName ? [{ ...pick(baseName, ['middleName', 'honorificPrefix', 'honorificSuffix']), givenName: f.givenName ?? undefined, familyName: f.familyName ?? undefined }] : [],
    emailAddresses: f.emails.map((e) => ({ value: e.value, ...(e.type ? { type: e.type } : {}) })),
    phoneNumbers: f.phones.map((e) => ({ value: e.value, ...(e.type ? { type: e.type } : {}) })),
    organizations: f.organization || f.jobTitle
      ? [{ ...pick(baseOrgs[0] ?? {}, ['department', 'type']), name: f.organization ?? undefined, title: f.jobTitle ?? undefined }, ...baseOrgs.slice(1).map(stripMetadata)]
      : baseOrgs.slice(1).map(stripMetadata),
    biographies: f.notes ? [{ value: f.notes, contentType: 'TEXT_PLAIN' }] : [],
  };
  if (opts.engageId) person.clientData = [{ key: CLIENT_DATA_KEY, value: opts.engageId }];
  if (opts.etag) person.etag = opts.etag;
  return person;
}

function pick<T extends object>(o: T, keys: string[]): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([k, v]) => keys.includes(k) && v !== null && v !== undefined)) as Partial<T>;
}

function stripMetadata<T extends { metadata?: unknown }>(o: T): Omit<T, 'metadata'> {
  const { metadata: _m, ...rest } = o;
  return rest;
}

export function updateTimeOf(p: Person): Date | null {
  const t = p.metadata?.sources?.find((s) => s.type === 'CONTACT')?.updateTime ?? p.metadata?.sources?.[0]?.updateTime;
  return t ? new Date(t) : null;
}

export function displayNameOf(f: ContactFields): string {
  const name = [f.givenName, f.familyName].filter(Boolean).join(' ');
  return name || f.organization || f.emails[0]?.value || f.phones[0]?.value || '(no name)';
}

/** Lower-cased text searched by `contacts(query:)`: names, emails, phones (as typed and digits only), organization, title. */
export function searchTextOf(f: ContactFields): string {
  return [f.givenName, f.familyName, displayNameOf(f), f.organization, f.jobTitle, ...f.emails.map((e) => e.value), ...f.phones.flatMap((p) => [p.value, p.value.replace(/\D/g, '')])]
    .filter(Boolean)
    .join('\n')
    .toLowerCase();
}

export function sameFieldValue(field: FieldName, a: ContactFields, b: ContactFields): boolean {
  return JSON.stringify(a[field]) === JSON.stringify(b[field]);
}
