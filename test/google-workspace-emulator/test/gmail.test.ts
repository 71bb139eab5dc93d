/**
 * Gmail API v1 through the real @googleapis/gmail client: messages.send (JSON raw, media and multipart upload),
 * drafts create/get/list/send/delete, getProfile, and Gmail's errors.
 */
import { Readable } from 'node:stream';
import { startEmulator, type RunningEmulator } from '../src/server';
import { GMAIL_MAX_MESSAGE_BYTES } from '../src/gmail';
import { EmulatorAdmin, SCOPES, googleClients, googleError, mintToken, rawCall, type Tenant } from '../src/testing';

let emu: RunningEmulator;
let admin: EmulatorAdmin;
let t: Tenant;
const AGENT = 'agent@acme.test';
const NO_MAIL = 'nomail@acme.test';
const OTHER = 'boss@acme.test';

const mime = (headers: string, body = 'Hello there') =>
  `From: ${AGENT}\r\n${headers}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${body}\r\n`;
const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64url');
const MSG = mime('To: "Zoë Buyer" <zoe@buyer.test>\r\nSubject: Listing 12 Elm St');

beforeAll(async () => {
  emu = await startEmulator();
  admin = new EmulatorAdmin(emu.url);
  // One tenant for the whole file (RSA keys are costly); mailboxes are checked per test by id, not by count.
  t = await admin.tenant(
    'acme.test',
    [AGENT, OTHER, { email: NO_MAIL, gmail: false }],
    [SCOPES.gmailCompose, SCOPES.gmailSend, SCOPES.calendar],
  );
});
afterAll(() => emu.close());
beforeEach(() => admin.clearRequests());

const gmailAs = (user = AGENT, scopes: string[] = [SCOPES.gmailCompose]) =>
  googleClients(emu.url, t.key, user, scopes).gmail;

