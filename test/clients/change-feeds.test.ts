/**
 * Change feeds for clients that keep a local copy (issue 15, item 4): contactChanges reports every create, update and
 * delete of the caller's contacts, from the CRM or from Google, in commit order, with a cursor that lives in the
 * database (restarts, replicas), deletions as tombstones, and cursor_expired once deletes were forgotten.
 *
 * The main test is a client that applies the feed to a local copy while a seeded random mix of CRM writes, Google-side
 * edits and deletes, and a full resync (an expired People sync token) goes on: its copy ends equal to `contacts`.
 */
import { describeEachDb } from '../support/db';
import { googleClients } from '../support/google';
import { startTestGateway } from '../support/gateway';
import { deliveryDone, FAST_OUTBOX_ENV, resetContacts, startWorld, type World } from '../support/world';
import { GUIDE_SCOPES } from '../../src/google/scopes';
import { ContactTombstone } from '../../src/entities';

const AGENT = 'agent@alpha.test';

const NODE =
  'id givenName familyName emails { value type } phones { value type } organization notes etag syncState updatedAt conflicts { field winner }';
const FEED = `query ($after: String, $first: Int!) { contactChanges(after: $after, first: $first) { edges { cursor node { contactId deleted changedAt contact { ${NODE} } } } pageInfo { hasNextPage endCursor } } }`;

interface Node {
  id: string;
  [k: string]: unknown;
}

