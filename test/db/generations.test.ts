/**
 * DbGenerations (src/calendar/calendar.service.ts): the calendar views' staleness counter shared by every process on
 * the database. `bump` updates the agent's row, or inserts it; an insert that breaks the unique key means another
 * process inserted first, so it tries the update again — three attempts, then it gives up with an error naming the
 * agent. Here the race is made to happen on every attempt, by the database itself: a trigger makes each insert break
 * a real unique key (another process's row that keeps vanishing before the update can see it).
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
        if (/^UPDATE [`"]calendar_cache_generation[`"]/.test(q)) updates++;
        if (/^INSERT INTO [`"]calendar_cache_generation[`"]/.test(q)) inserts++;
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

  /** Every insert into calendar_cache_generation fails with the error the trigger's own statement raises. */
  async function armTrigger(kind: 'unique' | 'not-null'): Promise<void> {
    const q = (sql: string) => db().ds.query(sql);
    if (kind === 'unique') {
      await q('CREATE TABLE gen_clash (id INTEGER PRIMARY KEY)');
      await q('INSERT INTO gen_clash (id) VALUES (1)');
    } else {
      await q('CREATE TABLE gen_clash (id INTEGER NOT NULL)');
    }
    const insert = `INSERT INTO gen_clash (id) VALUES (${kind === 'unique' ? 1 : 'NULL'})`;
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

  test('an insert that loses the race every time: three attempts, then an error naming the agent', async () => {
    await armTrigger('unique');
    const agent = { brokerageId: 'b1', agentId: randomUUID() };
    const { result, updates, inserts } = await counting(() => new DbGenerations(db().ds).bump(agent));
    expect(result.status).toBe('rejected');
    expect((result as PromiseRejectedResult).reason).toEqual(
      new Error(`could not bump the calendar cache generation of agent ${agent.agentId}`),
    );
    expect([updates, inserts]).toEqual([3, 3]);
    expect(await db().ds.getRepository(CalendarCacheGeneration).count()).toBe(0);
  });

  test("the error reaches the calendar cache's error handler (logged by the service) and the local view is still stale", async () => {
    await armTrigger('unique');
    const agent = { brokerageId: 'b1', agentId: randomUUID() };
    const seen: unknown[] = [];
    const cache = new RangeCache(60_000, undefined, undefined, new DbGenerations(db().ds), (err) => seen.push(err));
    let loads = 0;
    const load = async () => {
      loads++;
      return [];
    };
    await cache.get(agent, 'range', load);
    await cache.get(agent, 'range', load);
    expect(loads).toBe(1); // cached
    await cache.invalidate(agent); // does not reject: the failure goes to the handler
    expect(seen).toEqual([new Error(`could not bump the calendar cache generation of agent ${agent.agentId}`)]);
    await cache.get(agent, 'range', load);
    expect(loads).toBe(2); // this process's own view was invalidated all the same
  });

  test('an insert failing for another reason is not retried: that error surfaces at once', async () => {
    await armTrigger('not-null');
    const agent = { brokerageId: 'b1', agentId: randomUUID() };
    const { result, updates, inserts } = await counting(() => new DbGenerations(db().ds).bump(agent));
    expect(result.status).toBe('rejected');
    const reason = (result as PromiseRejectedResult).reason as Error;
    expect(reason.message).toMatch(/NOT NULL|cannot be null/i);
    expect(isUniqueViolation(reason)).toBe(false);
    expect([updates, inserts]).toEqual([1, 1]);
  });
});
