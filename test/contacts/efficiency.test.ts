/**
 * The efficiency targets, counted from the emulator's request log
 * (npm run bench reports the same figures with timings).
 */
import { TenantScope } from '../../src/auth/tenant-scope';
import { contactLoaders } from '../../src/contacts/contact.loader';
import { Agent, ContactSyncRecord } from '../../src/entities';
import { describeEachDb } from '../support/db';
import { forgetRows } from '../support/gateway';
import { statementsDuring } from '../support/sql-log';
import { until } from '../support/wait';
import { resetContacts, startWorld, type World } from '../support/world';

const AGENT = 'agent@alpha.test';

describeEachDb('contacts: upstream calls per unit of work', (db) => {
  let w: World;
  let token: string;
  beforeAll(async () => {
    w = await startWorld(db());
    token = await w.token(AGENT);
  });
  afterAll(() => w.close());
  beforeEach(async () => {
    await resetContacts(w, db(), AGENT);
    await w.admin.clearRequests();
  });
  const gql = (q: string, v?: Record<string, unknown>) => w.gw.gql(q, { token, variables: v });
  const calls = async (method: string) =>
    (await w.admin.requests({ api: 'people', method })).filter((c) => c.user === AGENT).length;

  test('full sync of 10,000 Google contacts: 10 calls; then nothing changed: exactly 1', async () => {
    await w.admin.request(
      'POST',
      `/users/${AGENT}/contacts`,
      Array.from({ length: 10_000 }, (_, i) => ({
        names: [{ givenName: `P${i}` }],
        emailAddresses: [{ value: `p${i}@x.test` }],
      })),
    );
    await w.admin.clearRequests();
    const synced = await gql('mutation { syncContacts { contacts { lastSyncAt } } }');
    expect(synced.body.errors).toBeUndefined();
    expect(await calls('people.people.connections.list')).toBe(10);
    expect((await gql('{ contacts(first: 1) { totalCount } }')).body.data.contacts.totalCount).toBe(10_000);
    await w.admin.clearRequests();
    await gql('mutation { syncContacts { contacts { lastSyncAt } } }');
    expect((await w.admin.requests({ api: 'people' })).length).toBe(1);
  }, 60_000);

  /**
   * The outbox has delivered everything: the mutations' own wait may end first on a slow machine. The deadline is
   * longer than `until`'s 20 s: delivering 1,000 deletes on MariaDB (an incremental sync first, 6 guarding writes, 2
   * deletes, the rows removed) took 3.1 s on an idle 2-core machine, 11.5 s with four busy loops beside it, and more
   * than 20 s in one CI run with the suite's other workers (every call answered 200, in order: slow, not stuck).
   */
  const delivered = () =>
    until(
      'the outbox to deliver everything',
      async () =>
        (await gql('{ syncStatus { contacts { pendingChanges failedChanges } } }')).body.data.syncStatus.contacts,
      (s) => s.pendingChanges === 0,
      90_000,
    );

  test('1,000 contacts created in the CRM reach Google in 5 write calls; 1,000 deletes in 2, each guarded by conditional writes (6)', async () => {
    const input = Array.from({ length: 1000 }, (_, i) => ({ givenName: `C${i}`, emails: [{ value: `c${i}@x.test` }] }));
    const created = await gql('mutation ($i: [ContactInput!]!) { createContacts(input: $i) { id syncState } }', {
      i: input,
    });
    expect(created.body.errors).toBeUndefined();
    expect(await delivered()).toEqual({ pendingChanges: 0, failedChanges: 0 });
    expect(await calls('people.people.batchCreateContacts')).toBe(5);
    expect((await w.admin.request<unknown[]>('GET', `/users/${AGENT}/contacts`)).body).toHaveLength(1000);

    await w.admin.clearRequests();
    const ids = created.body.data.createContacts.map((c: { id: string }) => c.id);
    expect((await gql('mutation ($ids: [ID!]!) { deleteContacts(ids: $ids) }', { ids })).body.data.deleteContacts).toBe(
      true,
    );
    expect(await delivered()).toEqual({ pendingChanges: 0, failedChanges: 0 });
    expect(await calls('people.people.batchDeleteContacts')).toBe(2);
    // Before deleting, one incremental sync looks for edits made in Google meanwhile (an edit wins over a delete),
    // and a write with the etags that sync saw proves none came since: 200 contacts a call, 3 for each batch of 500.
    expect(await calls('people.people.connections.list')).toBe(1);
    expect(await calls('people.people.batchUpdateContacts')).toBe(6);
    expect((await w.admin.request<unknown[]>('GET', `/users/${AGENT}/contacts`)).body).toHaveLength(0);
    expect((await gql('{ contacts { totalCount } }')).body.data.contacts.totalCount).toBe(0);
  }, 240_000);

  test('deleteContacts marks its contacts deleted in one statement, not one per contact', async () => {
    const made = await gql('mutation ($i: [ContactInput!]!) { createContacts(input: $i) { id } }', {
      i: Array.from({ length: 200 }, (_, i) => ({ givenName: `D${i}` })),
    });
    expect(made.body.errors).toBeUndefined();
    expect(await delivered()).toEqual({ pendingChanges: 0, failedChanges: 0 });
    const ids = made.body.data.createContacts.map((c: { id: string }) => c.id);
    const { result, statements } = await statementsDuring(db().ds, () =>
      gql('mutation ($ids: [ID!]!) { deleteContacts(ids: $ids) }', { ids }),
    );
    expect(result.body.data.deleteContacts).toBe(true);
    const marks = statements.filter((st) => /^UPDATE [`"]contact[`"] SET .*deletedAt/i.test(st.sql));
    expect(marks).toHaveLength(1);
    expect(await delivered()).toEqual({ pendingChanges: 0, failedChanges: 0 });
    expect((await w.admin.request<unknown[]>('GET', `/users/${AGENT}/contacts`)).body).toHaveLength(0);
  }, 240_000);

  test('100 concurrent contacts queries of one agent with a stale mirror cause one sync call', async () => {
    await gql('mutation { syncContacts { contacts { lastSyncAt } } }');
    await db()
      .ds.createQueryBuilder()
      .update(ContactSyncRecord)
      .set({ lastSyncAt: new Date(Date.now() - 24 * 3600_000) })
      .execute();
    forgetRows(w.gw.services); // the record aged behind the gateway's back
    await w.admin.clearRequests();
    const results = await Promise.all(Array.from({ length: 100 }, () => gql('{ contacts(first: 10) { totalCount } }')));
    expect(results.every((r) => r.body.data?.contacts.totalCount === 0)).toBe(true);
    expect(await calls('people.people.connections.list')).toBe(1);
  });

  test('a read that looked at a stale mirror while a sync ran does not start a second sync once that one ended', async () => {
    await gql('mutation { syncContacts { contacts { lastSyncAt } } }');
    await db()
      .ds.createQueryBuilder()
      .update(ContactSyncRecord)
      .set({ lastSyncAt: new Date(Date.now() - 24 * 3600_000) })
      .execute();
    forgetRows(w.gw.services); // the record aged behind the gateway's back
    await w.admin.clearRequests();
    const sync = w.gw.services.contactSync;
    const [row] = await db().ds.query('SELECT id, brokerageId FROM agent WHERE email = ?', [AGENT]);
    const agent = { brokerageId: row.brokerageId, agentId: row.id, email: AGENT };
    // The second reader's look at the record (stale) is held until the first reader's sync has ended: the
    // interleaving 100 concurrent requests produce now and then on a loaded machine, made certain.
    const real = sync.record.bind(sync);
    let looks = 0;
    let letSecondGoOn!: () => void;
    const held = new Promise<void>((r) => (letSecondGoOn = r));
    const spy = jest.spyOn(sync, 'record').mockImplementation(async (a) => {
      const nth = ++looks;
      const rec = await real(a);
      if (nth === 2) await held;
      return rec;
    });
    try {
      const first = sync.ensureFresh(agent, 3600_000);
      const second = sync.ensureFresh(agent, 3600_000);
      await first;
      letSecondGoOn();
      await second;
    } finally {
      spy.mockRestore();
    }
    expect(await calls('people.people.connections.list')).toBe(1);
  });

  test('loaders: one SQL query per loader per tick, results in key order', async () => {
    const input = Array.from({ length: 50 }, (_, i) => ({
      givenName: `L${i}`,
      emails: [{ value: `l${i}@x.test` }, { value: `shared@x.test` }],
    }));
    const made = (
      await gql('mutation ($i: [ContactInput!]!) { createContacts(input: $i) { id resourceName } }', { i: input })
    ).body.data.createContacts as { id: string; resourceName: string }[];
    const agent = await db().ds.getRepository(Agent).findOneByOrFail({ email: AGENT });
    const loaders = contactLoaders(
      new TenantScope(db().ds.manager, {
        agentId: agent.id,
        brokerageId: agent.brokerageId,
        email: AGENT,
        role: 'agent',
      }),
    );
    const shuffled = [...made].reverse();
    const {
      result: [byId, byEmail, byRn],
      statements,
    } = await statementsDuring(db().ds, () =>
      Promise.all([
        Promise.all([
          ...shuffled.map((c) => loaders.byId.load(c.id)),
          loaders.byId.load('00000000-0000-0000-0000-000000000000'),
        ]),
        Promise.all([
          ...shuffled.map((_, i) => loaders.byEmail.load(`L${49 - i}@X.test`)),
          loaders.byEmail.load('shared@x.test'),
          loaders.byEmail.load('nobody@x.test'),
        ]),
        Promise.all(shuffled.map((c) => loaders.byResourceName.load(c.resourceName))),
      ]),
    );
    const queries = statements.map((st) => st.sql).filter((q) => /^SELECT/i.test(q) && /FROM [`"]contact[`"]/.test(q));
    expect(queries).toHaveLength(3);
    expect(byId.slice(0, 50).map((c) => c!.id)).toEqual(shuffled.map((c) => c.id));
    expect(byId[50]).toBeNull();
    expect(byEmail.slice(0, 50).map((cs) => cs.map((c) => c.givenName))).toEqual(
      shuffled.map((_, i) => [`L${49 - i}`]),
    );
    expect(byEmail[50]).toHaveLength(50);
    expect(byEmail[51]).toEqual([]);
    expect(byRn.map((c) => c!.id)).toEqual(shuffled.map((c) => c.id));
  });
});