/** A seeded generator (mulberry32): the same mix on every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describeEachDb('contact change feed', (db) => {
  let w: World;
  let token: string;

  beforeAll(async () => {
    // Every read syncs with Google first: the feed sees Google's edits as soon as a client asks. Writes answer at once
    // (PENDING): their delivery settles them later, a change the feed must report too.
    w = await startWorld(db(), { env: { CONTACTS_FRESHNESS_SECONDS: '0', MUTATION_WAIT_MS: '0' } });
    // A sync on every read is more than People's 90 critical reads a minute per user, which the emulator enforces
    // (a 429 the outbox then waits out): these tests are about the feed, not that quota.
    await w.admin.putSettings({ quotas: { 'people.criticalReads': { limitPerMinute: 100_000 } } });
    token = await w.token(AGENT);
  });
  afterAll(() => w.close());
  beforeEach(async () => {
    await w.admin.clearFaults();
    await resetContacts(w, db(), AGENT);
  });

  const gql = async (q: string, v?: Record<string, unknown>, gw = w.gw) => {
    const r = await gw.gql(q, { token, variables: v });
    if (r.body.errors) throw new Error(JSON.stringify(r.body.errors));
    return r.body.data;
  };
  const idle = () => deliveryDone(db());

  /** A client's local copy and its cursor. */
  class Client {
    copy = new Map<string, Node>();
    cursor: string | null = null;
    pages = 0;
    constructor(private readonly gw = w.gw) {}

    async pull(first = 7): Promise<void> {
      for (;;) {
        const page = (await gql(FEED, { after: this.cursor, first }, this.gw)).contactChanges;
        this.pages++;
        for (const { node } of page.edges) {
          if (node.deleted) this.copy.delete(node.contactId);
          else this.copy.set(node.contactId, node.contact);
        }
        this.cursor = page.pageInfo.endCursor;
        if (!page.pageInfo.hasNextPage) return;
      }
    }
  }

  const everything = async (): Promise<Map<string, Node>> => {
    const all = new Map<string, Node>();
    let after: string | null = null;
    for (;;) {
      const page: any = (
        await gql(
          `query ($after: String) { contacts(first: 50, after: $after) { edges { node { ${NODE} } } pageInfo { hasNextPage endCursor } } }`,
          { after },
        )
      ).contacts;
      for (const { node } of page.edges) all.set(node.id, node);
      if (!page.pageInfo.hasNextPage) return all;
      after = page.pageInfo.endCursor;
    }
  };
  const sorted = (m: Map<string, Node>) => [...m.values()].sort((a, b) => (a.id < b.id ? -1 : 1));

  test('a client applying the feed to a local copy ends equal to contacts after a random mix of CRM writes, Google edits and deletes, and a full resync', async () => {
    const google = googleClients(w.emu.url, w.tenant.key, AGENT, [...GUIDE_SCOPES]).people;
    const inGoogle = async () =>
      (await w.admin.request<Array<{ resourceName: string; etag: string }>>('GET', `/users/${AGENT}/contacts`)).body;
    const client = new Client();
    const rnd = random(15);
    const pick = <T>(xs: T[]): T | undefined => (xs.length ? xs[Math.floor(rnd() * xs.length)] : undefined);
    const live = async () => [...(await everything()).keys()];
    const counts: Record<string, number> = {};
    const settings = (await w.admin.request<{ syncTokenLifetimeSeconds: number }>('GET', '/people/settings')).body;

    for (let i = 0; i < 60; i++) {
      const r = rnd();
      const op =
        i === 30
          ? 'resync'
          : r < 0.2
            ? 'crmCreate'
            : r < 0.27
              ? 'crmBulk'
              : r < 0.42
                ? 'crmUpdate'
                : r < 0.52
                  ? 'crmDelete'
                  : r < 0.64
                    ? 'googleCreate'
                    : r < 0.76
                      ? 'googleUpdate'
                      : r < 0.84
                        ? 'googleDelete'
                        : 'pull';
      counts[op] = (counts[op] ?? 0) + 1;
      if (op === 'crmCreate')
        await gql(
          'mutation ($n: String!) { createContact(input: { givenName: $n, emails: [{ value: "c@x.test" }] }) { id } }',
          { n: `Crm${i}` },
        );
      else if (op === 'crmBulk')
        await gql('mutation ($i: [ContactInput!]!) { createContacts(input: $i) { id } }', {
          i: [{ givenName: `Bulk${i}a` }, { givenName: `Bulk${i}b` }],
        });
      else if (op === 'crmUpdate') {
        const id = pick(await live());
        if (id)
          await gql('mutation ($id: ID!, $f: String!) { updateContact(id: $id, input: { familyName: $f }) { id } }', {
            id,
            f: `Upd${i}`,
          });
      } else if (op === 'crmDelete') {
        const id = pick(await live());
        if (id) await gql('mutation ($id: ID!) { deleteContact(id: $id) }', { id });
      } else if (op === 'googleCreate')
        await google.people.createContact({ requestBody: { names: [{ givenName: `Goo${i}` }] } });
      else if (op === 'googleUpdate') {
        const p = pick(await inGoogle());
        if (p)
          await google.people
            .updateContact({
              resourceName: p.resourceName,
              updatePersonFields: 'names',
              requestBody: { etag: p.etag, names: [{ givenName: `GooUpd${i}` }] },
            })
            .catch(() => undefined); // a stale etag: skipped
      } else if (op === 'googleDelete') {
        const p = pick(await inGoogle());
        if (p) await google.people.deleteContact({ resourceName: p.resourceName }).catch(() => undefined);
      } else if (op === 'resync') {
        // The sync token expires: the next read is a full resync with mark and sweep.
        await idle();
        await w.admin.request('PUT', '/people/settings', { syncTokenLifetimeSeconds: 1 });
        const gone = pick(await inGoogle());
        if (gone) await google.people.deleteContact({ resourceName: gone.resourceName });
        await w.admin.advanceClock(2);
        await client.pull();
        await w.admin.request('PUT', '/people/settings', {
          syncTokenLifetimeSeconds: settings.syncTokenLifetimeSeconds,
        });
      } else await client.pull();
    }
    await idle();
    await gql('mutation { syncContacts { contacts { fullResyncs } } }');
    await idle();
    await client.pull();
    const truth = await everything();
    expect(truth.size).toBeGreaterThan(5);
    expect(sorted(client.copy)).toEqual(sorted(truth));
    const full = (await gql('{ syncStatus { contacts { fullResyncs } } }')).syncStatus.contacts.fullResyncs;
    expect(full).toBe(1);
    // A second client reading from the start gets the same copy, in fewer pages.
    const fresh = new Client();
    await fresh.pull(50);
    expect(sorted(fresh.copy)).toEqual(sorted(truth));
    console.log(
      `change feed mix: ${JSON.stringify(counts)}; ${truth.size} contacts; the client read ${client.pages} pages`,
    );
  });

  test('what delivery settles is a change too: PENDING, then SYNCED once Google has it, or FAILED with the reason', async () => {
    const client = new Client();
    const held = await w.admin.addFault({ api: 'people', method: 'people.people.batchCreateContacts', hold: 'call' });
    const c = (await gql('mutation { createContact(input: { givenName: "Slow" }) { id syncState } }')).createContact;
    expect(c.syncState).toBe('PENDING');
    await w.admin.waitHeld(held.id);
    await client.pull();
    expect(client.copy.get(c.id)?.syncState).toBe('PENDING');
    await w.admin.release(held.id);
    await w.admin.clearFaults();
    await idle();
    await client.pull();
    expect(client.copy.get(c.id)).toMatchObject({ syncState: 'SYNCED' });

    await w.admin.addFault({ api: 'people', method: 'people.people.batchCreateContacts', status: 400, count: 1 });
    const refused = (await gql('mutation { createContact(input: { givenName: "Refused" }) { id } }')).createContact;
    await client.pull();
    await idle();
    await client.pull();
    expect(client.copy.get(refused.id)).toMatchObject({ syncState: 'FAILED' });
    expect(sorted(client.copy)).toEqual(sorted(await everything()));
  });

  test('writes committed at once by many requests are all seen: no change is skipped by a client polling meanwhile', async () => {
    const client = new Client();
    let writing = true;
    const polling = (async () => {
      while (writing) await client.pull(5);
    })();
    await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        gql('mutation ($n: String!) { createContact(input: { givenName: $n }) { id } }', { n: `Par${i}` }),
      ),
    );
    const ids = [...(await everything()).keys()];
    await Promise.all(
      ids.slice(0, 8).map((id, i) =>
        gql('mutation ($id: ID!, $f: String!) { updateContact(id: $id, input: { familyName: $f }) { id } }', {
          id,
          f: `P${i}`,
        }),
      ),
    );
    await gql('mutation ($ids: [ID!]!) { deleteContacts(ids: $ids) }', { ids: ids.slice(8, 12) });
    writing = false;
    await polling;
    await idle();
    await client.pull(5);
    expect(sorted(client.copy)).toEqual(sorted(await everything()));
    expect(client.copy.size).toBe(20);
  });

  test('a cursor lives in the database: another replica continues it', async () => {
    const client = new Client();
    await gql('mutation { createContact(input: { givenName: "Before" }) { id } }');
    await idle();
    await client.pull();
    const replica = await startTestGateway(db().ds, {
      env: {
        GOOGLE_API_ROOT_URL: `${w.emu.url}/`,
        GOOGLE_TOKEN_URIS: `${w.emu.url}/token`,
        ...FAST_OUTBOX_ENV,
        CONTACTS_FRESHNESS_SECONDS: '0',
      },
    });
    try {
      await gql('mutation { createContact(input: { givenName: "After" }) { id } }');
      await idle();
      const page = (await gql(FEED, { after: client.cursor, first: 10 }, replica)).contactChanges;
      expect(page.edges.map((e: any) => e.node.contact?.givenName)).toEqual(['After']);
    } finally {
      await replica.close();
    }
  });

  test('a deletion is a tombstone in the feed; past the retention a cursor before it is cursor_expired, with a cursor to resume from after re-reading', async () => {
    const client = new Client();
    const a = (await gql('mutation { createContact(input: { givenName: "Stays" }) { id } }')).createContact;
    const b = (await gql('mutation { createContact(input: { givenName: "Goes" }) { id } }')).createContact;
    await idle(); // both in Google: nothing more will change them
    await client.pull();
    const old = client.cursor;
    await gql('mutation ($id: ID!) { deleteContact(id: $id) }', { id: b.id });
    await idle();
    const page = (await gql(FEED, { after: old, first: 10 })).contactChanges;
    expect(page.edges.map((e: any) => e.node)).toEqual([
      expect.objectContaining({ contactId: b.id, deleted: true, contact: null }),
    ]);
    await client.pull(); // this client read the tombstone
    expect(client.copy.has(b.id)).toBe(false);

    // Thirty-one days later the tombstone is forgotten: a client that had not read it must re-read everything.
    const removed = await w.gw.services.contactSync.prune(new Date(Date.now() + 31 * 86_400_000));
    expect(removed).toBeGreaterThanOrEqual(1);
    const r = await w.gw.gql(FEED, { token, variables: { after: old, first: 10 } });
    expect(r.body.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'after',
      reason: 'cursor_expired',
      retentionDays: 30,
      resyncCursor: expect.any(String),
    });
    expect(r.body.errors?.[0]?.message).toMatch(/Re-read every contact/);
    // What the error says to do: re-read, then continue from resyncCursor; later changes come, nothing before them.
    const resumed = new Client();
    resumed.copy = await everything();
    resumed.cursor = r.body.errors![0].extensions.resyncCursor;
    await gql('mutation ($id: ID!) { updateContact(id: $id, input: { familyName: "Later" }) { id } }', { id: a.id });
    await idle();
    await resumed.pull();
    expect(sorted(resumed.copy)).toEqual(sorted(await everything()));
    expect(resumed.copy.get(a.id)?.familyName).toBe('Later');
    // A client that had read past the tombstone is not affected.
    await client.pull();
    expect(client.copy.get(a.id)?.familyName).toBe('Later');
    expect(sorted(client.copy)).toEqual(sorted(await everything()));
  });

  test('deletes of several contacts at once: a client that stopped among their tombstones is told when those it had not read are forgotten; one that read them all is not', async () => {
    const made = (
      await gql(
        'mutation { createContacts(input: [{ givenName: "T1" }, { givenName: "T2" }, { givenName: "T3" }, { givenName: "T4" }]) { id } }',
      )
    ).createContacts;
    await idle();
    const reader = new Client();
    await reader.pull();
    const partial = new Client();
    partial.cursor = reader.cursor;
    await gql('mutation ($ids: [ID!]!) { deleteContacts(ids: $ids) }', {
      ids: made.slice(0, 3).map((c: { id: string }) => c.id),
    });
    await idle(); // Google confirmed: three tombstones
    const tombstones = await db().ds.query('SELECT changeSeq FROM contact_tombstone');
    expect(new Set(tombstones.map((t: { changeSeq: number }) => Number(t.changeSeq))).size).toBe(3); // a position each
    await reader.pull(50);
    // The other client stops after the first of them.
    const one = (await gql(FEED, { after: partial.cursor, first: 1 })).contactChanges;
    expect(one.edges[0].node.deleted).toBe(true);
    partial.cursor = one.pageInfo.endCursor;
    await w.gw.services.contactSync.prune(new Date(Date.now() + 31 * 86_400_000));
    const refused = await w.gw.gql(FEED, { token, variables: { after: partial.cursor, first: 10 } });
    expect(refused.body.errors?.[0]?.extensions?.reason).toBe('cursor_expired');
    const fine = await w.gw.gql(FEED, { token, variables: { after: reader.cursor, first: 10 } });
    expect(fine.body.errors).toBeUndefined();
    // The horizon only goes up: a pruner with an older view (another replica) cannot lower it.
    const horizon = Number((await db().ds.query('SELECT changesPrunedThrough AS p FROM contact_sync'))[0].p);
    const agentRow = (await db().ds.query('SELECT id, brokerageId FROM agent WHERE email = ?', [AGENT]))[0];
    await db()
      .ds.getRepository(ContactTombstone)
      .insert({
        contactId: '00000000-0000-4000-8000-00000000000a',
        brokerageId: agentRow.brokerageId,
        agentId: agentRow.id,
        changeSeq: 1,
        deletedAt: new Date(Date.now() - 60 * 86_400_000),
      });
    await w.gw.services.contactSync.prune();
    expect(Number((await db().ds.query('SELECT changesPrunedThrough AS p FROM contact_sync'))[0].p)).toBe(horizon);
  });

  test('a delete waiting for Google, and one Google refuses for good, are deletions in the feed as they are in contacts', async () => {
    const client = new Client();
    const [a, b] = (
      await gql('mutation { createContacts(input: [{ givenName: "Wait" }, { givenName: "Refuse" }]) { id } }')
    ).createContacts;
    await idle();
    await client.pull();
    const held = await w.admin.addFault({ api: 'people', method: 'people.people.batchDeleteContacts', hold: 'call' });
    await gql('mutation ($id: ID!) { deleteContact(id: $id) }', { id: a.id });
    await w.admin.waitHeld(held.id);
    await client.pull();
    expect(client.copy.has(a.id)).toBe(false);
    expect(sorted(client.copy)).toEqual(sorted(await everything()));
    await w.admin.release(held.id);
    await w.admin.clearFaults();
    await idle();
    await w.admin.addFault({ api: 'people', method: 'people.people.batchDeleteContacts', status: 400, count: 1 });
    await gql('mutation ($id: ID!) { deleteContact(id: $id) }', { id: b.id });
    await idle();
    await client.pull();
    expect(client.copy.has(b.id)).toBe(false);
    expect(sorted(client.copy)).toEqual(sorted(await everything()));
  });

  test('a cursor that is not one, or a page size out of range, is BAD_USER_INPUT naming the argument', async () => {
    for (const [v, field] of [
      [{ after: 'nonsense', first: 5 }, 'after'],
      [{ after: null, first: 0 }, 'first'],
      [{ after: null, first: 501 }, 'first'],
    ] as const) {
      const r = await w.gw.gql(FEED, { token, variables: v });
      expect(r.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
    }
  });
});

