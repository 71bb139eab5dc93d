/**
 * The scale bench's measurements on the seeded database (scale.bench.ts runs them in this order): page and search
 * latency with the search's plan, the initial import of a large Google account, outbox throughput, and a month of
 * events per agent. Each checks every answer and returns its figures.
 */
import type { EmulatorAdmin } from 'google-workspace-emulator/testing';
import type { DataSource } from 'typeorm';
import { capturePlan } from './plan';
import { agentPersons, googleBody, prng } from './people';
import type { AgentProbe } from './seed';
import { latency, post, timeRequests, type Request } from './timing';

export interface World {
  url: string;
  admin: EmulatorAdmin;
  ds: DataSource;
  tokens: Record<string, string>;
  /** Agents with a seeded mirror: their email, id, and what to ask. */
  seeded: { email: string; id: string; probe: AgentProbe }[];
}

type Figures = Record<string, string>;

const PAGE = `query Page($after: String, $query: String) {
  contacts(first: 50, after: $after, query: $query) {
    edges { node { id displayName givenName familyName organization emails { value type } phones { value type } syncState } }
    pageInfo { hasNextPage endCursor }
  }
}`;

/** A check of a page: `expected` contacts match in all (at most 50 on the page, hasNextPage beyond). */
const pageOf = (expected: number, what: string) => (data: any) => {
  const got = data.contacts.edges.length;
  const want = Math.min(50, expected);
  if (got !== want || data.contacts.pageInfo.hasNextPage !== expected > 50)
    throw new Error(
      `${what}: ${got} contacts (hasNextPage ${data.contacts.pageInfo.hasNextPage}), expected ${want} of ${expected}`,
    );
};

async function callsByMethod(admin: EmulatorAdmin, filter: { api?: string; user?: string } = {}): Promise<string> {
  const byMethod = new Map<string, number>();
  for (const r of await admin.requests(filter)) byMethod.set(r.method, (byMethod.get(r.method) ?? 0) + 1);
  return [...byMethod].map(([m, n]) => `${n} ${m}`).join(', ') || 'none';
}

/** contacts(first: 50), a page deep, and three kinds of search, for random agents; the search's plan. */
export async function pagesAndSearches(w: World, n: number, concurrency: number): Promise<Figures> {
  const figures: Figures = {};
  const rand = prng(42);
  const some = () => Array.from({ length: n }, () => w.seeded[Math.floor(rand() * w.seeded.length)]);
  type Kind = [string, (a: World['seeded'][number]) => Request];
  /** A search for a random agent's `probe`: its answer must hold the contacts the probe expects. */
  const search = (
    label: string,
    what: string,
    probe: (a: World['seeded'][number]) => { q: string; expected: number },
  ): Kind => [
    label,
    (a) => {
      const { q, expected } = probe(a);
      return {
        token: w.tokens[a.email],
        query: PAGE,
        variables: { query: q },
        check: pageOf(expected, `${what} "${q}"`),
      };
    },
  ];
  const kinds: Kind[] = [
    [
      'contacts(first: 50), first page',
      (a) => ({ token: w.tokens[a.email], query: PAGE, check: pageOf(51, 'first page') }),
    ],
    [
      'contacts(first: 50, after: <half-way>)',
      (a) => ({
        token: w.tokens[a.email],
        query: PAGE,
        variables: { after: a.probe.deepCursor },
        check: pageOf(51, 'page half-way'),
      }),
    ],
    search('contacts(query: "<family name>") (~1% of an agent\'s contacts)', 'family name', (a) => a.probe.family),
    search('contacts(query: "<4-digit phone tail>") (1 contact)', 'phone tail', (a) => a.probe.phoneTail),
    search('contacts(query: "<3-letter prefix>")', 'prefix', (a) => a.probe.prefix),
  ];
  // A warm-up round (the buffer pool, the gateway's caches) before anything is timed.
  await timeRequests(
    w.url,
    some()
      .slice(0, Math.min(n, 100))
      .map((a) => kinds[0][1](a)),
    concurrency,
  );
  const matched: number[] = [];
  for (const [name, make] of kinds) {
    const agents = some();
    if (name.includes('prefix')) matched.push(...agents.map((a) => a.probe.prefix.expected));
    figures[name] = latency(await timeRequests(w.url, agents.map(make), concurrency), concurrency);
  }
  figures['3-letter prefixes: contacts matched per search'] =
    `median ${matched.sort((a, b) => a - b)[Math.floor(matched.length / 2)]} (a page shows 50)`;

  const a = w.seeded[0];
  const plan = await capturePlan(w.ds, a.probe.family.q, () =>
    post(w.url, { token: w.tokens[a.email], query: PAGE, variables: { query: a.probe.family.q } }),
  );
  if (plan.sql.length === 0) throw new Error(`no SELECT naming "${a.probe.family.q}" in the general log`);
  plan.sql.forEach((sql, i) => {
    const nth = plan.sql.length > 1 ? ` ${i + 1}` : '';
    figures[`search SQL${nth}`] = sql.replace(/\s+/g, ' ');
    plan.rows[i].forEach((row, j) => (figures[`  EXPLAIN${nth}, row ${j + 1}`] = row));
  });
  return figures;
}

