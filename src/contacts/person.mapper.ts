/**
 * People `Person` ↔ the CRM's contact fields. Only the fields the CRM edits
 * are written back (the People driver's UPDATE_PERSON_FIELDS lists exactly
 * them, src/google/people.ts), and within them nothing Google holds beyond
 * what we model is dropped: a second organization or a name's phonetic parts
 * survive our updates.
 * Person shape: https://developers.google.com/people/api/rest/v1/people; the
 * details' rules with their sources: docs/google-people-contact-details.md.
 */
import type { FieldMetadata, PeopleAddress, PeopleDate, Person } from '../google/people';

interface Typed {
  value: string;
  type: string | null;
}

/**
 * A calendar date as People keeps it (Schema$Date): a birthday or anniversary may have no year, and Google also
 * holds dates of a year alone or a year and month. A part Google leaves out (or sends as 0) is null.
 */
export interface ContactDate {
  year: number | null;
  month: number | null;
  day: number | null;
}

/** People Schema$Address, every writable part (null when absent). */
export interface Address {
  type: string | null;
  formattedValue: string | null;
  poBox: string | null;
  streetAddress: string | null;
  extendedAddress: string | null;
  city: string | null;
  region: string | null;
  postalCode: string | null;
  country: string | null;
  countryCode: string | null;
}
export const ADDRESS_PARTS = [
  'type',
  'formattedValue',
  'poBox',
  'streetAddress',
  'extendedAddress',
  'city',
  'region',
  'postalCode',
  'country',
  'countryCode',
] as const;

/** People Schema$Birthday: a date and/or Google's deprecated free-form text (clients should set the date). */
export interface Birthday {
  date: ContactDate | null;
  text: string | null;
}

/** People Schema$Event: a typed date (anniversary, other, or a custom label). */
interface DatedValue {
  date: ContactDate;
  type: string | null;
}

/** People Schema$Relation: another person, by name (free text, not a link), and how they relate. */
interface Relation {
  person: string;
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
  middleName: string | null;
  honorificPrefix: string | null;
  honorificSuffix: string | null;
  /** type: null for Google's DEFAULT, else its NicknameType (ALTERNATE_NAME, MAIDEN_NAME, …). */
  nicknames: Typed[];
  addresses: Address[];
  birthday: Birthday | null;
  events: DatedValue[];
  relations: Relation[];
  urls: Typed[];
}

/** The fields added after the first release: they share the `details` column (JSON). */
export const DETAIL_FIELDS = [
  'middleName',
  'honorificPrefix',
  'honorificSuffix',
  'nicknames',
  'addresses',
  'birthday',
  'events',
  'relations',
  'urls',
] as const;
/** Every field we model: the first release's, each in a column of its own, then DETAIL_FIELDS. */
export const FIELD_NAMES = [
  'givenName',
  'familyName',
  'organization',
  'jobTitle',
  'notes',
  'emails',
  'phones',
  ...DETAIL_FIELDS,
] as const;
export type FieldName = (typeof FIELD_NAMES)[number];
type DetailName = (typeof DETAIL_FIELDS)[number];
export type ContactDetails = Pick<ContactFields, DetailName>;

/** Our contact id travels in People `clientData` under this key: how a retried create finds the first one. */
const CLIENT_DATA_KEY = 'engageContactId';

/**
 * The predefined `type` values of each field, as Google spells them; any other is a custom label ("The type of the
 * X. The type can be custom or one of these predefined values", https://developers.google.com/people/api/rest/v1/people).
 */
export const PREDEFINED_TYPES = {
  addresses: ['home', 'work', 'other'],
  events: ['anniversary', 'other'],
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
  urls: ['home', 'work', 'blog', 'profile', 'homePage', 'ftp', 'reservations', 'appInstallPage', 'other'],
  /** Nickname types are an enum (Nickname.type); DEFAULT is written as no type. The deprecated values are only kept. */
  nicknames: ['DEFAULT', 'ALTERNATE_NAME'],
} as const;
export const DEPRECATED_NICKNAME_TYPES = ['MAIDEN_NAME', 'INITIALS', 'GPLUS', 'OTHER_NAME', 'SHORT_NAME'];

export const primaryFirst = <T extends { metadata?: FieldMetadata | null }>(items: T[] | null | undefined): T[] =>
  [...(items ?? [])].sort((a, b) => Number(Boolean(b.metadata?.primary)) - Number(Boolean(a.metadata?.primary)));

