/**
 * The doctor's contacts check ("sync:contacts", src/onboarding/doctor.ts) must read the first page of a full sync the
 * way the gateway's first real sync does: the same personFields, page size and sync-token request. A sync token
 * fixes `personFields` (https://developers.google.com/people/api/rest/v1/people.connections/list), and a field
 * Google refuses for a key would otherwise pass the doctor and fail the first real sync. Compared from the
 * emulator's request log.
 */
import { describeEachDb } from '../support/db';
import { startWorld, type World } from '../support/world';

const AGENT = 'agent@alpha.test';
const VERIFY = 'mutation { verifyServiceAccount { status checks { name ok } } }';

describeEachDb('onboarding: the doctor reads People as the sync does', (db) => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld(db());
  });
  afterAll(() => w.close());

  /**
   * The parameters of the agent's connections.list calls that asked for a sync token (the first page of a full sync).
   */
  const syncPages = async () =>
    (await w.admin.requests({ api: 'people', method: 'people.people.connections.list', user: AGENT }))
      .map((r) => new URLSearchParams(r.query ?? ''))
      .filter((q) => q.get('requestSyncToken') === 'true')
      .map((q) => ({
        personFields: q.get('personFields'),
        pageSize: q.get('pageSize'),
        requestSyncToken: q.get('requestSyncToken'),
        syncToken: q.get('syncToken'),
      }));

  test("the doctor's sync check sends the personFields, pageSize and requestSyncToken of a real first sync", async () => {
    await w.admin.clearRequests();
    const verified = await w.gw.gql(VERIFY, { token: await w.token('boss@alpha.test', true) });
    expect(verified.body.errors).toBeUndefined();
    expect(verified.body.data.verifyServiceAccount.status).toBe('VERIFIED');
    const doctor = await syncPages();
    expect(doctor).toHaveLength(1);

    await w.admin.clearRequests();
    const synced = await w.gw.gql('mutation { syncContacts { contacts { lastFullSyncAt } } }', {
      token: await w.token(AGENT),
    });
    expect(synced.body.errors).toBeUndefined();
    const sync = await syncPages();
    expect(sync).toHaveLength(1); // an empty address book: one page
    expect(sync[0].syncToken).toBeNull(); // a full sync

    expect(doctor[0]).toEqual(sync[0]);
  });
});
