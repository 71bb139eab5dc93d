/**
 * The scale bench's contacts: deterministic (a seeded PRNG per agent), with the variety of a real agent's address book
 * so that searches are as selective as they would be. Names combine a given name (100, a few accented) and a family
 * name (100, each held by about 1% of an agent's contacts); every contact has an email made of the names (some a
 * second, at their company), one or two US phone numbers; about 40% an organization and a title, 30% a postal address,
 * 20% a birthday, 10% a note. Each is rendered as the Google Person the People API (the emulator) sends for it, with
 * the per-field metadata: that is what the gateway stores as the merge base (contact.person).
 */
import type { Person } from '../../src/google/people';

const GIVEN = (
  'James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard ' +
  'Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty Anthony ' +
  'Margaret Mark Sandra Donald Ashley Steven Kimberly Paul Emily Andrew Donna Joshua Michelle Kenneth ' +
  'Carol Kevin Amanda Brian Dorothy George Melissa Timothy Deborah Ronald Stephanie Edward Rebecca ' +
  'Jason Sharon Jeffrey Laura Ryan Cynthia Jacob Kathleen Gary Amy Nicholas Angela Eric Shirley ' +
  'Jonathan Anna Stephen Brenda Larry Pamela Justin Emma Scott Nicole Brandon Helen Benjamin Samantha ' +
  'Samuel Katherine Gregory Christine Alexander Debra Frank Rachel José Renée Zoë Björn Siobhan Mei ' +
  'Hiroshi Priya Olumide Marisol'
).split(' ');
const FAMILY = (
  'Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez ' +
  'Wilson Anderson Thomas Taylor Moore Jackson Martin Thompson White Harris Sanchez Clark Ramirez ' +
  'Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson ' +
  'Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz ' +
  'Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper ' +
  'Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood Bennett ' +
  'Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez Okafor ' +
  'Kowalski Lindqvist'
).split(' ');
const ORGS = [
  'Keller Williams',
  'Compass',
  'Coldwell Banker',
  'Wells Fargo Home Mortgage',
  'First American Title',
  'Stewart Title',
  'Chase Home Lending',
  'Pacific Escrow',
  'Bay Area Inspections',
  'Summit Appraisals',
  'Google',
  'Salesforce',
  'Kaiser Permanente',
  'Stanford Health Care',
  'Genentech',
  'Oracle',
  'Cisco',
  'City of Oakland',
  'Tesla',
  'Intuit',
];
const TITLES = ['Loan Officer', 'Escrow Officer', 'Engineer', 'Nurse', 'Teacher', 'Attorney', 'Inspector', 'Manager'];
const DOMAINS = ['gmail.com', 'yahoo.com', 'outlook.com', 'icloud.com', 'hotmail.com', 'comcast.net', 'aol.com'];
const STREETS = ['Oak', 'Pine', 'Maple', 'Cedar', 'Elm', 'Washington', 'Lake', 'Hillside', 'Sunset', 'Park'];
const SUFFIXES = ['Street', 'Avenue', 'Boulevard', 'Drive', 'Court', 'Way'];
const CITIES: [string, string, string][] = [
  ['San Francisco', 'CA', '941'],
  ['Oakland', 'CA', '946'],
  ['San Jose', 'CA', '951'],
  ['Palo Alto', 'CA', '943'],
  ['Berkeley', 'CA', '947'],
  ['Walnut Creek', 'CA', '945'],
  ['Austin', 'TX', '787'],
  ['Denver', 'CO', '802'],
];
const AREA_CODES = ['415', '510', '650', '408', '925', '707', '512', '303'];
const NOTES = [
  'Met at the open house; looking for a 3-bedroom.',
  'Referral from a past client.',
  'Pre-approved; wants to move before school starts.',
];

/** mulberry32: a small, fast, seeded PRNG (deterministic contacts per agent). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pickOf =
  (rand: () => number) =>
  <T>(xs: readonly T[]): T =>
    xs[Math.floor(rand() * xs.length)];

/** Lower-case ASCII for the local part of an address (José → jose). */
const ascii = (s: string) =>
  s
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '');

const meta = (sourceId: string, primary: boolean) => ({
  ...(primary ? { primary: true, sourcePrimary: true } : {}),
  source: { type: 'CONTACT', id: sourceId },
});
const capital = (s: string) => s[0].toUpperCase() + s.slice(1);

let resourceCounter = 0;

