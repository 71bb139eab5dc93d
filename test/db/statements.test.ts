/**
 * src/db/statements.ts: read statements whose SQL text is kept per shape. What must hold: each call answers exactly
 * what TypeORM's own getRawMany answers for the same builder, whatever ran before it with another shape or other
 * values (a list of another length, another limit, one more condition, a join), inside a transaction as outside; and
 * the text of a shape is built once (outside jest's check, which builds it every time to compare), for rawRows and for
 * TypeORM's own reads (a repository's find) alike.
 */
import { CalendarCacheGeneration, CalendarEvent } from '../../src/entities';
import { rawRows, verifyKeptStatements } from '../../src/db/statements';
import { describeEachDb } from '../support/db';

describeEachDb('statements kept per shape', (db) => {
  const B = 'b-statements';
  beforeAll(async () => {
    await db().clear();
    await db()
      .ds.getRepository(CalendarCacheGeneration)
      .insert(Array.from({ length: 12 }, (_, i) => ({ agentId: `a${i}`, brokerageId: B, generation: i * 10 })));
  });

  const gens = () => db().ds.getRepository(CalendarCacheGeneration).createQueryBuilder('g');
  /** Builders of several shapes, each with values that differ from call to call. */
  const builders = (n: number) => [
    gens()
      .select('g.agentId', 'agentId')
      .addSelect('g.generation', 'generation')
      .where('g.brokerageId = :b AND g.agentId IN (:...ids)', {
        b: B,
        ids: Array.from({ length: n }, (_, i) => `a${i}`),
      })
      .orderBy('g.agentId'),
    gens()
      .select('g.agentId', 'agentId')
      .where('g.brokerageId = :b', { b: B })
      .andWhere('g.generation >= :min', { min: n * 10 })
      .orderBy('g.generation', 'DESC')
      .limit(n),
    gens()
      .select('g.agentId', 'agentId')
      .where('g.brokerageId = :b', { b: B })
      .orderBy('g.generation', 'ASC')
      .limit(n + 1),
    gens()
      .select('COUNT(*)', 'n')
      .where('g.brokerageId = :b', { b: B })
      .andWhere(n % 2 ? 'g.generation > :x' : 'g.generation < :x', { x: n * 10 }),
    gens()
      .leftJoin(CalendarEvent, 'e', 'e.agentId = g.agentId AND e.brokerageId = g.brokerageId')
      .select('g.agentId', 'agentId')
      .addSelect('COUNT(e.id)', 'events')
      .where('g.brokerageId = :b', { b: B })
      .groupBy('g.agentId')
      .orderBy('g.agentId')
      .limit(n),
  ];
  /** Counts and numbers as numbers: drivers differ (MariaDB answers COUNT as a string). */
  const plain = (rows: Record<string, unknown>[]) =>
    rows.map((r) =>
      Object.fromEntries(
        Object.entries(r).map(([k, v]) => [k, typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v]),
      ),
    );

  test('each call answers what getRawMany answers, shapes and values interleaved', async () => {
    for (const n of [1, 3, 2, 7, 3, 1, 12, 5]) {
      for (const [i, qb] of builders(n).entries()) {
        const expected = plain(await builders(n)[i].getRawMany());
        expect({ n, i, rows: plain(await rawRows(qb)) }).toEqual({ n, i, rows: expected });
      }
    }
  });

  test("inside a transaction it runs on the transaction's connection and sees its uncommitted rows", async () => {
    await db()
      .ds.transaction(async (m) => {
        await m.getRepository(CalendarCacheGeneration).insert({ agentId: 'a-tx', brokerageId: B, generation: 999 });
        const inTx = m
          .getRepository(CalendarCacheGeneration)
          .createQueryBuilder('g')
          .select('g.generation', 'generation')
          .where('g.agentId = :a AND g.brokerageId = :b', { a: 'a-tx', b: B });
        expect(plain(await rawRows(inTx))).toEqual([{ generation: 999 }]);
        throw new Error('roll back');
      })
      .catch((err: Error) => expect(err.message).toBe('roll back'));
    const after = gens().select('g.generation', 'generation').where('g.agentId = :a', { a: 'a-tx' });
    expect(await rawRows(after)).toEqual([]);
  });

  test('builders that differ only where TypeORM itself changes them are not one shape', async () => {
    // Under jest a kept text is compared with a fresh build each time: a shape shared by two different texts throws.
    const repo = db().ds.getRepository(CalendarCacheGeneration);
    // take with a join: TypeORM reads the page's ids first, then the entities with the ids as a condition.
    const joined = () =>
      repo
        .createQueryBuilder('g')
        .leftJoin(CalendarCacheGeneration, 'h', 'h.agentId = g.agentId AND h.brokerageId = g.brokerageId')
        .where('g.brokerageId = :b', { b: B })
        .orderBy('g.agentId')
        .take(2);
    for (let i = 0; i < 3; i++) expect(await joined().getMany()).toHaveLength(2);
    // A second table by addFrom: the same conditions over two tables, a cross join.
    const onlyOne = () =>
      repo.createQueryBuilder('g').select('g.agentId', 'agentId').where('g.brokerageId = :b', { b: B });
    expect(await rawRows(onlyOne())).toHaveLength(12);
    expect(await rawRows(onlyOne().addFrom(CalendarEvent, 'e'))).toHaveLength(0); // no events: none crossed
    // getMany builds its select for entities (queryEntity), getRawMany as written.
    const picked = () => repo.createQueryBuilder('g').select('g.generation').where('g.agentId = :a', { a: 'a3' });
    expect(await rawRows(picked())).toEqual([{ g_generation: 30 }]);
    expect(await picked().getMany()).toEqual([expect.objectContaining({ generation: 30 })]);
  });

  test('a builder whose map cannot be written as JSON is built as usual, not refused', async () => {
    const qb = gens().select('g.generation', 'generation').where('g.agentId = :a', { a: 'a4' });
    // Nothing the product sets: a value JSON cannot write (a bigint) where the fingerprint reads.
    (qb.expressionMap as unknown as { options: unknown[] }).options = [BigInt(1)];
    expect(plain(await rawRows(qb))).toEqual([{ generation: 40 }]);
  });

  test('the text of a shape is built once; a new shape is built, and kept too (the check under jest off, as in production)', async () => {
    // TypeORM's building of a SELECT begins with its select list (SelectQueryBuilder.getQuery).
    const built = jest.spyOn(
      Object.getPrototypeOf(gens()) as { createSelectExpression(): string },
      'createSelectExpression',
    );
    const oneShape = (id: string) =>
      gens().select('g.generation', 'generation').where('g.brokerageId = :b AND g.agentId = :a', { b: B, a: id });
    // As in production: without jest's check, which builds every statement again to compare it with the kept text.
    verifyKeptStatements(false);
    try {
      await rawRows(oneShape('a1'));
      const first = built.mock.calls.length;
      for (const id of ['a2', 'a3', 'a4'])
        expect(plain(await rawRows(oneShape(id)))).toEqual([{ generation: Number(id.slice(1)) * 10 }]);
      expect(built.mock.calls.length - first).toBe(0);
      await rawRows(oneShape('a5').andWhere('g.generation > 0'));
      await rawRows(oneShape('a6').andWhere('g.generation > 0'));
      expect(built.mock.calls.length - first).toBe(1);
      // A repository's reads too: TypeORM builds their text in the same place (keepBuiltStatements, data-source.ts).
      const repo = db().ds.getRepository(CalendarCacheGeneration);
      expect(await repo.findOneBy({ agentId: 'a7', brokerageId: B })).toMatchObject({ generation: 70 });
      const afterFirstFind = built.mock.calls.length;
      for (const id of ['a8', 'a9'])
        expect((await repo.findOneBy({ agentId: id, brokerageId: B }))?.generation).toBe(Number(id.slice(1)) * 10);
      expect(await repo.countBy({ brokerageId: B })).toBe(12);
      expect(await repo.countBy({ brokerageId: B })).toBe(12);
      expect(built.mock.calls.length - afterFirstFind).toBe(1);
    } finally {
      verifyKeptStatements(true);
      built.mockRestore();
    }
  });
});
