/**
 * The search index's tokenizer (person.mapper.ts searchTokensOf) and how a query is cut into words
 * (contact-search.ts queryWords): the two must agree, since a query word matches a contact when it begins a token.
 */
import { queryWords } from '../../src/contacts/contact-search';
import { EMPTY_FIELDS } from '../../src/contacts/contact.mirror';
import {
  normalizeSearchText,
  SEARCH_TOKEN_LENGTH,
  searchTokensOf,
  type ContactFields,
} from '../../src/contacts/person.mapper';

const contact = (f: Partial<ContactFields>): ContactFields => ({ ...EMPTY_FIELDS, ...f });

/** Whether the query finds the contact, as the index answers it: every word begins one of its tokens. */
const finds = (query: string, f: ContactFields) => {
  const tokens = searchTokensOf(f);
  const words = queryWords(query);
  return words.length > 0 && words.every((w) => tokens.some((t) => t.startsWith(w)));
};

describe('normalizeSearchText', () => {
  test.each([
    ['Zoë', 'zoe'],
    ['ZOË', 'zoe'],
    ['Zoe\u0308', 'zoe'], // e + combining diaeresis (NFD input)
    ['Straße', 'strasse'],
    ['STRASSE', 'strasse'],
    ['Ærø', 'aero'],
    ['Œuvre', 'oeuvre'],
    ['Łódź', 'lodz'],
    ['Đorđe', 'dorde'],
    ['Þórður', 'thordur'],
    ['Iıİ', 'iii'],
    ['Ångström', 'angstrom'],
    ['ｆｕｌｌ５', 'full5'], // full-width forms (NFKD)
    ['ﬁne', 'fine'], // a ligature
  ])('%j → %j', (input, out) => {
    expect(normalizeSearchText(input)).toBe(out);
  });
});

describe('searchTokensOf', () => {
  test('words of every searched field, each once, lower-cased and folded', () => {
    const tokens = searchTokensOf(
      contact({
        givenName: 'Zoë',
        familyName: 'Straße',
        organization: 'Zoë Realty',
        jobTitle: 'Broker',
        nicknames: [{ value: 'Zo', type: null }],
        addresses: [
          {
            type: 'home',
            formattedValue: null,
            poBox: null,
            streetAddress: '12 Elm St',
            extendedAddress: null,
            city: 'Springfield',
            region: 'IL',
            postalCode: '62701',
            country: null,
            countryCode: 'US',
          },
        ],
      }),
    );
    expect(tokens.sort()).toEqual(
      ['zoe', 'strasse', 'realty', 'broker', 'zo', '12', 'elm', 'st', 'springfield', 'il', '62701'].sort(),
    );
  });

  test('notes are not searched (as before: searchText leaves them out)', () => {
    expect(searchTokensOf(contact({ givenName: 'Ann', notes: 'likes gardens' }))).toEqual(['ann']);
  });

  test('an email: the whole address and its tail after each punctuation', () => {
    expect(searchTokensOf(contact({ emails: [{ value: 'Jo.Smith@X.com', type: null }] })).sort()).toEqual(
      ['jo.smith@x.com', 'smith@x.com', 'x.com', 'com'].sort(),
    );
  });

  test('a phone: its words, its digits, and every tail of the digits of 3 or more', () => {
    const tokens = searchTokensOf(contact({ phones: [{ value: '+1 (555) 123-4567', type: 'mobile' }] }));
    expect(tokens).toEqual(
      expect.arrayContaining(['+1', '1', '(555)', '555)', '123-4567', '4567', '15551234567', '5551234567', '567']),
    );
    expect(tokens).not.toContain('67');
    expect(tokens.filter((t) => /^\d+$/.test(t)).sort()).toEqual(
      ['1', '15551234567', '5551234567', '551234567', '51234567', '1234567', '234567', '34567', '4567', '567'].sort(),
    );
  });

  test('a token is cut at 64 characters (code points, never half an emoji)', () => {
    const long = `${'a'.repeat(63)}😀tail`;
    const tokens = searchTokensOf(contact({ givenName: long }));
    expect(Array.from(tokens[0])).toHaveLength(SEARCH_TOKEN_LENGTH);
    expect(tokens[0].endsWith('😀')).toBe(true);
    expect(tokens).toContain('tail');
  });

  test('a pathological value gives at most 500 tokens, words before tails', () => {
    const organization = Array.from({ length: 2000 }, (_, i) => `w${i}`).join('.');
    const tokens = searchTokensOf(contact({ givenName: 'x', organization }));
    expect(tokens).toHaveLength(500);
    expect(tokens[0]).toBe('x');
  });
});

describe('queryWords', () => {
  test.each([
    ['Zoë', ['zoe']],
    ['  Pat   SMITH ', ['pat', 'smith']],
    ['smith smi', ['smith']], // a word that begins another is implied by it
    ['pat pat', ['pat']],
    ['@x.com', ['x.com']], // tokens begin after punctuation
    ['wow!', ['wow!']],
    ['(555) 123-4567', ['5551234567']], // a phone number as typed: its digits
    ['+44 20 7946', ['44207946']],
    ['55', ['55']], // under 3 digits: a word
    ['123 Main', ['123', 'main']],
    ['%', []], // punctuation alone: no word (the LIKE fallback)
    ['! %', []],
    ['x'.repeat(70), ['x'.repeat(64)]],
  ])('%j → %j', (query, words) => {
    expect(queryWords(query)).toEqual(words);
  });
});

describe('what a query finds (index semantics)', () => {
  const contacts = {
    'Zoë Buyer': contact({ givenName: 'Zoë', familyName: 'Buyer', emails: [{ value: 'zoe@buyer.test', type: null }] }),
    'Pat Smith': contact({ givenName: 'Pat', familyName: 'Smith', phones: [{ value: '+1 555-123-4567', type: null }] }),
  };
  test.each([
    ['zoe', 'Zoë Buyer', true],
    ['ZOË', 'Zoë Buyer', true],
    ['buyer.test', 'Zoë Buyer', true],
    ['@buyer', 'Zoë Buyer', true],
    ['smith p', 'Pat Smith', true],
    ['pat smith', 'Pat Smith', true],
    ['pat jones', 'Pat Smith', false],
    ['smi', 'Pat Smith', true],
    ['mit', 'Pat Smith', false], // inside a word: no longer found (it was, as a substring)
    ['4567', 'Pat Smith', true],
    ['555 123', 'Pat Smith', true],
    ['(555) 124', 'Pat Smith', false],
  ] as const)('%j finds %s: %s', (query, name, found) => {
    expect(finds(query, contacts[name])).toBe(found);
  });
});
