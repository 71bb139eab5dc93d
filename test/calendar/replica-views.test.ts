/**
 * Two replicas on one database, each keeping its own cached calendar windows (src/calendar/range-cache.ts): a write
 * delivered by one replica shows on the other the moment its delivery commits. The delivery settles the row (no longer
 * pending, so no longer laid over the cached window) and bumps the shared generation (so the other replica loads the
 * window again, now from a Google that has the event) in one transaction: between the two, the other replica showed
 * neither. And a view reads our writes before the window: a delivery committing between its two reads is then seen
 * one way or the other.
 *
 * A page of events read again is served as kept (calendar.service.ts, kept-pages.ts) while the shared generation it
 * was stamped with holds: every write of ours that a view shows moves it in its own transaction, so the other replica's
 * kept page is stale the moment that transaction commits, never later (and under jest, a kept page that differs from
 * a fresh read at its stamp fails the request).
 */
import type { SharedGenerations } from '../../src/calendar/cache-generations';
import { CalendarEvent } from '../../src/entities';
import { describeEachDb } from '../support/db';
import type { TestGateway } from '../support/gateway';
import { until } from '../support/wait';
import { deliveryDone, startReplica, startWorld, type World } from '../support/world';

const AGENT = 'agent@alpha.test';
const MONTH =
  'query { events(from: "2026-12-01T00:00:00Z", to: "2027-01-01T00:00:00Z") { edges { node { title syncState } } } }';

