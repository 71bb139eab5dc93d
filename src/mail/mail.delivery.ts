/**
 * The mail lane of the outbox: hands each QUEUED mail to Gmail exactly once.
 *
 * gmail.compose cannot list or read Sent mail, so "did Gmail take it?" cannot
 * be asked of the mailbox. Drafts can be asked about instead:
 *   1. drafts.create with the stored MIME (JSON `raw` up to RAW_JSON_MAX_BYTES,
 *      else a multipart upload to the /upload endpoint, up to 35 MB);
 *   2. drafts.send of that draft: Gmail sends it, files it under Sent and the
 *      draft is gone.
 * Before each call the row records the phase it is entering. When an answer
 * never arrives (timeout, reset, crash) the next attempt asks first:
 *   - after drafts.send: drafts.get of our draft. 404 → it was sent (a sent
 *     draft is gone) → SENT; still there → send it now.
 *   - after drafts.create: the newest drafts are searched for our Message-ID
 *     and the one found is used, so an unanswered create leaves no stray draft.
 * So a retry never sends twice. Rate limits (429, 403 rateLimitExceeded) and
 * 5xx are retried with backoff (Retry-After honoured) while the mail stays
 * QUEUED; a refusal the agent or the admin must act on (bad recipients, Gmail
 * not authorized, no mailbox) makes it FAILED with the reason and remedy.
 */
import { Readable } from 'node:stream';
import type { gmail_v1 } from '@googleapis/gmail';
import type { DataSource } from 'typeorm';
import { MailMimeChunk, SentMail, type OutboxRow } from '../entities';
import { ErrorCode } from '../errors';
import { mapGoogleError, type GoogleFailure } from '../google/google-errors';
import type { GoogleSession } from '../google/google-session';
import type { GoogleSessions } from '../google/google-sessions';
import type { Logger } from '../logger';
import type { LaneRef, Outcome, OutboxHandler } from '../outbox/outbox';
import { MAIL_TOPIC, loadMime } from './mail.service';

/** Larger messages go to the upload endpoint: a JSON body carries base64url, a third larger. */
export const RAW_JSON_MAX_BYTES = 4 * 1024 * 1024;
/** How many of the newest drafts are searched for ours after an unanswered drafts.create. */
export const DRAFT_SEARCH_LIMIT = 25;
/** Mails per delivery round (each is two or more calls). */
const ROUND = 20;
/** An upload of up to 35 MB needs longer than the usual request timeout. */
const UPLOAD_TIMEOUT_MS = 5 * 60_000;

class DraftVanished extends Error {}

export class MailDelivery implements OutboxHandler {
  readonly topic = MAIL_TOPIC;

  constructor(private readonly deps: { ds: DataSource; sessions: GoogleSessions; log: Logger; giveUpMs: number }) {}

  async deliver(lane: LaneRef, rows: OutboxRow[]): Promise<Outcome[]> {
    const session = await this.deps.sessions.forAgentId(lane.brokerageId, lane.agentId);
    const outcomes: Outcome[] = [];
    for (const row of rows.slice(0, ROUND)) {
      const mail = await this.deps.ds.getRepository(SentMail).findOneBy({ id: row.entityId, agentId: lane.agentId });
      if (!mail || mail.status !== 'QUEUED') {
        outcomes.push({ seq: row.seq, result: 'done' });
        continue;
      }
      try {
        await this.sendOne(session, mail);
        outcomes.push({ seq: row.seq, result: 'done' });
      } catch (err) {
        outcomes.push(await this.onFailure(lane, row, mail, err, session));
        break; // in order: the lane waits
      }
    }
    return outcomes;
  }

  private async sendOne(session: GoogleSession, mail: SentMail): Promise<void> {
    const gmail = await session.gmail();
    const repo = this.deps.ds.getRepository(SentMail);
    const setPhase = async (patch: Partial<SentMail>) => {
      Object.assign(mail, patch);
      await repo.update({ id: mail.id }, { ...patch, updatedAt: new Date() });
    };

    if (!mail.gmailDraftId && mail.phase === 'creating') {
      const found = await this.findOurDraft(gmail, mail.messageIdHeader);
      if (found) await setPhase({ phase: 'created', gmailDraftId: found.id, gmailMessageId: found.messageId, threadId: found.threadId });
    }
    if (!mail.gmailDraftId) {
      const threadId = await this.threadOf(mail);
      const mime = await loadMime(this.deps.ds, mail.id);
      await setPhase({ phase: 'creating' });
      const res =
        mime.length <= RAW_JSON_MAX_BYTES
          ? await gmail.users.drafts.create({ userId: 'me', requestBody: { message: { raw: mime.toString('base64url'), ...(threadId ? { threadId } : {}) } } })
          : await gmail.users.drafts.create(
              { userId: 'me', requestBody: { message: threadId ? { threadId } : {} }, media: { mimeType: 'message/rfc822', body: Readable.from([mime]) } },
              { rootUrl: session.gmailRootUrl, timeout: UPLOAD_TIMEOUT_MS },
            );
      await setPhase({ phase: 'created', gmailDraftId: res.data.id!, gmailMessageId: res.data.message?.id ?? null, threadId: res.data.message?.threadId ?? null });
    }

    const wasSending = mail.phase === 'sending';
    if (wasSending) {
      // An earlier drafts.send went unanswered: a sent draft is gone.
      try {
        await gmail.users.drafts.get({ userId: 'me', id: mail.gmailDraftId!, format: 'minimal' });
      } catch (err) {
        if (mapGoogleError(err, { api: 'gmail' }).kind !== 'not-found') throw err;
        await this.markSent(mail, mail.gmailMessageId, mail.threadId);
        return;
      }
    }
    await setPhase({ phase: 'sending' });
    let sent: gmail_v1.Schema$Message;
    try {
      sent = (await gmail.users.drafts.send({ userId: 'me', requestBody: { id: mail.gmailDraftId! } })).data;
    } catch (err) {
      if (mapGoogleError(err, { api: 'gmail' }).kind !== 'not-found') throw err;
      if (wasSending) {
        await this.markSent(mail, mail.gmailMessageId, mail.threadId); // gone between our get and send: our earlier send
        return;
      }
      // Deleted in Gmail before we sent it (e.g. by the agent in the Drafts folder): start over with a new draft.
      await setPhase({ phase: null, gmailDraftId: null, gmailMessageId: null, threadId: null });
      throw new DraftVanished('the draft was deleted in Gmail before it was sent; a new one will be made');
    }
    await this.markSent(mail, sent.id ?? mail.gmailMessageId, sent.threadId ?? mail.threadId);
  }

