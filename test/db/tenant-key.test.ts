/**
 * Issue 14, the path past one MySQL primary: every table carries the tenant key (`brokerageId`) and every query
 * names it, so the data can be split by brokerage (on a sharding layer such as Vitess, brokerageId is the sharding
 * key: a query that names it goes to one shard, one that does not goes to all of them).
 *
 * Two checks, each failing when a new entity or query forgets the key:
 *  - every entity but the brokerage itself has a non-null brokerageId column;
 *  - every statement the gateway runs for a workload touching every feature (onboarding, contacts, calendar, mail,
 *    their Google sync and outbox delivery, the metrics scrape) names brokerageId where it picks rows: in its WHERE
 *    (SELECT, UPDATE, DELETE) or its columns (INSERT). The few deliberate cross-tenant statements (the outbox poll
 *    over every brokerage's lanes, retention sweeps, the metrics gauges) are listed below with why; on a sharded
 *    database they are scatter queries, run by background work, never by a client's request.
 */
import type { Logger as TypeOrmLogger } from 'typeorm';
import { describeEachDb } from '../support/db';
import { startWorld, type World } from '../support/world';

const AGENT = 'agent@alpha.test';

/** A quote of either dialect (SQLite ", MySQL `), written ~ in the patterns below. */
const Q = '[`"]';
const re = (source: string) => new RegExp(source.replace(/~/g, Q));

/** Statements that read or write across brokerages on purpose: [table, what the statement looks like, why]. */
const CROSS_TENANT: Array<[string, RegExp, string]> = [
  [
    'agent',
    re('~Agent~\\.~email~ = \\?'),
    'the caller is found by the (unique) email its verified token names: on a sharded database, a lookup vindex on agent.email',
  ],
  [
    'outbox',
    re('WHERE ~o~\\.~status~ = \\? AND ~o~\\.~nextAttemptAt~ <= \\?'),
    'the outbox poll: the due lanes of every brokerage, oldest first (background, each replica; a scatter query when sharded)',
  ],
  [
    'outbox',
    re(
      'COUNT\\(\\*\\) AS ~n~, MIN\\(~o~\\.~createdAt~\\) AS ~oldest~ FROM ~outbox~ ~o~ WHERE ~o~\\.~status~ = \\? GROUP BY',
    ),
    'the metrics gauges: what waits for Google over all brokerages, at scrape time',
  ],
  [
    'outbox_lease',
    re('^DELETE FROM ~outbox_lease~ WHERE ~owner~ = \\?$'),
    'a stopping process releases its leases, whichever brokerages they are of',
  ],
  [
    'calendar_channel',
    re('WHERE \\(\\(~CalendarChannel~\\.~id~ = \\?\\)\\) LIMIT 1$'),
    'a push notification names only its channel id; the brokerage is known once the channel is found',
  ],
  [
    'calendar_channel',
    re('WHERE \\(\\(~CalendarChannel~\\.~expiration~ < \\?\\)\\)$'),
    "the renewal pass over every brokerage's channels that expire soon (background)",
  ],
  [
    'calendar_channel',
    re('FROM ~calendar_channel~ ~CalendarChannel~$'),
    'a process that stops its channels on shutdown (CALENDAR_CHANNELS_ON_SHUTDOWN=stop) stops them all',
  ],
  [
    'contact_tombstone',
    re(
      '^SELECT DISTINCT ~t~\\.~agentId~ AS ~agentId~, ~t~\\.~brokerageId~ AS ~brokerageId~ FROM ~contact_tombstone~ ~t~ WHERE ~t~\\.~deletedAt~ < \\?',
    ),
    'the hourly retention of the contact feed picks the agents with old tombstones; each agent is then pruned by its brokerage',
  ],
  [
    'calendar_change',
    re(
      '^SELECT DISTINCT ~c~\\.~brokerageId~ AS ~brokerageId~, ~c~\\.~agentId~ AS ~agentId~ FROM ~calendar_change~ ~c~ WHERE ~c~\\.~recordedAt~ < \\?',
    ),
    'the hourly retention picks the agents with old changes; each agent is then pruned by its brokerage',
  ],
];

