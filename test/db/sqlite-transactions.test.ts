/**
 * Transactions on SQLite while several requests are in flight (src/db/sqlite-turns.ts).
 *
 * typeorm 1.1's better-sqlite3 driver runs every statement of a DataSource on its one connection through one query
 * runner, and nests a transaction begun while another is open as a SAVEPOINT inside it. Left alone, two overlapping
 * transactions are not isolated, and any plain statement of another request runs inside whichever transaction is
 * open: it reads its uncommitted rows and is rolled back with it. Here each request is an async flow that stops at a
 * gate the test opens, so the flows truly interleave.
 *
 * SQLite only: MariaDB gives each transaction its own pooled connection, and the server isolates them. (One difference
 * remains, see the last tests: on SQLite a statement of the transaction's own flow joins the transaction even when it
 * goes through `ds.manager` instead of the transaction's manager; on MariaDB it runs outside it, on another
 * connection.)
 */
import { randomUUID } from 'node:crypto';
import type {
  DataSource,
  EntityManager,
  EntitySubscriberInterface,
  InsertEvent,
  Logger as TypeOrmLogger,
} from 'typeorm';
import { Brokerage } from '../../src/entities';
import { createTestDb, type TestDb } from '../support/db';

/** A flow that waits on a deadlock fails here, not at jest's 30 s. */
const DEADLOCK_MS = 5000;

let db: TestDb & { drop(): Promise<void> };
let ds: DataSource;
/** The statements that reached the database, in the order they ran (see `record`). */
let ran: string[];

beforeAll(async () => {
  db = await createTestDb('sqlite');
  ds = db.ds;
  ds.setOptions({ logging: ['query'], logger: record });
});
afterAll(() => db.drop());
beforeEach(async () => {
  await db.clear();
  ran = [];
});

const record: TypeOrmLogger = {
  // typeorm logs a statement on the connection right before running it, so this is the order they ran in.
  logQuery(query, parameters) {
    if (/^(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)/.test(query))
      ran.push(query.replace(/ TRANSACTION| typeorm_\d+/g, ''));
    else if (query.startsWith('INSERT INTO "brokerage"'))
      ran.push(
        `insert ${String(parameters?.find((p: unknown) => typeof p === 'string' && p.endsWith('.test'))).replace('.test', '')}`,
      );
    else if (/^SELECT .* FROM "brokerage"/.test(query)) ran.push('select');
  },
  logQueryError: () => {},
  logQuerySlow: () => {},
  logSchemaBuild: () => {},
  logMigration: () => {},
  log: () => {},
};

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * Lets every flow in flight go as far as it can: to a gate, or to the turn it waits for. better-sqlite3 runs each
 * statement synchronously, so a flow advances through microtasks only, and one macrotask drains them all. Nothing
 * here depends on timing.
 */
const settle = () => new Promise<void>((r) => setImmediate(r));

const brokerage = (name: string) => ({ id: randomUUID(), name, domain: `${name}.test`, createdAt: new Date() });
const insert = (m: EntityManager, name: string) => m.insert(Brokerage, brokerage(name));
const names = async (m: EntityManager) => (await m.find(Brokerage, { order: { name: 'ASC' } })).map((b) => b.name);

/** Outcomes by position, with the reason of a rejection, so a failure shows typeorm's message. */
async function outcomes(...flows: Promise<unknown>[]): Promise<string[]> {
  return (await Promise.allSettled(flows)).map((r) =>
    r.status === 'fulfilled' ? 'ok' : `failed: ${(r.reason as Error).message}`,
  );
}

test(
  'two transactions begun in the same tick both commit, each its own rows, one after the other',
  async () => {
    const go = deferred();
    const seen: Record<string, string[]> = {};
    const tx = (who: string) =>
      ds.transaction(async (m) => {
        await insert(m, `${who}1`);
        await go.promise; // the other transaction has every chance to run here
        await insert(m, `${who}2`);
        seen[who] = await names(m);
      });
    const both = outcomes(tx('a'), tx('b'));
    await settle();
    go.resolve();
    expect(await both).toEqual(['ok', 'ok']);
    // As if run one after the other: b saw all of a's rows, a none of b's.
    expect(seen).toEqual({ a: ['a1', 'a2'], b: ['a1', 'a2', 'b1', 'b2'] });
    expect(await names(ds.manager)).toEqual(['a1', 'a2', 'b1', 'b2']);
  },
  DEADLOCK_MS,
);

