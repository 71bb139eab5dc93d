/**
 * Mail delivery when Gmail misbehaves: an answer lost after Gmail acted (on
 * drafts.create and on drafts.send), 5xx, 429 with Retry-After, the per-user
 * quota (403 rateLimitExceeded), and refusals the agent must hear about.
 * Cases end with the emulator's mailbox: exactly one sent message per mail
 * that went, none for one that did not, and no stray drafts where a draft
 * could have been left.
 */
import type { DataSource } from 'typeorm';
import { describeEachDb } from '../support/db';
import { googleClients } from '../support/google';
import { until } from '../support/wait';
import { startWorld, type World } from '../support/world';

const AGENT = 'agent@alpha.test';
const MAIL = 'id status gmailMessageId threadId messageId failure { code message }';

async function mailOf(w: World, token: string, id: string) {
  return (await w.gw.gql(`query ($id: ID!) { mail(id: $id) { ${MAIL} } }`, { token, variables: { id } })).body.data
    .mail;
}

/**
 * The mail once it is no longer QUEUED and its last delivery round is over (its outbox row no longer PENDING). The
 * status changes inside the round, before its last Gmail calls (the sweep for stray drafts, deleting the draft of a
 * failed mail): waiting for the round makes every call it made visible in the request log.
 */
async function settledMail(w: World, ds: DataSource, token: string, id: string) {
  const pending = async () =>
    Number(
      (
        await ds.query(
          "SELECT COUNT(*) AS n FROM outbox WHERE topic = 'mail' AND status = 'PENDING' AND entityId = ?",
          [id],
        )
      )[0].n,
    );
  await until(`the delivery of mail ${id} to be over`, pending, (n) => n === 0);
  const m = await mailOf(w, token, id);
  expect(m.status).not.toBe('QUEUED');
  return m;
}

