/**
 * sendMail end to end: GraphQL → outbox → Gmail (the emulator) → the raw
 * message Gmail stored, parsed with mailparser and compared byte for byte;
 * replies, the sent-mail record, idempotency keys and bad input.
 */
import { randomBytes } from 'node:crypto';
import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import { statementsDuring } from '../support/sql-log';
import { describeEachDb } from '../support/db';
import { until } from '../support/wait';
import { startWorld, type World } from '../support/world';

const AGENT = 'agent@alpha.test';
const MAIL =
  'id gmailMessageId threadId messageId from to cc bcc subject status sizeBytes failure { code message } attachments { filename contentType size } replyToMailId idempotencyKey createdAt sentAt';

const names = (a: AddressObject | AddressObject[] | undefined) =>
  (Array.isArray(a) ? a : a ? [a] : []).flatMap((x) => x.value).map((v) => [v.name, v.address]);

describeEachDb('mail', (db) => {
  let w: World;
  let token: string;

  beforeAll(async () => {
    w = await startWorld(db(), { env: { MAIL_MAX_RECIPIENTS: '5' } });
    token = await w.token(AGENT);
  });
  afterAll(() => w.close());
  beforeEach(async () => {
    await w.admin.clearFaults();
    await w.admin.clearRequests();
  });
  // No test leaves a mail on its way to Gmail: the next one's request log and row counts start from what it did.
  afterEach(() =>
    until(
      'no mail left to deliver',
      () => pendingDeliveries(),
      (n) => n === 0,
    ),
  );

  const gql = (q: string, v?: Record<string, unknown>, t = token) => w.gw.gql(q, { token: t, variables: v });
  const send = (input: Record<string, unknown>, t = token) =>
    gql(`mutation ($i: SendMailInput!) { sendMail(input: $i) { ${MAIL} } }`, { i: input }, t);
  const mailById = async (id: string, t = token) =>
    (await gql(`query ($id: ID!) { mail(id: $id) { ${MAIL} } }`, { id }, t)).body.data.mail;
  /** Outbox rows of the mail lane still to deliver (of one mail, or of all). */
  const pendingDeliveries = async (mailId?: string) =>
    Number(
      (
        await db().ds.query(
          `SELECT COUNT(*) AS n FROM outbox WHERE topic = 'mail' AND status = 'PENDING'${mailId ? ' AND entityId = ?' : ''}`,
          mailId ? [mailId] : [],
        )
      )[0].n,
    );
  /**
   * The Mail a sendMail answered, once Gmail has it. The answer is SENT, or QUEUED when the mutation wait
   * (MUTATION_WAIT_MS) ran out first, as it does for a large mail on a loaded machine: which of the two depends on the
   * machine's speed, so both are accepted. Either way the mail must end SENT, as the answer said apart from the status
   * and what Gmail gave it. Returns once the delivery round is over (its outbox row gone): every Gmail call it made is
   * in the request log.
   */
  const delivered = async (res: { body: { data?: any; errors?: any[] } }, t = token, timeoutMs?: number) => {
    expect(res.body.errors).toBeUndefined();
    const answer = res.body.data.sendMail;
    expect(['SENT', 'QUEUED']).toContain(answer.status);
    await until(
      `the delivery of mail ${answer.id} to be over`,
      () => pendingDeliveries(answer.id),
      (n) => n === 0,
      timeoutMs,
    );
    const mail = await mailById(answer.id, t);
    expect(mail).toMatchObject({ status: 'SENT', failure: null });
    expect(mail).toEqual(
      answer.status === 'SENT'
        ? answer
        : {
            ...answer,
            status: 'SENT',
            failure: null,
            gmailMessageId: mail.gmailMessageId,
            threadId: mail.threadId,
            sentAt: mail.sentAt,
          },
    );
    return mail;
  };
  const stored = async (email = AGENT) =>
    (await w.admin.messages(email)).map((m) => ({ ...m, bytes: Buffer.from(m.raw, 'base64url') }));
  const parsedById = async (id: string): Promise<ParsedMail> => {
    const m = (await stored()).find((x) => x.id === id);
    if (!m) throw new Error(`no message ${id} in the emulator`);
    return simpleParser(m.bytes);
  };
  const counts = async () => ({
    mail: Number((await db().ds.query('SELECT COUNT(*) AS n FROM sent_mail'))[0].n),
    outbox: Number((await db().ds.query("SELECT COUNT(*) AS n FROM outbox WHERE topic = 'mail'"))[0].n),
  });

  test('a mail with non-ASCII names and subject, HTML and text, to/cc/bcc and binary attachments lands in Sent, byte for byte', async () => {
    const pdf = randomBytes(70_000); // every byte value, over one MIME storage chunk
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 1, 2, 255]);
    const res = await send({
      to: ['Zoë Buyer <zoe@buyer.test>', 'plain@buyer.test'],
      cc: ['"Müller, Jörg" <joerg@seller.test>'],
      bcc: ['Boss <boss@alpha.test>'],
      subject: 'Offer for 12 Elm St — 🏡 Grüße',
      text: 'Hi Zoë,\nthe offer is attached.\n',
      html: '<p>Hi Zoë,<br>the offer is <b>attached</b>.</p>',
      attachments: [
        { filename: 'Offer – 12 Elm St.pdf', contentType: 'application/pdf', contentBase64: pdf.toString('base64') },
        {
          filename: 'house.png',
          contentType: 'image/png',
          contentBase64: png.toString('base64').replace(/(.{8})/g, '$1\n'),
        },
      ],
    });
    const mail = await delivered(res);
    expect(mail).toMatchObject({
      status: 'SENT',
      from: AGENT,
      failure: null,
      to: ['Zoë Buyer <zoe@buyer.test>', 'plain@buyer.test'],
      cc: ['Müller, Jörg <joerg@seller.test>'],
      bcc: ['Boss <boss@alpha.test>'],
      subject: 'Offer for 12 Elm St — 🏡 Grüße',
      attachments: [
        { filename: 'Offer – 12 Elm St.pdf', contentType: 'application/pdf', size: 70_000 },
        { filename: 'house.png', contentType: 'image/png', size: 12 },
      ],
    });
    expect(mail.messageId).toMatch(/^<[0-9a-f-]{36}@alpha\.test>$/);

    const box = await stored();
    expect(box.map((m) => [m.id, m.threadId, m.labelIds])).toEqual([[mail.gmailMessageId, mail.threadId, ['SENT']]]);
    expect(mail.sizeBytes).toBe(box[0].bytes.length);
    const p = await simpleParser(box[0].bytes);
    expect(names(p.from)).toEqual([['', AGENT]]);
    expect(names(p.to)).toEqual([
      ['Zoë Buyer', 'zoe@buyer.test'],
      ['', 'plain@buyer.test'],
    ]);
    expect(names(p.cc)).toEqual([['Müller, Jörg', 'joerg@seller.test']]);
    expect(names(p.bcc)).toEqual([['Boss', 'boss@alpha.test']]); // Gmail needs it to deliver; it strips it from the copies
    expect(p.subject).toBe('Offer for 12 Elm St — 🏡 Grüße');
    expect(p.messageId).toBe(mail.messageId);
    expect(p.text).toBe('Hi Zoë,\nthe offer is attached.\n');
    expect(p.html).toBe('<p>Hi Zoë,<br>the offer is <b>attached</b>.</p>');
    expect(p.attachments.map((a) => [a.filename, a.contentType])).toEqual([
      ['Offer – 12 Elm St.pdf', 'application/pdf'],
      ['house.png', 'image/png'],
    ]);
    expect(p.attachments[0].content.equals(pdf)).toBe(true);
    expect(p.attachments[1].content.equals(png)).toBe(true);
    // Encoded words in the header, never raw UTF-8 or a line that could be read as another header.
    const head = box[0].bytes.subarray(0, box[0].bytes.indexOf('\r\n\r\n')).toString('latin1');
    expect(head).toMatch(/^Subject: =\?UTF-8\?/m);
    expect(head).toMatch(/^To: =\?UTF-8\?Q\?Zo=C3=AB_Buyer\?= <zoe@buyer\.test>, plain@buyer\.test$/m);
    expect(/[^\x00-\x7f]/.test(head)).toBe(false);
    expect(p.headers.get('content-type')).toMatchObject({ value: 'multipart/mixed' });

    // Two Gmail calls: create the draft, send it. Nothing reads the mailbox.
    expect((await w.admin.requests({ api: 'gmail' })).map((r) => [r.method, r.status])).toEqual([
      ['gmail.users.drafts.create', 200],
      ['gmail.users.drafts.send', 200],
    ]);
    // The MIME is not kept once Gmail has it.
    expect(
      Number((await db().ds.query('SELECT COUNT(*) AS n FROM mail_mime_chunk WHERE mailId = ?', [mail.id]))[0].n),
    ).toBe(0);
    expect(
      (await gql('query ($id: ID!) { mail(id: $id) { id status gmailMessageId } }', { id: mail.id })).body.data.mail,
    ).toEqual({ id: mail.id, status: 'SENT', gmailMessageId: mail.gmailMessageId });
  });

  test('HTML only gets a text alternative; text only is a single text/plain part', async () => {
    const h = await delivered(
      await send({
        to: ['zoe@buyer.test'],
        subject: 'Open house',
        html: '<h1>Open house</h1><p>Sunday <b>2 pm</b> at 12 Elm St.</p>',
      }),
    );
    const p = await parsedById(h.gmailMessageId);
    expect(p.headers.get('content-type')).toMatchObject({ value: 'multipart/alternative' });
    expect(p.text).toMatch(/OPEN HOUSE/);
    expect(p.text).toMatch(/Sunday 2 pm at 12 Elm St\./);
    const t = await delivered(await send({ to: ['zoe@buyer.test'], subject: 'Plain', text: 'Just text ✓' }));
    const q = await parsedById(t.gmailMessageId);
    expect(q.headers.get('content-type')).toMatchObject({ value: 'text/plain' });
    expect(q.text).toMatch(/^Just text ✓\n?$/);
    expect(q.html).toBe(false);
  });

  test('a reply joins the thread: same threadId, In-Reply-To and References, "Re:" subject', async () => {
    const first = await delivered(
      await send({ to: ['zoe@buyer.test'], subject: 'Counter-offer', text: 'Here it is.' }),
    );
    const second = await delivered(await send({ to: ['zoe@buyer.test'], text: 'Any news?', replyToMailId: first.id }));
    const third = await delivered(
      await send({ to: ['zoe@buyer.test'], text: 'Still there?', replyToMailId: second.id }),
    );
    expect([second.status, second.threadId, second.subject, second.replyToMailId]).toEqual([
      'SENT',
      first.threadId,
      'Re: Counter-offer',
      first.id,
    ]);
    expect([third.threadId, third.subject]).toEqual([first.threadId, 'Re: Counter-offer']);
    const p = await parsedById(third.gmailMessageId);
    expect(p.inReplyTo).toBe(second.messageId);
    expect(p.references).toEqual([first.messageId, second.messageId]);
    const drafts = await w.admin.requests({ api: 'gmail', method: 'gmail.users.drafts.create' });
    expect(drafts).toHaveLength(3);
    // Replying to a mail of another agent (or none) is NOT_FOUND, and sends nothing.
    const other = await w.token('other@alpha.test');
    const foreign = await send({ to: ['zoe@buyer.test'], text: 'x', replyToMailId: first.id }, other);
    expect(foreign.body.errors?.[0].extensions.code).toBe('NOT_FOUND');
    expect(await w.admin.requests({ api: 'gmail', method: 'gmail.users.drafts.create' })).toHaveLength(3);
  });

  test("sentMail lists the agent's own mail newest first, paged; recipients resolve to CRM contacts with one SQL query", async () => {
    await gql('mutation ($i: [ContactInput!]!) { createContacts(input: $i) { id } }', {
      i: [
        { givenName: 'Zoë', familyName: 'Buyer', emails: [{ value: 'zoe@buyer.test' }] },
        { givenName: 'Ann', emails: [{ value: 'ann@buyer.test' }] },
      ],
    });
    await gql('mutation { syncContacts { contacts { lastSyncAt } } }');
    const other = await w.token('other@alpha.test');
    const theirs = await delivered(
      await send({ to: ['zoe@buyer.test'], subject: 'Not yours', text: '.' }, other),
      other,
    );
    const subjects = ['L1', 'L2', 'L3'];
    for (const s of subjects)
      await delivered(
        await send({ to: ['Zoë <zoe@buyer.test>'], cc: ['ann@buyer.test', 'nobody@else.test'], subject: s, text: s }),
      );
    const all = (await gql('{ sentMail(first: 200) { totalCount edges { node { id subject } } } }')).body.data.sentMail;
    expect(all.edges.map((e: { node: { subject: string } }) => e.node.subject).slice(0, 3)).toEqual(['L3', 'L2', 'L1']);
    expect(all.edges.some((e: { node: { id: string } }) => e.node.id === theirs.id)).toBe(false);
    expect((await gql('query ($id: ID!) { mail(id: $id) { id } }', { id: theirs.id })).body.data.mail).toBeNull();
    const p1 = (
      await gql('{ sentMail(first: 2) { totalCount pageInfo { hasNextPage endCursor } edges { node { subject } } } }')
    ).body.data.sentMail;
    expect(p1.edges.map((e: { node: { subject: string } }) => e.node.subject)).toEqual(['L3', 'L2']);
    expect(p1.totalCount).toBe(all.totalCount);
    const p2 = (
      await gql('query ($a: String) { sentMail(first: 2, after: $a) { edges { node { subject } } } }', {
        a: p1.pageInfo.endCursor,
      })
    ).body.data.sentMail;
    expect(p2.edges[0].node.subject).toBe('L1');
    expect((await gql('{ sentMail(after: "garbage") { totalCount } }')).body.errors?.[0].extensions.code).toBe(
      'BAD_USER_INPUT',
    );

    const { result: res, statements } = await statementsDuring(db().ds, () =>
      gql('{ sentMail(first: 3) { edges { node { recipients { kind email name contact { displayName } } } } } }'),
    );
    const queries = statements.map((st) => st.sql).filter((q) => /FROM [`"]contact[`"]/.test(q));
    const recips = res.body.data.sentMail.edges.map((e: { node: { recipients: unknown[] } }) => e.node.recipients);
    expect(recips[0]).toEqual([
      { kind: 'TO', email: 'zoe@buyer.test', name: 'Zoë', contact: { displayName: 'Zoë Buyer' } },
      { kind: 'CC', email: 'ann@buyer.test', name: null, contact: { displayName: 'Ann' } },
      { kind: 'CC', email: 'nobody@else.test', name: null, contact: null },
    ]);
    expect(queries).toHaveLength(1);
  });

  test('the same idempotency key returns the first Mail and sends once, also when sent concurrently; a reused key with another mail is a CONFLICT', async () => {
    const input = { to: ['zoe@buyer.test'], subject: 'Once', text: 'only once', idempotencyKey: 'crm-msg-0001' };
    const a = await delivered(await send(input));
    const b = (await send(input)).body.data.sendMail;
    expect(b).toEqual(a);
    const conflict = await send({ ...input, text: 'something else' });
    expect(conflict.body.errors?.[0].extensions).toMatchObject({ code: 'CONFLICT', mailId: a.id });
    // Five at once with a new key: one mail, one message.
    const racing = { ...input, idempotencyKey: 'crm-msg-0002', subject: 'Race' };
    const all = await Promise.all(Array.from({ length: 5 }, () => send(racing)));
    const ids = new Set(all.map((r) => r.body.data?.sendMail?.id));
    expect([...ids]).toHaveLength(1);
    expect(all.every((r) => !r.body.errors)).toBe(true);
    await delivered(all[0]);
    const sends = (await w.admin.requests({ api: 'gmail', method: 'gmail.users.drafts.send' })).filter(
      (r) => r.status === 200,
    );
    expect(sends).toHaveLength(2); // 'Once' and 'Race' (before the upper-case key below)
    expect(
      Number(
        (
          await db().ds.query(
            "SELECT COUNT(*) AS n FROM sent_mail WHERE idempotencyKey IN ('crm-msg-0001', 'crm-msg-0002')",
          )
        )[0].n,
      ),
    ).toBe(2);
    // Keys compare exactly, on every database (MariaDB's default collation would fold case).
    const upper = await delivered(await send({ ...input, idempotencyKey: 'CRM-MSG-0001' }));
    expect(upper.id).not.toBe(a.id);
    // Keys are per agent: another agent's same key is their own mail.
    const other = await w.token('other@alpha.test');
    const theirs = await delivered(await send(input, other), other);
    expect(theirs.id).not.toBe(a.id);
  });

  test.each([
    ['CR/LF in the subject', { subject: 'Hi\r\nBcc: spy@evil.test' }, 'input.subject', /line break/],
    ['LF in the subject', { subject: 'Hi\nX-Injected: 1' }, 'input.subject', /line break/],
    ['CR/LF in a recipient', { to: ['zoe@buyer.test\r\nBcc: spy@evil.test'] }, 'input.to[0]', /line break/],
    ['CR/LF in a display name', { to: ['"Zoë\r\nBcc: spy@evil.test" <zoe@buyer.test>'] }, 'input.to[0]', /line break/],
    [
      'LF in an attachment filename',
      { attachments: [{ filename: 'a\n.pdf', contentType: 'application/pdf', contentBase64: 'AAAA' }] },
      'input.attachments[0].filename',
      /line break/,
    ],
    [
      'CR in an attachment content type',
      { attachments: [{ filename: 'a.pdf', contentType: 'application/pdf\rX: y', contentBase64: 'AAAA' }] },
      'input.attachments[0].contentType',
      /line break/,
    ],
    ['a NUL in the subject', { subject: 'a\u0000b' }, 'input.subject', /control character/],
    ['no recipients', { to: [] }, 'input.to', /at least one recipient/],
    ['an invalid address', { to: ['zoe@buyer'] }, 'input.to[0]', /not a valid email address/],
    ['not an address at all', { to: ['zoe at buyer'] }, 'input.to[0]', /must be one address/],
    ['two addresses in one entry', { to: ['a@buyer.test, b@buyer.test'] }, 'input.to[0]', /one address/],
    ['two addresses separated by a space', { to: ['zoe@buyer.test bob@buyer.test'] }, 'input.to[0]', /one address/],
    ['an address posing as a display name', { cc: ['good@buyer.test <evil@x.test>'] }, 'input.cc[0]', /one address/],
    ['text after the address', { bcc: ['Zoë <zoe@buyer.test> and more'] }, 'input.bcc[0]', /one address/],
    [
      'attachment names too long together for the record',
      {
        attachments: Array.from({ length: 100 }, (_, i) => ({
          filename: `${'報告書'.repeat(83)}${i}.pdf`,
          contentType: 'application/pdf',
          contentBase64: 'AAAA',
        })),
      },
      'input.attachments',
      /too long together/,
    ],
    [
      'more recipients than MAIL_MAX_RECIPIENTS',
      { to: ['a@x.test', 'b@x.test', 'c@x.test'], cc: ['d@x.test', 'e@x.test'], bcc: ['f@x.test'] },
      'input.to',
      /at most 5/,
    ],
    [
      'bad base64',
      { attachments: [{ filename: 'a.pdf', contentType: 'application/pdf', contentBase64: 'not*base64!' }] },
      'input.attachments[0].contentBase64',
      /base64/,
    ],
    [
      'base64 with a stray character count',
      { attachments: [{ filename: 'a.pdf', contentType: 'application/pdf', contentBase64: 'QUJDRA=A' }] },
      'input.attachments[0].contentBase64',
      /base64/,
    ],
    [
      'base64url\'s alphabet ("-", "_")',
      { attachments: [{ filename: 'a.pdf', contentType: 'application/pdf', contentBase64: 'QU-_REVG' }] },
      'input.attachments[0].contentBase64',
      /base64/,
    ],
    [
      'an "=" inside base64',
      { attachments: [{ filename: 'a.pdf', contentType: 'application/pdf', contentBase64: 'QUJD=EVG' }] },
      'input.attachments[0].contentBase64',
      /base64/,
    ],
    [
      'base64 with a character outside any alphabet',
      { attachments: [{ filename: 'a.pdf', contentType: 'application/pdf', contentBase64: 'QUJDRE\u00e9G' }] },
      'input.attachments[0].contentBase64',
      /base64/,
    ],
    [
      'a content type that is not one',
      { attachments: [{ filename: 'a.pdf', contentType: 'pdf', contentBase64: 'AAAA' }] },
      'input.attachments[0].contentType',
      /media type/,
    ],
    [
      'a path as filename',
      { attachments: [{ filename: '../../etc/passwd', contentType: 'text/plain', contentBase64: 'AAAA' }] },
      'input.attachments[0].filename',
      /not a path/,
    ],
    ['an idempotency key with spaces', { idempotencyKey: 'a b' }, 'input.idempotencyKey', /printable/],
    ['an idempotency key of 129 characters', { idempotencyKey: 'k'.repeat(129) }, 'input.idempotencyKey', /1 to 128/],
    ['a subject of 999 characters', { subject: 's'.repeat(999) }, 'input.subject', /longer than 998/],
    [
      'a file name of 256 characters',
      { attachments: [{ filename: `${'f'.repeat(252)}.pdf`, contentType: 'application/pdf', contentBase64: 'AAAA' }] },
      'input.attachments[0].filename',
      /1 to 255/,
    ],
    [
      'a display name of 256 characters',
      { to: [`${'N'.repeat(256)} <zoe@buyer.test>`] },
      'input.to[0]',
      /display name is longer than 255/,
    ],
    [
      '101 attachments',
      {
        attachments: Array.from({ length: 101 }, (_, i) => ({
          filename: `${i}.txt`,
          contentType: 'text/plain',
          contentBase64: 'AAAA',
        })),
      },
      'input.attachments',
      /At most 100 attachments/,
    ],
    [
      'a U+2028 line separator in the subject',
      { subject: 'a\u2028Bcc: spy@evil.test' },
      'input.subject',
      /control character/,
    ],
    // Hostile shapes that make backtracking regular expressions run for hours: answered at once.
    [
      'an address built to make a regex backtrack',
      { to: [`${'a.'.repeat(60)}a@x`] },
      'input.to[0]',
      /not a valid email address/,
    ],
    ['a display name of 900 spaces before no address', { to: [`x${' '.repeat(900)}y`] }, 'input.to[0]', /one address/],
    ['an entry over 998 characters', { to: [`${'a'.repeat(1000)}@x.test`] }, 'input.to[0]', /longer than 998/],
    [
      'base64 with a long run of "=" inside',
      {
        attachments: [
          { filename: 'a.bin', contentType: 'application/octet-stream', contentBase64: `${'='.repeat(200_000)}A` },
        ],
      },
      'input.attachments[0].contentBase64',
      /base64/,
    ],
  ])('%s → BAD_USER_INPUT naming the field; nothing stored or sent', async (_what, patch, field, message) => {
    const before = await counts();
    const res = await send({ to: ['zoe@buyer.test'], subject: 'Hello', text: 'x', ...patch });
    expect(res.status).toBe(200);
    expect(res.body.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
    expect(res.body.errors?.[0].message).toMatch(message);
    expect(JSON.stringify(res.body)).not.toMatch(/stack|\.ts:\d+/);
    expect(await counts()).toEqual(before);
    expect(await w.admin.requests({ api: 'gmail' })).toEqual([]);
  });

  test("a mail over Gmail's 35 MB is refused with the limit named; one of ~28 MB (a 20 MB attachment) goes through the upload endpoint intact", async () => {
    const before = await counts();
    const big = randomBytes(27 * 1024 * 1024); // 36 MB as base64: within the HTTP limit, over Gmail's once encoded
    const over = await send({
      to: ['zoe@buyer.test'],
      subject: 'Too big',
      attachments: [{ filename: 'scan.tiff', contentType: 'image/tiff', contentBase64: big.toString('base64') }],
    });
    expect(over.body.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'too_large' });
    expect(over.body.errors?.[0].message).toMatch(/at most 35 MB/);
    expect(await counts()).toEqual(before);

    const ok = randomBytes(20 * 1024 * 1024);
    const res = await send({
      to: ['zoe@buyer.test'],
      subject: 'Big',
      text: 'the scans',
      attachments: [{ filename: 'scans.zip', contentType: 'application/zip', contentBase64: ok.toString('base64') }],
    });
    // A large mail may well outlast the mutation wait (QUEUED); what matters is that it ends SENT, intact.
    const mail = await delivered(res, token, 90_000);
    expect(mail.sizeBytes).toBeGreaterThan(27 * 1024 * 1024);
    const create = await w.admin.requests({ api: 'gmail', method: 'gmail.users.drafts.create' });
    expect(create.map((r) => [r.path, r.status])).toEqual([['/upload/gmail/v1/users/me/drafts', 200]]);
    const p = await parsedById(mail.gmailMessageId);
    expect(p.attachments[0].content.equals(ok)).toBe(true);
  }, 120_000);
});

