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
import { backoffMs, enqueue, OutboxWorker, type LaneRef, type Outcome, type OutboxHandler } from '../../src/outbox/outbox';
import { describeEachDb } from '../support/db';

const FAST = { pollMs: 20, lingerMs: 5, leaseMs: 2000, retryBaseMs: 10, retryMaxMs: 50, concurrency: 4 };

test('backoff: exponential with jitter in [d/2, d], capped, and never shorter than Retry-After', () => {
  const s = { retryBaseMs: 100, retryMaxMs: 1000 };
  expect(backoffMs(1, s, 0, () => 0)).toBe(50);
  expect(backoffMs(1, s, 0, () => 1)).toBe(100);
  expect(backoffMs(3, s, 0, () => 1)).toBe(400);
  expect(backoffMs(10, s, 0, () => 1)).toBe(1000);
  expect(backoffMs(2, s, 5000, () => 0.5)).toBe(5000);
});

class Recorder implements OutboxHandler {
  readonly topic = 'test';
  readonly delivered: { worker: string; lane: string; seqs: number[]; entityIds: string[] }[] = [];
  inFlight = new Map<string, string>();
  overlaps = 0;
  failNext = 0;
  constructor(private readonly name: string) {}
  async deliver(lane: LaneRef, rows: OutboxRow[]): Promise<Outcome[]> {
    if (this.inFlight.has(lane.agentId)) this.overlaps++;
    this.inFlight.set(lane.agentId, this.name);
    await new Promise((r) => setTimeout(r, 5));
    this.inFlight.delete(lane.agentId);
    if (this.failNext > 0) {
      this.failNext--;
      return [{ seq: rows[0].seq, result: 'retry', error: 'upstream 503', retryAfterMs: 150 }];
    }
    const batch = rows.slice(0, 7);
    this.delivered.push({ worker: this.name, lane: lane.agentId, seqs: batch.map((r) => r.seq), entityIds: batch.map((r) => r.entityId) });
    return batch.map((r) => (r.kind === 'poison' ? { seq: r.seq, result: 'failed' as const, error: 'refused' } : { seq: r.seq, result: 'done' as const }));
  }
}

describeEachDb('outbox', (db) => {
  beforeEach(() => db().ds.query('DELETE FROM outbox'));

  test('two processes share one database: every row delivered once, in order per lane, never two deliverers on a lane at once', async () => {
    // A second DataSource stands for a second gateway process (its own connections and lease owner).
    // SQLite: both on one database file (the suite's own database is in memory, private to one connection).
    const config: DatabaseConfig = db().dialect === 'sqlite' ? { kind: 'sqlite', path: join(mkdtempSync(join(tmpdir(), 'engage-outbox-')), 'db.sqlite') } : db().config;
    const ds1 = db().dialect === 'sqlite' ? await openDatabase(config) : db().ds;
    const ds2 = createDataSource(config);
    await ds2.initialize();
    const shared = new Map<string, string>();
    const r1 = new Recorder('p1');
    const r2 = new Recorder('p2');
    r1.inFlight = shared;
    r2.inFlight = shared;
    const w1 = new OutboxWorker(ds1, createLogger('silent'), FAST);
    const w2 = new OutboxWorker(ds2, createLogger('silent'), FAST);
    w1.register(r1);
    w2.register(r2);
    const lanes = Array.from({ length: 6 }, () => ({ topic: 'test', brokerageId: randomUUID(), agentId: randomUUID() }));
    try {
      // Rows arrive while both workers run.
      w1.start();
      w2.start();
      for (let round = 0; round < 10; round++) {
        await ds1.transaction((m) => enqueue(m, lanes.flatMap((lane) => Array.from({ length: 3 }, (_, i) => ({ lane, kind: 'x', entityId: `${lane.agentId}:${round * 3 + i}` })))));
        for (const lane of lanes) (round % 2 ? w1 : w2).kick(lane);
        await new Promise((r) => setTimeout(r, 10));
      }
      const deadline = Date.now() + 15_000;
      while ((await ds1.getRepository(OutboxRow).count()) > 0) {
        if (Date.now() > deadline) throw new Error('not all rows were delivered');
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await w1.stop();
      await w2.stop();
      await ds2.destroy();
      if (ds1 !== db().ds) await ds1.destroy();
    }
    const all = [...r1.delivered, ...r2.delivered];
    expect(r1.overlaps + r2.overlaps).toBe(0);
    for (const lane of lanes) {
      const got = all.filter((d) => d.lane === lane.agentId).sort((a, b) => a.seqs[0] - b.seqs[0]).flatMap((d) => d.entityIds);
      expect(got).toEqual(Array.from({ length: 30 }, (_, i) => `${lane.agentId}:${i}`)); // all, once, in order
    }
    expect(new Set(all.map((d) => d.worker))).toEqual(new Set(['p1', 'p2'])); // both really worked
  });

  test('a retry holds the lane (later rows wait) and honours Retry-After; failures are kept with the reason', async () => {
    const rec = new Recorder('p1');
    rec.failNext = 1;
    const w = new OutboxWorker(db().ds, createLogger('silent'), FAST);
    w.register(rec);
    const lane = { topic: 'test', brokerageId: randomUUID(), agentId: randomUUID() };
    const seqs = await db().ds.transaction((m) => enqueue(m, [{ lane, kind: 'x', entityId: 'a' }, { lane, kind: 'poison', entityId: 'b' }, { lane, kind: 'x', entityId: 'c' }]));
    w.start();
    const t0 = Date.now();
    w.kick(lane);
    try {
      expect(await w.waitFor(seqs, 5000)).toBe(true);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
      expect(rec.delivered.flatMap((d) => d.entityIds)).toEqual(['a', 'b', 'c']);
      const failed = await db().ds.getRepository(OutboxRow).find();
      expect(failed.map((r) => [r.entityId, r.status, r.lastError])).toEqual([['b', 'FAILED', 'refused']]);
    } finally {
      await w.stop();
    }
  });

  test('a lane waiting out a retry does not poll the database meanwhile', async () => {
    const rec = new Recorder('p1');
    rec.failNext = 1;
    const w = new OutboxWorker(db().ds, createLogger('silent'), { ...FAST, pollMs: 5000, retryBaseMs: 1000, retryMaxMs: 1000 });
    w.register(rec);
    const lane = { topic: 'test', brokerageId: randomUUID(), agentId: randomUUID() };
    await db().ds.transaction((m) => enqueue(m, [{ lane, kind: 'x', entityId: 'a' }]));
    let reads = 0;
    db().ds.setOptions({ logging: ['query'], logger: { logQuery: (q: string) => { if (/FROM [`"]outbox[`"]/.test(q)) reads++; }, logQueryError: () => {}, logQuerySlow: () => {}, logSchemaBuild: () => {}, logMigration: () => {}, log: () => {} } });
    try {
      w.start();
      w.kick(lane);
      await new Promise((r) => setTimeout(r, 800)); // the first attempt failed; the retry is due after ≥ 500 ms + jitter
      expect(reads).toBeLessThan(10);
    } finally {
      db().ds.setOptions({ logging: false });
      await w.stop();
    }
  });
});
