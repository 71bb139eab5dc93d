/**
 * A brokerage's key over its life (issue 12, item 6): submissions that race, replacement, removal, and KEK rotation
 * over what they leave. A key that is not the one in use must be gone from the database (ciphertext and wrapped data
 * key emptied), not only marked RETIRED: a replaced or removed key is often one that leaked, and neither the database
 * nor its backups may keep it. End to end: GraphQL → gateway → emulator → database rows, on SQLite and MariaDB.
 *
 * Races are set up with the emulator's hold faults, not with timing: every submission's doctor is parked at Google
 * until all of them are, then they are let go together, so all of them reach the swap of keys at once.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Envelope } from '../../src/crypto/envelope';
import { rewrapAllCredentials } from '../../src/crypto/rewrap';
import { startEmulator, type RunningEmulator } from 'google-workspace-emulator';
import { AuditLog, CalendarChannel, ServiceAccountCredential } from '../../src/entities';
import type { CredentialStatus } from '../../src/entities/service-account-credential.entity';
import { GUIDE_SCOPES } from '../../src/google/scopes';
import { describeEachDb } from '../support/db';
import { freePort, seedBrokerage, startTestGateway, type TestGateway } from '../support/gateway';
import { EmulatorAdmin, type ServiceAccountKeyFile, type Tenant } from '../support/google';
import { until } from '../support/wait';
import { startWorld, type World } from '../support/world';

const SUBMIT = `mutation ($key: String!, $email: String!) {
  submitServiceAccountKey(keyJson: $key, testEmail: $email) { status serviceAccount { privateKeyId status } }
}`;
const REMOVE = 'mutation { removeServiceAccountKey }';
const VERIFY = 'mutation { verifyServiceAccount { status serviceAccount { privateKeyId } } }';
const SERVICE_ACCOUNT = '{ serviceAccount { privateKeyId status } }';
const VIEW = 'query { events(from: "2026-12-01T00:00:00Z", to: "2027-01-01T00:00:00Z") { totalCount } }';
const PURPOSE = 'service-account-key';

describeEachDb('key lifecycle: races, replacement, removal, rotation', (db) => {
  let emu: RunningEmulator;
  let admin: EmulatorAdmin;
  let gw: TestGateway;
  let adminToken: string;
  let tenant: Tenant;
  let brokerageId: string;

  beforeAll(async () => {
    emu = await startEmulator();
    admin = new EmulatorAdmin(emu.url);
    gw = await startTestGateway(db().ds, {
      env: { GOOGLE_API_ROOT_URL: `${emu.url}/`, GOOGLE_TOKEN_URIS: `${emu.url}/token` },
    });
  });
  afterAll(async () => {
    await admin.clearFaults().catch(() => undefined); // a call a failed test left parked would hold the shutdown
    await gw.close();
    await emu.close();
  });
  beforeEach(async () => {
    await db().clear();
    await admin.reset();
    brokerageId = (await seedBrokerage(db().ds, 'alpha.test', [{ email: 'boss@alpha.test', role: 'admin' }])).id;
    adminToken = await gw.token('boss@alpha.test', { admin: true });
    tenant = await admin.tenant('alpha.test', ['boss@alpha.test', 'tester@alpha.test'], [...GUIDE_SCOPES]);
  });

  const submit = (key: ServiceAccountKeyFile) =>
    gw.gql(SUBMIT, { token: adminToken, variables: { key: JSON.stringify(key), email: 'tester@alpha.test' } });
  const rows = () =>
    db()
      .ds.getRepository(ServiceAccountCredential)
      .find({ where: { brokerageId }, order: { createdAt: 'ASC', id: 'ASC' } });
  /** The key JSON a row still yields, or null when it no longer decrypts (erased). */
  const decrypted = (row: ServiceAccountCredential): string | null => {
    try {
      return gw.services.envelope.decrypt(row, { brokerageId: row.brokerageId, purpose: PURPOSE });
    } catch {
      return null;
    }
  };
  /** Per row: [status, has ciphertext, has wrapped key, decrypts]. */
  const shape = async () =>
    (await rows()).map((r) => [r.status, r.ciphertext !== '', r.wrappedKey !== '', decrypted(r) !== null]);
  const ERASED = ['RETIRED', false, false, false];
  const IN_USE = ['VERIFIED', true, true, true];

  /** `n` further keys of the tenant's service account (a key rotation in Google issues one per submission). */
  const moreKeys = async (n: number) =>
    Promise.all(Array.from({ length: n }, async () => (await admin.addKey(tenant.clientId)).key));

  /**
   * Submits every key at once, with each doctor parked at Google (its Gmail check) until all are, and every other
   * check of every doctor has answered: released together, the submissions reach the swap of keys at the same moment.
   */
  async function submitAllAtOnce(keys: ServiceAccountKeyFile[]) {
    const gate = await admin.addFault({
      api: 'gmail',
      method: 'gmail.users.getProfile',
      hold: 'call',
      count: keys.length,
    });
    await admin.clearRequests();
    const answers = Promise.all(keys.map((k) => submit(k)));
    // A submission that answers before reaching Gmail (its doctor failed earlier) would leave the wait hanging: say
    // why.
    const answeredEarly = answers.then((a) => {
      throw new Error(
        `a submission answered before every doctor reached Gmail: ${JSON.stringify(a.map((x) => x.body))}`,
      );
    });
    answeredEarly.catch(() => undefined);
    await Promise.race([admin.waitHeld(gate.id, keys.length), answeredEarly]);
    await until(
      'every other doctor check of every submission answered',
      async () =>
        (await admin.requests()).filter(
          (r) => r.method === 'people.people.connections.list' || r.method === 'calendar.events.list',
        ).length,
      (n) => n === keys.length * 3, // people: api check + sync page; calendar: api check
    );
    await admin.release(gate.id);
    return (await answers).map((a) => a.body);
  }

  /** Stores a key the way an earlier gateway did, without going through submit (a state the old race left behind). */
  async function seedRow(
    key: ServiceAccountKeyFile,
    status: CredentialStatus,
    createdAt: Date,
  ): Promise<ServiceAccountCredential> {
    const json = JSON.stringify(key);
    const row: ServiceAccountCredential = {
      id: randomUUID(),
      brokerageId,
      status,
      clientEmail: key.client_email,
      clientId: key.client_id,
      privateKeyId: key.private_key_id,
      ...gw.services.envelope.encrypt(json, { brokerageId, purpose: PURPOSE }),
      verifiedAt: status === 'RETIRED' ? null : createdAt,
      testEmail: 'tester@alpha.test',
      grantedScopes: JSON.stringify(GUIDE_SCOPES),
      lastChecks: null,
      createdAt,
      updatedAt: createdAt,
    };
    await db().ds.getRepository(ServiceAccountCredential).insert(row);
    return row;
  }

  test('a read of the key check whose connection was closed before Google answered is made again: the key verifies', async () => {
    // As for every other Google read (src/google/closed-connection.ts); before, the check's sessions used a plain fetch
    // and one closed pooled connection refused a good key with CANNOT_BE_VERIFIED.
    await admin.addFault({ api: 'people', method: 'people.people.connections.list', resetConnection: true, count: 1 });
    const r = await submit(tenant.key);
    expect(r.body.errors).toBeUndefined();
    expect(r.body.data.submitServiceAccountKey.status).toBe('VERIFIED');
    const lists = await admin.requests({ api: 'people', method: 'people.people.connections.list' });
    // The probe (reset, then made again), then the first page of a sync as the gateway reads it.
    expect(lists.map((e) => e.fault ?? null)).toEqual(['reset', null, null]);
  });

  test('5 submissions at once leave exactly one usable key; every replaced key is erased; Google calls work with the survivor', async () => {
    const keys = [tenant.key, ...(await moreKeys(4))];
    const answers = await submitAllAtOnce(keys);
    expect(answers.map((b) => [b.errors, b.data?.submitServiceAccountKey.status])).toEqual(
      keys.map(() => [undefined, 'VERIFIED']),
    );

    const stored = await rows();
    expect(stored).toHaveLength(5);
    const inUse = stored.filter((r) => r.status !== 'RETIRED');
    expect(inUse.map((r) => r.status)).toEqual(['VERIFIED']);
    for (const r of stored.filter((x) => x.status === 'RETIRED'))
      expect([r.ciphertext, r.wrappedKey]).toEqual(['', '']);
    const survivor = keys.find((k) => k.private_key_id === inUse[0].privateKeyId)!;
    expect(decrypted(inUse[0])).toBe(JSON.stringify(survivor));

    // The brokerage's Google calls go out with the survivor: its checks pass, and an agent reads the calendar.
    const verified = await gw.gql(VERIFY, { token: adminToken });
    expect(verified.body.data.verifyServiceAccount).toEqual({
      status: 'VERIFIED',
      serviceAccount: { privateKeyId: survivor.private_key_id },
    });
    const view = await gw.gql(VIEW, { token: await gw.token('tester@alpha.test') });
    expect([view.body.errors, view.body.data?.events.totalCount]).toEqual([undefined, 0]);
  });

  test('removal after racing submissions: every key of the brokerage is erased and none decrypts', async () => {
    await submitAllAtOnce([tenant.key, ...(await moreKeys(2))]);
    expect((await gw.gql(REMOVE, { token: adminToken })).body).toEqual({ data: { removeServiceAccountKey: true } });
    expect(await shape()).toEqual([ERASED, ERASED, ERASED]);
    expect((await gw.gql(SERVICE_ACCOUNT, { token: adminToken })).body.data.serviceAccount).toBeNull();
    expect((await gw.gql(VERIFY, { token: adminToken })).body.errors?.[0].extensions.code).toBe(
      'GOOGLE_NOT_CONFIGURED',
    );
    expect(await gw.services.credentials.current(db().ds.manager, brokerageId)).toBeNull();
  });

  test('removal erases every key, also two left in use by the old race and a retired one still holding its secret', async () => {
    expect((await submit(tenant.key)).body.data.submitServiceAccountKey.status).toBe('VERIFIED');
    // The state the old race left behind, made directly: a second row not RETIRED, older than the one served (the
    // newest), and a RETIRED row from before replaced keys were erased, still holding its secret.
    const [b, legacy] = await moreKeys(2);
    await seedRow(legacy, 'RETIRED', new Date(Date.now() - 120_000));
    await seedRow(b, 'VERIFIED', new Date(Date.now() - 60_000));
    expect(await shape()).toEqual([['RETIRED', true, true, true], IN_USE, IN_USE]);
    const before = await rows();
    const forgotten = jest.spyOn(gw.services.credentials, 'forget');
    const tokensDropped = jest.spyOn(gw.services.broker, 'forgetCredential');

    try {
      expect((await gw.gql(REMOVE, { token: adminToken })).body).toEqual({ data: { removeServiceAccountKey: true } });
      // This process drops its decrypted copy and its tokens of each key.
      for (const spy of [forgotten, tokensDropped])
        expect(spy.mock.calls.map(([id]) => id).sort()).toEqual(before.map((r) => r.id).sort());
    } finally {
      forgotten.mockRestore();
      tokensDropped.mockRestore();
    }
    expect(await shape()).toEqual([ERASED, ERASED, ERASED]);
    expect((await gw.gql(VERIFY, { token: adminToken })).body.errors?.[0].extensions.code).toBe(
      'GOOGLE_NOT_CONFIGURED',
    );
    expect(await gw.services.credentials.current(db().ds.manager, brokerageId)).toBeNull();
    // One audit row per key erased, saying what it was; no secret in any of them.
    const audit = await db()
      .ds.getRepository(AuditLog)
      .find({ where: { action: 'credential.removed' } });
    expect(audit.map((a) => [a.target, JSON.parse(a.detail!).status]).sort()).toEqual(
      before.map((r) => [r.id, r.status]).sort(),
    );
    expect(JSON.stringify(audit)).not.toContain('PRIVATE KEY');
    // Nothing left to remove.
    expect((await gw.gql(REMOVE, { token: adminToken })).body).toEqual({ data: { removeServiceAccountKey: false } });
  });

  test('two removals at the same moment: one removes the key, the other finds none; neither fails', async () => {
    expect((await submit(tenant.key)).body.data.submitServiceAccountKey.status).toBe('VERIFIED');
    // Straight to the service, so both transactions begin in the same tick (over HTTP each request is parsed first).
    const who = { brokerageId, actor: 'boss@alpha.test' };
    const results = await Promise.allSettled([gw.services.onboarding.remove(who), gw.services.onboarding.remove(who)]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : String(r.reason))).sort()).toEqual([false, true]);
    expect(await shape()).toEqual([ERASED]);
    expect(await db().ds.getRepository(AuditLog).countBy({ action: 'credential.removed' })).toBe(1);
  });

  test('replacement: the replaced key is erased when its successor is stored; rewrap skips erased rows and does not count them', async () => {
    expect((await submit(tenant.key)).body.data.submitServiceAccountKey.status).toBe('VERIFIED');
    const [a] = await rows();
    gw.services.credentials.load(a); // cached, as after serving requests
    const [b] = await moreKeys(1);
    expect((await submit(b)).body.data.submitServiceAccountKey.status).toBe('VERIFIED');

    const [aAfter, bRow] = await rows();
    expect(aAfter.id).toBe(a.id);
    expect([aAfter.status, aAfter.ciphertext, aAfter.wrappedKey]).toEqual(['RETIRED', '', '']);
    expect(decrypted(aAfter)).toBeNull();
    expect(decrypted(bRow)).toBe(JSON.stringify(b));
    expect((await gw.services.credentials.current(db().ds.manager, brokerageId))?.id).toBe(bRow.id);
    const audit = await db()
      .ds.getRepository(AuditLog)
      .findOneByOrFail({ action: 'credential.submitted', target: bRow.id });
    expect(JSON.parse(audit.detail!).replaced).toEqual([a.id]);

    // KEK rotation over it: only the key in use is re-wrapped; the erased row is neither counted nor a failure.
    const k2 = { id: 'k2', key: randomBytes(32) };
    const report = await rewrapAllCredentials(db().ds, new Envelope([k2, ...gw.config.keyEncryptionKeys]), 'test');
    expect({ rewrapped: report.rewrapped, failed: report.failed }).toEqual({ rewrapped: 1, failed: [] });
    const [aRotated, bRotated] = await rows();
    expect(aRotated).toEqual(aAfter);
    expect(bRotated.kekId).toBe('k2');
    expect(new Envelope([k2]).decrypt(bRotated, { brokerageId, purpose: PURPOSE })).toBe(JSON.stringify(b));
    expect(
      await rewrapAllCredentials(db().ds, new Envelope([k2, ...gw.config.keyEncryptionKeys]), 'test'),
    ).toMatchObject({ rewrapped: 0, failed: [] });
  });
});