describeEachDb('mail under Gmail faults', (db) => {
  let w: World;
  let token: string;

  beforeAll(async () => {
    w = await startWorld(db(), { env: { MUTATION_WAIT_MS: '800' } });
    token = await w.token(AGENT);
  });
  afterAll(() => w.close());
  beforeEach(async () => {
    await w.admin.clearFaults();
    await w.admin.clearRequests();
    await w.admin.putSettings({ quotas: { 'gmail.units': { limitPerMinute: 6000 } } });
  });

  const send = (subject: string, t = token) =>
    w.gw.gql(`mutation ($i: SendMailInput!) { sendMail(input: $i) { ${MAIL} } }`, {
      token: t,
      variables: { i: { to: ['zoe@buyer.test'], subject, text: `body of ${subject}` } },
    });
  const mailById = (id: string, t = token) => mailOf(w, t, id);
  const settled = (id: string, t = token) => settledMail(w, db().ds, t, id);
  /** The agent's mailbox in the emulator, as [subject, labels] per message. */
  const mailbox = async (email = AGENT) =>
    (await w.admin.messages(email)).map((m) => {
      const raw = Buffer.from(m.raw, 'base64url').toString('utf8');
      return { id: m.id, subject: /^Subject: (.*)$/m.exec(raw)?.[1].trim(), labels: m.labelIds.join(',') };
    });
  const withSubject = async (subject: string, email = AGENT) =>
    (await mailbox(email)).filter((m) => m.subject === subject);
  const calls = async (method: string) =>
    (await w.admin.requests({ api: 'gmail', method: `gmail.users.${method}` })).map((r) => r.status);

  test('drafts.send answered by a reset after Gmail sent it: the retry sees the draft gone and records SENT, no second message', async () => {
    await w.admin.addFault({ api: 'gmail', method: 'gmail.users.drafts.send', afterCommit: true });
    const queued = (await send('Lost answer on send')).body.data.sendMail;
    const mail = await settled(queued.id);
    expect(mail.status).toBe('SENT');
    const box = await withSubject('Lost answer on send');
    expect(box.map((m) => m.labels)).toEqual(['SENT']);
    expect(mail.gmailMessageId).toBe(box[0].id);
    expect(await calls('drafts.send')).toEqual([0]); // sent once, never again
    expect(await calls('drafts.get')).toEqual([404]);
  });

  test('drafts.create answered by a reset after Gmail made the draft: the retry finds that draft by Message-ID and sends it, no stray draft', async () => {
    await w.admin.addFault({ api: 'gmail', method: 'gmail.users.drafts.create', afterCommit: true });
    const queued = (await send('Lost answer on create')).body.data.sendMail;
    const mail = await settled(queued.id);
    expect(mail.status).toBe('SENT');
    expect((await withSubject('Lost answer on create')).map((m) => m.labels)).toEqual(['SENT']);
    expect((await mailbox()).filter((m) => m.labels.includes('DRAFT'))).toEqual([]);
    expect(await calls('drafts.create')).toEqual([0]); // the one draft, adopted rather than made again
    expect(await calls('drafts.send')).toEqual([200]);
    expect((await calls('drafts.list')).length).toBe(2); // the search, and the sweep for copies once it was sent
  });

  test('drafts.create cut off before Gmail stored it: the search finds nothing, one new draft is made and sent', async () => {
    await w.admin.addFault({ api: 'gmail', method: 'gmail.users.drafts.create', resetConnection: true });
    const mail = await settled((await send('Lost create')).body.data.sendMail.id);
    expect(mail.status).toBe('SENT');
    expect((await withSubject('Lost create')).map((m) => m.labels)).toEqual(['SENT']);
    expect((await mailbox()).filter((m) => m.labels.includes('DRAFT'))).toEqual([]);
    expect((await calls('drafts.create')).filter((s) => s === 200)).toHaveLength(1);
    expect(await calls('drafts.send')).toEqual([200]);
  });

  test('a definite refusal of drafts.send (429) and then the draft deleted in Gmail: FAILED saying so, never SENT for a mail that did not go', async () => {
    await w.admin.addFault({ api: 'gmail', method: 'gmail.users.drafts.send', status: 429, retryAfterSeconds: 1 });
    const retry = await w.admin.addFault({ api: 'gmail', method: 'gmail.users.drafts.send', hold: 'call' }); // the next send waits for the agent
    const first = (await send('Deleted draft')).body.data.sendMail;
    expect(first.status).toBe('QUEUED'); // nothing can settle it while the retry is parked
    // The 429 was answered and the gateway has come back to send; meanwhile the agent deletes the draft in Gmail.
    await w.admin.waitHeld(retry.id);
    const gmail = googleClients(w.emu.url, w.tenant.key, AGENT, [
      'https://www.googleapis.com/auth/gmail.compose',
    ]).gmail;
    const drafts = (await gmail.users.drafts.list({ userId: 'me' })).data.drafts ?? [];
    expect(drafts).toHaveLength(1);
    await gmail.users.drafts.delete({ userId: 'me', id: drafts[0].id! });
    await w.admin.release(retry.id);
    const mail = await settled(first.id);
    expect([mail.status, mail.failure.code, mail.gmailMessageId]).toEqual(['FAILED', 'CONFLICT', null]);
    expect(mail.failure.message).toMatch(/draft was removed in Gmail/);
    expect(await withSubject('Deleted draft')).toEqual([]);
    expect(await calls('drafts.send')).toEqual([429, 404]);
    expect(await calls('drafts.create')).toEqual([200]); // not made again behind the agent's back
  });

  test('a reply whose thread was deleted in Gmail goes out as a new conversation rather than failing', async () => {
    const first = await settled((await send('Original')).body.data.sendMail.id);
    await w.admin.addFault({
      api: 'gmail',
      method: 'gmail.users.drafts.create',
      status: 400,
      body: {
        error: {
          code: 400,
          message: 'Invalid thread_id value',
          status: 'INVALID_ARGUMENT',
          errors: [{ message: 'Invalid thread_id value', domain: 'global', reason: 'invalidArgument' }],
        },
      },
    });
    const res = await w.gw.gql(`mutation ($i: SendMailInput!) { sendMail(input: $i) { ${MAIL} } }`, {
      token,
      variables: { i: { to: ['zoe@buyer.test'], text: 'follow-up', replyToMailId: first.id } },
    });
    const reply = await settled(res.body.data.sendMail.id);
    expect(reply.status).toBe('SENT');
    expect(reply.threadId).not.toBe(first.threadId);
    expect(await calls('drafts.create')).toEqual([200, 400, 200]);
  });

  test('a 503 on drafts.send (Gmail did not send): the retry finds the draft still there and sends it once', async () => {
    await w.admin.addFault({ api: 'gmail', method: 'gmail.users.drafts.send', status: 503, count: 2 });
    const mail = await settled((await send('Unavailable')).body.data.sendMail.id);
    expect(mail.status).toBe('SENT');
    expect((await withSubject('Unavailable')).map((m) => m.labels)).toEqual(['SENT']);
    expect(await calls('drafts.send')).toEqual([503, 503, 200]);
    expect(await calls('drafts.get')).toEqual([200, 200]); // each retry first asked whether the draft was still there
    expect(await calls('drafts.create')).toEqual([200]);
  });

  test('an unanswered send is never settled as FAILED: with Gmail then refusing every call, the mail stays QUEUED "may already have been sent" until Gmail can be asked', async () => {
    const unanswered = await w.admin.addFault({
      api: 'gmail',
      method: 'gmail.users.drafts.send',
      status: 503,
      hold: 'call',
    });
    const first = (await send('Unsure')).body.data.sendMail;
    expect(first.status).toBe('QUEUED'); // the send is parked until released below
    await w.admin.waitHeld(unanswered.id);
    await w.admin.setApi('gmail', false); // e.g. the admin turned Gmail off meanwhile: every call after the 503 is a 403
    try {
      await w.admin.release(unanswered.id);
      // Two refused checks: the first refusal left the mail QUEUED and the gateway asked again.
      const refusedGets = async () =>
        (await w.admin.requests({ api: 'gmail', method: 'gmail.users.drafts.get' })).filter((r) => r.status === 403)
          .length;
      await until('two refused checks with Gmail (drafts.get 403)', refusedGets, (n) => n >= 2);
      const m = await mailById(first.id);
      expect(m.status).toBe('QUEUED');
      expect(m.failure.message).toMatch(/may already have sent it; waiting to check/);
      expect(await calls('drafts.send')).toEqual([503]); // not sent again blindly
    } finally {
      await w.admin.setApi('gmail', true);
    }
    const mail = await settled(first.id);
    expect(mail.status).toBe('SENT'); // the draft was still there: the 503 had sent nothing
    expect(await withSubject('Unsure')).toHaveLength(1);
    expect((await calls('drafts.send')).filter((x) => x === 200)).toHaveLength(1);
  });

  test('a 429 with Retry-After: the agent sees QUEUED with the reason until it goes, and the wait is honoured', async () => {
    await w.admin.addFault({ api: 'gmail', method: 'gmail.users.drafts.send', status: 429, retryAfterSeconds: 2 });
    const retry = await w.admin.addFault({ api: 'gmail', method: 'gmail.users.drafts.send', hold: 'call' });
    const first = (await send('Throttled')).body.data.sendMail;
    expect(first.status).toBe('QUEUED'); // it cannot go before the retry parked below is released
    // The retry has come and is parked at Gmail: until it goes, the agent sees why the mail waits.
    await w.admin.waitHeld(retry.id);
    const waiting = await mailById(first.id);
    expect([waiting.status, waiting.failure?.code]).toEqual(['QUEUED', 'RATE_LIMITED']);
    expect(waiting.failure.message).toMatch(/rate limit/i);
    await w.admin.release(retry.id);
    const mail = await settled(first.id);
    expect([mail.status, mail.failure]).toEqual(['SENT', null]);
    const log = await w.admin.requests({ api: 'gmail', method: 'gmail.users.drafts.send' });
    expect(log.map((r) => r.status)).toEqual([429, 200]);
    // A lower bound only (the retry is logged when answered, after its release): a slow machine cannot break it.
    expect(new Date(log[1].at).getTime() - new Date(log[0].at).getTime()).toBeGreaterThanOrEqual(2000);
    expect(await withSubject('Throttled')).toHaveLength(1);
  });

  test('the per-user quota (403 rateLimitExceeded) holds mail QUEUED; when the minute has passed it all goes, in order, once', async () => {
    await w.admin.advanceClock(61); // a fresh quota window: the earlier tests' calls no longer count
    await w.admin.putSettings({ quotas: { 'gmail.units': { limitPerMinute: 220, errorStatus: 403 } } }); // two mails: 10 + 100 units each
    const ids: string[] = [];
    for (const s of ['Q1', 'Q2', 'Q3']) ids.push((await send(s)).body.data.sendMail.id);
    // Refused until the window moves on (nothing below moves it before advanceClock): QUEUED with the reason.
    const third = await until(
      'Q3 refused by the quota',
      () => mailById(ids[2]),
      (m) => m.failure?.code === 'RATE_LIMITED',
    );
    expect(third.status).toBe('QUEUED');
    expect((await w.admin.requests({ api: 'gmail' })).some((r) => r.status === 403)).toBe(true);
    await w.admin.advanceClock(61);
    for (const id of ids) expect((await settled(id)).status).toBe('SENT');
    for (const s of ['Q1', 'Q2', 'Q3']) expect((await withSubject(s)).map((m) => m.labels)).toEqual(['SENT']);
    // In the order they were accepted (the mailbox lists messages as Gmail stored them).
    expect((await mailbox()).map((m) => m.subject).filter((x) => /^Q\d$/.test(x ?? ''))).toEqual(['Q1', 'Q2', 'Q3']);
  });

  test('Gmail API turned off for the project: FAILED with what the admin must do, nothing sent', async () => {
    await w.admin.setApi('gmail', false);
    try {
      const res = (await send('API off')).body.data.sendMail;
      const mail = res.status === 'QUEUED' ? await settled(res.id) : res;
      expect([mail.status, mail.failure.code, mail.gmailMessageId]).toEqual(['FAILED', 'GOOGLE_NOT_CONFIGURED', null]);
      expect(mail.failure.message).toMatch(/Gmail API/i);
    } finally {
      await w.admin.setApi('gmail', true);
    }
    expect(await withSubject('API off')).toEqual([]);
    expect(
      Number(
        (await db().ds.query("SELECT COUNT(*) AS n FROM outbox WHERE topic = 'mail' AND status = 'PENDING'"))[0].n,
      ),
    ).toBe(0);
  });

  test("Gmail refuses the send for good (400): FAILED with Gmail's reason, and our draft is deleted, not left in Drafts", async () => {
    await w.admin.addFault({ api: 'gmail', method: 'gmail.users.drafts.send', status: 400 });
    const res = (await send('Refused')).body.data.sendMail;
    const mail = res.status === 'QUEUED' ? await settled(res.id) : res;
    expect([mail.status, mail.failure.code]).toEqual(['FAILED', 'BAD_USER_INPUT']);
    expect(mail.failure.message).toMatch(/^Gmail refused the message/);
    expect(await calls('drafts.delete')).toEqual([204]);
    expect(await withSubject('Refused')).toEqual([]);
    expect(
      Number((await db().ds.query('SELECT COUNT(*) AS n FROM mail_mime_chunk WHERE mailId = ?', [mail.id]))[0].n),
    ).toBe(0);
  });

  test('a mailbox without Gmail: FAILED naming the user and the Admin console remedy', async () => {
    await w.admin.addDomain('alpha.test', [{ email: 'nomail@alpha.test', gmail: false }]);
    const t = await w.token('nomail@alpha.test');
    const res = (await send('No Gmail', t)).body.data.sendMail;
    const mail = res.status === 'QUEUED' ? await settled(res.id, t) : res;
    expect(mail.status).toBe('FAILED');
    expect(mail.failure.code).toBe('GOOGLE_NOT_CONFIGURED');
    expect(mail.failure.message).toMatch(/nomail@alpha\.test.*has no Gmail service.*Admin console/);
  });
});

