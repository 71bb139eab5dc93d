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
import type { DataSource, EntityManager } from 'typeorm';
import { In, LessThan } from 'typeorm';
import type { TenantScope } from '../auth/tenant-scope';
import { checkFirst, decodeCursor, encodeCursor, pageOf } from '../graphql/connection';
import { isUniqueViolation } from '../db/unique-violation';
import { MailMimeChunk, MailRecipient, SentMail } from '../entities';
import { MIME_CHUNK_BYTES } from '../entities/mail.entities';
import { AppError, ErrorCode, badInput, notFound } from '../errors';
import { MAIL_OUTBOX } from '../outbox/topics';
import type { OutboxWorker } from '../outbox/worker';
import { buildMime, checkMailInput } from './mail.compose';
import type { SendMailInput } from './mail.input';
import { MailRecipientKindEnum, MailStatusEnum, type MailConnectionType, type MailType } from './mail.type';

export const MAX_MAIL_PAGE = 200;
/** The attachment list (names, types, sizes) is one text column (MEDIUMTEXT on MySQL), with room to spare. */
export const MAX_ATTACHMENT_LIST_BYTES = 60_000;
/** Chunks per INSERT statement (10 × 60 KB: well inside MySQL's max_allowed_packet). */
const CHUNKS_PER_INSERT = 10;

export interface MailSettings {
  maxRecipients: number;
  mutationWaitMs: number;
}

export function toMailType(m: SentMail, recipients: MailRecipient[]): MailType {
  const sorted = [...recipients].sort((a, b) => a.position - b.position);
  const shown = (r: MailRecipient) => (r.name ? `${r.name} <${r.email}>` : r.email);
  const failure = m.failureCode ? { code: m.failureCode, message: m.failureReason ?? '' } : null;
  return {
    id: m.id,
    gmailMessageId: m.status === 'SENT' ? m.gmailMessageId : null,
    threadId: m.status === 'SENT' ? m.threadId : null,
    messageId: m.messageIdHeader,
    from: m.fromAddress,
    to: sorted.filter((r) => r.kind === 'to').map(shown),
    cc: sorted.filter((r) => r.kind === 'cc').map(shown),
    bcc: sorted.filter((r) => r.kind === 'bcc').map(shown),
    recipients: sorted.map((r) => ({ kind: r.kind.toUpperCase() as MailRecipientKindEnum, email: r.email, name: r.name })),
    subject: m.subject,
    attachments: JSON.parse(m.attachments),
    sizeBytes: m.sizeBytes,
    status: MailStatusEnum[m.status],
    failure,
    replyToMailId: m.replyToMailId,
    idempotencyKey: m.idempotencyKey,
    createdAt: m.createdAt,
    sentAt: m.sentAt,
  };
}

const cursorOf = (m: Pick<SentMail, 'createdAt' | 'id'>) => encodeCursor([m.createdAt.getTime(), m.id]);

const keyHash = (key: string) => createHash('sha256').update(key).digest('hex');

export class MailService {
  constructor(private readonly deps: { ds: DataSource; outbox: OutboxWorker; settings: MailSettings }) {}

