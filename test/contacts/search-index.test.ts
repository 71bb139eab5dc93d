/**
 * contacts(query:) through the search index (src/contacts/contact-search.ts), on both databases: what it finds
 * (accents folded, every word the beginning of a word of the contact, phone digits, email parts), that the tokens
 * follow every write of a contact (the CRM's, Google's through a sync, what Google fills in on a write, deletes), that
 * one agent never finds another's contacts, that an agent whose index is behind is answered from its contacts while
 * its index is built, that bulk writes keep the tokens in a few statements, and that the statement the search runs
 * reads the token table's primary key by range, never the agent's contacts.
 */
import { randomUUID } from 'node:crypto';
import type { AgentRef } from '../../src/agents/agent-ref';
import { insertTokens, replaceTokens, SEARCH_TOKENS_VERSION } from '../../src/contacts/contact-search';
import * as contactChanges from '../../src/contacts/contact-changes';
import { Contact } from '../../src/entities';
import { columnsOf, contactRow, fieldsOf, insertContacts, NO_DETAILS } from '../../src/contacts/contact.mirror';
import type { ContactFields } from '../../src/contacts/person.mapper';
import { describeEachDb, type TestDb } from '../support/db';
import { forgetRows } from '../support/gateway';
import { statementsDuring, type Statement } from '../support/sql-log';
import { until } from '../support/wait';
import { encodeCursor } from '../../src/graphql/connection';
import { deliveryDone, resetContacts, startWorld, type World } from '../support/world';

const AGENT = 'agent@alpha.test';
const OTHER = 'other@alpha.test';

async function agentOf(db: TestDb, email: string): Promise<AgentRef> {
  const [row] = await db.ds.query('SELECT id, brokerageId FROM agent WHERE email = ?', [email]);
  return { agentId: row.id, brokerageId: row.brokerageId, email };
}

/** The statements run while `work` runs (the outbox's polling left out), with their parameters. */
/** The statements `work` ran (the outbox's own polling left out). */
async function statementsOf(db: TestDb, work: () => Promise<unknown>): Promise<Statement[]> {
  const { statements } = await statementsDuring(db.ds, work);
  return statements.filter((s) => !/outbox/i.test(s.sql));
}

