/**
 * Issue 14, the replica proof: three compiled gateway processes on one MariaDB and one emulator, 30 agents of 3
 * brokerages writing contacts, events and mail through all three while Google answers 503s, 429s with Retry-After
 * and resets after commit, one replica is SIGKILLed and started again, the database is killed and started again on
 * its data directory, and every replica is restarted in turn with SIGTERM.
 *
 * Then, from Google's side (the emulator's state and request log) and the database's:
 *  - every write the API answered (SYNCED, PENDING, QUEUED, true) is in Google exactly once, with its last answered
 *    change; a write whose answer was lost (the replica died, the database went away) is there at most once;
 *  - every mail, retried by the client with its idempotency key until answered, went out exactly once;
 *  - every outbox lane drained and no two processes worked one agent's lane at the same time;
 *  - while the database was away every replica said so: /readyz 503, /healthz 200, and every GraphQL answer a
 *    SERVICE_UNAVAILABLE with retryAfterSeconds (never INTERNAL_SERVER_ERROR); all recovered by itself.
 *
 * The load driver plays the load balancer: it sends each request to a replica it believes up, takes a replica out
 * before stopping it (and waits for the requests it has there to be answered: the preStop hook's job), and puts the
 * new process in once it listens. A SIGKILL is not announced: requests then in flight lose their answers.
 *
 * Nothing waits on a timer to win a race: each phase waits for a count of answered operations or for a state
 * (a process exited, /readyz answers, the outbox is empty). The database stays away for at least 5 s (the
 * scenario), and until the replicas have answered requests and probes during the outage.
 */
import * as mysql from 'mysql2/promise';
import type { DataSource } from 'typeorm';
import { openDatabase, type DatabaseConfig } from '../../src/db/data-source';
import { startEmulator, type RunningEmulator } from 'google-workspace-emulator';
import { EmulatorAdmin, type ArmedFault, type FaultSpec, type RequestLogEntry } from '../support/google';
import { findMariadbd, startMariaDb, type MariaDbInstance } from '../support/mariadb';
import {
  onboardThrough,
  processEnv,
  startGatewayProcess,
  stopGatewayProcess,
  type GatewayProcess,
} from '../support/processes';
import { until } from '../support/wait';

const mariadbd = findMariadbd();

const DOMAINS = ['north.test', 'south.test', 'west.test'];
const AGENTS_PER_DOMAIN = 10;
/** Google methods that carry an outbox lane's writes: what "working a lane" means in the request log. */
const LANE_WRITES: Record<string, 'contacts' | 'calendar' | 'mail'> = {
  'people.people.batchCreateContacts': 'contacts',
  'people.people.batchUpdateContacts': 'contacts',
  'people.people.batchDeleteContacts': 'contacts',
  'calendar.events.insert': 'calendar',
  'calendar.events.patch': 'calendar',
  'calendar.events.delete': 'calendar',
  'gmail.users.drafts.create': 'mail',
  'gmail.users.drafts.send': 'mail',
};

/** The faults armed at the start and again once the database is back (each `count` times). */
const FAULTS: FaultSpec[] = [
  { api: 'people', method: 'people.people.batchCreateContacts', status: 503, count: 4 },
  { api: 'people', method: 'people.people.batchCreateContacts', afterCommit: true, count: 3 },
  { api: 'people', method: 'people.people.batchUpdateContacts', status: 429, retryAfterSeconds: 1, count: 3 },
  { api: 'people', method: 'people.people.batchDeleteContacts', afterCommit: true, count: 2 },
  { api: 'calendar', method: 'calendar.events.insert', afterCommit: true, count: 3 },
  { api: 'calendar', method: 'calendar.events.insert', status: 503, count: 3 },
  { api: 'calendar', method: 'calendar.events.patch', status: 429, retryAfterSeconds: 1, count: 3 },
  { api: 'gmail', method: 'gmail.users.drafts.create', status: 503, count: 2 },
  { api: 'gmail', method: 'gmail.users.drafts.send', afterCommit: true, count: 3 },
  { api: 'gmail', method: 'gmail.users.drafts.send', status: 429, retryAfterSeconds: 1, count: 2 },
];

