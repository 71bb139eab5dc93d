/**
 * An update without an etag is "make it so", whatever the version: when the row changes between the update's read
 * and its write (a sync or a delivery of another replica recording Google's state), the update is made again on the
 * new version, not refused. Only an update that names the version it edited (an etag) is answered CONFLICT.
 * Seen in the replica proof: updateContact answered CONFLICT "changed while it was being updated" without an etag.
 *
 * The change is made to land between the read and the write on purpose (a spy runs it right after the read), on
 * MariaDB, where it comes through another connection; SQLite has one connection, so nothing can land there.
 */
import { TenantScope } from '../../src/auth/tenant-scope';
import { mariaDbAvailable } from '../support/db';
import { createTestDb, type TestDb } from '../support/db';
import { startWorld, type World } from '../support/world';

const AGENT = 'agent@alpha.test';

(mariaDbAvailable() ? describe : describe.skip)('[mariadb] an update meeting a change made meanwhile', () => {
  let db: TestDb & { drop(): Promise<void> };
  let w: World;
  let token: string;

  beforeAll(async () => {
    db = await createTestDb('mariadb');
    w = await startWorld(db, { env: { MUTATION_WAIT_MS: '60000' } });
    token = await w.token(AGENT);
  });
  afterAll(async () => {
    await w.close();
    await db.drop();
  });

  const gql = (q: string, v?: Record<string, unknown>) => w.gw.gql(q, { token, variables: v });

  /** The next read of a contact by the update is followed at once by another writer's change to that row. */
  const changeAfterNextRead = (id: string, sql: string) => {
    const real = TenantScope.prototype.findOneForAgent;
    let done = false;
    return jest.spyOn(TenantScope.prototype, 'findOneForAgent').mockImplementation(async function (
      this: TenantScope,
      ...args: Parameters<typeof real>
    ) {
      const row = await real.apply(this, args);
      if (!done && (row as { id?: string } | null)?.id === id) {
        done = true;
        await db.ds.query(sql, [id]);
      }
      return row;
    } as typeof real);
  };

  test('without an etag: made on the new version; with the etag read before: CONFLICT', async () => {
    const c = (
      await gql('mutation { createContact(input: { givenName: "Vera", familyName: "Old" }) { id etag syncState } }')
    ).body.data.createContact;
    expect(c.syncState).toBe('SYNCED');
    const spy = changeAfterNextRead(
      c.id,
      "UPDATE contact SET version = version + 1, notes = 'from a sync' WHERE id = ?",
    );
    try {
      const r = await gql(
        'mutation ($id: ID!) { updateContact(id: $id, input: { familyName: "New" }) { familyName notes syncState } }',
        { id: c.id },
      );
      expect(r.body.errors).toBeUndefined();
      expect(r.body.data.updateContact).toEqual({ familyName: 'New', notes: 'from a sync', syncState: 'SYNCED' });
    } finally {
      spy.mockRestore();
    }
    const current = (await gql('query ($id: ID!) { contact(id: $id) { etag } }', { id: c.id })).body.data.contact;
    const spy2 = changeAfterNextRead(c.id, 'UPDATE contact SET version = version + 1 WHERE id = ?');
    try {
      const r = await gql(
        'mutation ($id: ID!, $e: String!) { updateContact(id: $id, input: { familyName: "Newer", etag: $e }) { familyName } }',
        { id: c.id, e: current.etag },
      );
      expect(r.body.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    } finally {
      spy2.mockRestore();
    }
  });
});
