/**
 * A contact update of ours whose answer was lost (People applied it, the connection dropped) is retried with the
 * etag it was based on, and People answers that the contact changed meanwhile: by our own hand. That is no conflict,
 * also when a newer change of ours queued behind it. A change made in Google by someone else to a field we also
 * changed still is one (test/contacts/faults.test.ts, "edits on both sides").
 *
 * No timing: the call whose answer is lost is parked at the emulator (hold 'answer' with afterCommit).
 */
import { describeEachDb } from '../support/db';
import { until } from '../support/wait';
import { resetContacts, startWorld, type World } from '../support/world';

const AGENT = 'agent@alpha.test';
const UPDATE = 'people.people.batchUpdateContacts';

describeEachDb('contact updates whose answer was lost', (db) => {
  let w: World;
  let token: string;

  beforeAll(async () => {
    w = await startWorld(db(), { env: { MUTATION_WAIT_MS: '60000' } });
    token = await w.token(AGENT);
  });
  afterAll(() => w.close());
  beforeEach(async () => {
    await w.admin.clearFaults();
    await resetContacts(w, db(), AGENT);
  });

  const gql = (q: string, v?: Record<string, unknown>) => w.gw.gql(q, { token, variables: v });
  const FIELDS = 'id familyName syncState conflicts { field winner }';
  const create = async (givenName: string) =>
    (await gql(`mutation { createContact(input: { givenName: "${givenName}" }) { ${FIELDS} } }`)).body.data
      .createContact;
  const rename = (id: string, familyName: string) =>
    gql(`mutation ($id: ID!, $f: String!) { updateContact(id: $id, input: { familyName: $f }) { ${FIELDS} } }`, {
      id,
      f: familyName,
    });
  const read = async (id: string) =>
    (await gql(`query ($id: ID!) { contact(id: $id) { ${FIELDS} } }`, { id })).body.data.contact;
  const inGoogle = async () =>
    (
      await w.admin.request<Array<{ names?: Array<{ givenName?: string; familyName?: string }> }>>(
        'GET',
        `/users/${AGENT}/contacts`,
      )
    ).body.map((p) => [p.names?.[0]?.givenName, p.names?.[0]?.familyName]);
  const idle = () =>
    until(
      'the outbox empty',
      async () => Number((await db().ds.query('SELECT COUNT(*) AS n FROM outbox'))[0].n),
      (n) => n === 0,
    );

  test('our update applied, its answer lost, retried: SYNCED with no conflict', async () => {
    const c = await create('Lost');
    expect(c.syncState).toBe('SYNCED');
    await w.admin.addFault({ api: 'people', method: UPDATE, afterCommit: true, count: 1 });
    const r = (await rename(c.id, 'Once')).body.data.updateContact;
    await idle();
    expect({ answered: r.syncState, now: await read(c.id) }).toEqual({
      answered: 'SYNCED',
      now: { id: c.id, familyName: 'Once', syncState: 'SYNCED', conflicts: [] },
    });
    expect(await inGoogle()).toEqual([['Lost', 'Once']]);
  });

  test('our update applied and its answer lost while a newer change queued behind it: the newer one lands, no conflict', async () => {
    const c = await create('Twice');
    const lost = await w.admin.addFault({ api: 'people', method: UPDATE, hold: 'answer', afterCommit: true });
    const first = rename(c.id, 'First');
    await w.admin.waitHeld(lost.id); // People has "First"; we have not heard
    const second = rename(c.id, 'Second');
    await until(
      'the second change recorded',
      async () => (await read(c.id)).familyName,
      (f) => f === 'Second',
    );
    await w.admin.release(lost.id);
    await Promise.all([first, second]);
    await idle();
    expect(await read(c.id)).toEqual({ id: c.id, familyName: 'Second', syncState: 'SYNCED', conflicts: [] });
    expect(await inGoogle()).toEqual([['Twice', 'Second']]);
  });

  test('our update applied and its answer lost, then the contact deleted: the delete goes through (our own update is not an edit made in Google)', async () => {
    const c = await create('Gone');
    const lost = await w.admin.addFault({ api: 'people', method: UPDATE, hold: 'answer', afterCommit: true });
    const update = rename(c.id, 'Edited');
    await w.admin.waitHeld(lost.id); // People has "Edited"; we have not heard
    const del = gql('mutation ($id: ID!) { deleteContact(id: $id) }', { id: c.id });
    await until(
      'the delete recorded',
      async () => (await db().ds.query('SELECT deletedAt FROM contact WHERE id = ?', [c.id]))[0]?.deletedAt,
      (d) => Boolean(d),
    );
    await w.admin.release(lost.id);
    expect((await del).body.data.deleteContact).toBe(true);
    await update;
    await idle();
    expect(await inGoogle()).toEqual([]);
    expect((await gql('{ contacts(first: 5) { totalCount } }')).body.data.contacts.totalCount).toBe(0);
  });

  test('deleted in the CRM while someone adds a detail in Google that the CRM does not show (a middle name): the edit wins, the contact comes back', async () => {
    const c = (
      await gql(
        'mutation { createContact(input: { givenName: "Mia", familyName: "Kept" }) { id resourceName syncState } }',
      )
    ).body.data.createContact;
    expect(c.syncState).toBe('SYNCED');
    const held = await w.admin.addFault({ api: 'people', method: UPDATE, hold: 'call' }); // the delete's guard write, parked
    const del = gql('mutation ($id: ID!) { deleteContact(id: $id) }', { id: c.id });
    await w.admin.waitHeld(held.id);
    const edit = await w.admin.request('PATCH', `/users/${AGENT}/contacts/${c.resourceName.replace('people/', '')}`, {
      names: [{ givenName: 'Mia', middleName: 'Rose', familyName: 'Kept' }],
    });
    expect(edit.status).toBe(200);
    await w.admin.release(held.id);
    expect((await del).body.data.deleteContact).toBe(true);
    await idle();
    const google = (
      await w.admin.request<Array<{ names?: Array<{ middleName?: string }> }>>('GET', `/users/${AGENT}/contacts`)
    ).body;
    expect(google.map((p) => p.names?.[0]?.middleName)).toEqual(['Rose']);
    expect(await read(c.id)).toMatchObject({ id: c.id, familyName: 'Kept' });
  });
});