  async send(scope: TenantScope, input: SendMailInput): Promise<MailType> {
    // A large mail holds several copies of itself while it is decoded, built and stored: the HTTP layer lets only a
    // few such bodies in at once (http/request-body.ts), so no queue of them can build up here.
    const accepted = await this.accept(scope, input);
    if ('status' in accepted) return accepted; // a replay of an earlier send with the same key
    // Also without a key: its delivery fails at once (GOOGLE_NOT_CONFIGURED is final for mail), and the answer says why.
    await this.deps.outbox.settle(MAIL_OUTBOX, scope, accepted.seqs, { waitMs: this.deps.settings.mutationWaitMs });
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
      if (original.status === 'FAILED') throw badInput(`Mail "${original.id}" was not sent (it FAILED); there is no thread to reply to`, { field: 'input.replyToMailId' });
    }
    const id = randomUUID();
    const now = new Date();
    const from = scope.caller.email;
    const messageIdHeader = `<${id}@${from.slice(from.lastIndexOf('@') + 1)}>`;
    const subject = checked.subject || (original ? (/^re:/i.test(original.subject) ? original.subject : `Re: ${original.subject}`) : '');
    const references = original ? [...(original.referencesHeader?.split(' ') ?? []), original.messageIdHeader].slice(-20) : undefined;
    const mime = await buildMime({ ...checked, subject }, { tenant: scope.brokerageId, from, messageId: messageIdHeader, date: now, inReplyTo: original?.messageIdHeader, references });

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
      attachments: JSON.stringify(checked.attachments.map((a) => ({ filename: a.filename, contentType: a.contentType, size: a.size }))),
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
      throw badInput(`The attachments' names and types are too long together (${Buffer.byteLength(row.attachments)} bytes, at most ${MAX_ATTACHMENT_LIST_BYTES}); use shorter file names or fewer files`, { field: 'input.attachments' });
    }
    const recipients: MailRecipient[] = checked.recipients.map((r, position) => ({ mailId: id, brokerageId: scope.brokerageId, position, kind: r.kind, email: r.email, name: r.name }));
    let seqs: number[];
    try {
      seqs = await scope.manager.transaction(async (m) => {
        await m.getRepository(SentMail).insert(row);
        for (let i = 0; i < recipients.length; i += 200) await m.getRepository(MailRecipient).insert(recipients.slice(i, i + 200));
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
      throw new AppError(ErrorCode.CONFLICT, `The idempotency key "${key}" was already used for a different mail (${prior.id}); use a new key for a new mail`, { mailId: prior.id });
    }
    return (await this.get(scope, prior.id))!;
  }

  async get(scope: TenantScope, id: string): Promise<MailType | null> {
    const m = await scope.findOneForAgent(SentMail, { id });
    if (!m) return null;
    const recipients = await scope.manager.getRepository(MailRecipient).findBy({ mailId: m.id, brokerageId: m.brokerageId });
    return toMailType(m, recipients);
  }

  /** The agent's mail, newest first. */
  async list(scope: TenantScope, args: { first: number; after?: string | null }): Promise<MailConnectionType> {
    checkFirst(args.first, MAX_MAIL_PAGE);
    const repo = scope.manager.getRepository(SentMail);
    const mine = { brokerageId: scope.brokerageId, agentId: scope.agentId };
    let where: object | object[] = mine;
    if (args.after) {
      const [ms, id] = decodeCursor(args.after, ['integer', 'string']);
      const at = new Date(ms);
      where = [{ ...mine, createdAt: LessThan(at) }, { ...mine, createdAt: at, id: LessThan(id) }];
    }
    const [rows, totalCount] = await Promise.all([
      repo.find({ where: where as never, order: { createdAt: 'DESC', id: 'DESC' }, take: args.first + 1 }),
      repo.countBy(mine),
    ]);
    const page = rows.slice(0, args.first);
    const recipients = page.length ? await scope.manager.getRepository(MailRecipient).findBy({ mailId: In(page.map((m) => m.id)), brokerageId: scope.brokerageId }) : [];
    const byMail = new Map<string, MailRecipient[]>();
    for (const r of recipients) {
      const list = byMail.get(r.mailId);
      if (list) list.push(r);
      else byMail.set(r.mailId, [r]);
    }
    return {
      ...pageOf(rows, args.first, cursorOf, (m) => toMailType(m, byMail.get(m.id) ?? [])),
      totalCount,
    };
  }
}

/**
 * Chunks are encoded one INSERT at a time (600 KB), with a turn for the event loop between them: all of a 35 MB mail's
 * at once held it ~70 ms, and on SQLite (whose driver is synchronous) its inserts ~250 ms for 28 MB more. On SQLite
 * other requests' statements still wait for this transaction (one connection: src/db/sqlite-turns.ts).
 */
async function storeMime(m: EntityManager, brokerageId: string, mailId: string, mime: Buffer): Promise<void> {
  const step = MIME_CHUNK_BYTES * CHUNKS_PER_INSERT;
  for (let start = 0; start < mime.length; start += step) {
    const chunks: MailMimeChunk[] = [];
    for (let off = start; off < Math.min(start + step, mime.length); off += MIME_CHUNK_BYTES) {
      chunks.push({ mailId, brokerageId, seq: off / MIME_CHUNK_BYTES, data: mime.subarray(off, off + MIME_CHUNK_BYTES).toString('base64') });
    }
    await m.getRepository(MailMimeChunk).insert(chunks);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** The stored MIME, decoded a few chunks at a time with a turn for the event loop between (~70 ms at once for 35 MB). */
export async function loadMime(ds: DataSource, mail: Pick<SentMail, 'id' | 'brokerageId'>): Promise<Buffer> {
  const chunks = await ds.getRepository(MailMimeChunk).find({ where: { mailId: mail.id, brokerageId: mail.brokerageId }, order: { seq: 'ASC' } });
  const parts: Buffer[] = [];
  for (let i = 0; i < chunks.length; i++) {
    parts.push(Buffer.from(chunks[i].data, 'base64'));
    if (i % CHUNKS_PER_INSERT === CHUNKS_PER_INSERT - 1) await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return Buffer.concat(parts);
}
