/**
 * `npm run bench -- http`: the gateway's request path beside a bare graphql-js server answering the same data from
 * memory, in one run, on SQLite and MariaDB. The gateway runs as in production (compiled, NODE_ENV=production, the node
 * flags of deploy/Dockerfile's CMD and the MALLOC_* of its runtime stage, its own process on core 0; the emulator,
 * MariaDB and the load generator on core 1). The bare servers run with node's defaults. Rounds alternate between the
 * servers, so a slower machine moment hits all of them alike; each figure is the median over the rounds.
 *
 * Settings (environment): BENCH_SECONDS per measurement (3), BENCH_ROUNDS (3), BENCH_CONNECTIONS (10), BENCH_DIALECTS
 * (sqlite,mariadb), BENCH_TARGETS (e.g. gw.contacts,gw.me; the bare contacts server always runs), BENCH_PROFILE=dir
 * writes the servers' CPU profiles there (node --cpu-prof): the gateway's in dir/<dialect>, the bare servers' in
 * dir/<dialect>/bare and bare-cached. BENCH_GATEWAY_FLAGS adds node flags to the gateway's (e.g. --trace-gc),
 * BENCH_GATEWAY_ENV sets variables of its environment (`NAME=value …`; `NAME=` takes one away, e.g. `MALLOC_ARENA_MAX=`
 * for glibc's own arenas), and BENCH_GATEWAY_LOG names a file for the last 20 KB it printed. BENCH_MARIADB_CPUS pins
 * MariaDB elsewhere (e.g. 0, with the servers; 1 by default).
 *
 * BENCH_COMPARE_FLAGS (e.g. --heap-growing-percent=10) starts a second gateway on the same database and emulator with
 * production's flags plus these, and measures each gateway target on it too, in the same alternating rounds (`gw'.*`,
 * on core 0 as well): a node flag's cost side by side rather than across two runs of a noisy machine.
 *
 * Latencies are every answer's own, in fractions of a millisecond (bench/http/load.ts).
 *
 * Besides req/s, each server's CPU time per request is read from /proc: a machine shared with other work changes it
 * far less than the throughput.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  buildSchema,
  getNamedType,
  isObjectType,
  isNonNullType,
  type GraphQLObjectType,
  type GraphQLSchema,
} from 'graphql';
import { runLoad, type LoadResult } from './http/load';
import {
  canPin,
  freshDatabase,
  gatewayEnv,
  gql,
  headers,
  onboard,
  pin,
  spawnNode,
  startEmulatorProcess,
  startGateway,
  stopMariaDb,
  type Child,
  type Dialect,
} from './http/processes';
import type { BenchResult } from './support';

const ROOT = resolve(__dirname, '../..');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const DIALECTS = (process.env.BENCH_DIALECTS ?? 'sqlite,mariadb').split(',') as Dialect[];
const ONLY = process.env.BENCH_TARGETS?.split(',');
const COMPARE_FLAGS = process.env.BENCH_COMPARE_FLAGS?.split(/\s+/).filter(Boolean) ?? [];
const AGENT = 'agent@bench.test';
/**
 * Agents taking turns creating contacts. People allows an agent some 90 writes a minute (the emulator enforces such a
 * quota as Google does), and one agent's creates under load meet it within seconds, after which the figure is Google's
 * back-off, not the gateway. Thirty agents' quotas together are out of reach of a 3 s round.
 */
const WRITERS = Array.from({ length: 30 }, (_, i) => `writer${i}@bench.test`);

/** Every field of `type` without required arguments, objects to `depth` levels (what a client showing it all asks). */
function everyField(schema: GraphQLSchema, type: GraphQLObjectType, depth: number): string {
  const parts: string[] = [];
  for (const f of Object.values(type.getFields())) {
    if (f.args.some((a) => isNonNullType(a.type) && a.defaultValue === undefined)) continue;
    const named = getNamedType(f.type);
    if (isObjectType(named)) {
      if (depth > 0) parts.push(`${f.name} { ${everyField(schema, named, depth - 1)} }`);
    } else parts.push(f.name);
  }
  return parts.join(' ');
}

interface Scenario {
  name: string;
  query: string;
}