/** An agent whose Google account holds `n` contacts reads contacts(first: 50) for the first time: the import. */
export async function initialImport(w: World, email: string, n: number): Promise<Figures> {
  const persons = agentPersons(1_000_000, n, new Date()).map(googleBody);
  for (let i = 0; i < persons.length; i += 500) {
    const r = await w.admin.request('POST', `/users/${email}/contacts`, persons.slice(i, i + 500));
    if (r.status !== 200) throw new Error(`emulator: creating contacts answered ${r.status}`);
  }
  await w.admin.clearRequests();
  const t = performance.now();
  const data = await post(w.url, { token: w.tokens[email], query: PAGE });
  const seconds = (performance.now() - t) / 1000;
  pageOf(n, 'first read after the import')(data);
  const [{ count }] = (await w.ds.query(
    'SELECT COUNT(*) AS count FROM contact c JOIN agent a ON a.id = c.agentId WHERE a.email = ? AND c.deletedAt IS NULL',
    [email],
  )) as { count: string }[];
  if (Number(count) !== n) throw new Error(`after the import the mirror holds ${count} contacts, not ${n}`);
  const status = await post(w.url, {
    token: w.tokens[email],
    query: '{ syncStatus { contacts { lastFullSyncAt lastSyncAt error { code } } } }',
  });
  if (!status.syncStatus.contacts.lastFullSyncAt || status.syncStatus.contacts.error)
    throw new Error(`sync status after the import: ${JSON.stringify(status)}`);
  return {
    [`initial import of ${n} contacts (first contacts(first: 50) until its answer, all in MariaDB)`]: `${seconds.toFixed(
      2,
    )} s: ${Math.round(n / seconds)} contacts/s`,
    '  Google calls of the import': await callsByMethod(w.admin, { user: email }),
  };
}

