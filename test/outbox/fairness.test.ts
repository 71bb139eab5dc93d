/**
 * The poll finds lanes whose head is due, oldest first, fairly across brokerages (issue 13, item 1). Before, it took
 * at most 100 (topic, agent) groups with any due PENDING row, unordered: a lane whose head was backing off (a
 * brokerage whose key was removed backs off for good) still counted through the rows queued behind its head, so 100
 * such lanes kept every other lane out of every poll, and after a restart nothing else was delivered again.
 */
import { randomUUID } from 'node:crypto';
import { OutboxLease, OutboxRow } from '../../src/entities';
import { createLogger } from '../../src/logger';
import { pickLanes, type LaneLeases } from '../../src/outbox/claim';
import { OutboxTopic, type LaneRef } from '../../src/outbox/topics';
import { OutboxWorker, type Outcome, type OutboxHandler } from '../../src/outbox/worker';
import { describeEachDb } from '../support/db';
import { until } from '../support/wait';

const TEST = new OutboxTopic('test', ['create']);

const FAST = {
  mutationWaitMs: 3000,
  pollMs: 20,
  lingerMs: 5,
  leaseMs: 2000,
  retryBaseMs: 10,
  retryMaxMs: 50,
  concurrency: 4,
};

/** Answers retry (a brokerage without a key) for one brokerage's lanes, done for the others. */
class KeylessBrokerage implements OutboxHandler {
  readonly topic = TEST;
  readonly done: string[] = [];
  constructor(private readonly keyless: string) {}
  async deliver(lane: LaneRef, rows: OutboxRow[]): Promise<Outcome[]> {
    if (lane.brokerageId === this.keyless)
      return [{ seq: rows[0].seq, result: 'retry', error: 'GOOGLE_NOT_CONFIGURED', retryAfterMs: 600_000 }];
    this.done.push(...rows.map((r) => r.entityId));
    return rows.map((r) => ({ seq: r.seq, result: 'done' as const }));
  }
}

test("pickLanes: oldest due first, and each brokerage in turn, so one brokerage's thousands of lanes cannot fill a poll", () => {
  const lane = (b: string, i: number, at: number) => ({ topic: 't', brokerageId: b, agentId: `${b}-${i}`, dueAt: at });
  const many = Array.from({ length: 300 }, (_, i) => lane('big', i, i));
  const small = [lane('small', 0, 500), lane('tiny', 0, 900)];
  const picked = pickLanes(
    [...many, ...small].sort((a, b) => a.dueAt - b.dueAt),
    100,
  );
  expect(picked).toHaveLength(100);
  // Each brokerage's oldest lane comes in the first round, in the order they became due.
  expect(picked.slice(0, 3).map((l) => l.agentId)).toEqual(['big-0', 'small-0', 'tiny-0']);
  expect(picked.slice(3, 6).map((l) => l.agentId)).toEqual(['big-1', 'big-2', 'big-3']);
  expect(pickLanes([], 100)).toEqual([]);
});

