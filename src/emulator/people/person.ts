/**
 * The People API `Person` as the emulator stores and renders it: field masks, input validation, output-only fields,
 * and the prefix matching of searchContacts. Field names and semantics: the Schema$* types of @googleapis/people v1
 * (node_modules/@googleapis/people/build/v1.d.ts) and https://developers.google.com/people/api/rest/v1/people.
 * Wire facts and their sources: google-api-notes §2.
 */
import { randomBytes } from 'node:crypto';

/** Every `personFields` / `readMask` path Google accepts (generated client docs, people.get). */
export const READ_FIELDS = [
  'addresses', 'ageRanges', 'biographies', 'birthdays', 'calendarUrls', 'clientData', 'coverPhotos', 'emailAddresses',
  'events', 'externalIds', 'genders', 'imClients', 'interests', 'locales', 'locations', 'memberships', 'metadata',
  'miscKeywords', 'names', 'nicknames', 'occupations', 'organizations', 'phoneNumbers', 'photos', 'relations',
  'sipAddresses', 'skills', 'urls', 'userDefined',
] as const;

/** Every `updatePersonFields` / `updateMask` path (generated client docs, people.updateContact). */
export const UPDATE_FIELDS = [
  'addresses', 'biographies', 'birthdays', 'calendarUrls', 'clientData', 'emailAddresses', 'events', 'externalIds',
  'genders', 'imClients', 'interests', 'locales', 'locations', 'memberships', 'miscKeywords', 'names', 'nicknames',
  'occupations', 'organizations', 'phoneNumbers', 'relations', 'sipAddresses', 'urls', 'userDefined',
] as const;

/**
 * "The request returns a 400 error if more than one field is specified on a field that is a singleton for contact
 * sources: biographies, birthdays, genders, names" (createContact / updateContact descriptions).
 */
export const SINGLETON_FIELDS = ['biographies', 'birthdays', 'genders', 'names'] as const;

/** Output-only Person keys: accepted in a request body (clients echo what they read) and ignored. */
const OUTPUT_ONLY_KEYS = new Set([
  'resourceName', 'etag', 'metadata', 'ageRange', 'ageRanges', 'braggingRights', 'coverPhotos', 'fileAses', 'photos',
  'relationshipInterests', 'relationshipStatuses', 'residences', 'skills', 'taglines',
]);

export type ReadField = (typeof READ_FIELDS)[number];
export type UpdateField = (typeof UPDATE_FIELDS)[number];
export type FieldItem = Record<string, unknown>;
/** The contact-source data of a person: one array per writable field. */
export type PersonData = Partial<Record<UpdateField, FieldItem[]>>;

export const CONTACT_SOURCE = 'CONTACT';
/** Every contact Google creates is in the system group "myContacts" (ContactGroupMembership docs). */
export const MY_CONTACTS_MEMBERSHIP: FieldItem = {
  contactGroupMembership: { contactGroupId: 'myContacts', contactGroupResourceName: 'contactGroups/myContacts' },
};

/** Thrown by the validators here; people.ts turns it into Google's 400. */
export class PersonInputError extends Error {
  constructor(message: string, readonly field: string, readonly kind: 'invalid' | 'unknownField' | 'singleton' = 'invalid') {
    super(message);
  }
}

/** Parses a comma-separated field mask against `valid`; an empty/absent mask gives []. */
export function parseMask<T extends string>(mask: string | null | undefined, valid: readonly T[], param: string): T[] {
  if (mask === null || mask === undefined || mask.trim() === '') return [];
  const out: T[] = [];
  for (const raw of mask.split(',')) {
    // `person.names` is the legacy requestMask form; Google accepts both spellings in masks.
    const path = raw.trim().replace(/^person\./, '');
    const camel = path.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase()) as T;
    if (!valid.includes(camel)) {
      throw new PersonInputError(
        `Invalid ${param} mask path: "${raw.trim()}". Valid paths are documented at https://developers.google.com/people/api/rest/v1/people/get.`,
        param,
      );
    }
    if (!out.includes(camel)) out.push(camel);
  }
  return out;
}

/**
 * The writable data of a Person request body. `only` limits it to the fields of an update mask (other fields in the
 * body are ignored, as Google documents for updateContact). Unknown keys → 400 like Google's JSON-to-proto mapping.
 */