test(
  'a transaction begun while another is open neither sees its uncommitted rows nor is rolled back with it',
  async () => {
    const aInserted = deferred();
    const go = deferred();
    const a = ds.transaction(async (m) => {
      await insert(m, 'a1');
      aInserted.resolve();
      await go.promise;
      await insert(m, 'a2');
      throw new Error('a gives up');
    });
    await aInserted.promise;
    let bSaw: string[] = [];
    const b = ds.transaction(async (m) => {
      await insert(m, 'b1');
      bSaw = await names(m);
    });
    await settle();
    go.resolve();
    expect(await outcomes(a, b)).toEqual(['failed: a gives up', 'ok']);
    expect(bSaw).toEqual(['b1']);
    expect(await names(ds.manager)).toEqual(['b1']);
  },
  DEADLOCK_MS,
);

test.each([
  ['plain insert', 'p1', () => ds.getRepository(Brokerage).insert(brokerage('p1'))],
  ['repository save', 's1', () => ds.getRepository(Brokerage).save(brokerage('s1'))],
] as const)(
  "another request's %s, made while a transaction is open, waits for it and is kept when it rolls back",
  async (what, name, write) => {
    const inside = deferred();
    const go = deferred();
    const tx = ds.transaction(async (m) => {
      await insert(m, 't1');
      inside.resolve();
      await go.promise;
      throw new Error('rolled back');
    });
    await inside.promise;
    const other = write(); // another request
    await settle();
    go.resolve();
    expect(await outcomes(tx, other)).toEqual(['failed: rolled back', 'ok']);
    expect(await names(ds.manager)).toEqual([name]);
    if (what === 'plain insert') expect(ran.slice(0, 4)).toEqual(['BEGIN', 'insert t1', 'ROLLBACK', 'insert p1']);
  },
  DEADLOCK_MS,
);

test(
  "typeorm's own transaction (a save outside any transaction) holds the connection until it ends, and gives it back when it fails",
  async () => {
    await insert(ds.manager, 'taken');
    // Holds the save inside the transaction typeorm opened for it: beforeInsert runs between its BEGIN and its INSERT.
    const inside = deferred();
    const go = deferred();
    const hold: EntitySubscriberInterface<Brokerage> = {
      listenTo: () => Brokerage,
      beforeInsert: async (e: InsertEvent<Brokerage>) => {
        if (e.entity?.name !== 'dup') return;
        inside.resolve();
        await go.promise;
      },
    };
    ds.subscribers.push(hold);
    try {
      ran = [];
      const save = ds.getRepository(Brokerage).save({ ...brokerage('dup'), domain: 'taken.test' }); // breaks uq_brokerage_domain
      await inside.promise;
      const tx = ds.transaction((m) => insert(m, 't'));
      await settle();
      go.resolve();
      expect(await outcomes(save, tx)).toEqual([
        expect.stringMatching(/UNIQUE constraint failed: brokerage.domain/),
        'ok',
      ]);
    } finally {
      ds.subscribers.splice(ds.subscribers.indexOf(hold), 1);
    }
    expect(ran).toEqual(['select', 'BEGIN', 'insert taken', 'ROLLBACK', 'BEGIN', 'insert t', 'COMMIT']);
  },
  DEADLOCK_MS,
);

test(
  'two transactions typeorm opens on the runner itself in the same tick run one after the other',
  async () => {
    // As two saves outside any transaction would, when both reach their BEGIN at once.
    const runner = ds.createQueryRunner();
    const a = runner.startTransaction();
    const b = runner.startTransaction();
    await a;
    await insert(runner.manager, 'a');
    await runner.commitTransaction();
    await b;
    await insert(runner.manager, 'b');
    await runner.commitTransaction();
    expect(ran).toEqual(['BEGIN', 'insert a', 'COMMIT', 'BEGIN', 'insert b', 'COMMIT']);
  },
  DEADLOCK_MS,
);