describeEachDb('outbox poll and lanes that back off', (db) => {
  test("150 lanes of a brokerage without a key, each with 2 queued writes, do not keep a healthy agent's write waiting, after a restart too", async () => {
    const keyless = randomUUID();
    const healthy: LaneRef = { topic: 'test', brokerageId: randomUUID(), agentId: 'zzzz-healthy-agent' }; // sorts after the others
    const lanes: LaneRef[] = Array.from({ length: 150 }, (_, i) => ({
      topic: 'test',
      brokerageId: keyless,
      agentId: `a${String(i).padStart(3, '0')}`,
    }));
    await db().ds.transaction(async (m) => {
      for (const lane of lanes)
        await TEST.write(m, lane, [
          { kind: 'create', entityId: `${lane.agentId}-1` },
          { kind: 'create', entityId: `${lane.agentId}-2` },
        ]);
    });
    // Each keyless lane's head has been tried and backs off for 10 minutes; the write behind it is "due" on its own.
    const heads = await db()
      .ds.getRepository(OutboxRow)
      .createQueryBuilder('o')
      .select('MIN(o.seq)', 'seq')
      .where('o.brokerageId = :b', { b: keyless })
      .groupBy('o.agentId')
      .getRawMany();
    await db()
      .ds.getRepository(OutboxRow)
      .createQueryBuilder()
      .update()
      .set({ attempts: 1, nextAttemptAt: new Date(Date.now() + 600_000), lastError: 'GOOGLE_NOT_CONFIGURED' })
      .whereInIds(heads.map((h: { seq: number }) => Number(h.seq)))
      .execute();
    await db().ds.transaction((m) => TEST.write(m, healthy, { kind: 'create', entityId: 'healthy-1' }));

    // A process that starts now (a restart: nothing scheduled in memory) finds the healthy lane by polling.
    for (const round of ['first start', 'restart']) {
      const handler = new KeylessBrokerage(keyless);
      const worker = new OutboxWorker(db().ds, createLogger('silent'), FAST);
      worker.register(handler);
      worker.start();
      try {
        await until(
          `the healthy write delivered (${round})`,
          () => handler.done,
          (d) => d.includes(round === 'first start' ? 'healthy-1' : 'healthy-2'),
          10_000,
        );
      } finally {
        await worker.stop();
      }
      if (round === 'first start')
        await db().ds.transaction((m) => TEST.write(m, healthy, { kind: 'create', entityId: 'healthy-2' }));
    }
    // The keyless lanes were not tried again before their time: nothing of theirs was delivered, nothing retried early.
    const keylessRows = await db()
      .ds.getRepository(OutboxRow)
      .find({ where: { brokerageId: keyless } });
    expect(keylessRows).toHaveLength(300);
    expect(keylessRows.filter((r) => r.attempts > 1)).toEqual([]);
    await db().clear();
  }, 60_000);

  test('a lane another process holds is not asked for at every poll; a head made due sooner than its backoff runs at the next poll', async () => {
    const held: LaneRef = { topic: 'test', brokerageId: randomUUID(), agentId: 'held-by-another' };
    const backingOff: LaneRef = { topic: 'test', brokerageId: randomUUID(), agentId: 'backing-off' };
    await db().ds.transaction((m) =>
      TEST.write(m, held, { kind: 'create', entityId: 'held-1' }).then(() =>
        TEST.write(m, backingOff, { kind: 'create', entityId: 'backoff-1' }),
      ),
    );
    // Another process holds the first lane for a minute.
    await db()
      .ds.getRepository(OutboxLease)
      .insert({
        lane: `test:${held.agentId}`,
        brokerageId: held.brokerageId,
        owner: 'another-process',
        until: new Date(Date.now() + 60_000),
      });
    let refuseOnce = true;
    const handler: OutboxHandler & { done: string[] } = {
      topic: TEST,
      done: [],
      async deliver(lane, rows) {
        if (lane.agentId === backingOff.agentId && refuseOnce) {
          refuseOnce = false;
          return [{ seq: rows[0].seq, result: 'retry', error: 'GOOGLE_NOT_CONFIGURED', retryAfterMs: 600_000 }];
        }
        this.done.push(...rows.map((r) => r.entityId));
        return rows.map((r) => ({ seq: r.seq, result: 'done' as const }));
      },
    };
    const worker = new OutboxWorker(db().ds, createLogger('silent'), FAST);
    worker.register(handler);
    const acquire = jest.spyOn((worker as unknown as { leases: LaneLeases }).leases, 'acquire');
    const poll = jest.spyOn(worker as unknown as { poll(): Promise<void> }, 'poll');
    worker.start();
    try {
      // The backing-off lane was tried once and now waits 10 minutes in memory; then its head is made due (a new key).
      await until(
        'the backing-off head tried once',
        async () => (await db().ds.getRepository(OutboxRow).findOneByOrFail({ entityId: 'backoff-1' })).attempts,
        (n) => n === 1,
      );
      await db().ds.getRepository(OutboxRow).update({ entityId: 'backoff-1' }, { nextAttemptAt: new Date() });
      await until(
        'the backing-off write delivered by a poll',
        () => handler.done,
        (d) => d.includes('backoff-1'),
        10_000,
      );
      const polls = poll.mock.calls.length;
      await until(
        'ten more polls',
        () => poll.mock.calls.length,
        (n) => n >= polls + 10,
      );
      // (Before, this compared the lane object to its name and could not fail.)
      expect(acquire.mock.calls.filter(([lane]) => lane.agentId === held.agentId).length).toBeLessThanOrEqual(1);
      expect(handler.done).not.toContain('held-1');
    } finally {
      await worker.stop();
    }
    await db().clear();
  }, 60_000);
});
