/**
 * Errors reach the log as name, message, code, status and stack: never the request or answer they carry. The
 * errors here are real ones, from the real database drivers and the real Google clients (against the emulator),
 * because that is where data hides: MariaDB puts the duplicate value in the message itself, gaxios makes Google's
 * error text the message, and Google echoes what it could not parse.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { startEmulator, type RunningEmulator } from 'google-workspace-emulator';
import { Agent } from '../../src/entities';
import { scrubDatabaseMessage } from '../../src/logger';
import { createTestDb, describeEachDb, mariaDbAvailable } from '../support/db';
import { seedBrokerage } from '../support/gateway';
import { EmulatorAdmin, googleClients, SCOPES, type Tenant } from '../support/google';
import { captureLog } from '../support/log-capture';

/** A logger at the most verbose level, writing into memory. */
function capture() {
  const { log, text, entries } = captureLog('trace');
  return { log, text, lines: entries };
}

test('values under the redacted paths never reach the log, however deep the logged object puts them', () => {
  const { log, text } = capture();
  const s = (name: string) => `${name}-${randomBytes(6).toString('hex')}`;
  const secrets = {
    reqHeader: s('req-auth'),
    header: s('hdr-auth'),
    auth: s('auth'),
    nestedAuth: s('nested-auth'),
    pk: s('pk'),
    nestedPk: s('nested-pk'),
    privateKey: s('privkey'),
    nestedPrivateKey: s('nested-privkey'),
    keyJson: s('keyjson'),
    nestedKeyJson: s('nested-keyjson'),
    at: s('at'),
    nestedAt: s('nested-at'),
    accessToken: s('accesstoken'),
    nestedAccessToken: s('nested-accesstoken'),
    password: s('pw'),
    nestedPassword: s('nested-pw'),
  };
  log.info({ req: { headers: { authorization: `Bearer ${secrets.reqHeader}` } } }, 'request');
  log.info({ headers: { authorization: `Bearer ${secrets.header}` } }, 'headers');
  log.info({ authorization: secrets.auth, upstream: { authorization: secrets.nestedAuth } }, 'auth');
  log.info(
    {
      private_key: secrets.pk,
      key: { private_key: secrets.nestedPk },
      privateKey: secrets.privateKey,
      cred: { privateKey: secrets.nestedPrivateKey },
    },
    'keys',
  );
  log.info({ keyJson: secrets.keyJson, input: { keyJson: secrets.nestedKeyJson } }, 'key files');
  log.info(
    {
      access_token: secrets.at,
      google: { access_token: secrets.nestedAt },
      accessToken: secrets.accessToken,
      session: { accessToken: secrets.nestedAccessToken },
    },
    'tokens',
  );
  log.info({ password: secrets.password, db: { password: secrets.nestedPassword } }, 'passwords');
  for (const v of Object.values(secrets)) expect(text()).not.toContain(v);
  expect(text().match(/\[redacted\]/g)).toHaveLength(Object.keys(secrets).length);
});

describeEachDb('a real database error in the log', (db) => {
  test('a duplicate key: the log names the index, never the duplicated value', async () => {
    const b = await seedBrokerage(db().ds, `buyer-${randomBytes(3).toString('hex')}.test`);
    const value = `zoe.door-code-4471.${randomBytes(4).toString('hex')}@${b.domain}`;
    const row = () => ({
      id: randomUUID(),
      brokerageId: b.id,
      email: value,
      role: 'agent' as const,
      createdAt: new Date(),
      lastSeenAt: null,
    });
    await db().ds.getRepository(Agent).insert(row());
    const err = await db()
      .ds.getRepository(Agent)
      .insert(row())
      .then(
        () => {
          throw new Error('expected a duplicate-key error');
        },
        (e: Error) => e,
      );
    // The error itself does carry the value (MariaDB: in its message and stack; both: in its parameters).
    expect(JSON.stringify({ ...err, message: err.message, stack: err.stack })).toContain(value);

    const { log, text, lines } = capture();
    log.error({ err }, 'insert failed');
    expect(text()).not.toContain('door-code-4471');
    const logged = lines()[0].err;
    expect(logged).toMatchObject({
      type: 'QueryFailedError',
      code: db().dialect === 'mariadb' ? 'ER_DUP_ENTRY' : 'SQLITE_CONSTRAINT_UNIQUE',
    });
    // Still diagnosable: which index (MariaDB) or column (SQLite), and where it was thrown.
    expect(logged.message).toContain(db().dialect === 'mariadb' ? "for key 'uq_agent_email'" : 'agent.email');
    expect(logged.stack).toMatch(/^QueryFailedError: .*\n\s+at /);
  });
});

