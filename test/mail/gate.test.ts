/**
 * The gate that lets only a few large mails be decoded, built and stored at once per process: the Gate alone, and
 * sendMail going through it. Every step is ordered by the test (jobs end when it says so, builds wait for its
 * signal), never by timers.
 */
import { randomBytes } from 'node:crypto';
import * as compose from '../../src/mail/mail.compose';
import type { SendMailInput } from '../../src/mail/mail.input';
import { Gate, LARGE_MAIL_CHARS, LARGE_MAIL_SLOTS, MailService } from '../../src/mail/mail.service';
import { describeEachDb } from '../support/db';
import { until } from '../support/wait';
import { startWorld, type World } from '../support/world';

test('at most `slots` run at once, the others in arrival order; a failure frees its slot', async () => {
  const gate = new Gate(2);
  let running = 0;
  let peak = 0;
  const started: number[] = [];
  const end = new Map<number, (fail: boolean) => void>();
  const job = (i: number) =>
    gate.run(
      () =>
        new Promise<number>((resolve, reject) => {
          running++;
          peak = Math.max(peak, running);
          started.push(i);
          end.set(i, (fail) => {
            running--;
            if (fail) reject(new Error(`job ${i} failed`));
            else resolve(i);
          });
        }),
    );
  const finish = async (i: number, fail: boolean, next: number) => {
    end.get(i)!(fail);
    // The freed slot goes to the next job in line: it starts, and with it no other.
    await until(`job ${next} to start once job ${i} ended`, () => started.length, (n) => n > next);
    expect(started).toEqual([0, 1, 2, 3, 4, 5].slice(0, next + 1));
  };

  const results = Promise.allSettled([0, 1, 2, 3, 4, 5].map(job));
  expect(started).toEqual([0, 1]); // the two slots are taken at once; the rest wait
  await finish(1, true, 2);
  await finish(0, false, 3);
  await finish(3, true, 4);
  await finish(2, false, 5);
  end.get(4)!(false);
  end.get(5)!(false);
  expect((await results).map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
  expect(peak).toBe(2);

  // Every slot came back, failures included: two more start side by side, a third waits.
  const more = [job(6), job(7), job(8)];
  expect(started.slice(6)).toEqual([6, 7]);
  end.get(6)!(false);
  await until('job 8 to start once job 6 ended', () => started.length, (n) => n === 9);
  end.get(7)!(false);
  end.get(8)!(false);
  expect(await Promise.all(more)).toEqual([6, 7, 8]);
  expect(peak).toBe(2);
});

const AGENT = 'agent@alpha.test';

describeEachDb('sendMail and the gate for large mails', (db) => {
  let w: World;
  let token: string;

  beforeAll(async () => {
    w = await startWorld(db());
    token = await w.token(AGENT);
  });
  afterAll(() => w.close());
  afterEach(() => jest.restoreAllMocks());

  const send = (input: Record<string, unknown>) => w.gw.gql('mutation ($i: SendMailInput!) { sendMail(input: $i) { id status } }', { token, variables: { i: input } });
  /** Waits until the mail is SENT and its delivery round over (its outbox row gone). */
  const delivered = async (res: Awaited<ReturnType<typeof send>>) => {
    expect(res.body.errors).toBeUndefined();
    const id: string = res.body.data.sendMail.id;
    const pending = async () => Number((await db().ds.query("SELECT COUNT(*) AS n FROM outbox WHERE topic = 'mail' AND status = 'PENDING' AND entityId = ?", [id]))[0].n);
    await until(`the delivery of mail ${id} to be over`, pending, (n) => n === 0, 60_000);
    const mail = (await w.gw.gql('query ($id: ID!) { mail(id: $id) { id status subject } }', { token, variables: { id } })).body.data.mail;
    expect(mail.status).toBe('SENT');
    return mail;
  };

  test(`with ${LARGE_MAIL_SLOTS} large mails held while being built, another large one is not even decoded until one is done; a small mail goes meanwhile`, async () => {
    const isLarge = (subject: string | null | undefined) => /^Large /.test(subject ?? '');
    // What sendMail's large mails reached: the service (entered), decoding (checkMailInput), building (buildMime).
    const entered = jest.spyOn(MailService.prototype, 'send');
    const decoded: string[] = [];
    const realCheck = compose.checkMailInput;
    jest.spyOn(compose, 'checkMailInput').mockImplementation((input: SendMailInput, max: number) => {
      decoded.push(input.subject ?? '');
      return realCheck(input, max);
    });
    let building = 0;
    let peak = 0;
    let letBuild!: () => void;
    const buildsMayGo = new Promise<void>((r) => (letBuild = r));
    const realBuild = compose.buildMime;
    jest.spyOn(compose, 'buildMime').mockImplementation(async (mail, opts) => {
      if (!isLarge(mail.subject)) return realBuild(mail, opts);
      building++;
      peak = Math.max(peak, building);
      try {
        await buildsMayGo;
        return await realBuild(mail, opts);
      } finally {
        building--;
      }
    });

    // Just over the large-mail threshold (base64 counts), so each is gated; one more than the gate lets in.
    const b64 = randomBytes(Math.ceil((LARGE_MAIL_CHARS * 3) / 4) + 3000).toString('base64');
    expect(b64.length).toBeGreaterThan(LARGE_MAIL_CHARS);
    const subjects = Array.from({ length: LARGE_MAIL_SLOTS + 1 }, (_, i) => `Large ${i + 1}`);
    const answers = subjects.map((subject) => send({ to: ['zoe@buyer.test'], subject, attachments: [{ filename: 'scan.pdf', contentType: 'application/pdf', contentBase64: b64 }] }));

    const enteredLarge = () => entered.mock.calls.filter(([, input]) => isLarge(input.subject)).length;
    try {
      await until('every large mail to reach MailService.send', enteredLarge, (n) => n === subjects.length);
      await until(`${LARGE_MAIL_SLOTS} large mails to be building`, () => building, (n) => n >= LARGE_MAIL_SLOTS);
      // A small mail is not gated: decoded, built, stored and sent while both slots are taken. By the time it is SENT
      // the last large mail has long been at the service, so had it not waited at the gate it would have been decoded.
      const small = await delivered(await send({ to: ['zoe@buyer.test'], subject: 'Small', text: 'not held' }));
      expect(small.subject).toBe('Small');
      expect(decoded.filter(isLarge)).toHaveLength(LARGE_MAIL_SLOTS);
      expect(building).toBe(LARGE_MAIL_SLOTS);
    } finally {
      letBuild(); // also when an expectation failed: no request is left hanging in the gateway
    }
    const mails = await Promise.all(answers.map(async (a) => delivered(await a)));
    expect(mails.map((m) => m.subject).sort()).toEqual(subjects);
    expect(decoded.filter(isLarge).sort()).toEqual(subjects);
    expect(peak).toBe(LARGE_MAIL_SLOTS); // never more at once, also once the third got in
    const box = await w.admin.messages(AGENT);
    expect(box.map((m) => m.labelIds)).toEqual(Array.from({ length: subjects.length + 1 }, () => ['SENT']));
  }, 120_000);
});
