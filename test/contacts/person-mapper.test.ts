/**
 * The People Person ↔ contact fields mapping, field by field: what Google sends becomes our fields and goes back to
 * Google without loss (every writable part, and what we do not model beside it), and our fields survive the trip
 * through a Person. Shapes: https://developers.google.com/people/api/rest/v1/people.
 */
import type { people_v1 } from '@googleapis/people';
import { dateFromInput } from '../../src/contacts/contact.service';
import { columnsOf, fieldsOf } from '../../src/contacts/contact.mirror';
import { fieldsFromPerson, personFromFields, searchTextOf, type ContactFields } from '../../src/contacts/person.mapper';
import { UPDATE_PERSON_FIELDS } from '../../src/google/people';
import type { Contact } from '../../src/entities';

type Person = people_v1.Schema$Person;
const SOURCE = { type: 'CONTACT', id: '1a2b3c4d5e6f7a8b' };
const meta = (primary = false) => ({
  metadata: { ...(primary ? { primary: true, sourcePrimary: true } : {}), source: SOURCE },
});

/** A person as Google sends it: item metadata, formattedType, display names, and fields we do not model. */
const GOOGLE_PERSON: Person = {
  resourceName: 'people/c123',
  etag: '%EgcBAgkLLjc9',
  names: [
    {
      ...meta(true),
      givenName: 'Maria',
      middleName: 'Elena',
      familyName: 'Lopez',
      honorificPrefix: 'Dr.',
      honorificSuffix: 'Jr.',
      displayName: 'Dr. Maria Elena Lopez Jr.',
      displayNameLastFirst: 'Lopez, Maria Elena',
      unstructuredName: 'Dr. Maria Elena Lopez Jr.',
      phoneticGivenName: 'mah-REE-ah',
      phoneticFamilyName: 'LOH-pez',
    },
  ],
  nicknames: [
    { ...meta(true), value: 'Mari' },
    { ...meta(), value: 'M.E.', type: 'ALTERNATE_NAME' },
    { ...meta(), value: 'Garcia', type: 'MAIDEN_NAME' },
  ],
  emailAddresses: [{ ...meta(true), value: 'maria@lopez.test', type: 'home', formattedType: 'Home' }],
  phoneNumbers: [
    { ...meta(true), value: '+1 555 0100', type: 'mobile', formattedType: 'Mobile', canonicalForm: '+15550100' },
  ],
  addresses: [
    {
      ...meta(true),
      type: 'home',
      formattedType: 'Home',
      streetAddress: '12 Elm St',
      extendedAddress: 'Apt 4',
      city: 'Springfield',
      region: 'IL',
      postalCode: '62701',
      country: 'USA',
      countryCode: 'US',
      formattedValue: '12 Elm St\nApt 4\nSpringfield, IL 62701\nUSA',
    },
    {
      ...meta(),
      type: 'Lake house',
      formattedType: 'Lake house',
      poBox: 'PO Box 7',
      city: 'Lakeview',
      formattedValue: 'PO Box 7\nLakeview',
    },
  ],
  organizations: [
    { ...meta(true), name: 'Acme Realty', title: 'Broker', department: 'Sales', type: 'work' },
    { ...meta(), name: 'Board of Realtors', title: 'Member' },
  ],
  biographies: [{ ...meta(true), value: 'Prefers calls', contentType: 'TEXT_PLAIN' }],
  birthdays: [{ ...meta(true), date: { month: 7, day: 26 }, text: 'July 26' }],
  events: [
    { ...meta(true), date: { year: 2019, month: 5, day: 3 }, type: 'anniversary', formattedType: 'Anniversary' },
    { ...meta(), date: { year: 2024, month: 9 }, type: 'Closing', formattedType: 'Closing' },
  ],
  relations: [
    { ...meta(true), person: 'Carlos Lopez', type: 'spouse', formattedType: 'Spouse' },
    { ...meta(), person: 'Ann Lee', type: 'referredBy', formattedType: 'Referred By' },
  ],
  urls: [
    { ...meta(true), value: 'https://listings.test/12-elm', type: 'Listing', formattedType: 'Listing' },
    { ...meta(), value: 'lopez.test', type: 'homePage', formattedType: 'Home Page' },
  ],
  memberships: [
    {
      metadata: { source: SOURCE },
      contactGroupMembership: { contactGroupId: 'myContacts', contactGroupResourceName: 'contactGroups/myContacts' },
    },
  ],
  imClients: [{ ...meta(true), username: 'maria', protocol: 'skype' }],
  userDefined: [{ ...meta(true), key: 'Budget', value: '450k' }],
  clientData: [{ ...meta(true), key: 'engageContactId', value: '0b7f' }],
};

