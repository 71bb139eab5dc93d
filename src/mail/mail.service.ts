/**
 * Sending mail as the agent, and the agent's record of what was sent.
 *
 * sendMail checks the input, builds the MIME once (mail.compose.ts) and, in
 * one transaction, stores the mail (QUEUED), its recipients, the MIME (in
 * chunks: up to 35 MB) and an outbox row. The outbox delivers it through
 * Gmail (mail.delivery.ts); the mutation waits MUTATION_WAIT_MS for that and
 * otherwise answers QUEUED. An idempotency key makes the send happen once:
 * the same key again returns the first Mail (the unique index settles two
 * concurrent first sends), the same key with a different mail is a CONFLICT.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { TenantScope } from '../auth/tenant-scope';
import type { Config } from '../config';
import { checkFirst, decodeCursor, encodeCursor, pageOf, type CountedPage } from '../graphql/connection';
import { isUniqueViolation } from '../db/unique-violation';
import { MailRecipient, SentMail } from '../entities';
import { AppError, ErrorCode, badInput, notFound } from '../errors';
import { MAIL_OUTBOX } from '../outbox/topics';
import type { OutboxWorker } from '../outbox/worker';
import { buildMime, checkMailInput } from './mail.compose';
import type { SendMailInput } from './mail.input';
import { MAIL_VIEW_COLUMNS, toMailType, type RecipientView } from './mail.mapper';
import { readRows } from '../db/read-rows';
import { storeMime } from './mail.mime-store';
import type { MailConnectionType, MailType } from './mail.type';

const MAX_MAIL_PAGE = 200;
/** The attachment list (names, types, sizes) is one text column (MEDIUMTEXT on MySQL), with room to spare. */
const MAX_ATTACHMENT_LIST_BYTES = 60_000;

export type MailSettings = Pick<Config['mail'], 'maxRecipients'>;

const cursorOf = (m: Pick<SentMail, 'createdAt' | 'id'>) => encodeCursor([m.createdAt.getTime(), m.id]);

const keyHash = (key: string) => createHash('sha256').update(key).digest('hex');

export class MailService {
  constructor(private readonly deps: { outbox: OutboxWorker; settings: MailSettings }) {}

  async send(scope: TenantScope, input: SendMailInput): Promise<MailType> {
    // A large mail holds several copies of itself while it is decoded, built and stored: the HTTP layer lets only a
    // few such bodies in at once (http/request-body.ts), so no queue of them can build up here.
    const accepted = await this.accept(scope, input);
    if ('status' in accepted) return accepted; // a replay of an earlier send with the same key
    // Also without a key: its delivery fails at once (GOOGLE_NOT_CONFIGURED is final for mail), and the answer says
    // why.
    await this.deps.outbox.settle(MAIL_OUTBOX, scope, accepted.seqs);
    return (await this.get(scope, accepted.id))!;
  }