describeEachDb('calendar: views on two replicas', (db) => {
  let w: World;
  let replica: TestGateway;
  let token: string;

  beforeAll(async () => {
    w = await startWorld(db(), { env: { MUTATION_WAIT_MS: '0' } });
    replica = await startReplica(w, db());
    token = await w.token(AGENT);
  });
  afterAll(async () => {
    await replica.close();
    await w.close();
  });

  const month = async (gw: TestGateway) => {
    const res = await gw.gql(MONTH, { token });
    expect(res.body.errors).toBeUndefined();
    return res.body.data.events.edges.map((e: any) => [e.node.title, e.node.syncState]);
  };
  /** An hour's event on `day` of December 2026, created through the first replica: its id and sync state. */
  const create = async (title: string, day: number): Promise<{ id: string; syncState: string }> => {
    const res = await w.gw.gql(
      `mutation { createEvent(input: { title: "${title}", start: "2026-12-${day}T17:00:00Z", end: "2026-12-${day}T18:00:00Z" }) { id syncState } }`,
      { token },
    );
    expect(res.body.errors).toBeUndefined();
    return res.body.data.createEvent;
  };

  test('an event delivered by one replica shows on the other as soon as its delivery committed', async () => {
    // The delivery's insert waits at Google's door: the create is on its way, shown on both replicas as PENDING.
    const insert = await w.admin.addFault({ api: 'calendar', method: 'calendar.events.insert', hold: 'call' });
    const made = await create('Showing', 24);
    expect(made.syncState).toBe('PENDING');
    await w.admin.waitHeld(insert.id);
    // Google's window (empty), our write laid over, on both.
    expect(await month(replica)).toEqual([['Showing', 'PENDING']]);
    expect(await month(w.gw)).toEqual([['Showing', 'PENDING']]);

    // Whichever replica delivers it (both run an outbox worker) is held right after the settle's transaction commits,
    // before the rest of its round: what the other replica sees then is what that commit alone told it.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let arrived!: (by: TestGateway) => void;
    const atGate = new Promise<TestGateway>((r) => (arrived = r));
    const spies = [w.gw, replica].map((gw) => {
      const feed = gw.services.calendarSync;
      const recordDelivered = feed.recordDelivered.bind(feed);
      return jest.spyOn(feed, 'recordDelivered').mockImplementation(async (...args) => {
        arrived(gw);
        await gate;
        return recordDelivered(...args);
      });
    });
    try {
      await w.admin.release(insert.id);
      const delivering = await atGate;
      const row = await db().ds.getRepository(CalendarEvent).findOneByOrFail({ googleEventId: made.id });
      expect(row.pendingOp).toBeNull(); // settled: no longer laid over the window
      expect(await month(delivering === replica ? w.gw : replica)).toEqual([['Showing', 'SYNCED']]);
    } finally {
      release();
      for (const spy of spies) spy.mockRestore();
    }
    await deliveryDone(db());
    await until(
      'the event on both replicas',
      async () => [await month(w.gw), await month(replica)],
      ([a, b]) => JSON.stringify([a, b]) === JSON.stringify([[['Showing', 'SYNCED']], [['Showing', 'SYNCED']]]),
    );
  });

  test('a view under way on the other replica while the delivery commits shows the event: our writes are read before the window', async () => {
    // Only the first replica delivers here; the other only reads.
    await replica.services.outbox.stop();
    const insert = await w.admin.addFault({ api: 'calendar', method: 'calendar.events.insert', hold: 'call' });
    const made = await create('Viewing', 28);
    await w.admin.waitHeld(insert.id);
    const before = await month(replica); // its window cached, without the new event (only laid over, PENDING)
    expect(before).toContainEqual(['Viewing', 'PENDING']);

    // The other replica's next view stops right after reading the shared generation, until the delivery committed.
    const generations = (replica.services.calendar.cache as unknown as { shared: SharedGenerations }).shared;
    const read = generations.read.bind(generations);
    let armed = true;
    let readIt!: () => void;
    const hasRead = new Promise<void>((r) => (readIt = r));
    let go!: () => void;
    const committed = new Promise<void>((r) => (go = r));
    const spy = jest.spyOn(generations, 'read').mockImplementation(async (agent) => {
      const value = await read(agent);
      if (armed) {
        armed = false;
        readIt();
        await committed;
      }
      return value;
    });
    try {
      replica.services.calendar.forgetPages(); // read afresh (a kept page is served after one statement)
      const viewing = month(replica);
      await hasRead;
      await w.admin.release(insert.id);
      await until(
        'the delivery settled',
        () => db().ds.getRepository(CalendarEvent).findOneByOrFail({ googleEventId: made.id }),
        (row) => row.pendingOp === null,
      );
      go();
      expect(await viewing).toContainEqual(['Viewing', expect.any(String)]);
    } finally {
      go();
      spy.mockRestore();
      replica.services.outbox.start();
    }
    await deliveryDone(db());
  });

  const SYNC =
    'query { events(from: "2026-12-01T00:00:00Z", to: "2027-01-01T00:00:00Z") { edges { node { title syncState syncError } } } }';
  const withErrors = async (gw: TestGateway) => {
    const res = await gw.gql(SYNC, { token });
    expect(res.body.errors).toBeUndefined();
    return res.body.data.events.edges.map((e: any) => [e.node.title, e.node.syncState, e.node.syncError]);
  };

  test("an edit shows on the other replica's kept view as soon as its transaction committed", async () => {
    await deliveryDone(db());
    const made = await create('Tour', 20);
    await deliveryDone(db());
    const id = made.id;
    expect(await month(replica)).toContainEqual(['Tour', 'SYNCED']);
    expect(await month(replica)).toContainEqual(['Tour', 'SYNCED']); // served as kept

    // The edit's first step after its transaction (whatever it is: making views stale, or handing the write to the
    // outbox) waits until the other replica has viewed the month.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let committed!: () => void;
    const atGate = new Promise<void>((r) => (committed = r));
    const hold = async () => {
      committed();
      await gate;
    };
    const cache = w.gw.services.calendar.cache;
    const invalidate = cache.invalidate.bind(cache);
    const settle = w.gw.services.outbox.settle.bind(w.gw.services.outbox);
    const spies = [
      jest.spyOn(cache, 'invalidate').mockImplementation(async (agent) => {
        await hold();
        return invalidate(agent);
      }),
      jest.spyOn(w.gw.services.outbox, 'settle').mockImplementation(async (...args) => {
        await hold();
        return settle(...args);
      }),
    ];
    try {
      const editing = w.gw.gql(`mutation { updateEvent(id: "${id}", input: { title: "Tour (moved)" }) { id } }`, {
        token,
      });
      await atGate;
      expect(await month(replica)).toContainEqual(['Tour (moved)', 'PENDING']);
      release();
      expect((await editing).body.errors).toBeUndefined();
    } finally {
      release();
      for (const spy of spies) spy.mockRestore();
    }
    await deliveryDone(db());
  });

  test("a delivery Google answers with an error to retry shows its reason on the other replica's kept view", async () => {
    await deliveryDone(db());
    // The first attempt waits at Google's door, then is answered 503; the second waits there too.
    const failing = await w.admin.addFault({
      api: 'calendar',
      method: 'calendar.events.insert',
      hold: 'call',
      status: 503,
    });
    const retry = await w.admin.addFault({ api: 'calendar', method: 'calendar.events.insert', hold: 'call' });
    await create('Inspection', 22);
    await w.admin.waitHeld(failing.id);
    for (const gw of [w.gw, replica, w.gw, replica])
      expect(await withErrors(gw)).toContainEqual(['Inspection', 'PENDING', null]);
    try {
      await w.admin.release(failing.id);
      await w.admin.waitHeld(retry.id);
      for (const gw of [w.gw, replica])
        expect(await withErrors(gw)).toContainEqual([
          'Inspection',
          'PENDING',
          expect.stringMatching(/503|unavailable/i),
        ]);
    } finally {
      await w.admin.release(retry.id);
    }
    await deliveryDone(db());
    expect(await withErrors(replica)).toContainEqual(['Inspection', 'SYNCED', null]);
  });
});