describeEachDb('mail: sendMail waits for Gmail (MUTATION_WAIT_MS)', (db) => {
  // The wait set far beyond anything a delivery takes, so the answer depends on what Gmail did, not on the machine's
  // speed.
  test('the answer is the mail as Gmail left it: SENT once Gmail took it, however long Gmail held the send', async () => {
    const w = await startWorld(db(), { env: { MUTATION_WAIT_MS: '60000' } });
    try {
      const token = await w.token(AGENT);
      const held = await w.admin.addFault({ api: 'gmail', method: 'gmail.users.drafts.send', hold: 'call' });
      const answer = w.gw.gql(
        `mutation { sendMail(input: { to: ["zoe@buyer.test"], subject: "Held at Gmail", text: "." }) { ${MAIL} } }`,
        { token },
      );
      await w.admin.waitHeld(held.id); // the mail is at Gmail's door: the mutation is still waiting for the outcome
      await w.admin.release(held.id);
      const mail = (await answer).body.data.sendMail;
      expect(mail).toMatchObject({ status: 'SENT', failure: null });
      expect((await w.admin.messages(AGENT)).map((m) => [m.id, m.labelIds])).toEqual([[mail.gmailMessageId, ['SENT']]]);
    } finally {
      await w.close();
    }
  }, 90_000);
});