function scenarios(schema: GraphQLSchema, from: string, to: string): Record<string, Scenario> {
  const type = (n: string) => schema.getType(n) as GraphQLObjectType;
  const page = 'pageInfo { hasNextPage endCursor }';
  return {
    contacts: {
      name: 'contacts(first: 50)',
      query: `query Contacts { contacts(first: 50) { edges { cursor node { ${everyField(schema, type('Contact'), 2)} } } ${page} } }`,
    },
    events: {
      name: 'events(from, to), a cached month',
      query: `query Events { events(from: "${from}", to: "${to}", first: 100) { edges { cursor node { ${everyField(schema, type('Event'), 2)} } } ${page} } }`,
    },
    sentMail: {
      name: 'sentMail(first: 50)',
      query: `query SentMail { sentMail(first: 50) { edges { cursor node { ${everyField(schema, type('Mail'), 2)} } } ${page} } }`,
    },
    me: { name: '{ me { id } }', query: '{ me { id } }' },
  };
}

/** A contact as an agent keeps one: about 600 bytes of JSON with every field asked for. */
function richContact(i: number) {
  const n = String(i).padStart(3, '0');
  return {
    givenName: `Given${n}`,
    familyName: `Family${n}`,
    jobTitle: 'Broker associate',
    organization: `Realty ${n} LLC`,
    notes: `Three bedrooms near the park (${n}).`,
    emails: [{ value: `given${n}@example.com`, type: 'home' }],
    phones: [{ value: `+1 415 555 0${n}`, type: 'mobile' }],
    addresses: [{ streetAddress: `${i} Market Street`, city: 'San Francisco', postalCode: '94105', type: 'home' }],
    birthday: { month: 1 + (i % 12), day: 1 + (i % 28) },
  };
}

/** The agent's data, put in through the gateway itself: 60 rich contacts, 40 events this month, 50 sent mails. */
async function seed(url: string, token: string, monthStart: Date) {
  const contacts = Array.from({ length: 60 }, (_, i) => richContact(i));
  await gql(url, token, 'mutation ($in: [ContactInput!]!) { createContacts(input: $in) { id syncState } }', {
    in: contacts,
  });
  for (let i = 0; i < 40; i++) {
    const start = new Date(monthStart.getTime() + (i % 28) * 86_400_000 + (9 + (i % 8)) * 3600_000);
    await gql(url, token, 'mutation ($in: EventInput!) { createEvent(input: $in) { id syncState } }', {
      in: {
        title: `Showing ${i}`,
        description: 'Walk-through with the buyers; bring the disclosure packet.',
        location: `${100 + i} Main Street, Springfield`,
        start: start.toISOString(),
        end: new Date(start.getTime() + 3600_000).toISOString(),
        attendees: [`buyer${i}@example.com`, `seller${i}@example.com`],
      },
    });
  }
  for (let i = 0; i < 50; i++) {
    await gql(url, token, 'mutation ($in: SendMailInput!) { sendMail(input: $in) { id status } }', {
      in: { to: [`Buyer ${i} <buyer${i}@example.com>`], subject: `Listing ${i}`, text: `Hello, here is listing ${i}.` },
    });
  }
}

