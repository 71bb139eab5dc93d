/**
 * A brokerage fully set up against the emulator: domain, users, a verified
 * service-account key submitted through the API, and a running gateway with
 * fast outbox settings. What the feature tests (contacts, calendar, mail) start from.
 */
import { startEmulator, type RunningEmulator } from 'google-workspace-emulator';
import { GUIDE_SCOPES } from '../../src/google/scopes';
import type { Logger } from '../../src/logger';
import type { TestDb } from './db';
import { until } from './wait';
import { forgetRows, seedBrokerage, startTestGateway, type TestGateway } from './gateway';
import { EmulatorAdmin, type Tenant } from './google';

export interface World {
  emu: RunningEmulator;
  admin: EmulatorAdmin;
  gw: TestGateway;
  tenant: Tenant;
  brokerageId: string;
  /** A caller token for one of the domain's users. */
  token(email: string, admin?: boolean): Promise<string>;
  close(): Promise<void>;
}

export const FAST_OUTBOX_ENV = {
  OUTBOX_POLL_MS: '50',
  OUTBOX_LINGER_MS: '10',
  OUTBOX_RETRY_BASE_MS: '20',
  OUTBOX_RETRY_MAX_MS: '200',
  OUTBOX_LEASE_MS: '2000',
  MUTATION_WAIT_MS: '3000',
  CONTACTS_FRESHNESS_SECONDS: '3600',
};

export async function startWorld(
  db: TestDb,
  opts: {
    domain?: string;
    users?: string[];
    env?: Record<string, string | undefined>;
    emu?: RunningEmulator;
    port?: number;
    log?: Logger;
  } = {},
): Promise<World> {
  const domain = opts.domain ?? 'alpha.test';
  const users = opts.users ?? [`agent@${domain}`, `other@${domain}`, `boss@${domain}`];
  const emu = opts.emu ?? (await startEmulator());
  const admin = new EmulatorAdmin(emu.url);
  const tenant = await admin.tenant(domain, users, [...GUIDE_SCOPES]);
  const brokerage = await seedBrokerage(db.ds, domain, [{ email: `boss@${domain}`, role: 'admin' }]);
  const gw = await startTestGateway(db.ds, {
    env: { GOOGLE_API_ROOT_URL: `${emu.url}/`, GOOGLE_TOKEN_URIS: `${emu.url}/token`, ...FAST_OUTBOX_ENV, ...opts.env },
    port: opts.port,
    log: opts.log,
  });
  const res = await gw.gql(
    'mutation ($k: String!, $e: String!) { submitServiceAccountKey(keyJson: $k, testEmail: $e) { status checks { name ok message } } }',
    {
      token: await gw.token(`boss@${domain}`, { admin: true }),
      variables: { k: JSON.stringify(tenant.key), e: users[0] },
    },
  );
  if (res.body.data?.submitServiceAccountKey?.status !== 'VERIFIED')
    throw new Error(`world: key did not verify: ${JSON.stringify(res.body)}`);
  await admin.clearRequests();
  return {
    emu,
    admin,
    gw,
    tenant,
    brokerageId: brokerage.id,
    token: (email, isAdmin = false) => gw.token(email, { admin: isAdmin }),
    async close() {
      // A call a failed test left parked would hold the gateway's shutdown until the Google call timeout.
      await admin.clearFaults().catch(() => undefined);
      await gw.close();
      if (!opts.emu) await emu.close();
    },
  };
}

/** A second gateway on the world's database and emulator: another replica, with its own caches and outbox worker. */
export function startReplica(w: World, db: TestDb): Promise<TestGateway> {
  return startTestGateway(db.ds, {
    env: { GOOGLE_API_ROOT_URL: `${w.emu.url}/`, GOOGLE_TOKEN_URIS: `${w.emu.url}/token`, ...FAST_OUTBOX_ENV },
  });
}

/** Waits until the outbox holds nothing left to deliver (rows refused for good stay, FAILED). */
export function deliveryDone(db: TestDb): Promise<number> {
  return until(
    'nothing left to deliver',
    async () => Number((await db.ds.query("SELECT COUNT(*) AS n FROM outbox WHERE status <> 'FAILED'"))[0].n),
    (n) => n === 0,
  );
}

/**
 * Empties the contact mirror, the outbox and the agent's Google contacts and labels: each contacts test starts from
 * nothing.
 */
export async function resetContacts(w: World, db: TestDb, email: string): Promise<void> {
  for (const t of [
    'outbox',
    'contact_email',
    'contact_search_token',
    'contact_label_member',
    'contact_label',
    'contact',
    'contact_sync',
    'contact_tombstone',
    'idempotency_key',
  ])
    await db.ds.query(`DELETE FROM ${t}`);
  forgetRows(w.gw.services);
  const r = await w.admin.request('DELETE', `/users/${email}/contacts`);
  if (r.status !== 200) throw new Error(`resetContacts: the emulator answered ${r.status}: ${JSON.stringify(r.body)}`);
  for (const g of (
    await w.admin.request<{ groupType: string; resourceName: string }[]>('GET', `/users/${email}/contactGroups`)
  ).body) {
    if (g.groupType === 'USER_CONTACT_GROUP')
      await w.admin.request('DELETE', `/users/${email}/contactGroups/${g.resourceName.replace('contactGroups/', '')}`);
  }
}
