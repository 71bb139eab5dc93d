/**
 * One brokerage can never see another's data. Each operation the API has is
 * listed here with a probe run as callers of two brokerages; a test fails
 * when an operation exists in the schema without a probe.
 */
import { buildGatewaySchema } from '../../src/schema';
import { storeCredential } from '../support/credentials';
import { describeEachDb } from '../support/db';
import { seedBrokerage, startTestGateway, type TestGateway } from '../support/gateway';

interface Probe {
  /** Runs the operation as `email` and returns what that caller can see. */
  run(gw: TestGateway, email: string, admin: boolean): Promise<unknown>;
  /** What the caller of brokerage `domain` must see. */
  expected(domain: string): unknown;
}

const PROBES: Record<string, Probe> = {
  'Query.me': {
    run: async (gw, email, admin) => (await gw.gql('{ me { email brokerage { domain } } }', { token: await gw.token(email, { admin }) })).body.data?.me,
    expected: (domain) => ({ email: `admin@${domain}`, brokerage: { domain } }),
  },
  'Query.serviceAccount': {
    run: async (gw, email, admin) => (await gw.gql('{ serviceAccount { clientEmail status } }', { token: await gw.token(email, { admin }) })).body.data?.serviceAccount,
    expected: (domain) => ({ clientEmail: `sa@${domain}.iam.test`, status: 'VERIFIED' }),
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
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway(db().ds);
    for (const domain of ['alpha.test', 'beta.test']) {
      const b = await seedBrokerage(db().ds, domain, [{ email: `admin@${domain}`, role: 'admin' }]);
      await storeCredential(db().ds, gw.services.envelope, b.id, { clientEmail: `sa@${domain}.iam.test` });
    }
  });
  afterAll(() => gw.close());

  test.each(Object.entries(PROBES))('%s shows each brokerage only its own data', async (_op, probe) => {
    for (const domain of ['alpha.test', 'beta.test']) {
      expect(await probe.run(gw, `admin@${domain}`, true)).toEqual(probe.expected(domain));
    }
  });
});
