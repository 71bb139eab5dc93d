/**
 * On SQLite, a transaction gets the DataSource's one connection to itself until it ends.
 *
 * typeorm 1.1's better-sqlite3 driver runs every statement of a DataSource through one query runner on one connection
 * (BetterSqlite3Driver.createQueryRunner: `this.queryRunner ??= new BetterSqlite3QueryRunner(this)`), and a
 * transaction begun while another is open becomes a SAVEPOINT inside it (AbstractSqliteQueryRunner.startTransaction,
 * `transactionDepth > 0`). With several requests in flight, test/db/sqlite-transactions.test.ts measured, before
 * this file:
 * - two `ds.transaction` begun in the same tick: one failed with "cannot start a transaction within a transaction",
 *   the other with "Transaction is not started yet";
 * - one begun while another was open ran inside it: it read the other's uncommitted rows and was rolled back with it;
 * - a plain statement of another request (a repository insert, a find) ran inside whichever transaction was open: it
 *   read uncommitted rows, and its write was silently lost when that transaction rolled back.
 *
 * So the connection is used in turns, first come first served:
 * - `ds.manager.transaction` (DataSource.transaction delegates to it; the product opens every transaction through
 *   one of the two) waits for the turn and holds it for the whole transaction. Its callback runs in an
 *   AsyncLocalStorage context naming the holder, so whatever that flow does meanwhile goes straight through, as it
 *   did before: statements through the transaction's manager, nested transactions (savepoints), and statements
 *   through `ds.manager`, which therefore join the transaction (on MariaDB they run outside it, on another
 *   connection: use the transaction's manager).
 * - Every other statement (every statement passes through the runner's `query`) waits for the turn and holds it
 *   while it runs: it sees committed rows only, and nothing rolls it back but its own failure.
 * The holder's own calls never queue behind the waiters: they would wait for themselves.
 *
 * It follows that a transaction that awaits database work of another flow (a batch another request started, a
 * promise shared between requests) waits forever: that work waits for the turn the transaction holds.
 *
 * typeorm also opens transactions on the runner itself: migrations, `save`/`remove` called outside a transaction,
 * the schema builder. It calls startTransaction deep inside its own code, where no context can be put around the
 * statements that follow, so those cannot be told from other flows' statements. They wait for the turn and hold it
 * (never interleaving with a `ds.transaction`), but while one is open every statement passes, as before this file.
 * The product opens none of them while serving; migrations run before the server starts.
 *
 * MySQL/MariaDB need none of this: each transaction has its own pooled connection.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { DataSource, EntityManager, QueryRunner } from 'typeorm';

/** Whoever holds a turn: one `ds.transaction`, one statement, or one transaction typeorm opened itself. */
type Holder = object;

/**
 * The turns the current async flow holds (one per DataSource at most). One storage for every DataSource: Node 20
 * copies the store of every enabled AsyncLocalStorage into each new promise (async_hooks' storageList), so a storage
 * per DataSource would make every promise of the process dearer with each DataSource ever opened.
 */
const flow = new AsyncLocalStorage<readonly Holder[]>();

class Turns {
  private holder: Holder | undefined;
  private readonly waiting: { holder: Holder; start: () => void }[] = [];

  /** The calling async flow holds the turn. */
  heldHere(): boolean {
    return this.holder !== undefined && (flow.getStore()?.includes(this.holder) ?? false);
  }

  heldBy(holder: Holder): boolean {
    return this.holder === holder;
  }

  /** Runs `work` holding the turn, after every holder that asked before; work's own flow passes straight through. */
  async take<T>(work: () => Promise<T>): Promise<T> {
    const holder = {};
    await this.acquire(holder);
    try {
      return await flow.run([...(flow.getStore() ?? []), holder], work);
    } finally {
      this.release();
    }
  }

  acquire(holder: Holder): Promise<void> {
    if (this.holder === undefined) {
      this.holder = holder;
      return Promise.resolve();
    }
    return new Promise((start) => this.waiting.push({ holder, start }));
  }

  release(): void {
    // Handed straight to the next waiter, so that a newcomer cannot slip in before it.
    const next = this.waiting.shift();
    this.holder = next?.holder;
    next?.start();
  }
}

/** Makes `ds` take turns as described above, if it is a better-sqlite3 DataSource; call it once, after initialize(). */
export function isolateSqliteTransactions(ds: DataSource): void {
  if (ds.options.type !== 'better-sqlite3') return;
  const turns = new Turns();
  const runner = ds.createQueryRunner(); // the one runner of the DataSource, see above
  /** Holds the turn while a transaction typeorm opened on the runner itself is open. */
  const typeormOwn: Holder = {};
  const passes = () => turns.heldHere() || turns.heldBy(typeormOwn);

  type AnyCall = (...args: unknown[]) => Promise<unknown>;
  const query = runner.query.bind(runner) as AnyCall;
  runner.query = ((...args: unknown[]) =>
    passes() ? query(...args) : turns.take(() => query(...args))) as QueryRunner['query'];

  const transaction = ds.manager.transaction.bind(ds.manager) as AnyCall;
  ds.manager.transaction = ((...args: unknown[]) =>
    turns.heldHere() ? transaction(...args) : turns.take(() => transaction(...args))) as EntityManager['transaction'];

  const start = runner.startTransaction.bind(runner);
  runner.startTransaction = async (isolationLevel) => {
    // A BEGIN while typeorm's own transaction holds the turn but is not active yet comes from another flow racing it.
    if (turns.heldHere() || (turns.heldBy(typeormOwn) && runner.isTransactionActive)) return start(isolationLevel);
    await turns.acquire(typeormOwn);
    try {
      await start(isolationLevel);
    } catch (err) {
      turns.release();
      throw err;
    }
  };
  for (const end of ['commitTransaction', 'rollbackTransaction'] as const) {
    const original = runner[end].bind(runner);
    runner[end] = async () => {
      try {
        await original();
      } finally {
        // Only the outermost COMMIT/ROLLBACK ends the transaction (inner ones end savepoints).
        if (turns.heldBy(typeormOwn) && !runner.isTransactionActive) turns.release();
      }
    };
  }
}
