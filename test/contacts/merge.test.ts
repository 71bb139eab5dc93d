/**
 * mergeContact, the three-way merge of a contact edited in the CRM and in Google since the last sync: its edge
 * cases one by one (the end-to-end conflict tests only reach the common one).
 */
import { mergeContact } from '../../src/contacts/merge';
import type { ContactFields } from '../../src/contacts/person.mapper';

const BASE: ContactFields = {
  givenName: 'Ann',
  familyName: 'Lee',
  organization: 'Acme Realty',
  jobTitle: 'Agent',
  notes: null,
  emails: [{ value: 'ann@acme.test', type: 'work' }],
  phones: [{ value: '+1 555 0100', type: 'mobile' }],
  middleName: null,
  honorificPrefix: null,
  honorificSuffix: null,
  nicknames: [],
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
  birthday: { date: { year: null, month: 7, day: 26 }, text: null },
  events: [],
  relations: [],
  urls: [],
};
const with_ = (patch: Partial<ContactFields>): ContactFields => ({ ...structuredClone(BASE), ...patch });

const NOW = new Date('2027-01-01T12:00:00.000Z');
const EARLIER = new Date('2027-01-01T10:00:00.000Z');
const LATER = new Date('2027-01-01T11:00:00.000Z');

/** Deep-frozen copies: the merge must not change what it was given. */
function frozen<T>(o: T): T {
  const c = structuredClone(o);
  const freeze = (x: unknown) => {
    if (x && typeof x === 'object') {
      Object.freeze(x);
      for (const v of Object.values(x)) freeze(v);
    }
  };
  freeze(c);
  return c;
}
const merge = (ours: ContactFields, theirs: ContactFields, oursAt: Date, theirsAt: Date | null, base = BASE) =>
  mergeContact(frozen(base), frozen(ours), frozen(theirs), oursAt, theirsAt, NOW);

test('nothing changed on either side: ours, no conflict', () => {
  expect(merge(with_({}), with_({}), EARLIER, LATER)).toEqual({ merged: BASE, conflicts: [] });
});

test("changed in Google only: Google's value, whatever the timestamps", () => {
  for (const [oursAt, theirsAt] of [
    [EARLIER, LATER],
    [LATER, EARLIER],
    [LATER, null],
  ] as const) {
    expect(merge(with_({}), with_({ jobTitle: 'Broker' }), oursAt, theirsAt)).toEqual({
      merged: with_({ jobTitle: 'Broker' }),
      conflicts: [],
    });
  }
});

test('changed in the CRM only: ours, whatever the timestamps', () => {
  for (const [oursAt, theirsAt] of [
    [EARLIER, LATER],
    [LATER, EARLIER],
    [EARLIER, null],
  ] as const) {
    expect(merge(with_({ jobTitle: 'Broker' }), with_({}), oursAt, theirsAt)).toEqual({
      merged: with_({ jobTitle: 'Broker' }),
      conflicts: [],
    });
  }
});

test('changed on both sides to the same value: that value, and no conflict recorded', () => {
  expect(merge(with_({ jobTitle: 'Broker' }), with_({ jobTitle: 'Broker' }), EARLIER, LATER)).toEqual({
    merged: with_({ jobTitle: 'Broker' }),
    conflicts: [],
  });
  expect(merge(with_({ jobTitle: 'Broker' }), with_({ jobTitle: 'Broker' }), LATER, EARLIER)).toEqual({
    merged: with_({ jobTitle: 'Broker' }),
    conflicts: [],
  });
});

test('changed on both sides to different values: the later writer wins, and the conflict is recorded', () => {
  expect(merge(with_({ jobTitle: 'CRM title' }), with_({ jobTitle: 'Google title' }), EARLIER, LATER)).toEqual({
    merged: with_({ jobTitle: 'Google title' }),
    conflicts: [
      { field: 'jobTitle', ours: 'CRM title', theirs: 'Google title', winner: 'google', at: NOW.toISOString() },
    ],
  });
  expect(merge(with_({ jobTitle: 'CRM title' }), with_({ jobTitle: 'Google title' }), LATER, EARLIER)).toEqual({
    merged: with_({ jobTitle: 'CRM title' }),
    conflicts: [{ field: 'jobTitle', ours: 'CRM title', theirs: 'Google title', winner: 'crm', at: NOW.toISOString() }],
  });
});

test('equal timestamps: the CRM wins (Google must be strictly later)', () => {
  const at = new Date(LATER);
  expect(merge(with_({ notes: 'ours' }), with_({ notes: 'theirs' }), at, new Date(at))).toEqual({
    merged: with_({ notes: 'ours' }),
    conflicts: [{ field: 'notes', ours: 'ours', theirs: 'theirs', winner: 'crm', at: NOW.toISOString() }],
  });
});

test("Google's update time missing: the CRM wins a real conflict; Google-only changes still come in", () => {
  expect(
    merge(
      with_({ notes: 'ours', givenName: 'Annie' }),
      with_({ notes: 'theirs', familyName: 'Lee-Smith' }),
      EARLIER,
      null,
    ),
  ).toEqual({
    merged: with_({ notes: 'ours', givenName: 'Annie', familyName: 'Lee-Smith' }),
    conflicts: [{ field: 'notes', ours: 'ours', theirs: 'theirs', winner: 'crm', at: NOW.toISOString() }],
  });
});

