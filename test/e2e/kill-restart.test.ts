/**
 * A gateway process killed with SIGKILL while writes are undelivered — some
 * merely queued, some sent to Google with the answer never read — and then
 * restarted: everything arrives, nothing twice. Runs the compiled gateway
 * (npm test builds first) against the test's emulator, on SQLite (a file
 * shared by the processes) and on MariaDB.
 *
 * No step depends on timing: the call whose answer must be lost is parked by a hold fault ('answer': Google has run
 * it and committed its effect, the answer waits), the test waits until it is parked (waitHeld), does everything else
 * that must happen before the crash while it stays parked, and kills the process. Releasing the hold afterwards only
 * lets the emulator drop the connection (afterCommit): the answer is never read.
 */
import type { DataSource } from 'typeorm';
import { openDatabase, type DatabaseConfig } from '../../src/db/data-source';
import { CalendarEvent, Contact, OutboxRow } from '../../src/entities';
import { mariaDbAvailable, type Dialect } from '../support/db';
import type { EmulatorAdmin, FaultSpec } from '../support/google';
import {
  gqlAt,
  onboardThrough,
  processBench,
  processEnv,
  startGatewayProcess,
  stopGatewayProcess,
  type ProcessBench,
} from '../support/processes';
import { until } from '../support/wait';

const AGENT = 'agent@alpha.test';

/** Google runs the call and commits its effect; the answer is parked until released, then the connection is dropped. */
const committedAnswerLost = (api: FaultSpec['api'], method: string): FaultSpec => ({
  api,
  method,
  hold: 'answer',
  afterCommit: true,
});

