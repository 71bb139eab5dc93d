/** Bad input gets a typed error and writes nothing: no mirror row, no outbox row, no Google call. */
import { Contact, OutboxRow } from '../../src/entities';
import { describeEachDb } from '../support/db';
import { startWorld, type World } from '../support/world';

const AGENT = 'agent@alpha.test';

describeEachDb('contacts: bad input', (db) => {
  let w: World;
  let token: string;
  beforeAll(async () => {
    w = await startWorld(db(), { env: { MUTATION_WAIT_MS: '60000' } });
    token = await w.token(AGENT);
  });
  afterAll(() => w.close());
  beforeEach(() => w.admin.clearRequests());

  const gql = (q: string, v?: Record<string, unknown>, t = token) => w.gw.gql(q, { token: t, variables: v });
  const nothingWritten = async () => {
    expect(await db().ds.getRepository(Contact).count()).toBe(0);
    expect(await db().ds.getRepository(OutboxRow).count()).toBe(0);
    expect((await w.admin.requests({ api: 'people' })).filter((r) => !r.method.endsWith('.list'))).toEqual([]); // reads (connections, contact groups) aside
  };
  const create = (input: unknown) =>
    gql('mutation ($i: ContactInput!) { createContact(input: $i) { id } }', { i: input });

  test.each([
    [
      'an invalid email',
      { givenName: 'A', emails: [{ value: 'not-an-email' }] },
      /not-an-email" is not an email address/,
    ],
    [
      'an invalid phone',
      { givenName: 'A', phones: [{ value: 'call me maybe' }] },
      /"call me maybe" is not a phone number/,
    ],
    ['an over-long name', { givenName: 'x'.repeat(201) }, /givenName/],
    [
      'too many emails',
      { givenName: 'A', emails: Array.from({ length: 21 }, (_, i) => ({ value: `a${i}@x.test` })) },
      /emails/,
    ],
    ['over-long notes', { givenName: 'A', notes: 'n'.repeat(10_001) }, /notes/],
    [
      'a malformed type',
      { givenName: 'A', emails: [{ value: 'a@x.test', type: 'home\r\nBcc: x' }] },
      /emails.0.type: must be a word/,
    ],
    ['an empty contact', {}, /needs at least a name, an organization, an email or a phone/],
  ])('%s: BAD_USER_INPUT, nothing written', async (_c, input, message) => {
    const res = await create(input);
    expect(res.body.errors).toHaveLength(1);
    expect(res.body.errors![0].extensions.code).toBe('BAD_USER_INPUT');
    expect(res.body.errors![0].message).toMatch(message);
    expect(JSON.stringify(res.body)).not.toMatch(/stack|\.ts:\d+/);
    await nothingWritten();
  });

  test('a bulk create with one bad contact writes none of them and names the bad one', async () => {
    const res = await gql('mutation ($i: [ContactInput!]!) { createContacts(input: $i) { id } }', {
      i: [{ givenName: 'Ok' }, {}, { givenName: 'Ok too' }],
    });
    expect(res.body.errors![0]).toMatchObject({
      extensions: { code: 'BAD_USER_INPUT', index: 1 },
      message: expect.stringMatching(/^contact 2: /),
    });
    await nothingWritten();
  });

  test("unknown ids and other agents' ids are NOT_FOUND (never FORBIDDEN), nothing written", async () => {
    const other = await w.token('other@alpha.test');
    const theirs = (await gql('mutation { createContact(input: { givenName: "Theirs" }) { id } }', undefined, other))
      .body.data.createContact.id;
    await w.admin.clearRequests();
    const before = await db().ds.getRepository(Contact).findOneByOrFail({ id: theirs });
    for (const id of [theirs, '7d0f3c9e-0000-4000-8000-000000000000', 'not-a-uuid']) {
      for (const q of [
        ['mutation ($id: ID!) { updateContact(id: $id, input: { givenName: "Mine" }) { id } }', { id }],
        ['mutation ($id: ID!) { deleteContact(id: $id) }', { id }],
        ['mutation ($ids: [ID!]!) { deleteContacts(ids: $ids) }', { ids: [id] }],
      ] as const) {
        const res = await gql(q[0], q[1]);
        expect(res.body.errors![0].extensions.code).toBe('NOT_FOUND');
      }
      expect((await gql('query ($id: ID!) { contact(id: $id) { id } }', { id })).body.data.contact).toBeNull();
    }
    expect(await db().ds.getRepository(Contact).findOneByOrFail({ id: theirs })).toEqual(before);
    expect(await db().ds.getRepository(OutboxRow).count()).toBe(0);
    expect((await w.admin.requests({ api: 'people' })).filter((r) => !r.method.endsWith('.list'))).toEqual([]); // reads (connections, contact groups) aside
    await db().ds.query('DELETE FROM contact_email');
    await db().ds.query('DELETE FROM contact_search_token');
    await db().ds.query('DELETE FROM contact');
  });

  test('paging arguments are checked', async () => {
    expect((await gql('{ contacts(first: 0) { totalCount } }')).body.errors![0].extensions.code).toBe('BAD_USER_INPUT');
    expect((await gql('{ contacts(first: 201) { totalCount } }')).body.errors![0].extensions.code).toBe(
      'BAD_USER_INPUT',
    );
    const bad = await gql('{ contacts(after: "garbage") { totalCount } }');
    expect(bad.body.errors![0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'after' } });
  });
});