/** A small seeded PRNG (mulberry32): each agent's sequence of operations is the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Replica {
  name: string;
  proc: GatewayProcess;
  up: boolean;
  inFlight: number;
}

/** What became of one request. */
type Outcome =
  | { kind: 'answered'; body: any }
  | { kind: 'unavailable'; retryAfterSeconds: number } // SERVICE_UNAVAILABLE, typed as promised
  | { kind: 'lost' } // the connection broke after the request left: the answer is unknown
  | { kind: 'unexpected'; what: string };

interface Change {
  value: string;
  known: boolean;
}
interface Thing {
  name: string;
  /** The id the API answered; undefined when the create's answer was lost or refused. */
  id?: string;
  googleEventId?: string;
  created: 'yes' | 'maybe';
  changes: Change[];
  deleted?: 'yes' | 'maybe';
}

(mariadbd ? describe : describe.skip)(
  '[mariadb] three replicas on one database, under faults, kills and restarts',
  () => {
    let server: MariaDbInstance;
    let emu: RunningEmulator;
    let admin: EmulatorAdmin;
    let dbConfig: DatabaseConfig;
    let ds: DataSource;
    const env = processEnv({ SHUTDOWN_DRAIN_SECONDS: '10', OUTBOX_LEASE_MS: '1500' });
    // Shared with afterAll, which ends the load and the processes should the test fail or time out.
    const replicas: Replica[] = [];
    let stopping = false;
    const trace = process.env.REPLICAS_TRACE
      ? (m: string) => process.stderr.write(`[replicas ${new Date().toISOString()}] ${m}\n`)
      : () => undefined;

    beforeAll(async () => {
      server = await startMariaDb(mariadbd!);
      const c = await mysql.createConnection(server.url);
      await c.query('CREATE DATABASE engage CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci');
      await c.end();
      dbConfig = { kind: 'mysql', url: `${server.url}engage` };
      env.DATABASE_URL = dbConfig.url;
      emu = await startEmulator();
      admin = new EmulatorAdmin(emu.url);
      Object.assign(env, { GOOGLE_API_ROOT_URL: `${emu.url}/`, GOOGLE_TOKEN_URIS: `${emu.url}/token` });
    }, 60_000);
    afterAll(async () => {
      stopping = true;
      for (const r of replicas) await stopGatewayProcess(r.proc, 'SIGKILL');
      await ds?.destroy().catch(() => undefined);
      await emu?.close();
      await server?.stop();
    });

    test('every answered write reaches Google exactly once; lanes drain, one process at a time; the outage is typed', async () => {
      const startedAt = Date.now();
      const figures: string[] = [];
      const note = (line: string) => figures.push(line);

      // Three replicas start at once on an empty database: one runs the migrations, the others wait for its lock.
      replicas.push(
        ...(await Promise.all(
          ['r1', 'r2', 'r3'].map((name) =>
            startGatewayProcess(env).then((proc) => ({ name, proc, up: true, inFlight: 0 })),
          ),
        )),
      );
      trace('replicas up');
      ds = await openDatabase(dbConfig);
      const tokens: Record<string, string> = {};
      for (const [i, domain] of DOMAINS.entries()) {
        const users = Array.from({ length: AGENTS_PER_DOMAIN }, (_, k) => `agent${k}@${domain}`);
        Object.assign(tokens, await onboardThrough(admin, env, ds, replicas[i].proc.url, domain, users));
      }
      const agents = Object.keys(tokens);
      expect(agents).toHaveLength(30);
      await admin.clearRequests();
      const armed: ArmedFault[] = [];
      const arm = async () => {
        for (const f of FAULTS) armed.push(await admin.addFault(f));
      };
      await arm();

      // --- The load balancer and the client
      // ---------------------------------------------------------------------------
      let turn = 0;
      let phase = 'warm-up';
      const byPhase: Record<string, Record<string, number>> = {};
      const count = (what: string) => {
        const p = (byPhase[phase] ??= {});
        p[what] = (p[what] ?? 0) + 1;
      };
      const unexpected: string[] = [];
      let answered = 0;
      let outage = false;
      const outageAnswers: Array<{
        status: number;
        code?: string;
        retryAfterSeconds?: unknown;
        header: string | null;
      }> = [];

      /** One request through the balancer. A refused connection never reached a process: it goes to the next one. */
      async function send(token: string, query: string, variables?: unknown): Promise<Outcome> {
        for (let attempt = 0; attempt < 20; attempt++) {
          const live = replicas.filter((r) => r.up);
          if (!live.length) {
            await until(
              'a replica up',
              () => replicas.some((r) => r.up),
              (x) => x,
              30_000,
            );
            continue;
          }
          const r = live[turn++ % live.length];
          r.inFlight++;
          try {
            const res = await fetch(`${r.proc.url}/graphql`, {
              method: 'POST',
              headers: {
                'content-type': 'application/json',
                authorization: `Bearer ${token}`,
                'x-forwarded-proto': 'https',
              },
              body: JSON.stringify({ query, variables }),
              signal: AbortSignal.timeout(30_000),
            });
            const body = (await res.json()) as any;
            const err = body.errors?.[0];
            if (!err) {
              answered++;
              return { kind: 'answered', body };
            }
            const code = err.extensions?.code;
            if (outage)
              outageAnswers.push({
                status: res.status,
                code,
                retryAfterSeconds: err.extensions?.retryAfterSeconds,
                header: res.headers.get('retry-after'),
              });
            if (
              res.status === 503 &&
              code === 'SERVICE_UNAVAILABLE' &&
              typeof err.extensions?.retryAfterSeconds === 'number' &&
              res.headers.get('retry-after') === String(err.extensions.retryAfterSeconds)
            ) {
              return { kind: 'unavailable', retryAfterSeconds: err.extensions.retryAfterSeconds };
            }
            return { kind: 'unexpected', what: `${res.status} ${JSON.stringify(body.errors)} for ${query}` };
          } catch (e) {
            const cause = (e as { cause?: { code?: string } }).cause;
            if (cause?.code === 'ECONNREFUSED') continue; // the process is gone: the request never reached it
            if ((e as Error).name === 'TimeoutError')
              return { kind: 'unexpected', what: `no answer within 30 s from ${r.name} for ${query}` };
            return { kind: 'lost' };
          } finally {
            r.inFlight--;
          }
        }
        return { kind: 'unexpected', what: `no replica took ${query}` };
      }

      const CONTACT_CREATE = 'mutation ($i: ContactInput!) { createContact(input: $i) { id syncState } }';
      const CONTACT_UPDATE =
        'mutation ($id: ID!, $p: ContactPatch!) { updateContact(id: $id, input: $p) { syncState } }';
      const CONTACT_DELETE = 'mutation ($id: ID!) { deleteContact(id: $id) }';
      const EVENT_CREATE = 'mutation ($i: EventInput!) { createEvent(input: $i) { id googleEventId syncState } }';
      const EVENT_UPDATE = 'mutation ($id: ID!, $p: EventPatch!) { updateEvent(id: $id, input: $p) { syncState } }';
      const SEND_MAIL = 'mutation ($i: SendMailInput!) { sendMail(input: $i) { id status } }';
      const READ =
        '{ contacts(first: 5) { totalCount } events(from: "2026-12-01T00:00:00Z", to: "2027-01-01T00:00:00Z") { totalCount } }';

      interface AgentLog {
        contacts: Thing[];
        events: Thing[];
        mails: Map<string, string>;
      }
      const logs = new Map<string, AgentLog>(agents.map((a) => [a, { contacts: [], events: [], mails: new Map() }]));

      /** The outcome of a write as the client knows it. */
      const judge = (o: Outcome, ok: (body: any) => boolean, what: string): 'yes' | 'maybe' | 'no' => {
        if (o.kind === 'answered') {
          if (ok(o.body)) return 'yes';
          unexpected.push(`${what}: ${JSON.stringify(o.body)}`);
          return 'no';
        }
        if (o.kind === 'unexpected') {
          unexpected.push(`${what}: ${o.what}`);
          return 'maybe';
        }
        count(o.kind === 'lost' ? 'answers lost' : 'SERVICE_UNAVAILABLE');
        // SERVICE_UNAVAILABLE: the database refused or broke off; a commit it was given may still have landed.
        return 'maybe';
      };
      const pending = (s: string) => s === 'SYNCED' || s === 'PENDING';

      async function agentLoop(agent: string, index: number): Promise<void> {
        const rnd = prng(1000 + index);
        const log = logs.get(agent)!;
        const token = tokens[agent];
        const tag = agent.replace(/@.*/, '') + '.' + agent.split('@')[1].split('.')[0];
        let n = 0;
        const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)];
        while (!stopping) {
          n++;
          const roll = rnd();
          const liveContacts = log.contacts.filter((c) => c.id && !c.deleted);
          const liveEvents = log.events.filter((e) => e.id);
          if (roll < 0.22 || (roll < 0.45 && !liveContacts.length)) {
            const c: Thing = { name: `c-${tag}-${n}`, created: 'maybe', changes: [] };
            log.contacts.push(c);
            const o = await send(token, CONTACT_CREATE, { i: { givenName: c.name } });
            const v = judge(o, (b) => pending(b.data.createContact.syncState), `createContact ${c.name}`);
            if (v === 'yes') Object.assign(c, { id: (o as any).body.data.createContact.id, created: 'yes' });
            count(`createContact ${v}`);
          } else if (roll < 0.37) {
            const c = pick(liveContacts);
            const change: Change = { value: `f${n}`, known: false };
            const o = await send(token, CONTACT_UPDATE, { id: c.id, p: { familyName: change.value } });
            const v = judge(o, (b) => pending(b.data.updateContact.syncState), `updateContact ${c.name}`);
            if (v !== 'no') c.changes.push({ ...change, known: v === 'yes' });
            count(`updateContact ${v}`);
          } else if (roll < 0.45) {
            const c = pick(liveContacts);
            const o = await send(token, CONTACT_DELETE, { id: c.id });
            const v = judge(o, (b) => b.data.deleteContact === true, `deleteContact ${c.name}`);
            if (v !== 'no') c.deleted = v;
            count(`deleteContact ${v}`);
          } else if (roll < 0.62 || (roll < 0.74 && !liveEvents.length)) {
            const e: Thing = { name: `e-${tag}-${n}`, created: 'maybe', changes: [] };
            log.events.push(e);
            const day = 1 + (n % 28);
            const o = await send(token, EVENT_CREATE, {
              i: {
                title: e.name,
                start: `2026-12-${String(day).padStart(2, '0')}T10:00:00Z`,
                end: `2026-12-${String(day).padStart(2, '0')}T11:00:00Z`,
              },
            });
            const v = judge(o, (b) => pending(b.data.createEvent.syncState), `createEvent ${e.name}`);
            if (v === 'yes')
              Object.assign(e, {
                id: (o as any).body.data.createEvent.id,
                googleEventId: (o as any).body.data.createEvent.googleEventId,
                created: 'yes',
              });
            count(`createEvent ${v}`);
          } else if (roll < 0.74) {
            const e = pick(liveEvents);
            const change: Change = { value: `Room ${n}`, known: false };
            const o = await send(token, EVENT_UPDATE, { id: e.id, p: { location: change.value } });
            const v = judge(o, (b) => pending(b.data.updateEvent.syncState), `updateEvent ${e.name}`);
            if (v !== 'no') e.changes.push({ ...change, known: v === 'yes' });
            count(`updateEvent ${v}`);
          } else if (roll < 0.9) {
            // A mail is sent with an idempotency key and, when the answer is lost or refused, sent again with it until
            // one is answered: what the key is for.
            const key = `${tag}-m${n}`;
            const subject = `Mail ${key}`;
            for (;;) {
              const o = await send(token, SEND_MAIL, {
                i: { to: ['client@buyers.test'], subject, text: `Hello from ${agent}`, idempotencyKey: key },
              });
              const v = judge(o, (b) => ['SENT', 'QUEUED'].includes(b.data.sendMail.status), `sendMail ${key}`);
              count(`sendMail ${v}`);
              if (v === 'yes') {
                log.mails.set(key, subject);
                break;
              }
              if (v === 'no' || o.kind === 'unexpected') break;
              // Honour Retry-After (capped, to keep the run short); a lost answer is retried at once.
              if (o.kind === 'unavailable')
                await new Promise((r) => setTimeout(r, Math.min(o.retryAfterSeconds, 1) * 1000));
            }
          } else {
            const o = await send(token, READ);
            count(`read ${o.kind === 'answered' ? 'answered' : o.kind}`);
            if (o.kind === 'unexpected') unexpected.push(`read: ${o.what}`);
          }
          // A client's think time between operations: it spreads the load over the run (no outcome depends on it).
          await new Promise((r) => setTimeout(r, 20 + Math.floor(rnd() * 60)));
        }
      }

      const driver = Promise.all(agents.map((a, i) => agentLoop(a, i)));
      const afterMore = async (what: string, more: number) => {
        const target = answered + more;
        trace(`${what}: waiting for ${more} more answers (${answered} so far)`);
        await until(
          what,
          () => answered,
          (n) => n >= target,
          60_000,
        );
      };
      /** A probe's status; a probe that hangs is a failure (5 s, as a kubelet's timeout would be). */
      const probe = async (r: Replica, path: string) =>
        (await fetch(`${r.proc.url}${path}`, { signal: AbortSignal.timeout(5000) })).status;
      const outOfRotation = async (r: Replica) => {
        r.up = false;
        await until(
          `${r.name} has no request of ours left`,
          () => r.inFlight,
          (n) => n === 0,
        );
      };
      const replace = async (r: Replica) => {
        r.proc = await startGatewayProcess(env);
        r.up = true;
      };

      try {
        await afterMore('warm-up', 150);

        // 1. A replica dies without warning (SIGKILL): its answers in flight are lost, its leases expire.
        phase = 'SIGKILL';
        trace(`phase: ${phase}`);
        const victim = replicas[1];
        await stopGatewayProcess(victim.proc, 'SIGKILL');
        victim.up = false; // the balancer's health check notices
        await afterMore('load on two replicas', 100);
        await replace(victim);
        note(`SIGKILL: ${victim.name} killed and started again`);

        // 2. The database is killed and started again on its data directory.
        await afterMore('load after the SIGKILL', 100);
        phase = 'database away';
        trace(`phase: ${phase}`);
        const outageFrom = Date.now();
        await server.kill();
        outage = true;
        for (const r of replicas) {
          await until(
            `${r.name} /readyz 503`,
            async () => await probe(r, '/readyz'),
            (s) => s === 503,
            10_000,
          );
          expect(await probe(r, '/healthz')).toBe(200);
        }
        await until(
          '30 requests answered during the outage',
          () => outageAnswers.length,
          (n) => n >= 30,
          20_000,
        );
        const elapsed = Date.now() - outageFrom;
        if (elapsed < 5000) await new Promise((r) => setTimeout(r, 5000 - elapsed)); // the scenario: away for ~5 s
        await server.restart();
        const outageMs = Date.now() - outageFrom;
        for (const r of replicas)
          await until(
            `${r.name} /readyz 200 again`,
            async () => await probe(r, '/readyz'),
            (s) => s === 200,
            30_000,
          );
        outage = false;
        phase = 'database back';
        trace(`phase: ${phase}`);
        note(
          `database away ${(outageMs / 1000).toFixed(1)} s: ${outageAnswers.length} GraphQL answers meanwhile, every replica /readyz 503 and /healthz 200`,
        );
        await arm();
        await afterMore('load after the outage', 150);

        // 3. A rolling restart: each replica out of rotation, SIGTERM (it drains), a new process in its place.
        phase = 'rolling restart';
        trace(`phase: ${phase}`);
        for (const r of replicas) {
          await outOfRotation(r);
          expect(await stopGatewayProcess(r.proc, 'SIGTERM')).toBe(0);
          await replace(r);
          await afterMore(`load after restarting ${r.name}`, 40);
        }
        phase = 'after';
        trace(`phase: ${phase}`);
        await afterMore('load after the rolling restart', 60);
      } finally {
        stopping = true;
        await driver;
      }

      // --- Drain
      // -------------------------------------------------------------------------------------------------------
      trace('load stopped; draining');
      const drainFrom = Date.now();
      await until(
        'every outbox lane drained',
        async () => Number((await ds.query('SELECT COUNT(*) AS n FROM outbox'))[0].n),
        (n) => n === 0,
        60_000,
      );
      const drainMs = Date.now() - drainFrom;

      // --- Verify
      // ------------------------------------------------------------------------------------------------------
      expect(unexpected).toEqual([]);
      expect(
        outageAnswers.filter(
          (a) =>
            !(
              a.status === 503 &&
              a.code === 'SERVICE_UNAVAILABLE' &&
              typeof a.retryAfterSeconds === 'number' &&
              a.header === String(a.retryAfterSeconds)
            ),
        ),
      ).toEqual([]);
      expect(outageAnswers.length).toBeGreaterThanOrEqual(30);
      // The lost answers came from the SIGKILL only: draining replicas answer everything they took.
      expect(byPhase['rolling restart']?.['answers lost'] ?? 0).toBe(0);

      const problems: string[] = [];
      /** What the client knows of a contact or event: for a failure's message. */
      const hist = (t: Thing) =>
        ` (created ${t.created}, changes ${JSON.stringify(t.changes.map((c) => `${c.value}${c.known ? '' : '?'}`))}, deleted ${t.deleted ?? 'no'})`;
      /**
       * The values a field may finally have: the last answered change, or any change after it whose answer was lost.
       */
      const finalValues = (t: Thing, initial: string | undefined) => {
        const lastKnown = t.changes.map((c) => c.known).lastIndexOf(true);
        return [
          lastKnown >= 0 ? t.changes[lastKnown].value : initial,
          ...t.changes.slice(lastKnown + 1).map((c) => c.value),
        ];
      };
      let contactsInGoogle = 0;
      let eventsInGoogle = 0;
      let mailsSent = 0;
      for (const agent of agents) {
        const log = logs.get(agent)!;
        const people = (
          await admin.request<
            Array<{
              resourceName: string;
              names?: Array<{ givenName?: string; familyName?: string }>;
              clientData?: Array<{ key: string; value: string }>;
            }>
          >('GET', `/users/${agent}/contacts`)
        ).body;
        contactsInGoogle += people.length;
        const named = new Map<string, typeof people>();
        for (const p of people)
          named.set(p.names?.[0]?.givenName ?? '', [...(named.get(p.names?.[0]?.givenName ?? '') ?? []), p]);
        for (const name of named.keys())
          if (!log.contacts.some((c) => c.name === name))
            problems.push(`${agent}: contact "${name}" in Google was never written`);
        for (const c of log.contacts) {
          const copies = named.get(c.name) ?? [];
          if (copies.length > 1)
            problems.push(`${agent}: contact ${c.name} is in Google ${copies.length} times${hist(c)}`);
          const mustExist = c.created === 'yes' && !c.deleted;
          if (mustExist && copies.length !== 1)
            problems.push(`${agent}: answered contact ${c.name} is in Google ${copies.length} times${hist(c)}`);
          if (c.deleted === 'yes' && copies.length)
            problems.push(`${agent}: deleted contact ${c.name} is still in Google${hist(c)}`);
          if (copies.length === 1 && c.id) {
            const p = copies[0];
            const carried = p.clientData?.find((d) => d.key === 'engageContactId')?.value;
            if (carried !== c.id)
              problems.push(
                `${agent}: contact ${c.name} in Google carries our id ${carried}, answered ${c.id}${hist(c)}`,
              );
            const family = p.names?.[0]?.familyName;
            if (!c.deleted && !finalValues(c, undefined).includes(family))
              problems.push(
                `${agent}: contact ${c.name} ends as "${family}", expected one of ${JSON.stringify(finalValues(c, undefined))}${hist(c)}`,
              );
          }
        }

        const events = (
          await admin.request<Array<{ id: string; summary?: string; location?: string; status: string }>>(
            'GET',
            `/users/${agent}/events`,
          )
        ).body.filter((e) => e.status !== 'cancelled');
        eventsInGoogle += events.length;
        for (const ev of events)
          if (!log.events.some((e) => e.name === ev.summary))
            problems.push(`${agent}: event "${ev.summary}" in Google was never written`);
        for (const e of log.events) {
          const copies = events.filter((x) => x.summary === e.name);
          if (copies.length > 1)
            problems.push(`${agent}: event ${e.name} is in Google ${copies.length} times${hist(e)}`);
          if (e.created === 'yes' && copies.length !== 1)
            problems.push(`${agent}: answered event ${e.name} is in Google ${copies.length} times${hist(e)}`);
          if (copies.length === 1 && e.googleEventId && copies[0].id !== e.googleEventId)
            problems.push(
              `${agent}: event ${e.name} has id ${copies[0].id} in Google, answered ${e.googleEventId}${hist(e)}`,
            );
          if (copies.length === 1 && !finalValues(e, undefined).includes(copies[0].location))
            problems.push(
              `${agent}: event ${e.name} ends at "${copies[0].location}", expected one of ${JSON.stringify(finalValues(e, undefined))}${hist(e)}`,
            );
        }

        const box = (await admin.messages(agent)).map((m) => ({
          labels: m.labelIds.join(','),
          subject: /^Subject: (.*)$/m.exec(Buffer.from(m.raw, 'base64url').toString('utf8'))?.[1].trim(),
        }));
        mailsSent += box.length;
        const subjects = box.map((m) => m.subject).sort();
        const expected = [...log.mails.values()].sort();
        if (JSON.stringify(subjects) !== JSON.stringify(expected))
          problems.push(`${agent}: mailbox has ${JSON.stringify(subjects)}, answered ${JSON.stringify(expected)}`);
        for (const m of box)
          if (m.labels !== 'SENT') problems.push(`${agent}: message "${m.subject}" is ${m.labels}, not SENT`);
      }
      expect(problems).toEqual([]);
      // And the database says the same: every live contact and every event SYNCED with no conflict recorded (no write
      // of ours taken for someone else's edit), every accepted mail SENT.
      const states = async (sql: string) =>
        (await ds.query(sql)).map((r: Record<string, unknown>) => Object.values(r).map(String).join(' '));
      expect(
        await states(
          "SELECT syncState, COUNT(*) AS n FROM contact WHERE deletedAt IS NULL AND (syncState <> 'SYNCED' OR conflicts IS NOT NULL) GROUP BY syncState",
        ),
      ).toEqual([]);
      expect(
        await states(
          "SELECT syncState, COUNT(*) AS n FROM calendar_event WHERE syncState <> 'SYNCED' OR conflicts IS NOT NULL OR pendingOp IS NOT NULL GROUP BY syncState",
        ),
      ).toEqual([]);
      expect(
        await states("SELECT status, COUNT(*) AS n FROM sent_mail WHERE status <> 'SENT' GROUP BY status"),
      ).toEqual([]);

      // No two processes worked one lane at once: per (agent, lane), the write calls of different processes never
      // overlap (a call runs from when Google received it until it answered or the connection dropped).
      const log = await admin.requests();
      // none dropped by the log's bound
      expect(log.length).toBeLessThan((await admin.putSettings({})).requestLogMaxEntries);
      const instance = (e: RequestLogEntry) => /^engage-gateway\/\S+ \(([^)]+)\)/.exec(e.userAgent ?? '')?.[1];
      const laneCalls = new Map<string, RequestLogEntry[]>();
      for (const e of log) {
        const topic = LANE_WRITES[e.method];
        if (!topic || !e.user) continue;
        expect(instance(e)).toBeDefined();
        laneCalls.set(`${topic}:${e.user}`, [...(laneCalls.get(`${topic}:${e.user}`) ?? []), e]);
      }
      const overlaps: string[] = [];
      let callsChecked = 0;
      for (const [lane, calls] of laneCalls) {
        calls.sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
        callsChecked += calls.length;
        for (let i = 0; i < calls.length; i++) {
          for (let j = 0; j < i; j++) {
            if (instance(calls[j]) !== instance(calls[i]) && Date.parse(calls[j].at) > Date.parse(calls[i].startedAt)) {
              overlaps.push(
                `${lane}: ${calls[j].method} by ${instance(calls[j])} (${calls[j].startedAt}–${calls[j].at}) and ${calls[i].method} by ${instance(calls[i])} (from ${calls[i].startedAt})`,
              );
            }
          }
        }
      }
      expect(overlaps).toEqual([]);
      const processes = new Set(log.map(instance).filter(Boolean));
      // 3 first + the SIGKILLed one's successor + 3 after the rolling restart
      expect(processes.size).toBeGreaterThanOrEqual(7);

      // Every fault fired.
      const faults = await admin.faults();
      expect(
        faults
          .filter((f) => f.hits < (f.count ?? 1))
          .map((f) => `${f.method} ${f.status ?? 'reset after commit'}: ${f.hits}/${f.count}`),
      ).toEqual([]);

      // --- Figures
      // -----------------------------------------------------------------------------------------------------
      const totals: Record<string, number> = {};
      for (const p of Object.values(byPhase)) for (const [k, v] of Object.entries(p)) totals[k] = (totals[k] ?? 0) + v;
      const injected: Record<string, number> = {};
      for (const f of faults) {
        const k = `${f.method} ${f.status ?? 'reset after commit'}${f.retryAfterSeconds ? ` (Retry-After ${f.retryAfterSeconds})` : ''}`;
        injected[k] = (injected[k] ?? 0) + f.hits;
      }
      console.log(
        [
          `replica proof: ${agents.length} agents, 3 brokerages, 3 replicas on one MariaDB; ${((Date.now() - startedAt) / 1000).toFixed(1)} s in all`,
          `operations: ${Object.entries(totals)
            .sort()
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')}`,
          `by phase: ${Object.entries(byPhase)
            .map(([p, c]) => `${p}: ${Object.values(c).reduce((a, b) => a + b, 0)}`)
            .join('; ')}`,
          `faults injected: ${Object.values(injected).reduce((a, b) => a + b, 0)} (${Object.entries(injected)
            .map(([k, v]) => `${k} ×${v}`)
            .join(', ')})`,
          ...figures,
          `time to drain after the load stopped: ${(drainMs / 1000).toFixed(1)} s`,
          `in Google: ${contactsInGoogle} contacts, ${eventsInGoogle} events, ${mailsSent} mails; ${callsChecked} lane write calls over ${laneCalls.size} lanes by ${processes.size} processes, no overlap`,
        ].join('\n'),
      );
    }, 240_000);
  },
);
