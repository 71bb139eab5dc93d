/**
 * `npm run bench -- scale`: the gateway with many agents, on MariaDB, run as in production (bench/http/processes.ts):
 * its own process, NODE_ENV=production, the emulator in another, a private MariaDB server. At the default sizes it
 * takes 9 to 11 minutes on a shared 2-core machine, 7 to 8½ of them the seeding of part 2 (1 M contacts are 27 M rows
 * with their email and search index rows); fewer contacts per agent shorten that in proportion.
 *
 * 1. Memory: one brokerage of BENCH_AGENTS agents, each with 5 contacts in Google, reading `contacts(first: 5)` twice
 *    (20 requests at a time); the gateway's RSS idle, at its peak during each round (sampled every 100 ms) and after,
 *    and the Google calls the rounds cost (the emulator's request log). Target: under 200 MB with 1,000 agents active.
 * 2. Seeding: BENCH_CONTACTS_PER_AGENT contacts for each agent written straight into MariaDB as a first full sync
 *    leaves them, with their email index and search index (contact_search_token) rows, and sync records saying the
 *    mirror is fresh and indexed (bench/scale/seed.ts: the rows are made by the gateway's compiled code and streamed
 *    with LOAD DATA, one transaction per agent, BENCH_SEED_WORKERS agents at a time, MariaDB on both cores meanwhile;
 *    BENCH_SEED_DEFER_INDEXES=1 builds the token table's secondary index after the rows rather than row by row); the
 *    rate in rows/s, the database time per table, the tables' sizes. The gateway runs with
 *    CONTACTS_FRESHNESS_SECONDS=3600, so reads of the seeded mirrors do not call Google (the output counts them). The
 *    MariaDB server is given an InnoDB buffer pool of BENCH_INNODB_BUFFER_POOL_MB and 1 GiB of redo log first.
 * 3. Pages at that size: `contacts(first: 50)`, a page half-way down (`after`), and searches by family name (~1% of an
 *    agent's contacts), by a 4-digit phone tail (one contact) and by a 3-letter prefix, each BENCH_LATENCY_REQUESTS
 *    times for random agents, BENCH_LATENCY_CONCURRENCY in flight: p50/p99. Every answer is checked (no errors, the
 *    number of contacts the search must find). Then the SQL the gateway ran for a family-name search (MariaDB's
 *    general log) with its EXPLAIN (and ANALYZE's r_rows).
 * 4. Initial import: an agent whose Google account holds BENCH_IMPORT_CONTACTS contacts reads `contacts(first: 50)`
 *    for the first time; from the request to its answer (the import is then complete: counted in MariaDB, and
 *    syncStatus says so), in contacts/s, with the Google calls it took.
 * 5. Outbox: BENCH_OUTBOX_CREATES `createContact` over BENCH_OUTBOX_AGENTS agents, 20 at a time, through the gateway
 *    with production's outbox settings; until the outbox is empty and Google holds them all: deliveries/s.
 * 6. Events: BENCH_EVENTS_PER_AGENT events this month in each agent's calendar (the emulator's admin API), whose
 *    attendees are the agent's contacts; `events(from, to)` of the month for every agent, first read (from Google)
 *    and again (cached; CALENDAR_CACHE_SECONDS=600), p50/p99 and the Calendar calls.
 * 7. The gateway's RSS after all of it, its peak, and the peak and length of each part.
 *
 * Sizes (environment, defaults in brackets): BENCH_AGENTS (1000), BENCH_CONTACTS_PER_AGENT (1000; 0 stops after part
 * 1, at least 200 otherwise), BENCH_SEED_WORKERS (3), BENCH_SEED_DEFER_INDEXES (1), BENCH_LATENCY_REQUESTS (300 per
 * kind), BENCH_LATENCY_CONCURRENCY (10), BENCH_IMPORT_CONTACTS (10000), BENCH_OUTBOX_CREATES (1000),
 * BENCH_OUTBOX_AGENTS (100), BENCH_EVENTS_PER_AGENT (20), BENCH_INNODB_BUFFER_POOL_MB (4096; 0 keeps the server's).
 * For development: BENCH_AGENTS=50 BENCH_CONTACTS_PER_AGENT=200.
 *
 * What holds the memory: BENCH_HEAP_SNAPSHOTS=dir writes a heap snapshot of the gateway (node's --heapsnapshot-signal)
 * into dir after the rounds and after each part, named after it; `node dist-bench/bench/scale/heap-summary.js file`
 * sums one by constructor. BENCH_GATEWAY_FLAGS adds node flags to the gateway's (e.g. --trace-gc), BENCH_GATEWAY_ENV
 * variables to its environment (`NAME=value …`; `NAME=` takes one away, e.g. `MALLOC_ARENA_MAX=` for glibc's own arenas
 * rather than the image's two). Writing a snapshot takes memory of its own: RSS figures of such a run are not the
 * gateway's.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { EmulatorAdmin } from 'google-workspace-emulator/testing';
import { SEARCH_TOKENS_VERSION } from '../src/contacts/contact-search';
import { fieldsFromPerson, searchTextOf } from '../src/contacts/person.mapper';
import { loadConfig, loadDatabaseConfig } from '../src/config';
import { openDatabase } from '../src/db/data-source';
import {
  freshDatabase,
  gatewayEnv,
  gql,
  onboard,
  pin,
  startEmulatorProcess,
  startGateway,
  stopMariaDb,
} from './http/processes';
import { initialImport, monthOfEvents, outboxThroughput, pagesAndSearches, type World } from './scale/phases';
import { seedContacts, type SeedAgent } from './scale/seed';
import type { BenchResult } from './support';

const size = (name: string, def: number) => {
  const v = Number(process.env[name] ?? def);
  if (!Number.isInteger(v) || v < 0) throw new Error(`${name} must be a whole number (got "${process.env[name]}")`);
  return v;
};
const AGENTS = size('BENCH_AGENTS', 1000);
const CONTACTS_PER_AGENT = size('BENCH_CONTACTS_PER_AGENT', 1000);
const SEED_WORKERS = Math.max(1, size('BENCH_SEED_WORKERS', 3));
const DEFER_INDEXES = size('BENCH_SEED_DEFER_INDEXES', 1) === 1;
const LATENCY_REQUESTS = Math.max(1, size('BENCH_LATENCY_REQUESTS', 300));
const LATENCY_CONCURRENCY = Math.max(1, size('BENCH_LATENCY_CONCURRENCY', 10));
const IMPORT_CONTACTS = Math.max(51, size('BENCH_IMPORT_CONTACTS', 10_000));
const OUTBOX_CREATES = size('BENCH_OUTBOX_CREATES', 1000);
const OUTBOX_AGENTS = Math.max(1, Math.min(AGENTS, size('BENCH_OUTBOX_AGENTS', 100)));
const EVENTS_PER_AGENT = Math.min(100, size('BENCH_EVENTS_PER_AGENT', 20));
const BUFFER_POOL_MB = size('BENCH_INNODB_BUFFER_POOL_MB', 4096);
const SNAPSHOTS = process.env.BENCH_HEAP_SNAPSHOTS;
const CONCURRENCY = 20;
const FRESHNESS_SECONDS = 3600;
const CALENDAR_CACHE_SECONDS = 600;

/** The gateway's heap as its /metrics tells it: used of total, the new space's, and external memory, in MiB. */
async function heapOf(url: string): Promise<string> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const mib = (pattern: string) => {
    const m = new RegExp(`^${pattern} (\\S+)$`, 'm').exec(text);
    return m ? (Number(m[1]) / 1048576).toFixed(1) : '?';
  };
  return (
    `${mib('nodejs_heap_size_used_bytes')}/${mib('nodejs_heap_size_total_bytes')} ` +
    `(${mib('nodejs_heap_space_size_used_bytes\\{space="new"\\}')}/` +
    `${mib('nodejs_heap_space_size_total_bytes\\{space="new"\\}')}; ${mib('nodejs_external_memory_bytes')})`
  );
}