describeEachDb('contacts: the search index', (db) => {
  let w: World;
  const tokens: Record<string, string> = {};
  let agent: AgentRef;
  let other: AgentRef;

  const gql = async (query: string, variables?: Record<string, unknown>, as = AGENT) => {
    const res = await w.gw.gql(query, { token: tokens[as], variables });
    expect(res.body.errors).toBeUndefined();
    return res.body.data;
  };
  const create = async (input: unknown[], as = AGENT): Promise<{ id: string; resourceName: string }[]> =>
    (await gql('mutation ($i: [ContactInput!]!) { createContacts(input: $i) { id resourceName } }', { i: input }, as))
      .createContacts;
  /** The display names `query` finds, sorted; totalCount agrees. */
  const search = async (query: string, as = AGENT): Promise<string[]> => {
    const page = (
      await gql(
        'query ($q: String) { contacts(first: 200, query: $q) { totalCount edges { node { displayName } } } }',
        { q: query },
        as,
      )
    ).contacts;
    expect(page.totalCount).toBe(page.edges.length);
    return page.edges.map((e: { node: { displayName: string } }) => e.node.displayName).sort();
  };
  const tokenRows = async (where: string, params: unknown[]) =>
    Number((await db().ds.query(`SELECT COUNT(*) AS n FROM contact_search_token WHERE ${where}`, params))[0].n);
  const versionOf = async (a: AgentRef) =>
    Number(
      (
        await db().ds.query('SELECT searchTokensVersion AS v FROM contact_sync WHERE agentId = ? AND brokerageId = ?', [
          a.agentId,
          a.brokerageId,
        ])
      )[0]?.v ?? -1,
    );
  /** The agent's index built (a search starts the build; this waits for it, or builds it). */
  const indexed = async (a: AgentRef) => {
    await w.gw.services.contactSync.searchIndex.build(a);
    expect(await versionOf(a)).toBe(SEARCH_TOKENS_VERSION);
  };

  beforeAll(async () => {
    w = await startWorld(db(), { env: { MUTATION_WAIT_MS: '60000' } });
    for (const email of [AGENT, OTHER]) {
      tokens[email] = await w.token(email);
      await resetContacts(w, db(), email);
    }
    await db().ds.query('DELETE FROM contact_search_token');
    // The agents (made on their first request) and their sync records, then their indexes.
    for (const email of [AGENT, OTHER])
      await gql('mutation { syncContacts { contacts { lastSyncAt } } }', undefined, email);
    agent = await agentOf(db(), AGENT);
    other = await agentOf(db(), OTHER);
    for (const a of [agent, other]) await indexed(a);
  });
  afterAll(() => w.close());

  test('accents and letters like ß fold both ways', async () => {
    await create([
      { givenName: 'Zoë', familyName: 'Ångström' },
      { givenName: 'Zoe', familyName: 'Plainfield' },
      { givenName: 'Jürgen', familyName: 'Straße' },
      { givenName: 'Søren', familyName: 'Kierkegaard' },
    ]);
    for (const q of ['zoe', 'ZOË', 'Zoe']) expect(await search(q)).toEqual(['Zoe Plainfield', 'Zoë Ångström'].sort());
    for (const q of ['angstrom', 'ÅNGSTRÖM']) expect(await search(q)).toEqual(['Zoë Ångström']);
    for (const q of ['strasse', 'straße', 'STRASSE', 'jurgen', 'jürgen'])
      expect(await search(q)).toEqual(['Jürgen Straße']);
    for (const q of ['soren', 'søren']) expect(await search(q)).toEqual(['Søren Kierkegaard']);
  });

  test('text the database would store alike, or compare oddly, neither fails a write nor hides a contact', async () => {
    // Two lone halves of a surrogate pair: distinct in JavaScript, both one U+FFFD in MariaDB (one primary key). A
    // control character: MariaDB's utf8mb4_bin pads with spaces, so a token holding one sorted before its prefix.
    const made = await create([
      { givenName: 'x\uD800 x\uDC00', familyName: 'Halves' },
      { givenName: 'Ctrl\u0001char' },
    ]);
    expect(made).toHaveLength(2);
    expect(await search('halves')).toHaveLength(1);
    expect(await search('ctrl')).toHaveLength(1);
    expect(await search('char')).toHaveLength(1);
  });

  test('a query of more than 10 words is refused, naming the limit; 10 are searched', async () => {
    const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i}x`).join(' ');
    const refused = await w.gw.gql('query ($q: String) { contacts(first: 5, query: $q) { totalCount } }', {
      token: tokens[AGENT],
      variables: { q: words(11) },
    });
    expect(refused.body.errors?.[0]).toMatchObject({
      message: '"query" may have at most 10 words',
      extensions: { code: 'BAD_USER_INPUT', field: 'query' },
    });
    expect(await search(words(10))).toEqual([]);
  });

  test('every word must begin a word of the contact, in any order; inside a word is no match', async () => {
    await create([
      { givenName: 'Priya', familyName: 'Quayle' },
      { givenName: 'Priya', familyName: 'Rosewood' },
      { givenName: 'Samir', familyName: 'Quayle' },
    ]);
    expect(await search('quayle p')).toEqual(['Priya Quayle']);
    expect(await search('Priya Quayle')).toEqual(['Priya Quayle']);
    expect(await search('quay')).toEqual(['Priya Quayle', 'Samir Quayle']);
    expect(await search('priya')).toEqual(['Priya Quayle', 'Priya Rosewood']);
    expect(await search('priya zz')).toEqual([]);
    expect(await search('uayle')).toEqual([]); // a substring, found before the index: no longer
  });

  test('a phone number: its digits however typed, and any tail of 3 digits or more', async () => {
    await create([{ givenName: 'Jenny', familyName: 'Tutone', phones: [{ value: '+1 (415) 867-5309' }] }]);
    for (const q of ['5309', '867-5309', '(415) 867', '4158675309', '+1 415 867 5309', '309'])
      expect(await search(q)).toEqual(['Jenny Tutone']);
    expect(await search('5308')).toEqual([]);
    expect(await search('8675 309')).toEqual(['Jenny Tutone']); // digits of one number, spaced differently
  });

  test('an email: the whole address, and what follows each of its punctuation marks', async () => {
    await create([{ givenName: 'Jo', familyName: 'Smithers', emails: [{ value: 'jo.smithers@brokerage-x.test' }] }]);
    for (const q of [
      'jo.smithers@brokerage-x.test',
      'smithers@brokerage',
      'brokerage-x.test',
      '@brokerage-x',
      'x.test',
    ])
      expect(await search(q)).toEqual(['Jo Smithers']);
    expect(await search('rokerage')).toEqual([]);
  });

  test("one agent never finds another's contact with the same word, and the tokens carry the tenant", async () => {
    const [mine] = await create([{ givenName: 'Zebulon', familyName: 'Alpha' }]);
    const [theirs] = await create([{ givenName: 'Zebulon', familyName: 'Beta' }], OTHER);
    expect(await search('zebulon')).toEqual(['Zebulon Alpha']);
    expect(await search('zebulon', OTHER)).toEqual(['Zebulon Beta']);
    expect(await search('beta')).toEqual([]);
    const rows = await db().ds.query(
      'SELECT DISTINCT contactId, agentId, brokerageId FROM contact_search_token WHERE contactId IN (?, ?) ORDER BY agentId',
      [mine.id, theirs.id],
    );
    expect(rows.map((r: Record<string, string>) => ({ ...r }))).toEqual(
      [
        { contactId: mine.id, agentId: agent.agentId, brokerageId: agent.brokerageId },
        { contactId: theirs.id, agentId: other.agentId, brokerageId: other.brokerageId },
      ].sort((a, b) => (a.agentId < b.agentId ? -1 : 1)),
    );
  });

  test('an update: the old word is no longer found, the new one is', async () => {
    const [c] = await create([{ givenName: 'Quentin', familyName: 'Oldhollow' }]);
    expect(await search('oldhollow')).toEqual(['Quentin Oldhollow']);
    const updated = await gql(
      'mutation ($id: ID!) { updateContact(id: $id, input: { familyName: "Newbridge" }) { displayName syncState } }',
      { id: c.id },
    );
    expect(updated.updateContact).toEqual({ displayName: 'Quentin Newbridge', syncState: 'SYNCED' });
    expect(await search('oldhollow')).toEqual([]);
    expect(await search('newbridge')).toEqual(['Quentin Newbridge']);
    expect(await tokenRows('contactId = ? AND token = ?', [c.id, 'oldhollow'])).toBe(0);
  });

  test('a delete: not found at once; once Google has it, its token rows are gone', async () => {
    const [c] = await create([{ givenName: 'Delia', familyName: 'Goneaway' }]);
    expect(await tokenRows('contactId = ?', [c.id])).toBeGreaterThan(0);
    expect((await gql('mutation ($id: ID!) { deleteContact(id: $id) }', { id: c.id })).deleteContact).toBe(true);
    expect(await search('goneaway')).toEqual([]);
    await deliveryDone(db());
    expect(await db().ds.query('SELECT id FROM contact WHERE id = ?', [c.id])).toEqual([]);
    expect(await tokenRows('contactId = ?', [c.id])).toBe(0);
  });

  test('a contact created in Google is found after a sync; an edit there moves its words; a delete there removes them', async () => {
    const made = await w.admin.request<{ resourceName: string }>('POST', `/users/${AGENT}/contacts`, {
      names: [{ givenName: 'Imogen', familyName: 'Fromgoogle' }],
      phoneNumbers: [{ value: '+44 20 7946 0321' }],
    });
    expect(made.status).toBe(200);
    expect(await search('fromgoogle')).toEqual([]); // the mirror is fresh for an hour: not synced yet
    await gql('mutation { syncContacts { contacts { lastSyncAt } } }');
    expect(await search('fromgoogle')).toEqual(['Imogen Fromgoogle']);
    expect(await search('0321')).toEqual(['Imogen Fromgoogle']);
    const id = made.body.resourceName.replace('people/', '');
    expect(
      (
        await w.admin.request('PATCH', `/users/${AGENT}/contacts/${id}`, {
          names: [{ givenName: 'Imogen', familyName: 'Editedthere' }],
        })
      ).status,
    ).toBe(200);
    await gql('mutation { syncContacts { contacts { lastSyncAt } } }');
    expect(await search('fromgoogle')).toEqual([]);
    expect(await search('editedthere imogen')).toEqual(['Imogen Editedthere']);
    const [row] = await db().ds.query('SELECT id FROM contact WHERE resourceName = ?', [made.body.resourceName]);
    expect((await w.admin.request('DELETE', `/users/${AGENT}/contacts/${id}`)).status).toBe(200);
    await gql('mutation { syncContacts { contacts { lastSyncAt } } }');
    expect(await search('editedthere')).toEqual([]);
    expect(await tokenRows('contactId = ?', [row.id])).toBe(0);
  });

  test("a contact renamed here while a delivery merges Google's edit into it keeps the new name's words", async () => {
    const [c] = await create([{ givenName: 'Pat', familyName: 'Racer', phones: [{ value: '+1 415 555 0101' }] }]);
    await deliveryDone(db());
    const id = c.resourceName.replace('people/', '');
    // Google's copy changes (its etag with it): our next update is refused as stale; the delivery re-reads and merges.
    expect(
      (
        await w.admin.request('PATCH', `/users/${AGENT}/contacts/${id}`, {
          phoneNumbers: [{ value: '+1 415 555 0199' }],
        })
      ).status,
    ).toBe(200);
    // The merge's transaction begins just as a rename here commits (read before, written after): made certain by
    // committing the rename when the merge opens its change feed, the first statement of its transaction.
    const realChangeFeed = contactChanges.changeFeed;
    const feeds = jest.spyOn(contactChanges, 'changeFeed');
    let renamed = false;
    feeds.mockImplementation(async (m, lane) => {
      if (
        !renamed &&
        (await db().ds.query('SELECT COUNT(*) AS n FROM contact WHERE id = ? AND jobTitle = ?', [c.id, 'Broker']))[0]
          .n > 0
      ) {
        renamed = true;
        const row = await db().ds.getRepository(Contact).findOneByOrFail({ id: c.id });
        const fields = { ...fieldsOf(row), givenName: 'Robin' };
        await db().ds.transaction(async (tx) => {
          await tx.getRepository(Contact).update({ id: c.id }, { ...columnsOf(fields), version: row.version + 1 });
          await replaceTokens(tx, [{ contact: row, fields, before: fieldsOf(row) }]);
        });
      }
      return realChangeFeed(m, lane);
    });
    // Google's answers to our updates are held, so the mirror can be looked at between the merge and the resend.
    const hold = await w.admin.addFault({
      api: 'people',
      method: 'people.people.batchUpdateContacts',
      hold: 'call',
      count: 2,
    });
    try {
      const updated = gql('mutation ($id: ID!, $p: ContactPatch!) { updateContact(id: $id, input: $p) { id } }', {
        id: c.id,
        p: { jobTitle: 'Broker' },
      });
      updated.catch(() => undefined); // awaited below; a failed expectation first must not leave it unhandled
      await w.admin.waitHeld(hold.id);
      await w.admin.release(hold.id); // refused as stale: the merge runs, and the rename with it
      await until(
        'the resend after the merge to reach Google',
        async () => (await w.admin.faults()).find((f) => f.id === hold.id)!,
        (f) => f.hits === 2 && f.held === 1,
      );
      expect(renamed).toBe(true);
      // The merge read the contact before the rename and found it changed when it wrote: it leaves the rename's words.
      expect(await search('robin')).toEqual(['Robin Racer']);
      expect(await search('pat')).toEqual([]);
      await w.admin.release(hold.id);
      await updated;
      await deliveryDone(db());
    } finally {
      feeds.mockRestore();
      await w.admin.clearFaults();
    }
    expect(renamed).toBe(true);
    expect((await db().ds.query('SELECT givenName FROM contact WHERE id = ?', [c.id]))[0].givenName).toBe('Robin');
    expect(await search('robin')).toEqual(['Robin Racer']);
    expect(await search('pat')).toEqual([]);
  });

  test("what Google fills in on a write is found: an address's text, composed by Google from its parts", async () => {
    const c = (
      await gql(
        'mutation { createContact(input: { givenName: "Wiremu", addresses: [{ city: "Wellington", countryCode: "NZ" }] }) { id syncState addresses { formattedValue } } }',
      )
    ).createContact;
    expect(c).toMatchObject({ syncState: 'SYNCED', addresses: [{ formattedValue: 'Wellington\nNZ' }] });
    // "nz" is in no field we sent (the country code is not searched): only in the text Google wrote.
    expect(await search('nz')).toEqual(['Wiremu']);
    expect(await search('wellington wiremu')).toEqual(['Wiremu']);
  });

  test('an agent whose index is behind is answered from its contacts (LIKE) while its index is built', async () => {
    const [c] = await create([
      { givenName: 'Hermione', familyName: 'Smithfield', emails: [{ value: 'hg@behind.test' }] },
    ]);
    // As before the migration: no tokens, version 0.
    await db().ds.query('DELETE FROM contact_search_token WHERE agentId = ?', [agent.agentId]);
    await db().ds.query('UPDATE contact_sync SET searchTokensVersion = 0 WHERE agentId = ?', [agent.agentId]);
    forgetRows(w.gw.services);
    // A substring is still found: the agent's contacts are read, as before the index.
    expect(await search('mithfield')).toEqual(['Hermione Smithfield']);
    await indexed(agent); // the build that search started
    expect(await tokenRows('contactId = ? AND agentId = ?', [c.id, agent.agentId])).toBeGreaterThan(0);
    expect(await search('mithfield')).toEqual([]); // now through the index
    expect(await search('smithfield')).toEqual(['Hermione Smithfield']);
    expect(await search('behind.test')).toEqual(['Hermione Smithfield']);
    // The other agent's index was not touched.
    expect(await versionOf(other)).toBe(SEARCH_TOKENS_VERSION);
  });

  test('1,000 contacts created at once, and 1,000 imported from Google, write their tokens in a few statements', async () => {
    const tokenWrites = (s: { sql: string }[]) =>
      s.filter((x) => /contact_search_token/.test(x.sql) && /^\s*(INSERT|DELETE)/i.test(x.sql));
    const created = await statementsOf(db(), () =>
      create(
        Array.from({ length: 1000 }, (_, i) => ({ givenName: `Bulk${i}`, emails: [{ value: `b${i}@bulk.test` }] })),
      ),
    );
    // ~4,000 rows, 2,000 a statement.
    expect(tokenWrites(created).length).toBeGreaterThanOrEqual(1);
    expect(tokenWrites(created).length).toBeLessThanOrEqual(4);
    expect((await gql('{ contacts(first: 1, query: "bulk.test") { totalCount } }')).contacts.totalCount).toBe(1000);

    expect(
      (
        await w.admin.request(
          'POST',
          `/users/${AGENT}/contacts`,
          Array.from({ length: 1000 }, (_, i) => ({
            names: [{ givenName: `Imported${i}` }],
            emailAddresses: [{ value: `i${i}@imported.test` }],
          })),
        )
      ).status,
    ).toBe(200);
    const imported = await statementsOf(db(), () => gql('mutation { syncContacts { contacts { lastSyncAt } } }'));
    expect(tokenWrites(imported).length).toBeGreaterThanOrEqual(1);
    expect(tokenWrites(imported).length).toBeLessThanOrEqual(4);
    expect((await gql('{ contacts(first: 1, query: "imported.test") { totalCount } }')).contacts.totalCount).toBe(1000);
  }, 120_000);
});

/** Contacts written straight into the mirror with their tokens, as the service writes them, for the plans below. */
async function seedMirror(db: TestDb, a: AgentRef, n: number, word: string): Promise<void> {
  for (let start = 0; start < n; start += 500) {
    const items = Array.from({ length: Math.min(500, n - start) }, (_, j) => {
      const i = start + j;
      const fields: ContactFields = {
        givenName: `Given${i % 300}`,
        familyName: `${word}${i % 1000}`,
        organization: `Office ${i % 40} Realty`,
        jobTitle: null,
        notes: null,
        emails: [{ value: `p${i}.${word}@mail${i % 7}.test`, type: null }],
        phones: [
          {
            value: `+1 555-${String(i % 1000).padStart(3, '0')}-${String((i * 7) % 10000).padStart(4, '0')}`,
            type: null,
          },
        ],
        ...NO_DETAILS,
      };
      return {
        contact: contactRow({ id: randomUUID(), brokerageId: a.brokerageId, agentId: a.agentId }, fields, new Date()),
        fields,
      };
    });
    await db.ds.transaction(async (m) => {
      await insertContacts(
        m,
        items.map((x) => x.contact),
      );
      await insertTokens(m, items);
    });
  }
}

describeEachDb('contacts: the statement a search runs', (db) => {
  let w: World;
  let token: string;

  beforeAll(async () => {
    w = await startWorld(db());
    token = await w.token(AGENT);
    // The agents (made on their first request), the first one's sync record.
    await w.gw.gql('mutation { syncContacts { contacts { lastSyncAt } } }', { token });
    await w.gw.gql('{ me { id } }', { token: await w.token(OTHER) });
    // The agent's 3,000 contacts among 6,000 of another agent's: a plan that walked the agent's contacts, or the
    // table, would show.
    await seedMirror(db(), await agentOf(db(), AGENT), 3000, 'Planfamily');
    await seedMirror(db(), await agentOf(db(), OTHER), 6000, 'Planfamily');
    await db().ds.query('UPDATE contact_sync SET searchTokensVersion = ?', [SEARCH_TOKENS_VERSION]);
    if (db().dialect === 'mariadb') await db().ds.query('ANALYZE TABLE contact, contact_search_token');
    forgetRows(w.gw.services);
  }, 120_000);
  afterAll(() => w.close());

  test.each([
    ['one word', 'planfamily12', 33], // Planfamily12 and 120 to 129, 3 contacts each
    ['a phone number as typed', '555-012', 3], // +1 555-012-…
    ['two words', 'planfamily12 given12', 11],
  ])(
    '%s (%j): the token primary key read by range, each contact by its id, nothing walks the contacts',
    async (_what, query, expected) => {
      const statements = await statementsOf(db(), async () => {
        const res = await w.gw.gql(
          'query ($q: String) { contacts(first: 50, query: $q) { totalCount edges { node { id } } } }',
          {
            token,
            variables: { q: query },
          },
        );
        expect(res.body.errors).toBeUndefined();
        expect(res.body.data.contacts.totalCount).toBe(expected);
      });
      const searches = statements.filter((s) => /contact_search_token/.test(s.sql));
      expect(searches).toHaveLength(2); // the page and the count
      for (const s of searches) {
        if (db().dialect === 'mariadb') {
          const plan: { table: string; type: string; key: string | null }[] = await db().ds.query(
            `EXPLAIN ${s.sql}`,
            s.params,
          );
          const tokenReads = plan.filter((p) => /^t\d+$/.test(p.table));
          expect(tokenReads.length).toBe(query.split(' ').length);
          for (const p of tokenReads)
            expect({ table: p.table, type: p.type, key: p.key }).toEqual({
              table: p.table,
              type: 'range',
              key: 'PRIMARY',
            });
          expect(plan.filter((p) => p.table === 'c').map((p) => ({ type: p.type, key: p.key }))).toEqual([
            { type: 'eq_ref', key: 'PRIMARY' },
          ]);
        } else {
          const plan: { detail: string }[] = await db().ds.query(`EXPLAIN QUERY PLAN ${s.sql}`, s.params);
          const details = plan.map((p) => p.detail);
          expect(
            details.filter((d) => /^SEARCH t\d+ USING PRIMARY KEY \(agentId=\? AND token>\? AND token<\?\)$/.test(d)),
          ).toHaveLength(query.split(' ').length);
          expect(details.filter((d) => /^(SEARCH|SCAN) c\b/.test(d))).toEqual([
            'SEARCH c USING INDEX sqlite_autoindex_contact_1 (id=?)',
          ]);
        }
      }
    },
  );

  test('a page deep in the list reads the index from its cursor on, not from the first contact', async () => {
    const a = await agentOf(db(), AGENT);
    const [row] = await db().ds.query(
      db().dialect === 'mariadb'
        ? 'SELECT sortKey, id FROM contact WHERE agentId = ? AND deletedAt IS NULL ORDER BY sortKey, id LIMIT 1 OFFSET 2000'
        : 'SELECT "sortKey", "id" FROM "contact" WHERE "agentId" = ? AND "deletedAt" IS NULL ORDER BY "sortKey", "id" LIMIT 1 OFFSET 2000',
      [a.agentId],
    );
    const statements = await statementsOf(db(), async () => {
      const res = await w.gw.gql(
        'query ($after: String) { contacts(first: 50, after: $after) { edges { node { id } } } }',
        {
          token,
          variables: { after: encodeCursor([row.sortKey, row.id]) },
        },
      );
      expect(res.body.errors).toBeUndefined();
      expect(res.body.data.contacts.edges).toHaveLength(50);
    });
    const [page] = statements.filter((s) => /FROM [`"]contact[`"]/.test(s.sql) && /LIMIT/.test(s.sql));
    if (db().dialect === 'mariadb') {
      const plan: { table: string; type: string; key: string | null }[] = await db().ds.query(
        `EXPLAIN ${page.sql}`,
        page.params,
      );
      expect(plan.map((p) => ({ table: p.table, type: p.type, key: p.key }))).toEqual([
        { table: 'c', type: 'range', key: 'idx_contact_agent' },
      ]);
    } else {
      const plan: { detail: string }[] = await db().ds.query(`EXPLAIN QUERY PLAN ${page.sql}`, page.params);
      expect(plan.map((p) => p.detail)).toContain(
        'SEARCH c USING INDEX idx_contact_agent (agentId=? AND deletedAt=? AND sortKey>?)',
      );
    }
  });
});
