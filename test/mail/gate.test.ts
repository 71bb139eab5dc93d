/**
 * Large mails and the large-body gate (http/request-body.ts): a body over MAX_BODY_BYTES is read only while one of
 * LARGE_BODY_SLOTS is free, a brokerage gets at most half of them, and a request finding none is refused at once with
 * RATE_LIMITED and a retryAfterSeconds, before its body is read (it used to wait in an unbounded queue, each waiter's
 * 35 MB body already in memory). Every step is ordered by the test (builds wait for its signal), never by timers.
 */
import { randomBytes } from 'node:crypto';
import { GUIDE_SCOPES } from '../../src/google/scopes';
import { LargeBodyGate, LARGE_BODY_RETRY_AFTER_SECONDS } from '../../src/http/request-body';
import * as compose from '../../src/mail/mail.compose';
import type { SendMailInput } from '../../src/mail/mail.input';
import { describeEachDb } from '../support/db';
import { seedBrokerage } from '../support/gateway';
import { until } from '../support/wait';
import { startWorld, type World } from '../support/world';

test('LargeBodyGate: at most `slots` at once and a tenant at most its share; a release (once) frees the slot', () => {
  const gate = new LargeBodyGate(4);
  expect(gate.perTenant).toBe(2);
  const a1 = gate.tryAcquire('alpha');
  const a2 = gate.tryAcquire('alpha');
  expect(a1 && a2).toBeTruthy();
  expect(gate.tryAcquire('alpha')).toBeNull(); // alpha's share is taken, though slots are free
  const b1 = gate.tryAcquire('beta')!;
  const c1 = gate.tryAcquire('gamma')!;
  expect(gate.busy).toBe(4);
  expect(gate.tryAcquire('delta')).toBeNull(); // every slot is taken
  b1();
  b1(); // a second release is harmless: it does not free someone else's slot
  expect(gate.busy).toBe(3);
  expect(gate.tryAcquire('alpha')).toBeNull();
  const d1 = gate.tryAcquire('delta');
  expect(d1).not.toBeNull();
  expect(gate.tryAcquire('beta')).toBeNull();
  a1!();
  expect(gate.tryAcquire('alpha')).not.toBeNull();
  c1();
  expect(new LargeBodyGate(1).perTenant).toBe(1);
});