(mariaDbAvailable() ? describe : describe.skip)('[mariadb] a value MariaDB refused, quoted in its message', () => {
  let db: Awaited<ReturnType<typeof createTestDb>>;
  beforeAll(async () => {
    db = await createTestDb('mariadb');
  });
  afterAll(() => db.drop());

  test('an incorrect value, quotes and all, stays out of the log; the column is named', async () => {
    const b = await seedBrokerage(db.ds, 'values.test');
    const value = "o'brien's door-code-4471 ' for column 'x";
    const err = await db.ds
      .query('INSERT INTO agent (id, brokerageId, email, role, createdAt) VALUES (?, ?, ?, ?, ?)', [
        randomUUID(),
        b.id,
        'a@values.test',
        'agent',
        value,
      ])
      .then(
        () => {
          throw new Error('expected MariaDB to refuse the value');
        },
        (e: Error) => e,
      );
    expect(err.message).toContain('door-code-4471');
    const { log, text, lines } = capture();
    log.error({ err }, 'insert failed');
    for (const s of ['door-code', 'brien']) expect(text()).not.toContain(s);
    expect(lines()[0].err.message).toMatch(
      /^Incorrect datetime value: '…' for column `[^`]+`\.`agent`\.`createdAt` at row 1$/,
    );
  });
});

test.each([
  ["Duplicate entry 'x'y' for key 'uq_a'", "Duplicate entry '…' for key 'uq_a'"],
  ["Duplicate entry 'secret", "Duplicate entry '…'"],
  ["Data too long for column 'notes' at row 1", "Data too long for column 'notes' at row 1"],
  ["Truncated incorrect DOUBLE value: 'secret'", "Truncated incorrect DOUBLE value: '…'"],
  [
    "You have an error in your SQL syntax; check the manual near ''secret')' at line 1",
    "You have an error in your SQL syntax; check the manual near '…' at line 1",
  ],
  // From the first quote to the last is one value: a value may itself hold quotes.
  ["Unknown column 'secret value' in 'field list'", "Unknown column '…'"],
  ['UNIQUE constraint failed: agent.email', 'UNIQUE constraint failed: agent.email'],
  // Identifiers an operator needs stay: a qualified table, a field.
  ["Table 'engage.contact' doesn't exist", "Table 'engage.contact' doesn't exist"],
  ["Field 'notes' doesn't have a default value", "Field 'notes' doesn't have a default value"],
])('database message %j is logged as %j', (raw, logged) => {
  expect(scrubDatabaseMessage(raw)).toBe(logged);
});

describe('a real Google client error in the log', () => {
  let emu: RunningEmulator;
  let admin: EmulatorAdmin;
  let tenant: Tenant;
  beforeAll(async () => {
    emu = await startEmulator();
    admin = new EmulatorAdmin(emu.url);
    tenant = await admin.tenant('alpha.test', ['agent@alpha.test'], [SCOPES.contacts, SCOPES.gmailCompose]);
  });
  afterAll(() => emu.close());

  const SECRET = 'door code 4471';

  test('Google echoes what it could not decode (Gmail raw): the log has the status and reason, not the text', async () => {
    const g = googleClients(emu.url, tenant.key, 'agent@alpha.test', [SCOPES.gmailCompose]);
    const token = (await g.auth.getAccessToken()).token!;
    const raw = `Subject: offer for Zoë, ${SECRET}`;
    const err = await g.gmail.users.drafts.create({ userId: 'me', requestBody: { message: { raw } } }).then(
      () => {
        throw new Error('expected a 400');
      },
      (e: Error) => e,
    );
    expect(err.message).toContain(SECRET); // gaxios makes Google's error text the message, and Google quotes our text

    const { log, text, lines } = capture();
    log.error({ err }, 'gmail failed');
    for (const s of [SECRET, 'offer for', token]) expect(text()).not.toContain(s);
    const logged = lines()[0].err;
    expect(logged).toMatchObject({ type: 'GaxiosError', status: 400 });
    expect(logged.message).toMatch(/400/);
    expect(logged.message).toMatch(/INVALID_ARGUMENT/);
    expect(logged.stack).toMatch(/^GaxiosError: .*\n\s+at /);
  });

  test("a 500 for a contact we sent: neither the contact, nor our token, nor Google's answer is logged", async () => {
    const g = googleClients(emu.url, tenant.key, 'agent@alpha.test', [SCOPES.contacts]);
    const token = (await g.auth.getAccessToken()).token!;
    await admin.addFault({ api: 'people', method: 'people.people.createContact', status: 500 });
    const err = await g.people.people
      .createContact({
        requestBody: {
          names: [{ givenName: 'Zoë' }],
          biographies: [{ value: SECRET }],
          emailAddresses: [{ value: 'zoe@buyer.test' }],
        },
      })
      .then(
        () => {
          throw new Error('expected a 500');
        },
        (e: Error) => e,
      );
    expect(JSON.stringify(err)).toContain(SECRET); // the request rides on the error

    const { log, text, lines } = capture();
    log.error({ err }, 'people failed');
    for (const s of [SECRET, 'zoe@buyer.test', token, 'Internal error encountered']) expect(text()).not.toContain(s);
    expect(lines()[0].err).toMatchObject({ type: 'GaxiosError', status: 500 });
  });
});
