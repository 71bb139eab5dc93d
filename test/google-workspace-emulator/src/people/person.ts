/**
 * The People API `Person` as the emulator stores and renders it: field masks, input validation, output-only fields,
 * and the prefix matching of searchContacts. Field names and semantics: the Schema$* types of @googleapis/people v1
 * (node_modules/@googleapis/people/build/v1.d.ts) and https://developers.google.com/people/api/rest/v1/people.
 * Wire facts and their sources: https://developers.google.com/people/api/rest/v1/people and docs/google-behaviour.md §2.
 */
import { randomBytes } from 'node:crypto';

/** Every `personFields` / `readMask` path Google accepts (generated client docs, people.get). */
export const READ_FIELDS = [
  'addresses',
  'ageRanges',
  'biographies',
  'birthdays',
  'calendarUrls',
  'clientData',
  'coverPhotos',
  'emailAddresses',
  'events',
  'externalIds',
  'genders',
  'imClients',
  'interests',
  'locales',
  'locations',
  'memberships',
  'metadata',
  'miscKeywords',
  'names',
  'nicknames',
  'occupations',
  'organizations',
  'phoneNumbers',
  'photos',
  'relations',
  'sipAddresses',
  'skills',
  'urls',
  'userDefined',
] as const;

/** Every `updatePersonFields` / `updateMask` path (generated client docs, people.updateContact). */
export const UPDATE_FIELDS = [
  'addresses',
  'biographies',
  'birthdays',
  'calendarUrls',
  'clientData',
  'emailAddresses',
  'events',
  'externalIds',
  'genders',
  'imClients',
  'interests',
  'locales',
  'locations',
  'memberships',
  'miscKeywords',
  'names',
  'nicknames',
  'occupations',
  'organizations',
  'phoneNumbers',
  'relations',
  'sipAddresses',
  'urls',
  'userDefined',
] as const;

/**
 * "The request returns a 400 error if more than one field is specified on a field that is a singleton for contact
 * sources: biographies, birthdays, genders, names" (createContact / updateContact descriptions).
 */
export const SINGLETON_FIELDS = ['biographies', 'birthdays', 'genders', 'names'] as const;

/** Output-only Person keys: accepted in a request body (clients echo what they read) and ignored. */
const OUTPUT_ONLY_KEYS = new Set([
  'resourceName',
  'etag',
  'metadata',
  'ageRange',
  'ageRanges',
  'braggingRights',
  'coverPhotos',
  'fileAses',
  'photos',
  'relationshipInterests',
  'relationshipStatuses',
  'residences',
  'skills',
  'taglines',
]);

export type ReadField = (typeof READ_FIELDS)[number];
export type UpdateField = (typeof UPDATE_FIELDS)[number];
export type FieldItem = Record<string, unknown>;
/** The contact-source data of a person: one array per writable field. */
export type PersonData = Partial<Record<UpdateField, FieldItem[]>>;

export const CONTACT_SOURCE = 'CONTACT';
export const MY_CONTACTS_GROUP = 'contactGroups/myContacts';
/**
 * Every contact Google creates is in the system group "myContacts" (ContactGroupMembership docs). Stored memberships
 * keep only `contactGroupResourceName`: "Only contact_group_resource_name can be used for modifying memberships", and
 * `contactGroupId` is output only (derived when rendering; docs/google-people-contact-details.md §1.10).
 */
export const MY_CONTACTS_MEMBERSHIP: FieldItem = {
  contactGroupMembership: { contactGroupResourceName: MY_CONTACTS_GROUP },
};

/** A stored membership item for `groupResourceName` (`contactGroups/{id}`). */
export function membershipItem(groupResourceName: string): FieldItem {
  return { contactGroupMembership: { contactGroupResourceName: groupResourceName } };
}

/** The contact-group resource names of a contact's (or a request's) memberships, in order, without repeats. */
export function groupNamesOf(data: PersonData): string[] {
  const out: string[] = [];
  for (const m of data.memberships ?? []) {
    const rn = (m.contactGroupMembership as { contactGroupResourceName?: unknown } | undefined)
      ?.contactGroupResourceName;
    if (typeof rn === 'string' && !out.includes(rn)) out.push(rn);
  }
  return out;
}

