/**
 * A write of ours whose answer was lost (Google applied it, the connection dropped, or our database could not record
 * it) is retried with the version it was based on, and Google answers that the event changed meanwhile: it did, but
 * by our own hand. That is no conflict. Before, the replica proof saw updateEvent answer CONFLICT for such retries.
 * A change made in Google by someone else to a field we also changed still is one.
 *
 * No timing: the call whose answer is lost is parked at the emulator (hold 'answer' with afterCommit: Google has
 * applied it, the answer waits, then the connection drops), so what happens meanwhile happens in a known order.
 */
import { CalendarEvent } from '../../src/entities';
import { describeEachDb } from '../support/db';
import { until } from '../support/wait';
import { startWorld, type World } from '../support/world';

const AGENT = 'agent@alpha.test';
const PATCH = 'calendar.events.patch';

describeEachDb('calendar writes whose answer was lost', (db) => {
  let w: World;
  let token: string;

  beforeAll(async () => {
    w = await startWorld(db(), { env: { MUTATION_WAIT_MS: '60000' } });
    token = await w.token(AGENT);
  });
  afterAll(() => w.close());
  beforeEach(() => w.admin.clearFaults());

  const gql = (q: string, v?: Record<string, unknown>) => w.gw.gql(q, { token, variables: v });
  const create = async (title: string) =>
    (
      await gql(
        `mutation { createEvent(input: { title: "${title}", start: "2026-12-07T10:00:00Z", end: "2026-12-07T11:00:00Z" }) { id syncState } }`,
      )
    ).body.data.createEvent as { id: string; syncState: string };
  const move = (id: string, location: string) =>
    gql('mutation ($id: ID!, $l: String!) { updateEvent(id: $id, input: { location: $l }) { syncState } }', {
      id,
      l: location,
    });
  const inGoogle = async (id: string) =>
    (
      await w.admin.request<Array<{ id: string; location?: string; description?: string }>>(
        'GET',
        `/users/${AGENT}/events`,
      )
    ).body.find((e) => e.id === id);
  const settled = (id: string) =>
    until(
      `event ${id} settled`,
      () => db().ds.getRepository(CalendarEvent).findOneBy({ googleEventId: id }),
      (r) => Boolean(r && !r.pendingOp),
    );
  const patchStatuses = async () =>
    (await w.admin.requests({ api: 'calendar', method: PATCH })).filter((r) => r.user === AGENT).map((r) => r.status);

  test('our patch applied, its answer lost, retried: Google has our value; SYNCED, not CONFLICT', async () => {
    const e = await create('Lost once');
    expect(e.syncState).toBe('SYNCED');
    await w.admin.clearRequests();
    await w.admin.addFault({ api: 'calendar', method: PATCH, afterCommit: true, count: 1 });
    const r = await move(e.id, '12 Elm St');
    expect(r.body.data.updateEvent.syncState).toBe('SYNCED');
    expect((await inGoogle(e.id))?.location).toBe('12 Elm St');
    expect(await patchStatuses()).toEqual([0, 412, 200]); // applied unanswered; the retry met our own version
  });

  test('the same for attendees (Google adds to each: self, organizer) and for a field cleared: SYNCED, not CONFLICT', async () => {
    const e = await create('Lost attendees');
    await w.admin.addFault({ api: 'calendar', method: PATCH, afterCommit: true, count: 1 });
    const r = await gql(
      'mutation ($id: ID!) { updateEvent(id: $id, input: { attendees: ["agent@alpha.test", "Ada@Buyers.test"] }) { syncState } }',
      { id: e.id },
    );
    expect(r.body.data.updateEvent.syncState).toBe('SYNCED');
    await move(e.id, 'Somewhere');
    await w.admin.addFault({ api: 'calendar', method: PATCH, afterCommit: true, count: 1 });
    const cleared = await gql('mutation ($id: ID!) { updateEvent(id: $id, input: { location: "" }) { syncState } }', {
      id: e.id,
    });
    expect(cleared.body.data.updateEvent.syncState).toBe('SYNCED');
    await w.admin.addFault({ api: 'calendar', method: PATCH, afterCommit: true, count: 1 });
    const noGuests = await gql('mutation ($id: ID!) { updateEvent(id: $id, input: { attendees: [] }) { syncState } }', {
      id: e.id,
    });
    expect(noGuests.body.data.updateEvent.syncState).toBe('SYNCED'); // Google leaves the empty list out of its answer
  });

  test('our patch applied and its answer lost while a newer change queued behind it: the newer one lands; SYNCED, not CONFLICT', async () => {
    const e = await create('Lost, then moved again');
    await w.admin.clearRequests();
    const lost = await w.admin.addFault({ api: 'calendar', method: PATCH, hold: 'answer', afterCommit: true });
    const first = move(e.id, '1 First St');
    await w.admin.waitHeld(lost.id); // Google has "1 First St"; we have not heard
    const second = move(e.id, '2 Second St'); // merged into the pending patch
    await until(
      'the second change recorded',
      async () => (await db().ds.getRepository(CalendarEvent).findOneByOrFail({ googleEventId: e.id })).body,
      (b) => Boolean(b?.includes('2 Second St')),
    );
    await w.admin.release(lost.id);
    const answers = await Promise.all([first, second]);
    expect(answers.map((a) => a.body.data?.updateEvent.syncState)).toEqual(['SYNCED', 'SYNCED']);
    expect((await inGoogle(e.id))?.location).toBe('2 Second St');
    expect((await settled(e.id))!.syncState).toBe('SYNCED');
  });

  test('the same field changed in Google by someone else while ours waited: still a CONFLICT (ours wins, as the later write)', async () => {
    const e = await create('Both');
    const held = await w.admin.addFault({ api: 'calendar', method: PATCH, hold: 'call' });
    const ours = move(e.id, 'Our office');
    await w.admin.waitHeld(held.id);
    await w.admin.request('PATCH', `/users/${AGENT}/events/${e.id}`, { location: 'Their office' });
    await w.admin.release(held.id);
    expect((await ours).body.data.updateEvent.syncState).toBe('CONFLICT');
    expect((await inGoogle(e.id))?.location).toBe('Our office');
  });
});