describeEachDb('sendMail and the large-body gate', (db) => {
  let w: World;
  const ALPHA = 'agent@alpha.test';
  const BETA = 'agent@beta.test';
  const GAMMA = 'agent@gamma.test';
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    // Default LARGE_BODY_SLOTS (2): one per brokerage.
    w = await startWorld(db(), { env: { MUTATION_WAIT_MS: '60000' } });
    for (const domain of ['beta.test', 'gamma.test']) {
      const tenant = await w.admin.tenant(domain, [`agent@${domain}`, `boss@${domain}`], [...GUIDE_SCOPES]);
      await seedBrokerage(db().ds, domain, [{ email: `boss@${domain}`, role: 'admin' }]);
      const res = await w.gw.gql(
        'mutation ($k: String!, $e: String!) { submitServiceAccountKey(keyJson: $k, testEmail: $e) { status } }',
        {
          token: await w.gw.token(`boss@${domain}`, { admin: true }),
          variables: { k: JSON.stringify(tenant.key), e: `agent@${domain}` },
        },
      );
      expect(res.body.data.submitServiceAccountKey.status).toBe('VERIFIED');
    }
    for (const who of [ALPHA, BETA, GAMMA]) tokens[who] = await w.token(who);
  });
  afterAll(() => w.close());
  afterEach(() => jest.restoreAllMocks());

  const send = (who: string, input: Record<string, unknown>) =>
    w.gw.gql('mutation ($i: SendMailInput!) { sendMail(input: $i) { id status subject } }', {
      token: tokens[who],
      variables: { i: input },
    });
  /** Over MAX_BODY_BYTES (1 MiB) once in the JSON body. */
  const large = (subject: string) => ({
    to: ['zoe@buyer.test'],
    subject,
    attachments: [
      {
        filename: 'scan.pdf',
        contentType: 'application/pdf',
        contentBase64: randomBytes(1_200_000).toString('base64'),
      },
    ],
  });

  test('with both slots held, a large mail is refused at once with RATE_LIMITED and never decoded; a brokerage gets one slot of two; small mails go meanwhile; freed slots come back', async () => {
    const isLarge = (subject: string | null | undefined) => /^Large /.test(subject ?? '');
    const decoded: string[] = [];
    const realCheck = compose.checkMailInput;
    jest.spyOn(compose, 'checkMailInput').mockImplementation((input: SendMailInput, max: number, tenant: string) => {
      decoded.push(input.subject ?? '');
      return realCheck(input, max, tenant);
    });
    let building = 0;
    let letBuild!: () => void;
    const buildsMayGo = new Promise<void>((r) => (letBuild = r));
    const realBuild = compose.buildMime;
    jest.spyOn(compose, 'buildMime').mockImplementation(async (mail, opts) => {
      if (!isLarge(mail.subject)) return realBuild(mail, opts);
      building++;
      await buildsMayGo;
      return realBuild(mail, opts);
    });

    const alpha1 = send(ALPHA, large('Large alpha 1'));
    try {
      await until(
        "alpha's first large mail to be building",
        () => building,
        (n) => n === 1,
      );
      // alpha holds its share (one slot of two): its second large mail is refused, though a slot is free.
      const alpha2 = await send(ALPHA, large('Large alpha 2'));
      expect(alpha2.status).toBe(429);
      expect(alpha2.headers.get('retry-after')).toBe(String(LARGE_BODY_RETRY_AFTER_SECONDS));
      expect(alpha2.body.errors).toEqual([
        expect.objectContaining({
          extensions: expect.objectContaining({
            code: 'RATE_LIMITED',
            retryAfterSeconds: LARGE_BODY_RETRY_AFTER_SECONDS,
          }),
        }),
      ]);
      // Another brokerage still gets the other slot.
      const beta1 = send(BETA, large('Large beta 1'));
      await until(
        "beta's large mail to be building",
        () => building,
        (n) => n === 2,
      );
      // Both slots taken: a third brokerage is refused too, at once.
      const gamma1 = await send(GAMMA, large('Large gamma 1'));
      expect(gamma1.status).toBe(429);
      expect(gamma1.body.errors![0].extensions.code).toBe('RATE_LIMITED');
      // A small mail is not gated: sent while both slots are held.
      const small = await send(ALPHA, { to: ['zoe@buyer.test'], subject: 'Small', text: 'not held' });
      expect(small.body.data.sendMail).toMatchObject({ subject: 'Small', status: 'SENT' });
      // The refused ones were never decoded (their bodies were not even read).
      expect(decoded.filter(isLarge).sort()).toEqual(['Large alpha 1', 'Large beta 1']);
      letBuild();
      expect((await alpha1).body.data.sendMail).toMatchObject({ subject: 'Large alpha 1', status: 'SENT' });
      expect((await beta1).body.data.sendMail).toMatchObject({ subject: 'Large beta 1', status: 'SENT' });
    } finally {
      letBuild(); // also when an expectation failed: no request is left hanging in the gateway
    }
    // Both slots came back when those answers were sent.
    const again = await Promise.all([send(ALPHA, large('Large alpha 3')), send(GAMMA, large('Large gamma 2'))]);
    expect(again.map((a) => a.body.data?.sendMail?.status)).toEqual(['SENT', 'SENT']);
    expect((await w.admin.messages(ALPHA)).map((m) => m.labelIds)).toEqual([['SENT'], ['SENT'], ['SENT']]);
    expect(await w.admin.messages(GAMMA)).toHaveLength(1);
  }, 120_000);

  test('a large body carrying anything but sendMail is refused with 413, and its slot comes back', async () => {
    const other = await w.gw.gql('{ me { email } }', {
      token: tokens[ALPHA],
      variables: { pad: 'x'.repeat(1_200_000) },
    });
    expect(other.status).toBe(413);
    expect(other.body.errors![0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', reason: 'too_large' } });
    const mixed = await w.gw.gql(
      'mutation ($i: SendMailInput!) { sendMail(input: $i) { id } deleteContact(id: "x") }',
      { token: tokens[ALPHA], variables: { i: large('Large mixed') } },
    );
    expect(mixed.status).toBe(413);
    expect(mixed.body.errors![0].extensions.code).toBe('BAD_USER_INPUT');
    // Had a refused request kept its slot, alpha (one slot) would now be refused with RATE_LIMITED.
    const after = await send(ALPHA, large('Large after the refusals'));
    expect(after.body.errors).toBeUndefined();
    expect(after.body.data.sendMail.status).toBe('SENT');
  }, 120_000);
});