describeEachDb('event change feed', (db) => {
  let w: World;
  let token: string;
  const FROM = '2026-12-01T00:00:00Z';
  const TO = '2027-01-01T00:00:00Z';
  const EVENT = 'id title location start end';
  const EVENT_FEED = `query ($after: String) { eventChanges(after: $after, first: 6) { edges { node { eventId status event { ${EVENT} } } } pageInfo { hasNextPage endCursor } } }`;

  beforeAll(async () => {
    // Every feed read syncs first (no cache window); writes answer at once and settle later.
    w = await startWorld(db(), { env: { CALENDAR_CACHE_SECONDS: '0', MUTATION_WAIT_MS: '0' } });
    token = await w.token(AGENT);
  });
  afterAll(() => w.close());

  const gql = async (q: string, v?: Record<string, unknown>) => {
    const r = await w.gw.gql(q, { token, variables: v });
    if (r.body.errors) throw new Error(JSON.stringify(r.body.errors));
    return r.body.data;
  };
  const idle = () => deliveryDone(db());
  const day = (i: number) => `2026-12-${String((i % 27) + 2).padStart(2, '0')}`;
  /** A client's local copy of the events, kept by applying eventChanges (cancelled: removed). */
  const eventClient = () => {
    const client = {
      copy: new Map<string, Node>(),
      cursor: null as string | null,
      pages: 0,
      async pull(): Promise<void> {
        for (;;) {
          const page: any = (await gql(EVENT_FEED, { after: client.cursor })).eventChanges;
          client.pages++;
          for (const { node } of page.edges) {
            if (node.status === 'cancelled') client.copy.delete(node.eventId);
            else client.copy.set(node.eventId, node.event);
          }
          client.cursor = page.pageInfo.endCursor;
          if (!page.pageInfo.hasNextPage) return;
        }
      },
    };
    return client;
  };

  test('a client applying eventChanges to a local copy ends equal to events after a random mix of CRM writes, Google edits and deletes, and a full resync (410)', async () => {
    const google = googleClients(w.emu.url, w.tenant.key, AGENT, [...GUIDE_SCOPES]).calendar;
    const client = eventClient();
    const { copy, pull } = client;
    const events = async () =>
      new Map<string, Node>(
        (
          (await gql(`query { events(from: "${FROM}", to: "${TO}", first: 500) { edges { node { ${EVENT} } } } }`))
            .events.edges as { node: Node }[]
        ).map((e) => [e.node.id, e.node]),
      );
    const live = async () => [...(await events()).keys()];
    const rnd = random(42);
    const pick = <T>(xs: T[]): T | undefined => (xs.length ? xs[Math.floor(rnd() * xs.length)] : undefined);
    const counts: Record<string, number> = {};
    for (let i = 0; i < 50; i++) {
      const r = rnd();
      const op =
        i === 25
          ? 'resync'
          : r < 0.22
            ? 'crmCreate'
            : r < 0.36
              ? 'crmUpdate'
              : r < 0.46
                ? 'crmDelete'
                : r < 0.6
                  ? 'googleCreate'
                  : r < 0.72
                    ? 'googlePatch'
                    : r < 0.8
                      ? 'googleDelete'
                      : 'pull';
      counts[op] = (counts[op] ?? 0) + 1;
      if (op === 'crmCreate')
        await gql('mutation ($i: EventInput!) { createEvent(input: $i) { id } }', {
          i: { title: `Crm${i}`, start: `${day(i)}T10:00:00Z`, end: `${day(i)}T11:00:00Z` },
        });
      else if (op === 'crmUpdate') {
        const id = pick(await live());
        if (id)
          await gql('mutation ($id: ID!, $l: String!) { updateEvent(id: $id, input: { location: $l }) { id } }', {
            id,
            l: `Room ${i}`,
          });
      } else if (op === 'crmDelete') {
        const id = pick(await live());
        if (id) await gql('mutation ($id: ID!) { deleteEvent(id: $id) }', { id });
      } else if (op === 'googleCreate')
        await google.events.insert({
          calendarId: 'primary',
          requestBody: {
            summary: `Goo${i}`,
            start: { dateTime: `${day(i)}T15:00:00Z` },
            end: { dateTime: `${day(i)}T16:00:00Z` },
          },
        });
      else if (op === 'googlePatch') {
        const id = pick(await live());
        if (id)
          await google.events
            .patch({ calendarId: 'primary', eventId: id, requestBody: { summary: `GooEdit${i}` } })
            .catch(() => undefined);
      } else if (op === 'googleDelete') {
        const id = pick(await live());
        if (id) await google.events.delete({ calendarId: 'primary', eventId: id }).catch(() => undefined);
      } else if (op === 'resync') {
        // Google drops the sync token (410): the next sync lists everything again and reconciles.
        await idle();
        const gone = pick(await live());
        if (gone) await google.events.delete({ calendarId: 'primary', eventId: gone });
        expect((await w.admin.request('POST', `/users/${AGENT}/calendar/invalidate-sync-tokens`)).status).toBe(200);
        await pull();
      } else await pull();
    }
    await idle();
    await pull();
    const truth = await events();
    expect(truth.size).toBeGreaterThan(5);
    const sortedNodes = (m: Map<string, Node>) => [...m.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
    expect(sortedNodes(copy)).toEqual(sortedNodes(truth));
    expect(
      (await gql('{ syncStatus { calendar { lastFullSyncReason fullSyncs } } }')).syncStatus.calendar,
    ).toMatchObject({ lastFullSyncReason: 'FULL_SYNC_REQUIRED', fullSyncs: 2 });
    console.log(
      `event feed mix: ${JSON.stringify(counts)}; ${truth.size} events; the client read ${client.pages} pages`,
    );
  });

  test('our write settled after a sync recorded an edit made in Google meanwhile: the feed ends as Google does', async () => {
    const google = googleClients(w.emu.url, w.tenant.key, AGENT, [...GUIDE_SCOPES]).calendar;
    const e = (
      await gql(
        'mutation { createEvent(input: { title: "Race0", start: "2026-12-21T09:00:00Z", end: "2026-12-21T10:00:00Z" }) { id } }',
      )
    ).createEvent;
    await idle();
    const { copy, pull } = eventClient();
    await pull();
    // Our patch reaches Google; its answer is held (and then lost: the retry meets 412 and applies ours again).
    // Meanwhile someone edits the event in Google and a sync records it.
    const held = await w.admin.addFault({
      api: 'calendar',
      method: 'calendar.events.patch',
      hold: 'answer',
      afterCommit: true,
      count: 1,
    });
    await gql('mutation ($id: ID!) { updateEvent(id: $id, input: { title: "Ours" }) { id } }', { id: e.id });
    await w.admin.waitHeld(held.id);
    await google.events.patch({ calendarId: 'primary', eventId: e.id, requestBody: { summary: 'Theirs' } });
    await gql('mutation { syncCalendar { calendar { lastSyncAt } } }');
    await w.admin.release(held.id);
    await idle();
    await pull();
    const truth = (await gql('query ($id: ID!) { event(id: $id) { id title location start end } }', { id: e.id }))
      .event;
    expect(copy.get(e.id)).toEqual(truth);
  });

  test('a CRM write is in the feed once Google has it, without a sync of its own', async () => {
    const before: any = (await gql(EVENT_FEED, { after: null })).eventChanges;
    let cursor = before.pageInfo.endCursor;
    for (let page = before; page.pageInfo.hasNextPage; cursor = page.pageInfo.endCursor)
      page = (await gql(EVENT_FEED, { after: cursor })).eventChanges;
    const e = (
      await gql(
        'mutation { createEvent(input: { title: "Ours", start: "2026-12-20T09:00:00Z", end: "2026-12-20T10:00:00Z" }) { id } }',
      )
    ).createEvent;
    await idle();
    // Google's listing fails now, so the feed read's own sync sees nothing: the write is there because the delivery
    // recorded it. Once the listing works again, the sync finds it known and records it no second time.
    await w.admin.addFault({ api: 'calendar', method: 'calendar.events.list', status: 503, count: 1 });
    const page = (await gql(EVENT_FEED, { after: cursor })).eventChanges;
    expect(page.edges.map((x: any) => [x.node.eventId, x.node.status, x.node.event?.title])).toEqual([
      [e.id, 'confirmed', 'Ours'],
    ]);
    expect((await w.admin.requests({ api: 'calendar', method: 'calendar.events.list' })).at(-1)?.status).toBe(503);
    const next = (await gql(EVENT_FEED, { after: page.pageInfo.endCursor })).eventChanges;
    expect(next.edges).toEqual([]);
    expect((await w.admin.requests({ api: 'calendar', method: 'calendar.events.list' })).at(-1)?.status).toBe(200);
  });
});
