/**
 * The outbox's own guarantees, with a counting handler (the clearest proof):
 * per-lane order, one deliverer per lane across processes sharing a database,
 * backoff that honours Retry-After, failures kept with their reason.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDataSource, openDatabase, type DatabaseConfig } from '../../src/db/data-source';
import { OutboxRow } from '../../src/entities';
import { createLogger } from '../../src/logger';
import { backoffMs } from '../../src/outbox/retry';
import { OutboxTopic, type LaneRef } from '../../src/outbox/topics';
import { OutboxWorker, type Outcome, type OutboxHandler } from '../../src/outbox/worker';
import { describeEachDb } from '../support/db';
import { until } from '../support/wait';

const TEST = new OutboxTopic('test', ['x', 'poison']);

const FAST = {
  mutationWaitMs: 3000,
  pollMs: 20,
  lingerMs: 5,
  leaseMs: 2000,
  retryBaseMs: 10,
  retryMaxMs: 50,
  concurrency: 4,
};

test('backoff: exponential with jitter in [d/2, d], capped, and never shorter than Retry-After', () => {
  const s = { retryBaseMs: 100, retryMaxMs: 1000 };
  expect(backoffMs(1, s, 0, () => 0)).toBe(50);
  expect(backoffMs(1, s, 0, () => 1)).toBe(100);
  expect(backoffMs(3, s, 0, () => 1)).toBe(400);
  expect(backoffMs(10, s, 0, () => 1)).toBe(1000);
  expect(backoffMs(2, s, 5000, () => 0.5)).toBe(5000);
});

class Recorder implements OutboxHandler {
  readonly topic = TEST;
  readonly delivered: { worker: string; lane: string; seqs: number[]; entityIds: string[] }[] = [];
  /** Every call, failed or not: the rows offered, when it started (Date.now()) and when it answered. */
  readonly calls: { entityIds: string[]; startedAt: number; answeredAt: number; result: 'retry' | 'delivered' }[] = [];
  inFlight = new Map<string, string>();
  overlaps = 0;
  failNext = 0;
  retryAfterMs?: number = 150;
  /** Called at the start of every delivery and just before a retry is answered (tests take readings there). */
  onCall: (event: 'start' | 'retry') => void = () => {};
  /** Resolves at this recorder's first call. */
  readonly started: Promise<void>;
  private markStarted!: () => void;
  /** Every call waits for this first (still "in flight" meanwhile). */
  waitFor: Promise<void> = Promise.resolve();
  constructor(private readonly name: string) {
    this.started = new Promise((r) => (this.markStarted = r));
  }
  async deliver(lane: LaneRef, rows: OutboxRow[]): Promise<Outcome[]> {
    const startedAt = Date.now();
    this.onCall('start');
    this.markStarted();
    if (this.inFlight.has(lane.agentId)) this.overlaps++;
    this.inFlight.set(lane.agentId, this.name);
    await this.waitFor;
    await new Promise((r) => setTimeout(r, 5));
    this.inFlight.delete(lane.agentId);
    if (this.failNext > 0) {
      this.failNext--;
      this.onCall('retry');
      this.calls.push({ entityIds: rows.map((r) => r.entityId), startedAt, answeredAt: Date.now(), result: 'retry' });
      return [{ seq: rows[0].seq, result: 'retry', error: 'upstream 503', retryAfterMs: this.retryAfterMs }];
    }
    const batch = rows.slice(0, 7);
    this.calls.push({
      entityIds: batch.map((r) => r.entityId),
      startedAt,
      answeredAt: Date.now(),
      result: 'delivered',
    });
    this.delivered.push({
      worker: this.name,
      lane: lane.agentId,
      seqs: batch.map((r) => r.seq),
      entityIds: batch.map((r) => r.entityId),
    });
    return batch.map((r) =>
      r.kind === 'poison'
        ? { seq: r.seq, result: 'failed' as const, error: 'refused' }
        : { seq: r.seq, result: 'done' as const },
    );
  }
}

