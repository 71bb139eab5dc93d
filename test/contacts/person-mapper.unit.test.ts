/**
 * What test/contacts/person-mapper.test.ts leaves out of the People Person ↔ contact fields mapping
 * (src/contacts/person.mapper.ts): which of several names/organizations/biographies is read, how blank and padded
 * values are cleaned, which sources' items are the contact's, the organizations and biographies written, our id and
 * etag on the body, Google's dates, the update time, the display name and the search text. Pure, no emulator.
 */
import {
  dateFromGoogle,
  dateToGoogle,
  displayNameOf,
  engageIdOf,
  fieldsFromPerson,
  personFromFields,
  primaryFirst,
  searchTextOf,
  updateTimeOf,
  FIELD_NAMES,
  type ContactFields,
} from '../../src/contacts/person.mapper';
import { fieldsOf } from '../../src/contacts/contact.mirror';

/** Google's person as the mapper types it (whatever module declares that type). */
type Person = Parameters<typeof fieldsFromPerson>[0];

const EMPTY: ContactFields = {
  givenName: null,
  familyName: null,
  organization: null,
  jobTitle: null,
  notes: null,
  emails: [],
  phones: [],
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
const PROFILE = { metadata: { source: { type: 'PROFILE', id: 'p1' } } };
const CONTACT = { metadata: { source: { type: 'CONTACT', id: 'c1' } } };

describe('fieldsFromPerson', () => {
  test('an empty person (or one with empty lists) is a contact with nothing', () => {
    expect(fieldsFromPerson({})).toEqual(EMPTY);
    expect(
      fieldsFromPerson({ names: [], organizations: [], biographies: [], emailAddresses: [], birthdays: [] }),
    ).toEqual(EMPTY);
  });

  test('of several names, organizations and biographies, the primary one is read, wherever it is in the list', () => {
    const f = fieldsFromPerson({
      names: [{ givenName: 'Old' }, { givenName: 'Maria', familyName: 'Lopez', metadata: { primary: true } }],
      organizations: [
        { name: 'Board', title: 'Member' },
        { name: 'Acme', title: 'Broker', metadata: { primary: true } },
      ],
      biographies: [{ value: 'old note' }, { value: 'note', metadata: { primary: true } }],
    });
    expect([f.givenName, f.familyName, f.organization, f.jobTitle, f.notes]).toEqual([
      'Maria',
      'Lopez',
      'Acme',
      'Broker',
      'note',
    ]);
    // No primary: the first.
    expect(fieldsFromPerson({ names: [{ givenName: 'First' }, { givenName: 'Second' }] }).givenName).toBe('First');
  });

  test('values are trimmed; blank ones are none (null, or left out of a list); a blank type is no type', () => {
    const f = fieldsFromPerson({
      names: [{ givenName: '  Maria ', familyName: '   ', middleName: '' }],
      emailAddresses: [{ value: ' maria@x.test ', type: ' ' }, { value: '   ', type: 'home' }, { type: 'work' }],
      phoneNumbers: [{ value: '+1 555 0100', type: ' mobile ' }],
      urls: [{ value: '\t', type: 'blog' }],
      relations: [
        { person: ' Carlos ', type: '' },
        { person: ' ', type: 'spouse' },
      ],
      nicknames: [{ value: ' ' }, { value: ' Mari ' }],
    });
    expect(f.givenName).toBe('Maria');
    expect(f.familyName).toBeNull();
    expect(f.middleName).toBeNull();
    expect(f.emails).toEqual([{ value: 'maria@x.test', type: null }]);
    expect(f.phones).toEqual([{ value: '+1 555 0100', type: 'mobile' }]);
    expect(f.urls).toEqual([]);
    expect(f.relations).toEqual([{ person: 'Carlos', type: null }]);
    expect(f.nicknames).toEqual([{ value: 'Mari', type: null }]);
  });

  test("nicknames, addresses, events, relations and urls of a linked profile (another source) are not the contact's; items without a source are", () => {
    const f = fieldsFromPerson({
      nicknames: [
        { ...PROFILE, value: 'Prof' },
        { ...CONTACT, value: 'Mine' },
      ],
      addresses: [{ ...PROFILE, city: 'Elsewhere' }, { city: 'Here' }],
      events: [
        { ...PROFILE, date: { month: 1, day: 1 }, type: 'other' },
        { ...CONTACT, date: { month: 2, day: 2 }, type: 'other' },
      ],
      relations: [
        { ...PROFILE, person: 'Boss' },
        { ...CONTACT, person: 'Friend' },
      ],
      urls: [{ ...PROFILE, value: 'profile.test' }, { value: 'mine.test' }],
    });
    expect(f.nicknames.map((n) => n.value)).toEqual(['Mine']);
    expect(f.addresses.map((a) => a.city)).toEqual(['Here']);
    expect(f.events.map((e) => e.date)).toEqual([{ year: null, month: 2, day: 2 }]);
    expect(f.relations.map((r) => r.person)).toEqual(['Friend']);
    expect(f.urls.map((u) => u.value)).toEqual(['mine.test']);
  });

  test("emails and phones keep every source's items (they are how the contact is reached and found)", () => {
    const f = fieldsFromPerson({
      emailAddresses: [
        { ...PROFILE, value: 'p@x.test' },
        { ...CONTACT, value: 'c@x.test' },
      ],
    });
    expect(f.emails.map((e) => e.value)).toEqual(['p@x.test', 'c@x.test']);
  });

  test('the birthday read is the primary contact one that has a date or a text; empty ones are skipped', () => {
    const f = fieldsFromPerson({
      birthdays: [
        { ...CONTACT, date: { year: 0, month: 0, day: 0 } },
        { ...CONTACT, text: 'July 26' },
        { metadata: { ...CONTACT.metadata, primary: true }, date: { month: 3, day: 4 } },
      ],
    });
    expect(f.birthday).toEqual({ date: { year: null, month: 3, day: 4 }, text: null });
    expect(fieldsFromPerson({ birthdays: [{ date: {} }, { text: ' ' }] }).birthday).toBeNull();
  });
});

describe('personFromFields', () => {
  const fields = (patch: Partial<ContactFields>): ContactFields => ({ ...EMPTY, givenName: 'Maria', ...patch });
  const BASE: Person = {
    organizations: [
      {
        metadata: { primary: true, source: { type: 'CONTACT', id: 'c1' } },
        name: 'Acme',
        title: 'Broker',
        department: 'Sales',
        type: 'work',
        symbol: 'ACME',
      },
      { metadata: { source: { type: 'CONTACT', id: 'c1' } }, name: 'Board', title: 'Member' },
    ],
  };

  test('the primary organization is written with its department and type kept (nothing else of it), the others after it without their metadata', () => {
    expect(personFromFields(fields({ organization: 'Acme Realty', jobTitle: 'Lead' }), BASE).organizations).toEqual([
      { department: 'Sales', type: 'work', name: 'Acme Realty', title: 'Lead' },
      { name: 'Board', title: 'Member' },
    ]);
  });

  test('a title without an organization, or an organization without a title, is written with the other part absent', () => {
    expect(personFromFields(fields({ jobTitle: 'Broker' }), null).organizations).toEqual([
      { name: undefined, title: 'Broker' },
    ]);
    expect(personFromFields(fields({ organization: 'Acme' }), null).organizations).toEqual([
      { name: 'Acme', title: undefined },
    ]);
  });

  test('neither organization nor title: the primary organization is cleared, the others are kept', () => {
    expect(personFromFields(fields({}), BASE).organizations).toEqual([{ name: 'Board', title: 'Member' }]);
    expect(personFromFields(fields({}), null).organizations).toEqual([]);
  });

  test('notes are written as one plain-text biography; no notes clear the biographies', () => {
    expect(personFromFields(fields({ notes: 'Prefers calls' }), null).biographies).toEqual([
      { value: 'Prefers calls', contentType: 'TEXT_PLAIN' },
    ]);
    expect(personFromFields(fields({}), null).biographies).toEqual([]);
  });

  test('our id goes in clientData and the etag on the body only when given', () => {
    const p = personFromFields(fields({}), null, { engageId: 'e-1', etag: '%Eg' });
    expect(p.clientData).toEqual([{ key: 'engageContactId', value: 'e-1' }]);
    expect(p.etag).toBe('%Eg');
    const bare = personFromFields(fields({}), null, { etag: null });
    expect('clientData' in bare).toBe(false);
    expect('etag' in bare).toBe(false);
  });

  test('a birthday with only a text, or only a date, is written with only that part', () => {
    expect(personFromFields(fields({ birthday: { date: null, text: 'around Easter' } }), null).birthdays).toEqual([
      { text: 'around Easter' },
    ]);
    expect(
      personFromFields(fields({ birthday: { date: { year: 1980, month: null, day: null }, text: null } }), null)
        .birthdays,
    ).toEqual([{ date: { year: 1980 } }]);
  });

  test('nothing of the base is changed', () => {
    const base = structuredClone(BASE);
    personFromFields(fields({ organization: 'X' }), base);
    personFromFields(fields({}), base);
    expect(base).toEqual(BASE);
  });
});

describe("Google's dates", () => {
  test.each([
    [
      { year: 2024, month: 9, day: 3 },
      { year: 2024, month: 9, day: 3 },
    ],
    [
      { month: 7, day: 26 },
      { year: null, month: 7, day: 26 },
    ],
    [
      { year: 0, month: 7, day: 26 },
      { year: null, month: 7, day: 26 },
    ],
    [
      { year: 2024, month: 0, day: 0 },
      { year: 2024, month: null, day: null },
    ],
    [{ year: 0, month: 0, day: 0 }, null],
    [{}, null],
    [null, null],
    [undefined, null],
  ])('dateFromGoogle(%j) is %j', (given, date) => {
    expect(dateFromGoogle(given)).toEqual(date);
  });

  test("dateToGoogle writes only the parts that are set (zero parts are left out in Google's JSON)", () => {
    expect(dateToGoogle({ year: null, month: 7, day: 26 })).toEqual({ month: 7, day: 26 });
    expect(dateToGoogle({ year: 2024, month: null, day: null })).toEqual({ year: 2024 });
    expect(dateToGoogle({ year: 2024, month: 9, day: 3 })).toEqual({ year: 2024, month: 9, day: 3 });
  });

  test('each way and back again is the identity for any mix of parts', () => {
    for (const d of [
      { year: null, month: 2, day: 29 },
      { year: 2024, month: 9, day: null },
      { year: 1999, month: 12, day: 31 },
    ])
      expect(dateFromGoogle(dateToGoogle(d))).toEqual(d);
  });
});

describe('small readers', () => {
  test('engageIdOf: our id from clientData among other keys, undefined without it', () => {
    expect(
      engageIdOf({
        clientData: [
          { key: 'other', value: 'x' },
          { key: 'engageContactId', value: '0b7f' },
        ],
      }),
    ).toBe('0b7f');
    expect(engageIdOf({ clientData: [{ key: 'other', value: 'x' }] })).toBeUndefined();
    expect(engageIdOf({})).toBeUndefined();
  });

  test("updateTimeOf: the CONTACT source's update time, else the first source's, else null", () => {
    const sources = [
      { type: 'PROFILE', updateTime: '2026-01-01T00:00:00Z' },
      { type: 'CONTACT', updateTime: '2026-02-02T00:00:00Z' },
    ];
    expect(updateTimeOf({ metadata: { sources } })).toEqual(new Date('2026-02-02T00:00:00Z'));
    expect(updateTimeOf({ metadata: { sources: [sources[0]] } })).toEqual(new Date('2026-01-01T00:00:00Z'));
    expect(updateTimeOf({ metadata: { sources: [{ type: 'CONTACT' }] } })).toBeNull();
    expect(updateTimeOf({})).toBeNull();
  });

  test('displayNameOf: given and family name, else the organization, the first email, the first phone, else "(no name)"', () => {
    expect(displayNameOf({ ...EMPTY, givenName: 'Maria', familyName: 'Lopez', organization: 'Acme' })).toBe(
      'Maria Lopez',
    );
    expect(displayNameOf({ ...EMPTY, familyName: 'Lopez' })).toBe('Lopez');
    expect(displayNameOf({ ...EMPTY, organization: 'Acme', emails: [{ value: 'a@x.test', type: null }] })).toBe('Acme');
    expect(
      displayNameOf({ ...EMPTY, emails: [{ value: 'a@x.test', type: null }], phones: [{ value: '555', type: null }] }),
    ).toBe('a@x.test');
    expect(displayNameOf({ ...EMPTY, phones: [{ value: '555', type: null }] })).toBe('555');
    expect(displayNameOf(EMPTY)).toBe('(no name)');
  });

  test('searchTextOf: lower case, phones also as digits only, nothing of a null part', () => {
    const text = searchTextOf({
      ...EMPTY,
      givenName: 'MARIA',
      jobTitle: 'Broker',
      phones: [{ value: '+1 (555) 010-0', type: null }],
    });
    expect(text.split('\n')).toEqual(['maria', 'maria', 'broker', '+1 (555) 010-0', '15550100']);
  });

  test('primaryFirst: the primary item first, the rest in their order, the list given unchanged', () => {
    const items = [{ v: 1 }, { v: 2 }, { v: 3, metadata: { primary: true } }, { v: 4 }];
    expect(primaryFirst(items).map((i) => i.v)).toEqual([3, 1, 2, 4]);
    expect(items.map((i) => i.v)).toEqual([1, 2, 3, 4]);
    expect(primaryFirst(null)).toEqual([]);
  });
});

describe('the mirror columns read back (contact.mirror.ts fieldsOf)', () => {
  const row = (details: Partial<ContactFields> | null) => ({
    givenName: 'Pat',
    familyName: 'Lee',
    organization: null,
    jobTitle: null,
    notes: null,
    emails: '[{"value":"pat@x.test","type":null}]',
    phones: '[]',
    details: details === null ? null : JSON.stringify(details),
  });

  test("every field, in FIELD_NAMES order whatever the stored JSON's (fields are compared as JSON)", () => {
    const stored = { urls: [{ value: 'https://pat.test', type: null }], middleName: 'Q', birthday: null };
    expect(Object.keys(fieldsOf(row(stored)))).toEqual([...FIELD_NAMES]);
    expect(fieldsOf(row(stored))).toMatchObject({ middleName: 'Q', urls: stored.urls, nicknames: [], addresses: [] });
    expect(Object.keys(fieldsOf(row(null)))).toEqual([...FIELD_NAMES]);
  });

  test('a contact without details gets empty lists of its own, not ones shared with other contacts', () => {
    const a = fieldsOf(row(null));
    const b = fieldsOf(row(null));
    a.nicknames.push({ value: 'P', type: null });
    expect(b.nicknames).toEqual([]);
    expect(fieldsOf(row(null)).nicknames).toEqual([]);
  });
});