test('clearing a field is a change like any other', () => {
  // Cleared in Google only: cleared here.
  expect(merge(with_({}), with_({ organization: null }), LATER, EARLIER).merged.organization).toBeNull();
  // Cleared here, edited in Google later: Google's edit wins, and the clash is recorded.
  expect(merge(with_({ organization: null }), with_({ organization: 'Beta Homes' }), EARLIER, LATER)).toEqual({
    merged: with_({ organization: 'Beta Homes' }),
    conflicts: [{ field: 'organization', ours: null, theirs: 'Beta Homes', winner: 'google', at: NOW.toISOString() }],
  });
});

describe('list fields (emails, phones) are compared and taken whole', () => {
  const a = { value: 'ann@acme.test', type: 'work' };
  const b = { value: 'ann@home.test', type: 'home' };
  const c = { value: 'ann@new.test', type: null };

  test('the same address added on both sides: no conflict', () => {
    expect(merge(with_({ emails: [a, b] }), with_({ emails: [a, b] }), EARLIER, LATER)).toEqual({
      merged: with_({ emails: [a, b] }),
      conflicts: [],
    });
  });

  test("different additions on both sides: the winner's whole list (no element-wise merge), one conflict", () => {
    const r = merge(with_({ emails: [a, b] }), with_({ emails: [a, c] }), EARLIER, LATER);
    expect(r.merged.emails).toEqual([a, c]);
    expect(r.conflicts).toEqual([
      { field: 'emails', ours: [a, b], theirs: [a, c], winner: 'google', at: NOW.toISOString() },
    ]);
  });

  test('a reorder or a changed type counts as a change', () => {
    expect(
      merge(with_({ emails: [a, b] }), with_({ emails: [b, a] }), LATER, EARLIER, with_({ emails: [a, b] })).conflicts,
    ).toEqual([]);
    expect(
      merge(with_({ emails: [a, b] }), with_({ emails: [b, a] }), LATER, EARLIER, with_({ emails: [a, b] })).merged
        .emails,
    ).toEqual([b, a]);
    const retyped = [{ ...BASE.phones[0], type: 'work' }];
    expect(merge(with_({}), with_({ phones: retyped }), LATER, EARLIER).merged.phones).toEqual(retyped);
  });

  test('emptied in Google, edited here later: ours wins the conflict', () => {
    const r = merge(with_({ phones: [{ value: '+1 555 0199', type: 'work' }] }), with_({ phones: [] }), LATER, EARLIER);
    expect(r.merged.phones).toEqual([{ value: '+1 555 0199', type: 'work' }]);
    expect(r.conflicts).toEqual([
      {
        field: 'phones',
        ours: [{ value: '+1 555 0199', type: 'work' }],
        theirs: [],
        winner: 'crm',
        at: NOW.toISOString(),
      },
    ]);
  });
});

test('several fields at once: each decided on its own, conflicts only where both sides differ', () => {
  const r = merge(
    with_({ givenName: 'Annie', jobTitle: 'CRM title', notes: 'same' }),
    with_({ familyName: 'Lee-Smith', jobTitle: 'Google title', notes: 'same' }),
    LATER,
    EARLIER,
  );
  expect(r.merged).toEqual(
    with_({ givenName: 'Annie', familyName: 'Lee-Smith', jobTitle: 'CRM title', notes: 'same' }),
  );
  expect(r.conflicts.map((x) => [x.field, x.winner])).toEqual([['jobTitle', 'crm']]);
});

test('Google holding a value an earlier write of ours may have put there unanswered: ours, no conflict; another value still conflicts', () => {
  const echo = mergeContact(
    frozen(BASE),
    frozen(with_({ familyName: 'Second' })),
    frozen(with_({ familyName: 'First' })),
    EARLIER,
    LATER,
    NOW,
    { familyName: ['First'] },
  );
  expect(echo).toEqual({ merged: with_({ familyName: 'Second' }), conflicts: [] });
  const other = mergeContact(
    frozen(BASE),
    frozen(with_({ familyName: 'Second' })),
    frozen(with_({ familyName: 'Theirs' })),
    LATER,
    EARLIER,
    NOW,
    { familyName: ['First'] },
  );
  expect(other.conflicts.map((c) => [c.field, c.winner])).toEqual([['familyName', 'crm']]);
});

describe('the details (addresses, birthday, events, relations, urls, name parts) merge field by field like the rest', () => {
  const moved = [{ ...BASE.addresses[0], streetAddress: '14 Elm St' }];
  test('an address changed here and a birthday and relation changed in Google: all three kept, no conflict', () => {
    const theirs = with_({
      birthday: { date: { year: 1980, month: 7, day: 26 }, text: null },
      relations: [{ person: 'Ben', type: 'child' }],
    });
    expect(merge(with_({ addresses: moved }), theirs, LATER, EARLIER)).toEqual({
      merged: with_({ addresses: moved, birthday: theirs.birthday, relations: theirs.relations }),
      conflicts: [],
    });
  });

  test('the birthday changed on both sides: the later writer wins and the conflict names "birthday"', () => {
    const ours = with_({ birthday: { date: { year: null, month: 7, day: 27 }, text: null } });
    const theirs = with_({ birthday: null });
    const { merged, conflicts } = merge(ours, theirs, EARLIER, LATER);
    expect(merged.birthday).toBeNull();
    expect(conflicts).toEqual([
      { field: 'birthday', ours: ours.birthday, theirs: null, winner: 'google', at: NOW.toISOString() },
    ]);
  });

  test('a middle name added in Google and a suffix here: both', () => {
    expect(merge(with_({ honorificSuffix: 'Jr.' }), with_({ middleName: 'Q' }), EARLIER, LATER).merged).toEqual(
      with_({ honorificSuffix: 'Jr.', middleName: 'Q' }),
    );
  });
});
