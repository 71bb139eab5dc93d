/**
 * Every calendar write moves the agent's shared generation (calendar_cache_generation) as the first statement of its
 * own transaction. An agent's first writes find no row there yet. Made as "UPDATE, and INSERT when nothing was
 * updated", two such transactions at once each took a gap lock with the UPDATE (InnoDB's repeatable read) and then
 * waited for the other's with the INSERT: a deadlock, and createEvent answered INTERNAL. Now it is one upsert.
 *
 * The writes are made to meet on purpose: each one's first statement on the generation waits until all of them have
 * reached it. MariaDB only: SQLite has one connection and one writer, so nothing meets there.
 */
import { MysqlQueryRunner } from 'typeorm/driver/mysql/MysqlQueryRunner';
import { CalendarCacheGeneration, CalendarEvent } from '../../src/entities';
import { createTestDb, mariaDbAvailable, type TestDb } from '../support/db';
import { deliveryDone, startWorld, type World } from '../support/world';

(mariaDbAvailable() ? describe : describe.skip)('[mariadb] calendar: the first writes of new agents at once', () => {
  let db: TestDb & { drop(): Promise<void> };
  let w: World;

  beforeAll(async () => {
    db = await createTestDb('mariadb');
    w = await startWorld(db, {
      users: ['agent@alpha.test', 'ada@alpha.test', 'ben@alpha.test'],
      env: { MUTATION_WAIT_MS: '0' },
    });
  });
  afterAll(async () => {
    await w.close();
    await db.drop();
  });

  /**
   * The next `n` writes to the generation table each wait until all `n` have been asked for, then go together.
   * `arrived()` tells how many came; a write that never comes fails the waiting ones after 10 s (rather than
   * leaving them parked).
   */
  const meetAtTheGeneration = (n: number) => {
    const real = MysqlQueryRunner.prototype.query;
    let arrived = 0;
    let all!: () => void;
    let none!: (err: Error) => void;
    const together = new Promise<void>((resolve, reject) => ((all = resolve), (none = reject)));
    const timer = setTimeout(() => none(new Error(`only ${arrived} of ${n} writes reached the generation`)), 10_000);
    const spy = jest.spyOn(MysqlQueryRunner.prototype, 'query').mockImplementation(async function (
      this: MysqlQueryRunner,
      ...args: Parameters<typeof real>
    ) {
      const [sql] = args;
      if (arrived < n && /calendar_cache_generation/.test(sql) && !/^\s*SELECT/i.test(sql)) {
        if (++arrived === n) {
          clearTimeout(timer);
          all();
        }
        await together;
      }
      return real.apply(this, args);
    } as typeof real);
    return {
      arrived: () => arrived,
      restore: () => {
        clearTimeout(timer);
        spy.mockRestore();
      },
    };
  };

  test('two agents, one of them writing twice, all at once: every write lands', async () => {
    const [ada, ben] = [await w.token('ada@alpha.test'), await w.token('ben@alpha.test')];
    // Both agents are known (their first request resolved them) and have never written to the calendar.
    await w.gw.gql('{ me { id } }', { token: ada });
    await w.gw.gql('{ me { id } }', { token: ben });
    expect(await db.ds.getRepository(CalendarCacheGeneration).count()).toBe(0);

    const create = (token: string, title: string) =>
      w.gw.gql(
        `mutation { createEvent(input: { title: "${title}", start: "2026-12-24T17:00:00Z", end: "2026-12-24T18:00:00Z" }) { id } }`,
        { token },
      );
    const meeting = meetAtTheGeneration(3);
    let answers;
    try {
      answers = await Promise.all([create(ada, 'Ada one'), create(ada, 'Ada two'), create(ben, 'Ben one')]);
    } finally {
      meeting.restore();
    }
    expect(meeting.arrived()).toBe(3); // the three bumps were in flight at once
    for (const a of answers) expect(a.body.errors).toBeUndefined();

    const ids = answers.map((a) => a.body.data.createEvent.id as string).sort();
    const rows = await db.ds.getRepository(CalendarEvent).find();
    expect(rows.map((e) => e.googleEventId).sort()).toEqual(ids);
    expect(await db.ds.getRepository(CalendarCacheGeneration).count()).toBe(2);
    await deliveryDone(db); // and Google has them (each delivery bumps again, as the first statement of its own)
    expect((await db.ds.getRepository(CalendarEvent).find()).map((e) => e.syncState)).toEqual([
      'SYNCED',
      'SYNCED',
      'SYNCED',
    ]);
  });
});
