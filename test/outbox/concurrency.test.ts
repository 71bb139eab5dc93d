/**
 * OUTBOX_CONCURRENCY (src/config.ts): how many lanes one gateway process delivers at once. Shown with a real gateway
 * (the setting read from the environment by loadConfig) whose agents' calendar inserts are all parked in the emulator
 * by a hold fault: exactly OUTBOX_CONCURRENCY calls reach Google and wait there; each call released lets its lane
 * finish and hands the freed slot to one waiting lane, never earlier.
 *
 * The counts are read after events, never after a timer: the parked calls (waitHeld), a release, and the next call
 * being parked. Each agent's mutation returns only after MUTATION_WAIT_MS with its write still undelivered, so by the
 * first reading every lane had long been kicked: a process that ignored the setting would have shown more calls.
 */
import { In, type DataSource } from 'typeorm';
import { CalendarEvent, OutboxRow } from '../../src/entities';
import { createTestDb, type TestDb } from '../support/db';
import { until } from '../support/wait';
import { startWorld } from '../support/world';

let db: TestDb & { drop(): Promise<void> };
beforeAll(async () => {
  db = await createTestDb('sqlite');
});
afterAll(() => db.drop());

/** Calendar rows still in the outbox (each test ends with none left). */
const pendingCalendarRows = (ds: DataSource) => ds.getRepository(OutboxRow).count({ where: { topic: 'calendar' } });

for (const n of [1, 3]) {
  test(`OUTBOX_CONCURRENCY=${n}: at most ${n} lanes call Google at once; a finished lane's slot goes to one waiting lane`, async () => {
    const domain = `conc${n}.test`;
    const agents = Array.from({ length: n + 2 }, (_, i) => `agent${i}@${domain}`);
    const w = await startWorld(db, {
      domain,
      users: [...agents, `boss@${domain}`],
      env: { OUTBOX_CONCURRENCY: String(n), MUTATION_WAIT_MS: '200' },
    });
    try {
      expect(w.gw.config.outbox.concurrency).toBe(n);
      const hold = await w.admin.addFault({
        api: 'calendar',
        method: 'calendar.events.insert',
        hold: 'call',
        unlimited: true,
      });
      const parked = async () => {
        const f = (await w.admin.faults()).find((x) => x.id === hold.id)!;
        return { calls: f.hits, parked: f.held };
      };

      const ids: string[] = [];
      for (const [i, agent] of agents.entries()) {
        const res = await w.gw.gql(
          `mutation { createEvent(input: { title: "E${i}", start: "2026-12-${10 + i}T10:00:00Z", end: "2026-12-${10 + i}T11:00:00Z" }) { id syncState } }`,
          { token: await w.token(agent) },
        );
        expect(res.body.data?.createEvent.syncState).toBe('PENDING');
        ids.push(res.body.data!.createEvent.id);
      }
      // Every agent's write is accepted; n lanes have their call parked in Google, the other 2 wait for a slot.
      await w.admin.waitHeld(hold.id, n);
      expect(await parked()).toEqual({ calls: n, parked: n });
      expect(await pendingCalendarRows(db.ds)).toBe(n + 2);

      for (let released = 1; released <= 2; released++) {
        expect(await w.admin.release(hold.id, 1)).toEqual({ released: 1 });
        // The released call's lane finishes and frees its slot: exactly one more lane calls Google and is parked.
        const now = await until(
          `lane ${n + released} admitted`,
          parked,
          (s) => s.calls >= n + released && s.parked >= n,
        );
        expect(now).toEqual({ calls: n + released, parked: n });
        // …and only after the released lane had finished: its row is delivered and gone.
        expect(await pendingCalendarRows(db.ds)).toBe(n + 2 - released);
      }

      // Let the rest go: every write reaches Google exactly once.
      await w.admin.release(hold.id);
      await until(
        'every calendar write delivered',
        () => pendingCalendarRows(db.ds),
        (left) => left === 0,
      );
      expect(await parked()).toEqual({ calls: n + 2, parked: 0 });
      const rows = await db.ds.getRepository(CalendarEvent).find({ where: { googleEventId: In(ids) } });
      expect(rows.map((r) => [r.googleEventId, r.syncState]).sort()).toEqual(ids.map((id) => [id, 'SYNCED']).sort());
      for (const [i, agent] of agents.entries()) {
        const google = (await w.admin.request<{ id: string }[]>('GET', `/users/${agent}/events`)).body;
        expect(google.map((e) => e.id)).toEqual([ids[i]]);
      }
    } finally {
      await w.admin.clearFaults();
      await w.close();
    }
  });
}