const clean = (v: string | null | undefined): string | null =>
  v === undefined || v === null || v.trim() === '' ? null : v.trim();

/** A People Date with its absent or zero parts as null; null when it has none. */
export function dateFromGoogle(d: PeopleDate | null | undefined): ContactDate | null {
  const part = (n: number | null | undefined) => (typeof n === 'number' && n > 0 ? n : null);
  const date = { year: part(d?.year), month: part(d?.month), day: part(d?.day) };
  return date.year === null && date.month === null && date.day === null ? null : date;
}

/** Google's Date JSON: the parts that are set (proto3 JSON leaves zero values out). */
export function dateToGoogle(d: ContactDate): PeopleDate {
  return {
    ...(d.year !== null ? { year: d.year } : {}),
    ...(d.month !== null ? { month: d.month } : {}),
    ...(d.day !== null ? { day: d.day } : {}),
  };
}

/**
 * Whether an item is the contact's own (CONTACT source): what a linked Google profile adds (its birthday, addresses,
 * urls…; reads return both sources) is Google's to keep, not ours to write back as the contact's.
 */
const contactSource = (item: { metadata?: FieldMetadata | null }): boolean =>
  !item.metadata?.source?.type || item.metadata.source.type === 'CONTACT';

function addressFromGoogle(a: PeopleAddress): Address {
  return Object.fromEntries(ADDRESS_PARTS.map((k) => [k, clean(a[k])])) as unknown as Address;
}

const hasAddress = (a: Address) => ADDRESS_PARTS.some((k) => k !== 'type' && a[k] !== null);

export function fieldsFromPerson(p: Person): ContactFields {
  const name = primaryFirst(p.names)[0];
  const org = primaryFirst(p.organizations)[0];
  const bio = primaryFirst(p.biographies)[0];
  const typed = (items: { value?: string | null; type?: string | null }[] | null | undefined): Typed[] =>
    (items ?? []).filter((e) => clean(e.value)).map((e) => ({ value: e.value!.trim(), type: clean(e.type) }));
  const bday = primaryFirst((p.birthdays ?? []).filter(contactSource)).find(
    (b) => dateFromGoogle(b.date) || clean(b.text),
  );
  return {
    givenName: clean(name?.givenName),
    familyName: clean(name?.familyName),
    organization: clean(org?.name),
    jobTitle: clean(org?.title),
    notes: clean(bio?.value),
    emails: typed(p.emailAddresses),
    phones: typed(p.phoneNumbers),
    middleName: clean(name?.middleName),
    honorificPrefix: clean(name?.honorificPrefix),
    honorificSuffix: clean(name?.honorificSuffix),
    nicknames: (p.nicknames ?? [])
      .filter((n) => contactSource(n) && clean(n.value))
      .map((n) => ({ value: n.value!.trim(), type: !n.type || n.type === 'DEFAULT' ? null : n.type })),
    addresses: (p.addresses ?? []).filter(contactSource).map(addressFromGoogle).filter(hasAddress),
    birthday: bday ? { date: dateFromGoogle(bday.date), text: clean(bday.text) } : null,
    events: (p.events ?? []).filter(contactSource).flatMap((e) => {
      const date = dateFromGoogle(e.date);
      return date ? [{ date, type: clean(e.type) }] : [];
    }),
    relations: (p.relations ?? [])
      .filter((r) => contactSource(r) && clean(r.person))
      .map((r) => ({ person: r.person!.trim(), type: clean(r.type) })),
    urls: typed((p.urls ?? []).filter(contactSource)),
  };
}

/** Our id as stored in the person's clientData, if any. */
export function engageIdOf(p: Person): string | undefined {
  return p.clientData?.find((c) => c.key === CLIENT_DATA_KEY)?.value ?? undefined;
}

/** The writable parts of a Name we do not model: kept from Google's person when we write the name. */
export const PHONETIC_NAME_PARTS = [
  'phoneticFullName',
  'phoneticFamilyName',
  'phoneticGivenName',
  'phoneticMiddleName',
  'phoneticHonorificPrefix',
  'phoneticHonorificSuffix',
];
const NAME_PARTS = ['givenName', 'middleName', 'familyName', 'honorificPrefix', 'honorificSuffix'] as const;

/**
 * The person body to write: our fields over `base` (the person as Google last sent it), keeping what we do not model
 * (phonetic names, other organizations' details, item metadata Google needs to match items). Fields the update mask
 * does not name (photos, custom fields, IM, memberships…) are not in the body at all and stay as Google has them.
 */