interface Seen {
  sql: string;
  tables: string[];
}

/** The tables a statement reads or writes (FROM, JOIN, UPDATE, INSERT INTO, DELETE FROM). */
function tablesOf(sql: string): string[] {
  const out = new Set<string>();
  for (const m of sql.matchAll(/\b(?:FROM|JOIN|UPDATE|INTO)\s+[`"]?(\w+)[`"]?/gi)) out.add(m[1]);
  return [...out];
}

/**
 * Whether the statement picks its rows by brokerageId: in WHERE for reads, updates and deletes; in the columns of an
 * insert.
 */
function namesTenantKey(sql: string): boolean {
  if (/^\s*INSERT\b/i.test(sql))
    return (
      /^\s*INSERT\s+(?:IGNORE\s+)?INTO\s+[`"]?\w+[`"]?\s*\(([^)]*)\)/i.exec(sql)?.[1].includes('brokerageId') ?? false
    );
  const where = sql.search(/\bWHERE\b/i);
  return where >= 0 && /[`".]brokerageId[`"]?\s*(=|IN\b)/i.test(sql.slice(where));
}

describeEachDb('the tenant key', (db) => {
  let w: World;
  const seen: Seen[] = [];

  beforeAll(async () => {
    const ds = db().ds;
    const capture: TypeOrmLogger = {
      logQuery: (query: string) => {
        const tables = tablesOf(query);
        if (tables.length) seen.push({ sql: query, tables });
      },
      logQueryError: () => undefined,
      logQuerySlow: () => undefined,
      logSchemaBuild: () => undefined,
      logMigration: () => undefined,
      log: () => undefined,
    };
    (ds as unknown as { logger: TypeOrmLogger }).logger = capture;
    w = await startWorld(db());
  });
  afterAll(() => w.close());

  test('every entity but the brokerage has a non-null brokerageId column', () => {
    const missing = db()
      .ds.entityMetadatas.filter((m) => m.tableName !== 'brokerage')
      .filter((m) => {
        const c = m.findColumnWithPropertyName('brokerageId');
        return !c || (c.isNullable && m.tableName !== 'audit_log');
      })
      .map((m) => m.tableName);
    expect(missing).toEqual([]);
  });

  test('every statement of a workload over every feature names brokerageId, but the listed cross-tenant ones', async () => {
    const token = await w.token(AGENT);
    const boss = await w.token('boss@alpha.test', true);
    const gql = async (query: string, variables?: Record<string, unknown>, as = token) => {
      const r = await w.gw.gql(query, { token: as, variables });
      if (r.body.errors) throw new Error(`${query}: ${JSON.stringify(r.body.errors)}`);
      return r.body.data;
    };
    seen.length = 0;

    // Contacts: writes (one and in bulk), reads, search, a sync with a change made in Google.
    const ada = (
      await gql(
        'mutation { createContact(input: { givenName: "Ada", emails: [{ value: "ada@buyers.test" }], phones: [{ value: "+1 555 0100" }] }) { id } }',
      )
    ).createContact;
    const bulk = (await gql('mutation { createContacts(input: [{ givenName: "Bo" }, { givenName: "Cy" }]) { id } }'))
      .createContacts;
    await gql('mutation ($id: ID!) { updateContact(id: $id, input: { familyName: "Lovelace" }) { id } }', {
      id: ada.id,
    });
    await gql('mutation ($id: ID!) { deleteContact(id: $id) }', { id: bulk[0].id });
    await gql('mutation ($ids: [ID!]!) { deleteContacts(ids: $ids) }', { ids: [bulk[1].id] });
    await w.admin.request('POST', `/users/${AGENT}/contacts`, {
      names: [{ givenName: 'Dee' }],
      emailAddresses: [{ value: 'dee@sellers.test' }],
    });
    await gql('mutation { syncContacts { contacts { lastSyncAt } } }');
    await gql('{ contacts(first: 5, query: "ada") { totalCount edges { node { id emails { value } } } } }');
    await gql('query ($id: ID!) { contact(id: $id) { id givenName } }', { id: ada.id });
    // A create with an idempotency key, retried; the change feed; its tombstones pruned (as a month later).
    const keyed = 'mutation { createContact(input: { givenName: "Kei" }, idempotencyKey: "tk-1") { id } }';
    await gql(keyed);
    await gql(keyed);
    await gql('{ contactChanges(first: 10) { edges { node { contactId deleted } } } }');
    await w.gw.services.contactSync.prune(new Date(Date.now() + 40 * 86_400_000));

    // Calendar: a view, writes, a sync, the change feed.
    await gql('{ events(from: "2026-12-01T00:00:00Z", to: "2027-01-01T00:00:00Z") { totalCount } }');
    const ev = (
      await gql(
        'mutation { createEvent(input: { title: "Showing", start: "2026-12-10T10:00:00Z", end: "2026-12-10T11:00:00Z", attendees: ["ada@buyers.test"] }) { id } }',
      )
    ).createEvent;
    await gql('mutation ($id: ID!) { updateEvent(id: $id, input: { location: "12 Elm St" }) { id } }', { id: ev.id });
    const gone = (
      await gql(
        'mutation { createEvent(input: { title: "Gone", start: "2026-12-11T10:00:00Z", end: "2026-12-11T11:00:00Z" }, idempotencyKey: "tk-2") { id } }',
      )
    ).createEvent;
    await gql('mutation ($id: ID!) { deleteEvent(id: $id) }', { id: gone.id });
    await gql('mutation { syncCalendar { calendar { lastSyncAt } } }');
    await gql('{ eventChanges(first: 10) { edges { node { eventId status } } } }');
    await gql('query ($id: ID!) { event(id: $id) { id title attendees { email contact { id } } } }', { id: ev.id });

    // Mail: a send with every kind of recipient and an attachment, a reply, the list.
    const mail = (
      await gql(
        'mutation { sendMail(input: { to: ["ada@buyers.test"], cc: ["cc@buyers.test"], bcc: ["bcc@buyers.test"], subject: "Hi", text: "Hello", attachments: [{ filename: "a.txt", contentType: "text/plain", contentBase64: "aGk=" }], idempotencyKey: "k1" }) { id status } }',
      )
    ).sendMail;
    await gql(
      'mutation ($r: ID!) { sendMail(input: { to: ["ada@buyers.test"], subject: "Re: Hi", text: "Again", replyToMailId: $r }) { id } }',
      { r: mail.id },
    );
    await gql('{ sentMail(first: 5) { edges { node { id recipients { email contact { id } } } } } }');

    // Status, the admin's checks, the metrics scrape.
    await gql('{ me { id email } syncStatus { contacts { lastSyncAt } calendar { lastSyncAt } } }');
    await gql('mutation { verifyServiceAccount { status } }', undefined, boss);
    await fetch(`${w.gw.url}/metrics`);

    // The workload reached every table (a check of the check: a table it never touched would pass unseen).
    const touched = new Set(seen.flatMap((x) => x.tables));
    expect(
      db()
        .ds.entityMetadatas.map((m) => m.tableName)
        .filter((t) => !touched.has(t)),
    ).toEqual([]);
    // …and the search read the token index (not the LIKE its agent uses until its index is built).
    expect(seen.some((x) => /^SELECT/.test(x.sql) && /contact_search_token[`"]? [`"]?t0[`"]? WHERE/.test(x.sql))).toBe(
      true,
    );
    const offending = seen
      .filter((s) => s.tables.some((t) => t !== 'brokerage' && t !== 'migrations'))
      .filter((s) => !namesTenantKey(s.sql))
      .filter((s) => !CROSS_TENANT.some(([table, re]) => s.tables.includes(table) && re.test(s.sql)));
    expect([...new Set(offending.map((s) => s.sql.replace(/\s+/g, ' ').slice(0, 300)))]).toEqual([]);
  });
});
