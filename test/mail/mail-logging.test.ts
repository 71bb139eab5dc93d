/**
 * What mail delivery logs when our own side fails: the error goes through the logger's serializer like every other,
 * so a database message that quotes a value (MariaDB's "Duplicate entry '<value>' for key …") is logged without it.
 * The failure is a real database error, raised by a trigger on the mail's row.
 */
import { describeEachDb } from '../support/db';
import { captureLog } from '../support/log-capture';
import { until } from '../support/wait';
import { startWorld, type World } from '../support/world';

const AGENT = 'agent@alpha.test';
const SECRET = 'zoe.private@buyer.test';

describeEachDb('mail delivery logs', (db) => {
  let w: World;
  const { log, lines } = captureLog('trace');

  beforeAll(async () => {
    w = await startWorld(db(), { log, env: { MUTATION_WAIT_MS: '0' } });
  });
  afterAll(async () => {
    await db().ds.query('DROP TRIGGER IF EXISTS refuse_mail_update');
    await w.close();
  });

  test('a database error while delivering is logged without the value its message quotes, and the mail still goes', async () => {
    const message = `Duplicate entry '${SECRET}' for key 'uq_probe'`;
    if (db().dialect === 'sqlite') {
      await db().ds.query(
        `CREATE TRIGGER refuse_mail_update BEFORE UPDATE ON sent_mail BEGIN SELECT RAISE(ABORT, '${message.replace(/'/g, "''")}'); END`,
      );
    } else {
      await db().ds.query(
        `CREATE TRIGGER refuse_mail_update BEFORE UPDATE ON sent_mail FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '${message.replace(/'/g, "''")}'`,
      );
    }
    const token = await w.token(AGENT);
    const res = await w.gw.gql(
      'mutation { sendMail(input: { to: ["buyer@buyer.test"], subject: "Offer", text: "Hello" }) { id status } }',
      { token },
    );
    expect(res.body.errors).toBeUndefined();
    const failure = await until('the delivery failure to be logged', () =>
      lines.find((l) => l.includes('unexpected failure delivering mail')),
    );
    const logged = JSON.parse(failure!);
    expect(logged.err).toMatchObject({ message: expect.stringContaining("Duplicate entry '…' for key 'uq_probe'") });
    expect(lines.join('\n')).not.toContain(SECRET);

    await db().ds.query('DROP TRIGGER refuse_mail_update');
    const sent = await until(
      'the mail to be sent',
      async () =>
        (
          await w.gw.gql('query ($id: ID!) { mail(id: $id) { status } }', {
            token,
            variables: { id: res.body.data.sendMail.id },
          })
        ).body.data.mail.status,
      (s) => s === 'SENT',
    );
    expect(sent).toBe('SENT');
    expect(await w.admin.messages(AGENT)).toHaveLength(1);
  });
});