export function personFromFields(
  f: ContactFields,
  base: Person | null,
  opts: { engageId?: string; etag?: string | null } = {},
): Person {
  const baseName = primaryFirst(base?.names)[0] ?? {};
  const baseOrgs = primaryFirst(base?.organizations);
  const nameParts = Object.fromEntries(NAME_PARTS.filter((k) => f[k]).map((k) => [k, f[k]!]));
  // Google's free-form full name is kept only while the parts it was written with are the same.
  const sameParts = NAME_PARTS.every((k) => (clean(baseName[k]) ?? null) === f[k]);
  const person: Person = {
    names: Object.keys(nameParts).length
      ? [{ ...pick(baseName, [...PHONETIC_NAME_PARTS, ...(sameParts ? ['unstructuredName'] : [])]), ...nameParts }]
      : [],
    nicknames: f.nicknames.map((n) => ({ value: n.value, ...(n.type ? { type: n.type } : {}) })),
    emailAddresses: f.emails.map((e) => ({ value: e.value, ...(e.type ? { type: e.type } : {}) })),
    phoneNumbers: f.phones.map((e) => ({ value: e.value, ...(e.type ? { type: e.type } : {}) })),
    addresses: f.addresses.map((a) =>
      Object.fromEntries(ADDRESS_PARTS.filter((k) => a[k] !== null).map((k) => [k, a[k]])),
    ),
    organizations:
      f.organization || f.jobTitle
        ? [
            {
              ...pick(baseOrgs[0] ?? {}, ['department', 'type']),
              name: f.organization ?? undefined,
              title: f.jobTitle ?? undefined,
            },
            ...baseOrgs.slice(1).map(stripMetadata),
          ]
        : baseOrgs.slice(1).map(stripMetadata),
    biographies: f.notes ? [{ value: f.notes, contentType: 'TEXT_PLAIN' }] : [],
    birthdays: f.birthday
      ? [
          {
            ...(f.birthday.date ? { date: dateToGoogle(f.birthday.date) } : {}),
            ...(f.birthday.text ? { text: f.birthday.text } : {}),
          },
        ]
      : [],
    events: f.events.map((e) => ({ date: dateToGoogle(e.date), ...(e.type ? { type: e.type } : {}) })),
    relations: f.relations.map((r) => ({ person: r.person, ...(r.type ? { type: r.type } : {}) })),
    urls: f.urls.map((u) => ({ value: u.value, ...(u.type ? { type: u.type } : {}) })),
  };
  if (opts.engageId) person.clientData = [{ key: CLIENT_DATA_KEY, value: opts.engageId }];
  if (opts.etag) person.etag = opts.etag;
  return person;
}

