/**
 * A first sync whose transaction the database gives up to a lock conflict (MariaDB's deadlock 1213, seen with 20
 * agents' first syncs at once in npm run bench -- scale) is run again, and the read that waited for it sees the
 * contacts: before, the read answered an empty list and the sync was recorded as failed.
 */
import { QueryFailedError } from 'typeorm';
import { ContactSyncRecord } from '../../src/entities';
import { describeEachDb } from '../support/db';
import { startWorld, type World } from '../support/world';

const AGENT = 'agent@alpha.test';

describeEachDb('contacts: a sync that meets a lock conflict', (db) => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld(db(), { env: { CONTACTS_FRESHNESS_SECONDS: '0' } });
  });
  afterAll(() => w.close());

  test('the first read sees every contact though the import transaction deadlocked once', async () => {
    await w.admin.request(
      'POST',
      `/users/${AGENT}/contacts`,
      Array.from({ length: 5 }, (_, i) => ({ names: [{ givenName: `D${i}` }] })),
    );
    const ds = db().ds;
    const real = ds.transaction.bind(ds) as (...args: unknown[]) => Promise<unknown>;
    let refused = 0;
    (ds as { transaction: unknown }).transaction = (...args: unknown[]) => {
      if (refused === 0) {
        refused++;
        const driverError = Object.assign(
          new Error('Deadlock found when trying to get lock; try restarting transaction'),
          {
            code: 'ER_LOCK_DEADLOCK',
            errno: 1213,
          },
        );
        return Promise.reject(new QueryFailedError('UPDATE `contact` …', [], driverError));
      }
      return real(...args);
    };
    try {
      const res = await w.gw.gql('{ contacts(first: 10) { edges { node { givenName } } } }', {
        token: await w.token(AGENT),
      });
      expect(res.body.errors).toBeUndefined();
      expect(res.body.data.contacts.edges.map((e: any) => e.node.givenName).sort()).toEqual([
        'D0',
        'D1',
        'D2',
        'D3',
        'D4',
      ]);
    } finally {
      (ds as { transaction: unknown }).transaction = real;
    }
    expect(refused).toBe(1);
    const rec = await ds.getRepository(ContactSyncRecord).findOneByOrFail({});
    expect(rec.lastError).toBeNull();
    expect(rec.lastSyncAt).not.toBeNull();
  });
});