async function eachAgent(emails: string[], work: (email: string) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < emails.length) await work(emails[next++]);
    }),
  );
}

/** The contacts each agent has in Google before the rounds (5, made from its address). */
const ownContacts = (u: string) =>
  Array.from({ length: 5 }, (_, i) => ({
    names: [{ givenName: `C${i}`, familyName: u }],
    emailAddresses: [{ value: `c${i}.${u}` }],
  }));

export async function benchScale(): Promise<BenchResult> {
  if (CONTACTS_PER_AGENT > 0 && CONTACTS_PER_AGENT < 200)
    throw new Error('BENCH_CONTACTS_PER_AGENT must be 0 or at least 200 (pages half-way down, searches)');
  const figures: Record<string, string> = {};
  const db = await freshDatabase('mariadb');
  if (!db) return { name: 'scale', figures: { skipped: 'mariadbd not found (apt-get install -y mariadb-server)' } };
  const emu = await startEmulatorProcess();
  const env = gatewayEnv(emu.url, db, {
    CONTACTS_FRESHNESS_SECONDS: String(FRESHNESS_SECONDS),
    CALENDAR_CACHE_SECONDS: String(CALENDAR_CACHE_SECONDS),
  });
  if (SNAPSHOTS) mkdirSync(SNAPSHOTS, { recursive: true });
  const gw = await startGateway(env, [
    ...(SNAPSHOTS ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${SNAPSHOTS}`] : []),
    ...(process.env.BENCH_GATEWAY_FLAGS?.split(/\s+/).filter(Boolean) ?? []),
  ]);
  /** A heap snapshot of the gateway as it is now, as SNAPSHOTS/<name>.heapsnapshot. */
  const snapshot = async (name: string, token: string) => {
    if (!SNAPSHOTS) return;
    const had = new Set(readdirSync(SNAPSHOTS));
    gw.child.kill('SIGUSR2');
    // Node writes the snapshot on its main thread: once the gateway answers again, the file is whole.
    let file: string | undefined;
    for (let waited = 0; !file; waited += 200) {
      if (gw.child.exitCode !== null || waited > 600_000)
        throw new Error(`no heap snapshot after ${waited} ms (gateway exit code ${gw.child.exitCode})`);
      await new Promise((r) => setTimeout(r, 200));
      file = readdirSync(SNAPSHOTS).find((f) => f.endsWith('.heapsnapshot') && !had.has(f));
    }
    await gql(gw.url, token, '{ me { id } }');
    renameSync(join(SNAPSHOTS, file), join(SNAPSHOTS, `${name}.heapsnapshot`));
  };
  let ds: Awaited<ReturnType<typeof openDatabase>> | undefined;
  try {
    figures['gateway started with'] = gw.runsWith();
    const users = Array.from({ length: AGENTS }, (_, i) => `agent${i}@scale.test`);
    const importer = 'importer@scale.test';
    const admin = new EmulatorAdmin(emu.url);
    const { tokens } = await onboard(gw.url, emu.url, env, 'scale.test', [...users, importer]);
    // Every agent has a few contacts in Google, so a first read imports something.
    await eachAgent(users, (u) => admin.request('POST', `/users/${u}/contacts`, ownContacts(u)));
    await admin.clearRequests();
    figures['gateway RSS idle (after onboarding)'] = `${gw.rssMiB()} MiB`;
    for (const round of [1, 2]) {
      let peak = 0;
      const sampler = setInterval(() => (peak = Math.max(peak, gw.rssMiB())), 100);
      try {
        await eachAgent(users, async (u) => {
          const data = await gql(gw.url, tokens[u], '{ contacts(first: 5) { edges { node { id displayName } } } }');
          if (data.contacts.edges.length !== 5) throw new Error(`${u} read ${data.contacts.edges.length} contacts`);
        });
      } catch (err) {
        throw new Error(`round ${round} failed; the gateway's last output:\n${gw.output().slice(-3000)}`, {
          cause: err,
        });
      } finally {
        clearInterval(sampler);
      }
      peak = Math.max(peak, gw.rssMiB());
      figures[`round ${round}: ${AGENTS} agents read contacts(first: 5)`] =
        `peak RSS ${peak} MiB, after ${gw.rssMiB()} MiB`;
    }
    const log = await admin.requests();
    const byMethod = new Map<string, number>();
    for (const r of log) byMethod.set(r.method, (byMethod.get(r.method) ?? 0) + 1);
    figures['Google calls for both rounds'] = [...byMethod].map(([m, n]) => `${n} ${m}`).join(', ');
    figures.target = `RSS under 200 MB with ${AGENTS} agents active`;
    await snapshot('rounds', tokens[users[0]]);
    if (CONTACTS_PER_AGENT === 0) return { name: `scale: ${AGENTS} agents on MariaDB, production mode`, figures };

    // The RSS of the parts below: the peak of each, sampled every 100 ms; and the heap after each (the gateway's
    // /metrics, prom-client's process metrics; "used" is read without a collection, so it counts garbage too): how
    // much of RSS is heap V8 has taken, and how much of that it uses.
    let peak = 0;
    let highest = 0;
    const peaks: string[] = [];
    const heaps: string[] = [];
    const sampler = setInterval(() => {
      peak = Math.max(peak, gw.rssMiB());
      highest = Math.max(highest, peak);
    }, 100);
    const part = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
      peak = gw.rssMiB();
      const t = performance.now();
      let done = false;
      try {
        const result = await run();
        done = true;
        return result;
      } catch (err) {
        throw new Error(`${name} failed; the gateway's last output:\n${gw.output().slice(-3000)}`, { cause: err });
      } finally {
        peaks.push(`${name} ${Math.max(peak, gw.rssMiB())} (${Math.round((performance.now() - t) / 1000)} s)`);
        if (done) heaps.push(`${name} ${await heapOf(gw.url).catch((err: Error) => `? (${err.message})`)}`);
        if (done) await snapshot(name, tokens[users[0]]);
      }
    };
    try {
      ds = await openDatabase(loadDatabaseConfig(env));
      // Sized as a server holding this data would be (the private server starts with a test's 64 MiB pool and 96 MiB
      // of redo log).
      if (BUFFER_POOL_MB) await ds.query(`SET GLOBAL innodb_buffer_pool_size = ${BUFFER_POOL_MB * 1024 * 1024}`);
      await ds.query(`SET GLOBAL innodb_log_file_size = ${1024 * 1024 * 1024}`);
      const agents = (await ds.query(
        'SELECT a.id, a.brokerageId, a.email FROM agent a JOIN brokerage b ON b.id = a.brokerageId WHERE b.domain = ?',
        ['scale.test'],
      )) as { id: string; brokerageId: string; email: string }[];
      const byEmail = new Map(agents.map((a) => [a.email, a]));
      const seedAgents: (SeedAgent & { email: string })[] = users.map((u, index) => {
        const a = byEmail.get(u);
        if (!a) throw new Error(`${u} has no agent row after the rounds`);
        return { index, id: a.id, brokerageId: a.brokerageId, email: u };
      });
      // The gateway is idle while the rows go in: MariaDB gets both cores meanwhile, and its own core back after.
      const [{ pidFile }] = (await ds.query('SELECT @@pid_file AS pidFile')) as { pidFile: string }[];
      const mariadbPid = Number(readFileSync(pidFile, 'utf8').trim());
      pin(mariadbPid, '0-1');
      const seeded = await part('seeding', () =>
        seedContacts(ds!, seedAgents, CONTACTS_PER_AGENT, {
          url: db.env.DATABASE_URL,
          workers: SEED_WORKERS,
          deferIndexes: DEFER_INDEXES,
          otherTexts: (a) => ownContacts(users[a.index]).map((p) => searchTextOf(fieldsFromPerson(p))),
        }),
      ).finally(() => pin(mariadbPid, '1'));
      const rows = seeded.contacts + seeded.emails + seeded.tokens;
      const busy = (x: number) => `${x.toFixed(0)} s`;
      figures[`seeded ${AGENTS} × ${CONTACTS_PER_AGENT} contacts into MariaDB`] =
        `${seeded.contacts} contact rows + ${seeded.emails} email index rows + ${seeded.tokens} search tokens in ` +
        `${seeded.seconds.toFixed(1)} s: ${Math.round(rows / seeded.seconds)} rows/s, ` +
        `${Math.round(seeded.contacts / seeded.seconds)} contacts/s`;
      figures['  database time (summed over the workers)'] =
        `contact ${busy(seeded.db.contact)}, contact_email ${busy(seeded.db.contact_email)}, ` +
        `contact_search_token ${busy(seeded.db.contact_search_token)}` +
        (DEFER_INDEXES ? `, its secondary index built after ${busy(seeded.db.indexes)}` : '') +
        `; ${SEED_WORKERS} agents at a time, MariaDB on both cores meanwhile`;
      figures['  search index'] =
        `contact_search_token filled (searchTokensOf: ${(seeded.tokens / seeded.contacts).toFixed(1)} tokens a ` +
        `contact), contact_sync.searchTokensVersion = ${SEARCH_TOKENS_VERSION}: searches use it at once`;
      await ds.query('ANALYZE TABLE contact, contact_email, contact_search_token');
      const sizes = (await ds.query(
        "SELECT table_name AS name, ROUND(data_length / 1048576) AS data, ROUND(index_length / 1048576) AS idx FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name IN ('contact', 'contact_email', 'contact_search_token')",
      )) as { name: string; data: number; idx: number }[];
      figures['  table sizes (InnoDB estimates)'] = sizes
        .map((s) => `${s.name} ${s.data} MiB + ${s.idx} MiB indexes`)
        .join(', ');
      figures['  MariaDB'] =
        `innodb_buffer_pool_size ${BUFFER_POOL_MB ? `${BUFFER_POOL_MB} MiB` : 'as started (64 MiB)'}, ` +
        'innodb_log_file_size 1 GiB, innodb_flush_log_at_trx_commit=2 (test/support/mariadb.ts)';
      figures['  gateway'] =
        `CONTACTS_FRESHNESS_SECONDS=${FRESHNESS_SECONDS} (seeded mirrors fresh for the whole run), ` +
        `CALENDAR_CACHE_SECONDS=${CALENDAR_CACHE_SECONDS}, otherwise as in production`;

      const world: World = {
        url: gw.url,
        admin,
        ds,
        tokens,
        seeded: seedAgents.map((a) => ({ email: a.email, id: a.id, probe: seeded.probes.get(a.id)! })),
      };
      await admin.clearRequests();
      Object.assign(figures, await part('pages', () => pagesAndSearches(world, LATENCY_REQUESTS, LATENCY_CONCURRENCY)));
      const calls = await admin.requests({ api: 'people' });
      figures['  People calls during the page and search requests'] = String(calls.length);
      Object.assign(figures, await part('import', () => initialImport(world, importer, IMPORT_CONTACTS)));
      const { outbox } = loadConfig(env);
      if (OUTBOX_CREATES)
        Object.assign(
          figures,
          await part('outbox', () =>
            outboxThroughput(
              world,
              OUTBOX_CREATES,
              OUTBOX_AGENTS,
              CONCURRENCY,
              `production's: OUTBOX_CONCURRENCY ${outbox.concurrency} lanes at once per replica, one lane per agent ` +
                `delivered in order (creates batched, ≤ 200 a batchCreateContacts), linger ${outbox.lingerMs} ms, ` +
                `a mutation waits ≤ ${outbox.mutationWaitMs} ms for Google`,
            ),
          ),
        );
      if (EVENTS_PER_AGENT)
        Object.assign(figures, await part('events', () => monthOfEvents(world, EVENTS_PER_AGENT, LATENCY_CONCURRENCY)));
      figures['gateway RSS after all of this'] = `${gw.rssMiB()} MiB, peak ${highest} MiB`;
      figures['  peak per part in MiB (and how long the part took)'] = peaks.join(', ');
      figures['  heap after each part in MiB (used of total, new space used of total; external)'] = heaps.join(', ');
    } finally {
      clearInterval(sampler);
    }
  } finally {
    await ds?.destroy();
    await gw.stop();
    await emu.stop();
    await db.close();
    await stopMariaDb();
  }
  return { name: `scale: ${AGENTS} agents on MariaDB, production mode`, figures };
}