/**
 * Thrown by the validators here; people.ts turns it into Google's 400. `description`, when set, goes into the
 * google.rpc.BadRequest field violation while `message` is the top-level text (often Google's generic one).
 */
export class PersonInputError extends Error {
  constructor(
    message: string,
    readonly field: string,
    readonly kind: 'invalid' | 'unknownField' | 'singleton' = 'invalid',
    readonly description?: string,
  ) {
    super(message);
  }
}

/** Google's generic INVALID_ARGUMENT text. */
export const GENERIC_INVALID = 'Request contains an invalid argument.';

/** Options of the person validators (from PeopleSettings, store.ts). */
export interface PersonInputOptions {
  /** Reject impossible dates and birthdays/events without one (PeopleSettings.strictDates). Default true. */
  strictDates?: boolean;
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
export function personDataFromBody(
  body: unknown,
  path: string,
  only?: readonly UpdateField[],
  options: PersonInputOptions = {},
): PersonData {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new PersonInputError(
      `Invalid value at '${path}' (type.googleapis.com/google.people.v1.Person): expected a JSON object, got ${JSON.stringify(body)}`,
      path,
    );
  }
  const data: PersonData = {};
  for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
    if (OUTPUT_ONLY_KEYS.has(key)) continue;
    if (!(UPDATE_FIELDS as readonly string[]).includes(key)) {
      throw new PersonInputError(
        `Invalid JSON payload received. Unknown name "${key}" at '${path}': Cannot find field.`,
        `${path}.${key}`,
        'unknownField',
      );
    }
    const field = key as UpdateField;
    if (only && !only.includes(field)) continue;
    if (value === null || value === undefined) continue;
    if (!Array.isArray(value)) {
      throw new PersonInputError(
        `Invalid value at '${path}.${field}': expected a JSON array, got ${JSON.stringify(value)}`,
        `${path}.${field}`,
      );
    }
    const items = value.map((item, i) => {
      if (typeof item !== 'object' || item === null || Array.isArray(item)) {
        throw new PersonInputError(
          `Invalid value at '${path}.${field}[${i}]': expected a JSON object, got ${JSON.stringify(item)}`,
          `${path}.${field}[${i}]`,
        );
      }
      return normalizeItem(field, item as FieldItem, `${path}.${field}[${i}]`, options);
    });
    // A membership names a group once; items without a group (only output-only parts) carry nothing to store.
    data[field] = field === 'memberships' ? groupNamesOf({ memberships: items }).map(membershipItem) : items;
  }
  for (const field of SINGLETON_FIELDS) {
    if ((data[field]?.length ?? 0) > 1) {
      // Wording observed from the live API [obs mrmattwilkins/google-contacts-sync#2].
      throw new PersonInputError(
        `Cannot have more than one person.${field} per source.`,
        `${path}.${field}`,
        'singleton',
      );
    }
  }
  return data;
}

/**
 * One item of a writable field as it is stored: what Google computes itself is dropped (metadata, display names,
 * formatted types, canonical forms, contactGroupId), and the typed sub-values are checked (dates, the nickname enum,
 * membership targets' form). `itemPath` (e.g. `person.birthdays[0]`) names the item in errors.
 */
function normalizeItem(field: UpdateField, item: FieldItem, itemPath: string, options: PersonInputOptions): FieldItem {
  const { metadata: _m, formattedType: _ft, ...rest } = item;
  if (field === 'names') {
    delete rest.displayName;
    delete rest.displayNameLastFirst;
  }
  if (field === 'phoneNumbers') delete rest.canonicalForm;
  // addresses[].formattedValue is kept when sent: "the unstructured value of the address. If this is not set by the
  // user it will be automatically constructed from structured values" (P#Address; doc §1.3). Rendering builds it.
  const out = JSON.parse(JSON.stringify(rest)) as FieldItem;
  const strict = options.strictDates ?? true;
  if (field === 'birthdays' || field === 'events') {
    if (out.date !== undefined && out.date !== null) out.date = normalizeDate(out.date, `${itemPath}.date`, strict);
    else delete out.date;
    const hasDate = out.date !== undefined && Object.keys(out.date as object).length > 0;
    // [?] Google does not document these answers (doc §2): a Birthday is "at least one of date and text"; an Event's
    // only value is its date. With PeopleSettings.strictDates on (the default) both are 400.
    if (strict && field === 'birthdays' && !hasDate && !(typeof out.text === 'string' && out.text !== '')) {
      throw new PersonInputError(
        GENERIC_INVALID,
        itemPath,
        'invalid',
        'a birthday needs a date or a text, got neither',
      );
    }
    if (strict && field === 'events' && !hasDate) {
      throw new PersonInputError(
        GENERIC_INVALID,
        `${itemPath}.date`,
        'invalid',
        'an event needs a date (year, month and day, or month and day), got none',
      );
    }
  }
  if (field === 'nicknames') normalizeNicknameType(out, itemPath);
  if (field === 'memberships') return normalizeMembership(out, itemPath);
  return out;
}