  /** Checks, builds and stores the mail with its outbox row; or the Mail an earlier send with the same key made. */
  private async accept(scope: TenantScope, input: SendMailInput): Promise<MailType | { id: string; seqs: number[] }> {
    const checked = await checkMailInput(input, this.deps.settings.maxRecipients, scope.brokerageId);
    if (checked.idempotencyKey) {
      const prior = await this.replay(scope, checked.idempotencyKey, checked.requestHash);
      if (prior) return prior;
    }
    let original: SentMail | null = null;
    if (checked.replyToMailId) {
      original = await scope.findOneForAgent(SentMail, { id: checked.replyToMailId });
      if (!original) throw notFound('Mail', checked.replyToMailId);
      if (original.status === 'FAILED')
        throw badInput(`Mail "${original.id}" was not sent (it FAILED); there is no thread to reply to`, {
          field: 'input.replyToMailId',
        });
    }
    const id = randomUUID();
    const now = new Date();
    const from = scope.caller.email;
    const messageIdHeader = `<${id}@${from.slice(from.lastIndexOf('@') + 1)}>`;
    const subject =
      checked.subject ||
      (original ? (/^re:/i.test(original.subject) ? original.subject : `Re: ${original.subject}`) : '');
    const references = original
      ? [...(original.referencesHeader?.split(' ') ?? []), original.messageIdHeader].slice(-20)
      : undefined;
    const mime = await buildMime(
      { ...checked, subject },
      {
        tenant: scope.brokerageId,
        from,
        messageId: messageIdHeader,
        date: now,
        inReplyTo: original?.messageIdHeader,
        references,
      },
    );

    const row: SentMail = {
      id,
      brokerageId: scope.brokerageId,
      agentId: scope.agentId,
      idempotencyKey: checked.idempotencyKey,
      idempotencyKeyHash: checked.idempotencyKey ? keyHash(checked.idempotencyKey) : null,
      deliveryToken: null,
      requestHash: checked.requestHash,
      status: 'QUEUED',
      phase: null,
      fromAddress: from,
      subject,
      messageIdHeader,
      referencesHeader: references?.join(' ') ?? null,
      replyToMailId: original?.id ?? null,
      attachments: JSON.stringify(
        checked.attachments.map((a) => ({ filename: a.filename, contentType: a.contentType, size: a.size })),
      ),
      sizeBytes: mime.length,
      gmailDraftId: null,
      gmailMessageId: null,
      threadId: null,
      failureCode: null,
      failureReason: null,
      createdAt: now,
      sentAt: null,
      updatedAt: now,
    };
    if (Buffer.byteLength(row.attachments) > MAX_ATTACHMENT_LIST_BYTES) {
      throw badInput(
        `The attachments' names and types are too long together (${Buffer.byteLength(row.attachments)} bytes, at most ${MAX_ATTACHMENT_LIST_BYTES}); use shorter file names or fewer files`,
        { field: 'input.attachments' },
      );
    }
    const recipients: MailRecipient[] = checked.recipients.map((r, position) => ({
      mailId: id,
      brokerageId: scope.brokerageId,
      position,
      kind: r.kind,
      email: r.email,
      name: r.name,
    }));
    let seqs: number[];
    try {
      seqs = await scope.transaction(async (m) => {
        await m.getRepository(SentMail).insert(row);
        for (let i = 0; i < recipients.length; i += 200)
          await m.getRepository(MailRecipient).insert(recipients.slice(i, i + 200));
        await storeMime(m, scope.brokerageId, id, mime);
        return MAIL_OUTBOX.write(m, scope, { kind: 'send', entityId: id }, now);
      });
    } catch (err) {
      // Two first sends with one key at once: the unique index let one in; the other answers with it.
      if (checked.idempotencyKey && isUniqueViolation(err)) {
        const prior = await this.replay(scope, checked.idempotencyKey, checked.requestHash);
        if (prior) return prior;
      }
      throw err;
    }
    return { id, seqs };
  }

  private async replay(scope: TenantScope, key: string, hash: string): Promise<MailType | null> {
    const prior = await scope.findOneForAgent(SentMail, { idempotencyKeyHash: keyHash(key) });
    if (!prior) return null;
    if (prior.requestHash !== hash) {
      throw new AppError(
        ErrorCode.CONFLICT,
        `The idempotency key "${key}" was already used for a different mail (${prior.id}); use a new key for a new mail`,
        { mailId: prior.id },
      );
    }
    return (await this.get(scope, prior.id))!;
  }

  async get(scope: TenantScope, id: string): Promise<MailType | null> {
    const m = await scope.findOneForAgent(SentMail, { id });
    if (!m) return null;
    const recipients = await scope.findInBrokerage(MailRecipient, { mailId: m.id });
    return toMailType(m, recipients);
  }

  /** How many of the agent's mails are waiting for Gmail. */
  queuedCount(scope: TenantScope): Promise<number> {
    return scope.countForAgent(SentMail, { status: 'QUEUED' });
  }

  /** The agent's mail, newest first. */
  async list(
    scope: TenantScope,
    args: { first: number; after?: string | null },
  ): Promise<CountedPage<MailConnectionType>> {
    checkFirst(args.first, MAX_MAIL_PAGE);
    const query = scope
      .agentQuery(SentMail, 'm')
      .orderBy('m.createdAt', 'DESC')
      .addOrderBy('m.id', 'DESC')
      .limit(args.first + 1);
    if (args.after) {
      const [ms, id] = decodeCursor(args.after, ['integer', 'string']);
      query.andWhere('(m.createdAt < :at OR (m.createdAt = :at AND m.id < :id))', { at: new Date(ms), id });
    }
    const rows = await readRows(query, 'm', MAIL_VIEW_COLUMNS);
    const page = rows.slice(0, args.first);
    const recipients = page.length
      ? await readRows(
          scope.brokerageQuery(MailRecipient, 'r').andWhere('r.mailId IN (:...ids)', { ids: page.map((m) => m.id) }),
          'r',
          ['mailId', 'position', 'kind', 'email', 'name'],
        )
      : [];
    const byMail = new Map<string, RecipientView[]>();
    for (const r of recipients) {
      const list = byMail.get(r.mailId);
      if (list) list.push(r);
      else byMail.set(r.mailId, [r]);
    }
    return {
      ...pageOf(rows, args.first, cursorOf, (m) => toMailType(m, byMail.get(m.id) ?? [])),
      count: () => scope.countForAgent(SentMail),
    };
  }
}