/** `total` createContact mutations over `agents` seeded agents, `concurrency` at a time, until the outbox is empty. */
export async function outboxThroughput(
  w: World,
  total: number,
  agents: number,
  concurrency: number,
  settings: string,
): Promise<Figures> {
  const writers = w.seeded.slice(0, agents);
  const before = new Map<string, number>();
  for (const a of writers)
    before.set(a.email, (await w.admin.request<unknown[]>('GET', `/users/${a.email}/contacts`)).body.length);
  const inputs = agentPersons(2_000_000, total, new Date()).map((p) => ({
    givenName: p.names![0].givenName,
    familyName: p.names![0].familyName,
    emails: [{ value: p.emailAddresses![0].value, type: 'home' }],
    phones: [{ value: p.phoneNumbers![0].value, type: 'mobile' }],
  }));
  await w.admin.clearRequests();
  const states = new Map<string, number>();
  let next = 0;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        const a = writers[i % writers.length];
        const data = await post(w.url, {
          token: w.tokens[a.email],
          query: 'mutation ($in: ContactInput!) { createContact(input: $in) { id syncState } }',
          variables: { in: inputs[i] },
        });
        const s = data.createContact.syncState as string;
        states.set(s, (states.get(s) ?? 0) + 1);
      }
    }),
  );
  const answered = (performance.now() - t) / 1000;
  let left: number;
  for (;;) {
    const [{ pending, failed }] = (await w.ds.query(
      "SELECT SUM(status = 'PENDING') AS pending, SUM(status = 'FAILED') AS failed FROM outbox WHERE topic = 'contacts'",
    )) as { pending: string | null; failed: string | null }[];
    if (Number(failed)) throw new Error(`${failed} contact writes FAILED in the outbox`);
    left = Number(pending);
    if (left === 0 || performance.now() - t > 300_000) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (left) throw new Error(`the outbox still holds ${left} contact writes after 5 minutes`);
  const drained = (performance.now() - t) / 1000;
  for (const a of writers) {
    const now = (await w.admin.request<unknown[]>('GET', `/users/${a.email}/contacts`)).body.length;
    const want = before.get(a.email)! + Math.floor(total / agents) + (writers.indexOf(a) < total % agents ? 1 : 0);
    if (now !== want) throw new Error(`${a.email} has ${now} contacts in Google, expected ${want}`);
  }
  return {
    [`outbox: ${total} createContact over ${agents} agents, ${concurrency} at a time`]: `answered in ${answered.toFixed(
      1,
    )} s (${[...states].map(([s, k]) => `${k} ${s}`).join(', ')}), outbox empty after ${drained.toFixed(1)} s: ${Math.round(
      total / drained,
    )} deliveries/s`,
    '  People calls of the deliveries': await callsByMethod(w.admin, { api: 'people' }),
    '  outbox settings': settings,
  };
}

/** `perAgent` events this month in each seeded agent's calendar; events(from, to) of the month, first and cached. */
export async function monthOfEvents(w: World, perAgent: number, concurrency: number): Promise<Figures> {
  const now = new Date();
  const from = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  const to = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
  const days = Math.round((to.getTime() - from.getTime()) / 86_400_000);
  let next = 0;
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      while (next < w.seeded.length) {
        const a = w.seeded[next++];
        const events = Array.from({ length: perAgent }, (_, i) => {
          const start = new Date(from.getTime() + ((i * 3) % days) * 86_400_000 + (14 + (i % 8)) * 3600_000);
          return {
            summary: `Showing ${i + 1}`,
            location: `${100 + i} Main Street`,
            start: { dateTime: start.toISOString() },
            end: { dateTime: new Date(start.getTime() + 3600_000).toISOString() },
            attendees: a.probe.emails.slice(0, 2).map((email) => ({ email })),
          };
        });
        const r = await w.admin.request('POST', `/users/${a.email}/events`, events);
        if (r.status !== 200)
          throw new Error(`emulator: creating events answered ${r.status}: ${JSON.stringify(r.body)}`);
      }
    }),
  );
  await w.admin.clearRequests();
  const query = `query Month($from: DateTime!, $to: DateTime!) {
    events(from: $from, to: $to, first: 100) {
      edges { node { id title start end location attendees { email responseStatus contact { id displayName } } } }
    }
  }`;
  const read = (a: World['seeded'][number]): Request => ({
    token: w.tokens[a.email],
    query,
    variables: { from: from.toISOString(), to: to.toISOString() },
    check: (data) => {
      const edges = data.events.edges as { node: { attendees: { contact: unknown }[] } }[];
      if (edges.length !== perAgent) throw new Error(`${a.email}: ${edges.length} events, expected ${perAgent}`);
      // The attendees are the agent's own contacts: each found through the email index (contact_email).
      if (edges.some((e) => e.node.attendees.some((x) => !x.contact)))
        throw new Error(`${a.email}: an attendee without its contact`);
    },
  });
  const first = await timeRequests(w.url, w.seeded.map(read), concurrency);
  const firstCalls = await callsByMethod(w.admin, { api: 'calendar' });
  await w.admin.clearRequests();
  const cached = await timeRequests(w.url, w.seeded.map(read), concurrency);
  return {
    [`events(from, to) of this month (${perAgent} events, 2 attendees each resolved to contacts), first read`]: latency(
      first,
      concurrency,
    ),
    '  Calendar calls of the first reads': `${firstCalls} (${w.seeded.length} agents)`,
    '  the same read again (cached)': latency(cached, concurrency),
    '  Calendar calls of the cached reads': await callsByMethod(w.admin, { api: 'calendar' }),
  };
}