/** The `n` contacts of one agent, as Google sends them (connections.list with the gateway's PERSON_FIELDS). */
export function agentPersons(agentIndex: number, n: number, now: Date): Person[] {
  const rand = prng(0x5eed + agentIndex * 7919);
  const pick = pickOf(rand);
  const digits = (k: number) => Array.from({ length: k }, () => Math.floor(rand() * 10)).join('');
  return Array.from({ length: n }, () => {
    const sourceId = Math.floor(rand() * 2 ** 52).toString(16);
    const given = pick(GIVEN);
    const family = pick(FAMILY);
    const org = rand() < 0.4 ? pick(ORGS) : null;
    const emails = [
      {
        value: `${ascii(given)}.${ascii(family)}${rand() < 0.5 ? Math.floor(rand() * 100) : ''}@${pick(DOMAINS)}`,
        type: 'home',
      },
      ...(org && rand() < 0.5
        ? [{ value: `${ascii(given)[0]}.${ascii(family)}@${ascii(org)}.com`, type: 'work' }]
        : []),
    ];
    const phone = (type: string) => {
      const d = `${pick(AREA_CODES)}${2 + Math.floor(rand() * 8)}${digits(6)}`;
      return { value: `(${d.slice(0, 3)}) ${d.slice(3, 6)}-${d.slice(6)}`, type, canonical: `+1${d}` };
    };
    const phones = [phone(rand() < 0.7 ? 'mobile' : 'home'), ...(rand() < 0.3 ? [phone('work')] : [])];
    const [city, region, zip] = pick(CITIES);
    const address =
      rand() < 0.3
        ? {
            streetAddress: `${1 + Math.floor(rand() * 9999)} ${pick(STREETS)} ${pick(SUFFIXES)}`,
            city,
            region,
            postalCode: `${zip}${digits(2)}`,
            country: 'US',
            type: 'home',
          }
        : null;
    const birthday =
      rand() < 0.2
        ? { year: 1950 + Math.floor(rand() * 55), month: 1 + Math.floor(rand() * 12), day: 1 + Math.floor(rand() * 28) }
        : null;
    const note = rand() < 0.1 ? pick(NOTES) : null;
    const title = org ? pick(TITLES) : null;
    const updateTime = new Date(now.getTime() - Math.floor(rand() * 3 * 365 * 86_400_000)).toISOString();
    resourceCounter++;
    const person: Person = {
      resourceName: `people/c${(7_000_000_000_000_000_000n + BigInt(resourceCounter) * 7_919n).toString()}`,
      etag: `%${Buffer.from(`${sourceId}:${resourceCounter}`).toString('base64url')}`,
      metadata: {
        sources: [{ type: 'CONTACT', id: sourceId, etag: `#${sourceId.slice(0, 8)}`, updateTime }],
        objectType: 'PERSON',
      },
      names: [
        {
          metadata: meta(sourceId, true),
          givenName: given,
          familyName: family,
          displayName: `${given} ${family}`,
          displayNameLastFirst: `${family}, ${given}`,
          unstructuredName: `${given} ${family}`,
        },
      ],
      emailAddresses: emails.map((e, i) => ({
        metadata: meta(sourceId, i === 0),
        ...e,
        formattedType: capital(e.type),
      })),
      phoneNumbers: phones.map((p, i) => ({
        metadata: meta(sourceId, i === 0),
        value: p.value,
        type: p.type,
        formattedType: capital(p.type),
        canonicalForm: p.canonical,
      })),
      ...(address
        ? {
            addresses: [
              {
                metadata: meta(sourceId, true),
                ...address,
                formattedValue: `${address.streetAddress}\n${city}, ${region} ${address.postalCode}\nUS`,
                formattedType: 'Home',
              },
            ],
          }
        : {}),
      ...(org ? { organizations: [{ metadata: meta(sourceId, true), name: org, title }] } : {}),
      ...(note ? { biographies: [{ metadata: meta(sourceId, true), value: note, contentType: 'TEXT_PLAIN' }] } : {}),
      ...(birthday ? { birthdays: [{ metadata: meta(sourceId, true), date: birthday }] } : {}),
      memberships: [
        {
          metadata: { source: { type: 'CONTACT', id: sourceId } },
          contactGroupMembership: {
            contactGroupId: 'myContacts',
            contactGroupResourceName: 'contactGroups/myContacts',
          },
        },
      ],
    } as Person;
    return person;
  });
}

/** What an agent types to find contacts: prefixes of given names (3 letters). */
export const PREFIX_CANDIDATES = ['jen', 'chr', 'kat', 'ste', 'mar', 'dav', 'ale', 'ric', 'nic', 'sam', 'ben', 'kim'];
/** The family names an agent may search for. */
export const FAMILY_NAMES: readonly string[] = FAMILY;

/** The body the emulator's admin API takes to create `p` in Google (the fields a user writes, no metadata). */
export function googleBody(p: Person): Record<string, unknown> {
  const typed = (xs: { value?: string | null; type?: string | null }[] | undefined) =>
    xs?.map((x) => ({ value: x.value, type: x.type }));
  return {
    names: p.names?.map((n) => ({ givenName: n.givenName, familyName: n.familyName })),
    emailAddresses: typed(p.emailAddresses),
    phoneNumbers: typed(p.phoneNumbers),
    ...(p.addresses
      ? { addresses: p.addresses.map(({ metadata: _m, formattedType: _t, formattedValue: _v, ...a }) => a) }
      : {}),
    ...(p.organizations ? { organizations: p.organizations.map((o) => ({ name: o.name, title: o.title })) } : {}),
    ...(p.biographies
      ? { biographies: p.biographies.map((b) => ({ value: b.value, contentType: b.contentType })) }
      : {}),
    ...(p.birthdays ? { birthdays: p.birthdays.map((b) => ({ date: b.date })) } : {}),
  };
}
