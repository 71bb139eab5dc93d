/**
 * mergeContact and onlyOurChanges (src/contacts/merge.ts) as pure functions, beside test/contacts/merge.test.ts: every
 * field of a contact goes through the same rules (Google-only change comes in, CRM-only change stays, a clash goes to
 * the strictly later writer and is recorded), the values of earlier unanswered writes of ours (`unconfirmed`) are
 * ours and not Google's, and onlyOurChanges (the check before a delete of ours is allowed over Google's copy) had no
 * test of its own. No database, no emulator.
 */
import { mergeContact, onlyOurChanges } from '../../src/contacts/merge';
import { FIELD_NAMES, type ContactFields, type FieldName } from '../../src/contacts/person.mapper';

const BASE: ContactFields = {
  givenName: 'Ann',
  familyName: 'Lee',
  organization: 'Acme Realty',
  jobTitle: 'Agent',
  notes: 'Prefers email',
  emails: [{ value: 'ann@acme.test', type: 'work' }],
  phones: [{ value: '+1 555 0100', type: 'mobile' }],
  middleName: 'Q',
  honorificPrefix: 'Dr.',
  honorificSuffix: null,
  nicknames: [{ value: 'Annie', type: null }],
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
  events: [{ date: { year: 2019, month: 5, day: 3 }, type: 'anniversary' }],
  relations: [{ person: 'Ben Lee', type: 'spouse' }],
  urls: [{ value: 'https://ann.test', type: 'homePage' }],
};

/** For every field: a value the CRM may have set, and a different one Google may have set (both differ from BASE). */
const OURS_VALUE: { [F in FieldName]: ContactFields[F] } = {
  givenName: 'Anne',
  familyName: 'Lee-Smith',
  organization: 'Beta Homes',
  jobTitle: 'Broker',
  notes: 'Prefers calls',
  emails: [{ value: 'ann@beta.test', type: 'work' }],
  phones: [{ value: '+1 555 0199', type: 'work' }],
  middleName: 'Quinn',
  honorificPrefix: 'Ms.',
  honorificSuffix: 'Jr.',
  nicknames: [{ value: 'A.', type: 'ALTERNATE_NAME' }],
  addresses: [{ ...BASE.addresses[0], streetAddress: '14 Elm St' }],
  birthday: { date: { year: 1980, month: 7, day: 26 }, text: null },
  events: [{ date: { year: 2020, month: 5, day: 3 }, type: 'anniversary' }],
  relations: [{ person: 'Ben Lee', type: 'partner' }],
  urls: [{ value: 'https://ann.test/new', type: 'homePage' }],
};
const THEIRS_VALUE: { [F in FieldName]: ContactFields[F] } = {
  givenName: 'Anna',
  familyName: 'Lee-Jones',
  organization: null,
  jobTitle: 'Team lead',
  notes: null,
  emails: [],
  phones: [{ value: '+1 555 0100', type: 'home' }],
  middleName: null,
  honorificPrefix: null,
  honorificSuffix: 'Sr.',
  nicknames: [],
  addresses: [],
  birthday: { date: null, text: 'around Easter' },
  events: [],
  relations: [{ person: 'Carl Lee', type: 'spouse' }],
  urls: [{ value: 'https://ann.test', type: 'blog' }],
};

const NOW = new Date('2027-01-01T12:00:00.000Z');
const T = new Date('2027-01-01T10:00:00.000Z');
const msAfter = (d: Date, ms: number) => new Date(d.getTime() + ms);

const with_ = (patch: Partial<ContactFields>): ContactFields => ({
  ...structuredClone(BASE),
  ...structuredClone(patch),
});