/**
 * google.type.Date in JSON: `{year?, month?, day?}` int32 values (proto3 JSON also takes them as numeric strings).
 * Zero values are left out, as proto3 JSON prints them (doc §1.4). Not an integer, or an unknown key → 400 as
 * Google's JSON-to-proto parsing answers; out-of-range values → 400 when `strict` (P#Date: "Year of the date. Must be
 * from 1 to 9999, or 0 …", "Month of a year. Must be from 1 to 12, or 0 …", "Day of a month. Must be from 1 to 31 and
 * valid for the year and month, or 0 …").
 */
function normalizeDate(raw: unknown, path: string, strict: boolean): FieldItem {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new PersonInputError(
      `Invalid value at '${path}' (type.googleapis.com/google.type.Date): expected a JSON object, got ${JSON.stringify(raw)}`,
      path,
    );
  }
  const parts: Record<'year' | 'month' | 'day', number> = { year: 0, month: 0, day: 0 };
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (key !== 'year' && key !== 'month' && key !== 'day') {
      throw new PersonInputError(
        `Invalid JSON payload received. Unknown name "${key}" at '${path}': Cannot find field.`,
        `${path}.${key}`,
        'unknownField',
      );
    }
    if (value === null || value === undefined) continue;
    const n = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < -2147483648 || n > 2147483647) {
      throw new PersonInputError(
        `Invalid value at '${path}.${key}' (TYPE_INT32), ${JSON.stringify(value)}`,
        `${path}.${key}`,
      );
    }
    parts[key] = n;
  }
  const { year, month, day } = parts;
  if (strict) {
    const bad = (description: string) => new PersonInputError(GENERIC_INVALID, path, 'invalid', description);
    if (year < 0 || year > 9999)
      throw bad(`year must be between 1 and 9999, or 0 for a date without a year, got ${year}`);
    if (month < 0 || month > 12) throw bad(`month must be between 1 and 12, or 0, got ${month}`);
    if (day < 0 || day > 31) throw bad(`day must be between 1 and 31, or 0, got ${day}`);
    if (day > 0 && month === 0) throw bad(`a day needs a month, got day ${day} with month 0`);
    if (day > 0 && day > daysInMonth(year, month)) {
      throw bad(`day ${day} is not valid for ${MONTH_NAMES[month - 1]}${year > 0 ? ` ${year}` : ''}`);
    }
  }
  const out: FieldItem = {};
  if (year !== 0) out.year = year;
  if (month !== 0) out.month = month;
  if (day !== 0) out.day = day;
  return out;
}

const MONTH_NAMES = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

/** Days in `month` of `year`; year 0 (a date without a year, e.g. a birthday) allows 29 February. */
function daysInMonth(year: number, month: number): number {
  if (month !== 2) return [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  const leap = year === 0 || (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0));
  return leap ? 29 : 28;
}

/**
 * Nickname.type is an enum (discovery revision 20240609; doc §1.8), so an unknown string fails JSON-to-proto parsing.
 * proto3 JSON also accepts the enum's number. DEFAULT is the zero value, which proto3 JSON leaves out [?]: it is not
 * stored, so a plain nickname renders without `type`.
 */