for (const dialect of ['sqlite', 'mariadb'] as Dialect[]) {
  (dialect === 'mariadb' && !mariaDbAvailable() ? describe.skip : describe)(
    `[${dialect}] gateway killed with undelivered writes`,
    () => {
      let bench: ProcessBench;
      let admin: EmulatorAdmin;
      let dbConfig: DatabaseConfig;
      const env = processEnv();

      beforeAll(async () => {
        bench = await processBench(dialect, env);
        ({ admin, dbConfig } = bench);
      });
      afterAll(() => bench.close());

      const startGateway = () => startGatewayProcess(env);
      const stopGateway = stopGatewayProcess;
      const gql = gqlAt;
      const onboard = (ds: DataSource, url: string, domain: string, users: string[]) =>
        onboardThrough(admin, env, ds, url, domain, users);

      test('every accepted contact reaches Google exactly once after a SIGKILL and a restart', async () => {
        const first = await startGateway();
        // The brokerage exists in the shared database; its admin submits the key through the first process.
        const ds = await openDatabase(dbConfig);
        try {
          const token = (await onboard(ds, first.url, 'alpha.test', [AGENT]))[AGENT];

          // Batch 1 is sent and committed by Google, but its answer is parked until after the kill (in flight).
          const inFlight = await admin.addFault(committedAnswerLost('people', 'people.people.batchCreateContacts'));
          const a = await gql(
            first.url,
            'mutation { createContacts(input: [{ givenName: "A1" }, { givenName: "A2" }]) { id syncState } }',
            token,
          );
          expect(a.data.createContacts.map((c: { syncState: string }) => c.syncState)).toEqual(['PENDING', 'PENDING']);
          await admin.waitHeld(inFlight.id);
          // Batch 2 only queued, behind the parked batch in the agent's lane; should it reach Google anyway, it is
          // refused.
          const refused = await admin.addFault({
            api: 'people',
            method: 'people.people.batchCreateContacts',
            status: 503,
            unlimited: true,
          });
          const b = await gql(
            first.url,
            'mutation { createContacts(input: [{ givenName: "B1" }, { givenName: "B2" }, { givenName: "B3" }]) { id syncState } }',
            token,
          );
          expect(b.data.createContacts.every((c: { syncState: string }) => c.syncState === 'PENDING')).toBe(true);

          await stopGateway(first, 'SIGKILL'); // batch 1's answer still parked: the process never read it
          const faults = await admin.faults();
          expect(faults.find((f) => f.id === inFlight.id)).toMatchObject({ hits: 1, held: 1 });
          expect(faults.find((f) => f.id === refused.id)?.hits).toBe(0); // batch 2 never left the dead process
          await admin.clearFaults();
          expect(await ds.getRepository(OutboxRow).count()).toBe(5);
          expect((await admin.request<unknown[]>('GET', `/users/${AGENT}/contacts`)).body).toHaveLength(2); // batch 1 is in Google

          const second = await startGateway();
          try {
            await until(
              'no outbox row pending',
              () => ds.getRepository(OutboxRow).count({ where: { status: 'PENDING' } }),
              (n) => n === 0,
            );
            expect(await ds.getRepository(OutboxRow).count()).toBe(0); // every row delivered, none failed
            const google = (
              await admin.request<
                { resourceName: string; names: { givenName: string }[]; clientData?: { value: string }[] }[]
              >('GET', `/users/${AGENT}/contacts`)
            ).body;
            expect(google.map((p) => p.names[0].givenName).sort()).toEqual(['A1', 'A2', 'B1', 'B2', 'B3']);
            const mirror = await ds.getRepository(Contact).find();
            expect(mirror.map((c) => [c.givenName, c.syncState]).sort()).toEqual([
              ['A1', 'SYNCED'],
              ['A2', 'SYNCED'],
              ['B1', 'SYNCED'],
              ['B2', 'SYNCED'],
              ['B3', 'SYNCED'],
            ]);
            expect(new Set(mirror.map((c) => c.resourceName))).toEqual(new Set(google.map((p) => p.resourceName)));
            expect(google.map((p) => p.clientData?.[0]?.value).sort()).toEqual(mirror.map((c) => c.id).sort());
          } finally {
            await admin.clearFaults(); // after a failure: nothing parked may hold up the graceful stop
            await stopGateway(second, 'SIGTERM');
          }
        } finally {
          await admin.clearFaults();
          await stopGateway(first, 'SIGKILL'); // still running only when the test failed before the kill
          await ds.destroy();
        }
      }, 60_000);

      test('every accepted calendar write reaches Google exactly once after a SIGKILL and a restart', async () => {
        const agent = 'agent@beta.test';
        const first = await startGateway();
        const ds = await openDatabase(dbConfig);
        try {
          const token = (await onboard(ds, first.url, 'beta.test', [agent]))[agent];
          const create = (title: string, day: number) =>
            gql(
              first.url,
              `mutation { createEvent(input: { title: "${title}", start: "2026-12-${day}T10:00:00Z", end: "2026-12-${day}T11:00:00Z" }) { id googleEventId syncState } }`,
              token,
            );

          // Delivered before the trouble starts (waited for, not assumed within the mutation's wait); deleted below.
          const old = (await create('Old', 10)).data.createEvent;
          await until(
            '"Old" delivered',
            () => ds.getRepository(CalendarEvent).findOneBy({ googleEventId: old.id }),
            (r) => r?.syncState === 'SYNCED',
          );
          // The insert of "Showing" is committed by Google but its answer is parked until after the kill.
          const inFlight = await admin.addFault(committedAnswerLost('calendar', 'calendar.events.insert'));
          const showing = (await create('Showing', 11)).data.createEvent;
          expect(showing.syncState).toBe('PENDING');
          await admin.waitHeld(inFlight.id);
          // Queued behind it in the agent's lane: an edit of the same event, a second create, a delete (refused by
          // Google
          // should any of them reach it before the kill).
          await admin.addFault({ api: 'calendar', method: 'calendar.events.insert', status: 503, unlimited: true });
          await admin.addFault({ api: 'calendar', method: 'calendar.events.delete', status: 503, unlimited: true });
          await admin.addFault({ api: 'calendar', method: 'calendar.events.patch', status: 503, unlimited: true });
          const moved = await gql(
            first.url,
            'mutation ($id: ID!) { updateEvent(id: $id, input: { title: "Showing (moved)", location: "12 Elm St" }) { syncState } }',
            token,
            { id: showing.id },
          );
          expect(moved.data.updateEvent.syncState).toBe('PENDING');
          const closing = (await create('Closing', 12)).data.createEvent;
          expect(closing.syncState).toBe('PENDING');
          expect(
            (await gql(first.url, 'mutation ($id: ID!) { deleteEvent(id: $id) }', token, { id: old.id })).data
              .deleteEvent,
          ).toBe(true);

          await stopGateway(first, 'SIGKILL'); // the insert's answer still parked: the process never read it
          const faults = await admin.faults();
          expect(faults.find((f) => f.id === inFlight.id)).toMatchObject({ hits: 1, held: 1 });
          // the rest never left
          expect(faults.filter((f) => f.id !== inFlight.id).map((f) => f.hits)).toEqual([0, 0, 0]);
          await admin.clearFaults();
          expect(await ds.getRepository(OutboxRow).count({ where: { topic: 'calendar' } })).toBe(4);

          const second = await startGateway();
          try {
            await until(
              'no calendar outbox row pending',
              () => ds.getRepository(OutboxRow).count({ where: { topic: 'calendar', status: 'PENDING' } }),
              (n) => n === 0,
            );
            expect(await ds.getRepository(OutboxRow).count({ where: { topic: 'calendar' } })).toBe(0); // every row delivered, none failed
            const google = (
              await admin.request<{ id: string; summary: string; location?: string; status: string }[]>(
                'GET',
                `/users/${agent}/events`,
              )
            ).body;
            const live = google.filter((e) => e.status !== 'cancelled');
            expect(live.map((e) => [e.summary, e.location ?? null]).sort()).toEqual([
              ['Closing', null],
              ['Showing (moved)', '12 Elm St'],
            ]);
            expect(google.find((e) => e.id === old.googleEventId)?.status).toBe('cancelled');
            expect(new Set(live.map((e) => e.id))).toEqual(new Set([showing.googleEventId, closing.googleEventId]));
            // One insert call committed per created event: the retried "Showing" insert met 409 and became a patch.
            const inserts = (await admin.requests({ api: 'calendar' })).filter(
              (r) => r.method === 'calendar.events.insert' && r.user === agent,
            );
            // Old and Closing; Showing's committed insert was never answered
            expect(inserts.filter((r) => r.status === 200).length).toBe(2);
            // ...and its retry after the restart found it there
            expect(inserts.filter((r) => r.status === 409).length).toBe(1);
            const rows = await ds
              .getRepository(CalendarEvent)
              .find({ where: { agentId: (await ds.query('SELECT id FROM agent WHERE email = ?', [agent]))[0].id } });
            expect(
              rows
                .filter((r) => r.pendingOp !== null || r.syncState !== 'SYNCED')
                .map((r) => [r.googleEventId, r.pendingOp, r.syncState]),
            ).toEqual([]);
            const view = await gql(
              second.url,
              'query { events(from: "2026-12-01T00:00:00Z", to: "2027-01-01T00:00:00Z") { edges { node { id title location syncState } } } }',
              token,
            );
            expect(view.data.events.edges.map((e: any) => e.node)).toEqual([
              { id: showing.id, title: 'Showing (moved)', location: '12 Elm St', syncState: 'SYNCED' },
              { id: closing.id, title: 'Closing', location: null, syncState: 'SYNCED' },
            ]);
          } finally {
            await admin.clearFaults(); // after a failure: nothing parked may hold up the graceful stop
            await stopGateway(second, 'SIGTERM');
          }
        } finally {
          await admin.clearFaults();
          await stopGateway(first, 'SIGKILL'); // still running only when the test failed before the kill
          await ds.destroy();
        }
      }, 60_000);

      test('every accepted mail is sent exactly once after a SIGKILL and a restart, and its idempotency key still holds', async () => {
        const agent = 'agent@gamma.test';
        const second = 'second@gamma.test';
        const first = await startGateway();
        const ds = await openDatabase(dbConfig);
        try {
          const tokens = await onboard(ds, first.url, 'gamma.test', [agent, second]);
          const token = tokens[agent];
          const token2 = tokens[second];
          const send = (url: string, t: string, subject: string, idempotencyKey?: string) =>
            gql(url, 'mutation ($i: SendMailInput!) { sendMail(input: $i) { id status } }', t, {
              i: { to: ['zoe@buyer.test'], subject, text: subject, idempotencyKey },
            });

          // Agent 1, M1: Gmail carries out drafts.send, but its answer is parked until after the kill (crash while
          // "sending").
          const sending = await admin.addFault(committedAnswerLost('gmail', 'gmail.users.drafts.send'));
          const m1 = (await send(first.url, token, 'M1')).data.sendMail;
          expect(m1.status).toBe('QUEUED');
          await admin.waitHeld(sending.id);
          // M2 and M3 wait behind M1 in agent 1's lane: accepted, never shown to Gmail before the kill.
          const m2 = (await send(first.url, token, 'M2')).data.sendMail;
          const m3 = (await send(first.url, token, 'M3', 'crm-key-3')).data.sendMail;
          expect([m2.status, m3.status]).toEqual(['QUEUED', 'QUEUED']);
          // Agent 2, N1: Gmail stores the draft, but the drafts.create answer is parked until after the kill (crash
          // while
          // "creating"). Armed only now that M1 is parked past its own drafts.create, so N1's call is the one it
          // catches.
          const creating = await admin.addFault(committedAnswerLost('gmail', 'gmail.users.drafts.create'));
          const n1 = (await send(first.url, token2, 'N1')).data.sendMail;
          expect(n1.status).toBe('QUEUED');
          await admin.waitHeld(creating.id);
          const phases = await ds.query(
            'SELECT subject, phase FROM sent_mail WHERE subject IN (?, ?) ORDER BY subject',
            ['M1', 'N1'],
          );
          expect(phases.map((r: { subject: string; phase: string }) => [r.subject, r.phase])).toEqual([
            ['M1', 'sending'],
            ['N1', 'creating'],
          ]);

          await stopGateway(first, 'SIGKILL'); // both answers still parked: the process read neither
          expect((await admin.faults()).map((f) => [f.id, f.hits, f.held])).toEqual([
            [sending.id, 1, 1],
            [creating.id, 1, 1],
          ]);
          await admin.clearFaults();
          // Gmail has both: M1 went out, N1's draft is stored.
          expect((await admin.messages(agent)).map((m) => m.labelIds)).toEqual([['SENT']]);
          expect((await admin.messages(second)).map((m) => m.labelIds)).toEqual([['DRAFT']]);
          expect(await ds.getRepository(OutboxRow).count({ where: { topic: 'mail' } })).toBe(4);

          const again = await startGateway();
          try {
            // The CRM, unsure whether M3 went, sends it again with its key: the same Mail, not a second one.
            expect((await send(again.url, token, 'M3', 'crm-key-3')).data.sendMail.id).toBe(m3.id);
            await until(
              'no mail outbox row pending',
              () => ds.getRepository(OutboxRow).count({ where: { topic: 'mail', status: 'PENDING' } }),
              (n) => n === 0,
            );
            expect(await ds.getRepository(OutboxRow).find({ where: { topic: 'mail' } })).toEqual([]); // every row delivered, none failed
            const box = async (who: string) =>
              (await admin.messages(who))
                .map((m) => [
                  /^Subject: (.*)$/m.exec(Buffer.from(m.raw, 'base64url').toString('utf8'))?.[1].trim(),
                  m.labelIds.join(','),
                ])
                .sort();
            expect(await box(agent)).toEqual([
              ['M1', 'SENT'],
              ['M2', 'SENT'],
              ['M3', 'SENT'],
            ]);
            expect(await box(second)).toEqual([['N1', 'SENT']]); // N1's stored draft was found and sent: no copy, no stray draft
            const rows = await ds.query(
              'SELECT subject, status FROM sent_mail WHERE fromAddress IN (?, ?) ORDER BY subject',
              [agent, second],
            );
            expect(rows.map((r: { subject: string; status: string }) => [r.subject, r.status])).toEqual([
              ['M1', 'SENT'],
              ['M2', 'SENT'],
              ['M3', 'SENT'],
              ['N1', 'SENT'],
            ]);
            const log = await admin.requests({ api: 'gmail' });
            expect(
              log.filter((r) => r.method === 'gmail.users.drafts.send' && r.user === agent).map((r) => r.status),
            ).toEqual([0, 200, 200]);
            expect(
              log.filter((r) => r.method === 'gmail.users.drafts.create' && r.user === second).map((r) => r.status),
            ).toEqual([0]);
          } finally {
            await admin.clearFaults(); // after a failure: nothing parked may hold up the graceful stop
            await stopGateway(again, 'SIGTERM');
          }
        } finally {
          await admin.clearFaults();
          await stopGateway(first, 'SIGKILL'); // still running only when the test failed before the kill
          await ds.destroy();
        }
      }, 60_000);
    },
  );
}