describe('users.messages.send', () => {
  test('JSON raw: stored with label SENT, a message id and thread id; admin API returns the exact raw', async () => {
    const res = await gmailAs().users.messages.send({ userId: 'me', requestBody: { raw: b64(MSG) } });
    expect(res.status).toBe(200);
    expect(res.data).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{16}$/),
      threadId: res.data.id,
      labelIds: ['SENT'],
    });
    const stored = (await admin.messages(AGENT)).find((m) => m.id === res.data.id);
    expect(stored).toEqual({ id: res.data.id, threadId: res.data.id, labelIds: ['SENT'], raw: b64(MSG) });
    expect(Buffer.from(stored!.raw, 'base64url').toString()).toContain('Subject: Listing 12 Elm St');
    expect(await admin.requests({ api: 'gmail' })).toEqual([
      expect.objectContaining({
        method: 'gmail.users.messages.send',
        user: AGENT,
        status: 200,
        path: '/gmail/v1/users/me/messages/send',
      }),
    ]);
  });

  test('the user\'s own address works as userId; another user\'s → 403 "Delegation denied for …"', async () => {
    expect((await gmailAs().users.messages.send({ userId: AGENT, requestBody: { raw: b64(MSG) } })).status).toBe(200);
    const e = await googleError(gmailAs().users.messages.send({ userId: OTHER, requestBody: { raw: b64(MSG) } }));
    expect(e.status).toBe(403);
    expect(e.data.error).toMatchObject({
      code: 403,
      message: `Delegation denied for ${AGENT}`,
      status: 'PERMISSION_DENIED',
      errors: [{ reason: 'forbidden', domain: 'global' }],
    });
  });

  test('threadId is honoured; an unknown threadId → 400 invalidArgument "Invalid thread_id value"', async () => {
    const first = await gmailAs().users.messages.send({ userId: 'me', requestBody: { raw: b64(MSG) } });
    const reply = await gmailAs().users.messages.send({
      userId: 'me',
      requestBody: {
        threadId: first.data.threadId!,
        raw: b64(mime('To: zoe@buyer.test\r\nSubject: Re: Listing 12 Elm St\r\nIn-Reply-To: <a@b>')),
      },
    });
    expect(reply.data.threadId).toBe(first.data.threadId);
    expect(reply.data.id).not.toBe(first.data.id);
    const before = (await admin.messages(AGENT)).length;
    const e = await googleError(
      gmailAs().users.messages.send({ userId: 'me', requestBody: { threadId: 'ffffffffffffffff', raw: b64(MSG) } }),
    );
    expect(e.status).toBe(400);
    expect(e.data.error).toEqual({
      code: 400,
      message: 'Invalid thread_id value',
      errors: [{ message: 'Invalid thread_id value', domain: 'global', reason: 'invalidArgument' }],
      status: 'INVALID_ARGUMENT',
    });
    expect(await admin.messages(AGENT)).toHaveLength(before);
  });

  test('raw must be base64url: standard base64 (+ /), whitespace or an impossible length → 400 "Base64 decoding failed"; a setting accepts standard base64', async () => {
    // Bytes chosen so that the standard alphabet needs both + and /.
    const msg = `${MSG}\r\n${Buffer.from([0xfb, 0xff, 0xbf]).toString('latin1')}`;
    const standard = Buffer.from(msg, 'latin1').toString('base64');
    expect(standard).toMatch(/[+/]/);
    const cases: Array<[string, string]> = [
      [standard, 'message.raw'],
      [`${b64(MSG)} `, 'message.raw'],
      [`${b64(MSG)}\n`, 'message.raw'],
      ['abcde', 'message.raw'],
    ];
    for (const [raw, field] of cases) {
      const e = await googleError(gmailAs().users.messages.send({ userId: 'me', requestBody: { raw } }));
      expect(e.status).toBe(400);
      expect(e.data.error).toMatchObject({
        code: 400,
        status: 'INVALID_ARGUMENT',
        message: expect.stringMatching(
          new RegExp(`^Invalid value at '${field.replace('.', '\\.')}' \\(TYPE_BYTES\\), Base64 decoding failed for "`),
        ),
      });
    }
    const d = await googleError(
      gmailAs().users.drafts.create({ userId: 'me', requestBody: { message: { raw: standard } } }),
    );
    expect(d.data.error.message).toMatch(
      /^Invalid value at 'draft\.message\.raw' \(TYPE_BYTES\), Base64 decoding failed/,
    );
    // base64url with or without padding is fine.
    expect(
      (
        await gmailAs().users.messages.send({
          userId: 'me',
          requestBody: { raw: Buffer.from(msg, 'latin1').toString('base64url') },
        })
      ).status,
    ).toBe(200);
    const padded = Buffer.from(`${MSG}xy`).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
    expect(padded).toMatch(/=$/);
    expect((await gmailAs().users.messages.send({ userId: 'me', requestBody: { raw: padded } })).status).toBe(200);
    await admin.putSettings({ gmailAcceptStandardBase64Raw: true });
    try {
      const ok = await gmailAs().users.messages.send({ userId: 'me', requestBody: { raw: standard } });
      expect((await admin.messages(AGENT)).find((m) => m.id === ok.data.id)!.raw).toBe(
        Buffer.from(msg, 'latin1').toString('base64url'),
      );
    } finally {
      await admin.putSettings({ gmailAcceptStandardBase64Raw: false });
    }
  });

  test('uploads accept message/* only: text/plain (media) or a non-message part (multipart) → 400 badContent', async () => {
    const before = (await admin.messages(AGENT)).length;
    const e = await googleError(
      gmailAs().users.messages.send(
        { userId: 'me', media: { mimeType: 'text/plain', body: MSG } },
        { rootUrl: `${emu.url}/`, retry: false },
      ),
    );
    expect(e.status).toBe(400);
    expect(e.data.error).toMatchObject({
      code: 400,
      status: 'INVALID_ARGUMENT',
      message: "Media type 'text/plain' is not supported. Valid media types: [message/*]",
      errors: [{ reason: 'badContent' }],
    });
    const m = await googleError(
      gmailAs().users.drafts.create(
        { userId: 'me', requestBody: {}, media: { mimeType: 'application/octet-stream', body: MSG } },
        { rootUrl: `${emu.url}/`, retry: false },
      ),
    );
    expect(m.data.error.message).toBe(
      "Media type 'application/octet-stream' is not supported. Valid media types: [message/*]",
    );
    expect(await admin.messages(AGENT)).toHaveLength(before);
    // message/* other than rfc822 is accepted (the discovery doc says message/*).
    expect(
      (
        await gmailAs().users.messages.send(
          { userId: 'me', media: { mimeType: 'message/global', body: MSG } },
          { rootUrl: `${emu.url}/` },
        )
      ).status,
    ).toBe(200);
  });

  test('media upload (uploadType=media, message/rfc822) with the per-call rootUrl', async () => {
    const res = await gmailAs().users.messages.send(
      { userId: 'me', media: { mimeType: 'message/rfc822', body: MSG } },
      { rootUrl: `${emu.url}/` },
    );
    expect(res.data.labelIds).toEqual(['SENT']);
    expect((await admin.messages(AGENT)).find((m) => m.id === res.data.id)!.raw).toBe(b64(MSG));
    const log = await admin.requests({ api: 'gmail' });
    expect(log[0]).toMatchObject({
      method: 'gmail.users.messages.send',
      path: '/upload/gmail/v1/users/me/messages/send',
      status: 200,
    });
  });

  test('multipart upload carries the threadId metadata', async () => {
    const first = await gmailAs().users.messages.send({ userId: 'me', requestBody: { raw: b64(MSG) } });
    const res = await gmailAs().users.messages.send(
      {
        userId: 'me',
        requestBody: { threadId: first.data.threadId },
        media: { mimeType: 'message/rfc822', body: MSG },
      },
      { rootUrl: `${emu.url}/` },
    );
    expect(res.data.threadId).toBe(first.data.threadId);
    expect((await admin.messages(AGENT)).find((m) => m.id === res.data.id)!.raw).toBe(b64(MSG));
  });

  test.each([
    ['no recipients', mime('Subject: nobody'), 'Recipient address required'],
    ['an invalid To address', mime('To: not-an-address\r\nSubject: x'), 'Invalid To header'],
    ['no headers at all', 'just some text', 'Recipient address required'],
  ])('%s → 400 invalidArgument', async (_label, message, text) => {
    const e = await googleError(gmailAs().users.messages.send({ userId: 'me', requestBody: { raw: b64(message) } }));
    expect(e.status).toBe(400);
    expect(e.data.error).toEqual({
      code: 400,
      message: text,
      errors: [{ message: text, domain: 'global', reason: 'invalidArgument' }],
      status: 'INVALID_ARGUMENT',
    });
  });

  test('missing raw → 400 badRequest', async () => {
    const e = await googleError(gmailAs().users.messages.send({ userId: 'me', requestBody: {} }));
    expect(e.data.error).toMatchObject({
      code: 400,
      status: 'INVALID_ARGUMENT',
      errors: [{ reason: 'badRequest' }],
      message: expect.stringContaining("'raw' RFC822 payload"),
    });
  });

  test('a user without Gmail → 400 failedPrecondition "Precondition check failed."', async () => {
    const e = await googleError(gmailAs(NO_MAIL).users.messages.send({ userId: 'me', requestBody: { raw: b64(MSG) } }));
    expect(e.status).toBe(400);
    expect(e.data.error).toEqual({
      code: 400,
      message: 'Precondition check failed.',
      errors: [{ message: 'Precondition check failed.', domain: 'global', reason: 'failedPrecondition' }],
      status: 'FAILED_PRECONDITION',
    });
    expect(await admin.requests({ api: 'gmail', user: NO_MAIL })).toEqual([expect.objectContaining({ status: 400 })]);
  });

  test('35 MiB limit: a message of 36700161 bytes is refused, nothing stored', async () => {
    const header = mime('To: zoe@buyer.test\r\nSubject: big', '');
    const big = Buffer.concat([Buffer.from(header), Buffer.alloc(GMAIL_MAX_MESSAGE_BYTES + 1 - header.length, 'a')]);
    expect(big.length).toBe(36_700_161);
    const before = (await admin.messages(AGENT)).length;
    // A stream, not the Buffer: on failure gaxios serializes a Buffer body into its error (8 s of blocked event loop).
    const body = Readable.from([big]);
    const e = await googleError(
      gmailAs().users.messages.send(
        { userId: 'me', media: { mimeType: 'message/rfc822', body } },
        { rootUrl: `${emu.url}/` },
      ),
    );
    expect(e.status).toBe(400);
    expect(e.data.error).toMatchObject({
      status: 'INVALID_ARGUMENT',
      message: 'Request payload size exceeds the limit: 36700160 bytes.',
      errors: [{ reason: 'badRequest' }],
    });
    expect(await admin.messages(AGENT)).toHaveLength(before);
  }, 30_000);

  test('scopes: gmail.send may send but not create drafts (403)', async () => {
    const g = gmailAs(AGENT, [SCOPES.gmailSend]);
    expect((await g.users.messages.send({ userId: 'me', requestBody: { raw: b64(MSG) } })).status).toBe(200);
    const e = await googleError(g.users.drafts.create({ userId: 'me', requestBody: { message: { raw: b64(MSG) } } }));
    expect(e.status).toBe(403);
    expect(e.data.error.errors![0].reason).toBe('insufficientPermissions');
  });
});