export function personDataFromBody(body: unknown, path: string, only?: readonly UpdateField[]): PersonData {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new PersonInputError(`Invalid value at '${path}' (type.googleapis.com/google.people.v1.Person): expected a JSON object, got ${JSON.stringify(body)}`, path);
  }
  const data: PersonData = {};
  for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
    if (OUTPUT_ONLY_KEYS.has(key)) continue;
    if (!(UPDATE_FIELDS as readonly string[]).includes(key)) {
      throw new PersonInputError(`Invalid JSON payload received. Unknown name "${key}" at '${path}': Cannot find field.`, `${path}.${key}`, 'unknownField');
    }
    const field = key as UpdateField;
    if (only && !only.includes(field)) continue;
    if (value === null || value === undefined) continue;
    if (!Array.isArray(value)) {
      throw new PersonInputError(`Invalid value at '${path}.${field}': expected a JSON array, got ${JSON.stringify(value)}`, `${path}.${field}`);
    }
    data[field] = value.map((item, i) => {
      if (typeof item !== 'object' || item === null || Array.isArray(item)) {
        throw new PersonInputError(`Invalid value at '${path}.${field}[${i}]': expected a JSON object, got ${JSON.stringify(item)}`, `${path}.${field}[${i}]`);
      }
      return stripOutputOnly(field, item as FieldItem);
    });
  }
  for (const field of SINGLETON_FIELDS) {
    if ((data[field]?.length ?? 0) > 1) {
      // Wording observed from the live API [obs mrmattwilkins/google-contacts-sync#2].
      throw new PersonInputError(`Cannot have more than one person.${field} per source.`, `${path}.${field}`, 'singleton');
    }
  }
  return data;
}

/** Drops what Google computes itself (metadata, display names, formatted types, canonical forms). */
function stripOutputOnly(field: UpdateField, item: FieldItem): FieldItem {
  const { metadata: _m, formattedType: _ft, ...rest } = item;
  if (field === 'names') {
    delete rest.displayName;
    delete rest.displayNameLastFirst;
  }
  if (field === 'phoneNumbers') delete rest.canonicalForm;
  if (field === 'addresses') delete rest.formattedValue;
  return JSON.parse(JSON.stringify(rest)) as FieldItem;
}

/** A stored contact, including tombstones of deleted ones (incremental sync reports them). */
export interface StoredContact {
  /** `people/c<decimal of the source id>`, as Google derives contact resource names */
  resourceName: string;
  /** the CONTACT source id: 16 hex digits */
  sourceId: string;
  data: PersonData;
  /** person etag (top level) and source etag: new on every change */
  etag: string;
  sourceEtag: string;
  updateTime: string;
  deleted: boolean;
  /** store-wide change sequence of the last change (create, update, delete) */
  changeSeq: number;
  /** emulator ms at which the last change becomes visible to connections.list sync (propagation delay setting) */
  visibleAtMs: number;
  /** emulator ms at which the creation became visible (full syncs list only contacts whose creation propagated) */
  createdVisibleAtMs: number;
}

export function newSourceId(): string {
  // Google's contact ids are 64-bit; keep the top bit clear so the decimal form is never negative-looking.
  const b = randomBytes(8);
  b[0] &= 0x7f;
  if (b[0] === 0) b[0] = 0x1f;
  return b.toString('hex');
}

export function resourceNameFor(sourceId: string): string {
  return `people/c${BigInt(`0x${sourceId}`).toString(10)}`;
}

/** Person etags look like "%EgcBAgkLLjc9GgQBAgUH…" and source etags like "#euwPitXZO7A="; both are opaque. */
export function newEtags(): { etag: string; sourceEtag: string } {
  return { etag: `%${randomBytes(18).toString('base64')}`, sourceEtag: `#${randomBytes(8).toString('base64')}` };
}

/** Renders a stored contact with the fields of `mask` (plus resourceName and etag, which Google always returns). */
export function renderPerson(c: StoredContact, mask: readonly ReadField[]): Record<string, unknown> {
  const source = { type: CONTACT_SOURCE, id: c.sourceId };
  const out: Record<string, unknown> = { resourceName: c.resourceName, etag: c.etag };
  if (c.deleted) {
    // Deleted persons in incremental sync carry little more than their name, etag and metadata (google-api-notes §2.2 [?]);
    // metadata is sent even when not in the mask, because `metadata.deleted` is the only way to see the deletion.
    out.metadata = { sources: [{ ...source, etag: c.sourceEtag, updateTime: c.updateTime }], objectType: 'PERSON', deleted: true };
    return out;
  }
  for (const field of mask) {
    if (field === 'metadata') {
      out.metadata = { sources: [{ ...source, etag: c.sourceEtag, updateTime: c.updateTime }], objectType: 'PERSON' };
      continue;
    }
    const items = (c.data as Record<string, FieldItem[] | undefined>)[field];
    if (!items || items.length === 0) continue;
    out[field] = items.map((item, i) => renderItem(field, item, i === 0, source));
  }
  return out;
}