function deepFreeze<V>(o: V): V {
  if (o && typeof o === 'object') {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

describe('mergeContact, field by field', () => {
  test('the fixtures name every field of a contact, and the merge walks every one of them (a field left out of FIELD_NAMES would never merge)', () => {
    expect([...FIELD_NAMES].sort()).toEqual(Object.keys(BASE).sort());
    for (const f of FIELD_NAMES) {
      expect(OURS_VALUE[f]).not.toEqual(BASE[f]);
      expect(THEIRS_VALUE[f]).not.toEqual(BASE[f]);
      expect(THEIRS_VALUE[f]).not.toEqual(OURS_VALUE[f]);
    }
  });

  describe.each(FIELD_NAMES.map((f) => [f]))('%s', (field) => {
    const ours = with_({ [field]: OURS_VALUE[field] });
    const theirs = with_({ [field]: THEIRS_VALUE[field] });

    test("changed in Google only: Google's value comes in, no conflict", () => {
      const r = mergeContact(
        deepFreeze(with_({})),
        deepFreeze(with_({})),
        deepFreeze(structuredClone(theirs)),
        msAfter(T, 1000),
        T,
        NOW,
      );
      expect(r).toEqual({ merged: theirs, conflicts: [] });
    });

    test("changed in the CRM only: ours stays, no conflict, even when Google's copy is newer", () => {
      const r = mergeContact(
        deepFreeze(with_({})),
        deepFreeze(structuredClone(ours)),
        deepFreeze(with_({})),
        T,
        msAfter(T, 1000),
        NOW,
      );
      expect(r).toEqual({ merged: ours, conflicts: [] });
    });

    test("changed on both sides, Google 1 ms later: Google's value, and the conflict names the field with both values", () => {
      const r = mergeContact(with_({}), ours, theirs, T, msAfter(T, 1), NOW);
      expect(r.merged).toEqual(theirs);
      expect(r.conflicts).toEqual([
        { field, ours: OURS_VALUE[field], theirs: THEIRS_VALUE[field], winner: 'google', at: NOW.toISOString() },
      ]);
    });

    test('changed on both sides, at the same instant or with the CRM later: ours, conflict won by the CRM', () => {
      for (const theirsAt of [new Date(T), msAfter(T, -1)]) {
        const r = mergeContact(with_({}), ours, theirs, T, theirsAt, NOW);
        expect(r.merged).toEqual(ours);
        expect(r.conflicts).toEqual([
          { field, ours: OURS_VALUE[field], theirs: THEIRS_VALUE[field], winner: 'crm', at: NOW.toISOString() },
        ]);
      }
    });

    test('changed on both sides to the same value: that value, no conflict', () => {
      expect(mergeContact(with_({}), ours, structuredClone(ours), T, msAfter(T, 1), NOW)).toEqual({
        merged: ours,
        conflicts: [],
      });
    });

    test('changed in Google and changed back: nothing to take, ours stays', () => {
      expect(mergeContact(with_({}), ours, with_({}), T, msAfter(T, 1), NOW)).toEqual({ merged: ours, conflicts: [] });
    });
  });
});

describe('mergeContact, the whole contact', () => {
  test('nothing changed anywhere: a merge equal to ours, in a new object, no conflict', () => {
    const ours = deepFreeze(with_({}));
    const r = mergeContact(deepFreeze(with_({})), ours, deepFreeze(with_({})), T, null, NOW);
    expect(r).toEqual({ merged: BASE, conflicts: [] });
    expect(r.merged).not.toBe(ours);
  });

  test('every field clashing at once: one conflict per field, in FIELD_NAMES order, all with the same time; the later side wins them all', () => {
    const ours = with_(OURS_VALUE);
    const theirs = with_(THEIRS_VALUE);
    const google = mergeContact(with_({}), ours, theirs, T, msAfter(T, 60_000), NOW);
    expect(google.merged).toEqual(theirs);
    expect(google.conflicts.map((c) => c.field)).toEqual([...FIELD_NAMES]);
    expect(new Set(google.conflicts.map((c) => `${c.winner} ${c.at}`))).toEqual(
      new Set([`google ${NOW.toISOString()}`]),
    );
    const crm = mergeContact(with_({}), ours, theirs, msAfter(T, 60_000), T, NOW);
    expect(crm.merged).toEqual(ours);
    expect(crm.conflicts.map((c) => c.winner)).toEqual(FIELD_NAMES.map(() => 'crm'));
  });

  test('a mix: Google-only, CRM-only, same on both, clashing and untouched fields each decided on their own', () => {
    const ours = with_({ givenName: 'Anne', notes: 'same', emails: OURS_VALUE.emails, birthday: OURS_VALUE.birthday });
    const theirs = with_({
      familyName: 'Lee-Jones',
      notes: 'same',
      emails: THEIRS_VALUE.emails,
      urls: THEIRS_VALUE.urls,
    });
    const r = mergeContact(with_({}), ours, theirs, msAfter(T, 1), T, NOW);
    expect(r.merged).toEqual(
      with_({
        givenName: 'Anne',
        familyName: 'Lee-Jones',
        notes: 'same',
        emails: OURS_VALUE.emails,
        birthday: OURS_VALUE.birthday,
        urls: THEIRS_VALUE.urls,
      }),
    );
    expect(r.conflicts).toEqual([
      { field: 'emails', ours: OURS_VALUE.emails, theirs: [], winner: 'crm', at: NOW.toISOString() },
    ]);
  });

  test('lists are compared whole and in order: one element more, less, reordered or retyped is a change of the field', () => {
    const two = [
      { value: 'a@x.test', type: 'work' },
      { value: 'b@x.test', type: null },
    ];
    const base = with_({ emails: two });
    for (const changed of [
      [two[1], two[0]],
      [two[0]],
      [...two, { value: 'c@x.test', type: null }],
      [two[0], { ...two[1], type: 'home' }],
    ]) {
      expect(mergeContact(base, structuredClone(base), with_({ emails: changed }), T, null, NOW).merged.emails).toEqual(
        changed,
      );
      const clash = mergeContact(base, with_({ emails: [] }), with_({ emails: changed }), T, msAfter(T, 1), NOW);
      expect(clash.conflicts.map((c) => [c.field, c.winner])).toEqual([['emails', 'google']]);
    }
  });

  test("a detail object differing in one part (a birthday's year, an address's postal code) is a change of the field", () => {
    const r = mergeContact(
      with_({}),
      with_({ birthday: { date: { year: 1980, month: 7, day: 26 }, text: null } }),
      with_({ addresses: [{ ...BASE.addresses[0], postalCode: '62702' }] }),
      T,
      null,
      NOW,
    );
    expect(r.merged.birthday).toEqual({ date: { year: 1980, month: 7, day: 26 }, text: null });
    expect(r.merged.addresses[0].postalCode).toBe('62702');
    expect(r.conflicts).toEqual([]);
  });

  test("Google's update time unknown: Google-only changes still come in, every clash is the CRM's", () => {
    const r = mergeContact(
      with_({}),
      with_({ jobTitle: 'Broker', notes: 'ours' }),
      with_({ notes: 'theirs', relations: THEIRS_VALUE.relations }),
      T,
      null,
      NOW,
    );
    expect(r.merged).toEqual(with_({ jobTitle: 'Broker', notes: 'ours', relations: THEIRS_VALUE.relations }));
    expect(r.conflicts.map((c) => [c.field, c.winner])).toEqual([['notes', 'crm']]);
  });

  test('without `now`, a conflict is stamped with the time of the merge', () => {
    const before = Date.now();
    const { conflicts } = mergeContact(with_({}), with_({ notes: 'ours' }), with_({ notes: 'theirs' }), T, null);
    const after = Date.now();
    expect(conflicts).toHaveLength(1);
    const at = Date.parse(conflicts[0].at);
    expect(new Date(at).toISOString()).toBe(conflicts[0].at);
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(after);
  });
});

describe('mergeContact and the values of our unanswered writes (unconfirmed)', () => {
  test('Google holding any one of several earlier values of ours: our newest stays, no conflict, whoever is later', () => {
    const unconfirmed = { jobTitle: ['First', 'Second'] };
    for (const held of ['First', 'Second']) {
      for (const theirsAt of [msAfter(T, 1000), msAfter(T, -1000)]) {
        expect(
          mergeContact(
            with_({}),
            with_({ jobTitle: 'Third' }),
            with_({ jobTitle: held }),
            T,
            theirsAt,
            NOW,
            unconfirmed,
          ),
        ).toEqual({ merged: with_({ jobTitle: 'Third' }), conflicts: [] });
      }
    }
  });

  test('lists and details are matched by value, not by identity: an earlier emails list or birthday of ours held by Google is ours', () => {
    const unconfirmed = {
      emails: [structuredClone(THEIRS_VALUE.emails)],
      birthday: [structuredClone(THEIRS_VALUE.birthday)],
    };
    const r = mergeContact(
      with_({}),
      with_({ emails: OURS_VALUE.emails, birthday: OURS_VALUE.birthday }),
      with_({ emails: THEIRS_VALUE.emails, birthday: THEIRS_VALUE.birthday }),
      T,
      msAfter(T, 1),
      NOW,
      unconfirmed,
    );
    expect(r).toEqual({ merged: with_({ emails: OURS_VALUE.emails, birthday: OURS_VALUE.birthday }), conflicts: [] });
  });

  test('a field our earlier write cleared (null) and Google holds cleared: ours, no conflict', () => {
    const r = mergeContact(
      with_({}),
      with_({ organization: 'Gamma Realty' }),
      with_({ organization: null }),
      T,
      msAfter(T, 1),
      NOW,
      { organization: [null] },
    );
    expect(r).toEqual({ merged: with_({ organization: 'Gamma Realty' }), conflicts: [] });
  });

  test('our newest value back at the base and Google holding an earlier one of ours: the newest (the base) stays', () => {
    expect(
      mergeContact(with_({}), with_({}), with_({ jobTitle: 'First' }), T, msAfter(T, 1), NOW, { jobTitle: ['First'] }),
    ).toEqual({ merged: with_({}), conflicts: [] });
  });

  test('the values of one field do not cover another field, nor another value of the same field', () => {
    const otherField = mergeContact(
      with_({}),
      with_({ jobTitle: 'Broker' }),
      with_({ givenName: 'Broker' }),
      T,
      msAfter(T, 1),
      NOW,
      { jobTitle: ['Broker'], familyName: ['Anna'] },
    );
    expect(otherField.merged).toEqual(with_({ jobTitle: 'Broker', givenName: 'Broker' }));
    const otherValue = mergeContact(
      with_({}),
      with_({ jobTitle: 'Third' }),
      with_({ jobTitle: "Google's own" }),
      T,
      msAfter(T, 1),
      NOW,
      { jobTitle: ['First'] },
    );
    expect(otherValue.merged.jobTitle).toBe("Google's own");
    expect(otherValue.conflicts.map((c) => [c.field, c.winner])).toEqual([['jobTitle', 'google']]);
  });

  test('values recorded for a field name the contact does not have change nothing', () => {
    expect(
      mergeContact(with_({}), with_({}), with_({ notes: 'theirs' }), T, null, NOW, { summary: ['theirs'] }).merged
        .notes,
    ).toBe('theirs');
  });
});

describe('onlyOurChanges: Google changed nothing since the base but to our values', () => {
  test('nothing changed in Google: true', () => {
    expect(onlyOurChanges(with_({}), with_(OURS_VALUE), with_({}), {})).toBe(true);
  });

  test('every field Google changed holds our current value: true', () => {
    expect(onlyOurChanges(with_({}), with_(OURS_VALUE), with_(OURS_VALUE), {})).toBe(true);
    expect(onlyOurChanges(with_({}), with_({ notes: 'x', urls: [] }), with_({ urls: [] }), {})).toBe(true);
  });

  test('a field Google changed holds one of our unconfirmed values: true', () => {
    expect(
      onlyOurChanges(with_({}), with_({ jobTitle: 'Third' }), with_({ jobTitle: 'First' }), {
        jobTitle: ['First', 'Second'],
      }),
    ).toBe(true);
    expect(
      onlyOurChanges(with_({}), with_({}), with_({ relations: THEIRS_VALUE.relations }), {
        relations: [structuredClone(THEIRS_VALUE.relations)],
      }),
    ).toBe(true);
  });

  test.each(FIELD_NAMES.map((f) => [f]))('Google changed %s to a value of its own: false', (field) => {
    expect(onlyOurChanges(with_({}), with_({}), with_({ [field]: THEIRS_VALUE[field] }), {})).toBe(false);
    // Also when we changed it too, to something else, and when the unconfirmed values are another field's.
    expect(
      onlyOurChanges(with_({}), with_({ [field]: OURS_VALUE[field] }), with_({ [field]: THEIRS_VALUE[field] }), {
        [field === 'notes' ? 'jobTitle' : 'notes']: [THEIRS_VALUE[field]],
      }),
    ).toBe(false);
  });

  test("one field of Google's own among fields holding ours: false", () => {
    const theirs = with_({ jobTitle: 'Broker', notes: 'from Google' });
    expect(onlyOurChanges(with_({}), with_({ jobTitle: 'Broker' }), theirs, {})).toBe(false);
  });
});