function pick<T extends object>(o: T, keys: string[]): Partial<T> {
  return Object.fromEntries(
    Object.entries(o).filter(([k, v]) => keys.includes(k) && v !== null && v !== undefined),
  ) as Partial<T>;
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

/**
 * Lower-cased text searched by `contacts(query:)`: names (all parts), nicknames, emails, phones (as typed and digits
 * only), organization, title, and the addresses (street, city, region, postal code, country). Google's own
 * searchContacts matches none of the addresses, so this search runs on the mirror
 * (docs/google-people-contact-details.md §5).
 */
export function searchTextOf(f: ContactFields): string {
  return searchedTexts(f, (phone) => [phone, phone.replace(/\D/g, '')])
    .filter(Boolean)
    .join('\n')
    .toLowerCase();
}

/**
 * The texts a search looks in (searchTextOf, searchTokensOf), in this order; each phone number as `phone` gives it.
 */
function searchedTexts(f: ContactFields, phone: (value: string) => string[]): (string | null)[] {
  return [
    f.givenName,
    f.middleName,
    f.familyName,
    displayNameOf(f),
    f.organization,
    f.jobTitle,
    ...f.nicknames.map((n) => n.value),
    ...f.emails.map((e) => e.value),
    ...f.phones.flatMap((p) => phone(p.value)),
    ...f.addresses.flatMap((a) => [
      a.streetAddress,
      a.extendedAddress,
      a.poBox,
      a.city,
      a.region,
      a.postalCode,
      a.country,
      a.formattedValue,
    ]),
  ];
}

/**
 * Letters Unicode does not decompose into a base letter and marks (NFKD leaves them whole), folded to what is typed
 * for them on a keyboard without them: German ß, Danish and Norwegian æ ø, French œ, Polish ł, Croatian and
 * Vietnamese đ, Icelandic ð þ, Turkish dotless ı, Maltese ħ, Sami ŧ. (é, ü, ñ, å, ç… decompose, and lose their marks.)
 */
const FOLDS: Readonly<Record<string, string>> = {
  ß: 'ss',
  æ: 'ae',
  œ: 'oe',
  ø: 'o',
  ł: 'l',
  đ: 'd',
  ð: 'd',
  þ: 'th',
  ı: 'i',
  ħ: 'h',
  ŧ: 't',
};
const FOLDED = new RegExp(`[${Object.keys(FOLDS).join('')}]`, 'gu');

/** Half of a surrogate pair without its other half: MariaDB stores every one as U+FFFD. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
/**
 * Control characters: a separator, as whitespace. Kept in a token, one would sort before the token's own prefix under
 * MariaDB's utf8mb4_bin, which compares as if the shorter string were padded with spaces: `ab\x01c` < `ab`.
 */
const CONTROL = /\p{Cc}/gu;

/**
 * Text as the search index compares it: compatibility-decomposed (NFKD: full-width and ligature forms become plain
 * letters and digits), lower-cased, without combining marks, and with FOLDS applied. "Zoë", "ZOE" and "zoe" are alike.
 * A lone surrogate becomes U+FFFD, as MariaDB would store it (two tokens differing only there would be one key), and
 * control characters separate words.
 */
export function normalizeSearchText(s: string): string {
  return s
    .replace(LONE_SURROGATE, '\uFFFD')
    .replace(CONTROL, ' ')
    .normalize('NFKD')
    .toLowerCase()
    .replace(/\p{M}/gu, '')
    .replace(FOLDED, (ch) => FOLDS[ch]);
}

/** Longest token, in characters (contact_search_token.token is varchar(64)): a longer one is cut there. */
export const SEARCH_TOKEN_LENGTH = 64;
/**
 * Most tokens one contact gets: a bound for values Google keeps at any length (a whole paragraph as an address).
 * Words and phone numbers come first, then the tails inside words.
 */
const MAX_SEARCH_TOKENS = 500;

/** Runs of punctuation (anything but a letter or digit) followed by a letter or digit: where a word's tails begin. */
const TAIL_START = /[^\p{L}\p{N}]+(?=[\p{L}\p{N}])/gu;

/** A token cut to SEARCH_TOKEN_LENGTH characters (code points, as MariaDB counts them; never half a surrogate pair). */
export function capToken(t: string): string {
  // 64 code points lie within the first 128 UTF-16 units: only those are split into code points.
  return t.length <= SEARCH_TOKEN_LENGTH
    ? t
    : Array.from(t.slice(0, 2 * SEARCH_TOKEN_LENGTH))
        .slice(0, SEARCH_TOKEN_LENGTH)
        .join('');
}

/**
 * The contact's rows in the search index (contact_search_token; src/contacts/contact-search.ts): over the fields
 * searchTextOf covers, normalized (normalizeSearchText), each whitespace-separated word, and the tails of a word after
 * each punctuation inside it ("jo.smith@x.com" gives "jo.smith@x.com", "smith@x.com", "x.com" and "com"); each phone
 * number's digits, and every tail of those digits of 3 or more (the last 4 digits of a number find it). A query word
 * matches a contact when it is the beginning of one of its tokens.
 */
export function searchTokensOf(f: ContactFields): string[] {
  const words = new Set<string>();
  const tails = new Set<string>();
  for (const text of searchedTexts(f, (phone) => [phone])) {
    if (!text) continue;
    for (const word of normalizeSearchText(text).split(/\s+/)) {
      if (!word) continue;
      words.add(capToken(word));
      for (const m of word.matchAll(TAIL_START)) tails.add(capToken(word.slice(m.index + m[0].length)));
    }
  }
  for (const p of f.phones) {
    const digits = normalizeSearchText(p.value).replace(/[^0-9]/g, '');
    if (!digits) continue;
    words.add(capToken(digits));
    for (let i = 1; i <= digits.length - 3; i++) words.add(capToken(digits.slice(i)));
  }
  return [...new Set([...words, ...tails])].slice(0, MAX_SEARCH_TOKENS);
}

export function sameFieldValue(field: FieldName, a: ContactFields, b: ContactFields): boolean {
  return JSON.stringify(a[field]) === JSON.stringify(b[field]);
}