function renderItem(field: string, item: FieldItem, first: boolean, source: { type: string; id: string }): FieldItem {
  // The first value of a field is the primary one (FieldMetadata.primary / sourcePrimary).
  const metadata: FieldItem = first ? { primary: true, sourcePrimary: true, source } : { source };
  if (field === 'memberships') metadata.source = { type: CONTACT_SOURCE, id: source.id };
  const out: FieldItem = { metadata, ...JSON.parse(JSON.stringify(item)) as FieldItem };
  if (field === 'names') {
    const given = str(item.givenName);
    const family = str(item.familyName);
    const middle = str(item.middleName);
    const display = [str(item.honorificPrefix), given, middle, family, str(item.honorificSuffix)].filter(Boolean).join(' ')
      || str(item.unstructuredName);
    if (display) {
      out.displayName = display;
      out.displayNameLastFirst = family ? `${family}, ${[given, middle].filter(Boolean).join(' ')}`.replace(/, $/, '') : display;
      if (!item.unstructuredName) out.unstructuredName = display;
    }
  }
  if (typeof item.type === 'string' && item.type !== '') {
    // Google localizes the predefined types ("home" → "Home"); custom types come back unchanged.
    out.formattedType = item.type.charAt(0).toUpperCase() + item.type.slice(1);
  }
  if (field === 'phoneNumbers' && typeof item.value === 'string') {
    const digits = item.value.replace(/[^\d+]/g, '');
    // [?] Google canonicalizes with the account's region; the emulator only fills it for numbers already in E.164.
    if (/^\+\d{8,15}$/.test(digits)) out.canonicalForm = digits;
  }
  return out;
}

function str(v: unknown): string {
  return typeof v === 'string' ? v.trim() : '';
}

/** Sort keys for connections.list sortOrder FIRST_NAME_ASCENDING / LAST_NAME_ASCENDING. */
export function nameKey(c: StoredContact, part: 'givenName' | 'familyName'): string {
  const n = c.data.names?.[0];
  return (str(n?.[part]) || str(n?.unstructuredName) || str(c.data.emailAddresses?.[0]?.value)).toLowerCase();
}

/**
 * searchContacts matching: "The query is used to match prefix phrases of the fields on a person. For example, a person
 * with name "foo name" matches queries such as "f", "fo", "foo", "foo n", "nam", etc., but not "oo n"." Matched fields:
 * names, nickNames, emailAddresses, phoneNumbers and organizations of the CONTACT source (searchContacts description).
 */
export function matchesQuery(c: StoredContact, query: string): boolean {
  const q = normalize(query);
  if (q === '') return false;
  const texts: string[] = [];
  for (const n of c.data.names ?? []) {
    const given = str(n.givenName);
    const family = str(n.familyName);
    texts.push([given, str(n.middleName), family].filter(Boolean).join(' '), str(n.unstructuredName), `${family} ${given}`);
  }
  for (const n of c.data.nicknames ?? []) texts.push(str(n.value));
  for (const e of c.data.emailAddresses ?? []) texts.push(str(e.value));
  for (const o of c.data.organizations ?? []) texts.push(str(o.name), str(o.title), str(o.department));
  const qDigits = q.replace(/[^\d]/g, '');
  for (const p of c.data.phoneNumbers ?? []) {
    texts.push(str(p.value));
    // Phone numbers also match on their digits alone ("555 01" finds "(555) 012-3456").
    const digits = str(p.value).replace(/[^\d]/g, '');
    if (qDigits.length >= 3 && qDigits === q.replace(/[\s()+\-.]/g, '') && digits.includes(qDigits)) return true;
  }
  return texts.some((t) => phrasePrefix(normalize(t), q));
}

function normalize(s: string): string {
  return s.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/\s+/g, ' ').trim();
}

/** True when `q` is a prefix of `text` starting at a word boundary. */
function phrasePrefix(text: string, q: string): boolean {
  if (!text) return false;
  for (let i = 0; i < text.length; i++) {
    const atBoundary = i === 0 || !/[\p{L}\p{N}]/u.test(text[i - 1]);
    if (atBoundary && text.startsWith(q, i)) return true;
  }
  return false;
}
