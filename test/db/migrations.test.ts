import { randomUUID } from 'node:crypto';
import { Agent, Brokerage } from '../../src/entities';
import { describeEachDb } from '../support/db';

describeEachDb('migrations', (db) => {
  test('bring the schema exactly to what the entities declare (no drift)', async () => {
    const pending = await db().ds.driver.createSchemaBuilder().log();
    expect(pending.upQueries.map((q) => q.query)).toEqual([]);
  });

  test('are all applied and recorded', async () => {
    expect(await db().ds.showMigrations()).toBe(false);
    const rows = await db().ds.query('SELECT name FROM migrations');
    expect(rows.map((r: { name: string }) => r.name)).toContain('Foundation1764130000000');
  });

  test('down then up again works', async () => {
    await db().ds.undoLastMigration({ transaction: 'each' });
    expect(await db().ds.showMigrations()).toBe(true);
    await db().ds.runMigrations({ transaction: 'each' });
    expect(await db().ds.showMigrations()).toBe(false);
  });

  test('a duplicate agent email is rejected by the database itself', async () => {
    const now = new Date();
    await db().ds.getRepository(Brokerage).insert({ id: 'b1', name: 'B', domain: 'b.test', createdAt: now });
    const insert = () => db().ds.getRepository(Agent).insert({ id: randomUUID(), brokerageId: 'b1', email: 'a@b.test', role: 'agent', createdAt: now });
    await insert();
    await expect(insert()).rejects.toThrow(/unique|duplicate/i);
    await db().clear();
  });
});