interface Target {
  label: string;
  server: () => Child;
  body: string | (() => string);
  token?: string;
  /** Tokens taken in turn, one per request, instead of `token`. */
  tokens?: string[];
  results: LoadResult[];
  rss: number[];
  /** The server's CPU time per answered request in each round, in µs. */
  cpu: number[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function benchDialect(dialect: Dialect, schema: GraphQLSchema, figures: Record<string, string>) {
  const db = await freshDatabase(dialect);
  if (!db) {
    figures[`${dialect}`] = 'skipped: mariadbd not found (apt-get install -y mariadb-server)';
    return;
  }
  const emu = await startEmulatorProcess();
  const env = gatewayEnv(emu.url, db);
  const profileDir = process.env.BENCH_PROFILE;
  const gw = await startGateway(env, [
    ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${resolve(profileDir, dialect)}`] : []),
    ...(process.env.BENCH_GATEWAY_FLAGS?.split(/\s+/).filter(Boolean) ?? []),
  ]);
  const bares: Child[] = [];
  try {
    figures[`${dialect}: the gateway started with`] = gw.runsWith();
    const alt = COMPARE_FLAGS.length ? await startGateway(env, COMPARE_FLAGS) : undefined;
    if (alt) {
      bares.push(alt);
      figures[`${dialect}: the second gateway (gw') started with`] = alt.runsWith();
    }
    const { tokens } = await onboard(gw.url, emu.url, env, 'bench.test', [AGENT, ...WRITERS]);
    const token = tokens[AGENT];
    const now = new Date();
    const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
    const monthEnd = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
    await seed(gw.url, token, monthStart);
    const sc = scenarios(schema, monthStart.toISOString(), monthEnd.toISOString());

    // The bare servers answer exactly what the gateway answered.
    const root: Record<string, unknown> = {};
    const sizes: Record<string, number> = {};
    for (const [k, s] of Object.entries(sc)) {
      const data = await gql(gw.url, token, s.query);
      Object.assign(root, data);
      sizes[k] = JSON.stringify({ data }).length;
    }
    const edges = (root.contacts as { edges: unknown[] }).edges.length;
    if (edges !== 50) throw new Error(`the contacts page has ${edges} contacts, not 50`);
    const rootFile = join(mkdtempSync(join(tmpdir(), 'engage-bench-root-')), 'root.json');
    writeFileSync(rootFile, JSON.stringify(root));
    const bareMain = join(ROOT, 'dist-bench/bench/http/bare-server.js');
    const bareArgs = (name: string) => [
      ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${resolve(profileDir, dialect, name)}`] : []),
      bareMain,
    ];
    const parseEach = await spawnNode(
      bareArgs('bare'),
      { BARE_ROOT: rootFile, BARE_CACHE: '0' },
      '0',
      /listening (\S+)/,
    );
    const cached = await spawnNode(
      bareArgs('bare-cached'),
      { BARE_ROOT: rootFile, BARE_CACHE: '1' },
      '0',
      /listening (\S+)/,
    );
    bares.push(parseEach, cached);

    const body = (q: string) => JSON.stringify({ query: q });
    let created = 0;
    const targets: Record<string, Target> = {};
    const add = (key: string, label: string, server: () => Child, b: Target['body'], withToken = false): Target =>
      (targets[key] = { label, server, body: b, token: withToken ? token : undefined, results: [], rss: [], cpu: [] });
    add(
      'bare.contacts',
      'bare graphql-js, contacts page, parse + validate each request',
      () => parseEach,
      body(sc.contacts.query),
    );
    add(
      'bareCached.contacts',
      'bare graphql-js, contacts page, parsed documents cached',
      () => cached,
      body(sc.contacts.query),
    );
    add('gw.contacts', `gateway ${sc.contacts.name}`, () => gw, body(sc.contacts.query), true);
    add('gw.me', `gateway ${sc.me.name}`, () => gw, body(sc.me.query), true);
    add('bare.events', 'bare graphql-js, month of events, parse each', () => parseEach, body(sc.events.query));
    add('gw.events', `gateway ${sc.events.name}`, () => gw, body(sc.events.query), true);
    add('bare.sentMail', 'bare graphql-js, sentMail page, parse each', () => parseEach, body(sc.sentMail.query));
    add('gw.sentMail', `gateway ${sc.sentMail.name}`, () => gw, body(sc.sentMail.query), true);
    add(
      'gw.createContact',
      `gateway createContact (answered once Google has it; ${WRITERS.length} agents in turn)`,
      () => gw,
      () =>
        JSON.stringify({
          query: 'mutation ($in: ContactInput!) { createContact(input: $in) { id syncState } }',
          variables: { in: { givenName: 'Zz bench', familyName: `Created ${created++}` } },
        }),
      true,
    ).tokens = WRITERS.map((w) => tokens[w]);

    // A gateway target chosen by BENCH_TARGETS brings the bare server it is compared with.
    const baseOf: Record<string, string> = { events: 'bare.events', sentMail: 'bare.sentMail' };
    const chosen = ONLY && [...ONLY, ...ONLY.map((key) => baseOf[key.split('.')[1]] ?? 'bare.contacts')];
    for (const key of Object.keys(targets))
      if (chosen && !chosen.includes(key) && key !== 'bare.contacts') delete targets[key];
    // The same requests to the second gateway, each right after the first gateway's in every round.
    if (alt)
      for (const [key, t] of Object.entries(targets)) {
        delete targets[key]; // put back in order, the second gateway's twin after it
        targets[key] = t;
        if (key.startsWith('gw.'))
          targets[`gw'.${key.slice(3)}`] = {
            ...t,
            label: `${t.label}, gw' (${COMPARE_FLAGS.join(' ')})`,
            server: () => alt,
            results: [],
            rss: [],
            cpu: [],
          };
      }
    let turn = 0;
    const measure = async (t: Target, seconds: number) => {
      const server = t.server();
      const cpuBefore = server.cpuMs();
      const r = await runLoad({
        url: server.url,
        headers: t.token ? headers(t.token) : { 'content-type': 'application/json' },
        headersFor: t.tokens ? () => headers(t.tokens![turn++ % t.tokens!.length]) : undefined,
        body: t.body,
        connections: CONNECTIONS,
        seconds,
      });
      if (r.errors) throw new Error(`${t.label}: ${r.errors} answers with errors`);
      return { r, rss: server.rssMiB(), cpu: ((server.cpuMs() - cpuBefore) * 1000) / Math.max(r.requests, 1) };
    };
    // Warm-up: JIT, caches, connection pools.
    for (const t of Object.values(targets)) await measure(t, 1);
    for (let round = 0; round < ROUNDS; round++) {
      for (const t of Object.values(targets)) {
        const { r, rss, cpu } = await measure(t, SECONDS);
        t.results.push(r);
        t.rss.push(rss);
        t.cpu.push(cpu);
      }
    }

    const base = median(targets['bare.contacts'].results.map((r) => r.rps));
    const baseCpu = median(targets['bare.contacts'].cpu);
    figures[`${dialect}: payload bytes`] = Object.entries(sizes)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    for (const [key, t] of Object.entries(targets)) {
      const rps = median(t.results.map((r) => r.rps));
      const p50 = median(t.results.map((r) => r.p50));
      const p99 = median(t.results.map((r) => r.p99));
      const kind = key.split('.')[1];
      const own = key.startsWith('gw') && baseOf[kind] ? median(targets[baseOf[kind]].results.map((r) => r.rps)) : 0;
      const cpu = median(t.cpu);
      const ownCpu = own ? median(targets[baseOf[kind]].cpu) : 0;
      figures[`${dialect}: ${t.label}`] =
        `${rps.toFixed(0)} req/s, ${(rps / base).toFixed(2)}× bare contacts` +
        (own ? `, ${(rps / own).toFixed(2)}× bare ${kind}` : '') +
        `, p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms (p99/p50 ${(p99 / Math.max(p50, 0.001)).toFixed(1)})` +
        `, RSS ${Math.max(...t.rss)} MiB` +
        `, CPU ${cpu.toFixed(0)} µs/req (${(baseCpu / cpu).toFixed(2)}× bare contacts` +
        (ownCpu ? `, ${(ownCpu / cpu).toFixed(2)}× bare ${kind}` : '') +
        ')' +
        `, rounds: ${t.results.map((r) => r.rps.toFixed(0)).join(' / ')}`;
    }
  } finally {
    // The last 20 KB the gateway printed (BENCH_GATEWAY_FLAGS=--trace-gc, say).
    if (process.env.BENCH_GATEWAY_LOG) writeFileSync(process.env.BENCH_GATEWAY_LOG, gw.output());
    for (const b of bares) await b.stop();
    await gw.stop();
    await emu.stop();
    await db.close();
  }
}

export async function benchHttp(): Promise<BenchResult> {
  const figures: Record<string, string> = {};
  figures.pinned = canPin()
    ? 'servers on core 0; load generator, emulator and MariaDB on core 1'
    : 'no (taskset not found): figures are noisier';
  pin(process.pid, '1');
  const schema = buildSchema(readFileSync(join(ROOT, 'schema/schema.graphql'), 'utf8'));
  try {
    for (const d of DIALECTS) await benchDialect(d, schema, figures);
  } finally {
    await stopMariaDb();
  }
  figures.settings = `${CONNECTIONS} connections, ${ROUNDS} alternating rounds of ${SECONDS} s, medians`;
  return { name: 'HTTP request path (gateway vs bare graphql-js)', figures };
}