describe('drafts (gmail.compose)', () => {
  test('create → get → list → send: the sent draft is gone (404) and its message is SENT in the same thread', async () => {
    const g = gmailAs();
    const created = await g.users.drafts.create({ userId: 'me', requestBody: { message: { raw: b64(MSG) } } });
    expect(created.data).toEqual({
      id: expect.stringMatching(/^r\d+$/),
      message: { id: expect.stringMatching(/^[0-9a-f]{16}$/), threadId: expect.any(String), labelIds: ['DRAFT'] },
    });
    const draftId = created.data.id!;

    const got = await g.users.drafts.get({ userId: 'me', id: draftId, format: 'raw' });
    expect(got.data.message!.raw).toBe(b64(MSG));
    const full = await g.users.drafts.get({ userId: 'me', id: draftId });
    expect(full.data.message!.payload!.headers).toEqual(
      expect.arrayContaining([{ name: 'Subject', value: 'Listing 12 Elm St' }]),
    );

    const list = await g.users.drafts.list({ userId: 'me' });
    expect(list.data.drafts).toEqual(
      expect.arrayContaining([
        { id: draftId, message: { id: created.data.message!.id, threadId: created.data.message!.threadId } },
      ]),
    );

    const sent = await g.users.drafts.send({ userId: 'me', requestBody: { id: draftId } });
    expect(sent.data).toEqual({
      id: created.data.message!.id,
      threadId: created.data.message!.threadId,
      labelIds: ['SENT'],
    });

    const gone = await googleError(g.users.drafts.get({ userId: 'me', id: draftId }, { retry: false }));
    expect(gone.status).toBe(404);
    expect(gone.data.error).toEqual({
      code: 404,
      message: 'Requested entity was not found.',
      errors: [{ message: 'Requested entity was not found.', domain: 'global', reason: 'notFound' }],
      status: 'NOT_FOUND',
    });
    expect((await admin.messages(AGENT)).find((m) => m.id === sent.data.id)).toMatchObject({
      labelIds: ['SENT'],
      raw: b64(MSG),
    });
    expect((await admin.requests({ api: 'gmail' })).map((e) => `${e.method} ${e.status}`)).toEqual([
      'gmail.users.drafts.create 200',
      'gmail.users.drafts.get 200',
      'gmail.users.drafts.get 200',
      'gmail.users.drafts.list 200',
      'gmail.users.drafts.send 200',
      'gmail.users.drafts.get 404',
    ]);
  });

  test('a draft without recipients can be created but not sent (400), and stays a draft', async () => {
    const g = gmailAs();
    const d = await g.users.drafts.create({
      userId: 'me',
      requestBody: { message: { raw: b64(mime('Subject: later')) } },
    });
    const e = await googleError(g.users.drafts.send({ userId: 'me', requestBody: { id: d.data.id } }));
    expect(e.data.error).toMatchObject({
      code: 400,
      message: 'Recipient address required',
      errors: [{ reason: 'invalidArgument' }],
    });
    expect((await g.users.drafts.get({ userId: 'me', id: d.data.id! })).status).toBe(200);
  });

  test('two concurrent sends of one draft: exactly one succeeds, the other gets 404; one SENT message', async () => {
    const g = gmailAs();
    for (let round = 0; round < 5; round++) {
      const d = await g.users.drafts.create({ userId: 'me', requestBody: { message: { raw: b64(MSG) } } });
      const results = await Promise.allSettled([
        g.users.drafts.send({ userId: 'me', requestBody: { id: d.data.id } }),
        g.users.drafts.send({ userId: 'me', requestBody: { id: d.data.id } }),
      ]);
      const statuses = results
        .map((r) =>
          r.status === 'fulfilled' ? r.value.status : (r.reason as { response?: { status: number } }).response?.status,
        )
        .sort();
      expect(statuses).toEqual([200, 404]);
      expect((await admin.messages(AGENT)).filter((m) => m.id === d.data.message!.id).map((m) => m.labelIds)).toEqual([
        ['SENT'],
      ]);
    }
  });

  test('a refused send keeps the draft in its place in drafts.list', async () => {
    const g = gmailAs(OTHER);
    const ids: string[] = [];
    for (const m of [MSG, mime('Subject: no one yet'), MSG])
      ids.push((await g.users.drafts.create({ userId: 'me', requestBody: { message: { raw: b64(m) } } })).data.id!);
    const order = async () =>
      (await g.users.drafts.list({ userId: 'me' })).data.drafts!.map((x) => x.id).filter((id) => ids.includes(id!));
    const before = await order();
    expect((await googleError(g.users.drafts.send({ userId: 'me', requestBody: { id: ids[1] } }))).status).toBe(400);
    expect(await order()).toEqual(before);
    for (const id of ids) await g.users.drafts.delete({ userId: 'me', id });
  });

  test('delete → 204, then 404; send/delete of an unknown draft → 404', async () => {
    const g = gmailAs();
    const d = await g.users.drafts.create({ userId: 'me', requestBody: { message: { raw: b64(MSG) } } });
    const del = await g.users.drafts.delete({ userId: 'me', id: d.data.id! });
    expect(del.status).toBe(204);
    expect((await googleError(g.users.drafts.get({ userId: 'me', id: d.data.id! }, { retry: false }))).status).toBe(
      404,
    );
    expect((await googleError(g.users.drafts.delete({ userId: 'me', id: d.data.id! }, { retry: false }))).status).toBe(
      404,
    );
    expect((await googleError(g.users.drafts.send({ userId: 'me', requestBody: { id: 'r123' } }))).status).toBe(404);
  });

  test('drafts.create through the upload endpoint (multipart)', async () => {
    const res = await gmailAs().users.drafts.create(
      { userId: 'me', requestBody: {}, media: { mimeType: 'message/rfc822', body: MSG } },
      { rootUrl: `${emu.url}/` },
    );
    expect(res.data.message!.labelIds).toEqual(['DRAFT']);
    expect(
      (await gmailAs().users.drafts.get({ userId: 'me', id: res.data.id!, format: 'raw' })).data.message!.raw,
    ).toBe(b64(MSG));
  });

  test('drafts.list pages with maxResults and pageToken', async () => {
    const g = gmailAs(OTHER);
    for (let i = 0; i < 3; i++)
      await g.users.drafts.create({ userId: 'me', requestBody: { message: { raw: b64(MSG) } } });
    const p1 = await g.users.drafts.list({ userId: 'me', maxResults: 2 });
    expect(p1.data.drafts).toHaveLength(2);
    expect(p1.data.resultSizeEstimate).toBe(3);
    const p2 = await g.users.drafts.list({ userId: 'me', maxResults: 2, pageToken: p1.data.nextPageToken! });
    expect(p2.data.drafts).toHaveLength(1);
    expect(p2.data.nextPageToken).toBeUndefined();
  });
});