const FIELDS: ContactFields = {
  givenName: 'Maria',
  familyName: 'Lopez',
  organization: 'Acme Realty',
  jobTitle: 'Broker',
  notes: 'Prefers calls',
  emails: [{ value: 'maria@lopez.test', type: 'home' }],
  phones: [{ value: '+1 555 0100', type: 'mobile' }],
  middleName: 'Elena',
  honorificPrefix: 'Dr.',
  honorificSuffix: 'Jr.',
  nicknames: [
    { value: 'Mari', type: null },
    { value: 'M.E.', type: 'ALTERNATE_NAME' },
    { value: 'Garcia', type: 'MAIDEN_NAME' },
  ],
  addresses: [
    {
      type: 'home',
      formattedValue: '12 Elm St\nApt 4\nSpringfield, IL 62701\nUSA',
      poBox: null,
      streetAddress: '12 Elm St',
      extendedAddress: 'Apt 4',
      city: 'Springfield',
      region: 'IL',
      postalCode: '62701',
      country: 'USA',
      countryCode: 'US',
    },
    {
      type: 'Lake house',
      formattedValue: 'PO Box 7\nLakeview',
      poBox: 'PO Box 7',
      streetAddress: null,
      extendedAddress: null,
      city: 'Lakeview',
      region: null,
      postalCode: null,
      country: null,
      countryCode: null,
    },
  ],
  birthday: { date: { year: null, month: 7, day: 26 }, text: 'July 26' },
  events: [
    { date: { year: 2019, month: 5, day: 3 }, type: 'anniversary' },
    { date: { year: 2024, month: 9, day: null }, type: 'Closing' },
  ],
  relations: [
    { person: 'Carlos Lopez', type: 'spouse' },
    { person: 'Ann Lee', type: 'referredBy' },
  ],
  urls: [
    { value: 'https://listings.test/12-elm', type: 'Listing' },
    { value: 'lopez.test', type: 'homePage' },
  ],
};

/**
 * A person as a write would leave it in Google: the writable content of the update mask's fields, no output-only keys.
 */
function writable(p: Person): Person {
  const OUTPUT_ONLY = ['metadata', 'formattedType', 'displayName', 'displayNameLastFirst', 'canonicalForm'];
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (v && typeof v === 'object')
      return Object.fromEntries(
        Object.entries(v)
          .filter(([k]) => !OUTPUT_ONLY.includes(k))
          .map(([k, x]) => [k, strip(x)]),
      );
    return v;
  };
  const mask = UPDATE_PERSON_FIELDS.split(',') as (keyof Person)[];
  return Object.fromEntries(mask.map((k) => [k, strip(p[k] ?? [])])) as Person;
}

test('Google → ours: every field we model, types as Google spells them, absent date parts as null', () => {
  expect(fieldsFromPerson(GOOGLE_PERSON)).toEqual(FIELDS);
});

test('Google → ours → Google: the write carries back everything Google had in those fields (custom types, kept nickname types, phonetic names, other organizations)', () => {
  const written = personFromFields(fieldsFromPerson(GOOGLE_PERSON), GOOGLE_PERSON);
  expect(writable(written)).toEqual(writable(GOOGLE_PERSON));
});