describeEachDb('mail Gmail could not take in time (MAIL_GIVE_UP_SECONDS)', (db) => {
  test('a mail still refused by a 503 after the give-up time is FAILED, saying to send it again; nothing was sent', async () => {
    const w = await startWorld(db(), { env: { MUTATION_WAIT_MS: '300', MAIL_GIVE_UP_SECONDS: '1' } });
    try {
      const token = await w.token(AGENT);
      await w.admin.addFault({ api: 'gmail', method: 'gmail.users.drafts.create', status: 503, unlimited: true });
      const first = (
        await w.gw.gql(
          `mutation { sendMail(input: { to: ["zoe@buyer.test"], subject: "Outage", text: "." }) { ${MAIL} } }`,
          { token },
        )
      ).body.data.sendMail;
      // QUEUED (still trying) or already FAILED: which, depends on how fast the machine reaches the give-up time.
      expect(['QUEUED', 'FAILED']).toContain(first.status);
      const mail = await settledMail(w, db().ds, token, first.id);
      expect([mail.status, mail.failure.code]).toEqual(['FAILED', 'UPSTREAM_UNAVAILABLE']);
      expect(mail.failure.message).toMatch(/^Not sent: Gmail did not take it .*Send it again/);
      expect(
        (await w.admin.requests({ api: 'gmail', method: 'gmail.users.drafts.create' })).every((r) => r.status === 503),
      ).toBe(true);
      expect(await w.admin.messages(AGENT)).toEqual([]);

      // Refused by rate limits on drafts.send past the give-up time: FAILED too, and the unsent draft removed.
      await w.admin.clearFaults();
      await w.admin.addFault({ api: 'gmail', method: 'gmail.users.drafts.send', status: 429, unlimited: true });
      const second = (
        await w.gw.gql(
          `mutation { sendMail(input: { to: ["zoe@buyer.test"], subject: "Throttled for good", text: "." }) { ${MAIL} } }`,
          { token },
        )
      ).body.data.sendMail;
      const m2 = await settledMail(w, db().ds, token, second.id);
      expect([m2.status, m2.failure.code]).toEqual(['FAILED', 'RATE_LIMITED']);
      expect(m2.failure.message).toMatch(/^Not sent: Gmail did not take it within 1 seconds/);
      expect(await w.admin.messages(AGENT)).toEqual([]); // neither sent nor left as a draft
    } finally {
      await w.close();
    }
  });
});