describeEachDb('outbox', (db) => {
  beforeEach(() => db().ds.query('DELETE FROM outbox'));

  test('two processes share one database: every row delivered once, in order per lane, never two deliverers on a lane at once', async () => {
    // A second DataSource stands for a second gateway process (its own connections and lease owner).
    // SQLite: both on one database file (the suite's own database is in memory, private to one connection).
    const config: DatabaseConfig =
      db().dialect === 'sqlite'
        ? { kind: 'sqlite', path: join(mkdtempSync(join(tmpdir(), 'engage-outbox-')), 'db.sqlite') }
        : db().config;
    const ds1 = db().dialect === 'sqlite' ? await openDatabase(config) : db().ds;
    const ds2 = createDataSource(config);
    await ds2.initialize();
    const shared = new Map<string, string>();
    const r1 = new Recorder('p1');
    const r2 = new Recorder('p2');
    r1.inFlight = shared;
    r2.inFlight = shared;
    // Neither process finishes a call before the other has started one, so both surely deliver (and, in flight
    // meanwhile, overlap with each other as long as possible). No deadlock: a process delivers at most `concurrency`
    // (4) of the 6 lanes at once and holds leases only on those, so the other always finds a lane free.
    r1.waitFor = r2.started;
    r2.waitFor = r1.started;
    const w1 = new OutboxWorker(ds1, createLogger('silent'), FAST);
    const w2 = new OutboxWorker(ds2, createLogger('silent'), FAST);
    w1.register(r1);
    w2.register(r2);
    const lanes = Array.from({ length: 6 }, () => ({
      topic: 'test',
      brokerageId: randomUUID(),
      agentId: randomUUID(),
    }));
    try {
      // Rows arrive while both workers run.
      w1.start();
      w2.start();
      for (let round = 0; round < 10; round++) {
        await ds1.transaction((m) =>
          Promise.all(
            lanes.map((lane) =>
              TEST.write(
                m,
                lane,
                Array.from({ length: 3 }, (_, i) => ({
                  kind: 'x' as const,
                  entityId: `${lane.agentId}:${round * 3 + i}`,
                })),
              ),
            ),
          ),
        );
        for (const lane of lanes) (round % 2 ? w1 : w2).kick(TEST, lane);
      }
      await until(
        'every row delivered',
        () => ds1.getRepository(OutboxRow).count(),
        (n) => n === 0,
      );
    } finally {
      await w1.stop();
      await w2.stop();
      await ds2.destroy();
      if (ds1 !== db().ds) await ds1.destroy();
    }
    const all = [...r1.delivered, ...r2.delivered];
    expect(r1.overlaps + r2.overlaps).toBe(0);
    for (const lane of lanes) {
      const got = all
        .filter((d) => d.lane === lane.agentId)
        .sort((a, b) => a.seqs[0] - b.seqs[0])
        .flatMap((d) => d.entityIds);
      expect(got).toEqual(Array.from({ length: 30 }, (_, i) => `${lane.agentId}:${i}`)); // all, once, in order
    }
    expect(new Set(all.map((d) => d.worker))).toEqual(new Set(['p1', 'p2'])); // both really worked (the rendezvous above)
  });

  /**
   * A worker whose one lane holds one row, answered every round with a retry that met a setup problem with key
   * `metKey(round)` in use, ten minutes off; `keyInUse` is what the worker is told is in use when it asks. `calls`: the
   * rounds run.
   */
  async function setupProblemLane(metKey: (round: number) => string, keyInUse: () => Promise<string | null>) {
    const calls: number[] = [];
    const handler: OutboxHandler = {
      topic: TEST,
      deliver: async (_lane: LaneRef, rows: OutboxRow[]): Promise<Outcome[]> => {
        calls.push(rows[0].seq);
        const setupKey = metKey(calls.length);
        return [{ seq: rows[0].seq, result: 'retry', error: 'not set up', retryAfterMs: 600_000, setupKey }];
      },
    };
    const w = new OutboxWorker(db().ds, createLogger('silent'), FAST, undefined, keyInUse);
    w.register(handler);
    const lane = { topic: 'test', brokerageId: randomUUID(), agentId: randomUUID() };
    await db().ds.transaction((m) => TEST.write(m, lane, [{ kind: 'x', entityId: 'a' }]));
    w.start();
    w.kick(TEST, lane);
    return { w, lane, calls };
  }

  test('a retry that met a setup problem is tried again at once when another key, or the same verified again, is in use by then, once per run: the same key, or none, keeps the backoff', async () => {
    for (const [now, again] of [
      ['k2', true],
      ['k1', false],
      [null, false],
    ] as const) {
      let asked = 0;
      const { w, lane, calls } = await setupProblemLane(
        () => 'k1',
        async () => {
          asked++;
          return now;
        },
      );
      try {
        // Another key in use: the round is run once more at once, then keeps its backoff (the handler still names
        // "k1", which no real session does with another key in use). The same key, or none: one round, the backoff.
        await until(
          'the rounds of the lane',
          async () => calls.length,
          (n) => n >= (again ? 2 : 1),
        );
        // The last round's ten minutes recorded, not "now".
        await until(
          'the backoff recorded',
          async () =>
            (await db().ds.getRepository(OutboxRow).findOneByOrFail({ agentId: lane.agentId })).nextAttemptAt.getTime(),
          (at) => at > Date.now() + 60_000,
        );
        await until(
          'the worker to ask which key is in use',
          async () => asked,
          (n) => n >= 1,
        );
        // The run under way ends with the backoff (the same key, or none), or after one more round (another key).
        await w.runsEnded();
        expect(calls).toHaveLength(again ? 2 : 1);
        // Asked after each round that met the problem; the second round's row was already made due for "k2".
        expect(asked).toBe(again ? 2 : 1);
      } finally {
        await w.stop();
        await db().ds.getRepository(OutboxRow).delete({ agentId: lane.agentId });
      }
    }
  });

  test('a key verified again while the immediate retry was under way makes the row due at once once more; the key it met keeps the backoff', async () => {
    // Round n meets a setup problem with key "k<n>"; by the end of rounds 1 and 2 an admin verified again (k2, k3).
    const inUse = ['k2', 'k3', 'k3'];
    let asked = 0;
    const { w, lane, calls } = await setupProblemLane(
      (round) => `k${round}`,
      async () => inUse[asked++] ?? 'k3',
    );
    try {
      await until(
        'three rounds',
        async () => calls.length,
        (n) => n >= 3,
      );
      await w.runsEnded();
      expect(calls).toHaveLength(3); // the third met the key in use: its backoff stands
      expect(asked).toBe(3);
      const row = await db().ds.getRepository(OutboxRow).findOneByOrFail({ agentId: lane.agentId });
      expect(row.nextAttemptAt.getTime()).toBeGreaterThan(Date.now() + 60_000);
    } finally {
      await w.stop();
      await db().ds.getRepository(OutboxRow).delete({ agentId: lane.agentId });
    }
  });

  test('a retry holds the lane (later rows wait) and honours Retry-After; failures are kept with the reason', async () => {
    const rec = new Recorder('p1');
    rec.failNext = 1;
    const w = new OutboxWorker(db().ds, createLogger('silent'), FAST);
    w.register(rec);
    const lane = { topic: 'test', brokerageId: randomUUID(), agentId: randomUUID() };
    await db().ds.transaction((m) =>
      TEST.write(m, lane, [
        { kind: 'x', entityId: 'a' },
        { kind: 'poison', entityId: 'b' },
        { kind: 'x', entityId: 'c' },
      ]),
    );
    w.start();
    w.kick(TEST, lane);
    try {
      await until(
        'every row settled',
        () =>
          db()
            .ds.getRepository(OutboxRow)
            .count({ where: { status: 'PENDING' } }),
        (n) => n === 0,
      );
      // Two calls: the failed one, then one for all three rows; nothing of the lane went out between them.
      expect(rec.calls.map((c) => [c.result, c.entityIds])).toEqual([
        ['retry', ['a', 'b', 'c']],
        ['delivered', ['a', 'b', 'c']],
      ]);
      // The retry waited out Retry-After (150 ms), not the far shorter backoff (≤ 50 ms here): a lower bound the
      // product's own wait guarantees (it delivers a row only once Date.now() has reached its nextAttemptAt).
      expect(rec.calls[1].startedAt - rec.calls[0].answeredAt).toBeGreaterThanOrEqual(150);
      const failed = await db().ds.getRepository(OutboxRow).find();
      expect(failed.map((r) => [r.entityId, r.status, r.attempts, r.lastError])).toEqual([
        ['b', 'FAILED', 1, 'refused'],
      ]);
    } finally {
      await w.stop();
    }
  });

  test('a row of a kind its handler does not deliver is never handed to it nor given up, nor counted as an attempt: it is put off, and the rows behind it wait in order', async () => {
    const rec = new Recorder('p1');
    const w = new OutboxWorker(db().ds, createLogger('silent'), FAST);
    w.register(rec);
    const lane = { topic: 'test', brokerageId: randomUUID(), agentId: randomUUID() };
    // A row written by a release that knows a kind this one does not (a newer replica during a rolling deploy), which
    // that release already tried once without an answer: ambiguous, with its error.
    const newer = new OutboxTopic('test', ['x', 'from-v2']);
    await db().ds.transaction((m) =>
      newer.write(m, lane, [
        { kind: 'x', entityId: 'a' },
        { kind: 'from-v2', entityId: 'b' },
        { kind: 'x', entityId: 'c' },
      ]),
    );
    await db()
      .ds.getRepository(OutboxRow)
      .update({ entityId: 'b' }, { attempts: 1, ambiguous: true, lastError: 'v2: no answer' });
    const writtenAt = Date.now();
    w.start();
    w.kick(TEST, lane);
    try {
      const unknownRow = () => db().ds.getRepository(OutboxRow).findOneByOrFail({ entityId: 'b' });
      // Put off a lease's length (2 s here) from when this release met it.
      await until('the unknown row put off', unknownRow, (r) => r.nextAttemptAt.getTime() >= writtenAt + FAST.leaseMs);
      // The handler saw 'a' alone; never 'b', and not 'c', which waits behind it.
      expect(rec.calls.map((c) => c.entityIds)).toEqual([['a']]);
      const left = await db()
        .ds.getRepository(OutboxRow)
        .find({ order: { seq: 'ASC' } });
      expect(left.map((r) => [r.entityId, r.status, r.attempts, r.ambiguous, r.lastError])).toEqual([
        ['b', 'PENDING', 1, true, 'v2: no answer'],
        ['c', 'PENDING', 0, false, null],
      ]);
    } finally {
      await w.stop();
    }
  });

  test('a lane waiting out a retry does not poll the database meanwhile', async () => {
    const rec = new Recorder('p1');
    rec.failNext = 1;
    rec.retryAfterMs = undefined; // the backoff alone: attempt 1 waits a random 500–1000 ms
    // No periodic poll during the test (the start-up one excepted): every read in the window below is the lane's own.
    const w = new OutboxWorker(db().ds, createLogger('silent'), {
      ...FAST,
      pollMs: 600_000,
      retryBaseMs: 1000,
      retryMaxMs: 1000,
    });
    w.register(rec);
    const lane = { topic: 'test', brokerageId: randomUUID(), agentId: randomUUID() };
    await db().ds.transaction((m) => TEST.write(m, lane, { kind: 'x', entityId: 'a' }));
    let reads = 0;
    const readings: Record<'retry' | 'start', number[]> = { retry: [], start: [] };
    rec.onCall = (event) => readings[event].push(reads);
    db().ds.setOptions({
      logging: ['query'],
      logger: {
        logQuery: (q: string) => {
          if (/FROM [`"]outbox[`"]/.test(q)) reads++;
        },
        logQueryError: () => {},
        logQuerySlow: () => {},
        logSchemaBuild: () => {},
        logMigration: () => {},
        log: () => {},
      },
    });
    try {
      // No kick: the start-up poll finds the lane (its read is counted before the lane can run, so it falls before the
      // window), the first attempt fails, the retry comes after the backoff.
      w.start();
      await until(
        'the retry delivered the row',
        () => rec.delivered.length,
        (n) => n === 1,
      ); // (in memory: no read of ours in the window)
      expect(rec.calls.map((c) => c.result)).toEqual(['retry', 'delivered']);
      // The window from the failure to the retry really spanned the backoff (≥ 500 ms: the product's own wait)…
      expect(rec.calls[1].startedAt - rec.calls[0].answeredAt).toBeGreaterThanOrEqual(500);
      // …and in it the outbox was read exactly once: the read that found the row due and handed it to the retry.
      expect(readings.start[1] - readings.retry[0]).toBe(1);
    } finally {
      db().ds.setOptions({ logging: false });
      await w.stop();
    }
  });
});