describe('users.getProfile', () => {
  test('emailAddress and counts; no mailbox → failedPrecondition; a calendar-only token → 403', async () => {
    const before = (await gmailAs().users.getProfile({ userId: 'me' })).data;
    expect(before.emailAddress).toBe(AGENT);
    await gmailAs().users.messages.send({ userId: 'me', requestBody: { raw: b64(MSG) } });
    const after = (await gmailAs().users.getProfile({ userId: 'me' })).data;
    expect(after.messagesTotal).toBe(before.messagesTotal! + 1);
    expect(Number(after.historyId)).toBeGreaterThan(Number(before.historyId));
    expect((await googleError(gmailAs(NO_MAIL).users.getProfile({ userId: 'me' }))).data.error.status).toBe(
      'FAILED_PRECONDITION',
    );
    const { access_token } = await mintToken(t.key, AGENT, [SCOPES.calendar]);
    expect((await rawCall(`${emu.url}/gmail/v1/users/me/profile`, access_token)).status).toBe(403);
  });
});

describe('quota units', () => {
  test('units per method: with a limit of 120, one send (100) plus 20 getProfile (1) fit, the 21st does not', async () => {
    await admin.putSettings({ quotas: { 'gmail.units': { limitPerMinute: 120 } } });
    try {
      const g = gmailAs(OTHER);
      // drafts above used some of OTHER's units in earlier tests; move past the window first.
      await admin.advanceClock(61);
      await g.users.messages.send({ userId: 'me', requestBody: { raw: b64(MSG) } });
      for (let i = 0; i < 20; i++) await g.users.getProfile({ userId: 'me' });
      const e = await googleError(g.users.getProfile({ userId: 'me' }, { retry: false }));
      expect(e.status).toBe(429);
      expect(e.data.error.details![0]).toMatchObject({
        reason: 'RATE_LIMIT_EXCEEDED',
        metadata: { quota_limit_value: '120' },
      });
    } finally {
      await admin.putSettings({ quotas: { 'gmail.units': { limitPerMinute: 6000 } } });
      await admin.advanceClock(61);
    }
  });
});
