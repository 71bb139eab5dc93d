/**
 * DbGenerations (src/calendar/cache-generations.ts): the calendar views' staleness counter shared by every process on
 * the database. `bump` is one upsert, whether or not the agent has a row yet (first writes at once, in their own
 * transactions: test/calendar/first-writes.test.ts). A failure is made here by the database itself: a trigger makes
 * the insert fail.
 */
import { randomUUID } from 'node:crypto';
import type { Logger as TypeOrmLogger } from 'typeorm';
import { DbGenerations } from '../../src/calendar/cache-generations';
import { RangeCache } from '../../src/calendar/range-cache';
import { isUniqueViolation } from '../../src/db/unique-violation';
import { CalendarCacheGeneration } from '../../src/entities';
import { describeEachDb } from '../support/db';

describeEachDb('calendar cache generations', (db) => {
  /** Statements the product sent to calendar_cache_generation, by kind, while `fn` ran. */
  async function counting<T>(
    fn: () => Promise<T>,
  ): Promise<{ result: PromiseSettledResult<T>; updates: number; inserts: number }> {
    let updates = 0;
    let inserts = 0;
    const logger: TypeOrmLogger = {
      logQuery: (q: string) => {
        if (!/calendar_cache_generation/.test(q)) return;
        if (/^INSERT INTO [`"]calendar_cache_generation[`"]/.test(q)) inserts++;
        else updates++; // any other statement on the table
      },
      logQueryError: () => {},
      logQuerySlow: () => {},
      logSchemaBuild: () => {},
      logMigration: () => {},
      log: () => {},
    };
    db().ds.setOptions({ logging: ['query'], logger });
    try {
      const [result] = await Promise.allSettled([fn()]);
      return { result, updates, inserts };
    } finally {
      db().ds.setOptions({ logging: false });
    }
  }

  /** Every insert into calendar_cache_generation fails, with the error the trigger's own statement raises. */
  async function armTrigger(): Promise<void> {
    const q = (sql: string) => db().ds.query(sql);
    await q('CREATE TABLE gen_clash (id INTEGER NOT NULL)');
    const insert = 'INSERT INTO gen_clash (id) VALUES (NULL)';
    await q(
      db().dialect === 'sqlite'
        ? `CREATE TRIGGER gen_clash_t BEFORE INSERT ON calendar_cache_generation BEGIN ${insert}; END`
        : `CREATE TRIGGER gen_clash_t BEFORE INSERT ON calendar_cache_generation FOR EACH ROW ${insert}`,
    );
  }

  afterEach(async () => {
    await db().ds.query('DROP TRIGGER IF EXISTS gen_clash_t');
    await db().ds.query('DROP TABLE IF EXISTS gen_clash');
    await db().ds.query('DELETE FROM calendar_cache_generation');
  });

  test('bump inserts the counter at 1, then adds 1; read follows', async () => {
    const g = new DbGenerations(db().ds);
    const agent = { brokerageId: 'b1', agentId: randomUUID() };
    expect(await g.read(agent)).toBe(0);
    await g.bump(agent);
    await g.bump(agent);
    expect(await g.read(agent)).toBe(2);
    expect(await db().ds.getRepository(CalendarCacheGeneration).find()).toEqual([
      { agentId: agent.agentId, brokerageId: 'b1', generation: 2 },
    ]);
  });

  test('one statement a bump, the first as every later one', async () => {
    const agent = { brokerageId: 'b1', agentId: randomUUID() };
    const g = new DbGenerations(db().ds);
    const first = await counting(() => g.bump(agent));
    const second = await counting(() => g.bump(agent));
    expect([first.result.status, first.updates, first.inserts]).toEqual(['fulfilled', 0, 1]);
    expect([second.result.status, second.updates, second.inserts]).toEqual(['fulfilled', 0, 1]);
    expect(await g.read(agent)).toBe(2);
  });

  test("the error reaches the calendar cache's error handler (logged by the service) and the local view is still stale", async () => {
    await armTrigger();
    const agent = { brokerageId: 'b1', agentId: randomUUID() };
    const seen: unknown[] = [];
    const cache = new RangeCache(60_000, 1000, 100_000, new DbGenerations(db().ds), (err) => seen.push(err), {
      maxLoadsPerAgent: 2,
      maxWindowsPerAgent: 50,
      maxWeightPerAgent: 20_000,
    });
    let loads = 0;
    const load = async () => {
      loads++;
      return [];
    };
    await cache.get(agent, 'range', load);
    await cache.get(agent, 'range', load);
    expect(loads).toBe(1); // cached
    await cache.invalidate(agent); // does not reject: the failure goes to the handler
    expect(seen).toHaveLength(1);
    expect((seen[0] as Error).message).toMatch(/NOT NULL|cannot be null/i);
    await cache.get(agent, 'range', load);
    expect(loads).toBe(2); // this process's own view was invalidated all the same
  });

  test('a failing bump is not retried: its error surfaces at once', async () => {
    await armTrigger();
    const agent = { brokerageId: 'b1', agentId: randomUUID() };
    const { result, updates, inserts } = await counting(() => new DbGenerations(db().ds).bump(agent));
    expect(result.status).toBe('rejected');
    const reason = (result as PromiseRejectedResult).reason as Error;
    expect(reason.message).toMatch(/NOT NULL|cannot be null/i);
    expect(isUniqueViolation(reason)).toBe(false);
    expect([updates, inserts]).toEqual([0, 1]);
  });
});