describeEachDb('key lifecycle: calendar push channels across a replacement', (db) => {
  let w: World;
  let webhook: string;
  let agentToken: string;

  beforeAll(async () => {
    const port = await freePort();
    webhook = `http://127.0.0.1:${port}/webhooks/google/calendar`;
    w = await startWorld(db(), {
      port,
      users: ['agent@alpha.test', 'boss@alpha.test'],
      env: { CALENDAR_WEBHOOK_URL: webhook, CALENDAR_CACHE_SECONDS: '0' },
    });
    agentToken = await w.token('agent@alpha.test');
  });
  afterAll(() => w.close());

  interface GoogleChannel {
    id: string;
    address: string;
    stopped: boolean;
    projectNumber: string;
  }
  const channelsInGoogle = async () =>
    (await w.admin.request<GoogleChannel[]>('GET', '/calendar/channels')).body.filter((c) => c.address === webhook);
  const replaceWith = async (key: ServiceAccountKeyFile) =>
    (
      await w.gw.gql(SUBMIT, {
        token: await w.token('boss@alpha.test', true),
        variables: { key: JSON.stringify(key), email: 'agent@alpha.test' },
      })
    ).body.data.submitServiceAccountKey.status;
  /**
   * The agent's first calendar use registers a channel (in the background); waits until Google has it and we recorded
   * it.
   */
  const registered = async () => {
    expect((await w.gw.gql(VIEW, { token: agentToken })).body.data.events.totalCount).toBe(0);
    return until(
      'a channel open in Google and recorded',
      async () => {
        const rowIds = (await db().ds.getRepository(CalendarChannel).find()).map((c) => c.id);
        return (await channelsInGoogle()).filter((c) => !c.stopped && rowIds.includes(c.id));
      },
      (live) => live.length === 1,
    ).then((live) => live[0]);
  };

  test('a new key of the same service account keeps the channels (they belong to the project, not the key); a key of another service account stops them with the replaced key', async () => {
    const first = await registered();
    expect(first.projectNumber).toBe(w.tenant.projectNumber);

    // Same service account, new key: nothing to stop; the channel goes on and is renewed with the new key.
    await w.admin.clearRequests();
    expect(await replaceWith((await w.admin.addKey(w.tenant.clientId)).key)).toBe('VERIFIED');
    expect((await channelsInGoogle()).map((c) => [c.id, c.stopped])).toEqual([[first.id, false]]);
    expect((await db().ds.getRepository(CalendarChannel).find()).map((c) => c.id)).toEqual([first.id]);
    expect(await w.admin.requests({ api: 'calendar', method: 'calendar.channels.stop' })).toEqual([]);

    // Another service account (another project): only the replaced key's project can stop its channels, so they are
    // stopped with that key before it is gone; the next use registers anew under the new project.
    const other = await w.admin.createServiceAccount('alpha.test');
    await w.admin.delegate(other.clientId, [...GUIDE_SCOPES]);
    await w.admin.clearRequests();
    expect(await replaceWith(other.key)).toBe('VERIFIED');
    expect((await channelsInGoogle()).map((c) => [c.id, c.stopped])).toEqual([[first.id, true]]);
    expect(
      (await w.admin.requests({ api: 'calendar', method: 'calendar.channels.stop' })).map((r) => [
        r.status,
        r.clientId,
      ]),
    ).toEqual([[204, w.tenant.clientId]]);
    expect(await db().ds.getRepository(CalendarChannel).count()).toBe(0);
    const next = await registered();
    expect(next.projectNumber).toBe(other.projectNumber);
    // Every replaced key is erased; only the other account's key is left.
    const stored = await db()
      .ds.getRepository(ServiceAccountCredential)
      .find({ where: { brokerageId: w.brokerageId } });
    expect(stored.filter((r) => r.ciphertext !== '' || r.wrappedKey !== '').map((r) => [r.clientId, r.status])).toEqual(
      [[other.clientId, 'VERIFIED']],
    );
  });
});
