/**
 * What the issue-12 sweep found beyond its list (README, "Design decisions"): caller input is bounded before a pattern
 * runs on
 * it, and never echoed back at length; Google's text is quoted, not relayed whole.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mapGoogleError } from '../../src/google/google-errors';
import { KeyFileError, parseServiceAccountKey } from '../../src/google/service-account-key';
import { describeEachDb } from '../support/db';
import { seedBrokerage, startTestGateway, type TestGateway } from '../support/gateway';

const TOKEN_URI = 'https://oauth2.googleapis.com/token';
const pem = generateKeyPairSync('rsa', { modulusLength: 2048 })
  .privateKey.export({ type: 'pkcs8', format: 'pem' })
  .toString();
const keyFile = (over: Record<string, string>) =>
  JSON.stringify({
    type: 'service_account',
    client_email: 'sa@proj.iam.gserviceaccount.com',
    client_id: '123456789012345678901',
    private_key: pem,
    private_key_id: 'a'.repeat(40),
    token_uri: TOKEN_URI,
    ...over,
  });
const faultOf = (json: string) => {
  try {
    parseServiceAccountKey(json, [TOKEN_URI]);
    return 'parsed';
  } catch (err) {
    return err instanceof KeyFileError ? `${err.fault}: ${err.message.slice(0, 60)}` : String(err);
  }
};

test('a key file: client_email is checked without a backtracking pattern, private_key_id must be a hex id', () => {
  expect(faultOf(keyFile({}))).toBe('parsed');
  // 64 KB of "a." made the old pattern backtrack for 6.4 s. Now refused on its length at once (a correct result is
  // what is asserted; the time it took is not).
  expect(faultOf(keyFile({ client_email: `a@${'a.'.repeat(32_000)}@` }))).toMatch(
    /^bad_field: The key's "client_email" is not an email address/,
  );
  for (const bad of ['a@b', 'a b@c.d', '@c.d', 'a@c..d', 'a@@c.d'])
    expect(faultOf(keyFile({ client_email: bad }))).toMatch(/^bad_field: The key's "client_email"/);
  expect(faultOf(keyFile({ private_key_id: 'k'.repeat(65) }))).toMatch(/^bad_field: The key's "private_key_id"/);
  expect(faultOf(keyFile({ private_key_id: 'not hex' }))).toMatch(/^bad_field: The key's "private_key_id"/);
});

test("Google's text is quoted up to 300 characters in what a client sees", () => {
  const long = 'Invalid value at contact.names[0]: ' + 'x'.repeat(100_000);
  const err = Object.assign(new Error('Bad Request'), {
    response: { status: 400, data: { error: { code: 400, message: long, status: 'INVALID_ARGUMENT' } }, headers: {} },
  });
  const f = mapGoogleError(err, { api: 'people' });
  expect(f.message).toContain('Invalid value at contact.names[0]: xxx');
  expect(f.message.length).toBeLessThan(500);
});

describeEachDb('caller input is never echoed back at length', (db) => {
  let gw: TestGateway;
  let token: string;

  beforeAll(async () => {
    await seedBrokerage(db().ds, 'alpha.test', [{ email: 'a@alpha.test' }]);
    gw = await startTestGateway(db().ds);
    token = await gw.token('a@alpha.test');
  });
  afterAll(() => gw.close());

  test('a megabyte-long id, email or etag: a typed error of a few hundred bytes', async () => {
    const huge = 'z'.repeat(900_000);
    const missing = await gw.gql('mutation ($id: ID!) { deleteContact(id: $id) }', { token, variables: { id: huge } });
    expect(missing.body.errors![0].extensions.code).toBe('NOT_FOUND');
    expect(JSON.stringify(missing.body).length).toBeLessThan(1000);

    const email = await gw.gql('mutation ($i: ContactInput!) { createContact(input: $i) { id } }', {
      token,
      variables: { i: { givenName: 'Zoë', emails: [{ value: `${huge}@buyer.test` }] } },
    });
    expect(email.body.errors![0].extensions.code).toBe('BAD_USER_INPUT');
    // Before: the value came back twice (message and problems), 2 MB for a 1 MB address.
    expect(JSON.stringify(email.body).length).toBeLessThan(2000);

    const etag = await gw.gql('mutation ($id: ID!, $p: ContactPatch!) { updateContact(id: $id, input: $p) { id } }', {
      token,
      variables: { id: 'c1', p: { etag: 'e'.repeat(10_000) } },
    });
    expect(etag.body.errors![0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });
    expect(JSON.stringify(etag.body).length).toBeLessThan(2000);
  });
});
