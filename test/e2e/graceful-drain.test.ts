/**
 * Issue 14, graceful shutdown: on SIGTERM a replica turns /readyz to 503 at once, answers every request it already
 * has, stops taking outbox lanes, finishes the delivery under way and releases the lanes it holds, then closes the
 * database and exits 0. Another replica then delivers what was left in the lane at once: the lease is 60 s here, so
 * without the release nothing would move before the test's wait ends.
 *
 * No step races the clock: the first delivery is parked at the emulator (a hold fault) while the other writes queue
 * behind it and the SIGTERM arrives; it is released only once the replica is draining.
 */
import { openDatabase, type DatabaseConfig } from '../../src/db/data-source';
import { OutboxLease } from '../../src/entities';
import { mariaDbAvailable, type Dialect } from '../support/db';
import type { EmulatorAdmin } from '../support/google';
import {
  gqlAt,
  onboardThrough,
  processBench,
  processEnv,
  startGatewayProcess,
  stopGatewayProcess,
  type ProcessBench,
  type GatewayProcess,
} from '../support/processes';
import { until } from '../support/wait';

const AGENT = 'agent@alpha.test';

for (const dialect of ['sqlite', 'mariadb'] as Dialect[]) {
  (dialect === 'mariadb' && !mariaDbAvailable() ? describe.skip : describe)(
    `[${dialect}] SIGTERM drains a replica`,
    () => {
      let bench: ProcessBench;
      let admin: EmulatorAdmin;
      let dbConfig: DatabaseConfig;
      // A long lease: a lane the stopping replica did not release would stay blocked for the whole test.
      const env = processEnv({ OUTBOX_LEASE_MS: '60000', MUTATION_WAIT_MS: '20000', SHUTDOWN_DRAIN_SECONDS: '30' });

      beforeAll(async () => {
        bench = await processBench(dialect, env);
        ({ admin, dbConfig } = bench);
      });
      afterAll(() => bench.close());

      test('readyz 503 at once, every request answered, the held lane released and delivered by the other replica, exit 0', async () => {
        const a = await startGatewayProcess(env);
        let b: GatewayProcess | undefined;
        const ds = await openDatabase(dbConfig);
        try {
          const token = (await onboardThrough(admin, env, ds, a.url, 'alpha.test', [AGENT]))[AGENT];
          // The first write's delivery (by A, which took the lane) is parked at Google; four more queue behind it.
          const parked = await admin.addFault({
            api: 'people',
            method: 'people.people.batchCreateContacts',
            hold: 'call',
          });
          const first = gqlAt(a.url, 'mutation { createContact(input: { givenName: "First" }) { syncState } }', token);
          await admin.waitHeld(parked.id);
          b = await startGatewayProcess(env); // only now: the lane is A's
          const leaseOf = async () => (await ds.getRepository(OutboxLease).find()).map((l) => l.owner);
          const [owner] = await leaseOf();
          const queued = ['Q1', 'Q2', 'Q3', 'Q4'].map((n) =>
            gqlAt(a.url, `mutation { createContact(input: { givenName: "${n}" }) { syncState } }`, token),
          );
          await until(
            'the four writes queued',
            async () => (await ds.query("SELECT COUNT(*) AS n FROM outbox WHERE status = 'PENDING'"))[0].n,
            (n) => Number(n) === 5,
          );

          const exited = stopGatewayProcess(a, 'SIGTERM');
          await until(
            'A not ready',
            async () => (await fetch(`${a.url}/readyz`).catch(() => null))?.status,
            (s) => s === 503,
          );
          expect((await fetch(`${a.url}/healthz`)).status).toBe(200);
          await admin.release(parked.id); // A finishes the delivery under way, and then stops

          const answers = await Promise.all([first, ...queued]);
          expect(
            answers.map((r) => [
              r.errors,
              r.data?.createContact?.syncState === 'SYNCED' || r.data?.createContact?.syncState === 'PENDING',
            ]),
          ).toEqual(answers.map(() => [undefined, true]));
          expect(await exited).toBe(0);
          expect(await leaseOf()).not.toContain(owner); // released, not left to expire

          // B takes the lane well before A's 60 s lease could have expired.
          await until(
            'all five in Google',
            async () =>
              (await admin.request<any[]>('GET', `/users/${AGENT}/contacts`)).body
                .map((p) => p.names[0].givenName)
                .sort(),
            (n) => n.length === 5,
            20_000,
          );
          expect(
            (await admin.request<any[]>('GET', `/users/${AGENT}/contacts`)).body
              .map((p) => p.names[0].givenName)
              .sort(),
          ).toEqual(['First', 'Q1', 'Q2', 'Q3', 'Q4']);
          await until(
            'nothing pending',
            async () => Number((await ds.query("SELECT COUNT(*) AS n FROM outbox WHERE status = 'PENDING'"))[0].n),
            (n) => n === 0,
          );
        } finally {
          await admin.clearFaults();
          await stopGatewayProcess(a, 'SIGKILL');
          if (b) await stopGatewayProcess(b, 'SIGTERM');
          await ds.destroy();
        }
      }, 60_000);

      test('requests under way on a replica that holds no lane are answered, not cut: the drain waits for them', async () => {
        const b = await startGatewayProcess(env);
        let a: GatewayProcess | undefined;
        const ds = await openDatabase(dbConfig);
        try {
          const token = (await onboardThrough(admin, env, ds, b.url, 'beta.test', ['agent@beta.test']))[
            'agent@beta.test'
          ];
          // B takes the agent's lane and its delivery is parked; A only accepts writes that queue behind it.
          const parked = await admin.addFault({
            api: 'people',
            method: 'people.people.batchCreateContacts',
            hold: 'call',
          });
          const viaB = gqlAt(b.url, 'mutation { createContact(input: { givenName: "Via B" }) { syncState } }', token);
          await admin.waitHeld(parked.id);
          a = await startGatewayProcess(env);
          const viaA = ['A1', 'A2', 'A3'].map((n) =>
            gqlAt(a!.url, `mutation { createContact(input: { givenName: "${n}" }) { syncState } }`, token),
          );
          await until(
            'the writes through A queued',
            async () => Number((await ds.query("SELECT COUNT(*) AS n FROM outbox WHERE status = 'PENDING'"))[0].n),
            (n) => n === 4,
          );

          const exited = stopGatewayProcess(a, 'SIGTERM'); // A holds no lane: nothing of the outbox keeps it up
          await until(
            'A not ready',
            async () => (await fetch(`${a!.url}/readyz`).catch(() => null))?.status,
            (s) => s === 503 || s === undefined,
          );
          await admin.release(parked.id);
          const answers = await Promise.all([viaB, ...viaA]);
          expect(answers.map((r) => r.errors ?? r.data.createContact.syncState)).toEqual(
            answers.map(() => expect.stringMatching(/^(SYNCED|PENDING)$/)),
          );
          expect(await exited).toBe(0);
          await until(
            'all four in Google',
            async () => (await admin.request<any[]>('GET', '/users/agent@beta.test/contacts')).body.length,
            (n) => n === 4,
            20_000,
          );
        } catch (err) {
          throw new Error(`${(err as Error).message}\n--- A printed:\n${a?.output() ?? ''}`, { cause: err });
        } finally {
          await admin.clearFaults();
          if (a) await stopGatewayProcess(a, 'SIGKILL');
          await stopGatewayProcess(b, 'SIGTERM');
          await ds.destroy();
        }
      }, 60_000);
    },
  );
}