describeEachDb('mail: a drafts.send that outlasts GOOGLE_REQUEST_TIMEOUT_MS', (db) => {
  // The timeout must only fire on the call Gmail holds: 2 s is far beyond what any other (small, local) call takes.
  test('Gmail sent it but the gateway gave up waiting: never FAILED, QUEUED "may already have been sent" until Gmail is asked, then SENT exactly once', async () => {
    const w = await startWorld(db(), { env: { GOOGLE_REQUEST_TIMEOUT_MS: '2000', MUTATION_WAIT_MS: '300' } });
    try {
      const token = await w.token(AGENT);
      // drafts.send runs (Gmail sends the mail) and its answer is parked: the gateway's request times out.
      const answer = await w.admin.addFault({ api: 'gmail', method: 'gmail.users.drafts.send', hold: 'answer' });
      // The gateway's next step, asking Gmail whether the draft is still there, is parked too (every time: a parked
      // check
      // times out in turn and is asked again), so the state in between can be seen for as long as the test looks.
      const check = await w.admin.addFault({
        api: 'gmail',
        method: 'gmail.users.drafts.get',
        hold: 'call',
        unlimited: true,
      });
      const first = (
        await w.gw.gql(
          `mutation { sendMail(input: { to: ["zoe@buyer.test"], subject: "Timed out", text: "." }) { ${MAIL} } }`,
          { token },
        )
      ).body.data.sendMail;
      expect(first.status).toBe('QUEUED'); // it cannot settle while the check is parked
      await w.admin.waitHeld(answer.id);
      await w.admin.waitHeld(check.id); // the gateway timed out on drafts.send and came back to ask
      await w.admin.waitHeld(check.id, 2); // that check timed out too, and it asked again rather than settle anything
      const unsure = await mailOf(w, token, first.id);
      expect([unsure.status, unsure.failure?.code]).toEqual(['QUEUED', 'UPSTREAM_UNAVAILABLE']);
      expect(unsure.failure.message).toMatch(/may already have sent it; waiting to check/);
      // Gmail did send it: one message in Sent already, though the gateway does not know yet.
      expect((await w.admin.messages(AGENT)).map((m) => m.labelIds)).toEqual([['SENT']]);
      // Gmail answers again; parked calls go on, their late answers to requests the gateway abandoned
      await w.admin.clearFaults();
      const mail = await settledMail(w, db().ds, token, first.id);
      expect([mail.status, mail.failure]).toEqual(['SENT', null]);
      const box = await w.admin.messages(AGENT);
      expect(box.map((m) => [m.id, m.labelIds])).toEqual([[mail.gmailMessageId, ['SENT']]]); // exactly once, no draft left
      const log = await w.admin.requests({ api: 'gmail' });
      expect(log.filter((r) => r.method === 'gmail.users.drafts.send')).toHaveLength(1); // never sent again
      const checks = log.filter((r) => r.method === 'gmail.users.drafts.get').map((r) => r.status);
      expect(checks.length).toBeGreaterThanOrEqual(1);
      expect(checks.every((s) => s === 404)).toBe(true); // the sent draft is gone
    } finally {
      await w.close();
    }
  });
});