  private async markSent(mail: SentMail, gmailMessageId: string | null, threadId: string | null): Promise<void> {
    const now = new Date();
    await this.deps.ds.transaction(async (m) => {
      await m.getRepository(SentMail).update({ id: mail.id }, { status: 'SENT', phase: null, gmailMessageId, threadId, sentAt: now, failureCode: null, failureReason: null, updatedAt: now });
      await m.getRepository(MailMimeChunk).delete({ mailId: mail.id }); // Gmail has it; we keep no copy of the content
    });
  }

  /** The Gmail thread of the mail this one answers, when that was sent (the lane is ordered: it went first). */
  private async threadOf(mail: SentMail): Promise<string | null> {
    if (!mail.replyToMailId) return null;
    const original = await this.deps.ds.getRepository(SentMail).findOneBy({ id: mail.replyToMailId, agentId: mail.agentId });
    return original?.status === 'SENT' ? original.threadId : null;
  }

  /** Our draft among the newest ones, by its Message-ID header (drafts.list + drafts.get metadata: gmail.compose allows both). */
  private async findOurDraft(gmail: gmail_v1.Gmail, messageIdHeader: string): Promise<{ id: string; messageId: string | null; threadId: string | null } | null> {
    const list = await gmail.users.drafts.list({ userId: 'me', maxResults: DRAFT_SEARCH_LIMIT });
    for (const d of list.data.drafts ?? []) {
      try {
        const got = await gmail.users.drafts.get({ userId: 'me', id: d.id!, format: 'metadata' });
        const header = got.data.message?.payload?.headers?.find((h) => h.name?.toLowerCase() === 'message-id');
        if (header?.value === messageIdHeader) return { id: d.id!, messageId: got.data.message?.id ?? null, threadId: got.data.message?.threadId ?? null };
      } catch (err) {
        if (mapGoogleError(err, { api: 'gmail' }).kind !== 'not-found') throw err; // sent or deleted meanwhile: not ours to find
      }
    }
    return null;
  }

  private async onFailure(lane: LaneRef, row: OutboxRow, mail: SentMail, err: unknown, session: GoogleSession): Promise<Outcome> {
    if (err instanceof DraftVanished) return { seq: row.seq, result: 'retry', error: err.message };
    const f: GoogleFailure = mapGoogleError(err, { api: 'gmail', subject: session.subject });
    if (f.kind === 'token-rejected') await this.deps.sessions.forgetTokens(lane.brokerageId);
    const repo = this.deps.ds.getRepository(SentMail);
    // Given up after MAIL_GIVE_UP_SECONDS: a mail sent days late does more harm than one the agent knows to resend. Not
    // while a drafts.send is unanswered, though: it may have gone, and only asking Gmail (the next attempt) can tell.
    const expired = Date.now() - mail.createdAt.getTime() > this.deps.giveUpMs && mail.phase !== 'sending';
    if (f.retryable && !expired) {
      // Still QUEUED; the agent can see why it has not gone yet.
      await repo.update({ id: mail.id }, { failureCode: f.code, failureReason: f.message, updatedAt: new Date() });
      return { seq: row.seq, result: 'retry', error: f.message, retryAfterMs: f.retryAfterMs, ambiguous: f.kind === 'network' || f.kind === 'unavailable' };
    }
    if (f.kind === 'unknown') this.deps.log.error({ err, lane, mailId: mail.id }, 'unexpected failure sending mail');
    const code = f.code === ErrorCode.INTERNAL_SERVER_ERROR ? ErrorCode.UPSTREAM_UNAVAILABLE : f.code;
    const reason = f.retryable
      ? `Not sent: Gmail did not take it within ${Math.round(this.deps.giveUpMs / 60_000)} minutes of trying (last answer: ${f.message}). Send it again when Gmail is back`
      : f.kind === 'bad-request'
        ? `Gmail refused the message: ${f.message.replace(/^Google refused the data: /, '')}`
        : f.message;
    const now = new Date();
    await this.deps.ds.transaction(async (m) => {
      await m.getRepository(SentMail).update({ id: mail.id }, { status: 'FAILED', phase: null, failureCode: code, failureReason: f.remedy ? `${reason}. ${f.remedy}` : reason, updatedAt: now });
      await m.getRepository(MailMimeChunk).delete({ mailId: mail.id });
    });
    // The unsent draft would sit in the agent's Drafts folder: remove it (best effort).
    if (mail.gmailDraftId) {
      try {
        await (await session.gmail()).users.drafts.delete({ userId: 'me', id: mail.gmailDraftId });
      } catch (e) {
        this.deps.log.warn({ err: e, mailId: mail.id }, 'could not delete the draft of a failed mail');
      }
    }
    return { seq: row.seq, result: 'failed', error: reason };
  }
}
