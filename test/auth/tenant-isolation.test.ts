/**
 * One brokerage can never see or touch another's data. Every operation of
 * the API has a probe here, run for callers of two brokerages that each have
 * a verified key; a test fails when an operation exists without a probe.
 */
import { startEmulator, type RunningEmulator } from '../../src/emulator/server';
import { GUIDE_SCOPES } from '../../src/google/scopes';
import { buildGatewaySchema } from '../../src/schema';
import { describeEachDb } from '../support/db';
import { seedBrokerage, startTestGateway, type TestGateway } from '../support/gateway';
import { EmulatorAdmin, type Tenant } from '../support/google';

const DOMAINS = ['alpha.test', 'beta.test'] as const;
type Domain = (typeof DOMAINS)[number];

interface World {
  gw: TestGateway;
  tenants: Record<Domain, Tenant>;
  token(domain: Domain): Promise<string>;
}

const SA = '{ serviceAccount { clientEmail status } }';

/** Each probe runs as the admin of `domain` and asserts that only `domain`'s data was seen or changed. */
const PROBES: Record<string, (w: World, domain: Domain, other: Domain) => Promise<void>> = {
  'Query.me': async (w, domain) => {
    const res = await w.gw.gql('{ me { email brokerage { domain } } }', { token: await w.token(domain) });
    expect(res.body.data.me).toEqual({ email: `admin@${domain}`, brokerage: { domain } });
  },
  'Query.serviceAccount': async (w, domain) => {
    const res = await w.gw.gql(SA, { token: await w.token(domain) });
    expect(res.body.data.serviceAccount).toEqual({ clientEmail: w.tenants[domain].key.client_email, status: 'VERIFIED' });
  },
  'Mutation.verifyServiceAccount': async (w, domain) => {
    const res = await w.gw.gql('mutation { verifyServiceAccount { status serviceAccount { clientEmail } } }', { token: await w.token(domain) });
    expect(res.body.data.verifyServiceAccount).toEqual({ status: 'VERIFIED', serviceAccount: { clientEmail: w.tenants[domain].key.client_email } });
  },
  'Mutation.submitServiceAccountKey': async (w, domain, other) => {
    const submit = async (key: unknown, email: string) =>
      w.gw.gql('mutation ($k: String!, $e: String!) { submitServiceAccountKey(keyJson: $k, testEmail: $e) { status serviceAccount { clientEmail } } }', {
        token: await w.token(domain),
        variables: { k: JSON.stringify(key), e: email },
      });
    // Acting on the other brokerage's users is refused before anything happens.
    expect((await submit(w.tenants[other].key, `user@${other}`)).body.errors?.[0].extensions.code).toBe('BAD_USER_INPUT');
    // Re-submitting its own key changes only its own brokerage.
    expect((await submit(w.tenants[domain].key, `user@${domain}`)).body.data.submitServiceAccountKey.status).toBe('VERIFIED');
    const otherView = await w.gw.gql(SA, { token: await w.token(other) });
    expect(otherView.body.data.serviceAccount.clientEmail).toBe(w.tenants[other].key.client_email);
  },
};

test('every operation in the schema has a tenant-isolation probe', async () => {
  const schema = await buildGatewaySchema();
  const ops = [
    ...Object.keys(schema.getQueryType()?.getFields() ?? {}).map((f) => `Query.${f}`),
    ...Object.keys(schema.getMutationType()?.getFields() ?? {}).map((f) => `Mutation.${f}`),
  ];
  expect(ops.sort()).toEqual(Object.keys(PROBES).sort());
});

describeEachDb('tenant isolation', (db) => {
  let emu: RunningEmulator;
  let world: World;

  beforeAll(async () => {
    emu = await startEmulator();
    const admin = new EmulatorAdmin(emu.url);
    const gw = await startTestGateway(db().ds, { env: { GOOGLE_API_ROOT_URL: `${emu.url}/`, GOOGLE_TOKEN_URIS: `${emu.url}/token` } });
    const tenants = {} as Record<Domain, Tenant>;
    for (const domain of DOMAINS) {
      await seedBrokerage(db().ds, domain, [{ email: `admin@${domain}`, role: 'admin' }]);
      tenants[domain] = await admin.tenant(domain, [`admin@${domain}`, `user@${domain}`], [...GUIDE_SCOPES]);
    }
    world = { gw, tenants, token: (d) => gw.token(`admin@${d}`, { admin: true }) };
    for (const domain of DOMAINS) {
      const res = await gw.gql('mutation ($k: String!, $e: String!) { submitServiceAccountKey(keyJson: $k, testEmail: $e) { status } }', {
        token: await world.token(domain),
        variables: { k: JSON.stringify(tenants[domain].key), e: `user@${domain}` },
      });
      expect(res.body.data.submitServiceAccountKey.status).toBe('VERIFIED');
    }
  });
  afterAll(async () => {
    await world.gw.close();
    await emu.close();
  });

  test.each(Object.entries(PROBES))('%s sees and changes only the caller\'s brokerage', async (_op, probe) => {
    await probe(world, 'alpha.test', 'beta.test');
    await probe(world, 'beta.test', 'alpha.test');
  });
});