test.each([
  ['commits', ['t1', 't2']],
  ['rolls back', []],
])(
  "another request's plain read, made while a transaction is open, waits for it and sees only what it %s",
  async (outcome, expected) => {
    const inside = deferred();
    const go = deferred();
    const tx = ds.transaction(async (m) => {
      await insert(m, 't1');
      inside.resolve();
      await go.promise;
      await insert(m, 't2');
      if (outcome === 'rolls back') throw new Error('rolled back');
    });
    await inside.promise;
    const read = names(ds.manager); // another request
    await settle();
    go.resolve();
    await tx.catch(() => undefined);
    expect(await read).toEqual(expected);
    expect(ran).toEqual(['BEGIN', 'insert t1', 'insert t2', outcome === 'commits' ? 'COMMIT' : 'ROLLBACK', 'select']);
  },
  DEADLOCK_MS,
);

test(
  "waiters are served in arrival order; the open transaction's own nested transactions and statements go straight past them",
  async () => {
    const inside = deferred();
    const go = deferred();
    const t1 = ds.transaction(async (m) => {
      await insert(m, 't1');
      inside.resolve();
      await go.promise;
      await m.transaction((nested) => insert(nested, 't1-nested'));
      await insert(ds.manager, 't1-plain'); // its own flow: joins the transaction
    });
    await inside.promise;
    // Three other requests, each reaching the connection after the one before (a plain insert reaches it some
    // microtasks after the call, past typeorm's own awaits, so without settling in between t2 would arrive first).
    const p = insert(ds.manager, 'p');
    await settle();
    const t2 = ds.transaction((m) => insert(m, 't2'));
    await settle();
    const q = insert(ds.manager, 'q');
    await settle();
    go.resolve();
    expect(await outcomes(t1, p, t2, q)).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(ran).toEqual([
      'BEGIN',
      'insert t1',
      'SAVEPOINT',
      'insert t1-nested',
      'RELEASE SAVEPOINT',
      'insert t1-plain',
      'COMMIT',
      'insert p',
      'BEGIN',
      'insert t2',
      'COMMIT',
      'insert q',
    ]);
  },
  DEADLOCK_MS,
);

test(
  'a transaction opened inside a transaction (through its manager or the DataSource) is a savepoint of it, without deadlock',
  async () => {
    const seen = await ds.transaction(async (m) => {
      await insert(m, 'outer');
      await m.transaction((nested) => insert(nested, 'n1'));
      await ds.transaction((nested) => insert(nested, 'n2'));
      const failed = ds.transaction(async (nested) => {
        await insert(nested, 'n3');
        throw new Error('inner gives up');
      });
      await expect(failed).rejects.toThrow('inner gives up');
      return names(m);
    });
    expect(seen).toEqual(['n1', 'n2', 'outer']); // n3 rolled back to its savepoint, the rest kept
    expect(await names(ds.manager)).toEqual(['n1', 'n2', 'outer']);
  },
  DEADLOCK_MS,
);

test(
  "a statement of the transaction's own flow that bypasses its manager (ds.manager) joins the transaction, without deadlock",
  async () => {
    // A helper that forgot the transaction's manager, awaited by the transaction: on SQLite there is only the one
    // connection, so it runs inside the transaction (sees its rows, rolls back with it) rather than wait for it to end.
    const seen = await ds.transaction(async (m) => {
      await insert(m, 't');
      await insert(ds.manager, 'helper');
      return names(ds.manager);
    });
    expect(seen).toEqual(['helper', 't']);
    const failed = ds.transaction(async () => {
      await Promise.all([insert(ds.manager, 'helper-a'), insert(ds.getRepository(Brokerage).manager, 'helper-b')]);
      throw new Error('rolled back');
    });
    await expect(failed).rejects.toThrow('rolled back');
    expect(await names(ds.manager)).toEqual(['helper', 't']);
  },
  DEADLOCK_MS,
);
