/**
 * Issue 14, metrics: GET /metrics in Prometheus' text format (prom-client), with counters that move for a known
 * workload and labels that stay bounded (no emails, no ids). Each count is read before and after, so other tests'
 * traffic on the same gateway cannot make it pass.
 */
import { createTestDb, describeEachDb } from '../support/db';
import { resetContacts, startWorld, type World } from '../support/world';

const AGENT = 'agent@alpha.test';

type Samples = Map<string, number>;

/** `name{a="x",b="y"} value` lines as a map from `name{a="x",b="y"}` (labels as printed) to value. */
function parse(text: string): Samples {
  const out: Samples = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

describeEachDb('metrics', (db) => {
  let w: World;
  let token: string;

  beforeAll(async () => {
    w = await startWorld(db(), { env: { MUTATION_WAIT_MS: '60000' } });
    token = await w.token(AGENT);
  });
  afterAll(() => w.close());
  beforeEach(async () => {
    await w.admin.clearFaults();
    await resetContacts(w, db(), AGENT);
  });

  const gql = (q: string, v?: Record<string, unknown>) => w.gw.gql(q, { token, variables: v });
  const scrape = async (): Promise<{ text: string; samples: Samples; type: string | null }> => {
    const res = await fetch(`${w.gw.url}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    return { text, samples: parse(text), type: res.headers.get('content-type') };
  };
  const value = (s: Samples, key: string) => s.get(key) ?? 0;

  test('one createContact: one GraphQL mutation counted ok, one People batch create with its status, one delivery done; labels bounded', async () => {
    const before = (await scrape()).samples;
    const res = await gql(
      'mutation { createContact(input: { givenName: "Counted", emails: [{ value: "counted@buyer.test" }] }) { syncState } }',
    );
    expect(res.body.data.createContact.syncState).toBe('SYNCED');
    const after = await scrape();
    expect(after.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const delta = (key: string) => value(after.samples, key) - value(before, key);
    expect(
      delta('engage_graphql_requests_total{operation_type="mutation",operation_name="createContact",outcome="ok"}'),
    ).toBe(1);
    expect(
      delta(
        'engage_google_api_requests_total{api="people",method="POST /v1/people:batchCreateContacts",status_code="200"}',
      ),
    ).toBe(1);
    expect(delta('engage_outbox_deliveries_total{kind="contacts",result="done"}')).toBe(1);
    expect(
      delta('engage_graphql_request_duration_seconds_count{operation_type="mutation",operation_name="createContact"}'),
    ).toBe(1);
    expect(value(after.samples, 'engage_google_token_requests_total{result="ok"}')).toBeGreaterThan(0);
    expect(after.samples.has('process_cpu_user_seconds_total')).toBe(true);
    // Bounded labels: no address, no id of ours or Google's.
    expect(after.text).not.toMatch(/@|[0-9a-f]{8}-[0-9a-f]{4}-|people\/c\d|\{id\}:\{verb\}/);
  });

  test('an error is counted by its code; a Google answer by its status; the outbox gauges read what waits, and empty again', async () => {
    const before = (await scrape()).samples;
    const nf = await gql('mutation { updateContact(id: "no-such-contact", input: { givenName: "x" }) { id } }');
    expect(nf.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    await w.admin.addFault({ api: 'people', method: 'people.people.batchCreateContacts', status: 503, count: 1 });
    await w.admin.addFault({ api: 'people', method: 'people.people.batchCreateContacts', hold: 'call' });
    const write = gql('mutation { createContact(input: { givenName: "Waits" }) { syncState } }');
    const held = (await w.admin.faults()).find((f) => f.hold === 'call')!;
    await w.admin.waitHeld(held.id);
    const during = (await scrape()).samples;
    expect(value(during, 'engage_outbox_pending{kind="contacts"}')).toBe(1);
    expect(value(during, 'engage_outbox_oldest_pending_age_seconds{kind="contacts"}')).toBeGreaterThanOrEqual(0);
    expect(value(during, 'engage_outbox_oldest_pending_age_seconds{kind="contacts"}')).toBeLessThan(600); // a row written moments ago, whatever the time zones
    expect(during.has('engage_outbox_oldest_pending_age_seconds{kind="contacts"}')).toBe(true);
    await w.admin.release(held.id);
    expect((await write).body.data.createContact.syncState).toBe('SYNCED');
    const after = (await scrape()).samples;
    const delta = (key: string) => value(after, key) - value(before, key);
    expect(
      delta(
        'engage_graphql_requests_total{operation_type="mutation",operation_name="updateContact",outcome="NOT_FOUND"}',
      ),
    ).toBe(1);
    expect(
      delta(
        'engage_google_api_requests_total{api="people",method="POST /v1/people:batchCreateContacts",status_code="503"}',
      ),
    ).toBe(1);
    expect(delta('engage_outbox_deliveries_total{kind="contacts",result="retry"}')).toBe(1);
    // Nothing waiting reads 0 for every kind (a series that is absent means the database did not answer).
    for (const kind of ['contacts', 'calendar', 'mail']) {
      expect([
        kind,
        after.get(`engage_outbox_pending{kind="${kind}"}`),
        after.get(`engage_outbox_oldest_pending_age_seconds{kind="${kind}"}`),
      ]).toEqual([kind, 0, 0]);
    }
  });

  test('requests refused before GraphQL runs (no token, malformed JSON) are counted as "(refused)" by their outcome; a body too large for its operation by the operation', async () => {
    const before = (await scrape()).samples;
    const post = (body: string, headers: Record<string, string>) =>
      fetch(`${w.gw.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-proto': 'https', ...headers },
        body,
      });
    expect((await post('{"query":"{ me { id } }"}', {})).status).toBe(401);
    expect((await post('{"query": ', { authorization: `Bearer ${token}` })).status).toBe(400);
    // Over MAX_BODY_BYTES, it is read (only a mail may be that large) and refused once its operation is known.
    expect(
      (
        await post(JSON.stringify({ query: `{ me { id } } # ${'x'.repeat(2 * 1024 * 1024)}` }), {
          authorization: `Bearer ${token}`,
        })
      ).status,
    ).toBe(413);
    const after = (await scrape()).samples;
    const delta = (labels: string) =>
      value(after, `engage_graphql_requests_total{${labels}}`) -
      value(before, `engage_graphql_requests_total{${labels}}`);
    expect([
      delta('operation_type="unknown",operation_name="(refused)",outcome="UNAUTHENTICATED"'),
      delta('operation_type="unknown",operation_name="(refused)",outcome="BAD_USER_INPUT"'),
      delta('operation_type="query",operation_name="me",outcome="BAD_USER_INPUT"'),
    ]).toEqual([1, 1, 1]);
  });

  test('a full resync Google forced is counted, and the last successful sync is stamped', async () => {
    await gql('mutation { syncCalendar { calendar { lastSyncAt } } }');
    const before = (await scrape()).samples;
    const since = Date.now() / 1000;
    await w.admin.request('POST', `/users/${AGENT}/calendar/invalidate-sync-tokens`);
    expect(
      (await gql('mutation { syncCalendar { calendar { lastFullSyncReason } } }')).body.data.syncCalendar.calendar
        .lastFullSyncReason,
    ).toBe('FULL_SYNC_REQUIRED');
    const after = (await scrape()).samples;
    expect(
      value(after, 'engage_sync_full_resyncs_total{api="calendar"}') -
        value(before, 'engage_sync_full_resyncs_total{api="calendar"}'),
    ).toBe(1);
    // Told apart by path though one root serves every API here (GOOGLE_API_ROOT_URL): the 410 is Calendar's.
    const gone =
      'engage_google_api_requests_total{api="calendar",method="GET /calendar/v3/calendars/primary/events",status_code="410"}';
    expect(value(after, gone) - value(before, gone)).toBe(1);
    expect(value(after, 'engage_sync_last_success_timestamp_seconds{api="calendar"}')).toBeGreaterThanOrEqual(
      Math.floor(since),
    );
  });
});

describe('METRICS_PORT', () => {
  test("/metrics is served on its own port and not on the API's", async () => {
    const db = await createTestDb('sqlite');
    const w = await startWorld(db, { env: { METRICS_PORT: '0' } });
    try {
      expect(w.gw.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect((await fetch(`${w.gw.url}/metrics`)).status).toBe(404);
      const res = await fetch(`${w.gw.metricsUrl}/metrics`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('engage_graphql_requests_total');
    } finally {
      await w.close();
      await db.drop();
    }
  });
});