export const NICKNAME_TYPES = [
  'DEFAULT',
  'MAIDEN_NAME',
  'INITIALS',
  'GPLUS',
  'OTHER_NAME',
  'ALTERNATE_NAME',
  'SHORT_NAME',
] as const;

function normalizeNicknameType(item: FieldItem, itemPath: string): void {
  const t = item.type;
  if (t === undefined || t === null) {
    delete item.type;
    return;
  }
  let name: string | undefined;
  if (typeof t === 'string') name = (NICKNAME_TYPES as readonly string[]).includes(t) ? t : undefined;
  else if (typeof t === 'number' && Number.isInteger(t)) name = NICKNAME_TYPES[t];
  if (name === undefined) {
    throw new PersonInputError(
      `Invalid value at '${itemPath}.type' (type.googleapis.com/google.people.v1.Nickname.NicknameType), ${typeof t === 'string' ? JSON.stringify(t) : String(JSON.stringify(t))}`,
      `${itemPath}.type`,
    );
  }
  if (name === 'DEFAULT') delete item.type;
  else item.type = name;
}

/** `contactGroups/{id}` */
export const GROUP_RESOURCE_NAME = /^contactGroups\/[^/:]+$/;

/**
 * A membership as stored: `{contactGroupMembership: {contactGroupResourceName}}`. "Only contact_group_resource_name
 * can be used for modifying memberships" and contactGroupId / domainMembership are output only (P#Membership), so
 * they are dropped. A contactGroupMembership without a well-formed resource name → 400 [?]. An item without a
 * contactGroupMembership (e.g. only domainMembership) is kept empty and ignored by the group rules.
 */
function normalizeMembership(item: FieldItem, itemPath: string): FieldItem {
  const cgm = item.contactGroupMembership;
  if (cgm === undefined || cgm === null) return {};
  const rn = (cgm as { contactGroupResourceName?: unknown }).contactGroupResourceName;
  if (typeof cgm !== 'object' || typeof rn !== 'string' || !GROUP_RESOURCE_NAME.test(rn)) {
    throw new PersonInputError(
      GENERIC_INVALID,
      `${itemPath}.contactGroupMembership.contactGroupResourceName`,
      'invalid',
      `expected a contact group resource name like contactGroups/myContacts (contactGroupId is output only), got ${JSON.stringify(rn)}`,
    );
  }
  return membershipItem(rn);
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
    // Deleted persons in incremental sync carry little more than their name, etag and metadata
    // (docs/google-behaviour.md §2.2 [?]);
    // metadata is sent even when not in the mask, because `metadata.deleted` is the only way to see the deletion.
    out.metadata = {
      sources: [{ ...source, etag: c.sourceEtag, updateTime: c.updateTime }],
      objectType: 'PERSON',
      deleted: true,
    };
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
  if (field === 'memberships') {
    // Observed Google memberships carry `metadata.source` only, no primary/sourcePrimary, and contactGroupId derived
    // from the resource name (doc §1.10 [obs activepieces sample]).
    const rn = String(
      (item.contactGroupMembership as { contactGroupResourceName?: unknown } | undefined)?.contactGroupResourceName ??
        '',
    );
    return {
      metadata: { source: { type: CONTACT_SOURCE, id: source.id } },
      contactGroupMembership: { contactGroupId: rn.slice('contactGroups/'.length), contactGroupResourceName: rn },
    };
  }
  // The first value of a field is the primary one (FieldMetadata.primary / sourcePrimary).
  const metadata: FieldItem = first ? { primary: true, sourcePrimary: true, source } : { source };
  const out: FieldItem = { metadata, ...(JSON.parse(JSON.stringify(item)) as FieldItem) };
  if (field === 'names') {
    const given = str(item.givenName);
    const family = str(item.familyName);
    const middle = str(item.middleName);
    const display =
      [str(item.honorificPrefix), given, middle, family, str(item.honorificSuffix)].filter(Boolean).join(' ') ||
      str(item.unstructuredName);
    if (display) {
      out.displayName = display;
      out.displayNameLastFirst = family
        ? `${family}, ${[given, middle].filter(Boolean).join(' ')}`.replace(/, $/, '')
        : display;
      if (!item.unstructuredName) out.unstructuredName = display;
    }
  }
  if (field === 'addresses' && !str(item.formattedValue)) {
    const built = formatAddress(item);
    if (built) out.formattedValue = built;
  }
  if (typeof item.type === 'string' && item.type !== '' && FORMATTED_TYPE_FIELDS.has(field)) {
    out.formattedType = formattedType(field, item.type);
  }
  if (field === 'phoneNumbers' && typeof item.value === 'string') {
    const digits = item.value.replace(/[^\d+]/g, '');
    // [?] Google canonicalizes with the account's region; the emulator only fills it for numbers already in E.164.
    if (/^\+\d{8,15}$/.test(digits)) out.canonicalForm = digits;
  }
  return out;
}