test('ours → Google → ours: our fields come back as they were, for a new contact (no base person)', () => {
  expect(fieldsFromPerson(personFromFields(FIELDS, null))).toEqual(FIELDS);
  const bare: ContactFields = {
    ...FIELDS,
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
  expect(fieldsFromPerson(personFromFields(bare, null))).toEqual(bare);
});

test('the mirror row keeps every field: columnsOf → fieldsOf is the identity, also for a contact with no details', () => {
  const row = (f: ContactFields) => ({ ...columnsOf(f) }) as unknown as Contact;
  expect(fieldsOf(row(FIELDS))).toEqual(FIELDS);
  const none: ContactFields = {
    ...FIELDS,
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
  expect(columnsOf(none).details).toBeNull();
  expect(fieldsOf(row(none))).toEqual(none);
  // Compared as JSON everywhere (merges, "nothing changed"): the key order is the same whichever way it was built.
  expect(JSON.stringify(fieldsOf(row(FIELDS)))).toBe(JSON.stringify(fieldsFromPerson(GOOGLE_PERSON)));
});

describe('names', () => {
  test('the parts are written; the phonetic parts Google holds are kept', () => {
    const [name] = personFromFields({ ...FIELDS, middleName: 'E.' }, GOOGLE_PERSON).names!;
    expect(name).toEqual({
      phoneticGivenName: 'mah-REE-ah',
      phoneticFamilyName: 'LOH-pez',
      givenName: 'Maria',
      middleName: 'E.',
      familyName: 'Lopez',
      honorificPrefix: 'Dr.',
      honorificSuffix: 'Jr.',
    });
  });

  test("Google's free-form full name is kept while the parts are the same, dropped once one changes (it would be stale)", () => {
    expect(personFromFields(FIELDS, GOOGLE_PERSON).names![0].unstructuredName).toBe('Dr. Maria Elena Lopez Jr.');
    expect(
      personFromFields({ ...FIELDS, familyName: 'Lopez-Garcia' }, GOOGLE_PERSON).names![0].unstructuredName,
    ).toBeUndefined();
  });

  test('no name part at all: no name is written (Google would clear the names)', () => {
    const f: ContactFields = {
      ...FIELDS,
      givenName: null,
      familyName: null,
      middleName: null,
      honorificPrefix: null,
      honorificSuffix: null,
    };
    expect(personFromFields(f, null).names).toEqual([]);
  });
});

describe('nicknames', () => {
  test('DEFAULT (or no type) is ours as null and written without a type; other enum values are kept', () => {
    expect(
      fieldsFromPerson({
        nicknames: [{ value: 'A', type: 'DEFAULT' }, { value: 'B' }, { value: 'C', type: 'SHORT_NAME' }],
      }).nicknames,
    ).toEqual([
      { value: 'A', type: null },
      { value: 'B', type: null },
      { value: 'C', type: 'SHORT_NAME' },
    ]);
    expect(personFromFields({ ...FIELDS, nicknames: [{ value: 'A', type: null }] }, null).nicknames).toEqual([
      { value: 'A' },
    ]);
  });
});

describe('addresses', () => {
  test('every part is kept; formattedValue only when there is one (Google composes it when it is left out)', () => {
    const [a] = personFromFields(
      { ...FIELDS, addresses: [{ ...FIELDS.addresses[0], formattedValue: null }] },
      null,
    ).addresses!;
    expect(a).toEqual({
      type: 'home',
      streetAddress: '12 Elm St',
      extendedAddress: 'Apt 4',
      city: 'Springfield',
      region: 'IL',
      postalCode: '62701',
      country: 'USA',
      countryCode: 'US',
    });
  });

  test('an address with no part but a type is no address', () => {
    expect(fieldsFromPerson({ addresses: [{ type: 'home' }, { city: ' ' }] }).addresses).toEqual([]);
  });

  test("street and city are searched; Google's searchContacts matches no address, so the mirror does", () => {
    const text = searchTextOf(FIELDS);
    for (const part of ['12 elm st', 'springfield', '62701', 'lakeview', 'po box 7', 'mari'])
      expect(text).toContain(part);
  });
});

describe('birthday', () => {
  test('a date without a year, a text alone, both: each kept as it is, text never parsed into a date', () => {
    expect(fieldsFromPerson({ birthdays: [{ date: { year: 0, month: 2, day: 29 } }] }).birthday).toEqual({
      date: { year: null, month: 2, day: 29 },
      text: null,
    });
    expect(fieldsFromPerson({ birthdays: [{ text: 'around Easter' }] }).birthday).toEqual({
      date: null,
      text: 'around Easter',
    });
    expect(
      personFromFields({ ...FIELDS, birthday: { date: { year: 1980, month: 7, day: 26 }, text: 'July 26' } }, null)
        .birthdays,
    ).toEqual([{ date: { year: 1980, month: 7, day: 26 }, text: 'July 26' }]);
  });

  test("a birthday of a linked Google profile (another source) is not the contact's: not read, so never written into the contact", () => {
    const p: Person = {
      birthdays: [
        { metadata: { primary: true, source: { type: 'PROFILE', id: '1' } }, date: { year: 1970, month: 1, day: 2 } },
        { metadata: { source: SOURCE }, date: { month: 3, day: 4 } },
      ],
    };
    expect(fieldsFromPerson(p).birthday).toEqual({ date: { year: null, month: 3, day: 4 }, text: null });
    expect(fieldsFromPerson({ birthdays: [p.birthdays![0]] }).birthday).toBeNull();
  });

  test('no birthday: written as none (the mask clears it)', () => {
    expect(personFromFields({ ...FIELDS, birthday: null }, GOOGLE_PERSON).birthdays).toEqual([]);
  });
});

describe('events, relations, urls', () => {
  test('an event without a usable date is dropped; a year-less date is written without a year', () => {
    expect(fieldsFromPerson({ events: [{ type: 'anniversary' }, { date: {}, type: 'other' }] }).events).toEqual([]);
    expect(
      personFromFields({ ...FIELDS, events: [{ date: { year: null, month: 5, day: 3 }, type: 'anniversary' }] }, null)
        .events,
    ).toEqual([{ date: { month: 5, day: 3 }, type: 'anniversary' }]);
  });

  test('relations and urls keep their types, none when there is none', () => {
    const p = personFromFields(
      { ...FIELDS, relations: [{ person: 'Kim', type: null }], urls: [{ value: 'a.test', type: null }] },
      null,
    );
    expect(p.relations).toEqual([{ person: 'Kim' }]);
    expect(p.urls).toEqual([{ value: 'a.test' }]);
  });
});

test('memberships (labels) and fields we do not model are never in what we write: they stay as Google has them', () => {
  const written = personFromFields(FIELDS, GOOGLE_PERSON);
  for (const k of ['memberships', 'imClients', 'userDefined', 'photos', 'clientData'] as const)
    expect(written[k]).toBeUndefined();
  expect(UPDATE_PERSON_FIELDS.split(',')).not.toContain('memberships');
});

describe('dates given to us', () => {
  test.each([
    [
      { month: 7, day: 26 },
      { year: null, month: 7, day: 26 },
    ],
    [
      { year: 1980, month: 2, day: 29 },
      { year: 1980, month: 2, day: 29 },
    ],
    [
      { month: 2, day: 29 },
      { year: null, month: 2, day: 29 },
    ],
    [
      { year: 2024, month: 9 },
      { year: 2024, month: 9, day: null },
    ],
    [{ year: 2024 }, { year: 2024, month: null, day: null }],
  ])('%j is a date', (given, date) => {
    expect(dateFromInput(given, 'birthday')).toEqual(date);
  });

  test.each([
    [{}],
    [{ month: 13, day: 1 }],
    [{ month: 4, day: 31 }],
    [{ year: 1981, month: 2, day: 29 }],
    [{ day: 5 }],
    [{ year: 2020, day: 5 }],
    [{ month: 5 }],
    [{ year: 0, month: 1, day: 1 }],
    [{ year: 10000, month: 1, day: 1 }],
    [{ month: 1, day: 0 }],
  ])('%j is not: BAD_USER_INPUT naming the field', (given) => {
    expect(() => dateFromInput(given, 'events.2.date')).toThrow(
      expect.objectContaining({
        message: expect.stringMatching(/^events\.2\.date: .* is not a date/),
        extensions: expect.objectContaining({ code: 'BAD_USER_INPUT', field: 'events.2.date' }),
      }),
    );
  });
});