/**
 * An address's formattedValue when the user set none: Google builds it "from structured values" (P#Address) but does
 * not document the layout [?] (doc §1.3). The emulator writes one line per part group, US style:
 * street address, extended address and PO box (one line each), then "city, region postalCode", then the country
 * (or, without one, the country code).
 */
export function formatAddress(a: FieldItem): string {
  const cityLine = [str(a.city), [str(a.region), str(a.postalCode)].filter(Boolean).join(' ')]
    .filter(Boolean)
    .join(', ');
  return [str(a.streetAddress), str(a.extendedAddress), str(a.poBox), cityLine, str(a.country) || str(a.countryCode)]
    .filter(Boolean)
    .join('\n');
}

/** The fields whose items carry an output-only `formattedType` (the Schema$* types that have one, v1.d.ts). */
const FORMATTED_TYPE_FIELDS = new Set([
  'addresses',
  'calendarUrls',
  'emailAddresses',
  'events',
  'externalIds',
  'imClients',
  'miscKeywords',
  'organizations',
  'phoneNumbers',
  'relations',
  'sipAddresses',
  'urls',
]);

/**
 * The predefined `type` values of each field ("The type can be custom or one of these predefined values: …",
 * P#Address, P#CalendarUrl, P#EmailAddress, P#Event, P#ExternalId, P#ImClient, P#Organization, P#PhoneNumber,
 * P#Relation, P#SipAddress, P#Url) with an English label as formattedType. Google localizes these; the exact English
 * strings are not published [?] (doc §1.11), so camel-case values become words ("homePage" → "Home Page").
 * Matching is exact (case-sensitive) [?]; any other string is a custom type and is echoed unchanged [?].
 */
const PREDEFINED_TYPES: Record<string, readonly string[]> = {
  addresses: ['home', 'work', 'other'],
  calendarUrls: ['home', 'freeBusy', 'work'],
  emailAddresses: ['home', 'work', 'other'],
  events: ['anniversary', 'other'],
  externalIds: ['account', 'customer', 'loginId', 'network', 'organization'],
  imClients: ['home', 'work', 'other'],
  organizations: ['work', 'school'],
  phoneNumbers: [
    'home',
    'work',
    'mobile',
    'homeFax',
    'workFax',
    'otherFax',
    'pager',
    'workMobile',
    'workPager',
    'main',
    'googleVoice',
    'other',
  ],
  relations: [
    'spouse',
    'child',
    'mother',
    'father',
    'parent',
    'brother',
    'sister',
    'friend',
    'relative',
    'domesticPartner',
    'manager',
    'assistant',
    'referredBy',
    'partner',
  ],
  sipAddresses: ['home', 'work', 'mobile', 'other'],
  urls: ['home', 'work', 'blog', 'profile', 'homePage', 'ftp', 'reservations', 'appInstallPage', 'other'],
};
/** Labels that are not the camel-case words of the value [?]. */
const LABEL_OVERRIDES: Record<string, string> = { ftp: 'FTP', freeBusy: 'Free/Busy', loginId: 'Login ID' };

export function formattedType(field: string, type: string): string {
  if (!PREDEFINED_TYPES[field]?.includes(type)) return type;
  return LABEL_OVERRIDES[type] ?? type.replace(/([a-z])([A-Z])/g, '$1 $2').replace(/^./, (c) => c.toUpperCase());
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
    texts.push(
      [given, str(n.middleName), family].filter(Boolean).join(' '),
      str(n.unstructuredName),
      `${family} ${given}`,
    );
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
  return s
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .trim();
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
